//! Reading the spec at a git revision, with the `git` command (plumbing
//! only: `rev-parse`, `merge-base`, `ls-tree`, `cat-file --batch`), into a
//! scratch directory that orchctl's loader reads like any other.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
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
/// the repository. Returns the directory that holds them (`into/prefix`),
/// or `None` when `prefix` holds no files at that commit.
///
/// Symbolic links are recreated, so the loader reads them as it reads the
/// working tree's: a link that stays inside the repository keeps its
/// target, and what it points to is checked out too, at `commit`, even
/// outside `prefix` (a prompt behind a link that leaves the pipelines
/// directory is refused at the base as it is in the working tree). A link
/// that leaves the repository points where it points from the working tree;
/// what is there is not versioned. Submodules are skipped.
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
    // Paths listed so far (each written once), blobs still to read, and
    // the paths to list next: `prefix` first, then what links point to.
    let mut seen = BTreeSet::new();
    let mut blobs: Vec<(String, PathBuf)> = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    let mut next = vec![prefix.to_string()];
    let mut files = 0;
    // As many rounds of links to links as the kernel follows (ELOOP).
    for _ in 0..40 {
        let mut links: Vec<(String, String)> = Vec::new();
        for path in std::mem::take(&mut next) {
            if listed.iter().any(|l| within(l, &path)) {
                continue;
            }
            for entry in ls_tree(repo, commit, &path).map_err(fail)? {
                if !safe(&entry.path) || !seen.insert(entry.path.clone()) {
                    continue;
                }
                match (entry.mode.as_str(), entry.kind.as_str()) {
                    ("120000", _) => links.push((entry.id, entry.path.clone())),
                    (_, "blob") => blobs.push((entry.id, into.join(&entry.path))),
                    // A submodule.
                    _ => continue,
                }
                if within(prefix, &entry.path) {
                    files += 1;
                }
            }
            listed.push(path);
        }
        if links.is_empty() {
            break;
        }
        let ids: Vec<&str> = links.iter().map(|(id, _)| id.as_str()).collect();
        let targets = cat_blobs(repo, &ids).map_err(fail)?;
        for ((_, path), target) in links.iter().zip(targets) {
            let target = String::from_utf8_lossy(&target).into_owned();
            let (link_to, inside) = link_target(repo, into, path, &target);
            if let Some(inside) = inside {
                next.push(inside);
            }
            let at = into.join(path);
            create_parent(&at).map_err(fail)?;
            std::os::unix::fs::symlink(&link_to, &at).map_err(|e| fail(e.to_string()))?;
        }
    }
    let ids: Vec<&str> = blobs.iter().map(|(id, _)| id.as_str()).collect();
    for ((_, at), bytes) in blobs.iter().zip(cat_blobs(repo, &ids).map_err(fail)?) {
        create_parent(at).map_err(fail)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(at)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok((files > 0).then(|| into.join(prefix)))
}

/// One entry of `git ls-tree`.
struct Entry {
    mode: String,
    kind: String,
    id: String,
    path: String,
}

/// Every file and link at or below `path` at `commit` (all of them when
/// `path` is empty), recursively.
fn ls_tree(repo: &Path, commit: &str, path: &str) -> Result<Vec<Entry>, String> {
    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", commit];
    if !path.is_empty() {
        args.extend(["--", path]);
    }
    let listing = git(repo, &args)?;
    Ok(listing
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (meta, path) = entry.split_once('\t')?;
            let mut meta = meta.split(' ');
            Some(Entry {
                mode: meta.next()?.to_string(),
                kind: meta.next()?.to_string(),
                id: meta.next()?.to_string(),
                path: path.to_string(),
            })
        })
        .collect())
}

/// Whether `path` is `dir` or below it (`/` separated; every path is below
/// the empty one, the repository root).
fn within(dir: &str, path: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a path from git can be written below the scratch directory as it
/// is: relative, with no empty, `.` or `..` component.
fn safe(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Where the link at `path` (relative to the repository) should point in
/// the checkout under `into`, and the repository path it leads to when
/// that is inside the repository (to check it out too).
///
/// A relative target that stays inside the repository is kept as it is:
/// the checkout has the repository's layout. An absolute target into the
/// repository is moved into the checkout. Anything else points where the
/// working tree's link points.
fn link_target(repo: &Path, into: &Path, path: &str, target: &str) -> (PathBuf, Option<String>) {
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    let from_root = if let Ok(rest) = Path::new(target).strip_prefix(repo) {
        Some(rest.to_string_lossy().into_owned())
    } else if Path::new(target).is_absolute() {
        None
    } else {
        Some(format!("{parent}/{target}"))
    };
    match from_root.as_deref().and_then(lexical) {
        Some(inside) if Path::new(target).is_absolute() => (into.join(&inside), Some(inside)),
        Some(inside) => (PathBuf::from(target), Some(inside)),
        None if Path::new(target).is_absolute() => (PathBuf::from(target), None),
        None => (repo.join(parent).join(target), None),
    }
}

/// A `/` separated path with `.` and `..` resolved by their names alone,
/// or `None` when it climbs above its root.
fn lexical(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn create_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|e| e.to_string()),
        None => Ok(()),
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
        .stderr(Stdio::null())
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
    let _ = child.wait();
    read
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
