//! `ccbulk update`: every row of the input becomes a PATCH (in merge mode after a GET; with
//! `--dry-run` nothing is sent and each row is only checked).

use crate::cli::{Mode, RunArgs};
use crate::config::{Config, Job};
use crate::input::Input;

use super::job;

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<i32> {
    job::run(Job::Update, args, check_columns, |_, _, _| {}).await
}

/// Replace mode sends every field, so the input must have a column for each. A dry run refuses
/// such a file too: it checks what the run would, so a file it passes is one the run takes.
pub(super) fn check_columns(config: &Config, input: &Input) -> anyhow::Result<()> {
    if config.mode == Mode::Replace {
        input.columns.check_replace(&input.name)?;
    }
    Ok(())
}
