//! ringex gateways: translate FIX (and later HTTP/JSON) into the engine's commands.
//!
//! - [`fix`]: the FIX 4.4 acceptor: codec, session layer, message store and the
//!   socket threads.

#![deny(missing_docs)]

pub mod fix;
