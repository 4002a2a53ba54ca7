//! Command-line options of `perf fix-load` (also usable with
//! `#[command(flatten)]` by another binary, e.g. `ringex demo`).

use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{
    DEFAULT_ADDR, DEFAULT_SESSIONS, DEFAULT_SYMBOLS, DEFAULT_TARGET, Expect, LoadConfig,
    LoadReport, MixConfig, SessionSpec, hgrm, parse_symbol,
};
use crate::report::Reporter;

/// `--expect` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExpectArg {
    /// A trading node: ExecutionReports; sends the full mix.
    ExecReport,
    /// An echo acceptor (`ringex fix-echo`): sends new orders only.
    Echo,
}

/// Options of a FIX load run.
#[derive(Args, Debug, Clone)]
pub struct FixLoadArgs {
    /// Acceptor address.
    #[arg(long, default_value_t = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Acceptor CompID (our TargetCompID).
    #[arg(long, default_value = DEFAULT_TARGET)]
    pub target: String,
    /// A session `COMPID` or `COMPID:PASSWORD` (Username = CompID); repeat for N
    /// sessions. Default: the node's market makers.
    #[arg(long = "session", value_name = "COMPID[:PASSWORD]")]
    pub sessions: Vec<String>,
    /// Total offered rate over all sessions, requests per second.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds at the same rate, not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// What the acceptor answers with.
    #[arg(long, value_enum, default_value_t = ExpectArg::ExecReport)]
    pub expect: ExpectArg,
    /// An instrument `SYMBOL:MID:TICK:LOT` (decimals); repeat for several.
    /// Default: BTC-USD and EUR-USD as in the node's embedded config.
    #[arg(long = "symbol", value_name = "SYMBOL:MID:TICK:LOT")]
    pub symbols: Vec<String>,
    /// Seed of the order flow.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Percent of requests that are marketable IOC orders.
    #[arg(long, default_value_t = MixConfig::default().marketable_pct)]
    pub marketable_pct: u32,
    /// Percent of requests that cancel a resting order.
    #[arg(long, default_value_t = MixConfig::default().cancel_pct)]
    pub cancel_pct: u32,
    /// Percent of requests that replace a resting order.
    #[arg(long, default_value_t = MixConfig::default().replace_pct)]
    pub replace_pct: u32,
    /// Most resting orders per session (beyond it the oldest is cancelled).
    #[arg(long, default_value_t = MixConfig::default().max_live)]
    pub max_live: usize,
    /// Largest order quantity in lots.
    #[arg(long, default_value_t = MixConfig::default().max_qty_lots)]
    pub max_qty: u64,
    /// HeartBtInt asked for at logon, seconds.
    #[arg(long, default_value_t = 30)]
    pub heartbeat: u32,
    /// Seconds to wait for the logon reply and for the last responses.
    #[arg(long, default_value_t = 5.0)]
    pub response_timeout: f64,
    /// The pacer sleeps until this many microseconds before a send, then yields.
    #[arg(long, default_value_t = 50)]
    pub spin_us: u64,
    /// Skip the TCP echo floor.
    #[arg(long)]
    pub no_floor: bool,
    /// Measured seconds of the floor run (default: same as --duration).
    #[arg(long)]
    pub floor_duration: Option<f64>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the FIX run's latency distribution (.hgrm, microseconds) here.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Write the floor's latency distribution (.hgrm, microseconds) here.
    #[arg(long)]
    pub floor_hgrm: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Find the highest sustainable rate: run at --rate, then double it (up to
    /// --max-rate) while the run is sustainable (see --sustain-p99-ms); report
    /// every step and the highest sustainable rate.
    #[arg(long)]
    pub sweep: bool,
    /// Highest rate a sweep tries.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_rate: u64,
    /// A sweep step is sustainable when every request was answered, the achieved
    /// rate is at least 95 % of the offered one and p99 stays under this.
    #[arg(long, default_value_t = 10.0)]
    pub sustain_p99_ms: f64,
}

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("--{name}: `{v}` is not a duration in seconds"))
}

