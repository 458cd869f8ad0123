//! Spreadsheets as users really export them (BOMs, semicolons, CRLF, legacy encodings, Excel's
//! empty columns and rows, bad cells), run through the real binary: what the sandbox receives,
//! what the results file says about each row, and which files stop the run before anything is
//! sent.

use std::collections::HashMap;

use ccbulk::sandbox::{RecordedRequest, SandboxConfig};
use serde_json::Value;

use crate::common::*;

/// The customer object of the one PATCH sent for customer `n`.
fn patched(patches: &[RecordedRequest], n: u32) -> serde_json::Map<String, Value> {
    let suffix = format!("/v1/Customers/{}/account-info", guid(n));
    let mine: Vec<&RecordedRequest> = patches
        .iter()
        .filter(|p| p.path.ends_with(&suffix))
        .collect();
    assert_eq!(mine.len(), 1, "one PATCH for customer {n}");
    let body: Value = serde_json::from_str(&mine[0].body).expect("PATCH body is JSON");
    body["customer"]
        .as_object()
        .expect("customer object")
        .clone()
}

/// The results row with `ccbulk_row` equal to `n`.
fn row(rows: &[HashMap<String, String>], n: u64) -> &HashMap<String, String> {
    rows.iter()
        .find(|r| r["ccbulk_row"] == n.to_string())
        .unwrap_or_else(|| panic!("row {n} in the results"))
}

#[tokio::test(flavor = "multi_thread")]
async fn semicolons_bom_crlf_and_spaced_headers_map_to_fields() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut text = String::from("\u{feff}Customer ID;Company Name;E-mail;Zip Code\r\n");
    // The last header is not a field: mapped with --map, as a user would.
    for n in 1..=3 {
        text.push_str(&format!(
            "{};Fabrikam {n} Lda;ana{n}@fabrikam.pt;0{n}00-123\r\n",
            guid(n)
        ));
    }
    work.write_bytes("excel.csv", text.as_bytes());
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "excel.csv",
        "--rate",
        "unlimited",
        "--map",
        "Zip Code=zip",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let rows = work.rows_sep("excel.results.csv", b';');
    assert_each_row_once(&rows, 3);
    assert!(
        rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "{rows:?}"
    );
    assert_eq!(
        rows[0]["Customer ID"].len(),
        36,
        "headers echoed as written, BOM gone"
    );
    let patches = patches(&sb);
    assert_eq!(patches.len(), 3);
    for n in 1..=3 {
        let c = patched(&patches, n);
        assert_eq!(c["companyName"], format!("Fabrikam {n} Lda"));
        assert_eq!(c["email"], format!("ana{n}@fabrikam.pt"));
        assert_eq!(c["zip"], format!("0{n}00-123"), "leading zero kept");
    }
}

