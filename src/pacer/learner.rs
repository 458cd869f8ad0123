//! What rate the API accepts, learnt from its 429s, for any common shape of limit.
//!
//! A 429 says the API's allowance is empty now. Every 429 pauses every call for its
//! `Retry-After` (the pause is the API's to choose: a second for a token bucket, the rest of
//! the window for a fixed window, until the oldest call leaves for a sliding one), and the pause
//! ends in the same state each time: right after a refusal, plus what the API gives back over
//! the pause. So what the API accepted **from the end of one pause to the end of the next** (a
//! span) is its long-run rate, whatever its shape and burst:
//! - a token bucket of L a second: L·P refilled over a pause P, then L a second: (L·P + L·t) /
//!   (P + t) = L;
//! - a fixed window of N per S with `Retry-After` to the window's end: each pause ends at a
//!   window's start, N are accepted in it: N / S (each end is rounded up to whole seconds, so
//!   one span can be up to 1/S off; the reported limit spans several);
//! - a sliding window (N in any S): N / S when the log is kept full; every second a pause is
//!   rounded up past the oldest call's leaving, and every call the pace leaves unsent, is a
//!   slot the window holds unused, and the span measures that shortfall too.
//!
//! The pace after a pause is that rate, flat for [`FLAT`] (pacing evenly at N/S after a window's
//! end is as fast as any client can go), then probing upward, doubling every [`DOUBLING_SECS`]:
//! a probe ends in the next 429, which starts the next measurement; a limit that doubles is found
//! within a few seconds. Three things keep a sliding window full, the shape that punishes
//! pacing below it:
//! - the first second after a pause makes up for nearly all of it ([`CREDIT`]): the calls that
//!   left the window during the pause are sent again at once, so the window's log comes round
//!   with the pause's hole in it, and the next refusal comes at that hole's start, where a
//!   whole-second `Retry-After` loses nothing;
//! - the hold ([`FLAT`], 2 s) outlasts the time from a pause's end to the next hole of a short
//!   window, so that refusal comes in the hold, not mid-probe;
//! - for the pace (not the report), the pause that ends a span counts as a second at most
//!   ([`SHORTEST_PAUSE`]): a longer one is a whole-second rounding or a fixed window's rest, time
//!   the API did not need. A bucket's pauses are a second anyway; a fixed window paced a little
//!   fast fills early and waits for its end, losing nothing.
//!
//! Windows of one second (Kong's, the sandbox's own): a whole-second `Retry-After` is then a
//! whole window, and the spans, each with a whole window's pause in it, measure about half the
//! window's count. After a pause of a second, the calls that went before the next 429 are
//! counted instead: counts that agree are a window's, paced evenly just under it without
//! catch-up, and reported (`window.rs` says how, and how a bucket is told apart).
//!
//! Lower bounds. The first span starts at the first call, with the allowance in a state nobody
//! knows (full, empty, partly used by a run just before): what it measures is a lower bound, so
//! the pace climbs from it at once (so the next span, from a pause's end, measures the limit) and
//! it is reported as "at least". A span that ran below the limit measures less than the limit
//! too: one low span does not pull the pace below what the span before it measured; two in a row
//! do (a limit that halves), and so does one lower by more than [`REGIME`]. A span where nothing
//! got through (a storm) measures nothing: the pace steps down from the rate the 429 came at, and
//! the first call that gets through afterwards starts over from the best rate measured.
//!
//! A limit that changes: the one reported is the limit in force at the end of the run. The
//! report is the rate accepted over the newest spans, back to about [`REPORT_SECS`] but not
//! across a change (spans more than [`REGIME`] apart); when the newest span rose that far, it may
//! have begun before the rise, and the report is "at least" it. Calls accepted since the last 429
//! (the allowance was spent then), over that time plus the longest pause seen: for a bucket no
//! more than its limit; for a window no more than its limit when the longest pause is as long as
//! the window (a 429 early in a window waits for all of it), and up to a window's worth over it
//! when every 429 came late in its window (a limit reported "at least" above the one in force:
//! not seen in the simulations, but possible). When that is more than the spans measured by a
//! tenth (a limit that rose and met no 429 since), the report is "at least" that. The summary advises a `--rate` only for a measured limit, rounded up.
//!
//! `--reserve N%`: after each measured span the pace holds N % below the limit learnt for
//! [`RESERVE_HOLD`], then probes from the limit; the span that probe ends in ran below the limit
//! on purpose, so it is a lower bound (it never lowers the pace) and the span after it goes at
//! the limit and measures it again. A 429 during the hold itself means the limit fell below the
//! reserved pace, and that span measures it.
//!
//! Under `--rate unlimited` the slow start doubles every 50 ms: faster, the pace is already
//! several times the limit by the time the first 429 comes back (a call's latency later), and
//! every worker's call in flight is refused.
//!
//! Checked against (src/pacer/tests/sim.rs, at 20/s and 200/s, eight workers, 20 ms a call,
//! `every_shape_of_limit_is_met_near_the_ideal_time`): a token bucket starting full, empty and
//! with 10 % left; a fixed window of 5 s starting mid-window on a spent one, and on a half-used
//! one; a sliding window of 3 s; a bucket whose limit halves, and one whose limit doubles,
//! mid-run. Each within 1.1× the ideal time (the sliding window: 1.10× at 20/s, 1.08× at 200/s),
//! 429s within 5 % of the rows for buckets (the halving one at 20/s: exactly 5 %) and within
//! `--concurrency` a renewal for windows, the limit reported within 10 % of the one at the end,
//! or, for the limit that doubled at 200/s, "at least" a rate below it. Windows of one second,
//! fixed and sliding, at 40/s and 200/s (`one_second_windows`): 1.05× to 1.08× the ideal, the
//! limit reported as the window's count. With `--reserve 20%`: a bucket, and one whose limit
//! doubles (`reserve_still_learns_a_limit_that_rises`). At 5 to 50 ms a call, in order and
//! overtaking: BENCHMARKS.md.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::PaceSettings;

