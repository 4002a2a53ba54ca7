//! ringex engine: the primitives every other crate builds on.
//!
//! - [`types`]: the integer domain types (ids, ticks, lots, sides, order types)
//!   shared by the wire format, the book and the gateways.
//! - [`ring`]: the Disruptor (sequencers, barriers, wait strategies, stages).
//!
//! Prices are integer ticks and quantities integer lots everywhere inside; decimal
//! text exists only at the gateways.

#![deny(missing_docs)]

pub mod ring;
pub mod types;
