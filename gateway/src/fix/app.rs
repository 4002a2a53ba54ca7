//! FIX application messages <-> engine commands and events.
//!
//! Inbound, [`decode_command`] turns a validated NewOrderSingle (D),
//! OrderCancelRequest (F), OrderCancelReplaceRequest (G) or
//! OrderMassCancelRequest (q) into an [`engine::msg::Message`] command, using the
//! instrument reference data ([`Instruments`], from [`InstrumentConfig`] in the
//! node's TOML) to turn symbols into ids and decimals into ticks and lots.
//! Outbound, [`event_msg_type`] and [`write_event_body`] turn engine events into
//! ExecutionReport (8), OrderCancelReject (9) and OrderMassCancelReport (r).
//!
//! The session layer owns the header: it calls `Encoder::start(msg_type)`,
//! writes 49/56/34/52 (and 43/122 on resend), then calls the `write_*_body`
//! function here, then `finish()`.
//!
//! # Business-level rejects
//!
//! FIX 4.4 (Vol. 1, BusinessMessageReject) reserves BusinessMessageReject(j)
//! for application messages that cannot be refused by an application-level
//! message, and the session Reject(3) for session-level rule violations. So:
//!
//! | problem | D (new order) | F / G (cancel / replace) | q (mass cancel) |
//! | --- | --- | --- | --- |
//! | unknown symbol | ER 150=8, 103=1 | 9, 102=1 (no such order) | r 531=0, 532=1 |
//! | price off tick | ER 150=8, 103=99 + text | G: 9, 102=99 + text | - |
//! | qty off lot, zero | ER 150=8, 103=13 | G: 9, 102=99 + text | - |
//! | decimal beyond range | Reject(3) 373=5, 371=tag | Reject(3) 373=5 | - |
//! | unsupported OrdType / TimeInForce / Side | ER 150=8, 103=11 | - | - |
//! | conditionally required field missing (44 on a limit, 99 on a stop, 38) | ER 150=8, 103=99 / 13 + text | 9, 102=99 + text | r 531=0, 532=1 (55 for 530=1) |
//! | ClOrdID not representable (see `engine::clordid`) | ER 150=8, 103=99 + text | 9, 102=99 + text | r 531=0, 532=99 |
//! | unsupported MassCancelRequestType | - | - | r 531=0, 532=0 |
//!
//! Syntax problems (bad decimals, unknown enum values, missing required tags) are
//! caught before this module by [`super::dict::validate`] as Reject(3).
//!
//! The account is the session's (from its configuration), not tag 1: a FIX
//! session trades for exactly one account. Only price and quantity can be
//! changed by G (the engine's replace); other fields of G are not compared.

use engine::clordid;
use engine::msg::{
    Cancel, CancelReason, CancelReject, ExecKind, ExecReport, Header, MassCancel, MassCancelReport,
    MassCancelScope, Message as EngineMessage, NewOrder, RejectCode, Replace,
};
use engine::types::{
    AccountId, InstrumentId, OrderType, Price, Qty, SessionId, Side, StpMode, TimeInForce,
};
use serde::Deserialize;

use super::codec::{
    Encoder, FieldError, FieldErrorKind, Fields, Message, SessionReject, SessionRejectReason,
};
use super::decimal::{
    DECIMAL_BUF_LEN, DecimalError, Tick, avg_price_to_decimal, decimal_to_lots, decimal_to_ticks,
    lots_to_decimal, ticks_to_decimal,
};

/// FIX tags used by the application messages.
pub mod tag {
    /// Account (1).
    pub const ACCOUNT: u32 = 1;
    /// AvgPx (6).
    pub const AVG_PX: u32 = 6;
    /// ClOrdID (11).
    pub const CL_ORD_ID: u32 = 11;
    /// CumQty (14).
    pub const CUM_QTY: u32 = 14;
    /// ExecID (17).
    pub const EXEC_ID: u32 = 17;
    /// ExecInst (18).
    pub const EXEC_INST: u32 = 18;
    /// LastPx (31).
    pub const LAST_PX: u32 = 31;
    /// LastQty (32).
    pub const LAST_QTY: u32 = 32;
    /// OrderID (37).
    pub const ORDER_ID: u32 = 37;
    /// OrderQty (38).
    pub const ORDER_QTY: u32 = 38;
    /// OrdStatus (39).
    pub const ORD_STATUS: u32 = 39;
    /// OrdType (40).
    pub const ORD_TYPE: u32 = 40;
    /// OrigClOrdID (41).
    pub const ORIG_CL_ORD_ID: u32 = 41;
    /// Price (44).
    pub const PRICE: u32 = 44;
    /// Side (54).
    pub const SIDE: u32 = 54;
    /// Symbol (55).
    pub const SYMBOL: u32 = 55;
    /// Text (58).
    pub const TEXT: u32 = 58;
    /// TimeInForce (59).
    pub const TIME_IN_FORCE: u32 = 59;
    /// TransactTime (60).
    pub const TRANSACT_TIME: u32 = 60;
    /// StopPx (99).
    pub const STOP_PX: u32 = 99;
    /// ExecRestatementReason (378).
    pub const EXEC_RESTATEMENT_REASON: u32 = 378;
    /// CxlRejReason (102).
    pub const CXL_REJ_REASON: u32 = 102;
    /// OrdRejReason (103).
    pub const ORD_REJ_REASON: u32 = 103;
    /// MaxFloor (111).
    pub const MAX_FLOOR: u32 = 111;
    /// ExecType (150).
    pub const EXEC_TYPE: u32 = 150;
    /// LeavesQty (151).
    pub const LEAVES_QTY: u32 = 151;
    /// CashOrderQty (152).
    pub const CASH_ORDER_QTY: u32 = 152;
    /// CxlRejResponseTo (434).
    pub const CXL_REJ_RESPONSE_TO: u32 = 434;
    /// MassCancelRequestType (530).
    pub const MASS_CANCEL_REQUEST_TYPE: u32 = 530;
    /// MassCancelResponse (531).
    pub const MASS_CANCEL_RESPONSE: u32 = 531;
    /// MassCancelRejectReason (532).
    pub const MASS_CANCEL_REJECT_REASON: u32 = 532;
    /// TotalAffectedOrders (533).
    pub const TOTAL_AFFECTED_ORDERS: u32 = 533;
}

