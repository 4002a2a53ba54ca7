use super::*;

/// Replaces `|` by SOH so tests can be written readably.
fn soh(s: &str) -> Vec<u8> {
    s.bytes().map(|b| if b == b'|' { SOH } else { b }).collect()
}

/// Builds a correctly framed message from a body written with `|` separators
/// (starting at `35=`), computing BodyLength and CheckSum independently of the
/// encoder.
fn msg(begin: &str, body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut m = soh(&format!("8={begin}|9={}|", body.len()));
    m.extend_from_slice(&body);
    let sum: u32 = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(&soh(&format!("10={sum:03}|")));
    m
}

const NOS_BODY: &str = "35=D|34=2|49=TW|52=20240102-03:04:05.678|56=ISLD|11=ord-1|21=1|55=BTC-USD|54=1|60=20240102-03:04:05.000|38=1.5|40=2|44=42000.25|59=0|";

#[test]
fn frames_a_complete_message() {
    let m = msg("FIX.4.4", NOS_BODY);
    assert_eq!(
        frame(&m, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Complete { len: m.len() }
    );
    // Followed by the start of another message: still only the first.
    let mut two = m.clone();
    two.extend_from_slice(&m[..10]);
    assert_eq!(
        frame(&two, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Complete { len: m.len() }
    );
}

#[test]
fn every_proper_prefix_is_incomplete() {
    let m = msg("FIX.4.4", NOS_BODY);
    for n in 0..m.len() {
        assert_eq!(
            frame(&m[..n], DEFAULT_MAX_MESSAGE_LEN),
            Frame::Incomplete,
            "prefix {n}"
        );
    }
}

#[test]
fn bad_checksum_is_garbled_and_skips_to_the_next_message() {
    let mut m = msg("FIX.4.4", NOS_BODY);
    let n = m.len();
    m[n - 2] = if m[n - 2] == b'0' { b'1' } else { b'0' };
    let good = msg("FIX.4.4", "35=0|34=3|49=TW|52=20240102-03:04:05|56=ISLD|");
    let mut stream = m.clone();
    stream.extend_from_slice(&good);
    match frame(&stream, DEFAULT_MAX_MESSAGE_LEN) {
        Frame::Garbled { skip, reason } => {
            assert_eq!(reason, GarbleReason::CheckSumMismatch);
            assert_eq!(skip, m.len());
            assert_eq!(
                frame(&stream[skip..], DEFAULT_MAX_MESSAGE_LEN),
                Frame::Complete { len: good.len() }
            );
        }
        other => panic!("expected garbled, got {other:?}"),
    }
}

#[test]
fn wrong_body_length_is_garbled() {
    let good = msg("FIX.4.4", NOS_BODY);
    // Declare a body one byte shorter and one byte longer than it is.
    let text = String::from_utf8(good.clone()).unwrap();
    let len_field = format!("9={}", soh(NOS_BODY).len());
    for delta in [-1i64, 1] {
        let bad_len = format!("9={}", soh(NOS_BODY).len() as i64 + delta);
        let bad = text.replacen(&len_field, &bad_len, 1).into_bytes();
        let mut stream = bad.clone();
        stream.extend_from_slice(&good);
        stream.extend_from_slice(&good);
        match frame(&stream, DEFAULT_MAX_MESSAGE_LEN) {
            Frame::Garbled { skip, .. } => assert_eq!(skip, bad.len(), "delta {delta}"),
            other => panic!("delta {delta}: expected garbled, got {other:?}"),
        }
    }
}

#[test]
fn first_three_fields_must_be_8_9_35() {
    let m = soh("8=FIX.4.4|9=5|34=1|10=000|");
    assert!(matches!(
        frame(&m, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Garbled {
            reason: GarbleReason::MsgTypeNotThird,
            ..
        }
    ));
    let m = soh("9=5|8=FIX.4.4|35=0|10=000|");
    assert!(matches!(
        frame(&m, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Garbled {
            reason: GarbleReason::BadBeginString,
            ..
        }
    ));
    let m = soh("8=FIX.4.4|35=0|9=5|10=000|");
    assert!(matches!(
        frame(&m, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Garbled {
            reason: GarbleReason::BadBodyLength,
            ..
        }
    ));
    let m = soh("8=FIX.4.4|9=x|35=0|10=000|");
    assert!(matches!(
        frame(&m, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Garbled {
            reason: GarbleReason::BadBodyLength,
            ..
        }
    ));
}

#[test]
fn oversized_is_garbled_as_soon_as_the_length_is_known() {
    let m = soh("8=FIX.4.4|9=999999|35=D|");
    assert_eq!(
        frame(&m, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Garbled {
            skip: m.len(),
            reason: GarbleReason::TooLong
        }
    );
    let m = msg("FIX.4.4", NOS_BODY);
    assert!(matches!(
        frame(&m, m.len() - 1),
        Frame::Garbled {
            reason: GarbleReason::TooLong,
            ..
        }
    ));
    assert_eq!(frame(&m, m.len()), Frame::Complete { len: m.len() });
}

#[test]
fn garbage_resyncs_on_the_next_begin_string() {
    let good = msg("FIX.4.4", NOS_BODY);
    let mut stream = b"hello world\x01".to_vec();
    stream.extend_from_slice(&good);
    let Frame::Garbled { skip, reason } = frame(&stream, DEFAULT_MAX_MESSAGE_LEN) else {
        panic!("expected garbled")
    };
    assert_eq!(reason, GarbleReason::BadBeginString);
    assert_eq!(skip, 12);
    // Garbage ending in a partial "8=FI" keeps that tail.
    let g = soh("xyz|8=FI");
    assert_eq!(
        frame(&g, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Garbled {
            skip: 4,
            reason: GarbleReason::BadBeginString
        }
    );
    assert_eq!(frame(&g[4..], DEFAULT_MAX_MESSAGE_LEN), Frame::Incomplete);
    // A lone SOH is dropped (skip >= 1 always).
    assert!(matches!(frame(&[SOH], 100), Frame::Garbled { skip: 1, .. }));
}

#[test]
fn parses_fields_and_typed_values() {
    let m = msg("FIX.4.4", NOS_BODY);
    let mut p = Parser::new();
    let msg = p.parse(&m).unwrap();
    assert_eq!(msg.msg_type(), b"D");
    assert_eq!(msg.begin_string(), b"FIX.4.4");
    assert_eq!(msg.seq_num(), Ok(2));
    assert_eq!(msg.get(49), Some(&b"TW"[..]));
    assert_eq!(msg.get(11), Some(&b"ord-1"[..]));
    assert_eq!(msg.get(9999), None);
    assert_eq!(msg.get_char(54), Ok(Some(b'1')));
    assert_eq!(msg.get_u64(40), Ok(Some(2)));
    assert_eq!(
        msg.get_u64(55),
        Err(FieldError::new(55, FieldErrorKind::BadFormat))
    );
    assert_eq!(msg.get_str(55), Ok(Some("BTC-USD")));
    assert_eq!(msg.get_bool(43), Ok(None));
    assert_eq!(msg.get_timestamp(52), Ok(Some(1_704_164_645_678_000_000)));
    assert_eq!(
        msg.require(1),
        Err(FieldError::new(1, FieldErrorKind::Missing))
    );
    let tags: Vec<u32> = msg.fields().map(|(t, _)| t).collect();
    assert_eq!(&tags[..4], &[8, 9, 35, 34]);
    assert_eq!(*tags.last().unwrap(), 10);
    assert_eq!(msg.as_bytes(), &m[..]);
    assert_eq!(peek_seq_num(&m), Some(2));
    assert_eq!(peek_msg_type(&m), Some(&b"D"[..]));
}

#[test]
fn parser_errors_name_the_tag_and_reject_reason() {
    let mut p = Parser::new();
    let cases: &[(&str, ParseErrorKind, Option<u32>, u32)] = &[
        (
            "35=D|34=2|58=|",
            ParseErrorKind::TagWithoutValue,
            Some(58),
            4,
        ),
        ("35=D|34=2|x=1|", ParseErrorKind::InvalidTag, None, 0),
        ("35=D|34=2|=1|", ParseErrorKind::InvalidTag, None, 0),
        ("35=D|34=2|0=1|", ParseErrorKind::InvalidTag, None, 0),
        ("35=D|34=2|058=1|", ParseErrorKind::InvalidTag, None, 0),
        (
            "35=D|34=2|123456789=1|",
            ParseErrorKind::InvalidTag,
            None,
            0,
        ),
        (
            "35=D|34=2|95=x|96=a|",
            ParseErrorKind::BadDataLength,
            Some(95),
            6,
        ),
    ];
    for (body, kind, tag, reason) in cases {
        let m = msg("FIX.4.4", body);
        assert!(matches!(frame(&m, 4096), Frame::Complete { .. }), "{body}");
        let e = p.parse(&m).unwrap_err();
        assert_eq!(e.kind, *kind, "{body}");
        assert_eq!(e.tag, *tag, "{body}");
        assert_eq!(e.to_reject().reason.code(), *reason, "{body}");
        assert_eq!(e.to_reject().ref_tag, *tag, "{body}");
    }
    // Not framed at all: still a typed error, never a panic.
    assert!(p.parse(b"").is_err());
    assert!(p.parse(b"8=FIX.4.4").is_err());
    assert_eq!(
        p.parse(&soh("8=FIX.4.4|9=5|35=0|34=1|")).unwrap_err().kind,
        ParseErrorKind::HeaderOrTrailerOrder
    );
}

#[test]
fn too_many_fields_is_an_error() {
    let body: String = std::iter::once("35=0|".to_string())
        .chain((0..50).map(|i| format!("{}=x|", 5000 + i)))
        .collect();
    let m = msg("FIX.4.4", &body);
    let mut p = Parser::with_max_fields(20);
    assert_eq!(p.parse(&m).unwrap_err().kind, ParseErrorKind::TooManyFields);
    let mut p = Parser::new();
    assert_eq!(p.parse(&m).unwrap().len(), 54);
}

#[test]
fn data_fields_may_contain_soh() {
    let m = msg("FIX.4.4", "35=B|148=news|95=5|96=a|b=c|58=t|");
    assert!(matches!(frame(&m, 4096), Frame::Complete { .. }));
    let mut p = Parser::new();
    let msg = p.parse(&m).unwrap();
    assert_eq!(msg.get(96), Some(&soh("a|b=c")[..]));
    assert_eq!(msg.get(58), Some(&b"t"[..]));
    // A length running past the message is an error, not an over-read.
    let m = msg_raw_body("35=B|95=50|96=abc|");
    assert!(p.parse(&m).is_err());
}

fn msg_raw_body(body: &str) -> Vec<u8> {
    msg("FIX.4.4", body)
}

#[test]
fn repeating_groups() {
    // NoPartyIDs(453) with PartyID(448), PartyIDSource(447), PartyRole(452).
    let members = [448, 447, 452];
    let m = msg(
        "FIX.4.4",
        "35=D|11=a|453=2|448=P1|447=D|452=1|448=P2|452=3|55=X|",
    );
    let mut p = Parser::new();
    let msg = p.parse(&m).unwrap();
    let entries: Vec<_> = msg.group(453, &members).unwrap().collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].get(448), Some(&b"P1"[..]));
    assert_eq!(entries[0].get(447), Some(&b"D"[..]));
    assert_eq!(entries[1].get(448), Some(&b"P2"[..]));
    assert_eq!(entries[1].get(447), None);
    assert_eq!(entries[1].get_u64(452), Ok(Some(3)));
    assert_eq!(msg.group(454, &[455, 456]).unwrap().count(), 0);

    let bad_count = msg_raw_body("35=D|453=3|448=P1|452=1|448=P2|55=X|");
    let msg = p.parse(&bad_count).unwrap();
    let e = msg.group(453, &members).unwrap_err();
    assert_eq!(e, FieldError::new(453, FieldErrorKind::GroupCount));
    assert_eq!(e.to_reject().reason.code(), 16);

    let bad_order = msg_raw_body("35=D|453=1|452=1|448=P1|55=X|");
    let msg = p.parse(&bad_order).unwrap();
    assert_eq!(
        msg.group(453, &members).unwrap_err(),
        FieldError::new(452, FieldErrorKind::GroupOrder)
    );
    let not_num = msg_raw_body("35=D|453=two|448=P1|");
    let msg = p.parse(&not_num).unwrap();
    assert_eq!(
        msg.group(453, &members)
            .unwrap_err()
            .to_reject()
            .reason
            .code(),
        6
    );
}

#[test]
fn encoder_round_trips_through_frame_and_parse() {
    let mut e = Encoder::new(b"FIX.4.4");
    e.start(b"8")
        .field(49, b"ISLD")
        .field(56, b"TW")
        .field_u64(34, 7)
        .field_timestamp(52, 1_704_164_645_678_123_456)
        .field_i64(44, -1234)
        .field_char(54, b'2')
        .field_bool(43, false)
        .field(58, b"hello");
    let out = e.finish().to_vec();
    assert_eq!(
        frame(&out, DEFAULT_MAX_MESSAGE_LEN),
        Frame::Complete { len: out.len() }
    );
    assert!(out.starts_with(b"8=FIX.4.4\x019="));
    let mut p = Parser::new();
    let m = p.parse(&out).unwrap();
    assert_eq!(m.msg_type(), b"8");
    assert_eq!(m.seq_num(), Ok(7));
    assert_eq!(m.get(52), Some(&b"20240102-03:04:05.678"[..]));
    assert_eq!(m.get_i64(44), Ok(Some(-1234)));
    assert_eq!(m.get_bool(43), Ok(Some(false)));
    assert_eq!(e.message(), &out[..]);
    // BodyLength counts from after "9=..<SOH>" up to and including the SOH before "10=".
    let body_len = m.get_u64(9).unwrap().unwrap() as usize;
    let body_start = out.iter().position(|&b| b == b'3').unwrap();
    assert_eq!(body_start + body_len + 7, out.len());
    // Reuse: a second, shorter message.
    let out2 = e.start(b"0").field_u64(34, 8).finish().to_vec();
    assert_eq!(frame(&out2, 4096), Frame::Complete { len: out2.len() });
    assert_eq!(out2, msg("FIX.4.4", "35=0|34=8|"));
}

#[test]
fn encoder_matches_independent_construction() {
    let mut e = Encoder::new(b"FIX.4.4");
    let mut p = Parser::new();
    let m = msg("FIX.4.4", NOS_BODY);
    let parsed = p.parse(&m).unwrap();
    e.start(parsed.msg_type());
    for (tag, v) in parsed.fields().skip(3) {
        if tag != 10 {
            e.field(tag, v);
        }
    }
    assert_eq!(e.finish(), &m[..]);
}

#[test]
fn utc_timestamps() {
    assert_eq!(parse_utc_timestamp(b"19700101-00:00:00"), Ok(0));
    assert_eq!(parse_utc_timestamp(b"19700101-00:00:00.001"), Ok(1_000_000));
    assert_eq!(
        parse_utc_timestamp(b"20000229-23:59:59.123456789"),
        Ok(951_868_799_123_456_789)
    );
    assert_eq!(
        parse_utc_timestamp(b"20231301-00:00:00"),
        Err(FieldErrorKind::OutOfRange)
    );
    assert_eq!(
        parse_utc_timestamp(b"20230229-00:00:00"),
        Err(FieldErrorKind::OutOfRange)
    );
    assert_eq!(
        parse_utc_timestamp(b"20230431-00:00:00"),
        Err(FieldErrorKind::OutOfRange)
    );
    assert_eq!(
        parse_utc_timestamp(b"20230101-24:00:00"),
        Err(FieldErrorKind::OutOfRange)
    );
    assert_eq!(
        parse_utc_timestamp(b"19691231-23:59:59"),
        Err(FieldErrorKind::OutOfRange)
    );
    assert_eq!(
        parse_utc_timestamp(b"2023010100:00:00"),
        Err(FieldErrorKind::BadFormat)
    );
    assert_eq!(
        parse_utc_timestamp(b"20230101-00:00:00."),
        Err(FieldErrorKind::BadFormat)
    );
    assert_eq!(
        parse_utc_timestamp(b"20230101-00:00:0a"),
        Err(FieldErrorKind::BadFormat)
    );
    assert_eq!(
        parse_utc_timestamp(b"20230101-00:00:00.1234567890"),
        Err(FieldErrorKind::BadFormat)
    );
    let mut out = [0u8; UTC_TIMESTAMP_LEN];
    format_utc_timestamp(951_868_799_123_456_789, &mut out);
    assert_eq!(&out, b"20000229-23:59:59.123");
    format_utc_timestamp(0, &mut out);
    assert_eq!(&out, b"19700101-00:00:00.000");
}

#[test]
fn utc_timestamp_format_parse_round_trip_over_centuries() {
    let mut out = [0u8; UTC_TIMESTAMP_LEN];
    // Every ~1.7 days over 1970..2170, plus an odd millisecond offset.
    let step = 150_001_234_567_000u64;
    let mut ns = 0u64;
    while ns < 6_300_000_000_000_000_000 {
        let ms_ns = ns / 1_000_000 * 1_000_000;
        format_utc_timestamp(ns, &mut out);
        assert_eq!(parse_utc_timestamp(&out), Ok(ms_ns));
        ns += step;
    }
}

#[test]
fn integers() {
    assert_eq!(parse_u64(b"0"), Some(0));
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64(b"18446744073709551616"), None);
    assert_eq!(parse_u64(b"-1"), None);
    assert_eq!(parse_u64(b""), None);
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(parse_i64(b"9223372036854775808"), None);
    assert_eq!(parse_i64(b"-"), None);
    let mut tmp = [0u8; 20];
    assert_eq!(fmt_u64(u64::MAX, &mut tmp), b"18446744073709551615");
    assert_eq!(fmt_u64(0, &mut tmp), b"0");
    assert_eq!(
        checksum(b"8=FIX.4.4\x01"),
        (b"8=FIX.4.4\x01".iter().map(|&b| b as u32).sum::<u32>() % 256) as u8
    );
}
