//! Stable-Rust stand-in for the cargo-fuzz target: the same harness
//! (`gateway::fix::harness::exercise`) over thousands of random and
//! mutated-valid inputs on every CI run. Mutated messages are re-framed
//! (BodyLength and CheckSum fixed) half of the time, so they get past framing
//! and reach the parser, the dictionary validation and every getter.

use gateway::fix::codec::{Encoder, SOH};
use gateway::fix::harness::exercise;
use proptest::prelude::*;

fn soh(s: &str) -> Vec<u8> {
    s.bytes().map(|b| if b == b'|' { SOH } else { b }).collect()
}

/// Valid seeds covering every handled message shape: groups (nested), data
/// fields containing SOH, header groups, every typed field kind.
fn seeds() -> Vec<Vec<u8>> {
    let t = "20240102-03:04:05.678";
    let bodies = [
        format!(
            "35=A|34=1|49=TW|52={t}|56=ISLD|98=0|108=30|141=Y|553=user|554=pw|384=1|372=D|385=R|"
        ),
        format!(
            "35=D|34=2|49=TW|52={t}|56=ISLD|11=ord-1|21=1|55=BTC-USD|54=1|60={t}|38=1.5|40=2|44=42000.25|59=0|453=2|448=P1|447=D|452=1|802=1|523=s|803=1|448=P2|452=3|386=1|336=X|"
        ),
        format!(
            "35=8|34=3|49=ISLD|52={t}|56=TW|37=1|17=9|150=F|39=1|55=BTC-USD|54=1|151=0.5|14=1|6=42000.25|32=1|31=42000.25|58=partial|"
        ),
        format!("35=G|34=4|49=TW|52={t}|56=ISLD|41=a|11=b|55=X|54=2|60={t}|38=3|40=2|44=10|"),
        format!("35=q|34=5|49=TW|52={t}|56=ISLD|11=m|530=1|55=X|60={t}|"),
        format!("35=4|34=6|49=TW|52={t}|56=ISLD|43=Y|122={t}|123=Y|36=10|627=1|628=H|629={t}|"),
        format!("35=B|34=7|49=TW|52={t}|56=ISLD|148=news|95=5|96=a|b=c|58=t|"),
        format!("35=d|34=8|49=TW|56=ISLD|52={t}|320=J|322=1|323=6|55=TBS|22=8|167=CS|454=0|"),
        format!("35=0|34=9|49=TW|52={t}|56=ISLD|"),
    ];
    let mut e = Encoder::new(b"FIX.4.4");
    bodies
        .iter()
        .map(|b| {
            let body = soh(b);
            // Write the body fields through the encoder's raw path after 35=.
            let first = body.iter().position(|&c| c == SOH).unwrap_or(0);
            e.start(&body[3..first]).raw(&body[first + 1..]);
            e.finish().to_vec()
        })
        .collect()
}

/// Recomputes BodyLength and CheckSum around whatever lies between the `9=`
/// field and the trailer, so a mutated body still frames.
fn reframe(msg: &[u8]) -> Vec<u8> {
    // Body: after the second SOH, up to the last "10=".
    let mut sohs = msg
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == SOH)
        .map(|(i, _)| i);
    let (Some(_), Some(second)) = (sohs.next(), sohs.next()) else {
        return msg.to_vec();
    };
    let end = msg
        .windows(4)
        .rposition(|w| w == b"\x0110=")
        .map_or(msg.len(), |p| p + 1);
    if end <= second {
        return msg.to_vec();
    }
    let body = &msg[second + 1..end];
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(body);
    let sum = out.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        any::<u8>(),
        Just(SOH),
        Just(b'='),
        Just(b'0'),
        Just(b'9'),
        Just(b'-'),
        Just(b'.'),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..24).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(msg: &mut Vec<u8>, m: &Mutation) {
    if msg.is_empty() {
        return;
    }
    let n = msg.len();
    match *m {
        Mutation::Flip(i, b) => msg[i % n] = b,
        Mutation::Insert(i, b) => msg.insert(i % (n + 1), b),
        Mutation::Delete(i) => {
            msg.remove(i % n);
        }
        Mutation::Truncate(i) => msg.truncate(i % (n + 1)),
        Mutation::Duplicate(i, len) => {
            let s = i % n;
            let e = (s + len).min(n);
            let chunk = msg[s..e].to_vec();
            msg.splice(s..s, chunk);
        }
    }
}

#[test]
fn seeds_are_valid_and_exercised() {
    for s in seeds() {
        assert!(matches!(
            gateway::fix::codec::frame(&s, 4096),
            gateway::fix::codec::Frame::Complete { .. }
        ));
        exercise(&s);
    }
    let all: Vec<u8> = seeds().concat();
    exercise(&all);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&data);
    }

    #[test]
    fn random_tag_value_soup(
        fields in proptest::collection::vec(
            (prop_oneof![1u32..1000, Just(453u32), Just(448), Just(386), Just(336), Just(95), Just(96), Just(10)],
             "[-0-9A-Za-z.:=]{0,12}"),
            0..30),
        reframed in any::<bool>(),
    ) {
        let mut body = b"35=D\x01".to_vec();
        for (t, v) in &fields {
            body.extend_from_slice(format!("{t}={v}\x01").as_bytes());
        }
        let mut msg = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
        msg.extend_from_slice(&body);
        msg.extend_from_slice(b"10=000\x01");
        let msg = if reframed { reframe(&msg) } else { msg };
        exercise(&msg);
    }

    #[test]
    fn mutated_valid_messages(
        seed in 0usize..9,
        muts in proptest::collection::vec(mutation(), 1..6),
        reframed in any::<bool>(),
        stream_with_next in any::<bool>(),
    ) {
        let seeds = seeds();
        let mut msg = seeds[seed % seeds.len()].clone();
        for m in &muts {
            apply(&mut msg, m);
        }
        if reframed {
            msg = reframe(&msg);
        }
        if stream_with_next {
            msg.extend_from_slice(&seeds[(seed + 1) % seeds.len()]);
        }
        exercise(&msg);
    }
}
