//! What the user sees on stderr while and after a run: a progress bar on a terminal, a line every
//! few seconds otherwise, then the summary; and the summary as JSON for monitoring.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::results::{Counters, OutcomeKind, Tally};

/// The live display; stops when dropped or finished.
pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts the display: a bar on a terminal, periodic lines otherwise, nothing when quiet.
    pub fn start(counters: Arc<Counters>, quiet: bool, every: Duration) -> Progress {
        let stop = CancellationToken::new();
        if quiet {
            return Progress { stop, task: None };
        }
        let token = stop.clone();
        let tty = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let bar = tty.then(|| {
                let bar = indicatif::ProgressBar::new(0);
                let style = indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} rows  {msg}  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar
            });
            let tick = if tty { Duration::from_millis(200) } else { every };
            let mut interval = tokio::time::interval(tick);
            interval.tick().await;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = interval.tick() => {}
                }
                let done = counters.done.load(Ordering::Relaxed);
                let total = counters.total.load(Ordering::Relaxed);
                let ok = counters.ok.load(Ordering::Relaxed);
                let failed = counters.failed.load(Ordering::Relaxed);
                let invalid = counters.invalid.load(Ordering::Relaxed);
                match &bar {
                    Some(bar) => {
                        bar.set_length(total.max(done));
                        bar.set_position(done);
                        bar.set_message(format!("ok {ok}  failed {failed}  invalid {invalid}"));
                    }
                    None => {
                        let secs = started.elapsed().as_secs_f64().max(0.001);
                        let of = if total > 0 {
                            format!("/{total}")
                        } else {
                            String::new()
                        };
                        eprintln!(
                            "ccbulk: {done}{of} rows done (ok {ok}, failed {failed}, invalid {invalid}), {:.1} rows/s",
                            done as f64 / secs
                        );
                    }
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Progress {
            stop,
            task: Some(task),
        }
    }

    /// Stops the display and waits for it to clear the bar.
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

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
    pub requests: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub http_status: BTreeMap<String, u64>,
    pub customers_on_several_rows: u64,
    pub stopped: Option<String>,
    pub exit_code: i32,
    pub resume_command: Option<String>,
    pub replay_command: Option<String>,
}

impl Summary {
    /// Builds the summary from the tallies.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        command: &str,
        input: &str,
        results: &Path,
        started: SystemTime,
        elapsed: Duration,
        tally: &Tally,
        requests: u64,
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
            rows_per_second: if secs > 0.0 {
                ((rows as f64 / secs) * 10.0).round() / 10.0
            } else {
                0.0
            },
            requests,
            outcomes: OutcomeKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), tally.count(*k)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            http_status: tally.by_status.clone(),
            customers_on_several_rows: duplicates,
            stopped: None,
            exit_code: 0,
            resume_command: None,
            replay_command: None,
        }
    }

    /// The human summary for stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let outcomes = if self.outcomes.is_empty() {
            "none".to_string()
        } else {
            self.outcomes
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "ccbulk {}: {} rows in {:.1}s ({} rows/s, {} requests): {outcomes}\n",
            self.command, self.rows, self.duration_seconds, self.rows_per_second, self.requests
        ));
        if !self.http_status.is_empty() {
            let st = self
                .http_status
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            s.push_str(&format!("  HTTP status of the last call: {st}\n"));
        }
        if self.customers_on_several_rows > 0 {
            s.push_str(&format!(
                "  {} customers appear on more than one row (applied in file order)\n",
                self.customers_on_several_rows
            ));
        }
        s.push_str(&format!("  results: {}\n", self.results));
        if let Some(why) = &self.stopped {
            s.push_str(&format!("  stopped early: {why}\n"));
        }
        if let Some(cmd) = &self.resume_command {
            s.push_str(&format!("  to continue: {cmd}\n"));
        }
        if let Some(cmd) = &self.replay_command {
            s.push_str(&format!("  to send the failed and invalid rows again after fixing them: {cmd}\n"));
        }
        s
    }

    /// Writes `--summary-json`.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// Quotes a path or word for a shell command line users can copy.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a/b.csv"), "a/b.csv");
        assert_eq!(shell_quote("my file.csv"), "'my file.csv'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn summary_counts_and_renders() {
        let mut tally = Tally::default();
        tally.by_outcome.insert(OutcomeKind::Accepted, 3);
        tally.by_outcome.insert(OutcomeKind::Failed, 1);
        tally.by_status.insert("202".into(), 3);
        let s = Summary::new(
            "update",
            "in.csv",
            Path::new("in.results.csv"),
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(2),
            &tally,
            5,
            0,
        );
        assert_eq!(s.rows, 4);
        assert_eq!(s.rows_per_second, 2.0);
        let text = s.render();
        assert!(text.contains("accepted 3, failed 1"), "{text}");
        assert!(text.contains("202: 3"), "{text}");
    }
}
