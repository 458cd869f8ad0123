//! Command-line definitions only (clap). Raw flags are turned into validated, typed settings by
//! `config.rs` before any work starts. No flag takes a token or a secret: those come from the
//! environment or a file, so they never show in the process list.

use clap::{Args, Parser, Subcommand};

mod connection;
mod export;
mod given;
pub mod heading;
mod help;
mod report;
mod run;
mod sandbox;

pub use connection::{ConnectionArgs, DEFAULT_BASE_URL, ENTRA_SCOPE, ENTRA_TOKEN_URL, Reserve};
pub use export::{ExportArgs, SearchField};
pub use given::{Given, GivenArg};
use help::*;
pub use help::{ENVIRONMENT, EXIT_CODES};
pub use report::{LogFormat, ReportArgs};
pub use run::{Key, Mode, PlanArgs, RunArgs, SharedArgs};
pub use sandbox::SandboxArgs;

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
        after_long_help = long_help(UPDATE_EXAMPLES, EXIT_CODES)
    )]
    Update(RunArgs),
    /// Send again the rows of a results file whose outcome is failed or invalid.
    #[command(
        after_help = more("replay"),
        after_long_help = long_help(REPLAY_EXAMPLES, EXIT_CODES)
    )]
    Replay(RunArgs),
    /// Read-only: GET every customer and show what `update` would change. Sends no PATCH.
    #[command(
        after_help = more("plan"),
        after_long_help = long_help(PLAN_EXAMPLES, EXIT_CODES)
    )]
    Plan(PlanArgs),
    /// Read-only: page through the tenant's customers and write them as a CSV update reads.
    #[command(
        after_help = more("export"),
        after_long_help = long_help(EXPORT_EXAMPLES, EXPORT_EXIT_CODES)
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

/// Options of `ccbulk completions`.
#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
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
        for args in [&["update", "in.csv"][..], &["export"]] {
            let mut argv = vec!["ccbulk"];
            argv.extend_from_slice(args);
            argv.extend(["--timeout", "0ms"]);
            let err = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(
                err.contains("--timeout") && err.contains("must be more than 0"),
                "{err}"
            );
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
