//! Pacing from what the API's rate-limit headers announce (`headers.rs` reads them): never more
//! than they say is left, less the calls still in flight and the share `--reserve` keeps for
//! other integrations, spread evenly until the allowance renews; nothing at all once it is
//! spent, until it renews.
//!
//! Once the renewal has come, how much it gave back is not known (a window renews whole, a bucket
//! refills, a sliding window frees a call at a time): one call goes, and its answer says.
//!
//! Resets come in whole seconds, rounded: a reset of `t` seconds said at `a` is somewhere in
//! (`a + t − 1`, `a + t`]. Successive answers narrow that down (each one's interval holds the
//! same instant while the window is the same), so the pace spends what is left by the earliest
//! the renewal may come, and waits only until the latest: a window renewed early is not wasted.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::headers::{Announced, Family};

/// A rate that holds nothing back, yet keeps every call taking its turn (where the calls in
/// flight are counted).
const UNPACED: f64 = 1e6;

/// What the headers allow now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cap {
    /// At most this many calls a second.
    Rate(f64),
    /// Nothing left: no call before this instant (or an answer that says more).
    Hold(Instant),
}

/// One announcement and when its allowance renews.
#[derive(Clone, Copy, Debug)]
struct Seen {
    said: Announced,
    /// The earliest and latest instant of the renewal, when a reset was said.
    renews: Option<(Instant, Instant)>,
}

/// The allowance as the latest answer announced it.
#[derive(Debug, Default)]
pub(super) struct Allowance {
    latest: Vec<Seen>,
    /// The families of headers the run paced from, for the summary.
    pub families: BTreeSet<Family>,
    /// `--reserve` as a fraction.
    pub reserve: f64,
}

impl Allowance {
    /// Nothing announced yet; `reserve` is `--reserve` as a fraction.
    pub fn new(reserve: f64) -> Allowance {
        Allowance {
            reserve,
            ..Allowance::default()
        }
    }

    /// An answer at `now` announced `found` (nothing: it said nothing, and what earlier answers
    /// said stands).
    pub fn announce(&mut self, now: Instant, found: Vec<Announced>) {
        if found.is_empty() {
            return;
        }
        let latest = found
            .into_iter()
            .map(|said| {
                let renews = said.reset.map(|t| {
                    let whole = t.subsec_nanos() == 0 && !t.is_zero();
                    let lo = now
                        + t.saturating_sub(if whole {
                            Duration::from_secs(1)
                        } else {
                            Duration::ZERO
                        });
                    (lo, now + t)
                });
                // The same window as before (the intervals overlap): narrow it down.
                let before = self
                    .latest
                    .iter()
                    .find(|s| s.said.family == said.family && s.said.limit == said.limit);
                let renews = match (renews, before.and_then(|s| s.renews)) {
                    (Some((lo, hi)), Some((lo0, hi0))) if lo < hi0 && lo0 < hi => {
                        Some((lo.max(lo0), hi.min(hi0)))
                    }
                    (r, _) => r,
                };
                Seen { said, renews }
            })
            .collect();
        self.latest = latest;
    }

    /// What the headers allow at `now` with `in_flight` calls sent and not yet answered: the
    /// strictest of what each announcement allows; `None` when they hold nothing back.
    pub fn cap(&mut self, now: Instant, in_flight: u64) -> Option<Cap> {
        let mut strictest: Option<Cap> = None;
        for seen in &self.latest {
            let Some(cap) = self.cap_of(seen, now, in_flight) else {
                continue;
            };
            self.families.insert(seen.said.family);
            strictest = Some(match (strictest, cap) {
                (Some(Cap::Hold(a)), Cap::Hold(b)) => Cap::Hold(a.max(b)),
                (Some(Cap::Hold(a)), _) | (_, Cap::Hold(a)) => Cap::Hold(a),
                (Some(Cap::Rate(a)), Cap::Rate(b)) => Cap::Rate(a.min(b)),
                (None, c) => c,
            });
        }
        strictest
    }

    fn cap_of(&self, seen: &Seen, now: Instant, in_flight: u64) -> Option<Cap> {
        let said = &seen.said;
        let kept = self.reserve * said.limit.unwrap_or(said.remaining) as f64;
        // Not said when it renews (APIM's remaining-calls alone): no pace can be drawn from it,
        // and the 429s teach as without headers.
        let (lo, hi) = seen.renews?;
        if now >= hi {
            // Renewed since, by how much is not known (a bucket refills, a sliding window frees
            // a call at a time): one call at a time until an answer says.
            return Some(if in_flight == 0 {
                Cap::Rate(UNPACED)
            } else {
                Cap::Hold(now + Duration::from_secs(1))
            });
        }
        let usable = said.remaining as f64 - kept - in_flight as f64;
        if usable < 1.0 {
            return Some(Cap::Hold(hi));
        }
        let until = lo.saturating_duration_since(now).as_secs_f64().max(0.001);
        Some(Cap::Rate(usable / until))
    }
}
