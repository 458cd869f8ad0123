//! The results file: the one task that owns it, writes one line per finished row and flushes at
//! once, and keeps the tallies the progress display and the summary read. Also reading an existing
//! results file back for `--resume` (which rows are done; repairing a torn last line) and checking
//! that the input still has those rows (`check`).

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use csv::ByteRecord;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::files::{self, Fixes, Scanner, Start};
use crate::input;
use crate::outcome::{Counters, Outcome, OutcomeKind, Tally};
use crate::stop::{Stop, Stopper};

mod check;
mod rowset;
pub use check::{Fingerprints, Resumed, check, check_stream};
pub use rowset::RowSet;

/// The columns ccbulk appends to every input column.
pub const RESULT_COLUMNS: [&str; 8] = [
    "ccbulk_row",
    "ccbulk_outcome",
    "ccbulk_http_status",
    "ccbulk_attempts",
    "ccbulk_correlation_id",
    "ccbulk_error",
    "ccbulk_finished_at",
    "ccbulk_changed",
];

/// How the writer opens its file.
pub struct WriterSetup {
    pub path: PathBuf,
    /// Input header cells (as written) of the echoed columns.
    pub echo_names: Vec<String>,
    /// Which input columns to echo.
    pub echo: Vec<usize>,
    pub delimiter: u8,
    /// Append to an existing, already repaired file (resume) instead of creating one.
    pub append: bool,
    /// Begin a new file with a UTF-8 byte-order mark (the input had one).
    pub bom: bool,
    /// `--key internalIdentifier`: a last column, `ccbulk_customer_id`, says which customer each
    /// row's reference resolved to.
    pub customer_ids: bool,
}

/// The column a keyed run adds after [`RESULT_COLUMNS`].
pub const CUSTOMER_ID_COLUMN: &str = "ccbulk_customer_id";

/// Creates (or opens for append) the results file and writes the header if new.
pub fn open_results(setup: &WriterSetup) -> io::Result<csv::Writer<File>> {
    if setup.append {
        return begin(crate::files::append(&setup.path)?, setup);
    }
    // A new file whose header could not be written (a full disk) is removed, not left half-made
    // for the next run to find.
    begin(crate::files::create(&setup.path)?, setup).inspect_err(|_| {
        let _ = std::fs::remove_file(&setup.path);
    })
}

/// Writes the header of a file that has none yet (new, or a resumed one cut to nothing).
fn begin(file: File, setup: &WriterSetup) -> io::Result<csv::Writer<File>> {
    // A resumed file whose torn header was cut is empty: it gets its header again.
    let new = !setup.append || file.metadata()?.len() == 0;
    let header = new.then(|| header_record(&setup.echo_names, setup.customer_ids));
    let w = files::appended_writer(file, setup.delimiter, setup.bom, header.as_ref())?;
    if new {
        // A new file survives a power cut only once its directory entry is on disk too.
        w.get_ref().sync_all()?;
        sync_parent_dir(&setup.path);
    }
    Ok(w)
}

/// Best effort: some systems cannot open or sync a directory, and the run should not fail there.
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The writer's pause after a small batch that nobody waits for (see [`write_all`]).
const LINGER: Duration = Duration::from_millis(1);
/// A batch this big or bigger is not followed by a pause.
const LINGER_BELOW: usize = 256;
/// Lines written at most between two flushes: a writer fed without pause still flushes and
/// answers the workers waiting on it.
const MAX_BATCH: usize = 512;

/// A finished row for the writer, and the worker waiting for its line to be written and
/// flushed before it takes its next row: a crash then finds at most one row a worker sent and
/// did not record (`--concurrency` in all). `None` for rows nobody waits for (invalid rows and a
/// dry run's rows, which sent nothing).
pub struct Line {
    pub outcome: Outcome,
    pub written: Option<oneshot::Sender<()>>,
}

/// Where the writer's lines come from and how it ends: when every sender is gone, or once
/// `finish` is cancelled and the lines already queued are written (a reader stuck in a read of
/// standard input still holds a sender). A write error stops the run through `stopper`.
pub struct Lines {
    pub rx: mpsc::Receiver<Line>,
    pub finish: CancellationToken,
    pub stopper: Stopper,
}

