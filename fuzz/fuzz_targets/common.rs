//! What every fuzz target checks of one spec text: load → check/resolve →
//! lower → emit never panics, whatever the input; diagnostics render against
//! their sources; the streaming render makes the same tree as `compile`, or
//! fails the same; and whatever compiles emits YAML that orchctl reads back.

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
            for text in compiled.tree.values() {
                assert!(orchctl::emit::is_generated(text));
                let body = text.split_once('\n').map_or("", |(_, b)| b);
                assert!(
                    orchctl::yaml::parse(body, orchctl::source::FileId(0)).is_ok(),
                    "emitted YAML does not parse:\n{body}"
                );
            }
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
