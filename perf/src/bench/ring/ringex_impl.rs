//! The scenarios on ringex's ring (`engine::pipeline` + `engine::ring`).

use super::Scenario;
use super::common::*;
use engine::pipeline::{PipelineBuilder, StageConfig};
use engine::ring::{EventHandler, Producer, SingleProducer, WaitStrategy};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Instant;

fn wait_strategy(w: Wait) -> WaitStrategy {
    match w {
        Wait::BusySpin => WaitStrategy::BusySpin,
        Wait::Yield => WaitStrategy::YIELD,
        Wait::Block => WaitStrategy::BLOCK,
    }
}

fn cfg(p: &Params, thread: usize) -> StageConfig {
    StageConfig::default()
        .wait(wait_strategy(p.wait))
        .cpu(p.cpu(thread))
}

fn e<E: std::fmt::Display>(err: E) -> String {
    format!("ringex: {err}")
}

/// Runs `scenario` once on ringex.
pub fn run(scenario: Scenario, p: &Params) -> Result<Measured, String> {
    match scenario {
        Scenario::Unicast => one_to_one(p, 1),
        Scenario::BatchPublish => one_to_one(p, super::BATCH),
        Scenario::Sequencer3p1c => three_to_one(p),
        Scenario::Pipeline1p3c => one_to_three(p, Shape::Pipeline),
        Scenario::Diamond1p3c => one_to_three(p, Shape::Diamond),
        Scenario::Multicast1p3c => one_to_three(p, Shape::Multicast),
        Scenario::PingPong => ping_pong(p),
    }
}

fn one_to_one(p: &Params, batch: usize) -> Result<Measured, String> {
    let n = p.events;
    let (latch, o) = (Latch::new(1), out());
    let mut b = PipelineBuilder::single_producer(p.ring_size, Ev::default).map_err(e)?;
    b.stage(
        "consumer",
        &[],
        sink(0, value, n as i64 - 1, o.clone(), latch.clone()),
        cfg(p, 1),
    )
    .map_err(e)?;
    let (pipeline, mut prod) = b.start().map_err(e)?;
    p.pin_current(0);
    let t = Instant::now();
    if batch == 1 {
        for i in 0..n {
            prod.publish_with(|ev| ev.v = i).map_err(e)?;
        }
    } else {
        let mut i = 0;
        while i < n {
            prod.publish_batch_with(batch, |j, ev| ev.v = i + j as u64)
                .map_err(e)?;
            i += batch as u64;
        }
    }
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    pipeline.halt().map_err(e)?;
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
    let mut b = PipelineBuilder::multi_producer(p.ring_size, Ev::default).map_err(e)?;
    b.stage(
        "consumer",
        &[],
        sink(0, value, n as i64 - 1, o.clone(), latch.clone()),
        cfg(p, 1),
    )
    .map_err(e)?;
    let (pipeline, prod) = b.start().map_err(e)?;
    let go = Arc::new(Barrier::new(4));
    let producers: Vec<_> = (0..3)
        .map(|i| {
            let mut prod = prod.clone();
            let go = Arc::clone(&go);
            let p = p.clone();
            std::thread::spawn(move || -> Result<(), String> {
                p.pin_current(2 + i);
                go.wait();
                for v in 0..per {
                    prod.publish_with(|ev| ev.v = v).map_err(e)?;
                }
                Ok(())
            })
        })
        .collect();
    drop(prod);
    go.wait();
    p.pin_current(0);
    let t = Instant::now();
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    for h in producers {
        h.join()
            .map_err(|_| "ringex: producer panicked".to_string())??;
    }
    pipeline.halt().map_err(e)?;
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&[o]),
    })
}

/// Consumer graphs of the 1P3C scenarios.
#[derive(Clone, Copy)]
pub enum Shape {
    /// s0 → s1 → s2.
    Pipeline,
    /// s0 ∥ s1 → s2.
    Diamond,
    /// s0 ∥ s1 ∥ s2.
    Multicast,
}

