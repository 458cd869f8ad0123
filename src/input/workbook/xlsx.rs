//! An `.xlsx`/`.xlsm` sheet's cells, read one at a time from the sheet's XML with our own reader
//! (calamine's cell reader needs calamine's `Xlsx`, which holds the whole shared-strings table in
//! memory; see `strings`). Each cell comes out as the `calamine::Data` calamine would have made
//! of it, so `layout` lays it out, and numbers and dates read, exactly as before: `<c r=… t=…
//! s=…>` with its `<v>` (a number, a shared string's number, a boolean, an error, a date, a
//! formula's text) or its inline string `<is>`; a number whose style is a date format is a date.
//! Every cell's text is bounded by [`MAX_TEXT`] and every row's by [`MAX_ROW_TEXT`], so that one
//! row, the most that is ever held, stays small whatever the file says.

use calamine::{CellErrorType, Data, ExcelDateTime, ExcelDateTimeType};
use quick_xml::events::{BytesStart, Event};

use super::layout::{MAX_COLS, MAX_ROWS, column_name};
use super::package::{Xml, attr, is};
use super::strings::{self, MAX_TEXT, Strings};
use super::styles::Format;

/// The most text one row's cells may hold together: one row is one record.
pub(super) const MAX_ROW_TEXT: usize = MAX_TEXT;

/// A cell: its 0-based (row, column) and its value.
pub(super) type Cell = ((u32, u32), Data);

/// What the workbook says about all its sheets' cells.
pub(super) struct Context<'a> {
    pub strings: &'a mut Strings,
    pub formats: &'a [Format],
    pub is_1904: bool,
    pub sheet: &'a str,
}

/// A sheet's cells in the order of its XML (row by row, left to right).
pub(super) struct Cells<'a> {
    xml: Xml<'a>,
    cx: Context<'a>,
    /// Where a cell without an `r` attribute is (0-based): after the one before.
    row: u32,
    col: u32,
    /// The row whose text is being counted, and how much it holds so far.
    row_text: (u32, usize),
    text: String,
}

/// A cell's type (its `t` attribute).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No type: a number, or text when it does not read as one.
    Plain,
    Number,
    Shared,
    Bool,
    Date,
    Error,
    Formula,
    Inline,
    Unknown,
}

