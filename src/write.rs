//! Writing a rendered tree to disk, atomically.
//!
//! The new tree is built in a staging directory beside the output directory,
//! then swapped in with one atomic `renameat2(RENAME_EXCHANGE)` on Linux. An
//! interrupted render leaves either the old tree or the new one, never a mix;
//! files orchctl did not write are never removed or overwritten.
//!
//! Renders into the same output directory run one after another: each holds
//! an exclusive lock on the directory that contains it ([`lock`]) from before
//! it reads the old tree until the new one is in place.
//!
//! Only files whose bytes change are written. Every other file of the old
//! tree, orchctl's unchanged ones and every file it did not write, goes into
//! the new tree as a hard link to itself: the same file, with its inode,
//! modification time and permissions, and no new inode to allocate or old one
//! to free. Where the file system cannot link, such a file is written from
//! its text, or copied.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::drift::{self, Drift};
use crate::emit::Tree;
use crate::source::slash_path;

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing differed; nothing was written.
    Unchanged,
    /// The tree was replaced; the old one could not all be removed if
    /// `Some` (see [`Leftover`]).
    Written(Drift, Option<Leftover>),
}

/// An old tree, already replaced, that could not be removed: it stays,
/// hidden beside the output directory (`.NAME.orchctl-replaced-PID`), and
/// later renders try again. (A directory whose owner made it read-only is
/// made writable first, so this takes an immutable file or the like.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    /// Why: the error removing it.
    pub why: String,
}

/// Why a write did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// Files orchctl did not write stand where it would write.
    Conflicts(Vec<String>),
    /// A directory in the output directory is a mount point (relative
    /// path): replacing the tree would move it away with the old one.
    MountPoint(String),
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
            Self::MountPoint(rel) => write!(f, "`{rel}` in it is a mount point"),
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

/// Test hook: fail after this many file writes (to prove atomicity).
const FAIL_AFTER_ENV: &str = "ORCHCTL_TEST_FAIL_AFTER_WRITES";

/// An exclusive lock that renders into one output directory share, released
/// when dropped. Without it, a second render would remove the first one's
/// staging directory as a leftover, or link files of a tree swapped in
/// after it read the old one.
#[derive(Debug)]
pub struct Lock {
    _held: Option<fs::File>,
}

/// Take the lock for renders into `dir`: `flock` on the directory holding it
/// (that of the directory a symlinked `dir` points to), exclusive to write
/// (`shared` false; the directory holding `dir` is made if missing) or
/// shared to read (`render --check`), waiting for a writer to finish first,
/// after calling `waiting`. Renders into sibling directories also take
/// turns. Where the directory cannot be opened or the file system has no
/// locks (or off Unix), renders go unlocked: a staging directory removed
/// under one then fails it, never half-written.
#[must_use]
pub fn lock(dir: &Path, shared: bool, waiting: impl FnOnce()) -> Lock {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let Ok(dir) = through_link(dir) else {
            return Lock { _held: None };
        };
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !shared && !parent.exists() {
            let _ = fs::create_dir_all(parent);
        }
        let Ok(file) = fs::File::open(parent) else {
            return Lock { _held: None };
        };
        let flock = |how| loop {
            // SAFETY: a valid open descriptor, owned by `file`.
            if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let how = if shared { libc::LOCK_SH } else { libc::LOCK_EX };
        match flock(how | libc::LOCK_NB) {
            Ok(()) => return Lock { _held: Some(file) },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                waiting();
                if flock(how).is_ok() {
                    return Lock { _held: Some(file) };
                }
            }
            Err(_) => {}
        }
        Lock { _held: None }
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, shared, waiting);
        Lock { _held: None }
    }
}

/// Write `tree` to `dir`. `label` names `dir` in diffs.
///
/// # Errors
/// Conflicting foreign files, or an I/O error (the old tree is then intact).
pub fn write_tree(tree: &Tree, dir: &Path, label: &str) -> Result<Outcome, WriteError> {
    let dir = &through_link(dir)?;
    recover(dir);
    let disk = drift::read_dir(dir).map_err(|e| WriteError::Io(dir.to_path_buf(), e))?;
    replace_tree(tree, dir, label, &disk)
}

/// [`write_tree`] when `dir` was just read ([`drift::read_dir`]) into
/// `disk`, which decides the change counts and the files kept.
///
/// # Errors
/// As [`write_tree`].
pub fn write_tree_over(
    tree: &Tree,
    dir: &Path,
    label: &str,
    disk: &drift::OnDisk,
) -> Result<Outcome, WriteError> {
    let dir = &through_link(dir)?;
    recover(dir);
    replace_tree(tree, dir, label, disk)
}

