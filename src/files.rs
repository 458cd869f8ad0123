//! Opening the files ccbulk writes (results, undo, summary JSON and its temporary file, locks):
//! created owner-only (0600) whatever the umask, because they hold customers' names, e-mails and
//! phones; and never through a symbolic link as the last component of the path, so a link planted
//! where a file is expected cannot make ccbulk overwrite its target (SPEC: Files ccbulk writes).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

mod appended;
#[cfg(test)]
pub(crate) use appended::MAX_OWN_RECORD;
pub(crate) use appended::{Fixes, Scanner, Start, header_line, writer as appended_writer};

/// The mode of every file ccbulk creates.
#[cfg(unix)]
const PRIVATE: u32 = 0o600;

/// Refuses a path whose last component is a symbolic link, with a message for the user;
/// `what` names the file ("the results file"). A path that does not exist yet passes.
pub fn refuse_symlink(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{what} {} is a symbolic link: ccbulk never writes through one (it could overwrite \
             the file it points to); remove the link or give the real path",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Options that never follow a symlink at the last component and create owner-only.
fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(PRIVATE).custom_flags(libc::O_NOFOLLOW);
    }
    o
}

/// Makes a file this run created or emptied owner-only: the mode given at creation is cut by the
/// umask, and a truncated file keeps whatever mode it had.
fn make_private(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(PRIVATE))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// The error of an open refused because the path is a symlink, said plainly.
fn explain(e: io::Error, path: &Path) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link: ccbulk never writes through one",
                path.display()
            ),
        );
    }
    let _ = path;
    e
}

/// Creates (or empties) `path` for writing: 0600, never through a symlink.
pub fn create(path: &Path) -> io::Result<File> {
    let file = private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| explain(e, path))?;
    make_private(&file)?;
    Ok(file)
}

/// Opens an existing `path` to append to it, never through a symlink.
pub fn append(path: &Path) -> io::Result<File> {
    private_options()
        .append(true)
        .open(path)
        .map_err(|e| explain(e, path))
}

/// Opens an existing `path` to read it, never through a symlink (a file about to be resumed).
pub fn read(path: &Path) -> io::Result<File> {
    private_options()
        .read(true)
        .open(path)
        .map_err(|e| explain(e, path))
}

/// Opens `path` to read and write, creating it (0600) if missing and keeping its content: a lock
/// file. Never through a symlink.
pub fn open_or_create(path: &Path) -> io::Result<File> {
    let existed = path.exists();
    let file = private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| explain(e, path))?;
    if !existed {
        make_private(&file)?;
    }
    Ok(file)
}

/// Can a file be created in the folder of `path`? Checked before anything is sent for files
/// written only at the end (the summary JSON), by creating and removing a temporary file there.
pub fn check_folder_writable(path: &Path, what: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".ccbulk-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            format!(
                "cannot write {what} {}: its folder {} is not writable ({e})",
                path.display(),
                dir.display()
            )
        })
}

/// The UTF-8 byte-order mark.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_owner_only_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for open in [create, append, open_or_create, read] {
            let e = open(&link).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(refuse_symlink(&link, "the results file").is_err());
        assert!(refuse_symlink(&target, "the results file").is_ok());

        let new = dir.path().join("new");
        drop(create(&new).unwrap());
        assert_eq!(mode(&new), 0o600);
        // An existing file that is emptied and rewritten becomes owner-only too.
        drop(create(&target).unwrap());
        assert_eq!(mode(&target), 0o600);
        let lock = dir.path().join("lock");
        drop(open_or_create(&lock).unwrap());
        assert_eq!(mode(&lock), 0o600);
    }
}
