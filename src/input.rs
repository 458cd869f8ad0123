//! Reading input CSVs: the one place that builds CSV readers and writers (delimiter, BOM, encoding
//! and quoting rules live here once), header matching, and turning each record into a checked
//! update. Streaming: one record at a time, never the whole file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use crate::customer::{Cell, Field, Rules};

mod budget;
mod decode;
mod header;
mod lines;
mod mapping;
mod open;
mod repeats;
mod sniff;
mod title;
pub mod workbook;

pub use header::{Columns, is_ccbulk_column, normalize, valid_names};
use lines::LineTracker;
use mapping::Slot;
pub(crate) use mapping::parse_guid;
pub use mapping::{Mapped, parse_bool};
pub use repeats::Repeats;
pub use sniff::sniff_delimiter;

/// Where the input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Stdin,
    Path(PathBuf),
}

impl Source {
    /// `-` is standard input; anything else a path.
    pub fn parse(s: &str) -> Source {
        if s == "-" {
            Source::Stdin
        } else {
            Source::Path(PathBuf::from(s))
        }
    }

    /// How messages name it.
    pub fn display(&self) -> String {
        match self {
            Source::Stdin => "stdin".to_string(),
            Source::Path(p) => p.display().to_string(),
        }
    }
}

/// An input problem that stops the run before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {name}: {err}")]
    Io { name: String, err: io::Error },
    #[error("{0}")]
    Header(String),
    /// A record (or the header) past `lines::MAX_RECORD` (1 MiB): read no further.
    #[error(
        "{name} line {line}: the record that begins here runs past 1 MiB (a quote not closed, or no line breaks?); nothing after it was read"
    )]
    TooLong { name: String, line: u64 },
}

/// How to read and check the input.
#[derive(Clone, Debug)]
pub struct InputOptions {
    /// Forced delimiter; sniffed from the header when `None`.
    pub delimiter: Option<u8>,
    /// Transcode from this encoding (a UTF-16 BOM is always honoured).
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// A cell equal to this clears the field.
    pub null_marker: String,
    /// `--map` renames: header (as the user wrote it) → target name.
    pub maps: Vec<(String, String)>,
    /// Provider-rule context.
    pub rules: Rules,
    /// Use a results file's `ccbulk_row` as the row number (replay).
    pub prior_numbers: bool,
    /// Replace mode: the row is the whole customer, so an empty required cell would blank it.
    pub required_cells: bool,
    /// `--key internalIdentifier`: rows name their customer by that column, resolved later.
    pub keyed: bool,
    /// `--sheet NAME`: the sheet of a workbook input (the first when `None`).
    pub sheet: Option<String>,
    /// `--header-row N`: the line (a workbook's sheet row) that holds the column names, from
    /// 1; the rows above it are titles, skipped.
    pub header_row: u64,
    /// Merge mode and plan, not a dry run: a cell that fails its check is refused only if it
    /// would change the customer, known after the GET (see [`Mapped::deferred`]).
    pub defer_checks: bool,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            delimiter: None,
            encoding: None,
            null_marker: "#NULL".to_string(),
            maps: Vec::new(),
            rules: Rules::default(),
            prior_numbers: false,
            required_cells: false,
            keyed: false,
            sheet: None,
            header_row: 1,
            defer_checks: false,
        }
    }
}

/// The one CSV reader configuration: no header handling by the crate (ccbulk reads the header
/// itself to report physical lines), flexible cell counts (checked per row, so one short row does
/// not stop the file).
pub fn csv_reader<R: Read>(rdr: R, delimiter: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(256 * 1024)
        .from_reader(rdr)
}

/// The one CSV writer configuration, for results, plan and undo files.
pub fn csv_writer<W: Write>(w: W, delimiter: u8) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(64 * 1024)
        .from_writer(w)
}

/// One data record of the input.
#[derive(Clone, Debug)]
pub struct Row {
    /// `ccbulk_row`: the number among the input's data records, from 1 (or the prior one in replay).
    pub number: u64,
    /// Physical line where the record starts.
    pub line: u64,
    /// The cells as they came.
    pub record: ByteRecord,
    /// The checked update, or why the row cannot be used.
    pub mapped: Result<Mapped, String>,
    /// The row's share of the reader's byte budget, given back when the row is dropped.
    _held: budget::Held,
}

