//! Integer domain types shared by the wire format, the order book, risk and the
//! gateways.
//!
//! Everything here is plain data with a stable `u8` encoding so that the wire
//! format ([`crate::msg`] once it lands) can carry it without translation tables.
//! Prices are signed integer ticks (some markets trade below zero), quantities
//! unsigned integer lots. Decimal conversion happens only at the edges.

use core::fmt;

/// Price in integer ticks of the instrument's tick size.
pub type Price = i64;
/// Quantity in integer lots of the instrument's lot size.
pub type Qty = u64;
/// Exchange-assigned order id: unique for the life of the venue, never reused.
pub type OrderId = u64;
/// Client-assigned order id (FIX ClOrdID mapped to an integer by the gateway).
pub type ClientOrderId = u64;
/// Instrument (order book) id.
pub type InstrumentId = u32;
/// Account id: the owner of balances and the unit of self-trade prevention.
pub type AccountId = u32;
/// Asset id (a currency or coin): an instrument trades base against quote.
pub type AssetId = u32;
/// Gateway session id: which connection a command came from and where replies go.
pub type SessionId = u32;
/// Execution (trade) id, unique per venue.
pub type ExecId = u64;
/// Global sequence number of a message in the inbound stream.
pub type Seq = u64;

/// Error returned when a `u8` code does not name a value of an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCode {
    /// Which enum was being decoded.
    pub what: &'static str,
    /// The code that was found.
    pub code: u8,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} code {}", self.what, self.code)
    }
}

impl std::error::Error for UnknownCode {}

/// Declares a `#[repr(u8)]` enum with `code()` / `from_code()` conversions, so that
/// every enum on the wire has one exhaustive, tested mapping.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $code ),+
        }

        impl $name {
            /// Every value, in code order (for tests and generators).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable wire code of this value.
            #[inline]
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// Decodes a wire code; unknown codes are an error, never a panic.
            #[inline]
            pub const fn from_code(code: u8) -> Result<Self, $crate::types::UnknownCode> {
                match code {
                    $( $code => Ok($name::$variant), )+
                    _ => Err($crate::types::UnknownCode { what: $what, code }),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// Side of an order.
    Side, "side" {
        /// Buy: rests on the bid side.
        Buy = 1,
        /// Sell: rests on the ask side.
        Sell = 2,
    }
}

impl Side {
    /// The other side.
    #[inline]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

wire_enum! {
    /// How an order is priced.
    OrderType, "order type" {
        /// Limit order: trades at its price or better.
        Limit = 1,
        /// Market order: trades at any price (a buy must carry a notional cap).
        Market = 2,
        /// Stop-market: becomes a market order when the last trade crosses the stop price.
        Stop = 3,
        /// Stop-limit: becomes a limit order when the last trade crosses the stop price.
        StopLimit = 4,
    }
}

wire_enum! {
    /// How long an order may rest.
    TimeInForce, "time in force" {
        /// Good till cancelled.
        Gtc = 1,
        /// Good for the trading session: expired by an explicit session-end command.
        Day = 2,
        /// Immediate or cancel: the unfilled rest is cancelled, never rests.
        Ioc = 3,
        /// Fill or kill: fills completely at once or not at all.
        Fok = 4,
    }
}

wire_enum! {
    /// Self-trade prevention: what happens when an order would trade against a
    /// resting order of the same account.
    StpMode, "self-trade prevention mode" {
        /// No prevention: the account may trade with itself.
        None = 0,
        /// Cancel the resting order and keep matching the aggressor.
        CancelResting = 1,
        /// Cancel the (rest of the) aggressor.
        CancelAggressor = 2,
        /// Cancel both the resting order and the aggressor.
        CancelBoth = 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_errors() {
        for s in Side::ALL {
            assert_eq!(Side::from_code(s.code()), Ok(*s));
        }
        for t in OrderType::ALL {
            assert_eq!(OrderType::from_code(t.code()), Ok(*t));
        }
        for t in TimeInForce::ALL {
            assert_eq!(TimeInForce::from_code(t.code()), Ok(*t));
        }
        for m in StpMode::ALL {
            assert_eq!(StpMode::from_code(m.code()), Ok(*m));
        }
        assert_eq!(
            Side::from_code(0),
            Err(UnknownCode {
                what: "side",
                code: 0
            })
        );
        assert!(TimeInForce::from_code(200).is_err());
    }

    #[test]
    fn opposite_side() {
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert_eq!(Side::Sell.opposite(), Side::Buy);
    }
}
