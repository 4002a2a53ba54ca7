//! Damaged directories: flipped bits, truncated files, zero-filled tails, a
//! deleted middle segment, foreign files, a spare left by a crash. Each gives the
//! documented result (ARCHITECTURE.md, "journal"): a torn tail is truncated and
//! reported, damage elsewhere is an error naming file and offset, never a panic.

mod common;

use common::{append_n, cfg, check_all, record_offsets};
use journal::{Backend, Error, Journal, format};
use std::path::{Path, PathBuf};

const SEG: u64 = 8 << 10;

/// A closed journal of `n` records in several segments; returns its segments.
fn build(dir: &Path, n: u64) -> Vec<PathBuf> {
    let (mut j, _) = Journal::open(dir, cfg(Backend::Pwrite, SEG)).unwrap();
    append_n(&mut j, n, 5);
    j.close().unwrap();
    let segs: Vec<PathBuf> = journal::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(segs.len() >= 3, "need several segments, got {}", segs.len());
    segs
}

fn open(dir: &Path) -> journal::Result<(Journal, journal::RecoveryReport)> {
    Journal::open(dir, cfg(Backend::Pwrite, SEG))
}

fn flip(path: &Path, offset: usize, bit: u8) {
    let mut d = std::fs::read(path).unwrap();
    d[offset] ^= 1 << bit;
    std::fs::write(path, d).unwrap();
}

fn expect_corrupt(r: journal::Result<impl std::fmt::Debug>, path: &Path, offset: u64) {
    match r {
        Err(Error::Corrupt {
            path: p,
            offset: o,
            reason,
        }) => {
            assert_eq!(p, path, "wrong file ({reason})");
            assert_eq!(o, offset, "wrong offset ({reason})");
        }
        other => panic!(
            "expected Corrupt at {}:{offset}, got {other:?}",
            path.display()
        ),
    }
}

/// Sequence range of the last segment's records.
fn last_seg_records(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let d = std::fs::read(path).unwrap();
    (record_offsets(&d), d)
}

#[test]
fn bad_crc_in_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let last = segs.last().unwrap();
    let (offs, _) = last_seg_records(last);
    let victim = *offs.last().unwrap();
    flip(last, victim + 20, 3);
    // verify reports without changing anything.
    let v = journal::verify(dir.path()).unwrap();
    let t = v.truncated.clone().expect("reported");
    assert_eq!(
        (t.segment.as_path(), t.offset),
        (last.as_path(), victim as u64)
    );
    assert!(t.bytes > 0 && t.reason.contains("CRC"), "{t:?}");
    let (mut j, rep) = open(dir.path()).unwrap();
    assert_eq!(rep.truncated, Some(t));
    assert_eq!(rep.last_seq, Some(299));
    append_n(&mut j, 10, 3);
    drop(j);
    assert_eq!(check_all(dir.path(), 1), 309);
    let rep = journal::verify(dir.path()).unwrap();
    assert!(rep.truncated.is_none());
}

#[test]
fn bad_crc_mid_last_segment_is_an_error_then_repair_cuts_it() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let last = segs.last().unwrap();
    let (offs, d) = last_seg_records(last);
    assert!(offs.len() >= 3);
    let victim = offs[1];
    let victim_seq = u64::from_le_bytes(d[victim + 8..victim + 16].try_into().unwrap());
    flip(last, victim + 17, 0);
    expect_corrupt(open(dir.path()), last, victim as u64);
    expect_corrupt(journal::verify(dir.path()), last, victim as u64);
    let rep = journal::repair(dir.path()).unwrap();
    assert_eq!(
        rep.cut.as_ref().map(|c| (c.segment.clone(), c.offset)),
        Some((last.clone(), victim as u64))
    );
    let (_j, r) = open(dir.path()).unwrap();
    assert_eq!(r.last_seq, Some(victim_seq - 1));
}

#[test]
fn flipped_bits_in_an_older_segment_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let first = &segs[0];
    let (offs, _) = last_seg_records(first);
    // In a record's payload, in a length word, in the header.
    let victim = *offs.last().unwrap();
    flip(first, victim + 18, 7);
    expect_corrupt(open(dir.path()), first, victim as u64);
    flip(first, victim + 18, 7);
    flip(first, offs[2], 2);
    expect_corrupt(open(dir.path()), first, offs[2] as u64);
    flip(first, offs[2], 2);
    flip(first, 3, 1);
    expect_corrupt(open(dir.path()), first, 0);
    flip(first, 3, 1);
    let (_j, r) = open(dir.path()).unwrap();
    assert_eq!(r.last_seq, Some(300));
}

