//! [`Ring`]: the slots plus everything producers and stages share about them.

use super::buffer::RingBuffer;
use super::sequence::Sequence;
use super::sequencer::Sequencer;
use super::sync::{AtomicBool, Ordering};
use super::wait::Waker;
use super::{Barrier, RingError};
use std::sync::Arc;

/// Value of the halt sequence while the ring runs.
pub(crate) const NOT_HALTED: i64 = i64::MAX;

/// A ring: pre-allocated slots of `T` and the publication state of sequencer `S`.
///
/// Shared through `Arc` by its producers and stages. Create one with
/// [`Ring::new`], get producers from it (`single_producer`/`multi_producer`), and
/// gate stages on it with [`Ring::barrier`]; or let [`crate::pipeline`] do the wiring.
pub struct Ring<T, S> {
    pub(crate) buffer: RingBuffer<T>,
    pub(crate) sequencer: S,
    pub(crate) size: i64,
    /// Whether any stage may sleep, so publishers must run the wake-up check.
    pub(crate) wakeups: AtomicBool,
    pub(crate) producer_taken: AtomicBool,
    pub(crate) waker: Waker,
    /// The last sequence stages process after a halt; `NOT_HALTED` while running.
    pub(crate) halt_at: Sequence,
}

impl<T: Send + Sync, S: Sequencer> Ring<T, S> {
    /// A ring of `size` slots (a power of two), each filled by `factory`.
    pub fn new(size: usize, factory: impl FnMut() -> T) -> Result<Arc<Self>, RingError> {
        let buffer = RingBuffer::new(size, factory)?;
        Ok(Arc::new(Ring {
            buffer,
            sequencer: S::with_size(size),
            size: size as i64,
            wakeups: AtomicBool::new(false),
            producer_taken: AtomicBool::new(false),
            waker: Waker::new(),
            halt_at: Sequence::new(NOT_HALTED),
        }))
    }

    /// A barrier over `deps`: a stage behind it sees sequence `s` only once every
    /// stage in `deps` has processed `s`. With no deps the stage follows the
    /// producers directly. `ring.barrier(&[journal, replication])` is how business
    /// logic waits for the smaller of the two.
    pub fn barrier(self: &Arc<Self>, deps: &[Arc<Sequence>]) -> Barrier<T, S> {
        Barrier::new(Arc::clone(self), deps.to_vec())
    }

    /// The slots. Dereferencing a slot pointer is sound only under the sequence
    /// protocol (see [`RingBuffer::slot_ptr`]); this is for stages built
    /// directly on a [`Barrier`] (the loom model tests do) rather than on
    /// [`super::BatchEventProcessor`].
    pub fn buffer(&self) -> &RingBuffer<T> {
        &self.buffer
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.buffer.size()
    }

    /// The highest sequence published so far, looking no lower than
    /// `known_published + 1`.
    pub fn published_from(&self, known_published: i64) -> i64 {
        self.sequencer
            .highest_published(known_published + 1, NOT_HALTED - 1)
    }

    /// Turns on the wake-up check in publishers; done automatically when a
    /// blocking stage is created on this ring.
    pub fn enable_wakeups(&self) {
        self.wakeups.store(true, Ordering::Release);
    }

    /// Halts the ring: stages process everything published up to now and then
    /// stop; producers blocked on a full ring get [`RingError::Halted`].
    /// `consumed` is a sequence every terminal stage has processed (the minimum of
    /// their sequences): publication is scanned from just above it. Returns the
    /// last sequence stages will process. Stop producers first for a full drain:
    /// what they publish after this call is not processed.
    pub fn halt(&self, consumed: i64) -> i64 {
        let current = self.halt_at.get();
        if current != NOT_HALTED {
            return current;
        }
        let last = self.published_from(consumed);
        // Compare-exchange, not a store: a concurrent `abort` (a stage died) may
        // have set a lower halt point meanwhile, and it must win.
        match self.halt_at.atomic().compare_exchange(
            NOT_HALTED,
            last,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.waker.wake_all();
                last
            }
            Err(current) => current,
        }
    }

    /// Halts at once at `at` (or lower if already halted lower): used when a stage
    /// dies, so that stages behind it stop instead of waiting for it forever.
    pub fn abort(&self, at: i64) {
        self.halt_at.atomic().fetch_min(at, Ordering::AcqRel);
        self.waker.wake_all();
    }

    /// Whether [`Ring::halt`] was called.
    pub fn is_halted(&self) -> bool {
        self.halt_at.get() != NOT_HALTED
    }

    /// Publisher side of the wake-up protocol: cheap when no stage can sleep.
    #[inline]
    pub(crate) fn after_publish(&self) {
        if self.wakeups.load(Ordering::Relaxed) {
            self.waker.wake();
        }
    }

    /// The waker stages sleep on.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }
}

impl<T, S> std::fmt::Debug for Ring<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("size", &self.size)
            .field("halt_at", &self.halt_at.get_relaxed())
            .finish()
    }
}
