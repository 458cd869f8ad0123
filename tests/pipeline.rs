//! The pipeline of `ccbulk update`: what the server receives and what the results file holds.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_sends_nothing() {
    let sb = sandbox(Default::default()).await;
    let work = Work::new();
    let input = format!("{FULL_HEADER}\n{}\n{}\nnot-a-guid,X,PT,a,b,c,d,e,f,g@h.pt,1\n", full_row(1), full_row(2));
    work.write("in.csv", &input);
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(sb.requests().is_empty(), "a dry run sends nothing");
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, 3);
    let outcomes: Vec<&str> = rows.iter().map(|r| r["ccbulk_outcome"].as_str()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "valid").count(), 2);
    assert_eq!(outcomes.iter().filter(|o| **o == "invalid").count(), 1);
}
