"""What the op table cannot hold, for the math, test, comparison, norm, shape and creation ops of
PyTorch's surface: non-differentiable results (masks, bools, integer quotients), special values
(NaN, inf, zero norms and distances, ties), the errors PyTorch raises, creation functions,
``grad_fn.next_functions``, and NumPy's ``axis=`` spellings. Each is checked against PyTorch."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
INF = math.inf


def _same(ours, theirs, rtol=1e-12, atol=1e-12):
    """Values, shape and dtype of a chainrule tensor and a PyTorch tensor agree (``atol``
    relative to the largest value)."""
    want = theirs.detach().numpy(force=True)  # (force: PyTorch's gradient may be a ZeroTensor)
    assert ours.shape == want.shape
    assert ours.dtype == want.dtype
    finite = np.abs(want[np.isfinite(want)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(ours.data, want, rtol=rtol, atol=atol * scale)


def _both(fn, *arrays, grad=True):
    """fn on chainrule tensors and on PyTorch tensors of the same arrays; the outputs and, if
    ``grad``, the gradients for a random output gradient must agree."""
    xs = [cr.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    y, yt = fn(cr, *xs), fn(torch, *ts)
    _same(y, yt)
    if grad and yt.requires_grad:
        g = np.random.default_rng(0).standard_normal(y.shape)
        y.backward(cr.tensor(g))
        yt.backward(torch.tensor(g))
        for x, t in zip(xs, ts):
            if t.grad is not None or x.grad is not None:  # (None both: the input was not used)
                _same(x.grad, t.grad if t.grad is not None else torch.zeros_like(t))


# -- tests of values: isnan, isinf, isfinite, nan_to_num --------------------------------------------

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -2.5, 1e38])


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "isposinf", "isneginf"])
@pytest.mark.parametrize("a", [SPECIAL, SPECIAL.astype(np.float32), np.array([1, -2])],
                         ids=["float64", "float32", "int64"])
def test_value_tests_match_pytorch(name, a):
    got = getattr(cr, name)(cr.tensor(a))
    assert got.dtype == np.bool_ and not got.requires_grad
    _same(got, getattr(torch, name)(torch.tensor(a)))
    _same(getattr(cr.tensor(a), name)(), getattr(torch.tensor(a), name)())


@pytest.mark.parametrize("kwargs", [{}, dict(nan=1.0), dict(nan=2.0, posinf=3.0, neginf=-4.0),
                                    dict(posinf=1e300)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_to_num_and_its_gradient_match_pytorch(kwargs, dtype):
    _both(lambda L, x: L.nan_to_num(x * 3, **kwargs), SPECIAL.astype(dtype))


def test_nan_to_num_keeps_integers():
    _same(cr.tensor([1, 2]).nan_to_num(), torch.tensor([1, 2]).nan_to_num())


# -- comparison: isclose, allclose, equal ---------------------------------------------------------

CLOSE = [
    (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0 + 1e-6, 3.1]), {}),
    (np.array([1.0, np.nan, np.inf, -np.inf]), np.array([1.0, np.nan, np.inf, np.inf]), {}),
    (np.array([1.0, np.nan]), np.array([1.0, np.nan]), dict(equal_nan=True)),
    (np.array([1.0, 2.0, 3.0], np.float32), np.array([1.00001, 2.00002, 3.00003], np.float32), {}),
    (np.array([[1.0], [2.0]]), np.array([1.0, 1.05]), dict(rtol=0.1)),
    (np.array([1, 2]), np.array([1, 3]), dict(rtol=0.5)),
    (np.array([0.0, 1e-9]), np.array([1e-9, 0.0]), dict(atol=0.0)),
]


@pytest.mark.parametrize("a,b,kwargs", CLOSE)
def test_isclose_and_allclose_match_pytorch(a, b, kwargs):
    _same(cr.isclose(cr.tensor(a), cr.tensor(b), **kwargs),
          torch.isclose(torch.tensor(a), torch.tensor(b), **kwargs))
    want = torch.allclose(torch.tensor(a), torch.tensor(b), **kwargs)
    assert cr.allclose(cr.tensor(a), cr.tensor(b), **kwargs) is want
    assert cr.tensor(a).allclose(cr.tensor(b), **kwargs) is want
    _same(cr.tensor(a).isclose(cr.tensor(b), **kwargs),
          torch.tensor(a).isclose(torch.tensor(b), **kwargs))


@pytest.mark.parametrize("a,b", [
    (np.array([1.0, 2.0]), np.array([1.0, 2.0])), (np.array([1.0, 2.0]), np.array([1.0, 2.5])),
    (np.array([1]), np.array([1.0])), (np.array([1.0]), np.array([[1.0]])),
    (np.array([1.0]), np.array([1.0, 1.0])), (np.array([np.nan]), np.array([np.nan])),
    (np.zeros((0, 2)), np.zeros((0, 2)))])
def test_equal_matches_pytorch(a, b):
    want = torch.equal(torch.tensor(a), torch.tensor(b))
    assert cr.equal(cr.tensor(a), cr.tensor(b)) is want
    assert cr.tensor(a).equal(cr.tensor(b)) is want


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparison_functions_match_pytorch(name):
    # `torch.eq(pred, y).sum()`: the functions, not only the methods and operators
    a, b = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0], [3.0]])
    for other in (b, 2.0, 2):
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(other) if isinstance(
            other, np.ndarray) else other)
        got = getattr(cr, name)(cr.tensor(a), cr.tensor(other) if isinstance(
            other, np.ndarray) else other)
        assert got.dtype == cr.bool
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_comparison_errors_as_pytorch():
    with pytest.raises(RuntimeError, match="isclose: float32 did not match float64"):
        cr.allclose(cr.tensor([1.0]), cr.tensor([1.0], dtype=cr.float64))
    with pytest.raises(RuntimeError, match="isclose: int64 did not match float32"):
        cr.isclose(cr.tensor([1]), cr.tensor([1.0]))
    with pytest.raises(RuntimeError, match="rtol must be greater than or equal to zero, but got -1"):
        cr.isclose(cr.tensor([1.0]), cr.tensor([1.0]), rtol=-1)
    with pytest.raises(TypeError, match="argument 'other' must be Tensor, not float"):
        cr.allclose(cr.tensor([1.0]), 1.0)
    with pytest.raises(RuntimeError, match=r"isclose: cannot broadcast \(2,\) with \(3,\)"):
        cr.isclose(cr.zeros(2), cr.zeros(3))


# -- rounding: values, integer dtypes, zero gradients, div's rounding modes -------------------------

HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -3.7, 3.2, -0.0, np.nan, np.inf,
                   -np.inf])  # (sign(NaN) is 0 in PyTorch)


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "sign", "frac", "fix", "sgn"])
def test_rounding_matches_pytorch(name):
    for a in (HALVES, HALVES.astype(np.float32)):
        _both(lambda L, x: getattr(L, name)(x), a)
    if name != "frac":  # PyTorch has no frac for integers
        _same(getattr(cr, name)(cr.tensor([-3, 0, 4])), getattr(torch, name)(torch.tensor([-3, 0, 4])))


@pytest.mark.parametrize("decimals", [0, 1, 2, -1, -2])
def test_round_decimals_matches_pytorch(decimals):
    a = np.array([1.25, 2.5, 0.125, 1234.5, -35.0, 0.05, 149.99])
    for dtype in (np.float64, np.float32):
        _both(lambda L, x: L.round(x, decimals=decimals), a.astype(dtype))


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_modes_match_pytorch(mode):
    a, b = np.array([7.0, -7.0, 7.5, -7.5, 0.0, 3.0]), np.array([2.0, 2.0, -2.0, 0.5, 3.0, 0.0])
    for dtype in (np.float64, np.float32):
        _both(lambda L, x, y: L.div(x, y, rounding_mode=mode), a.astype(dtype), b.astype(dtype))
    ints = np.array([7, -7, 7, -7, 0]), np.array([2, 2, -2, -2, 5])
    _both(lambda L, x, y: L.div(x, y, rounding_mode=mode), *ints)
    _both(lambda L, x: x.div(2, rounding_mode=mode), ints[0])
    _both(lambda L, x: L.divide(x, 2.5, rounding_mode=mode), ints[0])
    for x in (a, ints[0]):  # in place: x.div_(y, rounding_mode=...), on a leaf and in a graph
        t, tt = cr.tensor(x), torch.tensor(x)
        assert t.div_(2, rounding_mode=mode) is t
        tt.div_(2, rounding_mode=mode)
        _same(t, tt)
    _both(lambda L, x: (x * 1).div_(3, rounding_mode=mode) + x, a)


def test_div_errors_as_pytorch():
    with pytest.raises(ZeroDivisionError):
        cr.div(cr.tensor([7]), cr.tensor([0]), rounding_mode="trunc")
    with pytest.raises(RuntimeError, match="div expected rounding_mode to be one of None, 'trunc', "
                                           "or 'floor' but found 'bad'"):
        cr.div(cr.tensor([7.0]), 2, rounding_mode="bad")


# -- clamp with tensor bounds: PyTorch's gradient at the bounds and where min > max ------------------

def test_clamp_with_tensor_bounds_matches_pytorch_at_ties_and_crossed_bounds():
    x = np.array([0.5, 1.5, -2.0, 0.0, 3.0, 1.0])
    lo = np.array([0.5, 2.0, -3.0, 1.0, 2.0, 1.0])  # x == lo at 0 and 5; lo > hi at 3, 4
    hi = np.array([1.0, 1.0, -2.0, 0.5, 1.0, 1.0])  # x == hi at 2 and 5
    _both(lambda L, x, lo, hi: L.clamp(x, lo, hi), x, lo, hi)
    _both(lambda L, x, lo: L.clamp(x, min=lo), x, lo)
    _both(lambda L, x, hi: x.clamp(max=hi), x, hi)
    _both(lambda L, x, lo: x.clamp_min(lo), x, lo)
    _both(lambda L, x, hi: L.clamp_max(x, hi), x, hi)


def test_clamp_bound_dtypes_as_pytorch():
    x = np.array([0.5, 1.5], np.float32)
    for bound in (np.array(0.7), np.array([0.7, 1.0]), np.array([1, 2])):
        _same(cr.clamp(cr.tensor(x), cr.tensor(bound)), torch.clamp(torch.tensor(x), torch.tensor(bound)))
    _same(cr.clamp(cr.tensor([1, 5]), 2, 3), torch.clamp(torch.tensor([1, 5]), 2, 3))


# -- lerp, logit, erfinv: PyTorch's edge values -------------------------------------------------------

def test_logit_edges_match_pytorch():
    a = np.array([0.0, 1.0, 0.05, 0.5, 0.99, -0.5, 1.5])
    _both(lambda L, x: L.logit(x), a)
    _both(lambda L, x: L.logit(x, eps=0.1), a)


def test_erfinv_edges_match_pytorch():
    _same(cr.erfinv(cr.tensor([1.0, -1.0, 1.5, 0.0, 0.999])),
          torch.erfinv(torch.tensor([1.0, -1.0, 1.5, 0.0, 0.999])), rtol=1e-6)


def test_erfinv_without_scipy(monkeypatch):
    """The fallback (Newton's method from Winitzki's guess) agrees with PyTorch to 1e-12."""
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    a = np.concatenate([np.linspace(-0.999, 0.999, 41), [1.0, -1.0, 1.5]])
    _same(cr.erfinv(cr.tensor(a)), torch.erfinv(torch.tensor(a)), rtol=1e-12, atol=1e-13)


def test_integer_inputs_give_floats_as_pytorch():
    ints = np.array([1, 2, 4])
    for name in ("reciprocal", "rsqrt", "exp2", "log1p", "tan", "sinh", "erfinv", "atan"):
        _same(getattr(cr, name)(cr.tensor(ints)), getattr(torch, name)(torch.tensor(ints)),
              rtol=1e-6)
    _same(cr.atan2(cr.tensor(ints), cr.tensor(ints[::-1])),
          torch.atan2(torch.tensor(ints), torch.tensor(ints[::-1].copy())), rtol=1e-6)
    _same(cr.square(cr.tensor(ints)), torch.square(torch.tensor(ints)))
    flags = np.array([True, False])
    _same(cr.square(cr.tensor(flags)), torch.square(torch.tensor(flags)))  # int64


@pytest.mark.parametrize("call", [lambda L, t: t.frac(), lambda L, t: L.lerp(t, t, t),
                                  lambda L, t: L.logaddexp(t, t), lambda L, t: L.round(t, decimals=1)])
def test_integer_inputs_pytorch_refuses(call):
    with pytest.raises(NotImplementedError):
        call(torch, torch.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match="not implemented for integer or bool tensors"):
        call(cr, cr.tensor([1, 2]))


def test_lerp_weight_dtypes_as_pytorch():
    a, b = np.array([1.0, 2.0], np.float32), np.array([3.0, -1.0], np.float32)
    for w in (0.25, cr.tensor(0.75, dtype=cr.float64)):
        tw = w if isinstance(w, float) else torch.tensor(0.75, dtype=torch.float64)
        _same(cr.lerp(cr.tensor(a), cr.tensor(b), w), torch.lerp(torch.tensor(a), torch.tensor(b), tw))
    for end, weight, name in ((b.astype(np.float64), 0.5, "end"), (b, b.astype(np.float64), "weight"),
                              (b.astype(np.float64)[0], 0.5, "end")):
        with pytest.raises(RuntimeError, match=f"expected dtype float for `{name}`"):
            torch.lerp(torch.tensor(a), torch.tensor(end), torch.tensor(weight))
        with pytest.raises(RuntimeError, match=f"lerp: expected dtype float32 for `{name}`"):
            cr.lerp(cr.tensor(a), cr.tensor(end), cr.tensor(weight))


@pytest.mark.parametrize("name,args", [("floor_", ()), ("round_", ()), ("frac_", ()),
                                       ("reciprocal_", ()), ("clamp_min_", (0.3,)),
                                       ("lerp_", (None, 0.3)), ("atan2_", (None,)),
                                       ("nan_to_num_", ()), ("logit_", ())])
def test_in_place_math_matches_pytorch(name, args):
    a = np.array([0.25, 0.5, 0.8])
    other = np.array([0.9, 0.1, 0.6])
    for lib in (cr, torch):  # on a leaf that needs no grad: the memory changes
        t = lib.tensor(a.copy())
        out = getattr(t, name)(*[lib.tensor(other) if v is None else v for v in args])
        assert out is t
    _both(lambda L, x, y: getattr(x * 1, name)(*[y if v is None else v for v in args]), a, other)
    t = cr.tensor(a.copy())
    getattr(t, name)(*[cr.tensor(other) if v is None else v for v in args])
    tt = torch.tensor(a.copy())
    getattr(tt, name)(*[torch.tensor(other) if v is None else v for v in args])
    _same(t, tt)


# -- norms: zero vectors, p = 0, errors ---------------------------------------------------------------

PS = [2, 1, 3, 0.5, 1.5, INF, -INF, -1]


@pytest.mark.parametrize("p", PS + [0])
def test_vector_norm_of_zeros_has_pytorchs_gradient(p):
    """At a zero vector (and a zero row) the gradient is 0, as PyTorch's, not NaN."""
    a = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    _both(lambda L, x: L.linalg.vector_norm(x, p, dim=1), a)


