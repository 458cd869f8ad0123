//! Turning rows into calls: one pacing point for every call (GET, PATCH and retries alike), a
//! fixed pool of workers running one worker loop, retries with backoff and `Retry-After`, a shared
//! pause after a 429, and per-customer order (rows of one customer run one after another, in file
//! order, never two at a time).

use std::collections::{HashMap, VecDeque, hash_map::Entry};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, RateLimiter};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::{Api, Reply};
use crate::auth::{Auth, AuthError};
use crate::customer::{self, Cell, Change};
use crate::input::Row;
use crate::rate::Rate;
use crate::results::{Outcome, OutcomeKind};

/// The longest `Retry-After` honoured as given; longer ones are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The longest backoff between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Rows parked behind a busy customer before the dispatcher stops reading input.
const MAX_PARKED: usize = 10_000;

/// Why a run stopped before the end of its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Interrupted,
    AuthRefused(String),
    MaxFailures(u64),
}

/// The run's one cancellation: the first reason wins; every task watches the token.
#[derive(Clone, Default)]
pub struct Stopper {
    pub token: CancellationToken,
    reason: Arc<OnceLock<Stop>>,
}

impl Stopper {
    /// Records the reason (if none yet) and cancels everything.
    pub fn stop(&self, reason: Stop) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// The reason, if the run was stopped.
    pub fn reason(&self) -> Option<Stop> {
        self.reason.get().cloned()
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// The single pacing point. Waiters take turns (a fair async mutex) so that one at a time talks
/// to the limiter: no thundering herd when a slot frees. A 429 moves a shared "not before"
/// instant that every call honours.
pub struct Pacer {
    limiter: Option<DefaultDirectRateLimiter>,
    turn: tokio::sync::Mutex<()>,
    start: Instant,
    not_before_ms: AtomicU64,
}

impl Pacer {
    pub fn new(rate: Rate, burst: NonZeroU32) -> Pacer {
        Pacer {
            limiter: rate.quota(burst).map(RateLimiter::direct),
            turn: tokio::sync::Mutex::new(()),
            start: Instant::now(),
            not_before_ms: AtomicU64::new(0),
        }
    }

    fn not_before(&self) -> Instant {
        self.start + Duration::from_millis(self.not_before_ms.load(Ordering::Acquire))
    }

    /// Holds every caller back until `delay` from now.
    pub fn pause_for(&self, delay: Duration) {
        let until = (Instant::now() + delay).duration_since(self.start).as_millis();
        self.not_before_ms
            .fetch_max(u64::try_from(until).unwrap_or(u64::MAX), Ordering::AcqRel);
    }

    /// Waits until the next call may start.
    pub async fn wait(&self) {
        let Some(limiter) = &self.limiter else {
            tokio::time::sleep_until(self.not_before().into()).await;
            return;
        };
        let _turn = self.turn.lock().await;
        loop {
            let nb = self.not_before();
            if Instant::now() < nb {
                tokio::time::sleep_until(nb.into()).await;
            }
            limiter.until_ready().await;
            if Instant::now() >= self.not_before() {
                return;
            }
        }
    }
}

/// The exponential backoff before attempt `attempt + 1`, with jitter in [d/2, d].
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(MAX_BACKOFF);
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// What the workers do with a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// GET, overlay, PATCH if changed.
    Merge,
    /// PATCH the row as the whole customer.
    Replace,
    /// GET and overlay only (`ccbulk plan`).
    Plan,
}

/// Settings of the dispatcher.
#[derive(Clone, Debug)]
pub struct Settings {
    pub action: Action,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub retry_provider_default: bool,
}

/// Everything a worker needs.
pub struct Dispatcher {
    pub api: Api,
    pub auth: Arc<Auth>,
    pub pacer: Pacer,
    pub settings: Settings,
    pub stopper: Stopper,
    /// Calls sent (attempts), for the summary.
    pub requests: AtomicU64,
}

/// The result of one call, after its retries.
enum Called {
    /// Interrupted before anything was sent for it.
    NotSent,
    Done { reply: Reply, attempts: u32 },
}

impl Dispatcher {
    /// Reads rows until the input ends or the run stops, keeps per-customer order, and runs the
    /// worker pool. Returns when every started row has sent its outcome.
    pub async fn run(self: Arc<Self>, mut rows: mpsc::Receiver<Row>, out: mpsc::Sender<Outcome>) {
        let (work_tx, work_rx) = async_channel::bounded::<Row>(self.settings.concurrency);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Uuid>();
        let workers: Vec<_> = (0..self.settings.concurrency)
            .map(|_| {
                let me = self.clone();
                let (rx, out, done) = (work_rx.clone(), out.clone(), done_tx.clone());
                tokio::spawn(async move { me.worker(rx, out, done).await })
            })
            .collect();
        drop((work_rx, done_tx, out));

        let cancel = self.stopper.token.clone();
        let mut busy: HashMap<Uuid, VecDeque<Row>> = HashMap::new();
        let mut parked = 0usize;
        let mut input_open = true;
        while input_open || !busy.is_empty() {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                done = done_rx.recv() => {
                    // No worker left (the writer is gone): nothing more can finish.
                    let Some(id) = done else { break };
                    match busy.get_mut(&id).and_then(VecDeque::pop_front) {
                        Some(row) => { parked -= 1; Some(row) }
                        None => { busy.remove(&id); None }
                    }
                },
                row = rows.recv(), if input_open && parked < MAX_PARKED => match row {
                    None => { input_open = false; None }
                    Some(row) => {
                        let id = row.mapped.as_ref().map(|m| m.customer_id).unwrap_or_default();
                        match busy.entry(id) {
                            Entry::Occupied(mut q) => { q.get_mut().push_back(row); parked += 1; None }
                            Entry::Vacant(v) => { v.insert(VecDeque::new()); Some(row) }
                        }
                    }
                },
            };
            if let Some(row) = next {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => break,
                    sent = work_tx.send(row) => if sent.is_err() { break },
                }
            }
        }
        work_tx.close();
        for w in workers {
            let _ = w.await;
        }
    }

    /// The one worker loop.
    async fn worker(
        &self,
        work: async_channel::Receiver<Row>,
        out: mpsc::Sender<Outcome>,
        done: mpsc::UnboundedSender<Uuid>,
    ) {
        while let Ok(row) = work.recv().await {
            if self.stopper.is_stopped() {
                break;
            }
            let id = row.mapped.as_ref().map(|m| m.customer_id).unwrap_or_default();
            if let Some(outcome) = self.process(row).await
                && out.send(outcome).await.is_err()
            {
                break;
            }
            let _ = done.send(id);
        }
    }

    /// One row from start to outcome; `None` if the run was stopped before the row's PATCH was
    /// sent (it changed nothing, so it stays out of the results and `--resume` sends it).
    async fn process(&self, row: Row) -> Option<Outcome> {
        let Ok(mapped) = &row.mapped else {
            return Some(Outcome::invalid(row));
        };
        let id = mapped.customer_id;
        let correlation = mapped.correlation_id.unwrap_or_else(Uuid::new_v4);
        let retry_flag = mapped
            .retry_provider
            .unwrap_or(self.settings.retry_provider_default);
        let (customer, changes) = match self.settings.action {
            Action::Replace => (replace_object(&row, id), Vec::new()),
            Action::Merge | Action::Plan => {
                let (reply, attempts) = match self.call(row.number, id, None, correlation).await {
                    Called::NotSent => return None,
                    Called::Done { reply, attempts } => (reply, attempts),
                };
                let mut customer = match reply {
                    Reply::Customer(c) => c,
                    other => return Some(finish(row, correlation, other, attempts, Vec::new())),
                };
                let changes = customer::merge(&mut customer, row.cells());
                let kind = match (changes.is_empty(), self.settings.action) {
                    (true, _) => Some(OutcomeKind::Unchanged),
                    (false, Action::Plan) => Some(OutcomeKind::WouldChange),
                    _ => None,
                };
                if let Some(kind) = kind {
                    return Some(Outcome {
                        kind,
                        http_status: Some(200),
                        attempts,
                        correlation_id: Some(correlation),
                        changes,
                        ..Outcome::new(row)
                    });
                }
                (customer, changes)
            }
        };
        let body = serde_json::json!({
            "customer": customer,
            "retryFailedProviderCustomersFromCompanyInfo": retry_flag,
        });
        let body = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => {
                let err = format!("cannot build the request body: {e}");
                return Some(Outcome::failed(row, correlation, None, 0, err));
            }
        };
        match self.call(row.number, id, Some(body), correlation).await {
            // Stopped before the PATCH went (a merge row's GET only read): recording it as
            // failed would make `--resume` skip a row that was never sent.
            Called::NotSent => None,
            Called::Done { reply, attempts } => {
                Some(finish(row, correlation, reply, attempts, changes))
            }
        }
    }

    /// One call with its retries: GET when `body` is `None`, else PATCH. `row` is for the logs.
    async fn call(&self, row: u64, id: Uuid, body: Option<Vec<u8>>, correlation: Uuid) -> Called {
        let cancel = &self.stopper.token;
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if attempts == 0 => return Called::NotSent,
                _ = self.pacer.wait() => {}
            }
            // Waiting for a token can take a while (a refresh that retries); a stop meanwhile
            // must not let this call go out.
            let token = tokio::select! {
                biased;
                _ = cancel.cancelled(), if attempts == 0 => return Called::NotSent,
                t = self.auth.token() => match t {
                    Ok(t) => t,
                    Err(e) => return self.auth_failed(e, attempts),
                },
            };
            attempts += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let reply = match &body {
                None => self.api.get_customer(id, &token, correlation).await,
                Some(b) => {
                    self.api
                        .patch_account_info(id, b.clone(), &token, correlation)
                        .await
                }
            };
            tracing::debug!(row, customer = %id, correlation = %correlation, attempt = attempts, reply = ?short(&reply), "call");
            // An answer past authentication proves the token (a 5xx or timeout proves nothing).
            if matches!(
                reply,
                Reply::Customer(_) | Reply::Accepted(_) | Reply::Fail { status: Some(_), .. }
            ) {
                self.auth.accepted(token.generation);
            }
            match reply {
                Reply::Retry {
                    status,
                    after,
                    error,
                } => {
                    let wait = after.map_or_else(
                        || backoff(self.settings.backoff_base, attempts),
                        |a| a.min(MAX_RETRY_AFTER),
                    );
                    if status == Some(429) {
                        self.pacer.pause_for(wait);
                    }
                    let give_up = if attempts >= self.settings.max_attempts {
                        Some(format!("{error} (gave up after {attempts} attempts)"))
                    } else if cancel.is_cancelled() {
                        Some(format!("{error} (not retried: the run was stopped)"))
                    } else {
                        None
                    };
                    if let Some(error) = give_up {
                        return Called::Done {
                            reply: Reply::Fail { status, error },
                            attempts,
                        };
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Called::Done {
                            reply: Reply::Fail { status, error: format!("{error} (not retried: the run was stopped)") },
                            attempts,
                        },
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Reply::Unauthorized(error) => {
                    // One shared refresh, then this call once more; a second 401, or a refresh
                    // that fails (a token from the environment cannot be refreshed), stops the run.
                    let refused = if refreshed {
                        Some(format!("{error} (still refused after a token refresh)"))
                    } else {
                        match self.auth.refresh(Some(token.generation)).await {
                            Ok(_) => None,
                            Err(e) => Some(format!("{error} ({e})")),
                        }
                    };
                    refreshed = true;
                    let why = match refused {
                        Some(why) => {
                            self.stopper.stop(Stop::AuthRefused(error.clone()));
                            why
                        }
                        None if cancel.is_cancelled() => {
                            format!("{error} (not retried: the run was stopped)")
                        }
                        None => continue,
                    };
                    return Called::Done {
                        reply: Reply::Fail {
                            status: Some(401),
                            error: why,
                        },
                        attempts,
                    };
                }
                other => return Called::Done { reply: other, attempts },
            }
        }
    }

    /// No token could be had: the run stops. A call not yet sent is left for `--resume`.
    fn auth_failed(&self, e: AuthError, attempts: u32) -> Called {
        let error = e.to_string();
        self.stopper.stop(Stop::AuthRefused(error.clone()));
        if attempts == 0 {
            return Called::NotSent;
        }
        Called::Done {
            reply: Reply::Fail {
                status: None,
                error,
            },
            attempts,
        }
    }
}

