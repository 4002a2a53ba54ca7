//! Session-level validation, scripted after the FIX 4.4 acceptance cases
//! (14a-14i, 15, 21, 2q, 2r): the same messages, the same 373/371 answers.

use super::*;
use crate::fix::codec::{Frame, ParseErrorKind, Parser, frame};
use crate::fix::testutil::fix44;

const T: &str = "20240102-03:04:05.678";

/// Frames, parses and validates; returns (373, 371) of the reject, if any.
fn check(body: &str) -> Result<(), (u32, Option<u32>)> {
    let body = body.replace("<T>", T);
    let m = fix44(&body);
    assert!(matches!(frame(&m, 4096), Frame::Complete { .. }), "{body}");
    let mut p = Parser::new();
    let msg = match p.parse(&m) {
        Ok(msg) => msg,
        Err(e) => {
            let r = e.to_reject();
            return Err((r.reason.code(), r.ref_tag));
        }
    };
    validate(&msg).map_err(|r| (r.reason.code(), r.ref_tag))
}

const HB: &str = "35=0|34=2|49=TW|52=<T>|56=ISLD|";
const NOS: &str =
    "35=D|34=2|49=TW|52=<T>|56=ISLD|11=ID|21=1|40=1|54=1|38=002000.00|55=INTC|60=<T>|";

#[test]
fn valid_messages_pass() {
    assert_eq!(check(HB), Ok(()));
    assert_eq!(check(NOS), Ok(()));
    assert_eq!(check("35=A|34=1|49=TW|52=<T>|56=ISLD|98=0|108=2|"), Ok(()));
    assert_eq!(
        check("35=A|34=1|49=TW|52=<T>|56=ISLD|98=0|108=30|141=Y|553=u|554=p|"),
        Ok(())
    );
    // 15: header and body fields in a different order.
    assert_eq!(
        check("35=D|49=TW|34=3|56=ISLD|52=<T>|40=1|55=MSFT|60=<T>|54=1|21=3|11=id|"),
        Ok(())
    );
    // 14e: valid enum value.
    assert_eq!(check(&format!("{NOS}167=CS|")), Ok(()));
    // Cancel, replace, mass cancel, resend request, sequence reset, test request.
    assert_eq!(
        check("35=F|34=2|49=TW|52=<T>|56=ISLD|41=a|11=b|55=X|54=1|60=<T>|38=1|"),
        Ok(())
    );
    assert_eq!(
        check("35=G|34=2|49=TW|52=<T>|56=ISLD|41=a|11=b|21=1|55=X|54=1|60=<T>|38=2|40=2|44=10.5|"),
        Ok(())
    );
    assert_eq!(
        check("35=q|34=2|49=TW|52=<T>|56=ISLD|11=m|530=7|60=<T>|"),
        Ok(())
    );
    assert_eq!(check("35=2|34=2|49=TW|52=<T>|56=ISLD|7=1|16=0|"), Ok(()));
    assert_eq!(
        check("35=4|34=2|49=TW|52=<T>|56=ISLD|43=Y|122=<T>|123=Y|36=10|"),
        Ok(())
    );
    assert_eq!(check("35=1|34=2|49=TW|52=<T>|56=ISLD|112=hello|"), Ok(()));
    // Groups: parties with a nested sub-id group, then more body fields.
    assert_eq!(
        check(&format!(
            "{NOS}453=2|448=P1|447=D|452=1|802=1|523=s|803=1|448=P2|452=3|"
        )),
        Ok(())
    );
}

#[test]
fn invalid_tag_number_14a() {
    assert_eq!(check(&format!("{HB}999=HI|")), Err((0, Some(999))));
    assert_eq!(check(&format!("{HB}5000=HI|")), Err((0, Some(5000))));
    // 0 and -1 are not even tags: the parser stops, and the session quotes the text.
    for bad in ["0", "-1"] {
        let m = fix44(&format!("{}{bad}=HI|", HB.replace("<T>", T)));
        let mut p = Parser::new();
        let e = p.parse(&m).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::InvalidTag);
        assert_eq!(e.to_reject().reason.code(), 0);
        assert_eq!(e.tag_text(&m), bad.as_bytes());
    }
}

