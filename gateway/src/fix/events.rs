//! Engine events -> FIX application messages, on the gateway thread that owns
//! the session.
//!
//! The node's sender hands the gateway the engine event itself (a fixed-size
//! [`EventBytes`] record, copied through a bounded channel that allocates
//! nothing per message); the owning gateway thread renders it with
//! [`EventRenderer::render`] into its encoder's reused buffer and passes the body
//! to the session layer. Nothing is allocated per message once the buffers have
//! grown to the largest message.
//!
//! The renderer also remembers, per session, the orders it last reported dead
//! ([`DeadOrders`]: filled, cancelled, expired), because the engine forgets them:
//! an OrderCancelReject for an order the engine no longer knows then states the
//! order's real OrdStatus (`2`, `4`, `C`) instead of `8`.

use std::collections::HashMap;
use std::sync::Arc;

use engine::msg::{ExecReport, MAX_MESSAGE_LEN, Message as EngineMessage};

use super::app::{self, DeadOrder, Instruments, OutboundError};
use super::codec::Encoder;
use super::session::SessionId;

/// One engine event as encoded by `engine::msg` (header + body, zero-padded):
/// the unit the node hands the gateway.
pub type EventBytes = [u8; MAX_MESSAGE_LEN];

/// Copies an encoded engine message into an [`EventBytes`] (longer input is cut,
/// and then fails to decode).
pub fn event_bytes(msg: &[u8]) -> EventBytes {
    let mut b = [0u8; MAX_MESSAGE_LEN];
    let n = msg.len().min(MAX_MESSAGE_LEN);
    b[..n].copy_from_slice(&msg[..n]);
    b
}

/// Orders one session remembers as dead, per generation: past it the older
/// generation is forgotten. Each dead order takes one to three keys (its
/// OrderID, its ClOrdID and, for a requested cancel, the cancel's ClOrdID).
pub const DEAD_ORDER_KEYS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Order(u64),
    ClOrd(u64),
}

/// A bounded memory of recently dead orders for one session: two generations of
/// at most [`DEAD_ORDER_KEYS`] keys, each map allocated once at its full
/// capacity (no allocation per insert; `clear` keeps the capacity). When the
/// current generation is full it becomes the old one and the old one is
/// dropped, so an order is remembered for at least `DEAD_ORDER_KEYS` later keys.
#[derive(Debug)]
pub struct DeadOrders {
    current: HashMap<Key, DeadOrder>,
    old: HashMap<Key, DeadOrder>,
    cap: usize,
}

impl DeadOrders {
    /// An empty memory of `cap` keys per generation (allocated now).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        DeadOrders {
            current: HashMap::with_capacity(cap),
            old: HashMap::with_capacity(cap),
            cap,
        }
    }

    fn put(&mut self, k: Key, d: DeadOrder) {
        if self.current.len() >= self.cap && !self.current.contains_key(&k) {
            std::mem::swap(&mut self.current, &mut self.old);
            self.current.clear();
        }
        self.current.insert(k, d);
    }

    /// Remembers the order an execution report declares dead (no-op otherwise).
    pub fn record(&mut self, er: &ExecReport) {
        let status = app::ord_status(er);
        if !matches!(status, b'2' | b'4' | b'C') {
            return;
        }
        let d = DeadOrder {
            status,
            order_id: er.order_id,
            cum_qty: er.cum_qty,
            cum_notional: er.cum_notional,
        };
        if er.order_id != 0 {
            self.put(Key::Order(er.order_id), d);
        }
        if er.client_order_id != 0 {
            self.put(Key::ClOrd(er.client_order_id), d);
        }
        if er.orig_client_order_id != 0 {
            self.put(Key::ClOrd(er.orig_client_order_id), d);
        }
    }

    /// The dead order named by exchange id `order_id` (0: none) or, failing
    /// that, by the client id `clordid`.
    pub fn lookup(&self, order_id: u64, clordid: u64) -> Option<&DeadOrder> {
        let get = |k: Key| self.current.get(&k).or_else(|| self.old.get(&k));
        (order_id != 0)
            .then(|| get(Key::Order(order_id)))
            .flatten()
            .or_else(|| (clordid != 0).then(|| get(Key::ClOrd(clordid))).flatten())
    }
}

