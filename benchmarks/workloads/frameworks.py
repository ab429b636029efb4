"""One training / inference loop for both PyTorch and chainrule: the code is the same, only the
module it calls (``torch`` or ``chainrule``) differs.  ``Lib`` holds the few lines that cannot be
shared: copying weights in, reading arrays out, setting the thread count."""

from __future__ import annotations

import numpy as np


class Lib:
    """``torch`` or ``chainrule``, and what the benchmarks do with it outside the timed loop."""

    def __init__(self, name: str):
        self.name = name
        if name == "torch":
            import torch

            self.m = torch
        elif name == "chainrule":
            from harness import import_chainrule

            self.m = import_chainrule()
        else:
            raise ValueError(f"Lib: unknown library {name!r}")

    def set_num_threads(self, n: int) -> str:
        """Set the library's own thread count; returns a note for the report."""
        fn = getattr(self.m, "set_num_threads", None)
        if fn is None:
            return f"{self.name}.set_num_threads missing (thread env vars only)"
        fn(n)
        return f"{self.name}.set_num_threads({n})"

    def set_param(self, p, w: np.ndarray) -> None:
        if self.name == "torch":
            with self.m.no_grad():
                p.copy_(self.m.from_numpy(w))
        else:
            p.data[...] = w

    def numpy(self, t) -> np.ndarray:
        if self.name == "torch":
            return t.detach().numpy()
        return np.asarray(t.data)

    def grad(self, p) -> np.ndarray:
        g = p.grad
        if self.name == "torch":
            return g.numpy().copy()
        return np.array(getattr(g, "data", g), copy=True)


class FrameworkNet:
    """A ``nn.Sequential`` classifier trained with cross-entropy and plain SGD; with ``vectors``
    (one array per parameter), also the Hessian-vector products of its loss (W6)."""

    def __init__(self, lib: Lib, build, params: list[np.ndarray], lr: float,
                 vectors: list[np.ndarray] | None = None):
        self.lib = lib
        self.model = build(lib.m.nn)
        self.params_ = list(self.model.parameters())
        shapes = [tuple(p.shape) for p in self.params_]
        want = [w.shape for w in params]
        if shapes != want:
            raise RuntimeError(f"{lib.name}: parameter shapes {shapes}, expected {want}")
        self.load(params)
        self.opt = lib.m.optim.SGD(self.params_, lr=lr)
        self.F = lib.m.nn.functional
        self.vectors = None if vectors is None else [lib.m.from_numpy(v) for v in vectors]

    def load(self, params: list[np.ndarray]) -> None:
        for p, w in zip(self.params_, params):
            self.lib.set_param(p, w)

    def params(self) -> list[np.ndarray]:
        return [self.lib.numpy(p).copy() for p in self.params_]

    def batches(self, x: np.ndarray, y: np.ndarray, batch: int) -> list:
        x, y = self.lib.m.from_numpy(x), self.lib.m.from_numpy(y)
        n = x.shape[0]
        return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]

    # ---- the timed loops: identical code for torch and chainrule ----

    def train(self, batches):
        model, opt, F = self.model, self.opt, self.F
        for xb, yb in batches:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        return loss

    def infer(self, batches):
        model = self.model
        with self.lib.m.no_grad():
            return [model(xb) for xb, _ in batches]

    def hvp(self, batches):
        """H v for each batch, H the Hessian of the batch's loss in the weights (Pearlmutter's
        trick as PyTorch users write it: differentiate g · v, g the gradient with its graph)."""
        model, F, grad = self.model, self.F, self.lib.m.autograd.grad
        params, vectors = self.params_, self.vectors
        for xb, yb in batches:
            loss = F.cross_entropy(model(xb), yb)
            grads = grad(loss, params, create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(grads, vectors))
            hv = grad(dot, params)
        return hv

    # ---- reading results (untimed) ----

    def loss_value(self, loss) -> float:
        return float(self.lib.numpy(loss))

    def logits(self, outs) -> np.ndarray:
        return np.concatenate([self.lib.numpy(o) for o in outs])

    def hv_arrays(self, hv) -> list[np.ndarray]:
        return [self.lib.numpy(h).copy() for h in hv]

    def grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Loss and parameter gradients of one batch, without updating."""
        ((xb, yb),) = self.batches(x, y, len(x))
        self.opt.zero_grad()
        loss = self.F.cross_entropy(self.model(xb), yb)
        loss.backward()
        return self.loss_value(loss), [self.lib.grad(p) for p in self.params_]
