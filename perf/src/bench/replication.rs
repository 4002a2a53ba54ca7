//! `perf bench replication`: round-trip latency (send -> acknowledgement) and
//! throughput of the `replication` crate over loopback for record sizes 64/128/512
//! and batch sizes 1/16/256, against a raw UDP ping-pong in the same run: the same
//! socket setup (`replication::open_socket`, same buffers), the same datagram sizes
//! and count per batch (records packed the same way), one 32-byte reply per
//! datagram, and the same waiting style on both sides.
//!
//! Throughput here is with one batch in flight (ping-pong), so it is records per
//! second at the measured round trip, not a streaming maximum.

use crate::report::{BenchResult, Reporter, latency_histogram};
use clap::Args;
use hdrhistogram::Histogram;
use replication::wire::{HEADER_LEN, RECORD_OVERHEAD};
use replication::{
    Idle, NoSource, PrimaryConfig, Receiver, Replicator, SecondaryConfig, SocketConfig, open_socket,
};
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `perf bench replication`.
#[derive(Args, Debug)]
pub struct ReplicationArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Timed round trips per (size, batch, implementation).
    #[arg(long, default_value_t = 20_000)]
    pub iters: u64,
    /// Untimed round trips before measuring.
    #[arg(long, default_value_t = 500)]
    pub warmup: u64,
    /// Record payload sizes in bytes (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "64,128,512")]
    pub sizes: Vec<usize>,
    /// Batch sizes in records (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    pub batches: Vec<usize>,
    /// Largest datagram in bytes (loopback: up to 65507).
    #[arg(long, default_value_t = 65_000)]
    pub max_datagram: usize,
    /// Waiting style of both sides: spin or yield.
    #[arg(long, default_value = "spin")]
    pub idle: String,
}

const BUF: usize = 4 << 20;
const EPOCH: u64 = 0x5EED;

fn sock_cfg(bind: SocketAddr, peer: SocketAddr) -> SocketConfig {
    SocketConfig {
        bind,
        peer,
        send_buffer: Some(BUF),
        recv_buffer: Some(BUF),
    }
}

fn free_addr() -> Result<SocketAddr, String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    s.local_addr().map_err(|e| format!("local_addr: {e}"))
}

/// Records per datagram for `size`-byte records, as the replicator packs them.
fn per_datagram(size: usize, max: usize) -> usize {
    ((max - HEADER_LEN) / (size + RECORD_OVERHEAD)).max(1)
}

/// Runs the replication benchmark family.
pub fn run(args: ReplicationArgs) -> Result<(), String> {
    let idle = match args.idle.as_str() {
        "spin" => Idle::Spin,
        "yield" => Idle::Yield,
        o => return Err(format!("unknown --idle {o} (spin|yield)")),
    };
    if args.max_datagram > replication::wire::MAX_UDP_PAYLOAD {
        return Err(format!(
            "--max-datagram above {}",
            replication::wire::MAX_UDP_PAYLOAD
        ));
    }
    let mut rep = Reporter::new(args.json);
    for &size in &args.sizes {
        if size + RECORD_OVERHEAD + HEADER_LEN > args.max_datagram || size > u16::MAX as usize {
            return Err(format!("record size {size} does not fit a datagram"));
        }
        for &batch in &args.batches {
            let batch = batch.max(1);
            let per = per_datagram(size, args.max_datagram);
            let dgrams = batch.div_ceil(per);
            let params = json!({
                "record_bytes": size, "batch": batch, "datagrams_per_batch": dgrams,
                "max_datagram": args.max_datagram, "idle": args.idle,
                "iters": args.iters, "mode": "one batch in flight; throughput = records/s"
            });
            let scenario = format!("rtt_{size}B_batch{batch}");
            let (raw_h, raw_el) = raw_pingpong(&args, size, batch, idle)?;
            let (rep_h, rep_el) = replicated(&args, size, batch, idle)?;
            let recs = (args.iters * batch as u64) as f64;
            rep.report(
                BenchResult::from_histogram(
                    "replication",
                    &scenario,
                    "raw-udp-pingpong",
                    Some(recs / raw_el.as_secs_f64()),
                    &raw_h,
                )
                .with_params(params.clone()),
            );
            rep.report(
                BenchResult::from_histogram(
                    "replication",
                    &scenario,
                    "ringex-replication",
                    Some(recs / rep_el.as_secs_f64()),
                    &rep_h,
                )
                .with_params(params),
            );
            if !raw_h.is_empty() && !rep_h.is_empty() {
                rep.note(&format!(
                    "  replication/raw: p50 {:.2}x  p99 {:.2}x",
                    rep_h.value_at_quantile(0.5) as f64 / raw_h.value_at_quantile(0.5) as f64,
                    rep_h.value_at_quantile(0.99) as f64 / raw_h.value_at_quantile(0.99) as f64
                ));
            }
        }
    }
    Ok(())
}

