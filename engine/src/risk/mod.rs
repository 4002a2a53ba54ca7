//! Pre-trade risk and balances: accounts, per-asset balances, per-order
//! reservations, fill settlement with fees.
//!
//! The business-logic processor ([`crate::logic`]) calls risk around the book:
//! [`Risk::admit`] before a new order reaches the book (check + reserve),
//! [`Risk::resize`] before a replace, [`Risk::settle`] for every trade the book
//! reports, and [`Risk::release`] when the book says an order is gone (cancelled,
//! expired, the unfilled rest of an IOC/FOK/market order). Risk is usable alone.
//!
//! # Balances and reservations
//!
//! Each account holds, per asset, `available` and `reserved` units. A buy reserves
//! quote (`notional at its limit price + a fee bound`, or its quote budget plus fee
//! bound for a market/stop-market buy); a sell reserves base (`qty × base_per_lot`).
//! Every open order remembers exactly what it holds reserved, so releasing an
//! order returns exactly that amount (no dust): invariant, per (account, asset),
//! `reserved == Σ reservation of that account's open orders in that asset`.
//!
//! # Conservation
//!
//! Per asset, the sum over all accounts (the fee account included) of
//! `available + reserved` changes only through [`Risk::deposit`] and
//! [`Risk::withdraw`]; risk tracks that total as the asset's supply and
//! [`Risk::check_invariants`] verifies both invariants. Deposits are refused if a
//! supply would exceed `u64::MAX`, which is also why no balance can overflow.
//!
//! Units and fee rounding: see [`spec`].

pub mod reject;
pub mod spec;

use std::collections::BTreeMap;

pub use reject::{AdminError, Inconsistent, RejectReason};
pub use spec::{AccountSpec, Collar, FeeRates, InstrumentSpec};

use crate::idmap::{self, IdMap};
use crate::snapshot::{Reader, Sink, SnapshotError};
use crate::types::{AccountId, AssetId, InstrumentId, OrderId, OrderType, Price, Qty, Side};
use spec::{fee_bound, fee_total};

/// One account's holding of one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Free to withdraw or to reserve for new orders.
    pub available: u64,
    /// Held for open orders.
    pub reserved: u64,
}

impl Balance {
    /// `available + reserved` (cannot overflow: bounded by the asset's supply).
    pub fn total(&self) -> u128 {
        u128::from(self.available) + u128::from(self.reserved)
    }
}

/// Construction parameters of [`Risk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskConfig {
    /// Account credited with all fees; created by [`Risk::new`].
    pub fee_account: AccountId,
    /// Account ids must be below this (accounts live in a Vec indexed by id).
    pub max_accounts: u32,
    /// Instrument ids must be below this.
    pub max_instruments: u32,
    /// Open orders the reservation table has room for before it allocates
    /// (a capacity hint, not a limit; not part of the state).
    pub order_capacity: usize,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            fee_account: 0,
            max_accounts: 1 << 16,
            max_instruments: 1 << 12,
            order_capacity: 1 << 16,
        }
    }
}

/// A new order as risk sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// Exchange-assigned id (unique, never reused).
    pub order_id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Book.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Limit, market, stop, stop-limit.
    pub order_type: OrderType,
    /// Limit price in ticks (Limit / StopLimit).
    pub price: Price,
    /// Stop price in ticks (Stop / StopLimit).
    pub stop_price: Price,
    /// Quantity in lots.
    pub qty: Qty,
    /// Quote budget in (ticks × lots) for market/stop-market buys; 0 = none.
    pub quote_budget: u64,
}

/// How a buy's reservation was sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// At a limit price (limit / stop-limit buys; all sells record their price
    /// here too, 0 for market sells).
    Limit(Price),
    /// From a quote budget (market / stop-market buys): fixed, never resized.
    Budget(u64),
}

/// Risk's record of one open order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRisk {
    /// Owner.
    pub account: AccountId,
    /// Book.
    pub instrument: InstrumentId,
    /// Buy (reserves quote) or sell (reserves base).
    pub side: Side,
    /// What the reservation was sized from.
    pub basis: Basis,
    /// Unfilled quantity in lots.
    pub leaves: Qty,
    /// Units of the reserved asset this order holds.
    pub reserved: u64,
    /// Fee rates fixed when the order was admitted.
    pub fees: FeeRates,
    /// Cumulative notional filled as maker / as taker.
    pub cum_notional: [u128; 2],
    /// Cumulative fees paid as maker / as taker.
    pub fees_paid: [u128; 2],
}

/// One fill between a resting (maker) and an aggressing (taker) order, as the book
/// reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Trade price in ticks (the resting order's price).
    pub price: Price,
    /// Filled lots.
    pub qty: Qty,
    /// The resting order.
    pub maker_order: OrderId,
    /// The aggressing order.
    pub taker_order: OrderId,
}

/// What a fill moved, for execution reports and audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// Book.
    pub instrument: InstrumentId,
    /// Buying account (received base).
    pub buyer: AccountId,
    /// Selling account (received quote).
    pub seller: AccountId,
    /// Base units moved seller → buyer.
    pub base_amount: u64,
    /// Quote units moved buyer → seller, before fees.
    pub notional: u64,
    /// Fee charged to the maker, in quote units.
    pub maker_fee: u64,
    /// Fee charged to the taker, in quote units.
    pub taker_fee: u64,
    /// True when the maker order is fully filled (its leftover reservation released).
    pub maker_done: bool,
    /// True when the taker order is fully filled.
    pub taker_done: bool,
}

