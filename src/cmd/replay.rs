//! `ccbulk replay`: sends again the rows of a results file that failed or were invalid (after
//! the user fixed their cells), and only those; the rest of the file is skipped.

use crate::cli::RunArgs;
use crate::config::{Config, Job, SetupError};
use crate::input::Input;
use crate::pipeline;
use crate::signals::Signals;

use super::job::{self, Ready};

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<i32> {
    // From the start: a signal during setup must not kill the run silently, leaving its lock.
    let mut signals = Signals::new();
    let config = Config::from_args(Job::Replay, args)?;
    let prepared = match job::prepare(config, check_results_file, &mut signals).await? {
        Ready::Go(p) => p,
        Ready::RefusedAtStart(code) => return Ok(code),
    };
    let (opened, run) = prepared.open(true, signals)?;
    let ran = pipeline::run(run).await;
    let (summary, _) = opened.summarise(ran);
    Ok(job::finish(&opened.config, &summary))
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
