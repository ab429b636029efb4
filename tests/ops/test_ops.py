"""Every op of the table: forward against NumPy, gradients against central differences on every
element (float64), and forward and gradients against PyTorch, including broadcast pairs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from .op_table import ALL, BROADCASTING, CR, UNARY, _torch_ns, draw_inputs, first_output

CASES = [(op, shapes) for op in ALL for shapes in op.shapes]
IDS = [f"{op.name}-{'x'.join(map(str, shapes))}" for op, shapes in CASES]


@pytest.mark.parametrize("op,shapes", CASES, ids=IDS)
def test_forward_matches_numpy(op, shapes):
    arrays = draw_inputs(op, shapes, 0)
    xs = [cr.tensor(a) for a in arrays]
    got = first_output(op.fn(CR, *xs))
    want = op.ref(*arrays)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op,shapes", CASES, ids=IDS)
def test_forward_keeps_float32(op, shapes):
    xs = [cr.tensor(a) for a in draw_inputs(op, shapes, 1, np.float32)]
    assert first_output(op.fn(CR, *xs)).dtype == np.float32


@pytest.mark.parametrize("op,shapes", CASES, ids=IDS)
def test_gradient_matches_finite_differences(op, shapes):
    xs = [cr.tensor(a, requires_grad=True) for a in draw_inputs(op, shapes, 2)]
    assert cr.autograd.gradcheck(lambda *t: first_output(op.fn(CR, *t)), xs, eps=1e-6, atol=1e-7,
                                 rtol=1e-6)


def _compare_with_torch(op, arrays, rtol, atol):
    torch = pytest.importorskip("torch")
    T = _torch_ns()
    rng = np.random.default_rng(3)
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = first_output(op.fn(CR, *xs)), first_output(op.fn(T, *ts))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.standard_normal(y.shape).astype(arrays[0].dtype)
    y.backward(cr.tensor(seed))
    yt.backward(torch.tensor(seed))
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad is not None, f"{op.name}: no gradient for input {i}"
        assert x.grad.dtype == x.dtype
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{op.name}: gradient of input {i}")


@pytest.mark.parametrize("op,shapes", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_pytorch(op, shapes, dtype):
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    _compare_with_torch(op, draw_inputs(op, shapes, 4, dtype), **tol)


@pytest.mark.parametrize("op", BROADCASTING, ids=[o.name for o in BROADCASTING])
@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       seed=st.integers(0, 2**32 - 1))
def test_broadcast_pairs_match_pytorch(op, shapes, seed):
    arrays = draw_inputs(op, shapes.input_shapes, seed)
    _compare_with_torch(op, arrays, rtol=1e-10, atol=1e-12)


UNARY_ELEMENTWISE = [op for op in UNARY if op.name in (
    "exp", "tanh", "sigmoid", "sin", "cos", "relu", "abs", "gelu", "log", "sqrt", "clamp")]


@pytest.mark.parametrize("op", UNARY_ELEMENTWISE, ids=[o.name for o in UNARY_ELEMENTWISE])
@settings(max_examples=15, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5), seed=st.integers(0, 2**32 - 1))
def test_random_shapes_match_pytorch(op, shape, seed):
    _compare_with_torch(op, draw_inputs(op, [shape], seed), rtol=1e-10, atol=1e-12)
