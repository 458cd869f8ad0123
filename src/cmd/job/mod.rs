//! The steps update, replay and plan share ([`run`]), in the order that matters: [`prepare`] (every
//! fallible step of setup: locks, the input, the results and undo files checked, the connection
//! and the first token; no file touched) → [`Prepared::open`] (the outputs created or repaired)
//! → `pipeline::run` → [`Opened::summarise`] and [`finish`] (exit code, summary,
//! `--summary-json`: `finish.rs`). A setup error (exit 2) or a refused first token (exit 3)
//! therefore leaves nothing behind.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cli::{Mode, RunArgs};
use crate::config::{Config, Connected, Job, SetupError};
use crate::input::{Input, Source};
use crate::lock::ResultsLock;
use crate::outcome::Tally;
use crate::pipeline::{self, Display, Online, StopRules, workers};
use crate::report::Summary;
use crate::results::{self, Prior, WriterSetup};
use crate::signals::{self, Signals};
use crate::{files, lock, sandbox, undo};

mod finish;
pub(crate) use finish::finish;
use finish::{quit_summary, refused_at_start};

/// Runs update, replay or plan from its options to its exit code: [`prepare`] (a refusal
/// touches nothing), [`Prepared::open`], the pipeline, the summary. `check` is the command's own
/// check of its input; `then` adds what the command says before the summary is printed (plan:
/// its changes, and the command that applies them).
pub(crate) async fn run(
    job: Job,
    args: RunArgs,
    check: CheckInput,
    then: impl FnOnce(&Opened, &mut Summary, &Tally),
) -> anyhow::Result<i32> {
    // From the start: a signal during setup must not kill the run silently, leaving its lock.
    let mut signals = Signals::new();
    let config = Config::from_args(job, args)?;
    let prepared = match prepare(config, check, &mut signals).await? {
        Ready::Go(p) => p,
        Ready::RefusedAtStart(code) => return Ok(code),
    };
    // Replay sends only the rows its results file records as failed or invalid.
    let (opened, run) = prepared.open(job == Job::Replay, signals)?;
    let ran = pipeline::run(run).await;
    let (mut summary, tally) = opened.summarise(ran);
    then(&opened, &mut summary, &tally);
    Ok(finish(&opened.config, &summary))
}

/// A command's own check of its input, run as soon as the input is open (before the results
/// file is read or the network used).
pub(crate) type CheckInput = fn(&Config, &Input) -> anyhow::Result<()>;

/// Setup done, nothing written yet.
pub(crate) struct Prepared {
    pub config: Config,
    started: Started,
    input: Input,
    writer: WriterSetup,
    prior: Option<Prior>,
    undo: Option<undo::Checked>,
    online: Option<Online>,
    // Held for the whole run; dropped (and removed) when the command returns.
    _locks: Vec<ResultsLock>,
    _sandbox: Option<sandbox::Sandbox>,
}

/// When the run started, for the summary.
#[derive(Clone, Copy)]
pub(crate) struct Started {
    wall: SystemTime,
    at: Instant,
}

impl Started {
    fn now() -> Started {
        Started {
            wall: SystemTime::now(),
            at: Instant::now(),
        }
    }
}

/// What [`prepare`] leads to.
enum Ready {
    Go(Box<Prepared>),
    /// No first token, or an interrupt during setup: nothing was written or sent; the exit
    /// code.
    RefusedAtStart(i32),
}

/// Every fallible step of setup, in order; no file is touched (lock files aside, which go with
/// the run). A Ctrl-C or SIGTERM during setup (`signals`, watched since the command started)
/// ends it at once: exit 130, the lock files removed, nothing sent.
async fn prepare(
    config: Config,
    check: CheckInput,
    signals: &mut Option<Signals>,
) -> anyhow::Result<Ready> {
    match signals::unless_interrupted(signals, prepare_all(config, check)).await {
        Some(ready) => ready,
        None => Ok(Ready::RefusedAtStart(crate::exit::INTERRUPTED)),
    }
}

