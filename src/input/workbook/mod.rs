//! Workbooks as input (`.xlsx`, `.xlsm`, `.xls`, `.xlsb`, `.ods`): one sheet (the first, or
//! `--sheet NAME`) becomes the CSV text the rest of the input code reads, one record per sheet
//! row, so header matching, checks and messages are the same as for a CSV.
//!
//! Cells arrive as the spreadsheet shows their value, not as a CSV export would mangle it: a text
//! cell exactly (leading zeros, `+351 …`); a number as its number, without a trailing `.0` or an
//! exponent (500000000123); a date as ISO 8601 (`2024-03-01`, or `2024-03-01T09:30:00` with a
//! time); a formula as its cached value. A formula whose cached value is an error (`#DIV/0!`) stops
//! the run before anything is sent: sending its text would write `#DIV/0!` into a customer.
//!
//! `.xlsx` and `.xlsm` are streamed with our own reader (see `stream`: calamine reads their
//! shared-strings table whole), so memory grows neither with the rows nor with the distinct
//! texts; a cell's text and a row's are bounded by [`MAX_CELL_BYTES`]. The other formats are
//! read with calamine and can only be read whole, so their size is bounded up front:
//! [`MAX_WHOLE_FILE_BYTES`] for the file, what an .ods or .xlsb package inflates to (see
//! `package::MAX_WHOLE_INFLATED`) and [`MAX_WHOLE_CELLS`] for the sheet, counted before calamine
//! builds it where a few bytes can make it huge (`ods`: repeated rows and cells, every sheet;
//! `xlsb`: the box around cells far apart; `xls`: declared dimensions and cells far apart,
//! every sheet). Past any, the run stops with a message saying to
//! save the sheet as .xlsx or CSV.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use calamine::{Data, Reader, Sheets};

use super::InputError;

mod book;
mod layout;
mod ods;
mod package;
mod stream;
mod strings;
mod styles;
mod xls;
mod xlsb;
mod xlsx;
#[cfg(test)]
mod xlsx_tests;

use layout::{Emit, Scan};

/// The most text an .xlsx cell, a shared string or an .xlsx row may hold: the longest record
/// ccbulk reads.
pub const MAX_CELL_BYTES: usize = strings::MAX_TEXT;

/// The largest .xls, .xlsb or .ods file read (they are read whole; compressed formats hold
/// several times this in cells).
pub const MAX_WHOLE_FILE_BYTES: u64 = 16 << 20;
/// The most cells of an .xls, .xlsb or .ods sheet read (of an .xls or .ods, its sheets
/// together, as calamine builds them all): 125,000 rows of 16 columns, about 300 MB in memory
/// for an .ods (BENCHMARKS.md: 303 MB peak at the limit).
pub const MAX_WHOLE_CELLS: usize = 2_000_000;
/// The most text (cell values and formulas, repeats and shared texts written out) calamine may
/// be made to hold from an .ods's or .xls's sheets together. A sheet at the cell limit holds
/// some 20–60 MB of text (10–30 bytes a cell); this leaves room for long texts while bounding
/// the memory.
pub(super) const MAX_TEXT_BYTES: u64 = 256 << 20;

/// Is this path a workbook (by its extension, any case)?
pub fn is_workbook(path: &Path) -> bool {
    kind(path).is_some()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Xlsx,
    Xls,
    Xlsb,
    Ods,
}

fn kind(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" => Some(Kind::Xlsx),
        "xls" => Some(Kind::Xls),
        "xlsb" => Some(Kind::Xlsb),
        "ods" => Some(Kind::Ods),
        _ => None,
    }
}

/// A sheet as CSV text.
pub struct Sheet {
    /// The sheet's rows as comma-separated records, the header first, read as they are needed.
    pub csv: Box<dyn Read + Send>,
    /// The sheet row number (from 1) of the first record: line numbers in messages are sheet rows.
    pub first_row: u64,
}

