//! Argo CD objects: an Application per service, the app-of-apps that syncs
//! the generated tree, the AppProjects that scope them, and an ApplicationSet
//! per preview.

use std::collections::BTreeMap;

use super::{Object, metadata, sources};
use crate::apps::{self, Apps, Generator, RESOURCES_FINALIZER};
use crate::argo::Manifest;
use crate::argo_cd::{
    AppProjectBody, AppProjectSpec, ApplicationBody, ApplicationSetBody, ApplicationSetSpec,
    ApplicationSpec, ApplicationTemplate, Automated, Backoff, Destination, DirectorySource,
    GroupKind, HelmParameter, HelmSource, KustomizeSource, PullRequestGenerator, PullRequestGithub,
    Retry, ScmFilter, ScmGithub, ScmProviderGenerator, Source, SyncPolicy, TemplateMeta,
};
use crate::model::{LABEL_PREFIX, Model};

pub fn apps(model: &Model, apps: &Apps) -> Vec<Object> {
    let files = sources([apps.file.as_str()]);
    let mut out = Vec::new();
    let in_argocd = |name: &str, extra: &[(&str, &str)]| {
        let mut m = metadata(model, name, extra);
        m.namespace = Some(apps.namespace.clone());
        m
    };
    for project in std::iter::once(&apps.project).chain(apps.preview_project.iter()) {
        let manifest = Manifest {
            api_version: "argoproj.io/v1alpha1",
            kind: "AppProject",
            metadata: in_argocd(&project.name, &[("component", "apps")]),
            body: AppProjectBody {
                spec: AppProjectSpec {
                    description: project.description.clone(),
                    source_repos: project.source_repos.clone(),
                    destinations: project
                        .destinations
                        .iter()
                        .map(|ns| Destination {
                            server: apps.server.clone(),
                            namespace: ns.clone(),
                        })
                        .collect(),
                    // CreateNamespace needs to create Namespaces, nothing else cluster-wide.
                    cluster_resource_whitelist: vec![GroupKind {
                        group: String::new(),
                        kind: "Namespace".into(),
                    }],
                },
            },
        };
        out.push(Object::new(
            format!("argocd/appprojects/{}.yaml", project.name),
            files.clone(),
            manifest,
        ));
    }
    if let Some(platform) = &apps.platform {
        let mut meta = in_argocd(&platform.name, &[("component", "apps")]);
        meta.annotations.insert(
            format!("{LABEL_PREFIX}/description"),
            "The app-of-apps: syncs the tree orchctl generates, including this Application.".into(),
        );
        let manifest = Manifest {
            api_version: "argoproj.io/v1alpha1",
            kind: "Application",
            metadata: meta,
            body: ApplicationBody {
                spec: application(
                    apps,
                    &apps.project.name,
                    Source {
                        repo_url: apps.repo_url.clone(),
                        target_revision: apps.revision.clone(),
                        path: Some(platform.path.clone()),
                        chart: None,
                        helm: None,
                        kustomize: None,
                        directory: None,
                    },
                    &model.project.namespace,
                    &apps::Sync {
                        automated: true,
                        prune: true,
                        self_heal: true,
                        options: vec!["ServerSideApply=true".into()],
                        retry: 5,
                    },
                ),
            },
        };
        out.push(Object::new(
            format!("argocd/applications/{}.yaml", platform.name),
            files.clone(),
            manifest,
        ));
    }
    for service in apps.services.values() {
        let mut meta = in_argocd(
            &service.name,
            &[("component", "apps"), ("service", &service.name)],
        );
        meta.annotations = annotations(service.description.as_deref(), service.wave);
        let manifest = Manifest {
            api_version: "argoproj.io/v1alpha1",
            kind: "Application",
            metadata: meta,
            body: ApplicationBody {
                spec: application(
                    apps,
                    &apps.project.name,
                    source(&service.source),
                    &service.namespace,
                    &service.sync,
                ),
            },
        };
        out.push(Object::new(
            format!("argocd/applications/{}.yaml", service.name),
            files.clone(),
            manifest,
        ));
    }
    for preview in apps.previews.values() {
        let mut meta = in_argocd(
            &preview.name,
            &[("component", "previews"), ("service", &preview.service)],
        );
        meta.annotations = annotations(preview.description.as_deref(), None);
        let generator = match &preview.generator {
            Generator::PullRequests {
                owner,
                repo,
                labels,
                app_secret,
            } => crate::argo_cd::Generator::PullRequest(PullRequestGenerator {
                github: PullRequestGithub {
                    owner: owner.clone(),
                    repo: repo.clone(),
                    labels: labels.clone(),
                    app_secret_name: app_secret.clone(),
                },
                requeue_after_seconds: preview.poll_seconds,
            }),
            Generator::Branches {
                owner,
                repo,
                branch_regex,
                app_secret,
            } => crate::argo_cd::Generator::ScmProvider(ScmProviderGenerator {
                github: ScmGithub {
                    organization: owner.clone(),
                    all_branches: true,
                    app_secret_name: app_secret.clone(),
                },
                filters: vec![ScmFilter {
                    repository_match: format!("^{}$", crate::events::escape(repo)),
                    branch_match: branch_regex.clone(),
                }],
                requeue_after_seconds: preview.poll_seconds,
            }),
        };
        let mut labels = model.project.labels.clone();
        labels.insert(format!("{LABEL_PREFIX}/preview"), preview.name.clone());
        let manifest = Manifest {
            api_version: "argoproj.io/v1alpha1",
            kind: "ApplicationSet",
            metadata: meta,
            body: ApplicationSetBody {
                spec: ApplicationSetSpec {
                    go_template: true,
                    go_template_options: vec!["missingkey=error".into()],
                    generators: vec![generator],
                    template: ApplicationTemplate {
                        metadata: TemplateMeta {
                            name: preview.app_name.clone(),
                            labels,
                            finalizers: vec![RESOURCES_FINALIZER.into()],
                        },
                        spec: application(
                            apps,
                            apps.preview_project
                                .as_ref()
                                .map_or(&apps.project.name, |p| &p.name),
                            source(&preview.source),
                            &preview.namespace,
                            &preview.sync,
                        ),
                    },
                },
            },
        };
        out.push(Object::new(
            format!("argocd/applicationsets/{}.yaml", preview.name),
            sources([preview.file.as_str()]),
            manifest,
        ));
    }
    out
}

