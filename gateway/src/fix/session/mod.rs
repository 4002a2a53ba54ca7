//! The FIX 4.4 acceptor session layer as a pure state machine.
//!
//! [`Acceptor`] owns the connections of one gateway thread and the sessions that
//! thread is responsible for. It never touches a socket or a clock: the caller
//! hands it bytes ([`Acceptor::on_bytes`]), the time ([`Acceptor::on_timer`] and
//! every other call take `now_ns`, unix nanoseconds), connection events
//! ([`Acceptor::open`], [`Acceptor::on_disconnect`]) and outbound application
//! messages ([`Acceptor::send`]). It answers with bytes to write per connection
//! ([`Acceptor::tx`]), a close decision ([`Acceptor::disposition`]) and calls into
//! the [`Application`] for every application message received in sequence.
//!
//! The behaviour follows the FIX "Session-level Test Cases and Expected Behaviors"
//! (see `ARCHITECTURE.md`, section "FIX session layer", for the rule list and
//! where each rule is tested).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::codec::{
    Encoder, Frame, Message, SessionReject, SessionRejectReason, frame, peek_msg_type,
    peek_seq_num, tags,
};
use super::config::{SessionConfig, Settings, ThrottleAction};
use super::store::{MemStore, MessageStore, StoredMessage};

#[cfg(test)]
mod tests;

/// Index of a configured session in the [`Directory`]: stable for the life of the
/// process, the same in every gateway thread and in the node.
pub type SessionId = usize;

/// Index of a connection inside one [`Acceptor`] (the socket layer uses it as its
/// poll token).
pub type ConnId = usize;

/// What the application answers for an application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Taken (published to the ring, echoed, ...).
    Accepted,
    /// Refused at business level: the session answers BusinessMessageReject(j) with
    /// this BusinessRejectReason(380) and Text(58). Use reason 3 for unsupported
    /// message types and 4 ("application not available") when the inbound ring is
    /// full (back-pressure answered to the sender).
    BusinessReject {
        /// BusinessRejectReason(380).
        reason: u32,
        /// Text(58).
        text: &'static str,
    },
}

/// The application side of the gateway: where decoded application messages go.
///
/// One instance per gateway thread; every call comes from that thread.
pub trait Application {
    /// A session logged on (after our Logon reply is queued).
    fn on_logon(&mut self, _session: SessionId, _cfg: &SessionConfig) {}

    /// An application message arrived in sequence (PossDupFlag / PossResend are the
    /// application's to interpret). `reply` sends application messages back on the
    /// same session, in order, right after this one.
    fn on_message(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        reply: &mut Reply<'_>,
    ) -> Delivery;

    /// The session's connection is gone (logout, timeout, error, slow consumer).
    /// `cfg.cancel_on_disconnect` says whether its orders must now be cancelled:
    /// this is the cancel-on-disconnect hook.
    fn on_session_down(&mut self, _session: SessionId, _cfg: &SessionConfig, _reason: &str) {}

    /// The session layer itself moved the session's sequence numbers (logon,
    /// heartbeats, test requests, session rejects, business rejects, replies the
    /// application sent with [`Reply::send`], resets, inbound session-level
    /// messages): called from [`Acceptor::report_seq_changes`] with the numbers
    /// now, so the node can journal them (a promoted secondary derives the
    /// session state from the journal). Not called for the two changes the
    /// application can count itself: an application message it accepted, and an
    /// engine event sent with [`Acceptor::send_event`] (`event_seq` != 0).
    /// Return `false` to be called again next time (e.g. the inbound ring was
    /// full).
    fn on_seq_change(&mut self, _session: SessionId, _seqs: SeqState) -> bool {
        true
    }
}

/// A session's sequence numbers as reported to [`Application::on_seq_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqState {
    /// MsgSeqNum expected on the next inbound message.
    pub next_in: u64,
    /// MsgSeqNum of the next outbound message.
    pub next_out: u64,
    /// `event_seq` of the last engine event sent with [`Acceptor::send_event`]
    /// (0 = none since this acceptor started).
    pub out_mark: u64,
}

/// Every configured session, and which gateway thread owns it.
///
/// Session `id` is owned by thread `id % threads`: all its state (sequence numbers,
/// store) lives in that thread, so no lock is taken per message.
#[derive(Debug)]
pub struct Directory {
    sessions: Vec<SessionConfig>,
    by_comp_ids: BTreeMap<(String, String), SessionId>,
    threads: usize,
}

impl Directory {
    /// Build the directory for `threads` gateway threads (at least 1). Returns an
    /// error naming a duplicate (our CompID, their CompID) pair.
    pub fn new(sessions: Vec<SessionConfig>, threads: usize) -> Result<Self, String> {
        let mut by_comp_ids = BTreeMap::new();
        for (i, s) in sessions.iter().enumerate() {
            let key = (s.their_comp_id.clone(), s.our_comp_id.clone());
            if by_comp_ids.insert(key, i).is_some() {
                return Err(format!(
                    "session {}->{} configured twice",
                    s.their_comp_id, s.our_comp_id
                ));
            }
        }
        Ok(Self {
            sessions,
            by_comp_ids,
            threads: threads.max(1),
        })
    }

    /// The session a Logon from `their` (49) to `ours` (56) names.
    pub fn lookup(&self, their: &[u8], ours: &[u8]) -> Option<SessionId> {
        let their = std::str::from_utf8(their).ok()?;
        let ours = std::str::from_utf8(ours).ok()?;
        self.by_comp_ids
            .get(&(their.to_string(), ours.to_string()))
            .copied()
    }

    /// Configuration of session `id`.
    pub fn config(&self, id: SessionId) -> Option<&SessionConfig> {
        self.sessions.get(id)
    }

    /// Number of configured sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is configured.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Number of gateway threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The gateway thread that owns session `id`.
    pub fn owner(&self, id: SessionId) -> usize {
        id % self.threads
    }
}

/// What the socket layer must do with a connection after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Keep reading and writing.
    Open,
    /// Write what is in [`Acceptor::tx`], then close.
    CloseAfterFlush,
    /// Close now, dropping unwritten bytes (slow consumer, timeout).
    CloseNow,
    /// The Logon names a session owned by gateway thread `thread`: move the socket
    /// and the unconsumed input bytes there.
    Handoff {
        /// Owning gateway thread.
        thread: usize,
    },
}

