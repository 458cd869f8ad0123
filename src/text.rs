//! Text as ccbulk shows it to people: errors folded onto one line, values quoted and cut short
//! in messages and examples, plurals. Pure functions, used by the input checks, the results
//! file, the token request and the summary.

/// A URL as messages may show it: a user name or password in it replaced by `***` (it is
/// found as text, so a URL that does not parse is redacted too).
pub fn redact_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_string(),
    }
}

/// Folds line breaks so an error stays one CSV-friendly line.
pub fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value for a one-line example: `(empty)` for none, long ones cut.
pub fn shorten(v: Option<&str>) -> String {
    const MAX: usize = 40;
    let Some(v) = v else {
        return "(empty)".to_string();
    };
    let flat = v.replace(['\n', '\r'], " ");
    if flat.chars().count() > MAX {
        let cut: String = flat.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `n` and the noun that goes with it: "1 row", "2 rows".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", plural(n, one, many))
}

/// A value or header as messages quote it: on one line (line ends and control characters
/// escaped), and cut short when long, so `ccbulk_error` stays readable.
pub fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut s = String::with_capacity(value.len().min(MAX_CHARS * 2) + 2);
    s.push('"');
    for (i, c) in value.chars().enumerate() {
        if i == MAX_CHARS {
            s.push('…');
            break;
        }
        match c {
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '"' => s.push_str("\\\""),
            c if c.is_control() => s.push_str(&c.escape_unicode().to_string()),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
