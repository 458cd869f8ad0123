//! Raw flags and environment turned into validated, typed settings, once, before any work starts.
//! Every usage problem is found here and reported as a [`SetupError`] (exit 2, nothing sent).

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::TokenSource;
use crate::cli::{self, Mode, RunArgs};
use crate::customer::Rules;
use crate::input::{self, InputOptions, Source};
use crate::rate::Rate;

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

/// `--max-failures`: a count or a share of the rows finished.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxFailures {
    Count(u64),
    Percent(f64),
}

impl MaxFailures {
    fn parse(s: &str) -> Result<MaxFailures, SetupError> {
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

    /// Rows finished before a percentage is judged, so one early failure does not stop a run.
    pub const MIN_ROWS_FOR_PERCENT: u64 = 20;

    /// Has the limit been reached, with `failed` of `done` rows failed?
    pub fn reached(&self, failed: u64, done: u64) -> bool {
        match *self {
            MaxFailures::Count(n) => failed >= n,
            MaxFailures::Percent(p) => {
                // Workers count a failure before the results writer counts the row done, so
                // `done` may lag: the rows finished are at least the rows failed.
                let done = done.max(failed);
                done >= Self::MIN_ROWS_FOR_PERCENT && (failed as f64) * 100.0 > p * done as f64
            }
        }
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
    pub base_url: String,
    pub tenant: String,
    pub token: TokenSource,
    pub rate: Rate,
    pub burst: std::num::NonZeroU32,
    /// Learn the API's limit from its 429s (not with `--no-adapt`).
    pub adapt: bool,
    pub max_retry_after: Duration,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub mode: Mode,
    pub dry_run: bool,
    pub resume: bool,
    pub overwrite: bool,
    pub retry_provider_default: bool,
    pub max_failures: Option<MaxFailures>,
    pub summary_json: Option<PathBuf>,
    pub sandbox: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// The arguments as given, for the resume and replay commands the summary prints.
    pub args: RunArgs,
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
        let text = std::fs::read_to_string(path)
            .map_err(|e| SetupError(format!("cannot read --map-file {}: {e}", path.display())))?;
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

/// Where tokens come from, in order of precedence: `--token-file`, `CLOUDCOCKPIT_TOKEN`, client
/// credentials from the environment (exchanged at `token_url` for `scope`).
pub fn token_source(
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
        no_credentials_in("--base-url", &args.conn.base_url)?;
        no_credentials_in("--token-url", &args.conn.token_url)?;
        let source = Source::parse(&args.input);
        if job == Job::Replay && source == Source::Stdin {
            return Err(SetupError(
                "replay needs a results file, not standard input".into(),
            ));
        }
        let results = match (&args.results, &source, job) {
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
        };
        if let Source::Path(p) = &source
            && same_file(p, &results)
        {
            return Err(SetupError(format!(
                "the results file {} would overwrite the input: choose another with --results",
                results.display()
            )));
        }
        let merge_writes_undo = job != Job::Plan && args.mode == Mode::Merge && !args.dry_run;
        let undo = match (&args.undo, args.no_undo, merge_writes_undo) {
            (_, true, _) | (_, _, false) => None,
            (Some(p), false, true) => Some(p.clone()),
            (None, false, true) => Some(match job {
                Job::Replay => input::beside(&results, ".undo.csv"),
                _ => match &source {
                    Source::Stdin => PathBuf::from("undo.csv"),
                    Source::Path(p) => input::beside(p, ".undo.csv"),
                },
            }),
        };
        if let Some(u) = &undo {
            let clash = match &source {
                Source::Path(p) if same_file(p, u) => Some("the input"),
                _ if same_file(&results, u) => Some("the results file"),
                _ => None,
            };
            if let Some(what) = clash {
                return Err(SetupError(format!(
                    "the undo file {} would overwrite {what}: choose another with --undo PATH",
                    u.display()
                )));
            }
        }
        let online = !args.dry_run && !args.sandbox;
        let tenant = match (&args.conn.tenant, online) {
            (Some(t), _) => t.trim().to_string(),
            (None, false) => "sandbox.cloudcockpit.local".to_string(),
            (None, true) => {
                return Err(SetupError(
                    "no tenant: give --tenant DOMAIN or set CLOUDCOCKPIT_TENANT (the portal domain sent as X-Tenant)".into(),
                ));
            }
        };
        let token = if online {
            token_source(
                args.conn.token_file.as_deref(),
                &args.conn.token_url,
                &args.conn.scope,
            )?
        } else {
            TokenSource::None
        };
        if online {
            let shown = crate::text::redact_url(&args.conn.base_url);
            let url = reqwest::Url::parse(&args.conn.base_url)
                .map_err(|e| SetupError(format!("--base-url \"{shown}\" is not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(SetupError(format!(
                    "--base-url \"{shown}\" must be http or https"
                )));
            }
        }
        let input_options = InputOptions {
            delimiter: args.delimiter.as_deref().map(parse_delimiter).transpose()?,
            encoding: args.encoding.as_deref().map(parse_encoding).transpose()?,
            null_marker: args.null_marker.clone(),
            maps: parse_maps(&args)?,
            rules: Rules {
                tenant: Some(tenant.clone()).filter(|_| online),
            },
            prior_numbers: job == Job::Replay,
            required_cells: args.mode == Mode::Replace && job != Job::Plan,
            keyed: args.key == crate::cli::Key::InternalIdentifier,
            sheet: args.sheet.clone(),
        };
        Ok(Config {
            job,
            source,
            input_options,
            results,
            undo,
            base_url: args.conn.base_url.trim_end_matches('/').to_string(),
            tenant,
            token,
            rate: args.conn.rate,
            burst: args.conn.burst,
            adapt: !args.conn.no_adapt,
            max_retry_after: args.conn.max_retry_after.into(),
            concurrency: args.concurrency.get(),
            max_attempts: args.conn.max_attempts.get(),
            timeout: args.conn.timeout.into(),
            backoff_base: args.conn.backoff_base.into(),
            mode: args.mode,
            dry_run: args.dry_run,
            resume: args.resume,
            overwrite: args.overwrite,
            retry_provider_default: args.retry_provider_customers,
            max_failures: args
                .max_failures
                .as_deref()
                .map(MaxFailures::parse)
                .transpose()?,
            summary_json: args.summary_json.clone(),
            sandbox: args.sandbox,
            quiet: args.quiet,
            verbose: args.verbose,
            args,
        })
    }

    /// The command that continues this run.
    pub fn resume_command(&self) -> String {
        let mut words = vec!["ccbulk".to_string(), self.job.name().to_string()];
        words.extend(self.follow_up_options(FollowUp::Resume));
        words.push("--results".into());
        words.push(self.results.display().to_string());
        words.push("--resume".into());
        words.push(self.args.input.clone());
        shell_words::join(words)
    }

    /// After a plan: the `update` that applies it, to the same input read the same way.
    pub fn apply_command(&self) -> String {
        let mut words = vec!["ccbulk".to_string(), "update".to_string()];
        words.extend(self.follow_up_options(FollowUp::Apply));
        words.push(self.args.input.clone());
        shell_words::join(words)
    }

    /// The command that puts back what this run changed, from its undo file.
    pub fn undo_command(&self, undo: &Path) -> String {
        let mut words = vec!["ccbulk".to_string(), "update".to_string()];
        words.extend(self.follow_up_options(FollowUp::Undo));
        words.push(undo.display().to_string());
        shell_words::join(words)
    }

    /// The command that sends the failed rows of this run's results again.
    pub fn replay_command(&self) -> String {
        let mut words = vec!["ccbulk".to_string(), "replay".to_string()];
        words.extend(self.follow_up_options(FollowUp::Replay));
        words.push(self.results.display().to_string());
        shell_words::join(words)
    }

    /// The options a follow-up command repeats (never a secret: none is ever a flag). Every one
    /// that decides where and how this run ran goes in all of them, so a pasted command talks to
    /// the same API the same way; the ones that read this run's input (encoding, maps) only in
    /// those that read it again, never in one that reads a file ccbulk wrote (UTF-8, its own
    /// header). One line per option: `(flag, value if not the default, which follow-ups)`.
    fn follow_up_options(&self, to: FollowUp) -> Vec<String> {
        use FollowUp::{Apply, Replay, Resume, Undo};
        const ALL: &[FollowUp] = &[Resume, Apply, Replay, Undo];
        // The same input read again.
        const INPUT: &[FollowUp] = &[Resume, Apply];
        // Rows sent as the first run sent them (the undo file is merge mode's own).
        const ROWS: &[FollowUp] = &[Resume, Apply, Replay];
        let a = &self.args;
        let given = |v: String, default: &str| (v != default).then_some(v);
        let mut w = Words { to, v: Vec::new() };
        // Where: the API, its tenant and how tokens are had.
        w.flag("--sandbox", a.sandbox, ALL);
        w.opt(
            "--base-url",
            given(a.conn.base_url.clone(), crate::cli::DEFAULT_BASE_URL).filter(|_| !a.sandbox),
            ALL,
        );
        w.opt("--tenant", a.conn.tenant.clone(), ALL);
        w.opt(
            "--token-file",
            a.conn.token_file.as_ref().map(|p| p.display().to_string()),
            ALL,
        );
        w.opt(
            "--token-url",
            given(a.conn.token_url.clone(), crate::cli::ENTRA_TOKEN_URL),
            ALL,
        );
        w.opt(
            "--scope",
            given(a.conn.scope.clone(), crate::cli::ENTRA_SCOPE),
            ALL,
        );
        // How: pacing, attempts, time limits, the body's flag.
        w.opt(
            "--rate",
            given(a.conn.rate.to_string(), cli::DEFAULT_RATE),
            ALL,
        );
        w.opt(
            "--burst",
            given(a.conn.burst.to_string(), cli::DEFAULT_BURST),
            ALL,
        );
        w.opt(
            "--concurrency",
            given(a.concurrency.to_string(), cli::DEFAULT_CONCURRENCY),
            ALL,
        );
        w.opt(
            "--max-attempts",
            given(a.conn.max_attempts.to_string(), cli::DEFAULT_MAX_ATTEMPTS),
            ALL,
        );
        w.opt(
            "--timeout",
            given(a.conn.timeout.to_string(), cli::DEFAULT_TIMEOUT),
            ALL,
        );
        w.flag(
            "--retry-provider-customers",
            a.retry_provider_customers,
            ALL,
        );
        w.flag("--no-adapt", a.conn.no_adapt, ALL);
        w.opt(
            "--max-retry-after",
            given(
                a.conn.max_retry_after.to_string(),
                cli::DEFAULT_MAX_RETRY_AFTER,
            ),
            ALL,
        );
        w.opt(
            "--mode",
            (a.mode == Mode::Replace).then(|| "replace".into()),
            ROWS,
        );
        // Cells: results and undo files keep the input's delimiter and null marker.
        w.opt("--delimiter", a.delimiter.clone(), ALL);
        w.opt(
            "--null-marker",
            given(a.null_marker.clone(), cli::DEFAULT_NULL_MARKER),
            ALL,
        );
        // Headers: a results file echoes the input's own column names; the undo file has plain
        // field names. The encoding is the input's alone: ccbulk writes UTF-8.
        w.opts("--map", &a.map, ROWS);
        w.opt(
            "--map-file",
            a.map_file.as_ref().map(|p| p.display().to_string()),
            ROWS,
        );
        w.opt("--encoding", a.encoding.clone(), INPUT);
        w.opt("--sheet", a.sheet.clone(), INPUT);
        // The undo file names customers by customerId, whatever named them in the input.
        w.opt(
            "--key",
            (a.key == crate::cli::Key::InternalIdentifier).then(|| "internalIdentifier".into()),
            ROWS,
        );
        // This run's own files and checks.
        w.flag("--dry-run", a.dry_run, &[Resume]);
        w.opt(
            "--undo",
            a.undo.as_ref().map(|p| p.display().to_string()),
            &[Resume],
        );
        w.flag("--no-undo", a.no_undo, &[Resume, Replay]);
        w.opt(
            "--summary-json",
            a.summary_json.as_ref().map(|p| p.display().to_string()),
            &[Resume],
        );
        // Not for replay: its rows all failed before, and it should try each of them.
        w.opt("--max-failures", a.max_failures.clone(), INPUT);
        w.flag("--quiet", a.quiet, &[Resume, Replay]);
        w.v
    }
}

/// What a printed follow-up command does (see [`Config::follow_up_options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FollowUp {
    /// The same command on the same input and files, with `--resume`.
    Resume,
    /// After a plan: `update` of the same input.
    Apply,
    /// `replay` of this run's results file.
    Replay,
    /// `update` of this run's undo file.
    Undo,
}

