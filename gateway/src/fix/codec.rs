//! Zero-copy FIX tag=value codec.
//!
//! Three steps, each usable on its own:
//!
//! 1. [`frame`] finds one complete message at the start of a byte-stream buffer
//!    (BeginString, BodyLength and MsgType must be the first three fields, the
//!    BodyLength must land exactly on `10=NNN<SOH>` and the CheckSum must match) or
//!    tells the caller how many bytes of garbage to skip. Garbled input never
//!    consumes a sequence number: the session simply skips it.
//! 2. [`Parser::parse`] splits one framed message into a reusable index of
//!    `(tag, value span)` entries: no allocation once the index has grown to the
//!    largest message seen, and the values are slices of the caller's buffer.
//!    [`Message`] / [`Fields`] give typed access (integers, chars, booleans,
//!    timestamps) and repeating groups, with errors that carry the
//!    SessionRejectReason (373) and RefTagID (371) the session needs for Reject(3).
//! 3. [`Encoder`] writes a message into a reusable buffer and fills in BodyLength
//!    and CheckSum.
//!
//! The maximum message size is the caller's choice (`max_len` of [`frame`]);
//! [`DEFAULT_MAX_MESSAGE_LEN`] (16 KiB) is what the gateway uses unless configured
//! otherwise. A message longer than that is garbled (skipped), never buffered.

use core::fmt;

/// The FIX field delimiter (ASCII SOH).
pub const SOH: u8 = 0x01;

/// The documented default maximum size of one FIX message, header and trailer
/// included: 16 KiB. Anything larger is treated as garbled by [`frame`].
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024;

/// The most fields [`Parser`] accepts in one message by default; protects the
/// field index from hostile input made of millions of tiny fields.
pub const DEFAULT_MAX_FIELDS: usize = 1024;

/// Longest BeginString value accepted by [`frame`] (`FIXT.1.1` is 8 bytes).
const MAX_BEGIN_STRING_LEN: usize = 16;
/// Most digits accepted in BodyLength (a body of up to 9 999 999 bytes).
const MAX_BODY_LENGTH_DIGITS: usize = 7;
/// Length of the trailer `10=NNN<SOH>`.
const TRAILER_LEN: usize = 7;
/// Largest tag number accepted by the parser (FIX tags are positive `int`s; user
/// defined tags go up to 9999 in 4.4, later versions and vendors use more).
pub const MAX_TAG: u32 = 99_999_999;

/// Commonly used tag numbers, so the session and application layers never spell
/// magic numbers.
pub mod tags {
    /// BeginString (8).
    pub const BEGIN_STRING: u32 = 8;
    /// BodyLength (9).
    pub const BODY_LENGTH: u32 = 9;
    /// CheckSum (10).
    pub const CHECK_SUM: u32 = 10;
    /// MsgSeqNum (34).
    pub const MSG_SEQ_NUM: u32 = 34;
    /// MsgType (35).
    pub const MSG_TYPE: u32 = 35;
    /// NewSeqNo (36).
    pub const NEW_SEQ_NO: u32 = 36;
    /// PossDupFlag (43).
    pub const POSS_DUP_FLAG: u32 = 43;
    /// RefSeqNum (45).
    pub const REF_SEQ_NUM: u32 = 45;
    /// SenderCompID (49).
    pub const SENDER_COMP_ID: u32 = 49;
    /// SendingTime (52).
    pub const SENDING_TIME: u32 = 52;
    /// TargetCompID (56).
    pub const TARGET_COMP_ID: u32 = 56;
    /// Text (58).
    pub const TEXT: u32 = 58;
    /// PossResend (97).
    pub const POSS_RESEND: u32 = 97;
    /// EncryptMethod (98).
    pub const ENCRYPT_METHOD: u32 = 98;
    /// HeartBtInt (108).
    pub const HEART_BT_INT: u32 = 108;
    /// TestReqID (112).
    pub const TEST_REQ_ID: u32 = 112;
    /// OrigSendingTime (122).
    pub const ORIG_SENDING_TIME: u32 = 122;
    /// GapFillFlag (123).
    pub const GAP_FILL_FLAG: u32 = 123;
    /// ResetSeqNumFlag (141).
    pub const RESET_SEQ_NUM_FLAG: u32 = 141;
    /// BeginSeqNo (7).
    pub const BEGIN_SEQ_NO: u32 = 7;
    /// EndSeqNo (16).
    pub const END_SEQ_NO: u32 = 16;
    /// RefTagID (371).
    pub const REF_TAG_ID: u32 = 371;
    /// RefMsgType (372).
    pub const REF_MSG_TYPE: u32 = 372;
    /// SessionRejectReason (373).
    pub const SESSION_REJECT_REASON: u32 = 373;
    /// BusinessRejectRefID (379).
    pub const BUSINESS_REJECT_REF_ID: u32 = 379;
    /// BusinessRejectReason (380).
    pub const BUSINESS_REJECT_REASON: u32 = 380;
    /// Username (553).
    pub const USERNAME: u32 = 553;
    /// Password (554).
    pub const PASSWORD: u32 = 554;
    /// NextExpectedMsgSeqNum (789).
    pub const NEXT_EXPECTED_MSG_SEQ_NUM: u32 = 789;
}

// ---------------------------------------------------------------------------
// Session-level reject reasons
// ---------------------------------------------------------------------------