/// What [`Risk::resize`] changed, so that [`Risk::undo_resize`] can put it back
/// exactly if the book then refuses the replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeUndo {
    basis: Basis,
    leaves: Qty,
    reserved: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Instrument {
    spec: InstrumentSpec,
    halted: bool,
    last_price: Option<Price>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    spec: AccountSpec,
    suspended: bool,
    /// Sorted by asset id; accounts hold few assets, so a sorted Vec beats a map.
    balances: Vec<(AssetId, Balance)>,
    open_orders: u32,
}

impl Account {
    fn new(spec: AccountSpec) -> Self {
        Account {
            spec,
            suspended: false,
            balances: Vec::new(),
            open_orders: 0,
        }
    }

    fn balance(&self, asset: AssetId) -> Balance {
        match self.balances.binary_search_by_key(&asset, |(a, _)| *a) {
            Ok(i) => self.balances[i].1,
            Err(_) => Balance::default(),
        }
    }

    fn balance_mut(&mut self, asset: AssetId) -> &mut Balance {
        let i = match self.balances.binary_search_by_key(&asset, |(a, _)| *a) {
            Ok(i) => i,
            Err(i) => {
                self.balances.insert(i, (asset, Balance::default()));
                i
            }
        };
        &mut self.balances[i].1
    }
}

/// Accounts, instruments (risk parameters), open-order reservations and per-asset
/// supply. Deterministic: Vecs indexed by id, BTreeMaps, and one lookup-only
/// id map (fixed hasher) whose keys are sorted wherever they are iterated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Risk {
    cfg: RiskConfig,
    instruments: Vec<Option<Instrument>>,
    accounts: Vec<Option<Account>>,
    orders: IdMap<OrderId, OrderRisk>,
    supply: BTreeMap<AssetId, u64>,
}

const SNAP_MAGIC: u32 = 0x4b53_4952; // "RISK"
const SNAP_VERSION: u32 = 1;

impl Risk {
    /// Empty state with the fee account created.
    pub fn new(cfg: RiskConfig) -> Self {
        let mut r = Risk {
            cfg,
            instruments: Vec::new(),
            accounts: Vec::new(),
            orders: idmap::with_capacity(cfg.order_capacity),
            supply: BTreeMap::new(),
        };
        let fee = AccountSpec {
            id: cfg.fee_account,
            ..AccountSpec::default()
        };
        // A fee account id beyond max_accounts still gets a slot: the Vec grows.
        r.put_account(fee);
        r
    }

    /// The configuration this state was built with.
    pub fn config(&self) -> &RiskConfig {
        &self.cfg
    }

    fn put_account(&mut self, spec: AccountSpec) {
        let i = spec.id as usize;
        if self.accounts.len() <= i {
            self.accounts.resize(i + 1, None);
        }
        self.accounts[i] = Some(Account::new(spec));
    }

    fn inst(&self, id: InstrumentId) -> Option<&Instrument> {
        self.instruments.get(id as usize).and_then(Option::as_ref)
    }

    fn inst_mut(&mut self, id: InstrumentId) -> Option<&mut Instrument> {
        self.instruments
            .get_mut(id as usize)
            .and_then(Option::as_mut)
    }

    fn acct(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(id as usize).and_then(Option::as_ref)
    }

    fn acct_mut(&mut self, id: AccountId) -> Option<&mut Account> {
        self.accounts.get_mut(id as usize).and_then(Option::as_mut)
    }

    // ---------------------------------------------------------------- admin

    /// Registers an instrument's risk parameters.
    pub fn add_instrument(&mut self, spec: InstrumentSpec) -> Result<(), AdminError> {
        if spec.id >= self.cfg.max_instruments {
            return Err(AdminError::IdOutOfRange);
        }
        if self.inst(spec.id).is_some() {
            return Err(AdminError::DuplicateInstrument);
        }
        spec.validate().map_err(|_| AdminError::InvalidSpec)?;
        let i = spec.id as usize;
        if self.instruments.len() <= i {
            self.instruments.resize(i + 1, None);
        }
        self.instruments[i] = Some(Instrument {
            spec,
            halted: false,
            last_price: None,
        });
        Ok(())
    }

    /// Opens an account with zero balances.
    pub fn add_account(&mut self, spec: AccountSpec) -> Result<(), AdminError> {
        if spec.id >= self.cfg.max_accounts {
            return Err(AdminError::IdOutOfRange);
        }
        if self.acct(spec.id).is_some() {
            return Err(AdminError::DuplicateAccount);
        }
        if spec.fee_override.is_some_and(|f| !f.is_valid()) {
            return Err(AdminError::InvalidSpec);
        }
        self.put_account(spec);
        Ok(())
    }

