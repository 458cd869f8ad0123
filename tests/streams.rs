//! Standard input that streams, stops that come while it stays open, signals during setup, what a
//! kill -9 can send twice, and setup errors that name what is wrong.

use std::io::Write;
use std::time::Duration;

use crate::common::*;

/// A missing input file is named as such, before any lock is taken: in a folder that does not
/// exist either (the lock's error used to be all the user saw) and in one that does.
#[test]
fn a_missing_input_file_is_named_before_any_lock() {
    let work = Work::new();
    for input in ["samples/customers.csv", "customers.csv"] {
        let mut cmd = work.ccbulk();
        cmd.args(["update", input, "--dry-run"]);
        let out = run_blocking(cmd);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(
            stderr.contains(&format!("the input file {input} does not exist")),
            "{stderr}"
        );
        assert!(!stderr.contains("lock"), "{stderr}");
        assert!(work.files().is_empty(), "{:?}", work.files());
    }
}

/// A results file in a folder that does not exist is named with that folder.
#[test]
fn a_missing_results_folder_is_named() {
    let work = Work::new();
    work.write("in.csv", "customerId,city\n");
    let mut cmd = work.ccbulk();
    cmd.args(["update", "in.csv", "--dry-run", "--results", "out/r.csv"]);
    let out = run_blocking(cmd);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr.contains("the folder out of the results file out/r.csv does not exist"),
        "{stderr}"
    );
}

/// The sandbox banner comes only once setup succeeded: a header that matches nothing stops the
/// run without it.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_banner_is_not_printed_before_a_setup_error() {
    let work = Work::new();
    work.write("in.csv", "customerId,bogus\n");
    let mut cmd = work.ccbulk();
    cmd.args(["update", "in.csv", "--sandbox"]);
    let out = run(cmd).await;
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr.contains("bogus"), "{stderr}");
    assert!(!stderr.contains("built-in sandbox"), "{stderr}");

    work.write("in.csv", &numbered_cities(1, "Porto"));
    let mut cmd = work.ccbulk();
    cmd.args(["update", "in.csv", "--sandbox", "--rate", "unlimited"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        stderr_of(&out).contains("using the built-in sandbox at http://127.0.0.1:"),
        "{}",
        show(&out)
    );
}

/// How long a test waits for what it expects: far more than it takes, even on a loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

/// Rows from standard input go as they arrive: the first call is made, and the rows recorded,
/// while the producer still holds the pipe open; a later row that is not UTF-8 is only invalid.
/// (The first row's check refusing the input is in `a_first_row_that_is_not_utf8_…`.)
#[tokio::test(flavor = "multi_thread")]
async fn rows_from_stdin_are_sent_while_the_producer_holds_it_open() {
    let sb = sandbox(Default::default()).await;
    let work = Work::new();
    let mut cmd = work.against(&sb);
    cmd.args(["update", "-", "--rate", "unlimited"]);
    let (running, mut stdin) = Running::spawn_piped(cmd);
    stdin
        .write_all(numbered_cities(3, "Porto").as_bytes())
        .expect("write rows");
    stdin.flush().expect("flush");
    wait_until("a PATCH while stdin is open", LIMIT, || {
        !patches(&sb).is_empty()
    })
    .await;
    work.wait_for_lines("results.csv", 3, LIMIT).await;
    let mut late = format!("{},Lisb", cid(4)).into_bytes();
    late.extend_from_slice(&[0xE3, b'o', b'\n']);
    stdin.write_all(&late).expect("write a row");
    stdin.flush().expect("flush");
    work.wait_for_lines("results.csv", 4, LIMIT).await;
    drop(stdin);
    let (code, stderr) = running.wait(LIMIT).await;
    assert_eq!(code, Some(1), "{stderr}");
    let rows = work.rows("results.csv");
    assert_each_row_once(&rows, 4);
    let bad = rows.iter().find(|r| r["ccbulk_row"] == "4").expect("row 4");
    assert_eq!(bad["ccbulk_outcome"], "invalid");
    assert!(bad["ccbulk_error"].contains("UTF-8"), "{bad:?}");
    assert_eq!(patches(&sb).len(), 3);
}