/// SessionRejectReason (373) values this codec and the dictionary produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SessionRejectReason {
    /// 0: tag number is not a valid FIX tag (malformed, zero, or not in the spec).
    InvalidTagNumber = 0,
    /// 1: a required tag is missing.
    RequiredTagMissing = 1,
    /// 2: tag is defined, but not for this message type.
    TagNotDefinedForMsgType = 2,
    /// 3: undefined tag.
    UndefinedTag = 3,
    /// 4: tag specified without a value.
    TagWithoutValue = 4,
    /// 5: value is incorrect (out of range) for this tag.
    ValueIncorrect = 5,
    /// 6: incorrect data format for value.
    IncorrectDataFormat = 6,
    /// 9: CompID problem.
    CompIdProblem = 9,
    /// 10: SendingTime accuracy problem.
    SendingTimeAccuracy = 10,
    /// 11: invalid MsgType.
    InvalidMsgType = 11,
    /// 13: tag appears more than once.
    TagAppearsMoreThanOnce = 13,
    /// 14: tag specified out of required order.
    TagOutOfOrder = 14,
    /// 15: repeating group fields out of order.
    GroupFieldsOutOfOrder = 15,
    /// 16: incorrect NumInGroup count for repeating group.
    IncorrectNumInGroup = 16,
    /// 99: other.
    Other = 99,
}

impl SessionRejectReason {
    /// The numeric value to put in SessionRejectReason (373).
    pub const fn code(self) -> u32 {
        self as u32
    }
}

/// Everything the session layer needs to send a session-level Reject(3): the
/// reason (373), the offending tag (371) when there is one, and a human text (58).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionReject {
    /// SessionRejectReason (373).
    pub reason: SessionRejectReason,
    /// RefTagID (371), when the problem is about one tag.
    pub ref_tag: Option<u32>,
    /// Text (58): a short explanation.
    pub text: &'static str,
}

impl SessionReject {
    /// Builds a reject.
    pub const fn new(
        reason: SessionRejectReason,
        ref_tag: Option<u32>,
        text: &'static str,
    ) -> Self {
        SessionReject {
            reason,
            ref_tag,
            text,
        }
    }
}

impl fmt::Display for SessionReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (373={}", self.text, self.reason.code())?;
        if let Some(t) = self.ref_tag {
            write!(f, ", 371={t}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for SessionReject {}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/// Why [`frame`] considers the start of a buffer garbled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarbleReason {
    /// The buffer does not start with `8=<value><SOH>` (or the value is empty or too long).
    BadBeginString,
    /// BodyLength (9) is not the second field, or its value is not a small decimal number.
    BadBodyLength,
    /// MsgType (35) is not the third field, or its value is empty.
    MsgTypeNotThird,
    /// The message (as declared by BodyLength) is longer than the maximum.
    TooLong,
    /// BodyLength does not land on a `10=NNN<SOH>` trailer.
    BadTrailer,
    /// The CheckSum (10) value does not match the bytes.
    CheckSumMismatch,
}

impl fmt::Display for GarbleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GarbleReason::BadBeginString => "BeginString (8) is not the first field",
            GarbleReason::BadBodyLength => "BodyLength (9) missing, misplaced or malformed",
            GarbleReason::MsgTypeNotThird => "MsgType (35) is not the third field",
            GarbleReason::TooLong => "message longer than the maximum message size",
            GarbleReason::BadTrailer => "BodyLength does not end at a CheckSum (10) field",
            GarbleReason::CheckSumMismatch => "CheckSum (10) does not match",
        })
    }
}

/// Result of looking for one message at the start of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed before anything can be decided.
    Incomplete,
    /// `buf[..len]` is one message: `8=`, `9=`, `35=` come first, BodyLength is
    /// exact and the CheckSum is valid.
    Complete {
        /// Length of the message in bytes, trailer included.
        len: usize,
    },
    /// The start of the buffer is not a valid message: skip `skip` bytes (to the
    /// next `8=FIX` candidate, or all bytes that cannot start one) and try again.
    /// `skip` is always at least 1. No sequence number is consumed.
    Garbled {
        /// Bytes to drop from the front of the buffer.
        skip: usize,
        /// Why.
        reason: GarbleReason,
    },
}

/// Where the next message could start after garbage at `buf[0]`: just after the
/// next `<SOH>8=FIX`, or keeping only a tail that may be the start of one.
fn resync_skip(buf: &[u8]) -> usize {
    const PAT: &[u8] = b"\x018=FIX";
    if let Some(p) = buf.windows(PAT.len()).position(|w| w == PAT) {
        return p + 1;
    }
    // Keep the longest tail that is a proper prefix of PAT (it may complete
    // later), minus its leading SOH: a message may start at offset 0 without one.
    let mut keep = 0;
    for k in (1..PAT.len()).rev() {
        if buf.len() >= k && buf[buf.len() - k..] == PAT[..k] {
            keep = k - 1;
            break;
        }
    }
    (buf.len() - keep).max(1)
}

fn garbled(buf: &[u8], reason: GarbleReason) -> Frame {
    Frame::Garbled {
        skip: resync_skip(buf),
        reason,
    }
}

