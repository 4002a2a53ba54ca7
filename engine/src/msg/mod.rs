//! The internal wire format: the one binary record that sits in a ring slot, a
//! journal record and a replication datagram, so no stage re-encodes.
//!
//! Layout (all integers little-endian, no padding):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 2 | total length in bytes, header included |
//! | 2 | 1 | format version ([`VERSION`]) |
//! | 3 | 1 | message type ([`MsgType`]) |
//! | 4 | 4 | session id: the source of a command, the addressee of an event (0 = none/broadcast) |
//! | 8 | 8 | sequence number (stamped by whoever sequences the stream) |
//! | 16 | 8 | timestamp, ns since the Unix epoch (the only clock the engine sees) |
//! | 24 | .. | body: a fixed layout per type, see [`body`] |
//!
//! Every message fits in [`MAX_MESSAGE_LEN`] bytes, the size of a ring slot.
//! Encoding writes straight into the caller's buffer; decoding reads fields
//! straight out of it into small `Copy` structs (no allocation, no serde).
//! Decoding untrusted bytes never panics: any malformed input is a
//! [`DecodeError`]. `engine/fuzz` and the property tests in this module prove it.

pub mod body;
pub mod codes;
pub(crate) mod field;

use core::fmt;

pub use body::{
    AddAccount, AddInstrument, AdminResult, BookLevel, Cancel, CancelReject, Deposit, ExecReport,
    HaltInstrument, MassCancel, MassCancelReport, NewOrder, Replace, SessionEnd, SessionEvent,
    SuspendAccount, TradePrint, Withdraw,
};
pub use codes::{CancelReason, ExecKind, MassCancelScope, MsgType, RejectCode, SessionEventKind};

use crate::types::{Seq, SessionId};

/// Format version written in every header; decoders refuse any other.
/// 2: `SessionEvent` carries the session's FIX sequence numbers (`SeqSync`).
pub const VERSION: u8 = 2;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 24;
/// Largest encoded message: the ring slot size. Checked at compile time below.
pub const MAX_MESSAGE_LEN: usize = 128;

/// Why bytes could not be decoded. Every variant says enough to find the damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than needed.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The version byte is not [`VERSION`].
    BadVersion(u8),
    /// The type byte names no message.
    UnknownType(u8),
    /// The length field disagrees with the type's fixed length or the buffer.
    BadLength {
        /// The message type.
        msg_type: MsgType,
        /// Length in the header.
        declared: usize,
        /// Length the type has.
        expected: usize,
    },
    /// A field holds a code outside its enum (or a bool other than 0/1).
    BadField {
        /// Field name.
        field: &'static str,
        /// The code found.
        code: u8,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { need, have } => {
                write!(f, "truncated message: need {need} bytes, have {have}")
            }
            DecodeError::BadVersion(v) => {
                write!(f, "unsupported format version {v} (expected {VERSION})")
            }
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t}"),
            DecodeError::BadLength {
                msg_type,
                declared,
                expected,
            } => write!(
                f,
                "bad length for {msg_type:?}: header says {declared}, type has {expected}"
            ),
            DecodeError::BadField { field, code } => {
                write!(f, "invalid value {code} in field `{field}`")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeError {
    /// Bytes the message needs.
    pub need: usize,
    /// Bytes the buffer has.
    pub have: usize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer too small: message needs {} bytes, buffer has {}",
            self.need, self.have
        )
    }
}

impl std::error::Error for EncodeError {}

/// The header fields a sender chooses (length, version and type follow from the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Source session of a command, addressee of an event (0 = none/broadcast).
    pub session: SessionId,
    /// Sequence number in its stream.
    pub seq: Seq,
    /// Nanoseconds since the Unix epoch, stamped at the edge.
    pub timestamp_ns: u64,
}

