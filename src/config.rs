//! Node configuration: one TOML file, every key documented, with a built-in default.
//!
//! [`Config::load`] reads a file (or the embedded `config/default.toml` when no file
//! is given), deserializes it with the key path tracked (so a type error names
//! `instruments[1].tick_size`, not just a line), and then checks what serde cannot:
//! references between sections, duplicates, units that do not divide, ranges.
//! Every problem is a [`ConfigError`] naming the key and the problem; the node
//! refuses to start on any of them.
//!
//! [`Config::resolve`] turns the checked file into engine units ([`Resolved`]):
//! instrument specs in ticks and lots, deposits in asset units, the admin commands
//! that open the venue on an empty data directory, FIX session configurations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use engine::ring::WaitStrategy;
use engine::types::{AccountId, AssetId, InstrumentId, Qty};
use gateway::fix::decimal::{Tick, decimal_to_lots};
use serde::Deserialize;

/// The embedded default configuration (`config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Largest instrument id + 1 (the engine keeps instruments in a table of this size).
pub const MAX_INSTRUMENTS: u32 = 1 << 12;
/// Largest account id + 1.
pub const MAX_ACCOUNTS: u32 = 1 << 16;

/// A configuration problem: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the configuration came from (a file path or `built-in default`).
    pub source: String,
    /// Dotted key path, e.g. `instruments[0].tick_size` (empty: the whole file).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "config error in {}: {}", self.source, self.problem)
        } else {
            write!(
                f,
                "config error in {}: key `{}`: {}",
                self.source, self.key, self.problem
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[node]`: data directory and venue-wide settings.
    pub node: NodeSection,
    /// `[fix]`: the FIX acceptor and its sessions.
    pub fix: FixSection,
    /// `[[assets]]`: what balances are held in.
    pub assets: Vec<AssetConfig>,
    /// `[[instruments]]`: one order book each.
    pub instruments: Vec<InstrumentConfig>,
    /// `[[accounts]]`: opened and funded on the first start of an empty data dir.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// `[pipeline]`: ring sizes and stage threads.
    #[serde(default)]
    pub pipeline: PipelineSection,
    /// `[journal]`: the inbound journal.
    #[serde(default)]
    pub journal: JournalSection,
    /// `[snapshot]`: business-logic snapshots.
    #[serde(default)]
    pub snapshot: SnapshotSection,
    /// `[replication]`: the node's role in a primary/secondary pair.
    #[serde(default)]
    pub replication: ReplicationSection,
}

/// `[node]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Where the node keeps its state (journal, snapshots, FIX session stores).
    pub data_dir: PathBuf,
    /// Account credited with every fee; created by the engine, not listed in accounts.
    #[serde(default)]
    pub fee_account: AccountId,
}

/// `[fix]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSection {
    /// TCP listen address.
    pub listen: SocketAddr,
    /// Our CompID (SenderCompID of what we send).
    pub comp_id: String,
    /// Gateway socket threads.
    #[serde(default = "one")]
    pub threads: usize,
    /// Counterparties allowed to log on.
    pub sessions: Vec<FixSessionConfig>,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

/// `[[fix.sessions]]`: one counterparty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSessionConfig {
    /// Their CompID (their SenderCompID(49)).
    pub comp_id: String,
    /// The account the session trades for.
    pub account: AccountId,
    /// Username(553) the Logon must carry, if any.
    #[serde(default)]
    pub username: Option<String>,
    /// `sha256:<salt hex>:<digest hex>` of the password, if one is required.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Cancel the session's orders when it disconnects.
    #[serde(default = "yes")]
    pub cancel_on_disconnect: bool,
    /// Reset sequence numbers at every Logon.
    #[serde(default)]
    pub reset_on_logon: bool,
    /// Inbound message-rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

/// A session's inbound message-rate limit.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Messages allowed per window.
    pub max_messages: u32,
    /// Window length, milliseconds.
    pub window_ms: u64,
    /// What happens to a session over the limit.
    pub action: ThrottleActionConfig,
}

/// What happens to a session over its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleActionConfig {
    /// Session-level Reject for each excess message.
    Reject,
    /// Logout and disconnect.
    Logout,
}

/// `[[assets]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Wire id.
    pub id: AssetId,
    /// Name used in this file.
    pub name: String,
    /// Decimal places of the smallest unit.
    pub decimals: u8,
}

