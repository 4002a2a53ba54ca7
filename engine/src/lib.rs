//! ringex engine: the primitives every other crate builds on.
//!
//! - [`types`]: the integer domain types (ids, ticks, lots, sides, order types)
//!   shared by the wire format, the book and the gateways.
//! - [`book`]: one limit order book per instrument: matching, every order type,
//!   reports and L2 market data, canonical hash and snapshots.
//! - [`risk`]: accounts, per-asset balances, per-order reservations, pre-trade
//!   checks and fill settlement with fees.
//! - [`logic`]: the business-logic processor (the last ring stage): commands →
//!   risk → book → settlement → events; admin commands; state hash and snapshots.
//! - [`idmap`]: lookup-only id hash maps with a fixed hasher (hot-path tables
//!   whose order never reaches an output).
//! - [`snapshot`]: the canonical state encoding behind the state hash (FNV-1a 64)
//!   and snapshots.
//! - [`ring`]: the Disruptor (sequencers, barriers, wait strategies, stages).
//! - [`pipeline`]: wires stages into a graph on one ring, starts, monitors, halts.
//! - [`msg`]: the internal wire format, one fixed-layout binary record per
//!   message, the same bytes in a ring slot, a journal record and a datagram.
//! - [`clordid`]: the reversible mapping of client order id text to `u64`.
//!
//! Prices are integer ticks and quantities integer lots everywhere inside; decimal
//! text exists only at the gateways.

#![deny(missing_docs)]

pub mod book;
pub mod clordid;
pub mod idmap;
pub mod logic;
pub mod msg;
pub mod pipeline;
pub mod ring;
pub mod risk;
pub mod snapshot;
pub mod types;
