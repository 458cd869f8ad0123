//! Everything ccbulk sends over the network, through one `reqwest::Client` per run: `client`
//! builds it (TLS, proxies, timeouts, no redirects, reqwest's own retries off), checks servers'
//! addresses and reads answers up to their size limits; `api` makes the API calls and
//! classifies their answers; `token` makes the token request; `auth` holds the tokens and
//! decides when to ask for a new one; `backoff` says how long to wait before trying again.
//! Inside, each uses only those listed before it: `backoff`, `client`, `token`, `auth`, `api`.
//!
//! Decided here: reqwest, the ecosystem's standard client, for API calls and the token request
//! alike, so both get the same TLS, proxy, timeout and redirect rules from one builder a reader
//! already knows. A hand-made client on hyper went faster on a loopback benchmark, a difference
//! no run can see: a tenant's rate is tens of calls a second, and reqwest's extra microseconds of
//! CPU a call are a hundredth of a percent of a core at that rate (BENCHMARKS.md).

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod backoff;
pub(crate) mod client;
pub(crate) mod token;
