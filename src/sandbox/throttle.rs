//! The sandbox's `--throttle`: which calls are answered 429, with which `Retry-After`, and what
//! the rate-limit headers announce (`--throttle-headers`).
//!
//! Real APIs sit behind gateways that limit in one of three shapes, and a client's pacing must
//! meet each of them, so the sandbox plays each:
//! - `bucket` (AWS API Gateway, nginx `limit_req`): a token bucket holding one second's worth of
//!   calls (at least one), refilled evenly at the rate; it starts full. `Retry-After` is the time
//!   until the next token.
//! - `window` (Kong, APIM's `quota-by-key`): at most the rate's count in each period, the periods
//!   back to back from the sandbox's start; `Retry-After` is the time to the window's end.
//! - `sliding` (APIM's `rate-limit`): at most the rate's count in any span of one period, kept as
//!   a log of the calls allowed in the last period; `Retry-After` is the time until the oldest of
//!   them leaves it.
//!
//! Times are on tokio's clock, so tests can drive every shape on a paused clock. Header values
//! and `Retry-After` are whole seconds, as the headers define them, rounded up: a client that
//! waits that long is never refused for having waited too little.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::rate::Rate;

/// Which shape of limit `--throttle` plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// A token bucket holding one second's worth of calls, starting full.
    #[default]
    Bucket,
    /// A fixed window: the rate's count per its period, windows back to back.
    Window,
    /// A sliding window: the rate's count in any span of its period.
    Sliding,
}

/// What the throttle decided for one call, and what is left after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Verdict {
    /// The call may go on; otherwise it is answered 429.
    pub allowed: bool,
    /// On a refusal, how long until a call would be allowed.
    pub retry_after: Duration,
    /// The most calls the shape allows at once: the bucket's size, the window's count.
    pub limit: u32,
    /// Calls that could go right now, after this one.
    pub remaining: u32,
    /// Until the allowance is whole again: the bucket full, the window's end, or (sliding) the
    /// oldest call of the log leaving it. Zero when it is whole.
    pub reset: Duration,
    /// The span `limit` applies to: the bucket's fill time, the window's period.
    pub period: Duration,
}

/// One throttle: its shape, limit and what it remembers of past calls.
pub(super) struct Throttle {
    /// The window's count; the bucket's size is derived from the rate.
    count: u32,
    per: Duration,
    headers: bool,
    started: Instant,
    memory: Mutex<Memory>,
}

/// What each shape remembers.
enum Memory {
    /// Tokens left at `at` (fractions are the refill under way).
    Bucket { tokens: f64, at: Instant },
    /// The window number (from the start) and the calls it allowed.
    Window { number: u64, used: u32 },
    /// When each call of the last period was allowed, oldest first (never more than `count`).
    Sliding(VecDeque<Instant>),
}

impl Throttle {
    /// A throttle at `rate` (`None` when the rate is unlimited, which throttles nothing).
    pub fn new(rate: Rate, shape: Shape, headers: bool) -> Option<Throttle> {
        let count = rate.count?.get();
        let per = rate.per.max(Duration::from_millis(1));
        let now = Instant::now();
        let memory = match shape {
            Shape::Bucket => Memory::Bucket {
                tokens: bucket_size(count, per),
                at: now,
            },
            Shape::Window => Memory::Window { number: 0, used: 0 },
            Shape::Sliding => Memory::Sliding(VecDeque::new()),
        };
        Some(Throttle {
            count,
            per,
            headers,
            started: now,
            memory: Mutex::new(memory),
        })
    }

    /// Whether answers carry the rate-limit headers.
    pub fn announces(&self) -> bool {
        self.headers
    }

    /// Calls per second the bucket refills.
    fn per_second(&self) -> f64 {
        f64::from(self.count) / self.per.as_secs_f64()
    }

    /// Decides a call arriving at `now` and counts it if it is allowed.
    pub fn check(&self, now: Instant) -> Verdict {
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *memory {
            Memory::Bucket { tokens, at } => self.bucket(tokens, at, now),
            Memory::Window { number, used } => self.window(number, used, now),
            Memory::Sliding(log) => self.sliding(log, now),
        }
    }

