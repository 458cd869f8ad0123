//! The commands a run prints for what comes next (resume it, apply a plan, undo it, replay its
//! failures), made of the options the user gave (`cli::Given`, read back from clap): [`carried`]
//! says, for every argument of update, replay and plan, which follow-ups repeat it, so a pasted
//! command talks to the same API the same way and reads its input as this run read it, and never
//! gets an option that would misread a file ccbulk wrote (the undo and results files are UTF-8,
//! with ccbulk's own header on the first line). A test walks clap's `Command` and fails for an
//! argument this table does not name. Each names the program as the user can run it
//! (`program::name`).

use std::path::Path;

use super::Config;

use FollowUp::{Apply, Replay, Resume, Undo};

/// Every follow-up.
const ALL: &[FollowUp] = &[Resume, Apply, Replay, Undo];
/// The same input read again.
const INPUT: &[FollowUp] = &[Resume, Apply];
/// Rows sent as the first run sent them (the undo file is merge mode's own).
const ROWS: &[FollowUp] = &[Resume, Apply, Replay];
/// Left out of every follow-up (the reason is beside each).
const NONE: &[FollowUp] = &[];

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

/// Which follow-ups repeat the argument `id` (clap's id: the field's name) when the user gave it;
/// `None` for an argument this table does not know (the test below fails for it).
fn carried(id: &str) -> Option<&'static [FollowUp]> {
    Some(match id {
        // Where: the API, its tenant, how tokens are had. (`--base-url` is left out next to
        // `--sandbox`, which replaces it: `where_to`.)
        "sandbox" | "base_url" | "tenant" | "token_file" | "token_url" | "scope" => ALL,
        // How: pacing, attempts, time limits, the body's flag.
        "rate"
        | "burst"
        | "no_adapt"
        | "max_retry_after"
        | "concurrency"
        | "max_attempts"
        | "timeout"
        | "retry_provider_customers"
        | "reserve" => ALL,
        // What is said on stderr: a follow-up is as quiet (or as verbose, or as JSON) as its run.
        "quiet" | "verbose" | "log_format" => ALL,
        // Results and undo files keep the input's delimiter and null marker.
        "delimiter" | "null_marker" => ALL,
        // A results file echoes the input's own column names, and its rows are named as the
        // input named them; the undo file has plain field names and customerIds.
        "map" | "map_file" | "key" => ROWS,
        // Merge mode is the undo file's own.
        "mode" => ROWS,
        // How the input is read: the files ccbulk writes are UTF-8, a CSV, header first.
        "encoding" | "sheet" | "header_row" => INPUT,
        // Not for replay: its rows all failed before, and it should try each of them.
        "max_failures" => INPUT,
        // This run's own files and checks.
        "dry_run" | "undo" | "summary_json" => &[Resume],
        "no_undo" => &[Resume, Replay],
        // Each follow-up names its own input (and resume its results file and --resume).
        "input" | "results" | "resume" => NONE,
        // A follow-up never overwrites: resume appends, the others write files of their own.
        "overwrite" => NONE,
        // The canary's count: resume sends the rest, the others what their file holds.
        "limit" => NONE,
        // Hidden, for tests: the environment variable sets it where they run.
        "backoff_base" => NONE,
        _ => return None,
    })
}

impl Config {
    /// The command that continues this run.
    pub fn resume_command(&self) -> String {
        let mut words = vec![
            crate::program::name().to_string(),
            self.job.name().to_string(),
        ];
        words.extend(self.follow_up_options(Resume));
        words.push("--results".into());
        words.push(self.results.display().to_string());
        words.push("--resume".into());
        words.extend(self.given.words("input").iter().cloned());
        shell_words::join(words)
    }

    /// After a plan: the `update` that applies it, to the same input read the same way.
    pub fn apply_command(&self) -> String {
        let mut words = vec![crate::program::name().to_string(), "update".to_string()];
        words.extend(self.follow_up_options(Apply));
        words.extend(self.given.words("input").iter().cloned());
        shell_words::join(words)
    }

    /// The command that puts back what this run changed, from its undo file.
    pub fn undo_command(&self, undo: &Path) -> String {
        let mut words = vec![crate::program::name().to_string(), "update".to_string()];
        words.extend(self.follow_up_options(Undo));
        words.push(undo.display().to_string());
        shell_words::join(words)
    }

    /// The command that sends the failed rows of this run's results again.
    pub fn replay_command(&self) -> String {
        let mut words = vec![crate::program::name().to_string(), "replay".to_string()];
        words.extend(self.follow_up_options(Replay));
        words.push(self.results.display().to_string());
        shell_words::join(words)
    }

