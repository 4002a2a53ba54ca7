//! One function that drives every entry point of the codec over arbitrary
//! bytes, shared by the cargo-fuzz target (`gateway/fuzz`) and the stable-Rust
//! property tests, so CI proves on every run what the fuzzer explores longer:
//! no input makes the codec panic or read out of bounds, and its invariants hold.

use super::codec::{
    Encoder, Frame, Message, Parser, frame, parse_utc_timestamp, peek_msg_type, peek_seq_num,
};
use super::decimal::{Tick, decimal_to_lots, decimal_to_ticks};
use super::dict::{self, Member};

/// Feeds `data` as a byte stream: frames every message (with the default and a
/// tiny maximum size), parses, validates, reads every field through every typed
/// getter and every group the dictionary knows for the type, converts every
/// value as a decimal and a timestamp, and re-encodes what parsed. Panics only
/// if an invariant of the codec is broken, which is what the callers look for.
pub fn exercise(data: &[u8]) {
    for max_len in [super::codec::DEFAULT_MAX_MESSAGE_LEN, 64] {
        let mut parser = Parser::new();
        let mut encoder = Encoder::new(b"FIX.4.4");
        let mut rest = data;
        while !rest.is_empty() {
            match frame(rest, max_len) {
                Frame::Incomplete => break,
                Frame::Garbled { skip, .. } => {
                    assert!(
                        skip >= 1 && skip <= rest.len(),
                        "skip {skip} of {}",
                        rest.len()
                    );
                    rest = &rest[skip..];
                }
                Frame::Complete { len } => {
                    assert!(len <= rest.len() && len <= max_len);
                    let msg = &rest[..len];
                    check_message(&mut parser, &mut encoder, msg);
                    rest = &rest[len..];
                }
            }
        }
    }
    // The parser must also survive unframed input.
    let mut parser = Parser::with_max_fields(32);
    if let Err(e) = parser.parse(data) {
        let _ = e.to_reject();
        let _ = e.tag_text(data);
    }
    let _ = peek_seq_num(data);
    let _ = peek_msg_type(data);
}

fn check_message(parser: &mut Parser, encoder: &mut Encoder, msg: &[u8]) {
    let _ = peek_seq_num(msg);
    let _ = peek_msg_type(msg);
    let parsed = match parser.parse(msg) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_reject();
            assert!(e.tag_text(msg).len() <= 16);
            return;
        }
    };
    read_everything(&parsed);
    let _ = dict::validate(&parsed);
    let _ = dict::msg_type_status(parsed.msg_type());
    // Re-encode: the result must frame and parse to the same fields. (Skipped
    // when a CheckSum tag hides in the body: dropping it could re-pair a data
    // field with its length and legitimately change the parse.)
    if parsed.count(10) != 1 {
        return;
    }
    encoder.start(parsed.msg_type());
    for (tag, value) in parsed.fields().skip(3) {
        if tag != 10 {
            encoder.field(tag, value);
        }
    }
    let out = encoder.finish().to_vec();
    assert_eq!(frame(&out, usize::MAX), Frame::Complete { len: out.len() });
    let mut p2 = Parser::new();
    let again = match p2.parse(&out) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded message does not parse: {e}"),
    };
    assert_eq!(again.len(), parsed.len());
    assert!(
        again
            .fields()
            .skip(3)
            .zip(parsed.fields().skip(3))
            .all(|(a, b)| a == b || a.0 == 10)
    );
}

fn read_everything(m: &Message<'_>) {
    let _ = m.msg_type();
    let _ = m.begin_string();
    let _ = m.seq_num();
    let bytes = m.as_bytes();
    let ticks = [
        Tick::new(1, -2),
        Tick::new(5, -1),
        Tick::new(u64::MAX, 18),
        Tick::new(1, -18),
    ];
    for (i, (tag, value)) in m.fields().enumerate() {
        // Values are slices of the message.
        let start = value.as_ptr() as usize - bytes.as_ptr() as usize;
        assert!(start + value.len() <= bytes.len());
        assert_eq!(m.at(i), Some((tag, value)));
        let _ = m.get(tag);
        let _ = m.get_u64(tag);
        let _ = m.get_i64(tag);
        let _ = m.get_bool(tag);
        let _ = m.get_char(tag);
        let _ = m.get_str(tag);
        let _ = m.get_timestamp(tag);
        let _ = m.count(tag);
        let _ = parse_utc_timestamp(value);
        for t in ticks.into_iter().flatten() {
            let _ = decimal_to_ticks(value, t);
            let _ = decimal_to_lots(value, t);
        }
    }
    let _ = m.require(0);
    let _ = m.at(m.len());
    if let Some(def) = dict::message(m.msg_type()) {
        read_groups(&m.all(), def.body);
    }
    read_groups(&m.all(), dict::header());
}

fn read_groups(f: &super::codec::Fields<'_>, layout: &[Member]) {
    let mut tags = [0u32; 64];
    for member in layout {
        if let Member::Group { tag, members, .. } = member {
            let n = members.len().min(tags.len());
            for (slot, mem) in tags.iter_mut().zip(members.iter()) {
                *slot = mem.tag();
            }
            if let Ok(entries) = f.group(*tag, &tags[..n]) {
                for entry in entries {
                    for (t, _) in entry.fields() {
                        let _ = entry.get_u64(t);
                    }
                    read_groups(&entry, members);
                }
            }
        }
    }
}
