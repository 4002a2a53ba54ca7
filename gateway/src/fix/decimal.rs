//! Decimal text <-> integer ticks and lots, exactly, without floating point.
//!
//! FIX carries prices and quantities as decimal text (`42000.25`); inside the
//! engine they are integer multiples of the instrument's tick size
//! ([`engine::types::Price`]) and lot size ([`engine::types::Qty`]). A [`Tick`]
//! is an increment written as integer mantissa and power-of-ten exponent
//! (0.01 = `(1, -2)`, 0.5 = `(5, -1)`, 25 = `(25, 0)`), so every conversion is
//! integer arithmetic: a value that is not a whole number of increments is
//! rejected (off-tick), never rounded.

use core::fmt;

use serde::Deserialize;

/// Largest exponent magnitude accepted for a [`Tick`].
pub const MAX_TICK_EXPONENT: i8 = 18;

/// Longest decimal text accepted (digits, sign and point): beyond it the value
/// cannot fit an `i64` of any increment we accept, so it is `Overflow`.
pub const MAX_DECIMAL_TEXT_LEN: usize = 64;

/// Size of the buffer [`ticks_to_decimal`] / [`lots_to_decimal`] write into;
/// large enough for any `i64`/`u64` count of any valid [`Tick`].
pub const DECIMAL_BUF_LEN: usize = 80;

/// Why a decimal could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not a plain decimal number (`-`? digits, optionally `.` digits).
    Malformed,
    /// Not a whole multiple of the increment.
    OffTick,
    /// Too large for the integer type.
    Overflow,
    /// Negative where only non-negative values are allowed (quantities).
    Negative,
    /// The increment itself is invalid (zero mantissa, exponent out of range).
    InvalidTick,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecimalError::Malformed => "malformed decimal",
            DecimalError::OffTick => "value is not a multiple of the increment",
            DecimalError::Overflow => "value out of range",
            DecimalError::Negative => "negative value not allowed",
            DecimalError::InvalidTick => "invalid tick/lot size",
        })
    }
}

impl std::error::Error for DecimalError {}

/// A price tick or quantity lot size: `mantissa * 10^exponent`.
///
/// Deserializes from a decimal string (`"0.01"`) or a table
/// (`{ mantissa = 1, exponent = -2 }`); both are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "TickRepr")]
pub struct Tick {
    mantissa: u64,
    exponent: i8,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TickRepr {
    Text(String),
    Parts { mantissa: u64, exponent: i8 },
}

impl TryFrom<TickRepr> for Tick {
    type Error = DecimalError;
    fn try_from(r: TickRepr) -> Result<Tick, DecimalError> {
        match r {
            TickRepr::Text(s) => Tick::parse(s.as_bytes()),
            TickRepr::Parts { mantissa, exponent } => Tick::new(mantissa, exponent),
        }
    }
}

impl Tick {
    /// An increment of `mantissa * 10^exponent`; mantissa > 0, |exponent| <= 18.
    pub const fn new(mantissa: u64, exponent: i8) -> Result<Tick, DecimalError> {
        if mantissa == 0 || exponent < -MAX_TICK_EXPONENT || exponent > MAX_TICK_EXPONENT {
            return Err(DecimalError::InvalidTick);
        }
        Ok(Tick { mantissa, exponent })
    }

    /// Parses a positive decimal increment such as `0.01` or `25`.
    pub fn parse(text: &[u8]) -> Result<Tick, DecimalError> {
        let d = Parsed::from_text(text)?;
        if d.negative || d.digits == 0 {
            return Err(DecimalError::InvalidTick);
        }
        let mantissa = u64::try_from(d.digits).map_err(|_| DecimalError::InvalidTick)?;
        let exponent = i8::try_from(-i32::from(d.scale)).map_err(|_| DecimalError::InvalidTick)?;
        Tick::new(mantissa, exponent)
    }

    /// The mantissa.
    pub const fn mantissa(self) -> u64 {
        self.mantissa
    }

    /// The power-of-ten exponent.
    pub const fn exponent(self) -> i8 {
        self.exponent
    }