def test_vector_norm_p0_counts_nonzeros():
    _both(lambda L, x: L.linalg.vector_norm(x, 0), np.array([0.0, 1.5, -2.0, 0.0]))
    x = cr.tensor([0.0, 1.5, -2.0], requires_grad=True)
    cr.linalg.vector_norm(x, 0).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]  # PyTorch: no gradient at all


def test_norm_arguments_as_pytorch():
    a = np.arange(24.0).reshape(2, 3, 4) - 11
    for kwargs in (dict(), dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(p=1), dict(p="fro"),
                   dict(p=INF, dim=-1), dict(p=3, dim=(0, 1)), dict(dtype=torch.float64)):
        ours = {k: (cr.float64 if v is torch.float64 else v) for k, v in kwargs.items()}
        _same(cr.tensor(a, dtype=cr.float32).norm(**ours), torch.tensor(a, dtype=torch.float32).norm(**kwargs),
              rtol=1e-6)
    _same(cr.linalg.vector_norm(cr.tensor(a), axis=1, keepdims=True),
          torch.linalg.vector_norm(torch.tensor(a), axis=1, keepdims=True))
    for ord in (None, "fro", INF, -INF, 1, -1):
        _same(cr.linalg.norm(cr.tensor(a[0]), ord), torch.linalg.norm(torch.tensor(a[0]), ord))
        _same(cr.linalg.matrix_norm(cr.tensor(a), ord or "fro"),
              torch.linalg.matrix_norm(torch.tensor(a), ord or "fro"))
    for ord in (None, INF, -1, 3):
        _same(cr.linalg.norm(cr.tensor(a[0, 0]), ord), torch.linalg.norm(torch.tensor(a[0, 0]), ord))


