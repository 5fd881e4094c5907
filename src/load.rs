//! Reading `pipelines/`: every `*.yaml` / `*.yml` file below it, in path
//! order, parsed into spans-aware trees, deserialized section by section into
//! one merged [`Spec`], plus the prompt files agents name.
//!
//! The loader remembers which file defined each named item, so later stages
//! can point at the exact line of anything they complain about. Each agent,
//! chain and image is deserialized on its own, so one run reports the errors
//! of all of them rather than stopping at the first.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, Sources, Span, slash_path};
use crate::spec::{Concurrency, SECTIONS, Spec};
use crate::yaml::{self, Node, Seg, de};

/// Most spec files read from one directory.
const MAX_FILES: usize = 10_000;
/// Largest spec or prompt file read (bytes).
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Where each part of the merged spec was defined.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub project: Option<FileId>,
    pub runtime: Option<FileId>,
    pub images: BTreeMap<String, FileId>,
    pub vars: BTreeMap<String, FileId>,
    /// One entry per parameter, in order: its file and index in that file.
    pub parameters: Vec<(FileId, usize)>,
    pub agents: BTreeMap<String, FileId>,
    pub chains: BTreeMap<String, FileId>,
    pub concurrency: Option<FileId>,
    pub semaphores: BTreeMap<String, FileId>,
    pub mutexes: BTreeMap<String, FileId>,
    pub github: Option<FileId>,
    pub event_bus: Option<FileId>,
    pub routes: BTreeMap<String, FileId>,
    pub apps: Option<FileId>,
}

/// A loaded spec: the merged [`Spec`], its sources, and where things are.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub spec: Spec,
    pub sources: Sources,
    pub origins: Origins,
    /// Prompt file text by agent name (for agents with `promptFile`).
    pub prompt_files: BTreeMap<String, FileId>,
    /// Named items that are defined but failed to load (`agents.NAME`), so
    /// references to them are not reported a second time as unknown.
    pub broken: std::collections::BTreeSet<String>,
    /// The pipelines directory as the user named it (`pipelines`).
    pub dir: String,
    /// Whether loading reported any error (a file that did not parse, a
    /// section that did not deserialize). Checks that would only repeat the
    /// consequences of those errors are skipped.
    pub failed: bool,
    /// What loading reported (also returned beside the `Loaded`): printed
    /// before the error at a prompt template's ceiling, which ends the
    /// process before the usual report.
    pub found: Diagnostics,
    /// Parsed trees, shared (never cloned) by every stage that needs a span.
    trees: BTreeMap<FileId, std::sync::Arc<Node>>,
}

impl Loaded {
    /// Build from a spec made in code (no files, no locations).
    #[must_use]
    pub fn from_spec(spec: Spec) -> Self {
        Self {
            spec,
            ..Self::default()
        }
    }

    /// Whether `section.name` is defined, even if it failed to load.
    #[must_use]
    pub fn defines(&self, section: &str, name: &str) -> bool {
        let defined = match section {
            "agents" => self.spec.agents.contains_key(name),
            "chains" => self.spec.chains.contains_key(name),
            "routes" => self
                .spec
                .events
                .as_ref()
                .is_some_and(|e| e.routes.contains_key(name)),
            "images" => self.spec.images.contains_key(name),
            _ => false,
        };
        defined || self.broken.contains(&format!("{section}.{name}"))
    }

