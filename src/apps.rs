//! Resolving `apps`: Argo CD services, the app-of-apps, AppProjects and
//! preview ApplicationSets.
//!
//! Preview strings use `${preview.NAME}`; each name is checked against the
//! variables the chosen ApplicationSet generator really provides, and
//! compiled to Go template syntax (`{{.NAME}}`), which Argo CD renders with
//! `missingkey=error`.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{image_problem, is_dns_label};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, suggestion};
use crate::load::Loaded;
use crate::model::Model;
use crate::source::Span;
use crate::spec;
use crate::yaml::Seg;

/// Variables of the `pullRequest` generator (GitHub).
pub const PULL_REQUEST_VARS: &[&str] = &[
    "number",
    "title",
    "branch",
    "branch_slug",
    "target_branch",
    "target_branch_slug",
    "head_sha",
    "head_short_sha",
    "head_short_sha_7",
    "author",
    "labels",
];
/// Variables of the `scmProvider` generator (GitHub).
pub const SCM_PROVIDER_VARS: &[&str] = &[
    "organization",
    "repository",
    "url",
    "branch",
    "branch_slug",
    "sha",
    "short_sha",
    "short_sha_7",
    "labels",
];

/// The Argo CD finalizer that deletes an Application's resources with it.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

#[derive(Debug, Clone, PartialEq)]
pub struct Apps {
    pub namespace: String,
    pub server: String,
    pub repo_url: String,
    pub revision: String,
    pub project: Project,
    pub platform: Option<Platform>,
    pub services: BTreeMap<String, Service>,
    pub previews: BTreeMap<String, Preview>,
    /// The AppProject confining previews to their namespaces.
    pub preview_project: Option<Project>,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub name: String,
    pub description: Option<String>,
    pub source_repos: Vec<String>,
    /// Namespaces (or glob patterns) it may deploy to.
    pub destinations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub description: Option<String>,
    pub source: Source,
    pub namespace: String,
    pub sync: Sync,
    pub wave: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub repo_url: String,
    pub revision: String,
    pub path: Option<String>,
    pub chart: Option<String>,
    pub helm: Option<Helm>,
    pub kustomize_images: Vec<String>,
    pub directory_recurse: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Helm {
    pub value_files: Vec<String>,
    pub values: BTreeMap<String, serde_json::Value>,
    /// Helm parameters (`image.tag` → value).
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sync {
    pub automated: bool,
    pub prune: bool,
    pub self_heal: bool,
    pub options: Vec<String>,
    pub retry: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub name: String,
    pub description: Option<String>,
    pub service: String,
    pub generator: Generator,
    /// Go templates.
    pub app_name: String,
    pub namespace: String,
    pub revision: String,
    pub parameters: Vec<(String, String)>,
    /// The namespace as a glob, for the AppProject.
    pub namespace_pattern: String,
    pub poll_seconds: u64,
    pub source: Source,
    pub sync: Sync,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    PullRequests {
        owner: String,
        repo: String,
        labels: Vec<String>,
        app_secret: String,
    },
    Branches {
        owner: String,
        repo: String,
        branch_regex: String,
        app_secret: String,
    },
}

/// Resolve `apps`, if the spec has it.
pub fn resolve(loaded: &Loaded, model: &Model, diags: &mut Diagnostics) -> Option<Apps> {
    let spec = loaded.spec.apps.as_ref()?;
    let file = loaded.origins.apps;
    let span = |path: &[Seg<'_>]| {
        let mut p = vec![Seg::Key("apps")];
        p.extend_from_slice(path);
        loaded.span(file, &p)
    };
    let key_span = |path: &[Seg<'_>]| {
        let mut p = vec![Seg::Key("apps")];
        p.extend_from_slice(path);
        loaded.key_span(file, &p)
    };
    let before = diags.errors();
    let name_ok = |what: &str, name: &str, at: Option<Span>, diags: &mut Diagnostics| {
        if !is_dns_label(name) {
            diags.push(
                Diagnostic::error(Code::InvalidName, format!("{what} `{name}` is not a valid Kubernetes name"))
                    .at(at)
                    .help("use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit"),
            );
        }
    };
    let namespace = spec.namespace.clone().unwrap_or_else(|| "argocd".into());
    name_ok(
        "namespace",
        &namespace,
        span(&[Seg::Key("namespace")]),
        diags,
    );
    if !spec.repo_url.starts_with("https://") && !spec.repo_url.starts_with("git@") {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("`{}` is not a Git repository URL", spec.repo_url),
            )
            .at(span(&[Seg::Key("repoURL")]))
            .help("use the repository's HTTPS URL, e.g. `https://github.com/org/repo.git`"),
        );
    }
    let revision = spec.revision.clone().unwrap_or_else(|| "main".into());
    let server = spec
        .server
        .clone()
        .unwrap_or_else(|| "https://kubernetes.default.svc".into());

