//! `ringex journal inspect|verify|dump|repair`: operator tools over a journal
//! directory.
//!
//! Each takes the journal directory itself, or a node data directory (the journal
//! is then looked for in its `journal/` subdirectory). Only `repair` changes
//! anything, and only when asked (`--dry-run` reports without changing).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Exit code of `verify` for a journal whose every record is intact.
pub const HEALTHY: u8 = 0;
/// Exit code of `verify` for a torn tail (a partial last write): the node cuts it
/// off when it opens the journal; no complete record is affected.
pub const TORN_TAIL: u8 = 1;
/// Exit code of `verify` (and of every tool) for damage that is not a torn tail
/// or a journal that cannot be read: the node refuses to start on it.
pub const DAMAGED: u8 = 2;

/// Exit code of `repair`: damage before the tail, refused (nothing changed;
/// `--cut-damage` would cut there).
pub const REFUSED: u8 = 3;

/// The journal directory for `dir`: `dir` itself when it holds segments (or is
/// not a node data directory), else `dir/journal`.
pub fn resolve_dir(dir: &Path) -> PathBuf {
    let has_segments = journal::list_segments(dir).is_ok_and(|s| !s.is_empty());
    let nested = dir.join("journal");
    if !has_segments && nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// `inspect`: segments, sequence range, record count, bytes, snapshots.
pub fn inspect(dir: &Path, out: &mut dyn std::io::Write) -> Result<(), String> {
    let dir = resolve_dir(dir);
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let segs = journal::list_segments(&dir).map_err(|e| e.to_string())?;
    let mut s = String::new();
    let _ = writeln!(s, "journal {}", dir.display());
    let mut total = 0u64;
    for (first, path) in &segs {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        total += len;
        let _ = writeln!(
            s,
            "  segment {}  first_seq {first}  {len} bytes on disk",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
    }
    let _ = writeln!(s, "segments {}  bytes {total}", segs.len());
    match journal::verify(&dir) {
        Ok(r) => {
            match (r.first_seq, r.last_seq) {
                (Some(a), Some(b)) => {
                    let _ = writeln!(s, "sequences {a}..={b}  records {}", b - a + 1);
                }
                _ => {
                    let _ = writeln!(s, "sequences none  records 0");
                }
            }
            if let Some(t) = &r.truncated {
                let _ = writeln!(
                    s,
                    "torn tail: {} at offset {}: {} bytes ({})",
                    t.segment.display(),
                    t.offset,
                    t.bytes,
                    t.reason
                );
            }
            for f in &r.foreign {
                let _ = writeln!(s, "foreign file (ignored): {}", f.display());
            }
        }
        Err(e) => {
            let _ = writeln!(s, "DAMAGED: {e}");
        }
    }
    let snap_dir = dir.join(journal::format::SNAPSHOT_DIR);
    if snap_dir.is_dir() {
        let list = journal::Snapshots::open(&dir)
            .and_then(|sn| sn.list())
            .map_err(|e| e.to_string())?;
        let _ = writeln!(s, "snapshots {} {:?}", list.len(), list);
    } else {
        let _ = writeln!(s, "snapshots 0 []");
    }
    out.write_all(s.as_bytes()).map_err(|e| e.to_string())
}

/// `verify`: checks every record's CRC and the sequence chain. Returns the exit
/// code ([`HEALTHY`], [`TORN_TAIL`] or [`DAMAGED`]) and prints why.
pub fn verify(dir: &Path, out: &mut dyn std::io::Write) -> u8 {
    let dir = resolve_dir(dir);
    let (code, line) = match journal::verify(&dir) {
        Ok(r) => {
            let range = match (r.first_seq, r.last_seq) {
                (Some(a), Some(b)) => format!("{} records (sequences {a}..={b})", b - a + 1),
                _ => "no records".to_string(),
            };
            match r.truncated {
                None => (
                    HEALTHY,
                    format!("healthy: {range} in {} segments", r.segments),
                ),
                Some(t) => (
                    TORN_TAIL,
                    format!(
                        "torn tail: {range} intact; {} bytes after offset {} of {} are a partial write ({}); the node truncates them on start",
                        t.bytes,
                        t.offset,
                        t.segment.display(),
                        t.reason
                    ),
                ),
            }
        }
        Err(e) => (DAMAGED, format!("damaged: {e}")),
    };
    let _ = writeln!(out, "{line}");
    code
}

/// `repair`: cuts a torn tail (and, with `cut_damage`, damage before the tail),
/// or with `dry_run` says what it would cut. The report goes to `out`, a refusal
/// or failure to `err`. Exit code: 0 repaired or nothing to repair; 1 (dry run)
/// something would be cut; [`DAMAGED`] the journal could not be read or is held
/// by a running writer; [`REFUSED`] damage before the tail without `cut_damage`.
pub fn repair(
    dir: &Path,
    dry_run: bool,
    cut_damage: bool,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let dir = resolve_dir(dir);
    let opts = journal::RepairOptions {
        dry_run,
        cut_damage,
    };
    let rep = match journal::repair_with(&dir, opts) {
        Ok(r) => r,
        Err(e @ journal::Error::Corrupt { .. }) => {
            let _ = writeln!(
                err,
                "refused: damage before the tail of the journal in {}\n  {e}\n\
                 valid records follow it, so cutting there would lose them; nothing was changed.\n\
                 Restore the journal (from the secondary or a backup), or rerun with --cut-damage \
                 to truncate at the damage and move the later segments to quarantine/ \
                 (try --dry-run first).",
                dir.display()
            );
            return REFUSED;
        }
        Err(e) => {
            let _ = writeln!(err, "ringex journal repair: {e}");
            return DAMAGED;
        }
    };
    let mut s = String::new();
    let Some(cut) = &rep.cut else {
        let _ = writeln!(
            s,
            "nothing to repair: the journal in {} {}",
            dir.display(),
            rep.last_seq.map_or_else(
                || "holds no records".to_string(),
                |q| format!("ends at sequence {q}")
            )
        );
        let _ = out.write_all(s.as_bytes());
        return HEALTHY;
    };
    let what = if cut.torn_tail { "torn tail" } else { "damage" };
    let (cut_verb, move_verb) = if dry_run {
        ("would cut", "would move")
    } else {
        ("cut", "moved")
    };
    if cut.offset < journal::format::HEADER_LEN as u64 {
        let _ = writeln!(
            s,
            "{cut_verb} {what}: {move_verb} segment {} to quarantine/ ({})",
            cut.segment.display(),
            cut.reason
        );
    } else {
        let _ = writeln!(
            s,
            "{cut_verb} {what}: segment {}, offset {}, {} bytes discarded ({})",
            cut.segment.display(),
            cut.offset,
            cut.bytes,
            cut.reason
        );
    }
    for q in rep
        .quarantined
        .iter()
        .filter(|q| q.as_path() != cut.segment.as_path())
    {
        let _ = writeln!(s, "{move_verb} segment {} to quarantine/", q.display());
    }
    let end = match (rep.last_seq, dry_run) {
        (Some(q), false) => format!("the journal now ends at sequence {q}"),
        (Some(q), true) => format!("the journal would then end at sequence {q}"),
        (None, false) => "the journal now holds no records".to_string(),
        (None, true) => "the journal would then hold no records".to_string(),
    };
    let _ = writeln!(s, "{end}");
    if dry_run {
        let _ = writeln!(s, "dry run: nothing was changed");
    }
    let _ = out.write_all(s.as_bytes());
    if dry_run { TORN_TAIL } else { HEALTHY }
}

/// `dump`: one decoded message per line from `from` (default: the first record),
/// at most `limit`. Undecodable records are printed as errors, never a panic.
pub fn dump(
    dir: &Path,
    from: Option<u64>,
    limit: Option<u64>,
    out: &mut dyn std::io::Write,
) -> Result<u64, String> {
    let dir = resolve_dir(dir);
    let from = match from {
        Some(f) => f,
        None => match journal::list_segments(&dir)
            .map_err(|e| e.to_string())?
            .first()
        {
            Some((f, _)) => *f,
            None => return Ok(0),
        },
    };
    let mut reader = journal::Reader::open(&dir, from).map_err(|e| e.to_string())?;
    let mut n = 0u64;
    let mut line = String::with_capacity(256);
    while limit.is_none_or(|l| n < l) {
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                return Err(e.to_string());
            }
        };
        line.clear();
        format_record(rec.seq, rec.payload, &mut line);
        if out.write_all(line.as_bytes()).is_err() {
            // Reader closed the pipe (`| head`): stop quietly.
            return Ok(n);
        }
        n += 1;
    }
    Ok(n)
}