/// Reads the sheet `wanted` (or the first) of the workbook at `path` as CSV text; rows above
/// `header_row` (a sheet row, from 1) are title rows, left out.
pub fn read(path: &Path, wanted: Option<&str>, header_row: u64) -> Result<Sheet, InputError> {
    let name = path.display().to_string();
    let fail = |why: String| InputError::Header(format!("{name}: {why}"));
    let skip_before = u32::try_from(header_row.saturating_sub(1)).unwrap_or(u32::MAX);
    let size = std::fs::metadata(path)
        .map_err(|e| InputError::Io {
            name: name.clone(),
            err: e,
        })?
        .len();
    let kind = kind(path).unwrap_or(Kind::Xlsx);
    if let Some(what) = not_what_it_claims(path, kind) {
        return Err(InputError::Header(format!(
            "{name} is not a workbook: {what}"
        )));
    }
    if kind == Kind::Xlsx {
        let book = book::open(path).map_err(fail)?;
        let sheet = pick_sheet(&book.sheet_names(), wanted).map_err(fail)?;
        let (first_row, csv) = stream::sheet(book, &sheet, skip_before).map_err(fail)?;
        return Ok(Sheet { csv, first_row });
    }
    if size > MAX_WHOLE_FILE_BYTES {
        return Err(fail(format!(
            "the workbook is {} MiB; ccbulk reads .xls, .xlsb and .ods files of up to {} MiB, because these formats can only be read whole into memory: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time whatever their size",
            size >> 20,
            MAX_WHOLE_FILE_BYTES >> 20
        )));
    }
    // calamine indexes into what a file says without checking it in places (a shared string
    // that is not in the table, a relationship that is not there): a damaged or hostile file
    // is a message, not a crash.
    let whole = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_whole(path, kind, wanted, skip_before)
    }));
    let (first_row, csv) = match whole {
        Ok(read) => read.map_err(fail)?,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Err(fail(format!(
                "cannot be read as a workbook: it is damaged (the reader stopped on it: {why}); open it in its spreadsheet program and save it as .xlsx or CSV (UTF-8)"
            )));
        }
    };
    Ok(Sheet {
        csv: Box::new(io::Cursor::new(csv)),
        first_row,
    })
}

/// Reads a sheet of a format that calamine reads whole (`.xls`, `.xlsb`, `.ods`): the first
/// sheet row and the CSV text. What a few bytes could make huge is checked first.
fn read_whole(
    path: &Path,
    kind: Kind,
    wanted: Option<&str>,
    skip_before: u32,
) -> Result<(u64, Vec<u8>), String> {
    if matches!(kind, Kind::Ods | Kind::Xlsb) {
        // Both are zip packages, and 16 MiB of zip can hold gigabytes: bounded before calamine
        // inflates any of it.
        let mut package = package::Package::open(path)?;
        package.check_inflated(package::MAX_WHOLE_INFLATED)?;
        if kind == Kind::Ods {
            ods::check(&mut package)?;
        } else {
            xlsb::check_strings(&mut package)?;
        }
    }
    if kind == Kind::Xls {
        // calamine builds every sheet as it opens an .xls, sized by what the file declares.
        xls::check(path)?;
    }
    let mut book = open_whole(path, kind)?;
    let sheet = pick_sheet(&book.sheet_names(), wanted)?;
    if let Sheets::Xlsb(xlsb) = &mut book {
        xlsb::check(xlsb, &sheet)?;
    }
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| format!("sheet {sheet:?} cannot be read: {e}"))?;
    let (height, width) = range.get_size();
    if height.saturating_mul(width) > MAX_WHOLE_CELLS {
        return Err(format!(
            "sheet {sheet:?} has {height} rows of {width} columns; ccbulk reads .xls, .xlsb and .ods sheets of up to {MAX_WHOLE_CELLS} cells, because these formats can only be read whole into memory: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time whatever their size"
        ));
    }
    whole_to_csv(&range, &sheet, skip_before)
}

