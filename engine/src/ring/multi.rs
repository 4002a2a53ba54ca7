//! Multi-producer sequencer: any number of producer threads claim and publish.
//!
//! - **Claim**: a blocking claim is one `fetch_add` on the shared claim counter;
//!   `try_claim`/`claim_timeout` use a compare-exchange so a full ring can be
//!   reported without taking the slots. Each producer handle caches the slowest
//!   gating sequence in its own fields (not in a shared word), so producers only
//!   touch the gating sequences when the cache says they might wrap.
//! - **Publish**: each slot has an availability word holding the *lap* (sequence /
//!   ring size, truncated to 32 bits) of the last event published into it.
//!   Publishing sequence `s` is a plain `Release` store of `lap(s)` into slot
//!   `s & mask`: no read-modify-write, no shared publish cursor, and producers that
//!   finish out of order never wait for each other.
//! - **Consume**: a stage scans availability from its next sequence upward and
//!   stops at the first slot whose lap is not the expected one; everything below is
//!   published contiguously. A slot can hold only `lap(s)` or an older lap, never a
//!   newer one (a producer cannot pass the slowest stage by a whole ring), so the
//!   equality test is exact. The scan never reads the contended claim counter.

use super::core::{NOT_HALTED, Ring};
use super::producer::{Claim, Producer, TakeSlots, check_batch, producer_idle, take_with_timeout};
use super::sequence::{INITIAL, Sequence, minimum};
use super::sequencer::Sequencer;
use super::sync::{AtomicU32, Ordering, fence};
use super::{RingBuffer, RingError};
use std::sync::Arc;
use std::time::Duration;

/// Publication state of a multi-producer ring.
#[derive(Debug)]
pub struct MultiSequencer {
    /// Next sequence to claim.
    claim: Sequence,
    /// Lap of the last sequence published into each slot.
    available: Box<[AtomicU32]>,
    mask: i64,
    shift: u32,
}

impl MultiSequencer {
    #[inline]
    fn lap(&self, sequence: i64) -> u32 {
        (sequence >> self.shift) as u32
    }

    #[inline]
    fn flag(&self, sequence: i64) -> &AtomicU32 {
        // SAFETY: `mask` is `len - 1` with `len` a power of two, so the index is in
        // bounds.
        unsafe {
            self.available
                .get_unchecked((sequence & self.mask) as usize)
        }
    }

    /// Marks `lo..=hi` published.
    #[inline]
    fn publish(&self, lo: i64, hi: i64) {
        for s in lo..=hi {
            // Release: the slot writes happen-before a stage's read that sees
            // this lap (through the Acquire fence in `highest_published`).
            self.flag(s).store(self.lap(s), Ordering::Release);
        }
    }

    /// Whether sequence `s` has been published (Acquire).
    pub fn is_published(&self, s: i64) -> bool {
        self.flag(s).load(Ordering::Acquire) == self.lap(s)
    }
}

impl Sequencer for MultiSequencer {
    const NAME: &'static str = "multi";

    fn with_size(size: usize) -> Self {
        MultiSequencer {
            claim: Sequence::new(0),
            // Lap of sequence -size..-1 is -1: "nothing published in lap 0 yet".
            available: (0..size).map(|_| AtomicU32::new(u32::MAX)).collect(),
            mask: size as i64 - 1,
            shift: size.trailing_zeros(),
        }
    }

    #[inline]
    fn highest_published(&self, next: i64, limit: i64) -> i64 {
        let mut s = next;
        while s <= limit && self.flag(s).load(Ordering::Relaxed) == self.lap(s) {
            s += 1;
        }
        if s > next {
            // One Acquire fence for the whole scan: it synchronizes with the
            // Release stores whose values the Relaxed loads above observed.
            fence(Ordering::Acquire);
        }
        s - 1
    }
}

impl<T: Send + Sync> Ring<T, MultiSequencer> {
    /// A producer handle of this ring, gated on `gating` (the sequences of the
    /// terminal stages). Clone it for each producer thread.
    pub fn multi_producer(
        self: &Arc<Self>,
        gating: Vec<Arc<Sequence>>,
    ) -> Result<MultiProducer<T>, RingError> {
        if gating.is_empty() {
            return Err(RingError::NoGating);
        }
        Ok(MultiProducer {
            ring: Arc::clone(self),
            gating: gating.into(),
            cached_gate: INITIAL,
            size: self.size,
        })
    }
}

/// Whether `hi` can be claimed without overwriting a slot some gating stage has
/// not released, refreshing `cached` (a lower bound of the slowest gating
/// sequence) only when it is not enough.
#[inline]
fn has_room(gating: &[Arc<Sequence>], cached: &mut i64, size: i64, hi: i64) -> bool {
    let wrap = hi - size;
    if wrap <= *cached {
        return true;
    }
    *cached = minimum(gating, i64::MAX);
    wrap <= *cached
}

/// A producer handle of a multi-producer ring. `Clone` it once per thread; each
/// clone keeps its own cached gating sequence.
pub struct MultiProducer<T> {
    ring: Arc<Ring<T, MultiSequencer>>,
    gating: Arc<[Arc<Sequence>]>,
    cached_gate: i64,
    size: i64,
}

impl<T> Clone for MultiProducer<T> {
    fn clone(&self) -> Self {
        MultiProducer {
            ring: Arc::clone(&self.ring),
            gating: Arc::clone(&self.gating),
            // Gating sequences only grow, so any value we saw is still a lower bound.
            cached_gate: self.cached_gate,
            size: self.size,
        }
    }
}

impl<T: Send + Sync> MultiProducer<T> {
    #[inline]
    fn has_room(&mut self, hi: i64) -> bool {
        has_room(&self.gating, &mut self.cached_gate, self.size, hi)
    }

