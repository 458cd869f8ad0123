//! Raw flags and environment turned into validated, typed settings, once, before any work starts.
//! Every usage problem is found here and reported as a [`SetupError`] (exit 2, nothing sent).

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::cli::{Given, Mode, RunArgs};
use crate::customer::Rules;
use crate::http::auth::TokenSource;
use crate::input::{self, InputOptions, Source};
pub(crate) use crate::systematic::MaxFailures;

mod connect;
mod follow_up;

pub(crate) use connect::{Connect, Connected, no_token};

/// A usage or setup problem: exit 2, nothing was sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Which command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    Update,
    Replay,
    Plan,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Update => "update",
            Job::Replay => "replay",
            Job::Plan => "plan",
        }
    }
}

/// `--max-failures`: a count (50) or a percentage (5%).
fn parse_max_failures(s: &str) -> Result<MaxFailures, SetupError> {
    let t = s.trim();
    let bad = || {
        SetupError(format!(
            "--max-failures \"{s}\": write a count (50) or a percentage (5%)"
        ))
    };
    if let Some(p) = t.strip_suffix('%') {
        let v: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&v) {
            return Err(bad());
        }
        Ok(MaxFailures::Percent(v))
    } else {
        let n: u64 = t.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(MaxFailures::Count(n))
    }
}

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub job: Job,
    pub source: Source,
    pub input_options: InputOptions,
    pub results: PathBuf,
    pub undo: Option<PathBuf>,
    /// How the API is reached (the built-in sandbox, once started, is put in here).
    pub connect: Connect,
    pub concurrency: usize,
    pub mode: Mode,
    pub dry_run: bool,
    pub resume: bool,
    pub overwrite: bool,
    pub retry_provider_default: bool,
    pub max_failures: Option<MaxFailures>,
    /// `--limit N`: send the first N rows, leave the rest for `--resume`.
    pub limit: Option<u64>,
    pub summary_json: Option<PathBuf>,
    pub sandbox: bool,
    pub quiet: bool,
    /// The options as the user gave them, for the follow-up commands the summary prints.
    pub given: Given,
}

/// Reads a variable, treating an empty one as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `X.results.csv` → `X.replay.csv`; `X.replay.csv` → `X.replay-2.csv`; `X.replay-2.csv` →
/// `X.replay-3.csv`; anything else `Y.csv` → `Y.replay.csv`.
pub fn replay_results_path(results: &Path) -> PathBuf {
    let name = results
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(".csv").unwrap_or(&name);
    let next = if let Some(base) = stem.strip_suffix(".results") {
        format!("{base}.replay.csv")
    } else if let Some(base) = stem.strip_suffix(".replay") {
        format!("{base}.replay-2.csv")
    } else if let Some((base, n)) = stem.rsplit_once(".replay-")
        && let Ok(n) = n.parse::<u32>()
    {
        format!("{base}.replay-{}.csv", n + 1)
    } else {
        format!("{stem}.replay.csv")
    };
    results.with_file_name(next)
}

fn parse_delimiter(s: &str) -> Result<u8, SetupError> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(SetupError(format!(
            "--delimiter \"{s}\": give one ASCII character (or tab)"
        ))),
    }
}

fn parse_encoding(s: &str) -> Result<&'static encoding_rs::Encoding, SetupError> {
    let label = match s.to_ascii_lowercase().as_str() {
        "latin1" | "latin-1" => "iso-8859-1".to_string(),
        "cp1252" => "windows-1252".to_string(),
        other => other.to_string(),
    };
    encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
        SetupError(format!(
            "--encoding \"{s}\" is not an encoding I know (try utf-8, windows-1252, latin1, utf-16le)"
        ))
    })
}

