"""Per-op overhead on tiny tensors (issue 2): forward + backward of a chain of elementwise ops on
(2, 2) float32 tensors, in microseconds per op, PyTorch and chainrule side by side in one run,
with a hand-written NumPy chain (forward and backward by hand, no graph) as the floor.

    python benchmarks/overhead.py [--ops 60] [--iters 300] [--repeats 5] [--threads 1]

Goal: chainrule's per-op cost at most half of PyTorch's (PyTorch / chainrule >= 2)."""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import harness

# The chain cycles through these; values stay in a small range: h*w, h+w, tanh, sigmoid, -h, exp.
CYCLE = ("mul", "add", "tanh", "sigmoid", "neg", "exp")


def chain(h, w, k: int):
    """k elementwise ops on tensors h and w (torch or chainrule: the same Python code)."""
    for i in range(k):
        op = CYCLE[i % len(CYCLE)]
        if op == "mul":
            h = h * w
        elif op == "add":
            h = h + w
        elif op == "tanh":
            h = h.tanh()
        elif op == "sigmoid":
            h = h.sigmoid()
        elif op == "neg":
            h = -h
        else:
            h = h.exp()
    return h


def numpy_chain(x: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The same chain by hand: forward keeping what backward needs, then d(sum)/dx and d/dw."""
    h, saved = x, []
    for i in range(k):
        op = CYCLE[i % len(CYCLE)]
        if op == "mul":
            saved.append(h)
            h = h * w
        elif op == "add":
            saved.append(None)
            h = h + w
        elif op == "tanh":
            h = np.tanh(h)
            saved.append(h)
        elif op == "sigmoid":
            h = 1 / (1 + np.exp(-h))
            saved.append(h)
        elif op == "neg":
            saved.append(None)
            h = -h
        else:
            h = np.exp(h)
            saved.append(h)
    g, gw = np.ones_like(h), np.zeros_like(w)
    for i in reversed(range(k)):
        op, s = CYCLE[i % len(CYCLE)], saved[i]
        if op == "mul":
            gw += g * s
            g = g * w
        elif op == "add":
            gw += g
        elif op == "tanh":
            g = g * (1 - s * s)
        elif op == "sigmoid":
            g = g * s * (1 - s)
        elif op == "neg":
            g = -g
        else:
            g = g * s
    return g, gw


def time_framework(m, x0: np.ndarray, w0: np.ndarray, k: int, iters: int, repeats: int):
    """(forward µs/op, forward+backward µs/op, grads) for module m (torch or chainrule)."""
    x = m.tensor(x0.copy(), requires_grad=True)
    w = m.tensor(w0.copy(), requires_grad=True)

    def forward():
        for _ in range(iters):
            chain(x, w, k)

    def forward_backward():
        for _ in range(iters):
            x.grad = None
            w.grad = None
            chain(x, w, k).sum().backward()

    fwd = _best(forward, repeats) / (iters * k)
    total = _best(forward_backward, repeats) / (iters * k)
    x.grad = w.grad = None
    chain(x, w, k).sum().backward()
    if m.__name__ == "torch":
        grads = [t.grad.numpy().copy() for t in (x, w)]
    else:
        grads = [np.array(getattr(t.grad, "data", t.grad)) for t in (x, w)]
    return fwd, total, grads


def time_numpy(x0, w0, k, iters, repeats):
    def forward_backward():
        for _ in range(iters):
            numpy_chain(x0, w0, k)

    total = _best(forward_backward, repeats) / (iters * k)
    return total, list(numpy_chain(x0, w0, k))


def _best(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls, after one warm-up call, in microseconds."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ops", type=int, default=60, help="ops in the chain")
    p.add_argument("--iters", type=int, default=300, help="chains per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of both libraries")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (2, 2)).astype(np.float32)
    w0 = rng.uniform(0.5, 1, (2, 2)).astype(np.float32)
    k = a.ops
    print(f"chain of {k} elementwise ops ({', '.join(CYCLE)}, cycled) on (2, 2) float32, "
          f"x and w requiring grad; median of {a.repeats} x {a.iters} chains, fastest of "
          f"{a.rounds} alternating rounds; "
          f"{a.threads} thread(s)")
    print("per op: forward records the graph; total = forward + sum + backward, over k ops\n")
    print(f"{'library':20s} {'forward µs/op':>14s} {'backward µs/op':>15s} {'total µs/op':>12s}")

    import torch

    torch.set_num_threads(a.threads)
    cr, cr_error = None, None
    try:
        cr = harness.import_chainrule()
        if hasattr(cr, "set_num_threads"):
            cr.set_num_threads(a.threads)
    except Exception as e:  # noqa: BLE001 - chainrule may be incomplete; report and go on
        cr_error = f"{type(e).__name__}: {e}"
    # rounds alternate the libraries, so a burst of load on a shared machine hits both; each
    # library keeps its fastest round (load only ever adds time)
    best, ratios = {}, []
    for _ in range(a.rounds):
        t_fwd, t_tot, t_grads = time_framework(torch, x0, w0, k, a.iters, a.repeats)
        best["torch"] = min(best.get("torch", (t_fwd, t_tot)), (t_fwd, t_tot), key=lambda r: r[1])
        if cr is not None:
            try:
                c_fwd, c_tot, c_grads = time_framework(cr, x0, w0, k, a.iters, a.repeats)
            except Exception as e:  # noqa: BLE001
                cr_error, cr = f"{type(e).__name__}: {e}", None
                continue
            best["cr"] = min(best.get("cr", (c_fwd, c_tot)), (c_fwd, c_tot), key=lambda r: r[1])
            ratios.append(t_tot / c_tot)
    rows = {"PyTorch " + torch.__version__: best["torch"]}
    if "cr" in best:
        rows["chainrule " + str(getattr(cr, "__version__", ""))] = best["cr"]
    n_tot, n_grads = time_numpy(x0, w0, k, a.iters, a.repeats)
    rows["NumPy by hand"] = (None, n_tot)

    for name, (fwd, tot) in rows.items():
        f = f"{fwd:14.2f}" if fwd is not None else f"{'—':>14s}"
        b = f"{tot - fwd:15.2f}" if fwd is not None else f"{'—':>15s}"
        print(f"{name:20s} {f} {b} {tot:12.2f}")
    print()
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(n_grads, t_grads))
    print(f"gradients, hand-written NumPy vs PyTorch: max |diff| {diff:.1e}")
    if cr_error or "cr" not in best:
        print(f"chainrule not available: {cr_error}")
        return
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(c_grads, t_grads))
    print(f"gradients, chainrule vs PyTorch: max |diff| {diff:.1e}"
          + ("" if diff <= 1e-5 else "  MISMATCH"))
    ratio = best["torch"][1] / best["cr"][1]
    print("per-round ratios: " + ", ".join(f"{r:.2f}" for r in ratios))
    print(f"PyTorch / chainrule per-op (total, fastest rounds): {ratio:.2f}  "
          f"(goal >= 2, i.e. chainrule at most half of PyTorch's cost: "
          f"{'met' if ratio >= 2 else 'not met'})")


if __name__ == "__main__":
    main()
