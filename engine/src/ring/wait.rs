//! Wait strategies: what a stage does while nothing new is available to it.
//!
//! Chosen per stage, at run time (it is configuration): `busy-spin` for the lowest
//! latency when every stage thread has a core of its own, `yield` (spin a little,
//! then give the core away) as the default that behaves on a small machine, and
//! `block` (spin, then sleep on a condition variable with a timeout) for stages
//! that may sit idle for long.
//!
//! Blocking needs producers (and upstream stages) to wake sleepers. The [`Waker`]
//! makes that cheap: the publisher's only extra cost is a fence and a load of a
//! counter that is almost always zero; it takes the lock and makes a syscall only
//! when some stage is actually asleep. Rings with no blocking stage skip even that.

use super::sync::{AtomicU32, Condvar, Mutex, Ordering, fence, spin_loop, yield_now};
use crossbeam_utils::CachePadded;
use std::str::FromStr;
use std::time::Duration;

/// How a stage waits for its barrier to advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Re-check in a tight loop with a spin hint. Lowest latency; burns its core, so
    /// use it only with fewer busy threads than physical cores.
    BusySpin,
    /// Spin `spins` times, then `thread::yield_now` between checks.
    Yield {
        /// Checks before the first yield.
        spins: u32,
    },
    /// Spin `spins` times, yield a few times, then sleep until a publisher wakes
    /// the stage or `timeout` passes (the timeout also bounds how long a halt
    /// takes to be noticed).
    Block {
        /// Checks before yielding and sleeping.
        spins: u32,
        /// Longest single sleep.
        timeout: Duration,
    },
}

/// Yields tried by [`WaitStrategy::Block`] between spinning and sleeping.
const BLOCK_YIELDS: u32 = 8;

impl WaitStrategy {
    /// `yield` with the classic LMAX spin count (100).
    pub const YIELD: WaitStrategy = WaitStrategy::Yield { spins: 100 };
    /// `block` with 100 spins and a 1 ms sleep cap.
    pub const BLOCK: WaitStrategy = WaitStrategy::Block {
        spins: 100,
        timeout: Duration::from_millis(1),
    };

    /// The short name used on command lines and in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            WaitStrategy::BusySpin => "busy-spin",
            WaitStrategy::Yield { .. } => "yield",
            WaitStrategy::Block { .. } => "block",
        }
    }

    /// Whether publishers must wake stages using this strategy.
    pub fn needs_wakeups(&self) -> bool {
        matches!(self, WaitStrategy::Block { .. })
    }

    /// One idle step. `round` counts consecutive idle steps and must be reset to 0
    /// by the caller whenever work is found; `ready` re-checks the condition the
    /// stage waits for (used only before sleeping, to close the lost-wake-up race).
    #[inline]
    pub fn idle(&self, round: &mut u32, waker: &Waker, ready: impl Fn() -> bool) {
        match *self {
            WaitStrategy::BusySpin => spin_loop(),
            WaitStrategy::Yield { spins } => {
                if *round < spins {
                    *round += 1;
                    spin_loop();
                } else {
                    yield_now();
                }
            }
            WaitStrategy::Block { spins, timeout } => {
                if *round < spins {
                    *round += 1;
                    spin_loop();
                } else if *round < spins.saturating_add(BLOCK_YIELDS) {
                    *round += 1;
                    yield_now();
                } else {
                    waker.sleep(timeout, ready);
                }
            }
        }
    }
}

impl Default for WaitStrategy {
    /// `yield`: sane on a 2-core machine, fast enough everywhere.
    fn default() -> Self {
        WaitStrategy::YIELD
    }
}

/// A wait-strategy name that is not one of `busy-spin`, `yield`, `block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWaitStrategy(pub String);

impl std::fmt::Display for UnknownWaitStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown wait strategy {:?} (expected busy-spin, yield or block)",
            self.0
        )
    }
}

impl std::error::Error for UnknownWaitStrategy {}

impl FromStr for WaitStrategy {
    type Err = UnknownWaitStrategy;

