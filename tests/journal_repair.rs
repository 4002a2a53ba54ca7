//! `ringex journal repair` through the real binary: a torn tail is reported by
//! a dry run, then cut; damage before the tail is refused with exit code 3.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ringex");

fn ringex(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
    (o.status.code().unwrap_or(-1), s(o.stdout), s(o.stderr))
}

/// A journal of `n` 40-byte records under `data/journal`; its segment.
fn journal(data: &Path, n: u64) -> std::path::PathBuf {
    let cfg = journal::Config {
        segment_size: 1 << 16,
        prefault: false,
        ..journal::Config::default()
    };
    let (mut j, _) = journal::Journal::open(data.join("journal"), cfg).unwrap();
    let recs: Vec<[u8; 40]> = (0..n).map(|i| [i as u8 | 1; 40]).collect();
    j.append_batch(1, recs.iter().map(|r| r.as_slice()))
        .unwrap();
    j.close().unwrap();
    journal::list_segments(&data.join("journal")).unwrap()[0]
        .1
        .clone()
}

#[test]
fn repair_cuts_torn_tail_and_refuses_mid_log_damage() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let seg = journal(&data, 10);
    let d = data.to_str().unwrap();
    let end = journal::format::HEADER_LEN + 10 * (40 + journal::format::RECORD_OVERHEAD);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[end..end + 9].copy_from_slice(&[0x5A; 9]);
    std::fs::write(&seg, &bytes).unwrap();

    let (code, out, err) = ringex(&["journal", "repair", "--dry-run", d]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "would cut torn tail: segment {}, offset {end}, 9 bytes discarded",
            seg.display()
        )),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "dry run changed the file"
    );

    let (code, out, err) = ringex(&["journal", "repair", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("cut torn tail: segment"), "{out}");
    assert!(out.contains("now ends at sequence 10"), "{out}");
    let (code, out, _) = ringex(&["journal", "repair", d]);
    assert_eq!(code, 0);
    assert!(out.starts_with("nothing to repair"), "{out}");

    // A flipped bit in record 3: refused (3), nothing changed.
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[journal::format::HEADER_LEN + 2 * 56 + 30] ^= 4;
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out, err) = ringex(&["journal", "repair", d]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("refused: damage before the tail"), "{err}");
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
    let (code, out, err) = ringex(&["journal", "repair", "--cut-damage", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("now ends at sequence 2"), "{out}");
    let (code, _, _) = ringex(&["journal", "verify", d]);
    assert_eq!(code, 0);
}
