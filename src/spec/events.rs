use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretKey;

/// GitHub events in, chain runs out: the EventSource and one Sensor per route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Events {
    /// The GitHub webhook receiver (an Argo Events EventSource). Exactly one
    /// file declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GitHubSource>,
    /// Emit an EventBus for the EventSource and Sensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus: Option<EventBus>,
    /// Routes by name: on a GitHub event, run a chain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Route>,
}

/// The GitHub EventSource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitHubSource {
    /// EventSource name (default `github`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Repositories (`org/name`) whose webhooks arrive here (default:
    /// `project.repositories`, unless `organizations` is given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// Organizations whose webhooks arrive here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// Where the webhook is served.
    #[serde(default)]
    pub webhook: Webhook,
    /// The webhook secret GitHub signs payloads with.
    pub secret: SecretKey,
    /// A token allowed to manage the repositories' webhooks. With `webhook.url`
    /// set, Argo Events creates the hooks; without it, configure them in GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<SecretKey>,
    /// The EventBus to publish to (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<String>,
}

/// The webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Webhook {
    /// HTTP path (default `/github`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Port (default 12000).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Public URL GitHub delivers to, e.g. `https://hooks.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn default_endpoint() -> String {
    "/github".to_string()
}

fn default_port() -> u16 {
    12000
}

impl Default for Webhook {
    fn default() -> Self {
        Self {
            endpoint: default_endpoint(),
            port: default_port(),
            url: None,
        }
    }
}

/// A JetStream EventBus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventBus {
    /// EventBus name (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// JetStream version, as listed in the Argo Events controller config.
    pub version: String,
    /// NATS replicas (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// A route: on a GitHub event that meets the conditions, run a chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Route {
    /// What the route is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The GitHub event (the `X-GitHub-Event` header): `pull_request`,
    /// `issue_comment`, `check_run`, `workflow_run`, `issues`, `push`, …
    pub on: String,
    /// The event's actions that fire the route (default: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Further conditions on the payload; all must hold.
    #[serde(default)]
    pub when: Conditions,
    /// The chain to run.
    pub run: String,
    /// Chain parameters: `${event.PATH}` (a field of the payload) or a literal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub with: BTreeMap<String, String>,
    /// At most this many runs per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// Conditions on the payload. Each applies only to events that carry it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Conditions {
    /// The pull request was merged (`pull_request` `closed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<bool>,
    /// Base branch names or globs (`main`, `release/*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_branch: Vec<String>,
    /// Head branch names or globs (`feature/**`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub head_branch: Vec<String>,
    /// The label just added (action `labeled`) is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label: Vec<String>,
    /// The check or workflow run concluded with one of these
    /// (`failure`, `timed_out`, `cancelled`, `success`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conclusion: Vec<String>,
    /// A comment on a pull request or on a plain issue (`issue_comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_on: Option<CommentOn>,
    /// The comment or review body starts with this command, e.g. `/remediate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Author associations accepted for comments and reviews (default
    /// `OWNER`, `MEMBER`, `COLLABORATOR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_association: Option<Vec<AuthorAssociation>>,
    /// Events sent by bots: `exclude` (default for comments, reviews and
    /// issues), `allow` (default otherwise) or `only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bots: Option<Bots>,
    /// Only these repositories (`org/name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository: Vec<String>,
}

/// Where a comment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CommentOn {
    PullRequest,
    Issue,
}

/// GitHub's `author_association` values.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorAssociation {
    Owner,
    Member,
    Collaborator,
    Contributor,
    FirstTimeContributor,
    FirstTimer,
    Mannequin,
    None,
}

impl AuthorAssociation {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Member => "MEMBER",
            Self::Collaborator => "COLLABORATOR",
            Self::Contributor => "CONTRIBUTOR",
            Self::FirstTimeContributor => "FIRST_TIME_CONTRIBUTOR",
            Self::FirstTimer => "FIRST_TIMER",
            Self::Mannequin => "MANNEQUIN",
            Self::None => "NONE",
        }
    }
}

/// How a route treats events sent by bots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bots {
    Exclude,
    Allow,
    Only,
}

/// A rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Runs allowed per period.
    pub requests: u32,
    /// The period.
    pub per: RatePeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RatePeriod {
    Second,
    Minute,
    Hour,
}
