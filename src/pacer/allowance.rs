//! Pacing from what the API's rate-limit headers announce (`headers.rs` reads them): never more
//! than they say is left, less the calls still in flight and the share `--reserve` keeps for
//! other integrations, spread evenly until the allowance may renew; nothing at all once it is
//! spent, until it surely has.
//!
//! Answers overtake each other (several connections, each its own latency), so the newest answer
//! is not the newest count: a call sent earlier may be counted earlier and say more is left. What
//! is left is therefore the fewest any answer said since the allowance last grew. A count that
//! says more is believed only from a call sent after the answer with the fewest came (that call
//! was counted after it: the allowance grew, a window renewed or a bucket refilled); any other
//! answer that says more is doubted. Its call may have been counted after the fewest, but then
//! it costs nothing: to say more than the fewest after it, the allowance must have grown since
//! by more than the calls counted in between, its own included (assuming, as everywhere here,
//! that no other client spent meanwhile). It was counted as spent until 2026-12-07, which cost a
//! token bucket with answers overtaking each other 1.07–1.27× the ideal at 20/s (0.97–1.03× now,
//! no 429 more, in the paused-clock simulations at 14 to 26 ms a call). A fixed window at 200/s
//! then sends a call between its renewal and the renewal's latest instant, which sees the count
//! grow: a count grown back to 90 % of its limit or more is taken for a renewal, not for one that
//! refills (else its renewals were no longer narrowed: up to 1.04× the ideal). Only where calls are
//! given back as they leave a sliding window ([`Meter::freed`]) may that growth be the same calls
//! given back: there the doubted answers' calls are paid for out of the calls given back first.
//! The calls still in flight are counted as spent: the fewest was said before they were counted
//! (a call counted after it and already answered said fewer still, and is the fewest now). So is a call that got no answer (a transport error, a timeout: the
//! server may have counted it all the same), until an answer to a call sent after it gave up
//! says what is left; before, it dropped out of the calls in flight, and each lost answer could
//! overspend the allowance by one.
//!
//! What is left goes by the earliest instant the allowance may renew, evenly, and then nothing
//! until the latest (narrowed down by successive answers, below): never more than is left before
//! the renewal. Spreading it to the latest instant instead was tried and is slower (1.06–1.13×
//! the ideal for a token bucket, 1.3× for a sliding window, in the paused-clock simulations):
//! whole-second resets put the latest instant up to a second after the renewal, and a token
//! bucket's own refill makes up for a burst. Once the renewal has come, how much it gave back is
//! not known (a window renews whole, a bucket refills, a sliding window frees a call at a time):
//! one call goes, and its answer says.
//!
//! Resets come in whole seconds, rounded: a reset of `t` seconds said in the answer to a call
//! sent at `p` and answered at `a` is somewhere in (`p + t − 1`, `a + t`]. Successive answers
//! that count down within the same allowance narrow that down (each one's interval holds the same
//! instant); a count that grew starts afresh (the allowance renewed, its next renewal is later).
//! That holds for a fixed window only: a bucket's reset (until full) and a sliding window's
//! (until the oldest call leaves) move with each call, and a renewal narrowed from their answers
//! can come before the real one (a call then is refused: once in a 20 s simulation of a sliding
//! window at 200/s). So once a count grew before the latest instant of the renewal, which a fixed
//! window's does only when it renews (and then back to its whole limit, less the calls since: a
//! count grown to 90 % of its limit or more is taken for a renewal), the renewal is no longer
//! narrowed.
//!
//! A sliding window (N calls in any S seconds, announced as `RateLimit-Policy: q=N;w=S`) says in
//! its reset only when its oldest call leaves, rounded up to whole seconds, and frees a call at a
//! time: holding until that reset each time it ran dry and then asking took 1.11–1.17× the ideal
//! in the paused-clock simulation of a 3 s window. But each of the run's own calls leaves it a
//! window after it was counted, and it was counted between its sending and its answer: a call
//! answered at `a` is surely gone at `a + S`. So once a limit is known to slide, the run's
//! accepted calls sent less than a window before the answer believed came (so in the window when
//! that answer was counted, or counted since and spent) are given back a window after their
//! answers, and a hold ends at the next one (1.01–1.02× the ideal, no 429). A limit is known to
//! slide when its count grew and then said a reset sooner than a fixed window could renew: a
//! fixed window that renewed after the fewest was counted renews next a whole window after that
//! (so a window of one second, whose resets all say a second, is never known to slide). A token
//! bucket taken for a sliding window is not overspent either: what is given back is no more than
//! a bucket refilling at the policy's rate gives back since the answer believed, nor more than the
//! policy's limit. `X-RateLimit-*` saying the same count and limit as a `RateLimit` with its policy
//! takes the policy's window.
//!
//! Without a reset (APIM's remaining-calls header alone) nothing says when the allowance renews:
//! the calls never spend more than is left, and once nothing is, one call a second asks ([`ASK`])
//! until an answer says more is left. A call that asks too early meets one 429 (APIM answers its
//! `Retry-After`, which pauses every call), where spending on would meet one a call.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::headers::{Announced, Family};

