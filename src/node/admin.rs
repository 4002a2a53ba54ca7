//! The configuration as admin commands: what an empty venue is opened with.
//!
//! On the first start of an empty data directory the node publishes these
//! through the inbound ring like any other command, so they are journaled and a
//! replay of the journal rebuilds the venue without reading the config again.

use engine::msg::{AddAccount, AddInstrument, Deposit, Message};

use crate::config::Config;

/// Instruments, then accounts, then deposits, in configuration order.
pub fn opening_commands(cfg: &Config) -> Vec<Message> {
    let r = cfg.resolve();
    let mut v = Vec::new();
    for i in &r.instruments {
        let mut symbol = [0u8; 16];
        let n = i.symbol.len().min(16);
        symbol[..n].copy_from_slice(&i.symbol.as_bytes()[..n]);
        v.push(Message::AddInstrument(AddInstrument {
            instrument: i.id,
            base_asset: i.base,
            quote_asset: i.quote,
            base_units_per_lot: i.base_units_per_lot,
            quote_units_per_tick_lot: i.quote_units_per_tick_lot,
            min_qty: i.min_qty,
            max_qty: i.max_qty,
            collar_bps: i.collar_bps,
            maker_fee_bps: i32::from(i.maker_fee_bps),
            taker_fee_bps: i32::from(i.taker_fee_bps),
            symbol,
        }));
    }
    for a in &cfg.accounts {
        v.push(Message::AddAccount(AddAccount {
            account: a.id,
            max_order_notional: a.max_order_notional,
            fee_override: false,
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        }));
    }
    for (n, d) in r.deposits.iter().enumerate() {
        v.push(Message::Deposit(Deposit {
            account: d.account,
            asset: d.asset,
            amount: d.amount,
            transfer_id: n as u64 + 1,
        }));
    }
    v
}
