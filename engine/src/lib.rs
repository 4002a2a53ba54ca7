//! ringex engine: the primitives every other crate builds on.
//!
//! - [`types`]: the integer domain types (ids, ticks, lots, sides, order types)
//!   shared by the wire format, the book and the gateways.
//! - [`book`]: one limit order book per instrument: matching, every order type,
//!   reports and L2 market data, canonical hash and snapshots.
//!
//! Prices are integer ticks and quantities integer lots everywhere inside; decimal
//! text exists only at the gateways.

#![deny(missing_docs)]

pub mod book;
pub mod types;
