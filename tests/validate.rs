//! `orchctl validate`: one broken fixture per cross-object check (code,
//! message and location), the reference output and hand-written manifests
//! valid, upstream Argo examples, schema validation with instance paths,
//! faults injected into the committed `generated/`, every output format and
//! the exit codes.
//!
//! Broken fixtures mark the offending line with `# expect`; the finding must
//! point at that line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, root, schemas_dir};
use orchctl::diagnostic::Code;
use orchctl::schemas::SchemaSet;
use orchctl::source::Sources;
use orchctl::validate::{self, External, Options, Report, Status};

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/manifests")
}

/// Validate `paths` with the library, as `orchctl validate PATHS` does.
fn check(paths: &[PathBuf], externals: &[&str], schemas: Option<&Path>) -> (Report, Sources) {
    let mut sources = Sources::new();
    let input = validate::read_paths(paths, &mut sources);
    let mut set = schemas.map(|d| SchemaSet::open(d).expect("schema directory"));
    let mut options = Options {
        externals: externals
            .iter()
            .map(|e| e.parse::<External>().unwrap())
            .collect(),
        schemas: set.as_mut(),
    };
    let mut report = validate::validate(&input.documents, input.records, &mut options);
    report.files = input.files;
    (report, sources)
}

/// Every finding as `path:line:col: E000 message`.
fn findings(report: &Report, sources: &Sources) -> Vec<String> {
    report
        .records
        .iter()
        .flat_map(|r| &r.findings)
        .map(|f| f.diagnostic.short(sources))
        .collect()
}

fn line_of(path: &Path, marker: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{} has no `{marker}` line", path.display()))
        + 1
}

