//! The benchmark server: the least a CloudCockpit stand-in can do, so that a benchmark measures
//! the client and not the server. HTTP/1.1 on loopback, no token check, no validation:
//! - `PATCH /v1/Customers/{id}/account-info` → `202 Accepted`, empty body;
//! - `GET /v1/Customers/{id}` → `200` with a fixed customer object (its `id` is the one asked for);
//! - `GET /stats` → `{"patch":N,"get":N,"first_s":T,"last_s":T,"refused":N}`: calls counted since
//!   start or the last reset, and when the first and last of them arrived (seconds since the server
//!   started), so a script can compute the achieved rate from what the server saw;
//! - `POST /reset` zeroes the counters (and fills the throttle's bucket).
//!
//! With a THROTTLE (calls a second), the server is an API with a limit: a token bucket that refills
//! at that rate and holds a second's worth, as an API counting calls per second would; a call that
//! finds it empty is answered `429` with `Retry-After: 1` and counted as `refused`, not as a PATCH
//! or GET.
//!
//! `cargo run --release --example bench_server -- [PORT] [THREADS] [THROTTLE]` (port 0 picks a free
//! one). It prints `listening on http://127.0.0.1:PORT` on stdout once it accepts connections.
//! Used by `benches/run.sh` and `benches/smoke.sh`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The customer every GET returns, split around its id. Every field differs from what the
/// benchmark rows set, so a merge run PATCHes every row.
const CUSTOMER_HEAD: &str = r#"{"id":""#;
const CUSTOMER_TAIL: &str = r#"","companyName":"Bench Server Customer","taxId":null,"country":"ES","addressLine1":"Calle Mayor 1","addressLine2":null,"city":"Madrid","state":"Madrid","zip":"28001","firstName":"Maria","middleName":null,"lastName":"Garcia","email":"maria@bench.example","phone":"+34 91 000 0000","internalIdentifier":null,"resellerId":null,"providerCustomers":{},"customerAssociations":[]}"#;

/// Counters; times are nanoseconds since `start` plus one (0 means "none yet").
struct Stats {
    start: Instant,
    patch: AtomicU64,
    get: AtomicU64,
    first: AtomicU64,
    last: AtomicU64,
    refused: AtomicU64,
    /// Calls a second allowed, and the bucket: tokens and when they were counted.
    throttle: Option<f64>,
    bucket: Mutex<(f64, Instant)>,
}

impl Stats {
    /// Takes a token from the throttle's bucket; false when it is empty.
    fn admit(&self) -> bool {
        let Some(limit) = self.throttle else {
            return true;
        };
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.0 = (b.0 + limit * (now - b.1).as_secs_f64()).min(limit.max(1.0));
        b.1 = now;
        if b.0 < 1.0 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        b.0 -= 1.0;
        true
    }

    fn seen(&self) {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1;
        let _ = self
            .first
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    fn json(&self) -> String {
        let secs = |a: &AtomicU64| a.load(Ordering::Relaxed).saturating_sub(1) as f64 / 1e9;
        format!(
            r#"{{"patch":{},"get":{},"first_s":{:.6},"last_s":{:.6},"refused":{}}}"#,
            self.patch.load(Ordering::Relaxed),
            self.get.load(Ordering::Relaxed),
            secs(&self.first),
            secs(&self.last),
            self.refused.load(Ordering::Relaxed)
        )
    }

    fn reset(&self) {
        for a in [
            &self.patch,
            &self.get,
            &self.first,
            &self.last,
            &self.refused,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        if let Some(limit) = self.throttle {
            *self.bucket.lock().unwrap_or_else(|e| e.into_inner()) = (limit, Instant::now());
        }
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

async fn handle(
    stats: &Stats,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Read the body to its end so the connection can carry the next request.
    let _ = req.into_body().collect().await;
    let rest = path.strip_prefix("/v1/Customers/");
    if rest.is_some() && !stats.admit() {
        let mut r = reply(StatusCode::TOO_MANY_REQUESTS, Bytes::new());
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return Ok(r);
    }
    let resp = match (&method, rest) {
        (&Method::PATCH, Some(r)) if r.ends_with("/account-info") => {
            stats.patch.fetch_add(1, Ordering::Relaxed);
            stats.seen();
            reply(StatusCode::ACCEPTED, Bytes::new())
        }
        (&Method::GET, Some(id)) if !id.is_empty() && !id.contains('/') => {
            stats.get.fetch_add(1, Ordering::Relaxed);
            stats.seen();
            let body = [CUSTOMER_HEAD, id, CUSTOMER_TAIL].concat();
            let mut r = reply(StatusCode::OK, Bytes::from(body));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            r
        }
        (&Method::GET, None) if path == "/stats" => {
            reply(StatusCode::OK, Bytes::from(stats.json()))
        }
        (&Method::POST, None) if path == "/reset" => {
            stats.reset();
            reply(StatusCode::NO_CONTENT, Bytes::new())
        }
        _ => reply(StatusCode::NOT_FOUND, Bytes::new()),
    };
    Ok(resp)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(0), |a| a.parse())?;
    let threads: usize = match args.next() {
        Some(a) => a.parse()?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let throttle: Option<f64> = args.next().map(|a| a.parse()).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(serve(SocketAddr::from(([127, 0, 0, 1], port)), throttle))
}

async fn serve(addr: SocketAddr, throttle: Option<f64>) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let stats: &'static Stats = Box::leak(Box::new(Stats {
        start: Instant::now(),
        patch: AtomicU64::new(0),
        get: AtomicU64::new(0),
        first: AtomicU64::new(0),
        last: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        throttle,
        bucket: Mutex::new((throttle.unwrap_or(0.0), Instant::now())),
    }));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(stats, req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
