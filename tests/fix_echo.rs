//! `ringex fix-echo` over TCP, scripted byte by byte the way the FIX acceptance
//! suites drive it: logon with reset, echo, PossResend duplicates, business
//! rejects, gap and gap fill, too-low sequence numbers, duplicate and unknown
//! identities, garbage on the wire, two sessions side by side.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway::fix::codec::{Encoder, Frame, Parser, format_utc_timestamp, frame};

struct Echo(Child, u16);

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> Echo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringex"))
        .args(["fix-echo", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ringex fix-echo");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    Echo(child, port.unwrap_or_else(|| panic!("no port in {line:?}")))
}

type Msg = Vec<(u32, String)>;

fn get(m: &Msg, tag: u32) -> Option<&str> {
    m.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
}

struct Client {
    s: TcpStream,
    buf: Vec<u8>,
    seq: u64,
    me: &'static str,
}

fn now_ts() -> [u8; 21] {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut ts = [0u8; 21];
    format_utc_timestamp(ns, &mut ts);
    ts
}

impl Client {
    fn connect(port: u16, me: &'static str) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Client {
            s,
            buf: Vec::new(),
            seq: 1,
            me,
        }
    }
    /// Encode with an explicit sequence number (does not advance `self.seq`).
    fn bytes_at(&self, seq: u64, t: &str, fields: &[(u32, &str)]) -> Vec<u8> {
        let mut e = Encoder::new(b"FIX.4.4");
        e.start(t.as_bytes())
            .field_u64(34, seq)
            .field(49, self.me.as_bytes())
            .field(56, b"ISLD")
            .field(52, &now_ts());
        for (tag, v) in fields {
            e.field(*tag, v.as_bytes());
        }
        e.finish().to_vec()
    }
    fn send_at(&mut self, seq: u64, t: &str, fields: &[(u32, &str)]) {
        let b = self.bytes_at(seq, t, fields);
        self.s.write_all(&b).unwrap();
    }
    fn send(&mut self, t: &str, fields: &[(u32, &str)]) {
        self.send_at(self.seq, t, fields);
        self.seq += 1;
    }
    fn recv(&mut self, timeout: Duration) -> Option<Msg> {
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
    fn expect(&mut self, t: &str) -> Msg {
        let m = self
            .recv(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{}: expected {t}, got nothing", self.me));
        assert_eq!(get(&m, 35), Some(t), "{}: {m:?}", self.me);
        m
    }
    fn expect_closed(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tmp = [0u8; 4096];
        while Instant::now() < deadline {
            match self.s.read(&mut tmp) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
        panic!("{}: connection not closed", self.me);
    }
    fn logon(port: u16, me: &'static str) -> Self {
        let mut c = Client::connect(port, me);
        c.send("A", &[(98, "0"), (108, "30"), (141, "Y")]);
        let m = c.expect("A");
        assert_eq!(get(&m, 108), Some("30"));
        assert_eq!(get(&m, 141), Some("Y"));
        assert_eq!(get(&m, 34), Some("1"));
        c
    }
    /// A TestRequest round trip: proves nothing else was sent before its answer.
    fn ping(&mut self, id: &str) {
        self.send("1", &[(112, id)]);
        let m = self.expect("0");
        assert_eq!(get(&m, 112), Some(id));
    }
}

fn order(id: &str) -> Vec<(u32, &str)> {
    vec![
        (11, id),
        (55, "ABC"),
        (54, "1"),
        (60, "20231114-22:13:20"),
        (38, "100"),
        (40, "2"),
        (44, "10.5"),
    ]
}

#[test]
fn echo_possresend_and_business_reject() {
    let e = start();
    let mut c = Client::logon(e.1, "TW");
    c.send("D", &order("A1"));
    let m = c.expect("D");
    assert_eq!(get(&m, 11), Some("A1"));
    assert_eq!(get(&m, 44), Some("10.5"));
    assert_eq!(get(&m, 56), Some("TW"));
    // PossResend of a seen ClOrdID: ignored.
    let mut resent = vec![(97, "Y")];
    resent.extend(order("A1"));
    c.send("D", &resent);
    c.ping("p1");
    // PossResend of a new one: echoed.
    resent[1] = (11, "A2");
    c.send("D", &resent);
    assert_eq!(get(&c.expect("D"), 11), Some("A2"));
    // SecurityDefinition echoed.
    c.send("d", &[(320, "r1"), (322, "s1"), (323, "1")]);
    assert_eq!(get(&c.expect("d"), 320), Some("r1"));
    // OrderCancelRequest: BusinessMessageReject, reason 3.
    let seq = c.seq.to_string();
    c.send(
        "F",
        &[
            (11, "C1"),
            (41, "A1"),
            (55, "ABC"),
            (54, "1"),
            (60, "20231114-22:13:20"),
        ],
    );
    let m = c.expect("j");
    assert_eq!(get(&m, 380), Some("3"));
    assert_eq!(get(&m, 372), Some("F"));
    assert_eq!(get(&m, 45), Some(seq.as_str()));
    // Logout handshake.
    c.send("5", &[]);
    c.expect("5");
    c.expect_closed();
}

#[test]
fn gap_resend_request_and_gap_fill_then_queued_message() {
    let e = start();
    let mut c = Client::logon(e.1, "TW");
    // Skip 2 and 3: 4 arrives first.
    c.send_at(4, "D", &order("Q4"));
    let m = c.expect("2");
    assert_eq!((get(&m, 7), get(&m, 16)), (Some("2"), Some("0")));
    // Fill 2..3 with a gap fill; the queued 4 is then processed.
    c.send_at(
        2,
        "4",
        &[
            (43, "Y"),
            (122, std::str::from_utf8(&now_ts()).unwrap()),
            (123, "Y"),
            (36, "4"),
        ],
    );
    assert_eq!(get(&c.expect("D"), 11), Some("Q4"));
    c.seq = 5;
    c.ping("after-gap");
    // Too low without PossDup: Logout naming the expected number, disconnect.
    c.send_at(3, "D", &order("LOW"));
    let m = c.expect("5");
    assert_eq!(
        get(&m, 58),
        Some("MsgSeqNum too low, expecting 6 but received 3")
    );
    c.expect_closed();
}

#[test]
fn identities_garbage_and_two_sessions() {
    let e = start();
    let mut tw44 = Client::logon(e.1, "TW44");
    // Unknown CompID.
    let mut x = Client::connect(e.1, "NOBODY");
    x.send("A", &[(98, "0"), (108, "30")]);
    assert!(
        get(&x.expect("5"), 58)
            .unwrap()
            .starts_with("Unknown session")
    );
    x.expect_closed();
    // Second connection for a logged-on identity.
    let mut dup = Client::connect(e.1, "TW44");
    dup.send("A", &[(98, "0"), (108, "30"), (141, "Y")]);
    assert_eq!(
        get(&dup.expect("5"), 58),
        Some("Session is already logged on")
    );
    dup.expect_closed();
    // First message not a Logon.
    let mut nl = Client::connect(e.1, "TW");
    nl.send("D", &order("X"));
    assert!(get(&nl.expect("5"), 58).unwrap().contains("Logon"));
    nl.expect_closed();
    // Garbage, a truncated message and a bad checksum from TW: ignored.
    let mut tw = Client::logon(e.1, "TW");
    let mut noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let good = tw.bytes_at(2, "D", &order("G2"));
    noise.extend_from_slice(&good[..good.len() / 2]);
    let mut bad = tw.bytes_at(2, "D", &order("BAD"));
    let n = bad.len();
    bad[n - 2] = if bad[n - 2] == b'9' { b'8' } else { b'9' };
    noise.extend_from_slice(&bad);
    tw.s.write_all(&noise).unwrap();
    tw.seq = 2;
    tw.send("D", &order("G2"));
    assert_eq!(get(&tw.expect("D"), 11), Some("G2"));
    // TW44 unaffected throughout; its sequence numbers are its own.
    tw44.send("D", &order("T44"));
    let m = tw44.expect("D");
    assert_eq!(get(&m, 11), Some("T44"));
    assert_eq!(get(&m, 34), Some("2"));
    // Wrong BeginString: Logout and disconnect.
    let mut b = tw44.bytes_at(3, "0", &[]);
    b[6] = b'2'; // FIX.4.4 -> FIX.2.4, checksum recomputed below
    let body_end = b.len() - 7;
    let sum = b[..body_end].iter().fold(0u32, |a, &x| a + u32::from(x)) % 256;
    let tail = format!("10={sum:03}\x01");
    b.truncate(body_end);
    b.extend_from_slice(tail.as_bytes());
    tw44.s.write_all(&b).unwrap();
    assert_eq!(get(&tw44.expect("5"), 58), Some("Incorrect BeginString"));
    tw44.expect_closed();
    tw.ping("still-here");
}
