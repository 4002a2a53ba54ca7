//! Unit tests of the book: one per order type / instruction, plus the classic
//! edge cases that open-source engines get wrong.

use super::*;
use crate::types::{OrderType, Side, StpMode, TimeInForce};

const B: Side = Side::Buy;
const S: Side = Side::Sell;

fn book() -> OrderBook {
    OrderBook::new(7, 16)
}

fn lim(id: u64, acct: u32, side: Side, px: i64, qty: u64) -> NewOrder {
    NewOrder::limit(id, acct, side, px, qty)
}

fn run(b: &mut OrderBook, o: NewOrder) -> Vec<BookEvent> {
    let mut ev = Vec::new();
    b.submit(&o, &mut ev);
    b.check_invariants().unwrap();
    ev
}

/// (maker, taker, price, qty) of every trade.
fn fills(ev: &[BookEvent]) -> Vec<(u64, u64, i64, u64)> {
    ev.iter()
        .filter_map(|e| match *e {
            BookEvent::Trade {
                maker_order_id,
                taker_order_id,
                price,
                qty,
                ..
            } => Some((maker_order_id, taker_order_id, price, qty)),
            _ => None,
        })
        .collect()
}

fn cancelled(ev: &[BookEvent]) -> Vec<(u64, u64, CancelReason)> {
    ev.iter()
        .filter_map(|e| match *e {
            BookEvent::Cancelled {
                order_id,
                leaves_qty,
                reason,
                ..
            } => Some((order_id, leaves_qty, reason)),
            _ => None,
        })
        .collect()
}

fn queue(b: &OrderBook, side: Side) -> Vec<(u64, i64, u64)> {
    b.resting_orders(side)
        .map(|o| (o.order_id, o.price, o.leaves_qty))
        .collect()
}

#[test]
fn limit_orders_rest_and_report_levels() {
    let mut b = book();
    let ev = run(&mut b, lim(1, 1, B, 100, 5));
    assert!(matches!(
        ev[0],
        BookEvent::Accepted {
            order_id: 1,
            qty: 5,
            ..
        }
    ));
    assert_eq!(
        ev[1],
        BookEvent::Level {
            side: B,
            price: 100,
            qty: 5,
            md_seq: 1
        }
    );
    run(&mut b, lim(2, 1, B, 100, 3));
    run(&mut b, lim(3, 1, S, 102, 4));
    assert_eq!(b.best_bid(), Some((100, 8)));
    assert_eq!(b.best_ask(), Some((102, 4)));
    assert_eq!(b.depth_at(B, 100), 8);
    assert_eq!(b.depth_at(S, 101), 0);
    assert_eq!(b.order(2).unwrap().leaves_qty, 3);
    assert_eq!(b.live_orders(), 3);
}

#[test]
fn crossing_limit_trades_at_resting_price_in_time_priority() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 101, 2));
    run(&mut b, lim(2, 2, S, 101, 3));
    run(&mut b, lim(3, 3, S, 100, 1));
    let ev = run(&mut b, lim(4, 4, B, 105, 4));
    assert_eq!(
        fills(&ev),
        vec![(3, 4, 100, 1), (1, 4, 101, 2), (2, 4, 101, 1)]
    );
    let BookEvent::Trade {
        exec_id,
        aggressor_side,
        maker_remaining,
        taker_remaining,
        ..
    } = ev[4]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(exec_id, (7u64 << 40) | 2);
    assert_eq!(aggressor_side, B);
    assert_eq!((maker_remaining, taker_remaining), (0, 1));
    assert_eq!(b.best_ask(), Some((101, 2)));
    assert_eq!(b.best_bid(), None);
    assert_eq!(b.last_trade_price(), Some(101));
    // level events: 100 deleted, 101 reduced to 2; md_seq strictly increasing
    let md: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            BookEvent::Level { md_seq, .. } | BookEvent::TradePrint { md_seq, .. } => Some(*md_seq),
            _ => None,
        })
        .collect();
    assert!(md.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(ev.contains(&BookEvent::Level {
        side: S,
        price: 100,
        qty: 0,
        md_seq: md[1]
    }));
}

#[test]
fn multi_level_sweep_with_exact_boundary_fill_leaves_next_level_intact() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 5));
    run(&mut b, lim(2, 1, S, 101, 5));
    run(&mut b, lim(3, 1, S, 102, 5));
    let ev = run(&mut b, lim(4, 2, B, 102, 10));
    assert_eq!(fills(&ev), vec![(1, 4, 100, 5), (2, 4, 101, 5)]);
    assert_eq!(b.best_ask(), Some((102, 5)));
    assert_eq!(b.best_bid(), None);
    assert_eq!(b.level_count(S), 1);
}

