//! What an answer's rate-limit headers say is left of the API's allowance, in the three families
//! gateways send:
//! - the IETF httpapi draft's `RateLimit: "name";r=REMAINING;t=RESET` with `RateLimit-Policy:
//!   "name";q=LIMIT;w=WINDOW` (drafts 08 on), its earlier `RateLimit: limit=L, remaining=R,
//!   reset=T` (draft 07), and `RateLimit-Limit/-Remaining/-Reset` (drafts 00 to 06);
//! - `X-RateLimit-Limit/-Remaining/-Reset` (the reset in seconds, or a Unix time when it is one),
//!   and their suffixed kin (`X-RateLimit-Remaining-Requests` with `X-RateLimit-Reset-Requests:
//!   1m30s`, Azure's `x-ms-ratelimit-remaining-*`): the smallest remaining counts; budgets of
//!   tokens rather than calls are left out;
//! - Azure API Management's remaining-calls header (its name is the gateway's to choose: any
//!   header whose name ends in `remaining-calls`), which says what is left but not when it
//!   renews.
//!
//! A header that does not parse is ignored: it is the API's hint, and the 429s still teach.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// The family of headers an announcement came in, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// `RateLimit`, `RateLimit-Policy`, `RateLimit-*` (IETF httpapi draft).
    RateLimit,
    /// `X-RateLimit-*`.
    XRateLimit,
    /// A `…remaining-calls` header (Azure API Management).
    RemainingCalls,
}

impl Family {
    /// The headers' name as the summary says it.
    pub fn name(self) -> &'static str {
        match self {
            Family::RateLimit => "RateLimit",
            Family::XRateLimit => "X-RateLimit-*",
            Family::RemainingCalls => "remaining-calls",
        }
    }
}

/// What one answer says about the allowance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Announced {
    pub family: Family,
    /// Calls left before the allowance is renewed.
    pub remaining: u64,
    /// Time until it is renewed, as the header gave it (whole seconds, mostly), if said.
    pub reset: Option<Duration>,
    /// The allowance of a whole window, and the window, if said.
    pub limit: Option<u64>,
    pub window: Option<Duration>,
}

/// The furthest a reset is believed unless told otherwise: the default `--max-retry-after`
/// ([`read`]'s `longest`).
pub const LONGEST_RESET: Duration = Duration::from_secs(300);

/// Every announcement in `h`; `now` turns a Unix-time reset into a duration. A reset is read as
/// `longest` at most (`--max-retry-after`, as a `Retry-After` is cut to it): with nothing left
/// the run holds until the reset, and no answer comes to shorten a hold while no call is in
/// flight; past `longest` one call asks again, as after a `Retry-After` that long. A server that
/// announces a reset years away does not hold a cron run for years.
pub fn read(h: &HeaderMap, now: SystemTime, longest: Duration) -> Vec<Announced> {
    let mut found = Vec::new();
    found.extend(ietf(h));
    found.extend(x_ratelimit(h, now));
    found.extend(remaining_calls(h));
    for a in &mut found {
        a.reset = a.reset.map(|d| d.min(longest));
    }
    found
}