/// A file whose first bytes are not those of its extension's format (a CSV saved or renamed as
/// `.xlsx`, an old `.xls` renamed `.xlsx`): what it looks like and what to do, instead of the
/// zip or OLE error that reading it as a workbook would give.
fn not_what_it_claims(path: &Path, kind: Kind) -> Option<String> {
    let mut head = Vec::with_capacity(512);
    File::open(path)
        .ok()?
        .take(512)
        .read_to_end(&mut head)
        .ok()?;
    let zip = head.starts_with(b"PK\x03\x04");
    let ole = head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]);
    let expected = if kind == Kind::Xls { ole } else { zip };
    if expected || head.is_empty() {
        return None;
    }
    Some(if zip {
        "it is a zip file (an .xlsx or .ods workbook?) named .xls: give it the extension of the program that saved it".to_string()
    } else if ole {
        "it is an old Excel workbook (.xls) under another extension: rename it to .xls".to_string()
    } else if !head.contains(&0) {
        let text = String::from_utf8_lossy(&head);
        let first = text
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .unwrap_or_default();
        format!(
            "it is text, its first line {} (a CSV file with a workbook's extension?): rename it to .csv, which ccbulk reads as it is",
            crate::text::shown(first)
        )
    } else {
        format!(
            "its first bytes are not those of a .{} file: open it in its spreadsheet program and save it as .xlsx or CSV (UTF-8)",
            path.extension()
                .map_or_else(String::new, |e| e.to_string_lossy().to_lowercase())
        )
    })
}

/// Opens a workbook of a format that is read whole.
fn open_whole(path: &Path, kind: Kind) -> Result<Sheets<BufReader<File>>, String> {
    Ok(match kind {
        Kind::Xls => Sheets::Xls(calamine::open_workbook(path).map_err(|e| cannot_open(&e))?),
        Kind::Xlsb => Sheets::Xlsb(calamine::open_workbook(path).map_err(|e| cannot_open(&e))?),
        Kind::Ods => Sheets::Ods(calamine::open_workbook(path).map_err(|e| cannot_open(&e))?),
        Kind::Xlsx => Sheets::Xlsx(calamine::open_workbook(path).map_err(|e| cannot_open(&e))?),
    })
}

fn cannot_open(e: &dyn std::fmt::Display) -> String {
    format!("cannot be read as a workbook: {e}")
}

/// A sheet read whole, laid out as the streamed ones are: the first sheet row and the CSV text.
fn whole_to_csv(
    range: &calamine::Range<Data>,
    sheet: &str,
    skip_before: u32,
) -> Result<(u64, Vec<u8>), String> {
    let (top, left) = range.start().unwrap_or((0, 0));
    let at = |(r, c): (usize, usize)| (top + r as u32, left + c as u32);
    let mut scan = Scan::new(sheet, skip_before);
    for (r, c, cell) in range.used_cells() {
        scan.see(at((r, c)), cell)?;
    }
    let Some(bounds) = scan.bounds() else {
        return Ok((u64::from(skip_before) + 1, Vec::new()));
    };
    let mut emit = Emit::new(bounds, Vec::new());
    for (r, c, cell) in range.used_cells() {
        emit.cell(at((r, c)), cell)?;
    }
    Ok((u64::from(bounds.first_row) + 1, emit.finish()?))
}

