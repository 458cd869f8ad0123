//! Property tests of the input reader and mapper, through the library's public API: header
//! matching, row mapping (cells come back exactly as written, trimmed, never re-typed), physical
//! line numbers under every line-end style and read-chunking, and no panic on arbitrary bytes.

use std::io::{self, Read};

use ccbulk::customer::{self, Cell, Field, Rules};
use ccbulk::input::{self, Input, InputOptions, Row};
use proptest::prelude::*;
use uuid::Uuid;

use crate::common::COLUMNS;

/// Hands its bytes over at most `chunk` at a time, as a pipe might, so chunk boundaries fall
/// inside byte-order marks, CRLF pairs and header lines.
struct Trickle {
    data: io::Cursor<Vec<u8>>,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.data.read(&mut buf[..n])
    }
}

fn open(bytes: Vec<u8>, chunk: usize, options: InputOptions) -> Result<Input, input::InputError> {
    let src = Trickle {
        data: io::Cursor::new(bytes),
        chunk: chunk.max(1),
    };
    Input::from_reader(Box::new(src), "p.csv", options)
}

fn all_rows(input: &mut Input) -> Vec<Row> {
    let mut rows = Vec::new();
    while let Some(r) = input.next_row().expect("read row") {
        rows.push(r);
    }
    rows
}

/// The header names of the fields (every column but the customer id).
fn names() -> &'static [&'static str] {
    &COLUMNS[1..]
}

/// A header spelling of `name`: each character in either case, with spaces, `_`, `-` or `.`
/// sprinkled between, and surrounding white space.
fn spelling(name: &'static str) -> impl Strategy<Value = String> {
    let n = name.chars().count();
    (
        prop::collection::vec(any::<bool>(), n),
        prop::collection::vec(
            prop::sample::select(vec!["", "", "", " ", "_", "-", "."]),
            n,
        ),
        prop::sample::select(vec!["", " ", "  "]),
    )
        .prop_map(move |(upper, seps, pad)| {
            let mut s = String::from(pad);
            for ((c, up), sep) in name.chars().zip(upper).zip(seps) {
                s.push_str(sep);
                if up {
                    s.extend(c.to_uppercase());
                } else {
                    s.extend(c.to_lowercase());
                }
            }
            s.push_str(pad);
            s
        })
}

/// A cell value as spreadsheets hold them: letters, digits, the four delimiters, quotes, line
/// ends, leading zeros, `+`, accented letters and surrounding spaces.
fn cell_text() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9,;|\t\"\r\n+#@.ãéÅ€-]{0,40}"
}

fn csv_line(cells: &[String], delimiter: u8) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(cells).expect("write");
    let mut v = w.into_inner().expect("flush");
    v.pop();
    v
}

