//! The options of update, replay and plan: the input and how it is read, what is sent, the
//! results and undo files (`RunArgs`, `PlanArgs`, and `SharedArgs` between them).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::connection::{ConnectionArgs, at_least_one};
use super::given::Given;
use super::heading::*;
use super::report::ReportArgs;

// Defaults, named once here for the options below (as in `connection.rs`).
const DEFAULT_CONCURRENCY: &str = "8";
const DEFAULT_NULL_MARKER: &str = "#NULL";

/// How a row becomes the customer object that is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// GET the customer, lay the row's non-empty cells over it, PATCH only if something changed.
    Merge,
    /// No GET: the row alone is the customer object.
    Replace,
}

/// Options of update and replay: those of plan, and the ones about sending.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A CSV file or a workbook (.xlsx, .xlsm, .xls, .xlsb, .ods), or - for standard input.
    ///
    /// For replay: a results file (or a replay's). A workbook's first sheet is read unless
    /// --sheet names another; standard input is read as CSV.
    #[arg(help_heading = INPUT, display_order = 0)]
    pub input: String,

    /// merge: GET, overlay, PATCH if changed; replace: the row alone is the customer.
    #[arg(long, value_enum, default_value = "merge", help_heading = SEND)]
    pub mode: Mode,

    /// Check and map every row; send nothing.
    #[arg(long, help_heading = SEND)]
    pub dry_run: bool,

    /// Value of retryFailedProviderCustomersFromCompanyInfo where the row does not say.
    #[arg(long, help_heading = SEND, hide_short_help = true)]
    pub retry_provider_customers: bool,

    #[command(flatten)]
    pub shared: SharedArgs,

    /// Undo file path (merge mode; default: <input stem>.undo.csv).
    #[arg(long, value_name = "PATH", conflicts_with = "no_undo", help_heading = OUTPUT)]
    pub undo: Option<PathBuf>,

    /// Do not write an undo file.
    #[arg(long, help_heading = OUTPUT, hide_short_help = true)]
    pub no_undo: bool,
}

/// The options every command that reads the input and calls the API shares, so `RunArgs`
/// reads them as its own fields (`args.base_url`): settings and follow-up commands treat
/// update, replay and plan alike.
impl std::ops::Deref for RunArgs {
    type Target = SharedArgs;
    fn deref(&self) -> &SharedArgs {
        &self.shared
    }
}

/// Options of plan: no --mode (plan always merges), --dry-run or undo file (it sends nothing).
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// A CSV file or a workbook (.xlsx, .xlsm, .xls, .xlsb, .ods), or - for standard input.
    ///
    /// A workbook's first sheet is read unless --sheet names another; standard input is read
    /// as CSV.
    #[arg(help_heading = INPUT, display_order = 0)]
    pub input: String,

    #[command(flatten)]
    pub shared: SharedArgs,
}

impl From<PlanArgs> for RunArgs {
    /// Plan runs as a merge that sends no PATCH.
    fn from(p: PlanArgs) -> RunArgs {
        RunArgs {
            input: p.input,
            mode: Mode::Merge,
            dry_run: false,
            retry_provider_customers: false,
            shared: p.shared,
            undo: None,
            no_undo: false,
        }
    }
}

/// Options shared by update, replay and plan, declared heading by heading (see
/// [`super::heading`]).
#[derive(Args, Debug, Clone)]
pub struct SharedArgs {
    /// The sheet of a workbook INPUT; the first by default.
    #[arg(long, value_name = "NAME", help_heading = INPUT)]
    pub sheet: Option<String>,

    /// The line (a workbook's sheet row) that holds the column names; title rows above it are
    /// skipped, and still counted in line numbers.
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = INPUT, hide_short_help = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_row: u64,

    /// Rename a column: 'HEADER=field' (repeatable).
    #[arg(long, value_name = "HEADER=field", help_heading = INPUT)]
    pub map: Vec<String>,

    /// A file of HEADER=field lines.
    #[arg(long, value_name = "PATH", help_heading = INPUT, hide_short_help = true)]
    pub map_file: Option<PathBuf>,

    /// Which column names the customer: customerId, or internalIdentifier (the reseller's own
    /// reference, looked up through the list call).
    #[arg(long, value_enum, default_value = "customerId", help_heading = INPUT, hide_short_help = true)]
    pub key: Key,

    /// Field delimiter (default: sniffed from the header among , ; tab |).
    #[arg(long, value_name = "C", help_heading = INPUT, hide_short_help = true)]
    pub delimiter: Option<String>,

    /// Input encoding for legacy exports (utf-8, windows-1252, latin1, utf-16le, utf-16be).
    #[arg(long, value_name = "NAME", help_heading = INPUT, hide_short_help = true)]
    pub encoding: Option<String>,

    /// A cell equal to this sends null (clears the field).
    #[arg(long, value_name = "S", default_value = DEFAULT_NULL_MARKER, help_heading = INPUT,
          hide_short_help = true)]
    pub null_marker: String,

    /// Stop after N failed rows, or N% of the rows finished (exit 3).
    #[arg(long, value_name = "N|N%", help_heading = SEND)]
    pub max_failures: Option<String>,

    /// Send the first N rows, then stop as after an interrupt, leaving the rest for the printed
    /// --resume command: a canary run to check before the whole file (exit 0 when they went
    /// well).
    #[arg(long, value_name = "N", help_heading = SEND, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    #[command(flatten)]
    pub conn: ConnectionArgs,

    /// Requests in flight at most.
    #[arg(long, default_value = DEFAULT_CONCURRENCY, value_parser = at_least_one::<NonZeroUsize>,
          help_heading = PACING)]
    pub concurrency: NonZeroUsize,

    /// Results CSV path (default: beside the input).
    #[arg(long, value_name = "PATH", help_heading = OUTPUT)]
    pub results: Option<PathBuf>,

    /// Continue an interrupted run: skip rows the results file already holds, append the rest.
    #[arg(long, conflicts_with = "overwrite", help_heading = OUTPUT)]
    pub resume: bool,

    /// Replace an existing results file.
    #[arg(long, help_heading = OUTPUT)]
    pub overwrite: bool,

    #[command(flatten)]
    pub report: ReportArgs,

    /// The options as the user gave them, for the follow-up commands a run prints (filled by
    /// [`super::Cli::read`]).
    #[arg(skip)]
    pub given: Given,
}

/// Which column names a row's customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Key {
    /// The customer's GUID.
    #[value(name = "customerId")]
    CustomerId,
    /// The reseller's own reference, resolved to the customer through the list call.
    #[value(name = "internalIdentifier")]
    InternalIdentifier,
}
