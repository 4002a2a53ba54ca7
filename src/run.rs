//! `ringex run` (a node until SIGINT/SIGTERM: standalone, primary or secondary),
//! `ringex promote` (turn a running secondary into the primary), `ringex
//! state-hash` (the state recomputed offline), and the pieces they share
//! (configuration loading, signals, the lifecycle log).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, Role};
use crate::node::{self, DataDir, Node};

/// Name of the control file `ringex promote` creates in a secondary's data
/// directory; the running secondary promotes itself when it appears and
/// removes it once its FIX gateway is open.
pub const PROMOTE_FILE: &str = "PROMOTE";

/// Command-line overrides of `ringex run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Configuration file.
    pub config: Option<PathBuf>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// `replication.role`.
    pub role: Option<Role>,
    /// `replication.peer` (`--primary` / `--secondary`).
    pub peer: Option<SocketAddr>,
    /// `replication.bind`.
    pub repl_bind: Option<SocketAddr>,
}

/// Applies the command-line overrides and re-checks the configuration.
fn apply_overrides(cfg: &mut Config, o: &RunOptions) -> Result<(), String> {
    if let Some(r) = o.role {
        cfg.replication.role = r;
    }
    if let Some(p) = o.peer {
        cfg.replication.peer = Some(p);
    }
    if let Some(b) = o.repl_bind {
        cfg.replication.bind = b;
    }
    cfg.validate()
        .map_err(|(k, p)| format!("config error (with command-line overrides): key `{k}`: {p}"))
}

/// One lifecycle log line on stderr (nothing is logged per message).
pub fn log(line: &str) {
    eprintln!("ringex: {line}");
}

/// Loads the configuration and picks the data directory (`--data-dir` wins).
pub fn load(config: Option<&Path>, data_dir: Option<&Path>) -> Result<(Config, DataDir), String> {
    let cfg = Config::load(config).map_err(|e| e.to_string())?;
    let root = data_dir.map_or_else(|| cfg.node.data_dir.clone(), Path::to_path_buf);
    let dirs = DataDir::new(&root, &cfg);
    Ok((cfg, dirs))
}

/// Installs SIGINT/SIGTERM handlers that set the returned flag.
pub fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .map_err(|e| format!("cannot install signal handler: {e}"))?;
    }
    Ok(flag)
}

/// Runs a node until SIGINT/SIGTERM (or a fatal stage error). Returns the exit code.
pub fn run(opts: RunOptions) -> u8 {
    let (mut cfg, dirs) = match load(opts.config.as_deref(), opts.data_dir.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            log(&e);
            return 2;
        }
    };
    if let Err(e) = apply_overrides(&mut cfg, &opts) {
        log(&e);
        return 2;
    }
    let stop = match stop_flag() {
        Ok(f) => f,
        Err(e) => {
            log(&e);
            return 1;
        }
    };
    match run_node(&cfg, &dirs, &stop) {
        Ok(()) => 0,
        Err(e) => {
            log(&format!("fatal: {e}"));
            1
        }
    }
}

