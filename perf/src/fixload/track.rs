//! Requests awaiting their first response, and the run's counters.
//!
//! The sender thread marks message `k` outstanding just before writing it; the
//! reader thread takes it on the first response that names it. The table is a
//! power-of-two ring of atomic words indexed by `k`, each holding `k + 1` and the
//! request kind, so no lock and no allocation sit between the two threads. The
//! intended send time is not stored: the reader recomputes it from the schedule.
//! A slot reused while still outstanding means its request went unanswered for a
//! whole lap of the ring: it is counted as a timeout.

use std::sync::atomic::{AtomicU64, Ordering};

use super::mix::Kind;

/// Outstanding requests of one connection.
#[derive(Debug)]
pub struct Outstanding {
    slots: Box<[AtomicU64]>,
    mask: u64,
}

impl Outstanding {
    /// A table that holds at least `capacity` requests in flight.
    pub fn new(capacity: usize) -> Self {
        let cap = capacity.max(64).next_power_of_two();
        Outstanding {
            slots: (0..cap).map(|_| AtomicU64::new(0)).collect(),
            mask: cap as u64 - 1,
        }
    }

    fn slot(&self, k: u64) -> &AtomicU64 {
        // The mask keeps the index below the slice length.
        &self.slots[(k & self.mask) as usize]
    }

    /// Marks request `k` outstanding. Returns true if the slot still held an
    /// older unanswered request (now a timeout).
    pub fn insert(&self, k: u64, kind: Kind) -> bool {
        let v = ((k + 1) << 2) | kind as u64;
        self.slot(k).swap(v, Ordering::AcqRel) != 0
    }

    /// Takes request `k` if it is still outstanding: its kind on the first
    /// response, `None` on any later one (or once its slot was reused).
    pub fn take(&self, k: u64) -> Option<Kind> {
        let s = self.slot(k);
        let v = s.load(Ordering::Acquire);
        if v >> 2 != k + 1 {
            return None;
        }
        s.compare_exchange(v, 0, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(Kind::from_code)
    }

    /// Requests still waiting for a response.
    pub fn pending(&self) -> u64 {
        self.slots
            .iter()
            .filter(|s| s.load(Ordering::Acquire) != 0)
            .count() as u64
    }
}

/// Counters of one run, shared by every thread (relaxed atomics: they are read
/// for progress and at the end, after the threads are joined).
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests written to the socket.
    pub sent: AtomicU64,
    /// Requests whose first response was a positive ExecutionReport (or the echo).
    pub acks: AtomicU64,
    /// Requests whose first response was a reject (ExecType 8, CancelReject,
    /// BusinessMessageReject).
    pub rejects: AtomicU64,
    /// ExecutionReports with ExecType F (every fill, not only first responses).
    pub fills: AtomicU64,
    /// Session-level problems: Reject(3), unexpected Logout, sequence gaps,
    /// unparsable messages, socket errors.
    pub errors: AtomicU64,
    /// Requests never answered.
    pub timeouts: AtomicU64,
    /// Requests sent inside the measured window (after the warm-up).
    pub sent_measured: AtomicU64,
}

impl Counters {
    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// First responses of any kind so far.
    pub fn responses(&self) -> u64 {
        Self::get(&self.acks) + Self::get(&self.rejects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_response_takes_later_ones_do_not() {
        let t = Outstanding::new(8);
        assert!(!t.insert(5, Kind::Replace));
        assert_eq!(t.pending(), 1);
        assert_eq!(t.take(5), Some(Kind::Replace));
        assert_eq!(t.take(5), None);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn reused_slot_is_a_timeout_and_old_response_is_ignored() {
        let t = Outstanding::new(64);
        assert!(!t.insert(3, Kind::New));
        assert!(t.insert(3 + 64, Kind::Cancel));
        assert_eq!(t.take(3), None);
        assert_eq!(t.take(3 + 64), Some(Kind::Cancel));
    }

    #[test]
    fn capacity_is_a_power_of_two_at_least_asked() {
        let t = Outstanding::new(100);
        for k in 0..128 {
            assert!(!t.insert(k, Kind::New));
        }
        assert!(t.insert(128, Kind::New));
    }
}