    /// The span of the value at `path` in `file`.
    #[must_use]
    pub fn span(&self, file: Option<FileId>, path: &[Seg<'_>]) -> Option<Span> {
        self.trees.get(&file?)?.find(path).map(|n| n.span)
    }

    /// The span of the key at the end of `path` in `file`.
    #[must_use]
    pub fn key_span(&self, file: Option<FileId>, path: &[Seg<'_>]) -> Option<Span> {
        self.trees.get(&file?)?.find_key(path)
    }

    /// The node at `path` in `file`.
    #[must_use]
    pub fn node(&self, file: FileId, path: &[Seg<'_>]) -> Option<&Node> {
        self.trees.get(&file)?.find(path)
    }

    /// The spec files that define the named parts, as paths relative to the
    /// pipelines directory (for "generated from" headers).
    #[must_use]
    pub fn file_name(&self, file: Option<FileId>) -> Option<String> {
        file.map(|f| self.sources.relative(f))
    }
}

/// Load every spec file under `dir`, named in messages as the user passed it.
///
/// Returns the loaded spec and the diagnostics found; the spec is usable for
/// further checks even when some parts failed to load.
#[must_use]
pub fn load_dir(dir: &Path) -> (Loaded, Diagnostics) {
    load_dir_as(dir, &slash_path(dir))
}

/// [`load_dir`], with the directory named `display` in messages and file
/// names (`pipelines@abc1234` for a checkout of a git revision).
#[must_use]
pub fn load_dir_as(dir: &Path, display: &str) -> (Loaded, Diagnostics) {
    let mut diags = Diagnostics::default();
    let display_dir = display.trim_end_matches('/');
    let mut loaded = Loaded {
        dir: display_dir.to_string(),
        ..Loaded::default()
    };
    let files = match spec_files(dir, display_dir) {
        Ok(files) => files,
        Err(d) => {
            diags.push(d);
            loaded.failed = true;
            loaded.found = diags.clone();
            return (loaded, diags);
        }
    };
    // Each file is read and parsed on one thread (its chains, the bulk of a
    // large spec, deserialized there too); merging, which needs the whole
    // spec, stays in file order. File ids follow the sorted paths of the
    // files that could be read, so a file parsed before an earlier one
    // failed to read is parsed again under its real id (error path only).
    let numbered: Vec<(usize, &PathBuf)> = files.iter().enumerate().collect();
    let parsed = crate::par::map(&numbered, |&(i, rel)| {
        let text = read_text(&dir.join(rel))?;
        let parsed = parse_prepared(&text, FileId(i));
        Ok::<_, Unreadable>((text, parsed))
    });
    drop(numbered);
    let mut trees: Vec<(FileId, std::sync::Arc<Node>, Prepared)> = Vec::new();
    for (i, (rel, read)) in files.into_iter().zip(parsed).enumerate() {
        let display = joined(display_dir, &rel);
        let (text, parsed) = match read {
            Ok(read) => read,
            Err(e) => {
                diags.push(
                    Diagnostic::error(Code::Io, format!("cannot read `{display}`: {}", e.why))
                        .help(e.help),
                );
                continue;
            }
        };
        let file = FileId(loaded.sources.len());
        let (result, prepared) = if file == FileId(i) {
            parsed
        } else {
            parse_prepared(&text, file)
        };
        loaded.sources.add(display, rel, text);
        match result {
            Ok(Some(root)) => {
                let root = std::sync::Arc::new(root);
                loaded.trees.insert(file, std::sync::Arc::clone(&root));
                trees.push((file, root, prepared));
            }
            Ok(None) => {}
            Err(d) => diags.push(d),
        }
    }
    for (file, root, prepared) in trees {
        merge_file(&mut loaded, file, &root, prepared, &mut diags);
    }
    load_prompts(&mut loaded, dir, display_dir, &mut diags);
    loaded.failed = diags.has_errors();
    loaded.found = diags.clone();
    (loaded, diags)
}

/// Load spec text given in memory as if it were the file `name` in a
/// pipelines directory (used by tests and fuzzing). No file is read: an
/// agent's `promptFile` is reported not found.
#[must_use]
pub fn load_str(name: &str, text: &str) -> (Loaded, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut loaded = Loaded {
        dir: "pipelines".into(),
        ..Loaded::default()
    };
    let file = loaded.sources.add(
        format!("pipelines/{name}"),
        PathBuf::from(name),
        text.to_string(),
    );
    match yaml::parse(text, file) {
        Ok(Some(root)) => {
            let root = std::sync::Arc::new(root);
            loaded.trees.insert(file, std::sync::Arc::clone(&root));
            merge_file(&mut loaded, file, &root, Prepared::default(), &mut diags);
        }
        Ok(None) => {}
        Err(d) => diags.push(d),
    }
    for (agent, a) in &loaded.spec.agents {
        if let Some(prompt) = &a.prompt_file {
            let at = loaded.span(
                Some(file),
                &[Seg::Key("agents"), Seg::Key(agent), Seg::Key("promptFile")],
            );
            diags.push(
                Diagnostic::error(
                    Code::PromptNotFound,
                    format!("prompt file `{prompt}` not found"),
                )
                .at(at)
                .help("spec text given in memory reads no files: write the prompt inline with `prompt:`"),
            );
        }
    }
    loaded.failed = diags.has_errors();
    loaded.found = diags.clone();
    (loaded, diags)
}

/// A spec file parsed, and its chains deserialized.
type Parsed = (Result<Option<Node>, Diagnostic>, Prepared);

fn parse_prepared(text: &str, file: FileId) -> Parsed {
    let root = yaml::parse(text, file);
    let chains = root
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .and_then(Prepared::chains);
    (root, Prepared { chains })
}

/// Why [`read_text`] could not read a file, and what to do about it.
struct Unreadable {
    why: String,
    help: &'static str,
}

impl Unreadable {
    fn io(e: &std::io::Error) -> Self {
        Self {
            why: e.to_string(),
            help: "check that the file exists, is readable and is UTF-8 text",
        }
    }

    fn too_large(len: u64) -> Self {
        // The help names the limit.
        const _: () = assert!(MAX_FILE_BYTES == 8 << 20);
        Self {
            why: format!("{len} bytes is over the {MAX_FILE_BYTES}-byte limit"),
            help: "a spec file holds at most 8 MiB: split it into several files",
        }
    }
}

/// A file's text: opened once, its size checked on the open file.
fn read_text(path: &Path) -> Result<String, Unreadable> {
    use std::io::Read;
    let file = crate::source::open_regular(path).map_err(|e| Unreadable::io(&e))?;
    let len = file.metadata().map_err(|e| Unreadable::io(&e))?.len();
    if len > MAX_FILE_BYTES {
        return Err(Unreadable::too_large(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Unreadable::io(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Unreadable::too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = &bytes[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // The valid part is UTF-8: count its characters for the column.
        let col = std::str::from_utf8(&good[start..]).map_or(0, |l| l.chars().count()) + 1;
        Unreadable {
            why: format!("not UTF-8 text (line {line}, column {col})"),
            help: "save the file as UTF-8",
        }
    })
}

/// Every `*.yaml` / `*.yml` below `dir` (named `display`), relative, sorted,
/// hidden entries skipped.
#[allow(clippy::result_large_err)] // once per run
fn spec_files(dir: &Path, display: &str) -> Result<Vec<PathBuf>, Diagnostic> {
    if !dir.is_dir() {
        return Err(
            Diagnostic::error(Code::Io, format!("no pipelines directory at `{display}`"))
                .help("run `orchctl init` to create one, or pass `--pipelines DIR`"),
        );
    }
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = fs::read_dir(dir.join(&rel)).map_err(|e| {
            Diagnostic::error(
                Code::Io,
                format!("cannot read `{}`: {e}", joined(display, &rel)),
            )
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            if name_str.starts_with('.') {
                continue;
            }
            let child = rel.join(&name);
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(child);
            } else if name_str.ends_with(".yaml") || name_str.ends_with(".yml") {
                out.push(child);
            }
        }
        if out.len() > MAX_FILES {
            return Err(Diagnostic::error(
                Code::Io,
                format!("more than {MAX_FILES} spec files under `{display}`"),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// Entries of a file's named sections already deserialized, in entry order
/// (string keys only), or `None` to deserialize them while merging.
#[derive(Default)]
struct Prepared {
    chains: Option<Vec<Result<crate::spec::Chain, Box<Diagnostic>>>>,
}

impl Prepared {
    fn chains(root: &Node) -> Option<Vec<Result<crate::spec::Chain, Box<Diagnostic>>>> {
        let entries = root.get("chains")?.as_map()?;
        Some(
            entries
                .iter()
                .filter(|(k, _)| k.as_str().is_some())
                .map(|(k, v)| entry::<crate::spec::Chain>(v, k))
                .collect(),
        )
    }
}

fn merge_file(
    loaded: &mut Loaded,
    file: FileId,
    root: &Node,
    mut prepared: Prepared,
    diags: &mut Diagnostics,
) {
    let Some(entries) = root.as_map() else {
        diags.push(
            Diagnostic::error(Code::InvalidValue, "a spec file is a mapping of sections")
                .at(Some(root.span))
                .help(format!("use top-level keys among {}", SECTIONS.join(", "))),
        );
        return;
    };
    for (key, value) in entries {
        let Some(name) = plain_key(key, "a section name", diags) else {
            continue;
        };
        match name {
            "project" => merge_single(
                loaded,
                file,
                &["project"],
                value,
                key,
                diags,
                |l| &mut l.origins.project,
                |l, p| l.spec.project = Some(p),
            ),
            "runtime" => merge_single(
                loaded,
                file,
                &["runtime"],
                value,
                key,
                diags,
                |l| &mut l.origins.runtime,
                |l, r| l.spec.runtime = Some(r),
            ),
            "images" => merge_named(loaded, file, &["images"], (key, value), None, diags, |l| {
                (&mut l.spec.images, &mut l.origins.images)
            }),
            "vars" => merge_named(loaded, file, &["vars"], (key, value), None, diags, |l| {
                (&mut l.spec.vars, &mut l.origins.vars)
            }),
            "agents" => merge_named(loaded, file, &["agents"], (key, value), None, diags, |l| {
                (&mut l.spec.agents, &mut l.origins.agents)
            }),
            "chains" => {
                let ready = prepared.chains.take();
                merge_named(loaded, file, &["chains"], (key, value), ready, diags, |l| {
                    (&mut l.spec.chains, &mut l.origins.chains)
                });
            }
            "parameters" => merge_parameters(loaded, file, value, key, diags),
            "concurrency" => merge_concurrency(loaded, file, value, key, diags),
            "events" => merge_events(loaded, file, value, key, diags),
            "apps" => merge_single(
                loaded,
                file,
                &["apps"],
                value,
                key,
                diags,
                |l| &mut l.origins.apps,
                |l, a| l.spec.apps = Some(a),
            ),
            other => diags.push(
                Diagnostic::error(Code::UnknownField, format!("unknown section `{other}`"))
                    .at(Some(key.span))
                    .help(
                        match crate::diagnostic::did_you_mean(other, SECTIONS.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => format!("the sections are {}", SECTIONS.join(", ")),
                        },
                    ),
            ),
        }
    }
}

fn section<T: DeserializeOwned>(value: &Node, key: &Node, diags: &mut Diagnostics) -> Option<T> {
    entry(value, key).map_err(|d| diags.push(*d)).ok()
}

/// Deserialize the section or named entry `key: value`.
fn entry<T: DeserializeOwned>(value: &Node, key: &Node) -> Result<T, Box<Diagnostic>> {
    let de = de::NodeDeserializer {
        node: value,
        key_span: Some(key.span),
    };
    T::deserialize(de).map_err(|e| Box::new(e.into_diagnostic()))
}

fn duplicate(
    loaded: &Loaded,
    what: &str,
    prev: FileId,
    path: &[Seg<'_>],
    here: Span,
) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateDefinition,
        format!("`{what}` is defined twice"),
    )
    .at(Some(here))
    .label("defined again here")
    .also(loaded.key_span(Some(prev), path), "first defined here")
    .help("each name is defined once across all files under pipelines/; remove or rename one")
}

type Slots<'a, T> = (
    &'a mut BTreeMap<String, T>,
    &'a mut BTreeMap<String, FileId>,
);

/// Named entries under `path` (`agents`, `concurrency.semaphores`,
/// `events.routes`), each deserialized on its own so that one broken entry
/// neither hides the others nor every reference to itself.
fn merge_named<T: DeserializeOwned>(
    loaded: &mut Loaded,
    file: FileId,
    path: &[&str],
    (key, value): (&Node, &Node),
    ready: Option<Vec<Result<T, Box<Diagnostic>>>>,
    diags: &mut Diagnostics,
    slots: impl Fn(&mut Loaded) -> Slots<'_, T>,
) {
    let mut ready = ready.map(Vec::into_iter);
    let dotted = path.join(".");
    let section_name = path.last().copied().unwrap_or_default();
    if matches!(&value.value, yaml::Value::Scalar(s) if s.plain && s.text.is_empty()) {
        return;
    }
    let Some(entries) = expect_map(
        value,
        key,
        &format!("`{dotted}` is a mapping of names to definitions"),
        &format!("write `{section_name}:` followed by `NAME: …` entries"),
        diags,
    ) else {
        return;
    };
    for (k, v) in entries {
        let Some(name) = plain_key(k, "a name", diags) else {
            continue;
        };
        let item = match ready.as_mut().and_then(Iterator::next) {
            Some(result) => result.map_err(|d| diags.push(*d)).ok(),
            None => section::<T>(v, k, diags),
        };
        let Some(item) = item else {
            loaded.broken.insert(format!("{section_name}.{name}"));
            continue;
        };
        if let Some(prev) = slots(loaded).1.get(name).copied() {
            let mut at: Vec<Seg<'_>> = path.iter().map(|p| Seg::Key(p)).collect();
            at.push(Seg::Key(name));
            let d = duplicate(loaded, &format!("{dotted}.{name}"), prev, &at, k.span);
            diags.push(d);
            continue;
        }
        let (items, origins) = slots(loaded);
        items.insert(name.to_string(), item);
        origins.insert(name.to_string(), file);
    }
}

/// A section defined once across all files (`project`, `events.github`).
#[allow(clippy::too_many_arguments)]
fn merge_single<T: DeserializeOwned>(
    loaded: &mut Loaded,
    file: FileId,
    path: &[&str],
    value: &Node,
    key: &Node,
    diags: &mut Diagnostics,
    origin: impl Fn(&mut Loaded) -> &mut Option<FileId>,
    store: impl FnOnce(&mut Loaded, T),
) {
    let dotted = path.join(".");
    loaded.broken.insert(dotted.clone());
    let Some(item) = section::<T>(value, key, diags) else {
        return;
    };
    loaded.broken.remove(&dotted);
    if let Some(prev) = *origin(loaded) {
        let at: Vec<Seg<'_>> = path.iter().map(|p| Seg::Key(p)).collect();
        diags.push(duplicate(loaded, &dotted, prev, &at, key.span));
        return;
    }
    *origin(loaded) = Some(file);
    store(loaded, item);
}

fn merge_parameters(
    loaded: &mut Loaded,
    file: FileId,
    value: &Node,
    key: &Node,
    diags: &mut Diagnostics,
) {
    let yaml::Value::Seq(items) = &value.value else {
        diags.push(
            Diagnostic::error(Code::InvalidValue, "`parameters` is a list")
                .at(Some(key.span))
                .help("write `parameters:` followed by `- name: …` items"),
        );
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let Some(p) = section::<crate::spec::Parameter>(item, key, diags) else {
            continue;
        };
        if let Some(pos) = loaded.spec.parameters.iter().position(|q| q.name == p.name) {
            let (prev_file, prev_index) = loaded.origins.parameters[pos];
            let here = loaded.span(
                Some(file),
                &[Seg::Key("parameters"), Seg::Index(index), Seg::Key("name")],
            );
            let there = loaded.span(
                Some(prev_file),
                &[
                    Seg::Key("parameters"),
                    Seg::Index(prev_index),
                    Seg::Key("name"),
                ],
            );
            diags.push(
                Diagnostic::error(
                    Code::DuplicateDefinition,
                    format!("parameter `{}` is defined twice", p.name),
                )
                .at(here)
                .also(there, "first defined here")
                .help("remove one of the two definitions"),
            );
            continue;
        }
        loaded.spec.parameters.push(p);
        loaded.origins.parameters.push((file, index));
    }
}

/// The entries of a section that must be a mapping, or a located error
/// saying so and what to write instead.
fn expect_map<'a>(
    value: &'a Node,
    key: &Node,
    message: &str,
    hint: &str,
    diags: &mut Diagnostics,
) -> Option<&'a [(Node, Node)]> {
    let entries = value.as_map();
    if entries.is_none() {
        diags.push(
            Diagnostic::error(Code::InvalidValue, message.to_string())
                .at(Some(key.span))
                .help(hint.to_string()),
        );
    }
    entries
}

/// An unknown key in a section whose keys are fixed.
/// The text of a mapping key, or an error for a complex one (`? [a, b]`):
/// `what` (a section name, a name, a key) is a plain word.
fn plain_key<'a>(key: &'a Node, what: &str, diags: &mut Diagnostics) -> Option<&'a str> {
    let name = key.as_str();
    if name.is_none() {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("{what} is a plain word, not a list or a mapping"),
            )
            .at(Some(key.span))
            .help("write it as `name:`; `? …` starts a complex key, which the spec never uses"),
        );
    }
    name
}

fn unknown_key(name: &str, at: Span, expected: &[&str]) -> Diagnostic {
    Diagnostic::error(Code::UnknownField, format!("unknown field `{name}`"))
        .at(Some(at))
        .help(
            match crate::diagnostic::did_you_mean(name, expected.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("expected one of {}", expected.join(", ")),
            },
        )
}

const CONCURRENCY_KEYS: &[&str] = &["configMap", "semaphores", "mutexes"];

/// `concurrency`, entry by entry, so that one broken semaphore does not hide
/// the others (and every reference to them).
fn merge_concurrency(
    loaded: &mut Loaded,
    file: FileId,
    value: &Node,
    key: &Node,
    diags: &mut Diagnostics,
) {
    let Some(entries) = expect_map(
        value,
        key,
        "`concurrency` is a mapping",
        "write `concurrency:` with `semaphores:` and `mutexes:` under it",
        diags,
    ) else {
        return;
    };
    loaded
        .spec
        .concurrency
        .get_or_insert_with(Concurrency::default);
    if loaded.origins.concurrency.is_none() {
        loaded.origins.concurrency = Some(file);
    }
    for (k, v) in entries {
        let Some(name) = plain_key(k, "a key", diags) else {
            continue;
        };
        match name {
            "configMap" => {
                let Some(name) = section::<String>(v, k, diags) else {
                    continue;
                };
                let target = loaded
                    .spec
                    .concurrency
                    .get_or_insert_with(Concurrency::default);
                if target.config_map.is_some() {
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateDefinition,
                            "`concurrency.configMap` is set twice",
                        )
                        .at(Some(k.span))
                        .help("set it in one file only"),
                    );
                    continue;
                }
                target.config_map = Some(name);
                loaded.origins.concurrency = Some(file);
            }
            "semaphores" => merge_named(
                loaded,
                file,
                &["concurrency", "semaphores"],
                (k, v),
                None,
                diags,
                |l| {
                    let c = l.spec.concurrency.get_or_insert_with(Concurrency::default);
                    (&mut c.semaphores, &mut l.origins.semaphores)
                },
            ),
            "mutexes" => merge_named(
                loaded,
                file,
                &["concurrency", "mutexes"],
                (k, v),
                None,
                diags,
                |l| {
                    let c = l.spec.concurrency.get_or_insert_with(Concurrency::default);
                    (&mut c.mutexes, &mut l.origins.mutexes)
                },
            ),
            other => diags.push(unknown_key(other, k.span, CONCURRENCY_KEYS)),
        }
    }
}

