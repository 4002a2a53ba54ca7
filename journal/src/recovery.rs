//! Scanning a journal directory: which segments exist, where valid data ends, and
//! the first problem found. Opening a writer, `verify` and `repair` all start here.
//!
//! Rules (also in ARCHITECTURE.md):
//! - Segments are read in name order; each header must be valid and name the
//!   same first sequence as the file name; each segment must start at the previous
//!   segment's last sequence + 1 (else: a gap, i.e. a missing segment).
//! - Inside a segment, records follow the header back to back with consecutive
//!   sequences. A zero length word at a record boundary is the end of data; every
//!   byte after it must be zero.
//! - In the **last** segment, a bad record (short, bad length, bad CRC, wrong
//!   sequence) or non-zero bytes after the end of data form a *torn tail* when no
//!   valid record with a later sequence can be found anywhere after it: the tail is
//!   truncated on open and reported. If a valid record does follow, the damage is
//!   mid-segment: an error.
//! - Anywhere else, any bad byte is an error naming the file and offset.
//! - `next.spare` / `next2.spare` (the pre-allocated next segments): all zero →
//!   removed; a valid header → the newest segment(s) (written before the
//!   background thread renamed them), in header order after the named segments,
//!   renamed to their first sequence on open.
//! - Foreign files (any other name) are ignored and listed in the report.

use crate::format::{self, HEADER_LEN, Header, Parsed};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One candidate segment file.
#[derive(Debug, Clone)]
pub(crate) struct SegEntry {
    pub path: PathBuf,
    /// First sequence from the file name (or, for the spare, from its header).
    pub name_seq: u64,
    /// Whether this is `next.spare` holding data, still to be renamed.
    pub spare: bool,
}

/// What scanning one segment found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegState {
    pub first_seq: u64,
    /// Byte offset just past the last valid record.
    pub data_end: u64,
    pub last_seq: Option<u64>,
}

/// Torn tail (truncatable on open) or damage (an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    Torn,
    Damage,
}

#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub kind: ProblemKind,
    /// Index into `Scan::segs`.
    pub seg: usize,
    pub offset: u64,
    /// For torn tails: bytes that will be discarded (up to the last non-zero byte).
    pub bytes: u64,
    pub reason: String,
}

/// A whole-directory scan.
#[derive(Debug)]
pub(crate) struct Scan {
    pub segs: Vec<SegEntry>,
    /// States of `segs[..states.len()]` (the scan stops at a damage).
    pub states: Vec<SegState>,
    pub problem: Option<Problem>,
    pub foreign: Vec<PathBuf>,
    /// Blank (all-zero header) spares, removed on open.
    pub blank_spares: Vec<PathBuf>,
}

impl Scan {
    /// The error for a damage problem.
    pub fn damage_error(&self) -> Option<Error> {
        let p = self.problem.as_ref()?;
        (p.kind == ProblemKind::Damage)
            .then(|| Error::corrupt(&self.segs[p.seg].path, p.offset, p.reason.clone()))
    }

