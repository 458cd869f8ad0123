//! The zip package of an `.xlsx`/`.xlsm`, read part by part as a stream (our own reader: calamine
//! reads the whole shared-strings table into memory when it opens a workbook). Every part is
//! bounded before and while it is read: its zip entry's declared size against a cap for that
//! kind of part, the bytes it actually inflates to against what its entry declares (a zip bomb
//! stops there, naming the part), and each XML event against [`MAX_EVENT_BYTES`], so no text or
//! tag in a hostile file makes the XML reader's buffer grow without end.
//!
//! An `.ods` or `.xlsb` (zip packages too) is read by calamine, whole; [`Package::check_inflated`]
//! bounds what it can inflate to before calamine opens it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;
use zip::read::ZipFile;

/// The largest sheet or shared-strings part read (uncompressed): both are streamed, so this
/// bounds time and disk, not memory.
pub(super) const MAX_STREAMED_PART: u64 = 8 << 30;
/// The largest other part read (the workbook, its relationships, its styles).
pub(super) const MAX_SMALL_PART: u64 = 32 << 20;
/// The most bytes one XML event (a tag with its attributes, a run of text) may span.
pub(super) const MAX_EVENT_BYTES: usize = 4 << 20;
/// The most an `.ods` or `.xlsb` package may inflate to, all its parts together. calamine reads
/// these whole (an .ods's cells, of every sheet, when it opens the file; an .xlsb's shared
/// strings), so this bounds the time and memory one file takes where the 16 MiB file limit
/// cannot: deflate reaches about 1000:1, so 16 MiB could declare 16 GiB. Not lower, because a
/// sheet at the 2,000,000-cell limit (`MAX_WHOLE_CELLS`) written as LibreOffice does is about
/// 234 MiB of XML, some 120 bytes a cell, in 7.6 MiB zipped: a lower cap would refuse sheets the
/// other two limits allow.
pub(super) const MAX_WHOLE_INFLATED: u64 = 256 << 20;

type Archive = ZipArchive<BufReader<File>>;

/// An opened `.xlsx`/`.xlsm` file.
pub(super) struct Package {
    zip: Archive,
}

impl Package {
    /// Opens the zip; the message says why it cannot be.
    pub fn open(path: &std::path::Path) -> Result<Package, String> {
        let file = File::open(path).map_err(|e| format!("cannot be opened: {e}"))?;
        let zip = ZipArchive::new(BufReader::with_capacity(64 * 1024, file))
            .map_err(|e| format!("cannot be read as a workbook: {e}"))?;
        Ok(Package { zip })
    }

