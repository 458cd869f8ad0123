//! Pacing end to end: `--rate unlimited` against a throttled API finds its limit with few 429s
//! (the sandbox's `--throttle`, and a loopback server with a token bucket of its own), a
//! `--rate` under the limit meets no 429, `--no-adapt` keeps the pace, and `--max-retry-after`
//! cuts a long `Retry-After`. These runs take real seconds (a limit of 20/s needs 10 s for 200
//! rows); each has a timeout. How long a run took is printed, not asserted: benches/run.sh
//! measures it against the ideal on a quiet machine.

use std::convert::Infallible;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccbulk::sandbox::SandboxConfig;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

use crate::common::*;

fn count(s: &Value, key: &str) -> u64 {
    s[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in the summary: {s}"))
}

/// What a token-bucket server saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A loopback API with a token bucket of its own: `limit` calls a second, `burst` at once when
/// full; an empty bucket answers 429 with `Retry-After: retry_after`. Every other call is 202.
async fn bucket_server(limit: f64, burst: f64, retry_after: &'static str) -> (String, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Seen::default());
    let bucket = Arc::new(Mutex::new((burst, Instant::now())));
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (bucket, counts) = (bucket.clone(), counts.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (bucket, counts) = (bucket.clone(), counts.clone());
                        async move {
                            let admitted = {
                                let mut b = bucket.lock().expect("lock");
                                let now = Instant::now();
                                b.0 = (b.0 + limit * (now - b.1).as_secs_f64()).min(burst);
                                b.1 = now;
                                let ok = b.0 >= 1.0;
                                if ok {
                                    b.0 -= 1.0;
                                }
                                ok
                            };
                            let _ = req.into_body().collect().await;
                            let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                            if admitted {
                                counts.accepted.fetch_add(1, Ordering::SeqCst);
                                *resp.status_mut() = hyper::StatusCode::ACCEPTED;
                            } else {
                                counts.refused.fetch_add(1, Ordering::SeqCst);
                                *resp.status_mut() = hyper::StatusCode::TOO_MANY_REQUESTS;
                                resp.headers_mut().insert(
                                    hyper::header::RETRY_AFTER,
                                    hyper::header::HeaderValue::from_static(retry_after),
                                );
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, seen)
}

/// `update in.csv --mode replace` against `url` with the test token, the summary in s.json.
fn replace_against(work: &Work, url: &str, extra: &[&str]) -> Command {
    let mut cmd = work.against_url(url);
    cmd.args(["update", "in.csv", "--mode", "replace"])
        .args(["--summary-json", "s.json", "-q"])
        .args(extra);
    cmd
}

/// The summary's counts agree with what the server saw; every row accepted once.
fn check_run(work: &Work, out: &Output, rows: u64, refused: u64) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    let results = work.rows("in.results.csv");
    assert_each_row_once(&results, rows);
    assert!(results.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    let s = work.json("s.json");
    assert_eq!(count(&s, "http_429"), refused, "{s}");
    assert_eq!(count(&s, "calls"), rows + refused, "{s}");
    assert_eq!(count(&s, "retries"), refused, "{s}");
    s
}

/// `--rate unlimited` of `rows` rows against the sandbox throttled to `limit`/s: every row
/// accepted once, at most 5% more calls than rows, and every 429 paused the calls.
async fn against_the_sandbox_throttle(limit: u32, rows: u32) {
    let sb = sandbox(SandboxConfig {
        throttle: Some(format!("{limit}/s").parse().unwrap()),
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=rows).map(full_row)));
    let t = Instant::now();
    let out = run_within(
        replace_against(&work, &sb.base_url(), &["--rate", "unlimited"]),
        Duration::from_secs(90),
    )
    .await;
    let took = t.elapsed();
    let refused = sb.requests().iter().filter(|r| r.status == 429).count() as u64;
    let s = check_run(&work, &out, u64::from(rows), refused);
    let ideal = rows / limit;
    eprintln!(
        "limit {limit}/s, {rows} rows: {took:?} (ideal {ideal} s), {refused} 429s, summary {s}"
    );
    assert!(
        refused * 20 <= u64::from(rows),
        "{refused} 429s for {rows} rows"
    );
    // Each 429 paused every call for its Retry-After (1 s), overlapping pauses once.
    let paused = s["paused_seconds"].as_f64().expect("paused_seconds");
    assert!(paused >= 0.99 && paused <= refused as f64 + 0.01, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_finds_the_sandbox_throttle_of_20_a_second_with_few_429s() {
    against_the_sandbox_throttle(20, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_finds_the_sandbox_throttle_of_200_a_second_with_few_429s() {
    against_the_sandbox_throttle(200, 1000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_finds_a_token_buckets_limit_with_few_429s() {
    let (url, seen) = bucket_server(200.0, 200.0, "1").await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=1000).map(full_row)));
    let t = Instant::now();
    let out = run_within(
        replace_against(&work, &url, &["--rate", "unlimited"]),
        Duration::from_secs(60),
    )
    .await;
    let took = t.elapsed();
    let refused = seen.refused.load(Ordering::SeqCst);
    let s = check_run(&work, &out, 1000, refused);
    eprintln!("limit 200/s, 1000 rows: {took:?} (ideal 5 s), {refused} 429s, summary {s}");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1000);
    assert!(refused <= 50, "{refused} 429s for 1000 rows");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_under_the_limit_meets_no_429() {
    // A second's worth of burst, as an API that counts calls per second allows.
    let (url, seen) = bucket_server(50.0, 50.0, "1").await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=120).map(full_row)));
    let out = run_within(
        replace_against(&work, &url, &["--rate", "45/s", "--concurrency", "16"]),
        Duration::from_secs(60),
    )
    .await;
    let s = check_run(&work, &out, 120, 0);
    assert_eq!(seen.refused.load(Ordering::SeqCst), 0);
    assert_eq!(s["paused_seconds"], 0.0);
    // The pace asked for (a loaded machine may be slower, never faster).
    let rate = s["calls_per_second"].as_f64().expect("calls_per_second");
    assert!(rate > 10.0 && rate <= 45.0 * 1.02, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_adapt_keeps_the_pace_and_meets_429s_at_every_pause() {
    // Without learning, every pause ends with all eight workers at once. (A slow limit, so that
    // even a loaded machine sends faster.)
    let (url, seen) = bucket_server(5.0, 5.0, "1").await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=20).map(full_row)));
    let out = run_within(
        replace_against(&work, &url, &["--rate", "unlimited", "--no-adapt"]),
        Duration::from_secs(60),
    )
    .await;
    let refused = seen.refused.load(Ordering::SeqCst);
    check_run(&work, &out, 20, refused);
    // More than the 5% the adaptive pace stays under.
    assert!(refused > 1, "{refused} 429s for 20 rows");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_retry_after_cuts_a_long_retry_after() {
    // One call, refused once with a Retry-After of 31 years; cut to 1 s.
    let (url, seen) = bucket_server(0.5, 1.0, "999999999").await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=2).map(full_row)));
    let out = run_within(
        replace_against(
            &work,
            &url,
            &["--rate", "unlimited", "--max-retry-after", "1s"],
        ),
        Duration::from_secs(60),
    )
    .await;
    let refused = seen.refused.load(Ordering::SeqCst);
    let s = check_run(&work, &out, 2, refused);
    assert!(refused >= 1, "{s}");
    let paused = s["paused_seconds"].as_f64().expect("paused_seconds");
    assert!(paused >= 0.99 && paused <= refused as f64 + 0.01, "{s}");
}
