//! The customer view model as ccbulk sees it: the fifteen fields a spreadsheet can carry, their
//! limits and provider rules (docs/api.md), and the merge of a row onto the customer the API returned.
//!
//! The customer itself stays a `serde_json::Map` exactly as GET returned it, so every field ccbulk
//! does not know about (providerCustomers, customerAssociations, anything added later) goes back
//! untouched.

use serde_json::{Map, Value};

/// A customer field that a CSV column can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    CompanyName,
    TaxId,
    Country,
    AddressLine1,
    AddressLine2,
    City,
    State,
    Zip,
    FirstName,
    MiddleName,
    LastName,
    Email,
    Phone,
    InternalIdentifier,
    ResellerId,
}

/// Number of customer fields; the length of per-field arrays.
pub const FIELD_COUNT: usize = 15;

impl Field {
    /// Every field, in the order of docs/api.md.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::CompanyName,
        Field::TaxId,
        Field::Country,
        Field::AddressLine1,
        Field::AddressLine2,
        Field::City,
        Field::State,
        Field::Zip,
        Field::FirstName,
        Field::MiddleName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::InternalIdentifier,
        Field::ResellerId,
    ];

    /// Position in [`Field::ALL`], for per-field arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The camelCase wire name.
    pub fn wire(self) -> &'static str {
        match self {
            Field::CompanyName => "companyName",
            Field::TaxId => "taxId",
            Field::Country => "country",
            Field::AddressLine1 => "addressLine1",
            Field::AddressLine2 => "addressLine2",
            Field::City => "city",
            Field::State => "state",
            Field::Zip => "zip",
            Field::FirstName => "firstName",
            Field::MiddleName => "middleName",
            Field::LastName => "lastName",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::InternalIdentifier => "internalIdentifier",
            Field::ResellerId => "resellerId",
        }
    }

    /// The field whose wire name is `name` (exactly).
    pub fn from_wire(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.wire() == name)
    }

    /// Maximum length in characters (docs/api.md).
    pub fn limit(self) -> usize {
        match self {
            Field::Zip | Field::Phone => 30,
            Field::Country => 2,
            Field::ResellerId => 36,
            _ => 255,
        }
    }

    /// Required by the API (docs/api.md); replace mode needs a column for each.
    pub fn required(self) -> bool {
        matches!(
            self,
            Field::CompanyName
                | Field::Country
                | Field::AddressLine1
                | Field::City
                | Field::State
                | Field::Zip
                | Field::FirstName
                | Field::LastName
                | Field::Email
                | Field::Phone
        )
    }
}

/// What a row asks for one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Empty cell or no column: leave the field as it is.
    Keep,
    /// The null marker: send null, clearing the field.
    Clear,
    /// A new value, exactly as written (trimmed of surrounding white space).
    Set(&'a str),
}

/// Context that some provider rules need.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// The reseller's portal domain (X-Tenant); e-mails at it or its parent domain are refused.
    pub tenant: Option<String>,
}

/// Checks one value against the field's format, limit and provider rules.
/// The error is the reason, ready to follow `column "X": "value" `.
pub fn check(field: Field, value: &str, rules: &Rules) -> Result<(), String> {
    // Counting characters only when the bytes could be over: a character is at least one byte.
    let chars = if value.len() > field.limit() {
        value.chars().count()
    } else {
        value.len()
    };
    if chars > field.limit() && field != Field::Country && field != Field::ResellerId {
        return Err(format!(
            "is {chars} characters, over the limit of {}",
            field.limit()
        ));
    }
    match field {
        Field::Country => check_country(value),
        Field::ResellerId => uuid::Uuid::try_parse(value)
            .map(|_| ())
            .map_err(|_| "is not a GUID".to_string()),
        Field::Email => check_email(value, rules),
        Field::CompanyName => check_company_name(value),
        Field::FirstName | Field::MiddleName | Field::LastName => check_person_name(value),
        _ => Ok(()),
    }
}