/// Runs the writer as a task of the runtime (see [`Lines`] for when it ends). Each line is
/// written at once, the file flushed after each batch (before the workers waiting on it are
/// told), and synced to disk at least every second while there is unsynced data. The tally comes
/// back also when writing failed (a full disk), for the summary of the run that stopped.
///
/// A task rather than a thread of its own: a worker handing it a line and the writer telling the
/// worker its line is written are then wake-ups inside the runtime, not a thread put to sleep and
/// woken by the kernel for every row. A flush is a write to the page cache (microseconds); the
/// sync, which can take long, runs on a blocking thread.
pub fn spawn_writer(
    w: csv::Writer<File>,
    echo: Vec<usize>,
    customer_ids: bool,
    lines: Lines,
    counters: Arc<Counters>,
) -> tokio::task::JoinHandle<(Tally, io::Result<()>)> {
    tokio::spawn(async move {
        let mut tally = Tally::default();
        let scratch = Scratch {
            customer_ids,
            ..Scratch::default()
        };
        let stopper = lines.stopper.clone();
        let written = write_all(w, &echo, scratch, lines, &counters, &mut tally).await;
        if written.is_err() {
            // The workers' next lines cannot be recorded: no row may start.
            stopper.stop(Stop::Broken("the results file cannot be written".into()));
        }
        (tally, written)
    })
}

/// What wakes the writer.
// Made and matched once per wake-up, never stored: boxing the line would cost an allocation a row.
#[allow(clippy::large_enum_variant)]
enum Next {
    Line(Option<Line>),
    Finish,
    Sync,
}

/// The writer's loop (see [`spawn_writer`]).
async fn write_all(
    mut w: csv::Writer<File>,
    echo: &[usize],
    mut record: Scratch,
    lines: Lines,
    counters: &Counters,
    tally: &mut Tally,
) -> io::Result<()> {
    let Lines {
        mut rx,
        finish,
        stopper: _,
    } = lines;
    // On tokio's clock, as the sleep that wakes the writer to sync is: on a paused clock the
    // two agree, and the loop does not wake again and again with nothing due.
    let mut last_sync = tokio::time::Instant::now();
    let mut dirty = false;
    let mut finishing = false;
    let mut acks = Vec::new();
    loop {
        let left = Duration::from_secs(1).saturating_sub(last_sync.elapsed());
        let next = tokio::select! {
            biased;
            line = rx.recv() => Next::Line(line),
            _ = finish.cancelled(), if !finishing => Next::Finish,
            _ = tokio::time::sleep(left), if dirty => Next::Sync,
        };
        match next {
            Next::Line(None) => break,
            Next::Finish => {
                // No line comes after those queued; a sender left (a reader stuck in a read)
                // finds the channel closed.
                finishing = true;
                rx.close();
            }
            Next::Sync => {}
            Next::Line(Some(first)) => {
                // Group commit: the other tasks ready to run (workers whose answers came) go
                // first, so their lines join this batch and one write and flush serve them all.
                tokio::task::yield_now().await;
                let mut batch = 0;
                let mut line = Some(first);
                while let Some(l) = line.take() {
                    write_one(&mut w, echo, &l.outcome, &mut record)?;
                    count(tally, counters, &l.outcome);
                    acks.extend(l.written);
                    batch += 1;
                    if batch < MAX_BATCH {
                        line = rx.try_recv().ok();
                    }
                }
                w.flush()?;
                dirty = true;
                let waited = !acks.is_empty();
                for ack in acks.drain(..) {
                    let _ = ack.send(());
                }
                // A writer that keeps up with rows nobody waits for (a dry run) would be woken
                // for every row: a write per row. A short pause after a small batch lets the
                // next rows gather in the channel (BENCHMARKS.md). A worker waiting for its line
                // is never kept waiting.
                if !waited && batch < LINGER_BELOW {
                    tokio::time::sleep(LINGER).await;
                }
            }
        }
        if dirty && last_sync.elapsed() >= Duration::from_secs(1) {
            sync(&w, File::sync_data).await?;
            last_sync = tokio::time::Instant::now();
            dirty = false;
        }
    }
    w.flush()?;
    sync(&w, File::sync_all).await
}

