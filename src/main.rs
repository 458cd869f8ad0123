//! The ccbulk binary: parse the command line, set up logging and the runtime, run, and turn the
//! outcome into an exit code. Everything else lives in the library.

fn main() {
    ignore_file_size_signal();
    let cli = ccbulk::cli::Cli::read(std::env::args_os()).unwrap_or_else(|e| e.exit());
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

/// A file-size limit (`ulimit -f`) would kill the process with SIGXFSZ, silently, mid-write.
/// Ignored, the write fails with EFBIG instead and takes the documented path: a message naming
/// the file, the summary, exit 3.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN at startup, before any thread exists,
    // installs no handler code and touches no Rust state.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// `-v` logs each row's outcome, `-vv` each call; `RUST_LOG` overrides. Logs go to stderr, above
/// the progress bar when one is drawn, and never carry a token: no header or secret is ever a
/// log field.
fn init_logging(cli: &ccbulk::cli::Cli) {
    use ccbulk::cli::{Command, LogFormat};
    // (quiet, verbose, log format) of the commands that have them.
    let logs = match &cli.command {
        Command::Update(a) | Command::Replay(a) => Some(&a.report),
        Command::Plan(a) => Some(&a.shared.report),
        Command::Export(a) => Some(&a.report),
        _ => None,
    }
    .map(|o| (o.quiet, o.verbose, o.log_format));
    let level = match logs.map(|(quiet, verbose, _)| (quiet, verbose)) {
        Some((true, _)) => "error",
        None | Some((false, 0)) => "warn",
        Some((false, 1)) => "ccbulk=info",
        Some((false, _)) => "ccbulk=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ccbulk::progress::StderrLogs)
        .with_target(false);
    let _ = match logs.map_or(LogFormat::Text, |(_, _, format)| format) {
        // Colour codes only on a terminal, and not under NO_COLOR: cron mails and log files stay
        // plain text.
        LogFormat::Text => builder
            .with_ansi(ccbulk::progress::colour_on_stderr())
            .try_init(),
        // One object per line, the event's fields at the top level beside level and timestamp.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}
