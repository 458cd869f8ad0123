//! Messages that used to send a newcomer the wrong way, each now naming what to do: the results
//! of a finished plan or replay (where `--resume` does nothing), a base URL without its scheme
//! or ending in `/v1`, a CSV saved with a workbook's extension, a bare `--rate N`, and a
//! replace-mode file without its required columns, which a dry run used to pass.

use ccbulk::sandbox::SandboxConfig;

use crate::common::*;

/// A plan run twice: the second is told to add --overwrite (a plan that finished has nothing
/// left to resume), not "add --resume to continue that run".
#[tokio::test(flavor = "multi_thread")]
async fn a_second_plan_or_replay_is_offered_the_way_that_works() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write(
        "c.csv",
        &city_csv([(cid(1), "Braga"), (guid(0x404), "Porto")]),
    );
    let plan = || run(work.unpaced(&sb, &["plan", "c.csv"]));
    assert_eq!(plan().await.status.code(), Some(1), "the 404 row fails");
    let out = plan().await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("c.plan.csv already exists (an earlier plan): add --overwrite to plan again"),
        "{err}"
    );

    let out = run(work.unpaced(&sb, &["update", "c.csv", "--no-undo"])).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the 404 row fails: {}",
        show(&out)
    );
    let replay = || run(work.unpaced(&sb, &["replay", "c.results.csv", "--no-undo"]));
    assert_eq!(replay().await.status.code(), Some(1));
    let out = replay().await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("c.replay.csv already exists (an earlier replay of c.results.csv): to send again the rows that still failed there, replay c.replay.csv (its results go to c.replay-2.csv)"),
        "{err}"
    );
    // The way offered works: the replay of the replay goes to c.replay-2.csv.
    let out = run(work.unpaced(&sb, &["replay", "c.replay.csv", "--no-undo"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(work.rows("c.replay-2.csv").len(), 1);

    let dry = || run(work.unpaced(&sb, &["update", "c.csv", "--dry-run"]));
    assert_eq!(dry().await.status.code(), Some(0));
    let err = stderr_of(&dry().await);
    assert!(
        err.contains("(an earlier dry run): add --overwrite to check the rows again"),
        "{err}"
    );
}

/// `--base-url 127.0.0.1:8080` says to add the scheme; a base URL ending in /v1 (which ccbulk
/// adds) is refused before anything is sent, naming the root to give; both exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn base_urls_that_would_mislead_are_refused_saying_what_to_change() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("c.csv", &city_csv([(cid(1), "Braga")]));
    let bare = sb.base_url().trim_start_matches("http://").to_string();
    let with_v1 = format!("{}/v1", sb.base_url());
    for (url, says) in [
        (
            bare.clone(),
            format!("--base-url \"{bare}\" has no scheme: add http:// or https://"),
        ),
        (
            with_v1.clone(),
            format!(
                "--base-url \"{with_v1}\" ends in /v1, which ccbulk adds itself (it calls <base>/v1/Customers/…): give the API root, {}",
                sb.base_url()
            ),
        ),
    ] {
        for command in ["update", "export"] {
            let mut cmd = work.against_url(&url);
            cmd.arg(command);
            if command == "update" {
                cmd.args(["c.csv", "--no-undo"]);
            } else {
                cmd.args(["--output", "e.csv"]);
            }
            let out = run(cmd).await;
            assert_eq!(out.status.code(), Some(2), "{}", show(&out));
            assert!(stderr_of(&out).contains(&says), "{}", show(&out));
        }
    }
    assert!(sb.requests().is_empty(), "nothing was sent");
}

/// A CSV saved as customers.xlsx: named for what it is, not "invalid Zip archive".
#[tokio::test(flavor = "multi_thread")]
async fn a_csv_with_a_workbook_extension_is_called_text() {
    let work = Work::new();
    work.write("customers.xlsx", &city_csv([(cid(1), "Braga")]));
    let mut cmd = work.ccbulk();
    cmd.args(["update", "customers.xlsx", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "customers.xlsx is not a workbook: it is text, its first line \"customerId,city\""
        ) && err.contains("rename it to .csv")
            && !err.contains("Zip"),
        "{err}"
    );
}

/// A replace-mode file without a column for each required field is refused before anything is
/// sent, by a dry run as by the run itself: a dry run that passed it would promise a run that
/// then stops. No file is left behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_replace_file_missing_required_columns_is_refused_by_a_dry_run_too() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("c.csv", &city_csv([(cid(1), "Braga")]));
    let dry = ["update", "c.csv", "--mode", "replace", "--dry-run"];
    for (args, file) in [
        (&dry[..], "c.dry-run.csv"),
        (&dry[..dry.len() - 1], "c.results.csv"),
    ] {
        let out = run(work.unpaced(&sb, args)).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains(
                "c.csv: --mode replace sends the row as the whole customer, so every required \
                 field needs a column; missing: companyName, country, addressLine1, state, zip, \
                 firstName, lastName, email, phone (or use --mode merge)"
            ),
            "{args:?}: {err}"
        );
        assert!(!work.path(file).exists(), "{args:?} left {file}");
    }
    assert!(patches(&sb).is_empty(), "nothing sent");
}

