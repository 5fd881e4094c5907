//! Least-privilege RBAC: a ServiceAccount, a Role with exactly the rules its
//! pods need, and the RoleBinding between them. Workflow pods may only report
//! task results (what Argo's executor needs); agents reach GitHub with the App
//! credentials, never the Kubernetes API. Sensors may only submit Workflows.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use serde::Serialize;

use super::{Object, metadata, sources};
use crate::argo::Manifest;
use crate::model::Model;

#[derive(Debug, Clone, Serialize)]
struct Empty {}

#[derive(Debug, Clone, Serialize)]
struct RoleBody {
    rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleBindingBody {
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

/// A rule on Argo resources.
fn rule(resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["argoproj.io".to_string()]),
        resources: Some(resources.iter().map(|r| (*r).to_string()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_string()).collect(),
        ..PolicyRule::default()
    }
}

pub fn workflow_rbac(model: &Model) -> Vec<Object> {
    objects(
        model,
        &model.runtime.service_account,
        "workflow-rbac",
        vec![rule(&["workflowtaskresults"], &["create", "patch"])],
        sources([model.runtime.file.as_str()]),
    )
}

/// What `orchctl play`'s Workflow needs: create each task's run from its
/// chain template and wait for it.
pub fn play_rbac(model: &Model) -> Vec<Object> {
    objects(
        model,
        &model.play_service_account(),
        "play-rbac",
        vec![
            rule(&["workflows"], &["create", "get", "list", "watch", "patch"]),
            rule(&["workflowtemplates"], &["get"]),
            rule(&["workflowtaskresults"], &["create", "patch"]),
        ],
        sources([model.runtime.file.as_str()]),
    )
}

pub fn sensor_rbac(model: &Model, account: &str, files: Vec<String>) -> Vec<Object> {
    objects(
        model,
        account,
        "sensor-rbac",
        vec![
            // Submit runs, and find them again after submitting.
            rule(&["workflows"], &["create", "get", "list"]),
            // Resolve `workflowTemplateRef` while submitting.
            rule(&["workflowtemplates"], &["get"]),
        ],
        files,
    )
}

fn objects(
    model: &Model,
    account: &str,
    component: &str,
    rules: Vec<PolicyRule>,
    files: Vec<String>,
) -> Vec<Object> {
    let extra = [("component", component)];
    let sa = Manifest {
        api_version: "v1",
        kind: "ServiceAccount",
        metadata: metadata(model, account, &extra),
        body: Empty {},
    };
    let role = Manifest {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: metadata(model, account, &extra),
        body: RoleBody { rules },
    };
    let binding = Manifest {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: metadata(model, account, &extra),
        body: RoleBindingBody {
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Role".to_string(),
                name: account.to_string(),
            },
            subjects: vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: account.to_string(),
                namespace: Some(model.project.namespace.clone()),
                ..Subject::default()
            }],
        },
    };
    vec![
        Object::new(
            format!("rbac/{account}-serviceaccount.yaml"),
            files.clone(),
            sa,
        ),
        Object::new(format!("rbac/{account}-role.yaml"), files.clone(), role),
        Object::new(format!("rbac/{account}-rolebinding.yaml"), files, binding),
    ]
}
