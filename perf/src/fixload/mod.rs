//! The FIX load generator (`perf fix-load`, and the engine of `ringex demo`).
//!
//! It opens N FIX 4.4 initiator sessions to a node, sends a realistic order flow
//! ([`mix`]) at a constant total offered rate ([`pace`]), and records, for every
//! request, the time from its *intended* send time to its first response
//! (ExecutionReport, OrderCancelReject, BusinessMessageReject; or the echoed
//! order against an echo acceptor) in an HdrHistogram. Measuring from the
//! intended time avoids coordinated omission: when the sender falls behind, the
//! delay is part of the latency. In the same run it measures the floor, a plain
//! TCP echo over loopback at the same rate and message size ([`echo`]).
//!
//! Library use (what `ringex demo` calls):
//!
//! ```no_run
//! use perf::fixload::{LoadConfig, run};
//! let cfg = LoadConfig { rate: 20_000, ..LoadConfig::default() };
//! let report = run(&cfg, &mut |p| eprintln!("{}", p.line())).expect("load run");
//! for line in report.summary_lines() {
//!     println!("{line}");
//! }
//! ```
//!
//! Modules: [`pace`] (schedule, waiting), [`mix`] (order flow), [`track`]
//! (outstanding requests, counters), [`initiator`] (FIX session), [`echo`]
//! (TCP echo floor), [`hgrm`] (.hgrm writer), [`cli`] (command-line options).

pub mod cli;
pub mod echo;
pub mod hgrm;
pub mod initiator;
pub mod mix;
pub mod pace;
mod run;
pub mod track;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use gateway::fix::decimal::Tick;
use hdrhistogram::Histogram;

use crate::report::BenchResult;
pub use initiator::SessionSpec;
pub use mix::{MixConfig, SymbolSpec};
pub use run::run;
use track::Counters;

/// Benchmark name in reports.
pub const BENCH: &str = "fix-load";

/// The node's default FIX address (`ringex run` with the embedded config).
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9878));
/// The node's acceptor CompID.
pub const DEFAULT_TARGET: &str = "RINGEX";
/// The node's market-maker sessions, `COMPID:PASSWORD`.
pub const DEFAULT_SESSIONS: [&str; 2] = ["MM1:mm1-secret", "MM2:mm2-secret"];
/// The instruments of the node's default config: `SYMBOL:MID:TICK:LOT`.
pub const DEFAULT_SYMBOLS: [&str; 2] = ["BTC-USD:30000:0.01:0.001", "EUR-USD:1.1:0.00001:1000"];

/// What the acceptor answers a request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A trading node: ExecutionReport (or a reject) per request; the full mix.
    ExecReport,
    /// An echo acceptor (`ringex fix-echo`): sends each NewOrderSingle back and
    /// rejects other requests, so only new orders are sent.
    Echo,
}

impl Expect {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Expect::ExecReport => "exec-report",
            Expect::Echo => "echo",
        }
    }
}

/// Everything a load run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Acceptor address.
    pub addr: SocketAddr,
    /// Acceptor CompID, our TargetCompID(56).
    pub target_comp_id: String,
    /// One session per entry (each its own connection).
    pub sessions: Vec<SessionSpec>,
    /// Total offered rate, requests per second over all sessions.
    pub rate: u64,
    /// Measured time after the warm-up.
    pub duration: Duration,
    /// Time at the same rate before measuring starts.
    pub warmup: Duration,
    /// Response kind expected.
    pub expect: Expect,
    /// Instruments orders are sent on.
    pub symbols: Vec<SymbolSpec>,
    /// Order flow proportions.
    pub mix: MixConfig,
    /// PRNG seed of the order flow.
    pub seed: u64,
    /// HeartBtInt(108) we ask for, seconds.
    pub heartbeat_s: u32,
    /// How long to wait for the Logon reply and, after the last request, for
    /// outstanding responses (the rest count as timeouts).
    pub response_timeout: Duration,
    /// The pacing loop sleeps until this close to a send time, then yields.
    pub spin: Duration,
    /// Measure the TCP echo floor after the FIX run.
    pub floor: bool,
    /// Measured time of the floor run (its warm-up is the same as the FIX run's).
    pub floor_duration: Duration,
    /// How often the progress callback is called.
    pub progress_every: Duration,
}

