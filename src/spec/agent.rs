use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An agent profile. Its system prompt lands in the `controller-agents`
/// ConfigMap as `NAME_system-prompt.md`; the rest as `NAME_profile.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Agent {
    /// What the agent does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system prompt, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The system prompt from a file, relative to the spec file (must stay
    /// inside `pipelines/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_file: Option<String>,
    /// Render the prompt as a minijinja template over `project`, `agent`,
    /// `agents` and `vars`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
    /// The model the agent uses.
    pub model: String,
    /// The agent CLI (e.g. `claude`, `codex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<String>,
    /// Tools (MCP servers, CLIs) the agent may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Gates the agent must pass before its step succeeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    /// Resource tier (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Extra settings passed through to the agent profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// A local quality gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// `cargo fmt --check` (or the language's formatter) passes.
    Fmt,
    /// Clippy passes with `-D warnings`.
    Clippy,
    /// Clippy pedantic passes with zero warnings.
    ClippyPedantic,
    /// The test suite passes.
    Tests,
}

impl Gate {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fmt => "fmt",
            Self::Clippy => "clippy",
            Self::ClippyPedantic => "clippy-pedantic",
            Self::Tests => "tests",
        }
    }
}