    /// Sequence the next append must carry, given the scan (torn tails already
    /// accounted for: states stop at valid data).
    pub fn next_seq(&self, fresh_first: u64) -> u64 {
        match self.states.last() {
            Some(s) => s.last_seq.map_or(s.first_seq, |l| l + 1),
            None => fresh_first,
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// Lists and classifies the directory's entries.
type Listing = (Vec<SegEntry>, Vec<PathBuf>, Vec<PathBuf>, Option<Problem>);

fn list(dir: &Path) -> Result<Listing> {
    let mut segs = Vec::new();
    let mut foreign = Vec::new();
    let mut blank_spares = Vec::new();
    // Spares holding a header: (entry, why the header is invalid).
    let mut spares: Vec<(SegEntry, Option<&'static str>)> = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            foreign.push(path);
            continue;
        };
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if let Some(seq) = format::parse_segment_name(&name).filter(|_| is_file) {
            segs.push(SegEntry {
                path,
                name_seq: seq,
                spare: false,
            });
        } else if format::SPARE_NAMES.contains(&name.as_str()) && is_file {
            let data = read_head(&path)?;
            let (name_seq, why) = match format::decode_header(&data) {
                Header::Blank => {
                    blank_spares.push(path);
                    continue;
                }
                Header::Valid { first_seq } => (first_seq, None),
                Header::Invalid(why) => (u64::MAX, Some(why)),
            };
            let e = SegEntry {
                path,
                name_seq,
                spare: true,
            };
            spares.push((e, why));
        } else if matches!(
            name.as_str(),
            format::LOCK_NAME | format::SNAPSHOT_DIR | format::ARCHIVE_DIR | format::QUARANTINE_DIR
        ) {
            // ours
        } else {
            foreign.push(path);
        }
    }
    segs.sort_by_key(|s| s.name_seq);
    foreign.sort();
    blank_spares.sort();
    // Spares that hold data are the newest segments (written before the
    // background thread renamed them), in header order.
    spares.sort_by(|a, b| (a.0.name_seq, &a.0.path).cmp(&(b.0.name_seq, &b.0.path)));
    let last_named = segs.last().map(|s| s.name_seq);
    let mut prob = None;
    for (sp, why) in spares {
        let idx = segs.len();
        if prob.is_none() {
            if let Some(why) = why {
                prob = Some(damage_at(idx, format!("{why} in a pre-allocated segment")));
            } else if last_named.is_some_and(|l| l >= sp.name_seq) {
                prob = Some(damage_at(
                    idx,
                    format!(
                        "the spare segment starts at sequence {} but a segment at or after it already exists",
                        sp.name_seq
                    ),
                ));
            }
        }
        segs.push(sp);
    }
    Ok((segs, foreign, blank_spares, prob))
}

fn damage_at(seg: usize, reason: String) -> Problem {
    Problem {
        kind: ProblemKind::Damage,
        seg,
        offset: 0,
        bytes: 0,
        reason,
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = vec![0u8; HEADER_LEN];
    let mut n = 0;
    while n < HEADER_LEN {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Scans the directory. Never modifies anything.
pub(crate) fn scan(dir: &Path) -> Result<Scan> {
    let (segs, foreign, blank_spares, list_problem) = list(dir)?;
    let mut scan = Scan {
        segs,
        states: Vec::new(),
        problem: None,
        foreign,
        blank_spares,
    };
    let n = scan.segs.len();
    let mut expected_first: Option<u64> = None;
    for i in 0..n {
        if let Some(p) = &list_problem
            && p.seg == i
        {
            scan.problem = Some(p.clone());
            return Ok(scan);
        }
        let data = read_file(&scan.segs[i].path)?;
        let is_last = i + 1 == n;
        match scan_segment(&data, scan.segs[i].name_seq, expected_first, is_last) {
            Ok(state) => {
                expected_first = Some(state.last_seq.map_or(state.first_seq, |l| l + 1));
                scan.states.push(state);
            }
            Err((state, mut p)) => {
                p.seg = i;
                if let Some(s) = state {
                    scan.states.push(s);
                }
                scan.problem = Some(p);
                return Ok(scan);
            }
        }
    }
    Ok(scan)
}

type SegResult = std::result::Result<SegState, (Option<SegState>, Problem)>;

fn damage(offset: u64, reason: String) -> Problem {
    Problem {
        kind: ProblemKind::Damage,
        seg: 0,
        offset,
        bytes: 0,
        reason,
    }
}

/// Scans one segment's bytes.
fn scan_segment(
    data: &[u8],
    name_seq: u64,
    expected_first: Option<u64>,
    is_last: bool,
) -> SegResult {
    let first_seq = match format::decode_header(data) {
        Header::Valid { first_seq } => first_seq,
        Header::Blank => {
            if is_last && data.iter().all(|&b| b == 0) {
                // A segment created but never given its header (crash during creation).
                let state = SegState {
                    first_seq: name_seq,
                    data_end: 0,
                    last_seq: None,
                };
                if expected_first.is_some_and(|e| e != name_seq) {
                    return Err((None, damage(0, gap_reason(expected_first, name_seq))));
                }
                return Err((
                    Some(state),
                    Problem {
                        kind: ProblemKind::Torn,
                        seg: 0,
                        offset: 0,
                        bytes: 0,
                        reason: "segment header never written".into(),
                    },
                ));
            }
            return Err((None, damage(0, "blank segment header".into())));
        }
        Header::Invalid(why) => return Err((None, damage(0, why.into()))),
    };
    if first_seq != name_seq {
        return Err((
            None,
            damage(
                0,
                format!("header says first sequence {first_seq} but the file name says {name_seq}"),
            ),
        ));
    }
    if let Some(e) = expected_first
        && e != first_seq
    {
        return Err((None, damage(0, gap_reason(expected_first, first_seq))));
    }
    let mut off = HEADER_LEN;
    let mut expected = first_seq;
    let state = |off: usize, expected: u64| SegState {
        first_seq,
        data_end: off as u64,
        last_seq: (expected > first_seq).then(|| expected - 1),
    };
    loop {
        let bad_reason: String = match format::parse_record(&data[off..]) {
            Parsed::Record { len, seq, .. } if seq == expected => {
                off += len;
                expected += 1;
                continue;
            }
            Parsed::Record { seq, .. } => {
                format!("record has sequence {seq} where {expected} was expected")
            }
            Parsed::End => match last_nonzero(&data[off..]) {
                None => return Ok(state(off, expected)),
                Some(_) => "non-zero bytes after the end-of-data marker".into(),
            },
            Parsed::Invalid(why) => why.into(),
        };
        if !is_last {
            return Err((Some(state(off, expected)), damage(off as u64, bad_reason)));
        }
        if let Some((q, seq)) = find_valid_after(data, off + 1, expected) {
            return Err((
                Some(state(off, expected)),
                damage(
                    off as u64,
                    format!(
                        "{bad_reason}, yet a valid record (sequence {seq}) follows at offset {q}: damage before the tail"
                    ),
                ),
            ));
        }
        let end = last_nonzero(&data[off..]).map_or(0, |k| k + 1);
        return Err((
            Some(state(off, expected)),
            Problem {
                kind: ProblemKind::Torn,
                seg: 0,
                offset: off as u64,
                bytes: end as u64,
                reason: bad_reason,
            },
        ));
    }
}

fn gap_reason(expected: Option<u64>, first: u64) -> String {
    match expected {
        Some(e) => format!(
            "sequence gap: the previous segment ends at {} but this one starts at {first} (missing segment?)",
            e.wrapping_sub(1)
        ),
        None => format!("unexpected first sequence {first}"),
    }
}

fn last_nonzero(buf: &[u8]) -> Option<usize> {
    buf.iter().rposition(|&b| b != 0)
}

/// Looks for any valid record at any byte offset from `from`, with a sequence at
/// or after `min_seq`. Cheap over zero bytes (the length word is zero there).
fn find_valid_after(data: &[u8], from: usize, min_seq: u64) -> Option<(usize, u64)> {
    let mut o = from;
    while o + format::RECORD_OVERHEAD <= data.len() {
        let len = u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]) as usize;
        if len >= format::RECORD_OVERHEAD
            && o + len <= data.len()
            && let Parsed::Record { seq, .. } = format::parse_record(&data[o..])
            && seq >= min_seq
        {
            return Some((o, seq));
        }
        o += 1;
    }
    None
}

/// What opening (or verifying) a journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Sequence of the oldest record present, if any.
    pub first_seq: Option<u64>,
    /// Sequence of the newest valid record, if any.
    pub last_seq: Option<u64>,
    /// Sequence the next append must carry.
    pub next_seq: u64,
    /// Number of segment files.
    pub segments: usize,
    /// The torn tail that was (or, for `verify`, would be) truncated.
    pub truncated: Option<Truncation>,
    /// A pre-allocated spare that held the newest data and was renamed to its
    /// first sequence (the newest one, if two were).
    pub promoted_spare: Option<PathBuf>,
    /// Whether an unused (all-zero) spare (`next.spare`, `next2.spare`) was removed.
    pub removed_blank_spare: bool,
    /// Files in the directory that are not the journal's: ignored, listed here.
    pub foreign: Vec<PathBuf>,
}

/// A torn tail cut off the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The segment.
    pub segment: PathBuf,
    /// Offset where valid data ends (the segment now ends there).
    pub offset: u64,
    /// Non-zero bytes discarded after that offset.
    pub bytes: u64,
    /// Why the first discarded record was invalid.
    pub reason: String,
}

/// Builds the report for a scan whose problem (if any) is a torn tail.
pub(crate) fn report(scan: &Scan, fresh_first: u64) -> RecoveryReport {
    let first_seq = scan
        .states
        .iter()
        .find(|s| s.last_seq.is_some())
        .map(|s| s.first_seq);
    let last_seq = scan.states.iter().rev().find_map(|s| s.last_seq);
    RecoveryReport {
        first_seq,
        last_seq,
        next_seq: scan.next_seq(fresh_first),
        segments: scan.segs.len(),
        truncated: scan
            .problem
            .as_ref()
            .filter(|p| p.kind == ProblemKind::Torn)
            .map(|p| Truncation {
                segment: scan.segs[p.seg].path.clone(),
                offset: p.offset,
                bytes: p.bytes,
                reason: p.reason.clone(),
            }),
        promoted_spare: None,
        removed_blank_spare: false,
        foreign: scan.foreign.clone(),
    }
}

/// Checks a journal directory without changing it: the report of what opening a
/// writer would find (a torn tail is reported, not truncated), or the damage error.
pub fn verify(dir: &Path) -> Result<RecoveryReport> {
    let scan = scan(dir)?;
    if let Some(e) = scan.damage_error() {
        return Err(e);
    }
    Ok(report(&scan, 1))
}

/// What [`repair_with`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairOptions {
    /// Change nothing: report what a repair with the same options would do.
    pub dry_run: bool,
    /// Also cut at damage *before* the tail (a bad record followed by valid ones,
    /// a bad header, a missing segment), discarding every record after it and
    /// moving later segments to `quarantine/`. Without it such damage is refused
    /// with [`Error::Corrupt`] and nothing is changed: only a torn tail (a write
    /// that never completed, which the writer would cut on open anyway) is cut.
    pub cut_damage: bool,
}

