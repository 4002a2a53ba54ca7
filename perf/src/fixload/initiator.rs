//! The FIX 4.4 initiator side of one load-generator session.
//!
//! - [`OrderEncoder`] turns an [`Action`] into NewOrderSingle(D),
//!   OrderCancelRequest(F) or OrderCancelReplaceRequest(G) with the shared codec
//!   (`gateway::fix::codec::Encoder`), numbering the session's messages.
//! - [`logon`] connects, sends Logon(A) with ResetSeqNumFlag(141)=Y, HeartBtInt
//!   and Username/Password (553/554), and waits for the acceptor's Logon.
//! - [`Reader`] is the connection's reader thread: it answers TestRequest(1)
//!   with Heartbeat(0) and ResendRequest(2) with a gap fill (the generator keeps
//!   no message store), sends its own heartbeats when the link is quiet, and
//!   matches every application message to its request by ClOrdID: the first one
//!   is the request's response and stops its latency clock.
//!
//! Sender and reader share the socket's write half through a mutex (the sender
//! writes orders, the reader writes session replies); nothing else is shared.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use gateway::fix::codec::{self, Encoder, Frame, Message, Parser, parse_u64, tags};
use gateway::fix::decimal::{DECIMAL_BUF_LEN, lots_to_decimal, ticks_to_decimal};
use hdrhistogram::Histogram;

use super::LoadError;
use super::mix::{Action, SymbolSpec};
use super::pace::Schedule;
use super::track::{Counters, Outstanding};

/// Bits of a ClOrdID that hold the message index; the session number (from 1)
/// sits above them. ClOrdIDs stay far below 2^63, the engine's numeric form.
const CL_SHIFT: u32 = 40;
const CL_MASK: u64 = (1 << CL_SHIFT) - 1;

/// The ClOrdID of message `k` of session `session`.
pub fn cl_ord_id(session: u64, k: u64) -> u64 {
    ((session + 1) << CL_SHIFT) | (k & CL_MASK)
}

/// Splits a ClOrdID into (session, message index).
pub fn split_cl_ord_id(cl: u64) -> (u64, u64) {
    ((cl >> CL_SHIFT).wrapping_sub(1), cl & CL_MASK)
}

/// How one session logs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// Our SenderCompID(49).
    pub sender_comp_id: String,
    /// Username(553); none sent when absent.
    pub username: Option<String>,
    /// Password(554); none sent when absent.
    pub password: Option<String>,
}

impl SessionSpec {
    /// Parses `COMPID` or `COMPID:PASSWORD` (the username is the CompID).
    pub fn parse(text: &str) -> Result<SessionSpec, String> {
        let (id, pw) = match text.split_once(':') {
            Some((id, pw)) => (id, Some(pw.to_string())),
            None => (text, None),
        };
        if id.is_empty() || id.bytes().any(|b| b == codec::SOH || b == b'=') {
            return Err(format!(
                "bad session `{text}`: want COMPID or COMPID:PASSWORD"
            ));
        }
        Ok(SessionSpec {
            sender_comp_id: id.to_string(),
            username: pw.as_ref().map(|_| id.to_string()),
            password: pw,
        })
    }
}

fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Encodes one session's outgoing messages and numbers them.
#[derive(Debug)]
pub struct OrderEncoder {
    enc: Encoder,
    next_seq: u64,
    sender: Vec<u8>,
    target: Vec<u8>,
}

impl OrderEncoder {
    /// An encoder for session `sender` → `target`, starting at MsgSeqNum 1.
    pub fn new(sender: &str, target: &str) -> Self {
        OrderEncoder {
            enc: Encoder::new(b"FIX.4.4"),
            next_seq: 1,
            sender: sender.as_bytes().to_vec(),
            target: target.as_bytes().to_vec(),
        }
    }

