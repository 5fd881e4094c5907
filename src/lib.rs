//! orchctl compiles a typed spec of agents, chains, event routes,
//! concurrency limits and apps into the manifests Argo Workflows, Argo Events
//! and Argo CD run.
//!
//! Data travels one way: files → [`spec`] ([`load`]) → [`model`] (checked and
//! resolved) → typed objects ([`lower`]) → text ([`emit`]) → disk ([`write`])
//! or a diff ([`drift`]). The library never prints and never exits: every
//! problem is a [`Diagnostic`] with a location.
//!
//! ```
//! let (loaded, diags) = orchctl::load::load_str("platform.yaml", "project: {name: demo}\n");
//! assert!(diags.has_errors()); // `namespace` is missing
//! # let _ = loaded;
//! ```

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
    diags.0.extend(objects.iter().filter_map(too_large));
    if diags.has_errors() {
        return Err(diags);
    }
    let tree = emit::emit(&objects);
    Ok(Compiled {
        model,
        objects,
        tree,
        warnings: diags,
    })
}

/// What `render` needs of a compilation: the output tree, not the objects.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub model: Model,
    pub tree: Tree,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// [`compile`] without keeping the objects: each is written out and dropped
/// as soon as it is made, so memory holds the text, not the objects too.
/// The tree is the same as [`compile`]'s.
///
/// # Errors
/// Every diagnostic found, when at least one is an error.
pub fn render(loaded: &Loaded) -> Result<Rendered, Diagnostics> {
    let (model, mut diags) = model::resolve(loaded);
    let Some(model) = model else {
        return Err(diags);
    };
    let emitted = lower::lower_with(&model, |object| {
        (emit::Emitted::new(&object), too_large(&object))
    });
    let mut files = Vec::with_capacity(emitted.len());
    for (file, error) in emitted {
        files.push(file);
        diags.0.extend(error);
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Rendered {
        model,
        tree: emit::tree(files),
        warnings: diags,
    })
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

/// Load and [`render`] the spec in `pipelines` (what `orchctl render` does).
pub fn render_dir(pipelines: &Path) -> (Loaded, Result<Rendered, Diagnostics>) {
    let (loaded, diags) = load::load_dir(pipelines);
    let result = with_load_diagnostics(diags, render(&loaded), |r| &mut r.warnings);
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
