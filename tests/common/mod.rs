//! Shared helpers for the integration tests: a work directory that holds inputs and results, the
//! real binary pointed at an in-process sandbox on loopback, and a results-file reader.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use ccbulk::sandbox::{Sandbox, SandboxConfig};
use uuid::Uuid;

/// The bearer token the test sandboxes accept without a token request.
pub const TOKEN: &str = "test-static-token-5f1c9a";

/// A temporary directory for one test's files.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write input");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read file")
    }

    /// The rows of a CSV file in the work directory as header → value maps.
    pub fn rows(&self, name: &str) -> Vec<HashMap<String, String>> {
        read_rows(&self.path(name))
    }

    /// The binary, run in the work directory with no CLOUDCOCKPIT_* or proxy variables inherited.
    pub fn ccbulk(&self) -> Command {
        self.clean(Command::new(assert_cmd::cargo::cargo_bin!("ccbulk")))
    }

    /// `script` run by `sh -e` in the work directory, the test binary first on PATH as
    /// `ccbulk`, with the environment [`Work::ccbulk`] gets: for commands a README shows.
    pub fn shell(&self, script: &str) -> Command {
        let bin = std::path::Path::new(assert_cmd::cargo::cargo_bin!("ccbulk"));
        let dir = bin.parent().expect("the binary's folder");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .expect("PATH");
        let mut cmd = self.clean(Command::new("sh"));
        cmd.args(["-e", "-c", script]).env("PATH", path);
        cmd
    }

    /// `cmd` in the work directory with no CLOUDCOCKPIT_* or proxy variables inherited.
    fn clean(&self, mut cmd: Command) -> Command {
        cmd.current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            // Proxy variables too: tests talk to loopback only, and the proxy tests set their own.
            let proxy = k.to_ascii_lowercase().ends_with("_proxy");
            if k.starts_with("CLOUDCOCKPIT_") || k == "RUST_LOG" || proxy {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// The binary against `sandbox` with the static test token, tenant set, and fast retries.
    pub fn against(&self, sandbox: &Sandbox) -> Command {
        let mut cmd = self.ccbulk();
        cmd.env("CLOUDCOCKPIT_TOKEN", TOKEN)
            .env("CLOUDCOCKPIT_TENANT", "portal.reseller.example")
            .env("CLOUDCOCKPIT_BASE_URL", sandbox.base_url())
            .env("CCBULK_BACKOFF_BASE", "50ms");
        cmd
    }
}

/// Reads any CSV (comma-separated) as header → value maps.
pub fn read_rows(path: &std::path::Path) -> Vec<HashMap<String, String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .expect("open csv");
    let headers = rdr.headers().expect("header").clone();
    rdr.records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// How long one run of the binary may take before its test fails: far more than any run here
/// needs, even on a loaded 2-core machine; it only turns a hang into a failure.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Runs a command to completion off the async runtime (the sandbox keeps serving meanwhile),
/// killing it and failing the test after [`RUN_LIMIT`].
pub async fn run(cmd: Command) -> Output {
    run_with_input(cmd, None).await
}

/// [`run`], with `input` written to the command's standard input (closed after it).
pub async fn run_with_input(cmd: Command, input: Option<Vec<u8>>) -> Output {
    tokio::task::spawn_blocking(move || output_within(cmd, input, RUN_LIMIT))
        .await
        .expect("join")
}

/// [`run`] with a limit of its own.
pub async fn run_within(cmd: Command, limit: Duration) -> Output {
    tokio::task::spawn_blocking(move || output_within(cmd, None, limit))
        .await
        .expect("join")
}

/// Runs `cmd` to completion, blocking; kills it and panics (with its stderr) after `limit`.
pub fn output_within(cmd: Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(limit);
    if let Some(input) = input {
        cmd.write_stdin(input);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run ccbulk");
    // assert_cmd kills the process at the limit and hands back what it wrote.
    if out.status.code().is_none() && started.elapsed() >= limit {
        panic!("still running after {limit:?}, killed\n{}", show(&out));
    }
    out
}

/// Waits (blocking) for a spawned child; kills it and panics after [`RUN_LIMIT`].
pub fn wait_within(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {RUN_LIMIT:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Exit code, stdout and stderr in one string, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A sandbox on 127.0.0.1:0 that also accepts [`TOKEN`].
pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    let config = SandboxConfig {
        static_token: Some(TOKEN.to_string()),
        ..config
    };
    Sandbox::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start sandbox")
}

/// A deterministic customer GUID for test number `n`.
pub fn guid(n: u32) -> Uuid {
    Uuid::parse_str(&format!("6a1f0c2e-1b7d-4c3a-9e55-{n:012x}")).expect("guid")
}

/// A full replace-mode row (every required field) for customer `n`.
pub fn full_row(n: u32) -> String {
    format!(
        "{},Company {n} Lda,PT,Rua {n},Lisboa,Lisboa,1000-{n:03},Ana,Silva,ana{n}@fabrikam.pt,+351 21 000 {n:04}",
        guid(n)
    )
}

/// The header that goes with [`full_row`].
pub const FULL_HEADER: &str =
    "customerId,companyName,country,addressLine1,city,state,zip,firstName,lastName,email,phone";

/// Asserts every row number 1..=n appears in the results exactly once.
pub fn assert_each_row_once(rows: &[HashMap<String, String>], n: u64) {
    let mut seen: Vec<u64> = rows
        .iter()
        .map(|r| r["ccbulk_row"].parse().expect("ccbulk_row is a number"))
        .collect();
    seen.sort_unstable();
    let want: Vec<u64> = (1..=n).collect();
    assert_eq!(seen, want, "every input row exactly once in the results");
}

/// PATCH requests the sandbox received.
pub fn patches(sandbox: &Sandbox) -> Vec<ccbulk::sandbox::RecordedRequest> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

/// A replace-mode input: [`FULL_HEADER`] and then each row.
pub fn full_csv(rows: impl IntoIterator<Item = String>) -> String {
    let mut text = format!("{FULL_HEADER}\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text
}

impl Work {
    /// `update in.csv --mode replace --rate unlimited`, then `extra`, against `sandbox`.
    pub fn replace_update(&self, sandbox: &Sandbox, extra: &[&str]) -> Command {
        let mut cmd = self.against(sandbox);
        cmd.args(REPLACE_UNLIMITED).args(extra);
        cmd
    }
}

/// `update in.csv --mode replace --rate unlimited`: the arguments of most replace-mode tests.
pub const REPLACE_UNLIMITED: [&str; 6] = [
    "update",
    "in.csv",
    "--mode",
    "replace",
    "--rate",
    "unlimited",
];
