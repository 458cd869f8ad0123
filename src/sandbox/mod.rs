//! A simulation of the CloudCockpit API (docs/api.md), served by axum on a local port.
//!
//! It exists so users can try ccbulk without a tenant (`ccbulk sandbox`, `update --sandbox`) and so
//! tests can drive the real client against something that checks what CloudCockpit checks: the
//! client-credentials token, the headers, the body shape and field limits of the account-info
//! PATCH. It also misbehaves on request (latency, 500/503, 429 with `Retry-After`, expiring
//! tokens) and records every request it receives, so tests can assert on order, overlap, headers
//! and bodies.
//!
//! Its tenant lives in memory, or (`--sandbox` runs, `ccbulk sandbox`) in a state file kept
//! between runs (`store.rs`).
//!
//! `made_up.rs` invents customers from their id, `tenant.rs` holds the customers, `store.rs`
//! keeps them in their file, `validate.rs` checks PATCH bodies, `throttle.rs` plays the shapes
//! of rate limit, `gate.rs` checks what every API call must carry, `state.rs` is what the running
//! sandbox knows, `server.rs` and `list.rs` the routes; this file is the public handle.

mod gate;
mod list;
mod made_up;
mod server;
mod state;
mod store;
mod tenant;
mod throttle;
mod validate;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value};
use tokio::sync::watch;
use uuid::Uuid;

use crate::rate::Rate;

pub use made_up::made_up_customer;
pub use store::{MAX_STORED, default_path, reset};
pub use throttle::Shape;

/// The customers a new kept tenant makes up (`ccbulk sandbox --customers`' default), so that a
/// first `export --sandbox` has something to show.
pub const KEPT_CUSTOMERS: usize = 50;

/// How long a kept tenant's changes wait before they are written: a run's many PATCHes make a
/// few writes, not one each.
const SAVE_DELAY: Duration = Duration::from_millis(250);

/// How the sandbox behaves. `Default` gives a well-behaved API with the default credentials.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Added before every GET/PATCH answer.
    pub latency: Duration,
    /// Fraction (0.0..=1.0) of GET/PATCH calls answered 500 or 503; which ones is fixed by `seed`
    /// and by how many times that method and path were called before.
    pub fail_rate: f64,
    /// Above this rate (GET, PATCH and list calls together), answer 429 with `Retry-After`.
    pub throttle: Option<Rate>,
    /// The shape of the `throttle` limit.
    pub throttle_kind: Shape,
    /// Answers say what is left of the `throttle` limit in rate-limit headers.
    pub throttle_headers: bool,
    /// `expires_in` of issued tokens; a token used after it gets 401.
    pub token_ttl: Duration,
    /// Seed of the simulated faults.
    pub seed: u64,
    /// The client id the token endpoint accepts.
    pub client_id: String,
    /// The client secret the token endpoint accepts.
    pub client_secret: String,
    /// A bearer token that is always accepted, as if it came from `CLOUDCOCKPIT_TOKEN`.
    pub static_token: Option<String>,
    /// Customers made up at start for the list call (`--customers N`), with ids drawn from
    /// `seed` and internal identifiers `ERP-000001`, `ERP-000002`, …; for a kept tenant, when it
    /// is new only.
    pub customers: usize,
    /// Keep the tenant in this file between runs (locked while served); `None`: in memory only.
    pub state: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            latency: Duration::ZERO,
            fail_rate: 0.0,
            throttle: None,
            throttle_kind: Shape::Bucket,
            throttle_headers: false,
            token_ttl: Duration::from_secs(3599),
            seed: 0,
            client_id: "ccbulk-sandbox".to_string(),
            client_secret: "sandbox-secret".to_string(),
            static_token: None,
            customers: 0,
            state: None,
        }
    }
}

/// One request as the sandbox received it and answered it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Header names lower-cased; values as sent (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The status answered; 0 if the client went away before the answer.
    pub status: u16,
    pub received: Instant,
    /// When the answer was ready (equal to `received` while still in flight).
    pub finished: Instant,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running sandbox. Clones share the same server; it stops on [`Sandbox::shutdown`] or when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

