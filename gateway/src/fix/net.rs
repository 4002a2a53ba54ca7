//! Gateway socket threads: non-blocking TCP (mio), many sessions per thread.
//!
//! [`Gateway::start`] binds the listener and starts `threads` gateway threads.
//! Thread 0 accepts connections; a connection whose Logon names a session owned by
//! another thread is moved there with the bytes already read (sessions are owned
//! by thread `id % threads`, so each session's state is touched by one thread only
//! and nothing is locked per message).
//!
//! - Inbound: every application message received in sequence goes to the thread's
//!   [`Application`] (built by the factory passed to `start`), which answers
//!   [`super::session::Delivery`]: the node publishes to the inbound ring there and answers
//!   `BusinessReject { reason: 4, .. }` when the ring is full.
//! - Outbound: [`GatewayHandle::send`] (any thread) puts the message on the owning
//!   thread's bounded channel and wakes it (one wake-up per burst, not per message).
//!   The node uses [`GatewayHandle::send_event`] instead: the engine event itself
//!   (a fixed-size [`EventBytes`] record) travels through the channel, whose slots
//!   are allocated once at start, and the owning thread renders it into its
//!   reused encoder buffer ([`EventRenderer`]): no allocation per message.
//! - Delivery marks: [`GatewayHandle::delivered_through`] tells every thread that
//!   all events up to a sequence were handed over, so idle sessions' stores keep
//!   an up-to-date mark; [`GatewayConfig::held_events`] are the events a restarted
//!   node still owed, sent to each session right after its next logon.
//! - Each connection's unwritten output is bounded by
//!   [`Settings::max_outbound_buffer`]: a client that reads too slowly is
//!   disconnected (and the application hears `on_session_down`, the
//!   cancel-on-disconnect hook), so it never blocks the engine or other sessions.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::app::Instruments;
use super::config::{SessionConfig, Settings};
use super::events::{EventBytes, EventRenderer};
use super::session::{Acceptor, Application, ConnId, Directory, Disposition, SessionId};
use super::store::{FileStore, MemStore, MessageStore};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Timers (heartbeats, timeouts) run at least this often.
const TICK: Duration = Duration::from_millis(50);
/// Size of the read buffer.
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes read from one connection per poll round, so one flooding client
/// cannot starve the other sessions of its thread; the rest is read next round.
const READ_BUDGET: usize = 256 * 1024;

/// How to run the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address to listen on (port 0 picks a free port: see [`Gateway::local_addr`]).
    pub listen: SocketAddr,
    /// Number of gateway threads (at least 1).
    pub threads: usize,
    /// Session-layer settings.
    pub settings: Settings,
    /// Counterparties allowed to log on.
    pub sessions: Vec<SessionConfig>,
    /// Where session stores live (`<dir>/<our>-<their>/`); `None`: in memory.
    pub data_dir: Option<PathBuf>,
    /// Capacity of each thread's outbound channel (messages).
    pub outbound_capacity: usize,
    /// Reference data for rendering engine events ([`GatewayHandle::send_event`]);
    /// `None`: events are refused (the gateway then only sends bodies).
    pub instruments: Option<Arc<Instruments>>,
    /// Engine events a restarted node owed its sessions (session, event), in
    /// order: each session gets its own right after its next logon, before any
    /// new traffic ([`Acceptor::hold`]).
    pub held_events: Vec<(SessionId, EventBytes)>,
    /// Every engine event up to this sequence was handed over before this start
    /// (or is in `held_events`): raises the delivery mark of every session with
    /// nothing held.
    pub delivered_through: Option<u64>,
}

