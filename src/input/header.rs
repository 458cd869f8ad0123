//! The input's header: each cell matched to a field ignoring case and punctuation, `--map`
//! renames applied, and every problem (unknown, duplicate or missing columns) reported at once,
//! with the nearest field name, before anything is sent.

use crate::customer::{FIELD_COUNT, Field};

use super::InputError;
use crate::text::shown;

/// What a header cell means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Field(Field),
    CustomerId,
    Retry,
    Correlation,
}

/// Lower-case letters and digits only: `Company Name`, `company_name` and `companyName` agree.
pub fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn target_names() -> Vec<(&'static str, Target)> {
    let mut v: Vec<(&'static str, Target)> = vec![
        ("customerId", Target::CustomerId),
        ("id", Target::CustomerId),
    ];
    v.extend(Field::ALL.iter().map(|f| (f.wire(), Target::Field(*f))));
    v.push(("retryFailedProviderCustomersFromCompanyInfo", Target::Retry));
    v.push(("correlationId", Target::Correlation));
    v
}

fn target_for(name: &str) -> Option<Target> {
    let n = normalize(name);
    target_names()
        .into_iter()
        .find(|(t, _)| normalize(t) == n)
        .map(|(_, t)| t)
}

/// Whether a header cell names a column ccbulk reads (as is, in any spelling `normalize` lets
/// agree): such a cell is a column name, not a title.
pub(super) fn names_a_column(name: &str) -> bool {
    target_for(name).is_some()
}

/// The canonical name of a target, for messages.
fn target_name(t: Target) -> &'static str {
    target_names()
        .into_iter()
        .find(|(_, n)| *n == t)
        .map_or("customerId", |(name, _)| name)
}

/// The valid column names, for messages.
pub fn valid_names() -> String {
    target_names()
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Headers ERP and spreadsheet exports commonly use, and the field each most likely means. Only
/// for suggestions: matching them silently could put a contact's "Name" into companyName.
const SUGGESTIONS: &[(&str, &str)] = &[
    ("postalcode", "zip"),
    ("postcode", "zip"),
    ("zipcode", "zip"),
    ("cep", "zip"),
    ("plz", "zip"),
    ("vat", "taxId"),
    ("vatnumber", "taxId"),
    ("vatid", "taxId"),
    ("nif", "taxId"),
    ("taxnumber", "taxId"),
    ("company", "companyName"),
    ("name", "companyName"),
    ("organisation", "companyName"),
    ("organization", "companyName"),
    ("address", "addressLine1"),
    ("street", "addressLine1"),
    ("mail", "email"),
    ("emailaddress", "email"),
    ("telephone", "phone"),
    ("tel", "phone"),
    ("mobile", "phone"),
    ("province", "state"),
    ("region", "state"),
    ("countrycode", "country"),
    ("guid", "customerId"),
];

/// The target name closest to an unknown header: a known export spelling, else a field name the
/// header contains (`Billing City` → city), else the most similar name.
fn nearest(name: &str) -> &'static str {
    let n = normalize(name);
    if let Some((_, t)) = SUGGESTIONS.iter().find(|(alias, _)| *alias == n) {
        return t;
    }
    let contained = target_names()
        .into_iter()
        .map(|(t, _)| (normalize(t), t))
        .filter(|(norm, _)| norm.len() >= 3 && n.contains(norm.as_str()))
        .max_by_key(|(norm, _)| norm.len());
    if let Some((_, t)) = contained {
        return t;
    }
    target_names()
        .into_iter()
        .map(|(t, _)| (strsim::jaro_winkler(&n, &normalize(t)), t))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or("customerId", |(_, t)| t)
}

/// Is this a column ccbulk wrote into a results file?
pub fn is_ccbulk_column(name: &str) -> bool {
    name.trim()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("ccbulk_"))
}

