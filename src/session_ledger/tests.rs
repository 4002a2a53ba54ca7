use super::*;
use engine::msg::{BookLevel, Cancel, ExecReport, SessionEvent, SessionEventKind};
use engine::types::Side;

fn h(session: u32, seq: u64) -> Header {
    Header {
        session,
        seq,
        timestamp_ns: seq,
    }
}

fn sync(next_in: u64, next_out: u64, out_mark: u64) -> Message {
    Message::SessionEvent(SessionEvent {
        kind: SessionEventKind::SeqSync,
        account: 1,
        cancel_on_disconnect: false,
        next_in,
        next_out,
        out_mark,
    })
}

fn cmd() -> Message {
    Message::Cancel(Cancel {
        client_order_id: 1,
        order_id: 0,
        orig_client_order_id: 2,
        account: 1,
        instrument: 1,
    })
}

fn report() -> Message {
    let mut next = {
        let mut x = 7u64;
        move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            x
        }
    };
    let mut r = match Message::random(engine::msg::MsgType::ExecReport, &mut next) {
        Message::ExecReport(r) => r,
        _ => unreachable!(),
    };
    r.side = Side::Buy;
    Message::ExecReport(ExecReport { ..r })
}

#[test]
fn unknown_until_both_numbers_reported() {
    let mut l = SessionLedger::new(2);
    l.on_command(&h(1, 1), &cmd());
    l.on_event(&h(1, 1), &report());
    assert_eq!(l.derived(0), None);
    l.on_command(&h(1, 2), &sync(5, 0, 0));
    assert_eq!(l.derived(0), None, "outbound still unknown");
    l.on_command(&h(1, 3), &sync(0, 9, 1));
    assert_eq!(l.derived(0), Some((5, 9)));
    assert!(l.seeds(0).iter().all(|s| s.index == 0));
}

#[test]
fn inbound_counts_commands_after_the_report() {
    let mut l = SessionLedger::new(2);
    l.on_command(&h(1, 1), &sync(5, 3, 0));
    for i in 0..3 {
        l.on_command(&h(1, 2 + i), &cmd());
    }
    // Another session's commands and admin commands do not count.
    l.on_command(&h(2, 10), &cmd());
    l.on_command(&h(0, 11), &cmd());
    assert_eq!(l.derived(0), Some((8, 3)));
    // A report is authoritative (a ResetSeqNumFlag logon lowers the numbers).
    l.on_command(&h(1, 12), &sync(2, 2, 0));
    assert_eq!(l.derived(0), Some((2, 2)));
}

#[test]
fn outbound_counts_events_in_flight_at_the_report_exactly() {
    let mut l = SessionLedger::new(1);
    l.on_command(&h(1, 1), &sync(2, 2, 0));
    // Five reports produced (output seqs 10..=14); the gateway had sent three
    // (next_out 5 = 2 + 3, mark 12) when it published the next report.
    for s in 10..=14 {
        l.on_event(&h(1, s), &report());
    }
    l.on_command(&h(1, 2), &sync(2, 6, 12)); // + one heartbeat sent: 6
    assert_eq!(l.derived(0), Some((2, 8)), "6 + 2 in flight (13, 14)");
    l.on_event(&h(1, 15), &report());
    assert_eq!(l.derived(0), Some((2, 9)));
    // Market data and broadcast events never become session messages.
    let bl = Message::BookLevel(BookLevel {
        instrument: 1,
        side: Side::Buy,
        price: 1,
        qty: 1,
        md_seq: 1,
    });
    l.on_event(&h(1, 16), &bl);
    l.on_event(&h(0, 17), &report());
    assert_eq!(l.derived(0), Some((2, 9)));
}

