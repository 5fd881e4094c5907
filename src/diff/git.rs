//! Reading the spec at a git revision, with the `git` command (plumbing
//! only: `rev-parse`, `merge-base`, `ls-tree`, `cat-file --batch`), into a
//! scratch directory that orchctl's loader reads like any other.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::diagnostic::{Code, Diagnostic};

/// The base of a diff: what was asked for and the commit it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The full commit id.
    pub commit: String,
    /// How it was chosen: `origin/main`, "merge base of HEAD and origin/main", `HEAD`.
    pub description: String,
}

impl Revision {
    /// The first 7 characters of the commit.
    #[must_use]
    pub fn short(&self) -> &str {
        &self.commit[..self.commit.len().min(7)]
    }
}

fn command(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(repo)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        // The spec directory is a path, never a pattern.
        .env("GIT_LITERAL_PATHSPECS", "1");
    command
}

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = command(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("git failed")
            .trim()
            .to_string())
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// The top of the work tree holding `dir`.
///
/// # Errors
/// When `dir` is not in a git work tree, or git cannot run.
pub fn toplevel(dir: &Path) -> Result<PathBuf, Diagnostic> {
    git(dir, &["rev-parse", "--show-toplevel"])
        .map(|o| PathBuf::from(text(&o)))
        .map_err(|e| {
            Diagnostic::error(
                Code::Git,
                format!("`{}` is not in a git repository: {e}", dir.display()),
            )
            .help("orchctl diff compares the spec at a git revision with the working tree; run it inside the repository")
        })
}

/// The commit `rev` names.
///
/// # Errors
/// When it names no commit.
pub fn commit(repo: &Path, rev: &str) -> Result<String, Diagnostic> {
    git(repo, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map(|o| text(&o))
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Diagnostic::error(Code::Git, format!("`{rev}` is not a commit of this repository"))
                .help("give --base a branch, tag or commit; in a shallow clone, fetch it first (`git fetch origin main`)")
        })
}

/// The base to compare with: `base` when given; else the merge base of
/// `HEAD` with the default branch (`origin/HEAD`, else `main`, `master`,
/// `origin/main`, `origin/master`); else `HEAD`.
///
/// # Errors
/// When `base` names no commit, or the repository has no commits.
pub fn base(repo: &Path, base: Option<&str>) -> Result<Revision, Diagnostic> {
    if let Some(rev) = base {
        return Ok(Revision {
            commit: commit(repo, rev)?,
            description: rev.to_string(),
        });
    }
    let default = git(
        repo,
        &[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ],
    )
    .map(|o| text(&o))
    .ok()
    .filter(|b| !b.is_empty() && commit(repo, b).is_ok())
    .or_else(|| {
        ["main", "master", "origin/main", "origin/master"]
            .into_iter()
            .find(|b| commit(repo, b).is_ok())
            .map(str::to_string)
    });
    if let Some(branch) = default
        && let Ok(out) = git(repo, &["merge-base", "HEAD", &branch])
    {
        let merge_base = text(&out);
        if !merge_base.is_empty() {
            return Ok(Revision {
                commit: merge_base,
                description: format!("merge base of HEAD and {branch}"),
            });
        }
    }
    Ok(Revision {
        commit: commit(repo, "HEAD").map_err(|_| {
            Diagnostic::error(Code::Git, "the repository has no commits yet")
                .help("commit the spec first, or give --base")
        })?,
        description: "HEAD".to_string(),
    })
}

