//! SIGINT and SIGTERM (Ctrl-C where there are no Unix signals), watched in one place from the
//! start of a command: during setup (end at once, nothing sent), during an update or an export
//! (stop gently, then quit), and for the stand-alone sandbox (shut down).

use crate::exit;
use crate::progress;
use crate::stop::{Stop, Stopper};

/// Both stop signals, watched from creation on: a stream made after a signal does not see it, so
/// make one before the work starts and keep it.
pub(crate) struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// `None` if signals cannot be watched (the default action then stays in force).
    pub(crate) fn new() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Some(Signals {
                int: signal(SignalKind::interrupt()).ok()?,
                term: signal(SignalKind::terminate()).ok()?,
            })
        }
        #[cfg(not(unix))]
        {
            Some(Signals {})
        }
    }

    /// Waits for the next signal.
    pub(crate) async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        {
            // If Ctrl-C cannot be watched, never report one.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// First Ctrl-C or SIGTERM: stop starting rows and let those in flight finish. Second: quit now
/// (every finished row is already written and flushed), after `on_quit` (the summary JSON of an
/// update). `signals` are watched since the command started, so one that came during setup's
/// last steps is seen.
pub(crate) fn spawn_signal_handler(
    signals: Option<Signals>,
    stopper: Stopper,
    quiet: bool,
    on_quit: Box<dyn FnOnce() + Send>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut signals) = signals else {
            return;
        };
        signals.next().await;
        stopper.stop(Stop::Interrupted);
        // Above the progress line, which goes on while the rows in flight finish.
        if !quiet {
            progress::eprint_above_bar(
                b"\nccbulk: interrupted: finishing the rows in flight (press Ctrl-C again to quit at once)\n",
            );
        }
        signals.next().await;
        progress::eprint_above_bar(b"\nccbulk: quitting at once; rows already written are kept\n");
        on_quit();
        std::process::exit(exit::INTERRUPTED);
    })
}

/// Runs `setup` unless a stop signal comes first: then `setup` is dropped (its lock files
/// removed, nothing having been written or sent yet), the user told (even with `-q`: it is all
/// the run says), and `None` returned, for exit 130. Without `signals` (they cannot be watched)
/// setup just runs.
pub(crate) async fn unless_interrupted<T>(
    signals: &mut Option<Signals>,
    setup: impl Future<Output = T>,
) -> Option<T> {
    let Some(watch) = signals.as_mut() else {
        return Some(setup.await);
    };
    tokio::select! {
        done = setup => Some(done),
        () = watch.next() => {
            eprintln!("ccbulk: interrupted during setup: nothing was sent");
            None
        }
    }
}
