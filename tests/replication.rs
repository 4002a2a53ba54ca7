//! A primary/secondary pair of real `ringex run` processes: the secondary's
//! journal is the primary's, record for record and byte for byte, with equal
//! state hashes; over a lossy link; across a SIGKILL of the secondary under
//! load; hostile datagrams counted; and `ringex promote` hands the venue to the
//! secondary with every acknowledged order in place.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Fix, Msg, NodeProc, ringex, write_config};

/// A free UDP port on 127.0.0.1 (bound and released: another process could
/// take it in between, which is unlikely enough for a test).
fn free_udp() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

struct Pair {
    cfg: std::path::PathBuf,
    p_data: std::path::PathBuf,
    s_data: std::path::PathBuf,
    p_bind: SocketAddr,
    s_bind: SocketAddr,
}

impl Pair {
    fn new(dir: &Path, edits: &[(&str, &str)]) -> Pair {
        let mut all = vec![("checkpoint_every = 100000", "checkpoint_every = 25")];
        all.extend_from_slice(edits);
        Pair {
            cfg: write_config(dir, &all),
            p_data: dir.join("primary"),
            s_data: dir.join("secondary"),
            p_bind: free_udp(),
            s_bind: free_udp(),
        }
    }

    /// The secondary, listening to `primary` (the primary's bind, or a proxy).
    fn secondary(&self, primary: SocketAddr) -> NodeProc {
        let args = vec![
            "--role".into(),
            "secondary".into(),
            "--primary".into(),
            primary.to_string(),
            "--repl-bind".into(),
            self.s_bind.to_string(),
        ];
        NodeProc::spawn(
            &self.cfg,
            &self.s_data,
            &[],
            &args,
            "secondary: replicating",
        )
    }

    /// The primary, replicating to `secondary` (the secondary's bind, or a proxy).
    fn primary(&self, secondary: SocketAddr) -> NodeProc {
        let args = vec![
            "--role".into(),
            "primary".into(),
            "--secondary".into(),
            secondary.to_string(),
            "--repl-bind".into(),
            self.p_bind.to_string(),
        ];
        NodeProc::spawn(&self.cfg, &self.p_data, &[], &args, "listening: FIX 4.4 on")
    }

    /// Both journals verify, hold the same records (seq and bytes), the segment
    /// files are byte-identical when laid out alike, and the offline state hashes
    /// are equal. Returns the number of records.
    fn assert_identical(&self) -> u64 {
        for d in [&self.p_data, &self.s_data] {
            let (code, out, err) = ringex(&["journal", "verify", d.to_str().unwrap()]);
            assert_eq!(code, 0, "journal verify {}: {out} {err}", d.display());
        }
        let pj = self.p_data.join("journal");
        let sj = self.s_data.join("journal");
        let mut pr = journal::Reader::open(&pj, 1).unwrap();
        let mut sr = journal::Reader::open(&sj, 1).unwrap();
        let mut n = 0u64;
        loop {
            let a = pr
                .next_record()
                .unwrap()
                .map(|r| (r.seq, r.payload.to_vec()));
            let b = sr
                .next_record()
                .unwrap()
                .map(|r| (r.seq, r.payload.to_vec()));
            assert_eq!(a, b, "journals differ at record {n}");
            if a.is_none() {
                break;
            }
            n += 1;
        }
        let segs = |d: &Path| -> BTreeMap<String, Vec<u8>> {
            std::fs::read_dir(d)
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        };
        let (ps, ss) = (segs(&pj), segs(&sj));
        let same_layout = ps.keys().eq(ss.keys());
        if same_layout {
            for (name, bytes) in &ps {
                assert!(ss[name] == *bytes, "segment {name} differs byte-wise");
            }
        }
        let hash = |d: &Path| {
            let (code, out, err) = ringex(&[
                "state-hash",
                "--config",
                self.cfg.to_str().unwrap(),
                "--data-dir",
                d.to_str().unwrap(),
                "--full-replay",
            ]);
            assert_eq!(code, 0, "{err}");
            out.lines().next().unwrap().to_string()
        };
        assert_eq!(hash(&self.p_data), hash(&self.s_data));
        n
    }
}

/// Logs on, places `n` orders one by one (buys and crossing sells, so there are
/// trades) and waits for each one's own ExecutionReport. Returns the OrderIDs
/// by ClOrdID. Stops early when `stop` is set.
fn trade(
    addr: SocketAddr,
    comp: &str,
    pass: &str,
    n: usize,
    prefix: &str,
    stop: Option<&AtomicBool>,
) -> BTreeMap<String, String> {
    let mut f = Fix::logon(addr, comp, pass, 1);
    let mut ids = BTreeMap::new();
    for i in 0..n {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let cl = format!("{prefix}{i}");
        let (side, qty) = if comp == "MM1" {
            ("1", "0.0100")
        } else {
            ("2", "0.0050")
        };
        f.new_order(&cl, "BTC-USD", side, qty, "100.00");
        let m = own_er(&mut f, &cl, Duration::from_secs(20));
        assert_ne!(m.req(150), "8", "order {cl} rejected: {m:?}");
        ids.insert(cl, m.req(37).to_string());
    }
    f.logout();
    ids
}

