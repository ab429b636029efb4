"""Data-parallel training on this machine, and on paper on 8 and 64 machines (issue 19).

Measures the epoch time of ``chainrule train``'s MLP and CNN on real MNIST (one epoch per run,
the "seconds" column of metrics.csv: the training steps only, no start-up, no validation) for

    A  1 process  x 1 thread    --threads 1, batch 64
    B  1 process  x 2 threads   --threads 2, batch 64
    C  2 ranks    x 1 thread    mpirun -n 2 ... --distributed --threads 1, batch 32 per rank
                                (global 64: the same steps as A and B)
    D  2 ranks    x 1 thread    the same with batch 64 per rank (global 128)

interleaved (A, B, C, D, A, B, C, D, ...) so that the machine's load spreads over all of them;
times the all_reduce of each model's gradient between 2 local ranks; and works out on paper the
all_reduce volume, the expected scaling to 8 and 64 machines on a 10 Gbit/s network, and the
batch size per rank at which the computation outlasts the communication. Writes the section
"## Distributed (issue 19)" of BENCHMARKS.md (replacing an earlier one, the rest of the file
kept) and prints it.

    python benchmarks/distributed.py [--rounds 3] [--cnn-rounds 2] [--data-dir DIR]
                                     [--output FILE | --no-write]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Distributed (issue 19)"

TRAIN_IMAGES = 60_000 - 5_000  # chainrule train's default validation split
LINK_BYTES_PER_S = 10e9 / 8    # 10 Gbit/s
LATENCY_S = 50e-6              # per message of the ring
MACHINES = (8, 64)

# (label, ranks, threads, batch per rank)
CONFIGS = [("A", 1, 1, 64), ("B", 1, 2, 64), ("C", 2, 1, 32), ("D", 2, 1, 64)]


# ---- the runs ----------------------------------------------------------------------------------

def train_command(model: str, ranks: int, threads: int, batch: int, data_dir: str,
                  out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "chainrule", "train", "--model", model, "--epochs", "1",
           "--batch-size", str(batch), "--threads", str(threads), "--data-dir", data_dir,
           "--out", str(out), "--overwrite", "--no-progress", "--no-plots"]
    if ranks > 1:
        mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
        if mpirun is None:
            raise SystemExit("distributed.py: no mpirun on PATH "
                             "(pip install 'chainrule[distributed]')")
        cmd = [mpirun, "-n", str(ranks)] + cmd + ["--distributed"]
    return cmd


def epoch_seconds(cmd: list[str], out: Path) -> float:
    """Run one training epoch; its training time from metrics.csv."""
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"distributed.py: {' '.join(cmd)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["seconds"])


def measure(model: str, rounds: int, data_dir: str, scratch: Path) -> dict:
    times = {c[0]: [] for c in CONFIGS}
    for r in range(rounds):
        for label, ranks, threads, batch in CONFIGS:
            out = scratch / f"{model}-{label}-{r}"
            cmd = train_command(model, ranks, threads, batch, data_dir, out)
            load = os.getloadavg()[0]
            s = epoch_seconds(cmd, out)
            times[label].append(s)
            print(f"{model} round {r + 1}/{rounds} {label} ({ranks} x {threads} thread, batch "
                  f"{batch}/rank): {s:.2f} s  (load {load:.1f})", flush=True)
    return times


def allreduce_times() -> tuple[dict, dict]:
    """Between 2 local ranks, 1 thread each: ms per all_reduce of each model's gradient
    (float32) on its own, {model: (median, min)}; and ms per training step at batch 32 per rank
    without and with DistributedDataParallel, {model: (alone, ddp)} (the fastest of 2 tries)."""
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    cmd = [mpirun, "-n", "2", sys.executable, str(Path(__file__).resolve()), "--allreduce-worker"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"distributed.py: {' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    reduce, step = {}, {}
    for line in done.stdout.splitlines():
        what, *rest = line.split()
        if what == "allreduce":
            reduce[rest[0]] = (float(rest[1]), float(rest[2]))
        elif what == "step":
            step[rest[0]] = (float(rest[1]), float(rest[2]))
    return reduce, step


STEP_BATCH = 32
STEP_COUNT = {"mlp": 200, "cnn": 40}


def allreduce_worker(reps: int = 50) -> None:
    """Under mpirun -n 2: time dist.all_reduce of a float32 tensor of each model's size, then
    training steps without and with DistributedDataParallel."""
    import chainrule as cr
    import chainrule.distributed as dist
    import chainrule.nn.functional as F
    from chainrule.nn.parallel import DistributedDataParallel
    from chainrule.threads import set_num_threads
    from chainrule.training.models import build_model

    set_num_threads(1)
    dist.init_process_group("mpi")
    main = dist.get_rank() == 0
    for name, n in parameter_counts().items():
        t = cr.zeros(n, dtype=cr.float32)
        took = []
        for i in range(reps + 5):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            if i >= 5:
                took.append(time.perf_counter() - start)
        if main:
            print(f"allreduce {name} {1e3 * statistics.median(took):.4f} {1e3 * min(took):.4f}",
                  flush=True)

    def ms_per_step(model, steps: int) -> float:
        opt = cr.optim.SGD(model.parameters(), lr=0.01)
        x = cr.randn(STEP_BATCH, 1, 28, 28)
        y = cr.randint(0, 10, (STEP_BATCH,))
        for i in range(steps + 5):
            if i == 5:
                dist.barrier()
                start = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return (time.perf_counter() - start) / steps * 1e3

    for name, steps in STEP_COUNT.items():
        alone, ddp = [], []
        for _ in range(2):  # interleaved
            alone.append(ms_per_step(build_model(name), steps))
            ddp.append(ms_per_step(DistributedDataParallel(build_model(name)), steps))
        if main:
            print(f"step {name} {min(alone):.4f} {min(ddp):.4f}", flush=True)
    dist.destroy_process_group()


# ---- on paper ----------------------------------------------------------------------------------

def parameter_counts() -> dict:
    from chainrule.training.models import build_model

    return {m: sum(p.numel() for p in build_model(m).parameters()) for m in ("mlp", "cnn")}


def ring_seconds(n_floats: int, p: int) -> float:
    """Ring allreduce of n float32 over p machines: each sends (and receives) 2(p-1)/p of the
    volume, in 2(p-1) messages."""
    return 2 * (p - 1) / p * 4 * n_floats / LINK_BYTES_PER_S + 2 * (p - 1) * LATENCY_S


def steps_per_epoch(ranks: int, batch: int) -> int:
    return math.ceil(math.ceil(TRAIN_IMAGES / ranks) / batch)


# ---- the section -------------------------------------------------------------------------------

def fmt_ms(s: float) -> str:
    return f"{1e3 * s:.2f} ms"


def section(results: dict, counts: dict, reduce_ms: dict, step_ms: dict, rounds: dict,
            cmd: str, loads: tuple, took: float) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    L = [HEADING, "",
         f"Generated by `{cmd}` on {now} in {took:.0f} s (load average {loads[0]:.1f} before, "
         f"{loads[1]:.1f} after: the 2 cores are shared with other work, so the medians are "
         "noisy; the minimum is the closest to the machine's speed).", "",
         "One epoch of `chainrule train` on real MNIST (55,000 training images), the time of the "
         "training steps as metrics.csv records it (no start-up, no validation). The "
         "configurations ran interleaved, A B C D A B C D ..., each in a fresh process:", "",
         "- **A** 1 process × 1 thread: `chainrule train --model M --epochs 1 --threads 1`",
         "- **B** 1 process × 2 threads: `... --threads 2`",
         "- **C** 2 ranks × 1 thread: `mpirun -n 2 chainrule train ... --distributed --threads 1 "
         "--batch-size 32` (global batch 64: the same steps as A and B)",
         "- **D** 2 ranks × 1 thread, `--batch-size 64` per rank (global batch 128, half the "
         "steps)", ""]
    by = {c[0]: c for c in CONFIGS}
    L += ["| Model | Config | Processes × threads | Batch per rank (global) | Steps | "
          "Epoch seconds, each round | Min | Median | Speed-up over A (min / median) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for model, times in results.items():
        a_min, a_med = min(times["A"]), statistics.median(times["A"])
        for label, ts in times.items():
            _, ranks, threads, batch = by[label]
            lo, med = min(ts), statistics.median(ts)
            L.append(f"| {model.upper()} | {label} | {ranks} × {threads} | {batch} "
                     f"({batch * ranks}) | {steps_per_epoch(ranks, batch)} | "
                     f"{', '.join(f'{t:.2f}' for t in ts)} | {lo:.2f} | {med:.2f} | "
                     f"{a_min / lo:.2f} / {a_med / med:.2f} |")
    L += ["", f"Rounds: {', '.join(f'{m.upper()} {r}' for m, r in rounds.items())}. "
          "A speed-up of 2 would be perfect use of the two cores, which the other work on this "
          "machine rarely leaves free: B's two BLAS threads, and C's and D's two ranks, each "
          "need both cores at once. When other work holds one, each matrix product of B waits "
          "for its second thread (as `chainrule train --help` warns for --threads), and in C "
          "and D the rank that lost its core makes the other wait at every step's all_reduce "
          "(MPICH waits by polling, so the waiting rank also keeps a core busy).", ""]

    # the all_reduce, measured and on paper
    L += ["### The all_reduce per step", "",
          "Every step all-reduces the whole gradient (float32): volume = number of parameters "
          "× 4 bytes.", "",
          "| Model | Parameters | Volume | 2 local ranks: all_reduce alone, median (min) | "
          f"2 local ranks: step at batch {STEP_BATCH}/rank alone → with DDP (cost) | "
          "Ring on 8 machines | Ring on 64 machines |",
          "|---|---|---|---|---|---|---|"]
    for model, n in counts.items():
        med, low = reduce_ms.get(model, (math.nan, math.nan))
        alone, ddp = step_ms.get(model, (math.nan, math.nan))
        L.append(f"| {model.upper()} | {n:,} | {4 * n / 1e6:.2f} MB ({4 * n / 2**20:.2f} MiB) | "
                 f"{med:.2f} ms ({low:.2f} ms) | {alone:.2f} → {ddp:.2f} ms "
                 f"(+{ddp - alone:.2f} ms) | {fmt_ms(ring_seconds(n, 8))} | "
                 f"{fmt_ms(ring_seconds(n, 64))} |")
    L += ["", "Measured between two processes of this machine (MPICH through shared memory, 1 "
          "thread each), for reference: *all_reduce alone* is one `dist.all_reduce` of a float32 "
          "tensor of the gradient's size, 50 timed calls after 5 warm-up ones, each after a "
          "barrier (so it leaves out the wait for the other rank); *step alone → with DDP* is "
          f"the time per SGD step on a fixed batch of {STEP_BATCH} per rank, "
          f"{STEP_COUNT['mlp']} steps for the MLP and {STEP_COUNT['cnn']} for the CNN, of the "
          "bare model and of `DistributedDataParallel(model)` (the fastest of 2 interleaved "
          "tries). The DDP step pays the all_reduce with cold caches, the copies into and out "
          "of the buckets, and the wait for the slower rank on a shared machine. "
          + " ".join(f"{m.upper()}: DDP costs {ddp - alone:.1f} ms per step, "
                     f"{(ddp - alone) / alone:.1f} times the step's computation "
                     f"({(ddp - alone) / reduce_ms[m][0]:.0f} times the all_reduce alone)."
                     for m, (alone, ddp) in step_ms.items() if m in reduce_ms)
          + " The smaller the computation per byte of gradient, the less two ranks gain (C and "
          "D against A above). The training loop adds one more small all_reduce per step (its "
          "stop/NaN flags). The ring times are worked out below.",
          ""]

    # scaling on paper
    b = 64
    L += ["### Expected scaling on 8 and 64 machines (on paper)", "",
          "Assumptions:", "",
          f"- Ring all_reduce: each machine sends and receives 2(p−1)/p × volume, in 2(p−1) "
          f"messages, over a 10 Gbit/s link ({LINK_BYTES_PER_S / 1e9:.2f} GB/s), each message "
          f"costing a latency of {LATENCY_S * 1e6:.0f} µs: "
          "**comm(p) = 2(p−1)/p × volume / 1.25 GB/s + 2(p−1) × 50 µs**.",
          "- Each machine computes like one core of this machine: compute per step = per-sample "
          "time × batch per rank, the per-sample time taken from A (1 process × 1 thread, batch "
          "64, the fastest round): epoch seconds / steps / 64. Linear in the batch: a real step "
          "has a fixed cost too, so small batches compute slower than this, which only makes "
          "communication dominate less.",
          "- No overlap of communication with backward (DDP can start buckets during backward, "
          "but `benchmarks/ddp_overlap.py` measures no gain from it on this machine): "
          "**step(p) = compute(batch per rank) + comm(p)**. The small per-step all_reduce of the "
          "training loop's stop/NaN flags (8 bytes, latency only) is left out.",
          f"- Per-rank batch {b}, so p machines train on p × {b} samples per step; "
          "**speed-up(p) = p × compute / (compute + comm(p))**, **efficiency = speed-up / p**.",
          ""]
    L += ["| Model | Per-sample compute | compute(64) | p | comm(p) | Step | Speed-up | "
          "Efficiency |", "|---|---|---|---|---|---|---|---|"]
    per_sample = {}
    for model, times in results.items():
        per_sample[model] = min(times["A"]) / steps_per_epoch(1, 64) / 64
        c = per_sample[model] * b
        for p in MACHINES:
            comm = ring_seconds(counts[model], p)
            speed = p * c / (c + comm)
            L.append(f"| {model.upper()} | {per_sample[model] * 1e6:.1f} µs | {fmt_ms(c)} | {p} | "
                     f"{fmt_ms(comm)} | {fmt_ms(c + comm)} | {speed:.1f} | {speed / p:.0%} |")
    L += ["", "### Batch size per rank at which communication stops dominating", "",
          "The smallest batch per rank whose compute is at least the communication: "
          "**b ≥ comm(p) / per-sample compute** (there, efficiency is at least 50 %).", "",
          "| Model | p | comm(p) | Batch per rank | Global batch |", "|---|---|---|---|---|"]
    for model in results:
        for p in MACHINES:
            comm = ring_seconds(counts[model], p)
            need = math.ceil(comm / per_sample[model])
            L.append(f"| {model.upper()} | {p} | {fmt_ms(comm)} | {need} | {need * p:,} |")
    L += ["", "The MLP computes little per byte of gradient (its 535,818 parameters are nearly "
          "all in dense layers that each sample touches once), so it needs a larger batch than "
          "the CNN, whose convolutions reuse few parameters many times per sample.", ""]
    return "\n".join(L)


def write_section(path: Path, text: str) -> None:
    """Put ``text`` into ``path`` in place of an earlier section with the same heading (up to
    the next "## " heading), or at the end; the rest of the file is kept; written atomically."""
    from chainrule._io import atomic_write_text

    old = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = old.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == HEADING), None)
    new = text.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ([""] if lines else []) + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines[start:end] = new + ([""] if end < len(lines) else [])
    atomic_write_text(path, "\n".join(lines) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="rounds of A B C D for the MLP")
    p.add_argument("--cnn-rounds", type=int, default=2, help="rounds for the CNN (0: skip it)")
    p.add_argument("--data-dir", default="/work/shared/data", help="folder with MNIST")
    p.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    p.add_argument("--no-write", action="store_true", help="print the section only")
    p.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.allreduce_worker:
        allreduce_worker()
        return 0
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    counts = parameter_counts()
    rounds = {"mlp": args.rounds, "cnn": args.cnn_rounds}
    rounds = {m: r for m, r in rounds.items() if r > 0}
    results = {}
    with tempfile.TemporaryDirectory(prefix="chainrule-ddpbench-") as scratch:
        for model, r in rounds.items():
            results[model] = measure(model, r, args.data_dir, Path(scratch))
    reduce_ms, step_ms = allreduce_times()
    cmd = "python benchmarks/distributed.py " + " ".join(sys.argv[1:])
    text = section(results, {m: counts[m] for m in results}, reduce_ms, step_ms, rounds,
                   cmd.strip(),
                   (load_before, os.getloadavg()[0]), time.perf_counter() - started)
    print()
    print(text)
    if not args.no_write:
        write_section(args.output, text)
        print(f"wrote the section {HEADING!r} of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
