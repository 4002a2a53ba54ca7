//! A primary node: rings, stages, recovery, snapshots, shutdown.
//!
//! ```text
//! producers (FIX gateway threads, startup admin) --> inbound ring (multi-producer)
//!     --> journal stage --> business-logic stage --> outbound ring (single producer)
//!     --> sender stage --> the session's gateway thread
//! ```
//!
//! [`Node::start`] opens (and so repairs) the journal, recovers the state from
//! the newest snapshot plus the journal tail, starts the stage threads, and on a
//! brand-new data directory publishes the configuration's admin commands. The
//! caller then opens its gateways with [`Node::producer`] and stops everything
//! with [`Node::shutdown`] (drain, final snapshot).
//!
//! With `replication.role = "primary"` a `replicate` stage runs beside the
//! journal stage and the logic waits for both and, through a gate, for the
//! secondary's acknowledgement; with `"secondary"` a receiver
//! thread is the inbound ring's only producer and the outputs are kept back
//! until [`Node::promote`] (see [`repl`]).

pub mod addressed;
pub mod admin;
pub mod checkpoint;
pub mod recovery;
pub mod repl;
pub mod slot;
pub mod stages;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::logic::{Logic, LogicConfig};
use engine::msg::{Header, Message};
use engine::pipeline::{Pipeline, PipelineBuilder, StageConfig, StageId};
use engine::ring::{MultiProducer, MultiSequencer, Producer, RingError, SingleSequencer};

use crate::config::{Config, MAX_ACCOUNTS, MAX_INSTRUMENTS, Role};
use addressed::LastAddressed;
use checkpoint::{Checkpointer, Checkpoints, Side};
use recovery::RecoverySummary;
use repl::{Gated, PrimaryRepl, SecondaryRepl};
use slot::Slot;
use stages::SnapshotJob;
use stages::{EventOut, Fatal, JournalStage, LogicStage, SenderStage, SnapshotPolicy};

/// Nanoseconds since the Unix epoch: the timestamp stamped on each command.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The business-logic parameters the configuration implies.
pub fn logic_config(cfg: &Config) -> LogicConfig {
    LogicConfig {
        fee_account: cfg.node.fee_account,
        max_accounts: MAX_ACCOUNTS,
        max_instruments: MAX_INSTRUMENTS,
        book_capacity: 1 << 14,
    }
}

/// A handle that publishes commands into the inbound ring: it stamps each with
/// its journal sequence (ring sequence + base) and the time. Clone one per
/// gateway thread.
#[derive(Clone)]
pub struct InboundProducer {
    p: MultiProducer<Slot>,
    base: u64,
}

impl InboundProducer {
    /// Publishes `m` from `session` if the ring has room now; `Err(Full)` says
    /// the node is overloaded (answer the sender, do not queue).
    pub fn try_publish(&mut self, session: u32, m: &Message) -> Result<u64, RingError> {
        let mut c = self.p.try_claim()?;
        let seq = c.first() as u64 + self.base;
        let h = Header {
            session,
            seq,
            timestamp_ns: now_ns(),
        };
        c.first_mut().write(&h, m);
        Ok(seq)
    }

    /// Publishes `m`, waiting up to `timeout` for room.
    pub fn publish_timeout(
        &mut self,
        session: u32,
        m: &Message,
        timeout: Duration,
    ) -> Result<u64, RingError> {
        let mut c = self.p.claim_timeout(timeout)?;
        let seq = c.first() as u64 + self.base;
        let h = Header {
            session,
            seq,
            timestamp_ns: now_ns(),
        };
        c.first_mut().write(&h, m);
        Ok(seq)
    }
}

impl InboundProducer {
    /// Publishes an already encoded record (a secondary's copy of the primary's
    /// stream) unchanged, waiting for room. Its sequence must be the one this
    /// ring position maps to, or the streams have diverged (an error).
    pub fn publish_raw(&mut self, seq: u64, rec: &[u8]) -> Result<(), String> {
        if rec.len() > engine::msg::MAX_MESSAGE_LEN || slot::record_seq(rec) != seq {
            return Err(format!(
                "malformed record ({} bytes, header seq {})",
                rec.len(),
                slot::record_seq(rec)
            ));
        }
        let mut c = self.p.claim().map_err(|e| e.to_string())?;
        let at = c.first() as u64 + self.base;
        let b = &mut c.first_mut().bytes;
        b[..rec.len()].copy_from_slice(rec);
        if at != seq {
            // Leave an undecodable record rather than a wrong one, and fail.
            b[..2].copy_from_slice(&0u16.to_le_bytes());
            return Err(format!(
                "record seq {seq} arrived at ring position seq {at}"
            ));
        }
        Ok(())
    }
}

