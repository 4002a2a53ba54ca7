//! The journal writer: recovers the directory on open, then appends batches of
//! records with one write per batch, rolling onto the pre-allocated spare when a
//! batch does not fit.

use crate::backend::{Active, Sink};
use crate::config::{Backend, Config, Durability};
use crate::format::{self, HEADER_LEN, RECORD_OVERHEAD};
use crate::prealloc::{self, Preparer, Retired};
use crate::recovery::{self, ProblemKind, RecoveryReport};
use crate::stats::{Stats, StatsSnapshot};
use crate::{Error, Result, fsutil};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one `append_batch` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Records written.
    pub records: u64,
    /// The sequence the next append must carry.
    pub next_seq: u64,
    /// Whether this batch started a new segment.
    pub rolled: bool,
}

/// The single writer of a journal directory (an exclusive `flock` on
/// `journal.lock` keeps a second one out).
pub struct Journal {
    dir: PathBuf,
    cfg: Config,
    active: Active,
    sink: Sink,
    backend: Backend,
    fallback: Option<String>,
    staging: Vec<u8>,
    next_seq: u64,
    prep: Preparer,
    /// The spare, once fetched ahead of the roll by `wait_next_segment`.
    ready: Option<Result<prealloc::Spare>>,
    failed: Option<String>,
    stats: Stats,
    opened: Instant,
    last_sync: Instant,
    synced_to: u64,
    closed: bool,
    _lock: File,
}

/// Takes the directory's writer lock (non-blocking).
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(format::LOCK_NAME);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open lock file", &path, e))?;
    // SAFETY: plain syscall on an fd we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(Error::Config(format!(
                "{} is held by another journal writer",
                path.display()
            )));
        }
        return Err(Error::io("flock", &path, e));
    }
    Ok(f)
}

