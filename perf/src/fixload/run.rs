//! Runs the load: log on every session, start a reader and a paced sender per
//! connection, report progress, wait for the last responses, log out, then
//! measure the TCP echo floor with the same plan.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use hdrhistogram::Histogram;

use super::initiator::{self, Reader, ReaderResult, Writer, cl_ord_id, lock};
use super::mix::{Action, Kind, OrderFlow, SymbolSpec};
use super::pace::{Schedule, wait_until};
use super::track::{Counters, Outstanding};
use super::{Expect, LoadConfig, LoadError, LoadReport, Phase, Plan, Progress, RunStats, echo};
use crate::report::latency_histogram;

/// Runs the load described by `cfg`, calling `progress` every
/// `cfg.progress_every` while it runs, and returns what was measured. Errors
/// only when the run cannot start (bad settings, connection or logon refused);
/// problems during the run are counted in the report.
pub fn run(cfg: &LoadConfig, progress: &mut dyn FnMut(&Progress)) -> Result<LoadReport, LoadError> {
    cfg.validate()?;
    let plan = Plan {
        connections: cfg.sessions.len() as u64,
        rate: cfg.rate,
        warmup: cfg.warmup,
        duration: cfg.duration,
        spin: cfg.spin,
        response_timeout: cfg.response_timeout,
        progress_every: cfg.progress_every,
    };
    let sample = sample_order(cfg);
    let fix = run_fix(cfg, &plan, progress)?;
    let floor = if cfg.floor {
        let fplan = Plan {
            duration: cfg.floor_duration,
            ..plan
        };
        Some(echo::run_floor(&fplan, &sample, progress)?)
    } else {
        None
    };
    Ok(LoadReport {
        scenario: cfg.scenario(),
        sessions: cfg.sessions.len(),
        fix,
        floor,
        message_size: sample.len(),
    })
}

/// The bytes of a typical NewOrderSingle of this run (the floor's message).
fn sample_order(cfg: &LoadConfig) -> Vec<u8> {
    let mut enc = initiator::OrderEncoder::new(
        cfg.sessions
            .first()
            .map_or("MM1", |s| s.sender_comp_id.as_str()),
        &cfg.target_comp_id,
    );
    let mut flow = OrderFlow::new(cfg.seed, 0, &cfg.symbols, cfg.mix.clone());
    // A passive order from the middle of the run (realistic seq/ClOrdID width).
    let k = cfg.rate * cfg.duration.as_secs().max(1) / cfg.sessions.len().max(1) as u64;
    let action = loop {
        let a = flow.next(k, cl_ord_id(0, k));
        if matches!(a, Action::New { ioc: false, .. }) {
            break a;
        }
    };
    enc.set_next_seq(k + 2);
    enc.action(&action, cl_ord_id(0, k), &cfg.symbols).to_vec()
}

struct SenderCtx {
    session: u64,
    schedule: Schedule,
    first_measured: u64,
    end: u64,
    spin: Duration,
    flow: OrderFlow,
    symbols: Arc<[SymbolSpec]>,
    table: Arc<Outstanding>,
    counters: Arc<Counters>,
    writer: Arc<Mutex<Writer>>,
    ended: Receiver<u64>,
    stop: Arc<AtomicBool>,
    problem: Arc<Mutex<Option<String>>>,
}