// ---------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------

/// One instrument as configured (`[[fix.instruments]]` in the node's TOML):
/// `symbol = "BTC-USD"`, `id = 1`, `tick = "0.01"`, `lot = "0.0001"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// FIX Symbol (55).
    pub symbol: String,
    /// Engine instrument id.
    pub id: InstrumentId,
    /// Price increment: one engine tick.
    pub tick: Tick,
    /// Quantity increment: one engine lot.
    pub lot: Tick,
}

/// Why reference data was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Two instruments with the same symbol.
    DuplicateSymbol(String),
    /// Two instruments with the same id.
    DuplicateId(InstrumentId),
    /// An empty symbol, or one with a byte FIX cannot carry (SOH, non-ASCII).
    BadSymbol(String),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::DuplicateSymbol(s) => {
                write!(f, "instrument symbol {s:?} configured twice")
            }
            ConfigError::DuplicateId(id) => write!(f, "instrument id {id} configured twice"),
            ConfigError::BadSymbol(s) => {
                write!(
                    f,
                    "instrument symbol {s:?} must be 1+ printable ASCII characters"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Lookup tables built once from [`InstrumentConfig`]s: symbol -> instrument
/// (inbound) and id -> instrument (outbound), both binary searches over sorted
/// vectors (no hashing, no allocation per lookup).
#[derive(Debug, Clone)]
pub struct Instruments {
    by_symbol: Vec<InstrumentConfig>,
    /// (id, index into by_symbol), sorted by id.
    by_id: Vec<(InstrumentId, usize)>,
}

impl Instruments {
    /// Builds the tables; duplicate symbols or ids and unprintable symbols are errors.
    pub fn new(configs: &[InstrumentConfig]) -> Result<Instruments, ConfigError> {
        let mut by_symbol = configs.to_vec();
        for c in &by_symbol {
            if c.symbol.is_empty() || !c.symbol.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err(ConfigError::BadSymbol(c.symbol.clone()));
            }
        }
        by_symbol.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        if let Some(w) = by_symbol.windows(2).find(|w| w[0].symbol == w[1].symbol) {
            return Err(ConfigError::DuplicateSymbol(w[0].symbol.clone()));
        }
        let mut by_id: Vec<(InstrumentId, usize)> = by_symbol
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        by_id.sort_unstable();
        if let Some(w) = by_id.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ConfigError::DuplicateId(w[0].0));
        }
        Ok(Instruments { by_symbol, by_id })
    }

    /// The instrument with this FIX Symbol.
    pub fn by_symbol(&self, symbol: &[u8]) -> Option<&InstrumentConfig> {
        self.by_symbol
            .binary_search_by(|c| c.symbol.as_bytes().cmp(symbol))
            .ok()
            .map(|i| &self.by_symbol[i])
    }

    /// The instrument with this engine id.
    pub fn by_id(&self, id: InstrumentId) -> Option<&InstrumentConfig> {
        self.by_id
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .map(|i| &self.by_symbol[self.by_id[i].1])
    }
}

/// What the gateway knows about the session a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionContext {
    /// Engine session id (the header `session` of the commands).
    pub session: SessionId,
    /// The account this session trades for.
    pub account: AccountId,
    /// Self-trade prevention mode applied to this session's orders.
    pub stp: StpMode,
}

// ---------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------

/// OrdRejReason (103) values we send.
pub mod ord_rej {
    /// 1: unknown symbol.
    pub const UNKNOWN_SYMBOL: u32 = 1;
    /// 2: exchange closed (instrument halted).
    pub const EXCHANGE_CLOSED: u32 = 2;
    /// 3: order exceeds limit.
    pub const EXCEEDS_LIMIT: u32 = 3;
    /// 5: unknown order.
    pub const UNKNOWN_ORDER: u32 = 5;
    /// 6: duplicate order.
    pub const DUPLICATE: u32 = 6;
    /// 11: unsupported order characteristic.
    pub const UNSUPPORTED: u32 = 11;
    /// 13: incorrect quantity.
    pub const INCORRECT_QTY: u32 = 13;
    /// 15: unknown account.
    pub const UNKNOWN_ACCOUNT: u32 = 15;
    /// 99: other (the Text says what).
    pub const OTHER: u32 = 99;
}

/// The FIX answer to an application message the gateway refuses before it
/// reaches the engine. [`AppReject::msg_type`] says which message to start;
/// [`write_reject_body`] writes its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppReject {
    /// Session-level Reject(3).
    Session(SessionReject),
    /// ExecutionReport(8) with ExecType=8 Rejected.
    Order {
        /// OrdRejReason (103).
        reason: u32,
        /// Text (58).
        text: &'static str,
    },
    /// OrderCancelReject(9).
    Cancel {
        /// CxlRejReason (102).
        reason: u32,
        /// CxlRejResponseTo (434): b'1' cancel, b'2' replace.
        response_to: u8,
        /// Text (58).
        text: &'static str,
    },
    /// OrderMassCancelReport(r) with MassCancelResponse=0 (rejected).
    MassCancel {
        /// MassCancelRejectReason (532).
        reason: u32,
        /// Text (58).
        text: &'static str,
    },
}

