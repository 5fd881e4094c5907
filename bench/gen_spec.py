#!/usr/bin/env python3
"""Write an orchctl spec describing N projects with the content of
../shared/bench/hera_render.py, for the render benchmark.

usage: gen_spec.py N PIPELINES_DIR [VARIANT]

Every project `projNNNN` of the Hera baseline is one chain `projNNNN` here:
the five-stage DAG author -> clippy -> tests -> deploy -> acceptance, each
stage running agent `rex-<stage>` through the shared agent step, with

- the same nine parameters (repository, branch, workingDirectory, agent,
  taskId, model, prompt_mod, prNumber, ciJobName); like the Hera agent step,
  prompt_mod, prNumber and ciJobName default to "" and the others have none;
- the model passed from the `model` parameter to every stage (Hera passes
  `{{workflow.parameters.model}}`);
- one semaphore key per project repository (`repo.bench.projNNNN`, limit 1)
  held by every agent step (Hera: `<project>-repo` on the agent step);
- retry limit 3, OnFailure, backoff 30s x2 up to 10m;
- requests cpu 1 / memory 2Gi, limits cpu 2 / memory 4Gi;
- output parameter `pr-url`;
- image ghcr.io/5dlabs/agent:1.0.0, command /usr/local/bin/agent-run,
  namespace `agents`, a workspace volume at /workspace (Hera mounts one
  named `workspace`; orchctl needs its size to declare the claim).

One orchctl project (one pipelines directory, one `orchctl render`) holds
all N chains: that is how an organisation runs orchctl, and it is the one
model the tool has. The shared `agent-step` WorkflowTemplate is written once
instead of once per project (Hera's script copies it N times); each chain's
template carries more than Hera's DAG (security context, workspace claim,
labels, TTL, pod GC, deadline), so the output is larger, not smaller: the
comparison script reports both trees' sizes. The spec is split the way a team
would keep it: platform.yaml, agents.yaml and one file per project under
chains/. VARIANT (default 0) changes every chain's description, giving a
second spec whose output differs in every chain file.

bench/spec_gen.rs is the same generator in Rust, for the Criterion benches and
the crash-safety tests; the two write identical files.
"""
import os
import sys

STAGES = ["author", "clippy", "tests", "deploy", "acceptance"]
# (name, default) in the Hera script's order; None = no default (required).
PARAMS = [
    ("repository", None),
    ("branch", None),
    ("workingDirectory", None),
    ("agent", None),
    ("taskId", None),
    ("model", None),
    ("prompt_mod", ""),
    ("prNumber", ""),
    ("ciJobName", ""),
]


def project(i: int) -> str:
    return f"proj{i:04d}"


def platform(n: int) -> str:
    repos = "".join(f"    - bench/{project(i)}\n" for i in range(n))
    params = ""
    for name, default in PARAMS:
        params += f"  - name: {name}\n"
        if default is not None:
            params += f'    default: "{default}"\n'
    return f"""# The benchmark platform: {n} projects (see bench/gen_spec.py).
project:
  name: bench
  namespace: agents
  repositories:
{repos}
images:
  agent: ghcr.io/5dlabs/agent:1.0.0

runtime:
  image: agent
  command: [/usr/local/bin/agent-run]
  tiers:
    default:
      requests: {{ cpu: "1", memory: 2Gi }}
      limits: {{ cpu: "2", memory: 4Gi }}
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
      backoff: {{ duration: 30s, factor: 2, maxDuration: 10m }}

parameters:
{params}
concurrency:
  configMap: orchctl-semaphores
  semaphores:
    repo:
      per: repository
      limit: 1
"""


def agents() -> str:
    out = "agents:\n"
    for s in STAGES:
        out += f"""  rex-{s}:
    description: The {s} stage.
    prompt: You are the {s} agent. Do the {s} stage of the task.
    model: claude-sonnet-4-5
"""
    return out


def chain(i: int, variant: int) -> str:
    suffix = f" (variant {variant})" if variant else ""
    out = f"""chains:
  {project(i)}:
    description: The five-stage delivery DAG of {project(i)}.{suffix}
    steps:
"""
    prev = None
    for s in STAGES:
        out += f"      - name: {s}\n        agent: rex-{s}\n"
        if prev is not None:
            out += f"        after: [{prev}]\n"
        out += "        with:\n          model: ${params.model}\n"
        prev = s
    return out


def main() -> None:
    n, out = int(sys.argv[1]), sys.argv[2]
    variant = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(os.path.join(out, "chains"), exist_ok=True)
    files = {"platform.yaml": platform(n), "agents.yaml": agents()}
    for i in range(n):
        files[f"chains/{project(i)}.yaml"] = chain(i, variant)
    for rel, text in files.items():
        with open(os.path.join(out, rel), "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
