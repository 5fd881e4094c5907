//! `orchctl validate`: checks across objects, offline, and schema validation.
//!
//! The input is a list of [`Document`]s: the objects orchctl renders from the
//! spec, or manifests read from files (hand-written Argo YAML too, any number
//! of documents per file). Every document gets a [`Record`] with a
//! [`Status`] and its findings, each a located [`Diagnostic`]:
//!
//! - references between objects resolve (`cross`): `templateRef`,
//!   `workflowTemplateRef`, local templates and arguments against the inputs
//!   they land on; Sensor trigger parameters and dependencies; semaphore
//!   ConfigMaps and keys; ServiceAccounts, ConfigMaps, Secrets and Roles
//!   referenced; label keys and values; ConfigMap sizes; unique names;
//! - with a [`SchemaSet`], each object matches the JSON Schema of its kind.
//!
//! A reference to an object that is deliberately not among the manifests
//! (a Secret synced by External Secrets, a ServiceAccount made elsewhere) is
//! declared with an [`External`]. The library never prints: [`report`]
//! formats a [`Report`] as text, JSON, JUnit XML or GitHub annotations.

mod cross;
pub mod report;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};
use crate::diff::trace;
use crate::load::Loaded;
use crate::schemas::{SchemaSet, Verdict};
use crate::source::{FileId, Sources, Span, slash_path};
use crate::yaml::{self, Node};

/// Most files read from the paths given.
const MAX_FILES: usize = 100_000;
/// Largest manifest file read (bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Finds the spec element that produced a field of a rendered object.
pub type Locator = Arc<dyn Fn(&Pointer) -> Option<Span> + Send + Sync>;

/// One object to validate.
#[derive(Clone)]
pub struct Document {
    /// The file it is (or would be) in, as shown: `generated/sensors/x.yaml`.
    pub path: String,
    /// The object.
    pub value: Value,
    /// Its YAML tree, when read from text: every finding is located in it.
    pub node: Option<Node>,
    /// Where to point when there is no tree: the spec element the object was
    /// generated from.
    pub origin: Option<Span>,
    /// Finer than `origin`: the spec element of a field (a chain's step).
    pub locator: Option<Locator>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("path", &self.path)
            .field("value", &self.value)
            .field("node", &self.node)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Document {
    /// A string field at `path`.
    #[must_use]
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        str_at(&self.value, path)
    }

    #[must_use]
    pub fn kind(&self) -> Option<&str> {
        self.str_at(&["kind"])
    }

    #[must_use]
    pub fn api_version(&self) -> Option<&str> {
        self.str_at(&["apiVersion"])
    }

    /// `metadata.name`, else `metadata.generateName`.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.str_at(&["metadata", "name"])
            .or_else(|| self.str_at(&["metadata", "generateName"]))
    }

    #[must_use]
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(&["metadata", "namespace"])
    }

    /// The line the document starts on, when read from text.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.node.as_ref().map(|n| n.span.line)
    }

    /// `Kind name` (or just the kind), for messages.
    #[must_use]
    pub fn label(&self) -> String {
        match (self.kind(), self.name()) {
            (Some(k), Some(n)) => format!("{k} `{n}`"),
            (Some(k), None) => k.to_string(),
            (None, _) => "document".to_string(),
        }
    }

    /// The span of the node at `pointer` (the deepest that exists), or the
    /// document's origin.
    #[must_use]
    pub fn locate(&self, pointer: &Pointer) -> Option<Span> {
        match &self.node {
            Some(root) => Some(walk_node(root, pointer).0.span),
            None => self
                .locator
                .as_ref()
                .and_then(|l| l(pointer))
                .or(self.origin),
        }
    }

    /// The span of `key` in the mapping at `pointer`, or what
    /// [`Document::locate`] finds.
    #[must_use]
    pub fn locate_key(&self, pointer: &Pointer, key: &str) -> Option<Span> {
        let Some(root) = &self.node else {
            return self.locate(&pointer.key(key));
        };
        match walk_node(root, pointer) {
            (node, true) => node.entry(key).map(|(k, _)| k.span).or(Some(node.span)),
            (node, false) => Some(node.span),
        }
    }
}

