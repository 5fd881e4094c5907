//! Lowering: the resolved [`Model`] to typed Kubernetes objects, one module
//! per output kind. No text is written here; [`crate::emit`] does that.

mod agent_step;
mod apps;
mod chain;
mod configmap;
mod events;
pub(crate) mod pod;
mod rbac;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::argo::{Manifest, Meta};
use crate::model::{LABEL_PREFIX, Model};

/// One generated object, ready to be written.
#[derive(Debug, Clone)]
pub struct Object {
    /// Path under the output directory, with `/` separators.
    pub path: String,
    /// Spec files it was generated from, relative to `pipelines/`.
    pub sources: Vec<String>,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The typed manifest; YAML is written straight from it.
    body: Arc<dyn Body>,
    /// The object as a JSON value, made on first use (the commands that
    /// inspect objects use it; `render` never needs it).
    value: OnceLock<serde_json::Value>,
}

/// A typed manifest, kept behind [`Object`].
trait Body: std::fmt::Debug + Send + Sync {
    fn write_yaml(&self, out: &mut String);
    fn to_value(&self) -> serde_json::Value;
}

impl<T: Serialize + std::fmt::Debug + Send + Sync> Body for Manifest<T> {
    fn write_yaml(&self, out: &mut String) {
        crate::emit::write_document(out, self);
    }

    fn to_value(&self) -> serde_json::Value {
        // Serializing plain structs and maps with string keys cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Object {
    fn new<T: Serialize + std::fmt::Debug + Send + Sync + 'static>(
        path: String,
        sources: Vec<String>,
        manifest: Manifest<T>,
    ) -> Self {
        Self {
            path,
            sources,
            api_version: manifest.api_version.to_string(),
            kind: manifest.kind.to_string(),
            namespace: manifest.metadata.namespace.clone(),
            name: manifest.metadata.name.clone(),
            body: Arc::new(manifest),
            value: OnceLock::new(),
        }
    }

    /// The object as a JSON value, fields in emission order.
    #[must_use]
    pub fn value(&self) -> &serde_json::Value {
        self.value.get_or_init(|| self.body.to_value())
    }

    /// The object as a JSON value, taken from it (made now unless
    /// [`Object::value`] made it already).
    #[must_use]
    pub fn into_value(self) -> serde_json::Value {
        self.value
            .into_inner()
            .unwrap_or_else(|| self.body.to_value())
    }

    /// Append the object's YAML (no header, no `---`).
    pub fn write_yaml(&self, out: &mut String) {
        self.body.write_yaml(out);
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.sources == other.sources
            && self.api_version == other.api_version
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
            && self.value() == other.value()
    }
}

/// Every object the model compiles to, in path order.
#[must_use]
pub fn lower(model: &Model) -> Vec<Object> {
    lower_with(model, |object| object)
}

/// Every object the model compiles to, each handed to `f` as soon as it is
/// made (chains on all cores), the results in path order. Rendering uses
/// this to write each object's YAML and drop the object at once, so the
/// typed objects of a large spec never all live at the same time.
pub fn lower_with<R: Send>(model: &Model, f: impl Fn(Object) -> R + Sync) -> Vec<R> {
    let keyed = |object: Object| (object.path.clone(), f(object));
    let mut out = vec![keyed(agent_step::agent_step(model))];
    let chains: Vec<&crate::model::Chain> = model.chains.values().collect();
    out.extend(crate::par::map(&chains, |c| keyed(chain::chain(model, c))));
    out.push(keyed(configmap::agents(model)));
    out.extend(configmap::semaphores(model).map(keyed));
    out.extend(rbac::workflow_rbac(model).into_iter().map(keyed));
    out.extend(rbac::play_rbac(model).into_iter().map(keyed));
    if let Some(e) = &model.events {
        out.extend(events::events(model, e).into_iter().map(keyed));
    }
    if let Some(a) = &model.apps {
        out.extend(apps::apps(model, a).into_iter().map(keyed));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, r)| r).collect()
}

/// Metadata with the project's namespace and labels, plus `extra` labels.
fn metadata(model: &Model, name: &str, extra: &[(&str, &str)]) -> Meta {
    let mut labels: BTreeMap<String, String> = model.project.labels.clone();
    for (k, v) in extra {
        labels.insert(format!("{LABEL_PREFIX}/{k}"), (*v).to_string());
    }
    Meta {
        name: name.to_string(),
        namespace: Some(model.project.namespace.clone()),
        labels,
        annotations: BTreeMap::new(),
    }
}

/// `sources` sorted and deduplicated, without empty names.
fn sources<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = files
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `prNumber` → `pr-number`, for label keys.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// `workingDirectory` → `WORKING_DIRECTORY`, `prompt_mod` → `PROMPT_MOD`.
#[must_use]
pub fn env_name(param: &str) -> String {
    kebab(param).replace('-', "_").to_ascii_uppercase()
}

/// A parameter in an Argo expression: `scope.name`, or `scope["na-me"]`
/// when the name is not an identifier.
fn expr_param(scope: &str, name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{scope}.{name}")
    } else {
        format!("{scope}[\"{name}\"]")
    }
}

/// An Argo expression turning `value` (an expression) into a valid label
/// value: invalid characters become `-`, at most 63 characters, trimmed of
/// non-alphanumeric ends.
fn label_expression(value: &str) -> String {
    format!(
        "sprig.trimAll(\"-_.\", sprig.trunc(63, sprig.regexReplaceAll(\"[^-A-Za-z0-9_.]\", {value}, \"-\")))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(env_name("workingDirectory"), "WORKING_DIRECTORY");
        assert_eq!(env_name("prompt_mod"), "PROMPT_MOD");
        assert_eq!(env_name("prNumber"), "PR_NUMBER");
        assert_eq!(kebab("taskId"), "task-id");
    }
}
