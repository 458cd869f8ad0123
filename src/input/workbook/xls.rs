//! What calamine will build from an `.xls`, measured before it opens the file. calamine parses
//! every sheet of an .xls as it opens it, taking the file at its word: it reserves room for as
//! many cells as a sheet's DIMENSIONS record declares (any 32-bit row count: a 30-byte record
//! asks for petabytes, and the process aborts, which no `catch_unwind` stops), fills in the
//! whole box around a sheet's cells (A1 and a cell at column 65,535 row 65,536 are 4 billion),
//! and starts each sheet where its BOUNDSHEET record says, in or past the stream. So the
//! workbook stream is read here first (with the `cfb` crate) and walked record by record the
//! way calamine walks it; the file is refused when a sheet starts past the stream's end, a cell
//! lies past column XFD, or the sheets together come to more than [`MAX_WHOLE_CELLS`] cells, or
//! to more than [`MAX_TEXT_BYTES`] of shared texts, which calamine copies into every cell that
//! shows one (a few bytes of file a cell, up to 32,767 characters each).

use std::io::Read;
use std::path::Path;

use super::layout::{check_column, column_name};
use super::{MAX_TEXT_BYTES, MAX_WHOLE_CELLS, MAX_WHOLE_FILE_BYTES};

/// BIFF record types calamine acts on.
const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const BOUNDSHEET: u16 = 0x0085;
const DIMENSIONS: u16 = 0x0200;
const FORMULA: u16 = 0x0006;
const STRING: u16 = 0x0207;
const MULRK: u16 = 0x00BD;
const SST: u16 = 0x00FC;
const CONTINUE: u16 = 0x003C;
const LABELSST: u16 = 0x00FD;

/// Reads the workbook stream(s) of the .xls at `path` and checks what calamine would build from
/// them; a message naming the sheet and the reason.
pub(super) fn check(path: &Path) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot be read as a workbook: {e}");
    let book = cfb::open(path).map_err(cannot)?;
    // calamine takes the first directory entry named "Workbook" (else "Book"), in any case and
    // anywhere in the file: every such stream is checked.
    let streams: Vec<_> = book
        .walk()
        .filter(|e| {
            e.is_stream()
                && ["Workbook", "Book"]
                    .iter()
                    .any(|n| e.name().eq_ignore_ascii_case(n))
        })
        .map(|e| e.path().to_path_buf())
        .collect();
    if streams.is_empty() {
        return Err(
            "cannot be read as a workbook: it holds no Workbook stream (is it an Excel file?)"
                .to_string(),
        );
    }
    let mut book = book;
    // Counted together: the cfb crate refuses a sector two chains run through, but not two
    // directory entries starting the same chain, so thousands of streams could each read the
    // same 16 MiB again. Distinct streams hold distinct sectors: together within the file.
    let mut declared = 0u64;
    for name in streams {
        let mut stream = book.open_stream(&name).map_err(cannot)?;
        declared = declared.saturating_add(stream.len());
        if declared > MAX_WHOLE_FILE_BYTES {
            return Err(format!(
                "its Workbook streams declare {declared} bytes together, more than the file itself: it is damaged"
            ));
        }
        let mut bytes = Vec::new();
        (&mut stream)
            .take(MAX_WHOLE_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        check_stream(&bytes)?;
    }
    Ok(())
}