impl Row {
    /// What the row asks for a field (`Keep` for an invalid row).
    pub fn cell(&self, field: Field) -> Cell<'_> {
        self.cell_in(field, None)
    }

    /// Every field with what the row asks for it. The record's text is checked as UTF-8 once,
    /// not once a cell (BENCHMARKS.md, change 17).
    pub fn cells(&self) -> impl Iterator<Item = (Field, Cell<'_>)> {
        let all = std::str::from_utf8(self.record.as_slice()).ok();
        Field::ALL
            .into_iter()
            .map(move |f| (f, self.cell_in(f, all)))
    }

    /// What the row asks for `field`; `all` is the record's text if already checked as UTF-8.
    fn cell_in<'a>(&'a self, field: Field, all: Option<&'a str>) -> Cell<'a> {
        let Ok(m) = &self.mapped else {
            return Cell::Keep;
        };
        match m.slots[field.index()] {
            Slot::Keep => Cell::Keep,
            Slot::Clear => Cell::Clear,
            Slot::Set(col) => Cell::Set(cell_text(&self.record, all, col as usize)),
        }
    }
}

/// A cell as trimmed text; empty when absent or not UTF-8 (mapping has checked it already).
fn text(record: &ByteRecord, col: usize) -> &str {
    record
        .get(col)
        .and_then(|b| std::str::from_utf8(b).ok())
        .map_or("", value)
}

/// What a cell stands for: trimmed, and without the `'` ccbulk puts before a value a
/// spreadsheet would take for a formula (`formula`), so a file ccbulk wrote reads back as the
/// values it was written from.
fn value(s: &str) -> &str {
    crate::formula::unguard(trim(s))
}

/// A cell as trimmed text, cut from `all`, the whole record's bytes already checked as UTF-8
/// (`None` if they are not: then the cell is checked alone).
fn cell_text<'a>(record: &'a ByteRecord, all: Option<&'a str>, col: usize) -> &'a str {
    match (all, record.range(col)) {
        (Some(all), Some(range)) => all.get(range).map_or("", value),
        _ => text(record, col),
    }
}

/// White space trimmed off both ends. Most cells have none: two byte checks then skip the
/// Unicode-aware scan.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if !a.is_ascii_graphic() || !b.is_ascii_graphic() => s.trim(),
        _ => s,
    }
}

/// An open input: the header is read and matched, records come one at a time.
pub struct Input {
    /// How messages name the input.
    pub name: String,
    pub columns: Columns,
    /// The delimiter in use (sniffed or forced); results files use it too.
    pub delimiter: u8,
    /// The input began with a byte-order mark: the files written from it get one too, so a
    /// spreadsheet that needed it to read the input reads them the same way.
    pub bom: bool,
    reader: csv::Reader<LineTracker<Box<dyn Read + Send>>>,
    options: InputOptions,
    record: ByteRecord,
    count: u64,
    /// A workbook's sheet: the sheet row of the header, so that messages give sheet rows.
    sheet_first_row: Option<u64>,
    /// Bytes of rows handed on and not yet dropped, bounded.
    budget: std::sync::Arc<budget::Budget>,
    /// Rows read ahead, handed out first: the first row, read at open to be checked
    /// ([`Input::check_first_row`]); the rows a resumed standard input's check read
    /// ([`Input::unread`]).
    ahead: std::collections::VecDeque<Row>,
}

/// The number of records in a file that are not wholly empty, header included, for the
/// progress display's total: read as the input is (no record past 1 MiB read into memory; the
/// count stops there).
pub fn count_records(path: &Path, delimiter: u8) -> Option<u64> {
    let file = File::open(path).ok()?;
    let mut rdr = csv_reader(LineTracker::new(file), delimiter);
    let mut rec = ByteRecord::new();
    let mut n: u64 = 0;
    while let Ok(true) = rdr.read_byte_record(&mut rec) {
        if !rec.iter().all(|c| c.trim_ascii().is_empty()) {
            n += 1;
        }
        let next = rdr.position().byte();
        let tracker = rdr.get_mut();
        tracker.record_begins(next);
        // Forgets the line starts behind it (nobody asks for lines here).
        tracker.line_at(next);
    }
    Some(n)
}

