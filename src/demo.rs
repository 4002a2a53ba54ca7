//! `ringex demo`: a node on the embedded default configuration in a temporary
//! data directory, the FIX load generator (`perf::fixload`) against it for a
//! while, progress lines, a summary; then everything is stopped and removed.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::fixgw::FixFront;
use crate::node::{DataDir, Node};
use crate::run::log;

/// Runs the demo; the exit code.
pub fn demo(secs: u64, rate: u64) -> u8 {
    let dir = std::env::temp_dir().join(format!("ringex-demo-{}", std::process::id()));
    let code = match run_demo(&dir, secs, rate) {
        Ok(()) => 0,
        Err(e) => {
            log(&format!("demo failed: {e}"));
            1
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn run_demo(dir: &std::path::Path, secs: u64, rate: u64) -> Result<(), String> {
    let mut cfg = Config::default_config().map_err(|e| e.to_string())?;
    cfg.fix.listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let dirs = DataDir::new(dir, &cfg);
    log(&format!(
        "demo: node data in {} (removed at the end)",
        dir.display()
    ));
    let fix = FixFront::new(&cfg, &dirs)?;
    let node = Node::start(&cfg, &dirs, fix.sender())?;
    let gw = fix.start(&node)?;
    log(&format!(
        "demo: node listening on {}; load: {rate} requests/s for {secs} s from MM1 and MM2",
        gw.local_addr()
    ));
    let lc = perf::fixload::LoadConfig {
        addr: gw.local_addr(),
        rate,
        duration: Duration::from_secs(secs),
        floor_duration: Duration::from_secs(secs.clamp(1, 5)),
        ..perf::fixload::LoadConfig::default()
    };
    let t0 = Instant::now();
    let result = perf::fixload::run(&lc, &mut |p| eprintln!("demo: {}", p.line()));
    gw.stop();
    let processed = node.processed.load(std::sync::atomic::Ordering::Acquire);
    let delivered = node.delivered.load(std::sync::atomic::Ordering::Acquire);
    let s = node.shutdown()?;
    let report = result.map_err(|e| format!("load generator: {e}"))?;
    println!("ringex demo summary ({:.1} s)", t0.elapsed().as_secs_f64());
    for line in report.summary_lines() {
        println!("  {line}");
    }
    println!(
        "  node: {processed} commands journaled and processed, {delivered} execution reports sent, final state hash {:016x}",
        s.state_hash
    );
    Ok(())
}