@pytest.mark.parametrize("call,error,message", [
    (lambda L, x: L.linalg.vector_norm(x.long()), RuntimeError,
     "linalg.vector_norm: Expected a floating point or complex tensor as input. Got int64"),
    (lambda L, x: L.norm(x.long()), RuntimeError, "Expected a floating point"),
    (lambda L, x: L.linalg.vector_norm(x, "fro"), TypeError, "must be a number"),
    (lambda L, x: L.linalg.norm(x[None]), None, None),
    (lambda L, x: L.linalg.norm(x[None], 1), RuntimeError,
     "If dim is not specified but ord is, the input must be 1D or 2D. Got 3D."),
    (lambda L, x: L.linalg.norm(x[0], "fro"), RuntimeError, "must have at least 2 dimensions"),
    (lambda L, x: L.linalg.norm(x, "fro", dim=1), RuntimeError, "dim must be a 2-tuple. Got 1"),
    (lambda L, x: L.linalg.matrix_norm(x, 3), RuntimeError, "Order 3 not supported."),
    (lambda L, x: L.linalg.matrix_norm(x, dim=(1, 1)), RuntimeError, "dims must be different"),
    (lambda L, x: L.cdist(x[0], x), RuntimeError, "cdist only supports at least 2D tensors"),
    (lambda L, x: L.cdist(x, x[:, :1]), RuntimeError, "X1 and X2 must have the same number of "
                                                       "columns. X1: 2 X2: 1"),
    (lambda L, x: L.cdist(x, x, p=-1), RuntimeError, "cdist only supports non-negative p values"),
    (lambda L, x: L.cdist(x.long(), x.long()), RuntimeError, "cdist only supports floating-point"),
    (lambda L, x: L.cdist(x, x.float()), RuntimeError,
     "cdist: expected scalar type Double but found Float"),
    (lambda L, x: L.nn.functional.cosine_similarity(x, x.T), RuntimeError, None),
    (lambda L, x: L.nn.functional.cosine_similarity(x.long(), x.long()), RuntimeError,
     "expected common dtype to be floating point"),
])
def test_norm_errors_as_pytorch(call, error, message):
    x = np.array([[3.0, -4.0], [1.0, 0.0], [0.5, 2.0]])
    if error is None:  # both work
        _same(call(cr, cr.tensor(x)), call(torch, torch.tensor(x)))
        return
    with pytest.raises(error):
        call(torch, torch.tensor(x))
    with pytest.raises(error, match=message):
        call(cr, cr.tensor(x))


