//! Reversible mapping between a client's order id text (FIX ClOrdID, HTTP
//! `client_order_id`) and the engine's fixed-size [`ClientOrderId`] (`u64`).
//!
//! The engine keeps every message a fixed 128-byte record, so it carries client
//! ids as integers. The mapping is bijective on the accepted set, so the gateway
//! can always give the client back the exact text it sent, on any node, after any
//! restart, with no lookup table:
//!
//! - a decimal number without leading zeros below 2^63 (e.g. `1234567`) maps to
//!   itself (top bit 0);
//! - otherwise, 1 to 10 characters of `[0-9A-Za-z-]` are packed six bits each
//!   (symbol values 1..=63, 0 ends the text) under the top bit 1.
//!
//! Anything else (longer text, other characters) is refused with
//! [`ClOrdIdError`], which the gateway turns into a reject naming the rule.

use core::fmt;

use crate::types::ClientOrderId;

/// Longest text the packed form holds.
pub const MAX_PACKED_LEN: usize = 10;
/// Longest text [`to_text`] can produce (19 digits).
pub const MAX_TEXT_LEN: usize = 19;

const PACKED: u64 = 1 << 63;
const ALPHABET: &[u8; 63] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-";

/// A client order id text that has no integer form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClOrdIdError {
    /// Empty text.
    Empty,
    /// Not a number below 2^63 and longer than [`MAX_PACKED_LEN`] characters.
    TooLong(usize),
    /// A character outside `[0-9A-Za-z-]`.
    BadChar(u8),
}

impl fmt::Display for ClOrdIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClOrdIdError::Empty => write!(f, "client order id is empty"),
            ClOrdIdError::TooLong(n) => write!(
                f,
                "client order id of {n} characters: must be a number below 2^63 or at most {MAX_PACKED_LEN} characters of [0-9A-Za-z-]"
            ),
            ClOrdIdError::BadChar(c) => write!(
                f,
                "client order id contains byte 0x{c:02x}: only [0-9A-Za-z-] are allowed"
            ),
        }
    }
}

impl std::error::Error for ClOrdIdError {}

fn symbol(c: u8) -> Option<u64> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u64 + 1)
}

fn as_number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > MAX_TEXT_LEN || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &c in text {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    (v < PACKED).then_some(v)
}

/// Maps client text to its integer id.
pub fn from_text(text: &[u8]) -> Result<ClientOrderId, ClOrdIdError> {
    if text.is_empty() {
        return Err(ClOrdIdError::Empty);
    }
    if let Some(v) = as_number(text) {
        return Ok(v);
    }
    if text.len() > MAX_PACKED_LEN {
        return Err(ClOrdIdError::TooLong(text.len()));
    }
    let mut v = 0u64;
    for (i, &c) in text.iter().enumerate() {
        let s = symbol(c).ok_or(ClOrdIdError::BadChar(c))?;
        v |= s << (6 * i);
    }
    Ok(PACKED | v)
}

/// Writes the text of an id into `out`, returning the used prefix.
pub fn to_text(id: ClientOrderId, out: &mut [u8; MAX_TEXT_LEN]) -> &[u8] {
    if id & PACKED == 0 {
        let mut tmp = [0u8; MAX_TEXT_LEN];
        let mut n = 0;
        let mut v = id;
        loop {
            tmp[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for i in 0..n {
            out[i] = tmp[n - 1 - i];
        }
        return &out[..n];
    }
    let mut n = 0;
    for i in 0..MAX_PACKED_LEN {
        let s = (id >> (6 * i)) & 63;
        if s == 0 {
            break;
        }
        out[n] = ALPHABET[(s - 1) as usize];
        n += 1;
    }
    &out[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round(t: &str) -> String {
        let id = from_text(t.as_bytes()).unwrap();
        let mut b = [0u8; MAX_TEXT_LEN];
        String::from_utf8(to_text(id, &mut b).to_vec()).unwrap()
    }

    #[test]
    fn numbers_map_to_themselves() {
        assert_eq!(from_text(b"1234567"), Ok(1_234_567));
        assert_eq!(from_text(b"0"), Ok(0));
        assert_eq!(round("9223372036854775807"), "9223372036854775807");
    }

    #[test]
    fn text_and_leading_zeros_are_packed_and_reversible() {
        for t in ["0001", "ORD-17", "a", "Zz-09azAZ9", "9223372036854775808"] {
            if t.len() <= MAX_PACKED_LEN {
                assert_eq!(round(t), t);
            } else {
                assert_eq!(from_text(t.as_bytes()), Err(ClOrdIdError::TooLong(t.len())));
            }
        }
    }

    #[test]
    fn refused_texts_say_why() {
        assert_eq!(from_text(b""), Err(ClOrdIdError::Empty));
        assert_eq!(from_text(b"a b"), Err(ClOrdIdError::BadChar(b' ')));
        assert_eq!(from_text(b"ABCDEFGHIJK"), Err(ClOrdIdError::TooLong(11)));
        assert!(
            from_text(b"ABCDEFGHIJK")
                .unwrap_err()
                .to_string()
                .contains("[0-9A-Za-z-]")
        );
    }

    proptest! {
        #[test]
        fn prop_packed_round_trip(t in "[0-9A-Za-z-]{1,10}") {
            prop_assert_eq!(round(&t), t);
        }

        #[test]
        fn prop_numbers_round_trip(v in 0u64..(1u64 << 63)) {
            prop_assert_eq!(round(&v.to_string()), v.to_string());
        }

        #[test]
        fn prop_distinct_texts_distinct_ids(a in "[0-9A-Za-z-]{1,10}", b in "[0-9A-Za-z-]{1,10}") {
            prop_assume!(a != b);
            prop_assert_ne!(from_text(a.as_bytes()).unwrap(), from_text(b.as_bytes()).unwrap());
        }
    }
}
