//! `perf bench ring`: LMAX's Disruptor performance scenarios, each run in the same
//! process and run on ringex's ring, the `disruptor` crate (4.x) and crossbeam
//! bounded channels, with the same ring size, event count and closest wait
//! strategy. Every consumer folds a checksum over what it saw and the result is
//! verified against the closed-form answer, so nothing is optimised away and a
//! lost or duplicated event fails the run.
//!
//! Scenarios (LMAX names): unicast 1P1C, batch-publish 1P1C (batches of 10),
//! sequencer 3P1C, pipeline 1P3C (three chained stages), diamond 1P3C (fizz ∥
//! buzz → fizzbuzz), multicast 1P3C (three independent consumers), and ping-pong
//! (one message bouncing between two threads over two rings; round-trip
//! latency into an HdrHistogram).

mod common;
mod crossbeam_impl;
mod disruptor_impl;
mod ringex_impl;

use crate::report::{BenchResult, Reporter, median};
use common::{Measured, Params, Wait};

/// Events per batch in the batch-publish scenario (LMAX uses 10).
pub const BATCH: usize = 10;

/// One LMAX scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// One producer, one consumer, one event per publish.
    #[value(name = "unicast_1p1c")]
    Unicast,
    /// One producer publishing batches of 10, one consumer.
    #[value(name = "batch_publish_1p1c")]
    BatchPublish,
    /// Three producers, one consumer (multi-producer sequencer).
    #[value(name = "sequencer_3p1c")]
    Sequencer3p1c,
    /// One producer, three chained stages.
    #[value(name = "pipeline_1p3c")]
    Pipeline1p3c,
    /// One producer, two parallel stages joined by a third.
    #[value(name = "diamond_1p3c")]
    Diamond1p3c,
    /// One producer, three independent consumers.
    #[value(name = "multicast_1p3c")]
    Multicast1p3c,
    /// Round-trip latency between two threads over two rings.
    #[value(name = "ping_pong")]
    PingPong,
}

const ALL: [Scenario; 7] = [
    Scenario::Unicast,
    Scenario::BatchPublish,
    Scenario::Sequencer3p1c,
    Scenario::Pipeline1p3c,
    Scenario::Diamond1p3c,
    Scenario::Multicast1p3c,
    Scenario::PingPong,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Unicast => "unicast_1p1c",
            Scenario::BatchPublish => "batch_publish_1p1c",
            Scenario::Sequencer3p1c => "sequencer_3p1c",
            Scenario::Pipeline1p3c => "pipeline_1p3c",
            Scenario::Diamond1p3c => "diamond_1p3c",
            Scenario::Multicast1p3c => "multicast_1p3c",
            Scenario::PingPong => "ping_pong",
        }
    }

    /// Threads that run at once (producers + consumers).
    fn threads(self) -> usize {
        match self {
            Scenario::Unicast | Scenario::BatchPublish | Scenario::PingPong => 2,
            _ => 4,
        }
    }

    /// What every consumer must have computed, in consumer order.
    fn expected(self, p: &Params) -> Vec<u64> {
        let sum = |n: u64, f: &dyn Fn(u64) -> u64| (0..n).fold(0u64, |a, v| a.wrapping_add(f(v)));
        let n = p.events;
        match self {
            Scenario::Unicast | Scenario::BatchPublish => vec![sum(n, &|v| v)],
            Scenario::Sequencer3p1c => vec![sum(n / 3, &|v| v).wrapping_mul(3)],
            Scenario::Pipeline1p3c => (0..3)
                .map(|k| sum(n, &|v| common::pipeline_step(k, v)))
                .collect(),
            Scenario::Diamond1p3c => (0..3)
                .map(|k| sum(n, &|v| common::diamond_step(k, v)))
                .collect(),
            Scenario::Multicast1p3c => vec![sum(n, &|v| v); 3],
            Scenario::PingPong => vec![p.pings],
        }
    }
}

/// Arguments of `perf bench ring`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Events per throughput scenario (rounded down to a multiple of 30).
    #[arg(long, default_value_t = 5_000_000)]
    pub events: u64,
    /// Round trips of the ping-pong scenario (default: events / 50, at most 100k).
    #[arg(long)]
    pub pings: Option<u64>,
    /// Slots per ring and capacity per channel (power of two, at least 64).
    #[arg(long, default_value_t = 65_536)]
    pub ring_size: usize,
    /// Repetitions of the whole set; each is reported, medians go in the notes.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Wait strategy of consumers (each implementation uses its closest).
    #[arg(long, value_enum, default_value_t = Wait::Yield)]
    pub wait: Wait,
    /// Pin threads to CPUs (producer/main first), round-robin over the machine's CPUs.
    #[arg(long)]
    pub pin: bool,
    /// Run only this scenario.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ringex,
    Disruptor,
    Crossbeam,
}

