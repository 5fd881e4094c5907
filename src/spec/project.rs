use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The project every generated object belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Project {
    /// Project name (a DNS-1123 label); used in labels and default names.
    pub name: String,
    /// Namespace of the WorkflowTemplates, ConfigMaps and RBAC.
    pub namespace: String,
    /// The GitHub repositories (`org/repo`) this platform works on. Needed by
    /// per-repository and per-organization semaphores, whose limits are
    /// written per repository / organization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// Labels added to every generated object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}
