//! A workbook's shared-strings table (`xl/sharedStrings.xml`: each distinct text of the workbook
//! once, which cells name by number) kept out of memory. calamine reads it whole into a
//! `Vec<String>` when it opens a workbook, about 60 bytes a text: 386 MB for a sheet of a million
//! different customers. Here it is read once, as a stream, into two anonymous temporary files
//! (created 0600 and unlinked at once by `tempfile`, so nothing is left behind however the run
//! ends): the texts back to back, and where each one ends. A cell's text is then read back at
//! its offset, through a cache of small blocks: Excel numbers texts in the order they first
//! appear, so reading a sheet from the top walks both files nearly in order, and the texts a
//! sheet repeats (a city, a country) stay in a cached block.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use quick_xml::events::Event;

use super::package::{MAX_STREAMED_PART, Package, Xml, attr, is};

/// The longest text a cell or a shared string may hold: the longest record ccbulk reads.
pub(super) const MAX_TEXT: usize = crate::input::lines::MAX_RECORD as usize;
/// The most disk the table may take: its texts, and 8 bytes for each.
pub(super) const MAX_TABLE_BYTES: u64 = 2 << 30;

/// The cache of each file: 512 blocks of 4 KiB (2 MiB). Small blocks keep a miss cheap; many
/// keep the texts a sheet repeats (a zip, a city, spread over the first part of the table) in
/// the cache while the reading walks on through the rest.
const BLOCK: u64 = 4 * 1024;
const SLOTS: usize = 512;

/// The table, read back a text at a time.
pub(super) struct Strings {
    /// The texts, and the end of each (a u64 each, after a 0): none when the workbook has no
    /// table.
    files: Option<(Spill, Spill)>,
    count: u64,
}

impl Strings {
    /// Reads the table of the part `part` (none when the workbook has no such part).
    pub fn load(package: &mut Package, part: &str) -> Result<Strings, String> {
        Strings::load_within(package, part, MAX_TABLE_BYTES)
    }