/// Why an outbound application message could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No such session in this acceptor (wrong thread or bad id).
    UnknownSession(SessionId),
    /// The message store failed; the session was disconnected.
    Store(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::UnknownSession(id) => write!(f, "session {id} is not owned here"),
            SendError::Store(e) => write!(f, "FIX store error: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitLogon,
    Active,
    LogoutSent { at: u64 },
    Closed,
}

#[derive(Debug)]
struct Conn {
    session: Option<SessionId>,
    phase: Phase,
    disposition: Disposition,
    opened_at: u64,
    tx: Vec<u8>,
    last_rx: u64,
    last_tx: u64,
    heartbeat_ns: u64,
    test_req_sent_at: Option<u64>,
    window_start: u64,
    window_count: u32,
    close_reason: &'static str,
}

struct SessionState {
    cfg: SessionConfig,
    store: Box<dyn MessageStore>,
    conn: Option<ConnId>,
    /// Highest sequence number seen while a ResendRequest is outstanding.
    resend_until: Option<u64>,
    /// Messages received ahead of a gap, by MsgSeqNum.
    queue: BTreeMap<u64, Vec<u8>>,
    /// `event_seq` of the last engine event sent with [`Acceptor::send_event`]
    /// (0 = none since this acceptor started), reported in [`SeqState::out_mark`].
    out_mark: u64,
    /// The session layer moved a sequence number since the last
    /// [`Application::on_seq_change`] report.
    seq_dirty: bool,
    /// Outbound application messages held until the next logon (see
    /// [`Acceptor::hold`]): (MsgType, body, engine event sequence).
    held: VecDeque<(Vec<u8>, Vec<u8>, u64)>,
}

/// Most messages [`Acceptor::hold`] keeps in memory for one session; past it the
/// held messages are stored (sequence numbers assigned) at once, so the
/// counterparty gets them by ResendRequest after its logon instead.
pub const MAX_HELD_MESSAGES: usize = 100_000;

/// Where an application's replies go: sends application messages on the session
/// whose message is being delivered.
pub struct Reply<'a> {
    out: Out<'a>,
    sess: &'a mut SessionState,
    error: Option<String>,
}

impl Reply<'_> {
    /// Send an application message: `msg_type` is MsgType(35), `body` the fields
    /// after the standard header as `tag=value\x01` bytes. It gets the next
    /// MsgSeqNum and is kept in the store for resends.
    pub fn send(&mut self, msg_type: &[u8], body: &[u8]) {
        self.sess.seq_dirty = true;
        if self.error.is_none()
            && let Err(e) = send_app(&mut self.out, self.sess, msg_type, body)
        {
            self.error = Some(e);
        }
    }

    /// The session's configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.sess.cfg
    }
}

/// The per-call output context: encoder, the connection, the settings, the time.
struct Out<'a> {
    enc: &'a mut Encoder,
    conn: &'a mut Conn,
    settings: &'a Settings,
    now: u64,
}

impl Out<'_> {
    fn close_after_flush(&mut self, reason: &'static str) {
        if self.conn.disposition == Disposition::Open {
            self.conn.disposition = Disposition::CloseAfterFlush;
            self.conn.close_reason = reason;
        }
    }
}

/// The value after `pat` (e.g. `\x0149=`) up to the next SOH, or empty.
fn scan<'a>(raw: &'a [u8], pat: &[u8]) -> &'a [u8] {
    let Some(p) = raw.windows(pat.len()).position(|w| w == pat) else {
        return b"";
    };
    let rest = &raw[p + pat.len()..];
    let end = rest.iter().position(|&b| b == 1).unwrap_or(rest.len());
    &rest[..end]
}

/// Standard header of an outgoing message; `poss_dup` carries OrigSendingTime.
fn header(
    enc: &mut Encoder,
    cfg: &SessionConfig,
    t: &[u8],
    seq: u64,
    now: u64,
    poss_dup: Option<u64>,
) {
    enc.start(t)
        .field_u64(tags::MSG_SEQ_NUM, seq)
        .field(tags::SENDER_COMP_ID, cfg.our_comp_id.as_bytes())
        .field(tags::TARGET_COMP_ID, cfg.their_comp_id.as_bytes())
        .field_timestamp(tags::SENDING_TIME, now);
    if let Some(orig) = poss_dup {
        enc.field(tags::POSS_DUP_FLAG, b"Y")
            .field_timestamp(tags::ORIG_SENDING_TIME, orig);
    }
}

/// Send an administrative message (not stored: a resend replaces it by a gap fill).
fn send_admin(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    t: &[u8],
    body: impl FnOnce(&mut Encoder),
) {
    let seq = sess.store.next_sender_seq();
    header(out.enc, &sess.cfg, t, seq, out.now, None);
    body(out.enc);
    sess.store.set_next_sender_seq(seq + 1);
    sess.seq_dirty = true;
    out.enc.finish();
    push_encoded(out);
}

/// Append the encoder's finished message to the connection.
fn push_encoded(out: &mut Out<'_>) {
    let Out {
        enc,
        conn,
        settings,
        now,
    } = out;
    if matches!(conn.disposition, Disposition::CloseNow) {
        return;
    }
    conn.tx.extend_from_slice(enc.message());
    conn.last_tx = *now;
    if conn.tx.len() > settings.max_outbound_buffer {
        conn.disposition = Disposition::CloseNow;
        conn.close_reason = "slow consumer: outbound buffer full";
    }
}

/// Send an application message on a session (stored for resends). Returns a
/// store error as text.
fn send_app(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    t: &[u8],
    body: &[u8],
) -> Result<(), String> {
    send_app_event(out, sess, t, body, 0)
}

/// [`send_app`] for a message reporting engine event `event_seq` (0: none).
fn send_app_event(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    t: &[u8],
    body: &[u8],
    event_seq: u64,
) -> Result<(), String> {
    let seq = sess.store.next_sender_seq();
    sess.store
        .append(StoredMessage {
            seq,
            sending_time_ns: out.now,
            msg_type: t,
            body,
            event_seq,
        })
        .map_err(|e| e.to_string())?;
    sess.store.set_next_sender_seq(seq + 1);
    if out.conn.phase == Phase::Closed {
        return Ok(());
    }
    header(out.enc, &sess.cfg, t, seq, out.now, None);
    out.enc.raw(body);
    out.enc.finish();
    push_encoded(out);
    Ok(())
}

fn send_reject(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    ref_seq: Option<u64>,
    ref_type: Option<&[u8]>,
    r: SessionReject,
) {
    send_admin(out, sess, b"3", |e| {
        if let Some(s) = ref_seq {
            e.field_u64(tags::REF_SEQ_NUM, s);
        }
        if let Some(t) = r.ref_tag {
            e.field_u64(tags::REF_TAG_ID, u64::from(t));
        }
        if let Some(t) = ref_type {
            e.field(tags::REF_MSG_TYPE, t);
        }
        e.field_u64(tags::SESSION_REJECT_REASON, u64::from(r.reason.code()))
            .field(tags::TEXT, r.text.as_bytes());
    });
}

fn send_logout(out: &mut Out<'_>, sess: &mut SessionState, text: &str) {
    send_admin(out, sess, b"5", |e| {
        if !text.is_empty() {
            e.field(tags::TEXT, text.as_bytes());
        }
    });
}

