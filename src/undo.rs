//! The undo file: for every row a merge-mode update changes, a line in the input's own column
//! layout that puts the changed fields back (`ccbulk update X.undo.csv`). The worker that is
//! about to send a row's PATCH writes its line and flushes it to the operating system first
//! ([`Shared::before_patch`]), so a crash at any moment never loses the way back from a change the
//! API accepted. A line whose PATCH then fails is harmless: merge mode finds nothing to change
//! when it is applied.
//!
//! A customer on several rows gets only its first prior value of each field: the undo file is
//! applied in file order, so a later line repeating a field would restore an in-between value.
//! On `--resume` the existing lines are read back for the same reason. Which fields are already
//! restored is a [`Recorded`]: exact, in bounded memory (see its module).

mod recorded;

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use uuid::Uuid;

use crate::customer::Change;
use crate::customer::{FIELD_COUNT, Field};
use crate::files::{self, Fixes, Scanner, Start};
use crate::input::{self, Columns, Row};
use recorded::Recorded;

/// What one column of the undo file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// The row's customerId cell, as written.
    CustomerId(usize),
    /// The customerId a keyed row's reference resolved to (the input has no such cell): the
    /// undo file names customers by customerId, so it is applied without `--key`.
    ResolvedId,
    /// The field's value before the row changed it.
    Field(Field),
    /// Always empty: "leave as is" (correlationId, the retry flag, unnamed columns).
    Empty,
}

/// The undo file's columns, derived from the input's.
#[derive(Clone, Debug)]
pub struct Layout {
    header: Vec<String>,
    slots: Vec<Slot>,
}

impl Layout {
    /// The input's echoed (non-`ccbulk_*`) columns, in order, with header cells that read back
    /// without `--map`.
    pub fn of(columns: &Columns) -> Layout {
        // Keyed, the internalIdentifier column is a field like the others, and the resolved id
        // goes in the input's customerId column (an export has one) or, without one, in a
        // first column of its own: never in two customerId columns, which would not read back.
        let id = columns.guid_column();
        let mut header = Vec::with_capacity(columns.echo.len() + 1);
        let mut slots = Vec::with_capacity(columns.echo.len() + 1);
        if columns.keyed && id.is_none() {
            header.push("customerId".to_string());
            slots.push(Slot::ResolvedId);
        }
        for &col in &columns.echo {
            header.push(columns.plain_name(col));
            let field = Field::ALL
                .into_iter()
                .find(|f| columns.field_column(*f) == Some(col));
            slots.push(match field {
                _ if Some(col) == id && columns.keyed => Slot::ResolvedId,
                _ if Some(col) == id => Slot::CustomerId(col),
                Some(f) => Slot::Field(f),
                None => Slot::Empty,
            });
        }
        Layout { header, slots }
    }

    /// The header of a new undo file.
    fn header_record(&self) -> ByteRecord {
        self.header.iter().map(String::as_bytes).collect()
    }
}

/// How to open the undo file.
#[derive(Clone, Debug)]
pub struct UndoSetup {
    pub path: PathBuf,
    pub layout: Layout,
    pub delimiter: u8,
    /// Written where a field was empty or null, so the undo run clears it again.
    pub null_marker: String,
    /// Continue an interrupted run: append to an existing undo file.
    pub resume: bool,
    /// Replace an existing undo file.
    pub overwrite: bool,
    /// Begin a new file with a UTF-8 byte-order mark (the input had one).
    pub bom: bool,
}

/// The open undo file.
pub struct UndoWriter {
    w: csv::Writer<File>,
    slots: Vec<Slot>,
    null_marker: String,
    /// Fields (bit per `Field::index`) whose first prior value is already in the file.
    recorded: Recorded,
    record: ByteRecord,
    /// Lines written by this run.
    pub lines: u64,
    /// Lines an earlier run wrote (this run resumes it).
    pub earlier: u64,
    /// True when this run created the file (so a failed setup can remove it again).
    pub created: bool,
    path: PathBuf,
}

