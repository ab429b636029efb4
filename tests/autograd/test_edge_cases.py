"""Edge cases of gradients against PyTorch: constant inputs to std/var, empty products, NaN at
kinks, integer division by zero, .grad assignment, gradients that must not share memory."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from ._parity import T, assert_raises_like_torch, assert_same, torch
from .functions import make_function

NAN = float("nan")


def _grad_of(f, values, dtype=None):
    def case(L):
        x = T(L, values, True, dtype=dtype)
        y = f(L, x)
        (y.sum() if y.ndim else y).backward()
        return y, x.grad
    return case


# -- std and var of a constant ------------------------------------------------------------------

CONSTANT = {
    "std": (lambda L, x: x.std(), [2.0, 2.0, 2.0]),
    "var": (lambda L, x: x.var(), [2.0, 2.0, 2.0]),
    "std(dim=1)": (lambda L, x: x.std(dim=1), [[2.0, 2.0], [1.0, 3.0]]),
    "std(dim=0, keepdim)": (lambda L, x: x.std(dim=0, keepdim=True), [[2.0, 2.0], [2.0, 3.0]]),
    "var(dim=1)": (lambda L, x: x.var(dim=1), [[2.0, 2.0], [1.0, 3.0]]),
    "std(unbiased=False)": (lambda L, x: x.std(unbiased=False), [2.0, 2.0, 2.0]),
    "std(correction=0)": (lambda L, x: x.std(correction=0), [2.0, 2.0, 2.0]),
    "std of 0.1s (inexact mean)": (lambda L, x: x.std(), [0.1] * 5),
    "std of 1e8s": (lambda L, x: x.std(), [1e8] * 3),
    "std of zeros": (lambda L, x: x.std(), [0.0] * 4),
}


@pytest.mark.parametrize("name", list(CONSTANT))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_std_and_var_of_a_constant_have_gradient_zero_as_pytorch(name, dtype):
    f, values = CONSTANT[name]
    y, grad = assert_same(lambda L: _grad_of(f, values, getattr(L, dtype))(L))
    assert not np.isnan(grad.data).any()


def test_std_of_a_nearly_constant_input_matches_pytorch():
    assert_same(lambda L: _grad_of(lambda L, x: x.std(), [1.0, 1.0, 1.0 + 1e-3], L.float64)(L),
                rtol=1e-7)


@pytest.mark.parametrize("values", [[2.0], [[2.0, 3.0]]], ids=["std([2.])", "std(dim=0) of 1 row"])
def test_std_of_a_single_element_matches_pytorch(values):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(_grad_of(lambda L, x: x.std(dim=0) if x.ndim > 1 else x.std(), values))


ROWS = [[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]  # the first row constant


@pytest.mark.parametrize("reduce, values", [
    pytest.param(lambda x: x.std(), [2.0, 2.0, 2.0], id="std"),
    pytest.param(lambda x: x.std(dim=1).sum(), ROWS, id="std(dim=1)"),
    pytest.param(lambda x: x.std(unbiased=False), [2.0, 2.0, 2.0], id="std(unbiased=False)"),
    pytest.param(lambda x: x.var(), [2.0, 2.0, 2.0], id="var"),
    pytest.param(lambda x: x.var(dim=1).sum(), ROWS, id="var(dim=1)"),
])
def test_second_derivative_of_std_and_var_at_a_constant_matches_pytorch(reduce, values):
    def case(L):
        x = T(L, values, True, dtype=L.float64)
        (g,) = L.autograd.grad(reduce(x), x, create_graph=True)
        (g2,) = L.autograd.grad(g.sum(), x)
        return g, g2

    assert_same(case, rtol=1e-7, atol=1e-12)


# -- products with zeros, empty products ------------------------------------------------------------

@pytest.mark.parametrize("f, values", [
    (lambda L, x: x.prod(), []),
    (lambda L, x: x.prod(dim=1), [[], []]),
    (lambda L, x: x.prod(), [2.0, 0.0, 3.0]),
    (lambda L, x: x.prod(), [2.0, 0.0, 0.0]),
    (lambda L, x: x.prod(dim=1), [[2.0, 0.0, 3.0], [1.0, 2.0, 3.0]]),
    (lambda L, x: x.prod(dim=0), [[0.0, 0.0], [0.0, 5.0]]),
], ids=["empty", "empty rows", "one zero", "two zeros", "rows with a zero", "columns"])
def test_prod_backward_matches_pytorch(f, values):
    assert_same(_grad_of(f, values))


# -- NaN at the kinks ------------------------------------------------------------------------------

NV = [NAN, 1.0, -1.0, 0.0]
AT_NAN = {
    "relu": lambda L, x: x.relu(),
    "abs": lambda L, x: x.abs(),
    "max()": lambda L, x: x.max(),
    "min()": lambda L, x: x.min(),
    "amax()": lambda L, x: x.amax(),
    "amax(dim=0)": lambda L, x: x.amax(dim=0),
    "amin()": lambda L, x: x.amin(),
    "max(dim=0)": lambda L, x: x.max(dim=0)[0],
    "maximum(x, 0)": lambda L, x: L.maximum(x, L.zeros(4)),
    "minimum(x, 0)": lambda L, x: L.minimum(x, L.zeros(4)),
    "clamp(-0.5, 0.5)": lambda L, x: x.clamp(-0.5, 0.5),
    "clamp(min=0)": lambda L, x: x.clamp(min=0),
    "leaky_relu": lambda L, x: L.nn.functional.leaky_relu(x, 0.1),
    "relu_ on a copy": lambda L, x: (x * 1).relu_(),
    "sigmoid": lambda L, x: x.sigmoid(),
}


@pytest.mark.parametrize("name", list(AT_NAN))
def test_gradient_at_nan_matches_pytorch(name):
    assert_same(_grad_of(AT_NAN[name], NV))


@pytest.mark.parametrize("f, values", [
    (lambda L, x: x.max(dim=1)[0], [[NAN, 1.0], [2.0, NAN], [1.0, 3.0]]),
    (lambda L, x: x.amax(dim=1), [[NAN, 1.0], [2.0, NAN], [1.0, 3.0]]),
    (lambda L, x: x.max(), [NAN, 1.0, NAN]),
    (lambda L, x: x.amax(), [NAN, 1.0, NAN]),
    (lambda L, x: x.max(), [3.0, 1.0, 3.0]),
    (lambda L, x: x.amax(), [3.0, 1.0, 3.0]),
    (lambda L, x: x.max(dim=0)[0], [3.0, 1.0, 3.0]),
    (lambda L, x: x.clamp(-1, 1), [-1.0, 1.0]),
    (lambda L, x: x.abs(), [0.0, -0.0]),
    (lambda L, x: x.abs(), [float("inf"), -float("inf")]),
], ids=["max(dim) rows with NaN", "amax(dim) rows with NaN", "max() two NaNs", "amax() two NaNs",
        "max() tie", "amax() tie (split)", "max(dim) tie", "clamp at its bounds", "abs at ±0",
        "abs at ±inf"])
def test_gradient_at_nan_ties_and_bounds_matches_pytorch(f, values):
    assert_same(_grad_of(f, values))


def test_max_dim_indices_with_nan_match_pytorch():
    assert_same(lambda L: T(L, [[NAN, 1.0], [2.0, NAN], [1.0, 3.0]]).max(dim=1)[1])


@pytest.mark.parametrize("a, b", [(NV, [0.0, 0.0, NAN, 0.0]), ([1.0, 2.0], [1.0, 3.0])],
                         ids=["NaN on either side", "tie"])
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_gradients_to_both_inputs_match_pytorch(op, a, b):
    def case(L):
        x, y = T(L, a, True), T(L, b, True)
        getattr(L, op)(x, y).sum().backward()
        return x.grad, y.grad

    assert_same(case)


# -- integer division by zero ---------------------------------------------------------------------

INT_DIV = {
    "t // t": lambda L: T(L, [1, 2]) // T(L, [0, 1]),
    "t // 0": lambda L: T(L, [1, 2]) // 0,
    "5 // t": lambda L: 5 // T(L, [1, 0]),
}


@pytest.mark.parametrize("name", list(INT_DIV))
def test_integer_floor_division_by_zero_raises(name):
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        INT_DIV[name](torch)
    with pytest.raises((RuntimeError, ZeroDivisionError), match="division by zero"):
        INT_DIV[name](cr)


def test_integer_floor_division_by_zero_raises_a_runtime_error_as_pytorch():
    assert_raises_like_torch(INT_DIV["t // t"], RuntimeError)


@pytest.mark.parametrize("expr", [lambda L: T(L, [1, 2]) % T(L, [0, 1]),
                                  lambda L: T(L, [1, 2]) % 0],
                         ids=["t % t", "t % 0"])
def test_integer_remainder_by_zero_raises_as_pytorch(expr):
    assert_raises_like_torch(expr, (RuntimeError, ZeroDivisionError))


def test_float_floor_division_by_zero_matches_pytorch():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(lambda L: T(L, [1.0, -2.0, 0.0]) // T(L, [0.0, 0.0, 0.0]))


# -- assigning .grad ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make, exc", [
    (lambda L: L.zeros(2), RuntimeError),
    (lambda L: L.zeros(1), RuntimeError),
    (lambda L: L.zeros(3, 1), RuntimeError),
    (lambda L: L.zeros(3, dtype=L.float64), RuntimeError),
    (lambda L: L.zeros(3, dtype=L.int64), RuntimeError),
    (lambda L: np.zeros(3, dtype=np.float32), TypeError),
    (lambda L: [0.0, 0.0, 0.0], TypeError),
], ids=["shape (2,)", "shape (1,)", "shape (3, 1)", "float64", "int64", "ndarray", "list"])
@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "non-leaf"])
def test_assigning_a_wrong_grad_raises_as_pytorch(make, exc, leaf):
    def case(L):
        x = T(L, [1.0, 2.0, 3.0], True)
        t = x if leaf else x * 2
        t.grad = make(L)

    assert_raises_like_torch(case, exc)


def test_assigning_a_right_grad_then_backward_accumulates_into_it_as_pytorch():
    def case(L):
        x = T(L, [1.0, 2.0, 3.0], True)
        g = L.ones(3)
        x.grad = g
        (x * 2).sum().backward()
        return g, x.grad is g, x.grad

    assert_same(case)


# -- gradients that must not share memory ---------------------------------------------------------

def _same_gradient_function(L, n):
    class Sum(L.autograd.Function):
        @staticmethod
        def forward(ctx, *xs):
            out = xs[0] * 1
            for x in xs[1:]:
                out = out + x
            return out

        @staticmethod
        def backward(ctx, grad_output):
            return (grad_output,) * n  # the same tensor for every input

    return Sum


@pytest.mark.parametrize("n", [2, 3, 4])
def test_a_function_returning_one_gradient_for_several_inputs_leaves_separate_grads(n):
    def case(L):
        xs = [T(L, [1.0, -2.0, 3.0], True) for _ in range(n)]
        _same_gradient_function(L, n).apply(*xs).sum().backward()
        xs[0].grad.add_(100)  # changes x0's gradient only
        xs[-1].grad.mul_(3)
        return [x.grad for x in xs]

    got = assert_same(case)
    for a in range(n):
        for b in range(a + 1, n):
            assert not np.shares_memory(got[a].data, got[b].data)


def test_a_function_returning_the_same_computed_tensor_twice_leaves_separate_grads():
    def case(L):
        F = make_function(L, lambda ctx, a, b: a + b,
                          lambda ctx, grad_output: (grad_output * 2,) * 2)  # one tensor twice
        a, b = T(L, [1.0, 2.0], True), T(L, [3.0, 4.0], True)
        F.apply(a, b).sum().backward()
        a.grad.mul_(0)
        return a.grad, b.grad

    assert_same(case)


def test_grad_output_is_not_aliased_by_grad():
    def case(L):
        Identity = make_function(L, lambda ctx, a: a * 1, lambda ctx, grad_output: grad_output)
        a = T(L, [1.0, 2.0, 3.0], True)
        go = T(L, [1.0, 1.0, 1.0])
        Identity.apply(a).backward(go)
        a.grad.mul_(5)
        b = T(L, [1.0, 2.0, 3.0], True)
        (b + 0).backward(go)
        b.grad.mul_(7)
        return go, a.grad, b.grad

    assert_same(case)


def test_hooks_returning_one_tensor_for_two_leaves_leave_separate_grads():
    def case(L):
        a, b = T(L, [1.0, 2.0], True), T(L, [3.0, 4.0], True)
        keep = T(L, [7.0, 7.0])
        a.register_hook(lambda g: keep)
        b.register_hook(lambda g: keep)
        (a + b).sum().backward()
        a.grad.mul_(0)
        return keep, a.grad, b.grad

    assert_same(case)


def test_retained_grads_and_leaf_grads_do_not_share_memory():
    def case(L):
        a = T(L, [1.0, 2.0, 3.0], True)
        y = a + 0
        y.retain_grad()
        z = y * 1
        z.retain_grad()
        z.sum().backward()
        y.grad.mul_(0)
        z.grad.add_(1)
        return a.grad, y.grad, z.grad

    assert_same(case)


@pytest.mark.parametrize("n", [2, 3])
def test_shared_gradient_separate_with_backward_inputs_and_create_graph(n):
    def case(L):
        xs = [T(L, [1.0, -2.0], True) for _ in range(n)]
        out = _same_gradient_function(L, n).apply(*xs).sum()
        out.backward(inputs=xs, retain_graph=True)
        xs[0].grad.add_(100)
        first = [x.grad.clone() for x in xs]
        for x in xs:
            x.grad = None
        out.backward(create_graph=True)
        xs[0].grad.data.add_(1) if L is torch else xs[0].grad.data.__iadd__(1)
        return first, [x.grad for x in xs]

    assert_same(case)
