use super::*;
use crate::fix::codec::{Frame, Parser, frame};
use crate::fix::dict;
use crate::fix::testutil::fix44;
use engine::msg::Message as M;

const T: &str = "20240102-03:04:05.678";

fn instruments() -> Instruments {
    let cfg: Vec<InstrumentConfig> = serde_json::from_str(
        r#"[{"symbol":"BTC-USD","id":1,"tick":"0.01","lot":"0.0001"},
            {"symbol":"ETH-USD","id":2,"tick":{"mantissa":5,"exponent":-2},"lot":"0.001"}]"#,
    )
    .unwrap();
    Instruments::new(&cfg).unwrap()
}

const CTX: SessionContext = SessionContext {
    session: 7,
    account: 42,
    stp: StpMode::CancelResting,
};

/// Parses `body` (after a standard header), checks it passes the dictionary,
/// and decodes it as a command.
fn decode(body: &str) -> Result<Option<EngineMessage>, AppReject> {
    let m = fix44(
        &format!("35={}|34=2|49=TW|52={T}|56=ISLD|{}", &body[..1], &body[2..]).replace("<T>", T),
    );
    assert!(matches!(frame(&m, 4096), Frame::Complete { .. }));
    let mut p = Parser::new();
    let msg = p.parse(&m).unwrap();
    dict::validate(&msg).unwrap_or_else(|e| panic!("{body}: {e}"));
    decode_command(&msg, &CTX, &instruments())
}

const NOS: &str = "D|11=ord-1|55=BTC-USD|54=1|60=<T>|38=1.5|40=2|44=42000.25|59=1|";

#[test]
fn new_order_single_maps_to_new_order() {
    let Ok(Some(M::NewOrder(o))) = decode(NOS) else {
        panic!("{:?}", decode(NOS))
    };
    assert_eq!(
        o.client_order_id,
        engine::clordid::from_text(b"ord-1").unwrap()
    );
    assert_eq!(o.account, 42);
    assert_eq!(o.instrument, 1);
    assert_eq!(o.side, Side::Buy);
    assert_eq!(o.order_type, OrderType::Limit);
    assert_eq!(o.tif, TimeInForce::Gtc);
    assert_eq!(o.stp, StpMode::CancelResting);
    assert_eq!(o.price, 4_200_025);
    assert_eq!(o.qty, 15_000);
    assert_eq!(
        (o.stop_price, o.display_qty, o.quote_budget, o.post_only),
        (0, 0, 0, false)
    );

    // Stop-limit sell, DAY by default, iceberg, post-only.
    let Ok(Some(M::NewOrder(o))) =
        decode("D|11=2|55=ETH-USD|54=2|60=<T>|38=3|40=4|44=100.05|99=101|111=1|18=6|")
    else {
        panic!()
    };
    assert_eq!(
        (o.instrument, o.side, o.order_type, o.tif),
        (2, Side::Sell, OrderType::StopLimit, TimeInForce::Day)
    );
    assert_eq!(
        (o.price, o.stop_price, o.qty, o.display_qty, o.post_only),
        (2001, 2020, 3000, 1000, true)
    );

    // Market buy with a cash cap: 0.01 x 0.0001 = 0.000001 per unit.
    let Ok(Some(M::NewOrder(o))) = decode("D|11=3|55=BTC-USD|54=1|60=<T>|38=1|40=1|152=1000|59=3|")
    else {
        panic!()
    };
    assert_eq!(
        (o.order_type, o.tif, o.price, o.quote_budget),
        (OrderType::Market, TimeInForce::Ioc, 0, 1_000_000_000)
    );
}

#[test]
fn new_order_business_rejects() {
    let er = |reason, text| Err(AppReject::Order { reason, text });
    assert_eq!(
        decode(&NOS.replace("BTC-USD", "DOGE")),
        er(1, "Unknown symbol")
    );
    assert_eq!(
        decode(&NOS.replace("44=42000.25", "44=42000.255")),
        er(99, "Price is not a multiple of the tick size")
    );
    assert_eq!(
        decode(&NOS.replace("38=1.5", "38=1.00001")),
        er(13, "Quantity is not a multiple of the lot size")
    );
    assert_eq!(
        decode(&NOS.replace("38=1.5", "38=0")),
        er(13, "OrderQty (38) must be positive")
    );
    assert_eq!(
        decode(&NOS.replace("38=1.5|", "")),
        er(13, "OrderQty (38) is required")
    );
    assert_eq!(
        decode(&NOS.replace("40=2", "40=P")),
        er(11, "Unsupported OrdType: only 1, 2, 3, 4")
    );
    assert_eq!(
        decode(&NOS.replace("59=1", "59=6")),
        er(11, "Unsupported TimeInForce: only 0, 1, 3, 4")
    );
    assert_eq!(
        decode(&NOS.replace("54=1", "54=5")),
        er(11, "Unsupported Side: only 1 (buy) and 2 (sell)")
    );
    assert_eq!(
        decode(&NOS.replace("44=42000.25|", "")),
        er(99, "Price (44) is required for this OrdType")
    );
    assert_eq!(
        decode(&NOS.replace("40=2", "40=3").replace("44=42000.25|", "")),
        er(99, "StopPx (99) is required for this OrdType")
    );
    assert!(matches!(
        decode(&NOS.replace("ord-1", "a-very-long-client-id")),
        Err(AppReject::Order { reason: 99, .. })
    ));
    // Beyond i64 ticks: the value is out of range for the tag (session level).
    let Err(AppReject::Session(r)) =
        decode(&NOS.replace("44=42000.25", "44=999999999999999999999"))
    else {
        panic!()
    };
    assert_eq!((r.reason.code(), r.ref_tag), (5, Some(44)));
}

