//! The benchmark spec generator in Rust, shared by `benches/stages.rs` and
//! `tests/crash.rs` (both include this file with `#[path]`). It writes
//! exactly what `bench/gen_spec.py` writes; see that file for what the spec
//! holds and why it is comparable to `../shared/bench/hera_render.py`.

use std::fmt::Write as _;
use std::path::Path;

const STAGES: &[&str] = &["author", "clippy", "tests", "deploy", "acceptance"];

/// Write the spec of `n` projects into the pipelines directory `dir`.
/// `variant` is appended to every chain description, so two variants give
/// two specs whose every chain template differs (0: none).
pub fn generate(n: usize, dir: &Path, variant: u32) {
    let project = |i: usize| format!("proj{i:04}");
    std::fs::create_dir_all(dir.join("chains")).unwrap();
    let mut platform = format!(
        "# The benchmark platform: {n} projects (see bench/gen_spec.py).\nproject:\n  name: bench\n  namespace: agents\n  repositories:\n"
    );
    for i in 0..n {
        let _ = writeln!(platform, "    - bench/{}", project(i));
    }
    platform.push_str(
        r#"
images:
  agent: ghcr.io/5dlabs/agent:1.0.0

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
  outputs: [pr-url]
  concurrency: [repo]
  defaults:
    retry:
      limit: 3
      policy: OnFailure
      backoff: { duration: 30s, factor: 2, maxDuration: 10m }

parameters:
  - name: repository
  - name: branch
  - name: workingDirectory
  - name: agent
  - name: taskId
  - name: model
  - name: prompt_mod
    default: ""
  - name: prNumber
    default: ""
  - name: ciJobName
    default: ""

concurrency:
  configMap: orchctl-semaphores
  semaphores:
    repo:
      per: repository
      limit: 1
"#,
    );
    std::fs::write(dir.join("platform.yaml"), platform).unwrap();
    let mut agents = String::from("agents:\n");
    for s in STAGES {
        let _ = write!(
            agents,
            "  rex-{s}:\n    description: The {s} stage.\n    prompt: You are the {s} agent. Do the {s} stage of the task.\n    model: claude-sonnet-4-5\n"
        );
    }
    std::fs::write(dir.join("agents.yaml"), agents).unwrap();
    let suffix = if variant == 0 {
        String::new()
    } else {
        format!(" (variant {variant})")
    };
    for i in 0..n {
        let p = project(i);
        let mut chain = format!(
            "chains:\n  {p}:\n    description: The five-stage delivery DAG of {p}.{suffix}\n    steps:\n"
        );
        let mut prev: Option<&str> = None;
        for s in STAGES {
            let _ = writeln!(chain, "      - name: {s}\n        agent: rex-{s}");
            if let Some(prev) = prev {
                let _ = writeln!(chain, "        after: [{prev}]");
            }
            chain.push_str("        with:\n          model: ${params.model}\n");
            prev = Some(s);
        }
        std::fs::write(dir.join(format!("chains/{p}.yaml")), chain).unwrap();
    }
}