def test_nuclear_and_spectral_norms_say_they_are_not_implemented():
    for ord in ("nuc", 2, -2):
        with pytest.raises(NotImplementedError, match="singular values"):
            cr.linalg.matrix_norm(cr.ones(2, 2), ord)
    with pytest.raises(NotImplementedError, match="singular values"):
        cr.norm(cr.ones(2, 2), "nuc")


# -- normalize, cosine similarity, pairwise distance, cdist: zero vectors and ties ----------------------

def test_normalize_and_cosine_similarity_of_zero_vectors_match_pytorch():
    a = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [1e-9, 0.0, 0.0]])
    b = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [2.0, 1.0, 0.0]])
    _both(lambda L, x: L.nn.functional.normalize(x), a)
    _both(lambda L, x: L.nn.functional.normalize(x, p=INF, dim=0), a)
    _both(lambda L, x, y: L.nn.functional.cosine_similarity(x, y), a, b)
    _both(lambda L, x, y: L.cosine_similarity(x, y, dim=0, eps=0.5), a, b)
    _both(lambda L, x, y: L.nn.functional.pairwise_distance(x, y, p=3, eps=0.0), a, b)


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, 1.5, INF, 0])
def test_cdist_matches_pytorch_at_zero_distances_and_ties(p):
    a = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 2.0], [3.0, 4.0, 2.0], [0.0, 0.0, 0.0]])
    b = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 2.0], [-1.0, 0.5, 1.0]])
    # a[0] == b[0] and a[2] == b[1]: zero distances (gradient 0); a[0] - b[1] = (-2, -2, -2): for
    # p = inf every coordinate is the max, and each gets the whole gradient (PyTorch's cdist)
    _both(lambda L, x, y: L.cdist(x, y, p), a, b)
    _both(lambda L, x, y: L.cdist(x, y, p), np.stack([a, a * 2]), b[None])


