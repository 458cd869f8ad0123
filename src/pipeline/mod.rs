//! Turning rows into calls: the reader → workers → writer wiring of one run ([`run`]), the
//! worker pool ([`workers`]) taking rows in per-customer order (`rows`), one call with its
//! retries (`call`), and the rule for what to do with each answer ([`retry`]).
//!
//! [`run`] is handed everything already set up and opened (the input, the results file, the undo
//! file, the connection); it cannot fail, it only reports what happened ([`Ran`]). The commands
//! (`cmd/`) decide what that means: the exit code, the summary, the follow-up commands.

pub(crate) mod call;
pub(crate) mod retry;
mod rows;
pub(crate) mod workers;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::input::{self, Input, InputError, Repeats};
use crate::outcome::{Counters, Outcome, OutcomeKind, Tally};
use crate::progress::{self, Progress};
use crate::report::CallCounts;
use crate::results::{Line, Lines, RowSet};
use crate::signals::{Signals, spawn_signal_handler};
use crate::stop::{Stop, Stopper};
use crate::systematic;
use crate::systematic::MaxFailures;
use crate::undo;
use workers::Dispatcher;

/// Rows queued between the reader, the workers and the writer. The reader→writer queue is also
/// bounded by bytes (`input::budget`), so long rows cannot fill memory 1024 at a time.
const QUEUE: usize = 1024;

/// Everything a run needs, set up and opened by the command.
pub(crate) struct Run {
    pub input: Input,
    /// Rows an earlier run already recorded (`--resume`): skipped.
    pub done: RowSet,
    pub results: Results,
    /// Merge mode's undo file, open.
    pub undo: Option<Arc<undo::Shared>>,
    /// The API; `None` for a dry run, which sends nothing.
    pub online: Option<Online>,
    /// Which rows are sent: a replay takes only those that failed or were invalid before.
    pub only_unsuccessful: bool,
    pub stops: StopRules,
    pub display: Display,
    /// Called on a second Ctrl-C, just before the process quits, with the live counts.
    pub on_quit: Box<dyn FnOnce(&Tally) + Send>,
    /// Ctrl-C and SIGTERM, watched since the command started (`None`: they cannot be).
    pub signals: Option<Signals>,
}

/// The open results file and how its lines are made.
pub(crate) struct Results {
    /// For messages.
    pub path: PathBuf,
    pub file: csv::Writer<std::fs::File>,
    /// Which input columns are echoed.
    pub echo: Vec<usize>,
    /// The file gains `ccbulk_customer_id` (rows keyed by `--key`).
    pub customer_ids: bool,
}

/// The API, its first token already fetched, and how calls are made.
pub(crate) struct Online {
    pub link: call::Link,
    pub settings: workers::Settings,
}

/// When a run stops before its input ends (besides Ctrl-C and broken tasks).
pub(crate) struct StopRules {
    pub max_failures: Option<MaxFailures>,
    /// Stop when the first answered rows all fail alike (an update without `--max-failures`).
    pub systematic: bool,
    /// `--limit N`: take the first N rows (of those this run sends) and read no further; the
    /// rows taken finish as usual.
    pub limit: Option<u64>,
}

/// What the progress display needs.
pub(crate) struct Display {
    pub quiet: bool,
    /// A regular file to count the rows of in the background, for the display's total.
    pub count_rows_of: Option<PathBuf>,
}

/// What happened: the commands turn it into an exit code and a summary.
pub(crate) struct Ran {
    pub tally: Tally,
    pub calls: CallCounts,
    pub repeats: Repeats,
    /// Why the run stopped early, if a rule or the user stopped it.
    pub stop: Option<Stop>,
    /// The input could not be read on (a record past the size limit, an I/O error).
    pub read_error: Option<InputError>,
    /// Tasks that broke (a bug) or outputs that could not be written: rows may be lost.
    pub broken: Vec<String>,
    /// Lines this run wrote to the undo file, and lines an earlier run had written there.
    pub undo_lines: (u64, u64),
    /// The reader stopped at `--limit` with rows left for `--resume`.
    pub limited: bool,
}