impl GatewayConfig {
    /// Defaults: one thread, in-memory stores, 64 Ki outbound slots per thread.
    pub fn new(listen: SocketAddr, sessions: Vec<SessionConfig>) -> Self {
        Self {
            listen,
            threads: 1,
            settings: Settings::default(),
            sessions,
            data_dir: None,
            outbound_capacity: 65_536,
            instruments: None,
            held_events: Vec::new(),
            delivered_through: None,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug)]
pub enum StartError {
    /// Bad configuration (duplicate sessions, ...).
    Config(String),
    /// Socket or poll setup failed.
    Io(io::Error),
    /// A session store could not be opened.
    Store(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "gateway config: {e}"),
            StartError::Io(e) => write!(f, "gateway socket: {e}"),
            StartError::Store(e) => write!(f, "gateway store: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// One outbound application message for a session.
#[derive(Debug)]
pub struct Outbound {
    /// Target session.
    pub session: SessionId,
    /// MsgType(35), e.g. `b"8"` for an ExecutionReport.
    pub msg_type: &'static [u8],
    /// Body fields after the standard header, `tag=value\x01` each.
    pub body: Vec<u8>,
}

enum Command {
    Send(Outbound),
    Event(SessionId, EventBytes),
    Through(u64),
    Logout(SessionId, String),
    Handoff(TcpStream, Vec<u8>),
}

/// Why [`GatewayHandle::send`] did not take a message.
#[derive(Debug)]
pub enum SendError {
    /// No such session.
    UnknownSession(SessionId),
    /// The owning thread's channel is full (the message is given back).
    Full(Outbound),
    /// The owning thread's channel is full (the caller keeps its event).
    Busy,
    /// The gateway has stopped.
    Stopped,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::UnknownSession(s) => write!(f, "unknown FIX session {s}"),
            SendError::Full(o) => write!(f, "outbound channel of session {} full", o.session),
            SendError::Busy => write!(f, "outbound channel full"),
            SendError::Stopped => write!(f, "FIX gateway stopped"),
        }
    }
}

impl std::error::Error for SendError {}

struct ThreadLink {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    /// Set by senders when they wake the thread, cleared by the thread before it
    /// drains: at most one wake-up syscall per burst.
    woken: Arc<AtomicBool>,
}

/// Cloneable handle for other threads (the node's outbound side).
#[derive(Clone)]
pub struct GatewayHandle {
    links: Arc<Vec<ThreadLink>>,
    directory: Arc<Directory>,
    stop: Arc<AtomicBool>,
}

impl GatewayHandle {
    // The error hands the command back by value on purpose: boxing it would
    // allocate on the path this channel exists to keep allocation-free.
    #[allow(clippy::result_large_err)]
    fn push(&self, thread: usize, cmd: Command) -> Result<(), TrySendError<Command>> {
        let link = &self.links[thread];
        link.tx.try_send(cmd)?;
        if !link.woken.swap(true, Ordering::AcqRel) {
            // A failed wake only delays delivery to the next tick.
            let _ = link.waker.wake();
        }
        Ok(())
    }

    /// Send an application message to `msg.session` (never blocks; a full channel
    /// gives the message back so the caller can retry or apply back-pressure).
    pub fn send(&self, msg: Outbound) -> Result<(), SendError> {
        if self.stop.load(Ordering::Acquire) {
            return Err(SendError::Stopped);
        }
        if msg.session >= self.directory.len() {
            return Err(SendError::UnknownSession(msg.session));
        }
        let thread = self.directory.owner(msg.session);
        self.push(thread, Command::Send(msg)).map_err(|e| match e {
            TrySendError::Full(Command::Send(m)) => SendError::Full(m),
            _ => SendError::Stopped,
        })
    }

    /// Send the engine event `event` (an encoded `engine::msg` event addressed to
    /// gateway session `session`): rendered on the owning thread (see
    /// [`EventRenderer`]). Never blocks and never allocates; a full channel
    /// answers [`SendError::Busy`].
    pub fn send_event(&self, session: SessionId, event: &EventBytes) -> Result<(), SendError> {
        if self.stop.load(Ordering::Acquire) {
            return Err(SendError::Stopped);
        }
        if session >= self.directory.len() {
            return Err(SendError::UnknownSession(session));
        }
        let thread = self.directory.owner(session);
        self.push(thread, Command::Event(session, *event))
            .map_err(|e| match e {
                TrySendError::Full(_) => SendError::Busy,
                TrySendError::Disconnected(_) => SendError::Stopped,
            })
    }

    /// Every engine event up to `event_seq` has been handed over (in order, on
    /// the same channels): each thread raises the delivery mark of its sessions
    /// that hold nothing. Returns false if some thread's channel was full (a
    /// later call covers it).
    pub fn delivered_through(&self, event_seq: u64) -> bool {
        let mut all = true;
        for t in 0..self.links.len() {
            all &= self.push(t, Command::Through(event_seq)).is_ok();
        }
        all
    }

    /// Log session `id` out with `text` (operator action).
    pub fn logout(&self, id: SessionId, text: &str) -> Result<(), SendError> {
        if id >= self.directory.len() {
            return Err(SendError::UnknownSession(id));
        }
        self.push(
            self.directory.owner(id),
            Command::Logout(id, text.to_string()),
        )
        .map_err(|_| SendError::Stopped)
    }

    /// The session configured for (their CompID, our CompID).
    pub fn session_id(&self, their: &str, ours: &str) -> Option<SessionId> {
        self.directory.lookup(their.as_bytes(), ours.as_bytes())
    }

