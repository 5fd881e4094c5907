//! Crash safety of `orchctl render`: whenever it stops (an I/O error between
//! two file writes, or the process killed at any moment) `generated/` is
//! either exactly the old tree or exactly the new one, never a mix; the next
//! render cleans up after it; and files orchctl did not write (no header) are
//! never deleted or overwritten.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../bench/spec_gen.rs"]
mod spec_gen;

type Snapshot = BTreeMap<String, Vec<u8>>;

const FAIL_AFTER: &str = "ORCHCTL_TEST_FAIL_AFTER_WRITES";

/// `orchctl render --pipelines PIPELINES --out OUT`, without colour or an
/// injected failure.
fn render_cmd(pipelines: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchctl"));
    cmd.args(["render", "--pipelines"])
        .arg(pipelines)
        .arg("--out")
        .arg(out)
        .env("NO_COLOR", "1")
        .env_remove(FAIL_AFTER);
    cmd
}

fn orchctl(pipelines: &Path, out: &Path, env: Option<(&str, &str)>) -> Output {
    let mut cmd = render_cmd(pipelines, out);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn assert_ok(output: &Output, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Hidden `.NAME.orchctl-*` directories an interrupted render left beside `out`.
fn leftovers(out: &Path) -> Vec<String> {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let prefix = format!(".{name}.orchctl-");
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(&prefix))
        .collect()
}

/// A scratch copy of the reference pipelines, and an edited spec whose output
/// differs from it in many files.
struct Scratch {
    _dir: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
    out: PathBuf,
}

fn reference_scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old/pipelines");
    let new = dir.path().join("new/pipelines");
    common::copy_dir(&common::root().join("pipelines"), &old);
    common::copy_dir(&common::root().join("pipelines"), &new);
    // Changing the project's labels changes every generated object; removing
    // a chain makes one generated file stale.
    let platform = new.join("platform.yaml");
    let text = std::fs::read_to_string(&platform).unwrap();
    let edited = text.replacen(
        "  labels:\n",
        "  labels:\n    example.com/edited: \"yes\"\n",
        1,
    );
    assert_ne!(text, edited, "the reference platform has no project labels");
    std::fs::write(&platform, edited).unwrap();
    std::fs::remove_file(new.join("chains/runs.yaml")).unwrap();
    let out = dir.path().join("generated");
    Scratch {
        _dir: dir,
        old,
        new,
        out,
    }
}

#[test]
fn injected_failure_between_writes_leaves_the_old_tree() {
    let s = reference_scratch();
    assert_ok(&orchctl(&s.old, &s.out, None), "first render");
    // A file orchctl did not write, which must survive everything.
    std::fs::write(s.out.join("NOTES.md"), "kept by hand\n").unwrap();
    let before = common::snapshot_dir(&s.out);
    let new_files = common::compile(&s.new).tree.len();
    assert!(new_files > 5);
    let mut ks: Vec<usize> = vec![0, 1, 2, 3, new_files / 2, new_files - 1];
    ks.dedup();
    for k in ks {
        let output = orchctl(&s.new, &s.out, Some((FAIL_AFTER, &k.to_string())));
        assert_eq!(
            output.status.code(),
            Some(1),
            "a render failing after {k} writes must exit 1: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("injected failure"),
            "k={k}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            common::snapshot_dir(&s.out),
            before,
            "a render failing after {k} writes changed generated/"
        );
        assert_eq!(leftovers(&s.out), Vec::<String>::new(), "k={k}");
    }
    // Without the failure the new tree lands, the hand-written file kept.
    assert_ok(&orchctl(&s.new, &s.out, None), "render");
    let after = common::snapshot_dir(&s.out);
    assert_ne!(after, before);
    assert_eq!(after["NOTES.md"], b"kept by hand\n");
    assert!(!after.contains_key("workflowtemplates/coderun.yaml"));
}

