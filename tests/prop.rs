//! Property tests: randomly generated *valid* specs always compile, to
//! schema-valid and deterministic output; the spec survives a round trip
//! through orchctl's YAML writer and loader; and through the binary, `render`
//! then `render --check` exits 0 and a second `render` writes nothing.
//!
//! Also the regression tests for inputs the fuzzer (`fuzz/`) found.

// Spec values are built with `..Default::default()` even where every field is
// set today, so fields added to the spec later do not break this test.
#![allow(clippy::needless_update)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use orchctl::load::Loaded;
use orchctl::spec::{
    Agent, Approval, Backoff, Chain, Concurrency, ContainerStep, Gate, GitHubApp, GitHubAuth,
    Mutex, OnTimeout, ParamValue, Parameter, Project, Resources, Retry, RetryPolicy, Runtime,
    Scope, Semaphore, Spec, Step, Tier, Workspace,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Outputs every agent step may emit.
const OUTPUTS: &[&str] = &["pr-url", "pr-number", "result"];
/// Tiers declared by every generated runtime.
const TIERS: &[&str] = &["default", "high", "gpu"];
const MODELS: &[&str] = &["claude-sonnet-4-5", "claude-opus-4-1", "gpt-5-codex"];
const GATES: &[Gate] = &[Gate::Fmt, Gate::Clippy, Gate::ClippyPedantic, Gate::Tests];

/// The shape of a random spec: small numbers that [`build`] turns into a
/// valid [`Spec`]. Kept as plain data so proptest shrinks it well.
#[derive(Debug, Clone)]
struct Shape {
    /// Extra parameters beyond `repository` and `taskId`: (has default, enum size).
    params: Vec<(bool, u8)>,
    agents: Vec<AgentShape>,
    chains: Vec<ChainShape>,
    /// Semaphore limits: global, per repository, per organization.
    semaphores: (u8, u8, u8),
    /// Which locks the agent step holds (bit mask over the locks).
    runtime_locks: u8,
    repositories: u8,
    retry: Option<(u8, u8)>,
}

#[derive(Debug, Clone)]
struct AgentShape {
    tier: Option<u8>,
    gates: u8,
    tools: u8,
    template: bool,
    model: u8,
}

#[derive(Debug, Clone)]
struct ChainShape {
    steps: Vec<StepShape>,
    locks: u8,
    deadline_h: Option<u8>,
    parallelism: Option<u8>,
    on_exit: bool,
}

#[derive(Debug, Clone)]
struct StepShape {
    /// 0..=5 agent, 6 container, 7 approval.
    kind: u8,
    agent: u8,
    /// Raw dependency picks, reduced modulo the step's index.
    after: Vec<u8>,
    /// Bind a parameter: (which parameter, from a dependency's output).
    with: Option<(u8, bool)>,
    timeout_m: Option<u8>,
    retries: Option<u8>,
    continue_on_failure: bool,
}

fn step_shape() -> impl Strategy<Value = StepShape> {
    (
        0u8..8,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..3),
        prop::option::of((any::<u8>(), any::<bool>())),
        prop::option::of(1u8..120),
        prop::option::of(0u8..5),
        any::<bool>(),
    )
        .prop_map(
            |(kind, agent, after, with, timeout_m, retries, continue_on_failure)| StepShape {
                kind,
                agent,
                after,
                with,
                timeout_m,
                retries,
                continue_on_failure,
            },
        )
}

fn chain_shape() -> impl Strategy<Value = ChainShape> {
    (
        prop::collection::vec(step_shape(), 1..8),
        any::<u8>(),
        prop::option::of(1u8..48),
        prop::option::of(1u8..10),
        any::<bool>(),
    )
        .prop_map(
            |(steps, locks, deadline_h, parallelism, on_exit)| ChainShape {
                steps,
                locks,
                deadline_h,
                parallelism,
                on_exit,
            },
        )
}

