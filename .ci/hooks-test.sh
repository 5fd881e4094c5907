#!/usr/bin/env bash
# Exercise .pre-commit-hooks.yaml with the real pre-commit framework: in a
# scratch repository holding a copy of pipelines/ and generated/, the
# render-check hook must pass, and fail once the spec changes.
# Usage: hooks-test.sh ORCHCTL_REPO VENV
set -euo pipefail
repo="$1"; venv="$2"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orchctl-hook-target}"
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
export PRE_COMMIT_HOME="${PRE_COMMIT_HOME:-$HOME/.cache/orchctl-pre-commit}"
scratch=$(mktemp -d)
cp -r "$repo/pipelines" "$repo/generated" "$scratch/"
cd "$scratch"
git init -q
git add -A
git -c user.name=ci -c user.email=ci@localhost commit -qm scratch
"$venv/bin/pre-commit" try-repo "$repo" orchctl-render-check --all-files
sed -i 's/limit: 12 /limit: 13 /' pipelines/platform.yaml
git -c user.name=ci -c user.email=ci@localhost commit -qam drift
if "$venv/bin/pre-commit" try-repo "$repo" orchctl-render-check --all-files > drift.log 2>&1; then
  cat drift.log; echo "the hook passed a stale generated/"; exit 1
fi
grep -q "generated/ is stale" drift.log || { cat drift.log; exit 1; }
echo "hooks: render-check passes on a current tree and fails on drift"
