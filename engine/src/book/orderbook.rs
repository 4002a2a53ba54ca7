//! The order book of one instrument: state, the public command API and queries.
//! Matching lives in `matching`, mass operations in `admin`, stop triggering in
//! `stops`, snapshots and the canonical hash in `snapshot`.

use super::arena::{Arena, NIL, Node, NodeState};
use super::events::{BookEvent, BookSink, CancelReason, RejectReason};
use super::idmap::{IdMap, id_map};
use super::ladder::Ladder;
use super::order::{NewOrder, OrderView};
use super::stops::Stops;
use crate::types::{InstrumentId, OrderId, OrderType, Price, Qty, Side, TimeInForce};

/// One instrument's limit order book: price-time priority, integer ticks and lots.
///
/// Commands report through a [`BookSink`]; see the [module docs](super) for the
/// rules and the order of events.
#[derive(Debug, Clone)]
pub struct OrderBook {
    pub(super) instrument: InstrumentId,
    pub(super) arena: Arena,
    pub(super) ids: IdMap,
    pub(super) bids: Ladder,
    pub(super) asks: Ladder,
    pub(super) stops: Stops,
    pub(super) last_trade: Option<Price>,
    pub(super) last_order_id: Option<OrderId>,
    pub(super) exec_seq: u64,
    pub(super) md_seq: u64,
    pub(super) halted: bool,
}

impl OrderBook {
    /// An empty book for `instrument` with room for `capacity_hint` live orders
    /// before any allocation.
    pub fn new(instrument: InstrumentId, capacity_hint: usize) -> Self {
        let cap = capacity_hint.max(16);
        let level_cap = (cap / 4).max(16);
        OrderBook {
            instrument,
            arena: Arena::with_capacity(cap),
            ids: id_map(cap),
            bids: Ladder::new(Side::Buy, level_cap),
            asks: Ladder::new(Side::Sell, level_cap),
            stops: Stops::default(),
            last_trade: None,
            last_order_id: None,
            exec_seq: 0,
            md_seq: 0,
            halted: false,
        }
    }

    /// The instrument this book trades.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    #[inline]
    pub(super) fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    #[inline]
    pub(super) fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    #[inline]
    pub(super) fn emit_level<S: BookSink>(
        &mut self,
        side: Side,
        price: Price,
        qty: Qty,
        sink: &mut S,
    ) {
        self.md_seq += 1;
        sink.event(&BookEvent::Level {
            side,
            price,
            qty,
            md_seq: self.md_seq,
        });
    }

    /// True when a limit order on `side` at `price` would trade on entry.
    #[inline]
    pub(super) fn would_cross(&self, side: Side, price: Price) -> bool {
        match side {
            Side::Buy => self.best_ask().is_some_and(|(p, _)| p <= price),
            Side::Sell => self.best_bid().is_some_and(|(p, _)| p >= price),
        }
    }

