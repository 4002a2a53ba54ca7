//! The datagram format: a fixed 32-byte header, then (for `Data`) `count` records
//! each framed as `len u16 LE` + bytes. All integers little-endian.
//!
//! ```text
//! off size field
//!   0   4  magic   "RPLX" (0x584C5052 LE)
//!   4   1  version 1
//!   5   1  kind    1=Data 2=Ack 3=Nak 4=Heartbeat 5=Checkpoint
//!   6   2  reserved, 0
//!   8   8  epoch   session id of the primary's run
//!  16   8  seq     Data: first record's seq; Ack: next expected (all below received);
//!                  Nak: first missing seq; Heartbeat: sender's next seq;
//!                  Checkpoint: the sequence the state digest was taken at
//!  24   4  count   Data: records in the datagram; Nak: seqs requested; else 0
//!  28   4  crc     CRC32C of bytes 0..28 followed by 32..end
//! ```
//!
//! A `Checkpoint` datagram (primary → secondary) carries an 8-byte body: an
//! opaque `u64` digest of the sender's state after applying record `seq` (the
//! node sends its business-logic state hash; this crate never interprets it).

/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// Magic number at offset 0 ("RPLX").
pub const MAGIC: u32 = u32::from_le_bytes(*b"RPLX");
/// Protocol version carried at offset 4.
pub const VERSION: u8 = 1;
/// Per-record framing overhead inside a data datagram.
pub const RECORD_OVERHEAD: usize = 2;
/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Datagram kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Primary -> secondary: a contiguous run of records.
    Data = 1,
    /// Secondary -> primary: cumulative acknowledgement (`seq` = next expected).
    Ack = 2,
    /// Secondary -> primary: please resend `[seq, seq + count)`.
    Nak = 3,
    /// Either way: liveness, carrying the sender's position.
    Heartbeat = 4,
    /// Primary -> secondary: an opaque state digest taken after record `seq`
    /// (8-byte body), for the secondary to compare with its own.
    Checkpoint = 5,
}

/// Length of a `Checkpoint` datagram (header + 8-byte digest).
pub const CHECKPOINT_LEN: usize = HEADER_LEN + 8;

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Data,
            2 => Kind::Ack,
            3 => Kind::Nak,
            4 => Kind::Heartbeat,
            5 => Kind::Checkpoint,
            _ => return None,
        })
    }
}

/// A decoded, validated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Datagram kind.
    pub kind: Kind,
    /// Epoch (session id) of the primary's run.
    pub epoch: u64,
    /// Sequence field (meaning depends on kind).
    pub seq: u64,
    /// Count field (meaning depends on kind).
    pub count: u32,
}

/// Why a datagram was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than a header, or records run past the end.
    Truncated,
    /// Wrong magic, version or kind: not ours.
    Garbage,
    /// Checksum mismatch.
    BadCrc,
    /// Record framing does not add up to the datagram length or count.
    Malformed,
}

fn crc_of(buf: &[u8]) -> u32 {
    let c = crc32c::crc32c(&buf[..28]);
    crc32c::crc32c_append(c, &buf[HEADER_LEN..])
}

/// Writes a header into `buf[..32]` (crc left zero; see [`seal`]).
fn put_header(buf: &mut [u8], h: &Header) {
    buf[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    buf[4] = VERSION;
    buf[5] = h.kind as u8;
    buf[6..8].copy_from_slice(&[0, 0]);
    buf[8..16].copy_from_slice(&h.epoch.to_le_bytes());
    buf[16..24].copy_from_slice(&h.seq.to_le_bytes());
    buf[24..28].copy_from_slice(&h.count.to_le_bytes());
    buf[28..32].copy_from_slice(&[0, 0, 0, 0]);
}

/// Computes and stores the CRC of a complete datagram.
fn seal(buf: &mut [u8]) {
    let c = crc_of(buf);
    buf[28..32].copy_from_slice(&c.to_le_bytes());
}

/// Encodes a header-only datagram (Ack, Nak, Heartbeat) into `out`.
pub fn encode_control(out: &mut [u8; HEADER_LEN], kind: Kind, epoch: u64, seq: u64, count: u32) {
    put_header(
        out,
        &Header {
            kind,
            epoch,
            seq,
            count,
        },
    );
    seal(out);
}

/// Encodes a `Checkpoint` datagram: digest `digest` of the state after record `seq`.
pub fn encode_checkpoint(out: &mut [u8; CHECKPOINT_LEN], epoch: u64, seq: u64, digest: u64) {
    put_header(
        out,
        &Header {
            kind: Kind::Checkpoint,
            epoch,
            seq,
            count: 0,
        },
    );
    out[HEADER_LEN..].copy_from_slice(&digest.to_le_bytes());
    seal(out);
}

/// The digest of a `Checkpoint` datagram already accepted by [`decode`].
pub fn checkpoint_digest(buf: &[u8]) -> Option<u64> {
    let b: [u8; 8] = buf.get(HEADER_LEN..CHECKPOINT_LEN)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Decodes and validates a datagram's header and checksum; for `Data`, also
/// checks that the record framing is exact.
pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    let magic = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if magic != MAGIC || buf[4] != VERSION {
        return Err(DecodeError::Garbage);
    }
    let kind = Kind::from_u8(buf[5]).ok_or(DecodeError::Garbage)?;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let u32_at = |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    if crc_of(buf) != u32_at(28) {
        return Err(DecodeError::BadCrc);
    }
    let h = Header {
        kind,
        epoch: u64_at(8),
        seq: u64_at(16),
        count: u32_at(24),
    };
    match kind {
        Kind::Data => {
            let mut n = 0u32;
            for r in Records::new(&buf[HEADER_LEN..]) {
                r?;
                n += 1;
            }
            if n != h.count || n == 0 {
                return Err(DecodeError::Malformed);
            }
        }
        Kind::Checkpoint => {
            if buf.len() != CHECKPOINT_LEN || h.count != 0 {
                return Err(DecodeError::Malformed);
            }
        }
        _ => {
            if buf.len() != HEADER_LEN {
                return Err(DecodeError::Malformed);
            }
        }
    }
    Ok(h)
}

/// Iterator over the records of a data datagram body (bytes after the header).
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Records<'a> {
    /// Iterates the records framed in `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Records { rest: body }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < RECORD_OVERHEAD {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated));
        }
        let len = u16::from_le_bytes([self.rest[0], self.rest[1]]) as usize;
        let end = RECORD_OVERHEAD + len;
        if self.rest.len() < end {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated));
        }
        let rec = &self.rest[RECORD_OVERHEAD..end];
        self.rest = &self.rest[end..];
        Some(Ok(rec))
    }
}

