//! `ccbulk export` against the sandbox's list call and against an independent wiremock server
//! serving hand-written pages in docs/api.md's shape; and the round trip export → edit → plan →
//! update.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::process::{Command, Output};

use ccbulk::customer::{Field, current_text};
use ccbulk::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::*;

/// The header of a CSV file, BOM checked and removed.
fn header_of(text: &str) -> Vec<String> {
    let text = text
        .strip_prefix('\u{feff}')
        .expect("the export starts with a BOM");
    text.lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// A sandbox whose tenant lists `customers` made-up customers.
async fn tenant(customers: usize) -> Sandbox {
    sandbox(SandboxConfig {
        customers,
        ..SandboxConfig::default()
    })
    .await
}

/// `export` against the sandbox with the static token, which must succeed.
async fn export_ok(work: &Work, sb: &Sandbox) -> Output {
    let out = run(work.unpaced(sb, &["export"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn export_of_5000_sandbox_customers_writes_each_once_with_the_right_columns() {
    let sb = tenant(5000).await;
    let work = Work::new();
    let out = export_ok(&work, &sb).await;
    let text = work.read("customers.csv");
    assert_eq!(header_of(&text), COLUMNS);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(work.path("customers.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "customers' data is owner-only");
    }
    let rows = work.rows("customers.csv");
    assert_eq!(rows.len(), 5000);
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|r| Uuid::parse_str(&r["customerId"]).expect("a GUID"))
        .collect();
    assert_eq!(ids, sb.listed(), "every customer once, in the API's order");
    for (row, id) in rows.iter().zip(&ids).step_by(97) {
        let c = sb.customer(*id);
        for f in Field::ALL {
            assert_eq!(
                row[f.wire()],
                current_text(&c, f).unwrap_or_default(),
                "{id} {}",
                f.wire()
            );
        }
    }
    let lists: Vec<String> = sb
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        lists,
        (1..=3)
            .map(|n| format!("/v1/Customers?pageNumber={n}&pageSize=2000"))
            .collect::<Vec<_>>()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ccbulk export: 5000 rows"), "{stderr}");
    // No temporary file is left beside the output.
    assert_eq!(work.files(), BTreeSet::from(["customers.csv".to_string()]));
}

/// Customer `n` of the hand-written pages, in docs/api.md's shape (with what a list item may or may
/// not carry: a null, a number where a text is expected, an undocumented field).
fn item(n: u32) -> Value {
    json!({
        "id": guid(n).to_string(),
        "companyName": if n == 9 { "=HYPERLINK(\"http://x\")".to_string() } else { format!("Company {n}, \"Quoted\" Lda") },
        "taxId": null,
        "country": "PT",
        "addressLine1": format!("Rua {n}\nBloco B"),
        "city": "Lisboa",
        "state": "Lisboa",
        "zip": if n.is_multiple_of(2) { json!(format!("0{n:03}-100")) } else { json!(1000 + n) },
        "firstName": "Ana",
        "lastName": "Silva",
        "email": format!("ana{n}@fabrikam.pt"),
        "phone": "+351 21 000 0000",
        "internalIdentifier": format!("ERP-{n:05}"),
        "resellerId": null,
        "providerCustomers": {"x": {"providerCustomerId": "p", "margin": 0.1}},
        "somethingNew": [1, 2, 3],
    })
}

/// A page of the hand-written tenant of `total` customers; `repeat_last` puts the previous
/// page's last customer first again, as when a customer was added meanwhile.
fn page_body(number: u32, total: u32, repeat_last: bool) -> Value {
    let size = 2000u32;
    let first = (number - 1) * size + 1;
    let last = (number * size).min(total);
    let mut items: Vec<Value> = (first..=last).map(item).collect();
    if repeat_last {
        items.insert(0, item(first - 1));
    }
    let pages = total.div_ceil(size);
    json!({
        "items": items,
        "paginationParameters": {"pageNumber": number, "pageSize": size},
        "totalPages": pages,
        "totalCount": total,
        "hasPreviousPage": number > 1,
        "hasNextPage": number < pages,
        "continuationToken": null,
    })
}

/// Answers 503 the first `fail` times, then the page.
struct Flaky {
    fail: usize,
    calls: std::sync::atomic::AtomicUsize,
    body: Value,
}

impl Respond for Flaky {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.fail {
            ResponseTemplate::new(503).set_body_string("busy")
        } else {
            ResponseTemplate::new(200).set_body_json(&self.body)
        }
    }
}

async fn mock_tenant(server: &MockServer, total: u32, fail_page_2: usize) {
    for n in 1..=total.div_ceil(2000) {
        let body = page_body(n, total, n == 3);
        let responder = Flaky {
            fail: if n == 2 { fail_page_2 } else { 0 },
            calls: Default::default(),
            body,
        };
        Mock::given(method("GET"))
            .and(path("/v1/Customers"))
            .and(query_param("pageNumber", n.to_string()))
            .and(query_param("pageSize", "2000"))
            .respond_with(responder)
            .mount(server)
            .await;
    }
}

fn export_from(work: &Work, server: &MockServer) -> Command {
    let mut cmd = work.against_url(&server.uri());
    cmd.env("CCBULK_BACKOFF_BASE", "10ms")
        .args(["export", "--rate", "unlimited"]);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_written_pages_with_a_page_failing_twice_are_exported_once_each() {
    let server = MockServer::start().await;
    mock_tenant(&server, 5000, 2).await;
    let work = Work::new();
    let out = run(export_from(&work, &server)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let rows = work.rows("customers.csv");
    let ids: Vec<String> = rows.iter().map(|r| r["customerId"].clone()).collect();
    let want: Vec<String> = (1..=5000).map(|n| guid(n).to_string()).collect();
    assert_eq!(
        ids, want,
        "every customer exactly once, the repeated one too"
    );
    let r = &rows[6];
    assert_eq!(r["companyName"], "Company 7, \"Quoted\" Lda");
    assert_eq!(r["addressLine1"], "Rua 7\nBloco B");
    assert_eq!(r["zip"], "1007", "a number where a text was expected");
    assert_eq!(
        rows[7]["zip"], "0008-100",
        "text exactly, leading zero kept"
    );
    assert_eq!(r["taxId"], "", "null is an empty cell");
    assert_eq!(r["middleName"], "", "a missing field is an empty cell");
    assert_eq!(r["internalIdentifier"], "ERP-00007");
    assert_eq!(
        rows[8]["companyName"], "'=HYPERLINK(\"http://x\")",
        "a formula is guarded as update reads it back"
    );
    assert_eq!(header_of(&work.read("customers.csv")), COLUMNS);

    let received = server.received_requests().await.unwrap();
    let pages: Vec<String> = received
        .iter()
        .map(|r| r.url.query().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        pages,
        [
            "pageNumber=1&pageSize=2000",
            "pageNumber=2&pageSize=2000",
            "pageNumber=2&pageSize=2000",
            "pageNumber=2&pageSize=2000",
            "pageNumber=3&pageSize=2000",
        ],
        "page 2 retried after its two 503s; nothing else twice"
    );
    for r in &received {
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(r.headers["x-tenant"], "portal.reseller.example");
        assert!(Uuid::parse_str(r.headers["x-correlation-id"].to_str().unwrap()).is_ok());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_keeps_failing_stops_the_export_and_leaves_no_file() {
    let server = MockServer::start().await;
    mock_tenant(&server, 3000, 100).await;
    let work = Work::new();
    let summary = work.path("summary.json");
    let mut cmd = export_from(&work, &server);
    cmd.args(["--max-attempts", "3", "--summary-json"])
        .arg(&summary);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("page 2 could not be read: GET 503") && stderr.contains("3 attempts"),
        "{stderr}"
    );
    assert!(!work.path("customers.csv").exists());
    assert_eq!(
        work.files(),
        BTreeSet::from(["summary.json".to_string()]),
        "no temporary file left"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["command"], "export");
}

/// `--help`'s promise for exit 3 when the credentials are refused: the export stops before the
/// first page, says what to check (never the secret), writes no file but the summary JSON, and
/// asks for no page.
#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_stop_the_export_before_the_first_page() {
    let cfg = SandboxConfig {
        customers: 3,
        ..SandboxConfig::default()
    };
    let sb = sandbox(cfg.clone()).await;
    let wrong = SandboxConfig {
        client_secret: "wrong-secret-Xe71".to_string(),
        ..cfg
    };
    let work = Work::new();
    let mut cmd = work.against_as_client(&sb, &wrong);
    cmd.env("CLOUDCOCKPIT_TOKEN_URL", sb.token_url())
        .args(["export", "--summary-json", "s.json"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("authentication failed: ") && stderr.contains("CLOUDCOCKPIT_CLIENT_SECRET"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-secret-Xe71"), "{stderr}");
    assert_eq!(work.files(), BTreeSet::from(["s.json".to_string()]));
    assert_eq!(work.json("s.json")["exit_code"], 3);
    assert!(
        sb.requests().iter().all(|r| r.path.starts_with("/oauth2/")),
        "no page asked for"
    );
}

/// `--summary-json` is checked before the first call, as update checks it: a symlink there is
/// refused (exit 2), nothing is sent, and the file it points to is untouched.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_at_summary_json_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    mock_tenant(&server, 3, 0).await;
    let work = Work::new();
    work.write("mine.json", "mine\n");
    std::os::unix::fs::symlink(work.path("mine.json"), work.path("summary.json")).unwrap();
    let mut cmd = export_from(&work, &server);
    cmd.args(["--summary-json", "summary.json"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr_of(&out).contains("--summary-json summary.json is a symbolic link"),
        "{}",
        show(&out)
    );
    assert_eq!(work.read("mine.json"), "mine\n");
    assert!(!work.path("customers.csv").exists());
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing sent"
    );
}

/// `--help`'s promise for exit 130: an export stopped by SIGTERM (or Ctrl-C) mid-way leaves
/// nothing at `--output` (here an older file `--overwrite` would have replaced stays as it was)
/// and no temporary file, and says so in the summary.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_export_leaves_the_output_as_it_was_and_no_temporary_file() {
    // Three pages, each a second behind the sandbox's latency: the signal comes mid-way.
    let sb = sandbox(SandboxConfig {
        customers: 5000,
        latency: std::time::Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write("customers.csv", "mine\n");
    let mut cmd = work.unpaced(
        &sb,
        &["export", "--overwrite", "--summary-json", "summary.json"],
    );
    cmd.env("NO_COLOR", "1");
    let running = Running::spawn(cmd);
    // The temporary file is made once the token is in, before the first page is asked for.
    wait_until("the temporary file", RUN_LIMIT, || {
        work.files()
            .iter()
            .any(|f| f.starts_with(".customers.csv."))
    })
    .await;
    running.signal("TERM");
    let (code, stderr) = running.wait(RUN_LIMIT).await;
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(work.read("customers.csv"), "mine\n", "not replaced");
    assert_eq!(
        work.files(),
        BTreeSet::from(["customers.csv".to_string(), "summary.json".to_string()]),
        "no temporary file left"
    );
    let json = work.json("summary.json");
    assert_eq!(json["exit_code"], 130);
    assert!(
        json["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("nothing was written")),
        "{json}"
    );
    assert!(
        sb.requests().iter().filter(|r| r.method == "GET").count() < 3,
        "stopped before the last page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn search_and_reseller_are_sent_and_the_output_is_never_clobbered() {
    let server = MockServer::start().await;
    let reseller = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path("/v1/Customers"))
        .and(query_param("searchField", "Company.Name"))
        .and(query_param("searchValue", "Contoso & Sons"))
        .and(query_param("resellerId", reseller.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [item(1)], "totalCount": 1, "hasNextPage": false
        })))
        .mount(&server)
        .await;
    let work = Work::new();
    work.write("customers.csv", "mine\n");
    let args = [
        "--search-field",
        "Company.Name",
        "--search-value",
        "Contoso & Sons",
        "--reseller-id",
    ];
    let mut cmd = export_from(&work, &server);
    cmd.args(args).arg(reseller.to_string());
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(work.read("customers.csv"), "mine\n");
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing sent"
    );

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(work.path("customers.csv"), work.path("link.csv")).unwrap();
        let mut cmd = export_from(&work, &server);
        cmd.args(args)
            .arg(reseller.to_string())
            .args(["--output", "link.csv", "--overwrite"]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
        assert_eq!(work.read("customers.csv"), "mine\n");
    }

    let mut cmd = export_from(&work, &server);
    cmd.args(args)
        .arg(reseller.to_string())
        .args(["--output", "-"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(header_of(&stdout), COLUMNS);
    assert!(stdout.contains(&guid(1).to_string()), "{stdout}");

    let mut cmd = export_from(&work, &server);
    cmd.args(args).arg(reseller.to_string()).arg("--overwrite");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(work.rows("customers.csv").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_edit_ten_cells_plan_shows_those_ten_and_update_applies_them() {
    let sb = tenant(50).await;
    let work = Work::new();
    export_ok(&work, &sb).await;

    // An unedited export plans as all unchanged.
    let out = run(work.unpaced(&sb, &["plan", "customers.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let planned = work.rows("customers.plan.csv");
    assert_eq!(planned.len(), 50);
    assert!(
        planned.iter().all(|r| r["ccbulk_outcome"] == "unchanged"),
        "{}",
        show(&out)
    );

    // Ten cells edited, as in a spreadsheet: the file is read and written back whole.
    let ids: Vec<Uuid> = work
        .rows("customers.csv")
        .iter()
        .map(|r| Uuid::parse_str(&r["customerId"]).expect("a GUID"))
        .collect();
    let edits: [(usize, &str, &str); 10] = [
        (0, "city", "Braga"),
        (1, "phone", "+351 912 000 001"),
        (2, "zip", "01234"),
        (3, "email", "new.contact@fabrikam.example"),
        (4, "companyName", "Renamed Trading Lda"),
        (10, "addressLine2", "Piso 3"),
        (20, "internalIdentifier", "ERP-NEW-20"),
        (30, "taxId", "PT999999990"),
        (40, "lastName", "Moreira"),
        (40, "firstName", "Joana"),
    ];
    let by_id: Vec<(Uuid, &str, &str)> = edits
        .iter()
        .map(|&(row, column, value)| (ids[row], column, value))
        .collect();
    edit_export(&work, "customers.csv", "edited.csv", &by_id);

    let out = run(work.unpaced(&sb, &["plan", "edited.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let planned = work.rows("edited.plan.csv");
    let mut changed: Vec<(String, String)> = Vec::new();
    for r in &planned {
        let id = &r["customerId"];
        if r["ccbulk_outcome"] == "unchanged" {
            assert_eq!(r["ccbulk_changed"], "");
            continue;
        }
        assert_eq!(r["ccbulk_outcome"], "would-change");
        for change in r["ccbulk_changed"].split("; ") {
            changed.push((id.clone(), change.split(':').next().unwrap().to_string()));
        }
    }
    let mut want: Vec<(String, String)> = edits
        .iter()
        .map(|(row, column, _)| (ids[*row].to_string(), column.to_string()))
        .collect();
    changed.sort();
    want.sort();
    assert_eq!(changed, want, "exactly the ten edited cells would change");

    let out = run(work.unpaced(&sb, &["update", "edited.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let results = work.rows("edited.results.csv");
    assert_eq!(
        outcome_counts(&results),
        BTreeMap::from([("accepted", 9), ("unchanged", 41)])
    );
    for (row, column, value) in edits {
        let id = ids[row];
        let field = Field::ALL.into_iter().find(|f| f.wire() == column).unwrap();
        assert_eq!(
            current_text(&sb.customer(id), field).as_deref(),
            Some(value)
        );
    }
    let patched: HashSet<String> = patches(&sb).into_iter().map(|r| r.path).collect();
    assert_eq!(
        patched.len(),
        9,
        "one PATCH per edited customer, none for the rest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_keyed_by_internal_identifier_resolve_unique_missing_and_ambiguous_references() {
    let sb = tenant(30).await;
    let listed = sb.listed();
    // Two customers share a reference: a lookup by it is ambiguous.
    for id in &listed[4..6] {
        let mut c = sb.customer(*id);
        c.insert("internalIdentifier".into(), Value::String("DUP-7".into()));
        sb.put_customer(*id, c);
    }
    let work = Work::new();
    // ERP-000001 is also a substring of ERP-000010 … ERP-000019, which the sandbox's search
    // returns too: only the exact one may be taken.
    work.write(
        "in.csv",
        "internalIdentifier,city\nERP-000001,Braga\nNOPE-404,Faro\nDUP-7,Porto\n ERP-000002 ,\n",
    );
    let keyed = ["--key", "internalIdentifier", "--rate", "unlimited"];

    let mut plan = work.against(&sb);
    plan.args(["plan", "in.csv"]).args(keyed);
    let out = run(plan).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let planned = work.rows("in.plan.csv");
    let planned: Vec<_> = (1..=4)
        .map(|n| {
            planned
                .iter()
                .find(|r| r["ccbulk_row"] == n.to_string())
                .expect("every row once")
        })
        .collect();
    assert_eq!(planned[0]["ccbulk_outcome"], "would-change");
    assert_eq!(planned[0]["ccbulk_customer_id"], listed[0].to_string());

    let mut update = work.against(&sb);
    update.args(["update", "in.csv"]).args(keyed);
    let out = run(update).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let replay = after(&stderr, "after fixing them:");
    assert!(
        replay.contains(" --key internalIdentifier ") && replay.ends_with(" in.results.csv"),
        "the replay command reads the file the same way: {stderr}"
    );
    let undo_line = stderr
        .lines()
        .find(|l| l.contains("undo: in.undo.csv"))
        .unwrap();
    assert!(
        !undo_line.contains("--key"),
        "the undo file names customers by customerId: {undo_line}"
    );
    let mut rows = work.rows("in.results.csv");
    rows.sort_by_key(|r| r["ccbulk_row"].parse::<u32>().unwrap());
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["ccbulk_outcome"].as_str(),
                r["ccbulk_customer_id"].as_str(),
                r["ccbulk_error"].as_str(),
            )
        })
        .collect();
    let first = listed[0].to_string();
    let second = listed[1].to_string();
    assert_eq!(summary[0], ("accepted", first.as_str(), ""));
    assert_eq!(
        summary[1],
        (
            "invalid",
            "",
            "no customer has internalIdentifier \"NOPE-404\""
        )
    );
    assert_eq!(summary[2].0, "invalid");
    assert_eq!(summary[2].1, "");
    assert!(
        summary[2]
            .2
            .starts_with("ambiguous: 2 customers have internalIdentifier \"DUP-7\""),
        "{}",
        summary[2].2
    );
    assert_eq!(summary[3], ("unchanged", second.as_str(), ""));
    assert_eq!(
        current_text(&sb.customer(listed[0]), Field::City).as_deref(),
        Some("Braga")
    );
    assert_eq!(
        patches(&sb).len(),
        1,
        "only the resolved, changed row is sent"
    );

    // The undo file names the customer by customerId: applied without --key.
    let undo = work.rows("in.undo.csv");
    assert_eq!(undo.len(), 1);
    assert_eq!(undo[0]["customerId"], first);
    let before = ccbulk::sandbox::made_up_customer(listed[0]);
    let out = run(work.unpaced(&sb, &["update", "in.undo.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(listed[0]), Field::City),
        current_text(&before, Field::City)
    );

    // The missing reference appears in the tenant; replaying the results resolves it.
    let late = listed[20];
    let mut c = sb.customer(late);
    c.insert(
        "internalIdentifier".into(),
        Value::String("NOPE-404".into()),
    );
    sb.put_customer(late, c);
    let mut replay = work.against(&sb);
    replay.args(["replay", "in.results.csv"]).args(keyed);
    let out = run(replay).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let replayed = work.rows("in.replay.csv");
    assert_eq!(replayed.len(), 2, "the two invalid rows, sent again");
    let found = replayed.iter().find(|r| r["ccbulk_row"] == "2").unwrap();
    assert_eq!(found["ccbulk_outcome"], "accepted");
    assert_eq!(found["ccbulk_customer_id"], late.to_string());
    assert_eq!(
        current_text(&sb.customer(late), Field::City).as_deref(),
        Some("Faro")
    );
}

/// The export in `from` with `edits` (customerId, column, new value) made as a spreadsheet would
/// (the file read and written back whole, BOM kept), saved as `to`; the line each edited
/// customer's row is on.
fn edit_export(work: &Work, from: &str, to: &str, edits: &[(Uuid, &str, &str)]) -> Vec<u64> {
    let text = work.read(from);
    let mut rdr = csv::Reader::from_reader(text.strip_prefix('\u{feff}').unwrap().as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let mut lines = Vec::new();
    for (id, column, value) in edits {
        let row = rows
            .iter()
            .position(|r| r[0] == id.to_string())
            .expect("the customer is in the export");
        edit(&mut rows, &header, row, column, value);
        // The header is line 1; no exported value here spans lines.
        lines.push(row as u64 + 2);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    let edited = String::from_utf8(w.into_inner().unwrap()).unwrap();
    work.write(to, &format!("\u{feff}{edited}"));
    lines
}

/// Replaces the cell of `column` in data row `row` (0-based) of a parsed CSV.
fn edit(rows: &mut [Vec<String>], header: &[String], row: usize, column: &str, value: &str) {
    let col = header.iter().position(|h| h == column).expect("column");
    rows[row][col] = value.to_string();
}

/// SPEC's merge rule: a cell equal to the customer's current value (as is or trimmed) changes
/// nothing and is not checked. Tenant data that ccbulk's own checks refuse (a country name, an
/// e-mail at microsoft.com, a placeholder first name, a phone over 30 characters, a city with a
/// trailing space) leaves an unedited export all `unchanged` in plan and update; edited to
/// another refused value the row is `invalid`, naming file, line, column and reason, after its
/// GET and with no PATCH; edited to a good value it is accepted.
#[tokio::test(flavor = "multi_thread")]
async fn an_exported_value_the_checks_refuse_is_checked_only_once_edited() {
    let sb = tenant(6).await;
    let listed = sb.listed();
    // One refused value a customer, so a merged PATCH carries no other refused value back.
    let old: [(&str, &str); 5] = [
        ("country", "Portugal"),
        ("email", "ana@microsoft.com"),
        ("firstName", "test"),
        ("phone", "+351 912 345 678 / +351 213 456 789"),
        ("city", "Lisboa "),
    ];
    for (id, (field, value)) in listed.iter().zip(old) {
        let mut c = sb.customer(*id);
        c.insert(field.into(), Value::String(value.into()));
        sb.put_customer(*id, c);
    }
    let work = Work::new();
    export_ok(&work, &sb).await;

    // Unedited: nothing would change, nothing is refused, nothing is sent.
    let out = run(work.unpaced(&sb, &["plan", "customers.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let planned = work.rows("customers.plan.csv");
    assert_each_row_once(&planned, 6);
    assert!(
        planned.iter().all(|r| r["ccbulk_outcome"] == "unchanged"),
        "{planned:?}"
    );
    let out = run(work.unpaced(&sb, &["update", "customers.csv"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let results = work.rows("customers.results.csv");
    assert_each_row_once(&results, 6);
    assert!(
        results.iter().all(|r| r["ccbulk_outcome"] == "unchanged"),
        "{results:?}"
    );
    assert!(patches(&sb).is_empty(), "an unedited export sends nothing");

    // Edited: two refused values replaced by other refused ones, two by good ones.
    let edits = [
        (listed[0], "country", "Spain"),
        (listed[1], "email", "ana@fabrikam.example"),
        (listed[2], "firstName", "admin"),
        (listed[3], "phone", "+351 912 345 678"),
    ];
    let lines = edit_export(&work, "customers.csv", "edited.csv", &edits);
    let country = format!(
        "edited.csv line {}, column \"country\": \"Spain\" is not an ISO 3166-1 alpha-2 code (try \"ES\")",
        lines[0]
    );
    let first_name = format!(
        "edited.csv line {}, column \"firstName\": \"admin\"",
        lines[2]
    );
    let by_id = |rows: &[HashMap<String, String>], id: Uuid| {
        rows.iter()
            .find(|r| r["customerId"] == id.to_string())
            .expect("every customer's row")
            .clone()
    };

    let out = run(work.unpaced(&sb, &["plan", "edited.csv"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let planned = work.rows("edited.plan.csv");
    assert_each_row_once(&planned, 6);
    let outcome = |rows: &[HashMap<String, String>], id| by_id(rows, id)["ccbulk_outcome"].clone();
    assert_eq!(outcome(&planned, listed[0]), "invalid");
    assert_eq!(outcome(&planned, listed[1]), "would-change");
    assert_eq!(outcome(&planned, listed[2]), "invalid");
    assert_eq!(outcome(&planned, listed[3]), "would-change");
    assert_eq!(outcome(&planned, listed[4]), "unchanged");
    assert_eq!(outcome(&planned, listed[5]), "unchanged");

    let mut update = work.unpaced(&sb, &["update", "edited.csv"]);
    update.args(["--summary-json", "edited.json"]);
    let out = run(update).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let results = work.rows("edited.results.csv");
    assert_each_row_once(&results, 6);
    for (id, says) in [(listed[0], &country), (listed[2], &first_name)] {
        let r = by_id(&results, id);
        assert_eq!(r["ccbulk_outcome"], "invalid", "{r:?}");
        assert!(r["ccbulk_error"].starts_with(says.as_str()), "{r:?}");
        // Refused after its GET: the last status that came back is the GET's.
        assert_eq!(r["ccbulk_http_status"], "200", "{r:?}");
        assert_eq!(r["ccbulk_changed"], "", "{r:?}");
    }
    assert!(
        by_id(&results, listed[2])["ccbulk_error"].contains("placeholder"),
        "{results:?}"
    );
    assert_eq!(by_id(&results, listed[1])["ccbulk_outcome"], "accepted");
    assert_eq!(by_id(&results, listed[3])["ccbulk_outcome"], "accepted");
    let summary = work.json("edited.json");
    assert_eq!(
        summary["outcomes"],
        json!({"accepted": 2, "unchanged": 2, "invalid": 2})
    );

    // A dry run has no GET to tell: a refused cell is invalid at once, with no status.
    let mut dry = work.against(&sb);
    dry.args(["update", "edited.csv", "--dry-run"]);
    let out = run(dry).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let checked = work.rows("edited.dry-run.csv");
    for id in [listed[0], listed[2]] {
        let r = by_id(&checked, id);
        assert_eq!(r["ccbulk_outcome"], "invalid", "{r:?}");
        assert_eq!(r["ccbulk_http_status"], "", "{r:?}");
    }
    assert!(by_id(&checked, listed[0])["ccbulk_error"].starts_with(country.as_str()));

    let patched: Vec<String> = patches(&sb).into_iter().map(|r| r.path).collect();
    assert_eq!(patched.len(), 2, "only the rows edited to good values");
    for id in [listed[0], listed[2]] {
        assert!(
            !patched.iter().any(|p| p.contains(&id.to_string())),
            "{patched:?}"
        );
    }
    let now = |id, field| current_text(&sb.customer(id), field);
    assert_eq!(now(listed[0], Field::Country).as_deref(), Some("Portugal"));
    assert_eq!(
        now(listed[1], Field::Email).as_deref(),
        Some("ana@fabrikam.example")
    );
    assert_eq!(now(listed[2], Field::FirstName).as_deref(), Some("test"));
    assert_eq!(
        now(listed[3], Field::Phone).as_deref(),
        Some("+351 912 345 678")
    );
    assert_eq!(now(listed[4], Field::City).as_deref(), Some("Lisboa "));
}