/// Logout then wait (bounded by `logout_timeout_ns`) for the counterparty's Logout.
fn initiate_logout(out: &mut Out<'_>, sess: &mut SessionState, text: &str) {
    send_logout(out, sess, text);
    out.conn.phase = Phase::LogoutSent { at: out.now };
}

/// Logout then close as soon as it is written.
fn logout_and_close(out: &mut Out<'_>, sess: &mut SessionState, text: &str, reason: &'static str) {
    send_logout(out, sess, text);
    out.close_after_flush(reason);
}

/// The session-level Reject a `FieldError`-like problem calls for, with our text.
fn reject(reason: SessionRejectReason, tag: Option<u32>, text: &'static str) -> SessionReject {
    SessionReject::new(reason, tag, text)
}

/// The FIX 4.4 acceptor state machine for one gateway thread (see the module docs).
pub struct Acceptor<A: Application> {
    settings: Settings,
    directory: Arc<Directory>,
    thread: usize,
    /// By SessionId; `None` for sessions owned by other threads.
    sessions: Vec<Option<SessionState>>,
    conns: Vec<Option<Conn>>,
    free: Vec<ConnId>,
    app: A,
    parser: super::codec::Parser,
    enc: Encoder,
    validator: fn(&Message<'_>) -> Result<(), SessionReject>,
}

/// Per-session stores, chosen by the caller: `make_store(&cfg)`.
pub type StoreFactory<'a> =
    &'a mut dyn FnMut(&SessionConfig) -> Result<Box<dyn MessageStore>, String>;

impl<A: Application> Acceptor<A> {
    /// The acceptor for gateway thread `thread`, owning the directory's sessions
    /// with `owner == thread`, each with the store `make_store` opens.
    pub fn new(
        settings: Settings,
        directory: Arc<Directory>,
        thread: usize,
        make_store: StoreFactory<'_>,
        app: A,
    ) -> Result<Self, String> {
        let mut sessions = Vec::with_capacity(directory.len());
        for id in 0..directory.len() {
            let cfg = directory.config(id).cloned();
            match cfg {
                Some(cfg) if directory.owner(id) == thread => {
                    let store = make_store(&cfg)?;
                    sessions.push(Some(SessionState {
                        cfg,
                        store,
                        conn: None,
                        resend_until: None,
                        queue: BTreeMap::new(),
                        out_mark: 0,
                        seq_dirty: false,
                        held: VecDeque::new(),
                    }));
                }
                _ => sessions.push(None),
            }
        }
        let enc = Encoder::new(settings.begin_string.as_bytes());
        Ok(Self {
            settings,
            directory,
            thread,
            sessions,
            conns: Vec::new(),
            free: Vec::new(),
            app,
            parser: super::codec::Parser::new(),
            enc,
            validator: super::dict::validate,
        })
    }

    /// An acceptor with in-memory stores (tests, `fix-echo` without a data dir).
    pub fn in_memory(settings: Settings, directory: Arc<Directory>, thread: usize, app: A) -> Self {
        let mut mk = |_: &SessionConfig| -> Result<Box<dyn MessageStore>, String> {
            Ok(Box::new(MemStore::new()))
        };
        match Self::new(settings, directory, thread, &mut mk, app) {
            Ok(a) => a,
            // MemStore cannot fail to open.
            Err(_) => unreachable!("in-memory stores cannot fail"),
        }
    }

    /// Use `f` to validate every message at its expected sequence number before it
    /// is processed. The default is the FIX 4.4 dictionary's
    /// [`crate::fix::dict::validate`].
    pub fn set_validator(&mut self, f: fn(&Message<'_>) -> Result<(), SessionReject>) {
        self.validator = f;
    }

    /// The application (e.g. to inspect it in tests).
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutably.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new TCP connection arrived.
    pub fn open(&mut self, now: u64) -> ConnId {
        let conn = Conn {
            session: None,
            phase: Phase::AwaitLogon,
            disposition: Disposition::Open,
            opened_at: now,
            tx: Vec::new(),
            last_rx: now,
            last_tx: now,
            heartbeat_ns: 0,
            test_req_sent_at: None,
            window_start: now,
            window_count: 0,
            close_reason: "",
        };
        if let Some(id) = self.free.pop() {
            self.conns[id] = Some(conn);
            id
        } else {
            self.conns.push(Some(conn));
            self.conns.len() - 1
        }
    }

    /// Bytes waiting to be written on `conn` (the socket layer drains from the front).
    pub fn tx(&mut self, conn: ConnId) -> Option<&mut Vec<u8>> {
        self.conns.get_mut(conn)?.as_mut().map(|c| &mut c.tx)
    }

    /// What to do with `conn` now.
    pub fn disposition(&self, conn: ConnId) -> Disposition {
        match self.conns.get(conn).and_then(Option::as_ref) {
            Some(c) => c.disposition.clone(),
            None => Disposition::CloseNow,
        }
    }

    /// The session bound to `conn`, once logged on.
    pub fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        self.conns.get(conn)?.as_ref()?.session
    }

    /// Is session `id` logged on (bound to a connection) here?
    pub fn is_logged_on(&self, id: SessionId) -> bool {
        self.sessions
            .get(id)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.conn.is_some())
    }

    /// (next sender, next target) sequence numbers of session `id`.
    pub fn seq_nums(&self, id: SessionId) -> Option<(u64, u64)> {
        let s = self.sessions.get(id)?.as_ref()?;
        Some((s.store.next_sender_seq(), s.store.next_target_seq()))
    }

    /// Feed bytes read from `conn`. Returns how many were consumed; the rest (an
    /// incomplete message, or everything from a Logon handed off to another thread)
    /// must be passed again with more data appended.
    pub fn on_bytes(&mut self, conn: ConnId, buf: &[u8], now: u64) -> usize {
        let mut pos = 0;
        while pos < buf.len() {
            match self.conns.get(conn).and_then(Option::as_ref) {
                Some(c) if c.disposition == Disposition::Open => {}
                Some(c) if matches!(c.disposition, Disposition::Handoff { .. }) => return pos,
                _ => return buf.len(),
            }
            match frame(&buf[pos..], self.settings.max_message_len) {
                Frame::Incomplete => break,
                Frame::Garbled { skip, .. } => pos += skip.max(1),
                Frame::Complete { len } => {
                    let handed_off = self.process(conn, &buf[pos..pos + len], now);
                    if handed_off {
                        return pos;
                    }
                    pos += len;
                    self.drain_queue(conn, now);
                }
            }
        }
        pos
    }

