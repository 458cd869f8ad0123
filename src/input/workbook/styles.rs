//! Which cell styles of an `.xlsx` show a number as a date or a time (`xl/styles.xml`: its
//! `numFmts` and `cellXfs`): a date is stored as a number of days, and only its style says it is
//! one. The rules are calamine's (`formats.rs`, MIT licence), so that a sheet reads the same as it
//! did when calamine read it whole; calamine keeps them private, hence this copy.

use std::collections::HashMap;

use quick_xml::events::Event;

use super::package::{MAX_SMALL_PART, Package, attr, is};

/// What a cell style makes of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Other,
    DateTime,
    TimeDelta,
}

/// The format of each cell style (`cellXfs`, in order: a cell's `s` attribute is an index into
/// it); empty when the workbook has no styles part.
pub(super) fn formats(package: &mut Package, part: &str) -> Result<Vec<Format>, String> {
    let Some(mut xml) = package.xml(part, MAX_SMALL_PART)? else {
        return Ok(Vec::new());
    };
    let mut custom: HashMap<String, Format> = HashMap::new();
    let mut formats = Vec::new();
    // Only these two lists count: `dxfs` (conditional formats) hold `numFmt`s too, and
    // `cellStyleXfs` holds `xf`s.
    let (mut in_fmts, mut in_xfs) = (false, false);
    loop {
        match xml.next()? {
            Event::Start(e) if is(&e, "numFmts") => in_fmts = true,
            Event::End(e) if e.local_name().as_ref() == "numFmts" => in_fmts = false,
            Event::Start(e) if in_fmts && is(&e, "numFmt") => {
                if let (Some(id), Some(code)) = (attr(&e, "numFmtId"), attr(&e, "formatCode")) {
                    custom.insert(id, detect_custom_number_format(&code));
                }
            }
            Event::Start(e) if is(&e, "cellXfs") => in_xfs = true,
            Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_xfs = false,
            Event::Start(e) if in_xfs && is(&e, "xf") => {
                formats.push(attr(&e, "numFmtId").map_or(Format::Other, |id| {
                    custom
                        .get(&id)
                        .copied()
                        .unwrap_or_else(|| builtin_format_by_id(&id))
                }));
            }
            Event::Eof => return Ok(formats),
            _ => {}
        }
    }
}

/// Is this number format code a date, a time or a duration? (calamine's
/// `detect_custom_number_format`.)
pub(super) fn detect_custom_number_format(format: &str) -> Format {
    let mut escaped = false;
    let mut is_quote = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for s in format.chars() {
        match (s, escaped, is_quote, ap, brackets) {
            (_, true, ..) => escaped = false, // if escaped, ignore
            // `\` escapes, `_` skips width, `*` fills: the next char is a literal.
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => is_quote = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => is_quote = true,
            (';', ..) => return Format::Other, // first format only
            ('[', ..) => brackets = brackets.saturating_add(1),
            (']', .., 1) if hms => return Format::TimeDelta, // if closing
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return Format::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return Format::DateTime;
            }
            _ => {
                if !(hms && s.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    Format::Other
}

/// The built-in number formats that are dates or times (calamine's `builtin_format_by_id`).
fn builtin_format_by_id(id: &str) -> Format {
    match id {
        "14" | "15" | "16" | "17" | "18" | "19" | "20" | "21" | "22" | "45" | "47" => {
            Format::DateTime
        }
        // East Asian built-in formats: dates and clock times.
        "27" | "28" | "29" | "30" | "31" | "32" | "33" | "34" | "35" | "36" | "50" | "51"
        | "52" | "53" | "54" | "55" | "56" | "57" | "58" => Format::DateTime,
        "46" => Format::TimeDelta,
        _ => Format::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few of calamine's own cases (ported from openpyxl).
    #[test]
    fn date_formats_are_told_from_number_formats() {
        assert_eq!(detect_custom_number_format("DD/MM/YY"), Format::DateTime);
        assert_eq!(detect_custom_number_format("yyyy-mm-dd"), Format::DateTime);
        assert_eq!(detect_custom_number_format("H:MM:SS;@"), Format::DateTime);
        assert_eq!(detect_custom_number_format("[h]:mm:ss"), Format::TimeDelta);
        assert_eq!(detect_custom_number_format("0.00"), Format::Other);
        assert_eq!(detect_custom_number_format("\\Y000000"), Format::Other);
        assert_eq!(
            detect_custom_number_format("\"$\"#,##0_);[Red](\"$\"#,##0)"),
            Format::Other
        );
        assert_eq!(detect_custom_number_format("#,##0*y"), Format::Other);
        assert_eq!(builtin_format_by_id("14"), Format::DateTime);
        assert_eq!(builtin_format_by_id("46"), Format::TimeDelta);
        assert_eq!(builtin_format_by_id("2"), Format::Other);
    }
}