/// Why an event could not be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderError {
    /// The bytes are not an engine message.
    Undecodable,
    /// The event is not one a FIX session receives (market data, admin, ...).
    NotForSessions,
    /// The event's reference data is missing.
    Outbound(OutboundError),
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::Undecodable => write!(f, "undecodable engine event"),
            RenderError::NotForSessions => write!(f, "engine event not for FIX sessions"),
            RenderError::Outbound(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RenderError {}

/// A rendered event: what [`super::session::Acceptor::send_event`] takes.
#[derive(Debug, Clone, Copy)]
pub struct Rendered<'a> {
    /// MsgType (35).
    pub msg_type: &'static [u8],
    /// The body fields.
    pub body: &'a [u8],
    /// The event's output sequence (the store's delivery mark).
    pub event_seq: u64,
}

/// Renders engine events for the sessions of one gateway thread (see the
/// module docs).
#[derive(Debug)]
pub struct EventRenderer {
    instruments: Arc<Instruments>,
    enc: Encoder,
    /// By session id; created at a session's first dead order.
    dead: Vec<Option<DeadOrders>>,
    dead_cap: usize,
}

impl EventRenderer {
    /// A renderer with this reference data.
    pub fn new(instruments: Arc<Instruments>) -> Self {
        EventRenderer {
            instruments,
            enc: Encoder::new(b"FIX.4.4"),
            dead: Vec::new(),
            dead_cap: DEAD_ORDER_KEYS,
        }
    }

    /// Same, remembering at most `cap` dead-order keys per generation (tests).
    pub fn with_dead_capacity(instruments: Arc<Instruments>, cap: usize) -> Self {
        EventRenderer {
            dead_cap: cap,
            ..Self::new(instruments)
        }
    }

    /// The dead orders remembered for `session`.
    pub fn dead_orders(&self, session: SessionId) -> Option<&DeadOrders> {
        self.dead.get(session)?.as_ref()
    }

    /// Renders the engine event in `bytes` for `session`.
    pub fn render(
        &mut self,
        session: SessionId,
        bytes: &[u8],
    ) -> Result<Rendered<'_>, RenderError> {
        let (h, m) = engine::msg::decode(bytes).map_err(|_| RenderError::Undecodable)?;
        let t = app::event_msg_type(&m).ok_or(RenderError::NotForSessions)?;
        self.enc.start(t);
        match &m {
            EngineMessage::ExecReport(er) => {
                app::write_exec_report_body(&mut self.enc, &h, er, &self.instruments)
                    .map_err(RenderError::Outbound)?;
                if matches!(app::ord_status(er), b'2' | b'4' | b'C') {
                    if self.dead.len() <= session {
                        self.dead.resize_with(session + 1, || None);
                    }
                    let cap = self.dead_cap;
                    self.dead[session]
                        .get_or_insert_with(|| DeadOrders::new(cap))
                        .record(er);
                }
            }
            EngineMessage::CancelReject(cr) => {
                let dead = self
                    .dead
                    .get(session)
                    .and_then(Option::as_ref)
                    .and_then(|d| d.lookup(cr.order_id, cr.orig_client_order_id));
                app::write_cancel_reject_body_with(&mut self.enc, &h, cr, dead);
            }
            other => app::write_event_body(&mut self.enc, &h, other, &self.instruments)
                .map_err(RenderError::Outbound)?,
        }
        Ok(Rendered {
            msg_type: t,
            body: self.enc.body_fields(),
            event_seq: h.seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::msg::{CancelReject, ExecKind, Header, RejectCode};
    use engine::types::{OrderType, Side, TimeInForce};

    fn instruments() -> Arc<Instruments> {
        Arc::new(
            Instruments::new(&[app::InstrumentConfig {
                symbol: "BTC-USD".into(),
                id: 1,
                tick: crate::fix::decimal::Tick::new(5, -1).unwrap(),
                lot: crate::fix::decimal::Tick::new(1, -3).unwrap(),
            }])
            .unwrap(),
        )
    }

    fn er(kind: ExecKind, order_id: u64, cl: u64, leaves: u64, cum: u64) -> ExecReport {
        ExecReport {
            kind,
            order_id,
            client_order_id: cl,
            orig_client_order_id: 0,
            exec_id: 1,
            account: 1,
            instrument: 1,
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            reject: RejectCode::None,
            cancel: engine::msg::CancelReason::None,
            price: 100,
            last_price: 100,
            last_qty: cum,
            leaves_qty: leaves,
            cum_qty: cum,
            cum_notional: cum * 100,
        }
    }

    fn encode(seq: u64, m: &EngineMessage) -> EventBytes {
        let mut b = [0u8; MAX_MESSAGE_LEN];
        m.encode(
            &Header {
                session: 1,
                seq,
                timestamp_ns: 1_700_000_000_000_000_000,
            },
            &mut b,
        )
        .unwrap();
        b
    }

    fn unknown_cancel_reject(order_id: u64, orig: u64) -> EngineMessage {
        EngineMessage::CancelReject(CancelReject {
            order_id,
            client_order_id: 99,
            orig_client_order_id: orig,
            account: 1,
            instrument: 1,
            was_replace: false,
            reason: RejectCode::UnknownOrder,
            leaves_qty: 0,
            cum_qty: 0,
        })
    }

    fn field<'a>(body: &'a [u8], tag: &str) -> Option<&'a str> {
        let pat = format!("{tag}=");
        std::str::from_utf8(body)
            .unwrap()
            .split('\x01')
            .find_map(|f| f.strip_prefix(&pat))
    }