mod window;

use window::{Count, Hint};

/// After a 429 with nothing measured, the pace resumes at this fraction of the rate the 429
/// came at.
pub(super) const BETA: f64 = 0.9;
/// Seconds the pace holds at the measured rate after a pause, before probing: long enough that
/// a sliding window's next refusal (where the pause before comes round again) falls in the hold,
/// not in a probe (a refusal mid-probe ends in a pause rounded up to whole seconds, time the
/// window's freed calls then sit unused).
pub(super) const FLAT: f64 = 2.0;
/// While probing, the pace doubles every this many seconds.
const DOUBLING_SECS: f64 = 1.0;
/// Seconds over which the pace makes up for the pause before it: what the API gave back
/// meanwhile (a bucket refilled, a window renewed, a sliding window's oldest calls gone) is
/// there to spend, and pacing at the measured rate alone would leave it unspent (for a sliding
/// window, for good).
const CATCH_UP: f64 = 1.0;
/// Share of the pause (up to [`CATCH_UP`]) made up for: nearly all of it, for a sliding window
/// whose calls freed during the pause are otherwise lost; not quite all, so that a bucket holding
/// just a pause's worth is not overspent by the pacer's timing.
const CREDIT: f64 = 0.95;
/// For the pace, a pause counts as this long at most: a `Retry-After` is whole seconds, rounded
/// up (the API needed less), and one pointing at a window's end covers time the window was spent
/// in (the next one is there to use at once). A bucket's pauses are this long anyway.
const SHORTEST_PAUSE: f64 = 1.0;
/// The climb after a span that measured only a lower bound doubles every this many seconds.
const FAST_DOUBLING_SECS: f64 = 0.25;
/// The slowest pace the learner goes down to (calls a second), unless `--rate` is slower.
const FLOOR: f64 = 0.5;
/// Under `--rate unlimited` calls start at this rate and double every [`DOUBLING`] until the
/// first 429 or [`OPEN`] (TCP's slow start): a limit is then met at a rate near it, with a
/// call or two in flight, rather than with every worker sending at once.
pub(super) const SLOW_START: f64 = 200.0;
pub(super) const DOUBLING: Duration = Duration::from_millis(50);
/// A pace this fast is no pace: the pacer stands aside.
const OPEN: f64 = 100_000.0;
/// The limit reported is the rate accepted over the spans of about the last this many seconds
/// (several windows, so that whole-second `Retry-After`s average out).
const REPORT_SECS: f64 = 8.0;
/// Spans kept for the report.
const SPANS: usize = 64;
/// Spans whose rates differ by more than this factor measured different limits: the report
/// does not mix them (a limit that changed mid-run is reported as it was at the end).
pub(super) const REGIME: f64 = 1.2;
/// With `--reserve`, seconds the pace holds at the reserve's share below the limit learnt before
/// it probes again (a probe, and the span after it, go at the limit to measure it).
const RESERVE_HOLD: f64 = 10.0;