#[test]
fn residual_rests_as_new_best_and_is_then_filled() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 3));
    run(&mut b, lim(2, 1, B, 98, 3));
    let ev = run(&mut b, lim(3, 2, B, 101, 5));
    assert_eq!(fills(&ev), vec![(1, 3, 100, 3)]);
    assert_eq!(b.best_bid(), Some((101, 2)));
    let ev = run(&mut b, lim(4, 3, S, 90, 4));
    assert_eq!(fills(&ev), vec![(3, 4, 101, 2), (2, 4, 98, 2)]);
    assert_eq!(b.best_bid(), Some((98, 1)));
}

#[test]
fn cancel_of_head_or_middle_keeps_fifo_of_the_rest() {
    for victim in [1u64, 2, 3] {
        let mut b = book();
        for id in 1..=4 {
            run(&mut b, lim(id, id as u32, S, 100, 1));
        }
        let mut ev = Vec::new();
        assert!(b.cancel(victim, &mut ev));
        assert_eq!(cancelled(&ev), vec![(victim, 1, CancelReason::User)]);
        assert!(matches!(ev[1], BookEvent::Level { qty: 3, .. }));
        let ev = run(&mut b, lim(10, 9, B, 100, 3));
        let makers: Vec<u64> = fills(&ev).iter().map(|f| f.0).collect();
        let expect: Vec<u64> = (1..=4).filter(|&i| i != victim).collect();
        assert_eq!(makers, expect);
        assert_eq!(b.live_orders(), 0);
    }
}

#[test]
fn cancel_and_replace_of_filled_cancelled_or_unknown_orders_are_rejected() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 2));
    run(&mut b, lim(2, 2, B, 100, 2)); // fills 1 fully
    run(&mut b, lim(3, 1, S, 105, 2));
    let mut ev = Vec::new();
    assert!(b.cancel(3, &mut ev));
    for id in [1, 2, 3, 99] {
        let mut ev = Vec::new();
        assert!(!b.cancel(id, &mut ev));
        assert_eq!(
            ev,
            vec![BookEvent::CancelRejected {
                order_id: id,
                reason: RejectReason::UnknownOrder
            }]
        );
        let mut ev = Vec::new();
        assert!(!b.replace(id, 100, 1, &mut ev));
        assert_eq!(
            ev,
            vec![BookEvent::ReplaceRejected {
                order_id: id,
                reason: RejectReason::UnknownOrder
            }]
        );
    }
}

#[test]
fn order_ids_are_never_reused() {
    let mut b = book();
    run(&mut b, lim(5, 1, B, 100, 1));
    let mut ev = Vec::new();
    b.cancel(5, &mut ev);
    for id in [5, 4] {
        let ev = run(&mut b, lim(id, 1, B, 100, 1));
        assert!(matches!(
            ev[..],
            [BookEvent::Rejected {
                reason: RejectReason::DuplicateOrderId,
                ..
            }]
        ));
    }
    // a rejected order's id is used too
    let mut halted = lim(6, 1, B, 100, 0);
    halted.qty = 0;
    run(&mut b, halted);
    let ev = run(&mut b, lim(6, 1, B, 100, 1));
    assert!(matches!(
        ev[0],
        BookEvent::Rejected {
            reason: RejectReason::DuplicateOrderId,
            ..
        }
    ));
    assert_eq!(b.live_orders(), 0);
}

#[test]
fn partial_fill_then_cancel_releases_only_the_rest() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 10));
    run(&mut b, lim(2, 2, B, 100, 4));
    let mut ev = Vec::new();
    b.cancel(1, &mut ev);
    assert_eq!(cancelled(&ev), vec![(1, 6, CancelReason::User)]);
}

#[test]
fn replace_priority_rules() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 5));
    run(&mut b, lim(2, 2, S, 100, 5));
    run(&mut b, lim(3, 3, S, 100, 5));
    let mut ev = Vec::new();
    // decrease at same price keeps priority (and partial-filled orders too)
    assert!(b.replace(1, 100, 4, &mut ev));
    assert!(matches!(
        ev[0],
        BookEvent::Replaced {
            priority_kept: true,
            old_leaves: 5,
            new_leaves: 4,
            ..
        }
    ));
    assert_eq!(queue(&b, S), vec![(1, 100, 4), (2, 100, 5), (3, 100, 5)]);
    // increase loses priority
    ev.clear();
    assert!(b.replace(2, 100, 6, &mut ev));
    assert!(matches!(
        ev[0],
        BookEvent::Replaced {
            priority_kept: false,
            ..
        }
    ));
    assert_eq!(queue(&b, S), vec![(1, 100, 4), (3, 100, 5), (2, 100, 6)]);
    // price change loses priority
    ev.clear();
    b.replace(1, 101, 4, &mut ev);
    b.replace(1, 100, 4, &mut ev);
    assert_eq!(queue(&b, S), vec![(3, 100, 5), (2, 100, 6), (1, 100, 4)]);
    b.check_invariants().unwrap();
}

