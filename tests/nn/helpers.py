"""Shared pieces of the nn tests: random inputs of several kinds, and running the same call on
chainrule and on PyTorch (the APIs match, so one lambda serves both) to compare values and
gradients."""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

CR = types.SimpleNamespace(lib=cr, F=F, nn=cr.nn)

# tolerances: float64 to ~1e-10, float32 to ~1e-5 (relative, with an absolute floor)
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def torch_ns():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    return types.SimpleNamespace(lib=torch, F=TF, nn=torch.nn)


@dataclass
class In:
    """One input of a test case: its shape and kind, and whether it gets a gradient.

    kinds: "normal" N(0, 1); "unit" U(0.05, 0.95) (probabilities away from 0 and 1);
    "positive" U(0.5, 2); "prob" rows of a softmax along ``axis``; "index" integers in
    [0, classes) (int64), two of them set to ``ignore`` (when given) and one surely not;
    "sign" -1.0 or 1.0 (the margin losses' targets)."""

    shape: tuple
    kind: str = "normal"
    grad: bool = True
    classes: int = 0
    axis: int = 1
    ignore: int | None = None

    def make(self, rng: np.random.Generator, dtype) -> np.ndarray:
        if self.kind == "index":
            a = rng.integers(0, self.classes, self.shape).astype(np.int64)
            if self.ignore is not None and a.size > 2:
                a.reshape(-1)[[0, 2]] = self.ignore
                a.reshape(-1)[1] = (self.ignore + 1) % self.classes  # never all ignored
            return a
        if self.kind == "unit":
            return rng.uniform(0.05, 0.95, self.shape).astype(dtype)
        if self.kind == "positive":
            return rng.uniform(0.5, 2.0, self.shape).astype(dtype)
        if self.kind == "sign":  # -- targets of the margin losses: -1 or 1, half each --
            return np.where(rng.random(self.shape) < 0.5, -1.0, 1.0).astype(dtype)
        a = rng.standard_normal(self.shape)
        if self.kind == "prob":
            e = np.exp(a - a.max(axis=self.axis, keepdims=True))
            a = e / e.sum(axis=self.axis, keepdims=True)
        return a.astype(dtype)

    @property
    def wants_grad(self) -> bool:
        return self.grad and self.kind != "index"


def make_arrays(specs, seed: int, dtype) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [s.make(rng, dtype) for s in specs]


def cr_inputs(specs, arrays):
    return [cr.tensor(a.copy(), requires_grad=s.wants_grad) for s, a in zip(specs, arrays)]


def torch_inputs(torch, specs, arrays):
    return [torch.tensor(a.copy(), requires_grad=s.wants_grad) for s, a in zip(specs, arrays)]


def assert_close(got, want, dtype, what: str, scale: float = 1.0) -> None:
    tol = TOL[np.dtype(dtype).type]
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, PyTorch {want.shape}"
    np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                               err_msg=what)


def compare_with_torch(fn, specs, dtype, seed: int = 0) -> None:
    """``fn(L, *tensors)`` on chainrule and on PyTorch: equal outputs, and equal gradients of
    every input that wants one for a random output gradient."""
    T = torch_ns()
    torch = T.lib
    arrays = make_arrays(specs, seed, dtype)
    xs, ts = cr_inputs(specs, arrays), torch_inputs(torch, specs, arrays)
    y, yt = fn(CR, *xs), fn(T, *ts)
    assert y.dtype == np.dtype(dtype), f"output dtype {y.dtype}, expected {np.dtype(dtype)}"
    want = yt.detach().numpy()
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    assert_close(y.data, want, dtype, "forward", scale)
    if not y.requires_grad:
        return
    seed_grad = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    y.backward(cr.tensor(seed_grad))
    yt.backward(torch.tensor(seed_grad))
    for i, (s, x, t) in enumerate(zip(specs, xs, ts)):
        if s.wants_grad:
            assert x.grad is not None, f"input {i} got no gradient"
            g = t.grad.numpy()
            assert_close(x.grad.data, g, dtype, f"gradient of input {i}",
                         max(1.0, float(np.abs(g).max())))


def copy_params(src_torch_module, dst_module) -> None:
    """Load a PyTorch module's state into a chainrule module (its state_dict keys must match)."""
    dst_module.load_state_dict({k: v.detach().numpy() for k, v in
                                src_torch_module.state_dict().items()})
