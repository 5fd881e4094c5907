//! The resolved model: the spec with defaults applied (once, here), every
//! reference resolved, every expression compiled to its Argo form, and no
//! optional settings left for later stages to interpret.
//!
//! [`resolve`] checks while it resolves and reports every problem it finds;
//! it returns a model only when there are no errors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::check::{
    go_duration, image_problem, is_config_map_key, is_dns_label, is_env_name, is_label_key,
    is_label_value, is_param_name, parse_duration,
};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, suggestion};
use crate::expr::{Ref, Template};
use crate::load::Loaded;
use crate::source::{FileId, Span};
use crate::spec::{
    self, Gate, OnTimeout, ParamType, PodGcStrategy, RetryPolicy, Scope, SecretKey,
    SecurityDefaults, Tier, Workspace,
};
use crate::yaml::Seg;

/// Parameters of `agent-step` that orchctl sets per step.
pub const AGENT: &str = "agent";
pub const MODEL: &str = "model";
pub const STEP: &str = "step";
pub const TIMEOUT: &str = "timeout";
pub const RETRIES: &str = "retries";
/// Parameter names orchctl sets on `agent-step` itself.
pub const RESERVED: &[&str] = &[STEP, TIMEOUT, RETRIES];

/// Label keys orchctl writes.
pub const LABEL_PREFIX: &str = "orchctl.dev";

