//! End-to-end runs of the FIX load generator against an in-process FIX 4.4
//! acceptor stub (built on the shared codec): a trading-node stand-in that
//! answers every request with ExecutionReports (fills for marketable orders),
//! and an echo acceptor like `ringex fix-echo`. Counts are asserted, never
//! timings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gateway::fix::codec::{Encoder, Frame, Message, Parser, frame};
use perf::fixload::{Expect, LoadConfig, LoadError, SessionSpec, run};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    ExecReport,
    Echo,
}

/// A logon as the stub saw it: SenderCompID, Username, Password, ResetSeqNumFlag.
type Logon = (String, Option<String>, Option<String>, bool);

/// What the stub saw.
#[derive(Default)]
struct Seen {
    logons: Mutex<Vec<Logon>>,
    orders: AtomicU64,
    cancels: AtomicU64,
    replaces: AtomicU64,
    test_request_answers: AtomicU64,
    logouts: AtomicU64,
}

fn stub(mode: Mode, password: Option<&'static str>) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let s = Arc::clone(&s);
            thread::spawn(move || serve(conn, mode, password, &s));
        }
    });
    (addr, seen)
}

struct Out {
    enc: Encoder,
    seq: u64,
    them: Vec<u8>,
}

impl Out {
    fn send(&mut self, w: &mut TcpStream, t: &[u8], body: &[(u32, &[u8])]) {
        let e = self.enc.start(t);
        e.field_u64(34, self.seq)
            .field(49, b"ACC")
            .field(56, &self.them)
            .field_timestamp(52, 1_700_000_000_000_000_000);
        for (tag, v) in body {
            e.field(*tag, v);
        }
        self.seq += 1;
        let _ = w.write_all(e.finish());
    }
}

fn serve(mut conn: TcpStream, mode: Mode, password: Option<&str>, seen: &Seen) {
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    let mut parser = Parser::new();
    let mut out = Out {
        enc: Encoder::new(b"FIX.4.4"),
        seq: 1,
        them: Vec::new(),
    };
    let mut order_id = 0u64;
    let mut sent_test_request = false;
    loop {
        let n = match conn.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut pos = 0;
        while let Frame::Complete { len: l } = frame(&buf[pos..len], 1 << 14) {
            let msg_bytes = buf[pos..pos + l].to_vec();
            pos += l;
            let m = parser.parse(&msg_bytes).unwrap();
            if handle(&m, &mut conn, &mut out, mode, password, seen, &mut order_id) {
                return;
            }
            // Once orders flow, probe the initiator with one TestRequest.
            if !sent_test_request && seen.orders.load(Ordering::Relaxed) > 10 {
                sent_test_request = true;
                out.send(&mut conn, b"1", &[(112, b"PROBE")]);
            }
        }
        buf.copy_within(pos..len, 0);
        len -= pos;
    }
}

fn handle(
    m: &Message<'_>,
    w: &mut TcpStream,
    out: &mut Out,
    mode: Mode,
    password: Option<&str>,
    seen: &Seen,
    order_id: &mut u64,
) -> bool {
    let get = |t: u32| m.get(t).map(|v| String::from_utf8_lossy(v).into_owned());
    let bytes = |t: u32| m.get(t).unwrap_or(b"").to_vec();
    match m.msg_type() {
        b"A" => {
            out.them = bytes(49);
            let reset = get(141).as_deref() == Some("Y");
            seen.logons.lock().unwrap().push((
                get(49).unwrap_or_default(),
                get(553),
                get(554),
                reset,
            ));
            if password.is_some() && get(554).as_deref() != password {
                out.send(w, b"5", &[(58, b"bad password")]);
                return true;
            }
            out.send(w, b"A", &[(98, b"0"), (108, &bytes(108)), (141, b"Y")]);
        }
        b"0" if get(112).as_deref() == Some("PROBE") => {
            seen.test_request_answers.fetch_add(1, Ordering::Relaxed);
        }
        b"5" => {
            seen.logouts.fetch_add(1, Ordering::Relaxed);
            out.send(w, b"5", &[]);
            return true;
        }
        b"D" => {
            seen.orders.fetch_add(1, Ordering::Relaxed);
            let cl = bytes(11);
            if mode == Mode::Echo {
                out.send(w, b"D", &[(11, &cl), (55, &bytes(55)), (54, &bytes(54))]);
                return false;
            }
            *order_id += 1;
            let oid = order_id.to_string();
            let qty = bytes(38);
            out.send(
                w,
                b"8",
                &[
                    (37, oid.as_bytes()),
                    (11, &cl),
                    (17, b"e"),
                    (150, b"0"),
                    (39, b"0"),
                ],
            );
            if get(59).as_deref() == Some("3") {
                // Marketable IOC: filled in full.
                out.send(
                    w,
                    b"8",
                    &[
                        (37, oid.as_bytes()),
                        (11, &cl),
                        (17, b"f"),
                        (150, b"F"),
                        (39, b"2"),
                        (32, &qty),
                    ],
                );
            }
        }
        b"F" => {
            seen.cancels.fetch_add(1, Ordering::Relaxed);
            out.send(
                w,
                b"8",
                &[(11, &bytes(11)), (41, &bytes(41)), (150, b"4"), (39, b"4")],
            );
        }
        b"G" => {
            seen.replaces.fetch_add(1, Ordering::Relaxed);
            out.send(
                w,
                b"8",
                &[(11, &bytes(11)), (41, &bytes(41)), (150, b"5"), (39, b"0")],
            );
        }
        _ => {}
    }
    false
}

