//! The FIX 4.4 dictionary the acceptor validates against, and [`validate`].
//!
//! The tables in `fix44.rs` are generated (by `gateway/tools/gen_fix44_dict.py`)
//! from the QuickFIX FIX 4.4 data dictionary, the one the public FIX acceptance
//! suites are written against: every FIX 4.4 field with its type, the header and
//! trailer, the full layout (components expanded, repeating groups nested) of the
//! message types we handle (`0 1 2 3 4 5 A D F G q 8 9 r j d`), every valid
//! MsgType, and the enumerated values of the fields those layouts use.
//!
//! [`validate`] answers "what session-level Reject(3) does this message earn?".
//! It looks only at the message's structure and values; CompIDs, SendingTime
//! accuracy, sequence numbers and BeginString are the session's business.
//! Choices, following the QuickFIX acceptance suite:
//!
//! - A tag that is not a FIX 4.4 field (including the user-defined range
//!   5000-9999, which we do not use) is 373=0 *invalid tag number*, not 3.
//! - A MsgType that FIX 4.4 does not define is 373=11 with no RefTagID; a valid
//!   MsgType we do not handle is accepted here (only its header and trailer are
//!   checked) so the session can answer BusinessMessageReject(j) with 380=3.
//! - Repeating-group members may appear in any order inside an entry, but each
//!   entry must start with the group's first (delimiter) field.

use super::codec::{Fields, Message, SessionReject, SessionRejectReason as R, parse_utc_timestamp};

#[rustfmt::skip]
mod fix44;

/// The value syntax of a field, from the FIX 4.4 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `int`: optional `-`, digits.
    Int,
    /// Non-negative integers: Length, NumInGroup, SeqNum, DayOfMonth.
    UInt,
    /// `float` and its kinds (Price, Qty, Amt, Percentage, PriceOffset): optional
    /// `-`, digits, optional `.` and digits; no sign `+`, no exponent.
    Float,
    /// A single character.
    Char,
    /// `Y` or `N`.
    Boolean,
    /// Free text (String, Exchange, Currency, Country, MonthYear).
    String,
    /// Space-separated list of enumerated values.
    MultipleValueString,
    /// Raw data, length-prefixed.
    Data,
    /// `YYYYMMDD-HH:MM:SS[.sss]`.
    UtcTimestamp,
    /// `HH:MM:SS[.sss]`.
    UtcTimeOnly,
    /// `YYYYMMDD` (UTCDateOnly and LocalMktDate).
    UtcDate,
}

/// One FIX 4.4 field.
#[derive(Debug)]
pub struct FieldDef {
    /// Tag number.
    pub tag: u32,
    /// Field name, for messages and logs.
    pub name: &'static str,
    /// Value syntax.
    pub ty: FieldType,
    /// Enumerated values (empty: any value of the type), kept for the fields
    /// that the handled message types use.
    pub values: &'static [&'static str],
}

/// One element of a message layout.
#[derive(Debug)]
pub enum Member {
    /// A plain field.
    Field {
        /// Tag number.
        tag: u32,
        /// Required (relative to its group entry, if inside a group).
        required: bool,
    },
    /// A repeating group: its NumInGroup tag and entry layout (the first member
    /// is the delimiter).
    Group {
        /// NumInGroup tag.
        tag: u32,
        /// Whether the group must be present.
        required: bool,
        /// Layout of one entry.
        members: &'static [Member],
    },
}

impl Member {
    /// The member's tag (the NumInGroup tag for a group).
    pub const fn tag(&self) -> u32 {
        match self {
            Member::Field { tag, .. } | Member::Group { tag, .. } => *tag,
        }
    }

    /// Whether the member is required.
    pub const fn required(&self) -> bool {
        match self {
            Member::Field { required, .. } | Member::Group { required, .. } => *required,
        }
    }
}

/// The layout of one message type's body.
#[derive(Debug)]
pub struct MsgDef {
    /// MsgType (35) value.
    pub msg_type: &'static str,
    /// Message name.
    pub name: &'static str,
    /// Administrative (session-level) message.
    pub admin: bool,
    /// Body layout (header and trailer excluded).
    pub body: &'static [Member],
}

/// How the acceptor treats an inbound MsgType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgTypeStatus {
    /// We handle it: the body is validated field by field.
    Supported,
    /// Valid FIX 4.4 but not handled inbound: answer BusinessMessageReject(j)
    /// with BusinessRejectReason (380) = 3 *unsupported message type*.
    Unsupported,
    /// Not a FIX 4.4 MsgType: session Reject(3) with 373=11.
    Invalid,
}

