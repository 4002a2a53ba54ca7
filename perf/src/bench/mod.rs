//! Benchmark families. Each family lives in its own module with a clap `Args`
//! struct (which must include `--json`) and a `run(args) -> Result<(), String>`,
//! and is listed in [`FAMILIES`].

pub mod book;
pub mod book_flow;

use clap::Subcommand;

/// `perf bench <family>`.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// List the benchmark families and the peer each is measured against.
    List,
    /// The order book on generated flow (5 scenarios) vs orderbook-rs.
    Book(book::BookArgs),
}

/// (family, what it measures, the peer in the same run).
pub const FAMILIES: &[(&str, &str, &str)] = &[(
    "book",
    "order book: commands/s and per-op latency, 5 scenarios",
    "orderbook-rs 0.15.3",
)];

/// Runs the chosen benchmark family.
pub fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd {
        BenchCmd::List => {
            println!("{:<12} {:<50} peer", "family", "measures");
            for (name, what, peer) in FAMILIES {
                println!("{name:<12} {what:<50} {peer}");
            }
            Ok(())
        }
        BenchCmd::Book(a) => book::run(a),
    }
}
