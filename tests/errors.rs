//! Bad input: for each diagnostic code, a spec derived from a minimal valid
//! one by a single edit, written into a temporary `pipelines/` directory and
//! compiled with [`orchctl::compile_dir`]. Each test asserts the code, the
//! message, the exact `line:column` and, where it matters, the help.
//!
//! Every compilation goes through [`Outcome::new`], which also checks the
//! property that every located diagnostic points inside one of the files of
//! the run (line ≥ 1, column ≥ 1, within the file's text).

mod common;

use std::path::Path;

use orchctl::diagnostic::Diagnostic;
use orchctl::source::{FileId, slash_path};
use orchctl::{Code, Loaded};

/// The smallest spec that compiles without warnings.
const MINIMAL: &str = r#"project:
  name: demo
  namespace: agents
images:
  agent: ghcr.io/acme/agent:1.0.0
runtime:
  image: agent
  command: [/usr/local/bin/agent-run]
  tiers:
    default:
      requests: { cpu: "1", memory: 2Gi }
      limits: { cpu: "2", memory: 4Gi }
  workspace:
    size: 10Gi
  github:
    app:
      secret: github-app
parameters:
  - name: repository
  - name: taskId
    default: ""
agents:
  author:
    prompt: You write code.
    model: claude-sonnet-4-5
chains:
  delivery:
    steps:
      - name: author
        agent: author
"#;

/// A chain with fan-out and output passing, in `chains.yaml` next to
/// [`dag_platform`].
const DAG: &str = r"chains:
  delivery:
    steps:
      - name: author
        agent: author
      - name: review
        after: [author]
        agent: author
      - name: check
        after: [author]
        container:
          image: tools
          command: [/bin/check]
          env:
            PR: ${steps.author.outputs.pr-url}
";

/// Two chains, one calling the other.
const CALLS: &str = r"chains:
  delivery:
    steps:
      - name: author
        agent: author
      - name: next
        after: [author]
        chain: review
  review:
    steps:
      - name: review
        agent: author
";

/// Replace the one occurrence of `from` in `base`.
fn edit(base: &str, from: &str, to: &str) -> String {
    assert_eq!(
        base.matches(from).count(),
        1,
        "`{from}` must occur exactly once in the base spec"
    );
    base.replacen(from, to, 1)
}

/// [`MINIMAL`] with a `tools` image and an agent output, without its chain.
fn dag_platform() -> String {
    let s = edit(
        MINIMAL,
        "  agent: ghcr.io/acme/agent:1.0.0\n",
        "  agent: ghcr.io/acme/agent:1.0.0\n  tools: ghcr.io/acme/tools:2.0.0\n",
    );
    let s = edit(
        &s,
        "      secret: github-app\n",
        "      secret: github-app\n  outputs: [pr-url]\n",
    );
    s[..s.find("chains:").unwrap()].to_string()
}

/// The fake credentials the secret checks must catch, built at run time so
/// that no scanner mistakes this file for a leak.
fn fake_github_token() -> String {
    format!("ghp_{}{}", "0123456789abcdefghij", "ABCDEFGHIJklmnop")
}

/// The result of compiling one temporary `pipelines/` directory.
struct Outcome {
    /// `short()` of every diagnostic, with the temporary prefix removed, so
    /// paths read `pipelines/platform.yaml`.
    shorts: Vec<String>,
    diags: Vec<Diagnostic>,
    loaded: Loaded,
    prefix: String,
    compiled: bool,
}

impl Outcome {
    fn files(files: &[(&str, &str)]) -> Self {
        Self::with(|dir| {
            for (path, text) in files {
                write(dir, path, text);
            }
        })
    }

    /// Compile a `pipelines/` directory prepared by `setup` (which gets the
    /// directory, created and empty).
    fn with(setup: impl FnOnce(&Path)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pipelines");
        std::fs::create_dir_all(&dir).unwrap();
        setup(&dir);
        Self::new(tmp.path(), &dir)
    }

    fn new(root: &Path, dir: &Path) -> Self {
        let (loaded, result) = orchctl::compile_dir(dir);
        let compiled = result.is_ok();
        let diags = match result {
            Ok(c) => c.warnings.0,
            Err(d) => {
                assert!(d.has_errors(), "Err without an error: {:?}", d.0);
                d.0
            }
        };
        let prefix = format!("{}/", slash_path(root));
        let shorts = diags
            .iter()
            .map(|d| d.short(&loaded.sources).replace(&prefix, ""))
            .collect();
        let outcome = Self {
            shorts,
            diags,
            loaded,
            prefix,
            compiled,
        };
        outcome.check_spans(dir);
        outcome
    }

    /// The property: every span (main and secondary) of every diagnostic is
    /// a real place in one of the files read from `dir`.
    fn check_spans(&self, dir: &Path) {
        let dir_display = format!("{}/", slash_path(dir));
        for d in &self.diags {
            let spans = d.span.iter().chain(d.labels.iter().map(|l| &l.span));
            for span in spans {
                let what = format!("{span:?} of {d:?}");
                assert!(span.line >= 1 && span.col >= 1, "{what}");
                let file = self
                    .loaded
                    .sources
                    .get(span.file)
                    .unwrap_or_else(|| panic!("unknown file in {what}"));
                assert!(
                    file.display.starts_with(&dir_display),
                    "{} is not under {dir_display}: {what}",
                    file.display
                );
                assert!(
                    dir.join(&file.relative).is_file(),
                    "{} is not a file: {what}",
                    file.relative.display()
                );
                let line = self
                    .loaded
                    .sources
                    .line(span.file, span.line)
                    .unwrap_or_else(|| panic!("line {} is past the end: {what}", span.line));
                assert!(
                    span.col <= line.chars().count() + 1,
                    "column past the end of `{line}`: {what}"
                );
            }
        }
    }

    /// Assert the diagnostics are exactly `expected`, in order.
    #[track_caller]
    fn only(&self, expected: &[&str]) -> &Self {
        assert_eq!(self.shorts, expected, "{:#?}", self.diags);
        assert!(!self.compiled || expected.iter().all(|e| !e.contains(" error[")));
        self
    }

    /// Assert the errors (warnings aside) are exactly `expected`, in order.
    #[track_caller]
    fn errors(&self, expected: &[&str]) -> &Self {
        let errors: Vec<&String> = self
            .shorts
            .iter()
            .zip(&self.diags)
            .filter(|(_, d)| d.is_error())
            .map(|(s, _)| s)
            .collect();
        assert_eq!(errors, expected, "{:#?}", self.diags);
        self
    }

    /// The diagnostic whose `short()` is `expected`; panics if absent.
    #[track_caller]
    fn find(&self, expected: &str) -> &Diagnostic {
        let i = self
            .shorts
            .iter()
            .position(|s| s == expected)
            .unwrap_or_else(|| panic!("`{expected}` not among {:#?}", self.shorts));
        &self.diags[i]
    }

    /// Assert `expected` is among the diagnostics and has this help.
    #[track_caller]
    fn has(&self, expected: &str, help: Option<&str>) -> &Self {
        let d = self.find(expected);
        let actual = d.help.as_ref().map(|h| h.replace(&self.prefix, ""));
        if let Some(help) = help {
            assert_eq!(actual.as_deref(), Some(help), "help of `{expected}`");
        }
        self
    }

    /// The rendered (`render(…, false)`) diagnostic at `index`, with the
    /// temporary prefix removed.
    fn rendered(&self, index: usize) -> String {
        self.diags[index]
            .render(&self.loaded.sources, false)
            .replace(&self.prefix, "")
    }