/// (fixture, code, column, message)
const BROKEN: &[(&str, Code, usize, &str)] = &[
    (
        "template-ref-unknown-template.yaml",
        Code::UnknownTemplate,
        21,
        "task `compile` refers to WorkflowTemplate `stpe`, which is not among the manifests",
    ),
    (
        "template-ref-unknown-name.yaml",
        Code::UnknownTemplate,
        25,
        "WorkflowTemplate `step` has no template `rnu`",
    ),
    (
        "workflow-template-ref-unknown.yaml",
        Code::UnknownTemplate,
        11,
        "`workflowTemplateRef` names WorkflowTemplate `biuld`, which is not among the manifests",
    ),
    (
        "local-template-unknown.yaml",
        Code::UnknownTemplate,
        23,
        "step `hello` runs template `say`, which is not defined here",
    ),
    (
        "on-exit-unknown.yaml",
        Code::UnknownTemplate,
        11,
        "`onExit` names template `notfy`, which is not defined",
    ),
    (
        "argument-undeclared.yaml",
        Code::UnknownParameter,
        25,
        "task `compile` passes `levle`, which template `run` of WorkflowTemplate `step` does not declare as an input",
    ),
    (
        "argument-missing.yaml",
        Code::UnboundParameter,
        25,
        "task `compile` does not pass `repository`, a required input of template `run` of WorkflowTemplate `step`",
    ),
    (
        "workflow-argument-missing.yaml",
        Code::UnboundParameter,
        11,
        "the workflow does not pass `repository`, which WorkflowTemplate `build` requires (it has no value)",
    ),
    (
        "trigger-argument-undeclared.yaml",
        Code::UnknownParameter,
        29,
        "the Workflow that trigger `run-build` submits passes `repo`, which WorkflowTemplate `build` does not declare",
    ),
    (
        "trigger-argument-missing.yaml",
        Code::UnboundParameter,
        25,
        "the Workflow that trigger `run-build` submits does not pass `repository`, which WorkflowTemplate `build` requires (it has no value)",
    ),
    (
        "trigger-argument-unwritten.yaml",
        Code::UnboundParameter,
        29,
        "the Workflow that trigger `echo` submits lists `sha` without a value, and no trigger parameter writes it",
    ),
    (
        "trigger-dest-out-of-range.yaml",
        Code::TriggerTarget,
        21,
        "trigger `run-build` writes `spec.arguments.parameters.1.value`, but the Workflow it submits lists 1 parameter",
    ),
    (
        "trigger-unknown-dependency.yaml",
        Code::TriggerTarget,
        33,
        "trigger `run-build` reads dependency `pushh`, which the Sensor does not declare",
    ),
    (
        "semaphore-config-map-unknown.yaml",
        Code::UnknownObject,
        17,
        "semaphore ConfigMap `ci-semaphore` is neither among the manifests nor declared external",
    ),
    (
        "semaphore-key-unknown.yaml",
        Code::UnknownLock,
        16,
        "semaphore `build` is not a key of ConfigMap `ci-semaphores`",
    ),
    (
        "semaphore-computed-key-unmatched.yaml",
        Code::UnknownLock,
        16,
        "no key of ConfigMap `ci-semaphores` can match the semaphore key `per-org.{{=sprig.regexReplaceAll(\"/.*$\", workflow.parameters.repository, \"\")}}`",
    ),
    (
        "semaphore-limit-invalid.yaml",
        Code::UnknownLock,
        16,
        "the limit of semaphore `builds` in ConfigMap `ci-semaphores` is `four`, not a number",
    ),
    (
        "service-account-unknown.yaml",
        Code::UnknownObject,
        23,
        "ServiceAccount `ci-workfow` is neither among the manifests nor declared external",
    ),
    (
        "config-map-unknown.yaml",
        Code::UnknownObject,
        23,
        "ConfigMap `ci-settings` is neither among the manifests nor declared external",
    ),
    (
        "config-map-key-unknown.yaml",
        Code::UnknownObject,
        22,
        "ConfigMap `ci-settings` has no key `LOG-LEVEL`",
    ),
    (
        "secret-unknown.yaml",
        Code::UnknownObject,
        25,
        "Secret `github-ap` is neither among the manifests nor declared external",
    ),
    (
        "role-unknown.yaml",
        Code::UnknownObject,
        9,
        "Role `ci-workflow` is neither among the manifests nor declared external",
    ),
    (
        "event-source-unknown.yaml",
        Code::UnknownObject,
        24,
        "EventSource `gitlab` is neither among the manifests nor declared external",
    ),
    (
        "event-unknown.yaml",
        Code::UnknownObject,
        18,
        "EventSource `github` has no event `pushes`",
    ),
    (
        "label-value-invalid.yaml",
        Code::InvalidLabel,
        26,
        "`acme/api` is not a valid value for label `acme.dev/repository`",
    ),
    (
        "label-key-invalid.yaml",
        Code::InvalidLabel,
        23,
        "`acme.dev/-team` is not a valid label key",
    ),
    (
        "duplicate-name.yaml",
        Code::DuplicateDefinition,
        9,
        "ConfigMap `ci-settings` is defined twice in namespace `ci`",
    ),
    (
        "dag-dependency-unknown.yaml",
        Code::UnknownStep,
        28,
        "task `test` depends on `compiel`, which is not a task of this DAG",
    ),
];

#[test]
fn each_broken_fixture_fails_its_one_check_where_marked() {
    let dir = fixtures().join("broken");
    for (file, code, col, message) in BROKEN {
        let path = dir.join(file);
        let (report, sources) = check(
            std::slice::from_ref(&path),
            &["Secret/github-app"],
            Some(&schemas_dir().join("strict")),
        );
        let all = findings(&report, &sources);
        assert_eq!(all.len(), 1, "{file}: exactly one finding, got {all:#?}");
        let finding = report
            .records
            .iter()
            .flat_map(|r| &r.findings)
            .next()
            .unwrap();
        let d = &finding.diagnostic;
        assert_eq!(d.code, *code, "{file}: {}", all[0]);
        assert_eq!(d.message, *message, "{file}");
        let span = d.span.expect("located");
        assert_eq!(
            (sources.path(span.file), span.line, span.col),
            (path.to_str().unwrap(), line_of(&path, "# expect"), *col),
            "{file}: {}",
            all[0]
        );
        assert!(d.help.is_some(), "{file}: a fix is suggested");
        assert!(!report.is_valid(), "{file}");
    }
    // Every fixture is in the table.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = BROKEN.iter().map(|b| b.0.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The findings of `validate` on a single file, `big.yaml`, holding `text`,
/// located relative to its directory.
fn findings_in_one_file(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, text).unwrap();
    let (report, sources) = check(std::slice::from_ref(&path), &[], None);
    let prefix = format!("{}/", dir.path().display());
    findings(&report, &sources)
        .into_iter()
        .map(|f| f.replacen(&prefix, "", 1))
        .collect()
}

