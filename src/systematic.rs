//! Systematic failures (SPEC): an update whose first rows that got an answer all failed the same
//! way is stopped instead of sending every row to the same refusal (the wrong tenant, a field the
//! API refuses for every customer, a contract change). 100,000 useless calls and a results file
//! to clean up are worse than a stop after 20 that quotes the API's error. The same for an API
//! that cannot be reached: the first rows all failing to connect the same way (refused, a name
//! that does not resolve, TLS to a server that speaks plain http, timed out) stop the run naming
//! the cause, instead of every row of the file retried against it.
//! `--max-failures` (a count or a share of the rows finished) is the rule the user sets instead.

use std::sync::Mutex;

use crate::http::client::Unreachable;
use crate::outcome::{Outcome, OutcomeKind};
use crate::stop::Stop;

/// Rows that must have failed alike before the run is stopped.
pub const ROWS: u32 = 20;

/// Watches the first [`ROWS`] rows that got an answer from the API, and the first [`ROWS`] rows
/// sent.
#[derive(Default)]
pub struct Watch {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Answered rows seen so far (counting stops at [`ROWS`]).
    answered: u32,
    /// The status and error of the first answered row, while every one since failed alike.
    first: Option<(u16, String)>,
    /// A row succeeded or failed differently: the rule cannot fire any more.
    settled: bool,
    /// Rows that failed to reach the API, all the same way so far.
    unreached: u32,
    /// That way.
    way: Option<Unreachable>,
    /// A row reached the API, or failed to reach it another way: that rule cannot fire any more.
    reached: bool,
}

impl Watch {
    /// Notes a finished row; returns the stop when this row makes the [`ROWS`]th answered row
    /// failing with the same 4xx and none succeeded, or the [`ROWS`]th row that failed to reach
    /// the API the same way as all the rows before it.
    pub fn see(&self, outcome: &Outcome) -> Option<Stop> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(way) = s.unreached(outcome) {
            return Some(Stop::Unreachable(way.describe().to_string()));
        }
        // Rows that never reached the API (invalid, timed out, refused connections) say
        // nothing about how the API treats rows.
        let status = outcome.http_status?;
        if s.settled {
            return None;
        }
        let same_refusal = outcome.kind == OutcomeKind::Failed
            && (400..500).contains(&status)
            && status != 429
            && s.first.as_ref().is_none_or(|(first, _)| *first == status);
        if !same_refusal {
            s.settled = true;
            return None;
        }
        s.first
            .get_or_insert_with(|| (status, outcome.error.clone()));
        s.answered += 1;
        if s.answered < ROWS {
            return None;
        }
        s.settled = true;
        s.first
            .clone()
            .map(|(status, error)| Stop::Systematic { status, error })
    }
}

impl State {
    /// The rule on rows that failed to reach the API: the way, when this row is the
    /// [`ROWS`]th to fail it and every sent row before it failed the same way.
    fn unreached(&mut self, outcome: &Outcome) -> Option<Unreachable> {
        if self.reached || outcome.kind == OutcomeKind::Invalid {
            // Rows never sent say nothing about the connection.
            return None;
        }
        let way = (outcome.kind == OutcomeKind::Failed && outcome.http_status.is_none())
            .then(|| Unreachable::named_in(&outcome.error))
            .flatten();
        match way {
            Some(way) if self.way.is_none_or(|w| w == way) => {
                self.way = Some(way);
                self.unreached += 1;
                if self.unreached < ROWS {
                    return None;
                }
                self.reached = true;
                Some(way)
            }
            // Reached, or failed to reach it another way.
            _ => {
                self.reached = true;
                None
            }
        }
    }
}

/// `--max-failures`: a count or a share of the rows finished.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxFailures {
    Count(u64),
    Percent(f64),
}

impl MaxFailures {
    /// Rows finished before a percentage is judged, so one early failure does not stop a run.
    pub const MIN_ROWS_FOR_PERCENT: u64 = 20;

