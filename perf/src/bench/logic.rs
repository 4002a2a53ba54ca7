//! `perf bench logic`: throughput and per-command latency of the business-logic
//! processor (`engine::logic::Logic::process`: decode, risk, book, settlement,
//! execution reports and market data), against the bare `engine::book::OrderBook`
//! fed the same orders, cancels and replaces (no decode, no risk, no reports) in
//! the same run: the difference is what risk and reporting cost per command.
//!
//! The stream: one instrument, funded accounts, a mid price doing a random walk;
//! limit orders around the mid (most rest, then get cancelled), a share of
//! marketable IOC orders and of replaces. Scenarios change the mix.

use clap::Args;
use std::time::Instant;

use engine::book::{self, NullSink, OrderBook};
use engine::logic::{EventSink, Logic, LogicConfig};
use engine::msg::{
    AddAccount, AddInstrument, Cancel, Deposit, Header, MAX_MESSAGE_LEN, Message, NewOrder, Replace,
};
use engine::types::{OrderType, Side, StpMode, TimeInForce};

use crate::report::{BenchResult, Reporter, latency_histogram, median};

/// `perf bench logic` options.
#[derive(Args, Debug)]
pub struct LogicArgs {
    /// Commands per scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub commands: usize,
    /// Throughput runs per implementation (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Trading accounts.
    #[arg(long, default_value_t = 64)]
    pub accounts: u32,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Percent of commands that are (new passive limit, IOC taker, cancel, replace).
struct Mix {
    name: &'static str,
    passive: u64,
    taker: u64,
    cancel: u64,
}

const SCENARIOS: &[Mix] = &[
    Mix {
        name: "normal",
        passive: 48,
        taker: 7,
        cancel: 40,
    },
    Mix {
        name: "aggressive",
        passive: 45,
        taker: 30,
        cancel: 20,
    },
    Mix {
        name: "cancel_storm",
        passive: 30,
        taker: 2,
        cancel: 65,
    },
];

const INSTRUMENT: u32 = 1;
const ADMIN: u32 = 1;

/// The admin prologue: one instrument, funded accounts.
fn setup(accounts: u32) -> Vec<Message> {
    let mut v = vec![Message::AddInstrument(AddInstrument {
        instrument: INSTRUMENT,
        base_asset: 1,
        quote_asset: 2,
        base_units_per_lot: 1_000,
        quote_units_per_tick_lot: 10,
        min_qty: 1,
        max_qty: 1_000_000,
        collar_bps: 0,
        maker_fee_bps: 1,
        taker_fee_bps: 5,
        symbol: *b"BENCH-USD\0\0\0\0\0\0\0",
    })];
    for a in 1..=accounts {
        v.push(Message::AddAccount(AddAccount {
            account: a,
            max_order_notional: 0,
            fee_override: false,
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        }));
        for asset in [1, 2] {
            v.push(Message::Deposit(Deposit {
                account: a,
                asset,
                amount: 1 << 60,
                transfer_id: 0,
            }));
        }
    }
    v
}

/// The trading stream of a scenario (commands after the prologue).
fn stream(mix: &Mix, n: usize, accounts: u32) -> Vec<Message> {
    let mut rng = Rng(0x5eed ^ mix.passive);
    let mut mid: i64 = 100_000;
    let mut next_id: u64 = 1;
    // Recently sent order ids (with their owner): the cancel/replace targets.
    let mut recent: Vec<(u64, u32)> = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if rng.below(10) == 0 {
            mid += rng.below(3) as i64 - 1;
        }
        let account = 1 + rng.below(u64::from(accounts)) as u32;
        let roll = rng.below(100);
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let sign = if side == Side::Buy { -1 } else { 1 };
        if roll < mix.passive + mix.taker || recent.is_empty() {
            let taker = roll >= mix.passive;
            // Passive: 1..=20 ticks behind the touch, closer more often.
            let depth = 1 + (rng.below(20) * rng.below(20)) / 20;
            let price = if taker {
                mid - sign * (1 + rng.below(5) as i64)
            } else {
                mid + sign * depth as i64
            };
            out.push(Message::NewOrder(NewOrder {
                client_order_id: next_id,
                account,
                instrument: INSTRUMENT,
                side,
                order_type: OrderType::Limit,
                tif: if taker {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                },
                stp: StpMode::None,
                post_only: false,
                price,
                stop_price: 0,
                qty: 1 + rng.below(10),
                display_qty: 0,
                quote_budget: 0,
            }));
            if !taker {
                if recent.len() == recent.capacity() {
                    recent.swap_remove(rng.below(recent.len() as u64) as usize);
                }
                recent.push((next_id, account));
            }
            next_id += 1;
        } else {
            let i = rng.below(recent.len() as u64) as usize;
            let (id, owner) = recent[i];
            if roll < mix.passive + mix.taker + mix.cancel {
                recent.swap_remove(i);
                out.push(Message::Cancel(Cancel {
                    client_order_id: 0,
                    order_id: id,
                    orig_client_order_id: 0,
                    account: owner,
                    instrument: INSTRUMENT,
                }));
            } else {
                out.push(Message::Replace(Replace {
                    client_order_id: 0,
                    order_id: id,
                    orig_client_order_id: 0,
                    account: owner,
                    instrument: INSTRUMENT,
                    price: mid + sign * (1 + rng.below(10) as i64),
                    qty: 1 + rng.below(10),
                }));
            }
        }
    }
    out
}

/// Counts events so the work stays observable and the sink is not optimised away.
#[derive(Default)]
struct Count(u64);

impl EventSink for Count {
    fn event(&mut self, _h: &Header, _m: &Message) {
        self.0 += 1;
    }
}

type Encoded = Vec<([u8; MAX_MESSAGE_LEN], usize)>;