    /// Sets the MsgSeqNum of the next message (e.g. to size a sample message
    /// as it would be mid-run).
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    fn begin(&mut self, msg_type: &[u8], now_ns: u64) -> &mut Encoder {
        self.enc
            .start(msg_type)
            .field_u64(tags::MSG_SEQ_NUM, self.next_seq)
            .field(tags::SENDER_COMP_ID, &self.sender)
            .field(tags::TARGET_COMP_ID, &self.target)
            .field_timestamp(tags::SENDING_TIME, now_ns)
    }

    fn finish(&mut self) -> &[u8] {
        self.next_seq += 1;
        self.enc.finish()
    }

    /// Logon(A): reset sequence numbers, heartbeat interval, credentials.
    pub fn logon(&mut self, heartbeat_s: u32, spec: &SessionSpec) -> &[u8] {
        let e = self.begin(b"A", unix_now_ns());
        e.field_u64(tags::ENCRYPT_METHOD, 0)
            .field_u64(tags::HEART_BT_INT, u64::from(heartbeat_s))
            .field_bool(tags::RESET_SEQ_NUM_FLAG, true);
        if let Some(u) = &spec.username {
            e.field(tags::USERNAME, u.as_bytes());
        }
        if let Some(p) = &spec.password {
            e.field(tags::PASSWORD, p.as_bytes());
        }
        self.finish()
    }

    /// Heartbeat(0), answering `test_req_id` when given.
    pub fn heartbeat(&mut self, test_req_id: Option<&[u8]>) -> &[u8] {
        let e = self.begin(b"0", unix_now_ns());
        if let Some(id) = test_req_id {
            e.field(tags::TEST_REQ_ID, id);
        }
        self.finish()
    }

    /// Logout(5).
    pub fn logout(&mut self) -> &[u8] {
        self.begin(b"5", unix_now_ns());
        self.finish()
    }

    /// SequenceReset-GapFill(4) from `begin` to our next sequence number: the
    /// answer to a ResendRequest when nothing is worth resending.
    pub fn gap_fill(&mut self, begin: u64) -> &[u8] {
        let now = unix_now_ns();
        let next = self.next_seq;
        self.enc
            .start(b"4")
            .field_u64(tags::MSG_SEQ_NUM, begin.min(next))
            .field(tags::SENDER_COMP_ID, &self.sender)
            .field(tags::TARGET_COMP_ID, &self.target)
            .field_bool(tags::POSS_DUP_FLAG, true)
            .field_timestamp(tags::SENDING_TIME, now)
            .field_timestamp(tags::ORIG_SENDING_TIME, now)
            .field_bool(tags::GAP_FILL_FLAG, true)
            .field_u64(tags::NEW_SEQ_NO, next);
        // A gap fill does not consume a sequence number of its own.
        self.enc.finish()
    }

    /// The request for `action` with ClOrdID `cl`.
    pub fn action(&mut self, action: &Action, cl: u64, symbols: &[SymbolSpec]) -> &[u8] {
        let now = unix_now_ns();
        let mut px = [0u8; DECIMAL_BUF_LEN];
        let mut qx = [0u8; DECIMAL_BUF_LEN];
        let sym = |i: usize| symbols.get(i).or(symbols.first());
        match *action {
            Action::New {
                symbol,
                side,
                price,
                qty,
                ioc,
            } => {
                let Some(s) = sym(symbol) else {
                    return &[];
                };
                let p = ticks_to_decimal(price, s.tick, &mut px);
                let q = lots_to_decimal(qty, s.lot, &mut qx);
                self.begin(b"D", now)
                    .field_u64(11, cl)
                    .field(55, s.name.as_bytes())
                    .field_char(54, side.fix())
                    .field_timestamp(60, now)
                    .field(38, q)
                    .field_char(40, b'2')
                    .field(44, p)
                    .field_char(59, if ioc { b'3' } else { b'0' });
            }
            Action::Cancel {
                orig,
                symbol,
                side,
                qty,
            } => {
                let Some(s) = sym(symbol) else {
                    return &[];
                };
                let q = lots_to_decimal(qty, s.lot, &mut qx);
                self.begin(b"F", now)
                    .field_u64(41, orig)
                    .field_u64(11, cl)
                    .field(55, s.name.as_bytes())
                    .field_char(54, side.fix())
                    .field_timestamp(60, now)
                    .field(38, q);
            }
            Action::Replace {
                orig,
                symbol,
                side,
                price,
                qty,
            } => {
                let Some(s) = sym(symbol) else {
                    return &[];
                };
                let p = ticks_to_decimal(price, s.tick, &mut px);
                let q = lots_to_decimal(qty, s.lot, &mut qx);
                self.begin(b"G", now)
                    .field_u64(41, orig)
                    .field_u64(11, cl)
                    .field(55, s.name.as_bytes())
                    .field_char(54, side.fix())
                    .field_timestamp(60, now)
                    .field(38, q)
                    .field_char(40, b'2')
                    .field(44, p)
                    .field_char(59, b'0');
            }
        }
        self.finish()
    }
}