fn agent_shape() -> impl Strategy<Value = AgentShape> {
    (
        prop::option::of(0u8..3),
        0u8..16,
        0u8..4,
        any::<bool>(),
        0u8..3,
    )
        .prop_map(|(tier, gates, tools, template, model)| AgentShape {
            tier,
            gates,
            tools,
            template,
            model,
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec((any::<bool>(), 0u8..4), 0..5),
        prop::collection::vec(agent_shape(), 1..6),
        prop::collection::vec(chain_shape(), 1..5),
        (0u8..5, 0u8..5, 0u8..5),
        any::<u8>(),
        1u8..6,
        prop::option::of((0u8..6, 1u8..4)),
    )
        .prop_map(
            |(params, agents, chains, semaphores, runtime_locks, repositories, retry)| Shape {
                params,
                agents,
                chains,
                semaphores,
                runtime_locks,
                repositories,
                retry,
            },
        )
}

/// A valid spec of the given shape.
#[allow(clippy::too_many_lines)]
fn build(shape: &Shape) -> Spec {
    let repositories: Vec<String> = (0..shape.repositories)
        .map(|i| format!("org{}/repo-{i}", i % 2))
        .collect();
    let mut parameters = vec![
        Parameter {
            name: "repository".into(),
            ty: orchctl::spec::ParamType::String,
            default: Some(ParamValue::String(repositories[0].clone())),
            allowed: Vec::new(),
            description: Some("GitHub repository, as org/repo.".into()),
        },
        Parameter {
            name: "taskId".into(),
            ty: orchctl::spec::ParamType::String,
            default: Some(ParamValue::String(String::new())),
            allowed: Vec::new(),
            description: None,
        },
    ];
    for (i, (has_default, enum_size)) in shape.params.iter().enumerate() {
        let allowed: Vec<ParamValue> = (0..*enum_size)
            .map(|v| ParamValue::String(format!("v{v}")))
            .collect();
        let default = has_default.then(|| {
            allowed
                .first()
                .cloned()
                .unwrap_or_else(|| ParamValue::String(format!("value {i}")))
        });
        parameters.push(Parameter {
            name: format!("p{i}"),
            ty: orchctl::spec::ParamType::String,
            default,
            allowed,
            description: (i % 2 == 0).then(|| format!("Parameter {i}.")),
        });
    }
    // Locks: global semaphore, per-repository, per-organization, mutex per task.
    let mut semaphores = BTreeMap::new();
    let (global, per_repo, per_org) = shape.semaphores;
    let mut locks: Vec<String> = Vec::new();
    if global > 0 {
        semaphores.insert(
            "global".to_string(),
            Semaphore {
                limit: u32::from(global),
                per: Scope::Global,
                overrides: BTreeMap::new(),
            },
        );
        locks.push("global".into());
    }
    if per_repo > 0 {
        let mut overrides = BTreeMap::new();
        if per_repo > 2 {
            overrides.insert(repositories[0].clone(), u32::from(per_repo) + 1);
        }
        semaphores.insert(
            "per-repo".to_string(),
            Semaphore {
                limit: u32::from(per_repo),
                per: Scope::Repository,
                overrides,
            },
        );
        locks.push("per-repo".into());
    }
    if per_org > 0 {
        semaphores.insert(
            "per-org".to_string(),
            Semaphore {
                limit: u32::from(per_org),
                per: Scope::Organization,
                overrides: BTreeMap::new(),
            },
        );
        locks.push("per-org".into());
    }
    let mut mutexes = BTreeMap::new();
    mutexes.insert(
        "task".to_string(),
        Mutex {
            per: Some("taskId".into()),
        },
    );
    locks.push("task".into());
    let pick_locks = |mask: u8| -> Vec<String> {
        locks
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, l)| l.clone())
            .collect()
    };

    let mut agents = BTreeMap::new();
    for (i, a) in shape.agents.iter().enumerate() {
        let prompt = if a.template {
            format!(
                "You are agent {i} of {{{{ project.name }}}}, one of {{{{ agents | length }}}}.\n"
            )
        } else {
            format!("You are agent {i}.\nDo the work.\n")
        };
        agents.insert(
            format!("agent-{i}"),
            Agent {
                description: Some(format!("Agent number {i}.")),
                prompt: Some(prompt),
                prompt_file: None,
                template: a.template,
                model: MODELS[usize::from(a.model)].to_string(),
                cli: Some("claude".into()),
                tools: (0..a.tools).map(|t| format!("tool-{t}")).collect(),
                gates: GATES
                    .iter()
                    .enumerate()
                    .filter(|(g, _)| a.gates & (1 << g) != 0)
                    .map(|(_, g)| *g)
                    .collect(),
                tier: a.tier.map(|t| TIERS[usize::from(t)].to_string()),
                ..Agent::default()
            },
        );
    }
    let agent_names: Vec<String> = agents.keys().cloned().collect();
    let params: Vec<String> = parameters.iter().map(|p| p.name.clone()).collect();

    let mut chains = BTreeMap::new();
    let mut uses_tools_image = false;
    for (c, shape_c) in shape.chains.iter().enumerate() {
        let mut steps: Vec<Step> = Vec::new();
        let mut is_agent: Vec<bool> = Vec::new();
        for (i, s) in shape_c.steps.iter().enumerate() {
            let name = format!("s{i}");
            let mut after: Vec<String> = Vec::new();
            if i > 0 {
                for a in &s.after {
                    let dep = format!("s{}", usize::from(*a) % i);
                    if !after.contains(&dep) {
                        after.push(dep);
                    }
                }
            }
            // A reference to an output of a dependency that is an agent step.
            let from_dep = after
                .iter()
                .find(|d| is_agent[d[1..].parse::<usize>().unwrap_or(0)])
                .cloned();
            let mut step = Step {
                name,
                after,
                ..Step::default()
            };
            let value = |from_output: bool, n: u8| match (&from_dep, from_output) {
                (Some(dep), true) => format!(
                    "${{steps.{dep}.outputs.{}}}",
                    OUTPUTS[usize::from(n) % OUTPUTS.len()]
                ),
                _ => format!("literal-{n}"),
            };
            match s.kind {
                0..=5 => {
                    step.agent =
                        Some(agent_names[usize::from(s.agent) % agent_names.len()].clone());
                    if let Some((p, from_output)) = s.with {
                        let param = &params[usize::from(p) % params.len()];
                        // Enum parameters keep their declared values.
                        let allowed = &parameters[usize::from(p) % params.len()].allowed;
                        let v = if let Some(first) = allowed.first() {
                            first.to_argo()
                        } else {
                            value(from_output, p)
                        };
                        step.with.insert(param.clone(), v);
                    }
                    step.timeout = s.timeout_m.map(|m| format!("{m}m"));
                    step.retry = s.retries.map(|limit| Retry {
                        limit: u32::from(limit),
                        policy: RetryPolicy::OnFailure,
                        backoff: None,
                    });
                    is_agent.push(true);
                }
                6 => {
                    uses_tools_image = true;
                    let mut env = BTreeMap::new();
                    env.insert("REPO".to_string(), "${params.repository}".to_string());
                    if let Some((p, from_output)) = s.with {
                        env.insert(format!("VALUE_{p}"), value(from_output, p));
                    }
                    step.container = Some(ContainerStep {
                        image: "tools".into(),
                        command: vec!["/usr/local/bin/tool".into()],
                        args: vec!["--step".into(), format!("s{i}")],
                        env,
                        tier: None,
                        outputs: if s.agent % 2 == 0 {
                            vec!["result".into()]
                        } else {
                            Vec::new()
                        },
                        workspace: s.continue_on_failure,
                        ..ContainerStep::default()
                    });
                    step.timeout = s.timeout_m.map(|m| format!("{m}m"));
                    is_agent.push(false);
                }
                _ => {
                    step.approval = Some(Approval {
                        description: Some(format!("Approve step {i}?")),
                        timeout: s.timeout_m.map(|m| format!("{m}m")),
                        on_timeout: if s.agent % 2 == 0 {
                            OnTimeout::Reject
                        } else {
                            OnTimeout::Approve
                        },
                        ..Approval::default()
                    });
                    is_agent.push(false);
                }
            }
            if step.approval.is_none() {
                step.continue_on_failure = s.continue_on_failure;
            }
            steps.push(step);
        }
        let on_exit = shape_c.on_exit.then(|| {
            uses_tools_image = true;
            let mut env = BTreeMap::new();
            env.insert("STATUS".to_string(), "${workflow.status}".to_string());
            env.insert("NAME".to_string(), "${workflow.name}".to_string());
            Box::new(Step {
                name: "report".into(),
                container: Some(ContainerStep {
                    image: "tools".into(),
                    command: vec!["/usr/local/bin/report".into()],
                    args: Vec::new(),
                    env,
                    ..ContainerStep::default()
                }),
                ..Step::default()
            })
        });
        chains.insert(
            format!("chain-{c}"),
            Chain {
                description: Some(format!("Chain number {c}.")),
                steps,
                concurrency: pick_locks(shape_c.locks),
                // Long enough for any approval timeout (at most 119 minutes).
                deadline: shape_c.deadline_h.map(|h| format!("{}h", u32::from(h) + 2)),
                parallelism: shape_c.parallelism.map(u32::from),
                on_exit,
                ..Chain::default()
            },
        );
    }

    let mut images = BTreeMap::new();
    images.insert(
        "agent".to_string(),
        "ghcr.io/example/agent:1.0.0".to_string(),
    );
    if uses_tools_image {
        images.insert(
            "tools".to_string(),
            "ghcr.io/example/tools:sha-3f9c2ab1".to_string(),
        );
    }
    let tiers: BTreeMap<String, Tier> = TIERS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = 1 << i;
            (
                (*t).to_string(),
                Tier {
                    requests: Resources {
                        cpu: n.to_string(),
                        memory: format!("{}Gi", 2 * n),
                        ..Resources::default()
                    },
                    limits: Resources {
                        cpu: (2 * n).to_string(),
                        memory: format!("{}Gi", 4 * n),
                        ..Resources::default()
                    },
                },
            )
        })
        .collect();
    Spec {
        project: Some(Project {
            name: "demo".into(),
            namespace: "agents".into(),
            repositories,
            ..Project::default()
        }),
        images,
        runtime: Some(Runtime {
            image: "agent".into(),
            command: vec!["/usr/local/bin/agent-run".into()],
            tiers,
            workspace: Workspace {
                size: Some("10Gi".into()),
                ..Workspace::default()
            },
            github: GitHubAuth {
                app: GitHubApp {
                    secret: "github-app".into(),
                    app_id_key: "app-id".into(),
                    private_key_key: "private-key".into(),
                    installation_id_key: None,
                },
            },
            outputs: OUTPUTS.iter().map(|o| (*o).to_string()).collect(),
            concurrency: pick_locks(shape.runtime_locks),
            defaults: orchctl::spec::RuntimeDefaults {
                retry: shape.retry.map(|(limit, factor)| Retry {
                    limit: u32::from(limit),
                    policy: RetryPolicy::OnFailure,
                    backoff: Some(Backoff {
                        duration: "30s".into(),
                        factor: u32::from(factor),
                        max_duration: Some("10m".into()),
                    }),
                }),
                ..orchctl::spec::RuntimeDefaults::default()
            },
            ..Runtime::default()
        }),
        parameters,
        agents,
        chains,
        concurrency: Some(Concurrency {
            config_map: None,
            semaphores,
            mutexes,
        }),
        ..Spec::default()
    }
}