@pytest.mark.parametrize("p", [1.5, 3, 0.5, INF, 1])
def test_cdist_second_derivatives_by_finite_differences(p):
    """PyTorch has no double backward for cdist (except p = 2 by matrix products); chainrule's
    comes from the same formula: checked against central differences."""
    rng = np.random.default_rng(1)
    a = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = cr.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    assert cr.autograd.gradgradcheck(lambda x, y: cr.cdist(x, y, p), [a, b], eps=1e-6, atol=1e-6,
                                     rtol=1e-5)


# -- shape ops: views and copies, and the errors PyTorch raises ---------------------------------------

def test_flip_copies_and_narrow_views_as_pytorch():
    x = cr.arange(6.0).reshape(2, 3)
    f = x.flip(1)
    f[0, 0] = 100.0
    assert x[0, 2].item() == 2.0  # a copy
    n = x.narrow(1, 1, 2)
    n[0, 0] = 100.0
    assert x[0, 1].item() == 100.0  # a view


@pytest.mark.parametrize("call", [
    lambda L, x: x.repeat(2),
    lambda L, x: x.repeat(-1, 1),
    lambda L, x: x.flip(2),
    lambda L, x: x.flip(0, 0),
    lambda L, x: x.roll((1, 2), 0),
    lambda L, x: x.roll((1, 2)),
    lambda L, x: x.narrow(1, 3, 2),
    lambda L, x: x.narrow(1, 5, 1),
    lambda L, x: x.narrow(1, 0, -1),
    lambda L, x: x.movedim((0, 0), (1, 0)),
    lambda L, x: x.unflatten(1, (3, 2)),
    lambda L, x: x.unflatten(1, (-1, -1)),
    lambda L, x: x.repeat_interleave(-1),
    lambda L, x: x.repeat_interleave(L.tensor([1, 2]), dim=0),
    lambda L, x: x.repeat_interleave(L.tensor([1.0, 2.0, 1.0]), dim=0),
    lambda L, x: L.nn.functional.pad(x, (-3, -2)),
    lambda L, x: L.nn.functional.pad(x, (-5, 0)),
])
def test_shape_op_errors_as_pytorch(call):
    x = np.arange(12.0).reshape(3, 4)
    with pytest.raises((RuntimeError, IndexError)) as theirs:
        call(torch, torch.tensor(x))
    with pytest.raises(IndexError if isinstance(theirs.value, IndexError) else RuntimeError):
        call(cr, cr.tensor(x))


