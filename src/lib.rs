//! ccbulk: update the account info of many CloudCockpit customers from one spreadsheet.
//!
//! Data flows one way through tasks joined by bounded channels: the CSV reader (a blocking
//! thread) sends rows to a fixed pool of workers, which take them in per-customer order, pace
//! every call through one pacer, retry, and send each row's outcome to the results writer (the one
//! owner of the file); the writer's tally becomes the summary. Invalid rows (and, in a dry run,
//! every row) go from the reader straight to the writer (`pipeline::run`). Each command is its
//! own file in `cmd/`; update, replay and plan share their steps (`cmd/job/`: prepare, with no
//! file touched → open the outputs → `pipeline::run` → finish). `run` dispatches to a command;
//! `main` only maps its result to an exit code.
//!
//! Modules are layered: each uses only modules in the layers below it (tests aside).
//! 1. `exit`, `rate`, `files`, `formula`, `text`, `stop`, `program` (how printed commands name
//!    ccbulk): no ccbulk imports.
//! 2. `customer`, `lock`, `reasons`, `http::backoff`, `http::client`: the data model, the lock
//!    file, failure reasons grouped, when to try again, and how every server is reached (TLS,
//!    proxy, timeouts, size limits: one client for every call).
//! 3. `input` (the CSV in), `list` (the list call's pages), `http::token` and `http::auth`
//!    (tokens), `pacer` (when a call may start).
//! 4. `outcome` (what a row became), `http::api` (one call and its answer).
//! 5. `results`, `undo`, `report`, `progress`, `systematic` (the rules that stop a run on
//!    failures): what is made of outcomes; `signals` (Ctrl-C stops the run).
//! 6. `pipeline` (`retry`: what to do with an answer, `call`: one call with its retries,
//!    `rows`: per-customer order, `workers`: the worker pool, and the reader → workers → writer
//!    wiring of one run).
//! 7. `cli`, `config`: flags to settings. `sandbox` (the simulated API) stands apart: it uses
//!    only `customer`, `rate`, `signals`, `program`, and `files` and `lock` for its kept tenant.
//! 8. `cmd` (one file per command) and this file.

pub mod cli;
pub(crate) mod cmd;
pub(crate) mod config;
pub mod customer;
pub mod exit;
pub(crate) mod files;
pub(crate) mod formula;
pub(crate) mod http;
pub mod input;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod outcome;
pub(crate) mod pacer;
pub(crate) mod pipeline;
pub(crate) mod program;
pub mod progress;
pub(crate) mod rate;
pub(crate) mod reasons;
pub(crate) mod report;
pub(crate) mod results;
pub mod sandbox;
mod signals;
pub(crate) mod stop;
pub(crate) mod systematic;
pub(crate) mod text;
pub(crate) mod undo;

use crate::cli::{Cli, Command};

/// Runs a parsed command line; returns the exit code. Setup problems come back as errors
/// (exit 2); everything after the first row is read is reported through the code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Update(a) => cmd::update::run(a).await,
        Command::Replay(a) => cmd::replay::run(a).await,
        Command::Plan(a) => cmd::plan::run(a).await,
        Command::Export(a) => cmd::export::run(a).await,
        Command::Sandbox(a) => cmd::sandbox::run(a).await,
        Command::Completions(a) => {
            cmd::to_stdout(&cmd::completions::script(a.shell))?;
            Ok(exit::OK)
        }
        Command::Man => {
            let mut page = Vec::new();
            cmd::man::write(&mut page)?;
            cmd::to_stdout(&page)?;
            Ok(exit::OK)
        }
    }
}