/// Message types accepted inbound: the session messages, the order-entry
/// messages, SecurityDefinition (for the conformance echo application) and
/// BusinessMessageReject (never rejected back).
pub const INBOUND_MSG_TYPES: &[&str] = &[
    "0", "1", "2", "3", "4", "5", "A", "D", "F", "G", "q", "d", "j",
];

/// The definition of `tag`, if FIX 4.4 defines it.
pub fn field(tag: u32) -> Option<&'static FieldDef> {
    let i = *index().fields.get(tag as usize)?;
    (i != 0).then(|| &fix44::FIELDS[usize::from(i) - 1])
}

/// Every FIX 4.4 tag is below this; lookup tables are indexed by tag.
const TAG_SPACE: usize = 1024;

/// A layout with O(1) member lookup by tag and its required tags.
struct LayoutIndex {
    members: &'static [Member],
    /// Position + 1 of each tag's member (0 = not a member).
    pos: Box<[u16]>,
    /// Required top-level tags, in layout order.
    required: Box<[u32]>,
}

impl LayoutIndex {
    fn new(members: &'static [Member]) -> LayoutIndex {
        let mut pos = vec![0u16; TAG_SPACE].into_boxed_slice();
        for (i, m) in members.iter().enumerate() {
            if let Some(slot) = pos.get_mut(m.tag() as usize) {
                *slot = (i + 1) as u16;
            }
        }
        let required = members
            .iter()
            .filter(|m| m.required())
            .map(Member::tag)
            .collect();
        LayoutIndex {
            members,
            pos,
            required,
        }
    }

    #[inline]
    fn find(&self, tag: u32) -> Option<&'static Member> {
        let p = *self.pos.get(tag as usize)?;
        let members: &'static [Member] = self.members;
        (p != 0).then(|| &members[usize::from(p) - 1])
    }

    fn check_required(&self, seen: &TagSet) -> Result<(), SessionReject> {
        match self.required.iter().find(|t| !seen.contains(**t)) {
            Some(t) => Err(reject(R::RequiredTagMissing, *t)),
            None => Ok(()),
        }
    }
}

/// Lookup tables built once, on first use, from the generated dictionary.
struct Index {
    /// FIELDS position + 1 of each tag (0 = not a FIX 4.4 field).
    fields: Box<[u16]>,
    header: LayoutIndex,
    trailer: LayoutIndex,
    /// One per entry of MESSAGES, same order.
    bodies: Box<[LayoutIndex]>,
}

fn index() -> &'static Index {
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut fields = vec![0u16; TAG_SPACE].into_boxed_slice();
        for (i, f) in fix44::FIELDS.iter().enumerate() {
            if let Some(slot) = fields.get_mut(f.tag as usize) {
                *slot = (i + 1) as u16;
            }
        }
        Index {
            fields,
            header: LayoutIndex::new(fix44::HEADER),
            trailer: LayoutIndex::new(fix44::TRAILER),
            bodies: fix44::MESSAGES
                .iter()
                .map(|m| LayoutIndex::new(m.body))
                .collect(),
        }
    })
}

fn message_index(msg_type: &[u8]) -> Option<usize> {
    fix44::MESSAGES
        .iter()
        .position(|m| m.msg_type.as_bytes() == msg_type)
}

/// The layout of `msg_type`, for the types listed in this module's docs.
pub fn message(msg_type: &[u8]) -> Option<&'static MsgDef> {
    fix44::MESSAGES
        .iter()
        .find(|m| m.msg_type.as_bytes() == msg_type)
}

/// The standard header layout (BeginString, BodyLength and MsgType included).
pub fn header() -> &'static [Member] {
    fix44::HEADER
}

/// The standard trailer layout.
pub fn trailer() -> &'static [Member] {
    fix44::TRAILER
}

/// How the acceptor treats an inbound message of this type.
pub fn msg_type_status(msg_type: &[u8]) -> MsgTypeStatus {
    if INBOUND_MSG_TYPES.iter().any(|t| t.as_bytes() == msg_type) {
        MsgTypeStatus::Supported
    } else if fix44::ALL_MSG_TYPES
        .iter()
        .any(|t| t.as_bytes() == msg_type)
    {
        MsgTypeStatus::Unsupported
    } else {
        MsgTypeStatus::Invalid
    }
}

fn find_member(members: &'static [Member], tag: u32) -> Option<(usize, &'static Member)> {
    members.iter().enumerate().find(|(_, m)| m.tag() == tag)
}

/// True if `tag` belongs to the standard header.
pub fn is_header_tag(tag: u32) -> bool {
    index().header.find(tag).is_some()
}

/// True if `tag` belongs to the standard trailer.
pub fn is_trailer_tag(tag: u32) -> bool {
    index().trailer.find(tag).is_some()
}

/// A set of tags below 1024 (every FIX 4.4 tag is), without allocation.
#[derive(Default)]
struct TagSet([u64; 16]);

