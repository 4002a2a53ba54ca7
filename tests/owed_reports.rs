//! Execution reports owed across a crash: commands journaled and processed but
//! whose reports never reached the session's store are answered after the
//! restart, exactly once, right after the session's next logon.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

/// ClOrdIDs of the resting orders the client sends before the kill.
const ORDERS: [&str; 6] = ["O1", "O2", "O3", "O4", "O5", "O6"];
/// Events the sender stage hands over before the test hook stalls it.
const ANSWERED: usize = 3;

/// Waits until the journal holds every order (the logic has them once the
/// offline state shows them).
fn wait_orders_journaled(cfg: &std::path::Path, data: &std::path::Path, n: usize) {
    let t0 = Instant::now();
    loop {
        let (code, out, err) = ringex(&[
            "state-hash",
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--full-replay",
        ]);
        let orders = out.lines().filter(|l| l.starts_with("order ")).count();
        if code == 0 && orders >= n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "orders never journaled: {code} {out} {err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reports_decided_before_a_kill_are_sent_once_after_logon() {
    let t = tempfile::tempdir().unwrap();
    let cfg = write_config(
        t.path(),
        &[(
            "cancel_on_disconnect = true",
            "cancel_on_disconnect = false",
        )],
    );
    let data = t.path().join("data");
    let stall = ANSWERED.to_string();
    let node = NodeProc::start_env(
        &cfg,
        &data,
        &[("RINGEX_TEST_SENDER_STALL_AFTER", stall.as_str())],
    );
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", 1);
    for (i, cl) in ORDERS.iter().enumerate() {
        let px = format!("{}", 20000 + i);
        mm1.new_order(cl, "BTC-USD", "1", "0.1", &px);
    }
    // Answered before the kill: exactly the first ANSWERED orders.
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..ANSWERED {
        let er = mm1.er();
        assert_eq!(er.req(150), "0", "{er:?}");
        *answered.entry(er.req(11).to_string()).or_default() += 1;
    }
    assert!(
        mm1.recv(Duration::from_millis(300))
            .is_none_or(|m| m.msg_type() != "8"),
        "the stalled sender answered more"
    );
    wait_orders_journaled(&cfg, &data, ORDERS.len());
    let last_before = mm1.last_in;
    node.kill9();
    drop(mm1);

    let mut node = NodeProc::start(&cfg, &data);
    let recovered = node
        .drain_log()
        .iter()
        .find(|l| l.contains("recovered:"))
        .cloned()
        .unwrap();
    let owed = ORDERS.len() - ANSWERED;
    assert!(
        recovered.contains(&format!("{owed} reports owed to sessions")),
        "{recovered}"
    );
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", 1 + 1 + ORDERS.len() as u64);
    assert_eq!(mm1.logon_in, last_before + 1, "sequence numbers continue");
    // The owed reports come right after the Logon answer, in order, as new
    // messages (consecutive MsgSeqNums, no PossDupFlag).
    for (k, cl) in ORDERS[ANSWERED..].iter().enumerate() {
        let er = mm1.er();
        assert_eq!(er.req(11), *cl, "{er:?}");
        assert_eq!(er.req(150), "0");
        assert_eq!(er.req(39), "0");
        assert_eq!(er.get(43), None, "not a PossDup resend: {er:?}");
        assert_eq!(
            er.req(34).parse::<u64>().unwrap(),
            mm1.logon_in + 1 + k as u64
        );
        *answered.entry(cl.to_string()).or_default() += 1;
    }
    // New traffic after them; nothing answered twice.
    mm1.new_order("N1", "BTC-USD", "1", "0.1", "19000");
    let er = mm1.er();
    assert_eq!(er.req(11), "N1", "{er:?}");
    assert!(
        mm1.recv(Duration::from_millis(300))
            .is_none_or(|m| m.msg_type() != "8"),
        "an extra report arrived"
    );
    for cl in ORDERS {
        assert_eq!(answered.get(cl), Some(&1), "{cl} answered {answered:?}");
    }
    mm1.logout();

    // A clean restart owes nothing.
    let (st, _) = node.terminate();
    assert!(st.success());
    let mut node = NodeProc::start(&cfg, &data);
    let recovered = node
        .drain_log()
        .iter()
        .find(|l| l.contains("recovered:"))
        .cloned()
        .unwrap();
    assert!(recovered.contains(" 0 reports owed"), "{recovered}");
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", mm1.seq);
    assert!(
        mm1.recv(Duration::from_millis(300))
            .is_none_or(|m| m.msg_type() != "8"),
        "a report was sent twice"
    );
    mm1.logout();
}
