//! Instrument and account parameters, and the integer money arithmetic they define.
//!
//! # Units
//!
//! Balances are `u64` counts of an asset's smallest unit (satoshi, 1e-8 USD, ...).
//! An instrument trades `base` against `quote`, with prices in integer ticks and
//! quantities in integer lots. Two integer multipliers per instrument tie them to
//! asset units:
//!
//! - `base_per_lot`: base units in one lot, so `base_amount = qty × base_per_lot`;
//! - `quote_per_tick_lot`: quote units for one tick of price on one lot, so
//!   `notional = price × qty × quote_per_tick_lot`.
//!
//! Choose the asset units fine enough that both are integers (for BTC/USD with a
//! 0.01 USD tick and a 0.0001 BTC lot, a quote unit of 1e-8 USD gives
//! `quote_per_tick_lot = 100`). All products are computed in `u128` and must fit a
//! `u64`, or the order is rejected ([`super::RejectReason::AmountOverflow`]).
//! Prices of risk-checked orders must be positive.
//!
//! # Fees
//!
//! Fees are basis points of notional, charged in the quote asset to both sides
//! (maker rate to the resting order, taker rate to the aggressor) and credited to
//! the venue's fee account. The buyer pays on top of the notional; the seller's fee
//! is deducted from its proceeds. Rounding is deterministic and per order,
//! cumulative: after each fill an order has paid exactly
//! `ceil(cumulative_notional × bps / 10_000)` at each rate, so splitting an order's
//! fills never changes what it pays in total, and the venue never under-collects.

use crate::types::{AccountId, AssetId, InstrumentId, Price, Qty, Side};

/// Basis points in one whole (100%).
pub const BPS_DENOM: u128 = 10_000;

/// Maker and taker fee rates in basis points (each at most 10 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeRates {
    /// Rate charged on fills where the order was resting.
    pub maker_bps: u16,
    /// Rate charged on fills where the order was the aggressor.
    pub taker_bps: u16,
}

impl FeeRates {
    /// The larger of the two rates: what a buy's reservation must cover.
    pub fn max_bps(&self) -> u16 {
        self.maker_bps.max(self.taker_bps)
    }

    /// True when both rates are at most 100%.
    pub fn is_valid(&self) -> bool {
        u128::from(self.maker_bps) <= BPS_DENOM && u128::from(self.taker_bps) <= BPS_DENOM
    }
}

/// Price collar around the last trade: a limit price further than `band` ticks
/// from the last trade is rejected, where `band = max(ticks, last × bps / 10 000)`
/// over the parts that are non-zero. Both zero disables the collar; there is no
/// collar before an instrument's first trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Collar {
    /// Band as basis points of the last trade price (0 = this part off).
    pub bps: u32,
    /// Band as an absolute number of ticks (0 = this part off).
    pub ticks: u64,
}

impl Collar {
    /// The allowed distance in ticks from `last`, or `None` if the collar is off.
    pub fn band(&self, last: Price) -> Option<u64> {
        if self.bps == 0 && self.ticks == 0 {
            return None;
        }
        let pct = u128::from(last.unsigned_abs()) * u128::from(self.bps) / BPS_DENOM;
        let pct = u64::try_from(pct).unwrap_or(u64::MAX);
        Some(pct.max(self.ticks))
    }

    /// True when `price` lies inside the band around `last` (or the collar is off).
    pub fn allows(&self, last: Option<Price>, price: Price) -> bool {
        match (last, last.and_then(|l| self.band(l))) {
            (Some(l), Some(band)) => {
                let dist = (i128::from(price) - i128::from(l)).unsigned_abs();
                dist <= u128::from(band)
            }
            _ => true,
        }
    }
}

/// Everything risk needs to know about an instrument. Added by an admin command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// The instrument (order book) id.
    pub id: InstrumentId,
    /// Asset bought by a buy order.
    pub base: AssetId,
    /// Asset paid by a buy order (and the fee asset).
    pub quote: AssetId,
    /// Base-asset units in one lot (> 0).
    pub base_per_lot: u64,
    /// Quote-asset units for one tick of price on one lot (> 0).
    pub quote_per_tick_lot: u64,
    /// Prices must be a multiple of this many ticks (≥ 1; 1 = every tick). Lets a
    /// gateway that passes raw fine-grained units have off-tick prices rejected.
    pub price_step: u64,
    /// Quantities must be a multiple of this many lots (≥ 1).
    pub qty_step: u64,
    /// Smallest order quantity in lots (≥ 1).
    pub min_qty: Qty,
    /// Largest order quantity in lots.
    pub max_qty: Qty,
    /// Price collar around the last trade.
    pub collar: Collar,
    /// Default fee rates (an account may override them).
    pub fees: FeeRates,
}

