//! What calamine will build from an `.ods`, counted before it builds it. calamine reads every
//! sheet of an .ods into memory when it opens the file, writing out repeated rows and columns
//! (`table:number-rows-repeated`, `table:number-columns-repeated`) and counted spaces
//! (`<text:s text:c="…"/>`) as it goes: a 740-byte file repeating one number 16,384 columns
//! wide over 6,000 rows is 98 million cells (calamine's own cap is 100 million a sheet), some
//! 5 GB, and one `text:c` of a few billion is as many spaces. The zip checks (`package`) cannot
//! see that: the XML is tiny. So `content.xml` is read here first, as a stream, and the cells
//! and the text calamine would make of it are counted the way calamine lays them out; the file
//! is refused past [`MAX_WHOLE_CELLS`] cells or [`MAX_TEXT_BYTES`] of text, its sheets
//! together (calamine builds them all, whichever one is read).

use quick_xml::events::{BytesStart, Event};

use super::layout;
use super::package::{MAX_WHOLE_INFLATED, Package, Xml};
use super::{MAX_TEXT_BYTES, MAX_WHOLE_CELLS};

/// calamine's own bounds of an .ods sheet: it writes out no row or column past them.
const MAX_ROWS: u64 = layout::MAX_ROWS as u64;
const MAX_COLUMNS: u64 = layout::MAX_COLS as u64;

/// Counts what calamine would build from the .ods `package`; the message names the sheet that
/// goes past a limit.
pub(super) fn check(package: &mut Package) -> Result<(), String> {
    count(package).map(|_| ())
}

/// What calamine would build from the .ods `package`, its sheets together.
fn count(package: &mut Package) -> Result<Tally, String> {
    // No content.xml: calamine says so in its own words.
    let Some(mut xml) = package.xml("content.xml", MAX_WHOLE_INFLATED)? else {
        return Ok(Tally::default());
    };
    let mut tally = Tally::default();
    let mut table: Option<Table> = None;
    loop {
        match xml.next()? {
            Event::Start(e) if named(&e, "table:table") && table.is_none() => {
                table = Some(Table::new(value(&e, "table:name").unwrap_or_default()));
            }
            Event::End(e) if e.name().as_ref() == "table:table" => {
                if let Some(t) = table.take() {
                    tally.add(t)?;
                }
            }
            Event::Start(e) if named(&e, "table:table-row") => {
                let repeats = number(&e, "table:number-rows-repeated");
                match table.as_mut() {
                    Some(t) => t.row(&mut xml, repeats, &mut tally.text)?,
                    None => xml.skip()?,
                }
                tally.check_text(table.as_ref())?;
            }
            Event::Eof => return Ok(tally),
            _ => {}
        }
    }
}

/// The cells and text of the sheets counted so far.
#[derive(Default)]
struct Tally {
    cells: u64,
    text: u64,
}

impl Tally {
    /// Adds a sheet's cells, refused past the limit.
    fn add(&mut self, table: Table) -> Result<(), String> {
        let cells = table.cells();
        self.cells = self.cells.saturating_add(cells);
        if self.cells > MAX_WHOLE_CELLS as u64 {
            return Err(format!(
                "sheet {:?} comes to {cells} cells once its repeated rows and columns are written out ({} for its sheets together), more than the {MAX_WHOLE_CELLS} ccbulk reads from an .ods, which is read whole, every sheet at once: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time",
                table.name, self.cells
            ));
        }
        Ok(())
    }

    fn check_text(&self, table: Option<&Table>) -> Result<(), String> {
        if self.text <= MAX_TEXT_BYTES {
            return Ok(());
        }
        Err(format!(
            "sheet {:?} takes its sheets' text past {} MiB once its repeated rows, cells and spaces are written out, more than ccbulk reads from an .ods, which is read whole: save the sheet as .xlsx or as CSV (UTF-8), which are read a row at a time",
            table.map(|t| t.name.as_str()).unwrap_or_default(),
            MAX_TEXT_BYTES >> 20
        ))
    }
}

