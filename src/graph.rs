//! `orchctl graph`: a chain's DAG as Mermaid or Graphviz DOT.
//!
//! Each step is a node showing what it runs (the agent, the container image,
//! the chain it calls); approval gates are hexagons, calls of other chains
//! subroutines, the exit handler a parallelogram reached after the last
//! steps. The event routes that start a chain point at its first steps, and
//! — for one chain — so do the steps of other chains that call it, with the
//! routes that start those. Steps that share their `after` run in parallel,
//! side by side.
//!
//! The graph is built from the compiled spec (so every name in it resolves)
//! into a small intermediate form, then written; output is deterministic.

// One diagnostic, returned once per command.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;

use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::load::Loaded;
use crate::model::Model;
use crate::spec::{self, OnTimeout};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Agent,
    Container,
    Approval,
    Call,
    ExitHandler,
    Route,
    Caller,
}

impl Shape {
    /// The Mermaid class (never a Mermaid keyword such as `call`).
    fn class(self) -> &'static str {
        match self {
            Self::Agent => "step_agent",
            Self::Container => "step_container",
            Self::Approval => "step_gate",
            Self::Call => "step_chain",
            Self::ExitHandler => "step_exit",
            Self::Route => "route",
            Self::Caller => "caller",
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    lines: Vec<String>,
    shape: Shape,
}

#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
    dashed: bool,
}

#[derive(Debug, Default)]
struct Graph {
    /// Chain name and its nodes.
    clusters: Vec<(String, Vec<Node>)>,
    /// Nodes outside every chain: routes, callers.
    outside: Vec<Node>,
    edges: Vec<Edge>,
}

/// Longest text of one label line.
const LINE_MAX: usize = 60;

fn short(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= LINE_MAX {
        return text;
    }
    let cut: String = text.chars().take(LINE_MAX - 1).collect();
    format!("{cut}…")
}

fn id(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("__")
}

fn step_node(chain: &str, step: &spec::Step, exit: bool) -> Node {
    let (shape, what) = if let Some(agent) = &step.agent {
        (Shape::Agent, format!("agent {agent}"))
    } else if let Some(c) = &step.container {
        (Shape::Container, format!("container {}", c.image))
    } else if let Some(a) = &step.approval {
        let what = match (&a.timeout, a.on_timeout) {
            (None, _) => "approval: waits until resumed".to_string(),
            (Some(t), OnTimeout::Approve) => format!("approval: approves after {t}"),
            (Some(t), OnTimeout::Reject) => format!("approval: rejects after {t}"),
        };
        (Shape::Approval, what)
    } else if let Some(c) = &step.chain {
        (Shape::Call, format!("chain {c}"))
    } else {
        (Shape::Container, String::new())
    };
    let mut lines = vec![if exit {
        format!("{} (on exit)", step.name)
    } else {
        step.name.clone()
    }];
    if !what.is_empty() {
        lines.push(short(&what));
    }
    if let Some(when) = &step.when {
        lines.push(short(&format!("if {when}")));
    }
    if step.continue_on_failure {
        lines.push("continues on failure".into());
    }
    Node {
        id: id(&[chain, &step.name]),
        lines,
        shape: if exit { Shape::ExitHandler } else { shape },
    }
}

/// Steps nothing waits for.
fn last_steps(chain: &spec::Chain) -> Vec<&str> {
    chain
        .steps
        .iter()
        .filter(|s| !chain.steps.iter().any(|o| o.after.contains(&s.name)))
        .map(|s| s.name.as_str())
        .collect()
}

/// Steps that wait for nothing.
fn first_steps(chain: &spec::Chain) -> Vec<&str> {
    chain
        .steps
        .iter()
        .filter(|s| s.after.is_empty())
        .map(|s| s.name.as_str())
        .collect()
}

fn add_chain(g: &mut Graph, name: &str, chain: &spec::Chain) {
    let mut nodes: Vec<Node> = chain
        .steps
        .iter()
        .map(|s| step_node(name, s, false))
        .collect();
    for step in &chain.steps {
        for dep in &step.after {
            g.edges.push(Edge {
                from: id(&[name, dep]),
                to: id(&[name, &step.name]),
                label: None,
                dashed: false,
            });
        }
    }
    if let Some(exit) = &chain.on_exit {
        nodes.push(step_node(name, exit, true));
        for last in last_steps(chain) {
            g.edges.push(Edge {
                from: id(&[name, last]),
                to: id(&[name, &exit.name]),
                label: Some("on exit".into()),
                dashed: true,
            });
        }
    }
    g.clusters.push((name.to_string(), nodes));
}

