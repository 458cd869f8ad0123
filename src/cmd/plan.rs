//! `ccbulk plan`: a merge that sends no PATCH. Each row's customer is read (GET) and the row
//! says what would change; the end prints the changes per field and offers the command that
//! applies them.

use crate::cli::PlanArgs;
use crate::config::{Config, Job};
use crate::exit;
use crate::input::Input;
use crate::outcome::OutcomeKind;

use super::job;

pub(crate) async fn run(args: PlanArgs) -> anyhow::Result<i32> {
    job::run(
        Job::Plan,
        args.into(),
        no_check,
        |opened, summary, tally| {
            eprint!("{}", tally.diff.render(tally.total()));
            // Only a finished plan is offered for applying; a stopped one (or one cut short by
            // --limit) is offered its --resume.
            let finished = (summary.exit_code == exit::OK
                || summary.exit_code == exit::SOME_FAILED)
                && summary.resume_command.is_none();
            if tally.count(OutcomeKind::WouldChange) > 0 && finished {
                summary.apply_command = Some(opened.config.apply_command());
            }
        },
    )
    .await
}

/// Plan reads only the columns a row has: any input an update would take will do.
fn no_check(_: &Config, _: &Input) -> anyhow::Result<()> {
    Ok(())
}