impl<'a> Cells<'a> {
    /// Starts reading the sheet: skips to its cells (`<sheetData>`).
    pub fn new(mut xml: Xml<'a>, cx: Context<'a>) -> Result<Cells<'a>, String> {
        loop {
            match xml.next()? {
                Event::Start(e) if is(&e, "sheetData") => break,
                Event::Eof => {
                    return Err(format!(
                        "sheet {:?} cannot be read: its part {} holds no cells (<sheetData>)",
                        cx.sheet,
                        xml.part()
                    ));
                }
                _ => {}
            }
        }
        Ok(Cells {
            xml,
            cx,
            row: 0,
            col: 0,
            row_text: (0, 0),
            text: String::new(),
        })
    }

    /// The next cell and its 0-based (row, column); `None` after the last.
    pub fn next_cell(&mut self) -> Result<Option<Cell>, String> {
        loop {
            let head = match self.xml.next()? {
                Event::Start(e) if is(&e, "row") => {
                    if let Some(r) = attr(&e, "r") {
                        self.row = self.row_number(&r)?;
                    }
                    continue;
                }
                Event::End(e) if e.local_name().as_ref() == "row" => {
                    self.row = self.row.saturating_add(1);
                    self.col = 0;
                    continue;
                }
                Event::Start(e) if is(&e, "c") => Head::of(&e),
                Event::End(e) if e.local_name().as_ref() == "sheetData" => return Ok(None),
                Event::Eof => return Err(self.xml.cut_short("sheetData")),
                _ => continue,
            };
            let pos = match head.r {
                Ok(Some(pos)) => pos,
                Ok(None) => self.unreferenced()?,
                Err(r) => {
                    return Err(format!(
                        "sheet {:?}: its cell reference {r:?} is not a cell of a sheet (A1 to XFD1048576)",
                        self.cx.sheet
                    ));
                }
            };
            self.col = pos.1.saturating_add(1);
            let value = self.cell(pos, &head)?;
            self.count_text(pos, &value)?;
            return Ok(Some((pos, value)));
        }
    }

    /// The rest of a cell just started: its value.
    fn cell(&mut self, pos: (u32, u32), head: &Head) -> Result<Data, String> {
        let sheet = self.cx.sheet;
        let too_long = || {
            format!(
                "sheet {sheet:?}, cell {}: its text runs past {} MiB, more than ccbulk reads in a cell",
                a1(pos),
                MAX_TEXT >> 20
            )
        };
        let mut value = Data::Empty;
        loop {
            match self.xml.next()? {
                Event::Start(e) if is(&e, "v") => {
                    self.text.clear();
                    self.xml.text(MAX_TEXT, &mut self.text, &too_long)?;
                    if head.kind != Kind::Inline {
                        value = self.value(head, pos)?;
                    }
                }
                Event::Start(e) if is(&e, "is") => {
                    self.text.clear();
                    strings::item(&mut self.xml, &mut self.text, &too_long)?;
                    value = Data::String(self.text.clone());
                }
                // A formula (`<f>`; its cached value is the `<v>`), or anything else.
                Event::Start(_) => self.xml.skip()?,
                Event::End(e) if e.local_name().as_ref() == "c" => return Ok(value),
                Event::Eof => return Err(self.xml.cut_short("c")),
                _ => {}
            }
        }
    }

    /// The value of a `<v>` (its text in `self.text`), by the cell's type and style.
    fn value(&mut self, head: &Head, pos: (u32, u32)) -> Result<Data, String> {
        let (kind, v) = (head.kind, self.text.as_str());
        let sheet = self.cx.sheet;
        let bad = |why: String| format!("sheet {sheet:?}, cell {}: {why}", a1(pos));
        Ok(match kind {
            Kind::Shared if v.is_empty() => Data::Empty,
            Kind::Shared => {
                let i: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("its shared-string number {v:?} is not a number")))?;
                let mut text = String::new();
                if !self.cx.strings.get(i, &mut text)? {
                    return Err(bad(format!(
                        "it names shared string {i}, but the workbook has {}: the file is damaged",
                        self.cx.strings.count()
                    )));
                }
                Data::String(text)
            }
            Kind::Bool => match v.trim() {
                "" => Data::Empty,
                "0" => Data::Bool(false),
                "1" => Data::Bool(true),
                b if b.eq_ignore_ascii_case("false") => Data::Bool(false),
                b if b.eq_ignore_ascii_case("true") => Data::Bool(true),
                _ => return Err(bad(format!("its value {v:?} is not a boolean"))),
            },
            Kind::Date => Data::DateTimeIso(v.to_string()),
            Kind::Error => match v.parse::<CellErrorType>() {
                Ok(e) => Data::Error(e),
                // An error calamine has no name for (`#SPILL!`, `#CALC!`): refused all the same.
                Err(_) => {
                    return Err(format!(
                        "sheet {sheet:?} row {}, column {}: the cell holds the error {v}; fix the formula or type the value",
                        u64::from(pos.0) + 1,
                        column_name(pos.1 as usize)
                    ));
                }
            },
            Kind::Formula => {
                let mut text = String::new();
                strings::unescape(v, &mut text);
                Data::String(text)
            }
            Kind::Plain | Kind::Number if v.is_empty() => Data::Empty,
            Kind::Plain | Kind::Number => match v.parse::<f64>() {
                Ok(n) => self.number(n, head.style),
                Err(_) if kind == Kind::Plain => Data::String(v.to_string()),
                Err(_) => return Err(bad(format!("its value {v:?} is not a number"))),
            },
            Kind::Inline | Kind::Unknown => {
                return Err(bad(format!(
                    "its type t={:?} is not one ccbulk reads",
                    head.unknown.as_deref().unwrap_or_default()
                )));
            }
        })
    }

    /// A number, or a date or duration when its style's format is one.
    fn number(&self, n: f64, style: Option<usize>) -> Data {
        let format = match style {
            Some(s) => self.cx.formats.get(s),
            None => Some(&Format::Other),
        };
        match format {
            Some(Format::DateTime) => Data::DateTime(ExcelDateTime::new(
                n,
                ExcelDateTimeType::DateTime,
                self.cx.is_1904,
            )),
            Some(Format::TimeDelta) => Data::DateTime(ExcelDateTime::new(
                n,
                ExcelDateTimeType::TimeDelta,
                self.cx.is_1904,
            )),
            _ => Data::Float(n),
        }
    }

    /// Adds a cell's text to its row's, refused past [`MAX_ROW_TEXT`].
    fn count_text(&mut self, pos: (u32, u32), value: &Data) -> Result<(), String> {
        let len = match value {
            Data::String(s) | Data::DateTimeIso(s) => s.len(),
            Data::Empty => 0,
            _ => 24,
        };
        if self.row_text.0 != pos.0 {
            self.row_text = (pos.0, 0);
        }
        self.row_text.1 += len;
        if self.row_text.1 > MAX_ROW_TEXT {
            return Err(format!(
                "sheet {:?} row {}: its cells hold more than {} MiB of text (cell {} goes past it), more than ccbulk reads in one row",
                self.cx.sheet,
                u64::from(pos.0) + 1,
                MAX_ROW_TEXT >> 20,
                a1(pos)
            ));
        }
        Ok(())
    }

    /// Where a cell without a reference (`r`) is: after the cell before it, in the row after the
    /// one before when its row has no number either. Past the sheet's last column or row there
    /// is no cell: refused, or messages would name cells like `XFE1`.
    fn unreferenced(&self) -> Result<(u32, u32), String> {
        let sheet = self.cx.sheet;
        if self.row >= MAX_ROWS {
            return Err(format!(
                "sheet {sheet:?}: a row without a number follows row {MAX_ROWS}, the last row of a sheet"
            ));
        }
        if self.col >= MAX_COLS {
            return Err(format!(
                "sheet {sheet:?} row {}: a cell without a reference follows column {}, the last column of a sheet ({MAX_COLS} columns)",
                u64::from(self.row) + 1,
                column_name(MAX_COLS as usize - 1)
            ));
        }
        Ok((self.row, self.col))
    }

    /// A row's `r` (from 1) as a 0-based row.
    fn row_number(&self, r: &str) -> Result<u32, String> {
        match r.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_ROWS).contains(&n) => Ok(n - 1),
            _ => Err(format!(
                "sheet {:?}: its row number {r:?} is not a row of a sheet (1 to {MAX_ROWS})",
                self.cx.sheet
            )),
        }
    }
}

