//! Everything ccbulk sends over the network, on one HTTP stack: `connection` is the one place
//! that sets up a connection (address checks, TLS, proxy, timeouts, answer size limits, no
//! redirects) for every call; `api` makes the API calls and classifies their answers; `token`
//! makes the token request; `auth` holds the tokens and decides when to ask for a new one;
//! `backoff` says how long to wait before trying again. Inside, each uses only those listed
//! before it: `backoff`, `connection`, `token`, `auth`, `api`.
//!
//! Decided here: API calls and the token request both go through hyper on this one connector,
//! and reqwest is only a test client, because API calls through reqwest ran at 59.8k requests/s
//! on the loopback benchmark against ~104k through hyper with one keep-alive connection per
//! worker (BENCHMARKS.md, b34ae22 → 47e50e0: reqwest's redirect, pool and URL layers were a
//! quarter of a run's CPU), which would break "within 10 % of before", while the token request
//! (one an hour) costs nothing extra on hyper and so gets the same TLS, proxy, timeout and size
//! limit instead of a second setup that could disagree.

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod backoff;
pub(crate) mod connection;
pub(crate) mod token;
