//! Command-line definitions only (clap). Raw flags are turned into validated, typed settings by
//! `config.rs` before any work starts. No flag takes a token or a secret: those come from the
//! environment or a file, so they never show in the process list.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::rate::Rate;

mod given;
pub use given::{Given, GivenArg};

/// The API root CloudCockpit documents.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudcockpit.com";
/// The Microsoft Entra token endpoint CloudCockpit documents for client credentials.
pub const ENTRA_TOKEN_URL: &str =
    "https://login.microsoftonline.com/4e806121-ff28-4286-ab4e-3be0a08f9ce0/oauth2/v2.0/token";
/// The OAuth2 scope CloudCockpit documents for its API.
pub const ENTRA_SCOPE: &str = "api://b92a36a4-feb8-4f47-a69c-29a180aa6d0a/.default";
// Defaults, named once here for the options below. (A printed follow-up command leaves out any
// option the user did not give: clap says which, `cli/given.rs`.)
pub const DEFAULT_RATE: &str = "10/s";
pub const DEFAULT_BURST: &str = "1";
pub const DEFAULT_RESERVE: &str = "0%";

/// `--reserve N%`: a share of the API's allowance left unused, below 100 %.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reserve(f64);

impl Reserve {
    /// The share as a fraction, 0 to below 1.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl std::str::FromStr for Reserve {
    type Err = String;

    fn from_str(s: &str) -> Result<Reserve, String> {
        let n = s.trim().strip_suffix('%').unwrap_or(s.trim());
        match n.trim().parse::<f64>() {
            Ok(v) if (0.0..100.0).contains(&v) => Ok(Reserve(v)),
            _ => Err(format!(
                "\"{s}\" is not a share to reserve: write N% with N from 0 to below 100"
            )),
        }
    }
}

impl std::fmt::Display for Reserve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.0)
    }
}
pub const DEFAULT_CONCURRENCY: &str = "8";
pub const DEFAULT_MAX_ATTEMPTS: &str = "5";
pub const DEFAULT_TIMEOUT: &str = "30s";
pub const DEFAULT_MAX_RETRY_AFTER: &str = "5m";
pub const DEFAULT_NULL_MARKER: &str = "#NULL";

/// Environment variables read by update, replay and plan (help and man page).
pub const ENVIRONMENT: &str = "\
Environment:
  CLOUDCOCKPIT_TENANT         portal domain, sent as X-Tenant (--tenant)
  CLOUDCOCKPIT_TOKEN          a bearer token, used as is
  CLOUDCOCKPIT_CLIENT_ID      with CLOUDCOCKPIT_CLIENT_SECRET: OAuth2 client credentials,
  CLOUDCOCKPIT_CLIENT_SECRET    exchanged at --token-url and refreshed before they expire
  CLOUDCOCKPIT_BASE_URL       API root (--base-url)
  CLOUDCOCKPIT_TOKEN_URL      where client credentials are exchanged (--token-url)
  CLOUDCOCKPIT_SCOPE          OAuth2 scope of the token (--scope)
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY
                              a proxy for the API and token calls, read as curl reads them
  SSL_CERT_FILE, SSL_CERT_DIR more trusted certificates (a TLS-inspecting proxy)
  RUST_LOG                    log filter, overrides -q and -v (RUST_LOG=ccbulk=debug)
  NO_COLOR                    set and not empty: no colour in the logs
No option takes a token or a secret: it would show in the process list.";

/// Exit codes of update, replay and plan (help and man page).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every row accepted, unchanged, valid (a dry run) or would-change (plan)
  1    finished, with some rows failed or invalid (the summary prints the replay command)
  2    usage or setup error: nothing was sent
  3    stopped early: authentication refused, token endpoint unreachable, --max-failures or a
       systematic failure reached, a results or undo file that cannot be written
  130  interrupted (Ctrl-C or SIGTERM): the summary prints the --resume command";

const UPDATE_EXAMPLES: &str = "\
Examples:
  ccbulk update customers.csv --sandbox --overwrite   try it on the built-in simulated API
  ccbulk update customers.csv --dry-run               check and map every row, send nothing
  ccbulk update customers.csv                         send; customers.results.csv, .undo.csv
  ccbulk update customers.csv --rate 5/s --max-failures 5% --summary-json -
  erp-export | ccbulk update - --results nightly.results.csv --log-format json
  ccbulk update customers.undo.csv                    put back what a run changed";

