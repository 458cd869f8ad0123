//! The headings `update`, `replay`, `plan` and `export` group their options under, in the order
//! help shows them (clap shows a heading where its first option is declared, so each command's
//! fields are declared in this order). `-h` shows the options a first run needs; the rest are
//! `hide_short_help` and show with `--help`.

/// The file and how its cells are read.
pub const INPUT: &str = "Input";
/// What the run sends, and when it stops.
pub const SEND: &str = "What to send";
/// What export lists.
pub const LIST: &str = "What to export";
/// How fast, how many at once, how often again.
pub const PACING: &str = "Pacing and retries";
/// Where the API is and who we are to it.
pub const CONNECTION: &str = "Connection";
/// The files a run writes.
pub const OUTPUT: &str = "Output files";
/// What goes to stderr.
pub const LOGGING: &str = "Logging";