/// `[[instruments]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Wire id.
    pub id: InstrumentId,
    /// FIX Symbol(55).
    pub symbol: String,
    /// Base asset name.
    pub base: String,
    /// Quote asset name.
    pub quote: String,
    /// Price increment.
    pub tick_size: Tick,
    /// Quantity increment.
    pub lot_size: Tick,
    /// Smallest order quantity (decimal text).
    pub min_qty: String,
    /// Largest order quantity (decimal text).
    pub max_qty: String,
    /// Price collar, basis points around the last trade (0 = off).
    #[serde(default)]
    pub collar_bps: u32,
    /// Maker fee, basis points.
    #[serde(default)]
    pub maker_fee_bps: u16,
    /// Taker fee, basis points.
    #[serde(default)]
    pub taker_fee_bps: u16,
}

/// `[[accounts]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Account id.
    pub id: AccountId,
    /// Name for reports.
    pub name: String,
    /// Largest notional of one order in quote units (0 = unlimited).
    #[serde(default)]
    pub max_order_notional: u64,
    /// Initial deposits: asset name → decimal amount of whole units.
    #[serde(default)]
    pub deposits: BTreeMap<String, String>,
}

/// `[pipeline]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    /// Inbound ring slots (power of two).
    pub inbound_ring_size: usize,
    /// Outbound ring slots (power of two).
    pub outbound_ring_size: usize,
    /// Journal stage thread.
    pub journal: StageConfig,
    /// Business-logic stage thread.
    pub logic: StageConfig,
    /// Outbound (FIX sender) stage thread.
    pub sender: StageConfig,
    /// Replication stage thread (role `primary` only).
    pub replicate: StageConfig,
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            inbound_ring_size: 1 << 16,
            outbound_ring_size: 1 << 16,
            journal: StageConfig::default(),
            logic: StageConfig::default(),
            sender: StageConfig::default(),
            replicate: StageConfig::default(),
        }
    }
}

/// One stage thread's wait strategy and optional CPU pin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageConfig {
    /// `block`, `yield` or `busy-spin`.
    pub wait: String,
    /// CPU index to pin the thread to.
    pub cpu: Option<usize>,
}

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            wait: "block".into(),
            cpu: None,
        }
    }
}

impl StageConfig {
    /// The parsed wait strategy (validated by [`Config::validate`]).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait.parse().unwrap_or(WaitStrategy::BLOCK)
    }
}

/// `[journal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSection {
    /// Directory relative to the data dir.
    pub dir: PathBuf,
    /// Segment file size, bytes.
    pub segment_size: u64,
    /// `pwrite`, `mmap` or `io_uring`.
    pub backend: String,
    /// `none`, `batch` or `interval`.
    pub durability: String,
    /// Interval for `interval` durability, milliseconds.
    pub interval_ms: u64,
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            dir: PathBuf::from("journal"),
            segment_size: 64 << 20,
            backend: "pwrite".into(),
            durability: "none".into(),
            interval_ms: 10,
        }
    }
}

impl JournalSection {
    /// The journal crate's writer configuration (validated by [`Config::validate`]).
    pub fn writer_config(&self) -> journal::Config {
        let durability = match self.durability.as_str() {
            "batch" => journal::Durability::Batch,
            "interval" => journal::Durability::Interval(std::time::Duration::from_millis(
                self.interval_ms.max(1),
            )),
            _ => journal::Durability::None,
        };
        journal::Config {
            segment_size: self.segment_size,
            backend: journal::Backend::parse(&self.backend).unwrap_or(journal::Backend::Pwrite),
            durability,
            ..journal::Config::default()
        }
    }
}

/// `[snapshot]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSection {
    /// Snapshot after this many messages since the last (0 = never by count).
    pub every_messages: u64,
    /// Snapshot after this many seconds since the last (0 = never by time).
    pub every_secs: u64,
    /// Snapshots kept.
    pub keep: usize,
}

impl Default for SnapshotSection {
    fn default() -> Self {
        SnapshotSection {
            every_messages: 1_000_000,
            every_secs: 300,
            keep: 3,
        }
    }
}

