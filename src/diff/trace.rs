//! Tracing generated objects back to the spec: which element of
//! `pipelines/` produced an object, or a field of it.
//!
//! Objects carry the spec files they came from ([`Object::sources`]) and
//! orchctl's labels (`orchctl.dev/chain`, `…/route`, `…/component`); with the
//! loaded spec's spans that is enough to point at the chain, step, agent,
//! semaphore, parameter or route a change comes from.

use crate::load::Loaded;
use crate::lower::Object;
use crate::source::Span;
use crate::yaml::Seg;

/// One step of a path into an object, with list items named where they have
/// a `name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathSeg {
    Key(String),
    /// The list item with this `name`.
    Name(String),
    Index(usize),
}

/// A spec element and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub span: Span,
    /// What it is: "step `clippy` of chain `delivery`".
    pub element: String,
}

/// The spec element an object as a whole came from.
#[must_use]
pub fn object(loaded: &Loaded, object: &Object) -> Option<Located> {
    field(loaded, object, &[])
}

/// The spec element that produced the field at `path` of `object` (the
/// object's own element when nothing finer is known).
#[must_use]
pub fn field(loaded: &Loaded, object: &Object, path: &[PathSeg]) -> Option<Located> {
    let label = |key: &str| {
        object
            .value()
            .pointer("/metadata/labels")
            .and_then(|l| l.get(format!("{}/{key}", crate::model::LABEL_PREFIX)))
            .and_then(serde_json::Value::as_str)
    };
    let found = match (object.kind.as_str(), label("component")) {
        ("Sensor", _) => label("route").and_then(|r| route(loaded, r)),
        ("WorkflowTemplate", Some("agent-step")) => agent_step(loaded, path),
        ("WorkflowTemplate", _) => label("chain").and_then(|c| chain(loaded, c, path)),
        ("ConfigMap", Some("agents")) => agents(loaded, path),
        ("ConfigMap", Some("semaphores")) => semaphores(loaded, path),
        ("EventSource", _) => at(
            loaded,
            loaded.origins.github,
            &["events", "github"],
            "events.github",
        ),
        ("EventBus", _) => at(
            loaded,
            loaded.origins.event_bus,
            &["events", "eventBus"],
            "events.eventBus",
        ),
        (_, Some("workflow-rbac")) => at(
            loaded,
            loaded.origins.runtime,
            &["runtime", "serviceAccount"],
            "runtime.serviceAccount",
        )
        .or_else(|| at(loaded, loaded.origins.runtime, &["runtime"], "runtime")),
        (_, Some("sensor-rbac")) => at(loaded, loaded.origins.github, &["events"], "events"),
        (_, Some("play-rbac")) => at(loaded, loaded.origins.project, &["project"], "project"),
        ("Application" | "ApplicationSet" | "AppProject", _) => apps(loaded, object),
        _ => None,
    };
    found.or_else(|| first_source(loaded, object))
}

fn at(
    loaded: &Loaded,
    file: Option<crate::source::FileId>,
    keys: &[&str],
    element: &str,
) -> Option<Located> {
    let path: Vec<Seg<'_>> = keys.iter().map(|k| Seg::Key(k)).collect();
    loaded.key_span(file, &path).map(|span| Located {
        span,
        element: element.to_string(),
    })
}

fn first_source(loaded: &Loaded, object: &Object) -> Option<Located> {
    let first = object.sources.first()?;
    let (file, _) = loaded
        .sources
        .iter()
        .find(|(id, _)| loaded.sources.relative(*id) == *first)?;
    Some(Located {
        span: Span {
            file,
            line: 1,
            col: 1,
            len: 1,
            offset: 0,
        },
        element: format!("{}/{first}", loaded.dir),
    })
}

fn route(loaded: &Loaded, name: &str) -> Option<Located> {
    at(
        loaded,
        loaded.origins.routes.get(name).copied(),
        &["events", "routes", name],
        &format!("route `{name}`"),
    )
}

/// The name of the list item after `key` in `path`.
fn named_after<'a>(path: &'a [PathSeg], key: &str) -> Option<&'a str> {
    path.windows(2).find_map(|w| match w {
        [PathSeg::Key(k), PathSeg::Name(n)] if k == key => Some(n.as_str()),
        _ => None,
    })
}

