//! Byte-level scenario tests of the acceptor state machine: the FIX session-level
//! test cases, scripted as the bytes a counterparty sends, with time passed in.

use super::*;
use crate::fix::codec::{Parser, SOH};
use crate::fix::config::{PasswordHash, RateLimit};

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

/// Test application: records what it is given, echoes D, rejects "Z" types.
#[derive(Default)]
struct Rec {
    got: Vec<(SessionId, String, u64)>,
    logons: Vec<SessionId>,
    downs: Vec<(SessionId, bool, String)>,
    busy: bool,
    /// Accept D without echoing it (as the node does when it publishes).
    quiet: bool,
    seq_changes: Vec<(SessionId, SeqState)>,
}

impl Application for Rec {
    fn on_logon(&mut self, s: SessionId, _: &SessionConfig) {
        self.logons.push(s);
    }
    fn on_message(&mut self, s: SessionId, m: &Message<'_>, reply: &mut Reply<'_>) -> Delivery {
        let t = String::from_utf8_lossy(m.msg_type()).into_owned();
        self.got.push((s, t.clone(), m.seq_num().unwrap()));
        if self.busy {
            return Delivery::BusinessReject {
                reason: 4,
                text: "inbound queue full, retry",
            };
        }
        match t.as_str() {
            "D" if self.quiet => Delivery::Accepted,
            "D" => {
                let mut body = b"11=".to_vec();
                body.extend_from_slice(m.get(11).unwrap_or(b"?"));
                body.push(SOH);
                reply.send(b"D", &body);
                Delivery::Accepted
            }
            _ => Delivery::BusinessReject {
                reason: 3,
                text: "Unsupported Message Type",
            },
        }
    }
    fn on_seq_change(&mut self, s: SessionId, seqs: SeqState) -> bool {
        self.seq_changes.push((s, seqs));
        !self.busy
    }
    fn on_session_down(&mut self, s: SessionId, cfg: &SessionConfig, reason: &str) {
        self.downs
            .push((s, cfg.cancel_on_disconnect, reason.to_string()));
    }
}

/// A parsed outbound message: fields in wire order.
#[derive(Debug, Clone)]
struct Out(Vec<(u32, String)>);

impl Out {
    fn get(&self, tag: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
    fn t(&self) -> &str {
        self.get(35).unwrap()
    }
    fn seq(&self) -> u64 {
        self.get(34).unwrap().parse().unwrap()
    }
}

fn fmt_ts(ns: u64) -> String {
    let mut b = [0u8; crate::fix::codec::UTC_TIMESTAMP_LEN];
    crate::fix::codec::format_utc_timestamp(ns, &mut b);
    String::from_utf8(b.to_vec()).unwrap()
}

/// Builds counterparty messages.
struct Msg {
    begin: &'static str,
    fields: Vec<(u32, String)>,
}

fn msg(t: &str, seq: u64, now: u64) -> Msg {
    Msg {
        begin: "FIX.4.4",
        fields: vec![
            (35, t.into()),
            (34, seq.to_string()),
            (49, "TW".into()),
            (56, "ISLD".into()),
            (52, fmt_ts(now)),
        ],
    }
}

impl Msg {
    fn f(mut self, tag: u32, v: &str) -> Self {
        self.fields.push((tag, v.into()));
        self
    }
    /// Replace (or remove with None) a header field.
    fn set(mut self, tag: u32, v: Option<&str>) -> Self {
        self.fields.retain(|(t, _)| *t != tag);
        if let Some(v) = v {
            self.fields.insert(1, (tag, v.into()));
        }
        self
    }
    /// A valid NewOrderSingle body with ClOrdID `id`.
    fn order(self, id: &str) -> Self {
        self.f(11, id)
            .f(55, "ABC")
            .f(54, "1")
            .f(60, "20231114-22:13:20")
            .f(38, "100")
            .f(40, "1")
    }
    fn begin(mut self, b: &'static str) -> Self {
        self.begin = b;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut enc = Encoder::new(self.begin.as_bytes());
        enc.start(self.fields[0].1.as_bytes());
        for (t, v) in &self.fields[1..] {
            enc.field(*t, v.as_bytes());
        }
        enc.finish().to_vec()
    }
}

fn logon(seq: u64, now: u64) -> Msg {
    msg("A", seq, now).f(98, "0").f(108, "30")
}

fn dir(sessions: Vec<SessionConfig>) -> Arc<Directory> {
    Arc::new(Directory::new(sessions, 1).unwrap())
}

fn default_sessions() -> Vec<SessionConfig> {
    let mut with_pw = SessionConfig::new("ISLD", "MM1");
    with_pw.username = Some("mm1".into());
    with_pw.password = Some(PasswordHash::new(b"salt", b"pw1"));
    with_pw.cancel_on_disconnect = true;
    vec![SessionConfig::new("ISLD", "TW"), with_pw]
}

struct T {
    a: Acceptor<Rec>,
    parser: Parser,
}

impl T {
    fn new() -> Self {
        Self::with(default_sessions(), Settings::default())
    }
    fn with(sessions: Vec<SessionConfig>, settings: Settings) -> Self {
        T {
            a: Acceptor::in_memory(settings, dir(sessions), 0, Rec::default()),
            parser: Parser::new(),
        }
    }
    fn feed(&mut self, c: ConnId, m: &Msg, now: u64) -> Vec<Out> {
        let b = m.bytes();
        self.raw(c, &b, now)
    }
    fn raw(&mut self, c: ConnId, b: &[u8], now: u64) -> Vec<Out> {
        let used = self.a.on_bytes(c, b, now);
        assert_eq!(used, b.len(), "all input consumed");
        self.take(c)
    }
    /// Parse and clear what the acceptor wrote to `c`.
    fn take(&mut self, c: ConnId) -> Vec<Out> {
        let Some(tx) = self.a.tx(c) else {
            return vec![];
        };
        let bytes = std::mem::take(tx);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            match frame(&bytes[pos..], 1 << 20) {
                Frame::Complete { len } => {
                    let m = self.parser.parse(&bytes[pos..pos + len]).unwrap();
                    out.push(Out(m
                        .fields()
                        .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                        .collect()));
                    pos += len;
                }
                other => panic!("acceptor wrote a bad frame: {other:?}"),
            }
        }
        out
    }
    /// Open a connection and log TW on at sequence 1.
    fn logged_on(&mut self) -> ConnId {
        let c = self.a.open(T0);
        let r = self.feed(c, &logon(1, T0), T0);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].t(), "A");
        c
    }
}