/// The pace after a 429: `w` from the pause's end (`epoch`) for [`FLAT`], then doubling every
/// [`DOUBLING_SECS`].
/// After a span that was only a lower bound, the pace climbs from what it saw at once,
/// doubling every [`FAST_DOUBLING_SECS`], to find the limit within a second or two.
#[derive(Clone, Copy, Debug)]
pub(super) struct Curve {
    pub w: f64,
    pub epoch: Instant,
    /// Measured (hold, then probe slowly), or only a lower bound (climb at once, fast).
    pub measured: bool,
    /// Seconds of the pause before `epoch` made up for over the first [`CATCH_UP`] seconds
    /// (half the pause, at most half of [`CATCH_UP`]: what the API gave back over the pause may
    /// be less than the pace would have spent, as when its limit just fell).
    pub credit: f64,
    /// `--reserve` as a fraction while the pace holds below `w` to leave it unused (0 while
    /// measuring).
    pub reserve: f64,
    /// Seconds a measured pace holds before probing: [`FLAT`], or [`WINDOW_HOLD`] after a
    /// window's hint.
    pub hold: f64,
    /// Paced evenly at a window's hint: the probe after the hold starts at twice the pace.
    pub windowed: bool,
}

impl Curve {
    pub fn rate(&self, now: Instant) -> f64 {
        let since = now.saturating_duration_since(self.epoch).as_secs_f64();
        if self.reserve > 0.0 {
            // Holding below the limit, then probing from it.
            let t = since - RESERVE_HOLD;
            return if t < 0.0 {
                self.w * (1.0 - self.reserve)
            } else {
                self.w * (t / DOUBLING_SECS).exp2()
            };
        }
        let (flat, doubling) = if self.measured {
            (self.hold, DOUBLING_SECS)
        } else {
            (0.0, FAST_DOUBLING_SECS)
        };
        let t = since - flat;
        let rate = if t <= 0.0 {
            self.w
        } else if self.windowed {
            2.0 * self.w * (t / doubling).exp2()
        } else {
            self.w * (t / doubling).exp2()
        };
        if since < CATCH_UP {
            rate * (1.0 + self.credit / CATCH_UP)
        } else {
            rate
        }
    }
}

/// The end of a pause, the 429 that began it, and the calls accepted by then.
#[derive(Clone, Copy, Debug)]
struct Mark {
    at: Instant,
    refused: Instant,
    accepted: u64,
    /// Calls sent by then.
    calls: u64,
}

/// A 429, as the learner is told of it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Refusal {
    /// When it came.
    pub now: Instant,
    /// When the refused call was sent.
    pub sent: Instant,
    /// Calls sent before the refused one.
    pub before: u64,
    /// When the pause it caused ends.
    pub resume: Instant,
    /// Calls answered (not with a 429) so far.
    pub accepted: u64,
    /// Calls sent so far.
    pub calls: u64,
}

/// The limit as learnt: a rate, and whether it is only a lower bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Learnt {
    pub rate: f64,
    pub at_least: bool,
}

/// What was accepted between two pause ends.
#[derive(Clone, Copy, Debug)]
struct Span {
    secs: f64,
    accepted: u64,
    /// The allowance was kept spent throughout: the span measured the limit. Not when the pace
    /// held below the limit on purpose (`--reserve`): then it is only a lower bound.
    exact: bool,
}

impl Span {
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.secs
    }
}

/// The pace: the ceiling and what the 429s taught. Pure: time is passed in.
#[derive(Debug)]
pub(super) struct Learner {
    /// `--rate` in calls a second, infinite when unlimited.
    pub ceiling: f64,
    adapt: bool,
    /// `--reserve` as a fraction.
    reserve: f64,
    /// When the first call went: the start of the slow start and of the first measurement.
    pub first: Option<Instant>,
    /// The pace since the last 429 that changed it.
    pub curve: Option<Curve>,
    /// When the last 429 that changed the pace came: 429s of calls sent before it belong to it.
    last_event: Option<Instant>,
    /// The end of the last pause since the first call or the last storm.
    last: Option<Mark>,
    /// The spans measured since then, newest first.
    spans: VecDeque<Span>,
    /// The longest pause seen, seconds: a window's `Retry-After` points at its end, so this is
    /// about as long as a window, at least.
    longest_pause: f64,
    /// The most a span that was only a lower bound saw accepted.
    at_least: Option<f64>,
    /// Nothing got through between the last two events.
    pub storm: bool,
    /// What the counts after pauses of a second say of a window of a second (`window.rs`).
    hint: Hint,
    /// The pace the last event's spans gave, before a window's hint.
    span_pace: f64,
}

