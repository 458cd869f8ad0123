//! Why rows failed or were invalid, counted for the summary: "invalid 3: column "email": is not an
//! e-mail address". A row's error names its line and quotes its value; the reason it is counted
//! under leaves those out, so rows that failed the same way add up. Memory is bounded: past
//! [`Reasons::DISTINCT`] different reasons, the rest are only counted.

use std::collections::HashMap;

use serde::Serialize;

/// Failure and invalid reasons with how many rows each.
#[derive(Debug, Default, Clone)]
pub struct Reasons {
    counts: HashMap<(&'static str, String), u64>,
    /// Rows whose reason was not kept (too many distinct ones).
    untracked: u64,
}

/// One reason in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// `failed` or `invalid`.
    pub outcome: &'static str,
    pub reason: String,
    pub rows: u64,
}

impl Reasons {
    /// Distinct reasons kept at most.
    pub const DISTINCT: usize = 1000;

    /// Counts a row with `outcome` (`failed` or `invalid`) and its `ccbulk_error`.
    pub fn add(&mut self, outcome: &'static str, error: &str) {
        let key = (outcome, reason_of(error));
        let room = self.counts.len() < Self::DISTINCT;
        match self.counts.get_mut(&key) {
            Some(n) => *n += 1,
            None if room => {
                self.counts.insert(key, 1);
            }
            None => self.untracked += 1,
        }
    }

    /// Rows counted under no reason, past [`Reasons::DISTINCT`] distinct ones.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// The `n` most common, most rows first (ties in order of the reason's text).
    pub fn top(&self, n: usize) -> Vec<Reason> {
        let mut all: Vec<Reason> = self
            .counts
            .iter()
            .map(|((outcome, reason), rows)| Reason {
                outcome,
                reason: reason.clone(),
                rows: *rows,
            })
            .collect();
        all.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.reason.cmp(&b.reason)));
        all.truncate(n);
        all
    }
}

/// The reason a row's error counts under: without the `FILE line N, ` it starts with, the value
/// it quotes after a column name, a trailing `(try …)` hint, or customer ids.
pub fn reason_of(error: &str) -> String {
    let mut s = strip_location(error.trim());
    // `column "email": "x@" is not …` → `column "email": is not …`
    if let Some(rest) = s.strip_prefix("column \"")
        && let Some(end) = closing_quote(rest)
        && let Some(after) = rest[end + 1..].strip_prefix(": \"")
        && let Some(value_end) = closing_quote(after)
    {
        s = format!(
            "column \"{}\": {}",
            &rest[..end],
            after[value_end + 1..].trim_start()
        );
    }
    if let Some(i) = s.rfind(" (try ")
        && s.ends_with(')')
    {
        s.truncate(i);
    }
    without_guids(&s)
}

/// Drops a leading `NAME line N, ` or `NAME line N: ` (the row's place in the input).
fn strip_location(error: &str) -> String {
    let mut from = 0;
    while let Some(i) = error[from..].find(" line ") {
        let at = from + i + " line ".len();
        let digits = error[at..].bytes().take_while(u8::is_ascii_digit).count();
        let rest = &error[at + digits..];
        if digits > 0
            && let Some(rest) = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(": "))
        {
            return rest.to_string();
        }
        from = at;
    }
    error.to_string()
}

/// Where the quoted text that starts at `s` ends (its closing `"`, skipping `\"`).
fn closing_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Customer ids (GUIDs) replaced by `…`, so API messages that name the customer add up.
fn without_guids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b.len() - i >= 36 && s.is_char_boundary(i) && s.is_char_boundary(i + 36) {
            let candidate = &s[i..i + 36];
            if uuid::Uuid::try_parse(candidate).is_ok() {
                out.push('…');
                i += 36;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_that_failed_the_same_way_count_under_one_reason() {
        let mut r = Reasons::default();
        r.add(
            "invalid",
            "in.csv line 3, column \"country\": \"Portugal\" is not an ISO 3166-1 alpha-2 code (try \"PT\")",
        );
        r.add(
            "invalid",
            "in.csv line 9, column \"country\": \"Espa\\\"ña\" is not an ISO 3166-1 alpha-2 code (try \"ES\")",
        );
        r.add(
            "invalid",
            "my line 7.csv line 12: the row has 3 cells but the header has 4; no cell for \"zip\" (a delimiter missing, or a quote not closed?)",
        );
        r.add(
            "failed",
            "PATCH 404 Not Found: customer 6a1f0c2e-1b7d-4c3a-9e55-000000000404 not found",
        );
        r.add(
            "failed",
            "PATCH 404 Not Found: customer 6a1f0c2e-1b7d-4c3a-9e55-000000000405 not found",
        );
        r.add(
            "failed",
            "PATCH 404 Not Found: customer 6a1f0c2e-1b7d-4c3a-9e55-000000000406 not found",
        );
        assert_eq!(
            r.top(2),
            vec![
                Reason {
                    outcome: "failed",
                    reason: "PATCH 404 Not Found: customer … not found".into(),
                    rows: 3
                },
                Reason {
                    outcome: "invalid",
                    reason: "column \"country\": is not an ISO 3166-1 alpha-2 code".into(),
                    rows: 2
                },
            ]
        );
        assert_eq!(
            r.top(5)[2].reason,
            "the row has 3 cells but the header has 4; no cell for \"zip\" (a delimiter missing, or a quote not closed?)"
        );
    }

    #[test]
    fn distinct_reasons_are_bounded() {
        let mut r = Reasons::default();
        for i in 0..Reasons::DISTINCT + 10 {
            r.add("failed", &format!("PATCH 400 Bad Request: reason {i}"));
        }
        assert_eq!(r.counts.len(), Reasons::DISTINCT);
        assert_eq!(r.untracked, 10);
    }
}
