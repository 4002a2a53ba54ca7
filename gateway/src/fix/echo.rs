//! The conformance test application (`ringex fix-echo`): what the public FIX
//! acceptance suites expect on the other side of a session.
//!
//! - NewOrderSingle(D) and SecurityDefinition(d) are echoed back to the sender
//!   (same MsgType, same body fields, our header);
//! - a NewOrderSingle with PossResend(97)=Y whose ClOrdID(11) was already seen on
//!   that session is ignored;
//! - every other application message gets BusinessMessageReject(j), reason 3.
//!
//! It logs one line per lifecycle event (logon, logout), nothing per message.

use std::collections::HashSet;

use super::codec::Message;
use super::config::{SessionConfig, Settings};
use super::session::{Application, Delivery, Reply, SessionId};

/// Acceptor CompID of the acceptance suites.
pub const ACCEPTOR_COMP_ID: &str = "ISLD";
/// Initiator CompIDs of the acceptance suites.
pub const INITIATOR_COMP_IDS: [&str; 2] = ["TW", "TW44"];

/// The sessions `fix-echo` accepts: ISLD <- TW and ISLD <- TW44, reset on logon.
pub fn sessions() -> Vec<SessionConfig> {
    INITIATOR_COMP_IDS
        .iter()
        .map(|their| {
            let mut s = SessionConfig::new(ACCEPTOR_COMP_ID, their);
            s.reset_on_logon = true;
            s
        })
        .collect()
}

/// `fix-echo` settings: the defaults.
pub fn settings() -> Settings {
    Settings::default()
}

/// Standard header and trailer tags of FIX 4.4: not copied into an echo.
fn is_header_or_trailer(tag: u32) -> bool {
    matches!(
        tag,
        8 | 9
            | 35
            | 49
            | 56
            | 115
            | 128
            | 90
            | 91
            | 34
            | 50
            | 142
            | 57
            | 143
            | 116
            | 144
            | 129
            | 145
            | 43
            | 97
            | 52
            | 122
            | 212
            | 213
            | 347
            | 369
            | 627
            | 628
            | 629
            | 630
            | 93
            | 89
            | 10
    )
}

/// The echo application (one per gateway thread).
#[derive(Debug, Default)]
pub struct EchoApp {
    /// (session, ClOrdID) pairs seen.
    seen: HashSet<(SessionId, Vec<u8>)>,
    body: Vec<u8>,
    /// Print lifecycle lines to stderr.
    pub log: bool,
}

impl EchoApp {
    /// An echo application that logs lifecycle events when `log`.
    pub fn new(log: bool) -> Self {
        Self {
            log,
            ..Self::default()
        }
    }
}

impl Application for EchoApp {
    fn on_logon(&mut self, _session: SessionId, cfg: &SessionConfig) {
        if self.log {
            eprintln!(
                "fix-echo: logon {} -> {}",
                cfg.their_comp_id, cfg.our_comp_id
            );
        }
    }

    fn on_message(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        reply: &mut Reply<'_>,
    ) -> Delivery {
        let t = msg.msg_type();
        if t != b"D" && t != b"d" {
            return Delivery::BusinessReject {
                reason: 3,
                text: "Unsupported Message Type",
            };
        }
        if t == b"D" {
            let cl_ord_id = msg.get(11).unwrap_or(b"").to_vec();
            let poss_resend = matches!(msg.get_bool(97), Ok(Some(true)));
            let new = self.seen.insert((session, cl_ord_id));
            if poss_resend && !new {
                return Delivery::Accepted;
            }
        }
        self.body.clear();
        let mut enc_body = std::mem::take(&mut self.body);
        for (tag, value) in msg.fields() {
            if is_header_or_trailer(tag) {
                continue;
            }
            let mut tmp = [0u8; 20];
            enc_body.extend_from_slice(super::codec::fmt_u64(u64::from(tag), &mut tmp));
            enc_body.push(b'=');
            enc_body.extend_from_slice(value);
            enc_body.push(super::codec::SOH);
        }
        reply.send(t, &enc_body);
        self.body = enc_body;
        Delivery::Accepted
    }

