//! orchctl compiles a typed spec of agents, chains, event routes,
//! concurrency limits and apps into the manifests Argo Workflows, Argo Events
//! and Argo CD run.
//!
//! Data travels one way: files → [`spec`] ([`load`]) → [`model`] (checked and
//! resolved) → typed objects ([`lower`]) → text ([`emit`]) → disk ([`write`](mod@write))
//! or a diff ([`drift`]). The library never prints and never exits: every
//! problem is a [`Diagnostic`] with a location.
//!
//! ```
//! let (loaded, diags) = orchctl::load::load_str("platform.yaml", "project: {name: demo}\n");
//! assert!(diags.has_errors()); // `namespace` is missing
//! # let _ = loaded;
//! ```

pub mod abort;
pub mod apps;
pub mod argo;
pub mod argo_cd;
pub mod argo_events;
pub mod check;
pub mod diagnostic;
pub mod diff;
pub mod drift;
pub mod emit;
pub mod events;
pub mod expr;
pub mod github;
pub mod graph;
pub mod init;
pub mod load;
pub mod lower;
pub mod memory;
pub mod model;
pub mod par;
pub mod play;
pub mod route;
pub mod schema;
pub mod schemas;
pub mod set_image;
pub mod source;
pub mod spec;
pub mod validate;
pub mod write;
pub mod yaml;

use std::path::Path;

pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use emit::Tree;
pub use load::Loaded;
pub use model::Model;

/// Largest ConfigMap orchctl writes: Kubernetes refuses objects over 1 MiB.
pub const MAX_CONFIG_MAP_BYTES: usize = 1024 * 1024;
/// Most bytes etcd stores in one object, by default (`--max-request-bytes`);
/// the API server refuses larger ones.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// A successful compilation.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub model: Model,
    pub objects: Vec<lower::Object>,
    pub tree: Tree,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// Check, resolve, lower and emit a loaded spec.
///
/// # Errors
/// Every diagnostic found, when at least one is an error.
pub fn compile(loaded: &Loaded) -> Result<Compiled, Diagnostics> {
    let (model, mut diags) = model::resolve(loaded);
    let Some(model) = model else {
        return Err(diags);
    };
    let objects = lower::lower(&model);
    let tree = emit::emit(&objects);
    diags.0.extend(objects.iter().filter_map(|o| {
        too_large(o)
            .or_else(|| over_etcd_limit(loaded, o, tree.get(&o.path).map_or(0, String::len)))
    }));
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Compiled {
        model,
        objects,
        tree,
        warnings: diags,
    })
}

/// What [`render_staged`] made. The files are in the stage, not in memory.
#[derive(Debug)]
pub struct Staged {
    pub model: Model,
    /// How many files were written, `kustomization.yaml` included.
    pub files: usize,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// [`compile`] into an output directory that holds no files yet, without
/// keeping the objects or the text: each file is written into `stage` as
/// soon as it is made, on the core that made it, and dropped at once, so a
/// large spec's output never sits in memory (what `orchctl render` runs into
/// an empty directory). Nothing is visible until [`write::Stage::finish`]; a write error
/// is reported there.
///
/// # Errors
/// Every diagnostic found, when at least one is an error.
pub fn render_staged(loaded: &Loaded, stage: &write::Stage) -> Result<Staged, Diagnostics> {
    let (model, paths, sources, warnings) = render_each(loaded, |file| {
        stage.write(&file.path, &file.text);
        file.path
    })?;
    stage.write(
        emit::KUSTOMIZATION,
        &emit::kustomization(paths.iter().map(String::as_str), sources),
    );
    Ok(Staged {
        model,
        files: paths.len() + 1,
        warnings,
    })
}

/// Which texts [`render_against`] keeps of the files it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Only the texts of files that changed: an unchanged file is on disk
    /// as it was made (`render --check`, whose diff shows only changes).
    Changed,
    /// The texts of files that changed, and a fingerprint of every unchanged
    /// one, so that the text read back from disk is known to be the very
    /// one made ([`Checked::take_tree`]). What `render` over an existing tree
    /// keeps: when nothing changed, the new tree never sits in memory.
    Verified,
}

/// A file of a new tree, compared with the output directory as soon as it
/// was made.
#[derive(Debug)]
pub struct Compared {
    pub path: String,
    /// Whether the output directory holds exactly this file already.
    pub unchanged: bool,
    /// Its text; dropped at once (`None`) for an unchanged file.
    pub text: Option<String>,
    /// With [`Keep::Verified`], the [`drift::fingerprint`] of a text dropped.
    pub fingerprint: Option<u64>,
}