/// The cut a repair made (or, dry run, would make).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The segment cut (truncated at `offset`, or moved to `quarantine/` when
    /// `offset` is inside its header).
    pub segment: PathBuf,
    /// Byte offset where the valid data ends: the segment is truncated here.
    pub offset: u64,
    /// Bytes of data discarded from this segment (from `offset` up to its last
    /// non-zero byte; pre-allocated zeros are not counted).
    pub bytes: u64,
    /// Why the first discarded record (or the segment) is invalid.
    pub reason: String,
    /// Whether this was a torn tail (no valid record after it) rather than
    /// damage before the tail.
    pub torn_tail: bool,
}

/// What `repair` did (or, dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The first bad record: where the log was cut, how much, and why. `None`:
    /// nothing to repair.
    pub cut: Option<Cut>,
    /// Segments after the cut, moved to `quarantine/` (never deleted). Their
    /// original paths.
    pub quarantined: Vec<PathBuf>,
    /// The last valid sequence after repair.
    pub last_seq: Option<u64>,
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
}

/// Operator-requested repair: truncates the log at the first bad record (wherever
/// it is) and moves every later segment into `quarantine/`. Refuses (an error)
/// while a writer has the journal open. Same as [`repair_with`] with
/// `cut_damage: true`.
pub fn repair(dir: &Path) -> Result<RepairReport> {
    repair_with(
        dir,
        RepairOptions {
            dry_run: false,
            cut_damage: true,
        },
    )
}

