//! How ccbulk reaches a server, for every call it makes (API calls and token requests alike):
//! the one place where the address is checked, the proxy chosen, TLS set up, and the connect and
//! request timeouts and the answer size limits applied. Redirects are never followed: an answer
//! is whatever the server sent, a 3xx included, and the caller decides.
//!
//! - TLS 1.2 and 1.3 by rustls, certificates checked by the platform's verifier (which reads
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR` on Linux); HTTP/1.1 only; Nagle off.
//! - Proxies: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl reads them
//!   (hyper-util's matcher). A connection through a proxy goes in an HTTP CONNECT tunnel, TLS end
//!   to end with the server; the proxy's own credentials come from the proxy URL. Loopback
//!   addresses (the built-in sandbox) are never proxied.
//! - Each exchange (connecting, sending, reading the whole answer) is bounded by `--timeout`, a
//!   connection's opening also by [`CONNECT_TIMEOUT`]; an answer's body is read up to its limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::http::backoff::parse_retry_after;
use crate::text::redact_url;

/// How long opening a connection (TCP and TLS) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest API answer read; a customer is a few kilobytes, an error body less.
pub(crate) const MAX_ANSWER: usize = 8 << 20;
/// The largest list page read: 2,000 customers of a few kilobytes each, with room to spare.
pub(crate) const MAX_PAGE: usize = 64 << 20;
/// The largest token answer read: a real one is a few KiB even with many group claims.
pub(crate) const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// What ccbulk calls itself in every request.
pub(crate) const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("ccbulk/", env!("CARGO_PKG_VERSION")));

/// A server's address from a flag (`--base-url`, `--token-url`), checked and split into what a
/// request needs.
pub(crate) struct Endpoint {
    /// `scheme://host:port`: where connections go.
    pub origin: Uri,
    /// The `Host` header: the host, and the port if the URL gave one.
    pub host: HeaderValue,
    /// The path, percent-encoded as given (`/` at least).
    pub path: String,
    pub query: Option<String>,
}

impl Endpoint {
    /// `url` as given to `flag`: `http` or `https`, a host, no user name or password, no
    /// fragment, and a query only if `query_allowed`. Messages show the URL without credentials.
    pub(crate) fn parse(flag: &str, url: &str, query_allowed: bool) -> Result<Endpoint, String> {
        let shown = redact_url(url);
        let parsed =
            url::Url::parse(url).map_err(|e| format!("{flag} \"{shown}\" is not a URL: {e}"))?;
        let scheme = parsed.scheme();
        let host = parsed.host_str().unwrap_or_default();
        if !matches!(scheme, "http" | "https")
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
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        let origin = format!("{scheme}://{host}:{port}")
            .parse::<Uri>()
            .map_err(|e| format!("{flag} \"{shown}\": {e}"))?;
        let host = HeaderValue::from_str(&authority)
            .map_err(|_| format!("{flag} \"{shown}\": the host cannot be sent as a header"))?;
        Ok(Endpoint {
            origin,
            host,
            path: parsed.path().to_string(),
            query: parsed.query().map(str::to_string),
        })
    }
}

/// Opens connections to one server, through the proxy the environment names for it, and makes
/// exchanges on them within `--timeout`. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connector {
    https: HttpsConnector<Dial>,
    origin: Uri,
    timeout: Duration,
}

/// One keep-alive connection, opened on its first exchange and again whenever the last one broke
/// or was closed by the server. Each API worker has its own; a token request uses a new one.
#[derive(Default)]
pub(crate) struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
    /// The `--timeout` of the exchange under way, kept from exchange to exchange: moving a live
    /// timer's deadline later is one atomic operation, while a new timer went in and out of the
    /// runtime's timer wheel under its lock every call (BENCHMARKS.md).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why an exchange got no answer.
#[derive(Debug)]
pub(crate) enum Transport {
    Timeout,
    Connect,
    /// The answer started but its body broke off.
    Body,
    Other,
}

impl Transport {
    /// In one line, for a row's error or a message: never a URL's query or a header.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Transport::Timeout => "timed out",
            Transport::Connect => "connection failed",
            Transport::Body => "connection dropped while reading the answer",
            Transport::Other => "connection failed or dropped",
        }
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