/// A fixed-layout message body. Implemented by every struct in [`body`].
pub trait Body: Sized + Copy {
    /// The header type byte of this body.
    const TYPE: MsgType;
    /// Encoded body length in bytes.
    const LEN: usize;
    /// Writes the body into `out[..LEN]` (callers guarantee the length).
    fn write_body(&self, out: &mut [u8]);
    /// Reads and validates a body from `inp[..LEN]`.
    fn read_body(inp: &[u8]) -> Result<Self, DecodeError>;
    /// Builds a valid body from a stream of random numbers (generators and tests).
    fn from_random(next: &mut dyn FnMut() -> u64) -> Self;

    /// Encodes header + body into `buf`, returning the length written.
    #[inline]
    fn encode(&self, header: &Header, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let len = HEADER_LEN + Self::LEN;
        let Some(out) = buf.get_mut(..len) else {
            return Err(EncodeError {
                need: len,
                have: buf.len(),
            });
        };
        write_header(out, len, Self::TYPE, header);
        self.write_body(&mut out[HEADER_LEN..]);
        Ok(len)
    }
}

#[inline]
fn write_header(out: &mut [u8], len: usize, ty: MsgType, h: &Header) {
    // len <= MAX_MESSAGE_LEN (asserted at compile time), so it fits in u16.
    out[0..2].copy_from_slice(&(len as u16).to_le_bytes());
    out[2] = VERSION;
    out[3] = ty.code();
    out[4..8].copy_from_slice(&h.session.to_le_bytes());
    out[8..16].copy_from_slice(&h.seq.to_le_bytes());
    out[16..24].copy_from_slice(&h.timestamp_ns.to_le_bytes());
}

/// A validated view of a message's header over a borrowed buffer: routing and
/// sequencing read these fields without decoding the body.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    bytes: &'a [u8],
    msg_type: MsgType,
}

impl<'a> MessageRef<'a> {
    /// Validates the header (version, type, length against the type and the
    /// buffer). The body is validated by [`MessageRef::decode`].
    pub fn new(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let Some(h) = buf.get(..HEADER_LEN) else {
            return Err(DecodeError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        };
        let declared = u16::from_le_bytes([h[0], h[1]]) as usize;
        if h[2] != VERSION {
            return Err(DecodeError::BadVersion(h[2]));
        }
        let msg_type = MsgType::from_code(h[3]).map_err(|_| DecodeError::UnknownType(h[3]))?;
        let expected = HEADER_LEN + body_len(msg_type);
        if declared != expected {
            return Err(DecodeError::BadLength {
                msg_type,
                declared,
                expected,
            });
        }
        let Some(bytes) = buf.get(..declared) else {
            return Err(DecodeError::Truncated {
                need: declared,
                have: buf.len(),
            });
        };
        Ok(MessageRef { bytes, msg_type })
    }

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> MsgType {
        self.msg_type
    }

    /// Total length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a valid message has at least a header.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The session field.
    #[inline]
    pub fn session(&self) -> SessionId {
        SessionId::from_le_bytes([self.bytes[4], self.bytes[5], self.bytes[6], self.bytes[7]])
    }

    /// The sequence field.
    #[inline]
    pub fn seq(&self) -> Seq {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[8..16]);
        Seq::from_le_bytes(b)
    }

    /// The timestamp field.
    #[inline]
    pub fn timestamp_ns(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[16..24]);
        u64::from_le_bytes(b)
    }

    /// The header fields.
    #[inline]
    pub fn header(&self) -> Header {
        Header {
            session: self.session(),
            seq: self.seq(),
            timestamp_ns: self.timestamp_ns(),
        }
    }

    /// The exact bytes of the message (header and body).
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Decodes the body.
    pub fn decode(&self) -> Result<Message, DecodeError> {
        Message::decode_body(self.msg_type, &self.bytes[HEADER_LEN..])
    }
}

/// Decodes one message from the start of `buf` (extra bytes after it are ignored;
/// use [`MessageRef::len`] to step to the next).
pub fn decode(buf: &[u8]) -> Result<(Header, Message), DecodeError> {
    let r = MessageRef::new(buf)?;
    Ok((r.header(), r.decode()?))
}