    /// Parses `busy-spin` (or `spin`), `yield`, `block`, with default parameters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "busy-spin" | "busyspin" | "spin" => Ok(WaitStrategy::BusySpin),
            "yield" | "yielding" => Ok(WaitStrategy::YIELD),
            "block" | "blocking" => Ok(WaitStrategy::BLOCK),
            other => Err(UnknownWaitStrategy(other.to_string())),
        }
    }
}

/// Sleep/wake-up point shared by the publishers and the blocking stages of a ring.
///
/// Protocol (a Dekker pair made safe by `SeqCst` fences, plus a lock against the
/// check-then-sleep window): a sleeper takes the lock, counts itself in `sleepers`,
/// fences, re-checks its condition and only then waits on the condition variable
/// (which releases the lock). A publisher stores its sequence (`Release`), fences,
/// and reads `sleepers`; only if it is non-zero does it take the lock and notify.
/// Either the publisher sees the sleeper, or the sleeper's re-check sees the new
/// sequence: a wake-up is never lost, and the timeout bounds any sleep anyway.
#[derive(Debug, Default)]
pub struct Waker {
    sleepers: CachePadded<AtomicU32>,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Waker {
    /// A waker with nobody asleep.
    pub fn new() -> Self {
        Waker::default()
    }

    /// Sleeps until woken or `timeout` passes, unless `ready()` already holds.
    pub fn sleep(&self, timeout: Duration, ready: impl Fn() -> bool) {
        // A poisoned lock only means a thread panicked while holding `()`: nothing
        // to repair, keep going.
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let guard = if ready() {
            guard
        } else {
            match self.cv.wait_timeout(guard, timeout) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }

    /// Called by a publisher after storing its sequence: wakes sleepers if any.
    /// No lock and no syscall when nobody sleeps.
    #[inline]
    pub fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake_all();
        }
    }

    /// Wakes every sleeper unconditionally (halt uses this).
    #[cold]
    pub fn wake_all(&self) {
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.cv.notify_all();
    }

    /// How many stages are asleep right now (monitoring and tests).
    pub fn sleepers(&self) -> u32 {
        self.sleepers.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    #[test]
    fn parses_names() {
        assert_eq!(
            "busy-spin".parse::<WaitStrategy>(),
            Ok(WaitStrategy::BusySpin)
        );
        assert_eq!("yield".parse::<WaitStrategy>(), Ok(WaitStrategy::YIELD));
        assert_eq!("block".parse::<WaitStrategy>(), Ok(WaitStrategy::BLOCK));
        assert!("nap".parse::<WaitStrategy>().is_err());
        assert_eq!(WaitStrategy::BLOCK.name(), "block");
        assert!(WaitStrategy::BLOCK.needs_wakeups());
        assert!(!WaitStrategy::YIELD.needs_wakeups());
    }

    #[test]
    fn sleep_returns_at_once_when_ready() {
        let w = Waker::new();
        let t = Instant::now();
        w.sleep(Duration::from_secs(10), || true);
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(w.sleepers(), 0);
    }

    #[test]
    fn sleep_times_out_without_wake() {
        let w = Waker::new();
        let t = Instant::now();
        w.sleep(Duration::from_millis(20), || false);
        assert!(t.elapsed() >= Duration::from_millis(15));
    }

    #[test]
    fn publisher_wakes_sleeper_long_before_timeout() {
        let w = Arc::new(Waker::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (w2, f2) = (w.clone(), flag.clone());
        let t = Instant::now();
        let h = std::thread::spawn(move || {
            while !f2.load(Ordering::Acquire) {
                w2.sleep(Duration::from_secs(30), || f2.load(Ordering::Acquire));
            }
        });
        while w.sleepers() == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::yield_now();
        }
        flag.store(true, Ordering::Release);
        w.wake();
        h.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn block_strategy_spins_then_yields_then_sleeps() {
        let w = Waker::new();
        let s = WaitStrategy::Block {
            spins: 2,
            timeout: Duration::from_millis(1),
        };
        let mut round = 0;
        for _ in 0..(2 + BLOCK_YIELDS) {
            s.idle(&mut round, &w, || false);
        }
        assert_eq!(round, 2 + BLOCK_YIELDS);
        // Next step sleeps (bounded by the 1 ms timeout) and does not advance.
        s.idle(&mut round, &w, || false);
        assert_eq!(round, 2 + BLOCK_YIELDS);
    }
}
