//! One API call: building the GET or PATCH with its headers, sending it through the run's one
//! client (`client.rs`), and classifying what comes back (success, retry later, refresh the
//! token, or fail with the API's own words). It knows nothing of rows, pacing or retries;
//! `pipeline/` owns those.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::http::auth::Token;
use crate::http::client::{
    Answer, BodyEnd, Endpoint, MAX_ANSWER, MAX_PAGE, Transport, exchange, too_large,
};
use crate::text::one_line;

/// Where an answer's headers go as it comes (the pacer's `announced`).
pub type Seen<'a> = &'a (dyn Fn(&HeaderMap) + Sync);

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

/// The client for one API root and tenant, shared by the workers.
pub struct Api {
    client: reqwest::Client,
    /// The X-Tenant header's value: the same on every call.
    tenant: HeaderValue,
    /// The base URL followed by `/v1/Customers`, parsed once: each call's URL is built from it
    /// by adding path segments, not parsed again.
    customers: Url,
}

const X_TENANT: HeaderName = HeaderName::from_static("x-tenant");
const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// `--base-url` checked as the API root: an http(s) URL (see [`Endpoint::parse`]) whose path does
/// not end in `/v1`, which ccbulk adds itself: `https://host/v1` would call `/v1/v1/Customers/…`,
/// and every row would fail with a 404 that looks like a wrong tenant.
pub(crate) fn api_root(base: &str) -> Result<Endpoint, String> {
    let endpoint = Endpoint::parse("--base-url", base, false)?;
    let last = endpoint.url.path().trim_end_matches('/').rsplit('/').next();
    if last.is_some_and(|s| s.eq_ignore_ascii_case("v1")) {
        let shown = crate::text::redact_url(base);
        let root = shown.trim_end_matches('/');
        return Err(format!(
            "--base-url \"{shown}\" ends in /v1, which ccbulk adds itself (it calls <base>/v1/Customers/…): give the API root, {}",
            &root[..root.len() - 3]
        ));
    }
    Ok(endpoint)
}

impl Api {
    /// Calls to the API root `base` (`http` or `https`, no query, no user name or password) for
    /// `tenant`, through `client` (`client::build`).
    pub fn new(client: &reqwest::Client, base: &str, tenant: &str) -> Result<Api, String> {
        let tenant = HeaderValue::from_str(tenant)
            .map_err(|_| format!("--tenant \"{tenant}\" cannot be sent as a header"))?;
        let endpoint = api_root(base)?;
        let root = endpoint.url.as_str().trim_end_matches('/');
        let customers = Url::parse(&format!("{root}/v1/Customers")).map_err(|e| {
            format!(
                "--base-url \"{}\" is not a URL: {e}",
                crate::text::redact_url(base)
            )
        })?;
        Ok(Api {
            client: client.clone(),
            tenant,
            customers,
        })
    }