/// The deepest node along `pointer`, and whether it is the node at
/// `pointer` itself.
fn walk_node<'a>(root: &'a Node, pointer: &Pointer) -> (&'a Node, bool) {
    let mut node = root;
    for token in &pointer.0 {
        let next = match (&node.value, token) {
            (yaml::Value::Map(_), Token::Key(k)) => node.get(k),
            (yaml::Value::Map(_), Token::Index(i)) => node.get(&i.to_string()),
            (yaml::Value::Seq(items), Token::Index(i)) => items.get(*i),
            (yaml::Value::Seq(items), Token::Key(k)) => {
                k.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return (node, false),
        }
    }
    (node, true)
}

/// The one unexpected property a schema error names, if it names one:
/// `Additional properties are not allowed ('x' was unexpected)`.
fn unexpected_property(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("Additional properties are not allowed (")?;
    let rest = rest.strip_suffix(" was unexpected)")?;
    let name = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    (!name.contains('\'')).then_some(name)
}

/// A string at a path of keys.
#[must_use]
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, k| v.get(k))
        .and_then(Value::as_str)
}

/// One step of a [`Pointer`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Token {
    Key(String),
    Index(usize),
}

/// A JSON Pointer into a document (`/spec/templates/0/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pointer(pub Vec<Token>);

impl Pointer {
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Token::Key(key.to_string()));
        p
    }

    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Token::Index(index));
        p
    }

    /// Follow `keys` (all object keys).
    #[must_use]
    pub fn keys(&self, keys: &[&str]) -> Self {
        keys.iter().fold(self.clone(), |p, k| p.key(k))
    }

    /// Parse `/a/b/0` (`~1` is `/`, `~0` is `~`); every token is a key, which
    /// [`Document::locate`] reads as an index where the node is a list.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        Self(
            text.split('/')
                .skip(1)
                .filter(|t| !t.is_empty())
                .map(|t| Token::Key(t.replace("~1", "/").replace("~0", "~")))
                .collect(),
        )
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for token in &self.0 {
            match token {
                Token::Key(k) => write!(f, "/{}", k.replace('~', "~0").replace('/', "~1"))?,
                Token::Index(i) => write!(f, "/{i}")?,
            }
        }
        Ok(())
    }
}

/// An object declared to exist outside the manifests: `KIND/NAME` or
/// `KIND/NAMESPACE/NAME`; `NAME` may be `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// Lowercase kind.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl External {
    #[must_use]
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            kind: kind.to_ascii_lowercase(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// Whether this declaration covers `kind` `namespace/name`.
    #[must_use]
    pub fn covers(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
            && (self.name == "*" || self.name == name)
            && match (&self.namespace, namespace) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl FromStr for External {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &&str| !s.is_empty();
        match parts.as_slice() {
            [kind, name] if ok(kind) && ok(name) => Ok(Self::new(kind, None, name)),
            [kind, ns, name] if ok(kind) && ok(ns) && ok(name) => {
                Ok(Self::new(kind, Some(ns), name))
            }
            _ => Err(format!(
                "`{text}` is not KIND/NAME or KIND/NAMESPACE/NAME (e.g. Secret/github-app)"
            )),
        }
    }
}

/// How an object fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Every check passed.
    Valid,
    /// A check failed.
    Invalid,
    /// It could not be checked: the file did not parse, or its schema did
    /// not load.
    Error,
    /// Not validated against a schema: the schema directory has none for its
    /// kind, or it is not a Kubernetes object (a kustomization). Checks
    /// across objects still ran.
    Skipped,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

/// One problem with an object.
#[derive(Debug, Clone)]
pub struct Finding {
    pub diagnostic: Diagnostic,
    /// Where in the object, as a JSON Pointer.
    pub pointer: Option<String>,
}

/// The result for one document (or one file that yielded none).
#[derive(Debug, Clone)]
pub struct Record {
    pub path: String,
    pub line: Option<usize>,
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: Status,
    pub findings: Vec<Finding>,
    /// Things worth knowing that are not problems ("this semaphore key is
    /// computed at run time").
    pub notes: Vec<String>,
}

impl Record {
    fn for_document(doc: &Document) -> Self {
        Self {
            path: doc.path.clone(),
            line: doc.line(),
            api_version: doc.api_version().map(str::to_string),
            kind: doc.kind().map(str::to_string),
            namespace: doc.namespace().map(str::to_string),
            name: doc.name().map(str::to_string),
            status: Status::Valid,
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn for_file(path: &str, status: Status, diagnostic: Diagnostic) -> Self {
        Self {
            path: path.to_string(),
            line: diagnostic.span.map(|s| s.line),
            api_version: None,
            kind: None,
            namespace: None,
            name: None,
            status,
            findings: vec![Finding {
                diagnostic,
                pointer: None,
            }],
            notes: Vec::new(),
        }
    }

    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.diagnostic.is_error())
    }
}

/// Everything a validation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub records: Vec<Record>,
    /// Files read (or objects rendered).
    pub files: usize,
}

