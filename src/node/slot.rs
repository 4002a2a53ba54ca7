//! The ring slot: one `engine::msg` record, in place.

use engine::msg::{Header, MAX_MESSAGE_LEN, Message};

/// One ring slot: room for the largest internal message. The message's own
/// header says how many bytes are used.
#[derive(Clone, Copy)]
pub struct Slot {
    /// The encoded message (header + body), zero-padded.
    pub bytes: [u8; MAX_MESSAGE_LEN],
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            bytes: [0; MAX_MESSAGE_LEN],
        }
    }
}

impl Slot {
    /// The message bytes (length from the header, clamped to the slot).
    #[inline]
    pub fn msg(&self) -> &[u8] {
        let len = usize::from(u16::from_le_bytes([self.bytes[0], self.bytes[1]]));
        &self.bytes[..len.clamp(1, MAX_MESSAGE_LEN)]
    }

    /// Encodes `m` with `h` into the slot. Every message type fits a slot (a
    /// compile-time fact of `engine::msg`), so this cannot fail in practice; if it
    /// did, the slot holds an empty (undecodable) record that the logic ignores.
    #[inline]
    pub fn write(&mut self, h: &Header, m: &Message) {
        if m.encode(h, &mut self.bytes).is_err() {
            self.bytes[..2].copy_from_slice(&0u16.to_le_bytes());
        }
    }
}

/// The sequence stamped in an encoded message's header (bytes 8..16; 0 if the
/// record is too short to hold one).
#[inline]
pub fn record_seq(m: &[u8]) -> u64 {
    m.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
