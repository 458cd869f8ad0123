//! Resume, interrupt and replay, end to end through the real binary: kill -9 mid-run then
//! `--resume`, SIGINT and a second SIGINT, a torn last line, replay of failed and invalid rows
//! (and of a replay's results), a keyed (`--key internalIdentifier`) run interrupted and resumed,
//! and the guards that keep a results file from being clobbered or resumed against the wrong
//! input.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ccbulk::sandbox::{Sandbox, SandboxConfig};

use crate::common::*;

/// A full replace-mode row for row `n` and customer [`cid`]`(n)`.
fn row(n: u32) -> String {
    full_row(n).replace(&guid(n).to_string(), &cid(n).to_string())
}

/// `n` full replace-mode rows.
fn full_input(n: u32) -> String {
    full_csv((1..=n).map(row))
}

/// PATCHes per customer id (the path's GUID).
fn patch_counts(sb: &Sandbox) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in patches(sb) {
        let id = p
            .path
            .trim_start_matches("/v1/Customers/")
            .trim_end_matches("/account-info")
            .to_string();
        *m.entry(id).or_insert(0) += 1;
    }
    m
}

/// The summary line that starts with `label`, without the label.
fn summary_line<'a>(stderr: &'a str, label: &str) -> Option<&'a str> {
    stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_resume_sends_each_row_once_and_resends_at_most_the_rows_in_flight() {
    // Killed after 300 rows: 700 more (about 2 s at 8 × 20 ms) keep the kill mid-run.
    const N: u32 = 1000;
    const CONCURRENCY: usize = 8;
    let sb = slow_sandbox(Duration::from_millis(20)).await;
    let work = Work::new();
    work.write("in.csv", &full_input(N));
    let args = ["--concurrency", "8"];
    let mut running = Running::spawn(work.replace_update(&sb, &args));
    work.wait_for_lines("in.results.csv", 300, Duration::from_secs(30))
        .await;
    running.kill();
    let (code, _) = running.wait(Duration::from_secs(10)).await;
    assert_eq!(code, None, "killed by a signal");
    let before = patches(&sb).len();
    let recorded = work.data_lines("in.results.csv");
    assert!(
        recorded < N as usize,
        "the kill came mid-run ({recorded} rows recorded)"
    );

    let mut cmd = work.replace_update(&sb, &args);
    cmd.arg("--resume");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    assert!(
        rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "every row accepted"
    );
    let counts = patch_counts(&sb);
    assert_eq!(counts.len(), N as usize, "every customer was patched");
    let total: usize = counts.values().sum();
    let twice = counts.values().filter(|&&c| c > 1).count();
    assert!(
        total - N as usize <= CONCURRENCY && twice <= CONCURRENCY,
        "at most the rows in flight at the kill are sent again: {} extra PATCHes ({twice} customers twice); {before} PATCHes before the kill, {recorded} rows recorded",
        total - N as usize
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_merge_mode_resends_harmlessly() {
    const N: u32 = 600;
    let sb = slow_sandbox(Duration::from_millis(10)).await;
    let work = Work::new();
    work.write("in.csv", &numbered_cities(N, "Porto"));
    let args = MERGE_8_UNPACED;
    let mut cmd = work.against(&sb);
    cmd.args(args);
    let mut running = Running::spawn(cmd);
    work.wait_for_lines("in.results.csv", 100, Duration::from_secs(30))
        .await;
    running.kill();
    running.wait(Duration::from_secs(10)).await;
    assert!(
        work.data_lines("in.results.csv") < N as usize,
        "killed mid-run"
    );

    let mut cmd = work.against(&sb);
    cmd.args(args).arg("--resume");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    let unchanged = rows
        .iter()
        .filter(|r| r["ccbulk_outcome"] == "unchanged")
        .count();
    assert!(
        rows.iter()
            .all(|r| matches!(r["ccbulk_outcome"].as_str(), "accepted" | "unchanged")),
        "{rows:?}"
    );
    assert!(
        unchanged <= 8,
        "only rows in flight at the kill come back unchanged: {unchanged}"
    );
    let total: usize = patch_counts(&sb).values().sum();
    assert!(total <= N as usize + 8, "{total} PATCHes for {N} rows");
    for n in [1, N / 2, N] {
        assert_eq!(
            sb.customer(cid(n))["city"],
            format!("Porto {n}").as_str(),
            "customer {n} ends with the sheet's value"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_finishes_rows_in_flight_records_them_and_prints_the_resume_command() {
    // Enough that the run is stopped early (12 rows done, 7 in flight), few enough that the
    // resumed run at 20/s is short.
    const N: u32 = 40;
    let sb = slow_sandbox(Duration::from_millis(300)).await;
    let work = Work::new();
    work.write("in.csv", &full_input(N));
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        // Slower than the workers could go, so some wait at the pacer when the signal comes.
        "--rate",
        "20/s",
        "--concurrency",
        "7",
        "--max-attempts",
        "3",
    ]);
    let running = Running::spawn(cmd);
    work.wait_for_lines("in.results.csv", 12, Duration::from_secs(30))
        .await;
    // Rows are now in flight behind the sandbox's latency.
    running.signal("INT");
    let (code, stderr) = running.wait(Duration::from_secs(30)).await;
    assert_eq!(code, Some(130), "{stderr}");

    let rows = work.rows("in.results.csv");
    assert!(
        rows.len() < N as usize,
        "stopped early: {} rows",
        rows.len()
    );
    let recorded: HashSet<&str> = rows
        .iter()
        .map(|r| r["ccbulk_correlation_id"].as_str())
        .collect();
    assert_eq!(recorded.len(), rows.len(), "no row twice");
    let sent = patches(&sb);
    for p in &sent {
        let corr = p.header("x-correlation-id").unwrap_or_default();
        assert!(
            recorded.contains(corr),
            "a PATCH the server received is recorded ({corr})"
        );
    }
    assert_eq!(sent.len(), rows.len(), "every recorded row was sent once");
    assert!(
        rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "rows in flight finished"
    );

    let resume = summary_line(&stderr, "to continue:").expect("resume command in the summary");
    let results_arg = resume.split(" --results ").nth(1).unwrap_or_default();
    assert!(
        results_arg.starts_with("in.results.csv --resume"),
        "{resume}"
    );
    assert!(resume.ends_with(" in.csv"), "{resume}");
    for flag in [
        "--mode replace",
        "--rate 20/s",
        "--concurrency 7",
        "--max-attempts 3",
    ] {
        assert!(resume.contains(flag), "{flag} carried over: {resume}");
    }
    assert!(!resume.contains(TOKEN), "no secret in the command");

    // The printed command, run as is, finishes the job with nothing sent twice.
    let out = run(work.printed_with_token(resume)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    assert_eq!(
        patches(&sb).len(),
        N as usize,
        "after a graceful interrupt nothing is sent twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn second_sigint_quits_at_once_keeping_what_is_written() {
    let sb = slow_sandbox(Duration::from_secs(6)).await;
    let work = Work::new();
    work.write("in.csv", &full_input(20));
    let cmd = work.replace_update(&sb, &["--summary-json", "s.json"]);
    let running = Running::spawn(cmd);
    wait_until("8 requests arriving", Duration::from_secs(20), || {
        patches(&sb).len() >= 8
    })
    .await;
    running.signal("TERM");
    // The first signal taken (seen, not guessed with a fixed pause): the next is the second.
    running
        .wait_for_stderr("finishing the rows in flight", Duration::from_secs(20))
        .await;
    running.signal("INT");
    let (code, stderr) = running.wait(Duration::from_secs(30)).await;
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("quitting at once"), "{stderr}");
    // The header was written and flushed before any row; nothing finished (a run that waited for
    // the 6 s answers would have recorded them as accepted), so nothing else.
    let rows = work.rows("in.results.csv");
    assert!(rows.is_empty(), "{rows:?}");
    assert!(work.read("in.results.csv").starts_with(FULL_HEADER));
    // The summary JSON is written on this exit too.
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 130, "{summary}");
    let resume = summary["resume_command"].as_str().expect("{summary}");
    // Printed too, as after one interrupt: the rows in flight are left for --resume.
    assert_eq!(
        summary_line(&stderr, "to continue:"),
        Some(resume),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_repairs_a_torn_last_line() {
    const N: u32 = 30;
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_input(N));
    let out = run(work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // A crash in the middle of writing the last line: cut it in half.
    let text = work.read("in.results.csv");
    let body = text.trim_end_matches('\n');
    let last_start = body.rfind('\n').expect("several lines") + 1;
    let last_row: u64 = work
        .rows("in.results.csv")
        .last()
        .map(|r| r["ccbulk_row"].parse().expect("number"))
        .expect("a row");
    let cut = last_start + (text.len() - last_start) / 2;
    work.write_bytes("in.results.csv", &text.as_bytes()[..cut]);

    let cmd = work.replace_update(&sb, &["--resume"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("torn last line"),
        "{}",
        show(&out)
    );
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    let counts = patch_counts(&sb);
    assert_eq!(
        counts.values().sum::<usize>(),
        N as usize + 1,
        "only the torn row is sent again"
    );
    assert_eq!(counts[&cid(last_row as u32).to_string()], 2);
    // The file is whole again: the first N-1 lines are as before.
    assert!(work.read("in.results.csv").starts_with(&text[..last_start]));
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_sends_exactly_the_failed_and_invalid_rows_and_can_be_replayed_again() {
    const N: u32 = 40;
    let bad_rows = [7u32, 23];
    let work = Work::new();
    let mut input = format!("{FULL_HEADER}\n");
    for n in 1..=N {
        let row = full_row(n);
        if bad_rows.contains(&n) {
            input.push_str(&row.replace(",PT,", ",Portugal,"));
        } else {
            input.push_str(&row);
        }
        input.push('\n');
    }
    work.write("customers.csv", &input);
    let flaky = |seed| SandboxConfig {
        fail_rate: 0.5,
        seed,
        ..SandboxConfig::default()
    };
    let common_args = [
        "--mode",
        "replace",
        "--rate",
        "unlimited",
        "--max-attempts",
        "1",
    ];

    // First run: some rows fail (500/503, no retry), two are invalid.
    let sb1 = sandbox(flaky(11)).await;
    let mut cmd = work.against(&sb1);
    cmd.args(["update", "customers.csv"]).args(common_args);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let replay = summary_line(
        &stderr,
        "to send the failed and invalid rows again after fixing them:",
    )
    .expect("replay command in the summary");
    assert!(
        replay.starts_with("ccbulk replay ") && replay.ends_with(" customers.results.csv"),
        "{replay}"
    );
    let rows = work.rows("customers.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    let numbers = |rows: &[HashMap<String, String>], outcomes: &[&str]| -> HashSet<u64> {
        rows.iter()
            .filter(|r| outcomes.contains(&r["ccbulk_outcome"].as_str()))
            .map(|r| r["ccbulk_row"].parse().expect("number"))
            .collect()
    };
    let failed1 = numbers(&rows, &["failed"]);
    let invalid1 = numbers(&rows, &["invalid"]);
    assert_eq!(invalid1, bad_rows.iter().map(|&n| u64::from(n)).collect());
    assert!(
        !failed1.is_empty() && failed1.len() < (N - 2) as usize,
        "a mix of failed and accepted rows: {failed1:?}"
    );

    // The user fixes the invalid cells in the results file itself.
    let fixed = work
        .read("customers.results.csv")
        .replace(",Portugal,", ",PT,");
    work.write("customers.results.csv", &fixed);

    // Replay against another flaky API: exactly the failed and invalid rows go, numbers kept.
    let sb2 = sandbox(flaky(12)).await;
    let mut cmd = work.against(&sb2);
    cmd.args(["replay", "customers.results.csv"])
        .args(common_args);
    let out = run(cmd).await;
    let want2: HashSet<u64> = failed1.union(&invalid1).copied().collect();
    let rows2 = work.rows("customers.replay.csv");
    let got2: HashSet<u64> = rows2
        .iter()
        .map(|r| r["ccbulk_row"].parse().expect("number"))
        .collect();
    assert_eq!(got2, want2, "{}", show(&out));
    assert_eq!(rows2.len(), want2.len(), "each replayed row once");
    let sent2: HashSet<String> = patch_counts(&sb2).into_keys().collect();
    let want_ids = |numbers: &HashSet<u64>| -> HashSet<String> {
        numbers
            .iter()
            .map(|&n| guid(n as u32).to_string())
            .collect()
    };
    assert_eq!(
        sent2,
        want_ids(&want2),
        "PATCHes only for the replayed rows"
    );
    assert_eq!(patches(&sb2).len(), want2.len());
    for r in &rows2 {
        let n: u32 = r["ccbulk_row"].parse().expect("number");
        assert_eq!(
            r["customerId"],
            guid(n).to_string(),
            "row {n} keeps its number"
        );
        assert_eq!(r["country"], "PT");
    }
    let failed2 = numbers(&rows2, &["failed"]);
    assert!(
        !failed2.is_empty() && failed2.len() < want2.len(),
        "seed 12 fails some replayed rows: {failed2:?}"
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // A replay's results replay again, to the next name, against a healthy API.
    let sb3 = sandbox(SandboxConfig::default()).await;
    let mut cmd = work.against(&sb3);
    cmd.args(["replay", "customers.replay.csv"])
        .args(common_args);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows3 = work.rows("customers.replay-2.csv");
    let got3: HashSet<u64> = rows3
        .iter()
        .map(|r| r["ccbulk_row"].parse().expect("number"))
        .collect();
    assert_eq!(got3, failed2);
    assert_eq!(rows3.len(), failed2.len());
    assert!(rows3.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    let sent3: HashSet<String> = patch_counts(&sb3).into_keys().collect();
    assert_eq!(sent3, want_ids(&failed2));
    assert_eq!(patches(&sb3).len(), failed2.len());

    // An interrupted replay resumes like any run: only the replayed rows it had not recorded.
    let replay_text = work.read("customers.replay.csv");
    let kept: String = replay_text
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    work.write("customers.replay.csv", &kept);
    let sb4 = sandbox(SandboxConfig::default()).await;
    let mut cmd = work.against(&sb4);
    cmd.args(["replay", "customers.results.csv", "--resume"])
        .args(common_args);
    let out = run(cmd).await;
    let rows4 = work.rows("customers.replay.csv");
    let got4: Vec<u64> = rows4
        .iter()
        .map(|r| r["ccbulk_row"].parse().expect("number"))
        .collect();
    assert_eq!(got4.len(), want2.len(), "{}", show(&out));
    assert_eq!(got4.iter().copied().collect::<HashSet<_>>(), want2);
    assert_eq!(
        patches(&sb4).len(),
        want2.len() - 1,
        "the recorded row is not sent"
    );
    assert_eq!(
        out.status.code(),
        Some(u8::from(rows2[0]["ccbulk_outcome"] == "failed").into()),
        "exit 1 only if the row recorded before had failed: {}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_refuses_a_results_file_with_other_columns() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_input(5));
    let out = run(work.replace_update(&sb, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let results = work.read("in.results.csv");
    // Half done, with a torn last line, as after a crash; then the input gains a column. A
    // refused resume must not even repair the file.
    let mut half: String = results.lines().take(3).map(|l| format!("{l}\n")).collect();
    half.push_str(&results.lines().nth(3).expect("a fourth line")[..20]);
    work.write("in.results.csv", &half);
    let mut input = format!("{FULL_HEADER},taxId\n");
    for n in 1..=5 {
        input.push_str(&format!("{},PT{n:09}\n", row(n)));
    }
    work.write("in.csv", &input);
    let before = sb.requests().len();

    let out = run(work.replace_update(&sb, &["--resume"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("do not match") && stderr.contains("taxId"),
        "{stderr}"
    );
    assert_eq!(work.read("in.results.csv"), half, "results untouched");
    assert_eq!(sb.requests().len(), before, "nothing sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_results_file_is_never_overwritten_by_accident() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_input(5));
    let args = ["--mode", "replace", "--rate", "unlimited"];
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv"]).args(args);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let results = work.read("in.results.csv");
    let precious = "not,a,results,file\nbut,someone's,work,\n";
    work.write("in.replay.csv", precious);
    let sent = sb.requests().len();

    for v in [
        vec!["update", "in.csv"],
        vec![
            "update",
            "in.csv",
            "--dry-run",
            "--results",
            "in.results.csv",
        ],
        vec!["replay", "in.results.csv"],
    ] {
        let mut cmd = work.against(&sb);
        cmd.args(&v).args(args);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(2), "{v:?}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("already exists") && stderr.contains("--overwrite"),
            "{v:?}: {stderr}"
        );
    }
    assert_eq!(work.read("in.results.csv"), results, "results untouched");
    assert_eq!(
        work.read("in.replay.csv"),
        precious,
        "replay results untouched"
    );
    assert_eq!(sb.requests().len(), sent, "nothing sent");

    // --overwrite is the way to start again.
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--overwrite"]).args(args);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 5);
    assert_eq!(sb.requests().len(), sent + 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_counts_the_failures_already_recorded_and_refuses_a_dry_runs_file() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut input = format!("{FULL_HEADER}\n");
    for n in 1..=6 {
        let r = row(n);
        input.push_str(&if n == 2 {
            r.replace(",PT,", ",Portugal,")
        } else {
            r
        });
        input.push('\n');
    }
    work.write("in.csv", &input);
    let args = ["--mode", "replace", "--rate", "unlimited"];

    // --resume with no results file yet simply starts the run.
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--resume",
        "--dry-run",
        "--results",
        "in.results.csv",
    ])
    .args(args);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(sb.requests().is_empty());

    // A dry run's file records rows that were never sent: resuming it for real would skip them.
    let dry = work.read("in.results.csv");
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--resume"]).args(args);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dry run"),
        "{}",
        show(&out)
    );
    assert_eq!(work.read("in.results.csv"), dry);
    assert!(sb.requests().is_empty(), "nothing sent");

    // An interrupted run that had recorded only the invalid row 2.
    let kept: String = dry
        .lines()
        .filter(|l| l.starts_with("customerId") || l.contains(",2,invalid,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(kept.lines().count(), 2, "{dry}");
    work.write("in.results.csv", &kept);
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--resume"]).args(args);
    let out = run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the invalid row recorded before still counts: {}",
        show(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipping the 1 row "), "{stderr}");
    assert!(
        summary_line(
            &stderr,
            "to send the failed and invalid rows again after fixing them:"
        )
        .is_some_and(|c| c.ends_with(" in.results.csv")),
        "{stderr}"
    );
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 6);
    assert_eq!(patches(&sb).len(), 5, "the five valid rows, once each");
}

/// `--key internalIdentifier`: a run interrupted mid-way, then resumed with the printed command
/// (which carries `--key`), records every row exactly once with the customer it resolved to,
/// and no customer is PATCHed twice; the printed undo command (no `--key`: the undo file names
/// customers by customerId) then puts every customer back.
#[tokio::test(flavor = "multi_thread")]
async fn a_keyed_run_interrupted_then_resumed_applies_each_row_once_and_undoes() {
    const N: u32 = 24;
    let sb = sandbox(SandboxConfig {
        customers: N as usize,
        latency: Duration::from_millis(100),
        ..SandboxConfig::default()
    })
    .await;
    let listed = sb.listed();
    let before: Vec<_> = listed.iter().map(|id| sb.customer(*id)).collect();
    let work = Work::new();
    // The sandbox made its customers up with references ERP-000001, ERP-000002, … in list order
    // (its search also finds ERP-000010 … ERP-000019 for ERP-000001: only the exact one counts).
    let mut input = String::from("internalIdentifier,city\n");
    for n in 1..=N {
        input.push_str(&format!("ERP-{n:06},Keyed City {n}\n"));
    }
    work.write("in.csv", &input);
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--key",
        "internalIdentifier",
        // Three calls a row (lookup, GET, PATCH): 24 rows take 3.6 s, so the signal comes
        // mid-run.
        "--rate",
        "20/s",
        "--concurrency",
        "4",
    ]);
    let running = Running::spawn(cmd);
    work.wait_for_lines("in.results.csv", 6, Duration::from_secs(60))
        .await;
    running.signal("INT");
    let (code, stderr) = running.wait(Duration::from_secs(60)).await;
    assert_eq!(code, Some(130), "{stderr}");
    let first = work.rows("in.results.csv");
    assert!(first.len() < N as usize, "stopped early: {}", first.len());

    let resume = summary_line(&stderr, "to continue:").expect("resume command in the summary");
    assert!(
        resume.contains("--key internalIdentifier"),
        "the resumed run reads the file the same way: {resume}"
    );
    let out = run(work.printed_with_token(resume)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    for r in &rows {
        let n: usize = r["ccbulk_row"].parse().unwrap();
        assert_eq!(r["ccbulk_outcome"], "accepted", "{r:?}");
        assert_eq!(
            r["ccbulk_customer_id"],
            listed[n - 1].to_string(),
            "row {n} applied to ERP-{n:06}'s customer: {r:?}"
        );
        assert_eq!(
            sb.customer(listed[n - 1])["city"],
            serde_json::json!(format!("Keyed City {n}"))
        );
    }
    let counts = patch_counts(&sb);
    assert_eq!(
        counts.len(),
        N as usize,
        "every customer PATCHed: {counts:?}"
    );
    assert!(
        counts.values().all(|c| *c == 1),
        "no customer PATCHed twice: {counts:?}"
    );

    // The undo command the resumed run printed: no --key, and it puts every city back.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let undo = stderr
        .lines()
        .find_map(|l| l.split_once("to put the changes back: "))
        .map(|(_, cmd)| cmd.trim().trim_end_matches(')'))
        .unwrap_or_else(|| panic!("no undo command in:\n{stderr}"));
    assert!(!undo.contains("--key"), "{undo}");
    let undo_rows = work.rows("in.undo.csv");
    assert_eq!(undo_rows.len(), N as usize, "one undo line a customer");
    let out = run(work.printed_with_token(undo)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for (id, was) in listed.iter().zip(&before) {
        assert_eq!(sb.customer(*id)["city"], was["city"], "{id} put back");
    }
}