    fn codes(&self) -> Vec<Code> {
        self.diags.iter().map(|d| d.code).collect()
    }
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn one(text: &str) -> Outcome {
    Outcome::files(&[("platform.yaml", text)])
}

fn dag(chains: &str) -> Outcome {
    Outcome::files(&[("platform.yaml", &dag_platform()), ("chains.yaml", chains)])
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::root().join("snapshots/errors"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

// ------------------------------------------------------------ the bases

#[test]
fn the_bases_compile_without_diagnostics() {
    one(MINIMAL).only(&[]);
    dag(DAG).only(&[]);
    Outcome::files(&[("platform.yaml", &dag_platform()), ("chains.yaml", CALLS)])
        .only(&["pipelines/platform.yaml:6:3: warning[E035]: image `tools` is not used"]);
}

// ------------------------------------------------------------ E001 YAML

#[test]
fn e001_bad_indentation() {
    one(&edit(MINIMAL, "  namespace: agents", " namespace: agents")).has(
        "pipelines/platform.yaml:3:2: error[E001]: invalid YAML: while parsing a block mapping, \
         did not find expected key",
        Some(
            "fix the YAML syntax; indentation must use spaces, and a `key: value` needs a space \
             after the colon",
        ),
    );
}

#[test]
fn e001_unclosed_flow_mapping_and_sequence() {
    // In a file of its own, so that the rest of the spec still loads.
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        ("extra.yaml", "agents:\n  reviewer: { prompt: p, model: m\n"),
    ])
    .only(&[
        // At the end of the line where the mapping should have closed.
        "pipelines/extra.yaml:2:34: error[E001]: invalid YAML: while parsing a flow mapping, \
         did not find expected ',' or '}'",
    ]);
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        (
            "extra.yaml",
            "agents:\n  reviewer:\n    prompt: p\n    model: m\n    tools: [github, docs\n",
        ),
    ])
    .only(&[
        "pipelines/extra.yaml:5:25: error[E001]: invalid YAML: while parsing a flow sequence, \
         expected ',' or ']'",
    ]);
}

#[test]
fn e001_tab_indentation() {
    one(&edit(MINIMAL, "  namespace: agents", "\tnamespace: agents")).has(
        "pipelines/platform.yaml:2:9: error[E001]: invalid YAML: while scanning a plain scalar, \
         found a tab",
        None,
    );
}

#[test]
fn e001_two_documents_in_one_file() {
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        ("extra.yaml", "vars: {a: 1}\n---\nvars: {b: 2}\n"),
    ])
    .only(&["pipelines/extra.yaml:2:1: error[E001]: a spec file holds one YAML document"]);
}

#[test]

fn e001_is_not_followed_by_missing_section_errors() {
    one(&edit(MINIMAL, "  namespace: agents", " namespace: agents")).only(&[
        "pipelines/platform.yaml:3:2: error[E001]: invalid YAML: while parsing a block mapping, \
         did not find expected key",
    ]);
}

// ------------------------------------------------------------ E002 unknown field

#[test]
fn e002_unknown_field_with_did_you_mean() {
    one(&edit(MINIMAL, "namespace:", "namespce:")).has(
        "pipelines/platform.yaml:3:3: error[E002]: unknown field `namespce`",
        Some("did you mean `namespace`?"),
    );
}

#[test]
fn e002_unknown_field_in_a_step() {
    dag(&edit(
        DAG,
        "        after: [author]\n        agent",
        "        aftr: [author]\n        agent",
    ))
    .errors(&["pipelines/chains.yaml:7:9: error[E002]: unknown field `aftr`"])
    .has(
        "pipelines/chains.yaml:7:9: error[E002]: unknown field `aftr`",
        Some("did you mean `after`?"),
    );
}

#[test]
fn e002_unknown_field_without_a_close_match_lists_the_fields() {
    one(&edit(
        MINIMAL,
        "    model: claude",
        "    color: red\n    model: claude",
    ))
    .has(
        "pipelines/platform.yaml:25:5: error[E002]: unknown field `color`",
        Some(
            "expected one of `description`, `prompt`, `promptFile`, `template`, `model`, `cli`, \
             `tools`, `gates`, `tier`, `settings`",
        ),
    );
}

#[test]
fn e002_unknown_section() {
    one(&format!("{MINIMAL}concurency: {{}}\n"))
        .only(&["pipelines/platform.yaml:31:1: error[E002]: unknown section `concurency`"])
        .has(
            "pipelines/platform.yaml:31:1: error[E002]: unknown section `concurency`",
            Some("did you mean `concurrency`?"),
        );
    one(&format!("{MINIMAL}triggers: {{}}\n"))
        .only(&["pipelines/platform.yaml:31:1: error[E002]: unknown section `triggers`"]);
}

#[test]

fn e002_in_project_is_not_also_reported_as_a_missing_project() {
    one(&edit(MINIMAL, "namespace:", "namespce:"))
        .only(&["pipelines/platform.yaml:3:3: error[E002]: unknown field `namespce`"]);
}

// ------------------------------------------------------------ E003 wrong type

#[test]
fn e003_wrong_type() {
    one(&edit(
        MINIMAL,
        "    model: claude-sonnet-4-5\n",
        "    model: claude-sonnet-4-5\n    template: maybe\n",
    ))
    .has(
        "pipelines/platform.yaml:26:15: error[E003]: expected `true` or `false`, found string \"maybe\"",
        None,
    );
    one(&edit(
        MINIMAL,
        "[/usr/local/bin/agent-run]",
        "/usr/local/bin/agent-run",
    ))
    .has(
        "pipelines/platform.yaml:8:12: error[E003]: expected a list, found string \
         \"/usr/local/bin/agent-run\"",
        None,
    );
    let chain = edit(
        DAG,
        "      - name: author\n",
        "      - name: author\n        timeout: [1h]\n",
    );
    dag(&chain)
        .errors(&["pipelines/chains.yaml:5:18: error[E003]: expected a string, found a list"]);
}

#[test]

fn e003_e004_in_an_agent_are_not_followed_by_unknown_agent() {
    one(&edit(
        MINIMAL,
        "    model: claude-sonnet-4-5\n",
        "    model: claude-sonnet-4-5\n    template: maybe\n",
    ))
    .only(&[
        "pipelines/platform.yaml:26:15: error[E003]: expected `true` or `false`, found string \"maybe\"",
    ]);
    one(&edit(MINIMAL, "    model: claude-sonnet-4-5\n", ""))
        .only(&["pipelines/platform.yaml:23:3: error[E004]: missing field `model`"]);
}

#[test]

fn e003_in_runtime_is_not_followed_by_missing_runtime() {
    one(&edit(
        MINIMAL,
        "[/usr/local/bin/agent-run]",
        "/usr/local/bin/agent-run",
    ))
    .only(&[
        "pipelines/platform.yaml:8:12: error[E003]: expected a list, found string \
         \"/usr/local/bin/agent-run\"",
    ]);
}

// ------------------------------------------------------------ E004 missing field

#[test]
fn e004_missing_field_points_at_the_mapping_key() {
    one(&edit(MINIMAL, "    model: claude-sonnet-4-5\n", "")).has(
        "pipelines/platform.yaml:23:3: error[E004]: missing field `model`",
        Some("add `model:` here"),
    );
    one(&edit(
        MINIMAL,
        "      secret: github-app\n",
        "      appIdKey: id\n",
    ))
    .has(
        "pipelines/platform.yaml:16:5: error[E004]: missing field `secret`",
        Some("add `secret:` here"),
    );
}

// ------------------------------------------------------------ E005 duplicate key

#[test]
fn e005_duplicate_key_points_at_both() {
    let text = edit(
        MINIMAL,
        "    model: claude-sonnet-4-5\n",
        "    model: claude-sonnet-4-5\n    model: gpt-5-codex\n",
    );
    let out = one(&text);
    out.has(
        "pipelines/platform.yaml:26:5: error[E005]: duplicate key `model`",
        Some("remove one of the two entries"),
    );
    let d = out.find("pipelines/platform.yaml:26:5: error[E005]: duplicate key `model`");
    assert_eq!(d.label.as_deref(), Some("defined again here"));
    assert_eq!(d.labels.len(), 1);
    let first = &d.labels[0];
    assert_eq!(first.message, "first defined here");
    assert_eq!(
        (first.span.file, first.span.line, first.span.col),
        (d.span.unwrap().file, 25, 5)
    );
}