def test_repeat_interleave_forms_as_pytorch():
    counts = np.array([1, 0, 3])
    _same(cr.repeat_interleave(cr.tensor(counts)), torch.repeat_interleave(torch.tensor(counts)))
    x = np.arange(6.0).reshape(2, 3)
    for call in (lambda L, t: t.repeat_interleave(L.tensor(2), dim=1),
                 lambda L, t: t.repeat_interleave(L.tensor([2]), dim=0),
                 lambda L, t: L.repeat_interleave(t, 2, dim=-1, output_size=6),
                 lambda L, t: t[0, 0].repeat_interleave(3)):
        _both(call, x)


def test_pad_crops_with_negative_widths_and_gives_zeros_there():
    x = cr.arange(12.0).reshape(3, 4).requires_grad_()
    y = F.pad(x, (-1, 2, 1, -1))
    assert y.tolist() == [[0.0] * 5, [1.0, 2.0, 3.0, 0.0, 0.0], [5.0, 6.0, 7.0, 0.0, 0.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0], [0.0] * 4]


# -- creation -----------------------------------------------------------------------------------------

def test_tensor_constructor_as_pytorch():
    for args in ((2, 3), (3,), (0,), ()):
        assert cr.Tensor(*args).shape == tuple(torch.Tensor(*args).shape)
        assert cr.Tensor(*args).dtype == np.float32
    for data in ([1, 2], [[1.5], [2.0]], np.array([1, 2]), np.array(2.0), []):
        _same(cr.Tensor(data), torch.Tensor(data))
    x = cr.tensor([1, 2])
    y = cr.Tensor(x)  # shares, keeps the dtype, as PyTorch
    assert np.shares_memory(np.asarray(y), np.asarray(x)) and y.dtype == x.dtype
    for scalar in (np.float64(2.5), np.float32(2.5), np.int32(3), 2.5):  # a NumPy scalar's dtype
        assert cr.tensor(scalar).dtype == torch.tensor(scalar).numpy().dtype
    for bad, error in ((2.5, TypeError), (-1, RuntimeError), (np.float64(2.0), TypeError)):
        with pytest.raises(error):
            torch.Tensor(bad)
        with pytest.raises(error):
            cr.Tensor(bad)


def test_new_tensors_take_this_tensors_dtype():
    for a in (np.ones((2, 3)), np.array([1, 2])):
        x, t = cr.tensor(a), torch.tensor(a)
        _same(x.new_zeros(2, 2), t.new_zeros(2, 2))
        _same(x.new_zeros((2,)), t.new_zeros((2,)))
        _same(x.new_ones([1], dtype=cr.int32), t.new_ones([1], dtype=torch.int32))
        _same(x.new_full((2,), 2.5), t.new_full((2,), 2.5))
        _same(x.new_tensor([1.5, 2.0]), t.new_tensor([1.5, 2.0]))
        _same(x.new_tensor([1, 2], dtype=cr.int64), t.new_tensor([1, 2], dtype=torch.int64))
        assert x.new_empty(2, 3).shape == (2, 3) and x.new_empty(2).dtype == x.dtype
        _same(x.type_as(cr.tensor([1])), t.type_as(torch.tensor([1])))
        _same(x.type_as(cr.tensor([1.0])), t.type_as(torch.tensor([1.0])))
    y = cr.ones(2).new_zeros(3, requires_grad=True)
    assert y.requires_grad and y.is_leaf
    with pytest.raises(TypeError, match="must be a tuple of ints"):
        cr.ones(2).new_full(2, 3.0)


