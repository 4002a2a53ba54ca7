//! ringex gateways: where the outside world's protocols meet the engine.
//!
//! - [`fix`]: the FIX 4.4 acceptor: codec (framing, parsing, encoding), decimal
//!   conversion to integer ticks/lots, the message dictionary used for session-level
//!   validation, and the application mapping to engine commands.

#![deny(missing_docs)]

pub mod fix;
