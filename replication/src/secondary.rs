//! The secondary side: [`Receiver`] delivers contiguous records in order, exactly
//! once, acknowledges cumulatively and NAKs gaps.
//!
//! Rules: a data datagram whose first seq is the next expected (or overlaps it) is
//! delivered from the next expected seq on and acknowledged at once; one entirely
//! below is a duplicate (dropped, re-acknowledged, since the ack may have been
//! lost); one beyond is out of order: dropped, and `[next, its end)` is NAKed
//! (go-back-N: never acknowledged past a gap, nothing buffered ahead).

use crate::wire::{self, HEADER_LEN, Kind, Records};
use crate::{Error, SocketConfig, open_socket};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// Configuration of a [`Receiver`].
#[derive(Debug, Clone)]
pub struct SecondaryConfig {
    /// Sockets: bind address, the primary's address, buffer sizes.
    pub socket: SocketConfig,
    /// The primary's epoch; datagrams with another are dropped.
    pub epoch: u64,
    /// Seq of the next record this secondary needs (its last persisted + 1); it
    /// asks the primary for everything from here on start (catch-up).
    pub next_seq: u64,
    /// Ack heartbeat interval when nothing else was sent.
    pub heartbeat_interval: Duration,
    /// The primary counts as gone after this long without a datagram from it.
    pub peer_timeout: Duration,
    /// Minimum spacing of repeated NAKs for the same position.
    pub nak_interval: Duration,
}

impl SecondaryConfig {
    /// Defaults for a secondary bound to `bind`, listening to the primary at `peer`.
    pub fn new(bind: std::net::SocketAddr, peer: std::net::SocketAddr, epoch: u64) -> Self {
        SecondaryConfig {
            socket: SocketConfig {
                bind,
                peer,
                send_buffer: Some(4 << 20),
                recv_buffer: Some(4 << 20),
            },
            epoch,
            next_seq: 0,
            heartbeat_interval: Duration::from_millis(10),
            peer_timeout: Duration::from_millis(100),
            nak_interval: Duration::from_millis(5),
        }
    }
}

/// Counters of the secondary side. Every dropped datagram lands in exactly one counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondaryStats {
    /// Records delivered to the callback.
    pub records: u64,
    /// Data datagrams delivered (fully or partly new).
    pub datagrams: u64,
    /// Data datagrams entirely already received (replays, duplicates, resends).
    pub duplicates: u64,
    /// Data datagrams beyond a gap (dropped and NAKed).
    pub out_of_order: u64,
    /// Acks sent.
    pub acks_sent: u64,
    /// NAKs sent.
    pub naks_sent: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Datagrams shorter than their framing says.
    pub truncated: u64,
    /// Datagrams that are not ours (magic/version/kind) or malformed.
    pub garbage: u64,
    /// Checksum mismatches.
    pub bad_crc: u64,
    /// Datagrams with another epoch (an old primary, an old run).
    pub foreign_epoch: u64,
    /// Valid datagrams that make no sense here (acks/NAKs sent to a secondary).
    pub unexpected: u64,
    /// Socket send failures.
    pub send_errors: u64,
    /// State checkpoints received from the primary.
    pub checkpoints: u64,
}

/// Checkpoints held until [`Receiver::take_checkpoint`] takes them; older ones
/// are dropped beyond this.
const CHECKPOINT_QUEUE: usize = 64;

/// The secondary side of replication. Drive it with [`poll`](Self::poll).
pub struct Receiver {
    cfg: SecondaryConfig,
    sock: UdpSocket,
    rx: Vec<u8>,
    next: u64,
    last_sent: Instant,
    last_heard: Option<Instant>,
    last_nak: Option<(Instant, u64, u64)>,
    checkpoints: std::collections::VecDeque<(u64, u64)>,
    stats: SecondaryStats,
}

impl Receiver {
    /// Binds the socket and asks the primary for everything from `cfg.next_seq`.
    pub fn new(cfg: SecondaryConfig) -> Result<Self, Error> {
        let sock = open_socket(&cfg.socket)?;
        let mut r = Receiver {
            rx: vec![0u8; wire::MAX_UDP_PAYLOAD + 1],
            next: cfg.next_seq,
            last_sent: Instant::now(),
            last_heard: None,
            last_nak: None,
            checkpoints: std::collections::VecDeque::with_capacity(CHECKPOINT_QUEUE),
            stats: SecondaryStats::default(),
            sock,
            cfg,
        };
        r.hello();
        Ok(r)
    }

    /// The local socket address (useful when bound to port 0).
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, Error> {
        self.sock
            .local_addr()
            .map_err(|e| Error::Io("local_addr", e))
    }

