//! The sandbox's HTTP side: the routes, the recording layer, the throttle layer, the token
//! endpoint and the customer GET and PATCH. What every API call checks is in `gate.rs`, what the
//! sandbox knows in `state.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::json;

use super::RecordedRequest;
use super::gate::{Target, admit, error, header_text, too_many_requests};
use super::state::{State, lock};
use super::throttle;
use super::validate;

/// Largest request body read; anything bigger is answered 413.
const MAX_BODY: usize = 1 << 20;

/// The router, with every request (token, customers, unknown paths) going through the recorder,
/// and the API's calls (not the token endpoint's) through the throttle.
pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/Customers", get(super::list::list_customers))
        .route("/v1/Customers/{id}", get(get_customer))
        .route("/v1/Customers/{id}/account-info", patch(patch_customer))
        .route_layer(middleware::from_fn_with_state(state.clone(), throttled))
        .route("/oauth2/v2.0/token", post(token))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Records the request on arrival (so `requests()` is in arrival order), buffers its body, and
/// fills in the status and finish time once the handler answers. A request whose client went away
/// before the answer keeps status 0.
async fn record(Shared(state): Shared<Arc<State>>, req: Request, next: Next) -> Response {
    let received = Instant::now();
    let (parts, body) = req.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_ascii_lowercase(), value)
        })
        .collect();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let method = parts.method.clone();
    let index = state.begin(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        headers,
        body: String::new(),
        status: 0,
        received,
        finished: received,
    });

    let response = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            state.update(index, |r| r.body = text);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            &format!("The request body could not be read or is over {MAX_BODY} bytes."),
            None,
            None,
        ),
    };
    let status = response.status().as_u16();
    let finished = Instant::now();
    state.update(index, |r| {
        r.status = status;
        r.finished = finished;
    });
    tracing::debug!(
        method = %method,
        path = %path,
        status,
        ms = finished.duration_since(received).as_millis() as u64,
        "sandbox answered"
    );
    response
}

/// `--throttle`: decides at arrival (so the throttle sees arrival times, not arrival plus
/// latency) and answers 429 with `Retry-After` after the configured latency, as an API
/// would; with `--throttle-headers`, every answer, 429s included, says what is left.
async fn throttled(Shared(state): Shared<Arc<State>>, req: Request, next: Next) -> Response {
    let Some(throttle) = &state.throttle else {
        return next.run(req).await;
    };
    let verdict = throttle.check(tokio::time::Instant::now());
    let mut response = if verdict.allowed {
        next.run(req).await
    } else {
        if !state.config.latency.is_zero() {
            tokio::time::sleep(state.config.latency).await;
        }
        let cid = header_text(req.headers(), "x-correlation-id");
        too_many_requests(cid.as_deref(), throttle::whole_seconds(verdict.retry_after))
    };
    if throttle.announces() {
        throttle::announce(response.headers_mut(), &verdict);
    }
    response
}

async fn not_found(method: Method, headers: HeaderMap) -> Response {
    let correlation = header_text(&headers, "x-correlation-id");
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("The sandbox has no {method} route for this path."),
        correlation.as_deref(),
        None,
    )
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    token_answer(
        status,
        json!({"error": code, "error_description": description}),
    )
}

/// An answer of the token endpoint: JSON, never cached (as OAuth 2.0 requires of it, and as
/// Entra answers).
fn token_answer(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /oauth2/v2.0/token`: the client-credentials grant, as Entra answers it.
async fn token(
    Shared(state): Shared<Arc<State>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body must be application/x-www-form-urlencoded.",
        );
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    match field("grant_type") {
        "client_credentials" => {}
        "" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body must contain the parameter 'grant_type'.",
            );
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported.",
            );
        }
    }
    if field("scope").trim().is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body must contain the parameter 'scope'.",
        );
    }
    let config = &state.config;
    if field("client_id") != config.client_id || field("client_secret") != config.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client id or secret is wrong.",
        );
    }

    let random: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(48)
        .collect();
    let access_token = format!("sbx.{random}");
    let expires = tokio::time::Instant::now() + config.token_ttl;
    lock(&state.tokens).insert(access_token.clone(), expires);
    state.issued.fetch_add(1, Ordering::SeqCst);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": config.token_ttl.as_secs(),
        "ext_expires_in": config.token_ttl.as_secs(),
        "access_token": access_token,
    });
    token_answer(StatusCode::OK, body)
}

/// `GET /v1/Customers/{id}`: the stored customer, or the made-up one.
async fn get_customer(
    Shared(state): Shared<Arc<State>>,
    method: Method,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match admit(&state, &method, &headers, Target::Customer(&raw_id)).await {
        Ok(call) => (StatusCode::OK, axum::Json(state.customer(call.id))).into_response(),
        Err(response) => response,
    }
}

/// `PATCH /v1/Customers/{id}/account-info`: validate, store as a full replacement, 202.
async fn patch_customer(
    Shared(state): Shared<Arc<State>>,
    method: Method,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match admit(&state, &method, &headers, Target::Customer(&raw_id)).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let content_type = header_text(&headers, "content-type").unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "The body must be sent as Content-Type: application/json.",
            Some(&call.correlation),
            None,
        );
    }
    match validate::account_info(&body, call.id, &call.tenant) {
        Ok(customer) => match state.put_patched(call.id, customer) {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(why) => error(
                StatusCode::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                &format!(
                    "{why}: `{} sandbox --reset` starts its tenant afresh.",
                    super::program()
                ),
                Some(&call.correlation),
                None,
            ),
        },
        Err(errors) => error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "One or more validation errors occurred.",
            Some(&call.correlation),
            Some(errors),
        ),
    }
}