    fn validate(&self, o: &NewOrder) -> Result<(), RejectReason> {
        if self.halted {
            return Err(RejectReason::Halted);
        }
        if o.qty == 0 {
            return Err(RejectReason::InvalidQty);
        }
        if o.display_qty > o.qty {
            return Err(RejectReason::InvalidDisplayQty);
        }
        let iceberg = o.display_qty > 0 && o.display_qty < o.qty;
        let cannot_rest = matches!(o.order_type, OrderType::Market | OrderType::Stop)
            || matches!(o.tif, TimeInForce::Ioc | TimeInForce::Fok);
        if (o.post_only && (cannot_rest || o.order_type != OrderType::Limit))
            || (iceberg && cannot_rest)
        {
            return Err(RejectReason::InvalidInstruction);
        }
        if o.post_only && self.would_cross(o.side, o.price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        Ok(())
    }

    /// Submits a new order: validation, `Accepted`, matching, rest or cancel of the
    /// remainder, then any stop cascade. A refused order gets one `Rejected` event
    /// and changes nothing (except that its id counts as used, unless the refusal
    /// is `DuplicateOrderId`).
    pub fn submit<S: BookSink>(&mut self, o: &NewOrder, sink: &mut S) {
        if self.last_order_id.is_some_and(|last| o.order_id <= last) {
            self.reject(o, RejectReason::DuplicateOrderId, sink);
            return;
        }
        self.last_order_id = Some(o.order_id);
        if let Err(reason) = self.validate(o) {
            self.reject(o, reason, sink);
            return;
        }
        let has_limit = matches!(o.order_type, OrderType::Limit | OrderType::StopLimit);
        let is_stop = matches!(o.order_type, OrderType::Stop | OrderType::StopLimit);
        let is_market_buy =
            o.side == Side::Buy && matches!(o.order_type, OrderType::Market | OrderType::Stop);
        let display = if o.display_qty < o.qty {
            o.display_qty
        } else {
            0
        };
        let node = Node {
            id: o.order_id,
            client_order_id: o.client_order_id,
            price: if has_limit { o.price } else { 0 },
            stop_price: if is_stop { o.stop_price } else { 0 },
            leaves: o.qty,
            visible: 0,
            display,
            quote_budget: if is_market_buy { o.quote_budget } else { 0 },
            prev: NIL,
            next: NIL,
            level: NIL,
            account: o.account,
            session: o.session,
            side: o.side,
            order_type: o.order_type,
            tif: o.tif,
            stp: o.stp,
            post_only: o.post_only,
            state: if is_stop {
                NodeState::Stop
            } else {
                NodeState::Active
            },
        };
        sink.event(&BookEvent::Accepted {
            order_id: node.id,
            client_order_id: node.client_order_id,
            account: node.account,
            session: node.session,
            side: node.side,
            order_type: node.order_type,
            tif: node.tif,
            price: node.price,
            stop_price: node.stop_price,
            qty: node.leaves,
            display_qty: node.display,
        });
        let slot = self.arena.alloc(node);
        if is_stop {
            self.ids.insert(node.id, slot);
            self.stops.insert(node.side, node.stop_price, node.id, slot);
        } else {
            self.execute(slot, false, sink);
        }
        self.run_triggers(sink);
    }

    fn reject<S: BookSink>(&self, o: &NewOrder, reason: RejectReason, sink: &mut S) {
        sink.event(&BookEvent::Rejected {
            order_id: o.order_id,
            client_order_id: o.client_order_id,
            account: o.account,
            session: o.session,
            reason,
        });
    }

    /// Cancels a live order (resting or pending stop). Returns false, after a
    /// `CancelRejected { UnknownOrder }`, when the order is not live here.
    /// Allowed while halted.
    pub fn cancel<S: BookSink>(&mut self, order_id: OrderId, sink: &mut S) -> bool {
        let Some(s) = self.ids.remove(&order_id) else {
            sink.event(&BookEvent::CancelRejected {
                order_id,
                reason: RejectReason::UnknownOrder,
            });
            return false;
        };
        let n = *self.arena.get(s);
        sink.event(&BookEvent::Cancelled {
            order_id,
            client_order_id: n.client_order_id,
            account: n.account,
            session: n.session,
            side: n.side,
            price: n.price,
            leaves_qty: n.leaves,
            reason: CancelReason::User,
        });
        if n.state == NodeState::Stop {
            self.stops.remove(n.side, n.stop_price, n.id);
        } else {
            self.unlink_resting(s, sink);
        }
        self.arena.free(s);
        true
    }

    /// Unlinks a resting node from its level, removes an emptied level, and emits
    /// the level's new quantity.
    pub(super) fn unlink_resting<S: BookSink>(&mut self, s: u32, sink: &mut S) {
        let (side, li) = {
            let n = self.arena.get(s);
            (n.side, n.level)
        };
        let arena = &mut self.arena;
        let ladder = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let empty = ladder.unlink(arena, s);
        let (price, qty) = {
            let lv = ladder.level(li);
            (lv.price, lv.visible)
        };
        if empty {
            ladder.remove_level(li);
        }
        self.emit_level(side, price, qty, sink);
    }

    /// Replaces a resting order's price and remaining quantity (`new_qty` is the new
    /// leaves quantity, > 0). Same price and no quantity increase keeps time
    /// priority; anything else re-enters at the back of the new level and matches
    /// if it crosses. Pending stops cannot be replaced. Returns false (after a
    /// `ReplaceRejected`) when refused.
    pub fn replace<S: BookSink>(
        &mut self,
        order_id: OrderId,
        new_price: Price,
        new_qty: Qty,
        sink: &mut S,
    ) -> bool {
        let refuse = |reason, sink: &mut S| {
            sink.event(&BookEvent::ReplaceRejected { order_id, reason });
            false
        };
        if self.halted {
            return refuse(RejectReason::Halted, sink);
        }
        let Some(&s) = self.ids.get(&order_id) else {
            return refuse(RejectReason::UnknownOrder, sink);
        };
        let n = *self.arena.get(s);
        if n.state == NodeState::Stop {
            return refuse(RejectReason::NotReplaceable, sink);
        }
        if new_qty == 0 {
            return refuse(RejectReason::InvalidQty, sink);
        }
        if n.post_only && self.would_cross(n.side, new_price) {
            return refuse(RejectReason::PostOnlyWouldCross, sink);
        }
        let keep = new_price == n.price && new_qty <= n.leaves;
        sink.event(&BookEvent::Replaced {
            order_id,
            client_order_id: n.client_order_id,
            account: n.account,
            session: n.session,
            side: n.side,
            old_price: n.price,
            new_price,
            old_leaves: n.leaves,
            new_leaves: new_qty,
            priority_kept: keep,
        });
        if keep {
            let new_vis = n.visible.min(new_qty);
            {
                let m = self.arena.get_mut(s);
                m.leaves = new_qty;
                m.visible = new_vis;
            }
            if new_vis != n.visible {
                let ladder = self.ladder_mut(n.side);
                let lv = ladder.level_mut(n.level);
                lv.visible -= n.visible - new_vis;
                let q = lv.visible;
                self.emit_level(n.side, n.price, q, sink);
            }
        } else {
            self.unlink_resting(s, sink);
            {
                let m = self.arena.get_mut(s);
                m.price = new_price;
                m.leaves = new_qty;
                m.visible = 0;
                m.state = NodeState::Active;
            }
            self.execute(s, true, sink);
            self.run_triggers(sink);
        }
        true
    }

    /// Stops accepting new orders and replaces (cancels, mass cancels and expiry
    /// still work). Idempotent.
    pub fn halt(&mut self) {
        self.halted = true;
    }

    /// Resumes trading after [`halt`](Self::halt). Idempotent.
    pub fn resume(&mut self) {
        self.halted = false;
    }

    /// True while halted.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Best bid price and its displayed quantity.
    #[inline]
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids.best().map(|li| {
            let lv = self.bids.level(li);
            (lv.price, lv.visible)
        })
    }

