//! One WorkflowTemplate per chain: the DAG, its local templates (container
//! steps, approval gates, the exit handler) and the workflow-level settings
//! (arguments, synchronization, deadline, TTL, pod GC, workspace).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    Volume, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::pod::{self, OUTPUTS_DIR, WORKSPACE};
use super::{Object, kebab, label_expression, metadata, sources};
use crate::argo::{
    Arguments, ConfigMapKeyRef, ContinueOn, Dag, DagTask, Empty, Inputs, IntOrString,
    LabelValueFrom, Manifest, MutexRef, Outputs, Parameter, PodGc, SemaphoreRef, StepArguments,
    Suspend, Synchronization, Template, TemplateRef, TtlStrategy, ValueFrom, WorkflowMetadata,
    WorkflowSpec, WorkflowTemplateBody,
};
use crate::check::go_duration;
use crate::model::{Chain, LABEL_PREFIX, Lock, Model, Step, StepKind};
use crate::spec::Scope;

pub fn chain(model: &Model, chain: &Chain) -> Object {
    let mut meta = metadata(model, &chain.name, &[("chain", &chain.name)]);
    if let Some(d) = &chain.description {
        meta.annotations =
            BTreeMap::from([("workflows.argoproj.io/description".to_string(), d.clone())]);
    }
    let mut templates = vec![Template {
        name: chain.name.clone(),
        inputs: (!chain.params.is_empty()).then(|| Inputs {
            parameters: chain.params.iter().map(Parameter::named).collect(),
        }),
        dag: Some(Dag {
            tasks: chain.steps.iter().map(|s| task(model, s)).collect(),
        }),
        ..Template::default()
    }];
    for step in &chain.steps {
        templates.extend(local_template(model, step));
    }
    let on_exit = chain.on_exit.as_ref().map(|step| {
        templates.push(Template {
            name: "exit-handler".to_string(),
            dag: Some(Dag {
                tasks: vec![task(model, step)],
            }),
            ..Template::default()
        });
        templates.extend(local_template(model, step));
        "exit-handler".to_string()
    });

    let arguments = (!chain.params.is_empty()).then(|| Arguments {
        parameters: chain
            .params
            .iter()
            .filter_map(|name| model.param(name))
            .map(|p| Parameter {
                value: p.default.clone(),
                allowed: p.allowed.clone(),
                description: p.description.clone(),
                ..Parameter::named(&p.name)
            })
            .collect(),
    });

    let mut labels = model.project.labels.clone();
    labels.insert(format!("{LABEL_PREFIX}/chain"), chain.name.clone());
    let mut labels_from = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    for p in model
        .runtime
        .correlation
        .iter()
        .filter(|p| chain.params.contains(p))
    {
        let key = format!("{LABEL_PREFIX}/{}", kebab(p));
        labels_from.insert(
            key.clone(),
            LabelValueFrom {
                expression: label_expression(&super::expr_param("workflow.parameters", p)),
            },
        );
        annotations.insert(key, format!("{{{{workflow.parameters.{p}}}}}"));
    }

    let ws = &model.runtime.workspace;
    let (claims, volumes) = if let Some(claim) = &ws.claim {
        (
            Vec::new(),
            vec![Volume {
                name: WORKSPACE.to_string(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    ..PersistentVolumeClaimVolumeSource::default()
                }),
                ..Volume::default()
            }],
        )
    } else {
        (
            vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(WORKSPACE.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_string(),
                            Quantity(ws.size.clone().unwrap_or_default()),
                        )])),
                        ..VolumeResourceRequirements::default()
                    }),
                    storage_class_name: ws.storage_class.clone(),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }],
            Vec::new(),
        )
    };

    let spec = WorkflowSpec {
        entrypoint: Some(chain.name.clone()),
        service_account_name: Some(model.runtime.service_account.clone()),
        arguments,
        active_deadline_seconds: Some(chain.deadline),
        parallelism: chain.parallelism,
        ttl_strategy: ttl(&chain.ttl),
        pod_gc: Some(PodGc {
            strategy: pod::pod_gc_name(chain.pod_gc),
        }),
        synchronization: synchronization(model, &chain.locks, "workflow.parameters"),
        workflow_metadata: Some(WorkflowMetadata {
            labels,
            annotations,
            labels_from,
        }),
        security_context: Some(pod::pod_security(model)),
        volume_claim_templates: claims,
        volumes,
        on_exit,
        templates,
    };
    let manifest = Manifest {
        api_version: "argoproj.io/v1alpha1",
        kind: "WorkflowTemplate",
        metadata: meta,
        body: WorkflowTemplateBody { spec },
    };
    Object::new(
        format!("workflowtemplates/{}.yaml", chain.name),
        sources([chain.file.as_str()]),
        manifest,
    )
}

fn ttl(ttl: &crate::model::Ttl) -> Option<TtlStrategy> {
    let t = TtlStrategy {
        seconds_after_completion: ttl.after_completion,
        seconds_after_success: ttl.after_success,
        seconds_after_failure: ttl.after_failure,
    };
    (t.seconds_after_completion.is_some()
        || t.seconds_after_success.is_some()
        || t.seconds_after_failure.is_some())
    .then_some(t)
}

