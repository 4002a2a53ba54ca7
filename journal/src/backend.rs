//! The three write back-ends behind one `write(segment, bytes, offset)` call: one
//! `pwrite`, one memcpy into the map, or one io_uring submission per batch.

use crate::config::{Backend, Config};
use crate::fsutil;
use crate::{Error, Result};
use io_uring::{IoUring, opcode, squeue, types};
use memmap2::MmapMut;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// The segment the writer is appending to.
pub(crate) struct Active {
    pub file: File,
    /// The segment's final name (used in messages; a fresh segment is still
    /// `next.spare` on disk until the background thread renames it).
    pub path: PathBuf,
    pub capacity: u64,
    pub offset: u64,
    pub mmap: Option<MmapMut>,
}

/// A write back-end instance.
pub(crate) enum Sink {
    Pwrite,
    Mmap,
    Uring(Box<IoUring>),
}

impl Sink {
    /// Builds the configured back-end. Returns the back-end actually in use and, on
    /// an io_uring fallback, the reason.
    pub fn new(cfg: &Config) -> (Sink, Backend, Option<String>) {
        match cfg.backend {
            Backend::Pwrite => (Sink::Pwrite, Backend::Pwrite, None),
            Backend::Mmap => (Sink::Mmap, Backend::Mmap, None),
            Backend::IoUring => match IoUring::new(cfg.uring_entries) {
                Ok(ring) => (Sink::Uring(Box::new(ring)), Backend::IoUring, None),
                Err(e) => (Sink::Pwrite, Backend::Pwrite, Some(fallback_msg(&e))),
            },
        }
    }

    /// Writes `buf` at `offset` of the active segment.
    pub fn write(&mut self, seg: &mut Active, buf: &[u8], offset: u64) -> Result<Option<String>> {
        match self {
            Sink::Pwrite => fsutil::pwrite_all(&seg.file, &seg.path, buf, offset).map(|()| None),
            Sink::Mmap => {
                let Some(m) = seg.mmap.as_mut() else {
                    return Err(Error::Failed(
                        "mmap back-end without a mapped segment".into(),
                    ));
                };
                let start = offset as usize;
                let end = start + buf.len();
                if end > m.len() {
                    return Err(Error::TooLarge {
                        needed: end as u64,
                        capacity: m.len() as u64,
                    });
                }
                copy_in_record_order(&mut m[start..end], buf, offset == 0);
                Ok(None)
            }
            Sink::Uring(ring) => match uring_write(ring, seg, buf, offset) {
                Ok(()) => Ok(None),
                Err(UringErr::Refused(e)) => {
                    // The kernel set the ring up but refuses the write opcode:
                    // fall back for good and redo this write with pwrite.
                    let msg = fallback_msg(&e);
                    *self = Sink::Pwrite;
                    fsutil::pwrite_all(&seg.file, &seg.path, buf, offset)?;
                    Ok(Some(msg))
                }
                Err(UringErr::Io(e)) => Err(Error::io("io_uring write", &seg.path, e)),
            },
        }
    }

    /// Writes `buf` at `offset` and forces it to stable storage. With io_uring this
    /// is one submission (a write linked to an `fdatasync`); the others write,
    /// then sync `[from, offset + len)`.
    pub fn write_synced(
        &mut self,
        seg: &mut Active,
        buf: &[u8],
        offset: u64,
        from: u64,
    ) -> Result<Option<String>> {
        if let Sink::Uring(ring) = self
            && buf.len() <= u32::MAX as usize
            && ring.submission().capacity() >= 2
        {
            match uring_write_sync(ring, seg, buf, offset) {
                Ok(true) => return Ok(None),
                Ok(false) => {} // short write: finish below the slow way
                Err(UringErr::Io(e)) => {
                    return Err(Error::io("io_uring write+fdatasync", &seg.path, e));
                }
                Err(UringErr::Refused(_)) => {} // write() below classifies and falls back
            }
        }
        let msg = self.write(seg, buf, offset)?;
        self.sync(seg, from, offset + buf.len() as u64)?;
        Ok(msg)
    }

    /// Forces `[from, to)` of the active segment to stable storage.
    pub fn sync(&mut self, seg: &Active, from: u64, to: u64) -> Result<()> {
        match (&self, &seg.mmap) {
            (Sink::Mmap, Some(m)) => m
                .flush_range(from as usize, (to - from) as usize)
                .map_err(|e| Error::io("msync", &seg.path, e)),
            _ => fsutil::fdatasync(&seg.file, &seg.path),
        }
    }
}

fn fallback_msg(e: &std::io::Error) -> String {
    format!("io_uring refused by the kernel ({e}); falling back to pwrite")
}

enum UringErr {
    Refused(std::io::Error),
    Io(std::io::Error),
}

