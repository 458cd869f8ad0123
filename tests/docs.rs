//! The documentation as a newcomer meets it: a README short enough to read to the end, every
//! link between the README and the pages of `docs/` leading to a page and a heading that exist,
//! a table of contents that lists every page and section, no page citing a file outside the
//! repository, the README's test command the one CI runs, and no page naming an option that
//! `--help` does not list (nor the reference leaving one out).

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

/// Every long option of every command, as its `--help` shows it.
fn options_in_help() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for command in [
        "update",
        "replay",
        "plan",
        "export",
        "sandbox",
        "completions",
        "man",
    ] {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ccbulk"))
            .args([command, "--help"])
            .output()
            .expect("run ccbulk --help");
        assert!(out.status.success(), "ccbulk {command} --help failed");
        all.extend(long_options(&String::from_utf8_lossy(&out.stdout)));
    }
    all
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
