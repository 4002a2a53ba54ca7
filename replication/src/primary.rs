//! The primary side: [`Replicator`] sends records, serves NAKs and catch-up, and
//! publishes the acknowledged position for the business-logic barrier.
//!
//! It is driven from one thread (the node's replicate stage): `send` records in
//! sequence, `flush` at the end of a ring batch, and `poll` often (it drains
//! acknowledgements, serves retransmissions, sends heartbeats, applies the policy).

use crate::window::Window;
use crate::wire::{self, DataBuilder, HEADER_LEN, Kind, RECORD_OVERHEAD};
use crate::{Error, Idle, Policy, RecordBatch, RetransmitSource, SocketConfig, open_socket};
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Configuration of a [`Replicator`].
#[derive(Debug, Clone)]
pub struct PrimaryConfig {
    /// Sockets: bind address, the secondary's address, buffer sizes.
    pub socket: SocketConfig,
    /// Session id of this primary run; datagrams with another epoch are dropped.
    pub epoch: u64,
    /// Seq of the first record this replicator will send.
    pub first_seq: u64,
    /// Largest datagram in bytes (1400 for a real network; loopback can use up to 65507).
    pub max_datagram: usize,
    /// Records held in memory for retransmission.
    pub window: usize,
    /// Pre-allocated bytes per window slot (larger records still work, with an allocation).
    pub record_capacity: usize,
    /// Heartbeat interval when nothing else was sent.
    pub heartbeat_interval: Duration,
    /// The secondary counts as gone after this long without a datagram from it.
    pub peer_timeout: Duration,
    /// Resend from the acknowledged position after this long without progress.
    pub retransmit_timeout: Duration,
    /// Records beyond the secondary's position that retransmission/catch-up may have in flight.
    pub max_in_flight: u64,
    /// What to do when the secondary stops acknowledging.
    pub policy: Policy,
    /// How [`Replicator::wait_for`] waits between polls.
    pub idle: Idle,
}

impl PrimaryConfig {
    /// Defaults for a primary bound to `bind`, replicating to `peer`.
    pub fn new(bind: std::net::SocketAddr, peer: std::net::SocketAddr, epoch: u64) -> Self {
        PrimaryConfig {
            socket: SocketConfig {
                bind,
                peer,
                send_buffer: Some(4 << 20),
                recv_buffer: Some(4 << 20),
            },
            epoch,
            first_seq: 0,
            max_datagram: 1400,
            window: 1 << 16,
            record_capacity: 256,
            heartbeat_interval: Duration::from_millis(10),
            peer_timeout: Duration::from_millis(100),
            retransmit_timeout: Duration::from_millis(20),
            max_in_flight: 4096,
            policy: Policy::Wait,
            idle: Idle::Yield,
        }
    }
}

/// Counters of the primary side. Every dropped datagram lands in exactly one counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrimaryStats {
    /// Records given to `send`.
    pub records_sent: u64,
    /// Data datagrams sent live.
    pub datagrams_sent: u64,
    /// Data datagrams sent again (NAK, timeout, catch-up).
    pub datagrams_resent: u64,
    /// Records resent from the in-memory window.
    pub resent_from_window: u64,
    /// Records resent from the [`RetransmitSource`].
    pub resent_from_source: u64,
    /// Acks received (valid).
    pub acks: u64,
    /// NAKs received (valid).
    pub naks: u64,
    /// Heartbeats received (valid).
    pub heartbeats: u64,
    /// Retransmit timeouts fired.
    pub timeouts: u64,
    /// Datagrams shorter than their framing says.
    pub truncated: u64,
    /// Datagrams that are not ours (magic/version/kind) or malformed.
    pub garbage: u64,
    /// Checksum mismatches.
    pub bad_crc: u64,
    /// Datagrams with another epoch.
    pub foreign_epoch: u64,
    /// Valid datagrams that make no sense here (data sent to a primary, ack beyond head).
    pub unexpected: u64,
    /// Socket send failures (the datagram counts as lost).
    pub send_errors: u64,
    /// Records requested that neither the window nor the source could provide.
    pub unavailable: u64,
    /// Times the degrade policy kicked in.
    pub degrade_events: u64,
    /// Times synchronous replication resumed after a degradation.
    pub resync_events: u64,
    /// State checkpoints sent to the secondary.
    pub checkpoints_sent: u64,
}

