"""``nn.init``: PyTorch's formulas (gains and fans exactly, distributions statistically on large
tensors), in place, outside the graph, reproducible from the seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init
from .helpers import torch_ns

SHAPES = [(7, 3), (5, 4, 3), (8, 6, 3, 2), (2, 3, 4, 5, 6)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    T = torch_ns()
    want = T.lib.nn.init._calculate_fan_in_and_fan_out(T.lib.empty(shape))
    assert init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == want


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(cr.empty(5))


@pytest.mark.parametrize("nonlinearity,param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None),
    ("conv_transpose2d", None)])
def test_gains_match_torch(nonlinearity, param):
    T = torch_ns()
    assert init.calculate_gain(nonlinearity, param) == T.lib.nn.init.calculate_gain(nonlinearity, param)


def test_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity softplus"):
        init.calculate_gain("softplus")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def _uniform(a, lo, hi):
    a = np.asarray(a, np.float64).ravel()
    assert a.min() >= lo and a.max() <= hi
    width = hi - lo
    assert a.min() < lo + 0.01 * width and a.max() > hi - 0.01 * width
    np.testing.assert_allclose(a.mean(), (lo + hi) / 2, atol=0.01 * width)
    np.testing.assert_allclose(a.std(), width / math.sqrt(12), rtol=0.02)


def _normal(a, mean, std):
    a = np.asarray(a, np.float64).ravel()
    np.testing.assert_allclose(a.mean(), mean, atol=0.01 * std + 1e-12)
    np.testing.assert_allclose(a.std(), std, rtol=0.02)


SHAPE = (300, 100, 3)  # fan_in 300, fan_out 900


def test_kaiming_uniform():
    w = cr.empty(*SHAPE)
    assert init.kaiming_uniform_(w) is w
    _uniform(w.data, -math.sqrt(6 / 300), math.sqrt(6 / 300))  # gain √2, bound √3·gain/√fan_in
    init.kaiming_uniform_(w, a=math.sqrt(5))
    _uniform(w.data, -1 / math.sqrt(300), 1 / math.sqrt(300))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    _uniform(w.data, -math.sqrt(6 / 900), math.sqrt(6 / 900))


def test_kaiming_normal():
    w = cr.empty(*SHAPE)
    init.kaiming_normal_(w)
    _normal(w.data, 0, math.sqrt(2 / 300))
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh")
    _normal(w.data, 0, (5 / 3) / math.sqrt(900))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_xavier():
    w = cr.empty(*SHAPE)
    init.xavier_uniform_(w, gain=2.0)
    a = 2.0 * math.sqrt(6 / (300 + 900))
    _uniform(w.data, -a, a)
    init.xavier_normal_(w)
    _normal(w.data, 0, math.sqrt(2 / 1200))


def test_simple_fills():
    w = cr.empty(200, 300)
    init.uniform_(w, -2, 3)
    _uniform(w.data, -2, 3)
    init.normal_(w, 1.5, 0.5)
    _normal(w.data, 1.5, 0.5)
    init.trunc_normal_(w, std=1.0, a=-1.0, b=1.5)
    assert w.data.min() >= -1.0 and w.data.max() <= 1.5
    assert init.constant_(w, 0.25).data.max() == 0.25 and w.data.min() == 0.25
    assert init.ones_(w).data.min() == 1 and init.zeros_(w).data.max() == 0
    np.testing.assert_array_equal(init.eye_(cr.empty(2, 3)).data, np.eye(2, 3))


def test_orthogonal():
    w = cr.empty(4, 6)
    init.orthogonal_(w)
    np.testing.assert_allclose(w.data @ w.data.T, np.eye(4), atol=1e-6)
    w = cr.empty(6, 2, dtype=cr.float64)
    init.orthogonal_(w, gain=2.0)
    np.testing.assert_allclose(w.data.T @ w.data, 4 * np.eye(2), atol=1e-12)


def test_init_is_in_place_on_parameters_and_keeps_dtype():
    p = nn.Parameter(cr.zeros(3, 4))
    arr = np.asarray(p)
    out = init.kaiming_uniform_(p)
    assert out is p and np.asarray(p) is arr and p.dtype == np.float32
    assert p.requires_grad and p.grad_fn is None
    q = nn.Parameter(cr.zeros(3, 4, dtype=cr.float64))
    init.normal_(q)
    assert q.dtype == np.float64


def test_init_is_reproducible_and_takes_a_generator():
    a, b = cr.empty(5, 5), cr.empty(5, 5)
    cr.manual_seed(1)
    init.xavier_uniform_(a)
    cr.manual_seed(1)
    init.xavier_uniform_(b)
    np.testing.assert_array_equal(a.data, b.data)
    g1, g2 = cr.Generator(7), cr.Generator(7)
    init.normal_(a, generator=g1)
    init.normal_(b, generator=g2)
    np.testing.assert_array_equal(a.data, b.data)


def test_zero_element_tensor_is_a_no_op_with_a_warning():
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(cr.empty(0, 3))