/// The input's header, matched to fields.
#[derive(Clone, Debug)]
pub struct Columns {
    /// Header cells as written (lossily decoded), for messages and for echoing.
    pub names: Vec<String>,
    pub(super) fields: [Option<usize>; FIELD_COUNT],
    pub(super) customer_id: usize,
    pub(super) retry: Option<usize>,
    pub(super) correlation: Option<usize>,
    /// `ccbulk_row` of a results file used as input.
    pub prior_row: Option<usize>,
    /// `ccbulk_outcome` of a results file used as input.
    pub prior_outcome: Option<usize>,
    /// The columns copied to results: every one but `ccbulk_*`.
    pub echo: Vec<usize>,
    /// A row must have at least this many cells (trailing columns with empty headers may be missing).
    pub(super) needed: usize,
    /// `--key internalIdentifier`: `customer_id` is then the internalIdentifier column.
    pub keyed: bool,
    /// The customerId column: `customer_id` unless keyed; keyed, a column the run does not use
    /// to find the customer (an export has one), if there is one.
    guid: Option<usize>,
}

impl Columns {
    /// Matches header cells to targets, applying `--map` renames. Every problem is collected,
    /// so one message lists them all.
    pub fn match_header(
        names: Vec<String>,
        maps: &[(String, String)],
        file: &str,
        keyed: bool,
    ) -> Result<Columns, InputError> {
        let mut problems = Problems::default();
        let mut mapped = apply_maps(&names, maps, file, &mut problems);
        let layout = match_names(&names, &mut mapped, &mut problems);
        let targets = Targets::assign(&names, &mapped, &mut problems);
        // Keyed by the reseller's reference, that column names the customer; a customerId
        // column, if any, is then one more column the run does not use to find the customer.
        let reference = targets.fields[Field::InternalIdentifier.index()];
        let customer_id = match (keyed, targets.customer_id, reference) {
            (true, _, Some(col)) => Some(col),
            (true, _, None) => {
                problems.push(
                    "no internalIdentifier column: --key internalIdentifier needs it".to_string(),
                );
                None
            }
            (false, None, _) => {
                problems.push("no customerId (or id) column: it is required".to_string());
                None
            }
            (false, id, _) => id,
        };
        match (customer_id, problems.found.is_empty()) {
            (Some(customer_id), true) => Ok(Columns {
                names,
                fields: targets.fields,
                customer_id,
                retry: targets.retry,
                correlation: targets.correlation,
                prior_row: layout.prior_row,
                prior_outcome: layout.prior_outcome,
                echo: layout.echo,
                needed: layout.needed,
                keyed,
                guid: targets.customer_id,
            }),
            _ => Err(problems.into_error(file)),
        }
    }

    /// The column a field comes from, if any.
    pub fn field_column(&self, field: Field) -> Option<usize> {
        self.fields[field.index()]
    }

    /// The customerId column, if any (keyed, the customer is named by another column).
    pub fn guid_column(&self) -> Option<usize> {
        self.guid
    }

    /// A header cell for column `col` that means the same without any `--map`: the header as
    /// written when it names its target by itself, else the target's own name. Files ccbulk writes
    /// in the input's layout (the undo file) use it so they read back with no flags.
    pub fn plain_name(&self, col: usize) -> String {
        let written = self.names.get(col).cloned().unwrap_or_default();
        let target = if self.guid == Some(col) {
            Some(Target::CustomerId)
        } else if self.retry == Some(col) {
            Some(Target::Retry)
        } else if self.correlation == Some(col) {
            Some(Target::Correlation)
        } else {
            Field::ALL
                .into_iter()
                .find(|f| self.fields[f.index()] == Some(col))
                .map(Target::Field)
        };
        match target {
            Some(t) if target_for(&written) != Some(t) => target_name(t).to_string(),
            _ => written,
        }
    }

    /// Replace mode needs every required field the CSV can carry.
    pub fn check_replace(&self, file: &str) -> Result<(), InputError> {
        let missing: Vec<&str> = Field::ALL
            .iter()
            .filter(|f| f.required() && self.fields[f.index()].is_none())
            .map(|f| f.wire())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(InputError::Header(format!(
                "{file}: --mode replace sends the row as the whole customer, so every required field needs a column; missing: {} (or use --mode merge)",
                missing.join(", ")
            )))
        }
    }
}

/// What is wrong with a header, all of it, and a ready-made fix for the unknown columns (the
/// suggestions as `--map` flags).
#[derive(Default)]
struct Problems {
    found: Vec<String>,
    suggested: Vec<String>,
}

impl Problems {
    fn push(&mut self, problem: String) {
        self.found.push(problem);
    }