/// Check out the files under `prefix` (relative to the repository root, `/`
/// separated; empty for the root) at `commit` into `into`, laid out as in
/// the repository. Returns the directory that holds them, or `None` when
/// `prefix` is no directory at that commit.
///
/// Symbolic links are followed as the kernel would follow them in a
/// checkout of `commit` (one at a time, each from where it is, up to 40),
/// and each is made a link straight to where it leads, so that the loader
/// reads what a checkout would give it and decides the same: a prompt file
/// behind a link out of the directory is refused at the base as in the
/// working tree. A file a link leads to outside `prefix` is checked out
/// too; a directory is made, empty (a prompt named through it is then "not
/// found", even one that would come back into `prefix`). Links are not
/// counted across a whole path, only each link's own chain. Where a link
/// leads out of the repository, it points where
/// the kernel would lead, and what is there is not versioned; where that
/// comes back into the repository, the rest is read at `commit`. Paths are
/// kept as git stores them, byte for byte; nothing is written through a
/// link. Submodules are skipped.
///
/// # Errors
/// When git fails or a file cannot be written.
pub fn checkout_dir(
    repo: &Path,
    commit: &str,
    prefix: &str,
    into: &Path,
) -> Result<Option<PathBuf>, Diagnostic> {
    let fail = |e: String| {
        Diagnostic::error(
            Code::Git,
            format!("cannot read `{prefix}` at {commit}: {e}"),
        )
    };
    let listing = ls_tree(repo, commit, Some(prefix)).map_err(fail)?;
    let mut out = Checkout::new(into);
    let links = listing.iter().any(|e| e.kind == Kind::Link);
    if !links && listing.iter().any(|e| e.path == prefix.as_bytes()) {
        // A file where the directory was.
        return Ok(None);
    }
    let root = if !listing.is_empty() && !links {
        // No links: the files as they are.
        for entry in listing {
            if entry.kind == Kind::Blob {
                out.blobs.push((entry.path, entry.id));
            }
        }
        prefix.as_bytes().to_vec()
    } else {
        // Links, or nothing at `prefix` (its directory may be behind one).
        let index = Index::read(repo, commit).map_err(fail)?;
        let top = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
        let root = match index.resolve(&top, b"", prefix.as_bytes(), 0) {
            Target::Tree(root) => root,
            // A link out of the repository: what is there, not versioned.
            Target::Outside(dir) if dir.is_dir() => return Ok(Some(dir)),
            _ => return Ok(None),
        };
        let mut reached = BTreeSet::new();
        for (path, (kind, id)) in &index.entries {
            if !within(&root, path) {
                continue;
            }
            match kind {
                Kind::Blob => out.blobs.push((path.clone(), id.clone())),
                Kind::Link => {
                    let to = match index.follow(&top, path) {
                        Target::Blob(b) | Target::Tree(b) if within(&root, &b) => out.at(&b),
                        Target::Blob(b) => {
                            let to = out.at(&b);
                            if let Some((_, id)) = index.entries.get(&b)
                                && reached.insert(b.clone())
                            {
                                out.blobs.push((b, id.clone()));
                            }
                            to
                        }
                        Target::Tree(t) => {
                            out.dirs.push(t.clone());
                            out.at(&t)
                        }
                        Target::Outside(p) => p,
                        // Never made (git stores no `.git`): reading it says
                        // there is no such file.
                        Target::Missing => into.join(".git/missing"),
                        // Itself: reading it says "too many levels of links".
                        Target::Loop => out.at(path),
                    };
                    out.links.push((path.clone(), to));
                }
                Kind::Tree => out.dirs.push(path.clone()),
                Kind::Module => {}
            }
        }
        root
    };
    if out.blobs.is_empty() && out.links.is_empty() {
        return Ok(None);
    }
    let dir = out.at(&root);
    out.write(repo).map_err(fail)?;
    Ok(Some(dir))
}

/// What an entry of a tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blob,
    Tree,
    Link,
    /// A submodule's commit.
    Module,
}

/// One entry of `git ls-tree`: its path as git stores it.
struct Entry {
    kind: Kind,
    id: String,
    path: Vec<u8>,
}

/// Every file and link at or below `path` at `commit` (the whole tree when
/// `None`, with its directories).
fn ls_tree(repo: &Path, commit: &str, path: Option<&str>) -> Result<Vec<Entry>, String> {
    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree"];
    match path {
        None => args.extend(["-t", commit]),
        Some("") => args.push(commit),
        Some(path) => args.extend([commit, "--", path]),
    }
    let listing = git(repo, &args)?;
    Ok(listing
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let tab = entry.iter().position(|b| *b == b'\t')?;
            let (meta, path) = (std::str::from_utf8(&entry[..tab]).ok()?, &entry[tab + 1..]);
            let mut meta = meta.split(' ');
            let kind = match (meta.next()?, meta.next()?) {
                ("120000", _) => Kind::Link,
                (_, "blob") => Kind::Blob,
                (_, "tree") => Kind::Tree,
                _ => Kind::Module,
            };
            safe(path).then(|| Entry {
                kind,
                id: meta.next().unwrap_or_default().to_string(),
                path: path.to_vec(),
            })
        })
        .collect())
}