/// A one-word view of a reply for debug logs (never a body or a header).
fn short(reply: &Reply) -> String {
    match reply {
        Reply::Customer(_) => "200".into(),
        Reply::Accepted(s) => s.to_string(),
        Reply::Retry { status, error, .. } => status.map_or(error.clone(), |s| s.to_string()),
        Reply::Unauthorized(_) => "401".into(),
        Reply::Fail { status, error } => status.map_or(error.clone(), |s| s.to_string()),
    }
}

/// The customer object of replace mode: the id and every cell the row sets or clears.
fn replace_object(row: &Row, id: Uuid) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.to_string()));
    for (field, cell) in row.cells() {
        match cell {
            Cell::Keep => {}
            Cell::Clear => {
                m.insert(field.wire().into(), Value::Null);
            }
            Cell::Set(v) => {
                m.insert(field.wire().into(), Value::String(v.to_string()));
            }
        }
    }
    m
}

fn finish(
    row: Row,
    correlation: Uuid,
    reply: Reply,
    attempts: u32,
    changes: Vec<Change>,
) -> Outcome {
    let (kind, status, error) = match reply {
        Reply::Accepted(s) => (OutcomeKind::Accepted, Some(s), String::new()),
        Reply::Customer(_) => (OutcomeKind::Accepted, Some(200), String::new()),
        Reply::Fail { status, error } | Reply::Retry { status, error, .. } => {
            (OutcomeKind::Failed, status, error)
        }
        Reply::Unauthorized(error) => (OutcomeKind::Failed, Some(401), error),
    };
    Outcome {
        kind,
        http_status: status,
        attempts,
        correlation_id: Some(correlation),
        error,
        changes,
        ..Outcome::new(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let full = base * (1 << (attempt - 1));
            let d = backoff(base, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
    }

    #[tokio::test]
    async fn pacer_spaces_calls_and_honours_pause() {
        let pacer = Pacer::new("20/s".parse().unwrap(), NonZeroU32::new(1).unwrap());
        let t = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        // First call is free; four more at 50 ms each.
        assert!(t.elapsed() >= Duration::from_millis(190), "{:?}", t.elapsed());
        pacer.pause_for(Duration::from_millis(300));
        let t = Instant::now();
        pacer.wait().await;
        assert!(t.elapsed() >= Duration::from_millis(290), "{:?}", t.elapsed());
    }
}