/// The first row of standard input that is not UTF-8 refuses the input before anything is sent
/// (as a regular file's bad byte anywhere does), naming its line and the encoding to try.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_row_that_is_not_utf8_refuses_stdin_before_anything_is_sent() {
    let sb = sandbox(Default::default()).await;
    let work = Work::new();
    let mut text = format!("customerId,city\n{},Lisb", cid(1)).into_bytes();
    text.extend_from_slice(&[0xE3, b'o', b'\n']);
    text.extend_from_slice(
        numbered_cities(2, "Porto")
            .split_once('\n')
            .unwrap()
            .1
            .as_bytes(),
    );
    let mut cmd = work.against(&sb);
    cmd.args(["update", "-", "--rate", "unlimited"]);
    let out = run_with_input(cmd, Some(text)).await;
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr.contains("stdin is not UTF-8: line 2 holds the byte 0xE3")
            && stderr.contains("--encoding windows-1252"),
        "{stderr}"
    );
    assert!(sb.requests().is_empty(), "nothing sent");
    assert!(work.files().is_empty(), "{:?}", work.files());
}

/// A run against `sb` reading `rows` from standard input, which the test keeps open until the
/// run has ended: `then` does what stops it (a signal, or nothing when the rows themselves
/// stop it). The exit code, stderr, and the summary JSON (`s.json`).
async fn stopped_with_stdin_open(
    work: &Work,
    cmd: std::process::Command,
    rows: &[u8],
    then: impl AsyncFnOnce(&Running),
) -> (Option<i32>, String, serde_json::Value) {
    let (running, mut stdin) = Running::spawn_piped(cmd);
    stdin.write_all(rows).expect("write rows");
    stdin.flush().expect("flush");
    then(&running).await;
    // The producer never closes the pipe: the run must end on its own.
    let (code, stderr) = running.wait(LIMIT).await;
    drop(stdin);
    (code, stderr, work.json("s.json"))
}

/// `update - --summary-json s.json` against `sb`, with `extra`.
fn from_stdin(work: &Work, sb: &ccbulk::sandbox::Sandbox, extra: &[&str]) -> std::process::Command {
    let mut cmd = work.against(sb);
    cmd.args([
        "update",
        "-",
        "--rate",
        "unlimited",
        "--summary-json",
        "s.json",
    ])
    .args(extra);
    cmd
}

/// The first Ctrl-C ends the run with its rows in flight recorded, though standard input
/// stays open.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_ends_the_run_while_stdin_stays_open() {
    let sb = slow_sandbox(Duration::from_millis(100)).await;
    let work = Work::new();
    let cmd = from_stdin(&work, &sb, &["--concurrency", "2"]);
    let rows = numbered_cities(50, "Porto");
    let (code, stderr, summary) = stopped_with_stdin_open(&work, cmd, rows.as_bytes(), async |r| {
        work.wait_for_lines("results.csv", 2, LIMIT).await;
        r.signal("INT");
    })
    .await;
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(summary["exit_code"], 130, "{summary}");
    let recorded = work.rows("results.csv");
    assert!(
        recorded.len() >= 2 && recorded.len() < 50,
        "{}",
        recorded.len()
    );
    assert!(recorded.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    assert_eq!(summary["rows"], recorded.len(), "{summary}");
}

