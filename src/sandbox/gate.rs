//! What every API call (GET, PATCH, list) passes before its handler runs, in the order a
//! gateway checks: the token, the tenant and correlation headers, the simulated faults, and the
//! customer id in the path; and the documented error bodies those checks answer with.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::state::{State, lock};
use super::validate::Errors;

/// The documented error body (docs/api.md), for 400, 500 and the other errors this sandbox makes.
pub(super) fn error(
    status: StatusCode,
    kind: &str,
    description: &str,
    correlation: Option<&str>,
    errors: Option<Errors>,
) -> Response {
    let errors = errors.map(|e| {
        e.0.into_iter()
            .map(|(p, d)| json!({"propertyName": p, "description": d}))
            .collect::<Vec<_>>()
    });
    let body = json!({
        "statusCode": status.as_u16(),
        "type": kind,
        "description": description,
        "correlationId": correlation,
        "errors": errors,
    });
    (status, axum::Json(body)).into_response()
}

pub(super) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A customer call that passed every check common to GET and PATCH.
pub(super) struct Admitted {
    pub id: Uuid,
    pub correlation: String,
    /// The X-Tenant header: the reseller's portal domain.
    pub tenant: String,
}

/// What a call is about: one customer (its id as it came in the path), or the list.
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    Customer(&'a str),
    /// The list call, with its query (faults are decided per page).
    List(&'a str),
}

/// What GET and PATCH check alike, in the order a gateway would (the throttle has passed them):
/// after the configured latency, token, tenant, correlation id, simulated faults, and the
/// path's GUID.
pub(super) async fn admit(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    target: Target<'_>,
) -> Result<Admitted, Response> {
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let cid = header_text(headers, "x-correlation-id");
    if let Some(refused) = refuse_token(state, headers, cid.as_deref()) {
        return Err(refused);
    }
    let (tenant, correlation) = tenant_and_correlation(headers, cid.as_deref())
        .map_err(|(property, description)| bad_request(property, description, cid.as_deref()))?;
    if let Some(fault) = simulated_fault(state, method, target, &correlation) {
        return Err(fault);
    }
    let id = match target {
        Target::List(_) => Uuid::nil(),
        Target::Customer(raw_id) => {
            let Ok(id) = Uuid::try_parse(raw_id) else {
                return Err(bad_request(
                    "customerId",
                    "The customer id in the path is not a GUID.",
                    Some(&correlation),
                ));
            };
            if let Some(refused) = refuse_customer(id, &correlation) {
                return Err(refused);
            }
            id
        }
    };
    Ok(Admitted {
        id,
        correlation,
        tenant,
    })
}

/// The 429 of a throttled call, asking for a pause of `seconds` (at least one).
pub(super) fn too_many_requests(cid: Option<&str>, seconds: u64) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Rate limit exceeded; retry later.",
        cid,
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The 400 for one bad request property.
fn bad_request(property: &str, description: &str, cid: Option<&str>) -> Response {
    let mut errors = Errors::default();
    errors
        .0
        .push((property.to_string(), vec![description.to_string()]));
    error(
        StatusCode::BAD_REQUEST,
        "ValidationError",
        "One or more validation errors occurred.",
        cid,
        Some(errors),
    )
}

/// The X-Tenant header, and the X-Correlation-Id header (`cid`), which must be one GUID; or
/// the property at fault and why.
fn tenant_and_correlation(
    headers: &HeaderMap,
    cid: Option<&str>,
) -> Result<(String, String), (&'static str, &'static str)> {
    let tenant = header_text(headers, "x-tenant").unwrap_or_default();
    if tenant.trim().is_empty() {
        return Err(("X-Tenant", "The X-Tenant header is required."));
    }
    let Some(correlation) = cid else {
        return Err((
            "X-Correlation-Id",
            "The X-Correlation-Id header is required.",
        ));
    };
    if headers.get_all("x-correlation-id").iter().count() > 1 {
        return Err((
            "X-Correlation-Id",
            "The X-Correlation-Id header must be sent once.",
        ));
    }
    if Uuid::try_parse(correlation.trim()).is_err() {
        return Err((
            "X-Correlation-Id",
            "The X-Correlation-Id header must be a GUID.",
        ));
    }
    Ok((tenant, correlation.to_string()))
}

/// The answer of a configured fault for this call's path, if one strikes: a 503 as a gateway
/// sends it (plain text), any other status as the API's own error.
fn simulated_fault(
    state: &State,
    method: &Method,
    target: Target<'_>,
    correlation: &str,
) -> Option<Response> {
    let path = match (target, method) {
        (Target::List(query), _) => format!("/v1/Customers?{query}"),
        (Target::Customer(raw_id), &Method::PATCH) => {
            format!("/v1/Customers/{raw_id}/account-info")
        }
        (Target::Customer(raw_id), _) => format!("/v1/Customers/{raw_id}"),
    };
    let status = state.fault(method, &path)?;
    Some(if status == StatusCode::SERVICE_UNAVAILABLE {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Service temporarily unavailable (simulated by the ccbulk sandbox).",
        )
            .into_response()
    } else {
        error(
            status,
            "InternalServerError",
            "An unexpected error occurred (simulated by the ccbulk sandbox).",
            Some(correlation),
            None,
        )
    })
}

/// Ids ending in ...000000000404 / ...000000000403 stand for customers that do not exist or
/// that the caller may not see, so clients can be tested against both answers.
fn refuse_customer(id: Uuid, correlation: &str) -> Option<Response> {
    match id.as_u128() & 0xffff_ffff_ffff {
        0x404 => Some(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Customer {id} was not found."),
            Some(correlation),
            None,
        )),
        0x403 => Some(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("The caller may not access customer {id}."),
            Some(correlation),
            None,
        )),
        _ => None,
    }
}

/// The 401 for a request without an unexpired issued token or the configured static token;
/// `None` when the token is good.
fn refuse_token(state: &State, headers: &HeaderMap, cid: Option<&str>) -> Option<Response> {
    let unauthorized = |why: &str, challenge: &'static str| {
        let mut response = error(StatusCode::UNAUTHORIZED, "Unauthorized", why, cid, None);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        Some(response)
    };
    let value = header_text(headers, "authorization").unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return unauthorized("A bearer token is required.", "Bearer"),
    };
    if state.config.static_token.as_deref() == Some(token) && !token.is_empty() {
        return None;
    }
    let expiry = lock(&state.tokens).get(token).copied();
    match expiry {
        Some(expires) if tokio::time::Instant::now() < expires => None,
        Some(_) => unauthorized(
            "The token has expired.",
            "Bearer error=\"invalid_token\", error_description=\"The token expired\"",
        ),
        None => unauthorized(
            "The token is not valid.",
            "Bearer error=\"invalid_token\", error_description=\"The token is not valid\"",
        ),
    }
}
