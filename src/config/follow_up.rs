//! The commands a run prints for what comes next (resume it, apply a plan, undo it, replay its
//! failures): which of this run's options each one repeats, so a pasted command talks to the
//! same API the same way and reads its input as this run read it.

use std::path::Path;

use super::Config;
use crate::cli::{self, Mode, RunArgs};

use FollowUp::{Apply, Replay, Resume, Undo};

/// Every follow-up.
const ALL: &[FollowUp] = &[Resume, Apply, Replay, Undo];
/// The same input read again.
const INPUT: &[FollowUp] = &[Resume, Apply];
/// Rows sent as the first run sent them (the undo file is merge mode's own).
const ROWS: &[FollowUp] = &[Resume, Apply, Replay];

impl Config {
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
        let mut w = Words { to, v: Vec::new() };
        w.where_from(&self.args);
        w.how(&self.args);
        w.cells(&self.args);
        w.own_files(&self.args);
        w.v
    }
}

/// `Some(value)` unless it is the default (a follow-up leaves defaults out).
fn given(v: String, default: &str) -> Option<String> {
    (v != default).then_some(v)
}

/// What a printed follow-up command does.
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

    /// Where: the API, its tenant and how tokens are had.
    fn where_from(&mut self, a: &RunArgs) {
        self.flag("--sandbox", a.sandbox, ALL);
        self.opt(
            "--base-url",
            given(a.conn.base_url.clone(), cli::DEFAULT_BASE_URL).filter(|_| !a.sandbox),
            ALL,
        );
        self.opt("--tenant", a.conn.tenant.clone(), ALL);
        self.opt(
            "--token-file",
            a.conn.token_file.as_ref().map(|p| p.display().to_string()),
            ALL,
        );
        self.opt(
            "--token-url",
            given(a.conn.token_url.clone(), cli::ENTRA_TOKEN_URL),
            ALL,
        );
        self.opt(
            "--scope",
            given(a.conn.scope.clone(), cli::ENTRA_SCOPE),
            ALL,
        );
    }

    /// How: pacing, attempts, time limits, the body's flag.
    fn how(&mut self, a: &RunArgs) {
        self.opt(
            "--rate",
            given(a.conn.rate.to_string(), cli::DEFAULT_RATE),
            ALL,
        );
        self.opt(
            "--burst",
            given(a.conn.burst.to_string(), cli::DEFAULT_BURST),
            ALL,
        );
        self.opt(
            "--concurrency",
            given(a.concurrency.to_string(), cli::DEFAULT_CONCURRENCY),
            ALL,
        );
        self.opt(
            "--max-attempts",
            given(a.conn.max_attempts.to_string(), cli::DEFAULT_MAX_ATTEMPTS),
            ALL,
        );
        self.opt(
            "--timeout",
            given(a.conn.timeout.to_string(), cli::DEFAULT_TIMEOUT),
            ALL,
        );
        self.flag(
            "--retry-provider-customers",
            a.retry_provider_customers,
            ALL,
        );
        self.flag("--no-adapt", a.conn.no_adapt, ALL);
        self.opt(
            "--max-retry-after",
            given(
                a.conn.max_retry_after.to_string(),
                cli::DEFAULT_MAX_RETRY_AFTER,
            ),
            ALL,
        );
        self.opt(
            "--mode",
            (a.mode == Mode::Replace).then(|| "replace".into()),
            ROWS,
        );
    }

    /// How the input's cells and header are read.
    fn cells(&mut self, a: &RunArgs) {
        // Results and undo files keep the input's delimiter and null marker.
        self.opt("--delimiter", a.delimiter.clone(), ALL);
        self.opt(
            "--null-marker",
            given(a.null_marker.clone(), cli::DEFAULT_NULL_MARKER),
            ALL,
        );
        // Headers: a results file echoes the input's own column names; the undo file has plain
        // field names. The encoding is the input's alone: ccbulk writes UTF-8.
        self.opts("--map", &a.map, ROWS);
        self.opt(
            "--map-file",
            a.map_file.as_ref().map(|p| p.display().to_string()),
            ROWS,
        );
        self.opt("--encoding", a.encoding.clone(), INPUT);
        self.opt("--sheet", a.sheet.clone(), INPUT);
        // The undo file names customers by customerId, whatever named them in the input.
        self.opt(
            "--key",
            (a.key == cli::Key::InternalIdentifier).then(|| "internalIdentifier".into()),
            ROWS,
        );
    }

    /// This run's own files and checks.
    fn own_files(&mut self, a: &RunArgs) {
        self.flag("--dry-run", a.dry_run, &[Resume]);
        self.opt(
            "--undo",
            a.undo.as_ref().map(|p| p.display().to_string()),
            &[Resume],
        );
        self.flag("--no-undo", a.no_undo, &[Resume, Replay]);
        self.opt(
            "--summary-json",
            a.summary_json.as_ref().map(|p| p.display().to_string()),
            &[Resume],
        );
        // Not for replay: its rows all failed before, and it should try each of them.
        self.opt("--max-failures", a.max_failures.clone(), INPUT);
        self.flag("--quiet", a.quiet, &[Resume, Replay]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Job;
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
}