/// A sheet as calamine lays it out: its rows with their repeats, and the box around the cells
/// that hold something, which calamine fills in whole.
struct Table {
    name: String,
    /// Rows so far, repeats written out.
    rows: u64,
    /// The first and past-the-last row and column of the cells holding something.
    first_row: Option<u64>,
    rows_end: u64,
    first_col: u64,
    cols_end: u64,
    /// The cells calamine gathers row by row before it makes the box: empty ones too, up to
    /// the start of a row's last cell.
    gathered: u64,
}

/// What a row holds, its repeats not yet written out.
#[derive(Default)]
struct Row {
    /// Columns so far, and where the first and past-the-last cell holding something are.
    cols: u64,
    first_col: Option<u64>,
    cols_end: u64,
    /// The cells calamine gathers: up to the start of the last cell, and that one if it holds
    /// something (empty cells are held back until another cell follows them).
    gathered: u64,
    text: u64,
}

impl Table {
    fn new(name: String) -> Table {
        Table {
            name,
            rows: 0,
            first_row: None,
            rows_end: 0,
            first_col: u64::MAX,
            cols_end: 0,
            gathered: 0,
        }
    }

    /// Reads a row just started, up to its end; adds its text, `repeats` times, to `text`.
    fn row(&mut self, xml: &mut Xml<'_>, repeats: u64, text: &mut u64) -> Result<(), String> {
        let repeats = repeats.min(MAX_ROWS.saturating_sub(self.rows));
        let mut row = Row::default();
        loop {
            match xml.next()? {
                Event::Start(e)
                    if named(&e, "table:table-cell") || named(&e, "table:covered-table-cell") =>
                {
                    let head = Cell::of(&e);
                    let (repeated, holds) = (head.repeated, head.holds);
                    let cell_text = head.text.saturating_add(inner_text(xml)?);
                    let repeated = repeated.min(MAX_COLUMNS.saturating_sub(row.cols));
                    row.gathered = row.cols;
                    if holds {
                        row.first_col.get_or_insert(row.cols);
                        row.cols_end = row.cols + repeated;
                        row.gathered = row.cols_end;
                        row.text = row.text.saturating_add(cell_text.saturating_mul(repeated));
                    }
                    row.cols += repeated;
                }
                Event::Start(_) => xml.skip()?,
                Event::End(_) => break,
                Event::Eof => return Err(xml.cut_short("table:table-row")),
                _ => {}
            }
        }
        self.gathered = self.gathered.saturating_add(row.gathered);
        if let Some(first_col) = row.first_col {
            self.first_row.get_or_insert(self.rows);
            self.rows_end = self.rows + repeats;
            self.first_col = self.first_col.min(first_col);
            self.cols_end = self.cols_end.max(row.cols_end);
            *text = text.saturating_add(row.text.saturating_mul(repeats));
        }
        self.rows += repeats;
        Ok(())
    }

    /// The cells calamine holds for the sheet: the box around the cells holding something, or
    /// what it gathered on the way when that is more.
    fn cells(&self) -> u64 {
        let boxed = match self.first_row {
            Some(first) => {
                (self.rows_end - first).saturating_mul(self.cols_end.saturating_sub(self.first_col))
            }
            None => 0,
        };
        boxed.max(self.gathered)
    }
}

/// What a cell's tag says: how many columns it repeats over, whether calamine gives it a value
/// (or a formula), and the length of those.
struct Cell {
    repeated: u64,
    holds: bool,
    text: u64,
}

