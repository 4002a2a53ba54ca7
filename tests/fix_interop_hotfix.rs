//! Interoperability: the `hotfix` crate's FIX 4.4 initiator (an engine nobody on
//! this team wrote) logs on to `ringex fix-echo`, sends a NewOrderSingle and gets
//! it echoed back, sends an unsupported message and gets a BusinessMessageReject,
//! then logs out; and trades on a real node (`ringex run`): order, replace,
//! cancel, each answered by an ExecutionReport.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hotfix::Application;
use hotfix::application::{InboundDecision, OutboundDecision};
use hotfix::config::SessionConfig;
use hotfix::fix44;
use hotfix::initiator::Initiator;
use hotfix::message::{OutboundMessage, Part};
use hotfix::session::Status;
use hotfix::store::InMemoryMessageStore;
use tokio::sync::mpsc;

/// Kills the child process on drop.
struct Echo(Child);

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_echo() -> (Echo, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringex"))
        .args(["fix-echo", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ringex fix-echo");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("read listening line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (Echo(child), port)
}

#[derive(Clone, Debug)]
enum Out {
    Order {
        cl_ord_id: String,
    },
    Cancel {
        cl_ord_id: String,
    },
    /// A limit sell of `qty` BTC-USD at `px` (node test).
    Sell {
        cl_ord_id: String,
        qty: f64,
        px: f64,
    },
    Replace {
        orig: String,
        cl_ord_id: String,
        qty: f64,
        px: f64,
    },
    CancelOrder {
        orig: String,
        cl_ord_id: String,
    },
}

impl OutboundMessage for Out {
    fn write(&self, msg: &mut hotfix::Message) {
        match self {
            Out::Order { cl_ord_id } => {
                msg.set(fix44::CL_ORD_ID, cl_ord_id.as_str());
                msg.set(fix44::SYMBOL, "EUR/USD");
                msg.set(fix44::SIDE, fix44::Side::Buy);
                msg.set(fix44::ORDER_QTY, 100.0);
                msg.set(fix44::ORD_TYPE, fix44::OrdType::Limit);
                msg.set(fix44::PRICE, 1.25);
                msg.set(
                    fix44::TRANSACT_TIME,
                    hotfix::field_types::Timestamp::utc_now(),
                );
            }
            Out::Cancel { cl_ord_id } => {
                msg.set(fix44::CL_ORD_ID, cl_ord_id.as_str());
                msg.set(fix44::ORIG_CL_ORD_ID, "o-1");
                msg.set(fix44::SYMBOL, "EUR/USD");
                msg.set(fix44::SIDE, fix44::Side::Buy);
                msg.set(
                    fix44::TRANSACT_TIME,
                    hotfix::field_types::Timestamp::utc_now(),
                );
            }
            Out::Sell { cl_ord_id, qty, px } => {
                msg.set(fix44::CL_ORD_ID, cl_ord_id.as_str());
                msg.set(fix44::SYMBOL, "BTC-USD");
                msg.set(fix44::SIDE, fix44::Side::Sell);
                msg.set(fix44::ORDER_QTY, *qty);
                msg.set(fix44::ORD_TYPE, fix44::OrdType::Limit);
                msg.set(fix44::PRICE, *px);
                msg.set(
                    fix44::TRANSACT_TIME,
                    hotfix::field_types::Timestamp::utc_now(),
                );
            }
            Out::Replace {
                orig,
                cl_ord_id,
                qty,
                px,
            } => {
                msg.set(fix44::ORIG_CL_ORD_ID, orig.as_str());
                msg.set(fix44::CL_ORD_ID, cl_ord_id.as_str());
                msg.set(fix44::SYMBOL, "BTC-USD");
                msg.set(fix44::SIDE, fix44::Side::Sell);
                msg.set(fix44::ORDER_QTY, *qty);
                msg.set(fix44::ORD_TYPE, fix44::OrdType::Limit);
                msg.set(fix44::PRICE, *px);
                msg.set(
                    fix44::TRANSACT_TIME,
                    hotfix::field_types::Timestamp::utc_now(),
                );
            }
            Out::CancelOrder { orig, cl_ord_id } => {
                msg.set(fix44::ORIG_CL_ORD_ID, orig.as_str());
                msg.set(fix44::CL_ORD_ID, cl_ord_id.as_str());
                msg.set(fix44::SYMBOL, "BTC-USD");
                msg.set(fix44::SIDE, fix44::Side::Sell);
                msg.set(
                    fix44::TRANSACT_TIME,
                    hotfix::field_types::Timestamp::utc_now(),
                );
            }
        }
    }
    fn message_type(&self) -> &str {
        match self {
            Out::Order { .. } | Out::Sell { .. } => "D",
            Out::Cancel { .. } | Out::CancelOrder { .. } => "F",
            Out::Replace { .. } => "G",
        }
    }
}

#[derive(Debug)]
enum Event {
    Logon,
    Inbound {
        msg_type: String,
        cl_ord_id: Option<String>,
        ref_msg_type: Option<String>,
        exec_type: Option<String>,
        text: Option<String>,
    },
}

struct App(mpsc::UnboundedSender<Event>);

#[async_trait::async_trait]
impl Application for App {
    type Outbound = Out;
    async fn on_outbound_message(&self, _: &Out) -> OutboundDecision {
        OutboundDecision::Send
    }
    async fn on_inbound_message(&self, msg: &hotfix::Message) -> InboundDecision {
        let msg_type: &str = msg.header().get(fix44::MSG_TYPE).unwrap_or("?");
        let cl_ord_id: Option<&str> = msg.get(fix44::CL_ORD_ID).ok();
        let ref_msg_type: Option<&str> = msg.get(fix44::REF_MSG_TYPE).ok();
        let exec_type: Option<&str> = msg
            .get_raw(fix44::EXEC_TYPE)
            .and_then(|v| std::str::from_utf8(v).ok());
        let text: Option<&str> = msg.get(fix44::TEXT).ok();
        let _ = self.0.send(Event::Inbound {
            msg_type: msg_type.to_string(),
            cl_ord_id: cl_ord_id.map(str::to_string),
            ref_msg_type: ref_msg_type.map(str::to_string),
            exec_type: exec_type.map(str::to_string),
            text: text.map(str::to_string),
        });
        InboundDecision::Accept
    }
    async fn on_logout(&mut self, _: &str) {}
    async fn on_logon(&mut self) {
        let _ = self.0.send(Event::Logon);
    }
    async fn on_state_change(&self, _: &Status, _: &Status) {}
}

fn config(port: u16) -> SessionConfig {
    config_for(port, "TW", "ISLD")
}

fn config_for(port: u16, sender: &str, target: &str) -> SessionConfig {
    SessionConfig {
        begin_string: "FIX.4.4".into(),
        sender_comp_id: sender.into(),
        target_comp_id: target.into(),
        data_dictionary_path: None,
        connection_host: "127.0.0.1".into(),
        connection_port: port,
        tls_config: None,
        heartbeat_interval: 5,
        logon_timeout: 10,
        logout_timeout: 2,
        reconnect_interval: 1,
        reset_on_logon: true,
        schedule: None,
        validation: Default::default(),
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("hotfix event within 10 s")
        .expect("channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotfix_initiator_logs_on_and_gets_its_order_echoed() {
    let (_echo, port) = start_echo();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let initiator = Initiator::start(config(port), App(tx), InMemoryMessageStore::default())
        .await
        .expect("initiator starts");
    assert!(matches!(next(&mut rx).await, Event::Logon));

    initiator
        .send(Out::Order {
            cl_ord_id: "o-1".into(),
        })
        .await
        .expect("order sent");
    match next(&mut rx).await {
        Event::Inbound {
            msg_type,
            cl_ord_id,
            ..
        } => {
            assert_eq!(msg_type, "D");
            assert_eq!(cl_ord_id.as_deref(), Some("o-1"));
        }
        other => panic!("expected the echoed order, got {other:?}"),
    }

    initiator
        .send(Out::Cancel {
            cl_ord_id: "c-1".into(),
        })
        .await
        .expect("cancel sent");
    match next(&mut rx).await {
        Event::Inbound {
            msg_type,
            ref_msg_type,
            ..
        } => {
            assert_eq!(msg_type, "j");
            assert_eq!(ref_msg_type.as_deref(), Some("F"));
        }
        other => panic!("expected BusinessMessageReject, got {other:?}"),
    }

    initiator.shutdown(false).await.expect("clean logout");
}

/// The next ExecutionReport for `cl_ord_id`: its ExecType(150).
async fn exec_report(rx: &mut mpsc::UnboundedReceiver<Event>, cl: &str) -> String {
    loop {
        match next(rx).await {
            Event::Inbound {
                msg_type,
                cl_ord_id,
                exec_type,
                text,
                ..
            } => {
                assert_ne!(msg_type, "j", "business reject: {text:?}");
                assert_ne!(msg_type, "9", "cancel reject: {text:?}");
                if msg_type == "8" && cl_ord_id.as_deref() == Some(cl) {
                    return exec_type.unwrap_or_default();
                }
            }
            Event::Logon => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotfix_initiator_orders_replaces_and_cancels_on_the_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    // hotfix sends no Username/Password: MM1 without credentials for this test.
    let cfg = common::write_config(
        dir.path(),
        &[
            ("username = \"MM1\"\n", ""),
            (
                "password_hash = \"sha256:72696e6765782d6d6d31:e8a5812d34fe45ee6bab2e43f2819370afd3fba44b16bc14806cec2970d073a2\"\n",
                "",
            ),
        ],
    );
    let node = common::NodeProc::start(&cfg, &dir.path().join("data"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let initiator = Initiator::start(
        config_for(node.addr.port(), "MM1", "RINGEX"),
        App(tx),
        InMemoryMessageStore::default(),
    )
    .await
    .expect("initiator starts");
    assert!(matches!(next(&mut rx).await, Event::Logon));

    let sell = |cl: &str, qty, px| Out::Sell {
        cl_ord_id: cl.into(),
        qty,
        px,
    };
    initiator
        .send(sell("H1", 0.5, 30000.0))
        .await
        .expect("order sent");
    assert_eq!(exec_report(&mut rx, "H1").await, "0", "new");

    initiator
        .send(Out::Replace {
            orig: "H1".into(),
            cl_ord_id: "H2".into(),
            qty: 0.4,
            px: 30001.0,
        })
        .await
        .expect("replace sent");
    assert_eq!(exec_report(&mut rx, "H2").await, "5", "replaced");

    initiator
        .send(Out::CancelOrder {
            orig: "H2".into(),
            cl_ord_id: "H3".into(),
        })
        .await
        .expect("cancel sent");
    assert_eq!(exec_report(&mut rx, "H3").await, "4", "cancelled");

    initiator.shutdown(false).await.expect("clean logout");
    drop(node);
}