fn config(addr: SocketAddr, expect: Expect, sessions: &[&str]) -> LoadConfig {
    LoadConfig {
        addr,
        target_comp_id: "ACC".into(),
        sessions: sessions
            .iter()
            .map(|s| SessionSpec::parse(s).unwrap())
            .collect(),
        rate: 500,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(500),
        expect,
        floor_duration: Duration::from_millis(1000),
        response_timeout: Duration::from_secs(10),
        ..LoadConfig::default()
    }
}

#[test]
fn full_mix_against_a_trading_stub_answers_every_request() {
    let (addr, seen) = stub(Mode::ExecReport, Some("pw"));
    let cfg = config(addr, Expect::ExecReport, &["MM1:pw", "MM2:pw"]);
    let mut ticks = 0;
    let report = run(&cfg, &mut |_| ticks += 1).unwrap();
    let fix = &report.fix;
    // 500/s for 2 s in total over two sessions: exactly the schedule.
    assert_eq!(fix.sent, 1000, "{:?}", fix.problems);
    assert_eq!(fix.acks + fix.rejects, fix.sent, "{:?}", fix.problems);
    assert_eq!(fix.rejects, 0);
    assert_eq!(fix.errors, 0, "{:?}", fix.problems);
    assert_eq!(fix.timeouts, 0);
    assert!(fix.problems.is_empty(), "{:?}", fix.problems);
    assert_eq!(fix.sent_measured, 750);
    assert_eq!(fix.hist.len(), fix.sent_measured);
    assert!(fix.fills > 0, "marketable orders must fill");
    let d = seen.orders.load(Ordering::Relaxed);
    let f = seen.cancels.load(Ordering::Relaxed);
    let g = seen.replaces.load(Ordering::Relaxed);
    assert_eq!(d + f + g, fix.sent);
    assert!(f > 0 && g > 0, "cancels {f}, replaces {g}");
    let logons = seen.logons.lock().unwrap().clone();
    assert_eq!(logons.len(), 2);
    for (who, user, pw, reset) in &logons {
        assert!(who == "MM1" || who == "MM2");
        assert_eq!(user.as_deref(), Some(who.as_str()));
        assert_eq!(pw.as_deref(), Some("pw"));
        assert!(reset);
    }
    assert_eq!(seen.test_request_answers.load(Ordering::Relaxed), 2);
    assert_eq!(seen.logouts.load(Ordering::Relaxed), 2);
    // The floor ran at the same rate with the same message size.
    let floor = report.floor.as_ref().unwrap();
    assert_eq!(floor.impl_name, "tcp-echo");
    assert_eq!(floor.sent, 750);
    assert_eq!(floor.acks, floor.sent);
    assert_eq!(floor.hist.len(), 500);
    assert!(report.message_size > 100);
    assert!(report.ratio(0.5).is_some());
    let results = report.results();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].bench, "fix-load");
    assert_eq!(results[0].impl_name, "ringex");
    assert!(results[0].p50_ns.is_some());
    assert!(ticks > 0, "progress was reported");
    let kinds: Vec<&str> = fix.by_kind.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["new", "marketable", "cancel", "replace"]);
    let per_kind: u64 = fix.by_kind.iter().map(|(_, h)| h.len()).sum();
    assert_eq!(per_kind, fix.hist.len());
}

#[test]
fn echo_mode_sends_only_orders_and_matches_the_echo() {
    let (addr, seen) = stub(Mode::Echo, None);
    let mut cfg = config(addr, Expect::Echo, &["TW", "TW44"]);
    cfg.floor = false;
    let report = run(&cfg, &mut |_| {}).unwrap();
    let fix = &report.fix;
    assert_eq!(fix.impl_name, "ringex-fix-echo");
    assert_eq!(fix.sent, 1000);
    assert_eq!(fix.acks, fix.sent, "{:?}", fix.problems);
    assert_eq!(fix.timeouts + fix.errors + fix.rejects, 0);
    assert_eq!(seen.orders.load(Ordering::Relaxed), 1000);
    assert_eq!(seen.cancels.load(Ordering::Relaxed), 0);
    assert_eq!(fix.hist.len(), 750);
    assert!(report.floor.is_none());
    let logons = seen.logons.lock().unwrap().clone();
    assert!(logons.iter().all(|(_, u, p, _)| u.is_none() && p.is_none()));
}

#[test]
fn refused_logon_is_an_error_naming_the_session() {
    let (addr, _seen) = stub(Mode::ExecReport, Some("right"));
    let cfg = config(addr, Expect::ExecReport, &["MM1:wrong"]);
    match run(&cfg, &mut |_| {}) {
        Err(LoadError::Session { session, reason }) => {
            assert_eq!(session, "MM1");
            assert!(reason.contains("bad password"), "{reason}");
        }
        other => panic!("expected a logon error, got {other:?}"),
    }
}

#[test]
fn nothing_listening_is_a_connect_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = config(port, Expect::ExecReport, &["MM1:pw"]);
    assert!(matches!(
        run(&cfg, &mut |_| {}),
        Err(LoadError::Connect { .. })
    ));
}