/// Runs the reader, the workers and the writer until the input ends or the run stops, then
/// waits for every row in flight to be recorded. Invalid rows (and, in a dry run, every row) go
/// from the reader straight to the writer.
pub(crate) async fn run(run: Run) -> Ran {
    let Run {
        input,
        done,
        results,
        undo,
        online,
        only_unsuccessful,
        stops,
        display,
        on_quit,
        signals,
    } = run;
    let stopper = Stopper::default();
    let counters = Arc::new(Counters::default());
    count_rows_in_background(&display, counters.clone(), input.delimiter, done.len());

    let (out_tx, writer) = Writer::start(results, &stopper, &counters);
    let on_quit = {
        let counters = counters.clone();
        Box::new(move || on_quit(&counters.tally()))
    };
    let signals = spawn_signal_handler(signals, stopper.clone(), display.quiet, on_quit);

    let (row_tx, row_rx) = mpsc::channel(QUEUE);
    let workers = online.map(|o| {
        let on_outcome = watch_outcomes(&stops, &stopper, &counters);
        Workers::start(o, &stopper, Box::new(on_outcome), &undo, row_rx, &out_tx)
    });
    let progress = start_progress(workers.as_ref(), &counters, display.quiet);

    let limited = Arc::new(AtomicBool::new(false));
    let reader = Reader {
        input,
        done,
        only_unsuccessful,
        limit: stops.limit.map(|n| (n, limited.clone())),
        dry_run: workers.is_none(),
        stopper: stopper.clone(),
        to_writer: out_tx,
        to_workers: row_tx,
    };
    let reader = tokio::task::spawn_blocking(move || reader.read_all());

    // From here on rows may have been sent: whatever happens is reported, never returned as an
    // error. A task that panicked (a bug) lost rows' outcomes: the run stopped early.
    let mut broken = Vec::new();
    let (read_result, calls) = wait_for_rows(reader, workers, &stopper, &mut broken).await;
    let tally = writer.finish(&mut broken).await;
    let undo_lines = finish_undo(undo.as_deref(), &mut broken);
    progress.finish().await;
    signals.abort();

    let (repeats, read_error) = match read_result {
        Ok(r) => (r, None),
        Err(e) => (Repeats::default(), Some(e)),
    };
    Ran {
        tally,
        calls,
        repeats,
        stop: stopper.reason(),
        read_error,
        broken,
        undo_lines,
        limited: limited.load(Ordering::Acquire),
    }
}

/// The results writer of one run: its task, the file it writes, and the token that tells it
/// to write what is queued and end.
struct Writer {
    task: tokio::task::JoinHandle<(Tally, std::io::Result<()>)>,
    path: std::path::PathBuf,
    finish: CancellationToken,
}

impl Writer {
    /// Starts the one owner of the results file; returns where outcomes go, and the writer.
    fn start(
        results: Results,
        stopper: &Stopper,
        counters: &Arc<Counters>,
    ) -> (mpsc::Sender<Line>, Writer) {
        let (out_tx, out_rx) = mpsc::channel::<Line>(QUEUE);
        let finish = CancellationToken::new();
        let lines = Lines {
            rx: out_rx,
            finish: finish.clone(),
            stopper: stopper.clone(),
        };
        let task = crate::results::spawn_writer(
            results.file,
            results.echo,
            results.customer_ids,
            lines,
            counters.clone(),
        );
        let path = results.path;
        (out_tx, Writer { task, path, finish })
    }

    /// Every row a worker took is written or dropped: the writer writes what is queued and
    /// ends; its tally.
    async fn finish(self, broken: &mut Vec<String>) -> Tally {
        self.finish.cancel();
        join_writer(self.task, &self.path, broken).await
    }
}

