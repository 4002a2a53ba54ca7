//! `perf`: ringex's benchmarks and load generators.
//!
//! `cargo run --release -p perf -- bench <name> [--json]` runs one benchmark family;
//! each family measures ringex against a named peer in the same process and run,
//! and prints a table (or JSON lines with `--json`).
//! `cargo run --release -p perf -- fix-load [options]` runs the FIX load generator
//! (see `perf::fixload`).

mod bench;
// The shared reporting API lives in the library; `crate::report` keeps working
// for the benchmark families.
#[allow(unused_imports)]
use perf::report;

use clap::{Parser, Subcommand};

/// Command line of the perf harness.
#[derive(Parser, Debug)]
#[command(
    name = "perf",
    about = "ringex benchmarks: every number against a named peer, same run"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a benchmark family.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// FIX load generator: N sessions at a constant offered rate against a node,
    /// latency from intended send time to first ExecutionReport, plus the TCP
    /// echo floor at the same rate and message size.
    FixLoad(Box<perf::fixload::cli::FixLoadArgs>),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Bench(b) => bench::run(b),
        Cmd::FixLoad(a) => perf::fixload::cli::main(&a),
    };
    if let Err(e) = result {
        eprintln!("perf: {e}");
        std::process::exit(1);
    }
}
