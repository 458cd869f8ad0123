//! SIGINT and SIGTERM (Ctrl-C where there are no Unix signals), watched in one place for the
//! update run (stop gently, then quit) and the stand-alone sandbox (shut down).

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
