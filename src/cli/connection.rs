//! How to reach the API and how fast (`ConnectionArgs`): the options update, replay, plan and
//! export share, with their defaults.

use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::Args;

use super::heading::*;
use crate::rate::Rate;

/// The API root CloudCockpit documents.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudcockpit.com";
/// The Microsoft Entra token endpoint CloudCockpit documents for client credentials.
pub const ENTRA_TOKEN_URL: &str =
    "https://login.microsoftonline.com/4e806121-ff28-4286-ab4e-3be0a08f9ce0/oauth2/v2.0/token";
/// The OAuth2 scope CloudCockpit documents for its API.
pub const ENTRA_SCOPE: &str = "api://b92a36a4-feb8-4f47-a69c-29a180aa6d0a/.default";
// Defaults, named once here for the options below. (A printed follow-up command leaves out any
// option the user did not give: clap says which, `cli/given.rs`.)
const DEFAULT_RATE: &str = "10/s";
const DEFAULT_BURST: &str = "1";
const DEFAULT_RESERVE: &str = "0%";
const DEFAULT_MAX_ATTEMPTS: &str = "5";
const DEFAULT_TIMEOUT: &str = "30s";
const DEFAULT_MAX_RETRY_AFTER: &str = "5m";

/// `--reserve N%`: a share of the API's allowance left unused, below 100 %.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reserve(f64);

impl Reserve {
    /// The share as a fraction, 0 to below 1.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl std::str::FromStr for Reserve {
    type Err = String;

    fn from_str(s: &str) -> Result<Reserve, String> {
        let n = s.trim().strip_suffix('%').unwrap_or(s.trim());
        match n.trim().parse::<f64>() {
            Ok(v) if (0.0..100.0).contains(&v) => Ok(Reserve(v)),
            _ => Err(format!(
                "\"{s}\" is not a share to reserve: write N% with N from 0 to below 100"
            )),
        }
    }
}

impl std::fmt::Display for Reserve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// How to reach the API, and how fast: the options update, replay, plan and export share (same
/// names, defaults and environment variables), `--sandbox` included. The pacing options come
/// first, so that "Pacing and retries" comes before "Connection" in help.
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// API calls per second at most, GET and PATCH alike (N/s or a bare N, N/min, N/h, or
    /// unlimited).
    ///
    /// A 429 lowers the pace below it, which then probes back up to it (unless --no-adapt).
    #[arg(long, default_value = DEFAULT_RATE, help_heading = PACING)]
    pub rate: Rate,

    /// Keep --rate as given: no lowering after a 429 (its Retry-After still pauses every call).
    #[arg(long, help_heading = PACING, hide_short_help = true)]
    pub no_adapt: bool,

    /// Leave this share of the API's allowance to other integrations (N%).
    ///
    /// Of what the API's rate-limit headers announce, else of the limit learnt from its 429s.
    #[arg(long, value_name = "N%", default_value = DEFAULT_RESERVE, help_heading = PACING,
          hide_short_help = true)]
    pub reserve: Reserve,

    /// The longest Retry-After honoured as given; a longer one is cut to this (and so is a
    /// rate-limit header's reset).
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_MAX_RETRY_AFTER,
          help_heading = PACING, hide_short_help = true)]
    pub max_retry_after: humantime::Duration,

    /// Calls that may go at once after idle time.
    #[arg(long, default_value = DEFAULT_BURST, value_parser = at_least_one::<NonZeroU32>,
          help_heading = PACING, hide_short_help = true)]
    pub burst: NonZeroU32,

    /// Attempts per call, the first included.
    #[arg(long, default_value = DEFAULT_MAX_ATTEMPTS, value_parser = at_least_one::<NonZeroU32>,
          help_heading = PACING, hide_short_help = true)]
    pub max_attempts: NonZeroU32,

    /// One attempt's time limit (500ms, 30s, 2m).
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_parser = above_zero,
          help_heading = PACING, hide_short_help = true)]
    pub timeout: humantime::Duration,

    /// First retry delay; doubles with each attempt (with jitter).
    #[arg(
        long,
        env = "CCBULK_BACKOFF_BASE",
        default_value = "500ms",
        hide = true
    )]
    pub backoff_base: humantime::Duration,

    /// Portal domain, sent as X-Tenant.
    #[arg(long, env = "CLOUDCOCKPIT_TENANT", help_heading = CONNECTION)]
    pub tenant: Option<String>,

    /// API root.
    #[arg(
        long,
        env = "CLOUDCOCKPIT_BASE_URL",
        default_value = DEFAULT_BASE_URL,
        help_heading = CONNECTION
    )]
    pub base_url: String,

    /// A file holding the bearer token (re-read when a 401 comes back).
    #[arg(long, value_name = "PATH", help_heading = CONNECTION, hide_short_help = true)]
    pub token_file: Option<PathBuf>,

    /// Where client credentials (CLOUDCOCKPIT_CLIENT_ID/SECRET) are exchanged for a token.
    #[arg(
        long,
        value_name = "URL",
        env = "CLOUDCOCKPIT_TOKEN_URL",
        default_value = ENTRA_TOKEN_URL,
        help_heading = CONNECTION,
        hide_short_help = true
    )]
    pub token_url: String,

    /// OAuth2 scope for client credentials.
    #[arg(long, value_name = "S", env = "CLOUDCOCKPIT_SCOPE", default_value = ENTRA_SCOPE,
          help_heading = CONNECTION, hide_short_help = true)]
    pub scope: String,

    /// Run against the built-in simulated API on a loopback port (no tenant or credentials).
    #[arg(long, help_heading = CONNECTION)]
    pub sandbox: bool,
}

/// A time limit of zero would fail every call before it could be sent (and each failure would
/// be retried): refused up front, as a zero count is.
pub(super) fn above_zero(s: &str) -> Result<humantime::Duration, String> {
    let d: humantime::Duration = s
        .trim()
        .parse()
        .map_err(|e| format!("\"{s}\": {e} (e.g. 30s)"))?;
    if d.is_zero() {
        return Err("must be more than 0 (e.g. 500ms, 30s)".to_string());
    }
    Ok(d)
}

/// A count that must be at least 1 (`--concurrency`, `--burst`, `--max-attempts`), with a
/// message in the tool's words rather than the standard library's ("number would be zero for
/// non-zero type").
pub(super) fn at_least_one<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not a whole number"))?;
    if n == 0 {
        return Err("must be at least 1".to_string());
    }
    s.trim().parse().map_err(|_| format!("{n} is too large"))
}
