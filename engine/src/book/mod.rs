//! `engine::book`: one limit order book per instrument, with matching, every
//! order type of the venue, reports and market data.
//!
//! The book is a plain library: [`OrderBook::submit`], [`OrderBook::cancel`],
//! [`OrderBook::replace`], [`OrderBook::mass_cancel`],
//! [`OrderBook::expire_day_orders`], [`OrderBook::halt`]/[`OrderBook::resume`],
//! with every report pushed synchronously to a caller-supplied [`BookSink`], and
//! queries ([`OrderBook::best_bid`], [`OrderBook::depth_at`], [`OrderBook::order`]...).
//! It trusts its caller for funds (risk runs before it) and reads no clock.
//!
//! # Storage
//! Orders live in a pre-allocated slab (`arena`) and form an intrusive FIFO per
//! price level; each side keeps its levels in a sorted `Vec` with the best level
//! at the end (`ladder`); order id → slot is a hash map used for lookups only.
//! After warm-up nothing allocates: the slab grows only past its high-water mark.
//!
//! # Rules
//! - Price-time priority; a trade happens at the resting order's price.
//! - Order ids must be strictly increasing per book (the caller assigns them
//!   sequentially); a non-increasing id is rejected `DuplicateOrderId`, which is
//!   how "ids are never reused" is enforced in O(1) memory.
//! - Market orders never rest; a market buy with a `quote_budget` stops before a
//!   fill that would exceed it (price ≤ 0 levels are not capped). IOC remainders
//!   are cancelled; FOK is checked exactly (limit, budget, icebergs, STP) before
//!   any trade and is cancelled whole if it cannot fill.
//! - Post-only orders that would trade are rejected (only GTC/DAY limit orders
//!   may be post-only). Icebergs show `display_qty`; when a slice is used up the
//!   next slice goes to the back of the level's queue.
//! - Replace: same price and quantity not increased keeps priority; otherwise the
//!   order leaves its level, re-enters at the back of the new one and matches if
//!   it crosses. A replace's quantity is the new leaves quantity.
//! - Self-trade prevention uses the aggressor's mode: cancel resting (and keep
//!   matching), cancel aggressor, or both.
//! - Stops: a buy stop triggers when the last trade is `>=` its stop price, a sell
//!   stop when `<=`, including at entry. Order: buys before sells, then by stop
//!   price (lowest buy / highest sell first), then by arrival. Triggered stops run
//!   one at a time to completion in a loop (a cascade never recurses).
//! - Halted: new orders and replaces are rejected `Halted`; cancels, mass cancels
//!   and expiry work.
//!
//! # Order of events
//! `submit`: `Rejected`, or `Accepted`, then per fill `Trade` + `TradePrint`
//! (and `Cancelled` for makers removed by STP), one `Level` per opposite level
//! touched (after its pass, when its displayed quantity changed), then either a
//! `Level` for the resting remainder or a `Cancelled` for the unfilled rest, then
//! for each triggered stop `Triggered` followed by that order's matching events.
//! `cancel`: `Cancelled` + `Level`, or `CancelRejected`. `replace`: `Replaced`,
//! then a `Level` (priority kept) or a `Level` for leaving the old level followed
//! by the matching events of a new order; or `ReplaceRejected`.
//! Every `Level` and `TradePrint` carries the next per-instrument `md_seq`.

mod admin;
mod arena;
mod events;
mod idmap;
mod ladder;
mod matching;
mod order;
mod orderbook;
mod snapshot;
mod stops;

pub use events::{BookEvent, BookSink, CancelReason, CountingSink, NullSink, RejectReason};
pub use order::{MassCancelFilter, NewOrder, OrderView};
pub use orderbook::OrderBook;
pub use snapshot::SnapshotError;

#[cfg(test)]
mod tests;