/// Looks for one complete FIX message at the start of `buf`.
///
/// `max_len` is the largest message accepted (see [`DEFAULT_MAX_MESSAGE_LEN`]);
/// a longer one is reported as [`GarbleReason::TooLong`] as soon as its
/// BodyLength is read, so the caller never has to buffer it. Never panics, never
/// reads past `buf`.
pub fn frame(buf: &[u8], max_len: usize) -> Frame {
    // "8=" then the BeginString value.
    if buf.len() < 2 {
        return if b"8=".starts_with(buf) {
            Frame::Incomplete
        } else {
            garbled(buf, GarbleReason::BadBeginString)
        };
    }
    if &buf[..2] != b"8=" {
        return garbled(buf, GarbleReason::BadBeginString);
    }
    let limit = (2 + MAX_BEGIN_STRING_LEN + 1).min(buf.len());
    let Some(bs_len) = buf[2..limit].iter().position(|&b| b == SOH) else {
        return if buf.len() < 2 + MAX_BEGIN_STRING_LEN + 1 {
            Frame::Incomplete
        } else {
            garbled(buf, GarbleReason::BadBeginString)
        };
    };
    if bs_len == 0 {
        return garbled(buf, GarbleReason::BadBeginString);
    }
    // "9=" then digits.
    let mut i = 2 + bs_len + 1;
    let rest = &buf[i..];
    if rest.len() < 2 {
        return if b"9=".starts_with(rest) {
            Frame::Incomplete
        } else {
            garbled(buf, GarbleReason::BadBodyLength)
        };
    }
    if &rest[..2] != b"9=" {
        return garbled(buf, GarbleReason::BadBodyLength);
    }
    i += 2;
    let mut body_len: usize = 0;
    let mut digits = 0;
    loop {
        let Some(&b) = buf.get(i) else {
            return Frame::Incomplete;
        };
        i += 1;
        match b {
            b'0'..=b'9' if digits < MAX_BODY_LENGTH_DIGITS => {
                body_len = body_len * 10 + usize::from(b - b'0');
                digits += 1;
            }
            SOH if digits > 0 => break,
            _ => return garbled(buf, GarbleReason::BadBodyLength),
        }
    }
    let body_start = i;
    let body_end = body_start + body_len;
    let total = body_end + TRAILER_LEN;
    if total > max_len {
        return garbled(buf, GarbleReason::TooLong);
    }
    // MsgType must come third: check what has arrived so far, early.
    let have = &buf[body_start..buf.len().min(body_end)];
    let n = have.len().min(3);
    if have[..n] != b"35="[..n] {
        return garbled(buf, GarbleReason::MsgTypeNotThird);
    }
    if buf.len() < total {
        return Frame::Incomplete;
    }
    let body = &buf[body_start..body_end];
    // "35=" + at least one byte + SOH, and the body ends with SOH.
    if body.len() < 5 {
        return garbled(buf, GarbleReason::MsgTypeNotThird);
    }
    match body[3..].iter().position(|&b| b == SOH) {
        Some(p) if p > 0 => {}
        _ => return garbled(buf, GarbleReason::MsgTypeNotThird),
    }
    if body[body.len() - 1] != SOH {
        return garbled(buf, GarbleReason::BadTrailer);
    }
    let trailer = &buf[body_end..total];
    if &trailer[..3] != b"10=" || trailer[6] != SOH {
        return garbled(buf, GarbleReason::BadTrailer);
    }
    let mut declared: u32 = 0;
    for &d in &trailer[3..6] {
        if !d.is_ascii_digit() {
            return garbled(buf, GarbleReason::BadTrailer);
        }
        declared = declared * 10 + u32::from(d - b'0');
    }
    if declared != u32::from(checksum(&buf[..body_end])) {
        return garbled(buf, GarbleReason::CheckSumMismatch);
    }
    Frame::Complete { len: total }
}

/// FIX CheckSum: the sum of all bytes modulo 256.
#[inline]
pub fn checksum(bytes: &[u8]) -> u8 {
    // Summing into u32 lanes lets the compiler vectorise; a message is far below
    // the 16 MiB where a u32 sum of bytes could wrap (and wrapping is harmless mod 256).
    let s = bytes
        .iter()
        .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)));
    (s & 0xff) as u8
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Why a framed message could not be split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A tag is not a positive decimal number without leading zeros, or no `=` follows it.
    InvalidTag,
    /// `tag=` with an empty value.
    TagWithoutValue,
    /// The last field is not terminated by SOH, or a data field's length runs past the message.
    Truncated,
    /// More than the parser's maximum number of fields.
    TooManyFields,
    /// 8, 9, 35 are not the first three fields or 10 is not the last.
    HeaderOrTrailerOrder,
    /// A data field's length field (e.g. RawDataLength 95) is not a number.
    BadDataLength,
}

/// A message that is framed but cannot be split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// The tag concerned, when known (becomes RefTagID 371).
    pub tag: Option<u32>,
    /// Byte offset in the message where the problem was found.
    pub offset: usize,
}

impl ParseError {
    /// The session-level Reject(3) this error calls for.
    pub fn to_reject(&self) -> SessionReject {
        use SessionRejectReason as R;
        let (reason, text) = match self.kind {
            ParseErrorKind::InvalidTag => (R::InvalidTagNumber, "Invalid tag number"),
            ParseErrorKind::TagWithoutValue => {
                (R::TagWithoutValue, "Tag specified without a value")
            }
            ParseErrorKind::Truncated => (R::IncorrectDataFormat, "Malformed field"),
            ParseErrorKind::TooManyFields => (R::Other, "Too many fields"),
            ParseErrorKind::HeaderOrTrailerOrder => {
                (R::TagOutOfOrder, "Tag specified out of required order")
            }
            ParseErrorKind::BadDataLength => {
                (R::IncorrectDataFormat, "Incorrect data format for value")
            }
        };
        SessionReject::new(reason, self.tag, text)
    }
}

