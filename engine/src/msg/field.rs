//! Fixed-size little-endian field codecs: the building blocks of every message
//! body. Reads are bounds-checked and return [`DecodeError`]; nothing here panics
//! on untrusted bytes.

use super::DecodeError;
use crate::types::{OrderType, Side, StpMode, TimeInForce};

/// A value with a fixed little-endian encoding of `SIZE` bytes.
pub trait WireField: Sized + Copy {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Writes the value into `out[..SIZE]`; callers guarantee the length.
    fn put(self, out: &mut [u8]);
    /// Reads a value from `inp[..SIZE]`, validating codes; `field` names it in errors.
    fn get(inp: &[u8], field: &'static str) -> Result<Self, DecodeError>;
    /// Maps an arbitrary `u64` to a valid value (used by generators and tests to
    /// build every message type from random input).
    fn from_random(r: u64) -> Self;
}

#[inline]
pub(crate) fn take<const N: usize>(inp: &[u8]) -> Result<[u8; N], DecodeError> {
    match inp.get(..N) {
        Some(b) => {
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            Ok(a)
        }
        None => Err(DecodeError::Truncated {
            need: N,
            have: inp.len(),
        }),
    }
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl WireField for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            #[inline]
            fn put(self, out: &mut [u8]) {
                out[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn get(inp: &[u8], _field: &'static str) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(take(inp)?))
            }
            #[inline]
            fn from_random(r: u64) -> Self {
                r as $t
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64, i32, i64);

impl WireField for bool {
    const SIZE: usize = 1;
    #[inline]
    fn put(self, out: &mut [u8]) {
        out[0] = self as u8;
    }
    #[inline]
    fn get(inp: &[u8], field: &'static str) -> Result<Self, DecodeError> {
        match take::<1>(inp)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            code => Err(DecodeError::BadField { field, code }),
        }
    }
    fn from_random(r: u64) -> Self {
        r & 1 == 1
    }
}

impl<const N: usize> WireField for [u8; N] {
    const SIZE: usize = N;
    #[inline]
    fn put(self, out: &mut [u8]) {
        out[..N].copy_from_slice(&self);
    }
    #[inline]
    fn get(inp: &[u8], _field: &'static str) -> Result<Self, DecodeError> {
        take(inp)
    }
    fn from_random(r: u64) -> Self {
        let mut a = [0u8; N];
        let mut x = r;
        for b in a.iter_mut() {
            // xorshift so every byte differs
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        a
    }
}

/// Implements [`WireField`] for enums declared with `wire_enum!` (one byte, code
/// validated on read).
macro_rules! enum_field {
    ($($t:ty),*) => {$(
        impl $crate::msg::field::WireField for $t {
            const SIZE: usize = 1;
            #[inline]
            fn put(self, out: &mut [u8]) {
                out[0] = self.code();
            }
            #[inline]
            fn get(inp: &[u8], field: &'static str) -> Result<Self, $crate::msg::DecodeError> {
                let code = $crate::msg::field::take::<1>(inp)?[0];
                <$t>::from_code(code).map_err(|_| $crate::msg::DecodeError::BadField { field, code })
            }
            fn from_random(r: u64) -> Self {
                Self::ALL[(r % Self::ALL.len() as u64) as usize]
            }
        }
    )*};
}
pub(crate) use enum_field;

enum_field!(Side, OrderType, TimeInForce, StpMode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_truncated_error() {
        assert_eq!(
            u64::get(&[1, 2, 3], "x"),
            Err(DecodeError::Truncated { need: 8, have: 3 })
        );
    }

    #[test]
    fn bad_enum_and_bool_codes_name_the_field() {
        assert_eq!(
            Side::get(&[9], "side"),
            Err(DecodeError::BadField {
                field: "side",
                code: 9
            })
        );
        assert_eq!(
            bool::get(&[2], "post_only"),
            Err(DecodeError::BadField {
                field: "post_only",
                code: 2
            })
        );
    }

    #[test]
    fn ints_are_little_endian() {
        let mut b = [0u8; 8];
        0x0102_0304_0506_0708u64.put(&mut b);
        assert_eq!(b, [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(i64::get(&(-2i64).to_le_bytes(), "p"), Ok(-2));
    }
}
