//! One API call with its retries: the pacer's turn and a token first, then the answer judged by
//! `retry::decide` (done, wait and send again, or refresh the token after a 401). A stop while
//! waiting leaves the call unsent, for `--resume`. Every command's calls go through here: the
//! workers' GETs and PATCHes, and export's pages.

use std::time::Duration;

use uuid::Uuid;

use crate::http::api::Api;
use crate::http::api::Reply;
use crate::http::auth::Auth;
use crate::http::auth::{AuthError, Token};
use crate::pacer::Pacer;
use crate::pipeline::retry::{self, Retry};
use crate::stop::Stop;
use crate::stop::Stopper;

/// What one call asks of the API.
pub(crate) enum Call {
    Get,
    Patch(bytes::Bytes),
    /// A page of the list call, with its encoded query.
    List(String),
}

/// The result of one call, after its retries.
pub(crate) enum Called {
    /// The run stopped before the call was sent, or while it waited to retry (after a 429, a 5xx
    /// or a dropped connection): the row is not recorded, and `--resume` sends it.
    NotSent,
    Done {
        reply: Reply,
        attempts: u32,
    },
}

/// The connection a run's calls share: the API client, the tokens, the one pacer and the retry
/// policy, made once from the connection flags (`config::connect`) for whichever command runs.
pub(crate) struct Link {
    pub api: Api,
    pub auth: Auth,
    pub pacer: Pacer,
    pub policy: retry::Policy,
}

impl Link {
    /// What one call needs: this connection, and the run's stop.
    pub(crate) fn caller<'a>(&'a self, stopper: &'a Stopper) -> Caller<'a> {
        Caller {
            api: &self.api,
            auth: &self.auth,
            pacer: &self.pacer,
            stopper,
            policy: self.policy,
        }
    }
}

/// What one call needs, lent by the run's [`Link`].
pub(crate) struct Caller<'a> {
    pub api: &'a Api,
    pub auth: &'a Auth,
    pub pacer: &'a Pacer,
    pub stopper: &'a Stopper,
    pub policy: retry::Policy,
}

