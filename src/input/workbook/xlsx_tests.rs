//! Our `.xlsx` reader on workbooks written by hand (zip and XML), for what a workbook writer
//! would not make: inline strings, rich text, phonetic guides, Excel's escapes, cells without a
//! reference, a shared-strings table of many thousand texts read back in any order, and the
//! limits (a cell, a row, a part, a zip entry that inflates past what it declares).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::package::Package;
use super::strings::MAX_TEXT;
use super::*;

const NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

/// The parts of a one-sheet workbook named "Data" around `rows` (the inside of `<sheetData>`),
/// with a strings table and styles when given.
fn parts(rows: &str, strings: Option<&str>, styles: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let mut book_rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>"#
    );
    let mut parts = vec![
        (
            "_rels/.rels".to_string(),
            format!(r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#).into_bytes(),
        ),
        (
            "xl/workbook.xml".to_string(),
            format!(r#"<?xml version="1.0"?><workbook {NS}><workbookPr date1904="false"/><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>"#).into_bytes(),
        ),
        (
            "xl/worksheets/sheet1.xml".to_string(),
            format!(r#"<?xml version="1.0"?><worksheet {NS}><dimension ref="A1"/><sheetData>{rows}</sheetData></worksheet>"#).into_bytes(),
        ),
    ];
    if let Some(s) = strings {
        book_rels.push_str(&format!(
            r#"<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>"#
        ));
        parts.push((
            "xl/sharedStrings.xml".to_string(),
            format!(r#"<?xml version="1.0"?><sst {NS}>{s}</sst>"#).into_bytes(),
        ));
    }
    if let Some(s) = styles {
        parts.push((
            "xl/styles.xml".to_string(),
            format!(r#"<?xml version="1.0"?><styleSheet {NS}>{s}</styleSheet>"#).into_bytes(),
        ));
    }
    book_rels.push_str("</Relationships>");
    parts.push((
        "xl/_rels/workbook.xml.rels".to_string(),
        book_rels.into_bytes(),
    ));
    parts
}

/// Writes `parts` (name, bytes) as a zip, deflated.
pub(super) fn zip(path: &Path, parts: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in parts {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

/// Rewrites the uncompressed size the zip at `path` declares for its entry `name`, in both of
/// its headers (the local one and the central directory's), to `size`: a zip that lies.
pub(super) fn declare_size(path: &Path, name: &str, size: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut patched = 0;
    for at in 0..bytes.len() - 46 {
        let (size_at, name_at) = match &bytes[at..at + 4] {
            b"PK\x03\x04" => (at + 22, at + 30),
            b"PK\x01\x02" => (at + 24, at + 46),
            _ => continue,
        };
        if bytes[name_at..].starts_with(name.as_bytes()) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "{name} in both headers");
    std::fs::write(path, bytes).unwrap();
}

fn book(
    dir: &tempfile::TempDir,
    rows: &str,
    strings: Option<&str>,
    styles: Option<&str>,
) -> PathBuf {
    let path = dir.path().join("book.xlsx");
    zip(&path, &parts(rows, strings, styles));
    path
}

/// The sheet as CSV text, or the message (from opening it or from reading it on).
pub(super) fn csv(path: &Path, header_row: u64) -> Result<String, String> {
    let sheet = read(path, None, header_row).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut csv = sheet.csv;
    csv.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

fn row(n: u32, cells: &str) -> String {
    format!(r#"<row r="{n}">{cells}</row>"#)
}

/// Every kind of cell value, as calamine read them: shared and inline strings with rich text
/// and phonetic guides left out, Excel's escapes and XML entities undone, spaces trimmed unless
/// kept, booleans, formulas' cached values, ISO dates, numbers and dates by their style, and
/// cells and rows without a reference.
#[test]
fn every_kind_of_cell_reads_as_calamine_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let strings = r#"<si><t>customerId</t></si><si><t>city</t></si><si><r><rPr><b/></rPr><t>Ca</t></r><r><t xml:space="preserve">f&amp;é </t></r><rPh sb="0" eb="1"><t>カ</t></rPh></si><si><t>  trimmed  </t></si><si><t>a_x000D_b &#233;</t></si><si/>"#;
    let styles = r#"<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd"/></numFmts><cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="164"><alignment/></xf><xf numFmtId="14"/><xf numFmtId="22"/></cellXfs><dxfs><dxf><numFmt numFmtId="0" formatCode="yyyy"/></dxf></dxfs>"#;
    let rows = [
        row(1, r#"<c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="inlineStr"><is><t>extra</t></is></c>"#),
        row(2, r#"<c r="A2" t="s"><v>2</v></c><c r="B2" t="inlineStr"><is><r><t>Po</t></r><r><t>rto</t></r></is></c><c r="C2" t="s"><v>3</v></c>"#),
        row(3, r#"<c t="s"><v>4</v></c><c t="b"><v>1</v></c><c t="b"><v>0</v></c>"#),
        row(4, r#"<c r="A4" s="1"><v>45352</v></c><c r="B4" s="2"><v>45352.5</v></c><c r="C4" s="3"><v>45352.25</v></c>"#),
        row(5, r#"<c r="A5" s="0"><v>500000000123</v></c><c r="B5" t="n"><v>12.5</v></c><c r="C5" t="str"><f>A1&amp;"x"</f><v>Fa&lt;ro</v></c>"#),
        r#"<row><c r="A6" t="d"><v>2024-03-01T09:30:00</v></c><c r="B6" t="s"><v>5</v></c><c r="C6"/></row>"#.to_string(),
        row(7, r#"<c r="A7"><v>not a number</v></c><c r="C7" t="inlineStr"><is><t xml:space="preserve"> kept </t></is></c>"#),
    ]
    .concat();
    let path = book(&dir, &rows, Some(strings), Some(styles));
    assert_eq!(
        csv(&path, 1).unwrap(),
        "customerId,city,extra\n\
         Caf&é ,Porto,trimmed\n\
         \"a\rb é\",true,false\n\
         2024-03-01,2024-03-01T12:00:00,2024-03-01T06:00:00\n\
         500000000123,12.5,Fa<ro\n\
         2024-03-01T09:30:00,,\n\
         not a number,, kept \n"
    );
}

/// A table of many thousand distinct texts (past many 64 KiB blocks of both files) read back
/// in any order, and the texts a sheet repeats.
#[test]
fn many_distinct_shared_strings_read_back_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40_000u32;
    let mut strings = String::from("<si><t>customerId</t></si><si><t>companyName</t></si>");
    for i in 0..n {
        strings.push_str(&format!("<si><t>Company {i} — Lda</t></si>"));
    }
    let mut order: Vec<u32> = (0..n).collect();
    fastrand::Rng::with_seed(22).shuffle(&mut order);
    let mut rows = row(1, r#"<c t="s"><v>0</v></c><c t="s"><v>1</v></c>"#);
    for (r, i) in order.iter().enumerate() {
        rows.push_str(&row(
            r as u32 + 2,
            &format!(
                r#"<c t="s"><v>{}</v></c><c t="s"><v>{}</v></c>"#,
                i + 2,
                (i % 7) + 2
            ),
        ));
    }
    let path = book(&dir, &rows, Some(&strings), None);
    let text = csv(&path, 1).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("customerId,companyName"));
    for i in &order {
        let want = format!("Company {i} — Lda,Company {} — Lda", i % 7);
        assert_eq!(lines.next(), Some(want.as_str()));
    }
    assert_eq!(lines.next(), None);
}

/// A cell (inline, or a shared string) over the limit is refused naming the cell; a row whose
/// cells together are over it, naming the row and the cell that goes past.
#[test]
fn a_cell_or_a_row_over_the_limit_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(MAX_TEXT + 1);
    let rows = row(
        1,
        r#"<c r="A1" t="inlineStr"><is><t>customerId</t></is></c>"#,
    ) + &row(
        5,
        &format!(r#"<c r="C5" t="inlineStr"><is><t>{big}</t></is></c>"#),
    );
    let err = csv(&book(&dir, &rows, None, None), 1).unwrap_err();
    assert!(
        err.contains("book.xlsx: sheet \"Data\", cell C5: its text runs past 1 MiB"),
        "{err}"
    );

    let strings = format!("<si><t>customerId</t></si><si><t>{big}</t></si>");
    let rows = row(1, r#"<c r="A1" t="s"><v>0</v></c>"#);
    let err = csv(&book(&dir, &rows, Some(&strings), None), 1).unwrap_err();
    assert!(
        err.contains("its shared string 1 (in xl/sharedStrings.xml) runs past 1 MiB"),
        "{err}"
    );

    let half = "y".repeat(MAX_TEXT / 2 + 1);
    let rows = row(
        1,
        r#"<c r="A1" t="inlineStr"><is><t>customerId</t></is></c>"#,
    ) + &row(
        3,
        &format!(
            r#"<c r="A3" t="inlineStr"><is><t>{half}</t></is></c><c r="B3" t="str"><v>{half}</v></c>"#
        ),
    );
    let err = csv(&book(&dir, &rows, None, None), 1).unwrap_err();
    assert!(
        err.contains(
            "sheet \"Data\" row 3: its cells hold more than 1 MiB of text (cell B3 goes past it)"
        ),
        "{err}"
    );
}

/// Errors name the file, the sheet, the cell and why: an error calamine had no name for, a
/// reference outside a sheet, a cell or row without a reference that would fall outside one
/// (past column XFD, past row 1,048,576), a shared string that is not in the table, a part cut short, XML
/// that is not XML, and a tag longer than the XML reader takes.
#[test]
fn broken_sheets_are_refused_naming_the_cell_or_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let header = row(
        1,
        r#"<c r="A1" t="inlineStr"><is><t>customerId</t></is></c>"#,
    );
    let cases = [
        (
            header.clone() + &row(4, r#"<c r="B4" t="e"><v>#SPILL!</v></c>"#),
            "sheet \"Data\" row 4, column B: the cell holds the error #SPILL!",
        ),
        (
            header.clone() + &row(2, r#"<c r="XFE2"><v>1</v></c>"#),
            "its cell reference \"XFE2\" is not a cell of a sheet",
        ),
        (
            header.clone()
                + &row(
                    2,
                    &r#"<c t="inlineStr"><is><t>x</t></is></c>"#.repeat(16_385),
                ),
            "sheet \"Data\" row 2: a cell without a reference follows column XFD, the last column of a sheet (16384 columns)",
        ),
        (
            header.clone() + &row(3, r#"<c r="XFD3"><v>1</v></c><c><v>2</v></c>"#),
            "sheet \"Data\" row 3: a cell without a reference follows column XFD",
        ),
        (
            header.clone()
                + &row(1_048_576, r#"<c r="A1048576"><v>1</v></c>"#)
                + "<row><c><v>2</v></c></row>",
            "sheet \"Data\": a row without a number follows row 1048576, the last row of a sheet",
        ),
        (
            header.clone() + &row(2, r#"<c r="B2" t="s"><v>7</v></c>"#),
            "sheet \"Data\", cell B2: it names shared string 7, but the workbook has 0",
        ),
        (
            header.clone() + &row(2, r#"<c r="B2" t="x"><v>7</v></c>"#),
            "sheet \"Data\", cell B2: its type t=\"x\" is not one ccbulk reads",
        ),
        (
            header.clone() + r#"<row r="2"><c r="A2"><v>1</v>"#,
            "its part xl/worksheets/sheet1.xml ends inside",
        ),
        (
            header.clone() + r#"<row r="2"><c r="A2" t="str"><v><![CDATA[abc</v></c></row>"#,
            "its part xl/worksheets/sheet1.xml is not well-formed XML",
        ),
        (
            header.clone()
                + &row(
                    2,
                    &format!(r#"<c r="A2"><f>{}</f><v>1</v></c>"#, "1+".repeat(3 << 20)),
                ),
            "its part xl/worksheets/sheet1.xml holds a tag or text longer than 4 MiB",
        ),
    ];
    for (rows, want) in cases {
        let path = book(&dir, &rows, None, None);
        let err = csv(&path, 1).unwrap_err();
        assert!(
            err.contains("book.xlsx") && err.contains(want),
            "{want}: {err}"
        );
    }
}

/// A part declaring more than its cap, and a zip entry that inflates past the size it declares
/// (a zip bomb), each stop naming the part.
#[test]
fn a_zip_bomb_stops_naming_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.xlsx");
    zip(&path, &[("xl/big.xml".to_string(), vec![b' '; 3 << 20])]);
    let mut package = Package::open(&path).unwrap();
    let err = package.xml("xl/big.xml", 1 << 20).err().unwrap();
    assert!(
        err.contains("its part xl/big.xml declares 3 MiB uncompressed, more than the 1 MiB"),
        "{err}"
    );

    // The sheet's entry says 100 bytes and inflates to far more: both headers patched.
    let rows = row(
        1,
        r#"<c r="A1" t="inlineStr"><is><t>customerId</t></is></c>"#,
    )
    .repeat(2000);
    let path = book(&dir, &rows, None, None);
    declare_size(&path, "xl/worksheets/sheet1.xml", 100);
    let err = csv(&path, 1).unwrap_err();
    assert!(
        err.contains("its part xl/worksheets/sheet1.xml inflates past the 100 bytes its zip entry declares (a zip bomb?)"),
        "{err}"
    );
}

/// `--sheet` finds a sheet by name through the relationships, a chart sheet is named as one,
/// and a workbook in the 1904 date system reads its dates right.
#[test]
fn sheets_are_found_by_name_and_dates_by_their_system() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = parts(
        &(row(1, r#"<c r="A1" t="inlineStr"><is><t>when</t></is></c>"#)
            + &row(2, r#"<c r="A2" s="1"><v>0</v></c>"#)),
        None,
        Some(r#"<cellXfs><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>"#),
    );
    for (name, data) in &mut p {
        let text = String::from_utf8(data.clone()).unwrap();
        if name == "xl/workbook.xml" {
            *data = text
                .replace("date1904=\"false\"", "date1904=\"1\"")
                .replace(
                    "</sheets>",
                    r#"<sheet name="Chart" sheetId="2" r:id="rId9"/></sheets>"#,
                )
                .into_bytes();
        }
        if name == "xl/_rels/workbook.xml.rels" {
            *data = text
                .replace("</Relationships>", r#"<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/chartsheet" Target="/xl/chartsheets/sheet1.xml"/></Relationships>"#)
                .into_bytes();
        }
    }
    let path = dir.path().join("dates.xlsx");
    zip(&path, &p);
    assert_eq!(csv(&path, 1).unwrap(), "when\n1904-01-01\n");
    let mut text = String::new();
    read(&path, Some("Data"), 1)
        .map_err(|e| e.to_string())
        .unwrap()
        .csv
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "when\n1904-01-01\n");
    let err = read(&path, Some("Chart"), 1).err().unwrap().to_string();
    assert!(
        err.contains("sheet \"Chart\" is a chartsheet, not a sheet of cells"),
        "{err}"
    );
    let err = read(&path, Some("Nope"), 1).err().unwrap().to_string();
    assert!(
        err.contains("has no sheet \"Nope\"; its sheets: \"Data\", \"Chart\""),
        "{err}"
    );
}

/// What Excel's own kind of writer makes (rust_xlsxwriter: shared strings, styles, formulas with
/// cached values, dates and times in several formats, booleans, sparse cells) reads exactly as
/// calamine reads it whole.
#[test]
fn a_written_workbook_reads_as_calamine_reads_it_whole() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let formats = [
        Format::new().set_num_format("yyyy-mm-dd"),
        Format::new().set_num_format("dd/mm/yyyy hh:mm"),
        Format::new().set_num_format("[h]:mm"),
        Format::new().set_num_format("0.00"),
        Format::new().set_num_format("00000"),
    ];
    for c in 0..8u16 {
        sheet.write_string(1, c + 1, format!("col {c}")).unwrap();
    }
    for r in 2..60u32 {
        let n = f64::from(r);
        sheet
            .write_string(r, 1, format!("  text {r} <&> \"q\", é\n"))
            .unwrap();
        sheet.write_number(r, 2, n * 1234.5678).unwrap();
        let when = ExcelDateTime::from_serial_datetime(45000.0 + n * 1.37).unwrap();
        let f = &formats[r as usize % formats.len()];
        sheet.write_datetime_with_format(r, 3, &when, f).unwrap();
        sheet.write_number_with_format(r, 4, n / 7.0, f).unwrap();
        sheet.write_boolean(r, 5, r % 2 == 0).unwrap();
        let formula = Formula::new(format!("=B{}&\"!\"", r + 1)).set_result(format!("v{r}"));
        sheet.write_formula(r, 6, formula).unwrap();
        if r % 5 != 0 {
            sheet
                .write_string(r, 8, ["Porto", "Faro", ""][r as usize % 3])
                .unwrap();
        }
    }
    book.save(&path).unwrap();

    let mut whole: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let range = whole.worksheet_range("Sheet1").unwrap();
    for header_row in [1, 2, 3] {
        let skip = header_row as u32 - 1;
        let (first_row, want) = whole_to_csv(&range, "Sheet1", skip).unwrap();
        let sheet = read(&path, None, header_row)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut got = Vec::new();
        let mut csv = sheet.csv;
        csv.read_to_end(&mut got).unwrap();
        assert_eq!(sheet.first_row, first_row);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
}