/// A node's part in replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One node alone (no replication): the default.
    Standalone,
    /// Trades, and replicates every inbound message to `replication.peer` before
    /// the business logic may process it.
    Primary,
    /// Receives the primary's stream from `replication.peer`, journals it and
    /// applies it; no FIX gateway until `ringex promote`.
    Secondary,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Standalone => "standalone",
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        })
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "standalone" => Ok(Role::Standalone),
            "primary" => Ok(Role::Primary),
            "secondary" => Ok(Role::Secondary),
            _ => Err(format!(
                "unknown role {s:?} (expected standalone, primary or secondary)"
            )),
        }
    }
}

/// What the primary does when the secondary stops acknowledging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyConfig {
    /// Block the business logic until the secondary acknowledges.
    Wait,
    /// After `degrade_after_ms` without acknowledgement, continue alone (loudly).
    Degrade,
}

/// How the replication threads wait when there is nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleConfig {
    /// Spin (lowest latency, burns a core).
    BusySpin,
    /// Yield the core between polls.
    Yield,
    /// Yield for a while after activity, then sleep `idle_sleep_us` between polls.
    Sleep,
}

/// `[replication]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSection {
    /// `standalone`, `primary` or `secondary`.
    pub role: Role,
    /// Local UDP address this node's replication socket binds.
    pub bind: SocketAddr,
    /// The other node's replication address (required for primary and secondary).
    pub peer: Option<SocketAddr>,
    /// Session id of the pair; both nodes must use the same (see the docs).
    pub epoch: u64,
    /// `wait` or `degrade`.
    pub policy: PolicyConfig,
    /// For `degrade`: milliseconds without acknowledgement before continuing alone.
    pub degrade_after_ms: u64,
    /// Records the primary keeps in memory for retransmission.
    pub window: usize,
    /// SO_SNDBUF, bytes.
    pub send_buffer: usize,
    /// SO_RCVBUF, bytes.
    pub recv_buffer: usize,
    /// Largest datagram, bytes.
    pub max_datagram: usize,
    /// Heartbeat interval when idle, milliseconds.
    pub heartbeat_ms: u64,
    /// The peer counts as gone after this long without a datagram, milliseconds.
    pub peer_timeout_ms: u64,
    /// Primary: resend from the acknowledged position after this long without progress.
    pub retransmit_timeout_ms: u64,
    /// Records the primary may have in flight beyond the secondary's position
    /// while retransmitting or serving catch-up.
    pub max_in_flight: u64,
    /// Compare state hashes every this many sequences (0 = never).
    pub checkpoint_every: u64,
    /// How the replication threads wait: `busy-spin`, `yield` or `sleep`.
    pub idle: IdleConfig,
    /// For `idle = "sleep"`: microseconds per sleep.
    pub idle_sleep_us: u64,
    /// Secondary: a status line every this many seconds (0 = only on changes).
    pub status_secs: u64,
}

impl Default for ReplicationSection {
    fn default() -> Self {
        ReplicationSection {
            role: Role::Standalone,
            bind: SocketAddr::from(([127, 0, 0, 1], 9879)),
            peer: None,
            epoch: 1,
            policy: PolicyConfig::Wait,
            degrade_after_ms: 1000,
            window: 1 << 16,
            send_buffer: 4 << 20,
            recv_buffer: 4 << 20,
            max_datagram: 1400,
            heartbeat_ms: 10,
            peer_timeout_ms: 1000,
            retransmit_timeout_ms: 20,
            max_in_flight: 4096,
            checkpoint_every: 100_000,
            idle: IdleConfig::Sleep,
            idle_sleep_us: 50,
            status_secs: 10,
        }
    }
}

