//! Mass operations: mass cancel (session, account, whole book) and session-end
//! expiry of DAY orders. Both walk the book in canonical order — bids best level
//! first, FIFO within a level, then asks the same way, then pending buy stops and
//! pending sell stops in trigger order — and emit one event per order plus one
//! `Level` event per level whose displayed quantity changed (after that level's pass).

use super::arena::{NIL, Node};
use super::events::{BookEvent, BookSink, CancelReason};
use super::order::MassCancelFilter;
use super::orderbook::OrderBook;
use crate::types::{Side, TimeInForce};

#[derive(Clone, Copy)]
enum Sweep {
    Mass(MassCancelFilter),
    ExpireDay,
}

impl Sweep {
    #[inline]
    fn hits(self, n: &Node) -> bool {
        match self {
            Sweep::Mass(f) => f.matches(n.account, n.session),
            Sweep::ExpireDay => n.tif == TimeInForce::Day,
        }
    }

    fn report<S: BookSink>(self, n: &Node, sink: &mut S) {
        match self {
            Sweep::Mass(_) => sink.event(&BookEvent::Cancelled {
                order_id: n.id,
                client_order_id: n.client_order_id,
                account: n.account,
                session: n.session,
                side: n.side,
                price: n.price,
                leaves_qty: n.leaves,
                reason: CancelReason::Mass,
            }),
            Sweep::ExpireDay => sink.event(&BookEvent::Expired {
                order_id: n.id,
                client_order_id: n.client_order_id,
                account: n.account,
                session: n.session,
                side: n.side,
                price: n.price,
                leaves_qty: n.leaves,
            }),
        }
    }
}

impl OrderBook {
    /// Cancels every live order (resting and pending stops) that `filter`
    /// selects, with `Cancelled { reason: Mass }`. Allowed while halted. Returns
    /// how many were cancelled.
    pub fn mass_cancel<S: BookSink>(&mut self, filter: MassCancelFilter, sink: &mut S) -> usize {
        self.sweep(Sweep::Mass(filter), sink)
    }

    /// Session end: expires every DAY order (resting and pending stops) with
    /// `Expired`. Returns how many expired.
    pub fn expire_day_orders<S: BookSink>(&mut self, sink: &mut S) -> usize {
        self.sweep(Sweep::ExpireDay, sink)
    }

    fn sweep<S: BookSink>(&mut self, how: Sweep, sink: &mut S) -> usize {
        let mut count = 0;
        for side in [Side::Buy, Side::Sell] {
            // raw entries from the best down; removing a level only pops entries
            // above the cursor or turns it into a placeholder, so indices below
            // stay valid
            let mut i = self.ladder(side).raw_len();
            while i > 0 {
                i -= 1;
                if i >= self.ladder(side).raw_len() {
                    continue;
                }
                let li = self.ladder(side).raw_at(i);
                if self.ladder(side).level(li).head == NIL {
                    continue;
                }
                let (price, before, mut s) = {
                    let lv = self.ladder(side).level(li);
                    (lv.price, lv.visible, lv.head)
                };
                while s != NIL {
                    let n = *self.arena.get(s);
                    let next = n.next;
                    if how.hits(&n) {
                        how.report(&n, sink);
                        let arena = &mut self.arena;
                        let ladder = match side {
                            Side::Buy => &mut self.bids,
                            Side::Sell => &mut self.asks,
                        };
                        ladder.unlink(arena, s);
                        self.ids.remove(&n.id);
                        self.arena.free(s);
                        count += 1;
                    }
                    s = next;
                }
                let lv = self.ladder(side).level(li);
                let (after, empty) = (lv.visible, lv.head == NIL);
                if empty {
                    self.ladder_mut(side).remove_level(li);
                }
                if after != before {
                    self.emit_level(side, price, after, sink);
                }
            }
        }
        for side in [Side::Buy, Side::Sell] {
            let mut rank = 0;
            while rank < self.stops.len(side) {
                let s = self.stops.slot_at_rank(side, rank);
                let n = *self.arena.get(s);
                if how.hits(&n) {
                    how.report(&n, sink);
                    self.stops.remove_rank(side, rank);
                    self.ids.remove(&n.id);
                    self.arena.free(s);
                    count += 1;
                } else {
                    rank += 1;
                }
            }
        }
        count
    }
}