/// What [`render_against`] made.
#[derive(Debug)]
pub struct Checked {
    pub model: Model,
    /// Every file of the new tree, `kustomization.yaml` included, in path
    /// order.
    pub files: Vec<Compared>,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

impl Checked {
    /// Whether every file of the new tree is already on disk as it is.
    #[must_use]
    pub fn all_unchanged(&self) -> bool {
        self.files.iter().all(|f| f.unchanged)
    }

    /// The paths of the new tree, in order.
    #[must_use]
    pub fn paths(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.path.as_str()).collect()
    }

    /// The whole new tree; the text of a file dropped as unchanged is taken
    /// from `generated` (what is on disk), and must match its fingerprint if
    /// it has one. `None` if one does not (the file changed on disk since it
    /// was compared, or went away). The files are taken out of `self`.
    #[must_use]
    pub fn take_tree(&mut self, generated: &Tree) -> Option<Tree> {
        std::mem::take(&mut self.files)
            .into_iter()
            .map(|f| {
                let text = match (f.text, f.fingerprint) {
                    (Some(text), _) => text,
                    (None, None) => generated.get(&f.path).cloned().unwrap_or_default(),
                    (None, Some(expected)) => generated
                        .get(&f.path)
                        .filter(|text| drift::fingerprint(text) == expected)?
                        .clone(),
                };
                Some((f.path, text))
            })
            .collect()
    }
}

/// [`compile`] against an output directory, without keeping the objects:
/// `unchanged(path, text)` tells, on the core that made the file and as
/// soon as it is made, whether the directory holds it already. The text of
/// an unchanged file is dropped at once, so when nothing changed (the common
/// case in pre-commit and CI) the new tree never sits in memory. What
/// `orchctl render` runs into a directory that holds files, and
/// `orchctl render --check`.
///
/// # Errors
/// Every diagnostic found, when at least one is an error.
pub fn render_against(
    loaded: &Loaded,
    unchanged: &(dyn Fn(&str, &str) -> bool + Sync),
    keep: Keep,
) -> Result<Checked, Diagnostics> {
    let compare = |path: String, text: String| {
        let unchanged = unchanged(&path, &text);
        let (text, fingerprint) = match (unchanged, keep) {
            (false, _) => (Some(text), None),
            (true, Keep::Changed) => (None, None),
            (true, Keep::Verified) => (None, Some(drift::fingerprint(&text))),
        };
        Compared {
            path,
            unchanged,
            text,
            fingerprint,
        }
    };
    let (model, mut files, sources, warnings) =
        render_each(loaded, |file| compare(file.path, file.text))?;
    let kustomization = emit::kustomization(files.iter().map(|f| f.path.as_str()), sources);
    let at = files.partition_point(|f| f.path.as_str() < emit::KUSTOMIZATION);
    files.insert(at, compare(emit::KUSTOMIZATION.to_string(), kustomization));
    Ok(Checked {
        model,
        files,
        warnings,
    })
}

/// [`render_against`] of the spec files under `pipelines`.
pub fn render_dir_against(
    pipelines: &Path,
    unchanged: &(dyn Fn(&str, &str) -> bool + Sync),
    keep: Keep,
) -> (Loaded, Result<Checked, Diagnostics>) {
    let (loaded, diags) = load::load_dir(pipelines);
    let result = with_load_diagnostics(diags, render_against(&loaded, unchanged, keep), |r| {
        &mut r.warnings
    });
    (loaded, result)
}

/// The model, what `each` made of every file, the spec files they were all
/// generated from, and the warnings.
type Made<T> = (Model, Vec<T>, Vec<String>, Diagnostics);

