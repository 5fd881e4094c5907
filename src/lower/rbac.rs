//! Least-privilege RBAC for workflow pods: a ServiceAccount, and a Role that
//! lets Argo's executor report task results — nothing else. Agents reach
//! GitHub with the App credentials, never the Kubernetes API.

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

pub fn workflow_rbac(model: &Model) -> Vec<Object> {
    let sa = &model.runtime.service_account;
    let files = sources([model.runtime.file.as_str()]);
    let extra = [("component", "workflow-rbac")];
    let account = Manifest {
        api_version: "v1",
        kind: "ServiceAccount",
        metadata: metadata(model, sa, &extra),
        body: Empty {},
    };
    let role = Manifest {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: metadata(model, sa, &extra),
        body: RoleBody {
            rules: vec![PolicyRule {
                api_groups: Some(vec!["argoproj.io".to_string()]),
                resources: Some(vec!["workflowtaskresults".to_string()]),
                verbs: vec!["create".to_string(), "patch".to_string()],
                ..PolicyRule::default()
            }],
        },
    };
    let binding = Manifest {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: metadata(model, sa, &extra),
        body: RoleBindingBody {
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Role".to_string(),
                name: sa.clone(),
            },
            subjects: vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: sa.clone(),
                namespace: Some(model.project.namespace.clone()),
                ..Subject::default()
            }],
        },
    };
    vec![
        Object::new(
            format!("rbac/{sa}-serviceaccount.yaml"),
            files.clone(),
            &account,
        ),
        Object::new(format!("rbac/{sa}-role.yaml"), files.clone(), &role),
        Object::new(format!("rbac/{sa}-rolebinding.yaml"), files, &binding),
    ]
}
