//! Argo CD: the reference services, app-of-apps, AppProjects and preview
//! ApplicationSet, and the compile-time checks of preview templates.

mod common;

use orchctl::apps::{PULL_REQUEST_VARS, SCM_PROVIDER_VARS};
use serde_json::Value;

fn object(compiled: &orchctl::Compiled, path: &str) -> Value {
    common::yaml_to_json(&compiled.tree[path])
}

/// Every `{{.NAME}}` in a string.
fn template_vars(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{{") {
                let end = rest[i..].find("}}").unwrap();
                out.push(rest[i + 2..i + end].trim().to_string());
                rest = &rest[i + end + 2..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| template_vars(v, out)),
        Value::Object(map) => map.values().for_each(|v| template_vars(v, out)),
        _ => {}
    }
}

#[test]
fn preview_applicationset_uses_only_generator_variables() {
    let compiled = common::compile(&common::root().join("pipelines"));
    let set = object(&compiled, "argocd/applicationsets/controller-pr.yaml");
    assert_eq!(set["spec"]["goTemplate"], true);
    assert_eq!(
        set["spec"]["goTemplateOptions"],
        serde_json::json!(["missingkey=error"])
    );
    assert!(
        set["spec"]["generators"][0]["pullRequest"]["github"]["labels"]
            == serde_json::json!(["preview"])
    );
    let template = &set["spec"]["template"];
    assert_eq!(
        template["metadata"]["finalizers"],
        serde_json::json!(["resources-finalizer.argocd.argoproj.io"]),
        "closing the PR removes everything the preview deployed"
    );
    let mut vars = Vec::new();
    template_vars(template, &mut vars);
    assert!(!vars.is_empty());
    for v in &vars {
        let name = v
            .strip_prefix('.')
            .unwrap_or_else(|| panic!("not a variable: {v}"));
        assert!(
            PULL_REQUEST_VARS.contains(&name),
            "{name} is not a pullRequest variable"
        );
    }
    assert_eq!(
        template["spec"]["destination"]["namespace"],
        "controller-pr-{{.number}}"
    );
    assert_eq!(template["spec"]["project"], "cto-previews");
    let previews = object(&compiled, "argocd/appprojects/cto-previews.yaml");
    assert_eq!(
        previews["spec"]["destinations"],
        serde_json::json!([{"server": "https://kubernetes.default.svc", "namespace": "controller-pr-*"}]),
        "previews are confined to their own namespaces"
    );
}

#[test]
fn services_app_of_apps_and_project() {
    let compiled = common::compile(&common::root().join("pipelines"));
    let platform = object(&compiled, "argocd/applications/cto-platform.yaml");
    assert_eq!(platform["metadata"]["namespace"], "argocd");
    assert_eq!(platform["spec"]["source"]["path"], "generated");
    assert!(
        compiled
            .tree
            .contains_key("argocd/applications/cto-platform.yaml"),
        "the app-of-apps is itself part of the tree it syncs"
    );
    let controller = object(&compiled, "argocd/applications/controller.yaml");
    assert_eq!(
        controller["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"],
        "1"
    );
    assert_eq!(
        controller["spec"]["source"]["helm"]["parameters"],
        serde_json::json!([
            {"name": "image.repository", "value": "ghcr.io/5dlabs/controller"},
            {"name": "image.tag", "value": "sha-3f9c2ab1"},
        ])
    );
    let policy = &controller["spec"]["syncPolicy"];
    assert_eq!(
        policy["automated"],
        serde_json::json!({"prune": true, "selfHeal": true})
    );
    assert_eq!(
        policy["syncOptions"],
        serde_json::json!(["CreateNamespace=true", "ServerSideApply=true"])
    );
    assert_eq!(policy["retry"]["limit"], 5);
    let docs = object(&compiled, "argocd/applications/docs-server.yaml");
    assert_eq!(
        docs["spec"]["source"]["kustomize"]["images"],
        serde_json::json!(["ghcr.io/5dlabs/docs-server:sha-3f9c2ab1"])
    );
    let project = object(&compiled, "argocd/appprojects/cto.yaml");
    let namespaces: Vec<&str> = project["spec"]["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["agents", "argocd", "cto"]);
    assert_eq!(
        project["spec"]["sourceRepos"],
        serde_json::json!(["https://github.com/5dlabs/cto.git"])
    );
}

fn compile_with(apps_yaml: &str) -> Result<orchctl::Compiled, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    common::copy_dir(&common::root().join("pipelines"), &pipelines);
    std::fs::write(pipelines.join("apps.yaml"), apps_yaml).unwrap();
    let (loaded, result) = orchctl::compile_dir(&pipelines);
    result.map_err(|diags| {
        diags
            .0
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let s = d.short(&loaded.sources);
                let s = s
                    .split_once("pipelines/")
                    .map_or(s.clone(), |(_, r)| format!("pipelines/{r}"));
                format!("{s} | {}", d.help.clone().unwrap_or_default())
            })
            .collect()
    })
}

