//! The command line, end to end: the real binary run in a scratch copy of the
//! reference platform, asserting exit codes, what goes to stdout (data) and
//! stderr (diagnostics), and what is (and is not) left on disk.
//!
//! Tests read as sentences:
//!
//! ```text
//! let t = Test::new();
//! t.arg("render").arg("--check").run().status(2).stdout_contains("+++ b/generated/");
//! ```
//!
//! Tests marked `#[ignore = "bug: …"]` document the correct behaviour of a
//! known orchctl bug; run them with `cargo test --test cli -- --ignored`.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, root, snapshot_dir};

/// How long one run of orchctl may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The user and group id of `nobody`.
const NOBODY: u32 = 65534;

/// Where [`Test::give_to_nobody`] copies the executable, in the scratch
/// directory.
const NOBODY_EXE: &str = "bin/orchctl";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A scratch directory to run orchctl in, by default holding a copy of the
/// reference `pipelines/`.
struct Test {
    dir: tempfile::TempDir,
}

impl Test {
    /// A fresh directory with the reference `pipelines/` copied in.
    fn new() -> Self {
        let t = Self::empty();
        copy_dir(&root().join("pipelines"), &t.path().join("pipelines"));
        t
    }

    /// A fresh, empty directory.
    fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Write a file (creating its directories).
    fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        self
    }

    /// Replace the one occurrence of `from` in a file with `to`.
    fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` should occur exactly once in {rel}"
        );
        self.write(rel, text.replacen(from, to, 1))
    }

    /// The 1-based number of the first line of `rel` containing `needle`.
    fn line_of(&self, rel: &str, needle: &str) -> usize {
        self.read(rel)
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("`{needle}` should occur in {rel}"))
            + 1
    }

    /// Every file below `rel`: relative path → bytes.
    fn tree(&self, rel: &str) -> BTreeMap<String, Vec<u8>> {
        snapshot_dir(&self.join(rel))
    }

    /// Entries of the scratch directory left behind by a write (staging or
    /// moved-aside trees).
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".orchctl-"))
            .collect()
    }

    /// Hand the scratch directory to `nobody` when the tests run as root, for
    /// [`Cmd::unprivileged`], with a copy of the executable there (the
    /// build directory may be closed to other users).
    fn give_to_nobody(&self) {
        if is_root() {
            let exe = self.join(NOBODY_EXE);
            std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
            std::fs::copy(env!("CARGO_BIN_EXE_orchctl"), &exe).unwrap();
            let status = Command::new("chown")
                .args(["-R", &format!("{NOBODY}:{NOBODY}")])
                .arg(self.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// A command line run in this directory: `orchctl` and no arguments yet.
    fn cmd(&self) -> Cmd {
        Cmd {
            tmp: Some(self.path().to_path_buf()),
            ..Cmd::in_dir(self.path())
        }
    }

    /// `orchctl ARG`, run in this directory.
    fn arg(&self, arg: impl Into<OsString>) -> Cmd {
        self.cmd().arg(arg)
    }

    /// `orchctl ARGS…`, run in this directory.
    fn args<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.cmd().args(args)
    }
}

/// The reference tree committed in the repository.
fn committed_generated() -> BTreeMap<String, Vec<u8>> {
    snapshot_dir(&root().join("generated"))
}

/// What the compiler makes of the reference `pipelines/`: the binary must
/// write exactly this.
fn expected() -> BTreeMap<String, Vec<u8>> {
    common::compile(&root().join("pipelines"))
        .tree
        .into_iter()
        .map(|(path, text)| (path, text.into_bytes()))
        .collect()
}

/// How many files the reference platform generates.
fn files() -> usize {
    common::compile(&root().join("pipelines")).tree.len()
}

/// One orchctl command line about to run.
struct Cmd {
    cwd: PathBuf,
    /// The scratch directory, shown as `[TMP]` in snapshots.
    tmp: Option<PathBuf>,
    args: Vec<OsString>,
    /// Variables to set (`Some`) or remove (`None`).
    env: Vec<(OsString, Option<OsString>)>,
    /// How long it may take.
    timeout: Duration,
    /// Run as an ordinary user (`nobody`) when the tests run as root.
    unprivileged: bool,
}

impl Cmd {
    /// A command line run in `dir` (not a scratch directory).
    fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            cwd: dir.into(),
            tmp: None,
            args: Vec::new(),
            env: vec![("NO_COLOR".into(), Some("1".into()))],
            timeout: TIMEOUT,
            unprivileged: false,
        }
    }

    /// Run it as an ordinary user, for whom permissions hold: when the tests
    /// run as root, as `nobody` (see [`Test::give_to_nobody`]).
    fn unprivileged(mut self) -> Self {
        self.unprivileged = true;
        self
    }

    fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        args.into_iter().fold(self, Self::arg)
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    fn env_remove(mut self, key: &str) -> Self {
        self.env.push((key.into(), None));
        self
    }

    fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = dir.into();
        self
    }

    /// Run it to the end (or panic after its timeout, [`TIMEOUT`] unless set).
    fn run(self) -> Run {
        let line = format!(
            "orchctl {}",
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let as_nobody = self.unprivileged && is_root();
        let mut cmd = match &self.tmp {
            Some(tmp) if as_nobody => Command::new(tmp.join(NOBODY_EXE)),
            _ => Command::new(env!("CARGO_BIN_EXE_orchctl")),
        };
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A stable help width, whatever terminal runs the tests.
            .env("COLUMNS", "100")
            .env("LINES", "50");
        for var in [
            "ORCHCTL_TEST_FAIL_AFTER_WRITES",
            "CLICOLOR",
            "CLICOLOR_FORCE",
        ] {
            cmd.env_remove(var);
        }
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        if as_nobody {
            use std::os::unix::process::CommandExt;
            // Supplementary groups are dropped with the user.
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let mut child = cmd.spawn().expect("orchctl starts");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        // Drain both pipes while waiting, so a large diff cannot block it.
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            out.read_to_end(&mut buf).unwrap();
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            err.read_to_end(&mut buf).unwrap();
            buf
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{line}` did not finish within {:?}", self.timeout);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Run {
            line,
            tmp: self.tmp,
            code: status.code(),
            stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        }
    }
}

/// A finished run, to assert on. Every assertion returns the run so they chain.
#[derive(Debug)]
struct Run {
    line: String,
    tmp: Option<PathBuf>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn report(&self) -> String {
        format!(
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.line, self.code, self.stdout, self.stderr
        )
    }

