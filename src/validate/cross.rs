//! Checks across objects: every reference from one object to another
//! resolves, and what it passes lands on something declared.
//!
//! Namespaces: a reference resolves in the namespace of the object that makes
//! it; an object without a namespace (applied with `-n`) matches any.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::{Document, External, Finding, Pointer};
use crate::check::{is_label_key, is_label_value};
use crate::diagnostic::{Code, Diagnostic, did_you_mean, suggestion};

/// What [`check`] found: findings and notes, by document index.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub findings: Vec<(usize, Finding)>,
    pub notes: Vec<(usize, String)>,
}

/// A reference from an object to a ServiceAccount, ConfigMap or Secret.
#[derive(Debug, Clone)]
pub(super) struct Reference {
    pub kind: &'static str,
    pub name: String,
    pub key: Option<String>,
    /// `optional: true`: the object may be missing.
    pub optional: bool,
    /// Where the name is.
    pub pointer: Pointer,
    /// A semaphore (`synchronization…configMapKeyRef`).
    pub semaphore: bool,
}

/// Label maps (`metadata.labels`, `matchLabels`, …) and where they are.
type Labels<'a> = Vec<(Pointer, &'a Map<String, Value>)>;

/// Every reference to a ServiceAccount, ConfigMap or Secret in `value`.
pub(super) fn references(value: &Value) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut labels = Vec::new();
    walk(
        value,
        &Pointer::default(),
        None,
        false,
        &mut refs,
        &mut labels,
    );
    refs
}

/// Keys of Argo Events' Secret selectors (`{name, key}`).
const SECRET_SELECTORS: &[&str] = &[
    "webhookSecret",
    "apiToken",
    "privateKey",
    "token",
    "accessKey",
    "secretKey",
    "password",
    "username",
];

fn walk<'a>(
    value: &'a Value,
    at: &Pointer,
    parent: Option<&str>,
    in_sync: bool,
    refs: &mut Vec<Reference>,
    labels: &mut Labels<'a>,
) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = at.key(key);
                reference(key, v, &here, parent, in_sync, refs);
                if let Value::Object(m) = v {
                    let label_map = (key == "labels"
                        && matches!(
                            parent,
                            Some("metadata" | "workflowMetadata" | "podMetadata")
                        ))
                        || key == "matchLabels";
                    if label_map {
                        labels.push((here.clone(), m));
                    }
                }
                walk(
                    v,
                    &here,
                    Some(key),
                    in_sync || key == "synchronization",
                    refs,
                    labels,
                );
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &at.index(i), parent, in_sync, refs, labels);
            }
        }
        _ => {}
    }
}

fn reference(
    key: &str,
    value: &Value,
    at: &Pointer,
    parent: Option<&str>,
    in_sync: bool,
    refs: &mut Vec<Reference>,
) {
    let field =
        |m: &Map<String, Value>, f: &str| m.get(f).and_then(Value::as_str).map(str::to_string);
    let optional =
        |m: &Map<String, Value>| m.get("optional").and_then(Value::as_bool) == Some(true);
    let mut push = |kind: &'static str,
                    name: String,
                    key: Option<String>,
                    optional: bool,
                    pointer: Pointer| {
        refs.push(Reference {
            kind,
            name,
            key,
            optional,
            pointer,
            semaphore: in_sync && kind == "ConfigMap",
        });
    };
    match (key, value) {
        ("serviceAccountName", Value::String(name)) => {
            push("ServiceAccount", name.clone(), None, false, at.clone());
        }
        ("configMapKeyRef" | "secretKeyRef", Value::Object(m)) => {
            if let Some(name) = field(m, "name") {
                let kind = if key == "secretKeyRef" {
                    "Secret"
                } else {
                    "ConfigMap"
                };
                push(kind, name, field(m, "key"), optional(m), at.key("name"));
            }
        }
        ("configMapRef" | "secretRef", Value::Object(m)) => {
            if let Some(name) = field(m, "name") {
                let kind = if key == "secretRef" {
                    "Secret"
                } else {
                    "ConfigMap"
                };
                push(kind, name, None, optional(m), at.key("name"));
            }
        }
        // A volume, or a projected volume source.
        ("configMap", Value::Object(m)) => {
            if let Some(name) = field(m, "name") {
                push("ConfigMap", name, None, optional(m), at.key("name"));
            }
        }
        ("secret", Value::Object(m)) => {
            if let Some(name) = field(m, "secretName") {
                push("Secret", name, None, optional(m), at.key("secretName"));
            } else if parent == Some("sources")
                && let Some(name) = field(m, "name")
            {
                push("Secret", name, None, optional(m), at.key("name"));
            }
        }
        ("imagePullSecrets", Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(name) = item.get("name").and_then(Value::as_str) {
                    push(
                        "Secret",
                        name.to_string(),
                        None,
                        false,
                        at.index(i).key("name"),
                    );
                }
            }
        }
        (k, Value::Object(m)) if SECRET_SELECTORS.contains(&k) => {
            if let (Some(name), Some(secret_key)) = (field(m, "name"), field(m, "key"))
                && m.keys()
                    .all(|k| matches!(k.as_str(), "name" | "key" | "optional"))
            {
                push(
                    "Secret",
                    name,
                    Some(secret_key),
                    optional(m),
                    at.key("name"),
                );
            }
        }
        ("appSecretName", Value::String(name)) => {
            push("Secret", name.clone(), None, false, at.clone());
        }
        ("tokenRef", Value::Object(m)) => {
            if let Some(name) = field(m, "secretName") {
                push("Secret", name, field(m, "key"), false, at.key("secretName"));
            }
        }
        _ => {}
    }
}

