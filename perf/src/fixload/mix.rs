//! The order flow: what each message of a load-generator session is.
//!
//! A session places passive limit orders a few ticks either side of a mid price
//! that follows a seeded random walk, cancels and replaces its own resting
//! orders, and now and then sends a marketable IOC order that crosses the mid so
//! trades happen between sessions. The walk of each symbol is a function of the
//! seed and the global message index only, so every session sees the same mid at
//! the same moment of the schedule. With the same seed and the same feedback
//! (which orders ended) the flow is the same.

use std::collections::VecDeque;

use gateway::fix::decimal::Tick;

/// A small, fast, seedable PRNG (SplitMix64): the load generator needs
/// reproducible streams, not cryptographic ones.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` ≥ 1; 0 is treated as 1).
    pub fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `pct` percent.
    pub fn percent(&mut self, pct: u32) -> bool {
        self.below(100) < u64::from(pct)
    }
}

/// One instrument the load is sent on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolSpec {
    /// FIX Symbol(55), e.g. `BTC-USD`.
    pub name: String,
    /// Starting mid price, in ticks.
    pub mid_ticks: i64,
    /// Price increment: ticks are written as `ticks × tick` in decimal.
    pub tick: Tick,
    /// Quantity increment: lots are written as `lots × lot` in decimal.
    pub lot: Tick,
}

/// Proportions and bounds of the order flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixConfig {
    /// Percent of messages that are marketable IOC orders crossing the mid.
    pub marketable_pct: u32,
    /// Percent of messages that cancel one of the session's resting orders.
    pub cancel_pct: u32,
    /// Percent of messages that replace (price and quantity) a resting order.
    pub replace_pct: u32,
    /// Most resting orders a session keeps; beyond it the oldest is cancelled.
    pub max_live: usize,
    /// Passive orders rest 1..=depth ticks from the mid; marketable orders cross
    /// it by `depth` ticks.
    pub depth_ticks: u32,
    /// Largest order quantity, in lots (quantities are uniform in 1..=max).
    pub max_qty_lots: u64,
    /// The mid moves by -1, 0 or +1 tick every this many messages (global).
    pub walk_every: u64,
    /// Only NewOrderSingle (for an echo acceptor that answers nothing else).
    pub orders_only: bool,
}

impl Default for MixConfig {
    fn default() -> Self {
        MixConfig {
            marketable_pct: 10,
            cancel_pct: 15,
            replace_pct: 10,
            max_live: 50,
            depth_ticks: 10,
            max_qty_lots: 10,
            walk_every: 20,
            orders_only: false,
        }
    }
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Side(54)=1.
    Buy,
    /// Side(54)=2.
    Sell,
}

impl Side {
    /// The FIX Side(54) character.
    pub fn fix(self) -> u8 {
        match self {
            Side::Buy => b'1',
            Side::Sell => b'2',
        }
    }
}

/// What kind of request a message is (its latency is reported per kind in the
/// counts, all kinds share the histogram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A passive limit order (Day).
    New = 0,
    /// A marketable limit IOC order.
    Marketable = 1,
    /// OrderCancelRequest(F).
    Cancel = 2,
    /// OrderCancelReplaceRequest(G).
    Replace = 3,
}