/// An API that refuses the token stops the run (exit 3), standard input open or not.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_ends_the_run_while_stdin_stays_open() {
    // No static token accepted: every call is a 401.
    let sb = ccbulk::sandbox::Sandbox::start(
        Default::default(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("sandbox");
    let work = Work::new();
    let mut cmd = from_stdin(&work, &sb, &[]);
    cmd.env("CLOUDCOCKPIT_TOKEN", "bogus-token-Zq81");
    let rows = numbered_cities(30, "Porto");
    let (code, stderr, summary) =
        stopped_with_stdin_open(&work, cmd, rows.as_bytes(), async |_| {}).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert_eq!(summary["exit_code"], 3, "{summary}");
    let recorded = work.rows("results.csv");
    assert!(!recorded.is_empty(), "the rows in flight are recorded");
    assert!(recorded.iter().all(|r| r["ccbulk_http_status"] == "401"));
}

/// The systematic-failure stop (the first 20 answered rows all 404) and `--max-failures`
/// end the run while standard input stays open.
#[tokio::test(flavor = "multi_thread")]
async fn failure_stops_end_the_run_while_stdin_stays_open() {
    let sb = sandbox(Default::default()).await;
    // The sandbox answers 404 for this customer.
    let rows = city_csv((1..=40).map(|i| (guid(0x404), format!("City {i}"))));
    for (extra, stopped) in [
        (&[][..], "first 20 rows that got an answer all failed"),
        (&["--max-failures", "3"][..], "--max-failures reached"),
    ] {
        let work = Work::new();
        let cmd = from_stdin(&work, &sb, extra);
        let (code, stderr, summary) =
            stopped_with_stdin_open(&work, cmd, rows.as_bytes(), async |_| {}).await;
        assert_eq!(code, Some(3), "{extra:?}: {stderr}");
        assert!(stderr.contains(stopped), "{stderr}");
        assert_eq!(summary["exit_code"], 3, "{summary}");
        assert!(
            summary["stopped"]
                .as_str()
                .is_some_and(|s| s.contains(stopped)),
            "{summary}"
        );
        let recorded = work.rows("results.csv");
        assert!(
            !recorded.is_empty() && recorded.len() < 40,
            "{}",
            recorded.len()
        );
        assert!(recorded.iter().all(|r| r["ccbulk_outcome"] == "failed"));
    }
}

/// A results file that cannot be written (here a file-size limit) ends the run with exit 3
/// while standard input stays open.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_error_ends_the_run_while_stdin_stays_open() {
    let sb = sandbox(Default::default()).await;
    let work = Work::new();
    let cmd = from_stdin(&work, &sb, &["--no-undo", "--mode", "replace"]);
    let cmd = after_shell("ulimit -f 16", &cmd);
    let rows = full_csv((1..=400).map(full_row));
    let (code, stderr, summary) =
        stopped_with_stdin_open(&work, cmd, rows.as_bytes(), async |_| {}).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write the results file results.csv"),
        "{stderr}"
    );
    assert_eq!(summary["exit_code"], 3, "{summary}");
}

/// SIGTERM while setup waits for the header on standard input: exit 130, saying nothing was
/// sent, and no file left behind (the lock file, the summary JSON).
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_setup_exits_130_and_leaves_no_file() {
    let sb = sandbox(Default::default()).await;
    let work = Work::new();
    let (running, stdin) = Running::spawn_piped(from_stdin(&work, &sb, &[]));
    // Setup has locked the results and waits for the header.
    wait_until("the lock file", LIMIT, || {
        work.files().contains("results.csv.lock")
    })
    .await;
    running.signal("TERM");
    let (code, stderr) = running.wait(LIMIT).await;
    drop(stdin);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(work.files().is_empty(), "{:?}", work.files());
    assert!(sb.requests().is_empty());
}

/// The customer ids of the complete lines of a results file a kill -9 may have torn (a torn
/// last line is cut, as `--resume` cuts it).
fn recorded_customers(work: &Work) -> std::collections::HashSet<String> {
    let text = std::fs::read_to_string(work.path("in.results.csv")).unwrap_or_default();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(whole.as_bytes());
    let column = rdr
        .headers()
        .map(|h| h.iter().position(|c| c == "customerId"))
        .ok()
        .flatten();
    let Some(column) = column else {
        return Default::default();
    };
    rdr.records()
        .map(|r| r.expect("a whole line")[column].to_string())
        .collect()
}

