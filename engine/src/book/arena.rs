//! Pre-allocated storage for live orders: a slab of fixed-size nodes addressed by
//! `u32` slot, with a free list threaded through the `next` field. It grows (by
//! doubling, through `Vec`) only when more orders are live than ever before, and
//! never shrinks, so steady-state trading allocates nothing.

use crate::types::{
    AccountId, ClientOrderId, OrderId, OrderType, Price, Qty, SessionId, Side, StpMode, TimeInForce,
};

/// "No slot": end of a list.
pub(crate) const NIL: u32 = u32::MAX;

/// Where a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// On the free list.
    Free,
    /// Being matched (incoming / replaced / triggered), not linked anywhere.
    Active,
    /// Linked in a price level.
    Resting,
    /// In a stop list, untriggered.
    Stop,
}

/// One order. `prev`/`next` link it inside its price level (intrusive FIFO);
/// `level` is the level's slot while resting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub id: OrderId,
    pub client_order_id: ClientOrderId,
    pub price: Price,
    pub stop_price: Price,
    /// Total remaining quantity, hidden iceberg reserve included.
    pub leaves: Qty,
    /// Displayed part currently counted in the level (== leaves unless iceberg).
    pub visible: Qty,
    /// Iceberg display size; 0 = not an iceberg.
    pub display: Qty,
    pub quote_budget: u64,
    pub prev: u32,
    pub next: u32,
    pub level: u32,
    pub account: AccountId,
    pub session: SessionId,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub stp: StpMode,
    pub post_only: bool,
    pub state: NodeState,
}

impl Node {
    pub(crate) const EMPTY: Node = Node {
        id: 0,
        client_order_id: 0,
        price: 0,
        stop_price: 0,
        leaves: 0,
        visible: 0,
        display: 0,
        quote_budget: 0,
        prev: NIL,
        next: NIL,
        level: NIL,
        account: 0,
        session: 0,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        stp: StpMode::None,
        post_only: false,
        state: NodeState::Free,
    };

    /// The size of the displayed slice after a (re)plenish.
    #[inline]
    pub(crate) fn slice(&self) -> Qty {
        if self.display == 0 {
            self.leaves
        } else {
            self.display.min(self.leaves)
        }
    }
}

/// The slab.
#[derive(Debug, Clone)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    free: u32,
    live: usize,
}

impl Arena {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        let mut a = Arena {
            nodes: Vec::with_capacity(cap),
            free: NIL,
            live: 0,
        };
        // Pre-touch every slot and thread the free list so the first `cap` orders
        // never reallocate.
        for _ in 0..cap {
            a.nodes.push(Node::EMPTY);
        }
        for i in (0..cap).rev() {
            a.nodes[i].next = a.free;
            a.free = i as u32;
        }
        a
    }

    /// Takes a free slot (growing the slab if none is free) and stores `node` there.
    #[inline]
    pub(crate) fn alloc(&mut self, node: Node) -> u32 {
        self.live += 1;
        if self.free != NIL {
            let s = self.free;
            self.free = self.nodes[s as usize].next;
            self.nodes[s as usize] = node;
            s
        } else {
            let s = self.nodes.len();
            assert!(s < NIL as usize, "order arena full");
            self.nodes.push(node);
            s as u32
        }
    }

    /// Returns a slot to the free list.
    #[inline]
    pub(crate) fn free(&mut self, s: u32) {
        self.live -= 1;
        let n = &mut self.nodes[s as usize];
        n.state = NodeState::Free;
        n.next = self.free;
        self.free = s;
    }

    /// Number of live nodes.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    #[inline]
    pub(crate) fn get(&self, s: u32) -> &Node {
        &self.nodes[s as usize]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, s: u32) -> &mut Node {
        &mut self.nodes[s as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_list_reuses_slots_and_grows_past_capacity() {
        let mut a = Arena::with_capacity(2);
        let x = a.alloc(Node::EMPTY);
        let y = a.alloc(Node::EMPTY);
        let z = a.alloc(Node::EMPTY); // grows
        assert_eq!((x, y, z), (0, 1, 2));
        assert_eq!(a.live(), 3);
        a.free(y);
        assert_eq!(a.alloc(Node::EMPTY), y);
        a.free(x);
        a.free(z);
        assert_eq!(a.live(), 1);
        assert_eq!(a.alloc(Node::EMPTY), z);
        assert_eq!(a.alloc(Node::EMPTY), x);
    }
}