def test_random_like_and_randint_forms():
    x = cr.ones(2, 3, dtype=cr.float64)
    assert cr.rand_like(x).dtype == np.float64 and cr.rand_like(x).shape == (2, 3)
    assert cr.randn_like(x, dtype=cr.float32).dtype == np.float32
    assert cr.randn_like(x, requires_grad=True).requires_grad
    r = cr.randint_like(x, 3, 5)
    assert r.dtype == np.float64 and set(np.unique(r.data)) <= {3.0, 4.0}
    r = cr.randint_like(cr.tensor([1, 2]), 10)
    assert r.dtype == np.int64 and 0 <= r.data.min() and r.data.max() < 10
    with pytest.raises(RuntimeError, match="rand_like: random floats need a floating dtype"):
        cr.rand_like(cr.tensor([1, 2]))
    for args, kwargs in (((10, (2, 3)), {}), ((3, 10, (2,)), {}), ((10,), dict(size=(2,))),
                         ((), dict(low=2, high=10, size=(2,))), ((), dict(high=10, size=(2,))),
                         ((0, 10, [2]), {})):
        ours, theirs = cr.randint(*args, **kwargs), torch.randint(*args, **kwargs)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int64
    assert cr.randint(10, (5,), dtype=cr.float32).dtype == np.float32
    cr.manual_seed(3)
    a = cr.randint(0, 100, (4,))
    cr.manual_seed(3)
    assert cr.randint(100, (4,)).tolist() == a.tolist()
    for args in ((10,), (10, 3), (10, 5, (2,))):
        with pytest.raises((TypeError, RuntimeError)) as theirs:
            torch.randint(*args)
        with pytest.raises(type(theirs.value)):
            cr.randint(*args)


# -- grad_fn.next_functions: PyTorch's pairs, the autograd tutorial's walk ------------------------------

def _name(node):
    """A node's name without PyTorch's number (MulBackward0 -> MulBackward); None for None."""
    if node is None or type(node).__name__ == "AccumulateGrad":
        return node and "AccumulateGrad"
    return node.name().replace("Backward0", "Backward")


def _walk(lib):
    a = lib.linspace(0.0, 2.0 * math.pi, steps=25, requires_grad=True)
    b = lib.sin(a)
    c = 2 * b
    d = c + 1
    names = []
    node = d.grad_fn
    while node is not None:  # the tutorial: d.grad_fn.next_functions[0][0].next_functions ...
        pairs = node.next_functions
        names.append([(_name(n), i) for n, i in pairs])
        node = pairs[0][0] if pairs else None
    return names, a, b


def test_next_functions_walk_as_in_pytorchs_tutorial():
    ours, a, b = _walk(cr)
    theirs, _, _ = _walk(torch)
    assert ours == theirs == [[("MulBackward", 0), (None, 0)], [("SinBackward", 0), (None, 0)],
                              [("AccumulateGrad", 0)], []]
    acc = b.grad_fn.next_functions[0][0]
    assert acc.variable is a and acc is b.grad_fn.next_functions[0][0]  # one node per leaf
    assert acc.name() == "torch::autograd::AccumulateGrad"


@pytest.mark.parametrize("call", [
    lambda L, x, w: x - 1, lambda L, x, w: 1 - x, lambda L, x, w: x / 2,
    lambda L, x, w: x ** 2, lambda L, x, w: x * w, lambda L, x, w: w * x.detach(),
    lambda L, x, w: L.cat([x, w.detach()]), lambda L, x, w: L.where(x > 0, x, w),
    lambda L, x, w: x.sum(0), lambda L, x, w: x.clamp(0, 1), lambda L, x, w: x.reshape(2, 1),
    lambda L, x, w: L.clamp(x, w.detach(), w)])
