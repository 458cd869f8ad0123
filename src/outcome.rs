//! What a row became: its outcome (accepted, failed, ...), the live counters the progress line
//! reads, the final tally the writer hands back, and the diff a plan shows. Produced by the
//! workers and the reader, consumed by the results writer, the summary and the undo file.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use uuid::Uuid;

use crate::customer::{Change, Field};
use crate::input::Row;
use crate::text::{plural, shorten};

/// A row's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutcomeKind {
    Accepted,
    Unchanged,
    Failed,
    Invalid,
    Valid,
    WouldChange,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 6] = [
        OutcomeKind::Accepted,
        OutcomeKind::Unchanged,
        OutcomeKind::WouldChange,
        OutcomeKind::Valid,
        OutcomeKind::Failed,
        OutcomeKind::Invalid,
    ];

    /// The word in `ccbulk_outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Accepted => "accepted",
            OutcomeKind::Unchanged => "unchanged",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Invalid => "invalid",
            OutcomeKind::Valid => "valid",
            OutcomeKind::WouldChange => "would-change",
        }
    }

    /// Did the row do what was asked?
    pub fn is_success(self) -> bool {
        !matches!(self, OutcomeKind::Failed | OutcomeKind::Invalid)
    }
}

/// One finished row, on its way to the results file.
#[derive(Debug)]
pub struct Outcome {
    pub row: Row,
    pub kind: OutcomeKind,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub correlation_id: Option<Uuid>,
    pub error: String,
    pub changes: Vec<Change>,
    pub finished_at: SystemTime,
}

impl Outcome {
    /// A blank outcome for `row` (invalid, no call), to fill with struct update syntax.
    pub fn new(row: Row) -> Outcome {
        Outcome {
            row,
            kind: OutcomeKind::Invalid,
            http_status: None,
            attempts: 0,
            correlation_id: None,
            error: String::new(),
            changes: Vec::new(),
            finished_at: SystemTime::now(),
        }
    }

    /// The outcome of a row that failed its checks.
    pub fn invalid(row: Row) -> Outcome {
        let error = row.mapped.as_ref().err().cloned().unwrap_or_default();
        Outcome {
            error,
            ..Outcome::new(row)
        }
    }
}

/// Live counters, shared with the progress display: only what cannot be derived (the rest, such
/// as rows done without an outcome kind, an export's customers, is worked out from these).
#[derive(Default, Debug)]
pub struct Counters {
    /// Rows (or an export's customers) done. Counted after `by_kind`, so a reader that loads
    /// `done` first never sees more rows done than kinds counted.
    pub done: AtomicU64,
    /// Rows in the input, once known (0 until then).
    pub total: AtomicU64,
    /// Rows by outcome (`OutcomeKind as usize`): the progress display's counts, and a summary
    /// written without the writer's tally (a second Ctrl-C quits at once).
    pub by_kind: [AtomicU64; 6],
}

impl Counters {
    /// The outcome counts so far, as a tally.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for kind in OutcomeKind::ALL {
            let n = self.by_kind[kind as usize].load(Ordering::Relaxed);
            if n > 0 {
                tally.by_outcome.insert(kind, n);
            }
        }
        tally
    }
}

/// Final tallies, owned by the writer and handed back at the end.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub by_outcome: BTreeMap<OutcomeKind, u64>,
    pub by_status: BTreeMap<String, u64>,
    /// What the rows would change (plan) or changed (update), for the summary on stderr.
    pub diff: Diff,
    /// Lines this run wrote to the undo file.
    pub undo_lines: u64,
    /// Why rows failed or were invalid, for the summary.
    pub reasons: crate::reasons::Reasons,
}

impl Tally {
    pub fn count(&self, kind: OutcomeKind) -> u64 {
        self.by_outcome.get(&kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.by_outcome.values().sum()
    }

    pub fn unsuccessful(&self) -> u64 {
        self.count(OutcomeKind::Failed) + self.count(OutcomeKind::Invalid)
    }
}

/// What a plan would change: rows per field and a few examples, shown on stderr so a user sees
/// the shape of a file's effect before sending it (the full detail is in `ccbulk_changed`).
#[derive(Debug, Default, Clone)]
pub struct Diff {
    /// Rows that would change something.
    pub rows: u64,
    /// Rows changing each field.
    pub by_field: BTreeMap<Field, u64>,
    /// (row number, line) of the lowest-numbered rows seen, so the examples do not depend on
    /// which calls finished first.
    examples: Vec<(u64, String)>,
}

impl Diff {
    /// Examples shown at most.
    pub const EXAMPLES: usize = 5;

