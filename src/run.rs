//! `ringex run` (a primary node until SIGINT/SIGTERM), `ringex state-hash` (the
//! state recomputed offline), and the pieces they share (configuration loading,
//! signals, the lifecycle log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::Config;
use crate::node::{self, DataDir, Node};

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
pub fn run(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> u8 {
    let (cfg, dirs) = match load(config.as_deref(), data_dir.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            log(&e);
            return 2;
        }
    };
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
    log(&format!(
        "starting: data dir {}, journal {} ({} back-end, durability {})",
        dirs.root.display(),
        dirs.journal.display(),
        cfg.journal.backend,
        cfg.journal.durability
    ));
    let fix = crate::fixgw::FixFront::new(cfg, dirs)?;
    let node = Node::start(cfg, dirs, fix.sender())?;
    log(&format!("recovered: {}", node.recovery));
    if node.fresh {
        log(&format!(
            "opened a new venue: {} instruments, {} accounts, {} deposits (journaled)",
            cfg.instruments.len(),
            cfg.accounts.len(),
            cfg.resolve().deposits.len()
        ));
    }
    let dropped = fix.dropped.clone();
    let gw = match fix.start(&node) {
        Ok(g) => g,
        Err(e) => {
            let _ = node.shutdown();
            return Err(e);
        }
    };
    log(&format!(
        "listening: FIX 4.4 on {} as {}",
        gw.local_addr(),
        cfg.fix.comp_id
    ));
    while !stop.load(Ordering::Acquire) {
        if let Some(f) = node.fatal() {
            // Do not drain or snapshot past a failed journal: exit now; the next
            // start recovers from what is on disk.
            log(&format!("fatal: {f}"));
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    log("shutdown: signal received, stopping the FIX gateway and draining the rings");
    gw.stop();
    let s = node.shutdown()?;
    let dropped = dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        log(&format!(
            "warning: {dropped} execution reports could not be handed to their session (gateway stopped or session stuck)"
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
