//! How ccbulk reaches a server, for every call it makes (API calls and token requests alike): the
//! one `reqwest::Client` of a run, built here ([`build`]), the checks of a server's address
//! ([`Endpoint`]), and one exchange with its answer read up to a size limit ([`exchange`]).
//!
//! The client, decided once: TLS 1.2 and 1.3 by rustls, certificates checked by the platform's
//! verifier (which reads `SSL_CERT_FILE` and `SSL_CERT_DIR` on Linux); HTTP/1.1 only; redirects
//! never followed (an answer is whatever the server sent, a 3xx included, and the caller
//! decides); connecting and each whole exchange (connecting, sending, reading the whole answer)
//! bounded by `--timeout`; a pool keeping up to `--concurrency` idle connections per server;
//! proxies from the environment ([`proxies`]), loopback never proxied; reqwest's own retries off.
//!
//! A PATCH is never sent twice by ccbulk itself: a call that got no answer is retried by
//! `pipeline/` alone, as a new attempt it counts. Below it, reqwest resends nothing: its retry
//! layer is set to `retry::never()` with no retry per request (its default would retry HTTP/2
//! refusals, and this client speaks only HTTP/1.1; with none allowed, it also keeps no copy of
//! each request to resend), and the one resend left is hyper-util's pool's: a request handed to an
//! idle kept-alive connection that turns out to be closed comes back from hyper *unwritten*
//! (hyper returns the request itself only while it is still queued for the connection, never
//! once its connection task has taken it to write) and goes once more on a new connection.
//! Nothing of it reached any server.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap};
use reqwest::{NoProxy, Proxy, StatusCode};

use crate::http::backoff::parse_retry_after;
use crate::text::redact_url;

/// The largest API answer read; a customer is a few kilobytes, an error body less.
pub(crate) const MAX_ANSWER: usize = 8 << 20;
/// The largest list page read: 2,000 customers of a few kilobytes each, with room to spare.
pub(crate) const MAX_PAGE: usize = 64 << 20;
/// The largest token answer read: a real one is a few KiB even with many group claims.
pub(crate) const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// What ccbulk calls itself in every request.
const USER_AGENT: &str = concat!("ccbulk/", env!("CARGO_PKG_VERSION"));

/// Hosts never reached through a proxy, whatever the environment says: the built-in sandbox and
/// any other server on this machine.
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1";

/// The client every call of a run goes through. `timeout` bounds connecting and each whole
/// exchange; `concurrency` (the workers calling at once) sizes the pool of idle connections. A
/// proxy that cannot be used is an error here, before anything is sent.
pub fn build(timeout: Duration, concurrency: usize) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .connect_timeout(connect_limit(timeout))
        .timeout(timeout)
        .pool_max_idle_per_host(concurrency.max(1))
        .no_proxy();
    for proxy in proxies()? {
        builder = builder.proxy(proxy);
    }
    #[cfg(debug_assertions)]
    {
        builder = pinned_to_loopback(builder);
    }
    // reqwest's own text for a builder error is just "builder error": the cause is in its
    // sources (a TLS set-up failure, say), which name no URL.
    builder.build().map_err(|e| match chain(&e) {
        why if why.is_empty() => format!("cannot set up the HTTP client: {}", e.without_url()),
        why => format!("cannot set up the HTTP client: {why}"),
    })
}

/// How long connecting (the lookup, TCP, a proxy's tunnel, the TLS handshake) may take: nine
/// tenths of `timeout`. reqwest starts the whole exchange's timer first, so with equal limits a
/// connection that cannot be made would end by the exchange's timer, not told apart from a
/// request that went out and got no answer (which may have been applied). A tenth is room
/// enough for the few moments between the two timers' starts.
fn connect_limit(timeout: Duration) -> Duration {
    timeout - timeout / 10
}

