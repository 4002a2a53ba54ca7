//! Single-producer sequencer: one thread claims and publishes.
//!
//! The producer keeps its next sequence and a cached copy of the slowest gating
//! sequence in plain fields of its own handle: a claim is an add and a compare,
//! with no atomic read-modify-write and no shared write at all. The gating
//! sequences are re-read (Acquire) only when the cached value says the claim might
//! wrap onto a slot a stage has not released. Publishing is one `Release` store of
//! the cursor, once per claim (a batch of `n` slots costs the same as one).

use super::core::{NOT_HALTED, Ring};
use super::producer::{Claim, Producer, TakeSlots, check_batch, producer_idle, take_with_timeout};
use super::sequence::{INITIAL, Sequence, minimum};
use super::sequencer::Sequencer;
use super::sync::Ordering;
use super::{RingBuffer, RingError};
use std::sync::Arc;
use std::time::Duration;

/// Publication state of a single-producer ring: the cursor (last published).
#[derive(Debug)]
pub struct SingleSequencer {
    cursor: Sequence,
}

impl Sequencer for SingleSequencer {
    const NAME: &'static str = "single";

    fn with_size(_size: usize) -> Self {
        SingleSequencer {
            cursor: Sequence::new(INITIAL),
        }
    }

    #[inline]
    fn highest_published(&self, next: i64, limit: i64) -> i64 {
        // Acquire: pairs with the producer's Release store in `commit`.
        let c = self.cursor.get();
        if c < next { next - 1 } else { c.min(limit) }
    }
}

impl<T: Send + Sync> Ring<T, SingleSequencer> {
    /// The one producer of this ring, gated on `gating` (the sequences of the
    /// terminal stages). A second call returns [`RingError::ProducerTaken`].
    pub fn single_producer(
        self: &Arc<Self>,
        gating: Vec<Arc<Sequence>>,
    ) -> Result<SingleProducer<T>, RingError> {
        if gating.is_empty() {
            return Err(RingError::NoGating);
        }
        if self.producer_taken.swap(true, Ordering::AcqRel) {
            return Err(RingError::ProducerTaken);
        }
        Ok(SingleProducer {
            ring: Arc::clone(self),
            gating: gating.into_boxed_slice(),
            next: 0,
            cached_gate: INITIAL,
            size: self.size,
        })
    }
}

/// The producer handle of a single-producer ring. `Send` but not `Clone`: exactly
/// one thread publishes.
pub struct SingleProducer<T> {
    ring: Arc<Ring<T, SingleSequencer>>,
    gating: Box<[Arc<Sequence>]>,
    /// Next sequence to claim.
    next: i64,
    /// Slowest gating sequence as last read; only ever lower than the truth.
    cached_gate: i64,
    size: i64,
}

impl<T: Send + Sync> SingleProducer<T> {
    /// Whether `hi` can be claimed without overwriting an unreleased slot,
    /// refreshing the cached gate only when it is not enough.
    #[inline]
    fn has_room(&mut self, hi: i64) -> bool {
        let wrap = hi - self.size;
        if wrap <= self.cached_gate {
            return true;
        }
        self.cached_gate = minimum(&self.gating, i64::MAX);
        wrap <= self.cached_gate
    }

    /// Sequence of the last slot published by this producer.
    pub fn published(&self) -> i64 {
        self.next - 1
    }

    /// The ring this producer publishes into.
    pub fn ring(&self) -> &Arc<Ring<T, SingleSequencer>> {
        &self.ring
    }
}

impl<T: Send + Sync> TakeSlots for SingleProducer<T> {
    #[inline]
    fn try_take(&mut self, n: i64) -> Result<i64, RingError> {
        let lo = self.next;
        let hi = lo + n - 1;
        if !self.has_room(hi) {
            return Err(RingError::Full);
        }
        self.next = hi + 1;
        Ok(lo)
    }

    fn halted(&self) -> bool {
        self.ring.halt_at.get() != NOT_HALTED
    }
}