/// Waits for the reader to reach the end of the input (or for the run to stop) and for the
/// workers to finish the rows they took; what the reader found, and the calls made.
async fn wait_for_rows(
    mut reader: tokio::task::JoinHandle<Result<Repeats, InputError>>,
    workers: Option<Workers>,
    stopper: &Stopper,
    broken: &mut Vec<String>,
) -> (Result<Repeats, InputError>, CallCounts) {
    // A stopped run does not wait for the reader: it may be stuck in a read of standard input
    // that a producer keeps open. Left behind, it can only send to channels that are closed by
    // the end of the run, and the process exits without it.
    let read = tokio::select! {
        read = &mut reader => Some(read),
        _ = stopper.token.cancelled() => None,
    };
    let calls = match workers {
        Some(w) => w.join(broken).await,
        None => CallCounts::default(),
    };
    let read = match read {
        None if reader.is_finished() => Some(reader.await),
        read => read,
    };
    let result = match read {
        Some(Ok(result)) => result,
        Some(Err(_)) => {
            stopper.stop(Stop::Broken("the input reader stopped unexpectedly".into()));
            Ok(Repeats::default())
        }
        None => Ok(Repeats::default()),
    };
    (result, calls)
}

/// The worker pool of a run that sends (not a dry run).
struct Workers {
    dispatcher: Arc<Dispatcher>,
    task: tokio::task::JoinHandle<bool>,
}

impl Workers {
    fn start(
        online: Online,
        stopper: &Stopper,
        on_outcome: Box<dyn Fn(&Outcome) + Send + Sync>,
        undo: &Option<Arc<undo::Shared>>,
        rows: mpsc::Receiver<input::Row>,
        out: &mpsc::Sender<Line>,
    ) -> Workers {
        let dispatcher = Arc::new(Dispatcher {
            link: online.link,
            settings: online.settings,
            stopper: stopper.clone(),
            on_outcome,
            undo: undo.clone(),
        });
        let task = tokio::spawn(dispatcher.clone().run(rows, out.clone()));
        Workers { dispatcher, task }
    }

    /// Waits for every started row to send its outcome; the calls made.
    async fn join(self, broken: &mut Vec<String>) -> CallCounts {
        if !matches!(self.task.await, Ok(true)) {
            broken.push("a worker stopped unexpectedly (a bug in ccbulk)".into());
        }
        let pacer = &self.dispatcher.link.pacer;
        let mut calls = CallCounts::new(&pacer.stats());
        calls.out_of_reach = pacer.out_of_reach(self.dispatcher.settings.concurrency);
        calls
    }
}

/// The progress display: rows from the counters, calls from the pacer (when calls are made).
fn start_progress(workers: Option<&Workers>, counters: &Arc<Counters>, quiet: bool) -> Progress {
    let call_stats = workers.map(|w| {
        let d = w.dispatcher.clone();
        Box::new(move || d.link.pacer.stats()) as progress::CallStats
    });
    Progress::start(counters.clone(), call_stats, quiet, Duration::from_secs(5))
}

/// Syncs the undo file once the last row is done; its lines (this run's, an earlier run's).
fn finish_undo(undo: Option<&undo::Shared>, broken: &mut Vec<String>) -> (u64, u64) {
    let Some(u) = undo else {
        return (0, 0);
    };
    // Counted before `finish`, which closes the file.
    let lines = u.lines();
    if let Err(e) = u.finish() {
        broken.push(e);
    }
    lines
}

/// Waits for the writer to record the last outcome; what it tallied.
async fn join_writer(
    writer: tokio::task::JoinHandle<(Tally, std::io::Result<()>)>,
    path: &std::path::Path,
    broken: &mut Vec<String>,
) -> Tally {
    match writer.await {
        Ok((tally, Ok(()))) => tally,
        Ok((tally, Err(e))) => {
            broken.push(format!(
                "cannot write the results file {}: {e}; rows whose line is missing there may have been sent (--resume would send them again)",
                path.display()
            ));
            tally
        }
        Err(_) => {
            broken.push(format!(
                "the writer of {} stopped unexpectedly (a bug in ccbulk); rows whose line is missing there may have been sent",
                path.display()
            ));
            Tally::default()
        }
    }
}

