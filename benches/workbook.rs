//! Writes a customers workbook for the workbook benchmarks (BENCHMARKS.md): `ROWS` rows in the
//! layout `export` writes (customerId and the fifteen fields), text cells in the shared-strings
//! table as Excel keeps them, a number column and repeated values where a real sheet has them.
//!
//! `cargo run --release --example bench_workbook -- OUT.xlsx ROWS [inline]`: `inline` writes
//! text in the cells themselves (no shared-strings table), to measure the sheet alone.

use ccbulk::customer::Field;
use rust_xlsxwriter::{Workbook, XlsxError};

const CITIES: [&str; 8] = [
    "Lisboa", "Porto", "Braga", "Faro", "Coimbra", "Aveiro", "Évora", "Setúbal",
];
const FIRST: [&str; 6] = ["Ana", "João", "Maria", "Pedro", "Rita", "Tiago"];
const LAST: [&str; 6] = [
    "Silva", "Santos", "Ferreira", "Pereira", "Costa", "Oliveira",
];

fn main() -> Result<(), XlsxError> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "customers.xlsx".into());
    let rows: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let inline = args.next().as_deref() == Some("inline");
    let mut book = Workbook::new();
    // Rows go to disk as written; the shared strings stay, as in any .xlsx Excel saves.
    let sheet = if inline {
        book.add_worksheet_with_constant_memory()
    } else {
        book.add_worksheet_with_low_memory()
    }?;
    // The layout `export` writes: customerId, then the fields in their order.
    sheet.write_string(0, 0, "customerId")?;
    for (c, field) in Field::ALL.iter().enumerate() {
        sheet.write_string(0, c as u16 + 1, field.wire())?;
    }
    for n in 1..=rows {
        let i = n as usize;
        sheet.write_string(n, 0, format!("3f2504e0-4f89-11d3-9a0c-{n:012x}"))?;
        sheet.write_string(n, 1, format!("Company {n} Lda"))?;
        sheet.write_number(n, 2, f64::from(500_000_000 + n))?;
        sheet.write_string(n, 3, "PT")?;
        sheet.write_string(n, 4, format!("Rua {n}"))?;
        sheet.write_string(n, 6, CITIES[i % CITIES.len()])?;
        sheet.write_string(n, 8, format!("{:04}-{:03}", 1000 + i % 8000, i % 1000))?;
        sheet.write_string(n, 9, FIRST[i % FIRST.len()])?;
        sheet.write_string(n, 11, LAST[i % LAST.len()])?;
        sheet.write_string(n, 12, format!("contact{n}@example.pt"))?;
        sheet.write_string(n, 13, format!("+351 91{n:07}"))?;
        sheet.write_string(n, 14, format!("ERP-{n}"))?;
    }
    book.save(&out)?;
    Ok(())
}
