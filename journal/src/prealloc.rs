//! The background thread that keeps the next two segments ready: creates
//! `next.spare` and `next2.spare`, allocates each in full, pre-faults it (reads it
//! into the page cache, or writes zeros and write-faults every page of the map),
//! and hands `next.spare` to the writer through a one-slot channel. When the
//! writer rolls onto it, the thread renames it to its first sequence, renames
//! `next2.spare` to `next.spare` and hands it over, retires the old segment (final
//! sync in interval mode, unmap and close off the hot path), and only then
//! prepares a new `next2.spare`: each preparation has two segments' time.

use crate::config::{Backend, Config, Durability};
use crate::format::{self, SPARE_NAMES};
use crate::fsutil;
use crate::{Error, Result};
use memmap2::MmapMut;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A segment file ready to be written: allocated, pre-faulted, mapped if needed.
pub(crate) struct Spare {
    /// Its name on disk until the background thread renames it after the roll
    /// (one of [`SPARE_NAMES`]).
    pub name: &'static str,
    pub file: File,
    pub mmap: Option<MmapMut>,
    pub capacity: u64,
}

/// A segment the writer has left.
pub(crate) struct Retired {
    pub file: File,
    pub path: PathBuf,
    pub mmap: Option<MmapMut>,
    /// Whether unsynced bytes remain (interval durability).
    pub sync: bool,
}

enum Cmd {
    Promote {
        first_seq: u64,
        name: &'static str,
        retired: Retired,
    },
    Shutdown,
}

/// Failure reported by the background thread, read by the writer before each append.
#[derive(Default)]
pub(crate) struct Failure {
    flag: AtomicBool,
    msg: Mutex<Option<String>>,
}

impl Failure {
    fn set(&self, msg: String) {
        if let Ok(mut m) = self.msg.lock()
            && m.is_none()
        {
            *m = Some(msg);
        }
        self.flag.store(true, Ordering::Release);
    }

    /// The failure, if any (one atomic load when none).
    pub fn get(&self) -> Option<String> {
        if !self.flag.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.msg
                .lock()
                .ok()
                .and_then(|m| m.clone())
                .unwrap_or_else(|| "background thread failed".into()),
        )
    }
}

/// The writer's handle on the background thread.
pub(crate) struct Preparer {
    cmd_tx: Sender<Cmd>,
    spare_rx: Receiver<Result<Spare>>,
    handle: Option<JoinHandle<()>>,
    pub failure: Arc<Failure>,
}

impl Preparer {
    pub fn start(dir: &Path, cfg: &Config) -> Result<Preparer> {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        // One slot per spare name: the thread never blocks on it.
        let (spare_tx, spare_rx) = mpsc::sync_channel(SPARE_NAMES.len());
        let failure = Arc::new(Failure::default());
        let f2 = failure.clone();
        let dir2 = dir.to_path_buf();
        let cfg2 = cfg.clone();
        let handle = std::thread::Builder::new()
            .name("journal-prealloc".into())
            .spawn(move || run(&dir2, &cfg2, cmd_rx, spare_tx, &f2))
            .map_err(|e| Error::io("spawn background thread", dir, e))?;
        Ok(Preparer {
            cmd_tx,
            spare_rx,
            handle: Some(handle),
            failure,
        })
    }

    /// Takes the ready spare; blocks (and says so) only if it is not ready yet.
    pub fn take(&mut self) -> (Result<Spare>, bool) {
        match self.spare_rx.try_recv() {
            Ok(r) => (r, false),
            Err(TryRecvError::Empty) => match self.spare_rx.recv() {
                Ok(r) => (r, true),
                Err(_) => (Err(self.gone()), true),
            },
            Err(TryRecvError::Disconnected) => (Err(self.gone()), false),
        }
    }

