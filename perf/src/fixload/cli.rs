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

/// `perf fix-load`: runs, prints, writes the .hgrm files.
pub fn main(args: &FixLoadArgs) -> Result<(), String> {
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