impl Caller<'_> {
    /// One call with its retries. `row` is for the logs.
    pub(crate) async fn call(&self, row: u64, id: Uuid, what: Call, correlation: Uuid) -> Called {
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            let Some(token) = self.ready_to_send().await else {
                return Called::NotSent;
            };
            let sent = self.pacer.sent(attempts > 0);
            attempts += 1;
            let reply = self.send(id, &what, &token, correlation, sent).await;
            self.pacer.answered(sent, status_of(&reply));
            tracing::debug!(row, customer = %id, correlation = %correlation, attempt = attempts, reply = ?short(&reply), "call");
            if proves_the_token(&reply) {
                self.auth.accepted(token.generation);
            }
            let decision = retry::decide(reply, attempts, refreshed, &self.policy);
            if let Some(pause) = decision.pause_all {
                self.pacer.throttled(sent, pause);
            }
            match decision.next {
                Retry::Done { reply, refused } => {
                    if let Some(error) = refused {
                        self.stopper.stop(Stop::AuthRefused(error));
                    }
                    return Called::Done { reply, attempts };
                }
                Retry::After(wait) => {
                    if !self.pause_unless_stopped(wait).await {
                        return Called::NotSent;
                    }
                }
                Retry::Refresh(error) => {
                    refreshed = true;
                    if let Some(ended) = self.refresh_after_401(&token, error, attempts).await {
                        return ended;
                    }
                }
            }
        }
    }

    /// Waits for the pacer's turn and a token. `None` if the run stopped meanwhile, or no token
    /// could be had (which stops the run): the call is then left for `--resume`.
    async fn ready_to_send(&self) -> Option<Token> {
        if self.stopper.is_stopped() {
            return None;
        }
        let cancel = &self.stopper.token;
        // The usual case (no pacing to wait for, a fresh token) takes neither select: each
        // registers with the cancellation token, a lock shared by every worker.
        let mut let_go = false;
        if !self.pacer.is_open() {
            let_go = tokio::select! {
                biased;
                _ = cancel.cancelled() => return None,
                counted = self.pacer.wait() => counted,
            };
        }
        let token = self.token_unless_stopped().await;
        if token.is_none() && let_go {
            // Let go by the pacer, and not sent: no longer in flight.
            self.pacer.unsent();
        }
        token
    }

    /// A token for the call: `None` if the run stopped meanwhile, or none could be had (which
    /// stops the run).
    async fn token_unless_stopped(&self) -> Option<Token> {
        let cancel = &self.stopper.token;
        if let Some(t) = self.auth.fresh() {
            return Some(t);
        }
        // Waiting for a token can take a while (a refresh that retries); a stop meanwhile must
        // not let this call go out.
        let got = tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            got = self.auth.token() => got,
        };
        match got {
            Ok(t) => Some(t),
            Err(e) => {
                self.stopper.stop(match &e {
                    AuthError::Refused(_) => Stop::AuthRefused(e.to_string()),
                    AuthError::Unavailable(_) => Stop::TokenEndpoint(e.to_string()),
                });
                None
            }
        }
    }

    /// One attempt of the call, `sent` when the pacer counted it sent.
    async fn send(
        &self,
        id: Uuid,
        what: &Call,
        token: &Token,
        correlation: Uuid,
        sent: crate::pacer::Sent,
    ) -> Reply {
        // An answer's rate-limit headers pace the calls after it (before it counts as answered,
        // so that the call is still in flight when what is left is reckoned).
        let seen = |h: &reqwest::header::HeaderMap| self.pacer.announced(sent, h);
        match what {
            Call::Get => self.api.get_customer(id, token, correlation, &seen).await,
            Call::Patch(b) => {
                self.api
                    .patch_account_info(id, b.clone(), token, correlation, &seen)
                    .await
            }
            Call::List(q) => self.api.list_customers(q, token, correlation, &seen).await,
        }
    }

    /// Waits `wait` before a retry; false if the run stopped first. A stop leaves the row for
    /// `--resume`, which sends the retry this call was waiting for.
    async fn pause_unless_stopped(&self, wait: Duration) -> bool {
        let cancel = &self.stopper.token;
        if cancel.is_cancelled() {
            return false;
        }
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    /// A 401 on `token`: one refresh shared by every worker that saw it, then the call once
    /// more (`None`). A refresh that fails (a token from the environment cannot be refreshed)
    /// stops the run and fails the call. Refused, so not applied: a stop during the refresh
    /// leaves the row for `--resume`.
    async fn refresh_after_401(
        &self,
        token: &Token,
        error: String,
        attempts: u32,
    ) -> Option<Called> {
        let cancel = &self.stopper.token;
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Some(Called::NotSent),
            r = self.auth.refresh(Some(token.generation)) => r,
        };
        match result {
            Ok(_) if cancel.is_cancelled() => Some(Called::NotSent),
            Ok(_) => None,
            Err(e) => {
                // A token endpoint that cannot be reached is named as such (check --token-url
                // and the network), not as credentials the API refused.
                self.stopper.stop(match &e {
                    AuthError::Refused(_) => Stop::AuthRefused(error.clone()),
                    AuthError::Unavailable(why) => Stop::TokenEndpoint(why.clone()),
                });
                Some(Called::Done {
                    reply: Reply::Fail {
                        status: Some(401),
                        error: format!("{error} ({e})"),
                    },
                    attempts,
                })
            }
        }
    }
}

/// An answer past authentication proves the token works (a 5xx or a timeout proves nothing).
fn proves_the_token(reply: &Reply) -> bool {
    matches!(
        reply,
        Reply::Customer(_)
            | Reply::Page(_)
            | Reply::Accepted(_)
            | Reply::Fail {
                status: Some(_),
                ..
            }
    )
}

/// The HTTP status of a reply, `None` when no answer came.
fn status_of(reply: &Reply) -> Option<u16> {
    match reply {
        Reply::Customer(_) | Reply::Page(_) => Some(200),
        Reply::Accepted(s) => Some(*s),
        Reply::Unauthorized(_) => Some(401),
        Reply::Retry { status, .. } | Reply::Fail { status, .. } => *status,
    }
}

