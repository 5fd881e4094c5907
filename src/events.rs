//! Resolving `events`: the GitHub source and the routes, checked against the
//! typed table of GitHub events ([`crate::github`]) and the resolved chains.
//!
//! Each route becomes a list of [`Filter`]s — exactly the Argo Events data
//! filters its Sensor carries, each with a sentence saying what it checks —
//! and the chain arguments it passes, bound by parameter name.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::is_dns_label;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean, suggestion};
use crate::github::{self, TRUSTED};
use crate::load::Loaded;
use crate::model::Model;
use crate::source::Span;
use crate::spec::{self, Bots, CommentOn, RatePeriod, SecretKey};
use crate::yaml::Seg;

/// Longest route name: a Workflow name is the route name, `-` and the 36
/// characters of the delivery id, and must stay a valid label value (63).
pub const MAX_ROUTE_NAME: usize = 26;

/// The resolved events section.
#[derive(Debug, Clone, PartialEq)]
pub struct Events {
    pub source: Option<Source>,
    pub event_bus: Option<EventBus>,
    pub routes: BTreeMap<String, Route>,
    /// ServiceAccount the Sensors run as.
    pub sensor_service_account: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    /// Owner → repository names.
    pub repositories: BTreeMap<String, Vec<String>>,
    pub organizations: Vec<String>,
    pub endpoint: String,
    pub port: u16,
    pub url: Option<String>,
    pub secret: SecretKey,
    pub api_token: Option<SecretKey>,
    pub event_bus: String,
    /// Every event some route listens to, sorted.
    pub events: Vec<String>,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventBus {
    pub name: String,
    pub version: String,
    pub replicas: u32,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub description: Option<String>,
    pub event: String,
    pub filters: Vec<Filter>,
    pub chain: String,
    /// Chain parameter → value, in the chain's parameter order.
    pub args: Vec<(String, Arg)>,
    pub rate_limit: Option<(u32, RatePeriod)>,
    pub file: String,
}

/// Where a chain argument comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Literal(String),
    /// A payload field (path from the payload root).
    Field(String),
}

/// One Argo Events data filter and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// gjson path into `{headers, body}`.
    pub path: String,
    pub kind: FilterKind,
    /// What it checks, for people: "comment is on a pull request".
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterKind {
    /// Matches if any regex matches (or, negated, if none does). With a
    /// template, the regexes see the template's output.
    String {
        values: Vec<String>,
        negate: bool,
        template: Option<String>,
    },
    Bool(bool),
}

/// The path of the event type: the `X-GitHub-Event` header (canonicalised,
/// an array of one value).
pub const EVENT_HEADER: &str = "headers.X-Github-Event.0";
/// The delivery id, the same for redeliveries of one event.
pub const DELIVERY_HEADER: &str = "headers.X-Github-Delivery.0";

/// Resolve `events`, if the spec has any.
pub fn resolve(loaded: &Loaded, model: &Model, diags: &mut Diagnostics) -> Option<Events> {
    let spec = loaded.spec.events.as_ref()?;
    let r = Resolver { loaded, model };
    let mut routes = BTreeMap::new();
    for (name, route) in &spec.routes {
        if let Some(route) = r.route(name, route, diags) {
            routes.insert(name.clone(), route);
        }
    }
    let events: BTreeSet<String> = routes.values().map(|r| r.event.clone()).collect();
    let source = r.source(spec, events.into_iter().collect(), diags);
    if source.is_none() && !routes.is_empty() && !loaded.broken.contains("events.github") {
        let file = routes
            .values()
            .next()
            .and_then(|_| loaded.origins.routes.values().next().copied());
        diags.push(
            Diagnostic::error(
                Code::MissingSection,
                "routes need `events.github`, the webhook source",
            )
            .at(loaded.key_span(file, &[Seg::Key("events")]))
            .help("add `events: { github: { secret: { secret: NAME, key: KEY } } }`"),
        );
    }
    let event_bus = spec.event_bus.as_ref().map(|b| {
        let file = loaded.origins.event_bus;
        let name = b.name.clone().unwrap_or_else(|| "default".into());
        if !is_dns_label(&name) {
            diags.push(r.name_error(
                "EventBus name",
                &name,
                loaded.span(
                    file,
                    &[Seg::Key("events"), Seg::Key("eventBus"), Seg::Key("name")],
                ),
            ));
        }
        EventBus {
            name,
            version: b.version.clone(),
            replicas: b.replicas.unwrap_or(3),
            file: loaded.file_name(file).unwrap_or_default(),
        }
    });
    if let (Some(bus), Some(src)) = (&event_bus, &source)
        && bus.name != src.event_bus
    {
        diags.push(
            Diagnostic::error(
                Code::Conflict,
                format!(
                    "the EventBus is `{}` but the source publishes to `{}`",
                    bus.name, src.event_bus
                ),
            )
            .at(loaded.span(
                loaded.origins.github,
                &[
                    Seg::Key("events"),
                    Seg::Key("github"),
                    Seg::Key("eventBusName"),
                ],
            ))
            .help("use the same name for `events.eventBus.name` and `events.github.eventBusName`"),
        );
    }
    Some(Events {
        source,
        event_bus,
        routes,
        sensor_service_account: format!("{}-sensor", model.project.name),
    })
}

