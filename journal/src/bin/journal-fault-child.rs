//! Test helper for the journal's fault tests (not a user tool): a process that
//! appends under load until it is killed (`append`), or until it runs out of file
//! size under a small `RLIMIT_FSIZE` (`fill`: 100 records in 64 KiB segments, then
//! reopened with `segment_size` above the limit so the next segment cannot be
//! allocated). It prints `acked <seq>` after every
//! successful batch so the parent knows what must survive.
//!
//! Usage: `journal-fault-child <append|fill> <dir> <backend> <segment_size> [fsize_limit]`

use journal::{Backend, Config, Journal};
use std::io::Write;
use std::process::ExitCode;

/// The payload the tests expect for a sequence (length 1..=200).
fn payload(seq: u64, out: &mut Vec<u8>) {
    out.clear();
    let len = 1 + (seq.wrapping_mul(7919) % 200) as usize;
    out.extend((0..len).map(|i| (seq as u8).wrapping_add(i as u8)));
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("journal-fault-child: {msg}");
            ExitCode::from(code)
        }
    }
}

fn run() -> Result<(), (u8, String)> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err((
            2,
            "usage: journal-fault-child <append|fill> <dir> <backend> <segment_size> [fsize_limit]"
                .into(),
        ));
    }
    let backend = Backend::parse(&args[3]).ok_or((2, format!("unknown backend {}", args[3])))?;
    let segment_size: u64 = args[4]
        .parse()
        .map_err(|e| (2, format!("bad segment size: {e}")))?;
    if args[1] == "fill" {
        // Phase 1, no limit: a journal with small segments.
        let small = Config {
            segment_size: 64 << 10,
            backend,
            ..Config::default()
        };
        let (mut j, _) = Journal::open(&args[2], small).map_err(|e| (4, format!("open: {e}")))?;
        let mut b = Vec::new();
        for _ in 0..100 {
            let s = j.next_seq();
            payload(s, &mut b);
            j.append_batch(s, [&b])
                .map_err(|e| (4, format!("append: {e}")))?;
        }
        j.close().map_err(|e| (4, format!("close: {e}")))?;
        println!("acked 100");
        // Phase 2: a file-size limit between the old and the new segment size, so
        // the next segment cannot be allocated.
        let limit: u64 = args
            .get(5)
            .ok_or((2, "fill needs an fsize limit".to_string()))?
            .parse()
            .map_err(|e| (2, format!("bad limit: {e}")))?;
        // SAFETY: plain syscalls; phase 1's threads are joined, so this process is
        // single-threaded here;
        // ignoring SIGXFSZ makes writes past the limit fail with EFBIG instead of
        // killing the process.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rl = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err((2, format!("setrlimit: {}", std::io::Error::last_os_error())));
            }
        }
    } else if args[1] != "append" {
        return Err((2, format!("unknown mode {}", args[1])));
    }
    let cfg = Config {
        segment_size,
        backend,
        ..Config::default()
    };
    let (mut j, _report) = Journal::open(&args[2], cfg).map_err(|e| (4, format!("open: {e}")))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut bufs: Vec<Vec<u8>> = (0..64).map(|_| Vec::new()).collect();
    let mut rng = j.next_seq() | 1;
    loop {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = 1 + (rng % 64) as usize;
        let first = j.next_seq();
        for (i, b) in bufs.iter_mut().take(n).enumerate() {
            payload(first + i as u64, b);
        }
        match j.append_batch(first, bufs.iter().take(n)) {
            Ok(a) => {
                // A closed pipe just means the parent stopped listening.
                let _ = writeln!(out, "acked {}", a.next_seq - 1);
            }
            Err(e) => {
                let _ = writeln!(out, "error {e}");
                // The writer must now refuse everything, never retry.
                if let Err(again) = j.append_batch(first, bufs.iter().take(n)) {
                    let _ = writeln!(out, "after-error {again}");
                }
                let _ = out.flush();
                return Err((3, e.to_string()));
            }
        }
    }
}
