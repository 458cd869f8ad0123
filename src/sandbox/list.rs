//! The sandbox's list call, `GET /v1/Customers` (docs/api.md): pages over the customers it holds
//! (those made up at start with `--customers N`, then any other customer once a PATCH of it was
//! accepted), in the order they came to be, with `totalCount`, `totalPages`, `hasNextPage` and
//! `hasPreviousPage`; search by each documented field; a `resellerId` filter.
//!
//! The documentation does not say how `searchValue` matches. The sandbox matches it as a
//! case-insensitive substring, the loosest reading, so a client that trusts the search to be
//! exact (`ERP-1` also finds `ERP-10`) is caught by its tests.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as Shared};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::gate::{Target, admit, error};
use super::state::State;
use super::validate::Errors;

/// The largest page the API serves (docs/api.md: pageSize 1–2000).
const MAX_PAGE_SIZE: usize = 2000;
/// The page size when none is asked for (the documentation's example).
const DEFAULT_PAGE_SIZE: usize = 25;

/// A search: which field, and the value to find in it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SearchField {
    CompanyName,
    Domain,
    InternalIdentifier,
    ProviderCustomerId,
}

impl SearchField {
    fn parse(s: &str) -> Option<SearchField> {
        match s.to_ascii_lowercase().as_str() {
            "company.name" | "companyname" => Some(SearchField::CompanyName),
            "domain" => Some(SearchField::Domain),
            "internalidentifier" => Some(SearchField::InternalIdentifier),
            "providercustomerid" => Some(SearchField::ProviderCustomerId),
            _ => None,
        }
    }

    /// The customer's values for this field: a domain is the e-mail's and each provider
    /// customer's `domain`; a provider customer id is each provider customer's.
    fn values(self, c: &Map<String, Value>) -> Vec<String> {
        let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
        let providers = || {
            c.get("providerCustomers")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
        };
        match self {
            SearchField::CompanyName => text("companyName").into_iter().collect(),
            SearchField::InternalIdentifier => text("internalIdentifier").into_iter().collect(),
            SearchField::ProviderCustomerId => providers()
                .filter_map(|p| p.get("providerCustomerId").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            SearchField::Domain => {
                let mut v: Vec<String> = text("email")
                    .and_then(|e| e.rsplit_once('@').map(|(_, d)| d.to_string()))
                    .into_iter()
                    .collect();
                v.extend(providers().filter_map(|p| {
                    let data = p.get("providerCustomerData")?.as_str()?;
                    let data: Value = serde_json::from_str(data).ok()?;
                    data.get("domain")?.as_str().map(str::to_string)
                }));
                v
            }
        }
    }
}

/// The query, checked.
struct Params {
    page: usize,
    size: usize,
    search: Option<(SearchField, String)>,
    reseller: Option<Uuid>,
}

/// Reads the query; parameter names in any case, as ASP.NET binds them. Unknown ones are
/// ignored (the include-deleted flag among them: the sandbox deletes nothing).
fn params(query: &[(String, String)]) -> Result<Params, Errors> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let mut errors = Errors::default();
    let mut bad = |p: &str, d: &str| errors.0.push((p.to_string(), vec![d.to_string()]));
    let page = match get("pageNumber").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            bad("pageNumber", "pageNumber must be a whole number from 1.");
            1
        }
    };
    let size = match get("pageSize").map(str::parse::<usize>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        Some(_) => {
            bad("pageSize", "pageSize must be between 1 and 2000.");
            DEFAULT_PAGE_SIZE
        }
    };
    let value = get("searchValue").filter(|v| !v.is_empty());
    let field = match get("searchField").filter(|v| !v.is_empty()) {
        None => SearchField::CompanyName,
        Some(f) => SearchField::parse(f).unwrap_or_else(|| {
            bad(
                "searchField",
                "searchField must be Company.Name, Domain, InternalIdentifier or ProviderCustomerId.",
            );
            SearchField::CompanyName
        }),
    };
    let reseller = match get("resellerId").filter(|v| !v.is_empty()) {
        None => None,
        Some(r) => match Uuid::try_parse(r) {
            Ok(id) => Some(id),
            Err(_) => {
                bad("resellerId", "resellerId must be a GUID.");
                None
            }
        },
    };
    if !errors.0.is_empty() {
        return Err(errors);
    }
    Ok(Params {
        page,
        size,
        search: value.map(|v| (field, v.to_lowercase())),
        reseller,
    })
}

