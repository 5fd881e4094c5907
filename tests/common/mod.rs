//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use orchctl::Tree;
use orchctl::schemas::{SchemaSet, Verdict};
use orchctl::source::FileId;
use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/schemas`, or `ORCHCTL_SCHEMAS` when set. Fails loudly when absent:
/// schema validation is never skipped.
pub fn schemas_dir() -> PathBuf {
    let dir = std::env::var_os("ORCHCTL_SCHEMAS")
        .map_or_else(|| root().join("../shared/schemas"), PathBuf::from);
    assert!(
        dir.join("strict").is_dir() && dir.join("argo-workflows-v3.7.18/strict").is_dir(),
        "upstream schemas not found at {}: check out `shared/` beside the repository \
         (expected ../shared/schemas/strict and ../shared/schemas/argo-workflows-v3.7.18/strict) \
         or set ORCHCTL_SCHEMAS",
        dir.display()
    );
    dir
}

/// Parse YAML text into JSON with orchctl's own reader.
pub fn yaml_to_json(text: &str) -> Value {
    let node = orchctl::yaml::parse(text, FileId(0))
        .unwrap_or_else(|d| panic!("generated YAML does not parse: {}", d.message))
        .expect("a document");
    orchctl::yaml::de::from_node::<Value>(&node).expect("YAML converts to JSON")
}

/// Validate every object of a rendered tree against the strict schemas of
/// Argo Workflows v4 (and the rest) and of Argo Workflows v3.7. Returns the
/// number of documents checked.
pub fn assert_schema_valid(tree: &Tree) -> usize {
    let dir = schemas_dir();
    let mut v4 = SchemaSet::open(&dir.join("strict")).unwrap();
    let mut v37 = SchemaSet::open(&dir.join("argo-workflows-v3.7.18/strict")).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, text) in tree {
        if path == "kustomization.yaml" {
            continue;
        }
        let value = yaml_to_json(text);
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        match v4.validate(&value) {
            Verdict::Valid => {}
            other => failures.push(format!("{path} (strict): {other:?}")),
        }
        if v37.has(&kind) {
            match v37.validate(&value) {
                Verdict::Valid => {}
                other => failures.push(format!("{path} (v3.7.18 strict): {other:?}")),
            }
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "schema failures:\n{}",
        failures.join("\n")
    );
    checked
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file below `dir`: relative path → bytes.
pub fn snapshot_dir(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let child = rel.join(entry.file_name());
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(child);
            } else if !kind.is_file() && !kind.is_symlink() {
                // A FIFO, socket or device: its kind, never its bytes.
                out.insert(
                    child.to_string_lossy().into_owned(),
                    format!("<{kind:?}>").into_bytes(),
                );
            } else {
                out.insert(
                    child.to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).unwrap(),
                );
            }
        }
    }
    out
}

/// Compile a pipelines directory, panicking with rendered diagnostics on error.
pub fn compile(dir: &Path) -> orchctl::Compiled {
    let (loaded, result) = orchctl::compile_dir(dir);
    match result {
        Ok(c) => c,
        Err(diags) => {
            let text: Vec<String> = diags
                .0
                .iter()
                .map(|d| d.render(&loaded.sources, false))
                .collect();
            panic!("{} does not compile:\n{}", dir.display(), text.join("\n"));
        }
    }
}

/// Snapshot every file of a tree under `snapshots/<suite>/`.
pub fn snapshot_tree(suite: &str, tree: &Tree) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots").join(suite));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (path, text) in tree {
            let name = path
                .replace('/', "__")
                .trim_end_matches(".yaml")
                .to_string();
            insta::assert_snapshot!(name, text);
        }
    });
}

/// Run the `orchctl` binary in `dir` without colour: (exit code, stdout, stderr).
pub fn orchctl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A prompt template that writes little but builds 256 MB, doubling 1 MB
/// eight times: over the 64 MiB a template may allocate.
pub fn doubling_prompt() -> String {
    format!(
        "You are {{{{ agent.name }}}}.\n{{% set a = \"x\" * 1000000 %}}{}{{{{ a | length }}}}\n",
        "{% set a = a ~ a %}".repeat(8)
    )
}