impl Learner {
    pub fn new(settings: &PaceSettings) -> Learner {
        Learner {
            ceiling: settings.rate.per_second(),
            adapt: settings.adapt,
            reserve: settings.reserve.clamp(0.0, 0.99),
            first: None,
            curve: None,
            last_event: None,
            last: None,
            spans: VecDeque::new(),
            longest_pause: 0.0,
            at_least: None,
            storm: false,
            hint: Hint::default(),
            span_pace: 0.0,
        }
    }

    /// Calls a second allowed at `now`; infinite when nothing holds calls back.
    pub fn rate(&self, now: Instant) -> f64 {
        let r = if !self.adapt {
            self.ceiling
        } else if let Some(curve) = &self.curve {
            curve.rate(now).max(FLOOR)
        } else if self.ceiling.is_infinite() {
            let t = self
                .first
                .map_or(0.0, |f| now.saturating_duration_since(f).as_secs_f64());
            SLOW_START * (t / DOUBLING.as_secs_f64()).exp2()
        } else {
            self.ceiling
        };
        if r >= OPEN { f64::INFINITY } else { r }.min(self.ceiling)
    }

    /// Whether a 429 for a call sent at `sent` may change the pace: not when the call went
    /// before the last change (it is part of that event).
    pub fn is_new_event(&self, sent: Instant) -> bool {
        self.adapt && self.last_event.is_none_or(|e| sent > e)
    }

    /// The rate of the newest exact span before the newest one, if any.
    fn previous_exact(&self) -> Option<f64> {
        self.spans.iter().skip(1).find(|s| s.exact).map(Span::rate)
    }

    /// A 429 at `now` for a call sent at `sent`; the pause it caused ends at `resume`.
    /// `accepted` and `sent_calls` count every call answered (not with a 429) and sent so far.
    /// Returns whether it changed the pace; 429s of calls sent before the last change are part
    /// of that event and change nothing.
    pub fn throttled(&mut self, refusal: Refusal) -> bool {
        let Refusal {
            now,
            sent,
            before,
            resume,
            accepted,
            calls: sent_calls,
        } = refusal;
        if !self.is_new_event(sent) {
            return self.adapt && self.refine(before, accepted);
        }
        self.hint.new_event();
        let first = self.first.unwrap_or(now);
        let pace = match self.rate(now) {
            // Open: the pace is what the calls came at.
            r if r.is_infinite() => sent_calls as f64 / secs(first, now).max(0.001),
            r => r,
        };
        // Held below the limit on purpose, then probed: what the span saw is a lower bound.
        let held = self.curve.is_some_and(|c| {
            c.reserve > 0.0 && sent.saturating_duration_since(c.epoch).as_secs_f64() >= RESERVE_HOLD
        });
        let (w, measured, storm) = match self.last {
            // The first span: the allowance it started with is unknown, so what it saw is a
            // lower bound: climb from it at once, so that the next span, from this pause's end,
            // measures the limit. Nothing seen: from below the pace the 429 came at.
            None if accepted > 0 => {
                let seen = accepted as f64 / secs(first, resume);
                self.at_least = Some(self.at_least.map_or(seen, |a| a.max(seen)));
                self.count_window(first, 0, 0, &refusal);
                (seen, false, false)
            }
            None => (BETA * pace, false, false),
            // A storm: down from the pace, without the catch-up a pause may have added to it.
            Some(mark) if accepted == mark.accepted => {
                let base = self.curve.map_or(pace, |c| c.w.min(pace));
                (BETA * base, true, true)
            }
            Some(mark) => {
                let m = self.measure(mark, now, resume, accepted, held);
                (self.windowed(m, mark, refusal), true, false)
            }
        };
        if !storm {
            self.last = Some(Mark {
                at: resume,
                refused: now,
                accepted,
                calls: sent_calls,
            });
            self.longest_pause = self.longest_pause.max(secs(now, resume));
        }
        // With --reserve, a measured span is followed by a hold below the limit; a probe after
        // the hold by a span at the limit, which measures it again.
        let reserve = if measured && !storm && !held {
            self.reserve
        } else {
            0.0
        };
        self.curve = Some(Curve {
            w: w.max(FLOOR).min(self.ceiling),
            epoch: resume,
            measured,
            // A storm gave nothing back: one call a pause.
            credit: if storm || self.hint.count.is_some() {
                0.0
            } else {
                secs(now, resume).min(CATCH_UP) * CREDIT
            },
            reserve,
            hold: self.hold(),
            windowed: measured && self.hint.count.is_some(),
        });
        self.last_event = Some(now);
        self.storm = storm;
        tracing::debug!(
            pause_secs = secs(now, resume),
            accepted,
            pace = w,
            measured,
            storm,
            window = ?self.hint.count,
            recognised = self.hint.recognised,
            "a 429 set the pace"
        );
        true
    }

