//! `orchctl diff`: representative edits of the reference spec, committed in
//! a scratch git repository and compared with the working tree, in every
//! output format; the default base; the Markdown size limit; exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, root};

/// A scratch git repository holding a copy of the reference `pipelines/`,
/// committed on `main`.
struct Repo {
    dir: tempfile::TempDir,
    /// The repository: the scratch directory, or a directory in it.
    path: PathBuf,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        Self::init(dir, path)
    }

    /// A repository in a directory of its own (`repo/`) in the scratch
    /// directory, which links can then lead out to.
    fn nested() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        Self::init(dir, path)
    }

    fn init(dir: tempfile::TempDir, path: PathBuf) -> Self {
        let repo = Self { dir, path };
        copy_dir(&root().join("pipelines"), &repo.path().join("pipelines"));
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.commit("the reference platform");
        repo
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// The scratch directory (the repository's, or the one it is in).
    fn outer(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=orchctl",
                "-c",
                "user.email=orchctl@example.com",
            ])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let path = self.path().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(from).count(), 1, "`{from}` once in {rel}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        self
    }

    fn append(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        let mut all = std::fs::read_to_string(&path).unwrap();
        all.push_str(text);
        std::fs::write(&path, all).unwrap();
        self
    }

    fn orchctl(&self, args: &[&str]) -> (i32, String, String) {
        self.orchctl_with(args, &[])
    }

    /// [`Repo::orchctl`] with more environment variables.
    fn orchctl_with(&self, args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_orchctl"))
            .args(args)
            .current_dir(self.path())
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }
}

