//! An `.xlsb` sheet's extent, found before calamine reads it whole. calamine gathers a sheet's
//! cells and then fills in the whole box around them, so two cells far apart (A1 and
//! XFD1048576, a few bytes of file) are 17 billion cells, hundreds of gigabytes, and it takes a
//! cell's column as written (any 32-bit number). So the sheet's cells are read here first, one
//! at a time with calamine's own cells reader (nothing is held but the box), and the sheet is
//! refused past column XFD or past [`MAX_WHOLE_CELLS`] cells before calamine makes the box.

use std::fs::File;
use std::io::{self, BufReader, Read};

use calamine::{DataRef, Xlsb};

use super::MAX_WHOLE_CELLS;
use super::layout::{check_column, column_name};
use super::package::Package;

/// The most texts an .xlsb's shared-strings table may declare. calamine reads the whole table
/// when it opens the workbook, each text a `String` of its own: an empty one is 7 bytes of the
/// file and 24 of memory, so the part's 256 MiB could be 38 million of them, some 900 MB. A
/// sheet at the cell limit holds at most 2,000,000 different texts; the workbook's other sheets
/// share the table, so four times that.
pub(super) const MAX_SHARED_STRINGS: u64 = 4 * MAX_WHOLE_CELLS as u64;
const SHARED_STRINGS: &str = "xl/sharedStrings.bin";

/// Reads how many texts the shared-strings table declares (its record `BrtBeginSst`, found as
/// calamine finds it: past any records before it); a message past the limit. calamine reads
/// as many texts as that says, so this bounds its table.
pub(super) fn check_strings(package: &mut Package) -> Result<(), String> {
    let Some(mut part) = package.bytes(SHARED_STRINGS)? else {
        return Ok(());
    };
    let broken = |e: io::Error| format!("its part {SHARED_STRINGS} cannot be read: {e}");
    loop {
        // A record: its type in one or two bytes, its length in one to four, 7 bits each.
        let Some(typ) = varint(&mut part, 2).map_err(broken)? else {
            return Ok(()); // No table: calamine says so in its own words.
        };
        let len = varint(&mut part, 4)
            .map_err(broken)?
            .ok_or_else(|| broken(io::ErrorKind::UnexpectedEof.into()))?;
        if typ != 0x009F {
            io::copy(&mut (&mut part).take(len), &mut io::sink()).map_err(broken)?;
            continue;
        }
        let mut head = [0u8; 8];
        part.read_exact(&mut head).map_err(broken)?;
        let unique = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        if unique > MAX_SHARED_STRINGS {
            return Err(format!(
                "its shared-strings table ({SHARED_STRINGS}) declares {unique} texts, more than the {MAX_SHARED_STRINGS} ccbulk reads from an .xlsb, which is read whole: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time"
            ));
        }
        return Ok(());
    }
}

