//! An `.xlsx`/`.xlsm` sheet read as a stream, on a thread of its own that hands CSV text over a
//! bounded channel: the shared-strings table is first copied out of memory (see `strings`), then
//! the sheet's XML is read a cell at a time (see `xlsx`), twice: the first pass finds the table
//! and any error cell, so that the run stops before anything is sent; the second writes the
//! records. Memory holds one row, a few cached blocks of the strings table and a few chunks of
//! text, whatever the sheet's length and however many distinct texts it holds.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::book::Book;
use super::layout::{Bounds, Emit, Scan};
use super::package::MAX_STREAMED_PART;
use super::strings::Strings;
use super::xlsx::{Cells, Context};

/// The text handed over at a time, and how many such chunks may wait.
const CHUNK: usize = 64 * 1024;
const CHUNKS_WAITING: usize = 4;

/// Streams the sheet `sheet` of `book`: the table's first sheet row (from 1) and its CSV text,
/// or why it cannot be read (before anything is sent). `skip_before`: 0-based rows above the
/// header row.
pub(super) fn sheet(
    book: Book,
    sheet: &str,
    skip_before: u32,
) -> Result<(u64, Box<dyn Read + Send>), String> {
    let (start_tx, start_rx) = sync_channel::<Result<Option<Bounds>, String>>(1);
    let (tx, rx) = sync_channel::<Result<Vec<u8>, String>>(CHUNKS_WAITING);
    let name = sheet.to_string();
    std::thread::Builder::new()
        .name("ccbulk-sheet".into())
        .spawn(move || produce(book, &name, skip_before, &start_tx, &tx))
        .map_err(|e| format!("cannot start reading the sheet: {e}"))?;
    let bounds = start_rx
        .recv()
        .map_err(|_| "the sheet's reader stopped".to_string())??;
    let Some(bounds) = bounds else {
        // An empty sheet reads as empty text: the header check says so.
        return Ok((u64::from(skip_before) + 1, Box::new(io::empty())));
    };
    let chunks = Chunks {
        rx,
        chunk: io::Cursor::new(Vec::new()),
    };
    Ok((u64::from(bounds.first_row) + 1, Box::new(chunks)))
}

/// The thread: scans, says where the table is (or why not), then writes it out in chunks until
/// the end or until the reader is gone.
fn produce(
    mut book: Book,
    sheet: &str,
    skip_before: u32,
    start: &SyncSender<Result<Option<Bounds>, String>>,
    out: &SyncSender<Result<Vec<u8>, String>>,
) {
    let prepared = book.sheet_part(sheet).and_then(|part| {
        let strings = Strings::load(&mut book.package, &book.strings)?;
        Ok((part, strings))
    });
    let (part, mut strings) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = start.send(Err(e));
            return;
        }
    };
    let mut read = Passes {
        book: &mut book,
        part: &part,
        strings: &mut strings,
        sheet,
    };
    let bounds = match read.scan(skip_before) {
        Ok(b) => b,
        Err(e) => {
            let _ = start.send(Err(e));
            return;
        }
    };
    if start.send(Ok(bounds)).is_err() {
        return;
    }
    let Some(bounds) = bounds else { return };
    if let Err(e) = read.emit(bounds, out) {
        // The reader reports it as an input error (sheet XML broken past the first pass).
        let _ = out.send(Err(e));
    }
}

/// What both passes read: the sheet's part, with the workbook's strings and styles.
struct Passes<'a> {
    book: &'a mut Book,
    part: &'a str,
    strings: &'a mut Strings,
    sheet: &'a str,
}

impl Passes<'_> {
    /// The sheet's cells from the first.
    fn cells(&mut self) -> Result<Cells<'_>, String> {
        let xml = self.book.package.required(self.part, MAX_STREAMED_PART)?;
        let cx = Context {
            strings: self.strings,
            formats: &self.book.formats,
            is_1904: self.book.is_1904,
            sheet: self.sheet,
        };
        Cells::new(xml, cx)
    }

    /// The first pass.
    fn scan(&mut self, skip_before: u32) -> Result<Option<Bounds>, String> {
        let mut scan = Scan::new(self.sheet, skip_before);
        let mut cells = self.cells()?;
        while let Some((pos, value)) = cells.next_cell()? {
            scan.see(pos, &value)?;
        }
        Ok(scan.bounds())
    }

    /// The second pass; stops when the reader is gone (the run ended).
    fn emit(
        &mut self,
        bounds: Bounds,
        out: &SyncSender<Result<Vec<u8>, String>>,
    ) -> Result<(), String> {
        let sink = Sink {
            out: out.clone(),
            text: Vec::with_capacity(CHUNK * 2),
        };
        let mut emit = Emit::new(bounds, sink);
        let mut cells = self.cells()?;
        while let Some((pos, value)) = cells.next_cell()? {
            emit.cell(pos, &value)?;
        }
        let sink = emit.finish()?;
        let _ = out.send(Ok(sink.text));
        Ok(())
    }
}

/// Where the CSV writer writes: text handed over a chunk at a time. Once the reading end is
/// gone, writing fails, which ends the thread.
struct Sink {
    out: SyncSender<Result<Vec<u8>, String>>,
    text: Vec<u8>,
}

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(buf);
        if self.text.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.text, Vec::with_capacity(CHUNK * 2));
            self.out
                .send(Ok(chunk))
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end: chunks as one stream of bytes.
struct Chunks {
    rx: Receiver<Result<Vec<u8>, String>>,
    chunk: io::Cursor<Vec<u8>>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.chunk.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(Ok(next)) => self.chunk = io::Cursor::new(next),
                Ok(Err(e)) => return Err(io::Error::other(e)),
                // The thread is done: everything was handed over.
                Err(_) => return Ok(0),
            }
        }
    }
}
