//! The ring's concurrency primitives, in one place so that a model checker can
//! replace them.
//!
//! Normal builds re-export `std`'s atomics, `spin_loop` and `yield_now`, and wrap
//! `std::cell::UnsafeCell`: zero cost, the generated code is the same as using
//! `std` directly. Built with `RUSTFLAGS="--cfg loom"`, the same names come from
//! [loom](https://docs.rs/loom), which explores every interleaving (and every
//! value a weakly ordered load may return) of the model tests in
//! `engine/tests/loom_ring.rs`, and checks every slot access against the
//! happens-before relation the sequences establish. `spin_loop`/`yield_now` must
//! come from here in every wait loop of the ring: under loom they tell the
//! scheduler that the thread cannot progress until another one runs.
//!
//! The blocking wait strategy's mutex and condition variable come from here too:
//! under loom a sleeping stage really blocks (loom's `wait_timeout` never times
//! out), so a lost wake-up shows up as a deadlock. Not covered by the model: `Arc`.

#[cfg(not(loom))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

#[cfg(loom)]
pub(crate) use loom::hint::spin_loop;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;

/// A slot's storage: an `UnsafeCell` whose pointer accessors say whether the
/// caller is about to read or write, so that loom can check each access.
pub(crate) struct SlotCell<T> {
    #[cfg(not(loom))]
    cell: std::cell::UnsafeCell<T>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<T>,
}

#[cfg(not(loom))]
impl<T> SlotCell<T> {
    #[inline]
    pub(crate) fn new(value: T) -> Self {
        SlotCell {
            cell: std::cell::UnsafeCell::new(value),
        }
    }

    /// Pointer for reading the slot (shared access).
    #[inline]
    pub(crate) fn read_ptr(&self) -> *mut T {
        self.cell.get()
    }

    /// Pointer for writing the slot (exclusive access).
    #[inline]
    pub(crate) fn write_ptr(&self) -> *mut T {
        self.cell.get()
    }

    /// Exclusive access proven by `&mut self`.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.cell.get_mut()
    }
}

#[cfg(loom)]
impl<T> SlotCell<T> {
    pub(crate) fn new(value: T) -> Self {
        SlotCell {
            cell: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Pointer for reading the slot; loom records a read here and panics if it
    /// does not happen-after the last write.
    #[track_caller]
    pub(crate) fn read_ptr(&self) -> *mut T {
        self.cell.with(|p| p as *mut T)
    }

    /// Pointer for writing the slot; loom records a write here and panics if it
    /// does not happen-after every earlier read and write.
    #[track_caller]
    pub(crate) fn write_ptr(&self) -> *mut T {
        self.cell.with_mut(|p| p)
    }

    /// Exclusive access proven by `&mut self`.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every other access for the borrow's life.
        self.cell.with_mut(|p| unsafe { &mut *p })
    }
}
