//! The README's examples are true: its two commands exist as written, and the
//! diagnostic it shows is what orchctl prints.

mod common;

use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(common::root().join("README.md")).unwrap()
}

#[test]
fn readme_names_the_two_commands() {
    let text = readme();
    assert!(
        text.contains("cargo run --release -- render "),
        "the render command"
    );
    assert!(text.contains("\ncargo test "), "the test command");
    let ci = std::fs::read_to_string(common::root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("\ncargo test --locked\n"),
        ".ci/run runs the README's test command"
    );
}

#[test]
fn readme_diagnostic_example_is_real_output() {
    let text = readme();
    let start = text
        .find("```text\nerror[E010]")
        .expect("the diagnostic example")
        + "```text\n".len();
    let example = &text[start..start + text[start..].find("```").unwrap()];

    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(
        &common::root().join("pipelines"),
        &dir.path().join("pipelines"),
    );
    let chain = dir.path().join("pipelines/chains/delivery.yaml");
    let spec = std::fs::read_to_string(&chain).unwrap();
    std::fs::write(
        &chain,
        spec.replacen("agent: rex-author", "agent: rex-autor", 1),
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .arg("render")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(example),
        "README example:\n{example}\nactual:\n{stderr}"
    );
    assert!(
        !dir.path().join("generated").exists(),
        "a failed render writes nothing"
    );
}
