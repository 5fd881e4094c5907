//! Structure-aware fuzzing: the input bytes are choices that drive a
//! generator of spec files, so the fuzzer explores combinations of fields
//! that load, instead of byte strings that mostly do not parse.
//!
//! The generator walks orchctl's own JSON Schema of the spec
//! (`orchctl::schema::schema_json`), so every field of the spec is reachable
//! and a field added later is fuzzed without a change here. String values
//! come from what the committed seeds (`corpus/load/`) write under the same
//! key, from references to names the spec declares (agents, chains, locks,
//! images, tiers, services, parameters, step names and outputs, chosen before
//! the sections are written so that `run: delivery` meets a `delivery`
//! chain), from `${…}` references built from those names, or from the input
//! bytes. Sections are then made to agree with each other where the compiler
//! checks one against another ([`Gen::finish`]), so that most inputs make a
//! spec that compiles. One input in eight is careless (sections left to
//! disagree) and one in eight faulty (a value of the wrong type, a key
//! misspelt, repeated or unknown): the error paths stay in reach. Every text
//! goes through the same checks as the `load` target (`common::check`).
//!
//! With `ORCHCTL_FUZZ_DUMP=DIR` set, each generated text is also written to
//! DIR, so a corpus of this target can be measured as spec files by the
//! `load` target (`coverage.py`).
#![no_main]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use orchctl::model::{AGENT, MODEL, RESERVED};
use serde_json::Value as Json;

fuzz_target!(|data: &[u8]| {
    let text = Gen::new(data).spec();
    if let Some(dir) = dump_dir() {
        let name = format!("{:016x}", fnv(text.as_bytes()));
        let _ = std::fs::write(dir.join(name), &text);
    }
    common::check(&text);
});

fn dump_dir() -> Option<&'static std::path::PathBuf> {
    static DIR: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("ORCHCTL_FUZZ_DUMP").map(Into::into))
        .as_ref()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The seeds that compile, built in so that an input means the same spec
/// whatever the files under `corpus/load/` become.
const SEEDS: &[&str] = &[
    include_str!("../corpus/load/reference-all.yaml"),
    include_str!("../corpus/load/reference-delivery.yaml"),
    include_str!("../corpus/load/reference-runs.yaml"),
    include_str!("../corpus/load/seed003.yaml"),
    include_str!("../corpus/load/seed004.yaml"),
    include_str!("../corpus/load/bench-2.yaml"),
];

/// The schema, and what the seeds write under each key.
struct Knowledge {
    schema: Json,
    /// Scalar strings written under a key, anywhere in the seeds; also
    /// under `PARENT.KEY` (`steps.name`), and under `MAP.*` for the items of
    /// a map (`images.*`).
    values: BTreeMap<String, Vec<String>>,
    /// Keys of the maps written under a key (`agents` → agent names).
    keys: BTreeMap<String, Vec<String>>,
}

fn knowledge() -> &'static Knowledge {
    static K: OnceLock<Knowledge> = OnceLock::new();
    K.get_or_init(|| {
        let schema = serde_json::from_str(&orchctl::schema::schema_json()).expect("schema");
        let mut k = Knowledge {
            schema,
            values: BTreeMap::new(),
            keys: BTreeMap::new(),
        };
        for text in SEEDS {
            // Only seeds that compile: the plainest choices make a spec that
            // compiles, and the odd values come from ODD_*.
            let (loaded, diags) = orchctl::load::load_str("platform.yaml", text);
            assert!(
                !diags.has_errors() && orchctl::compile(&loaded).is_ok(),
                "a seed of the spec target does not compile"
            );
            let file = orchctl::source::FileId(0);
            for doc in orchctl::yaml::parse_documents(text, file).unwrap_or_default() {
                k.learn("", 0, &doc);
            }
        }
        for list in k.values.values_mut().chain(k.keys.values_mut()) {
            list.sort();
            list.dedup();
        }
        k
    })
}

impl Knowledge {
    fn learn(&mut self, key: &str, depth: usize, node: &orchctl::yaml::Node) {
        use orchctl::yaml::Value;
        match &node.value {
            Value::Scalar(s) => {
                if !key.is_empty() && s.text.len() <= 8192 {
                    self.values
                        .entry(key.into())
                        .or_default()
                        .push(s.text.clone());
                }
            }
            Value::Seq(items) => {
                for item in items {
                    self.learn(key, depth, item);
                }
            }
            Value::Map(entries) => {
                // A route's `with` values and actions, by its event: they
                // refer to the event's payload.
                let text = |n: &orchctl::yaml::Node| match &n.value {
                    Value::Scalar(s) => Some(s.text.clone()),
                    _ => None,
                };
                let field = |name: &str| {
                    entries
                        .iter()
                        .find(|(k, _)| text(k).as_deref() == Some(name))
                        .map(|(_, v)| v)
                };
                if let Some(on) = field("on").and_then(text) {
                    for (what, node) in [("with", field("with")), ("actions", field("actions"))] {
                        let values: Vec<String> = match node.map(|n| &n.value) {
                            Some(Value::Map(m)) => m.iter().filter_map(|(_, v)| text(v)).collect(),
                            Some(Value::Seq(s)) => s.iter().filter_map(text).collect(),
                            _ => Vec::new(),
                        };
                        self.values
                            .entry(format!("{what}@{on}"))
                            .or_default()
                            .extend(values);
                    }
                }
                for (k, v) in entries {
                    if let Value::Scalar(name) = &k.value {
                        if !key.is_empty() {
                            self.keys
                                .entry(key.into())
                                .or_default()
                                .push(name.text.clone());
                            if let Value::Scalar(s) = &v.value {
                                // A top-level section's items also as `/KEY.*`
                                // (`/images.*`, not a chart's `images`).
                                let root = if depth == 1 {
                                    format!("/{key}.*")
                                } else {
                                    String::new()
                                };
                                for scoped in
                                    [format!("{key}.*"), format!("{key}.{}", name.text), root]
                                {
                                    self.values.entry(scoped).or_default().push(s.text.clone());
                                }
                            }
                        }
                        self.learn(&name.text, depth + 1, v);
                    }
                }
            }
        }
    }

    fn resolve<'a>(&'a self, mut s: &'a Json) -> &'a Json {
        // Bounded: a schema entry that referred to itself would loop.
        for _ in 0..8 {
            let Some(r) = s.get("$ref").and_then(Json::as_str) else {
                break;
            };
            let name = r.rsplit('/').next().unwrap_or_default();
            match self.schema["$defs"].get(name) {
                Some(d) => s = d,
                None => break,
            }
        }
        s
    }
}