/// Physical line breaks in `s`: CRLF counts once, a lone CR or LF once each.
fn breaks(s: &[u8]) -> u64 {
    let mut n = 0;
    for (i, b) in s.iter().enumerate() {
        match b {
            b'\n' => n += 1,
            b'\r' if s.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any spelling of a field name (case, spaces, punctuation) maps to that field.
    #[test]
    fn header_spellings_match_their_field(
        (i, header) in (0..names().len()).prop_flat_map(|i| (Just(i), spelling(names()[i]))),
        id_header in prop::sample::select(vec!["id", "customerId", "Customer ID", "CUSTOMER_ID", "customer-id"]),
        delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
    ) {
        let field = Field::ALL[i];
        let value = match field {
            Field::Country => "PT".to_string(),
            Field::Email => "ana@fabrikam.pt".to_string(),
            Field::ResellerId => Uuid::from_u128(7).to_string(),
            _ => "Fabrikam".to_string(),
        };
        let id = Uuid::from_u128(42).to_string();
        let mut bytes = csv_line(&[id_header.to_string(), header.clone()], delimiter);
        bytes.push(b'\n');
        bytes.extend(csv_line(&[id.clone(), value.clone()], delimiter));
        let mut input = open(bytes, 4096, InputOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{header:?}: {e}")))?;
        prop_assert_eq!(input.delimiter, delimiter);
        prop_assert_eq!(input.columns.field_column(field), Some(1));
        let rows = all_rows(&mut input);
        prop_assert_eq!(rows.len(), 1);
        prop_assert_eq!(rows[0].cell(field), Cell::Set(value.as_str()));
        prop_assert_eq!(rows[0].mapped.as_ref().map(|m| m.customer_id.to_string()).ok(), Some(id));
    }

    /// A header that normalises to no field name is refused, naming it, a suggestion and the
    /// valid list; one that does is accepted.
    #[test]
    fn unknown_headers_are_refused_with_a_suggestion(header in "[ a-zA-Z0-9_-]{1,20}") {
        let norm = input::normalize(&header);
        let known = norm.is_empty()
            || ["id", "customerid", "retryfailedprovidercustomersfromcompanyinfo", "correlationid"]
                .contains(&norm.as_str())
            || names().iter().any(|n| input::normalize(n) == norm)
            || input::is_ccbulk_column(&header);
        let bytes = csv_line(&["id".to_string(), header.clone()], b',');
        match open(bytes, 7, InputOptions::default()) {
            Ok(_) => prop_assert!(known && norm != "id" && norm != "customerid", "{header:?} accepted"),
            Err(e) => {
                let msg = e.to_string();
                if !known {
                    prop_assert!(msg.contains("matches no field (did you mean \""), "{msg}");
                    prop_assert!(msg.contains(&input::valid_names()), "{msg}");
                }
            }
        }
    }

    /// Cells come back exactly as written (trimmed), whatever they hold, and a row maps exactly
    /// when every cell passes the field checks; lines are right with any line-end style, any read
    /// chunking, and quoted cells spanning lines.
    #[test]
    fn rows_map_cells_intact_and_count_lines(
        rows in prop::collection::vec((cell_text(), cell_text(), cell_text(), 0u8..3), 1..12),
        ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
        bom in any::<bool>(),
        chunk in 1usize..64,
    ) {
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend(csv_line(&["Customer ID".into(), "City".into(), "Zip".into(), "Phone".into()], delimiter));
        bytes.extend_from_slice(ending.as_bytes());
        let mut line = 2;
        let mut expected = Vec::new();
        for (n, (city, zip, phone, blanks)) in rows.iter().enumerate() {
            // Wholly empty lines between records are skipped but still counted.
            for _ in 0..*blanks {
                bytes.extend_from_slice(ending.as_bytes());
                line += 1;
            }
            let id = Uuid::from_u128(n as u128 + 1).to_string();
            let text = csv_line(&[id, city.clone(), zip.clone(), phone.clone()], delimiter);
            expected.push((line, city.clone(), zip.clone(), phone.clone()));
            line += breaks(&text) + 1;
            bytes.extend(text);
            bytes.extend_from_slice(ending.as_bytes());
        }
        let mut input = open(bytes, chunk, InputOptions::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = all_rows(&mut input);
        prop_assert_eq!(got.len(), expected.len());
        let rules = Rules::default();
        for (row, (line, city, zip, phone)) in got.iter().zip(&expected) {
            prop_assert_eq!(row.line, *line, "physical line");
            let cells = [(Field::City, city), (Field::Zip, zip), (Field::Phone, phone)];
            let should_map = cells.iter().all(|(f, v)| {
                let t = v.trim();
                t.is_empty() || t == "#NULL" || customer::check(*f, t, &rules).is_ok()
            });
            prop_assert_eq!(row.mapped.is_ok(), should_map, "{:?}", row.mapped);
            if row.mapped.is_ok() {
                for (f, v) in cells {
                    let t = v.trim();
                    let want = if t.is_empty() { Cell::Keep } else if t == "#NULL" { Cell::Clear } else { Cell::Set(t) };
                    prop_assert_eq!(row.cell(f), want);
                }
            } else {
                let err = row.mapped.as_ref().err().cloned().unwrap_or_default();
                prop_assert!(err.starts_with(&format!("p.csv line {line}, column \"")), "{err}");
                prop_assert!(!err.contains('\n') && !err.contains('\r'), "one line: {err:?}");
            }
        }
    }

    /// Arbitrary bytes, with any delimiter and encoding, never panic the reader or the mapper,
    /// and every record read comes back once.
    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..600),
        with_header in any::<bool>(),
        delimiter in prop::option::of(prop::sample::select(vec![b',', b';', b'\t', b'|', b'"'])),
        encoding in prop::sample::select(vec![None, Some("windows-1252"), Some("utf-16le"), Some("utf-8")]),
        chunk in 1usize..32,
    ) {
        let mut bytes = if with_header {
            b"customerId,companyName,country,email,zip,retryFailedProviderCustomersFromCompanyInfo,correlationId\n".to_vec()
        } else {
            Vec::new()
        };
        bytes.extend(body);
        let options = InputOptions {
            delimiter,
            encoding: encoding.and_then(|e| encoding_rs::Encoding::for_label(e.as_bytes())),
            ..InputOptions::default()
        };
        if let Ok(mut input) = open(bytes, chunk, options) {
            let mut last = 0;
            while let Ok(Some(row)) = input.next_row() {
                prop_assert_eq!(row.number, last + 1);
                last = row.number;
                for (_, _cell) in row.cells() {}
                let _ = input.prior_outcome(&row);
            }
        }
    }
}

/// A misspelling by one swap of neighbouring letters suggests the field meant, for every field.
#[test]
fn transposed_letters_suggest_the_field() {
    for name in names().iter().chain(&["customerId", "correlationId"]) {
        let chars: Vec<char> = name.chars().collect();
        for i in 1..chars.len().saturating_sub(1) {
            if chars[i].eq_ignore_ascii_case(&chars[i + 1]) {
                continue;
            }
            let mut typo = chars.clone();
            typo.swap(i, i + 1);
            let typo: String = typo.into_iter().collect();
            let bytes = format!("id,{typo}\n").into_bytes();
            let err = open(bytes, 4096, InputOptions::default())
                .err()
                .unwrap_or_else(|| panic!("{typo} accepted"))
                .to_string();
            assert!(
                err.contains(&format!("did you mean \"{name}\"")),
                "{typo}: {err}"
            );
        }
    }
}