fn types(v: &[Out]) -> Vec<&str> {
    v.iter().map(Out::t).collect()
}

// ---- Logon ---------------------------------------------------------------

#[test]
fn valid_logon_is_answered_with_heartbtint_echoed() {
    let mut t = T::new();
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0).set(108, None).f(108, "7"), T0);
    assert_eq!(types(&r), ["A"]);
    assert_eq!(r[0].get(108), Some("7"));
    assert_eq!(r[0].get(98), Some("0"));
    assert_eq!(r[0].seq(), 1);
    assert_eq!(r[0].get(49), Some("ISLD"));
    assert_eq!(r[0].get(56), Some("TW"));
    assert_eq!(t.a.seq_nums(0), Some((2, 2)));
    assert_eq!(t.a.disposition(c), Disposition::Open);
    assert_eq!(t.a.app().logons, [0]);
    assert!(t.a.is_logged_on(0));
}

#[test]
fn first_message_not_logon_gets_logout_and_disconnect() {
    let mut t = T::new();
    let c = t.a.open(T0);
    let r = t.feed(c, &msg("D", 1, T0).order("x"), T0);
    assert_eq!(types(&r), ["5"]);
    assert!(r[0].get(58).unwrap().contains("must be a Logon"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    assert!(t.a.app().got.is_empty());
}

#[test]
fn unknown_comp_ids_are_refused_with_reason() {
    let mut t = T::new();
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0).set(49, Some("NOBODY")), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(
        r[0].get(58),
        Some("Unknown session: SenderCompID=NOBODY TargetCompID=ISLD")
    );
    assert_eq!(r[0].get(56), Some("NOBODY"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    let c2 = t.a.open(T0);
    let r = t.feed(c2, &logon(1, T0).set(56, Some("WRONG")), T0);
    assert!(r[0].get(58).unwrap().contains("TargetCompID=WRONG"));
}

#[test]
fn password_is_checked_against_the_hash() {
    let mut t = T::new();
    let base = |pw: &str| logon(1, T0).set(49, Some("MM1")).f(553, "mm1").f(554, pw);
    let c = t.a.open(T0);
    let r = t.feed(c, &base("wrong"), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(r[0].get(58), Some("Invalid Username or Password"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    assert!(!t.a.is_logged_on(1));
    // Missing password.
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0).set(49, Some("MM1")).f(553, "mm1"), T0);
    assert_eq!(r[0].get(58), Some("Invalid Username or Password"));
    // Wrong user, right password.
    let c = t.a.open(T0);
    let r = t.feed(
        c,
        &logon(1, T0).set(49, Some("MM1")).f(553, "x").f(554, "pw1"),
        T0,
    );
    assert_eq!(r[0].get(58), Some("Invalid Username or Password"));
    let c = t.a.open(T0);
    let r = t.feed(c, &base("pw1"), T0);
    assert_eq!(types(&r), ["A"]);
    assert!(t.a.is_logged_on(1));
}

#[test]
fn second_connection_for_a_logged_on_session_is_refused() {
    let mut t = T::new();
    let c1 = t.logged_on();
    let c2 = t.a.open(T0);
    let r = t.feed(c2, &logon(1, T0), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(r[0].get(58), Some("Session is already logged on"));
    assert_eq!(t.a.disposition(c2), Disposition::CloseAfterFlush);
    t.a.on_disconnect(c2, T0);
    // The first connection is untouched and keeps its sequence numbers.
    let r = t.feed(c1, &msg("D", 2, T0).order("a"), T0);
    assert_eq!(types(&r), ["D"]);
    assert_eq!(r[0].seq(), 2);
    assert_eq!(t.a.disposition(c1), Disposition::Open);
}

#[test]
fn reset_seq_num_flag_resets_both_sides() {
    let mut t = T::new();
    let c = t.logged_on();
    t.feed(c, &msg("D", 2, T0).order("a"), T0);
    t.feed(c, &msg("5", 3, T0), T0);
    t.a.on_disconnect(c, T0);
    assert_eq!(t.a.seq_nums(0), Some((4, 4)));
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0).f(141, "Y"), T0);
    assert_eq!(types(&r), ["A"]);
    assert_eq!(r[0].get(141), Some("Y"));
    assert_eq!(r[0].seq(), 1);
    assert_eq!(t.a.seq_nums(0), Some((2, 2)));
}

#[test]
fn logon_with_seq_too_high_gets_logon_then_resend_request() {
    let mut t = T::new();
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(5, T0), T0);
    assert_eq!(types(&r), ["A", "2"]);
    assert_eq!(r[1].get(7), Some("1"));
    assert_eq!(r[1].get(16), Some("0"));
    // They fill the gap (1..=5 were admin): GapFill to 6.
    let r = t.feed(
        c,
        &msg("4", 1, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0))
            .f(123, "Y")
            .f(36, "6"),
        T0,
    );
    assert!(r.is_empty());
    assert_eq!(t.a.seq_nums(0).unwrap().1, 6);
}

#[test]
fn logon_with_seq_too_low_is_logged_out_with_expected_number() {
    let mut t = T::new();
    let c = t.logged_on();
    for s in 2..=4 {
        t.feed(c, &msg("0", s, T0), T0);
    }
    t.feed(c, &msg("5", 5, T0), T0);
    t.a.on_disconnect(c, T0);
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(2, T0), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(
        r[0].get(58),
        Some("MsgSeqNum too low, expecting 6 but received 2")
    );
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    // Refused: never logged on, the session is free for the next attempt.
    assert!(!t.a.is_logged_on(0));
    assert_eq!(t.a.app().logons, [0]);
    t.a.on_disconnect(c, T0);
    assert_eq!(t.a.app().downs.len(), 1);
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(6, T0), T0);
    assert_eq!(types(&r), ["A"]);
}