    /// Every configured session.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }
}

/// The running gateway: its threads and the handle to talk to them.
pub struct Gateway {
    handle: GatewayHandle,
    threads: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Gateway {
    /// Bind, open the stores and start the threads. `app` builds each thread's
    /// [`Application`] (called on that thread with its index).
    pub fn start<A, F>(cfg: GatewayConfig, app: F) -> Result<Self, StartError>
    where
        A: Application + 'static,
        F: Fn(usize) -> A + Send + Sync + 'static,
    {
        let threads = cfg.threads.max(1);
        let directory =
            Arc::new(Directory::new(cfg.sessions.clone(), threads).map_err(StartError::Config)?);
        let listener = TcpListener::bind(cfg.listen).map_err(StartError::Io)?;
        let local_addr = listener.local_addr().map_err(StartError::Io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let app = Arc::new(app);

        let mut polls = Vec::new();
        let mut links = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..threads {
            let poll = Poll::new().map_err(StartError::Io)?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(StartError::Io)?);
            let (tx, rx) = bounded(cfg.outbound_capacity.max(1));
            links.push(ThreadLink {
                tx,
                waker,
                woken: Arc::new(AtomicBool::new(false)),
            });
            polls.push(poll);
            rxs.push(rx);
        }
        // Open every store up front so a bad data directory fails the start.
        let mut stores: Vec<Vec<(SessionId, Box<dyn MessageStore>)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for id in 0..directory.len() {
            let Some(s) = directory.config(id) else {
                continue;
            };
            let store: Box<dyn MessageStore> = match &cfg.data_dir {
                Some(dir) => Box::new(
                    FileStore::open(&dir.join(s.store_name()))
                        .map_err(|e| StartError::Store(e.to_string()))?,
                ),
                None => Box::new(MemStore::new()),
            };
            stores[directory.owner(id)].push((id, store));
        }
        let handle = GatewayHandle {
            links: Arc::new(links),
            directory: directory.clone(),
            stop: stop.clone(),
        };
        let mut listener = Some(listener);
        let mut joins = Vec::new();
        let held = Arc::new(cfg.held_events);
        for (t, ((poll, rx), st)) in polls.into_iter().zip(rxs).zip(stores).enumerate() {
            let listener = if t == 0 { listener.take() } else { None };
            let worker = Worker {
                thread: t,
                poll,
                rx,
                listener,
                handle: handle.clone(),
                conns: Vec::new(),
                again: Vec::new(),
                renderer: cfg.instruments.clone().map(EventRenderer::new),
            };
            let held = held.clone();
            let through = cfg.delivered_through;
            let settings = cfg.settings.clone();
            let directory = directory.clone();
            let app = app.clone();
            let j = std::thread::Builder::new()
                .name(format!("fix-gw-{t}"))
                .spawn(move || {
                    let mut st: Vec<Option<Box<dyn MessageStore>>> = {
                        let mut v: Vec<Option<Box<dyn MessageStore>>> =
                            (0..directory.len()).map(|_| None).collect();
                        for (id, s) in st {
                            v[id] = Some(s);
                        }
                        v
                    };
                    let mut mk = |c: &SessionConfig| -> Result<Box<dyn MessageStore>, String> {
                        let id = directory
                            .lookup(c.their_comp_id.as_bytes(), c.our_comp_id.as_bytes())
                            .ok_or("session vanished")?;
                        st.get_mut(id)
                            .and_then(Option::take)
                            .ok_or_else(|| "store missing".to_string())
                    };
                    match Acceptor::new(settings, directory.clone(), t, &mut mk, app(t)) {
                        Ok(mut acceptor) => {
                            let mut worker = worker;
                            worker.start_held(&mut acceptor, &held, through);
                            drop(held);
                            worker.run(acceptor)
                        }
                        Err(e) => eprintln!("fix gateway thread {t}: {e}"),
                    }
                })
                .map_err(StartError::Io)?;
            joins.push(j);
        }
        Ok(Self {
            handle,
            threads: joins,
            local_addr,
        })
    }

    /// Where the gateway listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle for other threads.
    pub fn handle(&self) -> GatewayHandle {
        self.handle.clone()
    }

    /// Stop the threads (connections are closed, stores flushed) and wait.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        self.handle.stop.store(true, Ordering::Release);
        for l in self.handle.links.iter() {
            let _ = l.waker.wake();
        }
        for j in self.threads.drain(..) {
            let _ = j.join();
        }
    }

