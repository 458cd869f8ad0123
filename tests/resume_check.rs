//! `--resume` checks its input before anything is sent: an input edited since the interrupted
//! run (a row inserted, deleted or changed above where it stopped) is refused with the first row
//! that differs, for update, replay and the undo file alike; an unchanged input resumes.
//!
//! The interruption is made by cutting the results file after its first lines, which is what a
//! kill -9 leaves (with `--concurrency 1` the lines are in row order, so "above the stop" is
//! exact).

use ccbulk::sandbox::{Sandbox, SandboxConfig};

use crate::common::*;

/// Keeps the header and the first `rows` lines of a results file: a run stopped there.
fn stop_after(work: &Work, results: &str, rows: usize) -> String {
    let text = work.read(results);
    let kept: String = text
        .split_inclusive('\n')
        .take(rows + 1)
        .collect::<Vec<_>>()
        .concat();
    work.write(results, &kept);
    kept
}

/// Runs `args` with `--resume`, and `stdin` on its standard input.
async fn resume(
    work: &Work,
    sb: &Sandbox,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut cmd = work.unpaced(sb, args);
    cmd.arg("--resume");
    run_with_input(cmd, stdin.map(|s| s.as_bytes().to_vec())).await
}

/// Runs `args` with `--resume` and asserts it finished (exit 0).
async fn assert_resumes(work: &Work, sb: &Sandbox, args: &[&str], stdin: Option<&str>) {
    let out = resume(work, sb, args, stdin).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// Runs `args` with `--resume` and asserts it is refused before anything is sent (not even a
/// token request), naming `row` and `what`, leaving the results as they were.
async fn assert_refused(
    work: &Work,
    sb: &Sandbox,
    args: &[&str],
    stdin: Option<&str>,
    results: &str,
    row: &str,
    what: &str,
) {
    let kept = work.read(results);
    let before = sb.requests().len();
    let out = resume(work, sb, args, stdin).await;
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr.contains(row) && stderr.contains(what) && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(sb.requests().len(), before, "nothing sent: {stderr}");
    assert_eq!(work.read(results), kept, "results untouched");
}

/// The `n` of each customer [`cid`]`(n)` read (GET) since the first `since` customer calls.
fn customers_read(sb: &Sandbox, since: usize) -> Vec<u32> {
    let calls = customer_calls(sb);
    let ids: Vec<String> = calls[since..]
        .iter()
        .filter(|c| c.method == "GET")
        .map(|c| c.path.clone())
        .collect();
    (1..=100)
        .filter(|&n| ids.iter().any(|p| p.contains(&cid(n).to_string())))
        .collect()
}

const UPDATE: [&str; 6] = ["update", "in.csv", "--concurrency", "1", "--no-undo", "-q"];

#[tokio::test(flavor = "multi_thread")]
async fn a_row_inserted_deleted_or_edited_above_the_stop_refuses_the_resume_with_nothing_sent() {
    const N: u32 = 20;
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let original = numbered_cities(N, "Faro");
    work.write("in.csv", &original);
    let out = run(work.unpaced(&sb, &UPDATE)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stopped = stop_after(&work, "in.results.csv", 8);
    let lines: Vec<&str> = original.lines().collect();

    // A new customer at the top: every recorded row moved down by one.
    let inserted = format!(
        "{}\n{},Beja\n{}\n",
        lines[0],
        cid(99),
        lines[1..].join("\n")
    );
    // Row 5 deleted: row 6 is now row 5.
    let deleted = format!("{}\n{}\n", lines[..5].join("\n"), lines[6..].join("\n"));
    // Row 7's city edited.
    let edited = original.replace("Faro 7\n", "Tavira\n");
    let (new_id, moved_id) = (cid(99).to_string(), cid(6).to_string());
    for (input, row, what) in [
        (&inserted, "row 1 of in.csv", new_id.as_str()),
        (&deleted, "row 5 of in.csv", moved_id.as_str()),
        (
            &edited,
            "row 7 of in.csv",
            "city is \"Tavira\" in the input, \"Faro 7\"",
        ),
    ] {
        work.write("in.csv", input);
        work.write("in.results.csv", &stopped);
        assert_refused(&work, &sb, &UPDATE, None, "in.results.csv", row, what).await;
    }

    // Rows deleted from the end, so that recorded rows are missing.
    work.write("in.csv", &format!("{}\n", lines[..6].join("\n")));
    assert_refused(
        &work,
        &sb,
        &UPDATE,
        None,
        "in.results.csv",
        "records row 6",
        "has only 5 rows",
    )
    .await;

    // Rows added after the stop, or the input as it was: resumed.
    work.write("in.csv", &format!("{original}{},Beja\n", cid(99)));
    let before = customer_calls(&sb).len();
    assert_resumes(&work, &sb, &UPDATE, None).await;
    assert_each_row_once(&work.rows("in.results.csv"), u64::from(N) + 1);
    let want: Vec<u32> = (9..=N).chain([99]).collect();
    assert_eq!(
        customers_read(&sb, before),
        want,
        "only the rows after the stop"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_legacy_encoded_input_resumes_and_an_edited_one_does_not() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    // windows-1252 bytes, `;`-separated, a column renamed by --map: the results hold the cells
    // decoded, and the check compares them as such.
    let text = (1..=10u32).fold(String::from("ID;Stadt\n"), |t, n| {
        t + &format!("{};São Brás {n}\n", cid(n))
    });
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    work.write_bytes("in.csv", &bytes);
    let args = [
        &UPDATE[..],
        &[
            "--encoding",
            "windows-1252",
            "--map",
            "ID=customerId",
            "--map",
            "Stadt=city",
        ],
    ]
    .concat();
    let out = run(work.unpaced(&sb, &args)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stopped = stop_after(&work, "in.results.csv", 4);

    let edited = text.replace("São Brás 2\n", "Sao Bras 2\n");
    let (edited, _, _) = encoding_rs::WINDOWS_1252.encode(&edited);
    work.write_bytes("in.csv", &edited);
    assert_refused(
        &work,
        &sb,
        &args,
        None,
        "in.results.csv",
        "row 2 of in.csv",
        "Stadt is \"Sao Bras 2\"",
    )
    .await;

    work.write_bytes("in.csv", &bytes);
    work.write("in.results.csv", &stopped);
    let before = customer_calls(&sb).len();
    assert_resumes(&work, &sb, &args, None).await;
    assert_each_row_once(&work.rows_sep("in.results.csv", b';'), 10);
    assert_eq!(customers_read(&sb, before), (5..=10).collect::<Vec<_>>());
}

/// A merge-mode run of 12 rows, its undo file `in.undo.csv`: the even rows are invalid (a bad
/// e-mail), for replay to send again once fixed.
async fn first_run(sb: &Sandbox, work: &Work) {
    let mut input = String::from("customerId,city,email\n");
    for n in 1..=12u32 {
        let email = if n % 2 == 0 { "not-an-email" } else { "" };
        input += &format!("{},Faro {n},{email}\n", cid(n));
    }
    work.write("in.csv", &input);
    let mut cmd = work.unpaced(sb, &["update", "in.csv", "--concurrency", "1", "-q"]);
    cmd.args(["--undo", "in.undo.csv"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_checks_its_input_on_resume() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    first_run(&sb, &work).await;
    // Replay, with the e-mails fixed, stopped after three of the six rows it sends.
    let fixed = work
        .read("in.results.csv")
        .replace("not-an-email", "ana@fabrikam.pt");
    work.write("in.results.csv", &fixed);
    let replay = ["replay", "in.results.csv", "--concurrency", "1", "-q"];
    let out = run(work.unpaced(&sb, &replay)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let replayed = work.rows("in.replay.csv");
    assert_eq!(replayed.len(), 6);
    let third = replayed[2]["ccbulk_row"].clone();
    let stopped = stop_after(&work, "in.replay.csv", 3);
    // The third replayed row's city changed in the file replay reads.
    let line = fixed
        .lines()
        .find(|l| l.contains(&format!("Faro {third},")))
        .expect("the row");
    work.write(
        "in.results.csv",
        &fixed.replace(line, &line.replace(&format!("Faro {third},"), "Beja,")),
    );
    let row = format!("row {third} of in.results.csv");
    assert_refused(
        &work,
        &sb,
        &replay,
        None,
        "in.replay.csv",
        &row,
        "city is \"Beja\"",
    )
    .await;
    work.write("in.results.csv", &fixed);
    work.write("in.replay.csv", &stopped);
    assert_resumes(&work, &sb, &replay, None).await;
    assert_eq!(work.rows("in.replay.csv").len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_undo_file_checks_its_input_on_resume() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    first_run(&sb, &work).await;
    // The undo file applied, stopped after two rows, then the second edited.
    let undo = [
        "update",
        "in.undo.csv",
        "--concurrency",
        "1",
        "--no-undo",
        "-q",
    ];
    let out = run(work.unpaced(&sb, &undo)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stopped = stop_after(&work, "in.undo.results.csv", 2);
    let text = work.read("in.undo.csv");
    let second = text.lines().nth(2).expect("a second undo line");
    let id = second.split(',').next().expect("an id");
    work.write(
        "in.undo.csv",
        &text.replace(second, &format!("{id},Elvas,")),
    );
    let row = "row 2 of in.undo.csv";
    assert_refused(&work, &sb, &undo, None, "in.undo.results.csv", row, "Elvas").await;
    // As it was, it resumes.
    work.write("in.undo.csv", &text);
    work.write("in.undo.results.csv", &stopped);
    assert_resumes(&work, &sb, &undo, None).await;
    assert_each_row_once(&work.rows("in.undo.results.csv"), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_input_is_checked_as_it_is_read_and_the_rows_still_to_send_go() {
    const N: u32 = 30;
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let original = numbered_cities(N, "Faro");
    let args = ["update", "-", "--concurrency", "1", "--no-undo", "-q"];
    let out = run_with_input(
        work.unpaced(&sb, &args),
        Some(original.clone().into_bytes()),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Stopped after 12 rows, row 5 in flight: it is not recorded and must be sent.
    let kept = stop_after(&work, "results.csv", 12);
    let mut lines: Vec<&str> = kept.lines().collect();
    lines.remove(5);
    let stopped = format!("{}\n", lines.join("\n"));

    let edited = original.replace("Faro 9\n", "Tavira\n");
    work.write("results.csv", &stopped);
    let what = "city is \"Tavira\" in the input";
    let refused = Some(edited.as_str());
    assert_refused(
        &work,
        &sb,
        &args,
        refused,
        "results.csv",
        "row 9 of stdin",
        what,
    )
    .await;

    let before = customer_calls(&sb).len();
    assert_resumes(&work, &sb, &args, Some(&original)).await;
    assert_each_row_once(&work.rows("results.csv"), u64::from(N));
    let want: Vec<u32> = [5].into_iter().chain(13..=N).collect();
    assert_eq!(
        customers_read(&sb, before),
        want,
        "the row in flight and those after the stop"
    );
}

/// `--resume` appends to the undo file only if it holds the way back for every row the results
/// record as changed: another run's undo file is refused before anything is sent, naming it and
/// the way on, and left as it was; this run's own resumes.
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_run_refuses_an_undo_file_that_is_not_its_own() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    // Another run, of other customers, and its undo file.
    work.write(
        "other.csv",
        &city_csv((51..=60).map(|i| (cid(i), format!("Elvas {i}")))),
    );
    let other = ["update", "other.csv", "--concurrency", "1", "-q"];
    let out = run(work.unpaced(&sb, &other)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let other_undo = work.read("other.undo.csv");
    assert_eq!(other_undo.lines().count(), 11);

    // This run, stopped after 8 rows: its undo file holds their 8 lines.
    work.write("in.csv", &numbered_cities(20, "Faro"));
    let args = ["update", "in.csv", "--concurrency", "1", "-q"];
    let out = run(work.unpaced(&sb, &args)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    stop_after(&work, "in.results.csv", 8);
    stop_after(&work, "in.undo.csv", 8);
    let own_undo = work.read("in.undo.csv");

    let mut with_other = args.to_vec();
    with_other.extend(["--undo", "other.undo.csv"]);
    let what = format!("customer {}", cid(1));
    assert_refused(
        &work,
        &sb,
        &with_other,
        None,
        "in.results.csv",
        "the undo file other.undo.csv",
        &what,
    )
    .await;
    assert_eq!(work.read("other.undo.csv"), other_undo, "left as it was");
    assert_eq!(work.read("in.undo.csv"), own_undo);

    assert_resumes(&work, &sb, &args, None).await;
    assert_each_row_once(&work.rows("in.results.csv"), 20);
}
