//! The ccbulk binary: parse the command line, set up logging and the runtime, run, and turn the
//! outcome into an exit code. Everything else lives in the library.

use clap::Parser;

fn main() {
    let cli = ccbulk::cli::Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ccbulk: cannot start the runtime: {e}");
            std::process::exit(ccbulk::exit::SETUP);
        }
    };
    let code = match runtime.block_on(ccbulk::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ccbulk: {e:#}");
            ccbulk::exit::SETUP
        }
    };
    // Do not wait for lingering tasks (an idle sandbox, a stuck connection) at shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}

/// `-v` logs each row's outcome, `-vv` each call; `RUST_LOG` overrides. Logs go to stderr and
/// never carry a token: no header or secret is ever a log field.
fn init_logging(cli: &ccbulk::cli::Cli) {
    let level = match &cli.command {
        ccbulk::cli::Command::Update(a)
        | ccbulk::cli::Command::Replay(a)
        | ccbulk::cli::Command::Plan(a) => match (a.quiet, a.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "ccbulk=info",
            (false, _) => "ccbulk=debug",
        },
        ccbulk::cli::Command::Sandbox(_) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: cron mails and log files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
