//! The node's FIX front: the gateway's [`Application`] that turns FIX order
//! messages into engine commands published straight into the inbound ring, and
//! the sender that turns engine events from the outbound ring into FIX messages
//! for the owning session.
//!
//! Engine session ids are the gateway directory index + 1 (0 means "no session":
//! admin commands and broadcast events).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use engine::msg::{Header, Message, SessionEvent, SessionEventKind};
use engine::types::StpMode;
use gateway::fix::app::{self, AppReject, Instruments, SessionContext};
use gateway::fix::codec::{Encoder, Message as FixMessage};
use gateway::fix::config::{PasswordHash, RateLimit, SessionConfig, Settings, ThrottleAction};
use gateway::fix::events::{EventBytes, event_bytes};
use gateway::fix::net::{Gateway, GatewayConfig, GatewayHandle, SendError};
use gateway::fix::session::{Application, Delivery, Reply, SeqState, SessionId};
use gateway::fix::store::{FileStore, read_delivered};

use crate::config::{Config, ThrottleActionConfig};
use crate::node::stages::EventOut;
use crate::node::{DataDir, InboundProducer, Node, now_ns};
use crate::run::log;
use crate::session_ledger::{PROMOTION_OUT_MARGIN, SessionLedger, SessionSeed};

/// Test hook (crash tests only; unset in normal use): when this environment
/// variable holds a number N, the sender stage hands N events to the gateway and
/// then stops for good, so commands after that are journaled and processed but
/// never answered — the state a `kill -9` leaves to recovery. `ringex run` logs
/// a line when it is set.
pub const TEST_STALL_ENV: &str = "RINGEX_TEST_SENDER_STALL_AFTER";

/// How often the sender tells the gateway threads which events it has handed
/// over (so idle sessions' delivery marks keep up).
const THROUGH_EVERY: Duration = Duration::from_millis(100);

/// Text of the BusinessMessageReject sent when the inbound ring is full.
pub const RING_FULL_TEXT: &str =
    "exchange busy: inbound queue full, message not accepted (not processed); resend later";

/// Engine session id of gateway session `id`.
fn engine_session(id: SessionId) -> u32 {
    u32::try_from(id + 1).unwrap_or(u32::MAX)
}

/// The FIX sessions the configuration defines, in order (index = gateway id).
pub fn session_configs(cfg: &Config) -> Result<Vec<SessionConfig>, String> {
    cfg.fix
        .sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut sc = SessionConfig::new(&cfg.fix.comp_id, &s.comp_id);
            sc.username = s.username.clone();
            sc.password =
                match &s.password_hash {
                    Some(h) => Some(PasswordHash::parse(h).map_err(|e| {
                        format!("config key `fix.sessions[{i}].password_hash`: {e}")
                    })?),
                    None => None,
                };
            sc.cancel_on_disconnect = s.cancel_on_disconnect;
            sc.reset_on_logon = s.reset_on_logon;
            sc.rate_limit = s.rate_limit.map(|r| RateLimit {
                max_messages: r.max_messages,
                window_ms: r.window_ms,
                action: match r.action {
                    ThrottleActionConfig::Reject => ThrottleAction::Reject,
                    ThrottleActionConfig::Logout => ThrottleAction::Logout,
                },
            });
            Ok(sc)
        })
        .collect()
}

/// Each engine session's delivery mark, read from its FIX store (index = engine
/// session id; 0, admin, has none): what recovery must not send again.
pub fn delivery_marks(cfg: &Config, dirs: &DataDir) -> Result<Vec<Option<u64>>, String> {
    let mut marks = vec![None];
    for s in session_configs(cfg)? {
        marks.push(read_delivered(&dirs.fix.join(s.store_name())).map_err(|e| e.to_string())?);
    }
    Ok(marks)
}

/// The FIX reference data the configuration defines.
pub fn instruments(cfg: &Config) -> Result<Instruments, String> {
    let list: Vec<app::InstrumentConfig> = cfg
        .resolve()
        .instruments
        .iter()
        .map(|i| app::InstrumentConfig {
            symbol: i.symbol.clone(),
            id: i.id,
            tick: i.tick,
            lot: i.lot,
        })
        .collect();
    Instruments::new(&list).map_err(|e| e.to_string())
}

/// Everything needed to start the gateway once the node has recovered.
pub struct FixFront {
    gw_cfg: GatewayConfig,
    instruments: Arc<Instruments>,
    contexts: Arc<Vec<SessionContext>>,
    handle: Arc<OnceLock<GatewayHandle>>,
    /// Events that could not be handed to a session's thread.
    pub dropped: Arc<AtomicU64>,
    stall_after: Option<u64>,
}

