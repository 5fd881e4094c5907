//! `orchctl play`: Taskmaster backlogs in, one Argo Workflow out.
//!
//! The spec is the `orchctl init` scaffold (stable, and owned by the same
//! feature), plus the reference platform for one check. Every Workflow is
//! snapshotted, validated against the strict schemas of Argo Workflows v4
//! and v3.7 — together with the Workflow each run applies — and its DAG is
//! compared with the dependency graph computed here, independently, from
//! the backlog JSON. Bad backlogs assert code, message and `line:column`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{root, schemas_dir, yaml_to_json};
use orchctl::Model;
use orchctl::diagnostic::Code;
use orchctl::play::{Options, Played};
use orchctl::schemas::{SchemaSet, Verdict};
use orchctl::source::Sources;
use serde_json::Value;

/// The model of the `orchctl init` scaffold.
fn scaffold_model() -> Model {
    let dir = tempfile::tempdir().unwrap();
    let files = orchctl::init::scaffold(&orchctl::init::Options {
        project: "acme".into(),
        namespace: "agents".into(),
        repositories: vec!["acme/api".into()],
    })
    .unwrap();
    orchctl::init::write(dir.path(), &files).unwrap();
    common::compile(&dir.path().join("pipelines")).model
}

fn repo() -> Options {
    Options {
        params: vec![("repository".into(), "acme/api".into())],
        ..Options::default()
    }
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/backlogs").join(name)
}

/// Play `text` as `tasks.json`; errors come back as `path:line:col` lines.
fn play_text(model: &Model, text: &str, options: &Options) -> Result<Played, Vec<String>> {
    let mut sources = Sources::new();
    let file = sources.add("tasks.json".into(), "tasks.json".into(), text.into());
    orchctl::play::play(model, text, file, options).map_err(|diags| {
        diags
            .0
            .iter()
            .map(|d| d.short(&sources))
            .collect::<Vec<_>>()
    })
}

fn play_fixture(model: &Model, name: &str, options: &Options) -> Played {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    play_text(model, &text, options).unwrap_or_else(|e| panic!("{name}: {e:#?}"))
}

/// Errors of a backlog that must not play, with their codes.
fn errors(model: &Model, text: &str, options: &Options) -> Vec<(Code, String)> {
    let mut sources = Sources::new();
    let file = sources.add("tasks.json".into(), "tasks.json".into(), text.into());
    let Err(diags) = orchctl::play::play(model, text, file, options) else {
        panic!("expected errors for:\n{text}");
    };
    diags
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code, d.short(&sources)))
        .collect()
}

fn snapshot(name: &str, played: &Played) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/play"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, played.yaml));
}

/// Validate the Workflow, and the Workflow each run template applies (with
/// its placeholders filled in as Argo would), against both strict schemas.
fn assert_valid(played: &Played) {
    let dir = schemas_dir();
    let mut v4 = SchemaSet::open(&dir.join("strict")).unwrap();
    let mut v37 = SchemaSet::open(&dir.join("argo-workflows-v3.7.18/strict")).unwrap();
    let reread = yaml_to_json(&played.yaml);
    assert_eq!(
        reread, played.workflow,
        "the YAML reads back as the Workflow"
    );
    let mut objects = vec![("play".to_string(), reread.clone())];
    for t in reread["spec"]["templates"].as_array().unwrap() {
        if let Some(manifest) = t["resource"]["manifest"].as_str() {
            let filled = manifest
                .replace("{{inputs.parameters.taskId}}", "12")
                .replace(
                    "{{inputs.parameters.workflow}}",
                    "delivery-master-12-0123abcd",
                );
            assert!(
                !filled.contains("{{"),
                "only known placeholders: {manifest}"
            );
            objects.push((
                t["name"].as_str().unwrap().to_string(),
                yaml_to_json(&filled),
            ));
        }
    }
    for (what, value) in &objects {
        for (set, label) in [(&mut v4, "v4"), (&mut v37, "v3.7.18")] {
            match set.validate(value) {
                Verdict::Valid => {}
                other => panic!("{what} fails the {label} strict schema: {other:?}"),
            }
        }
    }
}

/// The DAG as task id → ids it waits for, read back from the Workflow.
fn dag(played: &Played) -> BTreeMap<String, BTreeSet<String>> {
    let spec = &played.workflow["spec"];
    let entry = spec["entrypoint"].as_str().unwrap();
    let template = spec["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == entry)
        .unwrap();
    assert_eq!(template["dag"]["failFast"], Value::Bool(false));
    let tasks = template["dag"]["tasks"].as_array().unwrap();
    let id_of = |task: &Value| -> String {
        task["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "taskId")
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let by_name: BTreeMap<&str, String> = tasks
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), id_of(t)))
        .collect();
    assert_eq!(by_name.len(), tasks.len(), "DAG task names are unique");
    tasks
        .iter()
        .map(|t| {
            let deps = t["dependencies"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|n| by_name[n.as_str().unwrap()].clone())
                        .collect()
                })
                .unwrap_or_default();
            (id_of(t), deps)
        })
        .collect()
}

fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    edges
        .iter()
        .map(|(id, deps)| {
            (
                (*id).to_string(),
                deps.iter().map(|d| (*d).to_string()).collect(),
            )
        })
        .collect()
}

/// The run graph of a backlog without subtask dependencies, computed from
/// the raw JSON: every task not done, waiting for its dependencies that are
/// not done.
fn expected_graph(backlog: &Value, tag: &str) -> BTreeMap<String, BTreeSet<String>> {
    let tasks = backlog
        .get("tasks")
        .or_else(|| backlog[tag].get("tasks"))
        .unwrap()
        .as_array()
        .unwrap();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let done: BTreeSet<String> = tasks
        .iter()
        .filter(|t| t["status"] == "done" || t["status"] == "completed")
        .map(|t| text(&t["id"]))
        .collect();
    tasks
        .iter()
        .filter(|t| !done.contains(&text(&t["id"])))
        .map(|t| {
            let deps = t["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .filter(|d| !done.contains(d))
                .collect();
            (text(&t["id"]), deps)
        })
        .collect()
}

fn check(model: &Model, name: &str, options: &Options) -> Played {
    let played = play_fixture(model, name, options);
    assert_valid(&played);
    played
}

#[test]
fn chain_runs_one_after_another() {
    let played = check(&scaffold_model(), "chain.json", &repo());
    assert_eq!(
        dag(&played),
        graph(&[("1", &[]), ("2", &["1"]), ("3", &["2"])])
    );
    snapshot("chain", &played);
}

#[test]
fn diamond_fans_out_and_in() {
    let played = check(&scaffold_model(), "diamond.json", &repo());
    assert_eq!(
        dag(&played),
        graph(&[("1", &[]), ("2", &["1"]), ("3", &["1"]), ("4", &["2", "3"])])
    );
    // Inherited priority: 2 and 3 block the high-priority release.
    let runs: Vec<(&str, &str)> = played
        .plan
        .runs
        .iter()
        .map(|r| (r.id.as_str(), r.effective.as_str()))
        .collect();
    assert_eq!(
        runs,
        [("1", "high"), ("2", "high"), ("3", "high"), ("4", "high")]
    );
    snapshot("diamond", &played);
}

#[test]
fn independent_tasks_have_no_dependencies() {
    let played = check(&scaffold_model(), "independent.json", &repo());
    assert_eq!(
        dag(&played),
        graph(&[
            ("1", &[]),
            ("2", &[]),
            ("3", &[]),
            ("4", &["2"]),
            ("5", &["2"])
        ])
    );
    assert_eq!(played.workflow["spec"]["parallelism"], 4);
    snapshot("independent", &played);
}

#[test]
fn done_tasks_are_skipped_and_satisfy_dependencies() {
    let played = check(&scaffold_model(), "done.json", &repo());
    assert_eq!(
        dag(&played),
        graph(&[("3", &[]), ("4", &["3"]), ("5", &[])])
    );
    assert_eq!((played.plan.total, played.plan.done), (6, 3));
    snapshot("done", &played);
}

#[test]
fn priorities_order_the_dag_and_become_workflow_priorities() {
    let played = check(&scaffold_model(), "priorities.json", &repo());
    let order: Vec<&str> = played.plan.runs.iter().map(|r| r.id.as_str()).collect();
    // High first (1, which the high-priority 3 waits for, then 3 and 5 in
    // backlog order), then medium (4, and 6 whose unset priority means
    // medium), then low.
    assert_eq!(order, ["1", "3", "5", "4", "6", "2"]);
    let templates: BTreeMap<String, String> =
        played.workflow["spec"]["templates"][0]["dag"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["template"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    assert_eq!(templates["task-1"], "run-high", "inherited from task 3");
    assert_eq!(templates["task-2"], "run-low");
    assert_eq!(templates["task-6"], "run-medium");
    for (template, priority) in [("run-high", 3), ("run-medium", 2), ("run-low", 1)] {
        let t = played.workflow["spec"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == template)
            .unwrap();
        let run = yaml_to_json(t["resource"]["manifest"].as_str().unwrap());
        assert_eq!(run["spec"]["priority"], priority, "{template}");
    }
    snapshot("priorities", &played);
}

#[test]
fn subtasks_belong_to_their_parents_run() {
    let played = check(&scaffold_model(), "subtasks.json", &repo());
    // 2.3 needs task 4 (a number that is no sibling), so 2 waits for 4;
    // 3.1 needs subtask 2.3, so 3 waits for 2; 4 needs 2.1, which is done.
    assert_eq!(
        dag(&played),
        graph(&[("2", &["4"]), ("3", &["2"]), ("4", &[])])
    );
    let two = played.plan.runs.iter().find(|r| r.id == "2").unwrap();
    assert_eq!((two.subtasks, two.subtasks_done), (3, 1));
    snapshot("subtasks", &played);
}

#[test]
fn tagged_backlogs_play_the_chosen_tag() {
    let model = scaffold_model();
    let played = check(
        &model,
        "tagged.json",
        &Options {
            tag: Some("feature-search".into()),
            ..repo()
        },
    );
    assert_eq!(dag(&played), graph(&[("2", &[]), ("3", &["2"])]));
    snapshot("tagged", &played);
    // Without --tag, `master` is played.
    let master = check(&model, "tagged.json", &repo());
    assert_eq!(dag(&master), graph(&[("1", &[])]));
}

#[test]
fn string_and_numeric_ids_are_one_id_space() {
    let played = check(&scaffold_model(), "mixed-ids.json", &repo());
    assert_eq!(
        dag(&played),
        graph(&[
            ("1", &[]),
            ("2", &["1"]),
            ("3", &["2"]),
            ("api-v2", &["1", "3"])
        ])
    );
    snapshot("mixed_ids", &played);
}

#[test]
fn every_fixture_matches_the_graph_computed_from_its_json() {
    let model = scaffold_model();
    for (name, tag) in [
        ("chain.json", "master"),
        ("diamond.json", "master"),
        ("independent.json", "master"),
        ("done.json", "master"),
        ("priorities.json", "master"),
        ("tagged.json", "feature-search"),
        ("mixed-ids.json", "master"),
        ("taskmaster-0.43.1.json", "master"),
        ("taskmaster-0.43.1.json", "feature-x"),
        ("taskmaster-0.43.1-string-ids.json", "master"),
    ] {
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
        let played = check(
            &model,
            name,
            &Options {
                tag: Some(tag.into()),
                ..repo()
            },
        );
        assert_eq!(dag(&played), expected_graph(&json, tag), "{name}");
    }
}

#[test]
fn a_real_taskmaster_file_plays() {
    // Written by task-master-ai 0.43.1 (see tests/fixtures/backlogs/README.md):
    // two tags, numeric ids with string dependencies, subtask dependencies
    // as "2.1" and 3.
    let played = check(&scaffold_model(), "taskmaster-0.43.1.json", &repo());
    assert_eq!(
        dag(&played),
        graph(&[("2", &[]), ("3", &["2"]), ("4", &[]), ("5", &["3", "4"])])
    );
    snapshot("taskmaster", &played);
    let feature = check(
        &scaffold_model(),
        "taskmaster-0.43.1.json",
        &Options {
            tag: Some("feature-x".into()),
            ..repo()
        },
    );
    assert_eq!(dag(&feature), graph(&[("1", &[]), ("2", &["1"])]));
    // The same backlog earlier, when set-status had written ids as strings.
    let strings = check(
        &scaffold_model(),
        "taskmaster-0.43.1-string-ids.json",
        &repo(),
    );
    assert_eq!(
        dag(&strings),
        graph(&[("2", &[]), ("3", &["2"]), ("4", &[]), ("5", &["3", "4"])])
    );
}

#[test]
fn the_reference_platform_plays_too() {
    let model = common::compile(&root().join("pipelines")).model;
    let played = check(&model, "diamond.json", &repo());
    assert_eq!(dag(&played).len(), 4);
    // Its own account, which render generates with exactly the rights it needs.
    assert_eq!(played.workflow["spec"]["serviceAccountName"], "cto-play");
    let compiled = common::compile(&root().join("pipelines"));
    assert!(compiled.tree.contains_key("rbac/cto-play-role.yaml"));
}

#[test]
fn options_reach_the_workflow() {
    let played = check(
        &scaffold_model(),
        "independent.json",
        &Options {
            chain: Some("remediation".into()),
            max_parallel: Some(2),
            only: vec!["4".into(), "2".into()],
            params: vec![
                ("repository".into(), "acme/web".into()),
                (
                    "prompt_mod".into(),
                    "Be brief: it's \"urgent\"\n# not a comment".into(),
                ),
            ],
            service_account: Some("acme-play".into()),
            ..Options::default()
        },
    );
    assert_eq!(dag(&played), graph(&[("2", &[]), ("4", &["2"])]));
    let spec = &played.workflow["spec"];
    assert_eq!(spec["parallelism"], 2);
    assert_eq!(spec["serviceAccountName"], "acme-play");
    let run = yaml_to_json(
        spec["templates"][1]["resource"]["manifest"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(run["spec"]["workflowTemplateRef"]["name"], "remediation");
    let params: BTreeMap<&str, &str> = run["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["value"].as_str().unwrap()))
        .collect();
    assert_eq!(params["repository"], "acme/web");
    assert_eq!(
        params["prompt_mod"],
        "Be brief: it's \"urgent\"\n# not a comment"
    );
    assert_eq!(params["branch"], "main", "defaults are filled in");
    assert_eq!(params["taskId"], "{{inputs.parameters.taskId}}");
}

#[test]
fn pressing_play_twice_names_the_same_runs() {
    let model = scaffold_model();
    let first = check(&model, "diamond.json", &repo());
    let second = check(&model, "diamond.json", &repo());
    assert_eq!(first.yaml, second.yaml, "deterministic");
    let names = |p: &Played| -> Vec<String> {
        p.workflow["spec"]["templates"][0]["dag"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["arguments"]["parameters"][1]["value"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let runs = names(&first);
    assert!(
        runs.iter()
            .all(|n| n.len() <= 63 && orchctl::check::is_dns_label(n)),
        "{runs:?}"
    );
    assert_eq!(runs.iter().collect::<BTreeSet<_>>().len(), runs.len());
    // A task that finished meanwhile drops out; the others keep their runs,
    // so a second play joins them instead of starting them again.
    let text = std::fs::read_to_string(fixture("diamond.json"))
        .unwrap()
        .replacen("\"status\": \"pending\"", "\"status\": \"done\"", 1);
    let later = play_text(&model, &text, &repo()).unwrap();
    let later_runs = names(&later);
    assert_eq!(later_runs.len(), 3);
    assert!(later_runs.iter().all(|n| runs.contains(n)));
    // Runs are applied (joined if they exist), never created twice.
    for t in first.workflow["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
    {
        assert_eq!(t["resource"]["action"], "apply");
        assert_eq!(
            t["resource"]["successCondition"],
            "status.phase == Succeeded"
        );
        assert_eq!(
            t["resource"]["failureCondition"],
            "status.phase in (Failed, Error)"
        );
        let run = yaml_to_json(t["resource"]["manifest"].as_str().unwrap());
        assert_eq!(run["metadata"]["name"], "{{inputs.parameters.workflow}}");
        assert!(run["metadata"].get("generateName").is_none());
    }
    // Other parameters are other runs.
    let elsewhere = play_fixture(
        &model,
        "diamond.json",
        &Options {
            params: vec![("repository".into(), "acme/web".into())],
            ..Options::default()
        },
    );
    assert!(names(&elsewhere).iter().all(|n| !runs.contains(n)));
}

/// A backlog of `n` tasks whose dependencies point at up to three earlier
/// tasks, some done, from a fixed pseudo-random sequence.
fn generated_backlog(n: usize, seed: u64) -> String {
    let mut state = seed;
    let mut next = move |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap() % bound.max(1)
    };
    let mut tasks = Vec::new();
    for i in 1..=n {
        let mut deps = BTreeSet::new();
        if i > 1 {
            for _ in 0..next(4) {
                deps.insert(1 + next(i - 1));
            }
        }
        let status = if next(10) == 0 { "done" } else { "pending" };
        let priority = ["low", "medium", "high"][next(3)];
        let deps: Vec<Value> = deps
            .into_iter()
            .map(|d| {
                if d % 2 == 0 {
                    Value::String(d.to_string())
                } else {
                    Value::from(d)
                }
            })
            .collect();
        tasks.push(serde_json::json!({
            "id": if i % 3 == 0 { Value::from(i) } else { Value::String(i.to_string()) },
            "title": format!("Task {i}"),
            "status": status,
            "priority": priority,
            "dependencies": deps,
        }));
    }
    serde_json::to_string_pretty(&serde_json::json!({"master": {"tasks": tasks}})).unwrap()
}

#[test]
fn hundreds_of_tasks_deep_and_wide() {
    let model = scaffold_model();
    for (n, seed) in [(300, 7), (600, 42)] {
        let text = generated_backlog(n, seed);
        let json: Value = serde_json::from_str(&text).unwrap();
        let played = play_text(&model, &text, &repo()).unwrap();
        assert_valid(&played);
        assert_eq!(dag(&played), expected_graph(&json, "master"), "{n} tasks");
        // Dependencies come first in the DAG's list.
        let mut seen = BTreeSet::new();
        for run in &played.plan.runs {
            assert!(
                run.after.iter().all(|d| seen.contains(d)),
                "{} before its dependencies",
                run.id
            );
            seen.insert(run.id.clone());
        }
        // Over Argo 4's 200-task limit for full CRDs: a warning, not an error.
        assert!(
            played
                .warnings
                .0
                .iter()
                .any(|w| w.code == Code::ObjectTooLarge),
            "{:?}",
            played.warnings
        );
    }
    // A long chain: 2,000 tasks each waiting for the one before.
    let tasks: Vec<Value> = (1..=2000)
        .map(|i| {
            serde_json::json!({"id": i, "status": "pending",
                "dependencies": if i > 1 { vec![i - 1] } else { vec![] }})
        })
        .collect();
    let text = serde_json::json!({"tasks": tasks}).to_string();
    let played = play_text(&model, &text, &repo()).unwrap();
    assert_eq!(played.plan.runs.len(), 2000);
    assert_eq!(played.plan.runs[1999].after, ["1999"]);
}

// Errors: code, message and `line:column`.

#[test]
fn malformed_json_is_located() {
    let model = scaffold_model();
    let text = "{\n  \"tasks\": [\n    { \"id\": 1, \"status\": \"pending\", }\n  ]\n}\n";
    assert_eq!(
        errors(&model, text, &repo()),
        [(
            Code::JsonSyntax,
            "tasks.json:3:37: error[E038]: invalid JSON: expected a \"key\", found `}`".into()
        )]
    );
    let truncated = "{\"tasks\": [{\"id\": 1}";
    assert_eq!(
        errors(&model, truncated, &repo()),
        [(
            Code::JsonSyntax,
            "tasks.json:1:21: error[E038]: invalid JSON: expected `,` or `]`, found the end of the file".into()
        )]
    );
}

#[test]
fn a_service_account_kubernetes_would_reject_is_refused() {
    let model = scaffold_model();
    let text = "{\"tasks\": [{\"id\": 1}]}";
    for bad in ["BAD NAME", "-x", ""] {
        let options = Options {
            service_account: Some(bad.into()),
            ..repo()
        };
        assert_eq!(
            errors(&model, text, &options),
            [(
                Code::InvalidName,
                format!(
                    "error[E008]: --service-account `{bad}` is not a valid ServiceAccount name"
                )
            )]
        );
    }
    let options = Options {
        service_account: Some("play-runner.v2".into()),
        ..repo()
    };
    play_text(&model, text, &options).unwrap();
}

#[test]
fn unknown_dependencies_are_located() {
    let text = r#"{
  "tasks": [
    { "id": 1, "dependencies": [] },
    { "id": 2, "dependencies": [1, 7] },
    { "id": 3, "dependencies": ["9"],
      "subtasks": [ { "id": 1, "dependencies": ["2.5"] } ] }
  ]
}"#;
    assert_eq!(
        errors(&scaffold_model(), text, &repo()),
        [
            (
                Code::UnknownTask,
                "tasks.json:4:36: error[E042]: task 2 depends on `7`, which the backlog does not have".into()
            ),
            (
                Code::UnknownTask,
                "tasks.json:5:33: error[E042]: task 3 depends on `9`, which the backlog does not have".into()
            ),
            (
                Code::UnknownTask,
                "tasks.json:6:49: error[E042]: subtask 3.1 depends on `2.5`, which the backlog does not have".into()
            ),
        ]
    );
}

#[test]
fn dependency_cycles_are_printed() {
    let text = r#"{"tasks": [
  {"id": 1, "dependencies": [3]},
  {"id": 2, "dependencies": [1]},
  {"id": 3, "dependencies": [2]},
  {"id": 4, "dependencies": [4]},
  {"id": 5, "dependencies": [1]}
]}"#;
    let model = scaffold_model();
    assert_eq!(
        errors(&model, text, &repo()),
        [
            (
                Code::DependencyCycle,
                "tasks.json:2:30: error[E043]: dependency cycle: 1 → 3 → 2 → 1".into()
            ),
            (
                Code::DependencyCycle,
                "tasks.json:5:30: error[E043]: dependency cycle: 4 → 4".into()
            ),
        ]
    );
    // The rendered error shows every edge of the cycle.
    let mut sources = Sources::new();
    let file = sources.add("tasks.json".into(), "tasks.json".into(), text.into());
    let diags = orchctl::play::play(&model, text, file, &repo()).unwrap_err();
    let rendered = diags.0[0].render(&sources, false);
    assert!(rendered.contains("^ task 1 waits for task 3"), "{rendered}");
    assert!(rendered.contains("- task 3 waits for task 2"), "{rendered}");
    assert!(rendered.contains("- task 2 waits for task 1"), "{rendered}");
    // A cycle through a task that is done no longer matters.
    let done = text.replace("{\"id\": 2, ", "{\"id\": 2, \"status\": \"done\", ");
    let played = play_text(&model, &done.replace("[4]", "[]"), &repo()).unwrap();
    assert_eq!(played.plan.runs.len(), 4);
}

/// A cycle through thousands of tasks is one short error: its first ten
/// tasks, its last, and the edges between them.
#[test]
fn a_long_cycle_is_reported_briefly() {
    let n = 20_000;
    let tasks: Vec<Value> = (1..=n)
        .map(|i| serde_json::json!({"id": i, "dependencies": [i % n + 1]}))
        .collect();
    let text = serde_json::json!({ "tasks": tasks }).to_string();
    let model = scaffold_model();
    let mut sources = Sources::new();
    let file = sources.add("tasks.json".into(), "tasks.json".into(), text.clone());
    let diags = orchctl::play::play(&model, &text, file, &repo()).unwrap_err();
    assert_eq!(diags.0.len(), 1);
    assert_eq!(
        diags.0[0].short(&sources).split_once(": error").unwrap().1,
        "[E043]: dependency cycle: 1 → 2 → 3 → 4 → 5 → 6 → 7 → 8 → 9 → 10 → … → 20000 → 1 (20000 tasks)"
    );
    let rendered = diags.0[0].render(&sources, false);
    assert!(rendered.contains("task 9 waits for task 10"), "{rendered}");
    assert!(
        rendered.contains("task 20000 waits for task 1"),
        "{rendered}"
    );
    assert!(
        !rendered.contains("task 10 waits for task 11"),
        "{rendered}"
    );
    assert!(rendered.len() < 8_000, "{} bytes", rendered.len());
}

#[test]
fn duplicate_ids_are_located() {
    let text = "{\"tasks\": [\n  {\"id\": 1},\n  {\"id\": \"2\"},\n  {\"id\": \"1\"}\n]}";
    assert_eq!(
        errors(&scaffold_model(), text, &repo()),
        [(
            Code::DuplicateTask,
            "tasks.json:4:10: error[E041]: duplicate task id `1`".into()
        )]
    );
}

#[test]
fn unknown_chains_and_parameters_are_named() {
    let model = scaffold_model();
    let text = std::fs::read_to_string(fixture("chain.json")).unwrap();
    assert_eq!(
        errors(
            &model,
            &text,
            &Options {
                chain: Some("delivry".into()),
                ..repo()
            }
        ),
        [(
            Code::UnknownChain,
            "error[E011]: unknown chain `delivry`".into()
        )]
    );
    assert_eq!(
        errors(&model, &text, &Options::default()),
        [(
            Code::UnboundParameter,
            "error[E034]: chain `delivery` needs parameter `repository`, which has no default"
                .into()
        )]
    );
    assert_eq!(
        errors(
            &model,
            &text,
            &Options {
                params: vec![
                    ("repository".into(), "acme/api".into()),
                    ("repo".into(), "x".into()),
                    ("taskId".into(), "3".into()),
                ],
                ..Options::default()
            }
        ),
        [
            (
                Code::UnknownParameter,
                "error[E015]: --param `repo`: chain `delivery` has no such parameter".into()
            ),
            (
                Code::Conflict,
                "error[E033]: --param taskId is not allowed: play sets it to each task's id".into()
            ),
        ]
    );
}

#[test]
fn empty_backlogs_have_nothing_to_run() {
    let model = scaffold_model();
    assert_eq!(
        errors(&model, "{\n  \"tasks\": []\n}\n", &repo()),
        [(
            Code::NothingToRun,
            "tasks.json:2:12: error[E044]: nothing to run: the backlog (tag `master`) has no tasks"
                .into()
        )]
    );
    let all_done =
        r#"{"master": {"tasks": [{"id": "1", "status": "done"}, {"id": "2", "status": "done"}]}}"#;
    assert_eq!(
        errors(&model, all_done, &repo()),
        [(
            Code::NothingToRun,
            "tasks.json:1:22: error[E044]: nothing to run: all 2 tasks of tag `master` are done"
                .into()
        )]
    );
    assert_eq!(
        errors(&model, "{\"tags\": {}}", &repo()),
        [(
            Code::BacklogShape,
            "tasks.json:1:1: error[E039]: the backlog has no `tasks`, neither at the top nor under a tag".into()
        )]
    );
}

#[test]
fn tags_must_exist_and_be_chosen() {
    let model = scaffold_model();
    let text = std::fs::read_to_string(fixture("tagged.json")).unwrap();
    assert_eq!(
        errors(
            &model,
            &text,
            &Options {
                tag: Some("feature-serch".into()),
                ..repo()
            }
        ),
        [(
            Code::UnknownTag,
            "tasks.json:1:1: error[E040]: the backlog has no tag `feature-serch`".into()
        )]
    );
    let two = r#"{"a": {"tasks": [{"id": 1}]}, "b": {"tasks": [{"id": 1}]}}"#;
    assert_eq!(
        errors(&model, two, &repo()),
        [(
            Code::UnknownTag,
            "tasks.json:1:1: error[E040]: the backlog has 2 tags and none is `master`: choose one with --tag".into()
        )]
    );
}

#[test]
fn task_fields_of_the_wrong_shape_are_located() {
    let text = r#"{"tasks": [
  {"id": 1.5},
  {"title": "no id"},
  {"id": 2, "dependencies": "1"},
  {"id": "a b"},
  {"id": 3, "status": 4, "subtasks": {}}
]}"#;
    assert_eq!(
        errors(&scaffold_model(), text, &repo()),
        [
            (
                Code::BacklogShape,
                "tasks.json:2:10: error[E039]: invalid task id `1.5`".into()
            ),
            (
                Code::BacklogShape,
                "tasks.json:3:3: error[E039]: a task has no `id`".into()
            ),
            (
                Code::BacklogShape,
                "tasks.json:4:29: error[E039]: `dependencies` is not an array".into()
            ),
            (
                Code::BacklogShape,
                "tasks.json:5:10: error[E039]: invalid task id `a b`".into()
            ),
            (
                Code::BacklogShape,
                "tasks.json:6:23: error[E039]: `status` is not a string".into()
            ),
            (
                Code::BacklogShape,
                "tasks.json:6:38: error[E039]: `subtasks` is not an array".into()
            ),
        ]
    );
}

#[test]
fn only_selects_tasks() {
    let model = scaffold_model();
    let text = std::fs::read_to_string(fixture("chain.json")).unwrap();
    // 3 waits for 2, which --only leaves out: a warning, and no dependency.
    let played = play_text(
        &model,
        &text,
        &Options {
            only: vec!["3".into(), "1".into()],
            ..repo()
        },
    )
    .unwrap();
    assert_eq!(dag(&played), graph(&[("1", &[]), ("3", &[])]));
    assert_eq!(played.warnings.0.len(), 1);
    assert_eq!(played.warnings.0[0].code, Code::UnknownTask);
    assert_eq!(
        errors(
            &model,
            &text,
            &Options {
                only: vec!["8".into()],
                ..repo()
            }
        ),
        [(
            Code::UnknownTask,
            "error[E042]: --only names task `8`, which the backlog does not have".into()
        )]
    );
}

// The command line.

fn orchctl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::orchctl(dir, args)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = orchctl::init::scaffold(&orchctl::init::Options {
        project: "acme".into(),
        namespace: "agents".into(),
        repositories: vec!["acme/api".into()],
    })
    .unwrap();
    orchctl::init::write(dir.path(), &files).unwrap();
    std::fs::create_dir_all(dir.path().join(".taskmaster/tasks")).unwrap();
    dir
}

#[test]
fn cli_writes_the_workflow_to_stdout_or_a_file() {
    let dir = project();
    std::fs::copy(
        fixture("diamond.json"),
        dir.path().join(".taskmaster/tasks/tasks.json"),
    )
    .unwrap();
    let (code, stdout, stderr) = orchctl(dir.path(), &["play", "-p", "repository=acme/api"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("# orchctl play: 4 of 4 tasks"),
        "{stdout}"
    );
    assert!(
        stderr.contains("play: 4 of 4 tasks of tag `master` to run"),
        "{stderr}"
    );
    let (code, stdout2, _) = orchctl(
        dir.path(),
        &["play", "--param", "repository=acme/api", "-o", "play.yaml"],
    );
    assert_eq!(code, 0);
    assert!(stdout2.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("play.yaml")).unwrap(),
        stdout
    );
}

#[test]
fn cli_refuses_to_write_over_the_backlog() {
    let dir = project();
    let backlog = dir.path().join(".taskmaster/tasks/tasks.json");
    std::fs::copy(fixture("diamond.json"), &backlog).unwrap();
    let before = std::fs::read(&backlog).unwrap();
    let (code, stdout, stderr) = orchctl(
        dir.path(),
        &[
            "play",
            "-p",
            "repository=acme/api",
            "-o",
            "./.taskmaster/tasks/../tasks/tasks.json",
        ],
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr,
        "error[E033]: `-o ./.taskmaster/tasks/../tasks/tasks.json` is the backlog read with --tasks\n  \
         = help: write the Workflow to a file of its own, e.g. `-o play.yaml`, or to stdout\n\n"
    );
    assert_eq!(std::fs::read(&backlog).unwrap(), before);
}

#[test]
fn cli_reports_backlog_errors_with_the_line() {
    let dir = project();
    std::fs::write(
        dir.path().join("tasks.json"),
        "{\"tasks\": [\n  {\"id\": 1, \"dependencies\": [2]},\n  {\"id\": 2, \"dependencies\": [1]}\n]}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = orchctl(
        dir.path(),
        &["play", "--tasks", "tasks.json", "-p", "repository=acme/api"],
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/play"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("cli_cycle", stderr));
    // The README shows this very output.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let shown = format!("```text\n{}\n```", stderr.split("\n\n").next().unwrap());
    assert!(
        readme.contains(&shown),
        "README's E043 example is stale:\n{shown}"
    );
    let (code, _, stderr) = orchctl(dir.path(), &["play", "--tasks", "missing.json"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error[E029]: cannot read `missing.json`"),
        "{stderr}"
    );
    let (code, _, stderr) = orchctl(dir.path(), &["play", "--max-parallel", "0"]);
    assert_eq!(code, 1, "invalid input: {stderr}");
    assert!(stderr.contains("--max-parallel"), "{stderr}");
}

// The real Taskmaster CLI.

/// The `task-master` binary: `ORCHCTL_TASKMASTER`, else on `PATH`.
fn taskmaster() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORCHCTL_TASKMASTER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("task-master"))
        .find(|p| p.is_file())
}

#[test]
fn a_backlog_written_by_the_taskmaster_cli_plays() {
    let Some(tm) = taskmaster() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "task-master not found: CI must install task-master-ai (see .ci/run) and set ORCHCTL_TASKMASTER"
        );
        eprintln!(
            "notice: task-master not found (set ORCHCTL_TASKMASTER or put it on PATH); skipping the real-CLI backlog test"
        );
        return;
    };
    let dir = project();
    let tasks = dir.path().join(".taskmaster/tasks/tasks.json");
    std::fs::write(&tasks, "{\"master\":{\"tasks\":[],\"metadata\":{}}}").unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&tm)
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", tm.display()));
        assert!(
            out.status.success(),
            "task-master {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "add-task",
        "--title",
        "Repository",
        "--description",
        "Workspace and CI",
        "--priority",
        "high",
    ]);
    run(&[
        "add-task",
        "--title",
        "Model",
        "--description",
        "Types",
        "--dependencies",
        "1",
        "--priority",
        "medium",
    ]);
    run(&[
        "add-task",
        "--title",
        "API",
        "--description",
        "Endpoints",
        "--dependencies",
        "2",
        "--priority",
        "low",
    ]);
    run(&[
        "add-task",
        "--title",
        "CLI",
        "--description",
        "Commands",
        "--dependencies",
        "1",
        "--priority",
        "high",
    ]);
    run(&[
        "add-task",
        "--title",
        "Docs",
        "--description",
        "Guide",
        "--dependencies",
        "3,4",
        "--priority",
        "low",
    ]);
    run(&[
        "add-subtask",
        "--parent",
        "2",
        "--title",
        "Structs",
        "--description",
        "The structs",
    ]);
    run(&[
        "add-subtask",
        "--parent",
        "2",
        "--title",
        "Serde",
        "--description",
        "Serialization",
        "--dependencies",
        "2.1",
    ]);
    run(&[
        "add-subtask",
        "--parent",
        "5",
        "--title",
        "Guide",
        "--description",
        "User guide",
        "--dependencies",
        "4",
    ]);
    run(&["set-status", "--id", "1", "--status", "done"]);
    run(&["set-status", "--id", "2.1", "--status", "done"]);

    let text = std::fs::read_to_string(&tasks).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert!(json.get("master").is_some(), "tagged form: {text}");
    let model = scaffold_model();
    let played = play_text(&model, &text, &repo()).unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
    assert_valid(&played);
    assert_eq!(
        dag(&played),
        graph(&[("2", &[]), ("3", &["2"]), ("4", &[]), ("5", &["3", "4"])]),
        "{text}"
    );
    let (code, stdout, stderr) = orchctl(dir.path(), &["play", "-p", "repository=acme/api"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, played.yaml);
}
