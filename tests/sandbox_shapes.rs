//! `--rate unlimited` end to end against each shape of limit the sandbox plays (`--throttle-kind
//! bucket|window|sliding`, with and without rate-limit headers announcing what is left): every
//! row once, nothing failed, the summary's account of the calls, and its line on the limit (no
//! more than the sandbox allows); with headers, not one 429, at 20/s and at 200/s. These runs
//! take real seconds (200 rows at 40 calls/s: about 5 s each); how long is printed, not
//! asserted (the time bounds live in the pacer's paused-clock simulations and the benchmark).

use std::time::{Duration, Instant};

use ccbulk::sandbox::{SandboxConfig, Shape};
use serde_json::Value;

use crate::common::*;

/// The sandbox's limit in calls a second, without headers; and the seconds' worth of rows each
/// run sends.
const LIMIT: u32 = 40;
const SECONDS: u32 = 5;

/// `update --mode replace --rate unlimited` of `SECONDS` seconds' worth of rows against the
/// sandbox throttled to `limit`/s in `shape`: exit 0, every row accepted once, the 429s the
/// sandbox answered all retried (none with headers); the summary (stderr and JSON). Returns the
/// summary text.
async fn run_against(shape: Shape, headers: bool, limit: u32) -> (String, Value) {
    let rows = limit * SECONDS;
    let sb = sandbox(SandboxConfig {
        throttle: Some(format!("{limit}/s").parse().expect("rate")),
        throttle_kind: shape,
        throttle_headers: headers,
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=rows).map(full_row)));
    let cmd = work.replace_update(&sb, &["--summary-json", "s.json"]);
    let t = Instant::now();
    let out = run_within(cmd, Duration::from_secs(180)).await;
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{shape:?}: {}", show(&out));
    let results = work.rows("in.results.csv");
    assert_each_row_once(&results, u64::from(rows));
    assert!(
        results.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "{shape:?}: every row accepted"
    );
    let patched = sb
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.status == 202)
        .count();
    assert_eq!(patched, rows as usize, "each row sent and accepted once");
    let refused = sb.requests().iter().filter(|r| r.status == 429).count() as u64;
    if headers {
        // What is left is announced: never overspent, even at a window's renewal.
        assert_eq!(refused, 0, "{shape:?} at {limit}/s with headers: 429s came");
    } else {
        // --rate unlimited starts far above the limit: the shape was met, not skirted.
        assert!(refused > 0, "{shape:?}: no 429 at all");
    }
    let s = work.json("s.json");
    assert_eq!(s["http_429"].as_u64(), Some(refused), "{s}");
    assert_eq!(s["retries"].as_u64(), Some(refused), "{s}");
    assert_eq!(
        s["outcomes"]["accepted"].as_u64(),
        Some(u64::from(rows)),
        "{s}"
    );
    assert!(s["outcomes"].get("failed").is_none(), "nothing failed: {s}");
    // The limit the run saw: the one the headers announce, else the one learnt from 429s.
    let seen = &s["limit"];
    if headers {
        assert_eq!(seen["source"], "headers", "{s}");
        assert_eq!(
            seen["calls_per_second"].as_f64(),
            Some(f64::from(limit)),
            "{s}"
        );
        assert_eq!(seen["at_least"], false, "{s}");
    } else {
        assert_eq!(seen["source"], "429s", "{s}");
        let rate = seen["calls_per_second"].as_f64().unwrap_or(0.0);
        assert!(rate > 0.0 && rate <= f64::from(limit) * 1.1, "{s}");
        // Measured (not "at least"): within a tenth of the sandbox's limit.
        if seen["at_least"] == false {
            assert!((rate / f64::from(limit) - 1.0).abs() <= 0.1, "{s}");
        }
    }
    let stderr = stderr_of(&out);
    eprintln!(
        "{shape:?}{}: {rows} rows at a limit of {limit}/s in {took:?} (ideal {} s), {refused} 429s\n{stderr}",
        if headers { " with headers" } else { "" },
        rows / limit
    );
    // The headers paced the run, and only when the sandbox sent them.
    assert_eq!(
        stderr.contains("paced by the API's"),
        headers,
        "{shape:?}: the summary says whether rate-limit headers paced the run:\n{stderr}"
    );
    let calls = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("calls:"))
        .unwrap_or_else(|| panic!("no calls line:\n{stderr}"));
    assert!(
        calls.contains(&format!("{refused} answered 429")),
        "the summary counts the 429s the sandbox answered: {calls}"
    );
    if refused > 0 {
        let learned = limit_line(&stderr).unwrap_or_else(|| {
            panic!("429s came, so the summary says what the API took:\n{stderr}")
        });
        assert!(
            learned > 0.0 && learned <= f64::from(limit) * 1.1,
            "the limit reported ({learned} calls/s) is no more than the API allows ({limit}/s)\n{stderr}"
        );
        // A --rate advised is never below a window's limit: it would slow the next run.
        if let Some(advised) = advised_rate(&stderr).filter(|_| shape != Shape::Bucket) {
            assert!(
                advised >= f64::from(limit),
                "{shape:?}: --rate advised at {advised}/s, below the API's {limit}/s\n{stderr}"
            );
        }
    }
    (stderr, s)
}

/// The rate in the summary's line on the API's limit (the one after `calls:` that names a rate
/// in calls/s), if it has one.
fn limit_line(stderr: &str) -> Option<f64> {
    let mut lines = stderr
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("calls:"));
    lines.next()?;
    lines.find_map(|l| {
        let (before, _) = l.split_once(" calls/s")?;
        before.rsplit(' ').next()?.parse().ok()
    })
}

/// The `--rate` the summary advises, in calls a second (`--rate 40/s`, `--rate 900/min`), if
/// it advises one.
fn advised_rate(stderr: &str) -> Option<f64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("the API accepted about"))?;
    let (_, after) = line.split_once("--rate ")?;
    let word = after.split_whitespace().next()?;
    let (n, per) = word.split_once('/')?;
    let n: f64 = n.parse().ok()?;
    match per {
        "s" => Some(n),
        "min" => Some(n / 60.0),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_token_bucket() {
    run_against(Shape::Bucket, false, LIMIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_fixed_window() {
    run_against(Shape::Window, false, LIMIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_sliding_window() {
    run_against(Shape::Sliding, false, LIMIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_fixed_window_that_says_what_is_left() {
    for limit in [20, 200] {
        run_against(Shape::Window, true, limit).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_token_bucket_that_says_what_is_left() {
    for limit in [20, 200] {
        run_against(Shape::Bucket, true, limit).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_sliding_window_that_says_what_is_left() {
    for limit in [20, 200] {
        run_against(Shape::Sliding, true, limit).await;
    }
}