/// The primary side of replication. See the module docs.
pub struct Replicator {
    cfg: PrimaryConfig,
    sock: UdpSocket,
    source: Box<dyn RetransmitSource>,
    window: Window,
    live: DataBuilder,
    resend: DataBuilder,
    fallback: RecordBatch,
    rx: Vec<u8>,
    /// Next seq to send.
    head: u64,
    /// Highest cumulative ack (next expected by the secondary), monotonic.
    acked_next: u64,
    /// The secondary's latest claimed position (may go down when it restarts).
    peer_next: u64,
    /// Pending retransmission `[cursor, resend_end)`.
    cursor: u64,
    resend_end: u64,
    barrier: Arc<AtomicI64>,
    last_progress: Instant,
    last_sent: Instant,
    last_heard: Option<Instant>,
    last_timeout: Instant,
    /// Retransmit timeouts in a row without progress (doubles the next wait).
    backoff: u32,
    degraded: bool,
    stats: PrimaryStats,
}

impl Replicator {
    /// Binds the socket and prepares buffers. `source` serves records older than the window.
    pub fn new(cfg: PrimaryConfig, source: Box<dyn RetransmitSource>) -> Result<Self, Error> {
        if cfg.max_datagram < HEADER_LEN + RECORD_OVERHEAD + 1
            || cfg.max_datagram > wire::MAX_UDP_PAYLOAD
        {
            return Err(Error::Config(format!(
                "max_datagram {} outside {}..={}",
                cfg.max_datagram,
                HEADER_LEN + RECORD_OVERHEAD + 1,
                wire::MAX_UDP_PAYLOAD
            )));
        }
        if cfg.window == 0 || cfg.max_in_flight == 0 {
            return Err(Error::Config("window and max_in_flight must be > 0".into()));
        }
        if cfg.first_seq > i64::MAX as u64 {
            return Err(Error::Config("first_seq must fit in i64".into()));
        }
        let sock = open_socket(&cfg.socket)?;
        let now = Instant::now();
        Ok(Replicator {
            window: Window::new(cfg.window, cfg.record_capacity, cfg.first_seq),
            live: DataBuilder::new(cfg.max_datagram),
            resend: DataBuilder::new(cfg.max_datagram),
            fallback: RecordBatch::new(),
            rx: vec![0u8; wire::MAX_UDP_PAYLOAD + 1],
            head: cfg.first_seq,
            acked_next: cfg.first_seq,
            peer_next: cfg.first_seq,
            cursor: cfg.first_seq,
            resend_end: cfg.first_seq,
            barrier: Arc::new(AtomicI64::new(cfg.first_seq as i64 - 1)),
            last_progress: now,
            last_sent: now,
            last_heard: None,
            last_timeout: now,
            backoff: 0,
            degraded: false,
            stats: PrimaryStats::default(),
            sock,
            source,
            cfg,
        })
    }

    /// The local socket address (useful when bound to port 0).
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, Error> {
        self.sock
            .local_addr()
            .map_err(|e| Error::Io("local_addr", e))
    }