/// The whole resolved platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub project: Project,
    pub runtime: Runtime,
    /// The parameter catalogue, in declaration order.
    pub parameters: Vec<Param>,
    pub agents: BTreeMap<String, Agent>,
    pub chains: BTreeMap<String, Chain>,
    pub semaphores: BTreeMap<String, Semaphore>,
    pub mutexes: BTreeMap<String, Mutex>,
    pub semaphore_config_map: String,
    /// Spec files that define agents (for the agents ConfigMap header).
    pub agent_files: BTreeSet<String>,
    /// Spec files that define concurrency.
    pub concurrency_files: BTreeSet<String>,
    /// GitHub events and routes, when the spec has them.
    pub events: Option<crate::events::Events>,
    /// Argo CD applications, when the spec has them.
    pub apps: Option<crate::apps::Apps>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub name: String,
    pub namespace: String,
    pub repositories: Vec<String>,
    /// Labels on every object: the user's plus `app.kubernetes.io/*`.
    pub labels: BTreeMap<String, String>,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Runtime {
    pub image: String,
    pub command: Vec<String>,
    pub service_account: String,
    pub tiers: BTreeMap<String, Tier>,
    pub workspace: Workspace,
    pub security: SecurityDefaults,
    pub github: spec::GitHubApp,
    pub secret_env: BTreeMap<String, SecretKey>,
    pub env: BTreeMap<String, String>,
    pub outputs: Vec<String>,
    pub locks: Vec<Lock>,
    pub telemetry: Option<Telemetry>,
    /// Parameters used as correlation labels.
    pub correlation: Vec<String>,
    /// Task prompt path relative to the workspace.
    pub task_prompt: String,
    pub step_timeout: u64,
    pub chain_deadline: u64,
    pub retry: Retry,
    pub ttl: Ttl,
    pub pod_gc: PodGcStrategy,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry {
    pub endpoint: String,
    pub service_name: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub limit: u32,
    pub policy: RetryPolicy,
    /// Go durations (`30s`), as Argo reads them.
    pub backoff: Option<Backoff>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub duration: String,
    pub factor: u32,
    pub max_duration: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ttl {
    pub after_completion: Option<u64>,
    pub after_success: Option<u64>,
    pub after_failure: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub default: Option<String>,
    pub allowed: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub description: Option<String>,
    pub prompt: String,
    pub model: String,
    pub cli: Option<String>,
    pub tools: Vec<String>,
    pub gates: Vec<Gate>,
    pub tier: String,
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// A semaphore or mutex a template holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lock {
    Semaphore(String),
    Mutex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Semaphore {
    pub name: String,
    pub per: Scope,
    /// ConfigMap key → limit.
    pub keys: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mutex {
    pub name: String,
    pub per: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
    /// The parameters the chain's steps need, in catalogue order.
    pub params: Vec<String>,
    pub steps: Vec<Step>,
    pub deadline: u64,
    pub ttl: Ttl,
    pub pod_gc: PodGcStrategy,
    pub parallelism: Option<u32>,
    pub locks: Vec<Lock>,
    pub on_exit: Option<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub deps: Vec<String>,
    /// The Argo `when` expression.
    pub when: Option<String>,
    pub kind: StepKind,
    /// Arguments: target parameter → Argo value (shared with the DAG task
    /// lowered from the step).
    pub args: Arc<[crate::argo::Argument]>,
    pub retry: Option<Retry>,
    pub timeout: Option<u64>,
    pub continue_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Agent { tier: String },
    Container(Container),
    Approval(Approval),
    Chain { chain: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Env var → literal value, or `None` when it comes from the input of the
    /// same name.
    pub env: Vec<(String, Option<String>)>,
    pub tier: String,
    pub outputs: Vec<String>,
    pub workspace: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub description: Option<String>,
    pub timeout: Option<u64>,
    pub on_timeout: OnTimeout,
}

impl Approval {
    /// Whether the gate carries an `approved` output that later steps check.
    #[must_use]
    pub fn guards(&self) -> bool {
        self.timeout.is_some() && self.on_timeout == OnTimeout::Reject
    }
}

impl Model {
    /// Names of `agent-step`'s inputs, in order.
    #[must_use]
    pub fn agent_step_inputs(&self) -> Vec<&Param> {
        self.parameters
            .iter()
            .filter(|p| p.name != AGENT && p.name != MODEL && !RESERVED.contains(&p.name.as_str()))
            .collect()
    }

    #[must_use]
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// The ServiceAccount `orchctl play`'s Workflows run as.
    #[must_use]
    pub fn play_service_account(&self) -> String {
        format!("{}-play", self.project.name)
    }

    /// The `agent-step` template of a tier.
    #[must_use]
    pub fn agent_step_template(&self, tier: &str) -> String {
        if tier == "default" {
            "agent-step".to_string()
        } else {
            format!("agent-step-{tier}")
        }
    }
}

/// Resolve a loaded spec. Returns the model when there were no errors.
#[must_use]
pub fn resolve(loaded: &Loaded) -> (Option<Model>, Diagnostics) {
    let mut r = Resolver {
        loaded,
        diags: Diagnostics::default(),
    };
    crate::check::secrets(loaded, &mut r.diags);
    let model = r.model();
    let mut diags = r.diags;
    diags.sort();
    if diags.has_errors() {
        (None, diags)
    } else {
        (model, diags)
    }
}

/// Most steps one chain may have. Far beyond what a cluster can store in one
/// WorkflowTemplate (each step is a DAG task of a few hundred bytes, and etcd
/// keeps at most 1.5 MiB per object), and small enough that the rows of
/// ancestor bits of a chain of steps in a row stay within a few megabytes.
pub const MAX_CHAIN_STEPS: usize = 10_000;

struct Resolver<'a> {
    loaded: &'a Loaded,
    diags: Diagnostics,
}

/// Where a compiled reference lands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A task of the chain's DAG: parameters are the DAG template's inputs.
    Dag,
    /// The exit handler: parameters are the workflow's.
    Exit,
}

impl<'a> Resolver<'a> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Where a prompt template's error points: its line in a prompt file, or
    /// the inline prompt.
    fn prompt_span(
        &self,
        file: Option<FileId>,
        path: &[Seg<'_>],
        line: Option<usize>,
    ) -> Option<Span> {
        if !path.is_empty() {
            return self.span(file, path);
        }
        let line = line.unwrap_or(1);
        file.map(|file| Span {
            file,
            line,
            col: 1,
            len: self
                .loaded
                .sources
                .line(file, line)
                .map_or(1, |l| l.chars().count().max(1)),
            offset: 0,
        })
    }

    fn span(&self, file: Option<FileId>, path: &[Seg<'_>]) -> Option<Span> {
        self.loaded.span(file, path)
    }

    fn key_span(&self, file: Option<FileId>, path: &[Seg<'_>]) -> Option<Span> {
        self.loaded.key_span(file, path)
    }

    fn file_name(&self, file: Option<FileId>) -> String {
        self.loaded.file_name(file).unwrap_or_default()
    }

    fn duration(
        &mut self,
        value: Option<&str>,
        default: u64,
        file: Option<FileId>,
        path: &[Seg<'_>],
    ) -> u64 {
        let Some(text) = value else { return default };
        if let Some(s) = parse_duration(text) {
            return s;
        }
        self.err(
            Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"))
                .at(self.span(file, path))
                .help("write a number of seconds or a duration like `90s`, `15m`, `2h`, `1d`, `1h30m`"),
        );
        default
    }

    fn model(&mut self) -> Option<Model> {
        let spec = &self.loaded.spec;
        let project = self.project();
        let parameters = self.parameters();
        let semaphores = self.semaphores(project.as_ref());
        let mutexes = self.mutexes(&parameters);
        let runtime = self.runtime(project.as_ref(), &semaphores, &mutexes);
        let agents = self.agents(project.as_ref(), runtime.as_ref());
        self.unused_images();
        let (project, runtime) = (project?, runtime?);
        let mut model = Model {
            semaphore_config_map: spec
                .concurrency
                .as_ref()
                .and_then(|c| c.config_map.clone())
                .unwrap_or_else(|| format!("{}-semaphores", project.name)),
            project,
            runtime,
            parameters,
            agents,
            chains: BTreeMap::new(),
            semaphores,
            mutexes,
            agent_files: self
                .loaded
                .origins
                .agents
                .values()
                .map(|f| self.file_name(Some(*f)))
                .collect(),
            concurrency_files: self
                .loaded
                .origins
                .semaphores
                .values()
                .chain(self.loaded.origins.mutexes.values())
                .chain(self.loaded.origins.concurrency.iter())
                .map(|f| self.file_name(Some(*f)))
                .collect(),
            events: None,
            apps: None,
        };
        if !is_config_map_key(&model.semaphore_config_map)
            || !is_dns_label(&model.semaphore_config_map)
        {
            let file = self.loaded.origins.concurrency;
            self.err(
                Diagnostic::error(
                    Code::InvalidName,
                    format!(
                        "`{}` is not a valid ConfigMap name",
                        model.semaphore_config_map
                    ),
                )
                .at(self.span(file, &[Seg::Key("concurrency"), Seg::Key("configMap")]))
                .help("use lowercase letters, digits and `-`"),
            );
        }
        if model.agents.is_empty()
            && self
                .loaded
                .spec
                .chains
                .values()
                .any(|c| c.steps.iter().any(|s| s.agent.is_some()))
        {
            // Reported per step below.
        }
        self.chains(&mut model);
        model.events = crate::events::resolve(self.loaded, &model, &mut self.diags);
        model.apps = crate::apps::resolve(self.loaded, &model, &mut self.diags);
        Some(model)
    }

    fn project(&mut self) -> Option<crate::model::Project> {
        let file = self.loaded.origins.project;
        let Some(p) = &self.loaded.spec.project else {
            if self.loaded.failed {
                // Missing because a file or the section failed to load: reported.
                return None;
            }
            self.err(
                Diagnostic::error(
                    Code::MissingSection,
                    format!("no file under {}/ declares `project`", self.loaded.dir),
                )
                .help("add `project: { name: …, namespace: … }` to one spec file"),
            );
            return None;
        };
        let at = |r: &Self, k: &str| r.span(file, &[Seg::Key("project"), Seg::Key(k)]);
        if !is_dns_label(&p.name) {
            self.err(name_error("project name", &p.name, at(self, "name")));
        }
        if !is_dns_label(&p.namespace) {
            self.err(name_error("namespace", &p.namespace, at(self, "namespace")));
        }
        for (i, repo) in p.repositories.iter().enumerate() {
            let ok = repo.split_once('/').is_some_and(|(org, name)| {
                !org.is_empty()
                    && !name.is_empty()
                    && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
            if !ok {
                self.err(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("`{repo}` is not a GitHub repository"),
                    )
                    .at(self.span(
                        file,
                        &[Seg::Key("project"), Seg::Key("repositories"), Seg::Index(i)],
                    ))
                    .help("write repositories as `org/name`"),
                );
            }
        }
        self.labels(&p.labels, file, &[Seg::Key("project"), Seg::Key("labels")]);
        let mut labels = p.labels.clone();
        labels.insert("app.kubernetes.io/managed-by".into(), "orchctl".into());
        labels.insert("app.kubernetes.io/part-of".into(), p.name.clone());
        Some(crate::model::Project {
            name: p.name.clone(),
            namespace: p.namespace.clone(),
            repositories: p.repositories.clone(),
            labels,
            file: self.file_name(file),
        })
    }

    fn labels(
        &mut self,
        labels: &BTreeMap<String, String>,
        file: Option<FileId>,
        path: &[Seg<'_>],
    ) {
        for (k, v) in labels {
            let mut p = path.to_vec();
            p.push(Seg::Key(k));
            if !is_label_key(k) {
                self.err(
                    Diagnostic::error(Code::InvalidLabel, format!("`{k}` is not a valid label key"))
                        .at(self.key_span(file, &p))
                        .help("a label key is `[prefix/]name`: prefix a DNS subdomain, name up to 63 of `[A-Za-z0-9._-]`"),
                );
            }
            if !is_label_value(v) {
                self.err(
                    Diagnostic::error(Code::InvalidLabel, format!("`{v}` is not a valid label value"))
                        .at(self.span(file, &p))
                        .help("a label value is up to 63 of `[A-Za-z0-9._-]`, starting and ending alphanumeric (`org/repo` is not; use an annotation)"),
                );
            }
        }
    }

    fn parameters(&mut self) -> Vec<Param> {
        let mut out = Vec::new();
        for (p, (file, index)) in self.loaded.spec.parameters.iter().zip(
            self.loaded
                .origins
                .parameters
                .iter()
                .copied()
                .map(|(f, i)| (Some(f), i))
                .chain(std::iter::repeat((None, 0))),
        ) {
            let base = [Seg::Key("parameters"), Seg::Index(index)];
            let at = |r: &Self, k: &str| {
                let mut path = base.to_vec();
                path.push(Seg::Key(k));
                r.span(file, &path)
            };
            if !is_param_name(&p.name) {
                self.err(
                    Diagnostic::error(
                        Code::InvalidName,
                        format!("`{}` is not a valid parameter name", p.name),
                    )
                    .at(at(self, "name"))
                    .help("use letters, digits, `_` and `-`, starting with a letter"),
                );
            }
            if RESERVED.contains(&p.name.as_str()) {
                self.err(
                    Diagnostic::error(
                        Code::ReservedName,
                        format!("`{}` is set by orchctl on every agent step", p.name),
                    )
                    .at(at(self, "name"))
                    .help("choose another parameter name"),
                );
            }
            if let Some(d) = &p.default
                && !d.fits(p.ty)
            {
                self.err(
                    Diagnostic::error(
                        Code::ParameterType,
                        format!("default `{}` is not {}", d.to_argo(), type_name(p.ty)),
                    )
                    .at(at(self, "default"))
                    .help(format!("give {} default or change `type`", type_name(p.ty))),
                );
            }
            for (i, v) in p.allowed.iter().enumerate() {
                if !v.fits(p.ty) {
                    let mut path = base.to_vec();
                    path.extend([Seg::Key("enum"), Seg::Index(i)]);
                    self.err(
                        Diagnostic::error(
                            Code::ParameterType,
                            format!("enum value `{}` is not {}", v.to_argo(), type_name(p.ty)),
                        )
                        .at(self.span(file, &path))
                        .help(format!("list only values that are {}", type_name(p.ty))),
                    );
                }
            }
            if let Some(d) = &p.default
                && !p.allowed.is_empty()
                && !p.allowed.iter().any(|v| v.to_argo() == d.to_argo())
            {
                self.err(
                    Diagnostic::error(
                        Code::ParameterType,
                        format!("default `{}` is not in `enum`", d.to_argo()),
                    )
                    .at(at(self, "default"))
                    .help("make the default one of the enum values"),
                );
            }
            out.push(Param {
                name: p.name.clone(),
                ty: p.ty,
                default: p.default.as_ref().map(spec::ParamValue::to_argo),
                allowed: p.allowed.iter().map(spec::ParamValue::to_argo).collect(),
                description: p.description.clone(),
            });
        }
        out
    }

    fn image(&mut self, name: &str, file: Option<FileId>, path: &[Seg<'_>]) -> Option<String> {
        if let Some(reference) = self.loaded.spec.images.get(name) {
            return Some(reference.clone());
        }
        if self.loaded.defines("images", name) {
            return None;
        }
        self.err(
            Diagnostic::error(Code::UnknownImage, format!("unknown image `{name}`"))
                .at(self.span(file, path))
                .help(suggestion(
                    "image",
                    name,
                    self.loaded.spec.images.keys().map(String::as_str),
                )),
        );
        None
    }

    fn check_images(&mut self) {
        for (name, reference) in &self.loaded.spec.images {
            let file = self.loaded.origins.images.get(name).copied();
            let path = [Seg::Key("images"), Seg::Key(name)];
            if !is_dns_label(name) {
                self.err(name_error("image name", name, self.key_span(file, &path)));
            }
            if let Some(problem) = image_problem(reference) {
                self.err(
                    Diagnostic::error(
                        Code::InvalidImage,
                        format!("invalid image reference `{reference}`"),
                    )
                    .at(self.span(file, &path))
                    .help(problem),
                );
            } else if reference.ends_with(":latest") {
                self.err(
                    Diagnostic::warning(Code::InvalidImage, format!("image `{name}` uses the `latest` tag"))
                        .at(self.span(file, &path))
                        .help("pin a commit-SHA tag so that Git says what runs; `orchctl set-image` bumps it"),
                );
            }
        }
    }

    fn unused_images(&mut self) {
        self.check_images();
        let spec = &self.loaded.spec;
        let mut used: BTreeSet<&str> = BTreeSet::new();
        if let Some(r) = &spec.runtime {
            used.insert(&r.image);
        }
        for c in spec.chains.values() {
            for s in c.steps.iter().chain(c.on_exit.as_deref()) {
                if let Some(ct) = &s.container {
                    used.insert(&ct.image);
                }
            }
        }
        for service in spec.apps.iter().flat_map(|a| a.services.values()) {
            used.extend(
                service
                    .source
                    .helm
                    .iter()
                    .flat_map(|h| h.images.values())
                    .map(String::as_str),
            );
            used.extend(
                service
                    .source
                    .kustomize
                    .iter()
                    .flat_map(|k| k.images.iter())
                    .map(String::as_str),
            );
        }
        for name in spec.images.keys() {
            if !used.contains(name.as_str()) && !self.loaded.failed {
                let file = self.loaded.origins.images.get(name).copied();
                self.err(
                    Diagnostic::warning(Code::Unused, format!("image `{name}` is not used"))
                        .at(self.key_span(file, &[Seg::Key("images"), Seg::Key(name)]))
                        .help("remove it, or use it from `runtime.image`, a container step or an Argo CD service"),
                );
            }
        }
    }

    fn retry(&mut self, retry: &spec::Retry, file: Option<FileId>, path: &[Seg<'_>]) -> Retry {
        let backoff = retry.backoff.as_ref().map(|b| {
            let mut p = path.to_vec();
            p.extend([Seg::Key("backoff"), Seg::Key("duration")]);
            let duration = self.duration(Some(&b.duration), 30, file, &p);
            let max = b.max_duration.as_deref().map(|m| {
                let mut p = path.to_vec();
                p.extend([Seg::Key("backoff"), Seg::Key("maxDuration")]);
                self.duration(Some(m), 600, file, &p)
            });
            Backoff {
                duration: go_duration(duration),
                factor: b.factor,
                max_duration: max.map(go_duration),
            }
        });
        Retry {
            limit: retry.limit,
            policy: retry.policy,
            backoff,
        }
    }

    fn ttl(
        &mut self,
        ttl: Option<&spec::Ttl>,
        default: &Ttl,
        file: Option<FileId>,
        path: &[Seg<'_>],
    ) -> Ttl {
        let Some(t) = ttl else { return default.clone() };
        let mut one = |v: &Option<String>, key: &str| {
            v.as_deref().map(|text| {
                let mut p = path.to_vec();
                p.push(Seg::Key(key));
                self.duration(Some(text), 0, file, &p)
            })
        };
        Ttl {
            after_completion: one(&t.after_completion, "afterCompletion"),
            after_success: one(&t.after_success, "afterSuccess"),
            after_failure: one(&t.after_failure, "afterFailure"),
        }
    }

    fn runtime(
        &mut self,
        project: Option<&crate::model::Project>,
        semaphores: &BTreeMap<String, Semaphore>,
        mutexes: &BTreeMap<String, Mutex>,
    ) -> Option<Runtime> {
        let file = self.loaded.origins.runtime;
        let Some(r) = &self.loaded.spec.runtime else {
            if self.loaded.failed {
                return None;
            }
            self.err(
                Diagnostic::error(
                    Code::MissingSection,
                    format!("no file under {}/ declares `runtime`", self.loaded.dir),
                )
                .help("add a `runtime:` section (image, command, tiers, github) to one spec file"),
            );
            return None;
        };
        let at = |k: &[&'static str]| {
            let mut p = vec![Seg::Key("runtime")];
            p.extend(k.iter().map(|k| Seg::Key(k)));
            p
        };
        let image = self.image(&r.image, file, &at(&["image"]));
        if r.command.is_empty() {
            self.err(
                Diagnostic::error(Code::InvalidValue, "`runtime.command` is empty")
                    .at(self.key_span(file, &at(&["command"])))
                    .help("name the agent entrypoint, e.g. `[/usr/local/bin/agent-run]`"),
            );
        }
        for arg in &r.command {
            self.literal(arg, file, &at(&["command"]));
        }
        if r.tiers.is_empty() {
            self.err(
                Diagnostic::error(Code::MissingField, "`runtime.tiers` declares no tier")
                    .at(self.key_span(file, &at(&["tiers"])))
                    .help("declare at least `default: { requests: {cpu, memory}, limits: {cpu, memory} }`"),
            );
        }
        for name in r.tiers.keys() {
            if !is_dns_label(name) {
                let mut p = at(&["tiers"]);
                p.push(Seg::Key(name));
                self.err(name_error("tier name", name, self.key_span(file, &p)));
            }
        }
        let ws = &r.workspace;
        if ws.claim.is_some() && (ws.size.is_some() || ws.storage_class.is_some()) {
            self.err(
                Diagnostic::error(
                    Code::Conflict,
                    "`workspace.claim` and `workspace.size` exclude each other",
                )
                .at(self.key_span(file, &at(&["workspace", "claim"])))
                .help("use an existing claim, or a per-run claim of `size` — not both"),
            );
        }
        if ws.claim.is_none() && ws.size.is_none() {
            self.err(
                Diagnostic::error(
                    Code::MissingField,
                    "the workspace needs `size` (a per-run claim) or `claim` (an existing one)",
                )
                .at(self
                    .key_span(file, &at(&["workspace"]))
                    .or_else(|| self.key_span(file, &[Seg::Key("runtime")])))
                .help("add `workspace: { size: 10Gi }`"),
            );
        }
        if !ws.mount_path.starts_with('/') {
            self.err(
                Diagnostic::error(Code::InvalidValue, "`workspace.mountPath` must be absolute")
                    .at(self.span(file, &at(&["workspace", "mountPath"])))
                    .help("e.g. `/workspace`"),
            );
        }
        if r.security_context.run_as_user == 0 {
            self.err(
                Diagnostic::error(
                    Code::InvalidValue,
                    "agent containers never run as root (uid 0)",
                )
                .at(self.span(file, &at(&["securityContext", "runAsUser"])))
                .help("use a non-zero uid such as 1000"),
            );
        }
        let service_account = r.service_account.clone().unwrap_or_else(|| {
            format!(
                "{}-workflow",
                project.map_or("orchctl", |p| p.name.as_str())
            )
        });
        if !is_dns_label(&service_account) {
            self.err(name_error(
                "service account",
                &service_account,
                self.span(file, &at(&["serviceAccount"])),
            ));
        }
        for name in r.secret_env.keys().chain(r.env.keys()) {
            if !is_env_name(name) {
                let which = if r.env.contains_key(name) {
                    "env"
                } else {
                    "secretEnv"
                };
                self.err(
                    Diagnostic::error(
                        Code::InvalidEnvName,
                        format!("`{name}` is not an environment variable name"),
                    )
                    .at(self.key_span(
                        file,
                        &[Seg::Key("runtime"), Seg::Key(which), Seg::Key(name)],
                    ))
                    .help("use `[A-Za-z_][A-Za-z0-9_]*`"),
                );
            }
        }
        for (name, value) in &r.env {
            self.literal(
                value,
                file,
                &[Seg::Key("runtime"), Seg::Key("env"), Seg::Key(name)],
            );
        }
        for (i, o) in r.outputs.iter().enumerate() {
            if !is_param_name(o) {
                self.err(
                    Diagnostic::error(
                        Code::InvalidName,
                        format!("`{o}` is not a valid output name"),
                    )
                    .at(self.span(
                        file,
                        &[Seg::Key("runtime"), Seg::Key("outputs"), Seg::Index(i)],
                    ))
                    .help("use letters, digits, `_` and `-`"),
                );
            }
        }
        let locks = self.locks(
            &r.concurrency,
            semaphores,
            mutexes,
            file,
            &at(&["concurrency"]),
        );
        let defaults = &r.defaults;
        let step_timeout = self.duration(
            defaults.step_timeout.as_deref(),
            3600,
            file,
            &at(&["defaults", "stepTimeout"]),
        );
        let chain_deadline = self.duration(
            defaults.chain_deadline.as_deref(),
            6 * 3600,
            file,
            &at(&["defaults", "chainDeadline"]),
        );
        let retry = match &defaults.retry {
            Some(retry) => self.retry(retry, file, &at(&["defaults", "retry"])),
            None => Retry {
                limit: 2,
                policy: RetryPolicy::OnFailure,
                backoff: Some(Backoff {
                    duration: "30s".into(),
                    factor: 2,
                    max_duration: Some("10m".into()),
                }),
            },
        };
        let ttl = self.ttl(
            defaults.ttl.as_ref(),
            &Ttl {
                after_completion: None,
                after_success: Some(86_400),
                after_failure: Some(7 * 86_400),
            },
            file,
            &at(&["defaults", "ttl"]),
        );
        let telemetry = r.telemetry.as_ref().map(|t| Telemetry {
            endpoint: t.otlp_endpoint.clone(),
            service_name: t.service_name.clone().unwrap_or_else(|| {
                format!("{}-agents", project.map_or("orchctl", |p| p.name.as_str()))
            }),
            attributes: t.attributes.clone(),
        });
        for (k, v) in r.telemetry.iter().flat_map(|t| &t.attributes) {
            if k.contains([',', '=']) || v.contains([',', '=']) {
                self.err(
                    Diagnostic::error(
                        Code::InvalidValue,
                        "telemetry attributes cannot contain `,` or `=`",
                    )
                    .at(self.span(
                        file,
                        &[
                            Seg::Key("runtime"),
                            Seg::Key("telemetry"),
                            Seg::Key("attributes"),
                            Seg::Key(k),
                        ],
                    ))
                    .help("they are joined into OTEL_RESOURCE_ATTRIBUTES as `k=v,k=v`"),
                );
            }
        }
        let correlation = match &r.correlation {
            Some(list) => {
                for (i, name) in list.iter().enumerate() {
                    if !self.loaded.spec.parameters.iter().any(|p| &p.name == name) {
                        self.err(
                            Diagnostic::error(
                                Code::UnknownParameter,
                                format!("unknown parameter `{name}`"),
                            )
                            .at(self.span(
                                file,
                                &[Seg::Key("runtime"), Seg::Key("correlation"), Seg::Index(i)],
                            ))
                            .help(suggestion(
                                "parameter",
                                name,
                                self.loaded.spec.parameters.iter().map(|p| p.name.as_str()),
                            )),
                        );
                    }
                }
                list.clone()
            }
            None => ["repository", "prNumber", "taskId"]
                .iter()
                .filter(|n| self.loaded.spec.parameters.iter().any(|p| p.name == **n))
                .map(|n| (*n).to_string())
                .collect(),
        };
        let task_prompt = r
            .task_prompt
            .clone()
            .unwrap_or_else(|| "task/prompt.md".to_string());
        if task_prompt.starts_with('/') || task_prompt.split('/').any(|c| c == "..") {
            self.err(
                Diagnostic::error(
                    Code::InvalidValue,
                    "`taskPrompt` is a path inside the workspace",
                )
                .at(self.span(file, &at(&["taskPrompt"])))
                .help("write it relative to the workspace, e.g. `task/prompt.md`"),
            );
        }
        Some(Runtime {
            image: image?,
            correlation,
            task_prompt,
            command: r.command.clone(),
            service_account,
            tiers: r.tiers.clone(),
            workspace: r.workspace.clone(),
            security: r.security_context.clone(),
            github: r.github.app.clone(),
            secret_env: r.secret_env.clone(),
            env: r.env.clone(),
            outputs: r.outputs.clone(),
            locks,
            telemetry,
            step_timeout,
            chain_deadline,
            retry,
            ttl,
            pod_gc: defaults.pod_gc.unwrap_or(PodGcStrategy::OnPodSuccess),
            file: self.file_name(file),
        })
    }

    /// A string that must be literal: no references, no `{{`.
    fn literal(&mut self, text: &str, file: Option<FileId>, path: &[Seg<'_>]) {
        match Template::parse(text) {
            Ok(t) if t.as_literal().is_some() => {}
            Ok(_) => self.err(
                Diagnostic::error(Code::InvalidExpression, "references are not allowed here")
                    .at(self.span(file, path))
                    .help("values reach containers only as environment variables: use a container step's `env`"),
            ),
            Err(e) => self.expr_error(&e, file, path),
        }
    }

    fn expr_error(&mut self, e: &crate::expr::ExprError, file: Option<FileId>, path: &[Seg<'_>]) {
        let span = self.span(file, path).map(|s| shift(s, e.offset, e.len));
        self.err(
            Diagnostic::error(Code::InvalidExpression, e.message.clone())
                .at(span)
                .help(e.help.clone()),
        );
    }

    fn semaphores(
        &mut self,
        project: Option<&crate::model::Project>,
    ) -> BTreeMap<String, Semaphore> {
        let mut out = BTreeMap::new();
        let Some(c) = &self.loaded.spec.concurrency else {
            return out;
        };
        let repos: Vec<String> = project.map(|p| p.repositories.clone()).unwrap_or_default();
        for (name, s) in &c.semaphores {
            let file = self.loaded.origins.semaphores.get(name).copied();
            let path = [
                Seg::Key("concurrency"),
                Seg::Key("semaphores"),
                Seg::Key(name),
            ];
            if !is_dns_label(name) {
                self.err(name_error(
                    "semaphore name",
                    name,
                    self.key_span(file, &path),
                ));
            }
            let scopes: Vec<String> = match s.per {
                Scope::Global => Vec::new(),
                Scope::Repository => repos.clone(),
                Scope::Organization => {
                    let orgs: BTreeSet<String> = repos
                        .iter()
                        .filter_map(|r| r.split_once('/').map(|(o, _)| o.to_string()))
                        .collect();
                    orgs.into_iter().collect()
                }
            };
            if s.per != Scope::Global && scopes.is_empty() && project.is_some() {
                self.err(
                    Diagnostic::error(
                        Code::MissingField,
                        format!("semaphore `{name}` is per {} but `project.repositories` is empty", scope_name(s.per)),
                    )
                    .at(self.key_span(file, &path))
                    .help("list the repositories (`org/name`) under `project.repositories`: Argo needs one limit per key before a run can take it"),
                );
            }
            let mut keys = BTreeMap::new();
            if s.per == Scope::Global {
                keys.insert(name.clone(), s.limit);
            }
            for scope in &scopes {
                keys.insert(format!("{name}.{}", scope.replace('/', ".")), s.limit);
            }
            for (target, limit) in &s.overrides {
                if s.per != Scope::Global && project.is_none() {
                    // Without the project the scopes are unknown: reported there.
                    continue;
                }
                if s.per == Scope::Global || !scopes.contains(target) {
                    let mut p = path.to_vec();
                    p.extend([Seg::Key("overrides"), Seg::Key(target)]);
                    self.err(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!("`{target}` is not a {} of semaphore `{name}`", scope_name(s.per)),
                        )
                        .at(self.key_span(file, &p))
                        .help(if s.per == Scope::Global {
                            "a global semaphore has one limit; overrides apply to per-repository or per-organization semaphores".to_string()
                        } else {
                            suggestion(scope_name(s.per), target, scopes.iter().map(String::as_str))
                        }),
                    );
                    continue;
                }
                keys.insert(format!("{name}.{}", target.replace('/', ".")), *limit);
            }
            if s.limit == 0 {
                let mut p = path.to_vec();
                p.push(Seg::Key("limit"));
                self.err(
                    Diagnostic::error(
                        Code::InvalidValue,
                        "a semaphore limit of 0 blocks every run",
                    )
                    .at(self.span(file, &p))
                    .help("use a limit of 1 or more"),
                );
            }
            out.insert(
                name.clone(),
                Semaphore {
                    name: name.clone(),
                    per: s.per,
                    keys,
                },
            );
        }
        out
    }

    fn mutexes(&mut self, parameters: &[Param]) -> BTreeMap<String, Mutex> {
        let mut out = BTreeMap::new();
        let Some(c) = &self.loaded.spec.concurrency else {
            return out;
        };
        for (name, m) in &c.mutexes {
            let file = self.loaded.origins.mutexes.get(name).copied();
            let path = [Seg::Key("concurrency"), Seg::Key("mutexes"), Seg::Key(name)];
            if !is_dns_label(name) {
                self.err(name_error("mutex name", name, self.key_span(file, &path)));
            }
            if let Some(per) = &m.per
                && !parameters.iter().any(|p| &p.name == per)
            {
                let mut p = path.to_vec();
                p.push(Seg::Key("per"));
                self.err(
                    Diagnostic::error(Code::UnknownParameter, format!("unknown parameter `{per}`"))
                        .at(self.span(file, &p))
                        .help(suggestion(
                            "parameter",
                            per,
                            parameters.iter().map(|p| p.name.as_str()),
                        )),
                );
            }
            out.insert(
                name.clone(),
                Mutex {
                    name: name.clone(),
                    per: m.per.clone(),
                },
            );
        }
        out
    }

    fn locks(
        &mut self,
        names: &[String],
        semaphores: &BTreeMap<String, Semaphore>,
        mutexes: &BTreeMap<String, Mutex>,
        file: Option<FileId>,
        path: &[Seg<'_>],
    ) -> Vec<Lock> {
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut p = path.to_vec();
            p.push(Seg::Index(i));
            if semaphores.contains_key(name) {
                out.push(Lock::Semaphore(name.clone()));
            } else if mutexes.contains_key(name) {
                out.push(Lock::Mutex(name.clone()));
            } else if self.loaded.broken.contains(&format!("semaphores.{name}"))
                || self.loaded.broken.contains(&format!("mutexes.{name}"))
            {
                // Defined but failed to load: reported there.
            } else {
                let all = semaphores.keys().chain(mutexes.keys()).map(String::as_str);
                self.err(
                    Diagnostic::error(
                        Code::UnknownLock,
                        format!("unknown semaphore or mutex `{name}`"),
                    )
                    .at(self.span(file, &p))
                    .help(suggestion("semaphore or mutex", name, all)),
                );
            }
        }
        out
    }

    fn agents(
        &mut self,
        project: Option<&crate::model::Project>,
        runtime: Option<&Runtime>,
    ) -> BTreeMap<String, Agent> {
        let mut out = BTreeMap::new();
        let names: Vec<String> = self.loaded.spec.agents.keys().cloned().collect();
        // One template environment for every templated prompt, made at the first.
        let mut templates = None;
        // What the templates may still write: together, no more than the
        // one ConfigMap all the prompts go in holds. (The ConfigMap's own
        // check, later, counts the other prompts too.)
        let mut room = crate::MAX_CONFIG_MAP_BYTES;
        for (name, a) in &self.loaded.spec.agents {
            let file = self.loaded.origins.agents.get(name).copied();
            let base = [Seg::Key("agents"), Seg::Key(name)];
            let at = |k: &'static str| {
                let mut p = base.to_vec();
                p.push(Seg::Key(k));
                p
            };
            if !is_dns_label(name) {
                self.err(name_error("agent name", name, self.key_span(file, &base)));
            }
            let tier = a.tier.clone().unwrap_or_else(|| "default".to_string());
            if let Some(rt) = runtime
                && !rt.tiers.contains_key(&tier)
            {
                let span = if a.tier.is_some() {
                    self.span(file, &at("tier"))
                } else {
                    self.key_span(file, &base)
                };
                self.err(
                    Diagnostic::error(Code::UnknownTier, format!("unknown tier `{tier}`"))
                        .at(span)
                        .help(suggestion(
                            "tier",
                            &tier,
                            rt.tiers.keys().map(String::as_str),
                        )),
                );
            }
            let (text, text_file, text_path): (String, Option<FileId>, Vec<Seg<'_>>) =
                match (&a.prompt, &a.prompt_file) {
                    (Some(_), Some(_)) => {
                        self.err(
                            Diagnostic::error(
                                Code::Conflict,
                                "give `prompt` or `promptFile`, not both",
                            )
                            .at(self.key_span(file, &at("promptFile")))
                            .help("keep the inline prompt or the file"),
                        );
                        continue;
                    }
                    (None, None) => {
                        self.err(
                            Diagnostic::error(
                                Code::MissingField,
                                format!("agent `{name}` has no system prompt"),
                            )
                            .at(self.key_span(file, &base))
                            .help("add `promptFile: prompts/NAME.md` or an inline `prompt:`"),
                        );
                        continue;
                    }
                    (Some(p), None) => (p.clone(), file, at("prompt")),
                    (None, Some(_)) => match self.loaded.prompt_files.get(name) {
                        Some(id) => (
                            self.loaded
                                .sources
                                .get(*id)
                                .map(|f| f.text.clone())
                                .unwrap_or_default(),
                            Some(*id),
                            Vec::new(),
                        ),
                        // Not found or escaping: already reported by the loader.
                        None => continue,
                    },
                };
            let prompt = if a.template && project.is_some() {
                let scope: &PromptScope = templates.get_or_insert_with(|| {
                    PromptScope::new(project, &names, &self.loaded.spec.vars)
                });
                // Made before the ceilings (all templates share its values).
                let ctx = scope.context(name, a);
                // The error if the template goes over a ceiling, with those
                // found before it: the process stops there (see `memory`).
                let this = &*self;
                let describe = |what: crate::memory::Exceeded| {
                    let (message, help) = match what {
                        crate::memory::Exceeded::Memory => (
                            format!(
                                "prompt template of `{name}` needs more than {} MiB of memory to render",
                                crate::memory::PROMPT_BYTES >> 20
                            ),
                            "a repetition (`*`), a join or a `~` in this template builds a huge value; a prompt is at most 1 MiB of text",
                        ),
                        crate::memory::Exceeded::Time => (
                            format!(
                                "prompt template of `{name}` takes more than {} s to render",
                                crate::memory::PROMPT_TIME.as_secs()
                            ),
                            "an operation in this template works through huge values (`in`, `sort`, a comparison over a repetition); a prompt is at most 1 MiB of text",
                        ),
                    };
                    let mut found = this.loaded.found.clone();
                    found.0.extend(this.diags.0.iter().cloned());
                    found.push(
                        Diagnostic::error(Code::ObjectTooLarge, message)
                            .at(this.prompt_span(text_file, &text_path, None))
                            .help(help),
                    );
                    found.sort();
                    found.render(&this.loaded.sources, crate::memory::color())
                };
                let rendered = crate::memory::within(
                    crate::memory::PROMPT_BYTES,
                    crate::memory::PROMPT_TIME,
                    &describe,
                    || render_prompt(&scope.env, &text, name, ctx, room),
                );
                match rendered {
                    Ok(p) => {
                        room -= p.len();
                        p
                    }
                    Err((line, diagnostic)) => {
                        let span = self.prompt_span(text_file, &text_path, line);
                        self.err(diagnostic.at(span));
                        continue;
                    }
                }
            } else {
                text
            };
            out.insert(
                name.clone(),
                Agent {
                    name: name.clone(),
                    description: a.description.clone(),
                    prompt,
                    model: a.model.clone(),
                    cli: a.cli.clone(),
                    tools: a.tools.clone(),
                    gates: a.gates.clone(),
                    tier,
                    settings: a.settings.clone(),
                },
            );
        }
        out
    }

    fn chains(&mut self, model: &mut Model) {
        let loaded = self.loaded;
        let spec = &loaded.spec;
        // Chains that call others are resolved after their callees: in
        // waves, each wave's chains calling only chains of earlier waves, and
        // the chains of one wave resolved in parallel.
        let order = self.chain_order();
        let mut wave_of: BTreeMap<&str, usize> = BTreeMap::new();
        let mut waves: Vec<Vec<&str>> = Vec::new();
        for name in &order {
            let Some(chain) = spec.chains.get(name) else {
                continue;
            };
            let wave = chain
                .steps
                .iter()
                .chain(chain.on_exit.as_deref())
                .filter_map(|s| s.chain.as_deref())
                .filter_map(|callee| wave_of.get(callee).map(|w| w + 1))
                .max()
                .unwrap_or(0);
            wave_of.insert(name, wave);
            if waves.len() <= wave {
                waves.resize_with(wave + 1, Vec::new);
            }
            waves[wave].push(name);
        }
        let shared = SharedArgs::new(model);
        for wave in waves {
            let done: &Model = model;
            let resolved = crate::par::map(&wave, |name| {
                let mut r = Resolver {
                    loaded,
                    diags: Diagnostics::default(),
                };
                let chain = r.chain(name, &spec.chains[*name], done, &shared);
                (chain, r.diags)
            });
            for (name, (chain, diags)) in wave.into_iter().zip(resolved) {
                self.diags.0.extend(diags.0);
                if let Some(c) = chain {
                    model.chains.insert(name.to_string(), c);
                }
            }
        }
    }

    /// Chains in call order (callees first); reports call cycles.
    fn chain_order(&mut self) -> Vec<String> {
        let spec = &self.loaded.spec;
        let calls: BTreeMap<&str, Vec<&str>> = spec
            .chains
            .iter()
            .map(|(n, c)| {
                (
                    n.as_str(),
                    c.steps
                        .iter()
                        .chain(c.on_exit.as_deref())
                        .filter_map(|s| s.chain.as_deref())
                        .filter(|callee| spec.chains.contains_key(*callee))
                        .collect(),
                )
            })
            .collect();
        let (order, cycle) = topo(&calls);
        if let Some(cycle) = cycle {
            let first = cycle[0];
            let file = self.loaded.origins.chains.get(first).copied();
            let step_index = spec.chains[first]
                .steps
                .iter()
                .position(|s| s.chain.as_deref() == cycle.get(1).copied());
            let span = step_index
                .and_then(|i| {
                    self.span(
                        file,
                        &[
                            Seg::Key("chains"),
                            Seg::Key(first),
                            Seg::Key("steps"),
                            Seg::Index(i),
                            Seg::Key("chain"),
                        ],
                    )
                })
                .or_else(|| self.key_span(file, &[Seg::Key("chains"), Seg::Key(first)]));
            self.err(
                Diagnostic::error(
                    Code::Cycle,
                    format!("chains call each other in a cycle: {}", cycle.join(" → ")),
                )
                .at(span)
                .help("a chain cannot run itself, directly or through other chains"),
            );
        }
        order.into_iter().map(str::to_string).collect()
    }

    #[allow(clippy::too_many_lines)]
    fn chain(
        &mut self,
        name: &str,
        chain: &spec::Chain,
        model: &Model,
        shared: &SharedArgs,
    ) -> Option<Chain> {
        let file = self.loaded.origins.chains.get(name).copied();
        let base = vec![Seg::Key("chains"), Seg::Key(name)];
        let at = |extra: &[Seg<'static>]| {
            let mut p = base.clone();
            p.extend_from_slice(extra);
            p
        };
        let errors_before = self.diags.errors();
        if !is_dns_label(name) {
            self.err(name_error("chain name", name, self.key_span(file, &base)));
        } else if name == "agent-step"
            || name.starts_with("agent-step-")
            || name == "exit-handler"
            || name.starts_with("step-")
        {
            self.err(
                Diagnostic::error(
                    Code::ReservedName,
                    format!("`{name}` is reserved for templates orchctl generates"),
                )
                .at(self.key_span(file, &base))
                .help("choose another chain name"),
            );
        }
        if chain.steps.is_empty() {
            self.err(
                Diagnostic::error(Code::MissingField, format!("chain `{name}` has no steps"))
                    .at(self
                        .key_span(file, &at(&[Seg::Key("steps")]))
                        .or_else(|| self.key_span(file, &base)))
                    .help("add at least one step"),
            );
        }
        let steps = chain.steps.len();
        if steps > MAX_CHAIN_STEPS {
            // Past this no cluster could store the WorkflowTemplate, and
            // checking the order of the steps grows as their square. The
            // refusal is all the chain gets: its steps are not checked.
            self.err(
                Diagnostic::error(
                    Code::ObjectTooLarge,
                    format!(
                        "chain `{name}` has {steps} steps; orchctl accepts at most {MAX_CHAIN_STEPS} in one chain"
                    ),
                )
                .at(self.key_span(file, &at(&[Seg::Key("steps")])))
                .help("its WorkflowTemplate could not be stored (etcd keeps at most 1.5 MiB per object): split it into chains that call each other"),
            );
            return None;
        }
        if steps > crate::argo::MAX_DAG_TASKS {
            self.err(
                Diagnostic::warning(
                    Code::ObjectTooLarge,
                    format!(
                        "chain `{name}` has {steps} steps; Argo Workflows 4 installed with its full CRDs accepts at most {} tasks in one DAG",
                        crate::argo::MAX_DAG_TASKS
                    ),
                )
                .at(self.key_span(file, &at(&[Seg::Key("steps")])))
                .help("with the full CRDs, split it into chains that call each other; the minimal CRDs and 3.7 have no such limit"),
            );
        }
        // Names and kinds.
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, step) in chain.steps.iter().enumerate() {
            let sp = |k: &'static str| {
                let mut p = base.clone();
                p.extend([Seg::Key("steps"), Seg::Index(i), Seg::Key(k)]);
                p
            };
            if !is_dns_label(&step.name) {
                self.err(name_error(
                    "step name",
                    &step.name,
                    self.span(file, &sp("name")),
                ));
            }
            if let Some(prev) = index.insert(&step.name, i) {
                let mut p = base.clone();
                p.extend([Seg::Key("steps"), Seg::Index(prev), Seg::Key("name")]);
                self.err(
                    Diagnostic::error(
                        Code::DuplicateDefinition,
                        format!("step `{}` is defined twice in chain `{name}`", step.name),
                    )
                    .at(self.span(file, &sp("name")))
                    .also(self.span(file, &p), "first defined here")
                    .help("step names are unique within a chain"),
                );
            }
        }
        // Dependencies.
        let after_path = |i: usize, j: usize| {
            let mut p = base.clone();
            p.extend([
                Seg::Key("steps"),
                Seg::Index(i),
                Seg::Key("after"),
                Seg::Index(j),
            ]);
            p
        };
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (i, step) in chain.steps.iter().enumerate() {
            let mut deps = Vec::new();
            for (j, dep) in step.after.iter().enumerate() {
                let p = || after_path(i, j);
                if index.contains_key(dep.as_str()) {
                    if dep == &step.name {
                        self.err(
                            Diagnostic::error(
                                Code::Cycle,
                                format!("step `{dep}` waits for itself"),
                            )
                            .at(self.span(file, &p()))
                            .help("remove it from its own `after`"),
                        );
                    } else {
                        deps.push(dep.as_str());
                    }
                } else {
                    self.err(
                        Diagnostic::error(
                            Code::UnknownStep,
                            format!("unknown step `{dep}` in chain `{name}`"),
                        )
                        .at(self.span(file, &p()))
                        .help(suggestion(
                            "step",
                            dep,
                            index.keys().copied(),
                        )),
                    );
                }
            }
            graph.insert(&step.name, deps);
        }
        let (_, cycle) = topo(&graph);
        if let Some(cycle) = &cycle {
            let i = index[cycle[0]];
            let j = chain.steps[i]
                .after
                .iter()
                .position(|a| a == cycle[1])
                .unwrap_or(0);
            let p = after_path(i, j);
            let mut rev = cycle.clone();
            rev.reverse();
            self.err(
                Diagnostic::error(Code::Cycle, format!("steps of chain `{name}` form a cycle: {}", rev.join(" → ")))
                    .at(self.span(file, &p))
                    .help("a step cannot wait, directly or indirectly, for itself: remove one `after` entry"),
            );
        }
        // With a cycle, which step runs first is undefined: treat every step as
        // reachable rather than report outputs the cycle already explains.
        let ancestors = if cycle.is_none() {
            Ancestors::of(&graph, &index, chain.steps.len())
        } else {
            Ancestors::everyone(&index)
        };
        // Gates that guard their descendants.
        let guards: Vec<&str> = chain
            .steps
            .iter()
            .filter(|s| {
                s.approval
                    .as_ref()
                    .is_some_and(|a| a.timeout.is_some() && a.on_timeout == OnTimeout::Reject)
            })
            .map(|s| s.name.as_str())
            .collect();
        let mut needed: BTreeSet<String> = BTreeSet::new();
        let mut steps = Vec::with_capacity(chain.steps.len());
        let by_name = chain_steps(chain);
        for (i, step) in chain.steps.iter().enumerate() {
            let mut path = base.clone();
            path.extend([Seg::Key("steps"), Seg::Index(i)]);
            let anc = ancestors.of_step(&step.name);
            let scope = StepScope {
                chain: &by_name,
                ancestors: anc,
                context: Context::Dag,
                shared,
            };
            if let Some(mut s) = self.step(step, model, file, &path, &scope, &mut needed) {
                let gate_conds: Vec<String> = guards
                    .iter()
                    .filter(|g| anc.contains(g))
                    .map(|g| format!("'{{{{tasks.{g}.outputs.parameters.approved}}}}' == 'true'"))
                    .collect();
                if !gate_conds.is_empty() {
                    let mut all: Vec<String> = gate_conds;
                    if let Some(w) = s.when.take() {
                        all.push(format!("({w})"));
                    }
                    s.when = Some(all.join(" && "));
                }
                steps.push(s);
            }
        }
        let on_exit = chain.on_exit.as_deref().and_then(|step| {
            let path = at(&[Seg::Key("onExit")]);
            if !step.after.is_empty() {
                self.err(
                    Diagnostic::error(
                        Code::InvalidValue,
                        "the exit handler runs after everything; it takes no `after`",
                    )
                    .at(self.key_span(file, &{
                        let mut p = path.clone();
                        p.push(Seg::Key("after"));
                        p
                    }))
                    .help("remove `after`"),
                );
            }
            if step.approval.is_some() {
                self.err(
                    Diagnostic::error(
                        Code::StepKind,
                        "the exit handler cannot be an approval gate",
                    )
                    .at(self.key_span(file, &path))
                    .help("use an agent or container step"),
                );
                return None;
            }
            let no_steps = BTreeMap::new();
            let scope = StepScope {
                chain: &no_steps,
                ancestors: StepSet::EMPTY,
                context: Context::Exit,
                shared,
            };
            let mut exit_needed = BTreeSet::new();
            let s = self.step(step, model, file, &path, &scope, &mut exit_needed);
            needed.extend(exit_needed);
            s
        });
        let runtime = &model.runtime;
        let deadline = self.duration(
            chain.deadline.as_deref(),
            runtime.chain_deadline,
            file,
            &at(&[Seg::Key("deadline")]),
        );
        let ttl = self.ttl(
            chain.ttl.as_ref(),
            &runtime.ttl,
            file,
            &at(&[Seg::Key("ttl")]),
        );
        for (i, step) in chain.steps.iter().enumerate() {
            let Some(timeout) = step
                .approval
                .as_ref()
                .and_then(|a| a.timeout.as_deref())
                .and_then(parse_duration)
            else {
                continue;
            };
            if timeout >= deadline {
                let mut p = base.clone();
                p.extend([
                    Seg::Key("steps"),
                    Seg::Index(i),
                    Seg::Key("approval"),
                    Seg::Key("timeout"),
                ]);
                self.err(
                    Diagnostic::warning(
                        Code::Conflict,
                        format!(
                            "gate `{}` waits {timeout}s but the chain's deadline is {deadline}s",
                            step.name
                        ),
                    )
                    .at(self.span(file, &p))
                    .help("the deadline ends the run before the gate times out; shorten the timeout or lengthen `deadline`"),
                );
            }
        }
        let locks = self.locks(
            &chain.concurrency,
            &model.semaphores,
            &model.mutexes,
            file,
            &at(&[Seg::Key("concurrency")]),
        );
        // Locks keyed by a parameter make the chain need it.
        for lock in &locks {
            let (param, what) = match lock {
                Lock::Semaphore(s) => match model.semaphores[s].per {
                    Scope::Global => continue,
                    Scope::Repository | Scope::Organization => {
                        ("repository".to_string(), format!("semaphore `{s}`"))
                    }
                },
                Lock::Mutex(m) => match &model.mutexes[m].per {
                    Some(p) => (p.clone(), format!("mutex `{m}`")),
                    None => continue,
                },
            };
            if model.param(&param).is_none() {
                self.err(
                    Diagnostic::error(
                        Code::UnknownParameter,
                        format!("{what} needs parameter `{param}`, which is not declared"),
                    )
                    .at(self.key_span(file, &at(&[Seg::Key("concurrency")])))
                    .help(format!("declare `{param}` under `parameters`")),
                );
            } else {
                needed.insert(param);
            }
        }
        if let Some(0) = chain.parallelism {
            self.err(
                Diagnostic::error(Code::InvalidValue, "`parallelism: 0` would run nothing")
                    .at(self.span(file, &at(&[Seg::Key("parallelism")])))
                    .help("use 1 or more, or remove it"),
            );
        }
        if self.diags.errors() > errors_before {
            return None;
        }
        let params: Vec<String> = model
            .parameters
            .iter()
            .filter(|p| needed.contains(&p.name))
            .map(|p| p.name.clone())
            .collect();
        Some(Chain {
            name: name.to_string(),
            description: chain.description.clone(),
            file: self.file_name(file),
            params,
            steps,
            deadline,
            ttl,
            pod_gc: chain.pod_gc.unwrap_or(runtime.pod_gc),
            parallelism: chain.parallelism,
            locks,
            on_exit,
        })
    }

    #[allow(clippy::too_many_lines)]
    fn step(
        &mut self,
        step: &spec::Step,
        model: &Model,
        file: Option<FileId>,
        path: &[Seg<'_>],
        scope: &StepScope<'_>,
        needed: &mut BTreeSet<String>,
    ) -> Option<Step> {
        let at = |k: &'static str| {
            // Room for one more segment (`with.NAME`, `command.N`).
            let mut p = Vec::with_capacity(path.len() + 2);
            p.extend_from_slice(path);
            p.push(Seg::Key(k));
            p
        };
        let kinds = [
            ("agent", step.agent.is_some()),
            ("container", step.container.is_some()),
            ("approval", step.approval.is_some()),
            ("chain", step.chain.is_some()),
        ];
        let present: Vec<&str> = kinds.iter().filter(|(_, p)| *p).map(|(k, _)| *k).collect();
        if present.len() != 1 {
            let message = if present.is_empty() {
                format!("step `{}` does nothing", step.name)
            } else {
                format!(
                    "step `{}` has both `{}` and `{}`",
                    step.name, present[0], present[1]
                )
            };
            let span = if present.len() > 1 {
                self.key_span(file, &at(present[1]))
            } else {
                self.span(file, &at("name"))
            };
            self.err(
                Diagnostic::error(Code::StepKind, message)
                    .at(span)
                    .help("a step has exactly one of `agent`, `container`, `approval` or `chain`"),
            );
            return None;
        }
        let errors_before = self.diags.errors();
        let compile = |r: &mut Self,
                       text: &str,
                       p: &[Seg<'_>],
                       needed: &mut BTreeSet<String>|
         -> Option<Arc<str>> {
            let t = match Template::parse(text) {
                Ok(t) => t,
                Err(e) => {
                    r.expr_error(&e, file, p);
                    return None;
                }
            };
            for reference in t.refs() {
                if !r.reference_ok(reference, model, scope, file, p) {
                    return None;
                }
                if let Ref::Param(name) = reference {
                    need(needed, name);
                }
            }
            // A value that is one parameter, as most are, is the reference
            // every step shares.
            if let [crate::expr::Part::Ref(Ref::Param(p))] = t.parts.as_slice() {
                return Some(scope.shared.reference(p, scope.context));
            }
            Some(
                t.render(|reference| argo_ref(reference, scope.context))
                    .into(),
            )
        };
        let when = step
            .when
            .as_deref()
            .and_then(|w| compile(self, w, &at("when"), needed))
            .map(|w| w.to_string());
        let timeout = step
            .timeout
            .as_deref()
            .map(|t| self.duration(Some(t), model.runtime.step_timeout, file, &at("timeout")));
        let retry = step
            .retry
            .as_ref()
            .map(|r| self.retry(r, file, &at("retry")));
        let shared = scope.shared;
        let mut args: Vec<crate::argo::Argument> = Vec::with_capacity(model.parameters.len() + 4);
        let kind;
        if let Some(agent) = &step.agent {
            let inputs = shared.inputs.iter().map(|&i| &shared.params[i]);
            let mut targets: Vec<&str> = Vec::with_capacity(shared.inputs.len() + 1);
            targets.push(MODEL);
            targets.extend(inputs.clone().map(|p| &*p.name));
            self.with_keys(step, &targets, file, path);
            let agent_path = at("agent");
            let parsed = Template::parse(agent);
            let literal = parsed.as_ref().ok().and_then(Template::as_literal);
            let (agent_value, profile) = match (parsed, literal) {
                (Ok(_), Some(name)) => match model.agents.get(&name) {
                    Some(a) => (shared.agent_name(&name), Some(a)),
                    None => {
                        if !self.loaded.defines("agents", &name) {
                            self.err(
                                Diagnostic::error(
                                    Code::UnknownAgent,
                                    format!("unknown agent `{name}`"),
                                )
                                .at(self.span(file, &agent_path))
                                .help(suggestion(
                                    "agent",
                                    &name,
                                    self.loaded.spec.agents.keys().map(String::as_str),
                                )),
                            );
                        }
                        return None;
                    }
                },
                (Ok(t), None) => match t.parts.as_slice() {
                    [crate::expr::Part::Ref(Ref::Param(p))] => {
                        let param = model.param(p);
                        match param {
                            None => {
                                self.err(
                                    Diagnostic::error(
                                        Code::UnknownParameter,
                                        format!("unknown parameter `{p}`"),
                                    )
                                    .at(self.span(file, &agent_path))
                                    .help(suggestion(
                                        "parameter",
                                        p,
                                        model.parameters.iter().map(|p| p.name.as_str()),
                                    )),
                                );
                                return None;
                            }
                            Some(param) => {
                                if param.allowed.is_empty() {
                                    self.err(
                                        Diagnostic::error(Code::InvalidValue, format!("parameter `{p}` chooses the agent but has no `enum`"))
                                            .at(self.span(file, &agent_path))
                                            .help("list the agents it may name under the parameter's `enum`, so a run cannot pick an unknown one"),
                                    );
                                }
                                for v in &param.allowed {
                                    if !model.agents.contains_key(v)
                                        && !self.loaded.defines("agents", v)
                                    {
                                        self.err(
                                            Diagnostic::error(Code::UnknownAgent, format!("parameter `{p}` allows `{v}`, which is not an agent"))
                                                .at(self.span(file, &agent_path))
                                                .help(suggestion("agent", v, model.agents.keys().map(String::as_str))),
                                        );
                                    }
                                }
                            }
                        }
                        need(needed, p);
                        (shared.reference(p, scope.context), None)
                    }
                    _ => {
                        self.err(
                            Diagnostic::error(
                                Code::InvalidExpression,
                                "`agent` is an agent name or `${params.NAME}`",
                            )
                            .at(self.span(file, &agent_path))
                            .help("name one agent, or choose it per run with a parameter"),
                        );
                        return None;
                    }
                },
                (Err(e), _) => {
                    self.expr_error(&e, file, &agent_path);
                    return None;
                }
            };
            let tier = profile.map_or_else(|| "default".to_string(), |a| a.tier.clone());
            if profile.is_none() {
                // A per-run agent runs in the default tier; all its candidates must fit it.
                if !model.runtime.tiers.contains_key("default") {
                    self.err(
                        Diagnostic::error(
                            Code::UnknownTier,
                            "an agent chosen per run needs a `default` tier",
                        )
                        .at(self.span(file, &agent_path))
                        .help("declare `runtime.tiers.default`"),
                    );
                }
            }
            args.push((Arc::clone(&shared.agent), agent_value));
            let model_value = if let Some(m) = step.with.get(MODEL) {
                let mut p = at("with");
                p.push(Seg::Key(MODEL));
                compile(self, m, &p, needed)
            } else if let Some(a) = profile {
                Some(a.model.as_str().into())
            } else if model.param(MODEL).is_some() {
                need(needed, MODEL);
                Some(shared.reference(MODEL, scope.context))
            } else {
                self.err(
                    Diagnostic::error(
                        Code::UnboundParameter,
                        "an agent chosen per run needs a model",
                    )
                    .at(self.span(file, &agent_path))
                    .help("declare a `model` parameter, or set `with: { model: … }`"),
                );
                None
            };
            args.push((
                Arc::clone(&shared.model),
                model_value.unwrap_or_else(|| "".into()),
            ));
            args.push((Arc::clone(&shared.step), step.name.as_str().into()));
            if let Some(t) = timeout {
                args.push((Arc::clone(&shared.timeout), t.to_string().into()));
            }
            if let Some(r) = &step.retry {
                if r.backoff.is_some() || r.policy != RetryPolicy::OnFailure {
                    self.err(
                        Diagnostic::error(Code::Conflict, "an agent step sets only the retry `limit`")
                            .at(self.key_span(file, &at("retry")))
                            .help("the policy and backoff of agent steps come from `runtime.defaults.retry`; container steps take a full retry policy"),
                    );
                }
                args.push((Arc::clone(&shared.retries), r.limit.to_string().into()));
            }
            for input in inputs {
                let value = if let Some(v) = step.with.get(&*input.name) {
                    let mut p = at("with");
                    p.push(Seg::Key(&input.name));
                    compile(self, v, &p, needed).unwrap_or_else(|| "".into())
                } else {
                    need(needed, &input.name);
                    input.reference(scope.context)
                };
                args.push((Arc::clone(&input.name), value));
            }
            kind = StepKind::Agent { tier };
        } else if let Some(c) = &step.container {
            self.with_keys(step, &[], file, path);
            let cpath = at("container");
            let sub = |k: &'static str| {
                let mut p = cpath.clone();
                p.push(Seg::Key(k));
                p
            };
            let image = self.image(&c.image, file, &sub("image"));
            for (i, arg) in c.command.iter().enumerate() {
                let mut p = sub("command");
                p.push(Seg::Index(i));
                self.literal(arg, file, &p);
            }
            for (i, arg) in c.args.iter().enumerate() {
                let mut p = sub("args");
                p.push(Seg::Index(i));
                self.literal(arg, file, &p);
            }
            let tier = c.tier.clone().unwrap_or_else(|| "default".to_string());
            if !model.runtime.tiers.contains_key(&tier) {
                self.err(
                    Diagnostic::error(Code::UnknownTier, format!("unknown tier `{tier}`"))
                        .at(self
                            .span(file, &sub("tier"))
                            .or_else(|| self.key_span(file, &cpath)))
                        .help(suggestion(
                            "tier",
                            &tier,
                            model.runtime.tiers.keys().map(String::as_str),
                        )),
                );
            }
            let mut env = Vec::new();
            for (name, value) in &c.env {
                let mut p = sub("env");
                p.push(Seg::Key(name));
                if !is_env_name(name) {
                    self.err(
                        Diagnostic::error(
                            Code::InvalidEnvName,
                            format!("`{name}` is not an environment variable name"),
                        )
                        .at(self.key_span(file, &p))
                        .help("use `[A-Za-z_][A-Za-z0-9_]*`"),
                    );
                    continue;
                }
                let parsed = Template::parse(value);
                let literal = parsed.as_ref().ok().and_then(Template::as_literal);
                match (parsed, literal) {
                    (Ok(_), Some(text)) => env.push((name.clone(), Some(text))),
                    (Ok(_), None) => {
                        if let Some(v) = compile(self, value, &p, needed) {
                            args.push((name.as_str().into(), v));
                            env.push((name.clone(), None));
                        }
                    }
                    (Err(e), _) => self.expr_error(&e, file, &p),
                }
            }
            for (i, o) in c.outputs.iter().enumerate() {
                if !is_param_name(o) {
                    let mut p = sub("outputs");
                    p.push(Seg::Index(i));
                    self.err(
                        Diagnostic::error(
                            Code::InvalidName,
                            format!("`{o}` is not a valid output name"),
                        )
                        .at(self.span(file, &p))
                        .help("use letters, digits, `_` and `-`"),
                    );
                }
            }
            kind = StepKind::Container(Container {
                image: image.unwrap_or_default(),
                command: c.command.clone(),
                args: c.args.clone(),
                env,
                tier,
                outputs: c.outputs.clone(),
                workspace: c.workspace,
            });
        } else if let Some(a) = &step.approval {
            self.with_keys(step, &[], file, path);
            let mut p = at("approval");
            p.push(Seg::Key("timeout"));
            let timeout = a
                .timeout
                .as_deref()
                .map(|t| self.duration(Some(t), 0, file, &p));
            kind = StepKind::Approval(Approval {
                description: a.description.clone(),
                timeout,
                on_timeout: a.on_timeout,
            });
        } else {
            let callee = step.chain.clone().unwrap_or_default();
            let Some(target) = model.chains.get(&callee) else {
                if !self.loaded.defines("chains", &callee) {
                    self.err(
                        Diagnostic::error(Code::UnknownChain, format!("unknown chain `{callee}`"))
                            .at(self.span(file, &at("chain")))
                            .help(suggestion(
                                "chain",
                                &callee,
                                self.loaded.spec.chains.keys().map(String::as_str),
                            )),
                    );
                }
                // Otherwise the callee failed (or is in a cycle) and was reported.
                return None;
            };
            let targets: Vec<&str> = target.params.iter().map(String::as_str).collect();
            self.with_keys(step, &targets, file, path);
            for p in &target.params {
                let value = if let Some(v) = step.with.get(p) {
                    let mut wp = at("with");
                    wp.push(Seg::Key(p));
                    compile(self, v, &wp, needed).unwrap_or_else(|| "".into())
                } else {
                    need(needed, p);
                    shared.reference(p, scope.context)
                };
                args.push((shared.name(p), value));
            }
            kind = StepKind::Chain { chain: callee };
        }
        if self.diags.errors() > errors_before {
            return None;
        }
        Some(Step {
            name: step.name.clone(),
            deps: step.after.clone(),
            when,
            kind,
            args: args.into(),
            retry,
            timeout,
            continue_on_failure: step.continue_on_failure,
        })
    }

    /// Every `with` key must be a parameter the step's target takes.
    fn with_keys(
        &mut self,
        step: &spec::Step,
        targets: &[&str],
        file: Option<FileId>,
        path: &[Seg<'_>],
    ) {
        for key in step.with.keys() {
            if targets.contains(&key.as_str()) {
                continue;
            }
            let mut p = path.to_vec();
            p.extend([Seg::Key("with"), Seg::Key(key)]);
            let help = if targets.is_empty() {
                if step.container.is_some() {
                    "a container step takes values through `env`".to_string()
                } else {
                    "this step takes no parameters".to_string()
                }
            } else if key == AGENT || key == STEP {
                format!("`{key}` is set by the step itself")
            } else {
                suggestion("parameter", key, targets.iter().copied())
            };
            self.err(
                Diagnostic::error(
                    Code::UnknownParameter,
                    format!("step `{}` has no parameter `{key}`", step.name),
                )
                .at(self.key_span(file, &p))
                .help(help),
            );
        }
    }

    fn reference_ok(
        &mut self,
        reference: &Ref,
        model: &Model,
        scope: &StepScope<'_>,
        file: Option<FileId>,
        path: &[Seg<'_>],
    ) -> bool {
        // Located only when reported: the happy path never looks it up.
        let at = |r: &Self| r.span(file, path);
        match reference {
            Ref::Param(p) => {
                if model.param(p).is_some() {
                    return true;
                }
                self.err(
                    Diagnostic::error(Code::UnknownParameter, format!("unknown parameter `{p}`"))
                        .at(at(self))
                        .help(suggestion(
                            "parameter",
                            p,
                            model.parameters.iter().map(|p| p.name.as_str()),
                        )),
                );
                false
            }
            Ref::StepOutput { step, .. } | Ref::StepStatus(step) => {
                if scope.context == Context::Exit {
                    self.err(
                        Diagnostic::error(
                            Code::UnknownOutput,
                            "the exit handler cannot read step outputs",
                        )
                        .at(at(self))
                        .help("use `${workflow.status}` and parameters in the exit handler"),
                    );
                    return false;
                }
                let Some(target) = scope.chain.get(step.as_str()) else {
                    self.err(
                        Diagnostic::error(Code::UnknownStep, format!("unknown step `{step}`"))
                            .at(at(self))
                            .help(suggestion("step", step, scope.chain.keys().copied())),
                    );
                    return false;
                };
                if !scope.ancestors.contains(step.as_str()) {
                    self.err(
                        Diagnostic::error(
                            Code::UnknownOutput,
                            format!("step `{step}` does not run before this one"),
                        )
                        .at(at(self))
                        .help(format!(
                            "add `{step}` to this step's `after` (directly or through another step)"
                        )),
                    );
                    return false;
                }
                if let Ref::StepOutput { output, .. } = reference {
                    let outputs = step_outputs(target, model);
                    if !outputs.iter().any(|o| o == output) {
                        self.err(
                            Diagnostic::error(
                                Code::UnknownOutput,
                                format!("step `{step}` has no output `{output}`"),
                            )
                            .at(at(self))
                            .help(if outputs.is_empty() {
                                format!("step `{step}` declares no outputs")
                            } else {
                                suggestion("output", output, outputs.iter().map(String::as_str))
                            }),
                        );
                        return false;
                    }
                }
                true
            }
            Ref::Workflow(crate::expr::WorkflowVar::Status) if scope.context == Context::Dag => {
                self.err(
                    Diagnostic::error(
                        Code::InvalidExpression,
                        "`${workflow.status}` is only known in the exit handler",
                    )
                    .at(at(self))
                    .help("use `${steps.STEP.status}` inside the chain"),
                );
                false
            }
            Ref::Workflow(_) => true,
        }
    }
}

struct StepScope<'a> {
    chain: &'a BTreeMap<&'a str, &'a spec::Step>,
    ancestors: StepSet<'a>,
    context: Context,
    shared: &'a SharedArgs,
}

/// The argument names, and the references to parameters, that many steps
/// pass alike: made once per spec and shared by every step that passes them
/// (a platform of a thousand five-step chains passes about fifty thousand).
struct SharedArgs {
    agent: Arc<str>,
    model: Arc<str>,
    step: Arc<str>,
    timeout: Arc<str>,
    retries: Arc<str>,
    /// Every parameter of the catalogue, in its order.
    params: Vec<ParamArgs>,
    /// Index in `params` by name.
    index: HashMap<Arc<str>, usize>,
    /// The indices of the parameters an agent step passes besides the
    /// agent and the model ([`Model::agent_step_inputs`]).
    inputs: Vec<usize>,
    /// The names of the agents.
    agents: HashMap<String, Arc<str>>,
}

/// A parameter's name and how a step refers to it.
struct ParamArgs {
    name: Arc<str>,
    /// In a DAG task: the template's input, `{{inputs.parameters.NAME}}`.
    dag: Arc<str>,
    /// In the exit handler: the workflow's, `{{workflow.parameters.NAME}}`.
    exit: Arc<str>,
}

impl SharedArgs {
    fn new(model: &Model) -> Self {
        let params: Vec<ParamArgs> = model
            .parameters
            .iter()
            .map(|p| ParamArgs {
                name: p.name.as_str().into(),
                dag: param_ref(&p.name, Context::Dag).into(),
                exit: param_ref(&p.name, Context::Exit).into(),
            })
            .collect();
        // The first of a name declared twice, as `Model::param` finds it.
        let mut index: HashMap<Arc<str>, usize> = HashMap::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            index.entry(Arc::clone(&p.name)).or_insert(i);
        }
        let inputs = model
            .agent_step_inputs()
            .iter()
            .filter_map(|input| index.get(input.name.as_str()).copied())
            .collect();
        Self {
            agent: AGENT.into(),
            model: MODEL.into(),
            step: STEP.into(),
            timeout: TIMEOUT.into(),
            retries: RETRIES.into(),
            params,
            index,
            inputs,
            agents: model
                .agents
                .keys()
                .map(|name| (name.clone(), name.as_str().into()))
                .collect(),
        }
    }

    /// The name of agent `name`, shared when it is one.
    fn agent_name(&self, name: &str) -> Arc<str> {
        self.agents
            .get(name)
            .map_or_else(|| name.into(), Arc::clone)
    }

    /// The name of parameter `name`, shared when it is in the catalogue.
    fn name(&self, name: &str) -> Arc<str> {
        self.index
            .get(name)
            .map_or_else(|| name.into(), |&i| Arc::clone(&self.params[i].name))
    }

    /// The reference to parameter `name` where `context` puts it.
    fn reference(&self, name: &str, context: Context) -> Arc<str> {
        match self.index.get(name) {
            Some(&i) => self.params[i].reference(context),
            None => param_ref(name, context).into(),
        }
    }
}

impl ParamArgs {
    fn reference(&self, context: Context) -> Arc<str> {
        Arc::clone(match context {
            Context::Dag => &self.dag,
            Context::Exit => &self.exit,
        })
    }
}

fn chain_steps(chain: &spec::Chain) -> BTreeMap<&str, &spec::Step> {
    chain.steps.iter().map(|s| (s.name.as_str(), s)).collect()
}

/// The output names a step of the spec provides.
fn step_outputs(step: &spec::Step, model: &Model) -> Vec<String> {
    if step.agent.is_some() {
        model.runtime.outputs.clone()
    } else if let Some(c) = &step.container {
        c.outputs.clone()
    } else if let Some(a) = &step.approval {
        if a.timeout.is_some() && a.on_timeout == OnTimeout::Reject {
            vec!["approved".to_string()]
        } else {
            Vec::new()
        }
    } else {
        Vec::new()
    }
}

/// The Argo form of a reference.
/// Record that a chain needs parameter `name` (cloned only when new).
fn need(needed: &mut BTreeSet<String>, name: &str) {
    if !needed.contains(name) {
        needed.insert(name.to_string());
    }
}

fn argo_ref(reference: &Ref, context: Context) -> String {
    match reference {
        Ref::Param(p) => param_ref(p, context),
        Ref::StepOutput { step, output } => {
            format!("{{{{tasks.{step}.outputs.parameters.{output}}}}}")
        }
        Ref::StepStatus(step) => format!("{{{{tasks.{step}.status}}}}"),
        Ref::Workflow(w) => w.argo().to_string(),
    }
}

/// The Argo reference to parameter `p` (every step argument: no formatter,
/// no `Ref` made for it).
fn param_ref(p: &str, context: Context) -> String {
    match context {
        Context::Dag => ["{{inputs.parameters.", p, "}}"].concat(),
        Context::Exit => ["{{workflow.parameters.", p, "}}"].concat(),
    }
}

/// Topological order of a dependency graph (dependencies first), and a cycle
/// if there is one (as a path `a → b → … → a`).
fn topo<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> (Vec<&'a str>, Option<Vec<&'a str>>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Temp,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    let mut order = Vec::new();
    let mut cycle = None;
    for &start in graph.keys() {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative DFS with an explicit path.
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Temp);
        while let Some((node, next)) = stack.last().copied() {
            let deps = graph.get(node).map_or(&[][..], Vec::as_slice);
            if let Some(&dep) = deps.get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match marks.get(dep) {
                    None => {
                        marks.insert(dep, Mark::Temp);
                        stack.push((dep, 0));
                    }
                    Some(Mark::Temp) => {
                        if cycle.is_none() {
                            let pos = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                            let mut c: Vec<&str> = stack[pos..].iter().map(|(n, _)| *n).collect();
                            c.push(dep);
                            cycle = Some(c);
                        }
                    }
                    Some(Mark::Done) => {}
                }
            } else {
                marks.insert(node, Mark::Done);
                order.push(node);
                stack.pop();
            }
        }
    }
    (order, cycle)
}

/// The steps that run before each step of a chain (its dependencies,
/// transitively), one row of bits per step: a chain of thousands of steps
/// in a row has millions of such pairs, too many for sets of names. A step
/// that waits for nothing has no row, so a long chain of independent steps
/// costs nothing; a cycle leaves the order undecided and makes every step
/// count as before every other, without rows.
struct Ancestors<'a> {
    /// Step name → its row (and its bit in every row).
    index: &'a BTreeMap<&'a str, usize>,
    /// Empty for a step without dependencies.
    rows: Vec<Vec<u64>>,
    everyone: bool,
}

impl<'a> Ancestors<'a> {
    /// From an acyclic graph of step names (`index` numbers them below `steps`).
    fn of(
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        index: &'a BTreeMap<&'a str, usize>,
        steps: usize,
    ) -> Self {
        let words = steps.div_ceil(64);
        let mut rows: Vec<Vec<u64>> = vec![Vec::new(); steps];
        // Dependencies first, so each row is complete before it is copied.
        for node in topo(graph).0 {
            let Some(&row) = index.get(node) else {
                continue;
            };
            let mut bits = Vec::new();
            for dep in graph.get(node).into_iter().flatten() {
                let Some(&from) = index.get(dep).filter(|&&from| from != row) else {
                    continue;
                };
                if bits.is_empty() {
                    bits = vec![0; words];
                }
                for (t, f) in bits.iter_mut().zip(&rows[from]) {
                    *t |= f;
                }
                bits[from / 64] |= 1 << (from % 64);
            }
            rows[row] = bits;
        }
        Self {
            index,
            rows,
            everyone: false,
        }
    }

    /// Every step before every other (what a cycle leaves undecided).
    fn everyone(index: &'a BTreeMap<&'a str, usize>) -> Self {
        Self {
            index,
            rows: Vec::new(),
            everyone: true,
        }
    }

    /// The steps before step `name`.
    fn of_step(&self, name: &str) -> StepSet<'_> {
        match self.index.get(name) {
            Some(&row) => StepSet {
                index: Some(self.index),
                row: self.rows.get(row).map_or(&[], Vec::as_slice),
                everyone: self.everyone,
            },
            None => StepSet::EMPTY,
        }
    }
}

/// A set of a chain's steps: a row of [`Ancestors`].
#[derive(Clone, Copy)]
struct StepSet<'a> {
    index: Option<&'a BTreeMap<&'a str, usize>>,
    row: &'a [u64],
    everyone: bool,
}

impl StepSet<'_> {
    const EMPTY: StepSet<'static> = StepSet {
        index: None,
        row: &[],
        everyone: false,
    };

    fn contains(&self, name: &str) -> bool {
        let Some(&i) = self.index.and_then(|index| index.get(name)) else {
            return false;
        };
        self.everyone
            || self
                .row
                .get(i / 64)
                .is_some_and(|word| word >> (i % 64) & 1 == 1)
    }
}

fn shift(span: Span, offset: usize, len: usize) -> Span {
    // Quoted scalars start with the quote; aim inside when on one line.
    let quote = usize::from(span.len > 1);
    if span.len >= offset + len + quote {
        Span {
            col: span.col + offset + quote,
            len,
            ..span
        }
    } else {
        span
    }
}

fn name_error(what: &str, name: &str, span: Option<Span>) -> Diagnostic {
    Diagnostic::error(Code::InvalidName, format!("{what} `{name}` is not a valid Kubernetes name"))
        .at(span)
        .help("use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit")
}

/// The type with its article: "a string", "an integer", "a boolean".
fn type_name(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "a string",
        ParamType::Integer => "an integer",
        ParamType::Boolean => "a boolean",
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Global => "global",
        Scope::Organization => "organization",
        Scope::Repository => "repository",
    }
}

/// The environment prompt templates render in: undefined names are errors,
/// a trailing newline is kept, and recursion and work are bounded (per render).
fn prompt_environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_recursion_limit(64);
    env.set_fuel(Some(1_000_000));
    env
}

/// Where a prompt renders to: refuses to grow past what is left of the one
/// ConfigMap the prompts share, so a loop that prints without end stops at
/// 1 MiB, not at the machine's memory.
struct Capped {
    bytes: Vec<u8>,
    room: usize,
    full: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.room {
            self.full = true;
            return Err(std::io::Error::other("prompt too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What every prompt template of one agent list renders in and sees besides
/// its own agent: made once, at the first template.
struct PromptScope {
    env: minijinja::Environment<'static>,
    project: minijinja::Value,
    agents: minijinja::Value,
    vars: minijinja::Value,
}

impl PromptScope {
    fn new(
        project: Option<&crate::model::Project>,
        agents: &[String],
        vars: &BTreeMap<String, serde_json::Value>,
    ) -> Self {
        Self {
            env: prompt_environment(),
            project: minijinja::Value::from(project.map(|p| {
                minijinja::context! {
                    name => p.name.clone(),
                    namespace => p.namespace.clone(),
                    repositories => p.repositories.clone(),
                }
            })),
            agents: minijinja::Value::from(agents.to_vec()),
            vars: minijinja::Value::from(minijinja::value::Serde(vars)),
        }
    }

    /// The context agent `name`'s template renders with.
    fn context(&self, name: &str, agent: &spec::Agent) -> minijinja::Value {
        minijinja::context! {
            project => self.project.clone(),
            agent => minijinja::context! {
                name => name,
                model => agent.model.clone(),
                cli => agent.cli.clone(),
                tools => agent.tools.clone(),
                gates => agent.gates.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                tier => agent.tier.clone().unwrap_or_else(|| "default".into()),
                description => agent.description.clone(),
            },
            agents => self.agents.clone(),
            vars => self.vars.clone(),
        }
    }
}

/// Render `text`, the prompt template of agent `name`, with `ctx` into at
/// most `room` bytes; else the error, without its place, and the template
/// line it points at.
fn render_prompt(
    env: &minijinja::Environment<'_>,
    text: &str,
    name: &str,
    ctx: minijinja::Value,
    room: usize,
) -> Result<String, (Option<usize>, Box<Diagnostic>)> {
    let mut out = Capped {
        bytes: Vec::with_capacity((text.len() + text.len() / 2).min(room)),
        room,
        full: false,
    };
    let rendered = env
        .template_from_str(text)
        .and_then(|t| t.render_captured_to(ctx, &mut out).map(drop));
    match rendered {
        // Written from `&str`s only, so always UTF-8.
        Ok(_) => Ok(String::from_utf8_lossy(&out.bytes).into_owned()),
        Err(e) if out.full => {
            let message = if room == crate::MAX_CONFIG_MAP_BYTES {
                format!(
                    "prompt template of `{name}` renders to more than 1 MiB ({room} bytes), more than its ConfigMap can hold"
                )
            } else {
                format!(
                    "prompt template of `{name}` renders past 1 MiB ({} bytes) with the {} bytes the templates before it wrote, more than their ConfigMap can hold",
                    crate::MAX_CONFIG_MAP_BYTES,
                    crate::MAX_CONFIG_MAP_BYTES - room
                )
            };
            Err((
                e.line(),
                Box::new(Diagnostic::error(Code::ObjectTooLarge, message).help(
                    "bound the loop or repetition (`*`) that writes this much: the prompts share one ConfigMap, and Kubernetes refuses ConfigMaps over 1 MiB",
                )),
            ))
        }
        Err(e) => {
            let mut message = match e.detail() {
                Some(detail) => format!("{}: {detail}", e.kind()),
                None => e.kind().to_string(),
            };
            if let Some(code) = e.range().and_then(|r| text.get(r)) {
                message.push_str(&format!(" in `{}`", code.trim()));
            }
            Err((
                e.line(),
                Box::new(
                    Diagnostic::error(
                        Code::PromptTemplate,
                        format!("prompt template of `{name}` does not render: {message}"),
                    )
                    .help("prompt templates see `project`, `agent`, `agents` and `vars`; write `{% raw %}…{% endraw %}` around literal `{{`"),
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topo_names_a_cycle() {
        let mut g: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        g.insert("a", vec!["c"]);
        g.insert("b", vec!["a"]);
        g.insert("c", vec!["b"]);
        let (_, cycle) = topo(&g);
        assert_eq!(cycle.unwrap(), vec!["a", "c", "b", "a"]);
        let mut g: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        g.insert("a", vec![]);
        g.insert("b", vec!["a"]);
        g.insert("c", vec!["a", "b"]);
        let (order, cycle) = topo(&g);
        assert!(cycle.is_none());
        assert_eq!(order, vec!["a", "b", "c"]);
        let index: BTreeMap<&str, usize> = [("a", 0), ("b", 1), ("c", 2)].into();
        let anc = Ancestors::of(&g, &index, 3);
        let before = |step: &str| {
            ["a", "b", "c"]
                .into_iter()
                .filter(|s| anc.of_step(step).contains(s))
                .collect::<Vec<_>>()
        };
        assert_eq!(before("a"), Vec::<&str>::new());
        assert_eq!(before("b"), ["a"]);
        assert_eq!(before("c"), ["a", "b"]);
        assert!(!anc.of_step("d").contains("a"));
        assert!(!StepSet::EMPTY.contains("a"));
        // Past one word of bits: a line of 150 steps, each after the one before.
        let names: Vec<String> = (0..150).map(|i| format!("s{i}")).collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let g: BTreeMap<&str, Vec<&str>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.as_str(),
                    names[..i].last().map(String::as_str).into_iter().collect(),
                )
            })
            .collect();
        let anc = Ancestors::of(&g, &index, names.len());
        for (i, n) in names.iter().enumerate() {
            for (j, m) in names.iter().enumerate() {
                assert_eq!(anc.of_step(n).contains(m), j < i, "{m} before {n}");
            }
        }
        // Steps that wait for nothing keep no row at all.
        let free: BTreeMap<&str, Vec<&str>> =
            names.iter().map(|n| (n.as_str(), Vec::new())).collect();
        let anc = Ancestors::of(&free, &index, names.len());
        assert!(anc.rows.iter().all(Vec::is_empty));
        assert!(!anc.of_step("s149").contains("s0"));
        let all = Ancestors::everyone(&index);
        assert!(all.of_step("s3").contains("s149") && all.of_step("s149").contains("s149"));
    }
}
