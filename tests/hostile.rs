//! Nothing hangs, nothing explodes: token endpoints and APIs that hang, trickle, redirect or send
//! endless bodies; input files that are not what they claim (an unclosed quote, no line break,
//! a huge cell, a legacy encoding); and runs where every row fails the same way. Every run of the
//! binary here is bounded by [`within`]: a hang fails the test instead of stalling the suite.

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Output};
use std::time::Duration;

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use ccbulk::sandbox::Sandbox;

use crate::common::*;

/// Runs `cmd` to completion, killing it (and failing the test) after `secs` seconds.
async fn within(secs: u64, cmd: Command) -> Output {
    run_within(cmd, Duration::from_secs(secs)).await
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

/// `rows` full rows sent in replace mode, with `extra`, to a [`refusing_api`]: the server, the
/// work directory and the run's output.
async fn refused_run(rows: u32, extra: &[&str]) -> (MockServer, Work, Output) {
    let server = refusing_api().await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=rows).map(full_row)));
    let out = within(60, work.replace_update_at(&server.uri(), extra)).await;
    (server, work, out)
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
    let (server, work, out) = refused_run(60, &["--concurrency", "1"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr_of(&out);
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
    assert_eq!(outcome_counts(&rows), BTreeMap::from([("failed", 20)]));
    assert_eq!(
        patches_received(&server).await,
        20,
        "nothing sent after the stop"
    );
}

/// With `--max-failures`, the user has said how many failures to stand: the rule is off.
#[tokio::test(flavor = "multi_thread")]
async fn max_failures_turns_the_systematic_stop_off() {
    let (server, work, out) = refused_run(30, &["--max-failures", "1000"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 30);
    assert_eq!(outcome_counts(&rows), BTreeMap::from([("failed", 30)]));
    assert_eq!(patches_received(&server).await, 30);
}

/// A replay sends rows that failed before: their failing again is no sign of a systematic
/// fault, so every row is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_replay_is_not_stopped_by_the_systematic_rule() {
    let (server, work, out) = refused_run(25, &["--max-failures", "1000"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let mut replay = work.against_url(&server.uri());
    replay
        .env("CCBULK_BACKOFF_BASE", "20ms")
        .args(["replay", "in.results.csv", "--mode", "replace"])
        .args(["--rate", "unlimited"]);
    let out = within(60, replay).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_each_row_once(&work.rows("in.replay.csv"), 25);
    assert_eq!(patches_received(&server).await, 50);
}

/// What a scripted loopback server does with its n-th request (counted from 0).
#[derive(Clone, Debug)]
enum Act {
    /// 200 with a token of this lifetime (seconds) that the test sandboxes accept.
    Token(u64),
    /// Reads the request and never answers, holding the connection open.
    Hang,
    /// 200 and a body that never ends (until the client goes away).
    Endless,
    /// A redirect to this address.
    Redirect(String),
    /// 202 and a body that stops after a few bytes, the connection held open.
    AcceptedThenStall,
    /// 200 and a body of this many bytes (a JSON string padded out), as fast as it is read.
    Huge(usize),
    /// 200 with this JSON body.
    Json(String),
    /// 202 with no body.
    Accepted,
}

/// A loopback HTTP/1.1 server: request `n` (one per connection) is answered as `script(n)`
/// says. Returns its base URL and the requests it read (head and body).
async fn scripted(
    script: impl Fn(usize) -> Act + Send + Sync + 'static,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = heads.clone();
    let script = std::sync::Arc::new(script);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (kept, script) = (kept.clone(), script.clone());
            tokio::spawn(async move {
                // The head, then as many body bytes as it announces.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&req[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while req.len() < head_end + length {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let n = {
                    let mut heads = kept.lock().expect("lock");
                    heads.push(String::from_utf8_lossy(&req).into_owned());
                    heads.len() - 1
                };
                let reply = |status: &str, extra: &str, body: &str| {
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                        body.len()
                    )
                };
                match script(n) {
                    Act::Token(ttl) => {
                        let body = format!(
                            r#"{{"token_type":"Bearer","expires_in":{ttl},"access_token":"{TOKEN}"}}"#
                        );
                        let _ = sock.write_all(reply("200 OK", "", &body).as_bytes()).await;
                    }
                    Act::Hang => tokio::time::sleep(Duration::from_secs(120)).await,
                    Act::Endless => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = format!("4000\r\n{}\r\n", "a".repeat(0x4000));
                        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
                    }
                    Act::Redirect(to) => {
                        let extra = format!("location: {to}\r\n");
                        let _ = sock
                            .write_all(reply("307 Temporary Redirect", &extra, "").as_bytes())
                            .await;
                    }
                    Act::AcceptedThenStall => {
                        let head = "HTTP/1.1 202 Accepted\r\ncontent-length: 1000\r\n\r\n{\"a\":";
                        let _ = sock.write_all(head.as_bytes()).await;
                        tokio::time::sleep(Duration::from_secs(120)).await;
                    }
                    Act::Huge(size) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n"
                        );
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let _ = sock.write_all(b"{\"id\":\"").await;
                        let chunk = vec![b'x'; 64 * 1024];
                        let mut left = size.saturating_sub(7);
                        while left > 0 {
                            let n = left.min(chunk.len());
                            if sock.write_all(&chunk[..n]).await.is_err() {
                                return;
                            }
                            left -= n;
                        }
                    }
                    Act::Json(body) => {
                        let _ = sock.write_all(reply("200 OK", "", &body).as_bytes()).await;
                    }
                    Act::Accepted => {
                        let _ = sock
                            .write_all(reply("202 Accepted", "", "").as_bytes())
                            .await;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), heads)
}

