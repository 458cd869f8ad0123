//! The sandbox driven over loopback HTTP with reqwest, plus its made-up customers and the sample
//! spreadsheet that depends on them.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::customer::{Cell, Field, Rules, check, current_text, merge};

const SCOPE: &str = "api://b92a36a4-feb8-4f47-a69c-29a180aa6d0a/.default";
const TENANT: &str = "portal.cloudcockpit.com";

async fn start(config: SandboxConfig) -> Sandbox {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Sandbox::start(config, listen).await.unwrap()
}

/// Every request has a timeout: a sandbox that hangs fails its test instead of stalling it.
fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn credentials<'a>(secret: &'a str, grant: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("client_id", "ccbulk-sandbox"),
        ("client_secret", secret),
        ("grant_type", grant),
        ("scope", SCOPE),
    ]
}

/// The token endpoint's answer to the sandbox's own client credentials.
async fn ask_token(sb: &Sandbox, c: &Client) -> reqwest::Response {
    c.post(sb.token_url())
        .form(&credentials("sandbox-secret", "client_credentials"))
        .send()
        .await
        .unwrap()
}

async fn token(sb: &Sandbox, c: &Client) -> String {
    let r = ask_token(sb, c).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x6f1d_2a3b_4c5d_4e6f_8a9b_0000_0000_0000 | n)
}

fn get(c: &Client, sb: &Sandbox, id: &str, token: &str) -> RequestBuilder {
    get_as(c, sb, id, token, &Uuid::new_v4().to_string())
}

fn get_as(c: &Client, sb: &Sandbox, id: &str, token: &str, cid: &str) -> RequestBuilder {
    c.get(format!("{}/v1/Customers/{id}", sb.base_url()))
        .bearer_auth(token)
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", cid)
}

fn patch(c: &Client, sb: &Sandbox, id: Uuid, token: &str, body: &Value) -> RequestBuilder {
    patch_as(c, sb, id, token, body, &Uuid::new_v4().to_string())
}

fn patch_as(
    c: &Client,
    sb: &Sandbox,
    id: Uuid,
    token: &str,
    body: &Value,
    cid: &str,
) -> RequestBuilder {
    c.patch(format!("{}/v1/Customers/{id}/account-info", sb.base_url()))
        .bearer_auth(token)
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", cid)
        .json(body)
}

fn body(customer: &Map<String, Value>) -> Value {
    json!({"customer": customer, "retryFailedProviderCustomersFromCompanyInfo": false})
}

/// The property names of a 400 body.
fn properties(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["propertyName"].as_str().unwrap().to_string())
        .collect()
}

/// On a paused clock: the sleep past the token's lifetime takes no time.
#[tokio::test(start_paused = true)]
async fn tokens_are_issued_and_expire() {
    let sb = start(SandboxConfig {
        token_ttl: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let c = client();

    let r = ask_token(&sb, &c).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 1);
    let tok = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(sb.tokens_issued(), 1);

    let r = get(&c, &sb, &id(1).to_string(), &tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&c, &sb, &id(1).to_string(), &tok).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    let r = get(&c, &sb, &id(1).to_string(), "made-up-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/v1/Customers/{}", sb.base_url(), id(1)))
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no Authorization header");
    assert_eq!(sb.tokens_issued(), 1);
}

