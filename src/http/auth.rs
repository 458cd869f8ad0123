//! Bearer tokens: where they come from (environment, a file, or the OAuth2 client-credentials
//! grant), when they are refreshed (before expiry and once after a 401), and how all workers share
//! one refresh instead of stampeding the token endpoint. Tokens and secrets are `SecretString`s:
//! their Debug is redacted, and they are exposed only to build a request header.
//!
//! The token endpoint is as untrusted as the API: every token request (`token.rs`) is bounded by
//! `--timeout` and retried like an API call, its answer is read up to [`MAX_TOKEN_ANSWER`], and a
//! redirect is never followed (it would post the client secret to another address). A refresh before expiry
//! is made by one caller while the others go on with the current token, so a token endpoint that
//! hangs stalls no worker until the token actually runs out.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
// Token lifetimes run on tokio's clock, like the pacer and the backoff: tests can pause it.
use tokio::time::Instant;

use crate::http::backoff::backoff;
use crate::http::client::MAX_TOKEN_ANSWER;
use crate::http::token::{Attempt, TokenEndpoint};

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
    /// The token endpoint did not answer usefully (timeouts, refused connections, 5xx, 429) on
    /// any attempt; the text names it.
    #[error("{0}")]
    Unavailable(String),
}

/// How token requests are retried: like API calls, up to `--max-attempts` of them with the same
/// backoff (each bounded by `--timeout`, the client's own).
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub max_attempts: u32,
    pub backoff_base: Duration,
}

/// Tests' patience, the defaults of `--max-attempts` and the backoff. Only tests use it: every
/// run builds its own from its flags (`config::Connect`), so these copies of
/// the CLI's defaults never decide a real run.
#[cfg(test)]
impl Default for Patience {
    fn default() -> Self {
        Patience {
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
        }
    }
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

impl Current {
    fn token(&self) -> Token {
        Token {
            bearer: self.bearer.clone(),
            generation: self.generation,
        }
    }
}

/// The shared token holder.
pub struct Auth {
    source: TokenSource,
    /// Where client credentials are exchanged for tokens (that source only).
    endpoint: Option<TokenEndpoint>,
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
    patience: Patience,
}

impl Auth {
    /// A holder whose token requests go through `client` (the run's one, `client::build`) and
    /// are retried as `patience` says (the run's `--max-attempts` and backoff). The first token
    /// is fetched on the first `token()` call (setup makes that call before anything is sent, so
    /// bad credentials stop the run at once); a `--token-url` that cannot be used is an error
    /// here.
    pub fn new(
        source: TokenSource,
        patience: Patience,
        client: &reqwest::Client,
    ) -> Result<Auth, String> {
        let endpoint = match &source {
            TokenSource::Client { token_url, .. } => Some(TokenEndpoint::new(client, token_url)?),
            _ => None,
        };
        Ok(Auth {
            source,
            endpoint,
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            fetched: std::sync::atomic::AtomicU64::new(0),
            failed: std::sync::OnceLock::new(),
            unproven: std::sync::atomic::AtomicU64::new(0),
            patience,
        })
    }

    /// How many tokens were fetched or read so far.
    #[cfg(test)]
    pub fn fetched(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The current token if it is not yet due for refresh.
    pub fn fresh(&self) -> Option<Token> {
        self.current_unless(|cur, now| cur.refresh_at.is_some_and(|t| now >= t))
    }

    /// The current token while the API still accepts it (a few seconds before expiry at most),
    /// even if it is due for refresh.
    fn still_valid(&self) -> Option<Token> {
        self.current_unless(|cur, now| cur.expires_at.is_some_and(|t| now + EXPIRY_SAFETY >= t))
    }

    /// The current token, unless there is none or `over` says it is past its time.
    fn current_unless(&self, over: impl Fn(&Current, Instant) -> bool) -> Option<Token> {
        let guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let cur = guard.as_ref()?;
        if over(cur, Instant::now()) {
            return None;
        }
        Some(cur.token())
    }

    /// The token to use now: the current one, or a new one if it is due for refresh. While the
    /// current one is still valid, one caller refreshes it and the others go on using it: a
    /// token endpoint that hangs holds up that one caller, not every worker.
    pub async fn token(&self) -> Result<Token, AuthError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        if let Some(t) = self.still_valid() {
            return match self.refreshing.try_lock() {
                Ok(turn) => self.refresh_in_turn(turn, None).await,
                Err(_) => Ok(t),
            };
        }
        self.refresh(None).await
    }

    /// A new token. With `stale` set, a refresh happens only if the current token is still that
    /// generation: concurrent callers that saw the same 401 share one refresh.
    pub async fn refresh(&self, stale: Option<u64>) -> Result<Token, AuthError> {
        let turn = self.refreshing.lock().await;
        self.refresh_in_turn(turn, stale).await
    }

