//! `orchctl route`: which routes a GitHub webhook fires, and with what.
//!
//! It evaluates the filters of the generated Sensors — the very objects
//! `render` writes — with Argo Events' semantics for the kinds orchctl emits:
//! a gjson path into `{headers, body}`; `string` filters match if any value,
//! as an unanchored regex, matches the path's string form (or, with `!=`,
//! if none does); `bool` filters compare the path's truth value; a template
//! is applied to the string first; a path that does not exist fails the
//! filter. Then it extracts the trigger parameters as the Sensor would.

use serde_json::Value;

use crate::events::PR_TEMPLATE;
use crate::lower::Object;
use crate::model::Model;

/// A webhook delivery: event type, delivery id and payload.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: String,
    pub delivery: String,
    pub body: Value,
}

impl Delivery {
    /// The event as a Sensor sees it: canonicalised headers (arrays of
    /// values) and the body, which the GitHub EventSource also gives the two
    /// headers as plain strings.
    #[must_use]
    pub fn as_event(&self) -> Value {
        let mut body = self.body.clone();
        if let Value::Object(map) = &mut body {
            map.insert("X-GitHub-Event".into(), Value::String(self.event.clone()));
            map.insert(
                "X-GitHub-Delivery".into(),
                Value::String(self.delivery.clone()),
            );
        }
        serde_json::json!({
            "headers": {
                "X-Github-Event": [self.event],
                "X-Github-Delivery": [self.delivery],
                "Content-Type": ["application/json"],
            },
            "body": body,
        })
    }
}

/// How one route answered a delivery.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RouteResult {
    pub route: String,
    pub chain: String,
    pub fires: bool,
    pub conditions: Vec<Condition>,
    /// The Workflow the trigger would submit (when the route fires).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Submission>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Condition {
    pub description: String,
    pub passed: bool,
    /// What the payload held at the filter's path (`null` when missing).
    pub found: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Submission {
    pub name: String,
    pub template: String,
    /// Parameter → value, in the order of the Workflow's arguments.
    pub parameters: Vec<(String, String)>,
    /// Parameters whose payload field is missing: the submit would fail.
    pub missing: Vec<String>,
}

/// Evaluate every route's Sensor against a delivery.
#[must_use]
pub fn evaluate(model: &Model, objects: &[Object], delivery: &Delivery) -> Vec<RouteResult> {
    let event = delivery.as_event();
    let Some(events) = &model.events else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for route in events.routes.values() {
        let Some(sensor) = objects
            .iter()
            .find(|o| o.kind == "Sensor" && o.name == route.name)
        else {
            continue;
        };
        let filters = sensor.value()["spec"]["dependencies"][0]["filters"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let conditions: Vec<Condition> = filters
            .iter()
            .zip(route.filters.iter())
            .map(|(filter, resolved)| {
                let (passed, found) = data_filter(filter, &event);
                Condition {
                    description: resolved.description.clone(),
                    passed,
                    found,
                }
            })
            .collect();
        let fires = conditions.iter().all(|c| c.passed);
        let workflow = fires.then(|| submission(sensor.value(), &event));
        out.push(RouteResult {
            route: route.name.clone(),
            chain: route.chain.clone(),
            fires,
            conditions,
            workflow,
        });
    }
    out
}

fn submission(sensor: &Value, event: &Value) -> Submission {
    let trigger = &sensor["spec"]["triggers"][0]["template"]["argoWorkflow"];
    let mut workflow = trigger["source"]["resource"].clone();
    let mut missing = Vec::new();
    for p in trigger["parameters"].as_array().into_iter().flatten() {
        let key = p["src"]["dataKey"].as_str().unwrap_or_default();
        let dest = p["dest"].as_str().unwrap_or_default();
        let value = lookup(event, key).map(to_gjson_string);
        let Some(value) = value else {
            missing.push(dest.to_string());
            continue;
        };
        let append = p["operation"].as_str() == Some("append");
        set(&mut workflow, dest, &value, append);
    }
    let parameters: Vec<(String, String)> = workflow["spec"]["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let names: Vec<String> = missing
        .iter()
        .map(|dest| {
            dest.strip_prefix("spec.arguments.parameters.")
                .and_then(|rest| rest.split('.').next())
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| parameters.get(i).map(|(n, _)| n.clone()))
                .unwrap_or_else(|| dest.clone())
        })
        .collect();
    Submission {
        name: workflow["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        template: workflow["spec"]["workflowTemplateRef"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        parameters,
        missing: names,
    }
}

/// Write `value` at a dotted path (sjson-style, numeric segments index arrays).
fn set(target: &mut Value, path: &str, value: &str, append: bool) {
    let mut node = target;
    for seg in path.split('.') {
        node = match node {
            Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(n) => n,
                None => return,
            },
            Value::Object(map) => map.entry(seg.to_string()).or_insert(Value::Null),
            _ => return,
        };
    }
    let current = node.as_str().unwrap_or_default().to_string();
    *node = Value::String(if append {
        current + value
    } else {
        value.to_string()
    });
}

/// Follow a gjson-style dotted path; numeric segments index arrays.
#[must_use]
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = value;
    for seg in path.split('.') {
        node = match node {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// gjson's `String()`: strings as they are, other values as JSON text,
/// `null` as empty.
#[must_use]
pub fn to_gjson_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// gjson's `Bool()`.
fn to_gjson_bool(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "t"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// One data filter against the event: (passed, what the path held).
fn data_filter(filter: &Value, event: &Value) -> (bool, Option<String>) {
    let path = filter["path"].as_str().unwrap_or_default();
    let Some(found) = lookup(event, path) else {
        return (false, None);
    };
    let text = to_gjson_string(found);
    let values: Vec<&str> = filter["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let passed = match filter["type"].as_str() {
        Some("bool") => values
            .iter()
            .any(|v| v.parse::<bool>().ok() == Some(to_gjson_bool(found))),
        Some("string") => {
            let input = match filter["template"].as_str() {
                Some(t) if t == PR_TEMPLATE => text.contains("\"pull_request\":").to_string(),
                Some(_) => return (false, Some(text)),
                None => text.clone(),
            };
            let any = values
                .iter()
                .any(|v| regex::Regex::new(v).is_ok_and(|re| re.is_match(&input)));
            if filter["comparator"].as_str() == Some("!=") {
                !any
            } else {
                any
            }
        }
        _ => false,
    };
    let shown = if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    };
    (passed, Some(shown))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn filters_follow_argo_events_semantics() {
        let event = json!({"headers": {"X-Github-Event": ["pull_request_review"]}, "body": {"n": 3, "merged": true, "issue": {"pull_request": {"url": "u"}}, "t": "Bot"}});
        let f = |v: Value| data_filter(&v, &event).0;
        // Unanchored regex: `pull_request` matches inside `pull_request_review`;
        // orchctl anchors its regexes for that reason.
        assert!(f(
            json!({"path": "headers.X-Github-Event.0", "type": "string", "value": ["pull_request"]})
        ));
        assert!(!f(
            json!({"path": "headers.X-Github-Event.0", "type": "string", "value": ["^pull_request$"]})
        ));
        assert!(f(
            json!({"path": "body.merged", "type": "bool", "value": ["true"]})
        ));
        assert!(!f(
            json!({"path": "body.missing", "type": "string", "value": ["."]})
        ));
        assert!(!f(
            json!({"path": "body.t", "type": "string", "value": ["^Bot$"], "comparator": "!="})
        ));
        assert!(f(
            json!({"path": "body.issue", "type": "string", "value": ["^true$"], "template": PR_TEMPLATE})
        ));
    }
}
