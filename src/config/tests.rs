use super::*;

/// The default with one textual replacement (which must exist).
fn with(from: &str, to: &str) -> Result<Config, ConfigError> {
    assert!(
        DEFAULT_TOML.contains(from),
        "test edit target missing: {from}"
    );
    Config::parse(&DEFAULT_TOML.replacen(from, to, 1), "test.toml")
}

fn key_of(r: Result<Config, ConfigError>) -> (String, String) {
    let e = r.expect_err("config should be rejected");
    (e.key, e.problem)
}

#[test]
fn embedded_default_is_valid_and_complete() {
    let c = Config::default_config().unwrap();
    assert_eq!(c.fix.listen.to_string(), "127.0.0.1:9878");
    assert_eq!(c.fix.comp_id, "RINGEX");
    let comps: Vec<_> = c.fix.sessions.iter().map(|s| s.comp_id.as_str()).collect();
    assert_eq!(comps, ["MM1", "MM2"]);
    assert!(c.fix.sessions.iter().all(|s| s.password_hash.is_some()));
    assert!(c.instrument_by_symbol("BTC-USD").is_some());
    assert!(c.instrument_by_symbol("EUR-USD").is_some());
    for st in [&c.pipeline.journal, &c.pipeline.logic, &c.pipeline.sender] {
        assert_ne!(
            st.wait_strategy(),
            WaitStrategy::BusySpin,
            "no busy-spin by default"
        );
    }
    let r = c.resolve();
    let btc = &r.instruments[0];
    assert_eq!(btc.symbol, "BTC-USD");
    // 0.0001 BTC at 1e-8 = 10_000 units; 0.01 USD × 0.0001 at 1e-8 = 100 units.
    assert_eq!(btc.base_units_per_lot, 10_000);
    assert_eq!(btc.quote_units_per_tick_lot, 100);
    assert_eq!(btc.min_qty, 1);
    assert_eq!(btc.max_qty, 10_000_000);
    let eur = &r.instruments[1];
    assert_eq!(eur.base_units_per_lot, 100_000_000);
    assert_eq!(eur.quote_units_per_tick_lot, 1_000);
    // Both market makers funded in every asset.
    for acct in [1, 2] {
        let assets: Vec<_> = r
            .deposits
            .iter()
            .filter(|d| d.account == acct)
            .map(|d| d.asset)
            .collect();
        assert_eq!(assets.len(), 3, "account {acct}: {assets:?}");
    }
    let btc_dep = r
        .deposits
        .iter()
        .find(|d| d.account == 1 && d.asset == 1)
        .unwrap();
    assert_eq!(btc_dep.amount, 1000 * 100_000_000);
}

