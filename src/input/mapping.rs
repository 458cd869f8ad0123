//! One record turned into a checked update ([`Mapped`]): its cell count against the header, the
//! customer it names, what it asks of each field (keep, clear, set, each value checked against
//! the API's rules), and its optional per-row columns. A row that fails any check becomes
//! invalid with a message naming the file, line and column; it never stops the file.

use csv::ByteRecord;
use uuid::Uuid;

use super::{Input, cell_text, is_ccbulk_column, value};
use crate::customer::{self, FIELD_COUNT, Field};
use crate::text::shown;

/// One field's instruction, pointing into the record (no copy of the value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Keep,
    Clear,
    Set(u32),
}

/// A field whose cell failed its check, with the message that refuses the row if the cell
/// changes the customer.
pub type Deferred = (Field, String);

/// A row that passed every check.
#[derive(Clone, Debug)]
pub struct Mapped {
    /// The customer's GUID. With `--key internalIdentifier` it stands, until the reference is
    /// resolved, for the reference itself (a fingerprint, so rows of one reference keep their
    /// order), and `keyed` is set.
    pub customer_id: Uuid,
    /// The customer is named by its internalIdentifier cell, still to be resolved.
    pub keyed: bool,
    pub(super) slots: [Slot; FIELD_COUNT],
    pub retry_provider: Option<bool>,
    pub correlation_id: Option<Uuid>,
    /// Cells that failed their check, with the message that refuses the row if one of them
    /// changes the customer (with `defer_checks`; empty otherwise). Mostly empty: no allocation.
    pub deferred: Vec<Deferred>,
}

/// A record's cells as text, and where each one is, for messages.
struct Cells<'a> {
    record: &'a ByteRecord,
    /// The whole record, if it is UTF-8 (checked once, not once a cell).
    all: Option<&'a str>,
    input: &'a Input,
    line: u64,
}

impl<'a> Cells<'a> {
    /// `FILE line N, column "NAME"`.
    fn at(&self, col: usize) -> String {
        format!(
            "{} line {}, column {}",
            self.input.name,
            self.line,
            shown(&self.input.columns.names[col])
        )
    }

    /// A cell as trimmed text, or why it is not text.
    fn text(&self, col: usize) -> Result<&'a str, String> {
        if self.all.is_some() {
            return Ok(cell_text(self.record, self.all, col));
        }
        let bytes = self.record.get(col).unwrap_or_default();
        std::str::from_utf8(bytes).map(value).map_err(|e| {
            format!(
                "{}: {} is not valid UTF-8 (byte {} of the cell); if the file is a legacy export, try --encoding windows-1252",
                self.at(col),
                shown(String::from_utf8_lossy(bytes).trim()),
                e.valid_up_to() + 1
            )
        })
    }

    /// An optional per-row column: `None` when there is no such column or its cell is empty.
    fn given(&self, col: Option<usize>) -> Result<Option<(usize, &'a str)>, String> {
        let Some(col) = col else { return Ok(None) };
        Ok(Some((col, self.text(col)?)).filter(|(_, v)| !v.is_empty()))
    }

    fn not(&self, col: usize, v: &str, what: &str) -> String {
        format!("{}: {} is not {what}", self.at(col), shown(v))
    }
}

impl Input {
    /// The record checked and mapped, or why the row cannot be used.
    pub(super) fn map(&self, record: &ByteRecord, line: u64) -> Result<Mapped, String> {
        self.check_cell_count(record, line)?;
        let cells = Cells {
            record,
            all: std::str::from_utf8(record.as_slice()).ok(),
            input: self,
            line,
        };
        let customer_id = self.customer_id(&cells)?;
        let (slots, deferred) = self.slots(&cells)?;
        let cols = &self.columns;
        let retry_provider = cells
            .given(cols.retry)?
            .map(|(c, v)| parse_bool(v).ok_or_else(|| cells.not(c, v, "true/false/yes/no/1/0")))
            .transpose()?;
        let correlation_id = cells
            .given(cols.correlation)?
            .map(|(c, v)| parse_guid(v).ok_or_else(|| cells.not(c, v, "a GUID")))
            .transpose()?;
        Ok(Mapped {
            customer_id,
            keyed: self.options.keyed,
            slots,
            retry_provider,
            correlation_id,
            deferred,
        })
    }