fn replace_tree(
    tree: &Tree,
    dir: &Path,
    label: &str,
    disk: &drift::OnDisk,
) -> Result<Outcome, WriteError> {
    let drift = drift::compare_with(tree, disk, label, false);
    if !drift.conflicts.is_empty() {
        return Err(WriteError::Conflicts(drift.conflicts));
    }
    if drift.is_clean() && dir.is_dir() {
        return Ok(Outcome::Unchanged);
    }
    if let Some(mount) = mounts_under(dir).first() {
        return Err(WriteError::MountPoint(slash_path(mount)));
    }
    let stage = Stage::new(dir.to_path_buf(), true)?;
    let files: Vec<(&String, &String)> = tree.iter().collect();
    crate::par::map(&files, |(rel, text)| {
        // The same bytes as on disk: the same file.
        if disk.generated.get(*rel) == Some(*text) && !disk.crlf.contains(*rel) {
            stage.keep(rel, text);
        } else {
            stage.write(rel, text);
        }
    });
    for rel in &disk.foreign {
        stage.keep_foreign(rel)?;
    }
    let left = stage.finish()?;
    Ok(Outcome::Written(drift, left))
}

/// Write through a symlinked output directory, never replace the link.
/// (A trailing `/`, as completion adds it, names the same directory.)
fn through_link(dir: &Path) -> Result<PathBuf, WriteError> {
    let dir: &Path = &dir.components().collect::<PathBuf>();
    if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::canonicalize(dir).map_err(io_at(dir))
    } else {
        Ok(dir.to_path_buf())
    }
}

/// A new tree written file by file while the spec compiles, for an output
/// directory that holds no files yet: with nothing to compare and nothing to
/// keep, each file can go to disk as soon as it is made. The files land in a
/// staging directory beside the output directory; nothing is visible until
/// [`Stage::finish`] renames it into place, and a stage dropped unfinished
/// (a compile error) removes it. A process killed meanwhile leaves only the
/// hidden staging directory, which the next run removes.
#[derive(Debug)]
pub struct Stage {
    dir: PathBuf,
    staging: PathBuf,
    /// Whether the new tree replaces a tree in `dir` (swapped in), or `dir`
    /// is absent or empty (renamed onto, which fails if anything appeared
    /// there meanwhile: nothing is ever removed that orchctl did not see).
    replace: bool,
    fail_after: Option<usize>,
    started: AtomicUsize,
    /// The first write that failed; later writes are skipped.
    error: Mutex<Option<WriteError>>,
    finished: bool,
    /// Removes the staging directory if the process has to exit at once.
    _undo: crate::abort::Undo,
}