fn chain(loaded: &Loaded, name: &str, path: &[PathSeg]) -> Option<Located> {
    let file = loaded.origins.chains.get(name).copied();
    let whole = || at(loaded, file, &["chains", name], &format!("chain `{name}`"));
    let Some(spec) = loaded.spec.chains.get(name) else {
        return whole();
    };
    // The chain's parameters, as arguments or entrypoint inputs.
    let entry_input = matches!(named_after(path, "templates"), Some(t) if t == name)
        && named_after(path, "tasks").is_none();
    if ((path.first() == Some(&PathSeg::Key("spec".into()))
        && path.get(1) == Some(&PathSeg::Key("arguments".into())))
        || entry_input)
        && let Some(param) = named_after(path, "parameters")
        && let Some(found) = parameter(loaded, param)
    {
        return Some(found);
    }
    let step = match named_after(path, "templates") {
        Some(t) if t == name => named_after(path, "tasks"),
        Some("exit-handler") => spec.on_exit.as_ref().map(|s| s.name.as_str()),
        Some(t) => t.strip_prefix("step-"),
        None => None,
    };
    let Some(step) = step else {
        return whole();
    };
    if let Some(i) = spec.steps.iter().position(|s| s.name == step) {
        return loaded
            .span(
                file,
                &[
                    Seg::Key("chains"),
                    Seg::Key(name),
                    Seg::Key("steps"),
                    Seg::Index(i),
                ],
            )
            .map(|span| Located {
                span,
                element: format!("step `{step}` of chain `{name}`"),
            })
            .or_else(whole);
    }
    if spec.on_exit.as_ref().is_some_and(|s| s.name == step) {
        return at(
            loaded,
            file,
            &["chains", name, "onExit"],
            &format!("exit handler `{step}` of chain `{name}`"),
        )
        .or_else(whole);
    }
    whole()
}

fn parameter(loaded: &Loaded, param: &str) -> Option<Located> {
    let i = loaded
        .spec
        .parameters
        .iter()
        .position(|p| p.name == param)?;
    let &(file, n) = loaded.origins.parameters.get(i)?;
    let span = loaded.span(Some(file), &[Seg::Key("parameters"), Seg::Index(n)])?;
    Some(Located {
        span,
        element: format!("parameter `{param}`"),
    })
}

fn agent_step(loaded: &Loaded, path: &[PathSeg]) -> Option<Located> {
    let runtime = || at(loaded, loaded.origins.runtime, &["runtime"], "runtime");
    if let Some(param) = named_after(path, "parameters") {
        if let Some(found) = parameter(loaded, param) {
            return Some(found);
        }
        if param == crate::model::AGENT {
            return at(
                loaded,
                loaded.origins.agents.values().next().copied(),
                &["agents"],
                "agents",
            );
        }
    }
    if path.iter().any(|s| *s == PathSeg::Key("resources".into()))
        && let Some(template) = named_after(path, "templates")
    {
        let tier = template.strip_prefix("agent-step-").unwrap_or("default");
        if let Some(found) = at(
            loaded,
            loaded.origins.runtime,
            &["runtime", "tiers", tier],
            &format!("tier `{tier}`"),
        ) {
            return Some(found);
        }
    }
    runtime()
}

fn data_key(path: &[PathSeg]) -> Option<&str> {
    match path {
        [PathSeg::Key(d), PathSeg::Key(k), ..] if d == "data" => Some(k),
        _ => None,
    }
}

fn agents(loaded: &Loaded, path: &[PathSeg]) -> Option<Located> {
    if let Some(key) = data_key(path) {
        let agent = key
            .strip_suffix("_system-prompt.md")
            .or_else(|| key.strip_suffix("_profile.json"));
        if let Some(agent) = agent
            && let Some(found) = at(
                loaded,
                loaded.origins.agents.get(agent).copied(),
                &["agents", agent],
                &format!("agent `{agent}`"),
            )
        {
            return Some(found);
        }
    }
    at(
        loaded,
        loaded.origins.agents.values().next().copied(),
        &["agents"],
        "agents",
    )
}

fn semaphores(loaded: &Loaded, path: &[PathSeg]) -> Option<Located> {
    if let Some(key) = data_key(path) {
        let semaphore = loaded
            .origins
            .semaphores
            .keys()
            .filter(|s| key == s.as_str() || key.starts_with(&format!("{s}.")))
            .max_by_key(|s| s.len());
        if let Some(s) = semaphore
            && let Some(found) = at(
                loaded,
                loaded.origins.semaphores.get(s).copied(),
                &["concurrency", "semaphores", s],
                &format!("semaphore `{s}`"),
            )
        {
            return Some(found);
        }
    }
    at(
        loaded,
        loaded.origins.concurrency,
        &["concurrency"],
        "concurrency",
    )
}

fn apps(loaded: &Loaded, object: &Object) -> Option<Located> {
    let file = loaded.origins.apps;
    let name = object.name.as_str();
    let specific = match object.kind.as_str() {
        "Application" => at(
            loaded,
            file,
            &["apps", "services", name],
            &format!("service `{name}`"),
        ),
        "ApplicationSet" => at(
            loaded,
            file,
            &["apps", "previews", name],
            &format!("preview `{name}`"),
        ),
        "AppProject" => at(loaded, file, &["apps", "project"], "apps.project"),
        _ => None,
    };
    specific.or_else(|| at(loaded, file, &["apps"], "apps"))
}