#[test]
fn replace_into_a_cross_matches_instead_of_resting_crossed() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 102, 3));
    run(&mut b, lim(2, 2, B, 100, 5));
    let mut ev = Vec::new();
    assert!(b.replace(2, 103, 5, &mut ev));
    assert_eq!(fills(&ev), vec![(1, 2, 102, 3)]);
    b.check_invariants().unwrap();
    assert_eq!(b.best_bid(), Some((103, 2)));
    assert_eq!(b.best_ask(), None);
    // partial fill then modify: leaves 2 → 1 keeps priority
    ev.clear();
    b.replace(2, 103, 1, &mut ev);
    assert_eq!(b.order(2).unwrap().leaves_qty, 1);
}

#[test]
fn ioc_rest_is_cancelled_and_never_rests() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 2));
    let ev = run(&mut b, lim(2, 2, B, 100, 5).with_tif(TimeInForce::Ioc));
    assert_eq!(fills(&ev), vec![(1, 2, 100, 2)]);
    assert_eq!(cancelled(&ev), vec![(2, 3, CancelReason::IocRest)]);
    assert_eq!(b.best_bid(), None);
    assert!(b.order(2).is_none());
}

#[test]
fn fok_exact_fill_vs_one_lot_short() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 2));
    run(&mut b, lim(2, 1, S, 101, 3));
    run(&mut b, lim(3, 1, S, 102, 9));
    // one lot short within the limit: nothing trades
    let ev = run(&mut b, lim(4, 2, B, 101, 6).with_tif(TimeInForce::Fok));
    assert!(fills(&ev).is_empty());
    assert_eq!(cancelled(&ev), vec![(4, 6, CancelReason::FokUnfillable)]);
    assert_eq!(b.best_ask(), Some((100, 2)));
    // exact fill
    let ev = run(&mut b, lim(5, 2, B, 101, 5).with_tif(TimeInForce::Fok));
    assert_eq!(fills(&ev), vec![(1, 5, 100, 2), (2, 5, 101, 3)]);
    assert!(cancelled(&ev).is_empty());
}

#[test]
fn market_orders_sweep_and_respect_the_quote_budget() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 2));
    run(&mut b, lim(2, 1, S, 110, 5));
    let mut m = lim(3, 2, B, 0, 10);
    m.order_type = OrderType::Market;
    m.quote_budget = 200 + 3 * 110 + 50; // 2@100, 3@110, then 50 left < 110
    let ev = run(&mut b, m);
    assert_eq!(fills(&ev), vec![(1, 3, 100, 2), (2, 3, 110, 3)]);
    assert_eq!(cancelled(&ev), vec![(3, 5, CancelReason::MarketRest)]);
    // no liquidity
    let mut m = lim(4, 2, S, 0, 1);
    m.order_type = OrderType::Market;
    let ev = run(&mut b, m);
    assert_eq!(cancelled(&ev), vec![(4, 1, CancelReason::MarketRest)]);
}

#[test]
fn post_only_is_rejected_when_it_would_cross() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 100, 2));
    let mut p = lim(2, 2, B, 100, 1);
    p.post_only = true;
    let ev = run(&mut b, p);
    assert!(matches!(
        ev[0],
        BookEvent::Rejected {
            reason: RejectReason::PostOnlyWouldCross,
            ..
        }
    ));
    let mut p = lim(3, 2, B, 99, 1);
    p.post_only = true;
    run(&mut b, p);
    assert_eq!(b.best_bid(), Some((99, 1)));
    let mut ev = Vec::new();
    assert!(!b.replace(3, 100, 1, &mut ev));
    let mut p = lim(4, 2, B, 99, 1).with_tif(TimeInForce::Ioc);
    p.post_only = true;
    let ev = run(&mut b, p);
    assert!(matches!(
        ev[0],
        BookEvent::Rejected {
            reason: RejectReason::InvalidInstruction,
            ..
        }
    ));
}

