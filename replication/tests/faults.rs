//! Secondary restart and catch-up, hostile datagrams, and the degrade policy.

mod common;

use common::{MemJournal, free_addr, record};
use replication::wire::{self, DataBuilder, HEADER_LEN, Kind};
use replication::{Idle, NoSource, Policy, PrimaryConfig, Receiver, Replicator, SecondaryConfig};
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const EPOCH: u64 = 77;

fn primary(
    p: std::net::SocketAddr,
    s: std::net::SocketAddr,
    window: usize,
) -> (Replicator, MemJournal) {
    let j = MemJournal::default();
    let mut cfg = PrimaryConfig::new(p, s, EPOCH);
    cfg.window = window;
    cfg.retransmit_timeout = Duration::from_millis(5);
    cfg.idle = Idle::Sleep(Duration::from_micros(50));
    (Replicator::new(cfg, Box::new(j.clone())).unwrap(), j)
}

fn secondary(s: std::net::SocketAddr, p: std::net::SocketAddr, next: u64) -> Receiver {
    let mut cfg = SecondaryConfig::new(s, p, EPOCH);
    cfg.next_seq = next;
    cfg.nak_interval = Duration::from_millis(2);
    Receiver::new(cfg).unwrap()
}

/// Polls both sides (one thread) until the secondary has `upto` records.
fn pump(p: &mut Replicator, rx: &mut Receiver, got: &mut Vec<Vec<u8>>, upto: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while (got.len() as u64) < upto || p.acked_next() < upto {
        assert!(
            Instant::now() < deadline,
            "stuck at {} / {upto}: {:?} {:?}",
            got.len(),
            p.stats(),
            rx.stats()
        );
        p.poll();
        rx.poll(&mut |seq, rec| {
            assert_eq!(seq, got.len() as u64, "out of order or twice");
            got.push(rec.to_vec());
        });
        std::thread::sleep(Duration::from_micros(20));
    }
}

fn send_range(p: &mut Replicator, j: &MemJournal, from: u64, to: u64) {
    for seq in from..to {
        let r = record(seq);
        j.append(&r);
        p.send(seq, &r).unwrap();
        if seq % 16 == 15 {
            p.flush();
            p.poll();
        }
    }
    p.flush();
}

#[test]
fn restarted_secondary_catches_up_from_the_journal_and_rejoins() {
    let (pa, sa) = (free_addr(), free_addr());
    let (mut p, j) = primary(pa, sa, 128);
    let mut rx = secondary(sa, pa, 0);
    let mut got = Vec::new();
    send_range(&mut p, &j, 0, 1_000);
    pump(&mut p, &mut rx, &mut got, 1_000);
    let acked_before = p.acked_sequence().load(Ordering::Acquire);
    assert_eq!(acked_before, 999);

    // Kill the secondary; the primary carries on (Wait: its barrier stays put).
    drop(rx);
    send_range(&mut p, &j, 1_000, 3_000);
    for _ in 0..20 {
        p.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        p.acked_sequence().load(Ordering::Acquire),
        999,
        "Wait must not advance"
    );
    assert!(!p.is_degraded());

    // Restart from what it had persisted: far behind the 128-record window.
    let mut rx = secondary(sa, pa, got.len() as u64);
    pump(&mut p, &mut rx, &mut got, 3_000);
    assert!(p.stats().resent_from_source >= 1_800, "{:?}", p.stats());
    // Live replication continues.
    send_range(&mut p, &j, 3_000, 3_500);
    pump(&mut p, &mut rx, &mut got, 3_500);
    assert_eq!(p.acked_sequence().load(Ordering::Acquire), 3_499);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r, &record(i as u64));
    }
}

#[test]
fn secondary_starting_late_catches_up() {
    let (pa, sa) = (free_addr(), free_addr());
    let (mut p, j) = primary(pa, sa, 256);
    send_range(&mut p, &j, 0, 2_000);
    let mut rx = secondary(sa, pa, 0);
    let mut got = Vec::new();
    pump(&mut p, &mut rx, &mut got, 2_000);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r, &record(i as u64));
    }
}

