//! Per-session persistence: the two sequence numbers and the outbound application
//! messages a counterparty may ask us to resend.
//!
//! The session layer talks to a [`MessageStore`]; two exist:
//!
//! - [`FileStore`]: one directory per session under the data directory, holding
//!   `seqnums` (fixed-width text `"<next sender> <next target>\n"`, rewritten in
//!   place) and `messages` (an append-only file of outbound application messages).
//!   Writes go through a buffer and reach the kernel on [`MessageStore::flush`], which
//!   the socket threads call once per poll iteration (one batch), not per message.
//!   There is **no fsync** by default: a process crash loses nothing that was
//!   flushed, a machine crash can lose the last batch. On open, the next sender
//!   sequence number is the larger of the `seqnums` value and the last stored
//!   message + 1, so a lost `seqnums` update never makes us reuse a sequence number
//!   of a stored application message.
//! - [`MemStore`]: the same in memory, for tests and for `ringex fix-echo` without a
//!   data directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One stored outbound application message, as handed to a resend.
#[derive(Debug, Clone, Copy)]
pub struct StoredMessage<'a> {
    /// Its MsgSeqNum(34).
    pub seq: u64,
    /// Its original SendingTime(52), unix nanoseconds: becomes OrigSendingTime(122).
    pub sending_time_ns: u64,
    /// MsgType(35) value.
    pub msg_type: &'a [u8],
    /// The body: `tag=value\x01` fields between the standard header and the trailer.
    pub body: &'a [u8],
}

/// What a session needs to persist, so one trait covers disk and memory.
pub trait MessageStore: Send {
    /// MsgSeqNum of the next message we send.
    fn next_sender_seq(&self) -> u64;
    /// MsgSeqNum we expect on the next inbound message.
    fn next_target_seq(&self) -> u64;
    /// Set the next outbound MsgSeqNum.
    fn set_next_sender_seq(&mut self, seq: u64);
    /// Set the next expected inbound MsgSeqNum.
    fn set_next_target_seq(&mut self, seq: u64);
    /// Keep an outbound application message for a later resend.
    fn append(&mut self, msg: StoredMessage<'_>) -> io::Result<()>;
    /// Call `f` for every stored message with `begin <= seq <= end`, in order.
    fn for_each_in_range(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(StoredMessage<'_>),
    ) -> io::Result<()>;
    /// Forget every message and set both sequence numbers to 1.
    fn reset(&mut self) -> io::Result<()>;
    /// Hand buffered writes to the kernel (once per batch).
    fn flush(&mut self) -> io::Result<()>;
}

/// In-memory store: tests and sessions that need no persistence.
#[derive(Debug)]
pub struct MemStore {
    next_sender: u64,
    next_target: u64,
    msgs: Vec<(u64, u64, Vec<u8>, Vec<u8>)>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// An empty store with both sequence numbers at 1.
    pub fn new() -> Self {
        Self {
            next_sender: 1,
            next_target: 1,
            msgs: Vec::new(),
        }
    }
}

impl MessageStore for MemStore {
    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }
    fn next_target_seq(&self) -> u64 {
        self.next_target
    }
    fn set_next_sender_seq(&mut self, seq: u64) {
        self.next_sender = seq;
    }
    fn set_next_target_seq(&mut self, seq: u64) {
        self.next_target = seq;
    }
    fn append(&mut self, m: StoredMessage<'_>) -> io::Result<()> {
        self.msgs.push((
            m.seq,
            m.sending_time_ns,
            m.msg_type.to_vec(),
            m.body.to_vec(),
        ));
        Ok(())
    }
    fn for_each_in_range(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(StoredMessage<'_>),
    ) -> io::Result<()> {
        for (seq, t, ty, body) in &self.msgs {
            if *seq >= begin && *seq <= end {
                f(StoredMessage {
                    seq: *seq,
                    sending_time_ns: *t,
                    msg_type: ty,
                    body,
                });
            }
        }
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        *self = Self::new();
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Record header in the `messages` file: len u32 (of everything after it), seq u64,
/// sending time u64, msg type length u8.
const REC_HEADER: usize = 4 + 8 + 8 + 1;
/// Width of one number in the `seqnums` file.
const SEQ_WIDTH: usize = 20;

/// Disk store for one session (see the module docs for the layout and durability).
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    next_sender: u64,
    next_target: u64,
    seq_file: File,
    seq_dirty: bool,
    msgs: BufWriter<File>,
    /// Reader handle on the same file (positional reads, never moves the writer).
    reader: File,
    /// (seq, offset of the record) for every stored message, in file order.
    index: Vec<(u64, u64)>,
    /// File length including what is still in the write buffer.
    end: u64,
    scratch: Vec<u8>,
}

/// Why a store directory could not be opened.
#[derive(Debug)]
pub struct StoreError {
    /// The file involved.
    pub path: PathBuf,
    /// What went wrong.
    pub error: io::Error,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FIX store {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for StoreError {}

fn at(path: &Path) -> impl Fn(io::Error) -> StoreError + '_ {
    move |error| StoreError {
        path: path.to_path_buf(),
        error,
    }
}

impl FileStore {
    /// Open (creating if needed) the store in `dir`. A torn record at the end of the
    /// messages file (crash mid-write) is cut off.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(at(dir))?;
        let seq_path = dir.join("seqnums");
        let mut seq_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&seq_path)
            .map_err(at(&seq_path))?;
        let mut text = String::new();
        seq_file.read_to_string(&mut text).map_err(at(&seq_path))?;
        let mut nums = text.split_ascii_whitespace().map(str::parse::<u64>);
        let (mut next_sender, next_target) = match (nums.next(), nums.next()) {
            (Some(Ok(s)), Some(Ok(t))) if s >= 1 && t >= 1 => (s, t),
            _ if text.trim().is_empty() => (1, 1),
            _ => {
                return Err(StoreError {
                    path: seq_path,
                    error: io::Error::new(io::ErrorKind::InvalidData, "malformed seqnums file"),
                });
            }
        };

        let msg_path = dir.join("messages");
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&msg_path)
            .map_err(at(&msg_path))?;
        let reader = file.try_clone().map_err(at(&msg_path))?;
        let mut data = Vec::new();
        (&reader).read_to_end(&mut data).map_err(at(&msg_path))?;
        let mut index = Vec::new();
        let mut off = 0usize;
        while data.len() - off >= REC_HEADER {
            let len = u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]])
                as usize;
            if len < REC_HEADER - 4 || data.len() - off - 4 < len {
                break;
            }
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&data[off + 4..off + 12]);
            index.push((u64::from_le_bytes(seq), off as u64));
            off += 4 + len;
        }
        if off < data.len() {
            file.set_len(off as u64).map_err(at(&msg_path))?;
        }
        if let Some((last, _)) = index.last() {
            next_sender = next_sender.max(last + 1);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            next_sender,
            next_target,
            seq_file,
            seq_dirty: false,
            msgs: BufWriter::with_capacity(64 * 1024, file),
            reader,
            index,
            end: off as u64,
            scratch: Vec::new(),
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Give the session in `dir` (created if needed) the sequence numbers a node
    /// derived elsewhere (a promoted secondary, from the replicated stream):
    /// every stored message is forgotten (they belong to another node's history,
    /// so a resend over them is answered with a gap fill) and the two numbers
    /// are written. Call before the gateway opens the store.
    pub fn seed(dir: &Path, next_sender: u64, next_target: u64) -> Result<(), StoreError> {
        let mut s = Self::open(dir)?;
        let path = dir.join("messages");
        s.reset().map_err(at(&path))?;
        s.set_next_sender_seq(next_sender.max(1));
        s.set_next_target_seq(next_target.max(1));
        s.flush().map_err(at(&dir.join("seqnums")))
    }
}

