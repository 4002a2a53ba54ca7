//! Turns the book's reports into settlement and output events. The handler is
//! the [`BookSink`] the processor passes to the book: the book calls it
//! synchronously, in order, and it settles funds, updates the order table and
//! emits `engine::msg` events before the book goes on.

use crate::book::{self, BookEvent, BookSink};
use crate::msg::{
    BookLevel, CancelReason, CancelReject, ExecKind, ExecReport, Message, RejectCode, TradePrint,
};
use crate::risk::Fill;
use crate::types::{ClientOrderId, InstrumentId, OrderId, Price, Qty, SessionId};

use super::orders::OrderMeta;
use super::{Core, EventSink, map_book_reject};

/// Per-command context of a book call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx {
    /// Timestamp of the command (stamped on every event it causes).
    pub ts: u64,
    /// The book's instrument.
    pub instrument: InstrumentId,
    /// Session of the command (addressee of cancel rejects).
    pub reply_session: SessionId,
    /// The client id of the cancel/replace request being served, if any.
    pub request_client_id: Option<ClientOrderId>,
    /// Cancel reason to report for book mass cancels (mass cancel or disconnect).
    pub mass_reason: CancelReason,
}

pub(super) struct Handler<'a, S: EventSink> {
    pub core: &'a mut Core,
    pub out: &'a mut S,
    pub ctx: Ctx,
}

fn map_cancel(r: book::CancelReason, mass: CancelReason) -> CancelReason {
    match r {
        book::CancelReason::User => CancelReason::Requested,
        book::CancelReason::IocRest => CancelReason::IocRest,
        book::CancelReason::FokUnfillable => CancelReason::FokUnfilled,
        book::CancelReason::MarketRest => CancelReason::MarketRest,
        book::CancelReason::SelfTrade => CancelReason::SelfTrade,
        book::CancelReason::Mass => mass,
    }
}

/// An execution report for `m` with the per-report fields zeroed.
pub(super) fn base_report(order_id: OrderId, m: &OrderMeta, kind: ExecKind) -> ExecReport {
    ExecReport {
        kind,
        order_id,
        client_order_id: m.client_order_id,
        orig_client_order_id: 0,
        exec_id: 0,
        account: m.account,
        instrument: m.instrument,
        side: m.side,
        order_type: m.order_type,
        tif: m.tif,
        reject: RejectCode::None,
        cancel: CancelReason::None,
        price: m.price,
        last_price: 0,
        last_qty: 0,
        leaves_qty: m.leaves,
        cum_qty: m.cum_qty,
        cum_notional: m.cum_notional,
    }
}

impl<S: EventSink> Handler<'_, S> {
    fn emit(&mut self, session: SessionId, msg: Message) {
        self.core.emit(self.out, session, self.ctx.ts, msg);
    }

    fn report(&mut self, session: SessionId, mut r: ExecReport) {
        r.exec_id = self.core.next_report_exec_id();
        self.emit(session, Message::ExecReport(r));
    }

    /// An order left the book (cancelled, expired, rejected): release its funds
    /// and forget it; returns what the report needs.
    fn finish(&mut self, order_id: OrderId) -> Option<OrderMeta> {
        self.core.risk.release(order_id);
        self.core.orders.remove(order_id)
    }

    fn fill(&mut self, order_id: OrderId, price: Price, qty: Qty, remaining: Qty, exec_id: u64) {
        let Some(m) = self.core.orders.get_mut(order_id) else {
            self.core
                .fault("trade for an order the processor does not know");
            return;
        };
        m.cum_qty = m.cum_qty.saturating_add(qty);
        m.leaves = remaining;
        let px = u64::try_from(price).unwrap_or(0);
        m.cum_notional = m.cum_notional.saturating_add(px.saturating_mul(qty));
        let m = *m;
        let kind = if remaining == 0 {
            self.core.orders.remove(order_id);
            ExecKind::Fill
        } else {
            ExecKind::PartialFill
        };
        let mut r = base_report(order_id, &m, kind);
        r.exec_id = exec_id;
        r.last_price = price;
        r.last_qty = qty;
        self.emit(m.session, Message::ExecReport(r));
    }

    fn cancel_reject(&mut self, order_id: OrderId, reason: book::RejectReason, was_replace: bool) {
        let (orig, account, instrument, leaves_qty, cum_qty) = match self.core.orders.get(order_id)
        {
            Some(m) => (
                m.client_order_id,
                m.account,
                m.instrument,
                m.leaves,
                m.cum_qty,
            ),
            None => (0, 0, self.ctx.instrument, 0, 0),
        };
        let msg = Message::CancelReject(CancelReject {
            order_id,
            client_order_id: self.ctx.request_client_id.unwrap_or(0),
            orig_client_order_id: orig,
            account,
            instrument,
            was_replace,
            reason: map_book_reject(reason),
            leaves_qty,
            cum_qty,
        });
        self.emit(self.ctx.reply_session, msg);
    }
}