/// Called by a worker for each finished row: `--max-failures` and the systematic-failure rule
/// stop the run before the next row starts.
fn watch_outcomes(
    stops: &StopRules,
    stopper: &Stopper,
    counters: &Arc<Counters>,
) -> impl Fn(&Outcome) + Send + Sync + 'static {
    let (limit, stopper, counters) = (stops.max_failures, stopper.clone(), counters.clone());
    let failed = AtomicU64::new(0);
    let systematic = stops.systematic.then(systematic::Watch::default);
    move |outcome: &Outcome| {
        if let Some(stop) = systematic.as_ref().and_then(|w| w.see(outcome)) {
            stopper.stop(stop);
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
}

/// The reader (a blocking thread): sends each row where it goes.
struct Reader {
    input: Input,
    done: RowSet,
    only_unsuccessful: bool,
    /// `--limit`: the rows to take, and where to say that rows were left.
    limit: Option<(u64, Arc<AtomicBool>)>,
    dry_run: bool,
    stopper: Stopper,
    to_writer: mpsc::Sender<Line>,
    to_workers: mpsc::Sender<input::Row>,
}

impl Reader {
    fn read_all(mut self) -> Result<Repeats, InputError> {
        let mut repeats = Repeats::default();
        let mut taken: u64 = 0;
        while !self.stopper.is_stopped() {
            let Some(row) = self.input.next_row()? else {
                break;
            };
            if self.only_unsuccessful
                && !matches!(
                    self.input.prior_outcome(&row),
                    Some("failed") | Some("invalid")
                )
            {
                continue;
            }
            if self.done.contains(row.number) {
                continue;
            }
            // A row past the limit is read, not sent: it shows that rows are left.
            if let Some((n, limited)) = &self.limit
                && taken >= *n
            {
                limited.store(true, Ordering::Release);
                break;
            }
            taken += 1;
            if let Ok(m) = &row.mapped {
                repeats.see(m.customer_id);
            }
            // Nobody waits for these lines: they sent nothing.
            let line = |outcome| Line {
                outcome,
                written: None,
            };
            let sent = if row.mapped.is_err() {
                send_from_thread(&self.to_writer, line(Outcome::invalid(row)))
            } else if self.dry_run {
                let o = Outcome {
                    kind: OutcomeKind::Valid,
                    ..Outcome::new(row)
                };
                send_from_thread(&self.to_writer, line(o))
            } else {
                send_from_thread(&self.to_workers, row)
            };
            if !sent {
                break;
            }
        }
        Ok(repeats)
    }
}

/// Counts rows of a regular file in the background so the progress display knows the total
/// (less the `already` rows a resumed run skips).
fn count_rows_in_background(
    display: &Display,
    counters: Arc<Counters>,
    delimiter: u8,
    already: u64,
) {
    // Only the display uses the total: with -q nobody sees it, so the second read is skipped.
    // A workbook is not text to count lines in (its rows are not counted ahead).
    let path = match (&display.count_rows_of, display.quiet) {
        (Some(path), false) if !input::workbook::is_workbook(path) => path.clone(),
        _ => return,
    };
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
/// executor every time (BENCHMARKS.md); most sends find room, so it is used only when the
/// channel is full.
fn send_from_thread<T>(tx: &mpsc::Sender<T>, value: T) -> bool {
    match tx.try_send(value) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(value)) => tx.blocking_send(value).is_ok(),
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A results writer that panicked (a bug) lost the lines it had not written: the run is told
    /// (so it ends as stopped early, exit 3, with --resume), naming the file.
    #[tokio::test]
    async fn a_panicking_writer_is_reported() {
        let writer = tokio::task::spawn_blocking(|| -> (Tally, std::io::Result<()>) {
            panic!("a bug in the writer")
        });
        let mut broken = Vec::new();
        let tally = join_writer(writer, std::path::Path::new("in.results.csv"), &mut broken).await;
        assert_eq!(tally.total(), 0);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(
            broken[0].contains("the writer of in.results.csv stopped unexpectedly"),
            "{broken:?}"
        );
    }

    /// A write error is reported the same way, with the tally of what was written.
    #[tokio::test]
    async fn a_writer_that_cannot_write_is_reported() {
        let writer = tokio::spawn(async {
            (
                Tally::default(),
                Err(std::io::Error::other("No space left on device")),
            )
        });
        let mut broken = Vec::new();
        join_writer(writer, std::path::Path::new("r.csv"), &mut broken).await;
        assert!(
            broken[0].contains("cannot write the results file r.csv: No space left on device"),
            "{broken:?}"
        );
    }
}
