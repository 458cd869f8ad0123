//! The sandbox tenant kept between runs: every `--sandbox` run and `ccbulk sandbox` serve the
//! same simulated tenant, so an update, its undo, a plan and an export show on the sandbox what
//! they would on a real tenant.
//!
//! It lives in one file under the user's state directory (`$XDG_STATE_HOME/ccbulk/`, else the
//! platform's: `~/.local/state/ccbulk/` on Linux, the local application data folder on macOS
//! and Windows). The file holds customer data, so it is treated as ccbulk's other outputs are:
//! owner-only (0600), never read or written through a symbolic link, written whole to a
//! temporary file beside it and renamed over it (a crash leaves the old or the new tenant,
//! never half of one), bounded in size on reading and writing. A sandbox holds the lock beside
//! it (`lock.rs`) for as long as it serves the tenant: a second run is refused with a message,
//! and two runs never interleave their writes.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use super::tenant::{Limits, Tenant};
use crate::files;
use crate::lock::ResultsLock;

/// The largest state file read or written.
pub(super) const MAX_BYTES: u64 = 64 << 20;
/// The most changed customers a kept tenant holds; a PATCH of one more is refused with a word
/// on `--reset`.
pub const MAX_STORED: usize = 20_000;
/// What a kept tenant may hold: [`MAX_STORED`] customers, and no more bytes than its file may
/// take (a PATCH may store up to a MiB, so 64 large ones would fill it): a PATCH past either is
/// refused, and the file can always be written.
pub(super) const LIMITS: Limits = Limits {
    customers: MAX_STORED,
    bytes: MAX_BYTES as usize,
};
/// The most customers a stored tenant may make up (as `ccbulk sandbox --customers` allows).
const MAX_MADE_UP: usize = 1_000_000;

/// The tenant's file in the user's state directory.
pub fn default_path() -> Result<PathBuf, String> {
    // XDG_STATE_HOME is honoured on every platform: the one way to point ccbulk elsewhere (and
    // what the tests do); `dirs` reads it on Linux only.
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(dirs::state_dir)
        .or_else(dirs::data_local_dir)
        .ok_or(
            "cannot find the user's state directory for the sandbox tenant: set XDG_STATE_HOME",
        )?;
    Ok(base.join("ccbulk").join("sandbox-tenant.json"))
}

/// Takes the tenant's lock (held until the returned lock is dropped) and reads the tenant, or
/// makes a new one of `made_up` customers from `seed` when there is no file yet. The folder is
/// created (owner-only) if missing.
pub(super) fn open(
    path: &Path,
    made_up: usize,
    seed: u64,
) -> Result<(ResultsLock, Tenant), String> {
    make_folder(path)?;
    let lock =
        ResultsLock::acquire(path).map_err(|e| format!("the sandbox tenant is in use: {e}"))?;
    let tenant = match read(path)? {
        None => Tenant::new(made_up, seed),
        Some(bytes) => Tenant::from_json(&bytes, MAX_MADE_UP).map_err(|why| {
            format!(
                "cannot read the sandbox tenant {}: {why}; `{} sandbox --reset` starts it afresh",
                path.display(),
                super::program()
            )
        })?,
    };
    Ok((lock, tenant))
}

/// `ccbulk sandbox --reset`: removes the tenant's file, under its lock (a tenant being served
/// is not pulled from under its sandbox). Whether there was one.
pub fn reset(path: &Path) -> Result<bool, String> {
    if !path.parent().is_some_and(Path::exists) {
        return Ok(false);
    }
    let _lock =
        ResultsLock::acquire(path).map_err(|e| format!("the sandbox tenant is in use: {e}"))?;
    files::refuse_symlink(path, "the sandbox tenant")?;
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!(
            "cannot remove the sandbox tenant {}: {e}",
            path.display()
        )),
    }
}

fn make_folder(path: &Path) -> Result<(), String> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        format!(
            "cannot create the folder {} for the sandbox tenant: {e}",
            dir.display()
        )
    })
}

/// The file's bytes, `None` if there is no file; never through a symlink, never over
/// `MAX_BYTES`.
fn read(path: &Path) -> Result<Option<Vec<u8>>, String> {
    files::refuse_symlink(path, "the sandbox tenant")?;
    let file = match files::read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the sandbox tenant {}: {e}",
                path.display()
            ));
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the sandbox tenant {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "the sandbox tenant {} is over {} MiB: `{} sandbox --reset` starts it afresh",
            path.display(),
            MAX_BYTES >> 20,
            super::program()
        ));
    }
    Ok(Some(bytes))
}

/// Writes `bytes` as the file: a temporary file beside it (created owner-only by `tempfile`),
/// renamed over it, which replaces a symlink planted there instead of writing through it.
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!("cannot write the sandbox tenant {}: {e}", path.display())
    };
    if bytes.len() as u64 > MAX_BYTES {
        return Err(fail(&format!("it would be over {} MiB", MAX_BYTES >> 20)));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".sandbox-tenant")
        .tempfile_in(dir)
        .map_err(|e| fail(&e))?;
    tmp.write_all(bytes).map_err(|e| fail(&e))?;
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// Writes a kept tenant to its file after it changes, never two writes at once, and nothing
/// after [`Saver::close`].
pub(super) struct Saver {
    path: PathBuf,
    dirty: AtomicBool,
    /// Woken on every change; the saving task waits on it.
    pub(super) wake: Notify,
    /// Held while a snapshot is taken and written; `true` once closed.
    closed: Mutex<bool>,
}

