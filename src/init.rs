//! `orchctl init`: scaffold a working spec.
//!
//! The scaffold is small and complete rather than a copy of the reference
//! platform: the canonical five-step delivery chain and its agents, the
//! event-driven chains and the seed routes (PR comment → remediation,
//! failing check → CI remediator, new issue → triage then delivery, merge →
//! next task), one short prompt file per agent, and the spec's JSON Schema
//! so editors complete the files at once. The files are embedded in the
//! binary (`src/init/`); only the project name, namespace and repositories
//! are filled in. `orchctl render` compiles the result as it is.
//!
//! Nothing is ever overwritten: when any file of the scaffold exists,
//! [`write()`] refuses and writes nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::check::is_dns_label;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::slash_path;

/// The scaffold's files: path relative to the target directory, template.
const FILES: &[(&str, &str)] = &[
    (
        "pipelines/platform.yaml",
        include_str!("init/platform.yaml"),
    ),
    ("pipelines/agents.yaml", include_str!("init/agents.yaml")),
    ("pipelines/events.yaml", include_str!("init/events.yaml")),
    ("pipelines/apps.yaml", include_str!("init/apps.yaml")),
    (
        "pipelines/chains/delivery.yaml",
        include_str!("init/chains/delivery.yaml"),
    ),
    (
        "pipelines/chains/events.yaml",
        include_str!("init/chains/events.yaml"),
    ),
    (
        "pipelines/prompts/author.md",
        include_str!("init/prompts/author.md"),
    ),
    (
        "pipelines/prompts/clippy.md",
        include_str!("init/prompts/clippy.md"),
    ),
    (
        "pipelines/prompts/tests.md",
        include_str!("init/prompts/tests.md"),
    ),
    (
        "pipelines/prompts/deploy.md",
        include_str!("init/prompts/deploy.md"),
    ),
    (
        "pipelines/prompts/acceptance.md",
        include_str!("init/prompts/acceptance.md"),
    ),
    (
        "pipelines/prompts/remediation.md",
        include_str!("init/prompts/remediation.md"),
    ),
    (
        "pipelines/prompts/ci-remediator.md",
        include_str!("init/prompts/ci-remediator.md"),
    ),
    (
        "pipelines/prompts/triage.md",
        include_str!("init/prompts/triage.md"),
    ),
    (
        "pipelines/prompts/conductor.md",
        include_str!("init/prompts/conductor.md"),
    ),
];

/// The project the scaffold is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub project: String,
    pub namespace: String,
    /// `org/repo`, at least one.
    pub repositories: Vec<String>,
}

impl Options {
    /// Defaults for scaffolding into `dir`: the project is named after the
    /// directory, the namespace after the project, and the repository is a
    /// placeholder to replace.
    #[must_use]
    pub fn for_dir(dir: &Path) -> Self {
        let name = std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Lowercase letters and digits, one `-` for each run of other
        // characters (`My  App` → `my-app`).
        let mut project = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                project.push(c.to_ascii_lowercase());
            } else if !project.ends_with('-') {
                project.push('-');
            }
        }
        project.truncate(40);
        let project = project.trim_matches('-').to_string();
        // Too little of the name survives (`ünï` → `n`): a neutral default.
        let kept = project.len() * 2 >= name.chars().count();
        let project = if is_dns_label(&project) && kept {
            project
        } else {
            "platform".to_string()
        };
        Self {
            namespace: project.clone(),
            repositories: vec![format!("example-org/{project}")],
            project,
        }
    }
}

