//! The live display in a real terminal: ccbulk's stderr on a pseudo-terminal 80 columns wide,
//! read back through a terminal emulator (vt100). Every progress frame fits the line, the
//! progress line is gone when the summary comes, `-v` log lines leave no stale progress line
//! between them, and colour codes appear on a terminal unless `NO_COLOR` is set; export's line counts calls.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use ccbulk::sandbox::SandboxConfig;

use crate::common::*;

const COLUMNS: u16 = 80;

/// A pseudo-terminal (master, slave) of `COLUMNS` × 24.
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: COLUMNS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the integers given; name and termios may be
    // null; the winsize outlives the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Runs `cmd` with its stderr on a fresh terminal; returns the exit code and every byte the
/// terminal received. Killed (and the test failed) after [`RUN_LIMIT`].
fn on_terminal(mut cmd: Command, stdin: Option<File>) -> (Option<i32>, Vec<u8>) {
    let (master, slave) = pty();
    cmd.stdin(stdin.map_or_else(Stdio::null, Stdio::from))
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .env("TERM", "xterm-256color");
    let mut child = cmd.spawn().expect("start ccbulk");
    // The parent's copy of the slave end goes with the command, so the reader sees the end of
    // output when the child exits.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut file = File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once every slave descriptor is closed: the child is gone.
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let status = wait_within(&mut child, RUN_LIMIT);
    (status.code(), reader.join().expect("reader"))
}

/// Everything the terminal shows at the end, scrolled-off lines included (the emulated screen is
/// tall enough to keep them all).
fn screen(bytes: &[u8]) -> Vec<String> {
    let nz = |n: u16| std::num::NonZeroU16::new(n).expect("not zero");
    let mut parser = vt100::Parser::new(nz(5000), nz(COLUMNS), 0);
    parser.process(bytes);
    parser
        .screen()
        .rows(0, COLUMNS)
        .map(|r| r.trim_end().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// Each text the display drew in place: the output without escape sequences, cut at carriage
/// returns and line ends.
fn frames(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (@ to ~).
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            plain.push('\n');
        } else {
            plain.push(c);
        }
    }
    plain
        .split(['\r', '\n'])
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .collect()
}

/// Colour (SGR) sequences in the output: ESC [ digits and semicolons, then `m`.
fn colour_codes(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("\u{1b}[")
        .filter(|(i, _)| {
            let rest = &text[i + 2..];
            let params = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ';')
                .count();
            rest[params..].starts_with('m')
        })
        .count()
}

/// A merge-mode input of `n` customers, `--sandbox` at 150 calls/s: about `n`/75 seconds, two
/// calls a row, so the display draws many frames.
fn slow_run(work: &Work, n: u32, extra: &[&str]) -> Command {
    work.write("in.csv", &city_csv((1..=n).map(|i| (guid(i), "Porto"))));
    let mut cmd = work.ccbulk();
    cmd.args([
        "update",
        "in.csv",
        "--sandbox",
        "--rate",
        "150/s",
        "--overwrite",
    ])
    .args(extra);
    cmd
}

#[test]
fn the_progress_line_fits_80_columns_and_is_gone_at_the_end() {
    let work = Work::new();
    let (code, bytes) = on_terminal(slow_run(&work, 200, &[]), None);
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&bytes));
    let drawn: Vec<String> = frames(&bytes)
        .into_iter()
        .filter(|f| f.contains(" rows/s ") && f.contains(" calls/s"))
        .collect();
    assert!(
        drawn.len() >= 3,
        "the line was drawn several times: {drawn:?}"
    );
    for f in &drawn {
        assert!(f.chars().count() <= 80, "wider than the terminal: {f:?}");
        assert!(f.contains("/200 acc "), "rows done of the total: {f:?}");
        assert!(f.contains(" unch ") && f.contains(" rows/s "), "{f:?}");
    }
    assert!(drawn.iter().any(|f| f.contains("ETA ")), "{drawn:?}");
    // Calls go twice as fast as rows in merge mode, and the line says so.
    let last = drawn.last().expect("a frame");
    let number_before = |unit: &str| -> f64 {
        let i = last.find(unit).expect(unit);
        last[..i]
            .split_whitespace()
            .last()
            .expect("a number")
            .parse()
            .expect("a number")
    };
    let (rows, calls) = (number_before(" rows/s"), number_before(" calls/s"));
    assert!(calls > rows * 1.5, "{last}");

    let shown = screen(&bytes);
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("ccbulk update: 200 rows")),
        "{shown:#?}"
    );
    assert!(
        !shown
            .iter()
            .any(|l| l.contains("calls/s ·") || l.contains("/200 acc")),
        "no progress line left on screen: {shown:#?}"
    );
}

