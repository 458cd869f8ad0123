//! `--resume` checks its input before anything is sent: every row it skips must be the row the
//! results file recorded under that number, cell for cell (SPEC: Resume). An input edited since
//! the interrupted run (a row inserted at the top, as people do between an interrupt and a
//! resume) would otherwise skip the wrong rows: a new customer never sent, a moved one sent twice,
//! and results lines that name another customer than the input row of their number.
//!
//! How, in flat memory: the results file is in completion order and the input in file order, so
//! neither can be looked up in the other without holding one of them whole. Instead each side adds
//! up a fingerprint per row (a 64-bit hash of the row number and the input cells as the results
//! file holds them) into sums by ranges of row numbers: the results side while `read_prior` reads
//! the file, the input side in one pass over a second opening of the input (which the run then
//! reads afresh). Equal sums in every range: the rows are the same (a change would have to cancel
//! out by chance, about 1 in 2^64). The first range whose sums differ holds the first row that
//! differs; only that range's rows are then read again from both files, to name the row and the
//! cell. At most [`RANGES`] sums (512 KB); a range covers more numbers as the numbers grow, and
//! holds a few dozen rows for a file of a few million.

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::Path;

use csv::ByteRecord;

use super::{Prior, echoed};
use crate::files::{Scanner, Start};
use crate::input::{Input, InputError, Row};
use crate::text::shown;

/// The most ranges the sums are kept in.
const RANGES: u64 = 1 << 16;

/// Sums of row fingerprints by ranges of row numbers (see the module doc).
#[derive(Debug, Clone)]
pub struct Fingerprints {
    /// Row numbers per range: a power of two.
    width: u64,
    sums: Vec<u64>,
    /// The largest row number added.
    max: u64,
}

impl Default for Fingerprints {
    fn default() -> Self {
        Fingerprints {
            width: 1,
            sums: Vec::new(),
            max: 0,
        }
    }
}

impl Fingerprints {
    /// Adds the fingerprint of a recorded row.
    pub(super) fn add(&mut self, number: u64, fp: u64) {
        while number / self.width >= RANGES {
            // Two neighbouring ranges become one: sums add up.
            self.sums = self
                .sums
                .chunks(2)
                .map(|pair| pair.iter().fold(0u64, |a, &b| a.wrapping_add(b)))
                .collect();
            self.width *= 2;
        }
        let i = (number / self.width) as usize;
        if i >= self.sums.len() {
            self.sums.resize(i + 1, 0);
        }
        self.sums[i] = self.sums[i].wrapping_add(fp);
        self.max = self.max.max(number);
    }

    /// Takes away the fingerprint of an input row the results record (so `number <= max`).
    fn take(&mut self, number: u64, fp: u64) {
        if let Some(sum) = self.sums.get_mut((number / self.width) as usize) {
            *sum = sum.wrapping_sub(fp);
        }
    }

    /// The range that holds `number`.
    fn range_of(&self, number: u64) -> usize {
        (number / self.width) as usize
    }

    /// The first range from `from` (its first and last row number) whose sums do not cancel
    /// out, before range `to`.
    fn differing(&self, from: usize, to: usize) -> Option<(u64, u64)> {
        let to = to.min(self.sums.len());
        let i = (from.min(to)..to).find(|&i| self.sums[i] != 0)? as u64;
        Some((i * self.width, i * self.width + (self.width - 1)))
    }

    /// The first range whose sums do not cancel out.
    fn first_differing(&self) -> Option<(u64, u64)> {
        self.differing(0, self.sums.len())
    }
}

/// The fingerprint of row `number` with these input cells, as the results file holds them.
pub(super) fn fingerprint(number: u64, cells: impl Iterator<Item = impl AsRef<[u8]>>) -> u64 {
    // SipHash with fixed keys: the same in both passes of one process, which is all it needs.
    let mut h = std::hash::DefaultHasher::new();
    h.write_u64(number);
    for cell in cells {
        let cell = cell.as_ref();
        h.write_usize(cell.len());
        h.write(cell);
    }
    h.finish()
}