fn check_country(value: &str) -> Result<(), String> {
    let upper = value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase());
    if upper && celes::Country::from_alpha2(value).is_ok() {
        return Ok(());
    }
    let squashed: String = value
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let hint = value
        .parse::<celes::Country>()
        .or_else(|_| celes::Country::from_alias(&squashed))
        .or_else(|_| celes::Country::from_name(&squashed))
        .ok()
        .map(|c| format!(" (try \"{}\")", c.alpha2.to_ascii_uppercase()))
        .unwrap_or_default();
    Err(format!("is not an ISO 3166-1 alpha-2 code{hint}"))
}

fn check_email(value: &str, rules: &Rules) -> Result<(), String> {
    let Ok(addr) = value.parse::<email_address::EmailAddress>() else {
        return Err("is not an e-mail address".to_string());
    };
    let domain = addr.domain();
    if !domain.contains('.') {
        return Err("is not an e-mail address (the domain has no dot)".to_string());
    }
    if is_within(domain, "microsoft.com") {
        return Err("is at microsoft.com, which Microsoft refuses for a customer contact".into());
    }
    if let Some(tenant) = &rules.tenant
        && is_within(tenant, domain)
    {
        return Err(format!(
            "is at the reseller's own domain ({}), which Microsoft refuses for a customer contact",
            domain.to_ascii_lowercase()
        ));
    }
    Ok(())
}

/// `name` is `domain` or one of its subdomains, ignoring ASCII case.
fn is_within(name: &str, domain: &str) -> bool {
    let (n, d) = (name.as_bytes(), domain.as_bytes());
    n.len() >= d.len()
        && n[n.len() - d.len()..].eq_ignore_ascii_case(d)
        && (n.len() == d.len() || n[n.len() - d.len() - 1] == b'.')
}

/// Legal-form abbreviations that Partner Center refuses as a whole company name.
const ABBREVIATIONS: &[&str] = &[
    "llc", "inc", "ltd", "corp", "co", "plc", "gmbh", "ag", "sa", "srl", "sl", "bv", "nv", "lda",
    "oy", "ab", "as", "pty", "lp", "llp", "kg", "spa", "sarl", "sas",
];

fn check_company_name(value: &str) -> Result<(), String> {
    let mut chars = value.chars();
    if chars.next().is_some() && chars.next().is_none() {
        return Err("is a single character, which Microsoft refuses as a company name".into());
    }
    if !value.chars().any(char::is_alphanumeric) {
        return Err("has only special characters or white space".into());
    }
    let mut words = 0;
    let mut all_single = true;
    for w in value.split_whitespace() {
        words += 1;
        let mut c = w.chars();
        all_single &= c.next().is_some() && c.next().is_none();
    }
    if words > 1 && all_single {
        return Err(
            "is spaced single characters, which Microsoft refuses as a company name".into(),
        );
    }
    // The longest abbreviation is 4 characters: longer names cannot be one (no String built).
    if value.chars().filter(|c| c.is_alphanumeric()).count() <= 4 {
        let bare: String = value
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if ABBREVIATIONS.contains(&bare.as_str()) {
            return Err(
                "is only a legal-form abbreviation, which Microsoft refuses as a company name"
                    .into(),
            );
        }
    }
    let mut compact = value.chars().filter(|c| !c.is_whitespace());
    if let Some(first) = compact.next() {
        let mut n = 1;
        let mut same = true;
        for c in compact {
            n += 1;
            same &= c == first;
        }
        if n >= 3 && same {
            return Err(
                "is one character repeated, which Microsoft refuses as a company name".into(),
            );
        }
    }
    Ok(())
}

/// Placeholder names that Partner Center refuses for a contact.
const PLACEHOLDERS: &[&str] = &[
    "test",
    "tester",
    "testing",
    "admin",
    "administrator",
    "nobody",
    "none",
    "null",
    "na",
    "n/a",
    "unknown",
    "user",
    "sample",
    "dummy",
    "xxx",
    "asdf",
    "firstname",
    "lastname",
    "name",
    "noname",
];

