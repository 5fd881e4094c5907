#!/usr/bin/env python3
"""Write linker/hot-symbols.txt: the functions orchctl runs, for the linker to place together.

usage: python3 bench/hot_symbols.py [--exe PATH] [--out FILE]

A reference render runs about 930 of the 10,500 functions in the executable's
8.7 MB of machine code (glibc's included, as .cargo/config.toml links it in),
spread over all of it. Every page of code touched for the first time is a
page fault, which maps the 64 KiB around it. build.rs hands this file to the
linker (`--symbol-ordering-file`), which puts these functions first and side by
side, so the same work touches far fewer pages (see build.rs for the numbers).

The list is taken, not guessed: each command below runs under valgrind's
callgrind, which records every function that executes, and the script writes
the mangled names of those in orchctl's executable, the commands' order kept
(start-up first, then a render, then the rest). It needs valgrind and a release
build (`cargo build --release`, done here unless --exe is given).

Names carry hashes that change with the compiler version and with edits to the
function, so rerun this after such changes (`just hot-symbols`). A stale entry
costs nothing (the linker skips names it does not find); the functions it
names just lose their place. bench/compare.py reports how many of the names
the benchmarked executable still has.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "linker" / "hot-symbols.txt"

# Lines of a callgrind profile that name an object (`ob=`, `cob=`) or a
# function (`fn=`, `cfn=`), with callgrind's name compression: `(id) name`
# the first time, `(id)` after.
LINE = re.compile(r"^(ob|cob|fn|cfn)=\((\d+)\)(?: (.*))?$")


def functions_of(profile: Path, exe: Path) -> list[str]:
    """Mangled names of the functions of `exe` in one callgrind profile."""
    objects: dict[str, str] = {}
    names: dict[str, str] = {}
    current = called = None
    found: list[str] = []
    for line in profile.read_text(errors="replace").splitlines():
        m = LINE.match(line)
        if not m:
            continue
        key, ident, name = m.groups()
        table = objects if key in ("ob", "cob") else names
        if name:
            table[ident] = name
        if key == "ob":
            current = objects[ident]
        elif key == "cob":
            called = objects[ident]
        else:
            owner = current if key == "fn" else (called or current)
            if key == "cfn":
                called = None
            if owner and Path(owner).resolve() == exe:
                # `'2` marks a recursive call's depth; `0x...` and
                # `(below main)` are not symbols.
                symbol = re.sub(r"'\d+$", "", names[ident])
                if not symbol.startswith(("0x", "(")):
                    found.append(symbol)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exe", type=Path, help="orchctl executable (default: `cargo build --release` and the one it makes)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"file to write (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    if args.exe is None:
        sys.path.insert(0, str(ROOT / "bench"))
        from compare import build_orchctl

        args.exe = build_orchctl()
    exe = args.exe.resolve()
    pipelines = str(ROOT / "pipelines")
    with tempfile.TemporaryDirectory(prefix="orchctl-hot-") as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_spec.py"), "100", str(work / "n100")],
                       check=True, stdout=subprocess.DEVNULL)
        out = str(work / "generated")
        commands = [
            ("--version", ["--version"]),
            ("render of pipelines/", ["render", "--pipelines", pipelines, "--out", out]),
            ("render --check of it", ["render", "--pipelines", pipelines, "--out", out, "--check"]),
            ("render again (nothing to do)", ["render", "--pipelines", pipelines, "--out", out]),
            ("render of bench/gen_spec.py's 100 projects",
             ["render", "--pipelines", str(work / "n100"), "--out", str(work / "n100-generated")]),
        ]
        order: list[str] = []
        seen: set[str] = set()
        for i, (_, command) in enumerate(commands):
            profile = work / f"callgrind.{i}"
            subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={profile}",
                            str(exe)] + command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for symbol in functions_of(profile, exe):
                if symbol not in seen:
                    seen.add(symbol)
                    order.append(symbol)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "# Functions orchctl runs, in the order the linker places them (build.rs).",
        "# Written by bench/hot_symbols.py; rerun it (`just hot-symbols`) after a",
        "# compiler upgrade or large changes. Profiled, in this order:",
    ] + [f"#   orchctl {label}" for label, _ in commands]
    args.out.write_text("\n".join(header + order) + "\n")
    print(f"{len(order)} functions written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