/// A YAML value, written out by [`Yaml::write`].
#[derive(Clone)]
enum Yaml {
    /// Written as is (`true`, `3`, `~`, a plain string).
    Plain(String),
    /// Written double-quoted, or as a literal block.
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

/// Names declared by each section, referred to elsewhere.
#[derive(Default)]
struct Names {
    agents: Vec<String>,
    chains: Vec<String>,
    semaphores: Vec<String>,
    mutexes: Vec<String>,
    images: Vec<String>,
    tiers: Vec<String>,
    services: Vec<String>,
    parameters: Vec<String>,
    outputs: Vec<String>,
    /// The chain being written.
    chain: String,
    /// Its steps.
    steps: Vec<String>,
    /// The steps the step being written may refer to (those it runs after).
    before: Vec<String>,
    /// The steps of the chain so far whose outputs can be read.
    with_outputs: Vec<String>,
}

/// Odd names for any section: too long, upper case, dots, empty, Unicode.
const ODD_NAMES: &[&str] = &[
    "a",
    "x-1",
    "UPPER",
    "under_score",
    "dot.ted",
    "",
    "-lead",
    "trail-",
    "é",
    "a-very-long-name-that-goes-past-the-sixty-three-characters-kubernetes-allows",
    "1234",
    "true",
    "null",
];

/// Strings for any key: durations, quantities, images, references, YAML
/// look-alikes and the characters that need quoting.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "30s",
    "1h30m",
    "2d",
    "0s",
    "-5m",
    "10x",
    "500m",
    "2Gi",
    "1.5",
    "0",
    "ghcr.io/org/img:sha-0123abcd",
    "img@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "org/repo",
    "https://github.com/org/repo.git",
    "*/5 * * * *",
    "{{ project.name }}",
    "{{ x",
    "{% if true %}a{% endif %}",
    "{{",
    "$${params.x}",
    "${",
    "${params.}",
    "${workflow.nope}",
    "${steps.a.outputs}",
    "a\nb\n",
    "tab\there",
    "quote\"'",
    "#comment",
    "key: value",
    "- item",
    "&anchor",
    "*alias",
    "\u{feff}bom",
    "é\u{301}",
    "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
];
/// Top-level sections a spec that compiles has.
const ESSENTIAL: &[&str] = &[
    "project",
    "images",
    "runtime",
    "parameters",
    "agents",
    "chains",
    "concurrency",
];

/// Optional fields that a spec needs in practice: a workspace has a size or
/// a claim, an agent a prompt, steps the outputs others read, per-repository
/// semaphores repositories, routes a GitHub source with repositories to
/// watch.
const EXPECTED: &[&str] = &[
    "workspace",
    "size",
    "prompt",
    "outputs",
    "repositories",
    "github",
];

/// Lists a spec needs non-empty.
const NONEMPTY: &[&str] = &["command", "repositories", "authorAssociation"];

/// What a step runs: exactly one of these.
const KINDS: &[&str] = &["agent", "container", "approval", "chain"];

struct Gen<'a> {
    data: &'a [u8],
    at: usize,
    k: &'static Knowledge,
    names: Names,
    depth: usize,
    /// The key of the record being written (`project` for `project.name`).
    parent: String,
    /// Whether this input breaks things (one in eight): wrong types,
    /// misspelt or repeated keys, odd names and strings. Otherwise the
    /// generator keeps to what compiles, as far as it knows.
    faulty: bool,
    /// Whether this input leaves the sections to disagree with each other
    /// (one in eight): parameters, scopes and previews as [`Gen::finish`]
    /// finds them. Each section is still well formed.
    careless: bool,
    /// Strings being written must be literal: no `${…}` (the agent
    /// entrypoint and its environment, a container's command and args).
    literal: bool,
}

impl<'a> Gen<'a> {
    fn new(data: &'a [u8]) -> Self {
        let mut g = Gen {
            data,
            at: 0,
            k: knowledge(),
            names: Names::default(),
            depth: 0,
            parent: String::new(),
            faulty: false,
            careless: false,
            literal: false,
        };
        let first = g.byte();
        g.faulty = first >= 0xe0;
        g.careless = (0xc0..0xe0).contains(&first);
        g
    }

