//! The live display on stderr while a run goes: on a terminal, one line redrawn in place that
//! fits the terminal's width; otherwise a plain line every few seconds, with a timestamp, for a
//! log file or a cron mail. Log lines are printed above the live line (never through it), so
//! no half-drawn progress line is left in the scrollback.
//!
//! The line says rows done (of how many, once the input's rows are counted), accepted and
//! unchanged apart, failed and invalid, retries, rows/s and calls/s at the recent pace (merge
//! mode makes two calls a row, and `--rate` counts calls), and an estimate of the time left.
//! Reading standard input the total is unknown: no bar and no estimate rather than made-up ones.
//!
//! indicatif does what it knows how to: it draws the bar, the rows done of the total, the
//! spinner and the time left from its template, and its estimator (recent progress weighted
//! over about fifteen seconds) gives the rates. What is ccbulk's own stays here: the counts by
//! outcome and the retries (the bar's message), which parts fit the terminal's width (indicatif
//! wraps a long line rather than leave parts out), and the plain line for logs.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::outcome::{Counters, OutcomeKind};
use crate::pacer::PaceStats;

/// The bar being drawn, if any: log lines are printed above it (the bar cleared, the line
/// written, the bar drawn again), so no half-drawn progress line is left in the scrollback.
static BAR: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);

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
            let meter = Meter::new(if tty {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            });
            if tty {
                *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(meter.rows.clone());
            }
            let tick = if tty {
                Duration::from_millis(200)
            } else {
                every
            };
            let mut interval = tokio::time::interval(tick);
            interval.tick().await;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = interval.tick() => {}
                }
                let stats = calls.as_ref().map(|f| f());
                let snap = Snapshot::read(&counters, stats.as_ref());
                if tty {
                    // One column spare: a line that fills the last column makes some
                    // terminals wrap.
                    let width = console::Term::stderr()
                        .size_checked()
                        .map_or(80, |(_, cols)| usize::from(cols));
                    meter.draw(&snap, width.saturating_sub(1));
                } else {
                    meter.advance(&snap);
                    let now = humantime::format_rfc3339_seconds(SystemTime::now());
                    let line = snap.plain_line(&meter.pace(&snap));
                    eprint_above_bar(format!("{now} ccbulk: {line}\n").as_bytes());
                }
            }
            if tty {
                *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
                meter.rows.finish_and_clear();
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

/// indicatif's bars: `rows` is the one drawn on a terminal (hidden otherwise), and both serve
/// for indicatif's rate estimator. Calls get a hidden bar of their own, rather than a rate
/// worked out here, so rows/s and calls/s come from the same estimator and compare (merge
/// mode: two calls a row).
struct Meter {
    rows: ProgressBar,
    calls: ProgressBar,
}

impl Meter {
    fn new(target: ProgressDrawTarget) -> Meter {
        let rows = ProgressBar::with_draw_target(None, target);
        // Nothing drawn until the first frame lays the line out (not indicatif's default bar).
        if let Ok(style) = ProgressStyle::with_template("{msg}") {
            rows.set_style(style);
        }
        Meter {
            rows,
            calls: ProgressBar::hidden(),
        }
    }

    /// One frame on a terminal, `width` columns at most. indicatif draws on every change: the
    /// positions move first (drawn in the last frame's layout, which still fits: a digit more
    /// at the most, and a column is spare), then the layout made for them is drawn over it.
    fn draw(&self, snap: &Snapshot, width: usize) {
        self.advance(snap);
        let (template, message) = snap.terminal_layout(&self.pace(snap), width);
        // The template is made here from known parts: a failure would be a bug, and the bar's
        // last style is better than none.
        if let Ok(style) = ProgressStyle::with_template(&template) {
            self.rows
                .set_style(style.progress_chars("=> ").tick_chars("|/-\\ "));
        }
        self.rows.set_message(message);
    }

    /// Moves both bars to `snap` (drawing the rows' on a terminal): the estimates follow.
    fn advance(&self, snap: &Snapshot) {
        self.rows.update(|state| {
            // 0 stays "not known" (standard input): no length, so no made-up bar or estimate.
            if snap.total > 0 {
                state.set_len(snap.total);
            }
            state.set_pos(snap.done);
        });
        self.calls.set_position(snap.calls);
    }

    /// The rates and the time left, as indicatif estimates them.
    fn pace(&self, snap: &Snapshot) -> Pace {
        let rows_per_second = self.rows.per_sec();
        Pace {
            rows_per_second,
            calls_per_second: self.calls.per_sec(),
            eta: (snap.total > 0 && rows_per_second > 0.0).then(|| self.rows.eta()),
        }
    }
}

/// The counts at one moment.
#[derive(Debug, Default, Clone, PartialEq)]
struct Snapshot {
    done: u64,
    /// Rows in the input (0: not known, as when reading standard input).
    total: u64,
    accepted: u64,
    unchanged: u64,
    failed: u64,
    invalid: u64,
    /// Rows a dry run found valid, and rows a plan found would change.
    valid: u64,
    would_change: u64,
    /// Rows done that have no outcome of their own (an export's customers).
    other: u64,
    /// Whether calls are counted (not in a dry run).
    has_calls: bool,
    calls: u64,
    retries: u64,
}

/// The rates and the time left at one moment (indicatif's estimates).
#[derive(Debug, Default, Clone, PartialEq)]
struct Pace {
    rows_per_second: f64,
    calls_per_second: f64,
    /// `None` when the total or the pace is not known.
    eta: Option<Duration>,
}

/// The time left as the terminal's template draws it (`{eta}`), and as the plain line says it.
fn eta_text(eta: Duration) -> String {
    format!("{:#}", HumanDuration(eta))
}

/// Columns the template's ` · ETA {eta}` takes at the most: seven, and `{eta}` is at most four
/// wide ("89s", "35h", "13d") short of an estimate of years, which is left out.
const ETA_COLUMNS: usize = 11;

impl Snapshot {
    fn read(counters: &Counters, stats: Option<&PaceStats>) -> Snapshot {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Acquire);
        let kind = |k: OutcomeKind| load(&counters.by_kind[k as usize]);
        // `done` first: the writer counts a row's kind before the row (`results.rs`).
        let done = load(&counters.done);
        let kinds: u64 = OutcomeKind::ALL.into_iter().map(kind).sum();
        let (calls, retries) = stats.map_or((0, 0), |s| (s.calls, s.retries));
        Snapshot {
            done,
            // 0 stays "not known" (standard input): no made-up bar or estimate.
            total: match load(&counters.total) {
                0 => 0,
                total => total.max(done),
            },
            accepted: kind(OutcomeKind::Accepted),
            unchanged: kind(OutcomeKind::Unchanged),
            failed: kind(OutcomeKind::Failed),
            invalid: kind(OutcomeKind::Invalid),
            valid: kind(OutcomeKind::Valid),
            would_change: kind(OutcomeKind::WouldChange),
            // Done without a kind: an export's customers.
            other: done.saturating_sub(kinds),
            has_calls: stats.is_some(),
            calls,
            retries,
        }
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
    fn rates(&self, pace: &Pace, sep: &str) -> String {
        let mut s = format!("{} rows/s", rate(pace.rows_per_second));
        if self.has_calls {
            s.push_str(&format!("{sep}{} calls/s", rate(pace.calls_per_second)));
        }
        s
    }

    /// The terminal line for `width` columns, as indicatif's template and the message drawn in
    /// its `{msg}`: always the rows done and the counts, then, while they fit, the rates,
    /// retries, time left and a bar.
    fn terminal_layout(&self, pace: &Pace, width: usize) -> (String, String) {
        let (head, mut used) = if self.total > 0 {
            let shown = format!("{}/{}", self.done, self.total);
            ("{pos}/{len}".to_string(), columns(&shown))
        } else {
            let noun = crate::text::plural(self.done, "row", "rows");
            let shown = format!("| {} {noun}", self.done);
            (format!("{{spinner}} {{pos}} {noun}"), columns(&shown))
        };
        let mut message = self.counts(false).join(" ");
        used += 1 + columns(&message);
        let mut optional = vec![format!(" · {}", self.rates(pace, " "))];
        if self.retries > 0 {
            let retries = crate::text::count(self.retries, "retry", "retries");
            optional.push(format!(" · {retries}"));
        }
        for part in optional {
            if used + columns(&part) <= width {
                used += columns(&part);
                message.push_str(&part);
            }
        }
        let mut template = format!("{head} {{msg}}");
        let eta_fits = pace.eta.is_some_and(|eta| columns(&eta_text(eta)) <= 4);
        if self.total > 0 && eta_fits && used + ETA_COLUMNS <= width {
            used += ETA_COLUMNS;
            template.push_str(" · ETA {eta}");
        }
        // The bar takes what room is left, within reason; none without a total.
        let room = width.saturating_sub(used + 3);
        if self.total > 0 && room >= 10 {
            template.insert_str(0, &format!("[{{bar:{}}}] ", room.min(30)));
        }
        (template, message)
    }

    /// The line for a log file: everything, in words.
    fn plain_line(&self, pace: &Pace) -> String {
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
        s.push_str(&self.rates(pace, ", "));
        if self.retries > 0 {
            s.push_str(&format!(", {} retries", self.retries));
        }
        if let Some(eta) = pace.eta {
            s.push_str(&format!("; ETA {}", eta_text(eta)));
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

/// Terminal columns of a line (every character ccbulk puts in it is one column wide).
fn columns(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use indicatif::TermLike;

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
            has_calls: true,
            ..Snapshot::default()
        }
    }

    fn healthy(done: u64, total: u64) -> Snapshot {
        Snapshot {
            failed: 0,
            invalid: 0,
            retries: 0,
            accepted: done - 40,
            ..snap(done, total)
        }
    }

    fn pace() -> Pace {
        Pace {
            rows_per_second: 24.6,
            calls_per_second: 49.3,
            eta: Some(Duration::from_secs(153)),
        }
    }

    /// A terminal `width` columns wide that keeps the line indicatif drew last.
    #[derive(Debug, Clone)]
    struct Screen {
        width: u16,
        line: Arc<Mutex<String>>,
    }

    impl Screen {
        fn new(width: u16) -> Screen {
            Screen {
                width,
                line: Arc::default(),
            }
        }
        /// The line on screen, without the spaces indicatif fills the rest of it with.
        fn shown(&self) -> String {
            self.line.lock().unwrap().trim_end().to_string()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            *self.line.lock().unwrap() = s.to_string();
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            let mut line = self.line.lock().unwrap();
            if s == "\r" {
                line.clear();
            } else {
                line.push_str(s);
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.line.lock().unwrap().clear();
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A meter drawing on `screen`, moved from 0 to `snap` over a little real time (indicatif's
    /// estimator runs on the system clock), so it has a pace and a time left to show.
    fn meter_after(screen: &Screen, snap: &Snapshot) -> Meter {
        let meter = Meter::new(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        meter.advance(&Snapshot {
            total: snap.total,
            ..Snapshot::default()
        });
        std::thread::sleep(Duration::from_millis(30));
        meter.advance(snap);
        meter
    }

    #[test]
    fn indicatif_draws_the_bar_the_rows_done_and_the_time_left_around_the_counts() {
        let screen = Screen::new(81);
        let s = healthy(1234, 5000);
        let meter = meter_after(&screen, &s);
        meter.draw(&s, 80);
        let line = screen.shown();
        // A quarter done: a quarter of the bar filled, then its head.
        let bar = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .map_or("", |(bar, _)| bar);
        let cells = bar.chars().count();
        assert!(cells >= 10, "{line}");
        assert_eq!(bar.matches('=').count(), 1234 * cells / 5000, "{line}");
        assert!(bar.contains("=> "), "{line}");
        assert!(line.contains("] 1234/5000 acc 1194 unch 40 · "), "{line}");
        assert!(
            line.contains(" rows/s ") && line.contains(" calls/s · ETA "),
            "{line}"
        );
        let eta = line.rsplit("ETA ").next().unwrap_or_default();
        assert!(
            eta.ends_with(['s', 'm', 'h']) && eta[..eta.len() - 1].parse::<u64>().is_ok(),
            "indicatif's estimate: {line}"
        );
        assert!(columns(&line) <= 80, "{line}");
        // The plain line says the same estimates in words.
        let plain = s.plain_line(&meter.pace(&s));
        assert!(plain.contains(&format!("; ETA {eta}")), "{plain} / {line}");
    }

    #[test]
    fn the_rates_come_from_one_estimator_for_rows_and_calls() {
        let meter = Meter::new(ProgressDrawTarget::hidden());
        meter.advance(&Snapshot::default());
        std::thread::sleep(Duration::from_millis(50));
        // Merge mode: two calls a row.
        meter.advance(&Snapshot {
            done: 100,
            calls: 200,
            has_calls: true,
            ..Snapshot::default()
        });
        let pace = meter.pace(&Snapshot::default());
        assert!(pace.rows_per_second > 0.0, "{pace:?}");
        let ratio = pace.calls_per_second / pace.rows_per_second;
        assert!((1.5..2.5).contains(&ratio), "{pace:?}");
        assert_eq!(pace.eta, None, "no total, no estimate");
    }

    #[test]
    fn the_terminal_line_fits_80_columns_with_everything_it_can() {
        // A healthy run: everything, and a bar in the room left.
        let (template, message) = healthy(1234, 5000).terminal_layout(&pace(), 80);
        assert_eq!(template, "[{bar:17}] {pos}/{len} {msg} · ETA {eta}");
        assert_eq!(message, "acc 1194 unch 40 · 25 rows/s 49 calls/s");
        // Failures and retries too: the time left gives way first, the counts never.
        let (template, message) = snap(1234, 5000).terminal_layout(&pace(), 80);
        assert_eq!(template, "{pos}/{len} {msg}");
        assert_eq!(
            message,
            "acc 1189 unch 40 fail 3 inv 2 · 25 rows/s 49 calls/s · 17 retries"
        );
        let (template, _) = snap(1234, 5000).terminal_layout(&pace(), 100);
        assert!(template.ends_with(" · ETA {eta}"), "{template}");

        // Drawn by indicatif, at any width: the counts always, within the width from 80 on.
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
            let screen = Screen::new(width as u16 + 1);
            let meter = meter_after(&screen, &big);
            meter.draw(&big, width);
            let line = screen.shown();
            assert!(line.contains("4567890/10000000 acc 4000000 unch 500000 fail 67000 inv 890"));
            assert!(width < 80 || columns(&line) <= width, "{width}: {line}");
            if width == 200 {
                assert!(line.starts_with("[=========="), "a bar when there is room");
            }
        }
    }

    #[test]
    fn reading_stdin_there_is_no_bar_and_no_estimate() {
        let s = snap(1234, 0);
        let screen = Screen::new(81);
        let meter = meter_after(&screen, &s);
        meter.draw(&s, 80);
        let line = screen.shown();
        assert!(line.starts_with(['|', '/', '-', '\\']), "a spinner: {line}");
        assert!(
            line[1..].starts_with(" 1234 rows acc 1189 unch 40"),
            "{line}"
        );
        assert!(!line.contains('[') && !line.contains("ETA"), "{line}");
        assert_eq!(meter.pace(&s).eta, None);
        assert!(!s.plain_line(&meter.pace(&s)).contains("ETA"));
    }

    #[test]
    fn an_unknown_total_stays_unknown_however_many_rows_are_done() {
        let counters = Counters::default();
        counters.done.store(729, Ordering::Relaxed);
        counters.by_kind[OutcomeKind::Accepted as usize].store(710, Ordering::Relaxed);
        let s = Snapshot::read(&counters, None);
        assert_eq!(s.total, 0);
        let (template, message) = s.terminal_layout(&pace(), 79);
        assert_eq!(template, "{spinner} {pos} rows {msg}");
        assert!(message.starts_with("acc 710 · "), "{message}");
        // Once counted, the total is known (never below the rows done).
        counters.total.store(700, Ordering::Relaxed);
        let s = Snapshot::read(&counters, None);
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
        let s = Snapshot::read(&counters, None);
        assert_eq!((s.accepted, s.failed, s.invalid, s.other), (5, 2, 1, 0));
        assert!(
            s.plain_line(&Pace::default())
                .contains("accepted 5, unchanged 0, failed 2, invalid 1")
        );

        let export = Counters::default();
        export.done.store(4000, Ordering::Relaxed);
        let s = Snapshot::read(&export, None);
        assert_eq!(s.other, 4000);
        let line = s.plain_line(&Pace::default());
        assert!(
            !line.contains("accepted") && !line.contains("unchanged"),
            "{line}"
        );
    }

    #[test]
    fn the_plain_line_says_everything_in_words() {
        assert_eq!(
            snap(1234, 5000).plain_line(&pace()),
            "1234/5000 rows (25%): accepted 1189, unchanged 40, failed 3, invalid 2; 25 rows/s, 49 calls/s, 17 retries; ETA 3m"
        );
        // A dry run: rows found valid, no calls.
        let dry = Snapshot {
            done: 10,
            total: 20,
            valid: 9,
            invalid: 1,
            ..Snapshot::default()
        };
        let pace = Pace {
            rows_per_second: 5.0,
            eta: Some(Duration::from_secs(2)),
            ..Pace::default()
        };
        assert_eq!(
            dry.plain_line(&pace),
            "10/20 rows (50%): valid 9, invalid 1; 5.0 rows/s; ETA 2s"
        );
        assert_eq!(
            dry.terminal_layout(&pace, 45),
            (
                "{pos}/{len} {msg} · ETA {eta}".to_string(),
                "valid 9 inv 1 · 5.0 rows/s".to_string()
            )
        );
    }
}
