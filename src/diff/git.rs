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
/// found" where a checkout says "outside the pipelines directory": refused
/// either way). Where a link leads out of the repository, it points where
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
    let root = if !listing.is_empty() && listing.iter().all(|e| e.kind != Kind::Link) {
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
        let Target::Tree(root) = index.resolve(&top, b"", prefix.as_bytes()) else {
            return Ok(None);
        };
        let mut reached = BTreeSet::new();
        for (path, (kind, id)) in &index.entries {
            if !within(&root, path) {
                continue;
            }
            match kind {
                Kind::Blob => out.blobs.push((path.clone(), id.clone())),
                Kind::Link => {
                    let text = index.links.get(path).map_or(&[][..], Vec::as_slice);
                    let target = index.resolve(&top, parent(path), text);
                    let to = match target {
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
                        // Never made: reading it says there is no such file.
                        Target::Missing => into.join(".orchctl-missing"),
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
        let targets = cat_blobs(repo, &ids)?;
        Ok(Self {
            entries,
            links: links.into_iter().map(|(p, _)| p).zip(targets).collect(),
        })
    }

    /// Where `target` leads from the directory `dir` (a repository path),
    /// `top` being the repository's canonical path.
    fn resolve(&self, top: &Path, dir: &[u8], target: &[u8]) -> Target {
        let mut followed = 0;
        if target.first() == Some(&b'/') {
            return self.outside(top, PathBuf::from(OsStr::from_bytes(target)), &mut followed);
        }
        let at = components(dir).map(<[u8]>::to_vec).collect();
        let rest = components(target).map(<[u8]>::to_vec).collect();
        self.walk(top, at, rest, &mut followed)
    }

    /// Follow the components `rest` from the directory `at`, as the kernel
    /// does.
    fn walk(
        &self,
        top: &Path,
        mut at: Vec<Vec<u8>>,
        mut rest: VecDeque<Vec<u8>>,
        followed: &mut usize,
    ) -> Target {
        while let Some(name) = rest.pop_front() {
            if name == b".." {
                if at.pop().is_none() {
                    // Above the repository: on in the file system.
                    let mut path = top.parent().unwrap_or(top).to_path_buf();
                    path.extend(rest.iter().map(|c| OsStr::from_bytes(c)));
                    return self.outside(top, path, followed);
                }
                continue;
            }
            at.push(name);
            let path = at.join(&b'/');
            match self.entries.get(&path) {
                Some((Kind::Tree, _)) => {}
                Some((Kind::Blob, _)) if rest.is_empty() => return Target::Blob(path),
                Some((Kind::Link, _)) => {
                    *followed += 1;
                    if *followed > MAX_LINKS {
                        return Target::Loop;
                    }
                    at.pop();
                    let text = self.links.get(&path).map_or(&[][..], Vec::as_slice);
                    if text.first() == Some(&b'/') {
                        let mut path = PathBuf::from(OsStr::from_bytes(text));
                        path.extend(rest.iter().map(|c| OsStr::from_bytes(c)));
                        return self.outside(top, path, followed);
                    }
                    for c in components(text).rev() {
                        rest.push_front(c.to_vec());
                    }
                }
                // Nothing there, a file with more to follow, a submodule.
                _ => return Target::Missing,
            }
        }
        Target::Tree(at.join(&b'/'))
    }

    /// Where the file system path `path` leads: back into the repository
    /// where a first part of it is the repository's directory (or one in
    /// it) in the file system as it is, the rest then read at the commit.
    fn outside(&self, top: &Path, path: PathBuf, followed: &mut usize) -> Target {
        let parts: Vec<_> = path.components().collect();
        for k in 1..=parts.len() {
            let first: PathBuf = parts[..k].iter().collect();
            let Ok(real) = first.canonicalize() else {
                break;
            };
            if let Ok(inside) = real.strip_prefix(top) {
                let at = inside
                    .components()
                    .map(|c| c.as_os_str().as_bytes().to_vec())
                    .collect();
                let rest = parts[k..]
                    .iter()
                    .map(|c| c.as_os_str().as_bytes().to_vec())
                    .collect();
                return self.walk(top, at, rest, followed);
            }
        }
        Target::Outside(path)
    }
}

/// The non-empty, non-`.` components of a `/` separated path.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
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
/// is: relative, with no empty, `.` or `..` component.
fn safe(path: &[u8]) -> bool {
    !path.is_empty()
        && path
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
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

    /// The repository path `path` in the scratch directory.
    fn at(&self, path: &[u8]) -> PathBuf {
        if path.is_empty() {
            self.into.to_path_buf()
        } else {
            self.into.join(OsStr::from_bytes(path))
        }
    }

    fn write(mut self, repo: &Path) -> Result<(), String> {
        let ids: Vec<&str> = self.blobs.iter().map(|(_, id)| id.as_str()).collect();
        let contents = cat_blobs(repo, &ids)?;
        let blobs = std::mem::take(&mut self.blobs);
        for ((path, _), bytes) in blobs.iter().zip(contents) {
            let at = self.made_parent(path)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&at)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(|e| format!("{}: {e}", at.display()))?;
        }
        for dir in std::mem::take(&mut self.dirs) {
            self.made_dir(&dir)?;
        }
        for (path, to) in std::mem::take(&mut self.links) {
            let at = self.made_parent(&path)?;
            std::os::unix::fs::symlink(&to, &at).map_err(|e| format!("{}: {e}", at.display()))?;
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
                Ok(_) => return Err(format!("{}: not a directory", at.display())),
                Err(_) => std::fs::create_dir(&at).map_err(|e| format!("{}: {e}", at.display()))?,
            }
            self.made.insert(at.clone());
        }
        Ok(())
    }
}

/// The contents of the blobs `ids`, in order, read by one
/// `git cat-file --batch`.
fn cat_blobs(repo: &Path, ids: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    if ids.is_empty() {
        return Ok(Vec::new());
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
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
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
            let mut bytes = vec![0; size + 1];
            answers
                .read_exact(&mut bytes)
                .map_err(|e| format!("git cat-file: {e}"))?;
            bytes.pop();
            out.push(bytes);
        }
        Ok(out)
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
        let base = std::env::temp_dir();
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
    fn index(entries: &[(&str, Kind, &str)]) -> Index {
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
        let i = index(&[
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
        ]);
        let at = |target: &str| i.resolve(top, b"p", target.as_bytes());
        let blob = |p: &str| Target::Blob(p.as_bytes().to_vec());
        assert_eq!(at("x.md"), blob("shared/x.md"));
        assert_eq!(at("lib"), Target::Tree(b"shared".to_vec()));
        assert_eq!(at("../p/lib/../p/a.yaml"), blob("p/a.yaml"));
        assert_eq!(at("loop"), Target::Loop);
        assert_eq!(at("gone"), Target::Missing);
        assert_eq!(at("through-a-file"), Target::Missing);
        assert_eq!(at("up/x"), Target::Outside(PathBuf::from("/nowhere/x")));
        assert_eq!(at("abs"), Target::Outside(PathBuf::from("/nowhere/else/x")));
        assert_eq!(i.resolve(top, b"", b""), Target::Tree(Vec::new()));
    }
}