    /// The options a follow-up command repeats, as the user gave them, in clap's order (never a
    /// secret: none is ever an option).
    fn follow_up_options(&self, to: FollowUp) -> Vec<String> {
        let sandbox = self.given.has("sandbox");
        self.given
            .0
            .iter()
            .filter(|a| carried(&a.id).is_some_and(|kinds| kinds.contains(&to)))
            .filter(|a| !(sandbox && a.id == "base_url"))
            .flat_map(|a| a.words.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::super::Job;
    use super::*;
    use crate::cli::Cli;

    /// Every argument of update, replay and plan is either carried by some follow-up or left
    /// out of all on purpose: a flag added to the CLI fails here until it is given a line in
    /// [`carried`].
    #[test]
    fn every_argument_is_carried_or_dropped_on_purpose() {
        let cli = Cli::command();
        for name in ["update", "replay", "plan"] {
            let command = cli.find_subcommand(name).expect(name);
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(
                    carried(id).is_some(),
                    "`{name} --{}`: say in config/follow_up.rs which follow-up commands carry it",
                    arg.get_long().unwrap_or(id)
                );
            }
        }
    }

    /// SPEC, Follow-up commands: an option that reads the input never goes to a command that
    /// reads a file ccbulk wrote (the undo file, the results file).
    #[test]
    fn input_reading_options_never_reach_ccbulk_s_own_files() {
        for id in ["encoding", "sheet", "header_row"] {
            let kinds = carried(id).unwrap();
            assert!(!kinds.contains(&Undo) && !kinds.contains(&Replay), "{id}");
            assert!(kinds.contains(&Resume) && kinds.contains(&Apply), "{id}");
        }
    }

    /// A printed command with the program named `ccbulk`, whatever path these tests run from.
    fn as_ccbulk(command: String) -> String {
        let program = shell_words::quote(crate::program::name()).into_owned();
        let rest = command.strip_prefix(&program).expect("the program first");
        format!("ccbulk{rest}")
    }

    fn config(args: &[&str]) -> Config {
        let cli = Cli::read(args.iter().copied()).unwrap();
        let crate::cli::Command::Update(args) = cli.command else {
            panic!("update")
        };
        Config::from_args(Job::Update, args).unwrap()
    }

    #[test]
    fn follow_up_commands_carry_the_flags_that_shape_the_run() {
        let config = config(&[
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
            "--base-url",
            "http://127.0.0.1:9",
            "-q",
            "--overwrite",
        ]);
        let resume = as_ccbulk(config.resume_command());
        assert!(
            resume.starts_with("ccbulk update --mode replace ")
                && resume.contains(" --sandbox ")
                && resume.contains(" --quiet ")
                && resume.ends_with(" --results 'my in.results.csv' --resume 'my in.csv'"),
            "{resume}"
        );
        // The command reads back as the words it was made of.
        let words = shell_words::split(&resume).unwrap();
        assert_eq!(words[words.len() - 2..], ["--resume", "my in.csv"]);
        // The undo file is merge mode's, UTF-8 with plain names: where and how, nothing that
        // reads the input.
        let undo = as_ccbulk(config.undo_command(Path::new("u.csv")));
        assert!(
            undo.starts_with("ccbulk update --retry-provider-customers --rate unlimited ")
                && undo.contains(" --sandbox ")
                && undo.ends_with(" u.csv"),
            "{undo}"
        );
        for flag in [
            "--concurrency 3",
            "--timeout 5s",
            "--rate unlimited",
            "--quiet",
        ] {
            assert!(undo.contains(flag), "{flag}: {undo}");
        }
        for flag in [
            "--mode",
            "--encoding",
            "--undo",
            "--results",
            "--resume",
            "--overwrite",
            // Replaced by --sandbox.
            "--base-url",
        ] {
            assert!(!undo.contains(flag), "{flag}: {undo}");
        }
        let replay = as_ccbulk(config.replay_command());
        assert!(replay.ends_with(" 'my in.results.csv'"), "{replay}");
        for flag in [
            "--concurrency 3",
            "--timeout 5s",
            "--max-attempts 2",
            "--retry-provider-customers",
            "--rate unlimited",
            "--no-adapt",
            "--max-retry-after 1m",
            "--quiet",
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

    /// Defaults are left out, and a value is repeated as the user typed it.
    #[test]
    fn defaults_are_left_out_and_values_kept_as_typed() {
        let config = config(&[
            "ccbulk",
            "update",
            "in.csv",
            "--dry-run",
            "--tenant",
            "portal.example",
            "--rate",
            "10/s",
            "--map",
            "Firma=companyName",
            "--map",
            "Ort=city",
            "-vv",
            "--log-format",
            "json",
        ]);
        assert_eq!(
            as_ccbulk(config.undo_command(Path::new("in.undo.csv"))),
            "ccbulk update --rate 10/s --tenant portal.example -vv --log-format json in.undo.csv"
        );
        assert!(
            as_ccbulk(config.resume_command()).contains(" --dry-run "),
            "a dry run resumes as one"
        );
        assert_eq!(
            as_ccbulk(config.replay_command()),
            "ccbulk replay --map 'Firma=companyName' --map 'Ort=city' --rate 10/s --tenant portal.example -vv --log-format json in.dry-run.csv"
        );
    }
}
