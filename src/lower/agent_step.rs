//! WorkflowTemplate `agent-step`: the one reusable container step every agent
//! runs in.
//!
//! Parameters reach the container only as environment variables. A fixed
//! shell prologue (which contains no parameter) composes the run's prompt —
//! `prompt_mod`, then the task prompt — and execs the runtime's command.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, KeyToPath, SecretKeySelector,
    SecretVolumeSource, Volume,
};

use super::pod::{self, OUTPUTS_DIR, RUN_DIR, WORKSPACE};
use super::{Object, env_name, kebab, label_expression, metadata, sources};
use crate::argo::{
    Counter, Histogram, Inputs, IntOrString, Manifest, Metadata, MetricLabel, Metrics, Parameter,
    Prometheus, Template, WorkflowSpec, WorkflowTemplateBody,
};
use crate::lower::configmap::AGENTS_CONFIG_MAP;
use crate::model::{AGENT, LABEL_PREFIX, MODEL, Model, RETRIES, STEP, TIMEOUT};

/// Where the agents ConfigMap is mounted.
pub const AGENTS_DIR: &str = "/etc/orchctl/agents";
/// Where the GitHub App private key is mounted.
pub const GITHUB_APP_DIR: &str = "/var/run/secrets/orchctl/github-app";

/// The prologue: composes `$ORCHCTL_PROMPT` from `$PROMPT_MOD` and the task
/// prompt, then runs the agent. It reads parameters from the environment only.
const PROLOGUE: &str = r#"set -eu
mkdir -p "$ORCHCTL_OUTPUTS"
ORCHCTL_PROMPT="$ORCHCTL_RUN_DIR/prompt.md"
: > "$ORCHCTL_PROMPT"
if [ -n "${PROMPT_MOD:-}" ]; then printf '%s\n\n' "$PROMPT_MOD" >> "$ORCHCTL_PROMPT"; fi
if [ -f "$ORCHCTL_TASK_PROMPT" ]; then cat "$ORCHCTL_TASK_PROMPT" >> "$ORCHCTL_PROMPT"; else echo "orchctl: no task prompt at $ORCHCTL_TASK_PROMPT" >&2; fi
export ORCHCTL_PROMPT
exec "$@"
"#;

pub fn agent_step(model: &Model) -> Object {
    let name = "agent-step";
    let mut meta = metadata(model, name, &[("component", "agent-step")]);
    meta.annotations = BTreeMap::from([(
        "workflows.argoproj.io/description".to_string(),
        "The reusable agent container step: one template per resource tier, referenced by every chain."
            .to_string(),
    )]);
    let templates = model
        .runtime
        .tiers
        .keys()
        .map(|tier| template(model, tier))
        .collect();
    let manifest = Manifest {
        api_version: "argoproj.io/v1alpha1",
        kind: "WorkflowTemplate",
        metadata: meta,
        body: WorkflowTemplateBody {
            spec: WorkflowSpec {
                templates,
                ..WorkflowSpec::default()
            },
        },
    };
    Object::new(
        format!("workflowtemplates/{name}.yaml"),
        sources([model.runtime.file.as_str()]),
        manifest,
    )
}

fn input(name: &str) -> String {
    format!("{{{{inputs.parameters.{name}}}}}")
}

