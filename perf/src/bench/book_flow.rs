//! Generator of realistic single-instrument order flow for `perf bench book`.
//!
//! The mid price follows a geometric Brownian motion driven by a seeded PRNG (the
//! only randomness, and only here); passive orders are placed at a power-law
//! distance from the touch; most resting orders are cancelled before they fill;
//! a share of commands are modifies, aggressive IOCs and market orders. A shadow
//! `engine::book` tracks which orders are live so that cancels and modifies name
//! real orders (as real clients do) — generation is done before any timing, and
//! both implementations then replay the same commands.

use engine::book::{BookEvent, BookSink, NewOrder, OrderBook};
use engine::types::{OrderType, Price, Qty, Side, TimeInForce};
use std::collections::HashMap;

/// One command of the stream, in terms both books understand.
#[derive(Debug, Clone, Copy)]
pub enum Cmd {
    /// Passive (GTC) limit order; may cross when the market moved.
    Limit {
        id: u64,
        side: Side,
        price: Price,
        qty: Qty,
    },
    /// Aggressive immediate-or-cancel limit order.
    Ioc {
        id: u64,
        side: Side,
        price: Price,
        qty: Qty,
    },
    /// Market order.
    Market { id: u64, side: Side, qty: Qty },
    /// Cancel of a (usually) live order.
    Cancel { id: u64 },
    /// Replace: new price and new remaining quantity.
    Modify { id: u64, price: Price, qty: Qty },
}

/// Operation kinds, for per-operation latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `Cmd::Limit`.
    Limit,
    /// `Cmd::Ioc`.
    Ioc,
    /// `Cmd::Market`.
    Market,
    /// `Cmd::Cancel`.
    Cancel,
    /// `Cmd::Modify`.
    Modify,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 5] = [
        OpKind::Limit,
        OpKind::Ioc,
        OpKind::Market,
        OpKind::Cancel,
        OpKind::Modify,
    ];

    /// Report name.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Limit => "limit",
            OpKind::Ioc => "ioc",
            OpKind::Market => "market",
            OpKind::Cancel => "cancel",
            OpKind::Modify => "modify",
        }
    }
}

impl Cmd {
    /// The kind of this command.
    #[inline]
    pub fn kind(&self) -> OpKind {
        match self {
            Cmd::Limit { .. } => OpKind::Limit,
            Cmd::Ioc { .. } => OpKind::Ioc,
            Cmd::Market { .. } => OpKind::Market,
            Cmd::Cancel { .. } => OpKind::Cancel,
            Cmd::Modify { .. } => OpKind::Modify,
        }
    }
}

/// A generated scenario: `prefill` builds the starting book (not timed), `cmds`
/// is the measured stream.
pub struct Flow {
    /// Scenario name.
    pub name: &'static str,
    /// Untimed commands that build the initial book.
    pub prefill: Vec<Cmd>,
    /// The measured commands.
    pub cmds: Vec<Cmd>,
}

/// The scenarios, in report order.
pub const SCENARIOS: [&str; 5] = [
    "normal",
    "volatile",
    "flash-crash",
    "deep-book",
    "cancel-storm",
];

/// SplitMix64: small, fast, seedable; good enough for workload generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Scenario knobs.
#[derive(Clone, Copy)]
struct Params {
    /// Per-command volatility of the mid (relative).
    sigma: f64,
    /// Command mix weights: new passive, cancel, modify, IOC, market.
    mix: [f64; 5],
    /// Power-law tail exponent of the distance from the touch (smaller = deeper book).
    alpha: f64,
    /// Largest distance from the touch, in ticks.
    max_depth: f64,
    /// Live orders the flow hovers around (also the prefill size).
    target_live: usize,
    /// Flash crash: (start fraction, length fraction, relative drop); the mid
    /// drifts down over the window, sellers dominate, then it half recovers.
    crash: Option<(f64, f64, f64)>,
    /// Cancel storm: alternate phases that cancel most of the book and refill it.
    storm: bool,
}

