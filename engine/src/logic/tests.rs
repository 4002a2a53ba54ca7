use super::*;
use crate::msg::{
    Deposit, ExecReport, HaltInstrument, NewOrder, SessionEnd, SessionEvent, SuspendAccount,
    Withdraw,
};
use crate::types::{OrderType, Side, StpMode, TimeInForce};

const BTC: u32 = 1;
const USD: u32 = 2;
const INST: InstrumentId = 1;
const A: AccountId = 1;
const B: AccountId = 2;
const SA: SessionId = 11;
const SB: SessionId = 12;
const ADMIN: SessionId = 99;

type Out = Vec<(Header, Message)>;

struct Venue {
    logic: Logic,
    seq: u64,
}

impl Venue {
    fn new() -> Self {
        let mut v = Venue {
            logic: Logic::new(test_config()),
            seq: 0,
        };
        let out = v.cmd(
            ADMIN,
            Message::AddInstrument(AddInstrument {
                instrument: INST,
                base_asset: BTC,
                quote_asset: USD,
                base_units_per_lot: 1_000,
                quote_units_per_tick_lot: 10,
                min_qty: 1,
                max_qty: 1_000_000,
                collar_bps: 0,
                maker_fee_bps: 10,
                taker_fee_bps: 20,
                symbol: *b"BTC-USD\0\0\0\0\0\0\0\0\0",
            }),
        );
        assert_admin_ok(&out);
        for acct in [A, B] {
            assert_admin_ok(&v.cmd(
                ADMIN,
                Message::AddAccount(AddAccount {
                    account: acct,
                    max_order_notional: 0,
                    fee_override: false,
                    maker_fee_bps: 0,
                    taker_fee_bps: 0,
                }),
            ));
            for (asset, amount) in [(BTC, 1_000_000), (USD, 10_000_000)] {
                assert_admin_ok(&v.cmd(
                    ADMIN,
                    Message::Deposit(Deposit {
                        account: acct,
                        asset,
                        amount,
                        transfer_id: 7,
                    }),
                ));
            }
        }
        v
    }

    /// Sends one command through the byte path, as the ring stage does.
    fn cmd(&mut self, session: SessionId, m: Message) -> Out {
        self.seq += 1;
        let h = Header {
            session,
            seq: self.seq,
            timestamp_ns: 1_000 * self.seq,
        };
        let mut buf = [0u8; msg::MAX_MESSAGE_LEN];
        let n = m.encode(&h, &mut buf).unwrap();
        let mut out = Vec::new();
        self.logic.process(&buf[..n], &mut out).unwrap();
        self.logic.check_consistency().unwrap();
        assert_eq!(self.logic.faults().0, 0, "{}", self.logic.faults().1);
        out
    }

    fn order(&mut self, session: SessionId, o: NewOrder) -> Out {
        self.cmd(session, Message::NewOrder(o))
    }

    fn bal(&self, acct: AccountId, asset: u32) -> crate::risk::Balance {
        self.logic.risk().balance(acct, asset).unwrap()
    }
}

fn assert_admin_ok(out: &Out) {
    assert_eq!(out.len(), 1);
    match out[0].1 {
        Message::AdminResult(r) => assert_eq!(r.reason, RejectCode::None, "{r:?}"),
        ref m => panic!("expected admin result, got {m:?}"),
    }
}

fn limit(clid: u64, account: AccountId, side: Side, price: i64, qty: u64) -> NewOrder {
    NewOrder {
        client_order_id: clid,
        account,
        instrument: INST,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        stp: StpMode::None,
        post_only: false,
        price,
        stop_price: 0,
        qty,
        display_qty: 0,
        quote_budget: 0,
    }
}

fn reports(out: &Out) -> Vec<(SessionId, ExecReport)> {
    out.iter()
        .filter_map(|(h, m)| match m {
            Message::ExecReport(r) => Some((h.session, *r)),
            _ => None,
        })
        .collect()
}

