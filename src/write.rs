//! Writing a rendered tree to disk, atomically.
//!
//! The new tree is built in a staging directory beside the output directory
//! (with every file orchctl did not write copied over unchanged), then swapped
//! in with one atomic `renameat2(RENAME_EXCHANGE)` on Linux. An interrupted
//! render leaves either the old tree or the new one, never a mix; files
//! orchctl did not write are never removed or overwritten.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::drift::{self, Drift};
use crate::emit::Tree;

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing differed; nothing was written.
    Unchanged,
    /// The tree was replaced.
    Written(Drift),
}

/// Why a write did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// Files orchctl did not write stand where it would write.
    Conflicts(Vec<String>),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conflicts(paths) => write!(
                f,
                "files not written by orchctl are in the way: {}",
                paths.join(", ")
            ),
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

/// Test hook: fail after this many file writes (to prove atomicity).
const FAIL_AFTER_ENV: &str = "ORCHCTL_TEST_FAIL_AFTER_WRITES";

/// Write `tree` to `dir`. `label` names `dir` in diffs.
///
/// # Errors
/// Conflicting foreign files, or an I/O error (the old tree is then intact).
pub fn write_tree(tree: &Tree, dir: &Path, label: &str) -> Result<Outcome, WriteError> {
    // Write through a symlinked output directory, never replace the link.
    let resolved;
    let dir = if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = fs::canonicalize(dir).map_err(io_at(dir))?;
        resolved.as_path()
    } else {
        dir
    };
    recover(dir);
    let disk = drift::read_dir(dir).map_err(|e| WriteError::Io(dir.to_path_buf(), e))?;
    let drift = drift::compare_with(tree, &disk, label, false);
    if !drift.conflicts.is_empty() {
        return Err(WriteError::Conflicts(drift.conflicts));
    }
    if drift.is_clean() && dir.is_dir() {
        return Ok(Outcome::Unchanged);
    }
    let staging = sibling(dir, "staging");
    let result = stage(tree, &disk.foreign, dir, &staging).and_then(|()| swap(&staging, dir));
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(Outcome::Written(drift))
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |e| WriteError::Io(path.to_path_buf(), e)
}

/// A hidden sibling of `dir` for this process.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "generated".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.orchctl-{what}-{}", std::process::id()))
}

fn stage(tree: &Tree, foreign: &[String], dir: &Path, staging: &Path) -> Result<(), WriteError> {
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(io_at(staging))?;
    }
    fs::create_dir_all(staging).map_err(io_at(staging))?;
    let fail_after: Option<usize> = std::env::var(FAIL_AFTER_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    // Directories first, each once; then the files, on all cores.
    let mut dirs: Vec<PathBuf> = tree
        .keys()
        .filter_map(|rel| Path::new(rel).parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| staging.join(p))
        .collect();
    dirs.dedup();
    for d in &dirs {
        fs::create_dir_all(d).map_err(io_at(d))?;
    }
    let files: Vec<(usize, (&String, &String))> = tree.iter().enumerate().collect();
    let written = crate::par::map(&files, |&(i, (rel, content))| {
        let path = staging.join(rel);
        if fail_after.is_some_and(|n| i >= n) {
            return Err(WriteError::Io(path, io::Error::other("injected failure")));
        }
        fs::write(&path, content).map_err(|e| WriteError::Io(path, e))
    });
    written.into_iter().collect::<Result<(), WriteError>>()?;
    for rel in foreign {
        let (from, to) = (dir.join(rel), staging.join(rel));
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        copy_foreign(&from, &to).map_err(io_at(&from))?;
    }
    Ok(())
}

/// Copy a file orchctl did not write; a symlink stays a symlink.
fn copy_foreign(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(from)?;
        #[cfg(unix)]
        return std::os::unix::fs::symlink(target, to);
        #[cfg(not(unix))]
        return fs::copy(from, to)
            .map(|_| ())
            .or_else(|_| fs::write(to, target.to_string_lossy().as_bytes()));
    }
    fs::copy(from, to).map(|_| ())
}

/// Put `staging` in place of `dir`, atomically where the platform allows.
fn swap(staging: &Path, dir: &Path) -> Result<(), WriteError> {
    if !dir.exists() {
        return fs::rename(staging, dir).map_err(io_at(dir));
    }
    if exchange(staging, dir).is_ok() {
        // `staging` now holds the old tree.
        let _ = fs::remove_dir_all(staging);
        return Ok(());
    }
    // No atomic exchange here: move the old tree aside, then the new one in.
    // `recover` restores the old tree if a run stops between the two.
    let old = sibling(dir, "old");
    fs::rename(dir, &old).map_err(io_at(dir))?;
    if let Err(e) = fs::rename(staging, dir) {
        let _ = fs::rename(&old, dir);
        return Err(WriteError::Io(dir.to_path_buf(), e));
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Clean up after an interrupted run: restore a tree moved aside, drop
/// stale staging directories.
fn recover(dir: &Path) {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&format!(".{name}.orchctl-old-")) && !dir.exists() {
            let _ = fs::rename(entry.path(), dir);
        } else if file.starts_with(&format!(".{name}.orchctl-")) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
