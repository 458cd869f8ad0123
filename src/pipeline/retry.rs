//! What to do with an answer: send again after a wait, refresh the token and send again, or
//! stop with this answer. A pure rule ([`decide`]), so every case is tested in one table;
//! `call.rs` does what it says (sleeps, refreshes, pauses the pacer, stops the run).

use std::time::Duration;

use crate::http::api::Reply;
use crate::http::backoff::backoff;

/// The retry settings of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Attempts at most, the first included.
    pub max_attempts: u32,
    /// The first backoff when no `Retry-After` came (doubling, with jitter).
    pub backoff_base: Duration,
    /// The longest `Retry-After` honoured as given; longer ones are cut to it.
    pub max_retry_after: Duration,
}

/// The next step of a call.
#[derive(Debug)]
pub(crate) enum Retry {
    /// Send again after this wait.
    After(Duration),
    /// The token was refused once: refresh it (once per call), then send again. Carries the
    /// API's text for the message if the refresh fails.
    Refresh(String),
    /// The call is over with this answer. `refused` holds the API's text when the token was
    /// refused again after a refresh: the run stops.
    Done {
        reply: Reply,
        refused: Option<String>,
    },
}

/// What `decide` says, and whether every worker pauses (a 429: the pacer waits this long).
#[derive(Debug)]
pub(crate) struct Decision {
    pub next: Retry,
    pub pause_all: Option<Duration>,
}

