//! The delimiter, sniffed from the header line: the one that occurs most often outside quotes,
//! and what to say when a forced `--delimiter` makes the header one column.

use super::InputError;

/// Picks the delimiter that occurs most often, outside quotes, in the first line.
pub fn sniff_delimiter(first_line: &[u8]) -> u8 {
    let candidates = [b',', b';', b'\t', b'|'];
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in first_line {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..4).max_by_key(|i| (counts[*i], 4 - *i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// With a forced `delimiter` that made the header one column: the message that says which
/// delimiter the header seems to use, if it seems to use another.
pub(super) fn wrong_delimiter(name: &str, delimiter: u8, head_line: &[u8]) -> Option<InputError> {
    let looks = sniff_delimiter(head_line);
    if looks == delimiter || !head_line.contains(&looks) {
        return None;
    }
    let shown = |d: u8| match d {
        b'\t' => "tab".to_string(),
        d => format!("'{}'", d as char),
    };
    Some(InputError::Header(format!(
        "{name}: with --delimiter {} the header is one single column, but it looks delimited by {}: drop --delimiter (it is sniffed from the header) or give --delimiter {}",
        shown(delimiter),
        shown(looks),
        shown(looks)
    )))
}