#[test]
fn reset_on_logon_config_resets_without_the_flag() {
    let mut s = SessionConfig::new("ISLD", "TW");
    s.reset_on_logon = true;
    let mut t = T::with(vec![s], Settings::default());
    let c = t.logged_on();
    t.feed(c, &msg("0", 2, T0), T0);
    t.a.on_disconnect(c, T0);
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0), T0);
    assert_eq!(types(&r), ["A"]);
    assert_eq!(r[0].seq(), 1);
}

#[test]
fn logon_missing_heartbtint_or_bad_encryption_is_refused() {
    let mut t = T::new();
    let c = t.a.open(T0);
    let r = t.feed(c, &msg("A", 1, T0).f(98, "0"), T0);
    assert!(r[0].get(58).unwrap().contains("HeartBtInt"));
    let c = t.a.open(T0);
    let r = t.feed(c, &msg("A", 1, T0).f(98, "1").f(108, "30"), T0);
    assert!(r[0].get(58).unwrap().contains("EncryptMethod"));
    assert!(!t.a.is_logged_on(0));
}

// ---- Sequence numbers -------------------------------------------------------

#[test]
fn gap_triggers_resend_request_and_queued_messages_follow_in_order() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("D", 4, T0).order("o4"), T0);
    assert_eq!(types(&r), ["2"]);
    assert_eq!((r[0].get(7), r[0].get(16)), (Some("2"), Some("0")));
    // A second message beyond the gap: queued, no second ResendRequest.
    let r = t.feed(c, &msg("D", 5, T0).order("o5"), T0);
    assert!(r.is_empty());
    assert!(t.a.app().got.is_empty());
    // The resend: 2 as a PossDup app message, 3 gap-filled.
    let r = t.feed(
        c,
        &msg("D", 2, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0 - SEC))
            .order("o2"),
        T0,
    );
    assert_eq!(types(&r), ["D"]);
    let r = t.feed(
        c,
        &msg("4", 3, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0))
            .f(123, "Y")
            .f(36, "4"),
        T0,
    );
    // The gap fill released 4 and 5 from the queue, in order.
    assert_eq!(types(&r), ["D", "D"]);
    assert_eq!(r[0].get(11), Some("o4"));
    assert_eq!(r[1].get(11), Some("o5"));
    let seqs: Vec<u64> = t.a.app().got.iter().map(|g| g.2).collect();
    assert_eq!(seqs, [2, 4, 5]);
    assert_eq!(t.a.seq_nums(0).unwrap().1, 6);
}

#[test]
fn seq_too_low_without_possdup_logs_out_with_expected_number() {
    let mut t = T::new();
    let c = t.logged_on();
    t.feed(c, &msg("0", 2, T0), T0);
    let r = t.feed(c, &msg("D", 2, T0).order("x"), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(
        r[0].get(58),
        Some("MsgSeqNum too low, expecting 3 but received 2")
    );
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    t.a.on_disconnect(c, T0);
    assert_eq!(t.a.app().downs.len(), 1);
}

#[test]
fn possdup_already_received_is_ignored() {
    let mut t = T::new();
    let c = t.logged_on();
    t.feed(c, &msg("D", 2, T0).order("a"), T0);
    let r = t.feed(
        c,
        &msg("D", 2, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0 - SEC))
            .order("a"),
        T0,
    );
    assert!(r.is_empty());
    assert_eq!(t.a.app().got.len(), 1);
    assert_eq!(t.a.disposition(c), Disposition::Open);
}

#[test]
fn possdup_not_yet_received_is_processed() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(
        c,
        &msg("D", 2, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0 - SEC))
            .order("a"),
        T0,
    );
    assert_eq!(types(&r), ["D"]);
}

#[test]
fn possdup_without_orig_sending_time_is_rejected_reason_1() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("D", 2, T0).f(43, "Y").order("a"), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!(r[0].get(45), Some("2"));
    assert_eq!(r[0].get(373), Some("1"));
    assert_eq!(r[0].get(371), Some("122"));
    // Sequence number consumed, message not delivered.
    assert_eq!(t.a.seq_nums(0).unwrap().1, 3);
    assert!(t.a.app().got.is_empty());
}

#[test]
fn orig_sending_time_after_sending_time_is_rejected_reason_10_and_logout() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(
        c,
        &msg("D", 2, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0 + 5 * SEC))
            .order("a"),
        T0,
    );
    assert_eq!(types(&r), ["3", "5"]);
    assert_eq!(r[0].get(373), Some("10"));
    assert_eq!(t.a.seq_nums(0).unwrap().1, 3);
    // We wait for their Logout, then disconnect.
    let r = t.feed(c, &msg("5", 3, T0), T0);
    assert!(r.is_empty());
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
}

#[test]
fn sequence_reset_gap_fill_moves_expected_number() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("4", 2, T0).f(123, "Y").f(36, "10"), T0);
    assert!(r.is_empty());
    assert_eq!(t.a.seq_nums(0).unwrap().1, 10);
    let r = t.feed(c, &msg("D", 10, T0).order("a"), T0);
    assert_eq!(types(&r), ["D"]);
}

#[test]
fn sequence_reset_gap_fill_with_seq_too_high_triggers_resend() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("4", 5, T0).f(123, "Y").f(36, "10"), T0);
    assert_eq!(types(&r), ["2"]);
    assert_eq!(t.a.seq_nums(0).unwrap().1, 2);
}

#[test]
fn sequence_reset_gap_fill_too_low_possdup_ignored_else_logout() {
    let mut t = T::new();
    let c = t.logged_on();
    t.feed(c, &msg("0", 2, T0), T0);
    let r = t.feed(c, &msg("4", 1, T0).f(43, "Y").f(123, "Y").f(36, "3"), T0);
    assert!(r.is_empty());
    let r = t.feed(c, &msg("4", 1, T0).f(123, "Y").f(36, "3"), T0);
    assert_eq!(types(&r), ["5"]);
    assert!(r[0].get(58).unwrap().contains("expecting 3"));
}

