use super::*;
use crate::snapshot::Fnv1a64;
use proptest::prelude::*;

const BASE: AssetId = 1;
const QUOTE: AssetId = 2;
const FEE: AccountId = 0;
const A: AccountId = 1;
const B: AccountId = 2;
const INST: InstrumentId = 7;

fn spec() -> InstrumentSpec {
    InstrumentSpec {
        id: INST,
        base: BASE,
        quote: QUOTE,
        base_per_lot: 100,
        quote_per_tick_lot: 10,
        price_step: 1,
        qty_step: 1,
        min_qty: 1,
        max_qty: 1_000,
        collar: Collar::default(),
        fees: FeeRates {
            maker_bps: 10,
            taker_bps: 20,
        },
    }
}

fn setup() -> Risk {
    let mut r = Risk::new(RiskConfig::default());
    r.add_instrument(spec()).unwrap();
    for id in [A, B] {
        r.add_account(AccountSpec {
            id,
            ..AccountSpec::default()
        })
        .unwrap();
        r.deposit(id, BASE, 1_000_000).unwrap();
        r.deposit(id, QUOTE, 10_000_000).unwrap();
    }
    r
}

fn limit(id: OrderId, account: AccountId, side: Side, price: Price, qty: Qty) -> OrderRequest {
    OrderRequest {
        order_id: id,
        account,
        instrument: INST,
        side,
        order_type: OrderType::Limit,
        price,
        stop_price: 0,
        qty,
        quote_budget: 0,
    }
}

fn check(r: &Risk) {
    r.check_invariants().unwrap();
}

#[test]
fn buy_reserves_notional_plus_fee_bound_and_release_is_exact() {
    let mut r = setup();
    r.admit(&limit(1, A, Side::Buy, 1_000, 5)).unwrap();
    // notional 1000 × 5 × 10 = 50 000; fee bound ceil(50 000 × 20 / 10 000) + 1 = 101.
    let b = r.balance(A, QUOTE).unwrap();
    assert_eq!(b.reserved, 50_101);
    assert_eq!(b.available, 10_000_000 - 50_101);
    assert_eq!(r.open_orders(A), Some(1));
    check(&r);
    assert_eq!(r.release(1), Some(50_101));
    assert_eq!(
        r.balance(A, QUOTE).unwrap(),
        Balance {
            available: 10_000_000,
            reserved: 0
        }
    );
    assert_eq!(r.open_orders(A), Some(0));
    assert_eq!(r.release(1), None);
    check(&r);
}

#[test]
fn sell_reserves_base() {
    let mut r = setup();
    r.admit(&limit(1, A, Side::Sell, 1_000, 5)).unwrap();
    assert_eq!(r.balance(A, BASE).unwrap().reserved, 500);
    check(&r);
}

