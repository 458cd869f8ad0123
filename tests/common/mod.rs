//! Shared helpers for the integration tests: a work directory that holds inputs and results, the
//! real binary pointed at an in-process sandbox on loopback, and a results-file reader.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccbulk::sandbox::{Sandbox, SandboxConfig};
use uuid::Uuid;

/// The bearer token the test sandboxes accept without a token request.
pub const TOKEN: &str = "test-static-token-5f1c9a";

/// A temporary directory for one test's files.
pub struct Work {
    pub dir: tempfile::TempDir,
    /// The user's state directory (XDG_STATE_HOME) of every ccbulk this test runs: the kept
    /// sandbox tenant of `--sandbox` runs lives there, so no two tests share one, and none
    /// touches the developer's own.
    pub state: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("tempdir"),
            state: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        self.write_bytes(name, content.as_bytes())
    }

    /// [`Work::write`] for bytes that need not be UTF-8 (legacy encodings, BOMs, torn lines).
    pub fn write_bytes(&self, name: &str, content: &[u8]) -> PathBuf {
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

    /// A JSON file in the work directory (a `--summary-json`), parsed.
    pub fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(name)).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    }

    /// The one row of a one-row input's results file, checked to be row 1, there once.
    pub fn only_row(&self, name: &str) -> HashMap<String, String> {
        let rows = self.rows(name);
        assert_each_row_once(&rows, 1);
        rows.into_iter().next().expect("row 1")
    }

    /// The names of the files in the work directory.
    pub fn files(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Data lines of a results file so far (no embedded newlines in these tests' rows); 0 while
    /// it does not exist.
    pub fn data_lines(&self, name: &str) -> usize {
        std::fs::read_to_string(self.path(name))
            .map(|s| s.matches('\n').count().saturating_sub(1))
            .unwrap_or(0)
    }

    /// Waits until `name` holds at least `n` data lines: a run in the background got that far.
    pub async fn wait_for_lines(&self, name: &str, n: usize, limit: Duration) {
        let what = format!("{name} reaching {n} rows");
        wait_until(&what, limit, || self.data_lines(name) >= n).await;
    }

    /// [`Work::rows`] of a file separated by `delimiter` (`;` as Excel writes in some locales).
    pub fn rows_sep(&self, name: &str, delimiter: u8) -> Vec<HashMap<String, String>> {
        read_rows_sep(&self.path(name), delimiter)
    }

    /// The binary, run in the work directory with no CLOUDCOCKPIT_* or proxy variables inherited.
    pub fn ccbulk(&self) -> Command {
        self.clean(Command::new(assert_cmd::cargo::cargo_bin!("ccbulk")))
    }

    /// `script` run by `sh -e` in the work directory, the test binary first on PATH as
    /// `ccbulk`, with the environment [`Work::ccbulk`] gets: for commands a README shows.
    pub fn shell(&self, script: &str) -> Command {
        let mut cmd = self.clean(Command::new("sh"));
        cmd.args(["-e", "-c", script]);
        cmd
    }

    /// [`Work::shell`] with no folder on PATH that holds the test binary: ccbulk as it runs
    /// before it is installed (by a path, as `cargo run` starts it).
    pub fn shell_without_ccbulk(&self, script: &str) -> Command {
        let mut cmd = self.shell(script);
        let dir = bin_dir();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let others = std::env::split_paths(&path).filter(|p| p != &dir);
        cmd.env("PATH", std::env::join_paths(others).expect("PATH"));
        cmd
    }

    /// `cmd` in the work directory with no CLOUDCOCKPIT_* or proxy variables inherited, this
    /// test's own state directory, and the test binary first on PATH as `ccbulk` (as once
    /// installed: the commands it prints then start with `ccbulk`).
    fn clean(&self, mut cmd: Command) -> Command {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(&path)))
                .expect("PATH");
        cmd.current_dir(self.dir.path())
            .env("XDG_STATE_HOME", self.state.path())
            .env("PATH", path);
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
        self.against_url(&sandbox.base_url())
    }

    /// `args` (a command and its file) against `sandbox`, unpaced (`--rate unlimited`): for the
    /// many tests about what a run does, not how fast.
    pub fn unpaced(&self, sandbox: &Sandbox, args: &[&str]) -> Command {
        let mut cmd = self.against(sandbox);
        cmd.args(args).args(["--rate", "unlimited"]);
        cmd
    }

    /// [`Work::against`] with `config`'s client credentials instead of the static token (the
    /// token URL is the caller's to give: the sandbox's, or one through a proxy).
    pub fn against_as_client(&self, sandbox: &Sandbox, config: &SandboxConfig) -> Command {
        let mut cmd = self.against(sandbox);
        cmd.env_remove("CLOUDCOCKPIT_TOKEN")
            .env("CLOUDCOCKPIT_CLIENT_ID", &config.client_id)
            .env("CLOUDCOCKPIT_CLIENT_SECRET", &config.client_secret);
        cmd
    }

    /// [`Work::against`] for an API at `url` that is not a sandbox (a mock or scripted server,
    /// which accepts any token).
    pub fn against_url(&self, url: &str) -> Command {
        let mut cmd = self.ccbulk();
        cmd.env("CLOUDCOCKPIT_TOKEN", TOKEN)
            .env("CLOUDCOCKPIT_TENANT", "portal.reseller.example")
            .env("CLOUDCOCKPIT_BASE_URL", url)
            .env("CCBULK_BACKOFF_BASE", "50ms");
        cmd
    }
}

