//! The connection flags (`cli::ConnectionArgs`) turned once into one [`Connect`], the way
//! ripgrep turns its low-level flags into the objects that use them: update, replay, plan and
//! export all get their API client, tokens, pacer and retry policy from [`Connect::open`], and
//! say why they stopped for want of a token in the same words ([`no_token`]). A command that
//! built any of these itself could drift from the others (export once told an unreachable token
//! endpoint apart from refused credentials differently from update).

use std::time::Duration;

use crate::cli::ConnectionArgs;
use crate::http::api::Api;
use crate::http::auth::{Auth, AuthError, Patience, TokenSource};
use crate::http::client;
use crate::pacer::{PaceSettings, Pacer};
use crate::pipeline::call::Link;
use crate::pipeline::retry;
use crate::stop::Stop;

use super::{SetupError, no_credentials_in, tenant, token_source};

/// How to reach the API, checked: where, as whom, how fast and how patiently.
#[derive(Debug, Clone)]
pub struct Connect {
    /// The API root, without a trailing slash.
    pub base_url: String,
    /// The X-Tenant domain.
    pub tenant: String,
    pub token: TokenSource,
    /// One attempt's time limit, token requests included.
    pub timeout: Duration,
    pub pace: PaceSettings,
    pub policy: retry::Policy,
}

/// What [`Connect::open`] leads to.
pub(crate) enum Connected {
    /// The API, its first token fetched.
    Online(Box<Link>),
    /// No first token (credentials refused, or the token endpoint unreachable): nothing was
    /// sent.
    Refused(AuthError),
}

impl Connect {
    /// The connection flags, checked. `online` is false for a run that sends nothing to a real
    /// tenant (a dry run, the built-in sandbox): it needs no tenant, credentials or usable
    /// base URL.
    pub fn from_args(a: &ConnectionArgs, online: bool) -> Result<Connect, SetupError> {
        no_credentials_in("--base-url", &a.base_url)?;
        no_credentials_in("--token-url", &a.token_url)?;
        let tenant = tenant(a.tenant.as_deref(), online)?;
        let token = if online {
            token_source(a.token_file.as_deref(), &a.token_url, &a.scope)?
        } else {
            TokenSource::None
        };
        if online {
            // The API client's own rule, so a bad URL is refused here, before anything else.
            crate::http::api::api_root(&a.base_url).map_err(SetupError)?;
        }
        Ok(Connect {
            base_url: a.base_url.trim_end_matches('/').to_string(),
            tenant,
            token,
            timeout: a.timeout.into(),
            pace: PaceSettings {
                rate: a.rate,
                burst: a.burst,
                adapt: !a.no_adapt,
                reserve: a.reserve.fraction(),
            },
            policy: retry::Policy {
                max_attempts: a.max_attempts.get(),
                backoff_base: a.backoff_base.into(),
                max_retry_after: a.max_retry_after.into(),
            },
        })
    }

    /// The API client and the first token, before anything is written or sent: an unusable
    /// proxy or URL is a setup error; refused credentials or an unreachable token endpoint come
    /// back as [`Connected::Refused`], for the command to stop at once, saying what to check.
    /// `concurrency`: how many calls may be under way at once (the pool keeps that many
    /// connections).
    pub(crate) async fn open(&self, concurrency: usize) -> Result<Connected, SetupError> {
        // One client for the API and the token endpoint: the same TLS, proxies and time limit.
        let client = client::build(self.timeout, concurrency).map_err(SetupError)?;
        let api = Api::new(&client, &self.base_url, &self.tenant).map_err(SetupError)?;
        // Token requests are as patient as API calls: the same attempts and backoff.
        let patience = Patience {
            max_attempts: self.policy.max_attempts,
            backoff_base: self.policy.backoff_base,
        };
        let auth = Auth::new(self.token.clone(), patience, &client).map_err(SetupError)?;
        if let Err(e) = auth.token().await {
            return Ok(Connected::Refused(e));
        }
        Ok(Connected::Online(Box::new(Link {
            api,
            auth,
            // A header's reset is cut to --max-retry-after, as a Retry-After is.
            pacer: Pacer::new(self.pace).with_longest_reset(self.policy.max_retry_after),
            policy: self.policy,
        })))
    }

    /// Why a run stopped for want of a token (`then`: what that left undone), or `None` for a
    /// stop of another kind.
    pub(crate) fn stop_message(&self, stop: &Stop, then: &str) -> Option<String> {
        let e = match stop {
            Stop::AuthRefused(why) => AuthError::Refused(why.clone()),
            Stop::TokenEndpoint(why) => AuthError::Unavailable(why.clone()),
            _ => return None,
        };
        Some(no_token(&e, &self.token, then))
    }
}

/// Why no token could be had, in one wording for every command and every moment (the first
/// token or a refresh): what failed, what to check, and `then`, what that left undone
/// ("nothing was sent"). Refused credentials name the credentials of `token`'s kind; a token
/// endpoint that did not answer names the URL and the network, not credentials that may well
/// be right.
pub(crate) fn no_token(e: &AuthError, token: &TokenSource, then: &str) -> String {
    match e {
        AuthError::Refused(why) => format!(
            "authentication failed: {why}; {}; {then}",
            token.what_to_check()
        ),
        AuthError::Unavailable(why) => format!(
            "cannot get a token: {why}; check --token-url and the network (and proxy variables); {then}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One wording per kind of stop, whichever moment it came at.
    #[test]
    fn a_stop_for_want_of_a_token_reads_the_same_at_start_and_later() {
        let token = TokenSource::File("t.txt".into());
        let connect = Connect {
            base_url: "http://127.0.0.1:1".into(),
            tenant: "t".into(),
            token: token.clone(),
            timeout: Duration::from_secs(1),
            pace: PaceSettings {
                rate: "10/s".parse().unwrap(),
                burst: std::num::NonZeroU32::MIN,
                adapt: true,
                reserve: 0.0,
            },
            policy: retry::Policy {
                max_attempts: 1,
                backoff_base: Duration::from_millis(1),
                max_retry_after: Duration::from_secs(1),
            },
        };
        let down = "the token endpoint http://127.0.0.1:1/t: connection refused";
        let at_start = no_token(&AuthError::Unavailable(down.into()), &token, "x");
        let later = connect.stop_message(&Stop::TokenEndpoint(down.into()), "x");
        assert_eq!(Some(at_start.clone()), later);
        assert_eq!(
            at_start,
            format!(
                "cannot get a token: {down}; check --token-url and the network (and proxy variables); x"
            )
        );
        let refused = connect
            .stop_message(&Stop::AuthRefused("401".into()), "y")
            .unwrap();
        assert!(
            refused
                .starts_with("authentication failed: 401; check the token in --token-file t.txt")
                && refused.ends_with("; y"),
            "{refused}"
        );
        assert_eq!(connect.stop_message(&Stop::Interrupted, "z"), None);
    }
}
