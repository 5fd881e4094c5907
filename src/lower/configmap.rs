//! ConfigMaps: the agents ConfigMap every agent step mounts, and the
//! semaphore limits Argo reads.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Object, metadata, sources};
use crate::argo::Manifest;
use crate::model::Model;

/// The agents ConfigMap's name, fixed by the platform's agent runtime.
pub const AGENTS_CONFIG_MAP: &str = "controller-agents";

#[derive(Debug, Clone, Serialize)]
struct ConfigMapBody {
    data: BTreeMap<String, String>,
}

pub fn agents(model: &Model) -> Object {
    let mut data = BTreeMap::new();
    for agent in model.agents.values() {
        data.insert(
            format!("{}_system-prompt.md", agent.name),
            agent.prompt.clone(),
        );
        let profile = serde_json::json!({
            "name": agent.name,
            "description": agent.description,
            "model": agent.model,
            "cli": agent.cli,
            "tools": agent.tools,
            "gates": agent.gates.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "tier": agent.tier,
            "settings": agent.settings,
        });
        let profile: serde_json::Map<String, serde_json::Value> = profile
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut text = serde_json::to_string_pretty(&profile).unwrap_or_default();
        text.push('\n');
        data.insert(format!("{}_profile.json", agent.name), text);
    }
    let manifest = Manifest {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: metadata(model, AGENTS_CONFIG_MAP, &[("component", "agents")]),
        body: ConfigMapBody { data },
    };
    let files: Vec<&str> = model.agent_files.iter().map(String::as_str).collect();
    Object::new(
        format!("configmaps/{AGENTS_CONFIG_MAP}.yaml"),
        sources(if files.is_empty() {
            vec![model.runtime.file.as_str()]
        } else {
            files
        }),
        manifest,
    )
}

pub fn semaphores(model: &Model) -> Option<Object> {
    if model.semaphores.is_empty() {
        return None;
    }
    let data: BTreeMap<String, String> = model
        .semaphores
        .values()
        .flat_map(|s| s.keys.iter().map(|(k, v)| (k.clone(), v.to_string())))
        .collect();
    let manifest = Manifest {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: metadata(
            model,
            &model.semaphore_config_map,
            &[("component", "semaphores")],
        ),
        body: ConfigMapBody { data },
    };
    Some(Object::new(
        format!("configmaps/{}.yaml", model.semaphore_config_map),
        sources(model.concurrency_files.iter().map(String::as_str)),
        manifest,
    ))
}