impl Stage {
    /// A stage for `dir` if it is absent or an empty directory; `None` if it
    /// holds anything, when the new tree must be compared with it and files
    /// orchctl did not write kept ([`write_tree`]).
    ///
    /// # Errors
    /// An I/O error reading `dir` or creating the staging directory.
    pub fn fresh(dir: &Path) -> Result<Option<Self>, WriteError> {
        let dir = through_link(dir)?;
        recover(&dir);
        match fs::read_dir(&dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Ok(None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(WriteError::Io(dir, e)),
        }
        Self::new(dir, false).map(Some)
    }

    /// A new, empty staging directory beside `dir`.
    fn new(dir: PathBuf, replace: bool) -> Result<Self, WriteError> {
        // A leftover of an earlier run of the same id (in a container, say)
        // is removed, or else passed by.
        let staging =
            free_sibling(&dir, "staging", |old| remove_tree(old).is_ok()).map_err(io_at(&dir))?;
        fs::create_dir_all(&staging).map_err(io_at(&staging))?;
        keep_mode(&staging, &dir);
        let undo = {
            let staging = staging.clone();
            crate::abort::on_abort(move || {
                let _ = remove_tree(&staging);
            })
        };
        Ok(Self {
            dir,
            staging,
            replace,
            fail_after: std::env::var(FAIL_AFTER_ENV)
                .ok()
                .and_then(|v| v.parse().ok()),
            started: AtomicUsize::new(0),
            error: Mutex::new(None),
            finished: false,
            _undo: undo,
        })
    }

    /// Write the file `rel` of the new tree (from any thread). An error is
    /// kept for [`Stage::finish`].
    pub fn write(&self, rel: &str, text: &str) {
        self.put(rel, |path, _| create_new(path, text.as_bytes()));
    }

    /// Put the file `rel` of the output directory, which holds exactly
    /// `text`, into the new tree as it is: a hard link, or written from
    /// `text` where the file system cannot link.
    fn keep(&self, rel: &str, text: &str) {
        let from = self.dir.join(rel);
        self.put(rel, |path, retry| match fs::hard_link(&from, path) {
            Ok(()) => Ok(()),
            // Perhaps no such directory in the new tree yet: `put` makes it
            // and asks again.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !retry => Err(e),
            Err(_) => create_new(path, text.as_bytes()),
        });
    }

    /// Make the file `rel` of the new tree with `make` (given its path, and
    /// whether this is the second try), creating its directory if the first
    /// try finds none. An error is kept for [`Stage::finish`]; after one,
    /// nothing more is made.
    fn put(&self, rel: &str, make: impl Fn(&Path, bool) -> io::Result<()>) {
        if self.failed() {
            return;
        }
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let path = self.staging.join(rel);
        let written = if self.fail_after.is_some_and(|after| n >= after) {
            Err(io::Error::other("injected failure"))
        } else {
            make(&path, false).or_else(|e| match path.parent() {
                Some(parent) if e.kind() == io::ErrorKind::NotFound => {
                    dirs_below(&self.staging, parent).and_then(|()| make(&path, true))
                }
                _ => Err(e),
            })
        };
        if let Err(e) = written {
            self.error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert(WriteError::Io(path, e));
        }
    }

    /// Put the file `rel` orchctl did not write into the new tree, unchanged:
    /// a hard link to it, or a copy where the file system cannot link.
    fn keep_foreign(&self, rel: &str) -> Result<(), WriteError> {
        let (from, to) = (self.dir.join(rel), self.staging.join(rel));
        if let Some(parent) = to.parent() {
            dirs_below(&self.staging, parent).map_err(io_at(parent))?;
        }
        copy_foreign(&from, &to).map_err(io_at(&from))
    }

    fn failed(&self) -> bool {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    /// Put the new tree in place; the old one, if any, is removed after,
    /// or else returned as [`Leftover`].
    ///
    /// # Errors
    /// The first write that failed, or the rename; the output directory is
    /// then as it was, and the staging directory removed.
    pub fn finish(mut self) -> Result<Option<Leftover>, WriteError> {
        let error = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(e) = error {
            return Err(e);
        }
        let mut left = None;
        if self.replace {
            left = swap(&self.staging, &self.dir)?;
        } else {
            // Renaming onto an empty directory replaces it atomically on
            // Unix; elsewhere the empty directory goes first.
            fs::rename(&self.staging, &self.dir)
                .or_else(|e| {
                    if fs::remove_dir(&self.dir).is_ok() {
                        fs::rename(&self.staging, &self.dir)
                    } else {
                        Err(e)
                    }
                })
                .map_err(io_at(&self.dir))?;
        }
        self.finished = true;
        Ok(left)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.finished {
            let _ = remove_tree(&self.staging);
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |e| WriteError::Io(path.to_path_buf(), e)
}

/// Replace the file `path` with `bytes`, atomically: written in full to a
/// hidden file beside it, with its permissions, flushed to disk, then
/// renamed over it. A failure (a full disk, say) leaves the old file as it
/// was. A symlink is written through: the file it points to is replaced,
/// the link kept. A device or a pipe (`/dev/stdout`, `>(…)`) is written to
/// as it is, and a link to nothing makes its target.
///
/// # Errors
/// The first I/O error (the hidden file is then removed); a directory at
/// `path` is `InvalidInput`.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let existing = fs::metadata(path).ok();
    match &existing {
        Some(meta) if meta.is_dir() => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a directory"));
        }
        Some(meta) if !meta.is_file() => return fs::write(path, bytes),
        None if fs::symlink_metadata(path).is_ok() => return fs::write(path, bytes),
        _ => {}
    }
    // Through a link, the file it points to is the one replaced.
    let path = if existing.is_some() {
        fs::canonicalize(path)?
    } else {
        path.to_path_buf()
    };
    let temp = sibling(&path, "new");
    let written = (|| {
        let mut file = open_new(&temp)?;
        file.write_all(bytes)?;
        if let Some(meta) = &existing {
            file.set_permissions(meta.permissions())?;
        }
        // An error the file system reports late (a quota, NFS) shows here,
        // before the old file is replaced.
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// `fs::create_dir_all(dir)` for `dir` at or below `root`, but never
/// `root` itself: a staging directory removed meanwhile (by anything but this
/// process) fails the render rather than being made again, half-filled.
fn dirs_below(root: &Path, dir: &Path) -> io::Result<()> {
    if dir == root || !dir.starts_with(root) {
        return if dir == root && root.is_dir() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the staging directory was removed",
            ))
        };
    }
    let made = match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            dirs_below(root, dir.parent().unwrap_or(root))?;
            fs::create_dir(dir)
        }
        made => made,
    };
    match made {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        made => made,
    }
}