impl AppReject {
    /// MsgType of the answer.
    pub fn msg_type(&self) -> &'static [u8] {
        match self {
            AppReject::Session(_) => b"3",
            AppReject::Order { .. } => b"8",
            AppReject::Cancel { .. } => b"9",
            AppReject::MassCancel { .. } => b"r",
        }
    }
}

/// Kind of request, to pick the right reject message.
#[derive(Clone, Copy)]
enum Req {
    New,
    Cancel,
    Replace,
    Mass,
}

impl Req {
    fn reject(self, order_reason: u32, cancel_reason: u32, text: &'static str) -> AppReject {
        match self {
            Req::New => AppReject::Order {
                reason: order_reason,
                text,
            },
            Req::Cancel | Req::Replace => AppReject::Cancel {
                reason: cancel_reason,
                response_to: if matches!(self, Req::Replace) {
                    b'2'
                } else {
                    b'1'
                },
                text,
            },
            Req::Mass => AppReject::MassCancel {
                reason: cancel_reason,
                text,
            },
        }
    }
}

fn field_reject(e: FieldError) -> AppReject {
    AppReject::Session(e.to_reject())
}

fn out_of_range(tag: u32) -> AppReject {
    AppReject::Session(SessionReject::new(
        SessionRejectReason::ValueIncorrect,
        Some(tag),
        "Value is incorrect (out of range) for this tag",
    ))
}

fn clordid(f: &Fields<'_>, tag: u32, req: Req) -> Result<u64, AppReject> {
    let text = f.require(tag).map_err(field_reject)?;
    clordid::from_text(text).map_err(|_| {
        req.reject(
            ord_rej::OTHER,
            99,
            "ClOrdID must be a number below 2^63 or at most 10 characters of [0-9A-Za-z-]",
        )
    })
}

fn instrument<'i>(
    f: &Fields<'_>,
    instruments: &'i Instruments,
    req: Req,
) -> Result<&'i InstrumentConfig, AppReject> {
    let sym = f.require(tag::SYMBOL).map_err(field_reject)?;
    instruments
        .by_symbol(sym)
        .ok_or_else(|| req.reject(ord_rej::UNKNOWN_SYMBOL, 1, "Unknown symbol"))
}

fn get_price(
    f: &Fields<'_>,
    t: u32,
    inst: &InstrumentConfig,
    req: Req,
) -> Result<Option<Price>, AppReject> {
    let Some(v) = f.get(t) else { return Ok(None) };
    match decimal_to_ticks(v, inst.tick) {
        Ok(p) => Ok(Some(p)),
        Err(DecimalError::OffTick) => Err(req.reject(
            ord_rej::OTHER,
            99,
            "Price is not a multiple of the tick size",
        )),
        Err(DecimalError::Overflow) => Err(out_of_range(t)),
        Err(_) => Err(field_reject(FieldError::new(t, FieldErrorKind::BadFormat))),
    }
}

fn get_qty(
    f: &Fields<'_>,
    t: u32,
    inst: &InstrumentConfig,
    req: Req,
) -> Result<Option<Qty>, AppReject> {
    let Some(v) = f.get(t) else { return Ok(None) };
    match decimal_to_lots(v, inst.lot) {
        Ok(q) => Ok(Some(q)),
        Err(DecimalError::OffTick) => Err(req.reject(
            ord_rej::INCORRECT_QTY,
            99,
            "Quantity is not a multiple of the lot size",
        )),
        Err(DecimalError::Overflow) => Err(out_of_range(t)),
        Err(DecimalError::Negative) => {
            Err(req.reject(ord_rej::INCORRECT_QTY, 99, "Quantity must be positive"))
        }
        Err(_) => Err(field_reject(FieldError::new(t, FieldErrorKind::BadFormat))),
    }
}

fn side(f: &Fields<'_>) -> Result<Side, AppReject> {
    match f.get_char(tag::SIDE).map_err(field_reject)? {
        Some(b'1') => Ok(Side::Buy),
        Some(b'2') => Ok(Side::Sell),
        Some(_) => Err(AppReject::Order {
            reason: ord_rej::UNSUPPORTED,
            text: "Unsupported Side: only 1 (buy) and 2 (sell)",
        }),
        None => Err(field_reject(FieldError::new(
            tag::SIDE,
            FieldErrorKind::Missing,
        ))),
    }
}

/// Turns a validated D, F, G or q into an engine command. `Ok(None)` for any
/// other MsgType (not an order-entry message). Errors say which FIX answer to
/// send (see the module docs for the table).
pub fn decode_command(
    msg: &Message<'_>,
    ctx: &SessionContext,
    instruments: &Instruments,
) -> Result<Option<EngineMessage>, AppReject> {
    Ok(Some(match msg.msg_type() {
        b"D" => decode_new_order(msg, ctx, instruments)?.into(),
        b"F" => decode_cancel(msg, ctx, instruments)?.into(),
        b"G" => decode_replace(msg, ctx, instruments)?.into(),
        b"q" => decode_mass_cancel(msg, ctx, instruments)?.into(),
        _ => return Ok(None),
    }))
}

