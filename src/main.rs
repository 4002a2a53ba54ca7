//! `ringex`: the exchange node's command line (see `ringex --help`).

fn main() -> std::process::ExitCode {
    ringex::cli::main()
}
