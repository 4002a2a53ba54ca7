//! `perf bench journal`: append latency (per batch, HdrHistogram) and throughput
//! of the `journal` crate for record sizes 64/128/512 and batch sizes 1/16/256,
//! per back-end and durability policy, against a plain `write(2)` loop on an
//! `O_APPEND` file writing the same framed bytes in the same run. A separate row per
//! back-end compares the maximum latency of batches that rolled to a new segment
//! with the maximum of those that did not.

use crate::report::{BenchResult, Reporter, latency_histogram};
use clap::Args;
use hdrhistogram::Histogram;
use journal::{Backend, Config, Durability, Journal};
use serde_json::json;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of `perf bench journal`.
#[derive(Args, Debug)]
pub struct JournalArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Directory to write in (default: a fresh directory under /tmp, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Records per (size, batch) run without fsync; the fsync runs use fewer.
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// A short run: fewer records and fsyncs.
    #[arg(long)]
    pub quick: bool,
    /// Segment size in bytes (small, so every run rolls several times; large
    /// enough that the background thread can prepare the next one in time).
    #[arg(long, default_value_t = 4 << 20)]
    pub segment_size: u64,
    /// Back-ends to measure (comma-separated: pwrite,mmap,io_uring).
    #[arg(long, value_delimiter = ',', default_value = "pwrite,mmap,io_uring")]
    pub backends: Vec<String>,
    /// Record payload sizes in bytes (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "64,128,512")]
    pub sizes: Vec<usize>,
    /// Batch sizes in records (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    pub batches: Vec<usize>,
    /// Durability policies to measure (comma-separated: none,batch,interval).
    #[arg(long, value_delimiter = ',', default_value = "none,batch,interval")]
    pub durability: Vec<String>,
}

const INTERVAL: Duration = Duration::from_millis(1);

/// One measured run.
struct Run {
    hist: Histogram<u64>,
    roll: Histogram<u64>,
    nonroll_max: u64,
    records: u64,
    bytes: u64,
    elapsed: Duration,
    backend_in_use: String,
    spare_waits: u64,
}

/// Runs the journal benchmark family.
pub fn run(args: JournalArgs) -> Result<(), String> {
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ringex-journal-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let mut backends = Vec::new();
    for b in &args.backends {
        backends.push(Backend::parse(b).ok_or_else(|| format!("unknown back-end {b}"))?);
    }
    let mut policies = Vec::new();
    for d in &args.durability {
        policies.push(match d.as_str() {
            "none" => Durability::None,
            "batch" => Durability::Batch,
            "interval" => Durability::Interval(INTERVAL),
            other => return Err(format!("unknown durability {other}")),
        });
    }
    if args.sizes.is_empty() || args.batches.contains(&0) {
        return Err("--sizes and --batches need positive values".into());
    }
    let records = if args.quick {
        args.records.min(50_000)
    } else {
        args.records
    };
    let mut rep = Reporter::new(args.json);
    let mut summary = Vec::new();
    let result = (|| {
        for &dur in &policies {
            for &size in &args.sizes {
                for &batch in &args.batches {
                    let batches = batches_for(dur, records, batch, args.quick);
                    let scenario = format!("r{size}_b{batch}/{}", dur.name());
                    let raw = raw_write(&base, size, batch, batches, dur)?;
                    let raw_p99 = report_run(
                        &mut rep,
                        &scenario,
                        raw_name(dur),
                        &raw,
                        size,
                        batch,
                        dur,
                        &args,
                    );
                    for &backend in &backends {
                        let r = journal_run(
                            &base,
                            size,
                            batch,
                            batches,
                            dur,
                            backend,
                            args.segment_size,
                        )?;
                        let p99 = report_run(
                            &mut rep,
                            &scenario,
                            &format!("journal/{}", backend.name()),
                            &r,
                            size,
                            batch,
                            dur,
                            &args,
                        );
                        if dur == Durability::None && !r.roll.is_empty() {
                            let roll_max = r.roll.max();
                            rep.report(
                                BenchResult::from_histogram("journal", &format!("roll/r{size}_b{batch}/{}", dur.name()), &format!("journal/{}", backend.name()), None, &r.roll)
                                    .with_params(json!({
                                        "rolls": r.roll.len(),
                                        "roll_max_ns": roll_max,
                                        "nonroll_max_ns": r.nonroll_max,
                                        "roll_over_nonroll_max": roll_max as f64 / r.nonroll_max.max(1) as f64,
                                        "spare_waits": r.spare_waits,
                                    })),
                            );
                            summary.push(format!(
                                "  {:<8} r{size:<3} b{batch:<3}: p99 {:>6} ns vs write(2) {:>6} ns ({:.2}x); roll max {:>7} ns vs non-roll max {:>7} ns ({:.2}x, {} rolls, {} waited for the spare); {:.2} GB/s",
                                backend.name(),
                                p99,
                                raw_p99,
                                p99 as f64 / raw_p99.max(1) as f64,
                                roll_max,
                                r.nonroll_max,
                                roll_max as f64 / r.nonroll_max.max(1) as f64,
                                r.roll.len(),
                                r.spare_waits,
                                r.bytes as f64 / r.elapsed.as_secs_f64() / 1e9,
                            ));
                        }
                    }
                }
            }
        }
        Ok::<(), String>(())
    })();
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
    result?;
    if !summary.is_empty() {
        rep.note("\njournal vs write(2), no fsync (targets: p99 <= 1.2x write(2), roll max <= 2x non-roll max):");
        for s in &summary {
            rep.note(s);
        }
    }
    Ok(())
}

