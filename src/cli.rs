//! Command-line interface: parses arguments and runs one command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};

#[derive(Parser)]
#[command(
    name = "ringex",
    version,
    about = "ringex: an LMAX-style exchange node"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a node until SIGINT/SIGTERM: FIX gateway, journal, business logic;
    /// as a replication primary or secondary with `--role` (or `[replication]`).
    ///
    /// A pair: `ringex run --role secondary --primary P:PORT --repl-bind S:PORT`
    /// and `ringex run --role primary --secondary S:PORT --repl-bind P:PORT`
    /// (same epoch, instruments, accounts and sessions). The secondary opens no
    /// FIX listener until `ringex promote --data-dir ITS_DIR`.
    Run {
        /// Configuration file (default: the built-in one, see `ringex config default`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default: the configuration's `node.data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Replication role: standalone, primary or secondary (overrides `replication.role`).
        #[arg(long)]
        role: Option<crate::config::Role>,
        /// For `--role secondary`: the primary's replication address HOST:PORT
        /// (overrides `replication.peer`).
        #[arg(long, conflicts_with = "secondary")]
        primary: Option<std::net::SocketAddr>,
        /// For `--role primary`: the secondary's replication address HOST:PORT
        /// (overrides `replication.peer`).
        #[arg(long)]
        secondary: Option<std::net::SocketAddr>,
        /// Local UDP address for replication (overrides `replication.bind`).
        #[arg(long)]
        repl_bind: Option<std::net::SocketAddr>,
    },
    /// Tell the secondary running on a data directory that its primary is gone:
    /// it stops receiving, applies everything it received, seeds its FIX session
    /// stores from the replicated stream, opens its FIX gateway and carries on as
    /// the primary (same order ids and balances). Works through the control file
    /// DATA_DIR/PROMOTE, so it runs on the secondary's machine. Exit 0 when the
    /// node took the request, 1 when none did within the timeout.
    Promote {
        /// Configuration file (only for `node.data_dir` when --data-dir is absent).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The secondary's data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Seconds to wait for the node to take the request.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Start a node on the built-in configuration in a temporary directory, drive
    /// it with the FIX load generator, print a summary, clean up.
    Demo {
        /// How long the load runs, seconds (after a 2 s warm-up).
        #[arg(long, default_value_t = 20)]
        secs: u64,
        /// Offered load, requests per second (all sessions together).
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Node benchmarks (the component benchmarks are `perf bench ...`).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Journal tools: inspect, verify, dump (read-only); repair.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// FIX 4.4 acceptor with the acceptance-suite echo application (acceptor
    /// ISLD, initiators TW and TW44, sequence numbers reset on logon): echoes
    /// NewOrderSingle and SecurityDefinition, BusinessMessageReject for the rest.
    FixEcho {
        /// TCP port to listen on (0: any free port; the chosen one is printed).
        #[arg(long)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Directory for session stores (sequence numbers, sent messages); in
        /// memory when absent.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// The business-logic state recomputed offline from a data directory (newest
    /// snapshot + journal tail): prints `seq N hash H`, balances and open orders.
    StateHash {
        /// Configuration file (default: the built-in one).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default: the configuration's `node.data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Ignore snapshots: replay the whole journal (the reference replay).
        #[arg(long)]
        full_replay: bool,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Throughput of the inbound pipeline (journal + business logic) with a live
    /// secondary (replication in the path; a second in-process node over
    /// loopback UDP) and without, in the same run.
    Node {
        /// Orders per scenario (half buys, half crossing sells).
        #[arg(long, default_value_t = 200_000)]
        orders: u64,
        /// Replication datagram size (1400: Ethernet MTU; loopback allows up to 65507).
        #[arg(long, default_value_t = 1400)]
        max_datagram: usize,
        /// Times to run both scenarios (alternating).
        #[arg(long, default_value_t = 1)]
        runs: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Segments, sequence range, record count, bytes, snapshots.
    Inspect {
        /// Journal directory (or a node data directory).
        dir: PathBuf,
    },
    /// Check every record's CRC and the sequence chain. Exit 0: healthy;
    /// 1: torn tail (cut off when the node starts); 2: damaged or unreadable.
    Verify {
        /// Journal directory (or a node data directory).
        dir: PathBuf,
    },
    /// Decoded messages, one per line.
    Dump {
        /// Journal directory (or a node data directory).
        dir: PathBuf,
        /// First sequence to print (default: the oldest record).
        #[arg(long)]
        from: Option<u64>,
        /// Most records to print.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Cut a torn tail (a partial last write) off the journal, saying what was
    /// cut: segment, offset, bytes, reason. Damage before the tail is refused
    /// unless --cut-damage. The node must be stopped. Exit 0: repaired or nothing
    /// to repair; 1: --dry-run found something to cut; 2: unreadable, or held by
    /// a running node; 3: damage before the tail, refused (nothing changed).
    Repair {
        /// Journal directory (or a node data directory).
        dir: PathBuf,
        /// Say what would be cut; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also cut at damage before the tail: every record after the first bad
        /// one is discarded and later segments are moved to quarantine/.
        #[arg(long)]
        cut_damage: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check a configuration file (or the built-in default); exit 0 when valid.
    Check {
        /// The file; the built-in default when absent.
        file: Option<PathBuf>,
    },
    /// Print the built-in default configuration (every key documented).
    Default,
    /// Print the `password_hash` value for a password (random salt).
    HashPassword {
        /// The password.
        password: String,
    },
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            config,
            data_dir,
            role,
            primary,
            secondary,
            repl_bind,
        } => ExitCode::from(crate::run::run(crate::run::RunOptions {
            config,
            data_dir,
            role,
            peer: primary.or(secondary),
            repl_bind,
        })),
        Cmd::Promote {
            config,
            data_dir,
            timeout_secs,
        } => ExitCode::from(crate::run::request_promotion(
            config,
            data_dir,
            std::time::Duration::from_secs(timeout_secs),
        )),
        Cmd::Demo { secs, rate } => ExitCode::from(crate::demo::demo(secs, rate)),
        Cmd::Config(c) => config_cmd(c),
        Cmd::Bench(BenchCmd::Node {
            orders,
            max_datagram,
            runs,
            json,
        }) => ExitCode::from(crate::bench_node::run(
            &crate::bench_node::NodeBenchOptions {
                orders,
                max_datagram,
                runs,
                json,
            },
        )),
        Cmd::Journal(j) => journal_cmd(j),
        Cmd::StateHash {
            config,
            data_dir,
            full_replay,
        } => ExitCode::from(crate::run::state_hash(config, data_dir, full_replay)),
        Cmd::FixEcho {
            port,
            bind,
            data_dir,
        } => fix_echo(std::net::SocketAddr::new(bind, port), data_dir),
    }
}

/// `ringex fix-echo`: runs until killed; one log line per lifecycle event.
fn fix_echo(addr: std::net::SocketAddr, data_dir: Option<PathBuf>) -> ExitCode {
    use gateway::fix::echo::{self, EchoApp};
    use gateway::fix::net::{Gateway, GatewayConfig};
    let mut cfg = GatewayConfig::new(addr, echo::sessions());
    cfg.settings = echo::settings();
    cfg.data_dir = data_dir;
    match Gateway::start(cfg, |_| EchoApp::new(true)) {
        Ok(gw) => {
            // The line a test harness waits for (stdout is line-buffered).
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

fn journal_cmd(j: JournalCmd) -> ExitCode {
    use crate::journal_tools as jt;
    let mut out = std::io::stdout().lock();
    match j {
        JournalCmd::Inspect { dir } => match jt::inspect(&dir, &mut out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ringex journal inspect: {e}");
                ExitCode::from(jt::DAMAGED)
            }
        },
        JournalCmd::Verify { dir } => ExitCode::from(jt::verify(&dir, &mut out)),
        JournalCmd::Repair {
            dir,
            dry_run,
            cut_damage,
        } => ExitCode::from(jt::repair(
            &dir,
            dry_run,
            cut_damage,
            &mut out,
            &mut std::io::stderr().lock(),
        )),
        JournalCmd::Dump { dir, from, limit } => match jt::dump(&dir, from, limit, &mut out) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ringex journal dump: {e}");
                ExitCode::from(jt::DAMAGED)
            }
        },
    }
}

fn config_cmd(c: ConfigCmd) -> ExitCode {
    match c {
        ConfigCmd::Check { file } => match Config::load(file.as_deref()) {
            Ok(cfg) => {
                let r = cfg.resolve();
                println!(
                    "ok: {} FIX sessions, {} instruments, {} accounts, {} deposits",
                    cfg.fix.sessions.len(),
                    r.instruments.len(),
                    cfg.accounts.len(),
                    r.deposits.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ringex: {e}");
                ExitCode::from(2)
            }
        },
        ConfigCmd::Default => {
            print!("{}", config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        ConfigCmd::HashPassword { password } => {
            let salt = random_salt();
            println!("{}", config::hash_password(&salt, password.as_bytes()));
            ExitCode::SUCCESS
        }
    }
}

/// 16 bytes of salt from the OS (falls back to time and pid if unreadable).
fn random_salt() -> Vec<u8> {
    use std::io::Read;
    let mut salt = vec![0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mix = t ^ (u128::from(std::process::id()) << 64);
        salt.copy_from_slice(&mix.to_le_bytes());
    }
    salt
}