impl Impl {
    fn label(self, w: Wait) -> String {
        match self {
            Impl::Ringex => format!("ringex/{}", w.name()),
            Impl::Disruptor => format!("disruptor/{}", disruptor_impl::wait_label(w)),
            Impl::Crossbeam => match w {
                Wait::Block => "crossbeam/blocking".to_string(),
                other => format!("crossbeam/{}", other.name()),
            },
        }
    }

    fn run(self, s: Scenario, p: &Params) -> Result<Measured, String> {
        match self {
            Impl::Ringex => ringex_impl::run(s, p),
            Impl::Disruptor => disruptor_impl::run(s, p),
            Impl::Crossbeam => crossbeam_impl::run(s, p),
        }
    }
}

const IMPLS: [Impl; 3] = [Impl::Ringex, Impl::Disruptor, Impl::Crossbeam];

fn params(args: &Args) -> Result<Params, String> {
    if !args.ring_size.is_power_of_two() || args.ring_size < 64 {
        return Err(format!(
            "--ring-size {} must be a power of two of at least 64 (the disruptor crate's multi-producer minimum)",
            args.ring_size
        ));
    }
    let events = args.events / 30 * 30;
    if events == 0 {
        return Err("--events must be at least 30".to_string());
    }
    if args.runs == 0 {
        return Err("--runs must be at least 1".to_string());
    }
    let pings = args.pings.unwrap_or((events / 50).clamp(1, 100_000));
    if pings == 0 {
        return Err("--pings must be at least 1".to_string());
    }
    let cpus = if args.pin {
        let ids =
            core_affinity::get_core_ids().ok_or("--pin: this platform does not report its CPUs")?;
        if ids.is_empty() {
            return Err("--pin: no CPU reported".to_string());
        }
        ids.into_iter().map(|c| c.id).collect()
    } else {
        Vec::new()
    };
    Ok(Params {
        events,
        pings,
        ring_size: args.ring_size,
        wait: args.wait,
        cpus,
    })
}

/// Ping-pong is run in this many interleaved rounds per run (each implementation
/// in turn, histograms merged), so that a noisy, shared machine spreads its noise
/// over all three instead of landing on whichever ran during a burst.
const PING_ROUNDS: usize = 10;

/// One implementation's measurements of one scenario, summed over rounds.
#[derive(Default)]
struct Acc {
    ops: u64,
    secs: f64,
    hist: Option<hdrhistogram::Histogram<u64>>,
}

impl Acc {
    fn add(&mut self, m: &Measured, ops: u64) {
        self.ops += ops;
        self.secs += ops as f64 / m.ops_per_sec;
        if let Some(h) = &m.hist {
            match &mut self.hist {
                Some(mine) => {
                    // Same bounds (both from `latency_histogram`): cannot fail.
                    let _ = mine.add(h);
                }
                None => self.hist = Some(h.clone()),
            }
        }
    }
}

/// Runs one scenario once on one implementation and verifies its checksums.
fn measure(imp: Impl, s: Scenario, p: &Params) -> Result<Measured, String> {
    // Each implementation pins the main thread for its timed loop only.
    p.unpin_current();
    let m = imp.run(s, p);
    p.unpin_current();
    let m = m?;
    let want = s.expected(p);
    if m.results == want {
        Ok(m)
    } else {
        Err(format!(
            "checksum mismatch: got {:?}, want {:?}",
            m.results, want
        ))
    }
}

/// Runs the ring benchmark family.
pub fn run(args: Args) -> Result<(), String> {
    let p = params(&args)?;
    let scenarios: Vec<Scenario> = args.scenario.map_or(ALL.to_vec(), |s| vec![s]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rep = Reporter::new(args.json);
    let mut failures = Vec::new();
    for run in 0..args.runs {
        for &s in &scenarios {
            let (rounds, per_round) = if s == Scenario::PingPong {
                let r = PING_ROUNDS.min(p.pings as usize).max(1);
                (
                    r,
                    Params {
                        pings: p.pings / r as u64,
                        ..p.clone()
                    },
                )
            } else {
                (1, p.clone())
            };
            let mut acc: Vec<Result<Acc, String>> =
                IMPLS.iter().map(|_| Ok(Acc::default())).collect();
            for round in 0..rounds {
                // Rotate who goes first so no implementation always meets the
                // machine in the same state.
                for i in 0..IMPLS.len() {
                    let slot = (i + run + round) % IMPLS.len();
                    let Ok(a) = &mut acc[slot] else { continue };
                    match measure(IMPLS[slot], s, &per_round) {
                        Ok(m) => a.add(
                            &m,
                            if s == Scenario::PingPong {
                                per_round.pings
                            } else {
                                per_round.events
                            },
                        ),
                        Err(e) => acc[slot] = Err(e),
                    }
                }
            }
            for (imp, a) in IMPLS.iter().zip(acc) {
                let label = imp.label(p.wait);
                let a = match a {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("ring {} {label}: {e}", s.name());
                        failures.push(format!("{} {label}", s.name()));
                        continue;
                    }
                };
                let ops = a.ops as f64 / a.secs;
                let r = match &a.hist {
                    Some(h) => BenchResult::from_histogram("ring", s.name(), &label, Some(ops), h),
                    None => BenchResult::throughput("ring", s.name(), &label, ops),
                };
                rep.report(r.with_params(serde_json::json!({
                    "run": run + 1,
                    "runs": args.runs,
                    "events": a.ops,
                    "rounds": rounds,
                    "ring_size": p.ring_size,
                    "wait": p.wait.name(),
                    "pin": args.pin,
                    "cores": cores,
                })));
            }
        }
    }
    summarize(&rep, &scenarios, &p, cores, args.runs);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failures.join(", ")))
    }
}

