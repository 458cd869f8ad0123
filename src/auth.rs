//! Bearer tokens: where they come from (environment, a file, or the OAuth2 client-credentials
//! grant), when they are refreshed (before expiry and once after a 401), and how all workers share
//! one refresh instead of stampeding the token endpoint. Tokens and secrets are `SecretString`s:
//! their Debug is redacted, and they are exposed only to build a request header.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// Where tokens come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// `CLOUDCOCKPIT_TOKEN`, used as is (cannot be refreshed).
    Static(SecretString),
    /// `--token-file`, re-read on a 401.
    File(PathBuf),
    /// OAuth2 client credentials.
    Client {
        id: String,
        secret: SecretString,
        token_url: String,
        scope: String,
    },
    /// Dry runs: no token at all.
    None,
}

impl TokenSource {
    /// What a user should check when authentication fails, for this source.
    pub fn what_to_check(&self) -> String {
        match self {
            TokenSource::Static(_) => {
                "check CLOUDCOCKPIT_TOKEN (it may have expired: a token from the environment cannot be refreshed; use client credentials or --token-file for long runs) and --tenant".to_string()
            }
            TokenSource::File(path) => format!(
                "check the token in --token-file {} (whatever renews it may have stopped) and --tenant",
                path.display()
            ),
            TokenSource::Client { .. } => {
                "check CLOUDCOCKPIT_CLIENT_ID, CLOUDCOCKPIT_CLIENT_SECRET, --token-url, --scope and --tenant, and that the app is granted access to CloudCockpit".to_string()
            }
            TokenSource::None => "no credentials were given".to_string(),
        }
    }
}

/// Why no token could be had. The texts never hold a token or a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Refused(String),
    #[error("{0} (after several tries)")]
    Unavailable(String),
}

/// A token with the generation that identifies it, so a worker that saw it fail can ask for a
/// refresh without forcing one that another worker already did.
#[derive(Clone)]
pub struct Token {
    /// `Bearer …`, marked sensitive, built once per token rather than per call; `None` if the
    /// token has characters a header cannot carry (the API then answers 401).
    pub bearer: Option<HeaderValue>,
    pub generation: u64,
}

/// The Authorization header value for a token.
fn bearer(value: &SecretString) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", value.expose_secret())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

struct Current {
    bearer: Option<HeaderValue>,
    generation: u64,
    refresh_at: Option<Instant>,
    /// When the API stops accepting it (client credentials only).
    expires_at: Option<Instant>,
}

/// The shared token holder.
pub struct Auth {
    source: TokenSource,
    http: reqwest::Client,
    current: Mutex<Option<Current>>,
    refreshing: tokio::sync::Mutex<()>,
    fetched: std::sync::atomic::AtomicU64,
    /// The first failure to get a token. The run stops on it, so callers already queued for a
    /// refresh get it at once instead of each asking the token endpoint again.
    failed: std::sync::OnceLock<AuthError>,
    /// The generation fetched because of a 401, until the API accepts it (0: none). A 401 on it
    /// means the API still refuses after a refresh, whichever worker sees it: the run stops
    /// instead of each worker refreshing once in turn.
    unproven: std::sync::atomic::AtomicU64,
    /// First pause between token requests when the endpoint is unavailable; doubles each time.
    retry_base: Duration,
}

#[derive(serde::Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: Option<u64>,
}

impl Auth {
    /// A holder; the first token is fetched on the first `token()` call (`run_job` makes that
    /// call before anything is sent, so bad credentials stop the run at once).
    pub fn new(source: TokenSource, http: reqwest::Client) -> Auth {
        Auth {
            source,
            http,
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            fetched: std::sync::atomic::AtomicU64::new(0),
            failed: std::sync::OnceLock::new(),
            unproven: std::sync::atomic::AtomicU64::new(0),
            retry_base: Duration::from_millis(500),
        }
    }

