//! The seams around the core run, end to end through the binary: the undo file survives kill -9
//! (its line is out before the PATCH), is locked like the results file; every printed follow-up
//! command runs as printed and does what it says; the README's plan → dry run → update sequence
//! and its export → edit → plan → update → undo walkthrough, as written; files are owner-only and never written through a symlink; a setup error leaves no file; a
//! torn results header is repaired; a stop during a 429 pause leaves the rows for `--resume`.

use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ccbulk::customer::{Field, current_text};
use ccbulk::sandbox::{SandboxConfig, made_up_customer};
use serde_json::Value;

use crate::common::*;

/// [`run`], as the exit code and stderr these tests check.
async fn code_and_stderr(cmd: Command) -> (Option<i32>, String) {
    let out = run(cmd).await;
    (out.status.code(), stderr_of(&out))
}

/// A printed command line ([`Work::printed`]) with the sandbox's client credentials.
fn as_printed(work: &Work, line: &str) -> Command {
    let mut cmd = work.printed(line);
    cmd.env("CLOUDCOCKPIT_CLIENT_ID", "ccbulk-sandbox")
        .env("CLOUDCOCKPIT_CLIENT_SECRET", "sandbox-secret");
    cmd
}

fn city(c: &serde_json::Map<String, Value>) -> Option<String> {
    current_text(c, Field::City)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_again_and_again_in_merge_mode_never_loses_the_way_back() {
    const N: u32 = 1500;
    let sb = slow_sandbox(Duration::from_millis(10)).await;
    let work = Work::new();
    work.write("in.csv", &numbered_cities(N, "Porto"));
    let args = MERGE_8_UNPACED;
    let mut kills = 0;
    let mut finished = false;
    for round in 0..20 {
        let mut cmd = work.against(&sb);
        cmd.args(args);
        if round > 0 {
            cmd.arg("--resume");
        }
        let mut running = Running::spawn(cmd);
        if round < 8 {
            tokio::time::sleep(Duration::from_millis(200 + fastrand::u64(0..400))).await;
            if running.child().try_wait().expect("try_wait").is_none() {
                running.kill();
                running.wait(Duration::from_secs(10)).await;
                kills += 1;
                continue;
            }
        }
        let (code, _) = running.wait(RUN_LIMIT).await;
        if code == Some(0) {
            finished = true;
            break;
        }
    }
    assert!(finished, "the run finished");
    assert!(kills >= 3, "only {kills} kills landed mid-run");
    assert_each_row_once(&work.rows("in.results.csv"), u64::from(N));

    // Every customer the server changed has one undo line, holding the value it had before.
    let mut undo: HashMap<String, Vec<String>> = HashMap::new();
    for r in work.rows("in.undo.csv") {
        undo.entry(r["customerId"].clone())
            .or_default()
            .push(r["city"].clone());
    }
    let mut changed = 0;
    for n in 1..=N {
        let id = cid(n);
        let was = city(&made_up_customer(id));
        if city(&sb.customer(id)) == was {
            continue;
        }
        changed += 1;
        let want = was.unwrap_or_else(|| "#NULL".into());
        assert_eq!(
            undo.get(&id.to_string()),
            Some(&vec![want]),
            "row {n}: changed at the server, so its prior city must be in the undo file once \
             ({kills} kills)"
        );
    }
    assert_eq!(changed, N, "every customer ends with the sheet's city");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_undo_file_is_locked_like_the_results_file() {
    let sb = slow_sandbox(Duration::from_millis(40)).await;
    let work = Work::new();
    let input = numbered_cities(40, "Faro");
    work.write("a.csv", &input);
    work.write("b.csv", &input);
    let mut first = work.against(&sb);
    first
        .args([
            "update",
            "a.csv",
            "--concurrency",
            "1",
            "--rate",
            "unlimited",
        ])
        .args(["--undo", "shared.undo.csv"]);
    let first = Running::spawn(first);
    work.wait_for_lines("a.results.csv", 2, Duration::from_secs(30))
        .await;
    let before = std::fs::read(work.path("shared.undo.csv")).expect("undo file");
    let mut second = work.against(&sb);
    second.args(["update", "b.csv", "--rate", "unlimited", "--overwrite"]);
    second.args(["--undo", "shared.undo.csv"]);
    let (code, stderr) = code_and_stderr(second).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("shared.undo.csv") && stderr.contains("another ccbulk run"),
        "{stderr}"
    );
    assert!(
        !work.path("b.results.csv").exists(),
        "the refused run wrote nothing"
    );
    assert!(
        std::fs::read(work.path("shared.undo.csv"))
            .expect("undo")
            .len()
            >= before.len(),
        "the undo file was not replaced"
    );
    let (code, first_err) = first.wait(RUN_LIMIT).await;
    assert_eq!(code, Some(0), "{first_err}");
    let lines = work.rows("shared.undo.csv");
    assert_eq!(
        lines.len(),
        40,
        "every prior value of the first run is there"
    );
    assert!(!work.path("shared.undo.csv.lock").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_owner_only_whatever_the_umask() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &format!("customerId,city\n{},Sines\n", cid(1)));
    // An earlier results file, world-readable, replaced with --overwrite.
    work.write("in.results.csv", "old\n");
    std::fs::set_permissions(
        work.path("in.results.csv"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--rate", "unlimited", "--overwrite"])
        .args(["--summary-json", "s.json"]);
    let (code, stderr) = code_and_stderr(after_shell("umask 022", &cmd)).await;
    assert_eq!(code, Some(0), "{stderr}");
    for name in ["in.results.csv", "in.undo.csv", "s.json"] {
        let mode = std::fs::metadata(work.path(name))
            .expect(name)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_where_a_file_goes_is_refused_and_its_target_untouched() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &format!("customerId,city\n{},Sines\n", cid(1)));
    work.write("victim.txt", "precious\n");
    let cases: [(&str, &[&str]); 5] = [
        ("in.results.csv", &[]),
        ("in.results.csv.lock", &[]),
        ("in.undo.csv", &[]),
        ("in.undo.csv.lock", &[]),
        ("s.json", &["--summary-json", "s.json"]),
    ];
    for (link, extra) in cases {
        std::os::unix::fs::symlink(work.path("victim.txt"), work.path(link)).expect("symlink");
        let mut cmd = work.against(&sb);
        cmd.args(["update", "in.csv", "--rate", "unlimited"])
            .args(extra);
        let (code, stderr) = code_and_stderr(cmd).await;
        assert_eq!(code, Some(2), "{link}: {stderr}");
        assert!(
            stderr.contains(link) && stderr.contains("symbolic link"),
            "{link}: {stderr}"
        );
        assert_eq!(work.read("victim.txt"), "precious\n", "{link}");
        let left: BTreeSet<String> = ["in.csv", "victim.txt", link]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(work.files(), left, "{link}: nothing else written");
        std::fs::remove_file(work.path(link)).expect("rm link");
    }
    assert!(sb.requests().is_empty(), "nothing sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_setup_error_leaves_no_file_behind() {
    let work = Work::new();
    work.write("in.csv", &format!("customerId,city\n{},Sines\n", cid(1)));
    // Neither is ever reached: the run stops while setting up, before any connection.
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 2] = [
        (
            &["--base-url", "https://api.cloudcockpit.invalid"],
            Some(("HTTPS_PROXY", "ftp://127.0.0.1:9")),
            "is not a proxy ccbulk can use",
        ),
        (
            &["--base-url", "http://127.0.0.1:9/?x=1"],
            None,
            "without a query",
        ),
    ];
    for (args, env, says) in cases {
        let mut cmd = work.ccbulk();
        cmd.args(["update", "in.csv", "--tenant", "t.example"])
            .args(args)
            .args(["--summary-json", "s.json"])
            .env("CLOUDCOCKPIT_TOKEN", TOKEN);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let (code, stderr) = code_and_stderr(cmd).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(
            work.files(),
            BTreeSet::from(["in.csv".to_string()]),
            "{args:?}: no results, undo, lock or summary file"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_changed_nothing_prints_no_undo_line() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let same = city(&made_up_customer(cid(1))).expect("a city");
    work.write("in.csv", &format!("customerId,city\n{},{same}\n", cid(1)));
    let (code, stderr) = code_and_stderr(work.unpaced(&sb, &["update", "in.csv"])).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("unchanged 1"), "{stderr}");
    assert!(
        !stderr.contains("undo:"),
        "no \"0 rows\" undo line: {stderr}"
    );
}

/// Every follow-up command is run exactly as printed, split like a shell splits it, with no
/// CLOUDCOCKPIT_BASE_URL or tenant in the environment: each must carry where and how.
#[tokio::test(flavor = "multi_thread")]
async fn every_printed_follow_up_command_runs_as_printed_and_does_what_it_says() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let missing = guid(0x404);
    let mut input = String::from("Firma;customerId;city;country\n");
    for n in 1..=8 {
        let id = if n == 5 { missing } else { cid(n) };
        let country = if n == 3 { "Portugal" } else { "PT" };
        input.push_str(&format!("Nova {n} Lda;{id};Braga {n};{country}\n"));
    }
    work.write("in.csv", &input);
    let base = [
        "--base-url".to_string(),
        sb.base_url(),
        "--token-url".to_string(),
        sb.token_url(),
        "--tenant".to_string(),
        "portal.reseller.example".to_string(),
    ];
    let mut first = as_printed(&work, "ccbulk update in.csv");
    first
        .args(&base)
        .args(["--rate", "unlimited", "--concurrency", "1"])
        .args(["--map", "Firma=companyName", "--max-failures", "1"])
        .args(["--summary-json", "s1.json"]);
    let (code, stderr) = code_and_stderr(first).await;
    assert_eq!(
        code,
        Some(3),
        "stopped by --max-failures at row 5\n{stderr}"
    );
    let summary = work.json("s1.json");
    let resume = after(&stderr, "to continue:");
    assert_eq!(summary["resume_command"], resume);
    assert_eq!(
        summary["replay_command"],
        after(&stderr, "after fixing them:")
    );
    let undo_line = after(&stderr, "to put the changes back:").trim_end_matches(')');
    assert_eq!(summary["undo"]["command"], undo_line);
    assert!(
        resume.contains(&sb.base_url()) && resume.contains(&sb.token_url()),
        "{resume}"
    );
    for n in 6..=8 {
        assert_eq!(city(&sb.customer(cid(n))), city(&made_up_customer(cid(n))));
    }

    // Resume: the rows not yet sent, as the first run would have sent them.
    let (code, stderr) = code_and_stderr(as_printed(&work, resume)).await;
    assert_eq!(code, Some(1), "rows 3 and 5 stay unsuccessful\n{stderr}");
    assert_each_row_once(&work.rows_sep("in.results.csv", b';'), 8);
    for n in 6..=8 {
        let c = sb.customer(cid(n));
        assert_eq!(city(&c).as_deref(), Some(format!("Braga {n}").as_str()));
        assert_eq!(
            c["companyName"],
            format!("Nova {n} Lda").as_str(),
            "--map carried"
        );
    }
    let replay = after(&stderr, "after fixing them:").to_string();
    let undo_line = after(&stderr, "to put the changes back:")
        .trim_end_matches(')')
        .to_string();

    // Replay, after fixing the invalid row in the results file: exactly rows 3 and 5 go again.
    let fixed = work.read("in.results.csv").replace(";Portugal;", ";PT;");
    work.write("in.results.csv", &fixed);
    let (code, stderr) = code_and_stderr(as_printed(&work, &replay)).await;
    assert_eq!(code, Some(1), "row 5's customer does not exist\n{stderr}");
    let replayed = work.rows_sep("in.replay.csv", b';');
    let outcomes: Vec<(&str, &str)> = replayed
        .iter()
        .map(|r| (r["ccbulk_row"].as_str(), r["ccbulk_outcome"].as_str()))
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes.contains(&("3", "accepted")) && outcomes.contains(&("5", "failed")));
    assert_eq!(sb.customer(cid(3))["companyName"], "Nova 3 Lda");
    let replay_undo = after(&stderr, "to put the changes back:")
        .trim_end_matches(')')
        .to_string();

    // Undo, newest first: every customer is back as it was.
    for line in [&replay_undo, &undo_line] {
        let (code, stderr) = code_and_stderr(as_printed(&work, line)).await;
        assert_eq!(code, Some(0), "{line}\n{stderr}");
    }
    for n in [1, 2, 3, 4, 6, 7, 8] {
        let (now, was) = (sb.customer(cid(n)), made_up_customer(cid(n)));
        for f in [Field::City, Field::CompanyName, Field::Country] {
            assert_eq!(current_text(&now, f), current_text(&was, f), "row {n}");
        }
    }

    // Plan, then the update it offers (and no replay of the plan's file).
    work.write(
        "plan-in.csv",
        &format!(
            "Firma;customerId\nPlanned Lda;{}\nBad;not-a-guid\n",
            cid(20)
        ),
    );
    let mut plan = as_printed(&work, "ccbulk plan plan-in.csv");
    plan.args(&base)
        .args(["--rate", "unlimited", "--map", "Firma=companyName"]);
    let (code, stderr) = code_and_stderr(plan).await;
    assert_eq!(code, Some(1), "one invalid row\n{stderr}");
    assert!(!stderr.contains("ccbulk replay"), "{stderr}");
    let apply = after(&stderr, "to apply this plan:").to_string();
    assert!(apply.starts_with("ccbulk update "), "{apply}");
    let (code, stderr) = code_and_stderr(as_printed(&work, &apply)).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(sb.customer(cid(20))["companyName"], "Planned Lda");
    let applied = work.rows_sep("plan-in.results.csv", b';');
    assert_eq!(applied.len(), 2);
    assert!(applied.iter().any(|r| r["ccbulk_outcome"] == "accepted"));
}

/// The README's first ```sh block that contains `marker`, without its opening fence's line
/// (whose info string may go on: ```` ```sh runnable ````).
fn readme_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    readme
        .split("```sh")
        .find(|b| b.contains(marker))
        .and_then(|b| b.split("```").next())
        .and_then(|b| b.split_once('\n').map(|(_, body)| body))
        .unwrap_or_else(|| panic!("no README block with {marker:?}"))
        .to_string()
}

/// A `ccbulk sandbox` process on a free loopback port, killed when dropped.
struct SandboxProcess {
    child: Child,
    /// Its base URL, as it printed it.
    url: String,
}

impl SandboxProcess {
    /// `ccbulk sandbox ARGS --listen 127.0.0.1:0`, once it has printed its URL.
    async fn start(work: &Work, args: &[String]) -> SandboxProcess {
        let mut server = work.ccbulk();
        server
            .arg("sandbox")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = server.spawn().expect("spawn sandbox");
        let stdout = child.stdout.take().expect("stdout");
        // Killed on drop from here on, whatever happens.
        let mut process = SandboxProcess {
            child,
            url: String::new(),
        };
        let url = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line.trim().to_string())
        });
        process.url = tokio::time::timeout(Duration::from_secs(30), url)
            .await
            .expect("the sandbox printed its URL")
            .expect("join")
            .expect("read");
        assert!(
            process.url.starts_with("http://127.0.0.1:"),
            "{}",
            process.url
        );
        process
    }

    fn token_url(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.url.trim_end_matches('/'))
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's "Everyday use" sequence, verbatim, against a `ccbulk sandbox` process on
/// loopback; only `--base-url` and `--token-url` are added to point at it.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_sequence_plan_dry_run_update_works_as_written() {
    let block = readme_block("ccbulk update customers.csv --dry-run");
    let lines: Vec<&str> = block
        .lines()
        .filter(|l| l.starts_with("ccbulk "))
        .map(|l| l.split('#').next().unwrap_or(l).trim())
        .collect();
    assert!(
        lines.len() >= 3 && lines[0].starts_with("ccbulk plan"),
        "{lines:?}"
    );

    let work = Work::new();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/samples/customers.csv"),
        work.path("customers.csv"),
    )
    .expect("sample");
    let server = SandboxProcess::start(&work, &[]).await;

    let mut outcomes = Vec::new();
    for line in &lines {
        let mut cmd = as_printed(&work, line);
        cmd.args([
            "--base-url",
            &server.url,
            "--token-url",
            &server.token_url(),
        ])
        .env("CLOUDCOCKPIT_TENANT", "portal.contoso.com");
        let (code, stderr) = code_and_stderr(cmd).await;
        outcomes.push((line.to_string(), code, stderr));
    }
    drop(server);
    for (line, code, stderr) in &outcomes {
        assert!(
            matches!(code, Some(0) | Some(1)),
            "{line}: exit {code:?}\n{stderr}"
        );
    }
    for name in [
        "customers.plan.csv",
        "customers.dry-run.csv",
        "customers.results.csv",
        "customers.undo.csv",
    ] {
        assert!(work.path(name).exists(), "{name}");
    }
    let rows = work.rows("customers.results.csv");
    assert!(
        rows.iter().any(|r| r["ccbulk_outcome"] == "accepted"),
        "the update sent rows"
    );
    let dry = work.rows("customers.dry-run.csv");
    assert!(dry.iter().all(|r| r["ccbulk_outcome"] != "accepted"));
}

