//! The options of a command as the user gave them, read back from clap's own `Command` and
//! `ArgMatches`: every argument the user set (on the command line or through its environment
//! variable; never a default), in clap's order, as the words that set it. The follow-up commands
//! a run prints are made of these words (`config/follow_up.rs`), so a flag added to the CLI is
//! carried as typed without anyone writing it out again by hand.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use super::{Cli, Command};

/// One argument the user set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenArg {
    /// clap's id: the field's name (`max_retry_after`).
    pub id: String,
    /// The words that set it again: `["--rate", "5/s"]`, `["--sandbox"]`, `["-vv"]`, or a
    /// positional's value alone.
    pub words: Vec<String>,
}

/// The arguments of one command the user set, in clap's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given(pub Vec<GivenArg>);

impl Given {
    /// What `matches` holds for `command`'s arguments, leaving out those at their default.
    pub fn of(command: &clap::Command, matches: &ArgMatches) -> Given {
        let args = command.get_arguments().filter_map(|arg| {
            let id = arg.get_id().as_str();
            match matches.value_source(id) {
                Some(ValueSource::CommandLine | ValueSource::EnvVariable) => {}
                _ => return None,
            }
            let words = words_of(arg, matches);
            (!words.is_empty()).then(|| GivenArg {
                id: id.to_string(),
                words,
            })
        });
        Given(args.collect())
    }

    /// The words of argument `id`, if the user set it.
    pub fn words(&self, id: &str) -> &[String] {
        self.0
            .iter()
            .find(|a| a.id == id)
            .map_or(&[], |a| a.words.as_slice())
    }

    /// Whether the user set argument `id`.
    pub fn has(&self, id: &str) -> bool {
        self.0.iter().any(|a| a.id == id)
    }
}

/// The words that give `arg` the value(s) `matches` holds.
fn words_of(arg: &clap::Arg, matches: &ArgMatches) -> Vec<String> {
    let id = arg.get_id().as_str();
    let flag = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => String::new(),
    };
    match arg.get_action() {
        ArgAction::SetTrue if matches.get_flag(id) => vec![flag],
        ArgAction::SetTrue | ArgAction::SetFalse => Vec::new(),
        ArgAction::Count => {
            let n = usize::from(matches.get_count(id));
            match arg.get_short() {
                // `-vv`, as people write it.
                Some(short) if n > 0 => vec![format!("-{}", short.to_string().repeat(n))],
                _ => vec![flag; n],
            }
        }
        _ => {
            let values = matches
                .get_raw(id)
                .into_iter()
                .flatten()
                .map(|v| v.to_string_lossy().into_owned());
            if arg.is_positional() {
                values.collect()
            } else {
                values.flat_map(|v| [flag.clone(), v]).collect()
            }
        }
    }
}

impl Cli {
    /// Parses a command line (`std::env::args_os()`) as `Cli::parse` does, and keeps what the
    /// user gave update, replay and plan (`SharedArgs::given`) for their follow-up commands.
    pub fn read<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        if let Some((name, sub)) = matches.subcommand()
            && let Some(sub_command) = command.find_subcommand(name)
        {
            let given = Given::of(sub_command, sub);
            match &mut cli.command {
                Command::Update(a) | Command::Replay(a) => a.shared.given = given,
                Command::Plan(a) => a.shared.given = given,
                _ => {}
            }
        }
        Ok(cli)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags, counts, repeated options and the positional, as typed; defaults left out. (A value
    /// from the environment is kept too: tests/ runs the binary with one.)
    #[test]
    fn what_the_user_set_is_read_back_as_words() {
        let cli = Cli::read([
            "ccbulk",
            "update",
            "in put.csv",
            "--sandbox",
            "-vv",
            "--map",
            "A=city",
            "--map",
            "B=zip",
            "--rate",
            "5/s",
        ])
        .unwrap();
        let Command::Update(a) = cli.command else {
            panic!("update")
        };
        let g = &a.shared.given;
        assert_eq!(g.words("input"), ["in put.csv"]);
        assert_eq!(g.words("sandbox"), ["--sandbox"]);
        assert_eq!(g.words("verbose"), ["-vv"]);
        assert_eq!(g.words("map"), ["--map", "A=city", "--map", "B=zip"]);
        assert_eq!(g.words("rate"), ["--rate", "5/s"]);
        for default in [
            "mode",
            "concurrency",
            "null_marker",
            "base_url",
            "quiet",
            "key",
        ] {
            assert!(!g.has(default), "{default}: {g:?}");
        }
    }

    /// A usage error reads as clap's own (the same as `Cli::parse`).
    #[test]
    fn a_usage_error_is_clap_s_own() {
        let err = Cli::read(["ccbulk", "update"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("<INPUT>"), "{err}");
    }
}
