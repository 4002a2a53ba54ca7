//! Readers: iterate records from any sequence across segments, and keep following
//! a live writer (poll: `next_record` returns `None` at the current end and can be called
//! again; records that appear later, including in segments created later, are
//! returned then).
//!
//! A segment the writer has rolled onto may still carry its spare name
//! (`next.spare`/`next2.spare`) until the background thread renames it; a reader
//! at the end of a segment looks there too, so it never waits for the rename.
//!
//! Readers take no lock and change nothing. They read with `pread` into their own
//! buffer, so a record being written concurrently is at worst seen as incomplete
//! (bad CRC) and read again on the next poll. A reader stops at the first invalid
//! record of the newest segment (a write in flight, or a torn tail only the
//! writer's recovery may cut); an invalid record in a segment that has a successor
//! is damage and an error.

use crate::format::{self, HEADER_LEN, Header, Parsed};
use crate::{Error, Result, fsutil};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CHUNK: usize = 256 << 10;

/// One record as read: its sequence and payload (borrowed from the reader's buffer
/// until the next call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Opaque payload.
    pub payload: &'a [u8],
}

/// Sequential reader over a journal directory; also the tailing reader.
pub struct Reader {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// File offset of the next record.
    off: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`, and valid bytes in `buf`.
    buf_off: u64,
    buf_len: usize,
    /// Sequence the next record must carry.
    expect: u64,
    /// Records before this sequence are skipped.
    from: u64,
}

/// Segment first sequences in `dir`, sorted.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut v = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        if let Some(seq) = entry
            .file_name()
            .to_str()
            .and_then(format::parse_segment_name)
        {
            v.push((seq, entry.path()));
        }
    }
    v.sort();
    Ok(v)
}

fn open_segment(path: &Path, expect_first: Option<u64>) -> Result<(File, u64)> {
    let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
    let mut h = [0u8; HEADER_LEN];
    let n = fsutil::pread_full(&file, path, &mut h, 0)?;
    match format::decode_header(&h[..n]) {
        Header::Valid { first_seq } => {
            if let Some(e) = expect_first
                && e != first_seq
            {
                return Err(Error::corrupt(
                    path,
                    0,
                    format!("segment starts at {first_seq}, {e} expected"),
                ));
            }
            Ok((file, first_seq))
        }
        Header::Blank => Err(Error::corrupt(path, 0, "segment header not written")),
        Header::Invalid(why) => Err(Error::corrupt(path, 0, why)),
    }
}

impl Reader {
    /// A reader positioned at record `from_seq` (which may lie beyond the current
    /// end: the reader then returns records once they reach it). Fails if the
    /// journal has no segment or `from_seq` is older than the oldest segment.
    pub fn open(dir: impl AsRef<Path>, from_seq: u64) -> Result<Reader> {
        let dir = dir.as_ref().to_path_buf();
        let segs = list_segments(&dir)?;
        let Some((first, path)) = segs.iter().rev().find(|(f, _)| *f <= from_seq).cloned() else {
            return Err(Error::NotFound(match segs.first() {
                Some((f, _)) => format!(
                    "sequence {from_seq} is older than the oldest segment (first sequence {f}) in {}",
                    dir.display()
                ),
                None => format!("no segments in {}", dir.display()),
            }));
        };
        let (file, _) = open_segment(&path, Some(first))?;
        Ok(Reader {
            dir,
            file,
            path,
            off: HEADER_LEN as u64,
            buf: vec![0u8; CHUNK],
            buf_off: 0,
            buf_len: 0,
            expect: first,
            from: from_seq,
        })
    }

    /// The sequence the next returned record will carry (at least `from_seq`).
    pub fn next_seq(&self) -> u64 {
        self.expect.max(self.from)
    }

    /// Reads from the file at `self.off`, at least `min` bytes of room.
    fn refill(&mut self, min: usize) -> Result<()> {
        if self.buf.len() < min {
            self.buf.resize(min, 0);
        }
        self.buf_len = fsutil::pread_full(&self.file, &self.path, &mut self.buf, self.off)?;
        self.buf_off = self.off;
        Ok(())
    }

    /// The next record, or `None` at the current end of the journal (call again
    /// later to follow a live writer).
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        Ok(self.advance()?.map(|(seq, a, b)| Record {
            seq,
            payload: &self.buf[a..b],
        }))
    }

    /// Moves past the next record; returns its sequence and payload range in `buf`.
    fn advance(&mut self) -> Result<Option<(u64, usize, usize)>> {
        enum Step {
            Rec(usize, u64),
            End,
            Bad(&'static str),
        }
        let mut refreshed = false;
        loop {
            let in_buf = self.off >= self.buf_off && self.off < self.buf_off + self.buf_len as u64;
            if !in_buf {
                self.refill(CHUNK)?;
                refreshed = true;
            }
            let start = (self.off - self.buf_off) as usize;
            let avail = &self.buf[start..self.buf_len];
            if avail.len() >= 4 {
                let total = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
                let whole_read = refreshed && start == 0 && self.buf.len() >= total;
                if total > avail.len() && total <= format::MAX_RECORD_LEN && !whole_read {
                    self.refill(total.max(CHUNK))?;
                    refreshed = true;
                    continue;
                }
            }
            let step = match format::parse_record(avail) {
                Parsed::Record { len, seq, .. } => Step::Rec(len, seq),
                Parsed::End => Step::End,
                Parsed::Invalid(why) => Step::Bad(why),
            };
            match step {
                Step::Rec(len, seq) if seq == self.expect => {
                    self.off += len as u64;
                    self.expect += 1;
                    if seq < self.from {
                        continue;
                    }
                    return Ok(Some((seq, start + format::RECORD_OVERHEAD, start + len)));
                }
                Step::Rec(_, seq) => {
                    return Err(Error::corrupt(
                        &self.path,
                        self.off,
                        format!(
                            "record has sequence {seq} where {} was expected",
                            self.expect
                        ),
                    ));
                }
                Step::End | Step::Bad(_) => {
                    if !refreshed {
                        // The buffer may predate the writer's latest bytes.
                        self.buf_len = 0;
                        continue;
                    }
                    let next = self.dir.join(format::segment_name(self.expect));
                    let file = if next.exists() {
                        None
                    } else {
                        match self.spare_successor() {
                            Some(f) => Some(f),
                            None => return Ok(None),
                        }
                    };
                    if let Step::Bad(why) = step {
                        return Err(Error::corrupt(&self.path, self.off, why));
                    }
                    let file = match file {
                        Some(f) => f,
                        None => open_segment(&next, Some(self.expect))?.0,
                    };
                    self.file = file;
                    self.path = next;
                    self.off = HEADER_LEN as u64;
                    self.buf_len = 0;
                    self.buf_off = 0;
                }
            }
        }
    }

    /// The next segment while it still has its spare name (the writer rolled onto
    /// it and the background thread has not renamed it yet): a spare whose header
    /// is complete and starts at the expected sequence. The open file stays valid
    /// across the rename. `None` if there is none (yet): the caller polls again.
    fn spare_successor(&self) -> Option<File> {
        format::SPARE_NAMES.iter().find_map(|name| {
            let path = self.dir.join(name);
            let file = File::open(&path).ok()?;
            let mut h = [0u8; HEADER_LEN];
            let n = fsutil::pread_full(&file, &path, &mut h, 0).ok()?;
            match format::decode_header(&h[..n]) {
                Header::Valid { first_seq } if first_seq == self.expect => Some(file),
                _ => None,
            }
        })
    }

    /// Like [`Reader::next_record`], but polls (yielding, then sleeping 50 µs) until a
    /// record appears or `timeout` passes.
    pub fn next_record_timeout(&mut self, timeout: Duration) -> Result<Option<Record<'_>>> {
        let deadline = Instant::now() + timeout;
        let mut spins = 0u32;
        loop {
            if let Some((seq, a, b)) = self.advance()? {
                return Ok(Some(Record {
                    seq,
                    payload: &self.buf[a..b],
                }));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            spins += 1;
            if spins < 100 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}