    /// Deliver queued out-of-order messages that are now in sequence.
    fn drain_queue(&mut self, conn: ConnId, now: u64) {
        loop {
            let Some(sid) = self
                .conns
                .get(conn)
                .and_then(Option::as_ref)
                .and_then(|c| c.session)
            else {
                return;
            };
            let Some(sess) = self.sessions.get_mut(sid).and_then(Option::as_mut) else {
                return;
            };
            let expected = sess.store.next_target_seq();
            let Some((&seq, _)) = sess.queue.first_key_value() else {
                return;
            };
            let Some(raw) = sess.queue.remove(&seq) else {
                return;
            };
            if seq < expected {
                continue;
            }
            if seq > expected {
                sess.queue.insert(seq, raw);
                return;
            }
            self.process(conn, &raw, now);
            if self.disposition(conn) != Disposition::Open {
                return;
            }
        }
    }

    /// A Logon refused before any session is bound: answer with a Logout carrying
    /// the reason (MsgSeqNum 1, CompIDs mirrored from the Logon) and close.
    fn refuse(&mut self, conn: ConnId, their: &[u8], ours: &[u8], text: &str, now: u64) {
        let Some(c) = self.conns.get_mut(conn).and_then(Option::as_mut) else {
            return;
        };
        self.enc
            .start(b"5")
            .field_u64(tags::MSG_SEQ_NUM, 1)
            .field(tags::SENDER_COMP_ID, ours)
            .field(tags::TARGET_COMP_ID, their)
            .field_timestamp(tags::SENDING_TIME, now)
            .field(tags::TEXT, text.as_bytes());
        let bytes = self.enc.finish();
        c.tx.extend_from_slice(bytes);
        c.disposition = Disposition::CloseAfterFlush;
        c.close_reason = "logon refused";
    }

    /// Process one framed message. Returns true when the connection is handed off.
    fn process(&mut self, cid: ConnId, raw: &[u8], now: u64) -> bool {
        let Some(conn) = self.conns.get_mut(cid).and_then(Option::as_mut) else {
            return false;
        };
        conn.last_rx = now;
        conn.test_req_sent_at = None;
        if conn.phase == Phase::AwaitLogon {
            return self.process_logon(cid, raw, now);
        }
        let Some(sid) = conn.session else {
            return false;
        };
        let Self {
            settings,
            sessions,
            conns,
            app,
            parser,
            enc,
            validator,
            ..
        } = self;
        let Some(conn) = conns.get_mut(cid).and_then(Option::as_mut) else {
            return false;
        };
        let Some(sess) = sessions.get_mut(sid).and_then(Option::as_mut) else {
            return false;
        };
        let mut out = Out {
            enc,
            conn,
            settings,
            now,
        };
        let expected = sess.store.next_target_seq();
        let msg = match parser.parse(raw) {
            Ok(m) => m,
            Err(e) => {
                // Unparseable but framed: reject at its sequence number if we can
                // tell it, never deliver it.
                match peek_seq_num(raw) {
                    Some(seq) if seq == expected => {
                        sess.store.set_next_target_seq(expected + 1);
                        send_reject(&mut out, sess, Some(seq), peek_msg_type(raw), e.to_reject());
                    }
                    Some(seq) if seq > expected => {
                        queue_ahead(&mut out, sess, seq, raw, expected);
                    }
                    _ => {}
                }
                return false;
            }
        };
        process_active(&mut out, sess, app, sid, &msg, *validator);
        false
    }

    fn process_logon(&mut self, cid: ConnId, raw: &[u8], now: u64) -> bool {
        let Ok(msg) = self.parser.parse(raw) else {
            let their = scan(raw, b"\x0149=").to_vec();
            let ours = scan(raw, b"\x0156=").to_vec();
            self.refuse(
                cid,
                &their,
                &ours,
                "First message is not a valid Logon",
                now,
            );
            return false;
        };
        let their = msg.get(tags::SENDER_COMP_ID).unwrap_or(b"").to_vec();
        let ours = msg.get(tags::TARGET_COMP_ID).unwrap_or(b"").to_vec();
        if msg.begin_string() != self.settings.begin_string.as_bytes() {
            self.refuse(cid, &their, &ours, "Incorrect BeginString", now);
            return false;
        }
        if msg.msg_type() != b"A" {
            self.refuse(cid, &their, &ours, "First message must be a Logon", now);
            return false;
        }
        let Some(sid) = self.directory.lookup(&their, &ours) else {
            let text = format!(
                "Unknown session: SenderCompID={} TargetCompID={}",
                String::from_utf8_lossy(&their),
                String::from_utf8_lossy(&ours)
            );
            self.refuse(cid, &their, &ours, &text, now);
            return false;
        };
        let owner = self.directory.owner(sid);
        if owner != self.thread {
            if let Some(c) = self.conns.get_mut(cid).and_then(Option::as_mut) {
                c.disposition = Disposition::Handoff { thread: owner };
            }
            return true;
        }
        let Some(sess) = self.sessions.get_mut(sid).and_then(Option::as_mut) else {
            return false;
        };
        if sess.conn.is_some() {
            self.refuse(cid, &their, &ours, "Session is already logged on", now);
            return false;
        }
        let cfg = &sess.cfg;
        let user_ok = cfg
            .username
            .as_ref()
            .is_none_or(|u| msg.get(tags::USERNAME) == Some(u.as_bytes()));
        let pass_ok = cfg
            .password
            .as_ref()
            .is_none_or(|h| msg.get(tags::PASSWORD).is_some_and(|p| h.verify(p)));
        if !(user_ok && pass_ok) {
            self.refuse(cid, &their, &ours, "Invalid Username or Password", now);
            return false;
        }
        let hb = match msg.get_u64(tags::HEART_BT_INT) {
            Ok(Some(h))
                if (self.settings.heartbeat_range_s.0..=self.settings.heartbeat_range_s.1)
                    .contains(&h) =>
            {
                h
            }
            Ok(Some(_)) => {
                self.refuse(cid, &their, &ours, "HeartBtInt(108) out of range", now);
                return false;
            }
            _ => {
                self.refuse(
                    cid,
                    &their,
                    &ours,
                    "HeartBtInt(108) missing or malformed",
                    now,
                );
                return false;
            }
        };
        if !matches!(msg.get(tags::ENCRYPT_METHOD), None | Some(b"0")) {
            self.refuse(cid, &their, &ours, "Unsupported EncryptMethod(98)", now);
            return false;
        }
        let Ok(seq) = msg.seq_num() else {
            self.refuse(
                cid,
                &their,
                &ours,
                "MsgSeqNum(34) missing or malformed",
                now,
            );
            return false;
        };
        let reset_requested = matches!(msg.get_bool(tags::RESET_SEQ_NUM_FLAG), Ok(Some(true)));
        let sending_time = msg.get_timestamp(tags::SENDING_TIME);

        // Bind the session to this connection.
        let Self {
            settings,
            sessions,
            conns,
            app,
            enc,
            ..
        } = self;
        let Some(sess) = sessions.get_mut(sid).and_then(Option::as_mut) else {
            return false;
        };
        let Some(conn) = conns.get_mut(cid).and_then(Option::as_mut) else {
            return false;
        };
        if (reset_requested || sess.cfg.reset_on_logon)
            && let Err(e) = sess.store.reset()
        {
            drop(e);
            let their = their.clone();
            let ours = ours.clone();
            self.refuse(
                cid,
                &their,
                &ours,
                "Internal error: message store unavailable",
                now,
            );
            return false;
        }
        sess.conn = Some(cid);
        sess.queue.clear();
        sess.resend_until = None;
        sess.seq_dirty = true;
        conn.session = Some(sid);
        conn.phase = Phase::Active;
        conn.heartbeat_ns = hb.saturating_mul(1_000_000_000);
        conn.window_start = now;
        conn.window_count = 0;
        let mut out = Out {
            enc,
            conn,
            settings,
            now,
        };
        let expected = sess.store.next_target_seq();
        match sending_time {
            Ok(Some(t)) if t.abs_diff(now) <= out.settings.sending_time_tolerance_ns => {}
            other => {
                let r = match other {
                    Err(fe) => fe.to_reject(),
                    Ok(None) => reject(
                        SessionRejectReason::RequiredTagMissing,
                        Some(tags::SENDING_TIME),
                        "Required tag missing",
                    ),
                    Ok(Some(_)) => reject(
                        SessionRejectReason::SendingTimeAccuracy,
                        Some(tags::SENDING_TIME),
                        "SendingTime accuracy problem",
                    ),
                };
                send_reject(&mut out, sess, Some(seq), Some(b"A"), r);
                logout_and_close(&mut out, sess, r.text, "logon refused: SendingTime");
                // Refused: the session never logged on, so it is released at once
                // (no on_logon / on_session_down for the application).
                out.conn.session = None;
                sess.conn = None;
                return false;
            }
        }
        if seq < expected {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            logout_and_close(&mut out, sess, &text, "MsgSeqNum too low");
            out.conn.session = None;
            sess.conn = None;
            return false;
        }
        send_admin(&mut out, sess, b"A", |e| {
            e.field_u64(tags::ENCRYPT_METHOD, 0)
                .field_u64(tags::HEART_BT_INT, hb);
            if reset_requested {
                e.field(tags::RESET_SEQ_NUM_FLAG, b"Y");
            }
        });
        // Messages held for this logon go first, in order, before any new traffic.
        while let Some((t, body, ev)) = sess.held.pop_front() {
            if send_app_event(&mut out, sess, &t, &body, ev).is_err() {
                out.conn.disposition = Disposition::CloseNow;
                out.conn.close_reason = "message store failed";
                break;
            }
            if ev != 0 {
                sess.out_mark = ev;
            }
        }
        app.on_logon(sid, &sess.cfg);
        if seq > expected {
            send_resend_request(&mut out, sess, expected, seq);
        } else {
            sess.store.set_next_target_seq(expected + 1);
        }
        false
    }

