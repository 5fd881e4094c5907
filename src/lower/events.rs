//! Argo Events objects: the GitHub EventSource, an optional EventBus, one
//! Sensor per route, and the Sensors' RBAC.
//!
//! Each Sensor's trigger submits a Workflow from the route's chain template.
//! Its arguments are listed by name in the chain's parameter order, and each
//! trigger parameter writes the index of its own name in that list: the
//! wiring is generated, never hand-numbered. The Workflow is named
//! `<route>-<X-GitHub-Delivery>`, so a redelivered webhook cannot start a
//! second run: the second submit fails because the name exists.

use std::collections::BTreeMap;

use super::{Object, metadata, sources};
use crate::argo::{Arguments, Manifest, Meta, Parameter};
use crate::argo_events::{
    ArgoWorkflowTrigger, ArtifactLocation, Backoff, DataFilter, EventBusBody, EventBusSpec,
    EventDependency, EventDependencyFilter, EventSourceBody, EventSourceSpec, GithubEventSource,
    JetStream, OwnedRepositories, RateLimit, SecretKeySelector, SensorBody, SensorSpec,
    SensorTemplate, Service, ServicePort, Trigger, TriggerParameter, TriggerParameterSource,
    TriggerTemplate, WebhookContext, WorkflowRefSpec, WorkflowResource, WorkflowTemplateRef,
};
use crate::events::{Arg, DELIVERY_HEADER, Events, Filter, FilterKind, Route};
use crate::model::{LABEL_PREFIX, Model};
use crate::spec::RatePeriod;

/// The name of the Sensor dependency on the GitHub source.
pub const DEPENDENCY: &str = "github";

pub fn events(model: &Model, events: &Events) -> Vec<Object> {
    let mut out = Vec::new();
    let Some(source) = &events.source else {
        return out;
    };
    let github = GithubEventSource {
        repositories: source
            .repositories
            .iter()
            .map(|(owner, names)| OwnedRepositories {
                owner: owner.clone(),
                names: names.clone(),
            })
            .collect(),
        organizations: source.organizations.clone(),
        webhook: WebhookContext {
            endpoint: source.endpoint.clone(),
            port: source.port.to_string(),
            method: "POST",
            url: source.url.clone(),
        },
        events: if source.events.is_empty() {
            vec!["*".into()]
        } else {
            source.events.clone()
        },
        webhook_secret: SecretKeySelector {
            name: source.secret.secret.clone(),
            key: source.secret.key.clone(),
        },
        api_token: source.api_token.as_ref().map(|t| SecretKeySelector {
            name: t.secret.clone(),
            key: t.key.clone(),
        }),
        content_type: "json",
        active: true,
        insecure: false,
    };
    let es = Manifest {
        api_version: "argoproj.io/v1alpha1",
        kind: "EventSource",
        metadata: metadata(model, &source.name, &[("component", "events")]),
        body: EventSourceBody {
            spec: EventSourceSpec {
                event_bus_name: source.event_bus.clone(),
                service: Service {
                    ports: vec![ServicePort {
                        port: source.port,
                        target_port: source.port,
                    }],
                },
                github: BTreeMap::from([(DEPENDENCY.to_string(), github)]),
            },
        },
    };
    out.push(Object::new(
        format!("eventsources/{}.yaml", source.name),
        sources([source.file.as_str()]),
        es,
    ));
    if let Some(bus) = &events.event_bus {
        let manifest = Manifest {
            api_version: "argoproj.io/v1alpha1",
            kind: "EventBus",
            metadata: metadata(model, &bus.name, &[("component", "events")]),
            body: EventBusBody {
                spec: EventBusSpec {
                    jetstream: JetStream {
                        version: bus.version.clone(),
                        replicas: bus.replicas,
                    },
                },
            },
        };
        out.push(Object::new(
            format!("eventbus/{}.yaml", bus.name),
            sources([bus.file.as_str()]),
            manifest,
        ));
    }
    for route in events.routes.values() {
        out.push(sensor(
            model,
            events,
            &source.name,
            &source.event_bus,
            route,
        ));
    }
    if !events.routes.is_empty() {
        let files: Vec<&str> = events
            .routes
            .values()
            .map(|r| r.file.as_str())
            .chain([source.file.as_str()])
            .collect();
        out.extend(super::rbac::sensor_rbac(
            model,
            &events.sensor_service_account,
            sources(files),
        ));
    }
    out
}

