//! `orchctl play`: press play on a backlog.
//!
//! A Taskmaster backlog ([`backlog`]) becomes one Argo Workflow whose DAG
//! has a node per task not yet done, each waiting for the tasks it depends
//! on. The graph is computed here, at compile time: no script in the
//! cluster parses the backlog.
//!
//! Each DAG node starts **one run of the chain's `WorkflowTemplate` as a
//! Workflow of its own** (a `resource` template that applies a Workflow with
//! `workflowTemplateRef`) and waits for it to finish. A run is therefore
//! exactly what an event route starts: its own workspace volume, deadline,
//! exit handler, TTL, labels, and the chain's semaphores and mutexes, which
//! do not apply when a chain's template is merely referenced from another
//! workflow's DAG.
//!
//! - **Re-entry**: each run has a deterministic name (chain, tag, task id and
//!   a hash of the project, chain, tag and parameters) and is *applied*, not
//!   created. Pressing play again while a run exists joins that run instead
//!   of starting a second one; two plays racing to start the same run both
//!   end up waiting on one Workflow (the loser's apply is retried).
//! - **Failures** do not cancel independent branches (`failFast: false`);
//!   only the tasks that depend on a failed one are not started.
//! - **Priority**: a task's priority (with inheritance from the tasks that
//!   wait for it) becomes the run's Workflow `spec.priority`, which orders
//!   runs queued on a semaphore, a mutex or the controller's parallelism;
//!   the DAG also lists tasks in priority order among those ready together.
//! - **Subtasks** are part of their parent's run (the agent works through
//!   them); a subtask's dependency on another task makes the parent wait.

pub mod backlog;
pub mod json;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSecurityContext;
use serde::Serialize;
use serde_json::{Value, json};

use crate::argo::{
    Backoff, DagTask, Inputs, IntOrString, MAX_DAG_TASKS, Parameter, PodGc, RetryStrategy,
    StepArguments, TtlStrategy,
};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, suggestion};
use crate::model::{LABEL_PREFIX, Model};
use crate::source::FileId;
use crate::spec::ParamType;

pub use backlog::{Backlog, Plan, Priority, Run};

/// The chain parameter that carries each run's task id.
pub const TASK_ID: &str = "taskId";
/// The chain `play` runs unless told otherwise.
pub const DEFAULT_CHAIN: &str = "delivery";
/// Runs at once unless told otherwise.
pub const DEFAULT_PARALLELISM: u32 = 4;

/// What to play, and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The chain each task runs (default `delivery`).
    pub chain: Option<String>,
    /// The backlog tag (default: the only one, else `master`).
    pub tag: Option<String>,
    /// Runs at once (default 4).
    pub max_parallel: Option<u32>,
    /// Run only these task ids.
    pub only: Vec<String>,
    /// Chain parameters, `NAME=VALUE`.
    pub params: Vec<(String, String)>,
    /// The service account of the play Workflow (default: the runtime's).
    pub service_account: Option<String>,
}

