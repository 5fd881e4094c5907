//! `orchctl diff`: what a change to the spec changes in the generated
//! objects, object by object and field by field, each change traced to the
//! spec element that produced it.
//!
//! Both sides are compiled from the spec — at a git revision ([`git`]) and
//! in the working tree — so the diff is of what orchctl *would* generate, not
//! of what happens to be committed under `generated/`. Objects are matched by
//! apiVersion, kind, namespace and name; lists of items with unique `name`s
//! are matched by name, so inserting a step shows one added task, not every
//! later task changed. [`report`] formats the result as text, Markdown (for a
//! pull-request comment) or JSON.

// A failure is returned once per command, never in a loop; boxing it would
// buy nothing but noise.
#![allow(clippy::result_large_err)]

pub mod git;
pub mod report;
pub mod trace;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::Loaded;
use crate::lower::Object;
use crate::source::{Sources, slash_path};
pub use git::Revision;
pub use trace::PathSeg;

/// One compiled side of a diff.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub loaded: Loaded,
    pub objects: Vec<Object>,
    /// How its spec files are shown: `pipelines` (they are shown as
    /// `pipelines/agents.yaml`).
    pub label: String,
    /// `Some(short commit)` for a revision, `None` for the working tree.
    pub revision: Option<String>,
}

/// Why a side could not be compiled.
#[derive(Debug)]
pub enum Failure {
    /// Git or the file system failed.
    Diagnostic(Diagnostic),
    /// The spec at the revision does not compile; the sources are shown as
    /// `pipelines@REV/…`.
    Spec {
        sources: Sources,
        diagnostics: Diagnostics,
        revision: String,
    },
}

/// The spec in `pipelines` at the base revision (`base`, or the merge base
/// with the default branch, or `HEAD`), compiled. A revision without the
/// directory compiles to no objects.
///
/// # Errors
/// When git fails, the revision does not exist, or the spec at it does not
/// compile.
pub fn base_side(pipelines: &Path, base: Option<&str>) -> Result<(Revision, Side), Failure> {
    let label = slash_path(pipelines).trim_end_matches('/').to_string();
    // The directory itself, unless it is a link (which may lead anywhere:
    // the repository is the one the link is in).
    let dir = if std::fs::symlink_metadata(pipelines).is_ok_and(|m| m.is_dir()) {
        pipelines.to_path_buf()
    } else {
        pipelines
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf)
    };
    let repo = git::toplevel(&dir).map_err(Failure::Diagnostic)?;
    let revision = git::base(&repo, base).map_err(Failure::Diagnostic)?;
    let prefix = relative_to(&repo, pipelines).ok_or_else(|| {
        Failure::Diagnostic(
            Diagnostic::error(
                Code::Git,
                format!(
                    "`{label}` is not inside the repository at `{}`",
                    repo.display()
                ),
            )
            .help("run orchctl diff from inside the repository that holds the spec"),
        )
    })?;
    let scratch = git::ScratchDir::new().map_err(Failure::Diagnostic)?;
    let checkout = git::checkout_dir(&repo, &revision.commit, &prefix, scratch.path())
        .map_err(Failure::Diagnostic)?;
    let short = revision.short().to_string();
    let Some(checkout) = checkout else {
        return Ok((
            revision,
            Side {
                label,
                revision: Some(short),
                ..Side::default()
            },
        ));
    };
    // Said after the error if a prompt template at the revision goes over
    // its ceiling (the process exits from inside the template).
    let _note = crate::abort::on_abort({
        let short = short.clone();
        move || crate::abort::say(&base_fails(&short))
    });
    // Named as the revision's files from the start, so that an error (or
    // the error printed at a prompt template's ceiling) shows where it is.
    let (loaded, diags) = crate::load::load_dir_as(&checkout, &format!("{label}@{short}"));
    match crate::with_load_diagnostics(diags, crate::compile(&loaded), |c| &mut c.warnings) {
        Ok(compiled) => Ok((
            revision,
            Side {
                loaded,
                objects: compiled.objects,
                label,
                revision: Some(short),
            },
        )),
        Err(diagnostics) => Err(Failure::Spec {
            sources: loaded.sources,
            diagnostics,
            revision: short,
        }),
    }
}

/// What is said after the errors of a base revision that does not compile.
#[must_use]
pub fn base_fails(revision: &str) -> String {
    format!(
        "the spec at {revision} does not compile, so there is nothing to compare with\n  = help: compare with another revision: --base REV"
    )
}

/// `path` relative to `repo`, `/`-separated (empty for the root itself).
/// `path` relative to the repository at `repo`, as it is written (from the
/// working directory, which is physical): a link on the way (`pipelines`
/// itself, or a directory above it) is then followed at the base as it is
/// there, not as it is in the working tree. A path with `..`, or one that
/// reaches the repository by another name, is its directory's canonical
/// form and its name.
fn relative_to(repo: &Path, path: &Path) -> Option<String> {
    use std::path::Component;
    let repo = repo.canonicalize().ok()?;
    if let Ok(cwd) = std::env::current_dir() {
        let whole = cwd.join(path);
        if !whole.components().any(|c| c == Component::ParentDir)
            && let Ok(rel) = whole.strip_prefix(&repo)
        {
            return Some(slash_path(rel));
        }
    }
    let path = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            parent.canonicalize().ok()?.join(name)
        }
        // `.`, `..`, `/`: the directory itself.
        _ => path.canonicalize().ok()?,
    };
    path.strip_prefix(&repo).ok().map(slash_path)
}