    /// The connection closed (peer, error, or after our close decision). Frees it
    /// and releases its session (the application hears `on_session_down`).
    pub fn on_disconnect(&mut self, conn: ConnId, _now: u64) {
        let Some(c) = self.conns.get_mut(conn).and_then(Option::take) else {
            return;
        };
        self.free.push(conn);
        if let Some(sid) = c.session
            && let Some(sess) = self.sessions.get_mut(sid).and_then(Option::as_mut)
            && sess.conn == Some(conn)
        {
            sess.conn = None;
            sess.queue.clear();
            sess.resend_until = None;
            let _ = sess.store.flush();
            let reason = if c.close_reason.is_empty() {
                "connection closed"
            } else {
                c.close_reason
            };
            self.app.on_session_down(sid, &sess.cfg, reason);
        }
    }

    /// Timers: heartbeats, TestRequest, logon/logout timeouts. Call at least a few
    /// times per second.
    pub fn on_timer(&mut self, now: u64) {
        let Self {
            settings,
            sessions,
            conns,
            enc,
            ..
        } = self;
        for c in conns.iter_mut().flatten() {
            if c.disposition != Disposition::Open {
                continue;
            }
            match c.phase {
                Phase::AwaitLogon => {
                    if now.saturating_sub(c.opened_at) >= settings.logon_timeout_ns {
                        c.disposition = Disposition::CloseNow;
                        c.close_reason = "no Logon received";
                    }
                }
                Phase::LogoutSent { at } => {
                    if now.saturating_sub(at) >= settings.logout_timeout_ns {
                        c.disposition = Disposition::CloseNow;
                        c.close_reason = "no Logout answer";
                    }
                }
                Phase::Closed => {}
                Phase::Active => {
                    let hb = c.heartbeat_ns;
                    if hb == 0 {
                        continue;
                    }
                    let Some(sess) = c
                        .session
                        .and_then(|s| sessions.get_mut(s))
                        .and_then(Option::as_mut)
                    else {
                        continue;
                    };
                    let grace = hb + hb / 5;
                    let silence = now.saturating_sub(c.last_rx);
                    let mut out = Out {
                        enc,
                        conn: c,
                        settings,
                        now,
                    };
                    match out.conn.test_req_sent_at {
                        Some(_) if silence >= 2 * grace => {
                            out.conn.disposition = Disposition::CloseNow;
                            out.conn.close_reason = "no answer to TestRequest";
                            continue;
                        }
                        None if silence >= grace => {
                            let mut id = [0u8; 20];
                            let id = super::codec::fmt_u64(now, &mut id);
                            let id = id.to_vec();
                            send_admin(&mut out, sess, b"1", |e| {
                                e.field(tags::TEST_REQ_ID, &id);
                            });
                            out.conn.test_req_sent_at = Some(now);
                        }
                        _ => {}
                    }
                    if now.saturating_sub(out.conn.last_tx) >= hb {
                        send_admin(&mut out, sess, b"0", |_| {});
                    }
                }
            }
        }
    }

    /// Send an application message to session `id` (from the node's outbound
    /// events). It always gets a MsgSeqNum and is stored; it is written now if the
    /// session is logged on, else the counterparty gets it by ResendRequest after
    /// its next logon (unless sequence numbers are reset then).
    pub fn send(
        &mut self,
        id: SessionId,
        msg_type: &[u8],
        body: &[u8],
        now: u64,
    ) -> Result<(), SendError> {
        self.send_event(id, msg_type, body, 0, now)
    }

