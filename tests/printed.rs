//! Printed commands run as printed, however ccbulk was started: by a path, before it is
//! installed (`cargo run`, `target/release/ccbulk`), the commands name it by that path.

use crate::common::*;

/// Started as `bin/ccbulk` with no ccbulk on PATH: the undo command names `bin/ccbulk`, carries
/// `-q` as `--quiet`, and, pasted into a shell as printed, puts the change back.
#[tokio::test(flavor = "multi_thread")]
async fn a_printed_command_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(3, "Canary"));

    let cmd = work.shell_without_ccbulk(
        "bin/ccbulk update in.csv --sandbox --rate unlimited -q --summary-json s.json",
    );
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let undo = undo_command(&work);
    assert!(
        undo.starts_with("bin/ccbulk update ")
            && undo.contains(" --quiet")
            && undo.ends_with(" in.undo.csv"),
        "{undo}"
    );
    assert!(
        stderr_of(&out).contains(&undo),
        "the summary prints the same command: {}",
        show(&out)
    );

    let out = run(work.shell_without_ccbulk(&format!("{undo} --summary-json u.json"))).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        work.json("u.json")["outcomes"]["accepted"],
        3,
        "{}",
        show(&out)
    );
}

/// Started as `bin/ccbulk` with no ccbulk on PATH, `--limit 1` prints the command that sends the
/// rest; pasted into a shell as printed, it does: every row in the results once.
#[tokio::test(flavor = "multi_thread")]
async fn the_resume_after_limit_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(3, "Canary"));

    let cmd =
        work.shell_without_ccbulk("bin/ccbulk update in.csv --sandbox --rate unlimited --limit 1");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(work.rows("in.results.csv").len(), 1, "{}", show(&out));
    let stderr = stderr_of(&out);
    let resume = after(&stderr, "to continue:").to_string();
    assert!(
        resume.starts_with("bin/ccbulk update ") && resume.contains(" --resume"),
        "{resume}"
    );

    let out = run(work.shell_without_ccbulk(&resume)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 3);
}

/// Started by its absolute path under the current folder, as `cargo run` starts it: the printed
/// command names it from the current folder (`bin/ccbulk`), and runs as printed.
#[tokio::test(flavor = "multi_thread")]
async fn an_absolute_path_under_the_folder_is_printed_from_the_folder() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(3, "Canary"));

    // `pwd -P`: the folder as the binary sees it (no symbolic links on the way).
    let cmd = work.shell_without_ccbulk(
        r#"cd "$(pwd -P)" && exec "$(pwd -P)/bin/ccbulk" update in.csv --sandbox --rate unlimited --limit 1"#,
    );
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let resume = after(&stderr_of(&out), "to continue:").to_string();
    assert!(resume.starts_with("bin/ccbulk update "), "{resume}");

    let out = run(work.shell_without_ccbulk(&resume)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 3);
}

/// Started as `bin/ccbulk` with no ccbulk on PATH, a run with an invalid row prints the replay
/// command; pasted into a shell as printed, it sends that row alone again.
#[tokio::test(flavor = "multi_thread")]
async fn the_replay_command_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write(
        "in.csv",
        &city_csv([(cid(1).to_string(), "Braga"), ("not-an-id".into(), "Porto")]),
    );

    let cmd = work.shell_without_ccbulk("bin/ccbulk update in.csv --sandbox --rate unlimited");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = stderr_of(&out);
    let replay = after(
        &stderr,
        "to send the failed and invalid rows again after fixing them:",
    );
    assert!(
        replay.starts_with("bin/ccbulk replay ") && replay.ends_with(" in.results.csv"),
        "{replay}"
    );

    let out = run(work.shell_without_ccbulk(replay)).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("in.replay.csv");
    assert_eq!(rows.len(), 1, "only the invalid row: {rows:?}");
    assert_eq!(rows[0]["ccbulk_outcome"], "invalid", "{rows:?}");
}

/// Started as `bin/ccbulk` with no ccbulk on PATH, a plan prints the command that applies it;
/// pasted into a shell as printed, it sends every planned change.
#[tokio::test(flavor = "multi_thread")]
async fn the_apply_command_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(3, "Planned"));

    let cmd = work.shell_without_ccbulk("bin/ccbulk plan in.csv --sandbox --rate unlimited");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = stderr_of(&out);
    let apply = after(&stderr, "to apply this plan:").to_string();
    assert!(apply.starts_with("bin/ccbulk update "), "{apply}");

    let out = run(work.shell_without_ccbulk(&format!("{apply} --summary-json a.json"))).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        work.json("a.json")["outcomes"]["accepted"],
        3,
        "{}",
        show(&out)
    );
}