/// The write half of a session: the socket, the encoder, when we last wrote.
#[derive(Debug)]
pub struct Writer {
    stream: TcpStream,
    /// The session's encoder (sequence numbers live here).
    pub enc: OrderEncoder,
    last_write: Instant,
}

impl Writer {
    /// Writes `msg` (already encoded by `self.enc`).
    fn put(stream: &mut TcpStream, last: &mut Instant, msg: &[u8]) -> io::Result<()> {
        stream.write_all(msg)?;
        *last = Instant::now();
        Ok(())
    }

    /// Sends the request for `action`.
    pub fn send_action(
        &mut self,
        action: &Action,
        cl: u64,
        symbols: &[SymbolSpec],
    ) -> io::Result<()> {
        let msg = self.enc.action(action, cl, symbols);
        Self::put(&mut self.stream, &mut self.last_write, msg)
    }

    /// Sends Heartbeat(0).
    pub fn send_heartbeat(&mut self, test_req_id: Option<&[u8]>) -> io::Result<()> {
        let msg = self.enc.heartbeat(test_req_id);
        Self::put(&mut self.stream, &mut self.last_write, msg)
    }

    /// Sends Logout(5).
    pub fn send_logout(&mut self) -> io::Result<()> {
        let msg = self.enc.logout();
        Self::put(&mut self.stream, &mut self.last_write, msg)
    }

    fn send_gap_fill(&mut self, begin: u64) -> io::Result<()> {
        let msg = self.enc.gap_fill(begin);
        Self::put(&mut self.stream, &mut self.last_write, msg)
    }

    /// Closes both directions of the socket (wakes the reader).
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Locks a writer, ignoring poisoning (a panicked peer thread leaves the
/// encoder in a consistent state: every method finishes a whole message).
pub fn lock(w: &Mutex<Writer>) -> MutexGuard<'_, Writer> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes read but not yet handled, plus the parser: what the logon hands to the
/// reader thread. `buf[start..len]` is unhandled; the front is compacted away
/// only before the next read, so handling a batch of messages copies nothing.
#[derive(Debug)]
pub struct Inbound {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    len: usize,
    parser: Parser,
}

impl Inbound {
    fn new(stream: TcpStream) -> Self {
        Inbound {
            stream,
            buf: vec![0; 256 * 1024],
            start: 0,
            len: 0,
            parser: Parser::new(),
        }
    }

    /// The unhandled bytes.
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.len]
    }

    /// Reads more bytes; `Ok(0)` at end of stream. A read timeout is
    /// `ErrorKind::WouldBlock`/`TimedOut`.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.len, 0);
            self.len -= self.start;
            self.start = 0;
        }
        if self.len == self.buf.len() {
            // Only garbage can fill the buffer: frame() gives up on a message
            // longer than 16 KiB long before. Grow rather than stall.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.len..])?;
        self.len += n;
        Ok(n)
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.len);
    }
}