    /// Best ask price and its displayed quantity.
    #[inline]
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks.best().map(|li| {
            let lv = self.asks.level(li);
            (lv.price, lv.visible)
        })
    }

    /// Displayed quantity at `price` on `side` (0 if no level).
    pub fn depth_at(&self, side: Side, price: Price) -> Qty {
        let l = self.ladder(side);
        l.lookup(price).map_or(0, |li| l.level(li).visible)
    }

    /// Number of price levels on `side`.
    pub fn level_count(&self, side: Side) -> usize {
        self.ladder(side).len()
    }

    /// The levels of `side` as (price, displayed qty), best first.
    pub fn levels(&self, side: Side) -> impl Iterator<Item = (Price, Qty)> + '_ {
        let l = self.ladder(side);
        l.iter().map(move |li| {
            let lv = l.level(li);
            (lv.price, lv.visible)
        })
    }

    /// Resting orders of `side`, best level first, FIFO within a level.
    pub fn resting_orders(&self, side: Side) -> impl Iterator<Item = OrderView> + '_ {
        let l = self.ladder(side);
        l.iter()
            .flat_map(move |li| self.level_slots(l.level(li).head))
    }

    fn level_slots(&self, head: u32) -> impl Iterator<Item = OrderView> + '_ {
        let mut s = head;
        std::iter::from_fn(move || {
            if s == NIL {
                return None;
            }
            let n = self.arena.get(s);
            s = n.next;
            Some(view(n))
        })
    }

    /// Pending stops of `side` in trigger order.
    pub fn pending_stops(&self, side: Side) -> impl Iterator<Item = OrderView> + '_ {
        (0..self.stops.len(side))
            .map(move |i| view(self.arena.get(self.stops.slot_at_rank(side, i))))
    }

    /// A live order (resting or pending stop) by id.
    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        self.ids.get(&id).map(|&s| view(self.arena.get(s)))
    }

    /// Number of live orders (resting plus pending stops).
    pub fn live_orders(&self) -> usize {
        self.ids.len()
    }

    /// Price of the last trade, if any.
    pub fn last_trade_price(&self) -> Option<Price> {
        self.last_trade
    }

    /// The highest order id this book has seen (new ids must be above it).
    pub fn last_order_id(&self) -> Option<OrderId> {
        self.last_order_id
    }

    /// The last market-data sequence number emitted.
    pub fn md_seq(&self) -> u64 {
        self.md_seq
    }
}

