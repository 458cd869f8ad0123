//! ccbulk: update the account info of many CloudCockpit customers from one spreadsheet.
//!
//! Data flows one way through tasks joined by bounded channels: the CSV reader (a blocking
//! thread) sends rows to a fixed pool of workers, which take them in per-customer order, pace
//! every call through one pacer, retry, and send each row's outcome to the results writer (the one
//! owner of the file); the writer's tally becomes the summary. Invalid rows (and, in a dry run,
//! every row) go from the reader straight to the writer. `run` is the whole program; `main` only
//! maps its result to an exit code.
//!
//! Modules are layered: each uses only modules in the layers below it (tests aside).
//! 1. `exit`, `rate`, `files`, `formula`, `text`, `stop`: no ccbulk imports.
//! 2. `customer`, `lock`, `transport`, `reasons`: the data model, the lock file, how servers are
//!    reached, failure reasons grouped.
//! 3. `input` (the CSV in), `list` (the list call's pages), `auth` (tokens), `pacer` (when a call
//!    may start).
//! 4. `outcome` (what a row became), `api` (one call and its answer).
//! 5. `results`, `undo`, `report`, `progress`, `systematic`: what is made of outcomes.
//! 6. `pipeline` (`retry`: what to do with an answer, then `workers`: the worker pool),
//!    `signals` (Ctrl-C stops the run).
//! 7. `cli`, `config`: flags to settings. `sandbox` (the simulated API) stands apart: it uses
//!    only `customer`, `rate` and `signals`.
//! 8. `cmd` and this file: the commands.

pub(crate) mod api;
pub(crate) mod auth;
pub mod cli;
pub(crate) mod cmd;
pub(crate) mod config;
pub mod customer;
pub mod exit;
pub(crate) mod files;
pub(crate) mod formula;
pub mod input;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod outcome;
pub(crate) mod pacer;
pub(crate) mod pipeline;
pub mod progress;
pub(crate) mod rate;
pub(crate) mod reasons;
pub(crate) mod report;
pub(crate) mod results;
pub mod sandbox;
mod signals;
pub(crate) mod stop;
pub(crate) mod systematic;
pub(crate) mod text;
pub(crate) mod transport;
pub(crate) mod undo;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use crate::cli::{Cli, Command, Mode};
use crate::config::{Config, Job, SetupError};
use crate::input::{Input, Source};
use crate::outcome::{Counters, Outcome, OutcomeKind};
use crate::pipeline::workers::{self, Action, Dispatcher};
use crate::results::WriterSetup;
use crate::signals::spawn_signal_handler_then;
use crate::stop::{Stop, Stopper};

/// Runs a parsed command line; returns the exit code. Setup problems come back as errors
/// (exit 2); everything after the first row is read is reported through the code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Sandbox(a) => {
            let config = sandbox::SandboxConfig {
                latency: a.latency.into(),
                fail_rate: a.fail_rate,
                throttle: a.throttle,
                token_ttl: a.token_ttl.into(),
                seed: a.seed,
                customers: usize::try_from(a.customers).unwrap_or(usize::MAX),
                ..sandbox::SandboxConfig::default()
            };
            sandbox::serve_cli(config, a.listen).await?;
            Ok(exit::OK)
        }
        Command::Update(a) => run_job(Config::from_args(Job::Update, a)?).await,
        Command::Replay(a) => run_job(Config::from_args(Job::Replay, a)?).await,
        Command::Plan(a) => run_job(Config::from_args(Job::Plan, a.into())?).await,
        Command::Completions(a) => {
            cmd::to_stdout(&cmd::completions::script(a.shell))?;
            Ok(exit::OK)
        }
        Command::Man => {
            let mut page = Vec::new();
            cmd::man::write(&mut page)?;
            cmd::to_stdout(&page)?;
            Ok(exit::OK)
        }
        Command::Export(a) => cmd::export::run(a).await,
    }
}