/// An Application's spec: where from, where to, how synced.
fn application(
    apps: &Apps,
    project: &str,
    source: Source,
    namespace: &str,
    sync: &apps::Sync,
) -> ApplicationSpec {
    ApplicationSpec {
        project: project.to_string(),
        source,
        destination: Destination {
            server: apps.server.clone(),
            namespace: namespace.to_string(),
        },
        sync_policy: sync_policy(sync),
    }
}

fn annotations(description: Option<&str>, wave: Option<i32>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    if let Some(w) = wave {
        a.insert("argocd.argoproj.io/sync-wave".into(), w.to_string());
    }
    if let Some(d) = description {
        a.insert(format!("{LABEL_PREFIX}/description"), d.to_string());
    }
    a
}

fn source(s: &apps::Source) -> Source {
    Source {
        repo_url: s.repo_url.clone(),
        target_revision: s.revision.clone(),
        path: s.path.clone(),
        chart: s.chart.clone(),
        helm: s.helm.as_ref().map(|h| HelmSource {
            value_files: h.value_files.clone(),
            values_object: h.values.clone(),
            parameters: h
                .parameters
                .iter()
                .map(|(name, value)| HelmParameter {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        }),
        kustomize: (!s.kustomize_images.is_empty()).then(|| KustomizeSource {
            images: s.kustomize_images.clone(),
        }),
        directory: s
            .directory_recurse
            .map(|recurse| DirectorySource { recurse }),
    }
}

fn sync_policy(s: &apps::Sync) -> SyncPolicy {
    SyncPolicy {
        automated: s.automated.then_some(Automated {
            prune: s.prune,
            self_heal: s.self_heal,
        }),
        sync_options: s.options.clone(),
        retry: Retry {
            limit: s.retry,
            backoff: Backoff {
                duration: "5s".into(),
                factor: 2,
                max_duration: "3m".into(),
            },
        },
    }
}
