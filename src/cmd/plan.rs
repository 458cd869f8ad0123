//! `ccbulk plan`: a merge that sends no PATCH. Each row's customer is read (GET) and the row
//! says what would change; the end prints the changes per field and offers the command that
//! applies them.

use crate::cli::PlanArgs;
use crate::config::{Config, Job};
use crate::exit;
use crate::input::Input;
use crate::outcome::OutcomeKind;
use crate::pipeline;
use crate::signals::Signals;

use super::job::{self, Ready};

pub(crate) async fn run(args: PlanArgs) -> anyhow::Result<i32> {
    // From the start: a signal during setup must not kill the run silently, leaving its lock.
    let mut signals = Signals::new();
    let config = Config::from_args(Job::Plan, args.into())?;
    let prepared = match job::prepare(config, no_check, &mut signals).await? {
        Ready::Go(p) => p,
        Ready::RefusedAtStart(code) => return Ok(code),
    };
    let (opened, run) = prepared.open(false, signals)?;
    let ran = pipeline::run(run).await;
    let (mut summary, tally) = opened.summarise(ran);
    eprint!("{}", tally.diff.render(tally.total()));
    // Only a finished plan is offered for applying; a stopped one (or one cut short by
    // --limit) is offered its --resume.
    let finished = (summary.exit_code == exit::OK || summary.exit_code == exit::SOME_FAILED)
        && summary.resume_command.is_none();
    if tally.count(OutcomeKind::WouldChange) > 0 && finished {
        summary.apply_command = Some(opened.config.apply_command());
    }
    Ok(job::finish(&opened.config, &summary))
}

/// Plan reads only the columns a row has: any input an update would take will do.
fn no_check(_: &Config, _: &Input) -> anyhow::Result<()> {
    Ok(())
}