/// The sheet `wanted`, or the first; the message lists the sheets there are.
fn pick_sheet(names: &[String], wanted: Option<&str>) -> Result<String, String> {
    match wanted {
        Some(w) => names
            .iter()
            .find(|n| n.as_str() == w)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "has no sheet {w:?}; its sheets: {}",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| "has no sheet".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::xlsx_tests::{csv, declare_size, zip};
    use super::*;

    const MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;

    /// The parts of a one-sheet .ods ("Data") around `rows` (the inside of `<table:table>`).
    pub(super) fn ods_parts(rows: &str) -> Vec<(String, Vec<u8>)> {
        ods_book(&[("Data", rows)])
    }

    /// The parts of an .ods of the sheets `tables` (name, the inside of `<table:table>`).
    pub(super) fn ods_book(tables: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        let tables: String = tables
            .iter()
            .map(|(name, rows)| format!(r#"<table:table table:name="{name}">{rows}</table:table>"#))
            .collect();
        let content = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
        );
        vec![
            (
                "mimetype".to_string(),
                b"application/vnd.oasis.opendocument.spreadsheet".to_vec(),
            ),
            (
                "META-INF/manifest.xml".to_string(),
                MANIFEST.as_bytes().to_vec(),
            ),
            ("content.xml".to_string(), content.into_bytes()),
        ]
    }

    /// A row of string cells.
    pub(super) fn ods_row(cells: &[&str]) -> String {
        let cells: String = cells
            .iter()
            .map(|c| format!(r#"<table:table-cell office:value-type="string"><text:p>{c}</text:p></table:table-cell>"#))
            .collect();
        format!("<table:table-row>{cells}</table:table-row>")
    }

    /// An .ods within the limits is still read (the package and its repeats checked, then
    /// calamine reads it), empty rows repeated to the sheet's end as LibreOffice writes them.
    #[test]
    fn an_ods_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.ods");
        let rows = ods_row(&["customerId", "city"])
            + &ods_row(&["7", "Porto"])
            + r#"<table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
        zip(&path, &ods_parts(&rows));
        assert_eq!(csv(&path, 1).unwrap(), "customerId,city\n7,Porto\n");
    }

    /// An .ods or .xlsb whose parts declare more than the cap together is refused before
    /// anything is inflated, naming the file and the largest part; the sizes here are only
    /// declared (the headers patched), so nothing of that size is ever written.
    #[test]
    fn a_package_declaring_too_much_is_refused_naming_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let half = u32::try_from(package::MAX_WHOLE_INFLATED / 2).unwrap();
        for (file, big) in [
            ("book.ods", "content.xml"),
            ("book.xlsb", "xl/worksheets/sheet1.bin"),
        ] {
            let path = dir.path().join(file);
            let mut parts = ods_parts(&ods_row(&["customerId"]));
            parts.push(("xl/worksheets/sheet1.bin".to_string(), vec![b'x'; 10]));
            parts.push(("Pictures/1.png".to_string(), vec![b'y'; 10]));
            zip(&path, &parts);
            declare_size(&path, big, half + 1);
            declare_size(&path, "Pictures/1.png", half);
            let err = read(&path, None, 1).err().unwrap().to_string();
            assert!(
                err.contains(&format!(
                    "{file}: its parts declare 256 MiB uncompressed together ({big} alone 128 MiB), more than the 256 MiB ccbulk reads from an .ods or .xlsb"
                )) && err.contains("save the sheet as .xlsx or as CSV"),
                "{err}"
            );
            // Just under the cap, the sizes pass.
            declare_size(&path, big, half - 4096);
            if let Err(e) = read(&path, None, 1) {
                assert!(!e.to_string().contains("uncompressed together"), "{e}");
            }
        }
    }

    /// A part that inflates past the size its entry declares stops at that size, naming the
    /// file and the part, before calamine reads any of it.
    #[test]
    fn a_part_inflating_past_its_declared_size_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (file, part) in [
            ("lies.ods", "content.xml"),
            ("lies.xlsb", "xl/sharedStrings.bin"),
        ] {
            let path = dir.path().join(file);
            let mut parts = ods_parts(&ods_row(&["customerId"]).repeat(5000));
            parts.push(("xl/sharedStrings.bin".to_string(), vec![0; 200_000]));
            zip(&path, &parts);
            declare_size(&path, part, 100);
            let err = read(&path, None, 1).err().unwrap().to_string();
            assert!(
                err.contains(&format!(
                    "{file}: its part {part} inflates past the 100 bytes its zip entry declares (a zip bomb?)"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn extensions_in_any_case() {
        assert!(is_workbook(Path::new("a/Customers.XLSX")));
        assert!(is_workbook(Path::new("c.ods")));
        assert!(is_workbook(Path::new("c.xlsm")));
        assert!(!is_workbook(Path::new("c.csv")));
        assert!(!is_workbook(Path::new("xlsx")));
    }

    /// A file that is not what its extension claims is named for what it looks like, not
    /// refused with the zip reader's "Could not find EOCD".
    #[test]
    fn a_csv_named_xlsx_is_called_text() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("customers.xlsx");
        std::fs::write(&csv, "\u{feff}customerId,city\n1,Porto\n").unwrap();
        let err = read(&csv, None, 1).err().unwrap().to_string();
        assert!(
            err.contains(
                "customers.xlsx is not a workbook: it is text, its first line \"customerId,city\""
            ) && err.contains("rename it to .csv")
                && !err.contains("EOCD"),
            "{err}"
        );
        let ole = dir.path().join("old.xlsx");
        std::fs::write(&ole, [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]).unwrap();
        let err = read(&ole, None, 1).err().unwrap().to_string();
        assert!(err.contains("rename it to .xls"), "{err}");
        let zip = dir.path().join("book.xls");
        std::fs::write(&zip, b"PK\x03\x04rest").unwrap();
        let err = read(&zip, None, 1).err().unwrap().to_string();
        assert!(err.contains("it is a zip file"), "{err}");
    }
}
