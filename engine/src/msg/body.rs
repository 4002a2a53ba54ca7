//! Message bodies: one fixed-layout struct per message type. The layout is the
//! field order below, each field little-endian with no padding; `LEN` is the sum
//! of the field sizes. Adding a field is a new protocol version.

use super::codes::{
    CancelReason, ExecKind, MassCancelScope, MsgType, RejectCode, SessionEventKind,
};
use super::field::WireField;
use super::{Body, DecodeError};
use crate::types::{
    AccountId, AssetId, ClientOrderId, ExecId, InstrumentId, OrderId, OrderType, Price, Qty,
    SessionId, Side, StpMode, TimeInForce,
};

/// Declares a body struct and its [`Body`] implementation from one field list, so
/// the struct, its size, its encoder and its decoder can never disagree.
macro_rules! wire_body {
    (
        $(#[$meta:meta])*
        $name:ident = $ty:ident {
            $( $(#[$fmeta:meta])* $field:ident : $fty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $fty ),+
        }

        impl Body for $name {
            const TYPE: MsgType = MsgType::$ty;
            const LEN: usize = 0 $( + <$fty as WireField>::SIZE )+;

            #[inline]
            fn write_body(&self, out: &mut [u8]) {
                let mut at = 0usize;
                $(
                    self.$field.put(&mut out[at..at + <$fty as WireField>::SIZE]);
                    at += <$fty as WireField>::SIZE;
                )+
                debug_assert_eq!(at, Self::LEN);
            }

            #[inline]
            fn read_body(inp: &[u8]) -> Result<Self, DecodeError> {
                let mut at = 0usize;
                $(
                    let $field = <$fty as WireField>::get(
                        inp.get(at..).unwrap_or(&[]),
                        stringify!($field),
                    )?;
                    at += <$fty as WireField>::SIZE;
                )+
                let _ = at;
                Ok($name { $( $field ),+ })
            }

            fn from_random(next: &mut dyn FnMut() -> u64) -> Self {
                $name { $( $field: <$fty as WireField>::from_random(next()) ),+ }
            }
        }
    };
}

wire_body! {
    /// A new order. Prices in ticks, quantities in lots of the instrument.
    NewOrder = NewOrder {
        /// The client's id for this order (see [`crate::clordid`]).
        client_order_id: ClientOrderId,
        /// Owner of the funds.
        account: AccountId,
        /// Which book.
        instrument: InstrumentId,
        /// Buy or sell.
        side: Side,
        /// Limit, market, stop or stop-limit.
        order_type: OrderType,
        /// GTC, DAY, IOC or FOK.
        tif: TimeInForce,
        /// Self-trade prevention mode.
        stp: StpMode,
        /// Post-only: reject instead of taking liquidity.
        post_only: bool,
        /// Limit price (Limit, StopLimit); 0 otherwise.
        price: Price,
        /// Trigger price (Stop, StopLimit); 0 otherwise.
        stop_price: Price,
        /// Total quantity.
        qty: Qty,
        /// Iceberg display quantity; 0 means fully displayed.
        display_qty: Qty,
        /// Market buy: the most quote (ticks × lots) the order may spend; 0 = none.
        quote_budget: u64,
    }
}

wire_body! {
    /// Cancel one order, named by exchange order id or by the client's original id.
    Cancel = Cancel {
        /// The client's id of this cancel request.
        client_order_id: ClientOrderId,
        /// Exchange order id, or 0 to look up `orig_client_order_id`.
        order_id: OrderId,
        /// The client's id of the order to cancel.
        orig_client_order_id: ClientOrderId,
        /// The requesting account (must own the order).
        account: AccountId,
        /// The order's instrument.
        instrument: InstrumentId,
    }
}

wire_body! {
    /// Cancel/replace: a new price and/or total quantity for a resting order.
    Replace = Replace {
        /// The client's id of the replacement order.
        client_order_id: ClientOrderId,
        /// Exchange order id, or 0 to look up `orig_client_order_id`.
        order_id: OrderId,
        /// The client's id of the order to replace.
        orig_client_order_id: ClientOrderId,
        /// The requesting account (must own the order).
        account: AccountId,
        /// The order's instrument.
        instrument: InstrumentId,
        /// New limit price in ticks.
        price: Price,
        /// New total quantity in lots (filled quantity counts against it).
        qty: Qty,
    }
}

wire_body! {
    /// Cancel every order in a scope.
    MassCancel = MassCancel {
        /// The client's id of this request.
        client_order_id: ClientOrderId,
        /// Which orders.
        scope: MassCancelScope,
        /// The requesting account.
        account: AccountId,
        /// Instrument, for [`MassCancelScope::Instrument`].
        instrument: InstrumentId,
        /// Session, for [`MassCancelScope::Session`].
        target_session: SessionId,
    }
}

wire_body! {
    /// A gateway session's lifecycle event, or (kind `SeqSync`) a report of its
    /// FIX sequence numbers, so that a node replaying the stream (a promoted
    /// secondary) can derive them. The business logic ignores the numbers.
    SessionEvent = SessionEvent {
        /// Logon, logout, disconnect or sequence-number sync.
        kind: SessionEventKind,
        /// The session's account.
        account: AccountId,
        /// Cancel the session's orders on logout/disconnect.
        cancel_on_disconnect: bool,
        /// The FIX MsgSeqNum the gateway expects next from the client when it
        /// published this; 0 = not reported.
        next_in: u64,
        /// The FIX MsgSeqNum of the next message the gateway sends; 0 = not reported.
        next_out: u64,
        /// Output sequence (event header `seq`) of the last engine event the gateway
        /// had sent to this session when it published this; 0 = none yet.
        out_mark: u64,
    }
}

wire_body! {
    /// Admin: list an instrument trading `base` against `quote`.
    AddInstrument = AddInstrument {
        /// New instrument id (unique).
        instrument: InstrumentId,
        /// Asset bought and sold.
        base_asset: AssetId,
        /// Asset prices are paid in.
        quote_asset: AssetId,
        /// Base-asset units in one lot.
        base_units_per_lot: u64,
        /// Quote-asset units that one lot at a price of one tick costs.
        quote_units_per_tick_lot: u64,
        /// Smallest order quantity in lots.
        min_qty: Qty,
        /// Largest order quantity in lots.
        max_qty: Qty,
        /// Price collar around the last trade in basis points; 0 = none.
        collar_bps: u32,
        /// Maker fee in basis points of notional (negative = rebate).
        maker_fee_bps: i32,
        /// Taker fee in basis points of notional.
        taker_fee_bps: i32,
        /// Symbol, ASCII, NUL-padded (e.g. `BTC-USD`).
        symbol: [u8; 16],
    }
}

wire_body! {
    /// Admin: open an account.
    AddAccount = AddAccount {
        /// New account id (unique).
        account: AccountId,
        /// Largest notional of one order in quote units; 0 = unlimited.
        max_order_notional: u64,
        /// True: this account pays the fees below on every instrument instead of
        /// the instruments' own rates.
        fee_override: bool,
        /// Maker fee override in basis points (when `fee_override`).
        maker_fee_bps: i32,
        /// Taker fee override in basis points (when `fee_override`).
        taker_fee_bps: i32,
    }
}

wire_body! {
    /// Admin: credit an account with an asset.
    Deposit = Deposit {
        /// The account.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// Amount in the asset's smallest units.
        amount: u64,
        /// The operator's reference, echoed in the result.
        transfer_id: u64,
    }
}

wire_body! {
    /// Admin: debit an account's available (unreserved) balance.
    Withdraw = Withdraw {
        /// The account.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// Amount in the asset's smallest units.
        amount: u64,
        /// The operator's reference, echoed in the result.
        transfer_id: u64,
    }
}

wire_body! {
    /// Admin: suspend (no new orders) or reinstate an account.
    SuspendAccount = SuspendAccount {
        /// The account.
        account: AccountId,
        /// True to suspend, false to reinstate.
        suspended: bool,
    }
}

wire_body! {
    /// Admin: halt (no new orders or replaces; cancels allowed) or resume an instrument.
    HaltInstrument = HaltInstrument {
        /// The instrument.
        instrument: InstrumentId,
        /// True to halt, false to resume.
        halted: bool,
    }
}

wire_body! {
    /// Admin: end of the trading session: DAY orders expire.
    SessionEnd = SessionEnd {
        /// The instrument, or 0 for all instruments.
        instrument: InstrumentId,
    }
}

wire_body! {
    /// Event: what happened to one order, addressed (header session) to its owner.
    ExecReport = ExecReport {
        /// What happened.
        kind: ExecKind,
        /// Exchange order id.
        order_id: OrderId,
        /// The client's id of the request this answers.
        client_order_id: ClientOrderId,
        /// For cancels and replaces: the client's id of the original order.
        orig_client_order_id: ClientOrderId,
        /// Execution id (unique per venue); for fills the trade's id.
        exec_id: ExecId,
        /// Owner.
        account: AccountId,
        /// Book.
        instrument: InstrumentId,
        /// Side of the order.
        side: Side,
        /// Order type.
        order_type: OrderType,
        /// Time in force.
        tif: TimeInForce,
        /// Why it was rejected ([`RejectCode::None`] otherwise).
        reject: RejectCode,
        /// Why it was cancelled ([`CancelReason::None`] otherwise).
        cancel: CancelReason,
        /// The order's limit price (ticks).
        price: Price,
        /// Price of this fill (ticks); 0 if not a fill.
        last_price: Price,
        /// Quantity of this fill; 0 if not a fill.
        last_qty: Qty,
        /// Quantity still open.
        leaves_qty: Qty,
        /// Quantity filled so far.
        cum_qty: Qty,
        /// Sum of price × quantity over all fills (ticks × lots), for the average price.
        cum_notional: u64,
    }
}

wire_body! {
    /// Event: a cancel or replace request was refused.
    CancelReject = CancelReject {
        /// Exchange order id, if the order was found.
        order_id: OrderId,
        /// The client's id of the refused request.
        client_order_id: ClientOrderId,
        /// The client's id of the order it named.
        orig_client_order_id: ClientOrderId,
        /// Requesting account.
        account: AccountId,
        /// Book.
        instrument: InstrumentId,
        /// True if the refused request was a replace, false for a cancel.
        was_replace: bool,
        /// Why.
        reason: RejectCode,
        /// The order's open quantity now (0 if it is not live: unknown, filled or cancelled).
        leaves_qty: Qty,
        /// The order's filled quantity so far (0 if unknown), so the gateway can
        /// state the order's status (FIX OrdStatus) exactly.
        cum_qty: Qty,
    }
}

wire_body! {
    /// Event: the result of a mass cancel.
    MassCancelReport = MassCancelReport {
        /// The client's id of the request.
        client_order_id: ClientOrderId,
        /// Scope requested.
        scope: MassCancelScope,
        /// Requesting account.
        account: AccountId,
        /// Instrument, for instrument scope.
        instrument: InstrumentId,
        /// How many orders were cancelled.
        cancelled: u32,
        /// Why it was refused ([`RejectCode::None`] if accepted).
        reason: RejectCode,
    }
}

wire_body! {
    /// Event, market data: the absolute displayed quantity at one price (0 deletes the level).
    BookLevel = BookLevel {
        /// Book.
        instrument: InstrumentId,
        /// Side of the level.
        side: Side,
        /// Level price (ticks).
        price: Price,
        /// Displayed quantity now at that price (lots); 0 deletes.
        qty: Qty,
        /// Per-instrument market-data sequence.
        md_seq: u64,
    }
}

wire_body! {
    /// Event, market data: one trade.
    TradePrint = TradePrint {
        /// Book.
        instrument: InstrumentId,
        /// Side of the aggressor.
        aggressor: Side,
        /// Trade price (ticks): the resting order's price.
        price: Price,
        /// Quantity (lots).
        qty: Qty,
        /// The trade's execution id.
        exec_id: ExecId,
        /// Per-instrument market-data sequence.
        md_seq: u64,
    }
}

wire_body! {
    /// Event: the result of an admin command.
    AdminResult = AdminResult {
        /// Which admin command this answers.
        command: MsgType,
        /// Why it failed ([`RejectCode::None`] on success).
        reason: RejectCode,
        /// The account concerned (0 if none).
        account: AccountId,
        /// The asset or instrument concerned (0 if none).
        subject: u32,
        /// The operator's reference (transfer id), echoed.
        reference: u64,
        /// The account's balance of the asset after the command, where one applies.
        balance: u64,
    }
}