    #[test]
    fn cancel_reject_for_a_filled_order_states_filled() {
        let mut r = EventRenderer::new(instruments());
        let fill = encode(
            5,
            &EngineMessage::ExecReport(er(ExecKind::Fill, 7, 42, 0, 3)),
        );
        let out = r.render(0, &fill).unwrap();
        assert_eq!(out.msg_type, b"8");
        assert_eq!(out.event_seq, 5);
        assert_eq!(field(out.body, "39"), Some("2"));
        let d = *r.dead_orders(0).unwrap().lookup(0, 42).unwrap();
        assert_eq!(
            (d.status, d.order_id, d.cum_qty, d.cum_notional),
            (b'2', 7, 3, 300)
        );

        let rej = encode(6, &unknown_cancel_reject(0, 42));
        let out = r.render(0, &rej).unwrap();
        assert_eq!(out.msg_type, b"9");
        assert_eq!(field(out.body, "39"), Some("2"));
        assert_eq!(field(out.body, "37"), Some("7"));
        assert_eq!(field(out.body, "434"), Some("1"));
        assert_eq!(field(out.body, "102"), Some("0"));
        // Another session never saw that order: still unknown (8).
        let out = r.render(1, &rej).unwrap();
        assert_eq!(field(out.body, "39"), Some("8"));
        assert_eq!(field(out.body, "37"), Some("NONE"));
    }

    #[test]
    fn cancelled_and_expired_by_order_id() {
        let mut r = EventRenderer::new(instruments());
        r.render(
            0,
            &encode(
                1,
                &EngineMessage::ExecReport(er(ExecKind::Cancelled, 8, 50, 5, 0)),
            ),
        )
        .unwrap();
        r.render(
            0,
            &encode(
                2,
                &EngineMessage::ExecReport(er(ExecKind::Expired, 9, 51, 5, 1)),
            ),
        )
        .unwrap();
        // A live order (partial fill) is not remembered.
        r.render(
            0,
            &encode(
                3,
                &EngineMessage::ExecReport(er(ExecKind::PartialFill, 10, 52, 2, 1)),
            ),
        )
        .unwrap();
        let out = r
            .render(0, &encode(4, &unknown_cancel_reject(8, 0)))
            .unwrap();
        assert_eq!(field(out.body, "39"), Some("4"));
        let out = r
            .render(0, &encode(5, &unknown_cancel_reject(0, 51)))
            .unwrap();
        assert_eq!(field(out.body, "39"), Some("C"));
        let out = r
            .render(0, &encode(6, &unknown_cancel_reject(0, 52)))
            .unwrap();
        assert_eq!(field(out.body, "39"), Some("8"));
    }

    #[test]
    fn memory_is_bounded_oldest_generation_forgotten() {
        let mut d = DeadOrders::new(4);
        for i in 1..=20u64 {
            d.record(&er(ExecKind::Fill, 1000 + i, i, 0, 1));
        }
        // 2 keys per order, 4 keys per generation: the last 2-4 orders remain.
        assert!(d.lookup(0, 20).is_some());
        assert!(d.lookup(1019, 0).is_some());
        assert!(d.lookup(0, 1).is_none());
        assert!(d.current.len() <= 4 && d.old.len() <= 4);
        assert!(d.current.capacity() >= 4);
    }

    #[test]
    fn garbage_and_market_data_are_errors_not_panics() {
        let mut r = EventRenderer::new(instruments());
        assert_eq!(
            r.render(0, &[0u8; 128]).unwrap_err(),
            RenderError::Undecodable
        );
        let md = EngineMessage::BookLevel(engine::msg::BookLevel {
            instrument: 1,
            side: Side::Buy,
            price: 1,
            qty: 1,
            md_seq: 1,
        });
        assert_eq!(
            r.render(0, &encode(1, &md)).unwrap_err(),
            RenderError::NotForSessions
        );
    }
}