#[test]
fn e005_in_a_file_of_its_own_is_the_only_error() {
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        (
            "extra.yaml",
            "agents:\n  reviewer:\n    prompt: p\n    model: m\n    model: n\n",
        ),
    ])
    .only(&["pipelines/extra.yaml:5:5: error[E005]: duplicate key `model`"]);
}

// ------------------------------------------------------------ E006 defined twice

#[test]
fn e006_same_agent_in_two_files() {
    let out = Outcome::files(&[
        ("platform.yaml", MINIMAL),
        (
            "more/agents.yaml",
            "agents:\n  author:\n    prompt: Again.\n    model: gpt-5-codex\n",
        ),
    ]);
    // Files load in path order: `more/agents.yaml` first.
    let short = "pipelines/platform.yaml:23:3: error[E006]: `agents.author` is defined twice";
    out.only(&[short]).has(
        short,
        Some("each name is defined once across all files under pipelines/; remove or rename one"),
    );
    let d = out.find(short);
    let first = &d.labels[0];
    assert_eq!(first.message, "first defined here");
    assert_eq!(
        out.loaded
            .sources
            .path(first.span.file)
            .replace(&out.prefix, ""),
        "pipelines/more/agents.yaml"
    );
    assert_eq!((first.span.line, first.span.col), (2, 3));
}

#[test]
fn e006_same_parameter_in_two_files() {
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        ("z.yaml", "parameters:\n  - name: taskId\n"),
    ])
    .only(&["pipelines/z.yaml:2:11: error[E006]: parameter `taskId` is defined twice"]);
}

#[test]
fn e006_project_in_two_files() {
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        ("z.yaml", "project:\n  name: other\n  namespace: other\n"),
    ])
    .only(&["pipelines/z.yaml:1:1: error[E006]: `project` is defined twice"]);
}

// ------------------------------------------------------------ E007 missing section

#[test]
fn e007_missing_project_or_runtime() {
    one(&edit(
        MINIMAL,
        "project:\n  name: demo\n  namespace: agents\n",
        "",
    ))
    .only(&["error[E007]: no file under pipelines/ declares `project`"])
    .has(
        "error[E007]: no file under pipelines/ declares `project`",
        Some("add `project: { name: …, namespace: … }` to one spec file"),
    );
    let start = MINIMAL.find("runtime:").unwrap();
    let end = MINIMAL.find("parameters:").unwrap();
    let without_runtime = format!("{}{}", &MINIMAL[..start], &MINIMAL[end..]);
    one(&without_runtime).has(
        "error[E007]: no file under pipelines/ declares `runtime`",
        Some("add a `runtime:` section (image, command, tiers, github) to one spec file"),
    );
}

// ------------------------------------------------------------ E008 names

#[test]
fn e008_uppercase_agent_name() {
    let text = edit(MINIMAL, "  author:\n    prompt", "  Author:\n    prompt");
    one(&edit(&text, "agent: author", "agent: Author"))
        .only(&[
            "pipelines/platform.yaml:23:3: error[E008]: agent name `Author` is not a valid \
             Kubernetes name",
        ])
        .has(
            "pipelines/platform.yaml:23:3: error[E008]: agent name `Author` is not a valid \
             Kubernetes name",
            Some(
                "use at most 63 lowercase letters, digits and `-`, starting and ending with a \
                 letter or digit",
            ),
        );
}

#[test]
fn e008_chain_name_over_63_characters() {
    let long = "d".repeat(64);
    one(&edit(MINIMAL, "  delivery:", &format!("  {long}:"))).only(&[&format!(
        "pipelines/platform.yaml:27:3: error[E008]: chain name `{long}` is not a valid \
         Kubernetes name"
    )]);
    // 63 is the limit, and allowed.
    one(&edit(
        MINIMAL,
        "  delivery:",
        &format!("  {}:", "d".repeat(63)),
    ))
    .only(&[]);
}

#[test]
fn e008_step_name_with_underscore() {
    one(&edit(MINIMAL, "- name: author", "- name: write_code")).only(&[
        "pipelines/platform.yaml:29:15: error[E008]: step name `write_code` is not a valid \
         Kubernetes name",
    ]);
}

// ------------------------------------------------------------ E009–E012 references

#[test]
fn e009_unknown_image() {
    dag(&edit(DAG, "image: tools", "image: tols")).has(
        "pipelines/chains.yaml:12:18: error[E009]: unknown image `tols`",
        Some("did you mean `tools`?"),
    );
}

#[test]
fn e010_unknown_agent_with_did_you_mean() {
    one(&edit(MINIMAL, "agent: author", "agent: autor"))
        .only(&["pipelines/platform.yaml:30:16: error[E010]: unknown agent `autor`"])
        .has(
            "pipelines/platform.yaml:30:16: error[E010]: unknown agent `autor`",
            Some("did you mean `author`?"),
        );
}

#[test]
fn e011_unknown_chain() {
    let out = Outcome::files(&[
        ("platform.yaml", &dag_platform()),
        (
            "chains.yaml",
            &edit(CALLS, "chain: review", "chain: publish"),
        ),
    ]);
    out.has(
        "pipelines/chains.yaml:8:16: error[E011]: unknown chain `publish`",
        Some("declared chains: `delivery`, `review`"),
    );
    assert_eq!(out.codes(), [Code::UnknownChain, Code::Unused]);
    Outcome::files(&[
        ("platform.yaml", &dag_platform()),
        (
            "chains.yaml",
            &edit(CALLS, "chain: review", "chain: reviews"),
        ),
    ])
    .has(
        "pipelines/chains.yaml:8:16: error[E011]: unknown chain `reviews`",
        Some("did you mean `review`?"),
    );
}

#[test]

fn e011_is_not_reported_for_a_chain_that_failed_to_load() {
    let calls = edit(
        CALLS,
        "      - name: review\n",
        "      - name: review\n        afterr: []\n",
    );
    Outcome::files(&[("platform.yaml", &dag_platform()), ("chains.yaml", &calls)])
        .only(&["pipelines/chains.yaml:12:9: error[E002]: unknown field `afterr`"]);
}

#[test]
fn e012_unknown_step_in_after() {
    dag(&edit(
        DAG,
        "        after: [author]\n        agent",
        "        after: [autor]\n        agent",
    ))
    .only(&["pipelines/chains.yaml:7:17: error[E012]: unknown step `autor` in chain `delivery`"])
    .has(
        "pipelines/chains.yaml:7:17: error[E012]: unknown step `autor` in chain `delivery`",
        Some("did you mean `author`?"),
    );
}

// ------------------------------------------------------------ E013 cycles

#[test]
fn e013_step_cycle_is_named_in_run_order() {
    let two = edit(
        DAG,
        "      - name: author\n",
        "      - name: author\n        after: [review]\n",
    );
    dag(&two).has(
        "pipelines/chains.yaml:5:17: error[E013]: steps of chain `delivery` form a cycle: \
         author → review → author",
        Some("a step cannot wait, directly or indirectly, for itself: remove one `after` entry"),
    );
    // author → review → check → author: author waits for check, which waits
    // for review, which waits for author.
    let three = edit(
        DAG,
        "      - name: author\n",
        "      - name: author\n        after: [check]\n",
    );
    let three = edit(
        &three,
        "      - name: check\n        after: [author]",
        "      - name: check\n        after: [review]",
    );
    dag(&three).has(
        "pipelines/chains.yaml:5:17: error[E013]: steps of chain `delivery` form a cycle: \
         author → review → check → author",
        None,
    );
}