impl ReplicationSection {
    /// The replication crate's policy.
    pub fn policy(&self) -> replication::Policy {
        match self.policy {
            PolicyConfig::Wait => replication::Policy::Wait,
            PolicyConfig::Degrade => replication::Policy::Degrade {
                after_ms: self.degrade_after_ms,
            },
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        let k = |f: &str| format!("replication.{f}");
        let e = |f: &str, p: &str| Err((k(f), p.to_string()));
        if self.role != Role::Standalone && self.peer.is_none() {
            return Err((
                k("peer"),
                format!(
                    "required when role is {} (the other node's replication address; or --{})",
                    self.role,
                    if self.role == Role::Primary {
                        "secondary"
                    } else {
                        "primary"
                    }
                ),
            ));
        }
        if self.epoch == 0 {
            return e("epoch", "must be greater than 0");
        }
        if self.policy == PolicyConfig::Degrade && self.degrade_after_ms == 0 {
            return e("degrade_after_ms", "must be greater than 0");
        }
        if !(16..=(1 << 24)).contains(&self.window) {
            return e("window", "must be between 16 and 16777216 records");
        }
        let min_dg = replication::wire::HEADER_LEN
            + replication::wire::RECORD_OVERHEAD
            + engine::msg::MAX_MESSAGE_LEN;
        if !(min_dg..=replication::wire::MAX_UDP_PAYLOAD).contains(&self.max_datagram) {
            return Err((
                k("max_datagram"),
                format!(
                    "must be between {min_dg} (one largest message) and {} bytes",
                    replication::wire::MAX_UDP_PAYLOAD
                ),
            ));
        }
        for (f, v) in [
            ("send_buffer", self.send_buffer),
            ("recv_buffer", self.recv_buffer),
        ] {
            if !(4096..=(1 << 30)).contains(&v) {
                return e(f, "must be between 4096 bytes and 1 GiB");
            }
        }
        if self.heartbeat_ms == 0 {
            return e("heartbeat_ms", "must be greater than 0");
        }
        if self.peer_timeout_ms <= self.heartbeat_ms {
            return e("peer_timeout_ms", "must be greater than heartbeat_ms");
        }
        if self.retransmit_timeout_ms == 0 {
            return e("retransmit_timeout_ms", "must be greater than 0");
        }
        if self.max_in_flight == 0 {
            return e("max_in_flight", "must be greater than 0");
        }
        if self.idle == IdleConfig::Sleep && !(1..=100_000).contains(&self.idle_sleep_us) {
            return e("idle_sleep_us", "must be between 1 and 100000");
        }
        Ok(())
    }
}

/// One instrument in engine units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedInstrument {
    /// The `[[instruments]]` entry's id.
    pub id: InstrumentId,
    /// FIX symbol.
    pub symbol: String,
    /// Base asset id.
    pub base: AssetId,
    /// Quote asset id.
    pub quote: AssetId,
    /// Price increment (FIX decimal ↔ ticks).
    pub tick: Tick,
    /// Quantity increment (FIX decimal ↔ lots).
    pub lot: Tick,
    /// Base units in one lot.
    pub base_units_per_lot: u64,
    /// Quote units for one tick on one lot.
    pub quote_units_per_tick_lot: u64,
    /// Smallest order quantity, lots.
    pub min_qty: Qty,
    /// Largest order quantity, lots.
    pub max_qty: Qty,
    /// Collar, basis points.
    pub collar_bps: u32,
    /// Maker fee, basis points.
    pub maker_fee_bps: u16,
    /// Taker fee, basis points.
    pub taker_fee_bps: u16,
}

/// One deposit in asset units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedDeposit {
    /// Account credited.
    pub account: AccountId,
    /// Asset.
    pub asset: AssetId,
    /// Amount in the asset's smallest units.
    pub amount: u64,
}

/// The configuration in engine units, ready to wire a node.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Instruments by id order.
    pub instruments: Vec<ResolvedInstrument>,
    /// Deposits, in file order.
    pub deposits: Vec<ResolvedDeposit>,
}