#[test]
fn each_rejection_reason() {
    let mut r = setup();
    let ok = limit(1, A, Side::Buy, 1_000, 5);
    let mut q = ok;
    q.instrument = 99;
    assert_eq!(r.admit(&q), Err(RejectReason::UnknownInstrument));
    let mut q = ok;
    q.account = 99;
    assert_eq!(r.admit(&q), Err(RejectReason::UnknownAccount));
    let mut q = ok;
    q.qty = 0;
    assert_eq!(r.admit(&q), Err(RejectReason::QtyOutOfRange));
    q.qty = 1_001;
    assert_eq!(r.admit(&q), Err(RejectReason::QtyOutOfRange));
    let mut q = ok;
    q.price = 0;
    assert_eq!(r.admit(&q), Err(RejectReason::PriceOutOfRange));
    q.price = -3;
    assert_eq!(r.admit(&q), Err(RejectReason::PriceOutOfRange));
    let mut q = ok;
    q.qty = 10_000;
    // Over max qty even though funds would also be short: range comes first.
    assert_eq!(r.admit(&q), Err(RejectReason::QtyOutOfRange));
    let mut q = ok;
    q.qty = 1_000;
    q.price = 1_000_000;
    assert_eq!(r.admit(&q), Err(RejectReason::InsufficientFunds));
    let mut q = ok;
    q.order_type = OrderType::Market;
    assert_eq!(r.admit(&q), Err(RejectReason::MarketBuyWithoutBudget));
    q.order_type = OrderType::Stop;
    q.stop_price = 900;
    assert_eq!(r.admit(&q), Err(RejectReason::MarketBuyWithoutBudget));
    let mut q = ok;
    q.order_type = OrderType::StopLimit;
    q.stop_price = 0;
    assert_eq!(r.admit(&q), Err(RejectReason::PriceOutOfRange));
    let mut q = ok;
    q.price = i64::MAX;
    q.qty = 1_000;
    assert_eq!(r.admit(&q), Err(RejectReason::AmountOverflow));

    // Steps: a second instrument with price step 5 and lot step 10.
    let mut s2 = spec();
    s2.id = 8;
    s2.price_step = 5;
    s2.qty_step = 10;
    s2.min_qty = 10;
    r.add_instrument(s2).unwrap();
    let mut q = ok;
    q.instrument = 8;
    q.qty = 20;
    q.price = 1_003;
    assert_eq!(r.admit(&q), Err(RejectReason::PriceOffTick));
    q.price = 1_005;
    q.qty = 25;
    assert_eq!(r.admit(&q), Err(RejectReason::QtyOffLot));
    q.qty = 20;
    assert_eq!(r.admit(&q), Ok(()));

    // Suspended account, halted instrument.
    r.set_suspended(A, true).unwrap();
    assert_eq!(
        r.admit(&limit(2, A, Side::Buy, 1_000, 1)),
        Err(RejectReason::AccountSuspended)
    );
    r.set_suspended(A, false).unwrap();
    r.set_halted(INST, true).unwrap();
    assert_eq!(
        r.admit(&limit(2, A, Side::Buy, 1_000, 1)),
        Err(RejectReason::InstrumentHalted)
    );
    r.set_halted(INST, false).unwrap();

    // Duplicate id.
    assert_eq!(
        r.admit(&limit(1, A, Side::Buy, 1_000, 1)),
        Err(RejectReason::DuplicateOrderId)
    );

    // Account notional limit: 1000 × 5 × 10 = 50 000 > 40 000.
    r.add_account(AccountSpec {
        id: 3,
        max_order_notional: 40_000,
        fee_override: None,
    })
    .unwrap();
    r.deposit(3, QUOTE, 1_000_000).unwrap();
    assert_eq!(
        r.admit(&limit(3, 3, Side::Buy, 1_000, 5)),
        Err(RejectReason::NotionalLimitExceeded)
    );
    assert_eq!(r.admit(&limit(3, 3, Side::Buy, 1_000, 4)), Ok(()));
    check(&r);
}

#[test]
fn collar_around_last_trade() {
    let mut r = Risk::new(RiskConfig::default());
    let mut s = spec();
    s.collar = Collar { bps: 500, ticks: 0 }; // ±5%
    r.add_instrument(s).unwrap();
    for id in [A, B] {
        r.add_account(AccountSpec {
            id,
            ..AccountSpec::default()
        })
        .unwrap();
        r.deposit(id, BASE, 1_000_000).unwrap();
        r.deposit(id, QUOTE, 100_000_000).unwrap();
    }
    // No last trade: anything goes.
    r.admit(&limit(1, A, Side::Sell, 1_000, 1)).unwrap();
    r.admit(&limit(2, B, Side::Buy, 1_000, 1)).unwrap();
    r.settle(&Fill {
        price: 1_000,
        qty: 1,
        maker_order: 1,
        taker_order: 2,
    })
    .unwrap();
    assert_eq!(r.last_price(INST), Some(1_000));
    assert_eq!(
        r.admit(&limit(3, A, Side::Sell, 1_051, 1)),
        Err(RejectReason::PriceOutsideCollar)
    );
    assert_eq!(
        r.admit(&limit(3, A, Side::Buy, 949, 1)),
        Err(RejectReason::PriceOutsideCollar)
    );
    assert_eq!(r.admit(&limit(3, A, Side::Sell, 1_050, 1)), Ok(()));
    assert_eq!(r.admit(&limit(4, A, Side::Buy, 950, 1)), Ok(()));
    // Replace outside the collar is rejected too.
    assert_eq!(r.resize(4, 900, 1), Err(RejectReason::PriceOutsideCollar));
    check(&r);
}