    /// The next choice; 0 once the input is used up, and 0 always means the
    /// plainest choice: the first option, nothing optional, nothing broken.
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let b = if n > 256 {
            usize::from(self.byte()) << 8 | usize::from(self.byte())
        } else {
            usize::from(self.byte())
        };
        b % n
    }

    /// True about `n` times in 256, never at the end of the input.
    fn rarely(&mut self, n: u8) -> bool {
        self.byte() > u8::MAX - n
    }

    /// A fault, about `n` times in 256 in a faulty input, never otherwise.
    fn fault(&mut self, n: u8) -> bool {
        self.faulty && self.rarely(n)
    }

    fn pick<T: Clone>(&mut self, from: &[T]) -> Option<T> {
        if from.is_empty() {
            None
        } else {
            let i = self.below(from.len());
            Some(from[i].clone())
        }
    }

    /// Up to `n` of `from`, without repeats unless the input is faulty.
    fn some_of(&mut self, from: &[String], n: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some(x) = self.pick(from)
                && (!out.contains(&x) || self.fault(64))
            {
                out.push(x);
            }
        }
        out
    }

    fn known(&self, key: &str) -> Vec<String> {
        self.k.values.get(key).cloned().unwrap_or_default()
    }

    fn spec(mut self) -> String {
        self.declare();
        let schema = &self.k.schema;
        let mut value = self.value(schema, "");
        if !self.faulty && !self.careless {
            self.finish(&mut value);
        }
        let mut text = String::new();
        if self.rarely(16) {
            text.push_str("# yaml-language-server: $schema=../schemas/orchctl.schema.json\n");
        }
        value.write(&mut text, 0, self.rarely(8));
        text
    }

    /// Make the sections agree with each other, where the compiler checks
    /// one against another: the parameters chains and routes pass, those
    /// that choose an agent, the scopes of semaphores, prompt variables,
    /// previews, the EventBus.
    fn finish(&mut self, spec: &mut Yaml) {
        // The parameters each chain takes, callees (declared later) first:
        // a step or route passes only those. Also the parameters that
        // choose a step's agent.
        let inputs: Vec<&str> = self
            .names
            .parameters
            .iter()
            .map(String::as_str)
            .filter(|p| *p != AGENT && *p != MODEL && !RESERVED.contains(p))
            .collect();
        let mut takes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut choosers = BTreeSet::new();
        if let Some(Yaml::Map(chains)) = get_mut(spec, "chains") {
            for (name, chain) in chains.iter_mut().rev() {
                let mut needed = BTreeSet::new();
                for step in steps_of(chain) {
                    let given: BTreeSet<String> =
                        entries(get(step, "with")).map(|(k, _)| k.clone()).collect();
                    if let Some(callee) = get(step, "chain").and_then(text) {
                        let callee = takes.get(&callee).cloned().unwrap_or_default();
                        if let Some(Yaml::Map(with)) = get_mut(step, "with") {
                            with.retain(|(k, _)| callee.contains(k));
                        }
                        needed.extend(callee.difference(&given).cloned());
                    } else if let Some(agent) = get(step, "agent").and_then(text) {
                        needed.extend(
                            inputs
                                .iter()
                                .filter(|p| !given.contains(**p))
                                .map(|p| p.to_string()),
                        );
                        if let Some(p) = agent
                            .strip_prefix("${params.")
                            .and_then(|r| r.strip_suffix('}'))
                        {
                            choosers.insert(p.to_string());
                        }
                    }
                }
                params_in(chain, &mut needed);
                takes.insert(name.clone(), needed);
            }
        }
        // A parameter that chooses the agent lists the agents it may name.
        let agents = self.names.agents.clone();
        let mut defaults = BTreeSet::new();
        if let Some(Yaml::Seq(params)) = get_mut(spec, "parameters") {
            for param in params.iter_mut() {
                let name = match get(param, "name") {
                    Some(Yaml::Str(n) | Yaml::Plain(n)) => n.clone(),
                    _ => continue,
                };
                if choosers.contains(&name) {
                    set(param, "type", Yaml::Plain("string".into()));
                    let n = 1 + self.below(agents.len());
                    let allowed = self.some_of(&agents, n);
                    if has(param, "default")
                        && let Some(first) = allowed.first()
                    {
                        set(param, "default", Yaml::Str(first.clone()));
                    }
                    set(
                        param,
                        "enum",
                        Yaml::Seq(allowed.into_iter().map(Yaml::Str).collect()),
                    );
                }
                if get(param, "default").is_some_and(|d| !is_null(d)) {
                    defaults.insert(name);
                }
            }
        }
        // Semaphore overrides name the semaphore's scopes.
        let repos: Vec<String> = match get(spec, "project").and_then(|p| get(p, "repositories")) {
            Some(Yaml::Seq(items)) => items.iter().filter_map(text).collect(),
            _ => Vec::new(),
        };
        if let Some(Yaml::Map(sems)) =
            get_mut(spec, "concurrency").and_then(|c| get_mut(c, "semaphores"))
        {
            for (_, sem) in sems.iter_mut() {
                let per = get(sem, "per").and_then(text).unwrap_or_default();
                let mut scopes: Vec<String> = match per.as_str() {
                    "repository" => repos.clone(),
                    "organization" => repos
                        .iter()
                        .filter_map(|r| r.split_once('/').map(|(o, _)| o.to_string()))
                        .collect(),
                    _ => Vec::new(),
                };
                scopes.sort();
                scopes.dedup();
                if scopes.is_empty() {
                    remove(sem, "per");
                    remove(sem, "overrides");
                } else if let Some(Yaml::Map(overrides)) = get_mut(sem, "overrides") {
                    for (i, (k, _)) in overrides.iter_mut().enumerate() {
                        *k = scopes[i % scopes.len()].clone();
                    }
                    overrides.truncate(scopes.len());
                }
            }
        }
        // The variables prompt templates read.
        let vars = self.k.keys.get("vars").cloned().unwrap_or_default();
        if !vars.is_empty() {
            if !matches!(get(spec, "vars"), Some(Yaml::Map(_))) {
                set(spec, "vars", Yaml::Map(Vec::new()));
            }
            if let Some(Yaml::Map(have)) = get_mut(spec, "vars") {
                for v in vars {
                    if !have.iter().any(|(k, _)| *k == v) {
                        have.push((v, Yaml::Str("main".into())));
                    }
                }
            }
        }
        // A preview of a declared service, of pull requests or branches,
        // reading what its generator provides; Helm parameters only for a
        // Helm source.
        let services = self.names.services.clone();
        let helm: BTreeSet<String> = entries(get(spec, "apps").and_then(|a| get(a, "services")))
            .filter(|(_, s)| {
                get(s, "source").is_some_and(|src| has(src, "helm") || has(src, "chart"))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if let Some(Yaml::Map(previews)) =
            get_mut(spec, "apps").and_then(|a| get_mut(a, "previews"))
        {
            previews.retain(|(_, p)| {
                get(p, "service")
                    .and_then(text)
                    .is_some_and(|s| services.contains(&s))
                    && (has(p, "pullRequests") || has(p, "branches"))
            });
            for (_, p) in previews.iter_mut() {
                if !get(p, "service")
                    .and_then(text)
                    .is_some_and(|s| helm.contains(&s))
                {
                    remove(p, "helmParameters");
                }
                let vars = if has(p, "branches") {
                    orchctl::apps::SCM_PROVIDER_VARS
                } else {
                    orchctl::apps::PULL_REQUEST_VARS
                };
                provided(p, vars);
            }
        }
        // The GitHub source publishes to the EventBus declared.
        if let Some(events) = get_mut(spec, "events")
            && let Some(bus) = get(events, "eventBus")
        {
            let bus = get(bus, "name")
                .and_then(text)
                .unwrap_or_else(|| "default".into());
            if let Some(github) = get_mut(events, "github") {
                set(github, "eventBusName", Yaml::Str(bus));
            }
        }
        // A route passes what its chain takes, and what has no default.
        if let Some(Yaml::Map(routes)) = get_mut(spec, "events").and_then(|e| get_mut(e, "routes"))
        {
            for (_, route) in routes.iter_mut() {
                let (Some(chain), Some(on)) = (
                    get(route, "run").and_then(text),
                    get(route, "on").and_then(text),
                ) else {
                    continue;
                };
                let needed = takes.get(&chain).cloned().unwrap_or_default();
                let values = self.event_values(&on);
                if !matches!(get(route, "with"), Some(Yaml::Map(_))) {
                    set(route, "with", Yaml::Map(Vec::new()));
                }
                let Some(Yaml::Map(with)) = get_mut(route, "with") else {
                    continue;
                };
                with.retain(|(k, _)| needed.contains(k));
                for p in &needed {
                    if !defaults.contains(p) && !with.iter().any(|(k, _)| k == p) {
                        let v = self.pick(&values).unwrap_or_default();
                        with.push((p.clone(), Yaml::Str(v)));
                    }
                }
                if with.is_empty() {
                    remove(route, "with");
                }
            }
        }
    }

    /// What the seeds pass from an `on` event's payload that refers only to
    /// declared parameters.
    fn event_values(&self, on: &str) -> Vec<String> {
        self.known(&format!("with@{on}"))
            .into_iter()
            .filter(|v| self.resolves(v, true))
            .collect()
    }

    /// Choose the names each section declares, before any is written.
    fn declare(&mut self) {
        fn some(g: &mut Gen<'_>, key: &str, min: usize) -> Vec<String> {
            let known = g.k.keys.get(key).cloned().unwrap_or_default();
            let n = min + g.below(4);
            let mut names = g.some_of(&known, n);
            if g.fault(64) {
                names.push(g.pick(ODD_NAMES).unwrap_or_default().to_string());
            }
            if names.len() < min {
                names.push(format!("{key}-{}", names.len()));
            }
            names
        }
        self.names.agents = some(self, "agents", 1);
        self.names.chains = some(self, "chains", 1);
        self.names.semaphores = some(self, "semaphores", 0);
        self.names.mutexes = some(self, "mutexes", 0);
        self.names.images = some(self, "images", 1);
        self.names.tiers = some(self, "tiers", 0);
        // Steps without a tier run on `default`.
        if !self.names.tiers.iter().any(|t| t == "default") && !self.fault(64) {
            self.names.tiers.insert(0, "default".into());
        }
        self.names.services = some(self, "services", 0);
        let n = self.below(6);
        self.names.parameters = self.some_of(&self.known("parameters.name"), n);
        // Most chains and semaphores need the repository.
        if !self.names.parameters.iter().any(|p| p == "repository") && !self.fault(64) {
            self.names.parameters.insert(0, "repository".into());
        }
        let n = 1 + self.below(4);
        self.names.outputs = self.some_of(&self.known("outputs"), n);
    }

    /// The names a map under `key` declares, or those it may use as keys.
    fn declared(&self, key: &str) -> Option<&Vec<String>> {
        Some(match key {
            "agents" => &self.names.agents,
            "chains" => &self.names.chains,
            "semaphores" => &self.names.semaphores,
            "mutexes" => &self.names.mutexes,
            "images" => &self.names.images,
            "tiers" => &self.names.tiers,
            "services" => &self.names.services,
            "with" => &self.names.parameters,
            _ => return None,
        })
    }

    /// The names a string under `key` refers to.
    fn referred(&self, key: &str) -> Option<Vec<String>> {
        let n = &self.names;
        Some(match key {
            "agent" => n.agents.clone(),
            // A chain declared after this one: chains that call each other
            // are a cycle.
            "chain" => n
                .chains
                .iter()
                .skip_while(|c| **c != n.chain)
                .skip(1)
                .cloned()
                .collect(),
            "run" => n.chains.clone(),
            "concurrency" => [&n.semaphores[..], &n.mutexes[..]].concat(),
            // A Helm or Kustomize source's images are declared ones.
            "image" | "images" => n.images.clone(),
            "tier" => n.tiers.clone(),
            "service" => n.services.clone(),
            "after" => n.before.clone(),
            "per" | "correlation" => n.parameters.clone(),
            _ => return None,
        })
    }

    fn value(&mut self, schema: &'static Json, key: &str) -> Yaml {
        let schema = self.k.resolve(schema);
        if self.fault(2) {
            return self.wrong();
        }
        if let Some(options) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Json::as_array)
        {
            // Any of the others before null: a present section is the
            // plainest choice, and a parameter's value is a string, a number
            // or a boolean alike. Only a faulty input writes null: orchctl
            // reads no field as null.
            let (null, others): (Vec<&'static Json>, Vec<&'static Json>) = options
                .iter()
                .partition(|o| o.get("type").and_then(Json::as_str) == Some("null"));
            let options =
                if others.is_empty() || (!null.is_empty() && self.faulty && self.rarely(8)) {
                    null
                } else {
                    others
                };
            if let Some(option) = self.pick(&options) {
                return self.value(option, key);
            }
        }
        if let Some(c) = schema.get("const") {
            return scalar(c);
        }
        if let Some(options) = schema.get("enum").and_then(Json::as_array) {
            if self.fault(8) {
                return Yaml::Plain("nonsense".into());
            }
            if let Some(option) = self.pick(options) {
                return scalar(&option);
            }
        }
        let ty = match schema.get("type") {
            Some(Json::Array(types)) => {
                // Not null first, as above.
                let i = if self.faulty && self.rarely(4) {
                    self.below(types.len())
                } else {
                    0
                };
                types.get(i).and_then(Json::as_str).unwrap_or("null")
            }
            Some(Json::String(t)) => t.as_str(),
            _ => "any",
        };
        match ty {
            "object" => self.object(schema, key),
            "array" => self.array(schema, key),
            "string" => self.string(key),
            "integer" => self.integer(schema),
            "number" => Yaml::Plain(["1.5", "0.0", "-2e3", ".inf"][self.below(4)].into()),
            "boolean" => Yaml::Plain(
                if self.byte() & 1 == 1 {
                    "true"
                } else {
                    "false"
                }
                .into(),
            ),
            "null" => Yaml::Plain(["~", "null", ""][self.below(3)].into()),
            _ => self.anything(key),
        }
    }

    /// A value of the wrong shape for where it lands.
    fn wrong(&mut self) -> Yaml {
        match self.below(7) {
            0 => Yaml::Plain("~".into()),
            1 => Yaml::Seq(Vec::new()),
            2 => Yaml::Map(Vec::new()),
            3 => Yaml::Plain("-1".into()),
            4 => Yaml::Plain("18446744073709551616".into()),
            5 => Yaml::Str("x".into()),
            _ => Yaml::Plain("yes".into()),
        }
    }

    /// Free-form YAML (`vars`, agent `settings`).
    fn anything(&mut self, key: &str) -> Yaml {
        self.depth += 1;
        let v = match self.below(if self.depth > 3 { 3 } else { 5 }) {
            0 => self.string(key),
            1 => Yaml::Plain(["1", "true", "~", "2.5"][self.below(4)].into()),
            2 => Yaml::Str(self.pick(ODD_STRINGS).unwrap_or_default().into()),
            3 => {
                let n = self.below(3);
                Yaml::Seq((0..n).map(|_| self.anything(key)).collect())
            }
            _ => {
                let n = self.below(3);
                let mut known = self.k.keys.get(key).cloned().unwrap_or_default();
                known.extend(["k", "key", "other"].map(String::from));
                let keys = self.some_of(&known, n);
                Yaml::Map(
                    keys.into_iter()
                        .map(|k| {
                            let v = self.anything(&k);
                            (k, v)
                        })
                        .collect(),
                )
            }
        };
        self.depth -= 1;
        v
    }

    fn object(&mut self, schema: &'static Json, key: &str) -> Yaml {
        if let Some(props) = schema.get("properties").and_then(Json::as_object) {
            let parent = std::mem::replace(&mut self.parent, key.to_string());
            let mut record = self.record(schema, props);
            self.parent = parent;
            if !self.faulty {
                self.coherent(&mut record, key);
            }
            return record;
        }
        // A map of named items.
        let item = schema
            .get("additionalProperties")
            .unwrap_or(&Json::Bool(true));
        let names = match self.declared(key) {
            Some(names) => {
                let mut names = names.clone();
                // Some of the declared parameters for `with`; all of the rest.
                if key == "with" {
                    names.retain(|_| self.byte() & 1 == 1);
                }
                names
            }
            None => {
                let known = self.k.keys.get(key).cloned().unwrap_or_default();
                let n = self.below(4);
                let mut names = self.some_of(&known, n);
                if self.fault(16) {
                    names.push(self.pick(ODD_NAMES).unwrap_or_default().into());
                }
                names
            }
        };
        // The agent's environment is literal.
        let literal =
            std::mem::replace(&mut self.literal, key == "env" && self.parent == "runtime");
        let mut entries = Vec::with_capacity(names.len() + 1);
        if self.fault(4) {
            entries.push((
                self.pick(ODD_NAMES).unwrap_or_default().to_string(),
                self.wrong(),
            ));
        }
        for name in names {
            let value = if key == "chains" {
                // Step names are chosen per chain.
                let n = 1 + self.below(6);
                self.names.chain = name.clone();
                self.names.steps = self.some_of(&self.known("steps.name"), n);
                self.names.before.clear();
                self.names.with_outputs.clear();
                let mut chain = self.value(item, &name);
                if !self.faulty
                    && let Some(on_exit) = get_mut(&mut chain, "onExit")
                {
                    // It reads no step's outputs.
                    self.names.before.clear();
                    self.coherent_step(on_exit, true);
                }
                chain
            } else if key == "images" && self.depth > 1 && !self.faulty {
                // A Helm source's images: declared ones, by values prefix.
                let image = self.pick(&self.names.images.clone()).unwrap_or_default();
                plain_or_quoted(image, self.byte())
            } else if item.get("type").and_then(Json::as_str) == Some("string") {
                // A string item is like the other items of its map
                // (`images.*`) more than like what its name holds elsewhere.
                let scope = if self.depth == 1 {
                    format!("/{key}.*")
                } else {
                    format!("{key}.*")
                };
                let key = if self.k.values.contains_key(&scope)
                    && (!self.faulty || self.byte() & 3 != 3)
                {
                    &scope
                } else {
                    &name
                };
                self.nested(item, key)
            } else {
                self.nested(item, &name)
            };
            entries.push((name, value));
        }
        self.literal = literal;
        Yaml::Map(entries)
    }

    /// An object with named properties.
    fn record(
        &mut self,
        schema: &'static Json,
        props: &'static serde_json::Map<String, Json>,
    ) -> Yaml {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let deep = self.depth > 6;
        let mut entries = Vec::new();
        for (name, prop) in props {
            // The sections a spec needs are as good as required, and so is a
            // map of the names others refer to.
            let essential = if self.depth == 0 {
                ESSENTIAL.contains(&name.as_str())
            } else {
                EXPECTED.contains(&name.as_str())
                    || self
                        .declared(name)
                        .is_some_and(|n| !n.is_empty() && name != "with")
            };
            let wanted = if essential || required.contains(&name.as_str()) {
                !self.fault(8)
            } else {
                !deep && self.byte() & 1 == 1
            };
            if !wanted {
                continue;
            }
            let value = self.nested(prop, name);
            let name = if self.fault(2) {
                misspell(name, self.byte())
            } else {
                name.clone()
            };
            if self.fault(2) {
                entries.push((name.clone(), self.wrong()));
            }
            entries.push((name, value));
        }
        if self.rarely(6) && !entries.is_empty() {
            // Out of schema order.
            let i = self.below(entries.len());
            let e = entries.remove(i);
            entries.push(e);
        }
        Yaml::Map(entries)
    }

    /// Make a record under `key` agree with what the compiler asks of it
    /// beyond the schema: fields that exclude each other, fields that go
    /// together.
    fn coherent(&mut self, record: &mut Yaml, key: &str) {
        // An agent: an inline prompt (a file cannot be read from memory).
        if has(record, "model") && has(record, "prompt") {
            remove(record, "promptFile");
        }
        // A workspace: a per-run claim of a size, or an existing claim.
        self.one_of(record, "size", "claim");
        if has(record, "claim") {
            remove(record, "storageClass");
        }
        // An Argo CD source: a path or a chart, and one kind of it.
        if key == "source" {
            let chart = has(record, "chart");
            remove(record, if chart { "path" } else { "chart" });
            if !chart && !has(record, "path") {
                set(record, "path", Yaml::Plain("deploy".into()));
            }
            let kinds = ["helm", "kustomize", "directory"];
            let keep = if chart { "helm" } else { kinds[self.below(3)] };
            for k in kinds {
                if k != keep {
                    remove(record, k);
                }
            }
        }
        // A route: `with` values and actions the event has.
        if let Some(Yaml::Plain(on) | Yaml::Str(on)) = get(record, "on") {
            let on = on.clone();
            let values = self.event_values(&on);
            if let Some(Yaml::Map(with)) = get_mut(record, "with") {
                for (_, v) in with.iter_mut() {
                    let i = usize::from(self.byte());
                    *v = match values.get(i % values.len().max(1)) {
                        Some(x) => Yaml::Str(x.clone()),
                        None => Yaml::Str(String::new()),
                    };
                }
            }
            // Conditions the event's payload carries.
            if let Some(event) = orchctl::github::EVENTS.iter().find(|e| e.name == on)
                && let Some(Yaml::Map(when)) = get_mut(record, "when")
            {
                when.retain(|(cond, _)| applies(event, cond));
            }
            let actions = self.known(&format!("actions@{on}"));
            if has(record, "actions") {
                let n = 1 + self.below(2);
                let chosen = self.some_of(&actions, n);
                set(
                    record,
                    "actions",
                    Yaml::Seq(chosen.into_iter().map(Yaml::Str).collect()),
                );
            }
        }
        // A preview: of pull requests or of branches.
        self.one_of(record, "pullRequests", "branches");
        // A GitHub source: repositories or organizations.
        self.one_of(record, "repositories", "organizations");
        // A parameter: a default and choices of its type.
        if key == "parameters" {
            let ty = match get(record, "type") {
                Some(Yaml::Plain(t)) => t.clone(),
                _ => "string".into(),
            };
            let values: Vec<String> = match ty.as_str() {
                "integer" => ["0", "1", "3", "10"].map(String::from).to_vec(),
                "boolean" => ["true", "false"].map(String::from).to_vec(),
                _ => self.known("default"),
            };
            let quote = ty != "integer" && ty != "boolean";
            let as_yaml = |v: String| if quote { Yaml::Str(v) } else { Yaml::Plain(v) };
            let choices = if has(record, "enum") {
                let n = 1 + self.below(3);
                let choices = self.some_of(&values, n);
                set(
                    record,
                    "enum",
                    Yaml::Seq(choices.iter().cloned().map(as_yaml).collect()),
                );
                choices
            } else {
                values
            };
            if has(record, "default") {
                let d = self.pick(&choices).unwrap_or_default();
                set(record, "default", as_yaml(d));
            }
        }
    }

    /// Keep one of two fields that exclude each other, if both are there.
    fn one_of(&mut self, record: &mut Yaml, a: &str, b: &str) {
        if has(record, a) && has(record, b) {
            let drop = if self.byte() & 1 == 1 { a } else { b };
            remove(record, drop);
        }
    }

    /// A step of the chain being written (`onExit` for the exit handler):
    /// one kind, after earlier steps, referring only to those.
    fn coherent_step(&mut self, step: &mut Yaml, on_exit: bool) {
        let present: Vec<&str> = KINDS
            .iter()
            .copied()
            .filter(|k| get(step, k).is_some_and(|v| !is_null(v)))
            .collect();
        let others = self.referred("chain").is_some_and(|c| !c.is_empty());
        let kind = match self.pick(&present) {
            Some(k) if !(on_exit && k == "approval") && (k != "chain" || others) => k,
            _ => {
                let agent = self.pick(&self.names.agents.clone()).unwrap_or_default();
                set(step, "agent", plain_or_quoted(agent, 0));
                "agent"
            }
        };
        for k in KINDS {
            if *k != kind {
                remove(step, k);
            }
        }
        if kind != "agent" && kind != "chain" {
            remove(step, "with");
        }
        if kind == "agent" {
            // Agent steps take only a retry limit.
            if let Some(Yaml::Map(retry)) = get_mut(step, "retry") {
                retry.retain(|(k, _)| k == "limit");
            }
            // The step sets these itself.
            if let Some(Yaml::Map(with)) = get_mut(step, "with") {
                with.retain(|(k, _)| k != AGENT && !RESERVED.contains(&k.as_str()));
            }
            // An agent chosen per run has no model of its own: the step
            // gives one.
            let per_run = matches!(get(step, "agent"), Some(Yaml::Str(a) | Yaml::Plain(a)) if a.starts_with("${"));
            if per_run {
                let models: Vec<String> = self
                    .known("model")
                    .into_iter()
                    .filter(|m| self.resolves(m, false))
                    .collect();
                let model = self.pick(&models).unwrap_or_else(|| "m".into());
                match get_mut(step, "with") {
                    Some(Yaml::Map(with)) => {
                        with.retain(|(k, _)| k != "model");
                        with.push(("model".into(), Yaml::Str(model)));
                    }
                    _ => set(
                        step,
                        "with",
                        Yaml::Map(vec![("model".into(), Yaml::Str(model))]),
                    ),
                }
            }
        }
        // Whether later steps may read this one's outputs.
        let outputs = match kind {
            "agent" => true,
            "container" => get(step, "container")
                .and_then(|c| get(c, "outputs"))
                .is_some_and(|o| matches!(o, Yaml::Seq(items) if !items.is_empty())),
            _ => false,
        };
        if outputs && let Some(Yaml::Plain(name) | Yaml::Str(name)) = get(step, "name") {
            self.names.with_outputs.push(name.clone());
        }
        if on_exit {
            remove(step, "after");
        }
    }

    fn nested(&mut self, schema: &'static Json, key: &str) -> Yaml {
        self.depth += 1;
        let v = self.value(schema, key);
        self.depth -= 1;
        v
    }

    fn array(&mut self, schema: &'static Json, key: &str) -> Yaml {
        let item = schema.get("items").unwrap_or(&Json::Bool(true));
        match key {
            "parameters" => {
                let names = self.names.parameters.clone();
                Yaml::Seq(
                    names
                        .into_iter()
                        .map(|n| with_name(self.nested(item, key), n))
                        .collect(),
                )
            }
            "steps" => {
                let names = self.names.steps.clone();
                let mut steps = Vec::with_capacity(names.len());
                for (i, n) in names.iter().enumerate() {
                    // Mostly after an earlier step, so chains are acyclic, and
                    // referring to the steps it runs after.
                    let after = if i > 0 && self.byte() & 1 == 1 {
                        vec![names[self.below(i)].clone()]
                    } else {
                        Vec::new()
                    };
                    self.names.before.clone_from(&after);
                    let mut step = with_name(self.nested(item, key), n.clone());
                    if !self.faulty {
                        self.coherent_step(&mut step, false);
                        if after.is_empty() {
                            remove(&mut step, "after");
                        } else {
                            let after = after.into_iter().map(|a| plain_or_quoted(a, 0));
                            set(&mut step, "after", Yaml::Seq(after.collect()));
                        }
                    }
                    steps.push(step);
                }
                // The exit handler reads no step's outputs.
                self.names.before.clear();
                Yaml::Seq(steps)
            }
            "outputs" => {
                let names = self.names.outputs.clone();
                Yaml::Seq(names.into_iter().map(|o| plain_or_quoted(o, 0)).collect())
            }
            _ if !self.faulty && self.referred(key).is_some_and(|n| n.is_empty()) => {
                // Nothing declared to refer to.
                Yaml::Seq(Vec::new())
            }
            _ => {
                let least = usize::from(NONEMPTY.contains(&key));
                let n = if self.depth > 6 {
                    least
                } else {
                    least + self.below(4)
                };
                // The agent's and a container's command line are literal.
                let literal = std::mem::replace(
                    &mut self.literal,
                    matches!(key, "command" | "args")
                        && matches!(self.parent.as_str(), "runtime" | "container"),
                );
                let items = (0..n).map(|_| self.nested(item, key)).collect();
                self.literal = literal;
                Yaml::Seq(items)
            }
        }
    }

    fn integer(&mut self, schema: &Json) -> Yaml {
        const INTS: &[&str] = &[
            "1",
            "2",
            "3",
            "5",
            "10",
            "100",
            "1000",
            "65535",
            "0",
            "65536",
            "-1",
            "4294967296",
            "0x10",
            "1_000",
            "1e3",
            "007",
        ];
        let max = if !self.faulty {
            8
        } else if schema.get("minimum").is_some() && !self.fault(32) {
            10
        } else {
            INTS.len()
        };
        Yaml::Plain(INTS[self.below(max)].into())
    }

    fn string(&mut self, key: &str) -> Yaml {
        if let Some(names) = self.referred(key)
            && !names.is_empty()
            && !self.fault(32)
        {
            if key == "agent" && self.rarely(16) && !self.names.parameters.is_empty() {
                let p = self
                    .pick(&self.names.parameters.clone())
                    .unwrap_or_default();
                return Yaml::Str(format!("${{params.{p}}}"));
            }
            let name = self.pick(&names).unwrap_or_default();
            return plain_or_quoted(name, self.byte());
        }
        let scoped = self.known(&format!("{}.{key}", self.parent));
        let known = if scoped.is_empty() {
            self.known(key)
        } else {
            scoped
        };
        if !self.faulty {
            // What the seeds write here that refers only to declared names,
            // or a fitting value, or references.
            let fits: Vec<String> = known
                .into_iter()
                .filter(|v| {
                    self.resolves(v, false)
                        && !(self.literal && v.contains("${"))
                        && (key != "name" || orchctl::check::is_dns_label(v))
                })
                .collect();
            if let Some(s) = self.pick(&fits) {
                return plain_or_quoted(s, self.byte());
            }
            if let Some(v) = fallback(key) {
                let v: Vec<&str> = v
                    .iter()
                    .copied()
                    .filter(|v| !(self.literal && v.contains("${")))
                    .collect();
                if let Some(v) = self.pick(&v) {
                    return Yaml::Str(v.to_string());
                }
            }
            if self.literal {
                return Yaml::Str("text".into());
            }
            return Yaml::Str(self.template());
        }
        match self.byte() {
            0..=127 if !known.is_empty() => {
                let s = self.pick(&known).unwrap_or_default();
                plain_or_quoted(s, self.byte())
            }
            0..=191 => Yaml::Str(self.template()),
            192..=239 => Yaml::Str(self.pick(ODD_STRINGS).unwrap_or_default().into()),
            _ => {
                // Bytes of the input as text.
                let n = self.below(24);
                let from = self.at.min(self.data.len());
                let to = (from + n).min(self.data.len());
                self.at += n;
                Yaml::Str(String::from_utf8_lossy(&self.data[from..to]).into_owned())
            }
        }
    }

    /// Whether every `${params.…}` in `v` names a declared parameter, and it
    /// refers to no step (the seeds' steps are not this spec's), and to an
    /// event only in a route.
    fn resolves(&self, v: &str, in_route: bool) -> bool {
        (in_route || !v.contains("${event."))
            && !v.contains("${steps.")
            && !v.contains("${workflow.status}")
            && v.split("${params.").skip(1).all(|rest| {
                let name = rest.split('}').next().unwrap_or_default();
                self.names.parameters.iter().any(|p| p == name)
            })
    }

    /// A string of literal text and `${…}` references to declared names:
    /// parameters, the outputs and status of the steps the current one runs
    /// after, the workflow's name.
    fn template(&mut self) -> String {
        let mut s = String::new();
        let n = 1 + self.below(3);
        let before = self.names.before.clone();
        let readable: Vec<String> = if self.faulty {
            before.clone()
        } else {
            before
                .iter()
                .filter(|s| self.names.with_outputs.contains(s))
                .cloned()
                .collect()
        };
        for _ in 0..n {
            match self.below(7) {
                0 => s.push_str(["text ", "-", " == ", " > 0", " && ", "Succeeded"][self.below(6)]),
                1 | 2 => match self.pick(&self.names.parameters.clone()) {
                    Some(p) => {
                        let _ = write!(s, "${{params.{p}}}");
                    }
                    None => s.push_str("text"),
                },
                3 | 4 if !readable.is_empty() || self.faulty => {
                    let st = self.pick(&readable).unwrap_or_else(|| "s".into());
                    let o = self
                        .pick(&self.names.outputs.clone())
                        .unwrap_or_else(|| "o".into());
                    let _ = write!(s, "${{steps.{st}.outputs.{o}}}");
                }
                5 if !before.is_empty() || self.faulty => {
                    let st = self.pick(&before).unwrap_or_else(|| "s".into());
                    let _ = write!(s, "${{steps.{st}.status}}");
                }
                _ => {
                    let vars: &[&str] = if self.faulty {
                        &["name", "namespace", "status", "uid", "bogus"]
                    } else {
                        &["name", "namespace", "uid"]
                    };
                    let w = vars[self.below(vars.len())];
                    let _ = write!(s, "${{workflow.{w}}}");
                }
            }
        }
        s
    }
}

