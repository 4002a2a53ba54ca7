//! Benchmark families. Each family lives in its own module with a clap `Args`
//! struct (which must include `--json`) and a `run(args) -> Result<(), String>`,
//! and is listed in [`FAMILIES`].

pub mod book;
pub mod book_flow;
pub mod ring;

use clap::Subcommand;

pub mod fix;
pub mod journal;
pub mod logic;
pub mod replication;

/// `perf bench <family>`.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// List the benchmark families and the peer each is measured against.
    List,
    /// FIX codec: parse/encode NewOrderSingle and ExecutionReport vs hotfix-message.
    Fix(fix::FixArgs),
    /// The Disruptor ring: LMAX's scenarios on ringex, the `disruptor` crate and crossbeam.
    Ring(ring::Args),
    /// Journal append latency and throughput per back-end and durability policy,
    /// against a plain write(2) loop.
    Journal(journal::JournalArgs),
    /// The order book on generated flow (5 scenarios) vs orderbook-rs.
    Book(book::BookArgs),
    /// Business-logic processor (decode + risk + book + reports) throughput and
    /// per-command latency, against the bare order book on the same flow.
    Logic(logic::LogicArgs),
    /// Replication round trip (send -> ack) and throughput over loopback UDP,
    /// against a raw UDP ping-pong with the same sockets and datagrams.
    Replication(replication::ReplicationArgs),
}

/// (family, what it measures, the peer in the same run).
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "fix",
        "FIX parse/encode ns per NewOrderSingle, ExecutionReport",
        "hotfix-message 0.4",
    ),
    (
        "ring",
        "LMAX ring scenarios (1P1C, batch, 3P1C, 1P3C x3) + ping-pong",
        "disruptor crate 4.x, crossbeam-channel",
    ),
    (
        "journal",
        "journal append latency/throughput, roll spikes",
        "write(2) O_APPEND loop",
    ),
    (
        "book",
        "order book: commands/s and per-op latency, 5 scenarios",
        "orderbook-rs 0.15.3",
    ),
    (
        "logic",
        "business logic: decode+risk+book+reports per command",
        "engine::book alone, same flow",
    ),
    (
        "replication",
        "replication send->ack RTT + records/s, 64/128/512 B x batch 1/16/256",
        "raw UDP ping-pong, same sockets",
    ),
];

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
        BenchCmd::Fix(args) => fix::run(args),
        BenchCmd::Ring(args) => ring::run(args),
        BenchCmd::Journal(a) => journal::run(a),
        BenchCmd::Book(a) => book::run(a),
        BenchCmd::Logic(a) => logic::run(a),
        BenchCmd::Replication(a) => replication::run(a),
    }
}