#[test]
fn iceberg_shows_display_and_replenishes_at_the_back() {
    let mut b = book();
    let mut ice = lim(1, 1, S, 100, 10);
    ice.display_qty = 3;
    let ev = run(&mut b, ice);
    assert!(ev.contains(&BookEvent::Level {
        side: S,
        price: 100,
        qty: 3,
        md_seq: 1
    }));
    run(&mut b, lim(2, 2, S, 100, 2));
    assert_eq!(b.best_ask(), Some((100, 5)));
    // take the iceberg's slice: it replenishes behind order 2
    let ev = run(&mut b, lim(3, 3, B, 100, 3));
    assert_eq!(fills(&ev), vec![(1, 3, 100, 3)]);
    assert_eq!(queue(&b, S), vec![(2, 100, 2), (1, 100, 7)]);
    assert_eq!(b.best_ask(), Some((100, 5)));
    // a big order sweeps 2, then the iceberg repeatedly
    let ev = run(&mut b, lim(4, 3, B, 100, 8));
    assert_eq!(
        fills(&ev),
        vec![(2, 4, 100, 2), (1, 4, 100, 3), (1, 4, 100, 3)]
    );
    assert_eq!(b.best_ask(), Some((100, 1)));
    assert_eq!(b.order(1).unwrap().leaves_qty, 1);
}

#[test]
fn self_trade_prevention_modes() {
    for mode in [
        StpMode::CancelResting,
        StpMode::CancelAggressor,
        StpMode::CancelBoth,
    ] {
        let mut b = book();
        run(&mut b, lim(1, 9, S, 100, 2));
        run(&mut b, lim(2, 1, S, 100, 2)); // same account as the aggressor
        run(&mut b, lim(3, 9, S, 100, 2));
        let mut o = lim(4, 1, B, 100, 5);
        o.stp = mode;
        let ev = run(&mut b, o);
        let f = fills(&ev);
        let c = cancelled(&ev);
        match mode {
            StpMode::CancelResting => {
                assert_eq!(f, vec![(1, 4, 100, 2), (3, 4, 100, 2)]);
                assert_eq!(c, vec![(2, 2, CancelReason::SelfTrade)]);
                assert_eq!(b.best_bid(), Some((100, 1)));
            }
            StpMode::CancelAggressor => {
                assert_eq!(f, vec![(1, 4, 100, 2)]);
                assert_eq!(c, vec![(4, 3, CancelReason::SelfTrade)]);
                assert_eq!(queue(&b, S), vec![(2, 100, 2), (3, 100, 2)]);
            }
            _ => {
                assert_eq!(f, vec![(1, 4, 100, 2)]);
                assert_eq!(
                    c,
                    vec![
                        (2, 2, CancelReason::SelfTrade),
                        (4, 3, CancelReason::SelfTrade)
                    ]
                );
                assert_eq!(queue(&b, S), vec![(3, 100, 2)]);
            }
        }
    }
}

fn stop(id: u64, acct: u32, side: Side, stop_px: i64, limit: Option<i64>, qty: u64) -> NewOrder {
    let mut o = lim(id, acct, side, limit.unwrap_or(0), qty);
    o.order_type = if limit.is_some() {
        OrderType::StopLimit
    } else {
        OrderType::Stop
    };
    o.stop_price = stop_px;
    o
}

#[test]
fn stop_cascade_runs_to_completion_in_priority_order() {
    let mut b = book();
    // bids to sell into
    run(&mut b, lim(1, 1, B, 100, 1));
    run(&mut b, lim(2, 1, B, 99, 1));
    run(&mut b, lim(3, 1, B, 98, 1));
    run(&mut b, lim(4, 1, B, 97, 5));
    // sell stops: 100 triggers first (highest), its fill at 99 triggers the 99s in arrival order
    run(&mut b, stop(5, 2, S, 99, None, 1));
    run(&mut b, stop(6, 2, S, 100, None, 1));
    run(&mut b, stop(7, 3, S, 99, Some(90), 1));
    run(&mut b, stop(8, 3, S, 90, None, 1)); // never triggers
    assert!(b.order(5).unwrap().pending_stop);
    let ev = run(&mut b, lim(9, 4, S, 100, 1)); // trade at 100
    let trig: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            BookEvent::Triggered { order_id, .. } => Some(*order_id),
            _ => None,
        })
        .collect();
    assert_eq!(trig, vec![6, 5, 7]);
    assert_eq!(
        fills(&ev),
        vec![(1, 9, 100, 1), (2, 6, 99, 1), (3, 5, 98, 1), (4, 7, 97, 1)]
    );
    assert_eq!(b.last_trade_price(), Some(97));
    assert!(b.order(8).unwrap().pending_stop);
    assert_eq!(b.pending_stops(S).count(), 1);
}

