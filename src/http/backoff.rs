//! How long to wait before trying a call again: the exponential backoff with jitter, and the
//! server's own `Retry-After`. Shared by API calls (`pipeline/retry.rs`) and token requests
//! (`token.rs`), so both back off alike.

use std::time::{Duration, SystemTime};

/// The longest backoff between attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The exponential backoff before attempt `attempt + 1`, with jitter in [d/2, d].
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(MAX_BACKOFF);
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// `Retry-After` as given: delay-seconds as written (a decimal fraction too, though the header
/// defines whole seconds; never rounded), or an HTTP date. A date is measured against the
/// answer's own `Date` header when it has one that parses (the server's clock and ours can
/// differ; the difference of two of its own times does not depend on either), else against `now`.
pub(crate) fn parse_retry_after(
    value: &str,
    date: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        return v
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok());
    }
    let when = httpdate::parse_http_date(v).ok()?;
    let from = date
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or(now);
    Some(when.duration_since(from).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let full = base * (1 << (attempt - 1));
            let d = backoff(base, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
    }

    #[test]
    fn retry_after_as_given() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let at = |secs: i64| {
            let d = Duration::from_secs(secs.unsigned_abs());
            httpdate::fmt_http_date(if secs >= 0 { now + d } else { now - d })
        };
        let ms = Duration::from_millis;
        // (Retry-After, the answer's Date, expected wait)
        let table: Vec<(String, Option<String>, Option<Duration>)> = vec![
            ("3".into(), None, Some(ms(3000))),
            (" 0 ".into(), None, Some(Duration::ZERO)),
            ("120".into(), Some(at(-500)), Some(ms(120_000))),
            ("1.5".into(), None, Some(ms(1500))),
            ("0.25".into(), None, Some(ms(250))),
            // A date: against our clock when the answer has no Date …
            (at(7), None, Some(ms(7000))),
            (at(-7), None, Some(Duration::ZERO)),
            // … against the answer's Date when it has one: the server's clock runs 100 s behind
            // ours, and its date still means 5 s from its now.
            (at(-95), Some(at(-100)), Some(ms(5000))),
            // Its clock runs ahead: 5 s, not 105.
            (at(105), Some(at(100)), Some(ms(5000))),
            // A Date that does not parse: our clock.
            (at(7), Some("yesterday".into()), Some(ms(7000))),
            (at(3), Some(at(10)), Some(Duration::ZERO)),
            ("soon".into(), None, None),
            ("-3".into(), None, None),
            ("1.2.3".into(), None, None),
            ("".into(), None, None),
            ("1e3".into(), None, None),
        ];
        for (value, date, want) in table {
            assert_eq!(
                parse_retry_after(&value, date.as_deref(), now),
                want,
                "Retry-After {value:?}, Date {date:?}"
            );
        }
    }
}
