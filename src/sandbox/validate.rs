//! Checks the body of `PATCH /v1/Customers/{id}/account-info` the way API.md describes it, so a
//! client that sends a wrong shape, a field over its limit or a blank required field gets the
//! same 400 it would get from CloudCockpit.
//!
//! Field formats and provider rules come from `crate::customer::check`; this file owns only the
//! shape of the body and which fields must be present.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::customer::{Field, Rules, check};

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

/// Validates an account-info body for the customer `path_id` and returns the customer object to
/// store (with `id` filled in when the client left it out).
pub(super) fn account_info(body: &[u8], path_id: Uuid) -> Result<Map<String, Value>, Errors> {
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
            check_customer(&customer, path_id, &mut errors);
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

fn check_customer(customer: &Map<String, Value>, path_id: Uuid, errors: &mut Errors) {
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

    let rules = Rules::default();
    for field in Field::ALL {
        let name = field.wire();
        match customer.get(name) {
            None | Some(Value::Null) => {
                if field.required() {
                    errors.add(name, format!("{name} is required."));
                }
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                if field.required() {
                    errors.add(name, format!("{name} must not be empty."));
                }
            }
            Some(Value::String(s)) => {
                if let Err(reason) = check(field, s, &rules) {
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