/// The objects, indexed for lookups.
struct Index<'a> {
    docs: &'a [Document],
    /// Lowercase kind → document indices.
    by_kind: HashMap<String, Vec<usize>>,
    /// (Lowercase kind, name) → document indices: a reference is found
    /// without scanning every object of its kind.
    by_name: HashMap<(String, &'a str), Vec<usize>>,
    externals: &'a [External],
}

enum Resolved {
    Found(usize),
    External,
    Missing,
}

fn same_namespace(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

impl<'a> Index<'a> {
    fn new(docs: &'a [Document], checkable: &[bool], externals: &'a [External]) -> Self {
        let mut by_kind: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(String, &str), Vec<usize>> = HashMap::new();
        for (i, doc) in docs.iter().enumerate() {
            if !checkable[i] {
                continue;
            }
            if let Some(kind) = doc.kind() {
                let kind = kind.to_ascii_lowercase();
                if let Some(name) = doc.str_at(&["metadata", "name"]) {
                    by_name.entry((kind.clone(), name)).or_default().push(i);
                }
                by_kind.entry(kind).or_default().push(i);
            }
        }
        Self {
            docs,
            by_kind,
            by_name,
            externals,
        }
    }

    fn of_kind(&self, kind: &str) -> &[usize] {
        self.by_kind
            .get(&kind.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    fn resolve(&self, kind: &str, namespace: Option<&str>, name: &str) -> Resolved {
        let cluster_scoped = kind.starts_with("Cluster");
        if let Some(&i) = self
            .by_name
            .get(&(kind.to_ascii_lowercase(), name))
            .into_iter()
            .flatten()
            .find(|&&i| cluster_scoped || same_namespace(self.docs[i].namespace(), namespace))
        {
            return Resolved::Found(i);
        }
        if self
            .externals
            .iter()
            .any(|e| e.covers(kind, namespace, name))
            || (kind == "ServiceAccount" && name == "default")
        {
            return Resolved::External;
        }
        Resolved::Missing
    }

    /// Names of `kind` in `namespace`, for "did you mean".
    fn names(&self, kind: &str, namespace: Option<&str>) -> Vec<&'a str> {
        self.of_kind(kind)
            .iter()
            .map(|&i| &self.docs[i])
            .filter(|d| kind.starts_with("Cluster") || same_namespace(d.namespace(), namespace))
            .filter_map(|d| d.str_at(&["metadata", "name"]))
            .collect()
    }
}

/// Run every check across `docs` (only those marked `checkable`).
pub(super) fn check(docs: &[Document], checkable: &[bool], externals: &[External]) -> Found {
    let index = Index::new(docs, checkable, externals);
    let mut c = Checker {
        index: &index,
        found: Found::default(),
    };
    c.duplicates();
    for (i, doc) in docs.iter().enumerate() {
        if !checkable[i] {
            continue;
        }
        let ns = doc.namespace();
        let mut refs = Vec::new();
        let mut labels = Vec::new();
        walk(
            &doc.value,
            &Pointer::default(),
            None,
            false,
            &mut refs,
            &mut labels,
        );
        // A missing object is reported at its first reference in each
        // object, with how many more there are.
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for r in &refs {
            *seen.entry((r.kind, r.name.as_str())).or_default() += 1;
        }
        let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
        for r in &refs {
            let key = (r.kind, r.name.as_str());
            if reported.contains(&key) {
                continue;
            }
            if c.reference(i, ns, r, seen[&key]) {
                reported.insert(key);
            }
        }
        for (at, map) in labels {
            c.labels(i, &at, map);
        }
        let root = Pointer::default();
        match doc.kind().unwrap_or_default() {
            "Workflow" | "WorkflowTemplate" | "ClusterWorkflowTemplate" => {
                if let Some(spec) = doc.value.get("spec") {
                    c.workflow_spec(i, &root.key("spec"), spec, ns, &Context::Own);
                }
            }
            "CronWorkflow" => {
                if let Some(spec) = doc.value.pointer("/spec/workflowSpec") {
                    c.workflow_spec(
                        i,
                        &root.keys(&["spec", "workflowSpec"]),
                        spec,
                        ns,
                        &Context::Own,
                    );
                }
            }
            "Sensor" => c.sensor(i, ns),
            "ConfigMap" => c.config_map_size(i),
            "RoleBinding" => c.role_binding(i, ns),
            _ => {}
        }
        // A ConfigMap's own limit is lower, and checked above.
        if doc.kind() != Some("ConfigMap") {
            c.object_size(i);
        }
    }
    c.found
}

/// Who submits a workflow spec.
enum Context {
    /// The object itself (Workflow, WorkflowTemplate, CronWorkflow).
    Own,
    /// A Sensor trigger, which writes these argument indices.
    Trigger {
        name: String,
        written: BTreeSet<usize>,
    },
}

struct Checker<'a> {
    index: &'a Index<'a>,
    found: Found,
}

impl<'a> Checker<'a> {
    fn doc(&self, i: usize) -> &'a Document {
        &self.index.docs[i]
    }

    fn error(&mut self, i: usize, code: Code, at: &Pointer, message: String, help: String) {
        let doc = self.doc(i);
        let diagnostic = Diagnostic::error(code, format!("{}{message}", super::prefix(doc)))
            .at(doc.locate(at))
            .help(help);
        self.found.findings.push((
            i,
            Finding {
                diagnostic,
                pointer: Some(at.to_string()),
            },
        ));
    }

    fn note(&mut self, i: usize, note: String) {
        self.found.notes.push((i, note));
    }

    fn missing_help(kind: &str, name: &str, candidates: &[&str]) -> String {
        let fix = did_you_mean(name, candidates.iter().copied())
            .map_or_else(String::new, |c| format!("did you mean `{c}`? "));
        format!(
            "{fix}add the {kind} to the manifests, or declare it with `--external {kind}/{name}` if it is made elsewhere"
        )
    }

    /// Names unique per kind and namespace.
    fn duplicates(&mut self) {
        let mut seen: BTreeMap<(String, Option<String>, String), usize> = BTreeMap::new();
        let mut dups = Vec::new();
        for (kind, list) in &self.index.by_kind {
            for &i in list {
                let doc = self.doc(i);
                let Some(name) = doc.str_at(&["metadata", "name"]) else {
                    continue;
                };
                let key = (
                    kind.clone(),
                    doc.namespace().map(str::to_string),
                    name.to_string(),
                );
                match seen.get(&key) {
                    Some(&first) => dups.push((first, i)),
                    None => {
                        seen.insert(key, i);
                    }
                }
            }
        }
        dups.sort_unstable();
        for (first, i) in dups {
            let at = Pointer::default().keys(&["metadata", "name"]);
            let first_doc = self.doc(first);
            let (first_path, first_span) = (first_doc.path.clone(), first_doc.locate(&at));
            let doc = self.doc(i);
            let message = format!(
                "{}{} is defined twice in namespace `{}`",
                super::prefix(doc),
                doc.label(),
                doc.namespace().unwrap_or("(none)")
            );
            let diagnostic = Diagnostic::error(Code::DuplicateDefinition, message)
                .at(doc.locate(&at))
                .label("defined again here")
                .also(first_span, "first defined here")
                .help(format!(
                    "the first is in {first_path}; rename one, or remove the copy (the second would overwrite the first when applied)"
                ));
            self.found.findings.push((
                i,
                Finding {
                    diagnostic,
                    pointer: Some(at.to_string()),
                },
            ));
        }
    }

    /// A reference to a ServiceAccount, ConfigMap or Secret (`count`
    /// references to it in this object). Returns whether the object is
    /// missing (and reported).
    fn reference(&mut self, i: usize, ns: Option<&str>, r: &Reference, count: usize) -> bool {
        if r.name.contains("{{") || r.name.contains("${") {
            return false;
        }
        match self.index.resolve(r.kind, ns, &r.name) {
            Resolved::External => {}
            Resolved::Missing if r.optional => {}
            Resolved::Missing => {
                let names = self.index.names(r.kind, ns);
                let what = if r.semaphore {
                    "semaphore ConfigMap"
                } else {
                    r.kind
                };
                let more = match count {
                    1 => String::new(),
                    2 => " (referenced once more below)".to_string(),
                    n => format!(" (referenced {} more times below)", n - 1),
                };
                self.error(
                    i,
                    Code::UnknownObject,
                    &r.pointer,
                    format!(
                        "{what} `{}` is neither among the manifests nor declared external{more}",
                        r.name
                    ),
                    Self::missing_help(r.kind, &r.name, &names),
                );
                return true;
            }
            Resolved::Found(target) => {
                let Some(key) = &r.key else { return false };
                let keys = data_keys(&self.doc(target).value);
                let key_at = {
                    let mut p = r.pointer.clone();
                    p.0.pop();
                    p.key("key")
                };
                if r.semaphore {
                    self.semaphore_key(i, target, &r.name, key, &keys, &key_at);
                } else if !keys.contains(key.as_str()) && !r.optional {
                    let target_path = self.doc(target).path.clone();
                    self.error(
                        i,
                        Code::UnknownObject,
                        &key_at,
                        format!("{} `{}` has no key `{key}`", r.kind, r.name),
                        format!(
                            "{} (in {target_path})",
                            suggestion("key", key, keys.iter().copied())
                        ),
                    );
                }
            }
        }
        false
    }

    fn semaphore_key(
        &mut self,
        i: usize,
        target: usize,
        config_map: &str,
        key: &str,
        keys: &BTreeSet<&str>,
        at: &Pointer,
    ) {
        let target_path = self.doc(target).path.clone();
        if key.contains("{{") {
            let matching: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| template_matches(key, k))
                .collect();
            if matching.is_empty() {
                self.error(
                    i,
                    Code::UnknownLock,
                    at,
                    format!("no key of ConfigMap `{config_map}` can match the semaphore key `{key}`"),
                    format!(
                        "the key is computed at run time, and Argo needs it to exist in the ConfigMap before a run takes it; ConfigMap `{config_map}` ({target_path}) has {}",
                        list(keys.iter().copied())
                    ),
                );
            } else {
                self.note(
                    i,
                    format!(
                        "the semaphore key `{key}` is computed at run time; ConfigMap `{config_map}` has {} that can match: {}",
                        matching.len(),
                        matching.join(", ")
                    ),
                );
            }
            return;
        }
        if !keys.contains(key) {
            self.error(
                i,
                Code::UnknownLock,
                at,
                format!("semaphore `{key}` is not a key of ConfigMap `{config_map}`"),
                format!(
                    "{}; Argo refuses to run a workflow whose semaphore key does not exist (in {target_path})",
                    suggestion("key", key, keys.iter().copied())
                ),
            );
            return;
        }
        let limit = self
            .doc(target)
            .value
            .pointer(&format!(
                "/data/{}",
                key.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if limit.trim().parse::<u32>().is_err() {
            self.error(
                i,
                Code::UnknownLock,
                at,
                format!("the limit of semaphore `{key}` in ConfigMap `{config_map}` is `{limit}`, not a number"),
                format!("set `data.{key}` of {target_path} to how many may hold it at once, e.g. \"3\""),
            );
        }
    }

    /// Label keys and values (literal ones; templated values are computed
    /// at run time).
    fn labels(&mut self, i: usize, at: &Pointer, map: &Map<String, Value>) {
        for (key, value) in map {
            let here = at.key(key);
            if !key.contains("{{") && !is_label_key(key) {
                self.error(
                    i,
                    Code::InvalidLabel,
                    &here,
                    format!("`{key}` is not a valid label key"),
                    "a label key is an optional DNS subdomain prefix and `/`, then up to 63 of [A-Za-z0-9._-], starting and ending alphanumeric".into(),
                );
            }
            let Some(text) = value.as_str() else {
                self.error(
                    i,
                    Code::InvalidLabel,
                    &here,
                    format!("label `{key}` has a {} value, not a string", kind_of(value)),
                    "quote the value: label values are strings".into(),
                );
                continue;
            };
            if text.contains("{{") {
                continue;
            }
            if !is_label_value(text) {
                self.error(
                    i,
                    Code::InvalidLabel,
                    &here,
                    format!("`{text}` is not a valid value for label `{key}`"),
                    "a label value is empty or up to 63 of [A-Za-z0-9._-], starting and ending alphanumeric; put other text in an annotation".into(),
                );
            }
        }
    }

    fn config_map_size(&mut self, i: usize) {
        let value = &self.doc(i).value;
        let mut size = 0usize;
        if let Some(Value::Object(data)) = value.get("data") {
            size += data
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum::<usize>();
        }
        if let Some(Value::Object(data)) = value.get("binaryData") {
            // Base64: three bytes per four characters.
            size += data
                .iter()
                .map(|(k, v)| {
                    k.len()
                        + v.as_str()
                            .map_or(0, |s| s.trim_end_matches('=').len() * 3 / 4)
                })
                .sum::<usize>();
        }
        if size > crate::MAX_CONFIG_MAP_BYTES {
            let label = self.doc(i).label();
            self.error(
                i,
                Code::ObjectTooLarge,
                &Pointer::default().key("data"),
                format!("{label} holds {size} bytes of data, over the 1 MiB limit"),
                "Kubernetes refuses ConfigMaps over 1 MiB (1048576 bytes): split the data across ConfigMaps or mount it from elsewhere".into(),
            );
        }
    }

    /// An object larger, as the JSON the API server stores, than etcd keeps.
    fn object_size(&mut self, i: usize) {
        if crate::json_len(&self.doc(i).value, crate::MAX_OBJECT_BYTES) > crate::MAX_OBJECT_BYTES {
            let label = self.doc(i).label();
            self.error(
                i,
                Code::ObjectTooLarge,
                &Pointer::default(),
                format!(
                    "{label} is over the 1.5 MiB ({} bytes) etcd stores per object, as JSON",
                    crate::MAX_OBJECT_BYTES
                ),
                "Kubernetes cannot store it: split what it holds across several objects".into(),
            );
        }
    }

    fn role_binding(&mut self, i: usize, ns: Option<&str>) {
        let value = &self.doc(i).value;
        if value.pointer("/roleRef/kind").and_then(Value::as_str) == Some("Role")
            && let Some(name) = value.pointer("/roleRef/name").and_then(Value::as_str)
            && let Resolved::Missing = self.index.resolve("Role", ns, name)
        {
            let names = self.index.names("Role", ns);
            self.error(
                i,
                Code::UnknownObject,
                &Pointer::default().keys(&["roleRef", "name"]),
                format!("Role `{name}` is neither among the manifests nor declared external"),
                Self::missing_help("Role", name, &names),
            );
        }
        for (s, subject) in value
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if subject.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                continue;
            }
            let Some(name) = subject.get("name").and_then(Value::as_str) else {
                continue;
            };
            let subject_ns = subject.get("namespace").and_then(Value::as_str).or(ns);
            if let Resolved::Missing = self.index.resolve("ServiceAccount", subject_ns, name) {
                let names = self.index.names("ServiceAccount", subject_ns);
                self.error(
                    i,
                    Code::UnknownObject,
                    &Pointer::default().key("subjects").index(s).key("name"),
                    format!("ServiceAccount `{name}` is neither among the manifests nor declared external"),
                    Self::missing_help("ServiceAccount", name, &names),
                );
            }
        }
    }

    /// A Sensor: dependencies name EventSources and events that exist;
    /// trigger parameters read declared dependencies and land on the
    /// parameters of the Workflow they submit, which must fit its template.
    fn sensor(&mut self, i: usize, ns: Option<&str>) {
        let value = &self.doc(i).value;
        let root = Pointer::default();
        let mut dependencies = BTreeSet::new();
        for (d, dep) in array(value, "/spec/dependencies").iter().enumerate() {
            let at = root.keys(&["spec", "dependencies"]).index(d);
            if let Some(name) = dep.get("name").and_then(Value::as_str) {
                dependencies.insert(name.to_string());
            }
            let Some(source) = dep.get("eventSourceName").and_then(Value::as_str) else {
                continue;
            };
            match self.index.resolve("EventSource", ns, source) {
                Resolved::External => {}
                Resolved::Missing => {
                    let names = self.index.names("EventSource", ns);
                    self.error(
                        i,
                        Code::UnknownObject,
                        &at.key("eventSourceName"),
                        format!("EventSource `{source}` is neither among the manifests nor declared external"),
                        Self::missing_help("EventSource", source, &names),
                    );
                }
                Resolved::Found(es) => {
                    let Some(event) = dep.get("eventName").and_then(Value::as_str) else {
                        continue;
                    };
                    let events = event_names(&self.doc(es).value);
                    if !events.contains(event) {
                        let path = self.doc(es).path.clone();
                        self.error(
                            i,
                            Code::UnknownObject,
                            &at.key("eventName"),
                            format!("EventSource `{source}` has no event `{event}`"),
                            format!(
                                "{} (in {path})",
                                suggestion("event", event, events.iter().copied())
                            ),
                        );
                    }
                }
            }
        }
        for (t, trigger) in array(value, "/spec/triggers").iter().enumerate() {
            let at = root.keys(&["spec", "triggers"]).index(t).key("template");
            let Some(template) = trigger.get("template") else {
                continue;
            };
            let name = template
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            for kind in ["argoWorkflow", "k8s"] {
                let Some(body) = template.get(kind) else {
                    continue;
                };
                let at = at.key(kind);
                let resource = body.pointer("/source/resource");
                let is_workflow = resource.and_then(|r| r.get("kind")).and_then(Value::as_str)
                    == Some("Workflow");
                let arguments = resource
                    .and_then(|r| r.pointer("/spec/arguments/parameters"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let mut written = BTreeSet::new();
                for (p, param) in body
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let pat = at.key("parameters").index(p);
                    if let Some(dep) = param.pointer("/src/dependencyName").and_then(Value::as_str)
                        && !dependencies.contains(dep)
                    {
                        self.error(
                            i,
                            Code::TriggerTarget,
                            &pat.keys(&["src", "dependencyName"]),
                            format!("trigger `{name}` reads dependency `{dep}`, which the Sensor does not declare"),
                            suggestion("dependency", dep, dependencies.iter().map(String::as_str)),
                        );
                    }
                    let Some(dest) = param.get("dest").and_then(Value::as_str) else {
                        continue;
                    };
                    if !is_workflow {
                        continue;
                    }
                    if let Some(index) = argument_index(dest) {
                        if index < arguments {
                            written.insert(index);
                        } else {
                            self.error(
                                i,
                                Code::TriggerTarget,
                                &pat.key("dest"),
                                format!(
                                    "trigger `{name}` writes `{dest}`, but the Workflow it submits lists {arguments} parameter{}",
                                    if arguments == 1 { "" } else { "s" }
                                ),
                                "a trigger parameter lands on the Workflow's `spec.arguments.parameters` by index: add the parameter to the Workflow, or fix the index".into(),
                            );
                        }
                    } else if dest.starts_with("spec.arguments.parameters") {
                        self.error(
                            i,
                            Code::TriggerTarget,
                            &pat.key("dest"),
                            format!("trigger `{name}` writes `{dest}`, which is no parameter of the Workflow"),
                            "write `spec.arguments.parameters.N.value`, N the index of the parameter".into(),
                        );
                    }
                }
                if is_workflow && let Some(spec) = resource.and_then(|r| r.get("spec")) {
                    let spec_at = at.keys(&["source", "resource", "spec"]);
                    let wf_ns = resource
                        .and_then(|r| r.pointer("/metadata/namespace"))
                        .and_then(Value::as_str)
                        .or(ns);
                    self.workflow_spec(
                        i,
                        &spec_at,
                        spec,
                        wf_ns,
                        &Context::Trigger {
                            name: name.clone(),
                            written,
                        },
                    );
                }
            }
        }
    }

    /// A workflow spec: its entrypoint, exit handler and every task or step
    /// name templates that exist and pass what those templates take; a
    /// `workflowTemplateRef` names a WorkflowTemplate and passes what it
    /// takes.
    fn workflow_spec(
        &mut self,
        i: usize,
        at: &Pointer,
        spec: &Value,
        ns: Option<&str>,
        context: &Context,
    ) {
        let local: Vec<&Value> = spec
            .get("templates")
            .and_then(Value::as_array)
            .map(|t| t.iter().collect())
            .unwrap_or_default();
        let local_names: Vec<&str> = local
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect();
        // The referenced WorkflowTemplate, when there is one and it is known.
        let mut referenced: Option<&Value> = None;
        let mut referenced_external = false;
        let passed = Self::passed(spec, context);
        if let Some(reference) = spec.get("workflowTemplateRef") {
            let name = reference
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let cluster = reference.get("clusterScope").and_then(Value::as_bool) == Some(true);
            let kind = if cluster {
                "ClusterWorkflowTemplate"
            } else {
                "WorkflowTemplate"
            };
            match self.index.resolve(kind, ns, name) {
                Resolved::Found(t) => referenced = Some(&self.doc(t).value),
                Resolved::External => referenced_external = true,
                Resolved::Missing => {
                    referenced_external = true;
                    let names = self.index.names(kind, ns);
                    self.error(
                        i,
                        Code::UnknownTemplate,
                        &at.keys(&["workflowTemplateRef", "name"]),
                        format!("`workflowTemplateRef` names {kind} `{name}`, which is not among the manifests"),
                        Self::missing_help(kind, name, &names),
                    );
                }
            }
            if let Some(target) = referenced {
                self.workflow_arguments(i, at, &passed, target, name, context);
            }
        } else if let Context::Trigger { written, .. } = context {
            // Arguments nobody gives a value: not in the Workflow, not
            // written by the trigger.
            self.valueless_arguments(i, at, spec, written, context);
        }
        let referenced_templates: Vec<&str> = referenced
            .and_then(|r| r.pointer("/spec/templates"))
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let all_names: Vec<&str> = local_names
            .iter()
            .chain(referenced_templates.iter())
            .copied()
            .collect();
        let unknown_ok = referenced_external;
        for field in ["entrypoint", "onExit"] {
            if let Some(name) = spec.get(field).and_then(Value::as_str)
                && !name.contains("{{")
                && !unknown_ok
                && !all_names.contains(&name)
            {
                self.error(
                    i,
                    Code::UnknownTemplate,
                    &at.key(field),
                    format!("`{field}` names template `{name}`, which is not defined"),
                    suggestion("template", name, all_names.iter().copied()),
                );
            }
        }
        // Entrypoint inputs come from the workflow's arguments. Not checked
        // for a WorkflowTemplate, which is often a library of templates, and
        // is given its arguments when submitted.
        let submitted = !matches!(
            (self.doc(i).kind(), context),
            (
                Some("WorkflowTemplate" | "ClusterWorkflowTemplate"),
                Context::Own
            )
        );
        if submitted
            && referenced.is_none()
            && !referenced_external
            && let Some(entry) = spec.get("entrypoint").and_then(Value::as_str)
            && let Some(template) = local
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some(entry))
        {
            let declared: BTreeSet<&str> = params(spec.get("arguments"))
                .iter()
                .filter_map(|p| p.get("name").and_then(Value::as_str))
                .collect();
            for input in params(template.get("inputs")) {
                let Some(name) = input.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if required(input) && !declared.contains(name) {
                    self.error(
                        i,
                        Code::UnboundParameter,
                        &at.key("entrypoint"),
                        format!("the entrypoint `{entry}` needs input `{name}`, which the workflow's arguments do not declare"),
                        format!("add `{name}` to `spec.arguments.parameters`, or give the input a default"),
                    );
                }
            }
        }
        for (t, template) in local.iter().enumerate() {
            let tat = at.key("templates").index(t);
            let tname = template.get("name").and_then(Value::as_str).unwrap_or("?");
            // Template-level references (deprecated, still accepted).
            self.call(
                i,
                &tat,
                template,
                &local,
                ns,
                &format!("template `{tname}`"),
            );
            if let Some(tasks) = template.pointer("/dag/tasks").and_then(Value::as_array) {
                let names: Vec<&str> = tasks
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str))
                    .collect();
                for (k, task) in tasks.iter().enumerate() {
                    let kat = tat.keys(&["dag", "tasks"]).index(k);
                    let kname = task.get("name").and_then(Value::as_str).unwrap_or("?");
                    self.call(i, &kat, task, &local, ns, &format!("task `{kname}`"));
                    for (d, dep) in task
                        .get("dependencies")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        if let Some(dep) = dep.as_str()
                            && !names.contains(&dep)
                        {
                            self.error(
                                i,
                                Code::UnknownStep,
                                &kat.key("dependencies").index(d),
                                format!("task `{kname}` depends on `{dep}`, which is not a task of this DAG"),
                                suggestion("task", dep, names.iter().copied()),
                            );
                        }
                    }
                }
            }
            if let Some(groups) = template.get("steps").and_then(Value::as_array) {
                for (g, group) in groups.iter().enumerate() {
                    for (s, step) in group.as_array().into_iter().flatten().enumerate() {
                        let sat = tat.key("steps").index(g).index(s);
                        let sname = step.get("name").and_then(Value::as_str).unwrap_or("?");
                        self.call(i, &sat, step, &local, ns, &format!("step `{sname}`"));
                    }
                }
            }
        }
    }

    /// Argument names a workflow passes (with a value, or written by the
    /// trigger that submits it).
    fn passed(spec: &Value, context: &Context) -> Vec<(usize, String)> {
        params(spec.get("arguments"))
            .iter()
            .enumerate()
            .filter_map(|(n, p)| {
                let name = p.get("name").and_then(Value::as_str)?;
                let has_value = p.get("value").is_some() || p.get("valueFrom").is_some();
                let given = match context {
                    Context::Own => true,
                    Context::Trigger { written, .. } => has_value || written.contains(&n),
                };
                given.then(|| (n, name.to_string()))
            })
            .collect()
    }

    fn who(context: &Context) -> String {
        match context {
            Context::Own => "the workflow".to_string(),
            Context::Trigger { name, .. } => format!("the Workflow that trigger `{name}` submits"),
        }
    }

    /// Arguments of a workflow that runs a WorkflowTemplate.
    fn workflow_arguments(
        &mut self,
        i: usize,
        at: &Pointer,
        passed: &[(usize, String)],
        target: &Value,
        target_name: &str,
        context: &Context,
    ) {
        let target_spec = target.get("spec").unwrap_or(&Value::Null);
        let args = params(target_spec.get("arguments"));
        let entry = target_spec
            .get("entrypoint")
            .and_then(Value::as_str)
            .and_then(|e| template_named(target_spec, e));
        let inputs = entry.map(|t| params(t.get("inputs"))).unwrap_or_default();
        let mut declared: Vec<&str> = args
            .iter()
            .chain(inputs.iter())
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .collect();
        declared.sort_unstable();
        declared.dedup();
        let who = Self::who(context);
        for (n, name) in passed {
            if !declared.contains(&name.as_str()) {
                self.error(
                    i,
                    Code::UnknownParameter,
                    &at.keys(&["arguments", "parameters"]).index(*n).key("name"),
                    format!("{who} passes `{name}`, which WorkflowTemplate `{target_name}` does not declare"),
                    suggestion("parameter", name, declared.iter().copied()),
                );
            }
        }
        let given: BTreeSet<&str> = passed.iter().map(|(_, n)| n.as_str()).collect();
        let arg_names: BTreeSet<&str> = args
            .iter()
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .collect();
        let mut missing: Vec<&str> = args
            .iter()
            .filter(|p| p.get("value").is_none() && p.get("valueFrom").is_none())
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .collect();
        missing.extend(
            inputs
                .iter()
                .filter(|p| required(p))
                .filter_map(|p| p.get("name").and_then(Value::as_str))
                .filter(|n| !arg_names.contains(n)),
        );
        for name in missing {
            if !given.contains(name) {
                self.error(
                    i,
                    Code::UnboundParameter,
                    &at.keys(&["workflowTemplateRef", "name"]),
                    format!("{who} does not pass `{name}`, which WorkflowTemplate `{target_name}` requires (it has no value)"),
                    format!("add `{name}` with a value to `spec.arguments.parameters`{}", match context {
                        Context::Own => "",
                        Context::Trigger { .. } => ", or write it from the event with a trigger parameter",
                    }),
                );
            }
        }
    }

    /// In a Workflow a trigger submits without a template reference: every
    /// argument needs a value, from the Workflow or from the trigger.
    fn valueless_arguments(
        &mut self,
        i: usize,
        at: &Pointer,
        spec: &Value,
        written: &BTreeSet<usize>,
        context: &Context,
    ) {
        let who = Self::who(context);
        for (n, p) in params(spec.get("arguments")).iter().enumerate() {
            if p.get("value").is_some() || p.get("valueFrom").is_some() || written.contains(&n) {
                continue;
            }
            let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
            self.error(
                i,
                Code::UnboundParameter,
                &at.keys(&["arguments", "parameters"]).index(n).key("name"),
                format!("{who} lists `{name}` without a value, and no trigger parameter writes it"),
                format!("give it a `value`, or add a trigger parameter with `dest: spec.arguments.parameters.{n}.value`"),
            );
        }
    }

    /// A task, step or template that calls a template (`template` or
    /// `templateRef`) with `arguments`.
    fn call<'v>(
        &mut self,
        i: usize,
        at: &Pointer,
        caller: &Value,
        local: &[&'v Value],
        ns: Option<&str>,
        who: &str,
    ) where
        'a: 'v,
    {
        let target: Option<(&'v Value, String)> = if let Some(name) =
            caller.get("template").and_then(Value::as_str)
        {
            if name.contains("{{") {
                return;
            }
            match local
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
            {
                Some(t) => Some((*t, format!("template `{name}`"))),
                None => {
                    let names: Vec<&str> = local
                        .iter()
                        .filter_map(|t| t.get("name").and_then(Value::as_str))
                        .collect();
                    self.error(
                        i,
                        Code::UnknownTemplate,
                        &at.key("template"),
                        format!("{who} runs template `{name}`, which is not defined here"),
                        suggestion("template", name, names.iter().copied()),
                    );
                    None
                }
            }
        } else if let Some(reference) = caller.get("templateRef") {
            let name = reference
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let template = reference
                .get("template")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name.contains("{{") || template.contains("{{") {
                return;
            }
            let cluster = reference.get("clusterScope").and_then(Value::as_bool) == Some(true);
            let kind = if cluster {
                "ClusterWorkflowTemplate"
            } else {
                "WorkflowTemplate"
            };
            match self.index.resolve(kind, ns, name) {
                Resolved::External => None,
                Resolved::Missing => {
                    let names = self.index.names(kind, ns);
                    self.error(
                        i,
                        Code::UnknownTemplate,
                        &at.keys(&["templateRef", "name"]),
                        format!(
                            "{who} refers to {kind} `{name}`, which is not among the manifests"
                        ),
                        Self::missing_help(kind, name, &names),
                    );
                    None
                }
                Resolved::Found(t) => {
                    let target_doc = &self.doc(t).value;
                    let spec = target_doc.get("spec").unwrap_or(&Value::Null);
                    match template_named(spec, template) {
                        Some(tv) => Some((tv, format!("template `{template}` of {kind} `{name}`"))),
                        None => {
                            let names: Vec<String> = spec
                                .get("templates")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .filter_map(|t| {
                                    t.get("name").and_then(Value::as_str).map(str::to_string)
                                })
                                .collect();
                            self.error(
                                i,
                                Code::UnknownTemplate,
                                &at.keys(&["templateRef", "template"]),
                                format!("{kind} `{name}` has no template `{template}`"),
                                suggestion("template", template, names.iter().map(String::as_str)),
                            );
                            None
                        }
                    }
                }
            }
        } else {
            None
        };
        let Some((target, target_label)) = target else {
            return;
        };
        let inputs = params(target.get("inputs"));
        let declared: Vec<&str> = inputs
            .iter()
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .collect();
        let passed: Vec<(usize, &str)> = params(caller.get("arguments"))
            .iter()
            .enumerate()
            .filter_map(|(n, p)| p.get("name").and_then(Value::as_str).map(|s| (n, s)))
            .collect();
        for (n, name) in &passed {
            if !declared.contains(name) {
                self.error(
                    i,
                    Code::UnknownParameter,
                    &at.keys(&["arguments", "parameters"]).index(*n).key("name"),
                    format!(
                        "{who} passes `{name}`, which {target_label} does not declare as an input"
                    ),
                    suggestion("input", name, declared.iter().copied()),
                );
            }
        }
        for input in &inputs {
            let Some(name) = input.get("name").and_then(Value::as_str) else {
                continue;
            };
            if required(input) && !passed.iter().any(|(_, p)| *p == name) {
                let point = if caller.get("templateRef").is_some() {
                    at.keys(&["templateRef", "template"])
                } else if caller.get("template").is_some() {
                    at.key("template")
                } else {
                    at.key("name")
                };
                self.error(
                    i,
                    Code::UnboundParameter,
                    &point,
                    format!("{who} does not pass `{name}`, a required input of {target_label}"),
                    format!(
                        "pass `{name}` under `arguments.parameters`, or give the input a default"
                    ),
                );
            }
        }
    }
}

