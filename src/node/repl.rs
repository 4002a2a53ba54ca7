//! Replication wiring of the node: the primary's replicate stage and its poller,
//! the journal as the retransmission source, the secondary's receiver thread and
//! its gated output.
//!
//! Primary: the `replicate` stage sits beside the `journal` stage on the inbound
//! ring (both depend only on the producers). For each ring batch it copies the
//! slots' bytes into a buffer, then, holding the [`Replicator`] once for the
//! batch, `send`s every record (full datagrams go out at once), `flush`es the
//! rest and polls the socket once (draining ACKs). If more is already published
//! on the ring it returns at once and sends that too: many batches are in
//! flight per round trip, and the stage's published sequence is the *sent*
//! sequence. The guarantee that the logic never processes a message the
//! secondary has not acknowledged comes from a [`Gate`] on the `logic` stage
//! over the replicator's acknowledged sequence: the logic's barrier is
//! min(journaled, sent, acked). When nothing more is waiting, the stage keeps
//! polling for the acknowledgement of what it sent (low latency when lightly
//! loaded) for up to [`ACTIVE_WAIT`], then leaves the socket to the `repl-poll`
//! thread, which keeps the protocol alive (heartbeats, NAKs, catch-up of a
//! restarted secondary, checkpoints, the degrade policy) whenever the stage has
//! not touched the replicator for a millisecond. Whoever polls wakes the ring's
//! sleeping stages after the acknowledged sequence moved, so a `block` logic
//! stage does not wait for its sleep timeout.
//!
//! Stopping: when the ring halts, the stage's `on_halt` waits up to
//! [`STOP_GRACE`] for the acknowledgement of everything it sent, then opens the
//! gate (loudly) so the logic can drain. If the stage thread panics, it lowers
//! the ring's halt point to the acknowledged sequence instead, so the logic
//! stops exactly there rather than waiting forever.
//!
//! Secondary: a `repl-recv` thread owns the [`Receiver`] and copies every
//! delivered record verbatim into the node's own inbound ring (the record
//! carries the primary's sequence, which equals the ring sequence + base because
//! the receiver starts at the journal's next sequence), so the journal stage
//! writes the same bytes at the same sequences and the logic applies them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::msg::{Header, Message};
use engine::pipeline::Gate;
use engine::ring::{Barrier, EventHandler, MultiSequencer, Ring};
use replication::{
    Idle, PrimaryConfig, PrimaryStats, Receiver, RecordBatch, Replicator, RetransmitSource,
    SecondaryConfig, SecondaryStats, SocketConfig,
};

use super::InboundProducer;
use super::checkpoint::Checkpoints;
use super::slot::Slot;
use super::stages::{EventOut, Fatal, set_fatal};
use crate::config::{IdleConfig, ReplicationSection};

/// How long a stopping replicate stage still waits for acknowledgements of what
/// is left in the ring before letting the logic process it unacknowledged
/// (those messages are journaled here; the gateways are already closed, so no
/// client was told about them).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long the replicate stage, with nothing more to send, keeps polling for
/// the acknowledgement of what it sent before leaving that to the poller (which
/// polls about every millisecond). Bounds the CPU an unanswered stage burns.
const ACTIVE_WAIT: Duration = Duration::from_millis(20);

/// The inbound ring.
type InboundRing = Arc<Ring<Slot, MultiSequencer>>;

/// The idle strategy the configuration names.
pub fn idle_of(r: &ReplicationSection) -> Idle {
    match r.idle {
        IdleConfig::BusySpin => Idle::Spin,
        IdleConfig::Yield => Idle::Yield,
        IdleConfig::Sleep => Idle::Sleep(Duration::from_micros(r.idle_sleep_us)),
    }
}

/// Waits like `idle`, except that right after activity `Sleep` yields for a
/// while first (so a busy link is not slowed by timer sleeps).
struct Idler {
    idle: Idle,
    since_active: u32,
}

impl Idler {
    const YIELDS_BEFORE_SLEEP: u32 = 2000;

    fn new(idle: Idle) -> Self {
        Idler {
            idle,
            since_active: 0,
        }
    }

    fn active(&mut self) {
        self.since_active = 0;
    }

    fn idle(&mut self) {
        match self.idle {
            Idle::Sleep(_) if self.since_active < Self::YIELDS_BEFORE_SLEEP => {
                self.since_active += 1;
                std::thread::yield_now();
            }
            i => i.idle(),
        }
    }
}