#[test]
fn a_config_map_over_one_mebibyte_is_too_large() {
    let prompt = "x".repeat(600 * 1024);
    assert_eq!(
        findings_in_one_file(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: agents\ndata:\n  a.md: {prompt}\n  b.md: {prompt}\n"
        )),
        [
            "big.yaml:6:3: error[E032]: ConfigMap `agents` holds 1228808 bytes of data, over the 1 MiB limit"
        ]
    );
}

#[test]
fn an_object_over_what_etcd_stores_is_too_large() {
    let manifest = |arg: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata:\n  name: big\nspec:\n  templates:\n    - name: main\n      container:\n        image: busybox\n        args: [{arg}]\n"
        )
    };
    assert_eq!(
        findings_in_one_file(&manifest(&"x".repeat(orchctl::MAX_OBJECT_BYTES))),
        [
            "big.yaml:1:1: error[E032]: WorkflowTemplate `big` is over the 1.5 MiB (1572864 bytes) etcd stores per object, as JSON"
        ]
    );
    assert_eq!(
        findings_in_one_file(&manifest(&"x".repeat(orchctl::MAX_OBJECT_BYTES - 200))),
        Vec::<String>::new()
    );
}

#[test]
fn hand_written_manifests_are_valid() {
    let (report, sources) = check(
        &[fixtures().join("valid")],
        &["Secret/*"],
        Some(&schemas_dir().join("strict")),
    );
    assert_eq!(findings(&report, &sources), Vec::<String>::new());
    assert!(report.is_valid());
    assert_eq!(report.count(Status::Valid), 10);
    // The computed semaphore key is checked against the keys that exist.
    let notes: Vec<&String> = report.records.iter().flat_map(|r| &r.notes).collect();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("computed at run time"), "{notes:?}");
    assert!(notes[0].contains("per-repo.acme.api, per-repo.acme.web"));
}

#[test]
fn without_externals_secrets_must_be_declared() {
    let (report, sources) = check(&[fixtures().join("valid")], &[], None);
    let all = findings(&report, &sources);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].contains("error[E047]: Secret `github-webhook`"),
        "{}",
        all[0]
    );
    assert!(
        all[1].contains("error[E047]: Secret `ci-token`"),
        "{}",
        all[1]
    );
}

#[test]
fn the_reference_output_is_valid_against_both_schema_versions() {
    let (loaded, result) = orchctl::compile_dir(&root().join("pipelines"));
    let compiled = result.expect("the reference spec compiles");
    let objects = compiled.objects.len();
    let documents = validate::rendered(compiled, &loaded, "generated");
    let externals = validate::referenced_secrets(&documents);
    assert!(
        externals.iter().any(|e| e.name == "github-app-5dlabs"),
        "the spec's Secret references count as declared: {externals:?}"
    );
    for dir in ["strict", "argo-workflows-v3.7.18/strict"] {
        let mut schemas = SchemaSet::open(&schemas_dir().join(dir)).unwrap();
        let mut options = Options {
            externals: externals.clone(),
            schemas: Some(&mut schemas),
        };
        let report = validate::validate(&documents, Vec::new(), &mut options);
        let problems: Vec<String> = findings(&report, &loaded.sources);
        assert!(problems.is_empty(), "{dir}: {problems:#?}");
        assert!(report.is_valid());
        assert_eq!(report.records.len(), objects);
    }
}

/// The orchctl binary, run in `dir`.
fn orchctl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    orchctl_stdin(dir, args, None)
}

