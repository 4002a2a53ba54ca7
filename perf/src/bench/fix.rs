//! `perf bench fix`: the FIX codec against `hotfix-message` 0.4 (the message
//! layer of the `hotfix` engine, a descendant of `fefix`), same messages, same run.
//!
//! Scenarios, per message (NewOrderSingle `D`, ExecutionReport `8`):
//! - `parse_*`: bytes -> framed and checksum-verified message -> the same fields
//!   read as text by both (header 34 as an integer, 49, 56, 52 and the body
//!   fields listed in [`NOS_BODY`] / [`ER_BODY`]). `hotfix-message` validates
//!   against its FIX 4.4 dictionary while building, so ringex is measured twice:
//!   `ringex` (frame + parse + getters) and `ringex+validate` (plus the full
//!   dictionary validation that the session layer runs).
//! - `encode_*`: the same field values -> a complete message with BodyLength and
//!   CheckSum, into ringex's reusable `Encoder` / through `hotfix`'s `Message`.
//!
//! Before timing, both sides are checked to decode identical values and to
//! encode messages with identical fields, so the two loops do the same work.
//! Timing: batches of `--batch` operations; each batch's time / batch size is
//! one histogram sample (p50/p99/p99.9/max are of those per-op means);
//! ops/s = operations / total measured time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clap::Args;
use gateway::fix::codec::{self, DEFAULT_MAX_MESSAGE_LEN, Encoder, Frame, Parser};
use gateway::fix::dict;
use hotfix_message::dict::Dictionary;
use hotfix_message::fix44;
use hotfix_message::message::{Config, Message as HfMessage};
use hotfix_message::{HardCodedFixFieldDefinition as HfField, MessageBuilder, Part};
use serde_json::json;

use crate::report::{BenchResult, Reporter, latency_histogram};

/// `perf bench fix` options.
#[derive(Args, Debug)]
pub struct FixArgs {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measured seconds per (scenario, implementation).
    #[arg(long, default_value_t = 2.0)]
    pub secs: f64,
    /// Operations per timed batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

const PEER: &str = "hotfix-message 0.4";
const BEGIN: &str = "FIX.4.4";
const SENDING_TIME: &str = "20240102-03:04:05.678";
const SEQ: u64 = 1234;

/// NewOrderSingle body fields (tag, value), in wire order.
pub const NOS_BODY: &[(u32, &str)] = &[
    (11, "ord-00001"),
    (21, "1"),
    (55, "BTC-USD"),
    (54, "1"),
    (60, "20240102-03:04:05.678"),
    (38, "1.5"),
    (40, "2"),
    (44, "42000.25"),
    (59, "1"),
];

/// ExecutionReport body fields (tag, value), in wire order.
pub const ER_BODY: &[(u32, &str)] = &[
    (37, "100001"),
    (11, "ord-00001"),
    (17, "500001"),
    (150, "F"),
    (39, "1"),
    (55, "BTC-USD"),
    (54, "1"),
    (40, "2"),
    (44, "42000.25"),
    (38, "1.5"),
    (59, "1"),
    (32, "0.5"),
    (31, "42000"),
    (151, "1"),
    (14, "0.5"),
    (6, "42000"),
    (60, "20240102-03:04:05.678"),
];

/// hotfix's field definitions for the tags above.
fn hf_field(tag: u32) -> Option<&'static HfField> {
    Some(match tag {
        6 => fix44::AVG_PX,
        11 => fix44::CL_ORD_ID,
        14 => fix44::CUM_QTY,
        17 => fix44::EXEC_ID,
        21 => fix44::HANDL_INST,
        31 => fix44::LAST_PX,
        32 => fix44::LAST_QTY,
        37 => fix44::ORDER_ID,
        38 => fix44::ORDER_QTY,
        39 => fix44::ORD_STATUS,
        40 => fix44::ORD_TYPE,
        44 => fix44::PRICE,
        54 => fix44::SIDE,
        55 => fix44::SYMBOL,
        59 => fix44::TIME_IN_FORCE,
        60 => fix44::TRANSACT_TIME,
        150 => fix44::EXEC_TYPE,
        151 => fix44::LEAVES_QTY,
        _ => return None,
    })
}

/// Everything a decoder extracts from one message: (34, then text fields).
type Decoded = (u64, Vec<(u32, String)>);

struct Case {
    name: &'static str,
    msg_type: &'static str,
    body: &'static [(u32, &'static str)],
    bytes: Vec<u8>,
    fields: Vec<(u32, &'static HfField)>,
}

fn encode_ringex(e: &mut Encoder, msg_type: &str, body: &[(u32, &str)]) -> usize {
    e.start(msg_type.as_bytes())
        .field(49, b"TW")
        .field(56, b"ISLD")
        .field_u64(34, SEQ)
        .field(52, SENDING_TIME.as_bytes());
    for (t, v) in body {
        e.field(*t, v.as_bytes());
    }
    e.finish().len()
}