#[test]

fn e013_step_cycle_is_the_only_error() {
    let two = edit(
        DAG,
        "      - name: author\n",
        "      - name: author\n        after: [review]\n",
    );
    dag(&two).only(&[
        "pipelines/chains.yaml:5:17: error[E013]: steps of chain `delivery` form a cycle: \
         author → review → author",
    ]);
}

#[test]
fn e013_step_waiting_for_itself() {
    dag(&edit(
        DAG,
        "        after: [author]\n        agent",
        "        after: [review]\n        agent",
    ))
    .only(&["pipelines/chains.yaml:7:17: error[E013]: step `review` waits for itself"]);
}

#[test]
fn e013_chain_call_cycle() {
    let calls = edit(
        CALLS,
        "      - name: review\n        agent: author\n",
        "      - name: review\n        chain: delivery\n",
    );
    Outcome::files(&[("platform.yaml", &dag_platform()), ("chains.yaml", &calls)]).only(&[
        "pipelines/chains.yaml:8:16: error[E013]: chains call each other in a cycle: \
         delivery → review → delivery",
        "pipelines/platform.yaml:6:3: warning[E035]: image `tools` is not used",
    ]);
    // A chain calling itself.
    Outcome::files(&[
        ("platform.yaml", &dag_platform()),
        (
            "chains.yaml",
            &edit(CALLS, "chain: review", "chain: delivery"),
        ),
    ])
    .has(
        "pipelines/chains.yaml:8:16: error[E013]: chains call each other in a cycle: \
         delivery → delivery",
        Some("a chain cannot run itself, directly or through other chains"),
    );
}

// ------------------------------------------------------------ E014 step kind

#[test]
fn e014_step_with_two_kinds_or_none() {
    dag(&edit(
        DAG,
        "        after: [author]\n        agent: author\n",
        "        after: [author]\n        agent: author\n        approval: {}\n",
    ))
    .only(&[
        "pipelines/chains.yaml:9:9: error[E014]: step `review` has both `agent` and `approval`",
    ])
    .has(
        "pipelines/chains.yaml:9:9: error[E014]: step `review` has both `agent` and `approval`",
        Some("a step has exactly one of `agent`, `container`, `approval` or `chain`"),
    );
    dag(&edit(
        DAG,
        "        after: [author]\n        agent: author\n",
        "        after: [author]\n",
    ))
    .only(&["pipelines/chains.yaml:6:15: error[E014]: step `review` does nothing"]);
}

// ------------------------------------------------------------ E015–E017 expressions

#[test]
fn e015_unknown_parameter() {
    dag(&format!("{DAG}            REPO: ${{params.Repository}}\n"))
        .only(&["pipelines/chains.yaml:16:19: error[E015]: unknown parameter `Repository`"])
        .has(
            "pipelines/chains.yaml:16:19: error[E015]: unknown parameter `Repository`",
            Some("did you mean `repository`?"),
        );
    // In a step's `with`, and as the key of a mutex.
    one(&format!(
        "{MINIMAL}        with:\n          taskId: ${{params.task}}\n"
    ))
    .has(
        "pipelines/platform.yaml:32:19: error[E015]: unknown parameter `task`",
        Some("did you mean `taskId`?"),
    );
    one(&format!(
        "{MINIMAL}concurrency:\n  mutexes:\n    task:\n      per: taskid\n"
    ))
    .only(&["pipelines/platform.yaml:34:12: error[E015]: unknown parameter `taskid`"]);
}

#[test]
fn e016_output_of_a_step_that_does_not_run_before() {
    dag(&edit(
        DAG,
        "      - name: check\n        after: [author]\n",
        "      - name: check\n",
    ))
    .only(&["pipelines/chains.yaml:14:17: error[E016]: step `author` does not run before this one"])
    .has(
        "pipelines/chains.yaml:14:17: error[E016]: step `author` does not run before this one",
        Some("add `author` to this step's `after` (directly or through another step)"),
    );
    // Through another step is enough.
    dag(&edit(
        DAG,
        "      - name: check\n        after: [author]\n",
        "      - name: check\n        after: [review]\n",
    ))
    .only(&[]);
}

#[test]
fn e016_unknown_output_name() {
    dag(&edit(DAG, "outputs.pr-url}", "outputs.pr-ur1}"))
        .only(&["pipelines/chains.yaml:15:17: error[E016]: step `author` has no output `pr-ur1`"])
        .has(
            "pipelines/chains.yaml:15:17: error[E016]: step `author` has no output `pr-ur1`",
            Some("did you mean `pr-url`?"),
        );
}

#[test]
fn e017_argo_braces_in_a_spec_string() {
    // The caret lands on the `{{`, inside the quotes.
    dag(&format!(
        "{DAG}            NAME: \"run-{{{{workflow.name}}}}\"\n"
    ))
    .only(&[
        "pipelines/chains.yaml:16:24: error[E017]: `{{` is Argo's template syntax and is not \
             allowed in a spec",
    ])
    .has(
        "pipelines/chains.yaml:16:24: error[E017]: `{{` is Argo's template syntax and is not \
             allowed in a spec",
        Some(
            "use `${params.NAME}`, `${steps.STEP.outputs.NAME}`, `${steps.STEP.status}` or \
                 `${workflow.name}`; orchctl writes the Argo form",
        ),
    );
}

#[test]
fn e017_unknown_reference_form() {
    dag(&edit(
        DAG,
        "        after: [author]\n        agent",
        "        after: [author]\n        when: \"${step.author.status} == Succeeded\"\n        agent",
    ))
    .only(&[
        "pipelines/chains.yaml:8:16: error[E017]: unknown reference `${step.author.status}`",
    ]);
}

// ------------------------------------------------------------ E018 locks

#[test]
fn e018_unknown_semaphore() {
    let text = edit(
        MINIMAL,
        "    steps:\n",
        "    concurrency: [per-repo]\n    steps:\n",
    );
    one(&text).only(&[
        "pipelines/platform.yaml:28:19: error[E018]: unknown semaphore or mutex `per-repo`",
    ]);
    let declared = format!(
        "{text}concurrency:\n  semaphores:\n    per-org:\n      limit: 2\n  mutexes:\n    task:\n      per: taskId\n"
    );
    one(&declared).has(
        "pipelines/platform.yaml:28:19: error[E018]: unknown semaphore or mutex `per-repo`",
        Some("declared semaphore or mutexes: `per-org`, `task`"),
    );
}

#[test]

fn e018_help_spells_mutex() {
    let text = edit(
        MINIMAL,
        "    steps:\n",
        "    concurrency: [per-repo]\n    steps:\n",
    );
    one(&text).has(
        "pipelines/platform.yaml:28:19: error[E018]: unknown semaphore or mutex `per-repo`",
        Some("no semaphore or mutex is declared"),
    );
}

// ------------------------------------------------------------ E019–E021 prompts

#[test]
fn e019_prompt_file_missing() {
    one(&edit(
        MINIMAL,
        "prompt: You write code.",
        "promptFile: prompts/author.md",
    ))
    .only(&[
        "pipelines/platform.yaml:24:17: error[E019]: prompt file `prompts/author.md` not found",
    ]);
}