impl MessageStore for FileStore {
    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }
    fn next_target_seq(&self) -> u64 {
        self.next_target
    }
    fn set_next_sender_seq(&mut self, seq: u64) {
        self.next_sender = seq;
        self.seq_dirty = true;
    }
    fn set_next_target_seq(&mut self, seq: u64) {
        self.next_target = seq;
        self.seq_dirty = true;
    }
    fn append(&mut self, m: StoredMessage<'_>) -> io::Result<()> {
        let ty_len = u8::try_from(m.msg_type.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MsgType too long"))?;
        let len = u32::try_from(REC_HEADER - 4 + m.msg_type.len() + m.body.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too long"))?;
        self.msgs.write_all(&len.to_le_bytes())?;
        self.msgs.write_all(&m.seq.to_le_bytes())?;
        self.msgs.write_all(&m.sending_time_ns.to_le_bytes())?;
        self.msgs.write_all(&[ty_len])?;
        self.msgs.write_all(m.msg_type)?;
        self.msgs.write_all(m.body)?;
        self.index.push((m.seq, self.end));
        self.end += 4 + u64::from(len);
        Ok(())
    }
    fn for_each_in_range(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(StoredMessage<'_>),
    ) -> io::Result<()> {
        self.msgs.flush()?;
        let start = self.index.partition_point(|(s, _)| *s < begin);
        for &(seq, off) in &self.index[start..] {
            if seq > end {
                break;
            }
            let mut len = [0u8; 4];
            self.reader.read_exact_at(&mut len, off)?;
            let len = u32::from_le_bytes(len) as usize;
            self.scratch.resize(len, 0);
            self.reader.read_exact_at(&mut self.scratch, off + 4)?;
            let rec = &self.scratch[..];
            let mut t = [0u8; 8];
            t.copy_from_slice(&rec[8..16]);
            let ty_len = rec[16] as usize;
            if REC_HEADER - 4 + ty_len > rec.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt record in FIX message store",
                ));
            }
            f(StoredMessage {
                seq,
                sending_time_ns: u64::from_le_bytes(t),
                msg_type: &rec[17..17 + ty_len],
                body: &rec[17 + ty_len..],
            });
        }
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        self.msgs.flush()?;
        self.msgs.get_ref().set_len(0)?;
        self.index.clear();
        self.end = 0;
        self.next_sender = 1;
        self.next_target = 1;
        self.seq_dirty = true;
        self.flush()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.msgs.flush()?;
        if self.seq_dirty {
            let text = format!(
                "{:>w$} {:>w$}\n",
                self.next_sender,
                self.next_target,
                w = SEQ_WIDTH
            );
            self.seq_file.write_all_at(text.as_bytes(), 0)?;
            self.seq_dirty = false;
        }
        Ok(())
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // Best effort: a failure here has nobody left to report to.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(seq: u64, body: &'a [u8]) -> StoredMessage<'a> {
        StoredMessage {
            seq,
            sending_time_ns: seq * 1000,
            msg_type: b"8",
            body,
        }
    }

    fn collect(s: &mut dyn MessageStore, b: u64, e: u64) -> Vec<(u64, u64, Vec<u8>)> {
        let mut out = Vec::new();
        s.for_each_in_range(b, e, &mut |m| {
            out.push((m.seq, m.sending_time_ns, m.body.to_vec()))
        })
        .unwrap();
        out
    }

    #[test]
    fn file_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(dir.path()).unwrap();
            assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1, 1));
            s.append(msg(1, b"11=a\x01")).unwrap();
            s.append(msg(3, b"11=b\x01")).unwrap();
            s.set_next_sender_seq(4);
            s.set_next_target_seq(7);
            s.flush().unwrap();
        }
        let mut s = FileStore::open(dir.path()).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (4, 7));
        assert_eq!(
            collect(&mut s, 2, 10),
            vec![(3, 3000, b"11=b\x01".to_vec())]
        );
        assert_eq!(collect(&mut s, 1, 3).len(), 2);
        s.reset().unwrap();
        drop(s);
        let mut s = FileStore::open(dir.path()).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1, 1));
        assert!(collect(&mut s, 1, 100).is_empty());
    }

    #[test]
    fn torn_tail_is_cut_and_sender_seq_follows_stored_messages() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(dir.path()).unwrap();
            s.append(msg(5, b"11=a\x01")).unwrap();
            s.append(msg(6, b"11=b\x01")).unwrap();
            // seqnums never flushed: simulates a lost update.
            s.msgs.flush().unwrap();
            s.seq_dirty = false;
        }
        let path = dir.path().join("messages");
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut s = FileStore::open(dir.path()).unwrap();
        assert_eq!(s.next_sender_seq(), 6);
        assert_eq!(collect(&mut s, 1, 100).len(), 1);
        s.append(msg(6, b"11=c\x01")).unwrap();
        assert_eq!(collect(&mut s, 6, 6)[0].2, b"11=c\x01".to_vec());
    }

    #[test]
    fn seed_replaces_numbers_and_forgets_messages() {
        let dir = tempfile::tempdir().unwrap();
        // A store that never existed.
        let fresh = dir.path().join("new");
        FileStore::seed(&fresh, 1040, 17).unwrap();
        let s = FileStore::open(&fresh).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1040, 17));
        // A stale store with messages from another history: numbers replaced,
        // even lower ones, and no stored message survives to be resent.
        let old = dir.path().join("old");
        {
            let mut s = FileStore::open(&old).unwrap();
            s.append(msg(1, b"11=a\x01")).unwrap();
            s.append(msg(2000, b"11=b\x01")).unwrap();
            s.set_next_sender_seq(2001);
            s.set_next_target_seq(900);
            s.flush().unwrap();
        }
        FileStore::seed(&old, 50, 60).unwrap();
        let mut s = FileStore::open(&old).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (50, 60));
        assert!(collect(&mut s, 1, u64::MAX).is_empty());
        // Zero is not a sequence number.
        FileStore::seed(&old, 0, 0).unwrap();
        let s = FileStore::open(&old).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1, 1));
    }

    #[test]
    fn malformed_seqnums_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("seqnums"), "garbage").unwrap();
        let err = FileStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("malformed"));
    }

    #[test]
    fn mem_store_ranges() {
        let mut s = MemStore::new();
        s.append(msg(1, b"a")).unwrap();
        s.append(msg(2, b"b")).unwrap();
        assert_eq!(collect(&mut s, 2, 0u64.wrapping_sub(1)).len(), 1);
        s.reset().unwrap();
        assert!(collect(&mut s, 1, 10).is_empty());
    }
}
