//! Shared helpers of the replication integration tests: a seeded lossy UDP relay,
//! a record generator and an in-memory "journal" retransmit source.

#![allow(dead_code)]

use replication::{RecordBatch, RetransmitSource};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A tiny seeded PRNG (xorshift64*), so runs are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// The record with sequence `seq`: length and bytes derived from `seq`.
pub fn record(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(2_654_435_761) % 200) as usize;
    (0..len).map(|i| (seq as usize + i * 7) as u8).collect()
}

/// The primary's "journal": every record sent, served as the fallback source.
#[derive(Clone, Default)]
pub struct MemJournal(pub Arc<Mutex<Vec<Vec<u8>>>>, pub Arc<AtomicU64>);

impl MemJournal {
    pub fn append(&self, rec: &[u8]) {
        self.0.lock().unwrap().push(rec.to_vec());
    }
    /// Reads served so far.
    pub fn reads(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }
}

impl RetransmitSource for MemJournal {
    fn read(&mut self, from: u64, max: usize, out: &mut RecordBatch) -> Result<usize, String> {
        let j = self.0.lock().map_err(|e| e.to_string())?;
        let mut n = 0;
        for rec in j.iter().skip(from as usize).take(max) {
            out.push(rec);
            n += 1;
        }
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Loss settings of one direction of the relay, in percent.
#[derive(Clone, Copy)]
pub struct Faults {
    pub drop: u64,
    pub dup: u64,
    pub reorder: u64,
}

/// Counters of what the relay did.
#[derive(Default)]
pub struct RelayStats {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
}

/// A UDP relay thread between a primary and a secondary that drops, duplicates
/// and reorders datagrams in both directions, seeded.
pub struct Relay {
    /// Address the primary sends to.
    pub primary_side: SocketAddr,
    /// Address the secondary sends to.
    pub secondary_side: SocketAddr,
    pub stats: Arc<RelayStats>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Relay {
    pub fn start(primary: SocketAddr, secondary: SocketAddr, faults: Faults, seed: u64) -> Relay {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let primary_side = a.local_addr().unwrap();
        let secondary_side = b.local_addr().unwrap();
        let (stats2, stop2) = (stats.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut rng = Rng::new(seed);
            let mut buf = vec![0u8; 65_536];
            // One held-back datagram per direction, released after the next one.
            let mut held: [Option<Vec<u8>>; 2] = [None, None];
            while !stop.load(Ordering::Relaxed) {
                let mut idle = true;
                for (dir, held) in held.iter_mut().enumerate() {
                    let (from, to, dest) = if dir == 0 {
                        (&a, &b, secondary)
                    } else {
                        (&b, &a, primary)
                    };
                    while let Ok((n, _)) = from.recv_from(&mut buf) {
                        idle = false;
                        let d = &buf[..n];
                        if rng.chance(faults.drop) {
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if held.is_none() && rng.chance(faults.reorder) {
                            *held = Some(d.to_vec());
                            stats.reordered.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let _ = to.send_to(d, dest);
                        stats.forwarded.fetch_add(1, Ordering::Relaxed);
                        if rng.chance(faults.dup) {
                            let _ = to.send_to(d, dest);
                            stats.duplicated.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(h) = held.take() {
                            let _ = to.send_to(&h, dest);
                        }
                    }
                    // Do not hold forever on a quiet link.
                    if idle && let Some(h) = held.take() {
                        let _ = to.send_to(&h, dest);
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        });
        Relay {
            primary_side,
            secondary_side,
            stats: stats2,
            stop: stop2,
            handle: Some(handle),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reserves a free loopback UDP port (bind, read, close).
pub fn free_addr() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}