/// A logged-on session: the write half (shared with the sender) and the read
/// half for the reader thread.
#[derive(Debug)]
pub struct Connected {
    /// The write half.
    pub writer: Arc<Mutex<Writer>>,
    /// The read half.
    pub inbound: Inbound,
}

/// Connects to `addr` and logs on as `spec` to `target`; fails with the
/// acceptor's Logout text if it refuses, or after `timeout` without an answer.
pub fn logon(
    addr: SocketAddr,
    spec: &SessionSpec,
    target: &str,
    heartbeat_s: u32,
    timeout: Duration,
) -> Result<Connected, LoadError> {
    let who = spec.sender_comp_id.clone();
    let io_err = |what: &str, e: io::Error| LoadError::Session {
        session: who.clone(),
        reason: format!("{what}: {e}"),
    };
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| LoadError::Connect {
        addr,
        reason: e.to_string(),
    })?;
    stream
        .set_nodelay(true)
        .map_err(|e| io_err("set TCP_NODELAY", e))?;
    let read_half = stream.try_clone().map_err(|e| io_err("clone socket", e))?;
    read_half
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| io_err("set read timeout", e))?;
    let mut writer = Writer {
        stream,
        enc: OrderEncoder::new(&spec.sender_comp_id, target),
        last_write: Instant::now(),
    };
    let msg = writer.enc.logon(heartbeat_s, spec);
    Writer::put(&mut writer.stream, &mut writer.last_write, msg)
        .map_err(|e| io_err("send Logon", e))?;
    let mut inbound = Inbound::new(read_half);
    let deadline = Instant::now() + timeout;
    loop {
        match codec::frame(inbound.pending(), codec::DEFAULT_MAX_MESSAGE_LEN) {
            Frame::Complete { len } => {
                let reply = inbound.pending()[..len].to_vec();
                inbound.consume(len);
                let mut p = Parser::new();
                let m = p.parse(&reply).map_err(|e| LoadError::Session {
                    session: who.clone(),
                    reason: format!("unparsable reply to Logon: {e}"),
                })?;
                match m.msg_type() {
                    b"A" => break,
                    b"5" => {
                        let text = m.get(tags::TEXT).unwrap_or(b"");
                        return Err(LoadError::Session {
                            session: who,
                            reason: format!("Logon refused: {}", String::from_utf8_lossy(text)),
                        });
                    }
                    // Anything else before the Logon (a Reject, a Heartbeat):
                    // keep waiting for the Logon or Logout.
                    _ => continue,
                }
            }
            Frame::Garbled { skip, .. } => inbound.consume(skip),
            Frame::Incomplete => {
                if Instant::now() >= deadline {
                    return Err(LoadError::Session {
                        session: who,
                        reason: format!("no Logon reply within {timeout:?}"),
                    });
                }
                match inbound.fill() {
                    Ok(0) => {
                        return Err(LoadError::Session {
                            session: who,
                            reason: "connection closed before the Logon reply".into(),
                        });
                    }
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(e) => return Err(io_err("read Logon reply", e)),
                }
            }
        }
    }
    Ok(Connected {
        writer: Arc::new(Mutex::new(writer)),
        inbound,
    })
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// How often the reader checks whether a heartbeat is due (it takes the write
/// lock to look, so not on every read).
const KEEPALIVE_CHECK: Duration = Duration::from_millis(100);

/// What a reader thread hands back when it ends.
#[derive(Debug)]
pub struct ReaderResult {
    /// Latency of every measured first response, ns from intended send time.
    pub hist: Histogram<u64>,
    /// The same per request kind (indexed by `Kind as usize`).
    pub by_kind: [Histogram<u64>; 4],
    /// The acceptor answered our Logout (a clean end).
    pub logged_out: bool,
    /// The first problem seen, if any (for the report).
    pub problem: Option<String>,
}

