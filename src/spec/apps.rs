use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Argo CD: the services to deploy, the app-of-apps that syncs `generated/`,
/// the AppProjects that scope them, and preview environments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Apps {
    /// Argo CD's namespace, where Applications live (default `argocd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Git repository holding this platform (`pipelines/`, `generated/`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The branch Argo CD follows (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The cluster to deploy to (default the one Argo CD runs in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The AppProject of the services (default name: the project's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<AppProject>,
    /// The app-of-apps Application that syncs `generated/` itself.
    #[serde(default)]
    pub platform: Platform,
    /// Services by name, one Application each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Preview environments by name, one ApplicationSet each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previews: BTreeMap<String, Preview>,
}

/// The AppProject scoping the services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppProject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Further source repositories allowed (the platform repository and every
    /// service's are always allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
}

/// The app-of-apps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Platform {
    /// Emit it (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Its name (default `<project>-platform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The path of the generated tree in the repository (default `generated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            enabled: true,
            name: None,
            path: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A service deployed by Argo CD.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where its manifests come from.
    pub source: Source,
    /// The namespace it is deployed to.
    pub namespace: String,
    /// How it is synced (default: automated with prune and self-heal,
    /// CreateNamespace and ServerSideApply, 5 retries with backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<Sync>,
    /// Sync wave: lower waves are synced first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<i32>,
}

/// A source: a Helm chart (in Git, or `chart` from a Helm repository), a
/// kustomization, or a directory of manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    /// Repository (default `apps.repoURL`); a Helm repository with `chart`.
    #[serde(default, rename = "repoURL", skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    /// Revision (default `apps.revision`); the chart version with `chart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Path in a Git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Chart name in a Helm repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<Kustomize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Directory>,
}

/// Helm settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Helm {
    /// Values files in the chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// Values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, serde_json::Value>,
    /// Images by values prefix: `image: agent` sets `image.repository` and
    /// `image.tag` from the image declared as `agent`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
}

/// Kustomize settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomize {
    /// Declared images whose references replace the kustomization's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// Plain manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Directory {
    #[serde(default)]
    pub recurse: bool,
}

/// A sync policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sync {
    /// Sync automatically (default true).
    #[serde(default = "yes")]
    pub automated: bool,
    /// Delete what the source no longer has (default true).
    #[serde(default = "yes")]
    pub prune: bool,
    /// Undo changes made in the cluster (default true).
    #[serde(default = "yes")]
    pub self_heal: bool,
    /// Argo CD sync options (default `CreateNamespace=true`, `ServerSideApply=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// Retries of a failed sync (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
}

/// A preview environment per pull request or per branch, removed (with all
/// it deployed) when the PR closes or the branch is deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Preview {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The service to preview (its source, from the PR's or branch's commit).
    pub service: String,
    /// One preview per open pull request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_requests: Option<PullRequests>,
    /// One preview per branch matching a pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<Branches>,
    /// The preview's namespace (default `<service>-pr-${preview.number}` for
    /// pull requests, `<service>-${preview.branch_slug}` for branches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Helm parameters for the preview, e.g. `image.tag: sha-${preview.head_short_sha_7}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub helm_parameters: BTreeMap<String, String>,
    /// How often to look for new pull requests or branches (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<String>,
}

/// The pull requests of a GitHub repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullRequests {
    /// `org/name`.
    pub repository: String,
    /// Only pull requests with all of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The Argo CD secret holding GitHub App credentials (in Argo CD's namespace).
    pub app_secret: String,
}

/// The branches of a GitHub repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Branches {
    /// `org/name`.
    pub repository: String,
    /// Branch names or globs (`feature/*`).
    pub pattern: String,
    /// The Argo CD secret holding GitHub App credentials (in Argo CD's namespace).
    pub app_secret: String,
}
