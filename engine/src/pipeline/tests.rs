use super::*;
use crate::ring::{EventHandler, EventHandlerMut, Producer, WaitStrategy};
use std::sync::Arc;

#[derive(Default)]
struct Collect {
    thread: Option<String>,
    seen: Vec<(i64, u64)>,
}

impl EventHandler<u64> for Collect {
    fn on_event(&mut self, e: &u64, seq: i64, _: bool) {
        self.seen.push((seq, *e));
    }
    fn on_start(&mut self) {
        self.thread = std::thread::current().name().map(str::to_string);
    }
}

struct AddTen;
impl EventHandlerMut<u64> for AddTen {
    fn on_event(&mut self, e: &mut u64, _: i64, _: bool) {
        *e += 10;
    }
}

fn cfg() -> StageConfig {
    StageConfig::default().wait(WaitStrategy::YIELD)
}

#[test]
fn diamond_runs_named_threads_and_returns_handlers() {
    let mut b = PipelineBuilder::multi_producer(8, || 0u64).unwrap();
    let j = b.stage("journal", &[], Collect::default(), cfg()).unwrap();
    let r = b
        .stage(
            "replicate",
            &[],
            Collect::default(),
            cfg().max_batch(Some(2)),
        )
        .unwrap();
    let l = b
        .stage("logic", &[j, r], Collect::default(), cfg())
        .unwrap();
    let (p, mut prod) = b.start().unwrap();
    let mut other = prod.clone();
    let h = std::thread::spawn(move || {
        for i in 0..500u64 {
            other.publish_with(|s| *s = 1000 + i).unwrap();
        }
    });
    for i in 0..500u64 {
        prod.publish_with(|s| *s = i).unwrap();
    }
    h.join().unwrap();
    assert_eq!(p.stages().count(), 3);
    assert_eq!(p.published(), 999);
    assert!(p.processed() <= 999);
    assert!(p.stages().all(|s| !s.finished && s.cpu.is_none()));
    let mut halted = p.halt().unwrap();
    assert_eq!(halted.halt_sequence(), 999);
    for id in [j, r, l] {
        assert_eq!(halted.sequence(id), Some(999));
    }
    let logic: Collect = halted.take(l).unwrap();
    let journal: Collect = halted.take(j).unwrap();
    assert_eq!(logic.thread.as_deref(), Some("logic"));
    assert_eq!(journal.seen, logic.seen);
    let seqs: Vec<i64> = logic.seen.iter().map(|x| x.0).collect();
    assert_eq!(seqs, (0..1000).collect::<Vec<_>>());
    let mut vals: Vec<u64> = logic.seen.iter().map(|x| x.1).collect();
    vals.sort_unstable();
    let mut expect: Vec<u64> = (0..500).chain(1000..1500).collect();
    expect.sort_unstable();
    assert_eq!(vals, expect);
    assert!(matches!(
        halted.take::<Collect>(l),
        Err(PipelineError::AlreadyTaken(_))
    ));
    assert!(matches!(
        halted.take::<AddTen>(r),
        Err(PipelineError::WrongHandlerType(_))
    ));
    assert!(
        halted.take::<Collect>(r).is_ok(),
        "a wrong-type take leaves the handler"
    );
}