/// Where a change comes from in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The spec file as shown: `pipelines/chains/delivery.yaml`.
    pub file: String,
    pub line: usize,
    /// What: "step `clippy` of chain `delivery`".
    pub element: String,
    /// The short commit when traced in the base revision (the element is
    /// gone from the working tree).
    pub revision: Option<String>,
}

impl Source {
    /// `pipelines/x.yaml:12`, with `@abc1234` for the base revision.
    #[must_use]
    pub fn location(&self) -> String {
        match &self.revision {
            Some(r) => format!("{}:{} @ {r}", self.file, self.line),
            None => format!("{}:{}", self.file, self.line),
        }
    }
}

/// What happened to a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Changed {
        old: Value,
        new: Value,
    },
    Added(Value),
    Removed(Value),
    /// The same named items in another order.
    Reordered {
        old: Vec<String>,
        new: Vec<String>,
    },
}

impl Op {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Changed { .. } => "changed",
            Self::Added(_) => "added",
            Self::Removed(_) => "removed",
            Self::Reordered { .. } => "reordered",
        }
    }
}

/// One changed field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: Vec<PathSeg>,
    pub op: Op,
    pub source: Option<Source>,
}

impl FieldChange {
    /// `spec.templates[delivery].dag.tasks[clippy]`.
    #[must_use]
    pub fn path_text(&self) -> String {
        path_text(&self.path)
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Added,
    Removed,
    Changed,
}

impl Change {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
        }
    }

    /// `+`, `-`, `~`.
    #[must_use]
    pub fn sign(self) -> &'static str {
        match self {
            Self::Added => "+",
            Self::Removed => "-",
            Self::Changed => "~",
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    pub change: Change,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// Its file under the output directory (the new one, for a moved object).
    pub path: String,
    /// The spec element it comes from.
    pub source: Option<Source>,
    /// Field changes (changed objects only).
    pub fields: Vec<FieldChange>,
    /// The new object (added objects only), to show it whole.
    pub value: Option<Value>,
}

/// The whole diff.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub objects: Vec<ObjectDiff>,
    pub unchanged: usize,
}

impl Diff {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    #[must_use]
    pub fn count(&self, change: Change) -> usize {
        self.objects.iter().filter(|o| o.change == change).count()
    }
}

type Key<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

fn key(o: &Object) -> Key<'_> {
    (
        o.api_version.as_str(),
        o.kind.as_str(),
        o.namespace.as_deref(),
        o.name.as_str(),
    )
}

/// Compare the objects of two compiled sides.
#[must_use]
pub fn compare(base: &Side, head: &Side) -> Diff {
    let old: BTreeMap<Key, &Object> = base.objects.iter().map(|o| (key(o), o)).collect();
    let new: BTreeMap<Key, &Object> = head.objects.iter().map(|o| (key(o), o)).collect();
    let keys: BTreeSet<&Key> = old.keys().chain(new.keys()).collect();
    let mut diff = Diff::default();
    for k in keys {
        match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) => {
                if a.value() == b.value() {
                    diff.unchanged += 1;
                    continue;
                }
                let mut raw = Vec::new();
                fields(a.value(), b.value(), &mut Vec::new(), &mut raw);
                let fields = raw
                    .into_iter()
                    .map(|(path, op)| {
                        // A removed field is best traced where it was.
                        let source = if matches!(op, Op::Removed(_)) {
                            trace_field(base, a, &path).or_else(|| trace_field(head, b, &path))
                        } else {
                            trace_field(head, b, &path).or_else(|| trace_field(base, a, &path))
                        };
                        FieldChange { path, op, source }
                    })
                    .collect();
                diff.objects.push(object_diff(
                    Change::Changed,
                    b,
                    trace_field(head, b, &[]),
                    fields,
                ));
            }
            (None, Some(b)) => {
                diff.objects.push(object_diff(
                    Change::Added,
                    b,
                    trace_field(head, b, &[]),
                    Vec::new(),
                ));
            }
            (Some(a), None) => {
                diff.objects.push(object_diff(
                    Change::Removed,
                    a,
                    trace_field(base, a, &[]),
                    Vec::new(),
                ));
            }
            (None, None) => {}
        }
    }
    diff.objects
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.change.cmp(&b.change)));
    diff
}

