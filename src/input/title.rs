//! Title rows above the header ("Customer update list, March" on row 1, the column names on
//! row 3), as spreadsheets exported for people have them: `--header-row N` skips the rows above
//! line N (they still count in line numbers), and a header that matches nothing is looked past
//! for the real one, so the message can name the row to give `--header-row`.

use std::io::{BufRead, Read};

use csv::ByteRecord;

use super::{Columns, InputError, LineTracker};

/// Records looked at past a first row that is not the header.
const LOOK_AHEAD: usize = 20;

/// The most bytes of title lines held above the header: they are kept to be read again as
/// records (their lines count), so a large `--header-row` must not hold the file in memory.
const MAX_TITLE_BYTES: usize = 1 << 20;

/// The text of lines 1 to `header_row` and where the last of them begins: the header line, to
/// sniff the delimiter from. A title line is read whole, however long, in reads of `limit`
/// bytes, within [`MAX_TITLE_BYTES`] for all of them (so its line count stays right); the header
/// line only up to `limit` (so a file without line breaks is not read whole: the CSV reader
/// reads the rest). Fewer lines than asked for is an error naming `--header-row`.
pub(super) fn head_lines(
    decoded: &mut impl BufRead,
    name: &str,
    header_row: u64,
    limit: u64,
) -> Result<(Vec<u8>, usize), InputError> {
    let rows = header_row.max(1);
    let mut head = Vec::new();
    let mut at = 0;
    for line in 1..=rows {
        at = head.len();
        loop {
            if head.len() > MAX_TITLE_BYTES {
                // The lines whole before this one, or this one too once it is under way.
                let by = if head.len() > at { line } else { line - 1 };
                return Err(InputError::Header(format!(
                    "{name}: the lines above --header-row {header_row} hold more than {} MiB (by line {by}); ccbulk skips title rows, not a file's worth: remove the lines above the header",
                    MAX_TITLE_BYTES >> 20,
                )));
            }
            let n = decoded
                .take(limit)
                .read_until(b'\n', &mut head)
                .map_err(|e| InputError::Io {
                    name: name.to_string(),
                    err: e,
                })?;
            if n == 0 && head.len() == at && line > 1 {
                return Err(InputError::Header(format!(
                    "{name} has {} lines: --header-row {header_row} is past its end",
                    line - 1
                )));
            }
            if n == 0 || line == rows || head.last() == Some(&b'\n') {
                break;
            }
        }
    }
    Ok((head, at))
}

/// A header that matched nothing, looked at again: if one of the next records would make a
/// good header, the message says the column names must be the first row and names
/// `--header-row` with that record's line (instead of `--map` suggestions for a title); if the
/// header looks like a title (one cell), the message adds that the flag exists.
/// `header_line`: where the header was read; `sheet_first_row`: a workbook's, whose line
/// numbers are sheet rows (one record a row), else they are the reader's physical lines.
pub(super) fn explain(
    err: InputError,
    name: &str,
    header: &[String],
    header_line: u64,
    reader: &mut csv::Reader<LineTracker<Box<dyn Read + Send>>>,
    (options, delimiter): (&super::InputOptions, u8),
    sheet_first_row: Option<u64>,
) -> InputError {
    let InputError::Header(why) = err else {
        return err;
    };
    let filled: Vec<&str> = header
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    let shown = crate::text::shown(&filled.join(", "));
    let row = if sheet_first_row.is_some() {
        "row"
    } else {
        "line"
    };
    if let Some(line) = later_header(reader, (options, delimiter), sheet_first_row) {
        return InputError::Header(format!(
            "{name}: the column names must be the first row, but {row} {header_line} ({shown}) looks like a title and the names seem to be on {row} {line}: add --header-row {line} to skip the rows above it"
        ));
    }
    // One cell that names a column ("city", with no customerId beside it) is a header that
    // lacks columns, not a title.
    if let [cell] = filled[..]
        && !super::header::names_a_column(cell)
    {
        return InputError::Header(format!(
            "{why}\n{row} {header_line} ({shown}) looks like a title: the column names must be the first row; if they are on a later {row}, give it with --header-row N"
        ));
    }
    InputError::Header(why)
}