/// A one-word view of a reply for debug logs (never a body or a header).
fn short(reply: &Reply) -> String {
    match reply {
        Reply::Customer(_) | Reply::Page(_) => "200".into(),
        Reply::Accepted(s) => s.to_string(),
        Reply::Retry { status, error, .. } => status.map_or(error.clone(), |s| s.to_string()),
        Reply::Unauthorized(_) => "401".into(),
        Reply::Fail { status, error } => status.map_or(error.clone(), |s| s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;
    use crate::http::auth::{Patience, TokenSource};
    use crate::pacer::PaceSettings;
    use crate::sandbox::{Sandbox, SandboxConfig};

    /// The sandbox's client credentials at `token_url`, tried `max_attempts` times.
    fn client_auth(
        config: &SandboxConfig,
        token_url: String,
        max_attempts: u32,
        client: &reqwest::Client,
    ) -> Auth {
        Auth::new(
            TokenSource::Client {
                id: config.client_id.clone(),
                secret: SecretString::from(config.client_secret.clone()),
                token_url,
                scope: "s".into(),
            },
            Patience {
                max_attempts,
                backoff_base: Duration::from_millis(1),
            },
            client,
        )
        .unwrap()
    }

    /// A pacer at `rate`, without adapting or headers' reserve.
    fn pacer(rate: &str) -> Pacer {
        Pacer::new(PaceSettings {
            rate: rate.parse().unwrap(),
            burst: std::num::NonZeroU32::MIN,
            adapt: false,
            reserve: 0.0,
        })
    }

    /// A caller that tries each call `max_attempts` times.
    fn caller<'a>(
        api: &'a Api,
        auth: &'a Auth,
        pacer: &'a Pacer,
        stopper: &'a Stopper,
        max_attempts: u32,
    ) -> Caller<'a> {
        Caller {
            api,
            auth,
            pacer,
            stopper,
            policy: retry::Policy {
                max_attempts,
                backoff_base: Duration::from_millis(1),
                max_retry_after: Duration::from_secs(1),
            },
        }
    }

    /// A call the pacer let go and that is not sent after all (no token could be had, which
    /// stops the run) is no longer counted in flight: counted, it would hold back a place of the
    /// allowance the API's headers announce for the rest of the run.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_call_let_go_and_not_sent_is_not_in_flight() {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let config = SandboxConfig::default();
        let token_server = Sandbox::start(config.clone(), local).await.unwrap();
        let token_url = token_server.token_url();
        token_server.shutdown();
        token_server.stopped().await;
        let client = crate::http::client::build(Duration::from_secs(5), 1).unwrap();
        let auth = client_auth(&config, token_url, 1, &client);
        let api = Api::new(&client, "http://127.0.0.1:9", "t.example").unwrap();
        // Paced, so the call takes the pacer's turn.
        let pacer = pacer("100/s");
        let stopper = Stopper::default();
        let caller = caller(&api, &auth, &pacer, &stopper, 1);
        let id = Uuid::parse_str("6a1f0c2e-1b7d-4c3a-9e55-000000000001").unwrap();
        let called = tokio::time::timeout(
            Duration::from_secs(30),
            caller.call(2, id, Call::Get, Uuid::nil()),
        )
        .await
        .expect("the call ends");
        assert!(matches!(called, Called::NotSent), "not sent");
        assert!(matches!(stopper.reason(), Some(Stop::TokenEndpoint(_))));
        assert_eq!(pacer.in_flight(), 0);
        assert_eq!(pacer.stats().calls, 0);
    }

    /// A 401, then a token endpoint that has gone away: the run stops naming the token endpoint
    /// (check --token-url and the network), not as credentials the API refused; the row fails
    /// with the API's 401 and why no new token came.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_refresh_that_cannot_reach_the_token_endpoint_stops_naming_it() {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        // The API accepts only its own static token, so the issued one gets a 401.
        let api_server = Sandbox::start(
            SandboxConfig {
                static_token: Some("t0k".into()),
                ..SandboxConfig::default()
            },
            local,
        )
        .await
        .unwrap();
        let config = SandboxConfig::default();
        let token_server = Sandbox::start(config.clone(), local).await.unwrap();
        let client = crate::http::client::build(Duration::from_secs(5), 1).unwrap();
        let auth = client_auth(&config, token_server.token_url(), 2, &client);
        auth.token().await.unwrap();
        token_server.shutdown();
        token_server.stopped().await;

        let api = Api::new(&client, &api_server.base_url(), "t.example").unwrap();
        let pacer = pacer("unlimited");
        let stopper = Stopper::default();
        let caller = caller(&api, &auth, &pacer, &stopper, 3);
        let id = Uuid::parse_str("6a1f0c2e-1b7d-4c3a-9e55-000000000001").unwrap();
        let called = caller.call(2, id, Call::Get, Uuid::nil()).await;
        let Called::Done {
            reply: Reply::Fail { status, error },
            attempts,
        } = called
        else {
            panic!("the row fails");
        };
        assert_eq!((status, attempts), (Some(401), 1));
        assert!(
            error.starts_with("GET 401 Unauthorized") && error.contains("gave up after 2 attempts"),
            "{error}"
        );
        let Some(Stop::TokenEndpoint(why)) = stopper.reason() else {
            panic!("stopped naming the token endpoint: {:?}", stopper.reason());
        };
        assert!(
            why.starts_with(&format!("the token endpoint {}", token_server.token_url())),
            "{why}"
        );
    }
}