def test_next_functions_pairs_match_pytorch(call):
    def pairs(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([0.5, 3.0], requires_grad=True)
        return [(_name(n), i) for n, i in call(lib, x * 1, w).grad_fn.next_functions]
    assert pairs(cr) == pairs(torch)


def test_the_graph_tools_read_the_new_ops():
    """explain, draw_graph and check_graph walk graphs of the new ops (tensor bounds, a zero
    gradient, a norm)."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.norm(cr.lerp(x.sin(), x.floor() + 1, 0.3).clamp(min=cr.tensor(0.2)))
    text = cr.viz.explain(y, names={"x": x}, format="steps").text()
    assert "d = lerp(a, c, 0.3)" in text and "b = floor(x) = [1, 2]" in text
    assert "∂f/∂x = [0.2315, -0.2304]" in text
    assert "linalg_vector_norm" in str(cr.viz.draw_graph(y, params={"x": x}))
    assert "all 6 ops agree" in str(cr.autograd.check_graph(y))


# -- NumPy's names for dim and keepdim, where PyTorch takes them ---------------------------------------

AXIS = [
    lambda L, x: L.cat([x, x], axis=1), lambda L, x: L.stack([x, x], axis=1),
    lambda L, x: x[:, :1].squeeze(axis=1), lambda L, x: x.unsqueeze(axis=0),
    lambda L, x: L.chunk(x, 2, axis=1)[1], lambda L, x: x.unbind(axis=1)[2],
    lambda L, x: x.softmax(axis=1), lambda L, x: x.log_softmax(axis=0),
    lambda L, x: x.narrow(axis=1, start=1, length=2), lambda L, x: L.narrow(x, 0, 1, 1),
    lambda L, x: x.repeat_interleave(2, axis=1),
    lambda L, x: L.linalg.vector_norm(x, axis=1, keepdims=True),
    lambda L, x: x.sum(axis=1, keepdims=True), lambda L, x: x.max(axis=0).values,
    lambda L, x: L.softmax(x, axis=0), lambda L, x: L.log_softmax(x, axis=1),
    lambda L, x: L.cosine_similarity(x, x.flip(0), axis=0),
    lambda L, x: L.pairwise_distance(x, x.flip(1), keepdims=True),
    lambda L, x: x.gather(axis=1, index=L.tensor([[0, 2], [1, 1], [3, 0]])),
    lambda L, x: L.gather(x, axis=0, index=L.tensor([[2, 0, 1, 1]])),
    lambda L, x: x.scatter(axis=1, index=L.tensor([[0], [3], [1]]), src=x[:, :1] * 2),
    lambda L, x: x.scatter(axis=0, index=L.tensor([[2, 0, 1, 1]]), value=0.5),
    lambda L, x: x.scatter_add(axis=1, index=L.tensor([[0, 0], [3, 1], [1, 1]]), src=x[:, 1:3]),
    lambda L, x: x.index_select(axis=1, index=L.tensor([3, 0, 3])),
    lambda L, x: L.index_select(x, axis=0, index=L.tensor([1])),
    lambda L, x: x.index_add(axis=0, index=L.tensor([2, 2]), source=x[:2] * 3, alpha=0.5),
    lambda L, x: L.take_along_dim(x, L.tensor([[1], [0], [3]]), axis=1),
    lambda L, x: x.cumsum(axis=1), lambda L, x: L.cumprod(x, axis=0),
    lambda L, x: x.sort(axis=0, descending=True).values, lambda L, x: x.topk(2, axis=0).values,
    lambda L, x: x.kthvalue(2, axis=1).values, lambda L, x: L.median(x, axis=0).values,
]


@pytest.mark.parametrize("call", [
    lambda L, x: x.tile(2, 1), lambda L, x: x.tile((2, 1, 2)), lambda L, x: L.tile(x, (2,)),
    lambda L, x: L.tile(x, dims=[1, 3]), lambda L, x: x.tile(dims=(2,)),
    lambda L, x: x.flip(0, 1), lambda L, x: x.flip((1,)), lambda L, x: x.flip(dims=(0,)),
    lambda L, x: L.flip(x, dims=[1, 0]), lambda L, x: L.flip(x, [-1]),
    lambda L, x: L.fliplr(x), lambda L, x: L.flipud(x),
])
def test_tile_and_flip_take_pytorchs_argument_forms(call):
    _both(call, np.arange(12.0).reshape(3, 4) / 7)


@pytest.mark.parametrize("call", [
    lambda L, x: x.flip(0), lambda L, x: L.flip(x, [-1]), lambda L, x: L.movedim(x, 0, 0) * 2,
    lambda L, x: x.moveaxis(-1, 0) * 3, lambda L, x: L.roll(x, 1), lambda L, x: L.tile(x, (2,)),
    lambda L, x: x.repeat(2, 1), lambda L, x: x.narrow(0, 0, 1) if x.ndim else x.flip(0),
])
def test_shape_ops_of_a_0d_tensor_as_pytorch(call):
    _both(call, np.array(2.5))


@pytest.mark.parametrize("call", AXIS)
def test_axis_and_keepdims_as_pytorch(call):
    _both(call, np.arange(12.0).reshape(3, 4) / 7)
