//! Stress suite for `engine::ring` and `engine::pipeline`: several producers,
//! diamonds and chains on tiny rings (8..64 slots, so every run wraps thousands of
//! times and producers hit back-pressure constantly). Every stage checks that it
//! sees every sequence exactly once and in order, that each producer's events
//! arrive in that producer's order with no gap or duplicate, and that no slot is
//! torn (every slot carries a checksum over all its words). CI runs this file in
//! debug and in release.

use engine::pipeline::{PipelineBuilder, StageConfig, StageId};
use engine::ring::{EventHandler, EventHandlerMut, Producer, RingError, WaitStrategy};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Events per producer. Tiny rings with more threads than the 2 CI cores make
/// every wrap a context switch, so counts stay modest (a few seconds per build).
const PER_PRODUCER: u64 = if cfg!(debug_assertions) {
    25_000
} else {
    60_000
};

/// Tests run one at a time: each already runs more threads than CI has cores, and
/// several at once only multiplies context switches.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    // A failed (panicked) test poisons the lock; the next test may still run.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy, Default)]
struct Slot {
    producer: u64,
    counter: u64,
    payload: [u64; 6],
    check: u64,
    /// Written by a mutating stage for later stages.
    result: u64,
}

fn mix(p: u64, c: u64, i: u64) -> u64 {
    (p.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ c.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .rotate_left(i as u32 * 7 + 1)
        .wrapping_add(i)
}

fn checksum(s: &Slot) -> u64 {
    s.payload
        .iter()
        .fold(s.producer ^ s.counter.rotate_left(17), |a, &w| {
            a.rotate_left(5) ^ w
        })
}

fn fill(s: &mut Slot, p: u64, c: u64) {
    s.producer = p;
    s.counter = c;
    for (i, w) in s.payload.iter_mut().enumerate() {
        *w = mix(p, c, i as u64);
    }
    s.check = checksum(s);
    s.result = u64::MAX;
}

fn expected_result(s: &Slot) -> u64 {
    s.payload[0] ^ s.payload[5]
}

/// A stage that verifies everything it sees.
struct Verifier {
    name: &'static str,
    next_seq: i64,
    next_counter: Vec<u64>,
    seen: u64,
    batches: u64,
    /// Whether a mutating stage upstream must have filled `result`.
    expect_result: bool,
}

impl Verifier {
    fn new(name: &'static str, producers: usize, expect_result: bool) -> Self {
        Verifier {
            name,
            next_seq: 0,
            next_counter: vec![0; producers],
            seen: 0,
            batches: 0,
            expect_result,
        }
    }

    fn check(&mut self, e: &Slot, seq: i64) {
        assert_eq!(seq, self.next_seq, "{}: sequence out of order", self.name);
        self.next_seq += 1;
        assert_eq!(e.check, checksum(e), "{}: torn slot at {seq}", self.name);
        for (i, w) in e.payload.iter().enumerate() {
            assert_eq!(
                *w,
                mix(e.producer, e.counter, i as u64),
                "{}: torn word",
                self.name
            );
        }
        let p = e.producer as usize;
        assert!(
            p < self.next_counter.len(),
            "{}: bad producer id",
            self.name
        );
        assert_eq!(
            e.counter, self.next_counter[p],
            "{}: producer {p} event lost, duplicated or reordered",
            self.name
        );
        self.next_counter[p] += 1;
        if self.expect_result {
            assert_eq!(
                e.result,
                expected_result(e),
                "{}: result missing",
                self.name
            );
        }
        self.seen += 1;
    }

    fn assert_complete(&self, producers: usize, per_producer: u64) {
        assert_eq!(
            self.seen,
            producers as u64 * per_producer,
            "{}: count",
            self.name
        );
        assert!(
            self.next_counter.iter().all(|&c| c == per_producer),
            "{}",
            self.name
        );
        assert!(self.batches > 0 && self.batches <= self.seen);
    }
}

impl EventHandler<Slot> for Verifier {
    fn on_event(&mut self, e: &Slot, seq: i64, _eob: bool) {
        self.check(e, seq);
    }
    fn on_batch_start(&mut self, _n: usize) {
        self.batches += 1;
    }
}

/// A stage that writes `result` into each slot after verifying it.
struct Enricher(Verifier);

impl EventHandlerMut<Slot> for Enricher {
    fn on_event(&mut self, e: &mut Slot, seq: i64, _eob: bool) {
        self.0.check(e, seq);
        e.result = expected_result(e);
    }
    fn on_batch_start(&mut self, _n: usize) {
        self.0.batches += 1;
    }
}

/// How producers claim.
#[derive(Clone, Copy)]
enum Claiming {
    /// Blocking `claim` of one slot.
    One,
    /// Blocking claims of 1..=4 slots at a time.
    Batches,
    /// `try_claim`, retrying (with a yield) on `Full`.
    Try,
    /// `claim_timeout` with a generous timeout.
    Timeout,
}

fn produce<P: Producer<Slot>>(mut p: P, id: u64, n: u64, how: Claiming) {
    let mut c = 0;
    while c < n {
        match how {
            Claiming::One => {
                p.publish_with(|s| fill(s, id, c)).unwrap();
                c += 1;
            }
            Claiming::Batches => {
                let k = ((c % 4) + 1).min(n - c) as usize;
                p.publish_batch_with(k, |i, s| fill(s, id, c + i as u64))
                    .unwrap();
                c += k as u64;
            }
            Claiming::Try => match p.try_claim() {
                Ok(mut cl) => {
                    fill(cl.first_mut(), id, c);
                    c += 1;
                }
                Err(RingError::Full) => thread::yield_now(),
                Err(e) => panic!("producer {id}: {e}"),
            },
            Claiming::Timeout => {
                let mut cl = p.claim_timeout(Duration::from_secs(30)).unwrap();
                fill(cl.first_mut(), id, c);
                c += 1;
            }
        }
    }
}

fn cfg(wait: WaitStrategy, max_batch: Option<usize>) -> StageConfig {
    StageConfig::default().wait(wait).max_batch(max_batch)
}

/// Runs `producers` multi-producer threads into a diamond
/// (journal ∥ replicate → logic) on a ring of `size`.
fn diamond(size: usize, producers: usize, how: Claiming, waits: [WaitStrategy; 3]) {
    let mut b = PipelineBuilder::multi_producer(size, Slot::default).unwrap();
    let j = b
        .stage(
            "journal",
            &[],
            Verifier::new("journal", producers, false),
            cfg(waits[0], None),
        )
        .unwrap();
    let r = b
        .stage(
            "replicate",
            &[],
            Verifier::new("replicate", producers, false),
            cfg(waits[1], Some(3)),
        )
        .unwrap();
    let l = b
        .stage(
            "logic",
            &[j, r],
            Verifier::new("logic", producers, false),
            cfg(waits[2], None),
        )
        .unwrap();
    let (pipeline, producer) = b.start().unwrap();
    let hs: Vec<_> = (0..producers)
        .map(|id| {
            let p = producer.clone();
            thread::spawn(move || produce(p, id as u64, PER_PRODUCER, how))
        })
        .collect();
    drop(producer);
    for h in hs {
        h.join().unwrap();
    }
    let mut halted = pipeline.halt().unwrap();
    let total = producers as i64 * PER_PRODUCER as i64;
    assert_eq!(halted.halt_sequence(), total - 1);
    for id in [j, r, l] {
        let v: Verifier = halted.take(id).unwrap();
        v.assert_complete(producers, PER_PRODUCER);
    }
}

#[test]
fn diamond_three_producers_ring_8_yield() {
    let _serial = serial();
    diamond(8, 3, Claiming::One, [WaitStrategy::YIELD; 3]);
}

#[test]
fn diamond_two_producers_batches_ring_16_mixed_waits() {
    let _serial = serial();
    diamond(
        16,
        2,
        Claiming::Batches,
        [
            WaitStrategy::YIELD,
            WaitStrategy::BLOCK,
            WaitStrategy::YIELD,
        ],
    );
}

#[test]
fn diamond_four_producers_try_claim_ring_32_blocking() {
    let _serial = serial();
    diamond(32, 4, Claiming::Try, [WaitStrategy::BLOCK; 3]);
}

#[test]
fn diamond_two_producers_timeout_claims_ring_64() {
    let _serial = serial();
    diamond(
        64,
        2,
        Claiming::Timeout,
        [
            WaitStrategy::YIELD,
            WaitStrategy::YIELD,
            WaitStrategy::BLOCK,
        ],
    );
}

/// A chain with a slot-mutating stage in the middle:
/// check → enrich (writes `result`) → { audit ∥ logic } (both read `result`).
fn add_chain_stages<S: engine::ring::Sequencer>(
    b: &mut PipelineBuilder<Slot, S>,
    producers: usize,
    wait: WaitStrategy,
) -> [StageId; 4] {
    let c = b
        .stage(
            "check",
            &[],
            Verifier::new("check", producers, false),
            cfg(wait, Some(5)),
        )
        .unwrap();
    let e = b
        .stage_mut(
            "enrich",
            &[c],
            Enricher(Verifier::new("enrich", producers, false)),
            cfg(wait, None),
        )
        .unwrap();
    let a = b
        .stage(
            "audit",
            &[e],
            Verifier::new("audit", producers, true),
            cfg(wait, None),
        )
        .unwrap();
    let l = b
        .stage(
            "logic",
            &[e],
            Verifier::new("logic", producers, true),
            cfg(wait, Some(2)),
        )
        .unwrap();
    [c, e, a, l]
}

fn check_chain(mut halted: engine::pipeline::Halted, ids: [StageId; 4], producers: usize) {
    let [c, e, a, l] = ids;
    for id in [c, a, l] {
        let v: Verifier = halted.take(id).unwrap();
        v.assert_complete(producers, PER_PRODUCER);
    }
    let en: Enricher = halted.take(e).unwrap();
    en.0.assert_complete(producers, PER_PRODUCER);
}

#[test]
fn single_producer_chain_with_writer_ring_8() {
    let _serial = serial();
    let mut b = PipelineBuilder::single_producer(8, Slot::default).unwrap();
    let ids = add_chain_stages(&mut b, 1, WaitStrategy::YIELD);
    let (pipeline, producer) = b.start().unwrap();
    thread::spawn(move || produce(producer, 0, PER_PRODUCER, Claiming::Batches))
        .join()
        .unwrap();
    check_chain(pipeline.halt().unwrap(), ids, 1);
}

#[test]
fn single_producer_try_claim_chain_blocking_ring_16() {
    let _serial = serial();
    let mut b = PipelineBuilder::single_producer(16, Slot::default).unwrap();
    let ids = add_chain_stages(&mut b, 1, WaitStrategy::BLOCK);
    let (pipeline, producer) = b.start().unwrap();
    thread::spawn(move || produce(producer, 0, PER_PRODUCER, Claiming::Try))
        .join()
        .unwrap();
    check_chain(pipeline.halt().unwrap(), ids, 1);
}

#[test]
fn multi_producer_chain_with_writer_ring_16() {
    let _serial = serial();
    let mut b = PipelineBuilder::multi_producer(16, Slot::default).unwrap();
    let ids = add_chain_stages(&mut b, 3, WaitStrategy::YIELD);
    let (pipeline, producer) = b.start().unwrap();
    let hs: Vec<_> = (0..3)
        .map(|id| {
            let p = producer.clone();
            let how = if id == 0 {
                Claiming::Batches
            } else {
                Claiming::One
            };
            thread::spawn(move || produce(p, id, PER_PRODUCER, how))
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    check_chain(pipeline.halt().unwrap(), ids, 3);
}

/// Halting while producers still run: stages stop at the halt sequence, every
/// event up to it is seen exactly once, producers get `Halted`, nothing hangs.
#[test]
fn halt_under_load_drains_up_to_the_halt_sequence() {
    let _serial = serial();
    let mut b = PipelineBuilder::multi_producer(16, Slot::default).unwrap();
    let j = b
        .stage(
            "journal",
            &[],
            Verifier::new("journal", 2, false),
            cfg(WaitStrategy::YIELD, None),
        )
        .unwrap();
    let l = b
        .stage(
            "logic",
            &[j],
            Verifier::new("logic", 2, false),
            cfg(WaitStrategy::BLOCK, None),
        )
        .unwrap();
    let (pipeline, producer) = b.start().unwrap();
    let hs: Vec<_> = (0..2u64)
        .map(|id| {
            let mut p = producer.clone();
            thread::spawn(move || {
                let mut c = 0;
                loop {
                    match p.claim() {
                        Ok(mut cl) => fill(cl.first_mut(), id, c),
                        Err(RingError::Halted) => return c,
                        Err(e) => panic!("{e}"),
                    }
                    c += 1;
                }
            })
        })
        .collect();
    while pipeline.sequence(l).unwrap_or(-1) < 5_000 {
        thread::yield_now();
    }
    let mut halted = pipeline.halt().unwrap();
    let last = halted.halt_sequence();
    let published: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(last >= 5_000 && (last as u64) < published);
    for id in [j, l] {
        assert_eq!(halted.sequence(id), Some(last));
        let v: Verifier = halted.take(id).unwrap();
        assert_eq!(v.seen, last as u64 + 1);
    }
}
