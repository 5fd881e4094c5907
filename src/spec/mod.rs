//! The input format: what a platform team writes under `pipelines/`.
//!
//! Plain serde + schemars types with no logic. Every struct denies unknown
//! fields. A spec may be split over any number of files; each file holds any
//! of the top-level sections and [`crate::load`] merges them. The JSON Schema
//! in `schemas/` is generated from these types.

mod agent;
mod apps;
mod chain;
mod concurrency;
mod events;
mod parameter;
mod project;
mod runtime;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use agent::{Agent, Gate};
pub use apps::{
    AppProject, Apps, Branches, Directory, Helm, Kustomize, Platform, Preview, PullRequests,
    Service, Source, Sync,
};
pub use chain::{Approval, Chain, ContainerStep, OnTimeout, Step};
pub use concurrency::{Concurrency, Mutex, Scope, Semaphore};
pub use events::{
    AuthorAssociation, Bots, CommentOn, Conditions, EventBus, Events, GitHubSource, RateLimit,
    RatePeriod, Route, Webhook,
};
pub use parameter::{ParamType, ParamValue, Parameter};
pub use project::Project;
pub use runtime::{
    Backoff, GitHubApp, GitHubAuth, PodGcStrategy, Resources, Retry, RetryPolicy, Runtime,
    RuntimeDefaults, SecretKey, SecurityDefaults, Telemetry, Tier, Ttl, Workspace,
};

/// One spec file, or the merge of all of them.
///
/// ```yaml
/// # yaml-language-server: $schema=../schemas/orchctl.schema.json
/// project: { name: cto, namespace: agents }
/// images: { agent: ghcr.io/5dlabs/agent:1.0.0 }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "orchctl pipeline spec")]
pub struct Spec {
    /// The project: its name, namespace and common labels. Exactly one file
    /// declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
    /// Every container image the spec uses, declared once by name
    /// (`NAME: registry/repo:tag[@sha256:…]`). `orchctl set-image NAME=…`
    /// bumps them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// The shared agent runtime: image, resources, workspace, security,
    /// credentials, telemetry and defaults. Exactly one file declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Variables available to prompt templates as `vars.NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// The workflow parameters, in order: the seed set is `repository`,
    /// `branch`, `workingDirectory`, `taskId`, `prompt_mod`, `prNumber`,
    /// `ciJobName` (plus `agent` and `model` for single-agent chains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Agent profiles by name: system prompt, model, tools, gates, tier.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, Agent>,
    /// Chains by name: DAGs of steps, each compiled to a WorkflowTemplate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chains: BTreeMap<String, Chain>,
    /// Semaphores and mutexes that chains and the agent step reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// GitHub events and the routes that start chains from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Events>,
    /// Argo CD applications, the app-of-apps and preview environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<Apps>,
}

/// The top-level sections, in the order the loader reads them.
pub const SECTIONS: &[&str] = &[
    "project",
    "images",
    "runtime",
    "vars",
    "parameters",
    "agents",
    "chains",
    "concurrency",
    "events",
    "apps",
];