/// A played backlog.
#[derive(Debug, Clone)]
pub struct Played {
    pub plan: Plan,
    pub chain: String,
    /// Identifies the runs of this backlog tag, chain and parameters: the
    /// `orchctl.dev/play` label of the play Workflow and of every run.
    pub key: String,
    /// The Workflow, fields in emission order.
    pub workflow: Value,
    /// The Workflow as YAML, with a leading comment.
    pub yaml: String,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// Turn the backlog in `text` (registered as `file`) into a Workflow that
/// runs `model`'s chain once per task.
///
/// # Errors
/// Every problem found in the backlog, the chain choice and the parameters.
pub fn play(
    model: &Model,
    text: &str,
    file: FileId,
    options: &Options,
) -> Result<Played, Diagnostics> {
    let mut diags = Diagnostics::default();
    if options.max_parallel == Some(0) {
        diags.push(
            Diagnostic::error(Code::InvalidValue, "--max-parallel must be at least 1")
                .help("give the number of tasks that may run at once"),
        );
    }
    if let Some(account) = &options.service_account
        && !crate::check::is_dns_subdomain(account)
    {
        diags.push(
            Diagnostic::error(
                Code::InvalidName,
                format!("--service-account `{account}` is not a valid ServiceAccount name"),
            )
            .help("lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters"),
        );
    }
    let chain = choose_chain(model, options.chain.as_deref(), &mut diags);
    let params = chain
        .as_deref()
        .map(|c| parameters(model, c, &options.params, &mut diags));
    let planned = match json::parse(text, file) {
        Err(d) => {
            diags.push(d);
            None
        }
        Ok(root) => match backlog::read(&root, options.tag.as_deref()) {
            Err(more) => {
                diags.0.extend(more.0);
                None
            }
            Ok(backlog) => match backlog::plan(&backlog, &options.only) {
                Err(more) => {
                    diags.0.extend(more.0);
                    None
                }
                Ok((plan, warnings)) => {
                    diags.0.extend(warnings.0);
                    Some(plan)
                }
            },
        },
    };
    diags.sort();
    let (Some(chain), Some(params), Some(plan)) = (chain, params, planned) else {
        return Err(diags);
    };
    if diags.has_errors() {
        return Err(diags);
    }
    if plan.runs.len() > MAX_DAG_TASKS {
        diags.push(
            Diagnostic::warning(
                Code::ObjectTooLarge,
                format!(
                    "the play DAG has {} tasks; Argo Workflows 4 installed with its full CRDs accepts at most {MAX_DAG_TASKS}",
                    plan.runs.len()
                ),
            )
            .help("with the full CRDs, play the backlog in parts (--only, or one --tag at a time); the minimal CRDs and 3.7 have no such limit"),
        );
    }
    let key = play_key(model, &chain, &plan.tag, &params);
    let workflow = workflow(model, &chain, &plan, &params, &key, options);
    let value = serde_json::to_value(&workflow).unwrap_or(Value::Null);
    let mut yaml = format!(
        "# orchctl play: {} of {} tasks of tag `{}` ({} done), each a run of chain `{}`\n",
        plan.runs.len(),
        plan.total,
        plan.tag,
        plan.done,
        chain
    );
    crate::emit::write_document(&mut yaml, &value);
    Ok(Played {
        plan,
        chain,
        key,
        workflow: value,
        yaml,
        warnings: diags,
    })
}

fn choose_chain(model: &Model, chosen: Option<&str>, diags: &mut Diagnostics) -> Option<String> {
    let names = || model.chains.keys().map(String::as_str);
    let name = match chosen {
        Some(c) => c,
        None if model.chains.contains_key(DEFAULT_CHAIN) => DEFAULT_CHAIN,
        None => {
            diags.push(
                Diagnostic::error(
                    Code::UnknownChain,
                    format!("the spec has no chain `{DEFAULT_CHAIN}`: choose one with --chain"),
                )
                .help(suggestion("chain", DEFAULT_CHAIN, names())),
            );
            return None;
        }
    };
    let Some(chain) = model.chains.get(name) else {
        diags.push(
            Diagnostic::error(Code::UnknownChain, format!("unknown chain `{name}`"))
                .help(suggestion("chain", name, names())),
        );
        return None;
    };
    if !chain.params.iter().any(|p| p == TASK_ID) {
        diags.push(
            Diagnostic::error(
                Code::UnknownParameter,
                format!("chain `{name}` has no `{TASK_ID}` parameter, so its runs could not tell which task they are for"),
            )
            .help(format!("play a chain whose steps use `${{params.{TASK_ID}}}`")),
        );
        return None;
    }
    Some(name.to_string())
}

/// The value of every parameter of the chain but `taskId`, in the chain's
/// order: from `--param`, else the catalogue default.
fn parameters(
    model: &Model,
    chain: &str,
    given: &[(String, String)],
    diags: &mut Diagnostics,
) -> Vec<(String, String)> {
    let chain = &model.chains[chain];
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in given {
        if name == TASK_ID {
            diags.push(
                Diagnostic::error(
                    Code::Conflict,
                    format!("--param {TASK_ID} is not allowed: play sets it to each task's id"),
                )
                .help("remove it; use --only to choose tasks"),
            );
            continue;
        }
        if !chain.params.contains(name) {
            let help = if model.param(name).is_some() {
                format!(
                    "chain `{}` does not use `{name}`; its parameters are {}",
                    chain.name,
                    list(&chain.params)
                )
            } else {
                suggestion("parameter", name, chain.params.iter().map(String::as_str))
            };
            diags.push(
                Diagnostic::error(
                    Code::UnknownParameter,
                    format!(
                        "--param `{name}`: chain `{}` has no such parameter",
                        chain.name
                    ),
                )
                .help(help),
            );
            continue;
        }
        if values.insert(name, value).is_some() {
            diags.push(
                Diagnostic::error(Code::Conflict, format!("--param `{name}` is given twice"))
                    .help("give each parameter once"),
            );
        }
    }
    let mut out = Vec::new();
    for name in chain.params.iter().filter(|p| *p != TASK_ID) {
        let Some(param) = model.param(name) else {
            continue;
        };
        let value = match (values.get(name.as_str()), &param.default) {
            (Some(v), _) => {
                check_value(name, v, param.ty, &param.allowed, diags);
                (*v).to_string()
            }
            (None, Some(d)) => d.clone(),
            (None, None) => {
                diags.push(
                    Diagnostic::error(
                        Code::UnboundParameter,
                        format!(
                            "chain `{}` needs parameter `{name}`, which has no default",
                            chain.name
                        ),
                    )
                    .help(format!("pass --param {name}=VALUE")),
                );
                continue;
            }
        };
        out.push((name.clone(), value));
    }
    out
}

fn check_value(
    name: &str,
    value: &str,
    ty: ParamType,
    allowed: &[String],
    diags: &mut Diagnostics,
) {
    if value.contains("{{") {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("--param `{name}`: `{{{{` would be read by Argo as a template tag"),
            )
            .help("remove the `{{`"),
        );
    }
    let fits = match ty {
        ParamType::String => true,
        ParamType::Integer => value.parse::<i64>().is_ok(),
        ParamType::Boolean => value == "true" || value == "false",
    };
    if !fits {
        let what = match ty {
            ParamType::Integer => "an integer",
            _ => "`true` or `false`",
        };
        diags.push(
            Diagnostic::error(
                Code::ParameterType,
                format!("--param `{name}` is `{value}`, not {what}"),
            )
            .help(format!("pass {what}")),
        );
    }
    if !allowed.is_empty() && !allowed.iter().any(|a| a == value) {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("--param `{name}` is `{value}`, not one of its allowed values"),
            )
            .help(suggestion(
                "value",
                value,
                allowed.iter().map(String::as_str),
            )),
        );
    }
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stable 32-bit hash of `parts` as 8 hex digits: FNV-1a 64 with a
/// final avalanche (std's hasher is not stable across releases).
fn hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // MurmurHash3's fmix64, so that similar inputs differ in every digit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    format!("{:08x}", h >> 32)
}

