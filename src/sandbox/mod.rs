//! An in-memory simulation of the CloudCockpit API (API.md), served by axum on a local port.
//!
//! It exists so users can try ccbulk without a tenant (`ccbulk sandbox`, `update --sandbox`) and so
//! tests can drive the real client against something that checks what CloudCockpit checks: the
//! client-credentials token, the headers, the body shape and field limits of the account-info
//! PATCH. It also misbehaves on request (latency, 500/503, 429 with `Retry-After`, expiring
//! tokens) and records every request it receives, so tests can assert on order, overlap, headers
//! and bodies.
//!
//! `made_up.rs` invents customers from their id, `validate.rs` checks PATCH bodies,
//! `throttle.rs` plays the shapes of rate limit, `server.rs` holds the routes, recording,
//! authentication and faults; this file is the public handle.

mod list;
mod made_up;
mod server;
mod throttle;
mod validate;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value};
use tokio::sync::watch;
use uuid::Uuid;

use crate::rate::Rate;

pub use made_up::made_up_customer;
pub use throttle::Shape;

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
    /// `seed` and internal identifiers `ERP-000001`, `ERP-000002`, …
    pub customers: usize,
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
    state: Arc<server::State>,
    /// Dropping it (with the last handle) also stops the server.
    stop: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
}

impl Sandbox {
    /// Binds `listen` (port 0 picks a free one) and serves in a background tokio task.
    pub async fn start(config: SandboxConfig, listen: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(server::State::new(config));
        let app = server::router(state.clone());
        let (stop, mut stop_rx) = watch::channel(false);
        let (stopped_tx, stopped) = watch::channel(false);
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

/// `ccbulk sandbox`: starts the sandbox, prints its base URL as the first line of stdout, how to
/// point ccbulk at it on stderr, and serves until Ctrl-C or SIGTERM.
pub async fn serve_cli(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<()> {
    let summary = describe(&config);
    let client_id = config.client_id.clone();
    let secret = config.client_secret.clone();
    let sandbox = Sandbox::start(config, listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sandbox.base_url()).context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
    }
    eprintln!(
        "ccbulk sandbox: serving a simulated CloudCockpit API at {url} ({summary})\n  \
         token URL {token}, client id {client_id}, client secret {secret}, any X-Tenant\n  \
         try: CLOUDCOCKPIT_CLIENT_ID={client_id} CLOUDCOCKPIT_CLIENT_SECRET={secret} ccbulk update \
         --base-url {url} --token-url {token} --tenant sandbox.cloudcockpit.local samples/customers.csv\n  \
         Ctrl-C to stop.",
        url = sandbox.base_url(),
        token = sandbox.token_url(),
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
