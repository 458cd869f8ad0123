//! `--rate unlimited` end to end against each shape of limit the sandbox plays (`--throttle-kind
//! bucket|window|sliding`, and a fixed window that announces what is left in rate-limit
//! headers): every row once, nothing failed, the summary's account of the calls, and its line on
//! the limit (no more than the sandbox allows). These runs
//! take real seconds (200 rows at 40 calls/s: about 5 s each); how long is printed, not
//! asserted (the time bounds live in the pacer's paused-clock simulations and the benchmark).

use std::time::{Duration, Instant};

use ccbulk::sandbox::{SandboxConfig, Shape};
use serde_json::Value;

use crate::common::*;

/// Rows of each run, and the sandbox's limit in calls a second.
const ROWS: u32 = 200;
const LIMIT: u32 = 40;

/// `update --mode replace --rate unlimited` of `ROWS` rows against the sandbox throttled to
/// `LIMIT`/s in `shape`: exit 0, every row accepted once, the 429s the sandbox answered all
/// retried; the summary (stderr and JSON). Returns the summary text.
async fn run_against(shape: Shape, headers: bool) -> (String, Value) {
    let sb = sandbox(SandboxConfig {
        throttle: Some(format!("{LIMIT}/s").parse().expect("rate")),
        throttle_kind: shape,
        throttle_headers: headers,
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=ROWS).map(full_row)));
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "--rate",
        "unlimited",
    ])
    .args(["--summary-json", "s.json"]);
    let t = Instant::now();
    let out = run_within(cmd, Duration::from_secs(180)).await;
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{shape:?}: {}", show(&out));
    let results = work.rows("in.results.csv");
    assert_each_row_once(&results, u64::from(ROWS));
    assert!(
        results.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "{shape:?}: every row accepted"
    );
    let patched = sb
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.status == 202)
        .count();
    assert_eq!(patched, ROWS as usize, "each row sent and accepted once");
    let refused = sb.requests().iter().filter(|r| r.status == 429).count() as u64;
    if !headers {
        // --rate unlimited starts far above the limit: the shape was met, not skirted.
        assert!(refused > 0, "{shape:?}: no 429 at all");
    }
    let s = work.json("s.json");
    assert_eq!(s["http_429"].as_u64(), Some(refused), "{s}");
    assert_eq!(s["retries"].as_u64(), Some(refused), "{s}");
    assert_eq!(
        s["outcomes"]["accepted"].as_u64(),
        Some(u64::from(ROWS)),
        "{s}"
    );
    assert!(s["outcomes"].get("failed").is_none(), "nothing failed: {s}");
    let stderr = stderr_of(&out);
    eprintln!(
        "{shape:?}{}: {ROWS} rows at a limit of {LIMIT}/s in {took:?} (ideal {} s), {refused} 429s\n{stderr}",
        if headers { " with headers" } else { "" },
        ROWS / LIMIT
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
            learned > 0.0 && learned <= f64::from(LIMIT) * 1.1,
            "the limit reported ({learned} calls/s) is no more than the API allows ({LIMIT}/s)\n{stderr}"
        );
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

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_token_bucket() {
    run_against(Shape::Bucket, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_fixed_window() {
    run_against(Shape::Window, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_sliding_window() {
    run_against(Shape::Sliding, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_against_a_fixed_window_that_says_what_is_left() {
    run_against(Shape::Window, true).await;
}
