//! Opening an input: a workbook's sheet or a file or standard input, decoded and checked, its
//! title rows skipped, its delimiter sniffed and its header read and matched, before the first
//! record is read.

use std::fs::File;
use std::io::{self, BufRead, Read};

use csv::ByteRecord;

use super::lines::LineTracker;
use super::sniff::{sniff_delimiter, wrong_delimiter};
use super::{
    Columns, Input, InputError, InputOptions, Source, budget, csv_reader, decode, title, workbook,
};

/// How much of the input is read ahead to sniff the delimiter from the header line.
const HEADER_SNIFF_BYTES: u64 = 64 * 1024;

impl Input {
    /// Opens a file or standard input and reads the header.
    pub fn open(source: &Source, options: InputOptions) -> Result<Input, InputError> {
        let name = source.display();
        if let Source::Path(p) = source
            && workbook::is_workbook(p)
        {
            let sheet = workbook::read(p, options.sheet.as_deref(), options.header_row)?;
            // The sheet as CSV: commas, UTF-8, its title rows left out; the files written
            // from it get a BOM, as the spreadsheet that will open them expects.
            let options = InputOptions {
                delimiter: Some(b','),
                encoding: None,
                header_row: 1,
                ..options
            };
            let mut input = Input::from_text(sheet.csv, &name, options, Some(sheet.first_row))?;
            input.bom = true;
            return Ok(input);
        }
        if let Some(sheet) = &options.sheet {
            return Err(InputError::Header(format!(
                "--sheet {sheet:?}: {name} is not a workbook (.xlsx, .xlsm, .xls, .xlsb, .ods); --sheet names a workbook's sheet"
            )));
        }
        // A regular file is checked whole before anything is read from it (at some GB/s):
        // rows of a legacy export that happen to be plain ASCII must not be sent while the
        // others come out garbled or invalid.
        if let (Source::Path(p), None) = (source, options.encoding) {
            let file = File::open(p).map_err(|e| InputError::Io {
                name: name.clone(),
                err: e,
            })?;
            decode::check_utf8(file, &name, None)?;
        }
        let raw: Box<dyn Read + Send> = match source {
            Source::Stdin => Box::new(io::stdin()),
            Source::Path(p) => Box::new(File::open(p).map_err(|e| InputError::Io {
                name: name.clone(),
                err: e,
            })?),
        };
        Input::from_reader(raw, &name, options)
    }

    /// Reads the header from any reader (tests, benchmarks).
    pub fn from_reader(
        raw: Box<dyn Read + Send>,
        name: &str,
        options: InputOptions,
    ) -> Result<Input, InputError> {
        Input::from_text(raw, name, options, None)
    }

    /// Reads the header; `sheet_first_row`: the sheet row of a workbook's first record (its
    /// line numbers are sheet rows).
    fn from_text(
        raw: Box<dyn Read + Send>,
        name: &str,
        options: InputOptions,
        sheet_first_row: Option<u64>,
    ) -> Result<Input, InputError> {
        let (mut decoded, bom) = decode::decoded(raw, name, options.encoding)?;
        let (head, header_at) = header_line(&mut decoded, name, options.header_row)?;
        if options.encoding.is_none() {
            check_header_utf8(&head, name)?;
        }
        // Kept for a message about the delimiter (at most HEADER_SNIFF_BYTES).
        let head_line = head[header_at..].to_vec();
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff_delimiter(&head_line));
        let rest: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(decoded));
        let mut reader = csv_reader(LineTracker::new(rest), delimiter);
        let (names, line) = read_header(&mut reader, name, options.header_row)?;
        let one_column = names.len() == 1;
        let columns = match Columns::match_header(names.clone(), &options.maps, name, options.keyed)
        {
            Ok(c) => c,
            // A forced delimiter the header does not use makes it one long column, and the
            // suggestions for that column are nonsense: say what the header looks like instead.
            Err(e) if one_column && options.delimiter.is_some() => {
                return Err(wrong_delimiter(name, delimiter, &head_line).unwrap_or(e));
            }
            Err(e) => {
                let line = sheet_first_row.unwrap_or(line);
                let why = title::explain(
                    e,
                    name,
                    &names,
                    line,
                    &mut reader,
                    (&options, delimiter),
                    sheet_first_row,
                );
                return Err(why);
            }
        };
        let mut input = Input {
            name: name.to_string(),
            columns,
            delimiter,
            bom,
            reader,
            options,
            record: ByteRecord::new(),
            count: 0,
            sheet_first_row,
            budget: budget::Budget::new(budget::ROW_BYTES),
            ahead: std::collections::VecDeque::new(),
        };
        if input.options.encoding.is_none() {
            input.check_first_row()?;
        }
        Ok(input)
    }

    /// Standard input is checked as UTF-8 on what has arrived, never by waiting for more: its
    /// first row is read now (only it), and if it is not UTF-8 the input is refused before
    /// anything is sent; a later row that is not is only invalid (SPEC, Input CSV). A regular
    /// file was checked whole already, so this finds nothing there.
    fn check_first_row(&mut self) -> Result<(), InputError> {
        let Some(row) = self.next_row()? else {
            return Ok(());
        };
        let bytes = row.record.as_slice();
        if let Err(e) = std::str::from_utf8(bytes) {
            let at = e.valid_up_to();
            let line = row.line + memchr::memchr_iter(b'\n', &bytes[..at]).count() as u64;
            return Err(decode::not_utf8(&self.name, line, bytes[at]));
        }
        self.ahead.push_back(row);
        Ok(())
    }
}

