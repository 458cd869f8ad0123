//! Rates as users write them (`10/s`, `600/min`, `5000/h`, `unlimited`), shared by `--rate` and
//! the sandbox's `--throttle`, and their translation to a governor quota.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

/// A number of events per period; `None` count means unlimited.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Events per period; `None` for no limit.
    pub count: Option<NonZeroU32>,
    /// The period the count applies to.
    pub per: Duration,
}

impl Rate {
    /// Events per second, `f64::INFINITY` when unlimited.
    pub fn per_second(&self) -> f64 {
        match self.count {
            None => f64::INFINITY,
            Some(n) => f64::from(n.get()) / self.per.as_secs_f64(),
        }
    }

    /// A governor quota that lets `burst` events go at once after idle time and then replenishes
    /// one event every period/count. `None` when unlimited.
    pub fn quota(&self, burst: NonZeroU32) -> Option<governor::Quota> {
        let count = self.count?;
        let interval = self.per / count.get();
        let interval = interval.max(Duration::from_nanos(1));
        governor::Quota::with_period(interval).map(|q| q.allow_burst(burst))
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(Rate {
                count: None,
                per: Duration::from_secs(1),
            });
        }
        // A bare number is per second, as load tools read it (`--rate 10` is 10/s).
        let (n, unit) = match t.split_once('/') {
            Some(parts) => parts,
            None if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() => (t, "s"),
            None => {
                return Err(format!(
                    "\"{s}\" is not a rate: write N (per second), N/s, N/min, N/h or unlimited"
                ));
            }
        };
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("\"{s}\": \"{n}\" is not a whole number"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => {
                return Err(format!(
                    "\"{s}\": unknown unit \"{other}\" (use s, min or h)"
                ));
            }
        };
        // Zero calls a period would mean "send nothing"; reading it as "no limit", as this once
        // did, turned a typo into the fastest possible run.
        let count = NonZeroU32::new(n).ok_or_else(|| {
            format!("\"{s}\" is a zero rate: give at least 1 call a period, or \"unlimited\"")
        })?;
        Ok(Rate {
            count: Some(count),
            per,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.count {
            None => write!(f, "unlimited"),
            Some(n) => {
                let unit = match self.per.as_secs() {
                    60 => "min",
                    3600 => "h",
                    _ => "s",
                };
                write!(f, "{n}/{unit}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("10/s".parse::<Rate>().unwrap().per_second(), 10.0);
        assert_eq!("120/min".parse::<Rate>().unwrap().per_second(), 2.0);
        assert!("unlimited".parse::<Rate>().unwrap().count.is_none());
        for zero in ["0", "0/s", " 0 / min"] {
            let err = zero.parse::<Rate>().unwrap_err();
            assert!(
                err.contains("zero rate") && err.contains("unlimited"),
                "{err}"
            );
        }
        assert_eq!("10".parse::<Rate>().unwrap(), "10/s".parse().unwrap());
        assert_eq!(" 7 ".parse::<Rate>().unwrap().per_second(), 7.0);
        assert!("ten".parse::<Rate>().is_err());
        assert!("-1".parse::<Rate>().is_err());
        assert!("x/s".parse::<Rate>().is_err());
        assert!("10/week".parse::<Rate>().is_err());
        assert_eq!("5/h".parse::<Rate>().unwrap().to_string(), "5/h");
    }
}
