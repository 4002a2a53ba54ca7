//! The Disruptor: a pre-allocated ring of slots, written in place by producers and
//! read by stages that depend on each other.
//!
//! Parts, one file each:
//! - [`Sequence`] (`sequence.rs`): cache-padded atomic sequence numbers.
//! - [`RingBuffer`] (`buffer.rs`): power-of-two slot storage filled by a factory.
//! - [`Ring`] (`core.rs`): slots + sequencer + waker + halt state, shared by `Arc`.
//! - [`SingleSequencer`]/[`SingleProducer`] (`single.rs`): one producer thread, no
//!   atomic read-modify-write on claim, cached gating sequence.
//! - [`MultiSequencer`]/[`MultiProducer`] (`multi.rs`): fetch-add claims, per-slot
//!   lap numbers for publication, no shared publish cursor.
//! - [`Producer`]/[`Claim`] (`producer.rs`): try / blocking / timed claims of one
//!   or `n` slots, written in place, published on drop.
//! - [`Barrier`] (`barrier.rs`): a stage gated on any set of upstream sequences.
//! - [`WaitStrategy`]/[`Waker`] (`wait.rs`): busy-spin, yield, block.
//! - [`BatchEventProcessor`] and the handler traits (`processor.rs`).
//!
//! [`crate::pipeline`] wires these into a graph safely; use it rather than the
//! `unsafe` processor constructors.
//!
//! # Memory ordering
//!
//! Slots are plain memory (`UnsafeCell<T>`). Every hand-over of a slot is a
//! `Release` store of a sequence (or lap) by the thread that finished with it and
//! an `Acquire` load by the thread that takes it next:
//! producer writes → publish (`Release`: cursor or lap) → stage barrier load
//! (`Acquire`) → stage reads → stage sequence (`Release`) → downstream barrier or
//! producer gating check (`Acquire`) → next use. The claim counter of the
//! multi-producer sequencer only arbitrates who owns a range and is `Relaxed`. No
//! `SeqCst` anywhere on the data path; the blocking wake-up check adds one `SeqCst`
//! fence per publish, and only on rings that have a blocking stage.

mod barrier;
mod buffer;
mod core;
mod error;
mod multi;
mod processor;
mod producer;
mod sequence;
mod sequencer;
mod single;
mod sync;
mod wait;

pub use barrier::Barrier;
pub use buffer::RingBuffer;
pub use core::Ring;
pub use error::RingError;
pub use multi::{MultiProducer, MultiSequencer};
pub use processor::{BatchEventProcessor, Dispatch, EventHandler, EventHandlerMut, Reader, Writer};
pub use producer::{Claim, Producer};
pub use sequence::{INITIAL, Sequence, minimum};
pub use sequencer::Sequencer;
pub use single::{SingleProducer, SingleSequencer};
pub use wait::{UnknownWaitStrategy, WaitStrategy, Waker};