fn params(name: &str) -> Option<Params> {
    let base = Params {
        sigma: 5e-6,
        mix: [0.45, 0.38, 0.10, 0.05, 0.02],
        alpha: 1.3,
        max_depth: 1_000.0,
        target_live: 5_000,
        crash: None,
        storm: false,
    };
    Some(match name {
        "normal" => base,
        "volatile" => Params {
            sigma: 4e-5,
            mix: [0.42, 0.33, 0.12, 0.10, 0.03],
            ..base
        },
        "flash-crash" => Params {
            sigma: 1e-5,
            crash: Some((0.4, 0.05, 0.10)),
            ..base
        },
        "deep-book" => Params {
            alpha: 0.8,
            max_depth: 20_000.0,
            target_live: 200_000,
            mix: [0.45, 0.40, 0.08, 0.05, 0.02],
            ..base
        },
        "cancel-storm" => Params {
            mix: [0.30, 0.62, 0.05, 0.02, 0.01],
            storm: true,
            ..base
        },
        _ => return None,
    })
}

/// Removed-order collector for the shadow book.
#[derive(Default)]
struct Gone(Vec<u64>);

impl BookSink for Gone {
    fn event(&mut self, ev: &BookEvent) {
        match *ev {
            BookEvent::Trade {
                maker_order_id,
                maker_remaining: 0,
                ..
            } => self.0.push(maker_order_id),
            BookEvent::Cancelled { order_id, .. } => self.0.push(order_id),
            _ => {}
        }
    }
}

/// Live order ids with O(1) random pick and removal.
#[derive(Default)]
struct Live {
    ids: Vec<u64>,
    pos: HashMap<u64, usize>,
}

impl Live {
    fn add(&mut self, id: u64) {
        if !self.pos.contains_key(&id) {
            self.pos.insert(id, self.ids.len());
            self.ids.push(id);
        }
    }
    fn remove(&mut self, id: u64) {
        if let Some(i) = self.pos.remove(&id) {
            self.ids.swap_remove(i);
            if let Some(&moved) = self.ids.get(i) {
                self.pos.insert(moved, i);
            }
        }
    }
    fn pick(&self, rng: &mut Rng) -> Option<u64> {
        (!self.ids.is_empty()).then(|| self.ids[rng.below(self.ids.len() as u64) as usize])
    }
}

/// Base price level of the instrument, in ticks.
const MID0: f64 = 100_000.0;

struct Gen {
    rng: Rng,
    p: Params,
    mid: f64,
    next_id: u64,
    shadow: OrderBook,
    live: Live,
    gone: Gone,
}

impl Gen {
    fn qty(&mut self) -> Qty {
        // mostly small, occasionally large (log-uniform 1..~200)
        (self.rng.unit() * 5.3).exp() as Qty + 1
    }

    fn distance(&mut self) -> i64 {
        let d = (self.rng.unit().powf(-1.0 / self.p.alpha) - 1.0) * 2.0;
        d.min(self.p.max_depth) as i64
    }

