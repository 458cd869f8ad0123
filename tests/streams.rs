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
