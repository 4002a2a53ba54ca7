//! Pending stop orders, per side, in trigger-priority order.
//!
//! Trigger rule: a buy stop triggers when the last trade price is `>= stop_price`,
//! a sell stop when it is `<= stop_price`. Priority when several are triggerable:
//! buy stops before sell stops; among buy stops the lowest stop price first, among
//! sell stops the highest stop price first (the one the price crossed first), and
//! at equal stop price the earlier order (lower order id = earlier arrival).
//! Each list is a `Vec` sorted ascending by a key whose maximum is the next stop to
//! trigger, so checking and popping is O(1).

use crate::types::{OrderId, Price, Side};

/// (primary key, tie-break key, arena slot); ascending; the last entry triggers first.
pub(crate) type StopEntry = (i64, u64, u32);

/// Both sides' pending stops.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stops {
    buy: Vec<StopEntry>,
    sell: Vec<StopEntry>,
}

#[inline]
fn key(side: Side, stop: Price, id: OrderId) -> (i64, u64) {
    match side {
        // lowest stop first, then lowest id: both reversed with `!` (no overflow)
        Side::Buy => (!stop, !id),
        // highest stop first, then lowest id
        Side::Sell => (stop, !id),
    }
}

impl Stops {
    fn list(&mut self, side: Side) -> &mut Vec<StopEntry> {
        match side {
            Side::Buy => &mut self.buy,
            Side::Sell => &mut self.sell,
        }
    }

    /// Adds a pending stop.
    pub(crate) fn insert(&mut self, side: Side, stop: Price, id: OrderId, slot: u32) {
        let (a, b) = key(side, stop, id);
        let l = self.list(side);
        let pos = l.partition_point(|e| (e.0, e.1) < (a, b));
        l.insert(pos, (a, b, slot));
    }

    /// Removes a pending stop; false if it was not there.
    pub(crate) fn remove(&mut self, side: Side, stop: Price, id: OrderId) -> bool {
        let (a, b) = key(side, stop, id);
        let l = self.list(side);
        match l.binary_search_by(|e| (e.0, e.1).cmp(&(a, b))) {
            Ok(i) => {
                l.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Pops the next stop triggered by `last`, if any (buy side first).
    #[inline]
    pub(crate) fn pop_triggered(&mut self, last: Price) -> Option<u32> {
        if let Some(&(k, _, s)) = self.buy.last()
            && last >= !k
        {
            self.buy.pop();
            return Some(s);
        }
        if let Some(&(k, _, s)) = self.sell.last()
            && last <= k
        {
            self.sell.pop();
            return Some(s);
        }
        None
    }

    /// Number of pending stops on `side`.
    pub(crate) fn len(&self, side: Side) -> usize {
        match side {
            Side::Buy => self.buy.len(),
            Side::Sell => self.sell.len(),
        }
    }

    /// Slot of the stop at trigger rank `i` (0 = next to trigger) on `side`.
    pub(crate) fn slot_at_rank(&self, side: Side, i: usize) -> u32 {
        let l = match side {
            Side::Buy => &self.buy,
            Side::Sell => &self.sell,
        };
        l[l.len() - 1 - i].2
    }

    /// Removes the stop at trigger rank `i` on `side`.
    pub(crate) fn remove_rank(&mut self, side: Side, i: usize) {
        let l = self.list(side);
        let idx = l.len() - 1 - i;
        l.remove(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_order_is_stop_price_then_arrival() {
        let mut s = Stops::default();
        s.insert(Side::Buy, 105, 3, 30);
        s.insert(Side::Buy, 103, 4, 40);
        s.insert(Side::Buy, 103, 2, 20);
        s.insert(Side::Sell, 95, 5, 50);
        s.insert(Side::Sell, 97, 6, 60);
        assert_eq!(s.pop_triggered(102), None);
        assert_eq!(s.pop_triggered(104), Some(20));
        assert_eq!(s.pop_triggered(104), Some(40));
        assert_eq!(s.pop_triggered(104), None);
        assert_eq!(s.pop_triggered(96), Some(60));
        assert_eq!(s.pop_triggered(96), None);
        assert!(s.remove(Side::Buy, 105, 3));
        assert!(!s.remove(Side::Buy, 105, 3));
        assert_eq!(s.len(Side::Buy), 0);
        assert_eq!(s.slot_at_rank(Side::Sell, 0), 50);
    }
}
