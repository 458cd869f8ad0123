//! A simulated API for the pacer's tests, on the paused clock: each common shape of limit (a
//! token bucket, a fixed window, a sliding window, a limit that changes mid-run), answering 429
//! with a `Retry-After` as gateways do.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::super::{PaceStats, Pacer};

/// The shape of the API's limit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// A token bucket holding a second's worth, `start` of it left when the run starts;
    /// `Retry-After: 1`.
    Bucket { start: f64 },
    /// A fixed window of `limit × secs` calls per `secs` seconds, the run starting `into`
    /// seconds into a window whose share `used` is spent; `Retry-After`: whole seconds to the
    /// window's end.
    Window { secs: f64, into: f64, used: f64 },
    /// At most `limit × secs` calls in any `secs` seconds (a log of them); `Retry-After`: whole
    /// seconds until the oldest leaves.
    Sliding { secs: f64 },
}

/// One simulated run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Case {
    pub name: &'static str,
    pub shape: Shape,
    /// The long-run limit, calls a second.
    pub limit: f64,
    /// The limit is multiplied by this once a third of the rows could have gone.
    pub change: Option<f64>,
    /// The answers say what is left in `X-RateLimit-*` and `RateLimit` headers, as the sandbox
    /// does (whole seconds, rounded up).
    pub headers: bool,
}

impl Case {
    /// A case of `shape` at `limit` calls a second: the limit constant, no headers.
    pub fn new(name: &'static str, shape: Shape, limit: f64) -> Case {
        Case {
            name,
            shape,
            limit,
            change: None,
            headers: false,
        }
    }

    pub fn rows(&self) -> u64 {
        (self.limit * 20.0).round() as u64
    }

    /// When the limit changes, after the start.
    fn change_at(&self) -> f64 {
        self.rows() as f64 / 3.0 / self.limit
    }

    /// The fastest any client could go: rows ÷ the long-run limit (by parts when it changes),
    /// plus the wait for the first window's renewal when the run starts on a spent one.
    pub fn ideal(&self) -> f64 {
        let rows = self.rows() as f64;
        let mut t = match self.change {
            None => rows / self.limit,
            Some(f) => rows / 3.0 / self.limit + rows * 2.0 / 3.0 / (self.limit * f),
        };
        if let Shape::Window { secs, into, used } = self.shape
            && used >= 1.0
        {
            t += secs - into;
        }
        t
    }

    /// The limit at the end of the run: what the summary should report.
    pub fn final_limit(&self) -> f64 {
        self.limit * self.change.unwrap_or(1.0)
    }
}

/// What an answer says.
pub(crate) struct Answer {
    pub ok: bool,
    pub retry_after: Duration,
    pub headers: reqwest::header::HeaderMap,
}

struct State {
    limit: f64,
    tokens: f64,
    last: Instant,
    /// Index and count of the current fixed window.
    window: (i64, u64),
    log: VecDeque<Instant>,
}

/// The simulated API.
pub(crate) struct Server {
    case: Case,
    start: Instant,
    state: Mutex<State>,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
}

impl Server {
    pub fn new(case: Case) -> Arc<Server> {
        let now = Instant::now();
        let tokens = match case.shape {
            Shape::Bucket { start } => case.limit * start,
            _ => 0.0,
        };
        let window = match case.shape {
            Shape::Window { secs, into, used } => (
                (into / secs).floor() as i64,
                (case.limit * secs * used) as u64,
            ),
            _ => (0, 0),
        };
        Arc::new(Server {
            case,
            start: now,
            state: Mutex::new(State {
                limit: case.limit,
                tokens,
                last: now,
                window,
                log: VecDeque::new(),
            }),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// A call arriving now.
    pub fn admit(&self) -> Answer {
        let now = Instant::now();
        let since = (now - self.start).as_secs_f64();
        let mut s = self.state.lock().unwrap();
        if let Some(f) = self.case.change
            && since >= self.case.change_at()
        {
            s.limit = self.case.limit * f;
        }
        let limit = s.limit;
        // `left`: what is left, seconds to the reset, the limit and its window.
        let (ok, retry_after, left) = match self.case.shape {
            Shape::Bucket { .. } => {
                s.tokens = (s.tokens + limit * (now - s.last).as_secs_f64()).min(limit.max(1.0));
                s.last = now;
                let ok = s.tokens >= 1.0;
                if ok {
                    s.tokens -= 1.0;
                }
                let size = limit.max(1.0);
                let left = (
                    s.tokens.floor() as u64,
                    (size - s.tokens) / limit,
                    size as u64,
                    1.0,
                );
                (ok, Duration::from_secs(1), left)
            }
            Shape::Window { secs, into, .. } => {
                let at = since + into;
                let index = (at / secs).floor() as i64;
                if index != s.window.0 {
                    s.window = (index, 0);
                }
                let n = (limit * secs).round() as u64;
                let ok = s.window.1 < n;
                if ok {
                    s.window.1 += 1;
                }
                let end = (index + 1) as f64 * secs - at;
                let left = (n - s.window.1, end, n, secs);
                (ok, Duration::from_secs(end.ceil() as u64), left)
            }
            Shape::Sliding { secs } => {
                let span = Duration::from_secs_f64(secs);
                while s.log.front().is_some_and(|&t| now - t >= span) {
                    s.log.pop_front();
                }
                let n = (limit * secs).round() as usize;
                let ok = s.log.len() < n;
                if ok {
                    s.log.push_back(now);
                }
                let wait = s.log.front().map_or(Duration::ZERO, |&t| (t + span) - now);
                let left = ((n - s.log.len()) as u64, wait.as_secs_f64(), n as u64, secs);
                (
                    ok,
                    Duration::from_secs(wait.as_secs_f64().ceil() as u64),
                    left,
                )
            }
        };
        let counter = if ok { &self.accepted } else { &self.refused };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut headers = reqwest::header::HeaderMap::new();
        if self.case.headers {
            announce(&mut headers, left);
        }
        Answer {
            ok,
            retry_after,
            headers,
        }
    }
}

/// The headers the sandbox sends: both families, whole seconds rounded up.
fn announce(h: &mut reqwest::header::HeaderMap, (left, reset, limit, secs): (u64, f64, u64, f64)) {
    let reset = reset.ceil() as u64;
    let secs = secs.ceil() as u64;
    for (k, v) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", left.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("ratelimit-policy", format!("\"sim\";q={limit};w={secs}")),
        ("ratelimit", format!("\"sim\";r={left};t={reset}")),
    ] {
        h.insert(k, reqwest::header::HeaderValue::from_str(&v).unwrap());
    }
}