impl Config {
    /// The embedded default, parsed and checked.
    pub fn default_config() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_TOML, "built-in default")
    }

    /// Read `path`, or the embedded default when `None`; parse and check it.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => Config::default_config(),
            Some(p) => {
                let source = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    source: source.clone(),
                    key: String::new(),
                    problem: format!("cannot read the file: {e}"),
                })?;
                Config::parse(&text, &source)
            }
        }
    }

    /// Parse TOML text and check it; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let err = |key: String, problem: String| ConfigError {
            source: source.to_string(),
            key,
            problem,
        };
        let de =
            toml::Deserializer::parse(text).map_err(|e| err(String::new(), one_line(&e, text)))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            err(key, one_line(e.inner(), text))
        })?;
        cfg.validate().map_err(|(k, p)| err(k, p))?;
        Ok(cfg)
    }

    /// Semantic checks serde cannot do. Returns (key, problem).
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.resolve_inner().map(|_| ())
    }

    /// The configuration in engine units.
    pub fn resolve(&self) -> Resolved {
        // `parse` already ran the same checks; a hand-built invalid Config yields
        // whatever was resolvable, and `validate` says why.
        self.resolve_inner().unwrap_or(Resolved {
            instruments: Vec::new(),
            deposits: Vec::new(),
        })
    }

    fn resolve_inner(&self) -> Result<Resolved, (String, String)> {
        let e = |k: String, p: &str| Err((k, p.to_string()));

        // [[assets]]
        let mut assets: BTreeMap<&str, &AssetConfig> = BTreeMap::new();
        let mut asset_ids = BTreeSet::new();
        for (i, a) in self.assets.iter().enumerate() {
            let k = |f: &str| format!("assets[{i}].{f}");
            if a.name.is_empty() {
                return e(k("name"), "must not be empty");
            }
            if a.decimals > 18 {
                return e(k("decimals"), "must be at most 18");
            }
            if !asset_ids.insert(a.id) {
                return Err((k("id"), format!("duplicate asset id {}", a.id)));
            }
            if assets.insert(a.name.as_str(), a).is_some() {
                return Err((k("name"), format!("duplicate asset name {:?}", a.name)));
            }
        }

        // [[instruments]]
        if self.instruments.is_empty() {
            return e("instruments".into(), "at least one instrument is needed");
        }
        let mut instruments = Vec::new();
        let mut inst_ids = BTreeSet::new();
        let mut symbols = BTreeSet::new();
        for (i, ins) in self.instruments.iter().enumerate() {
            let k = |f: &str| format!("instruments[{i}].{f}");
            if ins.id == 0 || ins.id >= MAX_INSTRUMENTS {
                return Err((
                    k("id"),
                    format!("must be between 1 and {}", MAX_INSTRUMENTS - 1),
                ));
            }
            if !inst_ids.insert(ins.id) {
                return Err((k("id"), format!("duplicate instrument id {}", ins.id)));
            }
            if ins.symbol.is_empty() || ins.symbol.len() > 16 || !ins.symbol.is_ascii() {
                return e(k("symbol"), "must be 1 to 16 ASCII characters");
            }
            if !symbols.insert(ins.symbol.clone()) {
                return Err((k("symbol"), format!("duplicate symbol {:?}", ins.symbol)));
            }
            let base = assets.get(ins.base.as_str()).ok_or_else(|| {
                (
                    k("base"),
                    format!("unknown asset {:?} (not in [[assets]])", ins.base),
                )
            })?;
            let quote = assets.get(ins.quote.as_str()).ok_or_else(|| {
                (
                    k("quote"),
                    format!("unknown asset {:?} (not in [[assets]])", ins.quote),
                )
            })?;
            if base.id == quote.id {
                return e(k("quote"), "base and quote must be different assets");
            }
            let base_units_per_lot = units(
                u128::from(ins.lot_size.mantissa()),
                i32::from(ins.lot_size.exponent()),
                base.decimals,
            )
            .ok_or_else(|| {
                (
                    k("lot_size"),
                    format!(
                        "lot size {} is not a whole number of {} units ({} decimals)",
                        tick_text(ins.lot_size),
                        base.name,
                        base.decimals
                    ),
                )
            })?;
            let quote_units_per_tick_lot = units(
                u128::from(ins.tick_size.mantissa()) * u128::from(ins.lot_size.mantissa()),
                i32::from(ins.tick_size.exponent()) + i32::from(ins.lot_size.exponent()),
                quote.decimals,
            )
            .ok_or_else(|| {
                    (
                        k("tick_size"),
                        format!(
                            "tick size {} × lot size {} is not a whole number of {} units ({} decimals)",
                            tick_text(ins.tick_size),
                            tick_text(ins.lot_size),
                            quote.name,
                            quote.decimals
                        ),
                    )
                })?;
            let min_qty = decimal_to_lots(ins.min_qty.as_bytes(), ins.lot_size)
                .map_err(|d| (k("min_qty"), format!("{:?}: {d}", ins.min_qty)))?;
            let max_qty = decimal_to_lots(ins.max_qty.as_bytes(), ins.lot_size)
                .map_err(|d| (k("max_qty"), format!("{:?}: {d}", ins.max_qty)))?;
            if min_qty == 0 {
                return e(k("min_qty"), "must be at least one lot");
            }
            if max_qty < min_qty {
                return e(k("max_qty"), "must not be below min_qty");
            }
            if ins.maker_fee_bps > 10_000 {
                return e(k("maker_fee_bps"), "must be at most 10000 (100%)");
            }
            if ins.taker_fee_bps > 10_000 {
                return e(k("taker_fee_bps"), "must be at most 10000 (100%)");
            }
            if ins.collar_bps > 10_000 {
                return e(k("collar_bps"), "must be at most 10000 (100%)");
            }
            instruments.push(ResolvedInstrument {
                id: ins.id,
                symbol: ins.symbol.clone(),
                base: base.id,
                quote: quote.id,
                tick: ins.tick_size,
                lot: ins.lot_size,
                base_units_per_lot,
                quote_units_per_tick_lot,
                min_qty,
                max_qty,
                collar_bps: ins.collar_bps,
                maker_fee_bps: ins.maker_fee_bps,
                taker_fee_bps: ins.taker_fee_bps,
            });
        }
        instruments.sort_by_key(|i| i.id);

        // [[accounts]]
        let mut deposits = Vec::new();
        let mut seen = BTreeSet::new();
        if self.node.fee_account >= MAX_ACCOUNTS {
            return Err((
                "node.fee_account".into(),
                format!("must be below {MAX_ACCOUNTS}"),
            ));
        }
        for (i, a) in self.accounts.iter().enumerate() {
            let k = |f: &str| format!("accounts[{i}].{f}");
            if a.id >= MAX_ACCOUNTS {
                return Err((k("id"), format!("must be below {MAX_ACCOUNTS}")));
            }
            if a.id == self.node.fee_account {
                return Err((
                    k("id"),
                    format!(
                        "account {} is the fee account (node.fee_account); the engine creates it",
                        a.id
                    ),
                ));
            }
            if !seen.insert(a.id) {
                return Err((k("id"), format!("duplicate account id {}", a.id)));
            }
            for (asset_name, amount) in &a.deposits {
                let key = format!("accounts[{i}].deposits.{asset_name}");
                let asset = assets.get(asset_name.as_str()).ok_or_else(|| {
                    (
                        key.clone(),
                        format!("unknown asset {asset_name:?} (not in [[assets]])"),
                    )
                })?;
                let unit = Tick::new(1, -(asset.decimals as i8))
                    .map_err(|d| (key.clone(), d.to_string()))?;
                let amount = decimal_to_lots(amount.as_bytes(), unit).map_err(|d| {
                    (
                        key.clone(),
                        format!(
                            "{amount:?}: {d} (at most {} decimals for {asset_name})",
                            asset.decimals
                        ),
                    )
                })?;
                if amount > 0 {
                    deposits.push(ResolvedDeposit {
                        account: a.id,
                        asset: asset.id,
                        amount,
                    });
                }
            }
        }

        // [fix]
        if self.fix.comp_id.is_empty() || !self.fix.comp_id.is_ascii() {
            return e("fix.comp_id".into(), "must be non-empty ASCII");
        }
        if self.fix.threads == 0 || self.fix.threads > 64 {
            return e("fix.threads".into(), "must be between 1 and 64");
        }
        if self.fix.sessions.is_empty() {
            return e("fix.sessions".into(), "at least one session is needed");
        }
        let account_ids: BTreeSet<AccountId> = self.accounts.iter().map(|a| a.id).collect();
        let mut comp_ids = BTreeSet::new();
        for (i, s) in self.fix.sessions.iter().enumerate() {
            let k = |f: &str| format!("fix.sessions[{i}].{f}");
            if s.comp_id.is_empty() || !s.comp_id.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
            {
                return e(
                    k("comp_id"),
                    "must be non-empty printable ASCII without `=`",
                );
            }
            if s.comp_id == self.fix.comp_id {
                return e(k("comp_id"), "equals the acceptor's own fix.comp_id");
            }
            if !comp_ids.insert(s.comp_id.clone()) {
                return Err((k("comp_id"), format!("duplicate CompID {:?}", s.comp_id)));
            }
            if !account_ids.contains(&s.account) {
                return Err((
                    k("account"),
                    format!("account {} is not listed in [[accounts]]", s.account),
                ));
            }
            if let Some(h) = &s.password_hash {
                check_password_hash(h).map_err(|p| (k("password_hash"), p))?;
            }
            if let Some(r) = &s.rate_limit
                && (r.max_messages == 0 || r.window_ms == 0)
            {
                return e(
                    k("rate_limit"),
                    "max_messages and window_ms must be greater than 0",
                );
            }
        }

        // [pipeline]
        let p = &self.pipeline;
        for (name, size) in [
            ("pipeline.inbound_ring_size", p.inbound_ring_size),
            ("pipeline.outbound_ring_size", p.outbound_ring_size),
        ] {
            if !size.is_power_of_two() || !(16..=(1 << 24)).contains(&size) {
                return Err((
                    name.into(),
                    format!("{size} must be a power of two between 16 and 16777216"),
                ));
            }
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for (name, st) in [
            ("journal", &p.journal),
            ("logic", &p.logic),
            ("sender", &p.sender),
            ("replicate", &p.replicate),
        ] {
            st.wait
                .parse::<WaitStrategy>()
                .map_err(|w| (format!("pipeline.{name}.wait"), w.to_string()))?;
            if let Some(c) = st.cpu
                && c >= cpus
            {
                return Err((
                    format!("pipeline.{name}.cpu"),
                    format!("CPU {c} does not exist (this machine has {cpus})"),
                ));
            }
        }

        // [journal]
        let j = &self.journal;
        if j.dir.as_os_str().is_empty() {
            return e("journal.dir".into(), "must not be empty");
        }
        if journal::Backend::parse(&j.backend).is_none() {
            return Err((
                "journal.backend".into(),
                format!(
                    "unknown back-end {:?} (expected pwrite, mmap or io_uring)",
                    j.backend
                ),
            ));
        }
        match j.durability.as_str() {
            "none" | "batch" => {}
            "interval" if j.interval_ms > 0 => {}
            "interval" => return e("journal.interval_ms".into(), "must be greater than 0"),
            other => {
                return Err((
                    "journal.durability".into(),
                    format!("unknown policy {other:?} (expected none, batch or interval)"),
                ));
            }
        }
        if j.segment_size < 1 << 16 || j.segment_size > 1 << 40 {
            return e(
                "journal.segment_size".into(),
                "must be between 65536 bytes and 1 TiB",
            );
        }
        if self.snapshot.keep == 0 {
            return e("snapshot.keep".into(), "must be at least 1");
        }
        self.replication.check()?;
        Ok(Resolved {
            instruments,
            deposits,
        })
    }

    /// The instrument with FIX symbol `symbol`.
    pub fn instrument_by_symbol(&self, symbol: &str) -> Option<&InstrumentConfig> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }
}

