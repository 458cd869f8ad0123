//! Reading back a file ccbulk wrote and only ever appends to (the results file, the undo file), for
//! `--resume`: one scanner with one rule for what a crash can leave.
//!
//! The rule: such a file is only ever appended to, a line at a time, so a crash can tear only its
//! last line (or, before any line, its header). A last line that is cut short (it does not end as
//! the writer ends every line, or its cells do not read) is reported as torn, to be cut before
//! appending; a bad line before the last is an error, never a reason to cut the good lines after
//! it. Reading changes nothing: the caller cuts once the resume is known to go ahead.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use csv::ByteRecord;

use super::UTF8_BOM;

/// The longest record read back from a file ccbulk wrote: an input record (at most 1 MiB) with
/// the API's values and errors beside it fits many times over; a file that is not what it claims
/// (no line breaks, a quote never closed) stops there instead of being read into memory whole.
pub(crate) const MAX_OWN_RECORD: u64 = 16 << 20;

/// What the user can do about a file the scanner refuses, said after the reason.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fixes {
    /// After "line N: <what is wrong>; ".
    pub line: &'static str,
    /// After "its first line is cut short and is not the header …; ".
    pub header: &'static str,
}

/// What [`Scanner::open`] found at the start of the file.
pub(crate) enum Start {
    /// A whole header: the lines follow.
    Lines(Box<Scanner>),
    /// The file ends inside its header (a crash while it was written) and what is there is the
    /// start of one of the expected header lines: it holds no line, and is cut to nothing.
    TornHeader { bytes: u64 },
}

/// Reads the lines of an append-only file one by one, applying the torn-line rule.
pub(crate) struct Scanner {
    rdr: csv::Reader<RecordCap<File>>,
    path: std::path::PathBuf,
    len: u64,
    names: Vec<String>,
    fixes: Fixes,
    record: ByteRecord,
    /// Bytes of a torn last line, once the scan reached it.
    torn: u64,
    /// Whole lines read.
    lines: u64,
}

impl Scanner {
    /// Opens `path` and reads its header. `headers` are the header lines (bytes as written, a BOM
    /// included where there is one) this file may have been begun with: a file that ends inside
    /// its first line is ours to cut only if what is there is the start of one of them.
    pub(crate) fn open(
        path: &Path,
        delimiter: u8,
        headers: &[Vec<u8>],
        fixes: Fixes,
    ) -> io::Result<Start> {
        let file = super::read(path)?;
        let len = file.metadata()?.len();
        let mut rdr = crate::input::csv_reader(RecordCap::new(file, MAX_OWN_RECORD), delimiter);
        let mut header = ByteRecord::new();
        let read = rdr.read_byte_record(&mut header).map_err(invalid)?;
        if !read || (rdr.position().byte() >= len && !ends_cleanly(path, 0, len)?) {
            let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
            if is_cut_start_of(path, len, &headers)? {
                return Ok(Start::TornHeader { bytes: len });
            }
            return Err(invalid(format!(
                "its first line is cut short and is not the header this input's file begins with; {}",
                fixes.header
            )));
        }
        let start = rdr.position().byte();
        rdr.get_mut().record_begins(start);
        Ok(Start::Lines(Box::new(Scanner {
            rdr,
            path: path.to_path_buf(),
            len,
            names: header_names(&header),
            fixes,
            record: ByteRecord::new(),
            torn: 0,
            lines: 0,
        })))
    }

