//! State-hash checkpoints between a primary and its secondary.
//!
//! Both nodes run the same business logic on the same sequence, so after every
//! sequence that is a multiple of `replication.checkpoint_every` their
//! [`Logic::state_hash`] must be equal. The logic thread of each node takes the
//! hash at exactly that sequence ([`Checkpointer`]) and hands it to a shared
//! [`Checkpoints`]: on the primary it waits there until the replication thread
//! sends it (a `Checkpoint` datagram); on the secondary it is compared with the
//! primary's hash for the same sequence, whichever arrives first. A mismatch is
//! logged loudly and clears [`Checkpoints::in_sync`] for good (the secondary no
//! longer claims to be a faithful copy); equal hashes are counted.
//!
//! Locking: one uncontended mutex acquisition per checkpoint (every N messages),
//! never per message.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use engine::logic::Logic;

/// Primary hashes held while the secondary's logic has not reached them, and
/// local hashes held while the primary's has not arrived; older ones are dropped.
const HELD: usize = 256;

#[derive(Default)]
struct Inner {
    /// Primary: hashes waiting to be sent. Secondary: unused.
    outbox: Vec<(u64, u64)>,
    /// Secondary: the primary's hashes not yet compared.
    remote: BTreeMap<u64, u64>,
    /// Secondary: our hashes not yet compared.
    local: BTreeMap<u64, u64>,
}

/// The checkpoint exchange shared by a node's logic thread and its replication thread.
pub struct Checkpoints {
    inner: Mutex<Inner>,
    pending: AtomicBool,
    in_sync: AtomicBool,
    /// Checkpoints whose hashes were equal.
    pub matched: AtomicU64,
    /// Checkpoints whose hashes differed.
    pub mismatched: AtomicU64,
    /// Sequence of the newest hash this node computed.
    pub last_local: AtomicU64,
    /// Sequence of the newest comparison (equal or not).
    pub last_compared: AtomicU64,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints {
            inner: Mutex::new(Inner::default()),
            pending: AtomicBool::new(false),
            in_sync: AtomicBool::new(true),
            matched: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            last_local: AtomicU64::new(0),
            last_compared: AtomicU64::new(0),
        }
    }
}

impl Checkpoints {
    /// Whether no checkpoint ever differed.
    pub fn in_sync(&self) -> bool {
        self.in_sync.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Primary: queue our hash at `seq` for sending.
    pub fn queue_for_peer(&self, seq: u64, hash: u64) {
        self.last_local.store(seq, Ordering::Relaxed);
        let mut g = self.lock();
        if g.outbox.len() >= HELD {
            g.outbox.remove(0);
        }
        g.outbox.push((seq, hash));
        self.pending.store(true, Ordering::Release);
    }

    /// Primary: the hashes queued since the last call (cheap when none: one load).
    pub fn drain_outbox(&self, mut send: impl FnMut(u64, u64)) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let items = {
            let mut g = self.lock();
            self.pending.store(false, Ordering::Release);
            std::mem::take(&mut g.outbox)
        };
        for (s, h) in items {
            send(s, h);
        }
    }

    /// Secondary: our own hash at `seq`.
    pub fn local(&self, seq: u64, hash: u64) {
        self.last_local.store(seq, Ordering::Relaxed);
        let mut g = self.lock();
        match g.remote.remove(&seq) {
            Some(theirs) => self.compare(seq, hash, theirs),
            None => {
                g.local.insert(seq, hash);
                trim(&mut g.local);
            }
        }
        // The primary's hashes below ours will never be compared.
        g.remote = g.remote.split_off(&seq);
    }

    /// Secondary: the primary's hash at `seq` (from a `Checkpoint` datagram).
    pub fn remote(&self, seq: u64, hash: u64) {
        let mut g = self.lock();
        match g.local.remove(&seq) {
            Some(ours) => self.compare(seq, ours, hash),
            None if seq > self.last_local.load(Ordering::Relaxed) => {
                g.remote.insert(seq, hash);
                trim(&mut g.remote);
            }
            // Below what we computed and not held: we restarted past it.
            None => {}
        }
    }

    fn compare(&self, seq: u64, ours: u64, theirs: u64) {
        self.last_compared.store(seq, Ordering::Relaxed);
        if ours == theirs {
            self.matched.fetch_add(1, Ordering::Relaxed);
        } else {
            self.mismatched.fetch_add(1, Ordering::Relaxed);
            let was = self.in_sync.swap(false, Ordering::AcqRel);
            eprintln!(
                "ringex: REPLICATION STATE MISMATCH at seq {seq}: this node's state hash {ours:016x}, the primary's {theirs:016x}{}",
                if was {
                    "; this secondary is NOT IN SYNC from now on (do not promote it without investigating)"
                } else {
                    ""
                }
            );
        }
    }
}

fn trim(m: &mut BTreeMap<u64, u64>) {
    while m.len() > HELD {
        m.pop_first();
    }
}

/// Which side of the exchange a node's logic thread feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Hashes go to the secondary.
    Primary,
    /// Hashes are compared with the primary's.
    Secondary,
}

/// Run by the logic stage after each message: takes the state hash at every
/// multiple of `every` (one comparison per message otherwise).
pub struct Checkpointer {
    every: u64,
    next: u64,
    side: Side,
    shared: std::sync::Arc<Checkpoints>,
}

impl Checkpointer {
    /// Checkpoints at every multiple of `every` (> 0) after `last_seq`.
    pub fn new(
        every: u64,
        last_seq: u64,
        side: Side,
        shared: std::sync::Arc<Checkpoints>,
    ) -> Checkpointer {
        let every = every.max(1);
        Checkpointer {
            every,
            next: (last_seq / every + 1) * every,
            side,
            shared,
        }
    }

    /// Called after the logic applied message `seq`.
    #[inline]
    pub fn after(&mut self, seq: u64, logic: &Logic) {
        if seq < self.next {
            return;
        }
        if seq == self.next {
            let h = logic.state_hash();
            match self.side {
                Side::Primary => self.shared.queue_for_peer(seq, h),
                Side::Secondary => self.shared.local(seq, h),
            }
        }
        self.next = (seq / self.every + 1) * self.every;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_in_either_order_and_flags_a_mismatch() {
        let c = Checkpoints::default();
        c.remote(100, 7);
        c.local(100, 7);
        c.local(200, 9);
        c.remote(200, 9);
        assert_eq!(c.matched.load(Ordering::Relaxed), 2);
        assert!(c.in_sync());
        c.local(300, 1);
        c.remote(300, 2);
        assert_eq!(c.mismatched.load(Ordering::Relaxed), 1);
        assert!(!c.in_sync());
        // Stale primary hashes (below our newest) are ignored, not held.
        c.remote(50, 3);
        assert_eq!(c.lock().remote.len(), 0);
    }

    #[test]
    fn outbox_drains_once() {
        let c = Checkpoints::default();
        let mut got = Vec::new();
        c.drain_outbox(|s, h| got.push((s, h)));
        assert!(got.is_empty());
        c.queue_for_peer(10, 1);
        c.queue_for_peer(20, 2);
        c.drain_outbox(|s, h| got.push((s, h)));
        c.drain_outbox(|s, h| got.push((s, h)));
        assert_eq!(got, vec![(10, 1), (20, 2)]);
    }
}