    /// `{customers}/{id}`, then `/account-info` if asked: the request's URL.
    fn target(&self, id: Uuid, account_info: bool) -> Result<Url, String> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = id.hyphenated().encode_lower(&mut buf);
        let suffix: &[&str] = if account_info { &["account-info"] } else { &[] };
        let mut url = self.customers.clone();
        // Only a URL that cannot be a base (`mailto:`) has no path segments; an http(s) one has.
        url.path_segments_mut()
            .map_err(|()| "cannot build the request URL".to_string())?
            .push(id)
            .extend(suffix);
        Ok(url)
    }

    fn request(
        &self,
        method: Method,
        target: Url,
        token: &Token,
        correlation: Uuid,
        body: Option<Bytes>,
    ) -> reqwest::Request {
        let mut req = reqwest::Request::new(method, target);
        let h = req.headers_mut();
        // Room for every header of the call (these, and User-Agent and Host added below us), so
        // the map is not grown and copied as they go in.
        h.reserve(8);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(X_TENANT, self.tenant.clone());
        if let Some(auth) = &token.bearer {
            h.insert(header::AUTHORIZATION, auth.clone());
        }
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let corr = correlation.hyphenated().encode_lower(&mut buf);
        if let Ok(v) = HeaderValue::from_str(corr) {
            h.insert(X_CORRELATION_ID, v);
        }
        if let Some(body) = body {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            *req.body_mut() = Some(body.into());
        }
        req
    }

    /// `GET /v1/Customers/{id}`. Every answer's headers go to `seen` (the pacer reads the
    /// rate-limit ones), whatever its status.
    pub async fn get_customer(
        &self,
        id: Uuid,
        token: &Token,
        correlation: Uuid,
        seen: Seen<'_>,
    ) -> Reply {
        let target = self.target(id, false);
        match self.get(target, MAX_ANSWER, token, correlation, seen).await {
            Ok(body) => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(m)) => Reply::Customer(m),
                _ => Reply::Fail {
                    status: Some(200),
                    error: "GET answered 200 but the body is not a customer object".into(),
                },
            },
            Err(reply) => reply,
        }
    }

    /// `PATCH /v1/Customers/{id}/account-info` with a ready JSON body.
    pub async fn patch_account_info(
        &self,
        id: Uuid,
        body: Bytes,
        token: &Token,
        correlation: Uuid,
        seen: Seen<'_>,
    ) -> Reply {
        let target = match self.target(id, true) {
            Ok(t) => t,
            Err(error) => return unbuildable(error),
        };
        let req = self.request(Method::PATCH, target, token, correlation, Some(body));
        let answer = exchange(&self.client, req, MAX_ANSWER).await;
        if let Ok(a) = &answer {
            seen(&a.headers);
        }
        match answer {
            // Retried all the same (SPEC), but the row's error says what may already be done.
            Err(e) if e.may_have_gone_out() => Reply::Retry {
                status: None,
                after: None,
                error: format!("{}: the PATCH may have been applied", e.describe()),
            },
            Err(e) => transport(&e),
            // Accepted whatever its body did: sending it again would apply it twice.
            Ok(a) if a.status.is_success() => Reply::Accepted(a.status.as_u16()),
            Ok(a) => classify(a, "PATCH"),
        }
    }

    /// `GET /v1/Customers?{query}`: one page of the list call (`query` already encoded).
    pub async fn list_customers(
        &self,
        query: &str,
        token: &Token,
        correlation: Uuid,
        seen: Seen<'_>,
    ) -> Reply {
        let mut url = self.customers.clone();
        url.set_query(Some(query));
        let target = Ok(url);
        match self.get(target, MAX_PAGE, token, correlation, seen).await {
            Ok(body) => Reply::Page(body),
            Err(reply) => reply,
        }
    }

    /// A GET of `target` whose answer is read up to `limit`: the body of a complete 200, or the
    /// reply the call comes to otherwise.
    async fn get(
        &self,
        target: Result<Url, String>,
        limit: usize,
        token: &Token,
        correlation: Uuid,
        seen: Seen<'_>,
    ) -> Result<Bytes, Reply> {
        let target = target.map_err(unbuildable)?;
        let req = self.request(Method::GET, target, token, correlation, None);
        let answer = exchange(&self.client, req, limit).await;
        if let Ok(a) = &answer {
            seen(&a.headers);
        }
        match answer {
            Err(e) => Err(transport(&e)),
            Ok(a) if a.status == StatusCode::OK => match a.end {
                BodyEnd::Complete => Ok(a.body),
                // The same answer would come back as large again: not retried. Worded as the
                // API's own errors are ("GET 404 Not Found: …").
                BodyEnd::TooLarge => Err(Reply::Fail {
                    status: Some(200),
                    error: format!("GET 200 OK: {}", too_large(limit)),
                }),
                // A GET changes nothing: reading it again is safe.
                BodyEnd::BrokeOff => Err(transport(&Transport::Body)),
            },
            Ok(a) => Err(classify(a, "GET")),
        }
    }
}

/// A request that could not be built: the row fails, with nothing sent.
fn unbuildable(error: String) -> Reply {
    Reply::Fail {
        status: None,
        error,
    }
}

fn transport(e: &Transport) -> Reply {
    Reply::Retry {
        status: None,
        after: None,
        error: e.describe().to_string(),
    }
}

