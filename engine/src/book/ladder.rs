//! One side of the book: price levels kept in a sorted `Vec` with the best level
//! at the END, so that the common operations (a new level at or next to the touch,
//! the touch level emptying) are O(1) amortised pushes and pops. Level records
//! live in their own slab with stable slots, so a resting order points at its
//! level and a cancel that does not empty the level never searches. Each level is
//! an intrusive FIFO of arena nodes (head = oldest).

use super::arena::{Arena, NIL};
use crate::types::{Price, Qty, Side};

/// One price level.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Level {
    pub price: Price,
    /// Sum of the displayed quantity of its orders.
    pub visible: Qty,
    pub head: u32,
    pub tail: u32,
}

/// One side's levels.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    side: Side,
    /// (sort key, level slot), ascending by key; best at the end.
    sorted: Vec<(i64, u32)>,
    levels: Vec<Level>,
    free: Vec<u32>,
}

/// How many entries next to the touch are scanned linearly before falling back
/// to binary search (most traffic lands within a few levels of the touch).
const LINEAR_SCAN: usize = 8;

impl Ladder {
    pub(crate) fn new(side: Side, cap: usize) -> Self {
        Ladder {
            side,
            sorted: Vec::with_capacity(cap),
            levels: Vec::with_capacity(cap),
            free: Vec::with_capacity(cap),
        }
    }

    /// Sort key: larger is better for this side. `!p` is order-reversing without overflow.
    #[inline]
    fn key(&self, price: Price) -> i64 {
        match self.side {
            Side::Buy => price,
            Side::Sell => !price,
        }
    }

    /// Position of `price` in `sorted` (Ok) or where it would be inserted (Err).
    #[inline]
    fn find(&self, price: Price) -> Result<usize, usize> {
        let key = self.key(price);
        let s = &self.sorted;
        let n = s.len();
        let stop = n.saturating_sub(LINEAR_SCAN);
        let mut i = n;
        while i > stop {
            let k = s[i - 1].0;
            if k == key {
                return Ok(i - 1);
            }
            if k < key {
                return Err(i);
            }
            i -= 1;
        }
        s[..stop].binary_search_by_key(&key, |e| e.0)
    }

    /// Number of levels.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Best level slot.
    #[inline]
    pub(crate) fn best(&self) -> Option<u32> {
        self.sorted.last().map(|e| e.1)
    }

    /// Level slot at rank `i` counted from the best (0 = best).
    #[inline]
    pub(crate) fn at_rank(&self, i: usize) -> u32 {
        self.sorted[self.sorted.len() - 1 - i].1
    }

    /// Level slot for `price`, if the level exists.
    #[inline]
    pub(crate) fn lookup(&self, price: Price) -> Option<u32> {
        self.find(price).ok().map(|i| self.sorted[i].1)
    }

    #[inline]
    pub(crate) fn level(&self, li: u32) -> &Level {
        &self.levels[li as usize]
    }

    #[inline]
    pub(crate) fn level_mut(&mut self, li: u32) -> &mut Level {
        &mut self.levels[li as usize]
    }

    /// The level for `price`, created empty if missing.
    #[inline]
    pub(crate) fn get_or_insert(&mut self, price: Price) -> u32 {
        match self.find(price) {
            Ok(i) => self.sorted[i].1,
            Err(i) => {
                let lv = Level {
                    price,
                    visible: 0,
                    head: NIL,
                    tail: NIL,
                };
                let li = match self.free.pop() {
                    Some(li) => {
                        self.levels[li as usize] = lv;
                        li
                    }
                    None => {
                        self.levels.push(lv);
                        (self.levels.len() - 1) as u32
                    }
                };
                let key = self.key(price);
                self.sorted.insert(i, (key, li));
                li
            }
        }
    }

    /// Removes an empty level.
    #[inline]
    pub(crate) fn remove_level(&mut self, li: u32) {
        let price = self.levels[li as usize].price;
        debug_assert_eq!(self.levels[li as usize].head, NIL);
        if let Ok(i) = self.find(price) {
            self.sorted.remove(i);
            self.free.push(li);
        }
    }

    /// Removes the best level (known empty) in O(1).
    #[inline]
    pub(crate) fn pop_best(&mut self) {
        if let Some((_, li)) = self.sorted.pop() {
            self.free.push(li);
        }
    }

    /// Appends node `s` (its `visible` already set) at the back of level `li`.
    #[inline]
    pub(crate) fn push_back(&mut self, arena: &mut Arena, li: u32, s: u32) {
        let lv = &mut self.levels[li as usize];
        let tail = lv.tail;
        {
            let n = arena.get_mut(s);
            n.prev = tail;
            n.next = NIL;
            n.level = li;
            lv.visible += n.visible;
        }
        if tail == NIL {
            lv.head = s;
        } else {
            arena.get_mut(tail).next = s;
        }
        lv.tail = s;
    }

    /// Unlinks node `s` from its level, subtracting its visible quantity. Returns
    /// true if the level is now empty (the caller removes it).
    #[inline]
    pub(crate) fn unlink(&mut self, arena: &mut Arena, s: u32) -> bool {
        let (prev, next, li, vis) = {
            let n = arena.get(s);
            (n.prev, n.next, n.level, n.visible)
        };
        let lv = &mut self.levels[li as usize];
        lv.visible -= vis;
        if prev == NIL {
            lv.head = next;
        } else {
            arena.get_mut(prev).next = next;
        }
        if next == NIL {
            lv.tail = prev;
        } else {
            arena.get_mut(next).prev = prev;
        }
        let n = arena.get_mut(s);
        n.prev = NIL;
        n.next = NIL;
        lv.head == NIL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_is_last_for_both_sides_and_find_works_deep() {
        for side in [Side::Buy, Side::Sell] {
            let mut l = Ladder::new(side, 4);
            for p in [100, 90, 110, 105, 95, 120, 80, 101, 99, 130, 70, 115] {
                l.get_or_insert(p);
            }
            let best = l.level(l.best().unwrap()).price;
            assert_eq!(best, if side == Side::Buy { 130 } else { 70 });
            for p in [100, 90, 110, 105, 95, 120, 80, 101, 99, 130, 70, 115] {
                assert_eq!(l.level(l.lookup(p).unwrap()).price, p);
            }
            assert!(l.lookup(102).is_none());
            // ranks are in priority order
            let prices: Vec<_> = (0..l.len()).map(|i| l.level(l.at_rank(i)).price).collect();
            let mut sorted = prices.clone();
            if side == Side::Buy {
                sorted.sort_by(|a, b| b.cmp(a));
            } else {
                sorted.sort();
            }
            assert_eq!(prices, sorted);
        }
    }

    #[test]
    fn extreme_prices_sort_correctly() {
        let mut l = Ladder::new(Side::Sell, 4);
        l.get_or_insert(i64::MIN);
        l.get_or_insert(i64::MAX);
        l.get_or_insert(0);
        assert_eq!(l.level(l.best().unwrap()).price, i64::MIN);
    }
}
