//! What the running sandbox knows, shared by every handler and by the
//! [`Sandbox`](super::Sandbox) handle the tests hold: the tenant, issued tokens, the throttle,
//! every request received, and how often each path was called (for the simulated faults).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::store::{self, Saver};
use super::tenant::{Tenant, mix};
use super::throttle::Throttle;
use super::{RecordedRequest, SandboxConfig};

/// Everything the running sandbox knows.
pub(super) struct State {
    pub config: SandboxConfig,
    pub(super) throttle: Option<Throttle>,
    /// Issued tokens and when each expires; expired ones stay, to tell "expired" from "unknown".
    /// On tokio's clock, so a test can let a token expire on a paused clock.
    pub(super) tokens: Mutex<HashMap<String, tokio::time::Instant>>,
    pub(super) issued: AtomicUsize,
    tenant: Mutex<Tenant>,
    /// Where the tenant is kept between runs; `None` for a tenant in memory only.
    saver: Option<Saver>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// How many times each method + path has been answered, for fault decisions.
    calls: Mutex<HashMap<String, u64>>,
}

/// Locks a mutex even if a panicking thread poisoned it: the data are plain maps and lists that
/// stay consistent between statements.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// A sandbox serving `tenant`, kept in `saver`'s file if there is one.
    pub fn new(config: SandboxConfig, tenant: Tenant, saver: Option<Saver>) -> State {
        let throttle = config
            .throttle
            .and_then(|rate| Throttle::new(rate, config.throttle_kind, config.throttle_headers));
        State {
            throttle,
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicUsize::new(0),
            tenant: Mutex::new(tenant),
            saver,
            requests: Mutex::new(Vec::new()),
            calls: Mutex::new(HashMap::new()),
            config,
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub fn customer(&self, id: Uuid) -> Map<String, Value> {
        lock(&self.tenant).customer(id)
    }

    /// Stores `customer` as `id`'s current state, and lists it from now on; a kept tenant is
    /// written to its file soon after.
    pub fn put(&self, id: Uuid, customer: Map<String, Value>) {
        lock(&self.tenant).put(id, customer);
        if let Some(saver) = &self.saver {
            saver.changed();
        }
    }

    /// Stores a PATCHed `customer` as [`State::put`] does, unless the tenant is kept and its
    /// file would then be past its limits ([`store::LIMITS`]): then why, for the PATCH's answer.
    /// Checked and stored under one lock, so concurrent PATCHes cannot pass it together.
    pub fn put_patched(&self, id: Uuid, customer: Map<String, Value>) -> Result<(), String> {
        let Some(saver) = &self.saver else {
            self.put(id, customer);
            return Ok(());
        };
        lock(&self.tenant).put_within(id, customer, store::LIMITS)?;
        saver.changed();
        Ok(())
    }

    /// The ids the list call serves, in its order.
    pub fn listed(&self) -> Vec<Uuid> {
        lock(&self.tenant).listed().to_vec()
    }

    /// The file a kept tenant lives in.
    pub fn state_file(&self) -> Option<&std::path::Path> {
        self.saver.as_ref().map(Saver::path)
    }

    /// How many customers the tenant made up at start, and how many were changed since.
    pub fn counts(&self) -> (usize, usize) {
        let tenant = lock(&self.tenant);
        (tenant.made_up(), tenant.stored())
    }

    /// Writes a kept tenant to its file if it changed since it was last written.
    pub fn save(&self) -> Result<(), String> {
        self.saver
            .as_ref()
            .map_or(Ok(()), |saver| saver.save(|| self.snapshot_json()))
    }

    /// The last [`State::save`]: nothing is written after it (the file's lock is about to go).
    pub fn close(&self) -> Result<(), String> {
        self.saver
            .as_ref()
            .map_or(Ok(()), |saver| saver.close(|| self.snapshot_json()))
    }

    /// The tenant as its file holds it: copied under the lock, written out after it.
    fn snapshot_json(&self) -> serde_json::Result<Vec<u8>> {
        let snapshot = lock(&self.tenant).snapshot();
        snapshot.to_json()
    }

    /// Waits until the tenant changes (never, for one in memory only).
    pub async fn changed(&self) {
        match &self.saver {
            Some(saver) => saver.wake.notified().await,
            None => std::future::pending().await,
        }
    }

    pub fn tokens_issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    pub(super) fn begin(&self, request: RecordedRequest) -> usize {
        let mut requests = lock(&self.requests);
        requests.push(request);
        requests.len() - 1
    }

    pub(super) fn update(&self, index: usize, f: impl FnOnce(&mut RecordedRequest)) {
        if let Some(r) = lock(&self.requests).get_mut(index) {
            f(r);
        }
    }

    /// Decides, from the seed and how often this method + path was called before, whether this
    /// call fails and how. Keyed per path rather than one global stream, so the same client run
    /// meets the same faults whatever order its concurrent calls arrive in.
    pub(super) fn fault(&self, method: &Method, path: &str) -> Option<StatusCode> {
        let rate = self.config.fail_rate;
        if rate.is_nan() || rate <= 0.0 {
            return None;
        }
        let key = format!("{method} {path}");
        let n = {
            let mut calls = lock(&self.calls);
            let n = calls.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let mut h = self.config.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let h = mix(h);
        let draw = (h >> 11) as f64 / (1u64 << 53) as f64;
        (draw < rate).then_some(if h & 1 == 0 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        })
    }
}
