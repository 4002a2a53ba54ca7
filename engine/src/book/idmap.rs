//! Order id → arena slot. A `HashMap` with a cheap hasher: used for lookups only,
//! never iterated, so its internal order can never reach an output.
//!
//! The hash keeps the id's low 32 bits as the low half (the bucket position), so
//! the increasing ids the venue assigns land in neighbouring buckets: inserting
//! a new order touches a cache line that is already hot instead of a random one.
//! The high half (which the table uses for its 7-bit tags) is a multiplicative
//! mix, so tags still discriminate well within a probe group.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::types::OrderId;

/// Locality-keeping hasher for integer ids (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        let m = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = (m & 0xFFFF_FFFF_0000_0000) | ((x ^ (x >> 32)) & 0xFFFF_FFFF);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The id → slot map type.
pub(crate) type IdMap = HashMap<OrderId, u32, BuildHasherDefault<IdHasher>>;

/// A map with room for `cap` ids.
pub(crate) fn id_map(cap: usize) -> IdMap {
    HashMap::with_capacity_and_hasher(cap, BuildHasherDefault::default())
}
