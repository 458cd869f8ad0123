//! The tool as people install, script and read it, through the real binary: completion scripts
//! and the man page that parse, `--help` that names the environment and exit codes, plan's own
//! options, credentials pointed anywhere through the environment alone, `--summary-json -` on
//! stdout, JSON log lines, and `NO_COLOR`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use ccbulk::sandbox::SandboxConfig;
use serde_json::Value;

use crate::common::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Is `program` on this machine? (Checks that need a shell or groff run where it is.)
fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn completion_scripts_parse_and_name_every_command() {
    let work = Work::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let mut cmd = work.ccbulk();
        cmd.args(["completions", shell]);
        let out = run_blocking(cmd);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", show(&out));
        let script = text(&out.stdout);
        for name in COMMANDS {
            assert!(script.contains(name), "{shell}: no {name}");
        }
        assert!(script.contains("summary-json"), "{shell}: options missing");
        // The shells that can check a script's syntax without running it.
        let check = match shell {
            "bash" => Some("bash"),
            "zsh" if have("zsh") => Some("zsh"),
            "fish" if have("fish") => Some("fish"),
            _ => None,
        };
        if let Some(sh) = check {
            let path = work.write(&format!("completion.{shell}"), &script);
            let mut check = Command::new(sh);
            check.arg("-n").arg(&path);
            let out = run_blocking(check);
            assert!(out.status.success(), "{sh} -n: {}", show(&out));
        }
    }
    // bash also runs it: the completion function is defined and completes the commands.
    let mut cmd = work.ccbulk();
    cmd.args(["completions", "bash"]);
    let script = work.write("c.bash", &text(&run_blocking(cmd).stdout));
    let probe = format!(
        "source {}; COMP_WORDS=(ccbulk pl); COMP_CWORD=1; COMP_LINE='ccbulk pl'; COMP_POINT=9; \
         _ccbulk ccbulk pl ccbulk; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let mut bash = Command::new("bash");
    bash.args(["-c", &probe]);
    let out = run_blocking(bash);
    assert_eq!(text(&out.stdout).trim(), "plan", "{}", show(&out));
}

