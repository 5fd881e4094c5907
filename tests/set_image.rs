//! `orchctl set-image`: only the reference changes, byte for byte; every
//! accepted form; idempotence; re-render; errors.

mod common;

use std::path::Path;

const IMAGES: &str = "images:
  # The agent runtime; CI bumps it.
  agent: ghcr.io/5dlabs/agent:sha-3f9c2ab1   # tag = commit

  tools: \"ghcr.io/5dlabs/tools:sha-81d0e4c7\"
  controller: &controller 'ghcr.io/5dlabs/controller:sha-3f9c2ab1'
  docs-server: *controller
";

/// The reference platform with a tricky `images` section.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(
        &common::root().join("pipelines"),
        &dir.path().join("pipelines"),
    );
    let platform = dir.path().join("pipelines/platform.yaml");
    let text = std::fs::read_to_string(&platform).unwrap();
    let start = text.find("images:\n").unwrap();
    let end = start + text[start..].find("\nvars:").unwrap() + 1;
    std::fs::write(
        &platform,
        format!("{}{IMAGES}\n{}", &text[..start], &text[end..]),
    )
    .unwrap();
    let out = run(dir.path(), &["render"]);
    assert_eq!(out.0, 0, "{}", out.2);
    dir
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::orchctl(dir, args)
}

fn platform(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("pipelines/platform.yaml")).unwrap()
}

fn agent_step(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("generated/workflowtemplates/agent-step.yaml")).unwrap()
}