/// Counts rows of a regular file in the background so the progress display knows the total
/// (less the `already` rows a resumed run skips).
fn count_rows_in_background(config: &Config, counters: Arc<Counters>, delimiter: u8, already: u64) {
    // Only the display uses the total: with -q nobody sees it, so the second read is skipped.
    let (Source::Path(path), false) = (&config.source, config.quiet) else {
        return;
    };
    // A workbook is not text to count lines in (its rows are not counted ahead).
    if input::workbook::is_workbook(path) {
        return;
    }
    let path = path.clone();
    std::thread::spawn(move || {
        let Some(n) = input::count_records(&path, delimiter) else {
            return;
        };
        counters.total.fetch_max(
            n.saturating_sub(1).saturating_sub(already),
            Ordering::Relaxed,
        );
    });
}

/// Sends from a blocking thread: false once the receiver is gone. `blocking_send` enters a small
/// executor every time (a waker made and dropped, a tenth of the reader's time, BENCHMARKS.md);
/// most sends find room, so it is used only when the channel is full.
fn send_from_thread<T>(tx: &tokio::sync::mpsc::Sender<T>, value: T) -> bool {
    match tx.try_send(value) {
        Ok(()) => true,
        Err(tokio::sync::mpsc::error::TrySendError::Full(value)) => tx.blocking_send(value).is_ok(),
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Paths the run writes, checked before any file is touched: none is a symlink (a link planted
/// there must not redirect the write), and the summary JSON's folder takes a new file (it is
/// written only at the end, after rows were sent).
fn check_paths(config: &Config) -> Result<(), SetupError> {
    let mut paths = vec![
        (config.results.clone(), "the results file"),
        (lock::lock_path(&config.results), "the lock file"),
    ];
    if let Some(u) = &config.undo {
        paths.push((u.clone(), "the undo file"));
        paths.push((lock::lock_path(u), "the lock file"));
    }
    // `-` is standard output. The temporary file has a fresh random name, created exclusively.
    let summary = config
        .summary_json
        .as_ref()
        .filter(|s| s.as_path() != std::path::Path::new("-"));
    if let Some(s) = summary {
        paths.push((s.clone(), "--summary-json"));
    }
    for (path, what) in &paths {
        files::refuse_symlink(path, what).map_err(SetupError)?;
    }
    if let Some(s) = summary {
        files::check_folder_writable(s, "--summary-json").map_err(SetupError)?;
    }
    Ok(())
}

/// update, replay or plan, from checked settings to exit code. Every fallible step of setup
/// comes before the first file is created (a setup error, exit 2, leaves nothing behind).
pub async fn run_job(mut config: Config) -> anyhow::Result<i32> {
    let started_wall = SystemTime::now();
    let started = Instant::now();
    check_paths(&config)?;
    // Before the results file is looked at: a second run on the same results (an overlapping
    // cron job) is refused with a clear message, not with "already exists" or a mixed file. The
    // undo file is locked the same way: two runs with different results but one undo file would
    // otherwise interleave their lines. (Lock files go with the run, setup errors included.)
    let _lock = lock::ResultsLock::acquire(&config.results).map_err(SetupError)?;
    let _undo_lock = match &config.undo {
        Some(u) => Some(lock::ResultsLock::acquire(u).map_err(SetupError)?),
        None => None,
    };

    // The built-in sandbox stands in for the API, with its own credentials.
    let _sandbox = if config.sandbox && !config.dry_run {
        let sb = sandbox::Sandbox::start(
            sandbox::SandboxConfig::default(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .map_err(|e| SetupError(format!("cannot start the sandbox: {e}")))?;
        let defaults = sandbox::SandboxConfig::default();
        config.base_url = sb.base_url();
        config.token = auth::TokenSource::Client {
            id: defaults.client_id,
            secret: secrecy::SecretString::from(defaults.client_secret),
            token_url: sb.token_url(),
            scope: cli::ENTRA_SCOPE.to_string(),
        };
        if !config.quiet {
            eprintln!("ccbulk: using the built-in sandbox at {}", sb.base_url());
        }
        Some(sb)
    } else {
        None
    };

    let source = config.source.clone();
    let options = config.input_options.clone();
    let mut input = tokio::task::spawn_blocking(move || Input::open(&source, options)).await??;
    if config.mode == Mode::Replace && !config.dry_run && config.job != Job::Plan {
        input.columns.check_replace(&input.name)?;
    }
    if config.job == Job::Replay && input.columns.prior_outcome.is_none() {
        return Err(SetupError(format!(
            "{} is not a ccbulk results file (no ccbulk_outcome column)",
            input.name
        ))
        .into());
    }

    // The results file: never clobbered by accident; on resume, read back (repaired later).
    let exists = config.results.exists();
    let mut done = results::RowSet::default();
    // Failed and invalid rows an interrupted run already recorded: they still decide the exit
    // code and the replay hint of the run that finishes the job.
    let mut prior_unsuccessful = 0u64;
    if exists && !config.resume && !config.overwrite {
        return Err(SetupError(format!(
            "{} already exists: add --resume to continue that run, or --overwrite to start again (or choose --results PATH)",
            config.results.display()
        ))
        .into());
    }
    // The undo file is checked (not yet touched) before the results file is repaired or
    // created: an earlier run's undo file is never clobbered, and a refused run changes nothing.
    let undo_checked = match &config.undo {
        Some(path) => Some(
            undo::UndoWriter::check(undo::UndoSetup {
                path: path.clone(),
                layout: undo::Layout::of(&input.columns),
                delimiter: input.delimiter,
                null_marker: config.input_options.null_marker.clone(),
                resume: config.resume,
                overwrite: config.overwrite,
                bom: input.bom,
            })
            .map_err(SetupError)?,
        ),
        None => None,
    };
    let echo_names: Vec<String> = input
        .columns
        .echo
        .iter()
        .map(|&i| input.columns.names[i].clone())
        .collect();
    let append = exists && config.resume;
    let mut prior = None;
    if append {
        let p =
            results::read_prior(&config.results, input.delimiter, &echo_names).map_err(|e| {
                SetupError(format!(
                    "cannot resume from {}: {e}",
                    config.results.display()
                ))
            })?;
        if !p.header_torn && p.input_columns != echo_names {
            return Err(SetupError(format!(
                "cannot resume: the columns of {} ({}) do not match those of {} ({}); is it the same input?",
                config.results.display(),
                p.input_columns.join(", "),
                input.name,
                echo_names.join(", ")
            ))
            .into());
        }
        // Resuming a dry run's or a plan's file for real would skip rows that were never sent.
        if p.not_sent > 0 && !config.dry_run && config.job != Job::Plan {
            return Err(SetupError(format!(
                "cannot resume: {} records a dry run or a plan ({} rows marked valid or would-change, never sent); start again with --overwrite",
                config.results.display(),
                p.not_sent
            ))
            .into());
        }
        prior = Some(p);
    }
    let writer_setup = WriterSetup {
        path: config.results.clone(),
        echo_names,
        echo: input.columns.echo.clone(),
        delimiter: input.delimiter,
        append,
        bom: input.bom,
        customer_ids: input.columns.keyed,
    };
    // The connection (proxy, base URL) and the first token before anything is written or sent:
    // an unusable proxy or URL is a setup error, and wrong credentials or an unreachable token
    // endpoint stop the run here, at once, saying what to check (exit 3).
    let online = if config.dry_run {
        None
    } else {
        let api =
            api::Api::new(&config.base_url, &config.tenant, config.timeout).map_err(SetupError)?;
        let http = transport::token_client(config.sandbox).map_err(SetupError)?;
        let patience = auth::Patience {
            timeout: config.timeout,
            max_attempts: config.max_attempts,
            backoff_base: config.backoff_base,
        };
        let auth =
            Arc::new(auth::Auth::new(config.token.clone(), http.clone()).with_patience(patience));
        if let Err(e) = auth.token().await {
            return Ok(refused_at_start(&config, &e, started_wall, started));
        }
        Some((api, auth))
    };

    // Setup is done: from here on files are written.
    if let Some(p) = prior {
        // Only now that the resume goes ahead: a refused one leaves the file untouched.
        results::repair(&config.results, &p)
            .map_err(|e| SetupError(format!("cannot repair {}: {e}", config.results.display())))?;
        if p.torn_bytes > 0 && !config.quiet {
            let what = if p.header_torn {
                "a torn header"
            } else {
                "a torn last line"
            };
            eprintln!(
                "ccbulk: repaired {}: cut {what} ({} bytes) left by an interrupted write",
                config.results.display(),
                p.torn_bytes
            );
        }
        if !config.quiet {
            eprintln!(
                "ccbulk: resuming: skipping the {} rows {} already records",
                p.done.len(),
                config.results.display()
            );
        }
        prior_unsuccessful = p.unsuccessful;
        done = p.done;
    }
    let undo = match undo_checked {
        Some(c) => Some(c.open().map_err(SetupError)?),
        None => None,
    };
    let file = match results::open_results(&writer_setup) {
        Ok(f) => f,
        Err(e) => {
            if let Some(u) = undo {
                u.discard();
            }
            return Err(
                SetupError(format!("cannot write {}: {e}", config.results.display())).into(),
            );
        }
    };
    let undo = undo.map(|u| Arc::new(undo::Shared::new(u)));

    let stopper = Stopper::default();
    let counters = Arc::new(Counters::default());
    count_rows_in_background(&config, counters.clone(), input.delimiter, done.len());

    let (out_tx, out_rx) = mpsc::channel::<Outcome>(1024);
    let writer = results::spawn_writer(
        file,
        writer_setup.echo.clone(),
        writer_setup.customer_ids,
        out_rx,
        counters.clone(),
    );
    let on_outcome = {
        let (limit, stopper, counters) = (config.max_failures, stopper.clone(), counters.clone());
        let failed = std::sync::atomic::AtomicU64::new(0);
        // An update without --max-failures stops when its first answered rows all fail alike;
        // a replay's rows failed before, so failing again proves nothing systematic.
        let systematic =
            (config.job == Job::Update && limit.is_none()).then(systematic::Watch::default);
        move |outcome: &Outcome| {
            if let Some((status, error)) = systematic.as_ref().and_then(|w| w.see(outcome)) {
                stopper.stop(Stop::Systematic { status, error });
            }
            if outcome.kind != OutcomeKind::Failed {
                return;
            }
            let failed = failed.fetch_add(1, Ordering::Relaxed) + 1;
            // The writer has not counted this row yet.
            let done = counters.done.load(Ordering::Relaxed) + 1;
            if let Some(limit) = limit
                && limit.reached(failed, done)
            {
                stopper.stop(Stop::MaxFailures(failed));
            }
        }
    };

    // A second Ctrl-C quits at once; the summary JSON is still written, from the live counts.
    let on_quit = {
        let (config, counters) = (config.clone(), counters.clone());
        move || {
            let Some(path) = &config.summary_json else {
                return;
            };
            let mut summary = report::Summary::new(
                config.job.name(),
                &config.source.display(),
                &config.results,
                started_wall,
                started.elapsed(),
                &counters.tally(),
                report::CallCounts::default(),
                0,
            );
            summary.exit_code = exit::INTERRUPTED;
            summary.stopped = Some(
                "interrupted twice: quit at once; the rows in flight are not recorded (--resume sends them)"
                    .into(),
            );
            summary.resume_command = Some(config.resume_command());
            let _ = summary.write_json(path);
        }
    };
    let signals = spawn_signal_handler_then(stopper.clone(), config.quiet, Box::new(on_quit));

    // Dispatcher and workers (not for dry runs: no network at all).
    let (row_tx, row_rx) = mpsc::channel(1024);
    let dispatcher = if let Some((api, auth)) = online {
        let d = Arc::new(Dispatcher {
            api,
            auth,
            pacer: pacer::Pacer::new(pacer::PaceSettings {
                rate: config.rate,
                burst: config.burst,
                adapt: config.adapt,
            }),
            settings: workers::Settings {
                action: match (config.job, config.mode) {
                    (Job::Plan, _) => Action::Plan,
                    (_, Mode::Merge) => Action::Merge,
                    (_, Mode::Replace) => Action::Replace,
                },
                concurrency: config.concurrency,
                max_attempts: config.max_attempts,
                backoff_base: config.backoff_base,
                retry_provider_default: config.retry_provider_default,
                max_retry_after: config.max_retry_after,
            },
            stopper: stopper.clone(),
            on_outcome: Box::new(on_outcome),
            undo: undo.clone(),
        });
        let task = tokio::spawn(d.clone().run(row_rx, out_tx.clone()));
        Some((d, task))
    } else {
        drop(row_rx);
        None
    };
    let call_stats: Option<progress::CallStats> = dispatcher.as_ref().map(|(d, _)| {
        let d = d.clone();
        Box::new(move || d.pacer.stats()) as progress::CallStats
    });
    let progress = progress::Progress::start(
        counters.clone(),
        call_stats,
        config.quiet,
        Duration::from_secs(5),
    );

    // The reader: invalid rows (and, in a dry run, valid ones) go straight to the writer.
    let reader_out = out_tx.clone();
    drop(out_tx);
    let reader_stop = stopper.clone();
    let dry_run = config.dry_run;
    let replay = config.job == Job::Replay;
    let reader =
        tokio::task::spawn_blocking(move || -> Result<input::Repeats, input::InputError> {
            let mut repeats = input::Repeats::default();
            while !reader_stop.is_stopped() {
                let Some(row) = input.next_row()? else { break };
                if replay && !matches!(input.prior_outcome(&row), Some("failed") | Some("invalid"))
                {
                    continue;
                }
                if done.contains(row.number) {
                    continue;
                }
                if let Ok(m) = &row.mapped {
                    repeats.see(m.customer_id);
                }
                let sent = if row.mapped.is_err() {
                    send_from_thread(&reader_out, Outcome::invalid(row))
                } else if dry_run {
                    let o = Outcome {
                        kind: OutcomeKind::Valid,
                        ..Outcome::new(row)
                    };
                    send_from_thread(&reader_out, o)
                } else {
                    send_from_thread(&row_tx, row)
                };
                if !sent {
                    break;
                }
            }
            Ok(repeats)
        });

    // From here on rows may have been sent: whatever happens ends in a summary (and
    // `--summary-json`) and an exit code, never in a setup error. A task that panicked (a bug)
    // lost rows' outcomes: a run stopped early (exit 3).
    let mut broken: Vec<String> = Vec::new();
    let read_result = match reader.await {
        Ok(r) => r,
        Err(_) => {
            stopper.stop(Stop::Broken("the input reader stopped unexpectedly".into()));
            Ok(input::Repeats::default())
        }
    };
    let mut calls = report::CallCounts::default();
    if let Some((d, task)) = dispatcher {
        if !matches!(task.await, Ok(true)) {
            broken.push("a worker stopped unexpectedly (a bug in ccbulk)".into());
        }
        calls = report::CallCounts::new(&d.pacer.stats());
        calls.out_of_reach = d.pacer.out_of_reach(config.rate, config.concurrency);
    }
    let tally = match writer.await {
        Ok((tally, Ok(()))) => tally,
        Ok((tally, Err(e))) => {
            broken.push(format!(
                "cannot write the results file {}: {e}; rows whose line is missing there may have been sent (--resume would send them again)",
                config.results.display()
            ));
            tally
        }
        Err(_) => {
            broken.push(format!(
                "the writer of {} stopped unexpectedly (a bug in ccbulk); rows whose line is missing there may have been sent",
                config.results.display()
            ));
            outcome::Tally::default()
        }
    };
    let (undo_lines, undo_earlier) = undo.as_ref().map_or((0, 0), |u| u.lines());
    if let Some(u) = &undo
        && let Err(e) = u.finish()
    {
        broken.push(e);
    }
    progress.finish().await;
    signals.abort();

    let mut stop = stopper.reason();
    let (repeats, read_error) = match read_result {
        Ok(r) => (r, None),
        Err(e) => (input::Repeats::default(), Some(e)),
    };
    if let Some(e) = &read_error {
        eprintln!("ccbulk: stopped reading the input: {e}");
    }
    for why in &broken {
        eprintln!("ccbulk: stopped: {why}");
    }
    let code = match (&stop, &read_error) {
        _ if !broken.is_empty() => exit::STOPPED,
        (Some(Stop::Interrupted), _) => exit::INTERRUPTED,
        (Some(_), _) => exit::STOPPED,
        // An input that cannot be read on (a record past 1 MiB): a setup error if nothing was
        // sent yet, else a run stopped early.
        (None, Some(_)) if calls.calls == 0 => exit::SETUP,
        (None, Some(_)) => exit::STOPPED,
        (None, None) if tally.unsuccessful() + prior_unsuccessful > 0 => exit::SOME_FAILED,
        (None, None) => exit::OK,
    };
    let mut summary = report::Summary::new(
        config.job.name(),
        &config.source.display(),
        &config.results,
        started_wall,
        started.elapsed(),
        &tally,
        calls,
        repeats.count(),
    );
    summary.exit_code = code;
    summary.customers_on_several_rows_exact = repeats.exact();
    // Only a file that holds a way back is worth a line (not "0 rows").
    if let Some(path) = &config.undo
        && undo_lines + undo_earlier > 0
    {
        summary.undo = Some(report::UndoSummary {
            path: path.display().to_string(),
            rows: undo_lines + undo_earlier,
            command: config.undo_command(path),
        });
    }
    summary.stopped = match stop.take() {
        _ if !broken.is_empty() => Some(broken.join("; ")),
        Some(Stop::Interrupted) => Some("interrupted".to_string()),
        Some(Stop::AuthRefused(why)) => Some(format!(
            "authentication failed: {why}; {}; no further rows were sent",
            config.token.what_to_check()
        )),
        Some(Stop::TokenEndpoint(why)) => Some(format!(
            "cannot get a new token: {why}; check --token-url and the network (and proxy variables); no further rows were sent"
        )),
        Some(Stop::MaxFailures(n)) => Some(format!("--max-failures reached ({n} rows failed)")),
        Some(Stop::Systematic { status, error }) => Some(systematic_message(
            status,
            &error,
            config.mode == Mode::Replace,
        )),
        Some(Stop::Broken(why)) => Some(format!(
            "{why}; the rows left were not sent (--resume sends them)"
        )),
        None => read_error.map(|e| e.to_string()),
    };
    if code == exit::INTERRUPTED || code == exit::STOPPED {
        summary.resume_command = Some(config.resume_command());
    }
    if tally.unsuccessful() + prior_unsuccessful > 0 && !config.dry_run && config.job != Job::Plan {
        summary.replay_command = Some(config.replay_command());
    }
    if config.job == Job::Plan {
        eprint!("{}", tally.diff.render(tally.total()));
        // Only a finished plan is offered for applying; a stopped one is offered its --resume.
        let finished = code == exit::OK || code == exit::SOME_FAILED;
        if tally.count(OutcomeKind::WouldChange) > 0 && finished {
            summary.apply_command = Some(config.apply_command());
        }
    }
    eprint!("{}", summary.render());
    if let Some(path) = &config.summary_json
        && let Err(e) = summary.write_json(path)
    {
        eprintln!(
            "ccbulk: cannot write --summary-json {}: {e}",
            path.display()
        );
    }
    Ok(code)
}

/// Why a run stopped on a systematic failure, quoting the API, and what to do.
fn systematic_message(status: u16, error: &str, replace: bool) -> String {
    let mut why = format!(
        "the first {} rows that got an answer all failed with HTTP {status} and none succeeded, \
         so every row would probably fail the same way (wrong tenant, a refused field, a \
         contract change); the API said: {error}",
        systematic::ROWS
    );
    if replace {
        why.push_str(
            "; --mode replace leaves out providerCustomers, which the API documentation marks \
             required: if the API insists on it, use --mode merge (the default), which sends \
             it back as the API returned it",
        );
    }
    why.push_str("; fix the cause and resume, or add --max-failures N to go on regardless");
    why
}

/// No first token: nothing was written or sent. The summary (and `--summary-json`, so
/// monitoring sees this run) says why and what to check; exit 3.
fn refused_at_start(
    config: &Config,
    e: &auth::AuthError,
    started_wall: SystemTime,
    started: Instant,
) -> i32 {
    let mut summary = report::Summary::new(
        config.job.name(),
        &config.source.display(),
        &config.results,
        started_wall,
        started.elapsed(),
        &outcome::Tally::default(),
        report::CallCounts::default(),
        0,
    );
    summary.exit_code = exit::STOPPED;
    let why = match e {
        auth::AuthError::Refused(_) => format!(
            "authentication failed before the first row: {e}; {}; nothing was sent",
            config.token.what_to_check()
        ),
        auth::AuthError::Unavailable(_) => format!(
            "no token before the first row: {e}; check --token-url and the network (and proxy variables); nothing was sent"
        ),
    };
    eprintln!("ccbulk: {why}");
    summary.stopped = Some(why);
    if let Some(path) = &config.summary_json
        && let Err(e) = summary.write_json(path)
    {
        eprintln!(
            "ccbulk: cannot write --summary-json {}: {e}",
            path.display()
        );
    }
    exit::STOPPED
}
