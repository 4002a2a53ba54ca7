//! Crash tests: SIGKILL the real node at random moments under FIX load, restart,
//! and check that nothing acknowledged was lost and that the recovered state is
//! exactly what a reference replay of the journal gives.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

/// A per-run pseudo-random source (xorshift seeded from the clock; the seed is
/// printed so a failing round can be rerun).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What the client was told about one resting BTC-USD order.
#[derive(Debug, Clone)]
struct Acked {
    session: usize,
    order_id: String,
    leaves: String,
}

fn parse_state(out: &str) -> (String, BTreeMap<String, String>) {
    let hash = out
        .lines()
        .next()
        .and_then(|l| l.split("hash ").nth(1))
        .unwrap_or_else(|| panic!("no hash line in {out}"))
        .trim()
        .to_string();
    // order <id> account .. leaves <q> ..
    let orders = out
        .lines()
        .filter(|l| l.starts_with("order "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let leaves = w
                .iter()
                .position(|x| *x == "leaves")
                .map(|i| w[i + 1].to_string())
                .unwrap();
            (w[1].to_string(), leaves)
        })
        .collect();
    (hash, orders)
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let t = tempfile::tempdir().unwrap();
    let cfg = write_config(
        t.path(),
        &[
            (
                "cancel_on_disconnect = true",
                "cancel_on_disconnect = false",
            ),
            (
                "cancel_on_disconnect = true",
                "cancel_on_disconnect = false",
            ),
            ("segment_size = 67108864", "segment_size = 1048576"),
            ("every_messages = 1000000", "every_messages = 300"),
        ],
    );
    let cfg_s = cfg.to_str().unwrap().to_string();
    let data = t.path().join("data");
    let data_s = data.to_str().unwrap().to_string();
    // BTC-USD orders that were acknowledged as resting, by ClOrdID. The flow
    // never crosses on BTC-USD (MM1 sells >= 31000, MM2 buys <= 29000) so such
    // an order can only leave the book by a cancel this client sends.
    let mut resting: BTreeMap<String, Acked> = BTreeMap::new();
    // Acknowledgements (ER New or Rejected) per ClOrdID, across every run: a
    // report decided before a kill is sent after the restart only if it never
    // reached the session's store, so none is ever sent twice.
    let mut acks: BTreeMap<String, u32> = BTreeMap::new();
    let mut cancel_sent: std::collections::BTreeSet<String> = Default::default();
    let mut seqs = [1u64, 1u64];
    let mut last_in = [0u64, 0u64];
    let mut n = 0u64;
    const ROUNDS: usize = 4;
    for round in 0..ROUNDS {
        let mut node = NodeProc::start(&cfg, &data);
        if round > 0 {
            // Recovery reproduces the reference replay of the journal.
            let (_, out, _) = ringex(&[
                "state-hash",
                "--config",
                &cfg_s,
                "--data-dir",
                &data_s,
                "--full-replay",
            ]);
            let (full_hash, _) = parse_state(&out);
            assert_eq!(
                node.recovered_hash(),
                full_hash,
                "round {round}: recovered state != full replay"
            );
        }
        let mut mm = [
            Fix::logon(node.addr, "MM1", "mm1-secret", seqs[0]),
            Fix::logon(node.addr, "MM2", "mm2-secret", seqs[1]),
        ];
        // The node's FIX sequence numbers survived the kill: its Logon answer
        // continues after everything it sent us before.
        for k in 0..2 {
            assert!(
                mm[k].logon_in > last_in[k],
                "round {round}: session {k} outgoing MsgSeqNum restarted ({} after {})",
                mm[k].logon_in,
                last_in[k]
            );
        }
        let kill_after = Duration::from_millis(300 + rng.next() % 1200);
        let t0 = Instant::now();
        while t0.elapsed() < kill_after {
            for (k, f) in mm.iter_mut().enumerate() {
                n += 1;
                let cl = format!("R{round}N{n}");
                match rng.next() % 4 {
                    0 | 1 => {
                        // Resting BTC-USD order.
                        let (side, px) = if k == 0 {
                            ("2", format!("{}", 31000 + rng.next() % 500))
                        } else {
                            ("1", format!("{}", 28500 + rng.next() % 500))
                        };
                        f.new_order(&cl, "BTC-USD", side, "0.01", &px);
                    }
                    2 => {
                        // Crossing EUR-USD flow: trades between the two sessions.
                        let side = if k == 0 { "2" } else { "1" };
                        f.new_order(&cl, "EUR-USD", side, "10", "1.1");
                    }
                    _ => {
                        // Cancel one of our resting orders.
                        if let Some((c, _)) = resting
                            .iter()
                            .find(|(c, a)| a.session == k && !cancel_sent.contains(*c))
                        {
                            let c = c.clone();
                            cancel_sent.insert(c.clone());
                            f.send(
                                "F",
                                &[
                                    (41, &c),
                                    (11, &format!("{cl}X")),
                                    (55, "BTC-USD"),
                                    (54, if k == 0 { "2" } else { "1" }),
                                    (60, "20260101-00:00:00.000"),
                                ],
                            );
                        }
                    }
                }
                // Read what is there (briefly).
                while let Some(m) = f.recv(Duration::from_millis(2)) {
                    if m.msg_type() == "8" && matches!(m.get(150), Some("0" | "8")) {
                        let n = acks.entry(m.req(11).to_string()).or_default();
                        *n += 1;
                        assert_eq!(*n, 1, "round {round}: acknowledged twice: {m:?}");
                    }
                    if m.msg_type() == "8" && m.get(55) == Some("BTC-USD") && m.req(150) == "0" {
                        resting.insert(
                            m.req(11).to_string(),
                            Acked {
                                session: k,
                                order_id: m.req(37).to_string(),
                                leaves: m.req(151).to_string(),
                            },
                        );
                    }
                }
            }
        }
        seqs = [mm[0].seq, mm[1].seq];
        last_in = [mm[0].last_in, mm[1].last_in];
        node.kill9();

        // The journal is healthy or has a torn tail (which the node cuts).
        let (code, out, _) = ringex(&["journal", "verify", &data_s]);
        assert!(
            code == 0 || code == 1,
            "round {round}: journal verify: {out}"
        );
        // Snapshot + tail == full replay (the reference).
        let (c1, snap_out, e1) = ringex(&["state-hash", "--config", &cfg_s, "--data-dir", &data_s]);
        let (c2, full_out, e2) = ringex(&[
            "state-hash",
            "--config",
            &cfg_s,
            "--data-dir",
            &data_s,
            "--full-replay",
        ]);
        assert_eq!((c1, c2), (0, 0), "{e1} {e2}");
        let (snap_hash, _) = parse_state(&snap_out);
        let (full_hash, orders) = parse_state(&full_out);
        assert_eq!(
            snap_hash, full_hash,
            "round {round}: snapshot+tail != full replay"
        );
        // Every acknowledged resting order we did not try to cancel is there,
        // with the same OrderID and the same remaining quantity.
        let mut checked = 0;
        for (c, a) in &resting {
            if cancel_sent.contains(c) {
                continue;
            }
            let leaves = orders.get(&a.order_id).unwrap_or_else(|| {
                panic!(
                    "round {round}: acknowledged order {c} (OrderID {}) lost",
                    a.order_id
                )
            });
            // State prints lots; 0.01 BTC = 100 lots of 0.0001.
            assert_eq!(a.leaves.parse::<f64>().unwrap(), 0.01, "{a:?}");
            assert_eq!(leaves, "100", "round {round}: order {c} leaves changed");
            checked += 1;
        }
        eprintln!(
            "round {round}: killed after {kill_after:?}, {checked} acknowledged resting orders verified"
        );
    }
    assert!(
        resting.len() > 10,
        "the load produced too few acknowledgements to mean anything"
    );
    // A final clean start still recovers to the reference.
    let mut node = NodeProc::start(&cfg, &data);
    let (_, out, _) = ringex(&[
        "state-hash",
        "--config",
        &cfg_s,
        "--data-dir",
        &data_s,
        "--full-replay",
    ]);
    assert_eq!(node.recovered_hash(), parse_state(&out).0);
    // Reports still owed from the last kill arrive after the logon, once.
    for (k, (comp, pw)) in [("MM1", "mm1-secret"), ("MM2", "mm2-secret")]
        .into_iter()
        .enumerate()
    {
        let mut f = Fix::logon(node.addr, comp, pw, seqs[k]);
        while let Some(m) = f.recv(Duration::from_millis(300)) {
            if m.msg_type() == "8" && matches!(m.get(150), Some("0" | "8")) {
                let n = acks.entry(m.req(11).to_string()).or_default();
                *n += 1;
                assert_eq!(*n, 1, "final start: acknowledged twice: {m:?}");
            }
        }
        f.logout();
    }
    let (st, log) = node.terminate();
    assert_eq!(st.code(), Some(0), "{log:#?}");
}