    fn bucket(&self, tokens: &mut f64, at: &mut Instant, now: Instant) -> Verdict {
        let rate = self.per_second();
        let size = bucket_size(self.count, self.per);
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(size);
        *at = now;
        let allowed = *tokens >= 1.0;
        if allowed {
            *tokens -= 1.0;
        }
        Verdict {
            allowed,
            retry_after: secs((1.0 - *tokens).max(0.0) / rate),
            limit: size as u32,
            remaining: tokens.floor() as u32,
            reset: secs((size - *tokens) / rate),
            period: secs(size / rate),
        }
    }

    fn window(&self, number: &mut u64, used: &mut u32, now: Instant) -> Verdict {
        let since = now.saturating_duration_since(self.started).as_nanos();
        let per = self.per.as_nanos();
        let current = u64::try_from(since / per).unwrap_or(u64::MAX);
        if current != *number {
            *number = current;
            *used = 0;
        }
        let allowed = *used < self.count;
        if allowed {
            *used += 1;
        }
        let to_end = Duration::from_nanos(u64::try_from(per - since % per).unwrap_or(u64::MAX));
        Verdict {
            allowed,
            retry_after: to_end,
            limit: self.count,
            remaining: self.count - *used,
            reset: if *used == 0 { Duration::ZERO } else { to_end },
            period: self.per,
        }
    }

    fn sliding(&self, log: &mut VecDeque<Instant>, now: Instant) -> Verdict {
        while log.front().is_some_and(|&t| t + self.per <= now) {
            log.pop_front();
        }
        let allowed = log.len() < self.count as usize;
        if allowed {
            log.push_back(now);
        }
        let frees = |t: Option<&Instant>| t.map_or(Duration::ZERO, |&t| (t + self.per) - now);
        Verdict {
            allowed,
            retry_after: frees(log.front()),
            limit: self.count,
            remaining: self.count - log.len() as u32,
            reset: frees(log.front()),
            period: self.per,
        }
    }
}

