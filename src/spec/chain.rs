use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{PodGcStrategy, Retry, Ttl};

/// A chain: a DAG of steps, compiled to one WorkflowTemplate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Chain {
    /// What the chain does; shown in the Argo UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The steps. Without `after`, a step starts at once; steps that share an
    /// `after` run in parallel (fan-out), a step after several waits for all
    /// (fan-in).
    pub steps: Vec<Step>,
    /// Semaphores and mutexes (names under `concurrency`) a run holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concurrency: Vec<String>,
    /// Deadline of a whole run (default `runtime.defaults.chainDeadline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// How long finished runs are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
    /// When pods are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_gc: Option<PodGcStrategy>,
    /// Most steps running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// A step run when the chain ends, whatever its outcome (exit handler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit: Option<Box<Step>>,
}

/// One step: exactly one of `agent`, `container`, `approval` or `chain`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// Step name (a DNS-1123 label), unique in the chain.
    pub name: String,
    /// Steps that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Run only if this condition holds, e.g.
    /// `${steps.tests.outputs.result} == passed` or `${params.deploy} == true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Run an agent: its name, or `${params.agent}` to choose per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Run a plain container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerStep>,
    /// Wait for a human approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Run another chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Parameter values for this step: literals or `${params.NAME}` /
    /// `${steps.STEP.outputs.NAME}` references.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub with: BTreeMap<String, String>,
    /// Retry policy (default `runtime.defaults.retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Deadline of this step (default `runtime.defaults.stepTimeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Let dependent steps run even if this one fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_failure: bool,
}

/// A plain container step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerStep {
    /// The image, by its name under `images`.
    pub image: String,
    /// Entrypoint. Literal strings only: values reach the container through `env`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments. Literal strings only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment: literals or `${…}` references.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Resource tier (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Output parameters, read from `$ORCHCTL_OUTPUTS/<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Mount the chain's workspace.
    #[serde(default = "yes")]
    pub workspace: bool,
}

fn yes() -> bool {
    true
}

/// A human approval gate (an Argo suspend node).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Approval {
    /// What the approver is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How long to wait. Without it the gate waits until resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// What a timeout means (default `reject`).
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

/// What happens when an approval times out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// The steps after the gate are skipped unless an approver set
    /// `approved=true` when resuming.
    #[default]
    Reject,
    /// The chain goes on.
    Approve,
}
