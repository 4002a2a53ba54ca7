//! What every implementation of every scenario shares: the event, the work each
//! consumer does (so checksums can be verified), the completion latch, pinning,
//! and the idle loop used by threads that are not the ring's own stages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The slot/message of every scenario: one value, as in LMAX's `ValueEvent`.
/// Ping-pong stores the send time (ns since the run's base instant) in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ev {
    /// The payload.
    pub v: u64,
}

/// How threads wait, as chosen with `--wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Wait {
    /// Spin with a pause hint.
    BusySpin,
    /// Spin 100 times, then yield.
    Yield,
    /// Sleep/park when idle.
    Block,
}

impl Wait {
    /// Name used in impl labels.
    pub fn name(self) -> &'static str {
        match self {
            Wait::BusySpin => "busy-spin",
            Wait::Yield => "yield",
            Wait::Block => "block",
        }
    }
}

/// Parameters of one run of one scenario.
#[derive(Debug, Clone)]
pub struct Params {
    /// Events published in a throughput scenario (rounded down to a multiple of 3
    /// for 3P1C).
    pub events: u64,
    /// Round trips of the ping-pong scenario.
    pub pings: u64,
    /// Slots in every ring / capacity of every channel.
    pub ring_size: usize,
    /// Wait strategy of consumer threads.
    pub wait: Wait,
    /// CPUs to pin threads to, in order (producer first); empty = no pinning.
    pub cpus: Vec<usize>,
}

impl Params {
    /// CPU for the `i`-th thread of a scenario (0 = the main/producer thread), if
    /// pinning; wraps around when there are more threads than CPUs.
    pub fn cpu(&self, i: usize) -> Option<usize> {
        (!self.cpus.is_empty()).then(|| self.cpus[i % self.cpus.len()])
    }

    /// Pins the calling thread to the `i`-th CPU, when pinning.
    pub fn pin_current(&self, i: usize) {
        if let Some(id) = self.cpu(i) {
            core_affinity::set_for_current(core_affinity::CoreId { id });
        }
    }

    /// Lets the calling thread run on every CPU of `cpus` again, when pinning.
    ///
    /// The main thread is pinned only for its timed loop: pipeline builders (ours
    /// and the `disruptor` crate's) check pin targets against the *calling*
    /// thread's CPU mask, and threads spawned by a pinned thread inherit its mask.
    pub fn unpin_current(&self) {
        if self.cpus.is_empty() {
            return;
        }
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `cpu_set_t` is plain data, valid when zeroed; CPU_SET gets
        // indices below CPU_SETSIZE; sched_setaffinity(0, ..) acts on the calling
        // thread with a set of exactly `size` bytes.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in self
                .cpus
                .iter()
                .filter(|&&c| c < libc::CPU_SETSIZE as usize)
            {
                libc::CPU_SET(cpu, &mut set);
            }
            libc::sched_setaffinity(0, size, &set);
        }
    }
}

/// Result of one scenario run by one implementation.
pub struct Measured {
    /// Events (or round trips) per second.
    pub ops_per_sec: f64,
    /// Round-trip latencies (ping-pong only).
    pub hist: Option<hdrhistogram::Histogram<u64>>,
    /// What each consumer computed, in the scenario's consumer order.
    pub results: Vec<u64>,
}

/// Consumer work of the pipeline scenario's stage `k` (0-based).
#[inline]
pub fn pipeline_step(k: u64, v: u64) -> u64 {
    v.wrapping_mul(k + 1)
}

/// Consumer work of the diamond scenario: stage 0 counts multiples of 3 (fizz),
/// stage 1 multiples of 5 (buzz), the joining stage 2 multiples of 15.
#[inline]
pub fn diamond_step(k: u64, v: u64) -> u64 {
    const DIV: [u64; 3] = [3, 5, 15];
    u64::from(v.is_multiple_of(DIV[k as usize]))
}

/// Counts consumers down to zero; the main thread waits on it to stop the clock.
#[derive(Debug)]
pub struct Latch(AtomicUsize);

impl Latch {
    /// A latch expecting `n` count-downs.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Latch(AtomicUsize::new(n)))
    }

    /// One consumer is done.
    pub fn count_down(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }

    /// Waits until every consumer is done: spin a little, yield a little, then
    /// sleep in 20 µs steps so that the waiting main thread does not compete for
    /// the CPUs the measured threads need (`limit` guards against a hung
    /// implementation).
    pub fn wait(&self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut round = 0u32;
        while self.0.load(Ordering::Acquire) != 0 {
            round = round.saturating_add(1);
            if round < 100 {
                std::hint::spin_loop();
            } else if round < 200 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
                if start.elapsed() > limit {
                    return Err(format!("consumers did not finish within {limit:?}"));
                }
            }
        }
        Ok(())
    }
}

/// A value a consumer leaves for the main thread to verify.
pub type Out = Arc<AtomicU64>;

/// A fresh output cell.
pub fn out() -> Out {
    Arc::new(AtomicU64::new(u64::MAX))
}

/// Reads output cells.
pub fn read(outs: &[Out]) -> Vec<u64> {
    outs.iter().map(|o| o.load(Ordering::Acquire)).collect()
}

/// Longest a single scenario run may take before it is declared hung.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Nanoseconds since `base`, for ping-pong timestamps.
#[inline]
pub fn now_ns(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

/// Spin-then-yield idle step for threads the benchmark drives itself
/// (crossbeam consumers in non-blocking modes).
#[inline]
pub fn idle(wait: Wait, round: &mut u32) {
    match wait {
        Wait::BusySpin => std::hint::spin_loop(),
        Wait::Yield | Wait::Block => {
            if *round < 100 {
                *round += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// The consumer every implementation runs: folds `step(k, v)` over the events it
/// sees and, on the last sequence, leaves the result in `out` and counts down.
/// Shaped as the `disruptor` crate's handler closure (`&E, i64, bool`), which
/// ringex's `EventHandler` also accepts.
pub fn sink<F: Fn(u64, u64) -> u64 + Send + 'static>(
    k: u64,
    step: F,
    last: i64,
    out: Out,
    latch: Arc<Latch>,
) -> impl FnMut(&Ev, i64, bool) + Send + 'static {
    let mut acc = 0u64;
    move |e: &Ev, seq: i64, _eob: bool| {
        acc = acc.wrapping_add(step(k, e.v));
        if seq == last {
            out.store(acc, Ordering::Release);
            latch.count_down();
        }
    }
}

/// Identity work of the unicast, batch, sequencer and multicast consumers.
#[inline]
pub fn value(_k: u64, v: u64) -> u64 {
    v
}