impl Report {
    /// Whether every object is valid (or skipped).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.records
            .iter()
            .all(|r| matches!(r.status, Status::Valid | Status::Skipped))
    }

    /// How many records have `status`.
    #[must_use]
    pub fn count(&self, status: Status) -> usize {
        self.records.iter().filter(|r| r.status == status).count()
    }
}

/// Manifests read from paths: the documents, plus a record for each file
/// that could not be read or parsed.
#[derive(Debug, Default)]
pub struct Input {
    pub documents: Vec<Document>,
    pub records: Vec<Record>,
    pub files: usize,
}

/// Read manifests from files and directories (recursively: `*.yaml`,
/// `*.yml`, `*.json`, hidden entries skipped); `-` reads standard input.
/// Each file is registered in `sources` so findings can show its lines.
pub fn read_paths(paths: &[PathBuf], sources: &mut Sources) -> Input {
    let mut input = Input::default();
    for path in paths {
        let display = slash_path(path);
        let (documents, records) = (input.documents.len(), input.records.len());
        if display == "-" {
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => read_text(&mut input, sources, "<stdin>", path, text),
                Err(e) => input.records.push(Record::for_file(
                    "<stdin>",
                    Status::Error,
                    Diagnostic::error(Code::Io, format!("cannot read standard input: {e}")),
                )),
            }
            no_manifests(&mut input, "<stdin>", documents, records);
            continue;
        }
        // A file found in a directory is read only if it is a regular file;
        // one named on the command line may be a pipe (`<(…)`).
        let walked = path.is_dir();
        let files = if walked {
            let mut files = Vec::new();
            if let Err(e) = manifest_files(path, &mut files) {
                input.records.push(Record::for_file(
                    &display,
                    Status::Error,
                    Diagnostic::error(Code::Io, format!("cannot read `{display}`: {e}")),
                ));
                continue;
            }
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        // A path that holds nothing to check is an error, not a pass: a
        // mistyped directory would otherwise pass CI.
        if walked && files.is_empty() {
            input.records.push(Record::for_file(
                &display,
                Status::Error,
                Diagnostic::error(
                    Code::Io,
                    format!("no manifests under `{display}`: no *.yaml, *.yml or *.json file"),
                )
                .help("point validate at the directory `orchctl render` writes, e.g. `generated`"),
            ));
            continue;
        }
        for file in files {
            let shown = slash_path(&file);
            let text = std::fs::metadata(&file)
                .and_then(|m| {
                    if m.len() > MAX_FILE_BYTES {
                        Err(std::io::Error::other(format!(
                            "larger than {MAX_FILE_BYTES} bytes"
                        )))
                    } else if walked {
                        crate::source::read_regular(&file)
                    } else {
                        std::fs::read(&file)
                    }
                })
                .and_then(|bytes| String::from_utf8(bytes).map_err(std::io::Error::other));
            match text {
                Ok(text) => read_text(&mut input, sources, &shown, &file, text),
                Err(e) => input.records.push(Record::for_file(
                    &shown,
                    Status::Error,
                    Diagnostic::error(Code::Io, format!("cannot read `{shown}`: {e}"))
                        .help("check that the path exists and is UTF-8 YAML or JSON"),
                )),
            }
        }
        no_manifests(&mut input, &display, documents, records);
    }
    input
}