/// Serves records older than the replicator's window from the node's journal.
pub struct JournalSource {
    dir: PathBuf,
    reader: Option<journal::Reader>,
}

impl JournalSource {
    /// A source over the journal directory `dir`.
    pub fn new(dir: PathBuf) -> Self {
        JournalSource { dir, reader: None }
    }
}

impl RetransmitSource for JournalSource {
    fn read(&mut self, from: u64, max: usize, out: &mut RecordBatch) -> Result<usize, String> {
        if self.reader.as_ref().is_none_or(|r| r.next_seq() != from) {
            self.reader = Some(journal::Reader::open(&self.dir, from).map_err(|e| e.to_string())?);
        }
        let Some(r) = self.reader.as_mut() else {
            return Ok(0);
        };
        let mut n = 0;
        let mut expect = from;
        while n < max {
            match r.next_record() {
                Ok(Some(rec)) if rec.seq == expect => {
                    out.push(rec.payload);
                    n += 1;
                    expect += 1;
                }
                Ok(Some(_)) | Err(_) => {
                    self.reader = None;
                    break;
                }
                Ok(None) => break,
            }
        }
        Ok(n)
    }
}

/// What the primary's stage and poller share.
pub struct PrimaryShared {
    repl: Mutex<Replicator>,
    /// Batches the stage handled (the poller stays away while this moves).
    batches: AtomicU64,
    stopping: AtomicBool,
    /// Checkpoint hashes the logic produced, to send.
    pub checkpoints: Arc<Checkpoints>,
    was_degraded: AtomicBool,
    /// The inbound ring, to wake its sleeping stages when ACKs arrive.
    ring: InboundRing,
}

impl PrimaryShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Replicator> {
        self.repl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The replicator's counters.
    pub fn stats(&self) -> PrimaryStats {
        self.lock().stats()
    }

    /// Wakes the ring's sleeping stages (the gated logic) after the
    /// acknowledged sequence may have moved. A fence and a load when nobody sleeps.
    fn wake(&self) {
        self.ring.waker().wake();
    }

    /// One status line: acknowledged position, peer liveness, degradation.
    pub fn status(&self) -> String {
        let r = self.lock();
        let s = r.stats();
        format!(
            "replication: primary head {} acked {} secondary {}{}, {} resent datagrams, {} checkpoints sent, {} degradations",
            r.head(),
            r.acked_next(),
            if r.peer_alive() { "alive" } else { "SILENT" },
            if r.is_degraded() { ", DEGRADED" } else { "" },
            s.datagrams_resent,
            s.checkpoints_sent,
            s.degrade_events,
        )
    }
}

/// The primary's replication: the stage handler to put on the ring and the
/// poller thread.
pub struct PrimaryRepl {
    /// Shared with the stage and the poller.
    pub shared: Arc<PrimaryShared>,
    poller: Option<JoinHandle<()>>,
    stop_poller: Arc<AtomicBool>,
}