struct Inner {
    addr: SocketAddr,
    state: Arc<state::State>,
    /// Dropping it (with the last handle) also stops the server.
    stop: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
    /// A kept tenant's lock, released (after the last write) with the last handle.
    _kept: Option<crate::lock::ResultsLock>,
}

impl Drop for Inner {
    /// The kept tenant's last changes are written before its lock goes.
    fn drop(&mut self) {
        if let Err(e) = self.state.close() {
            tracing::error!("{e}");
            eprintln!("ccbulk: {e}");
        }
    }
}

impl Sandbox {
    /// Binds `listen` (port 0 picks a free one) and serves in a background tokio task.
    /// A kept tenant (`config.state`) is locked and read first: a tenant in use, or a file that
    /// cannot be read, is an error that says so.
    pub async fn start(config: SandboxConfig, listen: SocketAddr) -> std::io::Result<Sandbox> {
        let (kept, tenant, saver) = match &config.state {
            None => (
                None,
                tenant::Tenant::new(config.customers, config.seed),
                None,
            ),
            Some(path) => {
                let (lock, tenant) = store::open(path, config.customers, config.seed)
                    .map_err(std::io::Error::other)?;
                (Some(lock), tenant, Some(store::Saver::new(path.clone())))
            }
        };
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}"))
        })?;
        let addr = listener.local_addr()?;
        let state = Arc::new(state::State::new(config, tenant, saver));
        let app = server::router(state.clone());
        let (stop, mut stop_rx) = watch::channel(false);
        let (stopped_tx, stopped) = watch::channel(false);
        save_when_changed(state.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let shutdown = async move {
                // Err means every handle is gone: stop as well.
                let _ = stop_rx.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("sandbox server stopped: {e}");
            }
            let _ = stopped_tx.send(true);
        });
        Ok(Sandbox {
            inner: Arc::new(Inner {
                addr,
                state,
                stop,
                stopped,
                _kept: kept,
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://host:port`, without a trailing slash; an unspecified listen address (0.0.0.0, ::)
    /// is given as loopback, which is where a local client can reach it.
    pub fn base_url(&self) -> String {
        let mut addr = self.inner.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        format!("http://{addr}")
    }

    /// Where client credentials are exchanged for a token.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.base_url())
    }

    /// Every request received so far, in arrival order, rejected ones included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.state.requests()
    }

    /// The customer as a GET would return it now: the last accepted PATCH, or the made-up one.
    pub fn customer(&self, id: Uuid) -> Map<String, Value> {
        self.inner.state.customer(id)
    }

    /// Stores a customer as if a PATCH had been accepted (it is then listed too): tests use it
    /// to give customers the data they need, shared references for instance.
    pub fn put_customer(&self, id: Uuid, customer: Map<String, Value>) {
        self.inner.state.put(id, customer);
    }

    /// The ids the list call serves, in its order.
    pub fn listed(&self) -> Vec<Uuid> {
        self.inner.state.listed()
    }

    /// The file a kept tenant lives in; `None` for one in memory.
    pub fn state_file(&self) -> Option<&Path> {
        self.inner.state.state_file()
    }

    /// How many customers the tenant made up at start, and how many were changed since.
    pub fn counts(&self) -> (usize, usize) {
        self.inner.state.counts()
    }

    /// One line on the tenant, for banners: where it is kept and how to start it afresh.
    pub fn tenant_line(&self) -> String {
        let (made_up, changed) = self.counts();
        match self.state_file() {
            Some(path) => format!(
                "tenant {TENANT} kept in {} ({made_up} made-up customers, {changed} changed; \
                 `{ccbulk} sandbox --reset` starts it afresh)",
                path.display(),
                ccbulk = program()
            ),
            None => format!(
                "tenant {TENANT} in memory ({made_up} made-up customers, {changed} changed)"
            ),
        }
    }

    /// How many tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> usize {
        self.inner.state.tokens_issued()
    }

    /// Stops accepting connections and lets requests in flight finish.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Waits until the server has stopped after [`Sandbox::shutdown`].
    pub async fn stopped(&self) {
        let mut stopped = self.inner.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
    }
}