impl Input {
    /// Gives back `rows` read before the rest (in their order): [`Input::next_row`] hands them
    /// out again first. Standard input cannot be read twice, so a check that reads ahead keeps
    /// the rows the run still needs.
    pub fn unread(&mut self, rows: Vec<Row>) {
        for row in rows.into_iter().rev() {
            self.ahead.push_front(row);
        }
    }

    /// The next data record, checked and mapped; `None` at the end. Wholly empty records
    /// (Excel's trailing `,,,,` lines) are skipped.
    pub fn next_row(&mut self) -> Result<Option<Row>, InputError> {
        if let Some(row) = self.ahead.pop_front() {
            return Ok(Some(row));
        }
        loop {
            let more = match self.reader.read_byte_record(&mut self.record) {
                Ok(more) => more,
                Err(e) => {
                    return Err(match self.reader.get_mut().overflow_line() {
                        Some(line) => InputError::TooLong {
                            name: self.name.clone(),
                            line,
                        },
                        None => InputError::Io {
                            name: self.name.clone(),
                            err: io::Error::other(e.to_string()),
                        },
                    });
                }
            };
            if !more {
                return Ok(None);
            }
            let next = self.reader.position().byte();
            self.reader.get_mut().record_begins(next);
            // Asked for every record, skipped ones too, so the tracker forgets lines behind us.
            let start = self.record.position().map_or(0, |p| p.byte());
            let mut line = self.reader.get_mut().line_at(start);
            if let Some(first) = self.sheet_first_row {
                // One record a sheet row, the header first.
                line = first + self.record.position().map_or(0, |p| p.record());
            }
            if self.record.iter().all(|c| c.trim_ascii().is_empty()) {
                continue;
            }
            self.count += 1;
            let next = self.next_record();
            let record = std::mem::replace(&mut self.record, next);
            let number = match (self.options.prior_numbers, self.columns.prior_row) {
                (true, Some(col)) => record
                    .get(col)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(self.count),
                _ => self.count,
            };
            let mapped = self.map(&record, line);
            // What the row occupies: its bytes and each cell's bounds, and the rest of a Row.
            let cost = record.as_slice().len() + 8 * record.len() + 256;
            let held = self.budget.take(cost);
            return Ok(Some(Row {
                number,
                line,
                record,
                mapped,
                _held: held,
            }));
        }
    }

    /// A record to read the next row into, the size of the last (an empty record grows by
    /// doubling: a dozen reallocations per row).
    fn next_record(&self) -> ByteRecord {
        ByteRecord::with_capacity(
            self.record.as_slice().len() * 5 / 4 + 16,
            self.record.len() + 1,
        )
    }

    /// The `ccbulk_outcome` a results file gave this row, if the input is a results file.
    pub fn prior_outcome<'r>(&self, row: &'r Row) -> Option<&'r str> {
        let col = self.columns.prior_outcome?;
        row.record
            .get(col)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::trim)
    }
}