/// Raw UDP: send the batch's datagrams (same sizes), wait for one 32-byte reply each.
fn raw_pingpong(
    args: &ReplicationArgs,
    size: usize,
    batch: usize,
    idle: Idle,
) -> Result<(Histogram<u64>, Duration), String> {
    let (a_addr, b_addr) = (free_addr()?, free_addr()?);
    let a = open_socket(&sock_cfg(a_addr, b_addr)).map_err(|e| e.to_string())?;
    let b = open_socket(&sock_cfg(b_addr, a_addr)).map_err(|e| e.to_string())?;
    let per = per_datagram(size, args.max_datagram);
    let mut dgrams = Vec::new();
    let mut left = batch;
    while left > 0 {
        let n = left.min(per);
        dgrams.push(vec![0x5Au8; HEADER_LEN + n * (size + RECORD_OVERHEAD)]);
        left -= n;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let echo = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let reply = [0xA5u8; HEADER_LEN];
        while !stop2.load(Ordering::Relaxed) {
            match b.recv_from(&mut buf) {
                Ok(_) => {
                    let _ = b.send_to(&reply, a_addr);
                }
                Err(_) => idle.idle(),
            }
        }
    });
    let mut buf = vec![0u8; 65_536];
    let mut hist = latency_histogram();
    let mut timed = Duration::ZERO;
    let mut result = Ok(());
    'outer: for i in 0..args.warmup + args.iters {
        let t0 = Instant::now();
        for d in &dgrams {
            if let Err(e) = a.send_to(d, b_addr) {
                result = Err(format!("raw send: {e}"));
                break 'outer;
            }
        }
        let mut replies = 0;
        let deadline = t0 + Duration::from_secs(5);
        while replies < dgrams.len() {
            match a.recv_from(&mut buf) {
                Ok(_) => replies += 1,
                Err(_) => {
                    if Instant::now() > deadline {
                        result = Err("raw ping-pong: reply lost (loopback drop)".into());
                        break 'outer;
                    }
                    idle.idle()
                }
            }
        }
        let el = t0.elapsed();
        if i >= args.warmup {
            timed += el;
            let _ = hist.record(el.as_nanos() as u64);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    result.map(|_| (hist, timed))
}

/// Replication: `send` the batch, then `wait_for` its last seq to be acknowledged.
fn replicated(
    args: &ReplicationArgs,
    size: usize,
    batch: usize,
    idle: Idle,
) -> Result<(Histogram<u64>, Duration), String> {
    let (p_addr, s_addr) = (free_addr()?, free_addr()?);
    let mut pcfg = PrimaryConfig::new(p_addr, s_addr, EPOCH);
    pcfg.socket = sock_cfg(p_addr, s_addr);
    pcfg.max_datagram = args.max_datagram;
    pcfg.record_capacity = size;
    pcfg.idle = idle;
    pcfg.retransmit_timeout = Duration::from_millis(50);
    let mut p = Replicator::new(pcfg, Box::new(NoSource)).map_err(|e| e.to_string())?;
    let mut scfg = SecondaryConfig::new(s_addr, p_addr, EPOCH);
    scfg.socket = sock_cfg(s_addr, p_addr);
    let mut rx = Receiver::new(scfg).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let secondary = std::thread::spawn(move || {
        let mut bytes = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            let n = rx.poll(&mut |_, rec| bytes += rec.len() as u64);
            if n == 0 {
                idle.idle();
            }
        }
        bytes
    });
    let rec = vec![0x5Au8; size];
    let mut hist = latency_histogram();
    let mut timed = Duration::ZERO;
    let mut seq = 0u64;
    let mut result = Ok(());
    for i in 0..args.warmup + args.iters {
        let t0 = Instant::now();
        for _ in 0..batch {
            if let Err(e) = p.send(seq, &rec) {
                result = Err(e.to_string());
                break;
            }
            seq += 1;
        }
        if result.is_err() {
            break;
        }
        if !p.wait_for(seq - 1, Duration::from_secs(5)) {
            result = Err(format!(
                "no acknowledgement for seq {}: {:?}",
                seq - 1,
                p.stats()
            ));
            break;
        }
        let el = t0.elapsed();
        if i >= args.warmup {
            timed += el;
            let _ = hist.record(el.as_nanos() as u64);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let bytes = secondary
        .join()
        .map_err(|_| "secondary thread panicked".to_string())?;
    if result.is_ok() && bytes < seq * size as u64 {
        result = Err(format!(
            "secondary got {bytes} bytes, expected {}",
            seq * size as u64
        ));
    }
    result.map(|_| (hist, timed))
}