#[test]
fn writer_stage_feeds_a_later_stage() {
    let mut b = PipelineBuilder::single_producer(4, || 0u64).unwrap();
    let first = b.stage("first", &[], Collect::default(), cfg()).unwrap();
    let w = b
        .stage_mut("add", &[first], AddTen, cfg().wait(WaitStrategy::BLOCK))
        .unwrap();
    let last = b.stage("last", &[w], Collect::default(), cfg()).unwrap();
    let (p, mut prod) = b.start().unwrap();
    for i in 0..100u64 {
        prod.publish_with(|s| *s = i).unwrap();
    }
    let mut h = p.halt().unwrap();
    let before: Collect = h.take(first).unwrap();
    let after: Collect = h.take(last).unwrap();
    assert_eq!(
        before.seen.iter().map(|x| x.1).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(
        after.seen.iter().map(|x| x.1).collect::<Vec<_>>(),
        (10..110).collect::<Vec<_>>()
    );
}

#[test]
fn writer_beside_another_stage_is_refused() {
    let mut b = PipelineBuilder::single_producer(4, || 0u64).unwrap();
    b.stage("journal", &[], Collect::default(), cfg()).unwrap();
    b.stage_mut("scribble", &[], AddTen, cfg()).unwrap();
    match b.start() {
        Err(PipelineError::UnsafeMutation { writer, other }) => {
            assert_eq!((writer.as_str(), other.as_str()), ("scribble", "journal"));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a writer beside a reader must be refused"),
    }
}

#[test]
fn configuration_errors_are_typed() {
    let mut b = PipelineBuilder::single_producer(4, || 0u64).unwrap();
    assert!(matches!(
        b.stage("x", &[StageId(3)], Collect::default(), cfg()),
        Err(PipelineError::UnknownStage(StageId(3)))
    ));
    b.stage("x", &[], Collect::default(), cfg()).unwrap();
    assert!(matches!(
        b.stage("x", &[], Collect::default(), cfg()),
        Err(PipelineError::DuplicateName(_))
    ));
    assert!(matches!(
        PipelineBuilder::single_producer(0, || 0u64).map(|_| ()),
        Err(PipelineError::Ring(crate::ring::RingError::BadSize(0)))
    ));
    assert!(matches!(
        PipelineBuilder::single_producer(4, || 0u64)
            .unwrap()
            .start()
            .map(|_| ()),
        Err(PipelineError::NoStages)
    ));
    let mut b = PipelineBuilder::single_producer(4, || 0u64).unwrap();
    b.stage("pinned", &[], Collect::default(), cfg().cpu(Some(1 << 20)))
        .unwrap();
    assert!(
        matches!(b.start().map(|_| ()), Err(PipelineError::BadCpu { cpu, .. }) if cpu == 1 << 20)
    );
}

#[test]
fn pinned_stage_runs_when_the_cpu_exists() {
    let Some(cpu) = core_affinity::get_core_ids().and_then(|c| c.first().map(|c| c.id)) else {
        return; // affinity unsupported on this platform: nothing to pin
    };
    let mut b = PipelineBuilder::single_producer(4, || 0u64).unwrap();
    let s = b
        .stage("pinned", &[], Collect::default(), cfg().cpu(Some(cpu)))
        .unwrap();
    let (p, mut prod) = b.start().unwrap();
    assert_eq!(p.stages().next().map(|s| s.cpu), Some(Some(cpu)));
    prod.publish_with(|v| *v = 7).unwrap();
    let got: Collect = p.halt().unwrap().take(s).unwrap();
    assert_eq!(got.seen, vec![(0, 7)]);
}

#[test]
fn a_panicking_stage_halts_the_pipeline_instead_of_hanging_it() {
    let mut b = PipelineBuilder::multi_producer(4, || 0u64).unwrap();
    let bad = b
        .stage(
            "bad",
            &[],
            |e: &u64, _: i64, _: bool| {
                if *e == 5 {
                    panic!("bad event five");
                }
            },
            cfg(),
        )
        .unwrap();
    b.stage("after", &[bad], Collect::default(), cfg()).unwrap();
    let (p, mut prod) = b.start().unwrap();
    // The ring jams after the panic: producers see `Halted`, never hang.
    let mut halted_seen = false;
    for i in 0..100u64 {
        match prod.claim_timeout(std::time::Duration::from_secs(5)) {
            Ok(mut c) => *c.first_mut() = i,
            Err(crate::ring::RingError::Halted) => {
                halted_seen = true;
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(halted_seen);
    match p.halt() {
        Err(PipelineError::StagePanicked { stage, message }) => {
            assert_eq!(stage, "bad");
            assert!(message.contains("five"));
        }
        _ => panic!("the panic must be reported"),
    }
}

#[test]
fn dropping_a_running_pipeline_joins_its_threads() {
    let mut b = PipelineBuilder::single_producer(4, || 0u64).unwrap();
    let s = b.stage("s", &[], Collect::default(), cfg()).unwrap();
    let (p, mut prod) = b.start().unwrap();
    prod.publish_with(|v| *v = 1).unwrap();
    let handle = p.sequence_handle(s).unwrap();
    drop(p);
    assert_eq!(handle.get(), 0, "drop drains what was published");
}

/// A stage that checks, at every event, that the external source already
/// allowed it (the source is monotonic, so a later read is at least what the
/// barrier saw).
struct NeverAhead {
    acked: Arc<std::sync::atomic::AtomicI64>,
    offset: i64,
    seen: u64,
    last: i64,
}

impl EventHandler<u64> for NeverAhead {
    fn on_event(&mut self, e: &u64, seq: i64, _: bool) {
        let allowed = self.acked.load(std::sync::atomic::Ordering::Acquire) - self.offset;
        assert!(
            seq <= allowed,
            "processed seq {seq} while only {allowed} was acknowledged"
        );
        assert_eq!(seq, self.last + 1, "in order, nothing skipped");
        assert_eq!(*e, seq as u64, "slot content");
        self.last = seq;
        self.seen += 1;
    }
}

/// Advances `acked` behind `sent` by small random-ish steps until `until`,
/// waking sleepers after each store (like a replication ACK path).
fn slow_acker(
    acked: Arc<std::sync::atomic::AtomicI64>,
    sent: Arc<crate::ring::Sequence>,
    offset: i64,
    until: i64,
    ring: Arc<crate::ring::Ring<u64, crate::ring::MultiSequencer>>,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut a = acked.load(Ordering::Relaxed) - offset;
        while a < until {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s = sent.get();
            if s > a {
                a = (a + 1 + (x % 7) as i64).min(s);
                acked.store(a + offset, Ordering::Release);
                ring.waker().wake();
            }
            if x.is_multiple_of(5) {
                std::thread::sleep(std::time::Duration::from_micros(50));
            } else {
                std::thread::yield_now();
            }
        }
    })
}

fn gated_never_ahead_of_the_source(wait: WaitStrategy) {
    use std::sync::atomic::AtomicI64;
    const N: u64 = 5_000;
    const OFFSET: i64 = 1_000;
    let acked = Arc::new(AtomicI64::new(OFFSET - 1));
    let gate = Arc::new(Gate::new(acked.clone(), OFFSET));
    let mut b = PipelineBuilder::multi_producer(64, || 0u64).unwrap();
    let c = StageConfig::default().wait(wait);
    let j = b
        .stage("journal", &[], |_: &u64, _, _| {}, c.clone())
        .unwrap();
    let r = b
        .stage("replicate", &[], |_: &u64, _, _| {}, c.clone())
        .unwrap();
    let handler = NeverAhead {
        acked: acked.clone(),
        offset: OFFSET,
        seen: 0,
        last: -1,
    };
    let l = b.stage_gated("logic", &[j, r], gate, handler, c).unwrap();
    let (p, mut prod) = b.start().unwrap();
    let sent = p.sequence_handle(r).unwrap();
    let acker = slow_acker(acked, sent, OFFSET, N as i64 - 1, p.ring().clone());
    for i in 0..N {
        prod.publish_with(|s| *s = i).unwrap();
    }
    acker.join().unwrap();
    let mut halted = p.halt().unwrap();
    assert_eq!(halted.sequence(l), Some(N as i64 - 1));
    let h: NeverAhead = halted.take(l).unwrap();
    assert_eq!(h.seen, N);
}

#[test]
fn gated_stage_never_passes_the_external_sequence_yield() {
    gated_never_ahead_of_the_source(WaitStrategy::YIELD);
}

#[test]
fn gated_stage_never_passes_the_external_sequence_block() {
    gated_never_ahead_of_the_source(WaitStrategy::Block {
        spins: 10,
        timeout: std::time::Duration::from_millis(1),
    });
}

#[test]
fn blocked_gated_stage_wakes_on_the_source_not_the_timeout() {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::{Duration, Instant};
    let acked = Arc::new(AtomicI64::new(-1));
    let gate = Arc::new(Gate::new(acked.clone(), 0));
    let mut b = PipelineBuilder::multi_producer(8, || 0u64).unwrap();
    let block = WaitStrategy::Block {
        spins: 1,
        timeout: Duration::from_secs(30),
    };
    let c = StageConfig::default().wait(block);
    let j = b
        .stage("journal", &[], |_: &u64, _, _| {}, c.clone())
        .unwrap();
    let l = b
        .stage_gated("logic", &[j], gate, Collect::default(), c)
        .unwrap();
    let (p, mut prod) = b.start().unwrap();
    prod.publish_with(|s| *s = 7).unwrap();
    // Journal done, logic held by the gate and (soon) asleep on the waker.
    let t = Instant::now();
    while (p.sequence(j) != Some(0) || p.ring().waker().sleepers() < 2)
        && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(p.sequence(l), Some(-1), "the gate holds the logic");
    let t = Instant::now();
    acked.store(0, Ordering::Release);
    p.ring().waker().wake();
    while p.sequence(l) != Some(0) && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "woken by the source, not the 30 s timeout"
    );
    let mut halted = p.halt().unwrap();
    let h: Collect = halted.take(l).unwrap();
    assert_eq!(h.seen, vec![(0, 7)]);
}

#[test]
fn opened_gate_lets_a_halt_drain() {
    use std::sync::atomic::AtomicI64;
    let acked = Arc::new(AtomicI64::new(-1));
    let gate = Arc::new(Gate::new(acked, 0));
    let mut b = PipelineBuilder::multi_producer(8, || 0u64).unwrap();
    let j = b.stage("journal", &[], |_: &u64, _, _| {}, cfg()).unwrap();
    let l = b
        .stage_gated("logic", &[j], gate.clone(), Collect::default(), cfg())
        .unwrap();
    let (p, mut prod) = b.start().unwrap();
    for i in 0..3u64 {
        prod.publish_with(|s| *s = i).unwrap();
    }
    gate.open();
    p.ring().waker().wake_all();
    let mut halted = p.halt().unwrap();
    let h: Collect = halted.take(l).unwrap();
    assert_eq!(h.seen, vec![(0, 0), (1, 1), (2, 2)]);
}