#[test]
fn required_tag_missing_14b() {
    assert_eq!(check("35=0|34=2|49=TW|52=<T>|"), Err((1, Some(56))));
    assert_eq!(
        check("35=D|49=TW|34=3|56=ISLD|52=<T>|40=1|60=<T>|54=1|21=3|11=id|"),
        Err((1, Some(55)))
    );
    assert_eq!(
        check("35=1|34=2|49=TW|52=<T>|56=ISLD|"),
        Err((1, Some(112)))
    );
}

#[test]
fn tag_not_defined_for_message_type_14c() {
    assert_eq!(check(&format!("{HB}55=MSFT|")), Err((2, Some(55))));
}

#[test]
fn tag_without_value_14d() {
    assert_eq!(check(&format!("{HB}112=|")), Err((4, Some(112))));
}

#[test]
fn incorrect_enum_value_14e() {
    assert_eq!(check(&NOS.replace("21=1", "21=4")), Err((5, Some(21))));
    assert_eq!(check(&format!("{NOS}167=BOO|")), Err((5, Some(167))));
    assert_eq!(
        check("35=A|34=1|49=TW|52=<T>|56=ISLD|98=9|108=2|"),
        Err((5, Some(98)))
    );
}

#[test]
fn incorrect_data_format_14f() {
    assert_eq!(
        check(&NOS.replace("38=002000.00", "38=+200.00")),
        Err((6, Some(38)))
    );
    assert_eq!(
        check(&NOS.replace("38=002000.00", "38=1e5")),
        Err((6, Some(38)))
    );
    assert_eq!(check(&NOS.replace("54=1", "54=12")), Err((6, Some(54))));
    assert_eq!(check(&format!("{HB}43=X|")), Err((6, Some(43))));
    assert_eq!(check(&HB.replace("34=2", "34=two")), Err((6, Some(34))));
    assert_eq!(
        check(&HB.replace("52=<T>", "52=20241301-00:00:00")),
        Err((6, Some(52)))
    );
    assert_eq!(
        check("35=A|34=1|49=TW|52=<T>|56=ISLD|98=0|108=x|"),
        Err((6, Some(108)))
    );
}

#[test]
fn header_body_trailer_order_14g() {
    assert_eq!(
        check("35=D|11=id|21=3|40=1|54=1|55=MSFT|60=<T>|34=2|49=TW|52=<T>|56=ISLD|"),
        Err((14, Some(34)))
    );
    assert_eq!(
        check("35=D|55=MSFT|34=3|49=TW|52=<T>|56=ISLD|11=id|21=3|40=1|54=1|60=<T>|"),
        Err((14, Some(34)))
    );
    // A body field after a trailer field (SignatureLength/Signature).
    assert_eq!(
        check(&format!("{HB}93=2|89=ab|112=x|")),
        Err((14, Some(112)))
    );
}

#[test]
fn repeated_tag_14h() {
    assert_eq!(
        check(&NOS.replace("40=1|", "40=1|40=2|")),
        Err((13, Some(40)))
    );
    assert_eq!(check(&format!("{HB}49=XX|")), Err((13, Some(49))));
    assert_eq!(check(&format!("{HB}112=a|49=XX|")), Err((14, Some(49))));
    assert_eq!(
        check("35=0|34=2|49=TW|49=TW|52=<T>|56=ISLD|"),
        Err((13, Some(49)))
    );
}

