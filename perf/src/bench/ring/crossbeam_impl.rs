//! The scenarios on crossbeam bounded channels (the "queue" baseline), one
//! channel per edge of the consumer graph, capacity = ring size. `block` uses the
//! channel's own blocking `send`/`recv` (it spins, then parks); `busy-spin` and
//! `yield` use `try_send`/`try_recv` loops with the same idle step as the rings.
//! Channels have no batch publish: the batch scenario sends one by one.

use super::Scenario;
use super::common::*;
use super::ringex_impl::Shape;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::Instant;

const GONE: &str = "crossbeam: channel disconnected";

#[inline]
fn send(tx: &Sender<u64>, v: u64, w: Wait) -> Result<(), String> {
    if w == Wait::Block {
        return tx.send(v).map_err(|_| GONE.to_string());
    }
    let mut v = v;
    let mut round = 0;
    loop {
        match tx.try_send(v) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                v = back;
                idle(w, &mut round);
            }
            Err(TrySendError::Disconnected(_)) => return Err(GONE.to_string()),
        }
    }
}

#[inline]
fn recv(rx: &Receiver<u64>, w: Wait) -> Result<u64, String> {
    if w == Wait::Block {
        return rx.recv().map_err(|_| GONE.to_string());
    }
    let mut round = 0;
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Empty) => idle(w, &mut round),
            Err(TryRecvError::Disconnected) => return Err(GONE.to_string()),
        }
    }
}

type Worker = JoinHandle<Result<(), String>>;

/// A consumer thread: receives `n` values, folds `step(k, v)`, forwards each value
/// to `fwd` (if any), then reports.
#[allow(clippy::too_many_arguments)]
fn consumer(
    p: &Params,
    thread: usize,
    k: u64,
    step: fn(u64, u64) -> u64,
    n: u64,
    rx: Vec<Receiver<u64>>,
    fwd: Option<Sender<u64>>,
    o: Out,
    latch: Arc<Latch>,
) -> Worker {
    let p = p.clone();
    std::thread::spawn(move || {
        p.pin_current(thread);
        let mut acc = 0u64;
        for _ in 0..n {
            let v = recv(&rx[0], p.wait)?;
            for other in &rx[1..] {
                let same = recv(other, p.wait)?;
                if same != v {
                    return Err(format!("crossbeam: join saw {v} and {same}"));
                }
            }
            acc = acc.wrapping_add(step(k, v));
            if let Some(f) = &fwd {
                send(f, v, p.wait)?;
            }
        }
        o.store(acc, std::sync::atomic::Ordering::Release);
        latch.count_down();
        Ok(())
    })
}

fn join(workers: Vec<Worker>) -> Result<(), String> {
    for w in workers {
        w.join()
            .map_err(|_| "crossbeam: worker panicked".to_string())??;
    }
    Ok(())
}

/// Runs `scenario` once on crossbeam channels.
pub fn run(scenario: Scenario, p: &Params) -> Result<Measured, String> {
    match scenario {
        Scenario::Unicast | Scenario::BatchPublish => one_to_one(p),
        Scenario::Sequencer3p1c => three_to_one(p),
        Scenario::Pipeline1p3c => one_to_three(p, Shape::Pipeline),
        Scenario::Diamond1p3c => one_to_three(p, Shape::Diamond),
        Scenario::Multicast1p3c => one_to_three(p, Shape::Multicast),
        Scenario::PingPong => ping_pong(p),
    }
}

fn one_to_one(p: &Params) -> Result<Measured, String> {
    let n = p.events;
    let (latch, o) = (Latch::new(1), out());
    let (tx, rx) = bounded(p.ring_size);
    let w = consumer(p, 1, 0, value, n, vec![rx], None, o.clone(), latch.clone());
    p.pin_current(0);
    let t = Instant::now();
    for i in 0..n {
        send(&tx, i, p.wait)?;
    }
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    join(vec![w])?;
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&[o]),
    })
}

fn three_to_one(p: &Params) -> Result<Measured, String> {
    let per = p.events / 3;
    let n = per * 3;
    let (latch, o) = (Latch::new(1), out());
    let (tx, rx) = bounded(p.ring_size);
    let mut workers = vec![consumer(
        p,
        1,
        0,
        value,
        n,
        vec![rx],
        None,
        o.clone(),
        latch.clone(),
    )];
    let go = Arc::new(Barrier::new(4));
    for i in 0..3 {
        let (tx, go, p) = (tx.clone(), Arc::clone(&go), p.clone());
        workers.push(std::thread::spawn(move || {
            p.pin_current(2 + i);
            go.wait();
            for v in 0..per {
                send(&tx, v, p.wait)?;
            }
            Ok(())
        }));
    }
    drop(tx);
    go.wait();
    p.pin_current(0);
    let t = Instant::now();
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    join(workers)?;
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&[o]),
    })
}

