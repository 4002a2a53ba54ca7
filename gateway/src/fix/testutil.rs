//! Helpers for tests: readable messages with `|` for SOH, framed independently
//! of the encoder.

use super::codec::SOH;

/// Replaces `|` by SOH.
pub fn soh(s: &str) -> Vec<u8> {
    s.bytes().map(|b| if b == b'|' { SOH } else { b }).collect()
}

/// A correctly framed FIX 4.4 message around `body` (which starts at `35=`),
/// with BodyLength and CheckSum computed here, not by the encoder.
pub fn fix44(body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut m = soh(&format!("8=FIX.4.4|9={}|", body.len()));
    m.extend_from_slice(&body);
    let sum: u32 = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(&soh(&format!("10={sum:03}|")));
    m
}