#[tokio::test]
async fn token_endpoint_refuses_wrong_client_grant_and_shape() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let send = |form: Vec<(&'static str, &'static str)>| c.post(sb.token_url()).form(&form).send();

    let r = send(credentials("wrong", "client_credentials"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");

    let r = send(credentials("sandbox-secret", "password"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let mut no_scope = credentials("sandbox-secret", "client_credentials");
    no_scope.pop();
    let r = send(no_scope).await.unwrap();
    assert_eq!(r.status(), 400);

    let r = c
        .post(sb.token_url())
        .json(&json!({"client_id": "ccbulk-sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

    assert_eq!(sb.tokens_issued(), 0);
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 400, 400, 400]);
    let first = &sb.requests()[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/oauth2/v2.0/token");
    assert!(
        first.body.contains("grant_type=client_credentials"),
        "{}",
        first.body
    );
}

#[tokio::test]
async fn get_returns_the_made_up_customer_and_is_recorded() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let tok = token(&sb, &c).await;
    let cid = Uuid::new_v4().to_string();
    let r = get_as(&c, &sb, &id(7).to_string(), &tok, &cid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Map<String, Value> = r.json().await.unwrap();
    assert_eq!(got, made_up_customer(id(7)));
    assert_eq!(got, sb.customer(id(7)));
    let providers = got["providerCustomers"].as_object().unwrap();
    assert!(!providers.is_empty());
    for p in providers.values() {
        let data = p["providerCustomerData"].as_str().unwrap();
        assert!(serde_json::from_str::<Value>(data).unwrap().is_object());
        assert!(p["offerTypeMargins"].is_object());
    }
    assert!(!got["customerAssociations"].as_array().unwrap().is_empty());

    let requests = sb.requests();
    assert_eq!(requests.len(), 2);
    let r = &requests[1];
    assert_eq!((r.method.as_str(), r.status), ("GET", 200));
    assert_eq!(r.path, format!("/v1/Customers/{}", id(7)));
    assert_eq!(r.header("x-tenant"), Some(TENANT));
    assert_eq!(r.header("X-Correlation-Id"), Some(cid.as_str()));
    assert!(r.headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert!(requests[0].finished <= r.received);
}

#[tokio::test]
async fn patch_is_accepted_and_later_gets_show_it() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let tok = token(&sb, &c).await;
    let mut customer = made_up_customer(id(8));
    customer.insert("city".into(), json!("Guimarães"));
    customer.insert("zip".into(), json!("4810-225"));
    customer.insert("taxId".into(), Value::Null);

    let r = patch(&c, &sb, id(8), &tok, &body(&customer))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.bytes().await.unwrap().is_empty());

    let got: Map<String, Value> = get(&c, &sb, &id(8).to_string(), &tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, customer);
    assert_eq!(got["zip"], "4810-225");
    assert_eq!(sb.customer(id(8)), customer);
    let sent: Value = serde_json::from_str(&sb.requests()[1].body).unwrap();
    assert_eq!(sent["customer"]["city"], "Guimarães");

    // Full replacement: a PATCH without the optional structures drops them; the id is kept.
    let mut bare = customer.clone();
    bare.remove("providerCustomers");
    bare.remove("id");
    let r = patch(&c, &sb, id(8), &tok, &body(&bare))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let stored = sb.customer(id(8));
    assert!(!stored.contains_key("providerCustomers"));
    assert_eq!(stored["id"], id(8).to_string());
}

#[tokio::test]
async fn invalid_patch_gets_the_documented_400() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let tok = token(&sb, &c).await;
    let mut customer = made_up_customer(id(9));
    customer.insert("country".into(), json!("Portugal"));
    customer.insert("zip".into(), json!("1".repeat(31)));
    customer.insert("firstName".into(), json!(""));
    customer.remove("phone");
    customer.insert("taxId".into(), json!(123));
    let cid = Uuid::new_v4().to_string();

    let r = patch_as(&c, &sb, id(9), &tok, &body(&customer), &cid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["statusCode"], 400);
    assert_eq!(v["type"], "ValidationError");
    assert_eq!(v["description"], "One or more validation errors occurred.");
    assert_eq!(v["correlationId"], cid.as_str());
    assert_eq!(
        properties(&v),
        ["taxId", "country", "zip", "firstName", "phone"]
    );
    let country = v["errors"][1]["description"][0].as_str().unwrap();
    assert!(country.contains("ISO 3166-1 alpha-2"), "{country}");
    assert_eq!(
        sb.customer(id(9)),
        made_up_customer(id(9)),
        "nothing stored"
    );
}

#[tokio::test]
async fn patch_checks_body_shape_content_type_and_id() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let tok = token(&sb, &c).await;
    let good = made_up_customer(id(10));
    let url = format!("{}/v1/Customers/{}/account-info", sb.base_url(), id(10));

    let cases: Vec<(Value, &str)> = vec![
        (json!({"customer": good}), RETRY_FLAG_NAME),
        (
            json!({"customer": good, RETRY_FLAG_NAME: "yes"}),
            RETRY_FLAG_NAME,
        ),
        (json!({RETRY_FLAG_NAME: true}), "customer"),
        (json!({"customer": "x", RETRY_FLAG_NAME: true}), "customer"),
        (json!([1, 2]), "$"),
    ];
    for (payload, property) in cases {
        let r = patch(&c, &sb, id(10), &tok, &payload).send().await.unwrap();
        assert_eq!(r.status(), 400, "{payload}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(properties(&v), [property], "{payload}");
    }

    let mut other = good.clone();
    other.insert("id".into(), json!(id(11).to_string()));
    let mut stringified = good.clone();
    stringified.insert("customerAssociations".into(), json!("[]"));
    let mut parsed_data = good.clone();
    if let Some(Value::Object(providers)) = parsed_data.get_mut("providerCustomers") {
        for p in providers.values_mut() {
            p["providerCustomerData"] = json!({"domain": "x"});
        }
    }
    for (customer, property) in [
        (other, "id".to_string()),
        (stringified, "customerAssociations".to_string()),
        (
            parsed_data,
            "providerCustomers.3f1c9a2e-5b7d-4e8a-9c61-0d2f4b8a7e15.providerCustomerData"
                .to_string(),
        ),
    ] {
        let r = patch(&c, &sb, id(10), &tok, &body(&customer))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert!(properties(&v).contains(&property), "{v}");
    }

    let r = c
        .patch(&url)
        .bearer_auth(&tok)
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = c
        .patch(&url)
        .bearer_auth(&tok)
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .header("Content-Type", "text/plain")
        .body(body(&good).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let r = c
        .patch(&url)
        .bearer_auth(&tok)
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body(&good).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "charset parameter is fine");
}

const RETRY_FLAG_NAME: &str = "retryFailedProviderCustomersFromCompanyInfo";

#[tokio::test]
async fn headers_are_checked() {
    let sb = start(SandboxConfig {
        static_token: Some("static-token".into()),
        ..Default::default()
    })
    .await;
    let c = client();
    let url = format!("{}/v1/Customers/{}", sb.base_url(), id(12));

    let r = c
        .get(&url)
        .bearer_auth("static-token")
        .header("X-Tenant", TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(properties(&v), ["X-Correlation-Id"]);
    assert_eq!(v["correlationId"], Value::Null);

    let r = c
        .get(&url)
        .bearer_auth("static-token")
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", "row-14")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["correlationId"], "row-14");

    let r = c
        .get(&url)
        .bearer_auth("static-token")
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(properties(&r.json().await.unwrap()), ["X-Tenant"]);

    let r = get(&c, &sb, &id(12).to_string(), "static-token")
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "two correlation ids");

    let r = get(&c, &sb, "not-a-guid", "static-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(properties(&r.json().await.unwrap()), ["customerId"]);

    let r = get(&c, &sb, &id(12).to_string(), "static-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the static token is accepted");
    assert_eq!(sb.tokens_issued(), 0);

    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 400, 200]);
}

#[tokio::test]
async fn not_found_and_forbidden_ids() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let tok = token(&sb, &c).await;
    let missing = "0b9d5c6e-2f3a-4d1e-9a7b-000000000404";
    let r = get(&c, &sb, missing, &tok).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["statusCode"], 404);
    let missing: Uuid = missing.parse().unwrap();
    let r = patch(&c, &sb, missing, &tok, &body(&made_up_customer(missing)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = get(&c, &sb, "0b9d5c6e-2f3a-4d1e-9a7b-000000000403", &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let r = c
        .get(format!("{}/v1/Nothing", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let last = sb.requests().pop().unwrap();
    assert_eq!((last.path.as_str(), last.status), ("/v1/Nothing", 404));
}

#[tokio::test]
async fn throttle_answers_429_with_retry_after() {
    let sb = start(SandboxConfig {
        throttle: Some("2/s".parse().unwrap()),
        ..Default::default()
    })
    .await;
    let c = client();
    let tok = token(&sb, &c).await;
    let mut statuses = Vec::new();
    for n in 0..6 {
        let r = get(&c, &sb, &id(n).to_string(), &tok).send().await.unwrap();
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..2], [200, 200], "a second's worth goes at once");
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 3,
        "{statuses:?}"
    );
    let recorded = sb.requests();
    assert_eq!(recorded[0].status, 200, "the token call is not throttled");
    assert_eq!(
        recorded.iter().filter(|r| r.status == 429).count(),
        statuses.iter().filter(|s| **s == 429).count()
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&c, &sb, &id(0).to_string(), &tok).send().await.unwrap();
    assert_eq!(r.status(), 200, "the limiter refills");
}

/// A fixed window of 3 a minute (long enough that the test never straddles two windows), with
/// headers: every API answer says what is left, the 429 too; the token call is not counted.
#[tokio::test]
async fn throttle_window_with_headers_says_what_is_left() {
    let sb = start(SandboxConfig {
        throttle: Some("3/min".parse().unwrap()),
        throttle_kind: Shape::Window,
        throttle_headers: true,
        ..Default::default()
    })
    .await;
    let c = client();
    let tok = token(&sb, &c).await;
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let mut left = Vec::new();
    for n in 0..2 {
        let r = get(&c, &sb, &id(n).to_string(), &tok).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            header(&r, "ratelimit-policy").as_deref(),
            Some("\"sandbox\";q=3;w=60")
        );
        left.push(header(&r, "x-ratelimit-remaining").unwrap());
    }
    assert_eq!(left, ["2", "1"]);
    // The list call counts against the same limit.
    let r = c
        .get(format!("{}/v1/Customers?pageSize=1", sb.base_url()))
        .bearer_auth(&tok)
        .header("X-Tenant", TENANT)
        .header("X-Correlation-Id", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining").as_deref(), Some("0"));
    let r = get(&c, &sb, &id(9).to_string(), &tok).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    let reset: u64 = header(&r, "x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "to the minute's end: {retry}");
    assert_eq!(reset, retry, "the window resets when the wait ends");
    assert_eq!(
        header(&r, "ratelimit"),
        Some(format!("\"sandbox\";r=0;t={reset}"))
    );
    let r = ask_token(&sb, &c).await;
    assert_eq!(r.status(), 200, "the token endpoint is not throttled");
    assert_eq!(header(&r, "x-ratelimit-remaining"), None);
}

/// Without --throttle-headers, a throttled sandbox sends no rate-limit headers.
#[tokio::test]
async fn throttle_without_headers_announces_nothing() {
    let sb = start(SandboxConfig {
        throttle: Some("1/min".parse().unwrap()),
        throttle_kind: Shape::Sliding,
        ..Default::default()
    })
    .await;
    let c = client();
    let tok = token(&sb, &c).await;
    let first = get(&c, &sb, &id(1).to_string(), &tok).send().await.unwrap();
    let second = get(&c, &sb, &id(2).to_string(), &tok).send().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 429)
    );
    let retry: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (59..=60).contains(&retry),
        "until the first call leaves: {retry}"
    );
    for r in [&first, &second] {
        assert!(r.headers().get("x-ratelimit-remaining").is_none());
        assert!(r.headers().get("ratelimit").is_none());
    }
}

#[tokio::test]
async fn fail_rate_one_fails_everything() {
    let sb = start(SandboxConfig {
        fail_rate: 1.0,
        ..Default::default()
    })
    .await;
    let c = client();
    let tok = token(&sb, &c).await;
    let mut seen = Vec::new();
    for n in 0..12 {
        let r = get(&c, &sb, &id(n).to_string(), &tok).send().await.unwrap();
        let status = r.status().as_u16();
        assert!(status == 500 || status == 503, "{status}");
        if status == 500 {
            assert_eq!(r.json::<Value>().await.unwrap()["statusCode"], 500);
        }
        seen.push(status);
    }
    let r = patch(&c, &sb, id(1), &tok, &body(&made_up_customer(id(1))))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error());
    assert!(seen.contains(&500) && seen.contains(&503), "{seen:?}");
}