#[test]
fn cancel_replace_and_mass_cancel() {
    let Ok(Some(M::Cancel(c))) = decode("F|41=ord-1|11=c-1|55=BTC-USD|54=1|60=<T>|37=99|") else {
        panic!()
    };
    assert_eq!((c.order_id, c.account, c.instrument), (99, 42, 1));
    assert_eq!(
        c.orig_client_order_id,
        engine::clordid::from_text(b"ord-1").unwrap()
    );
    let Ok(Some(M::Replace(r))) =
        decode("G|41=ord-1|11=r-1|55=BTC-USD|54=1|60=<T>|38=2|40=2|44=41999|")
    else {
        panic!()
    };
    assert_eq!((r.order_id, r.price, r.qty), (0, 4_199_900, 20_000));
    let Ok(Some(M::MassCancel(m))) = decode("q|11=m-1|530=1|55=ETH-USD|60=<T>|") else {
        panic!()
    };
    assert_eq!(
        (m.scope, m.instrument, m.account, m.target_session),
        (MassCancelScope::Instrument, 2, 42, 7)
    );
    let Ok(Some(M::MassCancel(m))) = decode("q|11=m-2|530=7|60=<T>|") else {
        panic!()
    };
    assert_eq!(m.scope, MassCancelScope::All);
    // Rejects.
    assert_eq!(
        decode("F|41=ord-1|11=c-1|55=NOPE|54=1|60=<T>|"),
        Err(AppReject::Cancel {
            reason: 1,
            response_to: b'1',
            text: "Unknown symbol"
        })
    );
    assert_eq!(
        decode("G|41=ord-1|11=r-1|55=BTC-USD|54=1|60=<T>|38=2|40=2|44=1.001|"),
        Err(AppReject::Cancel {
            reason: 99,
            response_to: b'2',
            text: "Price is not a multiple of the tick size"
        })
    );
    assert_eq!(
        decode("q|11=m-1|530=3|60=<T>|"),
        Err(AppReject::MassCancel {
            reason: 0,
            text: "Unsupported MassCancelRequestType: only 1 and 7"
        })
    );
    assert_eq!(
        decode("q|11=m-1|530=1|60=<T>|"),
        Err(AppReject::MassCancel {
            reason: 1,
            text: "Symbol (55) is required for MassCancelRequestType=1"
        })
    );
    // Not an order-entry message.
    assert_eq!(decode("0|"), Ok(None));
}

