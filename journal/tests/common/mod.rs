//! Shared helpers for the journal's integration tests.
#![allow(dead_code)]

use journal::{Backend, Config, Durability, Journal, Reader};
use std::path::Path;

/// The payload the tests (and the fault child) use for a sequence.
pub fn payload(seq: u64) -> Vec<u8> {
    let len = 1 + (seq.wrapping_mul(7919) % 200) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_add(i as u8))
        .collect()
}

pub fn cfg(backend: Backend, segment_size: u64) -> Config {
    Config {
        segment_size,
        backend,
        durability: Durability::None,
        ..Config::default()
    }
}

/// Appends records `next..next+count` in batches of `batch`.
pub fn append_n(j: &mut Journal, count: u64, batch: u64) {
    let mut done = 0;
    while done < count {
        let n = batch.min(count - done);
        let first = j.next_seq();
        let recs: Vec<Vec<u8>> = (first..first + n).map(payload).collect();
        j.append_batch(first, &recs).expect("append");
        done += n;
    }
}

/// Reads every record from `from` to the current end, checking sequence and
/// payload; returns the last sequence read (or `from - 1`).
pub fn check_all(dir: &Path, from: u64) -> u64 {
    let mut r = Reader::open(dir, from).expect("reader");
    let mut expect = from;
    while let Some(rec) = r.next_record().expect("read") {
        assert_eq!(rec.seq, expect);
        assert_eq!(
            rec.payload,
            payload(rec.seq).as_slice(),
            "payload of {}",
            rec.seq
        );
        expect += 1;
    }
    expect - 1
}

/// Offsets of every record in a segment file (after the 32-byte header).
pub fn record_offsets(data: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut off = journal::format::HEADER_LEN;
    while off + 4 <= data.len() {
        let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        v.push(off);
        off += len;
    }
    v
}