const REPLAY_EXAMPLES: &str = "\
Examples:
  ccbulk replay customers.results.csv       send again the failed and invalid rows (after fixing
                                            them in the file); writes customers.replay.csv
  ccbulk replay customers.replay.csv        the next round writes customers.replay-2.csv";

const PLAN_EXAMPLES: &str = "\
Examples:
  ccbulk plan customers.csv --sandbox       what would change against the built-in sandbox
  ccbulk plan customers.csv                 GET every customer; writes customers.plan.csv with
                                            each row's changes (ccbulk_changed); sends no PATCH";

const EXPORT_EXAMPLES: &str = "\
Examples:
  ccbulk export                             every customer into customers.csv (UTF-8, BOM)
  ccbulk export --output - | head           to standard output
  ccbulk export --search-field InternalIdentifier --search-value ERP-1 --output erp.csv
  ccbulk export --sandbox -o try.csv        the built-in sandbox's customers, to try the loop
The file is the layout update reads: edit it, then ccbulk plan FILE and ccbulk update FILE.";

const EXPORT_EXIT_CODES: &str = "\
Exit codes:
  0    every page read and the file written
  2    usage or setup error: nothing was sent, no file written
  3    stopped: authentication refused, a page that kept failing, the file cannot be written
       (nothing is left at --output)
  130  interrupted (Ctrl-C or SIGTERM): nothing is left at --output";

const SANDBOX_HELP: &str = "\
Examples:
  ccbulk sandbox --listen 127.0.0.1:8080
  ccbulk sandbox --listen 127.0.0.1:0 --throttle 20/s --fail-rate 0.05 --latency 50ms
  ccbulk sandbox --throttle 100/s --throttle-kind window --throttle-headers
  ccbulk sandbox --throttle 1200/min --throttle-kind sliding
  ccbulk sandbox --reset                    forget every change made to the sandbox tenant

Limits of --throttle, by --throttle-kind (as API gateways limit):
  bucket   a token bucket of one second's worth (20/s: 20 at once, then one every 50 ms)
  window   RATE's count per period, windows back to back (1200/min: 1200 in each minute,
           then 429s with Retry-After to the minute's end)
  sliding  RATE's count in any span of the period (a log of the last period's calls)
Each 429 carries Retry-After in whole seconds; --throttle-headers adds what is left to every
answer (X-RateLimit-Limit/-Remaining/-Reset, RateLimit-Policy, RateLimit).

The base URL (BASE) is the first line on stdout. Point a run at it with the environment
  CLOUDCOCKPIT_BASE_URL=BASE CLOUDCOCKPIT_TOKEN_URL=BASE/oauth2/v2.0/token
  CLOUDCOCKPIT_CLIENT_ID=ccbulk-sandbox CLOUDCOCKPIT_CLIENT_SECRET=sandbox-secret
  CLOUDCOCKPIT_TENANT=sandbox.cloudcockpit.local
or run update, replay, plan or export with --sandbox, which starts one in-process.
Every --sandbox run and this server work on one simulated tenant, kept between runs in a file
under your state directory ($XDG_STATE_HOME/ccbulk, ~/.local/state/ccbulk on Linux; the
banner names it): an update shows in the next plan and export. `ccbulk sandbox --reset`
starts it afresh; --in-memory serves a throwaway one. One run or server uses it at a time.
It stops on Ctrl-C or SIGTERM.

Exit codes:
  0    stopped by Ctrl-C or SIGTERM
  2    cannot listen on the address";

const COMPLETIONS_HELP: &str = "\
Examples:
  ccbulk completions bash > ~/.local/share/bash-completion/completions/ccbulk
  ccbulk completions zsh > ~/.zfunc/_ccbulk
  ccbulk completions fish > ~/.config/fish/completions/ccbulk.fish";

const MAN_HELP: &str = "\
Examples:
  ccbulk man > ~/.local/share/man/man1/ccbulk.1 && man ccbulk
  ccbulk man | man -l -";

/// The last line of a command's short help (`-h`): where the rest is.
fn more(command: &str) -> String {
    format!("Every option, examples, environment variables and exit codes: ccbulk {command} --help")
}