#[test]
fn group_count_14i_and_order() {
    let nos = NOS.replace("55=INTC|", "55=INTC|386=3|336=PRE-OPEN|336=AFTER-HOURS|");
    assert_eq!(check(&nos), Err((16, Some(386))));
    let nos = NOS.replace("55=INTC|", "55=INTC|386=1|336=PRE-OPEN|336=AFTER-HOURS|");
    assert_eq!(check(&nos), Err((16, Some(386))));
    let nos = NOS.replace("55=INTC|", "55=INTC|386=2|336=PRE-OPEN|336=AFTER-HOURS|");
    assert_eq!(check(&nos), Ok(()));
    // Entry not starting with the delimiter.
    assert_eq!(
        check(&format!("{NOS}453=1|452=1|448=P1|")),
        Err((15, Some(452)))
    );
    // Count with no entries.
    assert_eq!(check(&format!("{NOS}453=1|")), Err((16, Some(453))));
    // Repeated member inside one entry.
    assert_eq!(
        check(&format!("{NOS}453=1|448=P1|452=1|452=2|")),
        Err((13, Some(452)))
    );
    // Count that is not a number.
    assert_eq!(check(&format!("{NOS}453=x|448=P1|")), Err((6, Some(453))));
}

#[test]
fn zero_count_group_21() {
    assert_eq!(
        check(
            "35=d|34=2|49=TW44|56=ISLD|52=<T>|320=JCD1091-20021011|322=1034356488676|323=6|55=TBS|22=8|167=CS|336=ONE_MAIN|58=No Products found for this Class Symbol|454=0|"
        ),
        Ok(())
    );
}

#[test]
fn msg_types_2q_2r() {
    assert_eq!(check("35=*|34=2|49=TW|52=<T>|56=ISLD|"), Err((11, None)));
    assert_eq!(msg_type_status(b"*"), MsgTypeStatus::Invalid);
    assert_eq!(msg_type_status(b"8"), MsgTypeStatus::Unsupported);
    assert_eq!(msg_type_status(b"AE"), MsgTypeStatus::Unsupported);
    assert_eq!(msg_type_status(b"D"), MsgTypeStatus::Supported);
    assert_eq!(msg_type_status(b"d"), MsgTypeStatus::Supported);
    // Unsupported types pass validation so the session can answer BMR 380=3.
    assert_eq!(
        check(
            "35=8|34=2|49=TW|52=<T>|56=ISLD|37=id|17=id|150=0|39=0|55=WLRI|54=1|151=100|14=0|6=0.0|"
        ),
        Ok(())
    );
    // ... but their header is still checked, and tags must exist.
    assert_eq!(check("35=8|34=2|49=TW|52=<T>|37=id|"), Err((1, Some(56))));
    assert_eq!(
        check("35=8|34=2|49=TW|52=<T>|56=ISLD|4999=x|"),
        Err((0, Some(4999)))
    );
}

#[test]
fn dictionary_tables_are_consistent() {
    // Sorted, unique tags; every layout tag is a field; every handled type is valid.
    let tags: Vec<u32> = fix44::FIELDS.iter().map(|f| f.tag).collect();
    assert!(tags.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(tags.len(), 912);
    fn walk(ms: &[Member]) {
        for m in ms {
            assert!(field(m.tag()).is_some(), "{}", m.tag());
            if let Member::Group { members, .. } = m {
                assert!(!members.is_empty());
                walk(members);
            }
        }
    }
    walk(header());
    walk(trailer());
    for mt in INBOUND_MSG_TYPES {
        assert!(fix44::ALL_MSG_TYPES.contains(mt));
        assert!(message(mt.as_bytes()).is_some(), "{mt}");
    }
    for m in fix44::MESSAGES {
        walk(m.body);
    }
    assert!(is_header_tag(52) && !is_header_tag(55));
    assert!(is_trailer_tag(10) && !is_trailer_tag(58));
    assert_eq!(field(44).map(|f| f.ty), Some(FieldType::Float));
    assert_eq!(message(b"D").map(|m| m.name), Some("NewOrderSingle"));
}