/// [`prepare`]'s steps.
async fn prepare_all(mut config: Config, check: CheckInput) -> anyhow::Result<Ready> {
    let started = Started::now();
    check_input(&config)?;
    check_paths(&config)?;
    let locks = lock_outputs(&config)?;
    let sandbox = start_sandbox(&mut config).await?;

    let source = config.source.clone();
    let options = config.input_options.clone();
    let input = tokio::task::spawn_blocking(move || Input::open(&source, options)).await??;
    check(&config, &input)?;

    let exists = config.results.exists();
    if exists && !config.resume && !config.overwrite {
        return Err(SetupError(results_exist(&config)).into());
    }
    // The undo file is checked (not yet touched) before the results file is repaired or
    // created: an earlier run's undo file is never clobbered, and a refused run changes nothing.
    let undo = check_undo(&config, &input)?;
    let writer = WriterSetup {
        path: config.results.clone(),
        echo_names: input
            .columns
            .echo
            .iter()
            .map(|&i| input.columns.names[i].clone())
            .collect(),
        echo: input.columns.echo.clone(),
        delimiter: input.delimiter,
        append: exists && config.resume,
        bom: input.bom,
        customer_ids: input.columns.keyed,
    };
    let prior = if writer.append {
        Some(read_prior(&config, &input, &writer, undo.as_ref())?)
    } else {
        None
    };
    let (input, prior) = match prior {
        Some(p) if p.done.len() > 0 => {
            let (input, p) = check_resumed(&config, input, p, &writer).await?;
            (input, Some(p))
        }
        prior => (input, prior),
    };
    let online = match connect(&config).await? {
        Some(Connected::Online(link)) => Some(Online {
            link: *link,
            settings: worker_settings(&config),
        }),
        None => None,
        Some(Connected::Refused(e)) => {
            return Ok(Ready::RefusedAtStart(refused_at_start(
                &config, &e, started,
            )));
        }
    };
    // Said only now: a setup error above stops the run before the sandbox is of any use.
    if let Some(sb) = &sandbox
        && !config.quiet
    {
        eprintln!("{}", crate::cmd::sandbox::banner(sb));
    }
    Ok(Ready::Go(Box::new(Prepared {
        config,
        started,
        input,
        writer,
        prior,
        undo,
        online,
        _locks: locks,
        _sandbox: sandbox,
    })))
}

