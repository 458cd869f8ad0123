//! A sheet's cells laid out as CSV records, in two passes over the cells in sheet order (row by
//! row, left to right), so that no more than one row is ever held: [`Scan`] finds the table's
//! bounds (its first and last used rows and columns, at or below the header row) and the first
//! cell holding an error; [`Emit`] then writes one record per sheet row of the table, each as
//! wide as the table, exactly as a whole-sheet range would give them.

use std::io::Write;

use calamine::Data;

/// A sheet's size in Excel (row 1,048,576, column XFD): cells outside it are not cells of a
/// sheet, for every format read.
pub(super) const MAX_ROWS: u32 = 1_048_576;
pub(super) const MAX_COLS: u32 = 16_384;

/// A cell past column XFD that a reader would take as written (calamine takes any 16- or 32-bit
/// column): a message naming the sheet and the row (0-based `row` and `col`).
pub(super) fn check_column(sheet: &str, row: u32, col: u32) -> Result<(), String> {
    if col < MAX_COLS {
        return Ok(());
    }
    Err(format!(
        "sheet {sheet:?} row {}: a cell is in column number {}, past column XFD, the last column of a sheet ({MAX_COLS} columns)",
        u64::from(row) + 1,
        u64::from(col) + 1
    ))
}

/// Where the table lies on the sheet (0-based, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bounds {
    pub first_row: u32,
    pub last_row: u32,
    pub first_col: u32,
    pub last_col: u32,
}

/// The first pass: the table's bounds, and the first cell that holds an error.
pub(super) struct Scan {
    /// Rows above this one (0-based) are title rows: skipped (`--header-row`).
    skip_before: u32,
    bounds: Option<Bounds>,
    sheet: String,
}

impl Scan {
    pub fn new(sheet: &str, skip_before: u32) -> Scan {
        Scan {
            skip_before,
            bounds: None,
            sheet: sheet.to_string(),
        }
    }

    /// Takes in a cell; an error cell is the message that stops the run before anything is
    /// sent (its text would be written into a customer).
    pub fn see(&mut self, (row, col): (u32, u32), cell: &Data) -> Result<(), String> {
        if row < self.skip_before || matches!(cell, Data::Empty) {
            return Ok(());
        }
        if let Data::Error(e) = cell {
            return Err(format!(
                "sheet {:?} row {}, column {}: the cell holds the error {e}; fix the formula or type the value",
                self.sheet,
                u64::from(row) + 1,
                column_name(col as usize)
            ));
        }
        let b = self.bounds.get_or_insert(Bounds {
            first_row: row,
            last_row: row,
            first_col: col,
            last_col: col,
        });
        b.first_row = b.first_row.min(row);
        b.last_row = b.last_row.max(row);
        b.first_col = b.first_col.min(col);
        b.last_col = b.last_col.max(col);
        Ok(())
    }

    /// The table's bounds; `None` when the sheet (below the header row) holds nothing.
    pub fn bounds(&self) -> Option<Bounds> {
        self.bounds
    }
}

/// The second pass: one CSV record per sheet row of the table, into `W`.
pub(super) struct Emit<W: Write> {
    bounds: Bounds,
    writer: csv::Writer<W>,
    /// The row being gathered (its cells, as wide as the table) and its sheet row.
    cells: Vec<String>,
    row: Option<u32>,
    /// The next sheet row to write.
    next: u32,
}

impl<W: Write> Emit<W> {
    pub fn new(bounds: Bounds, out: W) -> Emit<W> {
        let width = (bounds.last_col - bounds.first_col) as usize + 1;
        Emit {
            bounds,
            writer: super::super::csv_writer(out, b','),
            cells: vec![String::new(); width],
            row: None,
            next: bounds.first_row,
        }
    }

    /// Takes in a cell, in sheet order; cells outside the table are left out.
    pub fn cell(&mut self, (row, col): (u32, u32), cell: &Data) -> Result<(), String> {
        let b = self.bounds;
        if row < b.first_row || row > b.last_row || col < b.first_col || col > b.last_col {
            return Ok(());
        }
        if self.row != Some(row) {
            if self.row.is_some_and(|r| row < r) {
                return Err(format!(
                    "the sheet's row {} comes after its row {}: the file is out of order",
                    u64::from(row) + 1,
                    self.row.map_or(0, |r| u64::from(r) + 1)
                ));
            }
            self.end_row()?;
            self.gap_to(row)?;
            self.row = Some(row);
        }
        // Scan has already refused error cells.
        self.cells[(col - b.first_col) as usize] = text(cell).unwrap_or_default();
        Ok(())
    }

    /// Writes the rest of the table and flushes.
    pub fn finish(mut self) -> Result<W, String> {
        self.end_row()?;
        self.gap_to(self.bounds.last_row + 1)?;
        self.writer
            .into_inner()
            .map_err(|e| format!("cannot convert the sheet: {e}"))
    }

    /// Writes the row gathered, if any.
    fn end_row(&mut self) -> Result<(), String> {
        if let Some(row) = self.row.take() {
            self.write()?;
            self.cells.iter_mut().for_each(String::clear);
            self.next = row + 1;
        }
        Ok(())
    }

    /// Writes empty records for the sheet rows up to `row` that hold nothing (so that record
    /// numbers stay sheet rows).
    fn gap_to(&mut self, row: u32) -> Result<(), String> {
        while self.next < row {
            self.write()?;
            self.next += 1;
        }
        Ok(())
    }

    fn write(&mut self) -> Result<(), String> {
        self.writer
            .write_record(&self.cells)
            .map_err(|e| format!("cannot convert the sheet: {e}"))
    }
}

/// A cell's value as text (see the module comment of `workbook`).
pub(super) fn text(cell: &Data) -> Result<String, String> {
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
pub(super) fn column_name(mut col: usize) -> String {
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

    fn s(t: &str) -> Data {
        Data::String(t.to_string())
    }

    /// Both passes over sparse cells: the table starts at its first used row and column, rows
    /// and cells that hold nothing come out empty, every record as wide as the table, and rows
    /// above the header row are left out.
    #[test]
    fn sparse_cells_become_a_rectangle_of_records() {
        let cells = [
            ((0, 0), s("Customer list")),
            ((2, 1), s("id")),
            ((2, 3), s("city")),
            ((3, 1), Data::Float(12.0)),
            ((5, 2), Data::Empty),
            ((5, 3), s("Porto")),
        ];
        let csv = |skip: u32| {
            let mut scan = Scan::new("S", skip);
            for (pos, c) in &cells {
                scan.see(*pos, c).unwrap();
            }
            let mut emit = Emit::new(scan.bounds().unwrap(), Vec::new());
            for (pos, c) in &cells {
                emit.cell(*pos, c).unwrap();
            }
            String::from_utf8(emit.finish().unwrap()).unwrap()
        };
        assert_eq!(csv(2), "id,,city\n12,,\n,,\n,,Porto\n");
        assert_eq!(
            csv(0),
            "Customer list,,,\n,,,\n,id,,city\n,12,,\n,,,\n,,,Porto\n"
        );
        let mut scan = Scan::new("S", 0);
        let err = scan
            .see((6, 27), &Data::Error(calamine::CellErrorType::Div0))
            .unwrap_err();
        assert!(
            err.contains("sheet \"S\" row 7, column AB: the cell holds the error #DIV/0!"),
            "{err}"
        );
    }
}