impl TagSet {
    /// Inserts; false if it was already there.
    fn insert(&mut self, tag: u32) -> bool {
        let (w, b) = ((tag / 64) as usize % 16, tag % 64);
        let had = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !had
    }
    fn contains(&self, tag: u32) -> bool {
        let (w, b) = ((tag / 64) as usize % 16, tag % 64);
        self.0[w] & (1 << b) != 0
    }
}

fn reject(reason: super::codec::SessionRejectReason, tag: u32) -> SessionReject {
    let text = match reason {
        R::InvalidTagNumber => "Invalid tag number",
        R::RequiredTagMissing => "Required tag missing",
        R::TagNotDefinedForMsgType => "Tag not defined for this message type",
        R::UndefinedTag => "Undefined Tag",
        R::TagWithoutValue => "Tag specified without a value",
        R::ValueIncorrect => "Value is incorrect (out of range) for this tag",
        R::IncorrectDataFormat => "Incorrect data format for value",
        R::TagAppearsMoreThanOnce => "Tag appears more than once",
        R::TagOutOfOrder => "Tag specified out of required order",
        R::GroupFieldsOutOfOrder => "Repeating group fields out of order",
        R::IncorrectNumInGroup => "Incorrect NumInGroup count for repeating group",
        R::CompIdProblem => "CompID problem",
        R::SendingTimeAccuracy => "SendingTime accuracy problem",
        R::InvalidMsgType => "Invalid MsgType",
        R::Other => "Other",
    };
    SessionReject::new(reason, Some(tag), text)
}

/// Checks that `value` is valid for the field: 373=6 for bad syntax, 373=5 for
/// a well-formed value outside the field's enumerated values.
pub fn check_value(def: &FieldDef, value: &[u8]) -> Result<(), SessionReject> {
    let ok = match def.ty {
        FieldType::Int => {
            let d = value.strip_prefix(b"-").unwrap_or(value);
            !d.is_empty() && d.iter().all(u8::is_ascii_digit)
        }
        FieldType::UInt => !value.is_empty() && value.iter().all(u8::is_ascii_digit),
        FieldType::Float => is_float(value),
        FieldType::Char => value.len() == 1,
        FieldType::Boolean => value == b"Y" || value == b"N",
        FieldType::UtcTimestamp => parse_utc_timestamp(value).is_ok(),
        FieldType::UtcTimeOnly => is_time_only(value),
        FieldType::UtcDate => is_date(value),
        FieldType::String | FieldType::MultipleValueString | FieldType::Data => true,
    };
    if !ok {
        return Err(reject(R::IncorrectDataFormat, def.tag));
    }
    if def.values.is_empty() {
        return Ok(());
    }
    let known = |v: &[u8]| def.values.iter().any(|e| e.as_bytes() == v);
    let ok = if def.ty == FieldType::MultipleValueString {
        value.split(|&b| b == b' ').all(known)
    } else {
        known(value)
    };
    if ok {
        Ok(())
    } else {
        Err(reject(R::ValueIncorrect, def.tag))
    }
}

/// `YYYYMMDD`, a real calendar date (any year: 99991231 is a common "never").
fn is_date(v: &[u8]) -> bool {
    if v.len() != 8 || !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n =
        |r: core::ops::Range<usize>| v[r].iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    (1..=12).contains(&m) && d >= 1 && d <= super::codec::days_in_month(i64::from(y), m)
}