#[test]
fn fill_settles_both_sides_with_fees() {
    let mut r = setup();
    r.admit(&limit(1, A, Side::Sell, 1_000, 5)).unwrap(); // maker
    r.admit(&limit(2, B, Side::Buy, 1_010, 3)).unwrap(); // taker, fills at 1000
    let s = r
        .settle(&Fill {
            price: 1_000,
            qty: 3,
            maker_order: 1,
            taker_order: 2,
        })
        .unwrap();
    // notional 30 000; maker (seller) 10 bps = 30; taker (buyer) 20 bps = 60.
    assert_eq!(s.notional, 30_000);
    assert_eq!(s.base_amount, 300);
    assert_eq!(s.maker_fee, 30);
    assert_eq!(s.taker_fee, 60);
    assert!(s.taker_done && !s.maker_done);
    assert_eq!(
        r.balance(A, QUOTE).unwrap().available,
        10_000_000 + 30_000 - 30
    );
    assert_eq!(
        r.balance(A, BASE).unwrap(),
        Balance {
            available: 1_000_000 - 500,
            reserved: 200
        }
    );
    // Buyer: fully filled, leftover (price improvement + fee bound) released.
    assert_eq!(
        r.balance(B, QUOTE).unwrap(),
        Balance {
            available: 10_000_000 - 30_060,
            reserved: 0
        }
    );
    assert_eq!(r.balance(B, BASE).unwrap().available, 1_000_000 + 300);
    assert_eq!(r.balance(FEE, QUOTE).unwrap().available, 90);
    assert_eq!(r.open_orders(B), Some(0));
    check(&r);
}

#[test]
fn fees_round_up_cumulatively_per_order() {
    let mut r = setup();
    // 1 lot at 1 tick: notional 10; 10 bps of 10 = 0.01 → ceil 1 on the first fill,
    // then nothing more until the cumulative fee passes 1.
    r.admit(&limit(1, A, Side::Sell, 1, 100)).unwrap();
    r.admit(&limit(2, B, Side::Buy, 1, 100)).unwrap();
    let mut maker_fees = 0;
    for _ in 0..100 {
        let s = r
            .settle(&Fill {
                price: 1,
                qty: 1,
                maker_order: 1,
                taker_order: 2,
            })
            .unwrap();
        maker_fees += s.maker_fee;
    }
    // Cumulative notional 1000 × 10 bps = 1 exactly: one unit in total.
    assert_eq!(maker_fees, 1);
    assert_eq!(r.balance(FEE, QUOTE).unwrap().available, 1 + 2);
    check(&r);
}

#[test]
fn ioc_rest_and_expiry_release_exactly() {
    let mut r = setup();
    r.admit(&limit(1, A, Side::Sell, 1_000, 2)).unwrap();
    r.admit(&limit(2, B, Side::Buy, 1_005, 10)).unwrap();
    r.settle(&Fill {
        price: 1_000,
        qty: 2,
        maker_order: 1,
        taker_order: 2,
    })
    .unwrap();
    // IOC rest: the book cancels the 8 unfilled lots.
    assert!(r.release(2).is_some());
    assert_eq!(r.balance(B, QUOTE).unwrap().reserved, 0);
    assert_eq!(r.open_orders(B), Some(0));
    // A resting order expired at session end.
    r.admit(&limit(3, A, Side::Sell, 1_003, 7)).unwrap();
    assert_eq!(r.release(3), Some(700));
    assert_eq!(r.balance(A, BASE).unwrap().reserved, 0);
    check(&r);
}