fn compile_or_panic(loaded: &Loaded) -> orchctl::Compiled {
    match orchctl::compile(loaded) {
        Ok(c) => c,
        Err(diags) => {
            let text: Vec<String> = diags
                .0
                .iter()
                .map(|d| d.render(&loaded.sources, false))
                .collect();
            panic!(
                "a valid spec does not compile:\n{}\nspec:\n{}",
                text.join("\n"),
                spec_yaml(&loaded.spec)
            );
        }
    }
}

fn spec_yaml(spec: &Spec) -> String {
    orchctl::emit::to_yaml(&serde_json::to_value(spec).expect("a spec serializes"))
}

/// Drop the header line (it names the source files, which differ between a
/// spec made in code and one read from files).
fn bodies(tree: &orchctl::Tree) -> BTreeMap<String, String> {
    tree.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.split_once('\n').map_or("", |x| x.1).to_string(),
            )
        })
        .collect()
}

fn check_spec(spec: &Spec) {
    // Compiles, deterministically.
    let loaded = Loaded::from_spec(spec.clone());
    let first = compile_or_panic(&loaded);
    let second = compile_or_panic(&Loaded::from_spec(spec.clone()));
    assert_eq!(first.tree, second.tree, "two compilations differ");
    assert!(
        first
            .tree
            .keys()
            .any(|p| p.starts_with("workflowtemplates/")),
        "no WorkflowTemplate written"
    );
    // Schema-valid against the strict upstream schemas.
    common::assert_schema_valid(&first.tree);

    // Round trip through orchctl's YAML writer and loader.
    let text = spec_yaml(spec);
    let (reloaded, diags) = orchctl::load::load_str("spec.yaml", &text);
    assert!(
        !diags.has_errors(),
        "the written spec does not load:\n{}\n{text}",
        diags
            .0
            .iter()
            .map(|d| d.render(&reloaded.sources, false))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(&reloaded.spec, spec, "the spec changed through YAML");

    // Through the binary: render, then render --check finds nothing.
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(pipelines.join("spec.yaml"), &text).unwrap();
    let out = dir.path().join("generated");
    let run = |check: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchctl"));
        cmd.arg("render")
            .arg("--pipelines")
            .arg(&pipelines)
            .arg("--out")
            .arg(&out);
        if check {
            cmd.arg("--check");
        }
        cmd.env("NO_COLOR", "1").output().unwrap()
    };
    let render = run(false);
    assert_eq!(
        render.status.code(),
        Some(0),
        "render failed: {}",
        String::from_utf8_lossy(&render.stderr)
    );
    let check = run(true);
    assert_eq!(
        check.status.code(),
        Some(0),
        "render --check after render: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // A second render finds every file already there and writes nothing.
    let again = run(false);
    assert!(
        again.status.code() == Some(0)
            && String::from_utf8_lossy(&again.stderr).contains("is up to date"),
        "render after render: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    // The files on disk are what the library compiled (up to the header).
    let on_disk: BTreeMap<String, String> = common::snapshot_dir(&out)
        .into_iter()
        .map(|(k, v)| (k.replace('\\', "/"), String::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(bodies(&on_disk), bodies(&first.tree));
}

#[test]
fn random_valid_specs_render_valid_deterministic_output() {
    let cases = std::env::var("ORCHCTL_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut runner = TestRunner::new(Config {
        cases,
        // Failures become explicit regression tests below, not files.
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&shape(), |shape| {
            check_spec(&build(&shape));
            Ok(())
        })
        .unwrap();
}

/// The smallest shape: one agent, one chain, one step.
#[test]
fn minimal_shape() {
    check_spec(&build(&Shape {
        params: Vec::new(),
        agents: vec![AgentShape {
            tier: None,
            gates: 0,
            tools: 0,
            template: false,
            model: 0,
        }],
        chains: vec![ChainShape {
            steps: vec![StepShape {
                kind: 0,
                agent: 0,
                after: Vec::new(),
                with: None,
                timeout_m: None,
                retries: None,
                continue_on_failure: false,
            }],
            locks: 0,
            deadline_h: None,
            parallelism: None,
            on_exit: false,
        }],
        semaphores: (0, 0, 0),
        runtime_locks: 0,
        repositories: 1,
        retry: None,
    }));
}

/// Inputs the fuzzer (`fuzz/`, target `load`) ran: each must load and
/// compile (or fail) without panicking.
#[test]
fn fuzz_corpus_never_panics() {
    let dir = common::root().join("fuzz/corpus/load");
    let (mut n, mut compiled_seeds, mut changes) = (0, 0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let (loaded, diags) = orchctl::load::load_str("platform.yaml", text);
        for d in &diags.0 {
            let _ = d.render(&loaded.sources, false);
        }
        // As in the fuzz target: the streaming render makes the same tree,
        // taking the texts it dropped back from disk only as they were.
        let even = |_: &str, text: &str| text.len().is_multiple_of(2);
        let compared = orchctl::render_against(&loaded, &even, orchctl::Keep::Verified);
        match orchctl::compile(&loaded) {
            Ok(compiled) => {
                let from_disk: orchctl::Tree = compiled
                    .tree
                    .iter()
                    .filter(|(_, text)| text.len() % 2 == 0)
                    .map(|(p, t)| (p.clone(), t.clone()))
                    .collect();
                let tree = compared
                    .expect("render_against failed")
                    .take_tree(&from_disk);
                assert_eq!(tree.as_ref(), Some(&compiled.tree), "{}", path.display());
                // A file that changed on disk since it was compared is not
                // taken back, whichever it is and however small the change.
                for changed in from_disk.keys() {
                    let mut disk = from_disk.clone();
                    disk.entry(changed.clone()).and_modify(|t| t.push(' '));
                    let mut again =
                        orchctl::render_against(&loaded, &even, orchctl::Keep::Verified).unwrap();
                    assert_eq!(again.take_tree(&disk), None, "{changed}");
                    disk.remove(changed);
                    let mut again =
                        orchctl::render_against(&loaded, &even, orchctl::Keep::Verified).unwrap();
                    assert_eq!(again.take_tree(&disk), None, "{changed} removed");
                    changes += 1;
                }
                compiled_seeds += 1;
            }
            Err(_) => assert!(compared.is_err(), "{}", path.display()),
        }
        n += 1;
    }
    assert!(n >= 10, "the seed corpus is missing ({n} files)");
    assert!(compiled_seeds >= 2, "{compiled_seeds} seeds compile");
    assert!(changes >= 2, "{changes} files changed on disk");
}

/// JSON values with the strings YAML readers misread: keywords, numbers,
/// timestamps, indicators, leading/trailing spaces, control characters,
/// quotes and multi-line text.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let tricky = prop::sample::select(vec![
        "",
        " ",
        "yes",
        "No",
        "~",
        "null",
        "true",
        "0755",
        "1e3",
        "-1",
        ".5",
        "0x1F",
        "12:30",
        "2024-01-01",
        "- x",
        "a: b",
        "a #b",
        "#c",
        "*a",
        "&a",
        "!t",
        "|",
        ">",
        "'q'",
        "\"d\"",
        "it's",
        "<<",
        "x\n",
        "x\ny",
        "\n",
        " lead\n",
        "a\n\n",
        "tab\there",
        "nul\u{0}",
        "bom\u{feff}",
        "line\u{2028}sep",
        "{{inputs.parameters.a}}",
        "ghcr.io/a/b:1.0",
    ]);
    let string = prop_oneof![
        tricky.prop_map(str::to_string),
        "[ -~\n\t]{0,12}",
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        string.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((string.clone(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Whatever orchctl's YAML writer emits, its reader takes back as the same
/// value: quoting, block scalars, empty collections and nesting.
#[test]
fn yaml_writer_round_trips_any_json() {
    let cases = std::env::var("ORCHCTL_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(512, |n: u32| n * 16);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&json_value(), |value| {
            let text = orchctl::emit::to_yaml(&value);
            // YAML 1.1 readers (Go's among them) take these for line breaks,
            // even inside quotes; orchctl's 1.2 reader would not notice.
            prop_assert!(
                !text.contains(['\u{85}', '\u{2028}', '\u{2029}']),
                "{:?} holds a raw line break of YAML 1.1",
                text
            );
            let node = orchctl::yaml::parse(&text, orchctl::source::FileId(0));
            prop_assert!(node.is_ok(), "{:?} does not parse: {:?}", text, node);
            let back = node
                .ok()
                .flatten()
                .map(|n| orchctl::yaml::de::from_node::<serde_json::Value>(&n));
            prop_assert!(
                matches!(&back, Some(Ok(v)) if *v == value),
                "{:?} reads back as {:?}",
                text,
                back
            );
            Ok(())
        })
        .unwrap();
}

/// Spec text given in memory reads no files, so an agent's `promptFile` is
/// a file not found, reported where it is named, as `render` reports a
/// missing one. Unreported, the agent dropped out of the model (it has no
/// prompt) and the steps that run it out of their chain, without an error.
#[test]
fn prompt_file_in_memory_is_not_found() {
    let text = "project: {name: demo, namespace: agents}\n\
        images: {agent: ghcr.io/acme/agent:1.0.0}\n\
        runtime:\n  image: agent\n  command: [/usr/local/bin/agent-run]\n  \
        tiers: {default: {requests: {cpu: \"1\", memory: 1Gi}, limits: {cpu: \"1\", memory: 1Gi}}}\n  \
        workspace: {size: 10Gi}\n  github: {app: {secret: github-app}}\n\
        agents:\n  author: {promptFile: prompts/author.md, model: m}\n  \
        review: {prompt: You review., model: m}\n\
        chains:\n  delivery:\n    steps:\n      - {name: author, agent: author}\n      \
        - {name: review, agent: review, after: [author]}\n";
    let (loaded, diags) = orchctl::load::load_str("platform.yaml", text);
    let found: Vec<String> = diags
        .0
        .iter()
        .map(|d| d.render(&loaded.sources, false))
        .collect();
    assert_eq!(
        found,
        ["error[E019]: prompt file `prompts/author.md` not found\n  \
             --> pipelines/platform.yaml:10:24\n   |\n10 |   author: {promptFile: prompts/author.md, model: m}\n   \
             |                        ^^^^^^^^^^^^^^^^^\n   \
             = help: spec text given in memory reads no files: write the prompt inline with `prompt:`\n"]
    );
    assert!(loaded.failed);
}