/// Walks a workbook stream as calamine does: the globals up to their EOF, then each sheet from
/// where its BOUNDSHEET record says.
pub(super) fn check_stream(stream: &[u8]) -> Result<(), String> {
    let mut sheets = Vec::new();
    let mut biff8 = true;
    let mut texts = Vec::new();
    let mut records = Records(stream);
    while let Some((typ, data)) = records.next() {
        match typ {
            BOF if data.len() >= 2 => biff8 = is_biff8(data),
            SST => {
                // Its texts run on in the CONTINUE records after it, which calamine joins.
                let mut chunks = vec![data];
                let mut ahead = Records(records.0);
                while let Some((CONTINUE, more)) = ahead.next() {
                    chunks.push(more);
                    records = Records(ahead.0);
                }
                texts = sst_lengths(&chunks);
            }
            BOUNDSHEET if data.len() >= 4 => {
                let pos = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                sheets.push((pos as usize, sheet_name(data, biff8)));
            }
            EOF => break,
            _ => {}
        }
    }
    let (mut total, mut text) = (0u64, 0u64);
    for (pos, name) in sheets {
        let Some(records) = stream.get(pos..) else {
            return Err(format!(
                "sheet {name:?} starts at byte {pos} of the workbook stream, which is {} bytes long: the file is damaged; open it in Excel and save it as .xlsx or CSV (UTF-8)",
                stream.len()
            ));
        };
        let extent = Extent::of(records, &name, &texts)?;
        text = text.saturating_add(extent.text);
        if text > MAX_TEXT_BYTES {
            return Err(format!(
                "sheet {name:?} takes the workbook's sheets past {} MiB of text, its cells holding the workbook's shared texts over and over (calamine copies a shared text into every cell that shows it), more than ccbulk reads from an .xls, which is read whole: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time",
                MAX_TEXT_BYTES >> 20
            ));
        }
        let (cells, what) = extent.largest();
        total = total.saturating_add(cells);
        if total > MAX_WHOLE_CELLS as u64 {
            return Err(format!(
                "sheet {name:?}: {what} ({total} cells for the workbook's sheets together), more than the {MAX_WHOLE_CELLS} cells ccbulk reads from an .xls, which is read whole, every sheet at once: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time"
            ));
        }
    }
    Ok(())
}

/// The BIFF version of a BOF record as calamine reads it: BIFF8 unless it says an older one.
fn is_biff8(bof: &[u8]) -> bool {
    let version = u16::from_le_bytes([bof[0], bof[1]]);
    let dt = bof
        .get(2..4)
        .map_or(0, |d| u16::from_le_bytes([d[0], d[1]]));
    let older = matches!(version, 0x0200 | 0x0002 | 0x0007 | 0x0300 | 0x0400 | 0x0500);
    !(older || version == 0 && dt == 0x1000)
}