#[test]
fn market_buy_budget() {
    let mut r = setup();
    r.admit(&limit(1, A, Side::Sell, 1_000, 2)).unwrap();
    r.admit(&limit(2, A, Side::Sell, 1_100, 2)).unwrap();
    let mb = OrderRequest {
        order_id: 3,
        account: B,
        instrument: INST,
        side: Side::Buy,
        order_type: OrderType::Market,
        price: 0,
        stop_price: 0,
        qty: 10,
        quote_budget: 3_100, // ticks × lots: 2 @ 1000 + 1 @ 1100
    };
    r.admit(&mb).unwrap();
    // 31 000 quote units + fee bound ceil(31 000 × 20 / 10 000) + 1 = 63.
    assert_eq!(r.balance(B, QUOTE).unwrap().reserved, 31_063);
    r.settle(&Fill {
        price: 1_000,
        qty: 2,
        maker_order: 1,
        taker_order: 3,
    })
    .unwrap();
    r.settle(&Fill {
        price: 1_100,
        qty: 1,
        maker_order: 2,
        taker_order: 3,
    })
    .unwrap();
    // The book stops at the budget and cancels the rest.
    assert!(r.release(3).is_some());
    assert_eq!(r.balance(B, QUOTE).unwrap().reserved, 0);
    assert_eq!(
        r.balance(B, QUOTE).unwrap().available,
        10_000_000 - 31_000 - 62
    );
    // Market sells need no budget.
    let mut ms = mb;
    ms.order_id = 4;
    ms.side = Side::Sell;
    ms.quote_budget = 0;
    assert_eq!(r.admit(&ms), Ok(()));
    check(&r);
}

#[test]
fn resize_checks_funds_and_undo_restores_exactly() {
    let mut r = Risk::new(RiskConfig::default());
    r.add_instrument(spec()).unwrap();
    r.add_account(AccountSpec {
        id: A,
        ..AccountSpec::default()
    })
    .unwrap();
    r.deposit(A, QUOTE, 100_000).unwrap();
    r.admit(&limit(1, A, Side::Buy, 1_000, 5)).unwrap(); // 50 101 reserved
    let before = r.clone();
    // Doubling needs 100 201: short.
    assert_eq!(r.resize(1, 1_000, 10), Err(RejectReason::InsufficientFunds));
    assert_eq!(r, before);
    // Increase within funds.
    let undo = r.resize(1, 1_100, 8).unwrap(); // 88 000 + 177 = 88 177
    assert_eq!(r.balance(A, QUOTE).unwrap().reserved, 88_177);
    check(&r);
    r.undo_resize(1, undo).unwrap();
    assert_eq!(r, before);
    // Decrease releases at once.
    r.resize(1, 1_000, 1).unwrap();
    assert_eq!(r.balance(A, QUOTE).unwrap().reserved, 10_021);
    assert_eq!(r.resize(99, 1_000, 1), Err(RejectReason::UnknownOrder));
    assert_eq!(r.resize(1, 1_000, 0), Err(RejectReason::QtyOutOfRange));
    check(&r);
}

#[test]
fn admin_errors() {
    let mut r = setup();
    assert_eq!(
        r.add_instrument(spec()),
        Err(AdminError::DuplicateInstrument)
    );
    let mut s = spec();
    s.id = 9;
    s.base_per_lot = 0;
    assert_eq!(r.add_instrument(s), Err(AdminError::InvalidSpec));
    s.id = u32::MAX;
    assert_eq!(r.add_instrument(s), Err(AdminError::IdOutOfRange));
    assert_eq!(
        r.add_account(AccountSpec {
            id: A,
            ..AccountSpec::default()
        }),
        Err(AdminError::DuplicateAccount)
    );
    assert_eq!(r.deposit(99, BASE, 1), Err(AdminError::UnknownAccount));
    assert_eq!(r.deposit(A, BASE, 0), Err(AdminError::ZeroAmount));
    assert_eq!(r.deposit(A, BASE, u64::MAX), Err(AdminError::Overflow));
    assert_eq!(
        r.withdraw(A, BASE, 2_000_000),
        Err(AdminError::InsufficientFunds)
    );
    assert_eq!(r.withdraw(A, 55, 1), Err(AdminError::InsufficientFunds));
    // A reserved balance cannot be withdrawn.
    r.admit(&limit(1, A, Side::Sell, 1_000, 1_000)).unwrap();
    assert_eq!(
        r.withdraw(A, BASE, 1_000_000),
        Err(AdminError::InsufficientFunds)
    );
    r.withdraw(A, BASE, 900_000).unwrap();
    assert_eq!(r.supply(BASE), 2_000_000 - 900_000);
    assert_eq!(r.set_halted(99, true), Err(AdminError::UnknownInstrument));
    assert_eq!(r.set_suspended(99, true), Err(AdminError::UnknownAccount));
    check(&r);
}