    /// The header's column names, trimmed, without a BOM (written when the input had one, or
    /// added by a spreadsheet that saved the file).
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The next whole line, or `None` at the end (a torn last line is not returned: see
    /// [`Scanner::torn_bytes`]). `problem` says what makes a line unreadable to the caller,
    /// besides a cell count other than the header's.
    pub(crate) fn next(
        &mut self,
        problem: impl FnOnce(&ByteRecord) -> Option<String>,
    ) -> io::Result<Option<&ByteRecord>> {
        let start = self.rdr.position().byte();
        if self.torn > 0
            || !self
                .rdr
                .read_byte_record(&mut self.record)
                .map_err(invalid)?
        {
            return Ok(None);
        }
        let end = self.rdr.position().byte();
        let columns = self.names.len();
        let problem = (self.record.len() != columns)
            .then(|| format!("{} cells where the header has {columns}", self.record.len()))
            .or_else(|| problem(&self.record));
        if end >= self.len && (problem.is_some() || !ends_cleanly(&self.path, start, self.len)?) {
            self.torn = self.len - start;
            return Ok(None);
        }
        if let Some(problem) = problem {
            let line = self.record.position().map_or(0, |p| p.line());
            return Err(invalid(format!(
                "line {line}: {problem}; {}",
                self.fixes.line
            )));
        }
        self.rdr.get_mut().record_begins(end);
        self.lines += 1;
        Ok(Some(&self.record))
    }

    /// Bytes of a torn last line, to cut before appending (0 until the scan reached the end).
    pub(crate) fn torn_bytes(&self) -> u64 {
        self.torn
    }

    /// Whole lines read so far.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// The file's length when it was opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The header's column names, trimmed and without a BOM.
fn header_names(header: &ByteRecord) -> Vec<String> {
    header
        .iter()
        .map(|b| {
            let n = String::from_utf8_lossy(b);
            n.trim_start_matches('\u{feff}').trim().to_string()
        })
        .collect()
}

/// Does the last record, `start..len`, end as the writer ends every record: a newline outside
/// quotes? (Inside a quoted field the quotes seen so far are odd in number: the opening one
/// plus doubled pairs.) A cut that happens to fall on a newline inside a quoted last cell would
/// otherwise pass for a whole line.
fn ends_cleanly(path: &Path, start: u64, len: u64) -> io::Result<bool> {
    if len <= start {
        return Ok(false);
    }
    let mut f = super::read(path)?;
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(f, len - start), &mut tail)?;
    let quotes = tail.iter().filter(|&&b| b == b'"').count();
    Ok(tail.last() == Some(&b'\n') && quotes % 2 == 0)
}

/// Is the whole of `path` (`len` bytes) the start of one of `lines` (a header line cut short by
/// a crash)? Reads at most `len` bytes, and nothing when `len` is longer than every line: a file
/// that is not such a cut header may be of any size.
fn is_cut_start_of(path: &Path, len: u64, lines: &[&[u8]]) -> io::Result<bool> {
    if lines.iter().all(|l| len > l.len() as u64) {
        return Ok(false);
    }
    let mut text = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(super::read(path)?, len), &mut text)?;
    Ok(lines.iter().any(|l| l.starts_with(&text)))
}

/// A reader that refuses to let one record run past a limit. The CSV parser asks for more only
/// once it has used what it was given, so everything read since the record began (told by
/// [`RecordCap::record_begins`]) belongs to it, less the parser's buffer.
struct RecordCap<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    record_start: u64,
    max: u64,
}

impl<R> RecordCap<R> {
    fn new(inner: R, max: u64) -> Self {
        RecordCap {
            inner,
            offset: 0,
            record_start: 0,
            max,
        }
    }

    /// The parser starts a record at byte `at`.
    fn record_begins(&mut self, at: u64) {
        self.record_start = at;
    }
}

impl<R: io::Read> io::Read for RecordCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.offset >= self.record_start + self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the record that begins at byte {} runs past {} MiB (not a file ccbulk wrote?)",
                    self.record_start,
                    self.max >> 20
                ),
            ));
        }
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// The header line of such a file as it is written: the byte-order mark if `bom`, then `header`
/// by the one CSV writer. [`Scanner::open`] is given it to recognise the header, whole or torn.
pub(crate) fn header_line(header: &ByteRecord, delimiter: u8, bom: bool) -> io::Result<Vec<u8>> {
    let start = if bom { UTF8_BOM.to_vec() } else { Vec::new() };
    let mut w = crate::input::csv_writer(start, delimiter);
    w.write_byte_record(header)?;
    w.into_inner().map_err(|e| e.into_error())
}