/// The routes that run chain `name`, each pointing at `targets`.
fn add_routes(g: &mut Graph, loaded: &Loaded, model: &Model, name: &str, targets: &[String]) {
    let Some(events) = &model.events else {
        return;
    };
    for route in events.routes.values().filter(|r| r.chain == name) {
        let actions = loaded
            .spec
            .events
            .as_ref()
            .and_then(|e| e.routes.get(&route.name))
            .map(|r| r.actions.join(", "))
            .unwrap_or_default();
        let on = if actions.is_empty() {
            route.event.clone()
        } else {
            format!("{} ({actions})", route.event)
        };
        let node_id = id(&["route", &route.name]);
        if !g.outside.iter().any(|n| n.id == node_id) {
            g.outside.push(Node {
                id: node_id.clone(),
                lines: vec![format!("route {}", route.name), short(&format!("on {on}"))],
                shape: Shape::Route,
            });
        }
        for target in targets {
            g.edges.push(Edge {
                from: node_id.clone(),
                to: target.clone(),
                label: None,
                dashed: false,
            });
        }
    }
}

/// Build the graph of `chain` (or of every chain).
fn build(loaded: &Loaded, model: &Model, only: Option<&str>) -> Graph {
    let mut g = Graph::default();
    let chains = &loaded.spec.chains;
    for (name, chain) in chains {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        add_chain(&mut g, name, chain);
    }
    for (name, chain) in chains {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let firsts: Vec<String> = first_steps(chain).iter().map(|f| id(&[name, f])).collect();
        add_routes(&mut g, loaded, model, name, &firsts);
    }
    // Calls between chains.
    for (caller, chain) in chains {
        for step in &chain.steps {
            let Some(callee) = &step.chain else { continue };
            let Some(target) = chains.get(callee) else {
                continue;
            };
            match only {
                None => {
                    for first in first_steps(target) {
                        g.edges.push(Edge {
                            from: id(&[caller, &step.name]),
                            to: id(&[callee, first]),
                            label: Some("runs".into()),
                            dashed: true,
                        });
                    }
                }
                Some(o) if o == callee && caller != callee => {
                    let node_id = id(&["caller", caller, &step.name]);
                    g.outside.push(Node {
                        id: node_id.clone(),
                        lines: vec![format!("chain {caller}"), format!("step {}", step.name)],
                        shape: Shape::Caller,
                    });
                    for first in first_steps(target) {
                        g.edges.push(Edge {
                            from: node_id.clone(),
                            to: id(&[callee, first]),
                            label: Some("runs".into()),
                            dashed: true,
                        });
                    }
                    // And what starts the caller.
                    add_routes(&mut g, loaded, model, caller, &[node_id]);
                }
                Some(_) => {}
            }
        }
    }
    g
}

/// Draw `chain` (every chain when `None`) of a compiled spec.
///
/// # Errors
/// When `chain` is not a chain of the spec.
pub fn graph(
    loaded: &Loaded,
    model: &Model,
    chain: Option<&str>,
    format: Format,
) -> Result<String, Diagnostic> {
    if let Some(name) = chain
        && !loaded.spec.chains.contains_key(name)
    {
        return Err(
            Diagnostic::error(Code::UnknownChain, format!("unknown chain `{name}`")).help(
                suggestion("chain", name, loaded.spec.chains.keys().map(String::as_str)),
            ),
        );
    }
    let g = build(loaded, model, chain);
    Ok(match format {
        Format::Mermaid => mermaid(&g),
        Format::Dot => dot(&g),
    })
}

