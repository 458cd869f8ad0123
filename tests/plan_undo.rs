//! `ccbulk plan` (read-only, what would change) and the undo file of a merge-mode update: an
//! update followed by an update of its undo file puts every customer back as it was.

use std::collections::HashMap;

use ccbulk::customer::{Field, current_text};
use ccbulk::sandbox::{SandboxConfig, made_up_customer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::common::*;

/// A field of the customer as text, `None` for null, absent or empty.
fn field(c: &Map<String, Value>, f: Field) -> Option<String> {
    current_text(c, f)
}

/// The first test customer from `from` on whose made-up middleName is (or is not) null.
fn customer_with_middle_name(from: u32, null: bool) -> Uuid {
    (from..from + 200)
        .map(guid)
        .find(|id| field(&made_up_customer(*id), Field::MiddleName).is_none() == null)
        .expect("the made-up customers have both kinds")
}

/// Every field the CSV can carry, back to what the sandbox made up for the customer.
fn assert_as_made_up(sb: &ccbulk::sandbox::Sandbox, id: Uuid) {
    let now = sb.customer(id);
    let was = made_up_customer(id);
    for f in Field::ALL {
        assert_eq!(
            field(&now, f),
            field(&was, f),
            "customer {id}, field {}: not back to its prior value",
            f.wire()
        );
    }
    assert_eq!(now["providerCustomers"], was["providerCustomers"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_what_would_change_and_sends_no_patch() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let c = |n: u32| made_up_customer(guid(n));
    let city = |n: u32| field(&c(n), Field::City).expect("made-up city");
    let tax = |n: u32| field(&c(n), Field::TaxId).expect("made-up taxId");
    let reseller = guid(999);
    let input = format!(
        "customerId,city,taxId,resellerId\n\
         {g1},Póvoa de Varzim,,\n\
         {g2},{same},,\n\
         {g3},,,\n\
         {g4},,,{reseller}\n\
         not-a-guid,Porto,,\n\
         {g6},,#NULL,\n",
        g1 = guid(1),
        g2 = guid(2),
        same = city(2),
        g3 = guid(3),
        g4 = guid(4),
        g6 = guid(6),
    );
    work.write("in.csv", &input);
    let out = run(work.unpaced(&sb, &["plan", "in.csv"])).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "an invalid row: exit 1\n{}",
        show(&out)
    );

    assert!(patches(&sb).is_empty(), "plan never sends a PATCH");
    let gets = sb.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 5, "one GET per valid row");
    for n in [1, 2, 3, 4, 6] {
        assert_as_made_up(&sb, guid(n));
    }
    assert!(
        !work.path("in.undo.csv").exists(),
        "plan writes no undo file"
    );
    assert!(
        !work.path("in.results.csv").exists(),
        "plan writes in.plan.csv only"
    );

    let rows = work.rows("in.plan.csv");
    assert_each_row_once(&rows, 6);
    let by_row: HashMap<&str, &HashMap<String, String>> =
        rows.iter().map(|r| (r["ccbulk_row"].as_str(), r)).collect();
    let expect = [
        (
            "1",
            "would-change",
            format!("city: {} → Póvoa de Varzim", city(1)),
        ),
        ("2", "unchanged", String::new()),
        ("3", "unchanged", String::new()),
        (
            "4",
            "would-change",
            format!("resellerId: (empty) → {reseller}"),
        ),
        ("5", "invalid", String::new()),
        ("6", "would-change", format!("taxId: {} → (empty)", tax(6))),
    ];
    for (n, outcome, changed) in expect {
        let r = by_row[n];
        assert_eq!(r["ccbulk_outcome"], outcome, "row {n}: {r:?}");
        assert_eq!(r["ccbulk_changed"], changed, "row {n}: {r:?}");
    }

    // The readable summary: rows per field and examples naming the customer and both values.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 of 6 rows would change"), "{err}");
    for f in ["city", "taxId", "resellerId"] {
        assert!(
            err.lines()
                .any(|l| l.trim_start().starts_with(f) && l.ends_with("1 row")),
            "{f} counted once\n{err}"
        );
    }
    assert!(
        err.contains(&format!(
            "row 1, {}: city: {} → Póvoa de Varzim",
            guid(1),
            city(1)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("row 6, {}: taxId: ", guid(6))),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_then_update_of_the_undo_file_restores_every_customer() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let no_middle = customer_with_middle_name(100, true);
    let has_middle = customer_with_middle_name(300, false);
    let (g1, g3, g4, g5, g6, g7) = (guid(1), guid(3), guid(4), guid(5), guid(6), guid(7));
    let same_city = field(&made_up_customer(g5), Field::City).expect("city");
    let reseller = guid(999);
    // `;`-separated, with a column renamed by --map: the undo file must read back as it is.
    let input = format!(
        "Firma;customerId;city;zip;middleName;resellerId;taxId;correlationId\n\
         Nova Fabrikam Lda;{g1};Póvoa de Varzim;;;;;\n\
         ;{no_middle};;;Maria;;;\n\
         ;{has_middle};;;Rita;;;\n\
         ;{g3};;;;{reseller};;\n\
         ;{g4};;;;;#NULL;\n\
         ;{g5};{same_city};;;;;\n\
         ;{g6};Faro;;;;;\n\
         LLC;{g7};Braga;;;;;\n\
         ;{g6};Braga;9999-001;;;;\n"
    );
    work.write("in.csv", &input);
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--rate",
        "unlimited",
        "--map",
        "Firma=companyName",
    ]);
    let out = run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "row 8 is invalid\n{}",
        show(&out)
    );
    let results = work.rows_sep("in.results.csv", b';');
    assert_each_row_once(&results, 9);
    let outcome = |n: &str| {
        results
            .iter()
            .find(|r| r["ccbulk_row"] == n)
            .map(|r| r["ccbulk_outcome"].clone())
    };
    assert_eq!(outcome("6").as_deref(), Some("unchanged"));
    assert_eq!(outcome("8").as_deref(), Some("invalid"));
    assert_eq!(sb.customer(g6)["city"], "Braga", "both rows of g6 applied");
    assert!(sb.customer(no_middle)["middleName"] == "Maria");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("undo: in.undo.csv (7 rows"), "{err}");

    // The undo file: the input's layout and delimiter, plain names, prior values only.
    let undo = work.read("in.undo.csv");
    let mut lines = undo.lines();
    assert_eq!(
        lines.next(),
        Some("companyName;customerId;city;zip;middleName;resellerId;taxId;correlationId")
    );
    let body: Vec<&str> = lines.collect();
    assert_eq!(
        body.len(),
        7,
        "one line per accepted row that changed something\n{undo}"
    );
    let line_of = |id: Uuid| -> Vec<Vec<&str>> {
        body.iter()
            .filter(|l| l.contains(&id.to_string()))
            .map(|l| l.split(';').collect())
            .collect()
    };
    let was = |id: Uuid, f: Field| field(&made_up_customer(id), f).unwrap_or_default();
    assert_eq!(
        line_of(no_middle),
        vec![vec![
            "",
            &no_middle.to_string(),
            "",
            "",
            "#NULL",
            "",
            "",
            ""
        ]]
    );
    assert_eq!(line_of(g3)[0][5], "#NULL", "resellerId was null");
    assert_eq!(line_of(g4)[0][6], was(g4, Field::TaxId));
    // g6 changed city twice: only the first prior value is kept, so the undo file can run
    // forwards; its second line restores only the zip.
    let g6_lines = line_of(g6);
    assert_eq!(g6_lines.len(), 2, "{undo}");
    assert_eq!(g6_lines[0][2], was(g6, Field::City));
    assert_eq!(g6_lines[1][2], "", "{undo}");
    assert_eq!(g6_lines[1][3], was(g6, Field::Zip));
    assert!(line_of(g5).is_empty() && line_of(g7).is_empty());

    // Put it all back, with no flags beyond the connection.
    let before_undo = patches(&sb).len();
    let out = run(work.unpaced(&sb, &["update", "in.undo.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let undo_results = work.rows_sep("in.undo.results.csv", b';');
    assert_each_row_once(&undo_results, 7);
    assert!(
        undo_results
            .iter()
            .all(|r| r["ccbulk_outcome"] == "accepted"),
        "{undo_results:?}"
    );
    assert_eq!(patches(&sb).len() - before_undo, 7);
    for id in [g1, no_middle, has_middle, g3, g4, g5, g6, g7] {
        assert_as_made_up(&sb, id);
    }
    assert!(
        sb.customer(no_middle)["middleName"].is_null(),
        "an empty field is cleared again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_appends_to_the_undo_file() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let first = format!("customerId,city\n{},Sintra\n{},Sintra\n", guid(1), guid(2));
    work.write("in.csv", &first);
    let out = run(work.unpaced(&sb, &["update", "in.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // The rest of the file arrives; --resume sends only the new rows and appends their undo lines.
    work.write(
        "in.csv",
        &format!("{first}{},Sintra\n{},Cascais\n", guid(3), guid(1)),
    );
    let mut cmd = work.against(&sb);
    cmd.args(["update", "in.csv", "--rate", "unlimited", "--resume"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_each_row_once(&work.rows("in.results.csv"), 4);
    let undo = work.read("in.undo.csv");
    assert_eq!(
        undo.matches("customerId,city").count(),
        1,
        "one header\n{undo}"
    );
    let lines: Vec<&str> = undo.lines().skip(1).collect();
    assert_eq!(
        lines.len(),
        3,
        "guid(1)'s city is already restored by the first run\n{undo}"
    );

    let out = run(work.unpaced(&sb, &["update", "in.undo.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for n in 1..=3 {
        assert_as_made_up(&sb, guid(n));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_file_only_where_it_belongs() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut input = format!("{FULL_HEADER}\n");
    for n in 1..=3 {
        input.push_str(&format!("{}\n", full_row(n)));
    }
    work.write("in.csv", &input);
    let undo_files = |work: &Work| -> Vec<String> {
        std::fs::read_dir(work.dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("undo"))
            .collect()
    };
    let runs: [&[&str]; 4] = [
        &["update", "in.csv", "--no-undo"],
        &["update", "in.csv", "--dry-run"],
        &["plan", "in.csv"],
        &["update", "in.csv", "--mode", "replace"],
    ];
    for args in runs {
        let mut cmd = work.against(&sb);
        cmd.args(args).args(["--rate", "unlimited", "--overwrite"]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", show(&out));
        assert!(
            undo_files(&work).is_empty(),
            "{args:?} wrote {:?}",
            undo_files(&work)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("undo:"),
            "{args:?}"
        );
    }

    // --undo PATH chooses the file; an existing one is never replaced by accident.
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--undo",
        "back.csv",
        "--overwrite",
        "--rate",
        "unlimited",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        undo_files(&work),
        Vec::<String>::new(),
        "no default-named file"
    );
    assert!(work.read("back.csv").starts_with(FULL_HEADER));
    let requests = sb.requests().len();
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--undo",
        "back.csv",
        "--results",
        "again.csv",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("back.csv already exists"));
    assert_eq!(sb.requests().len(), requests, "nothing sent");
    assert!(!work.path("again.csv").exists(), "nothing created");
}