/// `update in.csv --mode replace` against `api` with client credentials exchanged at
/// `token_url`, a short `--timeout` and two attempts a call.
fn with_token_endpoint(work: &Work, api: &str, token_url: &str, extra: &[&str]) -> Command {
    let mut cmd = work.ccbulk();
    cmd.env("CLOUDCOCKPIT_CLIENT_ID", "app")
        .env("CLOUDCOCKPIT_CLIENT_SECRET", "cc-secret-hostile-31")
        .env("CCBULK_BACKOFF_BASE", "20ms")
        .args(["update", "in.csv", "--mode", "replace"])
        .args(["--tenant", "portal.reseller.example", "--base-url", api])
        .args(["--token-url", token_url])
        .args(["--timeout", "500ms", "--max-attempts", "2"])
        .args(extra);
    if !extra.contains(&"--rate") {
        cmd.args(["--rate", "unlimited"]);
    }
    cmd
}

/// Three rows sent to a sandbox with the token from the scripted endpoint at `token`: the
/// sandbox, the work directory, the run's output and the token URL it was given.
async fn run_with_token_from(token: &str) -> (Sandbox, Work, Output, String) {
    let sb = sandbox(ccbulk::sandbox::SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let url = format!("{token}/token");
    let out = within(60, with_token_endpoint(&work, &sb.base_url(), &url, &[])).await;
    (sb, work, out, url)
}

/// A token endpoint that never answers: each token request ends at `--timeout`, is retried like
/// an API call, and the run stops (exit 3) before anything is sent, naming the endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_that_never_answers_stops_the_run() {
    let (token, heads) = scripted(|_| Act::Hang).await;
    let (sb, work, out, url) = run_with_token_from(&token).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "the token endpoint {url}: answer timed out (gave up after 2 attempts)"
        )),
        "{err}"
    );
    assert_eq!(
        heads.lock().unwrap().len(),
        2,
        "retried like a call: 2 attempts"
    );
    assert!(sb.requests().is_empty(), "nothing sent");
    assert!(!work.path("in.results.csv").exists());
}

/// The endpoint answers the first token (2 s lifetime) and then hangs: the refresh is bounded,
/// the run stops with exit 3 naming the endpoint instead of stalling, and every row that was
/// sent is in the results exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_that_stops_answering_mid_run_stops_the_run() {
    let (token, heads) = scripted(|n| if n == 0 { Act::Token(2) } else { Act::Hang }).await;
    let sb = sandbox(ccbulk::sandbox::SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=400).map(full_row)));
    let url = format!("{token}/token");
    let cmd = with_token_endpoint(&work, &sb.base_url(), &url, &["--rate", "50/s"]);
    let out = within(60, cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("cannot get a token: the token endpoint")
            && err.contains("timed out (gave up after 2 attempts)")
            && err.contains("--resume"),
        "{err}"
    );
    assert!(heads.lock().unwrap().len() >= 2, "the refresh was tried");
    let rows = work.rows("in.results.csv");
    let sent = sb.requests().len();
    assert!(!rows.is_empty() && rows.len() < 400, "{} rows", rows.len());
    assert_eq!(rows.len(), sent, "each row sent is recorded, once");
    let mut numbers: Vec<u64> = rows
        .iter()
        .map(|r| r["ccbulk_row"].parse().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), rows.len(), "no row twice");
}

