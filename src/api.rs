//! The HTTP side of one call: building the GET or PATCH with its headers, sending it on the
//! worker's own connection, and classifying what comes back (success, retry later, refresh the
//! token, or fail with the API's own words). It knows nothing of rows, pacing or retries;
//! `dispatch.rs` owns those.
//!
//! Calls go through hyper directly, one HTTP/1.1 keep-alive connection per worker (the shape of
//! oha's client), with TLS from hyper-rustls and the platform's certificate verifier, as reqwest
//! would set it up. reqwest's layers above hyper (redirects, retries, URL re-parsing, a pool) were
//! a quarter of a run's CPU time and none of them is wanted here (BENCHMARKS.md). The token
//! endpoint, called once an hour, still goes through reqwest (`auth.rs`).
//!
//! Proxies: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured as curl and reqwest
//! read them (hyper-util's matcher). A call through a proxy goes in an HTTP CONNECT tunnel, TLS end
//! to end with the API; the proxy's own credentials come from the proxy URL. Loopback addresses
//! (the built-in sandbox) are never proxied.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tower_service::Service;
use uuid::Uuid;

use crate::auth::Token;
use crate::text::{one_line, redact_url};
use crate::transport::{CONNECT_TIMEOUT, parse_retry_after};

/// What one attempt came to.
#[derive(Debug)]
pub enum Reply {
    /// GET 200: the customer as the API returned it.
    Customer(Map<String, Value>),
    /// PATCH 2xx.
    Accepted(u16),
    /// List 200: one page's body, parsed by its reader (`cmd/export.rs`).
    Page(Bytes),
    /// 429, 5xx of the retried kind, a timeout or a dropped connection: try again.
    Retry {
        status: Option<u16>,
        after: Option<Duration>,
        error: String,
    },
    /// 401: refresh the token and try once more.
    Unauthorized(String),
    /// Anything else: the row fails with this status and text.
    Fail { status: Option<u16>, error: String },
}

/// The largest answer read; a customer is a few kilobytes, an error body less.
const MAX_BODY: usize = 8 << 20;
/// The largest list page read: 2,000 customers of a few kilobytes each, with room to spare.
const MAX_PAGE_BODY: usize = 64 << 20;

/// The client for one API root and tenant. Shared by the workers; each brings its own
/// [`Connection`].
pub struct Api {
    connector: HttpsConnector<Dial>,
    /// `scheme://host:port`: where connections go.
    origin: Uri,
    /// Host, User-Agent, Accept and X-Tenant: the same on every call.
    headers: HeaderMap,
    /// The base URL's path followed by `/v1/Customers/`.
    prefix: String,
    timeout: Duration,
}

const X_TENANT: HeaderName = HeaderName::from_static("x-tenant");
const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// One worker's keep-alive connection, opened on its first call and again whenever the last one
/// broke or was closed by the server.
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
    /// The `--timeout` of the exchange under way, kept from call to call: moving a live timer's
    /// deadline later is one atomic operation, while a timer per call went in and out of the
    /// runtime's timer wheel under its lock every time (BENCHMARKS.md).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why an exchange got no answer.
enum Transport {
    Timeout,
    Connect,
    /// The answer started but its body broke off or was too large.
    Body,
    Other,
}

impl Transport {
    fn describe(&self) -> &'static str {
        match self {
            Transport::Timeout => "timed out",
            Transport::Connect => "connection failed",
            Transport::Body => "connection dropped while reading the answer",
            Transport::Other => "connection failed or dropped",
        }
    }
}

/// An answer: status, `Retry-After` (parsed) and the body as far as it was read.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Bytes,
    end: BodyEnd,
    /// The most of the body that was to be read.
    limit: usize,
}

/// How reading an answer's body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyEnd {
    Complete,
    /// Over the limit: reading stopped there.
    TooLarge,
    /// The connection dropped, or the body stalled past `--timeout`.
    BrokeOff,
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

/// "answer too large (over 8 MiB)": why a body was cut at `limit` bytes.
fn too_large(limit: usize) -> String {
    format!("answer too large (over {} MiB)", limit >> 20)
}