/// An API [`run`]'s loop calls: [`Server`], or the plain token bucket of the tests beside.
pub(crate) trait Api: Send + Sync + 'static {
    /// Answers one call now.
    fn admit(&self) -> Answer;
    /// How many calls it refused so far.
    fn refused(&self) -> u64;
}

impl Api for Server {
    fn admit(&self) -> Answer {
        Server::admit(self)
    }

    fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// What a simulated run came to.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub took: f64,
    pub refused: u64,
    pub stats: PaceStats,
}

/// `rows` rows on `workers` workers, each call answered after `latency`: the dispatcher's loop
/// (a 429 pauses every call for its Retry-After; the row is sent again after it).
pub(crate) async fn run<A: Api>(
    p: &Arc<Pacer>,
    server: &Arc<A>,
    workers: usize,
    latency: Duration,
    rows: u64,
) -> Outcome {
    run_varied(p, server, workers, move |_| latency, rows).await
}

/// Latencies from half to one and a half times `mean`, varying from call to call (the same
/// each run), so that answers overtake each other as they do over several connections.
pub(crate) fn jittered(mean: Duration) -> impl Fn(u64) -> Duration + Clone + Send + 'static {
    move |call| {
        // A multiplicative hash of the call's number: spread evenly, no randomness to seed.
        let spread = (call.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
        mean.mul_f64(0.5 + spread)
    }
}

/// [`run`] with the `n`th call answered after `latency(n)`.
pub(crate) async fn run_varied<A: Api, L>(
    p: &Arc<Pacer>,
    server: &Arc<A>,
    workers: usize,
    latency: L,
    rows: u64,
) -> Outcome
where
    L: Fn(u64) -> Duration + Clone + Send + 'static,
{
    let t = Instant::now();
    let left = Arc::new(AtomicU64::new(rows));
    let numbered = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (p, server, left) = (p.clone(), server.clone(), left.clone());
            let (numbered, latency) = (numbered.clone(), latency.clone());
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let mut attempt = 0;
                    loop {
                        if !p.is_open() {
                            p.wait().await;
                        }
                        let sent = p.sent(attempt > 0);
                        attempt += 1;
                        let answer = server.admit();
                        let n = numbered.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(latency(n)).await;
                        p.announced(sent, &answer.headers);
                        if answer.ok {
                            p.answered(sent, Some(202));
                            break;
                        }
                        p.answered(sent, Some(429));
                        p.throttled(sent, answer.retry_after);
                        tokio::time::sleep(answer.retry_after).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Outcome {
        took: t.elapsed().as_secs_f64(),
        refused: server.refused(),
        stats: p.stats(),
    }
}

/// Every shape and start of issue 24, at `limit` calls a second.
pub(crate) fn cases(limit: f64) -> Vec<Case> {
    let case = |name, shape| Case::new(name, shape, limit);
    vec![
        case("bucket, full", Shape::Bucket { start: 1.0 }),
        case("bucket, empty", Shape::Bucket { start: 0.0 }),
        case("bucket, 10 % left", Shape::Bucket { start: 0.1 }),
        case(
            "fixed window 5 s, run starts mid-window on a spent one",
            Shape::Window {
                secs: 5.0,
                into: 2.5,
                used: 1.0,
            },
        ),
        case(
            "fixed window 5 s, run starts mid-window half used",
            Shape::Window {
                secs: 5.0,
                into: 2.5,
                used: 0.5,
            },
        ),
        case("sliding window 3 s", Shape::Sliding { secs: 3.0 }),
        Case {
            change: Some(0.5),
            ..case("bucket, limit halves mid-run", Shape::Bucket { start: 1.0 })
        },
        Case {
            change: Some(2.0),
            ..case(
                "bucket, limit doubles mid-run",
                Shape::Bucket { start: 1.0 },
            )
        },
    ]
}

/// The shapes of [`cases`] announcing what is left in headers.
pub(crate) fn announced(limit: f64) -> Vec<Case> {
    cases(limit)
        .into_iter()
        .filter(|c| c.change.is_none())
        .map(|c| Case { headers: true, ..c })
        .collect()
}

/// Windows of one second, as the sandbox's `--throttle N/s --throttle-kind window|sliding` and
/// Kong's per-second windows count: a whole-second `Retry-After` is then a whole window.
pub(crate) fn one_second(limit: f64) -> Vec<Case> {
    let case = |name, shape| Case::new(name, shape, limit);
    vec![
        case(
            "fixed window 1 s",
            Shape::Window {
                secs: 1.0,
                into: 0.0,
                used: 0.0,
            },
        ),
        case("sliding window 1 s", Shape::Sliding { secs: 1.0 }),
    ]
}