fn object_diff(
    change: Change,
    o: &Object,
    source: Option<Source>,
    fields: Vec<FieldChange>,
) -> ObjectDiff {
    ObjectDiff {
        change,
        api_version: o.api_version.clone(),
        kind: o.kind.clone(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        path: o.path.clone(),
        source,
        fields,
        value: (change == Change::Added).then(|| o.value().clone()),
    }
}

fn trace_field(side: &Side, object: &Object, path: &[PathSeg]) -> Option<Source> {
    let located = trace::field(&side.loaded, object, path)?;
    let file = side.loaded.sources.relative(located.span.file);
    Some(Source {
        file: if side.label.is_empty() {
            file
        } else {
            format!("{}/{file}", side.label)
        },
        line: located.span.line,
        element: located.element,
        revision: side.revision.clone(),
    })
}

/// Items of a list matched by `name`, when every item is an object with a
/// unique string `name`.
fn names(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|v| v.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    (unique.len() == names.len() && !names.is_empty()).then_some(names)
}

fn fields(old: &Value, new: &Value, path: &mut Vec<PathSeg>, out: &mut Vec<(Vec<PathSeg>, Op)>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                path.push(PathSeg::Key(k.clone()));
                match b.get(k) {
                    Some(vb) => fields(va, vb, path, out),
                    None => out.push((path.clone(), Op::Removed(va.clone()))),
                }
                path.pop();
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    path.push(PathSeg::Key(k.clone()));
                    out.push((path.clone(), Op::Added(vb.clone())));
                    path.pop();
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(na), Some(nb)) = (names(a), names(b)) {
                for (item, name) in a.iter().zip(&na) {
                    path.push(PathSeg::Name((*name).to_string()));
                    match nb.iter().position(|n| n == name) {
                        Some(j) => fields(item, &b[j], path, out),
                        None => out.push((path.clone(), Op::Removed(item.clone()))),
                    }
                    path.pop();
                }
                for (item, name) in b.iter().zip(&nb) {
                    if !na.contains(name) {
                        path.push(PathSeg::Name((*name).to_string()));
                        out.push((path.clone(), Op::Added(item.clone())));
                        path.pop();
                    }
                }
                let common_old: Vec<String> = na
                    .iter()
                    .filter(|n| nb.contains(n))
                    .map(|n| (*n).to_string())
                    .collect();
                let common_new: Vec<String> = nb
                    .iter()
                    .filter(|n| na.contains(n))
                    .map(|n| (*n).to_string())
                    .collect();
                if common_old != common_new {
                    out.push((
                        path.clone(),
                        Op::Reordered {
                            old: common_old,
                            new: common_new,
                        },
                    ));
                }
            } else if a.iter().chain(b).all(|v| !v.is_object() && !v.is_array()) {
                out.push((
                    path.clone(),
                    Op::Changed {
                        old: old.clone(),
                        new: new.clone(),
                    },
                ));
            } else {
                for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                    path.push(PathSeg::Index(i));
                    fields(va, vb, path, out);
                    path.pop();
                }
                for (i, va) in a.iter().enumerate().skip(b.len()) {
                    path.push(PathSeg::Index(i));
                    out.push((path.clone(), Op::Removed(va.clone())));
                    path.pop();
                }
                for (i, vb) in b.iter().enumerate().skip(a.len()) {
                    path.push(PathSeg::Index(i));
                    out.push((path.clone(), Op::Added(vb.clone())));
                    path.pop();
                }
            }
        }
        _ => out.push((
            path.clone(),
            Op::Changed {
                old: old.clone(),
                new: new.clone(),
            },
        )),
    }
}

/// A path as people read it: `spec.templates[delivery].dag.tasks[clippy]`,
/// `metadata.labels["app.kubernetes.io/name"]`, `volumes[0]`.
#[must_use]
pub fn path_text(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k)
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Key(k) => {
                out.push_str(&format!("[{}]", serde_json::Value::String(k.clone())));
            }
            PathSeg::Name(n) if n.parse::<usize>().is_ok() || n.contains([']', '[']) => {
                out.push_str(&format!("[name={}]", serde_json::Value::String(n.clone())));
            }
            PathSeg::Name(n) => out.push_str(&format!("[{n}]")),
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn diff(a: Value, b: Value) -> Vec<(String, Op)> {
        let mut out = Vec::new();
        fields(&a, &b, &mut Vec::new(), &mut out);
        out.into_iter().map(|(p, op)| (path_text(&p), op)).collect()
    }

    #[test]
    fn named_items_are_matched_by_name() {
        let a = json!({"tasks": [{"name": "a", "x": 1}, {"name": "b", "x": 2}]});
        let b = json!({"tasks": [{"name": "a", "x": 1}, {"name": "new", "x": 9}, {"name": "b", "x": 3}]});
        let d = diff(a, b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].0, "tasks[b].x");
        assert_eq!(d[1].0, "tasks[new]");
        assert!(matches!(d[1].1, Op::Added(_)));
    }

    #[test]
    fn reorders_scalars_and_keys() {
        let a = json!({"l": [{"name": "a"}, {"name": "b"}], "s": [1, 2], "m": {"a.b/c": "x"}});
        let b = json!({"l": [{"name": "b"}, {"name": "a"}], "s": [1, 2, 3], "m": {"a.b/c": "y"}});
        let d = diff(a, b);
        let paths: Vec<&str> = d.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["l", "s", "m[\"a.b/c\"]"]);
        assert!(matches!(d[0].1, Op::Reordered { .. }));
    }
}