    /// The exact exit code (a signal or a panic never passes).
    #[track_caller]
    fn status(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\n{}",
            self.report()
        );
        self
    }

    #[track_caller]
    fn stdout_contains(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout should contain {needle:?}\n{}",
            self.report()
        );
        self
    }

    #[track_caller]
    fn stdout_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout should not contain {needle:?}\n{}",
            self.report()
        );
        self
    }

    #[track_caller]
    fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(self.stdout, expected, "stdout\n{}", self.report());
        self
    }

    #[track_caller]
    fn stdout_is_empty(self) -> Self {
        self.stdout_is("")
    }

    #[track_caller]
    fn stderr_contains(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr should contain {needle:?}\n{}",
            self.report()
        );
        self
    }

    #[track_caller]
    fn stderr_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr should not contain {needle:?}\n{}",
            self.report()
        );
        self
    }

    #[track_caller]
    fn stderr_is(self, expected: &str) -> Self {
        assert_eq!(self.stderr, expected, "stderr\n{}", self.report());
        self
    }

    fn stdout(&self) -> &str {
        &self.stdout
    }

    fn stderr(&self) -> &str {
        &self.stderr
    }

    /// Snapshot the whole of stdout as `snapshots/cli/NAME.snap`.
    #[track_caller]
    fn stdout_snapshot(self, name: &str) -> Self {
        snapshot(name, &self.scrub(&self.stdout));
        self
    }

    /// Snapshot the whole of stderr as `snapshots/cli/NAME.snap`.
    #[track_caller]
    fn stderr_snapshot(self, name: &str) -> Self {
        snapshot(name, &self.scrub(&self.stderr));
        self
    }

    /// Replace the scratch directory's path with `[TMP]`.
    fn scrub(&self, text: &str) -> String {
        match &self.tmp {
            Some(tmp) => text.replace(&tmp.to_string_lossy().into_owned(), "[TMP]"),
            None => text.to_string(),
        }
    }
}

#[track_caller]
fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/cli"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// An edit that changes one semaphore limit (and so one generated file).
const LIMIT_12: &str = "limit: 12 ";
const LIMIT_20: &str = "limit: 20 ";
const PLATFORM: &str = "pipelines/platform.yaml";

// 1. A fresh render, then a second one.

#[test]
fn render_in_a_fresh_directory_writes_the_committed_tree() {
    let t = Test::new();
    let n = files();
    t.arg("render")
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is(&format!(
            "wrote generated/: {n} files ({n} added, 0 changed, 0 removed)\n"
        ));
    assert_eq!(t.tree("generated"), expected());
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    assert!(
        t.tree("generated") == committed_generated(),
        "a fresh render differs from the committed generated/: run `cargo run -- render`"
    );

    t.arg("render")
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is(&format!("generated/ is up to date ({n} files)\n"));
    assert_eq!(t.tree("generated"), expected());
}

// 2. --check with nothing generated yet.

#[test]
fn check_without_generated_prints_a_creating_diff_and_writes_nothing() {
    let t = Test::new();
    let n = files();
    let run = t
        .args(["render", "--check"])
        .run()
        .status(2)
        .stdout_contains("--- /dev/null\n+++ b/generated/configmaps/controller-agents.yaml\n")
        .stdout_contains("+++ b/generated/workflowtemplates/agent-step.yaml\n")
        .stdout_contains("+++ b/generated/kustomization.yaml\n")
        .stdout_contains("+# Code generated by orchctl from pipelines/")
        .stderr_is(&format!(
            "generated/ is stale: {n} to add, 0 to change, 0 to remove\n  \
             = help: run `orchctl render` and commit generated/\n"
        ));
    // One `--- /dev/null` / `+++ b/generated/…` pair per file to create.
    let headers: Vec<&str> = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with("+++ ") || l.starts_with("--- "))
        .collect();
    assert_eq!(headers.len(), 2 * n, "{headers:#?}");
    for pair in headers.chunks(2) {
        assert_eq!(pair[0], "--- /dev/null");
        assert!(pair[1].starts_with("+++ b/generated/"), "{pair:?}");
    }
    // The added lines are exactly the lines of the tree.
    let added = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++ "))
        .count();
    let lines: usize = expected()
        .values()
        .map(|b| String::from_utf8_lossy(b).lines().count())
        .sum();
    assert_eq!(added, lines);
    assert!(!t.exists("generated"), "--check must not create generated/");
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

// 3. --check after a render, then after a spec change.

#[test]
fn check_reports_a_spec_change_as_a_diff_without_writing() {
    let t = Test::new();
    let n = files();
    t.arg("render").run().status(0);
    t.args(["render", "--check"])
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is(&format!("generated/ is up to date ({n} files)\n"));

    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    let before = t.tree("generated");
    t.args(["render", "--check"])
        .run()
        .status(2)
        .stdout_contains(
            "--- a/generated/configmaps/cto-semaphores.yaml\n\
             +++ b/generated/configmaps/cto-semaphores.yaml\n",
        )
        .stdout_contains("\n-  agents: '12'\n+  agents: '20'\n")
        .stdout_snapshot("check_after_limit_change")
        .stderr_is(
            "generated/ is stale: 0 to add, 1 to change, 0 to remove\n  \
             = help: run `orchctl render` and commit generated/\n",
        );
    assert_eq!(t.tree("generated"), before, "--check must not write");

    t.arg("render")
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is(&format!(
            "wrote generated/: {n} files (0 added, 1 changed, 0 removed)\n"
        ));
    assert!(
        t.read("generated/configmaps/cto-semaphores.yaml")
            .contains("\n  agents: '20'\n")
    );
    t.args(["render", "--check"])
        .run()
        .status(0)
        .stdout_is_empty();
}

#[test]
fn check_output_is_plain_even_with_colour_forced() {
    Test::new()
        .args(["render", "--check", "--color", "always"])
        .env_remove("NO_COLOR")
        .run()
        .status(2)
        .stdout_contains("+++ b/generated/")
        .stdout_lacks("\x1b[");
}

// 4. Invalid input.