impl ParseError {
    /// The text of the offending tag as it appeared in `msg` (for RefTagID 371
    /// when the tag is not a number, e.g. `-1`): the bytes from the error offset
    /// up to `=` or SOH, at most 16.
    pub fn tag_text<'m>(&self, msg: &'m [u8]) -> &'m [u8] {
        let rest = msg.get(self.offset..).unwrap_or(&[]);
        let end = rest
            .iter()
            .take(16)
            .position(|&b| b == b'=' || b == SOH)
            .unwrap_or(rest.len().min(16));
        &rest[..end]
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at byte {}", self.kind, self.offset)?;
        if let Some(t) = self.tag {
            write!(f, " (tag {t})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// For a length-prefixed data field: the data tag that follows this length tag.
/// FIX 4.4 data fields may contain SOH, so they are read by length, not delimiter.
pub fn data_tag_for_length(tag: u32) -> Option<u32> {
    Some(match tag {
        90 => 91,   // SecureDataLen -> SecureData
        93 => 89,   // SignatureLength -> Signature
        95 => 96,   // RawDataLength -> RawData
        212 => 213, // XmlDataLen -> XmlData
        348 => 349, // EncodedIssuerLen
        350 => 351, // EncodedSecurityDescLen
        352 => 353, // EncodedListExecInstLen
        354 => 355, // EncodedTextLen
        356 => 357, // EncodedSubjectLen
        358 => 359, // EncodedHeadlineLen
        360 => 361, // EncodedAllocTextLen
        362 => 363, // EncodedUnderlyingIssuerLen
        364 => 365, // EncodedUnderlyingSecurityDescLen
        445 => 446, // EncodedListStatusTextLen
        618 => 619, // EncodedLegIssuerLen
        621 => 622, // EncodedLegSecurityDescLen
        _ => return None,
    })
}

/// One field of a parsed message: the tag and where its value lies in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldRef {
    tag: u32,
    start: u32,
    end: u32,
}

/// Splits framed messages into fields. Keep one per connection and reuse it: the
/// field index grows to the largest message seen and is never freed.
#[derive(Debug)]
pub struct Parser {
    fields: Vec<FieldRef>,
    max_fields: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser accepting up to [`DEFAULT_MAX_FIELDS`] fields per message.
    pub fn new() -> Self {
        Self::with_max_fields(DEFAULT_MAX_FIELDS)
    }

    /// A parser accepting up to `max_fields` fields per message.
    pub fn with_max_fields(max_fields: usize) -> Self {
        Parser {
            fields: Vec::with_capacity(64.min(max_fields)),
            max_fields,
        }
    }

    /// Parses one framed message (as returned by [`frame`]). The result borrows
    /// the message bytes and this parser's field index. Never panics, whatever
    /// the bytes.
    pub fn parse<'a>(&'a mut self, msg: &'a [u8]) -> Result<Message<'a>, ParseError> {
        self.fields.clear();
        if msg.len() > u32::MAX as usize {
            return Err(ParseError {
                kind: ParseErrorKind::TooManyFields,
                tag: None,
                offset: 0,
            });
        }
        let len = msg.len();
        let mut pos = 0usize;
        // Set after a length field: (data tag expected next, its length).
        let mut pending_data: Option<(u32, usize)> = None;
        while pos < len {
            let field_start = pos;
            // Tag: positive decimal, no leading zero, ends at '='.
            let mut tag: u32 = 0;
            loop {
                let Some(&b) = msg.get(pos) else {
                    return Err(ParseError {
                        kind: ParseErrorKind::InvalidTag,
                        tag: None,
                        offset: field_start,
                    });
                };
                match b {
                    b'=' => break,
                    b'0'..=b'9' => {
                        if pos == field_start && b == b'0' {
                            return Err(ParseError {
                                kind: ParseErrorKind::InvalidTag,
                                tag: None,
                                offset: field_start,
                            });
                        }
                        tag = tag * 10 + u32::from(b - b'0');
                        if tag > MAX_TAG {
                            return Err(ParseError {
                                kind: ParseErrorKind::InvalidTag,
                                tag: None,
                                offset: field_start,
                            });
                        }
                    }
                    _ => {
                        return Err(ParseError {
                            kind: ParseErrorKind::InvalidTag,
                            tag: None,
                            offset: field_start,
                        });
                    }
                }
                pos += 1;
            }
            if pos == field_start {
                return Err(ParseError {
                    kind: ParseErrorKind::InvalidTag,
                    tag: None,
                    offset: field_start,
                });
            }
            pos += 1; // '='
            let start = pos;
            let end = match pending_data.take() {
                Some((data_tag, data_len)) if data_tag == tag => {
                    let end = start.saturating_add(data_len);
                    if end >= len || msg[end] != SOH {
                        return Err(ParseError {
                            kind: ParseErrorKind::Truncated,
                            tag: Some(tag),
                            offset: field_start,
                        });
                    }
                    end
                }
                _ => match msg[start..].iter().position(|&b| b == SOH) {
                    Some(p) => start + p,
                    None => {
                        return Err(ParseError {
                            kind: ParseErrorKind::Truncated,
                            tag: Some(tag),
                            offset: field_start,
                        });
                    }
                },
            };
            if end == start {
                return Err(ParseError {
                    kind: ParseErrorKind::TagWithoutValue,
                    tag: Some(tag),
                    offset: field_start,
                });
            }
            if let Some(data_tag) = data_tag_for_length(tag) {
                match parse_u64(&msg[start..end]) {
                    Some(n) if n <= len as u64 => pending_data = Some((data_tag, n as usize)),
                    _ => {
                        return Err(ParseError {
                            kind: ParseErrorKind::BadDataLength,
                            tag: Some(tag),
                            offset: field_start,
                        });
                    }
                }
            }
            if self.fields.len() >= self.max_fields {
                return Err(ParseError {
                    kind: ParseErrorKind::TooManyFields,
                    tag: Some(tag),
                    offset: field_start,
                });
            }
            self.fields.push(FieldRef {
                tag,
                start: start as u32,
                end: end as u32,
            });
            pos = end + 1;
        }
        let f = &self.fields;
        let order_ok = f.len() >= 4
            && f[0].tag == tags::BEGIN_STRING
            && f[1].tag == tags::BODY_LENGTH
            && f[2].tag == tags::MSG_TYPE
            && f[f.len() - 1].tag == tags::CHECK_SUM;
        if !order_ok {
            // Name the first tag that is out of place.
            let expected = [tags::BEGIN_STRING, tags::BODY_LENGTH, tags::MSG_TYPE];
            let bad = f
                .iter()
                .zip(expected)
                .find(|(fr, e)| fr.tag != *e)
                .map(|(fr, _)| fr.tag)
                .or_else(|| f.last().map(|fr| fr.tag));
            return Err(ParseError {
                kind: ParseErrorKind::HeaderOrTrailerOrder,
                tag: bad,
                offset: 0,
            });
        }
        Ok(Message {
            fields: Fields {
                buf: msg,
                refs: &self.fields,
            },
        })
    }
}

/// Reads MsgSeqNum (34) from a framed message without a full parse, so the
/// session can reference a message it has to reject because it does not parse.
pub fn peek_seq_num(msg: &[u8]) -> Option<u64> {
    peek(msg, b"\x0134=").and_then(parse_u64)
}

/// Reads MsgType (35) from a framed message without a full parse.
pub fn peek_msg_type(msg: &[u8]) -> Option<&[u8]> {
    peek(msg, b"\x0135=")
}

fn peek<'a>(msg: &'a [u8], pat: &[u8]) -> Option<&'a [u8]> {
    let p = msg.windows(pat.len()).position(|w| w == pat)?;
    let start = p + pat.len();
    let len = msg[start..].iter().position(|&b| b == SOH)?;
    Some(&msg[start..start + len])
}