#[test]
fn every_single_bit_flip_in_a_small_journal_is_caught_or_truncated() {
    // Exhaustive over one small segment: never a panic, never a wrong record.
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path(), cfg(Backend::Pwrite, 1024)).unwrap();
    append_n(&mut j, 6, 2);
    j.close().unwrap();
    let seg = journal::list_segments(dir.path()).unwrap()[0].1.clone();
    let orig = std::fs::read(&seg).unwrap();
    let end = *record_offsets(&orig).last().unwrap() + 40;
    for byte in 0..end.min(orig.len()) {
        for bit in [(byte % 8) as u8] {
            let mut d = orig.clone();
            d[byte] ^= 1 << bit;
            std::fs::write(&seg, &d).unwrap();
            match journal::verify(dir.path()) {
                Ok(rep) => {
                    // Only a tail can be cut; what remains must read back intact.
                    assert!(rep.truncated.is_some(), "flip at {byte} went unnoticed");
                    let last = rep.last_seq.unwrap_or(0);
                    if last > 0 {
                        let mut r = journal::Reader::open(dir.path(), 1).unwrap();
                        let mut n = 0;
                        while let Ok(Some(rec)) = r.next_record() {
                            assert_eq!(rec.payload, common::payload(rec.seq).as_slice());
                            n += 1;
                            if n == last {
                                break;
                            }
                        }
                        assert_eq!(n, last);
                    }
                }
                Err(Error::Corrupt { path, .. }) => assert_eq!(path, seg),
                Err(e) => panic!("unexpected error for flip at {byte}: {e}"),
            }
        }
    }
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    // Last segment cut mid-record: torn tail.
    let last = segs.last().unwrap();
    let (offs, _) = last_seg_records(last);
    let cut = *offs.last().unwrap() + 7;
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();
    let (j, rep) = open(dir.path()).unwrap();
    let t = rep.truncated.expect("torn tail");
    assert_eq!(t.offset, *offs.last().unwrap() as u64);
    assert_eq!(rep.last_seq, Some(299));
    drop(j);
    assert_eq!(check_all(dir.path(), 1), 299);
    // Older segment cut mid-record: an error naming it.
    let first = &segs[0];
    let (offs, _) = last_seg_records(first);
    let at = *offs.last().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(at as u64 + 9)
        .unwrap();
    expect_corrupt(open(dir.path()), first, at as u64);
    // Cut into the header.
    std::fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(10)
        .unwrap();
    expect_corrupt(open(dir.path()), first, 0);
}

#[test]
fn zero_filled_tails() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let last = segs.last().unwrap();
    let (offs, mut d) = last_seg_records(last);
    // Zero the second half of the last record: torn tail.
    let lo = *offs.last().unwrap();
    let len = u32::from_le_bytes(d[lo..lo + 4].try_into().unwrap()) as usize;
    d[lo + len / 2..lo + len].fill(0);
    std::fs::write(last, &d).unwrap();
    let (j, rep) = open(dir.path()).unwrap();
    assert_eq!(rep.truncated.as_ref().map(|t| t.offset), Some(lo as u64));
    assert_eq!(rep.last_seq, Some(299));
    drop(j);
    // Zero a whole record in the middle: the records after it are still valid, so
    // this is damage, not a tail.
    let (offs, mut d) = last_seg_records(last);
    let mid = offs[1];
    let len = u32::from_le_bytes(d[mid..mid + 4].try_into().unwrap()) as usize;
    d[mid..mid + len].fill(0);
    std::fs::write(last, &d).unwrap();
    expect_corrupt(open(dir.path()), last, mid as u64);
}