/// The line (or sheet row) of the first of the next [`LOOK_AHEAD`] records whose cells match
/// as a header. The delimiter was sniffed from the title, so a record that does not match is
/// also tried split by the delimiter its own text suggests (unless `--delimiter` was given).
fn later_header(
    reader: &mut csv::Reader<LineTracker<Box<dyn Read + Send>>>,
    (options, delimiter): (&super::InputOptions, u8),
    sheet_first_row: Option<u64>,
) -> Option<u64> {
    let matches =
        |names: Vec<String>| Columns::match_header(names, &options.maps, "", options.keyed).is_ok();
    let mut record = ByteRecord::new();
    for _ in 0..LOOK_AHEAD {
        if !reader.read_byte_record(&mut record).ok()? {
            return None;
        }
        let next = reader.position().byte();
        reader.get_mut().record_begins(next);
        let start = record.position().map_or(0, |p| p.byte());
        let mut line = reader.get_mut().line_at(start);
        if let Some(first) = sheet_first_row {
            line = first + record.position().map_or(0, |p| p.record());
        }
        let cells: Vec<String> = record
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .collect();
        if cells.iter().all(|n| n.is_empty()) {
            continue;
        }
        let text = cells.join(&char::from(delimiter).to_string());
        let own = super::sniff::sniff_delimiter(text.as_bytes());
        let split_own = || text.split(char::from(own)).map(|c| c.trim().to_string());
        if matches(cells)
            || (options.delimiter.is_none() && own != delimiter && matches(split_own().collect()))
        {
            return Some(line);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::super::{Input, InputOptions};
    use crate::customer::{Cell, Field};

    const ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    fn open(text: &str, header_row: u64) -> Result<Input, String> {
        Input::from_reader(
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
            "t.csv",
            InputOptions {
                header_row,
                ..InputOptions::default()
            },
        )
        .map_err(|e| e.to_string())
    }

    /// Title lines above the header: the message names the line of the header to give
    /// --header-row, not a --map for the title; with it, the delimiter is sniffed from the
    /// header line (the title has a comma, the table semicolons) and line numbers go on
    /// counting the title lines.
    #[test]
    fn title_lines_are_skipped_with_header_row_and_suggested_without() {
        let text = format!(
            "Customer update list, March\n\ncustomerId;city;country\n{ID};Porto;PT\n{ID};Faro;Portugal\n"
        );
        let err = open(&text, 1).err().unwrap();
        assert!(
            err.contains("t.csv: the column names must be the first row, but line 1 (\"Customer update list, March\") looks like a title and the names seem to be on line 3: add --header-row 3"),
            "{err}"
        );
        assert!(!err.contains("--map"), "{err}");

        let mut input = open(&text, 3).unwrap();
        assert_eq!(input.delimiter, b';');
        let first = input.next_row().unwrap().unwrap();
        assert_eq!((first.number, first.line), (1, 4));
        assert_eq!(first.cell(Field::City), Cell::Set("Porto"));
        let second = input.next_row().unwrap().unwrap();
        let why = second.mapped.unwrap_err();
        assert!(why.starts_with("t.csv line 5, column \"country\""), "{why}");
    }

    /// A one-cell first row with no header found below it still gets the hint, unless the cell
    /// names a column; a header row past the end of the file is named.
    #[test]
    fn a_lone_title_gets_the_hint_and_a_row_past_the_end_is_named() {
        let err = open("Customers\nfoo,bar\n", 1).err().unwrap();
        assert!(
            err.contains("line 1 (\"Customers\") looks like a title")
                && err.contains("give it with --header-row N"),
            "{err}"
        );
        let err = open("customerId,city\n", 4).err().unwrap();
        assert!(err.contains("--header-row 4 is past its end"), "{err}");
        // One cell naming a column is a header without its customerId column, not a title.
        let err = open("City\nPorto\n", 1).err().unwrap();
        assert!(err.contains("no customerId (or id) column"), "{err}");
        assert!(!err.contains("title"), "{err}");
    }

    /// The title lines are held to be read again, so their bytes are bounded: a large
    /// --header-row is refused once they pass the bound, not read into memory whole.
    #[test]
    fn title_lines_past_the_bound_are_refused() {
        let line = format!("{}\n", "t".repeat(1000));
        let text = line.repeat(1100) + "customerId,city\n";
        let err = open(&text, 1101).err().unwrap();
        assert!(
            err.contains("lines above --header-row 1101 hold more than 1 MiB"),
            "{err}"
        );
        let text = line.repeat(1000) + &format!("customerId,city\n{ID},Porto\n");
        let mut input = open(&text, 1001).unwrap();
        assert_eq!(input.next_row().unwrap().unwrap().line, 1002);
    }

    /// A title line longer than one read of the header (64 KiB) is still one line: the header
    /// under it is found where `--header-row` says, sniffed (semicolons, while the title has
    /// commas) and line numbers stay right; one line short of the header row is named as such.
    #[test]
    fn a_title_line_over_64_kib_counts_as_one_line() {
        let title = format!("{}\n", "Title, long,".repeat(10_000));
        assert!(title.len() > 64 * 1024);
        let text = format!("{title}customerId;city;country\n{ID};Porto;PT\n{ID};Faro;Portugal\n");
        let mut input = open(&text, 2).unwrap();
        assert_eq!(input.delimiter, b';');
        let first = input.next_row().unwrap().unwrap();
        assert_eq!((first.number, first.line), (1, 3));
        let second = input.next_row().unwrap().unwrap();
        let why = second.mapped.unwrap_err();
        assert!(why.starts_with("t.csv line 4, column \"country\""), "{why}");

        let err = open(&title, 3).err().unwrap();
        assert!(
            err.contains("t.csv has 1 lines: --header-row 3 is past its end"),
            "{err}"
        );
    }
}
