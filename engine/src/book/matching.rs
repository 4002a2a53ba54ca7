//! Matching: an active order (new, replaced with lost priority, or a triggered
//! stop) trades against the opposite side in price-time priority, then rests or
//! has its remainder cancelled; stops triggered by the new last price run after
//! it, one at a time, in a loop (no recursion).

use super::arena::{NIL, NodeState};
use super::events::{BookEvent, BookSink, CancelReason};
use super::orderbook::OrderBook;
use crate::types::{OrderType, Price, Qty, Side, StpMode, TimeInForce};

/// How much of a level's price a budget still allows: `None` = unlimited.
#[inline]
fn budget_room(budget: u64, spent: i128, price: Price) -> Option<u64> {
    if budget == 0 || price <= 0 {
        return None;
    }
    let left = i128::from(budget) - spent;
    if left <= 0 {
        return Some(0);
    }
    Some(u64::try_from(left / i128::from(price)).unwrap_or(u64::MAX))
}

impl OrderBook {
    /// Runs the active node `t` against the book, then rests it or cancels its
    /// remainder. `in_map`: whether its id is already in the id map (replaced
    /// orders and triggered stops are; new orders are added only if they rest).
    pub(super) fn execute<S: BookSink>(&mut self, t: u32, in_map: bool, sink: &mut S) {
        let tif = self.arena.get(t).tif;
        if tif == TimeInForce::Fok && !self.fok_fillable(t) {
            self.finish(t, in_map, CancelReason::FokUnfillable, sink);
            return;
        }
        let killed = self.match_order(t, sink);
        let n = *self.arena.get(t);
        if n.leaves == 0 {
            if in_map {
                self.ids.remove(&n.id);
            }
            self.arena.free(t);
            return;
        }
        if killed {
            self.finish(t, in_map, CancelReason::SelfTrade, sink);
            return;
        }
        if n.order_type == OrderType::Market {
            self.finish(t, in_map, CancelReason::MarketRest, sink);
            return;
        }
        match n.tif {
            TimeInForce::Ioc => self.finish(t, in_map, CancelReason::IocRest, sink),
            TimeInForce::Fok => self.finish(t, in_map, CancelReason::FokUnfillable, sink),
            TimeInForce::Gtc | TimeInForce::Day => {
                let vis = n.slice();
                {
                    let m = self.arena.get_mut(t);
                    m.visible = vis;
                    m.state = NodeState::Resting;
                }
                let arena = &mut self.arena;
                let ladder = match n.side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                let li = ladder.get_or_insert(n.price);
                ladder.push_back(arena, li, t);
                let q = ladder.level(li).visible;
                if !in_map {
                    self.ids.insert(n.id, t);
                }
                self.emit_level(n.side, n.price, q, sink);
            }
        }
    }

    /// Cancels the remainder of an active node and frees it.
    fn finish<S: BookSink>(&mut self, t: u32, in_map: bool, reason: CancelReason, sink: &mut S) {
        let n = *self.arena.get(t);
        sink.event(&BookEvent::Cancelled {
            order_id: n.id,
            client_order_id: n.client_order_id,
            account: n.account,
            session: n.session,
            side: n.side,
            price: n.price,
            leaves_qty: n.leaves,
            reason,
        });
        if in_map {
            self.ids.remove(&n.id);
        }
        self.arena.free(t);
    }

