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
//!
//! # Delivery mark
//! A store also remembers the highest engine event sequence (the business logic's
//! output sequence, [`StoredMessage::event_seq`]) whose message it holds, or that
//! the node declared delivered ([`MessageStore::raise_delivered`]): "every event
//! up to here addressed to this session is in this store". After `kill -9` the
//! node replays its journal from a snapshot at or below the lowest mark and hands
//! each session exactly the events above its mark. The mark is as durable as the
//! messages themselves: each message record carries its own event sequence (so a
//! record and its mark are written by the same `write`), and `delivered`
//! (fixed-width text, rewritten in place) keeps the mark across a sequence reset
//! and for sessions that were sent nothing; it is written after the messages it
//! covers reach the kernel, so it is never ahead of them.

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
    /// The engine event this message reports (its output sequence), 0 for a
    /// message the gateway made itself: raises the store's delivery mark.
    pub event_seq: u64,
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
    /// The delivery mark (see the module docs): the highest engine event sequence
    /// stored or declared delivered; `None` if this store never had one.
    fn delivered(&self) -> Option<u64>;
    /// Declare every engine event up to `event_seq` for this session delivered
    /// (the node's sender has handed them all over); never lowers the mark.
    fn raise_delivered(&mut self, event_seq: u64);
}

/// One message in a [`MemStore`]: (seq, sending time, type, body, event seq).
type MemRecord = (u64, u64, Vec<u8>, Vec<u8>, u64);