fn orchctl_stdin(dir: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn schemas_arg() -> String {
    schemas_dir().to_string_lossy().into_owned()
}

#[test]
fn validate_without_path_checks_the_spec_and_its_output() {
    let (code, stdout, stderr) = orchctl(&root(), &["validate", "--summary"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("objects the spec renders are valid"),
        "{stderr}"
    );
    assert!(stderr.contains("is computed at run time"), "{stderr}");
    assert!(stdout.starts_with("Summary: "), "{stdout}");
    assert!(
        stdout.contains(" 0 invalid, 0 errors, 0 skipped"),
        "{stdout}"
    );
    // With strict schemas, chosen from the split directory by --strict.
    let (code, _, stderr) = orchctl(
        &root(),
        &["validate", "--schemas", &schemas_arg(), "--strict"],
    );
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn validate_without_path_reports_spec_errors_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("pipelines"), &dir.path().join("pipelines"));
    let chain = dir.path().join("pipelines/chains/delivery.yaml");
    let text = std::fs::read_to_string(&chain).unwrap();
    std::fs::write(
        &chain,
        text.replacen("agent: rex-author", "agent: rex-autor", 1),
    )
    .unwrap();
    let (code, stdout, stderr) = orchctl(dir.path(), &["validate"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error[E010]: unknown agent `rex-autor`"),
        "{stderr}"
    );
    let (code, stdout, _) = orchctl(dir.path(), &["validate", "-o", "github"]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("::error file=pipelines/chains/delivery.yaml,line=12,col=16,title=orchctl E010::unknown agent `rex-autor`"),
        "{stdout}"
    );
    let (code, stdout, _) = orchctl(dir.path(), &["validate", "-o", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["resources"][0]["errors"][0]["code"], "E010");
}

#[test]
fn the_committed_generated_tree_is_valid_with_strict_schemas() {
    let strict = schemas_dir().join("strict");
    let (code, stdout, stderr) = orchctl(
        &root(),
        &[
            "validate",
            "generated",
            "--pipelines",
            "pipelines",
            "--schemas",
            strict.to_str().unwrap(),
            "--summary",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let objects = common::compile(&root().join("pipelines")).objects.len();
    // Every object valid; the kustomization is skipped.
    assert_eq!(
        stdout.trim(),
        format!(
            "Summary: {} objects in {} files: {objects} valid, 0 invalid, 0 errors, 1 skipped",
            objects + 1,
            objects + 1
        )
    );
    // Without the spec, its Secrets must be declared.
    let (code, _, stderr) = orchctl(&root(), &["validate", "generated"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error[E047]: Secret `github-app-5dlabs` is neither among the manifests nor declared external"), "{stderr}");
    let (code, _, stderr) = orchctl(
        &root(),
        &["validate", "generated", "--external", "Secret/*"],
    );
    assert_eq!(code, 0, "{stderr}");
}

/// A scratch copy of `generated/`.
fn scratch_generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("generated"), &dir.path().join("generated"));
    dir
}

fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{from}` in {rel}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn faults_injected_into_generated_output_are_found() {
    // (file, from, to, expected finding prefix)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "generated/workflowtemplates/agent-step.yaml",
            "    - name: agent-step-high\n",
            "    - name: agent-step-huge\n",
            "generated/workflowtemplates/delivery.yaml:109:25: error[E046]: WorkflowTemplate `agent-step` has no template `agent-step-high`",
        ),
        (
            "generated/sensors/issue-triage.yaml",
            "dest: spec.arguments.parameters.1.value",
            "dest: spec.arguments.parameters.2.value",
            "generated/sensors/issue-triage.yaml:74:21: error[E048]: trigger `run-triage` writes `spec.arguments.parameters.2.value`, but the Workflow it submits lists 2 parameters",
        ),
        (
            "generated/sensors/issue-triage.yaml",
            "                    - name: issueNumber\n",
            "                    - name: issue\n",
            "generated/sensors/issue-triage.yaml:64:29: error[E015]: the Workflow that trigger `run-triage` submits passes `issue`, which WorkflowTemplate `triage` does not declare",
        ),
        (
            "generated/configmaps/cto-semaphores.yaml",
            "  agents: '12'\n",
            "",
            "generated/workflowtemplates/agent-step.yaml:102:20: error[E018]: semaphore `agents` is not a key of ConfigMap `cto-semaphores`",
        ),
        (
            "generated/configmaps/cto-semaphores.yaml",
            "  per-repo.5dlabs.cto: '3'\n  per-repo.5dlabs.docs: '2'\n",
            "",
            "generated/workflowtemplates/advance.yaml:52:16: error[E018]: no key of ConfigMap `cto-semaphores` can match the semaphore key",
        ),
        (
            "generated/rbac/cto-sensor-serviceaccount.yaml",
            "  name: cto-sensor\n",
            "  name: cto-sensors\n",
            "generated/rbac/cto-sensor-rolebinding.yaml:18:11: error[E047]: ServiceAccount `cto-sensor` is neither among the manifests nor declared external",
        ),
        (
            "generated/workflowtemplates/delivery.yaml",
            "    orchctl.dev/chain: delivery\n  annotations:",
            "    orchctl.dev/chain: delivery/main\n  annotations:",
            "generated/workflowtemplates/delivery.yaml:11:24: error[E028]: `delivery/main` is not a valid value for label `orchctl.dev/chain`",
        ),
    ];
    let mut failures = Vec::new();
    for (file, from, to, expected) in cases {
        let dir = scratch_generated();
        edit(dir.path(), file, from, to);
        let (code, _, stderr) = orchctl(
            dir.path(),
            &["validate", "generated", "--external", "Secret/*"],
        );
        assert_eq!(code, 1, "{file}: {stderr}");
        let (report, sources) = check(&[dir.path().join("generated")], &["Secret/*"], None);
        let all: Vec<String> = findings(&report, &sources)
            .into_iter()
            .map(|f| f.replace(&format!("{}/", dir.path().display()), ""))
            .collect();
        if !all.iter().any(|f| f.starts_with(expected)) {
            failures.push(format!("{file}: expected {expected}\ngot {all:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn schema_violations_are_located_by_instance_path() {
    // (file, from, to, instance path, line)
    let cases: &[(&str, &str, &str, &str, usize)] = &[
        (
            "generated/workflowtemplates/delivery.yaml",
            "  activeDeadlineSeconds: 43200\n",
            "  activeDeadline: 43200\n",
            "/spec",
            42,
        ),
        (
            "generated/configmaps/cto-semaphores.yaml",
            "  agents: '12'\n",
            "  agents: 12\n",
            "/data/agents",
            13,
        ),
        (
            "generated/eventsources/github.yaml",
            "        port: '12000'\n",
            "        port: 12000\n",
            "/spec/github/github/webhook/port",
            27,
        ),
        (
            "generated/sensors/issue-triage.yaml",
            "          operation: submit\n",
            "          operation: [submit]\n",
            "/spec/triggers/0/template/argoWorkflow/operation",
            43,
        ),
        (
            "generated/rbac/cto-sensor-rolebinding.yaml",
            "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: cto-sensor\n",
            "",
            "/",
            2,
        ),
    ];
    let strict = schemas_dir().join("strict");
    let mut failures = Vec::new();
    for (file, from, to, pointer, line) in cases {
        let dir = scratch_generated();
        edit(dir.path(), file, from, to);
        let path = dir.path().join(file);
        let (report, sources) = check(
            std::slice::from_ref(&path),
            &["Secret/*", "ServiceAccount/*", "Role/*"],
            Some(&strict),
        );
        let record = report
            .records
            .iter()
            .find(|r| r.status == Status::Invalid)
            .unwrap_or_else(|| panic!("{file} is rejected"));
        let schema: Vec<_> = record
            .findings
            .iter()
            .filter(|f| f.diagnostic.code == Code::SchemaViolation)
            .collect();
        assert!(
            !schema.is_empty(),
            "{file}: {:#?}",
            findings(&report, &sources)
        );
        if !schema.iter().any(|f| {
            f.pointer.as_deref() == Some(*pointer)
                && f.diagnostic.span.map(|s| s.line) == Some(*line)
        }) {
            failures.push(format!(
                "{file}: expected {pointer} at line {line}, got {:#?}",
                findings(&report, &sources)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upstream_examples_that_are_valid_pass() {
    let dir = fixtures().join("upstream/valid");
    let externals = [
        "ServiceAccount/argo",
        "ServiceAccount/operate-workflow-sa",
        "EventSource/github",
        "EventSource/bitbucket",
    ];
    for (set, schemas) in [
        ("argo-workflows", "strict"),
        ("argo-events", "strict"),
        ("argo-workflows-v3", "argo-workflows-v3.7.18/strict"),
    ] {
        let (report, sources) = check(
            &[dir.join(set)],
            &externals,
            Some(&schemas_dir().join(schemas)),
        );
        assert_eq!(findings(&report, &sources), Vec::<String>::new(), "{set}");
        assert!(report.is_valid(), "{set}");
        assert!(report.count(Status::Valid) >= 1, "{set}");
    }
}

#[test]
fn upstream_examples_that_are_invalid_fail_for_their_reason() {
    let dir = fixtures().join("upstream/invalid");
    let strict = schemas_dir().join("strict");
    let cases: &[(&str, &[&str])] = &[
        (
            "misreference-template-name.yaml",
            &[
                "misreference-template-name.yaml:21:23: error[E046]: step `hello2` runs template `hell0`, which is not defined here",
            ],
        ),
        (
            "invalid-spec.yaml",
            &[
                "invalid-spec.yaml:4:13: error[E049]: Workflow `invalid-spec-` at /apiVersion: \"argoproj.io/v1alpha1\" was expected",
                "invalid-spec.yaml:9:15: error[E046]: `entrypoint` names template `doesnotexist`, which is not defined",
            ],
        ),
        (
            "disallow-unknown.json",
            &[
                "disallow-unknown.json:20:11: error[E049]: Workflow `hello-world-` at /spec/templates/0/container: Additional properties are not allowed ('someExtraField' was unexpected)",
            ],
        ),
    ];
    for (file, expected) in cases {
        let path = dir.join(file);
        let (report, sources) = check(std::slice::from_ref(&path), &[], Some(&strict));
        assert!(!report.is_valid(), "{file}");
        let all: Vec<String> = findings(&report, &sources)
            .into_iter()
            .map(|f| f.replace(&format!("{}/", dir.display()), ""))
            .collect();
        assert_eq!(all, *expected, "{file}");
    }
}

fn broken_pair() -> [String; 2] {
    [
        "tests/fixtures/manifests/broken/argument-missing.yaml".into(),
        "tests/fixtures/manifests/broken/label-value-invalid.yaml".into(),
    ]
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots/validate"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn output_formats() {
    let [a, b] = broken_pair();
    for (format, name) in [
        ("text", "text"),
        ("json", "json"),
        ("junit", "junit"),
        ("github", "github"),
    ] {
        let (code, stdout, stderr) =
            orchctl(&root(), &["validate", &a, &b, "-o", format, "--summary"]);
        assert_eq!(code, 1, "{format}");
        let shown = if format == "text" {
            format!("--- stdout\n{stdout}--- stderr\n{stderr}")
        } else {
            stdout
        };
        snapshot(name, &shown);
    }
    // JSON is JSON, with a record per object.
    let (_, stdout, _) = orchctl(&root(), &["validate", &a, &b, "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["resources"].as_array().unwrap().len(), 3);
    assert_eq!(json["summary"]["invalid"], 2);
}

#[test]
fn exit_codes_and_usage() {
    let valid = "tests/fixtures/manifests/valid";
    assert_eq!(
        orchctl(&root(), &["validate", valid, "--external", "Secret/*"]).0,
        0
    );
    assert_eq!(orchctl(&root(), &["validate", valid]).0, 1);
    // Usage errors exit 1.
    let (code, _, stderr) = orchctl(&root(), &["validate", valid, "--external", "Secret"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("`Secret` is not KIND/NAME"), "{stderr}");
    let strict = schemas_dir().join("strict");
    let (code, _, stderr) = orchctl(
        &root(),
        &[
            "validate",
            valid,
            "--schemas",
            strict.to_str().unwrap(),
            "--strict",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("has no strict/ and lax/ subdirectories"),
        "{stderr}"
    );
    let (code, _, stderr) = orchctl(&root(), &["validate", "--schemas", "no/such/dir"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no schema directory at `no/such/dir`"),
        "{stderr}"
    );
    assert_eq!(
        orchctl(&root(), &["validate", "--strict"]).0,
        1,
        "--strict needs --schemas"
    );
    let (code, _, stderr) = orchctl(&root(), &["validate", "no/such/file.yaml"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read `no/such/file.yaml`"),
        "{stderr}"
    );
    let (code, stdout, _) = orchctl(&root(), &["validate", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--external <KIND/NAME>"), "{stdout}");
}

#[test]
fn manifests_from_stdin_and_broken_yaml() {
    let text = std::fs::read_to_string(fixtures().join("broken/role-unknown.yaml")).unwrap();
    let (code, _, stderr) = orchctl_stdin(&root(), &["validate", "-"], Some(&text));
    assert_eq!(code, 1);
    assert!(stderr.contains("--> <stdin>:14:9"), "{stderr}");
    let (code, stdout, _) = orchctl_stdin(
        &root(),
        &["validate", "-", "-o", "json"],
        Some("kind: ConfigMap\nmetadata: {name: x\n"),
    );
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["resources"][0]["status"], "error");
    assert_eq!(json["resources"][0]["errors"][0]["code"], "E001");
}

/// Without PATH, findings on rendered objects point at the spec element the
/// field came from (here the step), and name the generated file.
#[test]
fn findings_on_rendered_objects_point_into_the_spec() {
    let (loaded, result) = orchctl::compile_dir(&root().join("pipelines"));
    let compiled = result.unwrap();
    let mut documents = validate::rendered(compiled, &loaded, "generated");
    let delivery = documents
        .iter_mut()
        .find(|d| d.path == "generated/workflowtemplates/delivery.yaml")
        .unwrap();
    delivery.value["spec"]["templates"][0]["dag"]["tasks"][1]["templateRef"]["template"] =
        serde_json::json!("agent-step-huge");
    let mut options = Options {
        externals: validate::referenced_secrets(&documents),
        schemas: None,
    };
    let report = validate::validate(&documents, Vec::new(), &mut options);
    let all = findings(&report, &loaded.sources);
    let root = root();
    let chain = root.join("pipelines/chains/delivery.yaml");
    assert_eq!(
        all,
        [format!(
            "{}:13:9: error[E046]: generated/workflowtemplates/delivery.yaml: WorkflowTemplate `agent-step` has no template `agent-step-huge`",
            chain.display()
        )]
    );
    let record = report
        .records
        .iter()
        .find(|r| r.status == Status::Invalid)
        .unwrap();
    assert_eq!(record.path, "generated/workflowtemplates/delivery.yaml");
    assert_eq!(
        record.findings[0].pointer.as_deref(),
        Some("/spec/templates/0/dag/tasks/1/templateRef/template")
    );
}

/// A FIFO found in a directory is reported, not waited on; one named on the
/// command line (`<(…)`) is read.
#[cfg(unix)]
#[test]
fn a_fifo_in_a_directory_is_not_read() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    )
    .unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a plain mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let paths = vec![dir.path().to_path_buf()];
    let (sent, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sources = Sources::new();
        let input = validate::read_paths(&paths, &mut sources);
        let records: Vec<String> = input
            .records
            .iter()
            .flat_map(|r| &r.findings)
            .map(|f| f.diagnostic.short(&sources))
            .collect();
        sent.send((input.files, input.documents.len(), records))
            .unwrap();
    });
    let (files, documents, records) = got
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("reading a directory with a FIFO in it did not finish in 30 s");
    // Named on the command line, the FIFO is read (`validate <(…)`).
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::write(
                &fifo,
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\n",
            )
            .unwrap();
        })
    };
    let mut sources = Sources::new();
    let input = validate::read_paths(std::slice::from_ref(&fifo), &mut sources);
    writer.join().unwrap();
    assert_eq!((input.files, input.documents.len()), (1, 1));
    assert_eq!((files, documents), (1, 1));
    let shown = orchctl::source::slash_path(&fifo);
    assert_eq!(
        records,
        [format!(
            "error[E029]: cannot read `{shown}`: not a regular file"
        )]
    );
}

/// A path with nothing to check fails, so a mistyped one cannot pass CI.
#[test]
fn nothing_to_validate_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let shown = orchctl::source::slash_path(&empty);
    let (code, _, stderr) = orchctl(&root(), &["validate", &shown]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "error[E029]: no manifests under `{shown}`: no *.yaml, *.yml or *.json file\n"
        )),
        "{stderr}"
    );
    std::fs::write(empty.join("a.yaml"), "# nothing\n").unwrap();
    let (code, _, stderr) = orchctl(&root(), &["validate", &shown]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "error[E029]: no manifests in `{shown}`: it holds no YAML or JSON document\n"
        )),
        "{stderr}"
    );
    let (code, _, stderr) = orchctl_stdin(&root(), &["validate", "-"], Some("\n"));
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(
            "error[E029]: no manifests in `<stdin>`: it holds no YAML or JSON document\n"
        ),
        "{stderr}"
    );
    // Beside a path that holds manifests, an empty file in a directory is fine.
    std::fs::write(
        empty.join("b.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    )
    .unwrap();
    let (code, _, stderr) = orchctl(&root(), &["validate", &shown]);
    assert_eq!(code, 0, "{stderr}");
}
