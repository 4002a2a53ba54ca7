//! One side of the book: price levels kept in a sorted `Vec` with the best level
//! at the END, so that the common operations (a new level at or next to the touch,
//! the touch level emptying) are O(1) amortised pushes and pops. Level records
//! live in their own slab with stable slots, so a resting order points at its
//! level and a cancel that does not empty the level never searches. Each level is
//! an intrusive FIFO of arena nodes (head = oldest).
//!
//! Emptied levels away from the touch are not removed from the sorted `Vec` at
//! once (that would shift every better level: a 600 KB memmove on a 40 000-level
//! book); they stay as empty placeholders, are revived if an order arrives at
//! their price, and are compacted away in one pass when they outnumber the live
//! levels. The best level (the last entry) is never empty: emptying it pops it
//! and every empty placeholder behind it.

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
    /// True while the level is in the sorted vector (live or placeholder).
    pub listed: bool,
}

/// One side's levels.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    side: Side,
    /// (sort key, level slot), ascending by key; best at the end.
    sorted: Vec<(i64, u32)>,
    levels: Vec<Level>,
    free: Vec<u32>,
    /// Empty placeholder levels in `sorted`.
    empties: usize,
    /// Direct-mapped price → level slot cache (`price & (len - 1)`), checked
    /// against the level's price and `listed` flag, so a stale entry is a miss,
    /// never a wrong answer. Turns the binary search of a deep book (a chain of
    /// dependent cache misses) into one lookup for any recently used price.
    /// Its size grows with the number of levels (4 entries per level, from
    /// `PCACHE_MIN` to `PCACHE_MAX`), so a thin book costs ~1 KB and only deep
    /// books pay for a large table.
    pcache: Box<[u32]>,
}