/// For tests only, and only in debug builds: the host names listed (comma-separated) in
/// `CCBULK_TEST_RESOLVE` are taken for 127.0.0.1 without any lookup. A test reaching a made-up
/// name directly (one that a certificate can name, so not an address) would otherwise ask the
/// machine's DNS server, and tests send traffic only to loopback. Release builds never read it.
#[cfg(debug_assertions)]
fn pinned_to_loopback(mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    let listed = std::env::var("CCBULK_TEST_RESOLVE").unwrap_or_default();
    for host in listed.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        // Port 0: the URL's port (or its scheme's) is used.
        builder = builder.resolve(host, std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    builder
}

/// The proxies the environment names, as curl (and reqwest on its own) reads them:
/// `HTTPS_PROXY` for https servers, `HTTP_PROXY` for http ones, `ALL_PROXY` for either when the
/// other is unset (each also in lower case), `NO_PROXY` for the hosts to reach directly, to
/// which loopback is added. `http://`, `https://` and `socks5://` (or `socks5h`, `socks4`)
/// proxies; their credentials come from their URL. Messages name a proxy without them.
fn proxies() -> Result<Vec<Proxy>, String> {
    let var = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let no = match var(["NO_PROXY", "no_proxy"]) {
        Some(listed) => format!("{listed},{LOOPBACK}"),
        None => LOOPBACK.to_string(),
    };
    type Make = fn(String) -> reqwest::Result<Proxy>;
    let kinds: [([&str; 2], Make); 3] = [
        (["HTTPS_PROXY", "https_proxy"], Proxy::https),
        (["HTTP_PROXY", "http_proxy"], Proxy::http),
        (["ALL_PROXY", "all_proxy"], Proxy::all),
    ];
    let mut proxies = Vec::new();
    for (names, make) in kinds {
        let Some(url) = var(names) else { continue };
        // A proxy given without a scheme is an http one (curl's reading); one of a kind that
        // cannot be used is refused here rather than skipped: calls would go out directly.
        let url = if url.contains("://") {
            url
        } else {
            format!("http://{url}")
        };
        let scheme = url
            .split("://")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let usable = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"];
        let proxy = make(url.clone())
            .ok()
            .filter(|_| usable.contains(&scheme.as_str()));
        let Some(proxy) = proxy else {
            return Err(format!(
                "{} \"{}\" is not a proxy ccbulk can use (http://, https:// or socks5://host:port); \
                 unset it, or list the API's host in NO_PROXY to reach it directly",
                names[0],
                redact_url(&url)
            ));
        };
        tracing::debug!(proxy = %redact_url(&url), variable = names[0], "calls may go through a proxy");
        proxies.push(proxy.no_proxy(NoProxy::from_string(&no)));
    }
    Ok(proxies)
}

/// A server's address from a flag (`--base-url`, `--token-url`), checked: `http` or `https`, a
/// host, no user name or password, no fragment, and a query only where one is allowed.
pub(crate) struct Endpoint {
    pub url: reqwest::Url,
}

impl Endpoint {
    /// `url` as given to `flag`. Messages show the URL without credentials.
    pub(crate) fn parse(flag: &str, url: &str, query_allowed: bool) -> Result<Endpoint, String> {
        let shown = redact_url(url);
        // `127.0.0.1:8080` and `localhost:8080` are not URLs (the second parses as the scheme
        // `localhost:`): say what is missing rather than what the URL parser made of it.
        if !url.contains("://") {
            return Err(format!(
                "{flag} \"{shown}\" has no scheme: add http:// or https:// (for example https://{})",
                shown.trim_start_matches('/')
            ));
        }
        let parsed =
            url::Url::parse(url).map_err(|e| format!("{flag} \"{shown}\" is not a URL: {e}"))?;
        let host = parsed.host_str().unwrap_or_default();
        if !matches!(parsed.scheme(), "http" | "https")
            || host.is_empty()
            || (parsed.query().is_some() && !query_allowed)
            || parsed.fragment().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            let form = if query_allowed {
                "http(s)://host[:port][/path][?query], without credentials"
            } else {
                "http(s)://host[:port][/path], without a query or credentials"
            };
            return Err(format!("{flag} \"{shown}\" must be {form}"));
        }
        Ok(Endpoint { url: parsed })
    }
}

/// Why an exchange got no answer.
#[derive(Debug)]
pub(crate) enum Transport {
    /// No connection could be made, for this reason: the request never left.
    Unreachable(Unreachable),
    /// The answer started but its body broke off.
    Body,
    /// Connected, but no answer came within `--timeout`: the request may have gone out.
    Unanswered,
    /// Connected, but the connection failed before an answer: the request may have gone out.
    Other,
}

impl Transport {
    /// What a reqwest error that came instead of an answer's head comes to. Only a failure to
    /// connect (reqwest's connector, whose own timeout is [`connect_limit`]) is one where the
    /// request surely never left; a timeout or a failure after that may follow a request the
    /// server received (and, for a PATCH, applied).
    fn of(e: &reqwest::Error) -> Transport {
        if e.is_connect() {
            Transport::Unreachable(Unreachable::of(e))
        } else if e.is_timeout() {
            Transport::Unanswered
        } else {
            Transport::Other
        }
    }

    /// Whether the request may have reached the server (and a PATCH been applied).
    pub(crate) fn may_have_gone_out(&self) -> bool {
        !matches!(self, Transport::Unreachable(_))
    }

