//! The kept sandbox tenant: `--sandbox` runs (update, replay, plan, export) and `ccbulk sandbox`
//! share one simulated tenant, kept between runs in a file under the user's state directory
//! (each test has its own: `Work` points XDG_STATE_HOME at a temporary folder), so an update
//! shows in the next plan and export, and its undo puts the old values back.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// `args` with `--sandbox`, unpaced (the default 10/s would only make the test wait).
fn on_sandbox(work: &Work, args: &[&str]) -> Command {
    let mut cmd = work.ccbulk();
    cmd.args(args).args(["--sandbox", "--rate", "unlimited"]);
    cmd
}

/// Runs `args` on the sandbox; exit 0 expected. Its stderr.
async fn ok(work: &Work, args: &[&str]) -> String {
    let out = run(on_sandbox(work, args)).await;
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
    stderr_of(&out)
}

/// The outcome of each row of a results or plan file, by customer id.
fn outcomes(work: &Work, name: &str) -> HashMap<String, String> {
    work.rows(name)
        .into_iter()
        .map(|r| (r["customerId"].clone(), r["ccbulk_outcome"].clone()))
        .collect()
}

fn all(outcomes: &HashMap<String, String>, expected: &str) -> bool {
    !outcomes.is_empty() && outcomes.values().all(|o| o == expected)
}

fn state_file(work: &Work) -> std::path::PathBuf {
    work.state.path().join("ccbulk/sandbox-tenant.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn update_plan_export_and_undo_see_one_kept_tenant() {
    let work = Work::new();
    let ids: Vec<_> = (1..=3).map(guid).collect();
    work.write("in.csv", &city_csv(ids.iter().map(|id| (id, "Kept Town"))));

    let stderr = ok(&work, &["plan", "in.csv"]).await;
    assert!(all(&outcomes(&work, "in.plan.csv"), "would-change"));
    let file = state_file(&work);
    assert!(
        stderr.contains(&file.display().to_string())
            && stderr.contains("sandbox.cloudcockpit.local"),
        "the banner names the tenant and its file:\n{stderr}"
    );

    let stderr = ok(&work, &["update", "in.csv"]).await;
    assert!(
        all(&outcomes(&work, "in.results.csv"), "accepted"),
        "{stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("the tenant's file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "customer data: owner-only");
    }

    ok(&work, &["plan", "in.csv", "--overwrite"]).await;
    assert!(
        all(&outcomes(&work, "in.plan.csv"), "unchanged"),
        "after the update, nothing left to change: {:?}",
        outcomes(&work, "in.plan.csv")
    );

    ok(&work, &["export", "--output", "out.csv"]).await;
    let exported = work.rows("out.csv");
    for id in &ids {
        let row = exported
            .iter()
            .find(|r| r["customerId"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} not exported"));
        assert_eq!(row["city"], "Kept Town", "export sees what update wrote");
    }
    assert!(
        exported
            .iter()
            .any(|r| r["internalIdentifier"] == "ERP-000001"),
        "a new kept tenant has made-up customers to export"
    );

    // The undo command, as the update printed it.
    let undo = after(&stderr, "to put the changes back:").trim_end_matches(')');
    let out = run(work.printed(undo)).await;
    assert_eq!(out.status.code(), Some(0), "{undo}: {}", show(&out));
    ok(&work, &["plan", "in.csv", "--overwrite"]).await;
    assert!(
        all(&outcomes(&work, "in.plan.csv"), "would-change"),
        "after the undo, the edits would change the old values again: {:?}",
        outcomes(&work, "in.plan.csv")
    );
}

/// The wait for a `ccbulk sandbox` banner and for a stopped run.
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn the_server_serves_the_kept_tenant_one_user_at_a_time_and_reset_forgets_it() {
    let work = Work::new();
    let id = guid(7);
    work.write("in.csv", &city_csv([(id, "Served City")]));
    ok(&work, &["update", "in.csv"]).await;

    let mut cmd = work.ccbulk();
    cmd.args(["sandbox", "--listen", "127.0.0.1:0"]);
    let server = Running::spawn(cmd);
    server.wait_for_stderr("Ctrl-C to stop.", LIMIT).await;
    let banner = server.stderr();
    assert!(
        banner.contains(&state_file(&work).display().to_string()) && banner.contains("1 changed"),
        "{banner}"
    );
    let url = after(&banner, "serving a simulated CloudCockpit API at")
        .split_whitespace()
        .next()
        .expect("the URL")
        .to_string();

    // What the update wrote is what the server serves.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let token: serde_json::Value = client
        .post(format!("{url}/oauth2/v2.0/token"))
        .form(&[
            ("client_id", "ccbulk-sandbox"),
            ("client_secret", "sandbox-secret"),
            ("grant_type", "client_credentials"),
            ("scope", "api://sandbox/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let customer: serde_json::Value = client
        .get(format!("{url}/v1/Customers/{id}"))
        .bearer_auth(token["access_token"].as_str().expect("access_token"))
        .header("X-Tenant", "sandbox.cloudcockpit.local")
        .header("X-Correlation-Id", uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("customer JSON");
    assert_eq!(customer["city"], "Served City");

    // A second user of the tenant is refused, saying why, and changes nothing.
    let out = run(on_sandbox(&work, &["plan", "in.csv"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr_of(&out).contains("the sandbox tenant is in use"),
        "{}",
        show(&out)
    );
    let out = run({
        let mut c = work.ccbulk();
        c.args(["sandbox", "--reset"]);
        c
    })
    .await;
    assert_ne!(
        out.status.code(),
        Some(0),
        "not reset from under the server"
    );

    server.signal("TERM");
    let (code, _) = server.wait(LIMIT).await;
    assert_eq!(code, Some(0));

    let out = run({
        let mut c = work.ccbulk();
        c.args(["sandbox", "--reset"]);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!state_file(&work).exists());
    ok(&work, &["plan", "in.csv"]).await;
    assert!(
        all(&outcomes(&work, "in.plan.csv"), "would-change"),
        "a reset tenant is made up afresh"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_memory_server_leaves_the_kept_tenant_alone() {
    let work = Work::new();
    let mut cmd = work.ccbulk();
    cmd.args(["sandbox", "--in-memory", "--listen", "127.0.0.1:0"]);
    let server = Running::spawn(cmd);
    server.wait_for_stderr("Ctrl-C to stop.", LIMIT).await;
    assert!(server.stderr().contains("in memory"), "{}", server.stderr());
    // Not locked by the in-memory server: a --sandbox run uses the kept tenant meanwhile.
    work.write("in.csv", &city_csv([(guid(1), "Elsewhere")]));
    ok(&work, &["update", "in.csv"]).await;
    server.signal("TERM");
    let (code, _) = server.wait(LIMIT).await;
    assert_eq!(code, Some(0));
    ok(&work, &["plan", "in.csv", "--overwrite"]).await;
    assert!(all(&outcomes(&work, "in.plan.csv"), "unchanged"));
}