    /// Block until the threads end (they end only when stopped).
    pub fn wait(mut self) {
        for j in self.threads.drain(..) {
            let _ = j.join();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

struct NetConn {
    stream: TcpStream,
    rx: Vec<u8>,
    want_write: bool,
}

struct Worker {
    thread: usize,
    poll: Poll,
    rx: Receiver<Command>,
    listener: Option<TcpListener>,
    handle: GatewayHandle,
    conns: Vec<Option<NetConn>>,
    /// Connections that used up their read budget and may have more to read
    /// (mio is edge-triggered: no new event comes for bytes already waiting).
    again: Vec<ConnId>,
    /// Renders engine events (when the gateway has reference data).
    renderer: Option<EventRenderer>,
}

impl Worker {
    /// Before the first poll: hold the owed events of this thread's sessions for
    /// their next logon, then raise the other sessions' delivery marks.
    fn start_held<A: Application>(
        &mut self,
        acc: &mut Acceptor<A>,
        held: &[(SessionId, EventBytes)],
        through: Option<u64>,
    ) {
        let now = now_ns();
        let mine = |s: SessionId| self.handle.directory.owner(s) == self.thread;
        if let Some(r) = self.renderer.as_mut() {
            for (s, ev) in held.iter().filter(|(s, _)| mine(*s)) {
                match r.render(*s, ev) {
                    Ok(m) => acc.hold(*s, m.msg_type, m.body.to_vec(), m.event_seq, now),
                    Err(e) => eprintln!("fix gateway: owed event for session {s} dropped: {e}"),
                }
            }
        } else if !held.is_empty() {
            eprintln!("fix gateway: owed events dropped: no reference data to render them");
        }
        if let Some(t) = through {
            acc.delivered_through(t);
        }
    }

    /// One engine event for `session`: rendered and sent (or held).
    fn event<A: Application>(
        &mut self,
        acc: &mut Acceptor<A>,
        session: SessionId,
        ev: &EventBytes,
        now: u64,
    ) {
        let Some(r) = self.renderer.as_mut() else {
            eprintln!("fix gateway: engine event dropped: no reference data to render it");
            return;
        };
        match r.render(session, ev) {
            Ok(m) => {
                if let Err(e) = acc.send_event(session, m.msg_type, m.body, m.event_seq, now) {
                    eprintln!("fix gateway: {e}");
                }
            }
            Err(e) => eprintln!("fix gateway: engine event for session {session} dropped: {e}"),
        }
    }

    fn run<A: Application>(mut self, mut acc: Acceptor<A>) {
        if let Some(l) = self.listener.as_mut()
            && let Err(e) = self
                .poll
                .registry()
                .register(l, LISTENER, Interest::READABLE)
        {
            eprintln!("fix gateway: cannot poll the listener: {e}");
            return;
        }
        let mut events = Events::with_capacity(1024);
        let mut last_tick = 0u64;
        let mut buf = vec![0u8; READ_CHUNK];
        while !self.handle.stop.load(Ordering::Acquire) {
            let timeout = if self.again.is_empty() {
                TICK
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                eprintln!("fix gateway thread {}: poll failed: {e}", self.thread);
                break;
            }
            let now = now_ns();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(&mut acc, now),
                    WAKER => {}
                    Token(c) => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read(&mut acc, c, &mut buf, now);
                        }
                    }
                }
            }
            self.handle.links[self.thread]
                .woken
                .store(false, Ordering::Release);
            while let Ok(cmd) = self.rx.try_recv() {
                match cmd {
                    Command::Send(m) => {
                        // An unknown session here means a routing bug: drop loudly.
                        if let Err(e) = acc.send(m.session, m.msg_type, &m.body, now) {
                            eprintln!("fix gateway: {e}");
                        }
                    }
                    Command::Event(session, ev) => self.event(&mut acc, session, &ev, now),
                    Command::Through(seq) => acc.delivered_through(seq),
                    Command::Logout(id, text) => acc.logout(id, &text, now),
                    Command::Handoff(stream, pending) => self.adopt(&mut acc, stream, pending, now),
                }
            }
            if now.saturating_sub(last_tick) >= TICK.as_nanos() as u64 {
                acc.on_timer(now);
                last_tick = now;
            }
            // Sequence numbers the session layer moved go into the journal
            // before the messages that moved them reach the wire.
            acc.report_seq_changes();
            // Stores first: a message on the wire is always in its store (and
            // its delivery mark), so a restart never sends a report twice nor
            // reuses a sequence number the counterparty has seen.
            if let Err(e) = acc.flush_stores() {
                eprintln!("fix gateway: store flush failed: {e}");
            }
            self.flush_all(&mut acc, now);
        }
        for c in 0..self.conns.len() {
            if self.conns[c].is_some() {
                self.close(&mut acc, c, now_ns());
            }
        }
        let _ = acc.flush_stores();
    }