/// The whole tree of a commit, to follow links in.
struct Index {
    entries: std::collections::BTreeMap<Vec<u8>, (Kind, String)>,
    /// Each link's target, as stored.
    links: std::collections::HashMap<Vec<u8>, Vec<u8>>,
}

/// Where a path leads at the commit.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Blob(Vec<u8>),
    Tree(Vec<u8>),
    /// Out of the repository, in the file system as it is.
    Outside(PathBuf),
    Missing,
    /// More than 40 links.
    Loop,
}

/// How many links the kernel follows in one lookup (`ELOOP` after).
const MAX_LINKS: usize = 40;

impl Index {
    fn read(repo: &Path, commit: &str) -> Result<Self, String> {
        let mut entries = std::collections::BTreeMap::new();
        let mut links = Vec::new();
        for entry in ls_tree(repo, commit, None)? {
            if entry.kind == Kind::Link {
                links.push((entry.path.clone(), entry.id.clone()));
            }
            entries.insert(entry.path, (entry.kind, entry.id));
        }
        let ids: Vec<&str> = links.iter().map(|(_, id)| id.as_str()).collect();
        let mut targets = Vec::with_capacity(ids.len());
        cat_blobs(repo, &ids, |_, blob| {
            let mut text = Vec::new();
            blob.read_to_end(&mut text)
                .map_err(|e| format!("git cat-file: {e}"))?;
            targets.push(text);
            Ok(())
        })?;
        Ok(Self {
            entries,
            links: links.into_iter().map(|(p, _)| p).zip(targets).collect(),
        })
    }

    /// Where the link at `path` leads, as the kernel would follow it in a
    /// checkout of the commit at `top` (the repository's canonical path).
    fn follow(&self, top: &Path, path: &[u8]) -> Target {
        // The link's own name, looked up from its directory: the link is
        // the first of the 40, and its text checked as any other's.
        let name = &path[parent(path).len()..];
        self.resolve(
            top,
            parent(path),
            name.strip_prefix(b"/").unwrap_or(name),
            0,
        )
    }

    /// Where the path `target` leads from the directory `dir` (a repository
    /// path) in a checkout of the commit at `top`, `followed` links
    /// followed so far: one name at a time, each link's target put in its
    /// place, links in the repository as they are at the commit, links out
    /// of it as they are in the file system, until the path leads back in.
    fn resolve(&self, top: &Path, dir: &[u8], target: &[u8], mut followed: usize) -> Target {
        /// Where the walk is: a directory of the commit's tree, or one of
        /// the file system outside it (no link in it).
        enum At {
            Tree(Vec<Vec<u8>>),
            Outside(PathBuf),
        }
        let mut at = if target.first() == Some(&b'/') {
            At::Outside(PathBuf::from("/"))
        } else {
            At::Tree(components(dir).map(<[u8]>::to_vec).collect())
        };
        let mut rest: VecDeque<Vec<u8>> = components(target).map(<[u8]>::to_vec).collect();
        // Each link's target takes the link's place in what is left.
        let splice = |rest: &mut VecDeque<Vec<u8>>, text: &[u8]| {
            for c in components(text).rev() {
                rest.push_front(c.to_vec());
            }
        };
        while let Some(name) = rest.pop_front() {
            if name == b"." {
                continue;
            }
            match &mut at {
                At::Tree(dirs) if name == b".." => {
                    if dirs.pop().is_none() {
                        // Above the top: on in the file system.
                        at = At::Outside(top.parent().unwrap_or(top).to_path_buf());
                    }
                }
                At::Tree(dirs) => {
                    dirs.push(name);
                    let path = dirs.join(&b'/');
                    match self.entries.get(&path) {
                        Some((Kind::Tree, _)) => {}
                        Some((Kind::Blob, _)) if rest.is_empty() => return Target::Blob(path),
                        Some((Kind::Link, _)) => {
                            followed += 1;
                            if followed > MAX_LINKS {
                                return Target::Loop;
                            }
                            dirs.pop();
                            let text = self.links.get(&path).map_or(&[][..], |t| link_text(t));
                            // git cannot check out an empty one.
                            if text.is_empty() || text.len() > MAX_LINK_TEXT {
                                return Target::Missing;
                            }
                            if text.first() == Some(&b'/') {
                                at = At::Outside(PathBuf::from("/"));
                            }
                            splice(&mut rest, text);
                        }
                        // Nothing there, a file with more to follow, a submodule.
                        _ => return Target::Missing,
                    }
                }
                At::Outside(real) => {
                    if name == b".." {
                        real.pop();
                    } else {
                        real.push(OsStr::from_bytes(&name));
                        match std::fs::symlink_metadata(&*real) {
                            Ok(meta) if meta.file_type().is_symlink() => {
                                followed += 1;
                                let text = std::fs::read_link(&*real).unwrap_or_default();
                                if followed > MAX_LINKS {
                                    return Target::Loop;
                                }
                                real.pop();
                                if text.is_absolute() {
                                    *real = PathBuf::from("/");
                                }
                                splice(&mut rest, text.as_os_str().as_bytes());
                            }
                            Ok(meta) if meta.is_dir() => {}
                            // A file, or nothing: the kernel says which.
                            _ => {
                                real.extend(rest.iter().map(|c| OsStr::from_bytes(c)));
                                return Target::Outside(real.clone());
                            }
                        }
                    }
                    if real == top {
                        // Back in: the rest is read at the commit.
                        at = At::Tree(Vec::new());
                    }
                }
            }
        }
        match at {
            At::Tree(dirs) => Target::Tree(dirs.join(&b'/')),
            At::Outside(real) => Target::Outside(real),
        }
    }
}