/// `GET /v1/Customers`: one page of the held customers, filtered.
pub(super) async fn list_customers(
    Shared(state): Shared<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let call = match admit(
        &state,
        &method,
        &headers,
        Target::List(uri.query().unwrap_or("")),
    )
    .await
    {
        Ok(call) => call,
        Err(response) => return response,
    };
    let invalid = |errors: Errors| {
        error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "One or more validation errors occurred.",
            Some(&call.correlation),
            Some(errors),
        )
    };
    let Ok(Query(query)) = query else {
        let mut errors = Errors::default();
        errors.0.push((
            "query".into(),
            vec!["The query string cannot be read.".into()],
        ));
        return invalid(errors);
    };
    let p = match params(&query) {
        Ok(p) => p,
        Err(errors) => return invalid(errors),
    };
    // Copied out so that making up customers (which looks at `held`) does not wait on the lock.
    let ids = state.listed();
    let skip = (p.page - 1).saturating_mul(p.size);
    let (total, items): (usize, Vec<Map<String, Value>>) =
        if p.search.is_none() && p.reseller.is_none() {
            let page = ids.iter().skip(skip).take(p.size);
            (ids.len(), page.map(|id| state.customer(*id)).collect())
        } else {
            let mut total = 0;
            let mut items = Vec::new();
            for id in ids {
                let c = state.customer(id);
                if !matches(&c, &p) {
                    continue;
                }
                if total >= skip && items.len() < p.size {
                    items.push(c);
                }
                total += 1;
            }
            (total, items)
        };
    let pages = total.div_ceil(p.size);
    let body = json!({
        "items": items,
        "paginationParameters": {"pageNumber": p.page, "pageSize": p.size},
        "totalPages": pages,
        "totalCount": total,
        "hasPreviousPage": p.page > 1,
        "hasNextPage": p.page < pages,
        "continuationToken": null,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn matches(c: &Map<String, Value>, p: &Params) -> bool {
    if let Some(r) = p.reseller {
        let theirs = c
            .get("resellerId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::try_parse(s).ok());
        if theirs != Some(r) {
            return false;
        }
    }
    match &p.search {
        None => true,
        Some((field, value)) => field
            .values(c)
            .iter()
            .any(|v| v.to_lowercase().contains(value.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use reqwest::StatusCode as Status;

    use super::super::{Sandbox, SandboxConfig};
    use super::*;

    async fn start(customers: usize) -> (Sandbox, reqwest::Client, String) {
        let config = SandboxConfig {
            customers,
            static_token: Some("t0k".into()),
            ..SandboxConfig::default()
        };
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sb = Sandbox::start(config, listen).await.unwrap();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        let base = sb.base_url();
        (sb, client, base)
    }

    async fn page(c: &reqwest::Client, base: &str, query: &str) -> (Status, Value) {
        let r = c
            .get(format!("{base}/v1/Customers?{query}"))
            .bearer_auth("t0k")
            .header("X-Tenant", "portal.cloudcockpit.com")
            .header("X-Correlation-Id", Uuid::new_v4().to_string())
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    fn refs(v: &Value) -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["internalIdentifier"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn pages_cover_every_held_customer_once_in_order() {
        let (sb, c, base) = start(45).await;
        let mut seen = Vec::new();
        for n in 1..=3 {
            let (status, v) = page(&c, &base, &format!("pageNumber={n}&pageSize=20")).await;
            assert_eq!(status, Status::OK);
            assert_eq!(v["totalCount"], 45);
            assert_eq!(v["totalPages"], 3);
            assert_eq!(v["hasPreviousPage"], n > 1);
            assert_eq!(v["hasNextPage"], n < 3);
            assert_eq!(v["paginationParameters"]["pageNumber"], n);
            assert_eq!(v["paginationParameters"]["pageSize"], 20);
            seen.extend(refs(&v));
        }
        let expected: Vec<String> = (1..=45).map(|i| format!("ERP-{i:06}")).collect();
        assert_eq!(seen, expected);
        // A listed customer reads the same through GET, reference included.
        let first = sb.listed()[0];
        assert_eq!(
            sb.customer(first)["internalIdentifier"],
            Value::String("ERP-000001".into())
        );
        let (_, past) = page(&c, &base, "pageNumber=4&pageSize=20").await;
        assert!(past["items"].as_array().unwrap().is_empty());
        assert_eq!(past["hasNextPage"], false);
    }

    #[tokio::test]
    async fn search_is_a_case_insensitive_substring_and_reseller_filters() {
        let (sb, c, base) = start(12).await;
        // ERP-000001 is a substring of ERP-000010, ERP-000011, ERP-000012: the client must
        // compare itself.
        let (_, v) = page(
            &c,
            &base,
            "searchField=InternalIdentifier&searchValue=erp-00001&pageSize=2000",
        )
        .await;
        assert_eq!(
            refs(&v),
            ["ERP-000010", "ERP-000011", "ERP-000012"].map(String::from)
        );
        assert_eq!(v["totalCount"], 3);

        let id = sb.listed()[3];
        let mut customer = sb.customer(id);
        let reseller = Uuid::new_v4();
        customer.insert("resellerId".into(), Value::String(reseller.to_string()));
        sb.put_customer(id, customer.clone());
        let (_, v) = page(&c, &base, &format!("resellerId={reseller}")).await;
        assert_eq!(refs(&v), ["ERP-000004"]);

        let company = customer["companyName"].as_str().unwrap().to_uppercase();
        let (_, v) = page(
            &c,
            &base,
            &format!(
                "searchField=Company.Name&searchValue={}",
                urlencode(&company)
            ),
        )
        .await;
        assert!(refs(&v).contains(&"ERP-000004".to_string()), "{v}");

        let email = customer["email"].as_str().unwrap();
        let domain = email.rsplit_once('@').unwrap().1;
        let (_, v) = page(
            &c,
            &base,
            &format!("searchField=Domain&searchValue={domain}"),
        )
        .await;
        assert!(refs(&v).contains(&"ERP-000004".to_string()), "{v}");

        let provider = customer["providerCustomers"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["providerCustomerId"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, v) = page(
            &c,
            &base,
            &format!("searchField=ProviderCustomerId&searchValue={provider}"),
        )
        .await;
        assert_eq!(refs(&v), ["ERP-000004"]);
    }

    #[tokio::test]
    async fn bad_parameters_get_the_documented_400() {
        let (_sb, c, base) = start(3).await;
        for (query, property) in [
            ("pageSize=2001", "pageSize"),
            ("pageSize=0", "pageSize"),
            ("pageNumber=0", "pageNumber"),
            ("searchField=Zip&searchValue=1", "searchField"),
            ("resellerId=nope", "resellerId"),
        ] {
            let (status, v) = page(&c, &base, query).await;
            assert_eq!(status, Status::BAD_REQUEST, "{query}");
            assert_eq!(v["errors"][0]["propertyName"], property, "{query}: {v}");
        }
        let (status, v) = page(&c, &base, "PAGESIZE=2000&pagenumber=1").await;
        assert_eq!(status, Status::OK);
        assert_eq!(v["paginationParameters"]["pageSize"], 2000);
    }

    #[tokio::test]
    async fn patched_customers_are_held_after_the_made_up_ones() {
        let (sb, _c, _) = start(2).await;
        let id = Uuid::new_v4();
        sb.put_customer(id, super::super::made_up_customer(id));
        assert_eq!(sb.listed().len(), 3);
        assert_eq!(sb.listed()[2], id);
        sb.put_customer(id, super::super::made_up_customer(id));
        assert_eq!(sb.listed().len(), 3);
    }

    fn urlencode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}
