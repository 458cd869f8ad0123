//! One file per command that is more than a call into the pipeline.

pub mod completions;
pub mod export;
pub mod man;

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