/// One session's reader thread.
#[derive(Debug)]
pub struct Reader {
    /// Session number (0-based; ClOrdIDs carry it).
    pub session: u64,
    /// The session's schedule (intended send times).
    pub schedule: Schedule,
    /// First message index inside the measured window.
    pub first_measured: u64,
    /// Requests awaiting a response.
    pub table: Arc<Outstanding>,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// ClOrdIDs of orders that ended, for the sender's order flow.
    pub ended: Sender<u64>,
    /// The write half, for session replies.
    pub writer: Arc<Mutex<Writer>>,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Set when we sent Logout: an incoming Logout is then the clean end.
    pub logout_sent: Arc<AtomicBool>,
    /// Set to make the thread return.
    pub stop: Arc<AtomicBool>,
    /// Latency of every measured first response.
    pub hist: Histogram<u64>,
    /// The same, per request kind (indexed by `Kind as usize`).
    pub by_kind: [Histogram<u64>; 4],
}

impl Reader {
    /// Runs until the session ends (Logout, end of stream, `stop`).
    pub fn run(mut self, mut inbound: Inbound) -> ReaderResult {
        let mut expected_seq: Option<u64> = None;
        let mut last_keepalive = Instant::now();
        let mut problem: Option<String> = None;
        let note = |p: &mut Option<String>, text: String| {
            if p.is_none() {
                *p = Some(text);
            }
        };
        loop {
            // Handle every complete message in the buffer.
            loop {
                match codec::frame(inbound.pending(), codec::DEFAULT_MAX_MESSAGE_LEN) {
                    Frame::Complete { len } => {
                        let end = {
                            let Inbound {
                                buf, parser, start, ..
                            } = &mut inbound;
                            match parser.parse(&buf[*start..*start + len]) {
                                Ok(m) => self.handle(&m, &mut expected_seq, &mut problem),
                                Err(e) => {
                                    Counters::bump(&self.counters.errors);
                                    note(&mut problem, format!("unparsable message: {e}"));
                                    false
                                }
                            }
                        };
                        inbound.consume(len);
                        if end {
                            return self.finish(true, problem);
                        }
                    }
                    Frame::Garbled { skip, reason } => {
                        Counters::bump(&self.counters.errors);
                        note(
                            &mut problem,
                            format!("garbled bytes from acceptor: {reason}"),
                        );
                        inbound.consume(skip);
                    }
                    Frame::Incomplete => break,
                }
            }
            if self.stop.load(Ordering::Acquire) {
                return self.finish(false, problem);
            }
            match inbound.fill() {
                Ok(0) => {
                    if !self.logout_sent.load(Ordering::Acquire) {
                        Counters::bump(&self.counters.errors);
                        note(&mut problem, "acceptor closed the connection".into());
                    }
                    return self.finish(false, problem);
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    if !self.logout_sent.load(Ordering::Acquire) {
                        Counters::bump(&self.counters.errors);
                        note(&mut problem, format!("read: {e}"));
                    }
                    return self.finish(false, problem);
                }
            }
            if last_keepalive.elapsed() >= KEEPALIVE_CHECK {
                last_keepalive = Instant::now();
                self.keepalive(&mut problem);
            }
        }
    }

    fn finish(self, logged_out: bool, problem: Option<String>) -> ReaderResult {
        ReaderResult {
            hist: self.hist,
            by_kind: self.by_kind,
            logged_out,
            problem,
        }
    }

    fn keepalive(&self, problem: &mut Option<String>) {
        let mut w = lock(&self.writer);
        if w.last_write.elapsed() >= self.heartbeat
            && let Err(e) = w.send_heartbeat(None)
        {
            Counters::bump(&self.counters.errors);
            problem.get_or_insert_with(|| format!("send Heartbeat: {e}"));
        }
    }