/// Update the account info of many CloudCockpit customers from one CSV.
///
/// ccbulk streams a CSV, turns each row into a PATCH of the customer's account
/// info, sends the calls paced and concurrently with retries, and writes a results CSV of every
/// row's outcome that can be fixed and replayed. Credentials come from the environment, never
/// from an option. Start with `ccbulk update FILE --sandbox` to try it without a tenant.
#[derive(Parser, Debug)]
#[command(
    name = "ccbulk",
    version,
    about,
    propagate_version = true,
    after_help = "Run 'ccbulk <COMMAND> --help' for a command's options, examples, environment and exit codes."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send one account-info update per CSV row and write a results CSV.
    #[command(
        after_help = more("update"),
        after_long_help = format!("{UPDATE_EXAMPLES}\n\n{ENVIRONMENT}\n\n{EXIT_CODES}")
    )]
    Update(RunArgs),
    /// Send again the rows of a results file whose outcome is failed or invalid.
    #[command(
        after_help = more("replay"),
        after_long_help = format!("{REPLAY_EXAMPLES}\n\n{ENVIRONMENT}\n\n{EXIT_CODES}")
    )]
    Replay(RunArgs),
    /// Read-only: GET every customer and show what `update` would change. Sends no PATCH.
    #[command(
        after_help = more("plan"),
        after_long_help = format!("{PLAN_EXAMPLES}\n\n{ENVIRONMENT}\n\n{EXIT_CODES}")
    )]
    Plan(PlanArgs),
    /// Read-only: page through the tenant's customers and write them as a CSV update reads.
    #[command(
        after_help = more("export"),
        after_long_help = format!("{EXPORT_EXAMPLES}\n\n{ENVIRONMENT}\n\n{EXPORT_EXIT_CODES}")
    )]
    Export(ExportArgs),
    /// Serve a local simulated CloudCockpit API.
    #[command(after_help = SANDBOX_HELP)]
    Sandbox(SandboxArgs),
    /// Print a shell completion script on stdout.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout.
    #[command(after_help = MAN_HELP)]
    Man,
}

/// How a row becomes the customer object that is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// GET the customer, lay the row's non-empty cells over it, PATCH only if something changed.
    Merge,
    /// No GET: the row alone is the customer object.
    Replace,
}

/// How log lines on stderr are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The headings `update`, `replay`, `plan` and `export` group their options under, in the order
/// help shows them (clap shows a heading where its first option is declared, so each command's
/// fields are declared in this order). `-h` shows the options a first run needs; the rest are
/// `hide_short_help` and show with `--help`.
pub mod heading {
    /// The file and how its cells are read.
    pub const INPUT: &str = "Input";
    /// What the run sends, and when it stops.
    pub const SEND: &str = "What to send";
    /// What export lists.
    pub const LIST: &str = "What to export";
    /// How fast, how many at once, how often again.
    pub const PACING: &str = "Pacing and retries";
    /// Where the API is and who we are to it.
    pub const CONNECTION: &str = "Connection";
    /// The files a run writes.
    pub const OUTPUT: &str = "Output files";
    /// What goes to stderr.
    pub const LOGGING: &str = "Logging";
}

use heading::*;

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

/// Options shared by update, replay and plan, declared heading by heading (see [`heading`]).
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

    /// Run against the built-in simulated API on a loopback port (no tenant or credentials).
    #[arg(long, help_heading = CONNECTION)]
    pub sandbox: bool,

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
    /// [`Cli::read`]).
    #[arg(skip)]
    pub given: Given,
}

/// What a command says on stderr and in `--summary-json`: the options every command that runs
/// against the API shares (update, replay, plan and export).
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Write the final counts as JSON (- for standard output).
    #[arg(long, value_name = "PATH", help_heading = OUTPUT, hide_short_help = true)]
    pub summary_json: Option<PathBuf>,

    /// Less on stderr: only errors and the summary.
    #[arg(short, long, conflicts_with = "verbose", help_heading = LOGGING)]
    pub quiet: bool,

    /// More on stderr (-v: each row's outcome, or each page of an export; -vv: every request).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = LOGGING)]
    pub verbose: u8,

    /// Log lines on stderr as text, or as one JSON object per line (for log shippers).
    #[arg(long, value_enum, default_value = "text", help_heading = LOGGING, hide_short_help = true)]
    pub log_format: LogFormat,
}