/// Repair with options: cut a torn tail, and with `cut_damage` also damage
/// before the tail; or (`dry_run`) only report the cut. Refuses while a writer
/// holds the journal (a write in flight looks like a torn tail). A dry run does
/// not create the lock file.
pub fn repair_with(dir: &Path, opts: RepairOptions) -> Result<RepairReport> {
    if !dir.is_dir() {
        return Err(Error::NotFound(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let _lock = if opts.dry_run {
        crate::writer::probe_lock(dir)?
    } else {
        Some(crate::writer::lock_dir(dir)?)
    };
    let scan = scan(dir)?;
    let mut rep = RepairReport {
        last_seq: scan.states.iter().rev().find_map(|s| s.last_seq),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let Some(p) = scan.problem.clone() else {
        return Ok(rep);
    };
    let torn_tail = p.kind == ProblemKind::Torn;
    if !torn_tail && !opts.cut_damage {
        return Err(Error::corrupt(&scan.segs[p.seg].path, p.offset, p.reason));
    }
    let seg = &scan.segs[p.seg];
    // The segment itself is unusable (bad header, gap): quarantine it too.
    let whole_segment = p.offset < HEADER_LEN as u64;
    let first_moved = if whole_segment { p.seg } else { p.seg + 1 };
    let bytes = if torn_tail {
        p.bytes
    } else {
        let data = read_file(&seg.path)?;
        let from = (p.offset as usize).min(data.len());
        last_nonzero(&data[from..]).map_or(0, |k| k as u64 + 1)
    };
    rep.cut = Some(Cut {
        segment: seg.path.clone(),
        offset: p.offset,
        bytes,
        reason: p.reason.clone(),
        torn_tail,
    });
    rep.quarantined = scan.segs[first_moved..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    if opts.dry_run {
        return Ok(rep);
    }
    if !whole_segment {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&seg.path)
            .map_err(|e| Error::io("open", &seg.path, e))?;
        f.set_len(p.offset)
            .map_err(|e| Error::io("truncate", &seg.path, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &seg.path, e))?;
    }
    if !rep.quarantined.is_empty() {
        quarantine(dir, &rep.quarantined)?;
    }
    crate::fsutil::fsync_dir(dir)?;
    Ok(rep)
}

/// Moves `files` into `quarantine/`, never overwriting an earlier quarantined
/// file; fsyncs both directories.
fn quarantine(dir: &Path, files: &[PathBuf]) -> Result<()> {
    let q = dir.join(format::QUARANTINE_DIR);
    std::fs::create_dir_all(&q).map_err(|e| Error::io("create directory", &q, e))?;
    for from in files {
        let name = from
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let mut to = q.join(&name);
        let mut k = 1u32;
        while to.exists() {
            let mut n = name.clone();
            n.push(format!(".{k}"));
            to = q.join(n);
            k += 1;
        }
        std::fs::rename(from, &to).map_err(|e| Error::io("rename", from, e))?;
    }
    crate::fsutil::fsync_dir(&q)?;
    crate::fsutil::fsync_dir(dir)
}
