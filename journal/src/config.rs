//! Writer configuration: segment size, write back-end, durability policy.

use std::time::Duration;

/// How batches reach the file. Every back-end issues at most one system call (or
/// one io_uring submission) per batch; `Mmap` issues none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `pwrite(2)` at the segment offset (default).
    Pwrite,
    /// Copy into a shared memory map of the pre-faulted segment (memmap2).
    Mmap,
    /// One io_uring write submission per batch, waited for before returning. If the
    /// kernel refuses io_uring, the writer falls back to `Pwrite` and says why.
    IoUring,
}

impl Backend {
    /// Stable lower-case name (`pwrite`, `mmap`, `io_uring`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Pwrite => "pwrite",
            Backend::Mmap => "mmap",
            Backend::IoUring => "io_uring",
        }
    }

    /// Parses a back-end name as printed by [`Backend::name`].
    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "pwrite" => Some(Backend::Pwrite),
            "mmap" => Some(Backend::Mmap),
            "io_uring" | "io-uring" | "uring" => Some(Backend::IoUring),
            _ => None,
        }
    }
}

/// When appended bytes are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Never: bytes live in the page cache (LMAX's choice; replication covers
    /// power loss). A process crash loses nothing, a power cut may.
    None,
    /// `fdatasync` (or `msync` for mmap) after every batch, before the append returns.
    Batch,
    /// `fdatasync` at most once per interval, done inline by the append that finds
    /// the interval elapsed (and by [`crate::Journal::sync`] / close). An idle
    /// writer's last bytes stay unsynced until the next append or an explicit sync.
    Interval(Duration),
}

impl Durability {
    /// Short name for reports (`none`, `batch`, `interval-5ms`).
    pub fn name(self) -> String {
        match self {
            Durability::None => "none".into(),
            Durability::Batch => "batch".into(),
            Durability::Interval(d) => format!("interval-{}ms", d.as_millis()),
        }
    }
}

/// Writer configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size of each segment file, header included. Pre-allocated in full.
    pub segment_size: u64,
    /// Write back-end.
    pub backend: Backend,
    /// Durability policy.
    pub durability: Durability,
    /// Sequence of the first record of a brand-new (empty) journal.
    pub first_seq: u64,
    /// Read (pwrite/io_uring: clean page-cache pages) or write-touch every page
    /// of (mmap) the next segment in the background, so the hot path finds
    /// resident pages.
    pub prefault: bool,
    /// Initial capacity of the staging buffer a batch is framed into (grows once
    /// if a larger batch arrives, then stays).
    pub staging_capacity: usize,
    /// io_uring submission queue entries. `0` makes `io_uring_setup` refuse (the
    /// tests use it to exercise the fallback path).
    pub uring_entries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            segment_size: 64 << 20,
            backend: Backend::Pwrite,
            durability: Durability::None,
            first_seq: 1,
            prefault: true,
            staging_capacity: 1 << 20,
            uring_entries: 8,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let min = (crate::format::HEADER_LEN + crate::format::RECORD_OVERHEAD) as u64;
        if self.segment_size < min + 1 {
            return Err(crate::Error::Config(format!(
                "segment_size {} is below the minimum {}",
                self.segment_size,
                min + 1
            )));
        }
        if self.segment_size > (1u64 << 40) {
            return Err(crate::Error::Config(format!(
                "segment_size {} is above 1 TiB",
                self.segment_size
            )));
        }
        if let Durability::Interval(d) = self.durability
            && d.is_zero()
        {
            return Err(crate::Error::Config(
                "interval durability needs a non-zero interval (use batch)".into(),
            ));
        }
        Ok(())
    }
}
