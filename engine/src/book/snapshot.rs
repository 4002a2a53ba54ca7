//! Canonical state: the hash and the snapshot share one walk of the book in
//! canonical order (bids best level first, FIFO within a level; asks likewise;
//! pending buy stops then sell stops in trigger order), so arena slots, map
//! layout and capacity never influence either.
//!
//! Snapshot format (little-endian), version 1:
//! `"RXBK"`, `u16` version, `u32` instrument, `u8` halted, `u8` has-last-trade,
//! `i64` last trade, `u8` has-last-id, `u64` last order id, `u64` exec seq,
//! `u64` md seq, `u64` order count, then per order a fixed 86-byte record:
//! `u64` id, `u64` client id, `i64` price, `i64` stop price, `u64` leaves,
//! `u64` visible, `u64` display, `u64` quote budget, `u32` account, `u32` session,
//! `u8` side, `u8` type, `u8` tif, `u8` stp, `u8` post-only, `u8` state
//! (1 resting, 2 pending stop).

use core::fmt;
use core::hash::Hasher;

use super::arena::{NIL, Node, NodeState};
use super::orderbook::OrderBook;
use crate::types::{OrderType, Side, StpMode, TimeInForce, UnknownCode};

const MAGIC: &[u8; 4] = b"RXBK";
const VERSION: u16 = 1;
const RECORD: usize = 8 * 8 + 4 * 2 + 6;

/// Why snapshot bytes could not be decoded. Decoding never panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes end before the data they announce.
    Truncated,
    /// Not a book snapshot.
    BadMagic,
    /// A version this build cannot read.
    UnsupportedVersion(u16),
    /// An enum code out of range.
    BadCode(UnknownCode),
    /// Bytes decode but describe an impossible book.
    Invalid(&'static str),
    /// Bytes left after the last order.
    TrailingBytes,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Truncated => write!(f, "book snapshot truncated"),
            SnapshotError::BadMagic => write!(f, "not a book snapshot (bad magic)"),
            SnapshotError::UnsupportedVersion(v) => {
                write!(f, "unsupported book snapshot version {v}")
            }
            SnapshotError::BadCode(c) => write!(f, "book snapshot: {c}"),
            SnapshotError::Invalid(why) => write!(f, "invalid book snapshot: {why}"),
            SnapshotError::TrailingBytes => write!(f, "book snapshot has trailing bytes"),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl From<UnknownCode> for SnapshotError {
    fn from(c: UnknownCode) -> Self {
        SnapshotError::BadCode(c)
    }
}

/// A sink for the canonical walk.
trait Canon {
    fn bytes(&mut self, b: &[u8]);
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
}

impl Canon for Vec<u8> {
    fn bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

struct HashCanon<'a, H: Hasher>(&'a mut H);

impl<H: Hasher> Canon for HashCanon<'_, H> {
    fn bytes(&mut self, b: &[u8]) {
        self.0.write(b);
    }
}

impl OrderBook {
    /// Feeds the canonical state (see the module docs of `snapshot`) to `h`: equal
    /// books hash equal regardless of their history of allocation.
    pub fn hash_into<H: Hasher>(&self, h: &mut H) {
        self.canonical(&mut HashCanon(h));
    }