#[test]
fn sequence_reset_gap_fill_lowering_is_rejected_reason_5() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("4", 2, T0).f(123, "Y").f(36, "2"), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!(r[0].get(373), Some("5"));
    assert_eq!(r[0].get(371), Some("36"));
    assert_eq!(r[0].get(45), Some("2"));
}

#[test]
fn sequence_reset_reset_mode_ignores_msg_seq_num() {
    let mut t = T::new();
    let c = t.logged_on();
    // Reset with a too-high MsgSeqNum is still applied (no ResendRequest).
    let r = t.feed(c, &msg("4", 50, T0).f(36, "20"), T0);
    assert!(r.is_empty());
    assert_eq!(t.a.seq_nums(0).unwrap().1, 20);
    // Equal: accepted, nothing changes.
    let r = t.feed(c, &msg("4", 1, T0).f(123, "N").f(36, "20"), T0);
    assert!(r.is_empty());
    assert_eq!(t.a.seq_nums(0).unwrap().1, 20);
    // Lower: Reject 373=5 371=36, expected number unchanged.
    let r = t.feed(c, &msg("4", 1, T0).f(36, "5"), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!(r[0].get(373), Some("5"));
    assert_eq!(r[0].get(371), Some("36"));
    assert_eq!(t.a.seq_nums(0).unwrap().1, 20);
}

// ---- Resend service ----------------------------------------------------------

#[test]
fn resend_request_resends_app_messages_and_gap_fills_admin() {
    let mut t = T::new();
    let c = t.logged_on(); // our Logon = 1
    t.a.send(0, b"8", b"37=A\x01", T0 + SEC).unwrap(); // 2
    t.a.on_timer(T0 + 31 * SEC); // Heartbeat 3 (and TestRequest 4: no inbound for >1.2 hb)
    t.a.send(0, b"8", b"37=B\x01", T0 + 32 * SEC).unwrap(); // next
    let sent = t.take(c);
    let last = sent.last().unwrap().seq();
    assert_eq!(sent[0].seq(), 2);
    let r = t.feed(
        c,
        &msg("2", 2, T0 + 33 * SEC).f(7, "1").f(16, "0"),
        T0 + 33 * SEC,
    );
    // 1: gap fill to 2 (our Logon); 2: resent; 3..last-1: gap fill; last: resent.
    assert_eq!(types(&r), ["4", "8", "4", "8"]);
    assert_eq!(r[0].seq(), 1);
    assert_eq!(r[0].get(123), Some("Y"));
    assert_eq!(r[0].get(36), Some("2"));
    assert_eq!(r[0].get(43), Some("Y"));
    assert_eq!(r[1].seq(), 2);
    assert_eq!(r[1].get(43), Some("Y"));
    assert_eq!(r[1].get(122), Some(fmt_ts(T0 + SEC).as_str()));
    assert_eq!(r[1].get(52), Some(fmt_ts(T0 + 33 * SEC).as_str()));
    assert_eq!(r[1].get(37), Some("A"));
    assert_eq!(r[2].seq(), 3);
    assert_eq!(r[2].get(36), Some(last.to_string().as_str()));
    assert_eq!(r[3].seq(), last);
    assert_eq!(r[3].get(37), Some("B"));
    // A bounded range.
    let r = t.feed(
        c,
        &msg("2", 3, T0 + 33 * SEC).f(7, "2").f(16, "2"),
        T0 + 33 * SEC,
    );
    assert_eq!(types(&r), ["8"]);
    assert_eq!(r[0].seq(), 2);
}

#[test]
fn messages_sent_while_disconnected_are_resent_after_reconnect() {
    let mut t = T::new();
    let c = t.logged_on();
    t.a.on_disconnect(c, T0);
    t.a.send(0, b"8", b"37=OFF\x01", T0).unwrap();
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(2, T0), T0);
    assert_eq!(types(&r), ["A"]);
    assert_eq!(r[0].seq(), 3); // they will see 2 missing and ask for it
    let r = t.feed(c, &msg("2", 3, T0).f(7, "2").f(16, "0"), T0);
    // 2 resent, 3 (our second Logon) gap-filled.
    assert_eq!(types(&r), ["8", "4"]);
    assert_eq!(r[0].get(37), Some("OFF"));
    assert_eq!(r[0].get(43), Some("Y"));
    assert_eq!((r[1].seq(), r[1].get(36)), (3, Some("4")));
}

// ---- Heartbeats and TestRequest -------------------------------------------

#[test]
fn heartbeat_and_test_request_timing() {
    let mut t = T::new();
    let c = t.logged_on(); // HeartBtInt 30
    t.a.on_timer(T0 + 29 * SEC);
    assert!(t.take(c).is_empty());
    // Inbound traffic keeps the line alive, our silence triggers a Heartbeat.
    t.feed(c, &msg("0", 2, T0 + 30 * SEC), T0 + 30 * SEC);
    t.a.on_timer(T0 + 30 * SEC);
    assert_eq!(types(&t.take(c)), ["0"]);
    // No inbound for 1.2 x HeartBtInt: TestRequest.
    t.a.on_timer(T0 + 66 * SEC);
    let r = t.take(c);
    assert_eq!(types(&r), ["1"]);
    let id = r[0].get(112).unwrap().to_string();
    // Answered: all good.
    let r = t.feed(c, &msg("0", 3, T0 + 67 * SEC).f(112, &id), T0 + 67 * SEC);
    assert!(r.is_empty());
    t.a.on_timer(T0 + 80 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::Open);
    // Silence again: TestRequest, then no answer: disconnect.
    t.a.on_timer(T0 + 104 * SEC);
    assert_eq!(types(&t.take(c)), ["1"]);
    t.a.on_timer(T0 + 120 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::Open);
    t.a.on_timer(T0 + 140 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::CloseNow);
    t.a.on_disconnect(c, T0 + 140 * SEC);
    assert_eq!(t.a.app().downs[0].2, "no answer to TestRequest");
}