    /// [`Acceptor::send`] for a message reporting engine event `event_seq` (the
    /// business logic's output sequence; 0 = none): stored with it, so the store's
    /// delivery mark covers it. While the session has held messages
    /// ([`Acceptor::hold`]) this one is held behind them, keeping the order.
    pub fn send_event(
        &mut self,
        id: SessionId,
        msg_type: &[u8],
        body: &[u8],
        event_seq: u64,
        now: u64,
    ) -> Result<(), SendError> {
        let held = match self.sessions.get(id).and_then(Option::as_ref) {
            Some(s) => !s.held.is_empty(),
            None => return Err(SendError::UnknownSession(id)),
        };
        if held {
            self.hold(id, msg_type, body.to_vec(), event_seq, now);
            return Ok(());
        }
        let Self {
            settings,
            sessions,
            conns,
            enc,
            ..
        } = self;
        let Some(sess) = sessions.get_mut(id).and_then(Option::as_mut) else {
            return Err(SendError::UnknownSession(id));
        };
        let mut closed = Conn {
            session: None,
            phase: Phase::Closed,
            disposition: Disposition::CloseNow,
            opened_at: now,
            tx: Vec::new(),
            last_rx: now,
            last_tx: now,
            heartbeat_ns: 0,
            test_req_sent_at: None,
            window_start: now,
            window_count: 0,
            close_reason: "",
        };
        let conn = match sess
            .conn
            .and_then(|c| conns.get_mut(c))
            .and_then(Option::as_mut)
        {
            Some(c) if c.phase != Phase::AwaitLogon => c,
            _ => &mut closed,
        };
        let mut out = Out {
            enc,
            conn,
            settings,
            now,
        };
        let r = send_app_event(&mut out, sess, msg_type, body, event_seq).map_err(|e| {
            out.conn.disposition = Disposition::CloseNow;
            out.conn.close_reason = "message store failed";
            SendError::Store(e)
        });
        if r.is_ok() {
            if event_seq != 0 {
                sess.out_mark = event_seq;
            } else {
                // Not an engine event: the journal cannot count it.
                sess.seq_dirty = true;
            }
        }
        r
    }

    /// Report every session whose numbers the session layer moved since its last
    /// report to [`Application::on_seq_change`] (call once per poll iteration,
    /// before the iteration's output is written to the sockets).
    pub fn report_seq_changes(&mut self) {
        let Self { sessions, app, .. } = self;
        for (id, s) in sessions.iter_mut().enumerate() {
            let Some(s) = s.as_mut() else { continue };
            if !s.seq_dirty {
                continue;
            }
            let seqs = SeqState {
                next_in: s.store.next_target_seq(),
                next_out: s.store.next_sender_seq(),
                out_mark: s.out_mark,
            };
            if app.on_seq_change(id, seqs) {
                s.seq_dirty = false;
            }
        }
    }

    /// Keep an outbound application message for session `id` until its next
    /// logon, when it is sent right after our Logon reply as a normal new message
    /// (new MsgSeqNum, no PossDup), before anything else; used for the execution
    /// reports a restarted node owed the session. If the session is logged on
    /// now, it is sent at once. Past [`MAX_HELD_MESSAGES`] everything held is
    /// stored at once instead (the counterparty gets it by ResendRequest). Held
    /// messages are not in the store, so they do not raise its delivery mark:
    /// after a crash they are owed again.
    pub fn hold(
        &mut self,
        id: SessionId,
        msg_type: &[u8],
        body: Vec<u8>,
        event_seq: u64,
        now: u64,
    ) {
        let logged_on = self.is_logged_on(id);
        let Some(sess) = self.sessions.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        sess.held.push_back((msg_type.to_vec(), body, event_seq));
        if logged_on || sess.held.len() > MAX_HELD_MESSAGES {
            let mut held = std::mem::take(&mut sess.held);
            while let Some((t, body, ev)) = held.pop_front() {
                if let Err(e) = self.send_event(id, &t, &body, ev, now) {
                    // The session was disconnected by the store failure; what is
                    // left is owed again after a restart.
                    drop(e);
                    break;
                }
            }
        }
    }

    /// Messages held for session `id`'s next logon.
    pub fn held(&self, id: SessionId) -> usize {
        self.sessions
            .get(id)
            .and_then(Option::as_ref)
            .map_or(0, |s| s.held.len())
    }

    /// The node's sender has handed over every engine event up to `event_seq`:
    /// raise the delivery mark of every session here that holds nothing (a
    /// session with held messages keeps its mark until they are stored).
    pub fn delivered_through(&mut self, event_seq: u64) {
        for s in self.sessions.iter_mut().flatten() {
            if s.held.is_empty() {
                s.store.raise_delivered(event_seq);
            }
        }
    }

    /// The delivery mark of session `id`'s store.
    pub fn delivered(&self, id: SessionId) -> Option<u64> {
        self.sessions.get(id)?.as_ref()?.store.delivered()
    }

    /// Hand buffered store writes to the kernel (call once per poll iteration).
    /// Returns the first error, after trying every session.
    pub fn flush_stores(&mut self) -> Result<(), String> {
        let mut first = Ok(());
        for s in self.sessions.iter_mut().flatten() {
            if let Err(e) = s.store.flush()
                && first.is_ok()
            {
                first = Err(format!("{}: {e}", s.cfg.store_name()));
            }
        }
        first
    }

    /// Ask the counterparty of session `id` to log out (operator action, shutdown).
    pub fn logout(&mut self, id: SessionId, text: &str, now: u64) {
        let Self {
            settings,
            sessions,
            conns,
            enc,
            ..
        } = self;
        let Some(sess) = sessions.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let Some(conn) = sess
            .conn
            .and_then(|c| conns.get_mut(c))
            .and_then(Option::as_mut)
        else {
            return;
        };
        if conn.phase != Phase::Active {
            return;
        }
        let mut out = Out {
            enc,
            conn,
            settings,
            now,
        };
        initiate_logout(&mut out, sess, text);
    }
}

/// A message ahead of the expected sequence number: keep it and ask for the gap.
fn queue_ahead(out: &mut Out<'_>, sess: &mut SessionState, seq: u64, raw: &[u8], expected: u64) {
    if sess.queue.len() >= out.settings.max_queued_messages {
        logout_and_close(
            out,
            sess,
            "Too many messages queued ahead of a sequence gap",
            "resend queue overflow",
        );
        return;
    }
    sess.queue.entry(seq).or_insert_with(|| raw.to_vec());
    match sess.resend_until {
        Some(until) if until >= expected => {
            if seq > until {
                sess.resend_until = Some(seq);
            }
        }
        _ => send_resend_request(out, sess, expected, seq),
    }
}

fn send_resend_request(out: &mut Out<'_>, sess: &mut SessionState, begin: u64, seen: u64) {
    send_admin(out, sess, b"2", |e| {
        e.field_u64(tags::BEGIN_SEQ_NO, begin)
            .field_u64(tags::END_SEQ_NO, 0);
    });
    sess.resend_until = Some(seen);
}