impl PrimaryRepl {
    /// Binds the socket; the replicator starts at `first_seq` (the journal's
    /// next, which ring sequence 0 carries). Returns the stage to put on `ring`
    /// and the gate to put on the logic stage.
    pub fn start(
        r: &ReplicationSection,
        journal_dir: PathBuf,
        first_seq: u64,
        checkpoints: Arc<Checkpoints>,
        ring: &InboundRing,
    ) -> Result<(PrimaryRepl, ReplicateStage, Arc<Gate>), String> {
        let peer = r
            .peer
            .ok_or("replication.peer is required for role primary")?;
        let mut pc = PrimaryConfig::new(r.bind, peer, r.epoch);
        pc.socket = SocketConfig {
            bind: r.bind,
            peer,
            send_buffer: Some(r.send_buffer),
            recv_buffer: Some(r.recv_buffer),
        };
        pc.first_seq = first_seq;
        pc.max_datagram = r.max_datagram;
        pc.window = r.window;
        pc.record_capacity = engine::msg::MAX_MESSAGE_LEN;
        pc.heartbeat_interval = Duration::from_millis(r.heartbeat_ms);
        pc.peer_timeout = Duration::from_millis(r.peer_timeout_ms);
        pc.retransmit_timeout = Duration::from_millis(r.retransmit_timeout_ms);
        pc.max_in_flight = r.max_in_flight;
        pc.policy = r.policy();
        pc.idle = idle_of(r);
        let repl = Replicator::new(pc, Box::new(JournalSource::new(journal_dir)))
            .map_err(|e| format!("replication socket {}: {e}", r.bind))?;
        let shared = Arc::new(PrimaryShared {
            repl: Mutex::new(repl),
            batches: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            checkpoints,
            was_degraded: AtomicBool::new(false),
            ring: Arc::clone(ring),
        });
        let stop_poller = Arc::new(AtomicBool::new(false));
        let poller = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop_poller);
            let every = Duration::from_millis(1).min(Duration::from_millis(r.heartbeat_ms) / 2);
            std::thread::Builder::new()
                .name("repl-poll".into())
                .spawn(move || poll_loop(&shared, &stop, every.max(Duration::from_micros(200))))
                .map_err(|e| format!("replication poller thread: {e}"))?
        };
        let barrier = shared.lock().acked_sequence();
        let offset = i64::try_from(first_seq).map_err(|_| "first sequence out of range")?;
        let gate = Arc::new(Gate::new(Arc::clone(&barrier), offset));
        let stage = ReplicateStage {
            shared: Arc::clone(&shared),
            barrier,
            gate: Arc::clone(&gate),
            probe: ring.barrier(&[]),
            idle: idle_of(r),
            buf: Vec::with_capacity(1 << 20),
            ends: Vec::with_capacity(4096),
            seqs: Vec::with_capacity(4096),
            last_ring_seq: -1,
        };
        Ok((
            PrimaryRepl {
                shared,
                poller: Some(poller),
                stop_poller,
            },
            stage,
            gate,
        ))
    }

    /// From now on the stage waits at most a short grace for acknowledgements
    /// (call before halting the ring).
    pub fn begin_stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
    }

    /// Stops the poller; the final counters.
    pub fn stop(mut self) -> PrimaryStats {
        self.stop_poller.store(true, Ordering::Release);
        if let Some(t) = self.poller.take() {
            let _ = t.join();
        }
        self.shared.stats()
    }
}

fn poll_loop(shared: &PrimaryShared, stop: &AtomicBool, every: Duration) {
    let mut seen = u64::MAX;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(every);
        let b = shared.batches.load(Ordering::Acquire);
        if b != seen {
            // The stage is active: it polls at every batch end.
            seen = b;
            continue;
        }
        if let Ok(mut r) = shared.repl.try_lock() {
            shared
                .checkpoints
                .drain_outbox(|s, h| r.send_checkpoint(s, h));
            r.poll();
            note_degrade(shared, &r);
            drop(r);
            shared.wake();
        }
    }
}

/// Logs the secondary's return after a degradation (the replicator logs the
/// degradation itself, with its counter).
fn note_degrade(shared: &PrimaryShared, r: &Replicator) {
    let d = r.is_degraded();
    if shared.was_degraded.swap(d, Ordering::Relaxed) != d && !d {
        crate::run::log(&format!(
            "replication: secondary back in step at seq {}; the logic waits for its acknowledgements again ({} degradations so far)",
            r.head(),
            r.stats().degrade_events
        ));
    }
}

/// The primary's `replicate` stage (see the module docs).
pub struct ReplicateStage {
    shared: Arc<PrimaryShared>,
    /// The replicator's acknowledged sequence (journal numbering).
    barrier: Arc<std::sync::atomic::AtomicI64>,
    /// The logic's gate over `barrier` (ring numbering).
    gate: Arc<Gate>,
    /// Reads the producers' publication: is more already waiting?
    probe: Barrier<Slot, MultiSequencer>,
    idle: Idle,
    buf: Vec<u8>,
    ends: Vec<usize>,
    seqs: Vec<u64>,
    /// Ring sequence of the last record buffered.
    last_ring_seq: i64,
}

impl ReplicateStage {
    /// Whether the producers already published past what this stage buffered
    /// (one availability check).
    fn more_waiting(&self) -> bool {
        let next = self.last_ring_seq + 1;
        self.probe.available(next, next) >= next
    }

    fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire) || self.probe.ring().is_halted()
    }

    /// Sends the buffered records; waits for their acknowledgement only while
    /// nothing else is waiting to be sent (see the module docs).
    fn flush(&mut self) {
        if self.ends.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let mut r = shared.lock();
        let mut start = 0;
        for (&end, &seq) in self.ends.iter().zip(&self.seqs) {
            if let Err(e) = r.send(seq, &self.buf[start..end]) {
                // Sequences come from the ring in order: this is a wiring bug.
                // Fail loudly rather than let the logic run ahead of replication.
                eprintln!("ringex: replication: {e}; the node stops processing");
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            start = end;
        }
        let last = self.seqs.last().copied().unwrap_or(0);
        self.buf.clear();
        self.ends.clear();
        self.seqs.clear();
        r.flush();
        r.poll();
        shared
            .checkpoints
            .drain_outbox(|s, h| r.send_checkpoint(s, h));
        note_degrade(&shared, &r);
        shared.wake();
        if !self.more_waiting() {
            self.await_ack(&mut r, last);
        }
        drop(r);
        shared.batches.fetch_add(1, Ordering::Release);
    }

    /// Polls until `last` is acknowledged (or released by the degrade
    /// policy), more is published, the node stops, or [`ACTIVE_WAIT`] passed.
    fn await_ack(&self, r: &mut Replicator, last: u64) {
        let shared = &*self.shared;
        let mut idler = Idler::new(self.idle);
        let t0 = Instant::now();
        let mut rounds = 0u32;
        loop {
            if self.barrier.load(Ordering::Acquire) >= last as i64 || self.more_waiting() {
                return;
            }
            rounds = rounds.wrapping_add(1);
            if rounds.is_multiple_of(64) {
                shared
                    .checkpoints
                    .drain_outbox(|s, h| r.send_checkpoint(s, h));
                note_degrade(shared, r);
                if self.stopping() || t0.elapsed() >= ACTIVE_WAIT {
                    return;
                }
            }
            idler.idle();
            let before = self.barrier.load(Ordering::Relaxed);
            r.poll();
            if self.barrier.load(Ordering::Relaxed) != before {
                shared.wake();
            }
        }
    }

    /// At halt: waits up to [`STOP_GRACE`] for the acknowledgement of
    /// everything sent, then opens the gate so the logic can drain.
    fn drain_acks(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut r = shared.lock();
        let mut idler = Idler::new(self.idle);
        let t0 = Instant::now();
        loop {
            r.poll();
            shared.wake();
            let head = r.head();
            if self.barrier.load(Ordering::Acquire) >= head as i64 - 1 {
                return;
            }
            if t0.elapsed() >= STOP_GRACE {
                crate::run::log(&format!(
                    "replication: stopping without the secondary's acknowledgement of seqs {}..={} (journaled here)",
                    r.acked_next(),
                    head.saturating_sub(1)
                ));
                self.gate.open();
                self.probe.ring().waker().wake_all();
                return;
            }
            idler.idle();
        }
    }
}

impl EventHandler<Slot> for ReplicateStage {
    fn on_event(&mut self, slot: &Slot, sequence: i64, end_of_batch: bool) {
        let m = slot.msg();
        self.seqs.push(super::slot::record_seq(m));
        self.buf.extend_from_slice(m);
        self.ends.push(self.buf.len());
        self.last_ring_seq = sequence;
        if end_of_batch || self.ends.len() >= 4096 {
            self.flush();
        }
    }

    fn on_halt(&mut self) {
        self.flush();
        self.drain_acks();
    }
}

impl Drop for ReplicateStage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The stage died: it will send nothing more. Stop the ring where the
            // logic may legitimately stop (the acknowledged sequence) rather
            // than leave it waiting for acknowledgements forever.
            self.probe.ring().abort(self.gate.limit());
        }
    }
}

/// What the secondary's receiver thread shares with the node.
pub struct SecondaryShared {
    /// The receiver's counters, refreshed by its thread.
    stats: Mutex<SecondaryStats>,
    /// Next sequence expected from the primary (all below delivered to the ring).
    pub next_seq: AtomicU64,
    /// Whether the primary was heard within the peer timeout.
    pub primary_alive: AtomicBool,
    /// Checkpoint comparison.
    pub checkpoints: Arc<Checkpoints>,
}