/// The lines up to the header (`--header-row`, the first by default) and where the header
/// line begins, to sniff the delimiter from (bounded: a file with no line break must not be read
/// into memory whole). Refused when empty, or when NUL bytes show the file is not text in the
/// encoding read.
fn header_line(
    decoded: &mut impl BufRead,
    name: &str,
    header_row: u64,
) -> Result<(Vec<u8>, usize), InputError> {
    let (head, at) = title::head_lines(decoded, name, header_row, HEADER_SNIFF_BYTES)?;
    if head.is_empty() {
        return Err(InputError::Header(format!(
            "{name} is empty: the first line must be a header"
        )));
    }
    if head[at..].contains(&0) {
        return Err(InputError::Header(format!(
            "{name}: the header holds NUL bytes, so the file is not text in the encoding read: if it is UTF-16 without a byte-order mark, add --encoding utf-16le (or utf-16be)"
        )));
    }
    Ok((head, at))
}

/// Refuses a header line that is not UTF-8 (input given no `--encoding`): nothing else of the
/// input need have arrived to say so. A sequence cut by the end of a header line too long to
/// sniff whole is not an error.
fn check_header_utf8(head: &[u8], name: &str) -> Result<(), InputError> {
    match std::str::from_utf8(head) {
        Err(e) if e.error_len().is_some() || (head.len() as u64) < HEADER_SNIFF_BYTES => {
            // Title rows (`--header-row`) may come before the header line.
            let line = 1 + memchr::memchr_iter(b'\n', &head[..e.valid_up_to()]).count() as u64;
            Err(decode::not_utf8(name, line, head[e.valid_up_to()]))
        }
        _ => Ok(()),
    }
}

/// The header record's names, trimmed, and its line; records on lines above `header_row` are
/// titles, skipped (the reader's line count goes on through them).
fn read_header(
    reader: &mut csv::Reader<LineTracker<Box<dyn Read + Send>>>,
    name: &str,
    header_row: u64,
) -> Result<(Vec<String>, u64), InputError> {
    let mut header = ByteRecord::new();
    loop {
        let found = reader.read_byte_record(&mut header).map_err(|e| {
            match reader.get_mut().overflow_line() {
                Some(line) => InputError::TooLong {
                    name: name.to_string(),
                    line,
                },
                None => InputError::Header(format!("{name}: the header cannot be read: {e}")),
            }
        })?;
        let next = reader.position().byte();
        reader.get_mut().record_begins(next);
        if !found {
            return Err(InputError::Header(if header_row > 1 {
                format!("{name} has no line {header_row} to read the header from (--header-row)")
            } else {
                format!("{name} is empty: the first line must be a header")
            }));
        }
        let header_start = header.position().map_or(0, |p| p.byte());
        let line = reader.get_mut().line_at(header_start);
        if line >= header_row {
            let names = header
                .iter()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .collect();
            return Ok((names, line));
        }
    }
}
