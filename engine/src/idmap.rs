//! Hash maps keyed by integer ids for the business-logic hot path: a fixed,
//! seedless multiplicative hasher (no per-process random keys), used for lookups
//! only. Nothing iterates these maps where order could reach an output: state
//! encoders sort the keys first ([`sorted_keys`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// FxHash-style combine: rotate, xor the word in, multiply by a 64-bit odd
/// constant. Fast on integer keys, identical on every run and every node.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Fold the high half down: hashbrown takes bucket bits from the low end.
        self.0 ^ (self.0 >> 32)
    }
}

/// A lookup-only map with the fixed [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// An empty map with room for `cap` entries before it allocates again.
pub fn with_capacity<K, V>(cap: usize) -> IdMap<K, V> {
    HashMap::with_capacity_and_hasher(cap, BuildHasherDefault::default())
}

/// The keys of `map` in ascending order: the canonical iteration order for
/// encoders and checks (allocates; not for the hot path).
pub fn sorted_keys<K: Ord + Copy + Hash, V>(map: &IdMap<K, V>) -> Vec<K> {
    let mut keys: Vec<K> = map.keys().copied().collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn hashing_is_fixed_and_spreads_sequential_ids() {
        let b = BuildHasherDefault::<IdHasher>::default();
        assert_eq!(b.hash_one(42u64), b.hash_one(42u64));
        let mut low_bits = std::collections::BTreeSet::new();
        for id in 0u64..1024 {
            low_bits.insert(b.hash_one(id) & 1023);
        }
        assert!(low_bits.len() > 600, "poor spread: {}", low_bits.len());
        assert_ne!(b.hash_one((1u32, 2u64)), b.hash_one((2u32, 1u64)));
    }

    #[test]
    fn sorted_keys_are_ascending() {
        let mut m: IdMap<u64, ()> = with_capacity(4);
        for k in [5, 1, 9, 3] {
            m.insert(k, ());
        }
        assert_eq!(sorted_keys(&m), vec![1, 3, 5, 9]);
    }
}