/// The input cells of `row` as the results file holds them.
fn cells_of<'a>(row: &'a Row, echo: &'a [usize]) -> impl Iterator<Item = impl AsRef<[u8]>> + 'a {
    let utf8 = std::str::from_utf8(row.record.as_slice()).is_ok();
    echo.iter()
        .map(move |&i| echoed(row.record.get(i).unwrap_or_default(), utf8))
}

/// What the check compares.
pub struct Resumed<'a> {
    pub prior: &'a Prior,
    /// The results file, and its delimiter (the input's).
    pub results: &'a Path,
    pub delimiter: u8,
    /// The input columns the results echo, and their names.
    pub echo: &'a [usize],
    pub echo_names: &'a [String],
    /// Row numbers come in file order: not a replay, whose rows keep the numbers of the run
    /// they came from, in any order.
    pub ordered: bool,
}

/// Reads `input` (a second opening, used up here) against what the results file recorded; on a
/// difference, reads the range that holds the first one again (`reopen` opens the input a third
/// time) and says which row differs and how, with the way on: a message for the user.
pub fn check(
    mut input: Input,
    reopen: impl FnOnce() -> Result<Input, InputError>,
    r: &Resumed,
) -> Result<(), String> {
    let mut sums = r.prior.fingerprints.clone();
    let ordered = r.ordered;
    while let Some(row) = input.next_row().map_err(|e| e.to_string())? {
        if ordered && row.number > sums.max {
            break;
        }
        if r.prior.done.contains(row.number) {
            sums.take(row.number, fingerprint(row.number, cells_of(&row, r.echo)));
        }
    }
    let Some(range) = sums.first_differing() else {
        return Ok(());
    };
    let recorded = recorded_in(r, range).map_err(|e| format!("{}: {e}", r.results.display()))?;
    drop(input);
    let mut input = reopen().map_err(|e| e.to_string())?;
    let mut rows = BTreeMap::<u64, Vec<(u64, ByteRecord)>>::new();
    let mut count = 0;
    while let Some(row) = input.next_row().map_err(|e| e.to_string())? {
        count += 1;
        if ordered && row.number > range.1 {
            break;
        }
        if (range.0..=range.1).contains(&row.number) && r.prior.done.contains(row.number) {
            let cells = cells_of(&row, r.echo).collect::<ByteRecord>();
            rows.entry(row.number).or_default().push((row.line, cells));
        }
    }
    Err(describe(r, &input.name, &recorded, &rows, count, range))
}

/// Rows of standard input the check may read ahead and keep for the run (rows before the last
/// recorded one that the results do not hold: those in flight when the run stopped, usually a
/// few): a bound below the input's row budget, which would otherwise stop the reading for good.
const MAX_AHEAD_ROWS: usize = 10_000;
const MAX_AHEAD_BYTES: usize = 8 << 20;

/// [`check`] for standard input, which cannot be read twice: rows are read in order up to the
/// last recorded one, and each range of row numbers is checked as soon as the input has passed
/// it, with its recorded rows' cells still at hand to say what differs. The rows the run still
/// has to send (not recorded, or past the last recorded one) are given back to `input`.
pub fn check_stream(mut input: Input, r: &Resumed) -> Result<Input, String> {
    let mut sums = r.prior.fingerprints.clone();
    let (mut ahead, mut ahead_bytes) = (Vec::new(), 0);
    // The recorded rows of the ranges not yet checked, from `checked` on.
    let mut held = BTreeMap::<u64, Vec<(u64, ByteRecord)>>::new();
    let (mut checked, mut count) = (0, 0);
    let name = input.name.clone();
    let mut verify = |sums: &Fingerprints, held: &mut BTreeMap<_, _>, to, count| {
        if to <= checked {
            return Ok(());
        }
        if let Some(range) = sums.differing(checked, to) {
            let recorded =
                recorded_in(r, range).map_err(|e| format!("{}: {e}", r.results.display()))?;
            return Err(describe(r, &name, &recorded, held, count, range));
        }
        held.clear();
        checked = to;
        Ok(())
    };
    while let Some(row) = input.next_row().map_err(|e| e.to_string())? {
        count += 1;
        verify(&sums, &mut held, sums.range_of(row.number), count)?;
        let past = row.number > sums.max;
        if !past && r.prior.done.contains(row.number) {
            let cells = cells_of(&row, r.echo).collect::<ByteRecord>();
            sums.take(row.number, fingerprint(row.number, cells.iter()));
            held.entry(row.number).or_default().push((row.line, cells));
            continue;
        }
        ahead_bytes += row.record.as_slice().len();
        ahead.push(row);
        if past {
            break;
        }
        if ahead.len() > MAX_AHEAD_ROWS || ahead_bytes > MAX_AHEAD_BYTES {
            return Err(format!(
                "cannot resume from standard input: more than {MAX_AHEAD_ROWS} rows (or {} MiB) before row {}, the last one {} records, are not in it, and they would have to be held while the rows before that are checked; give the input as a file",
                MAX_AHEAD_BYTES >> 20,
                sums.max,
                r.results.display()
            ));
        }
    }
    verify(&sums, &mut held, usize::MAX, count)?;
    input.unread(ahead);
    Ok(input)
}