/// A template of a workflow spec by name.
fn template_named<'a>(spec: &'a Value, name: &str) -> Option<&'a Value> {
    spec.get("templates")
        .and_then(Value::as_array)?
        .iter()
        .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
}

/// `x.parameters`, as objects.
fn params(holder: Option<&Value>) -> Vec<&Map<String, Value>> {
    holder
        .and_then(|h| h.get("parameters"))
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// An input without a default or value must be passed.
fn required(p: &Map<String, Value>) -> bool {
    !p.contains_key("default") && !p.contains_key("value") && !p.contains_key("valueFrom")
}

fn array<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Keys of a ConfigMap or Secret.
fn data_keys(value: &Value) -> BTreeSet<&str> {
    ["data", "binaryData", "stringData"]
        .iter()
        .filter_map(|f| value.get(f).and_then(Value::as_object))
        .flat_map(|m| m.keys().map(String::as_str))
        .collect()
}

/// Event names of an EventSource: the keys of each event-source map in its
/// spec (`spec.github.NAME`, `spec.webhook.NAME`, …).
fn event_names(value: &Value) -> BTreeSet<&str> {
    const NOT_SOURCES: &[&str] = &["template", "service", "eventBusName", "replica", "replicas"];
    value
        .get("spec")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !NOT_SOURCES.contains(&k.as_str()))
        .filter_map(|(_, v)| v.as_object())
        .flat_map(|m| m.keys().map(String::as_str))
        .collect()
}