fn encode(msgs: &[Message], first_seq: u64) -> Result<Encoded, String> {
    msgs.iter()
        .enumerate()
        .map(|(i, m)| {
            let h = Header {
                session: ADMIN + 1 + (i as u32 % 8),
                seq: first_seq + i as u64,
                timestamp_ns: first_seq + i as u64,
            };
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = m.encode(&h, &mut buf).map_err(|e| e.to_string())?;
            Ok((buf, n))
        })
        .collect()
}

fn fresh_logic(prologue: &Encoded) -> Result<Logic, String> {
    let mut logic = Logic::new(LogicConfig {
        book_capacity: 1 << 17,
        ..LogicConfig::default()
    });
    let mut sink = Count::default();
    for (b, n) in prologue {
        logic
            .process(&b[..*n], &mut sink)
            .map_err(|e| e.to_string())?;
    }
    Ok(logic)
}

/// The book-only peer's view of a command.
enum BookOp {
    New(book::NewOrder),
    Cancel(u64),
    Replace(u64, i64, u64),
}

fn book_ops(msgs: &[Message]) -> Vec<BookOp> {
    let mut id = 0u64;
    msgs.iter()
        .filter_map(|m| match m {
            Message::NewOrder(o) => {
                id += 1;
                Some(BookOp::New(book::NewOrder {
                    order_id: id,
                    client_order_id: o.client_order_id,
                    account: o.account,
                    session: 0,
                    side: o.side,
                    order_type: o.order_type,
                    tif: o.tif,
                    price: o.price,
                    stop_price: o.stop_price,
                    qty: o.qty,
                    display_qty: o.display_qty,
                    post_only: o.post_only,
                    stp: o.stp,
                    quote_budget: o.quote_budget,
                }))
            }
            Message::Cancel(c) => Some(BookOp::Cancel(c.order_id)),
            Message::Replace(r) => Some(BookOp::Replace(r.order_id, r.price, r.qty)),
            _ => None,
        })
        .collect()
}

fn run_book(b: &mut OrderBook, ops: &[BookOp]) -> u64 {
    let mut sink = NullSink;
    for op in ops {
        match op {
            BookOp::New(o) => b.submit(o, &mut sink),
            BookOp::Cancel(id) => {
                b.cancel(*id, &mut sink);
            }
            BookOp::Replace(id, p, q) => {
                b.replace(*id, *p, *q, &mut sink);
            }
        }
    }
    b.live_orders() as u64
}

/// Runs every scenario and reports.
pub fn run(args: LogicArgs) -> Result<(), String> {
    let mut rep = Reporter::new(args.json);
    let prologue_msgs = setup(args.accounts.max(1));
    let prologue = encode(&prologue_msgs, 1)?;
    let mut worst: Option<(f64, &str)> = None;
    for mix in SCENARIOS {
        let msgs = stream(mix, args.commands, args.accounts.max(1));
        let cmds = encode(&msgs, prologue.len() as u64 + 1)?;
        let ops = book_ops(&msgs);
        let params = serde_json::json!({
            "commands": cmds.len(), "accounts": args.accounts, "runs": args.runs
        });

        // Throughput: whole stream, median of runs.
        let mut rates = Vec::new();
        let mut events = 0;
        for _ in 0..args.runs.max(1) {
            let mut logic = fresh_logic(&prologue)?;
            let mut sink = Count::default();
            let t = Instant::now();
            for (b, n) in &cmds {
                logic
                    .process(&b[..*n], &mut sink)
                    .map_err(|e| e.to_string())?;
            }
            rates.push(cmds.len() as f64 / t.elapsed().as_secs_f64());
            events = sink.0;
            let (faults, what) = logic.faults();
            if faults != 0 {
                return Err(format!("logic faulted during the benchmark: {what}"));
            }
        }
        let logic_rate = median(&mut rates).unwrap_or(0.0);
        // Latency: each command timed on its own (adds the timer's cost).
        let mut hist = latency_histogram();
        let mut logic = fresh_logic(&prologue)?;
        let mut sink = Count::default();
        for (b, n) in &cmds {
            let t = Instant::now();
            logic
                .process(&b[..*n], &mut sink)
                .map_err(|e| e.to_string())?;
            let ns = t.elapsed().as_nanos() as u64;
            hist.record(ns.max(1)).map_err(|e| e.to_string())?;
        }
        rep.report(
            BenchResult::from_histogram("logic", mix.name, "ringex-logic", Some(logic_rate), &hist)
                .with_params(serde_json::json!({
                    "commands": cmds.len(), "accounts": args.accounts, "runs": args.runs,
                    "events_out": events
                })),
        );

        let mut rates = Vec::new();
        let mut live = 0;
        for _ in 0..args.runs.max(1) {
            let mut b = OrderBook::new(INSTRUMENT, 1 << 17);
            let t = Instant::now();
            live = run_book(&mut b, &ops);
            rates.push(ops.len() as f64 / t.elapsed().as_secs_f64());
        }
        let book_rate = median(&mut rates).unwrap_or(0.0);
        rep.report(
            BenchResult::throughput("logic", mix.name, "book-only (peer)", book_rate)
                .with_params(params),
        );
        rep.note(&format!(
            "  {}: logic runs at {:.0}% of the bare book's rate ({} events out, {} orders live at end in book-only)",
            mix.name,
            100.0 * logic_rate / book_rate.max(1.0),
            events,
            live
        ));
        if worst.is_none_or(|(r, _)| logic_rate < r) {
            worst = Some((logic_rate, mix.name));
        }
    }
    if let Some((r, name)) = worst {
        rep.note(&format!(
            "worst scenario for ringex-logic: {name} at {:.2}M commands/s",
            r / 1e6
        ));
    }
    Ok(())
}