#[test]
fn injected_failure_on_a_first_render_writes_nothing() {
    let s = reference_scratch();
    for k in [0, 1, 4] {
        let output = orchctl(&s.old, &s.out, Some((FAIL_AFTER, &k.to_string())));
        assert_eq!(output.status.code(), Some(1));
        assert!(
            !s.out.exists(),
            "k={k}: a failed first render left {}",
            s.out.display()
        );
        assert_eq!(leftovers(&s.out), Vec::<String>::new());
    }
}

/// A small deterministic generator for kill delays (no dependency needed);
/// the seed is printed so a failure can be replayed with `ORCHCTL_CRASH_SEED`.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `ORCHCTL_CRASH_SEED`, or one from the clock.
fn seed() -> u64 {
    std::env::var("ORCHCTL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}

/// Start `orchctl render` of `spec` into `out` and SIGKILL it after `delay`
/// (no chance to clean up), or once it has ended.
fn render_killed_after(spec: &Path, out: &Path, delay: Duration) {
    let mut child = render_cmd(spec, out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn killed_render_leaves_old_or_new_tree() {
    // A spec large enough that a render takes a while, in two variants whose
    // outputs differ in every chain file.
    let projects: usize = std::env::var("ORCHCTL_CRASH_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let iterations: usize = std::env::var("ORCHCTL_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<PathBuf> = (0..2)
        .map(|v| {
            let p = dir.path().join(format!("v{v}/pipelines"));
            spec_gen::generate(projects, &p, v);
            p
        })
        .collect();
    let out = dir.path().join("generated");
    // The complete tree of each variant, and how long a full render takes.
    let mut trees: Vec<Snapshot> = Vec::new();
    let mut slowest = Duration::ZERO;
    for (v, spec) in specs.iter().enumerate() {
        let reference = dir.path().join(format!("expected-{v}"));
        let start = Instant::now();
        assert_ok(&orchctl(spec, &reference, None), "render");
        slowest = slowest.max(start.elapsed());
        trees.push(common::snapshot_dir(&reference));
    }
    assert_ne!(trees[0], trees[1]);
    // A render over the other variant's tree (read, compare, stage, swap,
    // remove the old tree) is what gets killed below: time one.
    let start = Instant::now();
    assert_ok(
        &orchctl(&specs[1], &dir.path().join("expected-0"), None),
        "re-render",
    );
    slowest = slowest.max(start.elapsed());
    assert_ok(&orchctl(&specs[0], &out, None), "first render");
    assert_eq!(common::snapshot_dir(&out), trees[0]);

    let seed = seed();
    eprintln!(
        "killing renders of {projects} projects (a full render takes {slowest:?}); ORCHCTL_CRASH_SEED={seed}"
    );
    let mut rng = XorShift(seed);
    // Kill anywhere from at once to a little after a render would end.
    let window = (slowest.as_micros() as u64 * 5 / 4).max(1);
    let (mut old_seen, mut new_seen, mut left_behind) = (0, 0, 0);
    let mut current = 0;
    for i in 0..iterations {
        let target = 1 - current;
        let delay = Duration::from_micros(rng.next() % window);
        render_killed_after(&specs[target], &out, delay);
        let after = common::snapshot_dir(&out);
        if after == trees[current] {
            old_seen += 1;
        } else if after == trees[target] {
            new_seen += 1;
        } else {
            let differing: Vec<&String> = after
                .keys()
                .chain(trees[target].keys())
                .filter(|k| after.get(*k) != trees[target].get(*k))
                .take(5)
                .collect();
            panic!(
                "iteration {i} (killed after {delay:?}, seed {seed}): generated/ is neither the old \
                 nor the new tree ({} files; differs from the new tree at {differing:?})",
                after.len()
            );
        }
        if !leftovers(&out).is_empty() {
            left_behind += 1;
        }
        // The next render completes and cleans up.
        assert_ok(&orchctl(&specs[target], &out, None), "render after a kill");
        assert_eq!(common::snapshot_dir(&out), trees[target], "iteration {i}");
        assert_eq!(leftovers(&out), Vec::<String>::new(), "iteration {i}");
        current = target;
    }
    eprintln!(
        "{iterations} kills: old tree {old_seen}, new tree {new_seen}, staging left behind {left_behind}"
    );
}

#[test]
fn killed_first_render_leaves_nothing_or_the_new_tree() {
    // Into a missing output directory, files are written into a hidden
    // staging directory as the spec compiles, and it is renamed into place
    // at the end: killed at any moment, there is no output or all of it.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("pipelines");
    spec_gen::generate(150, &spec, 0);
    let reference = dir.path().join("expected");
    let start = Instant::now();
    assert_ok(&orchctl(&spec, &reference, None), "render");
    let window = (start.elapsed().as_micros() as u64 * 5 / 4).max(1);
    let tree = common::snapshot_dir(&reference);
    let out = dir.path().join("generated");
    let seed = seed();
    eprintln!("killing first renders; ORCHCTL_CRASH_SEED={seed}");
    let mut rng = XorShift(seed);
    let (mut nothing, mut whole) = (0, 0);
    for i in 0..12 {
        let delay = Duration::from_micros(rng.next() % window);
        render_killed_after(&spec, &out, delay);
        if out.exists() {
            assert_eq!(
                common::snapshot_dir(&out),
                tree,
                "iteration {i} (killed after {delay:?}, seed {seed}): a partial tree"
            );
            whole += 1;
        } else {
            nothing += 1;
        }
        // The next render cleans up what the killed one left.
        std::fs::remove_dir_all(&out).ok();
        assert_ok(&orchctl(&spec, &out, None), "render after a kill");
        assert_eq!(common::snapshot_dir(&out), tree, "iteration {i}");
        assert_eq!(leftovers(&out), Vec::<String>::new(), "iteration {i}");
        std::fs::remove_dir_all(&out).unwrap();
    }
    eprintln!("12 kills of a first render: nothing {nothing}, the whole tree {whole}");
}

#[test]
fn a_first_render_that_fails_late_leaves_nothing() {
    // The agents ConfigMap over its size limit is found only once every
    // other file has been made and staged: the staged files go with it.
    let s = reference_scratch();
    let prompt = "x".repeat(600 * 1024);
    std::fs::write(
        s.old.join("zz-big.yaml"),
        format!(
            "agents:\n  big-a: {{prompt: {prompt}, model: m, cli: claude}}\n  big-b: {{prompt: {prompt}, model: m, cli: claude}}\n"
        ),
    )
    .unwrap();
    let output = orchctl(&s.old, &s.out, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E032]: ConfigMap `controller-agents` would hold"),
        "{stderr}"
    );
    assert!(
        !s.out.exists(),
        "a failed first render left {}",
        s.out.display()
    );
    assert_eq!(leftovers(&s.out), Vec::<String>::new());
}

#[test]
fn a_render_with_an_object_too_large_to_store_changes_nothing() {
    // A WorkflowTemplate over the 1.5 MiB etcd stores, found when it is
    // emitted: neither a first render nor one over an existing tree writes.
    let s = reference_scratch();
    assert_ok(&orchctl(&s.old, &s.out, None), "first render");
    let tree = common::snapshot_dir(&s.out);
    let arg = "x".repeat(orchctl::MAX_OBJECT_BYTES);
    std::fs::write(
        s.old.join("chains/huge.yaml"),
        format!(
            "chains:\n  huge:\n    steps:\n      - name: build\n        container:\n          image: agent\n          command: [/bin/build, {arg}]\n"
        ),
    )
    .unwrap();
    let fresh = s.out.with_file_name("fresh");
    for out in [&s.out, &fresh] {
        let output = orchctl(&s.old, out, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error[E032]: WorkflowTemplate `huge` would be ")
                && stderr.contains(
                    " bytes of JSON, over the 1.5 MiB (1572864 bytes) etcd stores per object"
                )
                && stderr.contains("chains/huge.yaml:2:3"),
            "{stderr}"
        );
        assert_eq!(leftovers(out), Vec::<String>::new());
    }
    assert_eq!(common::snapshot_dir(&s.out), tree, "the tree changed");
    assert!(
        !fresh.exists(),
        "a failed first render left {}",
        fresh.display()
    );
}

/// Every file under `dir` (its snapshot), and each one's inode.
#[cfg(unix)]
fn with_inodes(dir: &Path) -> (Snapshot, BTreeMap<String, u64>) {
    use std::os::unix::fs::MetadataExt;
    let files = common::snapshot_dir(dir);
    let inodes = files
        .keys()
        .map(|rel| {
            let ino = std::fs::symlink_metadata(dir.join(rel)).unwrap().ino();
            (rel.clone(), ino)
        })
        .collect();
    (files, inodes)
}

/// A render that changes a few files writes only those: every other file,
/// orchctl's or not, goes into the new tree as it is (the same inode, so the
/// same modification time), and a render that fails at any point on the way
/// still leaves the old tree, links and all.
#[cfg(unix)]
#[test]
fn unchanged_files_are_kept_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old/pipelines");
    let new = dir.path().join("new/pipelines");
    common::copy_dir(&common::root().join("pipelines"), &old);
    common::copy_dir(&common::root().join("pipelines"), &new);
    std::fs::remove_file(new.join("chains/runs.yaml")).unwrap();
    let out = dir.path().join("generated");
    assert_ok(&orchctl(&old, &out, None), "first render");
    std::fs::write(out.join("NOTES.md"), "kept by hand\n").unwrap();
    let (before, before_inodes) = with_inodes(&out);

    let files = common::compile(&new).tree.len();
    for k in 0..files {
        let output = orchctl(&new, &out, Some((FAIL_AFTER, &k.to_string())));
        assert_eq!(output.status.code(), Some(1), "k={k}");
        let (files, inodes) = with_inodes(&out);
        assert_eq!(files, before, "k={k}");
        assert_eq!(inodes, before_inodes, "k={k}");
        assert_eq!(leftovers(&out), Vec::<String>::new(), "k={k}");
    }

    // A generated file with CRLF line ends holds the same text, but not the
    // same bytes as a render: it is written again.
    let crlf = "rbac/cto-play-role.yaml";
    let text = std::fs::read_to_string(out.join(crlf)).unwrap();
    std::fs::remove_file(out.join(crlf)).unwrap();
    std::fs::write(out.join(crlf), text.replace('\n', "\r\n")).unwrap();
    let (before, before_inodes) = with_inodes(&out);

    assert_ok(&orchctl(&new, &out, None), "render");
    let (after, after_inodes) = with_inodes(&out);
    assert_eq!(
        after,
        common::snapshot_dir(&{
            let fresh = dir.path().join("fresh");
            assert_ok(&orchctl(&new, &fresh, None), "render into a new directory");
            std::fs::write(fresh.join("NOTES.md"), "kept by hand\n").unwrap();
            fresh
        })
    );
    let (mut kept, mut written) = (Vec::new(), Vec::new());
    for (rel, ino) in &after_inodes {
        match before.get(rel) {
            Some(bytes) if *bytes == after[rel] => {
                assert_eq!(
                    before_inodes[rel], *ino,
                    "{rel} is unchanged but was written again"
                );
                kept.push(rel.as_str());
            }
            _ => {
                assert_ne!(before_inodes.get(rel), Some(ino), "{rel} changed in place");
                written.push(rel.as_str());
            }
        }
    }
    assert!(kept.contains(&"NOTES.md"), "{kept:?}");
    assert!(kept.len() > 20, "kept {kept:?}");
    assert_eq!(written, ["kustomization.yaml", crlf], "written");
    assert!(!after.contains_key("workflowtemplates/coderun.yaml"));
    assert_eq!(leftovers(&out), Vec::<String>::new());
}

/// As above with a tree large enough to be written on every core: the files
/// kept are linked from several threads at once, each directory made by
/// whichever comes first.
#[cfg(unix)]
#[test]
fn unchanged_files_are_kept_by_a_parallel_render() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("pipelines");
    spec_gen::generate(150, &spec, 0);
    let out = dir.path().join("generated");
    for round in 0..4 {
        assert_ok(&orchctl(&spec, &out, None), "render");
        let (before, before_inodes) = with_inodes(&out);
        assert!(before.len() > 150, "{} files", before.len());
        // One chain less, or back again.
        let chain = spec.join("chains/proj0075.yaml");
        if round % 2 == 0 {
            std::fs::rename(&chain, dir.path().join("proj0075.yaml")).unwrap();
        } else {
            std::fs::rename(dir.path().join("proj0075.yaml"), &chain).unwrap();
        }
        assert_ok(&orchctl(&spec, &out, None), "render");
        let (after, after_inodes) = with_inodes(&out);
        let written: Vec<&String> = after
            .keys()
            .filter(|rel| {
                before.get(*rel) != Some(&after[*rel]) || before_inodes[*rel] != after_inodes[*rel]
            })
            .collect();
        // The kustomization lists the files; the chain's template is new when
        // the chain comes back. Nothing else is written.
        let expected: &[&str] = if round % 2 == 0 {
            &["kustomization.yaml"]
        } else {
            &["kustomization.yaml", "workflowtemplates/proj0075.yaml"]
        };
        assert_eq!(written, expected, "round {round}: written");
        assert_eq!(before.len().abs_diff(after.len()), 1, "round {round}");
    }
}

/// Files without the orchctl header are never deleted or overwritten, even
/// where orchctl would write, and even by a render that fails.
#[test]
fn files_without_the_header_are_never_touched() {
    let s = reference_scratch();
    assert_ok(&orchctl(&s.old, &s.out, None), "first render");
    let foreign: Vec<(&str, &[u8])> = vec![
        ("README.md", b"# hand-written\n"),
        (
            "workflowtemplates/custom.yaml",
            b"apiVersion: v1\nkind: ConfigMap\n",
        ),
        ("extra/deep/notes.txt", b"notes\n"),
        // Not UTF-8, no header.
        ("configmaps/binary.bin", &[0xff, 0xfe, 0x00, 0x01]),
        // Mentions the header, but not as its first line.
        (
            "rbac/later-header.yaml",
            b"# mine\n# Code generated by orchctl from pipelines/x. DO NOT EDIT.\n",
        ),
    ];
    for (rel, bytes) in &foreign {
        let path = s.out.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let check_foreign = |when: &str| {
        for (rel, bytes) in &foreign {
            assert_eq!(
                std::fs::read(s.out.join(rel)).unwrap_or_default(),
                *bytes,
                "{rel} was changed {when}"
            );
        }
    };

    // A render that changes the tree and removes a stale generated file.
    assert_ok(&orchctl(&s.new, &s.out, None), "render");
    check_foreign("by a render");
    assert!(!s.out.join("workflowtemplates/coderun.yaml").exists());
    // A render that fails half-way.
    let output = orchctl(&s.old, &s.out, Some((FAIL_AFTER, "3")));
    assert_eq!(output.status.code(), Some(1));
    check_foreign("by a failed render");
    // A render that finds nothing to do, and --check.
    assert_ok(&orchctl(&s.new, &s.out, None), "render");
    let check = Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .args(["render", "--check", "--pipelines"])
        .arg(&s.new)
        .arg("--out")
        .arg(&s.out)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    check_foreign("by a no-op render");

    // A hand-written file where orchctl would write: the render refuses.
    let target = s.out.join("workflowtemplates/delivery.yaml");
    let mine = b"# my own delivery template\nkind: WorkflowTemplate\n";
    std::fs::write(&target, mine).unwrap();
    let before = common::snapshot_dir(&s.out);
    let output = orchctl(&s.new, &s.out, None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("delivery.yaml"), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), mine);
    assert_eq!(
        common::snapshot_dir(&s.out),
        before,
        "a refused render changed generated/"
    );
    check_foreign("by a refused render");
    assert_eq!(leftovers(&s.out), Vec::<String>::new());
}

/// `cmd`'s output, or a failure if it runs longer than 30 s (killed).
#[cfg(unix)]
fn finishes(mut cmd: Command, what: &str) -> Output {
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{what} was still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a plain mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A FIFO (or socket, or device) is never opened in a way that waits: in
/// `generated/` it is the user's and kept, at a path orchctl writes it is a
/// conflict, and in `pipelines/` it is an error, never a hang.
#[cfg(unix)]
#[test]
fn special_files_are_never_waited_on() {
    use std::os::unix::fs::FileTypeExt;
    let s = reference_scratch();
    let render = |pipelines: &Path, check: bool| {
        let mut cmd = render_cmd(pipelines, &s.out);
        if check {
            cmd.arg("--check");
        }
        finishes(cmd, if check { "render --check" } else { "render" })
    };
    assert_ok(&render(&s.old, false), "first render");
    let fifo = s.out.join("configmaps/pipe");
    mkfifo(&fifo);
    assert_ok(&render(&s.old, true), "--check beside a FIFO");
    assert_ok(&render(&s.old, false), "render with nothing to do");
    assert_ok(&render(&s.new, false), "render that changes the tree");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was not kept"
    );

    // A FIFO where orchctl writes a file: a conflict, reported, not read.
    let target = s.out.join("kustomization.yaml");
    std::fs::remove_file(&target).unwrap();
    mkfifo(&target);
    let before = common::snapshot_dir(&s.out);
    for check in [true, false] {
        let output = render(&s.new, check);
        assert_eq!(output.status.code(), Some(1), "check: {check}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "error[E030]: orchctl would overwrite files it did not generate: {}",
                orchctl::source::slash_path(&target)
            )),
            "{stderr}"
        );
    }
    assert_eq!(common::snapshot_dir(&s.out), before);

    // A FIFO among the spec files.
    mkfifo(&s.new.join("chains/pipe.yaml"));
    let output = render(&s.new, false);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error[E029]: cannot read `{}/chains/pipe.yaml`: not a regular file",
            orchctl::source::slash_path(&s.new)
        )),
        "{stderr}"
    );
    assert_eq!(leftovers(&s.out), Vec::<String>::new());
}

