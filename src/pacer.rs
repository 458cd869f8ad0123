//! The single pacing point of every API call (GET, PATCH, retries and list pages alike), and
//! what it learns about the API's own limit.
//!
//! Two parts:
//! - the learner ([`Learner`], `learner.rs`) decides *what rate*: `--rate` is the ceiling; a 429
//!   pauses every call for its `Retry-After`, then the pace resumes at the rate the API was
//!   measured to accept between the ends of two pauses (making up for most of the pause first),
//!   holds it and then probes above it, so a limit that rises is found too. `--reserve` without
//!   rate-limit headers holds its share below the limit learnt between probes. The limit the
//!   summary reports is the one in force at the end of the run: spans across a change are not
//!   mixed, and a limit that rose and was not measured again is "at least" what the API
//!   accepted. Windows of one second, where every 429's pause is a whole window, are counted
//!   instead, and paced evenly just under their count (`learner/window.rs`). `learner.rs` says
//!   how, why, and the shapes (buckets full, empty and partly used, a fixed window started
//!   mid-window, a sliding window, a limit that halves or doubles, fixed and sliding windows of
//!   one second) it was checked against at 20/s to 200/s. `--no-adapt` keeps `--rate` as given.
//! - governor decides *when* a call may go at that rate ([`Gate`]): a GCRA limiter whose bucket
//!   holds `--burst` calls plus the calls of [`SLACK`]. Timers fire up to a millisecond late
//!   (tokio's granularity); the calls after a late one use those extra cells to catch up, so the
//!   bucket, not the timer, sets the rate, and `--rate 5000/s` sends 5000 calls a second at the
//!   default burst. After idle time those extra cells would be a burst beyond `--burst`, so the
//!   first call after idle time takes them away: then at most `--burst` calls go at once.
//!
//! What the API's rate-limit headers announce caps the learner's rate ([`Allowance`]: `headers.rs`
//! reads them, `allowance.rs` says how they pace and why): never more than is left, less the
//! calls in flight, and calls given back as they surely leave a sliding window. Checked on the
//! paused clock against buckets (full, empty, 10 % left), a fixed window of 5 s started
//! mid-window (spent, half used) and a sliding window of 3 s, at 20/s and 200/s, answers in
//! order and overtaking each other (`headers_that_say_what_is_left_are_never_overspent`): no 429
//! on a fresh allowance, one on a spent one, each within 1.1× the ideal (0.95× to 1.03× at 20 ms
//! a call, 1.0027× on average from 14 to 26 ms).
//!
//! The run's first call goes alone ([`Pacer::wait`] holds the others until an answer comes,
//! whatever its status, or a failure, for up to [`ALONE`]): before it nothing has said how much
//! of the allowance is left, and a run starting on a spent one had every worker's first call
//! refused (2 to 6 429s in the paused-clock simulations with headers; one now). It costs one
//! call's time, once, and no more than [`ALONE`] (a gateway refuses at once: a slower answer is a
//! slow API's); without headers the simulated shapes take the same time within their noise (a
//! sweep of latencies from 14 to 26 ms averaged 1.0030× the ideal before, 1.0033× after).
//!
//! governor's quota cannot change in place, so a new pace swaps in a new limiter. A swap starts
//! empty (it takes the new limiter's whole bucket at once, leaving one call when an interval of
//! the new pace has already passed since the last one): a swap must never let a burst through.
//! The learner's rate moves continuously (while it probes), so it is quantised to steps of
//! 1/[`STEPS`] of an octave (about 1 %): the limiter is rebuilt when the pace moved a step, not
//! on every call, and keeps its catch-up cells in between.
//!
//! All time comes from `tokio::time` (governor reads it through [`TokioClock`], and waits are
//! `check()` then `tokio::time::sleep_until`), so the tests run the whole pacer on a paused
//! clock.

use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::rate::Rate;

mod allowance;
pub(crate) mod headers;
mod learner;

use allowance::{Allowance, Cap};
use learner::Learner;
pub use learner::Learnt;

