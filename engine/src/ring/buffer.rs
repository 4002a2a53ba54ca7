//! Slot storage: a pre-allocated, power-of-two array of `T`, indexed by
//! `sequence & mask`.
//!
//! The buffer itself enforces nothing about who may touch a slot when; the
//! sequencers and barriers do (see [`crate::ring`] for the rules). Slots are filled
//! once by a factory at construction and then reused in place forever: publishing
//! an event writes into an existing `T`, it never allocates.

use super::RingError;
use super::sync::SlotCell;

/// The slot array of a ring.
pub struct RingBuffer<T> {
    slots: Box<[SlotCell<T>]>,
    mask: i64,
}

// SAFETY: slots are only reached through `slot_ptr`/`slot_read_ptr`, whose
// callers (producers holding a claim, stages behind a barrier) guarantee by the sequence protocol that a slot is
// either written by one thread or read by several, never both at once. Moving `T`
// values between threads needs `T: Send`; shared reads from several stage threads
// need `T: Sync`.
unsafe impl<T: Send + Sync> Sync for RingBuffer<T> {}
// SAFETY: the buffer owns its `T`s; sending it sends them.
unsafe impl<T: Send> Send for RingBuffer<T> {}

impl<T> RingBuffer<T> {
    /// Allocates `size` slots, each filled by `factory`. `size` must be a power of
    /// two and at least 1.
    pub fn new(size: usize, mut factory: impl FnMut() -> T) -> Result<Self, RingError> {
        if size == 0 || !size.is_power_of_two() || size > (1 << 40) {
            return Err(RingError::BadSize(size));
        }
        let slots: Box<[SlotCell<T>]> = (0..size).map(|_| SlotCell::new(factory())).collect();
        Ok(RingBuffer {
            slots,
            mask: size as i64 - 1,
        })
    }

    /// Number of slots.
    #[inline]
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Raw pointer to the slot that `sequence` maps to. Never out of bounds.
    ///
    /// Dereferencing it is the caller's responsibility: a shared reference is sound
    /// only while the caller is behind a barrier that covers `sequence` and before it
    /// publishes a sequence past it; a unique reference only while the caller holds
    /// the claim for `sequence` (producer) or is the sole mutating stage allowed at
    /// that point of the graph.
    #[inline]
    #[cfg_attr(loom, track_caller)]
    pub fn slot_ptr(&self, sequence: i64) -> *mut T {
        self.cell(sequence).write_ptr()
    }

    /// Raw pointer to the slot that `sequence` maps to, for reading only: the
    /// same pointer as [`RingBuffer::slot_ptr`], but under the loom model checker
    /// it records a shared access (several stages may read a slot at once)
    /// instead of an exclusive one.
    #[inline]
    #[cfg_attr(loom, track_caller)]
    pub fn slot_read_ptr(&self, sequence: i64) -> *const T {
        self.cell(sequence).read_ptr()
    }

    /// Asks the CPU to bring the slot of `sequence` into cache: a hint, not an
    /// access (no ordering, never faults; nothing at all under loom or off
    /// x86-64). A stage waiting for `sequence` issues it on every poll so that,
    /// when the publication arrives, the slot's line is fetched together with
    /// the sequence's line instead of one cache miss after it.
    #[inline]
    pub(crate) fn prefetch(&self, sequence: i64) {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let p = self.cell(sequence).read_ptr().cast::<i8>();
            // SAFETY: `sse` is part of the x86-64 baseline, so the instruction
            // exists; a prefetch reads nothing observable and never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom))))]
        let _ = sequence;
    }

    #[inline]
    fn cell(&self, sequence: i64) -> &SlotCell<T> {
        let index = (sequence & self.mask) as usize;
        // SAFETY: `mask` is `len - 1` with `len` a power of two, so `index < len`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// Exclusive access to every slot, for inspection or reset while no thread
    /// uses the ring (the borrow checker proves that here).
    pub fn slots_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().map(SlotCell::get_mut)
    }
}

impl<T> std::fmt::Debug for RingBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuffer")
            .field("size", &self.size())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_power_of_two() {
        assert!(matches!(
            RingBuffer::new(0, || 0u8),
            Err(RingError::BadSize(0))
        ));
        assert!(matches!(
            RingBuffer::new(6, || 0u8),
            Err(RingError::BadSize(6))
        ));
        assert!(RingBuffer::new(1, || 0u8).is_ok());
        assert!(RingBuffer::new(8, || 0u8).is_ok());
    }

    #[test]
    fn factory_fills_every_slot_and_mask_wraps() {
        let mut n = 0;
        let mut b = RingBuffer::new(4, || {
            n += 1;
            n
        })
        .unwrap();
        assert_eq!(b.size(), 4);
        assert_eq!(b.slot_ptr(0), b.slot_ptr(4));
        assert_eq!(b.slot_ptr(3), b.slot_ptr(7));
        assert_ne!(b.slot_ptr(0), b.slot_ptr(1));
        let vals: Vec<i32> = b.slots_mut().map(|v| *v).collect();
        assert_eq!(vals, vec![1, 2, 3, 4]);
    }
}
