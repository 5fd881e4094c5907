//! Two small pipeline directories that express other systems' shapes with
//! orchctl's model: seed 004's visual-analysis DAG (containers, parallel
//! branches, an approval gate, output passing, TTL and deadline) and seed
//! 003's resource classes, pod security standard, existing workspace claim
//! and locks. Each compiles without warnings, is snapshotted file by file,
//! passes the strict schemas, and has its key shapes asserted.

mod common;

use std::collections::BTreeMap;

use common::{assert_schema_valid, compile, root, snapshot_tree, yaml_to_json};
use serde_json::{Value, json};

fn fixture(name: &str) -> orchctl::Compiled {
    compile(&root().join("tests/fixtures").join(name).join("pipelines"))
}

/// A generated file, parsed.
fn object(compiled: &orchctl::Compiled, path: &str) -> Value {
    let text = compiled
        .tree
        .get(path)
        .unwrap_or_else(|| panic!("no `{path}` in {:?}", compiled.tree.keys()));
    yaml_to_json(text)
}

/// The template named `name` of a WorkflowTemplate.
fn template<'a>(wt: &'a Value, name: &str) -> &'a Value {
    wt["spec"]["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template `{name}`"))
}

fn template_names(wt: &Value) -> Vec<&str> {
    wt["spec"]["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

/// The DAG tasks of the entry template, by name.
fn tasks(wt: &Value) -> BTreeMap<String, Value> {
    let entry = wt["spec"]["entrypoint"].as_str().expect("entrypoint");
    template(wt, entry)["dag"]["tasks"]
        .as_array()
        .expect("dag tasks")
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// A task's argument value by parameter name.
fn argument<'a>(task: &'a Value, name: &str) -> &'a str {
    task["arguments"]["parameters"]
        .as_array()
        .expect("arguments")
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
        .unwrap_or_else(|| panic!("no argument `{name}` in {task}"))
}

/// A container's env value by name.
fn env<'a>(container: &'a Value, name: &str) -> &'a str {
    container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no env `{name}`"))
}

/// CPU in millicores: `500m`, `2`, `2000m`.
fn millicores(q: &str) -> u64 {
    q.strip_suffix('m')
        .map_or_else(|| q.parse::<u64>().unwrap() * 1000, |m| m.parse().unwrap())
}

/// Memory in MiB: `512Mi`, `2Gi`.
fn mebibytes(q: &str) -> u64 {
    if let Some(g) = q.strip_suffix("Gi") {
        g.parse::<u64>().unwrap() * 1024
    } else {
        q.strip_suffix("Mi").expect("Mi or Gi").parse().unwrap()
    }
}

// ---------------------------------------------------------------- seed 004

#[test]
fn seed004_compiles_and_matches_snapshots() {
    let compiled = fixture("seed004");
    // Seed 004's own numbers conflict: its 30m approval timeout equals the
    // 1800s run deadline, so the deadline always ends the run first. orchctl
    // says so, and nothing else.
    let warnings: Vec<String> = compiled
        .warnings
        .0
        .iter()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert_eq!(
        warnings,
        ["E033: gate `gate` waits 1800s but the chain's deadline is 1800s"]
    );
    assert_eq!(
        compiled.tree.keys().collect::<Vec<_>>(),
        [
            "configmaps/controller-agents.yaml",
            "kustomization.yaml",
            "rbac/visual-analysis-play-role.yaml",
            "rbac/visual-analysis-play-rolebinding.yaml",
            "rbac/visual-analysis-play-serviceaccount.yaml",
            "rbac/visual-analysis-workflow-role.yaml",
            "rbac/visual-analysis-workflow-rolebinding.yaml",
            "rbac/visual-analysis-workflow-serviceaccount.yaml",
            "workflowtemplates/agent-step.yaml",
            "workflowtemplates/visual-analysis.yaml",
        ]
    );
    snapshot_tree("fixtures/seed004", &compiled.tree);
}

#[test]
fn seed004_passes_strict_schemas() {
    let compiled = fixture("seed004");
    assert_eq!(assert_schema_valid(&compiled.tree), compiled.tree.len() - 1);
}

