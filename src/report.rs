//! What the user sees on stderr after a run: the summary (the live display is `progress`); and
//! the summary as JSON for monitoring.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::outcome::{OutcomeKind, Tally};
use crate::text::{count, plural};

/// The final counts, as printed and as `--summary-json` writes them.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub command: String,
    pub input: String,
    pub results: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub rows: u64,
    pub rows_per_second: f64,
    /// `calls`, `retries`, `http_429`, `paused_seconds`, `calls_per_second`.
    #[serde(flatten)]
    pub calls: CallCounts,
    pub outcomes: BTreeMap<String, u64>,
    pub http_status: BTreeMap<String, u64>,
    /// The most common reasons rows failed or were invalid, most rows first.
    pub reasons: Vec<crate::reasons::Reason>,
    pub customers_on_several_rows: u64,
    /// False when the input had more distinct customers than are tracked for repeats
    /// (`input::Repeats::LIMIT`): the count above is then a lower bound.
    pub customers_on_several_rows_exact: bool,
    pub stopped: Option<String>,
    pub exit_code: i32,
    pub resume_command: Option<String>,
    pub replay_command: Option<String>,
    /// After a plan: the `update` that applies it.
    pub apply_command: Option<String>,
    /// The undo file of a merge-mode update, if one was written.
    pub undo: Option<UndoSummary>,
}

/// What the calls did, for the summary (docs/reference.md, the results file).
#[derive(Debug, Default, Serialize)]
pub struct CallCounts {
    /// Calls sent, retries included.
    pub calls: u64,
    /// Calls that repeated an earlier attempt.
    pub retries: u64,
    /// Answers with status 429 (too many requests).
    pub http_429: u64,
    /// Time every call was held back by a 429's `Retry-After`.
    pub paused_seconds: f64,
    /// The rate achieved, from the first call to the last: what to compare with `--rate`.
    pub calls_per_second: f64,
    /// In words only: the limit learnt from 429s, if any came.
    #[serde(skip)]
    pub learnt: Option<crate::pacer::Learnt>,
    /// In words only: the families of rate-limit headers the pace was drawn from.
    #[serde(skip)]
    pub headers: Vec<&'static str>,
    /// In words only: why `--rate` was not reached, if it was not.
    #[serde(skip)]
    pub out_of_reach: Option<String>,
    /// The API's limit as the run saw it: announced by its rate-limit headers, else learnt from
    /// its 429s; `null` when it saw neither.
    pub limit: Option<Limit>,
}

/// The API's limit in the summary JSON.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Limit {
    /// Calls a second.
    pub calls_per_second: f64,
    /// Only a lower bound: the run never kept the API's allowance spent long enough to measure
    /// its limit.
    pub at_least: bool,
    /// `headers` (announced by its rate-limit headers) or `429s` (learnt from its 429s).
    pub source: &'static str,
}

impl Limit {
    fn of(s: &crate::pacer::PaceStats) -> Option<Limit> {
        let announced = s.announced.map(|r| Limit {
            calls_per_second: tenth(r),
            at_least: false,
            source: "headers",
        });
        announced.or_else(|| {
            s.learnt.filter(|_| s.http_429 > 0).map(|l| Limit {
                calls_per_second: tenth(l.rate),
                at_least: l.at_least,
                source: "429s",
            })
        })
    }
}

impl CallCounts {
    pub fn new(s: &crate::pacer::PaceStats) -> CallCounts {
        CallCounts {
            calls: s.calls,
            retries: s.retries,
            http_429: s.http_429,
            paused_seconds: (s.paused.as_secs_f64() * 1000.0).round() / 1000.0,
            calls_per_second: tenth(s.calls_per_second),
            learnt: s.learnt,
            headers: s.headers.clone(),
            out_of_reach: None,
            limit: Limit::of(s),
        }
    }