fn play_key(model: &Model, chain: &str, tag: &str, params: &[(String, String)]) -> String {
    let mut parts = vec![
        model.project.name.as_str(),
        model.project.namespace.as_str(),
        chain,
        tag,
    ];
    for (k, v) in params {
        parts.push(k);
        parts.push(v);
    }
    hash(&parts)
}

/// Letters, digits and `-` only, lowercase, without leading or trailing `-`.
fn dns(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_string()
}

/// The name of the run of task `id`: readable, at most 63 characters, and
/// the same every time the same backlog is played with the same settings.
#[must_use]
pub fn run_name(chain: &str, tag: &str, id: &str, key: &str) -> String {
    let suffix = hash(&[key, id]);
    let mut prefix = dns(&format!("{chain}-{tag}-{id}"));
    prefix.truncate(63 - 1 - suffix.len());
    let prefix = prefix.trim_end_matches('-');
    format!("{prefix}-{suffix}")
}

// The Workflow, as far as play writes it.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Workflow {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    generate_name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    entrypoint: &'static str,
    service_account_name: String,
    parallelism: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_strategy: Option<TtlStrategy>,
    #[serde(rename = "podGC")]
    pod_gc: PodGc,
    security_context: PodSecurityContext,
    templates: Vec<Template>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Template {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Inputs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_strategy: Option<RetryStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dag: Option<Dag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<Resource>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dag {
    /// `false`: a failed task does not stop independent branches.
    fail_fast: bool,
    tasks: Vec<DagTask>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    action: &'static str,
    success_condition: &'static str,
    failure_condition: &'static str,
    manifest: String,
}

const ENTRYPOINT: &str = "play";
/// Inputs of the run templates.
const WORKFLOW_INPUT: &str = "workflow";

fn run_template(priority: Priority) -> String {
    format!("run-{}", priority.as_str())
}

fn workflow(
    model: &Model,
    chain: &str,
    plan: &Plan,
    params: &[(String, String)],
    key: &str,
    options: &Options,
) -> Workflow {
    let play_label = format!("{LABEL_PREFIX}/play");
    let mut labels = model.project.labels.clone();
    labels.insert(format!("{LABEL_PREFIX}/chain"), chain.to_string());
    labels.insert(play_label, key.to_string());

    let names: BTreeMap<&str, &str> = plan
        .runs
        .iter()
        .map(|r| (r.id.as_str(), r.name.as_str()))
        .collect();
    let tasks: Vec<DagTask> = plan
        .runs
        .iter()
        .map(|run| DagTask {
            name: run.name.clone(),
            template: Some(run_template(run.effective)),
            dependencies: run
                .after
                .iter()
                .map(|id| names[id.as_str()].to_string())
                .collect(),
            arguments: Some(StepArguments(
                [
                    (TASK_ID.into(), run.id.as_str().into()),
                    (
                        WORKFLOW_INPUT.into(),
                        run_name(chain, &plan.tag, &run.id, key).into(),
                    ),
                ]
                .into(),
            )),
            ..DagTask::default()
        })
        .collect();

    let mut templates = vec![Template {
        name: ENTRYPOINT.to_string(),
        inputs: None,
        retry_strategy: None,
        dag: Some(Dag {
            fail_fast: false,
            tasks,
        }),
        resource: None,
    }];
    let mut levels: Vec<Priority> = plan.runs.iter().map(|r| r.effective).collect();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    for level in levels {
        templates.push(run_template_for(model, chain, params, key, level));
    }

    let mut annotations = BTreeMap::new();
    annotations.insert(
        "workflows.argoproj.io/description".to_string(),
        format!(
            "Press play on backlog tag `{}`: {} of {} tasks, each a run of chain `{chain}`.",
            plan.tag,
            plan.runs.len(),
            plan.total
        ),
    );
    Workflow {
        api_version: "argoproj.io/v1alpha1",
        kind: "Workflow",
        metadata: Metadata {
            generate_name: format!(
                "{}-",
                dns(&format!("{}-play-{}", model.project.name, plan.tag))
                    .chars()
                    .take(52)
                    .collect::<String>()
                    .trim_end_matches('-')
            ),
            namespace: model.project.namespace.clone(),
            labels,
            annotations,
        },
        spec: Spec {
            entrypoint: ENTRYPOINT,
            service_account_name: options
                .service_account
                .clone()
                .unwrap_or_else(|| model.play_service_account()),
            parallelism: options.max_parallel.unwrap_or(DEFAULT_PARALLELISM),
            ttl_strategy: ttl_strategy(model),
            pod_gc: PodGc {
                strategy: crate::lower::pod::pod_gc_name(model.runtime.pod_gc),
            },
            security_context: crate::lower::pod::pod_security(model),
            templates,
        },
    }
}

fn ttl_strategy(model: &Model) -> Option<TtlStrategy> {
    let ttl = &model.runtime.ttl;
    (ttl.after_completion.is_some() || ttl.after_success.is_some() || ttl.after_failure.is_some())
        .then_some(TtlStrategy {
            seconds_after_completion: ttl.after_completion,
            seconds_after_success: ttl.after_success,
            seconds_after_failure: ttl.after_failure,
        })
}

/// The template that applies the run of one task at `priority` and waits
/// for it.
fn run_template_for(
    model: &Model,
    chain: &str,
    params: &[(String, String)],
    key: &str,
    priority: Priority,
) -> Template {
    Template {
        name: run_template(priority),
        inputs: Some(Inputs {
            parameters: vec![
                Parameter {
                    description: Some("The backlog task this run is for.".into()),
                    ..Parameter::named(TASK_ID)
                },
                Parameter {
                    description: Some(
                        "Name of the run's Workflow: the same for the same task, so a second play joins the run instead of starting another."
                            .into(),
                    ),
                    ..Parameter::named(WORKFLOW_INPUT)
                },
            ],
        }),
        // Two plays racing to start one run: the second apply fails and
        // is retried, and then joins the run.
        retry_strategy: Some(RetryStrategy {
            limit: IntOrString::Int(3),
            retry_policy: "Always",
            backoff: Some(Backoff {
                duration: "10s".to_string(),
                factor: 2,
                max_duration: Some("2m".to_string()),
            }),
        }),
        dag: None,
        resource: Some(Resource {
            action: "apply",
            success_condition: "status.phase == Succeeded",
            failure_condition: "status.phase in (Failed, Error)",
            manifest: run_manifest(model, chain, params, key, priority),
        }),
    }
}

/// The Workflow a run template applies: the chain's `WorkflowTemplate` with
/// the task id and the parameters. Only the task id and the run's name are
/// substituted by Argo; both are checked to be plain tokens. Every other
/// value is written here, quoted by orchctl's YAML writer.
fn run_manifest(
    model: &Model,
    chain: &str,
    params: &[(String, String)],
    key: &str,
    priority: Priority,
) -> String {
    let mut labels = serde_json::Map::new();
    for (k, v) in &model.project.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert(format!("{LABEL_PREFIX}/chain"), json!(chain));
    labels.insert(format!("{LABEL_PREFIX}/play"), json!(key));
    labels.insert(
        format!("{LABEL_PREFIX}/task-id"),
        json!(format!("{{{{inputs.parameters.{TASK_ID}}}}}")),
    );
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    // The chain's parameter order, with taskId where the chain has it.
    let at = model.chains[chain]
        .params
        .iter()
        .position(|p| p == TASK_ID)
        .unwrap_or(0)
        .min(parameters.len());
    parameters.insert(
        at,
        json!({"name": TASK_ID, "value": format!("{{{{inputs.parameters.{TASK_ID}}}}}")}),
    );
    let manifest = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": format!("{{{{inputs.parameters.{WORKFLOW_INPUT}}}}}"),
            "namespace": model.project.namespace,
            "labels": labels,
        },
        "spec": {
            "workflowTemplateRef": {"name": chain},
            "priority": priority.weight(),
            "arguments": {"parameters": parameters},
        },
    });
    crate::emit::to_yaml(&manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_stable_and_short() {
        let a = run_name("delivery", "master", "12", "0123abcd");
        assert_eq!(a, run_name("delivery", "master", "12", "0123abcd"));
        assert!(a.starts_with("delivery-master-12-"), "{a}");
        assert_ne!(a, run_name("delivery", "master", "13", "0123abcd"));
        assert_ne!(a, run_name("delivery", "master", "12", "0123abce"));
        let long = run_name(&"x".repeat(80), "Feature_Branch", "1.2", "k");
        assert!(
            long.len() <= 63 && crate::check::is_dns_label(&long),
            "{long}"
        );
    }

    #[test]
    fn hashes_separate_parts() {
        assert_eq!(hash(&["a", "b"]), hash(&["a", "b"]));
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_eq!(hash(&[]).len(), 8);
    }
}
