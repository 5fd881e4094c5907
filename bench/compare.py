#!/usr/bin/env python3
"""Time `orchctl render` against the Hera baseline, side by side.

usage: python3 bench/compare.py [--reps R] [--loop-reps L] [--ns 1,100,500,1000] [--out DIR] [--settle S]

For each N, bench/gen_spec.py writes an orchctl spec of N projects and
../shared/bench/hera_render.py renders the same N projects with Hera. The two
are run alternately (orchctl, Hera, Hera, orchctl, ...) R times each, every run
into a new output directory; the table reports medians. Also measured:

- peak memory: `Maximum resident set size` from /usr/bin/time -v (one extra
  run per tool and N; the rusage maximum of the timed runs is in results.json);
- orchctl against itself and the floor, under the same conditions: a render
  into a new directory, `render --check` and a `render` with nothing to do on
  the up-to-date tree, and at the largest N `cp -r` of the same output tree,
  run in rotation L times (the timed renders above each follow a Hera run,
  which leaves the caches cold; these runs are cheap, so there are more of
  them, for a steadier median on a busy machine), and `render --check` against
  the render of the same round: the median ratio, and how many rounds it won;
- the reference platform (pipelines/): render, render --check and, for the floor,
  `cp -r` of the same output tree, in rotation;
- the exponent k of time ~ N^k, fitted by least squares on log-log over
  N >= 100 (at N = 1 both tools are dominated by process start-up).

Outputs go to the work directory WORK (--out, default target/bench), where a
team's generated/ would be: on the disk. The previous run's outputs are deleted
at the start, and nothing is deleted while runs are timed. Each phase (an N,
the reference platform) starts with a `sync`, so the half gigabyte the phase
before wrote is not written back while this one is timed. On ext4 without a
journal, creating files near many recently freed inodes is several times
slower (see bench/README.md), so there the script then waits --settle seconds
before it times anything.

It creates a virtualenv (WORK/venv) with hera==7.1.0 and pyyaml, builds
orchctl in release mode, installs GNU time with apt if it is missing, and
writes the results to WORK/results.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERA = Path(os.environ.get("HERA_RENDER", ROOT.parent / "shared" / "bench" / "hera_render.py"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


# ext4 without a journal does not reuse an inode for 60 s after it was freed,
# or 360 s while its inode-table block is dirty, and scans past every such
# inode (fs/ext4/ialloc.c, recently_deleted) to create a file.
DISK_SETTLE_S = 370


def hot_symbols_found(exe: Path) -> str:
    """How many of the functions build.rs has the linker place together
    (linker/hot-symbols.txt) the executable still has: names go stale with
    edits and compiler upgrades (bench/hot_symbols.py rewrites the list)."""
    listed = [line.strip() for line in (ROOT / "linker" / "hot-symbols.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    nm = shutil.which("nm")
    if not nm:
        return f"{len(listed)} listed (nm not found, not checked)"
    listing = subprocess.run([nm, str(exe)], capture_output=True, text=True)
    if listing.returncode != 0:
        return f"{len(listed)} listed (the executable has no symbol table, not checked)"
    defined = {parts[-1] for parts in (line.split() for line in listing.stdout.splitlines()) if len(parts) == 3}
    return f"{sum(name in defined for name in listed)} of {len(listed)} found in the executable"


def linked_as(exe: Path) -> str:
    """How the executable is linked, from its ELF header (.cargo/config.toml
    and build.rs decide; RUSTFLAGS in the environment replace the former)."""
    with exe.open("rb") as f:
        elf = f.read(4096)
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return "not a 64-bit ELF file"
    order = "little" if elf[5] == 1 else "big"
    num = lambda at, size: int.from_bytes(elf[at:at + size], order)
    phoff, phentsize, phnum = num(32, 8), num(54, 2), num(56, 2)
    interp = any(num(phoff + i * phentsize, 4) == 3 for i in range(phnum))
    where = {2: "at a fixed address", 3: "position-independent"}.get(num(16, 2), "of another kind")
    return f"{'glibc linked dynamically' if interp else 'statically linked'}, {where}"


def mount_of(path: Path) -> tuple[str, str]:
    """(device, file system type) of the mount that holds `path` (Linux), else ("", "")."""
    best, found = "", ("", "")
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            mount = fields[1].replace("\\040", " ")
            inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, found = mount, (fields[0], fields[2])
    except OSError:
        pass
    return found


def holds_freed_inodes(device: str, kind: str) -> bool:
    """Whether the file system is ext2/3/4 without a journal (a journaled one has
    an entry `<device>-8` under /proc/fs/jbd2)."""
    if kind not in ("ext2", "ext3", "ext4"):
        return False
    name = Path(os.path.realpath(device)).name
    try:
        return not any(e.name.rsplit("-", 1)[0] == name for e in Path("/proc/fs/jbd2").iterdir())
    except OSError:
        return True


def ensure_time() -> str:
    if Path("/usr/bin/time").exists():
        return "/usr/bin/time"
    log("installing GNU time (apt-get install time)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    sh(sudo + ["apt-get", "update", "-qq"])
    sh(sudo + ["apt-get", "install", "-y", "-qq", "time"])
    return "/usr/bin/time"


def ensure_venv(work: Path) -> Path:
    venv = work / "venv"
    py = venv / "bin" / "python"
    probe = "import hera, yaml, importlib.metadata as m; assert m.version('hera') == '7.1.0'"
    if py.exists() and subprocess.run([str(py), "-c", probe], capture_output=True).returncode == 0:
        return py
    log(f"creating {venv} with hera==7.1.0 and pyyaml")
    sh([sys.executable, "-m", "venv", str(venv)])
    sh([str(py), "-m", "pip", "install", "-q", "hera==7.1.0", "pyyaml"])
    sh([str(py), "-c", probe])
    return py


def build_orchctl() -> Path:
    """`cargo build --release`, and the executable it made: cargo names it
    (target/<target>/release/orchctl with .cargo/config.toml's named target)."""
    log("cargo build --release")
    out = subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "orchctl",
                          "--message-format=json-render-diagnostics"],
                         cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    exes = [m["executable"] for m in map(json.loads, out.splitlines())
            if m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "orchctl"]
    assert exes, "cargo built no orchctl executable"
    return Path(exes[-1])


