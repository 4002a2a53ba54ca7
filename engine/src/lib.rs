//! ringex engine: the primitives every other crate builds on.
//!
//! - [`types`]: the integer domain types (ids, ticks, lots, sides, order types)
//!   shared by the wire format, the book and the gateways.
//! - [`ring`]: the Disruptor (sequencers, barriers, wait strategies, stages).
//! - [`pipeline`]: wires stages into a graph on one ring, starts, monitors, halts.
//! - [`msg`]: the internal wire format, one fixed-layout binary record per
//!   message, the same bytes in a ring slot, a journal record and a datagram.
//! - [`clordid`]: the reversible mapping of client order id text to `u64`.
//!
//! Prices are integer ticks and quantities integer lots everywhere inside; decimal
//! text exists only at the gateways.

#![deny(missing_docs)]

pub mod clordid;
pub mod msg;
pub mod pipeline;
pub mod ring;
pub mod types;
