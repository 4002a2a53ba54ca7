//! Typed outcomes of risk operations: pre-trade rejections, admin errors, and the
//! internal-inconsistency error that settlement reports instead of corrupting state.

use core::fmt;

/// Why risk refused an order (or a replace). Stable `u8` codes for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RejectReason {
    /// The instrument id names no instrument.
    UnknownInstrument = 1,
    /// The account id names no account.
    UnknownAccount = 2,
    /// The account is suspended: it may cancel but not place or replace.
    AccountSuspended = 3,
    /// The instrument is halted.
    InstrumentHalted = 4,
    /// Available balance does not cover the reservation.
    InsufficientFunds = 5,
    /// Price (or stop price) is not a multiple of the instrument's price step.
    PriceOffTick = 6,
    /// Price (or stop price) is not positive.
    PriceOutOfRange = 7,
    /// Quantity is not a multiple of the instrument's lot step.
    QtyOffLot = 8,
    /// Quantity is below the instrument's minimum or above its maximum.
    QtyOutOfRange = 9,
    /// Limit price is outside the collar around the last trade.
    PriceOutsideCollar = 10,
    /// Order notional exceeds the account's per-order limit.
    NotionalLimitExceeded = 11,
    /// A market (or stop-market) buy carried no quote budget.
    MarketBuyWithoutBudget = 12,
    /// Notional or amount does not fit 64 bits.
    AmountOverflow = 13,
    /// The order (for a replace) is not known to risk: not open.
    UnknownOrder = 14,
    /// The order id is already in use (a caller bug: ids are never reused).
    DuplicateOrderId = 15,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: &'static [RejectReason] = &[
        RejectReason::UnknownInstrument,
        RejectReason::UnknownAccount,
        RejectReason::AccountSuspended,
        RejectReason::InstrumentHalted,
        RejectReason::InsufficientFunds,
        RejectReason::PriceOffTick,
        RejectReason::PriceOutOfRange,
        RejectReason::QtyOffLot,
        RejectReason::QtyOutOfRange,
        RejectReason::PriceOutsideCollar,
        RejectReason::NotionalLimitExceeded,
        RejectReason::MarketBuyWithoutBudget,
        RejectReason::AmountOverflow,
        RejectReason::UnknownOrder,
        RejectReason::DuplicateOrderId,
    ];

    /// The stable wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Decodes a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.code() == code)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RejectReason::UnknownInstrument => "unknown instrument",
            RejectReason::UnknownAccount => "unknown account",
            RejectReason::AccountSuspended => "account suspended",
            RejectReason::InstrumentHalted => "instrument halted",
            RejectReason::InsufficientFunds => "insufficient funds",
            RejectReason::PriceOffTick => "price off tick",
            RejectReason::PriceOutOfRange => "price out of range",
            RejectReason::QtyOffLot => "quantity off lot",
            RejectReason::QtyOutOfRange => "quantity out of range",
            RejectReason::PriceOutsideCollar => "price outside collar",
            RejectReason::NotionalLimitExceeded => "notional above account limit",
            RejectReason::MarketBuyWithoutBudget => "market buy without quote budget",
            RejectReason::AmountOverflow => "amount overflows 64 bits",
            RejectReason::UnknownOrder => "unknown order",
            RejectReason::DuplicateOrderId => "duplicate order id",
        };
        f.write_str(s)
    }
}

/// Why an admin command (add instrument/account, deposit, withdraw, suspend,
/// halt) was refused. Stable `u8` codes for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AdminError {
    /// The id is beyond the configured capacity.
    IdOutOfRange = 1,
    /// An instrument with this id exists already.
    DuplicateInstrument = 2,
    /// An account with this id exists already.
    DuplicateAccount = 3,
    /// No such instrument.
    UnknownInstrument = 4,
    /// No such account.
    UnknownAccount = 5,
    /// The instrument spec is inconsistent (see [`super::InstrumentSpec::validate`]).
    InvalidSpec = 6,
    /// A withdrawal exceeds the available balance.
    InsufficientFunds = 7,
    /// A deposit would make the asset's total supply exceed `u64::MAX`.
    Overflow = 8,
    /// Zero amount.
    ZeroAmount = 9,
}

impl AdminError {
    /// The stable wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AdminError::IdOutOfRange => "id beyond configured capacity",
            AdminError::DuplicateInstrument => "instrument exists",
            AdminError::DuplicateAccount => "account exists",
            AdminError::UnknownInstrument => "unknown instrument",
            AdminError::UnknownAccount => "unknown account",
            AdminError::InvalidSpec => "invalid instrument spec",
            AdminError::InsufficientFunds => "insufficient available balance",
            AdminError::Overflow => "asset supply would overflow",
            AdminError::ZeroAmount => "zero amount",
        };
        f.write_str(s)
    }
}

impl std::error::Error for AdminError {}

/// Settlement found state that cannot occur if every caller followed the protocol
/// (a fill for an unknown order, a reservation too small). Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inconsistent(pub &'static str);

impl fmt::Display for Inconsistent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "risk state inconsistency: {}", self.0)
    }
}

impl std::error::Error for Inconsistent {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_codes_round_trip() {
        for r in RejectReason::ALL {
            assert_eq!(RejectReason::from_code(r.code()), Some(*r));
            assert!(!r.to_string().is_empty());
        }
        assert_eq!(RejectReason::from_code(0), None);
        assert_eq!(RejectReason::from_code(200), None);
    }
}
