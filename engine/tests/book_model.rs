//! Property tests of `engine::book` against a naive reference book.
//!
//! The reference (`RefBook`) keeps every resting order in one `Vec`, finds the
//! best level and the queue head by scanning, and decides fill-or-kill by a dry
//! run on a clone: slow and obviously correct. Random command streams (every
//! order type, instruction, cancel/replace of live and dead ids, mass cancels,
//! expiry, halts) must give the same events, command by command, and the same
//! resting state, and the real book's invariants must hold after every command.
//! A second property restores a snapshot taken at a random point of a long
//! stream and checks that the restored book continues with the same events and
//! hash. `PROPTEST_CASES` raises the number of streams.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;

use engine::book::{
    BookEvent, BookSink, CancelReason, MassCancelFilter, NewOrder, OrderBook, RejectReason,
};
use engine::types::{OrderType, Price, Qty, Side, StpMode, TimeInForce};
use proptest::prelude::*;

const INSTRUMENT: u32 = 3;

#[derive(Debug, Clone, Copy)]
struct ROrder {
    id: u64,
    coid: u64,
    account: u32,
    session: u32,
    side: Side,
    otype: OrderType,
    tif: TimeInForce,
    price: Price,
    stop: Price,
    leaves: Qty,
    visible: Qty,
    display: Qty,
    budget: u64,
    stp: StpMode,
    post_only: bool,
    /// Arrival at the back of its level (smaller = earlier).
    prio: u64,
}

impl ROrder {
    fn slice(&self) -> Qty {
        if self.display == 0 {
            self.leaves
        } else {
            self.display.min(self.leaves)
        }
    }
}

#[derive(Debug, Clone, Default)]
struct RefBook {
    resting: Vec<ROrder>,
    stops: Vec<ROrder>,
    last_trade: Option<Price>,
    last_id: Option<u64>,
    exec_seq: u64,
    md_seq: u64,
    halted: bool,
    prio: u64,
}