/// NewOrderSingle (D) -> [`NewOrder`].
pub fn decode_new_order(
    msg: &Message<'_>,
    ctx: &SessionContext,
    instruments: &Instruments,
) -> Result<NewOrder, AppReject> {
    let req = Req::New;
    let client_order_id = clordid(msg, tag::CL_ORD_ID, req)?;
    let inst = instrument(msg, instruments, req)?;
    let side = side(msg)?;
    let order_type = match msg.get_char(tag::ORD_TYPE).map_err(field_reject)? {
        Some(b'1') => OrderType::Market,
        Some(b'2') => OrderType::Limit,
        Some(b'3') => OrderType::Stop,
        Some(b'4') => OrderType::StopLimit,
        Some(_) => {
            return Err(req.reject(
                ord_rej::UNSUPPORTED,
                0,
                "Unsupported OrdType: only 1, 2, 3, 4",
            ));
        }
        None => {
            return Err(field_reject(FieldError::new(
                tag::ORD_TYPE,
                FieldErrorKind::Missing,
            )));
        }
    };
    let tif = match msg.get_char(tag::TIME_IN_FORCE).map_err(field_reject)? {
        None | Some(b'0') => TimeInForce::Day,
        Some(b'1') => TimeInForce::Gtc,
        Some(b'3') => TimeInForce::Ioc,
        Some(b'4') => TimeInForce::Fok,
        Some(_) => {
            return Err(req.reject(
                ord_rej::UNSUPPORTED,
                0,
                "Unsupported TimeInForce: only 0, 1, 3, 4",
            ));
        }
    };
    let price = get_price(msg, tag::PRICE, inst, req)?;
    let stop_price = get_price(msg, tag::STOP_PX, inst, req)?;
    let needs_price = matches!(order_type, OrderType::Limit | OrderType::StopLimit);
    let needs_stop = matches!(order_type, OrderType::Stop | OrderType::StopLimit);
    let price = match (needs_price, price) {
        (true, Some(p)) => p,
        (true, None) => {
            return Err(req.reject(ord_rej::OTHER, 0, "Price (44) is required for this OrdType"));
        }
        (false, _) => 0,
    };
    let stop_price = match (needs_stop, stop_price) {
        (true, Some(p)) => p,
        (true, None) => {
            return Err(req.reject(
                ord_rej::OTHER,
                0,
                "StopPx (99) is required for this OrdType",
            ));
        }
        (false, _) => 0,
    };
    let qty = match get_qty(msg, tag::ORDER_QTY, inst, req)? {
        Some(q) if q > 0 => q,
        Some(_) => {
            return Err(req.reject(ord_rej::INCORRECT_QTY, 0, "OrderQty (38) must be positive"));
        }
        None => return Err(req.reject(ord_rej::INCORRECT_QTY, 0, "OrderQty (38) is required")),
    };
    let display_qty = qty_or_zero(msg, tag::MAX_FLOOR, inst, req)?;
    let post_only = msg
        .get(tag::EXEC_INST)
        .is_some_and(|v| v.split(|&b| b == b' ').any(|t| t == b"6"));
    // Market buy cap: CashOrderQty (152) in quote currency, as ticks x lots.
    let quote_budget = match (order_type, side, msg.get(tag::CASH_ORDER_QTY)) {
        (OrderType::Market, Side::Buy, Some(v)) => {
            let unit = tick_lot_unit(inst).ok_or_else(|| out_of_range(tag::CASH_ORDER_QTY))?;
            match decimal_to_lots(v, unit) {
                Ok(b) => b,
                Err(DecimalError::Overflow) => return Err(out_of_range(tag::CASH_ORDER_QTY)),
                Err(_) => {
                    return Err(req.reject(
                        ord_rej::OTHER,
                        0,
                        "CashOrderQty is not a multiple of tick x lot",
                    ));
                }
            }
        }
        _ => 0,
    };
    Ok(NewOrder {
        client_order_id,
        account: ctx.account,
        instrument: inst.id,
        side,
        order_type,
        tif,
        stp: ctx.stp,
        post_only,
        price,
        stop_price,
        qty,
        display_qty,
        quote_budget,
    })
}

fn qty_or_zero(
    f: &Fields<'_>,
    t: u32,
    inst: &InstrumentConfig,
    req: Req,
) -> Result<Qty, AppReject> {
    Ok(get_qty(f, t, inst, req)?.unwrap_or(0))
}

/// The quote-currency value of one tick x one lot, as an increment.
fn tick_lot_unit(inst: &InstrumentConfig) -> Option<Tick> {
    let m = inst.tick.mantissa().checked_mul(inst.lot.mantissa())?;
    let e = inst.tick.exponent().checked_add(inst.lot.exponent())?;
    Tick::new(m, e).ok()
}

fn order_id(f: &Fields<'_>) -> u64 {
    // Our OrderIDs are decimal; anything else (or absent) means "look up by OrigClOrdID".
    f.get(tag::ORDER_ID)
        .and_then(super::codec::parse_u64)
        .unwrap_or(0)
}

/// OrderCancelRequest (F) -> [`Cancel`].
pub fn decode_cancel(
    msg: &Message<'_>,
    ctx: &SessionContext,
    instruments: &Instruments,
) -> Result<Cancel, AppReject> {
    let req = Req::Cancel;
    let client_order_id = clordid(msg, tag::CL_ORD_ID, req)?;
    let orig_client_order_id = clordid(msg, tag::ORIG_CL_ORD_ID, req)?;
    let inst = instrument(msg, instruments, req)?;
    Ok(Cancel {
        client_order_id,
        order_id: order_id(msg),
        orig_client_order_id,
        account: ctx.account,
        instrument: inst.id,
    })
}

