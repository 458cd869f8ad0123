//! `ccbulk update`: every row of the input becomes a PATCH (in merge mode after a GET; with
//! `--dry-run` nothing is sent and each row is only checked).

use crate::cli::{Mode, RunArgs};
use crate::config::{Config, Job};
use crate::input::Input;
use crate::pipeline;
use crate::signals::Signals;

use super::job::{self, Ready};

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<i32> {
    // From the start: a signal during setup must not kill the run silently, leaving its lock.
    let mut signals = Signals::new();
    let config = Config::from_args(Job::Update, args)?;
    let prepared = match job::prepare(config, check_columns, &mut signals).await? {
        Ready::Go(p) => p,
        Ready::RefusedAtStart(code) => return Ok(code),
    };
    let (opened, run) = prepared.open(false, signals)?;
    let ran = pipeline::run(run).await;
    let (summary, _) = opened.summarise(ran);
    Ok(job::finish(&opened.config, &summary))
}

/// Replace mode sends every field, so the input must have a column for each (a dry run only
/// checks cells, and says so per row).
pub(super) fn check_columns(config: &Config, input: &Input) -> anyhow::Result<()> {
    if config.mode == Mode::Replace && !config.dry_run {
        input.columns.check_replace(&input.name)?;
    }
    Ok(())
}