const PCACHE_MIN: usize = 1 << 8;
const PCACHE_MAX: usize = 1 << 16;

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
            empties: 0,
            pcache: vec![NIL; PCACHE_MIN].into_boxed_slice(),
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

    /// Number of non-empty levels.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() - self.empties
    }

    /// Best level slot (never an empty level).
    #[inline]
    pub(crate) fn best(&self) -> Option<u32> {
        self.sorted.last().map(|e| e.1)
    }

    /// Non-empty level slots, best first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.sorted
            .iter()
            .rev()
            .map(|e| e.1)
            .filter(|&li| self.levels[li as usize].head != NIL)
    }

    /// Entries in the sorted vector, empty placeholders included.
    #[inline]
    pub(crate) fn raw_len(&self) -> usize {
        self.sorted.len()
    }

    /// Level slot of raw entry `i` (ascending: the best is at `raw_len() - 1`).
    #[inline]
    pub(crate) fn raw_at(&self, i: usize) -> u32 {
        self.sorted[i].1
    }

    /// Level slot for `price`, if the level exists.
    #[inline]
    pub(crate) fn lookup(&self, price: Price) -> Option<u32> {
        self.cached(price)
            .or_else(|| self.find(price).ok().map(|i| self.sorted[i].1))
            .filter(|&li| self.levels[li as usize].head != NIL)
    }

    /// Cache entry index of `price`.
    #[inline]
    fn slot_of(&self, price: Price) -> usize {
        price as u64 as usize & (self.pcache.len() - 1)
    }

    /// The listed level at `price` if the cache knows it.
    #[inline]
    fn cached(&self, price: Price) -> Option<u32> {
        let li = self.pcache[self.slot_of(price)];
        if li == NIL {
            return None;
        }
        let lv = &self.levels[li as usize];
        (lv.listed && lv.price == price).then_some(li)
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
        if let Some(li) = self.cached(price) {
            if self.levels[li as usize].head == NIL {
                self.empties -= 1;
            }
            return li;
        }
        // amortised O(1): a compaction of n entries removes more than n/2 placeholders
        if self.empties >= 8 && self.empties * 2 > self.sorted.len() {
            self.compact();
        }
        match self.find(price) {
            Ok(i) => {
                let li = self.sorted[i].1;
                if self.levels[li as usize].head == NIL {
                    self.empties -= 1;
                }
                let c = self.slot_of(price);
                self.pcache[c] = li;
                li
            }
            Err(i) => {
                let lv = Level {
                    price,
                    visible: 0,
                    head: NIL,
                    tail: NIL,
                    listed: true,
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
                if self.sorted.len() * 4 > self.pcache.len() && self.pcache.len() < PCACHE_MAX {
                    // grow; the new table refills on demand
                    self.pcache = vec![NIL; self.pcache.len() * 4].into_boxed_slice();
                }
                let c = self.slot_of(price);
                self.pcache[c] = li;
                li
            }
        }
    }

    /// Removes an empty level: pops it if it is the best (and any placeholders
    /// behind it), else leaves it as a placeholder.
    #[inline]
    pub(crate) fn remove_level(&mut self, li: u32) {
        debug_assert_eq!(self.levels[li as usize].head, NIL);
        if self.sorted.last().is_some_and(|e| e.1 == li) {
            self.pop_best();
        } else {
            self.empties += 1;
        }
    }

    /// Removes the best level (known empty) and the placeholders behind it.
    #[inline]
    pub(crate) fn pop_best(&mut self) {
        if let Some((_, li)) = self.sorted.pop() {
            self.levels[li as usize].listed = false;
            self.free.push(li);
        }
        while let Some(&(_, li)) = self.sorted.last() {
            if self.levels[li as usize].head != NIL {
                break;
            }
            self.sorted.pop();
            self.levels[li as usize].listed = false;
            self.free.push(li);
            self.empties -= 1;
        }
    }

    /// Drops every empty placeholder (one pass).
    fn compact(&mut self) {
        let levels = &mut self.levels;
        let free = &mut self.free;
        self.sorted.retain(|e| {
            let lv = &mut levels[e.1 as usize];
            let keep = lv.head != NIL;
            if !keep {
                lv.listed = false;
                free.push(e.1);
            }
            keep
        });
        self.empties = 0;
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
            let mut arena = Arena::with_capacity(4);
            for p in [100, 90, 110, 105, 95, 120, 80, 101, 99, 130, 70, 115] {
                let li = l.get_or_insert(p);
                let mut n = crate::book::arena::Node::EMPTY;
                n.visible = 1;
                let s = arena.alloc(n);
                l.push_back(&mut arena, li, s);
            }
            let best = l.level(l.best().unwrap()).price;
            assert_eq!(best, if side == Side::Buy { 130 } else { 70 });
            for p in [100, 90, 110, 105, 95, 120, 80, 101, 99, 130, 70, 115] {
                assert_eq!(l.level(l.lookup(p).unwrap()).price, p);
            }
            assert!(l.lookup(102).is_none());
            // ranks are in priority order
            let prices: Vec<_> = l.iter().map(|li| l.level(li).price).collect();
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
    fn emptied_levels_become_placeholders_and_are_compacted() {
        let mut arena = Arena::with_capacity(4);
        let mut l = Ladder::new(Side::Buy, 4);
        let mut slots = Vec::new();
        for p in 0..200 {
            let li = l.get_or_insert(p);
            let mut n = crate::book::arena::Node::EMPTY;
            n.visible = 1;
            let s = arena.alloc(n);
            l.push_back(&mut arena, li, s);
            slots.push(s);
        }
        // empty the deep levels: placeholders, not removals
        for &s in &slots[..150] {
            assert!(l.unlink(&mut arena, s));
            let li = arena.get(s).level;
            l.remove_level(li);
        }
        assert_eq!(l.len(), 50);
        assert_eq!(l.raw_len(), 200);
        assert!(
            l.pcache.len() > PCACHE_MIN,
            "the price cache grew with the book"
        );
        for p in 150..200 {
            assert_eq!(l.level(l.lookup(p).unwrap()).price, p);
        }
        assert!(l.lookup(10).is_none());
        assert_eq!(l.iter().count(), 50);
        // the next insert compacts
        l.get_or_insert(500);
        assert_eq!(l.raw_len(), 51);
        // emptying the best pops it and the placeholders behind it
        let mut l = Ladder::new(Side::Sell, 4);
        let a = l.get_or_insert(10);
        let b = l.get_or_insert(11);
        let c = l.get_or_insert(12);
        let mut n = crate::book::arena::Node::EMPTY;
        n.visible = 1;
        let sc = arena.alloc(n);
        l.push_back(&mut arena, c, sc);
        let sb = arena.alloc(n);
        l.push_back(&mut arena, b, sb);
        let sa = arena.alloc(n);
        l.push_back(&mut arena, a, sa);
        l.unlink(&mut arena, sb);
        l.remove_level(b);
        assert_eq!(l.raw_len(), 3);
        l.unlink(&mut arena, sa);
        l.remove_level(a);
        assert_eq!(l.raw_len(), 1);
        assert_eq!(l.level(l.best().unwrap()).price, 12);
    }

    #[test]
    fn price_cache_collisions_and_reused_slots_are_misses() {
        let mut arena = Arena::with_capacity(4);
        let mut l = Ladder::new(Side::Buy, 4);
        let stride = PCACHE_MIN as i64;
        let mut put = |l: &mut Ladder, p: Price| {
            let li = l.get_or_insert(p);
            let mut n = crate::book::arena::Node::EMPTY;
            n.visible = 1;
            n.price = p;
            let s = arena.alloc(n);
            l.push_back(&mut arena, li, s);
            (li, s)
        };
        let (a, _) = put(&mut l, 5);
        let (b, _) = put(&mut l, 5 + stride);
        let (c, _) = put(&mut l, 5 - stride);
        assert!(a != b && b != c && a != c);
        assert_eq!(l.lookup(5), Some(a));
        assert_eq!(l.lookup(5 + stride), Some(b));
        assert_eq!(l.lookup(5 - stride), Some(c));
        assert_eq!(l.get_or_insert(5), a);
        assert_eq!(l.level(l.best().unwrap()).price, 5 + stride);
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