/// OrderCancelReplaceRequest (G) -> [`Replace`] (new price and total quantity).
pub fn decode_replace(
    msg: &Message<'_>,
    ctx: &SessionContext,
    instruments: &Instruments,
) -> Result<Replace, AppReject> {
    let req = Req::Replace;
    let client_order_id = clordid(msg, tag::CL_ORD_ID, req)?;
    let orig_client_order_id = clordid(msg, tag::ORIG_CL_ORD_ID, req)?;
    let inst = instrument(msg, instruments, req)?;
    let price = get_price(msg, tag::PRICE, inst, req)?
        .ok_or_else(|| req.reject(0, 99, "Price (44) is required to replace an order"))?;
    let qty = match get_qty(msg, tag::ORDER_QTY, inst, req)? {
        Some(q) if q > 0 => q,
        _ => return Err(req.reject(0, 99, "OrderQty (38) must be present and positive")),
    };
    Ok(Replace {
        client_order_id,
        order_id: order_id(msg),
        orig_client_order_id,
        account: ctx.account,
        instrument: inst.id,
        price,
        qty,
    })
}

/// OrderMassCancelRequest (q) -> [`MassCancel`]: 530=1 (one instrument) and
/// 530=7 (all the account's orders) are supported.
pub fn decode_mass_cancel(
    msg: &Message<'_>,
    ctx: &SessionContext,
    instruments: &Instruments,
) -> Result<MassCancel, AppReject> {
    let req = Req::Mass;
    let client_order_id = clordid(msg, tag::CL_ORD_ID, req)?;
    let (scope, instrument) = match msg
        .get_char(tag::MASS_CANCEL_REQUEST_TYPE)
        .map_err(field_reject)?
    {
        Some(b'1') => {
            if msg.get(tag::SYMBOL).is_none() {
                return Err(req.reject(
                    0,
                    1,
                    "Symbol (55) is required for MassCancelRequestType=1",
                ));
            }
            (
                MassCancelScope::Instrument,
                instrument(msg, instruments, req)?.id,
            )
        }
        Some(b'7') => (MassCancelScope::All, 0),
        Some(_) => return Err(req.reject(0, 0, "Unsupported MassCancelRequestType: only 1 and 7")),
        None => {
            return Err(field_reject(FieldError::new(
                tag::MASS_CANCEL_REQUEST_TYPE,
                FieldErrorKind::Missing,
            )));
        }
    };
    Ok(MassCancel {
        client_order_id,
        scope,
        account: ctx.account,
        instrument,
        target_session: ctx.session,
    })
}

/// Writes the body of the answer to a refused message `msg` (after the session
/// wrote the header): echoes ClOrdID, OrigClOrdID, Symbol, Side, OrderQty,
/// OrdType from the request. `exec_id` must be unique per venue (the session
/// derives it, e.g. from its id and the request's MsgSeqNum). For
/// [`AppReject::Session`] the session layer writes Reject(3) itself (it needs
/// RefSeqNum); this writes 371/372/373/58 only.
pub fn write_reject_body(
    enc: &mut Encoder,
    msg: &Message<'_>,
    reject: &AppReject,
    exec_id: u64,
    transact_ns: u64,
) {
    match *reject {
        AppReject::Session(r) => {
            if let Some(t) = r.ref_tag {
                enc.field_u64(371, u64::from(t));
            }
            enc.field(372, msg.msg_type());
            enc.field_u64(373, u64::from(r.reason.code()));
            enc.field(tag::TEXT, r.text.as_bytes());
        }
        AppReject::Order { reason, text } => {
            enc.field(tag::ORDER_ID, b"NONE");
            echo(enc, msg, tag::CL_ORD_ID);
            enc.field_u64(tag::EXEC_ID, exec_id);
            enc.field_char(tag::EXEC_TYPE, b'8');
            enc.field_char(tag::ORD_STATUS, b'8');
            echo(enc, msg, tag::SYMBOL);
            echo(enc, msg, tag::SIDE);
            echo(enc, msg, tag::ORDER_QTY);
            echo(enc, msg, tag::ORD_TYPE);
            enc.field_u64(tag::ORD_REJ_REASON, u64::from(reason));
            enc.field(tag::LEAVES_QTY, b"0");
            enc.field(tag::CUM_QTY, b"0");
            enc.field(tag::AVG_PX, b"0");
            enc.field_timestamp(tag::TRANSACT_TIME, transact_ns);
            enc.field(tag::TEXT, text.as_bytes());
        }
        AppReject::Cancel {
            reason,
            response_to,
            text,
        } => {
            enc.field(tag::ORDER_ID, msg.get(tag::ORDER_ID).unwrap_or(b"NONE"));
            echo(enc, msg, tag::CL_ORD_ID);
            echo(enc, msg, tag::ORIG_CL_ORD_ID);
            enc.field_char(tag::ORD_STATUS, b'8');
            enc.field_char(tag::CXL_REJ_RESPONSE_TO, response_to);
            enc.field_u64(tag::CXL_REJ_REASON, u64::from(reason));
            enc.field_timestamp(tag::TRANSACT_TIME, transact_ns);
            enc.field(tag::TEXT, text.as_bytes());
        }
        AppReject::MassCancel { reason, text } => {
            echo(enc, msg, tag::CL_ORD_ID);
            enc.field(tag::ORDER_ID, b"NONE");
            enc.field(
                tag::MASS_CANCEL_REQUEST_TYPE,
                msg.get(tag::MASS_CANCEL_REQUEST_TYPE).unwrap_or(b"7"),
            );
            enc.field_char(tag::MASS_CANCEL_RESPONSE, b'0');
            enc.field_u64(tag::MASS_CANCEL_REJECT_REASON, u64::from(reason));
            echo(enc, msg, tag::SYMBOL);
            enc.field_timestamp(tag::TRANSACT_TIME, transact_ns);
            enc.field(tag::TEXT, text.as_bytes());
        }
    }
}