#[test]
fn the_man_page_renders_with_every_command() {
    let work = Work::new();
    let mut cmd = work.ccbulk();
    cmd.arg("man");
    let out = run_blocking(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let roff = text(&out.stdout);
    assert!(roff.contains(".TH ccbulk 1"), "a man page title");
    for name in COMMANDS {
        assert!(
            roff.contains(&format!(".SH \"CCBULK {}\"", name.to_uppercase())),
            "no section for {name}"
        );
    }
    for heading in [".SH \"ENVIRONMENT\"", ".SH \"EXIT STATUS\""] {
        assert!(roff.contains(heading), "{heading}");
    }
    if have("groff") {
        let page = work.write("ccbulk.1", &roff);
        // -ww: every warning; a malformed request or escape shows on stderr.
        // -P-cbou: plain text, without overstruck bold or underline.
        let mut groff = Command::new("groff");
        groff.args(["-man", "-Tutf8", "-ww", "-P-cbou"]).arg(&page);
        let out = run_blocking(groff);
        assert!(out.status.success(), "{}", show(&out));
        assert!(out.stderr.is_empty(), "groff warnings: {}", show(&out));
        let shown = text(&out.stdout);
        for want in [
            "CCBULK PLAN",
            "CLOUDCOCKPIT_TOKEN_URL",
            "EXIT STATUS",
            "130",
        ] {
            assert!(shown.contains(want), "rendered page lacks {want}");
        }
    }
}

#[test]
fn help_of_each_command_names_the_environment_and_exit_codes() {
    let work = Work::new();
    for command in ["update", "replay", "plan"] {
        for flag in ["--help"] {
            let mut cmd = work.ccbulk();
            cmd.args([command, flag]);
            let out = run_blocking(cmd);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            let help = text(&out.stdout);
            for var in [
                "CLOUDCOCKPIT_TENANT",
                "CLOUDCOCKPIT_TOKEN ",
                "CLOUDCOCKPIT_CLIENT_ID",
                "CLOUDCOCKPIT_CLIENT_SECRET",
                "CLOUDCOCKPIT_BASE_URL",
                "CLOUDCOCKPIT_TOKEN_URL",
                "CLOUDCOCKPIT_SCOPE",
                "NO_COLOR",
                "HTTPS_PROXY",
            ] {
                assert!(help.contains(var), "{command} {flag}: no {var}\n{help}");
            }
            let codes = help
                .split("Exit codes:")
                .nth(1)
                .unwrap_or_else(|| panic!("{command} {flag}: no exit codes\n{help}"));
            for code in ["0 ", "1 ", "2 ", "3 ", "130 "] {
                assert!(
                    codes.lines().any(|l| l.trim_start().starts_with(code)),
                    "{command}: exit code {code}\n{help}"
                );
            }
            assert!(help.contains("Examples:"), "{command}");
            assert!(help.contains(&format!("ccbulk {command} ")), "{command}");
        }
    }
    // plan has its own options: nothing about sending.
    let mut cmd = work.ccbulk();
    cmd.args(["plan", "--help"]);
    let help = text(&run_blocking(cmd).stdout);
    for absent in [
        "--dry-run",
        "--undo",
        "--no-undo",
        "--mode",
        "--retry-provider",
    ] {
        assert!(!help.contains(absent), "plan --help lists {absent}");
    }
    assert!(help.contains("--resume") && help.contains("--log-format"));
    let mut cmd = work.ccbulk();
    cmd.args(["plan", "in.csv", "--sandbox", "--dry-run"]);
    let out = run_blocking(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("--dry-run"), "{}", show(&out));
    // The other commands' help carries examples too.
    for command in ["sandbox", "completions", "man"] {
        let mut cmd = work.ccbulk();
        cmd.args([command, "--help"]);
        let help = text(&run_blocking(cmd).stdout);
        assert!(help.contains(&format!("ccbulk {command}")), "{help}");
        assert!(help.contains("Examples:"), "{help}");
    }
}

/// `-h` is a page a newcomer reads: at most 45 lines, the options under their headings in the
/// order a run is set up (what is read, what is sent, how fast, where to, what is written, what
/// is logged), `--mode`, `--dry-run` and `--undo` well before `-q`, INPUT naming workbooks, and
/// the way to the rest (`--help`, which lists every option, the environment and exit codes).
#[test]
fn short_help_is_short_and_grouped_in_the_order_of_a_run() {
    let work = Work::new();
    let headings = [
        "Input:",
        "What to send:",
        "Pacing and retries:",
        "Connection:",
        "Output files:",
        "Logging:",
    ];
    for command in ["update", "replay", "plan"] {
        let help_of = |flag: &str| {
            let mut cmd = work.ccbulk();
            cmd.args([command, flag]);
            let out = run_blocking(cmd);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            text(&out.stdout)
        };
        let short = help_of("-h");
        let lines = short.lines().count();
        assert!(lines <= 45, "{command} -h is {lines} lines\n{short}");
        let at = |needle: &str| {
            short
                .find(needle)
                .unwrap_or_else(|| panic!("{command} -h: no {needle}\n{short}"))
        };
        let places: Vec<usize> = headings.iter().map(|h| at(&format!("\n{h}\n"))).collect();
        assert!(
            places.windows(2).all(|w| w[0] < w[1]),
            "{command} -h: headings out of order\n{short}"
        );
        let logging = at("\nLogging:\n");
        assert!(
            at("\n  <INPUT>") < places[1],
            "{command}: INPUT under Input\n{short}"
        );
        assert!(
            short[at("\n  <INPUT>") + 1..]
                .lines()
                .next()
                .unwrap_or("")
                .contains("workbook"),
            "{short}"
        );
        if command != "plan" {
            for early in ["--mode", "--dry-run", "--undo"] {
                assert!(
                    at(early) < logging,
                    "{command} -h: {early} after Logging\n{short}"
                );
            }
        }
        assert!(
            short.contains(&format!("ccbulk {command} --help")),
            "{short}"
        );
        // --help is complete: every option -h leaves out, under the same headings.
        let long = help_of("--help");
        for flag in [
            "--burst",
            "--token-url",
            "--encoding",
            "--summary-json",
            "--log-format",
        ] {
            assert!(!short.contains(flag), "{command} -h lists {flag}");
            assert!(long.contains(flag), "{command} --help lacks {flag}");
        }
        let places: Vec<usize> = headings
            .iter()
            .map(|h| {
                long.find(&format!("\n{h}\n"))
                    .unwrap_or_else(|| panic!("--help: no {h}"))
            })
            .collect();
        assert!(
            places.windows(2).all(|w| w[0] < w[1]),
            "{command} --help: headings out of order"
        );
    }
}

/// The examples of `ccbulk COMMAND --help`: each `ccbulk` line (the command before the column
/// of spaces), with its comment (the rest of the line and the lines under it).
fn help_examples(work: &Work, command: &str) -> Vec<(String, String)> {
    let mut cmd = work.ccbulk();
    cmd.args([command, "--help"]);
    let help = text(&run_blocking(cmd).stdout);
    let section = help
        .split("Examples:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{command} --help: no examples\n{help}"));
    let mut examples: Vec<(String, String)> = Vec::new();
    for line in section.lines().take_while(|l| l.starts_with("  ")) {
        let (example, comment) = line.trim().split_once("   ").unwrap_or((line.trim(), ""));
        match examples.last_mut() {
            Some((_, c)) if !example.contains("ccbulk ") => c.push_str(line),
            _ => examples.push((example.to_string(), comment.to_string())),
        }
    }
    assert!(!examples.is_empty(), "{command} --help: no examples");
    examples
}