/// The README's sandbox walkthrough, run by `sh` exactly as written (on the test's own kept
/// sandbox tenant: `Work` gives every test its own state directory). Each command must do what
/// its comment says, and the tenant ends as it began.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_walkthrough_export_edit_plan_update_undo_works_as_written() {
    let block = readme_block("ccbulk export --sandbox");
    let first = block.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        first.starts_with("ccbulk sandbox --reset "),
        "the walkthrough starts the tenant afresh: {first}"
    );
    let work = Work::new();
    // A tenant changed before the walkthrough (the quick start, say): the reset undoes it.
    work.write("before.csv", &city_csv([(guid(1), "Before")]));
    let mut before = work.ccbulk();
    before.args(["update", "before.csv", "--sandbox", "--rate", "unlimited"]);
    let (code, stderr) = code_and_stderr(before).await;
    assert_eq!(code, Some(0), "{stderr}");
    let out = run_within(work.shell(&block), Duration::from_secs(300)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // ccbulk export --sandbox: customers.csv (50 customers).
    let exported = work.rows("customers.csv");
    assert_eq!(exported.len(), 50);
    // ccbulk plan --sandbox customers.csv: an unedited export, all 50 unchanged.
    let planned = work.rows("customers.plan.csv");
    assert_each_row_once(&planned, 50);
    assert!(planned.iter().all(|r| r["ccbulk_outcome"] == "unchanged"));
    // ccbulk plan --sandbox edited.csv: 3 rows would change city and state.
    let planned = work.rows("edited.plan.csv");
    assert_each_row_once(&planned, 50);
    let changing: Vec<_> = planned
        .iter()
        .filter(|r| r["ccbulk_outcome"] != "unchanged")
        .collect();
    assert_eq!(changing.len(), 3, "{changing:?}");
    for r in &changing {
        assert_eq!(r["ccbulk_outcome"], "would-change");
        assert_eq!(
            r["ccbulk_changed"],
            "city: Lisboa → Porto; state: Lisboa → Porto"
        );
    }
    // ccbulk update --sandbox edited.csv: sends them; edited.results.csv and edited.undo.csv.
    let results = work.rows("edited.results.csv");
    assert_each_row_once(&results, 50);
    let accepted: BTreeSet<&str> = results
        .iter()
        .filter(|r| r["ccbulk_outcome"] == "accepted")
        .map(|r| r["customerId"].as_str())
        .collect();
    let planned_ids: BTreeSet<&str> = changing.iter().map(|r| r["customerId"].as_str()).collect();
    assert_eq!(accepted, planned_ids, "the three planned rows were sent");
    assert_eq!(work.rows("edited.undo.csv").len(), 3);
    // ccbulk plan --sandbox edited.csv --results sent.plan.csv: nothing left to change.
    let planned = work.rows("sent.plan.csv");
    assert_each_row_once(&planned, 50);
    assert!(planned.iter().all(|r| r["ccbulk_outcome"] == "unchanged"));
    // ccbulk update --sandbox edited.undo.csv: puts them back.
    let undone = work.rows("edited.undo.results.csv");
    assert_eq!(undone.len(), 3);
    assert!(undone.iter().all(|r| r["ccbulk_outcome"] == "accepted"));

    // The tenant is as it was: exported again, the same bytes.
    let (code, stderr) = code_and_stderr(as_printed(
        &work,
        "ccbulk export --sandbox --output after.csv",
    ))
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(work.read("after.csv"), work.read("customers.csv"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_results_file_torn_inside_its_header_is_repaired_on_resume() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=5).map(full_row)));
    let header = format!(
        "{FULL_HEADER},ccbulk_row,ccbulk_outcome,ccbulk_http_status,ccbulk_attempts,\
         ccbulk_correlation_id,ccbulk_error,ccbulk_finished_at,ccbulk_changed\n"
    );
    for keep in [0, 12, header.len() - 40, header.len() - 4, header.len() - 1] {
        work.write("in.results.csv", &header[..keep]);
        let (code, stderr) = code_and_stderr(work.replace_update(&sb, &["--resume"])).await;
        assert_eq!(code, Some(0), "{keep} bytes kept: {stderr}");
        let text = work.read("in.results.csv");
        assert!(text.starts_with(&header), "{keep}: {text}");
        assert_each_row_once(&work.rows("in.results.csv"), 5);
        std::fs::remove_file(work.path("in.results.csv")).expect("rm");
    }
    // A cut first line that is not this input's header: refused, saying what to do.
    work.write("in.results.csv", "name,email,pho");
    let (code, stderr) = code_and_stderr(work.replace_update(&sb, &["--resume"])).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("header") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(work.read("in.results.csv"), "name,email,pho");
}

