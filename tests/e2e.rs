//! End-to-end: the real `ringex run` binary, driven over FIX.

mod common;

use std::time::Duration;

use common::*;

/// Place, partially fill against another session, replace, cancel; a funds
/// rejection; clean shutdown with SIGTERM; restart continues sequence numbers.
#[test]
fn trade_replace_cancel_reject_and_restart() {
    let t = tempfile::tempdir().unwrap();
    let cfg = write_config(
        t.path(),
        &[(
            "name = \"mm2\"\nmax_order_notional = 0\ndeposits = { BTC = \"1000\", USD = \"100000000\"",
            "name = \"mm2\"\nmax_order_notional = 0\ndeposits = { BTC = \"1000\", USD = \"1000000\"",
        )],
    );
    let data = t.path().join("data");
    let node = NodeProc::start(&cfg, &data);
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", 1);
    let mut mm2 = Fix::logon(node.addr, "MM2", "mm2-secret", 1);

    // MM1 rests a sell of 0.5 BTC at 30000.
    mm1.new_order("S1", "BTC-USD", "2", "0.5", "30000");
    let ack = mm1.er();
    assert_eq!(ack.req(150), "0", "{ack:?}");
    assert_eq!(ack.req(39), "0");
    assert_eq!(ack.req(11), "S1");
    assert_eq!(ack.req(55), "BTC-USD");
    assert_eq!(ack.req(54), "2");
    assert_eq!(ack.req(151).parse::<f64>().unwrap(), 0.5);
    assert_eq!(ack.req(14).parse::<f64>().unwrap(), 0.0);
    let order_id = ack.req(37).to_string();

    // MM2 buys 0.2: both sides get a trade report.
    mm2.new_order("B1", "BTC-USD", "1", "0.2", "30000");
    let mut b = mm2.er();
    if b.req(150) == "0" {
        b = mm2.er();
    }
    assert_eq!(b.req(150), "F", "{b:?}");
    assert_eq!(b.req(39), "2");
    assert_eq!(b.req(32).parse::<f64>().unwrap(), 0.2);
    assert_eq!(b.req(31).parse::<f64>().unwrap(), 30000.0);
    let s = mm1.er();
    assert_eq!(s.req(150), "F", "{s:?}");
    assert_eq!(s.req(39), "1");
    assert_eq!(s.req(37), order_id);
    assert_eq!(s.req(32).parse::<f64>().unwrap(), 0.2);
    assert_eq!(s.req(14).parse::<f64>().unwrap(), 0.2);
    assert_eq!(s.req(151).parse::<f64>().unwrap(), 0.3);
    assert_eq!(s.req(6).parse::<f64>().unwrap(), 30000.0);
    assert_eq!(s.req(17), b.req(17), "one trade, one ExecID on both sides");

    // Cancel of MM2's filled order: OrderCancelReject with its real status
    // (2 filled), not "unknown" (8): the engine forgot it, the gateway did not.
    mm2.send(
        "F",
        &[
            (41, "B1"),
            (11, "XB1"),
            (55, "BTC-USD"),
            (54, "1"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let cr = mm2.recv_until("9", Duration::from_secs(10));
    assert_eq!(cr.req(11), "XB1", "{cr:?}");
    assert_eq!(cr.req(41), "B1");
    assert_eq!(cr.req(39), "2", "{cr:?}");
    assert_eq!(cr.req(434), "1");
    assert_eq!(cr.req(102), "0", "too late to cancel");
    assert_eq!(cr.req(37), b.req(37), "the order's real OrderID");

    // Replace: new total 0.4 at 30001 (leaves 0.2).
    mm1.send(
        "G",
        &[
            (41, "S1"),
            (11, "S2"),
            (55, "BTC-USD"),
            (54, "2"),
            (60, "20260101-00:00:00.000"),
            (38, "0.4"),
            (40, "2"),
            (44, "30001"),
        ],
    );
    let r = mm1.er();
    assert_eq!(r.req(150), "5", "{r:?}");
    assert_eq!(r.req(11), "S2");
    assert_eq!(r.req(41), "S1");
    assert_eq!(r.req(44).parse::<f64>().unwrap(), 30001.0);
    assert_eq!(r.req(151).parse::<f64>().unwrap(), 0.2);
    assert_eq!(r.req(14).parse::<f64>().unwrap(), 0.2);

    // Cancel.
    mm1.send(
        "F",
        &[
            (41, "S2"),
            (11, "C1"),
            (55, "BTC-USD"),
            (54, "2"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let c = mm1.er();
    assert_eq!(c.req(150), "4", "{c:?}");
    assert_eq!(c.req(39), "4");
    assert_eq!(c.req(151).parse::<f64>().unwrap(), 0.0);

    // Cancel of the cancelled order: OrderCancelReject.
    mm1.send(
        "F",
        &[
            (41, "S2"),
            (11, "C2"),
            (55, "BTC-USD"),
            (54, "2"),
            (60, "20260101-00:00:00.000"),
        ],
    );
    let cr = mm1.recv_until("9", Duration::from_secs(10));
    assert_eq!(cr.req(11), "C2");
    assert_eq!(cr.req(39), "4", "cancelled, not unknown: {cr:?}");
    assert_eq!(cr.req(434), "1");
    assert_eq!(cr.req(37), order_id);

    // Funds: MM2 holds 1,000,000 USD (minus 0.2 BTC bought); 100 BTC at 30000 is 3M.
    mm2.new_order("B2", "BTC-USD", "1", "100", "30000");
    let rej = mm2.er();
    assert_eq!(rej.req(150), "8", "{rej:?}");
    assert_eq!(rej.req(39), "8");
    assert!(rej.req(58).contains("Insufficient funds"), "{rej:?}");

    mm1.logout();
    let mm1_next = mm1.seq;
    mm2.logout();
    let (st, log) = node.terminate();
    assert_eq!(st.code(), Some(0), "{log:#?}");
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped:"))
        .expect("stopped line");
    let hash_before = stopped
        .rsplit("state hash ")
        .next()
        .unwrap()
        .trim()
        .to_string();

    // Restart: same state, FIX sequence numbers continue.
    let mut node = NodeProc::start(&cfg, &data);
    assert_eq!(node.recovered_hash(), hash_before);
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", mm1_next);
    mm1.new_order("S3", "BTC-USD", "2", "0.1", "30000");
    let a = mm1.er();
    assert_eq!(a.req(150), "0");
    // Exchange order ids keep counting after the restart.
    assert!(a.req(37).parse::<u64>().unwrap() > order_id.parse::<u64>().unwrap());
    mm1.logout();
    let (st, _) = node.terminate();
    assert_eq!(st.code(), Some(0));
}

#[test]
fn bad_config_and_unusable_data_dir_fail_before_starting() {
    let t = tempfile::tempdir().unwrap();
    let cfg = write_config(t.path(), &[("tick_size = \"0.01\"", "tick_size = \"0\"")]);
    let (code, _, err) = ringex(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("instruments[0].tick_size"), "{err}");

    let good = write_config(t.path(), &[]);
    let blocker = t.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let bad_dir = blocker.join("data");
    let (code, _, err) = ringex(&[
        "run",
        "--config",
        good.to_str().unwrap(),
        "--data-dir",
        bad_dir.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot create data directory"), "{err}");
}

/// The newest segment file of a data dir's journal.
fn last_segment(data: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(data.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

/// A torn tail is cut on start with nothing acknowledged lost; damage in the
/// middle of the journal stops the node with a message naming the file, and
/// leaves the data as it was.
#[test]
fn torn_tail_recovers_and_mid_log_damage_refuses_to_start() {
    let t = tempfile::tempdir().unwrap();
    // Keep MM1's order resting after its logout.
    let cfg = write_config(
        t.path(),
        &[
            (
                "cancel_on_disconnect = true",
                "cancel_on_disconnect = false",
            ),
            ("segment_size = 67108864", "segment_size = 1048576"),
        ],
    );
    let cfg_s = cfg.to_str().unwrap();
    let data = t.path().join("data");
    let data_s = data.to_str().unwrap();
    let node = NodeProc::start(&cfg, &data);
    let mut mm1 = Fix::logon(node.addr, "MM1", "mm1-secret", 1);
    mm1.new_order("K1", "BTC-USD", "2", "0.25", "31000");
    let ack = mm1.er();
    assert_eq!(ack.req(150), "0");
    let order_id = ack.req(37).to_string();
    mm1.logout();
    let (st, _) = node.terminate();
    assert_eq!(st.code(), Some(0));
    let (_, before, _) = ringex(&["state-hash", "--config", cfg_s, "--data-dir", data_s]);

    // A partial write after the last record: verify says "torn tail" (1).
    let seg = last_segment(&data);
    let mut bytes = std::fs::read(&seg).unwrap();
    // Walk the record frames (total_len u32 first, 0 = end of data).
    let mut end = 32;
    loop {
        let len = u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        end += len;
    }
    bytes[end..end + 12].copy_from_slice(&[0xA5; 12]);
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out, _) = ringex(&["journal", "verify", data_s]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("torn tail"), "{out}");

    // The node cuts it, says so, and the state (the order) is intact.
    let node = NodeProc::start(&cfg, &data);
    let (st, log) = node.terminate();
    assert_eq!(st.code(), Some(0));
    assert!(log.iter().any(|l| l.contains("torn tail")), "{log:#?}");
    let (_, after, _) = ringex(&["state-hash", "--config", cfg_s, "--data-dir", data_s]);
    assert_eq!(before.lines().next(), after.lines().next(), "state changed");
    assert!(
        after
            .lines()
            .any(|l| l.starts_with(&format!("order {order_id} ")) && l.contains("leaves 2500")),
        "{after}"
    );
    let (code, _, _) = ringex(&["journal", "verify", data_s]);
    assert_eq!(code, 0);

    // Damage inside the first record: verify says "damaged" (2) and the node
    // refuses to start, naming the file; nothing is changed on disk.
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[40] ^= 0x5A;
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out, _) = ringex(&["journal", "verify", data_s]);
    assert_eq!(code, 2, "{out}");
    let (code, _, err) = ringex(&["run", "--config", cfg_s, "--data-dir", data_s]);
    assert_ne!(code, 0);
    assert!(err.contains(".seg"), "{err}");
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "a refused start must not touch the journal"
    );
}
