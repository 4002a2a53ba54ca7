//! Stages: the batch event processor and the handler traits it drives.
//!
//! A stage waits on its [`Barrier`], hands every available event to its handler in
//! sequence order (told where each batch starts and ends), and then publishes its
//! own sequence once for the whole batch: one `Release` store per batch, however
//! large. An optional maximum batch size bounds how long downstream stages and
//! producers wait for that store.
//!
//! # Who may mutate a slot
//!
//! Most stages read slots (`&T`, [`EventHandler`]). A stage may write into the slot
//! (`&mut T`, [`EventHandlerMut`], e.g. to leave a result for a later stage) only if
//! **no other stage can touch the same slot at the same time**: every other stage
//! must be either upstream of it (it waits for them, transitively) or downstream of
//! it (they wait for it, transitively). Then upstream stages are done with the slot
//! before the writer sees it (their Release, its Acquire), downstream stages see it
//! only after the writer's Release store, and producers are gated behind the
//! terminal stages, so behind the writer too. A sibling running in parallel (journal
//! next to replication) would race with it, so [`crate::pipeline`] rejects such a
//! graph; the raw constructors here are `unsafe` and leave that proof to the caller.

use super::barrier::Barrier;
use super::core::Ring;
use super::sequence::{INITIAL, Sequence};
use super::sequencer::Sequencer;
use super::sync::Ordering;
use super::wait::WaitStrategy;
use std::marker::PhantomData;
use std::sync::Arc;

/// A read-only stage's logic. Called on the stage's own thread.
pub trait EventHandler<T>: Send {
    /// Handles the event at `sequence`; `end_of_batch` is true on the last event
    /// of the batch (flush buffered work there: write the journal, send the datagram).
    fn on_event(&mut self, event: &T, sequence: i64, end_of_batch: bool);

    /// Called before the first event of each batch with the batch size.
    fn on_batch_start(&mut self, batch_size: usize) {
        let _ = batch_size;
    }

    /// Called once on the stage thread before the first event.
    fn on_start(&mut self) {}

    /// Called once on the stage thread after the last event, when halting.
    fn on_halt(&mut self) {}
}

/// A stage's logic that writes into the slot (see the module docs for when that
/// is allowed).
pub trait EventHandlerMut<T>: Send {
    /// Handles (and may modify) the event at `sequence`.
    fn on_event(&mut self, event: &mut T, sequence: i64, end_of_batch: bool);

    /// Called before the first event of each batch with the batch size.
    fn on_batch_start(&mut self, batch_size: usize) {
        let _ = batch_size;
    }

    /// Called once on the stage thread before the first event.
    fn on_start(&mut self) {}

    /// Called once on the stage thread after the last event, when halting.
    fn on_halt(&mut self) {}
}

impl<T, F: FnMut(&T, i64, bool) + Send> EventHandler<T> for F {
    #[inline]
    fn on_event(&mut self, event: &T, sequence: i64, end_of_batch: bool) {
        self(event, sequence, end_of_batch)
    }
}

/// How a processor hands a slot to its handler: [`Reader`] (`&T`) or [`Writer`]
/// (`&mut T`). Sealed: the two wrappers are the only implementations.
pub trait Dispatch<T>: Send + sealed::Sealed {
    /// The handler inside.
    type Handler;
    /// Whether the handler gets `&mut T` (the processor asks the buffer for a
    /// write pointer, which only the loom model checker tells apart).
    const WRITES: bool;
    /// Calls the handler on the slot behind `slot`.
    ///
    /// # Safety
    /// `slot` must be valid and accessible as the wrapper requires (shared for
    /// `Reader`, exclusive for `Writer`) for the duration of the call.
    unsafe fn event(&mut self, slot: *mut T, sequence: i64, end_of_batch: bool);
    /// Forwards `on_batch_start`.
    fn batch_start(&mut self, n: usize);
    /// Forwards `on_start`.
    fn start(&mut self);
    /// Forwards `on_halt`.
    fn halt(&mut self);
    /// Unwraps the handler.
    fn into_handler(self) -> Self::Handler;
}

mod sealed {
    pub trait Sealed {}
    impl<H> Sealed for super::Reader<H> {}
    impl<H> Sealed for super::Writer<H> {}
}

/// Dispatch wrapper of a read-only handler.
pub struct Reader<H>(pub H);
/// Dispatch wrapper of a slot-mutating handler.
pub struct Writer<H>(pub H);

impl<T, H: EventHandler<T>> Dispatch<T> for Reader<H> {
    type Handler = H;
    const WRITES: bool = false;
    #[inline]
    unsafe fn event(&mut self, slot: *mut T, sequence: i64, end_of_batch: bool) {
        // SAFETY: the caller guarantees shared access to the slot for this call.
        self.0.on_event(unsafe { &*slot }, sequence, end_of_batch)
    }
    #[inline]
    fn batch_start(&mut self, n: usize) {
        self.0.on_batch_start(n)
    }
    fn start(&mut self) {
        self.0.on_start()
    }
    fn halt(&mut self) {
        self.0.on_halt()
    }
    fn into_handler(self) -> H {
        self.0
    }
}

