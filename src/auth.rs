//! Bearer tokens: where they come from (environment, a file, or the OAuth2 client-credentials
//! grant), when they are refreshed (before expiry and once after a 401), and how all workers share
//! one refresh instead of stampeding the token endpoint. Tokens and secrets are `SecretString`s:
//! their Debug is redacted, and they are exposed only to build a request header.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication failed: {0}")]
    Refused(String),
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
}

/// A token with the generation that identifies it, so a worker that saw it fail can ask for a
/// refresh without forcing one that another worker already did.
#[derive(Clone)]
pub struct Token {
    pub value: SecretString,
    pub generation: u64,
}

struct Current {
    value: SecretString,
    generation: u64,
    refresh_at: Option<Instant>,
}

/// The shared token holder.
pub struct Auth {
    source: TokenSource,
    http: reqwest::Client,
    current: Mutex<Option<Current>>,
    refreshing: tokio::sync::Mutex<()>,
    fetched: std::sync::atomic::AtomicU64,
}

#[derive(serde::Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: Option<u64>,
}

impl Auth {
    /// A holder that fetches its first token lazily.
    pub fn new(source: TokenSource, http: reqwest::Client) -> Auth {
        Auth {
            source,
            http,
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            fetched: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many tokens were fetched or read so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fresh(&self) -> Option<Token> {
        let guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let cur = guard.as_ref()?;
        if cur.refresh_at.is_some_and(|t| Instant::now() >= t) {
            return None;
        }
        Some(Token {
            value: cur.value.clone(),
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
        let (value, lifetime) = self.fetch().await?;
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let generation = guard.as_ref().map_or(1, |c| c.generation + 1);
        let refresh_at = lifetime.map(|l| Instant::now() + l.saturating_sub(margin(l)));
        *guard = Some(Current {
            value: value.clone(),
            generation,
            refresh_at,
        });
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Token { value, generation })
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
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
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
                    last = format!("{token_url}: {}", crate::api::describe_transport(&e));
                    continue;
                }
            };
            let status = resp.status();
            if status.is_server_error() || status.as_u16() == 429 {
                last = format!("{token_url} answered {status}");
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
                return Err(AuthError::Refused(format!(
                    "{token_url} answered {status} {reason}; check CLOUDCOCKPIT_CLIENT_ID, CLOUDCOCKPIT_CLIENT_SECRET and --scope"
                )));
            }
            let reply: TokenReply = resp.json().await.map_err(|_| {
                AuthError::Refused(format!("{token_url} answered without an access_token"))
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
        let shown = format!("{:?}", TokenSource::Static(a.value));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[tokio::test]
    async fn token_file_is_reread_on_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "one\n").unwrap();
        let auth = Auth::new(TokenSource::File(path.clone()), reqwest::Client::new());
        let first = auth.token().await.unwrap();
        assert_eq!(first.value.expose_secret(), "one");
        std::fs::write(&path, "two").unwrap();
        let second = auth.refresh(Some(first.generation)).await.unwrap();
        assert_eq!(second.value.expose_secret(), "two");
        // A caller holding the old generation does not force another read.
        let again = auth.refresh(Some(first.generation)).await.unwrap();
        assert_eq!(again.generation, second.generation);
        assert_eq!(auth.fetched(), 2);
    }
}