const BRANCHES: &str = "apps:
  repoURL: https://github.com/5dlabs/cto.git
  services:
    controller:
      namespace: cto
      source:
        path: infra/charts/controller
        helm:
          images: { image: controller }
  previews:
    feature:
      service: controller
      branches:
        repository: 5dlabs/cto
        pattern: feature/*
        appSecret: github-app-5dlabs
      helmParameters:
        image.tag: sha-${preview.short_sha_7}
";

#[test]
fn branch_previews_use_the_scm_provider_generator() {
    let compiled = compile_with(BRANCHES).unwrap();
    common::assert_schema_valid(&compiled.tree);
    let set = object(&compiled, "argocd/applicationsets/feature.yaml");
    let scm = &set["spec"]["generators"][0]["scmProvider"];
    assert_eq!(scm["github"]["organization"], "5dlabs");
    assert_eq!(scm["filters"][0]["repositoryMatch"], "^cto$");
    assert_eq!(scm["filters"][0]["branchMatch"], "^feature/[^/]*$");
    let mut vars = Vec::new();
    template_vars(&set["spec"]["template"], &mut vars);
    for v in &vars {
        assert!(
            SCM_PROVIDER_VARS.contains(&v.trim_start_matches('.')),
            "{v}"
        );
    }
    assert_eq!(
        set["spec"]["template"]["spec"]["destination"]["namespace"],
        "controller-{{.branch_slug}}"
    );
}

#[test]
fn a_variable_the_generator_does_not_provide_is_a_compile_error() {
    let errors =
        compile_with(&BRANCHES.replace("${preview.short_sha_7}", "${preview.head_short_sha_7}"))
            .unwrap_err();
    assert_eq!(
        errors,
        [
            "pipelines/apps.yaml:18:20: error[E037]: the generator of this preview provides no `head_short_sha_7` | did you mean `short_sha_7`?"
        ]
    );
    let errors = compile_with(&BRANCHES.replace(
        "service: controller\n      branches",
        "service: controler\n      branches",
    ))
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "pipelines/apps.yaml:12:16: error[E002]: unknown service `controler` | did you mean `controller`?"
        ]
    );
    let errors = compile_with(&BRANCHES.replace("{ image: controller }", "{ image: controllr }"))
        .unwrap_err();
    assert_eq!(
        errors[0],
        "pipelines/apps.yaml:9:28: error[E009]: unknown image `controllr` | did you mean `controller`?"
    );
    let errors = compile_with(&BRANCHES.replace("  previews:\n    feature:\n      service: controller\n", "  previews:\n    feature:\n      service: controller\n      namespace: Preview-${preview.branch}\n")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(
            "error[E008]: preview namespace `Preview-${preview.branch}` is not a valid namespace"
        ),
        "{errors:?}"
    );
    let errors = compile_with(&BRANCHES.replace(
        "      helmParameters:",
        "      pullRequests: { repository: 5dlabs/cto, appSecret: x }\n      helmParameters:",
    ))
    .unwrap_err();
    assert_eq!(
        errors[0],
        "pipelines/apps.yaml:11:5: error[E014]: preview `feature` needs `pullRequests` or `branches`, not both | one ApplicationSet generator per preview"
    );
}