impl<T, H: EventHandlerMut<T>> Dispatch<T> for Writer<H> {
    type Handler = H;
    const WRITES: bool = true;
    #[inline]
    unsafe fn event(&mut self, slot: *mut T, sequence: i64, end_of_batch: bool) {
        // SAFETY: the caller guarantees exclusive access to the slot for this call.
        self.0
            .on_event(unsafe { &mut *slot }, sequence, end_of_batch)
    }
    #[inline]
    fn batch_start(&mut self, n: usize) {
        self.0.on_batch_start(n)
    }
    fn start(&mut self) {
        self.0.on_start()
    }
    fn halt(&mut self) {
        self.0.on_halt()
    }
    fn into_handler(self) -> H {
        self.0
    }
}

/// One stage: a barrier, a handler, a wait strategy and the stage's own sequence.
pub struct BatchEventProcessor<T, S, D> {
    barrier: Barrier<T, S>,
    sequence: Arc<Sequence>,
    wait: WaitStrategy,
    max_batch: i64,
    handler: D,
    _t: PhantomData<fn(T)>,
}

impl<T: Send + Sync, S: Sequencer, H: EventHandler<T>> BatchEventProcessor<T, S, Reader<H>> {
    /// A read-only stage behind `barrier`.
    ///
    /// # Safety
    /// The producers of the ring must be gated on this stage's [`sequence`]
    /// (directly, or through stages downstream of it), and every stage that
    /// mutates slots must be upstream or downstream of this one. Otherwise a slot
    /// could be written while this stage reads it. [`crate::pipeline`] checks both.
    ///
    /// [`sequence`]: BatchEventProcessor::sequence
    pub unsafe fn new(
        barrier: Barrier<T, S>,
        handler: H,
        wait: WaitStrategy,
        max_batch: Option<usize>,
    ) -> Self {
        Self::build(barrier, Reader(handler), wait, max_batch)
    }
}

impl<T: Send + Sync, S: Sequencer, H: EventHandlerMut<T>> BatchEventProcessor<T, S, Writer<H>> {
    /// A slot-mutating stage behind `barrier`.
    ///
    /// # Safety
    /// As for [`BatchEventProcessor::new`], and moreover every other stage of the
    /// ring must be upstream or downstream of this one (none runs beside it).
    pub unsafe fn new_mut(
        barrier: Barrier<T, S>,
        handler: H,
        wait: WaitStrategy,
        max_batch: Option<usize>,
    ) -> Self {
        Self::build(barrier, Writer(handler), wait, max_batch)
    }
}

impl<T: Send + Sync, S: Sequencer, D: Dispatch<T>> BatchEventProcessor<T, S, D> {
    fn build(barrier: Barrier<T, S>, handler: D, wait: WaitStrategy, max: Option<usize>) -> Self {
        if wait.needs_wakeups() {
            barrier.ring().enable_wakeups();
        }
        let max_batch = max.map_or(i64::MAX / 4, |m| (m.max(1) as i64).min(i64::MAX / 4));
        BatchEventProcessor {
            barrier,
            sequence: Arc::new(Sequence::new(INITIAL)),
            wait,
            max_batch,
            handler,
            _t: PhantomData,
        }
    }

    /// This stage's sequence: the last event it finished. Gate producers or later
    /// stages on it; read it for monitoring.
    pub fn sequence(&self) -> Arc<Sequence> {
        Arc::clone(&self.sequence)
    }