fn check_person_name(value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > 40 {
        return Err(format!(
            "is {chars} characters; Microsoft allows at most 40 for a contact name"
        ));
    }
    if !value.chars().any(char::is_alphabetic) {
        return Err(
            "has only digits or symbols, which Microsoft refuses for a contact name".into(),
        );
    }
    let trimmed = value.trim();
    let placeholder = if trimmed.is_ascii() {
        PLACEHOLDERS.iter().any(|p| p.eq_ignore_ascii_case(trimmed))
    } else {
        PLACEHOLDERS.contains(&trimmed.to_lowercase().as_str())
    };
    if placeholder {
        return Err("is a placeholder, which Microsoft refuses for a contact name".into());
    }
    Ok(())
}

/// One field a merge changes, with its value before and after (`None` for null or absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub field: Field,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The current value of a field as a string, as a results or undo file would carry it.
pub fn current_text(customer: &Map<String, Value>, field: Field) -> Option<String> {
    match customer.get(field.wire()) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// Lays the row's cells over `customer` in place and returns the fields that changed.
/// A field the row keeps, or sets to the value it already has, is not touched.
pub fn merge<'a>(
    customer: &mut Map<String, Value>,
    cells: impl Iterator<Item = (Field, Cell<'a>)>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (field, cell) in cells {
        let new = match cell {
            Cell::Keep => continue,
            Cell::Clear => None,
            Cell::Set(v) => Some(v),
        };
        let old = current_text(customer, field);
        // Equal as is, or to the customer's value trimmed as the cell was (SPEC, Modes): a value
        // with stray spaces comes back from an export trimmed and must not read as a change.
        if old.as_deref() == new || (new.is_some() && old.as_deref().map(str::trim) == new) {
            continue;
        }
        customer.insert(
            field.wire().to_string(),
            new.map_or(Value::Null, |v| Value::String(v.to_string())),
        );
        changes.push(Change {
            field,
            old,
            new: new.map(str::to_string),
        });
    }
    changes
}

/// Formats changes for `ccbulk_changed`: `field: old → new` joined by `; `.
pub fn describe_changes(changes: &[Change]) -> String {
    let mut out = String::new();
    describe_changes_into(changes, &mut out);
    out
}

