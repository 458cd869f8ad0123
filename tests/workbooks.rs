//! Workbooks as input: an `.xlsx` (written with rust_xlsxwriter) and an `.ods` (zip and XML
//! written by hand) made in the test, with the cells a CSV export mangles: a zip with a leading
//! zero, a `+` phone, a long number, a date and a formula. They must reach the API exactly as the
//! spreadsheet shows them; messages give sheet rows; the results are CSV with a BOM.

use std::io::Write;

use ccbulk::customer::{Field, current_text};
use ccbulk::sandbox::{Sandbox, SandboxConfig};
use rust_xlsxwriter::{Formula, Workbook};
use uuid::Uuid;

use crate::common::*;

const HEADER: [&str; 7] = [
    "customerId",
    "zip",
    "phone",
    "taxId",
    "internalIdentifier",
    "city",
    "email",
];

/// What each customer must hold afterwards: (zip, phone, taxId, internalIdentifier, city).
fn expected() -> [(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
); 2] {
    [
        (
            "01234",
            "+351 912 000 001",
            "500000000123",
            "2024-03-01",
            "Braga",
        ),
        ("0150-123", "+44 20 7946 0000", "123", "2023-12-31", "Porto"),
    ]
}

fn write_xlsx(path: &std::path::Path, ids: &[Uuid]) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Customers").unwrap();
    // The table starts on sheet row 2 (row 1 left empty), in column A.
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(1, c as u16, *h).unwrap();
    }
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (i, (zip, phone, _, _, city)) in expected().iter().enumerate() {
        let r = 2 + i as u32;
        sheet.write_string(r, 0, ids[i].to_string()).unwrap();
        sheet.write_string(r, 1, *zip).unwrap();
        sheet.write_string(r, 2, *phone).unwrap();
        let tax = if i == 0 { 500000000123.0 } else { 123.0 };
        sheet.write_number(r, 3, tax).unwrap();
        let when = if i == 0 {
            rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 3, 1).unwrap()
        } else {
            rust_xlsxwriter::ExcelDateTime::from_ymd(2023, 12, 31).unwrap()
        };
        sheet
            .write_datetime_with_format(r, 4, &when, &date)
            .unwrap();
        let (a, b) = city.split_at(3);
        let formula = Formula::new(format!("=CONCATENATE(\"{a}\",\"{b}\")")).set_result(*city);
        sheet.write_formula(r, 5, formula).unwrap();
    }
    // A third row with an e-mail that is not an address: invalid, on sheet row 5.
    sheet.write_string(4, 0, ids[2].to_string()).unwrap();
    sheet.write_string(4, 6, "not-an-address").unwrap();
    // A second sheet, chosen with --sheet in the test.
    let other = book.add_worksheet();
    other.set_name("Other").unwrap();
    other.write_string(0, 0, "customerId").unwrap();
    other.write_string(0, 1, "city").unwrap();
    other.write_string(1, 0, ids[3].to_string()).unwrap();
    other.write_string(1, 1, "Faro").unwrap();
    book.save(path).unwrap();
}

/// An OpenDocument spreadsheet, zip and XML written by hand.
fn write_ods(path: &std::path::Path, ids: &[Uuid]) {
    let string = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>"#
        )
    };
    let mut rows = String::from("<table:table-row>");
    for h in HEADER {
        rows.push_str(&string(h));
    }
    rows.push_str("</table:table-row>");
    for (i, (zip, phone, tax, date, city)) in expected().iter().enumerate() {
        rows.push_str("<table:table-row>");
        rows.push_str(&string(&ids[i].to_string()));
        rows.push_str(&string(zip));
        rows.push_str(&string(phone));
        rows.push_str(&format!(
            r#"<table:table-cell office:value-type="float" office:value="{tax}"><text:p>{tax}</text:p></table:table-cell>"#
        ));
        rows.push_str(&format!(
            r#"<table:table-cell office:value-type="date" office:date-value="{date}"><text:p>{date}</text:p></table:table-cell>"#
        ));
        let (a, b) = city.split_at(3);
        rows.push_str(&format!(
            r#"<table:table-cell table:formula="of:=CONCATENATE(&quot;{a}&quot;;&quot;{b}&quot;)" office:value-type="string" office:string-value="{city}"><text:p>{city}</text:p></table:table-cell>"#
        ));
        rows.push_str("</table:table-row>");
    }
    zip_ods(path, &rows);
}