    /// The summary's lines about the calls.
    fn render(&self) -> String {
        let mut s = String::new();
        if self.calls == 0 {
            return s;
        }
        s.push_str(&format!(
            "  calls: {} at {} calls/s, {} {}, {} answered 429",
            self.calls,
            self.calls_per_second,
            self.retries,
            plural(self.retries, "retry", "retries"),
            self.http_429
        ));
        if self.paused_seconds > 0.0 {
            s.push_str(&format!(
                " (all calls paused {:.1} s for Retry-After)",
                self.paused_seconds
            ));
        }
        s.push('\n');
        if !self.headers.is_empty() {
            let announced = match self.limit {
                Some(l) if l.source == "headers" => {
                    format!(" (a limit of {} calls/s)", l.calls_per_second)
                }
                _ => String::new(),
            };
            s.push_str(&format!(
                "  paced by the API's {} headers{announced}: never more than they said was left\n",
                self.headers.join(" and ")
            ));
        }
        match self.learnt.filter(|_| self.http_429 > 0) {
            // A measured limit, as it was at the end of the run (a limit that changed mid-run is
            // reported as it ended). The --rate advised is rounded up: never below what the API
            // accepted, so it does not slow the next run.
            Some(l) if !l.at_least => s.push_str(&format!(
                "  the API accepted about {:.1} calls/s over the long run, as its limit stood at \
                 the end; --rate {} paces at that from the first call\n",
                l.rate,
                advised_rate(l.rate)
            )),
            // Only a lower bound (a limit that rose and was not reached again): a --rate at it
            // could slow the next run, so no advice.
            Some(l) => s.push_str(&format!(
                "  the API accepted at least {:.1} calls/s by the end (its limit was not reached \
                 for long enough to measure it)\n",
                l.rate
            )),
            None => {}
        }
        if let Some(why) = &self.out_of_reach {
            s.push_str(&format!("  {why}\n"));
        }
        s
    }
}

/// A `--rate` (whole calls a period) no slower than `rate` calls a second: per second, rounded
/// up, or per minute below 20/s, where rounding up a whole second's worth would add 5 % or more.
fn advised_rate(rate: f64) -> String {
    // Rounded to a thousandth first: a window's count of 40 over a pause measured as a hair
    // over a second is 40/s, not 41/s.
    let up = |n: f64| ((n * 1000.0).round() / 1000.0).ceil() as u64;
    if rate >= 20.0 {
        format!("{}/s", up(rate))
    } else {
        format!("{}/min", up(rate * 60.0).max(1))
    }
}

/// The undo file in the summary.
#[derive(Debug, Serialize)]
pub struct UndoSummary {
    pub path: String,
    /// Its lines, this run's and an earlier run's (`--resume`).
    pub rows: u64,
    /// Lines this run wrote: each before its row's PATCH, so an interrupt or a refused PATCH
    /// leaves lines for changes that were never made.
    pub written: u64,
    /// This run's changes the API accepted.
    pub accepted: u64,
    /// The command that puts the changes back.
    pub command: String,
}

impl UndoSummary {
    /// How many of this run's lines stand for changes the API accepted, when not all do (an
    /// interrupt, a refused PATCH): those others put back nothing, but the count should not
    /// read as changes made.
    fn unsent_note(&self) -> String {
        let accepted = self.accepted.min(self.written);
        let other = self.written - accepted;
        if other == 0 {
            return String::new();
        }
        let not = format!(
            "(the other {other}: not sent or refused; {} back nothing)",
            plural(other, "it puts", "they put")
        );
        if self.written == self.rows {
            format!(", {accepted} of them for changes the API accepted {not}")
        } else {
            format!(
                "; of the {} this run wrote, {accepted} for changes the API accepted {not}",
                self.written
            )
        }
    }
}

/// Checks `--summary-json`'s path before anything is sent, since the summary is written only at
/// the end, after the work: not a symlink (a link planted there must not redirect the write), and
/// a folder that takes a new file. `-` (standard output) and no path pass.
pub(crate) fn check_json_path(path: Option<&Path>) -> Result<(), String> {
    let Some(path) = path.filter(|p| *p != Path::new("-")) else {
        return Ok(());
    };
    crate::files::refuse_symlink(path, "--summary-json")?;
    crate::files::check_folder_writable(path, "--summary-json")
}

/// `r` to one decimal, as the summary gives rates.
fn tenth(r: f64) -> f64 {
    (r * 10.0).round() / 10.0
}

