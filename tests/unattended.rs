//! Unattended runs, end to end through the real binary: client credentials with short-lived
//! tokens, a token file re-read after a 401, an API that refuses every token (the run stops at
//! once, exit 3), credentials refused before the first row, a 403 that stays one row's failure,
//! secrets kept out of every output, `--max-failures`, the summary JSON, tracing fields, and the
//! lock that keeps two runs off one results file.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use ccbulk::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// A client secret distinctive enough to search every output for.
const SECRET: &str = "cc-secret-7Hq2pX9vL4";

/// The binary against `sb`, authenticating with client credentials at the sandbox's token
/// endpoint (no CLOUDCOCKPIT_TOKEN). `args` come first (the subcommand and its input).
fn with_client_credentials(
    work: &Work,
    sb: &Sandbox,
    cfg: &SandboxConfig,
    args: &[&str],
) -> Command {
    let mut cmd = work.against_as_client(sb, cfg);
    cmd.args(args).args(["--token-url", &sb.token_url()]);
    cmd
}

/// Replace-mode input of customers `ids` (one call per row, so requests count rows).
fn replace_input(work: &Work, name: &str, ids: impl IntoIterator<Item = u32>) {
    work.write(name, &full_csv(ids.into_iter().map(full_row)));
}

/// A sandbox whose tokens live 2 s (and its configuration, which holds the client credentials):
/// a run of a few seconds outlives several.
async fn two_second_tokens() -> (SandboxConfig, Sandbox) {
    let cfg = SandboxConfig {
        token_ttl: Duration::from_secs(2),
        ..SandboxConfig::default()
    };
    let sb = sandbox(cfg.clone()).await;
    (cfg, sb)
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_with_two_second_tokens_over_a_longer_run() {
    let (cfg, sb) = two_second_tokens().await;
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=60);
    let cmd = with_client_credentials(
        &work,
        &sb,
        &cfg,
        &[
            "update",
            "in.csv",
            "--mode",
            "replace",
            "--rate",
            "10/s",
            "--concurrency",
            "4",
        ],
    );
    let started = Instant::now();
    let out = run(cmd).await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 60);
    assert!(
        rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "{}",
        show(&out)
    );
    // About 6 s of calls with tokens living 2 s, refreshed 0.4 s before expiry: a handful of
    // tokens, one per refresh, not one per row or per worker.
    let issued = sb.tokens_issued();
    assert!(
        took >= Duration::from_secs(5),
        "the run spans several token lifetimes: {took:?}"
    );
    assert!(
        (3..=10).contains(&issued),
        "{issued} tokens for a {took:?} run"
    );
    let calls = customer_calls(&sb);
    let bearers: HashSet<&str> = calls
        .iter()
        .filter_map(|r| r.header("authorization"))
        .collect();
    assert!(
        bearers.len() > 1 && bearers.len() <= issued,
        "{} tokens used",
        bearers.len()
    );
    assert!(
        !bearers.contains(format!("Bearer {TOKEN}").as_str()),
        "issued tokens, not the static one"
    );
    // Refreshed before expiry, not after a refusal: (nearly) no 401 on the way.
    let refused = calls.iter().filter(|r| r.status == 401).count();
    assert!(
        refused <= 2,
        "{refused} calls were refused with an expired token"
    );
    // Only the token requests of those refreshes went to the token endpoint.
    let token_requests = sb
        .requests()
        .iter()
        .filter(|r| r.path.contains("/token"))
        .count();
    assert_eq!(token_requests, issued);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_file_is_reread_after_a_401() {
    let (cfg, sb) = two_second_tokens().await;
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=40);
    // What a renewal agent does: write a fresh token to the file, atomically.
    let http = reqwest::Client::new();
    let renew = |path: std::path::PathBuf| {
        let (http, url, cfg) = (http.clone(), sb.token_url(), cfg.clone());
        async move {
            let reply: Value = http
                .post(url)
                .form(&[
                    ("client_id", cfg.client_id.as_str()),
                    ("client_secret", cfg.client_secret.as_str()),
                    ("grant_type", "client_credentials"),
                    ("scope", "x"),
                ])
                .send()
                .await
                .expect("token request")
                .json()
                .await
                .expect("token reply");
            let token = reply["access_token"]
                .as_str()
                .expect("access_token")
                .to_string();
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, format!("{token}\n")).expect("write token");
            std::fs::rename(&tmp, &path).expect("rename token");
        }
    };
    let token_path = work.path("token");
    renew(token_path.clone()).await;
    let mut cmd = work.against(&sb);
    cmd.env_remove("CLOUDCOCKPIT_TOKEN").args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "--rate",
        "10/s",
        "--concurrency",
        "2",
        "--token-file",
        "token",
    ]);
    let ccbulk = tokio::spawn(run(cmd));
    // Renewed every second, as the first token nears expiry; ccbulk only learns of it on a 401.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        renew(token_path.clone()).await;
    }
    let out = ccbulk.await.expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 40);
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    let calls = customer_calls(&sb);
    let refused = calls.iter().filter(|r| r.status == 401).count();
    assert!(
        refused >= 1,
        "the first token expired mid-run and was refused"
    );
    let bearers: HashSet<&str> = calls
        .iter()
        .filter_map(|r| r.header("authorization"))
        .collect();
    assert!(
        bearers.len() >= 2,
        "the file was read again: {} tokens used",
        bearers.len()
    );
    assert_eq!(
        calls.len(),
        40 + refused,
        "each refused call was sent once more, and only once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_that_refuses_every_token_stops_the_run_at_once() {
    // No static token accepted and none issued: every call is a 401.
    let sb = Sandbox::start(
        SandboxConfig::default(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("sandbox");
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=300);
    let mut cmd = work.replace_update(&sb, &["--summary-json", "s.json"]);
    cmd.env("CLOUDCOCKPIT_TOKEN", "bogus-token-Zq81");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let calls = customer_calls(&sb);
    assert!(
        !calls.is_empty() && calls.len() <= 8,
        "only the calls in flight (concurrency 8), not 300: {}",
        calls.len()
    );
    assert!(calls.iter().all(|r| r.status == 401));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authentication failed") && stderr.contains("check CLOUDCOCKPIT_TOKEN"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--resume"),
        "says how to continue: {stderr}"
    );
    assert!(!stderr.contains("bogus-token-Zq81"), "{stderr}");
    // Rows in flight are recorded as failed 401; the rest are left for --resume.
    let rows = work.rows("in.results.csv");
    assert!(
        !rows.is_empty() && rows.len() <= calls.len(),
        "{} rows recorded",
        rows.len()
    );
    let sent: HashSet<&str> = calls
        .iter()
        .filter_map(|r| r.header("x-correlation-id"))
        .collect();
    for r in &rows {
        assert_eq!(r["ccbulk_outcome"], "failed");
        assert_eq!(r["ccbulk_http_status"], "401");
        assert!(
            sent.contains(r["ccbulk_correlation_id"].as_str()),
            "a recorded row was sent"
        );
    }
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 3);
    assert!(
        summary["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("authentication failed"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_refused_by_the_api_refresh_once_then_stop() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "wm-access-token-Pt55"
        })))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/v1/Customers/"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "statusCode": 401, "type": "Unauthorized", "description": "The token is not valid."
        })))
        .mount(&server)
        .await;
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=100);
    let mut cmd = work.ccbulk();
    cmd.env("CLOUDCOCKPIT_TENANT", "portal.reseller.example")
        .env("CLOUDCOCKPIT_BASE_URL", server.uri())
        .env("CLOUDCOCKPIT_CLIENT_ID", "app")
        .env("CLOUDCOCKPIT_CLIENT_SECRET", SECRET)
        .args([
            "update",
            "in.csv",
            "--mode",
            "replace",
            "--concurrency",
            "4",
        ])
        .args(["--token-url", &format!("{}/token", server.uri())]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let received = server.received_requests().await.unwrap_or_default();
    let tokens = received.iter().filter(|r| r.url.path() == "/token").count();
    let calls = received.len() - tokens;
    assert_eq!(
        tokens, 2,
        "the first token, then one shared refresh after the 401s"
    );
    assert!(
        (2..=8).contains(&calls),
        "each call in flight once, and once more after the refresh: {calls}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CLOUDCOCKPIT_CLIENT_SECRET"),
        "says what to check: {stderr}"
    );
    for secret in [SECRET, "wm-access-token-Pt55"] {
        assert!(!stderr.contains(secret) && !work.read("in.results.csv").contains(secret));
    }
    let rows = work.rows("in.results.csv");
    assert!(
        rows.iter().all(|r| r["ccbulk_http_status"] == "401"),
        "{}",
        show(&out)
    );
    assert!(
        rows.iter()
            .any(|r| r["ccbulk_error"].contains("still refused after a token refresh"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_refused_before_the_first_row_stop_at_once() {
    let cfg = SandboxConfig {
        client_secret: SECRET.to_string(),
        ..SandboxConfig::default()
    };
    let sb = sandbox(cfg.clone()).await;
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=20);
    let wrong = SandboxConfig {
        client_secret: "wrong-secret-Bv03".to_string(),
        ..cfg.clone()
    };
    let mut cmd = with_client_credentials(
        &work,
        &sb,
        &wrong,
        &["update", "in.csv", "--mode", "replace"],
    );
    cmd.args(["--summary-json", "s.json"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authentication failed: ")
            && stderr.contains("The client id or secret is wrong")
            && stderr.contains("check CLOUDCOCKPIT_CLIENT_ID, CLOUDCOCKPIT_CLIENT_SECRET"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-secret-Bv03"), "{stderr}");
    assert_eq!(
        sb.requests().len(),
        1,
        "one token request, no customer call"
    );
    assert!(
        !work.path("in.results.csv").exists(),
        "nothing written: the same command can run again"
    );
    assert!(!work.path("in.results.csv.lock").exists());
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 3);
    assert_eq!(summary["rows"], 0);

    // A token file that is missing: the same, naming the file.
    let mut cmd = work.against(&sb);
    cmd.env_remove("CLOUDCOCKPIT_TOKEN").args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "--token-file",
        "no-such-token",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read --token-file no-such-token"),
        "{stderr}"
    );
    assert_eq!(sb.requests().len(), 1, "still no customer call");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_403_is_one_row_failure_not_a_stop() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    replace_input(&work, "in.csv", [1, 2, 0x403, 3, 4]);
    let out = run(work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 5);
    let forbidden: Vec<_> = rows
        .iter()
        .filter(|r| r["ccbulk_http_status"] == "403")
        .collect();
    assert_eq!(forbidden.len(), 1);
    assert_eq!(forbidden[0]["ccbulk_outcome"], "failed");
    assert_eq!(forbidden[0]["ccbulk_attempts"], "1", "a 403 is not retried");
    assert_eq!(outcome_counts(&rows).get("accepted"), Some(&4));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("stopped early"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_secrets_appear_in_no_output() {
    let cfg = SandboxConfig {
        client_secret: SECRET.to_string(),
        ..SandboxConfig::default()
    };
    let sb = sandbox(cfg.clone()).await;
    let work = Work::new();
    // Merge mode (GET then PATCH), a 403, a 404 and an invalid row: every path that writes text.
    let mut input = "customerId,city,email\n".to_string();
    for n in [1, 2, 0x403, 0x404, 3] {
        input.push_str(&format!("{},Porto,ana{n}@fabrikam.pt\n", guid(n)));
    }
    input.push_str(&format!("{},Porto,not-an-email\n", guid(9)));
    work.write("in.csv", &input);

    let mut outputs = Vec::new();
    for (i, env_log) in [None, Some("trace")].into_iter().enumerate() {
        let mut cmd = with_client_credentials(
            &work,
            &sb,
            &cfg,
            &["update", "in.csv", "-vv", "--overwrite"],
        );
        cmd.args([
            "--summary-json",
            &format!("s{i}.json"),
            "--undo",
            &format!("u{i}.csv"),
        ]);
        if let Some(level) = env_log {
            cmd.env("RUST_LOG", level);
        }
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains("row finished") && stderr.contains(" call "),
            "-vv logs: {stderr}"
        );
        outputs.push(("stdout", String::from_utf8_lossy(&out.stdout).into_owned()));
        outputs.push(("stderr", stderr));
        outputs.push(("summary", work.read(&format!("s{i}.json"))));
        outputs.push(("undo", work.read(&format!("u{i}.csv"))));
        outputs.push(("results", work.read("in.results.csv")));
    }
    // Every token the sandbox issued and ccbulk sent, and the client secret.
    let mut secrets: HashSet<String> = sb
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization"))
        .filter_map(|h| h.strip_prefix("Bearer "))
        .map(str::to_string)
        .collect();
    assert_eq!(secrets.len(), 2, "one token per run");
    secrets.insert(SECRET.to_string());
    for secret in &secrets {
        for (what, text) in &outputs {
            assert!(
                !text.contains(secret.as_str()),
                "{what} holds a secret:\n{text}"
            );
        }
    }

    // A token from the environment, likewise.
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "-vv",
        "--overwrite",
        "--summary-json",
        "s.json",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    for text in [show(&out), work.read("s.json"), work.read("in.results.csv")] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_failures_count_stops_the_run() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    // Every third customer is forbidden.
    replace_input(
        &work,
        "in.csv",
        (1..=30).map(|n| if n % 3 == 0 { 0x403 } else { n }),
    );
    let out = run(work.replace_update(
        &sb,
        &[
            "--concurrency",
            "1",
            "--max-failures",
            "3",
            "--summary-json",
            "s.json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    let counts = outcome_counts(&rows);
    assert_eq!(counts.get("failed"), Some(&3), "{counts:?}");
    // The third failure is row 9; row 10 may already be in flight (concurrency 1) and is
    // recorded; nothing after it is sent.
    assert!(
        (9..=10).contains(&rows.len()),
        "{} rows: {counts:?}",
        rows.len()
    );
    assert_eq!(
        customer_calls(&sb).len(),
        rows.len(),
        "nothing sent after the stop"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-failures reached (3 rows failed)"),
        "{stderr}"
    );
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 3);
    assert!(
        summary["resume_command"]
            .as_str()
            .is_some_and(|c| c.contains("--resume"))
    );

    // Fewer failures than the limit: the run goes to the end, exit 1.
    let out = run(work.replace_update(&sb, &["--max-failures", "11", "--overwrite"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_failures_percent_is_judged_on_the_rows_done() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    // 2 failures in 40 rows (5%): under 10%, the run finishes.
    replace_input(
        &work,
        "few.csv",
        (1..=40).map(|n| if n == 5 || n == 30 { 0x403 } else { n }),
    );
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "few.csv",
        "--mode",
        "replace",
        "--rate",
        "unlimited",
        "--max-failures",
        "10%",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_each_row_once(&work.rows("few.results.csv"), 40);

    // 20 good rows then only failures: stopped once more than 10% of the rows done failed.
    replace_input(
        &work,
        "many.csv",
        (1..=60).map(|n| if n > 20 { 0x403 } else { n }),
    );
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "many.csv",
        "--mode",
        "replace",
        "--rate",
        "unlimited",
        "--concurrency",
        "1",
        "--max-failures",
        "10%",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let rows = work.rows("many.results.csv");
    // 3 of 23 is the first share over 10% (one more row may be in flight).
    assert!(
        (23..=24).contains(&rows.len()),
        "{} rows: {:?}",
        rows.len(),
        outcome_counts(&rows)
    );
    assert_eq!(
        customer_calls(&sb).len(),
        rows.len() + 40,
        "nothing sent after the stop"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_json_holds_counts_times_paths_and_exit_code() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut input = full_csv([1, 2, 0x403, 3, 0x404, 4, 5].map(full_row));
    input.push_str("not-a-guid,Acme,PT,Rua,Lisboa,Lisboa,1000-001,Ana,Silva,a@b.pt,+351 1\n");
    work.write("in.csv", &input);
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "--rate",
        "20/s",
        "--summary-json",
        "out/summary.json",
    ]);
    std::fs::create_dir(work.path("out")).expect("mkdir");
    let before = SystemTime::now();
    let out = run(cmd).await;
    let after = SystemTime::now();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    let s = work.json("out/summary.json");
    assert_eq!(s["command"], "update");
    assert_eq!(s["input"], "in.csv");
    assert_eq!(s["results"], "in.results.csv");
    assert_eq!(s["exit_code"], 1);
    assert_eq!(s["rows"], 8);
    assert_eq!(
        s["outcomes"],
        serde_json::json!({"accepted": 5, "failed": 2, "invalid": 1})
    );
    assert_eq!(
        s["http_status"],
        serde_json::json!({"202": 5, "403": 1, "404": 1})
    );
    assert_eq!(s["calls"], 7);
    assert!(s["stopped"].is_null());
    assert!(
        s["replay_command"]
            .as_str()
            .is_some_and(|c| c.starts_with("ccbulk replay"))
    );
    let time = |k: &str| {
        humantime::parse_rfc3339(s[k].as_str().expect("a time string")).expect("RFC 3339")
    };
    let (start, end) = (time("started_at"), time("finished_at"));
    let slack = Duration::from_millis(5);
    assert!(
        before <= start + slack && start <= end && end <= after + slack,
        "{s}"
    );
    let duration = s["duration_seconds"].as_f64().expect("duration");
    let span = end.duration_since(start).expect("ordered").as_secs_f64();
    assert!((duration - span).abs() < 0.01, "{duration} vs {span}");
    // 7 calls at 20/s: about 0.3 s.
    assert!(duration > 0.2 && duration < 10.0, "{duration}");
    let rate = s["rows_per_second"].as_f64().expect("rate");
    assert!(
        (rate - 8.0 / duration).abs() < 0.2,
        "{rate} rows/s over {duration} s"
    );
    let leftovers: Vec<_> = std::fs::read_dir(work.path("out"))
        .expect("read out/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the summary, no temporary file: {leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_carry_row_numbers_and_correlation_ids() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=3);
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--mode", "replace", "-v"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
    for r in work.rows("in.results.csv") {
        let corr = &r["ccbulk_correlation_id"];
        let line = stderr
            .lines()
            .find(|l| l.contains("row finished") && l.contains(corr.as_str()))
            .unwrap_or_else(|| panic!("no -v line for {corr}: {stderr}"));
        assert!(line.contains(&format!("row={}", r["ccbulk_row"])), "{line}");
    }
    assert!(
        !stderr.contains(" call "),
        "-v does not log each call: {stderr}"
    );

    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "-vv",
        "--overwrite",
    ]);
    let out = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for r in work.rows("in.results.csv") {
        let corr = &r["ccbulk_correlation_id"];
        assert!(
            stderr.lines().any(|l| l.contains(" call ")
                && l.contains(&format!("row={}", r["ccbulk_row"]))
                && l.contains(corr.as_str())),
            "no -vv call line for row {}: {stderr}",
            r["ccbulk_row"]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_locked_results_is_refused() {
    let sb = slow_sandbox(Duration::from_millis(100)).await;
    let work = Work::new();
    replace_input(&work, "in.csv", 1..=30);
    // About 3 s: 30 calls at 10/s, one at a time.
    let mut slow = work.against(&sb);
    slow.args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "--concurrency",
        "1",
        "-q",
    ]);
    let mut first = Running::spawn(slow);
    let first_pid = first.child().id();
    let lock = work.path("in.results.csv.lock");
    wait_until(
        "the first run taking its lock",
        Duration::from_secs(10),
        || lock.exists() && work.path("in.results.csv").exists(),
    )
    .await;

    // Neither --overwrite nor --resume gets past the lock; nor does another input with the same
    // --results.
    replace_input(&work, "other.csv", 100..=101);
    for args in [
        vec!["update", "in.csv", "--mode", "replace", "--overwrite"],
        vec!["update", "in.csv", "--mode", "replace", "--resume"],
        vec![
            "update",
            "other.csv",
            "--mode",
            "replace",
            "--results",
            "in.results.csv",
            "--overwrite",
        ],
    ] {
        let mut second = work.against(&sb);
        second.args(&args);
        let out = run(second).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "another ccbulk run (process {first_pid}) is writing in.results.csv"
            )),
            "{stderr}"
        );
    }
    let (code, first_err) = first.wait(RUN_LIMIT).await;
    assert_eq!(code, Some(0), "{first_err}");
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 30);
    let sent: HashSet<String> = customer_calls(&sb).iter().map(|r| r.path.clone()).collect();
    assert_eq!(sent.len(), 30, "the refused runs sent nothing");
    assert!(!lock.exists(), "the lock file goes with the run");

    // Once the first run is over, the results are free again.
    let mut again = work.against(&sb);
    again.args(["update", "in.csv", "--mode", "replace", "--resume"]);
    let out = run(again).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// The disk fills mid-run (here: a file-size limit, so writing the results file fails once it
/// passes 16 KB): rows were already sent, so it is a run stopped early (exit 3) that says what
/// happened, not a setup error claiming nothing was sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_results_file_that_cannot_be_written_stops_the_run_with_exit_3() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=400).map(full_row)));
    let cmd = work.replace_update(&sb, &["--no-undo", "--summary-json", "s.json"]);
    // No `trap '' XFSZ`: ccbulk ignores SIGXFSZ itself, so the write fails with EFBIG.
    let out = run(after_shell("ulimit -f 16", &cmd)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(stderr.contains("cannot write the results file"), "{stderr}");
    assert!(stderr.contains("in.results.csv"), "{stderr}");
    assert!(
        !customer_calls(&sb).is_empty(),
        "rows were sent before the disk filled"
    );
    // The summary JSON is written on this exit too, saying why the run stopped.
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 3, "{summary}");
    assert!(
        summary["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("in.results.csv")),
        "{summary}"
    );
}