#[test]
fn e019_prompt_file_a_directory_or_empty() {
    let spec = |path: &str| {
        edit(
            MINIMAL,
            "prompt: You write code.",
            &format!("promptFile: {path}"),
        )
    };
    let with_prompts_dir = |path: &str| {
        let spec = spec(path);
        Outcome::with(move |dir| {
            write(dir, "platform.yaml", &spec);
            std::fs::create_dir_all(dir.join("prompts")).unwrap();
        })
    };
    with_prompts_dir("prompts")
        .only(&["pipelines/platform.yaml:24:17: error[E019]: prompt file `prompts` is a directory"])
        .has(
            "pipelines/platform.yaml:24:17: error[E019]: prompt file `prompts` is a directory",
            Some("name a file in it, e.g. `prompts/author.md`"),
        );
    with_prompts_dir("prompts/").only(&[
        "pipelines/platform.yaml:24:17: error[E019]: prompt file `prompts/` is a directory",
    ]);
    one(&spec("\"\""))
        .only(&["pipelines/platform.yaml:24:17: error[E019]: prompt file path is empty"])
        .has(
            "pipelines/platform.yaml:24:17: error[E019]: prompt file path is empty",
            Some(
                "name a file relative to the spec file, e.g. `prompts/author.md`, or write the \
                 prompt inline with `prompt:`",
            ),
        );
}

#[cfg(unix)]
#[test]
fn e019_prompt_file_a_pipe() {
    let spec = edit(MINIMAL, "prompt: You write code.", "promptFile: author.md");
    Outcome::with(|dir| {
        write(dir, "platform.yaml", &spec);
        let fifo =
            std::ffi::CString::new(dir.join("author.md").into_os_string().into_encoded_bytes())
                .unwrap();
        // SAFETY: a NUL-terminated path, a plain mode.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    })
    .only(&[
        "pipelines/platform.yaml:24:17: error[E019]: prompt file `author.md` is not a regular file",
    ]);
}

#[test]
fn e020_prompt_path_escaping_pipelines() {
    let help = "keep prompt files under pipelines/ and name them relative to the spec file, \
                e.g. `prompts/author.md`";
    one(&edit(
        MINIMAL,
        "prompt: You write code.",
        "promptFile: ../../etc/passwd",
    ))
    .only(&[
        "pipelines/platform.yaml:24:17: error[E020]: prompt file `../../etc/passwd` is \
             outside the pipelines directory",
    ])
    .has(
        "pipelines/platform.yaml:24:17: error[E020]: prompt file `../../etc/passwd` is \
             outside the pipelines directory",
        Some(help),
    );
    one(&edit(
        MINIMAL,
        "prompt: You write code.",
        "promptFile: /etc/passwd",
    ))
    .only(&[
        "pipelines/platform.yaml:24:17: error[E020]: prompt file `/etc/passwd` is outside the \
         pipelines directory",
    ]);
    // Up and back in again is fine.
    Outcome::files(&[
        (
            "platform.yaml",
            &edit(
                MINIMAL,
                "prompt: You write code.",
                "promptFile: ../pipelines/author.md",
            ),
        ),
        ("author.md", "You write code.\n"),
    ])
    .only(&[]);
}

#[cfg(unix)]
#[test]
fn e020_prompt_symlink_pointing_outside() {
    let spec = edit(
        MINIMAL,
        "prompt: You write code.",
        "promptFile: prompts/author.md",
    );
    let out = Outcome::with(|dir| {
        write(dir, "platform.yaml", &spec);
        let outside = dir.parent().unwrap().join("outside.md");
        std::fs::write(&outside, "Secret instructions.\n").unwrap();
        std::fs::create_dir_all(dir.join("prompts")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("prompts/author.md")).unwrap();
    });
    out.only(&[
        "pipelines/platform.yaml:24:17: error[E020]: prompt file `prompts/author.md` is \
         outside the pipelines directory",
    ]);
    // A link that stays inside is followed.
    Outcome::with(|dir| {
        write(dir, "platform.yaml", &spec);
        write(dir, "shared/author.md", "You write code.\n");
        std::fs::create_dir_all(dir.join("prompts")).unwrap();
        std::os::unix::fs::symlink("../shared/author.md", dir.join("prompts/author.md")).unwrap();
    })
    .only(&[]);
}

#[cfg(unix)]
#[test]
fn e020_prompt_directory_symlink_pointing_outside() {
    let naming = |file: &str| {
        edit(
            MINIMAL,
            "prompt: You write code.",
            &format!("promptFile: {file}"),
        )
    };
    let spec = naming("prompts/author.md");
    // The file is plain; the directory it is in leads out.
    Outcome::with(|dir| {
        write(dir, "platform.yaml", &spec);
        let outside = dir.parent().unwrap().join("outside-prompts");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("author.md"), "Secret instructions.\n").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("prompts")).unwrap();
    })
    .only(&[
        "pipelines/platform.yaml:24:17: error[E020]: prompt file `prompts/author.md` is \
         outside the pipelines directory",
    ]);
    // Named with a trailing `/` or `/.`, that directory still leads out (and
    // is not a file).
    for name in ["prompts/", "prompts/."] {
        Outcome::with(|dir| {
            write(dir, "platform.yaml", &naming(name));
            let outside = dir.parent().unwrap().join("outside-dir");
            std::fs::create_dir_all(&outside).unwrap();
            std::os::unix::fs::symlink(&outside, dir.join("prompts")).unwrap();
        })
        .only(&[&format!(
            "pipelines/platform.yaml:24:17: error[E020]: prompt file `{name}` is outside the \
             pipelines directory"
        )]);
    }
    // A directory link that stays inside is followed.
    Outcome::with(|dir| {
        write(dir, "platform.yaml", &spec);
        write(dir, "shared/author.md", "You write code.\n");
        std::os::unix::fs::symlink("shared", dir.join("prompts")).unwrap();
    })
    .only(&[]);
    // A directory reached through `..` from a linked directory is where the
    // link leads, not where the path seems to go.
    Outcome::with(|dir| {
        write(dir, "platform.yaml", &naming("linked/../author.md"));
        write(dir, "author.md", "You write code.\n");
        let outside = dir.parent().unwrap().join("outside-deep/inner");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.parent().unwrap().join("author.md"), "Secret.\n").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("linked")).unwrap();
    })
    .only(&[
        "pipelines/platform.yaml:24:17: error[E020]: prompt file `linked/../author.md` is \
         outside the pipelines directory",
    ]);
}

#[test]
fn e021_prompt_template_error_inline() {
    let text = edit(
        MINIMAL,
        "prompt: You write code.",
        "prompt: \"You are {{ agent.nme }}.\"\n    template: true",
    );
    let out = one(&text);
    assert_eq!(out.codes(), [Code::PromptTemplate]);
    assert!(
        out.shorts[0].starts_with(
            "pipelines/platform.yaml:24:13: error[E021]: prompt template of `author` does not \
             render: undefined value"
        ),
        "{}",
        out.shorts[0]
    );
    assert_eq!(
        out.diags[0].help.as_deref(),
        Some(
            "prompt templates see `project`, `agent`, `agents` and `vars`; write \
             `{% raw %}…{% endraw %}` around literal `{{`"
        )
    );
}

/// The minimal spec with `author`'s prompt in `prompts/author.md`, templated.
fn templated_prompt_file(prompt: &str) -> Outcome {
    Outcome::files(&[
        (
            "platform.yaml",
            &edit(
                MINIMAL,
                "prompt: You write code.",
                "promptFile: prompts/author.md\n    template: true",
            ),
        ),
        ("prompts/author.md", prompt),
    ])
}

#[test]
fn e021_prompt_template_error_in_a_file_points_at_its_line() {
    let out = templated_prompt_file("# Author\n\nYou are {{ agent.name }}.\n{% if %}\n");
    assert_eq!(out.codes(), [Code::PromptTemplate]);
    assert!(
        out.shorts[0].starts_with(
            "pipelines/prompts/author.md:4:1: error[E021]: prompt template of `author` does not \
             render: syntax error"
        ),
        "{}",
        out.shorts[0]
    );
}