#[tokio::test]
async fn faults_are_deterministic_for_a_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let sb = start(SandboxConfig {
            fail_rate: 0.5,
            seed,
            ..Default::default()
        })
        .await;
        let c = client();
        let tok = token(&sb, &c).await;
        let mut statuses = Vec::new();
        for n in 0..24 {
            let r = get(&c, &sb, &id(n % 4).to_string(), &tok)
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        statuses
    }
    let a = run(42).await;
    assert_eq!(a, run(42).await);
    assert!(a.contains(&200) && a.iter().any(|s| *s >= 500), "{a:?}");
}

#[tokio::test]
async fn latency_delays_answers_and_calls_overlap() {
    let sb = start(SandboxConfig {
        latency: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let c = client();
    let tok = token(&sb, &c).await;
    let (a, b) = tokio::join!(
        get(&c, &sb, &id(1).to_string(), &tok).send(),
        get(&c, &sb, &id(2).to_string(), &tok).send()
    );
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200);
    let r = sb.requests();
    let (x, y) = (&r[1], &r[2]);
    for call in [x, y] {
        assert!(call.finished.duration_since(call.received) >= Duration::from_millis(200));
    }
    assert!(
        x.received < y.finished && y.received < x.finished,
        "served concurrently"
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sb = start(SandboxConfig::default()).await;
    assert!(sb.base_url().starts_with("http://127.0.0.1:"));
    assert!(!sb.base_url().ends_with('/'));
    assert_eq!(
        sb.token_url(),
        format!("{}/oauth2/v2.0/token", sb.base_url())
    );
    let c = client();
    token(&sb, &c).await;
    sb.shutdown();
    tokio::time::timeout(Duration::from_secs(5), sb.stopped())
        .await
        .unwrap();
    assert!(client().post(sb.token_url()).send().await.is_err());
}

#[test]
fn made_up_customers_are_deterministic_complete_and_valid() {
    let rules = Rules::default();
    let mut countries = BTreeMap::new();
    for n in 0..3000u128 {
        let id = Uuid::from_u128(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
        let c = made_up_customer(id);
        assert_eq!(c, made_up_customer(id));
        assert_eq!(c["id"], id.to_string());
        for field in Field::ALL {
            match &c[field.wire()] {
                Value::String(v) => {
                    if let Err(e) = check(field, v, &rules) {
                        panic!("{id} {}: {v:?} {e}", field.wire());
                    }
                }
                Value::Null => assert!(
                    matches!(field, Field::MiddleName | Field::ResellerId),
                    "{id} {} is null",
                    field.wire()
                ),
                other => panic!("{id} {}: {other}", field.wire()),
            }
        }
        assert!(!c["email"].as_str().unwrap().contains("microsoft.com"));
        let body = json!({"customer": c, "retryFailedProviderCustomersFromCompanyInfo": true});
        assert!(validate::account_info(body.to_string().as_bytes(), id, TENANT).is_ok());
        *countries
            .entry(c["country"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        countries.keys().cloned().collect::<Vec<_>>(),
        ["DE", "ES", "FR", "GB", "PT", "US"]
    );
    assert_ne!(made_up_customer(id(1)), made_up_customer(id(2)));
}

/// What a spreadsheet row asks, keyed by normalised header, as ccbulk's header matcher reads it.
fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

#[test]
fn sample_spreadsheet_matches_the_made_up_customers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/customers.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(normalise).collect();
    let fields: Vec<Option<Field>> = headers
        .iter()
        .map(|h| {
            Field::ALL
                .into_iter()
                .find(|f| f.wire().to_lowercase() == *h)
        })
        .collect();
    let id_column = headers.iter().position(|h| h == "customerid").unwrap();
    assert!(
        headers
            .iter()
            .zip(&fields)
            .all(|(h, f)| f.is_some() || h == "customerid"),
        "{headers:?}"
    );

    let (mut changed, mut unchanged, mut invalid) = (0, 0, Vec::new());
    for (row, record) in reader.records().enumerate() {
        let record = record.unwrap();
        assert_eq!(record.len(), headers.len(), "row {}", row + 1);
        let Ok(id) = Uuid::try_parse(&record[id_column]) else {
            invalid.push("customerId".to_string());
            continue;
        };
        let cells: Vec<(Field, &str)> = fields
            .iter()
            .zip(record.iter())
            .filter_map(|(f, v)| f.map(|f| (f, v.trim())))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let bad: Vec<&str> = cells
            .iter()
            .filter(|(f, v)| check(*f, v, &Rules::default()).is_err())
            .map(|(f, _)| f.wire())
            .collect();
        if !bad.is_empty() {
            assert_eq!(bad.len(), 1, "row {} breaks one rule only", row + 1);
            invalid.push(bad[0].to_string());
            continue;
        }
        let made_up = made_up_customer(id);
        if cells
            .iter()
            .all(|(f, v)| current_text(&made_up, *f).as_deref() == Some(*v))
        {
            unchanged += 1;
            continue;
        }
        changed += 1;
        let mut merged = made_up.clone();
        let changes = merge(&mut merged, cells.iter().map(|(f, v)| (*f, Cell::Set(v))));
        assert!(!changes.is_empty());
        let body =
            json!({"customer": merged, "retryFailedProviderCustomersFromCompanyInfo": false});
        assert!(
            validate::account_info(body.to_string().as_bytes(), id, TENANT).is_ok(),
            "row {} would be refused",
            row + 1
        );
    }
    assert_eq!((changed, unchanged), (22, 4));
    invalid.sort();
    assert_eq!(invalid, ["country", "customerId", "email", "zip"]);
}

#[test]
fn error_bodies_name_the_field_and_value() {
    let id = id(20);
    let mut c = made_up_customer(id);
    c.insert("email".into(), json!("ana.ferreira.fabrikam.pt"));
    let body = json!({"customer": c, RETRY_FLAG_NAME: false});
    let errors = validate::account_info(body.to_string().as_bytes(), id, TENANT).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    let (property, descriptions) = &errors.0[0];
    assert_eq!(property, "email");
    assert!(
        descriptions[0].starts_with("'ana.ferreira.fabrikam.pt'"),
        "{descriptions:?}"
    );
    assert!(validate::account_info(b"", id, TENANT).is_err());
}

/// The sandbox's own rules, value by value, against what docs/api.md says: each bad value is refused
/// naming its property, and each value at the edge of a rule is accepted.
#[test]
fn the_sandbox_refuses_what_api_md_refuses() {
    let id = id(21);
    let verdict = |field: &str, value: Value| {
        let mut c = made_up_customer(id);
        c.insert(field.into(), value);
        let body = json!({"customer": c, RETRY_FLAG_NAME: true});
        match validate::account_info(body.to_string().as_bytes(), id, TENANT) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.into_iter().map(|(p, _)| p).collect(),
        }
    };
    let refused = [
        // Required fields: missing (null) or blank.
        ("companyName", json!(null)),
        ("country", json!("  ")),
        ("addressLine1", json!("")),
        ("city", json!(null)),
        ("state", json!("")),
        ("zip", json!(null)),
        ("firstName", json!("")),
        ("lastName", json!(null)),
        ("email", json!("")),
        ("phone", json!(null)),
        // Limits, in characters.
        ("companyName", json!("é".repeat(256))),
        ("taxId", json!("1".repeat(256))),
        ("addressLine2", json!("a".repeat(256))),
        ("zip", json!("1".repeat(31))),
        ("phone", json!("9".repeat(31))),
        ("internalIdentifier", json!("r".repeat(256))),
        // Formats.
        ("country", json!("pt")),
        ("country", json!("PRT")),
        ("country", json!("Portugal")),
        ("country", json!("XX")),
        ("country", json!("UK")),
        ("resellerId", json!("not-a-guid")),
        ("email", json!("ana.fabrikam.pt")),
        ("email", json!("ana@fabrikam")),
        ("email", json!("@fabrikam.pt")),
        ("email", json!("ana maria@fabrikam.pt")),
        ("email", json!("ana@fabrikam..pt")),
        ("taxId", json!(42)),
        // Provider rules: company name.
        ("companyName", json!("A")),
        ("companyName", json!("&&& --")),
        ("companyName", json!("1 2 3")),
        ("companyName", json!("LLC")),
        ("companyName", json!("Inc.")),
        ("companyName", json!("zzz")),
        ("companyName", json!("a a a a")),
        // Provider rules: contact names.
        ("firstName", json!("A".repeat(41))),
        ("middleName", json!("b".repeat(41))),
        ("lastName", json!("Test")),
        ("firstName", json!("admin")),
        ("lastName", json!("nobody")),
        ("firstName", json!("12345")),
        ("lastName", json!("-- .")),
        // Provider rules: e-mail.
        ("email", json!("ana@microsoft.com")),
        ("email", json!("ana@eu.Microsoft.com")),
        ("email", json!("ana@portal.cloudcockpit.com")),
        ("email", json!("ana@CloudCockpit.com")),
    ];
    for (field, value) in refused {
        assert_eq!(verdict(field, value.clone()), [field], "{field} = {value}");
    }
    let accepted = [
        ("companyName", json!("x".repeat(3) + &"y".repeat(252))),
        ("companyName", json!("AB")),
        ("companyName", json!("Contoso LLC")),
        ("companyName", json!("3M")),
        ("taxId", json!(null)),
        ("taxId", json!("")),
        ("country", json!("PT")),
        ("country", json!("AX")),
        ("zip", json!("1".repeat(30))),
        ("phone", json!("9".repeat(30))),
        ("firstName", json!("Ç".repeat(40))),
        ("middleName", json!(null)),
        ("lastName", json!("O'Brien-Smith")),
        ("email", json!("ana.o'neill+tag@mail.fabrikam.pt")),
        ("email", json!("ana@notmicrosoft.com")),
        ("email", json!("ana@cloudcockpit.com.pt")),
        ("resellerId", json!("3f2504e0-4f89-11d3-9a0c-0305e82c3301")),
        ("resellerId", json!(null)),
    ];
    for (field, value) in accepted {
        assert!(
            verdict(field, value.clone()).is_empty(),
            "{field} = {value}"
        );
    }
}

/// The sandbox's country table and the client's (from the `celes` crate) name the same codes: a
/// code one accepts and the other refuses would be a row the client lets through and the API
/// refuses, or the reverse. The one known difference: XK (Kosovo) is a user-assigned code, not
/// an ISO 3166-1 assignment; the client accepts it and the sandbox, holding to docs/api.md, does not.
#[test]
fn the_sandbox_and_the_client_know_the_same_countries() {
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            let code = String::from_utf8(vec![a, b]).unwrap();
            let client = check(Field::Country, &code, &Rules::default()).is_ok();
            let sandbox = validate::COUNTRIES.split_whitespace().any(|c| c == code);
            assert_eq!(client, sandbox || code == "XK", "{code}");
        }
    }
}
