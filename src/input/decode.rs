//! The input's bytes as UTF-8 text: a byte-order mark recognised and dropped, `--encoding`
//! (and UTF-16 with a mark) transcoded, and input that claims no encoding checked to be UTF-8
//! before any row is sent, so a legacy export is refused rather than sent half garbled: a regular
//! file whole, standard input on what has arrived (its header and first row, `Input`).

use std::io::{self, BufRead, BufReader, Read};

use super::InputError;

/// The reader's buffer.
const BUFFER: usize = 256 * 1024;

/// The input as UTF-8 text, without its byte-order mark, and whether it had one. `encoding`
/// is `--encoding`; without it the text must already be UTF-8 (or UTF-16 with a mark).
pub(super) fn decoded(
    mut raw: Box<dyn Read + Send>,
    name: &str,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> Result<(Box<dyn BufRead + Send>, bool), InputError> {
    let io_err = |e: io::Error| InputError::Io {
        name: name.to_string(),
        err: e,
    };
    let prefix = read_prefix(&mut raw).map_err(io_err)?;
    let utf16 = prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]);
    let utf8_bom = prefix.starts_with(&[0xEF, 0xBB, 0xBF]);
    let bom = utf16 || utf8_bom;
    // Decoding "UTF-8" would replace bad bytes with U+FFFD and send them; reading the bytes
    // as they are lets the row that holds them be refused instead.
    let transcode = encoding.filter(|e| *e != encoding_rs::UTF_8);
    if utf16 || transcode.is_some() {
        let rdr = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(transcode)
            .bom_override(true)
            .strip_bom(true)
            .build(io::Cursor::new(prefix).chain(raw));
        return Ok((Box::new(BufReader::with_capacity(BUFFER, rdr)), bom));
    }
    let skip = if utf8_bom { 3 } else { 0 };
    // Standard input is not read ahead to be checked (that would wait for a slow producer):
    // `Input` checks the header and the first row as they arrive, and a later row that is not
    // UTF-8 is invalid (a regular file was checked whole by `Input::open`).
    let rest = io::Cursor::new(prefix[skip..].to_vec()).chain(raw);
    Ok((Box::new(BufReader::with_capacity(BUFFER, rest)), bom))
}

/// The refusal of input that is not UTF-8: the line of the first bad `byte` and the encoding to
/// try.
pub(super) fn not_utf8(name: &str, line: u64, byte: u8) -> InputError {
    InputError::Header(format!(
        "{name} is not UTF-8: line {line} holds the byte 0x{byte:02X}, which UTF-8 does not allow there, so the file was saved in a legacy encoding; give it: --encoding windows-1252 (what Excel on Windows writes as \"CSV\"; or latin1, iso-8859-15, …); nothing was sent"
    ))
}

/// The first bytes, however few a pipe hands over at a time, to recognise a byte-order mark.
fn read_prefix(raw: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        match raw.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(prefix[..got].to_vec())
}

/// Refuses input that is not UTF-8 (the file given no `--encoding`), naming the line of the
/// first bad byte and the encoding to try. `whole`: the bytes are all there is (`Some(false)`:
/// a first part, so a sequence cut at its end is not an error; `None`: read `input` to its end).
/// A UTF-16 byte-order mark is left to the decoder.
pub(super) fn check_utf8(
    mut input: impl Read,
    name: &str,
    whole: Option<bool>,
) -> Result<(), InputError> {
    let io_err = |e: io::Error| InputError::Io {
        name: name.to_string(),
        err: e,
    };
    let mut buf = vec![0u8; 1 << 20];
    // Bytes of a sequence cut by the end of the last chunk, moved to the front.
    let mut kept = 0;
    let mut lines = 1u64;
    let mut first = true;
    loop {
        let mut got = kept;
        let mut eof = false;
        while got < buf.len() {
            match input.read(&mut buf[got..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        let chunk = &buf[..got];
        if first && (chunk.starts_with(&[0xFF, 0xFE]) || chunk.starts_with(&[0xFE, 0xFF])) {
            return Ok(());
        }
        first = false;
        let last = eof || whole.is_some();
        let (good, bad) = match std::str::from_utf8(chunk) {
            Ok(_) => (got, None),
            // Cut at the end of this chunk: complete it with the next one.
            Err(e) if e.error_len().is_none() && !(last && whole != Some(false)) => {
                (e.valid_up_to(), None)
            }
            Err(e) if e.error_len().is_none() => (e.valid_up_to(), Some(chunk[e.valid_up_to()])),
            Err(e) => (e.valid_up_to(), Some(chunk[e.valid_up_to()])),
        };
        lines += memchr::memchr_iter(b'\n', &chunk[..good]).count() as u64;
        if let Some(byte) = bad {
            // NUL bytes: UTF-16 without a byte-order mark, or not text at all; the header's
            // check says so better than a legacy 8-bit encoding would.
            if memchr::memchr(0, chunk).is_some() {
                return Ok(());
            }
            return Err(not_utf8(name, lines, byte));
        }
        if last {
            return Ok(());
        }
        kept = got - good;
        buf.copy_within(good..got, 0);
    }
}
