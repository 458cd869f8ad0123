//! The HTTP side of one call: building the GET or PATCH with its headers, and classifying what
//! comes back (success, retry later, refresh the token, or fail with the API's own words). It
//! knows nothing of rows, pacing or retries; `dispatch.rs` owns those.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::Token;

/// What one attempt came to.
#[derive(Debug)]
pub enum Reply {
    /// GET 200: the customer as the API returned it.
    Customer(Map<String, Value>),
    /// PATCH 2xx.
    Accepted(u16),
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

/// The client for one API root and tenant.
pub struct Api {
    http: reqwest::Client,
    base: String,
    tenant: HeaderValue,
    timeout: Duration,
    /// `{base}/v1/Customers/`, parsed once: parsing each call's URL from text took a twentieth
    /// of a replace run's CPU time (BENCHMARKS.md). `None` if the base has a query or fragment
    /// (the text form is used then, as given).
    customers: Option<reqwest::Url>,
}

impl Api {
    /// `base` is the API root without a trailing slash.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        tenant: &str,
        timeout: Duration,
    ) -> Result<Api, String> {
        let tenant = HeaderValue::from_str(tenant)
            .map_err(|_| format!("--tenant \"{tenant}\" cannot be sent as a header"))?;
        let base = base.trim_end_matches('/').to_string();
        let customers = reqwest::Url::parse(&format!("{base}/v1/Customers/"))
            .ok()
            .filter(|u| u.query().is_none() && u.fragment().is_none() && !u.cannot_be_a_base());
        Ok(Api {
            http,
            base,
            tenant,
            timeout,
            customers,
        })
    }

    /// The shared HTTP client: one connection pool for the run.
    pub fn http_client(concurrency: usize) -> Result<reqwest::Client, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static(concat!("ccbulk/", env!("CARGO_PKG_VERSION"))),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(concurrency)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }

    fn headers(&self, token: &Token, correlation: Uuid) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(4);
        if let Ok(mut auth) =
            HeaderValue::from_str(&format!("Bearer {}", token.value.expose_secret()))
        {
            auth.set_sensitive(true);
            h.insert(reqwest::header::AUTHORIZATION, auth);
        }
        h.insert("x-tenant", self.tenant.clone());
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let corr = correlation.hyphenated().encode_lower(&mut buf);
        if let Ok(v) = HeaderValue::from_str(corr) {
            h.insert("x-correlation-id", v);
        }
        h
    }

    /// `{base}/v1/Customers/{id}`, then `/account-info` if asked, from the parsed prefix.
    fn customer_url(&self, id: Uuid, account_info: bool) -> Option<reqwest::Url> {
        let mut url = self.customers.clone()?;
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        {
            let mut segments = url.path_segments_mut().ok()?;
            segments
                .pop_if_empty()
                .push(id.hyphenated().encode_lower(&mut buf));
            if account_info {
                segments.push("account-info");
            }
        }
        Some(url)
    }

    /// `GET /v1/Customers/{id}`.
    pub async fn get_customer(&self, id: Uuid, token: &Token, correlation: Uuid) -> Reply {
        let req = match self.customer_url(id, false) {
            Some(url) => self.http.get(url),
            None => self.http.get(format!("{}/v1/Customers/{id}", self.base)),
        };
        let req = req
            .headers(self.headers(token, correlation))
            .timeout(self.timeout);
        match req.send().await {
            Err(e) => transport(&e),
            Ok(resp) if resp.status().as_u16() == 200 => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Err(e) => transport(&e),
                    Ok(body) => match serde_json::from_slice::<Value>(&body) {
                        Ok(Value::Object(m)) => Reply::Customer(m),
                        _ => Reply::Fail {
                            status: Some(status),
                            error: "GET answered 200 but the body is not a customer object".into(),
                        },
                    },
                }
            }
            Ok(resp) => classify(resp, "GET").await,
        }
    }

    /// `PATCH /v1/Customers/{id}/account-info` with a ready JSON body.
    pub async fn patch_account_info(
        &self,
        id: Uuid,
        body: Vec<u8>,
        token: &Token,
        correlation: Uuid,
    ) -> Reply {
        let req = match self.customer_url(id, true) {
            Some(url) => self.http.patch(url),
            None => self
                .http
                .patch(format!("{}/v1/Customers/{id}/account-info", self.base)),
        };
        let req = req
            .headers(self.headers(token, correlation))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body);
        match req.send().await {
            Err(e) => transport(&e),
            Ok(resp) if resp.status().is_success() => {
                let status = resp.status().as_u16();
                // Drain the (normally empty) body so the connection goes back to the pool.
                let _ = resp.bytes().await;
                Reply::Accepted(status)
            }
            Ok(resp) => classify(resp, "PATCH").await,
        }
    }
}

/// A transport error in one line, without the URL's query or any header.
pub fn describe_transport(e: &reqwest::Error) -> String {
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

fn transport(e: &reqwest::Error) -> Reply {
    Reply::Retry {
        status: None,
        after: None,
        error: describe_transport(e),
    }
}

async fn classify(resp: reqwest::Response, what: &str) -> Reply {
    let status = resp.status().as_u16();
    let after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = resp.bytes().await.unwrap_or_default();
    let error = error_text(status, &body, what);
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

/// `Retry-After` as delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
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

/// Folds line breaks so an error stays one CSV-friendly line.
pub fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_urls_keep_the_base_path() {
        let id = Uuid::parse_str("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap();
        let http = reqwest::Client::new();
        let api = Api::new(
            http.clone(),
            "http://127.0.0.1:8080/api/",
            "t",
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(
            api.customer_url(id, true).unwrap().as_str(),
            "http://127.0.0.1:8080/api/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301/account-info"
        );
        assert_eq!(
            api.customer_url(id, false).unwrap().as_str(),
            "http://127.0.0.1:8080/api/v1/Customers/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        // A base with a query keeps the text form as it was.
        let odd = Api::new(http, "http://h/?a=b", "t", Duration::ZERO).unwrap();
        assert!(odd.customer_url(id, true).is_none());
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