    /// The ring this producer publishes into.
    pub fn ring(&self) -> &Arc<Ring<T, MultiSequencer>> {
        &self.ring
    }
}

impl<T: Send + Sync> TakeSlots for MultiProducer<T> {
    /// Claims `n` slots with a compare-exchange, only if they are free now (a
    /// failed try must not take slots, so no fetch-add here).
    #[inline]
    fn try_take(&mut self, n: i64) -> Result<i64, RingError> {
        let claim = self.ring.sequencer.claim.atomic();
        let mut lo = claim.load(Ordering::Relaxed);
        loop {
            if !has_room(&self.gating, &mut self.cached_gate, self.size, lo + n - 1) {
                return Err(RingError::Full);
            }
            // Relaxed is enough: the counter only hands out ranges; the ordering
            // against stages comes from the Acquire loads in `has_room` (before our
            // slot writes) and the Release publish (after them).
            match claim.compare_exchange_weak(lo, lo + n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(lo),
                Err(now) => lo = now,
            }
        }
    }

    fn halted(&self) -> bool {
        self.ring.halt_at.get() != NOT_HALTED
    }
}

impl<T: Send + Sync> Producer<T> for MultiProducer<T> {
    #[inline]
    fn try_claim_n(&mut self, n: usize) -> Result<Claim<'_, T, Self>, RingError> {
        let n = check_batch(n, self.size as usize)?;
        let lo = self.try_take(n)?;
        Ok(Claim::new(self, lo, lo + n - 1))
    }

    #[inline]
    fn claim_n(&mut self, n: usize) -> Result<Claim<'_, T, Self>, RingError> {
        let n = check_batch(n, self.size as usize)?;
        let lo = self
            .ring
            .sequencer
            .claim
            .atomic()
            .fetch_add(n, Ordering::Relaxed);
        let hi = lo + n - 1;
        let mut round = 0;
        while !self.has_room(hi) {
            if self.ring.halt_at.get() != NOT_HALTED {
                // The range stays unpublished; stages have stopped anyway.
                return Err(RingError::Halted);
            }
            producer_idle(&mut round);
        }
        Ok(Claim::new(self, lo, hi))
    }

    fn claim_n_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<Claim<'_, T, Self>, RingError> {
        let n = check_batch(n, self.size as usize)?;
        let lo = take_with_timeout(self, n, timeout)?;
        Ok(Claim::new(self, lo, lo + n - 1))
    }

    #[inline]
    fn commit(&mut self, lo: i64, hi: i64) {
        self.ring.sequencer.publish(lo, hi);
        self.ring.after_publish();
    }

    #[inline]
    fn buffer(&self) -> &RingBuffer<T> {
        &self.ring.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(size: usize) -> (Arc<Ring<u64, MultiSequencer>>, Arc<Sequence>) {
        (
            Ring::new(size, || 0u64).unwrap(),
            Arc::new(Sequence::default()),
        )
    }

    #[test]
    fn out_of_order_publication_is_seen_contiguously() {
        let (r, g) = ring(8);
        let mut a = r.multi_producer(vec![g.clone()]).unwrap();
        let mut b = a.clone();
        let ca = a.try_claim().unwrap();
        let cb = b.try_claim_n(2).unwrap();
        assert_eq!((ca.first(), cb.first(), cb.last()), (0, 1, 2));
        drop(cb); // 1..=2 published, 0 not yet
        assert_eq!(r.sequencer.highest_published(0, 100), -1);
        assert!(r.sequencer.is_published(2));
        drop(ca);
        assert_eq!(r.sequencer.highest_published(0, 100), 2);
        assert_eq!(r.sequencer.highest_published(0, 1), 1);
        assert_eq!(r.sequencer.highest_published(3, 100), 2);
    }

    #[test]
    fn laps_make_wrapped_slots_unambiguous() {
        let (r, g) = ring(4);
        let mut p = r.multi_producer(vec![g.clone()]).unwrap();
        for lap in 0..5i64 {
            for i in 0..4 {
                assert!(!r.sequencer.is_published(lap * 4 + i));
                p.publish_with(|s| *s = (lap * 4 + i) as u64).unwrap();
            }
            assert_eq!(p.try_claim().err(), Some(RingError::Full));
            assert_eq!(
                r.sequencer.highest_published(lap * 4, i64::MAX - 1),
                lap * 4 + 3
            );
            g.set(lap * 4 + 3);
        }
    }

    #[test]
    fn fetch_add_claims_do_not_overlap_across_threads() {
        let (r, g) = ring(1024);
        let p = r.multi_producer(vec![g]).unwrap();
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let mut p = p.clone();
                std::thread::spawn(move || {
                    (0..100)
                        .map(|_| p.claim_n(2).unwrap().first())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<i64> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..400).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(r.sequencer.highest_published(0, i64::MAX - 1), 799);
    }

    #[test]
    fn timeout_and_halt_and_bad_batch() {
        let (r, g) = ring(2);
        let mut p = r.multi_producer(vec![g]).unwrap();
        assert_eq!(
            p.try_claim_n(3).err(),
            Some(RingError::BadBatch { n: 3, size: 2 })
        );
        p.publish_batch_with(2, |i, s| *s = i as u64).unwrap();
        assert_eq!(
            p.claim_timeout(Duration::from_millis(10)).err(),
            Some(RingError::Timeout)
        );
        assert_eq!(r.halt(INITIAL), 1);
        assert_eq!(r.halt(INITIAL), 1, "halt is idempotent");
        assert_eq!(p.claim().err(), Some(RingError::Halted));
        assert_eq!(
            p.claim_timeout(Duration::from_secs(5)).err(),
            Some(RingError::Halted)
        );
    }
}
