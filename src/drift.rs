//! Drift: a rendered [`Tree`] against what is on disk.
//!
//! One function serves `render --check`, `render` (to know what changes) and
//! any command that needs the output to be current. `render` first compares
//! each file as it is made ([`holds`], [`holds_others`]) and reads the whole
//! directory only when something differs. Files orchctl did not
//! write (no header) are never part of the comparison; one of them standing
//! where orchctl would write is a conflict.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::emit::{Tree, is_generated};
use crate::source::slash_path;

/// Most files an output directory may hold.
const MAX_FILES: usize = 100_000;

/// What is in an output directory now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnDisk {
    /// Files orchctl wrote: relative path → content (line endings normalised).
    pub generated: Tree,
    /// Files it did not write, relative paths.
    pub foreign: Vec<String>,
    /// Generated files whose line endings were normalised (CRLF on disk).
    pub crlf: BTreeSet<String>,
}

/// How a rendered tree differs from disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Files that would be created.
    pub added: Vec<String>,
    /// Files whose content would change.
    pub changed: Vec<String>,
    /// Files orchctl generated earlier that would be removed.
    pub removed: Vec<String>,
    /// Foreign files at paths orchctl would write.
    pub conflicts: Vec<String>,
    /// A unified diff of all of it.
    pub diff: String,
}

impl Drift {
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Read an output directory. A missing directory is empty.
///
/// # Errors
/// An I/O error reading the directory.
pub fn read_dir(dir: &Path) -> std::io::Result<OnDisk> {
    let mut out = OnDisk::default();
    // Walk the tree first, then read the files on all cores.
    let (files, others) = walk(dir)?;
    out.foreign = others;
    let texts = crate::par::map(&files, |(_, full)| {
        crate::source::read_regular(full)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|text| is_generated(text))
    });
    for ((path, _), text) in files.into_iter().zip(texts) {
        match text {
            Some(text) => {
                let len = text.len();
                let text = normalize(text);
                if text.len() != len {
                    out.crlf.insert(path.clone());
                }
                out.generated.insert(path, text);
            }
            None => out.foreign.push(path),
        }
    }
    out.foreign.sort();
    Ok(out)
}

/// A regular file under an output directory: (relative path, full path).
type Found = (String, PathBuf);

/// Every file under `dir` (none if it is missing): the regular ones as
/// (relative path, full path), then the relative paths of the rest (symlinks,
/// FIFOs, sockets, devices: never followed or read, the user's, kept as they
/// are).
fn walk(dir: &Path) -> std::io::Result<(Vec<Found>, Vec<String>)> {
    let (mut files, mut others) = (Vec::new(), Vec::new());
    if !dir.exists() {
        return Ok((files, others));
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let child = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(child);
            } else if !kind.is_file() {
                // A symlink, FIFO, socket or device: never followed or read.
                others.push(slash_path(&child));
            } else if files.len() == MAX_FILES {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_FILES} files; is this really an output directory?"
                )));
            } else {
                files.push((slash_path(&child), entry.path()));
            }
        }
    }
    Ok((files, others))
}

/// Whether the file `rel` under `dir` holds exactly `text` (line endings
/// aside), read into a buffer each thread reuses. A symlink, a directory or
/// anything unreadable there does not.
#[must_use]
pub fn holds(dir: &Path, rel: &str, text: &str) -> bool {
    use std::io::Read;
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    // A link is not followed, and a FIFO not waited on (it reads as empty).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let Ok(mut file) = options.open(dir.join(rel)) else {
        return false;
    };
    BUFFER.with_borrow_mut(|buffer| {
        // Room for the expected text and one byte more, so a file of the
        // same length is read in one call and the next one finds its end
        // (no size query first). The buffer keeps its length from file to
        // file: only room it never had is zeroed.
        let mut room = text.len() + 1;
        // With CRLF line ends the file is at most twice the text: anything
        // longer (a device that never ends) is not it.
        let most = 2 * text.len() + 1;
        let mut len = 0;
        loop {
            if len == room {
                if room >= most {
                    return false;
                }
                room = (room * 2).min(most);
            }
            if buffer.len() < room {
                buffer.resize(room, 0);
            }
            match file.read(&mut buffer[len..room]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let read = &buffer[..len];
        read == text.as_bytes()
            || (read.contains(&b'\r')
                && std::str::from_utf8(read).is_ok_and(|t| t.replace("\r\n", "\n") == text))
    })
}

/// A 64-bit fingerprint of `text`, to know that a file read back from disk
/// is still the text it was compared with. Not a defence against crafted
/// collisions (nothing here is adversarial): any accidental change of the
/// bytes or the length changes it. Four independent lanes of 8-byte words,
/// so it runs at memory speed.
#[must_use]
pub fn fingerprint(text: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(31);
    let word = |b: &[u8]| {
        let mut w = [0; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let bytes = text.as_bytes();
    let mut lanes = [1, 2, 3, 4];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = mix(*lane, word(w));
        }
    }
    let mut h = lanes.into_iter().fold(bytes.len() as u64, mix);
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        h = mix(h, word(w));
    }
    for &b in words.remainder() {
        h = mix(h, u64::from(b));
    }
    h ^ (h >> 29)
}

