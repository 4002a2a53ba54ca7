//! Rebuilding the business-logic state from disk: newest snapshot, then the
//! journal tail replayed through the logic (with output events dropped: they
//! were answered, or not, before the crash).

use std::path::Path;

use engine::logic::{Logic, LogicConfig, NullEvents};

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
    /// State hash after recovery.
    pub state_hash: u64,
}

impl std::fmt::Display for RecoverySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "snapshot at seq {}, replayed {} journal records{}, last seq {}, state hash {:016x}",
            self.snapshot_seq,
            self.replayed,
            if self.refused > 0 {
                format!(" ({} undecodable, skipped)", self.refused)
            } else {
                String::new()
            },
            self.last_seq,
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
    let mut sum = RecoverySummary::default();
    let snap_dir = journal_dir.join(journal::format::SNAPSHOT_DIR);
    let mut logic = None;
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
            let blob = snaps.load(seq).map_err(|e| e.to_string())?;
            match Logic::restore(&blob) {
                Ok(l) => {
                    sum.snapshot_seq = seq;
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
        let mut out = NullEvents;
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
    Ok((logic, sum))
}
