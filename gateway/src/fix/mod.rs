//! FIX 4.4 acceptor.
//!
//! - [`codec`]: zero-copy framing and parsing of a byte stream, typed field access,
//!   repeating groups, an encoder into a reusable buffer, UTCTimestamp conversion.
//! - [`decimal`]: decimal text <-> integer ticks/lots, no floats.
//! - [`dict`]: the FIX 4.4 tags we accept per message type and `validate`, which
//!   turns a parsed message into the session-level Reject(3) the session must send.

pub mod codec;
pub mod decimal;
pub mod dict;

#[cfg(test)]
pub(crate) mod testutil;