/// Strict unsigned decimal: 1 to 20 ASCII digits, no sign, no overflow.
#[inline]
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Strict signed decimal: optional leading `-`, then digits, no overflow.
#[inline]
pub fn parse_i64(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    let m = parse_u64(digits)?;
    if neg {
        if m == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(m).ok().map(|x| -x)
        }
    } else {
        i64::try_from(m).ok()
    }
}

// ---------------------------------------------------------------------------
// Typed access
// ---------------------------------------------------------------------------

/// Why a field's value could not be read as the requested type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// The field is required but absent.
    Missing,
    /// The value has the wrong format for its type (373=6).
    BadFormat,
    /// The value is well-formed but out of range (373=5).
    OutOfRange,
    /// A repeating group's NumInGroup does not match its entries (373=16).
    GroupCount,
    /// A repeating group does not start with its delimiter field (373=15).
    GroupOrder,
}

/// A field could not be read: which tag and why. Maps to a Reject(3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldError {
    /// The tag concerned (RefTagID 371).
    pub tag: u32,
    /// What is wrong.
    pub kind: FieldErrorKind,
}

impl FieldError {
    /// Shorthand constructor.
    pub const fn new(tag: u32, kind: FieldErrorKind) -> Self {
        FieldError { tag, kind }
    }

    /// The session-level Reject(3) this error calls for.
    pub fn to_reject(&self) -> SessionReject {
        use SessionRejectReason as R;
        let (reason, text) = match self.kind {
            FieldErrorKind::Missing => (R::RequiredTagMissing, "Required tag missing"),
            FieldErrorKind::BadFormat => {
                (R::IncorrectDataFormat, "Incorrect data format for value")
            }
            FieldErrorKind::OutOfRange => (
                R::ValueIncorrect,
                "Value is incorrect (out of range) for this tag",
            ),
            FieldErrorKind::GroupCount => (
                R::IncorrectNumInGroup,
                "Incorrect NumInGroup count for repeating group",
            ),
            FieldErrorKind::GroupOrder => (
                R::GroupFieldsOutOfOrder,
                "Repeating group fields out of order",
            ),
        };
        SessionReject::new(reason, Some(self.tag), text)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag {}: {:?}", self.tag, self.kind)
    }
}

impl std::error::Error for FieldError {}

/// A run of parsed fields: a whole message or one entry of a repeating group.
/// All getters are allocation-free and return slices of the message buffer.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    buf: &'a [u8],
    refs: &'a [FieldRef],
}

