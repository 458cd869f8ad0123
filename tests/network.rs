//! How ccbulk reaches servers, through the real binary: proxies (a CONNECT tunnel through an
//! http:// or https:// proxy, socks5, forwarded plain-http requests, NO_PROXY, loopback never
//! proxied), TLS against a local rustls server. Every server here is on loopback: the proxies
//! take any host name for 127.0.0.1, a made-up name reached directly is pinned to 127.0.0.1
//! (`CCBULK_TEST_RESOLVE`, debug builds only), and no test asks the machine's DNS server anything.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use ccbulk::sandbox::SandboxConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::common::*;

/// What a test proxy saw: the head of each CONNECT or forwarded request, or for socks5 the
/// user and the destination.
type Seen = Arc<Mutex<Vec<String>>>;

/// A self-signed certificate for `localhost` and the made-up names the tests give servers, and
/// a TLS acceptor serving it. Returns the certificate as PEM (for `SSL_CERT_FILE`) too.
fn tls() -> (tokio_rustls::TlsAcceptor, String) {
    let names = [
        "localhost",
        "api.example.test",
        "login.example.test",
        "api.cloudcockpit.invalid",
    ];
    let cert = rcgen::generate_simple_self_signed(names.map(String::from).to_vec()).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("server config");
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert.cert.pem(),
    )
}

/// A loopback listener whose connections, TLS-wrapped when `tls` is given, go to `serve`.
async fn listen<F, Fut>(tls: Option<tokio_rustls::TlsAcceptor>, serve: F) -> SocketAddr
where
    F: Fn(Box<dyn Stream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tls, serve) = (tls.clone(), serve.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            serve(Box::new(s)).await;
                        }
                    }
                    None => serve(Box::new(tcp)).await,
                }
            });
        }
    });
    addr
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// TLS in front of a plain-http server on loopback `port`: an https:// API made of the sandbox.
async fn tls_front(port: u16, acceptor: tokio_rustls::TlsAcceptor) -> u16 {
    let addr = listen(Some(acceptor), move |mut client| async move {
        if let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    })
    .await;
    addr.port()
}

/// An HTTP proxy on loopback (an https:// one when `tls` is given) that takes every host for
/// 127.0.0.1: a CONNECT opens a tunnel to that port, any other request is forwarded as it came
/// (with the rest of its connection). Keeps the head of each.
async fn http_proxy(tls: Option<tokio_rustls::TlsAcceptor>) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let kept = seen.clone();
    let addr = listen(tls, move |mut client| {
        let kept = kept.clone();
        async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if client.read_exact(&mut byte).await.is_err() {
                    return;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            kept.lock().expect("lock").push(head.clone());
            let target = head.split_whitespace().nth(1).unwrap_or_default();
            let connect = head.starts_with("CONNECT ");
            // `host:port` of a CONNECT, or `http://host:port/path` of a forwarded request.
            let authority = target.trim_start_matches("http://").split('/').next();
            let port = authority
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            let Some(port) = port else { return };
            let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            let sent = if connect {
                let ok = b"HTTP/1.1 200 Connection Established\r\n\r\n";
                client.write_all(ok).await
            } else {
                upstream.write_all(head.as_bytes()).await
            };
            if sent.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        }
    })
    .await;
    (addr, seen)
}

/// A socks5 proxy on loopback asking for a user name and password (RFC 1929) and taking every
/// host for 127.0.0.1. Keeps "user destination" for each connection.
async fn socks5_proxy() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let kept = seen.clone();
    let addr = listen(None, move |mut c| {
        let kept = kept.clone();
        async move {
            let Some(seen) = socks5_handshake(&mut c).await else {
                return;
            };
            let port = seen.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
            kept.lock().expect("lock").push(seen);
            let Some(port) = port else { return };
            let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            if c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut c, &mut upstream).await;
            }
        }
    })
    .await;
    (addr, seen)
}