fn template(model: &Model, tier: &str) -> Template {
    let rt = &model.runtime;
    let mut params = vec![
        Parameter {
            allowed: model.agents.keys().cloned().collect(),
            description: Some(
                "Agent profile; selects <agent>_system-prompt.md from the agents ConfigMap.".into(),
            ),
            ..Parameter::named(AGENT)
        },
        Parameter {
            description: Some("Model the agent uses.".into()),
            ..Parameter::named(MODEL)
        },
        Parameter {
            description: Some("Name of the chain step, for labels and metrics.".into()),
            ..Parameter::named(STEP)
        },
        Parameter {
            default: Some(rt.step_timeout.to_string()),
            description: Some("Deadline of the step, in seconds.".into()),
            ..Parameter::named(TIMEOUT)
        },
        Parameter {
            default: Some(rt.retry.limit.to_string()),
            description: Some("Retries after a failed attempt.".into()),
            ..Parameter::named(RETRIES)
        },
    ];
    for p in model.agent_step_inputs() {
        params.push(Parameter {
            default: p.default.clone(),
            allowed: p.allowed.clone(),
            description: p.description.clone(),
            ..Parameter::named(&p.name)
        });
    }

    let mut env = vec![
        pod::env("ORCHCTL_AGENT", input(AGENT)),
        pod::env("ORCHCTL_MODEL", input(MODEL)),
        pod::env("ORCHCTL_STEP", input(STEP)),
    ];
    for p in model.agent_step_inputs() {
        env.push(pod::env(&env_name(&p.name), input(&p.name)));
    }
    env.extend([
        pod::env("ORCHCTL_WORKFLOW", "{{workflow.name}}"),
        pod::env(
            "ORCHCTL_SYSTEM_PROMPT",
            format!("{AGENTS_DIR}/{}_system-prompt.md", input(AGENT)),
        ),
        pod::env(
            "ORCHCTL_AGENT_PROFILE",
            format!("{AGENTS_DIR}/{}_profile.json", input(AGENT)),
        ),
        pod::env(
            "ORCHCTL_TASK_PROMPT",
            format!(
                "{}/{}",
                rt.workspace.mount_path.trim_end_matches('/'),
                rt.task_prompt
            ),
        ),
        pod::env("ORCHCTL_RUN_DIR", RUN_DIR),
        pod::env("ORCHCTL_OUTPUTS", OUTPUTS_DIR),
        pod::env("ORCHCTL_WORKSPACE", rt.workspace.mount_path.clone()),
        secret_env("GITHUB_APP_ID", &rt.github.secret, &rt.github.app_id_key),
    ]);
    if let Some(key) = &rt.github.installation_id_key {
        env.push(secret_env(
            "GITHUB_APP_INSTALLATION_ID",
            &rt.github.secret,
            key,
        ));
    }
    env.push(pod::env(
        "GITHUB_APP_PRIVATE_KEY_PATH",
        format!("{GITHUB_APP_DIR}/private-key"),
    ));
    for (name, key) in &rt.secret_env {
        env.push(secret_env(name, &key.secret, &key.key));
    }
    for (name, value) in &rt.env {
        env.push(pod::env(name, value.clone()));
    }
    if let Some(t) = &rt.telemetry {
        let mut attrs: Vec<String> = t
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        attrs.push(format!("orchctl.project={}", model.project.name));
        attrs.push(format!("orchctl.agent={}", input(AGENT)));
        attrs.push(format!("orchctl.step={}", input(STEP)));
        attrs.push("argo.workflow={{workflow.name}}".to_string());
        env.extend([
            pod::env("OTEL_EXPORTER_OTLP_ENDPOINT", t.endpoint.clone()),
            pod::env("OTEL_SERVICE_NAME", t.service_name.clone()),
            pod::env("OTEL_RESOURCE_ATTRIBUTES", attrs.join(",")),
        ]);
    }

    let mut command = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        PROLOGUE.to_string(),
        "orchctl-agent-step".to_string(),
    ];
    command.extend(rt.command.iter().cloned());

    let mut mounts = vec![
        pod::mount("agents", AGENTS_DIR, true),
        pod::mount("github-app", GITHUB_APP_DIR, true),
        pod::mount(WORKSPACE, &rt.workspace.mount_path, false),
    ];
    mounts.extend(pod::scratch_mounts());

    let container = Container {
        name: "main".to_string(),
        command: Some(command),
        env: Some(env),
        image: Some(rt.image.clone()),
        resources: Some(pod::resources(&rt.tiers[tier])),
        security_context: Some(pod::container_security(model)),
        volume_mounts: Some(mounts),
        working_dir: Some(rt.workspace.mount_path.clone()),
        ..Container::default()
    };

    let mut volumes = vec![
        Volume {
            name: "agents".to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: AGENTS_CONFIG_MAP.to_string(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "github-app".to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(rt.github.secret.clone()),
                default_mode: Some(0o440),
                items: Some(vec![KeyToPath {
                    key: rt.github.private_key_key.clone(),
                    path: "private-key".to_string(),
                    ..KeyToPath::default()
                }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    volumes.extend(pod::scratch_volumes());

    let outputs = pod::output_parameters(&rt.outputs);

    let mut labels = BTreeMap::from([
        (format!("{LABEL_PREFIX}/agent"), input(AGENT)),
        (format!("{LABEL_PREFIX}/step"), input(STEP)),
    ]);
    let mut annotations = BTreeMap::new();
    for p in &rt.correlation {
        if p == AGENT || p == MODEL {
            continue;
        }
        let key = format!("{LABEL_PREFIX}/{}", kebab(p));
        labels.insert(
            key.clone(),
            format!(
                "{{{{={}}}}}",
                label_expression(&super::expr_param("inputs.parameters", p))
            ),
        );
        annotations.insert(key, input(p));
    }

    Template {
        name: model.agent_step_template(tier),
        inputs: Some(Inputs { parameters: params }),
        outputs,
        metadata: Some(Metadata {
            labels,
            annotations,
        }),
        synchronization: super::chain::synchronization(model, &rt.locks, "inputs.parameters"),
        active_deadline_seconds: Some(IntOrString::String(input(TIMEOUT))),
        retry_strategy: Some(pod::retry_strategy(
            &rt.retry,
            IntOrString::String(input(RETRIES)),
        )),
        security_context: Some(pod::pod_security(model)),
        container: Some(container),
        volumes,
        metrics: Some(metrics(model)),
        ..Template::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                ..SecretKeySelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn metrics(model: &Model) -> Metrics {
    let labels = || {
        vec![
            MetricLabel {
                key: "project".into(),
                value: model.project.name.clone(),
            },
            MetricLabel {
                key: "agent".into(),
                value: input(AGENT),
            },
            MetricLabel {
                key: "step".into(),
                value: input(STEP),
            },
        ]
    };
    Metrics {
        prometheus: vec![
            Prometheus {
                name: "orchctl_agent_step_succeeded_total".into(),
                help: "Agent steps that succeeded, by project, agent and step.".into(),
                labels: labels(),
                when: Some("{{status}} == Succeeded".into()),
                counter: Some(Counter { value: "1".into() }),
                histogram: None,
            },
            Prometheus {
                name: "orchctl_agent_step_failed_total".into(),
                help: "Agent steps that failed or errored, by project, agent and step.".into(),
                labels: labels(),
                when: Some("{{status}} != Succeeded".into()),
                counter: Some(Counter { value: "1".into() }),
                histogram: None,
            },
            Prometheus {
                name: "orchctl_agent_step_duration_seconds".into(),
                help: "Duration of agent steps in seconds, by project, agent and step.".into(),
                labels: labels(),
                when: None,
                counter: None,
                histogram: Some(Histogram {
                    value: "{{duration}}".into(),
                    buckets: vec![
                        30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
                    ],
                }),
            },
        ],
    }
}