    /// A row with fewer cells than the header needs, or a value past the header's last column,
    /// is misread (a delimiter missing, a quote not closed): no cell of it can be trusted.
    fn check_cell_count(&self, record: &ByteRecord, line: u64) -> Result<(), String> {
        let cols = &self.columns;
        if record.len() < cols.needed {
            let missing: Vec<String> = (record.len()..cols.needed)
                .filter(|i| !cols.names[*i].is_empty() && !is_ccbulk_column(&cols.names[*i]))
                .map(|i| shown(&cols.names[i]))
                .collect();
            return Err(format!(
                "{} line {line}: the row has {} cells but the header has {}; no cell for {} (a delimiter missing, or a quote not closed?)",
                self.name,
                record.len(),
                cols.needed,
                missing.join(", ")
            ));
        }
        if let Some(extra) = (cols.names.len()..record.len())
            .find(|i| record.get(*i).is_some_and(|c| !c.trim_ascii().is_empty()))
        {
            return Err(format!(
                "{} line {line}: the row has a value in cell {} but the header has only {} columns",
                self.name,
                extra + 1,
                cols.names.len()
            ));
        }
        Ok(())
    }

    /// The customer the row names: a GUID, or with `--key internalIdentifier` a stand-in for
    /// the reference.
    fn customer_id(&self, cells: &Cells) -> Result<Uuid, String> {
        let col = self.columns.customer_id;
        let id_text = cells.text(col)?;
        if self.options.keyed && (id_text.is_empty() || id_text == self.options.null_marker) {
            return Err(format!(
                "{}: is empty; with --key internalIdentifier every row needs the reseller's reference",
                cells.at(col)
            ));
        }
        let customer_id = if self.options.keyed {
            Some(reference_fingerprint(id_text))
        } else {
            parse_guid(id_text)
        };
        customer_id.ok_or_else(|| {
            if id_text.is_empty() {
                format!("{}: is empty; a customerId is required", cells.at(col))
            } else {
                format!("{}: {} is not a GUID", cells.at(col), shown(id_text))
            }
        })
    }

    /// What the row asks of each field, every value checked, and the checks left to the GET.
    fn slots(&self, cells: &Cells) -> Result<([Slot; FIELD_COUNT], Vec<Deferred>), String> {
        let mut slots = [Slot::Keep; FIELD_COUNT];
        let mut deferred = Vec::new();
        for field in Field::ALL {
            if let Some(col) = self.columns.fields[field.index()] {
                slots[field.index()] = self.slot(cells, field, col, &mut deferred)?;
            }
        }
        Ok((slots, deferred))
    }

    /// One field: an empty cell keeps it, the null marker clears it, anything else sets it. A
    /// value that fails its check goes to `deferred` instead of refusing the row, with
    /// `defer_checks`.
    fn slot(
        &self,
        cells: &Cells,
        field: Field,
        col: usize,
        deferred: &mut Vec<Deferred>,
    ) -> Result<Slot, String> {
        let value = cells.text(col)?;
        if value.is_empty() {
            if self.options.required_cells && field.required() {
                return Err(format!(
                    "{}: is empty, but {} is required and --mode replace sends the row as the whole customer (fill it, or use --mode merge)",
                    cells.at(col),
                    field.wire()
                ));
            }
            Ok(Slot::Keep)
        } else if value == self.options.null_marker {
            if field.required() {
                return Err(format!(
                    "{}: {} is required by the API and cannot be cleared",
                    cells.at(col),
                    field.wire()
                ));
            }
            Ok(Slot::Clear)
        } else {
            if let Err(reason) = customer::check(field, value, &self.options.rules) {
                let why = format!("{}: {} {reason}", cells.at(col), shown(value));
                // SPEC, Modes: a value the customer already has changes nothing and is not
                // checked, so an unedited export of old data stays unchanged. Whether it
                // changes is known after the GET: the refusal waits till then.
                if !self.options.defer_checks {
                    return Err(why);
                }
                deferred.push((field, why));
            }
            Ok(Slot::Set(col as u32))
        }
    }
}

/// A stand-in id for a reference not yet resolved: the same for the same reference, so the
/// workers keep rows of one reference in file order; never sent anywhere.
fn reference_fingerprint(reference: &str) -> Uuid {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        reference.hash(&mut h);
        h.finish()
    };
    Uuid::from_u64_pair(half(1), half(2))
}

/// A GUID in any of the usual spellings (hyphenated, braced, simple).
pub(crate) fn parse_guid(s: &str) -> Option<Uuid> {
    if s.is_empty() {
        return None;
    }
    Uuid::try_parse(s).ok()
}

/// true/false/yes/no/1/0, any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Some(true),
        "false" | "no" | "0" | "n" => Some(false),
        _ => None,
    }
}