/// Checks that no writer holds `dir`'s lock, without creating the lock file
/// (for read-only tools): the lock file, opened and locked, or `None` when there
/// is no lock file at all (no writer ever ran there, or it was removed).
pub(crate) fn probe_lock(dir: &Path) -> Result<Option<File>> {
    let path = dir.join(format::LOCK_NAME);
    let f = match OpenOptions::new().read(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open lock file", &path, e)),
    };
    // SAFETY: plain syscall on an fd we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(Error::Config(format!(
                "{} is held by another journal writer",
                path.display()
            )));
        }
        return Err(Error::io("flock", &path, e));
    }
    Ok(Some(f))
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`: takes the writer lock,
    /// recovers (truncating a torn tail, promoting a written spare, removing a blank
    /// one), and starts the pre-allocation thread. Damage anywhere but the tail is
    /// an error naming the file and offset; run [`crate::repair`] to cut it off.
    pub fn open(dir: impl AsRef<Path>, cfg: Config) -> Result<(Journal, RecoveryReport)> {
        let dir = dir.as_ref().to_path_buf();
        cfg.validate()?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let mut scan = recovery::scan(&dir)?;
        if let Some(e) = scan.damage_error() {
            return Err(e);
        }
        let mut report = recovery::report(&scan, cfg.first_seq);
        let mut dir_changed = false;
        for p in std::mem::take(&mut scan.blank_spares) {
            std::fs::remove_file(&p).map_err(|e| Error::io("remove blank spare", &p, e))?;
            report.removed_blank_spare = true;
            dir_changed = true;
        }
        let n_segs = scan.segs.len();
        for (i, seg) in scan.segs.iter_mut().enumerate().filter(|(_, s)| s.spare) {
            let to = dir.join(format::segment_name(seg.name_seq));
            std::fs::rename(&seg.path, &to)
                .map_err(|e| Error::io("rename spare segment", &seg.path, e))?;
            report.promoted_spare = Some(to.clone());
            if i + 1 == n_segs
                && let Some(t) = report.truncated.as_mut()
            {
                t.segment = to.clone();
            }
            seg.path = to;
            seg.spare = false;
            dir_changed = true;
        }
        let torn = scan
            .problem
            .as_ref()
            .filter(|p| p.kind == ProblemKind::Torn)
            .map(|p| p.offset);
        let next_seq = scan.next_seq(cfg.first_seq);
        let active = match (scan.segs.last(), scan.states.last()) {
            (Some(seg), Some(state)) => {
                let path = seg.path.clone();
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io("open segment", &path, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| Error::io("stat", &path, e))?
                    .len();
                let mut data_end = state.data_end;
                if let Some(off) = torn {
                    file.set_len(off)
                        .map_err(|e| Error::io("truncate torn tail", &path, e))?;
                }
                // An existing tail keeps its size (the configured size applies to
                // new segments), unless it is too small to hold anything.
                let capacity = if len > (HEADER_LEN + RECORD_OVERHEAD) as u64 {
                    len
                } else {
                    cfg.segment_size
                };
                let mmap = prealloc::ready_file(&file, &path, &cfg, data_end, capacity)?;
                if data_end < HEADER_LEN as u64 {
                    let mut h = [0u8; HEADER_LEN];
                    format::encode_header(&mut h, state.first_seq);
                    fsutil::pwrite_all(&file, &path, &h, 0)?;
                    data_end = HEADER_LEN as u64;
                }
                if torn.is_some() {
                    file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
                }
                Active {
                    file,
                    path,
                    capacity,
                    offset: data_end,
                    mmap,
                }
            }
            _ => {
                let path = dir.join(format::segment_name(cfg.first_seq));
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| Error::io("create segment", &path, e))?;
                let mmap = prealloc::ready_file(&file, &path, &cfg, 0, cfg.segment_size)?;
                let mut h = [0u8; HEADER_LEN];
                format::encode_header(&mut h, cfg.first_seq);
                fsutil::pwrite_all(&file, &path, &h, 0)?;
                file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
                report.segments = 1;
                report.next_seq = cfg.first_seq;
                dir_changed = true;
                Active {
                    file,
                    path,
                    capacity: cfg.segment_size,
                    offset: HEADER_LEN as u64,
                    mmap,
                }
            }
        };
        if dir_changed {
            fsutil::fsync_dir(&dir)?;
        }
        let (sink, backend, fallback) = Sink::new(&cfg);
        if let Some(msg) = &fallback {
            eprintln!("journal {}: {msg}", dir.display());
        }
        let prep = Preparer::start(&dir, &cfg)?;
        let mut staging = Vec::with_capacity(cfg.staging_capacity.max(HEADER_LEN + 64));
        staging.resize(HEADER_LEN, 0);
        let now = Instant::now();
        let synced_to = active.offset;
        Ok((
            Journal {
                dir,
                cfg,
                active,
                sink,
                backend,
                fallback,
                staging,
                next_seq,
                prep,
                ready: None,
                failed: None,
                stats: Stats::new(),
                opened: now,
                last_sync: now,
                synced_to,
                closed: false,
                _lock: lock,
            },
            report,
        ))
    }

    /// Appends a batch of records with consecutive sequences starting at
    /// `first_seq`, which must be [`Journal::next_seq`]. The records are framed into
    /// a reused staging buffer and written with one system call (or one io_uring
    /// submission, or one copy into the map), then synced per the durability
    /// policy. The whole batch lands in one segment: it rolls to the next segment
    /// first if it does not fit.
    ///
    /// Any write or sync error puts the writer in the failed state: this and every
    /// later append return an error, and the directory must be reopened.
    pub fn append_batch<I, B>(&mut self, first_seq: u64, records: I) -> Result<Appended>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        if let Some(msg) = &self.failed {
            return Err(Error::Failed(msg.clone()));
        }
        if let Some(msg) = self.prep.failure.get() {
            self.failed = Some(msg.clone());
            return Err(Error::Failed(msg));
        }
        if first_seq != self.next_seq {
            return Err(Error::Sequence {
                expected: self.next_seq,
                got: first_seq,
            });
        }
        let t0 = Instant::now();
        self.staging.truncate(HEADER_LEN);
        let mut seq = first_seq;
        for r in records {
            let payload = r.as_ref();
            if payload.len() + RECORD_OVERHEAD > format::MAX_RECORD_LEN {
                return Err(Error::TooLarge {
                    needed: (payload.len() + RECORD_OVERHEAD) as u64,
                    capacity: format::MAX_RECORD_LEN as u64,
                });
            }
            format::encode_record_unsealed(&mut self.staging, seq, payload);
            seq += 1;
        }
        format::seal_records(&mut self.staging[HEADER_LEN..]);
        let n = seq - first_seq;
        if n == 0 {
            return Ok(Appended {
                records: 0,
                next_seq: self.next_seq,
                rolled: false,
            });
        }
        let body = (self.staging.len() - HEADER_LEN) as u64;
        let rolled = self.active.offset + body > self.active.capacity;
        if rolled && HEADER_LEN as u64 + body > self.cfg.segment_size {
            return Err(Error::TooLarge {
                needed: HEADER_LEN as u64 + body,
                capacity: self.cfg.segment_size,
            });
        }
        let res = self.write_staged(first_seq, rolled);
        if let Err(e) = res {
            self.failed = Some(e.to_string());
            return Err(e);
        }
        self.next_seq = seq;
        let now = Instant::now();
        let ns = now.duration_since(t0).as_nanos() as u64;
        let second = now.duration_since(self.opened).as_secs();
        let written = self.staging.len() as u64 - if rolled { 0 } else { HEADER_LEN as u64 };
        self.stats.record(ns, second, n, written, rolled);
        Ok(Appended {
            records: n,
            next_seq: seq,
            rolled,
        })
    }

    fn write_staged(&mut self, first_seq: u64, rolled: bool) -> Result<()> {
        let (start, off, retired) = if rolled {
            let retired = self.roll(first_seq)?;
            format::encode_header(&mut self.staging[..HEADER_LEN], first_seq);
            (0, 0, Some(retired))
        } else {
            (HEADER_LEN, self.active.offset, None)
        };
        let buf = &self.staging[start..];
        let synced = self.cfg.durability == Durability::Batch;
        let msg = if synced {
            let from = self.synced_to.min(off);
            self.sink.write_synced(&mut self.active, buf, off, from)?
        } else {
            self.sink.write(&mut self.active, buf, off)?
        };
        if let Some(msg) = msg {
            eprintln!("journal {}: {msg}", self.dir.display());
            self.backend = Backend::Pwrite;
            self.fallback = Some(msg);
        }
        self.active.offset = off + buf.len() as u64;
        if let Some((retired, name)) = retired {
            // Renamed only now that its header is written, so a reader that finds
            // the new name always finds a valid header.
            self.prep.promote(first_seq, name, retired)?;
        }
        match self.cfg.durability {
            Durability::None => {}
            Durability::Batch => self.synced_to = self.active.offset,
            Durability::Interval(d) => {
                if self.last_sync.elapsed() >= d {
                    self.sync_active()?;
                }
            }
        }
        Ok(())
    }

    fn sync_active(&mut self) -> Result<()> {
        let from = self.synced_to.min(self.active.offset);
        self.sink.sync(&self.active, from, self.active.offset)?;
        self.synced_to = self.active.offset;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Switches to the ready spare; returns the segment left behind and the
    /// spare's name on disk (renamed by the background thread after the write).
    fn roll(&mut self, first_seq: u64) -> Result<(Retired, &'static str)> {
        let (spare, waited) = match self.ready.take() {
            Some(r) => (r, false),
            None => self.prep.take(),
        };
        if waited {
            self.stats.spare_wait();
        }
        let spare = spare?;
        let new = Active {
            file: spare.file,
            path: self.dir.join(format::segment_name(first_seq)),
            capacity: spare.capacity,
            offset: 0,
            mmap: spare.mmap,
        };
        let old = std::mem::replace(&mut self.active, new);
        let sync =
            matches!(self.cfg.durability, Durability::Interval(_)) && self.synced_to < old.offset;
        self.synced_to = 0;
        let retired = Retired {
            file: old.file,
            path: old.path,
            mmap: old.mmap,
            sync,
        };
        Ok((retired, spare.name))
    }

    /// Waits (up to `timeout`) until the next segment is allocated and pre-faulted,
    /// so the next roll cannot wait for it. Returns whether it is ready. Not needed
    /// in normal operation (the background thread runs ahead); useful at start-up
    /// and in tests.
    pub fn wait_next_segment(&mut self, timeout: std::time::Duration) -> bool {
        if self.ready.is_none() {
            self.ready = self.prep.wait_ready(timeout);
        }
        self.ready.is_some()
    }

    /// Forces everything appended so far to stable storage, whatever the policy.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(msg) = &self.failed {
            return Err(Error::Failed(msg.clone()));
        }
        if let Err(e) = self.sync_active() {
            self.failed = Some(e.to_string());
            return Err(e);
        }
        Ok(())
    }

    /// Syncs per the durability policy, stops the background thread and releases
    /// the directory. Errors from the final sync (or from the background thread)
    /// are returned.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut res = Ok(());
        if self.failed.is_none()
            && self.cfg.durability != Durability::None
            && self.synced_to < self.active.offset
        {
            res = self.sync();
        }
        self.prep.shutdown();
        if let Some(msg) = self.prep.failure.get() {
            self.failed = Some(msg.clone());
            if res.is_ok() {
                res = Err(Error::Failed(msg));
            }
        }
        res
    }

    /// The sequence the next append must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The back-end actually writing (differs from the configured one after an
    /// io_uring fallback).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Why io_uring was not used, when the writer fell back to pwrite.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The error that put the writer in the failed state, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// A copy of the instrumentation (latency histogram, max per second, counts).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Clears the instrumentation (e.g. after warm-up).
    pub fn reset_stats(&mut self) {
        self.stats.reset();
    }

    /// Path of the segment currently appended to.
    pub fn active_segment(&self) -> &Path {
        &self.active.path
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("segment", &self.active.path)
            .field("offset", &self.active.offset)
            .field("next_seq", &self.next_seq)
            .field("backend", &self.backend)
            .field("durability", &self.cfg.durability)
            .field("failed", &self.failed)
            .finish()
    }
}
