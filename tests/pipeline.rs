//! The pipeline of `ccbulk update`: what the server receives and what the results file holds.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ccbulk::sandbox::{SandboxConfig, made_up_customer};
use serde_json::Value;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn body(r: &ccbulk::sandbox::RecordedRequest) -> Value {
    serde_json::from_str(&r.body).expect("PATCH body is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_run_sends_right_headers_and_bodies() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut input = format!("{FULL_HEADER},retryFailedProviderCustomersFromCompanyInfo\n");
    for n in 1..=20 {
        let flag = if n == 3 { "yes" } else { "" };
        input.push_str(&format!("{},{flag}\n", full_row(n)));
    }
    work.write("in.csv", &input);
    let out = run(work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 20);
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    assert!(rows.iter().all(|r| r["ccbulk_http_status"] == "202"));
    let patches = patches(&sb);
    assert_eq!(
        patches.len(),
        20,
        "one PATCH per row, no GET in replace mode"
    );
    assert!(sb.requests().iter().all(|r| r.method == "PATCH"));

    let by_corr: HashMap<&str, &HashMap<String, String>> = rows
        .iter()
        .map(|r| (r["ccbulk_correlation_id"].as_str(), r))
        .collect();
    assert_eq!(by_corr.len(), 20, "correlation ids are unique");
    for p in &patches {
        assert_eq!(
            p.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(p.header("x-tenant"), Some("portal.reseller.example"));
        assert_eq!(p.header("content-type"), Some("application/json"));
        assert!(
            p.header("user-agent")
                .is_some_and(|u| u.starts_with("ccbulk/"))
        );
        let corr = p.header("x-correlation-id").expect("correlation header");
        let row = by_corr
            .get(corr)
            .expect("the correlation id sent is the one in the results");
        let b = body(p);
        let id = row["customerId"].as_str();
        assert!(
            p.path
                .ends_with(&format!("/v1/Customers/{id}/account-info")),
            "{}",
            p.path
        );
        assert_eq!(b["customer"]["id"], id);
        assert_eq!(b["customer"]["companyName"], row["companyName"].as_str());
        assert_eq!(
            b["customer"]["zip"],
            row["zip"].as_str(),
            "zip stays a string"
        );
        assert_eq!(b["customer"]["phone"], row["phone"].as_str());
        let n = row["ccbulk_row"].as_str();
        assert_eq!(
            b["retryFailedProviderCustomersFromCompanyInfo"],
            Value::Bool(n == "3"),
            "row flag, else the --retry-provider-customers default"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_keeps_untouched_fields_and_skips_unchanged_rows() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut input = String::from("customerId,city,zip,taxId\n");
    for n in 1..=6 {
        let current = made_up_customer(guid(n));
        if n % 2 == 0 {
            // Equal to what the API holds: nothing to send.
            let city = current["city"].as_str().unwrap_or_default();
            input.push_str(&format!("{},{city},,\n", guid(n)));
        } else {
            input.push_str(&format!("{},Porto {n},0150-12{n},#NULL\n", guid(n)));
        }
    }
    work.write("in.csv", &input);
    let out = run(work.unpaced(&sb, &["update", "in.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 6);

    let patches = patches(&sb);
    assert_eq!(patches.len(), 3, "no PATCH for unchanged rows");
    let gets = sb.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 6, "one GET per row");
    for r in &rows {
        let n: u32 = r["ccbulk_row"].parse().unwrap();
        let expected_outcome = if n.is_multiple_of(2) {
            "unchanged"
        } else {
            "accepted"
        };
        assert_eq!(r["ccbulk_outcome"], expected_outcome, "{r:?}");
    }
    for p in &patches {
        let b = body(p);
        let id = b["customer"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("guid");
        let n = (0..=6).find(|n| guid(*n) == id).expect("known id");
        let mut expected = made_up_customer(id);
        expected.insert("city".into(), Value::String(format!("Porto {n}")));
        expected.insert("zip".into(), Value::String(format!("0150-12{n}")));
        expected.insert("taxId".into(), Value::Null);
        assert_eq!(
            b["customer"],
            Value::Object(expected),
            "every field the sheet does not carry goes back as GET returned it"
        );
        let row = rows
            .iter()
            .find(|r| r["customerId"] == id.to_string())
            .unwrap();
        assert!(row["ccbulk_changed"].contains("city: "), "{row:?}");
        assert!(
            row["ccbulk_changed"].contains(&format!("→ Porto {n}")),
            "{row:?}"
        );
    }
    let providers = made_up_customer(guid(1))["providerCustomers"].clone();
    assert!(providers.is_object() && providers.as_object().is_some_and(|m| !m.is_empty()));
}

/// A 202 for PATCH after each of the retried statuses in turn.
#[tokio::test(flavor = "multi_thread")]
async fn transient_statuses_are_retried_and_400_is_not() {
    let server = MockServer::start().await;
    let statuses = [500u16, 502, 503, 504, 429];
    for s in statuses {
        let mut resp = ResponseTemplate::new(s);
        if s == 429 {
            resp = resp.insert_header("Retry-After", "0");
        }
        Mock::given(method("PATCH"))
            .and(path_regex(format!(
                "^/v1/Customers/{}/account-info$",
                guid(1)
            )))
            .respond_with(resp)
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("PATCH"))
        .and(path_regex(format!(
            "^/v1/Customers/{}/account-info$",
            guid(1)
        )))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let error_body = serde_json::json!({
        "statusCode": 400, "type": "ValidationError", "description": "One or more validation errors occurred.",
        "correlationId": null,
        "errors": [{"propertyName": "companyName", "description": ["must not be a placeholder"]}]
    });
    Mock::given(method("PATCH"))
        .and(path_regex(format!(
            "^/v1/Customers/{}/account-info$",
            guid(2)
        )))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_body))
        .mount(&server)
        .await;

    let work = Work::new();
    work.write(
        "in.csv",
        &format!("{FULL_HEADER}\n{}\n{}\n", full_row(1), full_row(2)),
    );
    let cmd = work.replace_update_at(&server.uri(), &["--max-attempts", "6"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 2);
    let r1 = rows.iter().find(|r| r["ccbulk_row"] == "1").unwrap();
    assert_eq!(r1["ccbulk_outcome"], "accepted", "{r1:?}");
    assert_eq!(r1["ccbulk_attempts"], "6");
    let r2 = rows.iter().find(|r| r["ccbulk_row"] == "2").unwrap();
    assert_eq!(r2["ccbulk_outcome"], "failed");
    assert_eq!(r2["ccbulk_attempts"], "1", "a 400 is not retried");
    assert_eq!(r2["ccbulk_http_status"], "400");
    assert!(
        r2["ccbulk_error"].contains("One or more validation errors occurred.")
            && r2["ccbulk_error"].contains("companyName: must not be a placeholder"),
        "{r2:?}"
    );

    let received = server.received_requests().await.unwrap_or_default();
    let for_1: Vec<_> = received
        .iter()
        .filter(|r| r.url.path().contains(&guid(1).to_string()))
        .collect();
    assert_eq!(for_1.len(), 6);
    let corrs: HashSet<_> = for_1
        .iter()
        .map(|r| {
            r.headers
                .get("x-correlation-id")
                .map(|v| v.as_bytes().to_vec())
        })
        .collect();
    assert_eq!(
        corrs.len(),
        1,
        "every retry carries the row's correlation id"
    );
}

/// What a scripted server does with its n-th connection (counted from 0).
#[derive(Clone, Copy)]
enum Conn {
    /// Reads the request and closes the connection without a word.
    Drop,
    /// Reads the request and never answers (the connection stays open).
    Silent,
    /// Answers 202 with `connection: close`, then closes.
    AnswerAndClose,
}

/// A loopback server whose connections behave as `script` says; counts connections.
async fn scripted_server(
    script: fn(usize) -> Conn,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                match script(n) {
                    Conn::Drop => {}
                    Conn::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
                    Conn::AnswerAndClose => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                }
                // Dropping the socket closes the connection, with or without an answer.
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_are_retried() {
    let (url, seen) = scripted_server(|n| {
        if n < 2 {
            Conn::Drop
        } else {
            Conn::AnswerAndClose
        }
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &format!("{FULL_HEADER}\n{}\n", full_row(1)));
    let out = run(work.replace_update_at(&url, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let row = work.only_row("in.results.csv");
    assert_eq!(row["ccbulk_outcome"], "accepted");
    assert_eq!(row["ccbulk_attempts"], "3");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_closes_every_connection_costs_no_extra_attempts() {
    // Each worker opens a new connection for each call: nothing is lost, nothing is sent twice.
    let (url, seen) = scripted_server(|_| Conn::AnswerAndClose).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=40).map(full_row)));
    let out = run(work.replace_update_at(&url, &["--concurrency", "4"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 40);
    for row in &rows {
        assert_eq!(row["ccbulk_outcome"], "accepted");
        assert_eq!(row["ccbulk_attempts"], "1");
    }
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_times_out_and_the_call_is_retried() {
    let (url, seen) = scripted_server(|n| {
        if n == 0 {
            Conn::Silent
        } else {
            Conn::AnswerAndClose
        }
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &format!("{FULL_HEADER}\n{}\n", full_row(1)));
    let out = run(work.replace_update_at(&url, &["--timeout", "300ms"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let row = work.only_row("in.results.csv");
    assert_eq!(row["ccbulk_outcome"], "accepted");
    assert_eq!(row["ccbulk_attempts"], "2");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Never an answer: the row fails saying so, after its attempts.
    let (url, _) = scripted_server(|_| Conn::Silent).await;
    let out = run(work.replace_update_at(
        &url,
        &["--timeout", "200ms", "--max-attempts", "2", "--overwrite"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let row = work.only_row("in.results.csv");
    assert_eq!(row["ccbulk_outcome"], "failed");
    assert_eq!(row["ccbulk_attempts"], "2");
    assert!(
        row["ccbulk_error"].contains("timed out"),
        "{}",
        row["ccbulk_error"]
    );
}

/// A PATCH that went out and got no answer (the server read it, then stayed silent past
/// `--timeout`, or closed the connection) may have been applied: its row says so, and such rows
/// never make the "could not reach the API" stop, which is for calls that never left (refused,
/// TLS, name not resolved, a connection that could not be made in time). 25 rows, all failing
/// alike: the run goes through them all (exit 1) instead of stopping (exit 3) after 20.
#[tokio::test(flavor = "multi_thread")]
async fn a_patch_sent_without_an_answer_is_not_a_failure_to_reach_the_api() {
    type Script = fn(usize) -> Conn;
    let scripts: [(Script, &str); 2] = [
        (|_| Conn::Silent, "answer timed out"),
        (|_| Conn::Drop, "connection dropped before an answer"),
    ];
    for (script, cause) in scripts {
        let (url, seen) = scripted_server(script).await;
        let work = Work::new();
        work.write("in.csv", &full_csv((1..=25).map(full_row)));
        let args = [
            "--timeout",
            "200ms",
            "--max-attempts",
            "1",
            "--concurrency",
            "5",
        ];
        let out = run(work.replace_update_at(&url, &args)).await;
        assert_eq!(out.status.code(), Some(1), "{cause}: {}", show(&out));
        let rows = work.rows("in.results.csv");
        assert_each_row_once(&rows, 25);
        let error = format!("{cause}: the PATCH may have been applied (gave up after 1 attempts)");
        for row in &rows {
            assert_eq!(row["ccbulk_outcome"], "failed", "{row:?}");
            assert_eq!(row["ccbulk_error"], error, "{row:?}");
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 25);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_delays_the_retry() {
    // One call per second; ccbulk itself is unpaced, so the second call meets a 429.
    let sb = sandbox(SandboxConfig {
        throttle: Some("1/s".parse().unwrap()),
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write(
        "in.csv",
        &format!(
            "{FULL_HEADER}\n{}\n{}\n{}\n",
            full_row(1),
            full_row(2),
            full_row(3)
        ),
    );
    let out = run(work.replace_update(&sb, &["--concurrency", "1"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 3);
    let reqs = sb.requests();
    let first_429 = reqs
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429 happened");
    let next = &reqs[first_429 + 1];
    let gap = next.received.duration_since(reqs[first_429].received);
    assert!(
        gap >= Duration::from_millis(990),
        "Retry-After: 1 honoured, gap {gap:?}"
    );
    assert_eq!(next.path, reqs[first_429].path, "the same call is retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_pauses_every_worker() {
    // Customer 1 is throttled once with Retry-After: 1; every other call is slow but fine.
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path_regex(format!(
            "^/v1/Customers/{}/account-info$",
            guid(1)
        )))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let work = Work::new();
    let input = full_csv((1..=4).map(full_row));
    work.write("in.csv", &input);
    let cmd = work.replace_update_at(&server.uri(), &["--concurrency", "2"]);
    let child = tokio::spawn(run(cmd));
    // Watch arrivals: the worker that was not throttled must not start its next call until the
    // pause is over, although its own call finished after 300 ms.
    let (mut first, mut third) = (None, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while third.is_none() && std::time::Instant::now() < deadline {
        let n = server.received_requests().await.map_or(0, |r| r.len());
        let now = std::time::Instant::now();
        if n >= 1 && first.is_none() {
            first = Some(now);
        }
        if n >= 3 {
            third = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = child.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 4);
    let gap = third.unwrap().duration_since(first.unwrap());
    assert!(
        gap >= Duration::from_millis(850),
        "third call {gap:?} after the first"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_spreads_calls() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let input = full_csv((1..=30).map(full_row));
    work.write("in.csv", &input);
    let mut cmd = work.against(&sb);
    cmd.args([
        "update", "in.csv", "--mode", "replace", "--rate", "20/s", "--burst", "1",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 30);
    let reqs = sb.requests();
    assert_eq!(reqs.len(), 30);
    let span = reqs[29].received.duration_since(reqs[0].received);
    // 29 intervals of 50 ms: about 1.45 s, never less (no upper bound: a busy machine is slow).
    assert!(
        span >= Duration::from_millis(1300),
        "30 calls at 20/s took {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_of_one_customer_go_in_file_order_one_at_a_time() {
    let sb = slow_sandbox(Duration::from_millis(40)).await;
    let work = Work::new();
    let mut input = format!("{FULL_HEADER}\n");
    for round in 0..5 {
        for n in 1..=4 {
            let row = full_row(n).replace(&format!(",Rua {n},"), &format!(",Rua {n} v{round},"));
            input.push_str(&row);
            input.push('\n');
        }
    }
    work.write("in.csv", &input);
    let out = run(work.replace_update(&sb, &["--concurrency", "8"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 20);
    let reqs = patches(&sb);
    let mut overlap_elsewhere = false;
    for n in 1..=4 {
        let mine: Vec<_> = reqs
            .iter()
            .filter(|r| r.path.contains(&guid(n).to_string()))
            .collect();
        assert_eq!(mine.len(), 5);
        for (round, r) in mine.iter().enumerate() {
            assert_eq!(
                body(r)["customer"]["addressLine1"],
                format!("Rua {n} v{round}"),
                "file order"
            );
        }
        for w in mine.windows(2) {
            assert!(w[1].received >= w[0].finished, "never two at a time");
        }
        let last = sb.customer(guid(n));
        assert_eq!(
            last["addressLine1"],
            format!("Rua {n} v4"),
            "the last row wins"
        );
    }
    // Different customers do run in parallel.
    for w in reqs.windows(2) {
        if w[1].received < w[0].finished {
            overlap_elsewhere = true;
        }
    }
    assert!(overlap_elsewhere, "distinct customers are concurrent");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_sends_nothing() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let input = format!(
        "{FULL_HEADER}\n{}\n{}\nnot-a-guid,X,PT,a,b,c,d,e,f,g@h.pt,1\n",
        full_row(1),
        full_row(2)
    );
    work.write("in.csv", &input);
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(sb.requests().is_empty(), "a dry run sends nothing");
    assert!(
        !work.path("in.results.csv").exists(),
        "the real run's name stays free"
    );
    let rows = work.rows("in.dry-run.csv");
    assert_each_row_once(&rows, 3);
    let outcomes: Vec<&str> = rows.iter().map(|r| r["ccbulk_outcome"].as_str()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "valid").count(), 2);
    assert_eq!(outcomes.iter().filter(|o| **o == "invalid").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dash_reads_standard_input() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let input = format!("{FULL_HEADER}\n{}\n{}\n", full_row(7), full_row(8));
    let mut cmd = work.against(&sb);
    cmd.args(["update", "-", "--mode", "replace", "--rate", "unlimited"]);
    let out = run_with_input(cmd, Some(input.into_bytes())).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(out.stdout.is_empty(), "stdout stays free for pipelines");
    let rows = work.rows("results.csv");
    assert_each_row_once(&rows, 2);
    assert_eq!(patches(&sb).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_refuses_without_required_columns() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &format!("customerId,city\n{},Porto\n", guid(1)));
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--mode", "replace"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("companyName") && err.contains("missing"),
        "{err}"
    );
    assert!(sb.requests().is_empty());
    assert!(!work.path("in.results.csv").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_refuses_rows_with_an_empty_required_cell() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let blank_city = full_row(2).replace(",Lisboa,Lisboa,", ",,Lisboa,");
    work.write(
        "in.csv",
        &format!("{FULL_HEADER}\n{}\n{blank_city}\n", full_row(1)),
    );
    let out = run(work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 2);
    let bad = rows.iter().find(|r| r["ccbulk_row"] == "2").unwrap();
    assert_eq!(bad["ccbulk_outcome"], "invalid");
    assert!(
        bad["ccbulk_error"].contains("\"city\"") && bad["ccbulk_error"].contains("replace"),
        "{bad:?}"
    );
    assert_eq!(patches(&sb).len(), 1, "only the complete row is sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_lines_when_stderr_is_not_a_terminal() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    // 60 calls at 10/s: about 6 s, so at least one periodic line (every 5 s).
    work.write("in.csv", &full_csv((1..=60).map(full_row)));
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--mode", "replace", "--rate", "10/s"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // `2026-12-01T15:40:03Z ccbulk: 50/60 rows (83%): accepted 50, unchanged 0; 10 rows/s,
    // 10 calls/s; ETA 1s`
    let line = err
        .lines()
        .find(|l| l.contains(" ccbulk: ") && l.contains("/60 rows ("))
        .unwrap_or_else(|| panic!("no progress line in:\n{err}"));
    let (stamp, rest) = line.split_once(" ccbulk: ").expect("a timestamp first");
    humantime::parse_rfc3339(stamp).expect("an RFC 3339 timestamp");
    for part in [
        "accepted ",
        "unchanged 0",
        " rows/s, ",
        " calls/s",
        "; ETA ",
    ] {
        assert!(rest.contains(part), "{part}: {line}");
    }
    assert!(
        !err.contains('\u{1b}'),
        "no terminal codes when stderr is not a terminal"
    );
    assert!(
        err.contains("accepted 60") && err.contains("202: 60"),
        "summary: {err}"
    );
    assert!(err.contains("results: in.results.csv"), "{err}");
}
