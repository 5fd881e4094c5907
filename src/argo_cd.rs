//! Serde structs for the Argo CD kinds orchctl writes — only the fields it
//! emits.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::argo::Meta;

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationBody {
    pub spec: ApplicationSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    pub project: String,
    pub source: Source,
    pub destination: Destination,
    pub sync_policy: SyncPolicy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub target_revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySource>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmSource {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub values_object: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HelmParameter {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct KustomizeSource {
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirectorySource {
    pub recurse: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Destination {
    pub server: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    pub retry: Retry,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    pub prune: bool,
    pub self_heal: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Retry {
    pub limit: u32,
    pub backoff: Backoff,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    pub duration: String,
    pub factor: u32,
    pub max_duration: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppProjectBody {
    pub spec: AppProjectSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub source_repos: Vec<String>,
    pub destinations: Vec<Destination>,
    pub cluster_resource_whitelist: Vec<GroupKind>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationSetBody {
    pub spec: ApplicationSetSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSpec {
    pub go_template: bool,
    pub go_template_options: Vec<String>,
    pub generators: Vec<Generator>,
    pub template: ApplicationTemplate,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Generator {
    PullRequest(PullRequestGenerator),
    ScmProvider(ScmProviderGenerator),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestGenerator {
    pub github: PullRequestGithub,
    pub requeue_after_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestGithub {
    pub owner: String,
    pub repo: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    pub app_secret_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScmProviderGenerator {
    pub github: ScmGithub,
    pub filters: Vec<ScmFilter>,
    pub requeue_after_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScmGithub {
    pub organization: String,
    pub all_branches: bool,
    pub app_secret_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScmFilter {
    pub repository_match: String,
    pub branch_match: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationTemplate {
    pub metadata: TemplateMeta,
    pub spec: ApplicationSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateMeta {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
}

/// Any object's metadata, re-exported for lowering.
pub type Metadata = Meta;