/// The CSV writer of such a file: a new (empty) one is given `header` first, written out at
/// once as [`header_line`] makes it; `None` for a file that has its header.
pub(crate) fn writer(
    file: File,
    delimiter: u8,
    bom: bool,
    header: Option<&ByteRecord>,
) -> io::Result<csv::Writer<File>> {
    if let Some(header) = header {
        (&file).write_all(&header_line(header, delimiter, bom)?)?;
    }
    Ok(crate::input::csv_writer(file, delimiter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_past_the_cap_stops_the_reading() {
        let read_all = |text: &[u8]| -> Result<usize, csv::Error> {
            let cap = RecordCap::new(text, 3 << 20);
            let mut rdr = crate::input::csv_reader(cap, b',');
            let mut record = csv::ByteRecord::new();
            let mut n = 0;
            while rdr.read_byte_record(&mut record)? {
                n += 1;
                let at = rdr.position().byte();
                rdr.get_mut().record_begins(at);
            }
            Ok(n)
        };
        // Many records, together far past the cap: each one is under it.
        let line = format!("{},b\n", "a".repeat(1000));
        assert_eq!(read_all(line.repeat(8000).as_bytes()).unwrap(), 8000);
        // One record of 4 MiB (a quote never closed) is refused.
        let mut open = b"x,y\n\"".to_vec();
        open.resize(4 << 20, b'a');
        let err = read_all(&open).unwrap_err().to_string();
        assert!(err.contains("byte 4 runs past 3 MiB"), "{err}");
    }

    const FIXES: Fixes = Fixes {
        line: "fix it",
        header: "delete it",
    };

    fn scan(text: &[u8], headers: &[Vec<u8>]) -> io::Result<(Vec<Vec<String>>, u64, u64)> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.csv");
        std::fs::write(&p, text).unwrap();
        let mut s = match Scanner::open(&p, b',', headers, FIXES)? {
            Start::TornHeader { bytes } => return Ok((vec![], bytes, 0)),
            Start::Lines(s) => s,
        };
        let mut lines = vec![s.names().to_vec()];
        let no_x = |r: &ByteRecord| (r.get(0) == Some(b"x")).then(|| "an x".to_string());
        while let Some(r) = s.next(no_x)? {
            lines.push(
                r.iter()
                    .map(|c| String::from_utf8_lossy(c).into())
                    .collect(),
            );
        }
        assert_eq!(std::fs::read(&p).unwrap(), text, "reading changes nothing");
        Ok((lines, s.torn_bytes(), s.lines()))
    }

    #[test]
    fn only_the_last_line_can_be_torn() {
        let (lines, torn, n) = scan(b"\xEF\xBB\xBFa,b\n1,\"q\nq\"\n2,3\n4,", &[]).unwrap();
        assert_eq!(lines, [["a", "b"], ["1", "q\nq"], ["2", "3"]]);
        assert_eq!((torn, n), (2, 2));
        // Cut on the newline inside a quoted last cell: every cell is there, yet it is torn.
        let (_, torn, n) = scan(b"a,b\n1,2\n3,\"x\n", &[]).unwrap();
        assert_eq!((torn, n), (5, 1));
        // The caller's problem, or a wrong cell count, in the last line: torn; before it: refused.
        assert_eq!(scan(b"a,b\n1,2\nx,2\n", &[]).unwrap().1, 4);
        let err = scan(b"a,b\nx,2\n1,2\n", &[]).unwrap_err().to_string();
        assert_eq!(err, "line 2: an x; fix it");
        let err = scan(b"a,b\n1\n1,2\n", &[]).unwrap_err().to_string();
        assert_eq!(err, "line 2: 1 cells where the header has 2; fix it");
    }

    #[test]
    fn a_cut_header_is_torn_only_if_it_is_one_of_ours() {
        let ours = vec![b"a,b\n".to_vec(), b"\xEF\xBB\xBFa,b,c\n".to_vec()];
        for cut in [&b""[..], b"a,", b"\xEF\xBB", b"\xEF\xBB\xBFa,b,"] {
            let (_, torn, _) = scan(cut, &ours).unwrap();
            assert_eq!(torn, cut.len() as u64, "{cut:?}");
        }
        let err = scan(b"z,", &ours).unwrap_err().to_string();
        assert!(err.ends_with("; delete it"), "{err}");
    }
}
