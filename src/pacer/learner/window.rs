//! Windows of one second (Kong's per-second windows, the sandbox's own `window` and `sliding`):
//! a whole-second `Retry-After` is then a whole window, and every 429 costs up to a window's
//! calls (the pause runs past the window's end into the next one). Paced in bursts, such a
//! window looks from its 429s just like a bucket of half the rate, and pacing evenly a little
//! above its count halves the rate too (each window refuses near its end, and the pause takes
//! the next). Pacing evenly at its count is as fast as any client can go, and no 429 comes.
//!
//! So the learner counts. After a pause of a second (or from the first call, when the first
//! 429 came within a second), the calls sent before the first one refused are a **count**: for
//! a window of N a second, N, or, when the calls ran past a fixed window's end, up to 2N − 1;
//! for a bucket of L a second, L over the pause and the burst, L·(1 + burst) < 2L. Every count
//! is thus the limit or more and less than twice it:
//! - two counts that agree (within [`SAME_COUNT`] or a call) are a window's: the pace holds
//!   evenly at it ([`even`]) for [`WINDOW_HOLD`], then probes at twice the pace;
//! - otherwise, the least count, when more than half the greatest, is a window's: a fixed one's,
//!   the others having run past a window's end, when the counts do not fit a bucket either (a
//!   bucket's counts over their pause and burst agree); when they do, on trial: the pace holds
//!   at it for [`WINDOW_TRIAL`], then probes at twice it. A window refuses that probe within a
//!   second, having taken at most half its count more ([`PROBE_EXTRA`]): the count is then
//!   recognised. A probe that went on longer says the limit is above the count: the counts are
//!   forgotten, and the spans pace (and probe) as for any other shape;
//! - a 429 while the pace holds at a hint refutes it (a bucket's burst taken for a window, or a
//!   window that shrank): the counts are forgotten, and the spans pace.
//!
//! Answers overtake each other, so the first 429 of an event to come back may not be the first
//! call refused: each later 429 of the same event lowers the count to the calls sent before it.
//! And calls may reach the API in another order than they were sent (a later one accepted, an
//! earlier one refused): the count is never less than the accepted answers since the pause.
//!
//! A recognised count is the limit the summary reports. Checked against fixed and sliding
//! windows of one second at 40/s and 200/s (`one_second_windows`), and, in development, at 5 to
//! 50 ms a call with answers in order and overtaking (BENCHMARKS.md).

use std::collections::VecDeque;

use tokio::time::Instant;

use super::Curve;

/// Seconds the pace holds evenly at a recognised window's count before probing again: every
/// probe of a window of a second ends in a pause of up to a whole window.
pub(super) const WINDOW_HOLD: f64 = 30.0;
/// Seconds a hint on trial holds before its probe: long enough for a bucket (whose burst after
/// a pause can look like a window's count) to refuse it, short enough to find a count that was
/// low (a run that started on a window partly used).
pub(super) const WINDOW_TRIAL: f64 = 4.0;
/// Counts this close (a share of the count, or a call) are the same window's.
const SAME_COUNT: f64 = 0.05;
/// A window paced evenly at its count takes a probe at twice that pace for at most half its
/// count before refusing it; a limit above the count takes more.
const PROBE_EXTRA: f64 = 0.6;
/// Counts kept.
const COUNTS: usize = 4;
/// Share of a window's count the even pace goes at: a little under it, so that the timer's
/// jitter and the answers' varying latency do not put one call too many in a window.
const WINDOW_SHARE: f64 = 0.98;

/// The calls accepted from a pause's end (or the first call) to a 429, over the pause (of a
/// second) before it: the calls sent before the first one refused, or, when the API took calls
/// in another order than they were sent, the accepted answers, whichever is more.
#[derive(Clone, Copy, Debug)]
pub(super) struct Count {
    /// Calls sent before the first refused one, since the pause's end.
    pub sent: f64,
    /// Calls accepted since the pause's end, as far as answered.
    pub answered: f64,
    pub pause: f64,
    /// Seconds from the pause's end (or the first call) to the 429.
    pub active: f64,
    /// Calls sent before the first refused one in all, to correct `sent` by.
    pub before: u64,
    /// Calls accepted in all by the pause's end, to correct `answered` by.
    pub accepted_by: u64,
}

