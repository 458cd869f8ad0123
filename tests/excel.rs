//! The Excel round trip, end to end: a byte-order mark on the input gives one on the results,
//! plan and undo files, and replay reads them back; cells a spreadsheet would evaluate as a
//! formula are written guarded (`'=…`) to the results and undo files, and reading those files
//! back sends exactly the values the API had, `'s-Hertogenbosch` untouched.

use ccbulk::sandbox::SandboxConfig;

use crate::common::*;

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn starts_with_bom(work: &Work, name: &str) -> bool {
    std::fs::read(work.path(name))
        .expect("read")
        .starts_with(BOM)
}

fn field(sb: &ccbulk::sandbox::Sandbox, n: u32, name: &str) -> String {
    sb.customer(guid(n))[name]
        .as_str()
        .unwrap_or_else(|| panic!("customer {n} has no {name}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bom_input_gives_bom_files_that_replay_reads_back() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let text = format!(
        "customerId,companyName,city,email\n{},Café Lda,Lisboa,a1@fabrikam.pt\n{},Açores Lda,Ponta Delgada,not-an-email\n",
        guid(1),
        guid(2)
    );
    let mut input = BOM.to_vec();
    input.extend_from_slice(text.as_bytes());
    work.write_bytes("in.csv", &input);

    let out = run(work.unpaced(&sb, &["update", "in.csv"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        starts_with_bom(&work, "in.results.csv"),
        "results carry the BOM"
    );
    assert!(
        starts_with_bom(&work, "in.undo.csv"),
        "undo carries the BOM"
    );
    assert_eq!(field(&sb, 1, "companyName"), "Café Lda");

    // The user fixes the invalid row in the results file (a spreadsheet keeps the BOM) and
    // replays it.
    let results = std::fs::read(work.path("in.results.csv")).expect("read");
    let fixed = String::from_utf8(results)
        .expect("UTF-8")
        .replace("not-an-email", "a2@fabrikam.pt");
    work.write("in.results.csv", &fixed);
    let out = run(work.unpaced(&sb, &["replay", "in.results.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        starts_with_bom(&work, "in.replay.csv"),
        "replay results carry the BOM"
    );
    let rows = work.rows("in.replay.csv");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["customerId"],
        guid(2).to_string(),
        "header read past the BOM"
    );
    assert_eq!(rows[0]["ccbulk_row"], "2");
    assert_eq!(rows[0]["ccbulk_outcome"], "accepted");
    assert_eq!(field(&sb, 2, "companyName"), "Açores Lda");
    assert_eq!(field(&sb, 2, "email"), "a2@fabrikam.pt");

    // plan writes its file with the BOM too.
    let out = run(work.unpaced(&sb, &["plan", "in.csv"])).await;
    assert!(starts_with_bom(&work, "in.plan.csv"), "{}", show(&out));
    // And without a BOM in, none out.
    work.write("plain.csv", &text);
    let out = run(work.unpaced(&sb, &["update", "plain.csv"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!starts_with_bom(&work, "plain.results.csv"));
}

const EVIL: &str = "=HYPERLINK(\"http://evil.example\",\"Acme\")";
const AT: &str = "@SUM(1+1) Lda";
const DDE: &str = "+cmd|' /C calc'!A0";

#[tokio::test(flavor = "multi_thread")]
async fn formula_cells_are_guarded_in_files_and_read_back_exactly() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    // The API comes to hold values a spreadsheet would evaluate (set here by a first run).
    work.write(
        "first.csv",
        &format!(
            "customerId,companyName,city,phone,email\n\
             {},{},'s-Hertogenbosch,+351 21 000 0001,\n\
             {},{},Porto,,\n\
             {},{},Braga,,not-an-email\n",
            guid(1),
            quote(EVIL),
            guid(2),
            AT,
            guid(3),
            quote(DDE),
        ),
    );
    let out = run(work.unpaced(&sb, &["update", "first.csv"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    // Sent exactly as written in the input.
    assert_eq!(field(&sb, 1, "companyName"), EVIL);
    assert_eq!(field(&sb, 1, "city"), "'s-Hertogenbosch");
    assert_eq!(field(&sb, 1, "phone"), "+351 21 000 0001");
    assert_eq!(field(&sb, 2, "companyName"), AT);
    // The results echo them guarded; a leading ' that guards nothing, and phone numbers, stay.
    let rows = work.rows("first.results.csv");
    let row = |n: &str| rows.iter().find(|r| r["ccbulk_row"] == n).expect("row");
    assert_eq!(row("1")["companyName"], format!("'{EVIL}"));
    assert_eq!(row("1")["city"], "'s-Hertogenbosch");
    assert_eq!(row("1")["phone"], "+351 21 000 0001");
    assert_eq!(row("2")["companyName"], format!("'{AT}"));
    assert_eq!(row("3")["companyName"], format!("'{DDE}"));
    assert_eq!(row("3")["ccbulk_outcome"], "invalid");

    // Replay reads the guarded cells back as the values they stand for.
    let fixed = work
        .read("first.results.csv")
        .replace("not-an-email", "a3@fabrikam.pt");
    work.write("first.results.csv", &fixed);
    let out = run(work.unpaced(&sb, &["replay", "first.results.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        field(&sb, 3, "companyName"),
        DDE,
        "replay sent the value, not the guard"
    );

    // A second run changes them: the undo file holds the API's old values, guarded.
    work.write(
        "second.csv",
        &format!(
            "customerId,companyName,city\n{},Contoso,Breda\n{},Fabrikam,\n",
            guid(1),
            guid(2)
        ),
    );
    let out = run(work.unpaced(&sb, &["update", "second.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(field(&sb, 1, "companyName"), "Contoso");
    let undo = work.rows("second.undo.csv");
    let line = |n: u32| {
        undo.iter()
            .find(|r| r["customerId"] == guid(n).to_string())
            .expect("undo line")
    };
    assert_eq!(line(1)["companyName"], format!("'{EVIL}"));
    assert_eq!(line(1)["city"], "'s-Hertogenbosch");
    assert_eq!(line(2)["companyName"], format!("'{AT}"));
    for r in &undo {
        for v in r.values() {
            assert!(
                !v.starts_with(['=', '@']),
                "a formula in the undo file: {v}"
            );
        }
    }

    // Putting the changes back sends the API's values exactly.
    let out = run(work.unpaced(&sb, &["update", "second.undo.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(field(&sb, 1, "companyName"), EVIL);
    assert_eq!(field(&sb, 1, "city"), "'s-Hertogenbosch");
    assert_eq!(field(&sb, 2, "companyName"), AT);
}