/// An undo file that passed its checks and is ready to open: nothing is written until
/// [`Checked::open`], so a run refused after the check (a results file that cannot be resumed)
/// leaves the undo file as it was.
pub struct Checked {
    setup: UndoSetup,
    append: bool,
    recorded: Recorded,
    /// On resume, the length to cut the file to when its last line (or its header) is torn.
    cut_to: Option<u64>,
    /// Whole lines the file already holds.
    earlier: u64,
}

impl UndoWriter {
    /// Checks the undo file without touching it. An existing file is never replaced without
    /// `--overwrite`: it may be the only way back from an earlier run. On resume, reads back which
    /// fields it already restores and where a torn last line starts. The error is a message for
    /// the user (a setup error: nothing sent yet).
    pub fn check(setup: UndoSetup) -> Result<Checked, String> {
        Self::check_capped(setup, recorded::CAP)
    }

    /// [`check`](Self::check) with `cap` customers in memory before [`Recorded`] spills to disk
    /// (tests use a tiny one).
    fn check_capped(setup: UndoSetup, cap: usize) -> Result<Checked, String> {
        let path = &setup.path;
        crate::files::refuse_symlink(path, "the undo file")?;
        let exists = path.exists();
        if exists && !setup.resume && !setup.overwrite {
            return Err(format!(
                "the undo file {} already exists (the way back from an earlier run): keep it and choose another with --undo PATH, or add --overwrite to replace it, --resume to continue that run, or --no-undo",
                path.display()
            ));
        }
        let append = exists && setup.resume && std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        // The run file of `Recorded` goes next to the undo file: a directory we can write to.
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut recorded = Recorded::new(dir, cap);
        let (cut_to, earlier) = if append {
            read_back(path, &setup, &mut recorded)
                .map_err(|e| format!("cannot resume the undo file {}: {e}", path.display()))?
        } else {
            (None, 0)
        };
        Ok(Checked {
            setup,
            append,
            recorded,
            cut_to,
            earlier,
        })
    }
}

impl Checked {
    /// Whether this run appends to an existing undo file (`--resume`).
    pub fn appends(&self) -> bool {
        self.append
    }

    /// The undo file.
    pub fn path(&self) -> &Path {
        &self.setup.path
    }

    /// Whether the file holds a line that restores something of customer `id` (on resume:
    /// every row the results record as changed must have one, or the file is another run's).
    pub fn restores(&self, id: Uuid) -> io::Result<bool> {
        self.recorded.get(id).map(|bits| bits != 0)
    }

    /// Creates the file (header first), or on resume cuts a torn last line and appends.
    pub fn open(self) -> Result<UndoWriter, String> {
        let Checked {
            setup,
            append,
            recorded,
            cut_to,
            earlier,
        } = self;
        let path = &setup.path;
        let fail = |e: &dyn std::fmt::Display| {
            format!("cannot write the undo file {}: {e}", path.display())
        };
        let file = if append {
            crate::files::append(path)
        } else {
            crate::files::create(path)
        }
        .map_err(|e| fail(&e))?;
        if let Some(len) = cut_to {
            file.set_len(len)
                .and_then(|()| file.sync_all())
                .map_err(|e| fail(&e))?;
        }
        // A header torn by a crash was cut whole: it is written again.
        let new = !append || cut_to == Some(0);
        let header = new.then(|| setup.layout.header_record());
        let w = match files::appended_writer(file, setup.delimiter, setup.bom, header.as_ref()) {
            Ok(w) => w,
            Err(e) => {
                // A new file whose header could not be written (a full disk) is removed, as a
                // results file is, not left half-made for the next run to find.
                if !append {
                    let _ = std::fs::remove_file(path);
                }
                return Err(fail(&e));
            }
        };
        Ok(UndoWriter {
            w,
            slots: setup.layout.slots,
            null_marker: setup.null_marker,
            recorded,
            record: ByteRecord::new(),
            lines: 0,
            earlier,
            created: !append,
            path: setup.path,
        })
    }
}