fn uring_write(
    ring: &mut IoUring,
    seg: &Active,
    buf: &[u8],
    offset: u64,
) -> std::result::Result<(), UringErr> {
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &buf[done..];
        let len = rest.len().min(u32::MAX as usize) as u32;
        let sqe = opcode::Write::new(types::Fd(seg.file.as_raw_fd()), rest.as_ptr(), len)
            .offset(offset + done as u64)
            .build()
            .user_data(1);
        // SAFETY: the buffer `rest` stays alive and unmodified until the completion
        // is reaped below (we wait for it before returning), and the fd stays open.
        unsafe { ring.submission().push(&sqe) }
            .map_err(|_| UringErr::Io(std::io::Error::other("io_uring submission queue full")))?;
        loop {
            match ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify(e, done)),
            }
        }
        let Some(cqe) = ring.completion().next() else {
            return Err(UringErr::Io(std::io::Error::other(
                "io_uring completion missing",
            )));
        };
        let res = cqe.result();
        if res < 0 {
            if res == -libc::EINTR || res == -libc::EAGAIN {
                continue;
            }
            return Err(classify(std::io::Error::from_raw_os_error(-res), done));
        }
        if res == 0 {
            return Err(UringErr::Io(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "io_uring wrote zero bytes",
            )));
        }
        done += res as usize;
    }
    Ok(())
}

/// An error before anything was written that says "not supported here" is a
/// refusal (fall back); anything else is a real I/O error.
fn classify(e: std::io::Error, done: usize) -> UringErr {
    let refused = matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EPERM)
    );
    if refused && done == 0 {
        UringErr::Refused(e)
    } else {
        UringErr::Io(e)
    }
}

/// One submission: the write, linked to an `fdatasync` that runs only if the write
/// completed in full. `Ok(false)`: the write was short or the sync was cancelled
/// (nothing failed; the caller finishes with pwrite + fdatasync, rewriting the
/// same bytes at the same offset, which is harmless).
fn uring_write_sync(
    ring: &mut IoUring,
    seg: &Active,
    buf: &[u8],
    offset: u64,
) -> std::result::Result<bool, UringErr> {
    let fd = types::Fd(seg.file.as_raw_fd());
    let write = opcode::Write::new(fd, buf.as_ptr(), buf.len() as u32)
        .offset(offset)
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(1);
    let sync = opcode::Fsync::new(fd)
        .flags(types::FsyncFlags::DATASYNC)
        .build()
        .user_data(2);
    // SAFETY: `buf` stays alive and unmodified until both completions are reaped
    // below (we wait for them before returning), and the fd stays open.
    unsafe { ring.submission().push_multiple(&[write, sync]) }
        .map_err(|_| UringErr::Io(std::io::Error::other("io_uring submission queue full")))?;
    let mut reaped = 0;
    let (mut wres, mut sres) = (None, None);
    while reaped < 2 {
        match ring.submit_and_wait(2 - reaped) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(e, 0)),
        }
        for cqe in ring.completion() {
            reaped += 1;
            match cqe.user_data() {
                1 => wres = Some(cqe.result()),
                _ => sres = Some(cqe.result()),
            }
        }
    }
    let (w, s) = (wres.unwrap_or(-libc::EIO), sres.unwrap_or(-libc::EIO));
    if w < 0 {
        if w == -libc::EINTR || w == -libc::EAGAIN {
            return Ok(false);
        }
        return Err(classify(std::io::Error::from_raw_os_error(-w), 0));
    }
    if (w as usize) < buf.len() || s == -libc::ECANCELED {
        return Ok(false);
    }
    if s < 0 {
        return Err(UringErr::Io(std::io::Error::from_raw_os_error(-s)));
    }
    Ok(true)
}

/// Copies a staged batch into the mapped segment so that, if the process dies
/// part-way (SIGKILL), what reached the mapping is a prefix of whole records plus
/// at most one partial record: never a later record without an earlier one.
///
/// Why: one `memcpy` of the whole batch gives no store order (glibc's large-copy
/// path stores its first vector last), so a kill inside it could leave the first
/// record's length word unwritten while later records are complete, and recovery
/// then rightly refuses the segment as damaged before its tail. Copying frame by
/// frame with a compiler fence between frames keeps program order, and a signal
/// stops a thread at an instruction boundary, so every earlier store is in the
/// page cache. `header` says the batch starts with the segment header (a roll).
fn copy_in_record_order(dst: &mut [u8], src: &[u8], header: bool) {
    use std::sync::atomic::{Ordering, compiler_fence};
    let mut off = 0;
    if header {
        let h = crate::format::HEADER_LEN.min(src.len());
        dst[..h].copy_from_slice(&src[..h]);
        compiler_fence(Ordering::SeqCst);
        off = h;
    }
    while off < src.len() {
        let len = src
            .get(off..off + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
            .filter(|&l| l >= crate::format::RECORD_OVERHEAD && off + l <= src.len())
            .unwrap_or(src.len() - off);
        dst[off..off + len].copy_from_slice(&src[off..off + len]);
        compiler_fence(Ordering::SeqCst);
        off += len;
    }
}

#[cfg(test)]
mod ordered_copy_tests {
    use super::copy_in_record_order;
    use crate::format::{HEADER_LEN, encode_record};

    #[test]
    fn copies_header_and_frames_byte_for_byte() {
        let mut src = vec![7u8; HEADER_LEN];
        for (i, l) in [0usize, 1, 128, 300].iter().enumerate() {
            encode_record(&mut src, 10 + i as u64, &vec![i as u8; *l]);
        }
        src.extend_from_slice(&[1, 2, 3]); // a trailing non-frame tail is copied too
        for header in [true, false] {
            let from = if header { 0 } else { HEADER_LEN };
            let mut dst = vec![0u8; src.len() - from];
            copy_in_record_order(&mut dst, &src[from..], header);
            assert_eq!(dst, &src[from..]);
        }
    }
}