/// The input cells of the results lines whose row numbers are in `range`.
fn recorded_in(r: &Resumed, range: (u64, u64)) -> std::io::Result<BTreeMap<u64, ByteRecord>> {
    let mut found = BTreeMap::new();
    let fixes = super::FIXES;
    let Start::Lines(mut scan) = Scanner::open(r.results, r.delimiter, &[], fixes)? else {
        return Ok(found);
    };
    let names = scan.names().to_vec();
    let row_col = names.iter().position(|n| n == "ccbulk_row");
    let inputs: Vec<usize> = (0..names.len())
        .filter(|&i| !crate::input::is_ccbulk_column(&names[i]))
        .collect();
    while let Some(record) = scan.next(|_| None)? {
        let number = row_col
            .and_then(|c| record.get(c))
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        if let Some(n) = number.filter(|n| (range.0..=range.1).contains(n)) {
            let cells = inputs.iter().map(|&i| record.get(i).unwrap_or_default());
            found.insert(n, cells.collect());
        }
    }
    Ok(found)
}

/// The message for the first row that differs, with the way on.
fn describe(
    r: &Resumed,
    input: &str,
    recorded: &BTreeMap<u64, ByteRecord>,
    rows: &BTreeMap<u64, Vec<(u64, ByteRecord)>>,
    count: u64,
    range: (u64, u64),
) -> String {
    let results = r.results.display();
    let way_on = "the input was changed since that run (a row inserted, deleted or edited?), so the rows to skip are not known: resume with the input as it was, or start again with --overwrite (every row is then sent again)";
    for (&n, recorded) in recorded {
        let what = match rows.get(&n).map(Vec::as_slice) {
            None | Some([]) if r.ordered => {
                format!("{results} records row {n}, but {input} has only {count} rows")
            }
            None | Some([]) => {
                format!("{results} records row {n}, but {input} has no row with ccbulk_row {n}")
            }
            Some([(line, cells)]) => match differing_cell(r.echo_names, recorded, cells) {
                Some(cell) => format!(
                    "row {n} of {input} (line {line}) is not the row {results} recorded as row {n}: {cell}"
                ),
                None => continue,
            },
            Some(_) => format!("{input} has more than one row numbered {n}"),
        };
        return format!("cannot resume: {what}; {way_on}");
    }
    format!(
        "cannot resume: rows {} to {} of {input} are not the rows {results} recorded; {way_on}",
        range.0, range.1
    )
}

