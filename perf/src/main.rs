//! `perf`: ringex's benchmarks and load generators.
//!
//! `cargo run --release -p perf -- bench <name> [--json]` runs one benchmark family;
//! each family measures ringex against a named peer in the same process and run,
//! and prints a table (or JSON lines with `--json`).

mod bench;
#[allow(dead_code)] // the shared reporting API; not every family uses every helper
mod report;

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
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Bench(b) => bench::run(b),
    };
    if let Err(e) = result {
        eprintln!("perf: {e}");
        std::process::exit(1);
    }
}