const EVENTS_KEYS: &[&str] = &["github", "eventBus", "routes"];

fn merge_events(
    loaded: &mut Loaded,
    file: FileId,
    value: &Node,
    key: &Node,
    diags: &mut Diagnostics,
) {
    let Some(entries) = expect_map(
        value,
        key,
        "`events` is a mapping",
        "write `events:` with `github:`, `eventBus:` and `routes:` under it",
        diags,
    ) else {
        return;
    };
    for (k, v) in entries {
        let Some(name) = plain_key(k, "a key", diags) else {
            continue;
        };
        match name {
            "github" => merge_single(
                loaded,
                file,
                &["events", "github"],
                v,
                k,
                diags,
                |l| &mut l.origins.github,
                |l, g| l.spec.events.get_or_insert_with(Default::default).github = Some(g),
            ),
            "eventBus" => merge_single(
                loaded,
                file,
                &["events", "eventBus"],
                v,
                k,
                diags,
                |l| &mut l.origins.event_bus,
                |l, b| l.spec.events.get_or_insert_with(Default::default).event_bus = Some(b),
            ),
            "routes" => merge_named(
                loaded,
                file,
                &["events", "routes"],
                (k, v),
                None,
                diags,
                |l| {
                    let events = l.spec.events.get_or_insert_with(Default::default);
                    (&mut events.routes, &mut l.origins.routes)
                },
            ),
            other => diags.push(unknown_key(other, k.span, EVENTS_KEYS)),
        }
    }
}

