//! The business-logic processor: the last ring stage. It takes `engine::msg`
//! commands in sequence, assigns order ids, runs pre-trade risk and the order
//! book, settles fills, and emits `engine::msg` events (execution reports to each
//! order's session, cancel rejects, admin results, market data).
//!
//! # Determinism
//! No clock (every event carries the command's header timestamp), no randomness,
//! no hash-map iteration: instruments and books live in Vecs indexed by id,
//! accounts and orders in Vecs/BTreeMaps. Order ids are assigned sequentially
//! from 1 to every `NewOrder`, accepted or not. Output events are numbered by
//! an output sequence (header `seq`) kept in the state.
//!
//! # State hash and snapshots
//! [`Logic::snapshot`] writes the whole state canonically (counters, risk, every
//! book's own snapshot, the order table); [`Logic::state_hash`] is FNV-1a 64 of
//! exactly those bytes, so `restore(snapshot at N)` followed by the commands
//! N+1..M reaches the same hash as the original at M.
//!
//! # Exec ids
//! Fill reports carry the book's trade exec id (`instrument << 40 | n`). Other
//! execution reports get `1 << 63 | n` from a processor counter, so the two
//! spaces never collide.
//!
//! # Conventions on the wire
//! - `Replace.qty` is the new *total* quantity; the new leaves are
//!   `qty - cum_qty` (a replace to at most the filled quantity is refused
//!   `QtyOutOfRange`).
//! - Cancel/replace may name the order by exchange id, or (id 0) by the client id
//!   the owning account gave it; a new order whose client id is live for its
//!   account is rejected `Duplicate`. Client id 0 means "none".
//! - Instrument id 0 is reserved (`SessionEnd` uses 0 for "all").
//! - Fees on the wire are non-negative basis points (rebates are not supported:
//!   negative fees are refused `InvalidOrder`), per instrument (`AddInstrument`)
//!   or per account (`AddAccount.fee_override`, which wins on every instrument).

mod handler;
pub mod orders;

use crate::book::{self, MassCancelFilter, OrderBook};
use crate::msg::{
    self, AddAccount, AddInstrument, AdminResult, Cancel, CancelReason, CancelReject, ExecKind,
    Header, MassCancel, MassCancelReport, MassCancelScope, Message, MsgType, RejectCode, Replace,
    SessionEventKind,
};
use crate::risk::{
    AccountSpec, AdminError, Collar, FeeRates, InstrumentSpec, OrderRequest, RejectReason, Risk,
    RiskConfig,
};
use crate::snapshot::{Fnv1a64, Reader, Sink, SnapshotError};
use crate::types::{AccountId, InstrumentId, OrderId, SessionId};

use handler::{Ctx, Handler};
use orders::{OrderMeta, OrderTable};

/// Where the processor's output events go (the outbound ring in the node, a Vec
/// in tests). Called synchronously, in order.
pub trait EventSink {
    /// One event; `header.session` is the addressee (0 = broadcast market data).
    fn event(&mut self, header: &Header, msg: &Message);
}

impl EventSink for Vec<(Header, Message)> {
    fn event(&mut self, header: &Header, msg: &Message) {
        self.push((*header, *msg));
    }
}

/// Drops every event (benchmarks, replay to a hash).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullEvents;

impl EventSink for NullEvents {
    fn event(&mut self, _header: &Header, _msg: &Message) {}
}

/// Construction parameters of the processor (from the node's config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogicConfig {
    /// Account credited with all trading fees (created at start).
    pub fee_account: AccountId,
    /// Account ids must be below this.
    pub max_accounts: u32,
    /// Instrument ids must be below this.
    pub max_instruments: u32,
    /// Live orders each new book has room for before it allocates.
    pub book_capacity: u32,
}

impl Default for LogicConfig {
    fn default() -> Self {
        let r = RiskConfig::default();
        LogicConfig {
            fee_account: r.fee_account,
            max_accounts: r.max_accounts,
            max_instruments: r.max_instruments,
            book_capacity: 1 << 16,
        }
    }
}