#[test]
fn a_new_reference_changes_only_its_bytes_and_re_renders() {
    let dir = setup();
    let before = platform(dir.path());
    let (code, stdout, stderr) = run(
        dir.path(),
        &["set-image", "agent=ghcr.io/5dlabs/agent:sha-4b1c9e2"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.starts_with(
        "agent: ghcr.io/5dlabs/agent:sha-3f9c2ab1 → ghcr.io/5dlabs/agent:sha-4b1c9e2 (pipelines/platform.yaml:19)\nwrote generated/:"
    ), "{stderr}");
    assert_eq!(
        platform(dir.path()),
        before.replacen("agent:sha-3f9c2ab1   # tag", "agent:sha-4b1c9e2   # tag", 1),
        "every other byte is kept"
    );
    assert!(agent_step(dir.path()).contains("image: ghcr.io/5dlabs/agent:sha-4b1c9e2\n"));
    assert_eq!(run(dir.path(), &["render", "--check"]).0, 0);
}

#[test]
fn quoting_and_anchors_are_kept() {
    let dir = setup();
    let before = platform(dir.path());
    assert_eq!(
        run(
            dir.path(),
            &["set-image", "tools=sha-90e1d2f", "controller=sha-90e1d2f"]
        )
        .0,
        0
    );
    let after = platform(dir.path());
    assert_eq!(
        after,
        before
            .replacen(
                "\"ghcr.io/5dlabs/tools:sha-81d0e4c7\"",
                "\"ghcr.io/5dlabs/tools:sha-90e1d2f\"",
                1
            )
            .replacen(
                "&controller 'ghcr.io/5dlabs/controller:sha-3f9c2ab1'",
                "&controller 'ghcr.io/5dlabs/controller:sha-90e1d2f'",
                1
            )
    );
    // The alias follows its anchor.
    let apps = std::fs::read_to_string(
        dir.path()
            .join("generated/argocd/applications/docs-server.yaml"),
    )
    .unwrap();
    assert!(
        apps.contains("ghcr.io/5dlabs/controller:sha-90e1d2f"),
        "{apps}"
    );
}

#[test]
fn every_accepted_form() {
    let dir = setup();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let cases = [
        (
            format!("agent=@{digest}"),
            format!("ghcr.io/5dlabs/agent:sha-3f9c2ab1@{digest}"),
        ),
        (
            "agent=v2".to_string(),
            "ghcr.io/5dlabs/agent:v2".to_string(),
        ),
        (
            "agent:v3".to_string(),
            "ghcr.io/5dlabs/agent:v3".to_string(),
        ),
        (
            format!("agent@{digest}"),
            format!("ghcr.io/5dlabs/agent:v3@{digest}"),
        ),
        (
            "agent=registry.example.com/agents/rex:1.4.0".to_string(),
            "registry.example.com/agents/rex:1.4.0".to_string(),
        ),
        (
            format!("agent=ghcr.io/5dlabs/agent@{digest}"),
            format!("ghcr.io/5dlabs/agent@{digest}"),
        ),
    ];
    for (arg, expected) in cases {
        let (code, _, stderr) = run(dir.path(), &["set-image", &arg, "--no-render"]);
        assert_eq!(code, 0, "{arg}: {stderr}");
        assert!(
            platform(dir.path()).contains(&format!("  agent: {expected}   # tag = commit\n")),
            "{arg}"
        );
    }
}

#[test]
fn setting_the_same_reference_twice_changes_nothing() {
    let dir = setup();
    assert_eq!(run(dir.path(), &["set-image", "agent=sha-4b1c9e2"]).0, 0);
    let spec = platform(dir.path());
    let tree = common::snapshot_dir(&dir.path().join("generated"));
    let (code, _, stderr) = run(dir.path(), &["set-image", "agent=sha-4b1c9e2"]);
    assert_eq!(
        (code, stderr.as_str()),
        (0, "agent: already ghcr.io/5dlabs/agent:sha-4b1c9e2\n")
    );
    assert_eq!(platform(dir.path()), spec);
    assert_eq!(common::snapshot_dir(&dir.path().join("generated")), tree);
}

#[test]
fn no_render_leaves_generated_stale() {
    let dir = setup();
    let tree = common::snapshot_dir(&dir.path().join("generated"));
    assert_eq!(
        run(
            dir.path(),
            &["set-image", "agent=sha-4b1c9e2", "--no-render"]
        )
        .0,
        0
    );
    assert_eq!(common::snapshot_dir(&dir.path().join("generated")), tree);
    assert_eq!(run(dir.path(), &["render", "--check"]).0, 2);
}

#[test]
fn errors_change_nothing() {
    let dir = setup();
    let spec = platform(dir.path());
    let (code, _, stderr) = run(dir.path(), &["set-image", "agnet=sha-1"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "error[E009]: no image named `agnet` in the spec\n  = help: did you mean `agent`?\n\nerror: 1 error\n"
    );
    let (code, _, stderr) = run(dir.path(), &["set-image", "nope=sha-1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("help: declared images: `agent`, `controller`, `docs-server`, `tools`"),
        "{stderr}"
    );
    let (code, _, stderr) = run(dir.path(), &["set-image", "agent=Ghcr.io/UPPER/agent:1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[E026]: invalid image reference `Ghcr.io/UPPER/agent:1`"),
        "{stderr}"
    );
    let (code, _, stderr) = run(dir.path(), &["set-image", "agent=-bad-tag"]);
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) = run(dir.path(), &["set-image", "agent"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[E026]: cannot read `agent`"),
        "{stderr}"
    );
    let (code, _, stderr) = run(dir.path(), &["set-image", "docs-server=sha-1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error[E026]: image `docs-server` is an alias of another image"),
        "{stderr}"
    );
    // A valid request after a failing one in the same call: nothing is kept,
    // and nothing is said to have changed.
    let (code, _, stderr) = run(dir.path(), &["set-image", "tools=sha-2", "agnet=sha-1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[E009]: no image named `agnet`"),
        "{stderr}"
    );
    assert!(!stderr.contains('→'), "{stderr}");
    assert_eq!(platform(dir.path()), spec, "all or nothing");
    // One image, two new references.
    let (code, _, stderr) = run(dir.path(), &["set-image", "agent=sha-1", "agent=sha-2"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "error[E026]: image `agent` is named twice\n  = help: give each image one new reference\n\n"
    );
    assert_eq!(platform(dir.path()), spec);
}

/// A render that stops at a prompt template's memory ceiling (the process
/// exits at once, from inside the allocator) still puts the spec back.
#[test]
fn a_prompt_template_over_its_ceiling_leaves_the_spec_as_it_was() {
    let dir = setup();
    let prompt = dir.path().join("pipelines/prompts/rex-author.md");
    std::fs::write(&prompt, common::doubling_prompt()).unwrap();
    let spec = platform(dir.path());
    let before = agent_step(dir.path());
    let (code, stdout, stderr) = run(dir.path(), &["set-image", "agent=sha-1"]);
    assert_eq!(code, 1, "{stderr}");
    let (said, error) = stderr.split_once('\n').unwrap();
    assert_eq!(
        said,
        "agent: ghcr.io/5dlabs/agent:sha-3f9c2ab1 → ghcr.io/5dlabs/agent:sha-1 \
         (pipelines/platform.yaml:19)"
    );
    assert!(
        error.starts_with(
            "error[E032]: prompt template of `rex-author` needs more than 64 MiB of memory to \
             render\n"
        ),
        "{stderr}"
    );
    assert!(
        error.ends_with("\nerror: 1 error\nthe spec files were restored\n"),
        "{stderr}"
    );
    assert_eq!(stdout, "");
    assert_eq!(platform(dir.path()), spec);
    assert_eq!(agent_step(dir.path()), before);
}

/// The spec file is replaced whole: its permissions stay, a symlink to it
/// stays a symlink, and no temporary file is left beside it.
#[cfg(unix)]
#[test]
fn the_spec_file_is_replaced_whole() {
    use std::os::unix::fs::PermissionsExt;
    let dir = setup();
    let pipelines = dir.path().join("pipelines");
    let real = dir.path().join("platform.yaml");
    std::fs::rename(pipelines.join("platform.yaml"), &real).unwrap();
    std::os::unix::fs::symlink(&real, pipelines.join("platform.yaml")).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, _, stderr) = run(dir.path(), &["set-image", "agent=sha-7654321"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::symlink_metadata(pipelines.join("platform.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("sha-7654321")
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .chain(std::fs::read_dir(&pipelines).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("orchctl-"))
        .collect();
    assert_eq!(hidden, Vec::<String>::new());
}
