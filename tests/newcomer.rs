//! The first hour of a newcomer, as a test (issue 23). In a folder that stands for a fresh clone
//! (the project's `samples/`, nothing installed, no `ccbulk` on PATH), it runs the README's quick
//! start, then every command ccbulk printed for what comes next, as printed; then, as if
//! installed, every shell block of the README and of `docs/` marked runnable (```` ```sh runnable
//! ````), verbatim and in order, each step checked against what its comment says, and the
//! follow-up commands those steps print. Everything runs against the built-in sandbox, whose
//! tenant is kept under a temporary `XDG_STATE_HOME` (and `HOME`), so the test neither depends on
//! nor leaves any state.
//!
//! Two stand-ins, both for speed and neither touching ccbulk's own behaviour: `cargo run
//! --release -- ARGS` is run by a `cargo` on PATH that starts the test's binary by its path
//! (`$PWD/target/release/ccbulk`, as cargo starts it once built: building a release here would
//! take minutes, and a nested cargo waits on the build lock of the cargo running the tests); and
//! `cargo install` is a folder on PATH holding `ccbulk` (CI runs the README's install command
//! itself, in `.ci/run`).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The limit of one step: a walkthrough step takes seconds; this only turns a hang into a
/// failure.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// The info string that marks a shell block a newcomer can run as written.
const RUNNABLE: &str = "sh runnable";

/// The stand-in for `cargo run --release -- ARGS` (see the module's comment).
const CARGO: &str = r#"#!/bin/sh
# cargo run --release -- ARGS, once built: the binary started by its path, as cargo starts it.
if [ "$1" = run ] && [ "$2" = --release ] && [ "$3" = -- ]; then
    shift 3
    exec "$PWD/target/release/ccbulk" "$@"
fi
echo "the newcomer test's cargo runs only 'cargo run --release -- ARGS', not: cargo $*" >&2
exit 97
"#;

/// The README's blocks, then those of each page of docs/ in the order its table of contents
/// lists them, as (page, info string, text).
fn blocks() -> Vec<(String, String, String)> {
    let read = |page: &str| {
        std::fs::read_to_string(Path::new(ROOT).join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"))
    };
    let mut pages = vec!["README.md".to_string()];
    for line in read("docs/README.md").lines() {
        // "## [Title](page.md)": a page, in the order the table of contents gives.
        if let Some(page) = line
            .strip_prefix("## [")
            .and_then(|l| l.split_once("]("))
            .and_then(|(_, rest)| rest.strip_suffix(')'))
        {
            pages.push(format!("docs/{page}"));
        }
    }
    let mut out = Vec::new();
    for page in pages {
        let text = read(&page);
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(info) = line.trim_start().strip_prefix("```") else {
                continue;
            };
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim_start().starts_with("```"))
                .collect();
            out.push((page.clone(), info.trim().to_string(), body.join("\n")));
        }
    }
    out
}

/// The commands of a block: one a line (a line ending in `\` goes on on the next), blank lines
/// and comment lines left out.
fn steps(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            continue;
        }
        pending.push_str(line);
        let step = std::mem::take(&mut pending);
        if !step.trim().is_empty() && !step.trim_start().starts_with('#') {
            out.push(step.trim().to_string());
        }
    }
    out
}

/// The command of a step without its comment.
fn command(step: &str) -> &str {
    step.split(" #").next().unwrap_or(step).trim()
}

/// Every command a ccbulk run printed for the user to run next: the text after a `: ` whose
/// first word names the ccbulk program (`ccbulk`, or a path to it), to the end of the line
/// (without the `)` that closes the undo line's parenthesis).
fn printed_commands(stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in stderr.lines() {
        for (at, _) in line.match_indices(": ") {
            let rest = line[at + 2..].trim();
            let program = rest.split(' ').next().unwrap_or("");
            if Path::new(program)
                .file_name()
                .is_some_and(|n| n == "ccbulk")
            {
                let rest = if line.trim_end().ends_with(')') && rest.contains(" (") {
                    rest
                } else {
                    rest.strip_suffix(')').unwrap_or(rest)
                };
                out.push(rest.to_string());
            }
        }
    }
    out
}