/// An OpenDocument spreadsheet of one sheet, "Customers", of `rows` (`<table:table-row>`s).
fn zip_ods(path: &std::path::Path, rows: &str) {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Customers">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default();
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", deflated).unwrap();
    zip.write_all(manifest.as_bytes()).unwrap();
    zip.start_file("content.xml", deflated).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap();
}

fn assert_exact(sb: &ccbulk::sandbox::Sandbox, ids: &[Uuid]) {
    for (i, (zip, phone, tax, date, city)) in expected().iter().enumerate() {
        let c = sb.customer(ids[i]);
        let got = |f| current_text(&c, f).unwrap_or_default();
        assert_eq!(got(Field::Zip), *zip, "row {i} zip");
        assert_eq!(got(Field::Phone), *phone, "row {i} phone");
        assert_eq!(got(Field::TaxId), *tax, "row {i} taxId");
        assert_eq!(got(Field::InternalIdentifier), *date, "row {i} date");
        assert_eq!(got(Field::City), *city, "row {i} formula");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_xlsx_arrives_exactly_as_the_sheet_shows_it() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let ids: Vec<Uuid> = (1..=4).map(|n| guid(9000 + n)).collect();
    write_xlsx(&work.path("customers.xlsx"), &ids);
    let out = run(work.unpaced(&sb, &["update", "customers.xlsx"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_exact(&sb, &ids);

    let text = work.read("customers.results.csv");
    assert!(
        text.starts_with('\u{feff}'),
        "results of a workbook carry a BOM"
    );
    let rows = work.rows("customers.results.csv");
    assert_eq!(rows.len(), 3);
    let bad = rows.iter().find(|r| r["ccbulk_row"] == "3").unwrap();
    assert_eq!(bad["ccbulk_outcome"], "invalid");
    assert!(
        bad["ccbulk_error"].starts_with("customers.xlsx line 5, column \"email\""),
        "messages give the sheet's row: {}",
        bad["ccbulk_error"]
    );
    let good = rows.iter().find(|r| r["ccbulk_row"] == "1").unwrap();
    assert_eq!(good["zip"], "01234");
    assert_eq!(good["taxId"], "500000000123");

    // --sheet picks another sheet.
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "customers.xlsx",
        "--sheet",
        "Other",
        "--rate",
        "unlimited",
        "--results",
        "other.csv",
        "--no-undo",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(ids[3]), Field::City).as_deref(),
        Some("Faro")
    );
    let mut cmd = work.against(&sb);
    cmd.args(["plan", "customers.xlsx", "--sheet", "Nope", "--overwrite"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("has no sheet \"Nope\"; its sheets: \"Customers\", \"Other\""),
        "{}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ods_arrives_exactly_as_the_sheet_shows_it() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let ids: Vec<Uuid> = (1..=2).map(|n| guid(9100 + n)).collect();
    write_ods(&work.path("customers.ods"), &ids);
    let out = run(work.unpaced(&sb, &["update", "customers.ods"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_exact(&sb, &ids);
    assert!(work.read("customers.results.csv").starts_with('\u{feff}'));
}

/// Runs `update FILE` (in `work`) and checks it stopped before anything was sent: exit 2, no
/// customer call, no results file. Its stderr, for the message.
async fn stopped_before_sending(sb: &Sandbox, work: &Work, file: &str) -> String {
    let out = run(work.unpaced(sb, &["update", file])).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(customer_calls(sb).is_empty(), "nothing is sent");
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    assert!(!work.path(&format!("{stem}.results.csv")).exists());
    stderr_of(&out)
}

/// An .xlsx is read as a stream, but an error cell far down the sheet (row 3,001 here) still
/// stops the run before anything is sent, naming the sheet, row and column: the sheet is
/// scanned through before its first row goes.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_cell_far_down_a_streamed_sheet_stops_before_anything_is_sent() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "customerId").unwrap();
    sheet.write_string(0, 1, "city").unwrap();
    for r in 1..=3000u32 {
        sheet.write_string(r, 0, guid(r).to_string()).unwrap();
        sheet.write_string(r, 1, "Porto").unwrap();
    }
    sheet
        .write_formula(3000, 1, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    book.save(work.path("customers.xlsx")).unwrap();
    let err = stopped_before_sending(&sb, &work, "customers.xlsx").await;
    assert!(
        err.contains("row 3001, column B: the cell holds the error #DIV/0!"),
        "{err}"
    );
}

/// The formats read whole are refused above their size, with the way out named.
#[tokio::test(flavor = "multi_thread")]
async fn a_big_ods_is_refused_with_the_way_out() {
    let work = Work::new();
    // Stored, not deflated: the file's size is what is checked, before it is read.
    let file = std::fs::File::create(work.path("big.ods")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("content.xml", stored).unwrap();
    zip.write_all(&vec![
        b' ';
        (ccbulk::input::workbook::MAX_WHOLE_FILE_BYTES + 1)
            as usize
    ])
    .unwrap();
    zip.finish().unwrap();
    let mut cmd = work.ccbulk();
    cmd.args(["update", "big.ods", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("big.ods: the workbook is 16 MiB")
            && err.contains("save the sheet as .xlsx or as CSV"),
        "{err}"
    );
}

/// An .ods whose few bytes repeat a row of numbers 16,384 columns wide (3.3 million cells once
/// written out, past the 2,000,000 read whole) stops the run before any call, naming the sheet,
/// though its first rows are good customers.
#[tokio::test(flavor = "multi_thread")]
async fn an_ods_of_repeats_past_the_limit_stops_before_anything_is_sent() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let cell = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>"#
        )
    };
    let mut rows = format!(
        "<table:table-row>{}{}</table:table-row>",
        cell("customerId"),
        cell("city")
    );
    for n in 1..=2 {
        rows += &format!(
            "<table:table-row>{}{}</table:table-row>",
            cell(&guid(9200 + n).to_string()),
            cell("Faro")
        );
    }
    rows += r#"<table:table-row table:number-rows-repeated="200"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="16384"/></table:table-row>"#;
    zip_ods(&work.path("customers.ods"), &rows);
    let err = stopped_before_sending(&sb, &work, "customers.ods").await;
    assert!(
        err.contains("customers.ods: sheet \"Customers\" comes to 3325952 cells once its repeated rows and columns are written out"),
        "{err}"
    );
}

/// A BIFF record: its type, its length and its data.
fn biff(typ: u16, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap();
    [&typ.to_le_bytes()[..], &len.to_le_bytes(), data].concat()
}

/// An .xls of one sheet "Customers" whose DIMENSIONS record declares `rows` rows of 256
/// columns, holding the text rows `cells`.
fn hand_xls(path: &std::path::Path, rows: u32, cells: &[&[&str]]) {
    let bof = |dt: u16| biff(0x0809, &[&[0, 6][..], &dt.to_le_bytes(), &[0; 12]].concat());
    let dims = [
        &0u32.to_le_bytes()[..],
        &rows.to_le_bytes(),
        &[0, 0, 0, 1, 0, 0],
    ]
    .concat();
    let mut sheet = [bof(0x10), biff(0x0200, &dims)].concat();
    for (r, row) in cells.iter().enumerate() {
        for (c, text) in row.iter().enumerate() {
            let at = [(r as u16).to_le_bytes(), (c as u16).to_le_bytes(), [0, 0]].concat();
            let len = (text.len() as u16).to_le_bytes();
            let data = [&at[..], &len, &[0], text.as_bytes()].concat();
            sheet.extend(biff(0x0204, &data));
        }
    }
    sheet.extend(biff(0x000A, &[]));
    let name = b"Customers";
    // BOF (20 bytes), this BOUNDSHEET (4 + 8 + the name), EOF (4): where the sheet starts.
    let start = (20 + 12 + name.len() + 4) as u32;
    let head = [&start.to_le_bytes()[..], &[0, 0, name.len() as u8, 0]].concat();
    let globals = [
        bof(5),
        biff(0x0085, &[&head[..], name].concat()),
        biff(0x000A, &[]),
    ]
    .concat();
    assert_eq!(globals.len(), start as usize);
    // Version 3 (512-byte sectors), as Excel writes it.
    let file = std::fs::File::create(path).unwrap();
    let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, file).unwrap();
    let mut stream = file.create_stream("/Workbook").unwrap();
    stream.write_all(&[globals, sheet].concat()).unwrap();
    drop(stream);
    file.flush().unwrap();
}

/// An .xls of good customers whose DIMENSIONS record declares a million rows of 256 columns
/// (a 20 KB file; calamine would reserve room for them all as it opens it, and a larger claim
/// aborts the process) stops the run before any call, naming the sheet; within the limit, the
/// same sheet is read and sent.
#[tokio::test(flavor = "multi_thread")]
async fn an_xls_declaring_a_huge_sheet_stops_before_anything_is_sent() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let (a, b) = (guid(9301).to_string(), guid(9302).to_string());
    let cells: [&[&str]; 3] = [&["customerId", "city"], &[&a, "Faro"], &[&b, "Braga"]];
    hand_xls(&work.path("customers.xls"), 1_048_576, &cells);
    let err = stopped_before_sending(&sb, &work, "customers.xls").await;
    assert!(
        err.contains("customers.xls: sheet \"Customers\": its DIMENSIONS record declares the cells A1 to IV1048576, 1048576 rows of 256 columns"),
        "{err}"
    );

    hand_xls(&work.path("customers.xls"), 3, &cells);
    let out = run(work.unpaced(&sb, &["update", "customers.xls"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stderr_of(&out).contains("accepted 2"), "{}", show(&out));
    assert!(work.path("customers.results.csv").exists());
}

/// An .xlsx with a title row above the header: refused saying the header must be the first row
/// and which --header-row to give; with it, plan reads the table (messages keep sheet rows) and
/// its printed apply command carries the flag and works as printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_title_row_above_the_header_is_named_and_skipped_with_header_row() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet
        .write_string(0, 0, "Customer update list, March")
        .unwrap();
    sheet.write_string(2, 0, "customerId").unwrap();
    sheet.write_string(2, 1, "city").unwrap();
    sheet.write_string(2, 2, "email").unwrap();
    sheet.write_string(3, 0, cid(1).to_string()).unwrap();
    sheet.write_string(3, 1, "Braga").unwrap();
    sheet.write_string(4, 0, cid(2).to_string()).unwrap();
    sheet.write_string(4, 2, "not-an-address").unwrap();
    book.save(work.path("c.xlsx")).unwrap();

    let out = run(work.unpaced(&sb, &["plan", "c.xlsx"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("c.xlsx: the column names must be the first row, but row 1 (\"Customer update list, March\") looks like a title and the names seem to be on row 3: add --header-row 3"),
        "{err}"
    );
    assert!(!err.contains("--map"), "{err}");

    let out = run(work.unpaced(&sb, &["plan", "c.xlsx", "--header-row", "3"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("c.plan.csv");
    assert_eq!(rows.len(), 2);
    let bad = rows.iter().find(|r| r["ccbulk_row"] == "2").unwrap();
    assert!(
        bad["ccbulk_error"].starts_with("c.xlsx line 5, column \"email\""),
        "sheet rows still: {}",
        bad["ccbulk_error"]
    );
    let stderr = stderr_of(&out);
    let apply = after(&stderr, "to apply this plan:");
    assert!(apply.contains("--header-row 3"), "{apply}");
    let out = run(work.printed_with_token(apply)).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        current_text(&sb.customer(cid(1)), Field::City).as_deref(),
        Some("Braga")
    );
}

/// An .xlsx whose shared-strings table holds a different text on every row (what made calamine
/// hold hundreds of MB): each row arrives with its own texts, the repeated ones too.
#[tokio::test(flavor = "multi_thread")]
async fn an_xlsx_of_many_distinct_texts_arrives_row_by_row() {
    let work = Work::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "customerId").unwrap();
    sheet.write_string(0, 1, "companyName").unwrap();
    sheet.write_string(0, 2, "city").unwrap();
    let rows = 20_000u32;
    for r in 1..=rows {
        sheet.write_string(r, 0, guid(r).to_string()).unwrap();
        sheet
            .write_string(r, 1, format!("Empresa {r} & Filhos"))
            .unwrap();
        sheet
            .write_string(r, 2, ["Porto", "Évora", "Braga"][r as usize % 3])
            .unwrap();
    }
    book.save(work.path("many.xlsx")).unwrap();
    let mut cmd = work.ccbulk();
    cmd.args(["update", "many.xlsx", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let got = work.rows("many.dry-run.csv");
    assert_eq!(got.len(), rows as usize);
    for row in &got {
        let r: u32 = row["ccbulk_row"].parse().unwrap();
        assert_eq!(row["customerId"], guid(r).to_string());
        assert_eq!(row["companyName"], format!("Empresa {r} & Filhos"));
        assert_eq!(row["city"], ["Porto", "Évora", "Braga"][r as usize % 3]);
    }
}

/// A workbook written by hand (zip and XML): one sheet, "Sheet1", of the given rows, its text
/// inline (rust_xlsxwriter refuses a cell longer than Excel's 32,767 characters).
fn hand_xlsx(path: &std::path::Path, rows: &str) {
    let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let parts = [
        (
            "_rels/.rels",
            format!(
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                r#"<workbook xmlns="{ns}" xmlns:r="{rel}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(r#"<worksheet xmlns="{ns}"><sheetData>{rows}</sheetData></worksheet>"#),
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in parts {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

/// A cell longer than ccbulk reads (1 MiB), far down the sheet, stops the run before anything
/// is sent, naming the file, the sheet and the cell. (A zip entry that inflates past its declared
/// size fails in the same first pass: `xlsx_tests::a_zip_bomb_stops_naming_the_part`.)
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_cell_stops_the_run_before_anything_is_sent() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    let cell = |r: u32, c: &str, text: &str| {
        format!(r#"<c r="{c}{r}" t="inlineStr"><is><t>{text}</t></is></c>"#)
    };
    let mut rows = format!(
        "<row r=\"1\">{}{}</row>",
        cell(1, "A", "customerId"),
        cell(1, "B", "city")
    );
    for r in 2..=500u32 {
        rows.push_str(&format!(
            "<row r=\"{r}\">{}{}</row>",
            cell(r, "A", &guid(r).to_string()),
            cell(r, "B", "Porto")
        ));
    }
    let big = format!(
        "<row r=\"501\">{}</row>",
        cell(501, "B", &"x".repeat((1 << 20) + 1))
    );
    hand_xlsx(&work.path("big.xlsx"), &format!("{rows}{big}"));
    let err = stopped_before_sending(&sb, &work, "big.xlsx").await;
    assert!(
        err.contains("big.xlsx: sheet \"Sheet1\", cell B501: its text runs past 1 MiB"),
        "{err}"
    );
    assert!(
        err.len() < 4096,
        "the cell is not quoted: {} bytes",
        err.len()
    );
}