/// Resolve, lower and emit: `each` gets every file as soon as it is made
/// (on the core that made it); the results come back in path order, with
/// the spec files every file was generated from (for `kustomization.yaml`).
fn render_each<T: Send>(
    loaded: &Loaded,
    each: impl Fn(emit::Emitted) -> T + Sync,
) -> Result<Made<T>, Diagnostics> {
    let (model, mut diags) = model::resolve(loaded);
    let Some(model) = model else {
        return Err(diags);
    };
    let made = lower::lower_with(&model, |object| {
        let mut file = emit::Emitted::new(&object);
        let error =
            too_large(&object).or_else(|| over_etcd_limit(loaded, &object, file.text.len()));
        let sources = std::mem::take(&mut file.sources);
        (each(file), sources, error)
    });
    let mut files = Vec::with_capacity(made.len() + 1);
    let mut sources = Vec::new();
    for (file, from, error) in made {
        files.push(file);
        sources.extend(from);
        diags.0.extend(error);
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((model, files, sources, diags))
}

/// The error for an object larger than etcd stores, at the chain it was made
/// from if it was. `yaml_bytes`, the size of its file, says when to measure:
/// only then is the object serialized as the API server stores it, as JSON.
fn over_etcd_limit(
    loaded: &Loaded,
    object: &lower::Object,
    yaml_bytes: usize,
) -> Option<Diagnostic> {
    // An object's compact JSON is at most twice its YAML (an escape at worst
    // doubles a character; YAML's indentation and quotes only add), so a
    // file under half the limit needs no measuring.
    if yaml_bytes <= MAX_OBJECT_BYTES / 2 {
        return None;
    }
    let bytes = json_len(object.value(), usize::MAX);
    (bytes > MAX_OBJECT_BYTES).then(|| {
        let chain = (object.kind == "WorkflowTemplate")
            .then(|| loaded.origins.chains.get(&object.name).copied())
            .flatten();
        let at = chain.and_then(|file| {
            loaded.key_span(
                Some(file),
                &[yaml::Seg::Key("chains"), yaml::Seg::Key(&object.name)],
            )
        });
        Diagnostic::error(
            Code::ObjectTooLarge,
            format!(
                "{} `{}` would be {bytes} bytes of JSON, over the 1.5 MiB ({MAX_OBJECT_BYTES} bytes) etcd stores per object",
                object.kind, object.name
            ),
        )
        .at(at)
        .help(if chain.is_some() {
            "Kubernetes cannot store it: split the chain into chains that call each other, or shorten its long values"
        } else {
            "Kubernetes cannot store it: shorten what the spec puts into it"
        })
    })
}

/// The size of `value` as compact JSON, counted up to just past `limit`
/// (written nowhere, and not further).
pub(crate) fn json_len(value: &impl serde::Serialize, limit: usize) -> usize {
    struct Count {
        bytes: usize,
        limit: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += buf.len();
            if self.bytes > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count { bytes: 0, limit };
    // Stopped by the writer past the limit; a Value always serializes.
    let _ = serde_json::to_writer(&mut count, value);
    count.bytes
}

/// The error for a ConfigMap over Kubernetes' size limit.
fn too_large(object: &lower::Object) -> Option<Diagnostic> {
    if object.kind != "ConfigMap" {
        return None;
    }
    let size: usize = object
        .value()
        .get("data")
        .and_then(serde_json::Value::as_object)
        .map_or(0, |d| {
            d.iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum()
        });
    (size > MAX_CONFIG_MAP_BYTES).then(|| {
        Diagnostic::error(
            Code::ObjectTooLarge,
            format!(
                "ConfigMap `{}` would hold {size} bytes, over the 1 MiB limit",
                object.name
            ),
        )
        .help("shorten the system prompts, or split agents across projects")
    })
}

/// Load and compile the spec in `pipelines`. The [`Loaded`] spec is returned
/// either way so diagnostics can be shown with their source lines.
pub fn compile_dir(pipelines: &Path) -> (Loaded, Result<Compiled, Diagnostics>) {
    let (loaded, diags) = load::load_dir(pipelines);
    let result = with_load_diagnostics(diags, compile(&loaded), |c| &mut c.warnings);
    (loaded, result)
}

/// [`render_staged`] of the spec files under `pipelines`.
pub fn render_dir_staged(
    pipelines: &Path,
    stage: &write::Stage,
) -> (Loaded, Result<Staged, Diagnostics>) {
    let (loaded, diags) = load::load_dir(pipelines);
    let result = with_load_diagnostics(diags, render_staged(&loaded, stage), |r| &mut r.warnings);
    (loaded, result)
}

/// Merge the loader's diagnostics into a compilation's: an error from
/// either fails it; warnings end up sorted in one list.
fn with_load_diagnostics<T>(
    mut diags: Diagnostics,
    result: Result<T, Diagnostics>,
    warnings: impl FnOnce(&mut T) -> &mut Diagnostics,
) -> Result<T, Diagnostics> {
    match result {
        Ok(mut c) => {
            let own = warnings(&mut c);
            diags.0.append(&mut own.0);
            diags.sort();
            if diags.has_errors() {
                Err(diags)
            } else {
                *own = diags;
                Ok(c)
            }
        }
        Err(more) => {
            diags.0.extend(more.0);
            diags.sort();
            Err(diags)
        }
    }
}