impl FixFront {
    /// Builds the gateway configuration (sessions, stores under the data dir).
    pub fn new(cfg: &Config, dirs: &DataDir) -> Result<FixFront, String> {
        let sessions = session_configs(cfg)?;
        let contexts = cfg
            .fix
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| SessionContext {
                session: engine_session(i),
                account: s.account,
                stp: StpMode::None,
            })
            .collect();
        let mut gw_cfg = GatewayConfig::new(cfg.fix.listen, sessions);
        gw_cfg.threads = cfg.fix.threads;
        gw_cfg.settings = Settings::default();
        gw_cfg.data_dir = Some(dirs.fix.clone());
        let instruments = Arc::new(instruments(cfg)?);
        gw_cfg.instruments = Some(Arc::clone(&instruments));
        let stall_after = match std::env::var(TEST_STALL_ENV) {
            Ok(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{TEST_STALL_ENV}={v:?}: not a number"))?,
            ),
            Err(_) => None,
        };
        if let Some(n) = stall_after {
            log(&format!(
                "TEST HOOK {TEST_STALL_ENV}: the sender stage stops after {n} events"
            ));
        }
        Ok(FixFront {
            gw_cfg,
            instruments,
            contexts: Arc::new(contexts),
            handle: Arc::new(OnceLock::new()),
            dropped: Arc::new(AtomicU64::new(0)),
            stall_after,
        })
    }

    /// The sender-stage side (give it to [`Node::start`]).
    pub fn sender(&self) -> FixSender {
        FixSender {
            handle: Arc::clone(&self.handle),
            buf: [0; engine::msg::MAX_MESSAGE_LEN],
            dropped: Arc::clone(&self.dropped),
            last_event: 0,
            through_sent: 0,
            through_at: Instant::now(),
            handed: 0,
            stall_after: self.stall_after,
        }
    }

    /// Opens the listener and the gateway threads, publishing into `node`. The
    /// events recovery found owed ([`Node::owed`]) are held for each session's
    /// next logon.
    pub fn start(mut self, node: &Node) -> Result<Gateway, String> {
        self.gw_cfg.held_events = node
            .owed
            .iter()
            .filter_map(|slot| {
                let (h, _) = engine::msg::decode(slot.msg()).ok()?;
                let session = (h.session as usize).checked_sub(1)?;
                Some((session, event_bytes(slot.msg())))
            })
            .collect();
        // Everything the logic emitted so far was handed to the sender or is
        // owed (held above); on a promoted secondary, the events it kept back
        // were the old primary's to send.
        self.gw_cfg.delivered_through = Some(
            node.recovery
                .out_seq
                .max(node.out_seq.load(Ordering::Acquire)),
        );
        let producer = Mutex::new(node.producer());
        let instruments = Arc::clone(&self.instruments);
        let contexts = Arc::clone(&self.contexts);
        let listen = self.gw_cfg.listen;
        let gw = Gateway::start(self.gw_cfg, move |_thread| NodeApp {
            producer: producer
                .lock()
                .map(|p| p.clone())
                .unwrap_or_else(|p| p.into_inner().clone()),
            instruments: Arc::clone(&instruments),
            contexts: Arc::clone(&contexts),
            enc: Encoder::new(b"FIX.4.4"),
            body: Vec::with_capacity(512),
            ledger_next_in: vec![0; contexts.len()],
        })
        .map_err(|e| format!("FIX gateway on {listen}: {e}"))?;
        let _ = self.handle.set(gw.handle());
        Ok(gw)
    }
}

/// The body of the encoder's finished message: the fields after `35=<type>`
/// and before `10=`.
fn finished_body(enc: &mut Encoder, msg_type: &[u8]) -> Vec<u8> {
    let full = enc.finish();
    let mut pat = Vec::with_capacity(msg_type.len() + 5);
    pat.extend_from_slice(b"\x0135=");
    pat.extend_from_slice(msg_type);
    pat.push(1);
    let start = full
        .windows(pat.len())
        .position(|w| w == pat.as_slice())
        .map_or(full.len(), |p| p + pat.len());
    let end = full.len().saturating_sub(7).max(start);
    full[start..end].to_vec()
}