/// Builds one data datagram in a reusable buffer (no allocation after creation).
pub struct DataBuilder {
    buf: Vec<u8>,
    max: usize,
    first: u64,
    count: u32,
}

impl DataBuilder {
    /// A builder for datagrams of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        DataBuilder {
            buf: Vec::with_capacity(max),
            max,
            first: 0,
            count: 0,
        }
    }

    /// Number of records in the datagram being built.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Seq of the first record (meaningful when `count() > 0`).
    pub fn first(&self) -> u64 {
        self.first
    }

    /// Seq one past the last record.
    pub fn end(&self) -> u64 {
        self.first + u64::from(self.count)
    }

    /// Whether a record of `len` bytes would still fit.
    pub fn fits(&self, len: usize) -> bool {
        let used = if self.count == 0 {
            HEADER_LEN
        } else {
            self.buf.len()
        };
        used + RECORD_OVERHEAD + len <= self.max
    }

    /// Appends record `seq`; the caller checked [`fits`](Self::fits) and contiguity.
    pub fn push(&mut self, seq: u64, rec: &[u8]) {
        if self.count == 0 {
            self.buf.clear();
            self.buf.resize(HEADER_LEN, 0);
            self.first = seq;
        }
        debug_assert_eq!(seq, self.end());
        // Length fits in u16: callers reject records longer than the datagram.
        self.buf
            .extend_from_slice(&(rec.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(rec);
        self.count += 1;
    }

    /// Seals the datagram for `epoch` and returns its bytes; the builder is then
    /// empty for the next datagram (the returned slice stays valid until the next push).
    pub fn finish(&mut self, epoch: u64) -> &[u8] {
        let h = Header {
            kind: Kind::Data,
            epoch,
            seq: self.first,
            count: self.count,
        };
        put_header(&mut self.buf, &h);
        seal(&mut self.buf);
        self.count = 0;
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trip_and_corruption() {
        let mut b = DataBuilder::new(200);
        assert!(b.fits(100));
        b.push(7, b"hello");
        b.push(8, b"");
        b.push(9, b"world!");
        let d = b.finish(42).to_vec();
        let h = decode(&d).unwrap();
        assert_eq!((h.kind, h.epoch, h.seq, h.count), (Kind::Data, 42, 7, 3));
        let recs: Vec<&[u8]> = Records::new(&d[HEADER_LEN..]).map(|r| r.unwrap()).collect();
        assert_eq!(recs, vec![&b"hello"[..], b"", b"world!"]);
        for i in 0..d.len() {
            let mut c = d.clone();
            c[i] ^= 0x40;
            assert!(decode(&c).is_err(), "flip at {i} accepted");
        }
        for n in 0..d.len() {
            assert!(decode(&d[..n]).is_err(), "truncation to {n} accepted");
        }
    }

    #[test]
    fn control_round_trip() {
        let mut out = [0u8; HEADER_LEN];
        encode_control(&mut out, Kind::Nak, 3, 100, 5);
        let h = decode(&out).unwrap();
        assert_eq!((h.kind, h.epoch, h.seq, h.count), (Kind::Nak, 3, 100, 5));
        assert_eq!(
            decode(b"garbage garbage garbage garbage!"),
            Err(DecodeError::Garbage)
        );
    }

    #[test]
    fn checkpoint_round_trip_and_corruption() {
        let mut out = [0u8; CHECKPOINT_LEN];
        encode_checkpoint(&mut out, 9, 1000, 0xdead_beef_0123_4567);
        let h = decode(&out).unwrap();
        assert_eq!(
            (h.kind, h.epoch, h.seq, h.count),
            (Kind::Checkpoint, 9, 1000, 0)
        );
        assert_eq!(checkpoint_digest(&out), Some(0xdead_beef_0123_4567));
        for i in 0..out.len() {
            let mut c = out;
            c[i] ^= 0x08;
            assert!(decode(&c).is_err(), "flip at {i} accepted");
        }
        for n in 0..out.len() {
            assert!(decode(&out[..n]).is_err(), "truncation to {n} accepted");
        }
    }

    #[test]
    fn fits_respects_max() {
        let mut b = DataBuilder::new(HEADER_LEN + 2 + 10);
        assert!(b.fits(10));
        assert!(!b.fits(11));
        b.push(0, &[0u8; 10]);
        assert!(!b.fits(0));
    }
}
