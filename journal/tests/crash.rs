//! Process-level faults, using the `journal-fault-child` helper binary:
//! SIGKILL at random moments under load, and running out of file size.

mod common;

use common::{append_n, cfg, payload};
use journal::{Backend, Journal, Reader};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHILD: &str = env!("CARGO_BIN_EXE_journal-fault-child");
const SEG: u64 = 256 << 10;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads `acked <seq>` lines; keeps the highest.
fn spawn_ack_reader(
    stdout: std::process::ChildStdout,
) -> (Arc<AtomicU64>, std::thread::JoinHandle<Vec<String>>) {
    let acked = Arc::new(AtomicU64::new(0));
    let a2 = acked.clone();
    let h = std::thread::spawn(move || {
        let mut other = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match line
                .strip_prefix("acked ")
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(s) => a2.store(s, Ordering::Release),
                None => other.push(line),
            }
        }
        other
    });
    (acked, h)
}

/// Checks records `from..=to` read back with the right payloads.
fn check_range(dir: &Path, from: u64, to: u64) {
    let mut r = Reader::open(dir, from).unwrap();
    for seq in from..=to {
        let rec = r
            .next_record()
            .unwrap()
            .unwrap_or_else(|| panic!("record {seq} missing"));
        assert_eq!(rec.seq, seq);
        assert_eq!(rec.payload, payload(seq).as_slice(), "payload of {seq}");
    }
    assert!(r.next_record().unwrap().is_none(), "records beyond {to}");
}

#[test]
fn sigkill_under_load_leaves_a_gap_free_prefix_and_the_writer_continues() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("sigkill test seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let backends = [Backend::Pwrite, Backend::Mmap, Backend::IoUring];
    let mut verified_to = 0u64;
    let mut torn = 0;
    for round in 0..24 {
        let backend = backends[round % 3];
        let mut child = Command::new(CHILD)
            .args([
                "append",
                dir.path().to_str().unwrap(),
                backend.name(),
                &SEG.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let (acked, reader) = spawn_ack_reader(stdout);
        // Wait until it is appending, then kill it at a random moment.
        let start = Instant::now();
        while acked.load(Ordering::Acquire) <= verified_to
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 30_000));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "child should have been killed");
        let _ = reader.join();
        let acked = acked.load(Ordering::Acquire);
        assert!(acked > verified_to, "round {round}: child made no progress");

        let (mut j, rep) = Journal::open(dir.path(), cfg(backend, SEG))
            .unwrap_or_else(|e| panic!("round {round} ({}): reopen failed: {e}", backend.name()));
        let last = rep.last_seq.expect("records present");
        // The page cache survives SIGKILL: every acknowledged record is there.
        assert!(last >= acked, "round {round}: last {last} < acked {acked}");
        if rep.truncated.is_some() {
            torn += 1;
        }
        check_range(dir.path(), verified_to + 1, last);
        // The writer continues from the recovered sequence.
        append_n(&mut j, 3, 3);
        j.close().unwrap();
        verified_to = last + 3;
    }
    eprintln!("24 rounds, {torn} torn tails truncated, {verified_to} records");
    // A final full pass over everything.
    let rep = journal::verify(dir.path()).unwrap();
    assert_eq!(rep.last_seq, Some(verified_to));
    check_range(dir.path(), 1, verified_to);
}

#[test]
fn out_of_file_size_is_a_clear_error_and_the_journal_reopens() {
    for backend in [Backend::Pwrite, Backend::Mmap, Backend::IoUring] {
        let dir = tempfile::tempdir().unwrap();
        let seg: u64 = 128 << 10; // new segments cannot be allocated...
        let limit: u64 = 96 << 10; // ...but the 64 KiB tail of phase 1 is fine
        let mut child = Command::new(CHILD)
            .args([
                "fill",
                dir.path().to_str().unwrap(),
                backend.name(),
                &seg.to_string(),
                &limit.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let (acked, reader) = spawn_ack_reader(stdout);
        let out = child.wait_with_output().expect("wait");
        let other = reader.join().unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}: child should fail with an append error",
            backend.name()
        );
        let err = other.join("\n");
        assert!(
            err.contains("File too large") || err.contains("No space"),
            "{}: unclear error: {err}",
            backend.name()
        );
        eprintln!("{}: {err}", backend.name());
        assert!(
            err.contains("after-error") && err.contains("failed state"),
            "{}: the writer must refuse appends after an I/O error: {err}",
            backend.name()
        );
        let acked = acked.load(Ordering::Acquire);
        assert!(acked > 100, "phase 2 appended before failing");
        let (mut j, rep) = Journal::open(dir.path(), cfg(backend, seg)).unwrap();
        let last = rep.last_seq.unwrap();
        assert!(last >= acked, "last {last} < acked {acked}");
        check_range(dir.path(), 1, last);
        append_n(&mut j, 5, 5);
        drop(j);
        check_range(dir.path(), 1, last + 5);
    }
}