/// Lateness of a call that the calls after it make up for; a longer gap is idle time.
const SLACK: Duration = Duration::from_millis(10);
/// Steps of the learned pace in an octave: a new limiter when the pace moved by 1/64 octave.
const STEPS: f64 = 64.0;
/// The longest the run's first call goes alone, waiting for its answer ([`Pacer::wait`]).
const ALONE: Duration = Duration::from_secs(1);
/// How the pacer is set up.
#[derive(Clone, Copy, Debug)]
pub struct PaceSettings {
    /// `--rate`: the ceiling.
    pub rate: Rate,
    /// `--burst`: calls that may go at once after idle time.
    pub burst: NonZeroU32,
    /// Learn the API's limit from its 429s (false with `--no-adapt`).
    pub adapt: bool,
    /// `--reserve` as a fraction (0 to 1): the share of the allowance left unused.
    pub reserve: f64,
}

/// What the summary reports about the calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaceStats {
    /// Calls sent, retries included.
    pub calls: u64,
    /// Calls that repeated an earlier attempt.
    pub retries: u64,
    /// Answers with status 429.
    pub http_429: u64,
    /// Time every call was held back by a 429's pause.
    pub paused: Duration,
    /// Achieved: calls less one over the time from the first call to the last (0 below two).
    pub calls_per_second: f64,
    /// Mean time from sending a call to its answer.
    pub mean_latency: Option<Duration>,
    /// The limit learnt from 429s, if any came.
    pub learnt: Option<Learnt>,
    /// The families of rate-limit headers the pace was drawn from, if any.
    pub headers: Vec<&'static str>,
    /// The limit those headers announce in calls a second (the strictest policy's count over
    /// its window), when they say both.
    pub announced: Option<f64>,
}

/// A call the pacer counted sent: hand it back with the call's answer.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    /// When it was sent.
    pub at: Instant,
    /// Calls sent before it.
    before: u64,
}

/// governor's clock: tokio's, so that a paused clock drives the limiter as it drives the sleeps.
#[derive(Clone, Copy, Debug, Default)]
struct TokioClock;

/// An instant of [`TokioClock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tick(Instant);

impl Add<Nanos> for Tick {
    type Output = Tick;

    fn add(self, n: Nanos) -> Tick {
        Tick(self.0 + Duration::from(n))
    }
}

impl Reference for Tick {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, d: Nanos) -> Self {
        Tick(self.0.checked_sub(d.into()).unwrap_or(self.0))
    }
}

impl Clock for TokioClock {
    type Instant = Tick;