    /// Seq of the next record expected (everything below was delivered).
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Whether a datagram from the primary arrived within `peer_timeout`.
    pub fn primary_alive(&self) -> bool {
        self.last_heard
            .is_some_and(|t| t.elapsed() < self.cfg.peer_timeout)
    }

    /// Counters so far.
    pub fn stats(&self) -> SecondaryStats {
        self.stats
    }

    /// The oldest `(seq, digest)` checkpoint received from the primary and not
    /// yet taken (at most the newest 64 are held).
    pub fn take_checkpoint(&mut self) -> Option<(u64, u64)> {
        self.checkpoints.pop_front()
    }

    /// Drains incoming datagrams, handing each new record `(seq, bytes)` to `sink`
    /// in order, and sends acks/NAKs/heartbeats. Never blocks. Returns the number
    /// of records delivered.
    pub fn poll(&mut self, sink: &mut dyn FnMut(u64, &[u8])) -> usize {
        let mut delivered = 0;
        loop {
            let n = match self.sock.recv_from(&mut self.rx) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            delivered += self.handle(n, sink);
        }
        if self.last_sent.elapsed() >= self.cfg.heartbeat_interval {
            // Our heartbeat is a cumulative ack: it also repairs lost acks.
            self.control(Kind::Ack, self.next, 0);
            self.stats.acks_sent += 1;
            if self.last_heard.is_none() {
                self.hello();
            }
        }
        delivered
    }

    /// Asks for everything from `next` (start, restart, catch-up).
    fn hello(&mut self) {
        self.control(Kind::Nak, self.next, u32::MAX);
        self.stats.naks_sent += 1;
    }

    fn handle(&mut self, n: usize, sink: &mut dyn FnMut(u64, &[u8])) -> usize {
        let h = match wire::decode(&self.rx[..n]) {
            Ok(h) => h,
            Err(wire::DecodeError::Truncated) => {
                self.stats.truncated += 1;
                return 0;
            }
            Err(wire::DecodeError::BadCrc) => {
                self.stats.bad_crc += 1;
                return 0;
            }
            Err(_) => {
                self.stats.garbage += 1;
                return 0;
            }
        };
        if h.epoch != self.cfg.epoch {
            self.stats.foreign_epoch += 1;
            return 0;
        }
        self.last_heard = Some(Instant::now());
        match h.kind {
            Kind::Data => {
                let end = h.seq.saturating_add(u64::from(h.count));
                if end <= self.next {
                    self.stats.duplicates += 1;
                    self.control(Kind::Ack, self.next, 0);
                    self.stats.acks_sent += 1;
                    0
                } else if h.seq > self.next {
                    self.stats.out_of_order += 1;
                    self.nak(end);
                    0
                } else {
                    let mut delivered = 0;
                    let body = &self.rx[HEADER_LEN..n];
                    for (seq, rec) in (h.seq..).zip(Records::new(body).flatten()) {
                        if seq >= self.next {
                            sink(seq, rec);
                            delivered += 1;
                        }
                    }
                    self.next = end;
                    self.stats.records += delivered as u64;
                    self.stats.datagrams += 1;
                    self.control(Kind::Ack, self.next, 0);
                    self.stats.acks_sent += 1;
                    delivered
                }
            }
            Kind::Heartbeat => {
                self.stats.heartbeats += 1;
                if h.seq > self.next {
                    // Tail loss: the primary has sent more than we have.
                    self.nak(h.seq);
                }
                0
            }
            Kind::Checkpoint => {
                if let Some(d) = wire::checkpoint_digest(&self.rx[..n]) {
                    self.stats.checkpoints += 1;
                    if self.checkpoints.len() == CHECKPOINT_QUEUE {
                        self.checkpoints.pop_front();
                    }
                    self.checkpoints.push_back((h.seq, d));
                }
                0
            }
            Kind::Ack | Kind::Nak => {
                self.stats.unexpected += 1;
                0
            }
        }
    }

    /// NAKs `[next, upto)`, unless the same position was NAKed for at least as
    /// much within `nak_interval`.
    fn nak(&mut self, upto: u64) {
        let now = Instant::now();
        if let Some((t, from, to)) = self.last_nak
            && from == self.next
            && to >= upto
            && now.duration_since(t) < self.cfg.nak_interval
        {
            return;
        }
        let count = (upto - self.next).min(u64::from(u32::MAX)) as u32;
        self.control(Kind::Nak, self.next, count);
        self.stats.naks_sent += 1;
        self.last_nak = Some((now, self.next, upto));
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