/// An input file that is not there is named as such, before any lock is taken beside it (the
/// lock's own error would only say its folder is missing).
fn check_input(config: &Config) -> Result<(), SetupError> {
    let Source::Path(path) = &config.source else {
        return Ok(());
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SetupError(format!(
            "the input file {} does not exist (nothing was sent)",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The message when this run's results file exists already: the way on that fits the command.
/// `--resume` only continues a run that was interrupted; after a finished plan, dry run or
/// replay it sends nothing, so it is not the first thing offered there.
fn results_exist(config: &Config) -> String {
    let path = config.results.display();
    let input = config.source.display();
    match config.job {
        Job::Plan => format!(
            "{path} already exists (an earlier plan): add --overwrite to plan again, or --resume to finish that plan if it was interrupted (or choose --results PATH)"
        ),
        _ if config.dry_run => format!(
            "{path} already exists (an earlier dry run): add --overwrite to check the rows again (or choose --results PATH)"
        ),
        Job::Replay => format!(
            "{path} already exists (an earlier replay of {input}): to send again the rows that still failed there, replay {path} (its results go to {}); or add --overwrite to replay {input} again, or --resume to finish that replay if it was interrupted",
            crate::config::replay_results_path(&config.results).display()
        ),
        Job::Update => format!(
            "{path} already exists: add --resume to continue that run if it was interrupted, or --overwrite to send every row again (or choose --results PATH)"
        ),
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
    for (path, what) in &paths {
        files::refuse_symlink(path, what).map_err(SetupError)?;
        // Named here, not as the lock file's "No such file or directory".
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty())
            && !folder.is_dir()
        {
            return Err(SetupError(format!(
                "the folder {} of {what} {} does not exist",
                folder.display(),
                path.display()
            )));
        }
    }
    crate::report::check_json_path(config.summary_json.as_deref()).map_err(SetupError)
}

/// Before the results file is looked at: a second run on the same results (an overlapping cron
/// job) is refused with a clear message, not with "already exists" or a mixed file. The undo
/// file is locked the same way: two runs with different results but one undo file would
/// otherwise interleave their lines.
fn lock_outputs(config: &Config) -> Result<Vec<ResultsLock>, SetupError> {
    let mut locks = vec![ResultsLock::acquire(&config.results).map_err(SetupError)?];
    if let Some(u) = &config.undo {
        locks.push(ResultsLock::acquire(u).map_err(SetupError)?);
    }
    Ok(locks)
}

/// `--sandbox`: the built-in sandbox stands in for the API, on the kept tenant, with its own
/// credentials (a dry run sends nothing, so it needs none).
async fn start_sandbox(config: &mut Config) -> Result<Option<sandbox::Sandbox>, SetupError> {
    if !config.sandbox || config.dry_run {
        return Ok(None);
    }
    crate::cmd::sandbox::stand_in(&mut config.connect)
        .await
        .map(Some)
}

fn check_undo(config: &Config, input: &Input) -> Result<Option<undo::Checked>, SetupError> {
    let Some(path) = &config.undo else {
        return Ok(None);
    };
    undo::UndoWriter::check(undo::UndoSetup {
        path: path.clone(),
        layout: undo::Layout::of(&input.columns),
        delimiter: input.delimiter,
        null_marker: config.input_options.null_marker.clone(),
        resume: config.resume,
        overwrite: config.overwrite,
        bom: input.bom,
    })
    .map(Some)
    .map_err(SetupError)
}

/// `--resume`: what the results file already records, read (not yet repaired). An undo file
/// appended to must hold the way back for every row recorded as changed: another run's is
/// refused, as its lines and this run's would then mix in one file.
fn read_prior(
    config: &Config,
    input: &Input,
    writer: &WriterSetup,
    undo: Option<&undo::Checked>,
) -> Result<Prior, SetupError> {
    let results = config.results.display();
    let undo = undo.filter(|u| u.appends());
    let restores = |id| undo.map_or(Ok(true), |u| u.restores(id));
    let check = undo.map(|_| results::UndoCheck {
        id_column: input
            .columns
            .guid_column()
            .and_then(|g| writer.echo.iter().position(|&c| c == g)),
        restores: &restores,
    });
    let p = results::read_prior(
        &config.results,
        input.delimiter,
        &writer.echo_names,
        check.as_ref(),
    )
    .map_err(|e| SetupError(format!("cannot resume from {results}: {e}")))?;
    if let (Some((row, id)), Some(u)) = (p.without_undo, undo) {
        return Err(SetupError(format!(
            "cannot resume: {results} records row {row} as changed (customer {id}), but the undo file {} holds no line to undo it: it is not this run's undo file (or it lost lines), and appending to it would mix two runs' ways back. Give this run's undo file with --undo PATH, or a new one with --undo NEW-PATH (the changes already made keep their way back only in this run's first undo file), or add --no-undo; or start again with --overwrite",
            u.path().display()
        )));
    }
    if !p.header_torn && p.input_columns != writer.echo_names {
        return Err(SetupError(format!(
            "cannot resume: the columns of {results} ({}) do not match those of {} ({}); is it the same input?",
            p.input_columns.join(", "),
            input.name,
            writer.echo_names.join(", ")
        )));
    }
    // Resuming a dry run's or a plan's file for real would skip rows that were never sent.
    if p.not_sent > 0 && !config.dry_run && config.job != Job::Plan {
        return Err(SetupError(format!(
            "cannot resume: {results} records a dry run or a plan ({} marked valid or would-change, never sent); start again with --overwrite",
            crate::text::count(p.not_sent, "row", "rows")
        )));
    }
    Ok(p)
}

/// `--resume`: every row the results record must be this input's row of that number (an input
/// edited since would have the wrong rows skipped). Checked on the input opened for setup, read
/// up to the last recorded row; the run then reads a file afresh, and gets back the rows of
/// standard input (which cannot be read twice) the check read that it must still send.
async fn check_resumed(
    config: &Config,
    input: Input,
    prior: Prior,
    writer: &WriterSetup,
) -> anyhow::Result<(Input, Prior)> {
    let source = config.source.clone();
    let options = config.input_options.clone();
    let results = config.results.clone();
    let ordered = config.job != Job::Replay;
    let (echo, echo_names) = (writer.echo.clone(), writer.echo_names.clone());
    tokio::task::spawn_blocking(move || {
        let r = results::Resumed {
            prior: &prior,
            results: &results,
            delimiter: input.delimiter,
            echo: &echo,
            echo_names: &echo_names,
            ordered,
        };
        if source == Source::Stdin {
            let input = results::check_stream(input, &r).map_err(SetupError)?;
            return Ok((input, prior));
        }
        let open = || Input::open(&source, options.clone());
        results::check(input, open, &r).map_err(SetupError)?;
        Ok((open()?, prior))
    })
    .await?
}

/// The connection (proxy, base URL) and the first token, before anything is written or sent
/// (`Connect::open`); a dry run sends nothing, so it connects to nothing.
async fn connect(config: &Config) -> Result<Option<Connected>, SetupError> {
    if config.dry_run {
        return Ok(None);
    }
    config.connect.open(config.concurrency).await.map(Some)
}

/// How the workers use the connection.
fn worker_settings(config: &Config) -> workers::Settings {
    workers::Settings {
        action: match (config.job, config.mode) {
            (Job::Plan, _) => workers::Action::Plan,
            (_, Mode::Merge) => workers::Action::Merge,
            (_, Mode::Replace) => workers::Action::Replace,
        },
        concurrency: config.concurrency,
        retry_provider_default: config.retry_provider_default,
    }
}

impl Prepared {
    /// Creates (or, on resume, repairs and reopens) the outputs: from here on files are written.
    /// `only_unsuccessful` is replay's row filter.
    /// `signals` go on to the run (watched since the command started).
    pub(crate) fn open(
        self,
        only_unsuccessful: bool,
        signals: Option<Signals>,
    ) -> anyhow::Result<(Opened, pipeline::Run)> {
        let Prepared {
            config,
            started,
            input,
            writer,
            prior,
            undo,
            online,
            _locks,
            _sandbox,
        } = self;
        let (done, prior_unsuccessful) = match prior {
            Some(p) => {
                repair(&config, &p)?;
                (p.done, p.unsuccessful)
            }
            None => (results::RowSet::default(), 0),
        };
        let undo = match undo {
            Some(c) => Some(c.open().map_err(SetupError)?),
            None => None,
        };
        let file = match results::open_results(&writer) {
            Ok(f) => f,
            Err(e) => {
                if let Some(u) = undo {
                    u.discard();
                }
                let results = config.results.display();
                return Err(SetupError(format!("cannot write {results}: {e}")).into());
            }
        };
        let undo = undo.map(|u| Arc::new(undo::Shared::new(u)));
        let count_rows_of = match &config.source {
            Source::Path(p) => Some(p.clone()),
            _ => None,
        };
        let run = pipeline::Run {
            input,
            done,
            results: pipeline::Results {
                path: config.results.clone(),
                file,
                echo: writer.echo,
                customer_ids: writer.customer_ids,
            },
            undo,
            online,
            only_unsuccessful,
            stops: StopRules {
                max_failures: config.max_failures,
                // An update without --max-failures stops when its first answered rows all fail
                // alike; a replay's rows failed before, so failing again proves nothing
                // systematic.
                systematic: config.job == Job::Update && config.max_failures.is_none(),
                limit: config.limit,
            },
            display: Display {
                quiet: config.quiet,
                count_rows_of,
            },
            on_quit: quit_summary(&config, started),
            signals,
        };
        let opened = Opened {
            config,
            started,
            prior_unsuccessful,
            _locks,
            _sandbox,
        };
        Ok((opened, run))
    }
}

/// `--resume`: cuts a torn last line (or header) an interrupted write left, and says so.
fn repair(config: &Config, p: &Prior) -> Result<(), SetupError> {
    let results = config.results.display();
    results::repair(&config.results, p)
        .map_err(|e| SetupError(format!("cannot repair {results}: {e}")))?;
    if config.quiet {
        return Ok(());
    }
    if p.torn_bytes > 0 {
        let what = if p.header_torn {
            "a torn header"
        } else {
            "a torn last line"
        };
        eprintln!(
            "ccbulk: repaired {results}: cut {what} ({} bytes) left by an interrupted write",
            p.torn_bytes
        );
    }
    eprintln!(
        "ccbulk: resuming: skipping the {} {results} already records",
        crate::text::count(p.done.len(), "row", "rows")
    );
    Ok(())
}

/// The outputs are open; what the end of the run needs besides what the pipeline reports.
pub(crate) struct Opened {
    pub config: Config,
    started: Started,
    /// Failed and invalid rows an interrupted run already recorded: they still decide the exit
    /// code and the replay hint of the run that finishes the job.
    pub prior_unsuccessful: u64,
    _locks: Vec<ResultsLock>,
    _sandbox: Option<sandbox::Sandbox>,
}
