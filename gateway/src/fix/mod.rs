//! FIX 4.4: codec (framing, parsing, encoding), session layer, store, sockets.

pub mod codec;
pub mod config;
pub mod echo;
pub mod net;
pub mod session;
pub mod store;
