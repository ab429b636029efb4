"""Measure one (workload, library) pair in this fresh process and print its result as one
``RESULT {json}`` line.

Run by ``run.py``, which sets the thread environment variables before this process imports
NumPy.  Usage: python benchmarks/worker.py W1 torch --threads 2 --repeats 3 [--quick]

With ``--serve``, the timed runs are driven from standard input instead, a piece at a time, so
that ``run.py`` can interleave the three libraries' processes finely (see ``run.py``). After
set-up and warm-up the worker prints ``READY <steps>``, then answers each line with one line:

    load        start a timed run from the initial weights (not timed); answers ``LOADED``
    run I J     run steps (batches) I to J-1 of it; answers ``TIME <seconds>``
    result      answers ``RESULT {json}`` (the times of every timed run; the loss, weights,
                logits or Hessian-vector product of the last one) and exits

Anything else the process prints goes to standard error, so that it cannot be taken for an
answer."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback

import numpy as np

import harness
from workloads import WORKLOADS, initial_weights, make_impl, runner


class Failed(Exception):
    """Set-up or a timed run of chainrule failed; ``args[0]`` is the result to report."""


class Measurement:
    """One (workload, library) pair in this process: set up and warmed up by the constructor."""

    def __init__(self, w, lib_name: str, threads: int, quick: bool):
        self.w, self.lib_name = w, lib_name
        self.res: dict = {"workload": w.name, "lib": lib_name, "threads": threads,
                          "env": {k: os.environ.get(k)
                                  for k in harness.THREAD_VARS + harness.CORETYPE_VARS}}
        n = w.n(quick)
        if w.model == "sigmoid":
            x = y = None
        elif w.model in ("lstm", "transformer"):  # token sequences (workloads/sequence.py)
            from workloads.sequence import make_tokens
            x, y = make_tokens(n, harness.DATA_SEED)
        else:
            x, y = harness.make_images(n, harness.TEST_SEED if w.mode == "infer"
                                       else harness.DATA_SEED)
            if w.model == "mlp":
                x = x.reshape(n, 784)
        self.params = initial_weights(w)
        self.times: list[float] = []
        self.out = None
        with self.phase("import/build"):
            self.impl = impl = make_impl(w, lib_name, self.params)
            lib = getattr(impl, "lib", None)
            if lib is not None:
                self.res["thread_call"] = lib.set_num_threads(threads)
                self.res["version"] = str(getattr(lib.m, "__version__", "?"))
                if lib_name == "torch":
                    t = lib.m
                    self.res["torch_threads"] = (f"{t.get_num_threads()} intra-op / "
                                                 f"{t.get_num_interop_threads()} inter-op, "
                                                 f"MKL {t.backends.mkl.is_available()}, "
                                                 f"oneDNN {t.backends.mkldnn.is_available()}")
            self.batches = impl.batches(x, y, n if w.model == "sigmoid" else w.batch)
            self.run_ = runner(w, impl)
        with self.phase("warm-up"):
            self.run_(self.batches[:w.warmup])
        self.res["rss_setup_mb"] = harness.rss_mb()
        self.res["peak_reset"] = harness.reset_peak_rss()

    @contextlib.contextmanager
    def phase(self, name: str):
        """A context in which chainrule's exceptions become a reported ``Failed``; PyTorch's and
        NumPy's are the benchmark's own bugs and keep their traceback."""
        try:
            yield
        except Exception as e:  # noqa: BLE001
            if self.lib_name != "chainrule":
                raise
            last = traceback.extract_tb(e.__traceback__)[-1]
            where = f"{os.path.basename(last.filename)}:{last.lineno}"
            state = "not available" if name == "import/build" else "failed"
            res = dict(self.res, error=f"{state} ({name}): {type(e).__name__}: {e} [{where}]")
            raise Failed(res) from e

    def load(self) -> None:
        """Start a timed run: every one starts from the same weights."""
        self.impl.load(self.params)
        self.times.append(0.0)
        self.out = None

    def run(self, i: int, j: int) -> float:
        """Steps i to j-1 of the current timed run; returns their seconds."""
        with self.phase("timed run"):
            t0 = time.perf_counter()
            out = self.run_(self.batches[i:j])
            dt = time.perf_counter() - t0
        if self.w.mode != "infer":
            self.out = out  # the loss or Hessian-vector product of the last step
        else:
            self.out = out if self.out is None else self.out + out  # the logits of every batch
        self.times[-1] += dt
        return dt

    def result(self) -> dict:
        res, impl = self.res, self.impl
        res["times"] = self.times
        res["steps"] = len(self.batches)
        res["peak_workload_mb"] = harness.peak_rss_mb() if res["peak_reset"] else None
        res["peak_process_mb"] = harness.process_peak_rss_mb()
        if self.w.mode == "train":
            res["loss"] = impl.loss_value(self.out)
            res["param_abs_sum"] = float(sum(np.abs(p).astype(np.float64).sum()
                                             for p in impl.params()))
        elif self.w.mode == "hvp":
            res["hv_abs_sums"] = [float(np.abs(h).astype(np.float64).sum())
                                  for h in impl.hv_arrays(self.out)]
            res["hv_abs_sum"] = float(sum(res["hv_abs_sums"]))
        else:
            z = impl.logits(self.out).astype(np.float64)
            res["logits_sum"] = float(z.sum())
            res["logits_abs_sum"] = float(np.abs(z).sum())
            res["class_counts"] = np.bincount(z.argmax(axis=1), minlength=10).tolist()
        res["blas"] = harness.blas_info()
        res["numpy_version"] = np.__version__
        return res


def measure(w, lib_name: str, threads: int, repeats: int, quick: bool) -> dict:
    """Set up, warm up, then ``repeats`` timed runs of the whole workload, one after another."""
    try:
        m = Measurement(w, lib_name, threads, quick)
        for _ in range(repeats):
            m.load()
            m.run(0, len(m.batches))
    except Failed as f:
        return f.args[0]
    return m.result()


def serve(w, lib_name: str, threads: int, quick: bool) -> None:
    """Set up, warm up, then obey ``run.py``'s commands on standard input (module docstring)."""
    answers = os.fdopen(os.dup(1), "w")  # the answers keep standard output to themselves:
    os.dup2(2, 1)                        # whatever else prints goes to standard error

    def say(line: str) -> None:
        answers.write(line + "\n")
        answers.flush()

    try:
        m = Measurement(w, lib_name, threads, quick)
        say(f"READY {len(m.batches)}")
        for line in sys.stdin:
            cmd, *args = line.split()
            if cmd == "load":
                m.load()
                say("LOADED")
            elif cmd == "run":
                say(f"TIME {m.run(int(args[0]), int(args[1])):.9f}")
            elif cmd == "result":
                break
            else:
                raise ValueError(f"worker --serve: unknown command {line.strip()!r}")
        else:
            return  # standard input closed without "result": run.py is gone, nobody to answer
        res = m.result()
    except Failed as f:
        res = f.args[0]
    say("RESULT " + json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload", choices=list(WORKLOADS))
    p.add_argument("lib", choices=["torch", "numpy", "chainrule"])
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--serve", action="store_true", help="take the timed runs' pieces from "
                   "standard input (run.py's interleaved rounds)")
    a = p.parse_args()
    if a.serve:
        serve(WORKLOADS[a.workload], a.lib, a.threads, a.quick)
        return
    res = measure(WORKLOADS[a.workload], a.lib, a.threads, a.repeats, a.quick)
    sys.stdout.write("RESULT " + json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