    /// Credits `amount` of `asset` to the account's available balance.
    pub fn deposit(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), AdminError> {
        if amount == 0 {
            return Err(AdminError::ZeroAmount);
        }
        if self.acct(account).is_none() {
            return Err(AdminError::UnknownAccount);
        }
        let supply = self.supply.get(&asset).copied().unwrap_or(0);
        let new_supply = supply.checked_add(amount).ok_or(AdminError::Overflow)?;
        let a = self.acct_mut(account).ok_or(AdminError::UnknownAccount)?;
        let b = a.balance_mut(asset);
        // Cannot fail: a balance never exceeds its asset's supply.
        b.available = b
            .available
            .checked_add(amount)
            .ok_or(AdminError::Overflow)?;
        self.supply.insert(asset, new_supply);
        Ok(())
    }

    /// Debits `amount` of `asset` from the account's available balance.
    pub fn withdraw(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), AdminError> {
        if amount == 0 {
            return Err(AdminError::ZeroAmount);
        }
        let a = self.acct_mut(account).ok_or(AdminError::UnknownAccount)?;
        if a.balance(asset).available < amount {
            return Err(AdminError::InsufficientFunds);
        }
        a.balance_mut(asset).available -= amount;
        let s = self.supply.entry(asset).or_insert(0);
        *s = s.saturating_sub(amount);
        Ok(())
    }

    /// Suspends (no new orders or replaces; cancels still allowed) or reinstates.
    pub fn set_suspended(&mut self, account: AccountId, suspended: bool) -> Result<(), AdminError> {
        let a = self.acct_mut(account).ok_or(AdminError::UnknownAccount)?;
        a.suspended = suspended;
        Ok(())
    }

    /// Halts (new orders and replaces rejected) or resumes an instrument.
    pub fn set_halted(&mut self, instrument: InstrumentId, halted: bool) -> Result<(), AdminError> {
        let i = self
            .inst_mut(instrument)
            .ok_or(AdminError::UnknownInstrument)?;
        i.halted = halted;
        Ok(())
    }

    // ---------------------------------------------------------------- queries

    /// The account's balance in `asset` (zero if never touched); `None` for an
    /// unknown account.
    pub fn balance(&self, account: AccountId, asset: AssetId) -> Option<Balance> {
        self.acct(account).map(|a| a.balance(asset))
    }

    /// Every (asset, balance) of an account, in asset order.
    pub fn balances(&self, account: AccountId) -> Option<&[(AssetId, Balance)]> {
        self.acct(account).map(|a| a.balances.as_slice())
    }

    /// Number of open orders (resting or pending stops) the account has.
    pub fn open_orders(&self, account: AccountId) -> Option<u32> {
        self.acct(account).map(|a| a.open_orders)
    }

    /// True when the account exists.
    pub fn has_account(&self, account: AccountId) -> bool {
        self.acct(account).is_some()
    }

    /// True when the account exists and is suspended.
    pub fn is_suspended(&self, account: AccountId) -> bool {
        self.acct(account).is_some_and(|a| a.suspended)
    }

    /// The instrument's spec, if registered.
    pub fn instrument(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.inst(id).map(|i| &i.spec)
    }

    /// True when the instrument exists and is halted.
    pub fn is_halted(&self, id: InstrumentId) -> bool {
        self.inst(id).is_some_and(|i| i.halted)
    }

    /// Last trade price risk has settled on the instrument (the collar reference).
    pub fn last_price(&self, id: InstrumentId) -> Option<Price> {
        self.inst(id).and_then(|i| i.last_price)
    }

    /// Risk's record of an open order.
    pub fn order(&self, id: OrderId) -> Option<&OrderRisk> {
        self.orders.get(&id)
    }

    /// Makes room for `additional` more open orders without allocating later.
    pub fn reserve_orders(&mut self, additional: usize) {
        self.orders.reserve(additional);
    }

    /// Number of open orders risk holds reservations for.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Total units of `asset` deposited minus withdrawn.
    pub fn supply(&self, asset: AssetId) -> u64 {
        self.supply.get(&asset).copied().unwrap_or(0)
    }

    /// The fee account's id.
    pub fn fee_account(&self) -> AccountId {
        self.cfg.fee_account
    }

    // ---------------------------------------------------------------- pre-trade

    fn fee_rates(acct: &Account, inst: &Instrument) -> FeeRates {
        acct.spec.fee_override.unwrap_or(inst.spec.fees)
    }

    fn check_price(spec: &InstrumentSpec, price: Price) -> Result<(), RejectReason> {
        if price <= 0 {
            return Err(RejectReason::PriceOutOfRange);
        }
        if !price.unsigned_abs().is_multiple_of(spec.price_step) {
            return Err(RejectReason::PriceOffTick);
        }
        Ok(())
    }

    fn check_qty(spec: &InstrumentSpec, qty: Qty) -> Result<(), RejectReason> {
        if qty < spec.min_qty || qty > spec.max_qty {
            return Err(RejectReason::QtyOutOfRange);
        }
        if !qty.is_multiple_of(spec.qty_step) {
            return Err(RejectReason::QtyOffLot);
        }
        Ok(())
    }