impl InstrumentSpec {
    /// Checks the spec's own consistency; returns what is wrong.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.base == self.quote {
            return Err("base and quote asset must differ");
        }
        if self.base_per_lot == 0 || self.quote_per_tick_lot == 0 {
            return Err("unit multipliers must be positive");
        }
        if self.price_step == 0 || self.qty_step == 0 {
            return Err("price and qty steps must be positive");
        }
        if self.min_qty == 0 || self.min_qty > self.max_qty {
            return Err("need 1 <= min_qty <= max_qty");
        }
        if !self.fees.is_valid() {
            return Err("fee rates above 10000 bps");
        }
        Ok(())
    }

    /// `price × qty × quote_per_tick_lot` in quote units; `None` if the price is not
    /// positive or the result does not fit a `u64`.
    pub fn notional(&self, price: Price, qty: Qty) -> Option<u64> {
        if price <= 0 {
            return None;
        }
        let n = u128::from(price.unsigned_abs())
            .checked_mul(u128::from(qty))?
            .checked_mul(u128::from(self.quote_per_tick_lot))?;
        u64::try_from(n).ok()
    }

    /// A quote budget in (ticks × lots) converted to quote units.
    pub fn budget_notional(&self, budget: u64) -> Option<u64> {
        budget.checked_mul(self.quote_per_tick_lot)
    }

    /// The asset an order on `side` reserves: quote for a buy, base for a sell.
    pub fn asset_for(&self, side: Side) -> AssetId {
        match side {
            Side::Buy => self.quote,
            Side::Sell => self.base,
        }
    }

    /// `qty × base_per_lot` in base units; `None` on overflow.
    pub fn base_amount(&self, qty: Qty) -> Option<u64> {
        qty.checked_mul(self.base_per_lot)
    }
}

/// Per-account limits and settings. Added by an admin command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountSpec {
    /// The account id.
    pub id: AccountId,
    /// Largest notional of one order, in the order's quote-asset units (0 = no
    /// limit). Meant for venues with one quote currency per account.
    pub max_order_notional: u64,
    /// Fee rates replacing the instruments' defaults for this account.
    pub fee_override: Option<FeeRates>,
}

/// Total fee owed on a cumulative notional at `bps`: `ceil(n × bps / 10 000)`.
pub fn fee_total(cum_notional: u128, bps: u16) -> u128 {
    (cum_notional * u128::from(bps)).div_ceil(BPS_DENOM)
}

/// Quote units a buy must hold back for fees on up to `notional` of fills at rates
/// up to `max_bps`: `ceil(notional × max_bps / 10 000) + 1` (the `+1` covers the
/// two rates rounding up separately), or 0 when fees are off. `None` on overflow.
pub fn fee_bound(notional: u64, max_bps: u16) -> Option<u64> {
    if max_bps == 0 {
        return Some(0);
    }
    let f = fee_total(u128::from(notional), max_bps) + 1;
    u64::try_from(f).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> InstrumentSpec {
        InstrumentSpec {
            id: 1,
            base: 1,
            quote: 2,
            base_per_lot: 10,
            quote_per_tick_lot: 3,
            price_step: 1,
            qty_step: 1,
            min_qty: 1,
            max_qty: 1000,
            collar: Collar::default(),
            fees: FeeRates::default(),
        }
    }

    #[test]
    fn unit_conversions() {
        let s = spec();
        assert_eq!(s.notional(100, 7), Some(2100));
        assert_eq!(s.notional(0, 7), None);
        assert_eq!(s.notional(-5, 7), None);
        assert_eq!(s.notional(i64::MAX, u64::MAX), None);
        assert_eq!(s.base_amount(7), Some(70));
        assert_eq!(s.base_amount(u64::MAX), None);
        assert_eq!(s.budget_notional(50), Some(150));
    }

    #[test]
    fn fee_rounding_is_ceiling_and_cumulative() {
        assert_eq!(fee_total(0, 25), 0);
        assert_eq!(fee_total(1, 25), 1);
        assert_eq!(fee_total(400, 25), 1);
        assert_eq!(fee_total(401, 25), 2);
        assert_eq!(fee_bound(400, 0), Some(0));
        assert_eq!(fee_bound(400, 25), Some(2));
        assert_eq!(fee_bound(u64::MAX, 10_000), None);
    }

    #[test]
    fn collar_band() {
        let off = Collar::default();
        assert!(off.allows(Some(100), 1_000_000));
        let c = Collar {
            bps: 1000,
            ticks: 0,
        };
        assert!(c.allows(None, 1));
        assert!(c.allows(Some(1000), 1100));
        assert!(c.allows(Some(1000), 900));
        assert!(!c.allows(Some(1000), 1101));
        assert!(!c.allows(Some(1000), 899));
        let c = Collar {
            bps: 1000,
            ticks: 5,
        };
        assert!(c.allows(Some(10), 15));
        assert!(!c.allows(Some(10), 16));
    }

    #[test]
    fn spec_validation() {
        assert_eq!(spec().validate(), Ok(()));
        let mut s = spec();
        s.quote = s.base;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.min_qty = 0;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.fees.taker_bps = 10_001;
        assert!(s.validate().is_err());
    }
}
