//! The scenarios on the `disruptor` crate (4.x), with the wait strategy closest
//! to ringex's: `BusySpinWithSpinLoopHint` for busy-spin (ringex spins with the
//! same hint), a spin-100-then-yield strategy written against the crate's public
//! `WaitStrategy` trait for yield (the crate ships none), and its `Sleep` (50 µs)
//! for block (it has no blocking/parking strategy).

use super::Scenario;
use super::common::*;
use disruptor::wait_strategies::WaitStrategy as DisruptorWait;
use disruptor::{
    BusySpinWithSpinLoopHint, ProcessorSettings, Producer, SingleConsumerBarrier, SingleProducer,
    Sleep, build_multi_producer, build_single_producer,
};
use std::cell::Cell;
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

/// Spin 100 times on the same sequence, then yield: LMAX's yielding strategy
/// expressed through the crate's stateless `WaitStrategy` trait (the spin count
/// lives in a thread-local, keyed by the sequence being waited for).
#[derive(Clone, Copy)]
pub struct SpinThenYield;

thread_local! {
    static IDLE: Cell<(i64, u32)> = const { Cell::new((-1, 0)) };
}

impl DisruptorWait for SpinThenYield {
    fn wait_for(&self, sequence: i64) {
        IDLE.with(|c| {
            let (s, n) = c.get();
            let n = if s == sequence {
                n.saturating_add(1)
            } else {
                0
            };
            c.set((sequence, n));
            if n < 100 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        });
    }
}

/// The label of the wait strategy used for `w`.
pub fn wait_label(w: Wait) -> &'static str {
    match w {
        Wait::BusySpin => "busy-spin",
        Wait::Yield => "yield",
        Wait::Block => "sleep-50us",
    }
}

/// Runs `scenario` once on the `disruptor` crate.
pub fn run(scenario: Scenario, p: &Params) -> Result<Measured, String> {
    match p.wait {
        Wait::BusySpin => run_with(scenario, p, BusySpinWithSpinLoopHint),
        Wait::Yield => run_with(scenario, p, SpinThenYield),
        Wait::Block => run_with(scenario, p, Sleep::new(Duration::from_micros(50))),
    }
}

fn run_with<W: DisruptorWait + 'static>(
    scenario: Scenario,
    p: &Params,
    w: W,
) -> Result<Measured, String> {
    match scenario {
        Scenario::Unicast => one_to_one(p, w, 1),
        Scenario::BatchPublish => one_to_one(p, w, super::BATCH),
        Scenario::Sequencer3p1c => three_to_one(p, w),
        Scenario::Pipeline1p3c => one_to_three(p, w, super::ringex_impl::Shape::Pipeline),
        Scenario::Diamond1p3c => one_to_three(p, w, super::ringex_impl::Shape::Diamond),
        Scenario::Multicast1p3c => one_to_three(p, w, super::ringex_impl::Shape::Multicast),
        Scenario::PingPong => ping_pong(p, w),
    }
}

fn pin<E, W, B: ProcessorSettings<E, W>>(b: B, cpu: Option<usize>) -> B {
    match cpu {
        Some(c) => b.pin_at_core(c),
        None => b,
    }
}

fn one_to_one<W: DisruptorWait + 'static>(
    p: &Params,
    w: W,
    batch: usize,
) -> Result<Measured, String> {
    let n = p.events;
    let (latch, o) = (Latch::new(1), out());
    let b = build_single_producer(p.ring_size, Ev::default, w);
    let mut prod = pin(b, p.cpu(1))
        .handle_events_with(sink(0, value, n as i64 - 1, o.clone(), latch.clone()))
        .build();
    p.pin_current(0);
    let t = Instant::now();
    if batch == 1 {
        for i in 0..n {
            prod.publish(|ev| ev.v = i);
        }
    } else {
        let mut i = 0;
        while i < n {
            prod.batch_publish(batch, |iter| {
                for (j, ev) in iter.enumerate() {
                    ev.v = i + j as u64;
                }
            });
            i += batch as u64;
        }
    }
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    drop(prod); // joins the consumer
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&[o]),
    })
}

fn three_to_one<W: DisruptorWait + 'static>(p: &Params, w: W) -> Result<Measured, String> {
    let per = p.events / 3;
    let n = per * 3;
    let (latch, o) = (Latch::new(1), out());
    let b = build_multi_producer(p.ring_size, Ev::default, w);
    let prod = pin(b, p.cpu(1))
        .handle_events_with(sink(0, value, n as i64 - 1, o.clone(), latch.clone()))
        .build();
    let go = Arc::new(Barrier::new(4));
    let producers: Vec<_> = (0..3)
        .map(|i| {
            let mut prod = prod.clone();
            let go = Arc::clone(&go);
            let p = p.clone();
            std::thread::spawn(move || {
                p.pin_current(2 + i);
                go.wait();
                for v in 0..per {
                    prod.publish(|ev| ev.v = v);
                }
            })
        })
        .collect();
    go.wait();
    p.pin_current(0);
    let t = Instant::now();
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    for h in producers {
        h.join()
            .map_err(|_| "disruptor: producer panicked".to_string())?;
    }
    drop(prod);
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&[o]),
    })
}