    /// How many tokens were fetched or read so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The current token if it is not yet due for refresh.
    pub fn fresh(&self) -> Option<Token> {
        let guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let cur = guard.as_ref()?;
        if cur.refresh_at.is_some_and(|t| Instant::now() >= t) {
            return None;
        }
        Some(Token {
            bearer: cur.bearer.clone(),
            generation: cur.generation,
        })
    }

    /// The token to use now: the current one, or a new one if it is due for refresh.
    pub async fn token(&self) -> Result<Token, AuthError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        self.refresh(None).await
    }

    /// A new token. With `stale` set, a refresh happens only if the current token is still that
    /// generation: concurrent callers that saw the same 401 share one refresh.
    pub async fn refresh(&self, stale: Option<u64>) -> Result<Token, AuthError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(t) = self.fresh()
            && stale != Some(t.generation)
        {
            return Ok(t);
        }
        if let Some(e) = self.failed.get() {
            return Err(e.clone());
        }
        if stale.is_some_and(|g| g == self.unproven.load(std::sync::atomic::Ordering::Acquire)) {
            let e = AuthError::Refused("still refused after a token refresh".to_string());
            let _ = self.failed.set(e.clone());
            return Err(e);
        }
        // Reading the same variable again would only send the refused token again.
        if stale.is_some() && matches!(self.source, TokenSource::Static(_)) {
            let e = AuthError::Refused("CLOUDCOCKPIT_TOKEN cannot be refreshed".to_string());
            let _ = self.failed.set(e.clone());
            return Err(e);
        }
        let (value, lifetime) = match self.fetch().await {
            Ok(got) => got,
            Err(e) => {
                if stale.is_none()
                    && let AuthError::Unavailable(_) = e
                    && let Some(t) = self.keep_current_a_little_longer()
                {
                    return Ok(t);
                }
                let _ = self.failed.set(e.clone());
                return Err(e);
            }
        };
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let generation = guard.as_ref().map_or(1, |c| c.generation + 1);
        let now = Instant::now();
        let bearer = bearer(&value);
        *guard = Some(Current {
            bearer: bearer.clone(),
            generation,
            refresh_at: lifetime.map(|l| now + l.saturating_sub(margin(l))),
            expires_at: lifetime.map(|l| now + l),
        });
        if stale.is_some() {
            self.unproven
                .store(generation, std::sync::atomic::Ordering::Release);
        }
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Token { bearer, generation })
    }

    /// The API answered a call made with this generation without a 401: the token works.
    pub fn accepted(&self, generation: u64) {
        let _ = self.unproven.compare_exchange(
            generation,
            0,
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// A refresh before expiry found the token endpoint unavailable (it already retried for some
    /// seconds): keep using the current token while it has time left, and try again later, so
    /// a short outage of the endpoint does not stop an hours-long run.
    fn keep_current_a_little_longer(&self) -> Option<Token> {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let cur = guard.as_mut()?;
        let left = cur.expires_at?.checked_duration_since(Instant::now())?;
        if left < Duration::from_secs(5) {
            return None;
        }
        cur.refresh_at = Some(Instant::now() + (left / 2).min(Duration::from_secs(30)));
        tracing::warn!(
            "the token endpoint is unavailable; keeping the current token ({}s left) and trying again later",
            left.as_secs()
        );
        Some(Token {
            bearer: cur.bearer.clone(),
            generation: cur.generation,
        })
    }

    async fn fetch(&self) -> Result<(SecretString, Option<Duration>), AuthError> {
        match &self.source {
            TokenSource::None => Err(AuthError::Refused("no token source".into())),
            TokenSource::Static(t) => Ok((t.clone(), None)),
            TokenSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    AuthError::Refused(format!("cannot read --token-file {}: {e}", path.display()))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(AuthError::Refused(format!(
                        "--token-file {} is empty",
                        path.display()
                    )));
                }
                Ok((SecretString::from(token.to_string()), None))
            }
            TokenSource::Client {
                id,
                secret,
                token_url,
                scope,
            } => self.client_credentials(id, secret, token_url, scope).await,
        }
    }

    async fn client_credentials(
        &self,
        id: &str,
        secret: &SecretString,
        token_url: &str,
        scope: &str,
    ) -> Result<(SecretString, Option<Duration>), AuthError> {
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(self.retry_base * (1 << attempt)).await;
            }
            let form = [
                ("client_id", id),
                ("client_secret", secret.expose_secret()),
                ("grant_type", "client_credentials"),
                ("scope", scope),
            ];
            let resp = match self.http.post(token_url).form(&form).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!(
                        "the token endpoint {token_url}: {}",
                        crate::api::describe_transport(&e)
                    );
                    continue;
                }
            };
            let status = resp.status();
            if status.is_server_error() || status.as_u16() == 429 {
                last = format!("the token endpoint {token_url} answered {status}");
                continue;
            }
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                let reason = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.get("error_description")
                            .or_else(|| v.get("error"))
                            .and_then(|e| e.as_str().map(str::to_string))
                    })
                    .unwrap_or_default();
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::api::one_line(&reason))
                };
                return Err(AuthError::Refused(format!(
                    "the token endpoint {token_url} answered {status}{reason}"
                )));
            }
            let reply: TokenReply = resp.json().await.map_err(|_| {
                AuthError::Refused(format!(
                    "the token endpoint {token_url} answered without an access_token"
                ))
            })?;
            let lifetime = reply.expires_in.map(Duration::from_secs);
            return Ok((SecretString::from(reply.access_token), lifetime));
        }
        Err(AuthError::Unavailable(last))
    }
}