fn spawn_render(spec: &Path, out: &Path) -> std::process::Child {
    render_cmd(spec, out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Two renders into one directory at once: one waits for the other (it
/// would otherwise remove the other's staging directory as a leftover), both
/// succeed, and the tree is whole, one or the other. (Unix: elsewhere
/// renders are not locked.)
#[cfg(unix)]
#[test]
fn concurrent_renders_run_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big/pipelines");
    spec_gen::generate(150, &big, 0);
    let small = common::root().join("pipelines");
    let expected = dir.path().join("expected");
    let start = Instant::now();
    assert_ok(&orchctl(&big, &expected, None), "render");
    let slowest = start.elapsed();
    let big_tree = common::snapshot_dir(&expected);
    assert_ok(&orchctl(&small, &expected, None), "render");
    let small_tree = common::snapshot_dir(&expected);
    let out = dir.path().join("generated");
    let waiting = format!(
        "waiting for another orchctl render beside {}/ to finish",
        orchctl::source::slash_path(&out)
    );
    let (mut waited, mut small_last) = (0, 0);
    for i in 0..8u32 {
        let _ = std::fs::remove_dir_all(&out);
        // Into a missing directory, and over an existing tree.
        if i % 2 == 1 {
            assert_ok(&orchctl(&small, &out, None), "render");
        }
        let first = spawn_render(&big, &out);
        std::thread::sleep(slowest * i / 8);
        let second = orchctl(&small, &out, None);
        let first = first.wait_with_output().unwrap();
        assert_ok(
            &first,
            &format!("iteration {i}: the render of the large spec"),
        );
        assert_ok(
            &second,
            &format!("iteration {i}: the render of the small spec"),
        );
        waited += [&first, &second]
            .iter()
            .filter(|o| String::from_utf8_lossy(&o.stderr).contains(&waiting))
            .count();
        let after = common::snapshot_dir(&out);
        if after == small_tree {
            small_last += 1;
        } else {
            assert!(
                after == big_tree,
                "iteration {i}: neither render's whole tree ({} files, {} and {} expected)",
                after.len(),
                small_tree.len(),
                big_tree.len()
            );
        }
        assert_eq!(leftovers(&out), Vec::<String>::new(), "iteration {i}");
    }
    eprintln!("8 rounds: a render waited in {waited}, the small spec's tree last in {small_last}");
    assert!(waited > 0, "no render ever had to wait");
}

/// A staging directory taken away while a render writes into it (by
/// anything but orchctl, which waits its turn) fails the render; it is never
/// made again and renamed into place half-filled.
#[cfg(unix)]
#[test]
fn a_render_whose_staging_directory_is_removed_fails() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("pipelines");
    spec_gen::generate(300, &spec, 0);
    let expected = dir.path().join("expected");
    assert_ok(&orchctl(&spec, &expected, None), "render");
    let tree = common::snapshot_dir(&expected);
    let out = dir.path().join("generated");
    let mut removed = 0;
    for i in 0..6 {
        let child = spawn_render(&spec, &out);
        // Take the staging directory away once it holds some files.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut gone = false;
        while !gone && !out.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
            for name in leftovers(&out) {
                let staging = dir.path().join(name);
                // Moved away, atomically: removed file by file, it could
                // lose files after the render had renamed it into place.
                if files_in(&staging) >= 20 {
                    gone |=
                        std::fs::rename(&staging, dir.path().join(format!("moved-{i}"))).is_ok();
                }
            }
        }
        let output = child.wait_with_output().unwrap();
        if out.exists() {
            assert_eq!(
                common::snapshot_dir(&out),
                tree,
                "iteration {i}: a partial tree (exit {:?})",
                output.status.code()
            );
            assert_ok(&output, &format!("iteration {i}"));
        } else {
            assert_eq!(output.status.code(), Some(1), "iteration {i}");
            removed += 1;
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(removed > 0, "no staging directory was removed in time");
}

/// How many files are below `dir` now, as far as can be seen while
/// something else changes it.
fn files_in(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(kind) if kind.is_dir() => files_in(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// The new tree takes the old output directory's permissions (a shared
/// group's setgid bit, say), into an existing empty directory too.
#[cfg(unix)]
#[test]
fn the_output_directory_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let s = reference_scratch();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    std::fs::create_dir(&s.out).unwrap();
    std::fs::set_permissions(&s.out, std::fs::Permissions::from_mode(0o2750)).unwrap();
    assert_ok(&orchctl(&s.old, &s.out, None), "first render");
    assert_eq!(mode(&s.out), 0o2750);
    std::fs::set_permissions(&s.out, std::fs::Permissions::from_mode(0o2770)).unwrap();
    assert_ok(
        &orchctl(&s.new, &s.out, None),
        "render that changes the tree",
    );
    assert_eq!(mode(&s.out), 0o2770);
}

/// A directory of the user's where orchctl writes a file, or a file of the
/// user's where it needs a directory, is a conflict like a file in its way.
#[test]
fn files_in_the_way_of_a_path_orchctl_writes_are_conflicts() {
    let s = reference_scratch();
    assert_ok(&orchctl(&s.old, &s.out, None), "first render");
    let out = orchctl::source::slash_path(&s.out);
    let cases: [(&str, &str, &str); 2] = [
        (
            "sensors/issue-triage.yaml",
            "sensors/issue-triage.yaml/mine.txt",
            "sensors/issue-triage.yaml",
        ),
        ("eventsources", "eventsources", "eventsources/github.yaml"),
    ];
    for (remove, write, reported) in cases {
        let _ = std::fs::remove_dir_all(s.out.join(remove));
        let _ = std::fs::remove_file(s.out.join(remove));
        let path = s.out.join(write);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "mine\n").unwrap();
        let before = common::snapshot_dir(&s.out);
        let output = orchctl(&s.new, &s.out, None);
        assert_eq!(output.status.code(), Some(1), "{write}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "error[E030]: orchctl would overwrite files it did not generate: {out}/{reported}\n  \
                 = help: move or delete them; orchctl only replaces files that start with its \
                 `Code generated by orchctl` header\n\n"
            ),
            "{write}"
        );
        assert_eq!(common::snapshot_dir(&s.out), before, "{write}");
        assert_eq!(leftovers(&s.out), Vec::<String>::new());
        std::fs::remove_dir_all(&s.out).unwrap();
        assert_ok(&orchctl(&s.old, &s.out, None), "render");
    }
}