#[test]
fn readme_passwords_match_the_default_hashes() {
    let c = Config::default_config().unwrap();
    for (s, pw) in c.fix.sessions.iter().zip(["mm1-secret", "mm2-secret"]) {
        let h = s.password_hash.as_deref().unwrap();
        let salt_hex = h.split(':').nth(1).unwrap();
        let salt: Vec<u8> = (0..salt_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&salt_hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(hash_password(&salt, pw.as_bytes()), h);
    }
}

#[test]
fn optional_sections_default() {
    let mut text = String::new();
    let mut skip = false;
    for line in DEFAULT_TOML.lines() {
        if line.starts_with('[') {
            skip = line.starts_with("[pipeline")
                || line.starts_with("[journal")
                || line.starts_with("[snapshot");
        }
        if !skip {
            text.push_str(line);
            text.push('\n');
        }
    }
    let c = Config::parse(&text, "minimal").unwrap();
    assert_eq!(c.pipeline.inbound_ring_size, 1 << 16);
    assert_eq!(c.journal.backend, "pwrite");
    assert_eq!(c.snapshot.keep, 3);
}

#[test]
fn type_errors_name_the_key_path() {
    let (k, p) = key_of(with("tick_size = \"0.01\"", "tick_size = \"0\""));
    assert_eq!(k, "instruments[0].tick_size");
    assert!(p.contains("tick"), "{p}");
    let (k, _) = key_of(with("decimals = 8", "decimals = \"eight\""));
    assert_eq!(k, "assets[0].decimals");
    let (k, _) = key_of(with("listen = \"127.0.0.1:9878\"", "listen = \"nowhere\""));
    assert_eq!(k, "fix.listen");
    let (k, p) = key_of(with("inbound_ring_size", "inbound_ring_sise"));
    assert_eq!(k, "pipeline.inbound_ring_sise");
    assert!(p.contains("unknown field"), "{p}");
    let (k, p) = key_of(with("action = \"reject\"", "action = \"explode\""));
    assert_eq!(k, "fix.sessions[0].rate_limit.action");
    assert!(p.contains("explode"), "{p}");
}

#[test]
fn syntax_error_gives_a_line() {
    let e = Config::parse("[node]\ndata_dir = \n", "x.toml").unwrap_err();
    assert!(e.problem.contains("line 2"), "{e}");
    assert!(e.to_string().starts_with("config error in x.toml"));
}

#[test]
fn missing_required_key() {
    let (k, p) = key_of(with("comp_id = \"RINGEX\"\n", ""));
    assert_eq!(k, "fix");
    assert!(p.contains("comp_id"), "{p}");
}

#[test]
fn semantic_errors_name_the_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "comp_id = \"MM2\"",
            "comp_id = \"MM1\"",
            "fix.sessions[1].comp_id",
            "duplicate",
        ),
        (
            "comp_id = \"MM1\"",
            "comp_id = \"RINGEX\"",
            "fix.sessions[0].comp_id",
            "acceptor",
        ),
        (
            "account = 2\n",
            "account = 9\n",
            "fix.sessions[1].account",
            "not listed",
        ),
        (
            "password_hash = \"sha256:72696e6765782d6d6d31:e8",
            "password_hash = \"md5:72696e6765782d6d6d31:e8",
            "fix.sessions[0].password_hash",
            "sha256",
        ),
        (
            "base = \"EUR\"",
            "base = \"GBP\"",
            "instruments[1].base",
            "unknown asset",
        ),
        (
            "quote = \"USD\"",
            "quote = \"BTC\"",
            "instruments[0].quote",
            "different",
        ),
        (
            "symbol = \"EUR-USD\"",
            "symbol = \"BTC-USD\"",
            "instruments[1].symbol",
            "duplicate",
        ),
        (
            "id = 2\nsymbol",
            "id = 1\nsymbol",
            "instruments[1].id",
            "duplicate",
        ),
        (
            "lot_size = \"0.0001\"",
            "lot_size = \"0.000000001\"",
            "instruments[0].lot_size",
            "whole number",
        ),
        (
            "tick_size = \"0.00001\"",
            "tick_size = \"0.000000000001\"",
            "instruments[1].tick_size",
            "whole number",
        ),
        (
            "min_qty = \"0.0001\"",
            "min_qty = \"0.00015\"",
            "instruments[0].min_qty",
            "multiple",
        ),
        (
            "max_qty = \"1000\"",
            "max_qty = \"0.00001\"",
            "instruments[0].max_qty",
            "multiple",
        ),
        (
            "max_qty = \"1000\"",
            "max_qty = \"0\"",
            "instruments[0].max_qty",
            "below",
        ),
        (
            "taker_fee_bps = 5",
            "taker_fee_bps = 20000",
            "instruments[0].taker_fee_bps",
            "10000",
        ),
        (
            "deposits = { BTC = \"1000\",",
            "deposits = { XRP = \"1\", BTC = \"1000\",",
            "accounts[0].deposits.XRP",
            "unknown asset",
        ),
        (
            "deposits = { BTC = \"1000\",",
            "deposits = { BTC = \"0.000000001\",",
            "accounts[0].deposits.BTC",
            "8 decimals",
        ),
        (
            "id = 2\nname = \"mm2\"",
            "id = 1\nname = \"mm2\"",
            "accounts[1].id",
            "duplicate",
        ),
        (
            "id = 1\n# Name for reports.",
            "id = 0\n# Name for reports.",
            "accounts[0].id",
            "fee account",
        ),
        (
            "id = 3\nname = \"EUR\"",
            "id = 2\nname = \"EUR\"",
            "assets[2].id",
            "duplicate",
        ),
        ("decimals = 8", "decimals = 19", "assets[0].decimals", "18"),
        (
            "inbound_ring_size = 65536",
            "inbound_ring_size = 1000",
            "pipeline.inbound_ring_size",
            "power of two",
        ),
        (
            "[pipeline.logic]\nwait = \"block\"",
            "[pipeline.logic]\nwait = \"nap\"",
            "pipeline.logic.wait",
            "nap",
        ),
        (
            "[pipeline.sender]\nwait = \"block\"",
            "[pipeline.sender]\nwait = \"block\"\ncpu = 100000",
            "pipeline.sender.cpu",
            "does not exist",
        ),
        (
            "backend = \"pwrite\"",
            "backend = \"floppy\"",
            "journal.backend",
            "floppy",
        ),
        (
            "durability = \"none\"",
            "durability = \"sometimes\"",
            "journal.durability",
            "sometimes",
        ),
        (
            "segment_size = 67108864",
            "segment_size = 10",
            "journal.segment_size",
            "65536",
        ),
        ("threads = 1", "threads = 0", "fix.threads", "between"),
        ("keep = 3", "keep = 0", "snapshot.keep", "at least"),
    ];
    for (from, to, key, needle) in cases {
        let (k, p) = key_of(with(from, to));
        assert_eq!(&k, key, "edit {to:?}: problem {p}");
        assert!(
            p.contains(needle),
            "edit {to:?}: problem {p:?} lacks {needle:?}"
        );
    }
}