    /// Runs the stage on the current thread until the ring is halted and every
    /// event up to the halt sequence is processed; returns the handler.
    pub fn run(mut self) -> D::Handler {
        let ring: &Ring<T, S> = self.barrier.ring();
        let buffer = &ring.buffer;
        self.handler.start();
        let mut next = self.sequence.get_relaxed() + 1;
        let mut round = 0u32;
        'run: loop {
            let limit = next + self.max_batch - 1;
            let mut available = self.barrier.available(next, limit);
            // Idle: re-check only the barrier (and the halt word, a read-mostly
            // line) until something arrives, so the hot path stays one load.
            while available < next {
                if next > ring.halt_at.get() {
                    break 'run;
                }
                buffer.prefetch(next);
                let barrier = &self.barrier;
                // Sleep unless there is work or the halt point is behind us. A
                // halt at or above `next` is not a reason to stay awake: the
                // stage still waits for its upstream, which wakes it when it
                // publishes (found by the loom model: waking on any halt made a
                // blocking stage spin hot while its upstream drained).
                self.wait.idle(&mut round, &ring.waker, || {
                    barrier.available(next, next) >= next || next > ring.halt_at.get()
                });
                available = self.barrier.available(next, limit);
            }
            round = 0;
            // Never hand out events past a halt sequence (a halt drains exactly
            // what was published before it).
            let halt_at = ring.halt_at.get();
            if available > halt_at {
                if next > halt_at {
                    break;
                }
                available = halt_at;
            }
            self.handler.batch_start((available - next + 1) as usize);
            for s in next..=available {
                let slot = if D::WRITES {
                    buffer.slot_ptr(s)
                } else {
                    buffer.slot_read_ptr(s).cast_mut()
                };
                // SAFETY: the barrier reported `s` available (Acquire), so its
                // producer and every upstream stage are done writing it; no
                // producer can reuse the slot before this stage's sequence passes
                // `s` (gating contract of `new`); no other stage mutates it
                // concurrently (mutation contract of `new`/`new_mut`).
                unsafe { self.handler.event(slot, s, s == available) };
            }
            // Release: our reads (and writes) of the batch happen-before whatever
            // a producer or downstream stage does after seeing this value.
            self.sequence.set(available);
            if ring.wakeups.load(Ordering::Relaxed) {
                ring.waker.wake();
            }
            next = available + 1;
        }
        self.handler.halt();
        self.handler.into_handler()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MultiSequencer, Producer, SingleSequencer};
    use super::*;
    use std::time::Duration;

    #[derive(Default)]
    struct Recorder {
        seen: Vec<(i64, u64, bool)>,
        batches: Vec<usize>,
        started: bool,
        halted: bool,
    }

    impl EventHandler<u64> for Recorder {
        fn on_event(&mut self, e: &u64, seq: i64, eob: bool) {
            self.seen.push((seq, *e, eob));
        }
        fn on_batch_start(&mut self, n: usize) {
            self.batches.push(n);
        }
        fn on_start(&mut self) {
            self.started = true;
        }
        fn on_halt(&mut self) {
            self.halted = true;
        }
    }

    #[test]
    fn batches_are_reported_and_halt_drains() {
        let ring: Arc<Ring<u64, SingleSequencer>> = Ring::new(16, || 0).unwrap();
        // SAFETY: the producer below is gated on this stage's sequence; no writer.
        let stage = unsafe {
            BatchEventProcessor::new(
                ring.barrier(&[]),
                Recorder::default(),
                WaitStrategy::YIELD,
                Some(4),
            )
        };
        let seq = stage.sequence();
        let mut p = ring.single_producer(vec![seq.clone()]).unwrap();
        // Publish 10 before the stage starts: it must see batches capped at 4.
        p.publish_batch_with(10, |i, s| *s = i as u64 * 3).unwrap();
        let h = std::thread::spawn(move || stage.run());
        while seq.get() < 9 {
            std::thread::yield_now();
        }
        assert_eq!(ring.halt(seq.get()), 9);
        let r = h.join().unwrap();
        assert!(r.started && r.halted);
        assert_eq!(r.seen.len(), 10);
        for (i, (s, v, _)) in r.seen.iter().enumerate() {
            assert_eq!((*s, *v), (i as i64, i as u64 * 3));
        }
        assert_eq!(r.batches, vec![4, 4, 2]);
        let eobs: Vec<i64> = r.seen.iter().filter(|x| x.2).map(|x| x.0).collect();
        assert_eq!(eobs, vec![3, 7, 9]);
    }

    struct Doubler;
    impl EventHandlerMut<u64> for Doubler {
        fn on_event(&mut self, e: &mut u64, _: i64, _: bool) {
            *e *= 2;
        }
    }

    #[test]
    fn writer_then_reader_with_blocking_waits() {
        let ring: Arc<Ring<u64, MultiSequencer>> = Ring::new(8, || 0).unwrap();
        let block = WaitStrategy::Block {
            spins: 1,
            timeout: Duration::from_millis(50),
        };
        // SAFETY: writer is the only other stage and the reader is downstream of
        // it; producers are gated on the reader, the terminal stage.
        let writer =
            unsafe { BatchEventProcessor::new_mut(ring.barrier(&[]), Doubler, block, None) };
        let wseq = writer.sequence();
        let reader = unsafe {
            BatchEventProcessor::new(
                ring.barrier(std::slice::from_ref(&wseq)),
                Recorder::default(),
                block,
                None,
            )
        };
        let rseq = reader.sequence();
        assert!(ring.wakeups.load(Ordering::Relaxed));
        let mut p = ring.multi_producer(vec![rseq.clone()]).unwrap();
        let hw = std::thread::spawn(move || writer.run());
        let hr = std::thread::spawn(move || reader.run());
        for i in 0..100u64 {
            p.publish_with(|s| *s = i).unwrap();
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2)); // let stages fall asleep
            }
        }
        while rseq.get() < 99 {
            std::thread::yield_now();
        }
        ring.halt(rseq.get());
        hw.join().unwrap();
        let r = hr.join().unwrap();
        let vals: Vec<u64> = r.seen.iter().map(|x| x.1).collect();
        assert_eq!(vals, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn halt_with_nothing_published_stops_idle_stages() {
        let ring: Arc<Ring<u64, SingleSequencer>> = Ring::new(4, || 0).unwrap();
        // SAFETY: no producer ever publishes on this ring.
        let stage = unsafe {
            BatchEventProcessor::new(
                ring.barrier(&[]),
                Recorder::default(),
                WaitStrategy::BLOCK,
                None,
            )
        };
        let h = std::thread::spawn(move || stage.run());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(ring.halt(INITIAL), INITIAL);
        let r = h.join().unwrap();
        assert!(r.seen.is_empty() && r.halted);
    }
}
