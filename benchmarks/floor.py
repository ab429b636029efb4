"""The matrix products of W1 and W2 alone: a floor under any NumPy implementation's time.

    python benchmarks/floor.py                        # W1 and W2, 2 and 1 threads, 3 rounds
    python benchmarks/floor.py --workloads W1 --threads 1 --rounds 5

A training step of the MLP makes the same five matrix products in every implementation:
forward x @ W1ᵀ and h @ W2ᵀ, backward dzᵀ @ h, dz @ W2 and dhᵀ @ x (no gradient for x). This
times those products alone, batch by batch over the epoch, with NumPy's BLAS, writing into kept
buffers; everything else (bias, ReLU, softmax and cross-entropy, the SGD update, a framework's
bookkeeping) comes on top. In the same rounds it runs PyTorch's whole workload (``worker.py``)
and prints PyTorch's time over the floor: the highest *PyTorch / chainrule* ratio a NumPy library
could reach on this machine if all of that other work were free. Where it is close to a goal of
issue 5, the goal asks for a loop faster than the hand-written one.

Each measurement is a fresh process with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS =
MKL_NUM_THREADS = n, as in ``run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import harness
from workloads import WORKLOADS

HERE = Path(__file__).resolve().parent
FEATURES, HIDDEN, CLASSES = 784, 256, 10  # mlp.build's layers
SAMPLES = WORKLOADS["W1"].samples  # one epoch, as W1 and W2


def matmuls(batch: int, repeats: int) -> list[float]:
    """Seconds per epoch of the five products, ``repeats`` times (after one warm-up epoch)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, FEATURES), dtype=np.float32)
    w1 = rng.standard_normal((HIDDEN, FEATURES)).astype(np.float32)
    w2 = rng.standard_normal((CLASSES, HIDDEN)).astype(np.float32)
    gw1, gw2 = np.empty_like(w1), np.empty_like(w2)
    times = []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        for i in range(0, SAMPLES, batch):
            xb = x[i:i + batch]
            h = xb @ w1.T
            dz = h @ w2.T  # the logits stand in for their gradient: the same shape, no cost
            np.matmul(dz.T, h, out=gw2)
            dh = dz @ w2
            np.matmul(dh.T, xb, out=gw1)
        if r:
            times.append(time.perf_counter() - t0)
    return times


def run(cmd: list[str], threads: int) -> dict:
    env = dict(os.environ, **{var: str(threads) for var in harness.THREAD_VARS})
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    line = next(l for l in reversed(p.stdout.splitlines()) if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W2")
    p.add_argument("--threads", default="2,1")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--inner", nargs=2, metavar=("BATCH", "REPEATS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.inner:
        print("RESULT " + json.dumps({"times": matmuls(int(a.inner[0]), int(a.inner[1]))}))
        return 0
    print("| Workload | Threads | PyTorch (whole workload) | matmuls alone (NumPy) "
          "| PyTorch / matmuls |\n|---|---|---|---|---|")
    for threads in (int(t) for t in a.threads.split(",")):
        for name in a.workloads.split(","):
            if name not in ("W1", "W2"):
                p.error(f"--workloads: W1 or W2, not {name!r}")
            torch_t, floor_t = [], []
            for _ in range(a.rounds):  # the two take turns, a fresh process each
                torch_t += run([sys.executable, str(HERE / "worker.py"), name, "torch",
                                "--threads", str(threads), "--repeats", "1"], threads)["times"]
                floor_t += run([sys.executable, __file__, "--inner",
                                str(WORKLOADS[name].batch), "1"], threads)["times"]
            t, f = statistics.median(torch_t), statistics.median(floor_t)
            print(f"| {name} | {threads} | {t:.3f} ({min(torch_t):.3f}–{max(torch_t):.3f}) "
                  f"| {f:.3f} ({min(floor_t):.3f}–{max(floor_t):.3f}) | {t / f:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
