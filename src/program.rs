//! How a printed command names ccbulk, so that it runs as printed whatever way ccbulk was
//! started: `ccbulk` when the `ccbulk` the shell finds on PATH is this very binary, otherwise the
//! path it was started by (`target/release/ccbulk` after `cargo run --release`), relative to the
//! current folder when it is under it, or else the binary's own path.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The program's name in the commands ccbulk prints (not shell-quoted: the caller quotes every
/// word alike).
pub fn name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let Ok(exe) = std::env::current_exe() else {
            return "ccbulk".into();
        };
        let argv0 = std::env::args_os().next();
        let cwd = std::env::current_dir().ok();
        let path = std::env::var_os("PATH");
        name_for(&exe, argv0.as_deref(), cwd.as_deref(), path.as_deref())
    })
}

/// [`name`] for a binary at `exe`, started as `argv0` from `cwd`, with `path` for PATH.
fn name_for(exe: &Path, argv0: Option<&OsStr>, cwd: Option<&Path>, path: Option<&OsStr>) -> String {
    let exe = canonical(exe);
    if exe.is_none() {
        return "ccbulk".into();
    }
    if found_on_path(path).is_some_and(|found| canonical(&found) == exe) {
        return "ccbulk".into();
    }
    if let Some(invoked) = argv0.map(Path::new)
        && invoked.components().count() > 1
    {
        // As the user typed it, or, for an absolute path under the current folder (cargo run
        // gives one), the part below it: either way, it must lead here from the current folder.
        let shown = match cwd.and_then(|c| invoked.strip_prefix(c).ok()) {
            Some(below) => runnable_relative(below),
            None => invoked.to_path_buf(),
        };
        let from_here = match cwd {
            Some(c) => c.join(&shown),
            None => shown.clone(),
        };
        if canonical(&from_here) == exe {
            return shown.display().to_string();
        }
    }
    exe.map_or_else(|| "ccbulk".into(), |e| e.display().to_string())
}

/// A relative path a shell runs as a path: a bare name would be looked up on PATH instead.
fn runnable_relative(below: &Path) -> PathBuf {
    if below.components().count() == 1 {
        Path::new(".").join(below)
    } else {
        below.to_path_buf()
    }
}

/// The `ccbulk` a shell would run: the first executable file of that name on `path`.
fn found_on_path(path: Option<&OsStr>) -> Option<PathBuf> {
    let file = format!("ccbulk{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&file))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

fn canonical(p: &Path) -> Option<PathBuf> {
    p.canonicalize().ok()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A folder holding an executable file `name` (and the folders on the way).
    fn executable(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn ccbulk_when_the_one_on_path_is_this_binary() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let exe = executable(&root, "bin/ccbulk");
        // A link on PATH to this binary is this binary.
        let link_dir = root.join("links");
        std::fs::create_dir(&link_dir).unwrap();
        std::os::unix::fs::symlink(&exe, link_dir.join("ccbulk")).unwrap();
        let path = std::env::join_paths([root.join("empty"), link_dir]).unwrap();
        let name = name_for(&exe, Some(OsStr::new("ccbulk")), Some(&root), Some(&path));
        assert_eq!(name, "ccbulk");
    }

    #[test]
    fn the_path_it_was_started_by_when_path_finds_another_or_none() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let exe = executable(&root, "repo/target/release/ccbulk");
        let other = executable(&root, "installed/ccbulk");
        let path = std::env::join_paths([other.parent().unwrap()]).unwrap();
        let repo = root.join("repo");
        let name = |argv0: &Path, cwd: &Path, path: Option<&OsStr>| {
            name_for(&exe, Some(argv0.as_os_str()), Some(cwd), path)
        };
        // As typed, relative to the current folder.
        let typed = Path::new("target/release/ccbulk");
        assert_eq!(name(typed, &repo, Some(&path)), "target/release/ccbulk");
        // `cargo run` starts it by its absolute path: shown from the current folder.
        assert_eq!(name(&exe, &repo, None), "target/release/ccbulk");
        let release = exe.parent().unwrap();
        assert_eq!(name(&exe, release, None), "./ccbulk", "never a bare name");
        // From elsewhere, the absolute path.
        let elsewhere = root.join("installed");
        assert_eq!(
            name(&exe, &elsewhere, Some(&path)),
            exe.display().to_string()
        );
        // A relative argv[0] that does not lead here from the current folder: the binary's path.
        assert_eq!(name(typed, &elsewhere, None), exe.display().to_string());
        // Started by a bare name that PATH maps elsewhere: the binary's path.
        assert_eq!(
            name(Path::new("ccbulk"), &repo, Some(&path)),
            exe.display().to_string()
        );
    }
}