    fn now(&self) -> Tick {
        Tick(Instant::now())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, StateInformationMiddleware>;

/// The pace as the limiter applies it: `rate` quantised down to a step of [`STEPS`] an octave,
/// and `ceiling` itself when the rate reaches it (so `--rate` is kept exactly).
fn quantise(rate: f64, ceiling: f64) -> f64 {
    if rate >= ceiling {
        return ceiling;
    }
    ((rate.log2() * STEPS).floor() / STEPS).exp2().min(ceiling)
}

/// The time between two calls at `pace` (at least a nanosecond).
fn interval(pace: f64) -> Duration {
    Duration::from_secs_f64(1.0 / pace).max(Duration::from_nanos(1))
}

/// Where calls take turns: governor's limiter at the pace last read from the learner.
struct Gate {
    /// The limiter and the quantised pace it was built for; `None` before the first call and
    /// while the pacer is open.
    limiter: Option<(Limiter, f64)>,
    /// When the last call was let go.
    last: Option<Instant>,
}

impl Gate {
    /// The bucket's size at `pace`: `--burst` and the calls of [`SLACK`], at least one, which
    /// let the calls after a late timer catch up.
    fn cells(pace: f64, burst: NonZeroU32) -> NonZeroU32 {
        let slack = (pace * SLACK.as_secs_f64()).ceil().clamp(1.0, 1e6) as u32;
        burst.saturating_add(slack)
    }

    /// Makes the limiter pace `pace`: the first one starts full (the first call is after idle
    /// time), a swap starts empty.
    fn set_pace(&mut self, pace: f64, burst: NonZeroU32, now: Instant) {
        if self.limiter.as_ref().is_some_and(|(_, p)| *p == pace) {
            return;
        }
        let cells = Gate::cells(pace, burst);
        let quota = Quota::with_period(interval(pace))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(cells);
        let limiter = RateLimiter::direct_with_clock(quota, TokioClock).with_middleware();
        if let Some(last) = self.last {
            // A swap: the whole bucket is taken, but for one call when an interval of the new
            // pace has passed since the last call (it is due).
            let due = now >= last + interval(pace);
            let take = if due { cells.get() - 1 } else { cells.get() };
            if let Some(n) = NonZeroU32::new(take) {
                let _ = limiter.check_n(n);
            }
        }
        self.limiter = Some((limiter, pace));
    }

    /// Lets a call go now, or says when one may. A call after idle time leaves at most
    /// `burst - 1` more to go at once.
    fn let_go(&mut self, now: Instant, burst: NonZeroU32) -> Result<(), Instant> {
        let Some((limiter, pace)) = &self.limiter else {
            return Ok(());
        };
        match limiter.check() {
            Ok(state) => {
                let idle = self.last.is_none_or(|l| now > l + interval(*pace) + SLACK);
                self.last = Some(now);
                if idle {
                    let surplus = state
                        .remaining_burst_capacity()
                        .saturating_sub(burst.get() - 1);
                    if let Some(n) = NonZeroU32::new(surplus) {
                        let _ = limiter.check_n(n);
                    }
                }
                Ok(())
            }
            Err(not_until) => Err(not_until.earliest_possible().0),
        }
    }
}

/// The single pacing point. Waiters take turns (a fair async mutex) so that one at a time waits
/// for the next slot: no thundering herd when a slot frees. A 429 moves a shared "not before"
/// instant that every call honours, and teaches the learner.
pub struct Pacer {
    /// `--rate` as asked, for [`Pacer::out_of_reach`].
    rate: Rate,
    burst: NonZeroU32,
    /// The limiter; the lock is the turn.
    turn: tokio::sync::Mutex<Gate>,
    /// Told when the learner changes the pace, so that the call waiting its turn need not wait
    /// out an interval of the old pace.
    changed: tokio::sync::Notify,
    learner: Mutex<Learner>,
    /// What the API's rate-limit headers announce.
    allowance: Mutex<Allowance>,
    /// The furthest a header's reset is believed: `--max-retry-after`.
    longest_reset: Duration,
    /// Nothing to pace (unlimited, slow start over, no 429 since): calls skip the turn.
    open: AtomicBool,
    /// An answer announced rate-limit headers: until then the allowance has nothing to
    /// remember of an answer nor to cap a turn by, and neither takes its lock.
    announcing: AtomicBool,
    /// The learner is in a storm: the next accepted answer ends it.
    storm: AtomicBool,
    start: Instant,
    /// Nanoseconds after `start` before which no call starts (a 429's pause).
    not_before: AtomicU64,
    calls: AtomicU64,
    /// Calls let go by [`Pacer::wait`] and not yet [`Pacer::sent`] (or [`Pacer::unsent`]: the
    /// run stopped before sending them). Never below none: a call sent without taking the turn
    /// (the pacer was open when it looked) may take another's count, for the moment until that
    /// one is sent.
    let_go: AtomicU64,
    retries: AtomicU64,
    http_429: AtomicU64,
    /// Answers that were not 429s, for the learner.
    accepted: AtomicU64,
    paused_ns: AtomicU64,
    answered: AtomicU64,
    /// Calls that got no answer (a connection failure or a timeout).
    no_answer: AtomicU64,
    latency_ns: AtomicU64,
    /// Nanoseconds after `start` plus one of the first and the last call (0: none yet).
    first_call: AtomicU64,
    last_call: AtomicU64,
}

impl Pacer {
    pub fn new(settings: PaceSettings) -> Pacer {
        let learner = Learner::new(&settings);
        let open = learner.ceiling.is_infinite() && !settings.adapt;
        Pacer {
            rate: settings.rate,
            burst: settings.burst,
            turn: tokio::sync::Mutex::new(Gate {
                limiter: None,
                last: None,
            }),
            changed: tokio::sync::Notify::new(),
            learner: Mutex::new(learner),
            allowance: Mutex::new(Allowance::new(settings.reserve)),
            longest_reset: headers::LONGEST_RESET,
            open: AtomicBool::new(open),
            announcing: AtomicBool::new(false),
            storm: AtomicBool::new(false),
            start: Instant::now(),
            not_before: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            let_go: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            http_429: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            paused_ns: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            no_answer: AtomicU64::new(0),
            latency_ns: AtomicU64::new(0),
            first_call: AtomicU64::new(0),
            last_call: AtomicU64::new(0),
        }
    }

    /// A rate-limit header's reset is believed up to `longest` (`--max-retry-after`, as a
    /// `Retry-After` is cut to it; 5 minutes, its default, unless told).
    pub fn with_longest_reset(mut self, longest: Duration) -> Pacer {
        self.longest_reset = longest;
        self
    }

    fn learner(&self) -> std::sync::MutexGuard<'_, Learner> {
        // The learner's fields stay consistent between statements: a poisoned lock is usable.
        self.learner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn allowance(&self) -> std::sync::MutexGuard<'_, Allowance> {
        // Replaced whole on each answer: a poisoned lock is usable.
        self.allowance.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls let go or sent, and not yet answered.
    pub(crate) fn in_flight(&self) -> u64 {
        let calls = self.calls.load(Ordering::Acquire) + self.let_go.load(Ordering::Acquire);
        calls.saturating_sub(self.answered.load(Ordering::Acquire))
    }

    /// The headers of the answer to the call sent at `sent` (any status): what they announce
    /// of the allowance paces the calls from now on (`allowance.rs`).
    pub fn announced(&self, sent: Sent, headers: &reqwest::header::HeaderMap) {
        let sent = sent.at;
        let found = headers::read(headers, std::time::SystemTime::now(), self.longest_reset);
        if found.is_empty() {
            return;
        }
        self.announcing.store(true, Ordering::Release);
        self.allowance().announce(sent, Instant::now(), found);
        // Every call waits its turn while headers pace them.
        self.open.store(false, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    fn not_before(&self) -> Instant {
        self.start + Duration::from_nanos(self.not_before.load(Ordering::Acquire))
    }

    /// Holds every caller back until `delay` from now; returns when the pause ends.
    pub fn pause_for(&self, delay: Duration) -> Instant {
        let now = Instant::now();
        let until = self.nanos(now + delay);
        let before = self.not_before.fetch_max(until, Ordering::AcqRel);
        // Only the part that lengthens the pause counts, so overlapping pauses count once.
        let from = before.max(self.nanos(now));
        self.paused_ns
            .fetch_add(until.saturating_sub(from), Ordering::Relaxed);
        self.not_before()
    }

    /// True when a call may start now without waiting its turn.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire) && Instant::now() >= self.not_before()
    }

    /// While the run's first call goes alone, until when the others wait (or an answer). Until
    /// an answer comes nothing has said how much of the allowance is left (a run right after
    /// another may find it spent), and every worker's first call would go blind; but a gateway
    /// refuses at once, so a first answer slower than [`ALONE`] is a slow API's, and the others
    /// go.
    fn alone_until(&self, now: Instant) -> Option<Instant> {
        if self.answered.load(Ordering::Acquire) > 0 || self.in_flight() == 0 {
            return None;
        }
        // Let go and not sent yet: from when it was let go (the run's first turn).
        let first = match self.first_call.load(Ordering::Acquire) {
            0 => self.learner().first.unwrap_or(now),
            at => self.start + Duration::from_nanos(at - 1),
        };
        Some(first + ALONE).filter(|&until| now < until)
    }

    /// Waits until the next call may start. True when it was let go through the turn, so counts
    /// as in flight from now: hand it to [`Pacer::sent`], or to [`Pacer::unsent`] if it is not
    /// sent after all.
    pub async fn wait(&self) -> bool {
        if self.open.load(Ordering::Acquire) {
            // Unlimited: a timer only during a 429 pause, not one per call.
            let nb = self.not_before();
            if Instant::now() < nb {
                tokio::time::sleep_until(nb).await;
            }
            return false;
        }
        // Cancel-safe: the limiter moves only when a call is let go.
        let mut gate = self.turn.lock().await;
        loop {
            let now = Instant::now();
            let nb = self.not_before();
            if now < nb {
                tokio::time::sleep_until(nb).await;
                continue;
            }
            // Registered before the rate is read, so a change after this is not missed.
            let changed = self.changed.notified();
            if let Some(until) = self.alone_until(now) {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    _ = changed => {}
                }
                continue;
            }
            let mut rate = {
                let mut learner = self.learner();
                learner.first.get_or_insert(now);
                // --reserve's share of a limit learnt from 429s is left by the learner itself.
                learner.rate(now)
            };
            // Under the turn, which every paced call takes: no lock before headers came.
            let cap = if self.announcing.load(Ordering::Acquire) {
                self.allowance().cap(now, self.in_flight())
            } else {
                None
            };
            match cap {
                // The headers say nothing is left: no call until the allowance renews.
                Some(Cap::Hold(until)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = changed => {}
                    }
                    continue;
                }
                Some(Cap::Rate(r)) => rate = rate.min(r),
                None => {}
            }
            if rate.is_infinite() {
                self.open.store(true, Ordering::Release);
                gate.limiter = None;
                return false;
            }
            let ceiling = self.rate.per_second();
            gate.set_pace(quantise(rate, ceiling), self.burst, now);
            match gate.let_go(now, self.burst) {
                Ok(()) => {
                    self.let_go.fetch_add(1, Ordering::AcqRel);
                    return true;
                }
                // A new pace (a 429, or calls getting through after a storm) applies at once.
                Err(at) => tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = changed => {}
                },
            }
        }
    }