    fn passive(&mut self, side: Side) -> Cmd {
        let id = self.take_id();
        // passive: at a power-law distance behind the better of the mid and
        // the opposite touch, so it rests instead of crossing a lagging book
        let m = self.mid.round() as i64;
        let d = self.distance();
        let price = match side {
            Side::Buy => m.min(self.shadow.best_ask().map_or(m, |a| a.0)) - 1 - d,
            Side::Sell => m.max(self.shadow.best_bid().map_or(m, |b| b.0)) + 1 + d,
        };
        let qty = self.qty();
        Cmd::Limit {
            id,
            side,
            price,
            qty,
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn aggressive(&mut self, side: Side, market: bool) -> Cmd {
        let id = self.take_id();
        let qty = self.qty();
        if market {
            return Cmd::Market { id, side, qty };
        }
        let slip = self.rng.below(4) as i64;
        let m = self.mid.round() as i64;
        let price = match side {
            Side::Buy => self.shadow.best_ask().map_or(m, |a| a.0) + slip,
            Side::Sell => self.shadow.best_bid().map_or(m, |b| b.0) - slip,
        };
        Cmd::Ioc {
            id,
            side,
            price,
            qty,
        }
    }

    /// Applies `c` to the shadow book and keeps the live set true.
    fn apply(&mut self, c: Cmd) {
        self.gone.0.clear();
        match c {
            Cmd::Limit {
                id,
                side,
                price,
                qty,
            }
            | Cmd::Ioc {
                id,
                side,
                price,
                qty,
            } => {
                let mut o = NewOrder::limit(id, 1, side, price, qty);
                if matches!(c, Cmd::Ioc { .. }) {
                    o.tif = TimeInForce::Ioc;
                }
                self.shadow.submit(&o, &mut self.gone);
                if self.shadow.order(id).is_some() {
                    self.live.add(id);
                }
            }
            Cmd::Market { id, side, qty } => {
                let mut o = NewOrder::limit(id, 1, side, 0, qty);
                o.order_type = OrderType::Market;
                self.shadow.submit(&o, &mut self.gone);
            }
            Cmd::Cancel { id } => {
                self.shadow.cancel(id, &mut self.gone);
            }
            Cmd::Modify { id, price, qty } => {
                self.shadow.replace(id, price, qty, &mut self.gone);
                if self.shadow.order(id).is_none() {
                    self.live.remove(id);
                }
            }
        }
        for i in 0..self.gone.0.len() {
            let id = self.gone.0[i];
            self.live.remove(id);
        }
    }

    fn step(&mut self, frac: f64, n: usize, storm_phase: &mut bool) -> Cmd {
        // mid: GBM, plus the flash-crash drift
        let mut drift = 0.0;
        let mut sell_bias = 0.5;
        let mut aggressive_boost = 1.0;
        if let Some((start, len, drop)) = self.p.crash {
            if frac >= start && frac < start + len {
                drift = (1.0 - drop).ln() / (len * n as f64);
                sell_bias = 0.85;
                aggressive_boost = 4.0;
            } else if frac >= start + len && frac < start + 3.0 * len {
                drift = -(1.0 - drop).ln() * 0.5 / (2.0 * len * n as f64);
            }
        }
        let s = self.p.sigma;
        self.mid *= (drift - 0.5 * s * s + s * self.rng.normal()).exp();

        let live = self.live.ids.len();
        let target = self.p.target_live;
        let mut mix = self.p.mix;
        mix[3] *= aggressive_boost;
        mix[4] *= aggressive_boost;
        if self.p.storm {
            if *storm_phase && live < target * 3 / 10 {
                *storm_phase = false;
            } else if !*storm_phase && live > target {
                *storm_phase = true;
            }
            mix = if *storm_phase {
                [0.06, 0.90, 0.02, 0.015, 0.005]
            } else {
                [0.80, 0.10, 0.05, 0.04, 0.01]
            };
        } else if live > target + target / 5 {
            mix[1] += mix[0] * 0.5;
            mix[0] *= 0.5;
        } else if live < target - target / 5 {
            mix[0] += mix[1] * 0.5;
            mix[1] *= 0.5;
        }
        let total: f64 = mix.iter().sum();
        let mut u = self.rng.unit() * total;
        let mut kind = 0;
        while kind < 4 && u >= mix[kind] {
            u -= mix[kind];
            kind += 1;
        }
        let side = if self.rng.unit() < sell_bias {
            Side::Sell
        } else {
            Side::Buy
        };
        match kind {
            1 => match self.live.pick(&mut self.rng) {
                Some(id) => Cmd::Cancel { id },
                None => self.passive(side),
            },
            2 => match self
                .live
                .pick(&mut self.rng)
                .and_then(|id| self.shadow.order(id))
            {
                Some(o) => {
                    if self.rng.below(2) == 0 && o.leaves_qty > 1 {
                        Cmd::Modify {
                            id: o.order_id,
                            price: o.price,
                            qty: o.leaves_qty / 2,
                        }
                    } else {
                        let mv = self.rng.below(7) as i64 - 3;
                        let mv = if mv == 0 { 1 } else { mv };
                        Cmd::Modify {
                            id: o.order_id,
                            price: o.price + mv,
                            qty: o.leaves_qty,
                        }
                    }
                }
                None => self.passive(side),
            },
            3 => self.aggressive(side, false),
            4 => self.aggressive(side, true),
            _ => self.passive(side),
        }
    }
}

/// Generates scenario `name` with `n` measured commands from `seed`.
pub fn generate(name: &str, n: usize, seed: u64) -> Option<Flow> {
    let p = params(name)?;
    let name = *SCENARIOS.iter().find(|s| **s == name)?;
    let mut g = Gen {
        rng: Rng(seed ^ 0x005E_ED0F_B00C),
        p,
        mid: MID0,
        next_id: 1,
        shadow: OrderBook::new(1, p.target_live * 2),
        live: Live::default(),
        gone: Gone::default(),
    };
    let mut prefill = Vec::with_capacity(p.target_live);
    while g.live.ids.len() < p.target_live {
        let side = if g.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let c = g.passive(side);
        g.apply(c);
        prefill.push(c);
    }
    let mut cmds = Vec::with_capacity(n);
    let mut storm = false;
    for i in 0..n {
        let c = g.step(i as f64 / n as f64, n, &mut storm);
        g.apply(c);
        cmds.push(c);
    }
    Some(Flow {
        name,
        prefill,
        cmds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_mostly_cancels_before_fill() {
        let a = generate("normal", 20_000, 7).unwrap();
        let b = generate("normal", 20_000, 7).unwrap();
        assert_eq!(format!("{:?}", a.cmds), format!("{:?}", b.cmds));
        // most resting orders leave the book by cancel, not by fill
        #[derive(Default)]
        struct Count {
            cancelled: u64,
            filled: u64,
        }
        impl BookSink for Count {
            fn event(&mut self, ev: &BookEvent) {
                match ev {
                    BookEvent::Cancelled {
                        reason: engine::book::CancelReason::User,
                        ..
                    } => self.cancelled += 1,
                    BookEvent::Trade {
                        maker_remaining: 0, ..
                    } => self.filled += 1,
                    _ => {}
                }
            }
        }
        let mut book = OrderBook::new(1, 1024);
        let mut count = Count::default();
        for c in a.prefill.iter().chain(&a.cmds) {
            match *c {
                Cmd::Limit {
                    id,
                    side,
                    price,
                    qty,
                } => book.submit(&NewOrder::limit(id, 1, side, price, qty), &mut count),
                Cmd::Cancel { id } => {
                    assert!(book.cancel(id, &mut count), "cancel of a dead order {id}");
                }
                Cmd::Modify { id, price, qty } => {
                    book.replace(id, price, qty, &mut count);
                }
                Cmd::Ioc {
                    id,
                    side,
                    price,
                    qty,
                } => book.submit(
                    &NewOrder::limit(id, 1, side, price, qty).with_tif(TimeInForce::Ioc),
                    &mut count,
                ),
                Cmd::Market { id, side, qty } => {
                    let mut o = NewOrder::limit(id, 1, side, 0, qty);
                    o.order_type = OrderType::Market;
                    book.submit(&o, &mut count)
                }
            }
        }
        assert!(
            count.cancelled > 3 * count.filled,
            "{} cancelled vs {} filled",
            count.cancelled,
            count.filled
        );
        for s in SCENARIOS {
            assert!(generate(s, 2_000, 1).is_some());
        }
        assert!(generate("nope", 10, 1).is_none());
    }
}
