//! One file per command. update, replay and plan share their steps (`job`): prepare (no file
//! touched) → open the outputs → `pipeline::run` → finish.

pub mod completions;
pub mod export;
pub(crate) mod job;
pub mod man;
pub(crate) mod plan;
pub(crate) mod replay;
pub(crate) mod sandbox;
pub(crate) mod update;

use std::io::Write;

/// Writes a generated text to standard output. A reader that stops early (`| head`) is not an
/// error: the text was for it, and it has what it wanted.
pub fn to_stdout(text: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
