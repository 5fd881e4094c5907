use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A workflow parameter. One without a `default` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Parameter {
    /// Parameter name as Argo sees it (`repository`, `prompt_mod`, …).
    pub name: String,
    /// The value's type; checked at compile time for defaults and enums.
    #[serde(default, rename = "type")]
    pub ty: ParamType,
    /// Default value. Parameters without one must be passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ParamValue>,
    /// The allowed values.
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<ParamValue>,
    /// What the parameter means; shown in the Argo UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The type of a parameter's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Integer,
    Boolean,
}

/// A literal parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    String(String),
}

impl ParamValue {
    /// The value as Argo receives it: a string.
    #[must_use]
    pub fn to_argo(&self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::String(s) => s.clone(),
        }
    }

    /// Whether this literal has the given type (strings holding a number or
    /// boolean are accepted for integer and boolean parameters).
    #[must_use]
    pub fn fits(&self, ty: ParamType) -> bool {
        match (ty, self) {
            (ParamType::String, _)
            | (ParamType::Integer, Self::Int(_))
            | (ParamType::Boolean, Self::Bool(_)) => true,
            (ParamType::Integer, Self::String(s)) => s.parse::<i64>().is_ok(),
            (ParamType::Boolean, Self::String(s)) => s == "true" || s == "false",
            _ => false,
        }
    }
}