#[test]
fn cross_settles_and_reports_to_each_owner() {
    let mut v = Venue::new();
    let out = v.order(SA, limit(1, A, Side::Sell, 100, 5));
    let r = reports(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, SA);
    assert_eq!(r[0].1.kind, ExecKind::New);
    assert_eq!(r[0].1.order_id, 1);
    let out = v.order(SB, limit(2, B, Side::Buy, 101, 3));
    let r = reports(&out);
    let kinds: Vec<_> = r.iter().map(|(s, r)| (*s, r.kind, r.order_id)).collect();
    assert_eq!(
        kinds,
        vec![
            (SB, ExecKind::New, 2),
            (SA, ExecKind::PartialFill, 1),
            (SB, ExecKind::Fill, 2)
        ]
    );
    let fill = r[2].1;
    assert_eq!(
        (
            fill.last_price,
            fill.last_qty,
            fill.cum_qty,
            fill.leaves_qty
        ),
        (100, 3, 3, 0)
    );
    assert_eq!(fill.cum_notional, 300);
    assert_eq!(r[1].1.exec_id, fill.exec_id);
    assert!(out.iter().any(|(h, m)| h.session == 0
        && matches!(m, Message::TradePrint(t) if t.qty == 3 && t.price == 100)));
    assert!(out.iter().any(|(_, m)| matches!(m, Message::BookLevel(l) if l.side == Side::Sell && l.price == 100 && l.qty == 2)));
    // Notional 100 × 3 × 10 = 3000 quote units; maker 10 bps → 3, taker 20 bps → 6.
    assert_eq!(v.bal(A, USD).available, 10_000_000 + 3_000 - 3);
    assert_eq!(
        v.bal(B, USD),
        crate::risk::Balance {
            available: 10_000_000 - 3_006,
            reserved: 0
        }
    );
    assert_eq!(v.bal(B, BTC).available, 1_000_000 + 3_000);
    assert_eq!(v.bal(A, BTC).reserved, 2_000);
    assert_eq!(v.bal(0, USD).available, 9);
    // Output sequence is contiguous.
    let seqs: Vec<u64> = out.iter().map(|(h, _)| h.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn risk_rejections_become_reject_reports() {
    let mut v = Venue::new();
    let out = v.order(SA, limit(1, A, Side::Buy, 1_000_000, 1_000));
    let r = reports(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.kind, ExecKind::Rejected);
    assert_eq!(r[0].1.reject, RejectCode::InsufficientFunds);
    let mut o = limit(2, A, Side::Buy, 100, 1);
    o.order_type = OrderType::Market;
    assert_eq!(
        reports(&v.order(SA, o))[0].1.reject,
        RejectCode::MarketBuyNeedsBudget
    );
    let mut o = limit(3, 55, Side::Buy, 100, 1);
    o.account = 55;
    assert_eq!(
        reports(&v.order(SA, o))[0].1.reject,
        RejectCode::UnknownAccount
    );
    let mut o = limit(4, A, Side::Buy, 100, 1);
    o.instrument = 9;
    assert_eq!(
        reports(&v.order(SA, o))[0].1.reject,
        RejectCode::UnknownInstrument
    );
    // Book-level rejection (post-only would cross) releases the reservation.
    v.order(SB, limit(5, B, Side::Sell, 100, 1));
    let mut o = limit(6, A, Side::Buy, 100, 1);
    o.post_only = true;
    assert_eq!(
        reports(&v.order(SA, o))[0].1.reject,
        RejectCode::PostOnlyWouldCross
    );
    assert_eq!(v.bal(A, USD).reserved, 0);
    // A live client id cannot be reused by the same account.
    assert_eq!(
        reports(&v.order(SB, limit(5, B, Side::Sell, 101, 1)))[0]
            .1
            .reject,
        RejectCode::Duplicate
    );
}

#[test]
fn cancel_by_client_id_ownership_and_stale_cancel() {
    let mut v = Venue::new();
    v.order(SA, limit(77, A, Side::Buy, 90, 4));
    assert!(v.bal(A, USD).reserved > 0);
    // B cannot cancel A's order.
    let out = v.cmd(
        SB,
        Message::Cancel(Cancel {
            client_order_id: 1,
            order_id: 1,
            orig_client_order_id: 0,
            account: B,
            instrument: INST,
        }),
    );
    assert!(matches!(out[0].1, Message::CancelReject(c) if c.reason == RejectCode::NotOwner));
    // A cancels by its client id.
    let out = v.cmd(
        SA,
        Message::Cancel(Cancel {
            client_order_id: 78,
            order_id: 0,
            orig_client_order_id: 77,
            account: A,
            instrument: INST,
        }),
    );
    let r = reports(&out);
    assert_eq!(r[0].1.kind, ExecKind::Cancelled);
    assert_eq!(r[0].1.cancel, CancelReason::Requested);
    assert_eq!(
        (r[0].1.client_order_id, r[0].1.orig_client_order_id),
        (78, 77)
    );
    assert_eq!(
        v.bal(A, USD),
        crate::risk::Balance {
            available: 10_000_000,
            reserved: 0
        }
    );
    // Second cancel: rejected, never acknowledged.
    let out = v.cmd(
        SA,
        Message::Cancel(Cancel {
            client_order_id: 79,
            order_id: 1,
            orig_client_order_id: 0,
            account: A,
            instrument: INST,
        }),
    );
    assert!(matches!(out[0].1, Message::CancelReject(c) if c.reason == RejectCode::UnknownOrder));
    // No live order: nothing open, nothing known filled.
    assert!(matches!(out[0].1, Message::CancelReject(c) if c.leaves_qty == 0 && c.cum_qty == 0));
    assert!(reports(&out).is_empty());
}

#[test]
fn replace_checks_funds_keeps_state_on_refusal_and_can_cross() {
    let mut v = Venue::new();
    v.order(SA, limit(1, A, Side::Buy, 90, 4));
    let before = v.logic.snapshot();
    // Far too big: insufficient funds, nothing changes.
    let out = v.cmd(
        SA,
        Message::Replace(Replace {
            client_order_id: 2,
            order_id: 1,
            orig_client_order_id: 0,
            account: A,
            instrument: INST,
            price: 90,
            qty: 1_000_000,
        }),
    );
    assert!(
        matches!(out[0].1, Message::CancelReject(c) if c.reason == RejectCode::InsufficientFunds && c.was_replace)
    );
    // The refusal states the live order as it stands: 4 open, nothing filled.
    assert!(matches!(out[0].1, Message::CancelReject(c) if c.leaves_qty == 4 && c.cum_qty == 0));
    // Only the output sequence moved.
    let mut l2 = Logic::restore(&before).unwrap();
    l2.core.out_seq = v.logic.out_seq();
    l2.core.last_input_seq = v.logic.last_input_seq();
    assert_eq!(l2.snapshot(), v.logic.snapshot());
    // Replace into a cross: matches against a resting sell.
    v.order(SB, limit(1, B, Side::Sell, 95, 2));
    let out = v.cmd(
        SA,
        Message::Replace(Replace {
            client_order_id: 3,
            order_id: 0,
            orig_client_order_id: 1,
            account: A,
            instrument: INST,
            price: 95,
            qty: 6,
        }),
    );
    let r = reports(&out);
    assert_eq!(r[0].1.kind, ExecKind::Replaced);
    assert_eq!(
        (
            r[0].1.client_order_id,
            r[0].1.orig_client_order_id,
            r[0].1.leaves_qty
        ),
        (3, 1, 6)
    );
    assert!(
        r.iter()
            .any(|(s, x)| *s == SA && x.kind == ExecKind::PartialFill && x.leaves_qty == 4)
    );
    assert_eq!(v.logic.orders().by_client(A, 3), Some(1));
    assert_eq!(v.logic.orders().by_client(A, 1), None);
    // Total qty at or below filled qty is refused.
    let out = v.cmd(
        SA,
        Message::Replace(Replace {
            client_order_id: 4,
            order_id: 1,
            orig_client_order_id: 0,
            account: A,
            instrument: INST,
            price: 95,
            qty: 2,
        }),
    );
    assert!(matches!(out[0].1, Message::CancelReject(c) if c.reason == RejectCode::QtyOutOfRange));
    // Decrease releases funds: reserve for 1 lot at 95 (+ fee bound).
    v.cmd(
        SA,
        Message::Replace(Replace {
            client_order_id: 5,
            order_id: 1,
            orig_client_order_id: 0,
            account: A,
            instrument: INST,
            price: 95,
            qty: 3,
        }),
    );
    assert_eq!(v.bal(A, USD).reserved, 950 + 2 + 1);
}

#[test]
fn session_end_ioc_and_market_budget_release_everything() {
    let mut v = Venue::new();
    let mut day = limit(1, A, Side::Buy, 90, 4);
    day.tif = TimeInForce::Day;
    v.order(SA, day);
    v.order(SA, limit(2, A, Side::Buy, 89, 4)); // GTC survives
    let out = v.cmd(ADMIN, Message::SessionEnd(SessionEnd { instrument: 0 }));
    assert!(
        reports(&out)
            .iter()
            .any(|(s, r)| *s == SA && r.kind == ExecKind::Expired && r.order_id == 1)
    );
    assert_eq!(v.logic.risk().open_orders(A), Some(1));
    // IOC: partial fill, rest cancelled, reservation gone.
    v.order(SB, limit(1, B, Side::Sell, 100, 2));
    let mut ioc = limit(3, A, Side::Buy, 100, 5);
    ioc.tif = TimeInForce::Ioc;
    let out = v.order(SA, ioc);
    assert!(
        reports(&out)
            .iter()
            .any(|(_, r)| r.kind == ExecKind::Cancelled && r.cancel == CancelReason::IocRest)
    );
    assert_eq!(v.logic.risk().open_orders(A), Some(1));
    // Market buy with a budget of 2 lots at 110: stops at the budget.
    v.order(SB, limit(2, B, Side::Sell, 110, 5));
    let mut mb = limit(4, A, Side::Buy, 0, 5);
    mb.order_type = OrderType::Market;
    mb.quote_budget = 220;
    let out = v.order(SA, mb);
    let r = reports(&out);
    assert!(
        r.iter().any(|(_, r)| r.kind == ExecKind::PartialFill
            && r.client_order_id == 4
            && r.cum_qty == 2)
    );
    assert!(
        r.iter()
            .any(|(_, r)| r.kind == ExecKind::Cancelled && r.cancel == CancelReason::MarketRest)
    );
    // Only the GTC bid (89 × 4 × 10 = 3 560 + fee bound 8+1) remains reserved.
    assert_eq!(v.bal(A, USD).reserved, 3_560 + 9);
    v.cmd(
        SA,
        Message::MassCancel(MassCancel {
            client_order_id: 9,
            scope: MassCancelScope::All,
            account: A,
            instrument: 0,
            target_session: 0,
        }),
    );
    assert_eq!(v.bal(A, USD).reserved, 0);
    assert_eq!(v.logic.risk().open_orders(A), Some(0));
}

#[test]
fn halt_suspend_disconnect_and_withdraw() {
    let mut v = Venue::new();
    assert_admin_ok(&v.cmd(
        ADMIN,
        Message::HaltInstrument(HaltInstrument {
            instrument: INST,
            halted: true,
        }),
    ));
    assert_eq!(
        reports(&v.order(SA, limit(1, A, Side::Buy, 90, 1)))[0]
            .1
            .reject,
        RejectCode::InstrumentHalted
    );
    assert_admin_ok(&v.cmd(
        ADMIN,
        Message::HaltInstrument(HaltInstrument {
            instrument: INST,
            halted: false,
        }),
    ));
    assert_admin_ok(&v.cmd(
        ADMIN,
        Message::SuspendAccount(SuspendAccount {
            account: A,
            suspended: true,
        }),
    ));
    assert_eq!(
        reports(&v.order(SA, limit(2, A, Side::Buy, 90, 1)))[0]
            .1
            .reject,
        RejectCode::AccountSuspended
    );
    assert_admin_ok(&v.cmd(
        ADMIN,
        Message::SuspendAccount(SuspendAccount {
            account: A,
            suspended: false,
        }),
    ));
    v.order(SA, limit(3, A, Side::Buy, 90, 1));
    v.order(SA, limit(4, A, Side::Sell, 95, 1));
    let out = v.cmd(
        SA,
        Message::SessionEvent(SessionEvent {
            kind: SessionEventKind::Disconnect,
            account: A,
            cancel_on_disconnect: true,
            next_in: 0,
            next_out: 0,
            out_mark: 0,
        }),
    );
    let r = reports(&out);
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|(_, r)| r.cancel == CancelReason::Disconnect));
    // Withdraw more than available: refused with the balance echoed.
    let out = v.cmd(
        ADMIN,
        Message::Withdraw(Withdraw {
            account: A,
            asset: USD,
            amount: 20_000_000,
            transfer_id: 5,
        }),
    );
    assert!(
        matches!(out[0].1, Message::AdminResult(r) if r.reason == RejectCode::InsufficientFunds && r.balance == 10_000_000 && r.reference == 5)
    );
    let out = v.cmd(
        ADMIN,
        Message::Withdraw(Withdraw {
            account: A,
            asset: USD,
            amount: 1_000,
            transfer_id: 6,
        }),
    );
    assert!(
        matches!(out[0].1, Message::AdminResult(r) if r.reason == RejectCode::None && r.balance == 9_999_000)
    );
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut v = Venue::new();
    let before = v.logic.snapshot();
    let mut out = Vec::new();
    assert!(matches!(
        v.logic.process(&[1, 2, 3], &mut out),
        Err(ProcessError::Decode(_))
    ));
    let h = Header::default();
    let ev = Message::TradePrint(msg::TradePrint {
        instrument: 1,
        aggressor: Side::Buy,
        price: 1,
        qty: 1,
        exec_id: 1,
        md_seq: 1,
    });
    assert_eq!(
        v.logic.process_message(&h, &ev, &mut out),
        Err(ProcessError::NotACommand(MsgType::TradePrint))
    );
    assert!(out.is_empty());
    assert_eq!(v.logic.snapshot(), before);
    // Negative fees and instrument 0 are refused.
    let mut bad = AddInstrument {
        instrument: 2,
        base_asset: 3,
        quote_asset: USD,
        base_units_per_lot: 1,
        quote_units_per_tick_lot: 1,
        min_qty: 1,
        max_qty: 10,
        collar_bps: 0,
        maker_fee_bps: -1,
        taker_fee_bps: 5,
        symbol: [0; 16],
    };
    let out = v.cmd(ADMIN, Message::AddInstrument(bad));
    assert!(matches!(out[0].1, Message::AdminResult(r) if r.reason == RejectCode::InvalidOrder));
    bad.maker_fee_bps = 0;
    bad.instrument = 0;
    let out = v.cmd(ADMIN, Message::AddInstrument(bad));
    assert!(matches!(out[0].1, Message::AdminResult(r) if r.reason == RejectCode::InvalidOrder));
}