/// The scaffold for `options`: relative path → content, in a stable order.
///
/// # Errors
/// A diagnostic per invalid project name, namespace or repository.
pub fn scaffold(options: &Options) -> Result<Vec<(String, String)>, Diagnostics> {
    let mut diags = Diagnostics::default();
    for (what, value) in [
        ("project name", &options.project),
        ("namespace", &options.namespace),
    ] {
        if !is_dns_label(value) || value.len() > 40 {
            diags.push(
                Diagnostic::error(Code::InvalidName, format!("`{value}` is not a valid {what}"))
                    .help("use at most 40 lowercase letters, digits and `-`, starting and ending with a letter or digit"),
            );
        }
    }
    if options.repositories.is_empty() {
        diags.push(
            Diagnostic::error(Code::MissingField, "no repository given")
                .help("pass --repository ORG/REPO"),
        );
    }
    for repo in &options.repositories {
        let ok = repo.split_once('/').is_some_and(|(org, name)| {
            [org, name].iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            })
        });
        if !ok {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("`{repo}` is not a repository as org/repo"),
                )
                .help("pass --repository ORG/REPO, e.g. --repository acme/api"),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let repositories = options.repositories.join(", ");
    let first = options
        .repositories
        .first()
        .map_or("example-org/platform", String::as_str);
    let mut files: Vec<(String, String)> = FILES
        .iter()
        .map(|(path, template)| {
            let text = if Path::new(path).extension().is_some_and(|e| e == "yaml") {
                template
                    .replace("@PROJECT@", &options.project)
                    .replace("@NAMESPACE@", &options.namespace)
                    .replace("@REPOSITORIES@", &repositories)
                    .replace("@REPOSITORY@", first)
            } else {
                (*template).to_string()
            };
            ((*path).to_string(), text)
        })
        .collect();
    files.push((
        format!("schemas/{}", crate::schema::FILE_NAME),
        crate::schema::schema_json(),
    ));
    Ok(files)
}

/// Write the scaffold below `dir`, creating directories as needed.
///
/// # Errors
/// [`Code::FileExists`] listing every file that exists (nothing is
/// written), or [`Code::Io`] when a file cannot be written (the files
/// written before are removed again).
// One error, returned once: not worth boxing.
#[allow(clippy::result_large_err)]
pub fn write(dir: &Path, files: &[(String, String)]) -> Result<(), Diagnostic> {
    let shown = |rel: &str| {
        let path = slash_path(&dir.join(rel));
        path.strip_prefix("./").map_or(path.clone(), str::to_string)
    };
    let existing: Vec<String> = files
        .iter()
        .filter(|(rel, _)| dir.join(rel).symlink_metadata().is_ok())
        .map(|(rel, _)| shown(rel))
        .collect();
    if !existing.is_empty() {
        return Err(Diagnostic::error(
            Code::FileExists,
            format!(
                "orchctl init would overwrite {} existing file{}: {}",
                existing.len(),
                if existing.len() == 1 { "" } else { "s" },
                existing.join(", ")
            ),
        )
        .help("nothing was written; move those files away, or scaffold into another directory (`orchctl init DIR`)"));
    }
    // Files and directories made so far, to take away again on an error.
    let mut written: Vec<PathBuf> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        let mut make = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                let missing: Vec<PathBuf> = parent
                    .ancestors()
                    .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                    .map(Path::to_path_buf)
                    .collect();
                std::fs::create_dir_all(parent)?;
                made_dirs.extend(missing.into_iter().rev());
            }
            // `create_new`: never replace a file that appeared meanwhile.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            written.push(path.clone());
            f.write_all(text.as_bytes())
        };
        if let Err(e) = make() {
            for done in &written {
                let _ = std::fs::remove_file(done);
            }
            for made in made_dirs.iter().rev() {
                let _ = std::fs::remove_dir(made);
            }
            return Err(
                Diagnostic::error(Code::Io, format!("cannot write `{}`: {e}", shown(rel)))
                    .help("nothing was kept; check permissions and free space"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_all_filled() {
        let files = scaffold(&Options {
            project: "acme".into(),
            namespace: "agents".into(),
            repositories: vec!["acme/api".into(), "acme/web".into()],
        })
        .unwrap();
        for (path, text) in files.iter().filter(|(p, _)| p.starts_with("pipelines/")) {
            assert!(!text.contains('@'), "{path}");
        }
        let platform = &files
            .iter()
            .find(|(p, _)| p.ends_with("platform.yaml"))
            .unwrap()
            .1;
        assert!(platform.contains("repositories: [acme/api, acme/web]"));
    }

    #[test]
    fn bad_names_are_refused() {
        let e = scaffold(&Options {
            project: "Acme Corp".into(),
            namespace: "agents".into(),
            repositories: vec!["acme".into()],
        })
        .unwrap_err();
        let codes: Vec<Code> = e.0.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Code::InvalidName, Code::InvalidValue]);
    }
}