/// Whether a route condition applies to `event`'s payload.
fn applies(event: &orchctl::github::Event, cond: &str) -> bool {
    match cond {
        "merged" => event.merged.is_some(),
        "baseBranch" => event.base_branch.is_some(),
        "headBranch" => event.head_branch.is_some(),
        "label" => event.label.is_some(),
        "conclusion" => event.conclusion.is_some(),
        "commentOn" => event.issue.is_some(),
        "command" => event.body.is_some(),
        "authorAssociation" => event.author_association.is_some(),
        _ => true,
    }
}

/// Values for the keys the seeds never write.
fn fallback(key: &str) -> Option<&'static [&'static str]> {
    Some(match key {
        "mountPath" => &["/workspace", "/work"],
        "poll" => &["5m", "30s"],
        "chart" => &["agent-platform", "charts/web"],
        "server" | "url" => &[
            "https://kubernetes.default.svc",
            "https://hooks.example.com/github",
        ],
        "ephemeralStorage" => &["1Gi", "500Mi"],
        "pattern" => &["feature/*", "release-.*"],
        "version" => &["1.2.3", "v1"],
        "headBranch" | "label" => &["main", "ready"],
        "organizations" => &["5dlabs", "acme"],
        "sourceRepos" => &["https://github.com/5dlabs/cto.git", "*"],
        "eventBusName" => &["default"],
        "serviceName" => &["web", "api"],
        "taskPrompt" => &["Do the task.\n", "Task ${params.taskId}"],
        "args" | "options" => &["--verbose", "run"],
        _ => return None,
    })
}