    /// The part `name` as an XML stream, or `None` when the package has no such part. Names
    /// match in any case and with either slash, as Excel and calamine find them.
    pub fn xml(&mut self, name: &str, cap: u64) -> Result<Option<Xml<'_>>, String> {
        let Some(entry) = self.entry(name)? else {
            return Ok(None);
        };
        let declared = entry.size();
        if declared > cap {
            return Err(format!(
                "its part {name} declares {} MiB uncompressed, more than the {} MiB ccbulk reads from such a part (a zip bomb?)",
                declared >> 20,
                cap >> 20
            ));
        }
        let sized = Sized::new(entry);
        let bounded = Bounded {
            inner: BufReader::with_capacity(64 * 1024, sized),
            used: 0,
            over: false,
        };
        let mut reader = quick_xml::Reader::from_reader(bounded);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.trim_text(false);
        config.check_comments = false;
        config.expand_empty_elements = true;
        Ok(Some(Xml {
            reader,
            buf: Vec::with_capacity(1024),
            part: name.to_string(),
        }))
    }

    /// Checks a package that calamine reads whole (`.ods`, `.xlsb`) before it does, so that
    /// calamine, reading the same entries, inflates at most `cap` bytes: the sizes its parts
    /// declare must add up to no more than `cap`, and each part is inflated once here (to
    /// nothing, a block at a time) and must not inflate past what it declares. The zip crate
    /// (9.x) stops an entry at its declared size too, but with no word of which part; this
    /// names it, and does not depend on the zip crate keeping that check.
    pub fn check_inflated(&mut self, cap: u64) -> Result<(), String> {
        let mut total = 0u64;
        let mut largest = (0u64, String::new());
        for i in 0..self.zip.len() {
            let entry = self
                .zip
                .by_index_data(i)
                .map_err(|e| format!("cannot be read as a workbook: {e}"))?;
            total = total.saturating_add(entry.size());
            if entry.size() > largest.0 {
                largest = (entry.size(), self.part_name(i));
            }
        }
        if total > cap {
            return Err(format!(
                "its parts declare {} MiB uncompressed together ({} alone {} MiB), more than the {} MiB ccbulk reads from an .ods or .xlsb, which are read whole (a zip bomb?): save the sheet as .xlsx or as CSV (UTF-8)",
                total >> 20,
                largest.1,
                largest.0 >> 20,
                cap >> 20
            ));
        }
        for i in 0..self.zip.len() {
            // A part that cannot be read for another reason (a password, a bad checksum) is
            // left for calamine to name in its own words: it stops there just the same.
            let name = self.part_name(i);
            let Ok(entry) = self.zip.by_index(i) else {
                continue;
            };
            let mut sized = Sized::new(entry);
            if io::copy(&mut sized, &mut io::sink()).is_err() && sized.bombed {
                return Err(inflates_past(&name, sized.declared));
            }
        }
        Ok(())
    }

    /// The part `name` as bytes, read a block at a time and held to the size its entry
    /// declares; `None` when the package has no such part.
    pub fn bytes(&mut self, name: &str) -> Result<Option<impl Read + '_>, String> {
        let Some(entry) = self.entry(name)? else {
            return Ok(None);
        };
        Ok(Some(BufReader::with_capacity(64 * 1024, Sized::new(entry))))
    }

    /// The zip entry of the part `name`, or `None` when the package has no such part.
    fn entry(&mut self, name: &str) -> Result<Option<ZipFile<'_, BufReader<File>>>, String> {
        let Some(index) = self.find(name) else {
            return Ok(None);
        };
        self.zip
            .by_index(index)
            .map(Some)
            .map_err(|e| format!("its part {name} cannot be read: {e}"))
    }

    /// The part `name` as an XML stream; its absence is an error naming it.
    pub fn required(&mut self, name: &str, cap: u64) -> Result<Xml<'_>, String> {
        self.xml(name, cap)?
            .ok_or_else(|| format!("has no part {name}: it is not a complete .xlsx workbook"))
    }

    /// The name of the zip entry `i`, for messages.
    fn part_name(&self, i: usize) -> String {
        match self.zip.name_for_index(i) {
            Some(Ok(name)) => name.into_owned(),
            _ => format!("number {}", i + 1),
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.zip.index_for_name(name) {
            return Some(i);
        }
        let wanted = normal(name);
        self.zip
            .file_names()
            .position(|n| n.is_ok_and(|n| normal(&n) == wanted))
    }
}

fn normal(name: &str) -> String {
    name.trim_start_matches('/')
        .replace('\\', "/")
        .to_ascii_lowercase()
}

/// A zip entry that may not inflate past the size its entry declares.
struct Sized<'a> {
    inner: ZipFile<'a, BufReader<File>>,
    declared: u64,
    read: u64,
    /// Set when it tried to.
    bombed: bool,
}

impl<'a> Sized<'a> {
    fn new(inner: ZipFile<'a, BufReader<File>>) -> Sized<'a> {
        let declared = inner.size();
        Sized {
            inner,
            declared,
            read: 0,
            bombed: false,
        }
    }
}

/// The message for a zip entry that inflates past the size it declares.
fn inflates_past(part: &str, declared: u64) -> String {
    format!(
        "its part {part} inflates past the {declared} bytes its zip entry declares (a zip bomb?)"
    )
}

impl Read for Sized<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            // The zip crate holds entries to their declared size too, with its own words.
            self.bombed = e.kind() == io::ErrorKind::InvalidData
                && e.to_string().contains("declared uncompressed size");
        })?;
        self.read += n as u64;
        if self.read > self.declared {
            self.bombed = true;
            return Err(io::Error::other("the part inflates past its declared size"));
        }
        Ok(n)
    }
}

