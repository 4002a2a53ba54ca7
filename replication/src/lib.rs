//! Synchronous replication of opaque sequenced records from a primary to a hot
//! standby over UDP.
//!
//! The crate knows nothing about orders: a record is a byte string (the same bytes
//! as a ring slot / journal record) identified by a contiguous `u64` sequence.
//!
//! - [`Replicator`] (primary side) batches records into data datagrams, keeps a
//!   bounded in-memory window for retransmission, falls back to a caller-supplied
//!   [`RetransmitSource`] (the node backs it with the journal reader) for older
//!   records, and publishes the *acknowledged* position in an `Arc<AtomicI64>` the
//!   business-logic barrier can wait on. A [`Policy`] decides what happens when the
//!   secondary stops answering.
//! - [`Receiver`] (secondary side) delivers contiguous records, in order and exactly
//!   once, to a callback; it acknowledges cumulatively, NAKs gaps, and on start asks
//!   the primary for everything from its own next sequence (catch-up).
//!
//! Datagram layout and rules: [`wire`] and ARCHITECTURE.md ("Replication").
#![deny(missing_docs)]

pub mod primary;
pub mod secondary;
pub mod window;
pub mod wire;

pub use primary::{PrimaryConfig, PrimaryStats, Replicator};
pub use secondary::{Receiver, SecondaryConfig, SecondaryStats};

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// What the primary does when the secondary stops acknowledging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Block: the acknowledged sequence does not advance (safe default for a pair).
    Wait,
    /// After `after_ms` without acknowledgement progress while records are
    /// outstanding, continue alone: the acknowledged sequence follows what was sent,
    /// a flag and counter are set, and one line is logged. Cleared when the
    /// secondary catches up again.
    Degrade {
        /// Milliseconds without progress before degrading.
        after_ms: u64,
    },
}

/// How blocking helpers wait between socket polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Busy-spin (lowest latency; burns a core).
    Spin,
    /// `std::thread::yield_now` between polls.
    Yield,
    /// Sleep this long between polls (for tests and idle links).
    Sleep(Duration),
}

impl Idle {
    /// Waits once according to the strategy.
    pub fn idle(self) {
        match self {
            Idle::Spin => std::hint::spin_loop(),
            Idle::Yield => std::thread::yield_now(),
            Idle::Sleep(d) => std::thread::sleep(d),
        }
    }
}

/// Errors from this crate.
#[derive(Debug)]
pub enum Error {
    /// Socket creation, option or bind failure.
    Io(&'static str, std::io::Error),
    /// Configuration rejected.
    Config(String),
    /// `send` with a sequence other than the next one.
    OutOfSequence {
        /// Sequence the replicator expected.
        expected: u64,
        /// Sequence it was given.
        got: u64,
    },
    /// A record larger than the configured maximum.
    RecordTooLarge {
        /// Record length.
        len: usize,
        /// Largest accepted.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(what, e) => write!(f, "replication: {what}: {e}"),
            Error::Config(m) => write!(f, "replication config: {m}"),
            Error::OutOfSequence { expected, got } => {
                write!(
                    f,
                    "replication: record seq {got} given, expected {expected}"
                )
            }
            Error::RecordTooLarge { len, max } => {
                write!(
                    f,
                    "replication: record of {len} bytes exceeds the maximum {max}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// Records handed back by a [`RetransmitSource`], in one reusable buffer.
#[derive(Debug, Default)]
pub struct RecordBatch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl RecordBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends one record.
    pub fn push(&mut self, rec: &[u8]) {
        self.data.extend_from_slice(rec);
        self.ends.push(self.data.len());
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Record `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.data.get(start..end)
    }
    /// Empties the batch, keeping its capacity.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
}

/// Where the primary reads records that fell out of its in-memory window (the
/// node backs this with the journal reader).
pub trait RetransmitSource: Send {
    /// Appends up to `max` consecutive records starting at seq `from` to `out` and
    /// returns how many; `Ok(0)` when `from` is not available.
    fn read(&mut self, from: u64, max: usize, out: &mut RecordBatch) -> Result<usize, String>;
}

/// A source with nothing in it: only the in-memory window can be retransmitted.
pub struct NoSource;

impl RetransmitSource for NoSource {
    fn read(&mut self, _from: u64, _max: usize, _out: &mut RecordBatch) -> Result<usize, String> {
        Ok(0)
    }
}

/// Socket options shared by both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketConfig {
    /// Local address to bind.
    pub bind: SocketAddr,
    /// The peer's address (datagrams are sent there).
    pub peer: SocketAddr,
    /// SO_SNDBUF in bytes (None: OS default).
    pub send_buffer: Option<usize>,
    /// SO_RCVBUF in bytes (None: OS default).
    pub recv_buffer: Option<usize>,
}

/// Opens a non-blocking UDP socket bound to `cfg.bind` with the buffer sizes set.
pub(crate) fn open_socket(cfg: &SocketConfig) -> Result<std::net::UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = Domain::for_address(cfg.bind);
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| Error::Io("create socket", e))?;
    if let Some(n) = cfg.send_buffer {
        s.set_send_buffer_size(n)
            .map_err(|e| Error::Io("set SO_SNDBUF", e))?;
    }
    if let Some(n) = cfg.recv_buffer {
        s.set_recv_buffer_size(n)
            .map_err(|e| Error::Io("set SO_RCVBUF", e))?;
    }
    s.bind(&cfg.bind.into()).map_err(|e| Error::Io("bind", e))?;
    s.set_nonblocking(true)
        .map_err(|e| Error::Io("set non-blocking", e))?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_batch() {
        let mut b = RecordBatch::new();
        b.push(b"ab");
        b.push(b"");
        b.push(b"cde");
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(0), Some(&b"ab"[..]));
        assert_eq!(b.get(1), Some(&b""[..]));
        assert_eq!(b.get(2), Some(&b"cde"[..]));
        assert_eq!(b.get(3), None);
        b.clear();
        assert!(b.is_empty());
    }
}