#[test]
fn stop_limit_rests_after_trigger_and_stops_cancel() {
    let mut b = book();
    run(&mut b, lim(1, 1, S, 105, 1));
    run(&mut b, stop(2, 2, B, 105, Some(104), 3));
    run(&mut b, stop(3, 2, B, 200, None, 3));
    let ev = run(&mut b, lim(4, 3, B, 105, 1));
    assert!(ev.iter().any(|e| matches!(
        e,
        BookEvent::Triggered {
            order_id: 2,
            order_type: OrderType::Limit,
            ..
        }
    )));
    assert_eq!(b.best_bid(), Some((104, 3)));
    let mut ev = Vec::new();
    assert!(b.cancel(3, &mut ev));
    assert_eq!(cancelled(&ev), vec![(3, 3, CancelReason::User)]);
    // a stop already crossed at entry triggers at once
    let ev = run(&mut b, stop(5, 2, S, 106, Some(104), 1));
    assert_eq!(fills(&ev), vec![(2, 5, 104, 1)]);
}

#[test]
fn halt_rejects_new_orders_but_allows_cancels() {
    let mut b = book();
    run(&mut b, lim(1, 1, B, 100, 1));
    b.halt();
    let ev = run(&mut b, lim(2, 1, B, 100, 1));
    assert!(matches!(
        ev[0],
        BookEvent::Rejected {
            reason: RejectReason::Halted,
            ..
        }
    ));
    let mut ev = Vec::new();
    assert!(!b.replace(1, 100, 1, &mut ev));
    assert!(b.cancel(1, &mut ev));
    b.resume();
    run(&mut b, lim(3, 1, B, 100, 1));
    assert_eq!(b.best_bid(), Some((100, 1)));
}

#[test]
fn mass_cancel_and_day_expiry() {
    let mut b = book();
    let mut o = lim(1, 1, B, 100, 1);
    o.session = 10;
    run(&mut b, o);
    let mut o = lim(2, 2, B, 100, 1).with_tif(TimeInForce::Day);
    o.session = 20;
    run(&mut b, o);
    let mut o = lim(3, 2, S, 101, 1).with_tif(TimeInForce::Day);
    o.session = 10;
    run(&mut b, o);
    let mut st = stop(4, 1, S, 50, None, 1).with_tif(TimeInForce::Day);
    st.session = 10;
    run(&mut b, st);
    let mut ev = Vec::new();
    assert_eq!(b.mass_cancel(MassCancelFilter::Session(10), &mut ev), 3);
    assert_eq!(
        cancelled(&ev).iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 3, 4]
    );
    b.check_invariants().unwrap();
    ev.clear();
    assert_eq!(b.expire_day_orders(&mut ev), 1);
    assert!(matches!(ev[0], BookEvent::Expired { order_id: 2, .. }));
    assert_eq!(b.live_orders(), 0);
    run(&mut b, lim(5, 3, B, 1, 1));
    assert_eq!(b.mass_cancel(MassCancelFilter::Account(4), &mut ev), 0);
    assert_eq!(b.mass_cancel(MassCancelFilter::All, &mut ev), 1);
}

#[test]
fn snapshot_round_trip_and_bad_bytes() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::Hasher;
    let mut b = book();
    run(&mut b, lim(1, 1, B, 100, 4));
    let mut ice = lim(2, 2, S, 103, 9);
    ice.display_qty = 2;
    run(&mut b, ice);
    run(&mut b, stop(3, 2, B, 110, Some(111), 1));
    run(&mut b, lim(4, 3, S, 100, 1));
    let mut bytes = Vec::new();
    b.encode_snapshot(&mut bytes);
    let r = OrderBook::decode_snapshot(&bytes).unwrap();
    r.check_invariants().unwrap();
    let (mut h1, mut h2) = (DefaultHasher::new(), DefaultHasher::new());
    b.hash_into(&mut h1);
    r.hash_into(&mut h2);
    assert_eq!(h1.finish(), h2.finish());
    let mut again = Vec::new();
    r.encode_snapshot(&mut again);
    assert_eq!(bytes, again);
    // every truncation and a sample of corruptions are errors, never panics
    for n in 0..bytes.len() {
        assert!(OrderBook::decode_snapshot(&bytes[..n]).is_err());
    }
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0xA5;
        let _ = OrderBook::decode_snapshot(&bad);
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        OrderBook::decode_snapshot(&long).unwrap_err(),
        SnapshotError::TrailingBytes
    );
}
