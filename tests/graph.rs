//! `orchctl graph`: snapshots of the reference chains and of a chain with an
//! approval gate and parallel branches, in Mermaid and DOT; the README's
//! Mermaid graph of the delivery chain is what orchctl draws.
//!
//! To update the README after a change: `ORCHCTL_UPDATE_README=1 cargo test
//! --test graph`.

mod common;

use std::path::Path;

use common::root;

fn orchctl(args: &[&str]) -> (i32, String, String) {
    common::orchctl(&root(), args)
}

fn graph(pipelines: &Path, chain: Option<&str>, format: orchctl::graph::Format) -> String {
    let (loaded, result) = orchctl::compile_dir(pipelines);
    let compiled = result.expect("compiles");
    orchctl::graph::graph(&loaded, &compiled.model, chain, format).expect("a graph")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/graph"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn reference_chains() {
    use orchctl::graph::Format::{Dot, Mermaid};
    let pipelines = root().join("pipelines");
    for (chain, name) in [
        (None, "all"),
        (Some("delivery"), "delivery"),
        (Some("triage"), "triage"),
        (Some("remediation"), "remediation"),
    ] {
        snapshot(
            &format!("{name}_mermaid"),
            &graph(&pipelines, chain, Mermaid),
        );
        snapshot(&format!("{name}_dot"), &graph(&pipelines, chain, Dot));
    }
}

#[test]
fn gates_and_parallel_branches() {
    use orchctl::graph::Format::{Dot, Mermaid};
    let pipelines = root().join("tests/fixtures/seed004/pipelines");
    let mermaid = graph(&pipelines, Some("visual-analysis"), Mermaid);
    // The gate is a hexagon, after both parallel branches.
    assert!(
        mermaid.contains(
            "visual_analysis__gate{{\"gate<br/>approval: rejects after 30m\"}}:::step_gate"
        ),
        "{mermaid}"
    );
    assert!(mermaid.contains("visual_analysis__screenshot --> visual_analysis__gate"));
    assert!(mermaid.contains("visual_analysis__dom --> visual_analysis__gate"));
    snapshot("gate_mermaid", &mermaid);
    snapshot("gate_dot", &graph(&pipelines, Some("visual-analysis"), Dot));
}

#[test]
fn what_the_delivery_graph_shows() {
    let mermaid = graph(
        &root().join("pipelines"),
        Some("delivery"),
        orchctl::graph::Format::Mermaid,
    );
    assert!(mermaid.contains("delivery__author[\"author<br/>agent rex-author\"]:::step_agent"));
    assert!(
        mermaid.contains("delivery__acceptance -. on exit .-> delivery__report"),
        "the exit handler runs after the last step"
    );
    assert!(
        mermaid.contains("caller__triage__deliver -. runs .-> delivery__author"),
        "chains that call it"
    );
    let triage = graph(
        &root().join("pipelines"),
        Some("triage"),
        orchctl::graph::Format::Mermaid,
    );
    assert!(
        triage.contains(
            "route__issue_triage([\"route issue-triage<br/>on issues (opened)\"]):::route"
        ),
        "{triage}"
    );
    assert!(triage.contains("route__issue_triage --> triage__triage"));
    assert!(triage.contains("triage__deliver[[\"deliver<br/>chain delivery<br/>if '${steps.triage.outputs.task-id}' != ''\"]]:::step_chain"), "{triage}");
}

#[test]
fn cli() {
    let (code, stdout, _) = orchctl(&["graph", "delivery"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("flowchart TD\n"));
    let (code, stdout, _) = orchctl(&["graph", "-o", "dot"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("digraph orchctl {\n") && stdout.ends_with("}\n"));
    let (code, stdout, stderr) = orchctl(&["graph", "delivry"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error[E011]: unknown chain `delivry`\n"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `delivery`?"), "{stderr}");
    let (code, _, stderr) = orchctl(&["graph", "--pipelines", "no/such/dir"]);
    assert_eq!(code, 1, "{stderr}");
}

const START: &str = "<!-- orchctl graph delivery -->\n";
const END: &str = "<!-- end -->";

/// The README shows the delivery chain as `orchctl graph delivery` draws it.
#[test]
fn readme_graph_is_current() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(START)
        .expect("the README has the graph's start marker")
        + START.len();
    let end = start + readme[start..].find(END).expect("and its end marker");
    let current = &readme[start..end];
    let (code, graph, _) = orchctl(&["graph", "delivery"]);
    assert_eq!(code, 0);
    let expected = format!("\n```mermaid\n{graph}```\n\n");
    if current == expected {
        return;
    }
    if std::env::var_os("ORCHCTL_UPDATE_README").is_some() {
        std::fs::write(
            &path,
            format!("{}{expected}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    panic!(
        "README.md's graph of the delivery chain is stale.\n\
         Update it with `ORCHCTL_UPDATE_README=1 cargo test --test graph`.\n\
         README:\n{current}\norchctl graph delivery:\n{expected}"
    );
}