/// The first ExecutionReport for `cl` (others are skipped).
fn own_er(f: &mut Fix, cl: &str, timeout: Duration) -> Msg {
    let t0 = Instant::now();
    loop {
        let m = f.recv_until("8", timeout.saturating_sub(t0.elapsed()));
        if m.get(11) == Some(cl) {
            return m;
        }
    }
}

/// The number before `what` in a status line, e.g. "checkpoints 3 equal".
fn count_in(line: &str, before: &str, after: &str) -> u64 {
    line.split(before)
        .nth(1)
        .and_then(|r| r.split(after).next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{before} N {after}` in {line}"))
}

fn last_status(lines: &[String]) -> String {
    lines
        .iter()
        .rev()
        .find(|l| l.contains("replication: secondary at seq"))
        .cloned()
        .unwrap_or_else(|| panic!("no secondary status line in {lines:#?}"))
}

#[test]
fn pair_under_fix_load_journals_identically_and_counts_hostile_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), &[]);
    let sec = pair.secondary(pair.p_bind);
    let pri = pair.primary(pair.s_bind);
    let a = pri.addr;
    let t = std::thread::spawn(move || trade(a, "MM2", "mm2-secret", 60, "s", None));
    let ids = trade(pri.addr, "MM1", "mm1-secret", 60, "b", None);
    assert_eq!(ids.len(), 60);
    assert_eq!(t.join().unwrap().len(), 60);

    // Hostile datagrams at both nodes: garbage, truncated, a foreign epoch.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut foreign = [0u8; replication::wire::HEADER_LEN];
    replication::wire::encode_control(&mut foreign, replication::wire::Kind::Heartbeat, 999, 1, 0);
    for to in [pair.s_bind, pair.p_bind] {
        s.send_to(b"not a replication datagram at all", to).unwrap();
        s.send_to(&foreign[..20], to).unwrap();
        s.send_to(&foreign, to).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));

    let (st, plog) = pri.terminate();
    assert!(st.success(), "{plog:#?}");
    let (st, slog) = sec.terminate();
    assert!(st.success(), "{slog:#?}");
    let status = last_status(&slog);
    assert!(status.contains(", in sync;"), "{status}");
    assert!(count_in(&status, "checkpoints ", " equal") >= 2, "{status}");
    assert_eq!(count_in(&status, "equal, ", " different"), 0, "{status}");
    assert_eq!(count_in(&status, "(foreign epoch ", ", bad"), 1, "{status}");
    assert!(count_in(&status, ", bad ", ")") >= 2, "{status}");
    assert!(
        plog.iter().any(|l| l.contains("checkpoints sent")),
        "{plog:#?}"
    );
    let n = pair.assert_identical();
    assert!(n > 120, "only {n} records journaled");
}

/// A UDP relay between the pair that drops, duplicates and reorders a share of
/// the datagrams in both directions (seeded, deterministic per run).
struct LossyProxy {
    to_secondary: SocketAddr,
    to_primary: SocketAddr,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LossyProxy {
    fn start(primary: SocketAddr, secondary: SocketAddr) -> LossyProxy {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap(); // the primary sends here
        let b = UdpSocket::bind("127.0.0.1:0").unwrap(); // the secondary sends here
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (to_secondary, to_primary) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let thread = {
            let stop = stop.clone();
            let dropped = dropped.clone();
            std::thread::spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64;
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng % 100
                };
                let mut held: [Option<Vec<u8>>; 2] = [None, None];
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let mut idle = true;
                    for (i, (from, to_sock, to)) in [(&a, &b, secondary), (&b, &a, primary)]
                        .into_iter()
                        .enumerate()
                    {
                        while let Ok((n, _)) = from.recv_from(&mut buf) {
                            idle = false;
                            let d = buf[..n].to_vec();
                            match next() {
                                0..=4 => {
                                    dropped.fetch_add(1, Ordering::Relaxed);
                                }
                                5..=9 => {
                                    let _ = to_sock.send_to(&d, to);
                                    let _ = to_sock.send_to(&d, to);
                                }
                                10..=14 if held[i].is_none() => held[i] = Some(d),
                                _ => {
                                    let _ = to_sock.send_to(&d, to);
                                    if let Some(h) = held[i].take() {
                                        let _ = to_sock.send_to(&h, to);
                                    }
                                }
                            }
                        }
                    }
                    if idle {
                        // Release what is held so a quiet link does not stall.
                        for (i, (sock, to)) in
                            [(&b, secondary), (&a, primary)].into_iter().enumerate()
                        {
                            if let Some(h) = held[i].take() {
                                let _ = sock.send_to(&h, to);
                            }
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        };
        LossyProxy {
            to_secondary,
            to_primary,
            stop,
            dropped,
            thread: Some(thread),
        }
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn lossy_link_still_gives_an_identical_journal() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), &[]);
    let proxy = LossyProxy::start(pair.p_bind, pair.s_bind);
    let sec = pair.secondary(proxy.to_primary);
    let pri = pair.primary(proxy.to_secondary);
    let a = pri.addr;
    let t = std::thread::spawn(move || trade(a, "MM2", "mm2-secret", 50, "s", None));
    let ids = trade(pri.addr, "MM1", "mm1-secret", 50, "b", None);
    assert_eq!(ids.len(), 50);
    assert_eq!(t.join().unwrap().len(), 50);
    let (st, plog) = pri.terminate();
    assert!(st.success(), "{plog:#?}");
    std::thread::sleep(Duration::from_millis(100));
    let (st, slog) = sec.terminate();
    assert!(st.success(), "{slog:#?}");
    assert!(proxy.dropped.load(Ordering::Relaxed) > 0);
    let status = last_status(&slog);
    assert!(status.contains(", in sync;"), "{status}");
    assert_eq!(count_in(&status, "equal, ", " different"), 0, "{status}");
    pair.assert_identical();
}

#[test]
fn secondary_killed_and_restarted_under_load_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), &[("window = 65536", "window = 64")]);
    let sec = pair.secondary(pair.p_bind);
    let pri = pair.primary(pair.s_bind);
    let stop = Arc::new(AtomicBool::new(false));
    let a = pri.addr;
    let st2 = stop.clone();
    let load = std::thread::spawn(move || trade(a, "MM1", "mm1-secret", 100_000, "k", Some(&st2)));
    std::thread::sleep(Duration::from_millis(800));
    sec.kill9();
    std::thread::sleep(Duration::from_millis(700));
    let sec = pair.secondary(pair.p_bind);
    // Under `wait` the primary stalls while the secondary is away, then resumes.
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let ids = load.join().unwrap();
    assert!(ids.len() > 20, "only {} orders acknowledged", ids.len());
    let (st, plog) = pri.terminate();
    assert!(st.success(), "{plog:#?}");
    let (st, slog) = sec.terminate();
    assert!(st.success(), "{slog:#?}");
    let status = last_status(&slog);
    assert!(status.contains(", in sync;"), "{status}");
    let n = pair.assert_identical();
    assert!(n as usize > ids.len());
}

#[test]
fn promote_hands_the_venue_to_the_secondary() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), &[]);
    let mut sec = pair.secondary(pair.p_bind);
    let pri = pair.primary(pair.s_bind);

    // MM1 rests a bid; MM2 trades part of it.
    let mut f = Fix::logon(pri.addr, "MM1", "mm1-secret", 1);
    f.new_order("bid1", "BTC-USD", "1", "1.0000", "100.00");
    let new = own_er(&mut f, "bid1", Duration::from_secs(10));
    assert_eq!(new.req(150), "0");
    let order_id = new.req(37).to_string();
    let mut g = Fix::logon(pri.addr, "MM2", "mm2-secret", 1);
    g.new_order("ask1", "BTC-USD", "2", "0.2500", "100.00");
    let ask = own_er(&mut g, "ask1", Duration::from_secs(10));
    assert_ne!(ask.req(150), "8", "{ask:?}");
    let fill = own_er(&mut f, "bid1", Duration::from_secs(10));
    assert_eq!(fill.req(150), "F");
    let next_seq = f.seq;

    // The primary dies; the operator promotes the secondary.
    pri.kill9();
    let (code, out, err) = ringex(&["promote", "--data-dir", pair.s_data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
    sec.wait_line("listening: FIX 4.4 on", Duration::from_secs(30));
    let addr: SocketAddr = sec.addr;
    assert!(
        sec.drain_log().iter().any(|l| l.contains("promoted:")),
        "{:#?}",
        sec.lines
    );

    // MM1 reconnects to the new primary: its order is there (same OrderID,
    // leaves 0.75) and can be cancelled; new orders trade.
    let last_in = f.last_in;
    drop(f);
    let mut f = Fix::logon(addr, "MM1", "mm1-secret", next_seq);
    // Its sequence numbers were seeded from the replicated stream: accepted at
    // its own next number, and the new primary's numbers are above what it has.
    assert!(f.logon_in > last_in, "{} <= {last_in}", f.logon_in);
    assert!(
        sec.drain_log()
            .iter()
            .any(|l| l.contains("session MM1 seeded from the journal")),
        "{:#?}",
        sec.lines
    );
    // Let session-level recovery (a ResendRequest, answered by the helper with a
    // gap fill) settle before the first application message.
    let _ = f.recv(Duration::from_millis(500));
    f.send(
        "F",
        &[
            (41, "bid1"),
            (11, "cxl1"),
            (55, "BTC-USD"),
            (54, "1"),
            (60, "20260101-00:00:00.000"),
            (38, "1.0000"),
        ],
    );
    let c = own_er(&mut f, "cxl1", Duration::from_secs(10));
    assert_eq!(c.req(150), "4", "{c:?}");
    assert_eq!(c.req(37), order_id);
    assert_eq!(c.req(14).parse::<f64>().ok(), Some(0.25), "{c:?}");
    f.new_order("bid2", "BTC-USD", "1", "0.1000", "99.00");
    assert_eq!(
        own_er(&mut f, "bid2", Duration::from_secs(10)).req(150),
        "0"
    );
    assert_eq!(f.resend_requests, 0, "inbound numbers derived exactly");
    f.logout();
    let (st, slog) = sec.terminate();
    assert!(st.success(), "{slog:#?}");
}

#[test]
fn degraded_primary_goes_on_alone_and_a_late_secondary_catches_up_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(
        dir.path(),
        &[
            ("policy = \"wait\"", "policy = \"degrade\""),
            ("degrade_after_ms = 1000", "degrade_after_ms = 300"),
            ("window = 65536", "window = 64"),
        ],
    );
    // No secondary yet: the primary degrades and trades alone.
    let mut pri = pair.primary(pair.s_bind);
    pri.wait_line("DEGRADED", Duration::from_secs(10));
    let ids = trade(pri.addr, "MM1", "mm1-secret", 100, "a", None);
    assert_eq!(ids.len(), 100);
    // The secondary starts late: everything so far is older than the 64-record
    // window, so it comes from the primary's journal; then synchronous again.
    let sec = pair.secondary(pair.p_bind);
    pri.wait_line("secondary back in step", Duration::from_secs(30));
    let ids = trade(pri.addr, "MM2", "mm2-secret", 20, "z", None);
    assert_eq!(ids.len(), 20);
    let (st, plog) = pri.terminate();
    assert!(st.success(), "{plog:#?}");
    let (st, slog) = sec.terminate();
    assert!(st.success(), "{slog:#?}");
    let stats = plog
        .iter()
        .find(|l| l.contains("records sent,"))
        .unwrap_or_else(|| panic!("{plog:#?}"));
    assert!(
        count_in(stats, "resent (", " from the journal") > 0,
        "{stats}"
    );
    assert!(
        count_in(stats, "from the journal), ", " degradations") >= 1,
        "{stats}"
    );
    let status = last_status(&slog);
    assert!(status.contains(", in sync;"), "{status}");
    pair.assert_identical();
}

#[test]
fn a_role_without_its_peer_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &[]);
    let data = dir.path().join("d");
    let (code, _, err) = ringex(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--role",
        "secondary",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("replication.peer"), "{err}");
    assert!(!data.exists(), "the data directory was created");
    let (code, _, err) = ringex(&["promote", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_diverging_secondary_reports_the_mismatch_and_stops_claiming_sync() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), &[]);
    // The secondary credits fees to another account: its state hash differs
    // from the first trade on, though it applies the very same stream.
    let sdir = dir.path().join("seccfg");
    std::fs::create_dir_all(&sdir).unwrap();
    let scfg = write_config(
        &sdir,
        &[
            ("checkpoint_every = 100000", "checkpoint_every = 25"),
            ("fee_account = 0", "fee_account = 99"),
        ],
    );
    let args = vec![
        "--role".to_string(),
        "secondary".into(),
        "--primary".into(),
        pair.p_bind.to_string(),
        "--repl-bind".into(),
        pair.s_bind.to_string(),
    ];
    let mut sec = NodeProc::spawn(&scfg, &pair.s_data, &[], &args, "secondary: replicating");
    let pri = pair.primary(pair.s_bind);
    let a = pri.addr;
    let t = std::thread::spawn(move || trade(a, "MM2", "mm2-secret", 40, "s", None));
    trade(pri.addr, "MM1", "mm1-secret", 40, "b", None);
    t.join().unwrap();
    let line = sec.wait_line("REPLICATION STATE MISMATCH at seq", Duration::from_secs(20));
    assert!(line.contains("NOT IN SYNC"), "{line}");
    let (st, plog) = pri.terminate();
    assert!(st.success(), "{plog:#?}");
    let (st, slog) = sec.terminate();
    assert!(st.success(), "{slog:#?}");
    let status = last_status(&slog);
    assert!(status.contains("NOT IN SYNC"), "{status}");
    assert!(count_in(&status, "equal, ", " different") >= 1, "{status}");
}