/// Decides after attempt number `attempts` (from 1) answered `reply`; `refreshed` says whether
/// this call already refreshed its token.
pub(crate) fn decide(reply: Reply, attempts: u32, refreshed: bool, policy: &Policy) -> Decision {
    let next = match reply {
        Reply::Retry {
            status,
            after,
            error,
        } => {
            let wait = after.map_or_else(
                || backoff(policy.backoff_base, attempts),
                |a| a.min(policy.max_retry_after),
            );
            // A 429 pauses everyone even when this call gives up: the others would hit it too.
            let pause_all = (status == Some(429)).then_some(wait);
            let next = if attempts >= policy.max_attempts {
                Retry::Done {
                    reply: Reply::Fail {
                        status,
                        error: format!("{error} (gave up after {attempts} attempts)"),
                    },
                    refused: None,
                }
            } else {
                Retry::After(wait)
            };
            return Decision { next, pause_all };
        }
        Reply::Unauthorized(error) if refreshed => Retry::Done {
            reply: Reply::Fail {
                status: Some(401),
                error: format!("{error} (still refused after a token refresh)"),
            },
            refused: Some(error),
        },
        Reply::Unauthorized(error) => Retry::Refresh(error),
        // An answer (2xx or a failure not worth repeating): the call is over.
        other => Retry::Done {
            reply: other,
            refused: None,
        },
    };
    Decision {
        next,
        pause_all: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        max_attempts: 3,
        backoff_base: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(60),
    };

    fn retry(status: Option<u16>, after: Option<u64>) -> Reply {
        Reply::Retry {
            status,
            after: after.map(Duration::from_secs),
            error: "e".into(),
        }
    }

    /// What a decision looks like, in a form a table can hold.
    #[derive(Debug, PartialEq)]
    enum Seen {
        /// A wait within [min, max] milliseconds.
        After(u64, u64),
        Refresh,
        /// Done with this status and error text; refused?
        Done(Option<u16>, String, bool),
    }

    fn seen(d: &Decision) -> Seen {
        match &d.next {
            Retry::After(w) => {
                let ms = w.as_millis() as u64;
                Seen::After(ms, ms)
            }
            Retry::Refresh(_) => Seen::Refresh,
            Retry::Done { reply, refused } => {
                let (status, error) = match reply {
                    Reply::Fail { status, error } => (*status, error.clone()),
                    Reply::Accepted(s) => (Some(*s), String::new()),
                    Reply::Customer(_) | Reply::Page(_) => (Some(200), String::new()),
                    other => panic!("not a final answer: {other:?}"),
                };
                Seen::Done(status, error, refused.is_some())
            }
        }
    }

    /// (case, answer, attempts so far, refreshed already, expected, everyone paused for (ms)).
    type Case = (&'static str, Reply, u32, bool, Seen, Option<u64>);

    #[test]
    fn every_answer_class_is_decided_as_the_table_says() {
        let fail = |s: u16| Reply::Fail {
            status: Some(s),
            error: format!("HTTP {s}"),
        };
        let timeout = Reply::Retry {
            status: None,
            after: None,
            error: "timed out".into(),
        };
        let table: Vec<Case> = vec![
            (
                "200 GET",
                Reply::Customer(Default::default()),
                1,
                false,
                Seen::Done(Some(200), "".into(), false),
                None,
            ),
            (
                "202 PATCH",
                Reply::Accepted(202),
                1,
                false,
                Seen::Done(Some(202), "".into(), false),
                None,
            ),
            // A 202 whose body broke off is classified Accepted by api.rs: done, never resent.
            (
                "torn 202",
                Reply::Accepted(202),
                2,
                true,
                Seen::Done(Some(202), "".into(), false),
                None,
            ),
            (
                "400",
                fail(400),
                1,
                false,
                Seen::Done(Some(400), "HTTP 400".into(), false),
                None,
            ),
            (
                "404",
                fail(404),
                1,
                false,
                Seen::Done(Some(404), "HTTP 404".into(), false),
                None,
            ),
            (
                "409",
                fail(409),
                2,
                false,
                Seen::Done(Some(409), "HTTP 409".into(), false),
                None,
            ),
            (
                "429 Retry-After 7",
                retry(Some(429), Some(7)),
                1,
                false,
                Seen::After(7000, 7000),
                Some(7000),
            ),
            (
                "429 Retry-After over the cap",
                retry(Some(429), Some(3600)),
                1,
                false,
                Seen::After(60_000, 60_000),
                Some(60_000),
            ),
            (
                "503 Retry-After 2",
                retry(Some(503), Some(2)),
                2,
                false,
                Seen::After(2000, 2000),
                None,
            ),
            (
                "500 backoff, attempt 1",
                retry(Some(500), None),
                1,
                false,
                Seen::After(50, 100),
                None,
            ),
            (
                "502 backoff, attempt 2",
                retry(Some(502), None),
                2,
                false,
                Seen::After(100, 200),
                None,
            ),
            (
                "timeout backoff",
                timeout,
                1,
                false,
                Seen::After(50, 100),
                None,
            ),
            (
                "503 attempts exhausted",
                retry(Some(503), None),
                3,
                false,
                Seen::Done(Some(503), "e (gave up after 3 attempts)".into(), false),
                None,
            ),
            (
                "429 attempts exhausted still pauses",
                retry(Some(429), Some(5)),
                3,
                false,
                Seen::Done(Some(429), "e (gave up after 3 attempts)".into(), false),
                Some(5000),
            ),
            (
                "timeout attempts exhausted",
                retry(None, None),
                3,
                false,
                Seen::Done(None, "e (gave up after 3 attempts)".into(), false),
                None,
            ),
            (
                "401 before a refresh",
                Reply::Unauthorized("no".into()),
                1,
                false,
                Seen::Refresh,
                None,
            ),
            (
                "401 after a refresh",
                Reply::Unauthorized("no".into()),
                2,
                true,
                Seen::Done(
                    Some(401),
                    "no (still refused after a token refresh)".into(),
                    true,
                ),
                None,
            ),
        ];
        for (case, reply, attempts, refreshed, want, pause) in table {
            let d = decide(reply, attempts, refreshed, &POLICY);
            let got = seen(&d);
            match (&want, &got) {
                (Seen::After(lo, hi), Seen::After(ms, _)) => {
                    assert!(
                        lo <= ms && ms <= hi,
                        "{case}: waited {ms} ms, want {lo}..={hi}"
                    )
                }
                _ => assert_eq!(got, want, "{case}"),
            }
            let paused = d.pause_all.map(|p| p.as_millis() as u64);
            assert_eq!(paused, pause, "{case}: pause for everyone");
        }
    }
}