/// Table notes: medians over runs and ringex's ratio to each peer.
fn summarize(rep: &Reporter, scenarios: &[Scenario], p: &Params, cores: usize, runs: usize) {
    rep.note(&format!(
        "\nmedian of {runs} run(s); events {}, pings {}, ring {}, wait {}, {cores} CPU(s)",
        p.events,
        p.pings,
        p.ring_size,
        p.wait.name()
    ));
    let med = |s: Scenario, imp: Impl, f: &dyn Fn(&BenchResult) -> Option<f64>| {
        let label = imp.label(p.wait);
        let mut v: Vec<f64> = rep
            .results()
            .iter()
            .filter(|r| r.scenario == s.name() && r.impl_name == label)
            .filter_map(f)
            .collect();
        median(&mut v)
    };
    for &s in scenarios {
        let tput = |imp| med(s, imp, &|r| r.ops_per_sec);
        let (Some(ours), Some(d), Some(c)) = (
            tput(Impl::Ringex),
            tput(Impl::Disruptor),
            tput(Impl::Crossbeam),
        ) else {
            continue;
        };
        let mut line = format!(
            "{:<20} ops/s ringex {:>8.2}M  disruptor {:>8.2}M  crossbeam {:>8.2}M  ringex/disruptor {:.2}x  ringex/crossbeam {:.2}x",
            s.name(),
            ours / 1e6,
            d / 1e6,
            c / 1e6,
            ours / d,
            ours / c
        );
        if s == Scenario::PingPong {
            let lat =
                |imp, q: fn(&BenchResult) -> Option<u64>| med(s, imp, &|r| q(r).map(|v| v as f64));
            for (name, q) in [
                (
                    "p50",
                    (|r: &BenchResult| r.p50_ns) as fn(&BenchResult) -> Option<u64>,
                ),
                ("p99", |r| r.p99_ns),
            ] {
                if let (Some(o), Some(d), Some(c)) = (
                    lat(Impl::Ringex, q),
                    lat(Impl::Disruptor, q),
                    lat(Impl::Crossbeam, q),
                ) {
                    line.push_str(&format!(
                        "\n{:<20} {name} ns ringex {o:.0}  disruptor {d:.0}  crossbeam {c:.0}  disruptor/ringex {:.2}x",
                        "", d / o
                    ));
                }
            }
        }
        rep.note(&line);
        if p.wait == Wait::BusySpin && s.threads() > cores {
            rep.note(&format!(
                "{:<20} note: busy-spin with {} threads on {cores} CPU(s) is pathological (spinners steal the core the thread they wait for needs); use --wait yield here",
                "",
                s.threads()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(wait: Wait) -> Params {
        Params {
            events: 3_000,
            pings: 200,
            ring_size: 64,
            wait,
            cpus: Vec::new(),
        }
    }

    #[test]
    fn every_scenario_on_every_impl_verifies_its_checksums() {
        for wait in [Wait::Yield, Wait::Block] {
            let p = small(wait);
            for s in ALL {
                for imp in IMPLS {
                    let m = imp
                        .run(s, &p)
                        .unwrap_or_else(|e| panic!("{} {}: {e}", s.name(), imp.label(wait)));
                    assert_eq!(
                        m.results,
                        s.expected(&p),
                        "{} {}",
                        s.name(),
                        imp.label(wait)
                    );
                    assert!(m.ops_per_sec > 0.0);
                    assert_eq!(m.hist.is_some(), s == Scenario::PingPong);
                }
            }
        }
    }

    #[test]
    fn expected_values_are_closed_forms() {
        let p = small(Wait::Yield);
        assert_eq!(Scenario::Unicast.expected(&p), vec![2999 * 3000 / 2]);
        assert_eq!(
            Scenario::Sequencer3p1c.expected(&p),
            vec![3 * (999 * 1000 / 2)]
        );
        assert_eq!(Scenario::Diamond1p3c.expected(&p), vec![1000, 600, 200]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let args = |ring_size, events, runs| Args {
            json: false,
            events,
            pings: None,
            ring_size,
            runs,
            wait: Wait::Yield,
            pin: false,
            scenario: None,
        };
        assert!(params(&args(100, 1000, 1)).is_err());
        assert!(params(&args(32, 1000, 1)).is_err());
        assert!(params(&args(64, 10, 1)).is_err());
        assert!(params(&args(64, 1000, 0)).is_err());
        let p = params(&args(64, 1000, 1)).unwrap();
        assert_eq!(p.events, 990);
        assert_eq!(p.pings, 19);
    }
}
