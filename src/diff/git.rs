//! Reading the spec at a git revision, with the `git` command (plumbing
//! only: `rev-parse`, `merge-base`, `ls-tree`, `cat-file`), into a scratch
//! directory that orchctl's loader reads like any other.

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

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        // The spec directory is a path, never a pattern.
        .env("GIT_LITERAL_PATHSPECS", "1")
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

/// Write the files under `prefix` (relative to the repository root, `/`
/// separated; empty for the root) at `commit` into `into`, keeping their
/// paths below `prefix`. Returns how many files were written; none when
/// `prefix` does not exist at that commit.
///
/// # Errors
/// When git fails or a file cannot be written.
pub fn checkout_dir(
    repo: &Path,
    commit: &str,
    prefix: &str,
    into: &Path,
) -> Result<usize, Diagnostic> {
    let fail = |e: String| {
        Diagnostic::error(
            Code::Git,
            format!("cannot read `{prefix}` at {commit}: {e}"),
        )
    };
    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", commit];
    if !prefix.is_empty() {
        args.extend(["--", prefix]);
    }
    let listing = git(repo, &args).map_err(fail)?;
    let mut written = 0;
    for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (Some(mode), Some(kind), Some(id)) = (meta.next(), meta.next(), meta.next()) else {
            continue;
        };
        // Blobs only: no symlinks (120000) or submodules.
        if kind != "blob" || mode == "120000" {
            continue;
        }
        let relative = if prefix.is_empty() {
            path
        } else {
            match path.strip_prefix(prefix).and_then(|p| p.strip_prefix('/')) {
                Some(r) => r,
                None => continue,
            }
        };
        if relative.split('/').any(|c| c == ".." || c.is_empty()) {
            continue;
        }
        let bytes = git(repo, &["cat-file", "blob", id]).map_err(fail)?;
        let target = into.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
        }
        std::fs::write(&target, bytes).map_err(|e| fail(e.to_string()))?;
        written += 1;
    }
    Ok(written)
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
