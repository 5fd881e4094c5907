//! What every fuzz target checks of one spec text: load → check/resolve →
//! lower → emit never panics, whatever the input; diagnostics render against
//! their sources; the streaming render makes the same tree as `compile`, or
//! fails the same; whatever compiles emits YAML that orchctl reads back, and
//! objects that pass orchctl's own cross-object checks (`orchctl validate`).
//! With `ORCHCTL_FUZZ_SCHEMAS=DIR` (the upstream schemas, `../shared/schemas`
//! beside the repository), every object it emits must also be valid against
//! the strict schemas of Argo Workflows v4 (and the other kinds) and v3.7.

use std::cell::RefCell;

use orchctl::schemas::{SchemaSet, Verdict};

thread_local! {
    /// The strict schemas, opened once per process if asked for.
    static SCHEMAS: RefCell<Option<[SchemaSet; 2]>> = RefCell::new(
        std::env::var_os("ORCHCTL_FUZZ_SCHEMAS").map(|dir| {
            let dir = std::path::PathBuf::from(dir);
            let open = |sub: &str| {
                SchemaSet::open(&dir.join(sub))
                    .unwrap_or_else(|e| panic!("ORCHCTL_FUZZ_SCHEMAS: {e}"))
            };
            [open("strict"), open("argo-workflows-v3.7.18/strict")]
        }),
    );
}

/// The object emitted as `path` (`node`, read back from `text`) valid
/// against the strict schemas, if asked for.
fn schema_valid(path: &str, text: &str, node: Option<&orchctl::yaml::Node>) {
    SCHEMAS.with_borrow_mut(|sets| {
        let Some(sets) = sets else { return };
        if path == orchctl::emit::KUSTOMIZATION {
            return;
        }
        let node = node.unwrap_or_else(|| panic!("{path} holds no object"));
        let value: serde_json::Value =
            orchctl::yaml::de::from_node(node).expect("emitted YAML converts to JSON");
        let kind = value["kind"].as_str().unwrap_or_default();
        for (i, set) in sets.iter_mut().enumerate() {
            // Argo Workflows v3.7 has schemas of its own kinds only.
            if i == 1 && !set.has(kind) {
                continue;
            }
            match set.validate(&value) {
                Verdict::Valid => {}
                other => panic!("{path} is not schema-valid: {other:?}\n{text}"),
            }
        }
    });
}

/// Run the whole pipeline over `text` as the spec file `platform.yaml`.
pub fn check(text: &str) {
    let (loaded, diags) = orchctl::load::load_str("platform.yaml", text);
    // Diagnostics must render against their sources without panicking.
    for d in &diags.0 {
        let _ = d.render(&loaded.sources, false);
    }
    // A render that streams each file out as it is made (`render`,
    // `render --check`) makes the same tree as `compile`, or fails the same;
    // the texts it drops as unchanged come back from disk verified.
    let compared = orchctl::render_against(
        &loaded,
        &|_, text| text.len() % 2 == 0,
        orchctl::Keep::Verified,
    );
    match orchctl::compile(&loaded) {
        Ok(compiled) => {
            let mut compared = compared.expect("compile succeeded, render_against failed");
            let from_disk: orchctl::Tree = compiled
                .tree
                .iter()
                .filter(|(_, text)| text.len() % 2 == 0)
                .map(|(p, t)| (p.clone(), t.clone()))
                .collect();
            assert_eq!(compared.take_tree(&from_disk), Some(compiled.tree.clone()));
            // Whatever compiles must emit text that orchctl reads back.
            for (path, text) in &compiled.tree {
                assert!(orchctl::emit::is_generated(text));
                let body = text.split_once('\n').map_or("", |(_, b)| b);
                let Ok(node) = orchctl::yaml::parse(body, orchctl::source::FileId(0)) else {
                    panic!("emitted YAML does not parse:\n{body}");
                };
                schema_valid(path, text, node.as_ref());
            }
            // Every templateRef, argument, dependency, semaphore key and
            // account the objects name exists, as `orchctl validate` checks.
            let documents = orchctl::validate::rendered(compiled, &loaded, "generated");
            let externals = orchctl::validate::referenced_secrets(&documents);
            let mut options = orchctl::validate::Options {
                externals,
                schemas: None,
            };
            let report = orchctl::validate::validate(&documents, Vec::new(), &mut options);
            let failed: Vec<_> = report
                .records
                .iter()
                .filter(|r| r.has_errors() || r.status == orchctl::validate::Status::Error)
                .collect();
            assert!(
                failed.is_empty(),
                "rendered objects fail validation: {failed:#?}"
            );
        }
        Err(diags) => {
            assert!(
                compared.is_err(),
                "compile failed, render_against succeeded"
            );
            for d in &diags.0 {
                let _ = d.render(&loaded.sources, false);
            }
        }
    }
}