    /// In one line, for a row's error or a message: never a URL's query or a header. Only
    /// [`Transport::Unreachable`]'s words are ones [`Unreachable::named_in`] finds.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Transport::Unreachable(way) => way.describe(),
            Transport::Body => "connection dropped while reading the answer",
            Transport::Unanswered => "answer timed out",
            Transport::Other => "connection dropped before an answer",
        }
    }
}

/// How a server could not be reached: the causes a row's error, the systematic stop
/// (`systematic.rs`) and the logs name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    Refused,
    NotResolved,
    /// TLS failed; `plain` when the server answered in plain text (it speaks http).
    Tls {
        plain: bool,
    },
    TimedOut,
    /// Some other failure to connect (a reset, no route).
    Failed,
}

impl Unreachable {
    const ALL: [Unreachable; 6] = [
        Unreachable::Refused,
        Unreachable::NotResolved,
        // The longer text first: [`Unreachable::named_in`] takes the first that fits.
        Unreachable::Tls { plain: true },
        Unreachable::Tls { plain: false },
        Unreachable::TimedOut,
        Unreachable::Failed,
    ];

    /// The cause, in the words a row's error begins with.
    pub fn describe(self) -> &'static str {
        match self {
            Unreachable::Refused => "connection refused",
            Unreachable::NotResolved => "name not resolved",
            Unreachable::Tls { plain: true } => {
                "TLS handshake failed: the server answered in plain text (it may speak plain http)"
            }
            Unreachable::Tls { plain: false } => "TLS handshake failed",
            Unreachable::TimedOut => "timed out",
            Unreachable::Failed => "connection failed",
        }
    }

    /// The cause a row's error names: its error begins with the cause's words (a failed call's
    /// error is the last attempt's, with the attempts added).
    pub fn named_in(error: &str) -> Option<Unreachable> {
        Unreachable::ALL
            .into_iter()
            .find(|way| error.starts_with(way.describe()))
    }

    /// What a failure to connect was, from the errors it is made of: the connector's timeout,
    /// the operating system's refusal, a failed name lookup (hyper-util's "dns error"), or
    /// rustls's error.
    fn of(e: &reqwest::Error) -> Unreachable {
        if e.is_timeout() {
            return Unreachable::TimedOut;
        }
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(tls) = s.downcast_ref::<rustls::Error>() {
                let plain = matches!(
                    tls,
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                );
                return Unreachable::Tls { plain };
            }
            if s.to_string().starts_with("dns error") {
                return Unreachable::NotResolved;
            }
            source = match s.downcast_ref::<std::io::Error>() {
                Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Unreachable::Refused;
                }
                // An io::Error's `source()` skips the error it wraps (rustls's, for one).
                Some(io) => io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static)),
                None => s.source(),
            };
        }
        Unreachable::Failed
    }
}

/// An answer: its head, and its body as far as it was read.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub end: BodyEnd,
    /// The most of the body that was to be read.
    pub limit: usize,
}

impl Answer {
    /// The answer's `Retry-After`, if it has one that parses (a date against its `Date`).
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let text = |name| self.headers.get(name).and_then(|v| v.to_str().ok());
        parse_retry_after(
            text(header::RETRY_AFTER)?,
            text(header::DATE),
            SystemTime::now(),
        )
    }
}

/// How reading an answer's body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    Complete,
    /// Over the limit: reading stopped there.
    TooLarge,
    /// The connection dropped, or the body stalled past `--timeout`.
    BrokeOff,
}

/// "answer too large (over 8 MiB)": why a body was cut at `limit` bytes.
pub(crate) fn too_large(limit: usize) -> String {
    format!("answer too large (over {} MiB)", limit >> 20)
}

/// Sends `req` and reads the answer, all within the client's `--timeout`. Once the status line
/// has arrived, it is an answer whatever happens to its body (SPEC): a body that breaks off,
/// stalls past the timeout or runs past `limit` bytes is cut, and [`Answer::end`] says so (the
/// connection is then dropped, not pooled, as the rest would still come down it).
pub(crate) async fn exchange(
    client: &reqwest::Client,
    req: reqwest::Request,
    limit: usize,
) -> Result<Answer, Transport> {
    let mut resp = client.execute(req).await.map_err(|e| {
        let cause = Transport::of(&e);
        tracing::debug!(error = %chain(&e), "no answer: {}", cause.describe());
        cause
    })?;
    let status = resp.status();
    let headers = std::mem::take(resp.headers_mut());
    let mut body = Vec::new();
    let end = loop {
        match resp.chunk().await {
            Ok(None) => break BodyEnd::Complete,
            Ok(Some(data)) if body.len() + data.len() > limit => {
                let room = limit - body.len();
                body.extend_from_slice(&data[..room]);
                break BodyEnd::TooLarge;
            }
            Ok(Some(data)) => body.extend_from_slice(&data),
            Err(_) => break BodyEnd::BrokeOff,
        }
    };
    Ok(Answer {
        status,
        headers,
        body: body.into(),
        end,
        limit,
    })
}