impl Count {
    fn calls(&self) -> f64 {
        self.sent.max(self.answered)
    }

    /// As a window's count a second: what the pause renewed.
    fn window(&self) -> f64 {
        self.calls() / self.pause
    }

    /// As a bucket's rate: what it refilled over the pause and the burst.
    fn bucket(&self) -> f64 {
        self.calls() / (self.pause + self.active)
    }
}

/// What the counts say of a window of a second.
#[derive(Debug, Default)]
pub(super) struct Hint {
    /// The window's count a second, when the counts say there is one.
    pub count: Option<f64>,
    /// Two counts agreed, or a probe confirmed the count: it holds long, and is reported.
    pub recognised: bool,
    /// The newest first.
    counts: VecDeque<Count>,
    /// The newest count is the last event's: its other 429s may lower it.
    counting: bool,
}

impl Hint {
    /// The pace the hint holds at, evenly.
    pub fn pace(&self) -> Option<f64> {
        self.count.map(even)
    }

    /// Seconds the hint's pace holds before its probe.
    pub fn hold(&self) -> Option<f64> {
        let hold = if self.recognised {
            WINDOW_HOLD
        } else {
            WINDOW_TRIAL
        };
        self.count.map(|_| hold)
    }

    /// A new event (a 429 of a call sent after the last event): its count, if any, comes next.
    pub fn new_event(&mut self) {
        self.counting = false;
    }

    /// A count of the event just begun.
    pub fn counted(&mut self, count: Count) {
        self.counts.push_front(count);
        self.counts.truncate(COUNTS);
        self.counting = true;
        self.classify();
    }

    /// The hint from the counts, the newest first.
    fn classify(&mut self) {
        let Some(&count) = self.counts.front() else {
            return;
        };
        let same = |a: f64, b: f64| (a - b).abs() <= (a * SAME_COUNT).max(1.0 / count.pause);
        let agreed = self
            .counts
            .iter()
            .skip(1)
            .find(|c| same(c.window(), count.window()))
            .map(|c| c.window().min(count.window()));
        let bucket = self
            .counts
            .iter()
            .skip(1)
            .any(|c| same(c.bucket(), count.bucket()));
        let least = self
            .counts
            .iter()
            .map(Count::window)
            .fold(f64::INFINITY, f64::min);
        let most = self.counts.iter().map(Count::window).fold(0.0, f64::max);
        self.recognised = agreed.is_some();
        if agreed.is_some() {
            self.count = agreed;
        } else if self.counts.len() >= 2 && least > most / 2.0 {
            self.count = Some(least);
            // Counts that do not fit a bucket either are a fixed window's, one of them past a
            // window's end.
            self.recognised = !bucket;
        }
    }

    /// Another 429 of the event counted last, for a call sent after `before` others, `accepted`
    /// calls accepted in all by now: the count is lowered to the calls sent before the first one
    /// refused, and raised to those answered since. Returns whether the hint changed.
    pub fn refine(&mut self, before: u64, accepted: u64) -> bool {
        let Some(count) = self.counts.front_mut().filter(|_| self.counting) else {
            return false;
        };
        if before < count.before {
            count.sent -= (count.before - before) as f64;
            count.before = before;
        }
        let answered = accepted.saturating_sub(count.accepted_by) as f64;
        count.answered = count.answered.max(answered);
        let was = (self.count, self.recognised);
        self.classify();
        (self.count, self.recognised) != was
    }

    /// A 429 for a call sent at `sent`, with the pace at `curve` and `accepted` calls accepted
    /// since it began.
    pub fn judge(&mut self, curve: &Curve, sent: Instant, accepted: u64) {
        if !curve.windowed || self.count.is_none() {
            return;
        }
        let since = sent.saturating_duration_since(curve.epoch).as_secs_f64();
        let probing = since - curve.hold;
        let extra = accepted as f64 - curve.w * curve.hold;
        if since >= curve.hold
            && (self.recognised || (probing < 1.0 && extra < PROBE_EXTRA * curve.w))
        {
            self.recognised = true;
        } else {
            // Refused at the hint's pace (not a window of that count, or no longer), or a probe
            // that went on too long (the limit is above the count): the spans pace.
            self.forget();
        }
    }

