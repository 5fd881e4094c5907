//! `orchctl init`: the scaffold compiles as it is, its output passes the
//! strict schemas, and nothing is ever overwritten.

mod common;

use std::path::Path;

use common::{assert_schema_valid, compile, root, snapshot_dir};
use orchctl::Code;
use orchctl::init::{Options, scaffold, write};

fn orchctl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::orchctl(dir, args)
}

fn acme() -> Options {
    Options {
        project: "acme".into(),
        namespace: "agents".into(),
        repositories: vec!["acme/api".into(), "acme/web".into()],
    }
}

#[test]
fn init_then_render_succeeds_and_passes_strict_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = orchctl(dir.path(), &["init"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("next:"), "{stderr}");
    let (code, _, stderr) = orchctl(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.starts_with("wrote generated/"),
        "no warnings: {stderr}"
    );
    let (code, _, stderr) = orchctl(dir.path(), &["render", "--check"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = orchctl(dir.path(), &["schema", "--check"]);
    assert_eq!(code, 0, "the scaffolded schema is current: {stderr}");

    let compiled = compile(&dir.path().join("pipelines"));
    assert!(compiled.warnings.0.is_empty(), "{:?}", compiled.warnings);
    assert!(assert_schema_valid(&compiled.tree) > 10);
    // The canonical chain, the event chains and the seed routes.
    let model = &compiled.model;
    let delivery: Vec<&str> = model.chains["delivery"]
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        delivery,
        ["author", "clippy", "tests", "deploy", "acceptance"]
    );
    for chain in ["remediation", "ci-failure", "triage", "advance"] {
        assert!(model.chains.contains_key(chain), "{chain}");
    }
    for path in [
        "workflowtemplates/delivery.yaml",
        "eventsources/github.yaml",
        "sensors/pr-comment-remediation.yaml",
        "sensors/check-run-failure.yaml",
        "sensors/workflow-run-failure.yaml",
        "sensors/issue-triage.yaml",
        "sensors/pr-merged.yaml",
    ] {
        assert!(compiled.tree.contains_key(path), "{path}");
    }
    // Named after the directory, with a placeholder repository.
    let project = &model.project.name;
    assert!(orchctl::check::is_dns_label(project), "{project}");
    assert_eq!(&model.project.namespace, project);
    assert_eq!(
        model.project.repositories,
        [format!("example-org/{project}")]
    );
}

#[test]
fn init_into_a_named_directory_with_options() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = orchctl(
        dir.path(),
        &[
            "init",
            "platform",
            "--project",
            "acme",
            "--namespace",
            "agents",
            "--repository",
            "acme/api",
            "--repository",
            "acme/web",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("cd platform && orchctl render"), "{stderr}");
    let compiled = compile(&dir.path().join("platform/pipelines"));
    assert_eq!(compiled.model.project.name, "acme");
    assert_eq!(compiled.model.project.namespace, "agents");
    assert_eq!(
        compiled.model.project.repositories,
        ["acme/api", "acme/web"]
    );
    assert_schema_valid(&compiled.tree);
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines/prompts")).unwrap();
    std::fs::write(dir.path().join("pipelines/agents.yaml"), "agents: {}\n").unwrap();
    std::fs::write(dir.path().join("pipelines/prompts/author.md"), "mine\n").unwrap();
    let before = snapshot_dir(dir.path());
    let (code, stdout, stderr) = orchctl(dir.path(), &["init"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr.lines().next().unwrap(),
        "error[E045]: orchctl init would overwrite 2 existing files: pipelines/agents.yaml, pipelines/prompts/author.md"
    );
    assert!(stderr.contains("help: nothing was written"), "{stderr}");
    assert_eq!(snapshot_dir(dir.path()), before, "nothing was written");

    let e = write(dir.path(), &scaffold(&acme()).unwrap()).unwrap_err();
    assert_eq!(e.code, Code::FileExists);
}

/// Every entry below `dir`, directories included.
fn entries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(
            path.strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
        if path.is_dir() {
            out.extend(
                entries(&path)
                    .into_iter()
                    .map(|e| format!("{}/{e}", path.file_name().unwrap().to_string_lossy())),
            );
        }
    }
    out.sort();
    out
}

/// A write that fails half-way (here a file where a directory of the
/// scaffold goes) takes away every file and directory it made.
#[test]
fn init_that_fails_half_way_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pipelines")).unwrap();
    std::fs::write(dir.path().join("pipelines/prompts"), "mine\n").unwrap();
    let before = (entries(dir.path()), snapshot_dir(dir.path()));
    let (code, stdout, stderr) = orchctl(dir.path(), &["init"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error[E029]: cannot write `pipelines/prompts/"),
        "{stderr}"
    );
    assert!(stderr.contains("help: nothing was kept"), "{stderr}");
    assert_eq!((entries(dir.path()), snapshot_dir(dir.path())), before);
    // The library's write, the same.
    let fresh = dir.path().join("new/project");
    std::fs::create_dir_all(fresh.join("pipelines")).unwrap();
    std::fs::write(fresh.join("pipelines/prompts"), "mine\n").unwrap();
    let e = write(&fresh, &scaffold(&acme()).unwrap()).unwrap_err();
    assert_eq!(e.code, Code::Io);
    assert_eq!(
        entries(&fresh),
        ["pipelines", "pipelines/prompts"],
        "only what was there before"
    );
}

#[test]
fn init_twice_refuses_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(orchctl(dir.path(), &["init"]).0, 0);
    let before = snapshot_dir(dir.path());
    let (code, _, stderr) = orchctl(dir.path(), &["init"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("would overwrite 16 existing files"),
        "{stderr}"
    );
    assert_eq!(snapshot_dir(dir.path()), before);
}

#[test]
fn invalid_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = orchctl(
        dir.path(),
        &["init", "--project", "Acme Corp", "--repository", "acme"],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error[E008]: `Acme Corp` is not a valid project name"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error[E003]: `acme` is not a repository as org/repo"),
        "{stderr}"
    );
    assert!(snapshot_dir(dir.path()).is_empty());
}

#[test]
fn scaffold_is_snapshotted() {
    let files = scaffold(&acme()).unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/init"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (path, text) in &files {
            // The spec files with the project filled in (prompts are copied
            // as they are).
            if !path.ends_with(".yaml") {
                continue;
            }
            let name = path
                .trim_start_matches("pipelines/")
                .replace('/', "__")
                .replace('.', "_");
            insta::assert_snapshot!(name, text);
        }
    });
}

/// The project is named after the directory, one `-` per run of other
/// characters; a name with too little left of it is `platform`. The next
/// step printed quotes a directory the shell would split.
#[test]
fn names_from_odd_directories() {
    let dir = tempfile::tempdir().unwrap();
    for (name, project) in [
        ("my  app", "my-app"),
        ("Acme_API", "acme-api"),
        ("ünï", "platform"),
        ("x", "x"),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        assert_eq!(Options::for_dir(&path).project, project, "{name}");
    }
    let (code, _, stderr) = orchctl(dir.path(), &["init", "it's mine"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.ends_with("then `cd 'it'\\''s mine' && orchctl render`\n"),
        "{stderr}"
    );
    let (code, _, stderr) = orchctl(dir.path(), &["init", "--", "-x"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.ends_with("then `cd ./-x && orchctl render`\n"),
        "{stderr}"
    );
}
