//! # journal
//!
//! The ringex journal: a segmented, append-only log of opaque records. Every
//! record is framed with its length, a CRC32C and its sequence number; sequences
//! are strictly consecutive. It knows nothing of orders: the node stores its
//! fixed-size internal messages in it, one record each.
//!
//! - [`Journal`]: the single writer. `append_batch` frames a whole batch into a
//!   reused buffer and writes it with one system call (pwrite), one io_uring
//!   submission, or one copy into a memory map; durability `none`, `batch` or
//!   `interval`. The next segment is created, allocated and pre-faulted by a
//!   background thread so a roll costs what an append costs.
//! - Recovery on open: scans to the last valid record, truncates and reports a
//!   torn tail, refuses (naming file and offset) damage anywhere else. [`verify`]
//!   checks without changing anything; [`repair`] cuts at the first bad record
//!   ([`repair_with`]: torn tails only unless asked, or a dry run).
//! - [`Reader`]: iterate from any sequence across segments, and follow a live
//!   writer.
//! - [`Snapshots`]: atomic snapshot blobs beside the log, and retention.
//! - [`StatsSnapshot`]: per-batch latency histogram and max per second.
//!
//! The on-disk format and the recovery rules are in [`format`] and ARCHITECTURE.md.
#![deny(missing_docs)]

mod backend;
mod config;
mod crc;
mod error;
pub mod format;
mod fsutil;
mod prealloc;
mod reader;
mod recovery;
mod snapshot;
mod stats;
mod writer;

pub use config::{Backend, Config, Durability};
pub use error::{Error, Result};
pub use reader::{Reader, Record, list_segments};
pub use recovery::{
    Cut, RecoveryReport, RepairOptions, RepairReport, Truncation, repair, repair_with, verify,
};
pub use snapshot::{Retention, Snapshots};
pub use stats::{PER_SECOND_WINDOW, StatsSnapshot};
pub use writer::{Appended, Journal};
