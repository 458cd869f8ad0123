//! Standard input that streams, stops that come while it stays open, signals during setup, what a
//! kill -9 can send twice, and setup errors that name what is wrong.

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

#[allow(dead_code)]
const LIMIT: Duration = Duration::from_secs(60);