/// A BOUNDSHEET's sheet name, for messages: a short string after the 6-byte head (a length
/// byte, then in BIFF8 a flags byte saying whether the characters are 8 or 16 bits).
fn sheet_name(data: &[u8], biff8: bool) -> String {
    let rest = data.get(6..).unwrap_or_default();
    let Some((&cch, rest)) = rest.split_first() else {
        return String::new();
    };
    let cch = usize::from(cch);
    let wide = biff8 && rest.first().is_some_and(|f| f & 1 != 0);
    let chars = if biff8 {
        rest.get(1..).unwrap_or_default()
    } else {
        rest
    };
    let name: String = if wide {
        let units: Vec<u16> = chars
            .chunks_exact(2)
            .take(cch)
            .map(|u| u16::from_le_bytes([u[0], u[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        chars.iter().take(cch).map(|&b| char::from(b)).collect()
    };
    name.replace('\0', "")
}

/// The records of a BIFF stream: type and data, up to the end or a record cut short (where
/// calamine stops with an error of its own). A CONTINUE record is seen as one of its own
/// type, which calamine's sheets and globals ignore as it does.
struct Records<'a>(&'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let head = self.0.get(..4)?;
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let data = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some((typ, data))
    }
}

/// What calamine makes of one sheet: the cells its DIMENSIONS record reserves room for, and
/// the boxes around its cells and around its formulas, each of which it fills in whole.
#[derive(Default)]
struct Extent {
    /// The rows and columns calamine reserves room for, and the box they are said to be.
    declared: Option<((u64, u64), Corners)>,
    cells: Option<Corners>,
    formulas: Option<Corners>,
    /// The most bytes of the shared texts its cells copy (3 a character: UTF-8 of UTF-16).
    text: u64,
}

/// First and last row and column (0-based).
#[derive(Clone, Copy)]
struct Corners(u32, u32, u32, u32);

impl Corners {
    fn add(this: &mut Option<Corners>, row: u32, col: u32) {
        let c = this.get_or_insert(Corners(row, row, col, col));
        *c = Corners(c.0.min(row), c.1.max(row), c.2.min(col), c.3.max(col));
    }

    fn size(self) -> (u64, u64) {
        (
            u64::from(self.1.saturating_sub(self.0)) + 1,
            u64::from(self.3.saturating_sub(self.2)) + 1,
        )
    }

    /// "`what` A1 to B2, 2 rows of 2 columns".
    fn describe(self, what: &str, (rows, cols): (u64, u64)) -> String {
        format!(
            "{what} {}{} to {}{}, {rows} rows of {cols} columns",
            column_name(self.2 as usize),
            u64::from(self.0) + 1,
            column_name(self.3 as usize),
            u64::from(self.1) + 1
        )
    }
}

impl Extent {
    /// Walks a sheet's records from its start as calamine does: its own BOF, nested substreams
    /// (embedded charts) skipped, up to its EOF.
    fn of(records: &[u8], sheet: &str, texts: &[u64]) -> Result<Extent, String> {
        let mut extent = Extent::default();
        let (mut seen_bof, mut depth) = (false, 0usize);
        let mut formula_at = (0, 0);
        for (typ, data) in Records(records) {
            if depth > 0 {
                match typ {
                    BOF => depth += 1,
                    EOF => depth -= 1,
                    _ => {}
                }
                continue;
            }
            match typ {
                BOF if seen_bof => depth += 1,
                BOF => seen_bof = true,
                EOF => break,
                DIMENSIONS => extent.declared = declared(data).or(extent.declared),
                STRING => extent.cell(formula_at, sheet)?,
                LABELSST if data.len() >= 10 => {
                    let at = u32::from_le_bytes([data[6], data[7], data[8], data[9]]);
                    let chars = texts.get(at as usize).copied().unwrap_or(0);
                    extent.text = extent.text.saturating_add(3 * chars);
                    extent.cell(position(data), sheet)?;
                }
                _ => {
                    if let Some((row, first, last)) = cells(typ, data) {
                        extent.cell((row, first), sheet)?;
                        extent.cell((row, last), sheet)?;
                    }
                    if typ == FORMULA && data.len() >= 20 {
                        formula_at = position(data);
                        Corners::add(&mut extent.formulas, formula_at.0, formula_at.1);
                    }
                }
            }
        }
        Ok(extent)
    }

    fn cell(&mut self, (row, col): (u32, u32), sheet: &str) -> Result<(), String> {
        // An .xls holds 256 columns; calamine takes any 16-bit one.
        check_column(sheet, row, col)?;
        Corners::add(&mut self.cells, row, col);
        Ok(())
    }

    /// The most cells calamine holds for the sheet at once, and what says so.
    fn largest(&self) -> (u64, String) {
        let mut best = (0, String::new());
        if let Some((size, corners)) = self.declared {
            let what = "its DIMENSIONS record declares the cells";
            best = (size.0.saturating_mul(size.1), corners.describe(what, size));
        }
        for (corners, what) in [
            (self.cells, "its cells span"),
            (self.formulas, "its formulas span"),
        ] {
            let Some(c) = corners else { continue };
            let size = c.size();
            if size.0 * size.1 > best.0 {
                best = (size.0 * size.1, c.describe(what, size));
            }
        }
        best
    }
}

/// A DIMENSIONS record as calamine reads it: the cells it reserves room for (its arithmetic,
/// wrapping as a release build does) and the box it declares.
fn declared(r: &[u8]) -> Option<((u64, u64), Corners)> {
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([r[i], r[i + 1]]));
    let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let (first_row, rows_end, mut first_col, cols_end) = match r.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        _ => return None, // calamine stops with an error.
    };
    if first_col > 0xFF || cols_end < first_col {
        first_col = 0;
    }
    let (last_row, last_col) = if rows_end >= 1 && cols_end >= 1 {
        (rows_end - 1, cols_end - 1)
    } else {
        (first_row, first_col)
    };
    let rows = u64::from(last_row.wrapping_sub(first_row).wrapping_add(1));
    let cols = u64::from(last_col.wrapping_sub(first_col).wrapping_add(1));
    // As written, even backwards (the count above is what calamine makes of that).
    Some((
        (rows, cols),
        Corners(first_row, last_row, first_col, last_col),
    ))
}

/// The row and column a cell record starts with.
fn position(data: &[u8]) -> (u32, u32) {
    (
        u32::from(u16::from_le_bytes([data[0], data[1]])),
        u32::from(u16::from_le_bytes([data[2], data[3]])),
    )
}