/// Why [`Logic::process`] could not act on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessError {
    /// The bytes are not a valid message.
    Decode(msg::DecodeError),
    /// The message is an event type, not a command.
    NotACommand(MsgType),
}

impl core::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProcessError::Decode(e) => write!(f, "undecodable input: {e}"),
            ProcessError::NotACommand(t) => write!(f, "input {t:?} is an event, not a command"),
        }
    }
}

impl std::error::Error for ProcessError {}

/// Processor state other than the books (split out so the book can be borrowed
/// mutably while its report handler updates this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Core {
    pub(crate) risk: Risk,
    pub(crate) orders: OrderTable,
    next_order_id: OrderId,
    next_report_exec: u64,
    out_seq: u64,
    last_input_seq: u64,
    faults: u64,
    last_fault: &'static str,
}

impl Core {
    fn emit<S: EventSink>(&mut self, out: &mut S, session: SessionId, ts: u64, msg: Message) {
        self.out_seq += 1;
        let h = Header {
            session,
            seq: self.out_seq,
            timestamp_ns: ts,
        };
        out.event(&h, &msg);
    }

    fn next_report_exec_id(&mut self) -> u64 {
        self.next_report_exec += 1;
        (1 << 63) | self.next_report_exec
    }

    fn fault(&mut self, what: &'static str) {
        self.faults += 1;
        self.last_fault = what;
    }
}

/// The business-logic processor: books, risk, live orders and counters.
#[derive(Debug, Clone)]
pub struct Logic {
    cfg: LogicConfig,
    books: Vec<Option<OrderBook>>,
    core: Core,
}

const SNAP_MAGIC: u32 = 0x4347_4f4c; // "LOGC"
const SNAP_VERSION: u32 = 1;

pub(crate) fn map_risk_reject(r: RejectReason) -> RejectCode {
    match r {
        RejectReason::UnknownInstrument => RejectCode::UnknownInstrument,
        RejectReason::UnknownAccount => RejectCode::UnknownAccount,
        RejectReason::AccountSuspended => RejectCode::AccountSuspended,
        RejectReason::InstrumentHalted => RejectCode::InstrumentHalted,
        RejectReason::InsufficientFunds => RejectCode::InsufficientFunds,
        RejectReason::PriceOffTick => RejectCode::PriceOffTick,
        RejectReason::PriceOutOfRange | RejectReason::AmountOverflow => RejectCode::InvalidOrder,
        RejectReason::QtyOffLot => RejectCode::QtyOffLot,
        RejectReason::QtyOutOfRange => RejectCode::QtyOutOfRange,
        RejectReason::PriceOutsideCollar => RejectCode::PriceOutsideCollar,
        RejectReason::NotionalLimitExceeded => RejectCode::NotionalLimit,
        RejectReason::MarketBuyWithoutBudget => RejectCode::MarketBuyNeedsBudget,
        RejectReason::UnknownOrder => RejectCode::UnknownOrder,
        RejectReason::DuplicateOrderId => RejectCode::Duplicate,
    }
}

pub(crate) fn map_book_reject(r: book::RejectReason) -> RejectCode {
    match r {
        book::RejectReason::Halted => RejectCode::InstrumentHalted,
        book::RejectReason::DuplicateOrderId => RejectCode::Duplicate,
        book::RejectReason::InvalidQty => RejectCode::QtyOutOfRange,
        book::RejectReason::InvalidDisplayQty
        | book::RejectReason::InvalidInstruction
        | book::RejectReason::NotReplaceable => RejectCode::InvalidOrder,
        book::RejectReason::PostOnlyWouldCross => RejectCode::PostOnlyWouldCross,
        book::RejectReason::UnknownOrder => RejectCode::UnknownOrder,
    }
}

fn map_admin(e: AdminError) -> RejectCode {
    match e {
        AdminError::DuplicateInstrument | AdminError::DuplicateAccount => RejectCode::Duplicate,
        AdminError::UnknownInstrument => RejectCode::UnknownInstrument,
        AdminError::UnknownAccount => RejectCode::UnknownAccount,
        AdminError::InsufficientFunds => RejectCode::InsufficientFunds,
        AdminError::IdOutOfRange
        | AdminError::InvalidSpec
        | AdminError::Overflow
        | AdminError::ZeroAmount => RejectCode::InvalidOrder,
    }
}

