//! Rebuilding the business-logic state from disk: a snapshot, then the journal
//! tail replayed through the logic.
//!
//! Output of the replay: each FIX session's store keeps a delivery mark, the
//! highest engine event (output sequence) it holds. [`recover_owed`] starts from
//! the newest snapshot after which every owed event is still to come: each
//! snapshot has a [`LastAddressed`] record beside it (per session, the last event
//! addressed to it), and the snapshot qualifies when that is at or below every
//! session's mark; a snapshot without one qualifies when its output sequence is
//! at or below the lowest mark. Failing all, the whole journal is replayed. The
//! replay keeps the addressed events above each session's mark: the execution
//! reports decided before a crash that never reached the session's store. Events
//! at or below a mark are dropped (never sent twice); sessions without a mark are
//! owed nothing.

use std::path::Path;

use engine::logic::{EventSink, Logic, LogicConfig};
use engine::msg::{Header, Message};

use super::addressed::LastAddressed;
use super::slot::Slot;
use super::stages::addressed;

/// What a recovery did (one log line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoverySummary {
    /// Sequence of the snapshot loaded (0: none, started empty).
    pub snapshot_seq: u64,
    /// Journal records replayed after it.
    pub replayed: u64,
    /// Replayed records the logic refused as undecodable (0 unless damaged).
    pub refused: u64,
    /// Last sequence in the state.
    pub last_seq: u64,
    /// The logic's output sequence after recovery (last event numbered).
    pub out_seq: u64,
    /// Events the sessions are still owed (see [`recover_owed`]).
    pub owed: u64,
    /// Per session, the last addressed event in the recovered state (the logic
    /// stage carries it on and saves it with each snapshot).
    pub addressed: LastAddressed,
    /// State hash after recovery.
    pub state_hash: u64,
}

impl std::fmt::Display for RecoverySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "snapshot at seq {}, replayed {} journal records{}, last seq {}, {} reports owed to sessions, state hash {:016x}",
            self.snapshot_seq,
            self.replayed,
            if self.refused > 0 {
                format!(" ({} undecodable, skipped)", self.refused)
            } else {
                String::new()
            },
            self.last_seq,
            self.owed,
            self.state_hash
        )
    }
}

/// Loads the newest snapshot of `journal_dir` (unless `use_snapshot` is false)
/// and replays every later record up to `last_seq` (the journal's last valid
/// record). Reads only; the caller has opened (and so repaired) the journal, or
/// checked it with `journal::verify`.
pub fn recover(
    journal_dir: &Path,
    cfg: LogicConfig,
    last_seq: Option<u64>,
    use_snapshot: bool,
) -> Result<(Logic, RecoverySummary), String> {
    recover_owed(journal_dir, cfg, last_seq, use_snapshot, &[]).map(|(l, s, _)| (l, s))
}

/// Collects the addressed events above their session's delivery mark.
struct Owed<'a> {
    marks: &'a [Option<u64>],
    events: Vec<Slot>,
    last: LastAddressed,
}

impl EventSink for Owed<'_> {
    fn event(&mut self, header: &Header, msg: &Message) {
        if !addressed(header, msg) {
            return;
        }
        self.last.note(header.session, header.seq);
        let mark = self.marks.get(header.session as usize).copied().flatten();
        if mark.is_some_and(|m| header.seq > m) {
            let mut slot = Slot::default();
            slot.write(header, msg);
            self.events.push(slot);
        }
    }
}

/// [`recover`], also returning the events the sessions are owed, in order.
/// `marks[s]` is engine session `s`'s delivery mark (`None`: owed nothing). The
/// snapshot used is the newest whose output sequence is at or below every mark,
/// so the replay regenerates every owed event.
pub fn recover_owed(
    journal_dir: &Path,
    cfg: LogicConfig,
    last_seq: Option<u64>,
    use_snapshot: bool,
    marks: &[Option<u64>],
) -> Result<(Logic, RecoverySummary, Vec<Slot>), String> {
    let need = marks.iter().flatten().copied().min();
    let mut sum = RecoverySummary::default();
    let snap_dir = journal_dir.join(journal::format::SNAPSHOT_DIR);
    let mut logic = None;
    let mut last = LastAddressed::exact();
    if use_snapshot && snap_dir.is_dir() {
        let snaps = journal::Snapshots::open(journal_dir).map_err(|e| e.to_string())?;
        // Newest first; a snapshot that does not decode is reported and skipped
        // for the previous one (the journal still holds everything after it).
        let mut list = snaps.list().map_err(|e| e.to_string())?;
        list.reverse();
        for seq in list {
            if last_seq.is_none_or(|l| seq > l) {
                return Err(format!(
                    "snapshot at seq {seq} is newer than the journal's last record ({}): the journal lost acknowledged data; refusing to start",
                    last_seq.map_or("none".into(), |l| l.to_string())
                ));
            }
            let side = LastAddressed::load(&snap_dir, seq);
            if let (Some(a), Some(_)) = (&side, need)
                && !a.covered_by(marks)
            {
                // Too new: it already emitted events some session is still owed.
                continue;
            }
            let blob = snaps.load(seq).map_err(|e| e.to_string())?;
            match Logic::restore(&blob) {
                Ok(l) if side.is_none() && need.is_some_and(|n| l.out_seq() > n) => {}
                Ok(l) => {
                    sum.snapshot_seq = seq;
                    last = side.unwrap_or_else(|| LastAddressed::bounded(l.out_seq()));
                    logic = Some(l);
                    break;
                }
                Err(e) => eprintln!(
                    "ringex: snapshot {seq} does not restore ({e:?}); trying an older one"
                ),
            }
        }
    }
    let mut logic = logic.unwrap_or_else(|| Logic::new(cfg));
    let mut out = Owed {
        marks,
        events: Vec::new(),
        last,
    };
    if let Some(last) = last_seq
        && last > sum.snapshot_seq
    {
        let first = journal::list_segments(journal_dir)
            .map_err(|e| e.to_string())?
            .first()
            .map_or(1, |(f, _)| *f);
        let from = (sum.snapshot_seq + 1).max(first);
        if from > sum.snapshot_seq + 1 {
            return Err(format!(
                "journal starts at seq {first} but the state needs seq {}: segments are missing",
                sum.snapshot_seq + 1
            ));
        }
        let mut reader = journal::Reader::open(journal_dir, from).map_err(|e| e.to_string())?;
        while let Some(rec) = reader.next_record().map_err(|e| e.to_string())? {
            if rec.seq > last {
                break;
            }
            if logic.process(rec.payload, &mut out).is_err() {
                sum.refused += 1;
            }
            sum.replayed += 1;
        }
    }
    sum.last_seq = logic.last_input_seq().max(sum.snapshot_seq);
    if let Some(last) = last_seq {
        sum.last_seq = sum.last_seq.max(last);
    }
    sum.state_hash = logic.state_hash();
    sum.out_seq = logic.out_seq();
    sum.owed = out.events.len() as u64;
    sum.addressed = out.last;
    Ok((logic, sum, out.events))
}
