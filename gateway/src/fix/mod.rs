//! FIX 4.4 acceptor.
//!
//! - [`codec`]: zero-copy framing and parsing of a byte stream, typed field access,
//!   repeating groups, an encoder into a reusable buffer, UTCTimestamp conversion.
//! - [`decimal`]: decimal text <-> integer ticks/lots, no floats.
//! - [`dict`]: the FIX 4.4 tags we accept per message type and `validate`, which
//!   turns a parsed message into the session-level Reject(3) the session must send.
//! - [`app`]: D/F/G/q -> engine commands, engine events -> 8/9/r, instrument reference data.
//! - [`harness`]: the never-panic harness shared by the fuzz target and the property tests.

pub mod app;
pub mod codec;
pub mod decimal;
pub mod dict;
pub mod harness;

#[cfg(test)]
pub(crate) mod testutil;