impl Cell {
    fn of(e: &BytesStart<'_>) -> Cell {
        let mut cell = Cell {
            repeated: 1,
            holds: false,
            text: 0,
        };
        for a in e.attributes().with_checks(false).flatten() {
            let key: &str = a.key.as_ref();
            let valued = match key {
                "table:number-columns-repeated" => {
                    // calamine refuses a count that is not a number.
                    cell.repeated = a.value.trim().parse().unwrap_or(1);
                    false
                }
                "office:value-type" => &*a.value == "string",
                "office:value"
                | "office:string-value"
                | "office:date-value"
                | "office:time-value"
                | "office:boolean-value"
                | "table:formula" => true,
                _ => false,
            };
            if valued {
                cell.holds = true;
                cell.text = cell.text.saturating_add(a.value.len() as u64);
            }
        }
        cell
    }
}

/// Reads the inside of a cell just started, up to its end: the most text calamine makes of it
/// (its text, with counted spaces written out).
fn inner_text(xml: &mut Xml<'_>) -> Result<u64, String> {
    let mut text = 0u64;
    let mut depth = 1usize;
    while depth > 0 {
        match xml.next()? {
            Event::Start(e) => {
                depth += 1;
                // A paragraph, tab or line break is one character; `text:s` is `text:c` spaces.
                let spaces = if named(&e, "text:s") {
                    value(&e, "text:c").map_or(1, |c| c.trim().parse().unwrap_or(0))
                } else {
                    1
                };
                text = text.saturating_add(spaces);
            }
            Event::End(_) => depth -= 1,
            Event::Text(t) => text = text.saturating_add(t.len() as u64),
            Event::CData(t) => text = text.saturating_add(t.len() as u64),
            Event::GeneralRef(_) => text = text.saturating_add(4),
            Event::Eof => return Err(xml.cut_short("table:table-cell")),
            _ => {}
        }
    }
    Ok(text)
}

/// Is this tag `name`, prefix and all, as calamine matches it?
fn named(e: &BytesStart<'_>, name: &str) -> bool {
    e.name().as_ref() == name
}

/// The attribute `key` (prefix and all) of a tag, as text.
fn value(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .map(|a| a.value.into_owned())
}