    /// The span from the pause that ended at `mark` to the one a 429 at `now` starts (ending at
    /// `resume`), `accepted` calls accepted by then; `held`: the pace held below the limit on
    /// purpose during it. Returns the pace to resume at.
    fn measure(
        &mut self,
        mark: Mark,
        now: Instant,
        resume: Instant,
        accepted: u64,
        held: bool,
    ) -> f64 {
        let span = Span {
            secs: secs(mark.at, resume),
            accepted: accepted - mark.accepted,
            exact: !held,
        };
        self.spans.push_front(span);
        self.spans.truncate(SPANS);
        // For the pace, the pause that ends the span counts as [`SHORTEST_PAUSE`] at most.
        let m = span
            .rate()
            .max(span.accepted as f64 / (secs(mark.at, now) + SHORTEST_PAUSE));
        let before = self.previous_exact().unwrap_or(m);
        match self.curve {
            // A lower bound never pulls the pace down.
            Some(c) if held => m.max(c.w),
            // Lower by more than [`REGIME`]: the limit fell.
            _ if m * REGIME < before => m,
            // One low span may have run below the limit (a sliding window left partly unused):
            // it does not pull the pace below what the span before it measured. Two in a row do.
            _ => m.max(before),
        }
    }

    /// Seconds a measured pace holds before probing: longer after a window's hint.
    fn hold(&self) -> f64 {
        self.hint.hold().unwrap_or(FLAT)
    }

    /// The pace after a measured span whose spans say `m`, from the pause that ended at `mark` to
    /// a 429 at `now` (for a call sent at `sent`) whose pause ends at `resume`.
    ///
    /// A window's hint: a pause of a whole second (the shortest `Retry-After`), and a 429 sooner
    /// after its end than it lasted, while the pace was measured (not climbing from a lower
    /// bound, which overshoots a bucket's refill just as fast). What the pause renewed went in
    /// less than the pause: for a window of one second, its count N (or, for a fixed one whose
    /// pause ended mid-window and whose 429 came in the next, the rest of that one too: the
    /// least hint is kept). N over the pause is a pace such a window takes evenly, and every
    /// probe above it costs a whole window; so the pace holds there, without the catch-up,
    /// for [`WINDOW_TRIAL`], then, once that went without a 429, for [`WINDOW_HOLD`]. A 429 in
    /// the hold (a bucket's burst taken for a window, or a window that shrank) drops the hint and
    /// lowers the least one.
    fn windowed(&mut self, m: f64, mark: Mark, refusal: Refusal) -> f64 {
        self.span_pace = m;
        if let Some(c) = self.curve {
            self.hint
                .judge(&c, refusal.sent, refusal.accepted - mark.accepted);
        }
        self.count_window(mark.at, mark.calls, mark.accepted, &refusal);
        self.hint.pace().map_or(m, |p| m.max(p))
    }

    /// The calls since `from` (a pause's end, or the first call; `calls` sent and `accepted`
    /// accepted by then) are a window's count when `refusal` came sooner after `from` than its
    /// pause of a second lasts.
    fn count_window(&mut self, from: Instant, calls: u64, accepted: u64, refusal: &Refusal) {
        let (active, pause) = (secs(from, refusal.now), secs(refusal.now, refusal.resume));
        // A millisecond over a second: the pause is the `Retry-After` of whole seconds.
        if active < pause && pause <= SHORTEST_PAUSE + 0.001 {
            self.hint.counted(Count {
                sent: refusal.before.saturating_sub(calls) as f64,
                answered: refusal.accepted.saturating_sub(accepted) as f64,
                pause,
                active,
                before: refusal.before,
                accepted_by: accepted,
            });
        }
    }

