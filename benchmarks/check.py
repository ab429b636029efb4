"""Correctness of the benchmark implementations: one step's loss and gradients, a few SGD steps,
the inference logits and W6's Hessian-vector product of hand-written NumPy (and chainrule, when it
is there) against PyTorch.

Run through ``python benchmarks/run.py --check``; exits with status 1 on a mismatch."""

from __future__ import annotations

import numpy as np

import harness
from workloads import WORKLOADS, initial_weights, make_impl

TOL = 1e-4  # max |a - b| <= TOL * max(1, max |reference|)


def _diff(a: np.ndarray, ref: np.ndarray) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a.shape != ref.shape:
        return float("inf")
    return float(np.max(np.abs(a - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def _cases(impl, w, x, y):
    """name -> list of arrays, computed by one implementation."""
    if w.mode == "hvp":
        return {"Hessian-vector product": impl.hv_arrays(impl.hvp(impl.batches(x, y, len(x))))}
    out = {}
    loss, grads = impl.grads(x, y)
    out["loss"] = [np.float64(loss)]
    out["gradients"] = grads
    impl.load(initial_weights(w))
    steps = 100 if w.model == "sigmoid" else 5
    impl.train(impl.batches(x, y, steps if w.model == "sigmoid" else len(x) // steps))
    out[f"params after {steps} SGD steps"] = impl.params()
    if w.model != "sigmoid":
        impl.load(initial_weights(w))
        out["inference logits"] = [impl.logits(impl.infer(impl.batches(x, y, len(x))))]
    return out


def main() -> int:
    print(f"Gradient / result check against PyTorch, tolerance {TOL:g} (relative to max(1, |ref|))")
    ok = True
    for name, batch in (("W1", 128), ("W3", 64), ("W4", 1), ("W6", 128)):
        w = WORKLOADS[name]
        if w.model == "sigmoid":
            x = y = None
        else:
            x, y = harness.make_images(batch)
            if w.model == "mlp":
                x = x.reshape(batch, 784)
        results = {}
        for lib in ("torch", "numpy", "chainrule"):
            try:
                results[lib] = _cases(make_impl(w, lib, initial_weights(w)), w, x, y)
            except Exception as e:  # noqa: BLE001
                if lib != "chainrule":
                    raise
                print(f"  {name} ({w.model}) chainrule: not available: {type(e).__name__}: {e}")
        ref = results["torch"]
        for lib in ("numpy", "chainrule"):
            if lib not in results:
                continue
            for case, arrays in ref.items():
                d = max(_diff(a, r) for a, r in zip(results[lib][case], arrays))
                good = d <= TOL
                ok &= good
                print(f"  {name} ({w.model:7s}) {lib:9s} vs torch  {case:28s} "
                      f"max diff {d:.2e}  {'ok' if good else 'MISMATCH'}")
    print("all checks passed" if ok else "CHECK FAILED")
    return 0 if ok else 1
