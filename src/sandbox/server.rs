//! The sandbox's HTTP side: routes, the recording layer, authentication, header checks and the
//! configured faults. State lives in one `Arc<State>` shared by every handler and by the
//! [`Sandbox`](super::Sandbox) handle the tests hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::made_up::made_up_customer;
use super::throttle::{self, Throttle};
use super::validate::{self, Errors};
use super::{RecordedRequest, SandboxConfig};

/// Largest request body read; anything bigger is answered 413.
const MAX_BODY: usize = 1 << 20;

/// Everything the running sandbox knows.
pub(super) struct State {
    pub config: SandboxConfig,
    throttle: Option<Throttle>,
    /// Issued tokens and when each expires; expired ones stay, to tell "expired" from "unknown".
    /// On tokio's clock, so a test can let a token expire on a paused clock.
    tokens: Mutex<HashMap<String, tokio::time::Instant>>,
    issued: AtomicUsize,
    customers: Mutex<HashMap<Uuid, Map<String, Value>>>,
    /// The customers the list call serves, in the order they came to be (list.rs).
    pub(super) held: Mutex<super::list::Held>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// How many times each method + path has been answered, for fault decisions.
    calls: Mutex<HashMap<String, u64>>,
}

/// Locks a mutex even if a panicking thread poisoned it: the data are plain maps and lists that
/// stay consistent between statements.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub fn new(config: SandboxConfig) -> State {
        let throttle = config
            .throttle
            .and_then(|rate| Throttle::new(rate, config.throttle_kind, config.throttle_headers));
        State {
            throttle,
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicUsize::new(0),
            customers: Mutex::new(HashMap::new()),
            held: Mutex::new(super::list::Held::made_up(config.customers, config.seed)),
            requests: Mutex::new(Vec::new()),
            calls: Mutex::new(HashMap::new()),
            config,
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub fn customer(&self, id: Uuid) -> Map<String, Value> {
        if let Some(c) = lock(&self.customers).get(&id) {
            return c.clone();
        }
        let mut c = made_up_customer(id);
        if let Some(reference) = lock(&self.held).reference(id) {
            c.insert("internalIdentifier".into(), Value::String(reference));
        }
        c
    }

    /// Stores `customer` as `id`'s current state, and lists it from now on.
    pub fn put(&self, id: Uuid, customer: Map<String, Value>) {
        lock(&self.customers).insert(id, customer);
        lock(&self.held).hold(id);
    }

    pub fn tokens_issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    fn begin(&self, request: RecordedRequest) -> usize {
        let mut requests = lock(&self.requests);
        requests.push(request);
        requests.len() - 1
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut RecordedRequest)) {
        if let Some(r) = lock(&self.requests).get_mut(index) {
            f(r);
        }
    }

    /// Decides, from the seed and how often this method + path was called before, whether this
    /// call fails and how. Keyed per path rather than one global stream, so the same client run
    /// meets the same faults whatever order its concurrent calls arrive in.
    fn fault(&self, method: &Method, path: &str) -> Option<StatusCode> {
        let rate = self.config.fail_rate;
        if rate.is_nan() || rate <= 0.0 {
            return None;
        }
        let key = format!("{method} {path}");
        let n = {
            let mut calls = lock(&self.calls);
            let n = calls.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let mut h = self.config.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let h = mix(h);
        let draw = (h >> 11) as f64 / (1u64 << 53) as f64;
        (draw < rate).then_some(if h & 1 == 0 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        })
    }
}

/// splitmix64's finaliser.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

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

/// The documented error body (API.md), for 400, 500 and the other errors this sandbox makes.
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

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description});
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
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
fn too_many_requests(cid: Option<&str>, seconds: u64) -> Response {
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
        Ok(customer) => {
            state.put(call.id, customer);
            StatusCode::ACCEPTED.into_response()
        }
        Err(errors) => error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "One or more validation errors occurred.",
            Some(&call.correlation),
            Some(errors),
        ),
    }
}