fn mermaid_text(line: &str) -> String {
    line.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn mermaid_node(out: &mut String, node: &Node, pad: &str) {
    let label = node
        .lines
        .iter()
        .map(|l| mermaid_text(l))
        .collect::<Vec<_>>()
        .join("<br/>");
    let (open, close) = match node.shape {
        Shape::Agent | Shape::Container => ("[\"", "\"]"),
        Shape::Approval => ("{{\"", "\"}}"),
        Shape::Call => ("[[\"", "\"]]"),
        Shape::ExitHandler => ("[/\"", "\"/]"),
        Shape::Route => ("([\"", "\"])"),
        Shape::Caller => (">\"", "\"]"),
    };
    let _ = writeln!(
        out,
        "{pad}{}{open}{label}{close}:::{}",
        node.id,
        node.shape.class()
    );
}

fn mermaid(g: &Graph) -> String {
    let mut out = String::from("flowchart TD\n");
    for (chain, nodes) in &g.clusters {
        let _ = writeln!(
            out,
            "  subgraph {}[\"chain {}\"]",
            id(&["chain", chain]),
            mermaid_text(chain)
        );
        let _ = writeln!(out, "    direction TB");
        for node in nodes {
            mermaid_node(&mut out, node, "    ");
        }
        let _ = writeln!(out, "  end");
    }
    for node in &g.outside {
        mermaid_node(&mut out, node, "  ");
    }
    for e in &g.edges {
        let _ = match (&e.label, e.dashed) {
            (Some(l), true) => writeln!(out, "  {} -. {} .-> {}", e.from, mermaid_text(l), e.to),
            (Some(l), false) => writeln!(out, "  {} -- {} --> {}", e.from, mermaid_text(l), e.to),
            (None, true) => writeln!(out, "  {} -.-> {}", e.from, e.to),
            (None, false) => writeln!(out, "  {} --> {}", e.from, e.to),
        };
    }
    let used: Vec<Shape> = g
        .clusters
        .iter()
        .flat_map(|(_, nodes)| nodes)
        .chain(&g.outside)
        .map(|n| n.shape)
        .collect();
    for shape in [
        Shape::Agent,
        Shape::Container,
        Shape::Approval,
        Shape::Call,
        Shape::ExitHandler,
        Shape::Route,
        Shape::Caller,
    ] {
        if used.contains(&shape) {
            let style = match shape {
                Shape::Agent => "fill:#e8f0fe,stroke:#4a6fa5",
                Shape::Container => "fill:#f3f3f3,stroke:#777",
                Shape::Approval => "fill:#fff4d6,stroke:#c48a00",
                Shape::Call => "fill:#ede7f6,stroke:#6a4fa5",
                Shape::ExitHandler => "fill:#fdecea,stroke:#b03a2e",
                Shape::Route => "fill:#e6f4ea,stroke:#2e7d32",
                Shape::Caller => "fill:#ede7f6,stroke:#6a4fa5,stroke-dasharray:4",
            };
            let _ = writeln!(out, "  classDef {} {style}", shape.class());
        }
    }
    out
}

fn dot_text(line: &str) -> String {
    line.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_node(out: &mut String, node: &Node, pad: &str) {
    let label = node
        .lines
        .iter()
        .map(|l| dot_text(l))
        .collect::<Vec<_>>()
        .join("\\n");
    let (shape, fill, style) = match node.shape {
        Shape::Agent => ("box", "#e8f0fe", "rounded,filled"),
        Shape::Container => ("box", "#f3f3f3", "filled"),
        Shape::Approval => ("hexagon", "#fff4d6", "filled"),
        Shape::Call => ("box", "#ede7f6", "filled,bold"),
        Shape::ExitHandler => ("parallelogram", "#fdecea", "filled"),
        Shape::Route => ("oval", "#e6f4ea", "filled"),
        Shape::Caller => ("cds", "#ede7f6", "filled,dashed"),
    };
    let _ = writeln!(
        out,
        "{pad}{} [label=\"{label}\", shape={shape}, style=\"{style}\", fillcolor=\"{fill}\"];",
        node.id
    );
}

fn dot(g: &Graph) -> String {
    let mut out = String::from(
        "digraph orchctl {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (chain, nodes) in &g.clusters {
        let _ = writeln!(out, "  subgraph cluster_{} {{", id(&[chain]));
        let _ = writeln!(out, "    label=\"chain {}\";", dot_text(chain));
        let _ = writeln!(out, "    style=rounded;");
        for node in nodes {
            dot_node(&mut out, node, "    ");
        }
        let _ = writeln!(out, "  }}");
    }
    for node in &g.outside {
        dot_node(&mut out, node, "  ");
    }
    for e in &g.edges {
        let mut attrs = Vec::new();
        if let Some(l) = &e.label {
            attrs.push(format!("label=\"{}\"", dot_text(l)));
        }
        if e.dashed {
            attrs.push("style=dashed".to_string());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(out, "  {} -> {}{attrs};", e.from, e.to);
    }
    out.push_str("}\n");
    out
}