impl<'a> Fields<'a> {
    #[inline]
    fn value(&self, r: &FieldRef) -> &'a [u8] {
        // Spans were produced by the parser from this very buffer.
        let buf: &'a [u8] = self.buf;
        &buf[r.start as usize..r.end as usize]
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// The value of the first occurrence of `tag`, in wire order.
    #[inline]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.refs
            .iter()
            .find(|r| r.tag == tag)
            .map(|r| self.value(r))
    }

    /// The value of `tag`, or a [`FieldErrorKind::Missing`] error.
    #[inline]
    pub fn require(&self, tag: u32) -> Result<&'a [u8], FieldError> {
        self.get(tag)
            .ok_or(FieldError::new(tag, FieldErrorKind::Missing))
    }

    /// `tag` as an unsigned integer (FIX int/SeqNum/Length/NumInGroup).
    pub fn get_u64(&self, tag: u32) -> Result<Option<u64>, FieldError> {
        match self.get(tag) {
            None => Ok(None),
            Some(v) => parse_u64(v)
                .map(Some)
                .ok_or(FieldError::new(tag, int_error_kind(v))),
        }
    }

    /// `tag` as a signed integer.
    pub fn get_i64(&self, tag: u32) -> Result<Option<i64>, FieldError> {
        match self.get(tag) {
            None => Ok(None),
            Some(v) => parse_i64(v)
                .map(Some)
                .ok_or(FieldError::new(tag, int_error_kind(v))),
        }
    }

    /// `tag` as a FIX Boolean (`Y`/`N`).
    pub fn get_bool(&self, tag: u32) -> Result<Option<bool>, FieldError> {
        match self.get(tag) {
            None => Ok(None),
            Some(b"Y") => Ok(Some(true)),
            Some(b"N") => Ok(Some(false)),
            Some(v) if v.len() == 1 => Err(FieldError::new(tag, FieldErrorKind::OutOfRange)),
            Some(_) => Err(FieldError::new(tag, FieldErrorKind::BadFormat)),
        }
    }

    /// `tag` as a FIX char (exactly one byte).
    pub fn get_char(&self, tag: u32) -> Result<Option<u8>, FieldError> {
        match self.get(tag) {
            None => Ok(None),
            Some(&[c]) => Ok(Some(c)),
            Some(_) => Err(FieldError::new(tag, FieldErrorKind::BadFormat)),
        }
    }

    /// `tag` as text (must be UTF-8; FIX String fields are ASCII in practice).
    pub fn get_str(&self, tag: u32) -> Result<Option<&'a str>, FieldError> {
        match self.get(tag) {
            None => Ok(None),
            Some(v) => core::str::from_utf8(v)
                .map(Some)
                .map_err(|_| FieldError::new(tag, FieldErrorKind::BadFormat)),
        }
    }

    /// `tag` as a UTCTimestamp, in nanoseconds since the Unix epoch.
    pub fn get_timestamp(&self, tag: u32) -> Result<Option<u64>, FieldError> {
        match self.get(tag) {
            None => Ok(None),
            Some(v) => parse_utc_timestamp(v)
                .map(Some)
                .map_err(|kind| FieldError::new(tag, kind)),
        }
    }

    /// How many times `tag` occurs.
    pub fn count(&self, tag: u32) -> usize {
        self.refs.iter().filter(|r| r.tag == tag).count()
    }

    /// Every field in wire order.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let buf = self.buf;
        self.refs
            .iter()
            .map(move |r| (r.tag, &buf[r.start as usize..r.end as usize]))
    }

    /// The field at `index` (wire order), if any.
    #[inline]
    pub fn at(&self, index: usize) -> Option<(u32, &'a [u8])> {
        self.refs.get(index).map(|r| (r.tag, self.value(r)))
    }

    /// The tag of the field at `index` (wire order), if any.
    pub fn tag_at(&self, index: usize) -> Option<u32> {
        self.refs.get(index).map(|r| r.tag)
    }

    /// A repeating group: `count_tag` is its NumInGroup field, `members` its
    /// member tags with the delimiter (the first field of every entry) first;
    /// include nested groups' count and member tags so they stay inside the entry.
    ///
    /// An entry starts at each occurrence of the delimiter and ends at the next
    /// delimiter or the first tag not in `members`. The number of entries must
    /// equal the NumInGroup value ([`FieldErrorKind::GroupCount`]), and the field
    /// right after the count must be the delimiter ([`FieldErrorKind::GroupOrder`]).
    /// An absent count tag gives an empty group.
    pub fn group(&self, count_tag: u32, members: &[u32]) -> Result<GroupIter<'a>, FieldError> {
        let Some(pos) = self.refs.iter().position(|r| r.tag == count_tag) else {
            return Ok(GroupIter::empty(self.buf));
        };
        let v = self.value(&self.refs[pos]);
        let declared = parse_u64(v).ok_or(FieldError::new(count_tag, int_error_kind(v)))?;
        let Some(&delim) = members.first() else {
            return Err(FieldError::new(count_tag, FieldErrorKind::GroupOrder));
        };
        let after = &self.refs[pos + 1..];
        // Extent of the group: consecutive fields whose tags are members.
        let extent = after
            .iter()
            .position(|r| !members.contains(&r.tag))
            .unwrap_or(after.len());
        let span = &after[..extent];
        let entries = span.iter().filter(|r| r.tag == delim).count() as u64;
        if declared > 0 && span.first().is_none_or(|r| r.tag != delim) {
            // Members present but not led by the delimiter, or no entries at all.
            if span.is_empty() {
                return Err(FieldError::new(count_tag, FieldErrorKind::GroupCount));
            }
            return Err(FieldError::new(span[0].tag, FieldErrorKind::GroupOrder));
        }
        if entries != declared {
            return Err(FieldError::new(count_tag, FieldErrorKind::GroupCount));
        }
        Ok(GroupIter {
            buf: self.buf,
            rest: span,
            delim,
        })
    }
}

fn int_error_kind(v: &[u8]) -> FieldErrorKind {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        FieldErrorKind::OutOfRange
    } else {
        FieldErrorKind::BadFormat
    }
}

/// Iterates the entries of a repeating group (see [`Fields::group`]).
#[derive(Debug, Clone)]
pub struct GroupIter<'a> {
    buf: &'a [u8],
    rest: &'a [FieldRef],
    delim: u32,
}