#[test]
fn e032_prompt_template_that_writes_too_much_stops_at_1_mib() {
    // 20 × 100 kB: the template stops rendering at 1 MiB, so the error names
    // the prompt, not the ConfigMap it would have overfilled.
    let out = templated_prompt_file(
        "# Author\n{% for i in range(20) %}{{ \"x\" * 100000 }}{% endfor %}\n",
    );
    let short = "pipelines/prompts/author.md:1:1: error[E032]: prompt template of `author` renders \
                 to more than 1 MiB (1048576 bytes), more than its ConfigMap can hold";
    out.only(&[short]).has(
        short,
        Some(
            "bound the loop or repetition (`*`) that writes this much: the prompts share one \
             ConfigMap, and Kubernetes refuses ConfigMaps over 1 MiB",
        ),
    );
    // Inline, the error points at the prompt. (The loop writes 10 MB; one
    // that writes 10 GB stops as soon, but would exhaust the machine's
    // memory were the limit ever lost.)
    let text = edit(
        MINIMAL,
        "prompt: You write code.",
        "prompt: \"{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}\"\n    template: true",
    );
    one(&text).only(&[
        "pipelines/platform.yaml:24:13: error[E032]: prompt template of `author` renders to more \
         than 1 MiB (1048576 bytes), more than its ConfigMap can hold",
    ]);
}

#[test]
fn e032_prompt_templates_share_one_config_map() {
    // 600 kB each: the first fits, the second only in part.
    let prompt = "\"{% for i in range(6) %}{{ 'x' * 100000 }}{% endfor %}\"\n    template: true";
    let text = edit(
        MINIMAL,
        "  author:\n    prompt: You write code.",
        &format!(
            "  author:\n    prompt: {prompt}\n    model: m\n  reviewer:\n    prompt: {prompt}"
        ),
    );
    let out = one(&text);
    out.only(&[&format!(
        "pipelines/platform.yaml:{}:13: error[E032]: prompt template of `reviewer` renders past \
         1 MiB (1048576 bytes) with the 600000 bytes the templates before it wrote, more than \
         their ConfigMap can hold",
        text.lines().position(|l| l == "  reviewer:").unwrap() + 2
    )]);
}

#[test]

fn e021_message_has_no_internal_location() {
    let text = edit(
        MINIMAL,
        "prompt: You write code.",
        "prompt: \"You are {{ agent.nme }}.\"\n    template: true",
    );
    let out = one(&text);
    assert!(!out.shorts[0].contains("<string>"), "{}", out.shorts[0]);
    assert!(out.shorts[0].contains("nme"), "{}", out.shorts[0]);
}

// ------------------------------------------------------------ E022 secrets

#[test]
fn e022_token_literal_in_the_spec() {
    let token = fake_github_token();
    assert_eq!(token.len(), 40, "ghp_ and 36 characters");
    let text = edit(
        MINIMAL,
        "      secret: github-app\n",
        &format!("      secret: github-app\n  env:\n    GH_TOKEN: {token}\n"),
    );
    let out = one(&text);
    let short = "pipelines/platform.yaml:19:15: error[E022]: this looks like a GitHub personal \
                 access token";
    out.only(&[short]).has(
        short,
        Some(
            "never put secret values in pipelines/: store them in a Kubernetes Secret (e.g. via \
             External Secrets) and reference it with `secret:` / `key:`",
        ),
    );
    assert_eq!(
        out.find(short).label.as_deref(),
        Some("secret value in the spec")
    );
}

#[test]
fn e022_private_key_literal() {
    let text = edit(
        MINIMAL,
        "prompt: You write code.",
        "prompt: |\n      -----BEGIN RSA PRIVATE KEY-----\n      MIIEowIBAAKCAQEA\n      -----END RSA PRIVATE KEY-----",
    );
    one(&text).only(&["pipelines/platform.yaml:25:7: error[E022]: this looks like a private key"]);
    // In a prompt file, the line that holds it.
    Outcome::files(&[
        (
            "platform.yaml",
            &edit(
                MINIMAL,
                "prompt: You write code.",
                "promptFile: prompts/author.md",
            ),
        ),
        (
            "prompts/author.md",
            &format!("# Author\n\nUse {} to push.\n", fake_github_token()),
        ),
    ])
    .only(&[
        "pipelines/prompts/author.md:3:1: error[E022]: this looks like a GitHub personal access \
         token",
    ]);
}

#[test]

fn e022_in_a_block_scalar_points_at_its_line() {
    let text = edit(
        MINIMAL,
        "prompt: You write code.",
        "prompt: |\n      You write code.\n      -----BEGIN RSA PRIVATE KEY-----\n      MIIEowIBAAKCAQEA",
    );
    one(&text).only(&["pipelines/platform.yaml:26:7: error[E022]: this looks like a private key"]);
}

// ------------------------------------------------------------ E023–E028 values

#[test]
fn e023_bad_duration() {
    let out = one(&format!("{MINIMAL}        timeout: 5x\n"));
    out.only(&["pipelines/platform.yaml:31:18: error[E023]: invalid duration `5x`"])
        .has(
            "pipelines/platform.yaml:31:18: error[E023]: invalid duration `5x`",
            Some("write a number of seconds or a duration like `90s`, `15m`, `2h`, `1d`, `1h30m`"),
        );
    one(&edit(
        MINIMAL,
        "    steps:\n",
        "    deadline: 1h30\n    steps:\n",
    ))
    .only(&["pipelines/platform.yaml:28:15: error[E023]: invalid duration `1h30`"]);
}

#[test]
fn e024_parameter_default_of_the_wrong_type() {
    one(&edit(
        MINIMAL,
        "    default: \"\"\n",
        "    type: boolean\n    default: maybe\n",
    ))
    .only(&["pipelines/platform.yaml:22:14: error[E024]: default `maybe` is not a boolean"])
    .has(
        "pipelines/platform.yaml:22:14: error[E024]: default `maybe` is not a boolean",
        Some("give a boolean default or change `type`"),
    );
    // Located at the default, whatever the wording for integers.
    let out = one(&edit(
        MINIMAL,
        "    default: \"\"\n",
        "    type: integer\n    default: many\n",
    ));
    assert_eq!(out.codes(), [Code::ParameterType]);
    assert!(
        out.shorts[0]
            .starts_with("pipelines/platform.yaml:22:14: error[E024]: default `many` is not a"),
        "{}",
        out.shorts[0]
    );
}

#[test]

fn e024_integer_messages_use_an() {
    one(&edit(
        MINIMAL,
        "    default: \"\"\n",
        "    type: integer\n    default: many\n",
    ))
    .only(&["pipelines/platform.yaml:22:14: error[E024]: default `many` is not an integer"])
    .has(
        "pipelines/platform.yaml:22:14: error[E024]: default `many` is not an integer",
        Some("give an integer default or change `type`"),
    );
}

#[test]
fn e025_unknown_tier() {
    let text = edit(
        MINIMAL,
        "  workspace:\n",
        "    high:\n      requests: { cpu: \"2\", memory: 4Gi }\n      limits: { cpu: \"4\", memory: 8Gi }\n  workspace:\n",
    );
    let text = edit(
        &text,
        "    model: claude-sonnet-4-5\n",
        "    model: claude-sonnet-4-5\n    tier: hihg\n",
    );
    one(&text).only(&["pipelines/platform.yaml:29:11: error[E025]: unknown tier `hihg`"]);
    let text = text.replace("tier: hihg", "tier: hight");
    one(&text).has(
        "pipelines/platform.yaml:29:11: error[E025]: unknown tier `hight`",
        Some("did you mean `high`?"),
    );
    // A container step's tier.
    dag(&edit(
        DAG,
        "          command:",
        "          tier: large\n          command:",
    ))
    .has(
        "pipelines/chains.yaml:13:17: error[E025]: unknown tier `large`",
        Some("declared tiers: `default`"),
    );
}