/// The client's side of a socks5 handshake up to its CONNECT: "user host:port".
async fn socks5_handshake(c: &mut Box<dyn Stream>) -> Option<String> {
    async fn bytes(c: &mut Box<dyn Stream>, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        c.read_exact(&mut buf).await.ok()?;
        Some(buf)
    }
    let hello = bytes(c, 2).await?;
    let methods = bytes(c, usize::from(hello[1])).await?;
    // 2: user name and password; anything else is refused.
    if !methods.contains(&2) {
        let _ = c.write_all(&[5, 0xff]).await;
        return None;
    }
    c.write_all(&[5, 2]).await.ok()?;
    let version_and_len = bytes(c, 2).await?;
    let user = bytes(c, usize::from(version_and_len[1])).await?;
    let pass_len = bytes(c, 1).await?;
    bytes(c, usize::from(pass_len[0])).await?;
    c.write_all(&[1, 0]).await.ok()?;
    let request = bytes(c, 4).await?;
    let host = match request[3] {
        3 => {
            let len = bytes(c, 1).await?;
            String::from_utf8_lossy(&bytes(c, usize::from(len[0])).await?).into_owned()
        }
        1 => {
            let ip = bytes(c, 4).await?;
            format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
        }
        _ => return None,
    };
    let port = bytes(c, 2).await?;
    let port = u16::from_be_bytes([port[0], port[1]]);
    Some(format!("{} {host}:{port}", String::from_utf8_lossy(&user)))
}

/// base64("ccbulk-user:proxy-pass"), as a proxy gets it in `Proxy-Authorization: Basic`.
const PROXY_AUTH: &str = "Basic Y2NidWxrLXVzZXI6cHJveHktcGFzcw==";