impl Kind {
    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Marketable => "marketable",
            Kind::Cancel => "cancel",
            Kind::Replace => "replace",
        }
    }

    /// The kind with this code (`code & 3`).
    pub fn from_code(code: u64) -> Kind {
        match code & 3 {
            0 => Kind::New,
            1 => Kind::Marketable,
            2 => Kind::Cancel,
            _ => Kind::Replace,
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// NewOrderSingle(D), limit; `ioc` for the marketable ones.
    New {
        /// Index into the symbol list.
        symbol: usize,
        /// Side.
        side: Side,
        /// Limit price, ticks.
        price: i64,
        /// Quantity, lots.
        qty: u64,
        /// TimeInForce IOC (3) instead of Day (0).
        ioc: bool,
    },
    /// OrderCancelRequest(F) of the resting order whose current ClOrdID is `orig`.
    Cancel {
        /// OrigClOrdID(41).
        orig: u64,
        /// Index into the symbol list.
        symbol: usize,
        /// Side of the order.
        side: Side,
        /// Its quantity, lots.
        qty: u64,
    },
    /// OrderCancelReplaceRequest(G): new price and quantity for `orig`.
    Replace {
        /// OrigClOrdID(41).
        orig: u64,
        /// Index into the symbol list.
        symbol: usize,
        /// Side of the order.
        side: Side,
        /// New limit price, ticks.
        price: i64,
        /// New quantity, lots.
        qty: u64,
    },
}

impl Action {
    /// The request kind.
    pub fn kind(&self) -> Kind {
        match self {
            Action::New { ioc: true, .. } => Kind::Marketable,
            Action::New { .. } => Kind::New,
            Action::Cancel { .. } => Kind::Cancel,
            Action::Replace { .. } => Kind::Replace,
        }
    }
}

#[derive(Debug, Clone)]
struct MidWalk {
    rng: Rng,
    step: u64,
    mid: i64,
    floor: i64,
}

impl MidWalk {
    fn advance_to(&mut self, step: u64) {
        while self.step < step {
            let d = self.rng.below(3) as i64 - 1;
            self.mid = (self.mid + d).max(self.floor);
            self.step += 1;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Live {
    cl: u64,
    symbol: usize,
    side: Side,
    qty: u64,
}

/// One session's order flow generator.
#[derive(Debug, Clone)]
pub struct OrderFlow {
    rng: Rng,
    walks: Vec<MidWalk>,
    live: VecDeque<Live>,
    cfg: MixConfig,
}

impl OrderFlow {
    /// The flow of session number `session` (its own choices) over `symbols`
    /// (shared walks), from `seed`.
    pub fn new(seed: u64, session: u64, symbols: &[SymbolSpec], cfg: MixConfig) -> Self {
        let depth = i64::from(cfg.depth_ticks.max(1));
        let walks = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| MidWalk {
                rng: Rng::new(seed ^ 0x5EED_0000_0000 ^ (i as u64).wrapping_mul(0x1000_0001)),
                step: 0,
                mid: s.mid_ticks.max(depth * 2 + 1),
                floor: depth * 2 + 1,
            })
            .collect();
        OrderFlow {
            rng: Rng::new(
                seed.wrapping_mul(31)
                    .wrapping_add(session.wrapping_add(1) << 32),
            ),
            walks,
            live: VecDeque::with_capacity(cfg.max_live + 1),
            cfg,
        }
    }

    /// The mid of `symbol` in ticks at global message index `global`.
    pub fn mid(&mut self, symbol: usize, global: u64) -> i64 {
        let step = global / self.cfg.walk_every.max(1);
        match self.walks.get_mut(symbol) {
            Some(w) => {
                w.advance_to(step);
                w.mid
            }
            None => 0,
        }
    }

    /// Resting orders the flow believes the session has.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// The order whose ClOrdID (current or original) is `cl` is done (filled,
    /// cancelled, rejected): never cancel or replace it again.
    pub fn forget(&mut self, cl: u64) {
        if let Some(i) = self.live.iter().position(|l| l.cl == cl) {
            self.live.remove(i);
        }
    }

    /// The next message, at global schedule index `global`, using ClOrdID `cl`
    /// for it. Updates the session's view of its resting orders.
    pub fn next(&mut self, global: u64, cl: u64) -> Action {
        let n_sym = self.walks.len().max(1) as u64;
        if !self.cfg.orders_only && !self.live.is_empty() {
            if self.live.len() >= self.cfg.max_live
                && let Some(old) = self.live.pop_front()
            {
                return Action::Cancel {
                    orig: old.cl,
                    symbol: old.symbol,
                    side: old.side,
                    qty: old.qty,
                };
            }
            let roll = self.rng.below(100) as u32;
            if roll < self.cfg.cancel_pct {
                let i = self.rng.below(self.live.len() as u64) as usize;
                if let Some(o) = self.live.remove(i) {
                    return Action::Cancel {
                        orig: o.cl,
                        symbol: o.symbol,
                        side: o.side,
                        qty: o.qty,
                    };
                }
            } else if roll < self.cfg.cancel_pct + self.cfg.replace_pct {
                let i = self.rng.below(self.live.len() as u64) as usize;
                let qty = 1 + self.rng.below(self.cfg.max_qty_lots);
                let off = 1 + self.rng.below(u64::from(self.cfg.depth_ticks.max(1))) as i64;
                if let Some(&o) = self.live.get(i) {
                    let mid = self.mid(o.symbol, global);
                    let price = match o.side {
                        Side::Buy => mid - off,
                        Side::Sell => mid + off,
                    };
                    if let Some(l) = self.live.get_mut(i) {
                        l.cl = cl;
                        l.qty = qty;
                    }
                    return Action::Replace {
                        orig: o.cl,
                        symbol: o.symbol,
                        side: o.side,
                        price,
                        qty,
                    };
                }
            }
        }
        let symbol = self.rng.below(n_sym) as usize;
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = 1 + self.rng.below(self.cfg.max_qty_lots);
        let depth = i64::from(self.cfg.depth_ticks.max(1));
        let mid = self.mid(symbol, global);
        if self.rng.percent(self.cfg.marketable_pct) {
            let price = match side {
                Side::Buy => mid + depth,
                Side::Sell => mid - depth,
            };
            return Action::New {
                symbol,
                side,
                price,
                qty,
                ioc: true,
            };
        }
        let off = 1 + self.rng.below(depth as u64) as i64;
        let price = match side {
            Side::Buy => mid - off,
            Side::Sell => mid + off,
        };
        if !self.cfg.orders_only {
            self.live.push_back(Live {
                cl,
                symbol,
                side,
                qty,
            });
        }
        Action::New {
            symbol,
            side,
            price,
            qty,
            ioc: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> Vec<SymbolSpec> {
        vec![
            SymbolSpec {
                name: "BTC-USD".into(),
                mid_ticks: 3_000_000,
                tick: Tick::new(1, -2).unwrap(),
                lot: Tick::new(1, -3).unwrap(),
            },
            SymbolSpec {
                name: "EUR-USD".into(),
                mid_ticks: 110_000,
                tick: Tick::new(1, -5).unwrap(),
                lot: Tick::new(1, 0).unwrap(),
            },
        ]
    }

    #[test]
    fn same_seed_same_flow() {
        let mut a = OrderFlow::new(7, 0, &syms(), MixConfig::default());
        let mut b = OrderFlow::new(7, 0, &syms(), MixConfig::default());
        for g in 0..5000 {
            assert_eq!(a.next(g, g + 1), b.next(g, g + 1));
        }
    }

    #[test]
    fn sessions_share_the_mid_walk() {
        let mut a = OrderFlow::new(7, 0, &syms(), MixConfig::default());
        let mut b = OrderFlow::new(7, 1, &syms(), MixConfig::default());
        for g in (0..10_000).step_by(37) {
            assert_eq!(a.mid(0, g), b.mid(0, g));
            assert_eq!(a.mid(1, g), b.mid(1, g));
        }
    }

    #[test]
    fn mix_has_every_kind_and_bounded_book() {
        let cfg = MixConfig::default();
        let mut f = OrderFlow::new(1, 0, &syms(), cfg.clone());
        let mut counts = [0usize; 4];
        for g in 0..20_000u64 {
            let a = f.next(g, g + 1);
            counts[a.kind() as usize] += 1;
            assert!(f.live_count() <= cfg.max_live);
            match a {
                Action::New { price, qty, .. } | Action::Replace { price, qty, .. } => {
                    assert!(price > 0);
                    assert!((1..=cfg.max_qty_lots).contains(&qty));
                }
                Action::Cancel { orig, .. } => assert!(orig <= g),
            }
        }
        for (kind, c) in counts.iter().enumerate() {
            assert!(*c > 500, "kind {kind} only {c} times: {counts:?}");
        }
    }

    #[test]
    fn passive_orders_rest_marketable_cross() {
        let mut f = OrderFlow::new(3, 0, &syms(), MixConfig::default());
        for g in 0..5000u64 {
            let a = f.next(g, g + 1);
            if let Action::New {
                symbol,
                side,
                price,
                ioc,
                ..
            } = a
            {
                let mid = f.mid(symbol, g);
                let below = price < mid;
                match (side, ioc) {
                    (Side::Buy, false) | (Side::Sell, true) => assert!(below),
                    (Side::Sell, false) | (Side::Buy, true) => assert!(!below),
                }
            }
        }
    }

    #[test]
    fn orders_only_sends_only_new_orders() {
        let cfg = MixConfig {
            orders_only: true,
            ..MixConfig::default()
        };
        let mut f = OrderFlow::new(1, 0, &syms(), cfg);
        for g in 0..2000u64 {
            assert!(matches!(f.next(g, g + 1), Action::New { .. }));
        }
        assert_eq!(f.live_count(), 0);
    }

    #[test]
    fn forgotten_orders_are_not_cancelled() {
        let cfg = MixConfig {
            marketable_pct: 0,
            cancel_pct: 100,
            replace_pct: 0,
            ..MixConfig::default()
        };
        let mut f = OrderFlow::new(1, 0, &syms(), cfg);
        assert!(matches!(f.next(0, 1), Action::New { .. }));
        f.forget(1);
        // Nothing live: the next message is a new order, not a cancel of 1.
        assert!(matches!(f.next(1, 2), Action::New { .. }));
        assert!(matches!(f.next(2, 3), Action::Cancel { orig: 2, .. }));
    }

    #[test]
    fn rng_below_stays_in_range() {
        let mut r = Rng::new(9);
        for n in [1u64, 2, 3, 10, 1000] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
        assert_eq!(r.below(0), 0);
    }
}
