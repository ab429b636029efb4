"""chainrule against PyTorch and hand-written NumPy on the workloads of issue 5.

    python benchmarks/run.py                       # everything; writes BENCHMARKS.md
    python benchmarks/run.py --quick               # smoke test, 2 threads only, prints only
    python benchmarks/run.py --workloads W1,W3 --threads 1 --rounds 5
    python benchmarks/run.py --check               # hand-written gradients vs PyTorch

Each (workload, library, thread count) runs in a fresh process (``worker.py``) with
OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = n set before NumPy loads, and
torch.set_num_threads(n) / chainrule.set_num_threads(n); one library per process, so the peak
resident set is that library's.  In each of ``--rounds`` rounds, the three libraries' processes
are started and warmed up, then each timed run is cut into ``--pieces`` pieces (runs of
consecutive steps) that the libraries run in turn: every library its first piece, then every
library its second (starting with the next library), and so on.  The machine's speed moves from
one second to the next on a shared VM (by 30 % and more); taking turns piece by piece, a slow
moment slows all three rather than one of them.  After every piece (and set-up, and reloading
the weights) the library that ran is left to go quiet: OpenBLAS's threads spin for about 0.1 s
after a call and would take a core from the next one.
When OPENBLAS_CORETYPE is set, NumPy and chainrule run both
with the environment as it is and with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset."""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import harness
from workloads import WORKLOADS

HERE = Path(__file__).resolve().parent
LIBS = ("torch", "numpy", "chainrule")
LIB_TITLES = {"torch": "PyTorch", "numpy": "hand-written NumPy", "chainrule": "chainrule"}


# ---- running the workers -----------------------------------------------------------------------

def env_variants(threads: int) -> list[tuple[str, dict]]:
    """(label, environment) pairs to run NumPy and chainrule under."""
    env = dict(os.environ)
    for var in harness.THREAD_VARS:
        env[var] = str(threads)
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if not coretype:
        return [("default", env)]
    l2 = os.environ.get("OPENBLAS_L2_SIZE")
    label = f"OPENBLAS_CORETYPE={coretype}" + (f", OPENBLAS_L2_SIZE={l2}" if l2 else "")
    unset = {k: v for k, v in env.items() if k not in harness.CORETYPE_VARS}
    return [(label, env), ("CORETYPE/L2_SIZE unset", unset)]