    /// The barrier the business logic waits on: the highest seq it may process
    /// (acknowledged by the secondary, or sent while degraded); `first_seq - 1`
    /// before any. Monotonic.
    pub fn acked_sequence(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.barrier)
    }

    /// Next seq `send` expects.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Seq one past the highest record the secondary acknowledged.
    pub fn acked_next(&self) -> u64 {
        self.acked_next
    }

    /// Whether the degrade policy is in force (continuing without the secondary).
    pub fn is_degraded(&self) -> bool {
        self.degraded
    }

    /// Whether a datagram from the secondary arrived within `peer_timeout`.
    pub fn peer_alive(&self) -> bool {
        self.last_heard
            .is_some_and(|t| t.elapsed() < self.cfg.peer_timeout)
    }

    /// Counters so far.
    pub fn stats(&self) -> PrimaryStats {
        self.stats
    }

    /// Queues record `seq` (must be [`head`](Self::head)) for sending; full
    /// datagrams go out at once, the rest on [`flush`](Self::flush).
    pub fn send(&mut self, seq: u64, rec: &[u8]) -> Result<(), Error> {
        if seq != self.head {
            return Err(Error::OutOfSequence {
                expected: self.head,
                got: seq,
            });
        }
        let max = self.cfg.max_datagram - HEADER_LEN - RECORD_OVERHEAD;
        if rec.len() > max {
            return Err(Error::RecordTooLarge {
                len: rec.len(),
                max,
            });
        }
        if !self.live.fits(rec.len()) {
            self.flush();
        }
        if self.acked_next == self.head && !self.degraded {
            // Outstanding from now on: the no-progress clock starts here.
            self.last_progress = Instant::now();
        }
        self.window.push(rec);
        self.live.push(seq, rec);
        self.head += 1;
        self.stats.records_sent += 1;
        if self.degraded {
            self.publish_barrier();
        }
        Ok(())
    }

    /// Sends the partly filled datagram, if any.
    pub fn flush(&mut self) {
        if self.live.count() == 0 {
            return;
        }
        let d = self.live.finish(self.cfg.epoch);
        match self.sock.send_to(d, self.cfg.socket.peer) {
            Ok(_) => self.stats.datagrams_sent += 1,
            Err(_) => self.stats.send_errors += 1,
        }
        self.last_sent = Instant::now();
    }

    /// Drains incoming datagrams, serves retransmissions, sends a heartbeat when
    /// due and applies the policy. Never blocks.
    pub fn poll(&mut self) {
        loop {
            let n = match self.sock.recv_from(&mut self.rx) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => continue, // e.g. ICMP-reported refusals: nothing to read
            };
            self.handle(n);
        }
        let now = Instant::now();
        self.check_timeout(now);
        self.serve_resend();
        if now.duration_since(self.last_sent) >= self.cfg.heartbeat_interval {
            self.control(Kind::Heartbeat, self.head, 0);
        }
        self.apply_policy(now);
    }

    /// Flushes, then polls until the secondary acknowledged `seq` (or the degrade
    /// policy released it) or `timeout` passed. Returns whether `seq` is covered.
    pub fn wait_for(&mut self, seq: u64, timeout: Duration) -> bool {
        self.flush();
        let deadline = Instant::now() + timeout;
        loop {
            self.poll();
            if self.barrier.load(Ordering::Acquire) >= seq as i64 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.cfg.idle.idle();
        }
    }

    /// Sends a `Checkpoint` datagram: `digest` of the primary's state after
    /// record `seq`. Best effort (a lost one is simply not compared).
    pub fn send_checkpoint(&mut self, seq: u64, digest: u64) {
        let mut out = [0u8; wire::CHECKPOINT_LEN];
        wire::encode_checkpoint(&mut out, self.cfg.epoch, seq, digest);
        match self.sock.send_to(&out, self.cfg.socket.peer) {
            Ok(_) => self.stats.checkpoints_sent += 1,
            Err(_) => self.stats.send_errors += 1,
        }
        self.last_sent = Instant::now();
    }

    fn handle(&mut self, n: usize) {
        let h = match wire::decode(&self.rx[..n]) {
            Ok(h) => h,
            Err(wire::DecodeError::Truncated) => return self.stats.truncated += 1,
            Err(wire::DecodeError::BadCrc) => return self.stats.bad_crc += 1,
            Err(_) => return self.stats.garbage += 1,
        };
        if h.epoch != self.cfg.epoch {
            self.stats.foreign_epoch += 1;
            return;
        }
        match h.kind {
            Kind::Ack | Kind::Heartbeat if h.seq <= self.head => {
                self.last_heard = Some(Instant::now());
                if h.kind == Kind::Ack {
                    self.stats.acks += 1;
                } else {
                    self.stats.heartbeats += 1;
                }
                self.peer_next = self.peer_next.max(h.seq);
                if h.seq > self.acked_next {
                    self.acked_next = h.seq;
                    self.last_progress = Instant::now();
                    self.backoff = 0;
                    self.publish_barrier();
                }
            }
            Kind::Nak if h.seq <= self.head => {
                self.last_heard = Some(Instant::now());
                self.stats.naks += 1;
                // A NAK from `from` says everything below was received: the
                // secondary's position (lower after a restart).
                self.peer_next = h.seq;
                let to = h.seq.saturating_add(u64::from(h.count)).min(self.head);
                if h.seq < to {
                    if self.cursor < self.resend_end {
                        self.cursor = self.cursor.min(h.seq);
                        self.resend_end = self.resend_end.max(to);
                    } else {
                        self.cursor = h.seq;
                        self.resend_end = to;
                    }
                }
            }
            _ => self.stats.unexpected += 1,
        }
    }

    fn publish_barrier(&mut self) {
        let upto = if self.degraded {
            self.head
        } else {
            self.acked_next
        };
        let v = upto as i64 - 1;
        if v > self.barrier.load(Ordering::Relaxed) {
            self.barrier.store(v, Ordering::Release);
        }
    }

    fn check_timeout(&mut self, now: Instant) {
        if self.acked_next >= self.head {
            self.last_progress = now;
            self.backoff = 0;
            return;
        }
        // Back off exponentially while timeouts bring no progress: a secondary
        // that is merely slow (its socket holding many datagrams in flight)
        // must not be flooded with copies of what it already has.
        let timeout = self.cfg.retransmit_timeout * (1u32 << self.backoff.min(6));
        if self.cursor >= self.resend_end
            && now.duration_since(self.last_progress) >= self.cfg.retransmit_timeout
            && now.duration_since(self.last_timeout) >= timeout
        {
            self.last_timeout = now;
            self.backoff = self.backoff.saturating_add(1);
            self.stats.timeouts += 1;
            self.cursor = self.peer_next.min(self.acked_next);
            self.resend_end = self.head;
        }
    }

    fn apply_policy(&mut self, now: Instant) {
        match self.cfg.policy {
            Policy::Wait => {}
            Policy::Degrade { after_ms } => {
                if self.degraded {
                    if self.acked_next >= self.head {
                        self.degraded = false;
                        self.stats.resync_events += 1;
                        eprintln!(
                            "replication: secondary caught up at seq {}; synchronous replication resumed",
                            self.head
                        );
                    }
                } else if self.acked_next < self.head
                    && now.duration_since(self.last_progress) >= Duration::from_millis(after_ms)
                {
                    self.degraded = true;
                    self.stats.degrade_events += 1;
                    eprintln!(
                        "replication: DEGRADED: no acknowledgement for {after_ms} ms (acked below seq {}, head {}); continuing without the secondary",
                        self.acked_next, self.head
                    );
                    self.publish_barrier();
                }
            }
        }
    }

    /// Sends up to a flow-controlled amount of the pending retransmission.
    fn serve_resend(&mut self) {
        let limit = self.peer_next.saturating_add(self.cfg.max_in_flight);
        while self.cursor < self.resend_end && self.cursor < limit {
            let end = self.resend_end.min(limit);
            let from = self.cursor;
            if from >= self.window.start() {
                let mut seq = from;
                while seq < end {
                    let Some(rec) = self.window.get(seq) else {
                        break;
                    };
                    if !self.resend.fits(rec.len()) {
                        break;
                    }
                    self.resend.push(seq, rec);
                    seq += 1;
                }
                self.stats.resent_from_window += seq - from;
            } else {
                let want = (self.window.start().min(end) - from) as usize;
                self.fallback.clear();
                let got = match self.source.read(from, want, &mut self.fallback) {
                    Ok(n) => n.min(self.fallback.len()),
                    Err(_) => 0,
                };
                let mut seq = from;
                for i in 0..got {
                    let Some(rec) = self.fallback.get(i) else {
                        break;
                    };
                    if !self.resend.fits(rec.len()) {
                        break;
                    }
                    self.resend.push(seq, rec);
                    seq += 1;
                }
                self.stats.resent_from_source += seq - from;
            }
            if self.resend.count() == 0 {
                // Neither the window nor the source has `from`: give up on this
                // request; the secondary will ask again.
                self.stats.unavailable += 1;
                self.cursor = self.resend_end;
                break;
            }
            self.cursor = self.resend.end();
            let d = self.resend.finish(self.cfg.epoch);
            match self.sock.send_to(d, self.cfg.socket.peer) {
                Ok(_) => self.stats.datagrams_resent += 1,
                Err(_) => {
                    self.stats.send_errors += 1;
                    break;
                }
            }
            self.last_sent = Instant::now();
        }
    }

    fn control(&mut self, kind: Kind, seq: u64, count: u32) {
        let mut out = [0u8; HEADER_LEN];
        wire::encode_control(&mut out, kind, self.cfg.epoch, seq, count);
        if self.sock.send_to(&out, self.cfg.socket.peer).is_err() {
            self.stats.send_errors += 1;
        }
        self.last_sent = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoSource;

    fn loopback() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn retransmit_timeouts_back_off_while_nothing_progresses() {
        // A peer that never answers: its socket exists but nobody reads it.
        let silent = std::net::UdpSocket::bind(loopback()).unwrap();
        let mut cfg = PrimaryConfig::new(loopback(), silent.local_addr().unwrap(), 1);
        cfg.retransmit_timeout = Duration::from_millis(5);
        let mut p = Replicator::new(cfg, Box::new(NoSource)).unwrap();
        for seq in 0..100u64 {
            p.send(seq, &seq.to_le_bytes()).unwrap();
        }
        p.flush();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(400) {
            p.poll();
            std::thread::sleep(Duration::from_micros(200));
        }
        // Fixed 5 ms timeouts would fire ~80 times; doubling gives 5+10+...+320 ms:
        // at most 7 in 400 ms (a slow machine may see fewer, never zero).
        let t = p.stats().timeouts;
        assert!((1..=7).contains(&t), "{t} timeouts");
    }

    #[test]
    fn rejects_bad_config_and_misuse() {
        let mut cfg = PrimaryConfig::new(loopback(), loopback(), 1);
        cfg.max_datagram = 10;
        assert!(matches!(
            Replicator::new(cfg.clone(), Box::new(NoSource)),
            Err(Error::Config(_))
        ));
        cfg.max_datagram = 100;
        let mut p = match Replicator::new(cfg, Box::new(NoSource)) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(matches!(
            p.send(1, b"x"),
            Err(Error::OutOfSequence {
                expected: 0,
                got: 1
            })
        ));
        assert!(matches!(
            p.send(0, &[0u8; 67]),
            Err(Error::RecordTooLarge { len: 67, max: 66 })
        ));
        assert!(p.send(0, &[0u8; 66]).is_ok());
        assert_eq!(p.head(), 1);
        assert_eq!(p.acked_sequence().load(Ordering::Relaxed), -1);
    }
}