pub(super) fn view(n: &Node) -> OrderView {
    OrderView {
        order_id: n.id,
        client_order_id: n.client_order_id,
        account: n.account,
        session: n.session,
        side: n.side,
        order_type: n.order_type,
        tif: n.tif,
        price: n.price,
        stop_price: n.stop_price,
        leaves_qty: n.leaves,
        visible_qty: if n.state == NodeState::Resting {
            n.visible
        } else {
            0
        },
        display_qty: n.display,
        post_only: n.post_only,
        stp: n.stp,
        pending_stop: n.state == NodeState::Stop,
    }
}

impl OrderBook {
    /// Checks the structural invariants (for tests and debugging; O(n)): the book
    /// is not crossed, levels are non-empty and strictly ordered, each level's
    /// quantity is the sum of its orders' displayed quantity, FIFO links are
    /// consistent, and every live order is reachable exactly once.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if let (Some((b, _)), Some((a, _))) = (self.best_bid(), self.best_ask())
            && b >= a
        {
            return Err("crossed at rest");
        }
        let mut seen = 0usize;
        for side in [Side::Buy, Side::Sell] {
            let l = self.ladder(side);
            let mut prev_price: Option<Price> = None;
            if l.best().is_some_and(|li| l.level(li).head == NIL) {
                return Err("best level is an empty placeholder");
            }
            for li in l.iter() {
                let lv = l.level(li);
                if let Some(p) = prev_price {
                    let ordered = match side {
                        Side::Buy => lv.price < p,
                        Side::Sell => lv.price > p,
                    };
                    if !ordered {
                        return Err("levels out of order");
                    }
                }
                prev_price = Some(lv.price);
                let (mut s, mut prev, mut sum) = (lv.head, NIL, 0);
                while s != NIL {
                    let n = self.arena.get(s);
                    if n.prev != prev || n.state != NodeState::Resting || n.side != side {
                        return Err("broken level list");
                    }
                    if n.price != lv.price || n.visible == 0 || n.visible > n.leaves {
                        return Err("bad resting order");
                    }
                    if self.ids.get(&n.id) != Some(&s) {
                        return Err("resting order missing from id map");
                    }
                    sum += n.visible;
                    seen += 1;
                    prev = s;
                    s = n.next;
                }
                if prev != lv.tail {
                    return Err("level tail wrong");
                }
                if sum != lv.visible {
                    return Err("level quantity is not the sum of its orders");
                }
            }
            seen += self.stops.len(side);
        }
        if seen != self.ids.len() || seen != self.arena.live() {
            return Err("live order count mismatch");
        }
        Ok(())
    }
}