/// A link's target as the kernel takes it: up to a NUL, as git writes it.
fn link_text(stored: &[u8]) -> &[u8] {
    stored.split(|b| *b == 0).next().unwrap_or_default()
}

/// The longest link target the kernel follows (`PATH_MAX` less its NUL); git
/// cannot check out a longer one.
const MAX_LINK_TEXT: usize = 4095;

/// The components of a `/` separated path, with `.` for an empty one after
/// a name (`a//b`, or a trailing `/` that asks for a directory); a leading
/// `/` dropped.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    let path = path.strip_prefix(b"/").unwrap_or(path);
    path.split(|b| *b == b'/')
        .filter(move |_| !path.is_empty())
        .map(|c| if c.is_empty() { &b"."[..] } else { c })
}

/// The directory of a repository path (empty at the top).
fn parent(path: &[u8]) -> &[u8] {
    path.iter()
        .rposition(|b| *b == b'/')
        .map_or(&[][..], |i| &path[..i])
}

/// Whether `path` is `dir` or below it (every path is below the empty one,
/// the top of the repository).
fn within(dir: &[u8], path: &[u8]) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/'))
}

/// Whether a path from git can be written below the scratch directory as it
/// is: relative, with no empty, `.`, `..` or `.git` component (git checks
/// none of those out either).
fn safe(path: &[u8]) -> bool {
    !path.is_empty()
        && path
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b".." && !c.eq_ignore_ascii_case(b".git"))
}

/// What to write into the scratch directory.
struct Checkout<'a> {
    into: &'a Path,
    /// Files: repository path and blob.
    blobs: Vec<(Vec<u8>, String)>,
    /// Directories to make, besides those files are in.
    dirs: Vec<Vec<u8>>,
    /// Links: repository path and where the link points.
    links: Vec<(Vec<u8>, PathBuf)>,
    /// Directories made (or found) so far.
    made: std::collections::HashSet<PathBuf>,
}

impl<'a> Checkout<'a> {
    fn new(into: &'a Path) -> Self {
        Self {
            into,
            blobs: Vec::new(),
            dirs: Vec::new(),
            links: Vec::new(),
            made: std::collections::HashSet::new(),
        }
    }

    /// A path in the scratch directory as the repository's, for messages.
    fn shown(&self, at: &Path) -> String {
        crate::source::slash_path(at.strip_prefix(self.into).unwrap_or(at))
    }

    /// The repository path `path` in the scratch directory.
    fn at(&self, path: &[u8]) -> PathBuf {
        if path.is_empty() {
            self.into.to_path_buf()
        } else {
            self.into.join(OsStr::from_bytes(path))
        }
    }