#[test]
fn snapshot_restore_round_trip_and_corruption() {
    let mut v = Venue::new();
    v.order(SA, limit(1, A, Side::Buy, 90, 4));
    v.order(SB, limit(2, B, Side::Sell, 95, 3));
    let mut stop = limit(3, A, Side::Buy, 99, 1);
    stop.order_type = OrderType::StopLimit;
    stop.stop_price = 97;
    v.order(SA, stop);
    let snap = v.logic.snapshot();
    let back = Logic::restore(&snap).unwrap();
    assert_eq!(back.state_hash(), v.logic.state_hash());
    assert_eq!(back.snapshot(), snap);
    for cut in [0, 4, 8, snap.len() / 2, snap.len() - 1] {
        assert!(Logic::restore(&snap[..cut]).is_err());
    }
    let mut longer = snap.clone();
    longer.push(0);
    assert!(Logic::restore(&longer).is_err());
}

#[test]
fn account_fee_override_wins_over_instrument_rates() {
    let mut v = Venue::new();
    let add = |fee_override, maker, taker| {
        Message::AddAccount(AddAccount {
            account: 3,
            max_order_notional: 0,
            fee_override,
            maker_fee_bps: maker,
            taker_fee_bps: taker,
        })
    };
    let out = v.cmd(ADMIN, add(true, -5, 50));
    assert!(matches!(out[0].1, Message::AdminResult(r) if r.reason == RejectCode::InvalidOrder));
    assert_admin_ok(&v.cmd(ADMIN, add(true, 0, 50)));
    assert_admin_ok(&v.cmd(
        ADMIN,
        Message::Deposit(Deposit {
            account: 3,
            asset: USD,
            amount: 1_000_000,
            transfer_id: 1,
        }),
    ));
    v.order(SA, limit(1, A, Side::Sell, 100, 10));
    v.order(13, limit(1, 3, Side::Buy, 100, 10));
    // Notional 10 000: taker (account 3) pays 50 bps = 50, maker A pays 10 bps = 10.
    assert_eq!(v.bal(3, USD).available, 1_000_000 - 10_050);
    assert_eq!(v.bal(0, USD).available, 60);
}

fn test_config() -> LogicConfig {
    LogicConfig {
        book_capacity: 256,
        ..LogicConfig::default()
    }
}