    fn on_session_down(&mut self, _session: SessionId, cfg: &SessionConfig, reason: &str) {
        if self.log {
            eprintln!(
                "fix-echo: logout {} -> {} ({reason})",
                cfg.their_comp_id, cfg.our_comp_id
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::codec::{Encoder, Frame, Parser, frame};
    use crate::fix::session::{Acceptor, Directory};
    use std::sync::Arc;

    const T0: u64 = 1_700_000_000_000_000_000;

    fn m(t: &str, seq: u64, extra: &[(u32, &str)]) -> Vec<u8> {
        let mut ts = [0u8; crate::fix::codec::UTC_TIMESTAMP_LEN];
        crate::fix::codec::format_utc_timestamp(T0, &mut ts);
        let mut e = Encoder::new(b"FIX.4.4");
        e.start(t.as_bytes())
            .field_u64(34, seq)
            .field(49, b"TW")
            .field(56, b"ISLD")
            .field(52, &ts);
        for (tag, v) in extra {
            e.field(*tag, v.as_bytes());
        }
        e.finish().to_vec()
    }

    fn outputs(a: &mut Acceptor<EchoApp>, c: usize) -> Vec<(String, Vec<(u32, String)>)> {
        let bytes = std::mem::take(a.tx(c).unwrap());
        let mut p = Parser::new();
        let mut out = vec![];
        let mut pos = 0;
        while let Frame::Complete { len } = frame(&bytes[pos..], 1 << 20) {
            let msg = p.parse(&bytes[pos..pos + len]).unwrap();
            out.push((
                String::from_utf8_lossy(msg.msg_type()).into_owned(),
                msg.fields()
                    .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                    .collect(),
            ));
            pos += len;
        }
        out
    }

    #[test]
    fn echoes_orders_ignores_resent_duplicates_rejects_the_rest() {
        let d = Arc::new(Directory::new(sessions(), 1).unwrap());
        let mut a = Acceptor::in_memory(settings(), d, 0, EchoApp::new(false));
        let c = a.open(T0);
        a.on_bytes(c, &m("A", 1, &[(98, "0"), (108, "30")]), T0);
        assert_eq!(outputs(&mut a, c)[0].0, "A");
        let order = [
            (11, "ord1"),
            (21, "1"),
            (55, "ABC"),
            (54, "1"),
            (60, "20231114-22:13:20"),
            (40, "1"),
        ];
        a.on_bytes(c, &m("D", 2, &order), T0);
        let o = outputs(&mut a, c);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].0, "D");
        let body: Vec<(u32, String)> = o[0]
            .1
            .iter()
            .filter(|(t, _)| !is_header_or_trailer(*t))
            .cloned()
            .collect();
        let want: Vec<(u32, String)> = order.iter().map(|(t, v)| (*t, v.to_string())).collect();
        assert_eq!(body, want);
        // PossResend of a seen ClOrdID: ignored. Of a new one: echoed.
        let mut resent = vec![(97, "Y")];
        resent.extend_from_slice(&order);
        a.on_bytes(c, &m("D", 3, &resent), T0);
        assert!(outputs(&mut a, c).is_empty());
        resent[1] = (11, "ord2");
        a.on_bytes(c, &m("D", 4, &resent), T0);
        assert_eq!(outputs(&mut a, c)[0].0, "D");
        // SecurityDefinition echoed, anything else: BMR 3.
        a.on_bytes(c, &m("d", 5, &[(320, "r1"), (322, "x"), (323, "1")]), T0);
        assert_eq!(outputs(&mut a, c)[0].0, "d");
        a.on_bytes(
            c,
            &m(
                "F",
                6,
                &[
                    (11, "c1"),
                    (41, "ord1"),
                    (55, "ABC"),
                    (54, "1"),
                    (60, "20231114-22:13:20"),
                ],
            ),
            T0,
        );
        let o = outputs(&mut a, c);
        assert_eq!(o[0].0, "j");
        assert!(o[0].1.contains(&(380, "3".to_string())));
        assert!(o[0].1.contains(&(372, "F".to_string())));
    }
}