/// The summary's rows/s: `rows` over `elapsed`, to one decimal (0 for no time at all).
pub(crate) fn rows_per_second(rows: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        tenth(rows as f64 / secs)
    } else {
        0.0
    }
}

impl Summary {
    /// Reasons listed at most.
    pub const REASONS: usize = 5;

    /// Builds the summary from the tallies.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        command: &str,
        input: &str,
        results: &Path,
        started: SystemTime,
        elapsed: Duration,
        tally: &Tally,
        calls: CallCounts,
        duplicates: u64,
    ) -> Summary {
        let rows = tally.total();
        let secs = elapsed.as_secs_f64();
        Summary {
            command: command.to_string(),
            input: input.to_string(),
            results: results.display().to_string(),
            started_at: humantime::format_rfc3339_millis(started).to_string(),
            finished_at: humantime::format_rfc3339_millis(started + elapsed).to_string(),
            duration_seconds: (secs * 1000.0).round() / 1000.0,
            rows,
            rows_per_second: rows_per_second(rows, elapsed),
            calls,
            outcomes: OutcomeKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), tally.count(*k)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            http_status: tally.by_status.clone(),
            reasons: tally.reasons.top(Self::REASONS),
            customers_on_several_rows: duplicates,
            customers_on_several_rows_exact: true,
            stopped: None,
            exit_code: 0,
            resume_command: None,
            replay_command: None,
            apply_command: None,
            undo: None,
        }
    }

    /// The human summary for stderr: what happened, why rows failed, then what to do next.
    pub fn render(&self) -> String {
        let mut s = self.headline();
        self.render_reasons(&mut s);
        self.render_repeats(&mut s);
        s.push_str(&self.calls.render());
        self.render_next_steps(&mut s);
        s
    }

    /// Rows, time, pace, calls and the count of each outcome, on one line.
    fn headline(&self) -> String {
        let outcomes = if self.outcomes.is_empty() {
            "none".to_string()
        } else {
            self.outcomes
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "ccbulk {}: {} in {:.1}s ({} rows/s, {}): {outcomes}\n",
            self.command,
            count(self.rows, "row", "rows"),
            self.duration_seconds,
            self.rows_per_second,
            count(self.calls.calls, "call", "calls")
        )
    }

    /// The HTTP statuses and the most common reasons rows did not succeed.
    fn render_reasons(&self, s: &mut String) {
        if !self.http_status.is_empty() {
            let st = self
                .http_status
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            s.push_str(&format!("  HTTP status of the last call: {st}\n"));
        }
        if !self.reasons.is_empty() {
            s.push_str("  most common reasons:\n");
            for r in &self.reasons {
                s.push_str(&format!(
                    "    {} {} {}: {}\n",
                    r.rows,
                    plural(r.rows, "row", "rows"),
                    r.outcome,
                    r.reason
                ));
            }
        }
    }

    /// Customers on more than one row (a lower bound past the tracking limit).
    fn render_repeats(&self, s: &mut String) {
        if !self.customers_on_several_rows_exact && self.customers_on_several_rows > 0 {
            s.push_str(&format!(
                "  at least {} {} on more than one row (applied in file order; repeats are tracked for the first {} customers only)\n",
                self.customers_on_several_rows,
                plural(self.customers_on_several_rows, "customer appears", "customers appear"),
                crate::input::Repeats::LIMIT
            ));
        } else if self.customers_on_several_rows > 0 {
            s.push_str(&format!(
                "  {} {} on more than one row (applied in file order)\n",
                self.customers_on_several_rows,
                plural(
                    self.customers_on_several_rows,
                    "customer appears",
                    "customers appear"
                )
            ));
        }
    }

    /// Where the results are, why the run stopped, and the commands that come next.
    fn render_next_steps(&self, s: &mut String) {
        s.push_str(&format!("  results: {}\n", self.results));
        if let Some(why) = &self.stopped {
            s.push_str(&format!("  stopped early: {why}\n"));
        }
        if let Some(cmd) = &self.resume_command {
            s.push_str(&format!("  to continue: {cmd}\n"));
        }
        if let Some(cmd) = &self.replay_command {
            s.push_str(&format!(
                "  to send the failed and invalid rows again after fixing them: {cmd}\n"
            ));
        }
        if let Some(cmd) = &self.apply_command {
            s.push_str(&format!("  to apply this plan: {cmd}\n"));
        }
        if let Some(u) = &self.undo {
            s.push_str(&format!(
                "  undo: {} ({}{}; to put the changes back: {})\n",
                u.path,
                count(u.rows, "row", "rows"),
                u.unsent_note(),
                u.command
            ));
        }
    }

    /// `--summary-json`, when asked for. The run is over: a file that cannot be written is said
    /// on stderr, and the exit code stays the run's.
    pub fn save_json(&self, path: Option<&Path>) {
        if let Some(path) = path
            && let Err(e) = self.write_json(path)
        {
            eprintln!(
                "ccbulk: cannot write --summary-json {}: {e}",
                path.display()
            );
        }
    }

    /// Writes `--summary-json`: to a temporary file beside it (created 0600), then renamed over
    /// it, so a monitor never reads half a file and a symlink at the path is replaced, not
    /// followed.
    /// `-` writes it to standard output instead, which nothing else writes to.
    /// (A symlink at the path is refused before the run starts: [`check_json_path`].)
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        if path == Path::new("-") {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            return out.flush();
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.write_all(b"\n")?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary of an update of `in.csv` that took `seconds`.
    fn update_summary(seconds: u64, tally: &Tally, calls: CallCounts) -> Summary {
        Summary::new(
            "update",
            "in.csv",
            Path::new("in.results.csv"),
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(seconds),
            tally,
            calls,
            0,
        )
    }

    #[test]
    fn the_rate_advised_is_never_below_the_rate_accepted() {
        assert_eq!(advised_rate(199.2), "200/s");
        assert_eq!(advised_rate(20.0), "20/s");
        assert_eq!(advised_rate(40.000_000_1), "40/s");
        assert_eq!(advised_rate(19.6), "1176/min");
        assert_eq!(advised_rate(0.001), "1/min");
        for r in [0.3, 2.5, 9.99, 19.9, 20.1, 57.5, 4321.7] {
            let rate: crate::rate::Rate = advised_rate(r).parse().unwrap();
            assert!(
                rate.per_second() >= r && rate.per_second() < r * 1.05 + 0.02,
                "{r}"
            );
        }
    }

    #[test]
    fn summary_counts_and_renders() {
        let mut tally = Tally::default();
        tally.by_outcome.insert(OutcomeKind::Accepted, 3);
        tally.by_outcome.insert(OutcomeKind::Failed, 1);
        tally.by_status.insert("202".into(), 3);
        let s = update_summary(
            2,
            &tally,
            CallCounts {
                calls: 6,
                retries: 2,
                http_429: 1,
                paused_seconds: 1.0,
                calls_per_second: 3.1,
                learnt: Some(crate::pacer::Learnt {
                    rate: 2.5,
                    at_least: false,
                }),
                headers: Vec::new(),
                out_of_reach: None,
                limit: None,
            },
        );
        assert_eq!(s.rows, 4);
        assert_eq!(s.rows_per_second, 2.0);
        let text = s.render();
        assert!(text.contains("accepted 3, failed 1"), "{text}");
        assert!(text.contains("202: 3"), "{text}");
        assert!(
            text.contains(
                "calls: 6 at 3.1 calls/s, 2 retries, 1 answered 429 (all calls paused 1.0 s"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "the API accepted about 2.5 calls/s over the long run, as its limit stood at the \
                 end; --rate 150/min paces at that"
            ),
            "{text}"
        );
        // Only a lower bound: said as such, and no --rate advised (it could slow the next run).
        let calls = CallCounts {
            calls: 6,
            http_429: 1,
            learnt: Some(crate::pacer::Learnt {
                rate: 2.5,
                at_least: true,
            }),
            ..CallCounts::default()
        };
        let text = calls.render();
        assert!(text.contains("accepted at least 2.5 calls/s"), "{text}");
        assert!(!text.contains("--rate"), "{text}");
        assert!(!text.contains("headers"), "{text}");
        // Headers that paced the run are named.
        let calls = CallCounts {
            calls: 6,
            headers: vec!["RateLimit", "X-RateLimit-*"],
            ..CallCounts::default()
        };
        let text = calls.render();
        assert!(
            text.contains("paced by the API's RateLimit and X-RateLimit-* headers"),
            "{text}"
        );
        // SPEC's names, at the top level of the JSON; the words-only fields stay out.
        let json = serde_json::to_value(&s).unwrap();
        for (key, value) in [
            ("calls", 6.0),
            ("retries", 2.0),
            ("http_429", 1.0),
            ("paused_seconds", 1.0),
            ("calls_per_second", 3.1),
        ] {
            assert_eq!(json[key].as_f64(), Some(value), "{key}: {json}");
        }
        assert!(json.get("accepted_rate").is_none() && json.get("requests").is_none());
    }

    /// The limit the run saw, in the JSON: announced by headers before learnt from 429s, and
    /// `null` when neither.
    #[test]
    fn the_limit_seen_is_in_the_json() {
        let learnt = crate::pacer::PaceStats {
            calls: 50,
            http_429: 3,
            learnt: Some(crate::pacer::Learnt {
                rate: 19.66,
                at_least: true,
            }),
            ..crate::pacer::PaceStats::default()
        };
        let json = |s: &crate::pacer::PaceStats| {
            serde_json::to_value(CallCounts::new(s)).unwrap()["limit"].clone()
        };
        assert_eq!(
            json(&learnt),
            serde_json::json!({"calls_per_second": 19.7, "at_least": true, "source": "429s"})
        );
        let announced = crate::pacer::PaceStats {
            headers: vec!["RateLimit"],
            announced: Some(20.0),
            ..learnt.clone()
        };
        assert_eq!(
            json(&announced),
            serde_json::json!({"calls_per_second": 20.0, "at_least": false, "source": "headers"})
        );
        let text = CallCounts::new(&announced).render();
        assert!(
            text.contains("paced by the API's RateLimit headers (a limit of 20 calls/s)"),
            "{text}"
        );
        // A limit learnt, but no 429 this run (none was learnt from), and no headers: null.
        let neither = crate::pacer::PaceStats {
            http_429: 0,
            ..learnt
        };
        assert_eq!(json(&neither), serde_json::Value::Null);
    }

    /// One row, one call: "1 row", "1 call", never "1 rows".
    #[test]
    fn counts_of_one_are_singular() {
        let mut tally = Tally::default();
        tally.by_outcome.insert(OutcomeKind::Accepted, 1);
        let calls = CallCounts {
            calls: 1,
            ..CallCounts::default()
        };
        let s = update_summary(1, &tally, calls);
        let text = s.render();
        assert!(
            text.starts_with("ccbulk update: 1 row in 1.0s (1 rows/s, 1 call): accepted 1"),
            "{text}"
        );
    }

    /// The undo line says how many of this run's lines stand for changes the API accepted,
    /// when not all do (an interrupted run wrote lines for rows whose PATCH never went).
    #[test]
    fn the_undo_line_says_which_changes_were_made() {
        let undo = |rows, written, accepted| UndoSummary {
            path: "c.undo.csv".into(),
            rows,
            written,
            accepted,
            command: "ccbulk update c.undo.csv".into(),
        };
        assert_eq!(undo(7, 7, 7).unsent_note(), "");
        assert_eq!(
            undo(7, 7, 4).unsent_note(),
            ", 4 of them for changes the API accepted (the other 3: not sent or refused; they put back nothing)"
        );
        assert_eq!(
            undo(9, 2, 1).unsent_note(),
            "; of the 2 this run wrote, 1 for changes the API accepted (the other 1: not sent or refused; it puts back nothing)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn summary_json_replaces_a_symlink_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.txt");
        std::fs::write(&target, "keep me").unwrap();
        let path = dir.path().join("summary.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let s = update_summary(1, &Tally::default(), CallCounts::default());
        s.write_json(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["command"], "update");
        // Nothing but the two files is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