#[test]
fn e026_invalid_image_reference() {
    one(&edit(
        MINIMAL,
        "ghcr.io/acme/agent:1.0.0",
        "ghcr.io/acme/agent",
    ))
    .only(&[
        "pipelines/platform.yaml:5:10: error[E026]: invalid image reference `ghcr.io/acme/agent`",
    ])
    .has(
        "pipelines/platform.yaml:5:10: error[E026]: invalid image reference `ghcr.io/acme/agent`",
        Some("pin the image with a tag or a digest (`name:tag`, `name@sha256:…`)"),
    );
    one(&edit(MINIMAL, "ghcr.io/acme/agent:1.0.0", "ghcr.io/Acme/agent:1.0.0")).has(
        "pipelines/platform.yaml:5:10: error[E026]: invalid image reference `ghcr.io/Acme/agent:1.0.0`",
        Some("an image name is lowercase path components (`registry/org/name`)"),
    );
    // `latest` is only a warning.
    one(&edit(
        MINIMAL,
        "ghcr.io/acme/agent:1.0.0",
        "ghcr.io/acme/agent:latest",
    ))
    .only(&["pipelines/platform.yaml:5:10: warning[E026]: image `agent` uses the `latest` tag"]);
}

#[test]
fn e027_reserved_parameter_name() {
    one(&edit(
        MINIMAL,
        "  - name: repository\n",
        "  - name: repository\n  - name: step\n    default: x\n",
    ))
    .only(&[
        "pipelines/platform.yaml:20:11: error[E027]: `step` is set by orchctl on every agent step",
    ])
    .has(
        "pipelines/platform.yaml:20:11: error[E027]: `step` is set by orchctl on every agent step",
        Some("choose another parameter name"),
    );
}

#[test]
fn e028_invalid_label_key_and_value() {
    one(&edit(
        MINIMAL,
        "  namespace: agents\n",
        "  namespace: agents\n  labels:\n    team/: platform\n    repo: 5dlabs/cto\n",
    ))
    .only(&[
        "pipelines/platform.yaml:5:5: error[E028]: `team/` is not a valid label key",
        "pipelines/platform.yaml:6:11: error[E028]: `5dlabs/cto` is not a valid label value",
    ])
    .has(
        "pipelines/platform.yaml:6:11: error[E028]: `5dlabs/cto` is not a valid label value",
        Some(
            "a label value is up to 63 of `[A-Za-z0-9._-]`, starting and ending alphanumeric \
             (`org/repo` is not; use an annotation)",
        ),
    );
}

// ------------------------------------------------------------ all errors at once

#[test]
fn all_errors_of_a_run_are_reported_together_sorted_by_file_and_line() {
    let out = Outcome::files(&[
        // Written in reverse order of how they sort.
        ("z.yaml", "parameters:\n  - name: retries\n"),
        (
            "platform.yaml",
            &format!(
                "{}        timeout: 5x\n",
                edit(MINIMAL, "agent: author", "agent: autor")
            ),
        ),
        (
            "agents.yaml",
            "agents:\n  reviewer:\n    prompt: Review.\n    model: gpt-5-codex\n    tier: hight\n",
        ),
    ]);
    out.only(&[
        "pipelines/agents.yaml:5:11: error[E025]: unknown tier `hight`",
        "pipelines/platform.yaml:30:16: error[E010]: unknown agent `autor`",
        "pipelines/platform.yaml:31:18: error[E023]: invalid duration `5x`",
        "pipelines/z.yaml:2:11: error[E027]: `retries` is set by orchctl on every agent step",
    ]);
}

#[test]
fn load_and_resolve_errors_of_different_files_are_reported_together() {
    // A deserialization error in one file does not hide a semantic error
    // in another.
    Outcome::files(&[
        (
            "platform.yaml",
            &edit(MINIMAL, "agent: author", "agent: autor"),
        ),
        (
            "extra.yaml",
            "agents:\n  reviewer:\n    prompt: p\n    modle: m\n",
        ),
    ])
    .only(&[
        "pipelines/extra.yaml:4:5: error[E002]: unknown field `modle`",
        "pipelines/platform.yaml:30:16: error[E010]: unknown agent `autor`",
    ]);
}

#[test]
fn a_file_that_cannot_be_read_does_not_move_the_errors_of_later_files() {
    // Files are read and parsed in parallel under the id they would have if
    // every read succeeded; after an unreadable file, later files are parsed
    // again under their real id, so their errors still point at them.
    Outcome::with(|dir| {
        std::fs::write(dir.join("0-binary.yaml"), b"\xff\xfe agents: {}\n").unwrap();
        write(
            dir,
            "platform.yaml",
            &edit(MINIMAL, "agent: author", "agent: autor"),
        );
        write(
            dir,
            "extra.yaml",
            "agents:\n  reviewer:\n    prompt: p\n    modle: m\n",
        );
        write(dir, "z.yaml", "vars:\n  x: [1\n");
    })
    .only(&[
        "pipelines/extra.yaml:4:5: error[E002]: unknown field `modle`",
        "pipelines/platform.yaml:30:16: error[E010]: unknown agent `autor`",
        "pipelines/z.yaml:2:8: error[E001]: invalid YAML: while parsing a flow sequence, expected ',' or ']'",
        "error[E029]: cannot read `pipelines/0-binary.yaml`: not UTF-8 text (line 1, column 1)",
    ]);
}

/// Input that is not YAML text, or YAML the spec never uses: each error
/// says what is wrong and where, with a hint that fits.
#[test]
fn odd_input_is_located_with_a_fitting_hint() {
    let out = Outcome::with(|dir| {
        std::fs::write(dir.join("a.yaml"), b"vars:\n  a: caf\xc3\xa9 \xff\n").unwrap();
    });
    out.only(&["error[E029]: cannot read `pipelines/a.yaml`: not UTF-8 text (line 2, column 11)"])
        .has(
            "error[E029]: cannot read `pipelines/a.yaml`: not UTF-8 text (line 2, column 11)",
            Some("save the file as UTF-8"),
        );
    one("vars:\n  a: \"x\0y\"\n")
        .only(&["pipelines/platform.yaml:2:8: error[E001]: invalid YAML: a NUL character"]);
    one("vars:\n  a: \"C:\\dir\"\n").has(
        "pipelines/platform.yaml:2:6: error[E001]: invalid YAML: while parsing a quoted scalar, \
         found unknown escape character",
        Some(
            "in double quotes, `\\` starts an escape (`\\n`, `\\\"`, `\\\\`); use single quotes \
             for text with backslashes",
        ),
    );
    let deep = format!("vars: {}{}\n", "[".repeat(300), "]".repeat(300));
    let out = one(&deep);
    assert_eq!(out.codes(), [Code::YamlSyntax]);
    assert_eq!(
        out.diags[0].help.as_deref(),
        Some("nesting is too deep to be a spec: flatten the lists and mappings")
    );
    one("? [a, b]\n: 1\n").only(&[
        "pipelines/platform.yaml:1:3: error[E003]: a section name is a plain word, not a list or a mapping",
    ]);
    one("agents:\n  ? [a]\n  : {prompt: p}\nevents:\n  ? {x: 1}\n  : 1\n").only(&[
        "pipelines/platform.yaml:2:5: error[E003]: a name is a plain word, not a list or a mapping",
        "pipelines/platform.yaml:5:5: error[E003]: a key is a plain word, not a list or a mapping",
    ]);
}

#[test]
fn a_spec_file_over_the_size_limit_says_so() {
    let big = format!("vars:\n  k: {}\n", "x".repeat(8 * 1024 * 1024));
    one(&big).has(
        &format!(
            "error[E029]: cannot read `pipelines/platform.yaml`: {} bytes is over the 8388608-byte limit",
            big.len()
        ),
        Some("a spec file holds at most 8 MiB: split it into several files"),
    );
}

// ------------------------------------------------------------ paths

#[test]
fn missing_pipelines_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Outcome::new(tmp.path(), &tmp.path().join("pipelines"));
    out.has(
        "error[E029]: no pipelines directory at `pipelines`",
        Some("run `orchctl init` to create one, or pass `--pipelines DIR`"),
    );
}