    /// Counts a row's changes.
    pub fn add(&mut self, o: &Outcome) {
        if o.changes.is_empty() {
            return;
        }
        self.rows += 1;
        for c in &o.changes {
            *self.by_field.entry(c.field).or_default() += 1;
        }
        let number = o.row.number;
        let worst = self
            .examples
            .iter()
            .enumerate()
            .max_by_key(|(_, (n, _))| *n);
        let slot = match worst {
            _ if self.examples.len() < Self::EXAMPLES => None,
            Some((i, (n, _))) if number < *n => Some(i),
            _ => return,
        };
        let id = o
            .row
            .mapped
            .as_ref()
            .map(|m| m.customer_id.to_string())
            .unwrap_or_default();
        let changes: Vec<String> = o
            .changes
            .iter()
            .take(3)
            .map(|c| {
                format!(
                    "{}: {} → {}",
                    c.field.wire(),
                    shorten(c.old.as_deref()),
                    shorten(c.new.as_deref())
                )
            })
            .collect();
        let more = match o.changes.len().saturating_sub(3) {
            0 => String::new(),
            n => format!("; and {n} more"),
        };
        let line = format!("row {number}, {id}: {}{more}", changes.join("; "));
        match slot {
            Some(i) => self.examples[i] = (number, line),
            None => self.examples.push((number, line)),
        }
    }

    /// The readable summary: how many of `total` rows would change, which fields, examples.
    pub fn render(&self, total: u64) -> String {
        if self.rows == 0 {
            return match total {
                1 => "ccbulk plan: the row would change nothing\n".to_string(),
                _ => format!("ccbulk plan: none of the {total} rows would change anything\n"),
            };
        }
        let mut s = format!(
            "ccbulk plan: {} of {total} {} would change a customer\n",
            self.rows,
            plural(total, "row", "rows")
        );
        let mut fields: Vec<(&Field, &u64)> = self.by_field.iter().collect();
        fields.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let width = fields
            .iter()
            .map(|(f, _)| f.wire().len())
            .max()
            .unwrap_or(0);
        for (f, n) in fields {
            s.push_str(&format!(
                "  {:width$}  {n} {}\n",
                f.wire(),
                plural(*n, "row", "rows")
            ));
        }
        let mut examples = self.examples.clone();
        examples.sort();
        s.push_str("  for example:\n");
        for (_, line) in examples {
            s.push_str(&format!("    {line}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_counts_fields_and_keeps_the_first_rows_as_examples() {
        use crate::customer::Change;
        use crate::input::{Input, InputOptions};
        let id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        let text = (0..8).fold("id,city\n".to_string(), |t, _| t + id + ",Porto\n");
        let mut input = Input::from_reader(
            Box::new(std::io::Cursor::new(text.into_bytes())),
            "t.csv",
            InputOptions::default(),
        )
        .unwrap();
        let mut rows = Vec::new();
        while let Some(r) = input.next_row().unwrap() {
            rows.push(r);
        }
        let mut diff = Diff::default();
        // Completion order is not row order; the examples are the lowest row numbers anyway.
        for row in rows.into_iter().rev() {
            let mut changes = vec![Change {
                field: Field::City,
                old: Some("x".repeat(50)),
                new: Some("Porto".into()),
            }];
            if row.number == 2 {
                changes.push(Change {
                    field: Field::TaxId,
                    old: None,
                    new: Some("PT1".into()),
                });
            }
            diff.add(&Outcome {
                kind: OutcomeKind::WouldChange,
                changes,
                ..Outcome::new(row)
            });
        }
        let text = diff.render(10);
        assert!(
            text.starts_with("ccbulk plan: 8 of 10 rows would change"),
            "{text}"
        );
        assert!(
            text.contains("city   8 rows\n") && text.contains("taxId  1 row\n"),
            "{text}"
        );
        let examples: Vec<&str> = text.lines().filter(|l| l.starts_with("    row ")).collect();
        assert_eq!(examples.len(), Diff::EXAMPLES, "{text}");
        assert!(
            examples[0].starts_with(&format!("    row 1, {id}: city: xxx")),
            "{text}"
        );
        assert!(
            examples[0].contains("x… → Porto"),
            "long values are cut: {text}"
        );
        assert!(examples[1].ends_with("; taxId: (empty) → PT1"), "{text}");
        assert!(examples[4].starts_with("    row 5,"), "{text}");
    }
}