impl UndoWriter {
    /// Writes and flushes the line that undoes `changes` of `row`, if they change something not
    /// already restored by an earlier line.
    pub fn write(&mut self, row: &Row, changes: &[Change]) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let Ok(mapped) = &row.mapped else {
            return Ok(());
        };
        let changed = changes
            .iter()
            .fold(0u16, |bits, c| bits | 1 << c.field.index());
        // One lookup that also records: the fields this line restores are the changed ones not
        // restored before.
        let seen = self.recorded.add(mapped.customer_id, changed)?;
        if (changed & !seen) == 0 {
            return Ok(());
        }
        let mut prior: [Option<&str>; FIELD_COUNT] = [None; FIELD_COUNT];
        for c in changes
            .iter()
            .filter(|c| (seen & (1 << c.field.index())) == 0)
        {
            prior[c.field.index()] = Some(c.old.as_deref().unwrap_or(&self.null_marker));
        }
        self.record.clear();
        for slot in &self.slots {
            let cell: Cow<'_, [u8]> = match *slot {
                Slot::CustomerId(col) => Cow::Borrowed(row.record.get(col).unwrap_or_default()),
                Slot::ResolvedId => {
                    Cow::Owned(mapped.customer_id.hyphenated().to_string().into_bytes())
                }
                // Values from the API, never a formula for the spreadsheet that opens the
                // file; `update` reads them back unguarded (`formula`).
                Slot::Field(f) => {
                    crate::formula::guard_bytes(prior[f.index()].unwrap_or_default().as_bytes())
                }
                Slot::Empty => Cow::Borrowed(b""),
            };
            self.record.push_field(&cell);
        }
        self.w.write_byte_record(&self.record)?;
        self.w.flush()?;
        self.lines += 1;
        Ok(())
    }

    /// Flushes and syncs for the last time; returns the lines this run wrote.
    pub fn finish(mut self) -> io::Result<u64> {
        self.w.flush()?;
        self.w.get_ref().sync_all()?;
        Ok(self.lines)
    }

    /// Removes a file this run created, when the run never started (setup failed after it).
    pub fn discard(self) {
        if self.created {
            let path = self.path.clone();
            drop(self);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The undo file as the workers share it: each writes its row's line just before the PATCH.
pub struct Shared {
    writer: std::sync::Mutex<Option<UndoWriter>>,
    path: PathBuf,
}

impl Shared {
    pub fn new(writer: UndoWriter) -> Shared {
        Shared {
            path: writer.path.clone(),
            writer: std::sync::Mutex::new(Some(writer)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<UndoWriter>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes and flushes the line that undoes `changes` before the row's PATCH is sent. A plain
    /// blocking write under a mutex, from the worker: a few hundred bytes into the page cache at
    /// the API's pace, cheaper than a hop to another thread. An error (a full disk) is a message
    /// for the user, and the PATCH must then not be sent.
    pub fn before_patch(&self, row: &Row, changes: &[Change]) -> Result<(), String> {
        let mut guard = self.lock();
        let Some(w) = guard.as_mut() else {
            return Err(format!("the undo file {} is closed", self.path.display()));
        };
        w.write(row, changes)
            .map_err(|e| format!("cannot write the undo file {}: {e}", self.path.display()))
    }

    /// Syncs the file for the last time; returns the lines this run wrote.
    pub fn finish(&self) -> Result<u64, String> {
        match self.lock().take() {
            Some(w) => w
                .finish()
                .map_err(|e| format!("cannot write the undo file {}: {e}", self.path.display())),
            None => Ok(0),
        }
    }

    /// The lines written so far (by this run, and by the run it resumes).
    pub fn lines(&self) -> (u64, u64) {
        self.lock()
            .as_ref()
            .map_or((0, 0), |w| (w.lines, w.earlier))
    }
}

/// What to do about an undo file `--resume` cannot read.
const FIXES: Fixes = Fixes {
    line: "fix or delete that line, or start a new undo file with --undo PATH",
    header: "delete the file (it holds no undo line) or choose another with --undo PATH",
};

/// Reads an existing undo file for resume: checks its header against this input's layout,
/// adds which fields of which customers it already restores to `recorded`, and finds where a torn
/// last line (or header) starts, by the rule of [`crate::files::Scanner`] (the length to cut the
/// file to); also counts its whole lines.
fn read_back(
    path: &Path,
    setup: &UndoSetup,
    recorded: &mut Recorded,
) -> io::Result<(Option<u64>, u64)> {
    let header = files::header_line(&setup.layout.header_record(), setup.delimiter, setup.bom)?;
    let mut scan = match Scanner::open(path, setup.delimiter, &[header], FIXES)? {
        Start::TornHeader { .. } => return Ok((Some(0), 0)),
        Start::Lines(scan) => scan,
    };
    if scan.names() != setup.layout.header {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "its columns ({}) are not this input's ({}); is it the undo file of the same input?",
                scan.names().join(", "),
                setup.layout.header.join(", ")
            ),
        ));
    }
    let no_customer = |r: &ByteRecord| {
        let (id, _) = restored(&setup.layout, r);
        id.is_none().then(|| "no customerId".to_string())
    };
    while let Some(record) = scan.next(no_customer)? {
        if let (Some(id), bits) = restored(&setup.layout, record) {
            recorded.add(id, bits)?;
        }
    }
    let torn = scan.torn_bytes();
    Ok(((torn > 0).then(|| scan.len() - torn), scan.lines()))
}

/// The customer an undo line restores, and which of its fields (a bit per field with a cell).
fn restored(layout: &Layout, record: &ByteRecord) -> (Option<Uuid>, u16) {
    let mut id = None;
    let mut bits = 0u16;
    for (slot, cell) in layout.slots.iter().zip(record.iter()) {
        match *slot {
            Slot::CustomerId(_) | Slot::ResolvedId => {
                id = std::str::from_utf8(cell)
                    .ok()
                    .and_then(|s| input::parse_guid(s.trim()));
            }
            Slot::Field(f) if !cell.trim_ascii().is_empty() => bits |= 1 << f.index(),
            _ => {}
        }
    }
    (id, bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Input, InputOptions};
    use crate::outcome::{Outcome, OutcomeKind};

    const A: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    const B: &str = "{3f2504e0-4f89-11d3-9a0c-0305e82c3302}";

    fn open_input(text: &str, maps: Vec<(String, String)>) -> Input {
        let options = InputOptions {
            maps,
            ..InputOptions::default()
        };
        Input::from_reader(
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
            "t.csv",
            options,
        )
        .unwrap()
    }

    fn accepted(input: &mut Input, changes: Vec<Change>) -> Outcome {
        let row = input.next_row().unwrap().unwrap();
        assert!(row.mapped.is_ok(), "{:?}", row.mapped);
        Outcome {
            kind: OutcomeKind::Accepted,
            changes,
            ..Outcome::new(row)
        }
    }

    fn change(field: Field, old: Option<&str>, new: &str) -> Change {
        Change {
            field,
            old: old.map(str::to_string),
            new: Some(new.to_string()),
        }
    }

    fn open(setup: UndoSetup) -> Result<UndoWriter, String> {
        UndoWriter::check(setup).and_then(Checked::open)
    }

    fn setup(path: PathBuf, input: &Input, resume: bool) -> UndoSetup {
        UndoSetup {
            path,
            layout: Layout::of(&input.columns),
            delimiter: input.delimiter,
            null_marker: "#NULL".into(),
            resume,
            overwrite: false,
            bom: false,
        }
    }

    #[test]
    fn lines_keep_the_layout_and_only_the_first_prior_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        let text = format!(
            "Firma;ID;city;correlationId;taxId;ccbulk_outcome\n\
             Nova Lda;{A};Porto;;PT1;accepted\nNova Lda;{B};Faro;;;accepted\nOutra Lda;{A};Braga;;PT2;accepted\n"
        );
        let mut input = open_input(&text, vec![("Firma".into(), "companyName".into())]);
        let mut u = open(setup(path.clone(), &input, false)).unwrap();
        let o1 = accepted(
            &mut input,
            vec![
                change(Field::CompanyName, Some("Old; Co"), "Nova Lda"),
                change(Field::City, Some("Lisboa"), "Porto"),
                change(Field::TaxId, None, "PT1"),
            ],
        );
        let o2 = Outcome {
            kind: OutcomeKind::Unchanged,
            ..accepted(&mut input, vec![])
        };
        // The same customer again: city and taxId already have their first prior value.
        let o3 = accepted(
            &mut input,
            vec![
                change(Field::CompanyName, Some("Nova Lda"), "Outra Lda"),
                change(Field::City, Some("Porto"), "Braga"),
            ],
        );
        for o in [&o1, &o2, &o3] {
            u.write(&o.row, &o.changes).unwrap();
        }
        assert_eq!(u.finish().unwrap(), 1, "o3 had nothing new to restore");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("companyName;ID;city;correlationId;taxId\n\"Old; Co\";{A};Lisboa;;#NULL\n")
        );
    }

    /// Keyed, an input with a customerId column too (every export has one): the resolved id
    /// goes in that column, and the undo file reads back as input without --key.
    #[test]
    fn keyed_with_a_customer_id_column_writes_one_customer_id_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        let options = InputOptions {
            keyed: true,
            ..InputOptions::default()
        };
        let text = format!(
            "customerId,internalIdentifier,city
{B},ERP-1,Porto
"
        );
        let mut input = Input::from_reader(
            Box::new(io::Cursor::new(text.into_bytes())),
            "t.csv",
            options,
        )
        .unwrap();
        let mut u = open(setup(path.clone(), &input, false)).unwrap();
        let mut o = accepted(
            &mut input,
            vec![change(Field::City, Some("Lisboa"), "Porto")],
        );
        if let Ok(m) = &mut o.row.mapped {
            // What the lookup resolved ERP-1 to.
            m.customer_id = A.parse().unwrap();
            m.keyed = false;
        }
        u.write(&o.row, &o.changes).unwrap();
        u.finish().unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            written,
            format!("customerId,internalIdentifier,city\n{A},,Lisboa\n")
        );
        let mut back = open_input(&written, vec![]);
        let row = back.next_row().unwrap().unwrap();
        assert_eq!(row.mapped.unwrap().customer_id, A.parse::<Uuid>().unwrap());
        // Without a customerId column, the resolved id gets a first column of its own.
        let input = Input::from_reader(
            Box::new(io::Cursor::new(b"internalIdentifier,city\n".to_vec())),
            "t.csv",
            InputOptions {
                keyed: true,
                ..InputOptions::default()
            },
        )
        .unwrap();
        let layout = Layout::of(&input.columns);
        assert_eq!(layout.header, ["customerId", "internalIdentifier", "city"]);
    }

    #[test]
    fn resume_appends_reads_back_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        let text = format!("id,city,zip\n{A},Porto,4000\n{A},Faro,8000\n");
        let mut input = open_input(&text, vec![]);
        let existing = format!("id,city,zip\n{A},Lisboa,\n{B},Fa");
        std::fs::write(&path, &existing).unwrap();
        let err = open(setup(path.clone(), &input, false)).err().unwrap();
        assert!(err.contains("already exists"), "{err}");
        let checked = UndoWriter::check(setup(path.clone(), &input, true)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            existing,
            "check writes nothing"
        );
        let mut u = checked.open().unwrap();
        let o = accepted(
            &mut input,
            vec![
                change(Field::City, Some("X"), "Porto"),
                change(Field::Zip, Some("1000"), "4000"),
            ],
        );
        u.write(&o.row, &o.changes).unwrap();
        u.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("id,city,zip\n{A},Lisboa,\n{A},,1000\n"),
            "torn line cut, no second header, city already restored by the earlier run"
        );
    }

    #[test]
    fn resume_refuses_a_bad_middle_line_and_never_cuts_the_good_lines_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        let input = open_input(&format!("id,city,zip\n{A},Porto,4000\n"), vec![]);
        for bad in ["not-a-guid,Lisboa,", "{A},Lisboa"] {
            let text = format!(
                "id,city,zip\n{A},Lisboa,\n{}\n{B},Faro,8000\n",
                bad.replace("{A}", A)
            );
            std::fs::write(&path, &text).unwrap();
            let err = UndoWriter::check(setup(path.clone(), &input, true))
                .err()
                .unwrap();
            assert!(err.contains("line 3"), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "nothing cut");
        }
    }

    #[test]
    fn resume_rewrites_a_header_torn_by_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        let mut input = open_input(&format!("id,city,zip\n{A},Porto,4000\n"), vec![]);
        std::fs::write(&path, "id,ci").unwrap();
        let mut u = open(setup(path.clone(), &input, true)).unwrap();
        let o = accepted(&mut input, vec![change(Field::City, Some("X"), "Porto")]);
        u.write(&o.row, &o.changes).unwrap();
        u.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("id,city,zip\n{A},X,\n")
        );
        // A cut first line that is not this input's header is not ours to cut.
        std::fs::write(&path, "name,pho").unwrap();
        let err = UndoWriter::check(setup(path.clone(), &input, true))
            .err()
            .unwrap();
        assert!(err.contains("cut short"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "name,pho");
    }

    #[test]
    fn a_spilled_customer_is_still_restored_only_once_also_after_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.csv");
        let other = |n: u32| format!("6a1f0c2e-1b7d-4c3a-9e55-{n:012x}");
        let mut text = format!("id,city,zip,state\n{A},Porto,4000,\n");
        for n in 0..10 {
            text += &format!("{},Faro,,\n", other(n));
        }
        text += &format!("{A},Braga,4700,\n");
        let mut input = open_input(&text, vec![]);
        // A cap of 4: A's first line is on disk, in the run, when A comes back.
        let mut u = UndoWriter::check_capped(setup(path.clone(), &input, false), 4)
            .and_then(Checked::open)
            .unwrap();
        let o = accepted(
            &mut input,
            vec![change(Field::City, Some("Lisboa"), "Porto")],
        );
        u.write(&o.row, &o.changes).unwrap();
        for _ in 0..10 {
            let o = accepted(&mut input, vec![change(Field::City, Some("Beja"), "Faro")]);
            u.write(&o.row, &o.changes).unwrap();
        }
        assert!(u.recorded.get(A.parse().unwrap()).unwrap() != 0);
        let o = accepted(
            &mut input,
            vec![
                change(Field::City, Some("Porto"), "Braga"),
                change(Field::Zip, Some("1000"), "4700"),
            ],
        );
        u.write(&o.row, &o.changes).unwrap();
        assert_eq!(u.finish().unwrap(), 12);
        let mut want = format!("id,city,zip,state\n{A},Lisboa,,\n");
        for n in 0..10 {
            want += &format!("{},Beja,,\n", other(n));
        }
        want += &format!("{A},,1000,\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);

        // Resume reads the file back through the same spilling set.
        let mut input = open_input(
            &format!("id,city,zip,state\n{A},Faro,8000,Algarve\n"),
            vec![],
        );
        let mut u = UndoWriter::check_capped(setup(path.clone(), &input, true), 4)
            .and_then(Checked::open)
            .unwrap();
        let o = accepted(
            &mut input,
            vec![
                change(Field::City, Some("Braga"), "Faro"),
                change(Field::Zip, Some("4700"), "8000"),
                change(Field::State, None, "Algarve"),
            ],
        );
        u.write(&o.row, &o.changes).unwrap();
        assert_eq!(u.finish().unwrap(), 1);
        want += &format!("{A},,,#NULL\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
    }
}