/// The data filter for one resolved filter.
#[must_use]
pub fn data_filter(f: &Filter) -> DataFilter {
    match &f.kind {
        FilterKind::String {
            values,
            negate,
            template,
        } => DataFilter {
            path: f.path.clone(),
            ty: "string",
            value: values.clone(),
            comparator: negate.then_some("!="),
            template: template.clone(),
        },
        FilterKind::Bool(b) => DataFilter {
            path: f.path.clone(),
            ty: "bool",
            value: vec![b.to_string()],
            comparator: None,
            template: None,
        },
    }
}

fn sensor(model: &Model, events: &Events, source: &str, bus: &str, route: &Route) -> Object {
    let mut meta = metadata(
        model,
        &route.name,
        &[("route", &route.name), ("chain", &route.chain)],
    );
    if let Some(d) = &route.description {
        meta.annotations
            .insert(format!("{LABEL_PREFIX}/description"), d.clone());
    }
    // The Workflow's arguments, by name, in the chain's order; literal values
    // in place, payload fields filled by trigger parameters at the index of
    // their own name.
    let mut arguments = Vec::new();
    let mut parameters = Vec::new();
    for (index, (name, arg)) in route.args.iter().enumerate() {
        match arg {
            Arg::Literal(value) => arguments.push(Parameter::value(name, value)),
            Arg::Field(path) => {
                arguments.push(Parameter::value(name, ""));
                parameters.push(TriggerParameter {
                    src: TriggerParameterSource {
                        dependency_name: DEPENDENCY.into(),
                        data_key: format!("body.{path}"),
                    },
                    dest: format!("spec.arguments.parameters.{index}.value"),
                    operation: None,
                });
            }
        }
    }
    parameters.push(TriggerParameter {
        src: TriggerParameterSource {
            dependency_name: DEPENDENCY.into(),
            data_key: DELIVERY_HEADER.into(),
        },
        dest: "metadata.name".into(),
        operation: Some("append"),
    });
    let mut labels = model.project.labels.clone();
    labels.insert(format!("{LABEL_PREFIX}/route"), route.name.clone());
    labels.insert(format!("{LABEL_PREFIX}/chain"), route.chain.clone());
    let workflow = WorkflowResource {
        api_version: "argoproj.io/v1alpha1",
        kind: "Workflow",
        metadata: Meta {
            name: format!("{}-", route.name),
            namespace: Some(model.project.namespace.clone()),
            labels,
            annotations: BTreeMap::new(),
        },
        spec: WorkflowRefSpec {
            workflow_template_ref: WorkflowTemplateRef {
                name: route.chain.clone(),
            },
            arguments: (!arguments.is_empty()).then_some(Arguments {
                parameters: arguments,
            }),
        },
    };
    let manifest = Manifest {
        api_version: "argoproj.io/v1alpha1",
        kind: "Sensor",
        metadata: meta,
        body: SensorBody {
            spec: SensorSpec {
                event_bus_name: bus.to_string(),
                template: SensorTemplate {
                    service_account_name: events.sensor_service_account.clone(),
                },
                dependencies: vec![EventDependency {
                    name: DEPENDENCY.into(),
                    event_source_name: source.to_string(),
                    event_name: DEPENDENCY.into(),
                    filters: EventDependencyFilter {
                        data_logical_operator: "and",
                        data: route.filters.iter().map(data_filter).collect(),
                    },
                }],
                triggers: vec![Trigger {
                    template: TriggerTemplate {
                        name: format!("run-{}", route.chain),
                        argo_workflow: ArgoWorkflowTrigger {
                            operation: "submit",
                            source: ArtifactLocation { resource: workflow },
                            parameters,
                        },
                    },
                    rate_limit: route.rate_limit.map(|(requests, per)| RateLimit {
                        unit: match per {
                            RatePeriod::Second => "Second",
                            RatePeriod::Minute => "Minute",
                            RatePeriod::Hour => "Hour",
                        },
                        requests_per_unit: requests,
                    }),
                    retry_strategy: Backoff {
                        steps: 3,
                        duration: "5s".into(),
                        factor: 2.0,
                    },
                }],
            },
        },
    };
    Object::new(
        format!("sensors/{}.yaml", route.name),
        sources([route.file.as_str()]),
        manifest,
    )
}