/// How long before expiry a token is refreshed: a minute, or a fifth of a short lifetime.
fn margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_scales_with_lifetime() {
        assert_eq!(margin(Duration::from_secs(3599)), Duration::from_secs(60));
        assert_eq!(margin(Duration::from_secs(2)), Duration::from_millis(400));
    }

    #[tokio::test]
    async fn static_token_is_shared_and_debug_redacted() {
        let auth = Auth::new(
            TokenSource::Static(SecretString::from("s3cret-token".to_string())),
            reqwest::Client::new(),
        );
        let a = auth.token().await.unwrap();
        let b = auth.token().await.unwrap();
        assert_eq!(a.generation, b.generation);
        assert_eq!(auth.fetched(), 1);
        let bearer = a.bearer.unwrap();
        assert!(bearer.is_sensitive());
        let source = TokenSource::Static(SecretString::from("s3cret-token".to_string()));
        let shown = format!("{bearer:?} {source:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[tokio::test]
    async fn a_refused_static_token_is_not_sent_again() {
        let auth = Auth::new(
            TokenSource::Static(SecretString::from("s3cret-token".to_string())),
            reqwest::Client::new(),
        );
        let first = auth.token().await.unwrap();
        let refused = auth.refresh(Some(first.generation)).await;
        assert!(matches!(refused, Err(AuthError::Refused(_))));
        assert_eq!(auth.fetched(), 1);
    }

    #[test]
    fn client_secret_is_redacted_in_debug() {
        let source = TokenSource::Client {
            id: "app-id".into(),
            secret: SecretString::from("very-secret-value".to_string()),
            token_url: "http://127.0.0.1:1/token".into(),
            scope: "s".into(),
        };
        let shown = format!("{source:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(
            source
                .what_to_check()
                .contains("CLOUDCOCKPIT_CLIENT_SECRET")
        );
    }

    /// Many workers asking at once, for a first token or after the same 401, cause one token
    /// request each time, not one per worker; a token near expiry is replaced before it expires.
    #[tokio::test(flavor = "multi_thread")]
    async fn workers_share_one_fetch_and_refresh_before_expiry() {
        let config = crate::sandbox::SandboxConfig {
            token_ttl: Duration::from_secs(1),
            ..Default::default()
        };
        let sb = crate::sandbox::Sandbox::start(config.clone(), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let auth = std::sync::Arc::new(Auth::new(
            TokenSource::Client {
                id: config.client_id.clone(),
                secret: SecretString::from(config.client_secret.clone()),
                token_url: sb.token_url(),
                scope: crate::cli::ENTRA_SCOPE.to_string(),
            },
            reqwest::Client::new(),
        ));
        // 16 workers at once: `token()` when `stale` is None, else a refresh after a 401.
        let many = |stale: Option<u64>| {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let a = auth.clone();
                    tokio::spawn(async move {
                        match stale {
                            None => a.token().await,
                            Some(g) => a.refresh(Some(g)).await,
                        }
                    })
                })
                .collect();
            async move {
                let mut generations = Vec::new();
                for t in tasks {
                    generations.push(t.await.unwrap().unwrap().generation);
                }
                generations
            }
        };
        let first = many(None).await;
        assert!(first.iter().all(|g| *g == 1), "{first:?}");
        assert_eq!(sb.tokens_issued(), 1);
        let after_401 = many(Some(1)).await;
        assert!(after_401.iter().all(|g| *g == 2), "{after_401:?}");
        assert_eq!(sb.tokens_issued(), 2);
        // Past the refresh point (a fifth of the lifetime before expiry), one new token.
        tokio::time::sleep(Duration::from_millis(850)).await;
        let renewed = many(None).await;
        assert!(renewed.iter().all(|g| *g == 3), "{renewed:?}");
        assert_eq!(sb.tokens_issued(), 3);
    }

    /// The endpoint goes away at a refresh before expiry: the current token is kept while it
    /// has time left; a refresh after a 401 (the token is refused) fails instead.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_unavailable_endpoint_keeps_the_current_token_until_it_expires() {
        let config = crate::sandbox::SandboxConfig {
            token_ttl: Duration::from_secs(600),
            ..Default::default()
        };
        let sb = crate::sandbox::Sandbox::start(config.clone(), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let mut auth = Auth::new(
            TokenSource::Client {
                id: config.client_id.clone(),
                secret: SecretString::from(config.client_secret.clone()),
                token_url: sb.token_url(),
                scope: "s".to_string(),
            },
            reqwest::Client::new(),
        );
        auth.retry_base = Duration::from_millis(1);
        let first = auth.token().await.unwrap();
        sb.shutdown();
        sb.stopped().await;
        let due = |auth: &Auth| {
            let mut guard = auth.current.lock().unwrap();
            guard.as_mut().unwrap().refresh_at = Some(Instant::now());
        };
        due(&auth);
        let kept = auth.token().await.unwrap();
        assert_eq!(kept.generation, first.generation);
        assert!(
            auth.fresh().is_some(),
            "tries again later, not on every call"
        );
        let refused = auth.refresh(Some(first.generation)).await;
        assert!(matches!(refused, Err(AuthError::Unavailable(_))));
        // Once failed, every caller gets the failure without asking the endpoint again.
        due(&auth);
        assert!(auth.token().await.is_err());
    }

    #[tokio::test]
    async fn token_file_is_reread_on_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "one\n").unwrap();
        let auth = Auth::new(TokenSource::File(path.clone()), reqwest::Client::new());
        let first = auth.token().await.unwrap();
        assert_eq!(first.bearer.unwrap(), "Bearer one");
        std::fs::write(&path, "two").unwrap();
        let second = auth.refresh(Some(first.generation)).await.unwrap();
        assert_eq!(second.bearer.unwrap(), "Bearer two");
        // A caller holding the old generation does not force another read.
        let again = auth.refresh(Some(first.generation)).await.unwrap();
        assert_eq!(again.generation, second.generation);
        assert_eq!(auth.fetched(), 2);
    }
}
