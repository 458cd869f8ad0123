//! One connection layer for every command: update and export reach the API and the token
//! endpoint through the same setup, so a stop for want of a token reads the same in both.

use ccbulk::sandbox::SandboxConfig;

use crate::common::*;

/// The line a run printed about its first token (`ccbulk: …`).
fn token_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("ccbulk: ") && l.contains("token"))
        .unwrap_or_else(|| panic!("no line about the token in:\n{stderr}"))
        .to_string()
}

/// `update in.csv` and `export` with `cfg`'s client credentials exchanged at `token_url`: each
/// must stop (exit 3) before anything is sent; the line each printed about its token.
async fn both_stop(
    work: &Work,
    sb: &ccbulk::sandbox::Sandbox,
    cfg: &SandboxConfig,
    token_url: &str,
) -> [String; 2] {
    work.write("in.csv", &city_csv([(guid(1), "Porto")]));
    let mut lines = Vec::new();
    for args in [&["update", "in.csv"][..], &["export"][..]] {
        let mut cmd = work.against_as_client(sb, cfg);
        cmd.args(args)
            .args(["--token-url", token_url, "--max-attempts", "2"]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", show(&out));
        lines.push(token_line(&stderr_of(&out)));
    }
    assert!(
        sb.requests().iter().all(|r| r.path.starts_with("/oauth2/")),
        "nothing but token requests"
    );
    assert!(!work.path("in.results.csv").exists() && !work.path("customers.csv").exists());
    [lines.remove(0), lines.remove(0)]
}

/// A token endpoint nobody listens at: update and export say the same, naming the URL and the
/// network (not the credentials, which may well be right).
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_token_endpoint_reads_the_same_in_update_and_export() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", closed.local_addr().unwrap());
    drop(closed);
    let cfg = SandboxConfig::default();
    let sb = sandbox(cfg.clone()).await;
    let work = Work::new();
    let [update, export] = both_stop(&work, &sb, &cfg, &url).await;
    assert_eq!(update, export);
    assert!(
        update.starts_with(&format!(
            "ccbulk: cannot get a token: the token endpoint {url}"
        )) && update.ends_with(
            "; check --token-url and the network (and proxy variables); nothing was sent"
        ) && !update.contains("CLOUDCOCKPIT_CLIENT_SECRET"),
        "{update}"
    );
}

/// Credentials the token endpoint refuses: update and export say the same, naming what to check
/// and never the secret.
#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_read_the_same_in_update_and_export() {
    let cfg = SandboxConfig::default();
    let sb = sandbox(cfg.clone()).await;
    let wrong = SandboxConfig {
        client_secret: "wrong-secret-Qm52".to_string(),
        ..cfg
    };
    let work = Work::new();
    let [update, export] = both_stop(&work, &sb, &wrong, &sb.token_url()).await;
    assert_eq!(update, export);
    assert!(
        update.starts_with("ccbulk: authentication failed: ")
            && update.contains("check CLOUDCOCKPIT_CLIENT_ID, CLOUDCOCKPIT_CLIENT_SECRET")
            && update.ends_with("; nothing was sent")
            && !update.contains("wrong-secret-Qm52"),
        "{update}"
    );
}
