//! Serde structs for the Argo kinds orchctl writes — only the fields it
//! emits. Core Kubernetes shapes (containers, volumes, metadata, RBAC) come
//! from `k8s-openapi`.
//!
//! Field order here is the order fields appear in the generated YAML.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, PodSecurityContext, Volume};
use serde::Serialize;

/// Most tasks one DAG may hold under Argo Workflows 4 installed with its full
/// CRDs (the minimal CRDs and 3.7 have no such limit).
pub const MAX_DAG_TASKS: usize = 200;

/// Any Kubernetes object: `apiVersion`, `kind`, `metadata`, then the body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest<T: Serialize> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Meta,
    #[serde(flatten)]
    pub body: T,
}

/// Object metadata, in the order reviewers read it: name and namespace first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Meta {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The body of a WorkflowTemplate.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowTemplateBody {
    pub spec: WorkflowSpec,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<TtlStrategy>,
    #[serde(rename = "podGC", skip_serializing_if = "Option::is_none")]
    pub pod_gc: Option<PodGc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronization: Option<Synchronization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_metadata: Option<WorkflowMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<PersistentVolumeClaim>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_exit: Option<String>,
    pub templates: Vec<Template>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronization: Option<Synchronization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_strategy: Option<RetryStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dag: Option<Dag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<Suspend>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// An integer, or a string holding an Argo expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(u64),
    String(String),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Inputs {
    pub parameters: Vec<Parameter>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Outputs {
    pub parameters: Vec<Parameter>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Arguments {
    pub parameters: Vec<Parameter>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

impl Parameter {
    #[must_use]
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::named(name)
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueFrom {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplied: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// `{}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowMetadata {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels_from: BTreeMap<String, LabelValueFrom>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelValueFrom {
    pub expression: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TtlStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_completion: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_success: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_failure: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PodGc {
    pub strategy: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Synchronization {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub semaphores: Vec<SemaphoreRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutexes: Vec<MutexRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SemaphoreRef {
    pub config_map_key_ref: ConfigMapKeyRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigMapKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MutexRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryStrategy {
    pub limit: IntOrString,
    pub retry_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    pub duration: String,
    pub factor: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dag {
    pub tasks: Vec<DagTask>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DagTask {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<TemplateRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continue_on: Option<ContinueOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<StepArguments>,
}

/// A DAG task's arguments, `(parameter, value)` in order, written as
/// `parameters: [{name, value}]` like [`Arguments`]. Shared with the step
/// they come from rather than copied: a platform of a thousand chains passes
/// about fifty thousand.
#[derive(Debug, Clone)]
pub struct StepArguments(pub Arc<[Argument]>);

/// An argument's name and value. Shared, not copied: most steps pass the
/// same names, and the same references to parameters, as many others.
pub type Argument = (Arc<str>, Arc<str>);

impl Serialize for StepArguments {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Parameters<'a>(&'a [Argument]);
        impl Serialize for Parameters<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|(name, value)| Named { name, value }))
            }
        }
        #[derive(Serialize)]
        struct Named<'a> {
            name: &'a str,
            value: &'a str,
        }
        let mut arguments = serializer.serialize_struct("Arguments", 1)?;
        arguments.serialize_field("parameters", &Parameters(&self.0))?;
        arguments.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateRef {
    pub name: String,
    pub template: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContinueOn {
    pub failed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Suspend {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    pub prometheus: Vec<Prometheus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prometheus {
    pub name: String,
    pub help: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<MetricLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter: Option<Counter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricLabel {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counter {
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub value: String,
    pub buckets: Vec<f64>,
}