    /// [`Auth::refresh`] once the caller holds the refresh turn (kept until it returns).
    async fn refresh_in_turn(
        &self,
        _turn: tokio::sync::MutexGuard<'_, ()>,
        stale: Option<u64>,
    ) -> Result<Token, AuthError> {
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
        Some(cur.token())
    }

    async fn fetch(&self) -> Result<(SecretString, Option<Duration>), AuthError> {
        match &self.source {
            TokenSource::None => Err(AuthError::Refused("no token source".into())),
            TokenSource::Static(t) => Ok((t.clone(), None)),
            TokenSource::File(path) => {
                let text = read_token_file(path).await?;
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
                id, secret, scope, ..
            } => self.client_credentials(id, secret, scope).await,
        }
    }

    /// The client-credentials grant: up to `--max-attempts` token requests, each bounded by
    /// `--timeout`, retried on what an API call is retried on (429, 5xx, timeouts, connection
    /// failures) with the same backoff and `Retry-After`.
    async fn client_credentials(
        &self,
        id: &str,
        secret: &SecretString,
        scope: &str,
    ) -> Result<(SecretString, Option<Duration>), AuthError> {
        let Some(endpoint) = &self.endpoint else {
            return Err(AuthError::Refused("no token endpoint".into()));
        };
        let Patience {
            max_attempts,
            backoff_base,
            ..
        } = self.patience;
        let mut last = String::new();
        let mut wait = None;
        let mut attempts = 0;
        while attempts < max_attempts.max(1) {
            if attempts > 0 {
                let pause = wait
                    .take()
                    .unwrap_or_else(|| backoff(backoff_base, attempts));
                tokio::time::sleep(pause.min(MAX_TOKEN_WAIT)).await;
            }
            attempts += 1;
            match endpoint.ask(id, secret, scope).await {
                Attempt::Token { value, lifetime } => return Ok((value, lifetime)),
                Attempt::Refused(why) => return Err(AuthError::Refused(why)),
                Attempt::Again { why, after } => (last, wait) = (why, after),
            }
        }
        Err(AuthError::Unavailable(format!(
            "{last} (gave up after {attempts} attempts)"
        )))
    }
}

/// A token endpoint is never trusted with the last seconds of a token's life: the API may see
/// the token a moment after it was sent.
const EXPIRY_SAFETY: Duration = Duration::from_secs(5);

/// The longest pause between token requests (a `Retry-After` of an hour is not waited out).
const MAX_TOKEN_WAIT: Duration = Duration::from_secs(60);

/// A `--token-file`, read up to [`MAX_TOKEN_ANSWER`] like a token answer: a path to a huge
/// file (or a device) is refused, not read into memory.
async fn read_token_file(path: &std::path::Path) -> Result<String, AuthError> {
    use tokio::io::AsyncReadExt;
    let cannot = |e: std::io::Error| {
        AuthError::Refused(format!("cannot read --token-file {}: {e}", path.display()))
    };
    let file = tokio::fs::File::open(path).await.map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_ANSWER as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(cannot)?;
    if bytes.len() > MAX_TOKEN_ANSWER {
        return Err(AuthError::Refused(format!(
            "--token-file {} is over {} KiB: not a token",
            path.display(),
            MAX_TOKEN_ANSWER / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        AuthError::Refused(format!("--token-file {} is not UTF-8 text", path.display()))
    })
}

/// How long before expiry a token is refreshed: a minute, or a fifth of a short lifetime.
fn margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        crate::http::client::build(Duration::from_secs(30), 1).unwrap()
    }

    #[test]
    fn margin_scales_with_lifetime() {
        assert_eq!(margin(Duration::from_secs(3599)), Duration::from_secs(60));
        assert_eq!(margin(Duration::from_secs(2)), Duration::from_millis(400));
    }

    #[tokio::test]
    async fn static_token_is_shared_and_debug_redacted() {
        let auth = Auth::new(
            TokenSource::Static(SecretString::from("s3cret-token".to_string())),
            Patience::default(),
            &client(),
        )
        .unwrap();
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
            Patience::default(),
            &client(),
        )
        .unwrap();
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
        let auth = std::sync::Arc::new(
            Auth::new(
                TokenSource::Client {
                    id: config.client_id.clone(),
                    secret: SecretString::from(config.client_secret.clone()),
                    token_url: sb.token_url(),
                    scope: crate::cli::ENTRA_SCOPE.to_string(),
                },
                Patience::default(),
                &client(),
            )
            .unwrap(),
        );
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
            Patience::default(),
            &client(),
        )
        .unwrap();
        auth.patience.backoff_base = Duration::from_millis(1);
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

