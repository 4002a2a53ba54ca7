//! The book's inputs and read-only views: a new order, the mass-cancel filter, and
//! the public view of a live order.

use crate::types::{
    AccountId, ClientOrderId, OrderId, OrderType, Price, Qty, SessionId, Side, StpMode, TimeInForce,
};

/// A new order as the book receives it (risk checks already done by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrder {
    /// Exchange order id, assigned by the caller; must be above every id this book
    /// has seen (ids are never reused), else the order is rejected.
    pub order_id: OrderId,
    /// Client's id, echoed in reports.
    pub client_order_id: ClientOrderId,
    /// Owner; the unit of self-trade prevention.
    pub account: AccountId,
    /// Session the order came from (mass cancel by session).
    pub session: SessionId,
    /// Side.
    pub side: Side,
    /// Limit, market, stop or stop-limit.
    pub order_type: OrderType,
    /// Time in force (market orders never rest whatever it says).
    pub tif: TimeInForce,
    /// Limit price (limit, stop-limit); ignored for market and stop-market.
    pub price: Price,
    /// Stop price (stop, stop-limit); ignored otherwise.
    pub stop_price: Price,
    /// Quantity in lots (> 0).
    pub qty: Qty,
    /// Iceberg display quantity: 0 or `qty` means not an iceberg.
    pub display_qty: Qty,
    /// Post-only: rejected if it would trade on entry.
    pub post_only: bool,
    /// Self-trade prevention mode applied when this order is the aggressor.
    pub stp: StpMode,
    /// Market/stop-market buy notional cap in price-ticks × lots; 0 = none. Matching
    /// stops before a fill that would exceed it.
    pub quote_budget: u64,
}

impl NewOrder {
    /// A plain GTC limit order with everything else defaulted (tests, benchmarks).
    pub fn limit(
        order_id: OrderId,
        account: AccountId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Self {
        NewOrder {
            order_id,
            client_order_id: order_id,
            account,
            session: 0,
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            price,
            stop_price: 0,
            qty,
            display_qty: 0,
            post_only: false,
            stp: StpMode::None,
            quote_budget: 0,
        }
    }

    /// The same order with another time in force.
    pub fn with_tif(mut self, tif: TimeInForce) -> Self {
        self.tif = tif;
        self
    }
}

/// Which live orders a mass cancel removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassCancelFilter {
    /// Every order of one session (cancel-on-disconnect, FIX q/r by session).
    Session(SessionId),
    /// Every order of one account.
    Account(AccountId),
    /// Every order in the book (instrument-wide).
    All,
}

impl MassCancelFilter {
    #[inline]
    pub(crate) fn matches(self, account: AccountId, session: SessionId) -> bool {
        match self {
            MassCancelFilter::Session(s) => s == session,
            MassCancelFilter::Account(a) => a == account,
            MassCancelFilter::All => true,
        }
    }
}

/// Read-only view of a live order (resting, or a pending stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderView {
    /// Order id.
    pub order_id: OrderId,
    /// Client's id.
    pub client_order_id: ClientOrderId,
    /// Owner.
    pub account: AccountId,
    /// Session.
    pub session: SessionId,
    /// Side.
    pub side: Side,
    /// Current type (a triggered stop-limit shows as `Limit`).
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price (0 for a pending stop-market).
    pub price: Price,
    /// Stop price (pending stops).
    pub stop_price: Price,
    /// Total remaining quantity (hidden iceberg part included).
    pub leaves_qty: Qty,
    /// Displayed quantity now at the level (0 for a pending stop).
    pub visible_qty: Qty,
    /// Iceberg display quantity (0 = not an iceberg).
    pub display_qty: Qty,
    /// Post-only flag.
    pub post_only: bool,
    /// Self-trade prevention mode.
    pub stp: StpMode,
    /// True while the order is an untriggered stop.
    pub pending_stop: bool,
}