impl FixLoadArgs {
    /// The run these options describe.
    pub fn to_config(&self) -> Result<LoadConfig, String> {
        let sessions = if self.sessions.is_empty() {
            DEFAULT_SESSIONS.iter().map(|s| s.to_string()).collect()
        } else {
            self.sessions.clone()
        };
        let symbols = if self.symbols.is_empty() {
            DEFAULT_SYMBOLS.iter().map(|s| s.to_string()).collect()
        } else {
            self.symbols.clone()
        };
        let duration = secs("duration", self.duration)?;
        Ok(LoadConfig {
            addr: self.addr,
            target_comp_id: self.target.clone(),
            sessions: sessions
                .iter()
                .map(|s| SessionSpec::parse(s).map_err(|e| format!("--session: {e}")))
                .collect::<Result<_, _>>()?,
            rate: self.rate,
            duration,
            warmup: secs("warmup", self.warmup)?,
            expect: match self.expect {
                ExpectArg::ExecReport => Expect::ExecReport,
                ExpectArg::Echo => Expect::Echo,
            },
            symbols: symbols
                .iter()
                .map(|s| parse_symbol(s).map_err(|e| format!("--symbol: {e}")))
                .collect::<Result<_, _>>()?,
            mix: MixConfig {
                marketable_pct: self.marketable_pct,
                cancel_pct: self.cancel_pct,
                replace_pct: self.replace_pct,
                max_live: self.max_live,
                max_qty_lots: self.max_qty,
                ..MixConfig::default()
            },
            seed: self.seed,
            heartbeat_s: self.heartbeat,
            response_timeout: secs("response-timeout", self.response_timeout)?,
            spin: Duration::from_micros(self.spin_us),
            floor: !self.no_floor,
            floor_duration: match self.floor_duration {
                Some(f) => secs("floor-duration", f)?,
                None => duration,
            },
            progress_every: Duration::from_secs(1),
        })
    }
}

/// Prints a report: the shared table or JSON lines, then (table mode) the
/// percentile and count lines and the ratio to the floor.
pub fn print_report(report: &LoadReport, json: bool) {
    let mut r = Reporter::new(json);
    for res in report.results() {
        r.report(res);
    }
    for line in report.summary_lines() {
        r.note(&line);
    }
}

fn write_hgrm_file(path: &PathBuf, hist: &hdrhistogram::Histogram<u64>) -> Result<(), String> {
    let f = File::create(path).map_err(|e| format!("--hgrm {}: {e}", path.display()))?;
    let mut w = BufWriter::new(f);
    hgrm::write_hgrm(hist, 1000.0, 5, &mut w)
        .and_then(|()| std::io::Write::flush(&mut w))
        .map_err(|e| format!("write {}: {e}", path.display()))
}

/// Whether a run kept up with its offered rate: every request answered, at
/// least 95 % of the offered rate achieved, p99 under `p99_limit`.
pub fn sustainable(report: &LoadReport, p99_limit: Duration) -> bool {
    let f = &report.fix;
    let p99_ok = f
        .quantile_ns(0.99)
        .is_some_and(|p| u128::from(p) <= p99_limit.as_nanos());
    f.timeouts == 0
        && f.errors == 0
        && f.acks + f.rejects == f.sent
        && f.achieved_rate >= 0.95 * f.offered_rate as f64
        && p99_ok
}

fn sweep(args: &FixLoadArgs) -> Result<(), String> {
    let mut cfg = args.to_config()?;
    let limit = secs("sustain-p99-ms", args.sustain_p99_ms / 1000.0)?;
    let quiet = args.quiet;
    let mut best: Option<u64> = None;
    let mut rate = cfg.rate;
    while rate <= args.max_rate.max(cfg.rate) {
        cfg.rate = rate;
        let report = super::run(&cfg, &mut |p| {
            if !quiet {
                eprintln!("{}", p.line());
            }
        })
        .map_err(|e| e.to_string())?;
        print_report(&report, args.json);
        let ok = sustainable(&report, limit);
        if !args.json {
            println!(
                "rate {rate}/s: {}",
                if ok { "sustainable" } else { "NOT sustainable" }
            );
        }
        if !ok {
            break;
        }
        best = Some(rate);
        rate = rate.saturating_mul(2);
    }
    if !args.json {
        match best {
            Some(r) => println!("highest sustainable rate: {r}/s (p99 <= {limit:?})"),
            None => println!("no sustainable rate from {}/s up", args.rate),
        }
    }
    Ok(())
}

