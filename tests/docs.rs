//! The documentation as a newcomer meets it: a README short enough to read to the end, every
//! link between the README and the pages of `docs/` leading to a page and a heading that exist,
//! a table of contents that lists every page and section, no page citing a file outside the
//! repository, the README's test command the one CI runs, no page naming an option that
//! `--help` does not list (nor the reference leaving one out), the reference's defaults,
//! environment variables and exit codes those of `--help`, and the summary JSON example the
//! keys a run writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The README and every page of `docs/`, as (path relative to the repository, text).
fn pages() -> Vec<(PathBuf, String)> {
    let mut pages = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(ROOT).expect("under the root").to_path_buf())
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(Path::new(ROOT).join(&p)).expect("read a page");
            (p, text)
        })
        .collect()
}

/// The lines of `text` outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The `#`-headings of a page (level, title), outside code blocks.
fn headings(text: &str) -> Vec<(usize, String)> {
    prose(text)
        .into_iter()
        .filter_map(|l| {
            let level = l.chars().take_while(|&c| c == '#').count();
            (level > 0 && l[level..].starts_with(' '))
                .then(|| (level, l[level..].trim().to_string()))
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces made hyphens.
fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings; a repeated one gets `-1`, `-2`, … as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, title) in headings(text) {
        let base = slug(&title);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The targets of the inline links `[text](target)` of a page, outside code blocks and code
/// spans.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        // Code spans may hold `](` (a regular expression, say): not links.
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

#[test]
fn the_readme_is_short_enough_to_read_to_the_end() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let lines = readme.lines().count();
    assert!(
        lines < 300,
        "README.md is {lines} lines: move the detail to docs/"
    );
    assert!(
        readme.contains("](docs/README.md)"),
        "the README links the table of contents"
    );
}

/// Every relative link of the README and docs/ leads to a file that exists and, where it names
/// one, to a heading of that file.
#[test]
fn every_link_between_the_pages_leads_somewhere() {
    let mut checked = 0;
    for (page, text) in pages() {
        let dir = page.parent().unwrap_or(Path::new(""));
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            let path = Path::new(ROOT).join(&file);
            assert!(
                path.exists(),
                "{}: the link ({target}) leads to {}, which does not exist",
                page.display(),
                file.display()
            );
            if !anchor.is_empty() {
                let there = std::fs::read_to_string(&path).expect("a linked page");
                assert!(
                    anchors(&there).contains(anchor),
                    "{}: the link ({target}) names no heading of {}",
                    page.display(),
                    file.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} links checked");
}

/// docs/README.md is the table of contents: it links every page of docs/ and every section
/// (`##`) of each.
#[test]
fn the_table_of_contents_lists_every_page_and_section() {
    let pages = pages();
    let (_, toc) = pages
        .iter()
        .find(|(p, _)| p == Path::new("docs/README.md"))
        .expect("docs/README.md, the table of contents");
    let listed: BTreeSet<String> = links(toc).into_iter().collect();
    for (page, text) in &pages {
        let Some(name) = page
            .strip_prefix("docs")
            .ok()
            .and_then(|p| p.to_str())
            .filter(|p| *p != "README.md")
        else {
            continue;
        };
        assert!(listed.contains(name), "docs/README.md does not list {name}");
        for (level, title) in headings(text) {
            if level != 2 {
                continue;
            }
            let link = format!("{name}#{}", slug(&title));
            assert!(
                listed.contains(&link),
                "docs/README.md does not list the section \"{title}\" of {name}: add - [{title}]({link})"
            );
        }
    }
}

/// Users cannot open a file that is not in the repository: no page points at one.
#[test]
fn no_page_cites_a_file_outside_the_repository() {
    for (page, text) in pages() {
        for outside in ["API.md", "SPEC.md", "STYLE.md", "../shared", "/work/"] {
            assert!(
                !text.contains(outside),
                "{} mentions {outside}, which is not in the repository",
                page.display()
            );
        }
    }
}

/// The README's test command is, character for character, the one CI runs.
#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let quick_start = readme
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the quick start block");
    let test = quick_start
        .lines()
        .find(|l| l.starts_with("cargo test"))
        .map(|l| l.split('#').next().unwrap_or(l).trim())
        .expect("a cargo test line in the quick start");
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == test),
        ".ci/run does not run the README's test command {test:?}"
    );
}

/// The long options (`--name`) a text mentions: a `--` then a lower-case letter, then letters,
/// digits and hyphens.
fn long_options(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let starts_well = name.starts_with(|c: char| c.is_ascii_lowercase());
        // `a--b` and a link's `#--max-failures-…` are not options; `(--rate`, `` `--rate``,
        // ` --rate` are.
        if starts_well && !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '#') {
            out.insert(format!("--{}", name.trim_end_matches('-')));
        }
    }
    out
}