/// `--rate 10` is 10 calls a second, as load tools read it.
#[tokio::test(flavor = "multi_thread")]
async fn a_bare_rate_is_per_second() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("c.csv", &city_csv([(cid(1), "Braga")]));
    let mut cmd = work.against(&sb);
    cmd.args(["update", "c.csv", "--rate", "50", "--no-undo"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(work.only_row("c.results.csv")["ccbulk_outcome"], "accepted");
}

/// `--limit N`: a canary run. The first N rows are sent and the run stops as an interrupt does,
/// but exits 0 when they went well, printing the --resume command (without --limit) that sends
/// the rest; run as printed, it does, and every row is in the results once.
#[tokio::test(flavor = "multi_thread")]
async fn limit_sends_the_first_rows_and_the_printed_resume_sends_the_rest() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("c.csv", &numbered_cities(10, "Braga"));
    let out = run(work.unpaced(&sb, &["update", "c.csv", "--limit", "4"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(patches(&sb).len(), 4, "only the first 4 rows are sent");
    let rows = work.rows("c.results.csv");
    let mut numbers: Vec<&str> = rows.iter().map(|r| r["ccbulk_row"].as_str()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["1", "2", "3", "4"]);
    let stderr = stderr_of(&out);
    assert!(
        stderr
            .contains("sent the first 4 rows (--limit 4); the rest are left for the command below"),
        "{stderr}"
    );
    let resume = after(&stderr, "to continue:");
    assert!(
        resume.contains("--resume") && !resume.contains("--limit"),
        "{resume}"
    );

    let out = run(work.printed_with_token(resume)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!stderr_of(&out).contains("to continue:"), "{}", show(&out));
    assert_each_row_once(&work.rows("c.results.csv"), 10);
    assert_eq!(patches(&sb).len(), 10, "each row sent once");
    assert_eq!(work.data_lines("c.undo.csv"), 10);

    // A limit the input does not reach is a whole run: nothing left, no resume offered.
    work.write("d.csv", &numbered_cities(3, "Faro"));
    let out = run(work.unpaced(&sb, &["update", "d.csv", "--limit", "3"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!stderr_of(&out).contains("to continue:"), "{}", show(&out));
}

/// A canary whose rows failed exits 1, still offering the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_limit_whose_rows_failed_exits_1() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write(
        "c.csv",
        &city_csv([(guid(0x404), "Porto"), (cid(1), "Braga"), (cid(2), "Faro")]),
    );
    let out = run(work.unpaced(&sb, &["update", "c.csv", "--limit", "1"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr_of(&out).contains("to continue:"), "{}", show(&out));
    assert_eq!(work.rows("c.results.csv").len(), 1);
}

/// The summary's undo line says how many of its lines stand for changes the API accepted: a
/// line is written before its PATCH, and here the API refuses one PATCH (the customer it holds
/// has an e-mail the API refuses, sent back by merge mode).
#[tokio::test(flavor = "multi_thread")]
async fn the_undo_line_counts_the_changes_the_api_accepted() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut refused = sb.customer(cid(2));
    refused.insert("email".into(), serde_json::json!("not-an-address"));
    sb.put_customer(cid(2), refused);
    work.write("c.csv", &city_csv([(cid(1), "Braga"), (cid(2), "Faro")]));
    let out = run(work.unpaced(&sb, &["update", "c.csv"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let undo = after(&stderr_of(&out), "undo:").to_string();
    assert!(
        undo.starts_with("c.undo.csv (2 rows, 1 of them for changes the API accepted (the other 1: not sent or refused; it puts back nothing)"),
        "{}",
        show(&out)
    );
    assert!(
        stderr_of(&out).contains("ccbulk update: 2 rows in"),
        "{}",
        show(&out)
    );
}