/// The folder of the test binary.
pub fn bin_dir() -> PathBuf {
    let bin = std::path::Path::new(assert_cmd::cargo::cargo_bin!("ccbulk"));
    bin.parent().expect("the binary's folder").to_path_buf()
}

/// Reads any CSV (comma-separated) as header → value maps.
pub fn read_rows(path: &std::path::Path) -> Vec<HashMap<String, String>> {
    read_rows_sep(path, b',')
}

/// [`read_rows`] for a CSV separated by `delimiter`.
pub fn read_rows_sep(path: &std::path::Path, delimiter: u8) -> Vec<HashMap<String, String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
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

/// [`run`], blocking: for `#[test]`s that start no runtime (nothing to keep serving).
pub fn run_blocking(cmd: Command) -> Output {
    output_within(cmd, None, RUN_LIMIT)
}

/// Waits (blocking) for a spawned child; kills it and panics after `limit`.
pub fn wait_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A ccbulk started in the background, for tests that signal or kill it mid-run. Its stderr is
/// drained on a thread (so a chatty run never blocks on a full pipe) and can be watched while it
/// runs; its stdout is discarded. Killed when dropped unwaited (a test that fails half-way
/// leaves no ccbulk running on).
pub struct Running {
    /// `None` once [`Running::wait`] took it.
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<u8>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Running {
    pub fn spawn(cmd: Command) -> Running {
        Running::spawn_stdin(cmd, Stdio::null())
    }

    /// [`Running::spawn`] reading its standard input from the pipe handed back: the test writes
    /// rows to it and keeps it open as long as it likes (a slow producer).
    pub fn spawn_piped(cmd: Command) -> (Running, std::process::ChildStdin) {
        let mut running = Running::spawn_stdin(cmd, Stdio::piped());
        let stdin = running.child().stdin.take().expect("stdin pipe");
        (running, stdin)
    }

    fn spawn_stdin(mut cmd: Command, stdin: Stdio) -> Running {
        cmd.stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ccbulk");
        let mut pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = stderr.clone();
        let drain = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        Running {
            child: Some(child),
            stderr,
            drain: Some(drain),
        }
    }

    /// The process, while it has not been waited for.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("not yet waited for")
    }

    /// Sends the signal `name` (INT, TERM) with the system `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("not yet waited for")
            .id()
            .to_string();
        let ok = Command::new("kill")
            .args([format!("-{name}").as_str(), &pid])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} {pid}");
    }

    /// Kill -9: the process ends at once, mid-write if it was writing.
    pub fn kill(&mut self) {
        self.child().kill().expect("kill -9");
    }

    /// What the run has written to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned()
    }

    /// Waits until the run has written `text` to stderr; panics after `limit`.
    pub async fn wait_for_stderr(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let now = self.stderr();
            if now.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "no {text:?} on stderr:\n{now}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits up to `limit` for the exit (off the async runtime, so a sandbox keeps serving);
    /// returns the code (None if killed by a signal) and stderr. Kills it and panics if it is
    /// still running.
    pub async fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("waited for once");
        let drain = self.drain.take().expect("waited for once");
        let stderr = self.stderr.clone();
        tokio::task::spawn_blocking(move || {
            let status = wait_within(&mut child, limit);
            drain.join().expect("stderr thread");
            let text = String::from_utf8_lossy(&stderr.lock().expect("lock")).into_owned();
            (status.code(), text)
        })
        .await
        .expect("join")
    }
}

