//! The run's one cancellation: why it stopped (the first reason wins) and the token every task
//! watches. (`signals.rs` stops it on Ctrl-C or SIGTERM.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// Why a run stopped before the end of its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Interrupted,
    AuthRefused(String),
    /// The token endpoint did not answer (the text names it).
    TokenEndpoint(String),
    MaxFailures(u64),
    /// The first rows that got an answer all failed with this same 4xx (systematic.rs).
    Systematic {
        status: u16,
        error: String,
    },
    /// The first rows all failed to reach the API the same way (systematic.rs): the cause, as
    /// each row's error names it ("connection refused").
    Unreachable(String),
    /// The run cannot go on: a file it must write (the undo file, before a PATCH) cannot be
    /// written, or a task failed (a bug). The message says which.
    Broken(String),
}

/// The run's one cancellation: the first reason wins; every task watches the token.
#[derive(Clone, Default)]
pub struct Stopper {
    pub token: CancellationToken,
    reason: Arc<OnceLock<Stop>>,
    /// Set by [`Stopper::stop`] with the token (the only way the token is cancelled): the
    /// token's own check takes a lock shared by every worker, and the workers ask before every
    /// call.
    stopped: Arc<AtomicBool>,
}

impl Stopper {
    /// Records the reason (if none yet) and cancels everything.
    pub fn stop(&self, reason: Stop) {
        let _ = self.reason.set(reason);
        self.stopped.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// The reason, if the run was stopped.
    pub fn reason(&self) -> Option<Stop> {
        self.reason.get().cloned()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}