impl<'a> GroupIter<'a> {
    fn empty(buf: &'a [u8]) -> Self {
        GroupIter {
            buf,
            rest: &[],
            delim: 0,
        }
    }
}

impl<'a> Iterator for GroupIter<'a> {
    type Item = Fields<'a>;

    fn next(&mut self) -> Option<Fields<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let n = self.rest[1..]
            .iter()
            .position(|r| r.tag == self.delim)
            .map_or(self.rest.len(), |p| p + 1);
        let (entry, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(Fields {
            buf: self.buf,
            refs: entry,
        })
    }
}

/// One parsed FIX message. Dereferences to [`Fields`] for typed access.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    fields: Fields<'a>,
}

impl<'a> core::ops::Deref for Message<'a> {
    type Target = Fields<'a>;
    fn deref(&self) -> &Fields<'a> {
        &self.fields
    }
}

impl<'a> Message<'a> {
    /// MsgType (35): always present in a parsed message.
    #[inline]
    pub fn msg_type(&self) -> &'a [u8] {
        self.fields.value(&self.fields.refs[2])
    }

    /// BeginString (8).
    #[inline]
    pub fn begin_string(&self) -> &'a [u8] {
        self.fields.value(&self.fields.refs[0])
    }

    /// MsgSeqNum (34): required in every message; missing → `Missing`, malformed → `BadFormat`.
    pub fn seq_num(&self) -> Result<u64, FieldError> {
        self.fields
            .get_u64(tags::MSG_SEQ_NUM)?
            .ok_or(FieldError::new(tags::MSG_SEQ_NUM, FieldErrorKind::Missing))
    }

    /// The whole message as received.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.fields.buf
    }

    /// The fields as a [`Fields`] value (what `Deref` gives, but by value).
    #[inline]
    pub fn all(&self) -> Fields<'a> {
        self.fields
    }
}

// ---------------------------------------------------------------------------
// UTCTimestamp
// ---------------------------------------------------------------------------

const NS_PER_SEC: u64 = 1_000_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian civil date (year >= 1970).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Shift the year to start in March so the leap day is the year's last day.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits_n(v: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    Some(n)
}

/// Parses a FIX UTCTimestamp `YYYYMMDD-HH:MM:SS[.sss]` (also accepts 1 to 9
/// fractional digits, as later FIX versions send) into nanoseconds since the Unix
/// epoch. A leap second (`:60`) is accepted and folded into the next second.
/// Malformed text is [`FieldErrorKind::BadFormat`]; impossible dates and times
/// (month 13, 31 April, hour 24, year before 1970 or after 2554, where u64
/// nanoseconds end) are [`FieldErrorKind::OutOfRange`].
pub fn parse_utc_timestamp(v: &[u8]) -> Result<u64, FieldErrorKind> {
    use FieldErrorKind::{BadFormat, OutOfRange};
    if v.len() < 17 || v[8] != b'-' || v[11] != b':' || v[14] != b':' {
        return Err(BadFormat);
    }
    let year = digits_n(&v[0..4]).ok_or(BadFormat)?;
    let month = digits_n(&v[4..6]).ok_or(BadFormat)?;
    let day = digits_n(&v[6..8]).ok_or(BadFormat)?;
    let hour = digits_n(&v[9..11]).ok_or(BadFormat)?;
    let min = digits_n(&v[12..14]).ok_or(BadFormat)?;
    let sec = digits_n(&v[15..17]).ok_or(BadFormat)?;
    let mut frac_ns = 0u64;
    if v.len() > 17 {
        let frac = &v[18..];
        if v[17] != b'.' || frac.is_empty() || frac.len() > 9 {
            return Err(BadFormat);
        }
        let f = digits_n(frac).ok_or(BadFormat)?;
        frac_ns = u64::from(f) * 10u64.pow(9 - frac.len() as u32);
    }
    let y = i64::from(year);
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(y, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return Err(OutOfRange);
    }
    let days = days_from_civil(y, month, day) as u64;
    let secs = days * 86_400 + u64::from(hour) * 3600 + u64::from(min) * 60 + u64::from(sec);
    // u64 nanoseconds end in 2554: later dates are out of range, not a wrap.
    secs.checked_mul(NS_PER_SEC)
        .and_then(|ns| ns.checked_add(frac_ns))
        .ok_or(OutOfRange)
}

/// Length of a UTCTimestamp with milliseconds, `YYYYMMDD-HH:MM:SS.sss`.
pub const UTC_TIMESTAMP_LEN: usize = 21;

/// Formats `unix_ns` as a UTCTimestamp with milliseconds (`YYYYMMDD-HH:MM:SS.sss`),
/// the precision FIX 4.4 defines.
pub fn format_utc_timestamp(unix_ns: u64, out: &mut [u8; UTC_TIMESTAMP_LEN]) {
    // u64 nanoseconds end in the year 2554, so the year always has four digits.
    let ns = unix_ns;
    let secs = ns / NS_PER_SEC;
    let ms = (ns % NS_PER_SEC) / 1_000_000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let put = |out: &mut [u8; UTC_TIMESTAMP_LEN], at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(out, 0, 4, y as u64);
    put(out, 4, 2, u64::from(m));
    put(out, 6, 2, u64::from(d));
    out[8] = b'-';
    put(out, 9, 2, sod / 3600);
    out[11] = b':';
    put(out, 12, 2, (sod / 60) % 60);
    out[14] = b':';
    put(out, 15, 2, sod % 60);
    out[17] = b'.';
    put(out, 18, 3, ms);
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Room reserved in front of the body for `8=<BeginString><SOH>9=<len><SOH>`.
const BODY_LENGTH_ROOM: usize = 2 + MAX_BODY_LENGTH_DIGITS + 1;

/// Writes FIX messages into one reusable buffer and fills in BodyLength (9) and
/// CheckSum (10). The body is written once, in place: `start` leaves room for the
/// header in front of it, and `finish` writes `8=` and `9=` right-aligned against
/// the body, so no byte is moved.
///
/// Values are written as given: they must not contain SOH (except data fields
/// written after their length field).
#[derive(Debug, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
    begin_string: Vec<u8>,
    body_start: usize,
    msg_start: usize,
    /// Where the fields after `35=<type>` begin.
    fields_start: usize,
}