/// The length in characters of each text of an SST record (its data and its CONTINUE records'),
/// walked as calamine walks it: a text's characters may run on into the next record, which then
/// opens with a flags byte of its own; formatting runs and extended data are skipped. Up to a
/// fault, where calamine stops with an error of its own.
fn sst_lengths(chunks: &[&[u8]]) -> Vec<u64> {
    let mut lengths = Vec::new();
    let Some(first) = chunks.first().and_then(|c| c.get(8..)) else {
        return lengths;
    };
    let mut at = Chunks {
        data: first,
        rest: &chunks[1..],
    };
    while !at.data.is_empty() || at.next_chunk() {
        if at.data.is_empty() {
            lengths.push(0);
            continue;
        }
        match at.text() {
            Some(chars) => lengths.push(chars),
            None => break,
        }
    }
    lengths
}

/// Where an SST walk is: the rest of the record it is in, and the records after it.
struct Chunks<'a> {
    data: &'a [u8],
    rest: &'a [&'a [u8]],
}

impl Chunks<'_> {
    fn next_chunk(&mut self) -> bool {
        let Some((next, rest)) = self.rest.split_first() else {
            return false;
        };
        (self.data, self.rest) = (next, rest);
        true
    }

    /// `n` bytes from the current record (`None` if it holds fewer).
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (taken, rest) = (self.data.get(..n)?, self.data.get(n..)?);
        self.data = rest;
        Some(taken)
    }

    /// Skips `n` bytes, across records.
    fn skip(&mut self, mut n: usize) -> Option<()> {
        while n > 0 {
            if self.data.is_empty() && !self.next_chunk() {
                return None;
            }
            let step = n.min(self.data.len());
            self.data = &self.data[step..];
            n -= step;
        }
        Some(())
    }

    /// Walks one text (an `XLUnicodeRichExtendedString`); its length in characters.
    fn text(&mut self) -> Option<u64> {
        let head = self.take(3)?;
        let (chars, flags) = (u16::from_le_bytes([head[0], head[1]]), head[2]);
        let runs = match flags & 0x8 {
            0 => 0,
            _ => self
                .take(2)
                .map(|r| usize::from(u16::from_le_bytes([r[0], r[1]])))?,
        };
        let extra = match flags & 0x4 {
            0 => 0,
            // calamine reads it as a signed number made a usize: a negative one never ends.
            _ => self
                .take(4)
                .map(|r| i32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize)?,
        };
        let (mut left, mut wide) = (usize::from(chars), flags & 1 != 0);
        loop {
            let width = if wide { 2 } else { 1 };
            let here = left.min(self.data.len() / width);
            self.data = &self.data[here * width..];
            left -= here;
            if left == 0 {
                break;
            }
            if !self.next_chunk() {
                return None;
            }
            wide = self.take(1)?[0] & 1 != 0;
        }
        self.skip(runs * 4)?;
        self.skip(extra)?;
        Some(u64::from(chars))
    }
}