/// Encodes header + body the way the session does and checks the result
/// frames, parses and passes the FIX 4.4 dictionary for its type.
fn outbound(msg_type: &[u8], body: impl FnOnce(&mut Encoder)) -> Vec<u8> {
    let mut e = Encoder::new(b"FIX.4.4");
    e.start(msg_type)
        .field(49, b"ISLD")
        .field(56, b"TW")
        .field_u64(34, 5)
        .field_timestamp(52, 1_700_000_000_000_000_000);
    body(&mut e);
    let out = e.finish().to_vec();
    assert!(matches!(frame(&out, 4096), Frame::Complete { .. }));
    let mut p = Parser::new();
    let m = p.parse(&out).unwrap();
    if let Err(r) = dict::validate_structure(&m) {
        panic!(
            "{r}: {}",
            String::from_utf8_lossy(&out).replace('\x01', "|")
        );
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\x01', "|")
}

fn er(kind: ExecKind) -> ExecReport {
    ExecReport {
        kind,
        order_id: 1001,
        client_order_id: engine::clordid::from_text(b"ord-2").unwrap(),
        orig_client_order_id: engine::clordid::from_text(b"ord-1").unwrap(),
        exec_id: 555,
        account: 42,
        instrument: 1,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reject: RejectCode::None,
        cancel: CancelReason::None,
        price: 4_200_025,
        last_price: 4_200_000,
        last_qty: 5_000,
        leaves_qty: 10_000,
        cum_qty: 5_000,
        cum_notional: 4_200_000 * 5_000,
    }
}

#[test]
fn execution_reports_for_every_kind_pass_the_dictionary() {
    let h = Header {
        session: 7,
        seq: 77,
        timestamp_ns: 1_700_000_000_123_000_000,
    };
    let inst = instruments();
    let mut cases = Vec::new();
    for kind in ExecKind::ALL {
        let mut e = er(*kind);
        if *kind == ExecKind::Rejected {
            e.reject = RejectCode::PriceOutsideCollar;
            (e.leaves_qty, e.cum_qty, e.cum_notional) = (0, 0, 0);
        }
        if *kind == ExecKind::Cancelled {
            e.cancel = CancelReason::Requested;
        }
        if *kind == ExecKind::Fill {
            e.leaves_qty = 0;
        }
        let out = outbound(b"8", |enc| {
            write_event_body(enc, &h, &M::ExecReport(e), &inst).unwrap()
        });
        cases.push((*kind, text(&out)));
    }
    let find = |k: ExecKind| {
        cases
            .iter()
            .find(|(c, _)| *c == k)
            .map(|(_, t)| t.clone())
            .unwrap()
    };
    let partial = find(ExecKind::PartialFill);
    for f in [
        "|37=1001|",
        "|11=ord-2|",
        "|17=555|",
        "|150=F|",
        "|39=1|",
        "|55=BTC-USD|",
        "|54=1|",
        "|40=2|",
        "|44=42000.25|",
        "|38=1.5|",
        "|32=0.5|",
        "|31=42000|",
        "|151=1|",
        "|14=0.5|",
        "|6=42000|",
        "|60=20231114-22:13:20.123|",
    ] {
        assert!(partial.contains(f), "{f} missing in {partial}");
    }
    assert!(!partial.contains("|41="));
    assert!(find(ExecKind::Fill).contains("|150=F|39=2|"));
    assert!(find(ExecKind::New).contains("|150=0|39=1|"));
    let cancelled = find(ExecKind::Cancelled);
    assert!(
        cancelled.contains("|41=ord-1|")
            && cancelled.contains("|150=4|39=4|")
            && cancelled.contains("|151=0|")
    );
    assert!(cancelled.contains("|58=Cancelled on request|"));
    assert!(find(ExecKind::Replaced).contains("|41=ord-1|"));
    assert!(find(ExecKind::Replaced).contains("|150=5|39=1|"));
    let rejected = find(ExecKind::Rejected);
    assert!(
        rejected.contains("|150=8|39=8|103=99|")
            && rejected.contains("|58=Price outside the collar|"),
        "{rejected}"
    );
    assert!(find(ExecKind::Expired).contains("|150=C|39=C|"));
    assert!(find(ExecKind::Triggered).contains("|150=D|39=1|"));
    assert!(find(ExecKind::Triggered).contains("|378=99|"));
    // Unknown instrument in an event: an error, not a panic or a bogus message.
    let mut bad = er(ExecKind::New);
    bad.instrument = 9;
    let mut e = Encoder::new(b"FIX.4.4");
    e.start(b"8");
    assert_eq!(
        write_event_body(&mut e, &h, &M::ExecReport(bad), &inst),
        Err(OutboundError::UnknownInstrument(9))
    );
}

#[test]
fn average_price_keeps_sub_tick_precision() {
    let h = Header::default();
    let mut e = er(ExecKind::PartialFill);
    // 1 lot at 100.00 and 2 lots at 100.01 -> 100.006666...
    (e.cum_qty, e.cum_notional) = (3, 10_000 + 2 * 10_001);
    let out = text(&outbound(b"8", |enc| {
        write_exec_report_body(enc, &h, &e, &instruments()).unwrap()
    }));
    assert!(out.contains("|6=100.00666667|"), "{out}");
}

#[test]
fn cancel_reject_and_mass_cancel_report_pass_the_dictionary() {
    let h = Header {
        session: 7,
        seq: 88,
        timestamp_ns: 1_700_000_000_000_000_000,
    };
    let inst = instruments();
    let cr = CancelReject {
        order_id: 0,
        client_order_id: 5,
        orig_client_order_id: 4,
        account: 42,
        instrument: 1,
        was_replace: true,
        reason: RejectCode::UnknownOrder,
        leaves_qty: 0,
        cum_qty: 0,
    };
    assert_eq!(event_msg_type(&M::CancelReject(cr)), Some(&b"9"[..]));
    let out = text(&outbound(b"9", |enc| {
        write_event_body(enc, &h, &M::CancelReject(cr), &inst).unwrap()
    }));
    assert!(
        out.contains("|37=NONE|11=5|41=4|39=8|434=2|102=1|"),
        "{out}"
    );
    let mr = MassCancelReport {
        client_order_id: 9,
        scope: MassCancelScope::Instrument,
        account: 42,
        instrument: 2,
        cancelled: 3,
        reason: RejectCode::None,
    };
    let out = text(&outbound(b"r", |enc| {
        write_event_body(enc, &h, &M::MassCancelReport(mr), &inst).unwrap()
    }));
    assert!(
        out.contains("|11=9|37=88|530=1|531=1|533=3|55=ETH-USD|"),
        "{out}"
    );
    let rejected = MassCancelReport {
        reason: RejectCode::UnknownInstrument,
        ..mr
    };
    let out = text(&outbound(b"r", |enc| {
        write_event_body(enc, &h, &M::MassCancelReport(rejected), &inst).unwrap()
    }));
    assert!(out.contains("|531=0|532=1|"), "{out}");
    assert_eq!(
        event_msg_type(&M::SessionEnd(engine::msg::SessionEnd { instrument: 0 })),
        None
    );
}

#[test]
fn gateway_rejects_echo_the_request_and_pass_the_dictionary() {
    let inbound = fix44(&format!(
        "35=D|34=2|49=TW|52={T}|56=ISLD|11=x|55=DOGE|54=1|60={T}|38=1|40=2|44=1|"
    ));
    let mut p = Parser::new();
    let msg = p.parse(&inbound).unwrap();
    let r = decode_command(&msg, &CTX, &instruments()).unwrap_err();
    assert_eq!(r.msg_type(), b"8");
    let out = text(&outbound(r.msg_type(), |enc| {
        write_reject_body(enc, &msg, &r, 12, 0)
    }));
    assert!(
        out.contains("|37=NONE|11=x|17=12|150=8|39=8|55=DOGE|54=1|38=1|40=2|103=1|"),
        "{out}"
    );
    for (req, mt) in [
        (
            "35=F|34=2|49=TW|52=<T>|56=ISLD|41=a|11=b|55=DOGE|54=1|60=<T>|",
            &b"9"[..],
        ),
        ("35=q|34=2|49=TW|52=<T>|56=ISLD|11=m|530=5|60=<T>|", b"r"),
    ] {
        let inbound = fix44(&req.replace("<T>", T));
        let msg = p.parse(&inbound).unwrap();
        let r = decode_command(&msg, &CTX, &instruments()).unwrap_err();
        assert_eq!(r.msg_type(), mt);
        outbound(mt, |enc| write_reject_body(enc, &msg, &r, 13, 0));
    }
}

#[test]
fn reference_data_is_validated() {
    let cfg = |s: &str, id| InstrumentConfig {
        symbol: s.into(),
        id,
        tick: Tick::new(1, -2).unwrap(),
        lot: Tick::new(1, 0).unwrap(),
    };
    assert_eq!(
        Instruments::new(&[cfg("A", 1), cfg("A", 2)]).unwrap_err(),
        ConfigError::DuplicateSymbol("A".into())
    );
    assert_eq!(
        Instruments::new(&[cfg("A", 1), cfg("B", 1)]).unwrap_err(),
        ConfigError::DuplicateId(1)
    );
    assert_eq!(
        Instruments::new(&[cfg("A\u{1}", 1)]).unwrap_err(),
        ConfigError::BadSymbol("A\u{1}".into())
    );
    let i = Instruments::new(&[cfg("B", 2), cfg("A", 1), cfg("C", 3)]).unwrap();
    assert_eq!(i.by_symbol(b"C").map(|c| c.id), Some(3));
    assert_eq!(i.by_id(1).map(|c| c.symbol.as_str()), Some("A"));
    assert!(i.by_symbol(b"D").is_none() && i.by_id(4).is_none());
    assert!(
        serde_json::from_str::<InstrumentConfig>(
            r#"{"symbol":"X","id":1,"tick":"0.01","lot":"1","x":1}"#
        )
        .is_err()
    );
}

#[test]
fn cancel_reject_states_the_orders_status() {
    let h = Header {
        session: 7,
        seq: 1,
        timestamp_ns: 1_700_000_000_000_000_000,
    };
    let inst = instruments();
    let base = CancelReject {
        order_id: 11,
        client_order_id: 5,
        orig_client_order_id: 4,
        account: 42,
        instrument: 1,
        was_replace: true,
        reason: RejectCode::InsufficientFunds,
        leaves_qty: 3,
        cum_qty: 0,
    };
    for (leaves, cum, status) in [(3, 0, "0"), (3, 2, "1"), (0, 5, "2"), (0, 0, "8")] {
        let cr = CancelReject {
            leaves_qty: leaves,
            cum_qty: cum,
            ..base
        };
        let out = text(&outbound(b"9", |enc| {
            write_event_body(enc, &h, &M::CancelReject(cr), &inst).unwrap()
        }));
        assert!(
            out.contains(&format!("|39={status}|")),
            "{leaves}/{cum}: {out}"
        );
    }
}