    /// Appends a versioned snapshot of the whole book to `out`.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        self.canonical(out);
    }

    fn canonical<C: Canon>(&self, c: &mut C) {
        c.bytes(MAGIC);
        c.u16(VERSION);
        c.u32(self.instrument);
        c.u8(u8::from(self.halted));
        c.u8(u8::from(self.last_trade.is_some()));
        c.i64(self.last_trade.unwrap_or(0));
        c.u8(u8::from(self.last_order_id.is_some()));
        c.u64(self.last_order_id.unwrap_or(0));
        c.u64(self.exec_seq);
        c.u64(self.md_seq);
        c.u64(self.ids.len() as u64);
        for side in [Side::Buy, Side::Sell] {
            let l = self.ladder(side);
            for li in l.iter() {
                let mut s = l.level(li).head;
                while s != NIL {
                    let n = self.arena.get(s);
                    record(c, n);
                    s = n.next;
                }
            }
        }
        for side in [Side::Buy, Side::Sell] {
            for rank in 0..self.stops.len(side) {
                record(c, self.arena.get(self.stops.slot_at_rank(side, rank)));
            }
        }
    }

    /// Rebuilds a book from [`encode_snapshot`](Self::encode_snapshot) bytes.
    /// Malformed or inconsistent bytes are an error, never a panic.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let instrument = r.u32()?;
        let halted = r.flag()?;
        let has_last = r.flag()?;
        let last = r.i64()?;
        let has_id = r.flag()?;
        let last_id = r.u64()?;
        let exec_seq = r.u64()?;
        let md_seq = r.u64()?;
        let count = r.u64()?;
        let remaining = (bytes.len() - r.pos) as u64;
        if count > remaining / RECORD as u64 {
            return Err(SnapshotError::Truncated);
        }
        let count = count as usize;
        let mut book = OrderBook::new(instrument, count.max(1024));
        book.halted = halted;
        book.last_trade = has_last.then_some(last);
        book.last_order_id = has_id.then_some(last_id);
        book.exec_seq = exec_seq;
        book.md_seq = md_seq;
        for _ in 0..count {
            let n = r.node()?;
            if !has_id || n.id > last_id {
                return Err(SnapshotError::Invalid("order id above the last order id"));
            }
            if book.ids.contains_key(&n.id) {
                return Err(SnapshotError::Invalid("duplicate order id"));
            }
            if n.leaves == 0 {
                return Err(SnapshotError::Invalid("order with zero quantity"));
            }
            let slot = book.arena.alloc(n);
            book.ids.insert(n.id, slot);
            match n.state {
                NodeState::Resting => {
                    let slice_ok = if n.display == 0 {
                        n.visible == n.leaves
                    } else {
                        n.visible > 0 && n.visible <= n.display.min(n.leaves)
                    };
                    if !slice_ok
                        || n.order_type != OrderType::Limit
                        || !matches!(n.tif, TimeInForce::Gtc | TimeInForce::Day)
                    {
                        return Err(SnapshotError::Invalid("impossible resting order"));
                    }
                    let arena = &mut book.arena;
                    let ladder = match n.side {
                        Side::Buy => &mut book.bids,
                        Side::Sell => &mut book.asks,
                    };
                    let li = ladder.get_or_insert(n.price);
                    ladder.push_back(arena, li, slot);
                }
                _ => {
                    if n.visible != 0
                        || !matches!(n.order_type, OrderType::Stop | OrderType::StopLimit)
                    {
                        return Err(SnapshotError::Invalid("impossible pending stop"));
                    }
                    book.stops.insert(n.side, n.stop_price, n.id, slot);
                }
            }
        }
        if r.pos != bytes.len() {
            return Err(SnapshotError::TrailingBytes);
        }
        if let (Some((b, _)), Some((a, _))) = (book.best_bid(), book.best_ask())
            && b >= a
        {
            return Err(SnapshotError::Invalid("crossed book"));
        }
        Ok(book)
    }
}

fn record<C: Canon>(c: &mut C, n: &Node) {
    c.u64(n.id);
    c.u64(n.client_order_id);
    c.i64(n.price);
    c.i64(n.stop_price);
    c.u64(n.leaves);
    c.u64(n.visible);
    c.u64(n.display);
    c.u64(n.quote_budget);
    c.u32(n.account);
    c.u32(n.session);
    c.u8(n.side.code());
    c.u8(n.order_type.code());
    c.u8(n.tif.code());
    c.u8(n.stp.code());
    c.u8(u8::from(n.post_only));
    c.u8(if n.state == NodeState::Stop { 2 } else { 1 });
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).ok_or(SnapshotError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(SnapshotError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.arr::<1>()?[0])
    }
    fn flag(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid("flag not 0 or 1")),
        }
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn node(&mut self) -> Result<Node, SnapshotError> {
        let mut n = Node::EMPTY;
        n.id = self.u64()?;
        n.client_order_id = self.u64()?;
        n.price = self.i64()?;
        n.stop_price = self.i64()?;
        n.leaves = self.u64()?;
        n.visible = self.u64()?;
        n.display = self.u64()?;
        n.quote_budget = self.u64()?;
        n.account = self.u32()?;
        n.session = self.u32()?;
        n.side = Side::from_code(self.u8()?)?;
        n.order_type = OrderType::from_code(self.u8()?)?;
        n.tif = TimeInForce::from_code(self.u8()?)?;
        n.stp = StpMode::from_code(self.u8()?)?;
        n.post_only = self.flag()?;
        n.state = match self.u8()? {
            1 => NodeState::Resting,
            2 => NodeState::Stop,
            _ => return Err(SnapshotError::Invalid("unknown order state")),
        };
        Ok(n)
    }
}