/// An endless token answer is read up to 64 KiB and refused; the token is never used.
#[tokio::test(flavor = "multi_thread")]
async fn an_endless_token_answer_is_refused() {
    let (token, _) = scripted(|_| Act::Endless).await;
    let (sb, _work, out, _) = run_with_token_from(&token).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("with more than 64 KiB"), "{err}");
    assert!(sb.requests().is_empty(), "nothing sent");
}

/// A redirect of the token request is not followed: the client secret goes nowhere else, and
/// the message names the address to configure instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_of_the_token_request_is_not_followed() {
    let (elsewhere, posted_there) = scripted(|_| Act::Token(3599)).await;
    let target = format!("{elsewhere}/other/token");
    let to = target.clone();
    let (token, _) = scripted(move |_| Act::Redirect(to.clone())).await;
    let (_sb, _work, out, _) = run_with_token_from(&token).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("redirecting to {target}")) && err.contains("give it as --token-url"),
        "{err}"
    );
    assert!(
        posted_there.lock().unwrap().is_empty(),
        "the secret went nowhere else"
    );
    assert!(!err.contains("cc-secret-hostile-31"), "{err}");
}

/// A redirect of an API call is not followed either: a PATCH (merge mode's GET too) answered
/// 307 fails its row with that status, and the address it points to is never called.
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_of_an_api_call_is_not_followed() {
    let (elsewhere, called_there) = scripted(|_| Act::Accepted).await;
    let to = format!("{elsewhere}/v1/Customers/moved");
    let (api, requests) = scripted(move |_| Act::Redirect(to.clone())).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=2).map(full_row)));
    let out = within(60, work.replace_update_at(&api, &["--concurrency", "1"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 2);
    for r in &rows {
        assert_eq!(r["ccbulk_outcome"], "failed", "{r:?}");
        assert_eq!(r["ccbulk_http_status"], "307");
        assert_eq!(r["ccbulk_attempts"], "1");
    }
    assert_eq!(methods(&requests), ["PATCH", "PATCH"]);

    work.write("in.csv", &format!("customerId,city\n{},Porto\n", guid(1)));
    let mut merge = work.against_url(&api);
    merge.args([
        "update",
        "in.csv",
        "--rate",
        "unlimited",
        "--no-undo",
        "--overwrite",
    ]);
    let out = within(60, merge).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(work.only_row("in.results.csv")["ccbulk_http_status"], "307");
    assert_eq!(methods(&requests), ["PATCH", "PATCH", "GET"]);
    assert!(called_there.lock().unwrap().is_empty(), "never followed");
}

/// A user name or password in --token-url or --base-url is refused before anything happens,
/// and never echoed.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_urls_are_refused_and_never_echoed() {
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    for (api, token) in [
        (
            "http://127.0.0.1:9",
            "http://app:Pw-In-Url-77@127.0.0.1:9/token",
        ),
        (
            "http://u:Pw-In-Url-77@127.0.0.1:9",
            "http://127.0.0.1:9/token",
        ),
        (
            "http://u:Pw-In-Url-77@127.0.0.1:x",
            "http://127.0.0.1:9/token",
        ),
    ] {
        let out = within(30, with_token_endpoint(&work, api, token, &[])).await;
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = stderr_of(&out);
        assert!(err.contains("holds a user name or password"), "{err}");
        assert!(!err.contains("Pw-In-Url-77"), "{err}");
    }
}