impl Api {
    /// `base` is the API root (`http` or `https`, no query, no user name or password).
    pub fn new(base: &str, tenant: &str, timeout: Duration) -> Result<Api, String> {
        let shown = redact_url(base);
        let tenant = HeaderValue::from_str(tenant)
            .map_err(|_| format!("--tenant \"{tenant}\" cannot be sent as a header"))?;
        let url = reqwest::Url::parse(base)
            .map_err(|e| format!("--base-url \"{shown}\" is not a URL: {e}"))?;
        let scheme = url.scheme();
        let host = url.host_str().unwrap_or_default();
        if !matches!(scheme, "http" | "https")
            || host.is_empty()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(format!(
                "--base-url \"{shown}\" must be http(s)://host[:port][/path], without a query or credentials"
            ));
        }
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let origin = format!("{scheme}://{host}:{port}")
            .parse::<Uri>()
            .map_err(|e| format!("--base-url \"{shown}\": {e}"))?;
        let host = HeaderValue::from_str(&authority)
            .map_err(|_| format!("--base-url \"{shown}\": the host cannot be sent as a header"))?;
        let prefix = format!("{}/v1/Customers/", url.path().trim_end_matches('/'));
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(header::HOST, host);
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("ccbulk/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(X_TENANT, tenant);
        Ok(Api {
            connector: connector(dial(&origin)?)?,
            origin,
            headers,
            prefix,
            timeout,
        })
    }