/// The node's replication side, per role.
enum Replication {
    None,
    Primary(PrimaryRepl),
    Secondary(SecondaryRepl),
}

/// Paths of a node's data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The data directory.
    pub root: PathBuf,
    /// Journal (and snapshots) directory.
    pub journal: PathBuf,
    /// FIX session stores.
    pub fix: PathBuf,
}

impl DataDir {
    /// Layout under `root` per the configuration.
    pub fn new(root: &Path, cfg: &Config) -> DataDir {
        DataDir {
            root: root.to_path_buf(),
            journal: root.join(&cfg.journal.dir),
            fix: root.join("fix"),
        }
    }

    /// Creates the directories and checks they are writable; a clear error otherwise.
    pub fn prepare(&self) -> Result<(), String> {
        for d in [&self.root, &self.journal, &self.fix] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create data directory {}: {e}", d.display()))?;
            let probe = d.join(".ringex-write-probe");
            std::fs::write(&probe, b"ok")
                .map_err(|e| format!("data directory {} is not writable: {e}", d.display()))?;
            let _ = std::fs::remove_file(&probe);
        }
        Ok(())
    }
}

/// What [`Node::shutdown`] reports.
#[derive(Debug, Clone)]
pub struct ShutdownSummary {
    /// Last sequence processed.
    pub last_seq: u64,
    /// State hash at shutdown.
    pub state_hash: u64,
    /// Sequence of the final snapshot.
    pub snapshot_seq: u64,
    /// Inputs the logic refused as undecodable, and internal inconsistencies the
    /// logic met (both 0 unless something is wrong).
    pub refused: u64,
    /// See `refused`.
    pub faults: u64,
}

/// A started node (stage threads running).
pub struct Node {
    inbound: Option<Pipeline<Slot, MultiSequencer>>,
    outbound: Option<Pipeline<Slot, SingleSequencer>>,
    producer: InboundProducer,
    journal_stage: StageId,
    logic_stage: StageId,
    snap_thread: Option<JoinHandle<()>>,
    snap_tx: Option<std::sync::mpsc::SyncSender<SnapshotJob>>,
    journal_dir: PathBuf,
    fatal: Fatal,
    repl: Replication,
    out_open: Arc<std::sync::atomic::AtomicBool>,
    /// The replication role this node runs in now (a promoted secondary reports
    /// `Standalone`: it has no peer).
    pub role: Role,
    /// State-hash checkpoints exchanged with the peer.
    pub checkpoints: Arc<Checkpoints>,
    /// Events a secondary produced and kept back (not sent: no gateway).
    pub kept: Arc<AtomicU64>,
    /// Last sequence the logic processed.
    pub processed: Arc<AtomicU64>,
    /// Last sequence journaled.
    pub journaled: Arc<AtomicU64>,
    /// Events delivered to sessions.
    pub delivered: Arc<AtomicU64>,
    /// What recovery did.
    pub recovery: RecoverySummary,
    /// Whether this start opened a brand-new venue.
    pub fresh: bool,
    /// Events recovery found the sessions are still owed, in order (engine
    /// sessions in their headers): the FIX front sends them after each
    /// session's next logon.
    pub owed: Vec<Slot>,
    /// The logic's output sequence at its last batch end: events up to here
    /// were handed to the sender (or are in `owed`).
    pub out_seq: Arc<AtomicU64>,
}

fn stage_cfg(s: &crate::config::StageConfig) -> StageConfig {
    StageConfig::default()
        .wait(s.wait_strategy())
        .cpu(s.cpu)
        .max_batch(Some(4096))
}

