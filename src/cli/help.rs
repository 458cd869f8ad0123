//! The long help's closing texts: examples, environment variables and exit codes by command
//! (`--help` and the man page).

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
  SSL_CERT_FILE, SSL_CERT_DIR the CAs to trust instead of the system's (Linux)
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

pub(super) const UPDATE_EXAMPLES: &str = "\
Examples:
  ccbulk update customers.csv --sandbox --overwrite   try it on the built-in simulated API
  ccbulk update customers.csv --dry-run               check and map every row, send nothing
  ccbulk update customers.csv                         send; customers.results.csv, .undo.csv
  ccbulk update customers.csv --rate 5/s --max-failures 5% --summary-json -
  erp-export | ccbulk update - --results nightly.results.csv --log-format json
  ccbulk update customers.undo.csv                    put back what a run changed";

pub(super) const REPLAY_EXAMPLES: &str = "\
Examples:
  ccbulk replay customers.results.csv       send again the failed and invalid rows (after fixing
                                            them in the file); writes customers.replay.csv
  ccbulk replay customers.replay.csv        the next round writes customers.replay-2.csv";

pub(super) const PLAN_EXAMPLES: &str = "\
Examples:
  ccbulk plan customers.csv --sandbox       what would change against the built-in sandbox
  ccbulk plan customers.csv                 GET every customer; writes customers.plan.csv with
                                            each row's changes (ccbulk_changed); sends no PATCH";

pub(super) const EXPORT_EXAMPLES: &str = "\
Examples:
  ccbulk export                             every customer into customers.csv (UTF-8, BOM)
  ccbulk export --output - | head           to standard output
  ccbulk export --search-field InternalIdentifier --search-value ERP-1 --output erp.csv
  ccbulk export --sandbox -o try.csv        the built-in sandbox's customers, to try the loop
The file is the layout update reads: edit it, then ccbulk plan FILE and ccbulk update FILE.";

pub(super) const EXPORT_EXIT_CODES: &str = "\
Exit codes:
  0    every page read and the file written
  2    usage or setup error: nothing was sent, no file written
  3    stopped: authentication refused, a page that kept failing, the file cannot be written
       (nothing is left at --output)
  130  interrupted (Ctrl-C or SIGTERM): nothing is left at --output";

pub(super) const SANDBOX_HELP: &str = "\
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

pub(super) const COMPLETIONS_HELP: &str = "\
Examples:
  ccbulk completions bash > ~/.local/share/bash-completion/completions/ccbulk
  ccbulk completions zsh > ~/.zfunc/_ccbulk
  ccbulk completions fish > ~/.config/fish/completions/ccbulk.fish";

pub(super) const MAN_HELP: &str = "\
Examples:
  ccbulk man > ~/.local/share/man/man1/ccbulk.1 && man ccbulk
  ccbulk man | man -l -";

/// The last line of a command's short help (`-h`): where the rest is.
pub(super) fn more(command: &str) -> String {
    format!("Every option, examples, environment variables and exit codes: ccbulk {command} --help")
}

/// The end of a command's long help (`--help`): its examples, the environment variables and its
/// exit codes.
pub(super) fn long_help(examples: &str, exit_codes: &str) -> String {
    format!("{examples}\n\n{ENVIRONMENT}\n\n{exit_codes}")
}