#[test]
fn deleted_middle_segment_is_a_gap_error() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    std::fs::remove_file(&segs[1]).unwrap();
    match open(dir.path()) {
        Err(Error::Corrupt {
            path,
            offset,
            reason,
        }) => {
            assert_eq!((path, offset), (segs[2].clone(), 0));
            assert!(reason.contains("gap"), "{reason}");
        }
        other => panic!("expected a gap error, got {other:?}"),
    }
    // Readers refuse to jump the gap too.
    let mut r = journal::Reader::open(dir.path(), 1).unwrap();
    let mut last = 0;
    while let Some(rec) = r.next_record().expect("no error before the gap") {
        last = rec.seq;
    }
    let second_first = journal::list_segments(dir.path()).unwrap()[1].0;
    assert!(
        last < second_first - 1,
        "reader stops at the end of the first segment ({last})"
    );
    // Repair moves the unreachable segments aside; the log then ends before the gap.
    let rep = journal::repair(dir.path()).unwrap();
    assert_eq!(rep.quarantined.len(), segs.len() - 2);
    let (_j, r) = open(dir.path()).unwrap();
    assert_eq!(r.segments, 1);
    assert!(
        dir.path()
            .join("quarantine")
            .join(segs[2].file_name().unwrap())
            .exists()
    );
}

#[test]
fn foreign_files_are_ignored_and_listed_but_segment_lookalikes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    std::fs::create_dir(dir.path().join("stuff")).unwrap();
    std::fs::write(dir.path().join("123.seg"), b"short name").unwrap();
    let (j, rep) = open(dir.path()).unwrap();
    assert_eq!(rep.last_seq, Some(300));
    let names: Vec<String> = rep
        .foreign
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["123.seg", "notes.txt", "stuff"]);
    drop(j);
    let fake = dir.path().join(format::segment_name(99_999));
    std::fs::write(&fake, b"not a segment at all, just text").unwrap();
    expect_corrupt(open(dir.path()), &fake, 0);
}

#[test]
fn spare_left_by_a_crash_is_removed_or_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    // Blank spare: removed.
    std::fs::write(dir.path().join(format::SPARE_NAME), vec![0u8; 4096]).unwrap();
    let (j, rep) = open(dir.path()).unwrap();
    assert!(rep.removed_blank_spare && rep.promoted_spare.is_none());
    drop(j);
    // The newest segment still named next.spare (crash before the rename): promoted.
    let last = segs.last().unwrap();
    std::fs::rename(last, dir.path().join(format::SPARE_NAME)).unwrap();
    let (j, rep) = open(dir.path()).unwrap();
    assert_eq!(rep.promoted_spare.as_deref(), Some(last.as_path()));
    assert_eq!(rep.last_seq, Some(300));
    drop(j);
    // A spare with a damaged header: an error naming it.
    std::fs::copy(&segs[0], dir.path().join(format::SPARE_NAME)).unwrap();
    flip(&dir.path().join(format::SPARE_NAME), 12, 0);
    expect_corrupt(open(dir.path()), &dir.path().join(format::SPARE_NAME), 0);
}

#[test]
fn segment_created_but_header_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(format::segment_name(1));
    std::fs::write(&p, vec![0u8; 1000]).unwrap();
    let (mut j, rep) = open(dir.path()).unwrap();
    assert_eq!(rep.next_seq, 1);
    assert!(rep.truncated.is_some());
    append_n(&mut j, 3, 3);
    drop(j);
    assert_eq!(check_all(dir.path(), 1), 3);
}

fn tail_only(dry_run: bool) -> journal::RepairOptions {
    journal::RepairOptions {
        dry_run,
        cut_damage: false,
    }
}

#[test]
fn repair_with_cuts_a_torn_tail_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let last = segs.last().unwrap();
    // Healthy: nothing to repair, and a dry run does not create the lock file.
    std::fs::remove_file(dir.path().join(format::LOCK_NAME)).unwrap();
    let rep = journal::repair_with(dir.path(), tail_only(true)).unwrap();
    assert_eq!(rep.cut, None);
    assert_eq!(rep.last_seq, Some(300));
    assert!(!dir.path().join(format::LOCK_NAME).exists());

    let (offs, _) = last_seg_records(last);
    let victim = *offs.last().unwrap();
    flip(last, victim + 20, 3);
    let before = std::fs::read(last).unwrap();
    let dry = journal::repair_with(dir.path(), tail_only(true)).unwrap();
    let cut = dry.cut.clone().expect("a torn tail to cut");
    assert!(dry.dry_run && cut.torn_tail, "{dry:?}");
    assert_eq!(
        (cut.segment.as_path(), cut.offset),
        (last.as_path(), victim as u64)
    );
    assert!(cut.bytes > 0 && cut.reason.contains("CRC"), "{cut:?}");
    assert_eq!(dry.last_seq, Some(299));
    assert!(dry.quarantined.is_empty());
    assert_eq!(
        std::fs::read(last).unwrap(),
        before,
        "dry run changed the file"
    );

    let done = journal::repair_with(dir.path(), tail_only(false)).unwrap();
    assert_eq!(done.cut, Some(cut.clone()));
    assert!(!done.dry_run);
    assert_eq!(std::fs::metadata(last).unwrap().len(), victim as u64);
    // Now healthy; the writer continues from 300.
    assert_eq!(
        journal::repair_with(dir.path(), tail_only(false))
            .unwrap()
            .cut,
        None
    );
    let (mut j, r) = open(dir.path()).unwrap();
    assert_eq!((r.last_seq, r.truncated), (Some(299), None));
    append_n(&mut j, 5, 3);
}