/// Syncs the results file to disk (`how`) on a blocking thread, through a second handle of it.
async fn sync(w: &csv::Writer<File>, how: fn(&File) -> io::Result<()>) -> io::Result<()> {
    let file = w.get_ref().try_clone()?;
    tokio::task::spawn_blocking(move || how(&file))
        .await
        .map_err(io::Error::other)?
}

fn count(tally: &mut Tally, counters: &Counters, o: &Outcome) {
    *tally.by_outcome.entry(o.kind).or_default() += 1;
    if o.kind == OutcomeKind::WouldChange {
        tally.diff.add(o);
    }
    if !o.kind.is_success() {
        tally.reasons.add(o.kind.as_str(), &o.error);
    }
    if o.kind != OutcomeKind::Invalid && o.kind != OutcomeKind::Valid {
        // A key is allocated once per distinct status, not once per row.
        let mut num = itoa::Buffer::new();
        let status = o.http_status.map_or("none", |s| num.format(s));
        match tally.by_status.get_mut(status) {
            Some(n) => *n += 1,
            None => {
                tally.by_status.insert(status.to_string(), 1);
            }
        }
    }
    // The kind first: the display reads `done` first, so it never sees a row done without it.
    counters.by_kind[o.kind as usize].fetch_add(1, Ordering::Release);
    counters.done.fetch_add(1, Ordering::Release);
    tracing::info!(
        row = o.row.number,
        line = o.row.line,
        correlation = %o.correlation_id.map(|c| c.to_string()).unwrap_or_default(),
        outcome = o.kind.as_str(),
        status = o.http_status.unwrap_or(0),
        error = %o.error,
        "row finished"
    );
}

/// What `write_one` reuses from row to row: the record, and the last `ccbulk_finished_at` text
/// (rows finish many to a second, and formatting the time was a visible part of a dry run).
#[derive(Default)]
struct Scratch {
    /// Write `ccbulk_customer_id` (a keyed run).
    customer_ids: bool,
    record: ByteRecord,
    stamp_secs: Option<u64>,
    stamp: String,
    changed: String,
}

fn write_one(
    w: &mut csv::Writer<File>,
    echo: &[usize],
    o: &Outcome,
    scratch: &mut Scratch,
) -> io::Result<()> {
    let secs = o
        .finished_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if scratch.stamp_secs != Some(secs) {
        scratch.stamp_secs = Some(secs);
        scratch.stamp.clear();
        let t = humantime::format_rfc3339_seconds(o.finished_at);
        std::fmt::Write::write_fmt(&mut scratch.stamp, format_args!("{t}"))
            .map_err(io::Error::other)?;
    }
    let record = &mut scratch.record;
    record.clear();
    let utf8 = std::str::from_utf8(o.row.record.as_slice()).is_ok();
    for &i in echo {
        record.push_field(&echoed(o.row.record.get(i).unwrap_or_default(), utf8));
    }
    let mut num = itoa::Buffer::new();
    record.push_field(num.format(o.row.number).as_bytes());
    record.push_field(o.kind.as_str().as_bytes());
    match o.http_status {
        Some(s) => record.push_field(num.format(s).as_bytes()),
        None => record.push_field(b""),
    }
    record.push_field(num.format(o.attempts).as_bytes());
    match o.correlation_id {
        Some(c) => {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            record.push_field(c.hyphenated().encode_lower(&mut buf).as_bytes());
        }
        None => record.push_field(b""),
    }
    // Most rows have no error and no change list: no allocation for them.
    let error = o.error.trim();
    // It quotes the API and the input, so it is guarded too.
    if error.contains(['\r', '\n']) {
        record.push_field(crate::formula::guard(&crate::text::one_line(error)).as_bytes());
    } else {
        record.push_field(crate::formula::guard(error).as_bytes());
    }
    record.push_field(scratch.stamp.as_bytes());
    crate::customer::describe_changes_into(&o.changes, &mut scratch.changed);
    record.push_field(scratch.changed.as_bytes());
    if scratch.customer_ids {
        // The customer the row was applied to (or looked at): none while its reference is
        // unresolved (a row found invalid before or by the lookup).
        match &o.row.mapped {
            Ok(m) if !m.keyed => {
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                record.push_field(m.customer_id.hyphenated().encode_lower(&mut buf).as_bytes());
            }
            _ => record.push_field(b""),
        }
    }
    w.write_byte_record(record)?;
    Ok(())
}

