//! Checks the body of `PATCH /v1/Customers/{id}/account-info` the way docs/api.md describes it, so a
//! client that sends a wrong shape, a field over its limit, a blank required field or company
//! info that Microsoft would refuse gets a 400 naming the property.
//!
//! The rules are the sandbox's own table ([`FIELDS`]), written from docs/api.md and not taken from
//! the client (`crate::customer`): a misunderstanding of the API shared by the client and the
//! sandbox would otherwise pass every test. Provider rules that make a provider customer fail
//! later on the real API are refused here at once, so a test sees them.

use serde_json::{Map, Value};
use uuid::Uuid;

/// The retry flag's wire name.
pub(super) const RETRY_FLAG: &str = "retryFailedProviderCustomersFromCompanyInfo";

/// Validation errors by property, in the order found, each property once.
#[derive(Debug, Default)]
pub(super) struct Errors(pub Vec<(String, Vec<String>)>);

impl Errors {
    fn add(&mut self, property: &str, description: impl Into<String>) {
        let description = description.into();
        match self.0.iter_mut().find(|(p, _)| p == property) {
            Some((_, list)) => list.push(description),
            None => self.0.push((property.to_string(), vec![description])),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A value quoted for an error message, shortened so a huge cell does not flood the answer.
fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        format!("'{value}'")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("'{head}…'")
    }
}

/// Validates an account-info body for the customer `path_id`, sent with the X-Tenant `tenant`,
/// and returns the customer object to store (with `id` filled in when the client left it out).
pub(super) fn account_info(
    body: &[u8],
    path_id: Uuid,
    tenant: &str,
) -> Result<Map<String, Value>, Errors> {
    let mut errors = Errors::default();
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            errors.add("$", format!("The body is not valid JSON: {e}."));
            return Err(errors);
        }
    };
    let Value::Object(mut top) = value else {
        errors.add(
            "$",
            format!("The body must be a JSON object with customer and {RETRY_FLAG}."),
        );
        return Err(errors);
    };

    match top.get(RETRY_FLAG) {
        Some(Value::Bool(_)) => {}
        None | Some(Value::Null) => errors.add(RETRY_FLAG, format!("{RETRY_FLAG} is required.")),
        Some(_) => errors.add(RETRY_FLAG, format!("{RETRY_FLAG} must be true or false.")),
    }

    let customer = match top.remove("customer") {
        Some(Value::Object(customer)) => {
            check_customer(&customer, path_id, tenant, &mut errors);
            Some(customer)
        }
        None | Some(Value::Null) => {
            errors.add("customer", "customer is required.");
            None
        }
        Some(_) => {
            errors.add("customer", "customer must be an object.");
            None
        }
    };

    match customer {
        Some(customer) if errors.is_empty() => Ok(with_id(customer, path_id)),
        _ => Err(errors),
    }
}

fn check_customer(customer: &Map<String, Value>, path_id: Uuid, tenant: &str, errors: &mut Errors) {
    match customer.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match Uuid::try_parse(s) {
            Ok(id) if id == path_id => {}
            Ok(_) => errors.add(
                "id",
                format!(
                    "{} does not match the customer id in the path ({path_id}).",
                    shown(s)
                ),
            ),
            Err(_) => errors.add("id", format!("{} is not a GUID.", shown(s))),
        },
        Some(_) => errors.add("id", "id must be a GUID string or null."),
    }

    for rule in &FIELDS {
        let name = rule.name;
        match customer.get(name) {
            None | Some(Value::Null) => {
                if rule.required {
                    errors.add(name, format!("{name} is required."));
                }
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                if rule.required {
                    errors.add(name, format!("{name} must not be empty."));
                }
            }
            Some(Value::String(s)) => {
                if let Err(reason) = rule.check(s, tenant) {
                    errors.add(name, format!("{} {reason}.", shown(s)));
                }
            }
            Some(_) => errors.add(name, format!("{name} must be a string or null.")),
        }
    }

    match customer.get("providerCustomers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(providers)) => {
            for (key, provider) in providers {
                let property = format!("providerCustomers.{key}");
                match provider {
                    Value::Object(p) => match p.get("providerCustomerData") {
                        None | Some(Value::Null) | Some(Value::String(_)) => {}
                        Some(_) => errors.add(
                            &format!("{property}.providerCustomerData"),
                            "providerCustomerData must be a string (JSON text) or null.",
                        ),
                    },
                    _ => errors.add(&property, "A provider customer must be an object."),
                }
            }
        }
        Some(_) => errors.add(
            "providerCustomers",
            "providerCustomers must be an object keyed by provider instance id, or null.",
        ),
    }

    match customer.get("customerAssociations") {
        None | Some(Value::Null) | Some(Value::Array(_)) => {}
        Some(_) => errors.add(
            "customerAssociations",
            "customerAssociations must be an array or null.",
        ),
    }
}

/// The customer as stored: the server owns the id, so it is always there and always first.
fn with_id(customer: Map<String, Value>, id: Uuid) -> Map<String, Value> {
    let mut stored = Map::with_capacity(customer.len() + 1);
    stored.insert("id".to_string(), Value::String(id.to_string()));
    for (k, v) in customer {
        if k != "id" {
            stored.insert(k, v);
        }
    }
    stored
}