    fn forget(&mut self) {
        *self = Hint::default();
    }
}

/// The even pace for a window of `count` calls a second: [`WINDOW_SHARE`] of it, and a call
/// less at least.
pub(super) fn even(count: f64) -> f64 {
    (count * WINDOW_SHARE).min(count - 1.0).max(count / 2.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn count(calls: f64, active: f64, before: u64) -> Count {
        Count {
            sent: calls,
            answered: 0.0,
            pause: 1.0,
            active,
            before,
            accepted_by: 0,
        }
    }

    fn curve(epoch: Instant, w: f64, hold: f64) -> Curve {
        Curve {
            w,
            epoch,
            measured: true,
            credit: 0.0,
            reserve: 0.0,
            hold,
            windowed: true,
        }
    }

    #[test]
    fn two_counts_that_agree_are_a_window_paced_just_under_it() {
        let mut h = Hint::default();
        h.counted(count(200.0, 0.5, 200));
        assert_eq!(h.count, None, "one count says nothing");
        h.counted(count(201.0, 0.6, 420));
        assert_eq!(h.count, Some(200.0));
        assert!(h.recognised);
        assert_eq!(h.pace(), Some(196.0));
        assert_eq!(h.hold(), Some(WINDOW_HOLD));
        // A call less at least: 39 of 40.
        assert_eq!(even(40.0), 39.0);
    }

    #[test]
    fn a_count_past_a_windows_end_leaves_the_least_and_a_buckets_counts_go_on_trial() {
        // 200 in the first burst, 348 in one that ran past a fixed window's end: no bucket has
        // 200 over 1.5 s and 348 over 2 s.
        let mut h = Hint::default();
        h.counted(count(200.0, 0.5, 200));
        h.counted(count(348.0, 0.98, 560));
        assert_eq!((h.count, h.recognised), (Some(200.0), true));
        // A bucket of 20/s: 21 over 1.05 s, 27 over 1.35 s: a window's count on trial.
        let mut h = Hint::default();
        h.counted(count(21.0, 0.05, 21));
        h.counted(count(27.0, 0.35, 60));
        assert_eq!((h.count, h.recognised), (Some(21.0), false));
        assert_eq!(h.hold(), Some(WINDOW_TRIAL));
        // More than twice apart: no window.
        let mut h = Hint::default();
        h.counted(count(2.0, 0.03, 2));
        h.counted(count(30.0, 0.5, 40));
        assert_eq!(h.count, None);
    }

    #[test]
    fn a_later_429_of_the_same_event_lowers_the_count_to_the_first_refused() {
        let mut h = Hint::default();
        h.counted(count(40.0, 0.1, 40));
        h.new_event();
        // The first 429 back was for a call sent after 130 others, 80 of them after the pause.
        h.counted(count(80.0, 0.3, 130));
        assert_eq!(h.count, None, "80 is twice 40: no window");
        // The call sent after 91 others was refused too: 41 went before it after the pause.
        assert!(h.refine(91, 0));
        assert_eq!((h.count, h.recognised), (Some(40.0), true));
        // A 429 of a call sent later changes nothing; nor one of an event not counted.
        assert!(!h.refine(95, 0));
        h.new_event();
        assert!(!h.refine(10, 0));
    }

    #[test]
    fn a_429_at_the_hints_pace_refutes_it_and_a_quick_refusal_of_its_probe_confirms_it() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let on_trial = || {
            let mut h = Hint::default();
            h.counted(count(21.0, 0.05, 21));
            h.counted(count(27.0, 0.35, 60));
            h
        };
        let c = curve(t0, 20.0, WINDOW_TRIAL);
        // Refused in the hold: forgotten.
        let mut h = on_trial();
        h.judge(&c, at(2.0), 40);
        assert_eq!(h.count, None);
        // The probe refused 0.3 s in, 6 calls beyond the hint's 80: confirmed.
        let mut h = on_trial();
        h.judge(&c, at(4.3), 86);
        assert_eq!((h.count, h.recognised), (Some(21.0), true));
        // The probe took 30 more: the limit is above the count.
        let mut h = on_trial();
        h.judge(&c, at(4.9), 110);
        assert_eq!(h.count, None);
    }
}
