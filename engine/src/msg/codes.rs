//! One-byte codes carried inside message bodies: message types, execution report
//! kinds, reject and cancel reasons, mass-cancel scopes, session and admin events.
//! Every code is declared once with `wire_enum!`, so encode and decode share one
//! table and unknown codes are typed errors.

use crate::types::wire_enum;

wire_enum! {
    /// The type byte of the header: which body follows. Commands (into the engine)
    /// are 1..=63, events (out of the engine) 64..=127.
    MsgType, "message type" {
        /// A new order.
        NewOrder = 1,
        /// Cancel one order.
        Cancel = 2,
        /// Cancel/replace one order (price and/or quantity).
        Replace = 3,
        /// Cancel many orders by session, account, instrument or all.
        MassCancel = 4,
        /// A gateway session logged on, logged out or disconnected.
        SessionEvent = 5,
        /// Admin: list an instrument.
        AddInstrument = 10,
        /// Admin: open an account.
        AddAccount = 11,
        /// Admin: credit an account.
        Deposit = 12,
        /// Admin: debit an account.
        Withdraw = 13,
        /// Admin: suspend or reinstate an account.
        SuspendAccount = 14,
        /// Admin: halt or resume trading in an instrument.
        HaltInstrument = 15,
        /// Admin: end of trading session; expires DAY orders.
        SessionEnd = 16,
        /// Event: an execution report for one order (new, fill, cancel, ...).
        ExecReport = 64,
        /// Event: a cancel or replace request was rejected.
        CancelReject = 65,
        /// Event: the result of a mass cancel.
        MassCancelReport = 66,
        /// Event: market data, the absolute quantity at one price level.
        BookLevel = 67,
        /// Event: market data, one trade print.
        TradePrint = 68,
        /// Event: the result of an admin command.
        AdminResult = 69,
    }
}

impl MsgType {
    /// True for commands (inputs to the engine), false for events (outputs).
    #[inline]
    pub const fn is_command(self) -> bool {
        (self as u8) < 64
    }
}

wire_enum! {
    /// What an execution report says happened to an order (FIX ExecType).
    ExecKind, "execution kind" {
        /// Accepted and resting (or accepted and about to match).
        New = 1,
        /// Partially filled; the order lives on.
        PartialFill = 2,
        /// Completely filled.
        Fill = 3,
        /// Cancelled (by request, or the unfilled rest of IOC/FOK/market, STP, ...).
        Cancelled = 4,
        /// Replaced (cancel/replace accepted).
        Replaced = 5,
        /// Rejected on entry; `reason` says why.
        Rejected = 6,
        /// Expired (DAY order at session end).
        Expired = 7,
        /// A stop order's trigger price was reached; it is now live.
        Triggered = 8,
    }
}

wire_enum! {
    /// Why the engine refused a command. Shared by order rejects, cancel rejects,
    /// mass-cancel and admin results.
    RejectCode, "reject reason" {
        /// Not rejected.
        None = 0,
        /// The instrument id is not listed.
        UnknownInstrument = 1,
        /// The account id does not exist.
        UnknownAccount = 2,
        /// The account cannot fund the order.
        InsufficientFunds = 3,
        /// The price is not a multiple of the tick.
        PriceOffTick = 4,
        /// The quantity is not a multiple of the lot.
        QtyOffLot = 5,
        /// The quantity is zero, or outside the instrument's min/max.
        QtyOutOfRange = 6,
        /// The price is outside the collar around the last trade.
        PriceOutsideCollar = 7,
        /// The order's notional exceeds the account's limit.
        NotionalLimit = 8,
        /// The account is suspended.
        AccountSuspended = 9,
        /// The instrument is halted.
        InstrumentHalted = 10,
        /// A post-only order would have crossed the spread.
        PostOnlyWouldCross = 11,
        /// Cancel or replace of an order that is not resting (filled, cancelled, unknown).
        UnknownOrder = 12,
        /// A market buy without a notional cap.
        MarketBuyNeedsBudget = 13,
        /// An invalid combination of fields (e.g. stop price on a limit order).
        InvalidOrder = 14,
        /// The order belongs to another account or session.
        NotOwner = 15,
        /// An id (order, asset, account, instrument) already exists.
        Duplicate = 16,
        /// The gateway's per-session message rate was exceeded.
        RateLimited = 17,
        /// The inbound ring was full: the command was not accepted; retry.
        Busy = 18,
        /// Too late: the order is already pending a cancel or replace.
        PendingChange = 19,
    }
}

wire_enum! {
    /// Why an order was cancelled.
    CancelReason, "cancel reason" {
        /// Not a cancel.
        None = 0,
        /// The owner asked.
        Requested = 1,
        /// The unfilled rest of an IOC order.
        IocRest = 2,
        /// A FOK order that could not fill completely.
        FokUnfilled = 3,
        /// The unfilled rest of a market order (book empty or budget reached).
        MarketRest = 4,
        /// Self-trade prevention.
        SelfTrade = 5,
        /// A mass cancel.
        MassCancel = 6,
        /// Cancel-on-disconnect of the owning session.
        Disconnect = 7,
        /// The order was replaced by a new price/quantity and lost its place.
        Replaced = 8,
        /// An administrative action (account suspended, instrument delisted).
        Admin = 9,
    }
}

wire_enum! {
    /// Which orders a mass cancel covers.
    MassCancelScope, "mass cancel scope" {
        /// Every order entered through one session.
        Session = 1,
        /// Every order of one account.
        Account = 2,
        /// Every order of the requesting account in one instrument.
        Instrument = 3,
        /// Every order of the requesting account.
        All = 4,
    }
}

wire_enum! {
    /// Gateway session lifecycle, sequenced through the ring so that effects
    /// such as cancel-on-disconnect happen deterministically on every node.
    SessionEventKind, "session event" {
        /// The session logged on.
        Logon = 1,
        /// The session logged out cleanly.
        Logout = 2,
        /// The connection was lost (or the gateway dropped a misbehaving client).
        Disconnect = 3,
        /// No lifecycle change: the gateway reports the session's FIX sequence
        /// numbers after session-level traffic moved them (see `SessionEvent`).
        SeqSync = 4,
    }
}

crate::msg::field::enum_field!(
    MsgType,
    ExecKind,
    RejectCode,
    CancelReason,
    MassCancelScope,
    SessionEventKind
);
