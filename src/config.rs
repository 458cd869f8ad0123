//! Raw flags and environment turned into validated, typed settings, once, before any work starts.
//! Every usage problem is found here and reported as a [`SetupError`] (exit 2, nothing sent).

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::TokenSource;
use crate::cli::{Mode, RunArgs};
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

impl Config {
    /// Validates the arguments of update, replay or plan.
    pub fn from_args(job: Job, args: RunArgs) -> Result<Config, SetupError> {
        let source = Source::parse(&args.input);
        if job == Job::Replay && source == Source::Stdin {
            return Err(SetupError(
                "replay needs a results file, not standard input".into(),
            ));
        }
        let results = match (&args.results, &source, job) {
            (Some(p), _, _) => p.clone(),
            (None, Source::Stdin, Job::Plan) => PathBuf::from("plan.csv"),
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
        let tenant = match (&args.tenant, online) {
            (Some(t), _) => t.trim().to_string(),
            (None, false) => "sandbox.cloudcockpit.local".to_string(),
            (None, true) => {
                return Err(SetupError(
                    "no tenant: give --tenant DOMAIN or set CLOUDCOCKPIT_TENANT (the portal domain sent as X-Tenant)".into(),
                ));
            }
        };
        let token = if !online {
            TokenSource::None
        } else if let Some(path) = &args.token_file {
            TokenSource::File(path.clone())
        } else if let Some(t) = env("CLOUDCOCKPIT_TOKEN") {
            TokenSource::Static(SecretString::from(t))
        } else {
            match (
                env("CLOUDCOCKPIT_CLIENT_ID"),
                env("CLOUDCOCKPIT_CLIENT_SECRET"),
            ) {
                (Some(id), Some(secret)) => TokenSource::Client {
                    id,
                    secret: SecretString::from(secret),
                    token_url: args.token_url.clone(),
                    scope: args.scope.clone(),
                },
                (Some(_), None) | (None, Some(_)) => {
                    return Err(SetupError(
                        "client credentials need both CLOUDCOCKPIT_CLIENT_ID and CLOUDCOCKPIT_CLIENT_SECRET".into(),
                    ));
                }
                (None, None) => {
                    return Err(SetupError(
                        "no credentials: set CLOUDCOCKPIT_TOKEN, or CLOUDCOCKPIT_CLIENT_ID and CLOUDCOCKPIT_CLIENT_SECRET, or give --token-file PATH (or try --sandbox)".into(),
                    ));
                }
            }
        };
        if online {
            let url = reqwest::Url::parse(&args.base_url).map_err(|e| {
                SetupError(format!(
                    "--base-url \"{}\" is not a URL: {e}",
                    args.base_url
                ))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(SetupError(format!(
                    "--base-url \"{}\" must be http or https",
                    args.base_url
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
        };
        Ok(Config {
            job,
            source,
            input_options,
            results,
            undo,
            base_url: args.base_url.trim_end_matches('/').to_string(),
            tenant,
            token,
            rate: args.rate,
            burst: args.burst,
            concurrency: args.concurrency.get(),
            max_attempts: args.max_attempts.get(),
            timeout: args.timeout.into(),
            backoff_base: args.backoff_base.into(),
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
        words.extend(self.replayable_flags(true));
        words.push("--results".into());
        words.push(self.results.display().to_string());
        words.push("--resume".into());
        words.push(self.args.input.clone());
        shell_words::join(words)
    }

    /// The command that puts back what this run changed, from its undo file. The undo file is
    /// UTF-8 with plain column names, so --encoding and --map are not repeated.
    pub fn undo_command(&self, undo: &Path) -> String {
        let a = &self.args;
        let mut words = vec!["ccbulk".to_string(), "update".to_string()];
        if a.sandbox {
            words.push("--sandbox".into());
        }
        if let Some(t) = &a.tenant {
            words.extend(["--tenant".into(), t.clone()]);
        }
        if a.null_marker != "#NULL" {
            words.extend(["--null-marker".into(), a.null_marker.clone()]);
        }
        if let Some(d) = &a.delimiter {
            words.extend(["--delimiter".into(), d.clone()]);
        }
        words.push(undo.display().to_string());
        shell_words::join(words)
    }

    /// The command that sends the failed rows of this run's results again.
    pub fn replay_command(&self) -> String {
        let mut words = vec!["ccbulk".to_string(), "replay".to_string()];
        words.extend(self.replayable_flags(false));
        words.push(self.results.display().to_string());
        shell_words::join(words)
    }

    /// Flags worth repeating in a follow-up command (never a secret: none is ever a flag): every
    /// one that changes where rows go or how they are sent, so a resumed run goes on exactly as
    /// the first did. `resume` adds the ones that belong to this run's input and files only.
    fn replayable_flags(&self, resume: bool) -> Vec<String> {
        let a = &self.args;
        let mut v = Vec::new();
        if a.sandbox {
            v.push("--sandbox".into());
        }
        if a.mode == Mode::Replace {
            v.extend(["--mode".into(), "replace".into()]);
        }
        if a.dry_run {
            v.push("--dry-run".into());
        }
        if let Some(t) = &a.tenant {
            v.extend(["--tenant".into(), t.clone()]);
        }
        for m in &a.map {
            v.extend(["--map".into(), m.clone()]);
        }
        if let Some(p) = &a.map_file {
            v.extend(["--map-file".into(), p.display().to_string()]);
        }
        if let Some(d) = &a.delimiter {
            v.extend(["--delimiter".into(), d.clone()]);
        }
        // A results file is written in UTF-8, whatever the input's encoding was.
        if let Some(e) = &a.encoding
            && resume
        {
            v.extend(["--encoding".into(), e.clone()]);
        }
        if a.null_marker != "#NULL" {
            v.extend(["--null-marker".into(), a.null_marker.clone()]);
        }
        if a.rate.to_string() != "10/s" {
            v.extend(["--rate".into(), a.rate.to_string()]);
        }
        // Without these a follow-up could go to another API or send rows differently.
        if !a.sandbox && a.base_url != "https://api.cloudcockpit.com" {
            v.extend(["--base-url".into(), a.base_url.clone()]);
        }
        if let Some(p) = &a.token_file {
            v.extend(["--token-file".into(), p.display().to_string()]);
        }
        if a.token_url != crate::cli::ENTRA_TOKEN_URL {
            v.extend(["--token-url".into(), a.token_url.clone()]);
        }
        if a.scope != crate::cli::ENTRA_SCOPE {
            v.extend(["--scope".into(), a.scope.clone()]);
        }
        if a.retry_provider_customers {
            v.push("--retry-provider-customers".into());
        }
        let numbers = [
            ("--burst", a.burst.to_string(), "1"),
            ("--concurrency", a.concurrency.to_string(), "8"),
            ("--max-attempts", a.max_attempts.to_string(), "5"),
            ("--timeout", a.timeout.to_string(), "30s"),
        ];
        for (flag, value, default) in numbers {
            if value != default {
                v.extend([flag.into(), value]);
            }
        }
        if let Some(m) = &a.max_failures {
            v.extend(["--max-failures".into(), m.clone()]);
        }
        if a.no_undo {
            v.push("--no-undo".into());
        }
        if resume {
            if let Some(p) = &a.undo {
                v.extend(["--undo".into(), p.display().to_string()]);
            }
            if let Some(p) = &a.summary_json {
                v.extend(["--summary-json".into(), p.display().to_string()]);
            }
        }
        if a.quiet {
            v.push("--quiet".into());
        }
        v
    }
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
        ]);
        let crate::cli::Command::Update(args) = cli.command else {
            panic!("update")
        };
        let config = Config::from_args(Job::Update, args).unwrap();
        let resume = config.resume_command();
        assert!(
            resume.starts_with("ccbulk update --sandbox --mode replace ")
                && resume.ends_with(" --results 'my in.results.csv' --resume 'my in.csv'"),
            "{resume}"
        );
        // The command reads back as the words it was made of.
        let words = shell_words::split(&resume).unwrap();
        assert_eq!(words[words.len() - 2..], ["--resume", "my in.csv"]);
        let replay = config.replay_command();
        assert!(replay.ends_with(" 'my in.results.csv'"), "{replay}");
        for flag in [
            "--concurrency 3",
            "--timeout 5s",
            "--max-attempts 2",
            "--retry-provider-customers",
            "--rate unlimited",
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
    }
}