    /// A call [`Pacer::wait`] let go is not sent after all (the run stopped, or no token came
    /// while it waited for one): it is no longer in flight. Left counted, it would hold back a
    /// place of the allowance the headers announce for the rest of the run.
    pub fn unsent(&self) {
        let _ = self
            .let_go
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A call is being sent now (`retry`: it repeats an earlier attempt). Returns the instant to
    /// hand back with its answer.
    pub fn sent(&self, retry: bool) -> Sent {
        let now = Instant::now();
        let before = self.calls.fetch_add(1, Ordering::AcqRel);
        let _ = self
            .let_go
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        let at = self.nanos(now) + 1;
        let _ = self
            .first_call
            .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        self.last_call.fetch_max(at, Ordering::Relaxed);
        Sent { at: now, before }
    }

    /// The call sent at `sent` was answered with `status` (`None`: no answer came, a transport
    /// error or a timeout). A 429 also goes to [`Pacer::throttled`]. An accepted call is
    /// remembered: a sliding window gives it back a window after its answer (`allowance.rs`).
    pub fn answered(&self, sent: Sent, status: Option<u16>) {
        let sent = sent.at;
        let took = self.nanos(Instant::now()).saturating_sub(self.nanos(sent));
        if self.answered.fetch_add(1, Ordering::AcqRel) == 0 {
            // The first answer: the calls held back behind the run's first call may go.
            self.changed.notify_waiters();
        }
        self.latency_ns.fetch_add(took, Ordering::Relaxed);
        match status {
            Some(429) => {
                self.http_429.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                if self.announcing.load(Ordering::Acquire) {
                    self.allowance().accepted(sent, Instant::now());
                }
                if self.storm.swap(false, Ordering::AcqRel) {
                    let mut learner = self.learner();
                    learner.recovered(Instant::now());
                    self.changed.notify_waiters();
                }
                self.accepted.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.no_answer.fetch_add(1, Ordering::Relaxed);
                // It may have been counted all the same: spent, until an answer says.
                if self.announcing.load(Ordering::Acquire) {
                    self.allowance().lost(Instant::now());
                }
            }
        }
    }

    /// The call sent at `sent` was answered 429: every call pauses for `pause` (its
    /// `Retry-After`, or the backoff), and the learner lowers the pace.
    pub fn throttled(&self, call: Sent, pause: Duration) {
        let sent = call.at;
        let resume = self.pause_for(pause);
        let mut learner = self.learner();
        let now = Instant::now();
        // A 429 that is part of an event already counted leaves the measurement running (it
        // may only correct what the event counted).
        let refusal = learner::Refusal {
            now,
            sent,
            before: call.before,
            resume,
            accepted: self.accepted.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
        };
        if learner.throttled(refusal) {
            let open = learner.rate(resume).is_infinite();
            self.open.store(open, Ordering::Release);
            self.storm.store(learner.storm, Ordering::Release);
            self.changed.notify_waiters();
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> PaceStats {
        let calls = self.calls.load(Ordering::Relaxed);
        let (first, last) = (
            self.first_call.load(Ordering::Relaxed),
            self.last_call.load(Ordering::Relaxed),
        );
        let span = last.saturating_sub(first) as f64 / 1e9;
        let calls_per_second = if calls >= 2 && span > 0.0 {
            (calls - 1) as f64 / span
        } else {
            0.0
        };
        // A pause that reaches past now has not been spent yet.
        let ahead = self
            .not_before
            .load(Ordering::Acquire)
            .saturating_sub(self.nanos(Instant::now()));
        let answered = self.answered.load(Ordering::Relaxed);
        let (headers, announced) = {
            let allowance = self.allowance();
            let families = allowance.families.iter().map(|f| f.name()).collect();
            (families, allowance.limit())
        };
        let learner = self.learner();
        PaceStats {
            calls,
            retries: self.retries.load(Ordering::Relaxed),
            http_429: self.http_429.load(Ordering::Relaxed),
            paused: Duration::from_nanos(
                self.paused_ns.load(Ordering::Relaxed).saturating_sub(ahead),
            ),
            calls_per_second,
            mean_latency: (answered > 0)
                .then(|| Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed) / answered)),
            learnt: learner.learnt(Instant::now(), self.accepted.load(Ordering::Relaxed)),
            headers,
            announced,
        }
    }

    /// A line for the user when `--rate` was out of reach: no 429 held the pace back, yet the
    /// calls went more than 2% slower than asked over at least a second. Says whether
    /// `--concurrency` was the limit (calls in flight ÷ time per call), else the machine's.
    /// Nothing when a tenth of the calls or more got no answer: calls that failed (a server
    /// that cannot be reached) are not calls that went slowly.
    pub fn out_of_reach(&self, concurrency: usize) -> Option<String> {
        let (s, rate) = (self.stats(), self.rate);
        let asked = rate.per_second();
        let span = if s.calls_per_second > 0.0 {
            (s.calls - 1) as f64 / s.calls_per_second
        } else {
            0.0
        };
        let failed = self.no_answer.load(Ordering::Relaxed);
        if !asked.is_finite()
            || s.http_429 > 0
            || s.calls < 20
            || span < 1.0
            || failed * 10 >= s.calls
        {
            return None;
        }
        if s.calls_per_second >= asked * 0.98 {
            return None;
        }
        let mut line = format!(
            "--rate {rate} was out of reach: {:.0} calls/s achieved",
            s.calls_per_second
        );
        let bound = s
            .mean_latency
            .filter(|l| !l.is_zero())
            .map(|l| concurrency as f64 / l.as_secs_f64());
        match (bound, s.mean_latency) {
            (Some(b), Some(l)) if b < asked * 0.98 => line.push_str(&format!(
                "; a call took {:.1} ms on average, so --concurrency {concurrency} allows about \
                 {b:.0}/s: raise --concurrency to go faster",
                l.as_secs_f64() * 1000.0
            )),
            _ => line.push_str(
                "; this machine could not go faster, or the calls waited for something else (a \
                 slow input, rows of one customer going one at a time)",
            ),
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests;