/// Whether `dir` holds a file orchctl generated that is not among `paths`
/// (sorted): one a render would remove. Anything that cannot be read counts,
/// so that the caller looks closer ([`read_dir`] reports the error).
#[must_use]
pub fn holds_others(dir: &Path, paths: &[&str]) -> bool {
    let Ok((files, _)) = walk(dir) else {
        return true;
    };
    files.iter().any(|(rel, full)| {
        paths.binary_search(&rel.as_str()).is_err()
            && crate::source::read_regular(full).map_or(true, |bytes| {
                std::str::from_utf8(&bytes).is_ok_and(is_generated)
            })
    })
}

fn normalize(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text
    }
}

/// Compare `tree` with `disk`; `label` names the output directory in the
/// diff headers (e.g. `generated`).
#[must_use]
pub fn compare(tree: &Tree, disk: &OnDisk, label: &str) -> Drift {
    compare_with(tree, disk, label, true)
}

/// [`compare`], building the unified diff only when `with_diff` (`render`
/// needs to know what changes, not to print it).
#[must_use]
pub fn compare_with(tree: &Tree, disk: &OnDisk, label: &str, with_diff: bool) -> Drift {
    let mut drift = Drift::default();
    let unified = |out: &mut String, old: &str, new: &str, a: &str, b: &str| {
        if with_diff {
            unified(out, old, new, a, b);
        }
    };
    // A file orchctl did not write in the way of one it writes: at its path,
    // inside a directory at its path, or a file where its directory goes.
    let in_the_way = |path: &str, foreign: &str| {
        let under = |long: &str, short: &str| {
            long.len() > short.len()
                && long.starts_with(short)
                && long.as_bytes()[short.len()] == b'/'
        };
        foreign == path || under(foreign, path) || under(path, foreign)
    };
    for (path, new) in tree {
        if disk.foreign.iter().any(|f| in_the_way(path, f)) {
            drift.conflicts.push(path.clone());
            continue;
        }
        match disk.generated.get(path) {
            None => {
                drift.added.push(path.clone());
                unified(
                    &mut drift.diff,
                    "",
                    new,
                    "/dev/null",
                    &format!("b/{label}/{path}"),
                );
            }
            Some(old) if old != new => {
                drift.changed.push(path.clone());
                unified(
                    &mut drift.diff,
                    old,
                    new,
                    &format!("a/{label}/{path}"),
                    &format!("b/{label}/{path}"),
                );
            }
            Some(_) => {}
        }
    }
    for (path, old) in &disk.generated {
        if !tree.contains_key(path) {
            drift.removed.push(path.clone());
            unified(
                &mut drift.diff,
                old,
                "",
                &format!("a/{label}/{path}"),
                "/dev/null",
            );
        }
    }
    drift
}