    /// Number of whole increments in `text` (exact), as an unsigned magnitude
    /// and a sign.
    fn count(self, text: &[u8]) -> Result<(bool, u128), DecimalError> {
        let d = Parsed::from_text(text)?;
        // value = digits * 10^-scale; increments = value / (m * 10^e)
        //       = digits * 10^(-scale - e) / m
        let k = -i32::from(d.scale) - i32::from(self.exponent);
        let m = u128::from(self.mantissa);
        let n = if k >= 0 {
            let p = pow10(k as u32).ok_or(DecimalError::Overflow)?;
            let num = d.digits.checked_mul(p).ok_or(DecimalError::Overflow)?;
            if num % m != 0 {
                return Err(DecimalError::OffTick);
            }
            num / m
        } else {
            let Some(p) = pow10((-k) as u32) else {
                // The increment is larger than anything the text can hold:
                // only zero is a multiple of it.
                return if d.digits == 0 {
                    Ok((d.negative, 0))
                } else {
                    Err(DecimalError::OffTick)
                };
            };
            let den = p.checked_mul(m).ok_or(DecimalError::OffTick)?;
            if d.digits % den != 0 {
                return Err(DecimalError::OffTick);
            }
            d.digits / den
        };
        Ok((d.negative && n != 0, n))
    }
}

fn pow10(k: u32) -> Option<u128> {
    10u128.checked_pow(k)
}

/// A decimal string as `digits * 10^-scale`, trailing fractional zeros removed.
struct Parsed {
    negative: bool,
    digits: u128,
    scale: u8,
}

impl Parsed {
    fn from_text(text: &[u8]) -> Result<Parsed, DecimalError> {
        if text.is_empty() {
            return Err(DecimalError::Malformed);
        }
        if text.len() > MAX_DECIMAL_TEXT_LEN {
            return Err(
                if text
                    .iter()
                    .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
                {
                    DecimalError::Overflow
                } else {
                    DecimalError::Malformed
                },
            );
        }
        let (negative, body) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, text),
        };
        let (int_part, frac_part) = match body.iter().position(|&b| b == b'.') {
            Some(p) => (&body[..p], &body[p + 1..]),
            None => (body, &[][..]),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DecimalError::Malformed);
        }
        // Trailing zeros of the fraction do not change the value.
        let frac_len = frac_part
            .iter()
            .rposition(|&b| b != b'0')
            .map_or(0, |p| p + 1);
        let mut digits: u128 = 0;
        let mut overflow = false;
        for &b in int_part.iter().chain(&frac_part[..frac_len]) {
            if !b.is_ascii_digit() {
                return Err(DecimalError::Malformed);
            }
            match digits
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(b - b'0')))
            {
                Some(v) => digits = v,
                None => overflow = true,
            }
        }
        if frac_part[frac_len..].iter().any(|b| !b.is_ascii_digit()) {
            return Err(DecimalError::Malformed);
        }
        if overflow {
            return Err(DecimalError::Overflow);
        }
        Ok(Parsed {
            negative,
            digits,
            scale: frac_len as u8, // <= MAX_DECIMAL_TEXT_LEN
        })
    }
}

/// Converts decimal text to a signed number of ticks (a price). Off-tick values,
/// values beyond `i64` and malformed text are errors.
pub fn decimal_to_ticks(text: &[u8], tick: Tick) -> Result<i64, DecimalError> {
    let (neg, n) = tick.count(text)?;
    if neg {
        if n == 1u128 << 63 {
            return Ok(i64::MIN);
        }
        i64::try_from(n)
            .map(|v| -v)
            .map_err(|_| DecimalError::Overflow)
    } else {
        i64::try_from(n).map_err(|_| DecimalError::Overflow)
    }
}

/// Converts decimal text to an unsigned number of lots (a quantity). Negative,
/// off-lot, too large and malformed values are errors.
pub fn decimal_to_lots(text: &[u8], lot: Tick) -> Result<u64, DecimalError> {
    let (neg, n) = lot.count(text)?;
    if neg {
        return Err(DecimalError::Negative);
    }
    u64::try_from(n).map_err(|_| DecimalError::Overflow)
}

/// Writes `ticks * tick` as decimal text into `buf` and returns it (no exponent
/// notation, no trailing fractional zeros, `0` for zero).
pub fn ticks_to_decimal(ticks: i64, tick: Tick, buf: &mut [u8; DECIMAL_BUF_LEN]) -> &[u8] {
    // |ticks| < 2^64 and mantissa < 2^64: the product fits u128.
    let v = u128::from(ticks.unsigned_abs()) * u128::from(tick.mantissa);
    write_decimal(ticks < 0, v, i32::from(tick.exponent), buf)
}

/// Writes `lots * lot` as decimal text into `buf` and returns it.
pub fn lots_to_decimal(lots: u64, lot: Tick, buf: &mut [u8; DECIMAL_BUF_LEN]) -> &[u8] {
    let v = u128::from(lots) * u128::from(lot.mantissa);
    write_decimal(false, v, i32::from(lot.exponent), buf)
}

/// Fractional digits [`avg_price_to_decimal`] keeps beyond the tick's own.
pub const AVG_PRICE_EXTRA_DIGITS: u32 = 6;