impl Saver {
    pub fn new(path: PathBuf) -> Saver {
        Saver {
            path,
            dirty: AtomicBool::new(false),
            wake: Notify::new(),
            closed: Mutex::new(false),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tenant changed: it is to be written.
    pub fn changed(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Writes the tenant (`snapshot` gives its bytes) if it changed since the last write.
    pub fn save(
        &self,
        snapshot: impl FnOnce() -> serde_json::Result<Vec<u8>>,
    ) -> Result<(), String> {
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if *closed {
            return Ok(());
        }
        self.write_if_changed(snapshot)
    }

    /// The last write: later changes are not written (the lock goes with the sandbox).
    pub fn close(
        &self,
        snapshot: impl FnOnce() -> serde_json::Result<Vec<u8>>,
    ) -> Result<(), String> {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if *closed {
            return Ok(());
        }
        *closed = true;
        self.write_if_changed(snapshot)
    }

    fn write_if_changed(
        &self,
        snapshot: impl FnOnce() -> serde_json::Result<Vec<u8>>,
    ) -> Result<(), String> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let result = snapshot()
            .map_err(|e| {
                format!(
                    "cannot write the sandbox tenant {}: {e}",
                    self.path.display()
                )
            })
            .and_then(|bytes| write(&self.path, &bytes));
        if result.is_err() {
            // Tried again at the next change or at the end.
            self.dirty.store(true, Ordering::SeqCst);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_with_change(path: &Path) -> Tenant {
        let (_lock, mut tenant) = open(path, 3, 1).unwrap();
        let id = uuid::Uuid::from_u128(7);
        tenant.put(id, super::super::made_up_customer(id));
        tenant
    }

    #[test]
    fn a_tenant_is_written_private_and_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/ccbulk/sandbox-tenant.json");
        let tenant = tenant_with_change(&path);
        let saver = Saver::new(path.clone());
        saver.save(|| tenant.to_json()).unwrap();
        assert!(!path.exists(), "nothing changed: nothing written");
        saver.changed();
        saver.save(|| tenant.to_json()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let folder = std::fs::metadata(path.parent().unwrap()).unwrap();
            assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        }
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            ["sandbox-tenant.json"],
            "no temporary file, no lock left"
        );
        let (_lock, back) = open(&path, 0, 0).unwrap();
        assert_eq!(back.listed(), tenant.listed());
        assert_eq!(back.stored(), 1);
    }

    #[test]
    fn nothing_is_written_after_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let tenant = tenant_with_change(&path);
        let saver = Saver::new(path.clone());
        saver.changed();
        saver.close(|| tenant.to_json()).unwrap();
        let written = std::fs::read(&path).unwrap();
        saver.changed();
        saver.save(|| Ok(b"{}".to_vec())).unwrap();
        saver.close(|| Ok(b"{}".to_vec())).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), written);
    }

    #[test]
    fn a_second_user_of_the_tenant_is_refused_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let (first, _) = open(&path, 0, 0).unwrap();
        let e = open(&path, 0, 0).err().unwrap();
        assert!(
            e.contains("the sandbox tenant is in use") && e.contains("t.json"),
            "{e}"
        );
        assert!(
            reset(&path).is_err(),
            "not reset from under a running sandbox"
        );
        drop(first);
        assert!(open(&path, 0, 0).is_ok());
    }

    #[test]
    fn reset_removes_the_file_and_says_whether_there_was_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        assert!(!reset(&path).unwrap());
        std::fs::write(&path, b"{}").unwrap();
        assert!(reset(&path).unwrap());
        assert!(!path.exists());
        assert!(!reset(&dir.path().join("missing/t.json")).unwrap());
    }

    #[test]
    fn a_broken_oversized_or_linked_file_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, b"{\"customers\": [").unwrap();
        let e = open(&path, 0, 0).err().unwrap();
        assert!(
            e.contains("cannot read the sandbox tenant") && e.contains("--reset"),
            "{e}"
        );
        let big = std::fs::File::create(&path).unwrap();
        big.set_len(MAX_BYTES + 1).unwrap();
        let e = open(&path, 0, 0).err().unwrap();
        assert!(e.contains("over 64 MiB") && e.contains("--reset"), "{e}");
        #[cfg(unix)]
        {
            let target = dir.path().join("elsewhere.json");
            std::fs::write(&target, b"secret").unwrap();
            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(&target, &path).unwrap();
            let e = open(&path, 0, 0).err().unwrap();
            assert!(e.contains("symbolic link"), "{e}");
            // A write replaces the link; its target is untouched.
            write(&path, b"{}").unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), b"secret");
            assert!(
                !std::fs::symlink_metadata(&path)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
    }
}
