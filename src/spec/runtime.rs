use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The shared runtime every agent step runs in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Runtime {
    /// The agent image, by its name under `images` (one image for every agent).
    pub image: String,
    /// The agent entrypoint. Parameters reach it as environment variables,
    /// never as arguments.
    pub command: Vec<String>,
    /// ServiceAccount the workflow pods run as (default `<project>-workflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Resource tiers by name. A tier named `default` is used where none is given.
    pub tiers: BTreeMap<String, Tier>,
    /// The workspace volume shared by the steps of a chain run.
    #[serde(default)]
    pub workspace: Workspace,
    /// Pod and container security settings (hardened by default).
    #[serde(default)]
    pub security_context: SecurityDefaults,
    /// GitHub credentials, as references to Kubernetes Secrets.
    pub github: GitHubAuth,
    /// Further environment variables from Secrets (`NAME: {secret, key}`),
    /// e.g. model API keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, SecretKey>,
    /// Plain environment variables for every agent step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Output parameters every agent step may emit (written by the agent to
    /// `$ORCHCTL_OUTPUTS/<name>`), e.g. `pr-url`, `actions-run-url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Semaphores / mutexes (names under `concurrency`) every agent step holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concurrency: Vec<String>,
    /// OpenTelemetry export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
    /// Parameters that label workflows and pods for correlation (sanitised
    /// into valid label values; the raw value goes to an annotation).
    /// Default: those of `repository`, `prNumber`, `taskId` that are declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Vec<String>>,
    /// The task prompt each agent step reads, relative to the workspace
    /// (default `task/prompt.md`). `prompt_mod` is prepended to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_prompt: Option<String>,
    /// Timeouts, retries, TTL and pod GC applied where a chain or step says nothing.
    #[serde(default)]
    pub defaults: RuntimeDefaults,
}

/// CPU / memory requests and limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tier {
    pub requests: Resources,
    pub limits: Resources,
}

/// Kubernetes quantities, e.g. `cpu: "2"`, `memory: 4Gi`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<String>,
}

/// The workspace volume: a per-run claim (`size`) or an existing claim (`claim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workspace {
    /// Where the workspace is mounted.
    #[serde(default = "default_mount")]
    pub mount_path: String,
    /// Size of the per-run PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// StorageClass of the per-run claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Use this existing PersistentVolumeClaim instead of a per-run one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

fn default_mount() -> String {
    "/workspace".to_string()
}

impl Default for Workspace {
    fn default() -> Self {
        Self {
            mount_path: default_mount(),
            size: None,
            storage_class: None,
            claim: None,
        }
    }
}

/// Security context defaults. Containers always drop ALL capabilities,
/// forbid privilege escalation and use the RuntimeDefault seccomp profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecurityDefaults {
    /// UID of every container (non-root).
    #[serde(default = "default_uid")]
    pub run_as_user: i64,
    /// GID of every container.
    #[serde(default = "default_uid")]
    pub run_as_group: i64,
    /// Group owning mounted volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    /// Mount the root filesystem read-only (writable `/tmp` is provided).
    #[serde(default = "yes")]
    pub read_only_root_filesystem: bool,
}

fn default_uid() -> i64 {
    1000
}

fn yes() -> bool {
    true
}

impl Default for SecurityDefaults {
    fn default() -> Self {
        Self {
            run_as_user: default_uid(),
            run_as_group: default_uid(),
            fs_group: None,
            read_only_root_filesystem: true,
        }
    }
}

/// A key of a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKey {
    /// Secret name.
    pub secret: String,
    /// Key in the Secret.
    pub key: String,
}

/// GitHub credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitHubAuth {
    /// The GitHub App the agents authenticate as (tokens are minted per run).
    pub app: GitHubApp,
}

/// A GitHub App's credentials in a Secret (e.g. synced by External Secrets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitHubApp {
    /// Name of the Secret.
    pub secret: String,
    /// Key holding the App ID.
    #[serde(default = "default_app_id_key")]
    pub app_id_key: String,
    /// Key holding the PEM private key (mounted as a file, never an env var).
    #[serde(default = "default_private_key_key")]
    pub private_key_key: String,
    /// Key holding the installation ID, if the Secret has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id_key: Option<String>,
}

fn default_app_id_key() -> String {
    "app-id".to_string()
}

fn default_private_key_key() -> String {
    "private-key".to_string()
}

/// OpenTelemetry export settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Telemetry {
    /// OTLP endpoint, e.g. `http://otel-collector.telemetry:4317`.
    pub otlp_endpoint: String,
    /// `OTEL_SERVICE_NAME` (default `<project>-agents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Static resource attributes added to every span.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Defaults for chains and steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeDefaults {
    /// Deadline of one step (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<String>,
    /// Deadline of a whole chain run (default `6h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_deadline: Option<String>,
    /// Retry of failed steps (default 2 retries, 30s backoff doubling to 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// How long finished workflows are kept (default 1d after success, 7d after failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
    /// When pods are deleted (default `OnPodSuccess`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_gc: Option<PodGcStrategy>,
}

/// Retry with backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Retry {
    /// Retries after the first attempt.
    pub limit: u32,
    /// Which failures are retried (default `OnFailure`).
    #[serde(default)]
    pub policy: RetryPolicy,
    /// Delay between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Argo retry policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RetryPolicy {
    #[default]
    OnFailure,
    OnError,
    OnTransientError,
    Always,
}

/// Exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backoff {
    /// First delay, e.g. `30s`.
    pub duration: String,
    /// Multiplier per attempt.
    #[serde(default = "default_factor")]
    pub factor: u32,
    /// Longest total backoff, e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

fn default_factor() -> u32 {
    2
}

/// How long finished workflows are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ttl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_completion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_failure: Option<String>,
}

/// Argo pod GC strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PodGcStrategy {
    OnPodCompletion,
    OnPodSuccess,
    OnWorkflowCompletion,
    OnWorkflowSuccess,
}