/// A repeat count (1 when there is none; calamine refuses one that is not a number).
fn number(e: &BytesStart<'_>, key: &str) -> u64 {
    value(e, key).map_or(1, |v| v.trim().parse().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use calamine::Reader;

    use super::*;
    use crate::input::workbook::tests::{ods_book, ods_parts, ods_row};
    use crate::input::workbook::xlsx_tests::zip;

    const ONE: &str = r#"<table:table-cell office:value-type="float" office:value="1"/>"#;

    fn write(dir: &tempfile::TempDir, parts: &[(String, Vec<u8>)]) -> PathBuf {
        let path = dir.path().join("book.ods");
        zip(&path, parts);
        path
    }

    fn counted(path: &Path) -> Result<Tally, String> {
        count(&mut Package::open(path)?)
    }

    /// The cells calamine makes of the sheet "Data": its range, filled in whole.
    fn calamine_cells(path: &Path) -> u64 {
        let mut book: calamine::Ods<_> = calamine::open_workbook(path).unwrap();
        let (h, w) = book.worksheet_range("Data").unwrap().get_size();
        (h * w) as u64
    }

    /// Sheets laid out as LibreOffice and others write them (trailing empty cells and rows
    /// repeated to the sheet's end, leading empty ones, repeated values, covered cells, a
    /// formula without a value) are counted as calamine lays them out: the count is its range
    /// of values, or, where a formula has no value, its range of formulas (as wide as both).
    #[test]
    fn cells_are_counted_as_calamine_lays_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let trailing = r#"<table:table-cell table:number-columns-repeated="1020"/>"#;
        let to_the_end = r#"<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
        let layouts = [
            (
                ods_row(&["customerId", "city"]) + &ods_row(&["1", "Porto"]),
                4,
                4,
            ),
            (
                format!(
                    "<table:table-row>{ONE}{ONE}{trailing}</table:table-row><table:table-row>{ONE}{trailing}</table:table-row>{to_the_end}"
                ),
                4,
                4,
            ),
            (
                format!(
                    r#"<table:table-row table:number-rows-repeated="5"><table:table-cell/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="3"/>{ONE}</table:table-row><table:table-row table:number-rows-repeated="10"><table:table-cell table:number-columns-repeated="4"/><table:table-cell office:value-type="float" office:value="2" table:number-columns-repeated="7"/></table:table-row>"#
                ),
                11 * 8,
                11 * 8,
            ),
            (
                format!(
                    r#"<table:table-row>{ONE}<table:covered-table-cell office:value-type="string"><text:p>x</text:p></table:covered-table-cell><table:table-cell table:formula="of:=1/0"/></table:table-row>"#
                ),
                3,
                2,
            ),
        ];
        for (rows, tally, range) in layouts {
            let path = write(&dir, &ods_parts(&rows));
            let got = (counted(&path).unwrap().cells, calamine_cells(&path));
            assert_eq!(got, (tally, range), "{rows}");
        }
    }

    /// Empty cells followed by other empty cells are gathered by calamine on the way (only the
    /// last ones of a row are not): counted too, though its range leaves them out.
    #[test]
    fn empty_cells_calamine_gathers_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let row = format!(
            r#"<table:table-row>{ONE}<table:table-cell table:style-name="ce1" table:number-columns-repeated="1000"/><table:table-cell table:number-columns-repeated="20"/></table:table-row>"#
        );
        let path = write(&dir, &ods_parts(&row.repeat(3)));
        assert_eq!(counted(&path).unwrap().cells, 3 * 1001);
        assert_eq!(calamine_cells(&path), 3);
    }

    /// A few bytes of repeats that calamine would write out into gigabytes are refused before it
    /// does, naming the sheet: cells repeated over columns and rows, sheets together past the
    /// limit, counted spaces, and a text repeated over many cells.
    #[test]
    fn repeats_written_out_past_the_limits_are_refused_naming_the_sheet() {
        let dir = tempfile::tempdir().unwrap();
        let header = ods_row(&["customerId"]);
        let wide = format!(
            r#"{header}<table:table-row table:number-rows-repeated="6000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="16384"/></table:table-row>"#
        );
        let tall = |n: u64| {
            format!(r#"<table:table-row table:number-rows-repeated="{n}">{ONE}</table:table-row>"#)
        };
        let (half, rest) = (tall(1_000_000), tall(1_000_001));
        let spaces = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="300000000"/>b</text:p></table:table-cell></table:table-row>"#;
        let long = format!(
            r#"<table:table-row><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>{}</text:p></table:table-cell></table:table-row>"#,
            "x".repeat(20_000)
        );
        let cases = [
            (
                ods_parts(&wide),
                "sheet \"Data\" comes to 98320384 cells once its repeated rows and columns are written out (98320384 for its sheets together), more than the 2000000",
            ),
            (
                ods_book(&[("First", &half), ("Second", &rest)]),
                "sheet \"Second\" comes to 1000001 cells once its repeated rows and columns are written out (2000001 for its sheets together)",
            ),
            (
                ods_parts(spaces),
                "sheet \"Data\" takes its sheets' text past 256 MiB once its repeated rows, cells and spaces are written out",
            ),
            (
                ods_parts(&long),
                "sheet \"Data\" takes its sheets' text past 256 MiB",
            ),
        ];
        for (parts, want) in cases {
            let path = write(&dir, &parts);
            let err = crate::input::workbook::read(&path, None, 1)
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("book.ods: ")
                    && err.contains(want)
                    && err.contains("save the sheet as .xlsx or as CSV"),
                "{want}: {err}"
            );
        }
        // At the limit exactly, the sheets together pass.
        let path = write(
            &dir,
            &ods_book(&[("First", &half), ("Second", &tall(1_000_000))]),
        );
        assert_eq!(counted(&path).unwrap().cells, 2_000_000);
    }
}