/// `spec.arguments.parameters.N[.value|.name]` → N.
fn argument_index(dest: &str) -> Option<usize> {
    let rest = dest.strip_prefix("spec.arguments.parameters.")?;
    let (n, tail) = rest.split_once('.').unwrap_or((rest, ""));
    matches!(tail, "" | "value" | "name").then_some(())?;
    n.parse().ok()
}

/// Whether a concrete key can be what a templated key computes: the literal
/// parts in order, anything in place of each `{{…}}`.
fn template_matches(template: &str, key: &str) -> bool {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        parts.push(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    parts.push(rest);
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !key.starts_with(first) || key.len() < first.len() + last.len() || !key.ends_with(last) {
        return false;
    }
    let mut middle = &key[first.len()..key.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match middle.find(part) {
            Some(at) => middle = &middle[at + part.len()..],
            None => return false,
        }
    }
    // Each expression must compute something.
    !key[first.len()..key.len() - last.len()].is_empty() || parts.len() == 1
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(|k| format!("`{k}`")).collect();
    if items.is_empty() {
        "no keys".to_string()
    } else {
        format!("keys {}", items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_keys() {
        let t = "per-repo.{{=sprig.replace(\"/\", \".\", workflow.parameters.repository)}}";
        assert!(template_matches(t, "per-repo.5dlabs.cto"));
        assert!(!template_matches(t, "per-org.5dlabs"));
        assert!(!template_matches(t, "per-repo."));
        assert!(template_matches("a-{{x}}-b", "a-1-b"));
        assert!(!template_matches("a-{{x}}-b", "a-1-c"));
    }

    #[test]
    fn argument_indices() {
        assert_eq!(argument_index("spec.arguments.parameters.3.value"), Some(3));
        assert_eq!(argument_index("spec.arguments.parameters.0"), Some(0));
        assert_eq!(argument_index("spec.arguments.parameters.x.value"), None);
        assert_eq!(argument_index("metadata.name"), None);
    }
}