/// `perf fix-load`: runs, prints, writes the .hgrm files.
pub fn main(args: &FixLoadArgs) -> Result<(), String> {
    if args.sweep {
        return sweep(args);
    }
    let cfg = args.to_config()?;
    let quiet = args.quiet;
    let report = super::run(&cfg, &mut |p| {
        if !quiet {
            eprintln!("{}", p.line());
        }
    })
    .map_err(|e| e.to_string())?;
    print_report(&report, args.json);
    if let Some(p) = &args.hgrm {
        write_hgrm_file(p, &report.fix.hist)?;
    }
    if let (Some(p), Some(f)) = (&args.floor_hgrm, &report.floor) {
        write_hgrm_file(p, &f.hist)?;
    }
    if report.fix.hist.is_empty() {
        return Err("no response was measured (see problems above)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixload::RunStats;
    use crate::report::latency_histogram;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: FixLoadArgs,
    }

    fn stats(p99_ns: u64, sent: u64, answered: u64, achieved: f64) -> RunStats {
        let mut hist = latency_histogram();
        for _ in 0..100 {
            hist.record(p99_ns).unwrap();
        }
        RunStats {
            impl_name: "ringex".into(),
            hist,
            by_kind: Vec::new(),
            send_lag: latency_histogram(),
            offered_rate: 1000,
            achieved_rate: achieved,
            sent,
            sent_measured: sent,
            acks: answered,
            rejects: 0,
            fills: 0,
            errors: 0,
            timeouts: sent - answered,
            problems: Vec::new(),
        }
    }

    fn report(fix: RunStats) -> LoadReport {
        LoadReport {
            scenario: "x".into(),
            sessions: 1,
            fix,
            floor: None,
            message_size: 100,
        }
    }

    #[test]
    fn sustainable_needs_answers_rate_and_p99() {
        let limit = Duration::from_millis(10);
        assert!(sustainable(&report(stats(1_000_000, 10, 10, 999.0)), limit));
        assert!(!sustainable(
            &report(stats(20_000_000, 10, 10, 999.0)),
            limit
        ));
        assert!(!sustainable(&report(stats(1_000_000, 10, 9, 999.0)), limit));
        assert!(!sustainable(
            &report(stats(1_000_000, 10, 10, 900.0)),
            limit
        ));
    }

    #[test]
    fn defaults_are_the_node_defaults_and_options_map() {
        let c = Cli::parse_from(["x"]).args.to_config().unwrap();
        let d = LoadConfig::default();
        assert_eq!(c.addr, d.addr);
        assert_eq!(c.sessions, d.sessions);
        assert_eq!(c.symbols, d.symbols);
        assert_eq!(c.floor_duration, c.duration);
        let c = Cli::parse_from([
            "x",
            "--session",
            "TW",
            "--expect",
            "echo",
            "--rate",
            "5",
            "--duration",
            "0.5",
            "--no-floor",
            "--symbol",
            "X:10:1:1",
        ])
        .args
        .to_config()
        .unwrap();
        assert_eq!(c.sessions.len(), 1);
        assert_eq!(c.expect, Expect::Echo);
        assert_eq!(c.duration, Duration::from_millis(500));
        assert!(!c.floor);
        assert_eq!(c.symbols[0].mid_ticks, 10);
        let bad = Cli::parse_from(["x", "--duration=-1"]).args.to_config();
        assert!(bad.unwrap_err().contains("--duration"));
    }
}
