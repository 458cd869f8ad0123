//! How ccbulk reaches a server, shared by the API client (`api.rs`) and the token request
//! (`auth.rs`): the connect timeout, the token endpoint's HTTP client, transport errors
//! described in one line, and how long to wait before trying again (backoff, `Retry-After`).

use std::time::{Duration, SystemTime};

/// The token endpoint's client (`auth.rs`): reqwest, with its own small pool and the same proxy
/// variables; the built-in sandbox's endpoint is on loopback and never proxied.
pub(crate) fn token_client(sandbox: bool) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("ccbulk/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        // A redirect would post the client secret again to an address nobody configured
        // (auth.rs says where it pointed instead).
        .redirect(reqwest::redirect::Policy::none());
    if sandbox {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A transport error in one line, without the URL's query or any header.
pub(crate) fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer".to_string()
    } else {
        "connection failed or dropped".to_string()
    }
}

/// How long opening a connection (TCP and TLS) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest backoff between attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The exponential backoff before attempt `attempt + 1`, with jitter in [d/2, d].
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(MAX_BACKOFF);
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// `Retry-After` as delay-seconds or an HTTP date, relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}