/// A JSON scalar from the schema (`enum`, `const`) as YAML.
fn scalar(v: &Json) -> Yaml {
    match v {
        Json::String(s) => Yaml::Plain(s.clone()),
        other => Yaml::Plain(other.to_string()),
    }
}

fn plain_or_quoted(s: String, choice: u8) -> Yaml {
    if choice & 3 != 3 && plain_ok(&s) {
        Yaml::Plain(s)
    } else {
        Yaml::Str(s)
    }
}

/// Whether `s` reads back as the same string when written plain.
fn plain_ok(s: &str) -> bool {
    let first = s.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '$')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@${} ".contains(c))
        && !s.ends_with(' ')
        && !matches!(
            s,
            "true" | "false" | "null" | "True" | "False" | "Null" | "TRUE" | "FALSE" | "NULL"
        )
}

fn misspell(name: &str, how: u8) -> String {
    let mut s = name.to_string();
    match how % 4 {
        0 if s.len() > 1 => {
            let at = usize::from(how) % s.len();
            if s.is_char_boundary(at) && s.is_char_boundary(at + 1) {
                s.remove(at);
            }
        }
        1 => s = s.to_uppercase(),
        2 => s.push('s'),
        _ => s = format!("x-{s}"),
    }
    s
}

/// The entries of a map, if `item` is one.
fn entries(item: Option<&Yaml>) -> impl Iterator<Item = &(String, Yaml)> {
    match item {
        Some(Yaml::Map(e)) => e.iter(),
        _ => [].iter(),
    }
}