#[test]
fn unknown_mark_falls_back_to_an_upper_bound() {
    let mut l = SessionLedger::new(2);
    l.on_command(&h(1, 1), &sync(2, 2, 0));
    for s in 10..=14 {
        l.on_event(&h(1, s), &report());
    }
    // Mark 0 (nothing sent by this gateway process yet): all five counted.
    l.on_command(&h(1, 2), &sync(2, 2, 0));
    assert_eq!(l.derived(0), Some((2, 7)));
    // A mark that names another session's event: not trusted, bound kept.
    l.on_event(&h(2, 20), &report());
    l.on_command(&h(1, 3), &sync(2, 3, 20));
    assert_eq!(l.derived(0), Some((2, 8)));
    // A mark that fell out of the window: bound (in flight before + since).
    let mut l = SessionLedger::new(1);
    l.on_command(&h(1, 1), &sync(2, 2, 0));
    l.on_event(&h(1, 5), &report());
    for s in 0..MARK_WINDOW as u64 {
        l.on_event(&h(1, 6 + s), &report());
    }
    l.on_command(&h(1, 2), &sync(2, 100, 5));
    assert_eq!(l.derived(0), Some((2, 100 + 1 + MARK_WINDOW as u64)));
}

#[test]
fn seeds_add_the_margin_and_skip_unreported_sessions() {
    let mut l = SessionLedger::new(3);
    l.on_command(&h(2, 1), &sync(7, 9, 0));
    assert_eq!(
        l.seeds(PROMOTION_OUT_MARGIN),
        vec![SessionSeed {
            index: 1,
            next_in: 7,
            next_out: 9 + PROMOTION_OUT_MARGIN,
        }]
    );
    // Out-of-range sessions are ignored, never a panic.
    l.on_command(&h(99, 2), &sync(1, 1, 0));
    l.on_event(&h(99, 3), &report());
}

/// A small deterministic generator for the simulation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Simulates the gateway rules (sync before a misnumbered command, sync after
/// session-level traffic, events delivered late and interleaved with admin
/// messages) against the ledger fed with the journaled stream, and checks the
/// derivation: exact whenever the gateway's reports are all journaled, and on
/// the safe side (inbound never above the truth nor at/below a journaled
/// command) when the last ones are lost.
#[test]
fn simulated_gateway_interleavings_stay_exact_or_safe() {
    for seed in 1..40u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut l = SessionLedger::new(1);
        // Gateway truth.
        let (mut next_in, mut next_out, mut mark) = (1u64, 1u64, 0u64);
        let mut mirror: Option<u64> = Some(1); // the gateway's copy of the ledger's next_in
        let mut dirty = false;
        let mut unreported_out = 0u64;
        let mut pending: std::collections::VecDeque<u64> = Default::default();
        let mut jseq = 0u64;
        let mut out_seq = 0u64;
        let mut last_cmd_in = 0u64;
        let mut journal = |l: &mut SessionLedger, m: &Message| {
            jseq += 1;
            l.on_command(&h(1, jseq), m);
        };
        // The logon's report.
        journal(&mut l, &sync(1, 1, 0));
        for _ in 0..400 {
            match r.below(10) {
                // Application message accepted: sync first if misnumbered.
                0..=3 => {
                    if mirror != Some(next_in) {
                        journal(&mut l, &sync(next_in, 0, 0));
                    }
                    journal(&mut l, &cmd());
                    last_cmd_in = next_in;
                    next_in += 1;
                    mirror = Some(next_in);
                    for _ in 0..r.below(3) {
                        out_seq += 1 + r.below(3);
                        l.on_event(&h(1, out_seq), &report());
                        pending.push_back(out_seq);
                    }
                }
                // Session-level traffic in or out (heartbeat, refused message...).
                4 => {
                    next_in += 1;
                    dirty = true;
                }
                5 => {
                    next_out += 1;
                    unreported_out += 1;
                    dirty = true;
                }
                // The gateway thread sends queued events.
                6 | 7 => {
                    for _ in 0..r.below(3) {
                        if let Some(s) = pending.pop_front() {
                            next_out += 1;
                            mark = s;
                        }
                    }
                }
                // End of a poll iteration: report if dirty.
                _ => {
                    if dirty {
                        journal(&mut l, &sync(next_in, next_out, mark));
                        mirror = Some(next_in);
                        dirty = false;
                        unreported_out = 0;
                    }
                }
            }
            let Some((din, dout)) = l.derived(0) else {
                panic!("seed {seed}: reported session not derived");
            };
            let true_out = next_out + pending.len() as u64;
            if !dirty {
                assert_eq!(din, next_in, "seed {seed}");
                assert_eq!(dout, true_out, "seed {seed}");
            } else {
                assert!(din <= next_in, "seed {seed}: inbound above the truth");
                assert!(
                    din > last_cmd_in,
                    "seed {seed}: a journaled command would replay"
                );
                // Outbound is short by at most the unreported session-level
                // sends: what the promotion margin covers.
                assert!(
                    dout <= true_out && dout + unreported_out >= true_out,
                    "seed {seed}"
                );
            }
        }
    }
}

