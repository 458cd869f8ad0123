//! The live display on stderr while a run goes: on a terminal, one line redrawn in place that
//! fits the terminal's width; otherwise a plain line every few seconds, with a timestamp, for a
//! log file or a cron mail. Log lines are printed above the live line (never through it), so
//! no half-drawn progress line is left in the scrollback.
//!
//! The line says rows done (of how many, once the input's rows are counted), accepted and
//! unchanged apart, failed and invalid, retries, rows/s and calls/s over the last few seconds
//! (merge mode makes two calls a row, and `--rate` counts calls), and an estimate of the time
//! left. Reading standard input the total is unknown: no bar and no estimate rather than
//! made-up ones.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::outcome::{Counters, OutcomeKind};
use crate::pacer::PaceStats;

/// The bar being drawn, if any: log lines are printed above it (the bar cleared, the line
/// written, the bar drawn again), so no half-drawn progress line is left in the scrollback.
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Writes to stderr, above the progress bar if one is drawn.
pub fn eprint_above_bar(bytes: &[u8]) {
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes);
        let _ = err.flush();
    };
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// Should stderr carry colour codes? Only on a terminal, and not when `NO_COLOR` is set to
/// anything but the empty string (no-color.org).
pub fn colour_on_stderr() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// The log writer (`tracing_subscriber`'s `MakeWriter`): each log line is gathered, then written
/// at once through [`eprint_above_bar`].
pub struct StderrLogs;