#[test]
fn repair_with_refuses_mid_log_damage_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let first = &segs[0];
    let (offs, _) = last_seg_records(first);
    flip(first, offs[2] + 18, 1);
    let before: Vec<Vec<u8>> = segs.iter().map(|s| std::fs::read(s).unwrap()).collect();
    expect_corrupt(
        journal::repair_with(dir.path(), tail_only(false)),
        first,
        offs[2] as u64,
    );
    let after: Vec<Vec<u8>> = segs.iter().map(|s| std::fs::read(s).unwrap()).collect();
    assert!(before == after, "a refused repair changed the journal");

    // Asked to: a dry run lists the cut and the segments it would move.
    let force_dry = journal::RepairOptions {
        dry_run: true,
        cut_damage: true,
    };
    let dry = journal::repair_with(dir.path(), force_dry).unwrap();
    let cut = dry.cut.clone().unwrap();
    assert!(!cut.torn_tail && cut.offset == offs[2] as u64, "{cut:?}");
    assert_eq!(dry.quarantined, segs[1..].to_vec());
    assert_eq!(dry.last_seq, Some(2));
    assert!(!dir.path().join("quarantine").exists());
    let done = journal::repair(dir.path()).unwrap();
    assert_eq!((done.cut, done.quarantined), (dry.cut, dry.quarantined));
    let (_j, r) = open(dir.path()).unwrap();
    assert_eq!((r.last_seq, r.segments), (Some(2), 1));
}

#[test]
fn repair_refuses_while_a_writer_holds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 300);
    let (_j, _) = open(dir.path()).unwrap();
    for dry_run in [true, false] {
        match journal::repair_with(dir.path(), tail_only(dry_run)) {
            Err(Error::Config(m)) => assert!(m.contains("held by another"), "{m}"),
            other => panic!("expected a lock error, got {other:?}"),
        }
    }
}

#[test]
fn both_spares_holding_data_are_promoted_in_header_order() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path(), 300);
    let n = segs.len();
    // Crash with the two newest segments still under their spare names (the
    // background thread had renamed neither), the newest under the first name.
    std::fs::rename(&segs[n - 1], dir.path().join(format::SPARE_NAMES[0])).unwrap();
    std::fs::rename(&segs[n - 2], dir.path().join(format::SPARE_NAMES[1])).unwrap();
    let v = journal::verify(dir.path()).unwrap();
    assert_eq!((v.last_seq, v.segments), (Some(300), n));
    // A reader follows the segments still under their spare names.
    let mut r = journal::Reader::open(dir.path(), 1).unwrap();
    let mut last = 0;
    while let Some(rec) = r.next_record().unwrap() {
        assert_eq!(rec.seq, last + 1);
        last = rec.seq;
    }
    assert_eq!(last, 300);
    let (mut j, rep) = open(dir.path()).unwrap();
    assert_eq!(rep.promoted_spare.as_deref(), Some(segs[n - 1].as_path()));
    assert_eq!(rep.last_seq, Some(300));
    assert!(segs.iter().all(|s| s.exists()));
    append_n(&mut j, 10, 3);
    j.close().unwrap();
    assert_eq!(check_all(dir.path(), 1), 310);
    // A spare whose header names a sequence already in a named segment: damage.
    let spare = dir.path().join(format::SPARE_NAMES[1]);
    std::fs::copy(&segs[1], &spare).unwrap();
    expect_corrupt(open(dir.path()), &spare, 0);
    let rep = journal::repair(dir.path()).unwrap();
    assert_eq!(rep.quarantined, vec![spare.clone()]);
    let (_j, r) = open(dir.path()).unwrap();
    assert_eq!(r.last_seq, Some(310));
}
