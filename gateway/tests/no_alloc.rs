//! The node's outbound path allocates nothing per message once warm: engine
//! event -> `GatewayHandle::send_event` -> bounded channel -> gateway thread
//! renders it into its reused encoder buffer -> session store (file) -> socket.
//!
//! A counting global allocator counts every allocation in the process while
//! the measured events flow (this file holds one test, so nothing else runs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::msg::{ExecKind, ExecReport, Header, MAX_MESSAGE_LEN, Message, RejectCode};
use engine::types::{OrderType, Side, TimeInForce};
use gateway::fix::app::{InstrumentConfig, Instruments};
use gateway::fix::codec::{Encoder, format_utc_timestamp};
use gateway::fix::config::SessionConfig;
use gateway::fix::decimal::Tick;
use gateway::fix::net::{Gateway, GatewayConfig};
use gateway::fix::session::{Application, Delivery, Reply, SessionId};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Size of the last allocation counted (to say what it was on failure).
static LAST_SIZE: AtomicU64 = AtomicU64::new(0);
static ON_TEST: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static TEST_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LAST_SIZE.store(layout.size() as u64, Ordering::Relaxed);
            if TEST_THREAD.with(|t| t.get()) {
                ON_TEST.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LAST_SIZE.store(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct NoApp;

impl Application for NoApp {
    fn on_message(
        &mut self,
        _: SessionId,
        _: &gateway::fix::codec::Message<'_>,
        _: &mut Reply<'_>,
    ) -> Delivery {
        Delivery::Accepted
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn event(seq: u64) -> [u8; MAX_MESSAGE_LEN] {
    let er = ExecReport {
        kind: ExecKind::New,
        order_id: seq,
        client_order_id: 1000 + seq,
        orig_client_order_id: 0,
        exec_id: (1 << 63) | seq,
        account: 1,
        instrument: 1,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reject: RejectCode::None,
        cancel: engine::msg::CancelReason::None,
        price: 60_000,
        last_price: 0,
        last_qty: 0,
        leaves_qty: 5,
        cum_qty: 0,
        cum_notional: 0,
    };
    let mut b = [0u8; MAX_MESSAGE_LEN];
    Message::ExecReport(er)
        .encode(
            &Header {
                session: 1,
                seq,
                timestamp_ns: now_ns(),
            },
            &mut b,
        )
        .unwrap();
    b
}

/// Reads until `n` more ExecutionReports (`35=8`) arrived, with a fixed buffer.
fn read_reports(s: &mut TcpStream, n: usize, buf: &mut [u8]) {
    const PAT: &[u8] = b"\x0135=8\x01";
    let mut seen = 0;
    let mut carry = [0u8; 8];
    let mut carry_len = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen < n {
        assert!(
            Instant::now() < deadline,
            "only {seen} of {n} reports arrived"
        );
        let k = carry_len;
        buf[..k].copy_from_slice(&carry[..k]);
        let got = match s.read(&mut buf[k..]) {
            Ok(0) => panic!("gateway closed the connection"),
            Ok(g) => g,
            Err(_) => continue,
        };
        let data = &buf[..k + got];
        seen += data.windows(PAT.len()).filter(|w| *w == PAT).count();
        carry_len = (PAT.len() - 1).min(data.len());
        carry[..carry_len].copy_from_slice(&data[data.len() - carry_len..]);
    }
}

#[test]
fn outbound_event_path_does_not_allocate_once_warm() {
    let dir = tempfile::tempdir().unwrap();
    let instruments = Instruments::new(&[InstrumentConfig {
        symbol: "BTC-USD".into(),
        id: 1,
        tick: Tick::new(1, -2).unwrap(),
        lot: Tick::new(1, -3).unwrap(),
    }])
    .unwrap();
    let mut cfg = GatewayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![SessionConfig::new("ISLD", "MM1")],
    );
    cfg.data_dir = Some(dir.path().to_path_buf());
    cfg.instruments = Some(Arc::new(instruments));
    cfg.outbound_capacity = 4096;
    let gw = Gateway::start(cfg, |_| NoApp).unwrap();
    let h = gw.handle();

    let mut s = TcpStream::connect(gw.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut ts = [0u8; 21];
    format_utc_timestamp(now_ns(), &mut ts);
    let mut e = Encoder::new(b"FIX.4.4");
    e.start(b"A")
        .field_u64(34, 1)
        .field(49, b"MM1")
        .field(56, b"ISLD")
        .field(52, &ts)
        .field(98, b"0")
        .field(108, b"30");
    s.write_all(e.finish()).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let t0 = Instant::now();
    while !gw_logged_on(&mut s, &mut buf) {
        assert!(t0.elapsed() < Duration::from_secs(10), "no Logon answer");
    }

    // Warm-up: buffers grow to their working size. The store's resend index
    // doubles as it grows (one allocation per doubling over a session's life):
    // 1100 + 900 messages stay within one capacity (2048).
    let mut seq = 0;
    let send = |n: usize, seq: &mut u64| {
        for _ in 0..n {
            *seq += 1;
            let ev = event(*seq);
            while h.send_event(0, &ev).is_err() {
                std::thread::yield_now();
            }
        }
    };
    send(1100, &mut seq);
    read_reports(&mut s, 1100, &mut buf);
    std::thread::sleep(Duration::from_millis(200));

    TEST_THREAD.with(|t| t.set(true));
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    send(900, &mut seq);
    read_reports(&mut s, 900, &mut buf);
    // Let the gateway thread finish its iteration (store flush).
    std::thread::sleep(Duration::from_millis(100));
    COUNTING.store(false, Ordering::SeqCst);
    let n = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(
        n,
        0,
        "{n} allocations while 900 events flowed (last one {} bytes, {} on the test thread)",
        LAST_SIZE.load(Ordering::SeqCst),
        ON_TEST.load(Ordering::SeqCst)
    );
    gw.stop();
}

/// True once the Logon answer has been read.
fn gw_logged_on(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    match s.read(buf) {
        Ok(n) if n > 0 => buf[..n].windows(6).any(|w| w == b"\x0135=A\x01"),
        _ => false,
    }
}