    /// Another 429 of the event counted last, for a call sent after `before` others, `accepted`
    /// calls accepted by now: what the hint paces at may change (see `window.rs`).
    fn refine(&mut self, before: u64, accepted: u64) -> bool {
        if !self.hint.refine(before, accepted) {
            return false;
        }
        let hold = self.hold();
        if let (Some(c), Some(p)) = (self.curve.as_mut(), self.hint.pace())
            && c.measured
        {
            c.w = self.span_pace.max(p).min(self.ceiling);
            c.windowed = true;
            c.credit = 0.0;
            c.hold = hold;
        }
        true
    }

    /// A call got through after a storm: the pace goes back to the best rate measured (the
    /// storm measured nothing about it), and measuring starts over, from an unknown state.
    pub fn recovered(&mut self, now: Instant) {
        if !std::mem::take(&mut self.storm) {
            return;
        }
        self.last = None;
        let best = self
            .spans
            .iter()
            .take(2)
            .map(Span::rate)
            .reduce(f64::max)
            .or(self.at_least);
        self.spans.clear();
        if let Some(m) = best {
            self.curve = Some(Curve {
                w: m.max(FLOOR).min(self.ceiling),
                epoch: now,
                measured: true,
                credit: 0.0,
                reserve: 0.0,
                hold: FLAT,
                windowed: false,
            });
        }
    }

    /// The limit learnt as it was at the end, at `now` with `accepted` calls accepted so far.
    ///
    /// Measured: the rate accepted over the newest exact spans, back to about [`REPORT_SECS`],
    /// and not across a change of limit (a span whose rate differs from the newest one's by more
    /// than [`REGIME`]). "At least": what has been accepted since the last 429 (the allowance
    /// was spent then, so all of it came from the limit since), when that is more than measured
    /// by a tenth, over a stretch long enough to span a window or two (three times the longest
    /// pause, at least 2 s): a limit that rose and met no 429 since. Else what the first span
    /// saw, when no later span measured.
    pub fn learnt(&self, now: Instant, accepted: u64) -> Option<Learnt> {
        let last = self.last?;
        let mut exact = self.spans.iter().filter(|s| s.exact);
        // The newest span, and whether it is alone in its regime after a rise (it may have
        // begun before the limit rose: a lower bound of the new limit).
        let mut rose = false;
        let measured = exact.next().map(|newest| {
            let (mut n, mut t) = (newest.accepted, newest.secs);
            let mut first = true;
            for s in exact {
                let ratio = s.rate() / newest.rate();
                if first && ratio < 1.0 / REGIME {
                    rose = true;
                }
                first = false;
                if t >= REPORT_SECS || !(1.0 / REGIME..=REGIME).contains(&ratio) {
                    break;
                }
                n += s.accepted;
                t += s.secs;
            }
            n as f64 / t
        });
        let stretch = secs(last.refused, now);
        let since = (stretch >= (2.0 * self.longest_pause).max(2.0)).then(|| {
            accepted.saturating_sub(last.accepted) as f64 / (stretch + self.longest_pause)
        });
        let lower = |rate| Learnt {
            rate,
            at_least: true,
        };
        match (measured, since) {
            // A window's count that two pauses agreed on, or that a probe confirmed.
            (_, s) if self.hint.recognised && self.hint.count.is_some() => Some(Learnt {
                rate: self.hint.count.map_or(0.0, |w| s.map_or(w, |s| w.max(s))),
                at_least: false,
            }),
            // After a window's hint above what the spans measured, every span held a pause of a
            // whole window: what they measured is a lower bound, and so is the even pace since.
            (Some(m), s) if self.hint.count.is_some_and(|w| w > m * 1.1) => {
                Some(lower(s.map_or(m, |s| m.max(s))))
            }
            (Some(m), Some(s)) if s > m * 1.1 => Some(lower(s)),
            (Some(m), s) if rose => Some(lower(s.map_or(m, |s| m.max(s)))),
            // What the API took since the last 429 is no less than the limit reported, so that
            // no --rate advised is below it.
            (Some(m), s) => Some(Learnt {
                rate: s.map_or(m, |s| m.max(s)),
                at_least: false,
            }),
            (None, s) => match (self.at_least, s) {
                (Some(l), Some(s)) => Some(lower(l.max(s))),
                (l, s) => l.or(s).map(lower),
            },
        }
    }
}

/// Seconds from `a` to `b`, at least a millisecond.
fn secs(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64().max(0.001)
}
