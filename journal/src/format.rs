//! On-disk layout: segment header, record framing, file names. All integers are
//! little-endian. See ARCHITECTURE.md ("journal") for the byte diagrams.
//!
//! Segment file = 32-byte header, then records back to back, then zero bytes up to
//! the pre-allocated size.
//!
//! Header: `magic[8] = "RGXJSEG1" | first_seq u64 | reserved [u8; 12] (zero) |
//! crc32c(bytes 0..28) u32`.
//!
//! Record: `total_len u32 | crc32c u32 | seq u64 | payload`, where `total_len` is
//! 16 + payload length (so a valid record never has a zero length word) and the CRC
//! covers the length word, the sequence and the payload. A zero length word where a
//! record would start means "end of data": the rest of the segment is unused,
//! pre-allocated zero space.

/// Segment header length in bytes.
pub const HEADER_LEN: usize = 32;
/// Record frame overhead (length + CRC + sequence) in bytes.
pub const RECORD_OVERHEAD: usize = 16;
/// Largest record (frame included) the format accepts: bounds what a damaged
/// length word can make a reader believe.
pub const MAX_RECORD_LEN: usize = 64 << 20;
/// Segment magic (format version 1).
pub const MAGIC: &[u8; 8] = b"RGXJSEG1";
/// Names of the pre-allocated next segments. The background thread keeps two
/// ready, one under each name; the writer rolls onto them alternately, and each
/// keeps its spare name until the thread renames it to its first sequence
/// (after the roll, off the hot path).
pub const SPARE_NAMES: [&str; 2] = ["next.spare", "next2.spare"];
/// The first spare name (see [`SPARE_NAMES`]).
pub const SPARE_NAME: &str = SPARE_NAMES[0];
/// Lock file that keeps two writers off one directory.
pub const LOCK_NAME: &str = "journal.lock";
/// Sub-directory for snapshots.
pub const SNAPSHOT_DIR: &str = "snapshots";
/// Sub-directory retention moves segments to when archiving.
pub const ARCHIVE_DIR: &str = "archive";
/// Sub-directory `repair` moves unreachable segments to.
pub const QUARANTINE_DIR: &str = "quarantine";

/// File name of the segment whose first record has sequence `first_seq`
/// (zero-padded to 20 digits so names sort like numbers).
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// The first sequence encoded in a segment file name, if the name is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes a segment header for `first_seq` into `out[..HEADER_LEN]`.
pub fn encode_header(out: &mut [u8], first_seq: u64) {
    out[..HEADER_LEN].fill(0);
    out[0..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&out[0..28]);
    out[28..32].copy_from_slice(&crc.to_le_bytes());
}

/// What a segment header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// All zero: a pre-allocated file never written.
    Blank,
    /// A valid header.
    Valid {
        /// Sequence of the segment's first record.
        first_seq: u64,
    },
    /// Neither: damaged.
    Invalid(&'static str),
}

/// Decodes a segment header from the first bytes of a file.
pub fn decode_header(buf: &[u8]) -> Header {
    if buf.len() < HEADER_LEN {
        return if buf.iter().all(|&b| b == 0) {
            Header::Blank
        } else {
            Header::Invalid("file shorter than the segment header")
        };
    }
    let h = &buf[..HEADER_LEN];
    if h.iter().all(|&b| b == 0) {
        return Header::Blank;
    }
    if &h[0..8] != MAGIC {
        return Header::Invalid("bad segment magic");
    }
    let stored = u32::from_le_bytes([h[28], h[29], h[30], h[31]]);
    if crc32c::crc32c(&h[0..28]) != stored {
        return Header::Invalid("segment header CRC mismatch");
    }
    Header::Valid {
        first_seq: u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8])),
    }
}

/// Appends one framed record to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let start = out.len();
    encode_record_unsealed(out, seq, payload);
    seal_records(&mut out[start..]);
}

/// Appends one framed record to `out` with a zero CRC field, to be filled in by
/// [`seal_records`] for the whole batch at once (faster than one by one).
pub fn encode_record_unsealed(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let total = (RECORD_OVERHEAD + payload.len()) as u32;
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Computes and stores the CRC of every frame in `buf` (frames back to back, as
/// [`encode_record_unsealed`] appends them), several at a time.
pub fn seal_records(buf: &mut [u8]) {
    crate::crc::seal(buf);
}

/// Result of decoding the bytes at a record boundary.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A valid record of `len` bytes (frame included).
    Record {
        /// Total frame length.
        len: usize,
        /// Its sequence.
        seq: u64,
        /// Its payload.
        payload: &'a [u8],
    },
    /// A zero length word (or too few bytes left to hold one): end of data.
    End,
    /// Not a valid record.
    Invalid(&'static str),
}

/// Decodes the record starting at `buf[0]`. `buf` runs to the end of the
/// available bytes (the segment's end, or the end of what a reader has read).
pub fn parse_record(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < 4 {
        return if buf.iter().all(|&b| b == 0) {
            Parsed::End
        } else {
            Parsed::Invalid("partial length word")
        };
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total == 0 {
        return Parsed::End;
    }
    if total < RECORD_OVERHEAD {
        return Parsed::Invalid("record length below the frame size");
    }
    if total > MAX_RECORD_LEN {
        return Parsed::Invalid("record length above the format maximum");
    }
    if total > buf.len() {
        return Parsed::Invalid("record runs past the end of the data");
    }
    let stored = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[0..4]), &buf[8..total]);
    if crc != stored {
        return Parsed::Invalid("record CRC mismatch");
    }
    let seq = u64::from_le_bytes(buf[8..16].try_into().unwrap_or([0; 8]));
    Parsed::Record {
        len: total,
        seq,
        payload: &buf[RECORD_OVERHEAD..total],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip_and_every_single_bit_flip_is_caught() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 42, b"hello journal");
        match parse_record(&buf) {
            Parsed::Record { len, seq, payload } => {
                assert_eq!(len, buf.len());
                assert_eq!(seq, 42);
                assert_eq!(payload, b"hello journal");
            }
            other => panic!("expected a record, got {other:?}"),
        }
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !matches!(parse_record(&b), Parsed::Record { seq: 42, .. }) || b == buf,
                "bit {bit} flip went undetected"
            );
        }
    }

    #[test]
    fn zero_word_is_end_and_short_garbage_is_invalid() {
        assert_eq!(parse_record(&[0u8; 64]), Parsed::End);
        assert_eq!(parse_record(&[0u8; 2]), Parsed::End);
        assert!(matches!(parse_record(&[1u8, 0]), Parsed::Invalid(_)));
        assert!(matches!(
            parse_record(&[5, 0, 0, 0, 9, 9]),
            Parsed::Invalid(_)
        ));
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, &[7; 100]);
        assert!(matches!(parse_record(&buf[..50]), Parsed::Invalid(_)));
    }

    #[test]
    fn header_roundtrip_blank_and_damage() {
        let mut h = [0u8; HEADER_LEN];
        assert_eq!(decode_header(&h), Header::Blank);
        encode_header(&mut h, 123);
        assert_eq!(decode_header(&h), Header::Valid { first_seq: 123 });
        h[9] ^= 4;
        assert!(matches!(decode_header(&h), Header::Invalid(_)));
        assert!(matches!(decode_header(b"RGX"), Header::Invalid(_)));
    }

    #[test]
    fn segment_names_sort_and_parse() {
        assert_eq!(segment_name(7), "00000000000000000007.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("7.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000000x.seg"), None);
        assert!(segment_name(9) < segment_name(10));
    }
}