impl SecondaryShared {
    /// The receiver's counters.
    pub fn stats(&self) -> SecondaryStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The secondary's receiver thread.
pub struct SecondaryRepl {
    /// Shared with the thread.
    pub shared: Arc<SecondaryShared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SecondaryRepl {
    /// Binds the socket, asks the primary for everything from `next_seq` and
    /// publishes what arrives through `producer`.
    pub fn start(
        r: &ReplicationSection,
        next_seq: u64,
        mut producer: InboundProducer,
        checkpoints: Arc<Checkpoints>,
        fatal: Fatal,
    ) -> Result<SecondaryRepl, String> {
        let peer = r
            .peer
            .ok_or("replication.peer is required for role secondary")?;
        let mut sc = SecondaryConfig::new(r.bind, peer, r.epoch);
        sc.socket = SocketConfig {
            bind: r.bind,
            peer,
            send_buffer: Some(r.send_buffer),
            recv_buffer: Some(r.recv_buffer),
        };
        sc.next_seq = next_seq;
        sc.heartbeat_interval = Duration::from_millis(r.heartbeat_ms);
        sc.peer_timeout = Duration::from_millis(r.peer_timeout_ms);
        let mut rx =
            Receiver::new(sc).map_err(|e| format!("replication socket {}: {e}", r.bind))?;
        let shared = Arc::new(SecondaryShared {
            stats: Mutex::new(SecondaryStats::default()),
            next_seq: AtomicU64::new(next_seq),
            primary_alive: AtomicBool::new(false),
            checkpoints,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            let mut idler = Idler::new(idle_of(r));
            std::thread::Builder::new()
                .name("repl-recv".into())
                .spawn(move || {
                    let mut broken = false;
                    let mut polls = 0u32;
                    while !stop.load(Ordering::Acquire) {
                        let n = rx.poll(&mut |seq, rec| {
                            if broken {
                                return;
                            }
                            if let Err(e) = producer.publish_raw(seq, rec) {
                                broken = true;
                                set_fatal(&fatal, format!("replicated record {seq}: {e}"));
                            }
                        });
                        if broken {
                            // Never acknowledge-and-drop: stop receiving; the node exits.
                            break;
                        }
                        while let Some((s, h)) = rx.take_checkpoint() {
                            shared.checkpoints.remote(s, h);
                        }
                        polls = polls.wrapping_add(1);
                        if n > 0 {
                            shared.next_seq.store(rx.next_seq(), Ordering::Release);
                            idler.active();
                        } else {
                            idler.idle();
                        }
                        if n > 0 || polls.is_multiple_of(64) {
                            shared
                                .primary_alive
                                .store(rx.primary_alive(), Ordering::Relaxed);
                            if let Ok(mut s) = shared.stats.try_lock() {
                                *s = rx.stats();
                            }
                        }
                    }
                    shared.next_seq.store(rx.next_seq(), Ordering::Release);
                    if let Ok(mut s) = shared.stats.lock() {
                        *s = rx.stats();
                    }
                })
                .map_err(|e| format!("replication receiver thread: {e}"))?
        };
        Ok(SecondaryRepl {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops receiving (the socket closes); everything delivered before is in
    /// the ring. Returns the next sequence expected (all below were delivered).
    pub fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.next_seq.load(Ordering::Acquire)
    }

    /// One status line.
    pub fn status(&self) -> String {
        let s = self.shared.stats();
        let c = &self.shared.checkpoints;
        format!(
            "replication: secondary at seq {}, primary {}, {}; checkpoints {} equal, {} different (last compared seq {}); {} duplicate / {} out-of-order datagrams, {} NAKs, {} dropped (foreign epoch {}, bad {})",
            self.shared
                .next_seq
                .load(Ordering::Acquire)
                .saturating_sub(1),
            if self.shared.primary_alive.load(Ordering::Relaxed) {
                "alive"
            } else {
                "SILENT"
            },
            if c.in_sync() {
                "in sync"
            } else {
                "NOT IN SYNC (state hash mismatch)"
            },
            c.matched.load(Ordering::Relaxed),
            c.mismatched.load(Ordering::Relaxed),
            c.last_compared.load(Ordering::Relaxed),
            s.duplicates,
            s.out_of_order,
            s.naks_sent,
            s.foreign_epoch + s.garbage + s.truncated + s.bad_crc + s.unexpected,
            s.foreign_epoch,
            s.garbage + s.truncated + s.bad_crc + s.unexpected,
        )
    }
}

impl Drop for SecondaryRepl {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The secondary's sender-stage output: events are counted and kept back until
/// promotion opens the gate, then delivered like a primary's.
pub struct Gated<O: EventOut> {
    inner: O,
    open: Arc<AtomicBool>,
    kept: Arc<AtomicU64>,
}

impl<O: EventOut> Gated<O> {
    /// Closed: nothing is delivered until `open` is set.
    pub fn new(inner: O, open: Arc<AtomicBool>, kept: Arc<AtomicU64>) -> Self {
        Gated { inner, open, kept }
    }
}

impl<O: EventOut> EventOut for Gated<O> {
    fn deliver(&mut self, header: &Header, msg: &Message) {
        if self.open.load(Ordering::Acquire) {
            self.inner.deliver(header, msg);
        } else {
            self.kept.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn end_of_batch(&mut self) {
        if self.open.load(Ordering::Acquire) {
            self.inner.end_of_batch();
        }
    }
}