impl Node {
    /// Opens the journal, recovers, starts the stages, publishes the opening
    /// admin commands on a fresh venue. `out` receives the events addressed to
    /// sessions.
    pub fn start<O: EventOut>(cfg: &Config, dirs: &DataDir, out: O) -> Result<Node, String> {
        dirs.prepare()?;
        let (journal, report) = journal::Journal::open(&dirs.journal, cfg.journal.writer_config())
            .map_err(|e| format!("journal {}: {e}", dirs.journal.display()))?;
        if let Some(t) = &report.truncated {
            eprintln!(
                "ringex: journal: cut a torn tail of {} bytes at offset {} of {} ({})",
                t.bytes,
                t.offset,
                t.segment.display(),
                t.reason
            );
        }
        if let Some(why) = journal.fallback_reason() {
            eprintln!("ringex: journal: {why}");
        }
        // What each FIX session's store already holds: recovery regenerates the
        // execution reports above it (decided before a crash, never sent).
        let marks = crate::fixgw::delivery_marks(cfg, dirs)?;
        let (logic, recovery, owed) = recovery::recover_owed(
            &dirs.journal,
            logic_config(cfg),
            report.last_seq,
            true,
            &marks,
        )?;
        let fresh = report.last_seq.is_none() && recovery.snapshot_seq == 0;
        let base = journal.next_seq();
        let out_open = Arc::new(std::sync::atomic::AtomicBool::new(
            cfg.replication.role != Role::Secondary,
        ));
        let kept = Arc::new(AtomicU64::new(0));
        let gated = Gated::new(out, out_open.clone(), kept.clone());
        let mut node = Self::start_with(cfg, dirs, journal, logic, recovery, base, fresh, gated)?;
        node.out_open = out_open;
        node.kept = kept;
        node.owed = owed;
        Ok(node)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_with<O: EventOut>(
        cfg: &Config,
        dirs: &DataDir,
        journal: journal::Journal,
        logic: Logic,
        recovery: RecoverySummary,
        base: u64,
        fresh: bool,
        out: O,
    ) -> Result<Node, String> {
        let fatal: Fatal = Arc::new(Mutex::new(None));
        let processed = Arc::new(AtomicU64::new(recovery.last_seq));
        let journaled = Arc::new(AtomicU64::new(base.saturating_sub(1)));
        let delivered = Arc::new(AtomicU64::new(0));
        let p = &cfg.pipeline;

        // Outbound first: the logic stage needs its producer.
        let mut ob = PipelineBuilder::single_producer(p.outbound_ring_size, Slot::default)
            .map_err(|e| format!("outbound ring: {e}"))?;
        ob.stage(
            "sender",
            &[],
            SenderStage::new(out, delivered.clone()),
            stage_cfg(&p.sender),
        )
        .map_err(|e| format!("sender stage: {e}"))?;
        let (outbound, out_producer) = ob.start().map_err(|e| format!("outbound ring: {e}"))?;

        // Snapshot writer thread.
        let (snap_tx, snap_rx) = sync_channel::<SnapshotJob>(2);
        let snaps = journal::Snapshots::open(&dirs.journal).map_err(|e| e.to_string())?;
        let keep = cfg.snapshot.keep;
        let snap_fatal = fatal.clone();
        let snap_thread = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                for (seq, blob, addressed) in snap_rx {
                    if let Err(e) = save_snapshot(&snaps, seq, &blob, keep, &addressed) {
                        eprintln!("ringex: snapshot at seq {seq} failed: {e}");
                        let _ = &snap_fatal;
                    }
                }
            })
            .map_err(|e| format!("snapshot thread: {e}"))?;