    /// Has the limit been reached, with `failed` of `done` rows failed?
    pub fn reached(&self, failed: u64, done: u64) -> bool {
        match *self {
            MaxFailures::Count(n) => failed >= n,
            MaxFailures::Percent(p) => {
                // Workers count a failure before the results writer counts the row done, so
                // `done` may lag: the rows finished are at least the rows failed.
                let done = done.max(failed);
                done >= Self::MIN_ROWS_FOR_PERCENT && (failed as f64) * 100.0 > p * done as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: OutcomeKind, status: Option<u16>, error: &str) -> Outcome {
        let mut input = crate::input::Input::from_reader(
            Box::new(std::io::Cursor::new(
                b"customerId\n3f2504e0-4f89-11d3-9a0c-0305e82c3301\n".to_vec(),
            )),
            "t.csv",
            crate::input::InputOptions::default(),
        )
        .unwrap();
        let row = input.next_row().unwrap().unwrap();
        Outcome {
            kind,
            http_status: status,
            error: error.to_string(),
            ..Outcome::new(row)
        }
    }

    #[test]
    fn twenty_answered_rows_failing_alike_fire_once() {
        let w = Watch::default();
        let bad = |e: &str| outcome(OutcomeKind::Failed, Some(400), e);
        // Rows without an answer do not count, nor do they settle the rule.
        assert!(w.see(&outcome(OutcomeKind::Invalid, None, "x")).is_none());
        assert!(
            w.see(&outcome(OutcomeKind::Failed, None, "timed out"))
                .is_none()
        );
        for _ in 1..ROWS {
            assert!(w.see(&bad("PATCH 400 Bad Request: first")).is_none());
        }
        let fired = w.see(&bad("PATCH 400 Bad Request: last"));
        assert_eq!(
            fired,
            Some(Stop::Systematic {
                status: 400,
                error: "PATCH 400 Bad Request: first".into()
            })
        );
        assert!(w.see(&bad("again")).is_none(), "fires once");
    }

    #[test]
    fn a_success_a_429_or_another_status_settles_it() {
        let cases = [
            outcome(OutcomeKind::Accepted, Some(202), ""),
            outcome(OutcomeKind::Unchanged, Some(200), ""),
            outcome(OutcomeKind::Failed, Some(429), "throttled"),
            outcome(OutcomeKind::Failed, Some(403), "other"),
            outcome(OutcomeKind::Failed, Some(500), "server"),
        ];
        for odd in cases {
            let w = Watch::default();
            let bad = outcome(OutcomeKind::Failed, Some(400), "bad");
            assert!(w.see(&bad).is_none());
            assert!(w.see(&odd).is_none());
            for _ in 0..ROWS * 2 {
                assert!(w.see(&bad).is_none(), "{:?}", odd.http_status);
            }
        }
    }

    /// Twenty sent rows all failing to reach the API the same way stop the run naming the
    /// cause; invalid rows (never sent) do not count; a row that reached the API, or failed
    /// another way, settles it.
    #[test]
    fn twenty_rows_that_could_not_reach_the_api_alike_fire_once() {
        let refused = || {
            outcome(
                OutcomeKind::Failed,
                None,
                "connection refused (gave up after 5 attempts)",
            )
        };
        let w = Watch::default();
        assert!(w.see(&outcome(OutcomeKind::Invalid, None, "x")).is_none());
        for _ in 1..ROWS {
            assert!(w.see(&refused()).is_none());
            assert!(w.see(&outcome(OutcomeKind::Invalid, None, "x")).is_none());
        }
        assert_eq!(
            w.see(&refused()),
            Some(Stop::Unreachable("connection refused".into()))
        );
        assert!(w.see(&refused()).is_none(), "fires once");

        let others = [
            outcome(OutcomeKind::Accepted, Some(202), ""),
            outcome(
                OutcomeKind::Failed,
                Some(503),
                "PATCH 503 (gave up after 5 attempts)",
            ),
            outcome(
                OutcomeKind::Failed,
                None,
                "timed out (gave up after 5 attempts)",
            ),
            outcome(
                OutcomeKind::Failed,
                None,
                "connection dropped while reading the answer",
            ),
        ];
        for other in others {
            let w = Watch::default();
            assert!(w.see(&refused()).is_none());
            assert!(w.see(&other).is_none());
            for _ in 0..ROWS * 2 {
                assert!(w.see(&refused()).is_none(), "{}", other.error);
            }
        }
    }
}
