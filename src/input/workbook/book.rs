//! What an `.xlsx`/`.xlsm` says about itself before its cells, read with our own zip and XML
//! reading (calamine's `Xlsx::new` would read the whole shared-strings table as well): where the
//! workbook part is (`_rels/.rels`), its sheets in order and the part of each
//! (`xl/workbook.xml` and `xl/_rels/workbook.xml.rels`), whether its dates count from 1904, where
//! its shared strings are and which cell styles show numbers as dates (`xl/styles.xml`).

use quick_xml::events::Event;

use super::package::{MAX_SMALL_PART, Package, attr, attr_local, is};
use super::styles::{self, Format};

/// An opened `.xlsx`, its sheets' cells not read yet.
pub(super) struct Book {
    pub package: Package,
    /// The sheets in the workbook's order: name, and its part (with what kind of sheet it is)
    /// when the relationships name one.
    sheets: Vec<(String, Option<Target>)>,
    /// The shared-strings part (the workbook may have none).
    pub strings: String,
    /// Dates are days since 1904-01-01 (old Mac Excel), not since 1900.
    pub is_1904: bool,
    /// Each cell style's number format (see `styles`).
    pub formats: Vec<Format>,
}

/// A part a relationship points to, and the kind of relationship (the end of its type URI).
#[derive(Clone)]
struct Target {
    part: String,
    kind: String,
}

/// Opens the workbook and reads what it says about itself (not its cells).
pub(super) fn open(path: &std::path::Path) -> Result<Book, String> {
    let mut package = Package::open(path)?;
    let workbook = workbook_part(&mut package)?;
    let dir = workbook
        .rfind('/')
        .map_or(String::new(), |i| workbook[..=i].to_string());
    let (names, is_1904) = sheets(&mut package, &workbook)?;
    let file = workbook.rsplit('/').next().unwrap_or(&workbook);
    let rels = relationships(&mut package, &format!("{dir}_rels/{file}.rels"), &dir)?;
    let find = |kind: &str| rels.iter().find(|(_, t)| t.kind == kind).map(|(_, t)| t);
    let strings =
        find("sharedStrings").map_or_else(|| format!("{dir}sharedStrings.xml"), |t| t.part.clone());
    let styles_part = find("styles").map_or_else(|| format!("{dir}styles.xml"), |t| t.part.clone());
    let formats = styles::formats(&mut package, &styles_part)?;
    let sheets = names
        .into_iter()
        .map(|(name, id)| {
            let target = rels.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone());
            (name, target)
        })
        .collect();
    Ok(Book {
        package,
        sheets,
        strings,
        is_1904,
        formats,
    })
}

impl Book {
    /// The sheets' names, in the workbook's order.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The part that holds the cells of the sheet `name`.
    pub fn sheet_part(&self, name: &str) -> Result<String, String> {
        let target = self
            .sheets
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, t)| t.as_ref())
            .ok_or_else(|| {
                format!("sheet {name:?} cannot be read: the workbook does not say where it is")
            })?;
        if target.kind != "worksheet" {
            return Err(format!(
                "sheet {name:?} is a {}, not a sheet of cells: give another with --sheet",
                target.kind
            ));
        }
        Ok(target.part.clone())
    }
}

/// The workbook part, as the package's relationships name it (`xl/workbook.xml` when they
/// don't).
fn workbook_part(package: &mut Package) -> Result<String, String> {
    let rels = relationships(package, "_rels/.rels", "")?;
    Ok(rels
        .into_iter()
        .find(|(_, t)| t.kind == "officeDocument")
        .map_or_else(|| "xl/workbook.xml".to_string(), |(_, t)| t.part))
}

/// The sheets of the workbook part (name and relationship id), and its date system.
fn sheets(package: &mut Package, part: &str) -> Result<(Vec<(String, String)>, bool), String> {
    let mut xml = package.required(part, MAX_SMALL_PART)?;
    let mut sheets = Vec::new();
    let mut is_1904 = false;
    loop {
        match xml.next()? {
            Event::Start(e) if is(&e, "sheet") => {
                let name = attr(&e, "name").unwrap_or_default();
                let id = attr_local(&e, "id").unwrap_or_default();
                sheets.push((name, id));
            }
            // Only the workbook's own: `x15:workbookPr` in extensions has no `date1904`.
            Event::Start(e) if is(&e, "workbookPr") => {
                if let Some(v) = attr(&e, "date1904") {
                    is_1904 = v == "1" || v == "true";
                }
            }
            Event::Eof => return Ok((sheets, is_1904)),
            _ => {}
        }
    }
}

/// A relationships part (`.rels`): each relationship's id and target, the targets made full
/// part names from `dir` (the folder of the part they belong to). None when there is no such
/// part.
fn relationships(
    package: &mut Package,
    part: &str,
    dir: &str,
) -> Result<Vec<(String, Target)>, String> {
    let Some(mut xml) = package.xml(part, MAX_SMALL_PART)? else {
        return Ok(Vec::new());
    };
    let mut rels = Vec::new();
    loop {
        match xml.next()? {
            Event::Start(e) if is(&e, "Relationship") => {
                // External links (a web address) are not parts of the package.
                if attr(&e, "TargetMode").as_deref() == Some("External") {
                    continue;
                }
                let (Some(id), Some(target)) = (attr(&e, "Id"), attr(&e, "Target")) else {
                    continue;
                };
                let kind = attr(&e, "Type").unwrap_or_default();
                let kind = kind.rsplit('/').next().unwrap_or_default().to_string();
                let part = join(dir, &target);
                rels.push((id, Target { part, kind }));
            }
            Event::Eof => return Ok(rels),
            _ => {}
        }
    }
}

/// A relationship's target as a part name: absolute (`/xl/…`) as it is, else relative to
/// `dir`, with `..` and `.` resolved.
fn join(dir: &str, target: &str) -> String {
    let full = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_string(),
        None => format!("{dir}{target}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in full.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_part_names() {
        assert_eq!(
            join("xl/", "worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(
            join("xl/", "/xl/worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(
            join("xl/worksheets/", "../sharedStrings.xml"),
            "xl/sharedStrings.xml"
        );
        assert_eq!(join("", "xl/workbook.xml"), "xl/workbook.xml");
    }
}