/// Overwrites the sequence field of an encoded message in place: the sequencer
/// stamps slots without re-encoding. Errors if `buf` is shorter than a header.
#[inline]
pub fn stamp_seq(buf: &mut [u8], seq: Seq) -> Result<(), EncodeError> {
    match buf.get_mut(8..16) {
        Some(b) => {
            b.copy_from_slice(&seq.to_le_bytes());
            Ok(())
        }
        None => Err(EncodeError {
            need: HEADER_LEN,
            have: buf.len(),
        }),
    }
}

/// Declares [`Message`], the sum of all bodies, with its per-type dispatch.
macro_rules! messages {
    ($( $variant:ident ),+ $(,)?) => {
        /// Any decoded message body.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Message {
            $(
                #[doc = concat!("A [`", stringify!($variant), "`] body.")]
                $variant($variant),
            )+
        }

        $(
            impl From<$variant> for Message {
                fn from(b: $variant) -> Self {
                    Message::$variant(b)
                }
            }
        )+

        /// Body length of a message type.
        pub const fn body_len(t: MsgType) -> usize {
            match t {
                $( MsgType::$variant => <$variant as Body>::LEN, )+
            }
        }

        impl Message {
            /// The message type of this body.
            pub fn msg_type(&self) -> MsgType {
                match self {
                    $( Message::$variant(_) => MsgType::$variant, )+
                }
            }

            /// Encodes header + body into `buf`, returning the length written.
            pub fn encode(&self, header: &Header, buf: &mut [u8]) -> Result<usize, EncodeError> {
                match self {
                    $( Message::$variant(b) => b.encode(header, buf), )+
                }
            }

            fn decode_body(t: MsgType, inp: &[u8]) -> Result<Message, DecodeError> {
                match t {
                    $( MsgType::$variant => Ok(Message::$variant(<$variant as Body>::read_body(inp)?)), )+
                }
            }

            /// A valid random message of type `t` (generators and tests).
            pub fn random(t: MsgType, next: &mut dyn FnMut() -> u64) -> Message {
                match t {
                    $( MsgType::$variant => Message::$variant(<$variant as Body>::from_random(next)), )+
                }
            }
        }

        const _: () = {
            $( assert!(HEADER_LEN + <$variant as Body>::LEN <= MAX_MESSAGE_LEN); )+
        };
    };
}

messages!(
    NewOrder,
    Cancel,
    Replace,
    MassCancel,
    SessionEvent,
    AddInstrument,
    AddAccount,
    Deposit,
    Withdraw,
    SuspendAccount,
    HaltInstrument,
    SessionEnd,
    ExecReport,
    CancelReject,
    MassCancelReport,
    BookLevel,
    TradePrint,
    AdminResult,
);

/// Runs every decoder over arbitrary bytes, as the fuzz target and the
/// property tests do; returns how many messages decoded. It panics only if a
/// message that decodes does not re-encode to identical bytes: a codec bug,
/// which is what the fuzzer hunts for.
pub fn fuzz_decode_all(data: &[u8]) -> usize {
    let mut ok = 0;
    let mut at = 0;
    while at < data.len() {
        match MessageRef::new(&data[at..]) {
            Ok(r) => {
                let _ = (r.session(), r.seq(), r.timestamp_ns());
                if let Ok(m) = r.decode() {
                    ok += 1;
                    // Whatever decodes must re-encode to the same bytes.
                    let mut buf = [0u8; MAX_MESSAGE_LEN];
                    if let Ok(n) = m.encode(&r.header(), &mut buf) {
                        assert_eq!(&buf[..n], r.as_bytes(), "decode/encode not identical");
                    }
                }
                at += r.len();
            }
            Err(_) => at += 1,
        }
    }
    ok
}

#[cfg(test)]
mod tests;