fn unified(out: &mut String, old: &str, new: &str, a: &str, b: &str) {
    let diff = TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .diff_lines(old, new);
    let _ = write!(
        out,
        "{}",
        diff.unified_diff().context_radius(3).header(a, b)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# Code generated by orchctl from pipelines/a.yaml. DO NOT EDIT.\nx: 1\n";

    #[test]
    fn a_fingerprint_changes_with_any_byte_and_the_length() {
        // Every length from 0 to 3 blocks and a bit, so the lanes, the
        // whole words after them and the last bytes are each exercised.
        let text: String = (0..100u8).map(|i| char::from(b'a' + i % 26)).collect();
        let mut seen = std::collections::HashSet::new();
        for len in 0..=text.len() {
            let t = &text[..len];
            assert!(seen.insert(fingerprint(t)), "length {len}");
            for at in 0..len {
                let mut changed = t.as_bytes().to_vec();
                changed[at] ^= 1;
                let changed = String::from_utf8(changed).unwrap();
                assert_ne!(
                    fingerprint(t),
                    fingerprint(&changed),
                    "length {len}, byte {at}"
                );
            }
        }
        // Two words swapped are a change too.
        assert_ne!(
            fingerprint("aaaaaaaabbbbbbbb"),
            fingerprint("bbbbbbbbaaaaaaaa")
        );
        assert_ne!(
            fingerprint(&format!("{}{}", "x".repeat(32), "y".repeat(32))),
            fingerprint(&format!("{}{}", "y".repeat(32), "x".repeat(32)))
        );
    }

    #[test]
    fn holds_the_same_text_up_to_line_endings_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("same.yaml"), TEXT).unwrap();
        fs::write(d.join("crlf.yaml"), TEXT.replace('\n', "\r\n")).unwrap();
        fs::write(d.join("other.yaml"), TEXT.replace('1', "2")).unwrap();
        fs::write(d.join("longer.yaml"), format!("{TEXT}y: 2\n")).unwrap();
        fs::write(d.join("binary.yaml"), b"\xff\r\n").unwrap();
        assert!(holds(d, "same.yaml", TEXT));
        assert!(holds(d, "crlf.yaml", TEXT));
        for rel in [
            "other.yaml",
            "longer.yaml",
            "binary.yaml",
            "missing.yaml",
            "sub",
        ] {
            assert!(!holds(d, rel, TEXT), "{rel}");
        }
        #[cfg(unix)]
        {
            // A link to the very same text is the user's file, not orchctl's.
            std::os::unix::fs::symlink("same.yaml", d.join("link.yaml")).unwrap();
            assert!(!holds(d, "link.yaml", TEXT));
        }
        // Whatever the buffer held before does not leak into the next file:
        // not even a file that stops short after one that held it all.
        fs::write(d.join("shorter.yaml"), &TEXT[..TEXT.len() - 3]).unwrap();
        fs::write(d.join("empty.yaml"), "").unwrap();
        assert!(!holds(d, "other.yaml", TEXT));
        assert!(holds(d, "same.yaml", TEXT));
        assert!(!holds(d, "shorter.yaml", TEXT));
        assert!(holds(d, "same.yaml", TEXT));
        assert!(!holds(d, "empty.yaml", TEXT));
        assert!(holds(d, "longer.yaml", &format!("{TEXT}y: 2\n")));
        assert!(!holds(d, "same.yaml", &format!("{TEXT}y: 2\n")));
    }

    #[test]
    fn others_are_generated_files_outside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(!holds_others(&d.join("missing"), &[]));
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("a.yaml"), TEXT).unwrap();
        fs::write(d.join("sub/b.yaml"), TEXT).unwrap();
        fs::write(d.join("NOTES.md"), "by hand\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("a.yaml", d.join("link.yaml")).unwrap();
        assert!(!holds_others(d, &["a.yaml", "sub/b.yaml"]));
        // A generated file the tree no longer has would be removed.
        assert!(holds_others(d, &["a.yaml"]));
        assert!(holds_others(d, &["sub/b.yaml"]));
    }

    #[test]
    fn classifies_changes() {
        let tree: Tree = [
            (
                "a.yaml".to_string(),
                "# Code generated by orchctl\nx: 2\n".to_string(),
            ),
            (
                "b.yaml".to_string(),
                "# Code generated by orchctl\nnew\n".to_string(),
            ),
            (
                "own.yaml".to_string(),
                "# Code generated by orchctl\n".to_string(),
            ),
        ]
        .into();
        let disk = OnDisk {
            generated: [
                (
                    "a.yaml".to_string(),
                    "# Code generated by orchctl\nx: 1\n".to_string(),
                ),
                (
                    "old.yaml".to_string(),
                    "# Code generated by orchctl\n".to_string(),
                ),
            ]
            .into(),
            foreign: vec!["own.yaml".to_string()],
            crlf: BTreeSet::new(),
        };
        let d = compare(&tree, &disk, "generated");
        assert_eq!(d.added, ["b.yaml"]);
        assert_eq!(d.changed, ["a.yaml"]);
        assert_eq!(d.removed, ["old.yaml"]);
        assert_eq!(d.conflicts, ["own.yaml"]);
        assert!(
            d.diff
                .contains("--- a/generated/a.yaml\n+++ b/generated/a.yaml\n")
        );
        assert!(d.diff.contains("-x: 1\n+x: 2\n"));
    }
}