/// A sandbox reached as `https://api.example.test:PORT` through TLS in front of it, and the
/// certificate file that makes it trusted.
struct HttpsApi {
    sb: ccbulk::sandbox::Sandbox,
    port: u16,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl HttpsApi {
    async fn start(work: &Work, config: SandboxConfig) -> HttpsApi {
        let sb = sandbox(config).await;
        let (acceptor, pem) = tls();
        work.write("ca.pem", &pem);
        let port = tls_front(port_of(&sb), acceptor.clone()).await;
        HttpsApi { sb, port, acceptor }
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    /// A replace update of `in.csv` against the API by that name, trusting the certificate.
    fn update(&self, work: &Work, extra: &[&str]) -> Command {
        let mut cmd = work.replace_update(&self.sb, extra);
        cmd.env("CLOUDCOCKPIT_BASE_URL", self.url("api.example.test"))
            .env("SSL_CERT_FILE", work.path("ca.pem"))
            .env_remove("SSL_CERT_DIR");
        cmd
    }
}

/// The loopback port the sandbox listens on: a proxied URL names another host on it.
fn port_of(sb: &ccbulk::sandbox::Sandbox) -> u16 {
    sb.base_url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// `cmd` run with the proxy `url` in the variable `var`, logging everything, then
/// [`all_accepted`] for its `n` rows.
async fn through_proxy(work: &Work, mut cmd: Command, var: &str, url: &str, n: u64) {
    cmd.env(var, url).env("RUST_LOG", "trace");
    all_accepted(work, &run(cmd).await, n);
}

/// Every row accepted, each once, and nothing of the proxy's password or the API's token in
/// what ccbulk printed (the tests that call this log everything: `RUST_LOG=trace`).
fn all_accepted(work: &Work, out: &std::process::Output, n: u64) {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    let rows = work.rows("in.results.csv");
    assert_each_row_once(&rows, n);
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    let shown = show(out);
    for secret in ["proxy-pass", &PROXY_AUTH[6..], TOKEN] {
        assert!(!shown.contains(secret), "{secret}: {shown}");
    }
}

/// An https API through `HTTPS_PROXY=http://…`: one CONNECT tunnel per connection with the
/// proxy's credentials, TLS end to end inside it.
#[tokio::test(flavor = "multi_thread")]
async fn calls_go_through_an_http_proxy_in_a_connect_tunnel() {
    let work = Work::new();
    let api = HttpsApi::start(&work, SandboxConfig::default()).await;
    let (proxy, seen) = http_proxy(None).await;
    work.write("in.csv", &full_csv((1..=8).map(full_row)));
    let cmd = api.update(&work, &["--concurrency", "2"]);
    let proxy_url = format!("http://ccbulk-user:proxy-pass@{proxy}");
    through_proxy(&work, cmd, "HTTPS_PROXY", &proxy_url, 8).await;
    assert_eq!(patches(&api.sb).len(), 8);
    let heads = seen.lock().expect("lock").clone();
    // One tunnel per connection: the pool reuses them (a connection may open while another
    // frees up, so there can be more than the two workers).
    assert!(
        !heads.is_empty() && heads.len() < 8,
        "connections were reused: {heads:?}"
    );
    for head in &heads {
        let connect = format!("CONNECT api.example.test:{} HTTP/1.1\r\n", api.port);
        assert!(head.starts_with(&connect), "{head}");
        assert!(head.contains(PROXY_AUTH), "{head}");
    }
}

/// An https:// proxy: TLS to the proxy, and the tunnel to the API inside it.
#[tokio::test(flavor = "multi_thread")]
async fn calls_go_through_an_https_proxy() {
    let work = Work::new();
    let api = HttpsApi::start(&work, SandboxConfig::default()).await;
    let (proxy, seen) = http_proxy(Some(api.acceptor.clone())).await;
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let cmd = api.update(&work, &["--concurrency", "1"]);
    let proxy_url = format!("https://ccbulk-user:proxy-pass@localhost:{}", proxy.port());
    through_proxy(&work, cmd, "HTTPS_PROXY", &proxy_url, 3).await;
    let heads = seen.lock().expect("lock").clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let connect = format!("CONNECT api.example.test:{} HTTP/1.1\r\n", api.port);
    assert!(heads[0].starts_with(&connect), "{heads:?}");
    assert!(heads[0].contains(PROXY_AUTH), "{heads:?}");
}

/// A socks5 proxy with a user name and password; the proxy resolves the name (`socks5h`).
#[tokio::test(flavor = "multi_thread")]
async fn calls_go_through_a_socks5_proxy() {
    let work = Work::new();
    let api = HttpsApi::start(&work, SandboxConfig::default()).await;
    let (proxy, seen) = socks5_proxy().await;
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let cmd = api.update(&work, &["--concurrency", "1"]);
    let proxy_url = format!("socks5h://ccbulk-user:proxy-pass@{proxy}");
    through_proxy(&work, cmd, "ALL_PROXY", &proxy_url, 3).await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [format!("ccbulk-user api.example.test:{}", api.port)],
        "one connection, named by its host"
    );
}

/// An http:// API through `HTTP_PROXY`: each request is forwarded by the proxy (no tunnel for
/// plain http), with the proxy's credentials.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_calls_are_forwarded_by_http_proxy() {
    let sb = sandbox(SandboxConfig::default()).await;
    let (proxy, seen) = http_proxy(None).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let mut cmd = work.replace_update(&sb, &["--concurrency", "1"]);
    let api = format!("http://api.example.test:{}", port_of(&sb));
    cmd.env("CLOUDCOCKPIT_BASE_URL", &api);
    let proxy_url = format!("http://ccbulk-user:proxy-pass@{proxy}");
    through_proxy(&work, cmd, "HTTP_PROXY", &proxy_url, 3).await;
    assert_eq!(patches(&sb).len(), 3);
    let heads = seen.lock().expect("lock").clone();
    assert!(!heads.is_empty(), "the proxy saw the calls");
    assert!(
        heads[0].starts_with(&format!("PATCH {api}/v1/Customers/"))
            && heads[0].contains(PROXY_AUTH),
        "{heads:?}"
    );
}

/// The token request is set up in the same place as API calls: with client credentials and a
/// token endpoint that is not on loopback, it goes through the same proxy, in a CONNECT tunnel
/// with the proxy's credentials, and the token it brings back works.
#[tokio::test(flavor = "multi_thread")]
async fn the_token_request_goes_through_the_same_proxy_as_the_calls() {
    let work = Work::new();
    let config = SandboxConfig::default();
    let api = HttpsApi::start(&work, config.clone()).await;
    let (proxy, seen) = http_proxy(None).await;
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let token_url = format!("{}/oauth2/v2.0/token", api.url("login.example.test"));
    let mut cmd = api.update(&work, &["--concurrency", "1", "--token-url", &token_url]);
    cmd.env_remove("CLOUDCOCKPIT_TOKEN")
        .env("CLOUDCOCKPIT_CLIENT_ID", &config.client_id)
        .env("CLOUDCOCKPIT_CLIENT_SECRET", &config.client_secret)
        .env(
            "HTTPS_PROXY",
            format!("http://ccbulk-user:proxy-pass@{proxy}"),
        );
    cmd.env("RUST_LOG", "trace");
    let out = run(cmd).await;
    all_accepted(&work, &out, 3);
    assert!(!show(&out).contains(&config.client_secret));
    assert_eq!(api.sb.tokens_issued(), 1);
    let heads = seen.lock().expect("lock").clone();
    let to = |host: &str| {
        let connect = format!("CONNECT {host}:{} HTTP/1.1\r\n", api.port);
        heads
            .iter()
            .filter(|h| h.starts_with(&connect) && h.contains(PROXY_AUTH))
            .count()
    };
    assert_eq!(to("login.example.test"), 1, "{heads:?}");
    assert_eq!(to("api.example.test"), 1, "{heads:?}");
}

/// A proxy variable naming something that is not a usable proxy stops the run while setting
/// up, with nothing sent, naming the variable and the proxy without its credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_cannot_be_used_stops_the_run_before_anything_is_sent() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=2).map(full_row)));
    let mut cmd = work.replace_update(&sb, &[]);
    cmd.env("CLOUDCOCKPIT_BASE_URL", "https://api.example.test")
        .env("HTTPS_PROXY", "ftp://someone:proxy-pass@127.0.0.1:9");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTPS_PROXY \"ftp://***@127.0.0.1:9\" is not a proxy ccbulk can use"),
        "{stderr}"
    );
    assert!(!show(&out).contains("proxy-pass"), "{}", show(&out));
    assert!(sb.requests().is_empty());
}