    fn write(mut self, repo: &Path) -> Result<(), String> {
        let blobs = std::mem::take(&mut self.blobs);
        let ids: Vec<&str> = blobs.iter().map(|(_, id)| id.as_str()).collect();
        // Each file written as it comes, never all of them in memory.
        cat_blobs(repo, &ids, |i, blob| {
            let at = self.made_parent(&blobs[i].0)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&at)
                .and_then(|mut f| std::io::copy(blob, &mut f))
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", self.shown(&at)))
        })?;
        for dir in std::mem::take(&mut self.dirs) {
            self.made_dir(&dir)?;
        }
        for (path, to) in std::mem::take(&mut self.links) {
            let at = self.made_parent(&path)?;
            // Where no link could lead (a path too long to follow): nowhere.
            let to = if to.as_os_str().len() > MAX_LINK_TEXT {
                self.into.join(".git/missing")
            } else {
                to
            };
            std::os::unix::fs::symlink(&to, &at)
                .map_err(|e| format!("{}: {e}", self.shown(&at)))?;
        }
        Ok(())
    }

    /// Make the directory `path` is in; its place in the scratch directory.
    fn made_parent(&mut self, path: &[u8]) -> Result<PathBuf, String> {
        self.made_dir(parent(path))?;
        Ok(self.at(path))
    }

    /// Make the directory `dir` and those above it, never through a link.
    fn made_dir(&mut self, dir: &[u8]) -> Result<(), String> {
        let mut at = self.into.to_path_buf();
        for name in components(dir) {
            at.push(OsStr::from_bytes(name));
            if self.made.contains(&at) {
                continue;
            }
            match std::fs::symlink_metadata(&at) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(format!("{}: not a directory", self.shown(&at))),
                Err(_) => {
                    std::fs::create_dir(&at).map_err(|e| format!("{}: {e}", self.shown(&at)))?;
                }
            }
            self.made.insert(at.clone());
        }
        Ok(())
    }
}

/// The contents of the blobs `ids`, read by one `git cat-file --batch`,
/// given to `each` in order (with the blob's index) as they come.
fn cat_blobs(
    repo: &Path,
    ids: &[&str],
    mut each: impl FnMut(usize, &mut dyn Read) -> Result<(), String>,
) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut child = command(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("cannot run git: no pipes".to_string());
    };
    let input: String = ids.iter().flat_map(|id| [id, "\n"]).collect();
    let read = std::thread::scope(|s| {
        // Written while the answers are read: either side may fill a pipe.
        s.spawn(move || stdin.write_all(input.as_bytes()));
        let mut answers = BufReader::new(stdout);
        for (i, id) in ids.iter().enumerate() {
            let mut header = String::new();
            answers
                .read_line(&mut header)
                .map_err(|e| format!("git cat-file: {e}"))?;
            // `<id> blob <size>`, or `<id> missing`.
            let size = match header.trim_end().split(' ').collect::<Vec<_>>()[..] {
                [_, "blob", size] => size.parse::<usize>().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("git cat-file: no blob {id}"))?;
            let mut blob = (&mut answers).take(size as u64);
            each(i, &mut blob)?;
            // What `each` left, and the line end after the blob.
            std::io::copy(&mut blob, &mut std::io::sink())
                .and_then(|_| answers.read_exact(&mut [0]))
                .map_err(|e| format!("git cat-file: {e}"))?;
        }
        Ok(())
    });
    let _ = child.kill();
    let output = child.wait_with_output();
    read.map_err(|e: String| {
        // git's own words, where it said why.
        output
            .ok()
            .and_then(|o| {
                let err = String::from_utf8_lossy(&o.stderr).into_owned();
                err.lines()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.trim().to_string())
            })
            .unwrap_or(e)
    })
}

/// A scratch directory removed when dropped.
pub struct ScratchDir {
    path: PathBuf,
    /// Removes the directory if the process has to exit at once.
    _undo: crate::abort::Undo,
}