/// A second's worth of calls, at least one: a client pacing at the rate never meets a 429 from
/// its arrival jitter, as with APIs that count per second.
fn bucket_size(count: u32, per: Duration) -> f64 {
    (f64::from(count) / per.as_secs_f64())
        .floor()
        .clamp(1.0, f64::from(u32::MAX))
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// Whole seconds, rounded up: the unit of `Retry-After` and of the rate-limit headers.
pub(super) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The rate-limit headers of `verdict`, in the three families clients read:
/// `X-RateLimit-Limit`/`-Remaining`/`-Reset` (reset as seconds from now, as APIM and most
/// gateways send it, not an epoch time), and the IETF httpapi draft's `RateLimit-Policy`
/// (`"sandbox";q=LIMIT;w=PERIOD`) and `RateLimit` (`"sandbox";r=REMAINING;t=RESET`).
pub(super) fn announce(headers: &mut HeaderMap, verdict: &Verdict) {
    let reset = whole_seconds(verdict.reset);
    let period = whole_seconds(verdict.period).max(1);
    let values = [
        ("x-ratelimit-limit", verdict.limit.to_string()),
        ("x-ratelimit-remaining", verdict.remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        (
            "ratelimit-policy",
            format!("\"sandbox\";q={};w={period}", verdict.limit),
        ),
        (
            "ratelimit",
            format!("\"sandbox\";r={};t={reset}", verdict.remaining),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(rate: &str, shape: Shape) -> Throttle {
        Throttle::new(rate.parse().unwrap(), shape, true).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Calls at `t0 + at[i]`: which were allowed.
    fn allowed(t: &Throttle, t0: Instant, at: &[u64]) -> Vec<bool> {
        at.iter().map(|&a| t.check(t0 + ms(a)).allowed).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_starts_full_then_refills_evenly() {
        let t = throttle("4/s", Shape::Bucket);
        let t0 = Instant::now();
        assert_eq!(
            allowed(&t, t0, &[0, 0, 0, 0]),
            [true; 4],
            "a second's worth"
        );
        let refused = t.check(t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, ms(250), "one token every 250 ms");
        assert_eq!((refused.limit, refused.remaining), (4, 0));
        assert_eq!(refused.reset, ms(1000), "empty: a second until full");
        // One token per 250 ms from then on, not a burst.
        assert_eq!(
            allowed(&t, t0, &[250, 300, 510, 740]),
            [true, false, true, false]
        );
        // Idle for long: full again, and no more than full.
        let v = t.check(t0 + ms(10_000));
        assert!(v.allowed);
        assert_eq!((v.remaining, v.reset), (3, ms(250)));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_of_a_slow_rate_holds_one_call() {
        let t = throttle("30/min", Shape::Bucket);
        let t0 = Instant::now();
        assert_eq!(allowed(&t, t0, &[0, 1000, 2000]), [true, false, true]);
        assert_eq!(t.check(t0 + ms(2500)).retry_after, ms(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn window_allows_its_count_then_refuses_until_its_end() {
        let t = throttle("3/s", Shape::Window);
        let t0 = Instant::now();
        let v = t.check(t0 + ms(100));
        assert!(v.allowed);
        assert_eq!((v.limit, v.remaining, v.reset), (3, 2, ms(900)));
        assert_eq!(allowed(&t, t0, &[200, 300]), [true, true]);
        let refused = t.check(t0 + ms(400));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, ms(600), "to the window's end");
        assert_eq!(refused.remaining, 0);
        // The next window: the whole count at once, even right at its start.
        assert_eq!(
            allowed(&t, t0, &[1000, 1000, 1000, 1001]),
            [true, true, true, false]
        );
        // A window skipped entirely starts fresh too.
        assert_eq!(allowed(&t, t0, &[5500, 5500, 5500]), [true; 3]);
        assert_eq!(t.check(t0 + ms(5999)).retry_after, ms(1));
    }

    #[tokio::test(start_paused = true)]
    async fn window_of_a_minute() {
        let t = throttle("2/min", Shape::Window);
        let t0 = Instant::now();
        assert_eq!(allowed(&t, t0, &[0, 10_000, 20_000]), [true, true, false]);
        let v = t.check(t0 + ms(20_000));
        assert_eq!((v.retry_after, v.period), (ms(40_000), ms(60_000)));
        assert!(t.check(t0 + ms(60_000)).allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn sliding_window_counts_the_last_period() {
        let t = throttle("3/s", Shape::Sliding);
        let t0 = Instant::now();
        assert_eq!(allowed(&t, t0, &[0, 400, 800]), [true; 3]);
        let refused = t.check(t0 + ms(900));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, ms(100), "until the call at 0 leaves");
        // Unlike a fixed window, the start of a new second frees one call, not three.
        assert_eq!(allowed(&t, t0, &[1000, 1000, 1399]), [true, false, false]);
        let v = t.check(t0 + ms(1400));
        assert!(v.allowed);
        assert_eq!((v.remaining, v.reset), (0, ms(400)));
        // After a quiet period, the whole count again.
        assert_eq!(
            allowed(&t, t0, &[5000, 5000, 5000, 5000]),
            [true, true, true, false]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sliding_log_never_holds_more_than_the_count() {
        let t = throttle("5/s", Shape::Sliding);
        let t0 = Instant::now();
        for i in 0..1000 {
            t.check(t0 + ms(i));
        }
        let Memory::Sliding(log) = &*t.memory.lock().unwrap() else {
            panic!("a sliding throttle keeps a log");
        };
        assert_eq!(log.len(), 5);
    }

    #[test]
    fn unlimited_throttles_nothing() {
        assert!(Throttle::new("unlimited".parse().unwrap(), Shape::Window, false).is_none());
    }

    #[test]
    fn headers_in_whole_seconds_rounded_up() {
        let mut h = HeaderMap::new();
        let v = Verdict {
            allowed: true,
            retry_after: Duration::ZERO,
            limit: 100,
            remaining: 42,
            reset: ms(2100),
            period: ms(5000),
        };
        announce(&mut h, &v);
        let get = |n: &str| h[n].to_str().unwrap().to_string();
        assert_eq!(get("x-ratelimit-limit"), "100");
        assert_eq!(get("x-ratelimit-remaining"), "42");
        assert_eq!(get("x-ratelimit-reset"), "3");
        assert_eq!(get("ratelimit-policy"), "\"sandbox\";q=100;w=5");
        assert_eq!(get("ratelimit"), "\"sandbox\";r=42;t=3");
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
