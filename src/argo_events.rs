//! Serde structs for the Argo Events kinds orchctl writes — only the fields
//! it emits.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::argo::{Arguments, Meta};

#[derive(Debug, Clone, Serialize)]
pub struct EventSourceBody {
    pub spec: EventSourceSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSourceSpec {
    pub event_bus_name: String,
    pub service: Service,
    pub github: BTreeMap<String, GithubEventSource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub port: u16,
    pub target_port: u16,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubEventSource {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<OwnedRepositories>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    pub webhook: WebhookContext,
    pub events: Vec<String>,
    pub webhook_secret: SecretKeySelector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<SecretKeySelector>,
    pub content_type: &'static str,
    pub active: bool,
    pub insecure: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnedRepositories {
    pub owner: String,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookContext {
    pub endpoint: String,
    pub port: String,
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventBusBody {
    pub spec: EventBusSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventBusSpec {
    pub jetstream: JetStream,
}

#[derive(Debug, Clone, Serialize)]
pub struct JetStream {
    pub version: String,
    pub replicas: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct SensorBody {
    pub spec: SensorSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorSpec {
    pub event_bus_name: String,
    pub template: SensorTemplate,
    pub dependencies: Vec<EventDependency>,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorTemplate {
    pub service_account_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDependency {
    pub name: String,
    pub event_source_name: String,
    pub event_name: String,
    pub filters: EventDependencyFilter,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDependencyFilter {
    pub data_logical_operator: &'static str,
    pub data: Vec<DataFilter>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataFilter {
    pub path: String,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub value: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparator: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub template: TriggerTemplate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    pub retry_strategy: Backoff,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerTemplate {
    pub name: String,
    pub argo_workflow: ArgoWorkflowTrigger,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArgoWorkflowTrigger {
    pub operation: &'static str,
    pub source: ArtifactLocation,
    pub parameters: Vec<TriggerParameter>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactLocation {
    pub resource: WorkflowResource,
}

/// The Workflow a trigger submits.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowResource {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Meta,
    pub spec: WorkflowRefSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRefSpec {
    pub workflow_template_ref: WorkflowTemplateRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkflowTemplateRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriggerParameter {
    pub src: TriggerParameterSource,
    pub dest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerParameterSource {
    pub dependency_name: String,
    pub data_key: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub unit: &'static str,
    pub requests_per_unit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backoff {
    pub steps: u32,
    pub duration: String,
    pub factor: f64,
}
