//! One token request: the OAuth2 client-credentials grant, a form POSTed through the run's one
//! client (`client.rs`: TLS, proxy, `--timeout`, no redirects), its answer read up to
//! [`MAX_TOKEN_ANSWER`] (a token is asked for about once an hour). [`judge`] says what an
//! answer means; retrying is `auth.rs`'s.

use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use crate::http::client::{Answer, BodyEnd, Endpoint, MAX_TOKEN_ANSWER, Transport, exchange};
use crate::text::{one_line, redact_url};

/// Where tokens are asked for (`--token-url`), ready to send to.
pub(crate) struct TokenEndpoint {
    client: reqwest::Client,
    /// The URL to POST to, its query kept.
    url: Url,
    /// "the token endpoint https://…/token": how messages name it.
    pub(crate) named: String,
}

/// What one token request came to.
pub(crate) enum Attempt {
    Token {
        value: SecretString,
        lifetime: Option<Duration>,
    },
    /// No usable answer (a timeout, a dropped connection, 429, 5xx): ask again, after the
    /// server's `Retry-After` if it gave one. `why` names the endpoint.
    Again {
        why: String,
        after: Option<Duration>,
    },
    /// An answer that asking again would not change: the credentials, the URL or the endpoint
    /// are wrong.
    Refused(String),
}

#[derive(serde::Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: Option<u64>,
}

impl TokenEndpoint {
    /// `token_url` checked (a query is kept, as an OAuth2 endpoint may take one), asked through
    /// `client`.
    pub(crate) fn new(client: &reqwest::Client, token_url: &str) -> Result<TokenEndpoint, String> {
        let endpoint = Endpoint::parse("--token-url", token_url, true)?;
        Ok(TokenEndpoint {
            client: client.clone(),
            url: endpoint.url,
            named: format!("the token endpoint {}", redact_url(token_url)),
        })
    }

    /// One token request for the app `id` with its `secret`, for `scope`.
    pub(crate) async fn ask(&self, id: &str, secret: &SecretString, scope: &str) -> Attempt {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", id)
            .append_pair("client_secret", secret.expose_secret())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", scope)
            .finish();
        let mut req = reqwest::Request::new(Method::POST, self.url.clone());
        let h = req.headers_mut();
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        *req.body_mut() = Some(form.into());
        match exchange(&self.client, req, MAX_TOKEN_ANSWER).await {
            Ok(answer) => judge(&self.named, &answer),
            Err(e) => Attempt::Again {
                why: format!("{}: {}", self.named, e.describe()),
                after: None,
            },
        }
    }
}

/// What a token answer means. A redirect is refused, never followed: it would post the client
/// secret to an address nobody configured. 429 and 5xx are asked again, like an API call.
fn judge(endpoint: &str, answer: &Answer) -> Attempt {
    let status = answer.status;
    if status.is_redirection() {
        return Attempt::Refused(redirected(endpoint, answer));
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Again {
            why: format!("{endpoint} answered {status}"),
            after: answer.retry_after(),
        };
    }
    match answer.end {
        BodyEnd::Complete => {}
        BodyEnd::TooLarge => {
            return Attempt::Refused(format!(
                "{endpoint} answered {status} with more than {} KiB, far more than any token: \
                 is --token-url the OAuth2 token endpoint?",
                MAX_TOKEN_ANSWER / 1024
            ));
        }
        BodyEnd::BrokeOff => {
            return Attempt::Again {
                why: format!("{endpoint}: {}", Transport::Body.describe()),
                after: None,
            };
        }
    }
    if !status.is_success() {
        return Attempt::Refused(format!(
            "{endpoint} answered {status}{}",
            oauth_error(&answer.body)
        ));
    }
    match serde_json::from_slice::<TokenReply>(&answer.body) {
        Ok(reply) => Attempt::Token {
            value: SecretString::from(reply.access_token),
            lifetime: reply.expires_in.map(Duration::from_secs),
        },
        Err(_) => Attempt::Refused(format!("{endpoint} answered without an access_token")),
    }
}

/// ": {error_description}" (or the bare `error` code) of an OAuth2 error body, in one line;
/// nothing when the body has neither.
fn oauth_error(body: &[u8]) -> String {
    let reason = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error_description")
                .or_else(|| v.get("error"))
                .and_then(|e| e.as_str().map(str::to_string))
        })
        .unwrap_or_default();
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {}", one_line(&reason))
    }
}