/// Ctrl-C while a 429 holds every worker back: the rows waiting for their (first or next) call
/// are not recorded as failed but left for `--resume`, which sends them; the summary JSON is
/// written on the way out (exit 130).
#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_a_429_pause_leaves_the_waiting_rows_for_resume() {
    const N: u32 = 60;
    let sb = sandbox(SandboxConfig {
        throttle: Some("40/s".parse().expect("rate")),
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &numbered_cities(N, "Tavira"));
    let args = [
        "update",
        "in.csv",
        "--rate",
        "unlimited",
        "--summary-json",
        "s.json",
    ];
    let mut cmd = work.against(&sb);
    cmd.args(args);
    let running = Running::spawn(cmd);
    wait_until("a 429", Duration::from_secs(30), || {
        sb.requests().iter().any(|r| r.status == 429)
    })
    .await;
    running.signal("INT");
    let (code, stderr) = running.wait(RUN_LIMIT).await;
    assert_eq!(code, Some(130), "{stderr}");
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 130);
    let rows = work.rows("in.results.csv");
    assert!(
        (rows.len() as u32) < N,
        "the stop came mid-run: {} rows",
        rows.len()
    );
    for r in &rows {
        assert!(
            matches!(r["ccbulk_outcome"].as_str(), "accepted" | "unchanged"),
            "a row stopped while it waited is left for --resume, not recorded: {r:?}"
        );
    }

    let mut cmd = work.against(&sb);
    // Resumed under the sandbox's limit: the rows left go without waiting on 429s.
    cmd.args(&args[..2])
        .args(["--summary-json", "s.json", "--resume", "--rate", "30/s"]);
    let (code, stderr) = code_and_stderr(cmd).await;
    assert_eq!(code, Some(0), "{stderr}");
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, u64::from(N));
    for n in 1..=N {
        assert_eq!(
            city(&sb.customer(cid(n))).as_deref(),
            Some(format!("Tavira {n}").as_str()),
            "row {n} was applied"
        );
    }
}

