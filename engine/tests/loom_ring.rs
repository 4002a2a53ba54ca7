//! Model-checked tests of the ring's concurrency with [loom](https://docs.rs/loom).
//!
//! Run with (scripts/test.sh does):
//! `RUSTFLAGS="--cfg loom" cargo test -p engine --release --test loom_ring --target-dir target/loom`
//!
//! Under `--cfg loom`, `engine::ring::sync` swaps the ring's atomics, fences and
//! spin/yield hints for loom's, and every slot is a loom `UnsafeCell` whose
//! accesses are recorded: a stage's read of a slot, or a producer's write into it,
//! that is not ordered by happens-before after the previous conflicting access
//! makes loom fail the test (that is how "published means visible" and "a
//! producer never overwrites a slot a gating stage has not released" are
//! checked, on top of the explicit assertions on what each stage saw).
//!
//! Each model is small (rings of 1–4 slots, 3–4 events, most of them wrapping
//! the ring and hitting back-pressure) and runs with a bounded number of
//! preemptions (3 unless `LOOM_MAX_PREEMPTIONS` says otherwise), which is where
//! ordering bugs of this kind show up in practice.
//!
//! Loom cannot explore a model in which two threads spin at once while a third
//! one has to run for either to progress (switching between two yielding
//! spinners costs no preemption, so that path never ends). Hence at most two
//! threads ever wait by spinning: the multi-producer models use a ring large
//! enough that producers never wait, and the multi-stage models (diamond,
//! writer → reader) run the extra stages on the main thread, written directly on
//! `Barrier` (the same `available` + slot read + `Sequence::set` the processor
//! does). The blocking wait strategy has its own model: its mutex and condition
//! variable are loom's, so a lost wake-up is a deadlock there. (Its `SeqCst`
//! fences are modeled by loom as a global synchronization point, stronger than
//! the hardware, which is why the ordering checks proper use busy-spin stages.)
#![cfg(loom)]

use engine::ring::{
    BatchEventProcessor, EventHandler, EventHandlerMut, INITIAL, MultiSequencer, Producer,
    RingError, SingleSequencer, WaitStrategy,
};
use engine::ring::{Ring, Sequence};
use loom::thread;
use std::sync::Arc;

/// A slot of two words, always written with the same value: a stage that saw
/// them differ would have read a half-written slot.
type Slot = [u64; 2];

/// Runs `f` under every interleaving loom explores with at most 3 preemptions
/// (unless `LOOM_MAX_PREEMPTIONS` says otherwise).
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(3, f);
}

/// [`model`] with `preemptions` as the default bound: 2 for the models with
/// three threads, which take ten times longer at 3 (~35-55 s on one core)
/// without reaching interleavings of a different kind.
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
    }
    b.check(f);
}

/// A read-only stage that records `(sequence, value)` of everything it sees.
#[derive(Default)]
struct Seen(Vec<(i64, u64)>);

impl EventHandler<Slot> for Seen {
    fn on_event(&mut self, e: &Slot, sequence: i64, _end_of_batch: bool) {
        assert_eq!(e[0], e[1], "torn slot at {sequence}");
        self.0.push((sequence, e[0]));
    }
}

/// A slot-mutating stage: doubles the value in place.
struct Doubler;

impl EventHandlerMut<Slot> for Doubler {
    fn on_event(&mut self, e: &mut Slot, _sequence: i64, _end_of_batch: bool) {
        e[0] *= 2;
        e[1] *= 2;
    }
}

/// A read-only stage reading directly behind the producers (or behind `deps`).
fn reader<S: engine::ring::Sequencer>(
    ring: &Arc<Ring<Slot, S>>,
    deps: &[Arc<Sequence>],
    wait: WaitStrategy,
) -> BatchEventProcessor<Slot, S, engine::ring::Reader<Seen>> {
    // SAFETY: every test gates its producers on the terminal stages, and the only
    // mutating stage (`writer_stage_hands_over_to_the_stage_behind_it`) is
    // upstream of its reader.
    unsafe { BatchEventProcessor::new(ring.barrier(deps), Seen::default(), wait, None) }
}

/// Busy-spin: no synchronization besides the ring's own sequences.
const SPIN: WaitStrategy = WaitStrategy::BusySpin;