    /// A column that matches no field, with the nearest one.
    fn unknown(&mut self, name: &str) {
        let guess = nearest(name);
        self.push(format!(
            "column {} matches no field (did you mean \"{guess}\"?)",
            shown(name)
        ));
        // A header too long to quote whole (a file without line breaks, a wrong delimiter)
        // gets no ready-made --map: messages quote short excerpts only.
        if name.chars().count() <= 60 && !name.chars().any(char::is_control) {
            let map = format!("{name}={guess}");
            self.suggested
                .push(format!("--map {}", shell_words::quote(&map)));
        }
    }

    fn into_error(self, file: &str) -> InputError {
        InputError::Header(format!(
            "{file}: the header cannot be used:\n  {}\nvalid columns: {}; columns starting with ccbulk_ are ignored; rename others with --map 'HEADER=field'{}",
            self.found.join("\n  "),
            valid_names(),
            if self.suggested.is_empty() {
                String::new()
            } else {
                format!(
                    "\nif the suggestions are right, add: {}",
                    self.suggested.join(" ")
                )
            }
        ))
    }
}

/// The targets `--map` gives header cells, by column.
fn apply_maps(
    names: &[String],
    maps: &[(String, String)],
    file: &str,
    problems: &mut Problems,
) -> Vec<Option<Target>> {
    let mut mapped: Vec<Option<Target>> = vec![None; names.len()];
    for (from, to) in maps {
        let Some(target) = target_for(to) else {
            problems.push(format!(
                "--map '{from}={to}': \"{to}\" is not a field (did you mean \"{}\"?)",
                nearest(to)
            ));
            continue;
        };
        let wanted = normalize(from);
        match names.iter().position(|n| normalize(n) == wanted) {
            Some(i) => mapped[i] = Some(target),
            None => problems.push(format!(
                "--map '{from}={to}': {file} has no column \"{from}\""
            )),
        }
    }
    mapped
}

/// The header's columns apart from their targets: ccbulk's own, echoed, needed.
struct Layout {
    prior_row: Option<usize>,
    prior_outcome: Option<usize>,
    echo: Vec<usize>,
    needed: usize,
}

/// Matches every named column `--map` left alone to its target by name, and sorts out
/// ccbulk's own columns (a results file given as input).
fn match_names(names: &[String], mapped: &mut [Option<Target>], problems: &mut Problems) -> Layout {
    let mut layout = Layout {
        prior_row: None,
        prior_outcome: None,
        echo: Vec::new(),
        needed: 0,
    };
    for (i, name) in names.iter().enumerate() {
        if is_ccbulk_column(name) {
            match normalize(name).as_str() {
                "ccbulkrow" => layout.prior_row = Some(i),
                "ccbulkoutcome" => layout.prior_outcome = Some(i),
                _ => {}
            }
            continue;
        }
        layout.echo.push(i);
        if name.trim().is_empty() {
            continue;
        }
        layout.needed = i + 1;
        if mapped[i].is_some() {
            continue;
        }
        match target_for(name) {
            Some(t) => mapped[i] = Some(t),
            None => problems.unknown(name),
        }
    }
    layout
}

/// The column of each target; two columns for one target are a problem.
struct Targets {
    fields: [Option<usize>; FIELD_COUNT],
    customer_id: Option<usize>,
    retry: Option<usize>,
    correlation: Option<usize>,
}

impl Targets {
    fn assign(names: &[String], mapped: &[Option<Target>], problems: &mut Problems) -> Targets {
        let mut t = Targets {
            fields: [None; FIELD_COUNT],
            customer_id: None,
            retry: None,
            correlation: None,
        };
        for (i, target) in mapped.iter().enumerate() {
            let Some(target) = target else { continue };
            let slot = match target {
                Target::Field(f) => &mut t.fields[f.index()],
                Target::CustomerId => &mut t.customer_id,
                Target::Retry => &mut t.retry,
                Target::Correlation => &mut t.correlation,
            };
            if let Some(prev) = *slot {
                problems.push(format!(
                    "columns {} and {} both mean {}; keep one (or --map one of them to another field)",
                    shown(&names[prev]),
                    shown(&names[i]),
                    target_name(*target)
                ));
            }
            *slot = Some(i);
        }
        t
    }
}