/// `ccbulk COMMAND --help`, in an empty environment (a `[env: NAME=value]` would show a
/// variable the test machine happens to set), waited for within the tests' limit.
fn help(command: &str) -> String {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ccbulk"));
    cmd.args([command, "--help"]).env_clear();
    let out = crate::common::run_blocking(cmd);
    assert!(out.status.success(), "ccbulk {command} --help failed");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// Every long option of every command, as its `--help` shows it.
fn options_in_help() -> BTreeSet<String> {
    crate::common::COMMANDS
        .into_iter()
        .flat_map(|command| long_options(&help(command)))
        .collect()
}

/// Other programs' options the pages show in their commands (cargo's).
const NOT_OURS: &[&str] = &[
    "--release",
    "--locked",
    "--path",
    "--git",
    "--test-threads",
    "--all-targets",
    "--check",
];

/// Every option a page names is one some command's `--help` lists (a renamed or removed flag
/// leaves no page behind), and the reference names every option of every command.
#[test]
fn the_pages_name_only_options_that_exist_and_the_reference_names_them_all() {
    let known = options_in_help();
    assert!(known.contains("--rate") && known.contains("--throttle-kind"));
    for (page, text) in pages() {
        for option in long_options(&text) {
            assert!(
                known.contains(&option) || NOT_OURS.contains(&option.as_str()),
                "{} names {option}, which no command's --help lists",
                page.display()
            );
        }
    }
    let reference =
        std::fs::read_to_string(Path::new(ROOT).join("docs/reference.md")).expect("reference");
    let named = long_options(&reference);
    // `-q`/`-v` are how the reference names --quiet and --verbose; every program has --help.
    let implied = ["--help", "--version", "--quiet", "--verbose"];
    for option in known {
        assert!(
            named.contains(&option) || implied.contains(&option.as_str()),
            "docs/reference.md does not name {option}, which --help lists"
        );
    }
}

/// What `--help` says of each option, by long name: its `[default: …]` and `[env: NAME=]`.
type Said = std::collections::BTreeMap<String, (Option<String>, Option<String>)>;

fn help_defaults(help: &str) -> Said {
    let mut out = Said::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let t = line.trim_start();
        // An option's first line: `--rate <RATE>`, `-q, --quiet`, `-o, --output <PATH>`.
        let starts_option = t.starts_with("--") || (t.starts_with('-') && t.contains(", --"));
        if line.starts_with("  ") && starts_option {
            let head: Vec<&str> = t.split_whitespace().take(2).collect();
            current = long_options(&head.join(" ")).into_iter().next();
            if let Some(name) = &current {
                out.entry(name.clone()).or_insert((None, None));
            }
            continue;
        }
        let Some(entry) = current.as_ref().and_then(|name| out.get_mut(name)) else {
            continue;
        };
        if let Some(v) = t
            .strip_prefix("[default: ")
            .and_then(|v| v.strip_suffix(']'))
        {
            entry.0 = Some(v.to_string());
        }
        if let Some(v) = t.strip_prefix("[env: ").and_then(|v| v.split('=').next()) {
            entry.1 = Some(v.to_string());
        }
    }
    out
}