/// Waits until `done()` holds, checking every 10 ms; panics saying `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `cmd` (its program, arguments, folder and environment) started by `sh` after `setup`: a
/// `umask` or `ulimit` the test process cannot set for one child alone.
pub fn after_shell(setup: &str, cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.args(["-c", &format!("{setup}; exec \"$0\" \"$@\"")])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

/// The standard error of a finished run, as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

/// A [`sandbox`] that answers every call after `latency`: a run against it lasts long enough
/// to be watched, signalled or killed mid-way.
pub async fn slow_sandbox(latency: Duration) -> Sandbox {
    sandbox(SandboxConfig {
        latency,
        ..SandboxConfig::default()
    })
    .await
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

/// The customer of row `n`: [`guid`] moved clear of the ids the sandbox answers 403 and 404
/// for (those ending in 0x403 and 0x404), so runs of thousands of rows all succeed.
pub fn cid(n: u32) -> Uuid {
    guid(n + 0x10_0000)
}

/// A merge-mode input that sets one field: `customerId,city`, then a line per (id, city).
pub fn city_csv<I: Display, C: Display>(rows: impl IntoIterator<Item = (I, C)>) -> String {
    let mut text = String::from("customerId,city\n");
    for (id, city) in rows {
        text.push_str(&format!("{id},{city}\n"));
    }
    text
}

/// A merge-mode input of `n` rows: row `i` moves customer [`cid`]`(i)` to "`city` `i`", a
/// change at every row, each row's value its own.
pub fn numbered_cities(n: u32, city: &str) -> String {
    city_csv((1..=n).map(|i| (cid(i), format!("{city} {i}"))))
}

/// Every column a customer CSV can carry, customerId first, in the order `export` writes them.
pub const COLUMNS: [&str; 16] = [
    "customerId",
    "companyName",
    "taxId",
    "country",
    "addressLine1",
    "addressLine2",
    "city",
    "state",
    "zip",
    "firstName",
    "middleName",
    "lastName",
    "email",
    "phone",
    "internalIdentifier",
    "resellerId",
];

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

/// How many rows ended with each `ccbulk_outcome`.
pub fn outcome_counts(rows: &[HashMap<String, String>]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r["ccbulk_outcome"].as_str()).or_default() += 1;
    }
    m
}

/// Calls for customers (GET or PATCH) the sandbox received: not token requests.
pub fn customer_calls(sandbox: &Sandbox) -> Vec<ccbulk::sandbox::RecordedRequest> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/Customers/"))
        .collect()
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

    /// [`Work::replace_update`] against a mock or scripted API at `url`, retrying 20 ms apart:
    /// those servers answer at once, and the tests that make them fail count attempts, not time.
    pub fn replace_update_at(&self, url: &str, extra: &[&str]) -> Command {
        let mut cmd = self.against_url(url);
        cmd.env("CCBULK_BACKOFF_BASE", "20ms")
            .args(REPLACE_UNLIMITED)
            .args(extra);
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

/// `update in.csv --rate unlimited --concurrency 8`: a merge-mode run with eight rows in flight,
/// as the kill -9 tests stop it.
pub const MERGE_8_UNPACED: [&str; 6] = [
    "update",
    "in.csv",
    "--rate",
    "unlimited",
    "--concurrency",
    "8",
];

/// The text after `label` on the summary line that has it (where ccbulk prints a follow-up
/// command: "to continue:", "undo: …", …).
pub fn after<'a>(stderr: &'a str, label: &str) -> &'a str {
    stderr
        .lines()
        .find_map(|l| l.split_once(label).map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("no \"{label}\" in:\n{stderr}"))
}

impl Work {
    /// A command line ccbulk printed, split as a shell would and run with the test binary for
    /// `ccbulk`, with nothing from the environment: the caller adds only the credentials (never
    /// flags), so whatever else the command needs, it must carry.
    pub fn printed(&self, line: &str) -> Command {
        let words =
            shell_words::split(line).unwrap_or_else(|e| panic!("not shell words: {line}: {e}"));
        assert_eq!(words.first().map(String::as_str), Some("ccbulk"), "{line}");
        let mut cmd = self.ccbulk();
        cmd.args(&words[1..]).env("CCBULK_BACKOFF_BASE", "50ms");
        cmd
    }

    /// [`Work::printed`] with the static token (which is never a flag).
    pub fn printed_with_token(&self, line: &str) -> Command {
        let mut cmd = self.printed(line);
        cmd.env("CLOUDCOCKPIT_TOKEN", TOKEN);
        cmd
    }
}

/// Every command of ccbulk, as `ccbulk --help` lists them.
pub const COMMANDS: [&str; 7] = [
    "update",
    "replay",
    "plan",
    "export",
    "sandbox",
    "completions",
    "man",
];