/// Every example in the help of export, plan, update and replay, run by `sh` exactly as
/// printed (`erp-export` is a script on PATH that prints a CSV) in a folder of its own holding
/// `customers.csv` (but for export's) and what the runs before it leave (the results, undo and replay files it
/// reads), against a sandbox through the environment: it succeeds, and writes every file it
/// or its comment names.
#[tokio::test(flavor = "multi_thread")]
async fn every_help_example_runs_as_printed() {
    let sb = sandbox(SandboxConfig {
        customers: 3,
        ..SandboxConfig::default()
    })
    .await;
    let in_env = |mut cmd: Command| {
        cmd.env("CLOUDCOCKPIT_TOKEN", TOKEN)
            .env("CLOUDCOCKPIT_TENANT", "portal.reseller.example")
            .env("CLOUDCOCKPIT_BASE_URL", sb.base_url());
        cmd
    };
    let mut ran = 0;
    for command in ["export", "plan", "update", "replay"] {
        for (example, comment) in help_examples(&Work::new(), command) {
            let work = Work::new();
            if command != "export" {
                work.write("customers.csv", &full_csv([1, 2, 3].map(full_row)));
            }
            std::fs::create_dir(work.path("bin")).expect("bin");
            let erp = work.write("bin/erp-export", "#!/bin/sh\nexec cat customers.csv\n");
            std::fs::set_permissions(&erp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            // What the example reads, made by the run that makes it.
            let before: &[&str] = if example.contains("customers.replay.csv") {
                &["update customers.csv", "replay customers.results.csv"]
            } else if example.contains("customers.results.csv") || example.contains(".undo.csv") {
                &["update customers.csv"]
            } else {
                &[]
            };
            for step in before {
                let mut cmd = work.ccbulk();
                cmd.args(step.split(' '));
                let out = run(in_env(cmd)).await;
                assert_eq!(out.status.code(), Some(0), "{step}: {}", show(&out));
            }
            let script = format!("PATH=\"$PWD/bin:$PATH\"\n{example}");
            let out = run(in_env(work.shell(&script))).await;
            assert_eq!(out.status.code(), Some(0), "{example}: {}", show(&out));
            let words: Vec<&str> = example.split(' ').collect();
            let named = words
                .windows(2)
                .filter(|w| matches!(w[0], "--output" | "--results") && w[1] != "-")
                .map(|w| w[1])
                .chain(comment.split(' ').map(|w| {
                    w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.' && c != '-')
                }))
                .filter(|w| w.ends_with(".csv") && !w.starts_with('.'));
            for file in named {
                assert!(work.path(file).exists(), "{example}: no {file}");
            }
            ran += 1;
        }
    }
    assert!(ran >= 10, "{ran} examples");
}

/// `ccbulk sandbox --help`'s example on port 0 (the other takes a fixed port), started as
/// printed; the command it prints to try it (`try: …`) run by `sh` as printed in a copy of the
/// project's `samples/` folder: every row of the sample lands in the results; then SIGTERM stops
/// the sandbox with exit 0, as its help says.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_example_and_its_try_command_run_as_printed() {
    let work = Work::new();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/customers.csv");
    std::fs::create_dir(work.path("samples")).expect("samples");
    std::fs::copy(sample, work.path("samples/customers.csv")).expect("copy the sample");
    let (example, _) = help_examples(&work, "sandbox")
        .into_iter()
        .find(|(e, _)| e.contains("127.0.0.1:0"))
        .expect("an example on port 0");
    let words = shell_words::split(&example).expect("shell words");
    assert_eq!(words[0], "ccbulk", "{example}");
    let mut cmd = work.ccbulk();
    cmd.args(&words[1..]);
    let server = Running::spawn(cmd);
    server
        .wait_for_stderr("Ctrl-C to stop.", std::time::Duration::from_secs(30))
        .await;
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find_map(|l| l.split_once("try: ").map(|(_, c)| c.to_string()))
        .unwrap_or_else(|| panic!("no try: line\n{stderr}"));
    let out = run(work.shell(&line)).await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{line}: {}",
        show(&out)
    );
    let rows = work.rows("samples/customers.results.csv");
    assert_eq!(rows.len(), read_rows(std::path::Path::new(sample)).len());
    assert!(
        rows.iter().any(|r| r["ccbulk_outcome"] == "accepted"),
        "{}",
        show(&out)
    );
    server.signal("TERM");
    let (code, stderr) = server.wait(RUN_LIMIT).await;
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_url_and_scope_come_from_the_environment() {
    let cfg = SandboxConfig::default();
    let sb = sandbox(cfg.clone()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv([1, 2].map(full_row)));
    let mut cmd = work.against_as_client(&sb, &cfg);
    cmd.env("CLOUDCOCKPIT_TOKEN_URL", sb.token_url())
        .env("CLOUDCOCKPIT_SCOPE", "api://staging/.default")
        .args(REPLACE_UNLIMITED);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let token_calls: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/oauth2/"))
        .collect();
    assert_eq!(token_calls.len(), 1, "one token request, to the sandbox");
    assert!(
        token_calls[0]
            .body
            .contains("scope=api%3A%2F%2Fstaging%2F.default"),
        "{}",
        token_calls[0].body
    );
    assert_eq!(patches(&sb).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_json_dash_is_the_only_thing_on_stdout() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv([1, 2, 3].map(full_row)));
    let mut cmd = work.replace_update(&sb, &["--summary-json", "-", "-v"]);
    cmd.env("NO_COLOR", "1");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(summary["rows"], 3);
    assert_eq!(summary["outcomes"]["accepted"], 3);
    assert_eq!(summary["exit_code"], 0);
    assert!(!work.path("-").exists(), "no file named -");
    // The summary for people is still on stderr.
    assert!(text(&out.stderr).contains("ccbulk update: 3 rows"));
}