fn one_to_three(p: &Params, shape: Shape) -> Result<Measured, String> {
    let n = p.events;
    let latch = Latch::new(3);
    let outs = [out(), out(), out()];
    let ch = || bounded::<u64>(p.ring_size);
    let (inputs, workers) = match shape {
        Shape::Pipeline => {
            let (t0, r0) = ch();
            let (t1, r1) = ch();
            let (t2, r2) = ch();
            let w = vec![
                consumer(
                    p,
                    1,
                    0,
                    pipeline_step,
                    n,
                    vec![r0],
                    Some(t1),
                    outs[0].clone(),
                    latch.clone(),
                ),
                consumer(
                    p,
                    2,
                    1,
                    pipeline_step,
                    n,
                    vec![r1],
                    Some(t2),
                    outs[1].clone(),
                    latch.clone(),
                ),
                consumer(
                    p,
                    3,
                    2,
                    pipeline_step,
                    n,
                    vec![r2],
                    None,
                    outs[2].clone(),
                    latch.clone(),
                ),
            ];
            (vec![t0], w)
        }
        Shape::Diamond => {
            let (ta, ra) = ch();
            let (tb, rb) = ch();
            let (tc1, rc1) = ch();
            let (tc2, rc2) = ch();
            let w = vec![
                consumer(
                    p,
                    1,
                    0,
                    diamond_step,
                    n,
                    vec![ra],
                    Some(tc1),
                    outs[0].clone(),
                    latch.clone(),
                ),
                consumer(
                    p,
                    2,
                    1,
                    diamond_step,
                    n,
                    vec![rb],
                    Some(tc2),
                    outs[1].clone(),
                    latch.clone(),
                ),
                consumer(
                    p,
                    3,
                    2,
                    diamond_step,
                    n,
                    vec![rc1, rc2],
                    None,
                    outs[2].clone(),
                    latch.clone(),
                ),
            ];
            (vec![ta, tb], w)
        }
        Shape::Multicast => {
            let mut inputs = Vec::new();
            let mut w = Vec::new();
            for (k, o) in outs.iter().enumerate() {
                let (t, r) = ch();
                inputs.push(t);
                w.push(consumer(
                    p,
                    1 + k,
                    k as u64,
                    value,
                    n,
                    vec![r],
                    None,
                    o.clone(),
                    latch.clone(),
                ));
            }
            (inputs, w)
        }
    };
    p.pin_current(0);
    let t = Instant::now();
    for i in 0..n {
        for tx in &inputs {
            send(tx, i, p.wait)?;
        }
    }
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    join(workers)?;
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&outs),
    })
}

fn ping_pong(p: &Params) -> Result<Measured, String> {
    let (ping_tx, ping_rx) = bounded::<u64>(p.ring_size);
    let (pong_tx, pong_rx) = bounded::<u64>(p.ring_size);
    let base = Instant::now();
    let pings = p.pings;
    let pp = p.clone();
    let ponger: Worker = std::thread::spawn(move || {
        pp.pin_current(1);
        for _ in 0..pings {
            let v = recv(&ping_rx, pp.wait)?;
            send(&pong_tx, v, pp.wait)?;
        }
        Ok(())
    });
    let pp = p.clone();
    let t = Instant::now();
    let pinger = std::thread::spawn(move || -> Result<hdrhistogram::Histogram<u64>, String> {
        pp.pin_current(2);
        let mut hist = crate::report::latency_histogram();
        send(&ping_tx, now_ns(base), pp.wait)?;
        for left in (0..pings).rev() {
            let v = recv(&pong_rx, pp.wait)?;
            let now = now_ns(base);
            let _ = hist.record(now.saturating_sub(v).max(1));
            if left > 0 {
                send(&ping_tx, now_ns(base), pp.wait)?;
            }
        }
        Ok(hist)
    });
    let hist = pinger
        .join()
        .map_err(|_| "crossbeam: pinger panicked".to_string())??;
    let elapsed = t.elapsed();
    join(vec![ponger])?;
    Ok(Measured {
        ops_per_sec: pings as f64 / elapsed.as_secs_f64(),
        results: vec![hist.len()],
        hist: Some(hist),
    })
}