fn one_to_three<W: DisruptorWait + 'static>(
    p: &Params,
    w: W,
    shape: super::ringex_impl::Shape,
) -> Result<Measured, String> {
    use super::ringex_impl::Shape;
    let n = p.events;
    let last = n as i64 - 1;
    let latch = Latch::new(3);
    let outs = [out(), out(), out()];
    let sk = |k: usize, step: fn(u64, u64) -> u64| {
        sink(k as u64, step, last, outs[k].clone(), latch.clone())
    };
    let b = build_single_producer(p.ring_size, Ev::default, w);
    let t;
    match shape {
        Shape::Pipeline => {
            let b = pin(b, p.cpu(1))
                .handle_events_with(sk(0, pipeline_step))
                .and_then();
            let b = pin(b, p.cpu(2))
                .handle_events_with(sk(1, pipeline_step))
                .and_then();
            let mut prod = pin(b, p.cpu(3))
                .handle_events_with(sk(2, pipeline_step))
                .build();
            p.pin_current(0);
            t = Instant::now();
            for i in 0..n {
                prod.publish(|ev| ev.v = i);
            }
            latch.wait(RUN_LIMIT)?;
        }
        Shape::Diamond => {
            let b = pin(b, p.cpu(1)).handle_events_with(sk(0, diamond_step));
            let b = pin(b, p.cpu(2))
                .handle_events_with(sk(1, diamond_step))
                .and_then();
            let mut prod = pin(b, p.cpu(3))
                .handle_events_with(sk(2, diamond_step))
                .build();
            p.pin_current(0);
            t = Instant::now();
            for i in 0..n {
                prod.publish(|ev| ev.v = i);
            }
            latch.wait(RUN_LIMIT)?;
        }
        Shape::Multicast => {
            let b = pin(b, p.cpu(1)).handle_events_with(sk(0, value));
            let b = pin(b, p.cpu(2)).handle_events_with(sk(1, value));
            let mut prod = pin(b, p.cpu(3)).handle_events_with(sk(2, value)).build();
            p.pin_current(0);
            t = Instant::now();
            for i in 0..n {
                prod.publish(|ev| ev.v = i);
            }
            latch.wait(RUN_LIMIT)?;
        }
    }
    let elapsed = t.elapsed();
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&outs),
    })
}

type DProducer = SingleProducer<Ev, SingleConsumerBarrier>;

struct PingState {
    ping: Option<DProducer>,
    base: Instant,
    left: u64,
    hist: hdrhistogram::Histogram<u64>,
    latch: Arc<Latch>,
    back: mpsc::Sender<(hdrhistogram::Histogram<u64>, Option<DProducer>)>,
}

fn ping_pong<W: DisruptorWait + 'static>(p: &Params, w: W) -> Result<Measured, String> {
    let latch = Latch::new(1);
    let base = Instant::now();
    let (to_ponger, ponger_rx) = mpsc::channel::<DProducer>();
    let (to_pinger, pinger_rx) = mpsc::channel::<DProducer>();
    let (back_tx, back_rx) = mpsc::channel();
    let pings = p.pings;
    let ping_prod = pin(build_single_producer(p.ring_size, Ev::default, w), p.cpu(1))
        .handle_events_and_state_with(
            |pong: &mut Option<DProducer>, ev: &Ev, _, _| {
                if let Some(pp) = pong.as_mut() {
                    pp.publish(|out| out.v = ev.v);
                }
            },
            move || ponger_rx.recv().ok(),
        )
        .build();
    let latch2 = latch.clone();
    let pong_prod = pin(build_single_producer(p.ring_size, Ev::default, w), p.cpu(2))
        .handle_events_and_state_with(
            |s: &mut PingState, ev: &Ev, _, _| {
                let now = now_ns(s.base);
                let _ = s.hist.record(now.saturating_sub(ev.v).max(1));
                s.left -= 1;
                if s.left == 0 {
                    s.latch.count_down();
                    let hist = std::mem::replace(&mut s.hist, crate::report::latency_histogram());
                    let _ = s.back.send((hist, s.ping.take()));
                } else if let Some(pp) = s.ping.as_mut() {
                    let now = now_ns(s.base);
                    pp.publish(|out| out.v = now);
                }
            },
            move || {
                let mut ping = pinger_rx.recv().ok();
                if let Some(pp) = ping.as_mut() {
                    let now = now_ns(base);
                    pp.publish(|out| out.v = now);
                }
                PingState {
                    ping,
                    base,
                    left: pings,
                    hist: crate::report::latency_histogram(),
                    latch: latch2,
                    back: back_tx,
                }
            },
        )
        .build();
    let t = Instant::now();
    to_ponger
        .send(pong_prod)
        .map_err(|_| "disruptor: ponger gone")?;
    to_pinger
        .send(ping_prod)
        .map_err(|_| "disruptor: pinger gone")?;
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    let (hist, ping_prod) = back_rx
        .recv()
        .map_err(|_| "disruptor: pinger did not report")?;
    // Dropping the ping producer stops the ponger, whose pong producer (dropped on
    // its thread) then stops the pinger.
    drop(ping_prod);
    Ok(Measured {
        ops_per_sec: pings as f64 / elapsed.as_secs_f64(),
        results: vec![hist.len()],
        hist: Some(hist),
    })
}