struct Resolver<'a> {
    loaded: &'a Loaded,
    model: &'a Model,
}

impl Resolver<'_> {
    fn name_error(&self, what: &str, name: &str, span: Option<Span>) -> Diagnostic {
        Diagnostic::error(Code::InvalidName, format!("{what} `{name}` is not a valid Kubernetes name"))
            .at(span)
            .help("use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit")
    }

    fn source(
        &self,
        spec: &spec::Events,
        events: Vec<String>,
        diags: &mut Diagnostics,
    ) -> Option<Source> {
        let g = spec.github.as_ref()?;
        let file = self.loaded.origins.github;
        let at = |k: &[&'static str]| {
            let mut p = vec![Seg::Key("events"), Seg::Key("github")];
            p.extend(k.iter().map(|k| Seg::Key(k)));
            self.loaded.span(file, &p)
        };
        let name = g.name.clone().unwrap_or_else(|| "github".into());
        if !is_dns_label(&name) {
            diags.push(self.name_error("EventSource name", &name, at(&["name"])));
        }
        let listed = if g.repositories.is_empty() && g.organizations.is_empty() {
            self.model.project.repositories.clone()
        } else {
            g.repositories.clone()
        };
        if !g.repositories.is_empty() && !g.organizations.is_empty() {
            diags.push(
                Diagnostic::error(
                    Code::Conflict,
                    "give `repositories` or `organizations`, not both",
                )
                .at(at(&["organizations"]))
                .help("Argo Events listens to one or the other"),
            );
        }
        if listed.is_empty() && g.organizations.is_empty() {
            diags.push(
                Diagnostic::error(
                    Code::MissingField,
                    "the GitHub source names no repository or organization",
                )
                .at(self
                    .loaded
                    .key_span(file, &[Seg::Key("events"), Seg::Key("github")]))
                .help("list `repositories` (or `project.repositories`) or `organizations`"),
            );
        }
        let mut repositories: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, repo) in listed.iter().enumerate() {
            match repo.split_once('/') {
                Some((owner, name))
                    if !owner.is_empty() && !name.is_empty() && !name.contains('/') =>
                {
                    repositories
                        .entry(owner.to_string())
                        .or_default()
                        .push(name.to_string());
                }
                _ => diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("`{repo}` is not a GitHub repository"),
                    )
                    .at(self.loaded.span(
                        file,
                        &[
                            Seg::Key("events"),
                            Seg::Key("github"),
                            Seg::Key("repositories"),
                            Seg::Index(i),
                        ],
                    ))
                    .help("write repositories as `org/name`"),
                ),
            }
        }
        if !g.webhook.endpoint.starts_with('/') {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    "the webhook endpoint is a path starting with `/`",
                )
                .at(at(&["webhook", "endpoint"]))
                .help("e.g. `/github`"),
            );
        }
        if let Some(url) = &g.webhook.url
            && !url.starts_with("https://")
        {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    "GitHub delivers webhooks to an `https://` URL",
                )
                .at(at(&["webhook", "url"]))
                .help("give the public HTTPS URL of the webhook endpoint"),
            );
        }
        Some(Source {
            name,
            repositories,
            organizations: g.organizations.clone(),
            endpoint: g.webhook.endpoint.clone(),
            port: g.webhook.port,
            url: g.webhook.url.clone(),
            secret: g.secret.clone(),
            api_token: g.api_token.clone(),
            event_bus: g.event_bus_name.clone().unwrap_or_else(|| "default".into()),
            events,
            file: self.loaded.file_name(file).unwrap_or_default(),
        })
    }

    #[allow(clippy::too_many_lines)]
    fn route(&self, name: &str, route: &spec::Route, diags: &mut Diagnostics) -> Option<Route> {
        let file = self.loaded.origins.routes.get(name).copied();
        let base = [Seg::Key("events"), Seg::Key("routes"), Seg::Key(name)];
        let span = |k: &[Seg<'_>]| {
            let mut p = base.to_vec();
            p.extend_from_slice(k);
            self.loaded.span(file, &p)
        };
        let key_span = |k: &[Seg<'_>]| {
            let mut p = base.to_vec();
            p.extend_from_slice(k);
            self.loaded.key_span(file, &p)
        };
        let before = diags.errors();
        if !is_dns_label(name) || name.len() > MAX_ROUTE_NAME {
            diags.push(
                Diagnostic::error(Code::InvalidName, format!("route name `{name}` is not valid"))
                    .at(self.loaded.key_span(file, &base))
                    .help(format!(
                        "use at most {MAX_ROUTE_NAME} lowercase letters, digits and `-`: runs are named `<route>-<delivery id>`, which must stay within 63 characters"
                    )),
            );
        }
        let Some(event) = github::event(&route.on) else {
            let names: Vec<&str> = github::EVENTS.iter().map(|e| e.name).collect();
            diags.push(
                Diagnostic::error(
                    Code::UnknownEvent,
                    format!("unknown GitHub event `{}`", route.on),
                )
                .at(span(&[Seg::Key("on")]))
                .help(match did_you_mean(&route.on, names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("orchctl routes {}", names.join(", ")),
                }),
            );
            return None;
        };
        let mut filters = vec![Filter {
            path: EVENT_HEADER.into(),
            kind: exact([event.name]),
            description: format!("event is `{}`", event.name),
        }];
        // Actions.
        if !route.actions.is_empty() {
            if event.actions.is_empty() {
                diags.push(
                    Diagnostic::error(
                        Code::Conflict,
                        format!("`{}` events have no action", event.name),
                    )
                    .at(key_span(&[Seg::Key("actions")]))
                    .help("remove `actions`"),
                );
            }
            for (i, action) in route.actions.iter().enumerate() {
                if !event.actions.is_empty() && !event.actions.contains(&action.as_str()) {
                    diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!("`{}` has no action `{action}`", event.name),
                        )
                        .at(span(&[Seg::Key("actions"), Seg::Index(i)]))
                        .help(suggestion(
                            "action",
                            action,
                            event.actions.iter().copied(),
                        )),
                    );
                }
            }
            filters.push(Filter {
                path: "body.action".into(),
                kind: exact(route.actions.iter().map(String::as_str)),
                description: format!("action is {}", one_of(&route.actions)),
            });
        }
        let w = &route.when;
        let applies = |cond: &str,
                       location: Option<&'static str>,
                       diags: &mut Diagnostics|
         -> Option<&'static str> {
            if location.is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::Conflict,
                        format!("`{cond}` does not apply to `{}` events", event.name),
                    )
                    .at(key_span(&[Seg::Key("when"), Seg::Key(cond)]))
                    .help(format!(
                        "`{}` payloads carry no {}",
                        event.name,
                        condition_noun(cond)
                    )),
                );
            }
            location
        };
        if let Some(merged) = w.merged
            && let Some(p) = applies("merged", event.merged, diags)
        {
            filters.push(Filter {
                path: format!("body.{p}"),
                kind: FilterKind::Bool(merged),
                description: if merged {
                    "the pull request was merged".into()
                } else {
                    "the pull request was not merged".into()
                },
            });
        }
        for (cond, values, location, what) in [
            (
                "baseBranch",
                &w.base_branch,
                event.base_branch,
                "base branch",
            ),
            (
                "headBranch",
                &w.head_branch,
                event.head_branch,
                "head branch",
            ),
        ] {
            if values.is_empty() {
                continue;
            }
            if let Some(p) = applies(cond, location, diags) {
                let prefix = if event.name == "push" {
                    "refs/heads/"
                } else {
                    ""
                };
                filters.push(Filter {
                    path: format!("body.{p}"),
                    kind: FilterKind::String {
                        values: values.iter().map(|g| glob_regex(prefix, g)).collect(),
                        negate: false,
                        template: None,
                    },
                    description: format!("{what} matches {}", one_of(values)),
                });
            }
        }
        if !w.label.is_empty()
            && let Some(p) = applies("label", event.label, diags)
        {
            filters.push(Filter {
                path: format!("body.{p}"),
                kind: exact(w.label.iter().map(String::as_str)),
                description: format!("label is {}", one_of(&w.label)),
            });
        }
        if !w.conclusion.is_empty()
            && let Some(p) = applies("conclusion", event.conclusion, diags)
        {
            const CONCLUSIONS: &[&str] = &[
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "skipped",
                "stale",
                "startup_failure",
                "success",
                "timed_out",
            ];
            for (i, c) in w.conclusion.iter().enumerate() {
                if !CONCLUSIONS.contains(&c.as_str()) {
                    diags.push(
                        Diagnostic::error(Code::InvalidValue, format!("unknown conclusion `{c}`"))
                            .at(span(&[
                                Seg::Key("when"),
                                Seg::Key("conclusion"),
                                Seg::Index(i),
                            ]))
                            .help(suggestion("conclusion", c, CONCLUSIONS.iter().copied())),
                    );
                }
            }
            filters.push(Filter {
                path: format!("body.{p}"),
                kind: exact(w.conclusion.iter().map(String::as_str)),
                description: format!("conclusion is {}", one_of(&w.conclusion)),
            });
        }
        if let Some(on) = w.comment_on
            && let Some(p) = applies("commentOn", event.issue, diags)
        {
            let on_pr = on == CommentOn::PullRequest;
            filters.push(Filter {
                path: format!("body.{p}"),
                kind: FilterKind::String {
                    values: vec![if on_pr {
                        "^true$".into()
                    } else {
                        "^false$".into()
                    }],
                    negate: false,
                    template: Some(PR_TEMPLATE.into()),
                },
                description: if on_pr {
                    "comment is on a pull request".into()
                } else {
                    "comment is on an issue, not a pull request".into()
                },
            });
        }
        if let Some(command) = &w.command
            && let Some(p) = applies("command", event.body, diags)
        {
            if command.trim().is_empty() || command.contains(char::is_whitespace) {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        "a command is one word, e.g. `/remediate`",
                    )
                    .at(span(&[Seg::Key("when"), Seg::Key("command")]))
                    .help("the route fires when the body starts with the command"),
                );
            }
            filters.push(Filter {
                path: format!("body.{p}"),
                kind: FilterKind::String {
                    values: vec![format!(r"^\s*{}(\s|$)", escape(command))],
                    negate: false,
                    template: None,
                },
                description: format!("body starts with `{command}`"),
            });
        }
        // Author association: explicit, or trusted by default for comments and reviews.
        let associations: Option<Vec<String>> = match &w.author_association {
            Some(list) => {
                if applies("authorAssociation", event.author_association, diags).is_some()
                    && list.is_empty()
                {
                    diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            "`authorAssociation` lists no association",
                        )
                        .at(span(&[Seg::Key("when"), Seg::Key("authorAssociation")]))
                        .help("list the accepted associations, e.g. [OWNER, MEMBER, COLLABORATOR]"),
                    );
                }
                Some(list.iter().map(|a| a.as_str().to_string()).collect())
            }
            None if event.body.is_some() => {
                Some(TRUSTED.iter().map(|s| (*s).to_string()).collect())
            }
            None => None,
        };
        if let (Some(list), Some(p)) = (associations, event.author_association)
            && !list.is_empty()
        {
            filters.push(Filter {
                path: format!("body.{p}"),
                kind: exact(list.iter().map(String::as_str)),
                description: format!("author association is {}", one_of(&list)),
            });
        }
        let bots = w.bots.unwrap_or(if event.human {
            Bots::Exclude
        } else {
            Bots::Allow
        });
        match bots {
            Bots::Allow => {}
            Bots::Exclude | Bots::Only => filters.push(Filter {
                path: "body.sender.type".into(),
                kind: FilterKind::String {
                    values: vec!["^Bot$".into()],
                    negate: bots == Bots::Exclude,
                    template: None,
                },
                description: if bots == Bots::Exclude {
                    "sender is not a bot".into()
                } else {
                    "sender is a bot".into()
                },
            }),
        }
        if !w.repository.is_empty() {
            filters.push(Filter {
                path: "body.repository.full_name".into(),
                kind: exact(w.repository.iter().map(String::as_str)),
                description: format!("repository is {}", one_of(&w.repository)),
            });
        }
        // The chain and its parameters.
        let Some(chain) = self.model.chains.get(&route.run) else {
            if !self.loaded.defines("chains", &route.run) {
                diags.push(
                    Diagnostic::error(Code::UnknownChain, format!("unknown chain `{}`", route.run))
                        .at(span(&[Seg::Key("run")]))
                        .help(suggestion(
                            "chain",
                            &route.run,
                            self.loaded.spec.chains.keys().map(String::as_str),
                        )),
                );
            }
            return None;
        };
        for key in route.with.keys() {
            if !chain.params.contains(key) {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownParameter,
                        format!("chain `{}` has no parameter `{key}`", chain.name),
                    )
                    .at(key_span(&[Seg::Key("with"), Seg::Key(key)]))
                    .help(if chain.params.is_empty() {
                        format!("chain `{}` takes no parameters", chain.name)
                    } else {
                        suggestion("parameter", key, chain.params.iter().map(String::as_str))
                    }),
                );
            }
        }
        let mut args = Vec::new();
        for param in &chain.params {
            let Some(decl) = self.model.param(param) else {
                continue;
            };
            let Some(value) = route.with.get(param) else {
                if decl.default.is_none() {
                    diags.push(
                        Diagnostic::error(
                            Code::UnboundParameter,
                            format!("chain `{}` needs parameter `{param}`, which this route does not pass", chain.name),
                        )
                        .at(self.loaded.key_span(file, &base))
                        .help(format!("add `{param}: ${{event.…}}` under `with`; `{}` carries e.g. {}", event.name, sample_fields(event))),
                    );
                }
                continue;
            };
            let at = span(&[Seg::Key("with"), Seg::Key(param)]);
            match parse_arg(value) {
                Err(message) => diags.push(
                    Diagnostic::error(Code::InvalidExpression, message)
                        .at(at)
                        .help("write `${event.PATH}` for a payload field, or a literal"),
                ),
                Ok(Arg::Field(f)) => {
                    let known = event.fields.contains(&f.as_str());
                    if !known {
                        diags.push(
                            Diagnostic::error(
                                Code::UnknownEventField,
                                format!(
                                    "`{}` events carry no field `{f}` that orchctl knows",
                                    event.name
                                ),
                            )
                            .at(at)
                            .help(match field_hint(&f, event.fields) {
                                Some(best) => format!("did you mean `{best}`?"),
                                None => format!(
                                    "fields of `{}`: {}",
                                    event.name,
                                    event.fields.join(", ")
                                ),
                            }),
                        );
                    }
                    args.push((param.clone(), Arg::Field(f)));
                }
                Ok(Arg::Literal(l)) => {
                    if !decl.allowed.is_empty() && !decl.allowed.contains(&l) {
                        diags.push(
                            Diagnostic::error(
                                Code::ParameterType,
                                format!("`{l}` is not allowed for `{param}`"),
                            )
                            .at(at)
                            .help(format!("`{param}` is one of {}", one_of(&decl.allowed))),
                        );
                    }
                    args.push((param.clone(), Arg::Literal(l)));
                }
            }
        }
        let rate_limit = route.rate_limit.as_ref().map(|r| {
            if r.requests == 0 {
                diags.push(
                    Diagnostic::error(Code::InvalidValue, "a rate limit of 0 stops the route")
                        .at(span(&[Seg::Key("rateLimit"), Seg::Key("requests")]))
                        .help("allow at least 1 request, or remove the route"),
                );
            }
            (r.requests, r.per)
        });
        if diags.errors() > before {
            return None;
        }
        Some(Route {
            name: name.to_string(),
            description: route.description.clone(),
            event: event.name.to_string(),
            filters,
            chain: chain.name.clone(),
            args,
            rate_limit,
            file: self.loaded.file_name(file).unwrap_or_default(),
        })
    }
}