fn echo(enc: &mut Encoder, msg: &Message<'_>, t: u32) {
    if let Some(v) = msg.get(t) {
        enc.field(t, v);
    }
}

// ---------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------

/// Why an engine event could not be written as FIX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundError {
    /// The event names an instrument missing from the reference data.
    UnknownInstrument(InstrumentId),
}

impl core::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OutboundError::UnknownInstrument(id) => {
                write!(f, "instrument {id} is not in the FIX reference data")
            }
        }
    }
}

impl std::error::Error for OutboundError {}

/// The FIX MsgType for an engine event a FIX session receives: 8, 9 or r.
/// `None` for events not sent to FIX sessions (market data, admin results, commands).
pub fn event_msg_type(ev: &EngineMessage) -> Option<&'static [u8]> {
    match ev {
        EngineMessage::ExecReport(_) => Some(b"8"),
        EngineMessage::CancelReject(_) => Some(b"9"),
        EngineMessage::MassCancelReport(_) => Some(b"r"),
        _ => None,
    }
}

/// Writes the body of the FIX message for `ev` (see [`event_msg_type`]); does
/// nothing for other events. `header` is the event's engine header (its
/// timestamp becomes TransactTime, its seq the mass-cancel report's OrderID).
pub fn write_event_body(
    enc: &mut Encoder,
    header: &Header,
    ev: &EngineMessage,
    instruments: &Instruments,
) -> Result<(), OutboundError> {
    match ev {
        EngineMessage::ExecReport(er) => write_exec_report_body(enc, header, er, instruments),
        EngineMessage::CancelReject(cr) => {
            write_cancel_reject_body(enc, header, cr);
            Ok(())
        }
        EngineMessage::MassCancelReport(mr) => {
            write_mass_cancel_report_body(enc, header, mr, instruments)
        }
        _ => Ok(()),
    }
}

fn put_clordid(enc: &mut Encoder, t: u32, id: u64) {
    let mut buf = [0u8; clordid::MAX_TEXT_LEN];
    let text = clordid::to_text(id, &mut buf);
    enc.field(t, text);
}

fn put_order_id(enc: &mut Encoder, id: u64) {
    if id == 0 {
        enc.field(tag::ORDER_ID, b"NONE");
    } else {
        enc.field_u64(tag::ORDER_ID, id);
    }
}

/// ExecType (150) for an execution kind. FIX 4.4 reports fills as `F` (Trade)
/// and has no "triggered" type (`L` is FIX 5.0): a triggered stop is `D`
/// (Restated) with ExecRestatementReason (378) = 99 and a Text.
pub fn exec_type(kind: ExecKind) -> u8 {
    match kind {
        ExecKind::New => b'0',
        ExecKind::PartialFill | ExecKind::Fill => b'F',
        ExecKind::Cancelled => b'4',
        ExecKind::Replaced => b'5',
        ExecKind::Rejected => b'8',
        ExecKind::Expired => b'C',
        ExecKind::Triggered => b'D',
    }
}

/// OrdStatus (39) after an execution report: the order's state now.
pub fn ord_status(er: &ExecReport) -> u8 {
    match er.kind {
        ExecKind::Fill => b'2',
        ExecKind::Cancelled => b'4',
        ExecKind::Rejected => b'8',
        ExecKind::Expired => b'C',
        ExecKind::New | ExecKind::PartialFill | ExecKind::Replaced | ExecKind::Triggered => {
            if er.leaves_qty == 0 && er.cum_qty > 0 {
                b'2'
            } else if er.cum_qty > 0 {
                b'1'
            } else {
                b'0'
            }
        }
    }
}

/// OrdRejReason (103) for an engine reject code.
pub fn ord_rej_reason(code: RejectCode) -> u32 {
    match code {
        RejectCode::UnknownInstrument => ord_rej::UNKNOWN_SYMBOL,
        RejectCode::UnknownAccount => ord_rej::UNKNOWN_ACCOUNT,
        RejectCode::InsufficientFunds | RejectCode::NotionalLimit => ord_rej::EXCEEDS_LIMIT,
        RejectCode::QtyOffLot | RejectCode::QtyOutOfRange => ord_rej::INCORRECT_QTY,
        RejectCode::InstrumentHalted => ord_rej::EXCHANGE_CLOSED,
        RejectCode::UnknownOrder => ord_rej::UNKNOWN_ORDER,
        RejectCode::Duplicate => ord_rej::DUPLICATE,
        RejectCode::MarketBuyNeedsBudget | RejectCode::InvalidOrder => ord_rej::UNSUPPORTED,
        _ => ord_rej::OTHER,
    }
}