fn is_float(v: &[u8]) -> bool {
    let d = v.strip_prefix(b"-").unwrap_or(v);
    let mut digits = 0;
    let mut dots = 0;
    for &b in d {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    digits > 0 && dots <= 1
}

fn is_time_only(v: &[u8]) -> bool {
    let two = |a: u8, b: u8, max: u8| {
        a.is_ascii_digit() && b.is_ascii_digit() && (a - b'0') * 10 + (b - b'0') <= max
    };
    if v.len() < 8 || v[2] != b':' || v[5] != b':' {
        return false;
    }
    if !(two(v[0], v[1], 23) && two(v[3], v[4], 59) && two(v[6], v[7], 60)) {
        return false;
    }
    match v.len() {
        8 => true,
        _ => v[8] == b'.' && v.len() > 9 && v.len() <= 18 && v[9..].iter().all(u8::is_ascii_digit),
    }
}

/// Validates a parsed message against the FIX 4.4 dictionary and returns the
/// session-level Reject(3) it calls for, if any. Checks, in wire order: tag
/// defined in FIX 4.4 (373=0), header fields before body and body before trailer
/// (14), tag allowed in this message type (2), tag not repeated outside groups
/// (13), value syntax (6) and enumerated values (5), repeating group counts (16)
/// and entry structure (15); then required fields (1) in layout order. An
/// undefined MsgType is 373=11.
pub fn validate(msg: &Message<'_>) -> Result<(), SessionReject> {
    let mt = msg.msg_type();
    match msg_type_status(mt) {
        MsgTypeStatus::Invalid => Err(SessionReject::new(
            R::InvalidMsgType,
            None,
            "Invalid MsgType",
        )),
        MsgTypeStatus::Supported => validate_with(msg, message_index(mt)),
        MsgTypeStatus::Unsupported => validate_with(msg, None),
    }
}

/// Validates a message against the full layout of its type whenever the
/// dictionary has one, inbound or not (ExecutionReport, OrderCancelReject,
/// OrderMassCancelReport included): the check our own outbound messages pass
/// in tests. Types without a layout get the header/trailer checks only.
pub fn validate_structure(msg: &Message<'_>) -> Result<(), SessionReject> {
    validate_with(msg, message_index(msg.msg_type()))
}

fn validate_with(msg: &Message<'_>, body: Option<usize>) -> Result<(), SessionReject> {
    let idx = index();
    let body = body.and_then(|b| idx.bodies.get(b));
    let fields = msg.all();
    let n = fields.len();
    let mut seen = TagSet::default();
    // 0 = header, 1 = body, 2 = trailer
    let mut phase = 0u8;
    let mut i = 0;
    while i < n {
        let Some((tag, value)) = fields.at(i) else {
            break;
        };
        let Some(def) = field(tag) else {
            return Err(reject(R::InvalidTagNumber, tag));
        };
        let member = if let Some(m) = idx.header.find(tag) {
            if phase != 0 {
                return Err(reject(R::TagOutOfOrder, tag));
            }
            Some(m)
        } else if let Some(m) = idx.trailer.find(tag) {
            phase = 2;
            Some(m)
        } else {
            if phase == 2 {
                return Err(reject(R::TagOutOfOrder, tag));
            }
            phase = 1;
            match body {
                Some(layout) => match layout.find(tag) {
                    Some(m) => Some(m),
                    None => return Err(reject(R::TagNotDefinedForMsgType, tag)),
                },
                // Unhandled type: any FIX 4.4 field, no layout to check against.
                None => None,
            }
        };
        if member.is_some() && !seen.insert(tag) {
            return Err(reject(R::TagAppearsMoreThanOnce, tag));
        }
        check_value(def, value)?;
        i += 1;
        if let Some(Member::Group { members, .. }) = member {
            // Syntax checked above: a UInt NumInGroup.
            let declared = super::codec::parse_u64(value).unwrap_or(u64::MAX);
            i = check_group(&fields, i, tag, declared, members)?;
        }
    }
    idx.header.check_required(&seen)?;
    if let Some(layout) = body {
        layout.check_required(&seen)?;
    }
    Ok(())
}

/// Required members of a group entry, checked linearly (entries are small).
fn check_required(layout: &[Member], seen: &TagSet) -> Result<(), SessionReject> {
    for m in layout {
        if m.required() && !seen.contains(m.tag()) {
            return Err(reject(R::RequiredTagMissing, m.tag()));
        }
    }
    Ok(())
}

/// Checks the entries of a group whose count field was at `start - 1`; returns
/// the index of the first field after the group.
fn check_group(
    fields: &Fields<'_>,
    start: usize,
    count_tag: u32,
    declared: u64,
    members: &'static [Member],
) -> Result<usize, SessionReject> {
    let Some(delim) = members.first().map(Member::tag) else {
        return Ok(start);
    };
    let mut i = start;
    let mut entries = 0u64;
    let mut entry_seen = TagSet::default();
    while let Some((tag, value)) = fields.at(i) {
        let Some((_, member)) = find_member(members, tag) else {
            break; // first field after the group
        };
        if tag == delim {
            if entries > 0 {
                check_required(members, &entry_seen)?;
            }
            entries += 1;
            entry_seen = TagSet::default();
        } else if entries == 0 {
            return Err(reject(R::GroupFieldsOutOfOrder, tag));
        }
        if !entry_seen.insert(tag) {
            return Err(reject(R::TagAppearsMoreThanOnce, tag));
        }
        if let Some(def) = field(tag) {
            check_value(def, value)?;
        }
        i += 1;
        if let Member::Group { members: inner, .. } = member {
            let n = super::codec::parse_u64(value).unwrap_or(u64::MAX);
            i = check_group(fields, i, tag, n, inner)?;
        }
    }
    if entries > 0 {
        check_required(members, &entry_seen)?;
    }
    if entries != declared {
        return Err(reject(R::IncorrectNumInGroup, count_tag));
    }
    Ok(i)
}

#[cfg(test)]
mod tests;