    /// The first response to request `cl`: stops its clock.
    fn respond(&mut self, cl: u64, reject: bool) {
        let (session, k) = split_cl_ord_id(cl);
        if session != self.session {
            return;
        }
        let now = Instant::now();
        // None: a later report for an answered request (fills after the ack),
        // or the answer to a request already counted as timed out.
        if let Some(kind) = self.table.take(k) {
            let c = if reject {
                &self.counters.rejects
            } else {
                &self.counters.acks
            };
            Counters::bump(c);
            if k >= self.first_measured {
                let lat = now.saturating_duration_since(self.schedule.intended(k));
                let ns = u64::try_from(lat.as_nanos()).unwrap_or(u64::MAX);
                self.hist.saturating_record(ns);
                if let Some(h) = self.by_kind.get_mut(kind as usize) {
                    h.saturating_record(ns);
                }
            }
        }
    }

    /// Handles one message; true when the session ended (Logout).
    fn handle(
        &mut self,
        m: &Message<'_>,
        expected: &mut Option<u64>,
        problem: &mut Option<String>,
    ) -> bool {
        let poss_dup = matches!(m.get_bool(tags::POSS_DUP_FLAG), Ok(Some(true)));
        if let Ok(seq) = m.seq_num() {
            match *expected {
                Some(want) if seq > want && m.msg_type() != b"4" => {
                    Counters::bump(&self.counters.errors);
                    problem.get_or_insert_with(|| format!("sequence gap: got {seq}, want {want}"));
                }
                Some(want) if seq < want && !poss_dup => {
                    Counters::bump(&self.counters.errors);
                    problem
                        .get_or_insert_with(|| format!("sequence too low: got {seq}, want {want}"));
                }
                _ => {}
            }
            if !poss_dup {
                *expected = Some(seq + 1);
            }
        }
        let num = |tag: u32| m.get(tag).and_then(parse_u64);
        match m.msg_type() {
            b"0" => {}
            b"1" => {
                let id = m.get(tags::TEST_REQ_ID).unwrap_or(b"");
                if let Err(e) = lock(&self.writer).send_heartbeat(Some(id)) {
                    Counters::bump(&self.counters.errors);
                    problem.get_or_insert_with(|| format!("answer TestRequest: {e}"));
                }
            }
            b"2" => {
                let begin = num(tags::BEGIN_SEQ_NO).unwrap_or(1);
                if let Err(e) = lock(&self.writer).send_gap_fill(begin) {
                    Counters::bump(&self.counters.errors);
                    problem.get_or_insert_with(|| format!("answer ResendRequest: {e}"));
                }
            }
            b"3" => {
                Counters::bump(&self.counters.errors);
                let text = String::from_utf8_lossy(m.get(tags::TEXT).unwrap_or(b"")).into_owned();
                let r = num(tags::SESSION_REJECT_REASON).unwrap_or(0);
                problem.get_or_insert_with(|| format!("session Reject(3) reason {r}: {text}"));
            }
            b"4" => {
                if let Some(n) = num(tags::NEW_SEQ_NO) {
                    *expected = Some(n);
                }
            }
            b"5" => {
                if !self.logout_sent.load(Ordering::Acquire) {
                    Counters::bump(&self.counters.errors);
                    let text = String::from_utf8_lossy(m.get(tags::TEXT).unwrap_or(b""));
                    problem.get_or_insert_with(|| format!("acceptor logged us out: {text}"));
                    let _ = lock(&self.writer).send_logout();
                }
                return true;
            }
            b"8" => {
                let exec_type = m.get(150).and_then(|v| v.first().copied());
                let status = m.get(39).and_then(|v| v.first().copied());
                if exec_type == Some(b'F') {
                    Counters::bump(&self.counters.fills);
                }
                if let Some(cl) = num(11) {
                    self.respond(cl, exec_type == Some(b'8'));
                    if matches!(status, Some(b'2' | b'4' | b'8' | b'C')) {
                        let _ = self.ended.try_send(cl);
                        if let Some(orig) = num(41) {
                            let _ = self.ended.try_send(orig);
                        }
                    }
                }
            }
            b"9" => {
                if let Some(cl) = num(11) {
                    self.respond(cl, true);
                    let _ = self.ended.try_send(cl);
                }
                if let Some(orig) = num(41) {
                    let _ = self.ended.try_send(orig);
                }
            }
            b"j" => {
                if let Some(cl) = num(tags::BUSINESS_REJECT_REF_ID) {
                    self.respond(cl, true);
                    let _ = self.ended.try_send(cl);
                } else {
                    Counters::bump(&self.counters.errors);
                    let text = String::from_utf8_lossy(m.get(tags::TEXT).unwrap_or(b""));
                    problem.get_or_insert_with(|| format!("BusinessMessageReject: {text}"));
                }
            }
            b"D" => {
                // An echo acceptor sends the order back.
                if let Some(cl) = num(11) {
                    self.respond(cl, false);
                }
            }
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixload::mix::Side;
    use gateway::fix::decimal::Tick;

    #[test]
    fn cl_ord_ids_round_trip_and_fit_the_engine() {
        for (s, k) in [(0u64, 0u64), (1, 5), (7, CL_MASK)] {
            let cl = cl_ord_id(s, k);
            assert_eq!(split_cl_ord_id(cl), (s, k));
            assert!(cl < 1 << 63);
            let text = cl.to_string();
            let id = engine::clordid::from_text(text.as_bytes()).unwrap();
            assert_eq!(id, cl);
        }
    }

    #[test]
    fn session_spec_parses() {
        let s = SessionSpec::parse("MM1:secret").unwrap();
        assert_eq!(s.sender_comp_id, "MM1");
        assert_eq!(s.username.as_deref(), Some("MM1"));
        assert_eq!(s.password.as_deref(), Some("secret"));
        let s = SessionSpec::parse("TW").unwrap();
        assert_eq!(s.password, None);
        assert!(SessionSpec::parse("").is_err());
        assert!(SessionSpec::parse(":x").is_err());
    }

    #[test]
    fn encoded_orders_parse_with_the_fields_the_acceptor_needs() {
        let syms = [SymbolSpec {
            name: "BTC-USD".into(),
            mid_ticks: 3_000_000,
            tick: Tick::new(1, -2).unwrap(),
            lot: Tick::new(1, -3).unwrap(),
        }];
        let mut e = OrderEncoder::new("MM1", "RINGEX");
        let _ = e.logon(30, &SessionSpec::parse("MM1:pw").unwrap());
        let a = Action::Replace {
            orig: 5,
            symbol: 0,
            side: Side::Sell,
            price: 3_000_123,
            qty: 15,
        };
        let bytes = e.action(&a, 6, &syms).to_vec();
        assert!(matches!(
            codec::frame(&bytes, 4096),
            Frame::Complete { len } if len == bytes.len()
        ));
        let mut p = Parser::new();
        let m = p.parse(&bytes).unwrap();
        assert_eq!(m.msg_type(), b"G");
        assert_eq!(m.seq_num().unwrap(), 2);
        assert_eq!(m.get(41), Some(&b"5"[..]));
        assert_eq!(m.get(11), Some(&b"6"[..]));
        assert_eq!(m.get(44), Some(&b"30001.23"[..]));
        assert_eq!(m.get(38), Some(&b"0.015"[..]));
        assert_eq!(m.get(54), Some(&b"2"[..]));
        assert!(gateway::fix::dict::validate(&m).is_ok());
        let d = Action::New {
            symbol: 0,
            side: Side::Buy,
            price: 2_999_990,
            qty: 1,
            ioc: true,
        };
        let bytes = e.action(&d, 7, &syms).to_vec();
        let m = p.parse(&bytes).unwrap();
        assert_eq!(m.msg_type(), b"D");
        assert_eq!(m.get(59), Some(&b"3"[..]));
        assert!(gateway::fix::dict::validate(&m).is_ok());
        let f = Action::Cancel {
            orig: 7,
            symbol: 0,
            side: Side::Buy,
            qty: 1,
        };
        let bytes = e.action(&f, 8, &syms).to_vec();
        let m = p.parse(&bytes).unwrap();
        assert_eq!(m.msg_type(), b"F");
        assert!(gateway::fix::dict::validate(&m).is_ok());
    }
}