/// A hidden sibling of `dir` for this process.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    numbered_sibling(dir, what, 0)
}

/// [`sibling`], with `-n` after the process id when `n` is not 0.
fn numbered_sibling(dir: &Path, what: &str, n: u32) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "generated".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let id = std::process::id();
    parent.join(if n == 0 {
        format!(".{name}.orchctl-{what}-{id}")
    } else {
        format!(".{name}.orchctl-{what}-{id}-{n}")
    })
}

/// The first [`numbered_sibling`] of `dir` that is free, or that `clear`
/// frees.
fn free_sibling(dir: &Path, what: &str, clear: impl Fn(&Path) -> bool) -> io::Result<PathBuf> {
    for n in 0..100 {
        let path = numbered_sibling(dir, what, n);
        if fs::symlink_metadata(&path).is_err() || clear(&path) {
            return Ok(path);
        }
    }
    Err(io::Error::other(
        "no free name for a hidden directory beside it",
    ))
}

/// Open a new file for writing, never one that exists: in the staging
/// directory, a name already there may be a link to a file of the old tree,
/// which writing through would change.
fn open_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn create_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    open_new(path)?.write_all(bytes)
}

/// Link, or else copy, a file orchctl did not write; a symlink stays a
/// symlink.
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
    fs::hard_link(from, to).or_else(|_| {
        let mut source = crate::source::open_regular(from)?;
        let mut target = open_new(to)?;
        io::copy(&mut source, &mut target)?;
        target.set_permissions(source.metadata()?.permissions())
    })
}

/// Put `staging` in place of `dir`, atomically where the platform allows,
/// then remove the old tree (or return it as left over).
fn swap(staging: &Path, dir: &Path) -> Result<Option<Leftover>, WriteError> {
    if !dir.exists() {
        return fs::rename(staging, dir).map(|()| None).map_err(io_at(dir));
    }
    if exchange(staging, dir).is_ok() {
        // `staging` now holds the old tree.
        return Ok(discard(dir, staging));
    }
    // No atomic exchange here: move the old tree aside, then the new one in.
    // `recover` restores the old tree if a run stops between the two.
    let old = free_sibling(dir, "old", |_| false).map_err(io_at(dir))?;
    fs::rename(dir, &old).map_err(io_at(dir))?;
    if let Err(e) = fs::rename(staging, dir) {
        let _ = fs::rename(&old, dir);
        return Err(WriteError::Io(dir.to_path_buf(), e));
    }
    Ok(discard(dir, &old))
}

/// Remove `old`, a tree `dir` held before; what cannot be removed is
/// renamed `-replaced-` to say what it is, and so that no later run takes
/// it for a tree moved aside and puts it back.
fn discard(dir: &Path, old: &Path) -> Option<Leftover> {
    let why = remove_tree(old).err()?.to_string();
    let path = free_sibling(dir, "replaced", |_| false)
        .ok()
        .filter(|to| fs::rename(old, to).is_ok())
        .unwrap_or_else(|| old.to_path_buf());
    Some(Leftover { path, why })
}

/// Remove a tree orchctl made or replaced (a staging directory, an old
/// output tree). Refused, with nothing removed, if anything in it is a
/// mount point: what is there is not orchctl's to remove. Where removal is
/// refused, the directories in it whose owner made them read-only are made
/// writable, as removing their entries needs (the tree is no longer the
/// output, so its modes guard nothing), and it is tried once more.
fn remove_tree(path: &Path) -> io::Result<()> {
    if let Some(mount) = mounts_under(path).first() {
        return Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!("`{}` in it is a mount point", slash_path(mount)),
        ));
    }
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            owner_writable(path);
            fs::remove_dir_all(path)
        }
        done => done,
    }
}