impl Connector {
    /// The way to `origin` (from [`Endpoint::parse`]): TLS, the proxy, and `timeout` for each
    /// exchange. A proxy that cannot be used is an error here, before anything is sent.
    pub(crate) fn new(origin: &Uri, timeout: Duration) -> Result<Connector, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(dial(origin)?);
        Ok(Connector {
            https,
            origin: origin.clone(),
            timeout,
        })
    }

    /// Where connections go, `scheme://host:port`.
    #[cfg(test)]
    pub(crate) fn origin(&self) -> &Uri {
        &self.origin
    }

    /// Sends `req` on `conn` and reads the answer, all within `--timeout`. Once the status line
    /// has arrived, it is an answer whatever happens to its body (SPEC): a body that breaks off,
    /// stalls past the timeout or runs past `limit` bytes is cut, and [`Answer::end`] says so.
    pub(crate) async fn exchange(
        &self,
        conn: &mut Connection,
        req: Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<Answer, Transport> {
        let now = tokio::time::Instant::now();
        // A `--timeout` too long to add is as good as none (what `tokio::time::timeout` does).
        let deadline = now
            .checked_add(self.timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
        let timer = conn
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        timer.as_mut().reset(deadline);
        let sent = tokio::select! {
            biased;
            sent = self.send(&mut conn.sender, req) => sent,
            () = timer.as_mut() => Err(Transport::Timeout),
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                // A broken connection, or one whose answer may still come: never reuse it.
                conn.sender = None;
                return Err(e);
            }
        };
        let (head, mut incoming) = resp.into_parts();
        let mut body = Vec::new();
        let end = tokio::select! {
            biased;
            end = read_capped(&mut incoming, &mut body, limit) => end,
            () = timer.as_mut() => BodyEnd::BrokeOff,
        };
        if end != BodyEnd::Complete {
            // The rest of that body would still come down this connection.
            conn.sender = None;
        }
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body: body.into(),
            end,
            limit,
        })
    }

    /// Sends `req` and waits for the answer's head.
    async fn send(
        &self,
        sender: &mut Option<SendRequest<Full<Bytes>>>,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<hyper::body::Incoming>, Transport> {
        // A kept-alive connection the server has just closed gives the request back unsent:
        // it then goes once more on a new connection (not an attempt: nothing reached the server).
        let mut fresh = false;
        loop {
            let open = match sender.as_mut() {
                Some(s) if !s.is_closed() => s,
                _ => {
                    fresh = true;
                    *sender = Some(self.open().await?);
                    sender.as_mut().ok_or(Transport::Connect)?
                }
            };
            if open.ready().await.is_err() {
                *sender = None;
                if fresh {
                    return Err(Transport::Connect);
                }
                continue;
            }
            match open.try_send_request(req).await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => {
                        *sender = None;
                        req = unsent;
                    }
                    _ => return Err(Transport::Other),
                },
            }
        }
    }

    /// Opens a connection to the server and starts its task.
    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, Transport> {
        let mut https = self.https.clone();
        let io = https
            .call(self.origin.clone())
            .await
            .map_err(|_| Transport::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|_| Transport::Connect)?;
        tokio::spawn(async move {
            // Ends when the connection closes or its owner drops the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Reads `incoming` into `buf` up to `limit` bytes; whatever was read stays in `buf` even if
/// the reading is cut short (a timeout drops this future).
async fn read_capped(
    incoming: &mut hyper::body::Incoming,
    buf: &mut Vec<u8>,
    limit: usize,
) -> BodyEnd {
    loop {
        match incoming.frame().await {
            None => return BodyEnd::Complete,
            Some(Err(_)) => return BodyEnd::BrokeOff,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if buf.len() + data.len() > limit {
                    let room = limit - buf.len();
                    buf.extend_from_slice(&data[..room]);
                    return BodyEnd::TooLarge;
                }
                buf.extend_from_slice(&data);
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a connection reaches the server: straight, or in a CONNECT tunnel through an HTTP proxy.
/// (An enum implementing the connector trait itself, so TLS wraps either the same way; its
/// future is boxed because the two kinds' futures differ.)
#[derive(Clone)]
enum Dial {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
}

impl Service<Uri> for Dial {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Dial::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            Dial::Tunnel(t) => t.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Dial::Direct(c) => {
                let f = c.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
            Dial::Tunnel(t) => {
                let f = t.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
        }
    }
}

/// The way to `origin`: through the proxy the environment names for it, if any (loopback
/// never). Only `http://` proxies can be tunnelled through; another kind is a setup error rather
/// than a silent direct connection. Messages name the proxy without its credentials.
fn dial(origin: &Uri) -> Result<Dial, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let host = origin.host().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let intercept = if loopback {
        None
    } else {
        Matcher::from_env().intercept(origin)
    };
    let Some(proxy) = intercept else {
        return Ok(Dial::Direct(http));
    };
    let uri = proxy.uri();
    let named = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority()
            .map_or("?", |a| a.as_str().rsplit('@').next().unwrap_or("?"))
    );
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "the proxy {named} (from HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) is not an http:// proxy, \
             the only kind ccbulk can tunnel through; set NO_PROXY to reach {host} directly"
        ));
    }
    let mut tunnel = Tunnel::new(uri.clone(), http);
    if let Some(auth) = proxy.basic_auth() {
        tunnel = tunnel.with_auth(auth.clone());
    }
    tracing::debug!(proxy = %named, %host, "connections go through a proxy");
    Ok(Dial::Tunnel(tunnel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_split_and_odd_ones_refused() {
        let e = Endpoint::parse("--token-url", "https://login.example/t/token?x=1", true).unwrap();
        assert_eq!(e.origin, "https://login.example:443/");
        assert_eq!(e.host, "login.example");
        assert_eq!(
            (e.path.as_str(), e.query.as_deref()),
            ("/t/token", Some("x=1"))
        );
        let e = Endpoint::parse("--base-url", "http://[::1]:9", false).unwrap();
        assert_eq!(
            (e.host.to_str().unwrap(), e.path.as_str()),
            ("[::1]:9", "/")
        );
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
}
