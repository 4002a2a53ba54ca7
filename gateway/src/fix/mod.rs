//! FIX 4.4 acceptor.
//!
//! - [`codec`]: zero-copy framing and parsing of a byte stream, typed field access,
//!   repeating groups, an encoder into a reusable buffer, UTCTimestamp conversion.
//! - [`decimal`]: decimal text <-> integer ticks/lots, no floats.
//! - [`dict`]: the FIX 4.4 tags we accept per message type and `validate`, which
//!   turns a parsed message into the session-level Reject(3) the session must send.
//! - [`app`]: D/F/G/q -> engine commands, engine events -> 8/9/r, instrument reference data.
//! - [`events`]: engine events -> FIX bodies on the owning gateway thread, and the
//!   per-session memory of dead orders for OrderCancelReject's OrdStatus.
//! - [`harness`]: the never-panic harness shared by the fuzz target and the property tests.
//! - [`session`]: the acceptor session layer as a pure state machine (logon,
//!   sequence numbers, resend, heartbeats, validation, throttle).
//! - [`store`]: per-session sequence numbers and sent messages on disk.
//! - [`config`]: sessions (CompIDs, hashed passwords, limits) and timing settings.
//! - [`net`]: the gateway socket threads (mio), outbound channel, hand-off.
//! - [`echo`]: the acceptance-suite test application behind `ringex fix-echo`.

pub mod app;
pub mod codec;
pub mod config;
pub mod decimal;
pub mod dict;
pub mod echo;
pub mod events;
pub mod harness;
pub mod net;
pub mod session;
pub mod store;

#[cfg(test)]
pub(crate) mod testutil;
