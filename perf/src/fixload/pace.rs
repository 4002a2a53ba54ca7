//! The constant-rate schedule and the wait that keeps to it.
//!
//! Every message has an *intended* send time fixed before the run starts: with a
//! total offered rate `R` over `N` connections, message `k` of connection `i` is
//! due at `t0 + (k * N + i) / R`, so the connections interleave evenly and their
//! union is exactly `R` messages per second. Latency is measured from this time,
//! not from when the message actually left: if the sender falls behind (the
//! server pushed back, the machine was busy) the delay counts against the system
//! under test instead of silently disappearing (coordinated omission).

use std::thread;
use std::time::{Duration, Instant};

/// The intended send times of one connection's messages.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    t0: Instant,
    rate: u64,
    stride: u64,
    phase: u64,
}

impl Schedule {
    /// The schedule of connection `phase` of `stride` connections sharing a total
    /// rate of `rate` messages per second (`rate` ≥ 1), starting at `t0`.
    pub fn new(t0: Instant, rate: u64, stride: u64, phase: u64) -> Self {
        Schedule {
            t0,
            rate: rate.max(1),
            stride: stride.max(1),
            phase,
        }
    }

    /// The run's start time.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// Nanoseconds after `t0` at which message `k` is due.
    pub fn offset_ns(&self, k: u64) -> u64 {
        let global = u128::from(k) * u128::from(self.stride) + u128::from(self.phase);
        let ns = global * 1_000_000_000 / u128::from(self.rate);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// When message `k` is due.
    pub fn intended(&self, k: u64) -> Instant {
        self.t0 + Duration::from_nanos(self.offset_ns(k))
    }

    /// The global index of message `k` across all connections (its place in the
    /// merged schedule).
    pub fn global_index(&self, k: u64) -> u64 {
        k.saturating_mul(self.stride).saturating_add(self.phase)
    }

    /// How many of this connection's messages are due before `t0 + offset`.
    pub fn count_before(&self, offset: Duration) -> u64 {
        // Smallest k with (k*N + i) / R >= offset, i.e. k*N + i >= offset*R.
        let need = offset.as_nanos() * u128::from(self.rate);
        let per = 1_000_000_000u128 * u128::from(self.stride);
        let phase = 1_000_000_000u128 * u128::from(self.phase);
        if need <= phase {
            return 0;
        }
        let k = (need - phase).div_ceil(per);
        u64::try_from(k).unwrap_or(u64::MAX)
    }
}

/// Waits until `target`: sleeps while more than `spin` remains (the kernel's
/// sleep overshoots by tens of microseconds), then yields the CPU in a loop until
/// the time has come, so a low rate does not burn a core and a high rate still
/// sends on time. Returns at once if `target` has passed.
pub fn wait_until(target: Instant, spin: Duration) {
    loop {
        let now = Instant::now();
        if now >= target {
            return;
        }
        let left = target - now;
        if left > spin {
            thread::sleep(left - spin);
        } else {
            thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_interleave_evenly() {
        let t0 = Instant::now();
        // 1000 msg/s over 4 connections: the merged schedule is one every 1 ms.
        let mut all: Vec<u64> = (0..4)
            .flat_map(|i| {
                let s = Schedule::new(t0, 1000, 4, i);
                (0..10).map(move |k| s.offset_ns(k))
            })
            .collect();
        all.sort_unstable();
        let want: Vec<u64> = (0..40).map(|g| g * 1_000_000).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn count_before_matches_offsets() {
        let t0 = Instant::now();
        for (rate, n, i) in [(1000, 4, 3), (7, 2, 1), (100_000, 3, 0), (3, 1, 0)] {
            let s = Schedule::new(t0, rate, n, i);
            for ms in [0u64, 1, 5, 999, 1000, 2500] {
                let off = Duration::from_millis(ms);
                let c = s.count_before(off);
                assert!(c == 0 || s.offset_ns(c - 1) < off.as_nanos() as u64);
                assert!(s.offset_ns(c) >= off.as_nanos() as u64);
            }
        }
    }

    #[test]
    fn wait_until_does_not_return_early() {
        let target = Instant::now() + Duration::from_millis(3);
        wait_until(target, Duration::from_micros(50));
        assert!(Instant::now() >= target);
    }
}
