//! Workbooks as input (`.xlsx`, `.xlsm`, `.xls`, `.xlsb`, `.ods`), read with calamine: one sheet
//! (the first, or `--sheet NAME`) becomes the CSV text the rest of the input code reads, one
//! record per sheet row, so header matching, checks and messages are the same as for a CSV.
//!
//! Cells arrive as the spreadsheet shows their value, not as a CSV export would mangle it: a text
//! cell exactly (leading zeros, `+351 …`); a number as its number, without a trailing `.0` or an
//! exponent (500000000123); a date as ISO 8601 (`2024-03-01`, or `2024-03-01T09:30:00` with a
//! time); a formula as its cached value. A formula whose cached value is an error (`#DIV/0!`) stops
//! the run before anything is sent: sending its text would write `#DIV/0!` into a customer.
//!
//! calamine reads a sheet whole into memory (every cell, as the format requires for shared strings
//! and styles), so the size is bounded up front: [`MAX_FILE_BYTES`] for the file and
//! [`MAX_CELLS`] for the sheet. Past either, the run stops with a message saying to save the
//! sheet as CSV, which is streamed.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{Data, Reader, Sheets};

use super::InputError;

/// The largest workbook file read (compressed formats hold several times this in cells).
pub const MAX_FILE_BYTES: u64 = 50 << 20;
/// The most cells of a sheet read: 250,000 rows of 16 columns, a few hundred MB in memory.
pub const MAX_CELLS: usize = 4_000_000;

/// Is this path a workbook (by its extension, any case)?
pub fn is_workbook(path: &Path) -> bool {
    kind(path).is_some()
}

fn kind(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" => Some("xlsx"),
        "xls" => Some("xls"),
        "xlsb" => Some("xlsb"),
        "ods" => Some("ods"),
        _ => None,
    }
}

/// A sheet as CSV text.
pub struct Sheet {
    /// The sheet's rows as comma-separated records, the header first.
    pub csv: Vec<u8>,
    /// The sheet row number (from 1) of the first record: line numbers in messages are sheet rows.
    pub first_row: u64,
}

/// Reads the sheet `wanted` (or the first) of the workbook at `path` as CSV text.
pub fn read(path: &Path, wanted: Option<&str>) -> Result<Sheet, InputError> {
    let name = path.display().to_string();
    let fail = |why: String| InputError::Header(format!("{name}: {why}"));
    let mut book = open(path, &name)?;
    let sheet = pick_sheet(&book.sheet_names(), wanted).map_err(fail)?;
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| fail(format!("sheet {sheet:?} cannot be read: {e}")))?;
    let (height, width) = range.get_size();
    if height.saturating_mul(width) > MAX_CELLS {
        return Err(fail(format!(
            "sheet {sheet:?} has {height} rows of {width} columns; ccbulk reads sheets of up to {MAX_CELLS} cells: save it as CSV (UTF-8), which is read a row at a time"
        )));
    }
    let first_row = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
    let csv = to_csv(&range, &sheet, first_row).map_err(fail)?;
    Ok(Sheet { csv, first_row })
}

/// Opens the workbook, if it is small enough to be read whole.
fn open(path: &Path, name: &str) -> Result<Sheets<BufReader<File>>, InputError> {
    let fail = |why: String| InputError::Header(format!("{name}: {why}"));
    let size = std::fs::metadata(path)
        .map_err(|e| InputError::Io {
            name: name.to_string(),
            err: e,
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the workbook is {} MiB; ccbulk reads workbooks of up to {} MiB (a sheet is read whole into memory): save the sheet as CSV (UTF-8), which is read a row at a time",
            size >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    let cannot = |e: String| fail(format!("cannot be read as a workbook: {e}"));
    Ok(match kind(path) {
        Some("xls") => {
            Sheets::Xls(calamine::open_workbook(path).map_err(|e| cannot(format!("{e}")))?)
        }
        Some("xlsb") => {
            Sheets::Xlsb(calamine::open_workbook(path).map_err(|e| cannot(format!("{e}")))?)
        }
        Some("ods") => {
            Sheets::Ods(calamine::open_workbook(path).map_err(|e| cannot(format!("{e}")))?)
        }
        _ => Sheets::Xlsx(calamine::open_workbook(path).map_err(|e| cannot(format!("{e}")))?),
    })
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

/// The sheet's cells as CSV records.
fn to_csv(range: &calamine::Range<Data>, sheet: &str, first_row: u64) -> Result<Vec<u8>, String> {
    let first_col = range.start().map_or(0, |(_, col)| col);
    let mut w = super::csv_writer(Vec::new(), b',');
    for (i, row) in range.rows().enumerate() {
        let mut record = Vec::with_capacity(row.len());
        for (j, cell) in row.iter().enumerate() {
            record.push(text(cell).map_err(|e| {
                let col = column_name(first_col as usize + j);
                format!(
                    "sheet {sheet:?} row {}, column {col}: {e}; fix the formula or type the value",
                    first_row + i as u64
                )
            })?);
        }
        w.write_record(&record)
            .map_err(|e| format!("cannot convert sheet {sheet:?}: {e}"))?;
    }
    w.into_inner()
        .map_err(|e| format!("cannot convert sheet {sheet:?}: {e}"))
}

/// A cell's value as text (see the module comment).
fn text(cell: &Data) -> Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) if d.is_datetime() => match d.as_datetime() {
            // Displayed as `2024-03-01 09:30:00`: the date alone at midnight, else ISO's `T`.
            Some(t) => {
                let shown = t.to_string();
                match shown.strip_suffix(" 00:00:00") {
                    Some(date) => date.to_string(),
                    None => shown.replacen(' ', "T", 1),
                }
            }
            None => number(d.as_f64()),
        },
        Data::DateTime(d) => number(d.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("the cell holds the error {e}")),
    })
}

/// A number as a person would type it: no `.0` on a whole number, never an exponent.
fn number(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{f:.0}")
    } else {
        // Rust's shortest round-trip form, which never uses an exponent.
        format!("{f}")
    }
}

/// `A`, `B`, … `Z`, `AA`, … for a 0-based column.
fn column_name(mut col: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_typed() {
        assert_eq!(number(500000000123.0), "500000000123");
        assert_eq!(number(1e16), "10000000000000000");
        assert_eq!(number(-42.0), "-42");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(12.5), "12.5");
    }

    #[test]
    fn column_names() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn extensions_in_any_case() {
        assert!(is_workbook(Path::new("a/Customers.XLSX")));
        assert!(is_workbook(Path::new("c.ods")));
        assert!(is_workbook(Path::new("c.xlsm")));
        assert!(!is_workbook(Path::new("c.csv")));
        assert!(!is_workbook(Path::new("xlsx")));
    }
}
