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
//! bytes. Rarely, a value takes the wrong type, a key is misspelt, repeated
//! or unknown: the error paths stay in reach. Every text goes through the
//! same checks as the `load` target (`common::check`).
//!
//! With `ORCHCTL_FUZZ_DUMP=DIR` set, each generated text is also written to
//! DIR, so a corpus of this target can be measured as spec files by the
//! `load` target (`coverage.py`).
#![no_main]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
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

/// The schema, and what the seeds write under each key.
struct Knowledge {
    schema: Json,
    /// Scalar strings written under a key, anywhere in the seeds.
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
        let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/load");
        let mut paths: Vec<_> = std::fs::read_dir(seeds)
            .expect("corpus/load")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            // Only from seeds that compile: the plainest choices make a
            // spec that compiles, and the odd values come from ODD_*.
            let (loaded, _) = orchctl::load::load_str("platform.yaml", &text);
            if orchctl::compile(&loaded).is_err() {
                continue;
            }
            let file = orchctl::source::FileId(0);
            for doc in orchctl::yaml::parse_documents(&text, file).unwrap_or_default() {
                k.learn("", &doc);
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
    fn learn(&mut self, key: &str, node: &orchctl::yaml::Node) {
        use orchctl::yaml::Value;
        match &node.value {
            Value::Scalar(s) => {
                if !key.is_empty() && s.text.len() <= 200 {
                    self.values
                        .entry(key.into())
                        .or_default()
                        .push(s.text.clone());
                }
            }
            Value::Seq(items) => {
                for item in items {
                    self.learn(key, item);
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries {
                    if let Value::Scalar(name) = &k.value {
                        if !key.is_empty() {
                            self.keys
                                .entry(key.into())
                                .or_default()
                                .push(name.text.clone());
                            // Also as an item of the map: `images.*`.
                            if let Value::Scalar(s) = &v.value {
                                self.values
                                    .entry(format!("{key}.*"))
                                    .or_default()
                                    .push(s.text.clone());
                            }
                        }
                        self.learn(&name.text, v);
                    }
                }
            }
        }
    }

    fn resolve<'a>(&'a self, mut s: &'a Json) -> &'a Json {
        while let Some(r) = s.get("$ref").and_then(Json::as_str) {
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
    /// The steps of the chain being written.
    steps: Vec<String>,
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
];

/// Optional fields that a spec needs in practice (a workspace has a size or
/// a claim, an agent a prompt).
const EXPECTED: &[&str] = &["workspace", "size", "prompt"];

/// Lists a spec needs non-empty.
const NONEMPTY: &[&str] = &["command"];

struct Gen<'a> {
    data: &'a [u8],
    at: usize,
    k: &'static Knowledge,
    names: Names,
    depth: usize,
}

impl<'a> Gen<'a> {
    fn new(data: &'a [u8]) -> Self {
        Gen {
            data,
            at: 0,
            k: knowledge(),
            names: Names::default(),
            depth: 0,
        }
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

    fn pick<T: Clone>(&mut self, from: &[T]) -> Option<T> {
        if from.is_empty() {
            None
        } else {
            let i = self.below(from.len());
            Some(from[i].clone())
        }
    }

    fn spec(mut self) -> String {
        self.declare();
        let schema = &self.k.schema;
        let value = self.value(schema, "");
        let mut text = String::new();
        if self.rarely(16) {
            text.push_str("# yaml-language-server: $schema=../schemas/orchctl.schema.json\n");
        }
        value.write(&mut text, 0, self.rarely(8));
        text
    }

    /// Choose the names each section declares, before any is written.
    fn declare(&mut self) {
        fn some(g: &mut Gen<'_>, key: &str, min: usize) -> Vec<String> {
            let known = g.k.keys.get(key).cloned().unwrap_or_default();
            let n = min + g.below(4);
            let mut names = Vec::with_capacity(n);
            for _ in 0..n {
                let name = if g.rarely(6) || known.is_empty() {
                    g.pick(ODD_NAMES).unwrap_or_default().to_string()
                } else {
                    g.pick(&known).unwrap_or_default()
                };
                if !names.contains(&name) || g.rarely(8) {
                    names.push(name);
                }
            }
            names
        }
        self.names.agents = some(self, "agents", 1);
        self.names.chains = some(self, "chains", 1);
        self.names.semaphores = some(self, "semaphores", 0);
        self.names.mutexes = some(self, "mutexes", 0);
        self.names.images = some(self, "images", 1);
        self.names.tiers = some(self, "tiers", 1);
        self.names.services = some(self, "services", 0);
        let params = self.k.values.get("name").cloned().unwrap_or_default();
        let n = self.below(6);
        for _ in 0..n {
            if let Some(p) = self.pick(&params) {
                self.names.parameters.push(p);
            }
        }
        let outputs = self.k.values.get("outputs").cloned().unwrap_or_default();
        let n = 1 + self.below(4);
        for _ in 0..n {
            if let Some(o) = self.pick(&outputs) {
                self.names.outputs.push(o);
            }
        }
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
        Some(match key {
            "agent" => self.names.agents.clone(),
            "chain" | "run" => self.names.chains.clone(),
            "concurrency" => [&self.names.semaphores[..], &self.names.mutexes[..]].concat(),
            "image" => self.names.images.clone(),
            "tier" => self.names.tiers.clone(),
            "service" => self.names.services.clone(),
            "after" => self.names.steps.clone(),
            "per" => self.names.parameters.clone(),
            _ => return None,
        })
    }

    fn value(&mut self, schema: &'static Json, key: &str) -> Yaml {
        let schema = self.k.resolve(schema);
        if self.rarely(1) {
            return self.wrong();
        }
        if let Some(options) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Json::as_array)
        {
            // Any of the others before null: a present section is the
            // plainest choice, and a parameter's value is a string, a number
            // or a boolean alike.
            let (null, others): (Vec<&'static Json>, Vec<&'static Json>) = options
                .iter()
                .partition(|o| o.get("type").and_then(Json::as_str) == Some("null"));
            let options = if others.is_empty() || (!null.is_empty() && self.rarely(8)) {
                null
            } else {
                others
            };
            let i = self.below(options.len());
            return self.value(options[i], key);
        }
        if let Some(c) = schema.get("const") {
            return scalar(c);
        }
        if let Some(options) = schema.get("enum").and_then(Json::as_array) {
            if self.rarely(2) {
                return Yaml::Plain("nonsense".into());
            }
            let i = self.below(options.len());
            return scalar(&options[i]);
        }
        let ty = match schema.get("type") {
            Some(Json::Array(types)) => {
                // Not null first, as above.
                let i = if self.rarely(4) {
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
                let known = self.k.keys.get(key).cloned().unwrap_or_default();
                Yaml::Map(
                    (0..n)
                        .map(|_| {
                            let k = self.pick(&known).unwrap_or_else(|| "k".into());
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
            return self.record(schema, props);
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
                let mut names: Vec<String> = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = match self.pick(&known) {
                        Some(k) if !self.rarely(16) => k,
                        _ => self.pick(ODD_NAMES).unwrap_or_default().into(),
                    };
                    if !names.contains(&name) || self.rarely(4) {
                        names.push(name);
                    }
                }
                names
            }
        };
        let mut entries = Vec::with_capacity(names.len() + 1);
        if self.rarely(2) {
            entries.push((
                self.pick(ODD_NAMES).unwrap_or_default().to_string(),
                self.wrong(),
            ));
        }
        for name in names {
            let value = if key == "chains" {
                // Step names are chosen per chain.
                let known = self.k.values.get("name").cloned().unwrap_or_default();
                let n = 1 + self.below(6);
                self.names.steps = (0..n).filter_map(|_| self.pick(&known)).collect();
                self.value(item, &name)
            } else if item.get("type").and_then(Json::as_str) == Some("string") {
                // A string item is like the other items of its map
                // (`images.*`) more than like what its name holds elsewhere.
                let scope = format!("{key}.*");
                let key = if self.k.values.contains_key(&scope) && self.byte() & 3 != 3 {
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
            // The sections a spec needs are as good as required.
            let essential = if self.depth == 0 {
                ESSENTIAL.contains(&name.as_str())
            } else {
                EXPECTED.contains(&name.as_str())
            };
            let wanted = if essential || required.contains(&name.as_str()) {
                !self.rarely(4)
            } else {
                !deep && self.byte() & 1 == 1
            };
            if !wanted {
                continue;
            }
            let value = self.nested(prop, name);
            let name = if self.rarely(1) {
                misspell(name, self.byte())
            } else {
                name.clone()
            };
            if self.rarely(1) {
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
                let steps = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        // Mostly after an earlier step, so chains are acyclic.
                        let mut step = with_name(self.nested(item, key), n.clone());
                        // A step runs something.
                        if !["agent", "container", "approval", "chain"]
                            .iter()
                            .any(|k| has(&step, k))
                        {
                            let agent = self.pick(&self.names.agents.clone()).unwrap_or_default();
                            set(&mut step, "agent", Yaml::Plain(agent));
                        }
                        if i > 0 && self.byte() & 1 == 1 {
                            let dep = names[self.below(i)].clone();
                            set(&mut step, "after", Yaml::Seq(vec![Yaml::Plain(dep)]));
                        }
                        step
                    })
                    .collect();
                Yaml::Seq(steps)
            }
            "outputs" => {
                let names = self.names.outputs.clone();
                Yaml::Seq(names.into_iter().map(Yaml::Plain).collect())
            }
            _ => {
                let least = usize::from(NONEMPTY.contains(&key));
                let n = if self.depth > 6 {
                    least
                } else {
                    least + self.below(4)
                };
                Yaml::Seq((0..n).map(|_| self.nested(item, key)).collect())
            }
        }
    }

    fn integer(&mut self, schema: &Json) -> Yaml {
        const INTS: &[&str] = &[
            "1",
            "0",
            "2",
            "3",
            "5",
            "10",
            "100",
            "1000",
            "65535",
            "65536",
            "-1",
            "4294967296",
            "0x10",
            "1_000",
            "1e3",
            "007",
        ];
        let max = if schema.get("minimum").is_some() && !self.rarely(8) {
            10
        } else {
            INTS.len()
        };
        Yaml::Plain(INTS[self.below(max)].into())
    }

    fn string(&mut self, key: &str) -> Yaml {
        if let Some(names) = self.referred(key) {
            if !names.is_empty() && !self.rarely(16) {
                let name = self.pick(&names).unwrap_or_default();
                if key == "agent" && self.rarely(32) && !self.names.parameters.is_empty() {
                    let p = self
                        .pick(&self.names.parameters.clone())
                        .unwrap_or_default();
                    return Yaml::Str(format!("${{params.{p}}}"));
                }
                return plain_or_quoted(name, self.byte());
            }
        }
        let known = self.k.values.get(key).cloned().unwrap_or_default();
        match self.byte() {
            0..=199 if !known.is_empty() => {
                let s = self.pick(&known).unwrap_or_default();
                plain_or_quoted(s, self.byte())
            }
            0..=224 => Yaml::Str(self.template()),
            225..=244 => Yaml::Str(self.pick(ODD_STRINGS).unwrap_or_default().into()),
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

    /// A string of literal text and `${…}` references to declared names.
    fn template(&mut self) -> String {
        let mut s = String::new();
        let n = 1 + self.below(3);
        for _ in 0..n {
            match self.below(7) {
                0 => s.push_str(["text ", "-", " == ", " > 0", " && ", "Succeeded"][self.below(6)]),
                1 | 2 => {
                    let p = self
                        .pick(&self.names.parameters.clone())
                        .unwrap_or_else(|| "p".into());
                    let _ = write!(s, "${{params.{p}}}");
                }
                3 | 4 => {
                    let st = self
                        .pick(&self.names.steps.clone())
                        .unwrap_or_else(|| "s".into());
                    let o = self
                        .pick(&self.names.outputs.clone())
                        .unwrap_or_else(|| "o".into());
                    let _ = write!(s, "${{steps.{st}.outputs.{o}}}");
                }
                5 => {
                    let st = self
                        .pick(&self.names.steps.clone())
                        .unwrap_or_else(|| "s".into());
                    let _ = write!(s, "${{steps.{st}.status}}");
                }
                _ => {
                    let w = ["name", "namespace", "status", "uid", "bogus"][self.below(5)];
                    let _ = write!(s, "${{workflow.{w}}}");
                }
            }
        }
        s
    }
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
            s.remove(usize::from(how) % s.len());
        }
        1 => s = s.to_uppercase(),
        2 => s.push('s'),
        _ => s = format!("x-{s}"),
    }
    s
}

/// `item` with its `name` set (a parameter, a step).
fn with_name(mut item: Yaml, name: String) -> Yaml {
    set(&mut item, "name", Yaml::Plain(name));
    item
}

fn has(item: &Yaml, key: &str) -> bool {
    matches!(item, Yaml::Map(entries) if entries.iter().any(|(k, _)| k == key))
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
        && s.lines().all(|l| {
            !l.is_empty() && !l.starts_with([' ', '\t']) && !l.contains(['\r', '\u{feff}'])
        })
}
