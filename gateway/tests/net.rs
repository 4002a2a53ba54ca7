//! The gateway threads over real TCP: logon and echo, outbound from another
//! thread, hand-off between threads, a flooding session logged out while another
//! keeps trading, a slow consumer disconnected, garbage on the wire.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway::fix::codec::{Encoder, Frame, Message, Parser, format_utc_timestamp, frame};
use gateway::fix::config::{RateLimit, SessionConfig, ThrottleAction};
use gateway::fix::net::{Gateway, GatewayConfig, Outbound};
use gateway::fix::session::{Application, Delivery, Reply, SessionId};

/// Echoes D, records session-down events.
#[derive(Clone, Default)]
struct App {
    downs: Arc<Mutex<Vec<(SessionId, bool, String)>>>,
}

impl Application for App {
    fn on_message(&mut self, _: SessionId, m: &Message<'_>, reply: &mut Reply<'_>) -> Delivery {
        let mut body = b"11=".to_vec();
        body.extend_from_slice(m.get(11).unwrap_or(b"?"));
        body.push(1);
        reply.send(b"D", &body);
        Delivery::Accepted
    }
    fn on_session_down(&mut self, s: SessionId, cfg: &SessionConfig, reason: &str) {
        self.downs
            .lock()
            .unwrap()
            .push((s, cfg.cancel_on_disconnect, reason.to_string()));
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

struct Client {
    s: TcpStream,
    buf: Vec<u8>,
    seq: u64,
    me: String,
}

impl Client {
    fn connect(addr: SocketAddr, me: &str) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            s,
            buf: Vec::new(),
            seq: 1,
            me: me.into(),
        }
    }
    fn build(&mut self, t: &str, fields: &[(u32, &str)]) -> Vec<u8> {
        let mut ts = [0u8; 21];
        format_utc_timestamp(now_ns(), &mut ts);
        let mut e = Encoder::new(b"FIX.4.4");
        e.start(t.as_bytes())
            .field_u64(34, self.seq)
            .field(49, self.me.as_bytes())
            .field(56, b"ISLD")
            .field(52, &ts);
        for (tag, v) in fields {
            e.field(*tag, v.as_bytes());
        }
        if t == "D" {
            // The rest of a valid NewOrderSingle.
            e.field(55, b"ABC")
                .field(54, b"1")
                .field(60, b"20231114-22:13:20")
                .field(38, b"100")
                .field(40, b"1");
        }
        self.seq += 1;
        e.finish().to_vec()
    }
    fn send(&mut self, t: &str, fields: &[(u32, &str)]) {
        let b = self.build(t, fields);
        self.s.write_all(&b).unwrap();
    }
    /// Next message as (type, fields), or None on timeout / close.
    fn recv(&mut self, timeout: Duration) -> Option<Vec<(u32, String)>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Frame::Complete { len } = frame(&self.buf, 1 << 20) {
                let mut p = Parser::new();
                let m = p.parse(&self.buf[..len]).unwrap();
                let v = m
                    .fields()
                    .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                    .collect();
                self.buf.drain(..len);
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut tmp = [0u8; 4096];
            match self.s.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }
    fn expect(&mut self, t: &str) -> Vec<(u32, String)> {
        let m = self
            .recv(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("expected {t}, got nothing"));
        assert_eq!(get(&m, 35), Some(t), "{m:?}");
        m
    }
    /// True once the server has closed the connection.
    fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut tmp = [0u8; 65536];
        while Instant::now() < deadline {
            match self.s.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
    fn logon(addr: SocketAddr, me: &str) -> Self {
        let mut c = Client::connect(addr, me);
        c.send("A", &[(98, "0"), (108, "1")]);
        c.expect("A");
        c
    }
}

fn get(m: &[(u32, String)], tag: u32) -> Option<&str> {
    m.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
}

fn start(sessions: Vec<SessionConfig>, threads: usize, app: App) -> Gateway {
    let mut cfg = GatewayConfig::new("127.0.0.1:0".parse().unwrap(), sessions);
    cfg.threads = threads;
    Gateway::start(cfg, move |_| app.clone()).unwrap()
}

#[test]
fn logon_echo_outbound_and_logout_over_tcp() {
    let app = App::default();
    let gw = start(vec![SessionConfig::new("ISLD", "TW")], 1, app.clone());
    let mut c = Client::logon(gw.local_addr(), "TW");
    c.send("D", &[(11, "abc")]);
    let m = c.expect("D");
    assert_eq!(get(&m, 11), Some("abc"));
    // Outbound from another thread.
    let h = gw.handle();
    let id = h.session_id("TW", "ISLD").unwrap();
    std::thread::spawn(move || {
        h.send(Outbound {
            session: id,
            msg_type: b"8",
            body: b"37=X1\x01".to_vec(),
        })
        .unwrap();
    })
    .join()
    .unwrap();
    let m = c.expect("8");
    assert_eq!(get(&m, 37), Some("X1"));
    // Heartbeats arrive with HeartBtInt=1 while we stay silent, then a TestRequest.
    c.expect("0");
    c.send("5", &[]);
    c.expect("5");
    assert!(c.closed_within(Duration::from_secs(2)));
    gw.stop();
    assert_eq!(app.downs.lock().unwrap()[0].2, "logout");
}

#[test]
fn sessions_owned_by_another_thread_are_handed_off() {
    let app = App::default();
    let gw = start(
        vec![
            SessionConfig::new("ISLD", "A0"),
            SessionConfig::new("ISLD", "A1"),
            SessionConfig::new("ISLD", "A2"),
        ],
        2,
        app,
    );
    let mut clients: Vec<Client> = ["A0", "A1", "A2"]
        .iter()
        .map(|n| Client::logon(gw.local_addr(), n))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let id = format!("o{i}");
        c.send("D", &[(11, &id)]);
        let m = c.expect("D");
        assert_eq!(get(&m, 11), Some(id.as_str()));
    }
    gw.stop();
}