#[test]
fn load_reports_unreadable_file() {
    let e = Config::load(Some(Path::new("/nonexistent/ringex.toml"))).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ringex.toml"));
    assert!(e.problem.contains("cannot read"));
}

#[test]
fn journal_writer_config_follows_the_section() {
    let c = with("durability = \"none\"", "durability = \"interval\"").unwrap();
    let w = c.journal.writer_config();
    assert_eq!(
        w.durability,
        journal::Durability::Interval(std::time::Duration::from_millis(10))
    );
    assert_eq!(w.segment_size, 64 << 20);
}

#[test]
fn replication_errors_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "role = \"standalone\"",
            "role = \"secondary\"",
            "replication.peer",
        ),
        (
            "role = \"standalone\"",
            "role = \"leader\"",
            "replication.role",
        ),
        (
            "policy = \"wait\"",
            "policy = \"maybe\"",
            "replication.policy",
        ),
        ("epoch = 1\n", "epoch = 0\n", "replication.epoch"),
        (
            "max_datagram = 1400",
            "max_datagram = 100",
            "replication.max_datagram",
        ),
        (
            "max_datagram = 1400",
            "max_datagram = 70000",
            "replication.max_datagram",
        ),
        (
            "peer_timeout_ms = 1000",
            "peer_timeout_ms = 5",
            "replication.peer_timeout_ms",
        ),
        ("window = 65536", "window = 1", "replication.window"),
        ("idle = \"sleep\"", "idle = \"nap\"", "replication.idle"),
        (
            "bind = \"127.0.0.1:9879\"",
            "bind = \"nowhere\"",
            "replication.bind",
        ),
    ];
    for (from, to, key) in cases {
        assert!(DEFAULT_TOML.contains(from), "{from}");
        let text = DEFAULT_TOML.replacen(from, to, 1);
        match Config::parse(&text, "t") {
            Ok(_) => panic!("{to} accepted"),
            Err(e) => assert_eq!(&e.key, key, "{to}: {e}"),
        }
    }
    let ok = DEFAULT_TOML.replacen(
        "role = \"standalone\"",
        "role = \"primary\"\npeer = \"127.0.0.1:9880\"",
        1,
    );
    let c = Config::parse(&ok, "t").unwrap();
    assert_eq!(c.replication.role, Role::Primary);
    assert_eq!(c.replication.policy(), replication::Policy::Wait);
}
