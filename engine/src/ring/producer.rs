//! What every producer offers, single or multi: claim slots (try, block, block with
//! a timeout; one or a batch), write them in place, publish.
//!
//! A claim is a guard ([`Claim`]) holding `&mut` access to its slots; dropping it
//! (or calling [`Claim::publish`]) publishes them. Publishing on drop is deliberate:
//! a multi-producer ring cannot skip a claimed sequence (stages would wait for it
//! forever), so a claim is always published, even when the writer panics.

use super::RingError;
use super::buffer::RingBuffer;
use super::sync::{spin_loop, yield_now};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// A handle that claims and publishes slots of one ring.
pub trait Producer<T>: Sized {
    /// Claims `n` consecutive slots, or returns [`RingError::Full`] at once when the
    /// slowest terminal stage has not released them.
    fn try_claim_n(&mut self, n: usize) -> Result<Claim<'_, T, Self>, RingError>;

    /// Claims `n` consecutive slots, waiting (spin, then yield) as long as it takes.
    /// Fails only with [`RingError::Halted`] or [`RingError::BadBatch`].
    fn claim_n(&mut self, n: usize) -> Result<Claim<'_, T, Self>, RingError>;

    /// Claims `n` consecutive slots, waiting at most `timeout`
    /// ([`RingError::Timeout`]).
    fn claim_n_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<Claim<'_, T, Self>, RingError>;

    /// Publishes `lo..=hi`. Called by [`Claim`]'s drop; not for direct use.
    #[doc(hidden)]
    fn commit(&mut self, lo: i64, hi: i64);

    /// The slots, for [`Claim`].
    #[doc(hidden)]
    fn buffer(&self) -> &RingBuffer<T>;

    /// [`Producer::try_claim_n`] for one slot.
    #[inline]
    fn try_claim(&mut self) -> Result<Claim<'_, T, Self>, RingError> {
        self.try_claim_n(1)
    }

    /// [`Producer::claim_n`] for one slot.
    #[inline]
    fn claim(&mut self) -> Result<Claim<'_, T, Self>, RingError> {
        self.claim_n(1)
    }

    /// [`Producer::claim_n_timeout`] for one slot.
    #[inline]
    fn claim_timeout(&mut self, timeout: Duration) -> Result<Claim<'_, T, Self>, RingError> {
        self.claim_n_timeout(1, timeout)
    }

    /// Claims one slot (blocking), lets `write` fill it in place, publishes it, and
    /// returns its sequence.
    #[inline]
    fn publish_with(&mut self, write: impl FnOnce(&mut T)) -> Result<i64, RingError> {
        let mut c = self.claim_n(1)?;
        write(c.first_mut());
        Ok(c.first())
    }

    /// Claims `n` slots (blocking), lets `write(i, slot)` fill each in place, and
    /// publishes them together. Returns the last sequence.
    #[inline]
    fn publish_batch_with(
        &mut self,
        n: usize,
        mut write: impl FnMut(usize, &mut T),
    ) -> Result<i64, RingError> {
        let mut c = self.claim_n(n)?;
        c.for_each_mut(|i, slot| write(i, slot));
        Ok(c.last())
    }
}

/// Exclusive, write access to a claimed range of slots; published on drop.
pub struct Claim<'a, T, P: Producer<T>> {
    producer: &'a mut P,
    lo: i64,
    hi: i64,
    _slots: PhantomData<&'a mut T>,
}

impl<'a, T, P: Producer<T>> Claim<'a, T, P> {
    /// A claim of `lo..=hi`; `lo <= hi` and the producer owns the range.
    #[inline]
    pub(crate) fn new(producer: &'a mut P, lo: i64, hi: i64) -> Self {
        Claim {
            producer,
            lo,
            hi,
            _slots: PhantomData,
        }
    }

    /// Sequence of the first claimed slot.
    #[inline]
    pub fn first(&self) -> i64 {
        self.lo
    }

    /// Sequence of the last claimed slot.
    #[inline]
    pub fn last(&self) -> i64 {
        self.hi
    }

    /// Number of claimed slots (at least 1).
    #[inline]
    #[allow(clippy::len_without_is_empty)] // a claim is never empty
    pub fn len(&self) -> usize {
        (self.hi - self.lo + 1) as usize
    }

    /// The first claimed slot.
    #[inline]
    pub fn first_mut(&mut self) -> &mut T {
        // SAFETY: the producer owns `lo..=hi` until this claim drops: the gating
        // check proved every stage released these slots (Acquire on their
        // sequences), and no stage reads them before the publish in `drop`. The
        // returned borrow is tied to `&mut self`, so it cannot outlive the claim.
        unsafe { &mut *self.producer.buffer().slot_ptr(self.lo) }
    }

    /// The `i`-th claimed slot (0-based), or `None` past the end.
    #[inline]
    pub fn slot_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len() {
            return None;
        }
        // SAFETY: as in `first_mut`; `lo + i <= hi` is inside the claimed range.
        Some(unsafe { &mut *self.producer.buffer().slot_ptr(self.lo + i as i64) })
    }

    /// Calls `f(i, slot)` for every claimed slot in sequence order.
    #[inline]
    pub fn for_each_mut(&mut self, mut f: impl FnMut(usize, &mut T)) {
        let buf = self.producer.buffer();
        for (i, s) in (self.lo..=self.hi).enumerate() {
            // SAFETY: as in `first_mut`; each `s` is inside the claimed range and
            // each `&mut` ends before the next is made.
            f(i, unsafe { &mut *buf.slot_ptr(s) });
        }
    }

    /// Publishes the claimed slots now (same as dropping the claim).
    #[inline]
    pub fn publish(self) {}
}

impl<T, P: Producer<T>> Drop for Claim<'_, T, P> {
    #[inline]
    fn drop(&mut self) {
        self.producer.commit(self.lo, self.hi);
    }
}

/// Checks a batch size against the ring size.
#[inline]
pub(crate) fn check_batch(n: usize, size: usize) -> Result<i64, RingError> {
    if n == 0 || n > size {
        Err(RingError::BadBatch { n, size })
    } else {
        Ok(n as i64)
    }
}

/// What the two producers differ in when claiming without blocking: how they
/// take `n` slots if the ring has room (a plain add for one producer, a
/// compare-exchange for several) and where their ring's halt state is.
pub(crate) trait TakeSlots {
    /// Takes `n` slots if every gating stage has released them: the first
    /// sequence, or [`RingError::Full`] (nothing taken).
    fn try_take(&mut self, n: i64) -> Result<i64, RingError>;

    /// Whether the ring was halted.
    fn halted(&self) -> bool;
}

/// The waiting loop of `claim_n_timeout`, one for both producers: tries to take
/// `n` slots until it works, the ring halts, or `timeout` passes. The clock is
/// read only once the ring has been found full.
pub(crate) fn take_with_timeout(
    p: &mut impl TakeSlots,
    n: i64,
    timeout: Duration,
) -> Result<i64, RingError> {
    let mut round = 0;
    let mut deadline = None;
    loop {
        match p.try_take(n) {
            Err(RingError::Full) => {}
            taken => return taken,
        }
        if p.halted() {
            return Err(RingError::Halted);
        }
        let d = *deadline.get_or_insert_with(|| Instant::now() + timeout);
        if Instant::now() >= d {
            return Err(RingError::Timeout);
        }
        producer_idle(&mut round);
    }
}

/// Idle step for producers waiting on a full ring: spin a little, then yield.
#[inline]
pub(crate) fn producer_idle(round: &mut u32) {
    if *round < 64 {
        *round += 1;
        spin_loop();
    } else {
        yield_now();
    }
}