fn fix_sender(mut c: SenderCtx) -> Histogram<u64> {
    let mut lag = latency_histogram();
    for k in 0..c.end {
        if c.stop.load(Ordering::Acquire) {
            break;
        }
        let due = c.schedule.intended(k);
        wait_until(due, c.spin);
        while let Ok(cl) = c.ended.try_recv() {
            c.flow.forget(cl);
        }
        let cl = cl_ord_id(c.session, k);
        let action = c.flow.next(c.schedule.global_index(k), cl);
        let kind: Kind = action.kind();
        if c.table.insert(k, kind) {
            Counters::bump(&c.counters.timeouts);
        }
        let late = Instant::now().saturating_duration_since(due);
        let res = lock(&c.writer).send_action(&action, cl, &c.symbols);
        if let Err(e) = res {
            Counters::bump(&c.counters.errors);
            let mut p = c.problem.lock().unwrap_or_else(|e| e.into_inner());
            p.get_or_insert_with(|| format!("send: {e}"));
            // Never answered: take it back so it is not counted twice.
            let _ = c.table.take(k);
            break;
        }
        Counters::bump(&c.counters.sent);
        if k >= c.first_measured {
            Counters::bump(&c.counters.sent_measured);
            lag.saturating_record(u64::try_from(late.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    lag
}

/// What [`drive`] hands back.
pub(super) struct Driven {
    /// Merged sender lag histograms.
    pub lag: Histogram<u64>,
    /// When the last sender finished.
    pub finished: Instant,
}

/// Waits for the senders while reporting progress, then waits (still
/// reporting) until `done` or the response timeout.
pub(super) fn drive(
    plan: &Plan,
    t0: Instant,
    main_phase: Phase,
    counters: &Counters,
    senders: Vec<JoinHandle<Histogram<u64>>>,
    done: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&Progress),
) -> Driven {
    let planned = plan.warmup + plan.duration;
    let every = plan.progress_every.max(Duration::from_millis(10));
    let mut next_tick = Instant::now() + every;
    let mut tick = |phase: Phase, force: bool| {
        let now = Instant::now();
        if force || now >= next_tick {
            next_tick = now + every;
            let phase = match phase {
                Phase::Warmup | Phase::Measure => {
                    if now < t0 + plan.warmup {
                        Phase::Warmup
                    } else {
                        Phase::Measure
                    }
                }
                p => p,
            };
            progress(&Progress {
                phase,
                elapsed: now.saturating_duration_since(t0),
                planned,
                sent: Counters::get(&counters.sent),
                responses: counters.responses(),
                fills: Counters::get(&counters.fills),
                rejects: Counters::get(&counters.rejects),
                errors: Counters::get(&counters.errors),
            });
        }
    };
    while senders.iter().any(|h| !h.is_finished()) {
        thread::sleep(Duration::from_millis(20));
        tick(main_phase, false);
    }
    let finished = Instant::now();
    let mut lag = latency_histogram();
    for h in senders {
        if let Ok(l) = h.join() {
            let _ = lag.add(&l);
        }
    }
    let deadline = Instant::now() + plan.response_timeout;
    let drain = if main_phase == Phase::Floor {
        Phase::Floor
    } else {
        Phase::Drain
    };
    while !done() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
        tick(drain, false);
    }
    tick(drain, true);
    Driven { lag, finished }
}

fn spawn_err(e: std::io::Error) -> LoadError {
    LoadError::Io(format!("spawn thread: {e}"))
}

fn run_fix(
    cfg: &LoadConfig,
    plan: &Plan,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunStats, LoadError> {
    let mut connected = Vec::new();
    for spec in &cfg.sessions {
        match initiator::logon(
            cfg.addr,
            spec,
            &cfg.target_comp_id,
            cfg.heartbeat_s,
            cfg.response_timeout,
        ) {
            Ok(c) => connected.push(c),
            Err(e) => {
                for c in &connected {
                    let mut w = lock(&c.writer);
                    let _ = w.send_logout();
                    w.shutdown();
                }
                return Err(e);
            }
        }
    }
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let logout_sent = Arc::new(AtomicBool::new(false));
    let symbols: Arc<[SymbolSpec]> = cfg.symbols.clone().into();
    let mut mix = cfg.mix.clone();
    mix.orders_only |= cfg.expect == Expect::Echo;
    let t0 = Instant::now() + Duration::from_millis(20);
    let per_conn_rate = cfg.rate.div_ceil(plan.connections).max(1);
    let capacity = usize::try_from(
        per_conn_rate
            .saturating_mul(cfg.response_timeout.as_secs().max(1) + 1)
            .min(1 << 22),
    )
    .unwrap_or(1 << 22);
    let mut writers = Vec::new();
    let mut senders = Vec::new();
    let mut readers: Vec<JoinHandle<ReaderResult>> = Vec::new();
    let mut tables = Vec::new();
    let mut send_problems = Vec::new();
    for (i, c) in connected.into_iter().enumerate() {
        let session = i as u64;
        let schedule = Schedule::new(t0, cfg.rate, plan.connections, session);
        let first_measured = schedule.count_before(cfg.warmup);
        let end = schedule.count_before(cfg.warmup + cfg.duration);
        let table = Arc::new(Outstanding::new(capacity));
        let (ended_tx, ended_rx) = crossbeam_channel::bounded(1 << 16);
        let reader = Reader {
            session,
            schedule,
            first_measured,
            table: Arc::clone(&table),
            counters: Arc::clone(&counters),
            ended: ended_tx,
            writer: Arc::clone(&c.writer),
            heartbeat: Duration::from_secs(u64::from(cfg.heartbeat_s)),
            logout_sent: Arc::clone(&logout_sent),
            stop: Arc::clone(&stop),
            hist: latency_histogram(),
            by_kind: std::array::from_fn(|_| latency_histogram()),
        };
        let inbound = c.inbound;
        readers.push(
            thread::Builder::new()
                .name(format!("fix-recv-{i}"))
                .spawn(move || reader.run(inbound))
                .map_err(spawn_err)?,
        );
        let problem = Arc::new(Mutex::new(None));
        send_problems.push(Arc::clone(&problem));
        let ctx = SenderCtx {
            session,
            schedule,
            first_measured,
            end,
            spin: cfg.spin,
            flow: OrderFlow::new(cfg.seed, session, &cfg.symbols, mix.clone()),
            symbols: Arc::clone(&symbols),
            table: Arc::clone(&table),
            counters: Arc::clone(&counters),
            writer: Arc::clone(&c.writer),
            ended: ended_rx,
            stop: Arc::clone(&stop),
            problem,
        };
        senders.push(
            thread::Builder::new()
                .name(format!("fix-send-{i}"))
                .spawn(move || fix_sender(ctx))
                .map_err(spawn_err)?,
        );
        tables.push(table);
        writers.push(c.writer);
    }
    let driven = drive(
        plan,
        t0,
        Phase::Warmup,
        &counters,
        senders,
        &|| counters.responses() >= Counters::get(&counters.sent),
        progress,
    );
    let pending: u64 = tables.iter().map(|t| t.pending()).sum();
    counters.timeouts.fetch_add(pending, Ordering::Relaxed);
    // Log out and give the acceptor a moment to answer.
    logout_sent.store(true, Ordering::Release);
    for w in &writers {
        let _ = lock(w).send_logout();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    for w in &writers {
        lock(w).shutdown();
    }
    let mut hist = latency_histogram();
    let mut by_kind: [Histogram<u64>; 4] = std::array::from_fn(|_| latency_histogram());
    let mut problems = Vec::new();
    for (i, r) in readers.into_iter().enumerate() {
        let who = cfg
            .sessions
            .get(i)
            .map_or("?", |s| s.sender_comp_id.as_str());
        match r.join() {
            Ok(res) => {
                let _ = hist.add(&res.hist);
                for (all, one) in by_kind.iter_mut().zip(&res.by_kind) {
                    let _ = all.add(one);
                }
                if let Some(p) = res.problem {
                    problems.push(format!("{who}: {p}"));
                }
                if !res.logged_out {
                    problems.push(format!("{who}: no Logout reply from the acceptor"));
                }
            }
            Err(_) => problems.push(format!("{who}: reader thread panicked")),
        }
        if let Some(p) = send_problems
            .get(i)
            .and_then(|p| p.lock().unwrap_or_else(|e| e.into_inner()).take())
        {
            problems.push(format!("{who}: {p}"));
        }
    }
    let name = match cfg.expect {
        Expect::ExecReport => "ringex",
        Expect::Echo => "ringex-fix-echo",
    };
    let mut stats = RunStats::new(
        name,
        plan,
        t0,
        driven.finished,
        hist,
        driven.lag,
        &counters,
        problems,
    );
    stats.by_kind = [Kind::New, Kind::Marketable, Kind::Cancel, Kind::Replace]
        .into_iter()
        .zip(by_kind)
        .filter(|(_, h)| !h.is_empty())
        .map(|(k, h)| (k.name().to_string(), h))
        .collect();
    Ok(stats)
}
