//! Per engine session, the output sequence of the last event addressed to it:
//! kept by the logic stage, saved beside every snapshot, so recovery can tell
//! exactly which snapshot still lets it regenerate every report a session is
//! owed (see `recovery::recover_owed`).
//!
//! A snapshot's own output sequence also counts market-data events, so comparing
//! it with the sessions' delivery marks would usually reject the newest snapshot;
//! this record compares like with like. Values are upper bounds: a record built
//! on a snapshot that had none starts every session at that snapshot's output
//! sequence (the `floor`), which only makes the selection stricter.

use std::path::{Path, PathBuf};

/// First line of the sidecar file (format version).
const MAGIC: &str = "ringex-last-addressed 1";

/// See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastAddressed {
    /// Lower bound applied to every session (0 = exact).
    floor: u64,
    /// By engine session id.
    by_session: Vec<u64>,
}

impl LastAddressed {
    /// Exact and empty: the state before any event.
    pub fn exact() -> Self {
        Self::default()
    }

    /// Unknown below `floor`: every session may have had an event up to it.
    pub fn bounded(floor: u64) -> Self {
        LastAddressed {
            floor,
            by_session: Vec::new(),
        }
    }

    /// An event with output sequence `seq` was addressed to `session`. Grows
    /// only when a session id is seen for the first time.
    #[inline]
    pub fn note(&mut self, session: u32, seq: u64) {
        let s = session as usize;
        if s >= self.by_session.len() {
            self.by_session.resize(s + 1, 0);
        }
        self.by_session[s] = seq;
    }

    /// The last event addressed to `session` (upper bound).
    pub fn get(&self, session: usize) -> u64 {
        self.floor
            .max(self.by_session.get(session).copied().unwrap_or(0))
    }

    /// True when every session with a delivery mark (`marks[s]`) already holds
    /// every event this record counts for it: starting from this point loses
    /// nothing owed.
    pub fn covered_by(&self, marks: &[Option<u64>]) -> bool {
        marks
            .iter()
            .enumerate()
            .all(|(s, m)| m.is_none_or(|m| self.get(s) <= m))
    }

    /// The sidecar file of snapshot `seq` in the snapshot directory `dir`.
    pub fn path(dir: &Path, seq: u64) -> PathBuf {
        dir.join(format!("{seq:020}.addressed"))
    }

    /// Writes the sidecar of snapshot `seq` (temp file + rename; a missing or
    /// damaged sidecar only makes recovery pick an older snapshot).
    pub fn save(&self, dir: &Path, seq: u64) -> std::io::Result<()> {
        let mut text = format!("{MAGIC}\nfloor {}\n", self.floor);
        for (s, e) in self.by_session.iter().enumerate() {
            if *e > 0 {
                text.push_str(&format!("{s} {e}\n"));
            }
        }
        text.push_str("end\n");
        let path = Self::path(dir, seq);
        let tmp = path.with_extension("addressed.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }

    /// Reads the sidecar of snapshot `seq`; `None` if missing or malformed.
    pub fn load(dir: &Path, seq: u64) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(dir, seq)).ok()?;
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let floor = lines.next()?.strip_prefix("floor ")?.parse().ok()?;
        let mut a = LastAddressed::bounded(floor);
        for l in lines {
            if l == "end" {
                return Some(a);
            }
            let (s, e) = l.split_once(' ')?;
            a.note(s.parse().ok()?, e.parse().ok()?);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_by_marks_and_round_trip() {
        let mut a = LastAddressed::exact();
        a.note(1, 10);
        a.note(3, 7);
        assert!(a.covered_by(&[None, Some(10), None, Some(7)]));
        assert!(!a.covered_by(&[None, Some(9), None, Some(7)]));
        assert!(
            a.covered_by(&[None, None, Some(0)]),
            "session 2 had nothing"
        );
        let b = LastAddressed::bounded(5);
        assert!(!b.covered_by(&[None, Some(4)]));
        assert!(b.covered_by(&[None, Some(5)]));

        let dir = tempfile::tempdir().unwrap();
        a.save(dir.path(), 42).unwrap();
        assert_eq!(LastAddressed::load(dir.path(), 42), Some(a));
        assert_eq!(LastAddressed::load(dir.path(), 43), None);
        std::fs::write(
            LastAddressed::path(dir.path(), 44),
            "ringex-last-addressed 1\nfloor 3\n1 9\n",
        )
        .unwrap();
        assert_eq!(
            LastAddressed::load(dir.path(), 44),
            None,
            "no end line: torn"
        );
    }
}