/// One log line being formatted.
pub struct LogLine(Vec<u8>);

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            eprint_above_bar(&self.0);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrLogs {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// Where the live call counts come from (the pacer), once the workers run.
pub type CallStats = Box<dyn Fn() -> PaceStats + Send + Sync>;

/// The live display; stops when dropped or finished.
pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Rates are measured over this much of the recent past, so they follow a run that speeds up
/// or slows down (a 429 pause) instead of averaging from the start.
const WINDOW: Duration = Duration::from_secs(10);

impl Progress {
    /// Starts the display: a live line on a terminal, a line every `every` otherwise, nothing
    /// when quiet. `calls` reads the call counts (none for a dry run).
    pub fn start(
        counters: Arc<Counters>,
        calls: Option<CallStats>,
        quiet: bool,
        every: Duration,
    ) -> Progress {
        let stop = CancellationToken::new();
        if quiet {
            return Progress { stop, task: None };
        }
        let token = stop.clone();
        let tty = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let bar = tty.then(|| {
                let bar = indicatif::ProgressBar::new(0);
                let style = indicatif::ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                bar.set_style(style);
                *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
                bar
            });
            let tick = if tty {
                Duration::from_millis(200)
            } else {
                every
            };
            // Rates start from here, so the first frame shows one.
            let mut rates = Rates {
                has_calls: calls.is_some(),
                ..Rates::default()
            };
            let stats = calls.as_ref().map(|f| f()).unwrap_or_default();
            rates.add(
                Instant::now(),
                counters.done.load(Ordering::Relaxed),
                stats.calls,
            );
            let mut interval = tokio::time::interval(tick);
            interval.tick().await;
            let mut frame = 0usize;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = interval.tick() => {}
                }
                let stats = calls.as_ref().map(|f| f());
                let snap = Snapshot::read(&counters, stats.as_ref(), &mut rates, Instant::now());
                match &bar {
                    Some(bar) => {
                        frame += 1;
                        // One column spare: a line that fills the last column makes some
                        // terminals wrap.
                        let width = console::Term::stderr()
                            .size_checked()
                            .map_or(80, |(_, cols)| usize::from(cols));
                        bar.set_message(snap.terminal_line(width.saturating_sub(1), frame));
                    }
                    None => {
                        let now = humantime::format_rfc3339_seconds(SystemTime::now());
                        eprint_above_bar(
                            format!("{now} ccbulk: {}\n", snap.plain_line()).as_bytes(),
                        );
                    }
                }
            }
            if let Some(bar) = bar {
                *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
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

/// Recent (time, rows done, calls) samples, for rates over [`WINDOW`].
#[derive(Default)]
struct Rates {
    samples: VecDeque<(Instant, u64, u64)>,
    /// Calls are counted (there is a source of call counts).
    has_calls: bool,
}

impl Rates {
    /// Adds a sample; returns rows/s and calls/s since the oldest sample within the window.
    fn add(&mut self, now: Instant, done: u64, calls: u64) -> (f64, f64) {
        self.samples.push_back((now, done, calls));
        while self
            .samples
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
        let Some(&(t0, d0, c0)) = self.samples.front() else {
            return (0.0, 0.0);
        };
        let secs = now.duration_since(t0).as_secs_f64();
        if secs <= 0.0 {
            return (0.0, 0.0);
        }
        (
            done.saturating_sub(d0) as f64 / secs,
            calls.saturating_sub(c0) as f64 / secs,
        )
    }
}

/// What the display shows at one moment.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Snapshot {
    pub done: u64,
    /// Rows in the input (0: not known, as when reading standard input).
    pub total: u64,
    pub accepted: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub invalid: u64,
    /// Rows a dry run found valid, and rows a plan found would change.
    pub valid: u64,
    pub would_change: u64,
    /// Rows done that have no outcome of their own (an export's customers).
    pub other: u64,
    /// Whether calls are counted (not in a dry run).
    pub has_calls: bool,
    pub calls: u64,
    pub retries: u64,
    pub rows_per_second: f64,
    pub calls_per_second: f64,
}

impl Snapshot {
    fn read(
        counters: &Counters,
        stats: Option<&PaceStats>,
        rates: &mut Rates,
        now: Instant,
    ) -> Snapshot {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Acquire);
        let kind = |k: OutcomeKind| load(&counters.by_kind[k as usize]);
        // `done` first: the writer counts a row's kind before the row (`results.rs`).
        let done = load(&counters.done);
        let kinds: u64 = OutcomeKind::ALL.into_iter().map(kind).sum();
        let stats = stats.cloned().unwrap_or_default();
        let (rows_per_second, calls_per_second) = rates.add(now, done, stats.calls);
        let (accepted, unchanged) = (kind(OutcomeKind::Accepted), kind(OutcomeKind::Unchanged));
        let (valid, would_change) = (kind(OutcomeKind::Valid), kind(OutcomeKind::WouldChange));
        Snapshot {
            done,
            // 0 stays "not known" (standard input): no made-up bar or estimate.
            total: match load(&counters.total) {
                0 => 0,
                total => total.max(done),
            },
            accepted,
            unchanged,
            failed: kind(OutcomeKind::Failed),
            invalid: kind(OutcomeKind::Invalid),
            valid,
            would_change,
            // Done without a kind: an export's customers.
            other: done.saturating_sub(kinds),
            has_calls: rates.has_calls,
            calls: stats.calls,
            retries: stats.retries,
            rows_per_second,
            calls_per_second,
        }
    }

    /// Time left at the recent pace; `None` when the total or the pace is not known.
    fn eta(&self) -> Option<Duration> {
        let left = self.total.checked_sub(self.done)?;
        if self.total == 0 || self.rows_per_second <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(
            (left as f64 / self.rows_per_second).min(1e7),
        ))
    }

    /// The counts by outcome: accepted and unchanged always while rows are being sent, the
    /// others once there are any.
    fn counts(&self, long: bool) -> Vec<String> {
        let mut v = Vec::new();
        let mut push = |n: u64, short: &str, word: &str, always: bool| {
            if always || n > 0 {
                v.push(format!("{} {n}", if long { word } else { short }));
            }
        };
        let sending = self.valid + self.would_change + self.other == 0;
        push(self.accepted, "acc", "accepted", sending);
        push(self.unchanged, "unch", "unchanged", sending);
        push(self.would_change, "chg", "would change", false);
        push(self.valid, "valid", "valid", false);
        push(self.failed, "fail", "failed", false);
        push(self.invalid, "inv", "invalid", false);
        v
    }

    /// The rates: rows/s, and calls/s where calls are made.
    fn rates(&self, sep: &str) -> String {
        let mut s = format!("{} rows/s", rate(self.rows_per_second));
        if self.has_calls {
            s.push_str(&format!("{sep}{} calls/s", rate(self.calls_per_second)));
        }
        s
    }

    /// The live line for a terminal `width` columns wide: always the rows done and the counts,
    /// then, while they fit, the rates, retries, time left and a bar. `frame` turns the spinner
    /// shown while the total is unknown.
    pub fn terminal_line(&self, width: usize, frame: usize) -> String {
        let mut line = if self.total > 0 {
            format!("{}/{}", self.done, self.total)
        } else {
            const SPIN: [char; 4] = ['|', '/', '-', '\\'];
            format!(
                "{} {}",
                SPIN[frame % SPIN.len()],
                crate::text::count(self.done, "row", "rows")
            )
        };
        line.push(' ');
        line.push_str(&self.counts(false).join(" "));
        let mut optional = vec![format!(" · {}", self.rates(" "))];
        if self.retries > 0 {
            let retries = crate::text::count(self.retries, "retry", "retries");
            optional.push(format!(" · {retries}"));
        }
        if let Some(eta) = self.eta() {
            optional.push(format!(" · ETA {}", short_duration(eta)));
        }
        for part in optional {
            if columns(&line) + columns(&part) <= width {
                line.push_str(&part);
            }
        }
        // The bar takes what room is left, within reason; none without a total.
        let room = width.saturating_sub(columns(&line) + 3);
        if self.total > 0 && room >= 10 {
            let cells = room.min(30);
            let filled = ((self.done as f64 / self.total as f64) * cells as f64) as usize;
            let filled = filled.min(cells);
            let mut bar = String::with_capacity(cells + 3);
            bar.push('[');
            bar.push_str(&"=".repeat(filled));
            if filled < cells {
                bar.push('>');
                bar.push_str(&" ".repeat(cells - filled - 1));
            }
            bar.push_str("] ");
            line.insert_str(0, &bar);
        }
        line
    }

    /// The line for a log file: everything, in words.
    pub fn plain_line(&self) -> String {
        let mut s = if self.total > 0 {
            format!(
                "{}/{} rows ({:.0}%)",
                self.done,
                self.total,
                self.done as f64 * 100.0 / self.total as f64
            )
        } else {
            crate::text::count(self.done, "row", "rows")
        };
        s.push_str(": ");
        s.push_str(&self.counts(true).join(", "));
        s.push_str("; ");
        s.push_str(&self.rates(", "));
        if self.retries > 0 {
            s.push_str(&format!(", {} retries", self.retries));
        }
        if let Some(eta) = self.eta() {
            s.push_str(&format!("; ETA {}", short_duration(eta)));
        }
        s
    }
}

