//! Reports the book pushes to its caller: order lifecycle events, trades and
//! market data. Every event carries enough to settle funds and answer the client
//! without another lookup, and the sink is called synchronously, in order, with a
//! borrowed event (no allocation on the book's side).

use crate::types::{
    AccountId, ClientOrderId, ExecId, OrderId, OrderType, Price, Qty, SessionId, Side, TimeInForce,
};

/// Why the book refused an order, a cancel or a replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The instrument is halted: new orders and replaces are refused, cancels are allowed.
    Halted,
    /// The order id is not above every id this book has seen (ids are never reused).
    DuplicateOrderId,
    /// Quantity is zero.
    InvalidQty,
    /// Iceberg display quantity is larger than the order quantity.
    InvalidDisplayQty,
    /// A combination the book does not support (post-only market/IOC/FOK/stop,
    /// iceberg that cannot rest).
    InvalidInstruction,
    /// A post-only order (or a replace of one) would trade on entry.
    PostOnlyWouldCross,
    /// Cancel/replace of an order that is not live here (filled, cancelled, unknown).
    UnknownOrder,
    /// Replace of a pending (untriggered) stop order: cancel and re-enter instead.
    NotReplaceable,
}

/// Why a live order (or the unfilled rest of an incoming one) was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// Cancelled on request.
    User,
    /// The unfilled rest of an IOC order.
    IocRest,
    /// A FOK order that could not fill completely at once (nothing traded).
    FokUnfillable,
    /// The unfilled rest of a market order (no more liquidity, or its quote budget ran out).
    MarketRest,
    /// Self-trade prevention cancelled it.
    SelfTrade,
    /// Mass cancel (session, account or whole instrument).
    Mass,
}

/// One report from the book. See the module docs for the exact order in which
/// they are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookEvent {
    /// A new order passed validation; matching (if any) follows.
    Accepted {
        /// Order id.
        order_id: OrderId,
        /// Client's id for the order.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Session the order came from.
        session: SessionId,
        /// Side.
        side: Side,
        /// Type as submitted.
        order_type: OrderType,
        /// Time in force.
        tif: TimeInForce,
        /// Limit price (0 for market and stop-market orders).
        price: Price,
        /// Stop price (0 unless stop/stop-limit).
        stop_price: Price,
        /// Quantity.
        qty: Qty,
        /// Iceberg display quantity (0 = not an iceberg).
        display_qty: Qty,
    },
    /// A new order was refused; nothing changed in the book.
    Rejected {
        /// Order id.
        order_id: OrderId,
        /// Client's id for the order.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Session the order came from.
        session: SessionId,
        /// Why.
        reason: RejectReason,
    },
    /// A cancel request was refused (the order is not live, or the book is halted ...).
    CancelRejected {
        /// The order id the request named.
        order_id: OrderId,
        /// Why.
        reason: RejectReason,
    },
    /// A replace request was refused; the order is unchanged.
    ReplaceRejected {
        /// The order id the request named.
        order_id: OrderId,
        /// Why.
        reason: RejectReason,
    },
    /// One fill, at the resting (maker) order's price.
    Trade {
        /// Execution id, unique per venue: `instrument << 40 | per-book sequence`.
        exec_id: ExecId,
        /// Trade price: the maker's price.
        price: Price,
        /// Quantity filled.
        qty: Qty,
        /// Side of the incoming (taker) order.
        aggressor_side: Side,
        /// Maker order id.
        maker_order_id: OrderId,
        /// Maker's client order id.
        maker_client_order_id: ClientOrderId,
        /// Maker account.
        maker_account: AccountId,
        /// Maker session.
        maker_session: SessionId,
        /// Maker's total remaining quantity after this fill (hidden iceberg part included).
        maker_remaining: Qty,
        /// Taker order id.
        taker_order_id: OrderId,
        /// Taker's client order id.
        taker_client_order_id: ClientOrderId,
        /// Taker account.
        taker_account: AccountId,
        /// Taker session.
        taker_session: SessionId,
        /// Taker's remaining quantity after this fill.
        taker_remaining: Qty,
    },
    /// A live order, or the unfilled rest of an incoming one, was cancelled;
    /// `leaves_qty` is what was released.
    Cancelled {
        /// Order id.
        order_id: OrderId,
        /// Client's id for the order.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Session the order came from.
        session: SessionId,
        /// Side.
        side: Side,
        /// Limit price (0 for market/stop-market).
        price: Price,
        /// Quantity released.
        leaves_qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// A replace was applied. Matching follows when priority was lost and the new
    /// price crosses.
    Replaced {
        /// Order id (unchanged by a replace).
        order_id: OrderId,
        /// Client's id for the order.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Session of the order.
        session: SessionId,
        /// Side.
        side: Side,
        /// Price before.
        old_price: Price,
        /// Price after.
        new_price: Price,
        /// Remaining quantity before.
        old_leaves: Qty,
        /// Remaining quantity after.
        new_leaves: Qty,
        /// True when the order kept its place in the queue (same price, quantity not increased).
        priority_kept: bool,
    },
    /// A DAY order was expired by the session-end command.
    Expired {
        /// Order id.
        order_id: OrderId,
        /// Client's id for the order.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Session of the order.
        session: SessionId,
        /// Side.
        side: Side,
        /// Limit price (0 for stop-market).
        price: Price,
        /// Quantity released.
        leaves_qty: Qty,
    },
    /// A stop order's trigger condition was met; it now runs as `order_type`.
    Triggered {
        /// Order id.
        order_id: OrderId,
        /// Client's id for the order.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Session of the order.
        session: SessionId,
        /// Side.
        side: Side,
        /// What it became: `Market` (from stop) or `Limit` (from stop-limit).
        order_type: OrderType,
        /// Limit price (0 for market).
        price: Price,
        /// The stop price that was crossed.
        stop_price: Price,
        /// Quantity.
        leaves_qty: Qty,
    },
    /// Market data: the displayed quantity at a price level changed (absolute; 0 deletes).
    Level {
        /// Side of the level.
        side: Side,
        /// Price of the level.
        price: Price,
        /// New displayed quantity (icebergs count their display part only).
        qty: Qty,
        /// Per-instrument market-data sequence number.
        md_seq: u64,
    },
    /// Market data: a trade print.
    TradePrint {
        /// Execution id of the trade.
        exec_id: ExecId,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Side of the incoming order.
        aggressor_side: Side,
        /// Per-instrument market-data sequence number.
        md_seq: u64,
    },
}

/// Where the book sends its reports. Called synchronously, in order; the book
/// never allocates to report.
pub trait BookSink {
    /// Receives one event.
    fn event(&mut self, ev: &BookEvent);
}

/// Collecting sink for tests and tools (allocates; not for the hot path).
impl BookSink for Vec<BookEvent> {
    #[inline]
    fn event(&mut self, ev: &BookEvent) {
        self.push(*ev);
    }
}

/// A sink that drops everything (benchmarks of the book alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl BookSink for NullSink {
    #[inline]
    fn event(&mut self, _ev: &BookEvent) {}
}

/// A sink that counts events by kind (benchmarks: cheap, and keeps the work observable).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingSink {
    /// Trades seen.
    pub trades: u64,
    /// Every event seen.
    pub events: u64,
    /// Sum of traded quantity (a cheap checksum).
    pub traded_qty: u64,
}

impl BookSink for CountingSink {
    #[inline]
    fn event(&mut self, ev: &BookEvent) {
        self.events += 1;
        if let BookEvent::Trade { qty, .. } = ev {
            self.trades += 1;
            self.traded_qty = self.traded_qty.wrapping_add(*qty);
        }
    }
}