    /// `{prefix}{id}`, then `/account-info` if asked: the request target.
    fn target(&self, id: Uuid, account_info: bool) -> Result<Uri, String> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = id.hyphenated().encode_lower(&mut buf);
        let suffix = if account_info { "/account-info" } else { "" };
        let mut path = String::with_capacity(self.prefix.len() + id.len() + suffix.len());
        path.push_str(&self.prefix);
        path.push_str(id);
        path.push_str(suffix);
        Uri::try_from(path).map_err(|e| format!("cannot build the request path: {e}"))
    }

    fn request(
        &self,
        method: Method,
        target: Uri,
        token: &Token,
        correlation: Uuid,
        body: Option<Bytes>,
    ) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body.clone().unwrap_or_default()));
        *req.method_mut() = method;
        *req.uri_mut() = target;
        // The headers every call carries are cloned from a ready map: cheaper than inserting
        // (and hashing) each one again.
        *req.headers_mut() = self.headers.clone();
        let h = req.headers_mut();
        if let Some(auth) = &token.bearer {
            h.insert(header::AUTHORIZATION, auth.clone());
        }
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let corr = correlation.hyphenated().encode_lower(&mut buf);
        if let Ok(v) = HeaderValue::from_str(corr) {
            h.insert(X_CORRELATION_ID, v);
        }
        if body.is_some() {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        req
    }

    /// `GET /v1/Customers/{id}`.
    pub async fn get_customer(
        &self,
        conn: &mut Connection,
        id: Uuid,
        token: &Token,
        correlation: Uuid,
    ) -> Reply {
        let target = match self.target(id, false) {
            Ok(t) => t,
            Err(error) => {
                return Reply::Fail {
                    status: None,
                    error,
                };
            }
        };
        let req = self.request(Method::GET, target, token, correlation, None);
        match self.exchange(conn, req, MAX_BODY).await {
            Err(e) => transport(&e),
            Ok(a) if a.status == 200 => match a.end {
                BodyEnd::Complete => match serde_json::from_slice::<Value>(&a.body) {
                    Ok(Value::Object(m)) => Reply::Customer(m),
                    _ => Reply::Fail {
                        status: Some(200),
                        error: "GET answered 200 but the body is not a customer object".into(),
                    },
                },
                // The same customer would come back as large again: not retried.
                BodyEnd::TooLarge => Reply::Fail {
                    status: Some(200),
                    error: format!("GET answered 200 but the {}", too_large(MAX_BODY)),
                },
                // A GET changes nothing: reading it again is safe.
                BodyEnd::BrokeOff => transport(&Transport::Body),
            },
            Ok(a) => classify(a, "GET"),
        }
    }

    /// `PATCH /v1/Customers/{id}/account-info` with a ready JSON body.
    pub async fn patch_account_info(
        &self,
        conn: &mut Connection,
        id: Uuid,
        body: Bytes,
        token: &Token,
        correlation: Uuid,
    ) -> Reply {
        let target = match self.target(id, true) {
            Ok(t) => t,
            Err(error) => {
                return Reply::Fail {
                    status: None,
                    error,
                };
            }
        };
        let req = self.request(Method::PATCH, target, token, correlation, Some(body));
        match self.exchange(conn, req, MAX_BODY).await {
            Err(e) => transport(&e),
            // Accepted whatever its body did: sending it again would apply it twice.
            Ok(a) if (200..300).contains(&a.status) => Reply::Accepted(a.status),
            Ok(a) => classify(a, "PATCH"),
        }
    }

    /// `GET /v1/Customers?{query}`: one page of the list call (`query` already encoded).
    pub async fn list_customers(
        &self,
        conn: &mut Connection,
        query: &str,
        token: &Token,
        correlation: Uuid,
    ) -> Reply {
        let path = format!("{}?{query}", self.prefix.trim_end_matches('/'));
        let target = match Uri::try_from(path) {
            Ok(t) => t,
            Err(e) => {
                return Reply::Fail {
                    status: None,
                    error: format!("cannot build the request path: {e}"),
                };
            }
        };
        let req = self.request(Method::GET, target, token, correlation, None);
        match self.exchange(conn, req, MAX_PAGE_BODY).await {
            Err(e) => transport(&e),
            Ok(a) if a.status == 200 => match a.end {
                BodyEnd::Complete => Reply::Page(a.body),
                BodyEnd::TooLarge => Reply::Fail {
                    status: Some(200),
                    error: format!("GET answered 200 but the {}", too_large(MAX_PAGE_BODY)),
                },
                BodyEnd::BrokeOff => transport(&Transport::Body),
            },
            Ok(a) => classify(a, "GET"),
        }
    }

    /// Sends `req` on the worker's connection and reads the answer, all within `--timeout`.
    /// Once the status line has arrived, it is an answer whatever happens to its body (SPEC):
    /// a body that breaks off, stalls past the timeout or runs past `limit` bytes is cut, and
    /// [`Answer::end`] says so.
    async fn exchange(
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
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut incoming = resp.into_body();
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
            status,
            retry_after,
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
    ) -> Result<http::Response<hyper::body::Incoming>, Transport> {
        // A kept-alive connection the server has just closed gives the request back unsent:
        // it then goes once more on a new connection (not an attempt: nothing reached the API).
        let mut fresh = false;
        loop {
            let open = match sender.as_mut() {
                Some(s) if !s.is_closed() => s,
                _ => {
                    fresh = true;
                    *sender = Some(self.connect().await?);
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

    /// Opens a connection to the API and starts its task.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Transport> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(|_| Transport::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|_| Transport::Connect)?;
        tokio::spawn(async move {
            // Ends when the connection closes or its worker drops the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a connection reaches the API: straight, or in a CONNECT tunnel through an HTTP proxy.
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
             the only kind ccbulk can tunnel through; set NO_PROXY to reach the API directly"
        ));
    }
    let mut tunnel = Tunnel::new(uri.clone(), http);
    if let Some(auth) = proxy.basic_auth() {
        tunnel = tunnel.with_auth(auth.clone());
    }
    tracing::debug!(proxy = %named, "API calls go through a proxy");
    Ok(Dial::Tunnel(tunnel))
}

/// HTTP and HTTPS (TLS 1.2 and 1.3 by rustls, certificates checked by the platform's verifier),
/// HTTP/1.1 only, Nagle off (set on `dial`'s connector).
fn connector(dial: Dial) -> Result<HttpsConnector<Dial>, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(dial);
    Ok(https)
}

fn transport(e: &Transport) -> Reply {
    Reply::Retry {
        status: None,
        after: None,
        error: e.describe().to_string(),
    }
}

fn classify(answer: Answer, what: &str) -> Reply {
    let Answer {
        status,
        retry_after: after,
        body,
        end,
        limit,
    } = answer;
    let mut error = error_text(status, &body, what);
    if end == BodyEnd::TooLarge {
        error = format!("{error} ({}, cut)", too_large(limit));
    }
    match status {
        429 | 500 | 502 | 503 | 504 => Reply::Retry {
            status: Some(status),
            after,
            error,
        },
        401 => Reply::Unauthorized(error),
        _ => Reply::Fail {
            status: Some(status),
            error,
        },
    }
}

/// The API's error body flattened to one line: its description, then each
/// `propertyName: description`. Falls back to the status and a short piece of the body.
pub fn error_text(status: u16, body: &[u8], what: &str) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut parts: Vec<String> = Vec::new();
    if let Some(v) = &parsed {
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            parts.push(d.to_string());
        }
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            for e in errors {
                let prop = e.get("propertyName").and_then(Value::as_str).unwrap_or("");
                let desc = match e.get("description") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                parts.push(if prop.is_empty() {
                    desc
                } else {
                    format!("{prop}: {desc}")
                });
            }
        }
    }
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("{what} {status} {reason}");
    if parts.is_empty() && parsed.is_none() && !body.is_empty() {
        let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
        parts.push(snippet);
    }
    if !parts.is_empty() {
        text.push_str(": ");
        text.push_str(&parts.join("; "));
    }
    one_line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets_keep_the_base_path() {
        let id = Uuid::parse_str("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap();
        let api = Api::new("http://127.0.0.1:8080/api/", "t", Duration::ZERO).unwrap();
        assert_eq!(
            api.target(id, true).unwrap(),
            "/api/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301/account-info"
        );
        assert_eq!(
            api.target(id, false).unwrap(),
            "/api/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        assert_eq!(api.headers[header::HOST], "127.0.0.1:8080");
        assert_eq!(api.origin, "http://127.0.0.1:8080/");
        let plain = Api::new("https://api.cloudcockpit.com", "t", Duration::ZERO).unwrap();
        assert_eq!(plain.headers[header::HOST], "api.cloudcockpit.com");
        assert_eq!(plain.origin, "https://api.cloudcockpit.com:443/");
        assert_eq!(
            plain.target(id, false).unwrap(),
            "/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        let v6 = Api::new("http://[::1]:9/", "t", Duration::ZERO).unwrap();
        assert_eq!(v6.headers[header::HOST], "[::1]:9");
    }

    #[test]
    fn odd_base_urls_are_refused() {
        for base in [
            "http://h/?a=b",
            "http://h/#x",
            "http://user:pw@h/",
            "ftp://h/",
            "not a url",
        ] {
            let err = Api::new(base, "t", Duration::ZERO).err();
            assert!(err.is_some_and(|e| e.contains(&redact_url(base))), "{base}");
        }
        assert!(Api::new("http://h/", "bad\ntenant", Duration::ZERO).is_err());
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        for (url, shown) in [
            (
                "https://user:PW1@login.example/t/token",
                "https://***@login.example/t/token",
            ),
            ("http://u:PW1@h:badport/x", "http://***@h:badport/x"),
            ("u:PW1@h/x", "***@h/x"),
            ("https://h/a@b", "https://h/a@b"),
            ("https://h:1/?x=@", "https://h:1/?x=@"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let err = Api::new("http://u:PW1@h/", "t", Duration::ZERO)
            .err()
            .unwrap();
        assert!(!err.contains("PW1"), "{err}");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn error_body_is_flattened() {
        let body = br#"{"statusCode":400,"type":"x","description":"Validation failed",
            "errors":[{"propertyName":"companyName","description":["must not be empty","too short"]},
                      {"propertyName":"zip","description":["too long"]}]}"#;
        assert_eq!(
            error_text(400, body, "PATCH"),
            "PATCH 400 Bad Request: Validation failed; companyName: must not be empty, too short; zip: too long"
        );
        assert_eq!(error_text(403, b"", "GET"), "GET 403 Forbidden");
        assert_eq!(
            error_text(502, b"<html>\nbad\ngateway</html>", "GET"),
            "GET 502 Bad Gateway: <html> bad gateway</html>"
        );
    }
}