/// The risk spec an `AddInstrument` command describes (every tick and lot step
/// is 1: the wire carries ticks and lots; no tick collar, only the bps collar).
pub fn instrument_spec(a: &AddInstrument) -> Result<InstrumentSpec, RejectCode> {
    let fee = |bps: i32| u16::try_from(bps).ok().filter(|b| *b <= 10_000);
    let (Some(maker_bps), Some(taker_bps)) = (fee(a.maker_fee_bps), fee(a.taker_fee_bps)) else {
        return Err(RejectCode::InvalidOrder);
    };
    if a.instrument == 0 {
        return Err(RejectCode::InvalidOrder);
    }
    Ok(InstrumentSpec {
        id: a.instrument,
        base: a.base_asset,
        quote: a.quote_asset,
        base_per_lot: a.base_units_per_lot,
        quote_per_tick_lot: a.quote_units_per_tick_lot,
        price_step: 1,
        qty_step: 1,
        min_qty: a.min_qty,
        max_qty: a.max_qty,
        collar: Collar {
            bps: a.collar_bps,
            ticks: 0,
        },
        fees: FeeRates {
            maker_bps,
            taker_bps,
        },
    })
}

impl Logic {
    /// An empty venue: no instruments, only the fee account.
    pub fn new(cfg: LogicConfig) -> Self {
        Logic {
            cfg,
            books: Vec::new(),
            core: Core {
                risk: Risk::new(RiskConfig {
                    fee_account: cfg.fee_account,
                    max_accounts: cfg.max_accounts,
                    max_instruments: cfg.max_instruments,
                    order_capacity: cfg.book_capacity as usize,
                }),
                orders: OrderTable::with_capacity(cfg.book_capacity as usize),
                next_order_id: 1,
                next_report_exec: 0,
                out_seq: 0,
                last_input_seq: 0,
                faults: 0,
                last_fault: "",
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LogicConfig {
        &self.cfg
    }

    /// Balances, reservations and instrument risk parameters.
    pub fn risk(&self) -> &Risk {
        &self.core.risk
    }

    /// The book of an instrument.
    pub fn book(&self, instrument: InstrumentId) -> Option<&OrderBook> {
        self.books.get(instrument as usize).and_then(Option::as_ref)
    }

    /// Every book, in instrument order.
    pub fn books(&self) -> impl Iterator<Item = &OrderBook> {
        self.books.iter().flatten()
    }

    /// Report-side state of live orders.
    pub fn orders(&self) -> &OrderTable {
        &self.core.orders
    }

    /// Sequence of the last command processed (its header `seq`).
    pub fn last_input_seq(&self) -> u64 {
        self.core.last_input_seq
    }

    /// Sequence of the last event emitted.
    pub fn out_seq(&self) -> u64 {
        self.core.out_seq
    }

    /// Internal inconsistencies met so far (0 unless there is a bug) and the
    /// last one's description.
    pub fn faults(&self) -> (u64, &'static str) {
        (self.core.faults, self.core.last_fault)
    }

    /// Decodes one message and processes it. Undecodable bytes and event
    /// messages are an error (and change nothing).
    pub fn process<S: EventSink>(&mut self, bytes: &[u8], out: &mut S) -> Result<(), ProcessError> {
        let (h, m) = msg::decode(bytes).map_err(ProcessError::Decode)?;
        self.process_message(&h, &m, out)
    }

    /// Processes one decoded command.
    pub fn process_message<S: EventSink>(
        &mut self,
        h: &Header,
        m: &Message,
        out: &mut S,
    ) -> Result<(), ProcessError> {
        if !m.msg_type().is_command() {
            return Err(ProcessError::NotACommand(m.msg_type()));
        }
        self.core.last_input_seq = h.seq;
        match *m {
            Message::NewOrder(o) => self.new_order(h, &o, out),
            Message::Cancel(c) => self.cancel(h, &c, out),
            Message::Replace(r) => self.replace(h, &r, out),
            Message::MassCancel(mc) => self.mass_cancel(h, &mc, out),
            Message::SessionEvent(e) => {
                if e.cancel_on_disconnect
                    && matches!(
                        e.kind,
                        SessionEventKind::Logout | SessionEventKind::Disconnect
                    )
                {
                    self.cancel_all(
                        h,
                        MassCancelFilter::Session(h.session),
                        CancelReason::Disconnect,
                        out,
                    );
                }
            }
            Message::AddInstrument(a) => self.add_instrument(h, &a, out),
            Message::AddAccount(a) => self.add_account(h, &a, out),
            Message::Deposit(d) => {
                let r = self.core.risk.deposit(d.account, d.asset, d.amount);
                self.admin_result(
                    h,
                    MsgType::Deposit,
                    r,
                    d.account,
                    d.asset,
                    d.transfer_id,
                    out,
                );
            }
            Message::Withdraw(w) => {
                let r = self.core.risk.withdraw(w.account, w.asset, w.amount);
                self.admin_result(
                    h,
                    MsgType::Withdraw,
                    r,
                    w.account,
                    w.asset,
                    w.transfer_id,
                    out,
                );
            }
            Message::SuspendAccount(s) => {
                let r = self.core.risk.set_suspended(s.account, s.suspended);
                self.admin_result(h, MsgType::SuspendAccount, r, s.account, 0, 0, out);
            }
            Message::HaltInstrument(x) => {
                let r = self.core.risk.set_halted(x.instrument, x.halted);
                if r.is_ok()
                    && let Some(b) = self
                        .books
                        .get_mut(x.instrument as usize)
                        .and_then(Option::as_mut)
                {
                    if x.halted {
                        b.halt();
                    } else {
                        b.resume();
                    }
                }
                self.admin_result(h, MsgType::HaltInstrument, r, 0, x.instrument, 0, out);
            }
            Message::SessionEnd(s) => self.session_end(h, s.instrument, out),
            // Events were filtered above.
            _ => return Err(ProcessError::NotACommand(m.msg_type())),
        }
        Ok(())
    }

    fn ctx(h: &Header, instrument: InstrumentId) -> Ctx {
        Ctx {
            ts: h.timestamp_ns,
            instrument,
            reply_session: h.session,
            request_client_id: None,
            mass_reason: CancelReason::MassCancel,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn admin_result<S: EventSink>(
        &mut self,
        h: &Header,
        command: MsgType,
        r: Result<(), AdminError>,
        account: AccountId,
        subject: u32,
        reference: u64,
        out: &mut S,
    ) {
        let reason = match r {
            Ok(()) => RejectCode::None,
            Err(e) => map_admin(e),
        };
        let balance = match command {
            MsgType::Deposit | MsgType::Withdraw => self
                .core
                .risk
                .balance(account, subject)
                .map_or(0, |b| b.available),
            _ => 0,
        };
        let msg = Message::AdminResult(AdminResult {
            command,
            reason,
            account,
            subject,
            reference,
            balance,
        });
        self.core.emit(out, h.session, h.timestamp_ns, msg);
    }

    fn add_instrument<S: EventSink>(&mut self, h: &Header, a: &AddInstrument, out: &mut S) {
        let reason = match instrument_spec(a) {
            Err(code) => code,
            Ok(spec) => match self.core.risk.add_instrument(spec) {
                Err(e) => map_admin(e),
                Ok(()) => {
                    let i = a.instrument as usize;
                    if self.books.len() <= i {
                        self.books.resize_with(i + 1, || None);
                    }
                    self.books[i] = Some(OrderBook::new(
                        a.instrument,
                        self.cfg.book_capacity as usize,
                    ));
                    RejectCode::None
                }
            },
        };
        let msg = Message::AdminResult(AdminResult {
            command: MsgType::AddInstrument,
            reason,
            account: 0,
            subject: a.instrument,
            reference: 0,
            balance: 0,
        });
        self.core.emit(out, h.session, h.timestamp_ns, msg);
    }

    fn add_account<S: EventSink>(&mut self, h: &Header, a: &AddAccount, out: &mut S) {
        let fee = |bps: i32| u16::try_from(bps).ok().filter(|b| *b <= 10_000);
        let fee_override = match (a.fee_override, fee(a.maker_fee_bps), fee(a.taker_fee_bps)) {
            (false, _, _) => None,
            (true, Some(maker_bps), Some(taker_bps)) => Some(FeeRates {
                maker_bps,
                taker_bps,
            }),
            (true, _, _) => {
                let r = Err(AdminError::InvalidSpec);
                return self.admin_result(h, MsgType::AddAccount, r, a.account, 0, 0, out);
            }
        };
        let r = self.core.risk.add_account(AccountSpec {
            id: a.account,
            max_order_notional: a.max_order_notional,
            fee_override,
        });
        self.admin_result(h, MsgType::AddAccount, r, a.account, 0, 0, out);
    }

    fn new_order<S: EventSink>(&mut self, h: &Header, o: &msg::NewOrder, out: &mut S) {
        let order_id = self.core.next_order_id;
        self.core.next_order_id += 1;
        let meta = OrderMeta {
            instrument: o.instrument,
            account: o.account,
            session: h.session,
            client_order_id: o.client_order_id,
            side: o.side,
            order_type: o.order_type,
            tif: o.tif,
            price: o.price,
            leaves: o.qty,
            cum_qty: 0,
            cum_notional: 0,
        };
        let reject = |core: &mut Core, out: &mut S, code: RejectCode| {
            let mut r = handler::base_report(order_id, &meta, ExecKind::Rejected);
            r.reject = code;
            r.leaves_qty = 0;
            r.exec_id = core.next_report_exec_id();
            core.emit(out, h.session, h.timestamp_ns, Message::ExecReport(r));
        };
        if self
            .core
            .orders
            .client_id_in_use(o.account, o.client_order_id)
        {
            return reject(&mut self.core, out, RejectCode::Duplicate);
        }
        let req = OrderRequest {
            order_id,
            account: o.account,
            instrument: o.instrument,
            side: o.side,
            order_type: o.order_type,
            price: o.price,
            stop_price: o.stop_price,
            qty: o.qty,
            quote_budget: o.quote_budget,
        };
        if let Err(r) = self.core.risk.admit(&req) {
            return reject(&mut self.core, out, map_risk_reject(r));
        }
        let Some(book) = self
            .books
            .get_mut(o.instrument as usize)
            .and_then(Option::as_mut)
        else {
            // Risk knows every instrument that has a book, and only those.
            self.core.risk.release(order_id);
            self.core.fault("instrument in risk without a book");
            return reject(&mut self.core, out, RejectCode::UnknownInstrument);
        };
        self.core.orders.insert(order_id, meta);
        let bo = book::NewOrder {
            order_id,
            client_order_id: o.client_order_id,
            account: o.account,
            session: h.session,
            side: o.side,
            order_type: o.order_type,
            tif: o.tif,
            price: o.price,
            stop_price: o.stop_price,
            qty: o.qty,
            display_qty: o.display_qty,
            post_only: o.post_only,
            stp: o.stp,
            quote_budget: o.quote_budget,
        };
        let mut hd = Handler {
            core: &mut self.core,
            out,
            ctx: Self::ctx(h, o.instrument),
        };
        book.submit(&bo, &mut hd);
    }

    /// Finds the live order a cancel/replace names and checks ownership.
    fn resolve(
        &self,
        order_id: OrderId,
        orig_client_order_id: u64,
        account: AccountId,
    ) -> Result<(OrderId, OrderMeta), RejectCode> {
        let id = if order_id != 0 {
            order_id
        } else {
            self.core
                .orders
                .by_client(account, orig_client_order_id)
                .ok_or(RejectCode::UnknownOrder)?
        };
        let m = *self.core.orders.get(id).ok_or(RejectCode::UnknownOrder)?;
        if m.account != account {
            return Err(RejectCode::NotOwner);
        }
        Ok((id, m))
    }

    #[allow(clippy::too_many_arguments)]
    fn cancel_reject<S: EventSink>(
        &mut self,
        h: &Header,
        order_id: OrderId,
        client_order_id: u64,
        orig_client_order_id: u64,
        account: AccountId,
        instrument: InstrumentId,
        was_replace: bool,
        reason: RejectCode,
        out: &mut S,
    ) {
        // The order's state as it stands, for the reply's status (0/0 when it is
        // not live: unknown, filled or cancelled).
        let (leaves_qty, cum_qty) = self
            .core
            .orders
            .get(order_id)
            .map_or((0, 0), |m| (m.leaves, m.cum_qty));
        let msg = Message::CancelReject(CancelReject {
            order_id,
            client_order_id,
            orig_client_order_id,
            account,
            instrument,
            was_replace,
            reason,
            leaves_qty,
            cum_qty,
        });
        self.core.emit(out, h.session, h.timestamp_ns, msg);
    }

    fn cancel<S: EventSink>(&mut self, h: &Header, c: &Cancel, out: &mut S) {
        let (id, m) = match self.resolve(c.order_id, c.orig_client_order_id, c.account) {
            Ok(x) => x,
            Err(code) => {
                return self.cancel_reject(
                    h,
                    c.order_id,
                    c.client_order_id,
                    c.orig_client_order_id,
                    c.account,
                    c.instrument,
                    false,
                    code,
                    out,
                );
            }
        };
        let Some(book) = self
            .books
            .get_mut(m.instrument as usize)
            .and_then(Option::as_mut)
        else {
            self.core
                .fault("live order on an instrument without a book");
            return;
        };
        let mut ctx = Self::ctx(h, m.instrument);
        ctx.request_client_id = Some(c.client_order_id);
        let mut hd = Handler {
            core: &mut self.core,
            out,
            ctx,
        };
        book.cancel(id, &mut hd);
    }

    fn replace<S: EventSink>(&mut self, h: &Header, r: &Replace, out: &mut S) {
        let resolved = self
            .resolve(r.order_id, r.orig_client_order_id, r.account)
            .and_then(|(id, m)| {
                if r.qty <= m.cum_qty {
                    return Err(RejectCode::QtyOutOfRange);
                }
                if r.client_order_id != m.client_order_id
                    && self
                        .core
                        .orders
                        .client_id_in_use(r.account, r.client_order_id)
                {
                    return Err(RejectCode::Duplicate);
                }
                let undo = self
                    .core
                    .risk
                    .resize(id, r.price, r.qty - m.cum_qty)
                    .map_err(map_risk_reject)?;
                Ok((id, m, undo))
            });
        let (id, m, undo) = match resolved {
            Ok(x) => x,
            Err(code) => {
                return self.cancel_reject(
                    h,
                    r.order_id,
                    r.client_order_id,
                    r.orig_client_order_id,
                    r.account,
                    r.instrument,
                    true,
                    code,
                    out,
                );
            }
        };
        let Some(book) = self
            .books
            .get_mut(m.instrument as usize)
            .and_then(Option::as_mut)
        else {
            self.core
                .fault("live order on an instrument without a book");
            return;
        };
        let mut ctx = Self::ctx(h, m.instrument);
        ctx.request_client_id = Some(r.client_order_id);
        let mut hd = Handler {
            core: &mut self.core,
            out,
            ctx,
        };
        if !book.replace(id, r.price, r.qty - m.cum_qty, &mut hd)
            && self.core.risk.undo_resize(id, undo).is_err()
        {
            self.core.fault("undo of a refused replace failed");
        }
    }

    /// Mass cancel over every book, in instrument order; returns the count.
    fn cancel_all<S: EventSink>(
        &mut self,
        h: &Header,
        filter: MassCancelFilter,
        reason: CancelReason,
        out: &mut S,
    ) -> u32 {
        let mut n = 0usize;
        for book in self.books.iter_mut().flatten() {
            let mut ctx = Self::ctx(h, book.instrument());
            ctx.mass_reason = reason;
            let mut hd = Handler {
                core: &mut self.core,
                out: &mut *out,
                ctx,
            };
            n += book.mass_cancel(filter, &mut hd);
        }
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn mass_cancel<S: EventSink>(&mut self, h: &Header, mc: &MassCancel, out: &mut S) {
        let account_known = self.core.risk.has_account(mc.account);
        let (cancelled, reason) = match mc.scope {
            MassCancelScope::Session => (
                self.cancel_all(
                    h,
                    MassCancelFilter::Session(mc.target_session),
                    CancelReason::MassCancel,
                    out,
                ),
                RejectCode::None,
            ),
            _ if !account_known => (0, RejectCode::UnknownAccount),
            MassCancelScope::Account | MassCancelScope::All => (
                self.cancel_all(
                    h,
                    MassCancelFilter::Account(mc.account),
                    CancelReason::MassCancel,
                    out,
                ),
                RejectCode::None,
            ),
            MassCancelScope::Instrument => {
                match self
                    .books
                    .get_mut(mc.instrument as usize)
                    .and_then(Option::as_mut)
                {
                    None => (0, RejectCode::UnknownInstrument),
                    Some(book) => {
                        let mut hd = Handler {
                            core: &mut self.core,
                            out: &mut *out,
                            ctx: Self::ctx(h, mc.instrument),
                        };
                        let n = book.mass_cancel(MassCancelFilter::Account(mc.account), &mut hd);
                        (u32::try_from(n).unwrap_or(u32::MAX), RejectCode::None)
                    }
                }
            }
        };
        let msg = Message::MassCancelReport(MassCancelReport {
            client_order_id: mc.client_order_id,
            scope: mc.scope,
            account: mc.account,
            instrument: mc.instrument,
            cancelled,
            reason,
        });
        self.core.emit(out, h.session, h.timestamp_ns, msg);
    }

    fn session_end<S: EventSink>(&mut self, h: &Header, instrument: InstrumentId, out: &mut S) {
        let mut found = instrument == 0;
        for book in self.books.iter_mut().flatten() {
            if instrument != 0 && book.instrument() != instrument {
                continue;
            }
            found = true;
            let mut hd = Handler {
                core: &mut self.core,
                out: &mut *out,
                ctx: Self::ctx(h, book.instrument()),
            };
            book.expire_day_orders(&mut hd);
        }
        let r = if found {
            Ok(())
        } else {
            Err(AdminError::UnknownInstrument)
        };
        self.admin_result(h, MsgType::SessionEnd, r, 0, instrument, 0, out);
    }

    // ------------------------------------------------------------ state

    /// The canonical snapshot of the whole state: counters, risk, every book
    /// (each in its own snapshot format, length-prefixed), live orders.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Writes the snapshot into `out` (appending).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(SNAP_MAGIC);
        out.put_u32(SNAP_VERSION);
        out.put_u32(self.cfg.fee_account);
        out.put_u32(self.cfg.max_accounts);
        out.put_u32(self.cfg.max_instruments);
        out.put_u32(self.cfg.book_capacity);
        let c = &self.core;
        out.put_u64(c.next_order_id);
        out.put_u64(c.next_report_exec);
        out.put_u64(c.out_seq);
        out.put_u64(c.last_input_seq);
        out.put_u64(c.faults);
        c.risk.encode(out);
        out.put_u64(self.books.iter().flatten().count() as u64);
        let mut scratch = Vec::new();
        for b in self.books.iter().flatten() {
            scratch.clear();
            b.encode_snapshot(&mut scratch);
            out.put_u32(b.instrument());
            out.put_u64(scratch.len() as u64);
            out.put(&scratch);
        }
        c.orders.encode(out);
    }

    /// FNV-1a 64 of [`Logic::snapshot`]: equal states hash equal on every node.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv1a64::new();
        h.put(&self.snapshot());
        h.value()
    }

    /// Rebuilds a processor from [`Logic::snapshot`] bytes; checks that books,
    /// risk and the order table agree. Corrupt bytes are an error, never a panic.
    pub fn restore(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut r = Reader::new(bytes);
        let magic = r.u32()?;
        if magic != SNAP_MAGIC {
            return Err(SnapshotError::BadMagic { found: magic });
        }
        let version = r.u32()?;
        if version != SNAP_VERSION {
            return Err(SnapshotError::BadVersion { found: version });
        }
        let cfg = LogicConfig {
            fee_account: r.u32()?,
            max_accounts: r.u32()?,
            max_instruments: r.u32()?,
            book_capacity: r.u32()?,
        };
        let next_order_id = r.u64()?;
        let next_report_exec = r.u64()?;
        let out_seq = r.u64()?;
        let last_input_seq = r.u64()?;
        let faults = r.u64()?;
        let mut risk = Risk::decode(&mut r)?;
        risk.reserve_orders(cfg.book_capacity as usize);
        let n = r.count(12)?;
        let mut books: Vec<Option<OrderBook>> = Vec::new();
        for _ in 0..n {
            let id = r.u32()?;
            let len = r.u64()?;
            let len =
                usize::try_from(len).map_err(|_| SnapshotError::Truncated { at: r.position() })?;
            let b =
                OrderBook::decode_snapshot(r.take(len)?).map_err(|_| SnapshotError::Invalid {
                    what: "book snapshot",
                })?;
            if b.instrument() != id || risk.instrument(id).is_none() {
                return Err(SnapshotError::Invalid {
                    what: "book instrument",
                });
            }
            let i = id as usize;
            if books.len() <= i {
                books.resize_with(i + 1, || None);
            }
            if books[i].is_some() {
                return Err(SnapshotError::Invalid {
                    what: "duplicate book",
                });
            }
            books[i] = Some(b);
        }
        let mut orders = OrderTable::decode(&mut r)?;
        orders.reserve(cfg.book_capacity as usize);
        r.finish()?;
        let logic = Logic {
            cfg,
            books,
            core: Core {
                risk,
                orders,
                next_order_id,
                next_report_exec,
                out_seq,
                last_input_seq,
                faults,
                last_fault: "",
            },
        };
        logic
            .check_consistency()
            .map_err(|_| SnapshotError::Invalid {
                what: "books, risk and orders disagree",
            })?;
        Ok(logic)
    }

    /// Cross-checks the state (tests, restore; O(orders)): risk's invariants
    /// (conservation per asset, reservations), every book's invariants, and that
    /// the books' live orders, risk's open orders and the order table are the same
    /// set with the same owners and leaves. Returns the first disagreement.
    pub fn check_consistency(&self) -> Result<(), String> {
        self.core.risk.check_invariants()?;
        let mut live = 0usize;
        for b in self.books.iter().flatten() {
            b.check_invariants()
                .map_err(|e| format!("book {}: {e}", b.instrument()))?;
            for side in [crate::types::Side::Buy, crate::types::Side::Sell] {
                for v in b.resting_orders(side).chain(b.pending_stops(side)) {
                    live += 1;
                    let r = self.core.risk.order(v.order_id).ok_or_else(|| {
                        format!("order {} live in book, unknown to risk", v.order_id)
                    })?;
                    let m = self.core.orders.get(v.order_id).ok_or_else(|| {
                        format!("order {} live in book, not in table", v.order_id)
                    })?;
                    if r.leaves != v.leaves_qty || m.leaves != v.leaves_qty {
                        return Err(format!(
                            "order {}: leaves book {} risk {} table {}",
                            v.order_id, v.leaves_qty, r.leaves, m.leaves
                        ));
                    }
                    if r.account != v.account
                        || m.account != v.account
                        || m.instrument != b.instrument()
                    {
                        return Err(format!("order {}: owner/instrument disagree", v.order_id));
                    }
                }
            }
        }
        if self.core.risk.order_count() != live {
            return Err(format!(
                "risk has {} open orders, books have {live}",
                self.core.risk.order_count()
            ));
        }
        if self.core.orders.len() != live {
            return Err(format!(
                "order table has {} orders, books have {live}",
                self.core.orders.len()
            ));
        }
        Ok(())
    }
}

impl PartialEq for Logic {
    /// Equal canonical snapshots (the books' internal layout may differ).
    fn eq(&self, other: &Self) -> bool {
        self.snapshot() == other.snapshot()
    }
}

#[cfg(test)]
mod tests;
