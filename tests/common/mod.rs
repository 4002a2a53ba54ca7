//! Test harness: the real `ringex` binary on a temp data dir and a free port,
//! and a minimal FIX 4.4 initiator scripted with the gateway's codec.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use gateway::fix::codec::{Encoder, Frame, frame};

pub const BIN: &str = env!("CARGO_BIN_EXE_ringex");

/// The log line that carries the FIX listening address.
const LISTENING: &str = "listening: FIX 4.4 on ";

/// The embedded default with a free port (port 0: the node logs the real one)
/// and `edits` applied (exact text replacements).
pub fn write_config(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = ringex::config::DEFAULT_TOML.replace("127.0.0.1:9878", "127.0.0.1:0");
    for (from, to) in edits {
        assert!(text.contains(from), "config edit target missing: {from}");
        text = text.replacen(from, to, 1);
    }
    let p = dir.join("ringex.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A running `ringex run`.
pub struct NodeProc {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Receiver<String>,
    pub lines: Vec<String>,
}

impl NodeProc {
    /// Starts `ringex run` and waits for its listening line.
    // The child is reaped by `Drop` (or `terminate`/`kill9`); on a start
    // failure it is killed and reaped before the panic.
    #[allow(clippy::zombie_processes)]
    pub fn start(config: &Path, data: &Path) -> NodeProc {
        Self::start_env(config, data, &[])
    }

    /// [`NodeProc::start`] with extra environment variables (test hooks).
    pub fn start_env(config: &Path, data: &Path, env: &[(&str, &str)]) -> NodeProc {
        Self::spawn(config, data, env, &[], LISTENING)
    }

    /// Starts `ringex run` with extra environment variables and arguments, and
    /// waits up to 60 s for a log line containing `until`. `addr` is the FIX
    /// address from the listening line once one has been seen (a secondary
    /// opens no FIX port: `127.0.0.1:1` until then).
    #[allow(clippy::zombie_processes)]
    pub fn spawn(
        config: &Path,
        data: &Path,
        env: &[(&str, &str)],
        args: &[String],
        until: &str,
    ) -> NodeProc {
        let mut child = Command::new(BIN)
            .envs(env.iter().copied())
            .args(["run", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = NodeProc {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
            log: rx,
            lines: Vec::new(),
        };
        // On failure the node is killed and reaped by `Drop` during the panic.
        node.wait_line(until, Duration::from_secs(60));
        node
    }

    /// Waits for a log line containing `pat` and returns it (also one already
    /// seen); records the FIX address when the listening line goes by.
    pub fn wait_line(&mut self, pat: &str, timeout: Duration) -> String {
        if let Some(l) = self.lines.iter().find(|l| l.contains(pat)) {
            return l.clone();
        }
        let t0 = Instant::now();
        loop {
            let left = timeout.saturating_sub(t0.elapsed());
            let Ok(l) = self.log.recv_timeout(left) else {
                panic!("no log line with {pat:?}; log: {:#?}", self.lines);
            };
            if let Some(addr) = l
                .split(LISTENING)
                .nth(1)
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
            {
                self.addr = addr;
            }
            self.lines.push(l.clone());
            if l.contains(pat) {
                return l;
            }
        }
    }

    /// Every log line so far.
    pub fn drain_log(&mut self) -> &[String] {
        while let Ok(l) = self.log.try_recv() {
            self.lines.push(l);
        }
        &self.lines
    }

    /// The state hash from the `recovered:` line.
    pub fn recovered_hash(&mut self) -> String {
        let l = self
            .drain_log()
            .iter()
            .find(|l| l.contains("recovered:"))
            .cloned()
            .expect("recovered line");
        l.rsplit("state hash ").next().unwrap().trim().to_string()
    }

    /// SIGTERM, wait, return the exit status and the log.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        unsafe_kill(self.child.id(), 15);
        let st = wait_timeout(&mut self.child, Duration::from_secs(30));
        // The reader thread ends with the pipe.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            match self.log.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => self.lines.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(_) => {}
            }
        }
        (st, std::mem::take(&mut self.lines))
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        unsafe_kill(self.child.id(), 9);
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // Never leave a node running after a test, even a failed one.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_timeout(child: &mut Child, d: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > d {
            let _ = child.kill();
            panic!("process did not exit in {d:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ringex <args>`: (exit code, stdout, stderr).
pub fn ringex(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A FIX message as (tag, value) pairs.
#[derive(Debug, Clone)]
pub struct Msg(pub Vec<(u32, String)>);

impl Msg {
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
    pub fn req(&self, tag: u32) -> &str {
        self.get(tag)
            .unwrap_or_else(|| panic!("tag {tag} missing in {self:?}"))
    }
    pub fn msg_type(&self) -> &str {
        self.req(35)
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A minimal FIX 4.4 initiator.
pub struct Fix {
    pub stream: TcpStream,
    pub comp: String,
    pub seq: u64,
    /// Highest MsgSeqNum received from the node.
    pub last_in: u64,
    /// MsgSeqNum of the node's Logon answer.
    pub logon_in: u64,
    /// ResendRequests the node sent (answered with a gap fill).
    pub resend_requests: u64,
    buf: Vec<u8>,
    enc: Encoder,
}

impl Fix {
    /// Connects and logs on as `comp` with `password`; waits for the Logon answer.
    pub fn logon(addr: SocketAddr, comp: &str, password: &str, next_seq: u64) -> Fix {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut f = Fix {
            stream,
            comp: comp.to_string(),
            seq: next_seq,
            buf: Vec::new(),
            enc: Encoder::new(b"FIX.4.4"),
            last_in: 0,
            logon_in: 0,
            resend_requests: 0,
        };
        f.send("A", &[(98, "0"), (108, "30"), (553, comp), (554, password)]);
        let m = f.recv_until("A", Duration::from_secs(10));
        assert_eq!(m.msg_type(), "A");
        f.logon_in = m.req(34).parse().unwrap();
        f
    }

    pub fn send(&mut self, t: &str, fields: &[(u32, &str)]) {
        self.enc
            .start(t.as_bytes())
            .field(49, self.comp.as_bytes())
            .field(56, b"RINGEX")
            .field_u64(34, self.seq)
            .field_timestamp(52, now_ns());
        for (tag, v) in fields {
            self.enc.field(*tag, v.as_bytes());
        }
        let bytes = self.enc.finish().to_vec();
        self.seq += 1;
        self.stream.write_all(&bytes).unwrap();
    }

    /// The next message, or None on timeout/close.
    pub fn recv(&mut self, timeout: Duration) -> Option<Msg> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Frame::Complete { len } = frame(&self.buf, 1 << 16) {
                let raw: Vec<u8> = self.buf.drain(..len).collect();
                let fields = raw
                    .split(|&b| b == 1)
                    .filter(|f| !f.is_empty())
                    .filter_map(|f| {
                        let s = std::str::from_utf8(f).ok()?;
                        let (t, v) = s.split_once('=')?;
                        Some((t.parse().ok()?, v.to_string()))
                    })
                    .collect();
                let m = Msg(fields);
                if let Some(n) = m.get(34).and_then(|v| v.parse().ok()) {
                    self.last_in = self.last_in.max(n);
                }
                if m.get(35) == Some("2") {
                    // ResendRequest (after a crash the node may have missed
                    // our last messages): gap-fill over them, we resend nothing.
                    self.resend_requests += 1;
                    let begin = m.get(7).unwrap_or("1").to_string();
                    let next = self.seq.to_string();
                    let saved = self.seq;
                    self.seq = begin.parse().unwrap_or(saved);
                    self.send("4", &[(43, "Y"), (123, "Y"), (36, &next)]);
                    self.seq = saved;
                    continue;
                }
                if m.get(35) == Some("1") {
                    // TestRequest: answer it.
                    let id = m.get(112).unwrap_or("").to_string();
                    self.send("0", &[(112, &id)]);
                    continue;
                }
                return Some(m);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }

    /// The next message of type `t` (others are skipped: heartbeats...).
    pub fn recv_until(&mut self, t: &str, timeout: Duration) -> Msg {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("{}: no {t} within {timeout:?}", self.comp));
            let m = self
                .recv(left)
                .unwrap_or_else(|| panic!("{}: no {t} within {timeout:?}", self.comp));
            if m.msg_type() == t {
                return m;
            }
            if m.msg_type() == "5" || m.msg_type() == "3" || m.msg_type() == "j" {
                panic!("{}: unexpected {m:?} while waiting for {t}", self.comp);
            }
        }
    }

    /// The next ExecutionReport.
    pub fn er(&mut self) -> Msg {
        self.recv_until("8", Duration::from_secs(10))
    }

    /// Sends a limit GTC NewOrderSingle.
    pub fn new_order(&mut self, cl: &str, symbol: &str, side: &str, qty: &str, px: &str) {
        let ts = "20260101-00:00:00.000";
        self.send(
            "D",
            &[
                (11, cl),
                (55, symbol),
                (54, side),
                (60, ts),
                (38, qty),
                (40, "2"),
                (44, px),
                (59, "1"),
            ],
        );
    }

    pub fn logout(&mut self) {
        self.send("5", &[]);
        let _ = self.recv(Duration::from_secs(2));
    }
}