fn better(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

impl RefBook {
    fn best(&self, side: Side) -> Option<Price> {
        let mut best: Option<Price> = None;
        for o in self.resting.iter().filter(|o| o.side == side) {
            if best.is_none_or(|b| better(side, o.price, b)) {
                best = Some(o.price);
            }
        }
        best
    }

    /// Distinct level prices of `side`, best first.
    fn prices(&self, side: Side) -> Vec<Price> {
        let mut p: Vec<Price> = self
            .resting
            .iter()
            .filter(|o| o.side == side)
            .map(|o| o.price)
            .collect();
        p.sort();
        p.dedup();
        if side == Side::Buy {
            p.reverse();
        }
        p
    }

    fn level_qty(&self, side: Side, price: Price) -> Qty {
        self.resting
            .iter()
            .filter(|o| o.side == side && o.price == price)
            .map(|o| o.visible)
            .sum()
    }

    /// Index of the queue head at (side, price).
    fn head(&self, side: Side, price: Price) -> Option<usize> {
        let mut h: Option<usize> = None;
        for (i, o) in self.resting.iter().enumerate() {
            if o.side == side && o.price == price && h.is_none_or(|j| o.prio < self.resting[j].prio)
            {
                h = Some(i);
            }
        }
        h
    }

    /// Resting orders of `side` best level first, FIFO within.
    fn queue(&self, side: Side) -> Vec<ROrder> {
        let mut v: Vec<ROrder> = self
            .resting
            .iter()
            .filter(|o| o.side == side)
            .copied()
            .collect();
        v.sort_by(|a, b| {
            let pa = if side == Side::Buy {
                -(a.price as i128)
            } else {
                a.price as i128
            };
            let pb = if side == Side::Buy {
                -(b.price as i128)
            } else {
                b.price as i128
            };
            (pa, a.prio).cmp(&(pb, b.prio))
        });
        v
    }

    /// Pending stops of `side` in trigger order.
    fn stop_queue(&self, side: Side) -> Vec<ROrder> {
        let mut v: Vec<ROrder> = self
            .stops
            .iter()
            .filter(|o| o.side == side)
            .copied()
            .collect();
        v.sort_by(|a, b| {
            let ka = if side == Side::Buy {
                a.stop as i128
            } else {
                -(a.stop as i128)
            };
            let kb = if side == Side::Buy {
                b.stop as i128
            } else {
                -(b.stop as i128)
            };
            (ka, a.id).cmp(&(kb, b.id))
        });
        v
    }

    fn level(&mut self, side: Side, price: Price, ev: &mut Vec<BookEvent>) {
        self.md_seq += 1;
        let qty = self.level_qty(side, price);
        ev.push(BookEvent::Level {
            side,
            price,
            qty,
            md_seq: self.md_seq,
        });
    }

    fn cancelled(o: &ROrder, reason: CancelReason, ev: &mut Vec<BookEvent>) {
        ev.push(BookEvent::Cancelled {
            order_id: o.id,
            client_order_id: o.coid,
            account: o.account,
            session: o.session,
            side: o.side,
            price: o.price,
            leaves_qty: o.leaves,
            reason,
        });
    }

    fn would_cross(&self, side: Side, price: Price) -> bool {
        match side {
            Side::Buy => self.best(Side::Sell).is_some_and(|a| a <= price),
            Side::Sell => self.best(Side::Buy).is_some_and(|b| b >= price),
        }
    }

    fn submit(&mut self, o: &NewOrder, ev: &mut Vec<BookEvent>) {
        let rej = |reason, ev: &mut Vec<BookEvent>| {
            ev.push(BookEvent::Rejected {
                order_id: o.order_id,
                client_order_id: o.client_order_id,
                account: o.account,
                session: o.session,
                reason,
            })
        };
        if self.last_id.is_some_and(|l| o.order_id <= l) {
            return rej(RejectReason::DuplicateOrderId, ev);
        }
        self.last_id = Some(o.order_id);
        if self.halted {
            return rej(RejectReason::Halted, ev);
        }
        if o.qty == 0 {
            return rej(RejectReason::InvalidQty, ev);
        }
        if o.display_qty > o.qty {
            return rej(RejectReason::InvalidDisplayQty, ev);
        }
        let iceberg = o.display_qty > 0 && o.display_qty < o.qty;
        let no_rest = matches!(o.order_type, OrderType::Market | OrderType::Stop)
            || matches!(o.tif, TimeInForce::Ioc | TimeInForce::Fok);
        if (o.post_only && (no_rest || o.order_type != OrderType::Limit)) || (iceberg && no_rest) {
            return rej(RejectReason::InvalidInstruction, ev);
        }
        if o.post_only && self.would_cross(o.side, o.price) {
            return rej(RejectReason::PostOnlyWouldCross, ev);
        }
        let has_limit = matches!(o.order_type, OrderType::Limit | OrderType::StopLimit);
        let is_stop = matches!(o.order_type, OrderType::Stop | OrderType::StopLimit);
        let mkt_buy =
            o.side == Side::Buy && matches!(o.order_type, OrderType::Market | OrderType::Stop);
        let r = ROrder {
            id: o.order_id,
            coid: o.client_order_id,
            account: o.account,
            session: o.session,
            side: o.side,
            otype: o.order_type,
            tif: o.tif,
            price: if has_limit { o.price } else { 0 },
            stop: if is_stop { o.stop_price } else { 0 },
            leaves: o.qty,
            visible: 0,
            display: if iceberg { o.display_qty } else { 0 },
            budget: if mkt_buy { o.quote_budget } else { 0 },
            stp: o.stp,
            post_only: o.post_only,
            prio: 0,
        };
        ev.push(BookEvent::Accepted {
            order_id: r.id,
            client_order_id: r.coid,
            account: r.account,
            session: r.session,
            side: r.side,
            order_type: r.otype,
            tif: r.tif,
            price: r.price,
            stop_price: r.stop,
            qty: r.leaves,
            display_qty: r.display,
        });
        if is_stop {
            self.stops.push(r);
        } else {
            self.execute(r, ev);
        }
        self.triggers(ev);
    }

    fn execute(&mut self, mut t: ROrder, ev: &mut Vec<BookEvent>) {
        if t.tif == TimeInForce::Fok {
            let mut dry = self.clone();
            let mut probe = t;
            let mut scratch = Vec::new();
            dry.match_order(&mut probe, &mut scratch);
            if probe.leaves != 0 {
                return Self::cancelled(&t, CancelReason::FokUnfillable, ev);
            }
        }
        let killed = self.match_order(&mut t, ev);
        if t.leaves == 0 {
            return;
        }
        if killed {
            return Self::cancelled(&t, CancelReason::SelfTrade, ev);
        }
        if t.otype == OrderType::Market {
            return Self::cancelled(&t, CancelReason::MarketRest, ev);
        }
        match t.tif {
            TimeInForce::Ioc => Self::cancelled(&t, CancelReason::IocRest, ev),
            TimeInForce::Fok => Self::cancelled(&t, CancelReason::FokUnfillable, ev),
            _ => {
                t.visible = t.slice();
                self.prio += 1;
                t.prio = self.prio;
                self.resting.push(t);
                self.level(t.side, t.price, ev);
            }
        }
    }

    fn match_order(&mut self, t: &mut ROrder, ev: &mut Vec<BookEvent>) -> bool {
        let opp = t.side.opposite();
        let mut spent: i128 = 0;
        let mut killed = false;
        while t.leaves > 0 {
            let Some(price) = self.best(opp) else { break };
            let crosses = t.otype == OrderType::Market
                || match t.side {
                    Side::Buy => price <= t.price,
                    Side::Sell => price >= t.price,
                };
            if !crosses {
                break;
            }
            let before = self.level_qty(opp, price);
            let mut stop_all = false;
            while t.leaves > 0 {
                let Some(h) = self.head(opp, price) else {
                    break;
                };
                let m = self.resting[h];
                if t.stp != StpMode::None && m.account == t.account {
                    if t.stp != StpMode::CancelAggressor {
                        self.resting.remove(h);
                        Self::cancelled(&m, CancelReason::SelfTrade, ev);
                    }
                    if t.stp == StpMode::CancelResting {
                        continue;
                    }
                    killed = true;
                    break;
                }
                let mut q = t.leaves.min(m.visible);
                if t.budget > 0 && price > 0 {
                    let left = t.budget as i128 - spent;
                    let room = if left <= 0 {
                        0
                    } else {
                        (left / price as i128) as u64
                    };
                    if room < q {
                        q = room;
                    }
                    if q == 0 {
                        stop_all = true;
                        break;
                    }
                }
                t.leaves -= q;
                spent += q as i128 * price as i128;
                let mm = &mut self.resting[h];
                mm.visible -= q;
                mm.leaves -= q;
                let m = *mm;
                self.last_trade = Some(price);
                self.exec_seq += 1;
                let exec_id = (u64::from(INSTRUMENT) << 40) | self.exec_seq;
                ev.push(BookEvent::Trade {
                    exec_id,
                    price,
                    qty: q,
                    aggressor_side: t.side,
                    maker_order_id: m.id,
                    maker_client_order_id: m.coid,
                    maker_account: m.account,
                    maker_session: m.session,
                    maker_remaining: m.leaves,
                    taker_order_id: t.id,
                    taker_client_order_id: t.coid,
                    taker_account: t.account,
                    taker_session: t.session,
                    taker_remaining: t.leaves,
                });
                self.md_seq += 1;
                ev.push(BookEvent::TradePrint {
                    exec_id,
                    price,
                    qty: q,
                    aggressor_side: t.side,
                    md_seq: self.md_seq,
                });
                if m.visible == 0 {
                    if m.leaves > 0 {
                        self.prio += 1;
                        let mm = &mut self.resting[h];
                        mm.visible = mm.slice();
                        mm.prio = self.prio;
                    } else {
                        self.resting.remove(h);
                    }
                }
            }
            if self.level_qty(opp, price) != before {
                self.level(opp, price, ev);
            }
            if killed || stop_all {
                break;
            }
        }
        killed
    }

    fn triggers(&mut self, ev: &mut Vec<BookEvent>) {
        while let Some(last) = self.last_trade {
            let buy = self
                .stop_queue(Side::Buy)
                .into_iter()
                .find(|o| last >= o.stop);
            let pick = buy.or_else(|| {
                self.stop_queue(Side::Sell)
                    .into_iter()
                    .find(|o| last <= o.stop)
            });
            // the first in trigger order that is triggered is the first entry of the queue
            let Some(mut o) = pick else { break };
            let first = if o.side == Side::Buy {
                self.stop_queue(Side::Buy)[0]
            } else {
                self.stop_queue(Side::Sell)[0]
            };
            assert_eq!(
                first.id, o.id,
                "reference: trigger order must be queue order"
            );
            self.stops.retain(|s| s.id != o.id);
            o.otype = if o.otype == OrderType::Stop {
                OrderType::Market
            } else {
                OrderType::Limit
            };
            ev.push(BookEvent::Triggered {
                order_id: o.id,
                client_order_id: o.coid,
                account: o.account,
                session: o.session,
                side: o.side,
                order_type: o.otype,
                price: o.price,
                stop_price: o.stop,
                leaves_qty: o.leaves,
            });
            self.execute(o, ev);
        }
    }

    fn cancel(&mut self, id: u64, ev: &mut Vec<BookEvent>) -> bool {
        if let Some(i) = self.resting.iter().position(|o| o.id == id) {
            let o = self.resting.remove(i);
            Self::cancelled(&o, CancelReason::User, ev);
            self.level(o.side, o.price, ev);
            true
        } else if let Some(i) = self.stops.iter().position(|o| o.id == id) {
            let o = self.stops.remove(i);
            Self::cancelled(&o, CancelReason::User, ev);
            true
        } else {
            ev.push(BookEvent::CancelRejected {
                order_id: id,
                reason: RejectReason::UnknownOrder,
            });
            false
        }
    }

    fn replace(&mut self, id: u64, price: Price, qty: Qty, ev: &mut Vec<BookEvent>) -> bool {
        let rej = |reason, ev: &mut Vec<BookEvent>| {
            ev.push(BookEvent::ReplaceRejected {
                order_id: id,
                reason,
            });
            false
        };
        if self.halted {
            return rej(RejectReason::Halted, ev);
        }
        let Some(i) = self.resting.iter().position(|o| o.id == id) else {
            if self.stops.iter().any(|o| o.id == id) {
                return rej(RejectReason::NotReplaceable, ev);
            }
            return rej(RejectReason::UnknownOrder, ev);
        };
        if qty == 0 {
            return rej(RejectReason::InvalidQty, ev);
        }
        let o = self.resting[i];
        if o.post_only && self.would_cross(o.side, price) {
            return rej(RejectReason::PostOnlyWouldCross, ev);
        }
        let keep = price == o.price && qty <= o.leaves;
        ev.push(BookEvent::Replaced {
            order_id: id,
            client_order_id: o.coid,
            account: o.account,
            session: o.session,
            side: o.side,
            old_price: o.price,
            new_price: price,
            old_leaves: o.leaves,
            new_leaves: qty,
            priority_kept: keep,
        });
        if keep {
            let nv = o.visible.min(qty);
            self.resting[i].leaves = qty;
            self.resting[i].visible = nv;
            if nv != o.visible {
                self.level(o.side, o.price, ev);
            }
        } else {
            let mut t = self.resting.remove(i);
            self.level(o.side, o.price, ev);
            t.price = price;
            t.leaves = qty;
            t.visible = 0;
            self.execute(t, ev);
            self.triggers(ev);
        }
        true
    }

    fn sweep(
        &mut self,
        hit: impl Fn(&ROrder) -> bool,
        expire: bool,
        ev: &mut Vec<BookEvent>,
    ) -> usize {
        let mut n = 0;
        let report = |o: &ROrder, ev: &mut Vec<BookEvent>| {
            if expire {
                ev.push(BookEvent::Expired {
                    order_id: o.id,
                    client_order_id: o.coid,
                    account: o.account,
                    session: o.session,
                    side: o.side,
                    price: o.price,
                    leaves_qty: o.leaves,
                });
            } else {
                Self::cancelled(o, CancelReason::Mass, ev);
            }
        };
        for side in [Side::Buy, Side::Sell] {
            for price in self.prices(side) {
                let before = self.level_qty(side, price);
                for o in self.queue(side).into_iter().filter(|o| o.price == price) {
                    if hit(&o) {
                        report(&o, ev);
                        self.resting.retain(|x| x.id != o.id);
                        n += 1;
                    }
                }
                if self.level_qty(side, price) != before {
                    self.level(side, price, ev);
                }
            }
        }
        for side in [Side::Buy, Side::Sell] {
            for o in self.stop_queue(side) {
                if hit(&o) {
                    report(&o, ev);
                    self.stops.retain(|x| x.id != o.id);
                    n += 1;
                }
            }
        }
        n
    }
}

/// One command of a random stream.
#[derive(Debug, Clone)]
enum Cmd {
    New(NewOrder),
    Cancel(u64),
    Replace(u64, Price, Qty),
    Mass(MassCancelFilter),
    Expire,
    Halt,
    Resume,
}

/// Raw random material for one command; turned into a `Cmd` with the ids seen so far.
type Raw = (u8, u8, u8, u8, u8, u8, u16, u16);

fn decode(raw: Raw, next_id: &mut u64, wide: bool) -> Cmd {
    let (kind, a, b, c, d, e, f, g) = raw;
    let side = if a & 1 == 0 { Side::Buy } else { Side::Sell };
    let pick_id = |next: u64| {
        if next <= 1 {
            1
        } else {
            1 + u64::from(f) % (next + 1)
        }
    };
    match kind % 100 {
        0..=54 => {
            // new order; occasionally a stale id to exercise DuplicateOrderId
            let id = if g % 50 == 0 && *next_id > 2 {
                *next_id - 2
            } else {
                *next_id
            };
            *next_id += 1;
            let order_type = match b % 20 {
                0..=13 => OrderType::Limit,
                14..=15 => OrderType::Market,
                16..=17 => OrderType::Stop,
                _ => OrderType::StopLimit,
            };
            let tif = match c % 10 {
                0..=4 => TimeInForce::Gtc,
                5..=6 => TimeInForce::Day,
                7..=8 => TimeInForce::Ioc,
                _ => TimeInForce::Fok,
            };
            let price = if wide {
                i64::from(u16::from(d) * 3 + u16::from(e % 3))
            } else {
                95 + i64::from(d % 11)
            };
            let qty = 1 + u64::from(e % 8) + if g % 7 == 0 { 10 } else { 0 };
            let display = match g % 9 {
                0 | 1 => 1 + u64::from(e % 3),
                2 => qty + 1, // invalid
                _ => 0,
            };
            let stp = StpMode::ALL[usize::from(a >> 1) % 4];
            NewOrder {
                order_id: id,
                client_order_id: id * 10,
                account: 1 + u32::from(a >> 3) % 4,
                session: 1 + u32::from(b >> 5),
                side,
                order_type,
                tif,
                price,
                stop_price: 95 + i64::from(f % 11),
                qty: if g % 97 == 0 { 0 } else { qty },
                display_qty: display,
                post_only: c >> 5 == 0,
                stp: if a & 0x40 != 0 { stp } else { StpMode::None },
                quote_budget: if g % 3 == 0 { u64::from(g % 2000) } else { 0 },
            }
            .pipe(Cmd::New)
        }
        55..=74 => Cmd::Cancel(pick_id(*next_id)),
        75..=91 => Cmd::Replace(pick_id(*next_id), 95 + i64::from(d % 11), u64::from(e % 10)),
        92..=94 => Cmd::Mass(match a % 3 {
            0 => MassCancelFilter::Session(1 + u32::from(b >> 5)),
            1 => MassCancelFilter::Account(1 + u32::from(a >> 3) % 4),
            _ => MassCancelFilter::All,
        }),
        95..=96 => Cmd::Expire,
        97 => Cmd::Halt,
        _ => Cmd::Resume,
    }
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

fn apply_book<S: BookSink>(b: &mut OrderBook, cmd: &Cmd, sink: &mut S) {
    match *cmd {
        Cmd::New(ref o) => b.submit(o, sink),
        Cmd::Cancel(id) => {
            b.cancel(id, sink);
        }
        Cmd::Replace(id, p, q) => {
            b.replace(id, p, q, sink);
        }
        Cmd::Mass(f) => {
            b.mass_cancel(f, sink);
        }
        Cmd::Expire => {
            b.expire_day_orders(sink);
        }
        Cmd::Halt => b.halt(),
        Cmd::Resume => b.resume(),
    }
}

fn apply_ref(r: &mut RefBook, cmd: &Cmd, ev: &mut Vec<BookEvent>) -> Option<bool> {
    match *cmd {
        Cmd::New(ref o) => {
            r.submit(o, ev);
            None
        }
        Cmd::Cancel(id) => Some(r.cancel(id, ev)),
        Cmd::Replace(id, p, q) => Some(r.replace(id, p, q, ev)),
        Cmd::Mass(f) => {
            r.sweep(
                |o| match f {
                    MassCancelFilter::Session(s) => o.session == s,
                    MassCancelFilter::Account(a) => o.account == a,
                    MassCancelFilter::All => true,
                },
                false,
                ev,
            );
            None
        }
        Cmd::Expire => {
            r.sweep(|o| o.tif == TimeInForce::Day, true, ev);
            None
        }
        Cmd::Halt => {
            r.halted = true;
            None
        }
        Cmd::Resume => {
            r.halted = false;
            None
        }
    }
}

fn stream(len: usize) -> impl Strategy<Value = Vec<Cmd>> {
    stream_in(len, false)
}

/// `wide`: prices spread over ~770 ticks, so that many levels are created and
/// emptied (exercises the ladder's placeholder levels and their compaction).
fn stream_in(len: usize, wide: bool) -> impl Strategy<Value = Vec<Cmd>> {
    prop::collection::vec(any::<Raw>(), 1..len).prop_map(move |raws| {
        let mut next = 1;
        raws.into_iter()
            .map(|r| decode(r, &mut next, wide))
            .collect()
    })
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn state_of_book(b: &OrderBook) -> Vec<(Side, u64, Price, Qty, Qty, bool)> {
    let mut v = Vec::new();
    for side in [Side::Buy, Side::Sell] {
        v.extend(b.resting_orders(side).map(|o| {
            (
                side,
                o.order_id,
                o.price,
                o.leaves_qty,
                o.visible_qty,
                false,
            )
        }));
    }
    for side in [Side::Buy, Side::Sell] {
        v.extend(
            b.pending_stops(side)
                .map(|o| (side, o.order_id, o.stop_price, o.leaves_qty, 0, true)),
        );
    }
    v
}

fn state_of_ref(r: &RefBook) -> Vec<(Side, u64, Price, Qty, Qty, bool)> {
    let mut v = Vec::new();
    for side in [Side::Buy, Side::Sell] {
        v.extend(
            r.queue(side)
                .iter()
                .map(|o| (side, o.id, o.price, o.leaves, o.visible, false)),
        );
    }
    for side in [Side::Buy, Side::Sell] {
        v.extend(
            r.stop_queue(side)
                .iter()
                .map(|o| (side, o.id, o.stop, o.leaves, 0, true)),
        );
    }
    v
}

fn hash(b: &OrderBook) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash_into(&mut h);
    h.finish()
}

fn check_against_reference(cmds: &[Cmd]) -> Result<(), TestCaseError> {
    let mut book = OrderBook::new(INSTRUMENT, 4);
    let mut rf = RefBook::default();
    for (i, cmd) in cmds.iter().enumerate() {
        let mut got = Vec::new();
        let mut want = Vec::new();
        apply_book(&mut book, cmd, &mut got);
        apply_ref(&mut rf, cmd, &mut want);
        prop_assert_eq!(&got, &want, "command {} {:?}", i, cmd);
        if let Err(e) = book.check_invariants() {
            prop_assert!(false, "invariant broken after command {}: {}", i, e);
        }
        prop_assert_eq!(
            state_of_book(&book),
            state_of_ref(&rf),
            "state after command {}",
            i
        );
        prop_assert_eq!(book.best_bid().map(|b| b.0), rf.best(Side::Buy));
        prop_assert_eq!(book.best_ask().map(|a| a.0), rf.best(Side::Sell));
        for side in [Side::Buy, Side::Sell] {
            prop_assert_eq!(book.level_count(side), rf.prices(side).len());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1500)))]

    /// Same events and same resting state as the reference, invariants after every command.
    #[test]
    fn book_matches_reference(cmds in stream(120)) {
        check_against_reference(&cmds)?;
    }


    /// Quantity is conserved per order: what was accepted (adjusted by replaces)
    /// is traded, released, or still live.
    #[test]
    fn quantity_is_conserved(cmds in stream(150)) {
        let mut book = OrderBook::new(INSTRUMENT, 4);
        let mut accepted: std::collections::BTreeMap<u64, i128> = Default::default();
        let mut out: std::collections::BTreeMap<u64, i128> = Default::default();
        let mut traded_maker: u64 = 0;
        let mut traded_taker: u64 = 0;
        for cmd in &cmds {
            let mut ev = Vec::new();
            apply_book(&mut book, cmd, &mut ev);
            for e in &ev {
                match *e {
                    BookEvent::Accepted { order_id, qty, .. } => { accepted.insert(order_id, qty as i128); }
                    BookEvent::Trade { maker_order_id, taker_order_id, qty, .. } => {
                        *out.entry(maker_order_id).or_default() += qty as i128;
                        *out.entry(taker_order_id).or_default() += qty as i128;
                        traded_maker += qty;
                        traded_taker += qty;
                    }
                    BookEvent::Cancelled { order_id, leaves_qty, .. }
                    | BookEvent::Expired { order_id, leaves_qty, .. } => {
                        *out.entry(order_id).or_default() += leaves_qty as i128;
                    }
                    BookEvent::Replaced { order_id, old_leaves, new_leaves, .. } => {
                        *accepted.entry(order_id).or_default() += new_leaves as i128 - old_leaves as i128;
                    }
                    _ => {}
                }
            }
        }
        prop_assert_eq!(traded_maker, traded_taker);
        for (id, qty) in &accepted {
            let live = book.order(*id).map_or(0, |o| o.leaves_qty as i128);
            prop_assert_eq!(*qty, out.get(id).copied().unwrap_or(0) + live, "order {}", id);
        }
    }

    /// Snapshot at a random point, restore, continue: same events and same hash.
    #[test]
    fn snapshot_restore_then_continue_is_identical(cmds in stream(400), cut in any::<prop::sample::Index>()) {
        let at = cut.index(cmds.len());
        let mut book = OrderBook::new(INSTRUMENT, 4);
        for cmd in &cmds[..at] {
            apply_book(&mut book, cmd, &mut engine::book::NullSink);
        }
        let mut bytes = Vec::new();
        book.encode_snapshot(&mut bytes);
        let mut restored = OrderBook::decode_snapshot(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(hash(&book), hash(&restored));
        for cmd in &cmds[at..] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            apply_book(&mut book, cmd, &mut a);
            apply_book(&mut restored, cmd, &mut b);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(hash(&book), hash(&restored));
        restored.check_invariants().map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1500) / 5))]

    /// The same on a wide price range (hundreds of levels created and emptied).
    #[test]
    fn book_matches_reference_on_wide_books(cmds in stream_in(400, true)) {
        check_against_reference(&cmds)?;
    }
}
