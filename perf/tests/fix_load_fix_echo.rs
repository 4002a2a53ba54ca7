//! The load generator against the real FIX acceptor (`gateway::fix::net` with
//! the `ringex fix-echo` application, in process): every NewOrderSingle is
//! echoed back, the session layer (logon, sequence numbers, heartbeats, logout)
//! is the gateway's own. Counts are asserted, never timings.

use std::time::Duration;

use gateway::fix::echo::{self, EchoApp};
use gateway::fix::net::{Gateway, GatewayConfig};
use perf::fixload::{Expect, LoadConfig, SessionSpec, run};

#[test]
fn every_order_is_echoed_through_the_real_acceptor() {
    let mut gcfg = GatewayConfig::new("127.0.0.1:0".parse().unwrap(), echo::sessions());
    gcfg.settings = echo::settings();
    let gw = Gateway::start(gcfg, |_| EchoApp::new(false)).unwrap();
    let cfg = LoadConfig {
        addr: gw.local_addr(),
        target_comp_id: echo::ACCEPTOR_COMP_ID.into(),
        sessions: echo::INITIATOR_COMP_IDS
            .iter()
            .map(|s| SessionSpec::parse(s).unwrap())
            .collect(),
        rate: 400,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(500),
        expect: Expect::Echo,
        response_timeout: Duration::from_secs(10),
        floor: false,
        ..LoadConfig::default()
    };
    let report = run(&cfg, &mut |_| {}).unwrap();
    gw.stop();
    let fix = &report.fix;
    assert!(fix.problems.is_empty(), "{:?}", fix.problems);
    assert_eq!(fix.sent, 800);
    assert_eq!(fix.acks, 800);
    assert_eq!(fix.rejects + fix.errors + fix.timeouts, 0);
    assert_eq!(fix.sent_measured, 600);
    assert_eq!(fix.hist.len(), 600);
}