#[test]
fn seed004_dag_is_scraper_then_screenshot_and_dom_then_gate_then_synthesis() {
    let wt = object(
        &fixture("seed004"),
        "workflowtemplates/visual-analysis.yaml",
    );
    let deps: BTreeMap<String, Vec<String>> = tasks(&wt)
        .into_iter()
        .map(|(name, t)| {
            let d = t["dependencies"].as_array().map_or_else(Vec::new, |a| {
                a.iter().map(|v| v.as_str().unwrap().to_string()).collect()
            });
            (name, d)
        })
        .collect();
    let expected: BTreeMap<String, Vec<String>> = [
        ("scraper", vec![]),
        ("screenshot", vec!["scraper"]),
        ("dom", vec!["scraper"]),
        ("gate", vec!["screenshot", "dom"]),
        ("synthesis", vec!["gate"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(deps, expected);

    let tasks = tasks(&wt);
    for local in ["scraper", "screenshot", "dom", "gate"] {
        assert_eq!(tasks[local]["template"], format!("step-{local}"));
        assert!(tasks[local].get("templateRef").is_none());
    }
    assert_eq!(
        tasks["synthesis"]["templateRef"],
        json!({"name": "agent-step", "template": "agent-step-heavy"})
    );
    assert_eq!(
        template_names(&wt),
        [
            "visual-analysis",
            "step-scraper",
            "step-screenshot",
            "step-dom",
            "step-gate"
        ]
    );
}

#[test]
fn seed004_run_lifecycle_is_ttl_900_and_deadline_1800() {
    let wt = object(
        &fixture("seed004"),
        "workflowtemplates/visual-analysis.yaml",
    );
    assert_eq!(
        wt["spec"]["ttlStrategy"],
        json!({"secondsAfterCompletion": 900})
    );
    assert_eq!(wt["spec"]["activeDeadlineSeconds"], 1800);
    // A per-run workspace claim (seed 004 has no shared one).
    assert_eq!(
        wt["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "5Gi"
    );
}

#[test]
fn seed004_gate_is_a_30m_suspend_with_an_approved_output() {
    let wt = object(
        &fixture("seed004"),
        "workflowtemplates/visual-analysis.yaml",
    );
    let gate = template(&wt, "step-gate");
    assert_eq!(gate["suspend"], json!({"duration": "30m"}));
    assert_eq!(
        gate["outputs"]["parameters"],
        json!([{
            "name": "approved",
            "description": "Set to true when resuming to approve.",
            "valueFrom": {"supplied": {}, "default": "false"}
        }])
    );
    assert_eq!(
        gate["inputs"]["parameters"][0]["value"],
        "Review the screenshots and the DOM extract before synthesis."
    );
    assert!(gate.get("container").is_none());
}

#[test]
fn seed004_synthesis_runs_only_when_approved_and_its_own_condition_holds() {
    let wt = object(
        &fixture("seed004"),
        "workflowtemplates/visual-analysis.yaml",
    );
    let tasks = tasks(&wt);
    assert_eq!(
        tasks["synthesis"]["when"],
        "'{{tasks.gate.outputs.parameters.approved}}' == 'true' \
         && ({{tasks.scraper.outputs.parameters.page-count}} > 0)"
    );
    // Steps before the gate are not guarded by it.
    for name in ["scraper", "screenshot", "dom", "gate"] {
        assert!(tasks[name].get("when").is_none(), "{name}");
    }
}

#[test]
fn seed004_outputs_flow_from_scraper_to_later_steps() {
    let wt = object(
        &fixture("seed004"),
        "workflowtemplates/visual-analysis.yaml",
    );
    let tasks = tasks(&wt);
    // The scraper declares its outputs, read from files it writes.
    let scraper = template(&wt, "step-scraper");
    assert_eq!(
        scraper["outputs"]["parameters"],
        json!([
            {"name": "html-path", "valueFrom": {"path": "/var/run/orchctl/outputs/html-path", "default": ""}},
            {"name": "page-count", "valueFrom": {"path": "/var/run/orchctl/outputs/page-count", "default": ""}},
        ])
    );
    assert_eq!(
        env(&scraper["container"], "ORCHCTL_OUTPUTS"),
        "/var/run/orchctl/outputs"
    );
    // Both parallel branches receive the scraper's output as an input that
    // reaches the container only through env.
    for branch in ["screenshot", "dom"] {
        assert_eq!(
            argument(&tasks[branch], "HTML_PATH"),
            "{{tasks.scraper.outputs.parameters.html-path}}"
        );
        let t = template(&wt, &format!("step-{branch}"));
        assert!(
            t["inputs"]["parameters"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": "HTML_PATH"}))
        );
        assert_eq!(
            env(&t["container"], "HTML_PATH"),
            "{{inputs.parameters.HTML_PATH}}"
        );
        assert!(t["container"].get("args").is_none());
    }
    // Parameters reach the scraper the same way.
    assert_eq!(
        argument(&tasks["scraper"], "TARGET_URL"),
        "{{inputs.parameters.targetUrl}}"
    );
    // The agent step gets the screenshot branch's output as a parameter.
    assert_eq!(
        argument(&tasks["synthesis"], "screenshots"),
        "{{tasks.screenshot.outputs.parameters.screenshot-path}}"
    );
    assert_eq!(argument(&tasks["synthesis"], "agent"), "synthesis");
    assert_eq!(argument(&tasks["synthesis"], "model"), "claude-sonnet-4-5");
}

#[test]
fn seed004_resources_stay_within_500m_2000m_cpu_and_512mi_2gi_memory() {
    let compiled = fixture("seed004");
    let wt = object(&compiled, "workflowtemplates/visual-analysis.yaml");
    let step = object(&compiled, "workflowtemplates/agent-step.yaml");
    let expect = |t: &Value, req: (&str, &str), lim: (&str, &str)| {
        let r = &t["container"]["resources"];
        assert_eq!(
            r,
            &json!({
                "limits": {"cpu": lim.0, "memory": lim.1},
                "requests": {"cpu": req.0, "memory": req.1},
            }),
            "{}",
            t["name"]
        );
    };
    expect(
        template(&wt, "step-scraper"),
        ("500m", "512Mi"),
        ("1000m", "1Gi"),
    );
    expect(
        template(&wt, "step-dom"),
        ("500m", "512Mi"),
        ("1000m", "1Gi"),
    );
    expect(
        template(&wt, "step-screenshot"),
        ("1000m", "1Gi"),
        ("2000m", "2Gi"),
    );
    expect(
        template(&step, "agent-step-heavy"),
        ("1000m", "1Gi"),
        ("2000m", "2Gi"),
    );
    // Every container of the fixture is inside seed 004's envelope.
    let mut seen = 0;
    for t in [&wt, &step]
        .iter()
        .flat_map(|o| o["spec"]["templates"].as_array().unwrap())
    {
        let Some(r) = t["container"].get("resources") else {
            continue;
        };
        for side in ["requests", "limits"] {
            let cpu = millicores(r[side]["cpu"].as_str().unwrap());
            let mem = mebibytes(r[side]["memory"].as_str().unwrap());
            assert!(
                (500..=2000).contains(&cpu),
                "{} {side} cpu {cpu}m",
                t["name"]
            );
            assert!(
                (512..=2048).contains(&mem),
                "{} {side} memory {mem}Mi",
                t["name"]
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 5, "3 container steps and 2 agent-step tiers");
}

#[test]
fn seed004_agent_prompt_lands_in_the_agents_config_map() {
    let cm = object(&fixture("seed004"), "configmaps/controller-agents.yaml");
    let prompt = cm["data"]["synthesis_system-prompt.md"].as_str().unwrap();
    assert!(prompt.starts_with("You analyse a competitor's web page."));
    let profile: Value =
        serde_json::from_str(cm["data"]["synthesis_profile.json"].as_str().unwrap()).unwrap();
    assert_eq!(profile["model"], "claude-sonnet-4-5");
}

// ---------------------------------------------------------------- seed 003

#[test]
fn seed003_compiles_without_warnings_and_matches_snapshots() {
    let compiled = fixture("seed003");
    assert!(compiled.warnings.0.is_empty(), "{:?}", compiled.warnings.0);
    assert_eq!(
        compiled.tree.keys().collect::<Vec<_>>(),
        [
            "configmaps/controller-agents.yaml",
            "configmaps/orchestrator-semaphores.yaml",
            "kustomization.yaml",
            "rbac/orchestrator-play-role.yaml",
            "rbac/orchestrator-play-rolebinding.yaml",
            "rbac/orchestrator-play-serviceaccount.yaml",
            "rbac/orchestrator-workflow-role.yaml",
            "rbac/orchestrator-workflow-rolebinding.yaml",
            "rbac/orchestrator-workflow-serviceaccount.yaml",
            "workflowtemplates/agent-step.yaml",
            "workflowtemplates/taskrun.yaml",
        ]
    );
    snapshot_tree("fixtures/seed003", &compiled.tree);
}

#[test]
fn seed003_passes_strict_schemas() {
    let compiled = fixture("seed003");
    assert_eq!(assert_schema_valid(&compiled.tree), compiled.tree.len() - 1);
}

#[test]
fn seed003_tiers_are_the_standard_and_high_resource_classes() {
    let compiled = fixture("seed003");
    let step = object(&compiled, "workflowtemplates/agent-step.yaml");
    // One template per declared tier; there is no `default` tier here.
    assert_eq!(
        template_names(&step),
        ["agent-step-high", "agent-step-standard"]
    );
    assert_eq!(
        template(&step, "agent-step-standard")["container"]["resources"],
        json!({
            "limits": {"cpu": "2", "memory": "4Gi"},
            "requests": {"cpu": "1", "memory": "2Gi"},
        })
    );
    assert_eq!(
        template(&step, "agent-step-high")["container"]["resources"],
        json!({
            "limits": {"cpu": "4", "memory": "8Gi"},
            "requests": {"cpu": "2", "memory": "4Gi"},
        })
    );
    // The chain uses both: each step runs in its agent's tier.
    let wt = object(&compiled, "workflowtemplates/taskrun.yaml");
    let tasks = tasks(&wt);
    assert_eq!(
        tasks["implement"]["templateRef"],
        json!({"name": "agent-step", "template": "agent-step-high"})
    );
    assert_eq!(
        tasks["review"]["templateRef"],
        json!({"name": "agent-step", "template": "agent-step-standard"})
    );
    assert_eq!(tasks["review"]["dependencies"], json!(["implement"]));
    assert!(tasks["implement"].get("dependencies").is_none());
}

#[test]
fn seed003_pods_follow_the_pod_security_standard() {
    let compiled = fixture("seed003");
    let pod = json!({
        "fsGroup": 2000,
        "runAsGroup": 1000,
        "runAsNonRoot": true,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    });
    let wt = object(&compiled, "workflowtemplates/taskrun.yaml");
    assert_eq!(wt["spec"]["securityContext"], pod);
    let step = object(&compiled, "workflowtemplates/agent-step.yaml");
    for name in ["agent-step-high", "agent-step-standard"] {
        let t = template(&step, name);
        assert_eq!(t["securityContext"], pod, "{name}");
        let c = &t["container"]["securityContext"];
        assert_eq!(c["runAsNonRoot"], true, "{name}");
        assert_eq!(c["runAsUser"], 1000, "{name}");
        assert_eq!(c["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(c["capabilities"]["drop"], json!(["ALL"]), "{name}");
        assert_eq!(c["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(c["seccompProfile"]["type"], "RuntimeDefault", "{name}");
    }
}

#[test]
fn seed003_workspace_is_the_existing_claim() {
    let compiled = fixture("seed003");
    let wt = object(&compiled, "workflowtemplates/taskrun.yaml");
    assert_eq!(
        wt["spec"]["volumes"],
        json!([{
            "name": "workspace",
            "persistentVolumeClaim": {"claimName": "workspace-auth-service"}
        }])
    );
    assert!(wt["spec"].get("volumeClaimTemplates").is_none());
    let step = object(&compiled, "workflowtemplates/agent-step.yaml");
    for name in ["agent-step-high", "agent-step-standard"] {
        let mounts = template(&step, name)["container"]["volumeMounts"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            mounts.contains(&json!({"mountPath": "/workspace", "name": "workspace"})),
            "{name}: {mounts:?}"
        );
    }
}

#[test]
fn seed003_chain_holds_a_per_repository_semaphore_and_a_per_task_mutex() {
    let compiled = fixture("seed003");
    let wt = object(&compiled, "workflowtemplates/taskrun.yaml");
    assert_eq!(
        wt["spec"]["synchronization"],
        json!({
            "semaphores": [{"configMapKeyRef": {
                "name": "orchestrator-semaphores",
                "key": "per-repo.{{=sprig.replace(\"/\", \".\", workflow.parameters.repository)}}",
            }}],
            "mutexes": [{
                "name": "task-{{=sprig.replace(\"/\", \".\", workflow.parameters.taskId)}}",
            }],
        })
    );
    // The limits: one key per repository of the project.
    let cm = object(&compiled, "configmaps/orchestrator-semaphores.yaml");
    assert_eq!(
        cm["data"],
        json!({"per-repo.5dlabs.auth-service": "2", "per-repo.5dlabs.platform": "2"})
    );
    // The lock keys need `repository` and `taskId`: they are chain arguments.
    let args: Vec<&str> = wt["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        args.contains(&"repository") && args.contains(&"taskId"),
        "{args:?}"
    );
}

#[test]
fn seed003_agents_and_secret_env_are_wired() {
    let compiled = fixture("seed003");
    let cm = object(&compiled, "configmaps/controller-agents.yaml");
    for agent in ["implementer", "reviewer"] {
        assert!(
            cm["data"][format!("{agent}_system-prompt.md")].is_string(),
            "{agent}"
        );
    }
    let step = object(&compiled, "workflowtemplates/agent-step.yaml");
    let key = template(&step, "agent-step-standard")["container"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "ANTHROPIC_API_KEY")
        .cloned()
        .expect("ANTHROPIC_API_KEY");
    assert_eq!(
        key["valueFrom"]["secretKeyRef"],
        json!({"name": "orchestrator-secrets", "key": "ANTHROPIC_API_KEY"})
    );
}