#[test]
fn hostile_datagrams_are_counted_and_dropped() {
    let (pa, sa) = (free_addr(), free_addr());
    let (mut p, j) = primary(pa, sa, 1024);
    let mut rx = secondary(sa, pa, 0);
    let mut got = Vec::new();
    send_range(&mut p, &j, 0, 100);
    pump(&mut p, &mut rx, &mut got, 100);

    let evil = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut b = DataBuilder::new(1400);
    b.push(0, &record(0));
    b.push(1, &record(1));
    let replay = b.finish(EPOCH).to_vec();
    let mut b = DataBuilder::new(1400);
    b.push(100, b"forged by an old primary");
    let foreign = b.finish(EPOCH + 1).to_vec();
    let mut bad_crc = replay.clone();
    bad_crc[HEADER_LEN + 3] ^= 1;
    let mut ctl = [0u8; HEADER_LEN];
    wire::encode_control(&mut ctl, Kind::Ack, EPOCH + 9, 1_000_000, 0);
    for target in [sa, pa] {
        evil.send_to(b"\x00\x01garbage", target).unwrap(); // truncated (< header)
        evil.send_to(&[0xAB; 200], target).unwrap(); // garbage
        evil.send_to(&replay[..replay.len() - 3], target).unwrap(); // truncated
        evil.send_to(&bad_crc, target).unwrap(); // bad crc
        evil.send_to(&foreign, target).unwrap(); // foreign epoch
        evil.send_to(&ctl, target).unwrap(); // foreign epoch control
        evil.send_to(&replay, target).unwrap(); // replay: duplicate (secondary) / unexpected (primary)
    }
    std::thread::sleep(Duration::from_millis(20));
    send_range(&mut p, &j, 100, 200);
    pump(&mut p, &mut rx, &mut got, 200);
    let (ps, ss) = (p.stats(), rx.stats());
    // A truncated datagram fails its CRC or its framing: either way counted.
    assert_eq!(ss.truncated + ss.garbage + ss.bad_crc, 4, "{ss:?}");
    assert!(
        ss.truncated >= 1 && ss.garbage >= 1 && ss.bad_crc >= 1,
        "{ss:?}"
    );
    assert_eq!(ss.foreign_epoch, 2, "{ss:?}");
    assert!(ss.duplicates >= 1, "{ss:?}");
    assert_eq!(ps.truncated + ps.garbage + ps.bad_crc, 4, "{ps:?}");
    assert_eq!(ps.foreign_epoch, 2, "{ps:?}");
    assert!(ps.unexpected >= 1, "{ps:?}");
    assert_eq!(got.len(), 200);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r, &record(i as u64));
    }
}

#[test]
fn wait_policy_blocks_and_degrade_policy_continues_then_resyncs() {
    let (pa, sa) = (free_addr(), free_addr());
    // Wait: nobody answers, the barrier does not move.
    {
        let (mut p, j) = primary(pa, sa, 1024);
        send_range(&mut p, &j, 0, 10);
        assert!(!p.wait_for(9, Duration::from_millis(150)));
        assert_eq!(p.acked_sequence().load(Ordering::Acquire), -1);
        assert_eq!(p.stats().degrade_events, 0);
    }
    let mut cfg = PrimaryConfig::new(pa, sa, EPOCH);
    cfg.policy = Policy::Degrade { after_ms: 50 };
    cfg.retransmit_timeout = Duration::from_millis(5);
    cfg.idle = Idle::Sleep(Duration::from_micros(50));
    let mut p = Replicator::new(cfg, Box::new(NoSource)).unwrap();
    // Taken before the sends: the no-progress clock starts at the first one, so
    // a slow (loaded) machine cannot make the measured wait look short.
    let t = Instant::now();
    for seq in 0..10 {
        p.send(seq, &record(seq)).unwrap();
    }
    assert!(p.wait_for(9, Duration::from_secs(5)));
    assert!(
        t.elapsed() >= Duration::from_millis(45),
        "{:?}",
        t.elapsed()
    );
    assert!(p.is_degraded());
    assert_eq!(p.stats().degrade_events, 1);
    // While degraded the barrier follows what is sent.
    p.send(10, &record(10)).unwrap();
    assert_eq!(p.acked_sequence().load(Ordering::Acquire), 10);
    // The secondary comes (back): it catches up from the window, sync resumes.
    let mut rx = secondary(sa, pa, 0);
    let mut got = Vec::new();
    p.flush();
    pump(&mut p, &mut rx, &mut got, 11);
    p.poll();
    assert!(!p.is_degraded());
    assert_eq!(p.stats().degrade_events, 1);
}