/// A rate that holds nothing back, yet keeps every call taking its turn (where the calls in
/// flight are counted).
const UNPACED: f64 = 1e6;
/// Without a reset: once nothing is left, one call asks this long after the answer that said so.
const ASK: Duration = Duration::from_secs(1);
/// Doubted answers, and calls that got no answer, remembered (more are many more than any run
/// keeps in flight).
const DOUBTED: usize = 4096;
/// Accepted calls remembered for [`Meter::freed`]: fewer give back fewer calls, never more.
const LOGGED: usize = 4096;
/// Limits followed at most. An API announces a handful; one whose limit or window changes from
/// answer to answer would otherwise add a meter per answer, each walked on every call's turn.
const METERS: usize = 32;

/// What the headers allow now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cap {
    /// At most this many calls a second.
    Rate(f64),
    /// Nothing left: no call before this instant (or an answer that says more).
    Hold(Instant),
}

/// One limit the answers announce, followed from answer to answer.
#[derive(Clone, Debug)]
struct Meter {
    /// Which announcement of an answer this follows: its family, limit and window, and how
    /// many before it in the same answer had the same.
    key: (Family, Option<u64>, Option<Duration>, usize),
    /// The answer believed: its `remaining` is the fewest left since the allowance last grew.
    said: Announced,
    /// When that answer came: a call sent after this was counted after it.
    came: Instant,
    /// When the call of that answer was sent: it was counted after this.
    sent: Instant,
    /// The earliest and latest instant of the renewal, when a reset was said.
    renews: Option<(Instant, Instant)>,
    /// When each doubted answer came (it said more was left, from a call sent before `came`):
    /// its call may have been counted after `said`, but then the allowance grew by more than it
    /// since, so it is spent only out of calls [`Meter::freed`] gives back.
    doubted: VecDeque<Instant>,
    /// When each call that got no answer gave up ([`Allowance::lost`]): it may have been counted
    /// after `said`, so it counts as spent.
    lost: VecDeque<Instant>,
    /// The allowance was seen to grow before its renewal: not a fixed window.
    refills: bool,
    /// The allowance grew, and then said it renews sooner than a fixed window could (a whole
    /// window after it renewed, so after the fewest was counted): a sliding window, each of
    /// whose calls leaves a window after it was counted. Sure where `refills` is a guess (a
    /// fixed window's calls sent between its renewal and the latest instant of it also see it
    /// grow), so only this gives calls back before a reset ([`Meter::freed`]).
    slides: bool,
}

/// The allowance as the answers announced it.
#[derive(Debug, Default)]
pub(super) struct Allowance {
    meters: Vec<Meter>,
    /// When each call answered (not 429) since the window of the longest policy was sent and
    /// answered, oldest first, for [`Meter::freed`].
    accepted: VecDeque<(Instant, Instant)>,
    /// The families of headers the run paced from, for the summary.
    pub families: BTreeSet<Family>,
    /// `--reserve` as a fraction.
    pub reserve: f64,
}