impl ScratchDir {
    /// A new empty directory under the system's temporary directory.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn new() -> Result<Self, Diagnostic> {
        // Absolute: links are made to places in it.
        let base = std::env::temp_dir();
        let base = base.canonicalize().unwrap_or(base);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for attempt in 0..100u32 {
            let dir = base.join(format!(
                "orchctl-diff-{}-{stamp}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let undo = {
                        let dir = dir.clone();
                        crate::abort::on_abort(move || {
                            let _ = std::fs::remove_dir_all(dir);
                        })
                    };
                    return Ok(Self {
                        path: dir,
                        _undo: undo,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Diagnostic::error(
                        Code::Io,
                        format!(
                            "cannot create a scratch directory in `{}`: {e}",
                            base.display()
                        ),
                    ));
                }
            }
        }
        Err(Diagnostic::error(
            Code::Io,
            format!("cannot create a scratch directory in `{}`", base.display()),
        ))
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of `entries`: (path, kind, link target).
    fn index(entries: &[(String, Kind, String)]) -> Index {
        Index {
            entries: entries
                .iter()
                .map(|(p, k, _)| (p.as_bytes().to_vec(), (*k, String::new())))
                .collect(),
            links: entries
                .iter()
                .filter(|(_, k, _)| *k == Kind::Link)
                .map(|(p, _, t)| (p.as_bytes().to_vec(), t.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn links_resolve_as_the_kernel_resolves_them() {
        let top = Path::new("/nowhere/repo");
        let mut entries: Vec<(String, Kind, String)> = [
            ("p", Kind::Tree, ""),
            ("p/a.yaml", Kind::Blob, ""),
            ("p/lib", Kind::Link, "../shared"),
            ("shared", Kind::Tree, ""),
            ("shared/x.md", Kind::Blob, ""),
            ("p/x.md", Kind::Link, "lib/./x.md"),
            ("p/loop", Kind::Link, "loop2"),
            ("p/loop2", Kind::Link, "./loop"),
            ("p/gone", Kind::Link, "missing/x"),
            ("p/through-a-file", Kind::Link, "a.yaml/x"),
            ("p/up", Kind::Link, "../.."),
            ("p/abs", Kind::Link, "/nowhere/else/x"),
            ("p/nul", Kind::Link, "a.yaml\0junk"),
            ("p/empty", Kind::Link, ""),
            ("p/forty", Kind::Link, "c1"),
            ("p/forty-one", Kind::Link, "forty"),
            ("p/c39", Kind::Link, "a.yaml"),
        ]
        .iter()
        .map(|(p, k, t)| ((*p).to_string(), *k, (*t).to_string()))
        .collect();
        for n in 1..39 {
            entries.push((format!("p/c{n}"), Kind::Link, format!("c{}", n + 1)));
        }
        let i = index(&entries);
        let at = |target: &str| i.resolve(top, b"p", target.as_bytes(), 0);
        let blob = |p: &str| Target::Blob(p.as_bytes().to_vec());
        assert_eq!(at("x.md"), blob("shared/x.md"));
        assert_eq!(at("lib"), Target::Tree(b"shared".to_vec()));
        assert_eq!(at("../p/lib/../p/a.yaml"), blob("p/a.yaml"));
        assert_eq!(at("loop"), Target::Loop);
        assert_eq!(at("gone"), Target::Missing);
        assert_eq!(at("through-a-file"), Target::Missing);
        assert_eq!(at("up/x"), Target::Outside(PathBuf::from("/nowhere/x")));
        assert_eq!(at("abs"), Target::Outside(PathBuf::from("/nowhere/else/x")));
        assert_eq!(i.resolve(top, b"", b"", 0), Target::Tree(Vec::new()));
        // A trailing `/` or `/.` asks for a directory.
        assert_eq!(at("a.yaml/"), Target::Missing);
        assert_eq!(at("x.md/."), Target::Missing);
        assert_eq!(at("lib/"), Target::Tree(b"shared".to_vec()));
        // The link itself counts: 40 links in all are followed, 41 are not.
        assert_eq!(i.follow(top, b"p/forty"), blob("p/a.yaml"));
        assert_eq!(i.follow(top, b"p/forty-one"), Target::Loop);
        // Up to a NUL, as git writes a link.
        assert_eq!(i.follow(top, b"p/nul"), blob("p/a.yaml"));
        // git checks out no empty link, and no `.git`.
        assert_eq!(i.follow(top, b"p/empty"), Target::Missing);
        assert_eq!(at("empty/a.yaml"), Target::Missing);
        assert!(!safe(b"p/.git/x") && !safe(b".GIT") && safe(b"p/.gitx"));
    }
}
