//! What a command says on stderr and in `--summary-json` (`ReportArgs`): the output and log
//! options every command that runs against the API shares.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::heading::*;

/// How log lines on stderr are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// What a command says on stderr and in `--summary-json`: the options every command that runs
/// against the API shares (update, replay, plan and export).
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Write the final counts as JSON (- for standard output).
    #[arg(long, value_name = "PATH", help_heading = OUTPUT, hide_short_help = true)]
    pub summary_json: Option<PathBuf>,

    /// Less on stderr: only errors and the summary.
    #[arg(short, long, conflicts_with = "verbose", help_heading = LOGGING)]
    pub quiet: bool,

    /// More on stderr (-v: each row's outcome, or each page of an export; -vv: every request).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = LOGGING)]
    pub verbose: u8,

    /// Log lines on stderr as text, or as one JSON object per line (for log shippers).
    #[arg(long, value_enum, default_value = "text", help_heading = LOGGING, hide_short_help = true)]
    pub log_format: LogFormat,
}