/// The Go template telling a pull request comment from an issue comment:
/// the issue object of a comment on a PR has a `pull_request` key.
pub const PR_TEMPLATE: &str = r#"{{ contains "\"pull_request\":" .Input }}"#;

fn condition_noun(cond: &str) -> &'static str {
    match cond {
        "merged" => "merge state",
        "baseBranch" => "base branch",
        "headBranch" => "head branch",
        "label" => "added label",
        "conclusion" => "conclusion",
        "commentOn" => "comment",
        "command" => "comment or review body",
        "authorAssociation" => "author association",
        _ => "such field",
    }
}

fn sample_fields(event: &github::Event) -> String {
    event
        .fields
        .iter()
        .filter(|f| !f.starts_with("repository.") && !f.starts_with("sender.") && **f != "action")
        .take(3)
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The field meant by a wrong path: a near spelling, or the one field with
/// the same last segment (`pull_request.number` → `issue.number`).
fn field_hint(path: &str, fields: &[&'static str]) -> Option<&'static str> {
    if let Some(best) = did_you_mean(path, fields.iter().copied()) {
        return Some(best);
    }
    let last = path.rsplit('.').next()?;
    let same: Vec<&'static str> = fields
        .iter()
        .copied()
        .filter(|f| f.rsplit('.').next() == Some(last))
        .collect();
    match same.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// `${event.PATH}` or a literal.
fn parse_arg(value: &str) -> Result<Arg, String> {
    if value.contains("{{") {
        return Err("`{{` is Argo's template syntax and is not allowed in a spec".into());
    }
    if let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        let Some(path) = inner.trim().strip_prefix("event.") else {
            return Err(format!("unknown reference `{value}`"));
        };
        if path.is_empty()
            || !path.split('.').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
        {
            return Err(format!("invalid payload path `{path}`"));
        }
        return Ok(Arg::Field(path.to_string()));
    }
    if value.contains("${") {
        return Err("a route parameter is one `${event.PATH}` reference or a literal".into());
    }
    Ok(Arg::Literal(value.replace("$${", "${")))
}

fn exact<'a>(values: impl IntoIterator<Item = &'a str>) -> FilterKind {
    FilterKind::String {
        values: values
            .into_iter()
            .map(|v| format!("^{}$", escape(v)))
            .collect(),
        negate: false,
        template: None,
    }
}

fn one_of(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// Escape regex metacharacters (the set RE2 and Rust's regex agree on).
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A branch glob as an anchored regex: `*` within a path segment, `**`
/// across segments, `?` one character.
#[must_use]
pub fn glob_regex(prefix: &str, glob: &str) -> String {
    let mut out = format!("^{}", escape(prefix));
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push_str(".*");
                i += 2;
                continue;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&escape(&c.to_string())),
        }
        i += 1;
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert_eq!(glob_regex("", "main"), "^main$");
        assert_eq!(glob_regex("", "release/*"), "^release/[^/]*$");
        assert_eq!(
            glob_regex("refs/heads/", "feature/**"),
            "^refs/heads/feature/.*$"
        );
        assert_eq!(escape("a.b+c"), r"a\.b\+c");
    }

    #[test]
    fn args() {
        assert_eq!(
            parse_arg("${event.issue.number}"),
            Ok(Arg::Field("issue.number".into()))
        );
        assert_eq!(parse_arg("main"), Ok(Arg::Literal("main".into())));
        assert!(parse_arg("pr-${event.issue.number}").is_err());
        assert!(parse_arg("${params.x}").is_err());
    }
}