/// An error for `shown` if reading it added no document and no finding
/// (`documents` and `records` were the counts before).
fn no_manifests(input: &mut Input, shown: &str, documents: usize, records: usize) {
    if input.documents.len() == documents && input.records.len() == records {
        input.records.push(Record::for_file(
            shown,
            Status::Error,
            Diagnostic::error(
                Code::Io,
                format!("no manifests in `{shown}`: it holds no YAML or JSON document"),
            )
            .help("each document is one Kubernetes object: `apiVersion`, `kind`, `metadata`, …"),
        ));
    }
}

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            manifest_files(&path, out)?;
        } else if [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e)) {
            if out.len() >= MAX_FILES {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_FILES} manifest files"
                )));
            }
            out.push(path);
        }
    }
    Ok(())
}

fn read_text(input: &mut Input, sources: &mut Sources, shown: &str, path: &Path, text: String) {
    input.files += 1;
    let file: FileId = sources.add(shown.to_string(), path.to_path_buf(), text);
    let text = sources
        .get(file)
        .map(|f| f.text.as_str())
        .unwrap_or_default();
    let nodes = match yaml::parse_documents(text, file) {
        Ok(nodes) => nodes,
        Err(d) => {
            input
                .records
                .push(Record::for_file(shown, Status::Error, d));
            return;
        }
    };
    for node in nodes {
        match yaml::de::from_node::<Value>(&node) {
            Ok(value @ Value::Object(_)) => input.documents.push(Document {
                path: shown.to_string(),
                value,
                node: Some(node),
                origin: None,
                locator: None,
            }),
            Ok(_) => input.records.push(Record::for_file(
                shown,
                Status::Invalid,
                Diagnostic::error(Code::InvalidValue, "a manifest document must be a mapping")
                    .at(Some(node.span))
                    .help("each document is one Kubernetes object: `apiVersion`, `kind`, `metadata`, …"),
            )),
            Err(e) => input
                .records
                .push(Record::for_file(shown, Status::Error, e.into_diagnostic())),
        }
    }
}

/// The objects a compiled spec renders, as documents under `out` (the
/// output directory as shown), each located at the spec element it came
/// from.
#[must_use]
pub fn rendered(compiled: crate::Compiled, loaded: &Loaded, out: &str) -> Vec<Document> {
    let shared = Arc::new(loaded.clone());
    compiled
        .objects
        .into_iter()
        .map(|object| {
            let spec = Arc::clone(&shared);
            // Taken before the JSON value is made: the locator makes its own
            // only if a finding needs a place.
            let traced = object.clone();
            let locator: Locator = Arc::new(move |pointer: &Pointer| {
                let path = path_segs(traced.value(), pointer);
                trace::field(&spec, &traced, &path).map(|t| t.span)
            });
            Document {
                path: format!("{out}/{}", object.path),
                origin: trace::object(loaded, &object).map(|t| t.span),
                value: object.into_value(),
                node: None,
                locator: Some(locator),
            }
        })
        .collect()
}

/// A pointer as the path [`trace`] reads: list items by `name` where they
/// have one.
fn path_segs(value: &Value, pointer: &Pointer) -> Vec<trace::PathSeg> {
    let mut out = Vec::new();
    let mut at = Some(value);
    for token in &pointer.0 {
        let here = at;
        let (seg, next) = match (here, token) {
            (Some(Value::Array(items)), t) => {
                let i = match t {
                    Token::Index(i) => Some(*i),
                    Token::Key(k) => k.parse().ok(),
                };
                let item = i.and_then(|i| items.get(i));
                let seg = match (item.and_then(|v| v.get("name")).and_then(Value::as_str), i) {
                    (Some(name), _) => trace::PathSeg::Name(name.to_string()),
                    (None, Some(i)) => trace::PathSeg::Index(i),
                    (None, None) => break,
                };
                (seg, item)
            }
            (v, Token::Key(k)) => (trace::PathSeg::Key(k.clone()), v.and_then(|v| v.get(k))),
            (v, Token::Index(i)) => (
                trace::PathSeg::Key(i.to_string()),
                v.and_then(|v| v.get(i.to_string())),
            ),
        };
        out.push(seg);
        at = next;
    }
    out
}