#[test]
fn settle_refuses_inconsistent_fills_without_changing_state() {
    let mut r = setup();
    r.admit(&limit(1, A, Side::Sell, 1_000, 2)).unwrap();
    r.admit(&limit(2, B, Side::Buy, 1_000, 2)).unwrap();
    r.admit(&limit(3, B, Side::Buy, 1_000, 2)).unwrap();
    let before = r.clone();
    assert!(
        r.settle(&Fill {
            price: 1_000,
            qty: 3,
            maker_order: 1,
            taker_order: 2
        })
        .is_err()
    );
    assert!(
        r.settle(&Fill {
            price: 1_000,
            qty: 1,
            maker_order: 3,
            taker_order: 2
        })
        .is_err()
    );
    assert!(
        r.settle(&Fill {
            price: 1_000,
            qty: 1,
            maker_order: 1,
            taker_order: 42
        })
        .is_err()
    );
    // Buy filled above its limit: the reservation cannot cover it.
    assert!(
        r.settle(&Fill {
            price: 2_000,
            qty: 2,
            maker_order: 1,
            taker_order: 2
        })
        .is_err()
    );
    assert_eq!(r, before);
}

#[test]
fn snapshot_round_trip_and_hash() {
    let mut r = setup();
    r.set_suspended(B, true).unwrap();
    r.add_account(AccountSpec {
        id: 5,
        max_order_notional: 77,
        fee_override: Some(FeeRates {
            maker_bps: 0,
            taker_bps: 3,
        }),
    })
    .unwrap();
    r.admit(&limit(1, A, Side::Sell, 1_000, 2)).unwrap();
    r.admit(&limit(2, A, Side::Buy, 990, 2)).unwrap();
    let mut bytes = Vec::new();
    r.encode(&mut bytes);
    let back = Risk::decode(&mut Reader::new(&bytes)).unwrap();
    assert_eq!(back, r);
    let mut h1 = Fnv1a64::new();
    r.encode(&mut h1);
    let mut h2 = Fnv1a64::new();
    back.encode(&mut h2);
    assert_eq!(h1, h2);
    // Every truncation is an error, never a panic.
    for cut in 0..bytes.len() {
        assert!(Risk::decode(&mut Reader::new(&bytes[..cut])).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Random partial fills at random prices at or inside the limit, with the buy
    /// alternating between maker and taker and replaces in between, never exhaust
    /// the reservation, and funds are conserved throughout.
    #[test]
    fn reservations_always_cover_fills(
        maker_bps in 0u16..=100, taker_bps in 0u16..=100,
        limit_px in 1i64..5_000,
        steps in proptest::collection::vec((1u64..20, 0i64..50, any::<bool>(), 0u8..4), 1..40),
    ) {
        let mut r = Risk::new(RiskConfig::default());
        let mut s = spec();
        s.fees = FeeRates { maker_bps, taker_bps };
        s.max_qty = 1_000_000;
        r.add_instrument(s).unwrap();
        for id in [A, B] {
            r.add_account(AccountSpec { id, ..AccountSpec::default() }).unwrap();
            r.deposit(id, BASE, 1 << 50).unwrap();
            r.deposit(id, QUOTE, 1 << 50).unwrap();
        }
        let mut next = 10;
        let mut px = limit_px;
        r.admit(&limit(1, A, Side::Buy, px, 500)).unwrap();
        for (qty, improve, buy_is_maker, op) in steps {
            let Some(o) = r.order(1).copied() else { break };
            if op == 0 {
                // Replace: new price and leaves.
                px = (px + improve - 25).max(1);
                let leaves = (o.leaves + qty).saturating_sub(10).max(1);
                r.resize(1, px, leaves).unwrap();
                continue;
            }
            let q = qty.min(o.leaves);
            let fill_px = (px - improve).max(1);
            r.admit(&limit(next, B, Side::Sell, fill_px, q)).unwrap();
            let f = if buy_is_maker {
                Fill { price: px, qty: q, maker_order: 1, taker_order: next }
            } else {
                Fill { price: fill_px, qty: q, maker_order: next, taker_order: 1 }
            };
            r.settle(&f).unwrap();
            prop_assert!(r.check_invariants().is_ok());
            next += 1;
        }
        r.release(1);
        prop_assert_eq!(r.balance(A, QUOTE).unwrap().reserved, 0);
        prop_assert!(r.check_invariants().is_ok());
    }
}
