//! Pod pieces shared by the agent step and container steps: hardened
//! security contexts, resources by tier, scratch volumes, retry strategies.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, EnvVar, PodSecurityContext, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::argo::{Backoff, IntOrString, Outputs, Parameter, RetryStrategy, ValueFrom};
use crate::model::{Model, Retry};
use crate::spec::{RetryPolicy, Tier};

/// Where orchctl's scratch volume is mounted in every container.
pub const RUN_DIR: &str = "/var/run/orchctl";
/// Where containers write output parameters (one file per output).
pub const OUTPUTS_DIR: &str = "/var/run/orchctl/outputs";
/// Name of the workspace volume every chain provides.
pub const WORKSPACE: &str = "workspace";

pub fn container_security(model: &Model) -> SecurityContext {
    let s = &model.runtime.security;
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        read_only_root_filesystem: Some(s.read_only_root_filesystem),
        run_as_non_root: Some(true),
        run_as_user: Some(s.run_as_user),
        run_as_group: Some(s.run_as_group),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

pub fn pod_security(model: &Model) -> PodSecurityContext {
    let s = &model.runtime.security;
    PodSecurityContext {
        fs_group: Some(s.fs_group.unwrap_or(s.run_as_group)),
        run_as_group: Some(s.run_as_group),
        run_as_non_root: Some(true),
        run_as_user: Some(s.run_as_user),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        ..SeccompProfile::default()
    }
}

pub fn resources(tier: &Tier) -> ResourceRequirements {
    let list = |r: &crate::spec::Resources| {
        let mut m = BTreeMap::new();
        m.insert("cpu".to_string(), Quantity(r.cpu.clone()));
        m.insert("memory".to_string(), Quantity(r.memory.clone()));
        if let Some(e) = &r.ephemeral_storage {
            m.insert("ephemeral-storage".to_string(), Quantity(e.clone()));
        }
        m
    };
    ResourceRequirements {
        limits: Some(list(&tier.limits)),
        requests: Some(list(&tier.requests)),
        ..ResourceRequirements::default()
    }
}

/// `/tmp` and orchctl's run directory: writable scratch space on a
/// read-only root filesystem.
pub fn scratch_volumes() -> Vec<Volume> {
    ["tmp", "orchctl-run"]
        .into_iter()
        .map(|name| Volume {
            name: name.to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        })
        .collect()
}

pub fn scratch_mounts() -> Vec<VolumeMount> {
    vec![
        mount("tmp", "/tmp", false),
        mount("orchctl-run", RUN_DIR, false),
    ]
}

pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// Argo's name of a pod GC strategy.
#[must_use]
pub fn pod_gc_name(strategy: crate::spec::PodGcStrategy) -> &'static str {
    use crate::spec::PodGcStrategy as S;
    match strategy {
        S::OnPodCompletion => "OnPodCompletion",
        S::OnPodSuccess => "OnPodSuccess",
        S::OnWorkflowCompletion => "OnWorkflowCompletion",
        S::OnWorkflowSuccess => "OnWorkflowSuccess",
    }
}

pub fn retry_strategy(retry: &Retry, limit: IntOrString) -> RetryStrategy {
    RetryStrategy {
        limit,
        retry_policy: match retry.policy {
            RetryPolicy::OnFailure => "OnFailure",
            RetryPolicy::OnError => "OnError",
            RetryPolicy::OnTransientError => "OnTransientError",
            RetryPolicy::Always => "Always",
        },
        backoff: retry.backoff.as_ref().map(|b| Backoff {
            duration: b.duration.clone(),
            factor: b.factor,
            max_duration: b.max_duration.clone(),
        }),
    }
}

/// Output parameters read from `$ORCHCTL_OUTPUTS/<name>`, empty when a step
/// writes none.
pub fn output_parameters(names: &[String]) -> Option<Outputs> {
    (!names.is_empty()).then(|| Outputs {
        parameters: names
            .iter()
            .map(|o| Parameter {
                value_from: Some(ValueFrom {
                    path: Some(format!("{OUTPUTS_DIR}/{o}")),
                    default: Some(String::new()),
                    ..ValueFrom::default()
                }),
                ..Parameter::named(o)
            })
            .collect(),
    })
}