/// An input cell as the results file holds it: as it came, but never as a formula a spreadsheet
/// would evaluate (`formula`), and always UTF-8: a cell of a record that is not (`utf8` false:
/// standard input past its first MiB, or an explicit --encoding utf-8) is written with U+FFFD for
/// its bad bytes, so the file stays readable. `--resume` compares the input with it (`check`).
fn echoed(cell: &[u8], utf8: bool) -> Cow<'_, [u8]> {
    if utf8 {
        crate::formula::reguard_bytes(cell)
    } else {
        let text = String::from_utf8_lossy(cell);
        Cow::Owned(crate::formula::reguard_bytes(text.as_bytes()).into_owned())
    }
}

/// What an existing results file says, for `--resume`.
#[derive(Debug, Default)]
pub struct Prior {
    /// Row numbers already recorded.
    pub done: RowSet,
    /// The file ends inside its header (a crash while it was written): it is emptied by
    /// [`repair`] and the header written again.
    pub header_torn: bool,
    /// The file's input columns (every column but `ccbulk_*`), as written.
    pub input_columns: Vec<String>,
    /// Bytes of a torn last line (a crash mid-write), to cut with [`repair`] before appending.
    pub torn_bytes: u64,
    /// Where the last whole line ends.
    pub good_len: u64,
    /// Rows recorded as failed or invalid (they count towards the exit code and the replay hint).
    pub unsuccessful: u64,
    /// Rows recorded by a dry run or a plan (`valid`, `would-change`): nothing was sent for them.
    pub not_sent: u64,
    /// The recorded rows' input cells, summed up for [`check`].
    pub fingerprints: Fingerprints,
    /// With an [`UndoCheck`]: the first row recorded as accepted with changes whose customer
    /// the undo file has no line for, and that customer.
    pub without_undo: Option<(u64, Uuid)>,
}

/// On `--resume` with an undo file to append to: for each row the results record as accepted
/// with changes (`ccbulk_changed`), whether the undo file holds a way back for its customer.
/// Every such row's line was written before its PATCH, so this run's undo file has one for each
/// (or an earlier line of the same customer); another run's lacks them. It cannot tell an undo
/// file of an earlier run over the same customers: that would take the changes themselves.
pub struct UndoCheck<'a> {
    /// Which of the input columns holds the customerId (a keyed run's results name the
    /// customer in `ccbulk_customer_id` instead).
    pub id_column: Option<usize>,
    /// Whether the undo file restores something of this customer.
    pub restores: &'a dyn Fn(Uuid) -> io::Result<bool>,
}

/// The header of a new results file for these input columns.
fn header_record(echo_names: &[String], customer_ids: bool) -> ByteRecord {
    let keyed = customer_ids.then_some(CUSTOMER_ID_COLUMN);
    echo_names
        .iter()
        .map(String::as_str)
        .chain(RESULT_COLUMNS)
        .chain(keyed)
        .map(str::as_bytes)
        .collect()
}

/// What to do about a results file `--resume` cannot read.
const FIXES: Fixes = Fixes {
    line: "fix or delete that line (its row is then sent again), or start again with --overwrite",
    header: "it records no row: delete it, or start again with --overwrite",
};