/// `<dir>/<stem><suffix>` beside `path` (the stem is the file name without its last extension).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::shown;

    fn open(text: &[u8]) -> Result<Input, InputError> {
        Input::from_reader(
            Box::new(io::Cursor::new(text.to_vec())),
            "t.csv",
            InputOptions::default(),
        )
    }

    fn rows(input: &mut Input) -> Vec<Row> {
        let mut v = Vec::new();
        while let Some(r) = input.next_row().unwrap() {
            v.push(r);
        }
        v
    }

    const ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    #[test]
    fn header_matching_ignores_case_and_punctuation() {
        let text =
            format!("\u{feff}Customer ID;Company Name;E-mail;zip_code\n{ID};Fabrikam;a@b.pt;x\n");
        let err = open(text.as_bytes()).err().unwrap().to_string();
        assert!(
            err.contains("\"zip_code\"") && err.contains("\"zip\""),
            "{err}"
        );
        let text = format!("\u{feff}Customer ID;Company Name;E-mail\n{ID};Fabrikam;a@b.pt\n");
        let mut input = open(text.as_bytes()).unwrap();
        assert_eq!(input.delimiter, b';');
        let r = rows(&mut input);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].cell(Field::CompanyName), Cell::Set("Fabrikam"));
        assert_eq!(r[0].cell(Field::Email), Cell::Set("a@b.pt"));
    }

    #[test]
    fn unknown_header_names_nearest_field() {
        let err = open(b"id,Compnay Name\n").err().unwrap().to_string();
        assert!(
            err.contains("\"Compnay Name\"") && err.contains("companyName"),
            "{err}"
        );
    }

    #[test]
    fn cells_stay_strings_and_markers_work() {
        let text = format!("id,zip,phone,taxId,middleName\n{ID}, 0150-123 ,+351 912,#NULL,\n");
        let mut input = open(text.as_bytes()).unwrap();
        let r = rows(&mut input);
        assert_eq!(r[0].cell(Field::Zip), Cell::Set("0150-123"));
        assert_eq!(r[0].cell(Field::Phone), Cell::Set("+351 912"));
        assert_eq!(r[0].cell(Field::TaxId), Cell::Clear);
        assert_eq!(r[0].cell(Field::MiddleName), Cell::Keep);
    }

    #[test]
    fn bad_rows_are_invalid_with_line_and_column() {
        let text = format!(
            "id,country,email\nnot-a-guid,PT,a@b.pt\n{ID},Portugal,a@b.pt\n\"{ID}\",PT,\"multi\nline\"\n{ID},PT\n,,\n{ID},ES,x@y.es\n"
        );
        let mut input = open(text.as_bytes()).unwrap();
        let r = rows(&mut input);
        assert_eq!(r.len(), 5, "the empty ,, line is skipped");
        let e0 = r[0].mapped.as_ref().unwrap_err();
        assert!(e0.contains("t.csv line 2") && e0.contains("\"id\""), "{e0}");
        let e1 = r[1].mapped.as_ref().unwrap_err();
        assert!(e1.contains("line 3") && e1.contains("try \"PT\""), "{e1}");
        let e2 = r[2].mapped.as_ref().unwrap_err();
        assert!(e2.contains("line 4") && e2.contains("email"), "{e2}");
        let e3 = r[3].mapped.as_ref().unwrap_err();
        assert!(e3.contains("line 6") && e3.contains("2 cells"), "{e3}");
        assert!(r[4].mapped.is_ok());
        assert_eq!(r[4].line, 8);
        assert_eq!(r[4].number, 5);
    }

    /// Without --encoding, a stream (standard input) is checked on what has arrived: a header
    /// or first row that is not UTF-8 refuses the whole input (nothing is sent), naming the line
    /// and the encoding to try; a later row that is not makes only itself invalid.
    #[test]
    fn invalid_utf8_refuses_the_input_at_its_first_row_or_spoils_only_its_row_later() {
        let mut text = format!("id,city\n{ID},Lisb").into_bytes();
        text.extend_from_slice(&[0xE3, b'o', b'\n']);
        text.extend_from_slice(format!("{ID},Porto\n").as_bytes());
        let err = open(&text).err().unwrap().to_string();
        assert!(
            err.contains("t.csv is not UTF-8: line 2 holds the byte 0xE3")
                && err.contains("--encoding windows-1252"),
            "{err}"
        );
        // A quoted first row over two lines: the line of the bad byte.
        let mut text = format!("id,city\n{ID},\"Lisboa\nLisb").into_bytes();
        text.extend_from_slice(&[0xE3, b'o', b'"', b'\n']);
        let err = open(&text).err().unwrap().to_string();
        assert!(err.contains("line 3 holds the byte 0xE3"), "{err}");
        // The header.
        let mut text = b"id,cidad".to_vec();
        text.extend_from_slice(&[0xE9, b'\n']);
        let err = open(&text).err().unwrap().to_string();
        assert!(err.contains("line 1 holds the byte 0xE9"), "{err}");
        // A truncated sequence at the very end of a complete input is refused too.
        let mut cut = format!("id,city\n{ID},Lisb").into_bytes();
        cut.push(0xC3);
        assert!(open(&cut).err().unwrap().to_string().contains("line 2"));

        let mut later = format!("id,city\n{ID},Porto\n{ID},Lisb").into_bytes();
        later.extend_from_slice(&[0xE3, b'o', b'\n']);
        later.extend_from_slice(format!("{ID},Faro\n").as_bytes());
        let mut input = open(&later).unwrap();
        let r = rows(&mut input);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].cell(Field::City), Cell::Set("Porto"));
        assert!(r[1].mapped.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(r[2].cell(Field::City), Cell::Set("Faro"));
    }

    /// The first row is read at open (to be checked) and still comes first; an input with no
    /// row opens and ends.
    #[test]
    fn the_row_read_at_open_comes_first() {
        let mut input = open(format!("id,city\n{ID},Porto\n{ID},Faro\n").as_bytes()).unwrap();
        let r = rows(&mut input);
        assert_eq!((r[0].number, r[1].number), (1, 2));
        assert_eq!(r[0].line, 2);
        let mut input = open(b"id,city\n").unwrap();
        assert!(input.next_row().unwrap().is_none());
    }

    /// A regular file is checked whole: a bad byte anywhere refuses it at open.
    #[test]
    fn a_regular_file_is_checked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.csv");
        let mut text = b"id,city\n".to_vec();
        while text.len() < 3 << 20 {
            text.extend_from_slice(format!("{ID},Porto\n").as_bytes());
        }
        text.extend_from_slice(format!("{ID},Lisb").as_bytes());
        text.extend_from_slice(&[0xE3, b'o', b'\n']);
        std::fs::write(&path, &text).unwrap();
        let lines = memchr::memchr_iter(b'\n', &text).count();
        let err = Input::open(&Source::Path(path.clone()), InputOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("line {lines} holds the byte 0xE3")),
            "{err}"
        );
        let with = InputOptions {
            encoding: Some(encoding_rs::WINDOWS_1252),
            ..InputOptions::default()
        };
        let mut input = Input::open(&Source::Path(path), with).unwrap();
        let r = rows(&mut input);
        assert_eq!(r.last().unwrap().cell(Field::City), Cell::Set("Lisbão"));
    }

    #[test]
    fn a_forced_delimiter_the_header_does_not_use_is_named() {
        let text = format!("customerId,companyName,city\n{ID},Fabrikam,Porto\n");
        let err = Input::from_reader(
            Box::new(io::Cursor::new(text.into_bytes())),
            "t.csv",
            InputOptions {
                delimiter: Some(b';'),
                ..InputOptions::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("with --delimiter ';' the header is one single column")
                && err.contains("looks delimited by ','"),
            "{err}"
        );
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter(b"a;b;c\n"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\tc\n"), b'\t');
        assert_eq!(sniff_delimiter(b"a|b\n"), b'|');
        assert_eq!(sniff_delimiter(b"\"a;b\",c\n"), b',');
        assert_eq!(sniff_delimiter(b"a\n"), b',');
    }

    #[test]
    fn results_columns_are_ignored_but_found() {
        let text = format!("id,city,ccbulk_row,ccbulk_outcome\n{ID},Porto,7,failed\n");
        let mut input = Input::from_reader(
            Box::new(io::Cursor::new(text.into_bytes())),
            "r.csv",
            InputOptions {
                prior_numbers: true,
                ..InputOptions::default()
            },
        )
        .unwrap();
        assert_eq!(input.columns.echo, vec![0, 1]);
        let r = rows(&mut input);
        assert_eq!(r[0].number, 7);
        assert_eq!(input.prior_outcome(&r[0]), Some("failed"));
    }

    #[test]
    fn explicit_utf8_still_refuses_bad_bytes() {
        let mut text = format!("id,city\n{ID},Lisb").into_bytes();
        text.extend_from_slice(&[0xE3, b'o', b'\n']);
        let mut input = Input::from_reader(
            Box::new(io::Cursor::new(text)),
            "t.csv",
            InputOptions {
                encoding: Some(encoding_rs::UTF_8),
                ..InputOptions::default()
            },
        )
        .unwrap();
        let r = rows(&mut input);
        let err = r[0].mapped.as_ref().unwrap_err();
        assert!(
            err.contains("\"Lisb\u{FFFD}o\" is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn nul_bytes_in_the_header_suggest_utf16() {
        let text: Vec<u8> = "id,city\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let err = open(&text).err().unwrap().to_string();
        assert!(err.contains("--encoding utf-16le"), "{err}");
    }

    #[test]
    fn messages_show_values_on_one_short_line() {
        assert_eq!(shown("a\"b\r\nc\td"), "\"a\\\"b\\r\\nc\\td\"");
        assert_eq!(shown("\u{1}"), "\"\\u{1}\"");
        let long = shown(&"é".repeat(100));
        assert_eq!(long.chars().count(), 60 + 3, "{long}");
        assert!(long.ends_with("…\""));
    }
}