/// Give every directory in the tree at `root` its owner's read, write and
/// search permission, each before it is read; links are not followed.
fn owner_writable(root: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let Ok(meta) = fs::symlink_metadata(&dir) else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            let mode = meta.permissions().mode();
            if mode & 0o700 != 0o700 {
                let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700));
            }
            if let Ok(entries) = fs::read_dir(&dir) {
                dirs.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = root;
}

/// The mount points strictly inside the directory `dir` (bind mounts of a
/// file or of a directory on the same file system included), relative to
/// it, from `/proc/self/mountinfo`: one read, however large the tree.
/// None where that cannot be read (off Linux).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let Ok(table) = fs::read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = table
        .split(|b| *b == b'\n')
        // The fifth field is where it is mounted.
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .filter_map(|point| {
            let point = PathBuf::from(unescape_octal(point));
            let rel = point.strip_prefix(&dir).ok()?;
            (!rel.as_os_str().is_empty()).then(|| rel.to_path_buf())
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A path as `/proc/self/mountinfo` writes it, with `\NNN` (octal) for a
/// space, tab, newline or backslash.
fn unescape_octal(field: &[u8]) -> std::ffi::OsString {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let code = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let Some(d) = code {
            out.push(d.iter().fold(0u8, |n, b| n.wrapping_mul(8) + (b - b'0')));
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    #[cfg(unix)]
    return std::os::unix::ffi::OsStringExt::from_vec(out);
    #[cfg(not(unix))]
    String::from_utf8_lossy(&out).into_owned().into()
}

/// Give the new tree's directory the group and mode of the one it replaces,
/// if there is one, before anything is made in it: with a shared group's
/// setgid bit, the new files then belong to that group too. The owner keeps
/// write access (a read-only tree could not be replaced next time).
fn keep_mode(staging: &Path, dir: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = fs::metadata(dir) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = std::os::unix::fs::chown(staging, None, Some(meta.gid()));
        let mode = (meta.mode() & 0o7777) | 0o700;
        let _ = fs::set_permissions(staging, fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (staging, dir);
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // The system call itself rather than libc's wrapper, which glibc has only
    // since 2.28 and the musl that Rust's musl targets link (as of Rust 1.95)
    // not at all: with the wrapper, a static musl build does not link.
    // SAFETY: both paths are valid NUL-terminated strings that outlive the
    // call, and the arguments are those renameat2(2) takes, in its order.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
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
    let ours = format!(".{name}.orchctl-");
    let moved_aside = format!("{ours}old-");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&moved_aside) && !dir.exists() {
            let _ = fs::rename(entry.path(), dir);
        } else if file.starts_with(&moved_aside) {
            // Perhaps emptied in part if it stays: never put back.
            let _ = discard(dir, &entry.path());
        } else if file.starts_with(&ours) {
            let _ = remove_tree(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_read_as_the_kernel_writes_them() {
        assert_eq!(unescape_octal(b"/srv/a\\040b\\134c"), "/srv/a b\\c");
        assert_eq!(unescape_octal(b"/x\\9"), "/x\\9");
        #[cfg(target_os = "linux")]
        assert!(mounts_under(Path::new("/")).contains(&PathBuf::from("proc")));
    }

    /// A hidden name left by an earlier run with the same process id (in a
    /// container, say) that cannot be removed is passed by.
    #[test]
    fn a_hidden_name_in_use_is_passed_by() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("generated");
        let first = numbered_sibling(&out, "staging", 0);
        fs::create_dir(&first).unwrap();
        let second = free_sibling(&out, "staging", |_| false).unwrap();
        assert_eq!(second, numbered_sibling(&out, "staging", 1));
        assert!(second.to_string_lossy().ends_with(&format!(
            "/.generated.orchctl-staging-{}-1",
            std::process::id()
        )));
        let cleared = free_sibling(&out, "staging", |p| fs::remove_dir(p).is_ok()).unwrap();
        assert_eq!(cleared, first);
    }

    #[test]
    fn replace_file_swaps_in_the_whole_file_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.yaml");
        fs::write(&path, "old\n").unwrap();
        replace_file(&path, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        // A write that cannot finish (here: its hidden file cannot be made)
        // leaves the old file, and nothing beside it.
        let blocker = sibling(&path, "new");
        fs::create_dir(&blocker).unwrap();
        assert!(replace_file(&path, b"newer\n").is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        fs::remove_dir(&blocker).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["spec.yaml"]);
        // A directory: refused. A device: written to as it is.
        assert!(replace_file(dir.path(), b"x").is_err());
        #[cfg(unix)]
        replace_file(Path::new("/dev/null"), b"x").unwrap();
    }
}