# Every run's stderr goes to one file, emptied before each run: a new
# temporary file per run would create and free an inode on the disk (/tmp is
# on it here) a few milliseconds before each timed run, the churn that
# DISK_SETTLE_S is about. Emptying a file frees blocks, not its inode.
_stderr = None


def run(cmd: list[str], cwd: Path | None = None, ok=(0,)) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, from the child's rusage) of one run."""
    global _stderr
    if _stderr is None:
        _stderr = tempfile.TemporaryFile()
    err = _stderr
    err.seek(0)
    err.truncate()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        err.seek(0)
        text = err.read().decode(errors="replace")
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{text}")
    return wall, rusage.ru_maxrss


def peak_rss(gnu_time: str, cmd: list[str]) -> int:
    """`Maximum resident set size` (KiB) reported by /usr/bin/time -v."""
    proc = subprocess.run([gnu_time, "-v"] + cmd, capture_output=True, text=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if not m:
        raise SystemExit(f"no RSS in /usr/bin/time output:\n{proc.stderr}")
    return int(m.group(1))


def tree_size(d: Path) -> tuple[int, int]:
    files = [p for p in d.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def fit_exponent(points: list[tuple[int, float]]) -> float:
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.1f} s"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} × {model} (nproc {len(os.sched_getaffinity(0))}), "
            f"Linux {platform.release()}, {rustc}, Python {platform.python_version()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="timed runs per tool and N (default 5)")
    ap.add_argument("--ns", default="1,100,500,1000", help="project counts (default 1,100,500,1000)")
    ap.add_argument("--out", type=Path, default=ROOT / "target" / "bench",
                    help="work directory (default target/bench; /dev/shm/... for tmpfs)")
    ap.add_argument("--loop-reps", type=int, default=25, help="rounds of the runs marked ‡ (default 25; each takes well under a second)")
    ap.add_argument("--settle", type=float, default=None,
                    help=f"seconds to wait after deleting the previous run's outputs (default: "
                         f"{DISK_SETTLE_S} on ext4 without a journal, else 0)")
    args = ap.parse_args()
    ns = [int(n) for n in args.ns.split(",")]
    work: Path = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)
    device, kind = mount_of(work)
    no_journal = holds_freed_inodes(device, kind)
    work_fs = (kind or "unknown") + (" without a journal" if no_journal else "")
    settle = args.settle if args.settle is not None else (DISK_SETTLE_S if no_journal else 0)
    if not HERA.exists():
        raise SystemExit(f"Hera baseline not found at {HERA} (set HERA_RENDER)")

    gnu_time = ensure_time()
    py = ensure_venv(work)
    exe = build_orchctl()
    log(f"machine: {machine()}")
    log(f"outputs: {work} ({work_fs})")
    hot = hot_symbols_found(exe)
    link = linked_as(exe)
    log(f"executable: {exe} ({link}); functions placed together (linker/hot-symbols.txt): {hot}")

    # The previous run's outputs go now, once; then the file system settles.
    old = [d for d in work.iterdir() if d.is_dir() and (d.name == "reference" or re.fullmatch(r"n\d+", d.name))]
    if old:
        for d in old:
            shutil.rmtree(d)
        if settle > 0:
            log(f"deleted the previous run's outputs; waiting {settle:.0f} s before timing: {work_fs} "
                "holds freed inodes back for minutes (--settle 0 to skip)")
            os.sync()
            time.sleep(settle)

    rows = []
    for n in ns:
        # Each phase writes up to half a gigabyte; flushed now, not while the
        # next phase is timed (bench/README.md: on its own this did not move
        # the reference render, but no phase should time another's write-back).
        os.sync()
        base = work / f"n{n}"
        pipelines = base / "pipelines"
        sh([sys.executable, str(ROOT / "bench" / "gen_spec.py"), str(n), str(pipelines)])
        # Every run writes into a new directory, and nothing is deleted while
        # runs are timed (see DISK_SETTLE_S): deleting would time the file
        # system's recovery instead of the tools.
        o_cmd = lambda d: [str(exe), "render", "--pipelines", str(pipelines), "--out", str(d)]
        h_cmd = lambda d: [str(py), str(HERA), str(n), str(d)]
        # Warm-up (page cache, Python bytecode cache), not timed.
        run(o_cmd(base / "orchctl-warm"))
        run(h_cmd(base / "hera-warm"))
        o_times, h_times, o_rss, h_rss = [], [], [], []
        for rep in range(args.reps):
            for which in ((0, 1) if rep % 2 == 0 else (1, 0)):
                if which == 0:
                    t, r = run(o_cmd(base / f"orchctl-{rep}"))
                    o_times.append(t)
                    o_rss.append(r)
                else:
                    t, r = run(h_cmd(base / f"hera-{rep}"))
                    h_times.append(t)
                    h_rss.append(r)
            log(f"N={n} rep {rep + 1}/{args.reps}: orchctl {ms(o_times[-1])}, hera {ms(h_times[-1])}")
        o_peak = peak_rss(gnu_time, o_cmd(base / "orchctl-rss"))
        h_peak = peak_rss(gnu_time, h_cmd(base / "hera-rss"))
        # orchctl against itself and the floor, under the same conditions:
        # a render into a new directory, `render --check` and a render with
        # nothing to do on the up-to-date tree, and at the largest N a `cp -r`
        # of the same tree, in rotation. (The renders above each follow a Hera
        # run of seconds that leaves the caches cold; these follow each other.)
        o_out, h_out = base / "orchctl-0", base / "hera-0"
        kinds = ["render", "check", "noop"] + (["cp"] if n == max(ns) else [])
        if n == max(ns):
            run(["cp", "-r", str(o_out), str(base / "cp-warm")])
        loop: dict[str, list[float]] = {k: [] for k in kinds}
        for rep in range(args.loop_reps):
            for i in range(len(kinds)):
                kind = kinds[(i + rep) % len(kinds)]
                if kind == "render":
                    cmd = o_cmd(base / f"orchctl-loop-{rep}")
                elif kind == "check":
                    cmd = o_cmd(o_out) + ["--check"]
                elif kind == "noop":
                    cmd = o_cmd(o_out)
                else:
                    cmd = ["cp", "-r", str(o_out), str(base / f"cp-{rep}")]
                loop[kind].append(run(cmd)[0])
        if n == max(ns):
            cp_times = loop["cp"]
            cp_s = statistics.median(cp_times)
        o_files, o_bytes = tree_size(o_out)
        h_files, h_bytes = tree_size(h_out)
        row = {
            "n": n,
            "orchctl_s": statistics.median(o_times),
            "hera_s": statistics.median(h_times),
            "orchctl_runs_s": o_times,
            "hera_runs_s": h_times,
            "orchctl_rss_kib": o_peak,
            "hera_rss_kib": h_peak,
            "orchctl_rusage_rss_kib": max(o_rss),
            "hera_rusage_rss_kib": max(h_rss),
            "loop_render_s": statistics.median(loop["render"]),
            "check_s": statistics.median(loop["check"]),
            "noop_s": statistics.median(loop["noop"]),
            # `--check` against the render of the same round: the machine's
            # drift over the rounds cancels out of each ratio.
            "check_vs_render_paired": statistics.median(
                c / r for c, r in zip(loop["check"], loop["render"])),
            "check_faster_rounds": sum(c < r for c, r in zip(loop["check"], loop["render"])),
            "loop_runs_s": loop,
            "orchctl_files": o_files,
            "orchctl_bytes": o_bytes,
            "hera_files": h_files,
            "hera_bytes": h_bytes,
        }
        row["ratio"] = row["hera_s"] / row["orchctl_s"]
        rows.append(row)

    big = max(ns)
    # The reference platform.
    ref_base = work / "reference"
    ref_cmd = lambda d: [str(exe), "render", "--pipelines", str(ROOT / "pipelines"), "--out", str(d)]
    os.sync()
    run(ref_cmd(ref_base / "warm"))
    run(["cp", "-r", str(ref_base / "warm"), str(ref_base / "cp-warm")])
    ref_render, ref_check, ref_cp = [], [], []
    for i in range(max(args.loop_reps, 10)):
        ref_render.append(run(ref_cmd(ref_base / f"out-{i}"))[0])
        ref_check.append(run(ref_cmd(ref_base / f"out-{i}") + ["--check"])[0])
        # The floor: the file system's cost of making the same tree.
        ref_cp.append(run(["cp", "-r", str(ref_base / "warm"), str(ref_base / f"cp-{i}")])[0])
    ref_rss = peak_rss(gnu_time, ref_cmd(ref_base / "rss"))
    # Process start-up alone, for scale.
    startup = statistics.median(run([str(exe), "--version"])[0] for _ in range(10))

    fit_ns = [r for r in rows if r["n"] >= 100]
    k_o = fit_exponent([(r["n"], r["orchctl_s"]) for r in fit_ns]) if len(fit_ns) >= 2 else float("nan")
    k_h = fit_exponent([(r["n"], r["hera_s"]) for r in fit_ns]) if len(fit_ns) >= 2 else float("nan")

    big_row = next(r for r in rows if r["n"] == big)
    lines = [
        f"Machine: {machine()}; outputs on {work_fs}.",
        f"{args.reps} alternating runs per tool and N, medians; every run into a new output directory.",
        "",
        "| N | orchctl render | Hera | Hera ÷ orchctl | orchctl peak RSS | Hera peak RSS | render ‡ | render --check ‡ | nothing to do ‡ | orchctl output | Hera output |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {ms(r['orchctl_s'])} | {ms(r['hera_s'])} | {r['ratio']:.0f}× | "
            f"{r['orchctl_rss_kib'] / 1024:.1f} MB | {r['hera_rss_kib'] / 1024:.1f} MB | "
            f"{ms(r['loop_render_s'])} | {ms(r['check_s'])} | {ms(r['noop_s'])} | "
            f"{r['orchctl_files']} files, {r['orchctl_bytes'] / 1e6:.2f} MB | "
            f"{r['hera_files']} files, {r['hera_bytes'] / 1e6:.2f} MB |"
        )
    lines += [
        "",
        f"‡ orchctl alone, {args.loop_reps} rounds in rotation: a render into a new directory, "
        "`render --check` and a render with nothing to do on the up-to-date tree (and `cp -r` at "
        "the largest N); medians.",
        "",
        f"- Reference platform (`pipelines/`): render {ms(statistics.median(ref_render))}, "
        f"render --check {ms(statistics.median(ref_check))}, peak RSS {ref_rss / 1024:.1f} MB "
        f"(process start-up alone: {ms(startup)}; `cp -r` of the same output tree, in rotation: "
        f"{ms(statistics.median(ref_cp))}).",
        f"- Floor at N={big}: `cp -r` of the same output tree {ms(cp_s)}, in rotation with "
        f"orchctl's runs ‡; orchctl render ‡ is {big_row['loop_render_s'] / cp_s:.1f}× that "
        f"(the render timed after Hera: {big_row['orchctl_s'] / cp_s:.1f}×).",
        "- `render --check` ÷ `render` ‡ within each round, median: " + ", ".join(
            f"N={r['n']} {round(100 * (r['check_vs_render_paired'] - 1)):+d}% "
            f"(faster in {r['check_faster_rounds']} of {args.loop_reps} rounds)" for r in rows) + ".",
        f"- Time ~ N^k fitted over N ≥ 100: orchctl k = {k_o:.2f}, Hera k = {k_h:.2f}.",
        f"- Executable: {link}; functions the linker placed together (linker/hot-symbols.txt): {hot}.",
    ]
    table = "\n".join(lines)
    print(table)
    (work / "results.md").write_text(table + "\n")
    (work / "results.json").write_text(json.dumps({
        "machine": machine(),
        "outputs_fs": work_fs,
        "reps": args.reps,
        "rows": rows,
        "cp_floor_s": cp_s,
        "cp_runs_s": cp_times,
        "reference_render_s": statistics.median(ref_render),
        "reference_check_s": statistics.median(ref_check),
        "reference_cp_s": statistics.median(ref_cp),
        "reference_rss_kib": ref_rss,
        "startup_s": startup,
        "hot_symbols": hot,
        "linked_as": link,
        "exponent_orchctl": k_o,
        "exponent_hera": k_h,
    }, indent=2) + "\n")
    log(f"results in {work / 'results.md'} and results.json")


if __name__ == "__main__":
    main()