fn one_to_three(p: &Params, shape: Shape) -> Result<Measured, String> {
    let n = p.events;
    let last = n as i64 - 1;
    let latch = Latch::new(3);
    let outs = [out(), out(), out()];
    let mut b = PipelineBuilder::single_producer(p.ring_size, Ev::default).map_err(e)?;
    let sk = |k: usize, step: fn(u64, u64) -> u64| {
        sink(k as u64, step, last, outs[k].clone(), latch.clone())
    };
    match shape {
        Shape::Pipeline => {
            let s0 = b
                .stage("stage0", &[], sk(0, pipeline_step), cfg(p, 1))
                .map_err(e)?;
            let s1 = b
                .stage("stage1", &[s0], sk(1, pipeline_step), cfg(p, 2))
                .map_err(e)?;
            b.stage("stage2", &[s1], sk(2, pipeline_step), cfg(p, 3))
                .map_err(e)?;
        }
        Shape::Diamond => {
            let f = b
                .stage("fizz", &[], sk(0, diamond_step), cfg(p, 1))
                .map_err(e)?;
            let z = b
                .stage("buzz", &[], sk(1, diamond_step), cfg(p, 2))
                .map_err(e)?;
            b.stage("fizzbuzz", &[f, z], sk(2, diamond_step), cfg(p, 3))
                .map_err(e)?;
        }
        Shape::Multicast => {
            for k in 0..3 {
                b.stage(&format!("consumer{k}"), &[], sk(k, value), cfg(p, 1 + k))
                    .map_err(e)?;
            }
        }
    }
    let (pipeline, mut prod) = b.start().map_err(e)?;
    p.pin_current(0);
    let t = Instant::now();
    for i in 0..n {
        prod.publish_with(|ev| ev.v = i).map_err(e)?;
    }
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    pipeline.halt().map_err(e)?;
    Ok(Measured {
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        hist: None,
        results: read(&outs),
    })
}

/// Consumer of the ping ring: echoes each ping into the pong ring.
struct Ponger {
    rx: mpsc::Receiver<SingleProducer<Ev>>,
    pong: Option<SingleProducer<Ev>>,
}

impl EventHandler<Ev> for Ponger {
    fn on_start(&mut self) {
        self.pong = self.rx.recv().ok();
    }
    fn on_event(&mut self, ev: &Ev, _: i64, _: bool) {
        if let Some(p) = self.pong.as_mut() {
            // The ring cannot be full: one message is in flight at a time.
            let _ = p.publish_with(|out| out.v = ev.v);
        }
    }
}

/// Consumer of the pong ring: records the round trip and sends the next ping.
struct Pinger {
    rx: mpsc::Receiver<SingleProducer<Ev>>,
    ping: Option<SingleProducer<Ev>>,
    base: Instant,
    left: u64,
    hist: hdrhistogram::Histogram<u64>,
    latch: Arc<Latch>,
}

impl EventHandler<Ev> for Pinger {
    fn on_start(&mut self) {
        self.ping = self.rx.recv().ok();
        let now = now_ns(self.base);
        if let Some(p) = self.ping.as_mut() {
            let _ = p.publish_with(|out| out.v = now);
        }
    }
    fn on_event(&mut self, ev: &Ev, _: i64, _: bool) {
        let now = now_ns(self.base);
        let _ = self.hist.record(now.saturating_sub(ev.v).max(1));
        self.left -= 1;
        if self.left == 0 {
            self.latch.count_down();
        } else if let Some(p) = self.ping.as_mut() {
            let now = now_ns(self.base);
            let _ = p.publish_with(|out| out.v = now);
        }
    }
}

fn ping_pong(p: &Params) -> Result<Measured, String> {
    let latch = Latch::new(1);
    let base = Instant::now();
    let (to_ponger, ponger_rx) = mpsc::channel();
    let (to_pinger, pinger_rx) = mpsc::channel();
    let mut ping_b = PipelineBuilder::single_producer(p.ring_size, Ev::default).map_err(e)?;
    ping_b
        .stage(
            "ponger",
            &[],
            Ponger {
                rx: ponger_rx,
                pong: None,
            },
            cfg(p, 1),
        )
        .map_err(e)?;
    let mut pong_b = PipelineBuilder::single_producer(p.ring_size, Ev::default).map_err(e)?;
    let pinger = Pinger {
        rx: pinger_rx,
        ping: None,
        base,
        left: p.pings,
        hist: crate::report::latency_histogram(),
        latch: latch.clone(),
    };
    let pinger_id = pong_b.stage("pinger", &[], pinger, cfg(p, 2)).map_err(e)?;
    let (ping_pipeline, ping_prod) = ping_b.start().map_err(e)?;
    let (pong_pipeline, pong_prod) = pong_b.start().map_err(e)?;
    let t = Instant::now();
    to_ponger
        .send(pong_prod)
        .map_err(|_| "ringex: ponger gone")?;
    to_pinger
        .send(ping_prod)
        .map_err(|_| "ringex: pinger gone")?;
    latch.wait(RUN_LIMIT)?;
    let elapsed = t.elapsed();
    ping_pipeline.halt().map_err(e)?;
    let mut halted = pong_pipeline.halt().map_err(e)?;
    let pinger: Pinger = halted.take(pinger_id).map_err(e)?;
    Ok(Measured {
        ops_per_sec: p.pings as f64 / elapsed.as_secs_f64(),
        results: vec![pinger.hist.len()],
        hist: Some(pinger.hist),
    })
}