/// The words of a follow-up command being built.
struct Words {
    to: FollowUp,
    v: Vec<String>,
}

impl Words {
    fn flag(&mut self, flag: &str, on: bool, to: &[FollowUp]) {
        if on && to.contains(&self.to) {
            self.v.push(flag.into());
        }
    }

    fn opt(&mut self, flag: &str, value: Option<String>, to: &[FollowUp]) {
        if let Some(value) = value
            && to.contains(&self.to)
        {
            self.v.extend([flag.into(), value]);
        }
    }

    fn opts(&mut self, flag: &str, values: &[String], to: &[FollowUp]) {
        for value in values {
            self.opt(flag, Some(value.clone()), to);
        }
    }
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

    #[test]
    fn follow_up_commands_carry_the_flags_that_shape_the_run() {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from([
            "ccbulk",
            "update",
            "my in.csv",
            "--sandbox",
            "--mode",
            "replace",
            "--concurrency",
            "3",
            "--timeout",
            "5s",
            "--max-attempts",
            "2",
            "--encoding",
            "latin1",
            "--undo",
            "u.csv",
            "--retry-provider-customers",
            "--rate",
            "unlimited",
            "--no-adapt",
            "--max-retry-after",
            "1m",
        ]);
        let crate::cli::Command::Update(args) = cli.command else {
            panic!("update")
        };
        let config = Config::from_args(Job::Update, args).unwrap();
        let resume = config.resume_command();
        assert!(
            resume.starts_with("ccbulk update --sandbox ")
                && resume.contains(" --mode replace ")
                && resume.ends_with(" --results 'my in.results.csv' --resume 'my in.csv'"),
            "{resume}"
        );
        // The command reads back as the words it was made of.
        let words = shell_words::split(&resume).unwrap();
        assert_eq!(words[words.len() - 2..], ["--resume", "my in.csv"]);
        // The undo file is merge mode's, UTF-8 with plain names: where and how, nothing that
        // reads the input.
        let undo = config.undo_command(Path::new("u.csv"));
        assert!(
            undo.starts_with("ccbulk update --sandbox ") && undo.ends_with(" u.csv"),
            "{undo}"
        );
        for flag in ["--concurrency 3", "--timeout 5s", "--rate unlimited"] {
            assert!(undo.contains(flag), "{flag}: {undo}");
        }
        for flag in ["--mode", "--encoding", "--undo", "--results", "--resume"] {
            assert!(!undo.contains(flag), "{flag}: {undo}");
        }
        let replay = config.replay_command();
        assert!(replay.ends_with(" 'my in.results.csv'"), "{replay}");
        for flag in [
            "--concurrency 3",
            "--timeout 5s",
            "--max-attempts 2",
            "--retry-provider-customers",
            "--rate unlimited",
            "--no-adapt",
            "--max-retry-after 1m",
        ] {
            assert!(
                resume.contains(flag) && replay.contains(flag),
                "{flag}: {resume} / {replay}"
            );
        }
        // The input's encoding and undo file belong to the run being resumed, not to a replay
        // (whose input is the UTF-8 results file).
        for flag in ["--encoding latin1", "--undo u.csv"] {
            assert!(
                resume.contains(flag) && !replay.contains(flag),
                "{flag}: {resume} / {replay}"
            );
        }
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
    fn replay_names() {
        let p = |s: &str| replay_results_path(Path::new(s)).display().to_string();
        assert_eq!(p("d/c.results.csv"), "d/c.replay.csv");
        assert_eq!(p("d/c.replay.csv"), "d/c.replay-2.csv");
        assert_eq!(p("d/c.replay-2.csv"), "d/c.replay-3.csv");
        assert_eq!(p("other.csv"), "other.replay.csv");
    }

    #[test]
    fn max_failures_forms() {
        assert_eq!(MaxFailures::parse("5").unwrap(), MaxFailures::Count(5));
        assert_eq!(
            MaxFailures::parse("2.5%").unwrap(),
            MaxFailures::Percent(2.5)
        );
        assert!(MaxFailures::parse("0").is_err());
        assert!(MaxFailures::parse("x%").is_err());
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