/// How to reach the API, and how fast: the options update, replay, plan and export share (same
/// names, defaults and environment variables). The pacing options come first, so that
/// "Pacing and retries" comes before "Connection" in help.
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// API calls per second at most, GET and PATCH alike (N/s or a bare N, N/min, N/h, or
    /// unlimited).
    ///
    /// A 429 lowers the pace below it, which then probes back up to it (unless --no-adapt).
    #[arg(long, default_value = DEFAULT_RATE, help_heading = PACING)]
    pub rate: Rate,

    /// Keep --rate as given: no lowering after a 429 (its Retry-After still pauses every call).
    #[arg(long, help_heading = PACING, hide_short_help = true)]
    pub no_adapt: bool,

    /// Leave this share of the API's allowance to other integrations (N%).
    ///
    /// Of what the API's rate-limit headers announce, else of the limit learnt from its 429s.
    #[arg(long, value_name = "N%", default_value = DEFAULT_RESERVE, help_heading = PACING,
          hide_short_help = true)]
    pub reserve: Reserve,

    /// The longest Retry-After honoured as given; a longer one is cut to this.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_MAX_RETRY_AFTER,
          help_heading = PACING, hide_short_help = true)]
    pub max_retry_after: humantime::Duration,

    /// Calls that may go at once after idle time.
    #[arg(long, default_value = DEFAULT_BURST, value_parser = at_least_one::<NonZeroU32>,
          help_heading = PACING, hide_short_help = true)]
    pub burst: NonZeroU32,

    /// Attempts per call, the first included.
    #[arg(long, default_value = DEFAULT_MAX_ATTEMPTS, value_parser = at_least_one::<NonZeroU32>,
          help_heading = PACING, hide_short_help = true)]
    pub max_attempts: NonZeroU32,

    /// One attempt's time limit (500ms, 30s, 2m).
    #[arg(long, default_value = DEFAULT_TIMEOUT, help_heading = PACING, hide_short_help = true)]
    pub timeout: humantime::Duration,

    /// First retry delay; doubles with each attempt (with jitter).
    #[arg(
        long,
        env = "CCBULK_BACKOFF_BASE",
        default_value = "500ms",
        hide = true
    )]
    pub backoff_base: humantime::Duration,

    /// Portal domain, sent as X-Tenant.
    #[arg(long, env = "CLOUDCOCKPIT_TENANT", help_heading = CONNECTION)]
    pub tenant: Option<String>,

    /// API root.
    #[arg(
        long,
        env = "CLOUDCOCKPIT_BASE_URL",
        default_value = DEFAULT_BASE_URL,
        help_heading = CONNECTION
    )]
    pub base_url: String,

    /// A file holding the bearer token (re-read when a 401 comes back).
    #[arg(long, value_name = "PATH", help_heading = CONNECTION, hide_short_help = true)]
    pub token_file: Option<PathBuf>,

    /// Where client credentials (CLOUDCOCKPIT_CLIENT_ID/SECRET) are exchanged for a token.
    #[arg(
        long,
        value_name = "URL",
        env = "CLOUDCOCKPIT_TOKEN_URL",
        default_value = ENTRA_TOKEN_URL,
        help_heading = CONNECTION,
        hide_short_help = true
    )]
    pub token_url: String,

    /// OAuth2 scope for client credentials.
    #[arg(long, value_name = "S", env = "CLOUDCOCKPIT_SCOPE", default_value = ENTRA_SCOPE,
          help_heading = CONNECTION, hide_short_help = true)]
    pub scope: String,
}

/// Options of `ccbulk completions`.
#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Options of `ccbulk sandbox`.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// Delay added to every API answer.
    #[arg(long, default_value = "0ms")]
    pub latency: humantime::Duration,

    /// Fraction (0 to 1) of calls answered 500 or 503.
    #[arg(long, default_value = "0")]
    pub fail_rate: f64,

    /// Answer 429 with Retry-After above this rate (N/s, N/min, N/h), GET, PATCH and list
    /// calls together.
    #[arg(long, value_name = "RATE")]
    pub throttle: Option<Rate>,

    /// The shape of the --throttle limit: bucket (a token bucket holding one second's worth,
    /// starting full), window (RATE's count per its period, windows back to back; Retry-After to
    /// the window's end), sliding (RATE's count in any span of its period).
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        default_value = "bucket",
        requires = "throttle"
    )]
    pub throttle_kind: crate::sandbox::Shape,

    /// Say what is left of the --throttle limit in every answer: X-RateLimit-Limit,
    /// X-RateLimit-Remaining, X-RateLimit-Reset (seconds from now), RateLimit-Policy and RateLimit.
    #[arg(long, requires = "throttle")]
    pub throttle_headers: bool,

    /// Lifetime of issued tokens.
    #[arg(long, default_value = "3599s")]
    pub token_ttl: humantime::Duration,

    /// Seed for the simulated faults and the made-up customers' ids.
    #[arg(long, default_value = "0")]
    pub seed: u64,

    /// Make up N customers for the list call (internal identifiers ERP-000001 and on) when the
    /// tenant is new.
    #[arg(long, value_name = "N", default_value = "50",
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub customers: u64,

    /// Serve a tenant kept in memory only, made up afresh: the kept tenant is neither read nor
    /// changed.
    #[arg(long)]
    pub in_memory: bool,

    /// Forget the kept tenant (every change --sandbox runs and this server made to it) and exit:
    /// the next run starts afresh.
    #[arg(long, conflicts_with = "in_memory")]
    pub reset: bool,
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