fn task(model: &Model, step: &Step) -> DagTask {
    let (template, template_ref) = match &step.kind {
        StepKind::Agent { tier } => (
            None,
            Some(TemplateRef {
                name: "agent-step".to_string(),
                template: model.agent_step_template(tier),
            }),
        ),
        StepKind::Chain { chain } => (
            None,
            Some(TemplateRef {
                name: chain.clone(),
                template: chain.clone(),
            }),
        ),
        StepKind::Container(_) | StepKind::Approval(_) => (Some(local_name(step)), None),
    };
    DagTask {
        name: step.name.clone(),
        template,
        template_ref,
        dependencies: step.deps.clone(),
        when: step.when.clone(),
        continue_on: step
            .continue_on_failure
            .then_some(ContinueOn { failed: true }),
        arguments: (!step.args.is_empty()).then(|| StepArguments(step.args.clone())),
    }
}

fn local_name(step: &Step) -> String {
    format!("step-{}", step.name)
}

fn local_template(model: &Model, step: &Step) -> Option<Template> {
    match &step.kind {
        StepKind::Container(c) => {
            let inputs: Vec<Parameter> = c
                .env
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| Parameter::named(k))
                .collect();
            let env = c
                .env
                .iter()
                .map(|(k, v)| match v {
                    Some(literal) => pod::env(k, literal.clone()),
                    None => pod::env(k, format!("{{{{inputs.parameters.{k}}}}}")),
                })
                .chain(std::iter::once(pod::env("ORCHCTL_OUTPUTS", OUTPUTS_DIR)))
                .collect();
            let mut mounts = pod::scratch_mounts();
            if c.workspace {
                mounts.insert(
                    0,
                    pod::mount(WORKSPACE, &model.runtime.workspace.mount_path, false),
                );
            }
            let retry = step.retry.as_ref().unwrap_or(&model.runtime.retry);
            Some(Template {
                name: local_name(step),
                inputs: (!inputs.is_empty()).then_some(Inputs { parameters: inputs }),
                outputs: pod::output_parameters(&c.outputs),
                active_deadline_seconds: Some(IntOrString::Int(
                    step.timeout.unwrap_or(model.runtime.step_timeout),
                )),
                retry_strategy: Some(pod::retry_strategy(
                    retry,
                    IntOrString::Int(retry.limit.into()),
                )),
                security_context: Some(pod::pod_security(model)),
                container: Some(Container {
                    name: "main".to_string(),
                    args: (!c.args.is_empty()).then(|| c.args.clone()),
                    command: (!c.command.is_empty()).then(|| c.command.clone()),
                    env: Some(env),
                    image: Some(c.image.clone()),
                    resources: Some(pod::resources(&model.runtime.tiers[&c.tier])),
                    security_context: Some(pod::container_security(model)),
                    volume_mounts: Some(mounts),
                    working_dir: c
                        .workspace
                        .then(|| model.runtime.workspace.mount_path.clone()),
                    ..Container::default()
                }),
                volumes: pod::scratch_volumes(),
                ..Template::default()
            })
        }
        StepKind::Approval(a) => Some(Template {
            name: local_name(step),
            inputs: a.description.as_ref().map(|d| Inputs {
                parameters: vec![Parameter::value("question", d)],
            }),
            outputs: a.guards().then(|| Outputs {
                parameters: vec![Parameter {
                    description: Some("Set to true when resuming to approve.".into()),
                    value_from: Some(ValueFrom {
                        supplied: Some(Empty {}),
                        default: Some("false".into()),
                        ..ValueFrom::default()
                    }),
                    ..Parameter::named("approved")
                }],
            }),
            suspend: Some(Suspend {
                duration: a.timeout.map(go_duration),
            }),
            ..Template::default()
        }),
        StepKind::Agent { .. } | StepKind::Chain { .. } => None,
    }
}

/// `synchronization` for `locks`; parameters are read from `scope`
/// (`workflow.parameters` or `inputs.parameters`).
pub fn synchronization(model: &Model, locks: &[Lock], scope: &str) -> Option<Synchronization> {
    if locks.is_empty() {
        return None;
    }
    let mut sync = Synchronization::default();
    for lock in locks {
        match lock {
            Lock::Semaphore(name) => {
                let s = &model.semaphores[name];
                let key = match s.per {
                    Scope::Global => name.clone(),
                    Scope::Repository => format!(
                        "{name}.{{{{=sprig.replace(\"/\", \".\", {})}}}}",
                        super::expr_param(scope, "repository")
                    ),
                    Scope::Organization => format!(
                        "{name}.{{{{=sprig.regexReplaceAll(\"/.*$\", {}, \"\")}}}}",
                        super::expr_param(scope, "repository")
                    ),
                };
                sync.semaphores.push(SemaphoreRef {
                    config_map_key_ref: ConfigMapKeyRef {
                        name: model.semaphore_config_map.clone(),
                        key,
                    },
                });
            }
            Lock::Mutex(name) => {
                let m = &model.mutexes[name];
                let lock_name = match &m.per {
                    None => name.clone(),
                    Some(p) => format!(
                        "{name}-{{{{=sprig.replace(\"/\", \".\", {})}}}}",
                        super::expr_param(scope, p)
                    ),
                };
                sync.mutexes.push(MutexRef { name: lock_name });
            }
        }
    }
    Some(sync)
}