    /// A token endpoint that accepts connections and never answers; notifies each connection.
    async fn hung_endpoint() -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
                let _ = tx.send(());
            }
        });
        (url, rx)
    }

    /// While one caller's refresh before expiry hangs on the token endpoint, every other caller
    /// goes on with the current token: no lock is held across the request for them.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_hung_refresh_before_expiry_holds_up_no_other_caller() {
        let (url, mut connected) = hung_endpoint().await;
        let auth = std::sync::Arc::new(
            Auth::new(
                TokenSource::Client {
                    id: "app".into(),
                    secret: SecretString::from("s".to_string()),
                    token_url: url,
                    scope: "s".into(),
                },
                Patience::default(),
                &client(),
            )
            .unwrap(),
        );
        *auth.current.lock().unwrap() = Some(Current {
            bearer: bearer(&SecretString::from("current".to_string())),
            generation: 1,
            refresh_at: Some(Instant::now()),
            expires_at: Some(Instant::now() + Duration::from_secs(600)),
        });
        let refresher = {
            let auth = auth.clone();
            tokio::spawn(async move { auth.token().await })
        };
        // The refresher is at the endpoint (holding the refresh turn) once it has connected.
        connected.recv().await.unwrap();
        for _ in 0..3 {
            let t = auth.token().await.unwrap();
            assert_eq!(t.generation, 1);
        }
        assert!(!refresher.is_finished(), "the refresh is still hanging");
        refresher.abort();
    }

    /// Each token request ends at the timeout, and is tried `max_attempts` times: then the
    /// endpoint is named as unavailable.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_hung_token_request_ends_at_the_timeout_and_is_retried() {
        let (url, _server) = hung_endpoint().await;
        let auth = Auth::new(
            TokenSource::Client {
                id: "app".into(),
                secret: SecretString::from("s".to_string()),
                token_url: url.clone(),
                scope: "s".into(),
            },
            Patience {
                max_attempts: 3,
                backoff_base: Duration::from_millis(1),
            },
            &crate::http::client::build(Duration::from_millis(100), 1).unwrap(),
        )
        .unwrap();
        let Err(AuthError::Unavailable(why)) = auth.token().await else {
            panic!("unavailable")
        };
        assert_eq!(
            why,
            format!("the token endpoint {url}: answer timed out (gave up after 3 attempts)")
        );
    }

    #[tokio::test]
    async fn token_file_is_reread_on_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "one\n").unwrap();
        let auth = Auth::new(
            TokenSource::File(path.clone()),
            Patience::default(),
            &client(),
        )
        .unwrap();
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

    /// A token is used until its refresh point and replaced from then on, on tokio's clock (so
    /// this runs on a paused one): 59 minutes without asking, then one new token.
    #[tokio::test(start_paused = true)]
    async fn a_token_is_refreshed_at_its_refresh_point_and_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "next").unwrap();
        let auth = Auth::new(TokenSource::File(path), Patience::default(), &client()).unwrap();
        let lifetime = Duration::from_secs(3600);
        let now = Instant::now();
        *auth.current.lock().unwrap() = Some(Current {
            bearer: bearer(&SecretString::from("first".to_string())),
            generation: 1,
            refresh_at: Some(now + lifetime - margin(lifetime)),
            expires_at: Some(now + lifetime),
        });
        tokio::time::advance(lifetime - margin(lifetime) - Duration::from_secs(1)).await;
        assert_eq!(auth.token().await.unwrap().generation, 1);
        assert_eq!(auth.fetched(), 0, "not asked before the refresh point");
        tokio::time::advance(Duration::from_secs(1)).await;
        let renewed = auth.token().await.unwrap();
        assert_eq!(renewed.generation, 2);
        assert_eq!(renewed.bearer.unwrap(), "Bearer next");
        assert_eq!(auth.fetched(), 1);
    }

    #[tokio::test]
    async fn a_token_file_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "x".repeat(MAX_TOKEN_ANSWER + 1)).unwrap();
        let auth = Auth::new(
            TokenSource::File(path.clone()),
            Patience::default(),
            &client(),
        )
        .unwrap();
        let Err(AuthError::Refused(why)) = auth.token().await else {
            panic!("a token file over the limit was used");
        };
        assert!(why.contains("over 64 KiB"), "{why}");
        std::fs::write(&path, "x".repeat(MAX_TOKEN_ANSWER)).unwrap();
        let auth = Auth::new(TokenSource::File(path), Patience::default(), &client()).unwrap();
        let ok = auth.token().await.expect("a token at the limit is read");
        assert!(ok.bearer.is_some());
    }
}