/// Every Secret the documents reference, as external declarations: for
/// orchctl's own output, the spec's secret references are the declarations
/// (orchctl never generates a Secret, and a spec never holds one).
#[must_use]
pub fn referenced_secrets(documents: &[Document]) -> Vec<External> {
    let mut out: Vec<External> = Vec::new();
    for doc in documents {
        for r in cross::references(&doc.value) {
            if r.kind == "Secret" && !r.name.contains("{{") {
                let e = External::new("Secret", doc.namespace(), &r.name);
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// A report of a spec that does not compile: a record per spec file with
/// its diagnostics, so every output format can show them.
#[must_use]
pub fn spec_report(diagnostics: &crate::Diagnostics, sources: &Sources) -> Report {
    let mut records: Vec<Record> = Vec::new();
    for d in &diagnostics.0 {
        let path = d.span.map_or_else(
            || "pipelines".to_string(),
            |s| sources.path(s.file).to_string(),
        );
        let finding = Finding {
            diagnostic: d.clone(),
            pointer: None,
        };
        match records.iter_mut().find(|r| r.path == path) {
            Some(r) => r.findings.push(finding),
            None => records.push(Record {
                line: None,
                ..Record::for_file(&path, Status::Valid, d.clone())
            }),
        }
    }
    for r in &mut records {
        r.status = if r.has_errors() {
            Status::Invalid
        } else {
            Status::Valid
        };
    }
    Report {
        files: records.len(),
        records,
    }
}

/// What to check besides the references between objects.
#[derive(Default)]
pub struct Options<'a> {
    /// Objects that exist outside the manifests.
    pub externals: Vec<External>,
    /// Validate each object against the schema of its kind.
    pub schemas: Option<&'a mut SchemaSet>,
}

/// Validate `documents` (plus the `records` of files that did not parse).
#[must_use]
pub fn validate(documents: &[Document], records: Vec<Record>, options: &mut Options) -> Report {
    let mut out: Vec<Record> = documents.iter().map(Record::for_document).collect();
    let mut skipped = vec![false; documents.len()];
    let mut broken = vec![false; documents.len()];
    for (i, doc) in documents.iter().enumerate() {
        let record = &mut out[i];
        let missing: Vec<&str> = ["apiVersion", "kind"]
            .into_iter()
            .filter(|k| doc.str_at(&[k]).is_none())
            .collect();
        if !missing.is_empty() {
            record.findings.push(Finding {
                diagnostic: Diagnostic::error(
                    Code::MissingField,
                    format!(
                        "{}document has no {}",
                        prefix(doc),
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                )
                .at(doc.locate(&Pointer::default()))
                .help("every Kubernetes object names its `apiVersion` and `kind`"),
                pointer: Some("/".into()),
            });
            continue;
        }
        if is_kustomization(doc) {
            skipped[i] = true;
            record
                .notes
                .push("a kustomization, not a Kubernetes object: not validated".into());
            continue;
        }
        if let Some(schemas) = options.schemas.as_deref_mut() {
            match schemas.validate(&doc.value) {
                Verdict::Valid => {}
                Verdict::Skipped => {
                    skipped[i] = true;
                    record.notes.push(format!(
                        "no schema for kind `{}` in the schema directory",
                        doc.kind().unwrap_or_default()
                    ));
                }
                Verdict::Error(e) => {
                    broken[i] = true;
                    record.findings.push(Finding {
                        diagnostic: Diagnostic::error(
                            Code::Io,
                            format!(
                                "{}the schema of `{}` does not load: {e}",
                                prefix(doc),
                                doc.kind().unwrap_or_default()
                            ),
                        )
                        .at(doc.locate(&Pointer::default()))
                        .help("check the schema directory given to --schemas"),
                        pointer: None,
                    });
                }
                Verdict::Invalid(mut errors) => {
                    // `allOf` and `oneOf` branches repeat the same error.
                    let mut seen = std::collections::BTreeSet::new();
                    errors.retain(|e| seen.insert(e.clone()));
                    for error in errors {
                        let (path, message) = error
                            .split_once(": ")
                            .map_or(("/", error.as_str()), |(p, m)| (p, m));
                        let pointer = Pointer::parse(path);
                        let span = match unexpected_property(message) {
                            Some(key) => doc.locate_key(&pointer, key),
                            None => doc.locate(&pointer),
                        };
                        record.findings.push(Finding {
                            diagnostic: Diagnostic::error(
                                Code::SchemaViolation,
                                format!("{}{} at {path}: {message}", prefix(doc), doc.label()),
                            )
                            .at(span)
                            .help(format!(
                                "the upstream schema of {} rejects this; fix the field at {path}",
                                doc.kind().unwrap_or_default()
                            )),
                            pointer: Some(path.to_string()),
                        });
                    }
                }
            }
        }
    }
    let checkable: Vec<bool> = documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.kind().is_some() && d.api_version().is_some() && !(skipped[i] && is_kustomization(d))
        })
        .collect();
    let cross = cross::check(documents, &checkable, &options.externals);
    for (i, finding) in cross.findings {
        out[i].findings.push(finding);
    }
    for (i, note) in cross.notes {
        out[i].notes.push(note);
    }
    for (i, record) in out.iter_mut().enumerate() {
        record.status = if broken[i] {
            Status::Error
        } else if record.has_errors() {
            Status::Invalid
        } else if skipped[i] {
            Status::Skipped
        } else {
            Status::Valid
        };
    }
    // In file order; documents of one file in their order.
    let mut all = records;
    all.extend(out);
    all.sort_by(|a, b| a.path.cmp(&b.path));
    Report {
        records: all,
        files: 0,
    }
}

fn is_kustomization(doc: &Document) -> bool {
    doc.api_version()
        .is_some_and(|a| a.starts_with("kustomize.config.k8s.io/"))
}

/// `generated/x.yaml: ` for documents located in the spec rather than in
/// their own text, so the message still names the object's file.
pub(crate) fn prefix(doc: &Document) -> String {
    if doc.node.is_none() {
        format!("{}: ", doc.path)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers() {
        let p = Pointer::default().keys(&["spec", "a/b"]).index(3);
        assert_eq!(p.to_string(), "/spec/a~1b/3");
        assert_eq!(
            Pointer::parse("/spec/a~1b/3"),
            Pointer::default().keys(&["spec", "a/b", "3"])
        );
        assert_eq!(Pointer::default().to_string(), "/");
    }

    #[test]
    fn externals() {
        let e: External = "Secret/github-app".parse().unwrap();
        assert!(e.covers("Secret", Some("agents"), "github-app"));
        assert!(!e.covers("ConfigMap", None, "github-app"));
        let e: External = "configmap/agents/*".parse().unwrap();
        assert!(e.covers("ConfigMap", Some("agents"), "x"));
        assert!(!e.covers("ConfigMap", Some("other"), "x"));
        assert!("Secret".parse::<External>().is_err());
        assert!("Secret//x".parse::<External>().is_err());
    }

    #[test]
    fn locates_pointers_in_text() {
        let mut sources = Sources::new();
        let mut input = Input::default();
        read_text(
            &mut input,
            &mut sources,
            "x.yaml",
            Path::new("x.yaml"),
            "a: 1\n---\nkind: X\nspec:\n  list:\n    - name: one\n    - name: two\n".into(),
        );
        assert_eq!(input.documents.len(), 2);
        let doc = &input.documents[1];
        assert_eq!(doc.line(), Some(3));
        let span = doc.locate(&Pointer::parse("/spec/list/1/name")).unwrap();
        assert_eq!((span.line, span.col), (7, 13));
        let span = doc.locate(&Pointer::parse("/spec/list/9")).unwrap();
        assert_eq!(span.line, 6, "the deepest node that exists");
    }
}