/// Reads an existing results file, changing nothing: which rows it records, and whether its last
/// line (or its header) is torn by a crash, by the rule of [`crate::files::Scanner`]. A file that
/// ends inside its header holds no row: it is ours to cut if what is there is the start of the
/// header this input gets (`echo_names`).
pub fn read_prior(
    path: &Path,
    delimiter: u8,
    echo_names: &[String],
    undo: Option<&UndoCheck<'_>>,
) -> io::Result<Prior> {
    // With or without a BOM (written when the input had one); with or without the column of a
    // keyed run (a file that holds no row is ours to cut either way).
    let mut headers = Vec::with_capacity(4);
    for keyed in [false, true] {
        for bom in [true, false] {
            let header = header_record(echo_names, keyed);
            headers.push(files::header_line(&header, delimiter, bom)?);
        }
    }
    let mut scan = match Scanner::open(path, delimiter, &headers, FIXES)? {
        Start::TornHeader { bytes } => {
            return Ok(Prior {
                header_torn: true,
                torn_bytes: bytes,
                ..Prior::default()
            });
        }
        Start::Lines(scan) => scan,
    };
    let names = scan.names();
    let column = |name: &str| names.iter().position(|n| n == name);
    let row_col = column("ccbulk_row")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "it has no ccbulk_row column"))?;
    let outcome_col = column("ccbulk_outcome");
    let inputs: Vec<usize> = (0..names.len())
        .filter(|&i| !input::is_ccbulk_column(&names[i]))
        .collect();
    let mut prior = Prior {
        input_columns: inputs.iter().map(|&i| names[i].clone()).collect(),
        ..Prior::default()
    };
    let number = |record: &ByteRecord| {
        record
            .get(row_col)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let unnumbered = |r: &ByteRecord| {
        number(r)
            .is_none()
            .then(|| "ccbulk_row is not a row number".into())
    };
    let without_undo = undo.map(|u| WithoutUndo {
        restores: u.restores,
        outcome: outcome_col,
        changed: column("ccbulk_changed"),
        customer: column(CUSTOMER_ID_COLUMN).or(u.id_column.and_then(|k| inputs.get(k).copied())),
    });
    while let Some(record) = scan.next(unnumbered)? {
        if let Some(n) = number(record) {
            prior.done.insert(n);
            let cells = inputs.iter().map(|&i| record.get(i).unwrap_or_default());
            prior.fingerprints.add(n, check::fingerprint(n, cells));
            if let Some(w) = &without_undo
                && prior.without_undo.is_none()
            {
                prior.without_undo = w.customer(record)?.map(|id| (n, id));
            }
        }
        prior.count(outcome_col.and_then(|c| record.get(c)));
    }
    prior.torn_bytes = scan.torn_bytes();
    prior.good_len = scan.len() - prior.torn_bytes;
    prior.done.seal();
    Ok(prior)
}

/// [`UndoCheck`] with the results file's columns found.
struct WithoutUndo<'a> {
    restores: &'a dyn Fn(Uuid) -> io::Result<bool>,
    outcome: Option<usize>,
    changed: Option<usize>,
    customer: Option<usize>,
}

impl WithoutUndo<'_> {
    /// The customer of `record` if it was accepted with changes and the undo file holds no
    /// line for it. A row whose customer cannot be read is not judged.
    fn customer(&self, record: &ByteRecord) -> io::Result<Option<Uuid>> {
        let cell = |col: Option<usize>| col.and_then(|c| record.get(c)).map(<[u8]>::trim_ascii);
        if cell(self.outcome) != Some(b"accepted")
            || cell(self.changed).is_none_or(<[u8]>::is_empty)
        {
            return Ok(None);
        }
        let id = cell(self.customer)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(input::parse_guid);
        match id {
            Some(id) if !(self.restores)(id)? => Ok(Some(id)),
            _ => Ok(None),
        }
    }
}

impl Prior {
    /// Counts a recorded row's `ccbulk_outcome`.
    fn count(&mut self, outcome: Option<&[u8]>) {
        match outcome.map(<[u8]>::trim_ascii) {
            Some(b"failed" | b"invalid") => self.unsuccessful += 1,
            Some(b"valid" | b"would-change") => self.not_sent += 1,
            _ => {}
        }
    }
}