#[test]
fn flooding_session_is_logged_out_while_another_keeps_trading() {
    let mut flooder = SessionConfig::new("ISLD", "FLOOD");
    flooder.rate_limit = Some(RateLimit {
        max_messages: 50,
        window_ms: 1000,
        action: ThrottleAction::Logout,
    });
    flooder.cancel_on_disconnect = true;
    let app = App::default();
    let gw = start(
        vec![flooder, SessionConfig::new("ISLD", "CALM")],
        1,
        app.clone(),
    );
    let mut calm = Client::logon(gw.local_addr(), "CALM");
    let mut f = Client::logon(gw.local_addr(), "FLOOD");
    let mut burst = Vec::new();
    for i in 0..500 {
        let id = format!("f{i}");
        burst.extend(f.build("D", &[(11, &id)]));
    }
    // Random garbage mixed in: ignored, never fatal.
    burst.extend_from_slice(b"8=FIX.4.4\x019=5\x01garbage\x01\x01\x01==");
    let _ = f.s.write_all(&burst);
    calm.send("D", &[(11, "calm-1")]);
    assert_eq!(get(&calm.expect("D"), 11), Some("calm-1"));
    let mut saw_logout = None;
    while let Some(m) = f.recv(Duration::from_secs(3)) {
        if get(&m, 35) == Some("5") {
            saw_logout = get(&m, 58).map(str::to_string);
            break;
        }
    }
    assert_eq!(saw_logout.as_deref(), Some("Throttle limit exceeded"));
    assert!(f.closed_within(Duration::from_secs(3)));
    calm.send("D", &[(11, "calm-2")]);
    assert_eq!(get(&calm.expect("D"), 11), Some("calm-2"));
    gw.stop();
    let downs = app.downs.lock().unwrap();
    assert!(
        downs
            .iter()
            .any(|d| d.0 == 0 && d.1 && d.2 == "throttle limit exceeded")
    );
}

#[test]
fn slow_consumer_is_disconnected() {
    let app = App::default();
    let mut cfg = GatewayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![SessionConfig::new("ISLD", "SLOW")],
    );
    cfg.settings.max_outbound_buffer = 64 * 1024;
    let a2 = app.clone();
    let gw = Gateway::start(cfg, move |_| a2.clone()).unwrap();
    let c = Client::logon(gw.local_addr(), "SLOW");
    let h = gw.handle();
    let body = format!("58={}\x01", "x".repeat(1000)).into_bytes();
    // Never read: kernel buffers fill, then our bounded buffer, then disconnect.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.downs.lock().unwrap().is_empty() && Instant::now() < deadline {
        for _ in 0..200 {
            let _ = h.send(Outbound {
                session: 0,
                msg_type: b"8",
                body: body.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        app.downs.lock().unwrap().first().map(|d| d.2.clone()),
        Some("slow consumer: outbound buffer full".to_string())
    );
    drop(c);
    gw.stop();
}

#[test]
fn garbage_before_logon_and_unknown_session_are_refused() {
    let gw = start(vec![SessionConfig::new("ISLD", "TW")], 1, App::default());
    let mut c = Client::connect(gw.local_addr(), "NOPE");
    c.s.write_all(b"\x00\x01garbage 8=FIX.4.4\x019=abc\x01")
        .unwrap();
    c.send("A", &[(98, "0"), (108, "1")]);
    let m = c.expect("5");
    assert!(get(&m, 58).unwrap().starts_with("Unknown session"));
    assert!(c.closed_within(Duration::from_secs(2)));
    gw.stop();
}