#[test]

fn missing_pipelines_directory_is_the_only_error() {
    let tmp = tempfile::tempdir().unwrap();
    Outcome::new(tmp.path(), &tmp.path().join("pipelines"))
        .only(&["error[E029]: no pipelines directory at `pipelines`"]);
}

#[test]

fn absolute_pipelines_directory_is_displayed_with_one_leading_slash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pipelines");
    write(&dir, "platform.yaml", MINIMAL);
    let (loaded, _) = orchctl::compile_dir(&dir);
    assert_eq!(
        loaded.sources.path(FileId(0)),
        format!("{}/platform.yaml", dir.display())
    );
}

// ------------------------------------------------------------ rendering

#[test]
fn rendered_unknown_field_with_help() {
    let out = one(&edit(MINIMAL, "namespace:", "namespce:"));
    let i = out
        .codes()
        .iter()
        .position(|c| *c == Code::UnknownField)
        .unwrap();
    snapshot("unknown_field", &out.rendered(i));
}

#[test]
fn rendered_duplicate_key_with_both_places() {
    let out = Outcome::files(&[
        ("platform.yaml", MINIMAL),
        (
            "extra.yaml",
            "agents:\n  reviewer:\n    prompt: p\n    model: m\n    model: n\n",
        ),
    ]);
    snapshot("duplicate_key", &out.rendered(0));
}

#[test]
fn rendered_definition_in_two_files() {
    let out = Outcome::files(&[
        ("platform.yaml", MINIMAL),
        (
            "more/agents.yaml",
            "agents:\n  author:\n    prompt: Again.\n    model: gpt-5-codex\n",
        ),
    ]);
    snapshot("defined_in_two_files", &out.rendered(0));
}

#[test]
fn rendered_argo_braces_caret_under_the_braces() {
    let out = dag(&format!(
        "{DAG}            NAME: \"run-{{{{workflow.name}}}}\"\n"
    ));
    snapshot("argo_braces", &out.rendered(0));
}

// ------------------------------------------------------------ property

/// Every prefix of the minimal spec and of the chain file (cut inside keys,
/// values, flow collections and lines, then ended with a line break)
/// compiles without panicking, and every diagnostic it yields is located
/// inside its file (checked by [`Outcome::new`]).
#[test]
fn every_span_is_inside_a_spec_file_for_truncated_specs() {
    let mut errors = 0;
    for (i, _) in MINIMAL.char_indices() {
        let platform = format!("{}\n", &MINIMAL[..i]);
        let chains = format!("{}\n", &DAG[..i.min(DAG.len())]);
        let out = Outcome::files(&[("platform.yaml", &platform), ("chains.yaml", &chains)]);
        errors += out.diags.iter().filter(|d| d.is_error()).count();
        for d in &out.diags {
            assert!(d.code.as_str().starts_with("E0"), "{d:?}");
            assert!(!d.message.is_empty(), "{d:?}");
        }
    }
    assert!(errors > 500, "the truncations should be mostly invalid");
}

#[test]

fn yaml_error_at_the_end_of_a_file_without_final_newline_is_inside_the_file() {
    let out = one("project:\n  name: demo\n  nam");
    assert_eq!(
        out.shorts,
        ["pipelines/platform.yaml:3:6: error[E001]: invalid YAML: simple key expected"]
    );
}

#[test]
fn sections_that_must_be_mappings() {
    Outcome::files(&[
        ("platform.yaml", MINIMAL),
        ("extra.yaml", "agents: [a, b]\nconcurrency: 3\nevents: on\n"),
    ])
    .only(&[
        "pipelines/extra.yaml:1:1: error[E003]: `agents` is a mapping of names to definitions",
        "pipelines/extra.yaml:2:1: error[E003]: `concurrency` is a mapping",
        "pipelines/extra.yaml:3:1: error[E003]: `events` is a mapping",
    ]);
}

/// [`MINIMAL`] with its chain replaced by `steps` agent steps, each after
/// the one before.
fn chain_of(steps: usize) -> String {
    let mut text = MINIMAL.replace(
        "      - name: author\n        agent: author\n",
        "      - name: s0\n        agent: author\n",
    );
    for i in 1..steps {
        text.push_str(&format!(
            "      - name: s{i}\n        agent: author\n        after: [s{}]\n",
            i - 1
        ));
    }
    text
}

#[test]
fn e032_a_chain_of_more_than_200_steps_is_a_warning() {
    one(&chain_of(200)).only(&[]);
    one(&chain_of(201)).only(&[
        "pipelines/platform.yaml:28:5: warning[E032]: chain `delivery` has 201 steps; Argo Workflows 4 installed with its full CRDs accepts at most 200 tasks in one DAG",
    ]).has(
        "pipelines/platform.yaml:28:5: warning[E032]: chain `delivery` has 201 steps; Argo Workflows 4 installed with its full CRDs accepts at most 200 tasks in one DAG",
        Some("with the full CRDs, split it into chains that call each other; the minimal CRDs and 3.7 have no such limit"),
    );
}

#[test]
fn e032_a_chain_of_more_than_10000_steps_is_refused() {
    // At the limit the chain is ordered and lowered, and its WorkflowTemplate
    // is then too large to store.
    let at_limit = one(&chain_of(10_000));
    assert_eq!(at_limit.shorts.len(), 2, "{:#?}", at_limit.shorts);
    assert!(
        at_limit.shorts[0].starts_with(
            "pipelines/platform.yaml:27:3: error[E032]: WorkflowTemplate `delivery` would be "
        ),
        "{}",
        at_limit.shorts[0]
    );
    assert_eq!(
        at_limit.shorts[1],
        "pipelines/platform.yaml:28:5: warning[E032]: chain `delivery` has 10000 steps; Argo Workflows 4 installed with its full CRDs accepts at most 200 tasks in one DAG"
    );
    let refused = "pipelines/platform.yaml:28:5: error[E032]: chain `delivery` has 10001 steps; orchctl accepts at most 10000 in one chain";
    one(&chain_of(10_001)).only(&[refused]).has(
        refused,
        Some("its WorkflowTemplate could not be stored (etcd keeps at most 1.5 MiB per object): split it into chains that call each other"),
    );
}

#[test]
fn e032_an_object_over_what_etcd_stores_is_refused() {
    let arg = "x".repeat(orchctl::MAX_OBJECT_BYTES);
    let text = MINIMAL.replace(
        "      - name: author\n        agent: author\n",
        &format!(
            "      - name: build\n        container:\n          image: agent\n          command: [/bin/build, {arg}]\n"
        ),
    );
    let out = one(&text);
    assert_eq!(out.codes(), [Code::ObjectTooLarge], "{:#?}", out.shorts);
    let d = &out.diags[0];
    assert!(d.is_error(), "{d:?}");
    assert!(
        out.shorts[0].starts_with("pipelines/platform.yaml:27:3: error[E032]: "),
        "{}",
        out.shorts[0]
    );
    let bytes: usize = d
        .message
        .strip_prefix("WorkflowTemplate `delivery` would be ")
        .and_then(|m| {
            m.strip_suffix(
                " bytes of JSON, over the 1.5 MiB (1572864 bytes) etcd stores per object",
            )
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", d.message));
    assert!(
        bytes > orchctl::MAX_OBJECT_BYTES && bytes < arg.len() + 4096,
        "{bytes}"
    );
    assert_eq!(
        d.help.as_deref(),
        Some(
            "Kubernetes cannot store it: split the chain into chains that call each other, or shorten its long values"
        )
    );
    // With 4 KiB less of it, the WorkflowTemplate fits.
    let fits = text.replace(&arg, &"x".repeat(orchctl::MAX_OBJECT_BYTES - 4096));
    one(&fits).only(&[]);
}