/// Blocking right away (one spin, the bounded yields, then sleep).
const BLOCK: WaitStrategy = WaitStrategy::Block {
    spins: 1,
    timeout: std::time::Duration::from_millis(1),
};

fn write(slot: &mut Slot, v: u64) {
    slot[0] = v;
    slot[1] = v;
}

/// Single producer, one stage, 3 events through 2 slots: the stage sees every
/// event once, in order, with the producer's writes (the slot accesses are
/// checked by loom), and the producer waits for the stage before reusing a slot.
#[test]
fn single_producer_publish_is_visible_and_gated() {
    model(|| {
        let ring: Arc<Ring<Slot, SingleSequencer>> = Ring::new(2, || [0; 2]).unwrap();
        let stage = reader(&ring, &[], SPIN);
        let seq = stage.sequence();
        let mut p = ring.single_producer(vec![seq.clone()]).unwrap();
        let h = thread::spawn(move || stage.run());
        for v in 0..3u64 {
            p.publish_with(|s| write(s, v + 1)).unwrap();
        }
        assert_eq!(ring.halt(seq.get()), 2);
        let seen = h.join().unwrap().0;
        assert_eq!(seen, vec![(0, 1), (1, 2), (2, 3)]);
    });
}

/// Single producer, batch publish and `try_claim`: a full ring is reported, not
/// overwritten, and a batch becomes visible as a whole.
#[test]
fn single_producer_batch_and_try_claim_respect_gating() {
    model(|| {
        let ring: Arc<Ring<Slot, SingleSequencer>> = Ring::new(2, || [0; 2]).unwrap();
        let stage = reader(&ring, &[], SPIN);
        let seq = stage.sequence();
        let mut p = ring.single_producer(vec![seq.clone()]).unwrap();
        let h = thread::spawn(move || stage.run());
        p.publish_batch_with(2, |i, s| write(s, i as u64 + 1))
            .unwrap();
        loop {
            match p.try_claim() {
                Ok(mut c) => {
                    write(c.first_mut(), 3);
                    break;
                }
                Err(RingError::Full) => thread::yield_now(),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ring.halt(seq.get()), 2);
        let seen = h.join().unwrap().0;
        assert_eq!(seen, vec![(0, 1), (1, 2), (2, 3)]);
    });
}

/// Two producers claiming by `fetch_add`, 3 events: claims never overlap, and
/// the per-slot lap marks make the stage see exactly the published events,
/// contiguously in sequence order, each once, with its data, although the
/// producers publish out of order. (A 4-slot ring, so that no producer spins
/// beside the stage; wrapping is `multi_producer_laps_survive_wrap_around`.)
#[test]
fn multi_producer_fetch_add_claims_are_unique_and_seen_in_order() {
    model_bounded(2, || {
        let ring: Arc<Ring<Slot, MultiSequencer>> = Ring::new(4, || [0; 2]).unwrap();
        let stage = reader(&ring, &[], SPIN);
        let seq = stage.sequence();
        let p = ring.multi_producer(vec![seq.clone()]).unwrap();
        let consumer = thread::spawn(move || stage.run());
        let producers: Vec<_> = [(1u64, 2u64), (10, 1)]
            .into_iter()
            .map(|(base, count)| {
                let mut p = p.clone();
                thread::spawn(move || {
                    (0..count)
                        .map(|k| p.publish_with(|s| write(s, base + k)).unwrap())
                        .collect::<Vec<i64>>()
                })
            })
            .collect();
        let mut claimed: Vec<i64> = producers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        claimed.sort_unstable();
        assert_eq!(claimed, vec![0, 1, 2], "claims overlap or skip");
        assert_eq!(ring.halt(seq.get()), 2);
        let seen = consumer.join().unwrap().0;
        let seqs: Vec<i64> = seen.iter().map(|x| x.0).collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        let mut values: Vec<u64> = seen.iter().map(|x| x.1).collect();
        // Each producer's events in its own order, nothing lost or duplicated.
        let first: Vec<u64> = values.iter().copied().filter(|v| *v < 10).collect();
        assert_eq!(first, vec![1, 2]);
        values.sort_unstable();
        assert_eq!(values, vec![1, 2, 10]);
    });
}

/// Two producers using the compare-exchange claims (`try_claim_n` of a batch of
/// 2 and `try_claim` of 1): claims are unique and a batch's lap marks are seen
/// as a contiguous range.
#[test]
fn multi_producer_try_claims_are_unique_and_batches_contiguous() {
    model_bounded(2, || {
        let ring: Arc<Ring<Slot, MultiSequencer>> = Ring::new(4, || [0; 2]).unwrap();
        let stage = reader(&ring, &[], SPIN);
        let seq = stage.sequence();
        let p = ring.multi_producer(vec![seq.clone()]).unwrap();
        let consumer = thread::spawn(move || stage.run());
        let producers: Vec<_> = [(1u64, 2usize), (10, 1)]
            .into_iter()
            .map(|(base, n)| {
                let mut p = p.clone();
                thread::spawn(move || {
                    let mut c = p.try_claim_n(n).unwrap();
                    c.for_each_mut(|i, s| write(s, base + i as u64));
                    c.first()
                })
            })
            .collect();
        let firsts: Vec<i64> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        // The batch of 2 and the single claim got disjoint ranges covering 0..=2.
        assert!(
            firsts == vec![0, 2] || firsts == vec![1, 0],
            "claims overlap: {firsts:?}"
        );
        assert_eq!(ring.halt(seq.get()), 2);
        let seen = consumer.join().unwrap().0;
        let seqs: Vec<i64> = seen.iter().map(|x| x.0).collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        let b = firsts[0] as usize;
        assert_eq!((seen[b].1, seen[b + 1].1), (1, 2), "batch out of order");
        assert_eq!(seen[firsts[1] as usize].1, 10);
    });
}

/// One multi-producer handle and a busy-spin stage on a 2-slot ring, 5 events
/// (single and batch claims, blocking and try): every slot is reused in a
/// later lap, and the stage must tell the new lap from the old one, see each
/// batch whole, and release slots before the producer rewrites them.
#[test]
fn multi_producer_laps_survive_wrap_around() {
    model(|| {
        let ring: Arc<Ring<Slot, MultiSequencer>> = Ring::new(2, || [0; 2]).unwrap();
        let stage = reader(&ring, &[], SPIN);
        let seq = stage.sequence();
        let mut p = ring.multi_producer(vec![seq.clone()]).unwrap();
        let h = thread::spawn(move || stage.run());
        p.publish_with(|s| write(s, 1)).unwrap();
        p.publish_batch_with(2, |i, s| write(s, 2 + i as u64))
            .unwrap();
        loop {
            match p.try_claim() {
                Ok(mut c) => {
                    write(c.first_mut(), 4);
                    break;
                }
                Err(RingError::Full) => thread::yield_now(),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        p.publish_with(|s| write(s, 5)).unwrap();
        assert_eq!(ring.halt(seq.get()), 4);
        let seen = h.join().unwrap().0;
        assert_eq!(seen, vec![(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]);
    });
}

/// Diamond on a 2-slot ring, 3 events: stage A (a busy-spin processor) and
/// stage B follow the producer, C waits for the smaller of the two, and the
/// producer is gated on C alone. The main thread is the producer, B and C (B
/// and C are stages written on `Barrier` directly; a third spinning thread
/// would be beyond what loom can explore, see the module docs). C must read
/// only what A released, and the producer must not rewrite a slot A still
/// reads: it learns that only through C's barrier over `min(A, B)`.
#[test]
fn diamond_barrier_gates_on_the_slowest_dependency() {
    model(|| {
        let ring: Arc<Ring<Slot, SingleSequencer>> = Ring::new(2, || [0; 2]).unwrap();
        let a = reader(&ring, &[], SPIN);
        let sa = a.sequence();
        let sb = Arc::new(Sequence::default());
        let sc = Arc::new(Sequence::default());
        let b_barrier = ring.barrier(&[]);
        let c_barrier = ring.barrier(&[sa.clone(), sb.clone()]);
        let mut p = ring.single_producer(vec![sc.clone()]).unwrap();
        let ha = thread::spawn(move || a.run());
        for s in 0..3i64 {
            p.publish_with(|slot| write(slot, s as u64 + 1)).unwrap();
            // B: follows the producer.
            assert_eq!(b_barrier.available(s, s), s);
            // SAFETY: published (the barrier's Acquire), not yet released by C.
            let v = unsafe { *ring.buffer().slot_read_ptr(s) };
            assert_eq!(v, [s as u64 + 1; 2]);
            sb.set(s);
            // C: waits for both A and B.
            while c_barrier.available(s, s) < s {
                thread::yield_now();
            }
            // SAFETY: A and B released `s` (Acquire of their sequences); the
            // producer cannot rewrite it before C's sequence passes `s`.
            let v = unsafe { *ring.buffer().slot_read_ptr(s) };
            assert_eq!(v, [s as u64 + 1; 2]);
            sc.set(s);
        }
        assert_eq!(ring.halt(sc.get()), 2);
        assert_eq!(ha.join().unwrap().0, vec![(0, 1), (1, 2), (2, 3)]);
    });
}

/// A mutating stage (busy-spin processor) and, behind it, a stage written on
/// `Barrier` by the main thread, which is also the producer, on a 1-slot ring:
/// the stage behind sees the writer's change, and the producer (gated on the
/// last stage only) never rewrites the slot before the writer is done with it.
#[test]
fn writer_stage_hands_over_to_the_stage_behind_it() {
    model(|| {
        let ring: Arc<Ring<Slot, MultiSequencer>> = Ring::new(1, || [0; 2]).unwrap();
        // SAFETY: the only other stage is downstream of the writer, and the
        // producer is gated on it (the terminal stage).
        let w = unsafe { BatchEventProcessor::new_mut(ring.barrier(&[]), Doubler, SPIN, None) };
        let sw = w.sequence();
        let sr = Arc::new(Sequence::default());
        let r_barrier = ring.barrier(&[sw]);
        let mut p = ring.multi_producer(vec![sr.clone()]).unwrap();
        let hw = thread::spawn(move || w.run());
        for s in 0..2i64 {
            p.publish_with(|slot| write(slot, s as u64 + 1)).unwrap();
            while r_barrier.available(s, s) < s {
                thread::yield_now();
            }
            // SAFETY: the writer released `s` (Acquire of its sequence); the
            // producer cannot rewrite it before `sr` passes `s`.
            let v = unsafe { *ring.buffer().slot_read_ptr(s) };
            assert_eq!(v, [2 * (s as u64 + 1); 2]);
            sr.set(s);
        }
        assert_eq!(ring.halt(sr.get()), 1);
        hw.join().unwrap();
    });
}

/// A blocking stage (spins once, yields a few times, then sleeps on the
/// waker) behind a single producer on a 2-slot ring, 3 events: loom's condition
/// variable never times out, so a lost wake-up (publisher misses the sleeper and
/// the sleeper misses the publish) would be a deadlock here.
#[test]
fn blocking_stage_never_misses_a_wake_up() {
    model(|| {
        let ring: Arc<Ring<Slot, SingleSequencer>> = Ring::new(2, || [0; 2]).unwrap();
        let stage = reader(&ring, &[], BLOCK);
        let seq = stage.sequence();
        let mut p = ring.single_producer(vec![seq.clone()]).unwrap();
        let h = thread::spawn(move || stage.run());
        for v in 0..3u64 {
            p.publish_with(|s| write(s, v + 1)).unwrap();
        }
        assert_eq!(ring.halt(seq.get()), 2);
        assert_eq!(h.join().unwrap().0, vec![(0, 1), (1, 2), (2, 3)]);
    });
}

/// Halt while a producer is blocked on a full ring with no stage running:
/// the producer gets `Halted` instead of waiting forever.
#[test]
fn halt_releases_a_blocked_producer() {
    model(|| {
        let ring: Arc<Ring<Slot, SingleSequencer>> = Ring::new(1, || [0; 2]).unwrap();
        let gate = Arc::new(Sequence::default());
        let mut p = ring.single_producer(vec![gate]).unwrap();
        p.publish_with(|s| write(s, 1)).unwrap();
        let r2 = ring.clone();
        let h = thread::spawn(move || p.claim().err());
        assert_eq!(r2.halt(INITIAL), 0);
        assert_eq!(h.join().unwrap(), Some(RingError::Halted));
    });
}
