//! What the processor remembers about each live order beyond the book and risk:
//! who gets its reports, what the client called it, and its fill totals (FIX
//! CumQty and the average-price numerator).

use crate::idmap::{self, IdMap};
use crate::snapshot::{Reader, Sink, SnapshotError};
use crate::types::{
    AccountId, ClientOrderId, InstrumentId, OrderId, OrderType, Price, Qty, SessionId, Side,
    TimeInForce,
};

/// Report-side state of one live order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMeta {
    /// Book.
    pub instrument: InstrumentId,
    /// Owner.
    pub account: AccountId,
    /// Session that entered it: the addressee of its execution reports.
    pub session: SessionId,
    /// The client's current id for it (a replace gives it a new one).
    pub client_order_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Type as entered.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Current limit price (0 for market / stop-market).
    pub price: Price,
    /// Unfilled quantity.
    pub leaves: Qty,
    /// Filled quantity so far.
    pub cum_qty: Qty,
    /// Σ price × qty over fills (ticks × lots), saturating.
    pub cum_notional: u64,
}

/// Live orders by id, plus the (account, client order id) index used to cancel or
/// replace by the client's id. Lookup-only maps with a fixed hasher; anything that
/// iterates goes through sorted ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderTable {
    by_id: IdMap<OrderId, OrderMeta>,
    by_client: IdMap<(AccountId, ClientOrderId), OrderId>,
}

impl OrderTable {
    /// An empty table with room for `cap` live orders before it allocates.
    pub fn with_capacity(cap: usize) -> Self {
        OrderTable {
            by_id: idmap::with_capacity(cap),
            by_client: idmap::with_capacity(cap),
        }
    }

    /// Makes room for `additional` more live orders without allocating later.
    pub fn reserve(&mut self, additional: usize) {
        self.by_id.reserve(additional);
        self.by_client.reserve(additional);
    }

    /// A live order.
    pub fn get(&self, id: OrderId) -> Option<&OrderMeta> {
        self.by_id.get(&id)
    }

    /// A live order, mutably (do not change `account` or `client_order_id` here:
    /// use [`OrderTable::rename`]).
    pub fn get_mut(&mut self, id: OrderId) -> Option<&mut OrderMeta> {
        self.by_id.get_mut(&id)
    }

    /// The live order the account knows by `client_order_id`.
    pub fn by_client(&self, account: AccountId, client_order_id: ClientOrderId) -> Option<OrderId> {
        self.by_client.get(&(account, client_order_id)).copied()
    }

    /// True when the account has a live order with this client id (0 never counts).
    pub fn client_id_in_use(&self, account: AccountId, client_order_id: ClientOrderId) -> bool {
        client_order_id != 0 && self.by_client.contains_key(&(account, client_order_id))
    }

    /// Adds a live order.
    pub fn insert(&mut self, id: OrderId, m: OrderMeta) {
        if m.client_order_id != 0 {
            self.by_client.insert((m.account, m.client_order_id), id);
        }
        self.by_id.insert(id, m);
    }

    /// Removes a finished order.
    pub fn remove(&mut self, id: OrderId) -> Option<OrderMeta> {
        let m = self.by_id.remove(&id)?;
        if m.client_order_id != 0
            && self.by_client.get(&(m.account, m.client_order_id)) == Some(&id)
        {
            self.by_client.remove(&(m.account, m.client_order_id));
        }
        Some(m)
    }

    /// Gives an order a new client id (a replace); 0 keeps the old one.
    pub fn rename(&mut self, id: OrderId, new_client_order_id: ClientOrderId) {
        if new_client_order_id == 0 {
            return;
        }
        let Some(m) = self.by_id.get_mut(&id) else {
            return;
        };
        let old = (m.account, m.client_order_id);
        m.client_order_id = new_client_order_id;
        let new = (m.account, new_client_order_id);
        if old.1 != 0 && self.by_client.get(&old) == Some(&id) {
            self.by_client.remove(&old);
        }
        self.by_client.insert(new, id);
    }

    /// Number of live orders.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no order is live.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Live orders in ascending id order (allocates: not for the hot path).
    pub fn iter(&self) -> impl Iterator<Item = (OrderId, &OrderMeta)> {
        idmap::sorted_keys(&self.by_id)
            .into_iter()
            .filter_map(|id| self.by_id.get(&id).map(|m| (id, m)))
    }

    /// Canonical encoding (the client-id index is derived, not written).
    pub fn encode(&self, out: &mut impl Sink) {
        out.put_u64(self.by_id.len() as u64);
        for (id, m) in self.iter() {
            out.put_u64(id);
            out.put_u32(m.instrument);
            out.put_u32(m.account);
            out.put_u32(m.session);
            out.put_u64(m.client_order_id);
            out.put_u8(m.side.code());
            out.put_u8(m.order_type.code());
            out.put_u8(m.tif.code());
            out.put_i64(m.price);
            out.put_u64(m.leaves);
            out.put_u64(m.cum_qty);
            out.put_u64(m.cum_notional);
        }
    }

    /// Decodes what [`OrderTable::encode`] wrote and rebuilds the index.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let n = r.count(63)?;
        let mut t = OrderTable::with_capacity(n);
        let mut last: Option<OrderId> = None;
        for _ in 0..n {
            let id = r.u64()?;
            let instrument = r.u32()?;
            let account = r.u32()?;
            let session = r.u32()?;
            let client_order_id = r.u64()?;
            let bad = |what| move |_| SnapshotError::Invalid { what };
            let side = Side::from_code(r.u8()?).map_err(bad("side"))?;
            let order_type = OrderType::from_code(r.u8()?).map_err(bad("order type"))?;
            let tif = TimeInForce::from_code(r.u8()?).map_err(bad("time in force"))?;
            let m = OrderMeta {
                instrument,
                account,
                session,
                client_order_id,
                side,
                order_type,
                tif,
                price: r.i64()?,
                leaves: r.u64()?,
                cum_qty: r.u64()?,
                cum_notional: r.u64()?,
            };
            if last.is_some_and(|l| l >= id) {
                return Err(SnapshotError::Invalid {
                    what: "order ids not ascending",
                });
            }
            last = Some(id);
            if t.client_id_in_use(account, client_order_id) {
                return Err(SnapshotError::Invalid {
                    what: "duplicate client order id",
                });
            }
            t.insert(id, m);
        }
        Ok(t)
    }
}