impl<S: EventSink> BookSink for Handler<'_, S> {
    fn event(&mut self, ev: &BookEvent) {
        match *ev {
            BookEvent::Accepted { order_id, .. } => {
                if let Some(m) = self.core.orders.get(order_id).copied() {
                    self.report(m.session, base_report(order_id, &m, ExecKind::New));
                }
            }
            BookEvent::Rejected {
                order_id, reason, ..
            } => {
                if let Some(m) = self.finish(order_id) {
                    let mut r = base_report(order_id, &m, ExecKind::Rejected);
                    r.reject = map_book_reject(reason);
                    r.leaves_qty = 0;
                    self.report(m.session, r);
                }
            }
            BookEvent::CancelRejected { order_id, reason } => {
                self.cancel_reject(order_id, reason, false);
            }
            BookEvent::ReplaceRejected { order_id, reason } => {
                self.cancel_reject(order_id, reason, true);
            }
            BookEvent::Trade {
                exec_id,
                price,
                qty,
                maker_order_id,
                maker_remaining,
                taker_order_id,
                taker_remaining,
                ..
            } => {
                let fill = Fill {
                    price,
                    qty,
                    maker_order: maker_order_id,
                    taker_order: taker_order_id,
                };
                if let Err(e) = self.core.risk.settle(&fill) {
                    self.core.fault(e.0);
                }
                self.fill(maker_order_id, price, qty, maker_remaining, exec_id);
                self.fill(taker_order_id, price, qty, taker_remaining, exec_id);
            }
            BookEvent::Cancelled {
                order_id, reason, ..
            } => {
                let request = matches!(reason, book::CancelReason::User);
                if let Some(m) = self.finish(order_id) {
                    let mut r = base_report(order_id, &m, ExecKind::Cancelled);
                    r.cancel = map_cancel(reason, self.ctx.mass_reason);
                    r.leaves_qty = 0;
                    if request && let Some(c) = self.ctx.request_client_id {
                        r.client_order_id = c;
                        r.orig_client_order_id = m.client_order_id;
                    }
                    self.report(m.session, r);
                }
            }
            BookEvent::Replaced {
                order_id,
                new_price,
                new_leaves,
                ..
            } => {
                let old = self.core.orders.get(order_id).map(|m| m.client_order_id);
                if let Some(c) = self.ctx.request_client_id {
                    self.core.orders.rename(order_id, c);
                }
                if let Some(m) = self.core.orders.get_mut(order_id) {
                    m.price = new_price;
                    m.leaves = new_leaves;
                    let m = *m;
                    let mut r = base_report(order_id, &m, ExecKind::Replaced);
                    r.orig_client_order_id = old.unwrap_or(0);
                    self.report(m.session, r);
                }
            }
            BookEvent::Expired { order_id, .. } => {
                if let Some(m) = self.finish(order_id) {
                    let mut r = base_report(order_id, &m, ExecKind::Expired);
                    r.leaves_qty = 0;
                    self.report(m.session, r);
                }
            }
            BookEvent::Triggered { order_id, .. } => {
                if let Some(m) = self.core.orders.get(order_id).copied() {
                    self.report(m.session, base_report(order_id, &m, ExecKind::Triggered));
                }
            }
            BookEvent::Level {
                side,
                price,
                qty,
                md_seq,
            } => {
                let msg = Message::BookLevel(BookLevel {
                    instrument: self.ctx.instrument,
                    side,
                    price,
                    qty,
                    md_seq,
                });
                self.emit(0, msg);
            }
            BookEvent::TradePrint {
                exec_id,
                price,
                qty,
                aggressor_side,
                md_seq,
            } => {
                let msg = Message::TradePrint(TradePrint {
                    instrument: self.ctx.instrument,
                    aggressor: aggressor_side,
                    price,
                    qty,
                    exec_id,
                    md_seq,
                });
                self.emit(0, msg);
            }
        }
    }
}
