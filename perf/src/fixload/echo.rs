//! The floor: a plain TCP echo over loopback, driven exactly like the FIX load
//! (same connections, same schedule, same message size), so the FIX numbers can
//! be read as "this much above what the kernel and the loopback cost anyway".
//!
//! [`EchoServer`] runs in process on a free port, one thread per connection that
//! writes back whatever it reads. The client sends fixed-size messages whose
//! first eight bytes carry the message index; the latency of message `k` is the
//! time from its intended send time to the moment its echo is read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::pace::{Schedule, wait_until};
use super::track::Counters;
use super::{LoadError, Plan};
use crate::report::latency_histogram;

/// An in-process TCP echo server on 127.0.0.1.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Binds a free loopback port and starts accepting.
    pub fn start() -> io::Result<EchoServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let accept = thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let _ = thread::Builder::new()
                        .name("echo-conn".into())
                        .spawn(move || echo_conn(stream));
                }
            })?;
        Ok(EchoServer {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn echo_conn(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Drives `plan` against an in-process echo server with messages shaped like
/// `template` (its length is the message size; at least 8 bytes are sent).
pub fn run_floor(
    plan: &Plan,
    template: &[u8],
    progress: &mut dyn FnMut(&super::Progress),
) -> Result<super::RunStats, LoadError> {
    let server =
        EchoServer::start().map_err(|e| LoadError::Io(format!("start echo server: {e}")))?;
    let size = template.len().max(8);
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now() + Duration::from_millis(20);
    let mut streams = Vec::new();
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for i in 0..plan.connections {
        let stream = TcpStream::connect(server.addr())
            .map_err(|e| LoadError::Io(format!("connect echo server: {e}")))?;
        let setup = |e: io::Error| LoadError::Io(format!("echo client socket: {e}"));
        stream.set_nodelay(true).map_err(setup)?;
        let read_half = stream.try_clone().map_err(setup)?;
        read_half
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(setup)?;
        streams.push(stream.try_clone().map_err(setup)?);
        let schedule = Schedule::new(t0, plan.rate, plan.connections, i);
        let first_measured = schedule.count_before(plan.warmup);
        let end = schedule.count_before(plan.warmup + plan.duration);
        let mut msg = template.to_vec();
        msg.resize(size, b'x');
        let c = Arc::clone(&counters);
        let st = Arc::clone(&stop);
        let spin = plan.spin;
        senders.push(
            thread::Builder::new()
                .name(format!("echo-send-{i}"))
                .spawn(move || {
                    echo_sender(stream, msg, schedule, first_measured, end, spin, &c, &st)
                })
                .map_err(|e| LoadError::Io(format!("spawn: {e}")))?,
        );
        let c = Arc::clone(&counters);
        let st = Arc::clone(&stop);
        readers.push(
            thread::Builder::new()
                .name(format!("echo-recv-{i}"))
                .spawn(move || echo_reader(read_half, size, schedule, first_measured, &c, &st))
                .map_err(|e| LoadError::Io(format!("spawn: {e}")))?,
        );
    }
    let lag = super::run::drive(
        plan,
        t0,
        super::Phase::Floor,
        &counters,
        senders,
        &|| counters.responses() >= Counters::get(&counters.sent),
        progress,
    );
    let end_time = lag.finished;
    stop.store(true, Ordering::Release);
    for s in &streams {
        let _ = s.shutdown(Shutdown::Both);
    }
    let mut hist = latency_histogram();
    for r in readers {
        if let Ok(h) = r.join() {
            let _ = hist.add(&h);
        }
    }
    drop(server);
    let sent = Counters::get(&counters.sent);
    let answered = counters.responses();
    counters
        .timeouts
        .fetch_add(sent.saturating_sub(answered), Ordering::Relaxed);
    Ok(super::RunStats::new(
        "tcp-echo",
        plan,
        t0,
        end_time,
        hist,
        lag.lag,
        &counters,
        Vec::new(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn echo_sender(
    mut stream: TcpStream,
    mut msg: Vec<u8>,
    schedule: Schedule,
    first_measured: u64,
    end: u64,
    spin: Duration,
    counters: &Counters,
    stop: &AtomicBool,
) -> Histogram<u64> {
    let mut lag = latency_histogram();
    for k in 0..end {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let due = schedule.intended(k);
        wait_until(due, spin);
        msg[..8].copy_from_slice(&k.to_le_bytes());
        let late = Instant::now().saturating_duration_since(due);
        if stream.write_all(&msg).is_err() {
            Counters::bump(&counters.errors);
            break;
        }
        Counters::bump(&counters.sent);
        if k >= first_measured {
            Counters::bump(&counters.sent_measured);
            lag.saturating_record(u64::try_from(late.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    lag
}

fn echo_reader(
    mut stream: TcpStream,
    size: usize,
    schedule: Schedule,
    first_measured: u64,
    counters: &Counters,
    stop: &AtomicBool,
) -> Histogram<u64> {
    let mut hist = latency_histogram();
    let mut buf = vec![0u8; size * 1024];
    let mut len = 0usize;
    loop {
        match stream.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                continue;
            }
            Err(_) => break,
        }
        let now = Instant::now();
        let mut pos = 0;
        while len - pos >= size {
            let mut kb = [0u8; 8];
            kb.copy_from_slice(&buf[pos..pos + 8]);
            let k = u64::from_le_bytes(kb);
            Counters::bump(&counters.acks);
            if k >= first_measured {
                let lat = now.saturating_duration_since(schedule.intended(k));
                hist.saturating_record(u64::try_from(lat.as_nanos()).unwrap_or(u64::MAX));
            }
            pos += size;
        }
        buf.copy_within(pos..len, 0);
        len -= pos;
    }
    hist
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_server_echoes() {
        let s = EchoServer::start().unwrap();
        let mut c = TcpStream::connect(s.addr()).unwrap();
        c.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }
}
