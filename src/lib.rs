//! # ringex (the node)
//!
//! The root package: the `ringex` command line, the node configuration, and the
//! wiring that turns the `engine`, `journal` and `gateway` crates into a running
//! exchange node. The binary (`src/main.rs`) only calls [`cli::main`].
#![deny(missing_docs)]

pub mod bench_node;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fixgw;
pub mod journal_tools;
pub mod node;
pub mod run;
pub mod session_ledger;
