//! A cache-padded atomic sequence number: the only thing stages and producers share
//! besides the slots themselves.
//!
//! Every sequence lives on its own cache line (128 bytes on x86-64, covering the
//! adjacent-line prefetcher) so that a consumer publishing its progress never
//! invalidates the line another core is spinning on for a different sequence.

use super::sync::{AtomicI64, Ordering};
use crossbeam_utils::CachePadded;

/// The value of a sequence before anything has been claimed, published or processed.
pub const INITIAL: i64 = -1;

/// A monotonically increasing sequence number, padded to a cache line.
///
/// Writers publish with `Release` ([`Sequence::set`]) after the work the number
/// stands for is done; readers load with `Acquire` ([`Sequence::get`]) before they
/// touch the slots it covers. That pair is the whole memory-ordering contract of
/// the ring (see the module docs of [`crate::ring`]).
#[derive(Debug)]
pub struct Sequence(CachePadded<AtomicI64>);

impl Sequence {
    /// A sequence starting at `value`.
    pub fn new(value: i64) -> Self {
        Sequence(CachePadded::new(AtomicI64::new(value)))
    }

    /// Loads the sequence with `Acquire`: everything written before the matching
    /// [`Sequence::set`] is visible afterwards.
    #[inline]
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }

    /// Loads the sequence with no ordering, for monitoring only.
    #[inline]
    pub fn get_relaxed(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Publishes `value` with `Release`: everything this thread did before (reading
    /// or writing slots up to `value`) happens-before any `get` that sees it.
    #[inline]
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Release);
    }

    /// The underlying atomic, for the sequencers that need read-modify-write.
    #[inline]
    pub(crate) fn atomic(&self) -> &AtomicI64 {
        &self.0
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence::new(INITIAL)
    }
}

/// The minimum of a set of sequences, or `default` when the set is empty.
///
/// Used by producers (gated on the slowest terminal stage) and by barriers (a stage
/// gated on several upstream stages).
#[inline]
pub fn minimum(seqs: &[std::sync::Arc<Sequence>], default: i64) -> i64 {
    let mut min = default;
    for s in seqs {
        let v = s.get();
        if v < min {
            min = v;
        }
    }
    min
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn starts_at_initial_and_sets() {
        let s = Sequence::default();
        assert_eq!(s.get(), INITIAL);
        s.set(41);
        assert_eq!(s.get(), 41);
        assert_eq!(s.get_relaxed(), 41);
    }

    #[test]
    fn sequences_do_not_share_a_cache_line() {
        assert!(std::mem::size_of::<Sequence>() >= 64);
        assert!(std::mem::align_of::<Sequence>() >= 64);
    }

    #[test]
    fn minimum_of_set() {
        let a = Arc::new(Sequence::new(5));
        let b = Arc::new(Sequence::new(3));
        assert_eq!(minimum(&[a.clone(), b.clone()], i64::MAX), 3);
        assert_eq!(minimum(&[], 7), 7);
        b.set(9);
        assert_eq!(minimum(&[a, b], i64::MAX), 5);
    }
}