fn classify(answer: Answer, what: &str) -> Reply {
    let after = answer.retry_after();
    let status = answer.status.as_u16();
    let mut error = error_text(status, &answer.body, what);
    if answer.end == BodyEnd::TooLarge {
        error = format!("{error} ({}, cut)", too_large(answer.limit));
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

/// The longest error text kept from an API answer, in characters. A row's error goes into the
/// results file and the summary's reasons (up to a thousand distinct ones), so an API that
/// answers with megabytes of description must not put megabytes there; a long list of
/// `propertyName: description` still fits.
const MAX_ERROR_CHARS: usize = 2000;

/// The API's error body flattened to one line: its description, then each
/// `propertyName: description`. Falls back to the status and a short piece of the body. At most
/// [`MAX_ERROR_CHARS`] characters, cut with `…`.
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
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("{what} {status} {reason}");
    if parts.is_empty() && parsed.is_none() && !body.is_empty() {
        // 200 characters are at most 800 bytes: the rest of a large body is never decoded.
        let head = &body[..body.len().min(800)];
        let snippet: String = String::from_utf8_lossy(head).chars().take(200).collect();
        parts.push(snippet);
    }
    if !parts.is_empty() {
        text.push_str(": ");
        text.push_str(&parts.join("; "));
    }
    let mut text = one_line(&text);
    if let Some((cut, _)) = text.char_indices().nth(MAX_ERROR_CHARS - 1) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::redact_url;

    fn client() -> reqwest::Client {
        crate::http::client::build(Duration::from_secs(5), 1).unwrap()
    }

    #[test]
    fn request_targets_keep_the_base_path() {
        let id = Uuid::parse_str("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap();
        let api = Api::new(&client(), "http://127.0.0.1:8080/api/", "t").unwrap();
        assert_eq!(
            api.target(id, true).unwrap().as_str(),
            "http://127.0.0.1:8080/api/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301/account-info"
        );
        assert_eq!(
            api.target(id, false).unwrap().as_str(),
            "http://127.0.0.1:8080/api/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        let plain = Api::new(&client(), "https://api.cloudcockpit.com", "t").unwrap();
        assert_eq!(
            plain.target(id, false).unwrap().as_str(),
            "https://api.cloudcockpit.com/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        let v6 = Api::new(&client(), "http://[::1]:9/", "t").unwrap();
        assert_eq!(
            v6.target(id, false).unwrap().as_str(),
            "http://[::1]:9/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
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
            let err = Api::new(&client(), base, "t").err();
            assert!(err.is_some_and(|e| e.contains(&redact_url(base))), "{base}");
        }
        assert!(Api::new(&client(), "http://h/", "bad\ntenant").is_err());
    }

    /// A base URL without its scheme says to add one; one ending in /v1 (which ccbulk adds)
    /// is refused up front, naming the root to give instead.
    #[test]
    fn base_urls_that_mislead_say_what_to_change() {
        for base in ["127.0.0.1:8080", "localhost:8080", "api.cloudcockpit.com"] {
            let err = Api::new(&client(), base, "t").err().unwrap_or_default();
            assert!(
                err.contains(&format!(
                    "\"{base}\" has no scheme: add http:// or https://"
                )),
                "{err}"
            );
        }
        for (base, root) in [
            ("https://api.example/v1", "https://api.example"),
            ("http://127.0.0.1:9/gw/V1/", "http://127.0.0.1:9/gw"),
        ] {
            let err = Api::new(&client(), base, "t").err().unwrap_or_default();
            assert!(
                err.contains("ends in /v1, which ccbulk adds itself")
                    && err.ends_with(&format!("give the API root, {root}")),
                "{err}"
            );
        }
        assert!(Api::new(&client(), "https://api.example/v1x", "t").is_ok());
        assert!(Api::new(&client(), "https://api.example/gw", "t").is_ok());
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
        let err = Api::new(&client(), "http://u:PW1@h/", "t").err().unwrap();
        assert!(!err.contains("PW1"), "{err}");
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

    /// An answer with megabytes of description gives a row error of a bounded size (it goes
    /// into the results file and the summary's reasons), cut visibly.
    #[test]
    fn a_huge_error_body_gives_a_bounded_error() {
        let head = |t: &str| t.chars().take(80).collect::<String>();
        let huge = "é".repeat(1 << 20);
        let body = serde_json::json!({ "description": huge }).to_string();
        let text = error_text(400, body.as_bytes(), "PATCH");
        assert_eq!(text.chars().count(), MAX_ERROR_CHARS, "{}", head(&text));
        assert!(
            text.starts_with("PATCH 400 Bad Request: éé"),
            "{}",
            head(&text)
        );
        assert!(text.ends_with("é…"));
        let errors: Vec<_> = (0..50_000)
            .map(|i| serde_json::json!({"propertyName": format!("p{i}"), "description": ["bad"]}))
            .collect();
        let body = serde_json::json!({ "errors": errors }).to_string();
        let text = error_text(400, body.as_bytes(), "PATCH");
        assert_eq!(text.chars().count(), MAX_ERROR_CHARS);
        assert!(
            text.starts_with("PATCH 400 Bad Request: p0: bad; p1: bad"),
            "{}",
            head(&text)
        );
        let html = format!("<html>{}</html>", "x".repeat(1 << 20));
        let text = error_text(502, html.as_bytes(), "GET");
        assert_eq!(
            text,
            format!("GET 502 Bad Gateway: <html>{}", "x".repeat(194))
        );
    }
}