#[test]
fn test_request_is_answered_with_its_id() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("1", 2, T0).f(112, "ping-1"), T0);
    assert_eq!(types(&r), ["0"]);
    assert_eq!(r[0].get(112), Some("ping-1"));
}

#[test]
fn connection_without_logon_times_out() {
    let mut t = T::new();
    let c = t.a.open(T0);
    t.a.on_timer(T0 + 9 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::Open);
    t.a.on_timer(T0 + 10 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::CloseNow);
}

// ---- Validation ---------------------------------------------------------------

#[test]
fn garbled_message_is_ignored_without_consuming_a_seq_num() {
    let mut t = T::new();
    let c = t.logged_on();
    let mut bad = msg("D", 2, T0).order("bad").bytes();
    let n = bad.len();
    bad[n - 2] = if bad[n - 2] == b'0' { b'1' } else { b'0' }; // checksum digit
    let r = t.raw(c, &bad, T0);
    assert!(r.is_empty());
    // Wrong BodyLength too.
    let good = msg("D", 2, T0).order("ok").bytes();
    let s = String::from_utf8(good.clone()).unwrap();
    let body_len = s.split('\x01').nth(1).unwrap().to_string();
    let wrong = s.replacen(&body_len, "9=5", 1);
    let r = t.raw(c, wrong.as_bytes(), T0);
    assert!(r.is_empty());
    let r = t.raw(c, &good, T0);
    assert_eq!(types(&r), ["D"]);
    assert_eq!(r[0].get(11), Some("ok"));
    assert_eq!(t.a.seq_nums(0).unwrap().1, 3);
}

#[test]
fn wrong_begin_string_logs_out_and_disconnects() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("0", 2, T0).begin("FIX.4.2"), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(r[0].get(58), Some("Incorrect BeginString"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    // Also as the first message.
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0).begin("FIX.4.2"), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
}

#[test]
fn wrong_comp_id_is_rejected_reason_9_then_logout() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("0", 2, T0).set(49, Some("TWX")), T0);
    assert_eq!(types(&r), ["3", "5"]);
    assert_eq!(r[0].get(373), Some("9"));
    assert_eq!(r[0].get(45), Some("2"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("0", 2, T0).set(56, Some("OTHER")), T0);
    assert_eq!(types(&r), ["3", "5"]);
}

#[test]
fn sending_time_off_by_more_than_120s_is_rejected_reason_10_and_logout() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("0", 2, T0 - 121 * SEC), T0);
    assert_eq!(types(&r), ["3", "5"]);
    assert_eq!(r[0].get(373), Some("10"));
    // Within 120 s is fine.
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("1", 2, T0 + 119 * SEC).f(112, "x"), T0);
    assert_eq!(types(&r), ["0"]);
    // No Logout answer: disconnect after the logout timeout.
    let mut t = T::new();
    let c = t.logged_on();
    t.feed(c, &msg("0", 2, T0 + 200 * SEC), T0);
    t.a.on_timer(T0 + 5 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::Open);
    t.a.on_timer(T0 + 11 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::CloseNow);
}

#[test]
fn missing_sending_time_is_rejected_reason_1() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("0", 2, T0).set(52, None), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!(r[0].get(373), Some("1"));
    assert_eq!(r[0].get(371), Some("52"));
    assert_eq!(t.a.seq_nums(0).unwrap().1, 3);
}

#[test]
fn tag_without_value_is_rejected_reason_4() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("D", 2, T0).order("x").f(58, ""), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!(r[0].get(373), Some("4"));
    assert_eq!(r[0].get(371), Some("58"));
    assert_eq!(r[0].get(45), Some("2"));
    assert!(t.a.app().got.is_empty());
    assert_eq!(t.a.seq_nums(0).unwrap().1, 3);
}

#[test]
fn dictionary_violations_get_reject_with_reason_and_ref_tag() {
    let mut t = T::new();
    let c = t.logged_on();
    let mut seq = 2;
    let mut check = |t: &mut T, m: Msg, reason: &str, tag: Option<&str>| {
        let r = t.feed(c, &m, T0);
        assert_eq!(types(&r), ["3"], "{reason}");
        assert_eq!(r[0].get(373), Some(reason));
        assert_eq!(r[0].get(371), tag, "{reason}");
        assert_eq!(r[0].get(45), Some(seq.to_string().as_str()));
        seq += 1;
        assert_eq!(t.a.seq_nums(0).unwrap().1, seq, "seq consumed");
    };
    // Undefined tag number.
    check(
        &mut t,
        msg("D", 2, T0).order("a").f(9999, "x"),
        "0",
        Some("9999"),
    );
    // Required tag missing (Side).
    check(
        &mut t,
        msg("D", 3, T0)
            .f(11, "a")
            .f(55, "ABC")
            .f(60, "20231114-22:13:20")
            .f(40, "1"),
        "1",
        Some("54"),
    );
    // Tag not defined for this message type (OrderID on a NewOrderSingle).
    check(
        &mut t,
        msg("D", 4, T0).order("a").f(37, "x"),
        "2",
        Some("37"),
    );
    // Value out of range (Side=Z).
    check(
        &mut t,
        msg("D", 5, T0)
            .f(11, "a")
            .f(55, "ABC")
            .f(54, "Z")
            .f(60, "20231114-22:13:20")
            .f(40, "1"),
        "5",
        Some("54"),
    );
    // Bad data format (OrderQty=abc).
    check(
        &mut t,
        msg("D", 6, T0).order("a").set(38, None).f(38, "abc"),
        "6",
        Some("38"),
    );
    // Repeated tag.
    check(
        &mut t,
        msg("D", 7, T0).order("a").f(55, "DEF"),
        "13",
        Some("55"),
    );
    // Wrong group count: NoPartyIDs=2 with one entry.
    check(
        &mut t,
        msg("D", 8, T0)
            .order("a")
            .f(453, "2")
            .f(448, "P1")
            .f(447, "D")
            .f(452, "1"),
        "16",
        Some("453"),
    );
    // Undefined MsgType.
    check(&mut t, msg("ZZ", 9, T0), "11", None);
    assert!(t.a.app().got.is_empty());
    assert_eq!(t.a.disposition(c), Disposition::Open);
}