/// Text (58) for an engine reject code.
pub fn reject_text(code: RejectCode) -> &'static str {
    match code {
        RejectCode::None => "",
        RejectCode::UnknownInstrument => "Unknown instrument",
        RejectCode::UnknownAccount => "Unknown account",
        RejectCode::InsufficientFunds => "Insufficient funds",
        RejectCode::PriceOffTick => "Price is not a multiple of the tick size",
        RejectCode::QtyOffLot => "Quantity is not a multiple of the lot size",
        RejectCode::QtyOutOfRange => "Quantity out of range",
        RejectCode::PriceOutsideCollar => "Price outside the collar",
        RejectCode::NotionalLimit => "Order notional exceeds the account limit",
        RejectCode::AccountSuspended => "Account suspended",
        RejectCode::InstrumentHalted => "Instrument halted",
        RejectCode::PostOnlyWouldCross => "Post-only order would cross",
        RejectCode::UnknownOrder => "Unknown order",
        RejectCode::MarketBuyNeedsBudget => "Market buy needs CashOrderQty (152)",
        RejectCode::InvalidOrder => "Invalid order",
        RejectCode::NotOwner => "Order belongs to another account",
        RejectCode::Duplicate => "Duplicate id",
        RejectCode::RateLimited => "Message rate limit exceeded",
        RejectCode::Busy => "Exchange busy, retry",
        RejectCode::PendingChange => "Order already pending a cancel or replace",
    }
}

/// Text (58) for a cancel reason.
pub fn cancel_text(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::None => "",
        CancelReason::Requested => "Cancelled on request",
        CancelReason::IocRest => "IOC remainder cancelled",
        CancelReason::FokUnfilled => "FOK could not fill",
        CancelReason::MarketRest => "Market order remainder cancelled",
        CancelReason::SelfTrade => "Self-trade prevention",
        CancelReason::MassCancel => "Mass cancel",
        CancelReason::Disconnect => "Cancel on disconnect",
        CancelReason::Replaced => "Replaced",
        CancelReason::Admin => "Cancelled by the exchange",
    }
}

fn side_char(s: Side) -> u8 {
    match s {
        Side::Buy => b'1',
        Side::Sell => b'2',
    }
}

fn ord_type_char(t: OrderType) -> u8 {
    match t {
        OrderType::Market => b'1',
        OrderType::Limit => b'2',
        OrderType::Stop => b'3',
        OrderType::StopLimit => b'4',
    }
}

fn tif_char(t: TimeInForce) -> u8 {
    match t {
        TimeInForce::Day => b'0',
        TimeInForce::Gtc => b'1',
        TimeInForce::Ioc => b'3',
        TimeInForce::Fok => b'4',
    }
}

/// ExecutionReport (8) body: OrderID, ClOrdID, OrigClOrdID (cancel/replace),
/// ExecID, ExecType, OrdStatus, OrdRejReason (rejects), Symbol, Side, OrdType,
/// Price (priced orders), OrderQty, TimeInForce, LastQty/LastPx (fills),
/// LeavesQty, CumQty, AvgPx, TransactTime, Text.
pub fn write_exec_report_body(
    enc: &mut Encoder,
    header: &Header,
    er: &ExecReport,
    instruments: &Instruments,
) -> Result<(), OutboundError> {
    let inst = instruments
        .by_id(er.instrument)
        .ok_or(OutboundError::UnknownInstrument(er.instrument))?;
    let mut buf = [0u8; DECIMAL_BUF_LEN];
    put_order_id(enc, er.order_id);
    put_clordid(enc, tag::CL_ORD_ID, er.client_order_id);
    if matches!(er.kind, ExecKind::Replaced)
        || (er.kind == ExecKind::Cancelled && er.cancel == CancelReason::Requested)
    {
        put_clordid(enc, tag::ORIG_CL_ORD_ID, er.orig_client_order_id);
    }
    enc.field_u64(tag::EXEC_ID, er.exec_id);
    enc.field_char(tag::EXEC_TYPE, exec_type(er.kind));
    enc.field_char(tag::ORD_STATUS, ord_status(er));
    if er.kind == ExecKind::Rejected {
        enc.field_u64(tag::ORD_REJ_REASON, u64::from(ord_rej_reason(er.reject)));
    }
    if er.kind == ExecKind::Triggered {
        enc.field_u64(tag::EXEC_RESTATEMENT_REASON, 99);
    }
    enc.field(tag::SYMBOL, inst.symbol.as_bytes());
    enc.field_char(tag::SIDE, side_char(er.side));
    enc.field_char(tag::ORD_TYPE, ord_type_char(er.order_type));
    if matches!(er.order_type, OrderType::Limit | OrderType::StopLimit) {
        enc.field(tag::PRICE, ticks_to_decimal(er.price, inst.tick, &mut buf));
    }
    let order_qty = er.leaves_qty.saturating_add(er.cum_qty);
    if order_qty > 0 {
        enc.field(
            tag::ORDER_QTY,
            lots_to_decimal(order_qty, inst.lot, &mut buf),
        );
    }
    enc.field_char(tag::TIME_IN_FORCE, tif_char(er.tif));
    if matches!(er.kind, ExecKind::PartialFill | ExecKind::Fill) {
        enc.field(
            tag::LAST_QTY,
            lots_to_decimal(er.last_qty, inst.lot, &mut buf),
        );
        enc.field(
            tag::LAST_PX,
            ticks_to_decimal(er.last_price, inst.tick, &mut buf),
        );
    }
    // A cancelled, expired or rejected order has nothing left open.
    let leaves = match er.kind {
        ExecKind::Cancelled | ExecKind::Expired | ExecKind::Rejected => 0,
        _ => er.leaves_qty,
    };
    enc.field(tag::LEAVES_QTY, lots_to_decimal(leaves, inst.lot, &mut buf));
    enc.field(
        tag::CUM_QTY,
        lots_to_decimal(er.cum_qty, inst.lot, &mut buf),
    );
    enc.field(
        tag::AVG_PX,
        avg_price_to_decimal(er.cum_notional, er.cum_qty, inst.tick, &mut buf),
    );
    enc.field_timestamp(tag::TRANSACT_TIME, header.timestamp_ns);
    let text = match er.kind {
        ExecKind::Rejected => reject_text(er.reject),
        ExecKind::Cancelled => cancel_text(er.cancel),
        ExecKind::Expired => "Expired at end of session",
        ExecKind::Triggered => "Stop triggered",
        _ => "",
    };
    if !text.is_empty() {
        enc.field(tag::TEXT, text.as_bytes());
    }
    Ok(())
}

