//! `perf bench book`: the order book on generated realistic flow, against the
//! published `orderbook-rs` crate driven with the same commands in the same run.
//!
//! For each scenario (see `book_flow`), the stream is generated first; then each
//! implementation builds the starting book from the untimed prefill and replays
//! the measured stream: `--runs` times for throughput (commands/s over the whole
//! stream, median run reported), and once more with an `Instant` pair around every
//! command for per-operation latency percentiles (these include the timer
//! overhead, printed as a note). Our book reports into a counting sink (every
//! event is built and delivered); orderbook-rs runs with its default features and
//! a stub clock (so neither side reads the wall clock per order).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use engine::book::{CountingSink, NewOrder, OrderBook};
use engine::types::{OrderType, Side, TimeInForce};
use hdrhistogram::Histogram;
use orderbook_rs::StubClock;
use pricelevel::{Id, OrderUpdate, Price as PeerPrice, Quantity as PeerQty};

use super::book_flow::{Cmd, Flow, OpKind, SCENARIOS, generate};
use crate::report::{BenchResult, Reporter, latency_histogram, median};

/// Arguments of `perf bench book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measured commands per scenario.
    #[arg(long, default_value_t = 500_000)]
    pub commands: usize,
    /// Timed throughput runs per scenario for ringex (median reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Timed throughput runs per scenario for the peer (it is ~50x slower; median reported).
    #[arg(long, default_value_t = 1)]
    pub peer_runs: usize,
    /// The peer replays only this prefix of each measured stream (same prefill),
    /// so that the default run stays under ~2 minutes (it does ~10k commands/s
    /// on the deep book). Its rate is per command over that prefix.
    #[arg(long, default_value_t = 100_000)]
    pub peer_commands: usize,
    /// Run only this scenario (normal, volatile, flash-crash, deep-book, cancel-storm).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Seed of the flow generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Skip the peer crate.
    #[arg(long)]
    pub no_peer: bool,
}

/// One implementation under test.
trait Driver {
    const NAME: &'static str;
    fn new(capacity: usize) -> Self;
    fn apply(&mut self, c: &Cmd);
    /// Best bid and ask prices (a cross-check that both saw the same stream).
    fn bbo(&self) -> (Option<i64>, Option<i64>);
}

struct Ours {
    book: OrderBook,
    sink: CountingSink,
}

impl Driver for Ours {
    const NAME: &'static str = "ringex";

    fn new(capacity: usize) -> Self {
        Ours {
            book: OrderBook::new(1, capacity),
            sink: CountingSink::default(),
        }
    }

    #[inline]
    fn apply(&mut self, c: &Cmd) {
        match *c {
            Cmd::Limit {
                id,
                side,
                price,
                qty,
            } => self
                .book
                .submit(&NewOrder::limit(id, 1, side, price, qty), &mut self.sink),
            Cmd::Ioc {
                id,
                side,
                price,
                qty,
            } => self.book.submit(
                &NewOrder::limit(id, 1, side, price, qty).with_tif(TimeInForce::Ioc),
                &mut self.sink,
            ),
            Cmd::Market { id, side, qty } => {
                let mut o = NewOrder::limit(id, 1, side, 0, qty);
                o.order_type = OrderType::Market;
                self.book.submit(&o, &mut self.sink)
            }
            Cmd::Cancel { id } => {
                self.book.cancel(id, &mut self.sink);
            }
            Cmd::Modify { id, price, qty } => {
                self.book.replace(id, price, qty, &mut self.sink);
            }
        }
    }

    fn bbo(&self) -> (Option<i64>, Option<i64>) {
        (
            self.book.best_bid().map(|b| b.0),
            self.book.best_ask().map(|a| a.0),
        )
    }
}

struct Peer {
    book: orderbook_rs::OrderBook<()>,
}

fn peer_side(s: Side) -> pricelevel::Side {
    match s {
        Side::Buy => pricelevel::Side::Buy,
        Side::Sell => pricelevel::Side::Sell,
    }
}

impl Driver for Peer {
    const NAME: &'static str = "orderbook-rs 0.15.3";

    fn new(_capacity: usize) -> Self {
        Peer {
            book: orderbook_rs::OrderBook::with_clock("BENCH", Arc::new(StubClock::new())),
        }
    }