        let mut ib = PipelineBuilder::multi_producer(p.inbound_ring_size, Slot::default)
            .map_err(|e| format!("inbound ring: {e}"))?;
        let journal_stage = ib
            .stage(
                "journal",
                &[],
                JournalStage::new(journal, fatal.clone(), journaled.clone()),
                stage_cfg(&p.journal),
            )
            .map_err(|e| format!("journal stage: {e}"))?;
        // The business logic waits for every durability stage (journal today;
        // replication joins this list).
        let role = cfg.replication.role;
        let checkpoints = Arc::new(Checkpoints::default());
        let mut repl = Replication::None;
        let mut logic_deps = vec![journal_stage];
        let mut ack_gate = None;
        if role == Role::Primary {
            let (pr, stage, gate) = PrimaryRepl::start(
                &cfg.replication,
                dirs.journal.clone(),
                base,
                checkpoints.clone(),
                ib.ring(),
            )?;
            let id = ib
                .stage("replicate", &[], stage, stage_cfg(&p.replicate))
                .map_err(|e| format!("replicate stage: {e}"))?;
            // The stage's sequence is what it *sent*; the gate adds the
            // secondary's acknowledgement: logic waits on min(journal, sent, acked).
            logic_deps.push(id);
            ack_gate = Some(gate);
            repl = Replication::Primary(pr);
        }
        let addressed = recovery.addressed.clone();
        let mut logic_stage = LogicStage::new(
            logic,
            out_producer,
            SnapshotPolicy {
                every_messages: cfg.snapshot.every_messages,
                every: (cfg.snapshot.every_secs > 0)
                    .then(|| Duration::from_secs(cfg.snapshot.every_secs)),
            },
            snap_tx.clone(),
            processed.clone(),
        )
        .with_addressed(addressed);
        let every = cfg.replication.checkpoint_every;
        if role != Role::Standalone && every > 0 {
            let side = if role == Role::Primary {
                Side::Primary
            } else {
                Side::Secondary
            };
            logic_stage = logic_stage.with_checkpoints(Checkpointer::new(
                every,
                recovery.last_seq,
                side,
                checkpoints.clone(),
            ));
        }
        let out_seq = logic_stage.out_seq.clone();
        let logic_stage = match ack_gate {
            Some(gate) => {
                ib.stage_gated("logic", &logic_deps, gate, logic_stage, stage_cfg(&p.logic))
            }
            None => ib.stage("logic", &logic_deps, logic_stage, stage_cfg(&p.logic)),
        }
        .map_err(|e| format!("logic stage: {e}"))?;
        let (inbound, producer) = ib.start().map_err(|e| format!("inbound ring: {e}"))?;
        let producer = InboundProducer { p: producer, base };
        if role == Role::Secondary {
            repl = Replication::Secondary(SecondaryRepl::start(
                &cfg.replication,
                base,
                producer.clone(),
                checkpoints.clone(),
                fatal.clone(),
            )?);
        }
        let mut node = Node {
            inbound: Some(inbound),
            outbound: Some(outbound),
            producer,
            journal_stage,
            logic_stage,
            snap_thread: Some(snap_thread),
            snap_tx: Some(snap_tx),
            journal_dir: dirs.journal.clone(),
            fatal,
            repl,
            out_open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            role,
            checkpoints,
            kept: Arc::new(AtomicU64::new(0)),
            processed,
            journaled,
            delivered,
            recovery,
            fresh,
            owed: Vec::new(),
            out_seq,
        };
        // A secondary's venue is opened by the primary's stream.
        if fresh && role != Role::Secondary {
            let cmds = admin::opening_commands(cfg);
            let mut last = 0;
            for m in &cmds {
                last = node
                    .producer
                    .publish_timeout(0, m, Duration::from_secs(10))
                    .map_err(|e| format!("publishing the opening admin commands: {e}"))?;
            }
            if role == Role::Primary {
                // Under `wait` this needs the secondary: wait for it as long as it takes.
                if node.wait_processed(last, Duration::from_secs(2)).is_err() {
                    crate::run::log(&format!(
                        "replication: waiting for the secondary at {} to acknowledge the opening commands",
                        cfg.replication
                            .peer
                            .map_or_else(String::new, |a| a.to_string())
                    ));
                    node.wait_processed(last, Duration::from_secs(24 * 3600))?;
                }
            } else {
                node.wait_processed(last, Duration::from_secs(30))?;
            }
        }
        Ok(node)
    }

    /// One replication status line (None when standalone).
    pub fn replication_status(&self) -> Option<String> {
        match &self.repl {
            Replication::None => None,
            Replication::Primary(p) => Some(p.shared.status()),
            Replication::Secondary(s) => Some(s.status()),
        }
    }

    /// The primary's replication counters (None unless primary).
    pub fn primary_stats(&self) -> Option<replication::PrimaryStats> {
        match &self.repl {
            Replication::Primary(p) => Some(p.shared.stats()),
            _ => None,
        }
    }

    /// The secondary's receiver counters (None unless secondary).
    pub fn secondary_stats(&self) -> Option<replication::SecondaryStats> {
        match &self.repl {
            Replication::Secondary(s) => Some(s.shared.stats()),
            _ => None,
        }
    }

    /// Secondary → primary: stops receiving from the old primary, waits until
    /// the logic applied everything received, and opens the output gate (events
    /// from now on are delivered). Returns the last applied sequence; the caller
    /// then opens the gateways, whose commands continue from the next one.
    pub fn promote(&mut self) -> Result<u64, String> {
        let Replication::Secondary(s) = &mut self.repl else {
            return Err(format!("this node is {}, not a secondary", self.role));
        };
        let next = s.stop();
        let last = next.saturating_sub(1);
        self.wait_processed(last, Duration::from_secs(60))?;
        self.repl = Replication::None;
        self.role = Role::Standalone;
        self.out_open.store(true, Ordering::Release);
        Ok(last)
    }

    /// A producer for a gateway thread.
    pub fn producer(&self) -> InboundProducer {
        self.producer.clone()
    }

    /// The fatal error a stage hit, if any (the node must exit).
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|g| g.clone())
    }

    /// Waits until the logic has processed `seq`.
    pub fn wait_processed(&self, seq: u64, timeout: Duration) -> Result<(), String> {
        let t0 = std::time::Instant::now();
        while self.processed.load(Ordering::Acquire) < seq {
            if let Some(f) = self.fatal() {
                return Err(f);
            }
            if t0.elapsed() > timeout {
                return Err(format!(
                    "the business logic did not reach seq {seq} in {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Stops the stages after draining what was published (stop the gateways
    /// first), takes a final snapshot and closes the journal.
    pub fn shutdown(mut self) -> Result<ShutdownSummary, String> {
        let inbound = self.inbound.take().ok_or("already shut down")?;
        match &mut self.repl {
            Replication::Primary(p) => p.begin_stop(),
            Replication::Secondary(s) => {
                s.stop();
            }
            Replication::None => {}
        }
        let mut halted = inbound.halt().map_err(|e| e.to_string())?;
        if let Replication::Primary(p) = std::mem::replace(&mut self.repl, Replication::None) {
            let st = p.stop();
            crate::run::log(&format!(
                "replication: {} records sent, {} datagrams resent ({} from the journal), {} degradations, {} checkpoints sent",
                st.records_sent,
                st.datagrams_resent,
                st.resent_from_source,
                st.degrade_events,
                st.checkpoints_sent
            ));
        }
        let stage: LogicStage = halted.take(self.logic_stage).map_err(|e| e.to_string())?;
        let js: JournalStage = halted.take(self.journal_stage).map_err(|e| e.to_string())?;
        if let Some(o) = self.outbound.take() {
            o.halt().map_err(|e| e.to_string())?;
        }
        if let Some(f) = self.fatal() {
            return Err(f);
        }
        js.close()?;
        // Stop the background writer (every sender dropped), then write the
        // final snapshot here.
        let refused = stage.refused;
        let addressed = stage.addressed.clone();
        let logic = stage.into_logic();
        drop(self.snap_tx.take());
        if let Some(t) = self.snap_thread.take() {
            let _ = t.join();
        }
        let seq = logic.last_input_seq();
        let snaps = journal::Snapshots::open(&self.journal_dir).map_err(|e| e.to_string())?;
        let mut snapshot_seq = 0;
        if seq > 0 {
            save_snapshot(&snaps, seq, &logic.snapshot(), usize::MAX, &addressed)?;
            snapshot_seq = seq;
        }
        Ok(ShutdownSummary {
            last_seq: seq,
            state_hash: logic.state_hash(),
            snapshot_seq,
            refused,
            faults: logic.faults().0,
        })
    }
}

/// Saves a snapshot (and, beside it, the sessions' last addressed events) and
/// deletes all but the newest `keep`.
fn save_snapshot(
    snaps: &journal::Snapshots,
    seq: u64,
    blob: &[u8],
    keep: usize,
    last: &LastAddressed,
) -> Result<(), String> {
    if snaps.list().map_err(|e| e.to_string())?.contains(&seq) {
        return Ok(());
    }
    let path = snaps.save(seq, blob).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent()
        && let Err(e) = last.save(dir, seq)
    {
        // Only costs a longer replay later (recovery picks an older snapshot).
        eprintln!("ringex: snapshot {seq}: last-addressed record not written: {e}");
    }
    if keep < usize::MAX
        && let Some(dir) = path.parent()
    {
        let list = snaps.list().map_err(|e| e.to_string())?;
        if list.len() > keep {
            for old in &list[..list.len() - keep] {
                let _ = std::fs::remove_file(dir.join(format!("{old:020}.snap")));
                let _ = std::fs::remove_file(LastAddressed::path(dir, *old));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