/// OrderCancelReject (9) body. OrdStatus (39) comes from the order's state the
/// engine reports: `0` new, `1` partially filled, `2` filled (nothing open, some
/// filled), and `8` when the engine knows no live order by that id.
pub fn write_cancel_reject_body(enc: &mut Encoder, header: &Header, cr: &CancelReject) {
    write_cancel_reject_body_with(enc, header, cr, None);
}

/// What the gateway remembers of an order that is no longer live (the engine
/// forgets dead orders): filled out of the execution reports it sent, see
/// [`super::events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadOrder {
    /// OrdStatus (39) of its last report: `2` filled, `4` cancelled, `C` expired.
    pub status: u8,
    /// Exchange order id.
    pub order_id: u64,
    /// Filled quantity (lots).
    pub cum_qty: u64,
    /// Sum of price × quantity over its fills (ticks × lots), for AvgPx.
    pub cum_notional: u64,
}

/// [`write_cancel_reject_body`] when the engine knew no live order but the
/// gateway remembers it as `dead`: OrdStatus (39) is its real final status,
/// OrderID (37) its id, CxlRejReason (102) 0 "too late to cancel".
pub fn write_cancel_reject_body_with(
    enc: &mut Encoder,
    header: &Header,
    cr: &CancelReject,
    dead: Option<&DeadOrder>,
) {
    let dead = dead.filter(|_| cr.leaves_qty == 0 && cr.cum_qty == 0);
    put_order_id(enc, dead.map_or(cr.order_id, |d| d.order_id));
    put_clordid(enc, tag::CL_ORD_ID, cr.client_order_id);
    put_clordid(enc, tag::ORIG_CL_ORD_ID, cr.orig_client_order_id);
    let status = match (dead, cr.leaves_qty, cr.cum_qty) {
        (Some(d), _, _) => d.status,
        (None, 0, 0) => b'8',
        (None, 0, _) => b'2',
        (None, _, 0) => b'0',
        (None, _, _) => b'1',
    };
    enc.field_char(tag::ORD_STATUS, status);
    enc.field_char(
        tag::CXL_REJ_RESPONSE_TO,
        if cr.was_replace { b'2' } else { b'1' },
    );
    let reason: u64 = match cr.reason {
        _ if dead.is_some() => 0,
        RejectCode::UnknownOrder | RejectCode::NotOwner => 1,
        RejectCode::PendingChange => 3,
        RejectCode::Duplicate => 6,
        _ => 99,
    };
    enc.field_u64(tag::CXL_REJ_REASON, reason);
    enc.field_timestamp(tag::TRANSACT_TIME, header.timestamp_ns);
    let text = match dead.map(|d| d.status) {
        Some(b'2') => "Too late: order already filled",
        Some(b'4') => "Too late: order already cancelled",
        Some(b'C') => "Too late: order expired",
        Some(_) => "Too late: order no longer live",
        None => reject_text(cr.reason),
    };
    enc.field(tag::TEXT, text.as_bytes());
}

/// OrderMassCancelReport (r) body. OrderID (37) is the event's sequence
/// number, unique per venue.
pub fn write_mass_cancel_report_body(
    enc: &mut Encoder,
    header: &Header,
    mr: &MassCancelReport,
    instruments: &Instruments,
) -> Result<(), OutboundError> {
    put_clordid(enc, tag::CL_ORD_ID, mr.client_order_id);
    enc.field_u64(tag::ORDER_ID, header.seq);
    let request_type = match mr.scope {
        MassCancelScope::Instrument => b'1',
        MassCancelScope::Session | MassCancelScope::Account | MassCancelScope::All => b'7',
    };
    enc.field_char(tag::MASS_CANCEL_REQUEST_TYPE, request_type);
    let rejected = mr.reason != RejectCode::None;
    enc.field_char(
        tag::MASS_CANCEL_RESPONSE,
        if rejected { b'0' } else { request_type },
    );
    if rejected {
        let reason: u64 = if mr.reason == RejectCode::UnknownInstrument {
            1
        } else {
            99
        };
        enc.field_u64(tag::MASS_CANCEL_REJECT_REASON, reason);
    }
    enc.field_u64(tag::TOTAL_AFFECTED_ORDERS, u64::from(mr.cancelled));
    if mr.scope == MassCancelScope::Instrument {
        let inst = instruments
            .by_id(mr.instrument)
            .ok_or(OutboundError::UnknownInstrument(mr.instrument))?;
        enc.field(tag::SYMBOL, inst.symbol.as_bytes());
    }
    enc.field_timestamp(tag::TRANSACT_TIME, header.timestamp_ns);
    if rejected {
        enc.field(tag::TEXT, reject_text(mr.reason).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