fn logic_cfg() -> LogicConfig {
    LogicConfig {
        fee_account: 0,
        max_accounts: 16,
        max_instruments: 4,
        book_capacity: 64,
    }
}

fn write_journal(dir: &Path, first: u64, msgs: &[(u32, Message)]) {
    let (mut j, _) = journal::Journal::open(dir, journal::Config::default()).unwrap();
    let recs: Vec<Vec<u8>> = msgs
        .iter()
        .enumerate()
        .map(|(i, (s, m))| {
            let mut b = [0u8; engine::msg::MAX_MESSAGE_LEN];
            let n = m.encode(&h(*s, first + i as u64), &mut b).unwrap();
            b[..n].to_vec()
        })
        .collect();
    j.append_batch(first, recs.iter().map(Vec::as_slice))
        .unwrap();
    j.close().unwrap();
}

#[test]
fn replay_journal_derives_from_the_stream_and_needs_all_of_it() {
    let t = tempfile::tempdir().unwrap();
    // A report, two commands (refused by the logic: no such account/instrument,
    // each answered with one addressed event), a later command past `last_seq`.
    write_journal(
        t.path(),
        1,
        &[(1, sync(4, 7, 0)), (1, cmd()), (1, cmd()), (1, cmd())],
    );
    let (l, last, out_seq) = SessionLedger::replay_journal(t.path(), logic_cfg(), 2, 3).unwrap();
    assert_eq!(last, 3);
    let (next_in, next_out) = l.derived(0).unwrap();
    assert_eq!(next_in, 6);
    // Whatever the logic answered, each addressed order event is one number.
    assert!(out_seq >= 2, "the logic answered both commands");
    assert_eq!(next_out, 7 + 2, "one CancelReject per refused cancel");
    // A journal whose first segments are gone cannot be derived from.
    let t2 = tempfile::tempdir().unwrap();
    let cfg = journal::Config {
        segment_size: 1 << 16,
        prefault: false,
        ..journal::Config::default()
    };
    let (mut j, _) = journal::Journal::open(t2.path(), cfg).unwrap();
    let mut b = [0u8; engine::msg::MAX_MESSAGE_LEN];
    let recs: Vec<Vec<u8>> = (1..=3000u64)
        .map(|i| {
            let n = sync(4, 7, 0).encode(&h(1, i), &mut b).unwrap();
            b[..n].to_vec()
        })
        .collect();
    for (k, chunk) in recs.chunks(100).enumerate() {
        j.append_batch(1 + 100 * k as u64, chunk.iter().map(Vec::as_slice))
            .unwrap();
    }
    j.close().unwrap();
    let segs = journal::list_segments(t2.path()).unwrap();
    assert!(segs.len() > 1, "segments rolled");
    std::fs::remove_file(&segs[0].1).unwrap();
    let err = SessionLedger::replay_journal(t2.path(), logic_cfg(), 2, u64::MAX).unwrap_err();
    assert!(err.contains("need the whole stream"), "{err}");
}