fn parse_maps(args: &RunArgs) -> Result<Vec<(String, String)>, SetupError> {
    let mut lines: Vec<(String, String)> = args
        .map
        .iter()
        .map(|m| (m.clone(), "--map".into()))
        .collect();
    if let Some(path) = &args.map_file {
        let text = read_map_file(path)?;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            lines.push((t.to_string(), format!("{} line {}", path.display(), i + 1)));
        }
    }
    lines
        .into_iter()
        .map(|(m, whence)| {
            m.rsplit_once('=')
                .map(|(h, f)| (h.trim().to_string(), f.trim().to_string()))
                .filter(|(h, f)| !h.is_empty() && !f.is_empty())
                .ok_or_else(|| SetupError(format!("{whence}: \"{m}\" is not HEADER=field")))
        })
        .collect()
}

/// The longest `--map-file`: far above any real list of `HEADER=field` lines, and a path to a
/// huge file (or a device) is refused rather than read into memory.
const MAX_MAP_FILE: u64 = 1 << 20;

fn read_map_file(path: &Path) -> Result<String, SetupError> {
    use std::io::Read;
    let cannot = |e: &dyn std::fmt::Display| {
        SetupError(format!("cannot read --map-file {}: {e}", path.display()))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MAP_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > MAX_MAP_FILE {
        return Err(cannot(&format_args!(
            "it is over {} MiB, not a list of HEADER=field lines",
            MAX_MAP_FILE >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| cannot(&"it is not UTF-8 text"))
}

/// Where tokens come from, in order of precedence: `--token-file`, `CLOUDCOCKPIT_TOKEN`, client
/// credentials from the environment (exchanged at `token_url` for `scope`).
fn token_source(
    token_file: Option<&Path>,
    token_url: &str,
    scope: &str,
) -> Result<TokenSource, SetupError> {
    if let Some(path) = token_file {
        return Ok(TokenSource::File(path.to_path_buf()));
    }
    if let Some(t) = env("CLOUDCOCKPIT_TOKEN") {
        return Ok(TokenSource::Static(SecretString::from(t)));
    }
    match (
        env("CLOUDCOCKPIT_CLIENT_ID"),
        env("CLOUDCOCKPIT_CLIENT_SECRET"),
    ) {
        (Some(id), Some(secret)) => Ok(TokenSource::Client {
            id,
            secret: SecretString::from(secret),
            token_url: token_url.to_string(),
            scope: scope.to_string(),
        }),
        (Some(_), None) | (None, Some(_)) => Err(SetupError(
            "client credentials need both CLOUDCOCKPIT_CLIENT_ID and CLOUDCOCKPIT_CLIENT_SECRET"
                .into(),
        )),
        (None, None) => Err(SetupError(
            "no credentials: set CLOUDCOCKPIT_TOKEN, or CLOUDCOCKPIT_CLIENT_ID and CLOUDCOCKPIT_CLIENT_SECRET, or give --token-file PATH (or try --sandbox)".into(),
        )),
    }
}

impl Config {
    /// Validates the arguments of update, replay or plan.
    pub fn from_args(job: Job, args: RunArgs) -> Result<Config, SetupError> {
        let source = Source::parse(&args.input);
        if job == Job::Replay && source == Source::Stdin {
            return Err(SetupError(
                "replay needs a results file, not standard input".into(),
            ));
        }
        let results = results_path(job, &args, &source);
        if let Source::Path(p) = &source
            && same_file(p, &results)
        {
            return Err(SetupError(format!(
                "the results file {} would overwrite the input: choose another with --results",
                results.display()
            )));
        }
        let undo = undo_path(job, &args, &source, &results)?;
        let online = !args.dry_run && !args.conn.sandbox;
        let connect = Connect::from_args(&args.conn, online)?;
        let input_options = input_options(job, &args, &connect.tenant, online)?;
        Ok(Config {
            job,
            source,
            input_options,
            results,
            undo,
            connect,
            concurrency: args.concurrency.get(),
            mode: args.mode,
            dry_run: args.dry_run,
            resume: args.resume,
            overwrite: args.overwrite,
            retry_provider_default: args.retry_provider_customers,
            max_failures: args
                .max_failures
                .as_deref()
                .map(parse_max_failures)
                .transpose()?,
            limit: args.limit,
            summary_json: args.report.summary_json.clone(),
            sandbox: args.conn.sandbox,
            quiet: args.report.quiet,
            given: args.shared.given,
        })
    }
}

/// The results file: `--results`, or a name beside the input that says which command wrote it.
fn results_path(job: Job, args: &RunArgs, source: &Source) -> PathBuf {
    match (&args.results, source, job) {
        (Some(p), _, _) => p.clone(),
        (None, Source::Stdin, Job::Plan) => PathBuf::from("plan.csv"),
        // A dry run never takes the name of the real run's results: plan → dry run → update
        // works without --overwrite.
        (None, Source::Stdin, _) if args.dry_run => PathBuf::from("dry-run.csv"),
        (None, Source::Path(p), Job::Update | Job::Replay) if args.dry_run => {
            input::beside(p, ".dry-run.csv")
        }
        (None, Source::Stdin, _) => PathBuf::from("results.csv"),
        (None, Source::Path(p), Job::Update) => input::beside(p, ".results.csv"),
        (None, Source::Path(p), Job::Plan) => input::beside(p, ".plan.csv"),
        (None, Source::Path(p), Job::Replay) => replay_results_path(p),
    }
}

/// The undo file, written only by a merge that sends (not a plan, a dry run or `--no-undo`):
/// `--undo`, or a name beside the input (a replay's beside its results). Refused when it would
/// overwrite the input or the results file.
fn undo_path(
    job: Job,
    args: &RunArgs,
    source: &Source,
    results: &Path,
) -> Result<Option<PathBuf>, SetupError> {
    let merge_writes_undo = job != Job::Plan && args.mode == Mode::Merge && !args.dry_run;
    let undo = match (&args.undo, args.no_undo, merge_writes_undo) {
        (_, true, _) | (_, _, false) => return Ok(None),
        (Some(p), false, true) => p.clone(),
        (None, false, true) => match job {
            Job::Replay => input::beside(results, ".undo.csv"),
            _ => match source {
                Source::Stdin => PathBuf::from("undo.csv"),
                Source::Path(p) => input::beside(p, ".undo.csv"),
            },
        },
    };
    let clash = match source {
        Source::Path(p) if same_file(p, &undo) => Some("the input"),
        _ if same_file(results, &undo) => Some("the results file"),
        _ => None,
    };
    if let Some(what) = clash {
        return Err(SetupError(format!(
            "the undo file {} would overwrite {what}: choose another with --undo PATH",
            undo.display()
        )));
    }
    Ok(Some(undo))
}

/// The X-Tenant domain: required to send; a run that sends nothing (dry run, sandbox) has a
/// stand-in.
fn tenant(given: Option<&str>, online: bool) -> Result<String, SetupError> {
    match given.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Ok(t.to_string()),
        None if !online => Ok("sandbox.cloudcockpit.local".to_string()),
        // A blank one (`CLOUDCOCKPIT_TENANT=" "`) too: an empty X-Tenant names no portal.
        None => Err(SetupError(
            "no tenant: give --tenant DOMAIN or set CLOUDCOCKPIT_TENANT (the portal domain sent as X-Tenant)".into(),
        )),
    }
}

/// How the input is read and its rows checked.
fn input_options(
    job: Job,
    args: &RunArgs,
    tenant: &str,
    online: bool,
) -> Result<InputOptions, SetupError> {
    Ok(InputOptions {
        delimiter: args.delimiter.as_deref().map(parse_delimiter).transpose()?,
        encoding: args.encoding.as_deref().map(parse_encoding).transpose()?,
        null_marker: args.null_marker.clone(),
        maps: parse_maps(args)?,
        rules: Rules {
            tenant: Some(tenant.to_string()).filter(|_| online),
        },
        prior_numbers: job == Job::Replay,
        required_cells: args.mode == Mode::Replace && job != Job::Plan,
        keyed: args.key == crate::cli::Key::InternalIdentifier,
        sheet: args.sheet.clone(),
        header_row: args.header_row,
        // Only a run that GETs each customer can tell whether a cell changes it.
        defer_checks: !args.dry_run && (job == Job::Plan || args.mode == Mode::Merge),
    })
}

/// A user name or password in a URL flag is refused, and the message shows the URL without it:
/// it would be in the process list, and echoed by every message that names the URL. (Parsed
/// leniently: a URL that does not parse is looked at as text.)
fn no_credentials_in(flag: &str, url: &str) -> Result<(), SetupError> {
    let shown = crate::text::redact_url(url);
    if shown == url {
        return Ok(());
    }
    Err(SetupError(format!(
        "{flag} \"{shown}\" holds a user name or password: ccbulk takes none in a URL (it would \
         show in the process list and in messages); give the address alone, and client \
         credentials in CLOUDCOCKPIT_CLIENT_ID and CLOUDCOCKPIT_CLIENT_SECRET"
    )))
}

/// Do two paths name the same file (or would they, once the second exists)?
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blank tenant is no tenant: update and export refuse it alike (an empty X-Tenant would
    /// otherwise be sent).
    #[test]
    fn a_blank_tenant_is_refused_when_calls_are_sent() {
        assert_eq!(
            tenant(Some(" portal.example "), true).unwrap(),
            "portal.example"
        );
        assert!(tenant(Some("  "), true).is_err());
        assert!(tenant(None, true).is_err());
        assert_eq!(
            tenant(Some(" "), false).unwrap(),
            "sandbox.cloudcockpit.local"
        );
    }

    #[test]
    fn credentials_in_url_flags_are_refused_and_not_echoed() {
        use clap::Parser;
        for (flag, url) in [
            (
                "--token-url",
                "https://app:PW-token-9@login.example/t/token",
            ),
            ("--base-url", "http://u:PW-base-9@127.0.0.1:1/"),
            ("--base-url", "http://u:PW-base-9@h:notaport/"),
        ] {
            let cli = crate::cli::Cli::parse_from([
                "ccbulk", "update", "in.csv", "--tenant", "t", flag, url,
            ]);
            let crate::cli::Command::Update(args) = cli.command else {
                panic!("update")
            };
            let err = Config::from_args(Job::Update, args)
                .unwrap_err()
                .to_string();
            assert!(err.contains(flag) && err.contains("***@"), "{err}");
            assert!(!err.contains("PW-"), "{err}");
        }
    }

    #[test]
    fn a_map_file_is_read_up_to_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.txt");
        std::fs::write(&path, "# comment\nFirma = companyName\n").unwrap();
        assert_eq!(
            read_map_file(&path).unwrap(),
            "# comment\nFirma = companyName\n"
        );
        let mut big = "Firma=companyName\n".repeat(1 << 16).into_bytes();
        big.resize(MAX_MAP_FILE as usize + 1, b'\n');
        std::fs::write(&path, big).unwrap();
        let err = read_map_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("--map-file") && err.contains("over 1 MiB"),
            "{err}"
        );
    }

    #[test]
    fn replay_names() {
        let p = |s: &str| replay_results_path(Path::new(s)).display().to_string();
        assert_eq!(p("d/c.results.csv"), "d/c.replay.csv");
        assert_eq!(p("d/c.replay.csv"), "d/c.replay-2.csv");
        assert_eq!(p("d/c.replay-2.csv"), "d/c.replay-3.csv");
        assert_eq!(p("other.csv"), "other.replay.csv");
    }

    #[test]
    fn max_failures_forms() {
        assert_eq!(parse_max_failures("5").unwrap(), MaxFailures::Count(5));
        assert_eq!(
            parse_max_failures("2.5%").unwrap(),
            MaxFailures::Percent(2.5)
        );
        assert!(parse_max_failures("0").is_err());
        assert!(parse_max_failures("x%").is_err());
        assert!(MaxFailures::Count(3).reached(3, 3));
        assert!(
            !MaxFailures::Percent(10.0).reached(5, 10),
            "too few rows to judge"
        );
        assert!(MaxFailures::Percent(10.0).reached(3, 20));
        assert!(!MaxFailures::Percent(10.0).reached(2, 20));
        // The writer's count of rows done may lag the workers' failures: 100% is never passed.
        assert!(!MaxFailures::Percent(100.0).reached(30, 20));
        assert!(MaxFailures::Percent(50.0).reached(30, 20));
    }
}