/// A chain's steps and exit handler.
fn steps_of(chain: &mut Yaml) -> Vec<&mut Yaml> {
    let mut out = Vec::new();
    if let Yaml::Map(entries) = chain {
        for (k, v) in entries.iter_mut() {
            match (k.as_str(), v) {
                ("steps", Yaml::Seq(steps)) => out.extend(steps.iter_mut()),
                ("onExit", v) => out.push(v),
                _ => {}
            }
        }
    }
    out
}

/// Strings in `item` that read a preview variable the generator does not
/// provide become literal.
fn provided(item: &mut Yaml, vars: &[&str]) {
    match item {
        Yaml::Plain(s) | Yaml::Str(s) => {
            let unknown = s
                .split("${preview.")
                .skip(1)
                .any(|rest| rest.split_once('}').is_none_or(|(v, _)| !vars.contains(&v)));
            if unknown {
                *item = Yaml::Str("text".into());
            }
        }
        Yaml::Seq(items) => items.iter_mut().for_each(|i| provided(i, vars)),
        Yaml::Map(entries) => entries.iter_mut().for_each(|(_, v)| provided(v, vars)),
    }
}

/// The text of a scalar.
fn text(item: &Yaml) -> Option<String> {
    match item {
        Yaml::Plain(s) | Yaml::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// The parameters `${params.…}` names anywhere in `item`.
fn params_in(item: &Yaml, out: &mut BTreeSet<String>) {
    match item {
        Yaml::Plain(s) | Yaml::Str(s) => {
            for rest in s.split("${params.").skip(1) {
                if let Some((name, _)) = rest.split_once('}') {
                    out.insert(name.to_string());
                }
            }
        }
        Yaml::Seq(items) => items.iter().for_each(|i| params_in(i, out)),
        Yaml::Map(entries) => entries.iter().for_each(|(_, v)| params_in(v, out)),
    }
}

/// `item` with its `name` set (a parameter, a step).
fn with_name(mut item: Yaml, name: String) -> Yaml {
    set(&mut item, "name", plain_or_quoted(name, 0));
    item
}

fn is_null(v: &Yaml) -> bool {
    matches!(v, Yaml::Plain(p) if matches!(p.as_str(), "~" | "null" | ""))
}

fn has(item: &Yaml, key: &str) -> bool {
    get(item, key).is_some()
}

fn get<'y>(item: &'y Yaml, key: &str) -> Option<&'y Yaml> {
    match item {
        Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn get_mut<'y>(item: &'y mut Yaml, key: &str) -> Option<&'y mut Yaml> {
    match item {
        Yaml::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn remove(item: &mut Yaml, key: &str) {
    if let Yaml::Map(entries) = item {
        entries.retain(|(k, _)| k != key);
    }
}

fn set(item: &mut Yaml, key: &str, value: Yaml) {
    if let Yaml::Map(entries) = item {
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => entries.insert(0, (key.into(), value)),
        }
    }
}

impl Yaml {
    /// Write as block YAML at `indent`; `flow` writes collections inline.
    fn write(&self, out: &mut String, indent: usize, flow: bool) {
        match self {
            Yaml::Map(entries) if !entries.is_empty() && !flow => {
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&" ".repeat(indent));
                    }
                    write_key(out, k);
                    out.push(':');
                    v.write_after_key(out, indent);
                }
            }
            Yaml::Seq(items) if !items.is_empty() && !flow => {
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&" ".repeat(indent));
                    }
                    out.push_str("- ");
                    v.write(out, indent + 2, false);
                }
            }
            _ => {
                self.write_flow(out);
                out.push('\n');
            }
        }
    }

    fn write_after_key(&self, out: &mut String, indent: usize) {
        match self {
            Yaml::Map(e) if !e.is_empty() => {
                out.push('\n');
                out.push_str(&" ".repeat(indent + 2));
                self.write(out, indent + 2, false);
            }
            Yaml::Seq(e) if !e.is_empty() => {
                out.push('\n');
                out.push_str(&" ".repeat(indent + 2));
                self.write(out, indent + 2, false);
            }
            Yaml::Str(s) if s.ends_with('\n') && block_ok(s) => {
                out.push_str(" |\n");
                for line in s.lines() {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(line);
                    out.push('\n');
                }
            }
            _ => {
                out.push(' ');
                self.write_flow(out);
                out.push('\n');
            }
        }
    }

    fn write_flow(&self, out: &mut String) {
        match self {
            Yaml::Plain(s) if s.is_empty() => out.push_str("null"),
            Yaml::Plain(s) if s.contains([',', '[', ']', '{', '}']) => {
                out.push_str(&serde_json::to_string(s).unwrap_or_default());
            }
            Yaml::Plain(s) => out.push_str(s),
            Yaml::Str(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            Yaml::Seq(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write_flow(out);
                }
                out.push(']');
            }
            Yaml::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_key(out, k);
                    out.push_str(": ");
                    v.write_flow(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_key(out: &mut String, k: &str) {
    if plain_ok(k) && !k.contains(['{', '}', ' ']) {
        out.push_str(k);
    } else {
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
    }
}

/// Whether a literal block scalar keeps `s` as it is.
fn block_ok(s: &str) -> bool {
    !s.ends_with("\n\n")
        && !s.starts_with([' ', '\t', '\n'])
        && !s.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
        })
}
