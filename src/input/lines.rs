//! Physical line numbers for input records, whatever the line ends: the CSV parser's own count is
//! one short on CRLF files and stuck at 1 on lone-CR files, and messages must name the line a user
//! sees in an editor.

use std::collections::VecDeque;
use std::io::{self, Read};

/// Passes the input through to the CSV parser and notes where each line that holds data begins,
/// so a record's physical line is right with LF, CRLF and lone-CR (old Mac Excel) line ends and
/// across newlines in quoted cells. The csv crate's own count sees only `\n`, and with CRLF it
/// counts the `\n` ending one record as part of the next, one line short.
pub(super) struct LineTracker<R> {
    inner: R,
    /// Bytes passed on so far.
    offset: u64,
    /// The last byte passed on (`\n` before the first, so the input begins line 1).
    prev: u8,
    /// Lines begun so far.
    lines: u64,
    /// (offset, line) of lines that begin with data, read ahead but not yet asked about. Bounded by
    /// the CSV parser's buffer: entries behind the record being read are dropped.
    starts: VecDeque<(u64, u64)>,
    /// Where the record being read began: no read goes past it by more than [`MAX_RECORD`].
    record_start: u64,
    /// Set when a read was refused for that reason.
    overflowed: bool,
}

/// The longest record (or header) read into memory: an unclosed quote or a file without line
/// breaks would otherwise make one record of the whole file.
pub const MAX_RECORD: u64 = 1 << 20;

impl<R: Read> LineTracker<R> {
    pub(super) fn new(inner: R) -> Self {
        LineTracker {
            inner,
            offset: 0,
            prev: b'\n',
            lines: 0,
            starts: VecDeque::new(),
            record_start: 0,
            overflowed: false,
        }
    }

    /// The parser starts a record at byte `at`: reads may go up to [`MAX_RECORD`] past it.
    pub(super) fn record_begins(&mut self, at: u64) {
        self.record_start = at;
    }

    /// The line where the record that ran past [`MAX_RECORD`] began, if one did.
    pub(super) fn overflow_line(&mut self) -> Option<u64> {
        if !self.overflowed {
            return None;
        }
        Some(self.line_at(self.record_start))
    }

    /// The physical line of a record the parser began reading at byte `start`. The parser's start
    /// may sit on line ends it then skips (the `\n` of a CRLF, blank lines); the record's first
    /// data byte begins the first data line at or after it.
    pub(super) fn line_at(&mut self, start: u64) -> u64 {
        while self.starts.front().is_some_and(|(at, _)| *at < start) {
            self.starts.pop_front();
        }
        self.starts
            .front()
            .map_or(self.lines.max(1), |(_, line)| *line)
    }

    /// Byte `b` at `pos`, after `before`: a line begins after `\n`, and after a `\r` not followed
    /// by `\n`.
    fn consider(&mut self, pos: u64, before: u8, b: u8) {
        if before == b'\n' || (before == b'\r' && b != b'\n') {
            self.lines += 1;
            if b != b'\r' && b != b'\n' {
                self.starts.push_back((pos, self.lines));
            }
        }
    }

    fn note(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else { return };
        self.consider(self.offset, self.prev, chunk[0]);
        for i in memchr::memchr2_iter(b'\r', b'\n', chunk) {
            if let Some(&b) = chunk.get(i + 1) {
                self.consider(self.offset + i as u64 + 1, chunk[i], b);
            }
        }
        self.prev = last;
        self.offset += chunk.len() as u64;
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The parser asks for more only once it has used all it was given: everything since the
        // record's start belongs to that one record.
        if self.offset >= self.record_start + MAX_RECORD {
            self.overflowed = true;
            return Err(io::Error::other("a record longer than 1 MiB"));
        }
        let n = self.inner.read(buf)?;
        self.note(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` through a tracker `chunk` bytes at a time with the csv reader ccbulk uses and
    /// returns each record's first cell and line.
    fn lines(text: &[u8], chunk: usize) -> Vec<(String, u64)> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut rdr = crate::input::csv_reader(LineTracker::new(Trickle(text, chunk)), b',');
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while rdr.read_byte_record(&mut rec).expect("read") {
            let start = rec.position().map_or(0, |p| p.byte());
            let line = rdr.get_mut().line_at(start);
            out.push((String::from_utf8_lossy(&rec[0]).into_owned(), line));
        }
        out
    }

    #[test]
    fn every_line_end_style() {
        for chunk in [1, 2, 3, 1000] {
            let want = vec![("h".into(), 1), ("a".into(), 2), ("b".into(), 3)];
            assert_eq!(lines(b"h\na\nb\n", chunk), want, "LF, chunk {chunk}");
            assert_eq!(
                lines(b"h\r\na\r\nb\r\n", chunk),
                want,
                "CRLF, chunk {chunk}"
            );
            assert_eq!(lines(b"h\ra\rb", chunk), want, "CR, chunk {chunk}");
        }
    }

    #[test]
    fn quoted_newlines_and_blank_lines_count() {
        for chunk in [1, 2, 5, 1000] {
            let text = b"h\r\n\"a\r\nb\nc\rd\",x\r\n\r\n\n\re\r\n";
            let got = lines(text, chunk);
            assert_eq!(
                got,
                vec![("h".into(), 1), ("a\r\nb\nc\rd".into(), 2), ("e".into(), 9)]
            );
        }
    }

    /// A record that never ends (an unclosed quote) is not read past 1 MiB: the read fails and
    /// the line where it began is known; the records before it were read.
    #[test]
    fn a_record_over_the_limit_stops_the_reading_at_its_line() {
        let mut text = b"h\na\nb\n\"never closed\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 << 20));
        let mut rdr = crate::input::csv_reader(LineTracker::new(&text[..]), b',');
        let mut rec = csv::ByteRecord::new();
        let mut got = Vec::new();
        let err = loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {
                    got.push(String::from_utf8_lossy(&rec[0]).into_owned());
                    let next = rdr.position().byte();
                    rdr.get_mut().record_begins(next);
                }
                Ok(false) => panic!("read to the end"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("longer than 1 MiB"), "{err}");
        assert_eq!(got, ["h", "a", "b"]);
        assert_eq!(rdr.get_mut().overflow_line(), Some(4));
        assert!(rdr.get_ref().offset <= 6 + MAX_RECORD + 256 * 1024 + 64 * 1024);
    }

    #[test]
    fn forgets_lines_behind_the_reader() {
        let text = "h\n".to_string() + &"x\n".repeat(100_000);
        let mut rdr = crate::input::csv_reader(LineTracker::new(text.as_bytes()), b',');
        let mut rec = csv::ByteRecord::new();
        let mut most = 0;
        while rdr.read_byte_record(&mut rec).expect("read") {
            let start = rec.position().map_or(0, |p| p.byte());
            rdr.get_mut().line_at(start);
            most = most.max(rdr.get_ref().starts.len());
        }
        assert!(
            most <= 256 * 1024 / 2 + 1,
            "bounded by the parser's buffer: {most}"
        );
    }
}