/// Checks the `sha256:<salt hex>:<64 hex>` form the FIX session layer reads.
fn check_password_hash(h: &str) -> Result<(), String> {
    let bad = || format!("{h:?} is not of the form sha256:<salt hex>:<64 hex digits>");
    let mut parts = h.split(':');
    if parts.next() != Some("sha256") {
        return Err(bad());
    }
    let hexok = |s: &str| s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(salt), Some(d), None) if hexok(salt) && d.len() == 64 && hexok(d) => Ok(()),
        _ => Err(bad()),
    }
}

/// The `sha256:<salt hex>:<digest hex>` text for `password` with `salt`.
pub fn hash_password(salt: &[u8], password: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password);
    let d = h.finalize();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("sha256:{}:{}", hex(salt), hex(&d))
}

/// `m × 10^(exp + decimals)` as a positive `u64`, if it is a whole number.
fn units(m: u128, exp: i32, decimals: u8) -> Option<u64> {
    let exp = exp + i32::from(decimals);
    let v = if exp >= 0 {
        m.checked_mul(10u128.checked_pow(u32::try_from(exp).ok()?)?)?
    } else {
        let d = 10u128.checked_pow(exp.unsigned_abs())?;
        if !m.is_multiple_of(d) {
            return None;
        }
        m / d
    };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// A tick as decimal text.
fn tick_text(t: Tick) -> String {
    let mut buf = [0u8; gateway::fix::decimal::DECIMAL_BUF_LEN];
    let s = gateway::fix::decimal::lots_to_decimal(1, t, &mut buf);
    String::from_utf8_lossy(s).into_owned()
}

/// A TOML error on one line with its line number (toml's own rendering spans
/// several lines, with a caret).
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |t| t.bytes().filter(|&b| b == b'\n').count())
                + 1;
            format!("{msg} (line {line})")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests;