/// The undo file cannot take the next line (here: it is already past a file-size limit that the
/// new results file is not): the PATCH it would have undone is not sent, the run stops with
/// exit 3 naming the undo file, the summary JSON says so, and the row is left for `--resume`.
#[tokio::test(flavor = "multi_thread")]
async fn an_undo_line_that_cannot_be_written_stops_the_run_before_its_patch() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &numbered_cities(5, "Elvas"));
    // An undo file of an earlier, interrupted run: 24 KB of good lines.
    let undo = city_csv((100..800).map(|n| (cid(n), "Beja")));
    assert!(undo.len() > 24 * 1024);
    work.write("in.undo.csv", &undo);
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--resume", "--concurrency", "1"])
        .args(["--rate", "unlimited", "--summary-json", "s.json"]);
    let (code, stderr) = code_and_stderr(after_shell("ulimit -f 16", &cmd)).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write the undo file") && stderr.contains("in.undo.csv"),
        "{stderr}"
    );
    assert!(patches(&sb).is_empty(), "no PATCH without its undo line");
    assert!(work.rows("in.results.csv").is_empty(), "left for --resume");
    let summary = work.json("s.json");
    assert_eq!(summary["exit_code"], 3);
    assert!(summary["resume_command"].as_str().is_some(), "{summary}");
    assert_eq!(work.read("in.undo.csv"), undo, "the undo file is as it was");
}