impl Default for LoadConfig {
    /// The node's embedded default: two market makers on 127.0.0.1:9878,
    /// 10 000 requests/s for 10 s after a 2 s warm-up, floor measured.
    fn default() -> Self {
        LoadConfig {
            addr: DEFAULT_ADDR,
            target_comp_id: DEFAULT_TARGET.into(),
            sessions: DEFAULT_SESSIONS
                .iter()
                .filter_map(|s| SessionSpec::parse(s).ok())
                .collect(),
            rate: 10_000,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            expect: Expect::ExecReport,
            symbols: DEFAULT_SYMBOLS
                .iter()
                .filter_map(|s| parse_symbol(s).ok())
                .collect(),
            mix: MixConfig::default(),
            seed: 1,
            heartbeat_s: 30,
            response_timeout: Duration::from_secs(5),
            spin: Duration::from_micros(50),
            floor: true,
            floor_duration: Duration::from_secs(10),
            progress_every: Duration::from_secs(1),
        }
    }
}

impl LoadConfig {
    /// Checks the settings; the error names the option and the problem.
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: &str| Err(LoadError::Config(m.to_string()));
        if self.sessions.is_empty() {
            return bad("--session: at least one session is needed");
        }
        if self.rate == 0 {
            return bad("--rate: must be at least 1 request/s");
        }
        if self.duration.is_zero() {
            return bad("--duration: must be more than 0");
        }
        if self.symbols.is_empty() {
            return bad("--symbol: at least one instrument is needed");
        }
        if self.heartbeat_s == 0 {
            return bad("--heartbeat: must be at least 1 s");
        }
        let m = &self.mix;
        if m.marketable_pct > 100 || m.cancel_pct + m.replace_pct > 100 {
            return bad("mix percentages: each at most 100, cancel + replace at most 100");
        }
        if m.max_live == 0 || m.max_qty_lots == 0 {
            return bad("--max-live and --max-qty must be at least 1");
        }
        Ok(())
    }

    /// The scenario name in reports, e.g. `exec-report@10000/s`.
    pub fn scenario(&self) -> String {
        format!("{}@{}/s", self.expect.name(), self.rate)
    }
}

/// Parses `SYMBOL:MID:TICK:LOT`, e.g. `BTC-USD:30000:0.01:0.001` (mid, tick and
/// lot as decimals; the mid must be a multiple of the tick).
pub fn parse_symbol(text: &str) -> Result<SymbolSpec, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [name, mid, tick, lot] = parts[..] else {
        return Err(format!("bad symbol `{text}`: want SYMBOL:MID:TICK:LOT"));
    };
    let tick = Tick::parse(tick.as_bytes()).map_err(|e| format!("symbol `{text}`: tick: {e}"))?;
    let lot = Tick::parse(lot.as_bytes()).map_err(|e| format!("symbol `{text}`: lot: {e}"))?;
    let mid_ticks = gateway::fix::decimal::decimal_to_ticks(mid.as_bytes(), tick)
        .map_err(|e| format!("symbol `{text}`: mid: {e}"))?;
    if name.is_empty() || mid_ticks <= 0 {
        return Err(format!("symbol `{text}`: empty name or mid not positive"));
    }
    Ok(SymbolSpec {
        name: name.to_string(),
        mid_ticks,
        tick,
        lot,
    })
}

/// Why a load run could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// A bad setting.
    Config(String),
    /// The TCP connection failed.
    Connect {
        /// Where we tried.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// A session could not log on.
    Session {
        /// Our CompID.
        session: String,
        /// What happened.
        reason: String,
    },
    /// Anything else from the OS (threads, sockets of the echo floor).
    Io(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Config(m) => write!(f, "config: {m}"),
            LoadError::Connect { addr, reason } => write!(f, "connect to {addr}: {reason}"),
            LoadError::Session { session, reason } => write!(f, "session {session}: {reason}"),
            LoadError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// What the run is doing, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending, not yet measuring.
    Warmup,
    /// Sending and measuring.
    Measure,
    /// All sent; waiting for the last responses.
    Drain,
    /// Measuring the TCP echo floor.
    Floor,
}

/// A progress snapshot (cumulative counts of the current phase's run).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Time since this run's start.
    pub elapsed: Duration,
    /// Planned length of the run (warm-up included).
    pub planned: Duration,
    /// Requests sent.
    pub sent: u64,
    /// First responses received.
    pub responses: u64,
    /// Fills received.
    pub fills: u64,
    /// Rejects received.
    pub rejects: u64,
    /// Errors so far.
    pub errors: u64,
}

impl Progress {
    /// One human line, e.g. for a terminal status display.
    pub fn line(&self) -> String {
        let phase = match self.phase {
            Phase::Warmup => "warm-up",
            Phase::Measure => "measure",
            Phase::Drain => "drain",
            Phase::Floor => "tcp-echo floor",
        };
        format!(
            "[{phase:>14}] {:>5.1}/{:.0} s  sent {}  responses {}  fills {}  rejects {}  errors {}",
            self.elapsed.as_secs_f64(),
            self.planned.as_secs_f64(),
            self.sent,
            self.responses,
            self.fills,
            self.rejects,
            self.errors
        )
    }
}