/// In-memory store: tests and sessions that need no persistence.
#[derive(Debug)]
pub struct MemStore {
    next_sender: u64,
    next_target: u64,
    msgs: Vec<MemRecord>,
    delivered: Option<u64>,
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
            delivered: None,
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
            m.event_seq,
        ));
        if m.event_seq > 0 {
            self.raise_delivered(m.event_seq);
        }
        Ok(())
    }
    fn for_each_in_range(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(StoredMessage<'_>),
    ) -> io::Result<()> {
        for (seq, t, ty, body, ev) in &self.msgs {
            if *seq >= begin && *seq <= end {
                f(StoredMessage {
                    seq: *seq,
                    sending_time_ns: *t,
                    msg_type: ty,
                    body,
                    event_seq: *ev,
                });
            }
        }
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        let delivered = self.delivered;
        *self = Self::new();
        self.delivered = delivered;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn delivered(&self) -> Option<u64> {
        self.delivered
    }
    fn raise_delivered(&mut self, event_seq: u64) {
        if self.delivered.is_none_or(|d| d < event_seq) {
            self.delivered = Some(event_seq);
        }
    }
}

/// Record header in the `messages` file: len u32 (of everything after it), seq u64,
/// sending time u64, msg type length u8. When the type length byte has
/// [`HAS_EVENT_SEQ`] set, the engine event sequence (u64) follows it, before the
/// type (records of older stores have it clear).
const REC_HEADER: usize = 4 + 8 + 8 + 1;
/// Flag in a record's type-length byte: an event sequence follows.
const HAS_EVENT_SEQ: u8 = 0x80;
/// Width of the number in the `delivered` file.
const MARK_WIDTH: usize = 20;
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
    /// The delivery mark and its file (see the module docs).
    delivered: Option<u64>,
    mark_file: File,
    mark_dirty: bool,
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

        let mark_path = dir.join("delivered");
        let mut mark_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&mark_path)
            .map_err(at(&mark_path))?;
        let mut text = String::new();
        mark_file
            .read_to_string(&mut text)
            .map_err(at(&mark_path))?;
        let mut delivered = match text.trim() {
            "" => None,
            t => Some(t.parse::<u64>().map_err(|_| StoreError {
                path: mark_path.clone(),
                error: io::Error::new(io::ErrorKind::InvalidData, "malformed delivered file"),
            })?),
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
            let ty = data[off + 20];
            if ty & HAS_EVENT_SEQ != 0 {
                if len < REC_HEADER - 4 + 8 {
                    break;
                }
                let mut ev = [0u8; 8];
                ev.copy_from_slice(&data[off + 21..off + 29]);
                let ev = u64::from_le_bytes(ev);
                delivered = Some(delivered.map_or(ev, |d| d.max(ev)));
            }
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
            delivered,
            mark_file,
            mark_dirty: false,
        })
    }

    /// Rewrites the `delivered` file if the mark moved.
    fn write_mark(&mut self) -> io::Result<()> {
        if let (true, Some(d)) = (self.mark_dirty, self.delivered) {
            let mut text = [b' '; MARK_WIDTH + 1];
            let mut tmp = [0u8; 20];
            let digits = super::codec::fmt_u64(d, &mut tmp);
            text[MARK_WIDTH - digits.len()..MARK_WIDTH].copy_from_slice(digits);
            text[MARK_WIDTH] = b'\n';
            self.mark_file.write_all_at(&text, 0)?;
            self.mark_dirty = false;
        }
        Ok(())
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Give the session in `dir` (created if needed) the sequence numbers a node
    /// derived elsewhere (a promoted secondary, from the replicated stream):
    /// every stored message is forgotten (they belong to another node's history,
    /// so a resend over them is answered with a gap fill) and the two numbers
    /// are written; the delivery mark is raised to `delivered` (the events up to
    /// there were the old primary's to send). Call before the gateway opens the
    /// store.
    pub fn seed(
        dir: &Path,
        next_sender: u64,
        next_target: u64,
        delivered: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut s = Self::open(dir)?;
        let path = dir.join("messages");
        s.reset().map_err(at(&path))?;
        s.set_next_sender_seq(next_sender.max(1));
        s.set_next_target_seq(next_target.max(1));
        if let Some(d) = delivered {
            s.raise_delivered(d);
        }
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
        if ty_len & HAS_EVENT_SEQ != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "MsgType too long",
            ));
        }
        let ev_len = if m.event_seq > 0 { 8 } else { 0 };
        let len = u32::try_from(REC_HEADER - 4 + ev_len + m.msg_type.len() + m.body.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too long"))?;
        self.msgs.write_all(&len.to_le_bytes())?;
        self.msgs.write_all(&m.seq.to_le_bytes())?;
        self.msgs.write_all(&m.sending_time_ns.to_le_bytes())?;
        if m.event_seq > 0 {
            self.msgs.write_all(&[ty_len | HAS_EVENT_SEQ])?;
            self.msgs.write_all(&m.event_seq.to_le_bytes())?;
            // The record itself carries the mark: no need to rewrite the file.
            if self.delivered.is_none_or(|d| d < m.event_seq) {
                self.delivered = Some(m.event_seq);
            }
        } else {
            self.msgs.write_all(&[ty_len])?;
        }
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
            let flags = rec[16];
            let ty_len = usize::from(flags & !HAS_EVENT_SEQ);
            let ty_at = if flags & HAS_EVENT_SEQ != 0 { 25 } else { 17 };
            if ty_at + ty_len > rec.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt record in FIX message store",
                ));
            }
            let mut ev = [0u8; 8];
            if ty_at == 25 {
                ev.copy_from_slice(&rec[17..25]);
            }
            f(StoredMessage {
                seq,
                sending_time_ns: u64::from_le_bytes(t),
                msg_type: &rec[ty_at..ty_at + ty_len],
                body: &rec[ty_at + ty_len..],
                event_seq: u64::from_le_bytes(ev),
            });
        }
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        self.msgs.flush()?;
        // The records about to go carry the delivery mark: keep it in its file
        // first.
        self.mark_dirty = self.delivered.is_some();
        self.write_mark()?;
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
            // "<sender> <target>\n", each right-aligned in SEQ_WIDTH, formatted
            // on the stack (this runs once per poll iteration).
            let mut text = [b' '; 2 * SEQ_WIDTH + 2];
            let mut tmp = [0u8; 20];
            let d = super::codec::fmt_u64(self.next_sender, &mut tmp);
            text[SEQ_WIDTH - d.len()..SEQ_WIDTH].copy_from_slice(d);
            let d = super::codec::fmt_u64(self.next_target, &mut tmp);
            text[2 * SEQ_WIDTH + 1 - d.len()..2 * SEQ_WIDTH + 1].copy_from_slice(d);
            text[2 * SEQ_WIDTH + 1] = b'\n';
            self.seq_file.write_all_at(&text, 0)?;
            self.seq_dirty = false;
        }
        // After the messages: the file never claims more than they hold.
        self.write_mark()
    }
    fn delivered(&self) -> Option<u64> {
        self.delivered
    }
    fn raise_delivered(&mut self, event_seq: u64) {
        if self.delivered.is_none_or(|d| d < event_seq) {
            self.delivered = Some(event_seq);
            self.mark_dirty = true;
        }
    }
}