    /// Reservation for `leaves` on `side` sized from `basis`; also returns the
    /// notional used for the account limit (`None` = unknown, not checked).
    fn required(
        spec: &InstrumentSpec,
        side: Side,
        basis: Basis,
        leaves: Qty,
        fees: FeeRates,
        reference: Option<Price>,
    ) -> Result<(u64, Option<u64>), RejectReason> {
        match (side, basis) {
            (Side::Buy, Basis::Limit(p)) => {
                let n = spec
                    .notional(p, leaves)
                    .ok_or(RejectReason::AmountOverflow)?;
                let f = fee_bound(n, fees.max_bps()).ok_or(RejectReason::AmountOverflow)?;
                let r = n.checked_add(f).ok_or(RejectReason::AmountOverflow)?;
                Ok((r, Some(n)))
            }
            (Side::Buy, Basis::Budget(b)) => {
                let n = spec
                    .budget_notional(b)
                    .ok_or(RejectReason::AmountOverflow)?;
                let f = fee_bound(n, fees.max_bps()).ok_or(RejectReason::AmountOverflow)?;
                let r = n.checked_add(f).ok_or(RejectReason::AmountOverflow)?;
                Ok((r, Some(n)))
            }
            (Side::Sell, basis) => {
                let r = spec
                    .base_amount(leaves)
                    .ok_or(RejectReason::AmountOverflow)?;
                let price = match basis {
                    Basis::Limit(p) if p > 0 => Some(p),
                    _ => reference,
                };
                let n = match price {
                    Some(p) => Some(
                        spec.notional(p, leaves)
                            .ok_or(RejectReason::AmountOverflow)?,
                    ),
                    None => None,
                };
                Ok((r, n))
            }
        }
    }

