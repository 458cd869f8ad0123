//! Nothing hangs, nothing explodes: token endpoints and APIs that hang, trickle, redirect or send
//! endless bodies; input files that are not what they claim (an unclosed quote, no line break,
//! a huge cell, a legacy encoding); and runs where every row fails the same way. Every run of the
//! binary here is bounded by [`within`]: a hang fails the test instead of stalling the suite.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// Runs `cmd` to completion, killing it (and failing the test) after `secs` seconds.
async fn within(secs: u64, mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start ccbulk");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err.join().unwrap_or_default();
                panic!(
                    "ccbulk still running after {secs}s; stderr:\n{}",
                    String::from_utf8_lossy(&stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    })
    .await
    .expect("join")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn count(rows: &[HashMap<String, String>], outcome: &str) -> usize {
    rows.iter()
        .filter(|r| r["ccbulk_outcome"] == outcome)
        .count()
}

/// `update in.csv --mode replace` against `url` with the static test token, unpaced, fast retries.
fn replace_against(work: &Work, url: &str, extra: &[&str]) -> Command {
    let mut cmd = work.ccbulk();
    cmd.env("CLOUDCOCKPIT_TOKEN", TOKEN)
        .env("CCBULK_BACKOFF_BASE", "20ms")
        .args(REPLACE_UNLIMITED)
        .args(["--tenant", "t.example", "--base-url", url])
        .args(extra);
    cmd
}

/// An API that refuses every PATCH the same way (here: a providerCustomers it requires).
async fn refusing_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path_regex("^/v1/Customers/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "statusCode": 400, "type": "ValidationError",
            "description": "One or more validation errors occurred.",
            "errors": [{"propertyName": "providerCustomers", "description": ["is required"]}]
        })))
        .mount(&server)
        .await;
    server
}

async fn patches_received(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .count()
}

/// Every row refused alike: the update stops after the first 20 answered rows (exit 3), quotes
/// the API, suggests merge mode in replace mode, and leaves the rest for `--resume`.
#[tokio::test(flavor = "multi_thread")]
async fn a_systematic_failure_stops_the_update_after_20_rows() {
    let server = refusing_api().await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=60).map(full_row)));
    let out = within(
        60,
        replace_against(&work, &server.uri(), &["--concurrency", "1"]),
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("first 20 rows that got an answer all failed with HTTP 400")
            && err.contains("providerCustomers: is required")
            && err.contains("--mode merge")
            && err.contains("--max-failures"),
        "{err}"
    );
    assert!(err.contains("--resume"), "says how to go on: {err}");
    let rows = work.rows("in.results.csv");
    // Concurrency 1: the 20th row stops the run before the 21st starts.
    assert_eq!(rows.len(), 20, "{}", show(&out));
    assert_eq!(count(&rows, "failed"), 20);
    assert_eq!(
        patches_received(&server).await,
        20,
        "nothing sent after the stop"
    );
}

/// With `--max-failures`, the user has said how many failures to stand: the rule is off.
#[tokio::test(flavor = "multi_thread")]
async fn max_failures_turns_the_systematic_stop_off() {
    let server = refusing_api().await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=30).map(full_row)));
    let out = within(
        60,
        replace_against(&work, &server.uri(), &["--max-failures", "1000"]),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 30);
    assert_eq!(count(&rows, "failed"), 30);
    assert_eq!(patches_received(&server).await, 30);
}

/// A replay sends rows that failed before: their failing again is no sign of a systematic
/// fault, so every row is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_replay_is_not_stopped_by_the_systematic_rule() {
    let server = refusing_api().await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=25).map(full_row)));
    let out = within(
        60,
        replace_against(&work, &server.uri(), &["--max-failures", "1000"]),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let mut replay = work.ccbulk();
    replay
        .env("CLOUDCOCKPIT_TOKEN", TOKEN)
        .env("CCBULK_BACKOFF_BASE", "20ms")
        .args(["replay", "in.results.csv", "--mode", "replace"])
        .args(["--tenant", "t.example", "--base-url", &server.uri()])
        .args(["--rate", "unlimited"]);
    let out = within(60, replay).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_each_row_once(&work.rows("in.replay.csv"), 25);
    assert_eq!(patches_received(&server).await, 50);
}