/// When a reset of `t` said in the answer to a call sent at `sent` and answered at `came` may
/// fall: whole seconds are rounded (the renewal may be up to a second sooner), and the count was
/// made somewhere between the two.
fn renewal(sent: Instant, came: Instant, t: Duration) -> (Instant, Instant) {
    let whole = t.subsec_nanos() == 0 && !t.is_zero();
    let early = if whole {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    (sent + t.saturating_sub(early), came + t)
}

impl Meter {
    /// The answer to a call sent at `sent` came at `came` and said `said`.
    fn update(&mut self, sent: Instant, came: Instant, said: Announced) {
        let fewer = said.remaining <= self.said.remaining;
        if !fewer && sent < self.came {
            // More left, from a call that may have been counted before the fewest.
            if self.doubted.len() < DOUBTED {
                self.doubted.push_back(came);
            }
            return;
        }
        if let (false, Some((_, hi0))) = (fewer, self.renews) {
            // More left before the latest instant of the renewal: the allowance frees calls
            // as it goes (a bucket refills, a sliding window's oldest calls leave), and its
            // reset moves with each call, so successive answers no longer narrow one instant.
            // Unless it grew back to (nearly) its whole limit, as a fixed window does when it
            // renews: a call sent between the renewal and its latest instant sees that too.
            let whole = said.limit.is_some_and(|q| said.remaining * 10 >= q * 9);
            self.refills |= sent < hi0 && !whole;
        }
        let renews = said.reset.map(|t| renewal(sent, came, t));
        if let (false, Some((_, hi)), Some(w)) = (fewer, renews, said.window) {
            // A fixed window that renewed after the fewest was counted (after `self.sent`)
            // renews next a whole window after that: a renewal said sooner is not a fixed
            // window's.
            self.slides |= hi < self.sent + w;
        }
        self.renews = match (renews, self.renews) {
            // Counting down towards the same renewal: both intervals hold it.
            (Some((lo, hi)), Some((lo0, hi0)))
                if fewer && !self.refills && lo < hi0 && lo0 < hi =>
            {
                Some((lo.max(lo0), hi.min(hi0)))
            }
            (r, _) => r,
        };
        self.said = said;
        self.came = self.came.max(came);
        self.sent = sent;
        // A doubted answer that came, or a call that gave up, before this call was sent was
        // counted before it.
        self.doubted.retain(|&d| d > sent);
        self.lost.retain(|&d| d > sent);
    }

    /// The calls of a sliding window that surely left it by `at`, of the `accepted` ones (sent
    /// and answered): each leaves a window after it was counted, between sending and answer.
    /// Only calls sent less than a window before the believed answer came, so surely in the
    /// window when it was counted (or counted since: then spent, and leaving frees them too).
    /// No more than a bucket refilling at the policy's rate gives back since that answer came,
    /// and no more than the policy's limit: so a bucket's meter taken for a sliding window is
    /// never overspent either. Also when the next call is given back, if ever.
    fn freed(
        &self,
        at: Instant,
        accepted: &VecDeque<(Instant, Instant)>,
    ) -> (u64, Option<Instant>) {
        let (Some(w), Some(q), true) = (self.said.window, self.said.limit, self.slides) else {
            return (0, None);
        };
        if q == 0 {
            return (0, None);
        }
        // (A window too long to add to an instant frees nothing.)
        let mut leave: Vec<Instant> = accepted
            .iter()
            .filter(|(sent, _)| sent.checked_add(w).is_some_and(|t| t > self.came))
            .filter_map(|&(_, answered)| answered.checked_add(w))
            .collect();
        leave.sort_unstable();
        let most = q.saturating_sub(self.said.remaining);
        let left = leave.iter().filter(|&&t| t <= at).count() as u64;
        // In whole nanoseconds, so that the instant said for the next call does give it back.
        let (w, q128) = (w.as_nanos().max(1), u128::from(q));
        let since = at.saturating_duration_since(self.came).as_nanos();
        let refilled = u64::try_from(since * q128 / w).unwrap_or(u64::MAX);
        let freed = left.min(refilled).min(most);
        // The next: when both the next call has left and the refill allows one more.
        let next = (freed < most)
            .then(|| leave.get(freed as usize).copied())
            .flatten()
            .and_then(|t| {
                let refill = (u128::from(freed + 1) * w).div_ceil(q128);
                let refill = u64::try_from(refill).unwrap_or(u64::MAX);
                Some(t.max(self.came.checked_add(Duration::from_nanos(refill))?))
            });
        (freed, next)
    }

    /// What this limit allows at `now` with `in_flight` calls unanswered; `reserve` is the share
    /// left unused; `accepted` as for [`Meter::freed`].
    fn cap(
        &self,
        now: Instant,
        in_flight: u64,
        reserve: f64,
        accepted: &VecDeque<(Instant, Instant)>,
    ) -> Cap {
        let said = &self.said;
        let kept = reserve * said.limit.unwrap_or(said.remaining) as f64;
        let spent = (in_flight + self.lost.len() as u64) as f64;
        let (freed, next) = self.freed(now, accepted);
        // Calls given back pay first for the doubted answers' calls (see the module's doc).
        let back = freed.saturating_sub(self.doubted.len() as u64);
        let usable = said.remaining as f64 + back as f64 - kept - spent;
        if usable >= 1.0 {
            return match self.renews {
                Some((lo, hi)) if now < hi => {
                    let until = lo.saturating_duration_since(now).as_secs_f64().max(0.001);
                    Cap::Rate(usable / until)
                }
                // Renewed since (an allowance only grows at its renewal), or not said when it
                // renews: what is left may all go now.
                _ => Cap::Rate(UNPACED),
            };
        }
        let renews = self.renews.map_or(self.came + ASK, |(_, hi)| hi);
        if now < renews {
            // A call given back sooner ends the hold (if that is enough: checked again then).
            Cap::Hold(next.map_or(renews, |n| n.min(renews)))
        } else if in_flight == 0 {
            // Renewed since (or time to ask), by how much is not known: one call at a time
            // until an answer says.
            Cap::Rate(UNPACED)
        } else {
            Cap::Hold(now + Duration::from_secs(1))
        }
    }
}

impl Allowance {
    /// Nothing announced yet; `reserve` is `--reserve` as a fraction.
    pub fn new(reserve: f64) -> Allowance {
        Allowance {
            reserve,
            ..Allowance::default()
        }
    }

    /// The answer to a call sent at `sent` came at `now` and announced `found` (nothing: it said
    /// nothing, and what earlier answers said stands).
    pub fn announce(&mut self, sent: Instant, now: Instant, mut found: Vec<Announced>) {
        // The same count in two families (`X-RateLimit-*` beside `RateLimit` with its policy)
        // is the same limit: the window one says is the other's too.
        for i in 0..found.len() {
            if found[i].window.is_none() && found[i].limit.is_some() {
                found[i].window = found.iter().find_map(|o| {
                    (o.limit == found[i].limit && o.remaining == found[i].remaining)
                        .then_some(o.window)
                        .flatten()
                });
            }
        }
        let mut keys = Vec::new();
        for said in found {
            let kind = (said.family, said.limit, said.window);
            let nth = keys.iter().filter(|&&k| k == kind).count();
            keys.push(kind);
            let key = (kind.0, kind.1, kind.2, nth);
            match self.meters.iter_mut().find(|m| m.key == key) {
                Some(m) => m.update(sent, now, said),
                None => {
                    if self.meters.len() >= METERS {
                        // The limit announced longest ago gives way: one still announced is
                        // followed again from its next answer.
                        let oldest = (0..self.meters.len()).min_by_key(|&i| self.meters[i].came);
                        if let Some(i) = oldest {
                            self.meters.swap_remove(i);
                        }
                    }
                    self.meters.push(Meter {
                        key,
                        said,
                        came: now,
                        renews: said.reset.map(|t| renewal(sent, now, t)),
                        sent,
                        doubted: VecDeque::new(),
                        lost: VecDeque::new(),
                        refills: false,
                        slides: false,
                    })
                }
            }
        }
    }

    /// A call got no answer (a transport error, a timeout), at `now`: the server may have
    /// counted it, before now, so it counts as spent against every limit until an answer to a
    /// call sent after now (counted after it) says what is left.
    pub fn lost(&mut self, now: Instant) {
        for meter in &mut self.meters {
            if meter.lost.len() < DOUBTED {
                meter.lost.push_back(now);
            }
        }
    }

    /// The call sent at `sent` was answered at `now`, not 429 (a refused call takes no place in
    /// a window): remembered for [`Meter::freed`] while a sliding window may hold it.
    pub fn accepted(&mut self, sent: Instant, now: Instant) {
        let Some(longest) = self.meters.iter().filter_map(|m| m.said.window).max() else {
            return;
        };
        while self
            .accepted
            .front()
            .is_some_and(|&(s, _)| s + longest <= now)
            || self.accepted.len() >= LOGGED
        {
            self.accepted.pop_front();
        }
        self.accepted.push_back((sent, now));
    }

    /// The limit announced, in calls a second: the strictest count over its window among the
    /// limits that say both (`RateLimit-Policy`'s `q` and `w`, a limit's `;w=`).
    pub fn limit(&self) -> Option<f64> {
        self.meters
            .iter()
            .filter_map(|m| {
                let (limit, window) = (m.said.limit?, m.said.window?);
                (!window.is_zero()).then(|| limit as f64 / window.as_secs_f64())
            })
            .min_by(f64::total_cmp)
    }

    /// What the headers allow at `now` with `in_flight` calls sent and not yet answered: the
    /// strictest of what each limit allows; `None` when nothing was announced.
    pub fn cap(&mut self, now: Instant, in_flight: u64) -> Option<Cap> {
        let mut strictest: Option<Cap> = None;
        for meter in &self.meters {
            let cap = meter.cap(now, in_flight, self.reserve, &self.accepted);
            self.families.insert(meter.key.0);
            strictest = Some(match (strictest, cap) {
                (Some(Cap::Hold(a)), Cap::Hold(b)) => Cap::Hold(a.max(b)),
                (Some(Cap::Hold(a)), _) | (_, Cap::Hold(a)) => Cap::Hold(a),
                (Some(Cap::Rate(a)), Cap::Rate(b)) => Cap::Rate(a.min(b)),
                (None, c) => c,
            });
        }
        strictest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `X-RateLimit-*` with a limit of 10: `remaining` left, renewed in `reset` whole seconds.
    fn said(remaining: u64, reset: u64) -> Vec<Announced> {
        vec![Announced {
            family: Family::XRateLimit,
            remaining,
            reset: Some(Duration::from_secs(reset)),
            limit: Some(10),
            window: None,
        }]
    }

    fn calls_left(cap: Option<Cap>, until: Instant, now: Instant) -> f64 {
        match cap {
            Some(Cap::Rate(r)) => r * (until - now).as_secs_f64(),
            other => panic!("a rate, not {other:?}"),
        }
    }

    /// A limit that changes from answer to answer does not add a meter per answer for ever:
    /// at most [`METERS`] are followed, the newest kept.
    #[tokio::test(start_paused = true)]
    async fn limits_followed_are_bounded() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        for n in 0..(METERS as u64 * 3) {
            let now = t0 + ms(n);
            let said = Announced {
                family: Family::XRateLimit,
                remaining: 5,
                reset: Some(Duration::from_secs(60)),
                limit: Some(1000 + n),
                window: None,
            };
            a.announce(now, now, vec![said]);
        }
        assert_eq!(a.meters.len(), METERS);
        let last = 1000 + METERS as u64 * 3 - 1;
        assert!(a.meters.iter().any(|m| m.said.limit == Some(last)));
        assert!(
            a.meters
                .iter()
                .all(|m| m.said.limit >= Some(1000 + 2 * METERS as u64))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_overtook_another_gives_nothing_back() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        // Two calls sent together; the server counted the first (1 left) before the second
        // (0 left), but the second's answer came first.
        a.announce(t0, t0 + ms(5), said(0, 1));
        a.announce(t0, t0 + ms(10), said(1, 1));
        let now = t0 + ms(10);
        assert_eq!(
            a.cap(now, 0),
            Some(Cap::Hold(t0 + ms(1005))),
            "nothing left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_without_an_answer_counts_as_spent_until_an_answer_after_it() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        // 5 left, renewed in (2, 3.02] s; a call sent at 10 ms gives up at 30 ms: the server
        // may have counted it.
        a.announce(t0, t0 + ms(20), said(5, 3));
        a.lost(t0 + ms(30));
        let lo = t0 + ms(2000);
        let now = t0 + ms(30);
        assert!((calls_left(a.cap(now, 0), lo, now) - 4.0).abs() < 1e-6);
        // An answer to a call sent before it gave up may have been counted before it.
        a.announce(t0 + ms(25), t0 + ms(40), said(4, 3));
        let now = t0 + ms(40);
        assert!((calls_left(a.cap(now, 0), t0 + ms(2025), now) - 3.0).abs() < 1e-6);
        // One sent after it was counted after it: what it says is all.
        a.announce(t0 + ms(50), t0 + ms(60), said(3, 3));
        let now = t0 + ms(60);
        assert!((calls_left(a.cap(now, 0), t0 + ms(2050), now) - 3.0).abs() < 1e-6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_doubted_answer_is_not_believed_and_costs_nothing() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        // 5 left, renewed in (2, 3.02] s.
        a.announce(t0, t0 + ms(20), said(5, 3));
        // Sent before that answer came, it says more is left: counted before it (and 8 is
        // stale), or after it, and then the allowance grew by more than its own call since.
        // Either way 5 stand.
        a.announce(t0 + ms(10), t0 + ms(30), said(8, 3));
        let now = t0 + ms(30);
        let lo = t0 + ms(2000);
        assert!((calls_left(a.cap(now, 0), lo, now) - 5.0).abs() < 1e-6);
        // Calls in flight count as spent.
        assert!((calls_left(a.cap(now, 3), lo, now) - 2.0).abs() < 1e-6);
        // A call sent after the doubted answer came, counted after it: 4 left.
        a.announce(t0 + ms(40), t0 + ms(60), said(4, 3));
        let now = t0 + ms(60);
        let lo = t0 + ms(2040);
        assert!((calls_left(a.cap(now, 0), lo, now) - 4.0).abs() < 1e-6);
    }

    /// Where calls are given back as they leave a sliding window, a doubted answer's call is paid
    /// for out of them first: the growth that let it say more may be those very calls leaving.
    #[tokio::test(start_paused = true)]
    async fn a_sliding_window_pays_for_doubted_calls_out_of_calls_given_back() {
        let t0 = Instant::now();
        let meter = |doubted: u64| Meter {
            key: (Family::RateLimit, Some(4), Some(Duration::from_secs(2)), 0),
            said: policy(0, 1, 4, 2)[0],
            came: t0 + ms(1000),
            sent: t0 + ms(990),
            renews: Some((t0 + ms(990), t0 + ms(3000))),
            doubted: (0..doubted).map(|_| t0 + ms(1005)).collect(),
            lost: VecDeque::new(),
            refills: false,
            slides: true,
        };
        // Two calls answered at 0.5 s, back at 2.5 s.
        let accepted: VecDeque<_> = [100, 100]
            .into_iter()
            .map(|sent| (t0 + ms(sent), t0 + ms(500)))
            .collect();
        // Until 3 s (the reset's latest instant) what is left goes at once (its earliest is
        // past): 1000 a second for each call.
        let at = t0 + ms(2500);
        assert_eq!(meter(0).cap(at, 0, 0.0, &accepted), Cap::Rate(2000.0));
        assert_eq!(meter(1).cap(at, 0, 0.0, &accepted), Cap::Rate(1000.0));
        assert_eq!(
            meter(1).cap(at, 1, 0.0, &accepted),
            Cap::Hold(t0 + ms(3000))
        );
        assert_eq!(
            meter(2).cap(at, 0, 0.0, &accepted),
            Cap::Hold(t0 + ms(3000))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_left_goes_by_the_earliest_renewal_then_waits_for_the_latest() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        // 9 left, renewed in (2, 3.02] s: 9 calls over the next 1.98 s, not all at once.
        a.announce(t0, t0 + ms(20), said(9, 3));
        let now = t0 + ms(20);
        let Some(Cap::Rate(r)) = a.cap(now, 0) else {
            panic!("a rate")
        };
        assert!((r - 9.0 / 1.98).abs() < 1e-6, "{r}");
        // --reserve 20%: 2 of the limit of 10 unused.
        let mut a = Allowance::new(0.2);
        a.announce(t0, t0 + ms(20), said(9, 3));
        assert!((calls_left(a.cap(now, 0), t0 + ms(2000), now) - 7.0).abs() < 1e-6);
        a.announce(t0, t0 + ms(20), said(2, 3));
        assert_eq!(a.cap(now, 0), Some(Cap::Hold(t0 + ms(3020))));
    }

    /// A window of 10 a second, renewed at 1 s: counting down narrows the renewal; a count that
    /// grew (the window renewed) starts afresh, so the next renewal is not taken for the last.
    #[tokio::test(start_paused = true)]
    async fn a_renewed_window_is_not_mistaken_for_the_one_before() {
        let t0 = Instant::now();
        for (grew_to, held_until) in [(9, 2210), (5, 2310)] {
            let mut a = Allowance::new(0.0);
            // At 0.5 s: 1 left, renewed in (0.49, 1.5]; at 0.9 s: none left, in (0.89, 1.9].
            a.announce(t0 + ms(490), t0 + ms(500), said(1, 1));
            a.announce(t0 + ms(890), t0 + ms(900), said(0, 1));
            assert_eq!(a.cap(t0 + ms(900), 0), Some(Cap::Hold(t0 + ms(1500))));
            // At 1.2 s (the window renewed at 1 s), a call sent then: `grew_to` left, the next
            // renewal in (1.2, 2.21]; not in (1.2, 1.5], which holds the renewal before.
            a.announce(t0 + ms(1200), t0 + ms(1210), said(grew_to, 1));
            // Counted down to none, at 1.3 s. Grown back to 9 of 10, as a window renewing: the
            // renewal is narrowed to (1.3, 2.21]. Grown to 5 only, before 1.5 s (the latest the
            // renewal before could be), as a bucket or a sliding window grows: successive
            // answers no longer narrow it (theirs moves with each call), held until 2.31 s, this
            // answer's own latest instant. Not until 1.5 s either way (a call then is refused).
            a.announce(t0 + ms(1300), t0 + ms(1310), said(0, 1));
            let held = t0 + ms(held_until);
            assert_eq!(a.cap(t0 + ms(1310), 0), Some(Cap::Hold(held)), "{grew_to}");
            // Past it: one call at a time until an answer says how much the renewal gave back.
            assert_eq!(a.cap(held, 0), Some(Cap::Rate(UNPACED)));
            assert_eq!(a.cap(held, 1), Some(Cap::Hold(held + ms(1000))));
        }
    }

    /// `RateLimit` with its policy: `q` calls in any `w` seconds, `remaining` left, the oldest
    /// leaving in `reset` whole seconds.
    fn policy(remaining: u64, reset: u64, q: u64, w: u64) -> Vec<Announced> {
        vec![Announced {
            family: Family::RateLimit,
            remaining,
            reset: Some(Duration::from_secs(reset)),
            limit: Some(q),
            window: Some(Duration::from_secs(w)),
        }]
    }

    /// A call sent at `sent` ms, answered 10 ms later saying `said`.
    fn call(a: &mut Allowance, t0: Instant, sent: u64, said: Vec<Announced>) {
        let (sent, came) = (t0 + ms(sent), t0 + ms(sent + 10));
        a.announce(sent, came, said);
        a.accepted(sent, came);
    }

    /// A sliding window of 4 calls in any 3 s: once it is known for one (it grew, and said its
    /// oldest leaves sooner than a fixed window could renew), each call of the run is given back
    /// a window after its answer, without holding until the whole-second reset.
    #[tokio::test(start_paused = true)]
    async fn a_sliding_window_gives_each_call_back_a_window_after_it() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        // Two calls at 0 s, one at 1 s and one at 2 s: none left; the first leave at 3 s.
        call(&mut a, t0, 0, policy(3, 3, 4, 3));
        call(&mut a, t0, 5, policy(2, 3, 4, 3));
        call(&mut a, t0, 1000, policy(1, 2, 4, 3));
        call(&mut a, t0, 2000, policy(0, 1, 4, 3));
        // Not known to slide yet (a fixed window looks the same so far): held until the reset.
        assert_eq!(a.cap(t0 + ms(2010), 0), Some(Cap::Hold(t0 + ms(3010))));
        // At 3.01 s the first two have left: one more is left after this call, and the oldest
        // (sent at 1 s) leaves within a second: a fixed window renewed after 2 s would renew
        // next after 5 s.
        call(&mut a, t0, 3010, policy(1, 1, 4, 3));
        assert!(a.meters[0].slides);
        call(&mut a, t0, 3030, policy(0, 1, 4, 3));
        // None left; the call sent at 1 s (answered at 1.01 s) is back by 4.01 s, before the
        // reset's latest instant (4.02 s, narrowed from the last two answers).
        assert_eq!(a.cap(t0 + ms(3040), 0), Some(Cap::Hold(t0 + ms(4010))));
        assert_eq!(a.cap(t0 + ms(4010), 0), Some(Cap::Rate(1000.0)));
        // It is spent by the call in flight.
        assert_eq!(a.cap(t0 + ms(4010), 1), Some(Cap::Hold(t0 + ms(4020))));
    }

    /// A fixed window of 10 calls a 5 s that renews whole: a renewal is never taken for a
    /// sliding window, and no call is given back before the reset.
    #[tokio::test(start_paused = true)]
    async fn a_fixed_window_gives_nothing_back_before_its_reset() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        call(&mut a, t0, 0, policy(1, 5, 10, 5));
        call(&mut a, t0, 100, policy(0, 5, 10, 5));
        assert_eq!(a.cap(t0 + ms(110), 0), Some(Cap::Hold(t0 + ms(5010))));
        // Renewed at 5 s; the next renewal 5 s later.
        call(&mut a, t0, 5010, policy(9, 5, 10, 5));
        call(&mut a, t0, 5100, policy(0, 5, 10, 5));
        assert!(!a.meters[0].slides);
        assert_eq!(a.cap(t0 + ms(10_000), 0), Some(Cap::Hold(t0 + ms(10_020))));
    }

    /// What a sliding window gives back is no more than a bucket refilling at the policy's rate
    /// would since the answer believed, and no more than its limit.
    #[tokio::test(start_paused = true)]
    async fn calls_given_back_are_bounded_by_the_policy() {
        let t0 = Instant::now();
        let meter = Meter {
            key: (Family::RateLimit, Some(4), Some(Duration::from_secs(2)), 0),
            said: policy(1, 1, 4, 2)[0],
            came: t0 + ms(1000),
            sent: t0 + ms(990),
            renews: None,
            doubted: VecDeque::new(),
            lost: VecDeque::new(),
            refills: false,
            slides: true,
        };
        // Five calls answered at 0.5 s (one sent too early to be in the window at 1 s).
        let accepted: VecDeque<_> = [0, 100, 100, 100, 100]
            .into_iter()
            .map(|sent| (t0 + ms(sent), t0 + ms(500)))
            .collect();
        // All four leave at 2.5 s: by then a bucket of 2/s gives back three since 1 s, and the
        // limit leaves room for three (one was left).
        assert_eq!(
            meter.freed(t0 + ms(2499), &accepted),
            (0, Some(t0 + ms(2500)))
        );
        assert_eq!(meter.freed(t0 + ms(2500), &accepted), (3, None));
        let meter = Meter {
            said: policy(0, 1, 4, 2)[0],
            ..meter
        };
        assert_eq!(
            meter.freed(t0 + ms(2500), &accepted),
            (3, Some(t0 + ms(3000)))
        );
        // Not known to slide: nothing.
        let meter = Meter {
            slides: false,
            ..meter
        };
        assert_eq!(meter.freed(t0 + ms(9000), &accepted), (0, None));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_reset_nothing_left_holds_and_then_one_call_asks() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        let calls = |remaining| {
            vec![Announced {
                family: Family::RemainingCalls,
                remaining,
                reset: None,
                limit: None,
                window: None,
            }]
        };
        a.announce(t0, t0 + ms(10), calls(3));
        assert_eq!(a.cap(t0 + ms(10), 0), Some(Cap::Rate(UNPACED)));
        // Three in flight: all that was left.
        assert_eq!(a.cap(t0 + ms(10), 3), Some(Cap::Hold(t0 + ms(1010))));
        a.announce(t0 + ms(10), t0 + ms(30), calls(0));
        assert_eq!(a.cap(t0 + ms(30), 0), Some(Cap::Hold(t0 + ms(1030))));
        assert_eq!(a.cap(t0 + ms(1030), 0), Some(Cap::Rate(UNPACED)));
        assert_eq!(
            a.cap(t0 + ms(1030), 1),
            Some(Cap::Hold(t0 + ms(2030))),
            "one call asks at a time"
        );
        // Its answer says the allowance grew: believed (sent after the last answer came).
        a.announce(t0 + ms(1030), t0 + ms(1050), calls(40));
        assert_eq!(a.cap(t0 + ms(1050), 0), Some(Cap::Rate(UNPACED)));
        assert_eq!(a.families, BTreeSet::from([Family::RemainingCalls]));
        assert_eq!(a.limit(), None, "no limit and window said");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_announced_is_the_strictest_count_over_its_window() {
        let t0 = Instant::now();
        let mut a = Allowance::new(0.0);
        let policy = |limit, secs| Announced {
            family: Family::RateLimit,
            remaining: 5,
            reset: Some(Duration::from_secs(1)),
            limit: Some(limit),
            window: Some(Duration::from_secs(secs)),
        };
        a.announce(t0, t0, said(5, 1));
        assert_eq!(a.limit(), None, "a limit without its window");
        a.announce(t0, t0, vec![policy(100, 5), policy(1000, 60)]);
        assert_eq!(a.limit(), Some(1000.0 / 60.0));
    }
}