/// Cuts the torn last line [`read_prior`] found, so appended lines start on a line of their own.
/// Called only once the resume is known to go ahead: a refused resume leaves the file as it was.
pub fn repair(path: &Path, prior: &Prior) -> io::Result<()> {
    if prior.torn_bytes == 0 {
        return Ok(());
    }
    let f = crate::files::append(path)?;
    f.set_len(prior.good_len)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append_raw(path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
        f.write_all(bytes)
    }

    #[test]
    fn a_header_torn_after_or_inside_its_bom_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let names = vec!["id".to_string()];
        for torn in [&b"\xEF\xBB"[..], b"\xEF\xBB\xBFid,ccbulk_r", b"id,ccb"] {
            std::fs::write(&p, torn).unwrap();
            let prior = read_prior(&p, b',', &names, None).unwrap();
            assert!(prior.header_torn, "{torn:?}");
        }
        std::fs::write(&p, b"\xEF\xBB\xBFother,ccb").unwrap();
        assert!(read_prior(&p, b',', &names, None).is_err());
        // A keyed run's header ends in ccbulk_customer_id: cut inside that column, it is ours.
        let keyed = files::header_line(&header_record(&names, true), b',', false).unwrap();
        for cut in [
            &keyed[..keyed.len() - 4],
            &[files::UTF8_BOM, &keyed[..keyed.len() - 1]].concat(),
        ] {
            std::fs::write(&p, cut).unwrap();
            let prior = read_prior(&p, b',', &names, None).unwrap();
            assert!(prior.header_torn && prior.torn_bytes == cut.len() as u64);
        }
    }

    #[test]
    fn torn_last_line_is_cut_and_done_rows_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let good = "id,city,ccbulk_row,ccbulk_outcome,ccbulk_http_status,ccbulk_attempts,ccbulk_correlation_id,ccbulk_error,ccbulk_finished_at,ccbulk_changed\n\
                    a,\"Lis\nboa\",2,accepted,202,1,x,,t,\n\
                    b,Porto,1,failed,500,5,y,e,t,\n";
        std::fs::write(&p, good).unwrap();
        append_raw(&p, b"c,Faro,3,acc").unwrap();
        let prior = read_prior(&p, b',', &[], None).unwrap();
        assert!(prior.done.contains(1) && prior.done.contains(2) && prior.done.len() == 2);
        assert_eq!(prior.input_columns, vec!["id", "city"]);
        assert_eq!(prior.torn_bytes, 12);
        assert_eq!(
            std::fs::read(&p).unwrap().len(),
            good.len() + 12,
            "reading changes nothing"
        );
        repair(&p, &prior).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), good);
        // A clean file is left alone.
        let again = read_prior(&p, b',', &[], None).unwrap();
        assert_eq!(again.torn_bytes, 0);
        repair(&p, &again).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), good);
        assert_eq!(again.unsuccessful, 1);
    }

    const HEADER: &str = "\u{feff}id,ccbulk_row,ccbulk_outcome,ccbulk_changed\n";

    #[test]
    fn a_cut_on_a_newline_inside_a_quoted_last_cell_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let good = format!("{HEADER}a,1,accepted,\"city: \"\"x\"\" → y\"\n");
        // Every cell is there and the file ends in a newline, but the quote is still open.
        std::fs::write(&p, format!("{good}b,2,accepted,\"street: a\n")).unwrap();
        let prior = read_prior(&p, b',', &[], None).unwrap();
        assert_eq!(prior.input_columns, vec!["id"], "BOM dropped");
        assert!(prior.done.contains(1) && prior.done.len() == 1);
        repair(&p, &prior).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), good);
    }

    #[test]
    fn a_last_record_past_the_cap_is_refused_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let mut text = format!("{HEADER}a,1,accepted,\nb,2,accepted,\"").into_bytes();
        text.resize(
            text.len() + (crate::files::MAX_OWN_RECORD as usize) + 1,
            b'x',
        );
        std::fs::write(&p, &text).unwrap();
        let err = read_prior(&p, b',', &[], None).unwrap_err().to_string();
        assert!(err.contains("runs past 16 MiB"), "{err}");
    }

    #[test]
    fn garbage_after_the_last_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let good = format!("{HEADER}a,1,valid,\n");
        std::fs::write(&p, format!("{good}\0\0\0\0\0\0")).unwrap();
        let prior = read_prior(&p, b',', &[], None).unwrap();
        assert!(prior.done.contains(1) && prior.done.len() == 1);
        assert_eq!((prior.torn_bytes, prior.not_sent), (6, 1));
        repair(&p, &prior).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), good);
    }

    #[test]
    fn a_bad_line_before_the_last_is_an_error_and_nothing_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let text = format!("{HEADER}a,1,accepted,\nb,x,accepted,\nc,3,accepted,\n");
        std::fs::write(&p, &text).unwrap();
        let err = read_prior(&p, b',', &[], None).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("ccbulk_row"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        let text = format!("{HEADER}a,1,accepted\nc,3,accepted,\n");
        std::fs::write(&p, &text).unwrap();
        let err = read_prior(&p, b',', &[], None).unwrap_err().to_string();
        assert!(err.contains("3 cells where the header has 4"), "{err}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
    }
}