/// Read the prompt files agents name, refusing paths that leave `dir`.
fn load_prompts(loaded: &mut Loaded, dir: &Path, display: &str, diags: &mut Diagnostics) {
    let Ok(root) = dir.canonicalize() else { return };
    // Canonical forms of the directories prompts are in, each resolved once.
    let mut parents = BTreeMap::new();
    let agents: Vec<(String, String)> = loaded
        .spec
        .agents
        .iter()
        .filter_map(|(name, a)| a.prompt_file.clone().map(|p| (name.clone(), p)))
        .collect();
    for (name, prompt) in agents {
        let file = loaded.origins.agents.get(&name).copied();
        let at = loaded.span(
            file,
            &[Seg::Key("agents"), Seg::Key(&name), Seg::Key("promptFile")],
        );
        let spec_dir = file
            .and_then(|f| loaded.sources.get(f))
            .and_then(|f| f.relative.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let requested = Path::new(&prompt);
        let escapes = requested.is_absolute()
            || requested
                .components()
                .any(|c| matches!(c, Component::Prefix(_) | Component::RootDir));
        let path = dir.join(&spec_dir).join(requested);
        let resolved = resolve(&path, &mut parents);
        let inside = !escapes
            && resolved.as_ref().map_or_else(
                || lexically_inside(&spec_dir.join(requested)),
                |(p, _)| p.starts_with(&root),
            );
        if !inside {
            diags.push(
                Diagnostic::error(
                    Code::PromptEscapes,
                    format!("prompt file `{prompt}` is outside the pipelines directory"),
                )
                .at(at)
                .help("keep prompt files under pipelines/ and name them relative to the spec file, e.g. `prompts/author.md`"),
            );
            continue;
        }
        if !resolved.as_ref().is_some_and(|(_, file)| *file) {
            let wanted = joined(display, &spec_dir.join(requested));
            let (message, help) = if prompt.trim().is_empty() {
                (
                    "prompt file path is empty".to_string(),
                    "name a file relative to the spec file, e.g. `prompts/author.md`, or write the prompt inline with `prompt:`".to_string(),
                )
            } else if resolved.is_some() && path.is_dir() {
                (
                    format!("prompt file `{prompt}` is a directory"),
                    format!(
                        "name a file in it, e.g. `{}`",
                        slash_path(&requested.join(format!("{name}.md")))
                    ),
                )
            } else if resolved.is_some() {
                (
                    format!("prompt file `{prompt}` is not a regular file"),
                    format!("`{wanted}` is a device, socket or pipe: name a Markdown file"),
                )
            } else {
                (
                    format!("prompt file `{prompt}` not found"),
                    format!("create `{wanted}` or fix the path (relative to the spec file)"),
                )
            };
            diags.push(
                Diagnostic::error(Code::PromptNotFound, message)
                    .at(at)
                    .help(help),
            );
            continue;
        }
        match read_text(&path) {
            Ok(text) => {
                let rel = spec_dir.join(requested);
                let shown = joined(display, &normalize(&rel));
                let id = loaded.sources.add(shown, normalize(&rel), text);
                loaded.prompt_files.insert(name, id);
            }
            Err(e) => diags.push(
                Diagnostic::error(
                    Code::Io,
                    format!("cannot read prompt file `{prompt}`: {}", e.why),
                )
                .at(at)
                .help(e.help),
            ),
        }
    }
}

/// The canonical form of `path` (every link followed) and whether it is a
/// file; `None` if it does not exist. Equal to `path.canonicalize()`, but
/// for a plain file each parent directory is resolved once (`parents` keeps
/// them): prompts share a few directories, and resolving one costs a
/// `readlink` per component. Anything else is resolved whole.
fn resolve(
    path: &Path,
    parents: &mut BTreeMap<PathBuf, Option<PathBuf>>,
) -> Option<(PathBuf, bool)> {
    let whole = |path: &Path| {
        let canonical = path.canonicalize().ok()?;
        let file = canonical.is_file();
        Some((canonical, file))
    };
    let (Some(parent), Some(Component::Normal(name))) =
        (path.parent(), path.components().next_back())
    else {
        return whole(path);
    };
    // Only a plain file is its parent's canonical form and its name: a link
    // leads elsewhere, and a directory may have been named with a trailing
    // `/` or `/.` that `components` drops (and `lstat` then follows).
    if !fs::symlink_metadata(path).ok()?.is_file() {
        return whole(path);
    }
    let parent = parents
        .entry(parent.to_path_buf())
        .or_insert_with(|| parent.canonicalize().ok())
        .as_ref()?;
    Some((parent.join(name), true))
}

/// `rel` below the directory named `display`, for messages (a `.` inside
/// dropped, as `Path::components` drops it).
fn joined(display: &str, rel: &Path) -> String {
    slash_path(&Path::new(display).join(rel))
}

/// Whether a relative path stays inside its root without following links.
fn lexically_inside(path: &Path) -> bool {
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::Prefix(_) | Component::RootDir => return false,
        }
    }
    true
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}