/// The customers the sandbox received a PATCH for, once it has stopped receiving (calls a killed
/// run left on the wire still arrive).
async fn patched_customers(sb: &ccbulk::sandbox::Sandbox) -> std::collections::HashSet<String> {
    let mut seen = usize::MAX;
    loop {
        let now = patches(sb);
        if now.len() == seen {
            return now
                .iter()
                .filter_map(|r| r.path.split('/').nth(3).map(str::to_string))
                .collect();
        }
        seen = now.len();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After each kill -9 of a fast run (a sandbox that answers at once, so finished rows come
/// quicker than anything else), at most `--concurrency` customers were sent a PATCH that the
/// results file does not record: all that `--resume` sends again. Checked after every kill of
/// a loop, then the resumed run finishes with every row once.
#[tokio::test(flavor = "multi_thread")]
async fn each_kill_9_leaves_at_most_the_concurrency_sent_but_unrecorded() {
    const N: u32 = 4000;
    const CONCURRENCY: usize = 4;
    const KILLS: usize = 8;
    let sb = sandbox(Default::default()).await;
    let work = Work::new();
    // cid(n): clear of the customers the sandbox refuses.
    work.write(
        "in.csv",
        &full_csv((1..=N).map(|n| full_row(n + 0x10_0000))),
    );
    let args = ["--concurrency", "4"];
    for kill in 0..KILLS {
        let mut cmd = work.replace_update(&sb, &args);
        if kill > 0 {
            cmd.arg("--resume");
        }
        let before = work.data_lines("in.results.csv");
        let mut running = Running::spawn(cmd);
        work.wait_for_lines("in.results.csv", before + 100, LIMIT)
            .await;
        running.kill();
        let (code, _) = running.wait(LIMIT).await;
        assert_eq!(code, None, "kill {kill}: killed mid-run");
        let recorded = recorded_customers(&work);
        let patched = patched_customers(&sb).await;
        let unrecorded: Vec<_> = patched.difference(&recorded).collect();
        assert!(
            unrecorded.len() <= CONCURRENCY,
            "kill {kill}: {} customers sent a PATCH but not in the results ({} recorded)",
            unrecorded.len(),
            recorded.len()
        );
    }
    assert!(
        work.data_lines("in.results.csv") < N as usize,
        "every kill came mid-run"
    );
    let mut cmd = work.replace_update(&sb, &args);
    cmd.arg("--resume");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), u64::from(N));
    let total = patches(&sb).len();
    assert!(
        total <= N as usize + CONCURRENCY * KILLS,
        "{total} PATCHes for {N} rows and {KILLS} kills"
    );
}

/// An export interrupted while it waits for its first token (an endpoint that never answers):
/// exit 130, saying nothing was sent, no file left (it was killed by the signal).
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_an_export_waits_for_its_token_exits_130() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let token_url = format!("http://{}/token", silent.local_addr().expect("addr"));
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    let work = Work::new();
    let mut cmd = work.against_url("http://127.0.0.1:9/");
    cmd.env_remove("CLOUDCOCKPIT_TOKEN")
        .env("CLOUDCOCKPIT_CLIENT_ID", "id")
        .env("CLOUDCOCKPIT_CLIENT_SECRET", "secret-Qw12")
        .env("CLOUDCOCKPIT_TOKEN_URL", &token_url)
        .args(["export", "--output", "out.csv", "--summary-json", "s.json"]);
    let running = Running::spawn(cmd);
    wait_until("the token request", LIMIT, || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    running.signal("TERM");
    let (code, stderr) = running.wait(LIMIT).await;
    server.abort();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(work.files().is_empty(), "{:?}", work.files());
}