impl Encoder {
    /// An encoder for messages with this BeginString (e.g. `b"FIX.4.4"`).
    pub fn new(begin_string: &[u8]) -> Self {
        Encoder {
            buf: Vec::with_capacity(1024),
            begin_string: begin_string.to_vec(),
            body_start: 0,
            msg_start: 0,
            fields_start: 0,
        }
    }

    /// Starts a new message: reserves the header room and writes `35=<msg_type>`.
    pub fn start(&mut self, msg_type: &[u8]) -> &mut Self {
        self.buf.clear();
        self.body_start = 2 + self.begin_string.len() + 1 + BODY_LENGTH_ROOM;
        self.buf.resize(self.body_start, 0);
        self.field(tags::MSG_TYPE, msg_type);
        self.fields_start = self.buf.len();
        self
    }

    /// The fields written since `start` (after `35=<type>`), before `finish`:
    /// an application message body for [`crate::fix::session::Acceptor::send`],
    /// encoded in place (no copy, no allocation).
    pub fn body_fields(&self) -> &[u8] {
        self.buf.get(self.fields_start..).unwrap_or(&[])
    }

    #[inline]
    fn put_tag(&mut self, tag: u32) {
        let mut tmp = [0u8; 20];
        let s = fmt_u64(u64::from(tag), &mut tmp);
        self.buf.extend_from_slice(s);
        self.buf.push(b'=');
    }

    /// Appends `tag=value<SOH>`.
    #[inline]
    pub fn field(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        self.put_tag(tag);
        self.buf.extend_from_slice(value);
        self.buf.push(SOH);
        self
    }

    /// Appends an unsigned integer field.
    #[inline]
    pub fn field_u64(&mut self, tag: u32, v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let s = fmt_u64(v, &mut tmp);
        self.put_tag(tag);
        self.buf.extend_from_slice(s);
        self.buf.push(SOH);
        self
    }

    /// Appends a signed integer field.
    #[inline]
    pub fn field_i64(&mut self, tag: u32, v: i64) -> &mut Self {
        self.put_tag(tag);
        if v < 0 {
            self.buf.push(b'-');
        }
        let mut tmp = [0u8; 20];
        let s = fmt_u64(v.unsigned_abs(), &mut tmp);
        self.buf.extend_from_slice(s);
        self.buf.push(SOH);
        self
    }

    /// Appends a one-character field.
    #[inline]
    pub fn field_char(&mut self, tag: u32, c: u8) -> &mut Self {
        self.field(tag, &[c])
    }

    /// Appends a Boolean field (`Y`/`N`).
    #[inline]
    pub fn field_bool(&mut self, tag: u32, b: bool) -> &mut Self {
        self.field(tag, if b { b"Y" } else { b"N" })
    }

    /// Appends a UTCTimestamp field with milliseconds.
    #[inline]
    pub fn field_timestamp(&mut self, tag: u32, unix_ns: u64) -> &mut Self {
        let mut ts = [0u8; UTC_TIMESTAMP_LEN];
        format_utc_timestamp(unix_ns, &mut ts);
        self.field(tag, &ts)
    }

    /// Appends raw bytes to the body (already `tag=value<SOH>` encoded), e.g. to
    /// copy fields from another message.
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Writes the header in front of the body and appends `10=NNN<SOH>`. Returns
    /// the complete message; it stays valid until the next `start`.
    pub fn finish(&mut self) -> &[u8] {
        let body_len = self.buf.len() - self.body_start;
        let mut tmp = [0u8; 20];
        let len_digits = fmt_u64(body_len as u64, &mut tmp);
        let header_len = 2 + self.begin_string.len() + 1 + 2 + len_digits.len() + 1;
        let start = self.body_start - header_len;
        let mut w = start;
        let mut put = |bytes: &[u8]| {
            self.buf[w..w + bytes.len()].copy_from_slice(bytes);
            w += bytes.len();
        };
        put(b"8=");
        put(&self.begin_string);
        put(&[SOH]);
        put(b"9=");
        put(len_digits);
        put(&[SOH]);
        let sum = checksum(&self.buf[start..]);
        self.buf.extend_from_slice(b"10=");
        self.buf.push(b'0' + sum / 100);
        self.buf.push(b'0' + (sum / 10) % 10);
        self.buf.push(b'0' + sum % 10);
        self.buf.push(SOH);
        self.msg_start = start;
        &self.buf[start..]
    }

    /// The last finished message (empty before the first `finish`).
    pub fn message(&self) -> &[u8] {
        self.buf.get(self.msg_start..).unwrap_or(&[])
    }
}

/// Formats `v` in decimal into the end of `tmp`, returning the digits.
#[inline]
pub fn fmt_u64(mut v: u64, tmp: &mut [u8; 20]) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &tmp[i..]
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
