//! Cells a spreadsheet would take for a formula. Results, plan, undo and export files are
//! meant to be opened in Excel or LibreOffice, and some of their cells come from the API, not from
//! the user's sheet: a company name `=HYPERLINK(…)` or `@SUM(…)` would be evaluated on opening
//! (CSV injection). Such a cell is written with a leading `'`, which makes a spreadsheet show it as
//! text; when ccbulk reads a file, that one `'` is taken off again, so feeding a file back to
//! `update` sends exactly the value the API had.
//!
//! Which cells: one that starts with `=`, `@`, a tab or a carriage return; one that starts with `+`
//! or `-` and holds anything but digits, spaces and `.,()/+-` (so phone numbers such as
//! `+351 21 000 0001` and plain numbers stay as they are: they cannot name a function); and one
//! that starts with `'` followed by a cell that needs the guard (so a value that really begins
//! with `'` and a formula character survives the round trip). A value that begins with `'`
//! otherwise (`'s-Hertogenbosch`) is never touched, on writing or on reading.
//!
//! [`guard`] and [`unguard`] are inverse: `unguard(&guard(v)) == v` for every `v`.

use std::borrow::Cow;

/// Does `v` need the guard?
fn needs_guard(v: &[u8]) -> bool {
    match v.first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => v[1..]
            .iter()
            .any(|b| !(b.is_ascii_digit() || b" .,()/+-".contains(b))),
        Some(b'\'') => needs_guard(&v[1..]),
        _ => false,
    }
}

/// The cell as written to a file a spreadsheet may open: `'` before a value that needs it.
pub fn guard(v: &str) -> Cow<'_, str> {
    if needs_guard(v.as_bytes()) {
        Cow::Owned(format!("'{v}"))
    } else {
        Cow::Borrowed(v)
    }
}

/// [`guard`] for raw cell bytes.
pub fn guard_bytes(v: &[u8]) -> Cow<'_, [u8]> {
    if needs_guard(v) {
        let mut out = Vec::with_capacity(v.len() + 1);
        out.push(b'\'');
        out.extend_from_slice(v);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(v)
    }
}

/// The value a cell read from a file stands for: the guard's `'` taken off.
pub fn unguard(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if needs_guard(rest.as_bytes()) => rest,
        _ => v,
    }
}

/// A cell of the input echoed to the results: guarded as the value ccbulk read from it, so a
/// cell that arrived guarded (an export, an undo file) is not guarded twice, and replay reads
/// back the value the first run read.
pub fn reguard_bytes(raw: &[u8]) -> Cow<'_, [u8]> {
    match raw.strip_prefix(b"'") {
        Some(rest) if needs_guard(rest) => Cow::Borrowed(raw),
        _ => guard_bytes(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_guarded_and_everything_else_is_left_alone() {
        for (v, want) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3+cmd|x", "'-2+3+cmd|x"),
            ("\tx", "'\tx"),
            ("'=1+1", "''=1+1"),
            ("+351 21 000 0001", "+351 21 000 0001"),
            ("+1 (555) 010-9999", "+1 (555) 010-9999"),
            ("-5.5", "-5.5"),
            ("-", "-"),
            ("'s-Hertogenbosch", "'s-Hertogenbosch"),
            ("Contoso = Fabrikam", "Contoso = Fabrikam"),
            ("", ""),
        ] {
            assert_eq!(guard(v), want, "{v}");
            assert_eq!(unguard(want), v, "{want}");
            assert_eq!(&*guard_bytes(v.as_bytes()), want.as_bytes());
        }
        // A value that arrived guarded is echoed as it came; an unguarded one gets its guard.
        assert_eq!(&*reguard_bytes(b"'=x"), b"'=x");
        assert_eq!(&*reguard_bytes(b"=x"), b"'=x");
        assert_eq!(&*reguard_bytes(b"'s-Hertogenbosch"), b"'s-Hertogenbosch");
    }

    proptest! {
        #[test]
        fn unguard_undoes_guard(v in "['=+@\\-\t]{0,3}[a-z0-9 '=+()|!-]{0,8}") {
            let written = guard(&v);
            prop_assert_eq!(unguard(&written), v.as_str());
            // What ccbulk echoes reads back as the value it read.
            let echoed = reguard_bytes(v.as_bytes()).into_owned();
            let echoed = String::from_utf8(echoed).unwrap();
            prop_assert_eq!(unguard(&echoed), unguard(&v));
            // Nothing ccbulk writes starts like a formula.
            let g = guard(&v);
            let formula = g.starts_with(['=', '@', '\t', '\r'])
                || (g.starts_with(['+', '-']) && needs_guard(g.as_bytes()));
            prop_assert!(!formula, "{}", g);
        }
    }
}