/// Writes the average price `notional / qty` (notional in ticks x lots, qty in
/// lots) as decimal text: the tick's precision plus [`AVG_PRICE_EXTRA_DIGITS`]
/// more digits, rounded half up; `0` when `qty` is zero.
pub fn avg_price_to_decimal(
    notional: u64,
    qty: u64,
    tick: Tick,
    buf: &mut [u8; DECIMAL_BUF_LEN],
) -> &[u8] {
    if qty == 0 {
        buf[0] = b'0';
        return &buf[..1];
    }
    let q = u128::from(qty);
    // Keep as many extra digits as fit: notional * 10^extra * mantissa must fit u128
    // (with extra = 0 it always does: both factors are below 2^64).
    let mut extra = AVG_PRICE_EXTRA_DIGITS;
    loop {
        let scale = 10u128.pow(extra);
        let fits = u128::from(notional)
            .checked_mul(scale)
            .map(|num| (num + q / 2) / q)
            .and_then(|scaled| scaled.checked_mul(u128::from(tick.mantissa)));
        if let Some(v) = fits {
            return write_decimal(false, v, i32::from(tick.exponent) - extra as i32, buf);
        }
        extra -= 1;
    }
}

/// Writes `v * 10^e` (exponent between -24 and 18) as plain decimal text.
fn write_decimal(negative: bool, v: u128, e: i32, buf: &mut [u8; DECIMAL_BUF_LEN]) -> &[u8] {
    if v == 0 {
        buf[0] = b'0';
        return &buf[..1];
    }
    // Digits of v, most significant first, into a scratch area.
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut x = v;
    while x > 0 {
        digits[n] = b'0' + (x % 10) as u8;
        x /= 10;
        n += 1;
    }
    digits[..n].reverse();
    let mut w = 0;
    let mut put = |b: u8, w: &mut usize| {
        buf[*w] = b;
        *w += 1;
    };
    if negative {
        put(b'-', &mut w);
    }
    if e >= 0 {
        for &d in &digits[..n] {
            put(d, &mut w);
        }
        for _ in 0..e {
            put(b'0', &mut w);
        }
        return &buf[..w];
    }
    let frac = (-e) as usize;
    // Significant fractional digits (drop trailing zeros).
    let trailing = digits[..n]
        .iter()
        .rev()
        .take_while(|&&d| d == b'0')
        .count()
        .min(frac);
    if n > frac {
        for &d in &digits[..n - frac] {
            put(d, &mut w);
        }
    } else {
        put(b'0', &mut w);
    }
    if trailing < frac {
        put(b'.', &mut w);
        for _ in n..frac {
            put(b'0', &mut w);
        }
        let first_frac = n.saturating_sub(frac);
        for &d in &digits[first_frac..n - trailing] {
            put(d, &mut w);
        }
    }
    &buf[..w]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(m: u64, e: i8) -> Tick {
        Tick::new(m, e).unwrap()
    }

    #[test]
    fn converts_on_tick_values() {
        let cent = t(1, -2);
        assert_eq!(decimal_to_ticks(b"42000.25", cent), Ok(4_200_025));
        assert_eq!(decimal_to_ticks(b"42000.250000", cent), Ok(4_200_025));
        assert_eq!(decimal_to_ticks(b"-0.01", cent), Ok(-1));
        assert_eq!(decimal_to_ticks(b"0", cent), Ok(0));
        assert_eq!(decimal_to_ticks(b"-0", cent), Ok(0));
        assert_eq!(decimal_to_ticks(b".5", cent), Ok(50));
        assert_eq!(decimal_to_ticks(b"5.", cent), Ok(500));
        assert_eq!(decimal_to_ticks(b"007", cent), Ok(700));
        let half = t(5, -1);
        assert_eq!(decimal_to_ticks(b"1.5", half), Ok(3));
        assert_eq!(decimal_to_ticks(b"1.2", half), Err(DecimalError::OffTick));
        let quarter_k = t(25, 1); // 250
        assert_eq!(decimal_to_ticks(b"1000", quarter_k), Ok(4));
        assert_eq!(
            decimal_to_ticks(b"100", quarter_k),
            Err(DecimalError::OffTick)
        );
        assert_eq!(decimal_to_lots(b"1.5", t(1, -3)), Ok(1500));
        assert_eq!(decimal_to_lots(b"-1", t(1, 0)), Err(DecimalError::Negative));
        assert_eq!(
            decimal_to_lots(b"0.0001", t(1, -3)),
            Err(DecimalError::OffTick)
        );
    }

    #[test]
    fn rejects_malformed_and_overflow() {
        let cent = t(1, -2);
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"-.",
            b"1.2.3",
            b"+1",
            b"1e5",
            b" 1",
            b"1 ",
            b"0x10",
            b"1,5",
            b"--1",
            b"NaN",
        ] {
            assert_eq!(
                decimal_to_ticks(bad, cent),
                Err(DecimalError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            decimal_to_ticks(b"92233720368547758.07", cent),
            Ok(i64::MAX)
        );
        assert_eq!(
            decimal_to_ticks(b"-92233720368547758.08", cent),
            Ok(i64::MIN)
        );
        assert_eq!(
            decimal_to_ticks(b"92233720368547758.08", cent),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            decimal_to_ticks(b"999999999999999999999999999999999999999999", cent),
            Err(DecimalError::Overflow)
        );
        let long = [b'1'; 100];
        assert_eq!(decimal_to_ticks(&long, cent), Err(DecimalError::Overflow));
        assert_eq!(
            decimal_to_lots(b"184467440737095516.16", cent),
            Err(DecimalError::Overflow)
        );
        // Huge increment: only zero is on tick.
        assert_eq!(decimal_to_ticks(b"0", t(u64::MAX, 18)), Ok(0));
        assert_eq!(
            decimal_to_ticks(b"5", t(u64::MAX, 18)),
            Err(DecimalError::OffTick)
        );
    }

    #[test]
    fn tick_validation_and_parsing() {
        assert_eq!(Tick::new(0, -2), Err(DecimalError::InvalidTick));
        assert_eq!(Tick::new(1, 19), Err(DecimalError::InvalidTick));
        assert_eq!(Tick::parse(b"0.01"), Ok(t(1, -2)));
        assert_eq!(Tick::parse(b"0.50"), Ok(t(5, -1)));
        assert_eq!(Tick::parse(b"25"), Ok(t(25, 0)));
        assert_eq!(Tick::parse(b"0"), Err(DecimalError::InvalidTick));
        assert_eq!(Tick::parse(b"-1"), Err(DecimalError::InvalidTick));
        assert_eq!(Tick::parse(b"abc"), Err(DecimalError::Malformed));
    }

    #[test]
    fn formats_without_floats() {
        let mut buf = [0u8; DECIMAL_BUF_LEN];
        assert_eq!(ticks_to_decimal(4_200_025, t(1, -2), &mut buf), b"42000.25");
        assert_eq!(ticks_to_decimal(4_200_000, t(1, -2), &mut buf), b"42000");
        assert_eq!(ticks_to_decimal(-1, t(1, -2), &mut buf), b"-0.01");
        assert_eq!(ticks_to_decimal(0, t(1, -2), &mut buf), b"0");
        assert_eq!(ticks_to_decimal(3, t(5, -1), &mut buf), b"1.5");
        assert_eq!(ticks_to_decimal(4, t(25, 1), &mut buf), b"1000");
        let extreme = t(u64::MAX, -18);
        let text = ticks_to_decimal(i64::MIN, extreme, &mut buf).to_vec();
        assert_eq!(decimal_to_ticks(&text, extreme), Ok(i64::MIN));
        assert_eq!(lots_to_decimal(1500, t(1, -3), &mut buf), b"1.5");
        assert_eq!(
            lots_to_decimal(u64::MAX, t(u64::MAX, 18), &mut buf).len(),
            39 + 18
        );
        assert_eq!(
            lots_to_decimal(7, t(1, -18), &mut buf),
            b"0.000000000000000007"
        );
    }

    #[test]
    fn deserializes_from_text_or_parts() {
        #[derive(Deserialize)]
        struct C {
            a: Tick,
            b: Tick,
        }
        let c: C =
            serde_json::from_str(r#"{"a":"0.01","b":{"mantissa":5,"exponent":-1}}"#).unwrap();
        assert_eq!(c.a, t(1, -2));
        assert_eq!(c.b, t(5, -1));
        assert!(serde_json::from_str::<C>(r#"{"a":"0","b":"1"}"#).is_err());
        assert!(serde_json::from_str::<C>(r#"{"a":"1","b":{"mantissa":0,"exponent":1}}"#).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(ticks in any::<i64>(), m in 1u64..1000, e in -12i8..=6) {
            let tick = t(m, e);
            let mut buf = [0u8; DECIMAL_BUF_LEN];
            let text = ticks_to_decimal(ticks, tick, &mut buf).to_vec();
            prop_assert_eq!(decimal_to_ticks(&text, tick), Ok(ticks));
        }

        #[test]
        fn never_panics(text in proptest::collection::vec(any::<u8>(), 0..80), m in 1u64..u64::MAX, e in -18i8..=18) {
            let tick = t(m, e);
            let _ = decimal_to_ticks(&text, tick);
            let _ = decimal_to_lots(&text, tick);
        }

        #[test]
        fn off_tick_is_rejected(millis in -1_000_000i64..1_000_000) {
            // A price with a non-zero third decimal is never a whole number of cents.
            prop_assume!(millis % 10 != 0);
            let mut buf = [0u8; DECIMAL_BUF_LEN];
            let text = ticks_to_decimal(millis, t(1, -3), &mut buf).to_vec();
            prop_assert_eq!(decimal_to_ticks(&text, t(1, -2)), Err(DecimalError::OffTick));
        }
    }
}
