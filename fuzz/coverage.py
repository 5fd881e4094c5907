#!/usr/bin/env python3
"""Where the fuzz corpus's coverage lies: covered edges per crate.

usage: python3 fuzz/coverage.py CORPUS_DIR [--target load|spec] [--until T ...]
                                [--every MINUTES --since T] [--detail N]
                                [--save FILE] [--against FILE]

Runs a built target (`cargo +nightly fuzz build load`, `... build -s none spec`) once over the
corpus, or over the inputs found up to each time T (a corpus file's mtime is
when the fuzzer added it; T as Unix seconds or `HH:MM` today, UTC), with
libFuzzer's -print_coverage=1, and prints the edges covered in orchctl's own
code, in each dependency and in the standard library, with the growth from one
cutoff to the next; --detail N lists the N functions that gained most between
the last two cutoffs. --save FILE keeps the last cutoff's counts, and a later
call with --against FILE starts from them, so that a long run is measured at
each cutoff with one pass over the corpus instead of one per cutoff so far.
A fuzzing run whose late inputs add edges only inside a dependency has stopped
finding new paths through orchctl.
"""

import argparse
import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "target/x86_64-unknown-linux-gnu/release")
TARGET = os.path.join(TARGETS, "load")
LINE = re.compile(r"^(?:UN)?COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) (.*) (\S+):\d+$")
CRATE = re.compile(r"/registry/src/[^/]+/([A-Za-z0-9_\-]+?)-\d[^/]*/")


def group(path):
    """orchctl, a dependency by name, or std."""
    if path.startswith(os.path.dirname(HERE) + "/src/"):
        return "orchctl"
    m = CRATE.search(path)
    if m:
        return m.group(1)
    if path.startswith("/rustc/"):
        return "std"
    return "other"


def coverage(files):
    """Covered and total edges per group, over `files`."""
    # Beside the corpus, not in it (the fuzzer may be writing there), and on
    # the same file system, for the links.
    beside = os.path.dirname(os.path.dirname(os.path.abspath(files[0])))
    with tempfile.TemporaryDirectory(dir=beside) as d:
        for f in files:
            os.link(f, os.path.join(d, os.path.basename(f)))
        out = subprocess.run(
            [TARGET, "-runs=0", "-print_coverage=1", "-max_len=16384", "-timeout=60", d],
            # Coverage only: no quarantine or leak check, which slow a run
            # over a corpus of specs that compile several times over.
            env=dict(os.environ, ASAN_OPTIONS="quarantine_size_mb=0:detect_leaks=0:malloc_context_size=0"),
            capture_output=True,
            text=True,
            check=False,
        )
    covered = collections.Counter()
    total = collections.Counter()
    functions = collections.Counter()
    for line in (out.stdout + out.stderr).splitlines():
        m = LINE.match(line)
        if m:
            g = group(m.group(4))
            covered[g] += int(m.group(1))
            total[g] += int(m.group(2))
            functions[(g, m.group(3))] += int(m.group(1))
    if not total:
        sys.exit(f"no coverage printed by {TARGET}:\n{out.stderr[-2000:]}")
    return covered, total, functions


def when(text):
    if ":" in text:
        h, m = map(int, text.split(":"))
        today = datetime.datetime.now(datetime.timezone.utc).replace(
            hour=h, minute=m, second=0, microsecond=0
        )
        return today.timestamp()
    return float(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--until", action="append", default=[], help="a cutoff time")
    ap.add_argument("--since", help="with --every: the first cutoff")
    ap.add_argument("--every", type=float, help="minutes between cutoffs, up to now")
    ap.add_argument("--detail", type=int, default=0, help="functions to list")
    ap.add_argument("--save", help="write the last cutoff's counts to this file (JSON)")
    ap.add_argument("--against", help="a file from --save: the row to start from")
    ap.add_argument(
        "--target",
        default="load",
        help="the fuzz target the corpus is for, or the path of its binary; it must be built"
        " with a sanitizer (`spec` is fuzzed with -s none, which prints no coverage: build"
        " it again with --target-dir to measure)",
    )
    args = ap.parse_args()
    global TARGET
    TARGET = args.target if "/" in args.target else os.path.join(TARGETS, args.target)
    if not shutil.which(TARGET):
        sys.exit(f"{TARGET} is missing: run `cargo +nightly fuzz build {args.target}` first")
    files = [os.path.join(args.corpus, f) for f in os.listdir(args.corpus)]
    files = [f for f in files if os.path.isfile(f)]
    stamped = sorted((os.stat(f).st_mtime, f) for f in files)
    cutoffs = [when(t) for t in args.until]
    if args.every:
        t = when(args.since) if args.since else stamped[0][0]
        while t < stamped[-1][0] + args.every * 60:
            cutoffs.append(t)
            t += args.every * 60
    cutoffs = sorted(cutoffs) or [stamped[-1][0]]
    rows = []
    if args.against:
        with open(args.against) as f:
            saved = json.load(f)
        functions = collections.Counter(
            {(g, name): n for g, name, n in saved["functions"]}
        )
        rows.append(
            (
                saved["until"],
                saved["inputs"],
                collections.Counter(saved["covered"]),
                collections.Counter(saved["total"]),
                functions,
            )
        )
    for cut in cutoffs:
        chosen = [f for m, f in stamped if m <= cut]
        covered, total, functions = coverage(chosen)
        rows.append((cut, len(chosen), covered, total, functions))
    groups = sorted(
        rows[-1][2], key=lambda g: (g != "orchctl", -rows[-1][2][g])
    )
    shown = [g for g in groups if any(r[2][g] for r in rows)][:8]
    head = ["up to (UTC)", "inputs"] + shown + ["all"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    prev = None
    for cut, n, covered, _, _ in rows:
        stamp = datetime.datetime.fromtimestamp(cut, datetime.timezone.utc).strftime("%H:%M")
        cells = [stamp, str(n)]
        for g in shown + [None]:
            c = sum(covered.values()) if g is None else covered[g]
            if prev is None:
                cells.append(str(c))
            else:
                p = sum(prev.values()) if g is None else prev[g]
                cells.append(f"{c} (+{c - p})")
        print("| " + " | ".join(cells) + " |")
        prev = covered
    last = rows[-1]
    if args.save:
        with open(args.save, "w") as f:
            json.dump(
                {
                    "until": last[0],
                    "inputs": last[1],
                    "covered": last[2],
                    "total": last[3],
                    "functions": [[g, name, n] for (g, name), n in last[4].items()],
                },
                f,
            )
    print()
    print(
        "edges covered of those instrumented, last row: "
        + ", ".join(f"{g} {last[2][g]}/{last[3][g]}" for g in shown)
    )
    if args.detail and len(rows) > 1:
        before, after = rows[-2][4], rows[-1][4]
        gains = sorted(
            ((after[k] - before[k], k) for k in after if after[k] > before[k]),
            reverse=True,
        )
        print()
        print("functions that gained edges in the last interval:")
        for gain, (g, name) in gains[: args.detail]:
            print(f"  +{gain}  [{g}] {name[:150]}")


if __name__ == "__main__":
    main()

