//! Validating objects against upstream JSON Schemas, kubeconform-style: one
//! file per kind (`DIR/<kind>.json`, lowercase), each compiled once and
//! reused for every object of that kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A directory of per-kind JSON Schemas.
pub struct SchemaSet {
    dir: PathBuf,
    validators: BTreeMap<String, Option<jsonschema::Validator>>,
}

/// The result of validating one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Errors as `instance/path: message`.
    Invalid(Vec<String>),
    /// No schema for this kind in the directory.
    Skipped,
    /// The schema file exists but could not be read or compiled.
    Error(String),
}

impl SchemaSet {
    /// Use the schemas in `dir`.
    ///
    /// # Errors
    /// When `dir` is not a directory.
    pub fn open(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!("no schema directory at `{}`", dir.display()));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            validators: BTreeMap::new(),
        })
    }

    /// Whether the set has a schema for `kind`.
    #[must_use]
    pub fn has(&self, kind: &str) -> bool {
        self.dir
            .join(format!("{}.json", kind.to_ascii_lowercase()))
            .is_file()
    }

    /// Validate one object, routed by its `kind`.
    pub fn validate(&mut self, object: &Value) -> Verdict {
        let Some(kind) = object.get("kind").and_then(Value::as_str) else {
            return Verdict::Invalid(vec!["/kind: missing".to_string()]);
        };
        let key = kind.to_ascii_lowercase();
        if !self.validators.contains_key(&key) {
            let path = self.dir.join(format!("{key}.json"));
            if !path.is_file() {
                return Verdict::Skipped;
            }
            let compiled = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
                .and_then(|schema| jsonschema::validator_for(&schema).map_err(|e| e.to_string()));
            match compiled {
                Ok(v) => {
                    self.validators.insert(key.clone(), Some(v));
                }
                Err(e) => {
                    self.validators.insert(key.clone(), None);
                    return Verdict::Error(format!("{}: {e}", path.display()));
                }
            }
        }
        let Some(Some(validator)) = self.validators.get(&key) else {
            return Verdict::Error(format!("schema for `{kind}` did not compile"));
        };
        let errors: Vec<String> = validator
            .iter_errors(object)
            .map(|e| {
                let path = e.instance_path().to_string();
                format!("{}: {e}", if path.is_empty() { "/" } else { &path })
            })
            .collect();
        if errors.is_empty() {
            Verdict::Valid
        } else {
            Verdict::Invalid(errors)
        }
    }
}