#[test]
fn invalid_input_exits_1_and_leaves_the_tree_untouched() {
    let t = Test::new();
    t.arg("render").run().status(0);
    let before = t.tree("generated");

    // An unknown field nested in a semaphore.
    t.edit(
        PLATFORM,
        "      limit: 12 ",
        "      limt: 3\n      limit: 12 ",
    );
    let line = t.line_of(PLATFORM, "limt: 3");
    t.arg("render")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains(&format!(
            "error[E002]: unknown field `limt`\n   --> pipelines/platform.yaml:{line}:7\n"
        ))
        .stderr_contains("= help: did you mean `limit`?");
    assert_eq!(t.tree("generated"), before);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    t.args(["render", "--check"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("error[E002]: unknown field `limt`");
    assert_eq!(t.tree("generated"), before);
}

#[test]
fn a_prompt_template_that_builds_a_huge_value_stops_at_its_memory_ceiling() {
    // Doubling 1 MB eight times builds 256 MB without writing a byte of it;
    // past 64 MiB the render stops with an error, before any output: over
    // the tree there, and into a new directory.
    let t = Test::new();
    t.arg("render").run().status(0);
    let before = t.tree("generated");
    t.write("pipelines/prompts/rex-author.md", common::doubling_prompt());
    let expected = "error[E032]: prompt template of `rex-author` needs more than 64 MiB of memory to render\n \
             --> pipelines/prompts/rex-author.md:1:1\n  \
             |\n\
             1 | You are {{ agent.name }}.\n  \
             | ^^^^^^^^^^^^^^^^^^^^^^^^^\n  \
             = help: a repetition (`*`), a join or a `~` in this template builds a huge value; a \
             prompt is at most 1 MiB of text\n\
             \n\
             error: 1 error\n";
    for args in [&["render"][..], &["render", "--check"]] {
        t.args(args.iter().copied())
            .run()
            .status(1)
            .stdout_is_empty()
            .stderr_is(expected);
        assert_eq!(t.tree("generated"), before);
    }
    std::fs::remove_dir_all(t.join("generated")).unwrap();
    t.arg("render")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_is(expected);
    assert!(!t.exists("generated"));
    // What loading found comes first, as in any report.
    t.write("pipelines/zz-extra.yaml", "bogus: 1\n");
    let run = t.arg("validate").run().status(1).stdout_is_empty();
    let (loading, rest) = run.stderr.split_once("\n\n").unwrap();
    assert!(
        loading.starts_with("error[E002]: unknown section `bogus`"),
        "{}",
        run.stderr
    );
    assert_eq!(rest, expected.replace("error: 1 error", "error: 2 errors"));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[test]
fn a_prompt_template_that_works_for_ever_stops_at_its_time_ceiling() {
    // One `in` over 100,000 repetitions of a 10 MB string compares a
    // terabyte: one instruction of fuel, hours of work, little memory. After
    // 10 s of CPU time the render stops, with the error found before it.
    let t = Test::new();
    t.edit(
        "pipelines/agents.yaml",
        "    promptFile: prompts/ci-remediator.md\n",
        "    promptFile: prompts/ci-remediator.md\n    template: true\n",
    );
    t.write("pipelines/prompts/ci-remediator.md", "Fix {{ nope }}.\n");
    t.write(
        "pipelines/prompts/rex-author.md",
        "You are {{ agent.name }}.\n{% set a = \"x\" * 10000000 %}{% set b = \"x\" * 9999999 ~ \"y\" %}\
         {% for i in range(100) %}{% if b in [a] * 100000 %}{% endif %}{% endfor %}\n",
    );
    let started = Instant::now();
    // 10 s of CPU time take longer on a busy machine.
    t.arg("render")
        .timeout(Duration::from_secs(300))
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_is(
            "error[E021]: prompt template of `ci-remediator` does not render: undefined value: \
             `nope` is undefined in `nope`\n \
             --> pipelines/prompts/ci-remediator.md:1:1\n  \
             |\n\
             1 | Fix {{ nope }}.\n  \
             | ^^^^^^^^^^^^^^^\n  \
             = help: prompt templates see `project`, `agent`, `agents` and `vars`; write `{% raw \
             %}…{% endraw %}` around literal `{{`\n\
             \n\
             error[E032]: prompt template of `rex-author` takes more than 10 s to render\n \
             --> pipelines/prompts/rex-author.md:1:1\n  \
             |\n\
             1 | You are {{ agent.name }}.\n  \
             | ^^^^^^^^^^^^^^^^^^^^^^^^^\n  \
             = help: an operation in this template works through huge values (`in`, `sort`, a \
             comparison over a repetition); a prompt is at most 1 MiB of text\n\
             \n\
             error: 2 errors\n",
        );
    // 10 s of CPU time: no sooner.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(10), "stopped after {took:?}");
    assert!(!t.exists("generated"));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[test]
fn an_unknown_section_is_reported_with_its_location_and_a_suggestion() {
    let t = Test::new();
    t.arg("render").run().status(0);
    let before = t.tree("generated");
    let text = t.read(PLATFORM);
    t.write(PLATFORM, format!("{text}chain:\n  extra: {{}}\n"));
    let line = t.line_of(PLATFORM, "chain:");
    t.arg("render")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains(&format!(
            "error[E002]: unknown section `chain`\n   --> pipelines/platform.yaml:{line}:1\n"
        ))
        .stderr_contains("= help: did you mean `chains`?")
        .stderr_contains("\nerror: 1 error\n");
    assert_eq!(t.tree("generated"), before);
}

/// Every error of every file in one run, in file order, each with its
/// location.
#[test]
fn all_errors_are_reported_in_one_run() {
    let t = Test::new();
    t.write(
        "pipelines/extra.yaml",
        "chain:\n  extra: {}\nimages:\n  sidecar: [not, an, image]\nvars:\n  region: eu\n",
    );
    t.write("pipelines/dup.yaml", "vars:\n  a: 1\n  a: 2\n");
    t.arg("render")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_snapshot("errors_in_two_files");
    assert!(!t.exists("generated"));
}

// 5. Files orchctl did not generate, and files it no longer generates.

#[test]
fn foreign_files_survive_a_render_and_stale_generated_files_are_removed() {
    let t = Test::new();
    let n = files();
    t.arg("render").run().status(0);
    let readme = "# Our manifests\n\nDo not edit generated files.\n";
    let notes = "owner: platform-team\n";
    t.write("generated/README.md", readme);
    t.write("generated/extra/notes.yaml", notes);
    t.write(
        "generated/workflowtemplates/old.yaml",
        "# Code generated by orchctl from pipelines/x.yaml. DO NOT EDIT.\nkind: WorkflowTemplate\n",
    );

    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    let before = t.tree("generated");
    t.args(["render", "--check"])
        .run()
        .status(2)
        .stdout_contains(
            "--- a/generated/workflowtemplates/old.yaml\n+++ /dev/null\n@@ -1,2 +0,0 @@\n\
             -# Code generated by orchctl from pipelines/x.yaml. DO NOT EDIT.\n\
             -kind: WorkflowTemplate\n",
        )
        .stdout_contains("+++ b/generated/configmaps/cto-semaphores.yaml\n")
        .stdout_lacks("README.md")
        .stdout_lacks("notes.yaml")
        .stderr_contains("generated/ is stale: 0 to add, 1 to change, 1 to remove\n");
    assert_eq!(t.tree("generated"), before, "--check must not write");

    t.arg("render").run().status(0).stderr_is(&format!(
        "wrote generated/: {n} files (0 added, 1 changed, 1 removed)\n"
    ));
    assert!(!t.exists("generated/workflowtemplates/old.yaml"));
    assert_eq!(t.read("generated/README.md"), readme);
    assert_eq!(t.read("generated/extra/notes.yaml"), notes);
    let mut want = expected();
    want.insert(
        "configmaps/cto-semaphores.yaml".into(),
        t.read("generated/configmaps/cto-semaphores.yaml").into(),
    );
    want.insert("README.md".into(), readme.into());
    want.insert("extra/notes.yaml".into(), notes.into());
    assert_eq!(t.tree("generated"), want);

    // Foreign files are not drift.
    t.args(["render", "--check"]).run().status(0);
}

#[test]
fn crlf_line_endings_in_generated_files_are_not_drift() {
    let t = Test::new();
    t.arg("render").run().status(0);
    let path = "generated/workflowtemplates/agent-step.yaml";
    t.write(path, t.read(path).replace('\n', "\r\n"));
    t.args(["render", "--check"])
        .run()
        .status(0)
        .stdout_is_empty();
}

// 6. A foreign file where orchctl would write.

#[test]
fn a_symlink_to_the_very_same_text_is_still_in_the_way() {
    // Each file is compared as soon as it is made; a link at its path is the
    // user's, even when it points at exactly what orchctl would write.
    let t = Test::new();
    t.arg("render").run().status(0);
    let rel = "generated/workflowtemplates/delivery.yaml";
    std::fs::rename(t.join(rel), t.join("delivery.yaml")).unwrap();
    std::os::unix::fs::symlink(t.join("delivery.yaml"), t.join(rel)).unwrap();
    let conflict =
        format!("error[E030]: orchctl would overwrite files it did not generate: {rel}\n");
    for args in [&["render", "--check"][..], &["render"][..]] {
        t.args(args.iter().copied())
            .run()
            .status(1)
            .stdout_is_empty()
            .stderr_contains(&conflict);
    }
    assert!(
        std::fs::symlink_metadata(t.join(rel))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_foreign_file_in_the_way_is_a_conflict() {
    let t = Test::new();
    t.arg("render").run().status(0);
    let mine = "# hand-written, not generated\nkind: WorkflowTemplate\n";
    t.write("generated/workflowtemplates/delivery.yaml", mine);
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    let before = t.tree("generated");

    t.arg("render")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_snapshot("conflict");
    assert_eq!(t.read("generated/workflowtemplates/delivery.yaml"), mine);
    assert_eq!(t.tree("generated"), before);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    t.args(["render", "--check"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains(
            "error[E030]: orchctl would overwrite files it did not generate: \
             generated/workflowtemplates/delivery.yaml\n",
        );
    assert_eq!(t.tree("generated"), before);
}

// 7. Crash safety.

#[test]
fn a_write_failing_midway_leaves_the_old_tree() {
    let t = Test::new();
    t.arg("render").run().status(0);
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    let before = t.tree("generated");

    t.arg("render")
        .env("ORCHCTL_TEST_FAIL_AFTER_WRITES", "3")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("error[E029]: cannot write `generated`: ")
        .stderr_contains("injected failure")
        .stderr_contains("= help: nothing was changed");
    assert_eq!(t.tree("generated"), before);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    // The next render does the job.
    t.arg("render").run().status(0).stderr_is(&format!(
        "wrote generated/: {} files (0 added, 1 changed, 0 removed)\n",
        files()
    ));
}

#[test]
fn a_first_write_failing_creates_nothing() {
    let t = Test::new();
    t.arg("render")
        .env("ORCHCTL_TEST_FAIL_AFTER_WRITES", "0")
        .run()
        .status(1)
        .stderr_contains("injected failure");
    assert!(!t.exists("generated"));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[test]
fn render_recovers_a_tree_left_aside_by_an_interrupted_run() {
    let t = Test::new();
    t.arg("render").run().status(0);
    // One run stopped between moving the old tree aside and moving the new
    // one in; another stopped while staging.
    std::fs::rename(t.join("generated"), t.join(".generated.orchctl-old-99999")).unwrap();
    t.write(".generated.orchctl-staging-88888/half.yaml", "partial");

    t.arg("render")
        .run()
        .status(0)
        .stderr_is(&format!("generated/ is up to date ({} files)\n", files()));
    assert_eq!(t.tree("generated"), expected());
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

/// A directory of the old tree that its owner made read-only does not keep
/// the old tree from going once the new one is in place.
#[test]
fn a_read_only_directory_of_the_old_tree_leaves_nothing_behind() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new();
    t.arg("render").run().status(0);
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    for dir in ["generated/sensors", "generated/argocd"] {
        std::fs::set_permissions(t.join(dir), std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    t.give_to_nobody();
    t.arg("render")
        .unprivileged()
        .run()
        .status(0)
        .stderr_is(&format!(
            "wrote generated/: {} files (0 added, 1 changed, 0 removed)\n",
            files()
        ));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    t.args(["render", "--check"]).unprivileged().run().status(0);
}

/// An old tree that cannot be removed (here: one of its files immutable)
/// stays beside the new one, named in a warning, until a later render can
/// remove it.
#[test]
fn an_old_tree_that_cannot_be_removed_is_named_in_a_warning() {
    /// Lifts every immutable attribute again, so the scratch directory can go.
    struct Mutable<'a>(&'a Path);
    impl Drop for Mutable<'_> {
        fn drop(&mut self) {
            let _ = Command::new("chattr")
                .arg("-R")
                .arg("-i")
                .arg(self.0)
                .status();
        }
    }
    let t = Test::new();
    t.arg("render").run().status(0);
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    let _mutable = Mutable(t.path());
    let chattr = Command::new("chattr")
        .arg("+i")
        .arg(t.join("generated/sensors/pr-merged.yaml"))
        .output();
    if !chattr.is_ok_and(|o| o.status.success()) {
        // chattr +i needs root (CAP_LINUX_IMMUTABLE) and a file system
        // with the attribute (ext4, xfs, btrfs, tmpfs).
        eprintln!("skipped: cannot make a file immutable here");
        return;
    }
    let run = t.arg("render").run().status(0);
    let left = t.leftovers();
    assert_eq!(left.len(), 1, "{left:?}");
    let left = &left[0];
    assert!(left.starts_with(".generated.orchctl-replaced-"), "{left}");
    run.stderr_is(&format!(
        "wrote generated/: {} files (0 added, 1 changed, 0 removed)\n\
         warning[E029]: the old generated/ is left at `{left}`: Operation not permitted (os \
         error 1)\n  = help: the new tree is in place; remove the old one by hand once nothing \
         holds it (`chattr -R -i {left}` for an immutable file, `umount` for a mount point); the \
         next render tries again\n\n",
        files()
    ));
    assert_eq!(t.tree("generated"), {
        let fresh = Test::new();
        fresh.edit(PLATFORM, LIMIT_12, LIMIT_20);
        fresh.arg("render").run().status(0);
        fresh.tree("generated")
    });
    drop(_mutable);
    t.arg("render")
        .run()
        .status(0)
        .stderr_is(&format!("generated/ is up to date ({} files)\n", files()));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

// 8. --pipelines and --out.

#[test]
fn pipelines_and_out_options_point_elsewhere() {
    let t = Test::empty();
    let n = files();
    copy_dir(&root().join("pipelines"), &t.join("platform/specs"));
    let elsewhere = ["--pipelines", "platform/specs", "--out", "deploy/manifests"];
    t.arg("render")
        .args(elsewhere)
        .run()
        .status(0)
        .stderr_is(&format!(
            "wrote deploy/manifests/: {n} files ({n} added, 0 changed, 0 removed)\n"
        ));
    assert_eq!(t.tree("deploy/manifests"), expected());
    assert!(!t.exists("generated"));
    assert!(!t.exists("pipelines"));

    t.args(["render", "--check"])
        .args(elsewhere)
        .run()
        .status(0)
        .stderr_is(&format!("deploy/manifests/ is up to date ({n} files)\n"));

    // Relative to the working directory, trailing slash and all.
    t.args([
        "render",
        "--pipelines",
        "..",
        "--out",
        "../../../deploy/manifests/",
    ])
    .current_dir(t.join("platform/specs/chains"))
    .run()
    .status(0)
    .stderr_is(&format!(
        "../../../deploy/manifests/ is up to date ({n} files)\n"
    ));

    // Diff headers and diagnostics name the directories as given.
    t.edit("platform/specs/platform.yaml", LIMIT_12, LIMIT_20);
    t.args(["render", "--check"])
        .args(elsewhere)
        .run()
        .status(2)
        .stdout_contains(
            "--- a/deploy/manifests/configmaps/cto-semaphores.yaml\n\
             +++ b/deploy/manifests/configmaps/cto-semaphores.yaml\n",
        )
        .stderr_contains("deploy/manifests/ is stale");
    t.edit(
        "platform/specs/platform.yaml",
        "    per-org:\n",
        "    per-org:\n      pr: 1\n",
    );
    let line = t.line_of("platform/specs/platform.yaml", "pr: 1");
    t.arg("render")
        .args(elsewhere)
        .run()
        .status(1)
        .stderr_contains(&format!(
            "error[E002]: unknown field `pr`\n   --> platform/specs/platform.yaml:{line}:7\n"
        ));

    // Without the options, the defaults are used (and missing here).
    t.arg("render")
        .run()
        .status(1)
        .stderr_contains("error[E029]: no pipelines directory at `pipelines`");
}

#[test]
fn absolute_pipelines_and_out_work_from_any_directory() {
    let t = Test::new();
    let n = files();
    t.args(["render", "--pipelines"])
        .arg(t.join("pipelines"))
        .arg("--out")
        .arg(t.join("abs/out"))
        .current_dir(std::env::temp_dir())
        .run()
        .status(0)
        .stderr_contains(&format!("{n} files ({n} added, 0 changed, 0 removed)"));
    assert_eq!(t.tree("abs/out"), expected());
}

// 9. No pipelines directory, and outputs that cannot be directories.

#[test]
fn a_missing_pipelines_directory_says_how_to_create_one() {
    let t = Test::empty();
    t.arg("render")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains(
            "error[E029]: no pipelines directory at `pipelines`\n  \
             = help: run `orchctl init` to create one, or pass `--pipelines DIR`\n",
        );
    t.args(["render", "--check", "--pipelines", "nowhere"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("error[E029]: no pipelines directory at `nowhere`")
        .stderr_contains("orchctl init");
    t.write("a-file", "not a directory\n");
    t.args(["render", "--pipelines", "a-file"])
        .run()
        .status(1)
        .stderr_contains("error[E029]: no pipelines directory at `a-file`");
    assert!(!t.exists("generated"));
}

#[test]
fn an_output_path_that_is_a_file_is_an_error() {
    let t = Test::new();
    t.write("out", "a file\n");
    t.args(["render", "--out", "out"])
        .run()
        .status(1)
        .stderr_contains("error[E029]: cannot write `out`");
    t.args(["render", "--check", "--out", "out"])
        .run()
        .status(1)
        .stderr_contains("error[E029]: cannot read `out`");
    t.args(["render", "--out", "out/generated"])
        .run()
        .status(1)
        .stderr_contains("error[E029]: cannot write `out/generated`");
    assert_eq!(t.read("out"), "a file\n");
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

// 10. schema (and the committed state of this checkout).

#[test]
fn committed_schema_and_tree_are_current_in_the_checkout() {
    Cmd::in_dir(root())
        .arg("schema")
        .arg("--check")
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is("schemas/orchctl.schema.json is up to date\n");
    Cmd::in_dir(root())
        .arg("render")
        .arg("--check")
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is(&format!("generated/ is up to date ({} files)\n", files()));
}

/// `args`, and `--check` after them if `check`.
fn with_check<'a>(args: &[&'a str], check: bool) -> Vec<&'a str> {
    let mut args = args.to_vec();
    if check {
        args.push("--check");
    }
    args
}

/// `--out` a file, or the schema's path a directory: an error for `schema`
/// and `--check` alike (not "out of date", then a failing write).
#[test]
fn schema_in_the_way_of_a_file_or_directory() {
    let t = Test::empty();
    t.write("schemas", "a file\n");
    for check in [false, true] {
        t.args(with_check(&["schema"], check))
            .run()
            .status(1)
            .stdout_is_empty()
            .stderr_is(
                "error[E029]: `schemas` is not a directory\n  = help: point `--out` at the \
                 directory that holds the schema, e.g. `schemas`\n\n",
            );
    }
    assert_eq!(t.read("schemas"), "a file\n");
    let t = Test::empty();
    std::fs::create_dir_all(t.path().join("schemas/orchctl.schema.json")).unwrap();
    for check in [false, true] {
        t.args(with_check(&["schema"], check))
            .run()
            .status(1)
            .stdout_is_empty()
            .stderr_contains("error[E029]: cannot read `schemas/orchctl.schema.json`: ");
    }
}

#[test]
fn schema_check_then_write_then_check() {
    let t = Test::empty();
    t.args(["schema", "--check"])
        .run()
        .status(2)
        .stdout_contains("+++ b/schemas/orchctl.schema.json\n")
        .stdout_contains("\n+  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n")
        .stderr_snapshot("schema_check_missing");
    assert!(!t.exists("schemas"));

    t.arg("schema")
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is("wrote schemas/orchctl.schema.json\n");
    assert_eq!(
        t.read("schemas/orchctl.schema.json"),
        orchctl::schema::schema_json()
    );
    t.args(["schema", "--check"])
        .run()
        .status(0)
        .stdout_is_empty()
        .stderr_is("schemas/orchctl.schema.json is up to date\n");
    t.arg("schema")
        .run()
        .status(0)
        .stderr_is("schemas/orchctl.schema.json is up to date\n");

    // A stale schema: a diff and exit 2, the file untouched.
    let stale = t
        .read("schemas/orchctl.schema.json")
        .replacen("\"$schema\"", "\"$oldschema\"", 1);
    t.write("schemas/orchctl.schema.json", &stale);
    t.args(["schema", "--check"])
        .run()
        .status(2)
        .stdout_contains("--- a/schemas/orchctl.schema.json\n+++ b/schemas/orchctl.schema.json\n")
        .stdout_contains("\n-  \"$oldschema\"")
        .stdout_contains("\n+  \"$schema\"")
        .stderr_contains("schemas/orchctl.schema.json is out of date");
    assert_eq!(t.read("schemas/orchctl.schema.json"), stale);

    t.args(["schema", "--out", "editor/schemas"])
        .run()
        .status(0)
        .stderr_is("wrote editor/schemas/orchctl.schema.json\n");
    assert!(t.exists("editor/schemas/orchctl.schema.json"));
}

// 11. Help, version and usage errors.

#[test]
fn help_on_every_command() {
    let t = Test::empty();
    // The top-level help is not snapshotted while commands are being added.
    t.arg("--help")
        .run()
        .status(0)
        .stderr_is("")
        .stdout_contains("Usage: orchctl [OPTIONS] <COMMAND>")
        .stdout_contains("  render  ")
        .stdout_contains("  schema  ")
        .stdout_contains(
            "Exit codes: 0 success or no changes, 1 invalid input or error, 2 changes or drift \
             found.",
        );
    for (command, name) in [("render", "help_render"), ("schema", "help_schema")] {
        t.args([command, "--help"])
            .run()
            .status(0)
            .stderr_is("")
            .stdout_contains(&format!("Usage: orchctl {command} [OPTIONS]"))
            .stdout_contains("--check")
            .stdout_contains("--out <DIR>")
            .stdout_snapshot(name);
        t.args([command, "-h"])
            .run()
            .status(0)
            .stdout_contains("--check");
        t.args(["help", command])
            .run()
            .status(0)
            .stdout_contains("--check");
    }
}

#[test]
fn version() {
    Test::empty()
        .arg("--version")
        .run()
        .status(0)
        .stdout_is("orchctl 0.1.0\n")
        .stderr_is("");
    // clap names the subcommand when asked for its version.
    Test::empty()
        .args(["render", "--version"])
        .run()
        .status(0)
        .stdout_is("orchctl-render 0.1.0\n");
}

/// Usage errors are invalid input: exit 1 (never 2, which means drift), clap's
/// message on stderr, nothing on stdout, nothing written.
#[test]
fn usage_errors_exit_1() {
    let t = Test::new();
    t.arg("frobnicate")
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_snapshot("unknown_subcommand");
    t.args(["render", "--bogus"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("error: unexpected argument '--bogus' found");
    t.args(["render", "--color", "sometimes"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("error: invalid value 'sometimes' for '--color <COLOR>'");
    // No subcommand at all: the usage, on stderr.
    t.args(["--color", "never"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("Usage: orchctl [OPTIONS] <COMMAND>");
    assert!(!t.exists("generated"));
}

// 12. Colour.

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let t = Test::new();
    t.edit(PLATFORM, LIMIT_12, "limit: twelve ");
    // Forced.
    t.args(["render", "--color", "always"])
        .env_remove("NO_COLOR")
        .run()
        .status(1)
        .stderr_contains("\x1b[1;31merror[E003]\x1b[0m");
    // NO_COLOR wins over --color always.
    t.args(["render", "--color", "always"])
        .env("NO_COLOR", "1")
        .run()
        .status(1)
        .stderr_contains("error[E003]")
        .stderr_lacks("\x1b[");
    // An empty NO_COLOR counts as unset (no-color.org).
    t.args(["render", "--color", "always"])
        .env("NO_COLOR", "")
        .run()
        .status(1)
        .stderr_contains("\x1b[");
    // By default, and stderr is not a terminal here: no colour.
    t.arg("render")
        .env_remove("NO_COLOR")
        .run()
        .status(1)
        .stderr_contains("error[E003]")
        .stderr_lacks("\x1b[");
    t.args(["render", "--color", "never"])
        .env_remove("NO_COLOR")
        .run()
        .status(1)
        .stderr_lacks("\x1b[");

    // Conflicts (errors without a spec location) follow the same rule.
    t.edit(PLATFORM, "limit: twelve ", LIMIT_12);
    t.arg("render").run().status(0);
    t.write("generated/kustomization.yaml", "resources: []\n");
    t.args(["render", "--check", "--color", "always"])
        .env_remove("NO_COLOR")
        .run()
        .status(1)
        .stderr_contains("\x1b[");
    t.args(["render", "--check", "--color", "always"])
        .run()
        .status(1)
        .stderr_contains("error[E030]")
        .stderr_lacks("\x1b[");
}

// 13. Never a panic.

/// Deterministic bytes that are not UTF-8.
fn binary_garbage() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    let mut out = vec![0xff, 0xfe, 0x00];
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x.to_le_bytes()[0]);
    }
    out
}

/// Ten levels of nine aliases each: a billion nodes if expanded.
fn alias_bomb() -> String {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for pair in names.windows(2) {
        let (prev, name) = (pair[0], pair[1]);
        let refs = vec![format!("*{prev}"); 9].join(", ");
        writeln!(text, "{name}: &{name} [{refs}]").unwrap();
    }
    text
}

/// (what, content, exit code beside the reference spec, stderr excerpt).
fn garbage() -> Vec<(&'static str, Vec<u8>, i32, &'static str)> {
    vec![
        ("binary", binary_garbage(), 1, "not UTF-8"),
        ("NUL bytes", b"\0\0\0".to_vec(), 1, "error[E001]"),
        (
            "lone bracket",
            b"[".to_vec(),
            1,
            "error[E001]: invalid YAML",
        ),
        (
            "10000 nested sequences",
            "[".repeat(10_000).into_bytes(),
            1,
            "recursion limit",
        ),
        (
            "10000 nested mappings",
            "{a: ".repeat(10_000).into_bytes(),
            1,
            "recursion limit",
        ),
        (
            "alias bomb",
            alias_bomb().into_bytes(),
            1,
            "aliases expand to too many nodes",
        ),
        (
            "self-referencing alias",
            b"vars: &a {x: *a}\n".to_vec(),
            1,
            "error[E001]",
        ),
        (
            "unknown alias",
            b"vars: {x: *nope}\n".to_vec(),
            1,
            "error[E001]",
        ),
        ("empty file", Vec::new(), 0, ""),
        ("comment only", b"# nothing here\n".to_vec(), 0, ""),
        (
            "a list",
            b"- project\n- chains\n".to_vec(),
            1,
            "a spec file is a mapping of sections",
        ),
        (
            "a scalar",
            b"just words\n".to_vec(),
            1,
            "a spec file is a mapping of sections",
        ),
        (
            "two documents",
            b"vars: {}\n---\nvars: {}\n".to_vec(),
            1,
            "a spec file holds one YAML document",
        ),
        (
            "unclosed quote",
            b"vars: {x: \"abc\n".to_vec(),
            1,
            "error[E001]",
        ),
        (
            "tab indentation",
            b"vars:\n\tx: 1\n".to_vec(),
            1,
            "error[E001]",
        ),
        (
            "complex key",
            b"? [a, b]\n: c\n".to_vec(),
            1,
            "error[E003]: a section name is a plain word",
        ),
        ("null project", b"project:\n".to_vec(), 1, "error[E003]"),
        (
            "huge integer",
            b"concurrency: {semaphores: {s: {limit: 99999999999999999999}}}\n".to_vec(),
            1,
            "error[E003]",
        ),
        (
            "prompt outside pipelines",
            b"agents:\n  x: {promptFile: ../../../../etc/passwd, model: m, cli: claude}\n".to_vec(),
            1,
            "error[E020]",
        ),
        (
            "over the size limit",
            format!("vars:\n  x: \"{}\"\n", "a".repeat(9 * 1024 * 1024)).into_bytes(),
            1,
            "over the 8388608-byte limit",
        ),
    ]
}

#[test]
fn garbage_beside_the_reference_spec_never_panics() {
    for (what, content, code, excerpt) in garbage() {
        let t = Test::new();
        t.write("pipelines/zz-garbage.yaml", &content);
        let run = t.arg("render").run();
        assert_ne!(run.code, Some(101), "{what}: panic\n{}", run.report());
        let run = run.status(code).stderr_contains(excerpt);
        assert!(
            !run.stderr().contains("panicked"),
            "{what}: panic\n{}",
            run.report()
        );
        if code == 1 {
            assert!(
                run.stderr().contains("pipelines/zz-garbage.yaml"),
                "{what}: the error names the file\n{}",
                run.report()
            );
            assert!(!t.exists("generated"), "{what}: nothing written");
        }
    }
}

#[test]
fn garbage_alone_never_panics() {
    for (what, content, _, _) in garbage() {
        let t = Test::empty();
        t.write("pipelines/spec.yaml", &content);
        for args in [&["render"][..], &["render", "--check"][..]] {
            let run = t.args(args.iter().copied()).run();
            assert_ne!(run.code, Some(101), "{what}: panic\n{}", run.report());
            // With no project and no runtime, every one of them is invalid.
            run.status(1)
                .stderr_contains("error[")
                .stderr_lacks("panicked");
        }
        assert!(!t.exists("generated"), "{what}: nothing written");
    }
}

// One mistake, one error: regressions of bugs found while writing these tests
// (fixed since).

/// The last line of a run's stderr (the error count).
fn summary(run: &Run) -> &str {
    run.stderr().lines().last().unwrap_or_default()
}

#[test]
fn a_missing_pipelines_directory_is_one_error() {
    Test::empty().arg("render").run().status(1).stderr_is(
        "error[E029]: no pipelines directory at `pipelines`\n  \
         = help: run `orchctl init` to create one, or pass `--pipelines DIR`\n\n\
         error: 1 error\n",
    );
}

#[test]
fn an_unknown_field_in_a_chain_step_is_one_error() {
    let t = Test::new();
    t.edit(
        "pipelines/chains/delivery.yaml",
        "        agent: rex-acceptance",
        "        agnet: rex-acceptance",
    );
    let run = t
        .arg("render")
        .run()
        .status(1)
        .stderr_contains("error[E002]: unknown field `agnet`")
        .stderr_lacks("unknown chain `delivery`")
        .stderr_lacks("is not used");
    assert_eq!(summary(&run), "error: 1 error", "{}", run.report());
}

#[test]
fn absolute_paths_are_printed_with_one_leading_slash() {
    let t = Test::new();
    let out = t.join("abs/out");
    let shown = out.to_string_lossy().into_owned();
    t.args(["render", "--check", "--out"])
        .arg(&out)
        .run()
        .status(2)
        .stderr_contains(&format!("{shown}/ is stale"))
        .stderr_lacks("//")
        .stdout_lacks("///");
    t.args(["render", "--out"])
        .arg(&out)
        .run()
        .status(0)
        .stderr_contains(&format!("wrote {shown}/: {} files", files()))
        .stderr_lacks("//");
    t.edit(PLATFORM, LIMIT_12, "limit: twelve ");
    t.args(["render", "--pipelines"])
        .arg(t.join("pipelines"))
        .run()
        .status(1)
        .stderr_contains(&format!(
            " --> {}/platform.yaml:",
            t.join("pipelines").display()
        ))
        .stderr_lacks(" --> //");
}

#[test]
fn unknown_semaphore_help_is_spelled_right() {
    let t = Test::new();
    let text = t.read(PLATFORM);
    let cut = text
        .find("\nconcurrency:\n")
        .expect("a concurrency section");
    let end = text[cut + 1..]
        .find("\n\n")
        .map_or(text.len(), |i| cut + 1 + i + 1);
    t.write(PLATFORM, format!("{}{}", &text[..=cut], &text[end..]));
    t.arg("render")
        .run()
        .status(1)
        .stderr_contains("error[E018]: unknown semaphore or mutex `")
        .stderr_contains("= help: no semaphore or mutex is declared")
        .stderr_lacks("mutexe ");
}

// Known bugs. Each test states the correct behaviour and stays ignored until
// orchctl is fixed.

#[test]
fn an_unknown_field_in_project_is_one_error() {
    let t = Test::new();
    t.edit(
        PLATFORM,
        "  namespace: agents\n",
        "  namespace: agents\n  namspace: x\n",
    );
    let run = t
        .arg("render")
        .run()
        .status(1)
        .stderr_contains("error[E002]: unknown field `namspace`")
        .stderr_lacks("declares `project`")
        .stderr_lacks("`project.repositories` is empty")
        .stderr_lacks("is undefined");
    assert_eq!(summary(&run), "error: 1 error", "{}", run.report());
}

#[test]
fn an_unknown_field_in_a_semaphore_is_one_error() {
    let t = Test::new();
    t.edit(
        PLATFORM,
        "      limit: 12 ",
        "      limt: 3\n      limit: 12 ",
    );
    let run = t
        .arg("render")
        .run()
        .status(1)
        .stderr_contains("error[E002]: unknown field `limt`")
        .stderr_lacks("E018");
    assert_eq!(summary(&run), "error: 1 error", "{}", run.report());
}

#[test]
fn a_missing_section_names_the_directory_given() {
    let t = Test::empty();
    std::fs::create_dir(t.join("specs")).unwrap();
    t.args(["render", "--pipelines", "specs"])
        .run()
        .status(1)
        .stderr_contains("error[E007]: no file under specs/ declares `project`");
}

#[test]
fn a_symlinked_output_directory_is_written_through() {
    let t = Test::new();
    std::fs::create_dir(t.join("real")).unwrap();
    std::os::unix::fs::symlink("real", t.join("generated")).unwrap();
    // The first render fills the empty target as it compiles; the second
    // compares with what is there.
    t.arg("render").run().status(0);
    assert!(
        std::fs::symlink_metadata(t.join("generated"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "generated is still a symlink after the first render"
    );
    assert_eq!(
        common::snapshot_dir(&t.join("real")),
        common::snapshot_dir(&root().join("generated")),
        "the symlink's target holds the whole tree"
    );
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    t.arg("render").run().status(0);
    let meta = std::fs::symlink_metadata(t.join("generated")).unwrap();
    assert!(
        meta.file_type().is_symlink(),
        "generated is still a symlink"
    );
    assert!(
        t.read("real/configmaps/cto-semaphores.yaml")
            .contains("\n  agents: '20'\n"),
        "the symlink's target holds the new tree"
    );
}

/// `--out generated/` (as completion writes it) names the same symlinked
/// directory as `--out generated`.
#[test]
fn a_symlinked_output_directory_with_a_trailing_slash_is_written_through() {
    let t = Test::new();
    std::fs::create_dir(t.join("real")).unwrap();
    std::os::unix::fs::symlink("real", t.join("generated")).unwrap();
    for _ in 0..2 {
        t.args(["render", "--out", "generated/"]).run().status(0);
        t.edit(PLATFORM, LIMIT_12, LIMIT_20)
            .edit(PLATFORM, LIMIT_20, LIMIT_12);
    }
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    t.args(["render", "--out", "generated/"])
        .run()
        .status(0)
        .stderr_is(&format!(
            "wrote generated/: {} files (0 added, 1 changed, 0 removed)\n",
            files()
        ));
    assert!(
        std::fs::symlink_metadata(t.join("generated"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    t.args(["render", "--check", "--out", "generated/"])
        .run()
        .status(0);
}

/// A mount point in the output directory is not moved away with the old
/// tree, nor its files removed: the render is refused, nothing changed.
/// Whatever is mounted: another file system, a directory of the same one,
/// a single file. (Needs root, for a mount namespace of its own.)
#[test]
fn a_mount_point_in_the_output_directory_is_refused() {
    let namespace = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !namespace.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mount namespace here (needs root)");
        return;
    }
    for (what, mount) in [
        ("tmpfs", "mount -t tmpfs orchctl-test generated/vendor"),
        ("directory", "mount --bind elsewhere generated/vendor"),
        ("file", "mount --bind elsewhere/keep.txt generated/keep.txt"),
    ] {
        let t = Test::new();
        t.arg("render").run().status(0);
        t.edit(PLATFORM, LIMIT_12, LIMIT_20);
        std::fs::create_dir(t.join("generated/vendor")).unwrap();
        t.write("generated/keep.txt", "");
        t.write("elsewhere/keep.txt", "mine\n");
        let before = t.tree("generated");
        // `orchctl ARGS` with `mount` done first, in a mount namespace of its
        // own; its exit code, then what the mounted file holds.
        let mounted = |args: &str| {
            let script = format!(
                "{mount} && NO_COLOR=1 '{}' {args}; echo \"exit $?\"; cat elsewhere/keep.txt",
                env!("CARGO_BIN_EXE_orchctl")
            );
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c", &script])
                .current_dir(t.path())
                .output()
                .unwrap()
        };
        let out = mounted("render");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "exit 1\nmine\n",
            "{what}"
        );
        let at = if what == "file" { "keep.txt" } else { "vendor" };
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "error[E029]: cannot write `generated`: `{at}` in it is a mount point\n  = help: \
                 nothing was changed; orchctl replaces generated/ whole, which would move the \
                 mount away with the old tree: unmount `generated/{at}`, or mount it outside \
                 generated/\n\n"
            ),
            "{what}"
        );
        assert_eq!(t.tree("generated"), before, "{what}");
        assert!(t.leftovers().is_empty(), "{what}: {:?}", t.leftovers());
        // `--check` reads through it.
        let out = mounted("render --check >/dev/null");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "exit 2\nmine\n",
            "{what}"
        );
    }
}

#[test]
fn a_first_render_writes_the_same_tree_as_any_other() {
    // Into a missing or an empty directory, files go to disk as they are
    // made; into a directory holding anything, the tree is compared first.
    // The result is the same tree, byte for byte, and the same report.
    let expected = common::snapshot_dir(&root().join("generated"));
    let report = format!(
        "wrote generated/: {} files ({} added, 0 changed, 0 removed)\n",
        files(),
        files()
    );
    for setup in ["missing", "empty", "empty subdirectory"] {
        let t = Test::new();
        match setup {
            "empty" => std::fs::create_dir(t.join("generated")).unwrap(),
            "empty subdirectory" => std::fs::create_dir_all(t.join("generated/rbac")).unwrap(),
            _ => {}
        }
        t.arg("render").run().status(0).stderr_is(&report);
        assert_eq!(
            common::snapshot_dir(&t.join("generated")),
            expected,
            "{setup}"
        );
        let hidden: Vec<String> = std::fs::read_dir(t.join("."))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".generated."))
            .collect();
        assert_eq!(hidden, Vec::<String>::new(), "{setup}: staging left behind");
    }
}

#[test]
fn foreign_symlinks_in_the_output_survive_a_render() {
    let t = Test::new();
    t.arg("render").run().status(0);
    t.write("NOTES.md", "notes\n");
    std::os::unix::fs::symlink("../NOTES.md", t.join("generated/notes.md")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/orchctl", t.join("generated/dangling.md")).unwrap();
    t.edit(PLATFORM, LIMIT_12, LIMIT_20);
    t.arg("render").run().status(0).stderr_is(&format!(
        "wrote generated/: {} files (0 added, 1 changed, 0 removed)\n",
        files()
    ));
    for (name, target) in [
        ("generated/notes.md", "../NOTES.md"),
        ("generated/dangling.md", "/nonexistent/orchctl"),
    ] {
        assert_eq!(
            std::fs::read_link(t.join(name)).ok(),
            Some(PathBuf::from(target)),
            "{name} is still a symlink to {target}"
        );
    }
}

#[test]
fn a_large_mapping_parses_in_linear_time() {
    let t = Test::new();
    let mut text = String::from("vars:\n");
    for i in 0..100_000 {
        writeln!(text, "  k{i}: v").unwrap();
    }
    t.write("pipelines/zz-many.yaml", text);
    // Run::run gives up after TIMEOUT (60 s); a linear parse takes about a second.
    t.arg("render").run().status(0);
}

/// orchctl replaces its output directory whole: it refuses one that holds
/// the spec (`--out .`), before writing anything.
#[test]
fn an_output_directory_containing_the_spec_is_refused() {
    let t = Test::new();
    t.args(["render", "--out", "."])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_contains("error[E033]: the output directory `.` contains the spec");
}

/// An output directory that is a symbolic link to nothing (missing, or a
/// loop) is an error for `render` and `--check` alike, never "stale".
#[cfg(target_os = "linux")]
#[test]
fn an_output_link_that_leads_nowhere_is_an_error() {
    let t = Test::new();
    std::os::unix::fs::symlink("missing", t.path().join("dangling")).unwrap();
    std::os::unix::fs::symlink("loop-b", t.path().join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", t.path().join("loop-b")).unwrap();
    for (link, why) in [
        ("dangling", "No such file or directory (os error 2)"),
        ("loop-a", "Too many levels of symbolic links (os error 40)"),
    ] {
        for check in [false, true] {
            t.args(with_check(&["render", "--out", link], check))
                .run()
                .status(1)
                .stdout_is_empty()
                .stderr_is(&format!(
                    "error[E029]: `{link}` is a symbolic link that leads nowhere: {why}\n  \
                     = help: create the directory it points to, or remove the link\n\n"
                ));
        }
    }
    assert!(!t.path().join("missing").exists());
}

/// Nor one inside the spec directory, whose YAML the next run would read as
/// spec files; a hidden one there is not read, and allowed.
#[test]
fn an_output_directory_inside_the_spec_is_refused() {
    let t = Test::new();
    t.args(["render", "--out", "pipelines/generated"])
        .run()
        .status(1)
        .stdout_is_empty()
        .stderr_is(
            "error[E033]: the output directory `pipelines/generated` is inside the spec directory `pipelines`\n  \
             = help: orchctl reads every *.yaml under the spec directory, its own output too; point `--out` outside it, e.g. `generated`\n\n",
        );
    assert!(!t.path().join("pipelines/generated").exists());
    t.args(["render", "--out", "pipelines/.generated"])
        .run()
        .status(0);
    t.args(["render", "--out", "pipelines/.generated", "--check"])
        .run()
        .status(0);
}

/// Every command is listed with its own one-line description, and its own
/// `--help` starts with that line.
#[test]
fn every_command_has_its_own_description() {
    let (_, help, _) = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orchctl"))
            .arg("--help")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            (),
        )
    };
    let commands: Vec<(String, String)> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let l = l.trim();
            let (name, about) = l.split_once(' ')?;
            Some((name.to_string(), about.trim().to_string()))
        })
        .filter(|(name, _)| name != "help")
        .collect();
    let names: Vec<&str> = commands.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "render",
            "schema",
            "set-image",
            "route",
            "play",
            "init",
            "validate",
            "diff",
            "graph"
        ]
    );
    let mut abouts: Vec<&str> = commands.iter().map(|(_, a)| a.as_str()).collect();
    abouts.dedup();
    assert_eq!(
        abouts.len(),
        commands.len(),
        "two commands share a description"
    );
    for (name, about) in &commands {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orchctl"))
            .args([name.as_str(), "--help"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with(about.as_str()),
            "`{name} --help` starts with {text:?}"
        );
    }
}

/// On Linux with glibc the executable is linked as `build.rs` says it will
/// be (`ORCHCTL_EXPECT_LINK`): with `.cargo/config.toml` in effect, glibc
/// linked in at a fixed address (no dynamic loader, no start-up relocation);
/// glibc linked dynamically, at a fixed address unless built with
/// `ORCHCTL_PIE`; or a static position-independent build.
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[test]
fn the_executable_is_linked_as_build_rs_expects() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_orchctl")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4..6], [2, 1], "a 64-bit little-endian ELF file");
    let int = |at: usize, len: usize| {
        let mut bytes = [0u8; 8];
        bytes[..len].copy_from_slice(&elf[at..at + len]);
        u64::from_le_bytes(bytes) as usize
    };
    // e_type: 2 is a fixed-address executable, 3 a position-independent one.
    let e_type = int(16, 2);
    // A dynamically linked executable names its loader in a PT_INTERP (3)
    // program header.
    let (phoff, phentsize, phnum) = (int(32, 8), int(54, 2), int(56, 2));
    let interp = (0..phnum).any(|i| int(phoff + i * phentsize, 4) == 3);
    let found = match (interp, e_type) {
        (true, 2) => "dynamic-fixed",
        (true, 3) => "dynamic-pie",
        (false, 2) => "static-fixed",
        (false, 3) => "static-pie",
        other => panic!("unexpected ELF header: {other:?}"),
    };
    assert_eq!(found, env!("ORCHCTL_EXPECT_LINK"));
}