/// Timing parameters shared by the FIX run and the floor run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Connections.
    pub connections: u64,
    /// Total offered rate.
    pub rate: u64,
    /// Warm-up.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// Pacing spin window.
    pub spin: Duration,
    /// Wait for late responses.
    pub response_timeout: Duration,
    /// Progress period.
    pub progress_every: Duration,
}

/// The measured outcome of one run (the FIX run or the floor).
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Implementation name in reports (`ringex`, `ringex-fix-echo`, `tcp-echo`).
    pub impl_name: String,
    /// Latency of first responses in the measured window, ns from intended send.
    pub hist: Histogram<u64>,
    /// The latency histogram per request kind (`new`, `marketable`, `cancel`,
    /// `replace`; kinds with no measured response left out; empty for the floor).
    pub by_kind: Vec<(String, Histogram<u64>)>,
    /// How late the sender was against the schedule (ns), measured window.
    pub send_lag: Histogram<u64>,
    /// Offered rate, requests/s.
    pub offered_rate: u64,
    /// Requests actually sent per second in the measured window.
    pub achieved_rate: f64,
    /// Requests sent (warm-up included).
    pub sent: u64,
    /// Requests sent in the measured window.
    pub sent_measured: u64,
    /// First responses that were positive.
    pub acks: u64,
    /// First responses that were rejects.
    pub rejects: u64,
    /// Fills (ExecType F) received.
    pub fills: u64,
    /// Session-level errors.
    pub errors: u64,
    /// Requests never answered.
    pub timeouts: u64,
    /// The first problem each session reported (empty when clean).
    pub problems: Vec<String>,
}

impl RunStats {
    #[allow(clippy::too_many_arguments)]
    fn new(
        impl_name: &str,
        plan: &Plan,
        t0: Instant,
        finished: Instant,
        hist: Histogram<u64>,
        send_lag: Histogram<u64>,
        c: &Counters,
        problems: Vec<String>,
    ) -> RunStats {
        let window = finished
            .saturating_duration_since(t0 + plan.warmup)
            .as_secs_f64();
        let sent_measured = Counters::get(&c.sent_measured);
        RunStats {
            impl_name: impl_name.to_string(),
            hist,
            by_kind: Vec::new(),
            send_lag,
            offered_rate: plan.rate,
            achieved_rate: if window > 0.0 {
                sent_measured as f64 / window
            } else {
                0.0
            },
            sent: Counters::get(&c.sent),
            sent_measured,
            acks: Counters::get(&c.acks),
            rejects: Counters::get(&c.rejects),
            fills: Counters::get(&c.fills),
            errors: Counters::get(&c.errors),
            timeouts: Counters::get(&c.timeouts),
            problems,
        }
    }

    /// Latency at quantile `q` (0..=1) in ns, `None` when nothing was measured.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        (!self.hist.is_empty()).then(|| self.hist.value_at_quantile(q))
    }

    /// The human summary line of the percentiles, in microseconds.
    pub fn percentile_line(&self) -> String {
        let us = |q: f64| {
            self.quantile_ns(q)
                .map_or("-".to_string(), |v| format!("{:.1}", v as f64 / 1000.0))
        };
        format!(
            "{:<16} p50 {:>8} us  p90 {:>8}  p99 {:>8}  p99.9 {:>8}  p99.99 {:>8}  max {:>9}  (n={})",
            self.impl_name,
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999),
            us(0.9999),
            us(1.0),
            self.hist.len()
        )
    }

    /// The counts line.
    pub fn counts_line(&self) -> String {
        format!(
            "{:<16} offered {}/s  achieved {:.0}/s  sent {}  acks {}  fills {}  rejects {}  errors {}  timeouts {}  send-lag p99 {:.1} us",
            self.impl_name,
            self.offered_rate,
            self.achieved_rate,
            self.sent,
            self.acks,
            self.fills,
            self.rejects,
            self.errors,
            self.timeouts,
            if self.send_lag.is_empty() {
                0.0
            } else {
                self.send_lag.value_at_quantile(0.99) as f64 / 1000.0
            }
        )
    }

    fn result(&self, scenario: &str, extra: serde_json::Value) -> BenchResult {
        let mut params = serde_json::json!({
            "p90_ns": self.quantile_ns(0.9),
            "p9999_ns": self.quantile_ns(0.9999),
            "offered_rate": self.offered_rate,
            "sent": self.sent,
            "sent_measured": self.sent_measured,
            "measured": self.hist.len(),
            "acks": self.acks,
            "fills": self.fills,
            "rejects": self.rejects,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "send_lag_p99_ns": (!self.send_lag.is_empty()).then(|| self.send_lag.value_at_quantile(0.99)),
        });
        if let Some(p) = params.as_object_mut() {
            if let serde_json::Value::Object(e) = extra {
                p.extend(e);
            }
            if !self.by_kind.is_empty() {
                let kinds: serde_json::Map<String, serde_json::Value> = self
                    .by_kind
                    .iter()
                    .map(|(k, h)| {
                        let v = serde_json::json!({
                            "n": h.len(),
                            "p50_ns": h.value_at_quantile(0.5),
                            "p99_ns": h.value_at_quantile(0.99),
                            "max_ns": h.max(),
                        });
                        (k.clone(), v)
                    })
                    .collect();
                p.insert("by_kind".into(), serde_json::Value::Object(kinds));
            }
        }
        BenchResult::from_histogram(
            BENCH,
            scenario,
            &self.impl_name,
            Some(self.achieved_rate),
            &self.hist,
        )
        .with_params(params)
    }
}