    let mut services = BTreeMap::new();
    for (name, s) in &spec.services {
        let base = [Seg::Key("services"), Seg::Key(name)];
        let at = |k: &[Seg<'_>]| {
            let mut p = base.to_vec();
            p.extend_from_slice(k);
            span(&p)
        };
        name_ok("service name", name, key_span(&base), diags);
        name_ok(
            "namespace",
            &s.namespace,
            at(&[Seg::Key("namespace")]),
            diags,
        );
        let Some(source) = source(loaded, &s.source, &spec.repo_url, &revision, &at, diags) else {
            continue;
        };
        services.insert(
            name.clone(),
            Service {
                name: name.clone(),
                description: s.description.clone(),
                source,
                namespace: s.namespace.clone(),
                sync: sync(s.sync.as_ref()),
                wave: s.wave,
            },
        );
    }

    let mut previews = BTreeMap::new();
    for (name, p) in &spec.previews {
        let base = [Seg::Key("previews"), Seg::Key(name)];
        let at = |k: &[Seg<'_>]| {
            let mut path = base.to_vec();
            path.extend_from_slice(k);
            span(&path)
        };
        name_ok("preview name", name, key_span(&base), diags);
        let Some(service) = services.get(&p.service) else {
            if !spec.services.contains_key(&p.service) {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownField,
                        format!("unknown service `{}`", p.service),
                    )
                    .at(at(&[Seg::Key("service")]))
                    .help(suggestion(
                        "service",
                        &p.service,
                        spec.services.keys().map(String::as_str),
                    )),
                );
            }
            continue;
        };
        let (generator, vars, default_ns, app_name, revision_var) =
            match (&p.pull_requests, &p.branches) {
                (Some(pr), None) => {
                    let Some((owner, repo)) = owner_repo(&pr.repository) else {
                        diags.push(repo_error(
                            &pr.repository,
                            at(&[Seg::Key("pullRequests"), Seg::Key("repository")]),
                        ));
                        continue;
                    };
                    (
                        Generator::PullRequests {
                            owner,
                            repo,
                            labels: pr.labels.clone(),
                            app_secret: pr.app_secret.clone(),
                        },
                        PULL_REQUEST_VARS,
                        format!("{}-pr-${{preview.number}}", p.service),
                        format!("{name}-{{{{.number}}}}"),
                        "{{.head_sha}}",
                    )
                }
                (None, Some(b)) => {
                    let Some((owner, repo)) = owner_repo(&b.repository) else {
                        diags.push(repo_error(
                            &b.repository,
                            at(&[Seg::Key("branches"), Seg::Key("repository")]),
                        ));
                        continue;
                    };
                    (
                        Generator::Branches {
                            owner,
                            repo,
                            branch_regex: crate::events::glob_regex("", &b.pattern),
                            app_secret: b.app_secret.clone(),
                        },
                        SCM_PROVIDER_VARS,
                        format!("{}-${{preview.branch_slug}}", p.service),
                        format!("{name}-{{{{.branch_slug}}}}"),
                        "{{.sha}}",
                    )
                }
                _ => {
                    diags.push(
                        Diagnostic::error(
                            Code::StepKind,
                            format!(
                                "preview `{name}` needs `pullRequests` or `branches`, not both"
                            ),
                        )
                        .at(key_span(&base))
                        .help("one ApplicationSet generator per preview"),
                    );
                    continue;
                }
            };
        let ns_text = p.namespace.clone().unwrap_or(default_ns);
        let Some(namespace) = go_template(&ns_text, vars, at(&[Seg::Key("namespace")]), diags)
        else {
            continue;
        };
        let literal_ok = ns_text.split("${").enumerate().all(|(i, part)| {
            let lit = if i == 0 {
                part
            } else {
                part.split_once('}').map_or("", |(_, rest)| rest)
            };
            lit.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if !literal_ok {
            diags.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("preview namespace `{ns_text}` is not a valid namespace"),
                )
                .at(at(&[Seg::Key("namespace")]))
                .help("use lowercase letters, digits and `-` around the `${preview.…}` references"),
            );
        }
        let mut parameters = Vec::new();
        for (k, v) in &p.helm_parameters {
            if let Some(value) = go_template(
                v,
                vars,
                at(&[Seg::Key("helmParameters"), Seg::Key(k)]),
                diags,
            ) {
                parameters.push((k.clone(), value));
            }
        }
        let poll_seconds = match &p.poll {
            None => 300,
            Some(text) => crate::check::parse_duration(text).unwrap_or_else(|| {
                diags.push(
                    Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"))
                        .at(at(&[Seg::Key("poll")]))
                        .help("write a duration like `90s`, `5m`, `1h`"),
                );
                300
            }),
        };
        let mut source = service.source.clone();
        source.revision = revision_var.to_string();
        if let Some(h) = &mut source.helm {
            // The preview's own parameters win over the service's.
            h.parameters
                .retain(|(k, _)| !p.helm_parameters.contains_key(k));
            h.parameters.extend(parameters.iter().cloned());
        } else if !parameters.is_empty() {
            diags.push(
                Diagnostic::error(Code::Conflict, "`helmParameters` need a Helm source")
                    .at(key_span(&[
                        Seg::Key("previews"),
                        Seg::Key(name),
                        Seg::Key("helmParameters"),
                    ]))
                    .help(format!("service `{}` is not deployed with Helm", p.service)),
            );
        }
        previews.insert(
            name.clone(),
            Preview {
                name: name.clone(),
                description: p.description.clone(),
                service: p.service.clone(),
                generator,
                app_name,
                namespace_pattern: glob_of(&namespace),
                namespace,
                revision: revision_var.to_string(),
                parameters,
                poll_seconds,
                source,
                sync: Sync {
                    automated: true,
                    prune: true,
                    self_heal: true,
                    options: vec!["CreateNamespace=true".into()],
                    retry: 3,
                },
                file: loaded.file_name(file).unwrap_or_default(),
            },
        );
    }
    if diags.errors() > before {
        return None;
    }

    let project_name = spec
        .project
        .as_ref()
        .and_then(|p| p.name.clone())
        .unwrap_or_else(|| model.project.name.clone());
    let mut repos: BTreeSet<String> = BTreeSet::from([spec.repo_url.clone()]);
    repos.extend(services.values().map(|s| s.source.repo_url.clone()));
    repos.extend(
        spec.project
            .iter()
            .flat_map(|p| p.source_repos.iter().cloned()),
    );
    let mut destinations: BTreeSet<String> =
        BTreeSet::from([namespace.clone(), model.project.namespace.clone()]);
    destinations.extend(services.values().map(|s| s.namespace.clone()));
    let preview_project = (!previews.is_empty()).then(|| Project {
        name: format!("{project_name}-previews"),
        description: Some("Preview environments, each confined to its own namespace.".into()),
        source_repos: previews
            .values()
            .map(|p| p.source.repo_url.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        destinations: previews
            .values()
            .map(|p| p.namespace_pattern.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    });
    Some(Apps {
        platform: spec.platform.enabled.then(|| Platform {
            name: spec
                .platform
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-platform", model.project.name)),
            path: spec
                .platform
                .path
                .clone()
                .unwrap_or_else(|| "generated".into()),
        }),
        project: Project {
            name: project_name,
            description: spec.project.as_ref().and_then(|p| p.description.clone()),
            source_repos: repos.into_iter().collect(),
            destinations: destinations.into_iter().collect(),
        },
        namespace,
        server,
        repo_url: spec.repo_url.clone(),
        revision,
        services,
        previews,
        preview_project,
        file: loaded.file_name(file).unwrap_or_default(),
    })
}

fn source(
    loaded: &Loaded,
    s: &spec::Source,
    default_repo: &str,
    default_revision: &str,
    at: &dyn Fn(&[Seg<'_>]) -> Option<Span>,
    diags: &mut Diagnostics,
) -> Option<Source> {
    let kinds = [
        s.helm.is_some(),
        s.kustomize.is_some(),
        s.directory.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        diags.push(
            Diagnostic::error(
                Code::Conflict,
                "a source is Helm, kustomize or a directory, not several",
            )
            .at(at(&[Seg::Key("source")]))
            .help("keep one of `helm`, `kustomize`, `directory`"),
        );
        return None;
    }
    if s.path.is_none() == s.chart.is_none() {
        diags.push(
            Diagnostic::error(
                Code::MissingField,
                "a source has a `path` in Git or a `chart` in a Helm repository",
            )
            .at(at(&[Seg::Key("source")]))
            .help("give exactly one of `path` and `chart`"),
        );
        return None;
    }
    let image = |name: &str, path: &[Seg<'_>], diags: &mut Diagnostics| -> Option<String> {
        let found = loaded.spec.images.get(name).cloned();
        if found.is_none() {
            diags.push(
                Diagnostic::error(Code::UnknownImage, format!("unknown image `{name}`"))
                    .at(at(path))
                    .help(suggestion(
                        "image",
                        name,
                        loaded.spec.images.keys().map(String::as_str),
                    )),
            );
        }
        found.filter(|r| image_problem(r).is_none())
    };
    let helm = s.helm.as_ref().map(|h| {
        let mut parameters = Vec::new();
        for (prefix, name) in &h.images {
            if let Some(reference) = image(
                name,
                &[
                    Seg::Key("source"),
                    Seg::Key("helm"),
                    Seg::Key("images"),
                    Seg::Key(prefix),
                ],
                diags,
            ) {
                let (repository, tag) = split_image(&reference);
                parameters.push((format!("{prefix}.repository"), repository));
                parameters.push((format!("{prefix}.tag"), tag));
            }
        }
        Helm {
            value_files: h.value_files.clone(),
            values: h.values.clone(),
            parameters,
        }
    });
    let kustomize_images = s
        .kustomize
        .iter()
        .flat_map(|k| k.images.iter().enumerate())
        .filter_map(|(i, name)| {
            image(
                name,
                &[
                    Seg::Key("source"),
                    Seg::Key("kustomize"),
                    Seg::Key("images"),
                    Seg::Index(i),
                ],
                diags,
            )
        })
        .collect();
    Some(Source {
        repo_url: s
            .repo_url
            .clone()
            .unwrap_or_else(|| default_repo.to_string()),
        revision: s
            .revision
            .clone()
            .unwrap_or_else(|| default_revision.to_string()),
        path: s.path.clone(),
        chart: s.chart.clone(),
        helm,
        kustomize_images,
        directory_recurse: s.directory.as_ref().map(|d| d.recurse),
    })
}

/// `registry/repo:tag[@digest]` → (`registry/repo`, `tag[@digest]`).
#[must_use]
pub fn split_image(reference: &str) -> (String, String) {
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name_tag[slash..].find(':') {
        Some(i) => (&name_tag[..slash + i], &name_tag[slash + i + 1..]),
        None => (name_tag, ""),
    };
    let tag = match digest {
        Some(d) if tag.is_empty() => format!("@{d}"),
        Some(d) => format!("{tag}@{d}"),
        None => tag.to_string(),
    };
    (repo.to_string(), tag)
}

fn sync(s: Option<&spec::Sync>) -> Sync {
    match s {
        Some(s) => Sync {
            automated: s.automated,
            prune: s.prune,
            self_heal: s.self_heal,
            options: s.options.clone().unwrap_or_else(default_options),
            retry: s.retry.unwrap_or(5),
        },
        None => Sync {
            automated: true,
            prune: true,
            self_heal: true,
            options: default_options(),
            retry: 5,
        },
    }
}

fn default_options() -> Vec<String> {
    vec!["CreateNamespace=true".into(), "ServerSideApply=true".into()]
}

fn owner_repo(repository: &str) -> Option<(String, String)> {
    let (o, r) = repository.split_once('/')?;
    (!o.is_empty() && !r.is_empty() && !r.contains('/')).then(|| (o.to_string(), r.to_string()))
}

fn repo_error(repository: &str, at: Option<Span>) -> Diagnostic {
    Diagnostic::error(
        Code::InvalidValue,
        format!("`{repository}` is not a GitHub repository"),
    )
    .at(at)
    .help("write repositories as `org/name`")
}

/// `${preview.NAME}` → `{{.NAME}}`, each name checked against `vars`.
fn go_template(
    text: &str,
    vars: &[&str],
    at: Option<Span>,
    diags: &mut Diagnostics,
) -> Option<String> {
    if text.contains("{{") {
        diags.push(
            Diagnostic::error(
                Code::InvalidExpression,
                "`{{` is template syntax orchctl writes for you",
            )
            .at(at)
            .help("write `${preview.NAME}`"),
        );
        return None;
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            diags.push(
                Diagnostic::error(Code::InvalidExpression, "unterminated `${`")
                    .at(at)
                    .help("write `${preview.NAME}`"),
            );
            return None;
        };
        let inner = rest[start + 2..start + end].trim();
        let Some(var) = inner.strip_prefix("preview.") else {
            diags.push(
                Diagnostic::error(
                    Code::InvalidExpression,
                    format!("unknown reference `${{{inner}}}`"),
                )
                .at(at)
                .help(format!(
                    "previews read `${{preview.NAME}}`, NAME one of {}",
                    vars.join(", ")
                )),
            );
            return None;
        };
        if !vars.contains(&var) {
            diags.push(
                Diagnostic::error(
                    Code::UnknownEventField,
                    format!("the generator of this preview provides no `{var}`"),
                )
                .at(at)
                .help(suggestion("variable", var, vars.iter().copied())),
            );
            return None;
        }
        out.push_str(&format!("{{{{.{var}}}}}"));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A Go-templated name as a glob: every `{{…}}` becomes `*`.
fn glob_of(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        out.push('*');
        rest = rest[start..]
            .find("}}")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split() {
        assert_eq!(
            split_image("ghcr.io/a/b:1.0"),
            ("ghcr.io/a/b".into(), "1.0".into())
        );
        assert_eq!(
            split_image("localhost:5000/b:x@sha256:ab"),
            ("localhost:5000/b".into(), "x@sha256:ab".into())
        );
    }

    #[test]
    fn templates_and_globs() {
        let mut d = Diagnostics::default();
        assert_eq!(
            go_template("web-pr-${preview.number}", PULL_REQUEST_VARS, None, &mut d).as_deref(),
            Some("web-pr-{{.number}}")
        );
        assert!(go_template("${preview.sha}", PULL_REQUEST_VARS, None, &mut d).is_none());
        assert!(
            d.0[0]
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("`head_sha`")
        );
        assert_eq!(glob_of("web-pr-{{.number}}"), "web-pr-*");
    }
}