#[test]
fn verbose_logs_leave_no_stale_progress_lines_and_no_color_means_none() {
    let work = Work::new();
    let mut cmd = slow_run(&work, 150, &["-v"]);
    cmd.env("NO_COLOR", "1");
    let (code, bytes) = on_terminal(cmd, None);
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&bytes));
    let shown = screen(&bytes);
    let logs = shown.iter().filter(|l| l.contains("row finished")).count();
    assert_eq!(logs, 150, "one log line a row: {shown:#?}");
    let stale: Vec<&String> = shown
        .iter()
        .filter(|l| l.contains("rows/s") && !l.starts_with("ccbulk update:"))
        .collect();
    assert!(
        stale.is_empty(),
        "progress lines left between the logs: {stale:#?}"
    );
    assert_eq!(colour_codes(&bytes), 0, "NO_COLOR: no colour codes");

    // The same on a terminal without NO_COLOR: the log lines are coloured.
    let mut cmd = slow_run(&work, 20, &["-v"]);
    cmd.env_remove("NO_COLOR");
    let (code, bytes) = on_terminal(cmd, None);
    assert_eq!(code, Some(0));
    assert!(colour_codes(&bytes) > 0, "colour on a terminal");
}

#[test]
fn reading_standard_input_there_is_no_bar_and_no_estimate() {
    let work = Work::new();
    let cmd = slow_run(&work, 150, &["--results", "stdin.results.csv"]);
    // The same input, from standard input: its rows are not counted ahead.
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().replace("in.csv", "-"))
        .collect();
    let mut cmd = work.ccbulk();
    cmd.args(&args);
    let input = File::open(work.path("in.csv")).expect("input");
    let (code, bytes) = on_terminal(cmd, Some(input));
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&bytes));
    let drawn: Vec<String> = frames(&bytes)
        .into_iter()
        .filter(|f| f.contains(" rows/s "))
        .filter(|f| !f.starts_with("ccbulk"))
        .collect();
    assert!(drawn.len() >= 3, "{drawn:?}");
    for f in &drawn {
        assert!(f.contains(" rows acc "), "{f:?}");
        assert!(
            !f.contains('[') && !f.contains("ETA") && !f.contains("/150"),
            "{f:?}"
        );
    }
}

/// export's live line counts calls as update's does (calls/s, and retries once there are
/// any): a page is 2,000 rows, so rows/s alone would hide a page being retried.
#[tokio::test(flavor = "multi_thread")]
async fn the_export_line_counts_calls() {
    // Three pages, each 700 ms behind the sandbox's latency: many frames.
    let sb = sandbox(SandboxConfig {
        customers: 5000,
        latency: Duration::from_millis(700),
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    let cmd = work.unpaced(&sb, &["export"]);
    let (code, bytes) = tokio::task::spawn_blocking(move || on_terminal(cmd, None))
        .await
        .expect("join");
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&bytes));
    let drawn: Vec<String> = frames(&bytes)
        .into_iter()
        .filter(|f| f.contains(" rows/s"))
        .filter(|f| !f.starts_with("ccbulk"))
        .collect();
    assert!(!drawn.is_empty(), "{}", String::from_utf8_lossy(&bytes));
    for f in &drawn {
        assert!(f.contains(" calls/s"), "{f:?}");
    }
}