/// The row and the first and last column of the cells a record puts in calamine's sheet (none
/// for a record that holds none, or one too short, which calamine refuses). LABELSST is
/// `Extent::of`'s own, which counts its text too.
fn cells(typ: u16, data: &[u8]) -> Option<(u32, u32, u32)> {
    let least = match typ {
        0x0203 => 14,         // NUMBER
        0x0204 | 0x00D6 => 6, // LABEL, RSTRING
        0x0205 => 8,          // BOOLERR
        0x027E => 10,         // RK
        FORMULA => 20,        // its cached value, where it has one
        MULRK => 6,
        _ => return None,
    };
    if data.len() < least {
        return None;
    }
    let (row, first) = position(data);
    if typ != MULRK {
        return Some((row, first, first));
    }
    // Six bytes a cell after the row and the first column, the last column at the end.
    let count = (data.len() - 6) / 6;
    Some((row, first, first + (count as u32).max(1) - 1))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::input::workbook::read;
    use crate::input::workbook::xlsx_tests::csv;

    /// A BIFF record: its type, its length and its data.
    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let len = u16::try_from(data.len()).unwrap();
        [&typ.to_le_bytes()[..], &len.to_le_bytes(), data].concat()
    }

    /// A BIFF8 BOF record of the substream type `dt` (5 the globals, 0x10 a worksheet).
    fn bof(dt: u16) -> Vec<u8> {
        let data = [&0x0600u16.to_le_bytes()[..], &dt.to_le_bytes(), &[0; 12]].concat();
        record(BOF, &data)
    }

    /// A DIMENSIONS record: first row, last row + 1, first column, last column + 1.
    pub(crate) fn dimensions(rows: (u32, u32), cols: (u16, u16)) -> Vec<u8> {
        let data = [
            &rows.0.to_le_bytes()[..],
            &rows.1.to_le_bytes(),
            &cols.0.to_le_bytes(),
            &cols.1.to_le_bytes(),
            &[0, 0],
        ]
        .concat();
        record(DIMENSIONS, &data)
    }

    /// A NUMBER cell.
    pub(crate) fn number(row: u16, col: u16, n: f64) -> Vec<u8> {
        let data = [
            &row.to_le_bytes()[..],
            &col.to_le_bytes(),
            &[0, 0],
            &n.to_le_bytes(),
        ]
        .concat();
        record(0x0203, &data)
    }

    /// A LABEL cell of 8-bit characters.
    pub(crate) fn label(row: u16, col: u16, text: &str) -> Vec<u8> {
        let len = u16::try_from(text.len()).unwrap();
        let data = [
            &row.to_le_bytes()[..],
            &col.to_le_bytes(),
            &[0, 0],
            &len.to_le_bytes(),
            &[0],
            text.as_bytes(),
        ]
        .concat();
        record(0x0204, &data)
    }

    /// A workbook stream of the sheets `sheets` (a name and the records between its BOF and
    /// EOF); `shift` moves every sheet's offset as its BOUNDSHEET record gives it.
    pub(crate) fn stream(sheets: &[(&str, Vec<u8>)], shift: u32) -> Vec<u8> {
        let boundsheet = |pos: u32, name: &str| {
            let head = [&pos.to_le_bytes()[..], &[0, 0], &[name.len() as u8, 0]].concat();
            record(BOUNDSHEET, &[&head[..], name.as_bytes()].concat())
        };
        let globals_len: usize = bof(5).len()
            + sheets
                .iter()
                .map(|(n, _)| boundsheet(0, n).len())
                .sum::<usize>()
            + record(EOF, &[]).len();
        let substreams: Vec<Vec<u8>> = sheets
            .iter()
            .map(|(_, body)| [bof(0x10), body.clone(), record(EOF, &[])].concat())
            .collect();
        let mut out = bof(5);
        let mut pos = globals_len;
        for ((name, _), sub) in sheets.iter().zip(&substreams) {
            out.extend(boundsheet(pos as u32 + shift, name));
            pos += sub.len();
        }
        out.extend(record(EOF, &[]));
        out.extend(substreams.concat());
        out
    }

    /// An .xls (a compound file holding the stream "Workbook") at `dir`/`name`.
    pub(crate) fn xls(dir: &Path, name: &str, stream: &[u8]) -> PathBuf {
        let path = dir.join(name);
        // Version 3 (512-byte sectors), as Excel writes it: calamine refuses a version 4 file
        // without a mini stream.
        let file = std::fs::File::create(&path).unwrap();
        let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, file).unwrap();
        let mut w = file.create_stream("/Workbook").unwrap();
        w.write_all(stream).unwrap();
        drop(w);
        file.flush().unwrap();
        path
    }

    fn customers() -> Vec<u8> {
        [
            dimensions((0, 2), (0, 2)),
            label(0, 0, "customerId"),
            label(0, 1, "city"),
            number(1, 0, 7.0),
            label(1, 1, "Porto"),
        ]
        .concat()
    }

    fn refused(path: &Path) -> String {
        read(path, None, 1).err().unwrap().to_string()
    }

    /// An .xls within the limits is read as before, whichever sheet.
    #[test]
    fn an_xls_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let other = [dimensions((0, 1), (0, 1)), label(0, 0, "customerId")].concat();
        let s = stream(&[("Data", customers()), ("Other", other)], 0);
        let path = xls(dir.path(), "book.xls", &s);
        assert_eq!(csv(&path, 1).unwrap(), "customerId,city\n7,Porto\n");
        let sheet = read(&path, Some("Other"), 1)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(sheet, Ok(()));
    }

    /// A DIMENSIONS record declaring a million rows of 256 columns (calamine would reserve
    /// room for all 268 million cells as it opens the file) is refused naming the sheet.
    #[test]
    fn huge_declared_dimensions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let body = [dimensions((0, 1_048_576), (0, 256)), number(0, 0, 1.0)].concat();
        let path = xls(dir.path(), "book.xls", &stream(&[("Data", body)], 0));
        let err = refused(&path);
        assert!(
            err.contains("book.xls: sheet \"Data\": its DIMENSIONS record declares the cells A1 to IV1048576, 1048576 rows of 256 columns (268435456 cells for the workbook's sheets together), more than the 2000000 cells ccbulk reads from an .xls"),
            "{err}"
        );
    }

    /// A last row before the first: calamine's count wraps to 4 billion rows.
    #[test]
    fn backwards_dimensions_are_refused() {
        let s = stream(&[("Data", dimensions((10, 5), (0, 2)))], 0);
        let err = check_stream(&s).unwrap_err();
        assert!(
            err.contains("declares the cells A11 to B5, 4294967291 rows of 2 columns"),
            "{err}"
        );
    }

    /// Two cells far apart make a box calamine fills in whole: refused naming its corners;
    /// the sheets are counted together, as calamine builds them all.
    #[test]
    fn cells_far_apart_and_sheets_together_are_refused() {
        let far = [number(0, 0, 1.0), number(20_000, 199, 2.0)].concat();
        let err = check_stream(&stream(&[("Far", far)], 0)).unwrap_err();
        assert!(
            err.contains("sheet \"Far\": its cells span A1 to GR20001, 20001 rows of 200 columns (4000200 cells"),
            "{err}"
        );
        let half = [number(0, 0, 1.0), number(9_999, 99, 2.0)].concat();
        let s = stream(&[("One", half.clone()), ("Two", half.clone())], 0);
        assert_eq!(check_stream(&s), Ok(()));
        let s = stream(
            &[
                ("One", half.clone()),
                ("Two", half.clone()),
                ("Three", half),
            ],
            0,
        );
        let err = check_stream(&s).unwrap_err();
        assert!(
            err.contains("sheet \"Three\": its cells span A1 to CV10000, 10000 rows of 100 columns (3000000 cells for the workbook's sheets together)"),
            "{err}"
        );
    }

    /// A cell past column XFD (calamine takes any 16-bit column) is refused naming its row.
    #[test]
    fn a_cell_past_column_xfd_is_refused() {
        let body = [number(0, 0, 1.0), number(2, 20_000, 1.0)].concat();
        let err = check_stream(&stream(&[("Data", body)], 0)).unwrap_err();
        assert!(
            err.contains("sheet \"Data\" row 3: a cell is in column number 20001, past column XFD"),
            "{err}"
        );
    }

    /// Workbook streams declaring more bytes together than the file can hold are refused
    /// before they are read (each one is read, wherever it is in the file).
    #[test]
    fn workbook_streams_past_the_file_size_together_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book.xls");
        let file = std::fs::File::create(&path).unwrap();
        let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, file).unwrap();
        let half = vec![0u8; (MAX_WHOLE_FILE_BYTES / 2 + 1) as usize];
        file.create_storage("/Other").unwrap();
        for name in ["/Workbook", "/Other/Workbook"] {
            file.create_stream(name).unwrap().write_all(&half).unwrap();
        }
        file.flush().unwrap();
        drop(file);
        let err = check(&path).unwrap_err();
        assert!(
            err.contains(&format!(
                "its Workbook streams declare {} bytes together, more than the file itself",
                2 * half.len()
            )),
            "{err}"
        );
    }

    /// A sheet said to start past the stream's end (calamine slices the stream there) is
    /// refused naming it; an embedded chart's cells inside a sheet are skipped as calamine does.
    #[test]
    fn a_sheet_starting_past_the_stream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = stream(&[("Data", customers())], 10_000);
        let path = xls(dir.path(), "book.xls", &s);
        let err = refused(&path);
        assert!(
            err.contains(&format!(
                "book.xls: sheet \"Data\" starts at byte {} of the workbook stream, which is {} bytes long: the file is damaged",
                10_000 + s.len() - customers().len() - 24,
                s.len()
            )),
            "{err}"
        );
        let chart = [bof(0x20), number(60_000, 250, 1.0), record(EOF, &[])].concat();
        let body = [customers(), chart].concat();
        assert_eq!(check_stream(&stream(&[("Data", body)], 0)), Ok(()));
    }

    /// A LABELSST cell showing shared text `at`.
    fn shared(row: u16, col: u16, at: u32) -> Vec<u8> {
        let data = [
            &row.to_le_bytes()[..],
            &col.to_le_bytes(),
            &[0, 0],
            &at.to_le_bytes(),
        ]
        .concat();
        record(LABELSST, &data)
    }

    /// A workbook stream whose globals hold the SST `sst` (its records), of one sheet "Data".
    fn with_sst(sst: &[u8], body: Vec<u8>) -> Vec<u8> {
        let plain = stream(&[("Data", body)], 0);
        // After the BOF (20 bytes): the sheet's offset moves by the SST's length.
        let (head, rest) = plain.split_at(20);
        let pos = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let mut rest = rest.to_vec();
        rest[4..8].copy_from_slice(&(pos + sst.len() as u32).to_le_bytes());
        [head, sst, &rest].concat()
    }

    /// Texts as calamine reads them: one with formatting runs and extended data, one whose
    /// characters run on into a CONTINUE record (16-bit there), one empty. The lengths walked
    /// here line up with the texts calamine shows.
    #[test]
    fn shared_texts_are_walked_as_calamine_reads_them() {
        let mut first = vec![];
        first.extend(10u16.to_le_bytes());
        first.push(0x08 | 0x04); // 8-bit, runs, extended data
        first.extend(1u16.to_le_bytes());
        first.extend(3i32.to_le_bytes());
        first.extend(b"customerId");
        first.extend([0; 4 + 3]);
        let mut second = vec![];
        second.extend(4u16.to_le_bytes());
        second.push(0);
        second.extend(b"ci");
        let counts = [3u32.to_le_bytes(), 3u32.to_le_bytes()].concat();
        let sst = [
            record(SST, &[&counts[..], &first, &second].concat()),
            record(CONTINUE, &[&[1u8][..], &[b't', 0, b'y', 0]].concat()),
            record(CONTINUE, &[0, 0, 0]),
        ]
        .concat();
        let chunks: Vec<&[u8]> = Records(&sst).map(|(_, d)| d).collect();
        assert_eq!(sst_lengths(&chunks), vec![10, 4, 0]);

        let dir = tempfile::tempdir().unwrap();
        let body = [
            shared(0, 0, 0),
            shared(0, 1, 1),
            number(1, 0, 7.0),
            shared(1, 1, 1),
        ];
        let path = xls(dir.path(), "book.xls", &with_sst(&sst, body.concat()));
        assert_eq!(csv(&path, 1).unwrap(), "customerId,city\n7,city\n");
    }

    /// One long shared text shown in many cells (calamine copies it into each: a few bytes a
    /// cell of file, kilobytes of memory) is refused past the text limit, naming the sheet.
    #[test]
    fn a_shared_text_shown_over_and_over_is_refused() {
        let long = [&8000u16.to_le_bytes()[..], &[0], &[b'x'; 8000]].concat();
        let counts = [1u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
        let sst = [
            record(SST, &[&counts[..], &long[..8000]].concat()),
            record(CONTINUE, &[&[0u8][..], &long[8000..]].concat()),
        ]
        .concat();
        let cells = |n: u16| (0..n).flat_map(|r| shared(r, 0, 0)).collect::<Vec<u8>>();
        assert_eq!(check_stream(&with_sst(&sst, cells(10_000))), Ok(()));
        let err = check_stream(&with_sst(&sst, cells(11_200))).unwrap_err();
        assert!(
            err.contains("sheet \"Data\" takes the workbook's sheets past 256 MiB of text"),
            "{err}"
        );
    }
}