/// The outcome of [`run`]: the FIX run and, when measured, the floor.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Scenario name (`exec-report@10000/s`).
    pub scenario: String,
    /// Number of FIX sessions.
    pub sessions: usize,
    /// The FIX run.
    pub fix: RunStats,
    /// The TCP echo floor, same rate and message size.
    pub floor: Option<RunStats>,
    /// Bytes of a typical NewOrderSingle (the floor's message size).
    pub message_size: usize,
}

impl LoadReport {
    /// FIX latency divided by the floor's at quantile `q`.
    pub fn ratio(&self, q: f64) -> Option<f64> {
        let f = self.floor.as_ref()?.quantile_ns(q)?;
        let r = self.fix.quantile_ns(q)?;
        (f > 0).then(|| r as f64 / f as f64)
    }

    /// The results in the shared report shape (bench `fix-load`), FIX first.
    pub fn results(&self) -> Vec<BenchResult> {
        let extra = serde_json::json!({
            "sessions": self.sessions,
            "message_bytes": self.message_size,
        });
        let mut v = vec![self.fix.result(&self.scenario, extra.clone())];
        if let Some(f) = &self.floor {
            let mut r = f.result(&self.scenario, extra);
            if let Some(p) = r.params.as_mut().and_then(|p| p.as_object_mut()) {
                p.insert("ratio_p50".into(), serde_json::json!(self.ratio(0.5)));
                p.insert("ratio_p99".into(), serde_json::json!(self.ratio(0.99)));
            }
            v.push(r);
        }
        v
    }

    /// A human summary: percentiles, counts, the ratio to the floor, problems.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "fix-load {}: {} session(s), {} B per order, latency from intended send time to first response",
            self.scenario, self.sessions, self.message_size
        )];
        out.push(self.fix.percentile_line());
        if let Some(f) = &self.floor {
            out.push(f.percentile_line());
        }
        for (k, h) in &self.fix.by_kind {
            out.push(format!(
                "  {k:<14} p50 {:>8.1} us  p99 {:>8.1} us  max {:>9.1} us  (n={})",
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
                h.max() as f64 / 1000.0,
                h.len()
            ));
        }
        out.push(self.fix.counts_line());
        if let Some(f) = &self.floor {
            out.push(f.counts_line());
        }
        let fmt = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.1}x"));
        if self.floor.is_some() {
            out.push(format!(
                "ratio {} / tcp-echo: p50 {}  p99 {}  p99.9 {}",
                self.fix.impl_name,
                fmt(self.ratio(0.5)),
                fmt(self.ratio(0.99)),
                fmt(self.ratio(0.999))
            ));
        }
        for p in &self.fix.problems {
            out.push(format!("problem: {p}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let c = LoadConfig::default();
        assert_eq!(c.sessions.len(), 2);
        assert_eq!(c.symbols.len(), 2);
        c.validate().unwrap();
    }

    #[test]
    fn symbols_parse() {
        let s = parse_symbol("BTC-USD:30000.5:0.01:0.001").unwrap();
        assert_eq!(s.mid_ticks, 3_000_050);
        assert!(parse_symbol("BTC-USD:30000.005:0.01:0.001").is_err());
        assert!(parse_symbol("BTC-USD:1:0.01").is_err());
        assert!(parse_symbol(":1:1:1").is_err());
    }

    #[test]
    fn bad_settings_are_named() {
        let c = LoadConfig {
            rate: 0,
            ..LoadConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("--rate"));
        let c = LoadConfig {
            sessions: vec![],
            ..LoadConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("--session"));
    }
}