#[test]
fn missing_required_admin_fields_are_rejected() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("1", 2, T0), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!((r[0].get(373), r[0].get(371)), (Some("1"), Some("112")));
    let r = t.feed(c, &msg("2", 3, T0).f(16, "0"), T0);
    assert_eq!((r[0].get(373), r[0].get(371)), (Some("1"), Some("7")));
    let r = t.feed(c, &msg("4", 4, T0).f(123, "Y"), T0);
    assert_eq!((r[0].get(373), r[0].get(371)), (Some("1"), Some("36")));
    let r = t.feed(c, &msg("2", 5, T0).f(7, "x").f(16, "0"), T0);
    assert_eq!((r[0].get(373), r[0].get(371)), (Some("6"), Some("7")));
}

#[test]
fn unsupported_application_message_gets_business_message_reject() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("Z", 2, T0), T0);
    assert_eq!(types(&r), ["j"]);
    assert_eq!(r[0].get(45), Some("2"));
    assert_eq!(r[0].get(372), Some("Z"));
    assert_eq!(r[0].get(380), Some("3"));
    assert_eq!(t.a.seq_nums(0).unwrap().1, 3);
}

#[test]
fn full_ring_back_pressure_is_answered_to_the_sender() {
    let mut t = T::new();
    let c = t.logged_on();
    t.a.app_mut().busy = true;
    let r = t.feed(c, &msg("D", 2, T0).order("a"), T0);
    assert_eq!(types(&r), ["j"]);
    assert_eq!(r[0].get(380), Some("4"));
    assert_eq!(r[0].get(58), Some("inbound queue full, retry"));
    assert_eq!(t.a.disposition(c), Disposition::Open);
}

// ---- Logout ---------------------------------------------------------------------

#[test]
fn logout_from_counterparty_is_answered_then_disconnected() {
    let mut t = T::new();
    let c = t.logged_on();
    let r = t.feed(c, &msg("5", 2, T0), T0);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    t.a.on_disconnect(c, T0);
    assert!(!t.a.is_logged_on(0));
    assert_eq!(t.a.app().downs[0].2, "logout");
    assert_eq!(t.a.seq_nums(0), Some((3, 3)));
}

#[test]
fn logout_initiated_by_us_waits_for_the_answer() {
    let mut t = T::new();
    let c = t.logged_on();
    t.a.logout(0, "end of day", T0);
    let r = t.take(c);
    assert_eq!(types(&r), ["5"]);
    assert_eq!(r[0].get(58), Some("end of day"));
    assert_eq!(t.a.disposition(c), Disposition::Open);
    let r = t.feed(c, &msg("5", 2, T0), T0);
    assert!(r.is_empty());
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    // Unanswered: timeout.
    let mut t = T::new();
    let c = t.logged_on();
    t.a.logout(0, "", T0);
    t.a.on_timer(T0 + 10 * SEC);
    assert_eq!(t.a.disposition(c), Disposition::CloseNow);
}

// ---- Protections ---------------------------------------------------------------

fn throttled(action: ThrottleAction) -> T {
    let mut s = SessionConfig::new("ISLD", "TW");
    s.rate_limit = Some(RateLimit {
        max_messages: 3,
        window_ms: 1000,
        action,
    });
    T::with(
        vec![s, SessionConfig::new("ISLD", "TW2")],
        Settings::default(),
    )
}

#[test]
fn throttle_reject_mode_rejects_excess_and_recovers_next_window() {
    let mut t = throttled(ThrottleAction::Reject);
    let c = t.logged_on();
    for s in 2..=4 {
        let r = t.feed(c, &msg("D", s, T0).order("a"), T0);
        assert_eq!(types(&r), ["D"]);
    }
    let r = t.feed(c, &msg("D", 5, T0).order("a"), T0);
    assert_eq!(types(&r), ["3"]);
    assert_eq!(r[0].get(373), Some("99"));
    assert_eq!(r[0].get(58), Some("Throttle limit exceeded"));
    assert_eq!(t.a.seq_nums(0).unwrap().1, 6);
    let r = t.feed(c, &msg("D", 6, T0 + SEC).order("a"), T0 + SEC);
    assert_eq!(types(&r), ["D"]);
}

