"""Measure one (workload, library) pair in this fresh process and print one JSON line.

Run by ``run.py``, which sets the thread environment variables before this process imports
NumPy.  Usage: python benchmarks/worker.py W1 torch --threads 2 --repeats 3 [--quick]"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

import harness
from workloads import WORKLOADS, initial_weights, make_impl


def measure(w, lib_name: str, threads: int, repeats: int, quick: bool) -> dict:
    res: dict = {"workload": w.name, "lib": lib_name, "threads": threads,
                 "env": {k: os.environ.get(k) for k in harness.THREAD_VARS + harness.CORETYPE_VARS}}
    n = w.n(quick)
    if w.model == "sigmoid":
        x = y = None
    else:
        x, y = harness.make_images(n, harness.DATA_SEED if w.mode == "train" else harness.TEST_SEED)
        if w.model == "mlp":
            x = x.reshape(n, 784)
    params = initial_weights(w)

    phase = "import/build"
    try:
        impl = make_impl(w, lib_name, params)
        lib = getattr(impl, "lib", None)
        if lib is not None:
            res["thread_call"] = lib.set_num_threads(threads)
            res["version"] = str(getattr(lib.m, "__version__", "?"))
            if lib_name == "torch":
                t = lib.m
                res["torch_threads"] = (f"{t.get_num_threads()} intra-op / "
                                        f"{t.get_num_interop_threads()} inter-op, "
                                        f"MKL {t.backends.mkl.is_available()}, "
                                        f"oneDNN {t.backends.mkldnn.is_available()}")
        batches = impl.batches(x, y, n if w.model == "sigmoid" else w.batch)
        run = impl.train if w.mode == "train" else impl.infer

        phase = "warm-up"
        run(batches[:w.warmup])
        res["rss_setup_mb"] = harness.rss_mb()
        res["peak_reset"] = harness.reset_peak_rss()

        phase = "timed run"
        times = []
        for _ in range(repeats):
            impl.load(params)                       # every repeat starts from the same weights
            t0 = time.perf_counter()
            out = run(batches)
            times.append(time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001
        if lib_name != "chainrule":
            raise
        tb = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{os.path.basename(tb.filename)}:{tb.lineno}"
        res["error"] = (f"not available ({phase}): {type(e).__name__}: {e} [{where}]"
                        if phase == "import/build" else
                        f"failed ({phase}): {type(e).__name__}: {e} [{where}]")
        return res

    res["times"] = times
    res["steps"] = len(batches)
    res["peak_workload_mb"] = harness.peak_rss_mb() if res["peak_reset"] else None
    res["peak_process_mb"] = harness.process_peak_rss_mb()
    if w.mode == "train":
        res["loss"] = impl.loss_value(out)
        res["param_abs_sum"] = float(sum(np.abs(p).astype(np.float64).sum() for p in impl.params()))
    else:
        z = impl.logits(out).astype(np.float64)
        res["logits_sum"] = float(z.sum())
        res["logits_abs_sum"] = float(np.abs(z).sum())
        res["class_counts"] = np.bincount(z.argmax(axis=1), minlength=10).tolist()
    res["blas"] = harness.blas_info()
    res["numpy_version"] = np.__version__
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload", choices=list(WORKLOADS))
    p.add_argument("lib", choices=["torch", "numpy", "chainrule"])
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    res = measure(WORKLOADS[a.workload], a.lib, a.threads, a.repeats, a.quick)
    sys.stdout.write("RESULT " + json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