/// The commit ids replaced by stable names, for snapshots.
fn stable(text: &str, commit: &str) -> String {
    text.replace(commit, "[BASE-COMMIT]")
        .replace(&commit[..7], "[BASE]")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/diff"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Run `orchctl diff` in every format and snapshot each.
fn snapshot_all(repo: &Repo, base: &str, name: &str) {
    for format in ["text", "markdown", "json"] {
        let (code, stdout, stderr) = repo.orchctl(&["diff", "-o", format, "--exit-code"]);
        assert_eq!(code, 2, "{name} {format}: {stderr}");
        assert!(stderr.is_empty(), "{stderr}");
        if format == "json" {
            let _: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        }
        snapshot(&format!("{name}_{format}"), &stable(&stdout, base));
    }
}

fn rename_agent(repo: &Repo) {
    repo.edit("pipelines/agents.yaml", "  rex-clippy:\n", "  rex-lint:\n")
        .edit(
            "pipelines/chains/delivery.yaml",
            "agent: rex-clippy",
            "agent: rex-lint",
        )
        .edit(
            "pipelines/platform.yaml",
            "enum: [rex-author, rex-clippy,",
            "enum: [rex-author, rex-lint,",
        );
}

#[test]
fn rename_an_agent() {
    let repo = Repo::new();
    let base = repo.git(&["rev-parse", "HEAD"]);
    rename_agent(&repo);
    snapshot_all(&repo, &base, "rename_agent");
    let (_, text, _) = repo.orchctl(&["diff"]);
    // Removed keys are traced to where the agent was, added ones to where it is.
    assert!(
        text.contains("agent `rex-clippy`  (pipelines/agents.yaml:16 @ "),
        "{text}"
    );
    assert!(
        text.contains("agent `rex-lint`  (pipelines/agents.yaml:16)"),
        "{text}"
    );
    assert!(
        text.contains("step `clippy` of chain `delivery`  (pipelines/chains/delivery.yaml:13)"),
        "{text}"
    );
}

#[test]
fn add_a_step() {
    let repo = Repo::new();
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.edit(
        "pipelines/chains/delivery.yaml",
        "      - name: deploy\n",
        "      - name: docs\n        agent: docs-writer\n        after: [tests]\n      - name: deploy\n",
    );
    snapshot_all(&repo, &base, "add_step");
    let (_, text, _) = repo.orchctl(&["diff"]);
    assert!(
        text.contains("+ spec.templates[delivery].dag.tasks[docs]"),
        "the new task is one added item, not every later task changed: {text}"
    );
    assert!(
        text.contains("step `docs` of chain `delivery`  (pipelines/chains/delivery.yaml:23)"),
        "{text}"
    );
}

#[test]
fn change_a_limit() {
    let repo = Repo::new();
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.edit(
        "pipelines/platform.yaml",
        "      limit: 2\n      overrides:",
        "      limit: 4\n      overrides:",
    );
    snapshot_all(&repo, &base, "change_limit");
    let (_, text, _) = repo.orchctl(&["diff"]);
    assert!(
        text.contains("~ data[\"per-repo.5dlabs.docs\"]: \"2\" → \"4\""),
        "{text}"
    );
    assert!(
        text.contains("semaphore `per-repo`  (pipelines/platform.yaml:"),
        "{text}"
    );
}

#[test]
fn add_a_route() {
    let repo = Repo::new();
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.append(
        "pipelines/events.yaml",
        concat!(
            "\n",
            "    # A `triage` label on an issue → triage again.\n",
            "    issue-labelled-triage:\n",
            "      description: Labelling an issue `triage` triages it again.\n",
            "      on: issues\n",
            "      actions: [labeled]\n",
            "      when:\n",
            "        label: [triage]\n",
            "      run: triage\n",
            "      with:\n",
            "        repository: ${event.repository.full_name}\n",
            "        issueNumber: ${event.issue.number}\n",
        ),
    );
    snapshot_all(&repo, &base, "add_route");
    let (_, text, _) = repo.orchctl(&["diff"]);
    assert!(
        text.contains("+ Sensor agents/issue-labelled-triage  sensors/issue-labelled-triage.yaml  from route `issue-labelled-triage` (pipelines/events.yaml:"),
        "{text}"
    );
}

#[test]
fn no_changes_and_exit_codes() {
    let repo = Repo::new();
    let (code, stdout, _) = repo.orchctl(&["diff", "--exit-code"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("no changes"), "{stdout}");
    let (code, stdout, _) = repo.orchctl(&["diff", "-o", "markdown"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("<!-- orchctl diff -->\n### orchctl diff: no changes"),
        "{stdout}"
    );
    rename_agent(&repo);
    // Without --exit-code a difference is not a failure.
    assert_eq!(repo.orchctl(&["diff"]).0, 0);
    assert_eq!(repo.orchctl(&["diff", "--exit-code"]).0, 2);
    // A base that does not exist, or a spec that does not compile: 1.
    let (code, _, stderr) = repo.orchctl(&["diff", "--base", "no-such-branch"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error[E050]: `no-such-branch` is not a commit of this repository"),
        "{stderr}"
    );
    repo.edit(
        "pipelines/chains/delivery.yaml",
        "agent: rex-author",
        "agent: rex-autor",
    );
    let (code, _, stderr) = repo.orchctl(&["diff"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error[E010]: unknown agent `rex-autor`"),
        "{stderr}"
    );
}

#[test]
fn the_default_base_is_the_merge_base_with_main() {
    let repo = Repo::new();
    let main = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.edit(
        "pipelines/platform.yaml",
        "      limit: 12 ",
        "      limit: 16 ",
    );
    repo.commit("more agents at once");
    // The working tree is clean: the diff is the branch's commits.
    let (code, stdout, stderr) = repo.orchctl(&["diff", "--exit-code"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "orchctl diff: pipelines/ at {} (merge base of HEAD and main) → the working tree\n",
            &main[..7]
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("~ data.agents: \"12\" → \"16\""),
        "{stdout}"
    );
    // --base HEAD: nothing uncommitted.
    assert_eq!(
        repo.orchctl(&["diff", "--base", "HEAD", "--exit-code"]).0,
        0
    );
}

#[test]
fn a_base_without_the_spec_adds_everything() {
    let repo = Repo::new();
    let dir = repo.path().join("pipelines");
    let moved = repo.path().join("spec");
    std::fs::rename(&dir, &moved).unwrap();
    repo.commit("no spec yet");
    std::fs::rename(&moved, &dir).unwrap();
    let (code, stdout, stderr) = repo.orchctl(&["diff", "--base", "HEAD", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let objects = common::compile(&root().join("pipelines")).objects.len();
    assert_eq!(json["summary"]["added"], objects);
    assert_eq!(json["summary"]["changed"], 0);
}

/// A base revision whose prompt template goes over its memory ceiling: the
/// process exits from inside the template, yet names the revision's file,
/// says why there is no diff and removes its checkout of the revision.
#[test]
fn a_base_over_a_prompt_ceiling_is_named_and_its_checkout_removed() {
    let repo = Repo::new();
    let prompt = repo.path().join("pipelines/prompts/rex-author.md");
    let good = std::fs::read_to_string(&prompt).unwrap();
    std::fs::write(&prompt, common::doubling_prompt()).unwrap();
    let base = repo.commit("a prompt that builds 256 MB");
    std::fs::write(&prompt, good).unwrap();
    repo.commit("fixed");
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .args(["diff", "--base", "HEAD~1"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("TMPDIR", scratch.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let short = &base[..7];
    assert!(
        stderr.starts_with(&format!(
            "error[E032]: prompt template of `rex-author` needs more than 64 MiB of memory to \
             render\n --> pipelines@{short}/prompts/rex-author.md:1:1\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "error: 1 error\nthe spec at {short} does not compile, so there is nothing to compare \
             with\n  = help: compare with another revision: --base REV\n"
        )),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Replace `rel` by a symbolic link to `target`, its content moved to
/// `moved` first (paths relative to the repository).
fn link(repo: &Repo, rel: &str, target: &str, moved: Option<&str>) {
    let at = repo.path().join(rel);
    if let Some(moved) = moved {
        let to = repo.path().join(moved);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(&at, to).unwrap();
    } else {
        std::fs::remove_file(&at).unwrap();
    }
    std::os::unix::fs::symlink(target, at).unwrap();
}

/// Linked spec and prompt files are read at the base as in the working
/// tree: a link out of `pipelines/` into the repository, one inside it and
/// one out of the repository (whose target is not versioned).
#[test]
fn linked_files_are_read_at_the_base_as_in_the_working_tree() {
    let repo = Repo::new();
    let elsewhere = tempfile::tempdir().unwrap();
    link(
        &repo,
        "pipelines/agents.yaml",
        "../shared/agents.yaml",
        Some("shared/agents.yaml"),
    );
    link(
        &repo,
        "pipelines/prompts/rex-author.md",
        "../library/rex-author.md",
        Some("pipelines/library/rex-author.md"),
    );
    let apps = elsewhere.path().join("apps.yaml");
    std::fs::rename(repo.path().join("pipelines/apps.yaml"), &apps).unwrap();
    std::os::unix::fs::symlink(&apps, repo.path().join("pipelines/apps.yaml")).unwrap();
    repo.commit("agents and a prompt behind links");

    let (code, stdout, stderr) = repo.orchctl(&["diff", "--base", "HEAD", "--exit-code"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    // The same from a relative temporary directory (links are made to
    // places in the scratch checkout).
    std::fs::create_dir(repo.path().join("tmp")).unwrap();
    let (code, stdout, stderr) = repo.orchctl_with(
        &["diff", "--base", "HEAD", "--exit-code"],
        &[("TMPDIR", Path::new("tmp"))],
    );
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    std::fs::remove_dir(repo.path().join("tmp")).unwrap();

    // A change behind each link is seen, in the working tree and at a base.
    repo.edit(
        "pipelines/library/rex-author.md",
        "implementation author for",
        "implementation author (linked) for",
    )
    .edit(
        "shared/agents.yaml",
        "Implements the task and opens",
        "Implements the task, then opens",
    );
    // The summary and the changed fields of each changed object.
    let changed = |args: &[&str]| {
        let (code, stdout, stderr) = repo.orchctl(args);
        assert_eq!(code, 0, "{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let fields: Vec<Vec<String>> = json["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let fields = o["fields"].as_array().unwrap().iter();
                let paths = fields.map(|f| f["path"].as_str().unwrap().to_string());
                std::iter::once(o["name"].as_str().unwrap().to_string())
                    .chain(paths)
                    .collect()
            })
            .collect();
        (json["summary"].clone(), fields)
    };
    let objects = common::compile(&root().join("pipelines")).objects.len();
    let expected = (
        serde_json::json!({"changed": 1, "added": 0, "removed": 0, "unchanged": objects - 1}),
        vec![vec![
            "controller-agents".to_string(),
            r#"data["rex-author_profile.json"]"#.to_string(),
            r#"data["rex-author_system-prompt.md"]"#.to_string(),
        ]],
    );
    assert_eq!(changed(&["diff", "--base", "HEAD", "-o", "json"]), expected);
    repo.commit("edits behind the links");
    assert_eq!(
        changed(&["diff", "--base", "HEAD~1", "-o", "json"]),
        expected
    );
}

/// A prompt behind a link out of `pipelines/` is refused at the base, as in
/// the working tree.
#[test]
fn a_linked_prompt_out_of_the_pipelines_directory_is_refused_at_the_base_too() {
    let repo = Repo::new();
    let prompt = "pipelines/prompts/rex-author.md";
    let good = std::fs::read_to_string(repo.path().join(prompt)).unwrap();
    link(
        &repo,
        prompt,
        "../../outside/rex-author.md",
        Some("outside/rex-author.md"),
    );
    let base = repo.commit("a prompt out of pipelines/");
    let (code, _, refused) = repo.orchctl(&["validate"]);
    assert_eq!(code, 1, "{refused}");
    std::fs::remove_file(repo.path().join(prompt)).unwrap();
    std::fs::write(repo.path().join(prompt), good).unwrap();
    assert_eq!(repo.orchctl(&["validate"]).0, 0);
    let (code, _, stderr) = repo.orchctl(&["diff", "--base", "HEAD"]);
    assert_eq!(code, 1, "{stderr}");
    let short = &base[..7];
    assert_eq!(
        stderr,
        format!(
            "{}the spec at {short} does not compile, so there is nothing to compare with\n  = \
             help: compare with another revision: --base REV\n",
            refused.replace(" --> pipelines/", &format!(" --> pipelines@{short}/"))
        )
    );
}

/// Links are followed at the base as the kernel follows them in a checkout:
/// through a link to a directory outside `pipelines/`, out of the
/// repository and back in by another name, and out of it by `..` through a
/// link (to the repository's own parent, never the scratch checkout's).
#[test]
fn links_are_followed_at_the_base_as_in_a_checkout() {
    let repo = Repo::nested();
    let outer = repo.outer();
    // `cfg` → `pipelines/library`, and a prompt through it.
    link(
        &repo,
        "pipelines/prompts/rex-author.md",
        "../../cfg/rex-author.md",
        Some("pipelines/library/rex-author.md"),
    );
    std::os::unix::fs::symlink("pipelines/library", repo.path().join("cfg")).unwrap();
    // Out by the repository's path under another name, and back in.
    std::os::unix::fs::symlink(repo.path(), outer.join("alias")).unwrap();
    link(
        &repo,
        "pipelines/agents.yaml",
        outer.join("alias/shared/agents.yaml").to_str().unwrap(),
        Some("shared/agents.yaml"),
    );
    // Out by `..` through a link to the top of the repository.
    std::fs::write(outer.join("sibling.yaml"), "# nothing here\n").unwrap();
    std::os::unix::fs::symlink("..", repo.path().join("pipelines/up")).unwrap();
    std::os::unix::fs::symlink(
        "up/../sibling.yaml",
        repo.path().join("pipelines/sibling.yaml"),
    )
    .unwrap();
    repo.commit("links");
    // What the scratch checkout's parent holds must not be read.
    let tmp = outer.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::write(tmp.join("sibling.yaml"), "not: a spec\n").unwrap();
    let diff = |args: &[&str]| repo.orchctl_with(args, &[("TMPDIR", &tmp)]);

    assert_eq!(repo.orchctl(&["validate"]).0, 0);
    let (code, stdout, stderr) = diff(&["diff", "--base", "HEAD", "--exit-code"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    // The base's agents are read at the base, not in the working tree.
    repo.edit(
        "shared/agents.yaml",
        "Implements the task and opens",
        "Implements the task, then opens",
    );
    let (code, stdout, stderr) = diff(&["diff", "--base", "HEAD", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["summary"]["changed"], 1, "{stdout}");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// `pipelines` may be a link, in the working tree or at the base: the
/// spec is read where it leads, at each.
#[test]
fn the_pipelines_directory_may_be_a_link() {
    let repo = Repo::new();
    std::fs::create_dir(repo.path().join("conf")).unwrap();
    std::fs::rename(
        repo.path().join("pipelines"),
        repo.path().join("conf/pipelines"),
    )
    .unwrap();
    std::os::unix::fs::symlink("conf/pipelines", repo.path().join("pipelines")).unwrap();
    repo.commit("pipelines/ moved behind a link");
    for base in ["HEAD", "HEAD~1"] {
        let (code, stdout, stderr) = repo.orchctl(&["diff", "--base", base, "--exit-code"]);
        assert_eq!((code, stderr.as_str()), (0, ""), "{base}: {stdout}");
    }
}

/// A directory above `pipelines` that is a link is followed at the base as
/// it is there: `specs -> v1` then, `specs -> v2` now.
#[test]
fn a_link_above_the_pipelines_directory_is_followed_at_the_base() {
    let repo = Repo::new();
    let path = repo.path();
    std::fs::create_dir_all(path.join("v1")).unwrap();
    std::fs::rename(path.join("pipelines"), path.join("v1/pipelines")).unwrap();
    std::os::unix::fs::symlink("v1", path.join("specs")).unwrap();
    repo.commit("specs -> v1");
    copy_dir(&path.join("v1/pipelines"), &path.join("v2/pipelines"));
    std::fs::remove_file(path.join("specs")).unwrap();
    std::os::unix::fs::symlink("v2", path.join("specs")).unwrap();
    repo.edit(
        "v2/pipelines/agents.yaml",
        "Implements the task and opens",
        "Implements the task, then opens",
    );
    repo.commit("specs -> v2, one description changed");
    let (code, stdout, stderr) = repo.orchctl(&[
        "diff",
        "--pipelines",
        "specs/pipelines",
        "--base",
        "HEAD~1",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["summary"]["changed"], 1, "{stdout}");
    assert_eq!(json["summary"]["added"], 0, "{stdout}");
}

/// A link to a file with a trailing `/` is no file, at the base as in a
/// checkout.
#[test]
fn a_link_with_a_trailing_slash_to_a_file_is_no_file_at_the_base() {
    let repo = Repo::new();
    link(
        &repo,
        "pipelines/apps.yaml",
        "apps.text/",
        Some("pipelines/apps.text"),
    );
    let base = repo.commit("apps.yaml -> apps.text/");
    let (code, _, refused) = repo.orchctl(&["validate"]);
    assert_eq!(code, 1);
    assert!(
        refused.starts_with("error[E029]: cannot read `pipelines/apps.yaml`: Not a directory"),
        "{refused}"
    );
    link(&repo, "pipelines/apps.yaml", "apps.text", None);
    let (code, _, stderr) = repo.orchctl(&["diff", "--base", "HEAD"]);
    assert_eq!(code, 1, "{stderr}");
    let short = &base[..7];
    assert!(
        stderr.starts_with(&format!(
            "error[E029]: cannot read `pipelines@{short}/apps.yaml`: "
        )),
        "{stderr}"
    );
}

/// A commit cannot make `diff` write outside its scratch checkout: two
/// names that differ only in bytes that are not UTF-8, one a link out of
/// the repository, the other a directory with a file in it.
#[test]
fn a_commit_cannot_make_diff_write_outside_its_checkout() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::nested();
    let victim = repo.outer().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let dir = repo.path().join("pipelines");
    let name = |b: u8| std::ffi::OsStr::from_bytes(&[b]).to_os_string();
    std::os::unix::fs::symlink("../../victim", dir.join(name(0xfe))).unwrap();
    std::fs::create_dir(dir.join(name(0xff))).unwrap();
    std::fs::write(dir.join(name(0xff)).join("planted.sh"), "echo planted\n").unwrap();
    // And a spec file whose name is not UTF-8 either.
    std::fs::rename(
        dir.join("apps.yaml"),
        dir.join(name(0xfd)).with_extension("yaml"),
    )
    .unwrap();
    repo.commit("names that are not UTF-8");
    let (code, stdout, stderr) = repo.orchctl(&["diff", "--base", "HEAD", "--exit-code"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    let planted: Vec<_> = std::fs::read_dir(&victim).unwrap().collect();
    assert!(planted.is_empty(), "{planted:?}");
}

/// Errors at the base name its files as the revision's, in their help too,
/// never the scratch checkout they are read from.
#[test]
fn errors_at_the_base_name_the_revision_not_its_checkout() {
    let repo = Repo::new();
    let prompt = repo.path().join("pipelines/prompts/rex-author.md");
    let good = std::fs::read_to_string(&prompt).unwrap();
    std::fs::remove_file(&prompt).unwrap();
    let no_prompt = repo.commit("no prompt");
    std::fs::write(&prompt, good).unwrap();
    let platform = repo.path().join("pipelines/platform.yaml");
    let spec = std::fs::read_to_string(&platform).unwrap();
    std::fs::remove_file(&platform).unwrap();
    let no_platform = repo.commit("no platform");
    std::fs::write(&platform, spec).unwrap();
    let errors = |base: &str| {
        let (code, _, stderr) = repo.orchctl(&["diff", "--base", base]);
        assert_eq!(code, 1, "{stderr}");
        assert!(!stderr.contains("orchctl-diff-"), "{stderr}");
        stderr
    };
    let short = &no_prompt[..7];
    let stderr = errors(short);
    for expected in [
        format!(
            "error[E019]: prompt file `prompts/rex-author.md` not found\n --> \
             pipelines@{short}/agents.yaml:9:17\n"
        ),
        format!(
            "  = help: create `pipelines@{short}/prompts/rex-author.md` or fix the path \
             (relative to the spec file)\n"
        ),
    ] {
        assert!(stderr.contains(&expected), "{expected}\nnot in\n{stderr}");
    }
    let short = &no_platform[..7];
    let expected = format!("no file under pipelines@{short}/ declares `project`");
    let stderr = errors(short);
    assert!(stderr.contains(&expected), "{expected}\nnot in\n{stderr}");
}

#[test]
fn outside_a_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("pipelines"), &dir.path().join("pipelines"));
    let out = Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .arg("diff")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error[E050]: `pipelines` is not in a git repository"),
        "{stderr}"
    );
}

#[test]
fn markdown_never_exceeds_the_comment_limit() {
    let repo = Repo::new();
    // Rewrite every prompt: megabytes of changes.
    let prompts: Vec<PathBuf> = std::fs::read_dir(repo.path().join("pipelines/prompts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for (i, path) in prompts.iter().enumerate() {
        let text: String = (0..1200)
            .map(|n| format!("Line {n} of prompt {i}: `code` | pipes | <html> & ```fences```\n"))
            .collect();
        std::fs::write(path, text).unwrap();
    }
    rename_agent(&repo);
    let (code, stdout, stderr) = repo.orchctl(&["diff", "-o", "markdown"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.len() <= 65_536, "{} bytes", stdout.len());
    assert!(stdout.chars().count() <= 65_536);
    assert!(
        stdout.contains("> **Truncated** to stay under GitHub's 65536-character limit"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("<details>").count(),
        stdout.matches("</details>").count(),
        "every section is closed"
    );
    let (_, full, _) = repo.orchctl(&["diff"]);
    assert!(
        full.len() > 200_000,
        "the change is really large: {}",
        full.len()
    );
}

#[test]
fn markdown_stays_within_any_limit() {
    use orchctl::diff::report::{Heading, markdown_within};
    let repo = Repo::new();
    rename_agent(&repo);
    repo.edit(
        "pipelines/platform.yaml",
        "      limit: 2\n      overrides:",
        "      limit: 4\n      overrides:",
    );
    let (loaded, result) = orchctl::compile_dir(&repo.path().join("pipelines"));
    let head = orchctl::diff::Side {
        loaded,
        objects: result.unwrap().objects,
        label: "pipelines".into(),
        revision: None,
    };
    let (revision, base) =
        orchctl::diff::base_side(&repo.path().join("pipelines"), Some("HEAD")).unwrap();
    let diff = orchctl::diff::compare(&base, &head);
    let heading = Heading {
        label: "pipelines",
        base: &revision,
    };
    let full = markdown_within(&diff, &heading, usize::MAX);
    assert!(!full.contains("Truncated"));
    for limit in (1500..full.len() + 100).step_by(97) {
        let text = markdown_within(&diff, &heading, limit);
        assert!(text.len() <= limit, "{} > {limit}", text.len());
        assert_eq!(
            text.matches("<details>").count(),
            text.matches("</details>").count()
        );
        if limit >= full.len() + 400 {
            assert_eq!(text, full, "{limit}");
        } else {
            assert!(text.contains("> **Truncated**"), "{limit}");
        }
    }
}

/// What CI does on a pull request: a shallow clone, the base branch fetched
/// with depth 1, the diff against `FETCH_HEAD` into the job summary.
#[test]
fn the_ci_step_works_in_a_shallow_clone() {
    let origin = Repo::new();
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    let status = Command::new("git")
        .args(["clone", "--quiet", "--depth=1", &url, "."])
        .current_dir(clone.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(status.success());
    let repo = Repo {
        path: clone.path().to_path_buf(),
        dir: clone,
    };
    rename_agent(&repo);
    repo.git(&["fetch", "--no-tags", "--depth=1", "origin", "main"]);
    let (code, stdout, stderr) = repo.orchctl(&["diff", "--base", "FETCH_HEAD", "-o", "markdown"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("<!-- orchctl diff -->\n### orchctl diff: 4 changed"),
        "{stdout}"
    );

    let ci = std::fs::read_to_string(root().join(".github/workflows/ci.yml")).unwrap();
    assert!(ci.contains("if: github.event_name == 'pull_request'"));
    assert!(ci.contains("git fetch --no-tags --depth=1 origin \"$BASE_REF\""));
    assert!(ci.contains("-- diff --base FETCH_HEAD -o markdown >> \"$GITHUB_STEP_SUMMARY\""));
}