/// Started as `bin/ccbulk` with no ccbulk on PATH, the banner of a kept sandbox tenant names the
/// command that starts it afresh; run by sh as printed, it forgets the tenant's changes.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_reset_hint_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(3, "Kept"));
    let update = "bin/ccbulk update in.csv --sandbox --rate unlimited --overwrite";
    let out = run(work.shell_without_ccbulk(update)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let out = run(work.shell_without_ccbulk(update)).await;
    let stderr = stderr_of(&out);
    assert!(stderr.contains(" 3 changed; `"), "{stderr}");
    let reset = stderr
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no `command` in:\n{stderr}"))
        .to_string();
    assert_eq!(reset, "bin/ccbulk sandbox --reset");

    let out = run(work.shell_without_ccbulk(&reset)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(work.shell_without_ccbulk(update)).await;
    assert!(stderr_of(&out).contains(" 0 changed; `"), "{}", show(&out));
}

/// Started as `bin/ccbulk` with no ccbulk on PATH, a kept sandbox tenant that cannot be read
/// stops the run naming the command that starts it afresh by that path; run by sh as printed, it
/// does, and the run then goes.
#[tokio::test(flavor = "multi_thread")]
async fn the_reset_for_an_unreadable_tenant_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(2, "Kept"));
    let folder = work.state.path().join("ccbulk");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("sandbox-tenant.json"), "not json").unwrap();
    let update = "bin/ccbulk update in.csv --sandbox --rate unlimited";
    let out = run(work.shell_without_ccbulk(update)).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("cannot read the sandbox tenant"),
        "{stderr}"
    );
    let reset = stderr
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no `command` in:\n{stderr}"))
        .to_string();
    assert_eq!(reset, "bin/ccbulk sandbox --reset");

    let out = run(work.shell_without_ccbulk(&reset)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(work.shell_without_ccbulk(update)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// Started as `bin/ccbulk` with no ccbulk on PATH and quit by a second signal with every row in
/// flight, the run prints the command that continues it; run by sh as printed, it sends them all.
#[tokio::test(flavor = "multi_thread")]
async fn the_resume_after_a_second_ctrl_c_runs_as_printed_when_ccbulk_is_not_on_path() {
    const N: u32 = 4;
    let sb = slow_sandbox(std::time::Duration::from_secs(3)).await;
    let work = Work::new();
    link_bin_ccbulk(&work);
    work.write("in.csv", &numbered_cities(N, "Quit"));
    let with_api = |mut cmd: std::process::Command| {
        cmd.env("CLOUDCOCKPIT_TOKEN", TOKEN)
            .env("CLOUDCOCKPIT_TENANT", "portal.reseller.example")
            .env("CLOUDCOCKPIT_BASE_URL", sb.base_url());
        cmd
    };
    let cmd = work.shell_without_ccbulk("exec bin/ccbulk update in.csv --rate unlimited");
    let running = Running::spawn(with_api(cmd));
    wait_until(
        "every row in flight",
        std::time::Duration::from_secs(20),
        || patches(&sb).len() >= N as usize,
    )
    .await;
    running.signal("TERM");
    running
        .wait_for_stderr(
            "finishing the rows in flight",
            std::time::Duration::from_secs(20),
        )
        .await;
    running.signal("INT");
    let (code, stderr) = running.wait(std::time::Duration::from_secs(30)).await;
    assert_eq!(code, Some(130), "{stderr}");
    let resume = after(&stderr, "to continue:").to_string();
    assert!(resume.starts_with("bin/ccbulk update "), "{resume}");

    let out = run(with_api(work.shell_without_ccbulk(&resume))).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), u64::from(N));
}

/// Started as `bin/ccbulk` with no ccbulk on PATH, `sandbox` prints a command to try it; run by
/// sh as printed (in a folder with the project's `samples/`), it updates the sample's rows.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_try_line_runs_as_printed_when_ccbulk_is_not_on_path() {
    let work = Work::new();
    link_bin_ccbulk(&work);
    std::fs::create_dir(work.path("samples")).unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/customers.csv");
    std::fs::copy(sample, work.path("samples/customers.csv")).unwrap();
    let server = Running::spawn(
        work.shell_without_ccbulk("exec bin/ccbulk sandbox --listen 127.0.0.1:0 --in-memory"),
    );
    server
        .wait_for_stderr("Ctrl-C to stop.", std::time::Duration::from_secs(30))
        .await;
    let stderr = server.stderr();
    let line = after(&stderr, "try: ").to_string();
    assert!(line.contains(" bin/ccbulk update "), "{line}");

    let out = run(work.shell_without_ccbulk(&line)).await;
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", show(&out));
    let rows = work.rows("samples/customers.results.csv");
    assert_each_row_once(&rows, read_rows(std::path::Path::new(sample)).len() as u64);
    assert!(
        rows.iter().any(|r| r["ccbulk_outcome"] == "accepted"),
        "{}",
        show(&out)
    );
    server.signal("TERM");
    let (code, stderr) = server.wait(std::time::Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{stderr}");
}

/// With the binary on PATH as `ccbulk` (installed), the commands start with `ccbulk`; pasted
/// into a shell as printed, the undo puts the change back.
#[tokio::test(flavor = "multi_thread")]
async fn an_installed_ccbulk_is_named_ccbulk() {
    let work = Work::new();
    work.write("in.csv", &numbered_cities(2, "Canary"));
    let cmd = work.shell("ccbulk update in.csv --sandbox --rate unlimited --summary-json s.json");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let undo = undo_command(&work);
    assert!(undo.starts_with("ccbulk update "), "{undo}");

    let out = run(work.shell(&format!("{undo} --summary-json u.json"))).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        work.json("u.json")["outcomes"]["accepted"],
        2,
        "{}",
        show(&out)
    );
}

/// The undo command the run's `--summary-json s.json` holds.
fn undo_command(work: &Work) -> String {
    work.json("s.json")["undo"]["command"]
        .as_str()
        .expect("an undo command")
        .to_string()
}

/// The test binary as `bin/ccbulk` in the work folder, as a build leaves it: run by its path.
fn link_bin_ccbulk(work: &Work) {
    std::fs::create_dir(work.path("bin")).unwrap();
    let bin = bin_dir().join(format!("ccbulk{}", std::env::consts::EXE_SUFFIX));
    #[cfg(unix)]
    std::os::unix::fs::symlink(&bin, work.path("bin/ccbulk")).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&bin, work.path("bin/ccbulk.exe")).unwrap();
}