/// One line for a journal record: the decoded header and body, or the error.
pub fn format_record(seq: u64, payload: &[u8], line: &mut String) {
    match engine::msg::decode(payload) {
        Ok((h, m)) => {
            let _ = write!(
                line,
                "{seq} session={} ts={} {m:?}",
                h.session, h.timestamp_ns
            );
            if let engine::msg::Message::AddInstrument(a) = &m {
                let end = a
                    .symbol
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(a.symbol.len());
                let _ = write!(
                    line,
                    " symbol={:?}",
                    String::from_utf8_lossy(&a.symbol[..end])
                );
            }
            line.push('\n');
        }
        Err(e) => {
            let head: String = payload
                .iter()
                .take(32)
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = writeln!(
                line,
                "{seq} ERROR undecodable record ({} bytes): {e}; first bytes {head}",
                payload.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::msg::{Cancel, Header, Message};

    fn encoded(seq: u64) -> Vec<u8> {
        let m = Message::Cancel(Cancel {
            client_order_id: seq,
            order_id: 7,
            orig_client_order_id: 1,
            account: 2,
            instrument: 1,
        });
        let mut buf = [0u8; engine::msg::MAX_MESSAGE_LEN];
        let h = Header {
            session: 3,
            seq,
            timestamp_ns: 99,
        };
        let n = m.encode(&h, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn journal_with(dir: &Path, records: &[Vec<u8>]) {
        let cfg = journal::Config {
            segment_size: 1 << 16,
            prefault: false,
            ..journal::Config::default()
        };
        let (mut j, _) = journal::Journal::open(dir, cfg).unwrap();
        j.append_batch(1, records.iter().map(|r| r.as_slice()))
            .unwrap();
        j.close().unwrap();
    }

    #[test]
    fn inspect_verify_dump_a_healthy_journal() {
        let t = tempfile::tempdir().unwrap();
        let mut recs: Vec<Vec<u8>> = (1..=5).map(encoded).collect();
        recs.push(b"not a message".to_vec());
        journal_with(t.path(), &recs);

        let mut out = Vec::new();
        inspect(t.path(), &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("sequences 1..=6  records 6"), "{s}");
        assert!(s.contains("segments 1"), "{s}");

        let mut out = Vec::new();
        assert_eq!(verify(t.path(), &mut out), HEALTHY);

        let mut out = Vec::new();
        let n = dump(t.path(), Some(2), Some(3), &mut out).unwrap();
        assert_eq!(n, 3);
        let s = String::from_utf8(out).unwrap();
        let lines: Vec<_> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("2 session=3 ts=99 Cancel("), "{s}");
        assert!(lines[0].contains("client_order_id: 2"), "{s}");

        let mut out = Vec::new();
        dump(t.path(), None, None, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.lines().count(), 6);
        assert!(
            s.lines().last().unwrap().starts_with("6 ERROR undecodable"),
            "{s}"
        );
    }

    #[test]
    fn data_dir_is_resolved_to_its_journal() {
        let t = tempfile::tempdir().unwrap();
        let j = t.path().join("journal");
        journal_with(&j, &[encoded(1)]);
        let mut out = Vec::new();
        assert_eq!(verify(t.path(), &mut out), HEALTHY);
    }

    #[test]
    fn verify_tells_torn_tail_from_damage() {
        let t = tempfile::tempdir().unwrap();
        let recs: Vec<Vec<u8>> = (1..=20).map(encoded).collect();
        journal_with(t.path(), &recs);
        let (_, seg) = journal::list_segments(t.path()).unwrap()[0].clone();
        let bytes = std::fs::read(&seg).unwrap();
        let data_end =
            journal::format::HEADER_LEN + 20 * (recs[0].len() + journal::format::RECORD_OVERHEAD);

        // Torn tail: garbage right after the last record.
        let mut torn = bytes.clone();
        torn[data_end..data_end + 5].copy_from_slice(&[0xAB; 5]);
        std::fs::write(&seg, &torn).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            verify(t.path(), &mut out),
            TORN_TAIL,
            "{}",
            String::from_utf8_lossy(&out)
        );

        // Damage in the middle: a flipped bit in record 3's payload.
        let mut bad = bytes.clone();
        let at = journal::format::HEADER_LEN
            + 2 * (recs[0].len() + journal::format::RECORD_OVERHEAD)
            + 20;
        bad[at] ^= 0x10;
        std::fs::write(&seg, &bad).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            verify(t.path(), &mut out),
            DAMAGED,
            "{}",
            String::from_utf8_lossy(&out)
        );
        let mut out = Vec::new();
        inspect(t.path(), &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("DAMAGED"));
    }

    /// A 20-record journal; its segment and the offset just past record `k`.
    fn twenty(dir: &Path) -> (PathBuf, Vec<u8>, impl Fn(usize) -> usize) {
        let recs: Vec<Vec<u8>> = (1..=20).map(encoded).collect();
        journal_with(dir, &recs);
        let (_, seg) = journal::list_segments(dir).unwrap()[0].clone();
        let bytes = std::fs::read(&seg).unwrap();
        let rec = recs[0].len() + journal::format::RECORD_OVERHEAD;
        (seg, bytes, move |k| journal::format::HEADER_LEN + k * rec)
    }

    fn run_repair(dir: &Path, dry_run: bool, cut_damage: bool) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = repair(dir, dry_run, cut_damage, &mut out, &mut err);
        let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
        (code, s(out), s(err))
    }

    #[test]
    fn repair_cuts_a_torn_tail_and_says_what() {
        let t = tempfile::tempdir().unwrap();
        let (seg, mut bytes, end_of) = twenty(t.path());
        let (code, out, _) = run_repair(t.path(), false, false);
        assert_eq!(code, HEALTHY);
        assert!(
            out.starts_with("nothing to repair:") && out.contains("ends at sequence 20"),
            "{out}"
        );

        let end = end_of(20);
        bytes[end..end + 7].copy_from_slice(&[0xAB; 7]);
        std::fs::write(&seg, &bytes).unwrap();
        let (code, out, _) = run_repair(t.path(), true, false);
        assert_eq!(code, TORN_TAIL, "{out}");
        let expect = format!(
            "would cut torn tail: segment {}, offset {end}, 7 bytes discarded (",
            seg.display()
        );
        assert!(out.starts_with(&expect), "{out}");
        assert!(out.contains("would then end at sequence 20"), "{out}");
        assert!(out.contains("dry run: nothing was changed"), "{out}");
        assert_eq!(std::fs::read(&seg).unwrap(), bytes);

        let (code, out, _) = run_repair(t.path(), false, false);
        assert_eq!(code, HEALTHY, "{out}");
        assert!(out.starts_with(&expect["would ".len()..]), "{out}");
        assert!(out.contains("now ends at sequence 20"), "{out}");
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), end as u64);
        let mut sink = Vec::new();
        assert_eq!(verify(t.path(), &mut sink), HEALTHY);
    }

    #[test]
    fn repair_refuses_mid_log_damage_unless_asked() {
        let t = tempfile::tempdir().unwrap();
        let (seg, mut bytes, end_of) = twenty(t.path());
        let at = end_of(2) + 20;
        bytes[at] ^= 0x10;
        std::fs::write(&seg, &bytes).unwrap();
        for dry_run in [false, true] {
            let (code, out, err) = run_repair(t.path(), dry_run, false);
            assert_eq!(code, REFUSED, "{out}{err}");
            assert!(out.is_empty(), "{out}");
            assert!(err.starts_with("refused: damage before the tail"), "{err}");
            assert!(err.contains(&format!("offset {}", end_of(2))), "{err}");
            assert!(err.contains("--cut-damage"), "{err}");
            assert_eq!(
                std::fs::read(&seg).unwrap(),
                bytes,
                "refusal changed the file"
            );
        }
        let (code, out, _) = run_repair(t.path(), false, true);
        assert_eq!(code, HEALTHY, "{out}");
        assert!(out.starts_with("cut damage: segment"), "{out}");
        assert!(out.contains("now ends at sequence 2\n"), "{out}");
        let mut sink = Vec::new();
        assert_eq!(verify(t.path(), &mut sink), HEALTHY);
    }

    #[test]
    fn repair_of_a_journal_in_use_or_missing_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let _ = twenty(t.path());
        let cfg = journal::Config {
            segment_size: 1 << 16,
            prefault: false,
            ..journal::Config::default()
        };
        let (j, _) = journal::Journal::open(t.path(), cfg).unwrap();
        let (code, _, err) = run_repair(t.path(), false, false);
        assert_eq!(code, DAMAGED);
        assert!(err.contains("held by another journal writer"), "{err}");
        drop(j);
        let (code, _, err) = run_repair(Path::new("/nonexistent/j"), true, false);
        assert_eq!(code, DAMAGED);
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn missing_dir_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert_eq!(verify(Path::new("/nonexistent/j"), &mut out), DAMAGED);
        assert!(inspect(Path::new("/nonexistent/j"), &mut out).is_err());
        assert!(dump(Path::new("/nonexistent/j"), None, None, &mut out).is_err());
    }
}