/// A host listed in NO_PROXY is reached directly, the same host without it through the proxy.
/// The made-up name is pinned to 127.0.0.1 by the debug build's `CCBULK_TEST_RESOLVE` (in both
/// runs, so NO_PROXY is the only difference): reached directly, it is never looked up in the
/// machine's DNS, and the calls land on the loopback TLS server, not the proxy. Release builds
/// never read that variable: under `cargo test --release` the name would go to the machine's DNS.
#[cfg(debug_assertions)]
#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_hosts_are_reached_directly() {
    let work = Work::new();
    let api = HttpsApi::start(&work, SandboxConfig::default()).await;
    let (proxy, seen) = http_proxy(None).await;
    work.write("in.csv", &full_csv((1..=2).map(full_row)));
    let update = |no_proxy: Option<&str>| {
        let mut cmd = api.update(&work, &["--max-attempts", "1", "--overwrite"]);
        cmd.env("CLOUDCOCKPIT_BASE_URL", api.url("api.cloudcockpit.invalid"))
            .env("CCBULK_TEST_RESOLVE", "api.cloudcockpit.invalid")
            .env("HTTPS_PROXY", format!("http://{proxy}"));
        if let Some(list) = no_proxy {
            cmd.env("NO_PROXY", list);
        }
        cmd
    };
    let out = run(update(None)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let tunnels = seen.lock().expect("lock").len();
    assert!(tunnels >= 1, "through the proxy");
    assert_eq!(patches(&api.sb).len(), 2);

    let out = run(update(Some("other.example, .invalid"))).await;
    all_accepted(&work, &out, 2);
    assert_eq!(
        seen.lock().expect("lock").len(),
        tunnels,
        "the proxy saw nothing more"
    );
    assert_eq!(patches(&api.sb).len(), 4, "both runs reached the API");
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_never_proxied() {
    let sb = sandbox(SandboxConfig::default()).await;
    let (proxy, seen) = http_proxy(None).await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    for base in [
        sb.base_url(),
        format!("http://localhost:{}", port_of(&sb)),
        format!("http://[::1]:{}", port_of(&sb)),
    ] {
        let mut cmd = work.replace_update(&sb, &["--overwrite", "--max-attempts", "1"]);
        cmd.env("CLOUDCOCKPIT_BASE_URL", &base)
            .env("HTTP_PROXY", format!("http://{proxy}"))
            .env("ALL_PROXY", format!("http://{proxy}"));
        let out = run(cmd).await;
        // The sandbox listens on 127.0.0.1 only: [::1] is refused, directly.
        let expected = if base.contains("[::1]") { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{base}: {}", show(&out));
    }
    assert_eq!(patches(&sb).len(), 6);
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the sandbox went through the proxy"
    );
}

/// The README's first command, with proxy variables set: the built-in sandbox (its token
/// endpoint and its API, both on loopback) never goes through the proxy.
#[tokio::test(flavor = "multi_thread")]
async fn the_built_in_sandbox_runs_the_sample_without_the_proxy() {
    let (proxy, seen) = http_proxy(None).await;
    let work = Work::new();
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/customers.csv"
    ))
    .expect("the sample");
    work.write("customers.csv", &sample);
    let mut cmd = work.ccbulk();
    // README's first command, unpaced: its default 10/s would make this test 3 s of waiting.
    cmd.args(["update", "customers.csv", "--sandbox", "--overwrite"])
        .args(["--rate", "unlimited"])
        .env("HTTP_PROXY", format!("http://{proxy}"))
        .env("HTTPS_PROXY", format!("http://{proxy}"))
        .env("ALL_PROXY", format!("http://{proxy}"));
    let out = run(cmd).await;
    // The sample has a few invalid rows on purpose: exit 1, every other row done.
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("customers.results.csv");
    assert_each_row_once(&rows, 30);
    assert!(rows.iter().any(|r| r["ccbulk_outcome"] == "accepted"));
    assert!(
        !rows.iter().any(|r| r["ccbulk_outcome"] == "failed"),
        "{rows:?}"
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the sandbox went through the proxy"
    );
}

