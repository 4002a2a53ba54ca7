//! Shared pieces of the node commands (configuration loading, signals, the
//! lifecycle log) and `ringex state-hash`: the state recomputed offline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::node::{self, DataDir};

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