    #[inline]
    fn apply(&mut self, c: &Cmd) {
        // Results are ignored on purpose: rejects (e.g. a cancel of an order
        // that just filled) are part of the flow for both books.
        match *c {
            Cmd::Limit {
                id,
                side,
                price,
                qty,
            } => {
                let _ = black_box(self.book.add_limit_order(
                    Id::from_u64(id),
                    price as u128,
                    qty,
                    peer_side(side),
                    pricelevel::TimeInForce::Gtc,
                    None,
                ));
            }
            Cmd::Ioc {
                id,
                side,
                price,
                qty,
            } => {
                let _ = black_box(self.book.add_limit_order(
                    Id::from_u64(id),
                    price as u128,
                    qty,
                    peer_side(side),
                    pricelevel::TimeInForce::Ioc,
                    None,
                ));
            }
            Cmd::Market { id, side, qty } => {
                let _ = black_box(self.book.submit_market_order(
                    Id::from_u64(id),
                    qty,
                    peer_side(side),
                ));
            }
            Cmd::Cancel { id } => {
                let _ = black_box(self.book.cancel_order(Id::from_u64(id)));
            }
            Cmd::Modify { id, price, qty } => {
                let _ = black_box(self.book.update_order(OrderUpdate::UpdatePriceAndQuantity {
                    order_id: Id::from_u64(id),
                    new_price: PeerPrice::new(price as u128),
                    new_quantity: PeerQty::new(qty),
                }));
            }
        }
    }

    fn bbo(&self) -> (Option<i64>, Option<i64>) {
        (
            self.book.best_bid().map(|p| p as i64),
            self.book.best_ask().map(|p| p as i64),
        )
    }
}

/// A driver with the flow's starting book built (untimed).
fn prepared<D: Driver>(flow: &Flow) -> D {
    let mut d = D::new(flow.prefill.len() * 2 + 1024);
    for c in &flow.prefill {
        d.apply(c);
    }
    d
}

/// CPU time consumed by the calling thread, in ns (excludes time spent
/// descheduled, which on a shared machine dominates wall-clock noise).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call,
    // and CLOCK_THREAD_CPUTIME_ID is supported on every Linux we run on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Per run: commands/s by wall clock and by thread CPU time.
struct Rates {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    bbo: (Option<i64>, Option<i64>),
}

fn throughput<D: Driver>(flow: &Flow, runs: usize) -> Rates {
    let mut r = Rates {
        wall: Vec::with_capacity(runs),
        cpu: Vec::with_capacity(runs),
        bbo: (None, None),
    };
    for _ in 0..runs.max(1) {
        let mut d = prepared::<D>(flow);
        let c0 = thread_cpu_ns();
        let t0 = Instant::now();
        for c in &flow.cmds {
            d.apply(black_box(c));
        }
        let dt = t0.elapsed().as_secs_f64();
        let dc = thread_cpu_ns().saturating_sub(c0) as f64 / 1e9;
        let n = flow.cmds.len() as f64;
        r.wall.push(n / dt);
        if dc > 0.0 {
            r.cpu.push(n / dc);
        }
        r.bbo = d.bbo();
        black_box(&d);
    }
    r
}

/// Per-operation latency histograms (ns) and the all-operations histogram.
fn latencies<D: Driver>(flow: &Flow) -> (Vec<Histogram<u64>>, Histogram<u64>) {
    let mut per: Vec<Histogram<u64>> = OpKind::ALL.iter().map(|_| latency_histogram()).collect();
    let mut all = latency_histogram();
    let mut d = prepared::<D>(flow);
    for c in &flow.cmds {
        let t0 = Instant::now();
        d.apply(black_box(c));
        let ns = t0.elapsed().as_nanos() as u64;
        let k = OpKind::ALL.iter().position(|k| *k == c.kind()).unwrap_or(0);
        per[k].saturating_record(ns.max(1));
        all.saturating_record(ns.max(1));
    }
    black_box(&d);
    (per, all)
}

/// Median cost of one `Instant::now()` pair with `elapsed()`, in ns.
fn timer_overhead_ns() -> u64 {
    let mut h = latency_histogram();
    for _ in 0..200_000 {
        let t0 = Instant::now();
        let ns = black_box(t0).elapsed().as_nanos() as u64;
        h.saturating_record(ns.max(1));
    }
    h.value_at_quantile(0.5)
}

struct Outcome {
    rate: f64,
    cpu_rate: f64,
    bbo: (Option<i64>, Option<i64>),
}