    fn accept<A: Application>(&mut self, acc: &mut Acceptor<A>, now: u64) {
        loop {
            let Some(l) = self.listener.as_ref() else {
                return;
            };
            match l.accept() {
                Ok((stream, _)) => self.adopt(acc, stream, Vec::new(), now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("fix gateway: accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn adopt<A: Application>(
        &mut self,
        acc: &mut Acceptor<A>,
        mut stream: TcpStream,
        pending: Vec<u8>,
        now: u64,
    ) {
        let _ = stream.set_nodelay(true);
        let c = acc.open(now);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(c), Interest::READABLE)
        {
            eprintln!("fix gateway: cannot poll a connection: {e}");
            acc.on_disconnect(c, now);
            return;
        }
        if self.conns.len() <= c {
            self.conns.resize_with(c + 1, || None);
        }
        self.conns[c] = Some(NetConn {
            stream,
            rx: pending,
            want_write: false,
        });
        self.consume(acc, c, now);
        // Bytes may have arrived before registration on the new poll.
        let mut buf = vec![0u8; 4096];
        self.read(acc, c, &mut buf, now);
    }

    /// Hand buffered input to the session layer.
    fn consume<A: Application>(&mut self, acc: &mut Acceptor<A>, c: ConnId, now: u64) {
        let Some(nc) = self.conns.get_mut(c).and_then(Option::as_mut) else {
            return;
        };
        if nc.rx.is_empty() {
            return;
        }
        let used = acc.on_bytes(c, &nc.rx, now);
        nc.rx.drain(..used);
    }

    fn read<A: Application>(&mut self, acc: &mut Acceptor<A>, c: ConnId, buf: &mut [u8], now: u64) {
        let mut total = 0;
        loop {
            if total >= READ_BUDGET {
                if !self.again.contains(&c) {
                    self.again.push(c);
                }
                return;
            }
            let Some(nc) = self.conns.get_mut(c).and_then(Option::as_mut) else {
                return;
            };
            if acc.disposition(c) != Disposition::Open {
                return;
            }
            match nc.stream.read(buf) {
                Ok(0) => {
                    self.close(acc, c, now);
                    return;
                }
                Ok(n) => {
                    nc.rx.extend_from_slice(&buf[..n]);
                    total += n;
                    self.consume(acc, c, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(acc, c, now);
                    return;
                }
            }
        }
    }

    /// Write pending output and act on close/handoff decisions.
    fn flush_all<A: Application>(&mut self, acc: &mut Acceptor<A>, now: u64) {
        for c in 0..self.conns.len() {
            if self.conns[c].is_none() {
                continue;
            }
            let disp = acc.disposition(c);
            match disp {
                Disposition::CloseNow => {
                    self.close(acc, c, now);
                    continue;
                }
                Disposition::Handoff { thread } => {
                    if let Some(mut nc) = self.conns[c].take() {
                        let _ = self.poll.registry().deregister(&mut nc.stream);
                        acc.on_disconnect(c, now);
                        let rx = std::mem::take(&mut nc.rx);
                        if self
                            .handle
                            .push(thread, Command::Handoff(nc.stream, rx))
                            .is_err()
                        {
                            eprintln!("fix gateway: hand-off to thread {thread} failed");
                        }
                    }
                    continue;
                }
                Disposition::Open | Disposition::CloseAfterFlush => {}
            }
            let mut failed = false;
            let mut pending = false;
            if let (Some(nc), Some(tx)) = (self.conns[c].as_mut(), acc.tx(c)) {
                let mut written = 0;
                while written < tx.len() {
                    match nc.stream.write(&tx[written..]) {
                        Ok(0) => {
                            failed = true;
                            break;
                        }
                        Ok(n) => written += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                tx.drain(..written);
                pending = !tx.is_empty();
                if pending != nc.want_write {
                    let interest = if pending {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    if self
                        .poll
                        .registry()
                        .reregister(&mut nc.stream, Token(c), interest)
                        .is_err()
                    {
                        failed = true;
                    }
                    nc.want_write = pending;
                }
            }
            if failed || (disp == Disposition::CloseAfterFlush && !pending) {
                self.close(acc, c, now);
            }
        }
    }

    fn close<A: Application>(&mut self, acc: &mut Acceptor<A>, c: ConnId, now: u64) {
        if let Some(mut nc) = self.conns.get_mut(c).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut nc.stream);
            let _ = nc.stream.shutdown(std::net::Shutdown::Both);
        }
        acc.on_disconnect(c, now);
    }
}
