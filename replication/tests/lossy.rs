//! Replication over a lossy link: drops, duplicates and reorders in both
//! directions; the secondary must end with exactly the primary's records.

mod common;

use common::{Faults, MemJournal, Relay, free_addr, record};
use replication::{Idle, PrimaryConfig, Receiver, Replicator, SecondaryConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const EPOCH: u64 = 0xE90C_0001;

fn run_lossy(faults: Faults, seed: u64, records: u64, window: usize) {
    let p_addr = free_addr();
    let s_addr = free_addr();
    let relay = Relay::start(p_addr, s_addr, faults, seed);

    let mut scfg = SecondaryConfig::new(s_addr, relay.secondary_side, EPOCH);
    scfg.nak_interval = Duration::from_millis(2);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let secondary = std::thread::spawn(move || {
        let mut rx = Receiver::new(scfg).unwrap();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while !stop2.load(Ordering::Relaxed) {
            let n = rx.poll(&mut |seq, rec| {
                assert_eq!(seq, got.len() as u64, "delivered out of order or twice");
                got.push(rec.to_vec());
            });
            if n == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        (got, rx.stats())
    });

    let journal = MemJournal::default();
    let mut pcfg = PrimaryConfig::new(p_addr, relay.primary_side, EPOCH);
    pcfg.window = window;
    pcfg.retransmit_timeout = Duration::from_millis(5);
    pcfg.max_in_flight = 512;
    pcfg.idle = Idle::Sleep(Duration::from_micros(50));
    let mut p = Replicator::new(pcfg, Box::new(journal.clone())).unwrap();
    let acked = p.acked_sequence();
    let mut rng = common::Rng::new(seed ^ 0xABCD);
    let mut seq = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seq < records {
        let batch = 1 + rng.next() % 40;
        for _ in 0..batch.min(records - seq) {
            let r = record(seq);
            journal.append(&r);
            p.send(seq, &r).unwrap();
            seq += 1;
        }
        p.flush();
        p.poll();
        // Keep at most ~1000 records unacknowledged, like a ring would.
        while seq as i64 - acked.load(Ordering::Acquire) > 1000 {
            assert!(Instant::now() < deadline, "no progress: {:?}", p.stats());
            p.poll();
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    assert!(
        p.wait_for(records - 1, Duration::from_secs(30)),
        "not all acknowledged: acked_next {} stats {:?}",
        p.acked_next(),
        p.stats()
    );
    stop.store(true, Ordering::Relaxed);
    let (got, sstats) = secondary.join().unwrap();
    let pstats = p.stats();
    assert_eq!(got.len() as u64, records);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r, &record(i as u64), "record {i} differs");
    }
    let rs = &relay.stats;
    eprintln!(
        "relay: dropped {} duplicated {} reordered {}; primary {pstats:?}; secondary {sstats:?}",
        rs.dropped.load(Ordering::Relaxed),
        rs.duplicated.load(Ordering::Relaxed),
        rs.reordered.load(Ordering::Relaxed)
    );
    assert_eq!(sstats.records, records);
    if faults.drop > 0 {
        assert!(rs.dropped.load(Ordering::Relaxed) > 0);
        assert!(pstats.datagrams_resent > 0, "losses must cause resends");
    }
    if faults.dup > 0 {
        assert!(sstats.duplicates > 0);
    }
    if window < 1000 && faults.drop > 0 {
        assert!(pstats.resent_from_source > 0 && journal.reads() > 0);
    }
    assert_eq!(sstats.garbage + sstats.bad_crc + sstats.foreign_epoch, 0);
}

#[test]
fn clean_link_delivers_everything_once() {
    run_lossy(
        Faults {
            drop: 0,
            dup: 0,
            reorder: 0,
        },
        1,
        5_000,
        1 << 12,
    );
}

#[test]
fn lossy_link_delivers_exactly_the_primary_records() {
    run_lossy(
        Faults {
            drop: 5,
            dup: 5,
            reorder: 5,
        },
        42,
        20_000,
        1 << 12,
    );
}

#[test]
fn lossy_link_with_small_window_uses_the_journal() {
    // A window smaller than what is in flight: resends must come from the source.
    run_lossy(
        Faults {
            drop: 10,
            dup: 3,
            reorder: 10,
        },
        7,
        8_000,
        64,
    );
}