    /// Pre-trade checks for a new order, then reserves its funds. Checks run in
    /// this order, and the first failure is the reason: unknown instrument,
    /// unknown account, account suspended, instrument halted, quantity (range,
    /// lot), limit price (positive, tick, collar), stop price (positive, tick),
    /// market-buy budget, amount overflow, account notional limit, funds.
    ///
    /// A market sell's notional (for the account limit) is taken at the last
    /// trade price; before the first trade it is not limited.
    pub fn admit(&mut self, req: &OrderRequest) -> Result<(), RejectReason> {
        let inst = self
            .inst(req.instrument)
            .ok_or(RejectReason::UnknownInstrument)?;
        let acct = self.acct(req.account).ok_or(RejectReason::UnknownAccount)?;
        if acct.suspended {
            return Err(RejectReason::AccountSuspended);
        }
        if inst.halted {
            return Err(RejectReason::InstrumentHalted);
        }
        let spec = &inst.spec;
        Self::check_qty(spec, req.qty)?;
        let has_limit = matches!(req.order_type, OrderType::Limit | OrderType::StopLimit);
        let has_stop = matches!(req.order_type, OrderType::Stop | OrderType::StopLimit);
        if has_limit {
            Self::check_price(spec, req.price)?;
            if !spec.collar.allows(inst.last_price, req.price) {
                return Err(RejectReason::PriceOutsideCollar);
            }
        }
        if has_stop {
            Self::check_price(spec, req.stop_price)?;
        }
        let basis = match (req.side, has_limit) {
            (_, true) => Basis::Limit(req.price),
            (Side::Buy, false) => {
                if req.quote_budget == 0 {
                    return Err(RejectReason::MarketBuyWithoutBudget);
                }
                Basis::Budget(req.quote_budget)
            }
            (Side::Sell, false) => Basis::Limit(0),
        };
        if self.orders.contains_key(&req.order_id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        let fees = Self::fee_rates(acct, inst);
        let (need, notional) =
            Self::required(spec, req.side, basis, req.qty, fees, inst.last_price)?;
        let limit = acct.spec.max_order_notional;
        if limit != 0 && notional.is_some_and(|n| n > limit) {
            return Err(RejectReason::NotionalLimitExceeded);
        }
        let asset = match req.side {
            Side::Buy => spec.quote,
            Side::Sell => spec.base,
        };
        if acct.balance(asset).available < need {
            return Err(RejectReason::InsufficientFunds);
        }
        // All checks passed: reserve (cannot fail now).
        let acct = self
            .acct_mut(req.account)
            .ok_or(RejectReason::UnknownAccount)?;
        let b = acct.balance_mut(asset);
        b.available -= need;
        b.reserved += need;
        acct.open_orders += 1;
        self.orders.insert(
            req.order_id,
            OrderRisk {
                account: req.account,
                instrument: req.instrument,
                side: req.side,
                basis,
                leaves: req.qty,
                reserved: need,
                fees,
                cum_notional: [0, 0],
                fees_paid: [0, 0],
            },
        );
        Ok(())
    }

    /// Re-sizes an open order's reservation for a replace to `new_price` (ignored
    /// for budget-sized market/stop-market buys) and `new_leaves` lots, before the
    /// book sees the replace. An increase must be covered by available funds; a
    /// decrease is released at once. Checks: known, account not suspended,
    /// instrument not halted, quantity, price (for priced orders), collar,
    /// notional limit, funds. Returns an undo token for [`Risk::undo_resize`].
    pub fn resize(
        &mut self,
        order_id: OrderId,
        new_price: Price,
        new_leaves: Qty,
    ) -> Result<ResizeUndo, RejectReason> {
        let o = *self
            .orders
            .get(&order_id)
            .ok_or(RejectReason::UnknownOrder)?;
        let inst = self
            .inst(o.instrument)
            .ok_or(RejectReason::UnknownInstrument)?;
        let acct = self.acct(o.account).ok_or(RejectReason::UnknownAccount)?;
        if acct.suspended {
            return Err(RejectReason::AccountSuspended);
        }
        if inst.halted {
            return Err(RejectReason::InstrumentHalted);
        }
        let spec = &inst.spec;
        if new_leaves == 0 || new_leaves > spec.max_qty {
            return Err(RejectReason::QtyOutOfRange);
        }
        if !new_leaves.is_multiple_of(spec.qty_step) {
            return Err(RejectReason::QtyOffLot);
        }
        let basis = match o.basis {
            Basis::Limit(p) if p > 0 => {
                Self::check_price(spec, new_price)?;
                if new_price != p && !spec.collar.allows(inst.last_price, new_price) {
                    return Err(RejectReason::PriceOutsideCollar);
                }
                Basis::Limit(new_price)
            }
            other => other,
        };
        let (need, notional) =
            Self::required(spec, o.side, basis, new_leaves, o.fees, inst.last_price)?;
        let limit = acct.spec.max_order_notional;
        if limit != 0 && notional.is_some_and(|n| n > limit) {
            return Err(RejectReason::NotionalLimitExceeded);
        }
        // Budget-sized orders keep their reservation: the budget is fixed.
        let need = if matches!(basis, Basis::Budget(_)) {
            o.reserved
        } else {
            need
        };
        let asset = spec.asset_for(o.side);
        if need > o.reserved && acct.balance(asset).available < need - o.reserved {
            return Err(RejectReason::InsufficientFunds);
        }
        let undo = ResizeUndo {
            basis: o.basis,
            leaves: o.leaves,
            reserved: o.reserved,
        };
        self.set_reservation(order_id, basis, new_leaves, need)
            .map_err(|_| RejectReason::UnknownOrder)?;
        Ok(undo)
    }

    /// Puts back what [`Risk::resize`] changed (the book refused the replace).
    pub fn undo_resize(&mut self, order_id: OrderId, undo: ResizeUndo) -> Result<(), Inconsistent> {
        self.set_reservation(order_id, undo.basis, undo.leaves, undo.reserved)
    }

    fn set_reservation(
        &mut self,
        order_id: OrderId,
        basis: Basis,
        leaves: Qty,
        reserved: u64,
    ) -> Result<(), Inconsistent> {
        let o = self
            .orders
            .get(&order_id)
            .copied()
            .ok_or(Inconsistent("resize of unknown order"))?;
        let asset = self
            .inst(o.instrument)
            .ok_or(Inconsistent("order on unknown instrument"))?
            .spec
            .asset_for(o.side);
        let acct = self
            .acct_mut(o.account)
            .ok_or(Inconsistent("order of unknown account"))?;
        let b = acct.balance_mut(asset);
        if reserved >= o.reserved {
            let d = reserved - o.reserved;
            if b.available < d {
                return Err(Inconsistent("resize beyond available"));
            }
            b.available -= d;
            b.reserved += d;
        } else {
            let d = o.reserved - reserved;
            if b.reserved < d {
                return Err(Inconsistent("account reserved below order reservation"));
            }
            b.reserved -= d;
            b.available += d;
        }
        if let Some(o) = self.orders.get_mut(&order_id) {
            o.basis = basis;
            o.leaves = leaves;
            o.reserved = reserved;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- post-trade

    /// Releases everything an order still holds reserved and forgets it. Call when
    /// the book reports the order cancelled, expired, or its rest dropped (IOC,
    /// FOK, market). Returns the amount released, or `None` if risk did not know
    /// the order (already done, or never admitted).
    pub fn release(&mut self, order_id: OrderId) -> Option<u64> {
        let o = self.orders.remove(&order_id)?;
        let asset = self.inst(o.instrument)?.spec.asset_for(o.side);
        let acct = self.acct_mut(o.account)?;
        let b = acct.balance_mut(asset);
        // reserved ≥ o.reserved by the per-order invariant; saturate defensively.
        let r = o.reserved.min(b.reserved);
        b.reserved -= r;
        b.available += r;
        acct.open_orders = acct.open_orders.saturating_sub(1);
        Some(r)
    }

    /// Settles one fill atomically: base moves seller → buyer, quote buyer →
    /// seller, fees (both sides, quote asset) to the fee account, and each order's
    /// reservation shrinks by what it used; an order whose leaves reach zero has
    /// its leftover reservation released and is forgotten. Updates the
    /// instrument's last trade price. On error nothing has changed.
    pub fn settle(&mut self, fill: &Fill) -> Result<Settlement, Inconsistent> {
        let maker = *self
            .orders
            .get(&fill.maker_order)
            .ok_or(Inconsistent("fill for unknown maker order"))?;
        let taker = *self
            .orders
            .get(&fill.taker_order)
            .ok_or(Inconsistent("fill for unknown taker order"))?;
        if maker.instrument != taker.instrument || maker.side == taker.side {
            return Err(Inconsistent("fill between incompatible orders"));
        }
        if fill.qty == 0 || maker.leaves < fill.qty || taker.leaves < fill.qty {
            return Err(Inconsistent("fill quantity above leaves"));
        }
        let spec = self
            .inst(maker.instrument)
            .ok_or(Inconsistent("fill on unknown instrument"))?
            .spec;
        let notional = spec
            .notional(fill.price, fill.qty)
            .ok_or(Inconsistent("fill notional overflow"))?;
        let base_amount = spec
            .base_amount(fill.qty)
            .ok_or(Inconsistent("fill base amount overflow"))?;

        // Fees: per order, cumulative ceiling (see `spec`). Index 0 maker, 1 taker.
        let fee_inc = |o: &OrderRisk, role: usize| -> (u128, u128, u64) {
            let bps = if role == 0 {
                o.fees.maker_bps
            } else {
                o.fees.taker_bps
            };
            let cum = o.cum_notional[role] + u128::from(notional);
            let total = fee_total(cum, bps);
            let inc = total - o.fees_paid[role];
            (cum, total, u64::try_from(inc).unwrap_or(u64::MAX))
        };
        let (m_cum, m_total, maker_fee) = fee_inc(&maker, 0);
        let (t_cum, t_total, taker_fee) = fee_inc(&taker, 1);

        let (buy, buy_role, sell, sell_role) = if maker.side == Side::Buy {
            (maker, 0, taker, 1)
        } else {
            (taker, 1, maker, 0)
        };
        let buyer_fee = if buy_role == 0 { maker_fee } else { taker_fee };
        let seller_fee = if sell_role == 0 { maker_fee } else { taker_fee };
        let buyer_uses = notional
            .checked_add(buyer_fee)
            .ok_or(Inconsistent("buyer consumption overflow"))?;
        if buy.reserved < buyer_uses {
            return Err(Inconsistent("buy reservation short"));
        }
        if sell.reserved < base_amount {
            return Err(Inconsistent("sell reservation short"));
        }
        let seller_gets = notional
            .checked_sub(seller_fee)
            .ok_or(Inconsistent("seller fee above notional"))?;
        let fees = buyer_fee
            .checked_add(seller_fee)
            .ok_or(Inconsistent("fee overflow"))?;
        {
            let ba = self
                .acct(buy.account)
                .ok_or(Inconsistent("buyer account missing"))?;
            let sa = self
                .acct(sell.account)
                .ok_or(Inconsistent("seller account missing"))?;
            if ba.balance(spec.quote).reserved < buyer_uses
                || sa.balance(spec.base).reserved < base_amount
            {
                return Err(Inconsistent("account reserved below order reservation"));
            }
            if self.acct(self.cfg.fee_account).is_none() {
                return Err(Inconsistent("fee account missing"));
            }
        }

        // Validated: apply. Credits cannot overflow (balances ≤ supply ≤ u64::MAX,
        // and settlement conserves supply), so plain arithmetic is exact here.
        let fee_acct = self.cfg.fee_account;
        if let Some(a) = self.acct_mut(buy.account) {
            a.balance_mut(spec.quote).reserved -= buyer_uses;
        }
        if let Some(a) = self.acct_mut(sell.account) {
            a.balance_mut(spec.base).reserved -= base_amount;
        }
        if let Some(a) = self.acct_mut(buy.account) {
            a.balance_mut(spec.base).available += base_amount;
        }
        if let Some(a) = self.acct_mut(sell.account) {
            a.balance_mut(spec.quote).available += seller_gets;
        }
        if fees > 0
            && let Some(a) = self.acct_mut(fee_acct)
        {
            a.balance_mut(spec.quote).available += fees;
        }

        let update = |o: &mut OrderRisk, role: usize, cum: u128, total: u128, used: u64| {
            o.leaves -= fill.qty;
            o.reserved -= used;
            o.cum_notional[role] = cum;
            o.fees_paid[role] = total;
        };
        if let Some(o) = self.orders.get_mut(&fill.maker_order) {
            let used = if maker.side == Side::Buy {
                buyer_uses
            } else {
                base_amount
            };
            update(o, 0, m_cum, m_total, used);
        }
        if let Some(o) = self.orders.get_mut(&fill.taker_order) {
            let used = if taker.side == Side::Buy {
                buyer_uses
            } else {
                base_amount
            };
            update(o, 1, t_cum, t_total, used);
        }
        let maker_done = maker.leaves == fill.qty;
        let taker_done = taker.leaves == fill.qty;
        if maker_done {
            self.release(fill.maker_order);
        }
        if taker_done {
            self.release(fill.taker_order);
        }
        if let Some(i) = self.inst_mut(spec.id) {
            i.last_price = Some(fill.price);
        }
        Ok(Settlement {
            instrument: spec.id,
            buyer: buy.account,
            seller: sell.account,
            base_amount,
            notional,
            maker_fee,
            taker_fee,
            maker_done,
            taker_done,
        })
    }

    // ---------------------------------------------------------------- invariants

    /// Verifies conservation (per asset, Σ balances == supply) and reservation
    /// bookkeeping (per account and asset, reserved == Σ open-order reservations;
    /// open-order counts match). Returns the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut sums: BTreeMap<AssetId, u128> = BTreeMap::new();
        let mut held: BTreeMap<(AccountId, AssetId), u128> = BTreeMap::new();
        let mut counts: BTreeMap<AccountId, u32> = BTreeMap::new();
        for (id, o) in &self.orders {
            let inst = self
                .inst(o.instrument)
                .ok_or_else(|| format!("order {id} on unknown instrument"))?;
            *held
                .entry((o.account, inst.spec.asset_for(o.side)))
                .or_insert(0) += u128::from(o.reserved);
            *counts.entry(o.account).or_insert(0) += 1;
        }
        for a in self.accounts.iter().flatten() {
            for (asset, b) in &a.balances {
                *sums.entry(*asset).or_insert(0) += b.total();
                let h = held.remove(&(a.spec.id, *asset)).unwrap_or(0);
                if u128::from(b.reserved) != h {
                    return Err(format!(
                        "account {} asset {asset}: reserved {} but open orders hold {h}",
                        a.spec.id, b.reserved
                    ));
                }
            }
            let c = counts.remove(&a.spec.id).unwrap_or(0);
            if c != a.open_orders {
                return Err(format!(
                    "account {}: open_orders {} but {c} orders recorded",
                    a.spec.id, a.open_orders
                ));
            }
        }
        if let Some(((acct, asset), h)) = held.into_iter().find(|(_, h)| *h != 0) {
            return Err(format!(
                "orders hold {h} of asset {asset} for account {acct} with no balance"
            ));
        }
        if let Some((acct, _)) = counts.into_iter().next() {
            return Err(format!("orders recorded for missing account {acct}"));
        }
        for (asset, s) in &self.supply {
            let got = sums.remove(asset).unwrap_or(0);
            if got != u128::from(*s) {
                return Err(format!("asset {asset}: balances sum {got}, supply {s}"));
            }
        }
        if let Some((asset, got)) = sums.into_iter().find(|(_, g)| *g != 0) {
            return Err(format!("asset {asset}: balances sum {got} with no supply"));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- snapshot

    /// Writes the canonical encoding of the whole risk state (the same bytes feed
    /// the state hash and the snapshot).
    pub fn encode(&self, out: &mut impl Sink) {
        out.put_u32(SNAP_MAGIC);
        out.put_u32(SNAP_VERSION);
        out.put_u32(self.cfg.fee_account);
        out.put_u32(self.cfg.max_accounts);
        out.put_u32(self.cfg.max_instruments);
        let insts: Vec<&Instrument> = self.instruments.iter().flatten().collect();
        out.put_u64(insts.len() as u64);
        for i in insts {
            encode_spec(&i.spec, out);
            out.put_bool(i.halted);
            encode_opt_price(i.last_price, out);
        }
        let accts: Vec<&Account> = self.accounts.iter().flatten().collect();
        out.put_u64(accts.len() as u64);
        for a in accts {
            out.put_u32(a.spec.id);
            out.put_u64(a.spec.max_order_notional);
            encode_opt_fees(a.spec.fee_override, out);
            out.put_bool(a.suspended);
            out.put_u64(a.balances.len() as u64);
            for (asset, b) in &a.balances {
                out.put_u32(*asset);
                out.put_u64(b.available);
                out.put_u64(b.reserved);
            }
        }
        out.put_u64(self.orders.len() as u64);
        for id in idmap::sorted_keys(&self.orders) {
            let Some(o) = self.orders.get(&id) else {
                continue;
            };
            out.put_u64(id);
            out.put_u32(o.account);
            out.put_u32(o.instrument);
            out.put_u8(o.side.code());
            match o.basis {
                Basis::Limit(p) => {
                    out.put_u8(0);
                    out.put_i64(p);
                }
                Basis::Budget(b) => {
                    out.put_u8(1);
                    out.put_u64(b);
                }
            }
            out.put_u64(o.leaves);
            out.put_u64(o.reserved);
            out.put_u16(o.fees.maker_bps);
            out.put_u16(o.fees.taker_bps);
            for r in 0..2 {
                out.put_u128(o.cum_notional[r]);
                out.put_u128(o.fees_paid[r]);
            }
        }
        out.put_u64(self.supply.len() as u64);
        for (asset, s) in &self.supply {
            out.put_u32(*asset);
            out.put_u64(*s);
        }
    }

    /// Decodes what [`Risk::encode`] wrote; validates structure and invariants.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let magic = r.u32()?;
        if magic != SNAP_MAGIC {
            return Err(SnapshotError::BadMagic { found: magic });
        }
        let version = r.u32()?;
        if version != SNAP_VERSION {
            return Err(SnapshotError::BadVersion { found: version });
        }
        let cfg = RiskConfig {
            fee_account: r.u32()?,
            max_accounts: r.u32()?,
            max_instruments: r.u32()?,
            order_capacity: RiskConfig::default().order_capacity,
        };
        let mut risk = Risk {
            cfg,
            instruments: Vec::new(),
            accounts: Vec::new(),
            orders: idmap::with_capacity(cfg.order_capacity),
            supply: BTreeMap::new(),
        };
        let n = r.count(40)?;
        for _ in 0..n {
            let spec = decode_spec(r)?;
            let halted = r.bool()?;
            let last_price = decode_opt_price(r)?;
            risk.add_instrument(spec)
                .map_err(|_| SnapshotError::Invalid { what: "instrument" })?;
            if let Some(i) = risk.inst_mut(spec.id) {
                i.halted = halted;
                i.last_price = last_price;
            }
        }
        let n = r.count(20)?;
        let mut last_id = None;
        for _ in 0..n {
            let id = r.u32()?;
            if last_id.is_some_and(|l| l >= id) {
                return Err(SnapshotError::Invalid {
                    what: "account order",
                });
            }
            last_id = Some(id);
            let spec = AccountSpec {
                id,
                max_order_notional: r.u64()?,
                fee_override: decode_opt_fees(r)?,
            };
            let suspended = r.bool()?;
            let nb = r.count(20)?;
            let mut balances = Vec::with_capacity(nb);
            for _ in 0..nb {
                let asset = r.u32()?;
                if balances.last().is_some_and(|(a, _)| *a >= asset) {
                    return Err(SnapshotError::Invalid {
                        what: "balance order",
                    });
                }
                balances.push((
                    asset,
                    Balance {
                        available: r.u64()?,
                        reserved: r.u64()?,
                    },
                ));
            }
            let i = id as usize;
            if id >= cfg.max_accounts && id != cfg.fee_account {
                return Err(SnapshotError::Invalid { what: "account id" });
            }
            if risk.accounts.len() <= i {
                risk.accounts.resize(i + 1, None);
            }
            risk.accounts[i] = Some(Account {
                spec,
                suspended,
                balances,
                open_orders: 0,
            });
        }
        let n = r.count(60)?;
        let mut last_order: Option<OrderId> = None;
        for _ in 0..n {
            let id = r.u64()?;
            let account = r.u32()?;
            let instrument = r.u32()?;
            let side =
                Side::from_code(r.u8()?).map_err(|_| SnapshotError::Invalid { what: "side" })?;
            let basis = match r.u8()? {
                0 => Basis::Limit(r.i64()?),
                1 => Basis::Budget(r.u64()?),
                _ => return Err(SnapshotError::Invalid { what: "basis" }),
            };
            let leaves = r.u64()?;
            let reserved = r.u64()?;
            let fees = FeeRates {
                maker_bps: r.u16()?,
                taker_bps: r.u16()?,
            };
            let mut cum_notional = [0u128; 2];
            let mut fees_paid = [0u128; 2];
            for k in 0..2 {
                cum_notional[k] = r.u128()?;
                fees_paid[k] = r.u128()?;
            }
            if last_order.is_some_and(|l| l >= id) {
                return Err(SnapshotError::Invalid {
                    what: "order order",
                });
            }
            last_order = Some(id);
            let acct = risk.acct_mut(account).ok_or(SnapshotError::Invalid {
                what: "order account",
            })?;
            acct.open_orders += 1;
            risk.orders.insert(
                id,
                OrderRisk {
                    account,
                    instrument,
                    side,
                    basis,
                    leaves,
                    reserved,
                    fees,
                    cum_notional,
                    fees_paid,
                },
            );
        }
        let n = r.count(12)?;
        for _ in 0..n {
            let asset = r.u32()?;
            let s = r.u64()?;
            if risk.supply.insert(asset, s).is_some() {
                return Err(SnapshotError::Invalid {
                    what: "duplicate supply",
                });
            }
        }
        if risk.acct(cfg.fee_account).is_none() {
            return Err(SnapshotError::Invalid {
                what: "fee account missing",
            });
        }
        risk.check_invariants()
            .map_err(|_| SnapshotError::Invalid {
                what: "risk invariants",
            })?;
        Ok(risk)
    }
}

fn encode_spec(s: &InstrumentSpec, out: &mut impl Sink) {
    out.put_u32(s.id);
    out.put_u32(s.base);
    out.put_u32(s.quote);
    out.put_u64(s.base_per_lot);
    out.put_u64(s.quote_per_tick_lot);
    out.put_u64(s.price_step);
    out.put_u64(s.qty_step);
    out.put_u64(s.min_qty);
    out.put_u64(s.max_qty);
    out.put_u32(s.collar.bps);
    out.put_u64(s.collar.ticks);
    out.put_u16(s.fees.maker_bps);
    out.put_u16(s.fees.taker_bps);
}

fn decode_spec(r: &mut Reader<'_>) -> Result<InstrumentSpec, SnapshotError> {
    Ok(InstrumentSpec {
        id: r.u32()?,
        base: r.u32()?,
        quote: r.u32()?,
        base_per_lot: r.u64()?,
        quote_per_tick_lot: r.u64()?,
        price_step: r.u64()?,
        qty_step: r.u64()?,
        min_qty: r.u64()?,
        max_qty: r.u64()?,
        collar: Collar {
            bps: r.u32()?,
            ticks: r.u64()?,
        },
        fees: FeeRates {
            maker_bps: r.u16()?,
            taker_bps: r.u16()?,
        },
    })
}

fn encode_opt_price(p: Option<Price>, out: &mut impl Sink) {
    match p {
        Some(p) => {
            out.put_u8(1);
            out.put_i64(p);
        }
        None => out.put_u8(0),
    }
}

fn decode_opt_price(r: &mut Reader<'_>) -> Result<Option<Price>, SnapshotError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.i64()?)),
        _ => Err(SnapshotError::Invalid { what: "option tag" }),
    }
}

fn encode_opt_fees(f: Option<FeeRates>, out: &mut impl Sink) {
    match f {
        Some(f) => {
            out.put_u8(1);
            out.put_u16(f.maker_bps);
            out.put_u16(f.taker_bps);
        }
        None => out.put_u8(0),
    }
}

fn decode_opt_fees(r: &mut Reader<'_>) -> Result<Option<FeeRates>, SnapshotError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(FeeRates {
            maker_bps: r.u16()?,
            taker_bps: r.u16()?,
        })),
        _ => Err(SnapshotError::Invalid { what: "option tag" }),
    }
}

#[cfg(test)]
mod tests;