/// Methods of the requests a scripted server read, in order.
fn methods(requests: &std::sync::Mutex<Vec<String>>) -> Vec<String> {
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

/// A 202 whose body stalls past `--timeout`: the status line arrived, so the row is `accepted`
/// and its PATCH is never sent again.
#[tokio::test(flavor = "multi_thread")]
async fn a_202_whose_body_stalls_is_accepted_and_sent_once() {
    let (api, requests) = scripted(|_| Act::AcceptedThenStall).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let cmd = work.replace_update_at(&api, &["--timeout", "300ms", "--concurrency", "1"]);
    let out = within(60, cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 3);
    for r in &rows {
        assert_eq!(r["ccbulk_outcome"], "accepted", "{r:?}");
        assert_eq!(r["ccbulk_http_status"], "202");
        assert_eq!(r["ccbulk_attempts"], "1");
    }
    assert_eq!(requests.lock().unwrap().len(), 3, "one PATCH a row");
}

/// A GET answer over the cap fails its row at once ("answer too large"), not a dropped
/// connection retried until the attempts run out; the other rows go on.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_get_answer_fails_the_row_once() {
    let (api, requests) = scripted(|_| Act::Huge(40 << 20)).await;
    let work = Work::new();
    work.write("in.csv", &format!("customerId,city\n{},Porto\n", guid(1)));
    let mut cmd = work.against_url(&api);
    cmd.args(["update", "in.csv", "--rate", "unlimited", "--no-undo"]);
    let out = within(60, cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let row = work.only_row("in.results.csv");
    assert_eq!(row["ccbulk_outcome"], "failed");
    assert_eq!(row["ccbulk_http_status"], "200");
    assert_eq!(
        row["ccbulk_error"], "GET 200 OK: answer too large (over 8 MiB)",
        "worded as the API's own errors are"
    );
    assert_eq!(methods(&requests), ["GET"], "not retried, no PATCH");
}

/// A merge-mode row against a server whose GET answers `customer`; returns the PATCH body sent
/// (if one was) and the row's results.
async fn merge_once(
    customer: String,
    cell: &str,
) -> (Option<String>, HashMap<String, String>, Vec<String>) {
    let get = customer.clone();
    let (api, requests) = scripted(move |n| {
        if n == 0 {
            Act::Json(get.clone())
        } else {
            Act::Accepted
        }
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &format!("customerId,city\n{},{cell}\n", guid(1)));
    let mut cmd = work.against_url(&api);
    cmd.args(["update", "in.csv", "--rate", "unlimited", "--no-undo"])
        .args(["--max-attempts", "1"]);
    let out = within(60, cmd).await;
    let rows = work.rows("in.results.csv");
    assert_eq!(rows.len(), 1, "{}", show(&out));
    let sent = requests.lock().unwrap().clone();
    let patch = sent.iter().find(|r| r.starts_with("PATCH")).map(|r| {
        let body = &r[r.find("\r\n\r\n").expect("head end") + 4..];
        body.to_string()
    });
    let methods = methods(&requests);
    (patch, rows.into_iter().next().unwrap(), methods)
}

/// Numbers the GET returned (in unknown fields and inside providerCustomers) go back in the
/// PATCH exactly as they came, digit for digit: 17 significant digits, beyond u64, trailing
/// zeros, exponents.
#[tokio::test(flavor = "multi_thread")]
async fn numbers_pass_through_merge_exactly() {
    let numbers = [
        "0.12345678901234567",
        "12345678901234567.0",
        "98765432109876543210",
        "1.10",
        // (An exponent goes back with its sign written out, `1e400` as `1e+400`: the same
        // number, digit for digit.)
        "1e+400",
        "-0.0",
        "3.141592653589793238",
    ];
    let unknown: Vec<String> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| format!(r#""n{i}":{n}"#))
        .collect();
    let customer = format!(
        r#"{{"id":"{}","companyName":"Old","city":"Lisboa",{},"providerCustomers":{{"p":{{"margin":12.345678901234567,"offerTypeMargins":{{"a":0.30000000000000004}}}}}}}}"#,
        guid(1),
        unknown.join(",")
    );
    let (patch, row, _) = merge_once(customer, "Porto").await;
    assert_eq!(row["ccbulk_outcome"], "accepted", "{row:?}");
    // The body as sent: parsing it again here would normalise what it is about.
    let sent = patch.expect("a PATCH was sent");
    for n in numbers {
        assert!(sent.contains(&format!(":{n}")), "{n} in {sent}");
    }
    assert!(sent.contains(r#""margin":12.345678901234567"#), "{sent}");
    assert!(sent.contains(r#""a":0.30000000000000004"#), "{sent}");
    assert!(sent.contains(r#""city":"Porto""#), "{sent}");
}

/// A GET that answers with another customer's id fails the row (a server fault) and nothing is
/// sent; the same GUID written differently (upper case, braces) is the same customer.
#[tokio::test(flavor = "multi_thread")]
async fn a_get_answering_another_customer_fails_the_row() {
    let other = format!(
        r#"{{"id":"{}","companyName":"Other","city":"Lisboa"}}"#,
        guid(2)
    );
    let (patch, row, methods) = merge_once(other, "Porto").await;
    assert!(patch.is_none(), "no PATCH for another customer");
    assert_eq!(methods, ["GET"]);
    assert_eq!(row["ccbulk_outcome"], "failed");
    assert!(
        row["ccbulk_error"].contains("answered with customer id")
            && row["ccbulk_error"].contains(&guid(2).to_string()),
        "{row:?}"
    );
    let same = format!(
        r#"{{"id":"{{{}}}","companyName":"Same","city":"Lisboa"}}"#,
        guid(1).to_string().to_uppercase()
    );
    let (patch, row, _) = merge_once(same, "Porto").await;
    assert_eq!(row["ccbulk_outcome"], "accepted", "{row:?}");
    assert!(patch.is_some());
}

/// `n` full rows, then `tail` (raw bytes), as a replace-mode input file.
fn file_with_tail(work: &Work, n: u32, tail: &[u8]) {
    let mut text = full_csv((1..=n).map(full_row)).into_bytes();
    text.extend_from_slice(tail);
    work.write_bytes("in.csv", &text);
}

/// A quote that is never closed (3 MiB of file after it), dry run: the rows before it are in
/// the results once, the run stops at the record's line with exit 2 (nothing was sent), and
/// neither stderr nor the results carry the runaway cell.
#[tokio::test(flavor = "multi_thread")]
async fn an_unclosed_quote_stops_at_its_line() {
    let work = Work::new();
    let mut tail = format!("{},\"Company never closed,PT\n", guid(9)).into_bytes();
    for _ in 0..(3 << 20) / 64 {
        tail.extend_from_slice(&[b'x'; 63]);
        tail.push(b'\n');
    }
    file_with_tail(&work, 5, &tail);
    let mut cmd = work.ccbulk();
    cmd.args(["update", "in.csv", "--dry-run", "--mode", "replace"]);
    let out = within(60, cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "in.csv line 7: the record that begins here runs past 1 MiB (a quote not closed"
        ),
        "{err}"
    );
    assert!(err.len() < 4096, "a short message: {} bytes", err.len());
    let rows = work.rows("in.dry-run.csv");
    assert_each_row_once(&rows, 5);
    let size = std::fs::metadata(work.path("in.dry-run.csv"))
        .unwrap()
        .len();
    assert!(
        size < 64 * 1024,
        "the runaway cell is not copied: {size} bytes"
    );
}

/// A file without a single line break: the header itself runs past 1 MiB; refused at once
/// (exit 2) naming line 1, without quoting the header.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_without_line_breaks_is_refused_without_quoting_it() {
    let work = Work::new();
    let mut text = b"customerId,companyName".to_vec();
    for i in 0..(3 << 20) / 16 {
        text.extend_from_slice(format!(",col{i:011}").as_bytes());
    }
    work.write_bytes("in.csv", &text);
    let sb = sandbox(ccbulk::sandbox::SandboxConfig::default()).await;
    let out = within(60, work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("in.csv line 1: the record that begins here runs past 1 MiB"),
        "{err}"
    );
    assert!(err.len() < 4096, "a short message: {} bytes", err.len());
    assert!(sb.requests().is_empty());
}

/// A 2 MiB quoted cell in row 4 of a real run: rows 1-3 are sent and recorded once, the run
/// stops there with exit 3 (rows were sent), naming the line.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_cell_mid_run_stops_with_exit_3_after_the_rows_before_it() {
    let sb = sandbox(ccbulk::sandbox::SandboxConfig::default()).await;
    let work = Work::new();
    let mut tail = format!("{},\"", guid(4)).into_bytes();
    tail.extend(std::iter::repeat_n(b'y', 2 << 20));
    tail.extend_from_slice(b"\",PT,Rua,Lisboa,Lisboa,1000-001,Ana,Silva,a@b.pt,1\n");
    tail.extend_from_slice(format!("{}\n", full_row(5)).as_bytes());
    file_with_tail(&work, 3, &tail);
    let out = within(60, work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("in.csv line 5: the record that begins here runs past 1 MiB"),
        "{err}"
    );
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 3);
    assert_eq!(patches(&sb).len(), 3);
}

/// Many wide rows (200 rows of 20,000 cells): read through the byte-bounded queue, each row
/// recorded once (as invalid: the header has 11 columns, the rows carry data past them).
#[tokio::test(flavor = "multi_thread")]
async fn many_wide_rows_go_through_once_each() {
    let work = Work::new();
    let mut text = format!("{FULL_HEADER}\n").into_bytes();
    let wide = ",z".repeat(20_000);
    for n in 1..=200 {
        text.extend_from_slice(full_row(n).as_bytes());
        text.extend_from_slice(wide.as_bytes());
        text.push(b'\n');
    }
    work.write_bytes("in.csv", &text);
    let mut cmd = work.ccbulk();
    cmd.args(["update", "in.csv", "--dry-run", "--mode", "replace"]);
    let out = within(120, cmd).await;
    let rows = work.rows("in.dry-run.csv");
    assert_each_row_once(&rows, 200);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

/// A Windows-1252 export without --encoding: a regular file is refused before anything is sent,
/// naming the line and the encoding; standard input is checked on what has arrived, so there
/// only the row that is not UTF-8 is refused (invalid); with --encoding, every row goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_encoding_is_refused_before_anything_is_sent() {
    let sb = sandbox(ccbulk::sandbox::SandboxConfig::default()).await;
    let work = Work::new();
    let mut text = full_csv((1..=7).map(full_row)).into_bytes();
    // "São João" in Windows-1252.
    text.extend_from_slice(format!("{},Cooperativa S", guid(8)).as_bytes());
    text.extend_from_slice(&[0xE3, b'o', b' ', b'J', b'o', 0xE3, b'o']);
    text.extend_from_slice(b",PT,Rua,Lisboa,Lisboa,1000-001,Ana,Silva,a@b.pt,1\n");
    work.write_bytes("in.csv", &text);
    let out = within(60, work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("in.csv is not UTF-8: line 9 holds the byte 0xE3")
            && err.contains("--encoding windows-1252"),
        "{err}"
    );
    assert!(
        sb.requests().is_empty(),
        "nothing sent, not even the ASCII rows"
    );
    assert!(!work.path("in.results.csv").exists());

    let mut piped = work.against(&sb);
    piped.args(["update", "-", "--mode", "replace", "--rate", "unlimited"]);
    let bytes = std::fs::read(work.path("in.csv")).expect("read in.csv");
    let out = run_with_input(piped, Some(bytes)).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("results.csv");
    assert_each_row_once(&rows, 8);
    let bad = rows.iter().find(|r| r["ccbulk_row"] == "8").expect("row 8");
    assert_eq!(bad["ccbulk_outcome"], "invalid");
    assert!(bad["ccbulk_error"].contains("UTF-8"), "{bad:?}");
    assert_eq!(patches(&sb).len(), 7, "the other rows went");

    let out = within(
        60,
        work.replace_update(&sb, &["--encoding", "windows-1252"]),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 8);
    assert!(
        rows.iter()
            .any(|r| r["companyName"] == "Cooperativa São João")
    );
}

/// Usage errors in the tool's words: a zero rate, a zero concurrency, a delimiter the header
/// does not use.
#[tokio::test(flavor = "multi_thread")]
async fn zero_rates_counts_and_wrong_delimiters_are_explained() {
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=2).map(full_row)));
    for (flag, value, says) in [
        ("--rate", "0", "zero rate"),
        ("--rate", "0/s", "zero rate"),
        ("--concurrency", "0", "must be at least 1"),
    ] {
        let mut cmd = work.ccbulk();
        cmd.args(["update", "in.csv", "--dry-run", flag, value]);
        let out = within(30, cmd).await;
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(stderr_of(&out).contains(says), "{}", show(&out));
    }
    let mut cmd = work.ccbulk();
    cmd.args(["update", "in.csv", "--dry-run", "--delimiter", ";"]);
    let out = within(30, cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr_of(&out).contains("it looks delimited by ','"),
        "{}",
        show(&out)
    );
}