/// A rate for people: one decimal below 10, none above.
fn rate(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

/// `45s`, `12m05s`, `3h20m`.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Terminal columns of a line (every character ccbulk puts in it is one column wide).
fn columns(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(done: u64, total: u64) -> Snapshot {
        Snapshot {
            done,
            total,
            accepted: done.saturating_sub(45),
            unchanged: 40,
            failed: 3,
            invalid: 2,
            calls: done * 2 + 17,
            retries: 17,
            rows_per_second: 24.6,
            calls_per_second: 49.3,
            has_calls: true,
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_terminal_line_fits_80_columns_with_everything_it_can() {
        // A healthy run: everything, and a bar in the room left.
        let healthy = Snapshot {
            failed: 0,
            invalid: 0,
            retries: 0,
            accepted: 1194,
            ..snap(1234, 5000)
        };
        let line = healthy.terminal_line(80, 0);
        assert_eq!(
            line,
            "[===>            ] 1234/5000 acc 1194 unch 40 · 25 rows/s 49 calls/s · ETA 2m33s"
        );
        assert!(columns(&line) <= 80);
        // Failures and retries too: the time left gives way first, the counts never.
        let line = snap(1234, 5000).terminal_line(80, 0);
        assert_eq!(
            line,
            "1234/5000 acc 1189 unch 40 fail 3 inv 2 · 25 rows/s 49 calls/s · 17 retries"
        );
        assert!(
            snap(1234, 5000)
                .terminal_line(100, 0)
                .contains("· ETA 2m33s")
        );
        let big = Snapshot {
            done: 4_567_890,
            total: 10_000_000,
            accepted: 4_000_000,
            unchanged: 500_000,
            failed: 67_000,
            invalid: 890,
            retries: 123_456,
            ..snap(0, 0)
        };
        for width in [40, 60, 80, 100, 200] {
            let line = big.terminal_line(width, 0);
            assert!(line.contains("4567890/10000000 acc 4000000 unch 500000 fail 67000 inv 890"));
            assert!(width < 80 || columns(&line) <= width, "{width}: {line}");
        }
        assert!(
            big.terminal_line(200, 0).starts_with("[=========="),
            "a bar when there is room"
        );
    }

    #[test]
    fn reading_stdin_there_is_no_bar_and_no_estimate() {
        let s = snap(1234, 0);
        let line = s.terminal_line(80, 1);
        assert!(line.starts_with("/ 1234 rows acc 1189 unch 40"), "{line}");
        assert!(!line.contains('[') && !line.contains("ETA"), "{line}");
        assert!(!s.plain_line().contains("ETA"));
    }

    #[test]
    fn an_unknown_total_stays_unknown_however_many_rows_are_done() {
        let counters = Counters::default();
        counters.done.store(729, Ordering::Relaxed);
        counters.by_kind[OutcomeKind::Accepted as usize].store(710, Ordering::Relaxed);
        let mut rates = Rates::default();
        let s = Snapshot::read(&counters, None, &mut rates, Instant::now());
        assert_eq!(s.total, 0);
        let line = s.terminal_line(79, 0);
        assert!(line.starts_with("| 729 rows acc 710"), "{line}");
        assert!(!line.contains('[') && !line.contains("ETA"), "{line}");
        // Once counted, the total is known (never below the rows done).
        counters.total.store(700, Ordering::Relaxed);
        let s = Snapshot::read(&counters, None, &mut rates, Instant::now());
        assert_eq!(s.total, 729);
    }

    /// Every count comes from the rows done and their kinds: failed and invalid from theirs, an
    /// export's customers (done, no kind) without the update's "accepted 0, unchanged 0".
    #[test]
    fn counts_are_derived_from_the_kinds_and_the_rows_done() {
        let counters = Counters::default();
        counters.by_kind[OutcomeKind::Accepted as usize].store(5, Ordering::Relaxed);
        counters.by_kind[OutcomeKind::Failed as usize].store(2, Ordering::Relaxed);
        counters.by_kind[OutcomeKind::Invalid as usize].store(1, Ordering::Relaxed);
        counters.done.store(8, Ordering::Relaxed);
        let mut rates = Rates::default();
        let s = Snapshot::read(&counters, None, &mut rates, Instant::now());
        assert_eq!((s.accepted, s.failed, s.invalid, s.other), (5, 2, 1, 0));
        assert!(
            s.plain_line()
                .contains("accepted 5, unchanged 0, failed 2, invalid 1")
        );

        let export = Counters::default();
        export.done.store(4000, Ordering::Relaxed);
        let s = Snapshot::read(&export, None, &mut rates, Instant::now());
        assert_eq!(s.other, 4000);
        let line = s.plain_line();
        assert!(
            !line.contains("accepted") && !line.contains("unchanged"),
            "{line}"
        );
    }

    #[test]
    fn the_plain_line_says_everything_in_words() {
        assert_eq!(
            snap(1234, 5000).plain_line(),
            "1234/5000 rows (25%): accepted 1189, unchanged 40, failed 3, invalid 2; 25 rows/s, 49 calls/s, 17 retries; ETA 2m33s"
        );
        // A dry run: rows found valid, no calls.
        let dry = Snapshot {
            done: 10,
            total: 20,
            valid: 9,
            invalid: 1,
            rows_per_second: 5.0,
            ..Snapshot::default()
        };
        assert_eq!(
            dry.plain_line(),
            "10/20 rows (50%): valid 9, invalid 1; 5.0 rows/s; ETA 2s"
        );
        assert_eq!(
            dry.terminal_line(45, 0),
            "10/20 valid 9 inv 1 · 5.0 rows/s · ETA 2s"
        );
    }

    #[test]
    fn rates_follow_the_recent_past() {
        let mut r = Rates::default();
        let t0 = Instant::now();
        assert_eq!(r.add(t0, 0, 0), (0.0, 0.0));
        let (rows, calls) = r.add(t0 + Duration::from_secs(2), 20, 40);
        assert!((rows - 10.0).abs() < 1e-9 && (calls - 20.0).abs() < 1e-9);
        // A long stall, then a burst: the old samples drop out of the window.
        r.add(t0 + Duration::from_secs(30), 20, 40);
        let (rows, _) = r.add(t0 + Duration::from_secs(35), 120, 240);
        assert!((rows - 20.0).abs() < 1e-9, "{rows}");
    }
}