fn measure<D: Driver>(flow: &Flow, runs: usize, rep: &mut Reporter) -> Outcome {
    let mut r = throughput::<D>(flow, runs);
    let runs = r.wall.clone();
    let rate = median(&mut r.wall).unwrap_or(0.0);
    let cpu_rate = median(&mut r.cpu).unwrap_or(0.0);
    let bbo = r.bbo;
    let (per, all) = latencies::<D>(flow);
    rep.report(
        BenchResult::from_histogram("book", flow.name, D::NAME, Some(rate), &all).with_params(
            serde_json::json!({
                "commands": flow.cmds.len(),
                "prefill": flow.prefill.len(),
                "runs_ops_per_sec": runs,
            "cpu_ops_per_sec": cpu_rate,
                "final_best_bid": bbo.0,
                "final_best_ask": bbo.1,
            }),
        ),
    );
    for (k, h) in OpKind::ALL.iter().zip(&per) {
        if !h.is_empty() {
            let scen = format!("{}/{}", flow.name, k.name());
            rep.report(
                BenchResult::from_histogram("book", &scen, D::NAME, None, h)
                    .with_params(serde_json::json!({ "count": h.len() })),
            );
        }
    }
    rep.note(&format!(
        "  {} {}: {:.2}M cmds/s wall, {:.2}M cmds/s per CPU-second of the thread",
        flow.name,
        D::NAME,
        rate / 1e6,
        cpu_rate / 1e6
    ));
    Outcome {
        rate,
        cpu_rate,
        bbo,
    }
}

/// Runs `perf bench book`.
pub fn run(args: BookArgs) -> Result<(), String> {
    let names: Vec<&str> = match &args.scenario {
        Some(s) => {
            if !SCENARIOS.contains(&s.as_str()) {
                return Err(format!("unknown scenario {s:?}; one of {SCENARIOS:?}"));
            }
            vec![s.as_str()]
        }
        None => SCENARIOS.to_vec(),
    };
    if args.commands == 0 {
        return Err("--commands must be > 0".into());
    }
    let mut rep = Reporter::new(args.json);
    let overhead = timer_overhead_ns();
    rep.note(&format!(
        "book: {} measured commands per scenario after an untimed prefill (orderbook-rs: the first {}); \
         throughput = median of {} runs ({} for the peer); latency percentiles include ~{overhead} ns of \
         timer overhead per sample",
        args.commands,
        args.peer_commands.min(args.commands),
        args.runs,
        args.peer_runs
    ));
    let mut worst: Option<(&str, f64, f64)> = None;
    let mut worst_peer: Option<(&str, f64, f64)> = None;
    for name in names {
        let flow = generate(name, args.commands, args.seed)
            .ok_or_else(|| format!("no scenario {name}"))?;
        let ours = measure::<Ours>(&flow, args.runs, &mut rep);
        if worst.is_none_or(|w| ours.rate < w.1) {
            worst = Some((flow.name, ours.rate, ours.cpu_rate));
        }
        if !args.no_peer {
            let n = args.peer_commands.clamp(1, flow.cmds.len());
            let prefix = Flow {
                name: flow.name,
                prefill: flow.prefill.clone(),
                cmds: flow.cmds[..n].to_vec(),
            };
            let peer = measure::<Peer>(&prefix, args.peer_runs, &mut rep);
            // the final book can only be compared when both replayed everything
            let same_stream = n == flow.cmds.len();
            if worst_peer.is_none_or(|w| peer.rate < w.1) {
                worst_peer = Some((flow.name, peer.rate, peer.cpu_rate));
            }
            rep.note(&format!(
                "  {name}: ringex / orderbook-rs = {:.1}x wall, {:.1}x CPU time{}",
                ours.rate / peer.rate,
                ours.cpu_rate / peer.cpu_rate,
                if !same_stream {
                    format!(" (orderbook-rs on the first {n} commands)")
                } else if ours.bbo == peer.bbo {
                    String::new()
                } else {
                    format!(
                        " (final best bid/ask differ: ringex {:?}, orderbook-rs {:?})",
                        ours.bbo, peer.bbo
                    )
                }
            ));
        }
    }
    if let Some((name, rate, cpu)) = worst {
        rep.report(
            BenchResult::throughput("book", "worst-case", Ours::NAME, rate)
                .with_params(serde_json::json!({ "scenario": name, "cpu_ops_per_sec": cpu })),
        );
        if let Some((pname, prate, pcpu)) = worst_peer {
            rep.report(
                BenchResult::throughput("book", "worst-case", Peer::NAME, prate)
                    .with_params(serde_json::json!({ "scenario": pname, "cpu_ops_per_sec": pcpu })),
            );
            rep.note(&format!(
                "worst case: ringex {:.2}M cmds/s ({name}; {:.2}M per CPU-s) vs orderbook-rs {:.2}M cmds/s \
                 ({pname}; {:.2}M per CPU-s): {:.1}x wall, {:.1}x CPU",
                rate / 1e6,
                cpu / 1e6,
                prate / 1e6,
                pcpu / 1e6,
                rate / prate,
                cpu / pcpu
            ));
        }
    }
    Ok(())
}