/// The message for a redirect of the token request: where it pointed (without credentials),
/// so the user can set --token-url to it if that is right.
fn redirected(endpoint: &str, answer: &Answer) -> String {
    let status = answer.status;
    let to = answer
        .headers
        .get(header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .map(|l| one_line(&redact_url(&l)))
        .map(|l| l.chars().take(200).collect::<String>());
    match to {
        Some(to) => format!(
            "{endpoint} answered {status} redirecting to {to}: ccbulk never follows a redirect of \
             the token request (it would send the client secret to another address); if {to} is \
             the token endpoint to use, give it as --token-url"
        ),
        None => format!(
            "{endpoint} answered {status} (a redirect without a Location): ccbulk never follows a \
             redirect of the token request; give the token endpoint itself as --token-url"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str, end: BodyEnd) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: bytes::Bytes::from(body.to_string()),
            end,
            limit: MAX_TOKEN_ANSWER,
        }
    }

    /// What each kind of answer comes to; messages name the endpoint and never hold a token.
    #[test]
    fn token_answers_are_judged() {
        let e = "the token endpoint http://127.0.0.1:9/token";
        let ok = r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-123"}"#;
        let Attempt::Token { value, lifetime } = judge(e, &answer(200, &[], ok, BodyEnd::Complete))
        else {
            panic!("a token");
        };
        assert_eq!(value.expose_secret(), "tok-123");
        assert_eq!(lifetime, Some(Duration::from_secs(3599)));

        let refused = |a: Answer| match judge(e, &a) {
            Attempt::Refused(why) => why,
            _ => panic!("refused: {}", a.status),
        };
        let again = |a: Answer| match judge(e, &a) {
            Attempt::Again { why, after } => (why, after),
            _ => panic!("asked again: {}", a.status),
        };
        let moved = answer(
            307,
            &[("location", "https://u:pw@elsewhere.example/token")],
            "",
            BodyEnd::Complete,
        );
        let why = refused(moved);
        assert!(
            why.starts_with(&format!("{e} answered 307 Temporary Redirect redirecting to https://***@elsewhere.example/token")),
            "{why}"
        );
        assert!(!why.contains("pw@"), "{why}");
        assert!(refused(answer(302, &[], "", BodyEnd::Complete)).contains("without a Location"));
        assert_eq!(
            refused(answer(
                400,
                &[],
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid\nclient secret."}"#,
                BodyEnd::Complete
            )),
            format!("{e} answered 400 Bad Request: AADSTS7000215: Invalid client secret.")
        );
        assert_eq!(
            refused(answer(401, &[], "<html>", BodyEnd::Complete)),
            format!("{e} answered 401 Unauthorized")
        );
        assert!(
            refused(answer(200, &[], "{\"a\":", BodyEnd::TooLarge)).contains("more than 64 KiB")
        );
        assert_eq!(
            refused(answer(200, &[], r#"{"expires_in":1}"#, BodyEnd::Complete)),
            format!("{e} answered without an access_token")
        );
        assert_eq!(
            again(answer(503, &[("retry-after", "7")], "", BodyEnd::Complete)),
            (
                format!("{e} answered 503 Service Unavailable"),
                Some(Duration::from_secs(7))
            )
        );
        assert_eq!(
            again(answer(429, &[], "", BodyEnd::TooLarge)).0,
            format!("{e} answered 429 Too Many Requests")
        );
        assert_eq!(
            again(answer(200, &[], "{", BodyEnd::BrokeOff)).0,
            format!("{e}: connection dropped while reading the answer")
        );
    }

    #[test]
    fn token_urls_keep_their_query_and_refuse_a_fragment() {
        let client = crate::http::client::build(Duration::from_secs(5), 1).unwrap();
        let t = TokenEndpoint::new(&client, "http://127.0.0.1:9/t/token?api-version=1").unwrap();
        assert_eq!(t.url.as_str(), "http://127.0.0.1:9/t/token?api-version=1");
        assert_eq!(
            t.named,
            "the token endpoint http://127.0.0.1:9/t/token?api-version=1"
        );
        let err = TokenEndpoint::new(&client, "http://127.0.0.1:9/token#x")
            .err()
            .unwrap();
        assert!(
            err.starts_with("--token-url \"http://127.0.0.1:9/token#x\" must be"),
            "{err}"
        );
    }
}
