use super::*;
use crate::types::{OrderType, Side, StpMode, TimeInForce};
use proptest::prelude::*;

fn splitmix(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn sample_order() -> NewOrder {
    NewOrder {
        client_order_id: 42,
        account: 7,
        instrument: 1,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        stp: StpMode::CancelResting,
        post_only: false,
        price: 10_050,
        stop_price: 0,
        qty: 3,
        display_qty: 0,
        quote_budget: 0,
    }
}

#[test]
fn header_layout_is_as_documented() {
    let h = Header {
        session: 0x0102_0304,
        seq: 0x1122_3344_5566_7788,
        timestamp_ns: 99,
    };
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = sample_order().encode(&h, &mut buf).unwrap();
    assert_eq!(n, HEADER_LEN + NewOrder::LEN);
    assert_eq!(u16::from_le_bytes([buf[0], buf[1]]) as usize, n);
    assert_eq!(buf[2], VERSION);
    assert_eq!(buf[3], MsgType::NewOrder.code());
    assert_eq!(&buf[4..8], &0x0102_0304u32.to_le_bytes());
    assert_eq!(&buf[8..16], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&buf[16..24], &99u64.to_le_bytes());
    // first body field: client_order_id
    assert_eq!(&buf[24..32], &42u64.to_le_bytes());
}

#[test]
fn every_type_fits_a_slot_and_round_trips() {
    let mut next = splitmix(1);
    for &t in MsgType::ALL {
        let m = Message::random(t, &mut next);
        assert_eq!(m.msg_type(), t);
        let h = Header {
            session: 3,
            seq: 9,
            timestamp_ns: 11,
        };
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = m.encode(&h, &mut buf).unwrap();
        assert!(n <= MAX_MESSAGE_LEN);
        assert_eq!(n, HEADER_LEN + body_len(t));
        assert_eq!(decode(&buf[..n]), Ok((h, m)));
    }
}

#[test]
fn encode_into_a_short_buffer_is_an_error() {
    let mut buf = [0u8; 10];
    assert_eq!(
        sample_order().encode(&Header::default(), &mut buf),
        Err(EncodeError {
            need: HEADER_LEN + NewOrder::LEN,
            have: 10
        })
    );
}

#[test]
fn malformed_headers_are_typed_errors() {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = sample_order().encode(&Header::default(), &mut buf).unwrap();

    assert!(matches!(
        decode(&buf[..5]),
        Err(DecodeError::Truncated { need: 24, have: 5 })
    ));
    assert!(matches!(
        decode(&buf[..n - 1]),
        Err(DecodeError::Truncated { .. })
    ));

    let mut bad = buf;
    bad[2] = 9;
    assert_eq!(decode(&bad[..n]), Err(DecodeError::BadVersion(9)));

    let mut bad = buf;
    bad[3] = 200;
    assert_eq!(decode(&bad[..n]), Err(DecodeError::UnknownType(200)));

    let mut bad = buf;
    bad[0] = 30;
    assert!(matches!(
        decode(&bad[..n]),
        Err(DecodeError::BadLength {
            msg_type: MsgType::NewOrder,
            declared: 30,
            ..
        })
    ));
}

#[test]
fn bad_enum_in_body_names_the_field() {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = sample_order().encode(&Header::default(), &mut buf).unwrap();
    // side is after client_order_id (8), account (4), instrument (4)
    buf[HEADER_LEN + 16] = 0;
    assert_eq!(
        decode(&buf[..n]),
        Err(DecodeError::BadField {
            field: "side",
            code: 0
        })
    );
}

#[test]
fn stamp_seq_rewrites_in_place() {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = sample_order().encode(&Header::default(), &mut buf).unwrap();
    stamp_seq(&mut buf, 77).unwrap();
    let r = MessageRef::new(&buf[..n]).unwrap();
    assert_eq!(r.seq(), 77);
    assert_eq!(r.decode(), Ok(Message::NewOrder(sample_order())));
    assert!(stamp_seq(&mut buf[..3], 1).is_err());
}

#[test]
fn a_stream_of_messages_decodes_back_to_back() {
    let mut next = splitmix(5);
    let mut stream = Vec::new();
    let mut sent = Vec::new();
    for (i, &t) in MsgType::ALL.iter().enumerate() {
        let m = Message::random(t, &mut next);
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let h = Header {
            seq: i as u64,
            ..Header::default()
        };
        let n = m.encode(&h, &mut buf).unwrap();
        stream.extend_from_slice(&buf[..n]);
        sent.push(m);
    }
    let mut at = 0;
    let mut got = Vec::new();
    while at < stream.len() {
        let r = MessageRef::new(&stream[at..]).unwrap();
        got.push(r.decode().unwrap());
        at += r.len();
    }
    assert_eq!(got, sent);
    assert_eq!(fuzz_decode_all(&stream), sent.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every message type round-trips for random field values.
    #[test]
    fn prop_round_trip_every_type(seed in any::<u64>(), session in any::<u32>(), seq in any::<u64>(), ts in any::<u64>()) {
        let mut next = splitmix(seed);
        for &t in MsgType::ALL {
            let m = Message::random(t, &mut next);
            let h = Header { session, seq, timestamp_ns: ts };
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = m.encode(&h, &mut buf).unwrap();
            prop_assert_eq!(decode(&buf[..n]), Ok((h, m)));
        }
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn prop_random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = fuzz_decode_all(&data);
        let _ = decode(&data);
    }

    /// Valid messages with random bytes flipped or cut never panic, and either
    /// decode to a valid message or give a typed error.
    #[test]
    fn prop_mutated_messages_never_panic(seed in any::<u64>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut next = splitmix(seed);
        let t = MsgType::ALL[(next() % MsgType::ALL.len() as u64) as usize];
        let m = Message::random(t, &mut next);
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = m.encode(&Header::default(), &mut buf).unwrap();
        for (at, x) in flips {
            buf[at % n] ^= x;
        }
        let cut = cut % (n + 1);
        let _ = fuzz_decode_all(&buf[..cut]);
        if let Ok((_, m2)) = decode(&buf[..cut]) {
            let mut again = [0u8; MAX_MESSAGE_LEN];
            let h = MessageRef::new(&buf[..cut]).unwrap().header();
            let n2 = m2.encode(&h, &mut again).unwrap();
            prop_assert_eq!(&again[..n2], &buf[..n2]);
        }
    }
}

#[test]
fn session_event_carries_fix_sequence_numbers() {
    let e = SessionEvent {
        kind: SessionEventKind::SeqSync,
        account: 9,
        cancel_on_disconnect: false,
        next_in: 41,
        next_out: u64::MAX,
        out_mark: 1 << 40,
    };
    let h = Header {
        session: 2,
        seq: 5,
        timestamp_ns: 6,
    };
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = e.encode(&h, &mut buf).unwrap();
    // kind + account + flag + three u64 numbers.
    assert_eq!(n, HEADER_LEN + 1 + 4 + 1 + 24);
    assert_eq!(decode(&buf[..n]).unwrap(), (h, Message::SessionEvent(e)));
    // An unknown kind code is a decode error naming the field, never a panic.
    buf[HEADER_LEN] = 99;
    assert!(decode(&buf[..n]).is_err());
}
