//! `ringex`: the exchange node's command line.
//!
//! Commands today:
//! - `ringex fix-echo --port PORT [--data-dir DIR]`: the FIX 4.4 acceptor with the
//!   acceptance-suite test application (see `gateway::fix::echo`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gateway::fix::echo::{self, EchoApp};
use gateway::fix::net::{Gateway, GatewayConfig};

#[derive(Parser)]
#[command(name = "ringex", version, about = "ringex exchange node")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// FIX 4.4 acceptor with the acceptance-suite echo application: acceptor
    /// ISLD, initiators TW and TW44, sequence numbers reset on logon.
    FixEcho {
        /// TCP port to listen on (0: any free port; the chosen one is printed).
        #[arg(long)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        bind: IpAddr,
        /// Directory for session stores (sequence numbers, sent messages);
        /// in memory when absent.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::FixEcho {
            port,
            bind,
            data_dir,
        } => {
            let mut cfg = GatewayConfig::new(SocketAddr::new(bind, port), echo::sessions());
            cfg.settings = echo::settings();
            cfg.data_dir = data_dir;
            match Gateway::start(cfg, |_| EchoApp::new(true)) {
                Ok(gw) => {
                    // The one line a test harness waits for.
                    println!("fix-echo listening on {}", gw.local_addr());
                    gw.wait();
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ringex fix-echo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