/// The list call's documented search fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SearchField {
    #[value(name = "Company.Name")]
    CompanyName,
    #[value(name = "Domain")]
    Domain,
    #[value(name = "InternalIdentifier")]
    InternalIdentifier,
    #[value(name = "ProviderCustomerId")]
    ProviderCustomerId,
}

impl SearchField {
    /// The value of the `searchField` parameter.
    pub fn wire(self) -> &'static str {
        match self {
            SearchField::CompanyName => "Company.Name",
            SearchField::Domain => "Domain",
            SearchField::InternalIdentifier => "InternalIdentifier",
            SearchField::ProviderCustomerId => "ProviderCustomerId",
        }
    }
}

/// Options of `ccbulk export`: where to write, what to list, and update's connection options.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// List only the customers whose FIELD matches --search-value (as the API matches it).
    #[arg(long, value_enum, value_name = "FIELD", requires = "search_value", help_heading = LIST)]
    pub search_field: Option<SearchField>,

    /// The value to search for in --search-field.
    #[arg(long, value_name = "V", requires = "search_field", help_heading = LIST)]
    pub search_value: Option<String>,

    /// List only the customers of this reseller.
    #[arg(long, value_name = "GUID", help_heading = LIST)]
    pub reseller_id: Option<uuid::Uuid>,

    #[command(flatten)]
    pub conn: ConnectionArgs,

    /// Run against the built-in simulated API on a loopback port (no tenant or credentials).
    #[arg(long, help_heading = CONNECTION)]
    pub sandbox: bool,

    /// Where to write the CSV (- for standard output).
    #[arg(
        long,
        short = 'o',
        value_name = "PATH",
        default_value = "customers.csv",
        help_heading = OUTPUT
    )]
    pub output: String,

    /// Replace an existing output file.
    #[arg(long, help_heading = OUTPUT)]
    pub overwrite: bool,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// A count that must be at least 1 (`--concurrency`, `--burst`, `--max-attempts`), with a
/// message in the tool's words rather than the standard library's ("number would be zero for
/// non-zero type").
fn at_least_one<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not a whole number"))?;
    if n == 0 {
        return Err("must be at least 1".to_string());
    }
    s.trim().parse().map_err(|_| format!("{n} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counts_are_refused_in_plain_words() {
        for flag in ["--concurrency", "--burst", "--max-attempts"] {
            let err = Cli::try_parse_from(["ccbulk", "update", "in.csv", flag, "0"])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(flag) && err.contains("must be at least 1"),
                "{err}"
            );
            assert!(!err.contains("non-zero type"), "{err}");
        }
        let err = Cli::try_parse_from(["ccbulk", "update", "in.csv", "--concurrency", "x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a whole number"), "{err}");
        for rate in ["0", "0/s"] {
            let err = Cli::try_parse_from(["ccbulk", "update", "in.csv", "--rate", rate])
                .unwrap_err()
                .to_string();
            assert!(err.contains("zero rate"), "{err}");
        }
        let ok = Cli::try_parse_from(["ccbulk", "update", "in.csv", "--concurrency", "3"]).unwrap();
        let Command::Update(a) = ok.command else {
            panic!("update")
        };
        assert_eq!(a.concurrency.get(), 3);
    }

    #[test]
    fn reserve_is_a_share_below_all() {
        let r = |s: &str| s.parse::<Reserve>();
        assert_eq!(r("20%").unwrap().fraction(), 0.2);
        assert_eq!(r("0%").unwrap().to_string(), "0%");
        assert_eq!(r("12.5").unwrap().fraction(), 0.125);
        for bad in ["100%", "-1%", "half", ""] {
            assert!(r(bad).unwrap_err().contains("N% with N from 0"), "{bad}");
        }
        let cli = Cli::try_parse_from(["ccbulk", "update", "in.csv", "--reserve", "25%"]).unwrap();
        let Command::Update(a) = cli.command else {
            panic!("update")
        };
        assert_eq!(a.conn.reserve.fraction(), 0.25);
    }
}
