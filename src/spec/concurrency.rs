use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Concurrency limits, compiled to Argo `synchronization` and the semaphore
/// ConfigMap that holds the limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Concurrency {
    /// Name of the ConfigMap holding semaphore limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    /// Semaphores by name: at most `limit` holders at once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub semaphores: BTreeMap<String, Semaphore>,
    /// Mutexes by name: one holder at a time per value of a parameter.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mutexes: BTreeMap<String, Mutex>,
}

/// A counting semaphore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Semaphore {
    /// How many may hold it at once (per repository / organization when scoped).
    pub limit: u32,
    /// One limit for everything, or one per repository / organization.
    #[serde(default)]
    pub per: Scope,
    /// Limits that differ from `limit`, by repository (`org/repo`) or
    /// organization.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, u32>,
}

/// What a semaphore's limit applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Global,
    Organization,
    Repository,
}

/// A mutex held per value of a parameter (e.g. per task or per PR).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mutex {
    /// The parameter whose value names the lock (`taskId`, `prNumber`,
    /// `repository`). Omit for a single global mutex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<String>,
}