#[test]
fn throttle_logout_mode_logs_out_offender_only() {
    let mut t = throttled(ThrottleAction::Logout);
    let c = t.logged_on();
    let c2 = t.a.open(T0);
    let r = t.feed(c2, &logon(1, T0).set(49, Some("TW2")), T0);
    assert_eq!(types(&r), ["A"]);
    let mut last = vec![];
    for s in 2..=10 {
        last = t.feed(c, &msg("D", s, T0).order("a"), T0);
        if t.a.disposition(c) != Disposition::Open {
            break;
        }
    }
    assert_eq!(types(&last), ["5"]);
    assert_eq!(last[0].get(58), Some("Throttle limit exceeded"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    // The other session keeps trading.
    let r = t.feed(c2, &msg("D", 2, T0).set(49, Some("TW2")).order("b"), T0);
    assert_eq!(types(&r), ["D"]);
    assert_eq!(t.a.disposition(c2), Disposition::Open);
}

#[test]
fn slow_consumer_is_disconnected_and_cancel_on_disconnect_reported() {
    let settings = Settings {
        max_outbound_buffer: 1000,
        ..Settings::default()
    };
    let mut t = T::with(default_sessions(), settings);
    let c = t.a.open(T0);
    t.feed(
        c,
        &logon(1, T0)
            .set(49, Some("MM1"))
            .f(553, "mm1")
            .f(554, "pw1"),
        T0,
    );
    for _ in 0..20 {
        t.a.send(
            1,
            b"8",
            b"37=0123456789012345678901234567890123456789\x01",
            T0,
        )
        .unwrap();
    }
    assert_eq!(t.a.disposition(c), Disposition::CloseNow);
    t.a.on_disconnect(c, T0);
    assert_eq!(
        t.a.app().downs,
        [(1, true, "slow consumer: outbound buffer full".to_string())]
    );
    // All 20 were still stored and numbered.
    assert_eq!(t.a.seq_nums(1).unwrap().0, 22);
}

#[test]
fn random_bytes_truncated_and_oversized_input_never_panic() {
    let mut t = T::new();
    let c = t.logged_on();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = Vec::new();
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push(match x % 5 {
            0 => SOH,
            1 => b'=',
            2 => b'8',
            _ => (x >> 8) as u8,
        });
    }
    let mut pos = 0;
    let mut pending: Vec<u8> = Vec::new();
    while pos < noise.len() {
        let n = ((x as usize) % 97 + 1).min(noise.len() - pos);
        x = x.rotate_left(7) ^ 0x5555;
        pending.extend_from_slice(&noise[pos..pos + n]);
        pos += n;
        let used = t.a.on_bytes(c, &pending, T0);
        pending.drain(..used);
        t.take(c);
    }
    // Truncated message: waits for more, consumes nothing.
    pending.clear();
    let good = msg("D", 2, T0).order("t").bytes();
    assert_eq!(t.a.on_bytes(c, &good[..good.len() - 3], T0), 0);
    // Oversized: skipped as garbled, never buffered.
    let big = msg("D", 2, T0).f(58, &"x".repeat(70_000)).bytes();
    let used = t.a.on_bytes(c, &big, T0);
    assert!(used > 0);
    t.take(c);
    // The session still works at the expected sequence number.
    if t.a.disposition(c) == Disposition::Open {
        let expected = t.a.seq_nums(0).unwrap().1;
        let r = t.feed(c, &msg("1", expected, T0).f(112, "alive"), T0);
        assert_eq!(types(&r), ["0"]);
    }
}

#[test]
fn file_store_keeps_seq_nums_across_acceptor_restart() {
    let dir_path = tempfile::tempdir().unwrap();
    let mk_acceptor = || {
        let base = dir_path.path().to_path_buf();
        let mut mk = move |cfg: &SessionConfig| -> Result<Box<dyn MessageStore>, String> {
            crate::fix::store::FileStore::open(&base.join(cfg.store_name()))
                .map(|s| Box::new(s) as Box<dyn MessageStore>)
                .map_err(|e| e.to_string())
        };
        T {
            a: Acceptor::new(
                Settings::default(),
                dir(default_sessions()),
                0,
                &mut mk,
                Rec::default(),
            )
            .unwrap(),
            parser: Parser::new(),
        }
    };
    {
        let mut t = mk_acceptor();
        let c = t.logged_on();
        t.feed(c, &msg("D", 2, T0).order("a"), T0);
        t.a.flush_stores().unwrap();
    }
    let mut t = mk_acceptor();
    assert_eq!(t.a.seq_nums(0), Some((3, 3)));
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(3, T0), T0);
    assert_eq!(types(&r), ["A"]);
    assert_eq!(r[0].seq(), 3);
    let r = t.feed(c, &msg("2", 4, T0).f(7, "2").f(16, "2"), T0);
    assert_eq!(types(&r), ["D"]);
    assert_eq!(r[0].get(11), Some("a"));
}

#[test]
fn logon_for_a_session_of_another_thread_is_handed_off() {
    let d = Arc::new(Directory::new(default_sessions(), 2).unwrap());
    let mut a0 = Acceptor::in_memory(Settings::default(), d.clone(), 0, Rec::default());
    let mut a1 = Acceptor::in_memory(Settings::default(), d, 1, Rec::default());
    let c = a0.open(T0);
    let b = logon(1, T0)
        .set(49, Some("MM1"))
        .f(553, "mm1")
        .f(554, "pw1")
        .bytes();
    assert_eq!(a0.on_bytes(c, &b, T0), 0);
    assert_eq!(a0.disposition(c), Disposition::Handoff { thread: 1 });
    let c1 = a1.open(T0);
    assert_eq!(a1.on_bytes(c1, &b, T0), b.len());
    assert!(a1.is_logged_on(1));
}

#[test]
fn duplicate_comp_ids_in_config_are_an_error() {
    let e = Directory::new(
        vec![
            SessionConfig::new("ISLD", "TW"),
            SessionConfig::new("ISLD", "TW"),
        ],
        1,
    )
    .unwrap_err();
    assert!(e.contains("configured twice"));
}

#[test]
fn resend_request_with_seq_too_high_is_answered_and_gap_requested() {
    let mut t = T::new();
    let c = t.logged_on();
    t.a.send(0, b"8", b"37=R1\x01", T0).unwrap(); // our 2
    t.take(c);
    // Their ResendRequest arrives at 5 (2..4 lost): answer it, ask for 2.., do not
    // answer it a second time once the gap is filled.
    let r = t.feed(c, &msg("2", 5, T0).f(7, "2").f(16, "0"), T0);
    assert_eq!(types(&r), ["8", "2"]);
    assert_eq!(r[0].get(37), Some("R1"));
    assert_eq!(r[0].get(43), Some("Y"));
    assert_eq!((r[1].get(7), r[1].get(16)), (Some("2"), Some("0")));
    let r = t.feed(
        c,
        &msg("4", 2, T0)
            .f(43, "Y")
            .f(122, &fmt_ts(T0))
            .f(123, "Y")
            .f(36, "6"),
        T0,
    );
    assert!(r.is_empty());
    assert_eq!(t.a.seq_nums(0).unwrap().1, 6);
}

