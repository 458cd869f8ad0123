//! Printed follow-up commands that carry the options reading a keyed, legacy-encoded input
//! (`--key internalIdentifier`, `--encoding`), run exactly as printed (SPEC: Follow-up commands):
//! the apply command after a plan reads the input again with both; the replay command reads the
//! UTF-8 results file with `--key` and never `--encoding`; the apply command after a workbook plan
//! carries `--sheet`.

use ccbulk::customer::{Field, current_text};
use ccbulk::sandbox::SandboxConfig;
use serde_json::Value;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn keyed_legacy_plan_then_printed_apply_and_replay_do_what_they_say() {
    let sb = sandbox(SandboxConfig {
        customers: 3,
        ..SandboxConfig::default()
    })
    .await;
    let listed = sb.listed();
    let work = Work::new();
    // Windows-1252 ("\xC9vora" is "Évora"); the sandbox's references are ERP-000001, … in list
    // order; NOPE-404 names no customer yet.
    work.write_bytes(
        "in.csv",
        b"internalIdentifier;city\nERP-000001;\xC9vora\nNOPE-404;Faro\n",
    );
    let mut plan = work.against(&sb);
    plan.args([
        "plan",
        "in.csv",
        "--key",
        "internalIdentifier",
        "--encoding",
        "windows-1252",
        "--rate",
        "unlimited",
    ]);
    let out = run(plan).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "one invalid row\n{}",
        show(&out)
    );
    let stderr = stderr_of(&out);
    let apply = after(&stderr, "to apply this plan:");
    assert!(
        apply.starts_with("ccbulk update ")
            && apply.contains("--key internalIdentifier")
            && apply.contains("--encoding windows-1252"),
        "{apply}"
    );
    assert!(
        patches(&sb).is_empty(),
        "a plan sends nothing: {:?}",
        patches(&sb)
    );

    let out = run(work.printed_with_token(apply)).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(listed[0]), Field::City).as_deref(),
        Some("Évora"),
        "the apply command read the file as windows-1252 and resolved the reference"
    );
    let rows = work.rows_sep("in.results.csv", b';');
    assert_each_row_once(&rows, 2);
    let first = rows.iter().find(|r| r["ccbulk_row"] == "1").unwrap();
    assert_eq!(first["ccbulk_outcome"], "accepted", "{first:?}");
    assert_eq!(first["ccbulk_customer_id"], listed[0].to_string());
    let stderr = stderr_of(&out);
    let replay = after(
        &stderr,
        "to send the failed and invalid rows again after fixing them:",
    );
    assert!(
        replay.starts_with("ccbulk replay ")
            && replay.contains("--key internalIdentifier")
            && !replay.contains("--encoding"),
        "the results file is UTF-8: {replay}"
    );

    // The missing reference appears in the tenant; the printed replay resolves and sends it.
    let mut c = sb.customer(listed[2]);
    c.insert(
        "internalIdentifier".into(),
        Value::String("NOPE-404".into()),
    );
    sb.put_customer(listed[2], c);
    let out = run(work.printed_with_token(replay)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let replayed = work.rows_sep("in.replay.csv", b';');
    assert_eq!(replayed.len(), 1, "only the invalid row: {replayed:?}");
    assert_eq!(replayed[0]["ccbulk_row"], "2");
    assert_eq!(replayed[0]["ccbulk_outcome"], "accepted");
    assert_eq!(replayed[0]["ccbulk_customer_id"], listed[2].to_string());
    assert_eq!(
        current_text(&sb.customer(listed[2]), Field::City).as_deref(),
        Some("Faro")
    );
    assert_eq!(patches(&sb).len(), 2, "each row sent once");
}

/// A workbook planned with `--sheet`: the printed apply command carries it and, run as printed,
/// applies that sheet's rows, not the first sheet's (SPEC: Follow-up commands, "sheet").
#[tokio::test(flavor = "multi_thread")]
async fn a_workbook_plans_printed_apply_reads_the_same_sheet() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut book = rust_xlsxwriter::Workbook::new();
    // The first sheet names another customer: an apply without --sheet would change it.
    let first = book.add_worksheet();
    first.set_name("Other").unwrap();
    first.write_string(0, 0, "customerId").unwrap();
    first.write_string(0, 1, "city").unwrap();
    first.write_string(1, 0, cid(2).to_string()).unwrap();
    first.write_string(1, 1, "Wrong Sheet").unwrap();
    let chosen = book.add_worksheet();
    chosen.set_name("Customers").unwrap();
    chosen.write_string(0, 0, "customerId").unwrap();
    chosen.write_string(0, 1, "city").unwrap();
    chosen.write_string(1, 0, cid(1).to_string()).unwrap();
    chosen.write_string(1, 1, "Sheet City").unwrap();
    book.save(work.path("book.xlsx")).unwrap();

    let mut plan = work.against(&sb);
    plan.args([
        "plan",
        "book.xlsx",
        "--sheet",
        "Customers",
        "--rate",
        "unlimited",
    ]);
    let out = run(plan).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = stderr_of(&out);
    let apply = after(&stderr, "to apply this plan:");
    assert!(apply.contains("--sheet Customers"), "{apply}");

    let out = run(work.printed_with_token(apply)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(cid(1)), Field::City).as_deref(),
        Some("Sheet City")
    );
    let rows = work.rows("book.results.csv");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["ccbulk_outcome"], "accepted");
    assert_eq!(patches(&sb).len(), 1, "only the chosen sheet's row is sent");
}

/// A keyed update of a file in the export's layout (a customerId column and an internalIdentifier
/// column): its printed undo command, run as printed, puts the customer back. The undo file had
/// two customerId columns (the input's and the resolved one), which `update` refuses.
#[tokio::test(flavor = "multi_thread")]
async fn keyed_update_of_an_export_layout_undoes_as_printed() {
    let sb = sandbox(SandboxConfig {
        customers: 3,
        ..SandboxConfig::default()
    })
    .await;
    let listed = sb.listed();
    let before = current_text(&sb.customer(listed[0]), Field::City);
    let work = Work::new();
    // The customerId cell is stale (another customer's): the reference decides.
    work.write(
        "in.csv",
        &format!(
            "customerId,internalIdentifier,city\n{},ERP-000001,Keyed City\n",
            listed[1]
        ),
    );
    let mut update = work.against(&sb);
    update.args([
        "update",
        "in.csv",
        "--key",
        "internalIdentifier",
        "--rate",
        "unlimited",
    ]);
    let out = run(update).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(listed[0]), Field::City).as_deref(),
        Some("Keyed City")
    );
    let stderr = stderr_of(&out);
    let undo = after(&stderr, "to put the changes back:").trim_end_matches(')');
    assert!(!undo.contains("--key"), "{undo}");
    let out = run(work.printed_with_token(undo)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(listed[0]), Field::City),
        before,
        "put back"
    );
    assert_eq!(
        current_text(&sb.customer(listed[1]), Field::City),
        current_text(&ccbulk::sandbox::made_up_customer(listed[1]), Field::City),
        "the stale customerId's customer is untouched"
    );
}