/// What docs/api.md says of one string field of the customer view model.
struct FieldRule {
    /// The camelCase wire name.
    name: &'static str,
    /// A null, missing or blank value is refused.
    required: bool,
    /// Maximum length in characters.
    max: usize,
    /// The format or provider rule the value must also pass.
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// ISO 3166-1 alpha-2, upper case.
    Country,
    /// A GUID.
    Guid,
    /// An e-mail address, not at microsoft.com nor at the reseller's own domain.
    Email,
    /// A company name Partner Center accepts.
    Company,
    /// A contact name Partner Center accepts.
    Person,
}

const fn rule(name: &'static str, required: bool, max: usize, kind: Kind) -> FieldRule {
    FieldRule {
        name,
        required,
        max,
        kind,
    }
}

/// The string fields of the customer view model (docs/api.md's table, in its order).
const FIELDS: [FieldRule; 15] = [
    rule("companyName", true, 255, Kind::Company),
    rule("taxId", false, 255, Kind::Text),
    rule("country", true, 2, Kind::Country),
    rule("addressLine1", true, 255, Kind::Text),
    rule("addressLine2", false, 255, Kind::Text),
    rule("city", true, 255, Kind::Text),
    rule("state", true, 255, Kind::Text),
    rule("zip", true, 30, Kind::Text),
    rule("firstName", true, 255, Kind::Person),
    rule("middleName", false, 255, Kind::Person),
    rule("lastName", true, 255, Kind::Person),
    rule("email", true, 255, Kind::Email),
    rule("phone", true, 30, Kind::Text),
    rule("internalIdentifier", false, 255, Kind::Text),
    rule("resellerId", false, 36, Kind::Guid),
];

/// Partner Center's limit on a contact's first, middle and last name.
const PERSON_MAX: usize = 40;

/// Every officially assigned ISO 3166-1 alpha-2 code.
pub(super) const COUNTRIES: &str = "\
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
    DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
    LA LB LC LI LK LR LS LT LU LV LY \
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
    NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
    RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
    VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Legal forms that Partner Center refuses as the whole company name (docs/api.md: LLC, INC, ...).
const LEGAL_FORMS: &[&str] = &[
    "llc", "inc", "ltd", "corp", "co", "plc", "gmbh", "ag", "sa", "sarl", "srl", "bv", "nv", "lda",
];

/// Placeholder contact names that Partner Center refuses (docs/api.md: test, admin, nobody, ...).
const PLACEHOLDER_NAMES: &[&str] = &[
    "test",
    "admin",
    "administrator",
    "nobody",
    "none",
    "null",
    "unknown",
    "user",
    "n/a",
    "na",
];

impl FieldRule {
    /// Why `value` (not blank) breaks this rule, ready to follow the quoted value.
    fn check(&self, value: &str, tenant: &str) -> Result<(), String> {
        // A country is a code from the list: saying "longer than 2 characters" would hide that.
        if let Kind::Country = self.kind {
            return match COUNTRIES.split_whitespace().any(|c| c == value) {
                true => Ok(()),
                false => Err("is not an ISO 3166-1 alpha-2 country code (like PT)".into()),
            };
        }
        let length = value.chars().count();
        if length > self.max {
            return Err(format!("is longer than {} characters", self.max));
        }
        match self.kind {
            Kind::Text | Kind::Country => Ok(()),
            Kind::Guid => match Uuid::try_parse(value) {
                Ok(_) => Ok(()),
                Err(_) => Err("is not a GUID".into()),
            },
            Kind::Email => email(value, tenant),
            Kind::Company => company(value),
            Kind::Person => person(value, length),
        }
    }
}

fn email(value: &str, tenant: &str) -> Result<(), String> {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err("is not an e-mail address (no @)".into());
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let shaped = !local.is_empty()
        && local.len() <= 64
        && !local.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && domain.split('.').all(label_ok);
    if !shaped {
        return Err("is not an e-mail address".into());
    }
    let domain = domain.to_lowercase();
    let at_or_under =
        |name: &str, parent: &str| name == parent || name.ends_with(&format!(".{parent}"));
    if at_or_under(&domain, "microsoft.com") {
        return Err("is at microsoft.com".into());
    }
    // The reseller's own domain: the portal domain (X-Tenant) or a domain it belongs to.
    if at_or_under(&tenant.trim().to_lowercase(), &domain) {
        return Err("is at the reseller's own domain".into());
    }
    Ok(())
}

fn company(value: &str) -> Result<(), String> {
    let squeezed: Vec<char> = value.chars().filter(|c| !c.is_whitespace()).collect();
    if squeezed.len() == 1 {
        return Err("is a single character".into());
    }
    if !value.chars().any(char::is_alphanumeric) {
        return Err("is only special characters or white space".into());
    }
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.len() > 1 && words.iter().all(|w| w.chars().count() == 1) {
        return Err("is spaced single characters".into());
    }
    let bare: String = value
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    if LEGAL_FORMS.contains(&bare.as_str()) {
        return Err("is only a legal-form abbreviation".into());
    }
    if squeezed.len() >= 3 && squeezed.iter().all(|c| *c == squeezed[0]) {
        return Err("is one character repeated".into());
    }
    Ok(())
}

fn person(value: &str, length: usize) -> Result<(), String> {
    if length > PERSON_MAX {
        return Err(format!(
            "is longer than {PERSON_MAX} characters, Partner Center's limit for a contact name"
        ));
    }
    if !value.chars().any(char::is_alphabetic) {
        return Err("is only digits or symbols".into());
    }
    if PLACEHOLDER_NAMES.contains(&value.trim().to_lowercase().as_str()) {
        return Err("is a placeholder name".into());
    }
    Ok(())
}