/// Everything after Logon; marks the session's numbers for a report when the
/// inbound number moved for anything but an application message the
/// application accepted.
fn process_active<A: Application>(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    app: &mut A,
    sid: SessionId,
    msg: &Message<'_>,
    validator: fn(&Message<'_>) -> Result<(), SessionReject>,
) {
    let before = sess.store.next_target_seq();
    let taken = process_active_inner(out, sess, app, sid, msg, validator);
    if !taken && sess.store.next_target_seq() != before {
        sess.seq_dirty = true;
    }
}

/// Header checks, sequence numbers, dispatch. True when an application message
/// was delivered and accepted.
fn process_active_inner<A: Application>(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    app: &mut A,
    sid: SessionId,
    msg: &Message<'_>,
    validator: fn(&Message<'_>) -> Result<(), SessionReject>,
) -> bool {
    let t = msg.msg_type();
    let expected = sess.store.next_target_seq();
    let seq = msg.seq_num().ok();

    if msg.begin_string() != out.settings.begin_string.as_bytes() {
        logout_and_close(out, sess, "Incorrect BeginString", "incorrect BeginString");
        return false;
    }
    if msg.get(tags::SENDER_COMP_ID) != Some(sess.cfg.their_comp_id.as_bytes())
        || msg.get(tags::TARGET_COMP_ID) != Some(sess.cfg.our_comp_id.as_bytes())
    {
        if seq == Some(expected) {
            sess.store.set_next_target_seq(expected + 1);
        }
        send_reject(
            out,
            sess,
            seq,
            Some(t),
            reject(SessionRejectReason::CompIdProblem, None, "CompID problem"),
        );
        logout_and_close(out, sess, "CompID problem", "CompID problem");
        return false;
    }
    let Some(seq) = seq else {
        logout_and_close(
            out,
            sess,
            "MsgSeqNum(34) missing or malformed",
            "MsgSeqNum missing",
        );
        return false;
    };
    let sending_time = match msg.get_timestamp(tags::SENDING_TIME) {
        Ok(Some(st)) => st,
        other => {
            let r = match other {
                Err(e) => e.to_reject(),
                _ => reject(
                    SessionRejectReason::RequiredTagMissing,
                    Some(tags::SENDING_TIME),
                    "Required tag missing",
                ),
            };
            if seq == expected {
                sess.store.set_next_target_seq(expected + 1);
            }
            send_reject(out, sess, Some(seq), Some(t), r);
            return false;
        }
    };
    if sending_time.abs_diff(out.now) > out.settings.sending_time_tolerance_ns {
        if seq == expected {
            sess.store.set_next_target_seq(expected + 1);
        }
        send_reject(
            out,
            sess,
            Some(seq),
            Some(t),
            reject(
                SessionRejectReason::SendingTimeAccuracy,
                None,
                "SendingTime accuracy problem",
            ),
        );
        initiate_logout(out, sess, "SendingTime accuracy problem");
        return false;
    }
    let poss_dup = matches!(msg.get_bool(tags::POSS_DUP_FLAG), Ok(Some(true)));
    let gap_fill = matches!(msg.get_bool(tags::GAP_FILL_FLAG), Ok(Some(true)));

    // Logout and SequenceReset-Reset ignore the sequence-number rules.
    if t == b"5" {
        if seq == expected {
            sess.store.set_next_target_seq(expected + 1);
        }
        match out.conn.phase {
            Phase::LogoutSent { .. } => {
                out.close_after_flush("logout");
            }
            _ => logout_and_close(out, sess, "", "logout"),
        }
        return false;
    }
    if t == b"4" && !gap_fill {
        sequence_reset(out, sess, msg, seq, t, false);
        return false;
    }
    // Logon with ResetSeqNumFlag=Y during the session: both sides start again at 1.
    if t == b"A" && matches!(msg.get_bool(tags::RESET_SEQ_NUM_FLAG), Ok(Some(true))) {
        if sess.store.reset().is_err() {
            out.conn.disposition = Disposition::CloseNow;
            out.conn.close_reason = "message store failed";
            return false;
        }
        sess.queue.clear();
        sess.resend_until = None;
        let hb = out.conn.heartbeat_ns / 1_000_000_000;
        send_admin(out, sess, b"A", |e| {
            e.field_u64(tags::ENCRYPT_METHOD, 0)
                .field_u64(tags::HEART_BT_INT, hb)
                .field(tags::RESET_SEQ_NUM_FLAG, b"Y");
        });
        if seq > 1 {
            send_resend_request(out, sess, 1, seq);
        } else {
            sess.store.set_next_target_seq(2);
        }
        return false;
    }

    if seq > expected {
        if t == b"2" {
            // Answer it now (the counterparty may be waiting on it to fill our
            // own gap), then ask for the gap; it is not queued, so it is not
            // answered twice: the counterparty gap-fills over it.
            answer_resend_request(out, sess, msg, seq, t);
            match sess.resend_until {
                Some(until) if until >= expected => sess.resend_until = Some(until.max(seq)),
                _ => send_resend_request(out, sess, expected, seq),
            }
            return false;
        }
        queue_ahead(out, sess, seq, msg.as_bytes(), expected);
        return false;
    }

    // OrigSendingTime rules for possible duplicates (SequenceReset exempt).
    let orig_problem = if poss_dup && t != b"4" {
        match msg.get_timestamp(tags::ORIG_SENDING_TIME) {
            Ok(Some(orig)) if orig <= sending_time => None,
            Ok(Some(_)) => Some(reject(
                SessionRejectReason::SendingTimeAccuracy,
                None,
                "SendingTime accuracy problem",
            )),
            Ok(None) => Some(reject(
                SessionRejectReason::RequiredTagMissing,
                Some(tags::ORIG_SENDING_TIME),
                "Required tag missing",
            )),
            Err(e) => Some(e.to_reject()),
        }
    } else {
        None
    };

    if seq < expected {
        if !poss_dup {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            logout_and_close(out, sess, &text, "MsgSeqNum too low");
            return false;
        }
        if let Some(r) = orig_problem {
            send_reject(out, sess, Some(seq), Some(t), r);
            if r.reason == SessionRejectReason::SendingTimeAccuracy {
                initiate_logout(out, sess, r.text);
            }
        }
        // A duplicate we already processed: ignore.
        return false;
    }

    // seq == expected from here on.
    if let Some(r) = orig_problem {
        sess.store.set_next_target_seq(expected + 1);
        send_reject(out, sess, Some(seq), Some(t), r);
        if r.reason == SessionRejectReason::SendingTimeAccuracy {
            initiate_logout(out, sess, r.text);
        }
        return false;
    }

    if let Some(limit) = sess.cfg.rate_limit
        && !matches!(t, b"2" | b"4" | b"5")
    {
        let window = limit.window_ms.saturating_mul(1_000_000);
        if out.now.saturating_sub(out.conn.window_start) >= window {
            out.conn.window_start = out.now;
            out.conn.window_count = 0;
        }
        out.conn.window_count = out.conn.window_count.saturating_add(1);
        if out.conn.window_count > limit.max_messages {
            sess.store.set_next_target_seq(expected + 1);
            match limit.action {
                ThrottleAction::Reject => {
                    send_reject(
                        out,
                        sess,
                        Some(seq),
                        Some(t),
                        reject(SessionRejectReason::Other, None, "Throttle limit exceeded"),
                    );
                }
                ThrottleAction::Logout => {
                    logout_and_close(
                        out,
                        sess,
                        "Throttle limit exceeded",
                        "throttle limit exceeded",
                    );
                }
            }
            return false;
        }
    }

    if let Err(r) = validator(msg) {
        sess.store.set_next_target_seq(expected + 1);
        send_reject(out, sess, Some(seq), Some(t), r);
        return false;
    }

    // Gap fill done?
    if let Some(until) = sess.resend_until
        && seq >= until
    {
        sess.resend_until = None;
    }

    match t {
        b"4" => sequence_reset(out, sess, msg, seq, t, true),
        b"0" => {
            sess.store.set_next_target_seq(expected + 1);
        }
        b"1" => {
            sess.store.set_next_target_seq(expected + 1);
            match msg.get(tags::TEST_REQ_ID) {
                Some(id) => send_admin(out, sess, b"0", |e| {
                    e.field(tags::TEST_REQ_ID, id);
                }),
                None => send_reject(
                    out,
                    sess,
                    Some(seq),
                    Some(t),
                    reject(
                        SessionRejectReason::RequiredTagMissing,
                        Some(tags::TEST_REQ_ID),
                        "Required tag missing",
                    ),
                ),
            }
        }
        b"2" => {
            sess.store.set_next_target_seq(expected + 1);
            answer_resend_request(out, sess, msg, seq, t);
        }
        b"3" | b"A" => {
            sess.store.set_next_target_seq(expected + 1);
        }
        _ => {
            sess.store.set_next_target_seq(expected + 1);
            let mut reply = Reply {
                out: Out {
                    enc: out.enc,
                    conn: out.conn,
                    settings: out.settings,
                    now: out.now,
                },
                sess,
                error: None,
            };
            let verdict = app.on_message(sid, msg, &mut reply);
            let error = reply.error.take();
            if let Some(_e) = error {
                out.conn.disposition = Disposition::CloseNow;
                out.conn.close_reason = "message store failed";
                return false;
            }
            if let Delivery::BusinessReject { reason, text } = verdict {
                send_admin(out, sess, b"j", |e| {
                    e.field_u64(tags::REF_SEQ_NUM, seq)
                        .field(tags::REF_MSG_TYPE, t)
                        .field_u64(tags::BUSINESS_REJECT_REASON, u64::from(reason))
                        .field(tags::TEXT, text.as_bytes());
                });
                return false;
            }
            return true;
        }
    }
    false
}

/// Resend what a ResendRequest asks for, or Reject it when 7/16 are bad.
fn answer_resend_request(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    msg: &Message<'_>,
    seq: u64,
    t: &[u8],
) {
    let begin = msg.get_u64(tags::BEGIN_SEQ_NO);
    let end = msg.get_u64(tags::END_SEQ_NO);
    match (begin, end) {
        (Ok(Some(b)), Ok(Some(e))) => resend(out, sess, b, e),
        (Err(er), _) | (_, Err(er)) => send_reject(out, sess, Some(seq), Some(t), er.to_reject()),
        (Ok(None), _) => send_reject(
            out,
            sess,
            Some(seq),
            Some(t),
            reject(
                SessionRejectReason::RequiredTagMissing,
                Some(tags::BEGIN_SEQ_NO),
                "Required tag missing",
            ),
        ),
        (_, Ok(None)) => send_reject(
            out,
            sess,
            Some(seq),
            Some(t),
            reject(
                SessionRejectReason::RequiredTagMissing,
                Some(tags::END_SEQ_NO),
                "Required tag missing",
            ),
        ),
    }
}

/// SequenceReset(4) in GapFill (`gap_fill`, already at the expected sequence
/// number) or Reset mode (sequence number ignored).
fn sequence_reset(
    out: &mut Out<'_>,
    sess: &mut SessionState,
    msg: &Message<'_>,
    seq: u64,
    t: &[u8],
    gap_fill: bool,
) {
    let expected = sess.store.next_target_seq();
    let lowest_allowed = if gap_fill { seq + 1 } else { expected };
    let checked = match msg.get_u64(tags::NEW_SEQ_NO) {
        Ok(Some(n)) if n >= lowest_allowed => Ok(n),
        Ok(Some(_)) => Err(reject(
            SessionRejectReason::ValueIncorrect,
            Some(tags::NEW_SEQ_NO),
            "Attempt to lower sequence number, invalid value NewSeqNo(36)",
        )),
        Ok(None) => Err(reject(
            SessionRejectReason::RequiredTagMissing,
            Some(tags::NEW_SEQ_NO),
            "Required tag missing",
        )),
        Err(e) => Err(e.to_reject()),
    };
    let new = match checked {
        Ok(n) => n,
        Err(r) => {
            // A refused GapFill still uses up its own sequence number; a
            // refused Reset does not.
            if gap_fill {
                sess.store.set_next_target_seq(expected + 1);
            }
            send_reject(out, sess, Some(seq), Some(t), r);
            return;
        }
    };
    sess.store.set_next_target_seq(new.max(expected));
    if let Some(until) = sess.resend_until
        && new > until
    {
        sess.resend_until = None;
    }
}

/// Answer a ResendRequest: stored application messages again with PossDupFlag=Y and
/// OrigSendingTime, every run of other sequence numbers as one SequenceReset-GapFill.
fn resend(out: &mut Out<'_>, sess: &mut SessionState, begin: u64, end: u64) {
    let last = sess.store.next_sender_seq().saturating_sub(1);
    let end = if end == 0 || end > last { last } else { end };
    let begin = begin.max(1);
    if begin > end {
        return;
    }
    let SessionState { cfg, store, .. } = sess;
    let mut next = begin;
    let now = out.now;
    let gap_fill = |out: &mut Out<'_>, from: u64, to: u64| {
        header(out.enc, cfg, b"4", from, now, Some(now));
        out.enc
            .field(tags::GAP_FILL_FLAG, b"Y")
            .field_u64(tags::NEW_SEQ_NO, to);
        out.enc.finish();
        push_encoded(out);
    };
    let result = store.for_each_in_range(begin, end, &mut |m| {
        if m.seq > next {
            gap_fill(out, next, m.seq);
        }
        header(
            out.enc,
            cfg,
            m.msg_type,
            m.seq,
            now,
            Some(m.sending_time_ns),
        );
        out.enc.raw(m.body);
        out.enc.finish();
        push_encoded(out);
        next = m.seq + 1;
    });
    if result.is_err() {
        out.conn.disposition = Disposition::CloseNow;
        out.conn.close_reason = "message store failed";
        return;
    }
    if next <= end {
        gap_fill(out, next, end + 1);
    }
}