/// One gateway thread's application: FIX in, commands into the ring.
struct NodeApp {
    producer: InboundProducer,
    instruments: Arc<Instruments>,
    contexts: Arc<Vec<SessionContext>>,
    enc: Encoder,
    body: Vec<u8>,
    /// Per session: the inbound MsgSeqNum the journaled stream implies next
    /// (what [`SessionLedger`] derives), 0 = unknown. A command whose MsgSeqNum
    /// differs is preceded by a `SeqSync`, so the derivation is exact at every
    /// journaled command.
    ledger_next_in: Vec<u64>,
}

impl NodeApp {
    /// Journals the session's numbers (`SessionEvent` kind `SeqSync`); 0 = not
    /// reported. False when the ring is full.
    fn publish_seq_sync(
        &mut self,
        session: SessionId,
        next_in: u64,
        seqs: Option<SeqState>,
    ) -> bool {
        let Some(ctx) = self.contexts.get(session) else {
            return true;
        };
        let ev = Message::SessionEvent(SessionEvent {
            kind: SessionEventKind::SeqSync,
            account: ctx.account,
            cancel_on_disconnect: false,
            next_in,
            next_out: seqs.map_or(0, |s| s.next_out),
            out_mark: seqs.map_or(0, |s| s.out_mark),
        });
        if self.producer.try_publish(ctx.session, &ev).is_err() {
            return false;
        }
        if let Some(m) = self.ledger_next_in.get_mut(session) {
            *m = next_in;
        }
        true
    }

    fn session_event(&mut self, session: SessionId, kind: SessionEventKind, cancel: bool) {
        let Some(ctx) = self.contexts.get(session) else {
            return;
        };
        let ev = Message::SessionEvent(SessionEvent {
            kind,
            account: ctx.account,
            cancel_on_disconnect: cancel,
            next_in: 0,
            next_out: 0,
            out_mark: 0,
        });
        // Cancel-on-disconnect must not be lost to a momentarily full ring.
        if let Err(e) = self
            .producer
            .publish_timeout(ctx.session, &ev, Duration::from_secs(5))
        {
            log(&format!(
                "session event for session {session} not published: {e}"
            ));
        }
    }
}

impl Application for NodeApp {
    fn on_logon(&mut self, session: SessionId, cfg: &SessionConfig) {
        log(&format!("session {} logged on", cfg.their_comp_id));
        self.session_event(session, SessionEventKind::Logon, false);
    }

    fn on_message(
        &mut self,
        session: SessionId,
        msg: &FixMessage<'_>,
        reply: &mut Reply<'_>,
    ) -> Delivery {
        let Some(ctx) = self.contexts.get(session).copied() else {
            return Delivery::BusinessReject {
                reason: 0,
                text: "session not configured for trading",
            };
        };
        match app::decode_command(msg, &ctx, &self.instruments) {
            Ok(Some(cmd)) => {
                let seq = msg.seq_num().unwrap_or(0);
                let known = self.ledger_next_in.get(session).copied().unwrap_or(0);
                if seq != 0 && seq != known && !self.publish_seq_sync(session, seq, None) {
                    return Delivery::BusinessReject {
                        reason: 4,
                        text: RING_FULL_TEXT,
                    };
                }
                match self.producer.try_publish(ctx.session, &cmd) {
                    Ok(_) => {
                        if let Some(m) = self.ledger_next_in.get_mut(session) {
                            *m = if seq == 0 { 0 } else { seq + 1 };
                        }
                        Delivery::Accepted
                    }
                    Err(_) => Delivery::BusinessReject {
                        reason: 4,
                        text: RING_FULL_TEXT,
                    },
                }
            }
            Ok(None) => Delivery::BusinessReject {
                reason: 3,
                text: "Unsupported message type",
            },
            Err(rej) => {
                let t = rej.msg_type();
                let seq = msg
                    .get(34)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
                    .unwrap_or(0);
                let exec_id =
                    (1u64 << 62) | (u64::from(ctx.session) << 40) | (seq & ((1 << 40) - 1));
                self.enc.start(t);
                if matches!(rej, AppReject::Session(_)) {
                    self.enc.field_u64(45, seq);
                }
                app::write_reject_body(&mut self.enc, msg, &rej, exec_id, now_ns());
                self.body = finished_body(&mut self.enc, t);
                reply.send(t, &self.body);
                Delivery::Accepted
            }
        }
    }

    fn on_seq_change(&mut self, session: SessionId, seqs: SeqState) -> bool {
        self.publish_seq_sync(session, seqs.next_in, Some(seqs))
    }