    /// Trades `t` against the opposite side. Returns true when self-trade
    /// prevention killed the aggressor. Emits, per fill, `Trade` then `TradePrint`;
    /// a maker cancelled by STP gets `Cancelled`; each level touched gets one
    /// `Level` event after the pass over it (when its displayed quantity changed).
    fn match_order<S: BookSink>(&mut self, t: u32, sink: &mut S) -> bool {
        let tn = *self.arena.get(t);
        let side = tn.side;
        let is_market = tn.order_type == OrderType::Market;
        let limit = tn.price;
        let budget = tn.quote_budget;
        let mut spent: i128 = 0;
        let mut taker_left = tn.leaves;
        let mut killed = false;
        let exec_base = u64::from(self.instrument) << 40;
        let arena = &mut self.arena;
        let ids = &mut self.ids;
        let opp = match side {
            Side::Buy => &mut self.asks,
            Side::Sell => &mut self.bids,
        };
        'levels: while taker_left > 0 {
            let Some(li) = opp.best() else { break };
            let price = opp.level(li).price;
            if !is_market
                && match side {
                    Side::Buy => price > limit,
                    Side::Sell => price < limit,
                }
            {
                break;
            }
            let before = opp.level(li).visible;
            let mut stop_all = false;
            loop {
                let head = opp.level(li).head;
                if head == NIL || taker_left == 0 {
                    break;
                }
                let m = arena.get(head);
                if tn.stp != StpMode::None && m.account == tn.account {
                    let cancel_maker = tn.stp != StpMode::CancelAggressor;
                    if cancel_maker {
                        let m = *m;
                        opp.unlink(arena, head);
                        ids.remove(&m.id);
                        arena.free(head);
                        sink.event(&BookEvent::Cancelled {
                            order_id: m.id,
                            client_order_id: m.client_order_id,
                            account: m.account,
                            session: m.session,
                            side: m.side,
                            price: m.price,
                            leaves_qty: m.leaves,
                            reason: CancelReason::SelfTrade,
                        });
                    }
                    if tn.stp == StpMode::CancelResting {
                        continue;
                    }
                    killed = true;
                    break;
                }
                let mut q: Qty = taker_left.min(m.visible);
                if let Some(room) = budget_room(budget, spent, price)
                    && room < q
                {
                    q = room;
                    if q == 0 {
                        stop_all = true;
                        break;
                    }
                }
                // fill
                taker_left -= q;
                spent += i128::from(q) * i128::from(price);
                let (m_id, m_coid, m_acct, m_sess, m_left, m_vis) = {
                    let m = arena.get_mut(head);
                    m.visible -= q;
                    m.leaves -= q;
                    (
                        m.id,
                        m.client_order_id,
                        m.account,
                        m.session,
                        m.leaves,
                        m.visible,
                    )
                };
                opp.level_mut(li).visible -= q;
                self.last_trade = Some(price);
                self.exec_seq += 1;
                let exec_id = exec_base | self.exec_seq;
                sink.event(&BookEvent::Trade {
                    exec_id,
                    price,
                    qty: q,
                    aggressor_side: side,
                    maker_order_id: m_id,
                    maker_client_order_id: m_coid,
                    maker_account: m_acct,
                    maker_session: m_sess,
                    maker_remaining: m_left,
                    taker_order_id: tn.id,
                    taker_client_order_id: tn.client_order_id,
                    taker_account: tn.account,
                    taker_session: tn.session,
                    taker_remaining: taker_left,
                });
                self.md_seq += 1;
                sink.event(&BookEvent::TradePrint {
                    exec_id,
                    price,
                    qty: q,
                    aggressor_side: side,
                    md_seq: self.md_seq,
                });
                if m_vis == 0 {
                    opp.unlink(arena, head);
                    if m_left > 0 {
                        // iceberg: next slice goes to the back of the queue
                        let m = arena.get_mut(head);
                        m.visible = m.slice();
                        opp.push_back(arena, li, head);
                    } else {
                        ids.remove(&m_id);
                        arena.free(head);
                    }
                }
            }
            let lv = opp.level(li);
            let (after, empty) = (lv.visible, lv.head == NIL);
            if empty {
                opp.pop_best();
            }
            if after != before {
                self.md_seq += 1;
                sink.event(&BookEvent::Level {
                    side: side.opposite(),
                    price,
                    qty: after,
                    md_seq: self.md_seq,
                });
            }
            if killed || stop_all {
                break 'levels;
            }
        }
        self.arena.get_mut(t).leaves = taker_left;
        killed
    }

    /// Exact fill-or-kill check: can `t` fill completely right now, given limit
    /// price, quote budget, icebergs and self-trade prevention, without trading?
    pub(super) fn fok_fillable(&self, t: u32) -> bool {
        let tn = self.arena.get(t);
        let opp = self.ladder(tn.side.opposite());
        let need = tn.leaves;
        let mut got: Qty = 0;
        let mut spent: i128 = 0;
        for li in opp.iter() {
            let lv = opp.level(li);
            let price = lv.price;
            if tn.order_type != OrderType::Market
                && match tn.side {
                    Side::Buy => price > tn.price,
                    Side::Sell => price < tn.price,
                }
            {
                break;
            }
            // Before the first order that would stop the aggressor (STP cancel-
            // aggressor/both), only displayed slices fill (a replenished iceberg
            // slice goes behind it); with no such order every non-self quantity fills.
            let mut vis_before_block: Qty = 0;
            let mut total: Qty = 0;
            let mut blocked = false;
            let mut s = lv.head;
            while s != NIL {
                let n = self.arena.get(s);
                s = n.next;
                if tn.stp != StpMode::None && n.account == tn.account {
                    if tn.stp == StpMode::CancelResting {
                        continue;
                    }
                    blocked = true;
                    break;
                }
                vis_before_block += n.visible;
                total += n.leaves;
            }
            let mut avail = if blocked { vis_before_block } else { total };
            let mut capped = false;
            if let Some(room) = budget_room(tn.quote_budget, spent, price)
                && room < avail
            {
                avail = room;
                capped = true;
            }
            got = got.saturating_add(avail);
            spent += i128::from(avail) * i128::from(price);
            if got >= need {
                return true;
            }
            if blocked || capped {
                return false;
            }
        }
        false
    }

    /// Triggers and runs pending stops while the last trade price triggers any,
    /// one at a time in trigger priority (see `stops`), each to completion before
    /// the next is chosen: a cascade is a loop, never recursion.
    pub(super) fn run_triggers<S: BookSink>(&mut self, sink: &mut S) {
        while let Some(last) = self.last_trade {
            let Some(s) = self.stops.pop_triggered(last) else {
                break;
            };
            let n = {
                let n = self.arena.get_mut(s);
                n.order_type = if n.order_type == OrderType::Stop {
                    OrderType::Market
                } else {
                    OrderType::Limit
                };
                n.state = NodeState::Active;
                *n
            };
            sink.event(&BookEvent::Triggered {
                order_id: n.id,
                client_order_id: n.client_order_id,
                account: n.account,
                session: n.session,
                side: n.side,
                order_type: n.order_type,
                price: n.price,
                stop_price: n.stop_price,
                leaves_qty: n.leaves,
            });
            self.execute(s, true, sink);
        }
    }
}