    /// Waits up to `timeout` for the spare; `None` if it is not ready by then.
    pub fn wait_ready(&mut self, timeout: std::time::Duration) -> Option<Result<Spare>> {
        match self.spare_rx.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(self.gone())),
        }
    }

    fn gone(&self) -> Error {
        Error::Failed(
            self.failure
                .get()
                .unwrap_or_else(|| "the segment pre-allocation thread stopped".into()),
        )
    }

    /// Tells the thread the spare `name` now holds `first_seq` onwards.
    pub fn promote(&mut self, first_seq: u64, name: &'static str, retired: Retired) -> Result<()> {
        self.cmd_tx
            .send(Cmd::Promote {
                first_seq,
                name,
                retired,
            })
            .map_err(|_| self.gone())
    }

    /// Stops the thread and waits for it (it finishes any retirement first).
    pub fn shutdown(&mut self) {
        let _ = self.cmd_tx.send(Cmd::Shutdown);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    dir: &Path,
    cfg: &Config,
    cmd_rx: Receiver<Cmd>,
    spare_tx: SyncSender<Result<Spare>>,
    failure: &Failure,
) {
    batch_policy();
    // Both spares up front; then one new spare per roll, under the name the
    // roll's spare leaves free once renamed. The writer holds up to two ready
    // spares, so this thread has two segments' worth of appends to rename and
    // replace each one: a late wake-up does not make the writer wait.
    for name in SPARE_NAMES {
        let spare = prepare(dir, cfg, name);
        let ok = spare.is_ok();
        if spare_tx.send(spare).is_err() {
            return;
        }
        if !ok {
            break;
        }
    }
    // After a preparation error (sent to the writer, which fails at the roll
    // that takes it) the thread only renames and retires.
    let mut broken = false;
    while let Ok(cmd) = cmd_rx.recv() {
        let Cmd::Promote {
            first_seq,
            name,
            retired,
        } = cmd
        else {
            return;
        };
        let from = dir.join(name);
        let to = dir.join(format::segment_name(first_seq));
        let renamed = std::fs::rename(&from, &to)
            .map_err(|e| Error::io("rename spare segment", &from, e))
            .and_then(|()| {
                if cfg.durability != Durability::None {
                    fsutil::fsync_dir(dir)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = renamed {
            // Never prepare over a spare that may hold data.
            failure.set(e.to_string());
            let _ = spare_tx.send(Err(e));
            retire(retired, failure);
            return;
        }
        if !broken {
            // A preparation error travels to the writer through the channel
            // and fails it at the roll that needs this spare (not before).
            let next = prepare(dir, cfg, name);
            broken = next.is_err();
            if spare_tx.send(next).is_err() {
                retire(retired, failure);
                return;
            }
        }
        retire(retired, failure);
    }
}

/// Puts the calling (background) thread under `SCHED_BATCH`: same CPU share as
/// before (same nice value), but its wake-up never preempts a running thread.
/// Without it, the writer's wake-up at each roll let this thread (renaming,
/// allocating and pre-faulting for milliseconds) take the writer's CPU at once
/// whenever no core was idle, so the batch that rolled paid for the next
/// segment's preparation after all (measured: roll p50 ~5 ms with no spare
/// wait, on a busy 2-core box). Best effort: on failure the thread keeps the
/// default policy.
fn batch_policy() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid, live
    // `sched_param`; SCHED_BATCH with priority 0 needs no privilege.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
}

fn retire(r: Retired, failure: &Failure) {
    if r.sync {
        let res = match &r.mmap {
            Some(m) => m.flush().map_err(|e| Error::io("msync", &r.path, e)),
            None => fsutil::fdatasync(&r.file, &r.path),
        };
        if let Err(e) = res {
            failure.set(e.to_string());
        }
    }
    drop(r);
}

/// Creates and readies a spare named `name`; errors say it was the next segment.
pub(crate) fn prepare(dir: &Path, cfg: &Config, name: &'static str) -> Result<Spare> {
    prepare_inner(dir, cfg, name).map_err(|e| match e {
        Error::Io { op, path, source } => Error::Io {
            op: match op {
                "fallocate" => "allocating the next segment (fallocate)",
                "pread" => "pre-faulting the next segment (pread)",
                "pwrite" => "pre-faulting the next segment (writing zeros)",
                other => other,
            },
            path,
            source,
        },
        other => other,
    })
}

fn prepare_inner(dir: &Path, cfg: &Config, name: &'static str) -> Result<Spare> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::io("create spare segment", &path, e))?;
    let mmap = ready_file(&file, &path, cfg, 0, cfg.segment_size)?;
    if cfg.durability != Durability::None {
        fsutil::fdatasync(&file, &path)?;
        fsutil::fsync_dir(dir)?;
    }
    Ok(Spare {
        name,
        file,
        mmap,
        capacity: cfg.segment_size,
    })
}

/// Allocates `file` to `capacity`, pre-faults `[from, capacity)` and maps it for
/// the mmap back-end.
pub(crate) fn ready_file(
    file: &File,
    path: &Path,
    cfg: &Config,
    from: u64,
    capacity: u64,
) -> Result<Option<MmapMut>> {
    fsutil::allocate(file, path, capacity)?;
    if cfg.backend != Backend::Mmap {
        if cfg.prefault {
            fsutil::prefault_read(file, path, from, capacity)?;
        }
        return Ok(None);
    }
    // SAFETY: the journal owns this file (directory lock); nobody truncates it while
    // mapped, and its length is `capacity` (just allocated), so every access through
    // the map is backed by allocated file blocks (no SIGBUS for lack of space).
    let mut m = unsafe {
        memmap2::MmapOptions::new()
            .len(capacity as usize)
            .map_mut(file)
    }
    .map_err(|e| Error::io("mmap", path, e))?;
    if cfg.prefault {
        // Zeros written through the page cache first: the write faults below then
        // find resident, already-dirty pages and are cheap. Write-faulting pages
        // of fallocate'd (unwritten) extents directly costs ext4 a journalled
        // `page_mkwrite` each: ~9 ms per 4 MiB measured here against ~1.5 ms
        // this way, and that made a fast mmap writer wait for its spare at
        // every roll. The range after `from` is zero already (end of data), so
        // this changes no byte.
        fsutil::write_zeros(file, path, from, capacity)?;
        let page = 4096usize;
        let start = (from as usize) & !(page - 1);
        // One madvise(MADV_POPULATE_WRITE) write-faults the whole range in the
        // kernel; touching each page from user space is the fallback (older kernels).
        if m.advise_range(
            memmap2::Advice::PopulateWrite,
            start,
            capacity as usize - start,
        )
        .is_ok()
        {
            return Ok(Some(m));
        }
        let base = m.as_mut_ptr();
        let mut i = start;
        while i < capacity as usize {
            // SAFETY: `i < capacity` = the map's length; a volatile write of the byte
            // already there (zero in the unused region, or existing data) faults the
            // page in for writing without changing the file's contents.
            unsafe {
                let p = base.add(i);
                std::ptr::write_volatile(p, std::ptr::read_volatile(p));
            }
            i += page;
        }
    }
    Ok(Some(m))
}