/// The delivery mark of the store in `dir` (see the module docs), read without
/// changing anything; `None` when the store does not exist or never had one.
/// The node reads it before recovery, before the gateway opens the stores.
pub fn read_delivered(dir: &Path) -> Result<Option<u64>, StoreError> {
    if !dir.join("messages").exists() && !dir.join("delivered").exists() {
        return Ok(None);
    }
    // Opening repairs a torn tail, which the gateway would do next anyway.
    let s = FileStore::open(dir)?;
    Ok(s.delivered)
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
            event_seq: 0,
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
        FileStore::seed(&fresh, 1040, 17, None).unwrap();
        let s = FileStore::open(&fresh).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1040, 17));
        assert_eq!(s.delivered(), None);
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
        FileStore::seed(&old, 50, 60, Some(300)).unwrap();
        let mut s = FileStore::open(&old).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (50, 60));
        assert!(collect(&mut s, 1, u64::MAX).is_empty());
        assert_eq!(s.delivered(), Some(300));
        drop(s);
        assert_eq!(read_delivered(&old).unwrap(), Some(300));
        // Zero is not a sequence number.
        FileStore::seed(&old, 0, 0, None).unwrap();
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

    #[test]
    fn delivery_mark_survives_reopen_reset_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_delivered(dir.path()).unwrap(), None);
        {
            let mut s = FileStore::open(dir.path()).unwrap();
            assert_eq!(s.delivered(), None);
            s.append(StoredMessage {
                event_seq: 7,
                ..msg(1, b"11=a\x01")
            })
            .unwrap();
            // A gateway-made message does not move the mark.
            s.append(msg(2, b"11=b\x01")).unwrap();
            assert_eq!(s.delivered(), Some(7));
            s.flush().unwrap();
        }
        // The record carries the mark (the `delivered` file was never written).
        assert_eq!(read_delivered(dir.path()).unwrap(), Some(7));
        let mut s = FileStore::open(dir.path()).unwrap();
        let got: Vec<_> = {
            let mut v = Vec::new();
            s.for_each_in_range(1, 10, &mut |m| {
                v.push((m.seq, m.event_seq, m.msg_type.to_vec(), m.body.to_vec()))
            })
            .unwrap();
            v
        };
        assert_eq!(
            got,
            vec![
                (1, 7, b"8".to_vec(), b"11=a\x01".to_vec()),
                (2, 0, b"8".to_vec(), b"11=b\x01".to_vec())
            ]
        );
        s.raise_delivered(5);
        assert_eq!(s.delivered(), Some(7), "never lowered");
        s.raise_delivered(9);
        s.flush().unwrap();
        drop(s);
        assert_eq!(read_delivered(dir.path()).unwrap(), Some(9));
        // A sequence reset empties the messages but keeps the mark.
        let mut s = FileStore::open(dir.path()).unwrap();
        s.append(StoredMessage {
            event_seq: 11,
            ..msg(3, b"11=c\x01")
        })
        .unwrap();
        s.reset().unwrap();
        drop(s);
        assert_eq!(read_delivered(dir.path()).unwrap(), Some(11));
        // A torn record does not count.
        let mut s = FileStore::open(dir.path()).unwrap();
        s.append(StoredMessage {
            event_seq: 20,
            ..msg(1, b"11=d\x01")
        })
        .unwrap();
        s.flush().unwrap();
        drop(s);
        let path = dir.path().join("messages");
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        assert_eq!(read_delivered(dir.path()).unwrap(), Some(11));
    }

    #[test]
    fn mem_store_mark() {
        let mut s = MemStore::new();
        s.append(StoredMessage {
            event_seq: 4,
            ..msg(1, b"a")
        })
        .unwrap();
        s.reset().unwrap();
        assert_eq!(s.delivered(), Some(4));
    }
}