/// What a `<c>` tag says of its cell, read without copying its attributes (a sheet has
/// millions of cells).
struct Head {
    /// Its reference (`r`) as a 0-based (row, column), none when it has none, the text when it
    /// is not a cell's.
    r: Result<Option<(u32, u32)>, String>,
    kind: Kind,
    /// Its style (`s`): an index into the workbook's cell formats (0 when not a number).
    style: Option<usize>,
    /// The type (`t`) when it is not one ccbulk knows.
    unknown: Option<String>,
}

impl Head {
    fn of(e: &BytesStart<'_>) -> Head {
        let mut head = Head {
            r: Ok(None),
            kind: Kind::Plain,
            style: None,
            unknown: None,
        };
        for a in e.attributes().with_checks(false).flatten() {
            let v: &str = &a.value;
            match a.key.as_ref() {
                "r" => head.r = parse_a1(v).map(Some).ok_or_else(|| v.to_string()),
                "s" => head.style = Some(v.parse().unwrap_or(0)),
                "t" => {
                    head.kind = match v {
                        "n" => Kind::Number,
                        "s" => Kind::Shared,
                        "b" => Kind::Bool,
                        "d" => Kind::Date,
                        "e" => Kind::Error,
                        "str" => Kind::Formula,
                        "inlineStr" | "is" => Kind::Inline,
                        _ => Kind::Unknown,
                    };
                    head.unknown = (head.kind == Kind::Unknown).then(|| v.to_string());
                }
                _ => {}
            }
        }
        head
    }
}

/// `B7` → (6, 1); `None` for anything that is not a cell within Excel's bounds.
fn parse_a1(r: &str) -> Option<(u32, u32)> {
    let digits = r.find(|c: char| c.is_ascii_digit())?;
    let (letters, number) = r.split_at(digits);
    if letters.is_empty() || letters.len() > 3 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let col = letters.bytes().try_fold(0u32, |acc, b| {
        b.is_ascii_alphabetic()
            .then(|| acc * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1)
    })?;
    let row: u32 = number.parse().ok()?;
    ((1..=MAX_COLS).contains(&col) && (1..=MAX_ROWS).contains(&row)).then(|| (row - 1, col - 1))
}

/// A 0-based (row, column) as `B7`.
pub(super) fn a1((row, col): (u32, u32)) -> String {
    format!("{}{}", column_name(col as usize), u64::from(row) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_within_a_sheet() {
        assert_eq!(parse_a1("A1"), Some((0, 0)));
        assert_eq!(parse_a1("b7"), Some((6, 1)));
        assert_eq!(parse_a1("XFD1048576"), Some((1_048_575, 16_383)));
        assert_eq!(parse_a1("XFE1"), None);
        assert_eq!(parse_a1("A1048577"), None);
        assert_eq!(parse_a1("A0"), None);
        assert_eq!(parse_a1("7"), None);
        assert_eq!(parse_a1("AAAA1"), None);
        assert_eq!(parse_a1("A1B"), None);
        assert_eq!(parse_a1("A99999999999"), None);
        assert_eq!(a1((6, 27)), "AB7");
    }
}