fn run_node(cfg: &Config, dirs: &DataDir, stop: &AtomicBool) -> Result<(), String> {
    let role = cfg.replication.role;
    log(&format!(
        "starting: data dir {}, journal {} ({} back-end, durability {}), role {role}",
        dirs.root.display(),
        dirs.journal.display(),
        cfg.journal.backend,
        cfg.journal.durability
    ));
    let fix = crate::fixgw::FixFront::new(cfg, dirs)?;
    let dropped = fix.dropped.clone();
    let promote_file = dirs.root.join(PROMOTE_FILE);
    if role == Role::Secondary && promote_file.exists() {
        log("promote: removing a stale promotion request left from before this start");
        let _ = std::fs::remove_file(&promote_file);
    }
    let mut node = Node::start(cfg, dirs, fix.sender())?;
    log(&format!("recovered: {}", node.recovery));
    if node.fresh && role != Role::Secondary {
        log(&format!(
            "opened a new venue: {} instruments, {} accounts, {} deposits (journaled)",
            cfg.instruments.len(),
            cfg.accounts.len(),
            cfg.resolve().deposits.len()
        ));
    }
    let peer = cfg
        .replication
        .peer
        .map_or_else(String::new, |a| a.to_string());
    let mut fix = Some(fix);
    let mut gw = None;
    match role {
        Role::Secondary => log(&format!(
            "secondary: replicating from the primary at {peer} (epoch {}, bound {}); FIX gateway closed until `ringex promote --data-dir {}`",
            cfg.replication.epoch,
            cfg.replication.bind,
            dirs.root.display()
        )),
        Role::Primary => log(&format!(
            "primary: replicating to the secondary at {peer} (epoch {}, bound {}, policy {:?})",
            cfg.replication.epoch,
            cfg.replication.bind,
            cfg.replication.policy()
        )),
        Role::Standalone => {}
    }
    if role != Role::Secondary {
        match open_gateway(cfg, &mut fix, &node) {
            Ok(g) => gw = Some(g),
            Err(e) => {
                let _ = node.shutdown();
                return Err(e);
            }
        }
    }
    let status_every =
        (cfg.replication.status_secs > 0).then(|| Duration::from_secs(cfg.replication.status_secs));
    let mut last_status = Instant::now();
    let mut was_in_sync = true;
    while !stop.load(Ordering::Acquire) {
        if let Some(f) = node.fatal() {
            // Do not drain or snapshot past a failed journal: exit now; the next
            // start recovers from what is on disk.
            log(&format!("fatal: {f}"));
            std::process::exit(3);
        }
        if gw.is_none() && promote_file.exists() {
            let r = promote(cfg, dirs, &mut node, &mut fix);
            let _ = std::fs::remove_file(&promote_file);
            match r {
                Ok(g) => gw = Some(g),
                Err(e) => {
                    let _ = node.shutdown();
                    return Err(format!("promotion failed: {e}"));
                }
            }
        }
        let in_sync = node.checkpoints.in_sync();
        let changed = in_sync != was_in_sync;
        was_in_sync = in_sync;
        if changed || status_every.is_some_and(|d| last_status.elapsed() >= d) {
            if let Some(s) = node.replication_status() {
                log(&s);
            }
            last_status = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    log("shutdown: signal received, stopping the FIX gateway and draining the rings");
    if let Some(g) = gw {
        g.stop();
    }
    if let Some(s) = node.replication_status() {
        log(&s);
    }
    let kept = node.kept.load(Ordering::Relaxed);
    let s = node.shutdown()?;
    let dropped = dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        log(&format!(
            "warning: {dropped} execution reports could not be handed to their session (gateway stopped or session stuck)"
        ));
    }
    if kept > 0 {
        log(&format!(
            "secondary: {kept} events produced and kept (not sent: no gateway)"
        ));
    }
    if s.refused > 0 || s.faults > 0 {
        log(&format!(
            "warning: {} undecodable inputs refused, {} internal logic faults",
            s.refused, s.faults
        ));
    }
    log(&format!(
        "stopped: last seq {}, snapshot at seq {}, state hash {:016x}",
        s.last_seq, s.snapshot_seq, s.state_hash
    ));
    Ok(())
}

/// Opens the FIX gateway (once) and logs the listening line.
fn open_gateway(
    cfg: &Config,
    fix: &mut Option<crate::fixgw::FixFront>,
    node: &Node,
) -> Result<gateway::fix::net::Gateway, String> {
    let front = fix.take().ok_or("the FIX gateway was already opened")?;
    let gw = front.start(node)?;
    log(&format!(
        "listening: FIX 4.4 on {} as {}",
        gw.local_addr(),
        cfg.fix.comp_id
    ));
    Ok(gw)
}

/// A secondary becomes the primary: stop receiving, apply what was received,
/// seed the FIX session stores from the replicated stream, open the gateway.
fn promote(
    cfg: &Config,
    dirs: &DataDir,
    node: &mut Node,
    fix: &mut Option<crate::fixgw::FixFront>,
) -> Result<gateway::fix::net::Gateway, String> {
    log("promote: requested; stopping replication from the old primary");
    let last = node.promote()?;
    log(&format!(
        "promote: applied everything received, last seq {last}, state hash {}",
        if node.checkpoints.in_sync() {
            "in sync at every checkpoint compared"
        } else {
            "MISMATCHED at a checkpoint (see above)"
        }
    ));
    // Logs one line per seeded session.
    crate::fixgw::seed_sessions_for_promotion(cfg, dirs, last)?;
    let gw = open_gateway(cfg, fix, node)?;
    log(&format!(
        "promoted: now the primary (no secondary), continuing from seq {}",
        last + 1
    ));
    Ok(gw)
}

/// `ringex promote`: asks the secondary running on `data_dir` to become the
/// primary and waits until it has opened its FIX gateway. Returns the exit code.
pub fn request_promotion(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    timeout: Duration,
) -> u8 {
    let (_, dirs) = match load(config.as_deref(), data_dir.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            log(&e);
            return 2;
        }
    };
    if !dirs.root.is_dir() {
        log(&format!(
            "promote: no data directory {}",
            dirs.root.display()
        ));
        return 2;
    }
    let f = dirs.root.join(PROMOTE_FILE);
    let text = format!(
        "promotion requested by ringex promote (pid {})\n",
        std::process::id()
    );
    if let Err(e) = std::fs::write(&f, text) {
        log(&format!("promote: cannot write {}: {e}", f.display()));
        return 2;
    }
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if !f.exists() {
            println!(
                "promotion request taken by the node on {} (its log says whether its gateway opened)",
                dirs.root.display()
            );
            return 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(&f);
    log(&format!(
        "promote: no secondary took the request within {timeout:?} (is one running with --data-dir {}?); request withdrawn",
        dirs.root.display()
    ));
    1
}

/// `ringex state-hash`: the state recomputed offline from the data directory
/// (newest snapshot + journal tail, or the whole journal with `full_replay`).
/// Prints `seq <last> hash <hex>` and per-account balances. Read-only.
pub fn state_hash(config: Option<PathBuf>, data_dir: Option<PathBuf>, full_replay: bool) -> u8 {
    let (cfg, dirs) = match load(config.as_deref(), data_dir.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            log(&e);
            return 2;
        }
    };
    let report = match journal::verify(&dirs.journal) {
        Ok(r) => r,
        Err(e) => {
            log(&format!("journal {}: {e}", dirs.journal.display()));
            return 2;
        }
    };
    match node::recovery::recover(
        &dirs.journal,
        node::logic_config(&cfg),
        report.last_seq,
        !full_replay,
    ) {
        Ok((logic, sum)) => {
            println!("seq {} hash {:016x}", sum.last_seq, sum.state_hash);
            let mut accounts: Vec<u32> = cfg.accounts.iter().map(|a| a.id).collect();
            accounts.push(cfg.node.fee_account);
            accounts.sort_unstable();
            for a in accounts {
                if let Some(bals) = logic.risk().balances(a) {
                    for (asset, b) in bals {
                        println!(
                            "account {a} asset {asset} available {} reserved {}",
                            b.available, b.reserved
                        );
                    }
                }
            }
            for (id, o) in logic.orders().iter() {
                println!(
                    "order {id} account {} instrument {} clordid {} side {:?} price {} leaves {} cum {}",
                    o.account,
                    o.instrument,
                    o.client_order_id,
                    o.side,
                    o.price,
                    o.leaves,
                    o.cum_qty
                );
            }
            0
        }
        Err(e) => {
            log(&e);
            2
        }
    }
}
