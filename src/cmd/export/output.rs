//! Where an export goes: standard output, or a file written as a temporary file beside it
//! (created owner-only, never through a link) and renamed over it only when the last page is
//! in, so an interrupted or failed export leaves no half file that could pass for a whole one.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::SetupError;
use crate::customer::Field;
use crate::list::Item;

/// Where the CSV goes.
pub(super) enum Output {
    Stdout,
    File(PathBuf),
}

impl Output {
    /// How messages name it.
    pub(super) fn name(&self) -> String {
        match self {
            Output::Stdout => "stdout".into(),
            Output::File(p) => p.display().to_string(),
        }
    }
}

/// The CSV being written: a temporary file beside the output, or standard output.
pub(super) enum Sink {
    Temp {
        w: csv::Writer<io::BufWriter<tempfile::NamedTempFile>>,
        target: PathBuf,
    },
    Stdout(csv::Writer<io::BufWriter<io::Stdout>>),
}

impl Sink {
    /// Checks the output (no symlink, no clobbering without --overwrite) and opens the
    /// temporary file beside it (created owner-only, never through a link), with the BOM and the
    /// header already written.
    pub(super) fn open(output: &Output, overwrite: bool) -> Result<Sink, SetupError> {
        let header = std::iter::once("customerId").chain(Field::ALL.iter().map(|f| f.wire()));
        let bom = |w: &mut dyn Write| w.write_all("\u{feff}".as_bytes());
        match output {
            Output::Stdout => {
                let mut out = io::BufWriter::new(io::stdout());
                let go = || -> io::Result<csv::Writer<io::BufWriter<io::Stdout>>> {
                    bom(&mut out)?;
                    let mut w = crate::input::csv_writer(out, b',');
                    w.write_record(header)?;
                    Ok(w)
                };
                go().map(Sink::Stdout)
                    .map_err(|e| SetupError(format!("cannot write to standard output: {e}")))
            }
            Output::File(target) => {
                check_target(target, overwrite)?;
                let dir = match target.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let name = target
                    .file_name()
                    .map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
                let cannot = |e: io::Error| {
                    SetupError(format!(
                        "cannot write {} (a temporary file in {}): {e}",
                        target.display(),
                        dir.display()
                    ))
                };
                // tempfile creates the file exclusively and owner-only (0600): no umask or
                // planted link decides who can read customers' personal data.
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".tmp")
                    .tempfile_in(&dir)
                    .map_err(cannot)?;
                let mut out = io::BufWriter::with_capacity(256 * 1024, tmp);
                bom(&mut out).map_err(cannot)?;
                let mut w = crate::input::csv_writer(out, b',');
                w.write_record(header).map_err(|e| cannot(e.into()))?;
                Ok(Sink::Temp {
                    w,
                    target: target.clone(),
                })
            }
        }
    }

    /// One customer's line. A value a spreadsheet would evaluate as a formula gets the guard
    /// `'` that `update` takes off again (`formula.rs`), so the file is safe to open and still
    /// round-trips exactly.
    pub(super) fn write(&mut self, item: &Item) -> csv::Result<()> {
        let cells = std::iter::once(&item.id)
            .chain(item.fields.iter())
            .map(|v| crate::formula::guard_bytes(v.as_deref().unwrap_or("").as_bytes()));
        match self {
            Sink::Temp { w, .. } => w.write_record(cells),
            Sink::Stdout(w) => w.write_record(cells),
        }
    }

    /// Flushes, syncs and renames the temporary file over the output.
    pub(super) fn finish(self, overwrite: bool) -> io::Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush(),
            Sink::Temp { w, target } => {
                let tmp = w
                    .into_inner()
                    .map_err(|e| io::Error::other(e.to_string()))?
                    .into_inner()
                    .map_err(|e| e.into_error())?;
                tmp.as_file().sync_all()?;
                // Checked again: a link or file planted while the export ran is not replaced.
                check_target(&target, overwrite).map_err(|e| io::Error::other(e.0))?;
                let done = if overwrite {
                    tmp.persist(&target)
                } else {
                    tmp.persist_noclobber(&target)
                };
                done.map_err(|e| e.error)?;
                if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
                Ok(())
            }
        }
    }
}

/// The output may not be a symlink (the rule of every file ccbulk writes), a folder, nor
/// (without --overwrite) an existing file.
pub(super) fn check_target(target: &Path, overwrite: bool) -> Result<(), SetupError> {
    crate::files::refuse_symlink(target, "--output").map_err(SetupError)?;
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => Err(SetupError(format!(
            "{} is a directory: give a file name with --output",
            target.display()
        ))),
        Ok(_) if !overwrite => Err(SetupError(format!(
            "{} already exists: add --overwrite to replace it, or choose --output PATH",
            target.display()
        ))),
        _ => Ok(()),
    }
}
