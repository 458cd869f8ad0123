//! The lock beside the results file (`<results>.lock`) and the undo file (`<undo>.lock`): two
//! runs writing the same file never overlap, so cron needs no `flock` wrapper. It is an OS advisory lock (`File::try_lock`), so
//! the kernel drops it when the process dies, even by `kill -9`: a stale lock file left behind
//! never blocks the next run. The file holds the owner's process id, for the refusal message.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held for the whole run; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct ResultsLock {
    path: PathBuf,
    file: File,
}

/// `customers.results.csv` → `customers.results.csv.lock`.
pub fn lock_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl ResultsLock {
    /// Takes the lock for `results` (or any file a run writes), or says why not in a message
    /// meant for the user.
    pub fn acquire(results: &Path) -> Result<ResultsLock, String> {
        let path = lock_path(results);
        // A run that ends removes its lock file; if another run removed it between our open and
        // our lock, we would hold a lock on a file nobody else can find. Try again then.
        for _ in 0..5 {
            // Owner-only and never through a symlink: a link planted at the lock's path must not
            // get its target truncated and overwritten with a process id.
            let mut file = crate::files::open_or_create(&path)
                .map_err(|e| format!("cannot create the lock file {}: {e}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    // A process id is a few digits: read no more, whatever the file holds.
                    let mut owner = String::new();
                    let _ = (&mut file).take(32).read_to_string(&mut owner);
                    let owner = owner.trim();
                    let who = if owner.chars().all(|c| c.is_ascii_digit()) && !owner.is_empty() {
                        format!("another ccbulk run (process {owner})")
                    } else {
                        "another ccbulk run".to_string()
                    };
                    return Err(format!(
                        "{who} is writing {}: wait for it to finish (the lock is {}; it is released when that run ends, even if it is killed)",
                        results.display(),
                        path.display()
                    ));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(format!("cannot lock {}: {e}", path.display()));
                }
            }
            if !same_file(&file, &path) {
                continue;
            }
            // The owner's pid, for the message another run shows; the lock works without it.
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = writeln!(file, "{}", std::process::id());
            let _ = file.flush();
            return Ok(ResultsLock { path, file });
        }
        Err(format!(
            "cannot lock {}: it keeps being replaced by other runs",
            path.display()
        ))
    }

    /// The lock file's path.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ResultsLock {
    fn drop(&mut self) {
        // Removed while still locked, so a run that opens the path from now on makes a new file
        // (and `same_file` catches one that opened the old file just before).
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Is `file` still the file at `path` (not removed or replaced since it was opened)?
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere an open file cannot be removed, so the file at the path is the one we hold.
#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("c.results.csv");
        let first = ResultsLock::acquire(&results).unwrap();
        assert_eq!(first.path(), dir.path().join("c.results.csv.lock"));
        let refused = ResultsLock::acquire(&results).unwrap_err();
        assert!(
            refused.contains(&format!("process {}", std::process::id()))
                && refused.contains("c.results.csv"),
            "{refused}"
        );
        drop(first);
        assert!(!dir.path().join("c.results.csv.lock").exists());
        let again = ResultsLock::acquire(&results).unwrap();
        drop(again);
    }

    #[test]
    fn a_stale_unlocked_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        // What a killed run leaves behind: the file, with no lock on it.
        std::fs::write(lock_path(&results), "999999\n").unwrap();
        let lock = ResultsLock::acquire(&results).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
    }
}