/// [`describe_changes`] into a reused string (the results writer's, one per run): merge mode's
/// writer spends its time here (BENCHMARKS.md, change 10).
pub fn describe_changes_into(changes: &[Change], out: &mut String) {
    out.clear();
    for (i, c) in changes.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(c.field.wire());
        out.push_str(": ");
        out.push_str(c.old.as_deref().unwrap_or("(empty)"));
        out.push_str(" → ");
        out.push_str(c.new.as_deref().unwrap_or("(empty)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        Rules {
            tenant: Some("portal.contoso.com".into()),
        }
    }

    #[test]
    fn country_codes_and_hints() {
        assert!(check(Field::Country, "PT", &rules()).is_ok());
        let err = check(Field::Country, "Portugal", &rules()).unwrap_err();
        assert!(err.contains("try \"PT\""), "{err}");
        assert!(
            check(Field::Country, "pt", &rules())
                .unwrap_err()
                .contains("PT")
        );
        assert!(check(Field::Country, "XX", &rules()).is_err());
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let ok = "é".repeat(30);
        assert!(check(Field::Zip, &ok, &rules()).is_ok());
        let err = check(Field::Zip, &"1".repeat(31), &rules()).unwrap_err();
        assert!(err.contains("31 characters") && err.contains("30"), "{err}");
    }

    #[test]
    fn email_rules() {
        assert!(check(Field::Email, "ana@fabrikam.pt", &rules()).is_ok());
        assert!(check(Field::Email, "not an address", &rules()).is_err());
        assert!(check(Field::Email, "x@microsoft.com", &rules()).is_err());
        assert!(check(Field::Email, "x@contoso.com", &rules()).is_err());
        assert!(check(Field::Email, "x@localhost", &rules()).is_err());
        // Subdomains and case: the same rules.
        assert!(check(Field::Email, "x@Mail.MICROSOFT.com", &rules()).is_err());
        assert!(check(Field::Email, "x@notmicrosoft.com", &rules()).is_ok());
        assert!(check(Field::Email, "x@Portal.Contoso.COM", &rules()).is_err());
        assert!(check(Field::Email, "x@other.contoso.com", &rules()).is_ok());
        let err = check(Field::Email, "x@CONTOSO.com", &rules()).unwrap_err();
        assert!(err.contains("(contoso.com)"), "{err}");
        // Quoted local parts are addresses too, under the same domain rules.
        assert!(check(Field::Email, "\"ana silva\"@fabrikam.pt", &rules()).is_ok());
        assert!(check(Field::Email, "\"ana\"@Mail.Microsoft.com", &rules()).is_err());
    }

    #[test]
    fn company_name_rules() {
        for bad in [
            "A", "  ", "!!", "1 2 3", "LLC", "Inc.", "aaa", "x x x", "G.m.b.H.", "S A R L", "é",
            "ZZ ZZ",
        ] {
            assert!(check(Field::CompanyName, bad, &rules()).is_err(), "{bad}");
        }
        for good in [
            "Fabrikam Lda",
            "3M",
            "AB InBev",
            "Contoso LLC",
            "Gmbhx",
            "éa",
            "AA B",
        ] {
            assert!(check(Field::CompanyName, good, &rules()).is_ok(), "{good}");
        }
    }

    #[test]
    fn person_name_rules() {
        assert!(check(Field::FirstName, "Ana", &rules()).is_ok());
        assert!(check(Field::FirstName, "test", &rules()).is_err());
        assert!(check(Field::FirstName, " N/A ", &rules()).is_err());
        assert!(check(Field::FirstName, "ADMINISTRATOR", &rules()).is_err());
        assert!(check(Field::FirstName, "Tést", &rules()).is_ok());
        assert!(check(Field::LastName, "12345", &rules()).is_err());
        assert!(check(Field::LastName, &"a".repeat(41), &rules()).is_err());
    }

    /// SPEC, Modes: a cell equal to the current value as is or trimmed changes nothing (an
    /// export writes " Lisboa " as it is, and the cell reads back trimmed).
    #[test]
    fn a_cell_equal_to_the_trimmed_current_value_changes_nothing() {
        let mut c = json!({"city": " Lisboa ", "state": "Porto\t", "zip": " 1000-001"})
            .as_object()
            .cloned()
            .unwrap();
        let changes = merge(
            &mut c,
            [
                (Field::City, Cell::Set("Lisboa")),
                (Field::State, Cell::Set("Porto")),
                (Field::Zip, Cell::Set("1000-002")),
            ]
            .into_iter(),
        );
        assert_eq!(describe_changes(&changes), "zip:  1000-001 → 1000-002");
        assert_eq!(c["city"], json!(" Lisboa "), "left as it was");
    }

    #[test]
    fn merge_keeps_untouched_fields_and_reports_changes() {
        let mut c = json!({
            "id": "x", "companyName": "Old", "city": "Lisboa", "taxId": null,
            "providerCustomers": {"a": {"margin": 1.5}}, "customerAssociations": [1]
        })
        .as_object()
        .cloned()
        .unwrap();
        let before = c.clone();
        let changes = merge(
            &mut c,
            [
                (Field::CompanyName, Cell::Set("New")),
                (Field::City, Cell::Set("Lisboa")),
                (Field::TaxId, Cell::Keep),
                (Field::Zip, Cell::Clear),
                (Field::State, Cell::Set("Lisboa")),
            ]
            .into_iter(),
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(c["companyName"], json!("New"));
        assert_eq!(c["providerCustomers"], before["providerCustomers"]);
        assert_eq!(c["customerAssociations"], before["customerAssociations"]);
        assert!(
            !c.contains_key("zip"),
            "clearing an absent field changes nothing"
        );
        assert_eq!(
            describe_changes(&changes),
            "companyName: Old → New; state: (empty) → Lisboa"
        );
    }
}
