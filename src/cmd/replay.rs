//! `ccbulk replay`: sends again the rows of a results file that failed or were invalid (after
//! the user fixed their cells), and only those; the rest of the file is skipped.

use crate::cli::RunArgs;
use crate::config::{Config, Job, SetupError};
use crate::input::Input;

use super::job;

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<i32> {
    job::run(Job::Replay, args, check_results_file, |_, _, _| {}).await
}

/// The input must be a results file: its `ccbulk_outcome` column says which rows to send.
fn check_results_file(config: &Config, input: &Input) -> anyhow::Result<()> {
    super::update::check_columns(config, input)?;
    if input.columns.prior_outcome.is_none() {
        return Err(SetupError(format!(
            "{} is not a ccbulk results file (no ccbulk_outcome column)",
            input.name
        ))
        .into());
    }
    Ok(())
}