#[tokio::test(flavor = "multi_thread")]
async fn log_format_json_writes_one_object_per_log_line() {
    let sb = sandbox(SandboxConfig::default()).await;
    let work = Work::new();
    work.write("in.csv", &full_csv([1, 2, 3].map(full_row)));
    // -q: no progress lines; RUST_LOG sets the level (-v and -q conflict).
    let mut cmd = work.replace_update(&sb, &["--log-format", "json", "-q"]);
    cmd.env("RUST_LOG", "ccbulk=debug");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = text(&out.stderr);
    let logs: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let finished: Vec<&Value> = logs
        .iter()
        .filter(|l| l["message"] == "row finished")
        .collect();
    assert_eq!(finished.len(), 3, "{stderr}");
    for l in &finished {
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["outcome"], "accepted");
        assert!(l["timestamp"].is_string() && l["row"].is_u64(), "{l}");
    }
    assert!(
        logs.iter()
            .any(|l| l["message"] == "call" && l["level"] == "DEBUG"),
        "{stderr}"
    );
    // Besides the log lines, only the summary (-q: no progress lines).
    let other: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('{')).collect();
    assert!(
        other
            .first()
            .is_some_and(|l| l.starts_with("ccbulk update: 3 rows")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_names_the_most_common_reasons() {
    // Every call fails (500 or 503): after two attempts each sendable row is failed.
    let sb = sandbox(SandboxConfig {
        fail_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    let mut rows: Vec<String> = [1, 2, 3, 4].map(full_row).to_vec();
    for (n, email) in [(5, "x@"), (6, "not an address"), (7, "@nowhere")] {
        rows.push(full_row(n).replace(&format!("ana{n}@fabrikam.pt"), email));
    }
    rows.push(full_row(8).replace(",PT,", ",Portugal,"));
    work.write("in.csv", &full_csv(rows));
    let mut cmd = work.replace_update(&sb, &["--max-attempts", "2", "--summary-json", "-"]);
    cmd.env("NO_COLOR", "1");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let reasons = summary["reasons"].as_array().expect("reasons");
    let find = |outcome: &str, start: &str| {
        reasons
            .iter()
            .filter(|r| r["outcome"] == outcome && r["reason"].as_str().unwrap().starts_with(start))
            .map(|r| r["rows"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        find("invalid", "column \"email\": is not"),
        3,
        "{reasons:?}"
    );
    assert_eq!(
        find(
            "invalid",
            "column \"country\": is not an ISO 3166-1 alpha-2 code"
        ),
        1,
        "{reasons:?}"
    );
    assert_eq!(find("failed", "PATCH 50"), 4, "{reasons:?}");
    let counts: Vec<u64> = reasons
        .iter()
        .map(|r| r["rows"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "most rows first: {counts:?}"
    );
    // The terminal summary says the same in words.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("  most common reasons:\n"), "{stderr}");
    assert!(
        stderr.contains("    3 rows invalid: column \"email\": is not"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "NO_COLOR: no escape codes");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_counts_retries_and_429s_with_their_reasons() {
    // Above 5 calls/s the sandbox answers 429 (Retry-After: 1); a fifth of the calls fail
    // with 500 or 503. Two attempts a call: some rows fail, most get through on a retry.
    let sb = sandbox(SandboxConfig {
        throttle: Some("5/s".parse().expect("rate")),
        fail_rate: 0.2,
        seed: 7,
        ..SandboxConfig::default()
    })
    .await;
    let work = Work::new();
    work.write("in.csv", &full_csv((1..=20).map(full_row)));
    let mut cmd = work.against(&sb);
    cmd.args([
        "update",
        "in.csv",
        "--mode",
        "replace",
        "--rate",
        "50/s",
        "--max-attempts",
        "2",
        "--summary-json",
        "-",
    ]);
    let out = run(cmd).await;
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let n = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {summary}"))
    };
    let (calls, retries, throttled) = (n("calls"), n("retries"), n("http_429"));
    let sent = customer_calls(&sb);
    assert_eq!(calls, sent.len() as u64, "every call counted: {summary}");
    assert_eq!(
        calls,
        20 + retries,
        "one call a row, and the retries: {summary}"
    );
    let answered_429 = sent.iter().filter(|r| r.status == 429).count() as u64;
    assert_eq!(throttled, answered_429, "{summary}");
    // The failures make retries whatever the machine's speed; how many calls met the throttle
    // depends on it, so that count is only checked against what the server answered.
    assert!(retries > 0, "{summary}");
    let failed = summary["outcomes"]["failed"].as_u64().unwrap_or(0);
    let reasons = summary["reasons"].as_array().expect("reasons");
    let failed_reasons: u64 = reasons
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| r["rows"].as_u64().expect("rows"))
        .sum();
    assert_eq!(
        failed_reasons, failed,
        "every failed row under a reason: {summary}"
    );
    assert_eq!(
        out.status.code(),
        Some(if failed > 0 { 1 } else { 0 }),
        "{}",
        show(&out)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{retries} {}, {throttled} answered 429",
            if retries == 1 { "retry" } else { "retries" }
        )),
        "{stderr}"
    );
    if failed > 0 {
        assert!(stderr.contains("most common reasons:"), "{stderr}");
    }
}