class Server:
    """One library's ``worker.py --serve`` process for one round: set up and warmed up on start,
    then told which steps to time. Every command gets one answer line; after each, the process
    is left to go quiet (``harness.wait_quiet``) before anything else runs. A failure
    (chainrule's reported error, another library's traceback, no answer within ``timeout``
    seconds) ends it and leaves the reason in ``result``."""

    def __init__(self, workload: str, lib: str, threads: int, quick: bool, env: dict,
                 timeout: float):
        self.lib = lib
        self.result: dict | None = None
        self.steps = 0
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile("w+")
        self.pending = b""  # what the worker wrote past the last answer read
        cmd = [sys.executable, str(HERE / "worker.py"), workload, lib, "--threads", str(threads),
               "--serve"] + (["--quick"] if quick else [])
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        line = self._ask(None, "READY ")
        if line is not None:
            self.steps = int(line.split()[1])

    @property
    def alive(self) -> bool:
        return self.result is None

    def _fail(self, why: str) -> None:
        self.proc.kill()
        self.proc.wait()
        self.stderr.seek(0)
        err = self.stderr.read()
        if self.lib != "chainrule":
            sys.stderr.write(err)  # PyTorch's or NumPy's failure is the benchmark's bug: show it
        tail = (err.strip().splitlines() or ["no output"])[-1]
        self.result = {"error": f"{why}: {tail}"}

    def _answer(self) -> str | None:
        """The worker's next line; None (and ``result`` set) if it ended or did not answer."""
        out = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                self._fail(f"no answer within {self.timeout:.0f} s")
                return None
            chunk = os.read(out, 1 << 16)
            if not chunk:
                self.proc.wait()
                self._fail(f"worker exited with status {self.proc.returncode}")
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        line = line.decode()
        if line.startswith("RESULT "):  # the answer to "result", or chainrule's reported failure
            self.result = json.loads(line[len("RESULT "):])
            self.proc.wait()
            return None
        return line

    def _ask(self, command: str | None, expect: str) -> str | None:
        """Send ``command`` (None: only listen), read the answer, which must start with
        ``expect``; then wait until the process's threads stop spinning, so that they do not take
        a core from the library that runs next."""
        if not self.alive:
            return None
        if command is not None:
            try:
                self.proc.stdin.write(command.encode() + b"\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass  # it has ended: _answer reports how
        line = self._answer()
        if line is not None and not line.startswith(expect):
            self._fail(f"worker answered {line[:80]!r} to {command or 'its start'!r}")
            return None
        if self.alive:
            harness.wait_quiet(self.proc.pid)
        return line

    def load(self) -> None:
        """Start a timed run from the initial weights."""
        self._ask("load", "LOADED")

    def run(self, i: int, j: int) -> None:
        """Time steps i to j-1 of the timed run."""
        self._ask(f"run {i} {j}", "TIME ")

    def finish(self) -> dict:
        """The worker's result, or why it has none; the process has ended."""
        self._ask("result", "RESULT ")  # _answer takes the RESULT line and sets ``result``
        self.stderr.close()
        return self.result


def run_round(workload: str, libs: list[str], threads: int, repeats: int, pieces: int,
              quick: bool, env: dict, timeout: float, turn: int) -> dict[str, dict]:
    """One round: a fresh process per library, set up and warmed up one after another; then
    ``repeats`` timed runs, each cut into ``pieces`` pieces (at most one per step) that the
    libraries run in turn, starting with a different library on each piece. A timed run's time
    is its pieces' sum."""
    servers = [Server(workload, lib, threads, quick, env, timeout) for lib in libs]
    steps = max((s.steps for s in servers), default=0)
    bounds = sorted({round(k * steps / pieces) for k in range(pieces + 1)})
    for _ in range(repeats):
        for s in servers:
            s.load()
        for k, (i, j) in enumerate(zip(bounds, bounds[1:])):
            start = (turn + k) % len(servers)
            for s in servers[start:] + servers[:start]:
                s.run(i, j)
    return {s.lib: s.finish() for s in servers}


def merge_rounds(before: dict | None, r: dict) -> dict:
    """One library's results over the rounds so far: all timed runs, the highest peaks."""
    if before is None or "error" in before:
        return before or r
    if "error" in r:
        return r
    merged = dict(before, times=before["times"] + r["times"])
    for key in ("peak_process_mb", "peak_workload_mb"):
        if before.get(key) is not None and r.get(key) is not None:
            merged[key] = max(before[key], r[key])
    return merged


def describe(r: dict) -> str:
    if "error" in r:
        return r["error"]
    t = r["times"]
    extra = (f"loss {r['loss']:.6g}" if "loss" in r else f"Σ|Hv| {r['hv_abs_sum']:.6g}"
             if "hv_abs_sum" in r else f"|logits| {r['logits_abs_sum']:.6g}")
    return (f"{statistics.median(t):8.3f} s  [{min(t):.3f} - {max(t):.3f}]  {extra}  "
            f"peak RSS {r['peak_process_mb']:.0f} MiB")


# ---- tables ------------------------------------------------------------------------------------

def _med(r: dict | None) -> float | None:
    return statistics.median(r["times"]) if r and "times" in r else None


def _time_cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if "times" not in r:
        return "n/a"
    t = r["times"]
    return f"{statistics.median(t):.3f} ({min(t):.3f}–{max(t):.3f})"


def _goal(value: float | None, goal: float | None, at_least: bool) -> str:
    if value is None:
        return "n/a"
    if goal is None:
        return f"{value:.2f}"
    met = value >= goal if at_least else value <= goal
    return f"{value:.2f} {'✓' if met else '✗'} ({'≥' if at_least else '≤'} {goal:g})"


def _close(a: float, b: float, rel: float, floor: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(abs(b), floor / rel)


def agreement(w, r: dict, ref: dict | None) -> str:
    """Does result r agree with PyTorch's (ref)?  Catches a wrong backward or a wrong model."""
    if ref is None or "times" not in ref or "times" not in r:
        return ""
    if w.mode == "train":
        ok = _close(r["loss"], ref["loss"], 1e-3) and _close(r["param_abs_sum"],
                                                             ref["param_abs_sum"], 1e-4)
        if not ok and _close(r["loss"], ref["loss"], 0.03) and _close(
                r["param_abs_sum"], ref["param_abs_sum"], 0.02):
            dl = abs(r["loss"] - ref["loss"]) / abs(ref["loss"])
            dp = abs(r["param_abs_sum"] - ref["param_abs_sum"]) / abs(ref["param_abs_sum"])
            return f"drifts (loss {100 * dl:.1f} %, Σ|w| {100 * dp:.2f} %)"
    elif w.mode == "hvp":  # the same weights and batch in both: no drift, each block to 1e-4
        ok = all(_close(a, b, 1e-4) for a, b in zip(r["hv_abs_sums"], ref["hv_abs_sums"]))
    else:
        moved = sum(abs(a - b) for a, b in zip(r["class_counts"], ref["class_counts"]))
        ok = (_close(r["logits_abs_sum"], ref["logits_abs_sum"], 1e-4)
              and moved <= 1e-3 * sum(ref["class_counts"]))
    return "agrees" if ok else "MISMATCH"


def tables(results: dict, order: list[tuple]) -> list[str]:
    """Markdown tables: time, peak memory, agreement with PyTorch."""
    out = ["## Time (seconds: median (min–max) of the timed runs, all rounds)", "",
           "| Workload | Threads | BLAS env | PyTorch | hand-written NumPy | chainrule "
           "| PyTorch / chainrule | chainrule / NumPy | PyTorch / NumPy |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, threads, variant in order:
        w = WORKLOADS[name]
        rt = results.get((name, threads, order_variant0(order, name, threads), "torch"))
        rn = results.get((name, threads, variant, "numpy"))
        rc = results.get((name, threads, variant, "chainrule"))
        t, n, c = _med(rt), _med(rn), _med(rc)
        out.append(
            f"| {name} | {threads} | {variant} | {_time_cell(rt)} | {_time_cell(rn)} "
            f"| {_time_cell(rc)} "
            f"| {_goal(t / c if t and c else None, w.goal_torch, True)} "
            f"| {_goal(c / n if c and n else None, w.goal_numpy, False)} "
            f"| {_goal(t / n if t and n else None, None, True)} |")

    out += ["", "## Peak resident set (MiB)", "",
            "Whole process (`ru_maxrss`: interpreter, library, data and workload), and in brackets "
            "the rise during warm-up and timed runs above the resident set after setup "
            "(kernel high-water mark reset with `/proc/self/clear_refs`).", "",
            "| Workload | Threads | BLAS env | PyTorch | hand-written NumPy | chainrule "
            "| chainrule ≤ PyTorch |", "|---|---|---|---|---|---|---|"]

    def mem(r):
        if r is None:
            return "—"
        if "times" not in r:
            return "n/a"
        rise = ("" if r.get("peak_workload_mb") is None
                else f" (+{r['peak_workload_mb'] - r['rss_setup_mb']:.0f})")
        return f"{r['peak_process_mb']:.0f}{rise}"

    for name, threads, variant in order:
        w = WORKLOADS[name]
        rt = results.get((name, threads, order_variant0(order, name, threads), "torch"))
        rn = results.get((name, threads, variant, "numpy"))
        rc = results.get((name, threads, variant, "chainrule"))
        if rt and rc and "times" in rt and "times" in rc:
            ok = rc["peak_process_mb"] <= rt["peak_process_mb"]
            verdict = ("✓" if ok else "✗") + ("" if w.memory_goal else " (no goal)")
        else:
            verdict = "n/a"
        out.append(f"| {name} | {threads} | {variant} | {mem(rt)} | {mem(rn)} | {mem(rc)} "
                   f"| {verdict} |")

    out += ["", "## Agreement with PyTorch (same data, same initial weights)", "",
            "Training: final loss of the last timed repeat (every repeat starts from the initial "
            "weights) and the sum of |weights|; inference: sum of |logits| and the "
            "predicted-class counts; Hessian-vector products: the sum of |Hv| of the last HVP "
            "(shown), and of each parameter's block to 1e-4. *drifts*: within 3 % (loss) and 2 % "
            "(weights) but not within 0.1 % / 0.01 %. Over hundreds of float32 SGD steps, "
            "last-bit rounding differences (the order of a sum, one or two BLAS threads) grow: "
            "the hand-written loop and PyTorch drift apart too. One step's gradients and a few "
            "steps' weights are compared to 1e-7 by `python benchmarks/run.py --check`.", "",
            "| Workload | Threads | BLAS env | PyTorch | hand-written NumPy | chainrule |",
            "|---|---|---|---|---|---|"]
    for name, threads, variant in order:
        w = WORKLOADS[name]
        ref = results.get((name, threads, order_variant0(order, name, threads), "torch"))
        cells = []
        for lib in LIBS:
            r = ref if lib == "torch" else results.get((name, threads, variant, lib))
            if r is None:
                cells.append("—")
            elif "times" not in r:
                cells.append("n/a")
            else:
                v = r[{"train": "loss", "infer": "logits_abs_sum", "hvp": "hv_abs_sum"}[w.mode]]
                mark = "" if lib == "torch" else " " + agreement(w, r, ref)
                cells.append(f"{v:.6g}{mark}")
        out.append(f"| {name} | {threads} | {variant} | " + " | ".join(cells) + " |")

    errors = sorted({r["error"] for r in results.values() if "error" in r})
    if errors:
        out += ["", "Not measured:", ""] + [f"- {e}" for e in errors]
    return out


def order_variant0(order: list[tuple], name: str, threads: int) -> str:
    """The first (environment-as-set) variant label, under which PyTorch ran."""
    return next(v for n, t, v in order if n == name and t == threads)


_BUSY = 0.25  # cores taken by other processes, on average, above which the run is flagged


def _cores(others) -> str:
    return "an unknown share" if others is None else f"{others:.2f}"


def machine(results: dict, args, load_before, load_after, others) -> list[str]:
    def version(pkg):
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    try:
        commit = subprocess.run(["git", "-C", str(harness.REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "no commit"
    except OSError:
        commit = "unknown"
    blas_rows = {}
    for (name, threads, variant, lib), r in results.items():
        for b in r.get("blas", []):
            key = (lib, threads, variant, b.get("internal_api"), b.get("architecture"),
                   b.get("num_threads"), b.get("version"), b.get("filepath"))
            blas_rows[key] = None
    out = [
        "## Machine", "",
        f"- CPU: {harness.cpu_model()}, {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable)",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, "
        f"PyTorch {version('torch')}, chainrule {harness.chainrule_version()} "
        f"(working tree at {commit}), threadpoolctl {version('threadpoolctl')}",
        f"- Load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} (after "
        f"includes this run's own work); other processes, and time the hypervisor stole, took "
        f"{_cores(others)} cores on average during the run (`/proc/stat` minus this run's CPU "
        "time)",
        "- OPENBLAS_CORETYPE in the environment: "
        f"{os.environ.get('OPENBLAS_CORETYPE', 'not set')}; "
        f"OPENBLAS_L2_SIZE: {os.environ.get('OPENBLAS_L2_SIZE', 'not set')}",
        "- Threads: each configuration in a fresh process with OMP_NUM_THREADS = "
        "OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = n, and `torch.set_num_threads(n)` / "
        "`chainrule.set_num_threads(n)`",
        f"- Repeats: {args.rounds} rounds; in each, a fresh process per library (warm-up, "
        f"then {args.repeats} timed run{'s' if args.repeats > 1 else ''}, each from the initial "
        f"weights), the timed runs cut into {args.pieces} pieces that the libraries run in turn "
        "(each left to go quiet before the next starts)"
        + ("; **--quick: shortened workloads, not representative**" if args.quick else ""),
        "", "BLAS and OpenMP libraries each process loaded (threadpoolctl `threadpool_info()`):",
        "",
        "| Library | Threads | BLAS env | internal_api | architecture | num_threads | version "
        "| file |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(blas_rows, key=lambda k: tuple(map(str, k))):
        out.append("| " + " | ".join(str(k) for k in key) + " |")
    calls = sorted({r["thread_call"] for r in results.values() if "thread_call" in r})
    if calls:
        out += ["", "Thread calls made: " + ", ".join(f"`{c}`" for c in calls) + "."]
    torch_info = sorted({(r["threads"], r["torch_threads"]) for r in results.values()
                         if "torch_threads" in r})
    if torch_info:
        out += ["", "PyTorch links MKL and oneDNN statically, so threadpoolctl does not list them "
                "(the OpenBLAS rows under torch are NumPy's, loaded for the data); "
                "PyTorch reports: "
                + "; ".join(f"{n} thread(s): {info}" for n, info in torch_info) + "."]
    return out


def workload_list(names: list[str], quick: bool) -> list[str]:
    out = ["## Workloads", "",
           "Synthetic MNIST-shaped data (seeded uniform [0, 1) float32 images, labels from a fixed "
           "random linear teacher), PyTorch's default initialisation drawn once with NumPy and "
           "copied into each library, float32, plain SGD.  PyTorch and chainrule run the same "
           "Python code (`benchmarks/workloads/frameworks.py`); the hand-written NumPy version "
           "writes each layer's forward and backward by hand "
           "(`benchmarks/workloads/numpy_ops.py`). W6 computes, at the initial weights and on "
           "each batch, `gs = autograd.grad(loss, params, create_graph=True)`, then "
           "`autograd.grad(Σ (g * v).sum(), params)` with fixed random v; its hand-written "
           "NumPy version is Pearlmutter's R-op (`NumpyMLP.hessian_vector_product`).",
           ""]
    for w in (WORKLOADS[n] for n in names):
        size = {"train": f"{w.steps(quick)} steps", "infer": f"{w.n(quick)} images",
                "hvp": f"{w.steps(quick)} HVPs"}[w.mode]
        out.append(f"- **{w.name}**: {w.title} ({size}{' in --quick' if quick else ''})")
    return out


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---- main --------------------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short workloads for a smoke test; "
                   "writes no file unless --output is given")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated, e.g. W1,W3 (W5 = W5-MLP,W5-CNN)")
    p.add_argument("--threads", help="comma-separated thread counts (default 2,1; --quick: 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each with a fresh process per "
                   "library (default 3)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per library and round, "
                   "in one process (default 1)")
    p.add_argument("--libs", default=",".join(LIBS))
    p.add_argument("--output", type=Path, help="markdown file (default: BENCHMARKS.md at the "
                   "repository root, unless --quick)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--pieces", type=int, default=5, help="pieces each timed run is cut into, "
                   "run by the libraries in turn (default 5; 1: each library's timed run in one "
                   "go)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds a worker may take to "
                   "answer: its set-up and warm-up, or one piece (default 1800)")
    p.add_argument("--check", action="store_true", help="compare one step's gradients, a few "
                   "steps and inference of hand-written NumPy and chainrule against PyTorch")
    args = p.parse_args()

    for name in ("rounds", "repeats", "pieces"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.check:
        import check

        return check.main()

    names = []
    for n in args.workloads.split(","):
        n = n.strip().upper()
        expanded = ["W5-MLP", "W5-CNN"] if n == "W5" else [n]
        for e in expanded:
            if e not in WORKLOADS:
                p.error(f"unknown workload {e!r}; choose from {', '.join(WORKLOADS)} or W5")
            names.append(e)
    thread_counts = [int(t) for t in (args.threads or ("2" if args.quick else "2,1")).split(",")]
    libs = [lib.strip() for lib in args.libs.split(",")]

    load_before = os.getloadavg()[0]
    cpu_before = harness.cpu_seconds()
    started = time.perf_counter()
    results: dict[tuple, dict] = {}
    order: list[tuple] = []
    for threads in thread_counts:
        variants = env_variants(threads)
        for name in names:
            for vi, (variant, env) in enumerate(variants):
                order.append((name, threads, variant))
                # PyTorch uses its own MKL, not OpenBLAS: it runs in the first variant only;
                # NumPy only where the workload has a hand-written version
                ran = [lib for lib in libs if (lib != "torch" or vi == 0)
                       and (lib != "numpy" or WORKLOADS[name].numpy)]
                for turn in range(args.rounds if ran else 0):
                    got = run_round(name, ran, threads, args.repeats, args.pieces, args.quick,
                                    env, args.timeout, turn)
                    for lib, r in got.items():
                        print(f"{name:7s} {threads} thr  {lib:9s}  {variant:22s}  {describe(r)}",
                              flush=True)
                        key = (name, threads, variant, lib)
                        results[key] = merge_rounds(results.get(key), r)
    load_after = os.getloadavg()[0]  # counts this run's own last minute too
    cpu_after = harness.cpu_seconds()
    others = None  # cores that other processes used, on average, while this ran
    if cpu_before and cpu_after:
        others = max(0.0, (cpu_after[0] - cpu_before[0]) - (cpu_after[1] - cpu_before[1]))
        others /= time.perf_counter() - started

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    cmd = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    lines = ["# Benchmarks", "",
             f"Generated by `{cmd.strip()}` on {now} in {time.perf_counter() - started:.0f} s.",
             "Ratios above 1 in *PyTorch / chainrule* mean chainrule is faster; "
             "*chainrule / NumPy* "
             "is chainrule's cost over the hand-written NumPy loop (the practical limit of a NumPy "
             "library).", ""]
    if load_before >= 1.0 or (others or 0) >= _BUSY:
        lines += [f"**Warning: the machine was busy (load average {load_before:.1f} before; "
                  f"other processes used {_cores(others)} of its {os.cpu_count()} cores during "
                  "the run); timings, the two-thread ones most, are not representative.**", ""]
    lines += tables(results, order) + [""]
    lines += machine(results, args, load_before, load_after, others) + [""]
    lines += workload_list(names, args.quick) + [""]
    text = "\n".join(lines)
    target = args.output or (None if args.quick else harness.REPO / "BENCHMARKS.md")
    if target is not None and not args.no_write:
        write_atomic(Path(target), text + kept_sections(Path(target)))
    print()
    print(text)
    if target is not None and not args.no_write:
        print(f"wrote {target}")
    return 0


# sections other scripts write into BENCHMARKS.md (benchmarks/distributed.py, the W7/W8 run),
# kept when this script rewrites the file
KEPT_SECTIONS = ("## Sequences: W7 and W8", "## Distributed (issue 19)", "## Training monitor")


def kept_sections(path: Path) -> str:
    """The sections of ``path`` that this script does not write, each up to the next such one or
    the end, to append after the new text."""
    if not path.exists():
        return ""
    old = path.read_text(encoding="utf-8")
    starts = sorted(i for i in (old.find("\n" + h) for h in KEPT_SECTIONS) if i >= 0)
    return "".join("\n" + old[a:b].strip("\n") + "\n"
                   for a, b in zip(starts, starts[1:] + [len(old)]))


if __name__ == "__main__":
    sys.exit(main())