/// What one step did.
struct Step {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Step {
    fn show(&self) -> String {
        format!(
            "{}: exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// The newcomer's machine: a work folder standing for the clone, a home and a state folder of
/// its own, and the PATH before and after the install.
struct Newcomer {
    work: Work,
    /// PATH with the stand-in cargo and no ccbulk.
    fresh_path: String,
    /// The same, with the installed ccbulk first.
    installed_path: String,
    installed: bool,
}

impl Newcomer {
    fn new() -> Newcomer {
        let work = Work::new();
        let binary = PathBuf::from(assert_cmd::cargo::cargo_bin!("ccbulk"));
        // The clone: the sample, and the binary where `cargo run --release` leaves it.
        std::fs::create_dir_all(work.path("samples")).expect("samples/");
        std::fs::copy(
            Path::new(ROOT).join("samples/customers.csv"),
            work.path("samples/customers.csv"),
        )
        .expect("the sample");
        std::fs::create_dir_all(work.path("target/release")).expect("target/release");
        std::os::unix::fs::symlink(&binary, work.path("target/release/ccbulk")).expect("link");
        for dir in [".tools", ".home", ".state", ".installed"] {
            std::fs::create_dir_all(work.path(dir)).expect("a folder");
        }
        let cargo = work.write(".tools/cargo", CARGO);
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink(&binary, work.path(".installed/ccbulk")).expect("link");
        // The system's PATH, less any folder that holds a ccbulk: a fresh machine has none.
        let system: Vec<PathBuf> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .filter(|dir| !dir.join("ccbulk").exists())
                .collect();
        let join = |first: &[PathBuf]| {
            std::env::join_paths(first.iter().chain(&system))
                .expect("PATH")
                .into_string()
                .expect("a UTF-8 PATH")
        };
        let fresh_path = join(&[work.path(".tools")]);
        let installed_path = join(&[work.path(".installed"), work.path(".tools")]);
        Newcomer {
            work,
            fresh_path,
            installed_path,
            installed: false,
        }
    }

    /// Runs one step with `sh`, in the clone, with the variables earlier steps exported.
    fn run(&self, step: &str) -> Step {
        // The exported variables carry from step to step as they would in one terminal;
        // `set +e` undoes the `-e` of `Work::shell`: a step's own exit code is its result.
        let script = format!(
            "set +e\nif [ -f ./.env ]; then . ./.env; fi\n{step}\ncode=$?\n\
             export -p | grep -v -e '^export PATH=' -e '^export HOME=' -e '^export PWD=' \
             -e '^export OLDPWD=' > ./.env\nexit $code\n"
        );
        let path = if self.installed {
            &self.installed_path
        } else {
            &self.fresh_path
        };
        let mut sh = self.work.shell(&script);
        sh.env("PATH", path)
            .env("HOME", self.work.path(".home"))
            .env("XDG_STATE_HOME", self.work.path(".state"))
            .env_remove("MANPATH")
            .env_remove("CARGO_INSTALL_ROOT");
        let out: Output = output_within(sh, None, STEP_LIMIT);
        Step {
            command: step.to_string(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A command ccbulk printed, run as printed: one that goes on from the run (resume, replay,
    /// apply, undo). A hint about the sandbox itself (`ccbulk sandbox --reset` to start afresh)
    /// would undo what the walkthrough builds, so it is only checked to name a program that
    /// runs from here.
    fn follow(&self, printed: &str) -> Option<Step> {
        let words = shell_words::split(printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        if words.get(1).is_some_and(|w| w == "sandbox") {
            let found = self.run(&format!("command -v {}", shell_words::quote(&words[0])));
            assert_eq!(
                found.code,
                Some(0),
                "printed, but does not run from here: {printed}"
            );
            return None;
        }
        Some(self.run(printed))
    }

    fn rows(&self, name: &str) -> Vec<HashMap<String, String>> {
        self.work.rows(name)
    }
}

/// The outcome counts of a results file.
fn counts(rows: &[HashMap<String, String>]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in rows {
        *out.entry(r["ccbulk_outcome"].clone()).or_insert(0) += 1;
    }
    out
}

/// The words of a command, its program named by file name only (`target/release/ccbulk` and
/// `ccbulk` are one program): to tell a printed command that a later step of a block runs.
fn words(command_line: &str) -> Vec<String> {
    let mut words = shell_words::split(command(command_line))
        .unwrap_or_else(|e| panic!("not shell words: {command_line}: {e}"));
    if let Some(first) = words.first_mut()
        && let Some(name) = Path::new(first.as_str()).file_name()
    {
        *first = name.to_string_lossy().into_owned();
    }
    words
}

/// A newcomer's first hour, as the module's comment says.
#[test]
fn a_newcomer_runs_the_readme_and_every_runnable_block_as_written() {
    let mut me = Newcomer::new();
    let blocks = blocks();

    // The quick start: the README's first block, its first command, before anything is
    // installed.
    let (page, _, quick_start) = blocks.first().expect("a block");
    assert_eq!(page, "README.md");
    let first = steps(quick_start).into_iter().next().expect("a command");
    assert!(
        command(&first).starts_with("cargo run --release -- "),
        "{first}"
    );
    let step = me.run(&first);
    check(&me, &step);
    // Every command it printed, as printed: the program named so that it runs from here.
    let printed = printed_commands(&step.stderr);
    assert!(
        printed.len() >= 2,
        "replay and undo printed\n{}",
        step.show()
    );
    for line in printed {
        if let Some(step) = me.follow(&line) {
            check(&me, &step);
        }
    }

    // Installed: every runnable block, in order, each step checked, then what it printed.
    me.installed = true;
    let mut ran = Vec::new();
    for (page, info, block) in &blocks {
        if info != RUNNABLE {
            continue;
        }
        let steps = steps(block);
        for (i, line) in steps.iter().enumerate() {
            let step = me.run(line);
            check(&me, &step);
            ran.push(format!("{page}: {line}"));
            for printed in printed_commands(&step.stderr) {
                // A command the block runs later is run there, as the block says; any other is
                // run now, as printed.
                if steps[i + 1..]
                    .iter()
                    .any(|later| words(later) == words(&printed))
                {
                    continue;
                }
                if let Some(follow) = me.follow(&printed) {
                    check(&me, &follow);
                    ran.push(format!("{page}: printed by {line}: {printed}"));
                }
            }
        }
    }
    // The walkthrough and the completion lines at least.
    assert!(ran.len() >= 11, "{ran:#?}");
}

/// The first number in a step's comment: what it says it will count.
fn stated(step: &Step) -> Option<usize> {
    let (_, comment) = step.command.split_once(" #")?;
    comment
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|n| n.parse().ok())
}

/// Checks that a step did what its comment (for a printed command, the line that printed it)
/// says. A step this does not know fails the test: a new runnable block comes with its check.
fn check(me: &Newcomer, step: &Step) {
    assert_ne!(step.code, Some(127), "a command not found\n{}", step.show());
    // Every file the comment says the step writes is there.
    if let Some((_, comment)) = step.command.split_once(" #") {
        for file in comment
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | ':'))
            .filter(|w| w.ends_with(".csv"))
        {
            assert!(me.work.path(file).exists(), "no {file}\n{}", step.show());
        }
    }
    let words = words(&step.command);
    let has = |w: &str| words.iter().any(|x| x == w);
    let first: Vec<&str> = words.iter().take(2).map(String::as_str).collect();
    match first.as_slice() {
        ["cargo", "run"] if has("samples/customers.csv") => quick_start(me, step),
        ["ccbulk", "replay"] if has("samples/customers.results.csv") => sample_replay(me, step),
        ["ccbulk", "update"] if has("samples/customers.undo.csv") => sample_undo(me, step),
        ["mkdir", "-p"] => written_by(me, step, &words),
        ["export", v] if v.starts_with("MANPATH=") => man_finds_the_page(me, step),
        ["ccbulk", "sandbox"] if has("--reset") => {
            assert_eq!(step.code, Some(0), "{}", step.show())
        }
        ["ccbulk", "export"] => export(me, step),
        ["sed", _] => edited(me, step),
        ["ccbulk", "plan"] => plan(me, step),
        ["ccbulk", "update"] if has("edited.csv") && has("--limit") => canary(me, step),
        ["ccbulk", "update"] if has("edited.csv") && has("--resume") => the_rest(me, step),
        ["ccbulk", "update"] if has("edited.csv") => update(me, step),
        ["ccbulk", "update"] if has("edited.undo.csv") => undo(me, step),
        ["ccbulk", "update"] if has("edited.undo.undo.csv") => redo(me, step),
        _ => panic!(
            "no check for this step: say in tests/newcomer.rs what it must do\n{}",
            step.show()
        ),
    }
}

/// The quick start: the sample's 30 rows, some accepted, some already as the sandbox holds
/// them, some invalid on purpose (exit 1); a results line for each, an undo line for each
/// change.
fn quick_start(me: &Newcomer, step: &Step) {
    assert_eq!(step.code, Some(1), "{}", step.show());
    let rows = me.rows("samples/customers.results.csv");
    assert_each_row_once(&rows, 30);
    let counts = counts(&rows);
    for outcome in ["accepted", "unchanged", "invalid"] {
        assert!(counts.get(outcome).is_some_and(|&n| n > 0), "{counts:?}");
    }
    assert_eq!(
        me.rows("samples/customers.undo.csv").len(),
        counts["accepted"],
        "an undo line for each change"
    );
}

/// The printed replay: the invalid rows, still invalid (nobody fixed them), exit 1.
fn sample_replay(me: &Newcomer, step: &Step) {
    assert_eq!(step.code, Some(1), "{}", step.show());
    let before = counts(&me.rows("samples/customers.results.csv"));
    let rows = me.rows("samples/customers.replay.csv");
    assert_eq!(rows.len(), before["invalid"], "{}", step.show());
    assert!(rows.iter().all(|r| r["ccbulk_outcome"] == "invalid"));
}

/// The printed undo: every change of the quick start put back. The sandbox kept them, so each
/// undo line changes its customer again (a sandbox that forgot would answer `unchanged`).
fn sample_undo(me: &Newcomer, step: &Step) {
    assert_eq!(step.code, Some(0), "{}", step.show());
    let undo = me.rows("samples/customers.undo.csv");
    let rows = me.rows("samples/customers.undo.results.csv");
    assert_each_row_once(&rows, undo.len() as u64);
    assert!(
        rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "{:?}\n{}",
        counts(&rows),
        step.show()
    );
}

/// `mkdir -p DIR && ccbulk completions SHELL > FILE` or `… man > FILE`: the file is there and
/// holds a script (bash: one bash can read) or a page.
fn written_by(me: &Newcomer, step: &Step, words: &[String]) {
    assert_eq!(step.code, Some(0), "{}", step.show());
    let file = words
        .iter()
        .skip_while(|w| *w != ">")
        .nth(1)
        .unwrap_or_else(|| panic!("no `> FILE`\n{}", step.show()));
    let file = me
        .work
        .path(".home")
        .join(file.strip_prefix("~/").unwrap_or(file));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    assert!(text.len() > 100, "{file:?}: {text}");
    if words.iter().any(|w| w == "bash") && which("bash") {
        let out = output_within(
            {
                let mut c = std::process::Command::new("bash");
                c.arg("-n").arg(&file);
                c
            },
            None,
            STEP_LIMIT,
        );
        assert!(out.status.success(), "{}", show(&out));
    }
    if words.iter().any(|w| w == "man") {
        assert!(text.contains(".TH"), "a man page");
    }
}

/// After the MANPATH line, `man ccbulk` finds the page written before it (where man is
/// installed).
fn man_finds_the_page(me: &Newcomer, step: &Step) {
    assert_eq!(step.code, Some(0), "{}", step.show());
    if !which("man") {
        return;
    }
    let found = me.run("man -w ccbulk");
    assert_eq!(found.code, Some(0), "{}", found.show());
    assert!(
        found.stdout.trim().ends_with("man1/ccbulk.1"),
        "{}",
        found.show()
    );
}

/// Whether a program is installed here.
fn which(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join(program).is_file())
}

/// The rows of `edited.csv` that differ from the export: the edits the walkthrough makes.
fn edits(me: &Newcomer) -> usize {
    let before = me.work.read("customers.csv");
    let after = me.work.read("edited.csv");
    let changed = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 0, "the edit changed no row");
    changed
}

/// What a plan of `edited.csv` says now, run by the test itself (its own results file, unpaced):
/// the rows that would change.
fn would_change_now(me: &Newcomer) -> usize {
    let plan = me.run(
        "ccbulk plan --sandbox edited.csv --results .check.plan.csv --overwrite --rate unlimited",
    );
    assert_eq!(plan.code, Some(0), "{}", plan.show());
    let rows = me.rows(".check.plan.csv");
    rows.iter()
        .filter(|r| r["ccbulk_outcome"] == "would-change")
        .count()
}

/// Asserts the step's exit code and, where its comment states a count, that count.
fn ok_with(step: &Step, code: i32, count: usize) {
    assert_eq!(step.code, Some(code), "{}", step.show());
    if let Some(n) = stated(step) {
        assert_eq!(n, count, "the comment says {n}\n{}", step.show());
    }
}

/// `ccbulk export --sandbox`: the sandbox tenant's customers, in update's columns.
fn export(me: &Newcomer, step: &Step) {
    let rows = me.rows("customers.csv");
    ok_with(step, 0, rows.len());
    assert!(
        !rows.is_empty() && rows[0].contains_key("customerId"),
        "{rows:?}"
    );
}

/// The edit standing in for a spreadsheet: some rows changed, none added or lost.
fn edited(me: &Newcomer, step: &Step) {
    ok_with(step, 0, edits(me));
    assert_eq!(me.rows("edited.csv").len(), me.rows("customers.csv").len());
}

/// A plan: what its comment says it shows, in the file it writes (`--results`, or the input's
/// `.plan.csv`): every row unchanged (with the count), N rows that would change (each edited row,
/// city and state, and only those), or nothing left to change.
fn plan(me: &Newcomer, step: &Step) {
    assert_eq!(step.code, Some(0), "{}", step.show());
    let words = words(&step.command);
    let file = option(&words, "--results").unwrap_or_else(|| {
        let input = words.last().expect("the input");
        format!("{}.plan.csv", input.trim_end_matches(".csv"))
    });
    let rows = me.rows(&file);
    let counts = counts(&rows);
    let would = counts.get("would-change").copied().unwrap_or(0);
    let comment = step.command.split_once(" #").map_or("", |(_, c)| c);
    let stated = stated(step);
    if comment.contains("would change") {
        assert_eq!(Some(would), stated, "{counts:?}\n{}", step.show());
        if words.iter().any(|w| w == "edited.csv") {
            assert_eq!(would, edits(me), "each edited row, and only those");
        }
        for r in rows
            .iter()
            .filter(|r| r["ccbulk_outcome"] == "would-change")
        {
            assert_eq!(
                r["ccbulk_changed"],
                "city: Lisboa → Porto; state: Lisboa → Porto"
            );
        }
    } else if comment.contains("nothing") {
        assert_eq!(would, 0, "{counts:?}\n{}", step.show());
    } else if comment.contains("unchanged") {
        assert_eq!(
            counts.get("unchanged").copied(),
            stated,
            "{counts:?}\n{}",
            step.show()
        );
        assert_eq!(counts.len(), 1, "{counts:?}");
    } else {
        panic!("say in the comment what the plan shows\n{}", step.show());
    }
}

/// The value of `--flag VALUE` in a command's words.
fn option(words: &[String], flag: &str) -> Option<String> {
    words.iter().skip_while(|w| *w != flag).nth(1).cloned()
}

/// `ccbulk update --sandbox edited.csv`: the edited rows accepted, the others unchanged, an undo
/// line for each; and the sandbox remembers: a plan now finds nothing to change.
fn update(me: &Newcomer, step: &Step) {
    let n = edits(me);
    ok_with(step, 0, n);
    let rows = me.rows("edited.results.csv");
    assert_each_row_once(&rows, me.rows("edited.csv").len() as u64);
    assert_eq!(counts(&rows).get("accepted"), Some(&n), "{}", step.show());
    assert_eq!(me.rows("edited.undo.csv").len(), n);
    assert_eq!(
        would_change_now(me),
        0,
        "after the update, nothing left to change"
    );
}

/// `ccbulk update --sandbox edited.undo.csv`: every change put back; a plan now finds the edits
/// to make again.
fn undo(me: &Newcomer, step: &Step) {
    let n = edits(me);
    ok_with(step, 0, n);
    let rows = me.rows("edited.undo.results.csv");
    assert_each_row_once(&rows, n as u64);
    assert!(
        rows.iter().all(|r| r["ccbulk_outcome"] == "accepted"),
        "{}",
        step.show()
    );
    assert_eq!(
        would_change_now(me),
        n,
        "after the undo, the edits are to make again"
    );
}

/// The undo's own undo (printed after it): the edits made again.
fn redo(me: &Newcomer, step: &Step) {
    let n = edits(me);
    ok_with(step, 0, n);
    assert_eq!(
        would_change_now(me),
        0,
        "after the redo, nothing left to change"
    );
}

/// `--limit N`: the first N rows sent, then a stop that is not a failure (exit 0), with the
/// command that sends the rest.
fn canary(me: &Newcomer, step: &Step) {
    let words = words(&step.command);
    let limit: usize = option(&words, "--limit")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("--limit N\n{}", step.show()));
    ok_with(step, 0, limit);
    let rows = me.rows("edited.results.csv");
    assert_eq!(rows.len(), limit, "{}", step.show());
    assert!(
        printed_commands(&step.stderr)
            .iter()
            .any(|c| c.contains("--resume")),
        "the command that sends the rest\n{}",
        step.show()
    );
}

/// The `--resume` after a canary: every row of the file in the results, once.
fn the_rest(me: &Newcomer, step: &Step) {
    assert_eq!(step.code, Some(0), "{}", step.show());
    let rows = me.rows("edited.results.csv");
    assert_each_row_once(&rows, me.rows("edited.csv").len() as u64);
}