/// The HTTPS path end to end: with the server's certificate trusted (SSL_CERT_FILE, which the
/// platform verifier reads on Linux) every row goes through TLS; without it, nothing is sent
/// (the certificate is checked) and the rows fail naming the TLS handshake.
#[tokio::test(flavor = "multi_thread")]
async fn https_checks_the_certificate_and_sends_through_tls() {
    let work = Work::new();
    let api = HttpsApi::start(&work, SandboxConfig::default()).await;
    work.write("in.csv", &full_csv((1..=3).map(full_row)));
    let update = |results: &str, trusted: bool| {
        let mut cmd = api.update(&work, &["--max-attempts", "1", "--results", results]);
        cmd.env("CLOUDCOCKPIT_BASE_URL", api.url("localhost"));
        if !trusted {
            cmd.env_remove("SSL_CERT_FILE");
        }
        cmd
    };

    let out = run(update("trusted.csv", true)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let rows = work.rows("trusted.csv");
    assert_each_row_once(&rows, 3);
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"));
    assert_eq!(patches(&api.sb).len(), 3);

    let out = run(update("untrusted.csv", false)).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let rows = work.rows("untrusted.csv");
    assert_each_row_once(&rows, 3);
    for r in &rows {
        assert_eq!(r["ccbulk_outcome"], "failed");
        assert!(
            r["ccbulk_error"].starts_with("TLS handshake failed ("),
            "{r:?}"
        );
    }
    assert_eq!(patches(&api.sb).len(), 3, "nothing more was sent");
}

/// An update of 60 rows against `base`, logged with `-v`, two attempts a call.
async fn unreachable_run(base: &str) -> (Work, std::process::Output) {
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=60).map(full_row)));
    let mut cmd = work.against_url(base);
    cmd.args(REPLACE_UNLIMITED)
        .args(["--max-attempts", "2", "--concurrency", "4", "-v"]);
    let out = run(cmd).await;
    (work, out)
}

/// An API that cannot be reached stops the run after the first 20 rows (exit 3), the cause
/// named in each row's error, in the stop message and in the `-v` log; the rows after them are
/// left for `--resume`.
async fn stops_naming(base: &str, cause: &str) {
    let (work, out) = unreachable_run(base).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let rows = work.rows("in.results.csv");
    assert!(
        (20..60).contains(&rows.len()),
        "stopped after the first 20 rows (and the ones already under way): {} rows",
        rows.len()
    );
    for r in &rows {
        assert_eq!(r["ccbulk_outcome"], "failed", "{r:?}");
        assert_eq!(
            r["ccbulk_error"],
            format!("{cause} (gave up after 2 attempts)"),
            "{r:?}"
        );
    }
    let stderr = stderr_of(&out);
    let stop =
        format!("the first 20 rows all failed to reach the API at {base} the same way: {cause}");
    assert!(stderr.contains(&stop), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("row finished") && l.contains(cause)),
        "-v names the cause: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_stops_the_run_after_20_rows_naming_it() {
    // Port 1 on loopback: nothing listens there.
    stops_naming("http://127.0.0.1:1", "connection refused").await;
}

/// https:// to a server that speaks plain http (the sandbox): the handshake gets a plain-text
/// answer, and the error says so.
#[tokio::test(flavor = "multi_thread")]
async fn tls_to_a_plain_http_server_stops_the_run_after_20_rows_naming_it() {
    let sb = sandbox(SandboxConfig::default()).await;
    let base = format!("https://127.0.0.1:{}", port_of(&sb));
    stops_naming(
        &base,
        "TLS handshake failed: the server answered in plain text (it may speak plain http)",
    )
    .await;
    assert!(sb.requests().is_empty());
}

/// A host name that does not resolve. Its first label is over 63 characters, so the system
/// resolver refuses it without sending a query: a plain `.invalid` name (RFC 2606) would be
/// asked of the machine's DNS server, traffic beyond loopback.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_does_not_resolve_stops_the_run_after_20_rows_naming_it() {
    let host = format!("http://{}.invalid", "a".repeat(64));
    stops_naming(&host, "name not resolved").await;
}
