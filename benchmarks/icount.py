"""Instructions per training step, counted by valgrind's callgrind: a measure of cost that does not
move with the machine's load, for comparing two versions of chainrule (or chainrule with the
hand-written NumPy loop) on a shared VM where wall-clock timings move by 30 % or more.

    python benchmarks/icount.py W4                      # chainrule and numpy, 1 thread
    python benchmarks/icount.py W2 --libs chainrule --steps 20,120

Each (library, step count) runs in its own process under ``valgrind --tool=callgrind`` with one
BLAS thread; the count per step is the difference between the two step counts divided by the
difference in steps, so start-up, imports and warm-up cancel out. Instructions are not seconds
(a cache miss costs more than an add), but on the per-op overhead that W4 measures they track
time closely. PyTorch is left out: importing it under valgrind takes minutes. For W6 a step is
one Hessian-vector product (``python benchmarks/icount.py W6 --libs chainrule``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def inner(workload: str, lib: str, steps: int, most: int) -> None:
    """Build the workload, warm up, run ``steps`` steps (in the process valgrind watches); the
    data are made for ``most`` steps in every run, so that making them cancels out."""
    sys.path.insert(0, HERE)
    from harness import make_images
    from workloads import WORKLOADS, initial_weights, make_impl, runner

    w = WORKLOADS[workload]
    n = (most + w.warmup) * w.batch
    x = y = None
    if w.model != "sigmoid":
        x, y = make_images(n)
        if w.model == "mlp":
            x = x.reshape(n, 784)
    impl = make_impl(w, lib, initial_weights(w))
    if getattr(impl, "lib", None) is not None:
        impl.lib.set_num_threads(1)
    batches = impl.batches(x, y, w.warmup + steps if w.model == "sigmoid" else w.batch)
    run = runner(w, impl)
    run(batches[:w.warmup])
    if steps:
        run(batches[w.warmup:w.warmup + steps])


def callgrind(script: str, *args, who: str = "icount") -> int:
    """Instructions of ``python script args...`` under valgrind's callgrind, one BLAS thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
               sys.executable, os.path.abspath(script), *map(str, args)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode or m is None:
        raise RuntimeError(f"{who}: {' '.join(cmd)} failed (exit {p.returncode}):\n"
                           f"{p.stderr[-2000:]}")
    return int(m.group(1))


def count(workload: str, lib: str, steps: int, most: int) -> int:
    return callgrind(__file__, "--inner", workload, lib, steps, most)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload")
    p.add_argument("--libs", default="numpy,chainrule")
    p.add_argument("--steps", default=None,
                   help="two step counts, e.g. 200,1200 (default by workload)")
    a = p.parse_args()
    # few steps where a step is heavy: under callgrind one HVP of W6 took ~7 s and the imports
    # ~30 s, so 2,6 counts in about two minutes per library (10,60 would take ten)
    default = {"W4": "200,1200", "W3": "2,6", "W5-MLP": "1,3", "W5-CNN": "1,2", "W6": "2,6"}
    lo, hi = (int(s) for s in (a.steps or default.get(a.workload, "10,60")).split(","))
    if hi <= lo:
        p.error("--steps: the second count must be larger than the first")
    rows = {}
    for lib in a.libs.split(","):
        rows[lib] = (count(a.workload, lib, hi, hi) - count(a.workload, lib, lo, hi)) / (hi - lo)
        print(f"{a.workload} {lib:10s} {rows[lib]:14,.0f} instructions per step", flush=True)
    if "numpy" in rows and "chainrule" in rows:
        print(f"{a.workload} chainrule / numpy: {rows['chainrule'] / rows['numpy']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