    fn on_session_down(&mut self, session: SessionId, cfg: &SessionConfig, reason: &str) {
        log(&format!("session {} down: {reason}", cfg.their_comp_id));
        self.session_event(
            session,
            SessionEventKind::Disconnect,
            cfg.cancel_on_disconnect,
        );
    }
}

/// The sender stage's output: engine events → the owning session's gateway
/// thread, which renders them (see `gateway::fix::events`). Each event is
/// copied into a fixed-size record and through a bounded channel whose slots
/// exist from the start: nothing is allocated per message.
pub struct FixSender {
    handle: Arc<OnceLock<GatewayHandle>>,
    buf: EventBytes,
    dropped: Arc<AtomicU64>,
    /// Output sequence of the last event handed over.
    last_event: u64,
    /// Last sequence announced with `delivered_through`, and when.
    through_sent: u64,
    through_at: Instant,
    /// Events handed over (for the test hook).
    handed: u64,
    stall_after: Option<u64>,
}

impl EventOut for FixSender {
    fn deliver(&mut self, header: &Header, msg: &Message) {
        if app::event_msg_type(msg).is_none() {
            return;
        }
        let Some(handle) = self.handle.get() else {
            return;
        };
        let Some(session) = (header.session as usize).checked_sub(1) else {
            return;
        };
        if let Some(n) = self.stall_after
            && self.handed >= n
        {
            // Test hook (see TEST_STALL_ENV): never deliver again.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        if msg.encode(header, &mut self.buf).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.handed += 1;
        self.last_event = header.seq;
        // The gateway thread's channel is bounded: wait briefly for room rather
        // than lose a report; a session that stays stuck is dropped by the
        // gateway's slow-consumer rule, after which sends fail fast.
        for _ in 0..1000 {
            match handle.send_event(session, &self.buf) {
                Ok(()) => return,
                Err(SendError::Busy) => std::thread::sleep(Duration::from_micros(100)),
                Err(_) => break,
            }
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn end_of_batch(&mut self) {
        if self.last_event > self.through_sent
            && self.through_at.elapsed() >= THROUGH_EVERY
            && let Some(handle) = self.handle.get()
        {
            self.through_at = Instant::now();
            if handle.delivered_through(self.last_event) {
                self.through_sent = self.last_event;
            }
        }
    }
}

/// Seeds the FIX session stores of a node that takes over as primary (a
/// promoted secondary, whose `<data_dir>/fix` stores are empty or stale: FIX
/// traffic is not replicated) with the sequence numbers derived from its
/// journal, so market makers reconnect with their own continuing numbers:
/// replays the journal in `dirs.journal` up to `last_seq` (`u64::MAX`: all of
/// it) through a [`SessionLedger`] and writes each
/// reported session's store under `dirs.fix` (inbound as derived, outbound
/// derived + [`PROMOTION_OUT_MARGIN`]). Call after the node has applied
/// everything it received and before the FIX gateway opens. Sessions the
/// journal never reported keep their store as it is. Returns what was written.
/// A journal that cannot be replayed from its first record (segments removed)
/// is logged loudly and seeds nothing, rather than blocking the promotion; a
/// store that cannot be written is an error.
pub fn seed_sessions_for_promotion(
    cfg: &Config,
    dirs: &DataDir,
    last_seq: u64,
) -> Result<Vec<SessionSeed>, String> {
    let sessions = session_configs(cfg)?;
    let replayed = SessionLedger::replay_journal(
        &dirs.journal,
        crate::node::logic_config(cfg),
        sessions.len(),
        last_seq,
    );
    let (ledger, last, out_seq) = match replayed {
        Ok(r) => r,
        Err(e) => {
            // Promotion must not fail for this: the venue opens, and the
            // sessions start from their own stores (counterparties reset).
            log(&format!(
                "FIX SESSION NUMBERS NOT DERIVED: {e}; sessions keep their stores, counterparties must log on with ResetSeqNumFlag=Y"
            ));
            return Ok(Vec::new());
        }
    };
    let seeds = ledger.seeds(PROMOTION_OUT_MARGIN);
    for seed in &seeds {
        let Some(sc) = sessions.get(seed.index) else {
            continue;
        };
        FileStore::seed(
            &dirs.fix.join(sc.store_name()),
            seed.next_out,
            seed.next_in,
            Some(out_seq),
        )
        .map_err(|e| e.to_string())?;
        log(&format!(
            "session {} seeded from the journal (through seq {last}): next inbound {}, next outbound {}",
            sc.their_comp_id, seed.next_in, seed.next_out
        ));
    }
    Ok(seeds)
}
