//! `ringex bench node`: throughput of the whole inbound pipeline (ring →
//! journal → business logic → outbound ring) with a live secondary (journal +
//! replication + logic on the primary, a second in-process node receiving over
//! loopback UDP), against the same pipeline without replication, in one run.
//!
//! It lives in the `ringex` package, not in `perf`, because it drives
//! [`Node`]s and `ringex` already depends on `perf` (for the reporter and the
//! FIX load generator).

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use engine::msg::{Header, Message, NewOrder};
use engine::types::{OrderType, Side, StpMode, TimeInForce};
use perf::report::{BenchResult, Reporter};

use crate::config::{Config, Role};
use crate::node::stages::EventOut;
use crate::node::{DataDir, Node};

/// Counts events and drops them (no gateway).
struct Discard(std::sync::Arc<AtomicU64>);

impl EventOut for Discard {
    fn deliver(&mut self, _h: &Header, _m: &Message) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Options of `ringex bench node`.
#[derive(Debug, Clone)]
pub struct NodeBenchOptions {
    /// Orders per scenario.
    pub orders: u64,
    /// `replication.max_datagram` for the pair.
    pub max_datagram: usize,
    /// Alternate the two scenarios this many times.
    pub runs: u32,
    /// JSON lines instead of a table.
    pub json: bool,
}

fn order(i: u64) -> Message {
    // Buys from account 1 and sells from account 2 at one price: every sell
    // fills the buy before it, so the book stays small and each pair trades.
    let (account, side) = if i.is_multiple_of(2) {
        (1, Side::Buy)
    } else {
        (2, Side::Sell)
    };
    Message::NewOrder(NewOrder {
        client_order_id: i + 1,
        account,
        instrument: 1,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        stp: StpMode::None,
        post_only: false,
        price: 10_000,
        stop_price: 0,
        qty: 1,
        display_qty: 0,
        quote_budget: 0,
    })
}

fn free_udp() -> Result<SocketAddr, String> {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("no free UDP port: {e}"))
}

fn temp_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "ringex-bench-node-{}-{tag}-{}",
        std::process::id(),
        crate::node::now_ns()
    ))
}

/// Publishes `n` orders as fast as the ring takes them and returns orders/s
/// from the first publish until the logic processed the last.
fn drive(node: &Node, n: u64) -> Result<f64, String> {
    let mut p = node.producer();
    let t0 = Instant::now();
    let mut last = 0;
    for i in 0..n {
        last = p
            .publish_timeout(1, &order(i), Duration::from_secs(30))
            .map_err(|e| format!("publish: {e}"))?;
    }
    node.wait_processed(last, Duration::from_secs(300))?;
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

fn standalone(cfg: &Config, n: u64) -> Result<f64, String> {
    let dir = temp_dir("alone");
    let mut c = cfg.clone();
    c.replication.role = Role::Standalone;
    let r = (|| {
        let node = Node::start(&c, &DataDir::new(&dir, &c), Discard(Default::default()))?;
        let rate = drive(&node, n);
        node.shutdown()?;
        rate
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn pair(cfg: &Config, n: u64, max_datagram: usize) -> Result<(f64, String), String> {
    let (pa, sa) = (free_udp()?, free_udp()?);
    let (pdir, sdir) = (temp_dir("primary"), temp_dir("secondary"));
    let mut pc = cfg.clone();
    pc.replication.role = Role::Primary;
    pc.replication.bind = pa;
    pc.replication.peer = Some(sa);
    pc.replication.max_datagram = max_datagram;
    let mut sc = pc.clone();
    sc.replication.role = Role::Secondary;
    sc.replication.bind = sa;
    sc.replication.peer = Some(pa);
    for c in [&pc, &sc] {
        c.validate()
            .map_err(|(k, p)| format!("config key `{k}`: {p}"))?;
    }
    let r = (|| {
        let sec = Node::start(&sc, &DataDir::new(&sdir, &sc), Discard(Default::default()))?;
        let pri = Node::start(&pc, &DataDir::new(&pdir, &pc), Discard(Default::default()))?;
        let rate = drive(&pri, n)?;
        let last = pri.processed.load(Ordering::Acquire);
        // The secondary has received everything the primary processed.
        sec.wait_processed(last, Duration::from_secs(60))?;
        let status = sec.replication_status().unwrap_or_default();
        let ps = pri.shutdown()?;
        let ss = sec.shutdown()?;
        if ps.state_hash != ss.state_hash || ps.last_seq != ss.last_seq {
            return Err(format!(
                "the secondary diverged: seq {} hash {:016x} vs primary seq {} hash {:016x}",
                ss.last_seq, ss.state_hash, ps.last_seq, ps.state_hash
            ));
        }
        Ok((rate, status))
    })();
    let _ = std::fs::remove_dir_all(&pdir);
    let _ = std::fs::remove_dir_all(&sdir);
    r
}

/// Runs the benchmark; the exit code.
pub fn run(o: &NodeBenchOptions) -> u8 {
    let mut cfg = match Config::default_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringex bench node: {e}");
            return 2;
        }
    };
    // Snapshots only at shutdown: they are not what this measures.
    cfg.snapshot.every_messages = 0;
    cfg.snapshot.every_secs = 0;
    let mut rep = Reporter::new(o.json);
    let params = serde_json::json!({
        "orders": o.orders,
        "max_datagram": o.max_datagram,
        "wait": cfg.pipeline.logic.wait,
        "replication_idle": format!("{:?}", cfg.replication.idle),
    });
    for run in 0..o.runs.max(1) {
        match standalone(&cfg, o.orders) {
            Ok(r) => rep.report(
                BenchResult::throughput("node", "journal+logic", "ringex/standalone", r)
                    .with_params(params.clone()),
            ),
            Err(e) => {
                eprintln!("ringex bench node: standalone run {run}: {e}");
                return 1;
            }
        }
        match pair(&cfg, o.orders, o.max_datagram) {
            Ok((r, status)) => {
                rep.report(
                    BenchResult::throughput(
                        "node",
                        "journal+replication+logic",
                        "ringex/primary+secondary",
                        r,
                    )
                    .with_params(params.clone()),
                );
                if !o.json {
                    rep.note(&status);
                }
            }
            Err(e) => {
                eprintln!("ringex bench node: pair run {run}: {e}");
                return 1;
            }
        }
    }
    0
}
