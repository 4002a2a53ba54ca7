//! Promotion without the replication wiring: a node trades with a FIX client and
//! dies (SIGKILL); only its journal (what replication gives a secondary) is
//! copied to a fresh data directory, the FIX session stores are seeded from it
//! with `fixgw::seed_sessions_for_promotion`, and a node started there takes the
//! same client back with its own continuing sequence numbers.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn client_resumes_on_a_node_seeded_from_the_journal_only() {
    let t = tempfile::tempdir().unwrap();
    let cfg_path = write_config(t.path(), &[]);
    let cfg = ringex::config::Config::load(Some(&cfg_path)).unwrap();
    let data_a = t.path().join("primary");
    let node = NodeProc::start(&cfg_path, &data_a);

    // --- Trading on the old primary, with session-level traffic in between.
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", 1);
    let mut ids = Vec::new();
    for (cl, px) in [("R1", "29000"), ("R2", "29001"), ("R3", "29002")] {
        mm1.new_order(cl, "BTC-USD", "1", "0.1", px);
        let ack = mm1.er();
        assert_eq!(ack.req(150), "0", "{ack:?}");
        ids.push(ack.req(37).to_string());
    }
    // TestRequest in, Heartbeat out: numbers move outside the command stream.
    mm1.send("1", &[(112, "PING")]);
    let hb = mm1.recv_until("0", Duration::from_secs(10));
    assert_eq!(hb.get(112), Some("PING"));
    mm1.send("0", &[]);
    // An order the gateway refuses itself (unknown symbol): an inbound and an
    // outbound number used, nothing journaled for it.
    mm1.new_order("X1", "NOPE-USD", "1", "0.1", "1");
    let rej = mm1.er();
    assert_eq!(rej.req(150), "8", "{rej:?}");
    // Cancel R1: journaled, answered.
    mm1.send(
        "F",
        &[
            (41, "R1"),
            (11, "C1"),
            (55, "BTC-USD"),
            (54, "1"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let c = mm1.er();
    assert_eq!(c.req(150), "4", "{c:?}");
    // One more refused order, the client's last message: its sequence number
    // reaches the journal only through the end-of-poll report.
    mm1.new_order("X2", "NOPE-USD", "1", "0.1", "1");
    assert_eq!(mm1.er().req(150), "8");
    std::thread::sleep(Duration::from_millis(500));
    let client_next = mm1.seq;
    let client_last_in = mm1.last_in;

    // --- The primary dies; the secondary has only the journal.
    node.kill9();
    let data_b = t.path().join("secondary");
    let dirs_a = ringex::node::DataDir::new(&data_a, &cfg);
    let dirs_b = ringex::node::DataDir::new(&data_b, &cfg);
    copy_dir(&dirs_a.journal, &dirs_b.journal);
    assert!(!dirs_b.fix.exists(), "no FIX store carried over");
    std::fs::create_dir_all(&dirs_b.fix).unwrap();
    let seeds = ringex::fixgw::seed_sessions_for_promotion(&cfg, &dirs_b, u64::MAX).unwrap();
    let mm1_seed = seeds
        .iter()
        .find(|s| s.index == 0)
        .expect("MM1 derived from the journal");
    // Inbound exact (the refused X2 included through the report); outbound at
    // least what the client already has.
    assert_eq!(mm1_seed.next_in, client_next, "{seeds:?}");
    assert!(mm1_seed.next_out > client_last_in, "{seeds:?}");
    // MM2 never logged on: nothing derived, nothing written.
    assert!(seeds.iter().all(|s| s.index == 0), "{seeds:?}");

    let node = NodeProc::start(&cfg_path, &data_b);
    // --- The same client reconnects with its own next number, no reset.
    let mut mm1b = Fix::logon(node.addr, "MM1", "mm1-secret", client_next);
    assert!(
        mm1b.logon_in > client_last_in,
        "node's Logon MsgSeqNum {} must not be at or below what the client has ({client_last_in})",
        mm1b.logon_in
    );
    // Standard recovery of the outbound gap: ResendRequest answered by one
    // SequenceReset-GapFill past the Logon.
    if mm1b.logon_in > client_last_in + 1 {
        let begin = (client_last_in + 1).to_string();
        mm1b.send("2", &[(7, &begin), (16, "0")]);
        let gf = mm1b.recv_until("4", Duration::from_secs(10));
        assert_eq!(gf.get(123), Some("Y"), "{gf:?}");
        assert_eq!(gf.req(34), begin);
        assert_eq!(gf.req(36).parse::<u64>().unwrap(), mm1b.logon_in + 1);
    }
    // Resting orders are there: cancel R2 by OrigClOrdID, same OrderID.
    mm1b.send(
        "F",
        &[
            (41, "R2"),
            (11, "C2"),
            (55, "BTC-USD"),
            (54, "1"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let c = mm1b.er();
    assert_eq!(c.req(150), "4", "{c:?}");
    assert_eq!(c.req(41), "R2");
    assert_eq!(c.req(37), ids[1]);
    assert!(c.req(34).parse::<u64>().unwrap() > mm1b.logon_in);
    // R1 was cancelled before the promotion: refused now.
    mm1b.send(
        "F",
        &[
            (41, "R1"),
            (11, "C3"),
            (55, "BTC-USD"),
            (54, "1"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let cr = mm1b.recv_until("9", Duration::from_secs(10));
    assert_eq!(cr.req(41), "R1", "{cr:?}");
    // And it keeps trading.
    mm1b.new_order("N1", "BTC-USD", "1", "0.1", "29003");
    let ack = mm1b.er();
    assert_eq!(ack.req(150), "0", "{ack:?}");
    assert_eq!(ack.req(11), "N1");
    assert_eq!(mm1b.resend_requests, 0, "inbound numbers were exact");
    mm1b.logout();
    let (st, log) = node.terminate();
    assert!(st.success(), "{log:#?}");
    assert!(
        log.iter().all(|l| !l.contains("too low")),
        "no sequence-number refusal: {log:#?}"
    );
}

/// Copies the records of `from` into a new journal at `to`, leaving out the
/// `SeqSync` reports after the last other record: the state of a secondary
/// that never received the old primary's last reports.
fn copy_without_trailing_reports(from: &Path, to: &Path, cfg: &ringex::config::Config) -> usize {
    use engine::msg::{Message, SessionEventKind};
    let mut recs: Vec<Vec<u8>> = Vec::new();
    let mut r = journal::Reader::open(from, 1).unwrap();
    while let Some(rec) = r.next_record().unwrap() {
        recs.push(rec.payload.to_vec());
    }
    let is_report = |b: &[u8]| {
        matches!(
            engine::msg::decode(b),
            Ok((_, Message::SessionEvent(e))) if e.kind == SessionEventKind::SeqSync
        )
    };
    let keep = recs
        .iter()
        .rposition(|b| !is_report(b))
        .map_or(0, |i| i + 1);
    let dropped = recs.len() - keep;
    let (mut j, _) = journal::Journal::open(to, cfg.journal.writer_config()).unwrap();
    j.append_batch(1, recs[..keep].iter().map(Vec::as_slice))
        .unwrap();
    j.close().unwrap();
    dropped
}

/// The old primary's last reports (session-level traffic after the client's
/// last order) never reached the secondary: the derived inbound number is low,
/// the outbound one is still above what the client has; standard FIX recovery
/// (ResendRequest answered with a gap fill) closes both without a reset, and the
/// journaled order is neither lost nor applied twice.
#[test]
fn lost_last_reports_err_to_the_safe_side() {
    let t = tempfile::tempdir().unwrap();
    let cfg_path = write_config(t.path(), &[]);
    let cfg = ringex::config::Config::load(Some(&cfg_path)).unwrap();
    let data_a = t.path().join("primary");
    let node = NodeProc::start(&cfg_path, &data_a);
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", 1);
    mm1.new_order("R1", "BTC-USD", "1", "0.1", "29000");
    let ack = mm1.er();
    assert_eq!(ack.req(150), "0", "{ack:?}");
    let order_id = ack.req(37).to_string();
    mm1.send("1", &[(112, "PING")]);
    mm1.recv_until("0", Duration::from_secs(10));
    mm1.send("0", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let (client_next, client_last_in) = (mm1.seq, mm1.last_in);
    node.kill9();

    let data_b = t.path().join("secondary");
    let dirs_a = ringex::node::DataDir::new(&data_a, &cfg);
    let dirs_b = ringex::node::DataDir::new(&data_b, &cfg);
    let dropped = copy_without_trailing_reports(&dirs_a.journal, &dirs_b.journal, &cfg);
    assert!(dropped >= 1, "the TestRequest/Heartbeat were reported");
    std::fs::create_dir_all(&dirs_b.fix).unwrap();
    let seeds = ringex::fixgw::seed_sessions_for_promotion(&cfg, &dirs_b, u64::MAX).unwrap();
    let s = seeds.iter().find(|s| s.index == 0).unwrap();
    assert!(s.next_in < client_next, "{s:?}: derived inbound is low");
    assert!(
        s.next_in > 2,
        "{s:?}: but above the journaled order (MsgSeqNum 2)"
    );
    assert!(s.next_out > client_last_in, "{s:?}");

    let node = NodeProc::start(&cfg_path, &data_b);
    let mut mm1b = Fix::logon(node.addr, "MM1", "mm1-secret", client_next);
    assert!(mm1b.logon_in > client_last_in);
    // The node asks for what it cannot account for; the client gap-fills.
    let _ = mm1b.recv(Duration::from_millis(500));
    assert_eq!(mm1b.resend_requests, 1);
    mm1b.send(
        "F",
        &[
            (41, "R1"),
            (11, "C1"),
            (55, "BTC-USD"),
            (54, "1"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let c = mm1b.er();
    assert_eq!(c.req(150), "4", "{c:?}");
    assert_eq!(c.req(37), order_id);
    mm1b.new_order("N1", "BTC-USD", "1", "0.1", "29001");
    assert_eq!(mm1b.er().req(150), "0");
    mm1b.logout();
    let (st, log) = node.terminate();
    assert!(st.success(), "{log:#?}");
    assert!(log.iter().all(|l| !l.contains("too low")), "{log:#?}");
}
