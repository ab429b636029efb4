"""Gradients of gradients for every row of the op tables: the core ops (``tests/ops/op_table.py``),
the functional layers and losses (``tests/nn/test_functional.py``), convolution and pooling
(``tests/ops/test_conv.py``).

For each row: ``gradgradcheck`` (the backward of the backward against central differences, in
float64), and the double backward against PyTorch's on the same inputs: first derivative
``g = v · ∂f/∂x`` with ``create_graph=True``, then the gradient of ``Σ u · g`` with respect to the
inputs and to ``v``, both to 1e-10."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.ops.conv import avg_pool2d, conv2d, max_pool2d

from ..nn.helpers import CR as NN_CR
from ..nn.test_functional import ROWS as NN_ROWS
from ..ops import test_conv
from ..ops.op_table import ALL, BROADCASTING, CR as OPS_CR, draw_inputs, first_output

torch = pytest.importorskip("torch")


@dataclass
class Case:
    name: str
    fn: object  # fn(L, *tensors), L a namespace of chainrule's or PyTorch's
    arrays: object  # arrays(seed) -> list of float64 (or integer) arrays
    grads: tuple  # which inputs get a gradient
    small: bool = True  # small enough for finite differences of second derivatives


def _ops_cases():
    cases = []
    for op in ALL:
        for shapes in op.shapes:
            def arrays(seed, op=op, shapes=shapes):
                return draw_inputs(op, shapes, seed)
            grads = tuple(i not in op.nondiff for i in range(len(shapes)))
            cases.append(Case(f"{op.name}-{'x'.join(map(str, shapes))}",
                              lambda L, *t, op=op: first_output(op.fn(L, *t)), arrays, grads))
    return cases


def _nn_cases():
    from ..nn.helpers import make_arrays
    cases = []
    for name, fn, specs in NN_ROWS:
        cases.append(Case(f"F.{name}", fn, lambda seed, specs=specs: make_arrays(
            specs, seed, np.float64), tuple(s.wants_grad for s in specs)))
    return cases


def _conv_cases():
    small_conv = {str(c) for c in [((1, 2, 5, 6), (2, 2, 3, 2), {}),
                                   ((2, 5, 4), (2, 2, 2, 2), dict(stride=(1, 2), padding=(1, 0))),
                                   ((1, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, padding=1))]}
    cases = []
    configs = test_conv.CONV + [((1, 2, 5, 6), (2, 2, 3, 2), {}),
                                ((2, 5, 4), (2, 2, 2, 2), dict(stride=(1, 2), padding=(1, 0))),
                                ((1, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, padding=1))]
    for shape, wshape, kw in configs:
        def arrays(seed, shape=shape, wshape=wshape):
            rng = np.random.default_rng(seed)
            return [rng.standard_normal(s) for s in (shape, wshape, (wshape[0],))]
        cases.append(Case(f"conv2d-{shape}*{wshape}-{kw}",
                          lambda L, x, w, b, kw=kw: L.conv2d(x, w, b, **kw), arrays,
                          (True, True, True), str((shape, wshape, kw)) in small_conv))
    pools = [(s, kw, "max") for s, kw in test_conv.POOL + test_conv.MAX_ONLY]
    pools += [(s, dict(kw, count_include_pad=c), "avg") for s, kw in test_conv.POOL
              + test_conv.AVG_ONLY for c in (True, False)]
    pools += [(s, kw, kind) for s, kw in test_conv.POOL_GRADCHECK for kind in ("max", "avg")]
    small = {str(s) for s, _ in test_conv.POOL_GRADCHECK}
    for shape, kw, kind in pools:
        def arrays(seed, shape=shape):
            return [test_conv._distinct(np.random.default_rng(seed), shape)]
        pool = (lambda L, x, kw=kw: L.max_pool2d(x, **kw)) if kind == "max" else (
            lambda L, x, kw=kw: L.avg_pool2d(x, **kw))
        cases.append(Case(f"{kind}_pool2d-{shape}-{kw}", pool, arrays, (True,),
                          str(shape) in small))
    return cases


class _Conv:  # chainrule's conv and pools under the names the conv cases call
    conv2d, max_pool2d, avg_pool2d = staticmethod(conv2d), staticmethod(max_pool2d), staticmethod(
        avg_pool2d)


CASES = ([(c, OPS_CR) for c in _ops_cases()] + [(c, NN_CR) for c in _nn_cases()]
         + [(c, _Conv) for c in _conv_cases()])
IDS = [c.name for c, _ in CASES]


def _torch_ns(ns):
    import types
    import torch.nn.functional as TF
    if ns is _Conv:
        return TF
    return types.SimpleNamespace(lib=torch, F=TF, nn=torch.nn)


@pytest.mark.parametrize("case,ns", [(c, n) for c, n in CASES if c.small],
                         ids=[c.name for c, _ in CASES if c.small])
def test_gradgradcheck(case, ns):
    arrays = case.arrays(5)
    xs = [cr.tensor(a, requires_grad=g and a.dtype.kind == "f") for a, g in zip(arrays, case.grads)]
    assert cr.autograd.gradgradcheck(lambda *t: case.fn(ns, *t), xs, eps=1e-6, atol=1e-6,
                                     rtol=1e-5)


@pytest.mark.parametrize("case,ns", [(c, n) for c, n in CASES if not c.small],
                         ids=[c.name for c, _ in CASES if not c.small])
def test_second_derivative_in_random_directions(case, ns):
    """The rows too big for gradgradcheck's every element (STYLE: a random-direction check on
    large inputs): with s(x, v) = Σ u · (v · ∂f/∂x), the directional derivative of s along random
    (dx, dv) from the recorded backward against central differences of s."""
    rng = np.random.default_rng(11)
    arrays = case.arrays(5)
    wants = [g and a.dtype.kind == "f" for a, g in zip(arrays, case.grads)]
    y0 = case.fn(ns, *[cr.tensor(a) for a in arrays])
    v0 = rng.standard_normal(y0.shape)
    u = [rng.standard_normal(a.shape) for a, w in zip(arrays, wants) if w]
    dx = [rng.standard_normal(a.shape) if w else None for a, w in zip(arrays, wants)]
    dv = rng.standard_normal(y0.shape)

    def s(eps, create_graph=False):
        xs = [cr.tensor(a + eps * d if d is not None else a, requires_grad=w)
              for a, d, w in zip(arrays, dx, wants)]
        v = cr.tensor(v0 + eps * dv, requires_grad=True)
        first = cr.autograd.grad(case.fn(ns, *xs), [x for x in xs if x.requires_grad], v,
                                 create_graph=create_graph, allow_unused=True)
        total = sum((g * cr.tensor(ui)).sum() for g, ui in zip(first, u) if g is not None)
        return total, xs, v

    total, xs, v = s(0.0, create_graph=True)
    wanted = [x for x in xs if x.requires_grad] + [v]
    grads = cr.autograd.grad(total, wanted, allow_unused=True)
    directions = [d for d in dx if d is not None] + [dv]
    analytic = sum(float((g.data * d).sum()) for g, d in zip(grads, directions) if g is not None)
    eps = 1e-6
    numeric = (float(s(eps)[0].data) - float(s(-eps)[0].data)) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def _double_backward(lib, grad, y, xs, v, u):
    """(first derivatives v·∂y/∂x, then the gradients of Σ u·first with respect to x and v)."""
    wanted = [x for x in xs if x.requires_grad]
    first = grad([y], wanted, [v], create_graph=True, allow_unused=True)
    total = sum((g * ui).sum() for g, ui in zip(first, u) if g is not None and g.requires_grad)
    if not getattr(total, "requires_grad", False):
        return first, [None] * (len(wanted) + 1)
    second = grad([total], wanted + [v], allow_unused=True)
    return first, second


def _compare(case, ns, arrays, seed=0):
    rng = np.random.default_rng(seed)
    wants = [g and a.dtype.kind == "f" for a, g in zip(arrays, case.grads)]
    xs = [cr.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    ts = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    y, yt = case.fn(ns, *xs), case.fn(_torch_ns(ns), *ts)
    if not yt.requires_grad:
        return
    va = rng.standard_normal(tuple(yt.shape))
    v, vt = cr.tensor(va, requires_grad=True), torch.tensor(va, requires_grad=True)
    ua = [rng.standard_normal(a.shape) for a, w in zip(arrays, wants) if w]
    f, s = _double_backward(cr, cr.autograd.grad, y, xs, v, [cr.tensor(a) for a in ua])
    ft, st_ = _double_backward(torch, torch.autograd.grad, yt, ts, vt, [torch.tensor(a) for a in ua])
    for what, ours, theirs in (("first", f, ft), ("second", s, st_)):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            a = np.zeros(()) if a is None else a.data
            b = np.zeros(()) if b is None else b.detach().numpy(force=True)
            scale = max(1.0, float(np.abs(b).max(initial=0.0)))
            np.testing.assert_allclose(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)),
                                       np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)),
                                       rtol=1e-10, atol=1e-10 * scale,
                                       err_msg=f"{case.name}: {what} derivative {i}")


@pytest.mark.parametrize("case,ns", CASES, ids=IDS)
def test_double_backward_matches_pytorch(case, ns):
    _compare(case, ns, case.arrays(7))


def _from_a_plain_seed(lib, ns, case, arrays, seed):
    """The gradients g of seed(y) from ``create_graph=True``, then those of Σ g², as arrays."""
    wants = [g and a.dtype.kind == "f" for a, g in zip(arrays, case.grads)]
    xs = [lib.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    wanted = [x for x in xs if x.requires_grad]
    y = case.fn(ns, *xs)
    if not y.requires_grad:
        return None
    first = lib.autograd.grad(seed(y), wanted, create_graph=True, allow_unused=True)
    live = [g for g in first if g is not None and g.requires_grad]
    second = lib.autograd.grad(sum((g * g).sum() for g in live), wanted, allow_unused=True) \
        if live else [None] * len(wanted)
    return [None if g is None else np.asarray(g.detach().numpy(**({"force": True} if lib is torch
                                                                  else {})))
            for g in (*first, *second)]


SEEDS = {"sum": lambda y: y.sum(), "mean": lambda y: y.mean()}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case,ns", CASES, ids=IDS)
def test_gradient_of_gradient_from_a_plain_seed_matches_pytorch(case, ns, seed):
    """``grad(y.sum(), x, create_graph=True)``: the gradient reaching y needs no gradient itself
    (the tests above seed with a v that does), so each backward must keep it a Tensor when NumPy's
    functions return arrays for it; then the gradient of Σ grad² matches PyTorch's."""
    arrays = case.arrays(5)
    ours = _from_a_plain_seed(cr, ns, case, arrays, SEEDS[seed])
    theirs = _from_a_plain_seed(torch, _torch_ns(ns), case, arrays, SEEDS[seed])
    if theirs is None:
        return
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a is None and b is None:
            continue
        a, b = (np.zeros_like(b) if a is None else a), (np.zeros_like(a) if b is None else b)
        order = "second" if 2 * i >= len(ours) else "first"
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10,
                                   err_msg=f"{case.name}: {order}-order gradient {i}")


@pytest.mark.parametrize("op", BROADCASTING, ids=[o.name for o in BROADCASTING])
@settings(max_examples=15, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**32 - 1))
def test_broadcast_pairs_double_backward_matches_pytorch(op, shapes, seed):
    def arrays(s):
        return draw_inputs(op, shapes.input_shapes, s)
    case = Case(op.name, lambda L, *t: op.fn(L, *t), arrays, (True, True))
    _compare(case, OPS_CR, arrays(seed), seed)


@pytest.mark.parametrize("fn", [lambda x: x.tanh(), lambda x: x.sigmoid(), lambda x: x.exp() * x,
                                lambda x: x.softmax(dim=0), lambda x: (x * x).sum().sqrt()],
                         ids=["tanh", "sigmoid", "x_exp", "softmax", "norm"])
def test_third_and_fourth_derivatives_match_pytorch(fn):
    a = np.array([0.3, -1.2, 0.7])
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, yt = fn(x).sum(), fn(xt).sum()
    for order in range(4):
        (y,), (yt,) = (cr.autograd.grad(y, x, create_graph=True),
                       torch.autograd.grad(yt, xt, create_graph=True))
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"derivative of order {order + 1}")
        y, yt = y.sum(), yt.sum()