    /// [`Strings::load`], the table refused past `cap` bytes on disk.
    fn load_within(package: &mut Package, part: &str, cap: u64) -> Result<Strings, String> {
        let Some(mut xml) = package.xml(part, MAX_STREAMED_PART)? else {
            return Ok(Strings {
                files: None,
                count: 0,
            });
        };
        let mut texts = Writer::new()?;
        let mut ends = Writer::new()?;
        ends.put(&0u64.to_le_bytes())?;
        let mut text = String::new();
        let mut count = 0u64;
        loop {
            match xml.next()? {
                Event::Start(e) if is(&e, "si") => {
                    text.clear();
                    let too_long = || {
                        format!(
                            "its shared string {count} (in {part}) runs past {} MiB, more than ccbulk reads in a cell",
                            MAX_TEXT >> 20
                        )
                    };
                    item(&mut xml, &mut text, &too_long)?;
                    texts.put(text.as_bytes())?;
                    ends.put(&texts.len.to_le_bytes())?;
                    count += 1;
                    if texts.len + ends.len > cap {
                        return Err(format!(
                            "its shared strings (in {part}) take more than {} MiB with 8 bytes for each: ccbulk does not read so many distinct texts",
                            cap >> 20
                        ));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(Strings {
            files: Some((texts.finish()?, ends.finish()?)),
            count,
        })
    }

    /// The text numbered `i` (from 0) into `out`; false when the table has no such text.
    pub fn get(&mut self, i: u64, out: &mut String) -> Result<bool, String> {
        let Some((texts, ends)) = self.files.as_mut().filter(|_| i < self.count) else {
            return Ok(false);
        };
        let damaged = |e: io::Error| format!("its shared strings cannot be read back: {e}");
        let mut bytes = std::mem::take(out).into_bytes();
        bytes.clear();
        ends.read(i * 8, 16, &mut bytes).map_err(damaged)?;
        let at = |k: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[k..k + 8]);
            u64::from_le_bytes(b)
        };
        let (start, end) = (at(0), at(8));
        if end < start || end - start > MAX_TEXT as u64 {
            return Err("its shared strings cannot be read back: the table is damaged".into());
        }
        bytes.clear();
        texts
            .read(start, (end - start) as usize, &mut bytes)
            .map_err(damaged)?;
        *out = String::from_utf8(bytes)
            .map_err(|_| "its shared strings cannot be read back: the table is damaged")?;
        Ok(true)
    }

    /// How many texts the table holds.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// A temporary file being written.
struct Writer {
    out: BufWriter<File>,
    len: u64,
}

impl Writer {
    fn new() -> Result<Writer, String> {
        let file = tempfile::tempfile().map_err(|e| spill_failed(&e))?;
        Ok(Writer {
            out: BufWriter::with_capacity(64 * 1024, file),
            len: 0,
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.out.write_all(bytes).map_err(|e| spill_failed(&e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn finish(self) -> Result<Spill, String> {
        let file = self.out.into_inner().map_err(|e| spill_failed(e.error()))?;
        Ok(Spill {
            file,
            len: self.len,
            slots: (0..SLOTS).map(|_| (u64::MAX, Vec::new())).collect(),
        })
    }
}

fn spill_failed(e: &io::Error) -> String {
    format!(
        "its shared strings cannot be kept in a temporary file (in {}): {e}",
        std::env::temp_dir().display()
    )
}

/// A temporary file read back through a few cached blocks (direct-mapped: block `b` in slot
/// `b % SLOTS`).
struct Spill {
    file: File,
    len: u64,
    slots: Vec<(u64, Vec<u8>)>,
}

impl Spill {
    /// Appends the `n` bytes at `at` to `out`.
    fn read(&mut self, at: u64, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let end = at + n as u64;
        if end > self.len {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let mut pos = at;
        while pos < end {
            let block = pos / BLOCK;
            let (loaded, data) = &mut self.slots[(block % SLOTS as u64) as usize];
            if *loaded != block {
                let size = BLOCK.min(self.len - block * BLOCK) as usize;
                data.resize(size, 0);
                read_at(&mut self.file, block * BLOCK, data)?;
                *loaded = block;
            }
            let from = (pos - block * BLOCK) as usize;
            let take = ((end - pos) as usize).min(data.len() - from);
            out.extend_from_slice(&data[from..from + take]);
            pos += take as u64;
        }
        Ok(())
    }
}

/// Fills `buf` from `at` in one call where the system has positioned reads.
#[cfg(unix)]
fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(not(unix))]
fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}

/// A string item (`<si>` of the table, `<is>` of an inline-string cell), just started: its text
/// into `out`, rich-text runs (`<r><t>`) joined, phonetic guides (`<rPh>`) left out, as calamine
/// reads it. Past [`MAX_TEXT`], `too_long`'s message.
pub(super) fn item(
    xml: &mut Xml<'_>,
    out: &mut String,
    too_long: &dyn Fn() -> String,
) -> Result<(), String> {
    let mut depth = 1usize;
    let mut phonetic = 0usize;
    let mut run = String::new();
    while depth > 0 {
        let (preserve, text) = match xml.next()? {
            Event::Start(e) if is(&e, "t") && phonetic == 0 => {
                (attr(&e, "xml:space").as_deref() == Some("preserve"), true)
            }
            Event::Start(e) => {
                phonetic += usize::from(is(&e, "rPh"));
                depth += 1;
                (false, false)
            }
            Event::End(e) => {
                phonetic -= usize::from(e.local_name().as_ref() == "rPh" && phonetic > 0);
                depth -= 1;
                (false, false)
            }
            Event::Eof => return Err(xml.cut_short("a string")),
            _ => (false, false),
        };
        if !text {
            continue;
        }
        run.clear();
        xml.text(MAX_TEXT, &mut run, too_long)?;
        // Excel's own escapes (`_x000D_`) undone; unless told to keep them, the spaces around.
        let kept = if preserve {
            run.as_str()
        } else {
            run.trim_matches([' ', '\t', '\r', '\n'])
        };
        unescape(kept, out);
        if out.len() > MAX_TEXT {
            return Err(too_long());
        }
    }
    Ok(())
}

/// Appends `text` to `out` with Excel's escapes undone: a character as `_xHHHH_` (a UTF-16 code
/// unit, so a character past U+FFFF is two), and `_x005F_` for a `_` that would otherwise start
/// one (calamine's `unescape_xml`).
pub(super) fn unescape(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find("_x") {
        let Some(unit) = code_unit(&rest[at..]) else {
            out.push_str(&rest[..at + 2]);
            rest = &rest[at + 2..];
            continue;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at + 7..];
        let c = match unit {
            0xD800..=0xDBFF => match code_unit(rest) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    rest = &rest[7..];
                    let c =
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    char::from_u32(c)
                }
                _ => None,
            },
            u => char::from_u32(u32::from(u)),
        };
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    out.push_str(rest);
}

/// The code unit of an `_xHHHH_` escape at the start of `s`.
fn code_unit(s: &str) -> Option<u16> {
    let b = s.as_bytes().get(..7)?;
    if &b[..2] != b"_x" || b[6] != b'_' || !b[2..6].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(&b[2..6]).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(s: &str) -> String {
        let mut out = String::new();
        unescape(s, &mut out);
        out
    }

    #[test]
    fn excel_escapes_are_undone() {
        assert_eq!(unescaped("a_x000D_b"), "a\rb");
        assert_eq!(unescaped("_x005F_x000D_"), "_x000D_");
        assert_eq!(unescaped("_xD83D__xDCF7_"), "\u{1F4F7}");
        assert_eq!(unescaped("_xD83D_x"), "\u{FFFD}x");
        assert_eq!(unescaped("_x12_ plain_x"), "_x12_ plain_x");
        assert_eq!(unescaped("Évora_x"), "Évora_x");
    }

    /// The table is bounded on disk: past its cap, the workbook is refused naming the part.
    #[test]
    fn a_table_past_its_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.xlsx");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        zip.start_file(
            "xl/sharedStrings.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(b"<sst>").unwrap();
        for i in 0..20_000 {
            write!(zip, "<si><t>{i:0>48}</t></si>").unwrap();
        }
        zip.write_all(b"</sst>").unwrap();
        zip.finish().unwrap();
        let mut package = Package::open(&path).unwrap();
        let err = Strings::load_within(&mut package, "xl/sharedStrings.xml", 1 << 20)
            .err()
            .unwrap();
        assert!(
            err.contains("its shared strings (in xl/sharedStrings.xml) take more than 1 MiB"),
            "{err}"
        );
        let mut table = Strings::load(&mut package, "xl/sharedStrings.xml").unwrap();
        assert_eq!(table.count(), 20_000);
        let mut text = String::new();
        assert!(table.get(19_999, &mut text).unwrap());
        assert_eq!(text, format!("{:0>48}", 19_999));
        assert!(!table.get(20_000, &mut text).unwrap());
    }

    /// Blocks are read back across their edges and from any slot.
    #[test]
    fn a_spill_reads_back_what_was_written_across_blocks() {
        let mut w = Writer::new().unwrap();
        let data: Vec<u8> = (0..(BLOCK * 3 + 17)).map(|i| (i % 251) as u8).collect();
        w.put(&data).unwrap();
        let mut spill = w.finish().unwrap();
        for (at, n) in [
            (0, 10),
            (BLOCK - 3, 6),
            (BLOCK * 2 + 5, BLOCK as usize + 12),
            (7, 0),
        ] {
            let mut out = Vec::new();
            spill.read(at, n, &mut out).unwrap();
            assert_eq!(out, data[at as usize..at as usize + n], "{at} {n}");
        }
        assert!(spill.read(BLOCK * 3, 18, &mut Vec::new()).is_err());
    }
}