/// A BIFF12 variable-length number of up to `bytes` bytes, 7 bits each; `None` at the end of
/// the part.
fn varint(part: &mut impl Read, bytes: u32) -> io::Result<Option<u64>> {
    let mut value = 0u64;
    for i in 0..bytes {
        let mut b = [0u8; 1];
        if part.read(&mut b)? == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        value |= u64::from(b[0] & 0x7F) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    Ok(Some(value))
}

/// Reads the cells of `sheet` to find the box around them; a message when calamine must not
/// build it.
pub(super) fn check(book: &mut Xlsb<BufReader<File>>, sheet: &str) -> Result<(), String> {
    let cannot = |e: calamine::XlsbError| format!("sheet {sheet:?} cannot be read: {e}");
    let mut cells = book.worksheet_cells_reader(sheet).map_err(cannot)?;
    // The first and last row and column of the cells holding something (0-based).
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    while let Some(cell) = cells.next_cell().map_err(cannot)? {
        // calamine leaves empty cells out of the box.
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (row, col) = cell.get_position();
        check_column(sheet, row, col)?;
        let b = bounds.get_or_insert((row, row, col, col));
        *b = (b.0.min(row), b.1.max(row), b.2.min(col), b.3.max(col));
    }
    let Some((top, bottom, left, right)) = bounds else {
        return Ok(());
    };
    let (height, width) = (u64::from(bottom - top) + 1, u64::from(right - left) + 1);
    if height.saturating_mul(width) > MAX_WHOLE_CELLS as u64 {
        return Err(format!(
            "sheet {sheet:?}: its cells span {}{} to {}{}, {height} rows of {width} columns; ccbulk reads .xls, .xlsb and .ods sheets of up to {MAX_WHOLE_CELLS} cells, because these formats can only be read whole into memory: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time whatever their size",
            column_name(left as usize),
            u64::from(top) + 1,
            column_name(right as usize),
            u64::from(bottom) + 1,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::input::workbook::read;
    use crate::input::workbook::xlsx_tests::{csv, zip};

    /// A BIFF12 record: its type and length as variable-length numbers, then its body.
    fn record(typ: u16, body: &[u8]) -> Vec<u8> {
        let mut out = if typ < 0x80 {
            vec![typ as u8]
        } else {
            vec![(typ & 0x7F) as u8 | 0x80, (typ >> 7) as u8]
        };
        let mut len = body.len();
        loop {
            let byte = (len & 0x7F) as u8;
            len >>= 7;
            out.push(if len > 0 { byte | 0x80 } else { byte });
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(body);
        out
    }

    /// A string as XLSB writes it: its length in UTF-16 units, then UTF-16LE.
    fn wide(s: &str) -> Vec<u8> {
        let units: Vec<u16> = s.encode_utf16().collect();
        let mut out = (units.len() as u32).to_le_bytes().to_vec();
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        out
    }

    /// A cell: its 0-based column and style, then its value.
    fn cell(col: u32, value: &[u8]) -> Vec<u8> {
        [&col.to_le_bytes()[..], &[0; 4], value].concat()
    }

    /// An .xlsb of one sheet, "Data", of `rows` (a 0-based row and its cells' records).
    fn xlsb(dir: &tempfile::TempDir, rows: &[(u32, Vec<u8>)]) -> PathBuf {
        xlsb_with(dir, rows, None)
    }

    /// The same, with a shared-strings part of those records.
    fn xlsb_with(
        dir: &tempfile::TempDir,
        rows: &[(u32, Vec<u8>)],
        strings: Option<Vec<u8>>,
    ) -> PathBuf {
        let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.bin"/></Relationships>"#;
        let bundle = [
            &0u32.to_le_bytes()[..],
            &1u32.to_le_bytes(),
            &wide("rId1"),
            &wide("Data"),
        ]
        .concat();
        let workbook = [
            record(0x009C, &bundle),
            record(0x0090, &[]),
            record(0x009D, &[]),
        ]
        .concat();
        let mut sheet = [
            record(0x0081, &[]),
            record(0x0094, &[0; 16]),
            record(0x0091, &[]),
        ]
        .concat();
        for (row, cells) in rows {
            sheet.extend(record(0x0000, &[&row.to_le_bytes()[..], &[0; 13]].concat()));
            sheet.extend(cells);
        }
        sheet.extend(record(0x0092, &[]));
        let path = dir.path().join("book.xlsb");
        let mut parts = vec![
            ("xl/_rels/workbook.bin.rels".to_string(), rels.into()),
            ("xl/workbook.bin".to_string(), workbook),
            ("xl/worksheets/sheet1.bin".to_string(), sheet),
        ];
        if let Some(strings) = strings {
            parts.push(("xl/sharedStrings.bin".to_string(), strings));
        }
        zip(&path, &parts);
        path
    }

    fn text(col: u32, s: &str) -> Vec<u8> {
        record(0x0006, &cell(col, &wide(s)))
    }

    fn number(col: u32, n: f64) -> Vec<u8> {
        record(0x0005, &cell(col, &n.to_le_bytes()))
    }

    fn refused(path: &Path) -> String {
        read(path, None, 1).err().unwrap().to_string()
    }

    /// A sheet within the limits is read as before.
    #[test]
    fn an_xlsb_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            (0, [text(0, "customerId"), text(1, "city")].concat()),
            (1, [number(0, 7.0), text(1, "Porto")].concat()),
        ];
        let path = xlsb(&dir, &rows);
        assert_eq!(csv(&path, 1).unwrap(), "customerId,city\n7,Porto\n");
    }

    /// Cells far apart make a box past the limit: refused naming its corners, before calamine
    /// fills it in (its own count, after, names no cells).
    #[test]
    fn cells_far_apart_are_refused_before_calamine_fills_the_box() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [(0, text(0, "customerId")), (200_000, number(15, 1.0))];
        let err = refused(&xlsb(&dir, &rows));
        assert!(
            err.contains("book.xlsb: sheet \"Data\": its cells span A1 to P200001, 200001 rows of 16 columns; ccbulk reads .xls, .xlsb and .ods sheets of up to 2000000 cells"),
            "{err}"
        );
    }

    /// A shared-strings table declaring more texts than the limit is refused before calamine
    /// reads it; one within it is read, past a record before its start as calamine finds it.
    #[test]
    fn a_shared_strings_table_past_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sst = |unique: u32, items: &[&str]| {
            let mut part = record(0x0023, &[0; 4]);
            let counts = [unique.to_le_bytes(), unique.to_le_bytes()].concat();
            part.extend(record(0x009F, &counts));
            for s in items {
                part.extend(record(0x0013, &[&[0u8][..], &wide(s)].concat()));
            }
            part.extend(record(0x00A0, &[]));
            part
        };
        let shared = |col: u32, i: u32| record(0x0007, &cell(col, &i.to_le_bytes()));
        let rows = [(0, [shared(0, 0), shared(1, 1)].concat())];
        let path = xlsb_with(&dir, &rows, Some(sst(2, &["customerId", "city"])));
        assert_eq!(csv(&path, 1).unwrap(), "customerId,city\n");

        let path = xlsb_with(&dir, &rows, Some(sst(8_000_001, &["customerId", "city"])));
        let err = refused(&path);
        assert!(
            err.contains("book.xlsb: its shared-strings table (xl/sharedStrings.bin) declares 8000001 texts, more than the 8000000"),
            "{err}"
        );
    }

    /// A file calamine would crash on (a cell naming a shared string the workbook does not
    /// have: calamine indexes its table with it) is a message naming the file.
    #[test]
    fn a_file_calamine_crashes_on_is_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let shared = record(0x0007, &cell(0, &5u32.to_le_bytes()));
        let err = refused(&xlsb(&dir, &[(0, shared)]));
        assert!(
            err.contains("book.xlsb: cannot be read as a workbook: it is damaged (the reader stopped on it: index out of bounds"),
            "{err}"
        );
    }

    /// A cell whose column is past XFD is refused naming its row, as an .xlsx reference is.
    #[test]
    fn a_cell_past_column_xfd_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [(0, text(0, "customerId")), (2, number(20_000, 1.0))];
        let err = refused(&xlsb(&dir, &rows));
        assert!(
            err.contains(
                "book.xlsb: sheet \"Data\" row 3: a cell is in column number 20001, past column XFD"
            ),
            "{err}"
        );
    }
}