/// The first cell that differs, said: its column, the value in the input and in the results.
fn differing_cell(names: &[String], recorded: &ByteRecord, cells: &ByteRecord) -> Option<String> {
    let text = |c: Option<&[u8]>| shown(&String::from_utf8_lossy(c.unwrap_or_default()));
    (0..recorded.len().max(cells.len()))
        .find(|&i| recorded.get(i) != cells.get(i))
        .map(|i| {
            let column = names.get(i).map_or("?", String::as_str);
            format!(
                "{column} is {} in the input, {} in the results",
                text(cells.get(i)),
                text(recorded.get(i))
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputOptions;

    /// An input of `n` rows (what `edit` makes of each line) resumed from a results file that
    /// records its first `done` rows but row 5 (in flight when the run stopped): the row numbers
    /// the run still gets, or the refusal. `stream`: read as standard input, else as a file.
    fn resumed(
        stream: bool,
        n: u32,
        done: u32,
        edit: impl Fn(u32, String) -> String,
    ) -> Result<Vec<u64>, String> {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        let line = |i: u32| format!("6a1f0c2e-1b7d-4c3a-9e55-{i:012x},Faro {i}");
        let mut text = format!(
            "customerId,city,{}\n",
            super::super::RESULT_COLUMNS.join(",")
        );
        for i in (1..=done).filter(|&i| i != 5) {
            text += &format!("{},{i},accepted,202,1,,,t,\n", line(i));
        }
        std::fs::write(&results, text).unwrap();
        let names = ["customerId".to_string(), "city".to_string()];
        let prior = super::super::read_prior(&results, b',', &names, None).unwrap();
        let input: String = (1..=n).fold("customerId,city\n".into(), |t, i| {
            t + &edit(i, line(i)) + "\n"
        });
        let open = || {
            let bytes = Box::new(std::io::Cursor::new(input.clone().into_bytes()));
            Input::from_reader(bytes, "stdin", InputOptions::default())
        };
        let mut input = open().unwrap();
        let echo = input.columns.echo.clone();
        let r = Resumed {
            prior: &prior,
            results: &results,
            delimiter: b',',
            echo: &echo,
            echo_names: &names,
            ordered: true,
        };
        if stream {
            input = check_stream(input, &r)?;
        } else {
            check(input, open, &r)?;
            input = open().unwrap();
        }
        let mut left = Vec::new();
        while let Some(row) = input.next_row().unwrap() {
            if !prior.done.contains(row.number) {
                left.push(row.number);
            }
        }
        Ok(left)
    }

    #[test]
    fn files_and_standard_input_are_checked_range_by_range() {
        // 140,000 rows: ranges of four numbers. Standard input checks a range once it has passed
        // it, and gives back the rows the run still sends.
        for stream in [true, false] {
            let left = resumed(stream, 140_000, 139_990, |_, l| l).unwrap();
            let want: Vec<u64> = [5].into_iter().chain(139_991..=140_000).collect();
            assert_eq!(left, want);
            let beja = |i, l: String| {
                if i == 70_001 {
                    l.replace("Faro", "Beja")
                } else {
                    l
                }
            };
            let err = resumed(stream, 140_000, 139_990, beja).unwrap_err();
            let cell = "city is \"Beja 70001\" in the input, \"Faro 70001\" in the results";
            assert!(
                err.contains("row 70001 of stdin (line 70002)") && err.contains(cell),
                "{err}"
            );
            // The input ends before the last recorded row.
            let err = resumed(stream, 139_000, 139_990, |_, l| l).unwrap_err();
            assert!(
                err.contains("records row 139001, but stdin has only 139000 rows"),
                "{err}"
            );
        }
    }

    #[test]
    fn sums_cancel_across_coarsening_and_name_the_range() {
        let mut f = Fingerprints::default();
        let rows: Vec<u64> = (1..=200_000).step_by(3).collect();
        for &n in &rows {
            f.add(n, fingerprint(n, [b"a".as_slice(), b"b"].into_iter()));
        }
        assert!(f.sums.len() as u64 <= RANGES && f.width == 4, "{}", f.width);
        let mut g = f.clone();
        for &n in &rows {
            g.take(n, fingerprint(n, [b"a".as_slice(), b"b"].into_iter()));
        }
        assert_eq!(g.first_differing(), None);
        // One cell moved to the next column: another fingerprint.
        for &n in &rows {
            let cells: [&[u8]; 2] = if n == 100_003 {
                [b"ab", b""]
            } else {
                [b"a", b"b"]
            };
            f.take(n, fingerprint(n, cells.into_iter()));
        }
        assert_eq!(f.first_differing(), Some((100_000, 100_003)));
    }
}