fn raw_name(d: Durability) -> &'static str {
    match d {
        Durability::None => "write(2)",
        Durability::Batch => "write(2)+fdatasync",
        Durability::Interval(_) => "write(2)+fdatasync/1ms",
    }
}

/// Batches to time: all records without fsync, fewer with.
fn batches_for(d: Durability, records: u64, batch: usize, quick: bool) -> u64 {
    let all = (records / batch as u64).max(200);
    match d {
        Durability::None => all,
        Durability::Batch => all.min(if quick { 100 } else { 400 }),
        Durability::Interval(_) => all.min(if quick { 2_000 } else { 10_000 }),
    }
}

#[allow(clippy::too_many_arguments)]
fn report_run(
    rep: &mut Reporter,
    scenario: &str,
    impl_name: &str,
    r: &Run,
    size: usize,
    batch: usize,
    dur: Durability,
    args: &JournalArgs,
) -> u64 {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let res = BenchResult::from_histogram(
        "journal",
        scenario,
        impl_name,
        Some(r.records as f64 / secs),
        &r.hist,
    )
    .with_params(json!({
        "record_size": size,
        "batch": batch,
        "durability": dur.name(),
        "records": r.records,
        "batches": r.hist.len(),
        "bytes_per_sec": r.bytes as f64 / secs,
        "backend_in_use": r.backend_in_use,
        "segment_size": args.segment_size,
    }));
    let p99 = res.p99_ns.unwrap_or(0);
    rep.report(res);
    p99
}

fn payloads(size: usize, batch: usize) -> Vec<Vec<u8>> {
    (0..batch)
        .map(|i| (0..size).map(|k| (i * 31 + k) as u8).collect())
        .collect()
}

fn warmup_batches(batches: u64) -> u64 {
    (batches / 10).clamp(10, 2_000)
}

/// The journal under test.
fn journal_run(
    base: &Path,
    size: usize,
    batch: usize,
    batches: u64,
    dur: Durability,
    backend: Backend,
    segment_size: u64,
) -> Result<Run, String> {
    let dir = base.join(format!(
        "j-{}-{size}-{batch}-{}",
        backend.name(),
        dur.name()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config {
        segment_size,
        backend,
        durability: dur,
        ..Config::default()
    };
    let (mut j, _) = Journal::open(&dir, cfg).map_err(|e| e.to_string())?;
    let recs = payloads(size, batch);
    let append = |j: &mut Journal| -> Result<bool, String> {
        let first = j.next_seq();
        j.append_batch(first, &recs)
            .map(|a| a.rolled)
            .map_err(|e| e.to_string())
    };
    for _ in 0..warmup_batches(batches) {
        append(&mut j)?;
    }
    // Start timing with the next segment ready, as in steady state.
    j.wait_next_segment(Duration::from_secs(10));
    let mut hist = latency_histogram();
    let mut roll = latency_histogram();
    let mut nonroll_max = 0;
    let start = Instant::now();
    for _ in 0..batches {
        let t0 = Instant::now();
        let rolled = append(&mut j)?;
        let ns = t0.elapsed().as_nanos() as u64;
        hist.saturating_record(ns.max(1));
        if rolled {
            roll.saturating_record(ns.max(1));
        } else {
            nonroll_max = nonroll_max.max(ns);
        }
    }
    let elapsed = start.elapsed();
    let backend_in_use = j.backend().name().to_string();
    let spare_waits = j.stats().spare_waits;
    j.close().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Run {
        hist,
        roll,
        nonroll_max,
        records: batches * batch as u64,
        bytes: batches * (batch * (size + journal::format::RECORD_OVERHEAD)) as u64,
        elapsed,
        backend_in_use,
        spare_waits,
    })
}

/// The peer: the same framed bytes appended with one `write(2)` per batch on an
/// `O_APPEND` file (no pre-allocation), plus `fdatasync` per the same policy.
fn raw_write(
    base: &Path,
    size: usize,
    batch: usize,
    batches: u64,
    dur: Durability,
) -> Result<Run, String> {
    let path = base.join(format!("raw-{size}-{batch}-{}", dur.name()));
    let _ = std::fs::remove_file(&path);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(0)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut buf = Vec::new();
    for (i, p) in payloads(size, batch).iter().enumerate() {
        journal::format::encode_record(&mut buf, i as u64 + 1, p);
    }
    let fd = file.as_raw_fd();
    let mut last_sync = Instant::now();
    let mut write_batch = || -> Result<(), String> {
        let mut done = 0;
        while done < buf.len() {
            // SAFETY: `buf[done..]` is a live slice; the kernel reads at most its length.
            let n = unsafe { libc::write(fd, buf[done..].as_ptr().cast(), buf.len() - done) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("write {}: {e}", path.display()));
            }
            done += n as usize;
        }
        let sync = match dur {
            Durability::None => false,
            Durability::Batch => true,
            Durability::Interval(d) => last_sync.elapsed() >= d,
        };
        if sync {
            file.sync_data()
                .map_err(|e| format!("fdatasync {}: {e}", path.display()))?;
            last_sync = Instant::now();
        }
        Ok(())
    };
    for _ in 0..warmup_batches(batches) {
        write_batch()?;
    }
    let mut hist = latency_histogram();
    let start = Instant::now();
    for _ in 0..batches {
        let t0 = Instant::now();
        write_batch()?;
        hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
    }
    let elapsed = start.elapsed();
    let nonroll_max = hist.max();
    let _ = std::fs::remove_file(&path);
    Ok(Run {
        hist,
        roll: latency_histogram(),
        nonroll_max,
        records: batches * batch as u64,
        bytes: batches * (batch * (size + journal::format::RECORD_OVERHEAD)) as u64,
        elapsed,
        backend_in_use: "write(2)".into(),
        spare_waits: 0,
    })
}