/// The must-show file: each bad row invalid with its reason and the right physical line (CRLF
/// line ends, a quoted cell spanning lines before them), while the good rows, one with `;` and a
/// newline inside a quoted cell, go out intact.
#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_invalid_with_reasons_and_good_rows_go_intact() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut line = |b: &[u8]| {
        bytes.extend_from_slice(b);
        bytes.extend_from_slice(b"\r\n");
    };
    line(b"Customer ID;Company Name;Country;E-mail;Zip;Address Line 1"); // line 1
    line(format!("{};Fabrikam Lda;PT;ana@fabrikam.pt;1000-001;Rua A", guid(1)).as_bytes()); // 2
    // Excel writes Alt+Enter inside a cell as a bare LF: lines 3 and 4 are one record.
    line(
        format!(
            "{};\"Contoso; Filial Norte\";PT;rui@contoso.pt;4000-002;\"Rua do Norte, 5\n2.º Esq.\"",
            guid(2)
        )
        .as_bytes(),
    );
    line(b"not-a-guid;Adatum Lda;PT;a@adatum.pt;1000-003;Rua C"); // 5
    line(format!("{};Adatum Lda;PT", guid(4)).as_bytes()); // 6: short row
    line(format!("{};Adatum Lda;Portugal;a@adatum.pt;1000-005;Rua E", guid(5)).as_bytes()); // 7
    line(format!("{};Adatum Lda;PT;not an address;1000-006;Rua F", guid(6)).as_bytes()); // 8
    line(
        format!(
            "{};Adatum Lda;PT;a@adatum.pt;{};Rua G",
            guid(7),
            "9".repeat(31)
        )
        .as_bytes(),
    ); // 9
    let mut latin = format!("{};Jo", guid(8)).into_bytes(); // 10: Windows-1252 "ã" in UTF-8 file
    latin.extend_from_slice(&[0xE3]);
    latin.extend_from_slice(b"o Lda;PT;j@joao.pt;1000-008;Rua H");
    line(&latin);
    line(b";;;;;"); // 11: an empty row Excel left behind: skipped
    line(format!("{};Northwind Lda;ES;n@northwind.es;08001;Calle I", guid(9)).as_bytes()); // 12
    work.write_bytes("messy.csv", &bytes);

    // An explicit UTF-8 says the file is UTF-8: its one legacy byte spoils only that row
    // (without --encoding the whole file would be refused, tests/hostile.rs).
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "messy.csv",
        "--rate",
        "unlimited",
        "--encoding",
        "utf-8",
    ]);
    let out = run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "some rows invalid: {}",
        show(&out)
    );

    let rows = work.rows_sep("messy.results.csv", b';');
    assert_each_row_once(&rows, 9);
    let expect_invalid: [(u64, u32, &[&str]); 6] = [
        (3, 5, &["\"Customer ID\"", "\"not-a-guid\" is not a GUID"]),
        (4, 6, &["3 cells", "\"E-mail\"", "\"Zip\""]),
        (
            5,
            7,
            &["\"Country\"", "\"Portugal\"", "ISO 3166-1", "try \"PT\""],
        ),
        (
            6,
            8,
            &["\"E-mail\"", "\"not an address\"", "not an e-mail address"],
        ),
        (7, 9, &["\"Zip\"", "31 characters", "limit of 30"]),
        (
            8,
            10,
            &[
                "\"Company Name\"",
                "not valid UTF-8",
                "--encoding windows-1252",
            ],
        ),
    ];
    for (n, line, parts) in expect_invalid {
        let r = row(&rows, n);
        assert_eq!(r["ccbulk_outcome"], "invalid", "row {n}: {r:?}");
        let err = &r["ccbulk_error"];
        assert!(
            err.contains(&format!("messy.csv line {line}")),
            "row {n}: {err}"
        );
        for p in parts {
            assert!(err.contains(p), "row {n} error lacks {p}: {err}");
        }
        assert!(!err.contains('\n'), "one line: {err}");
    }
    for n in [1, 2, 9] {
        assert_eq!(row(&rows, n)["ccbulk_outcome"], "accepted", "row {n}");
    }

    let patches = patches(&sb);
    assert_eq!(patches.len(), 3, "only the three good rows are sent");
    let c = patched(&patches, 2);
    assert_eq!(c["companyName"], "Contoso; Filial Norte");
    assert_eq!(c["addressLine1"], "Rua do Norte, 5\n2.º Esq.");
    assert_eq!(patched(&patches, 9)["zip"], "08001");
    assert_eq!(
        row(&rows, 2)["Address Line 1"],
        "Rua do Norte, 5\n2.º Esq.",
        "the results echo the cell as it came"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn misspelt_header_is_refused_before_anything_is_sent() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write(
        "typo.csv",
        &format!(
            "Customer ID,Compnay Name,Emial,City\n{},Fabrikam Lda,a@fabrikam.pt,Lisboa\n",
            guid(1)
        ),
    );
    let mut cmd = work.against(&sb);
    cmd.args(["update", "typo.csv"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"Compnay Name\"") && err.contains("did you mean \"companyName\""),
        "{err}"
    );
    assert!(
        err.contains("\"Emial\"") && err.contains("did you mean \"email\""),
        "every unknown header: {err}"
    );
    assert!(
        err.contains("valid columns: customerId"),
        "the valid list: {err}"
    );
    assert!(err.contains("--map"), "how to fix it: {err}");
    assert!(sb.requests().is_empty(), "nothing sent");
    assert!(
        !work.path("typo.results.csv").exists(),
        "no results file for a run that never began"
    );
    assert!(
        err.contains("add: --map 'Compnay Name=companyName' --map 'Emial=email'"),
        "a ready-made fix: {err}"
    );

    // Taking the suggested fix works.
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "typo.csv",
        "--map",
        "Compnay Name=companyName",
        "--map",
        "Emial=email",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let c = patched(&patches(&sb), 1);
    assert_eq!(c["companyName"], "Fabrikam Lda");
    assert_eq!(c["email"], "a@fabrikam.pt");
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_1252_file_arrives_as_utf8() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    // Windows-1252 bytes: é E9, ã E3, € 80, º BA, ú FA (€ is where Latin-1 and 1252 differ).
    let mut bytes = b"customerId,companyName,addressLine1,city\r\n".to_vec();
    bytes.extend_from_slice(format!("{},Caf", guid(1)).as_bytes());
    bytes.extend_from_slice(&[0xE9]);
    bytes.extend_from_slice(b" S");
    bytes.extend_from_slice(&[0xE3]);
    bytes.extend_from_slice(b"o Jo");
    bytes.extend_from_slice(&[0xE3]);
    bytes.extend_from_slice(b"o ");
    bytes.extend_from_slice(&[0x80]);
    bytes.extend_from_slice(b",Rua 1");
    bytes.extend_from_slice(&[0xBA]);
    bytes.extend_from_slice(b" Dezembro,Set");
    bytes.extend_from_slice(&[0xFA]);
    bytes.extend_from_slice(b"bal\r\n");
    work.write_bytes("legacy.csv", &bytes);

    // Without --encoding the file is refused with a hint before anything is sent, not sent
    // garbled.
    let mut cmd = work.against(&sb);
    cmd.args(["update", "legacy.csv", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2 holds the byte 0xE9") && err.contains("--encoding windows-1252"),
        "{err}"
    );
    assert!(!work.path("legacy.dry-run.csv").exists());

    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "legacy.csv",
        "--encoding",
        "windows-1252",
        "--overwrite",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let c = patched(&patches(&sb), 1);
    assert_eq!(c["companyName"], "Café São João €");
    assert_eq!(c["addressLine1"], "Rua 1º Dezembro");
    assert_eq!(c["city"], "Setúbal");
    let rows = work.rows("legacy.results.csv");
    assert_eq!(
        rows[0]["companyName"], "Café São João €",
        "results are UTF-8"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn utf16_with_bom_is_read_without_flags() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let text = format!(
        "Customer ID\tCompany Name\tCity\r\n{}\tÅngström AB\tGöteborg\r\n",
        guid(1)
    );
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    work.write_bytes("unicode.txt", &bytes);
    let mut cmd = work.against(&sb);
    cmd.args(["update", "unicode.txt"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let c = patched(&patches(&sb), 1);
    assert_eq!(c["companyName"], "Ångström AB");
    assert_eq!(c["city"], "Göteborg");
}

#[tokio::test(flavor = "multi_thread")]
async fn map_file_and_excel_realities() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write(
        "map.txt",
        "# ERP export columns\nCliente = customerId\nEmpresa=companyName\n\nTelefone=phone\nNIF=taxId\n",
    );
    // Pipe-separated, trailing empty columns (header and rows), a wholly empty row, spaces
    // around cells, and values a spreadsheet would re-type.
    let text = format!(
        "Cliente|Empresa|Telefone|NIF|Postal Code||\n\
         {}|  Fabrikam Lda  |+351 912 000 001|000123456789012345678|0001||\n\
         ||||||\n\
         {}|Contoso Lda|00351 21 000 0002|#NULL|\n",
        guid(1),
        guid(2)
    );
    work.write("erp.csv", &text);
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "erp.csv",
        "--map-file",
        "map.txt",
        "--map",
        "Postal Code=zip",
        "--rate",
        "unlimited",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows_sep("erp.results.csv", b'|');
    assert_each_row_once(&rows, 2);
    let patches = patches(&sb);
    let c1 = patched(&patches, 1);
    assert_eq!(c1["companyName"], "Fabrikam Lda", "trimmed");
    assert_eq!(c1["phone"], "+351 912 000 001");
    assert_eq!(
        c1["taxId"], "000123456789012345678",
        "long digit strings stay as written"
    );
    assert_eq!(c1["zip"], "0001");
    let c2 = patched(&patches, 2);
    assert_eq!(c2["phone"], "00351 21 000 0002");
    assert_eq!(c2["taxId"], Value::Null, "the null marker clears");
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_counts_customers_on_several_rows() {
    let work = Work::new();
    let mut text = String::from("customerId,country\n");
    // Customer 1 on three rows, customer 2 on two, customers 3..=5 once; an invalid row for
    // customer 3 does not make it a repeat (it is never applied), nor does a row with no GUID.
    for n in [1, 2, 1, 3, 4, 1, 5, 2] {
        text.push_str(&format!("{},PT\n", guid(n)));
    }
    text.push_str(&format!("{},Portugal\n", guid(3)));
    text.push_str("not-a-guid,PT\n");
    work.write("dups.csv", &text);
    let mut cmd = work.ccbulk();
    cmd.args([
        "update",
        "dups.csv",
        "--dry-run",
        "--summary-json",
        "s.json",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let summary = work.json("s.json");
    assert_eq!(summary["customers_on_several_rows"], 2, "{summary}");
    assert_eq!(summary["customers_on_several_rows_exact"], true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 customers appear on more than one row"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn line_numbers_hold_with_lone_cr_and_blank_lines() {
    let work = Work::new();
    // Old Mac Excel: CR only. Then LF with blank lines and a quoted cell over three lines.
    let cr = format!("id,city\rbad-1,A\r{},B\rbad-2,C\r", guid(1));
    work.write("mac.csv", &cr);
    let lf = format!("id,city\n\nbad-1,\"a\nb\nc\"\n\n\n{},B\nbad-2,C", guid(1));
    work.write("lf.csv", &lf);
    for (name, lines) in [("mac", [2, 4]), ("lf", [3, 9])] {
        let mut cmd = work.ccbulk();
        cmd.args(["update", &format!("{name}.csv"), "--dry-run"]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let rows = work.rows(&format!("{name}.dry-run.csv"));
        assert_each_row_once(&rows, 3);
        for (n, line) in [(1, lines[0]), (3, lines[1])] {
            let err = &row(&rows, n)["ccbulk_error"];
            assert!(
                err.contains(&format!("{name}.csv line {line},")),
                "{name} row {n}: {err}"
            );
        }
        assert_eq!(row(&rows, 2)["ccbulk_outcome"], "valid");
    }
}

/// Files that must stop before anything is sent (exit 2, with the message a user needs) or go
/// through with each bad row `invalid`. Every case runs against a sandbox that must see nothing
/// for the exit-2 cases.
#[tokio::test(flavor = "multi_thread")]
async fn bad_file_matrix() {
    let sb = sandbox(SandboxConfig::default()).await;
    let id = guid(1).to_string();
    struct Case {
        name: &'static str,
        bytes: Vec<u8>,
        args: Vec<String>,
        code: i32,
        /// In stderr (exit 2) or in the first results row's ccbulk_error (exit 1).
        says: Vec<&'static str>,
    }
    let case = |name, bytes: Vec<u8>, args: &[&str], code, says: &[&'static str]| Case {
        name,
        bytes,
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        says: says.to_vec(),
    };
    let cases = vec![
        case("empty", vec![], &[], 2, &["is empty"]),
        case("bom-only", b"\xEF\xBB\xBF".to_vec(), &[], 2, &["is empty"]),
        case("blank-lines", b"\n\r\n\n".to_vec(), &[], 2, &["is empty"]),
        case(
            "no-id-column",
            b"companyName,city\nA Lda,B\n".to_vec(),
            &[],
            2,
            &["no customerId"],
        ),
        case(
            "same-field-twice",
            b"id,customerId\nx,y\n".to_vec(),
            &[],
            2,
            &["\"id\" and \"customerId\" both mean customerId"],
        ),
        case(
            "map-to-unknown-field",
            b"id,Empresa\n".to_vec(),
            &["--map", "Empresa=company"],
            2,
            &["--map 'Empresa=company'", "did you mean \"companyName\""],
        ),
        case(
            "map-from-missing-column",
            b"id,city\n".to_vec(),
            &["--map", "Empresa=companyName"],
            2,
            &["has no column \"Empresa\""],
        ),
        case(
            "binary-garbage",
            vec![0x00, 0x9F, 0x92, 0x96, 0xFF, 0x00, 0x0A, 0x01, 0x02],
            &[],
            2,
            &["NUL bytes"],
        ),
        case(
            "utf16-without-bom",
            "id,city\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            &[],
            2,
            &["--encoding utf-16le"],
        ),
        case(
            "invalid-utf8-header",
            b"id,Cidade\xE3o\n".to_vec(),
            &[],
            2,
            &[
                "is not UTF-8: line 1 holds the byte 0xE3",
                "--encoding windows-1252",
            ],
        ),
        case(
            "wrong-delimiter-forced",
            format!("id;city\n{id};Porto\n").into_bytes(),
            &["--delimiter", ","],
            2,
            &[
                "with --delimiter ',' the header is one single column",
                "looks delimited by ';'",
            ],
        ),
        case("header-only", b"id,city\n".to_vec(), &[], 0, &[]),
        // One tab and one comma in the header: sniffing picks the comma, --delimiter decides.
        case(
            "sniffed-wrong",
            format!("id\tcompany,name\n{id}\tSmith, Jones & Co\n").into_bytes(),
            &[],
            2,
            &["\"id\\tcompany\""],
        ),
        case(
            "forced-tab-delimiter",
            format!("id\tcompany,name\n{id}\tSmith, Jones & Co\n").into_bytes(),
            &["--delimiter", "tab"],
            0,
            &[],
        ),
        case(
            "extra-cells",
            format!("id,city\n{id},Porto,surplus\n").into_bytes(),
            &[],
            1,
            &["line 2", "a value in cell 3", "only 2 columns"],
        ),
        case(
            "bad-boolean",
            format!("id,retryFailedProviderCustomersFromCompanyInfo\n{id},maybe\n").into_bytes(),
            &[],
            1,
            &["\"maybe\" is not true/false"],
        ),
        case(
            "bad-correlation",
            format!("id,correlationId\n{id},12345\n").into_bytes(),
            &[],
            1,
            &["column \"correlationId\"", "\"12345\" is not a GUID"],
        ),
        case(
            "null-required",
            format!("id,companyName\n{id},#NULL\n").into_bytes(),
            &[],
            1,
            &["companyName is required by the API and cannot be cleared"],
        ),
        case(
            "huge-cell",
            format!("id,companyName\n{id},{}\n", "x".repeat(300_000)).into_bytes(),
            &[],
            1,
            &["300000 characters", "…\""],
        ),
    ];
    let work = Work::new();
    for c in cases {
        let file = format!("{}.csv", c.name);
        work.write_bytes(&file, &c.bytes);
        let before = sb.requests().len();
        let mut cmd = work.against(&sb);
        cmd.args(["update", &file, "--dry-run"]).args(&c.args);
        let out = run(cmd).await;
        assert_eq!(
            out.status.code(),
            Some(c.code),
            "{}: {}",
            c.name,
            show(&out)
        );
        assert_eq!(
            sb.requests().len(),
            before,
            "{}: a dry run sends nothing",
            c.name
        );
        let results = work.path(&format!("{}.dry-run.csv", c.name));
        if c.code == 2 {
            let err = String::from_utf8_lossy(&out.stderr);
            for s in &c.says {
                assert!(err.contains(s), "{}: stderr lacks {s}: {err}", c.name);
            }
            assert!(!results.exists(), "{}: no results file", c.name);
        } else {
            let rows = work.rows(&format!("{}.dry-run.csv", c.name));
            for s in &c.says {
                assert!(rows[0]["ccbulk_error"].contains(s), "{}: {rows:?}", c.name);
            }
        }
    }
    // The same setup errors stop a real run too, before any call.
    let mut cmd = work.against(&sb);
    cmd.args(["update", "no-id-column.csv", "--overwrite"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(sb.requests().is_empty(), "nothing sent");
}