impl<T: Send + Sync> Producer<T> for SingleProducer<T> {
    #[inline]
    fn try_claim_n(&mut self, n: usize) -> Result<Claim<'_, T, Self>, RingError> {
        let n = check_batch(n, self.size as usize)?;
        let lo = self.try_take(n)?;
        Ok(Claim::new(self, lo, lo + n - 1))
    }

    #[inline]
    fn claim_n(&mut self, n: usize) -> Result<Claim<'_, T, Self>, RingError> {
        let n = check_batch(n, self.size as usize)?;
        let lo = self.next;
        let hi = lo + n - 1;
        let mut round = 0;
        while !self.has_room(hi) {
            if self.ring.halt_at.get() != NOT_HALTED {
                return Err(RingError::Halted);
            }
            producer_idle(&mut round);
        }
        self.next = hi + 1;
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
    fn commit(&mut self, _lo: i64, hi: i64) {
        // Release: the slot writes above happen-before any stage's Acquire load
        // of the cursor that sees `hi`.
        self.ring.sequencer.cursor.set(hi);
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
    use std::time::Instant;

    fn ring(size: usize) -> (Arc<Ring<u64, SingleSequencer>>, Arc<Sequence>) {
        (
            Ring::new(size, || 0u64).unwrap(),
            Arc::new(Sequence::default()),
        )
    }

    #[test]
    fn only_one_producer_and_it_needs_gating() {
        let (r, g) = ring(4);
        assert_eq!(r.single_producer(vec![]).err(), Some(RingError::NoGating));
        assert!(r.single_producer(vec![g.clone()]).is_ok());
        assert_eq!(
            r.single_producer(vec![g]).err(),
            Some(RingError::ProducerTaken)
        );
    }

    #[test]
    fn claims_publish_in_order_and_full_is_reported() {
        let (r, g) = ring(4);
        let mut p = r.single_producer(vec![g.clone()]).unwrap();
        for i in 0..4u64 {
            let mut c = p.try_claim().unwrap();
            *c.first_mut() = i * 10;
            assert_eq!(c.first(), i as i64);
        }
        assert_eq!(r.sequencer.highest_published(0, 100), 3);
        assert_eq!(r.sequencer.highest_published(0, 1), 1);
        assert_eq!(p.try_claim().err(), Some(RingError::Full));
        // A stage releases two slots: two more claims fit, in one batch.
        g.set(1);
        let mut c = p.try_claim_n(2).unwrap();
        assert_eq!((c.first(), c.last(), c.len()), (4, 5, 2));
        *c.slot_mut(0).unwrap() = 40;
        *c.slot_mut(1).unwrap() = 50;
        assert!(c.slot_mut(2).is_none());
        c.publish();
        assert_eq!(r.sequencer.highest_published(4, 100), 5);
        // SAFETY: single-threaded test; nothing writes the slots now.
        let v: Vec<u64> = (2..6).map(|s| unsafe { *r.buffer.slot_ptr(s) }).collect();
        assert_eq!(v, vec![20, 30, 40, 50]);
        assert_eq!(p.published(), 5);
    }

    #[test]
    fn bad_batches_are_errors() {
        let (r, g) = ring(4);
        let mut p = r.single_producer(vec![g]).unwrap();
        assert_eq!(
            p.try_claim_n(0).err(),
            Some(RingError::BadBatch { n: 0, size: 4 })
        );
        assert_eq!(
            p.claim_n(5).err(),
            Some(RingError::BadBatch { n: 5, size: 4 })
        );
    }

    #[test]
    fn claim_timeout_and_halt() {
        let (r, g) = ring(2);
        let mut p = r.single_producer(vec![g]).unwrap();
        p.publish_batch_with(2, |i, s| *s = i as u64).unwrap();
        let t = Instant::now();
        assert_eq!(
            p.claim_timeout(Duration::from_millis(20)).err(),
            Some(RingError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(15));
        assert_eq!(r.halt(INITIAL), 1);
        assert_eq!(p.claim().err(), Some(RingError::Halted));
    }

    #[test]
    fn blocking_claim_waits_for_the_stage() {
        let (r, g) = ring(2);
        let mut p = r.single_producer(vec![g.clone()]).unwrap();
        p.publish_with(|s| *s = 1).unwrap();
        p.publish_with(|s| *s = 2).unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            g.set(0);
        });
        assert_eq!(p.publish_with(|s| *s = 3).unwrap(), 2);
        h.join().unwrap();
    }
}
