//! ringex gateways: where the outside world's protocols meet the engine.
//!
//! - [`fix`]: the FIX 4.4 acceptor: codec (framing, parsing, encoding), decimal
//!   conversion to integer ticks/lots, the message dictionary used for session-level
//!   validation, the application mapping to engine commands, the session layer,
//!   its store and the socket threads.

#![deny(missing_docs)]

pub mod fix;
