//! `ccbulk man`: one man page, ccbulk(1), in roff on stdout, generated from the clap
//! definitions: the commands, then a section per command with its options, then the
//! environment and exit codes shared by update, replay and plan.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, ENVIRONMENT, EXIT_CODES};

/// Writes the man page to `out`.
pub fn write(out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    // Gives each subcommand its full name ("ccbulk update") for its synopsis.
    cmd.build();
    let top = Man::new(cmd.clone());
    top.render_title(out)?;
    top.render_name_section(out)?;
    top.render_synopsis_section(out)?;
    top.render_description_section(out)?;
    // clap_mangen's own list points at one page per command (ccbulk-update(1)); this page
    // holds them all, so the list names the sections below.
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    writeln!(out, ".SH COMMANDS")?;
    for sub in &subs {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fBccbulk {}\\fR\n{}",
            sub.get_name(),
            escape(&about)
        )?;
    }
    for sub in subs {
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_uppercase();
        writeln!(out, ".SH \"{}\"", escape(&name))?;
        let page = Man::new(sub.clone());
        let mut body = Vec::new();
        page.render_synopsis_section(&mut body)?;
        page.render_description_section(&mut body)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.render_options_section(&mut body)?;
        }
        // The command's own headings become subsections under its name.
        let body = String::from_utf8_lossy(&body).replace("\n.SH ", "\n.SS ");
        let body = body
            .strip_prefix(".SH ")
            .map_or(body.clone(), |b| format!(".SS {b}"));
        out.write_all(body.as_bytes())?;
        // The help's examples and notes; the environment and exit codes that update, replay
        // and plan share are written once, below.
        if let Some(after) = sub.get_after_long_help().or(sub.get_after_help()) {
            let after = after.to_string();
            let own = after.split("\n\nEnvironment:").next().unwrap_or_default();
            section(out, ".SS", "EXAMPLES", own)?;
        }
    }
    section(out, ".SH", "ENVIRONMENT", ENVIRONMENT)?;
    section(out, ".SH", "EXIT STATUS", EXIT_CODES)?;
    top.render_version_section(out)?;
    out.flush()
}

/// A section (`.SH`) or subsection (`.SS`) of preformatted lines (the same text as `--help`),
/// its first line (the heading `--help` shows) dropped.
fn section(out: &mut dyn Write, level: &str, heading: &str, text: &str) -> std::io::Result<()> {
    writeln!(out, "{level} \"{heading}\"")?;
    writeln!(out, ".nf")?;
    for line in text.lines().skip(1) {
        writeln!(out, "{}", escape(line))?;
    }
    writeln!(out, ".fi")
}

/// Text safe on a roff line: backslashes doubled, and a line that would start with a control
/// character (`.` or `'`) guarded.
fn escape(line: &str) -> String {
    let line = line.replace('\\', "\\\\").replace('-', "\\-");
    if line.starts_with('.') || line.starts_with('\'') {
        format!("\\&{line}")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_every_command_and_the_shared_sections() {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\n.TH ccbulk 1"), "a title");
        for heading in [
            ".SH \"CCBULK UPDATE\"",
            ".SH \"CCBULK REPLAY\"",
            ".SH \"CCBULK PLAN\"",
            ".SH \"CCBULK SANDBOX\"",
            ".SH \"CCBULK COMPLETIONS\"",
            ".SH \"CCBULK MAN\"",
            ".SH \"ENVIRONMENT\"",
            ".SH \"EXIT STATUS\"",
        ] {
            assert!(text.contains(heading), "{heading} missing");
        }
        assert!(text.contains("CLOUDCOCKPIT_TOKEN_URL"));
        assert!(text.contains("\\-\\-summary\\-json"), "options rendered");
    }
}