/// The values of header `name`, joined as one list.
fn joined(h: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = h
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// A list of members, each `item;k=v;k=v`: the item (unquoted) and the parameters.
fn members(list: &str) -> Vec<(String, Vec<(String, String)>)> {
    list.split(',')
        .map(|member| {
            let mut parts = member.split(';').map(str::trim);
            let item = parts.next().unwrap_or("").trim_matches('"').to_string();
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            (item, params)
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn count(v: &str) -> Option<u64> {
    v.trim().trim_matches('"').parse().ok()
}

fn seconds(v: &str) -> Option<Duration> {
    let s: f64 = v.trim().trim_matches('"').parse().ok()?;
    Duration::try_from_secs_f64(s).ok()
}

/// `RateLimit` (with `RateLimit-Policy`), or draft 07's dictionary, or `RateLimit-*`.
fn ietf(h: &HeaderMap) -> Vec<Announced> {
    let policies: Vec<(String, Option<u64>, Option<Duration>)> = joined(h, "ratelimit-policy")
        .map(|l| {
            members(&l)
                .into_iter()
                .map(|(name, p)| {
                    let q = param(&p, "q").and_then(count);
                    let w = param(&p, "w").and_then(seconds);
                    (name, q, w)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = Vec::new();
    if let Some(list) = joined(h, "ratelimit") {
        // Draft 07: one dictionary across the members.
        let mut dict: Vec<(String, String)> = Vec::new();
        for (item, params) in members(&list) {
            if let Some(r) = param(&params, "r").and_then(count) {
                let policy = policies.iter().find(|(n, ..)| *n == item);
                let policy = policy.or((policies.len() == 1).then(|| &policies[0]));
                found.push(Announced {
                    family: Family::RateLimit,
                    remaining: r,
                    reset: param(&params, "t").and_then(seconds),
                    limit: policy.and_then(|p| p.1),
                    window: policy.and_then(|p| p.2),
                });
            } else if let Some((k, v)) = item.split_once('=') {
                dict.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        if let Some(r) = param(&dict, "remaining").and_then(count) {
            found.push(Announced {
                family: Family::RateLimit,
                remaining: r,
                reset: param(&dict, "reset").and_then(seconds),
                limit: param(&dict, "limit").and_then(count),
                window: None,
            });
        }
    }
    if found.is_empty()
        && let Some(r) = joined(h, "ratelimit-remaining").and_then(|v| first_count(&v))
    {
        let limit = joined(h, "ratelimit-limit");
        found.push(Announced {
            family: Family::RateLimit,
            remaining: r,
            reset: joined(h, "ratelimit-reset").and_then(|v| seconds(&v)),
            limit: limit.as_deref().and_then(first_count),
            window: limit.as_deref().and_then(window_of),
        });
    }
    found
}

/// The first number of a list such as `100, 100;w=60`.
fn first_count(v: &str) -> Option<u64> {
    count(v.split([',', ';']).next()?)
}

/// The `w=` of a limit's policy list.
fn window_of(v: &str) -> Option<Duration> {
    members(v)
        .iter()
        .find_map(|(_, p)| param(p, "w").and_then(seconds))
}

/// `X-RateLimit-*` and their suffixed kin.
fn x_ratelimit(h: &HeaderMap, now: SystemTime) -> Vec<Announced> {
    let mut found = Vec::new();
    for (name, value) in h {
        let name = name.as_str();
        // The cheap test first: every answer's headers come here, and most are not `x-` ones.
        if !name.starts_with("x-") {
            continue;
        }
        let Some(at) = name.find("ratelimit-remaining") else {
            continue;
        };
        if name.contains("token") {
            continue;
        }
        let Some(remaining) = value.to_str().ok().and_then(first_count) else {
            continue;
        };
        // The same prefix and suffix name the limit and the reset.
        let (prefix, suffix) = (&name[..at], &name[at + "ratelimit-remaining".len()..]);
        let sibling = |kind: &str| joined(h, &format!("{prefix}ratelimit-{kind}{suffix}"));
        let limit = sibling("limit");
        found.push(Announced {
            family: Family::XRateLimit,
            remaining,
            reset: sibling("reset").and_then(|v| reset_of(&v, now)),
            limit: limit.as_deref().and_then(first_count),
            window: limit.as_deref().and_then(window_of),
        });
    }
    found
}

/// A reset: seconds, a Unix time (anything past 2001), or a duration such as `1m30s`.
fn reset_of(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Some(d) = seconds(v) {
        if d.as_secs() < 1_000_000_000 {
            return Some(d);
        }
        let since_epoch = now.duration_since(UNIX_EPOCH).ok()?;
        return Some(d.saturating_sub(since_epoch));
    }
    duration(v)
}

/// `1h2m3.5s`, `20ms`, `6m0s`: the form OpenAI-style gateways use.
fn duration(v: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = v;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += n * match &rest[..unit] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit..];
    }
    (total.is_finite() && total <= 1e9).then(|| Duration::from_secs_f64(total))
}

/// A header whose name ends in `remaining-calls` (APIM's `remaining-calls-header-name`).
fn remaining_calls(h: &HeaderMap) -> Option<Announced> {
    h.iter()
        .filter(|(name, _)| name.as_str().ends_with("remaining-calls"))
        .filter_map(|(_, v)| v.to_str().ok().and_then(first_count))
        .min()
        .map(|remaining| Announced {
            family: Family::RemainingCalls,
            remaining,
            reset: None,
            limit: None,
            window: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn the_ietf_draft_with_its_policy() {
        let h = map(&[
            ("RateLimit", "\"sandbox\";r=42;t=3"),
            ("RateLimit-Policy", "\"sandbox\";q=100;w=5"),
        ]);
        assert_eq!(
            read(&h, now(), LONGEST_RESET),
            vec![Announced {
                family: Family::RateLimit,
                remaining: 42,
                reset: secs(3),
                limit: Some(100),
                window: secs(5),
            }]
        );
        // Two policies: each matched by name.
        let h = map(&[
            ("RateLimit", "\"burst\";r=5;t=1, \"day\";r=900;t=3600"),
            (
                "RateLimit-Policy",
                "\"day\";q=1000;w=86400, \"burst\";q=10;w=1",
            ),
        ]);
        let got = read(&h, now(), LONGEST_RESET);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].remaining, got[0].limit), (5, Some(10)));
        assert_eq!((got[1].remaining, got[1].window), (900, secs(86400)));
    }

    #[test]
    fn the_earlier_drafts() {
        let h = map(&[("RateLimit", "limit=100, remaining=50, reset=5")]);
        let got = read(&h, now(), LONGEST_RESET);
        assert_eq!(
            (got[0].remaining, got[0].reset, got[0].limit),
            (50, secs(5), Some(100))
        );
        let h = map(&[
            ("RateLimit-Limit", "100, 100;w=60"),
            ("RateLimit-Remaining", "7"),
            ("RateLimit-Reset", "30"),
        ]);
        let got = read(&h, now(), LONGEST_RESET);
        assert_eq!(
            got,
            vec![Announced {
                family: Family::RateLimit,
                remaining: 7,
                reset: secs(30),
                limit: Some(100),
                window: secs(60),
            }]
        );
    }

    #[test]
    fn x_ratelimit_in_seconds_or_unix_time() {
        let h = map(&[
            ("X-RateLimit-Limit", "100"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "3"),
        ]);
        let got = read(&h, now(), LONGEST_RESET);
        assert_eq!(
            (got[0].family, got[0].remaining, got[0].reset, got[0].limit),
            (Family::XRateLimit, 0, secs(3), Some(100))
        );
        let h = map(&[
            ("x-ratelimit-remaining", "9"),
            ("x-ratelimit-reset", "1800000042"),
        ]);
        assert_eq!(read(&h, now(), LONGEST_RESET)[0].reset, secs(42));
        // A reset years away (as seconds, a Unix time or a duration) holds no longer than a
        // Retry-After would by default.
        for far in ["900000000", "4000000000", "20000h"] {
            let h = map(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", far)]);
            assert_eq!(
                read(&h, now(), LONGEST_RESET)[0].reset,
                Some(LONGEST_RESET),
                "{far}"
            );
        }
        let h = map(&[("RateLimit", "limit=100, remaining=0, reset=999999")]);
        assert_eq!(read(&h, now(), LONGEST_RESET)[0].reset, Some(LONGEST_RESET));
    }

    /// `--max-retry-after` cuts a reset as it cuts a `Retry-After`: shorter or longer than its
    /// default, in each family and form.
    #[test]
    fn a_reset_is_cut_to_max_retry_after() {
        let minute = Duration::from_secs(60);
        for (name, value) in [
            ("x-ratelimit-reset", "90"),
            ("x-ratelimit-reset", "1800000090"),
            ("ratelimit-reset", "90"),
        ] {
            let remaining = name.replace("reset", "remaining");
            let h = map(&[(remaining.as_str(), "0"), (name, value)]);
            assert_eq!(
                read(&h, now(), minute)[0].reset,
                Some(minute),
                "{name}: {value}"
            );
            let longer = Duration::from_secs(3600);
            assert_eq!(
                read(&h, now(), longer)[0].reset,
                secs(90),
                "{name}: {value}"
            );
        }
        let h = map(&[("RateLimit", "\"q\";r=0;t=600")]);
        assert_eq!(read(&h, now(), minute)[0].reset, Some(minute));
        let h = map(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "2h"),
        ]);
        let hour = Duration::from_secs(3600);
        assert_eq!(read(&h, now(), hour)[0].reset, Some(hour));
        // A reset under the cut is as said.
        let h = map(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "3")]);
        assert_eq!(read(&h, now(), minute)[0].reset, secs(3));
    }

    #[test]
    fn suffixed_x_ratelimit_headers_and_remaining_calls() {
        let h = map(&[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-requests", "1m30s"),
            // A budget of tokens, not of calls.
            ("x-ratelimit-remaining-tokens", "1"),
            ("x-ms-ratelimit-remaining-subscription-reads", "11999"),
            ("Remaining-Calls", "17"),
        ]);
        let mut got = read(&h, now(), LONGEST_RESET);
        got.sort_by_key(|a| a.remaining);
        let seen: Vec<_> = got
            .iter()
            .map(|a| (a.family, a.remaining, a.reset, a.limit))
            .collect();
        assert_eq!(
            seen,
            vec![
                (Family::RemainingCalls, 17, None, None),
                (Family::XRateLimit, 59, secs(90), Some(60)),
                (Family::XRateLimit, 11999, None, None),
            ]
        );
        assert_eq!(duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(duration("6m0s"), secs(360));
        assert_eq!(duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(duration("soon"), None);
    }

    #[test]
    fn nonsense_is_ignored() {
        let h = map(&[
            ("RateLimit", "\"x\";r=lots;t=1"),
            ("X-RateLimit-Remaining", "-3"),
            ("X-RateLimit-Reset", "tomorrow"),
            ("Remaining-Calls", ""),
        ]);
        assert_eq!(read(&h, now(), LONGEST_RESET), vec![]);
        assert_eq!(
            read(&map(&[("X-RateLimit-Reset", "3")]), now(), LONGEST_RESET),
            vec![]
        );
    }
}