fn encode_hotfix(
    config: &Config,
    msg_type: &str,
    fields: &[(u32, &'static HfField)],
    body: &[(u32, &str)],
) -> Result<Vec<u8>, String> {
    let mut m = HfMessage::new(BEGIN, msg_type);
    m.header_mut().set(fix44::SENDER_COMP_ID, "TW");
    m.header_mut().set(fix44::TARGET_COMP_ID, "ISLD");
    m.header_mut().set(fix44::MSG_SEQ_NUM, SEQ);
    m.header_mut().set(fix44::SENDING_TIME, SENDING_TIME);
    for ((_, def), (_, v)) in fields.iter().zip(body) {
        m.set(def, *v);
    }
    m.encode(config)
        .map_err(|e| format!("hotfix encode: {e:?}"))
}

/// ringex: frame, parse, read the fields (and optionally validate).
fn parse_ringex(
    p: &mut Parser,
    bytes: &[u8],
    tags: &[u32],
    validate: bool,
    out: Option<&mut Decoded>,
) -> Result<usize, String> {
    let Frame::Complete { len } = codec::frame(bytes, DEFAULT_MAX_MESSAGE_LEN) else {
        return Err("ringex: message does not frame".into());
    };
    let m = p
        .parse(&bytes[..len])
        .map_err(|e| format!("ringex parse: {e}"))?;
    if validate {
        dict::validate(&m).map_err(|e| format!("ringex validate: {e}"))?;
    }
    let seq = m.seq_num().map_err(|e| format!("ringex 34: {e}"))?;
    let mut n = seq as usize;
    for t in [49u32, 56, 52].iter().chain(tags) {
        let v = m
            .get_str(*t)
            .map_err(|e| format!("ringex {t}: {e}"))?
            .unwrap_or("");
        n += v.len();
    }
    if let Some(out) = out {
        out.0 = seq;
        out.1 = [49u32, 56, 52]
            .iter()
            .chain(tags)
            .map(|t| (*t, m.get_str(*t).ok().flatten().unwrap_or("").to_string()))
            .collect();
    }
    Ok(n)
}

/// hotfix: build (integrity + dictionary) and read the same fields.
fn parse_hotfix(
    b: &MessageBuilder,
    bytes: &[u8],
    fields: &[(u32, &'static HfField)],
    out: Option<&mut Decoded>,
) -> Result<usize, String> {
    let Some(m) = b.build(bytes).into_message() else {
        return Err("hotfix: message not built".into());
    };
    let h = m.header();
    let seq: u64 = h
        .get(fix44::MSG_SEQ_NUM)
        .map_err(|_| "hotfix 34".to_string())?;
    let mut n = seq as usize;
    let hdr: [(u32, &HfField); 3] = [
        (49, fix44::SENDER_COMP_ID),
        (56, fix44::TARGET_COMP_ID),
        (52, fix44::SENDING_TIME),
    ];
    let mut texts: Vec<(u32, String)> = Vec::new();
    for (t, def) in hdr {
        let v: &str = h.get(def).map_err(|_| format!("hotfix {t}"))?;
        n += v.len();
        if out.is_some() {
            texts.push((t, v.to_string()));
        }
    }
    for (t, def) in fields {
        let v: &str = m.get(def).map_err(|_| format!("hotfix {t}"))?;
        n += v.len();
        if out.is_some() {
            texts.push((*t, v.to_string()));
        }
    }
    if let Some(out) = out {
        *out = (seq, texts);
    }
    Ok(n)
}

/// Sorted (tag, value) pairs of a message, without BodyLength and CheckSum.
fn field_set(bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut p = Parser::new();
    let m = p.parse(bytes).map_err(|e| format!("re-parse: {e}"))?;
    let mut v: Vec<(u32, Vec<u8>)> = m
        .fields()
        .filter(|(t, _)| *t != 9 && *t != 10)
        .map(|(t, v)| (t, v.to_vec()))
        .collect();
    v.sort();
    Ok(v)
}

fn measure(
    secs: f64,
    batch: usize,
    mut op: impl FnMut() -> Result<usize, String>,
) -> Result<(hdrhistogram::Histogram<u64>, f64), String> {
    let mut hist = latency_histogram();
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        black_box(op()?);
    }
    let budget = Duration::from_secs_f64(secs);
    let mut total = Duration::ZERO;
    let mut ops = 0u64;
    while total < budget {
        let t0 = Instant::now();
        let mut acc = 0usize;
        for _ in 0..batch {
            acc = acc.wrapping_add(op()?);
        }
        let dt = t0.elapsed();
        black_box(acc);
        total += dt;
        ops += batch as u64;
        let per_op = (dt.as_nanos() as u64 / batch as u64).max(1);
        hist.record(per_op).map_err(|e| format!("histogram: {e}"))?;
    }
    Ok((hist, ops as f64 / total.as_secs_f64()))
}

/// Runs the family.
pub fn run(args: FixArgs) -> Result<(), String> {
    if args.batch == 0 || args.secs <= 0.0 {
        return Err("--batch and --secs must be positive".into());
    }
    let config = Config::default();
    let builder = MessageBuilder::new(Dictionary::fix44(), config)
        .map_err(|e| format!("hotfix dictionary: {e:?}"))?;
    let mut enc = Encoder::new(BEGIN.as_bytes());
    let mut cases = Vec::new();
    for (name, msg_type, body) in [("nos", "D", NOS_BODY), ("exec_report", "8", ER_BODY)] {
        encode_ringex(&mut enc, msg_type, body);
        let bytes = enc.message().to_vec();
        let fields = body
            .iter()
            .map(|(t, _)| {
                hf_field(*t)
                    .map(|d| (*t, d))
                    .ok_or(format!("no hotfix definition for tag {t}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        cases.push(Case {
            name,
            msg_type,
            body,
            bytes,
            fields,
        });
    }

    // Same work on both sides: identical decoded values, identical encoded fields.
    let mut parser = Parser::new();
    for c in &cases {
        let tags: Vec<u32> = c.body.iter().map(|(t, _)| *t).collect();
        let (mut a, mut b): (Decoded, Decoded) = Default::default();
        parse_ringex(&mut parser, &c.bytes, &tags, true, Some(&mut a))?;
        parse_hotfix(&builder, &c.bytes, &c.fields, Some(&mut b))?;
        if a != b {
            return Err(format!(
                "{}: decoders disagree:\n ringex {a:?}\n hotfix {b:?}",
                c.name
            ));
        }
        let hf = encode_hotfix(&config, c.msg_type, &c.fields, c.body)?;
        if field_set(&hf)? != field_set(&c.bytes)? {
            return Err(format!("{}: encoders produce different fields", c.name));
        }
    }

    let mut rep = Reporter::new(args.json);
    for c in &cases {
        let tags: Vec<u32> = c.body.iter().map(|(t, _)| *t).collect();
        let params =
            json!({"batch": args.batch, "msg_len": c.bytes.len(), "fields_read": tags.len() + 4});
        let mut p50 = Vec::new();
        for (impl_name, validate) in [("ringex", false), ("ringex+validate", true)] {
            let (h, ops) = measure(args.secs, args.batch, || {
                parse_ringex(&mut parser, black_box(&c.bytes), &tags, validate, None)
            })?;
            p50.push((impl_name, h.value_at_quantile(0.5)));
            rep.report(
                BenchResult::from_histogram(
                    "fix",
                    &format!("parse_{}", c.name),
                    impl_name,
                    Some(ops),
                    &h,
                )
                .with_params(params.clone()),
            );
        }
        let (h, ops) = measure(args.secs, args.batch, || {
            parse_hotfix(&builder, black_box(&c.bytes), &c.fields, None)
        })?;
        let peer = h.value_at_quantile(0.5);
        rep.report(
            BenchResult::from_histogram("fix", &format!("parse_{}", c.name), PEER, Some(ops), &h)
                .with_params(params.clone()),
        );
        for (name, ns) in p50 {
            rep.note(&format!(
                "  parse_{}: {name} is {:.1}x faster than {PEER} (p50)",
                c.name,
                peer as f64 / ns.max(1) as f64
            ));
        }

        let (h, ops) = measure(args.secs, args.batch, || {
            Ok(encode_ringex(&mut enc, c.msg_type, black_box(c.body)))
        })?;
        let ours = h.value_at_quantile(0.5);
        rep.report(
            BenchResult::from_histogram(
                "fix",
                &format!("encode_{}", c.name),
                "ringex",
                Some(ops),
                &h,
            )
            .with_params(params.clone()),
        );
        let (h, ops) = measure(args.secs, args.batch, || {
            encode_hotfix(&config, c.msg_type, &c.fields, black_box(c.body)).map(|v| v.len())
        })?;
        let peer = h.value_at_quantile(0.5);
        rep.report(
            BenchResult::from_histogram("fix", &format!("encode_{}", c.name), PEER, Some(ops), &h)
                .with_params(params.clone()),
        );
        rep.note(&format!(
            "  encode_{}: ringex is {:.1}x faster than {PEER} (p50)",
            c.name,
            peer as f64 / ours.max(1) as f64
        ));
    }
    Ok(())
}
