//! The end of update, replay and plan: what the pipeline reports becomes the exit code, the
//! summary (printed, and `--summary-json`) and the follow-up commands; and the summary of a run
//! that stopped before its first row (no token) or was quit by a second Ctrl-C.

use crate::cli::Mode;
use crate::config::{Config, Job, no_token};
use crate::http::auth;
use crate::outcome::Tally;
use crate::pipeline::Ran;
use crate::report::{self, CallCounts, Summary};
use crate::stop::Stop;
use crate::{exit, systematic};

use super::{Opened, Started};

/// A second Ctrl-C quits at once; the summary JSON is still written, from the live counts.
pub(super) fn quit_summary(config: &Config, started: Started) -> Box<dyn FnOnce(&Tally) + Send> {
    let config = config.clone();
    Box::new(move |tally: &Tally| {
        // The rows in flight are not recorded: --resume sends them, and the user needs the
        // command as much as after one Ctrl-C.
        let resume = config.resume_command();
        crate::progress::eprint_above_bar(format!("  to continue: {resume}\n").as_bytes());
        let Some(path) = &config.summary_json else {
            return;
        };
        let mut summary = new_summary(&config, started, tally, CallCounts::default(), 0);
        summary.exit_code = exit::INTERRUPTED;
        summary.stopped = Some(
            "interrupted twice: quit at once; the rows in flight are not recorded (--resume sends them)"
                .into(),
        );
        summary.resume_command = Some(resume);
        let _ = summary.write_json(path);
    })
}

fn new_summary(
    config: &Config,
    started: Started,
    tally: &Tally,
    calls: CallCounts,
    repeats: u64,
) -> Summary {
    Summary::new(
        config.job.name(),
        &config.source.display(),
        &config.results,
        started.wall,
        started.at.elapsed(),
        tally,
        calls,
        repeats,
    )
}

impl Opened {
    /// The summary (with the exit code) of what the pipeline reports, to print with [`finish`];
    /// and the tally, for the command's own additions.
    pub(crate) fn summarise(&self, ran: Ran) -> (Summary, Tally) {
        let config = &self.config;
        let Ran {
            tally,
            calls,
            repeats,
            stop,
            read_error,
            broken,
            undo_lines,
            limited,
        } = ran;
        if let Some(e) = &read_error {
            eprintln!("ccbulk: stopped reading the input: {e}");
        }
        for why in &broken {
            eprintln!("ccbulk: stopped: {why}");
        }
        let unsuccessful = tally.unsuccessful() + self.prior_unsuccessful;
        let code = exit_code(&stop, &read_error, &broken, calls.calls, unsuccessful);
        let mut summary = new_summary(config, self.started, &tally, calls, repeats.count());
        summary.exit_code = code;
        summary.customers_on_several_rows_exact = repeats.exact();
        // Only a file that holds a way back is worth a line (not "0 rows").
        let undo_rows = undo_lines.0 + undo_lines.1;
        if let Some(path) = &config.undo
            && undo_rows > 0
        {
            summary.undo = Some(report::UndoSummary {
                path: path.display().to_string(),
                rows: undo_rows,
                written: undo_lines.0,
                accepted: tally.count(crate::outcome::OutcomeKind::Accepted),
                command: config.undo_command(path),
            });
        }
        summary.stopped = if broken.is_empty() {
            stop.map(|s| stop_message(config, s))
                .or_else(|| read_error.map(|e| e.to_string()))
        } else {
            Some(broken.join("; "))
        };
        // --limit stops as an interrupt does, but the rows it sent decide the exit code.
        if limited && summary.stopped.is_none() {
            let n = config.limit.unwrap_or_default();
            summary.stopped = Some(format!(
                "sent the first {n} {} (--limit {n}); the rest are left for the command below",
                crate::text::plural(n, "row", "rows")
            ));
        }
        if code == exit::INTERRUPTED || code == exit::STOPPED || limited {
            summary.resume_command = Some(config.resume_command());
        }
        if unsuccessful > 0 && !config.dry_run && config.job != Job::Plan {
            summary.replay_command = Some(config.replay_command());
        }
        (summary, tally)
    }
}

/// The exit code of a run the pipeline finished.
fn exit_code(
    stop: &Option<Stop>,
    read_error: &Option<crate::input::InputError>,
    broken: &[String],
    calls: u64,
    unsuccessful: u64,
) -> i32 {
    match (stop, read_error) {
        _ if !broken.is_empty() => exit::STOPPED,
        (Some(Stop::Interrupted), _) => exit::INTERRUPTED,
        (Some(_), _) => exit::STOPPED,
        // An input that cannot be read on (a record past 1 MiB): a setup error if nothing was
        // sent yet, else a run stopped early.
        (None, Some(_)) if calls == 0 => exit::SETUP,
        (None, Some(_)) => exit::STOPPED,
        (None, None) if unsuccessful > 0 => exit::SOME_FAILED,
        (None, None) => exit::OK,
    }
}

/// Why the run stopped, in the summary's words.
fn stop_message(config: &Config, stop: Stop) -> String {
    match stop {
        Stop::Interrupted => "interrupted".to_string(),
        Stop::AuthRefused(_) | Stop::TokenEndpoint(_) => config
            .connect
            .stop_message(&stop, "no further rows were sent")
            .unwrap_or_default(),
        Stop::MaxFailures(n) => format!(
            "--max-failures reached ({} failed)",
            crate::text::count(n, "row", "rows")
        ),
        Stop::Systematic { status, error } => {
            systematic_message(status, &error, config.mode == Mode::Replace)
        }
        Stop::Unreachable(cause) => format!(
            "the first {} rows all failed to reach the API at {} the same way: {cause}; check \
             --base-url, that the API is up, and the network (and proxy variables), then resume; \
             or add --max-failures N to go on regardless",
            systematic::ROWS,
            config.connect.base_url
        ),
        Stop::Broken(why) => format!("{why}; the rows left were not sent (--resume sends them)"),
    }
}

/// Prints the summary, writes `--summary-json`; returns the exit code.
pub(crate) fn finish(config: &Config, summary: &Summary) -> i32 {
    eprint!("{}", summary.render());
    summary.save_json(config.summary_json.as_deref());
    summary.exit_code
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
pub(super) fn refused_at_start(config: &Config, e: &auth::AuthError, started: Started) -> i32 {
    let mut summary = new_summary(config, started, &Tally::default(), CallCounts::default(), 0);
    summary.exit_code = exit::STOPPED;
    let why = no_token(e, &config.connect.token, "nothing was sent");
    eprintln!("ccbulk: {why}");
    summary.stopped = Some(why);
    summary.save_json(config.summary_json.as_deref());
    exit::STOPPED
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever else happened, a broken task or output (rows may be lost) is a run stopped early.
    #[test]
    fn exit_codes() {
        let broken = vec!["the writer of r.csv stopped unexpectedly".to_string()];
        assert_eq!(exit_code(&None, &None, &broken, 10, 0), exit::STOPPED);
        assert_eq!(
            exit_code(&Some(Stop::Interrupted), &None, &broken, 10, 0),
            exit::STOPPED
        );
        assert_eq!(
            exit_code(&Some(Stop::Interrupted), &None, &[], 10, 0),
            exit::INTERRUPTED
        );
        assert_eq!(
            exit_code(&Some(Stop::MaxFailures(3)), &None, &[], 10, 3),
            exit::STOPPED
        );
        assert_eq!(exit_code(&None, &None, &[], 10, 1), exit::SOME_FAILED);
        assert_eq!(exit_code(&None, &None, &[], 10, 0), exit::OK);
    }
}