/// The first word of each line of the section after `start`, up to the next blank line, where
/// it is a number: the exit codes a section lists.
fn exit_codes(text: &str, start: &str, strip: &str) -> BTreeSet<String> {
    text.split(start)
        .nth(1)
        .expect("an exit codes section")
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix(strip)?.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// The reference's options table gives the defaults and the environment variables that
/// `update --help` gives (in the rows naming one option: `--rate RATE`, not `--token-url URL,
/// --scope S`), and its exit codes are those of `--help`.
#[test]
fn the_reference_gives_the_defaults_variables_and_exit_codes_help_gives() {
    let reference =
        std::fs::read_to_string(Path::new(ROOT).join("docs/reference.md")).expect("reference");
    let update = help("update");
    let said = help_defaults(&update);
    assert_eq!(said["--rate"].0.as_deref(), Some("10/s"), "{said:?}");
    assert_eq!(said["--tenant"].1.as_deref(), Some("CLOUDCOCKPIT_TENANT"));
    let table = reference
        .split("## Options of update, replay and plan")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("the options table");
    let mut checked = 0;
    for row in table.lines().filter(|l| l.starts_with("| `-")) {
        // Cells between `|`s; an escaped `\|` (`merge\|replace`) is part of its cell.
        let cells: Vec<String> = row
            .replace("\\|", "\u{1}")
            .split('|')
            .skip(1)
            .map(|c| c.trim().replace('`', "").replace('\u{1}', "|"))
            .collect();
        let named = long_options(&cells[0]);
        let [option] = named.iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        let Some((default, env)) = said.get(option) else {
            panic!("docs/reference.md has a row for {option}, which update --help does not list");
        };
        if let Some(default) = default {
            assert_eq!(
                &cells[2], default,
                "docs/reference.md: the default of {option}"
            );
            checked += 1;
        }
        if let Some(env) = env {
            assert!(
                cells[1].contains(env.as_str()),
                "docs/reference.md: {option} reads {env}"
            );
        }
    }
    assert!(checked >= 10, "{checked} defaults checked");
    let in_help = exit_codes(&update, "Exit codes:", "  ");
    assert_eq!(in_help.len(), 5, "{in_help:?}");
    let in_reference = exit_codes(&reference, "## Exit codes", "| ");
    assert_eq!(
        in_reference, in_help,
        "docs/reference.md's exit codes are --help's"
    );
}

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// The summary JSON example of docs/unattended.md has the keys a run writes, at the top and in
/// `undo`: a monitor written from the example reads what ccbulk writes.
#[tokio::test(flavor = "multi_thread")]
async fn the_summary_json_example_has_the_keys_a_run_writes() {
    use crate::common::*;
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/unattended.md")).expect("page");
    let example = page
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a json block in docs/unattended.md");
    let documented: serde_json::Value = serde_json::from_str(example).expect("the example is JSON");
    let sb = sandbox(ccbulk::sandbox::SandboxConfig::default()).await;
    let work = Work::new();
    // One row accepted (so an undo line), one failed (404), as in the example.
    work.write(
        "c.csv",
        &city_csv([(cid(1), "Braga"), (guid(0x404), "Porto")]),
    );
    let cmd = work.unpaced(&sb, &["update", "c.csv", "--summary-json", "s.json"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let written = work.json("s.json");
    assert_eq!(keys(&documented), keys(&written), "the top level");
    assert_eq!(
        keys(&documented["undo"]),
        keys(&written["undo"]),
        "the undo object"
    );
    let reason = |v: &serde_json::Value| keys(&v["reasons"][0]);
    assert_eq!(reason(&documented), reason(&written), "a reason");
    // Not equal for want of both: the run wrote an undo object and a reason to compare.
    assert!(
        !keys(&written["undo"]).is_empty() && !reason(&written).is_empty(),
        "{written}"
    );
}
