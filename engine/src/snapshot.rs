//! Canonical state encoding: one walk over the state feeds both the state hash and
//! the snapshot bytes, so the two can never disagree about what "the state" is.
//!
//! - [`Sink`] receives the canonical byte stream. `Vec<u8>` is a sink (snapshot
//!   bytes) and so is [`Fnv1a64`] (state hash), so hashing needs no allocation.
//! - [`Reader`] decodes snapshot bytes with typed errors, never panicking on
//!   truncated or corrupt input.
//!
//! Every integer is written little-endian with its full width, so the encoding (and
//! therefore the hash) is the same on every platform.

use core::fmt;

/// The state hash: FNV-1a, 64-bit, with the standard offset basis
/// `0xcbf29ce484222325` and prime `0x100000001b3`. Fixed and seedless on purpose:
/// two nodes (or a node and its restored self) must agree byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a64(u64);

impl Fnv1a64 {
    /// FNV-1a 64-bit offset basis.
    pub const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    /// FNV-1a 64-bit prime.
    pub const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A hasher at the offset basis.
    pub const fn new() -> Self {
        Fnv1a64(Self::OFFSET_BASIS)
    }

    /// The hash of everything written so far.
    pub const fn value(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self::new()
    }
}

impl core::hash::Hasher for Fnv1a64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(Self::PRIME);
        }
        self.0 = h;
    }

    // The default integer methods use native endianness; pin them to
    // little-endian so the hash is platform-independent.
    fn write_u16(&mut self, i: u16) {
        self.write(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.write(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.write(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.write(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.write(&(i as u64).to_le_bytes());
    }
    fn write_i64(&mut self, i: i64) {
        self.write(&i.to_le_bytes());
    }
}

/// Receiver of the canonical byte stream of some state.
pub trait Sink {
    /// Appends raw bytes.
    fn put(&mut self, bytes: &[u8]);

    /// Appends one byte.
    fn put_u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    /// Appends a bool as one byte (0 or 1).
    fn put_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }
    /// Appends a little-endian u16.
    fn put_u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    /// Appends a little-endian u32.
    fn put_u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    /// Appends a little-endian u64.
    fn put_u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    /// Appends a little-endian i64.
    fn put_i64(&mut self, v: i64) {
        self.put(&v.to_le_bytes());
    }
    /// Appends a little-endian u128.
    fn put_u128(&mut self, v: u128) {
        self.put(&v.to_le_bytes());
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Fnv1a64 {
    fn put(&mut self, bytes: &[u8]) {
        core::hash::Hasher::write(self, bytes);
    }
}

/// Why snapshot bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes ended early.
    Truncated {
        /// Offset at which more bytes were needed.
        at: usize,
    },
    /// The snapshot does not start with the expected magic number.
    BadMagic {
        /// What was found.
        found: u32,
    },
    /// The snapshot format version is not one this build reads.
    BadVersion {
        /// What was found.
        found: u32,
    },
    /// A field holds a value that cannot occur in a valid state.
    Invalid {
        /// Which field, and why.
        what: &'static str,
    },
    /// Bytes were left over after the whole state was read.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Truncated { at } => write!(f, "snapshot truncated at byte {at}"),
            SnapshotError::BadMagic { found } => {
                write!(f, "snapshot magic {found:#x} not recognised")
            }
            SnapshotError::BadVersion { found } => {
                write!(f, "snapshot version {found} not supported")
            }
            SnapshotError::Invalid { what } => write!(f, "invalid snapshot: {what}"),
            SnapshotError::TrailingBytes { count } => {
                write!(f, "snapshot has {count} trailing bytes")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

/// Cursor over snapshot bytes: every read is bounds-checked and returns
/// [`SnapshotError::Truncated`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Errors unless every byte was consumed.
    pub fn finish(&self) -> Result<(), SnapshotError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(SnapshotError::TrailingBytes { count }),
        }
    }

    /// Takes the next `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.remaining() < n {
            return Err(SnapshotError::Truncated { at: self.pos });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }
    /// Reads a bool written by [`Sink::put_bool`]; any other byte is invalid.
    pub fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid { what: "bool byte" }),
        }
    }
    /// Reads a little-endian u16.
    pub fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian i64.
    pub fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian u128.
    pub fn u128(&mut self) -> Result<u128, SnapshotError> {
        Ok(u128::from_le_bytes(self.array()?))
    }
    /// Reads a u64 element count and checks it against the bytes left, assuming
    /// each element needs at least `min_elem_bytes`: a corrupt count cannot make
    /// the caller reserve absurd amounts of memory.
    pub fn count(&mut self, min_elem_bytes: usize) -> Result<usize, SnapshotError> {
        let at = self.pos;
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| SnapshotError::Truncated { at })?;
        if n.saturating_mul(min_elem_bytes.max(1)) > self.remaining() {
            return Err(SnapshotError::Truncated { at });
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hasher;

    #[test]
    fn fnv1a_matches_published_vectors() {
        // Reference values of FNV-1a 64 for "" and "a" and "foobar".
        assert_eq!(Fnv1a64::new().finish(), 0xcbf29ce484222325);
        let mut h = Fnv1a64::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
        let mut h = Fnv1a64::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x85944171f73967e8);
    }

    #[test]
    fn sink_and_reader_round_trip() {
        let mut v = Vec::new();
        v.put_u8(7);
        v.put_bool(true);
        v.put_u16(0xBEEF);
        v.put_u32(0xDEAD_BEEF);
        v.put_u64(u64::MAX - 1);
        v.put_i64(-42);
        v.put_u128(u128::MAX / 3);
        let mut r = Reader::new(&v);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.u16(), Ok(0xBEEF));
        assert_eq!(r.u32(), Ok(0xDEAD_BEEF));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.i64(), Ok(-42));
        assert_eq!(r.u128(), Ok(u128::MAX / 3));
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(r.u8(), Err(SnapshotError::Truncated { at: v.len() }));
    }

    #[test]
    fn hashing_through_sink_equals_hashing_the_bytes() {
        let mut v = Vec::new();
        let mut h = Fnv1a64::new();
        for x in [1u64, 99, u64::MAX] {
            v.put_u64(x);
            h.put_u64(x);
        }
        let mut h2 = Fnv1a64::new();
        h2.write(&v);
        assert_eq!(h.finish(), h2.finish());
    }

    #[test]
    fn absurd_counts_and_bad_bools_are_errors() {
        let mut v = Vec::new();
        v.put_u64(u64::MAX);
        assert!(matches!(
            Reader::new(&v).count(1),
            Err(SnapshotError::Truncated { .. })
        ));
        assert_eq!(
            Reader::new(&[2]).bool(),
            Err(SnapshotError::Invalid { what: "bool byte" })
        );
    }
}