/// The X-Tenant the sandbox stands for, in every banner and help text.
pub const TENANT: &str = "sandbox.cloudcockpit.local";

/// Writes a kept tenant soon after it changes, until the sandbox stops (the last write is
/// [`Inner`]'s, on drop).
fn save_when_changed(state: Arc<state::State>, mut stop: watch::Receiver<bool>) {
    if state.state_file().is_none() {
        return;
    }
    tokio::spawn(async move {
        // A large tenant takes a while to write: writing it at most a tenth of the time keeps
        // a long run's many changes from turning into a disk rewriting it without end.
        let mut took = Duration::ZERO;
        loop {
            tokio::select! {
                () = state.changed() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::time::sleep(SAVE_DELAY.max(took * 9)).await;
            let saving = state.clone();
            let started = Instant::now();
            match tokio::task::spawn_blocking(move || saving.save()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("{e}"),
                Err(e) => tracing::error!("the sandbox tenant was not written: {e}"),
            }
            took = started.elapsed();
        }
    });
}

/// `ccbulk sandbox`: starts the sandbox, prints its base URL as the first line of stdout, how to
/// point ccbulk at it on stderr, and serves until Ctrl-C or SIGTERM.
pub async fn serve_cli(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<()> {
    let summary = describe(&config);
    let client_id = config.client_id.clone();
    let secret = config.client_secret.clone();
    let asked = config.customers;
    let sandbox = Sandbox::start(config, listen)
        .await
        .context("cannot start the sandbox")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sandbox.base_url()).context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
    }
    let (made_up, _) = sandbox.counts();
    // A kept tenant's customers were made up when it was new; say so rather than serve
    // another count than the one asked for without a word.
    let note = if made_up != asked && sandbox.state_file().is_some() {
        format!(
            "\n  (--customers {asked} makes up a new tenant's customers; this one has {made_up}: \
             `{ccbulk} sandbox --reset` first, or --in-memory)",
            ccbulk = program()
        )
    } else {
        String::new()
    };
    eprintln!(
        "ccbulk sandbox: serving a simulated CloudCockpit API at {url} ({summary})\n  \
         {tenant}{note}\n  \
         token URL {token}, client id {client_id}, client secret {secret}, any X-Tenant\n  \
         try: CLOUDCOCKPIT_CLIENT_ID={client_id} CLOUDCOCKPIT_CLIENT_SECRET={secret} {ccbulk} update \
         --base-url {url} --token-url {token} --tenant {TENANT} samples/customers.csv\n  \
         Ctrl-C to stop.",
        url = sandbox.base_url(),
        token = sandbox.token_url(),
        tenant = sandbox.tenant_line(),
        ccbulk = program(),
    );
    terminated().await;
    eprintln!("ccbulk sandbox: stopping");
    sandbox.shutdown();
    // Requests in flight get a moment to finish; an idle keep-alive client must not hold us.
    let _ = tokio::time::timeout(Duration::from_secs(5), sandbox.stopped()).await;
    Ok(())
}

/// One line of the configured faults, for the startup message.
fn describe(config: &SandboxConfig) -> String {
    let throttle = config.throttle.map_or_else(
        || "none".to_string(),
        |r| {
            let kind = match config.throttle_kind {
                Shape::Bucket => "token bucket",
                Shape::Window => "fixed window",
                Shape::Sliding => "sliding window",
            };
            let headers = if config.throttle_headers {
                ", announced in headers"
            } else {
                ""
            };
            format!("{r} ({kind}{headers})")
        },
    );
    format!(
        "latency {}, fail rate {}%, throttle {throttle}, token ttl {}, seed {}",
        humantime::format_duration(config.latency),
        config.fail_rate * 100.0,
        humantime::format_duration(config.token_ttl),
        config.seed
    )
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM; never if signals cannot be watched.
async fn terminated() {
    match crate::signals::Signals::new() {
        Some(mut signals) => signals.next().await,
        None => std::future::pending().await,
    }
}

/// The program as a command the user pastes names it (`program::name`), shell-quoted.
fn program() -> String {
    shell_words::quote(crate::program::name()).into_owned()
}