/// Counts the bytes the XML reader takes since the start of the current event, and refuses to
/// give it more than [`MAX_EVENT_BYTES`].
struct Bounded<R> {
    inner: R,
    used: usize,
    over: bool,
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.used > MAX_EVENT_BYTES {
            self.over = true;
            return Err(io::Error::other("an XML event runs too long"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.used = self.used.saturating_add(n);
        self.inner.consume(n);
    }
}

/// One part's XML, read an event at a time.
pub(super) struct Xml<'a> {
    reader: quick_xml::Reader<Bounded<BufReader<Sized<'a>>>>,
    buf: Vec<u8>,
    part: String,
}

impl Xml<'_> {
    /// The next event; a broken, cut-short or oversized part is a message naming it.
    pub fn next(&mut self) -> Result<Event<'_>, String> {
        self.buf.clear();
        self.reader.get_mut().used = 0;
        match self.reader.read_event_into(&mut self.buf) {
            Ok(e) => Ok(e),
            Err(e) => Err(broken(self.reader.get_ref(), &self.part, &e)),
        }
    }

    /// The part's name, for messages.
    pub fn part(&self) -> &str {
        &self.part
    }

    /// The end of the part where an element was still open: a cut-short file.
    pub fn cut_short(&self, inside: &str) -> String {
        format!(
            "its part {} ends inside <{inside}>: the file is cut short or damaged",
            self.part
        )
    }

    /// Skips the rest of the element just started (its end included).
    pub fn skip(&mut self) -> Result<(), String> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(self.cut_short("an element")),
                _ => {}
            }
        }
        Ok(())
    }

    /// The text of the element just started, up to its end: entities resolved, line ends as XML
    /// gives them, refused past `limit` bytes with `too_long`'s message.
    pub fn text(
        &mut self,
        limit: usize,
        out: &mut String,
        too_long: &dyn Fn() -> String,
    ) -> Result<(), String> {
        let mut depth = 1usize;
        let mut unknown = None;
        while depth > 0 {
            match self.next()? {
                Event::Text(t) => out.push_str(&t.xml10_content()),
                Event::CData(t) => out.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    if let Some(s) = quick_xml::escape::resolve_xml_entity(&r) {
                        out.push_str(s);
                    } else if let Ok(Some(c)) = r.resolve_char_ref() {
                        out.push(c);
                    } else {
                        unknown = Some(r.to_string());
                    }
                }
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(self.cut_short("a text")),
                _ => {}
            }
            if let Some(name) = unknown {
                return Err(format!(
                    "its part {} holds an unknown entity &{name};",
                    self.part
                ));
            }
            if out.len() > limit {
                return Err(too_long());
            }
        }
        Ok(())
    }
}

/// Why reading a part failed, in words: the part's own limits first.
fn broken(bounded: &Bounded<BufReader<Sized<'_>>>, part: &str, e: &quick_xml::Error) -> String {
    let sized = bounded.inner.get_ref();
    if sized.bombed {
        return inflates_past(part, sized.declared);
    }
    if bounded.over {
        return format!(
            "its part {part} holds a tag or text longer than {} MiB, which ccbulk does not read",
            MAX_EVENT_BYTES >> 20
        );
    }
    match e {
        quick_xml::Error::Io(io) => format!("its part {part} cannot be read: {io}"),
        e => format!("its part {part} is not well-formed XML: {e}"),
    }
}

/// The attribute `key` of a tag (its value with entities resolved), if it has one.
pub(super) fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    let a = e.try_get_attribute(key).ok()??;
    let value = a
        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .ok()?;
    Some(value.into_owned())
}

/// The attribute whose name ends in `:local` or is `local` (`r:id`, whatever the prefix).
pub(super) fn attr_local(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes().with_checks(false).flatten().find_map(|a| {
        let key: &str = a.key.as_ref();
        let name = key.rsplit(':').next().unwrap_or(key);
        (name == local)
            .then(|| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
            .flatten()
            .map(std::borrow::Cow::into_owned)
    })
}

/// Is this tag `name`, whatever its namespace prefix?
pub(super) fn is(e: &BytesStart<'_>, name: &str) -> bool {
    e.local_name().as_ref() == name
}
