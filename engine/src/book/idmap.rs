//! Order id → arena slot. A `HashMap` with a cheap multiplicative hasher: used for
//! lookups only, never iterated, so its internal order can never reach an output.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::types::OrderId;

/// Fibonacci-multiply hasher for integer ids, folding the high half into the low
/// half so that ids sharing low bits still spread over buckets.
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
        self.0 = m ^ (m >> 32);
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