/// The causes of a reqwest error in one line, for `-v` logs: reqwest's own text (which names
/// the request's URL, and a token URL may carry a query) left out, and never a header, so no
/// token or secret.
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_odd_ones_refused() {
        let e = Endpoint::parse("--token-url", "https://login.example/t/token?x=1", true).unwrap();
        assert_eq!(e.url.as_str(), "https://login.example/t/token?x=1");
        let e = Endpoint::parse("--base-url", "http://[::1]:9", false).unwrap();
        assert_eq!(e.url.as_str(), "http://[::1]:9/");
        for (url, query_allowed) in [
            ("http://h/?a=b", false),
            ("http://h/#x", true),
            ("http://user:pw@h/", true),
            ("ftp://h/", true),
            ("not a url", true),
        ] {
            let err = Endpoint::parse("--x", url, query_allowed).err();
            assert!(
                err.as_ref()
                    .is_some_and(|e| e.starts_with(&format!("--x \"{}\"", redact_url(url)))),
                "{url}: {err:?}"
            );
        }
    }

    /// A loopback listener that answers whatever comes with a plain-http 400 (`plain`), or
    /// holds every connection open without a word.
    async fn listener(plain: bool) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut sock, _)) = l.accept().await {
                if plain {
                    let mut buf = [0u8; 1024];
                    let _ = sock.read(&mut buf).await;
                    let reply = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
                    let _ = sock.write_all(reply).await;
                }
                held.push(sock);
            }
        });
        port
    }

    /// Each way of not reaching a server is told apart, from reqwest's error, and found again
    /// in a row's error that begins with it. All on loopback: the name that does not resolve has a
    /// label over 63 characters, which the system resolver refuses without sending a query (a
    /// plain `.invalid` name would still be asked of the machine's DNS server).
    #[tokio::test(flavor = "multi_thread")]
    async fn each_way_of_not_reaching_a_server_is_named() {
        // Long enough for the other cases on a busy machine; the silent server's are cut short.
        let (patient, impatient) = (
            build(Duration::from_secs(20), 1).unwrap(),
            build(Duration::from_millis(300), 1).unwrap(),
        );
        let (plain, silent) = (listener(true).await, listener(false).await);
        // Port 1 on loopback: nothing listens there.
        let cases = [
            ("http://127.0.0.1:1/".to_string(), Unreachable::Refused),
            (
                format!("http://{}.invalid/", "a".repeat(64)),
                Unreachable::NotResolved,
            ),
            (
                format!("https://127.0.0.1:{plain}/"),
                Unreachable::Tls { plain: true },
            ),
            // The TLS handshake never ends: the connection could not be made in time.
            (
                format!("https://127.0.0.1:{silent}/"),
                Unreachable::TimedOut,
            ),
        ];
        for (url, want) in cases {
            let req = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
            let client = if want == Unreachable::TimedOut {
                &impatient
            } else {
                &patient
            };
            let got = exchange(client, req, 10).await.err();
            assert!(
                matches!(got, Some(Transport::Unreachable(way)) if way == want),
                "{url}: {got:?}"
            );
            let error = format!("{} (gave up after 5 attempts)", want.describe());
            assert_eq!(Unreachable::named_in(&error), Some(want), "{error}");
        }
        // Connected, the request written, no answer: it may have been applied, and it is not a
        // failure to reach the server.
        let req = reqwest::Request::new(
            reqwest::Method::PATCH,
            format!("http://127.0.0.1:{silent}/").parse().unwrap(),
        );
        let got = exchange(&impatient, req, 10).await.err();
        assert!(matches!(got, Some(Transport::Unanswered)), "{got:?}");
        for after in [Transport::Unanswered, Transport::Other, Transport::Body] {
            assert!(after.may_have_gone_out());
            assert_eq!(Unreachable::named_in(after.describe()), None, "{after:?}");
        }
        assert_eq!(Unreachable::named_in("GET 404 Not Found"), None);
        assert_eq!(
            Unreachable::named_in("connection dropped while reading the answer"),
            None
        );
    }
}