#[test]
fn logon_with_reset_flag_during_the_session_resets_both_sides() {
    let mut t = T::new();
    let c = t.logged_on();
    for s in 2..=4 {
        t.feed(c, &msg("0", s, T0), T0);
    }
    t.a.send(0, b"8", b"37=R1\x01", T0).unwrap();
    t.take(c);
    let r = t.feed(c, &logon(1, T0).f(141, "Y"), T0);
    assert_eq!(types(&r), ["A"]);
    assert_eq!(r[0].seq(), 1);
    assert_eq!(r[0].get(141), Some("Y"));
    assert_eq!(r[0].get(108), Some("30"));
    assert_eq!(t.a.seq_nums(0), Some((2, 2)));
    let r = t.feed(c, &msg("D", 2, T0).order("after-reset"), T0);
    assert_eq!(types(&r), ["D"]);
    assert_eq!(r[0].seq(), 2);
}

#[test]
fn logon_with_bad_sending_time_is_rejected_and_logged_out() {
    let mut t = T::new();
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0 - 300 * SEC), T0);
    assert_eq!(types(&r), ["3", "5"]);
    assert_eq!(r[0].get(373), Some("10"));
    assert_eq!(r[0].get(372), Some("A"));
    assert_eq!(t.a.disposition(c), Disposition::CloseAfterFlush);
    assert!(!t.a.is_logged_on(0));
    assert!(t.a.app().logons.is_empty());
}

// ---- Sequence-number reports (for the journal) ----------------------------

#[test]
fn session_level_changes_are_reported_and_counted_ones_are_not() {
    let mut t = T::new();
    t.a.app_mut().quiet = true;
    let c = t.logged_on();
    t.a.report_seq_changes();
    let st = |i, o, m| SeqState {
        next_in: i,
        next_out: o,
        out_mark: m,
    };
    assert_eq!(t.a.app().seq_changes, [(0, st(2, 2, 0))], "logon reported");
    t.a.report_seq_changes();
    assert_eq!(t.a.app().seq_changes.len(), 1, "nothing new: no report");
    // An accepted application message and a marked send: the application
    // counts those itself, so no report.
    t.feed(c, &msg("D", 2, T0).order("a"), T0);
    t.a.send_event(0, b"8", b"37=1\x01", 77, T0).unwrap();
    t.take(c);
    t.a.report_seq_changes();
    assert_eq!(t.a.app().seq_changes.len(), 1);
    // A heartbeat in and a TestRequest answered: reported with the mark.
    t.feed(c, &msg("0", 3, T0), T0);
    let r = t.feed(c, &msg("1", 4, T0).f(112, "x"), T0);
    assert_eq!(types(&r), ["0"]);
    t.a.report_seq_changes();
    assert_eq!(t.a.app().seq_changes[1], (0, st(5, 4, 77)));
    // A business reject moves both numbers; a refused report is asked again.
    t.a.app_mut().busy = true;
    t.feed(c, &msg("D", 5, T0).order("b"), T0);
    t.a.report_seq_changes();
    t.a.app_mut().busy = false;
    t.a.report_seq_changes();
    let n = t.a.app().seq_changes.len();
    assert_eq!(t.a.app().seq_changes[n - 2], (0, st(6, 5, 77)));
    assert_eq!(t.a.app().seq_changes[n - 1], (0, st(6, 5, 77)));
    t.a.report_seq_changes();
    assert_eq!(t.a.app().seq_changes.len(), n);
    // An echo sent through Reply::send is the application's own message but not
    // a marked one: reported.
    t.a.app_mut().quiet = false;
    t.feed(c, &msg("D", 6, T0).order("c"), T0);
    t.a.report_seq_changes();
    assert_eq!(t.a.app().seq_changes.last(), Some(&(0, st(7, 6, 77))));
    // A message that is no engine event (event_seq 0): reported.
    t.a.send(0, b"8", b"37=2\x01", T0).unwrap();
    t.a.report_seq_changes();
    assert_eq!(t.a.app().seq_changes.last(), Some(&(0, st(7, 7, 77))));
}

#[test]
fn held_messages_follow_the_logon_as_new_messages_before_new_traffic() {
    let mut t = T::new();
    t.a.hold(0, b"8", b"37=OWED1\x01".to_vec(), 10, T0);
    t.a.hold(0, b"8", b"37=OWED2\x01".to_vec(), 12, T0);
    // Live traffic while messages are held waits behind them.
    t.a.send_event(0, b"8", b"37=LIVE\x01", 15, T0).unwrap();
    assert_eq!(t.a.held(0), 3);
    // Held messages are not stored: the delivery mark stays; a "through"
    // announcement does not move it either while anything is held.
    t.a.delivered_through(20);
    assert_eq!(t.a.delivered(0), None);
    assert_eq!(t.a.delivered(1), Some(20));
    let c = t.a.open(T0);
    let r = t.feed(c, &logon(1, T0), T0);
    assert_eq!(types(&r), ["A", "8", "8", "8"]);
    let r = &r[1..];
    let ids: Vec<_> = r.iter().map(|m| m.get(37).unwrap().to_string()).collect();
    assert_eq!(ids, ["OWED1", "OWED2", "LIVE"]);
    for (k, m) in r.iter().enumerate() {
        assert_eq!(
            m.seq(),
            2 + k as u64,
            "new sequence numbers after the Logon (1)"
        );
        assert_eq!(m.get(43), None, "not PossDup");
    }
    assert_eq!(t.a.held(0), 0);
    assert_eq!(t.a.delivered(0), Some(15));
    // Now live traffic goes straight out.
    t.a.send_event(0, b"8", b"37=NEXT\x01", 16, T0).unwrap();
    let r = t.take(c);
    assert_eq!((types(&r), r[0].seq()), (vec!["8"], 5));
    t.a.delivered_through(30);
    assert_eq!(t.a.delivered(0), Some(30));
}

#[test]
fn hold_while_logged_on_sends_at_once() {
    let mut t = T::new();
    let c = t.logged_on();
    t.a.hold(0, b"8", b"37=X\x01".to_vec(), 3, T0);
    let r = t.take(c);
    assert_eq!(types(&r), ["8"]);
    assert_eq!(t.a.held(0), 0);
    assert_eq!(t.a.delivered(0), Some(3));
}
