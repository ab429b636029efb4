"""The activations, losses and parameter containers of issue 15, beyond their rows in the tables
(tests/nn/test_functional.py ROWS, tests/nn/test_layers.py LAYERS and LOSSES): the ops PyTorch has
no double backward for, gradients at the kinks, errors, in-place behaviour, reprs, and
ParameterList / ParameterDict against PyTorch's."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from .helpers import CR, In, compare_with_torch, cr_inputs, make_arrays, torch_ns

torch = pytest.importorskip("torch")
T = torch_ns()

N, C = 6, 5
X = In((N, C))
IDX = In((N,), "index", classes=C)

# -- ops whose double backward PyTorch does not implement ------------------------------------------
# (so they cannot be rows of test_functional.ROWS, whose rows are also compared with PyTorch's
# double backward): forward and gradients against PyTorch, first and second derivatives against
# central differences.

NO_TORCH_DOUBLE = [
    ("hardsigmoid", lambda L, x: L.F.hardsigmoid(x * 3), [X]),
    ("hardsigmoid_inplace", lambda L, x: L.F.hardsigmoid(x * 3, inplace=True), [X]),
    ("multi_margin", lambda L, x, t: L.F.multi_margin_loss(x, t), [X, IDX]),
    ("multi_margin_p2_weight_none",
     lambda L, x, t, w: L.F.multi_margin_loss(x, t, p=2, margin=0.7, weight=w, reduction="none"),
     [X, IDX, In((C,), "positive", grad=False)]),
    ("multi_margin_sum_1d",
     lambda L, x, t: L.F.multi_margin_loss(x, t, margin=2.0, reduction="sum"),
     [In((C,)), In((), "index", classes=C)]),
]
NO_TORCH_DOUBLE_IDS = [r[0] for r in NO_TORCH_DOUBLE]


@pytest.mark.parametrize("name,fn,specs", NO_TORCH_DOUBLE, ids=NO_TORCH_DOUBLE_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch(name, fn, specs, dtype):
    compare_with_torch(fn, specs, dtype, seed=NO_TORCH_DOUBLE_IDS.index(name))


@pytest.mark.parametrize("name,fn,specs", NO_TORCH_DOUBLE, ids=NO_TORCH_DOUBLE_IDS)
def test_gradcheck_and_gradgradcheck(name, fn, specs):
    xs = cr_inputs(specs, make_arrays(specs, 3, np.float64))
    f = lambda *t: fn(CR, *t)  # noqa: E731
    assert cr.autograd.gradcheck(f, xs, eps=1e-6, atol=1e-7, rtol=1e-6)
    assert cr.autograd.gradgradcheck(f, xs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fn", [lambda L, x: L.F.hardsigmoid(x),
                                lambda L, x: L.F.multi_margin_loss(x, L.lib.tensor([0, 2]))],
                         ids=["hardsigmoid", "multi_margin"])
def test_torch_has_no_double_backward_for_these(fn):
    xt = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(T, xt).sum(), xt, create_graph=True)
    with pytest.raises(RuntimeError, match="is not implemented"):
        torch.autograd.grad(g.sum(), xt)


def test_multi_margin_second_derivative_is_the_hinge_squared():
    """p = 2: each active z = margin - x_y + x_j contributes z² / C, so ∂²/∂x_j² = 2 / C."""
    x = cr.tensor([[0.0, 0.5, -3.0]], dtype=cr.float64, requires_grad=True)
    (g,) = cr.autograd.grad(F.multi_margin_loss(x, cr.tensor([0]), p=2, reduction="sum"), x,
                            create_graph=True)
    (h,) = cr.autograd.grad(g[0, 1], x)
    np.testing.assert_allclose(h.data, [[-2 / 3, 2 / 3, 0.0]], rtol=1e-15)


# -- gradients at the kinks, as PyTorch ------------------------------------------------------------

def _f64(L, values):
    return L.lib.tensor(values, dtype=L.lib.float64)


KINKS = [  # (name, fn(L, *inputs), the inputs' values, at or next to every kink)
    ("relu6", lambda L, x: L.F.relu6(x), [[0.0, 6.0, -1.0, 7.0, 3.0]]),
    ("hardtanh", lambda L, x: L.F.hardtanh(x, -0.5, 2.0), [[-0.5, 2.0, 0.0, 3.0]]),
    ("hardtanh_inplace", lambda L, x: L.F.hardtanh(x * 1, inplace=True), [[-1.0, 1.0, 0.0]]),
    ("hardswish", lambda L, x: L.F.hardswish(x), [[-3.0, 3.0, 0.0, -4.0, 4.0]]),
    ("hardsigmoid", lambda L, x: L.F.hardsigmoid(x), [[-3.0, 3.0, 0.0]]),
    ("elu", lambda L, x: L.F.elu(x, 0.5), [[0.0, -0.0]]),
    ("selu", lambda L, x: L.F.selu(x), [[0.0]]),
    ("celu", lambda L, x: L.F.celu(x, 2.0), [[0.0]]),
    ("threshold", lambda L, x: L.F.threshold(x, 0.5, -2.0), [[0.5, 0.6, 0.4]]),
    ("softplus", lambda L, x: L.F.softplus(x, 2.0, 1.0), [[0.5, 0.6, 0.4]]),
    ("prelu", lambda L, x, w: L.F.prelu(x, w), [[0.0, -1.0, 2.0], [0.25]]),
    ("smooth_l1", lambda L, x: L.F.smooth_l1_loss(x, L.lib.zeros_like(x), reduction="sum",
                                                  beta=0.5), [[0.5, -0.5, 0.0]]),
    ("smooth_l1_beta0", lambda L, x: L.F.smooth_l1_loss(x, L.lib.zeros_like(x), beta=0.0),
     [[0.0, 1.0]]),
    ("huber", lambda L, x: L.F.huber_loss(x, L.lib.zeros_like(x), reduction="sum", delta=0.5),
     [[0.5, -0.5, 0.0]]),
    ("hinge_embedding", lambda L, x: L.F.hinge_embedding_loss(
        x, _f64(L, [-1.0, -1.0, 1.0, 0.0]), reduction="sum"), [[1.0, 0.5, 1.0, 2.0]]),
    ("margin_ranking", lambda L, x: L.F.margin_ranking_loss(
        x, L.lib.zeros_like(x), _f64(L, [1.0, -1.0]), reduction="sum"), [[0.0, 0.0]]),
    ("cosine_embedding_at_margin", lambda L, a, b: L.F.cosine_embedding_loss(
        a, b, _f64(L, [-1.0])), [[[1.0, 0.0]], [[0.0, 1.0]]]),
    ("triplet_at_margin", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, eps=0.0),
     [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]),
    ("triplet_swap_tie", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, swap=True),
     [[0.0], [2.0], [1.0]]),
    ("triplet_p1_zero_entry", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, p=1, eps=0.0),
     [[0.0, 1.0], [0.0, 3.0], [1.0, 1.0]]),
    ("triplet_pinf_tie", lambda L, a, p, n: L.F.triplet_margin_loss(
        a, p, n, p=float("inf"), eps=0.0, margin=5.0), [[2.0, -2.0], [0.0, 0.0], [1.0, 0.0]]),
    ("multi_margin", lambda L, x: L.F.multi_margin_loss(x, L.lib.tensor([0]), reduction="sum"),
     [[[1.0, 0.0, 0.5]]]),
    # targets at 0 and below: PyTorch's target gradient is NaN there (0 · log 0)
    ("kl_div_target_0", lambda L, x, t: L.F.kl_div(x, t, reduction="none"),
     [[-1.0, -2.0, -0.5], [0.0, 0.5, -1.0]]),
    ("poisson_full_target_0_and_1", lambda L, x, t: L.F.poisson_nll_loss(x, t, full=True,
                                                                          reduction="none"),
     [[0.3, 0.2, 0.1, 0.4, 0.5], [0.0, 0.5, 2.0, -1.0, 1.0]]),
]


@pytest.mark.parametrize("name,fn,values", KINKS, ids=[k[0] for k in KINKS])
def test_gradient_at_the_kinks_is_torchs(name, fn, values):
    xs = [cr.tensor(v, dtype=cr.float64, requires_grad=True) for v in values]
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    y, yt = fn(CR, *xs), fn(T, *ts)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-15, atol=1e-15)
    y.sum().backward()
    yt.sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-15, atol=1e-15)


def test_gaussian_nll_gradient_passes_the_clamp_as_torchs():
    """PyTorch clamps var at eps under no_grad: var's gradient (and second derivative) is that of
    the clamped value, also where var < eps."""
    rng = np.random.default_rng(0)
    x, t, v = rng.standard_normal((3, 4, 3))
    v = np.abs(v) * 0.5
    xs = [cr.tensor(a, requires_grad=True) for a in (x, t, v)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, t, v)]
    first = cr.autograd.grad(F.gaussian_nll_loss(*xs, eps=0.3), xs, create_graph=True)
    first_t = torch.autograd.grad(torch.nn.functional.gaussian_nll_loss(*ts, eps=0.3), ts,
                                  create_graph=True)
    assert (v < 0.3).any() and (v > 0.3).any()
    for a, b in zip(first, first_t):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12)
    second = cr.autograd.grad(sum((g * g).sum() for g in first), xs)
    second_t = torch.autograd.grad(sum((g * g).sum() for g in first_t), ts)
    for a, b in zip(second, second_t):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-10)


# -- errors: where PyTorch raises, chainrule raises the same kind of error, naming the op -------

ERRORS = [  # (name, call(L), what chainrule's message says)
    ("glu_odd", lambda L: L.F.glu(L.lib.randn(2, 5), 1),
     r"Halving dimension must be even, but dimension 1 is size 5"),
    ("glu_scalar", lambda L: L.F.glu(L.lib.tensor(1.0)), "glu does not support scalars"),
    ("glu_dim", lambda L: L.F.glu(L.lib.randn(2, 4), 2), r"Dimension out of range"),
    ("prelu_channels", lambda L: L.F.prelu(L.lib.randn(2, 4), L.lib.ones(3)),
     "Found parameter numbers = 3 and channel size = 4"),
    ("prelu_1d_input", lambda L: L.F.prelu(L.lib.randn(4), L.lib.ones(4)),
     "Found parameter numbers = 4 and channel size = 1"),
    ("prelu_weight_2d", lambda L: L.F.prelu(L.lib.randn(2, 4), L.lib.ones(2, 2)),
     "prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"),
    ("celu_alpha_0", lambda L: L.F.celu(L.lib.randn(3), 0.0), "alpha cannot be 0 for CELU"),
    ("hardtanh_bounds", lambda L: L.F.hardtanh(L.lib.randn(3), 1.0, -1.0),
     "min_val cannot be greater than max_val"),
    ("hardtanh_module_bounds", lambda L: L.nn.Hardtanh(1.0, 1.0), r"must be greater than"),
    ("inplace_on_leaf", lambda L: L.F.elu(L.lib.randn(3, requires_grad=True), inplace=True),
     "a leaf Variable that requires grad is being used in an in-place operation"),
    ("smooth_l1_beta", lambda L: L.F.smooth_l1_loss(L.lib.randn(3), L.lib.randn(3), beta=-1.0),
     "smooth_l1_loss does not support negative values for beta"),
    ("huber_delta", lambda L: L.F.huber_loss(L.lib.randn(3), L.lib.randn(3), delta=0.0),
     "huber_loss does not support non-positive values for delta"),
    ("huber_weight", lambda L: L.F.huber_loss(L.lib.randn(3), L.lib.randn(3),
                                              weight=L.lib.ones(2)),
     "Weights and input must have the same size"),
    ("huber_module_delta", lambda L: L.nn.HuberLoss(delta="1"), "delta must be a float or int"),
    ("kl_div_reduction", lambda L: L.F.kl_div(L.lib.randn(3), L.lib.rand(3), reduction="foo"),
     "foo is not a valid value for reduction"),
    ("poisson_reduction", lambda L: L.F.poisson_nll_loss(L.lib.randn(3), L.lib.rand(3),
                                                         reduction="x"),
     "x is not a valid value for reduction"),
    ("gaussian_var_size", lambda L: L.F.gaussian_nll_loss(L.lib.randn(4, 3), L.lib.randn(4, 3),
                                                          L.lib.ones(2)),
     "var is of incorrect size"),
    ("gaussian_var_negative", lambda L: L.F.gaussian_nll_loss(L.lib.randn(4, 3),
                                                              L.lib.randn(4, 3),
                                                              -L.lib.ones(4, 3)),
     "var has negative entry/entries"),
    ("gaussian_float_var_negative", lambda L: L.F.gaussian_nll_loss(L.lib.randn(3),
                                                                    L.lib.randn(3), -1.0),
     "var has negative entry/entries"),
    ("gaussian_reduction", lambda L: L.F.gaussian_nll_loss(L.lib.randn(3), L.lib.randn(3),
                                                           L.lib.ones(3), reduction="avg"),
     "avg is not valid"),
    ("cosine_2d_target", lambda L: L.F.cosine_embedding_loss(L.lib.randn(4, 3),
                                                             L.lib.randn(4, 3),
                                                             L.lib.ones(4, 1)),
     "0D or 1D target tensor expected, multi-target not supported"),
    ("cosine_1d_target", lambda L: L.F.cosine_embedding_loss(L.lib.randn(4), L.lib.randn(4),
                                                             L.lib.ones(4)),
     r"1D target tensor expects 2D input tensors, but found inputs with sizes \[4\] and \[4\]"),
    ("margin_ranking_dims", lambda L: L.F.margin_ranking_loss(L.lib.randn(4),
                                                              L.lib.randn(4, 1), L.lib.ones(4)),
     "All input tensors should have same dimension"),
    ("triplet_dims", lambda L: L.F.triplet_margin_loss(L.lib.randn(4, 3), L.lib.randn(4, 3),
                                                       L.lib.randn(3)),
     "anchor 2D, positive 2D, and negative 1D inputs"),
    ("triplet_margin", lambda L: L.F.triplet_margin_loss(L.lib.randn(2), L.lib.randn(2),
                                                         L.lib.randn(2), margin=0.0),
     "margin must be greater than 0, got 0"),
    ("triplet_module_margin", lambda L: L.nn.TripletMarginLoss(margin=-1.0),
     "expected margin to be greater than 0"),
    ("multi_margin_target_range", lambda L: L.F.multi_margin_loss(
        L.lib.randn(4, 3), L.lib.tensor([0, 1, 2, 3])), "target out of range"),
    ("multi_margin_target_negative", lambda L: L.F.multi_margin_loss(
        L.lib.randn(4, 3), L.lib.tensor([0, 1, 2, -1])), "target out of range"),
    ("multi_margin_target_shape", lambda L: L.F.multi_margin_loss(
        L.lib.randn(4, 3), L.lib.tensor([0, 1, 2])), r"Expected target size \[4\], but got \[3\]"),
    ("multi_margin_p", lambda L: L.F.multi_margin_loss(L.lib.randn(4, 3),
                                                       L.lib.tensor([0, 1, 2, 0]), p=3),
     "only p == 1 and p == 2 supported"),
    ("multi_margin_weight_size", lambda L: L.F.multi_margin_loss(
        L.lib.randn(4, 3), L.lib.tensor([0, 1, 2, 0]), weight=L.lib.ones(2)),
     r"inconsistent weight size, expected 3 but got \[2\]"),
    ("multi_margin_weight_2d", lambda L: L.F.multi_margin_loss(
        L.lib.randn(4, 3), L.lib.tensor([0, 1, 2, 0]), weight=L.lib.ones(1, 3)),
     "weight must be one-dimensional"),
    ("multi_margin_weight_grad", lambda L: L.F.multi_margin_loss(
        L.lib.randn(4, 3), L.lib.tensor([0, 1, 2, 0]), weight=L.lib.ones(3, requires_grad=True)),
     "not differentiable with respect to argument 'weight'"),
    ("multi_margin_3d", lambda L: L.F.multi_margin_loss(L.lib.randn(4, 3, 2),
                                                        L.lib.tensor([0, 1, 2, 0])),
     r"Expected non-empty vector or matrix with optional 0-dim batch size, but got: \[4, 3, 2\]"),
    ("multi_margin_module_p", lambda L: L.nn.MultiMarginLoss(p=3),
     "only p == 1 and p == 2 supported"),
    # integer inputs, which PyTorch refuses for ops defined on floats only
    ("elu_integer", lambda L: L.F.elu(L.lib.tensor([1, -2])), "elu: \"elu_cpu\" not implemented for 'Long'"),
    ("selu_integer", lambda L: L.F.selu(L.lib.tensor([1, -2])), "selu: \"elu_cpu\" not implemented"),
    ("silu_integer", lambda L: L.F.silu(L.lib.tensor([1, -2])), "silu: \"silu_cpu\" not implemented"),
    ("softplus_integer", lambda L: L.F.softplus(L.lib.tensor([1])),
     "softplus: \"softplus_cpu\" not implemented"),
    ("glu_integer", lambda L: L.F.glu(L.lib.tensor([1, -2])), "glu: \"glu_cpu\" not implemented"),
    ("prelu_integer", lambda L: L.F.prelu(L.lib.tensor([1]), L.lib.tensor([1])),
     "prelu: \"prelu_cpu\" not implemented for 'Long'"),
    ("softmin_integer", lambda L: L.F.softmin(L.lib.tensor([1, 2]), 0),
     "softmin: \"softmax_lastdim_kernel_impl\" not implemented"),
    ("smooth_l1_integer", lambda L: L.F.smooth_l1_loss(L.lib.tensor([1]), L.lib.tensor([2])),
     "smooth_l1_loss: \"smooth_l1_cpu\" not implemented"),
    ("huber_integer", lambda L: L.F.huber_loss(L.lib.tensor([1]), L.lib.tensor([2])),
     "huber_loss: \"huber_cpu\" not implemented"),
    ("kl_div_integer", lambda L: L.F.kl_div(L.lib.tensor([1]), L.lib.tensor([2]), reduction="sum"),
     "kl_div: Integral inputs not supported"),
    ("hinge_integer", lambda L: L.F.hinge_embedding_loss(L.lib.tensor([1]), L.lib.tensor([1])),
     "hinge_embedding_loss: the mean of an int64 loss"),
    ("multilabel_integer", lambda L: L.F.multilabel_soft_margin_loss(L.lib.tensor([[1]]),
                                                                     L.lib.tensor([[1]])),
     "multilabel_soft_margin_loss: \"log_sigmoid_cpu\" not implemented"),
    ("multi_margin_integer", lambda L: L.F.multi_margin_loss(L.lib.tensor([[1, 2]]),
                                                             L.lib.tensor([0])),
     "multi_margin_loss: \"multi_margin_loss_cpu_kernel\" not implemented"),
    ("parameter_list_index", lambda L: L.nn.ParameterList([L.nn.Parameter(L.lib.ones(2))])[1],
     "out of range"),
    ("parameter_list_extend", lambda L: L.nn.ParameterList().extend(L.lib.ones(2)),
     "ParameterList.extend should be called with an iterable, but got"),
    ("parameter_list_call", lambda L: L.nn.ParameterList()(), "ParameterList should not be called"),
    ("parameter_dict_key", lambda L: L.nn.ParameterDict()[1],
     "Index given to ParameterDict cannot be used as a key"),
    ("parameter_dict_update", lambda L: L.nn.ParameterDict().update([("a", 1, 2)]),
     "has length 3; 2 is required"),
    ("parameter_dict_call", lambda L: L.nn.ParameterDict()(1),
     "ParameterDict should not be called"),
]


@pytest.mark.parametrize("name,call,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_as_torch(name, call, message):
    with pytest.raises(Exception) as theirs:
        call(T)
    with pytest.raises(type(theirs.value), match=message):
        call(CR)


@pytest.mark.parametrize("fn", [lambda L, x: L.F.hardtanh(x, -1.5, 2.5),
                                lambda L, x: L.F.relu6(x * 3),
                                lambda L, x: L.F.threshold(x, 0.5, 2.5)],
                         ids=["hardtanh", "relu6", "threshold"])
def test_integer_inputs_stay_integers_as_torch(fn):
    y, yt = fn(CR, cr.tensor([[1, -2, 3]])), fn(T, torch.tensor([[1, -2, 3]]))
    assert y.dtype == np.int64 and yt.dtype == torch.int64
    np.testing.assert_array_equal(y.data, yt.numpy())


def test_multi_margin_float_target_is_refused():
    with pytest.raises(RuntimeError, match="expected target of integer class indices"):
        F.multi_margin_loss(cr.randn(2, 3), cr.tensor([0.0, 1.0]))


# -- in place ------------------------------------------------------------------------------------

INPLACE = [
    ("elu", lambda x: F.elu(x, inplace=True)), ("elu_", F.elu_),
    ("selu", lambda x: F.selu(x, inplace=True)), ("selu_", F.selu_),
    ("celu", lambda x: F.celu(x, inplace=True)), ("celu_", F.celu_),
    ("silu", lambda x: F.silu(x, inplace=True)), ("mish", lambda x: F.mish(x, inplace=True)),
    ("hardtanh", lambda x: F.hardtanh(x, inplace=True)), ("hardtanh_", F.hardtanh_),
    ("relu6", lambda x: F.relu6(x, inplace=True)),
    ("hardswish", lambda x: F.hardswish(x, inplace=True)),
    ("hardsigmoid", lambda x: F.hardsigmoid(x, inplace=True)),
    ("threshold", lambda x: F.threshold(x, 0.1, 9.0, inplace=True)),
    ("threshold_", lambda x: F.threshold_(x, 0.1, 9.0)),
]
OUT_OF_PLACE = {"elu": F.elu, "elu_": F.elu, "selu": F.selu, "selu_": F.selu, "celu": F.celu,
                "celu_": F.celu, "silu": F.silu, "mish": F.mish, "hardtanh": F.hardtanh,
                "hardtanh_": F.hardtanh, "relu6": F.relu6, "hardswish": F.hardswish,
                "hardsigmoid": F.hardsigmoid, "threshold": lambda x: F.threshold(x, 0.1, 9.0),
                "threshold_": lambda x: F.threshold(x, 0.1, 9.0)}


@pytest.mark.parametrize("name,fn", INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_overwrites_the_input_and_returns_it(name, fn):
    x = cr.randn(3, 4) * 4
    want = np.array(OUT_OF_PLACE[name](x))
    version = x._version
    assert fn(x) is x
    np.testing.assert_array_equal(x.data, want)
    assert x._version == version + 1


def test_inplace_on_a_tensor_saved_for_backward_raises_like_torch():
    for L in (CR, T):
        x = L.lib.randn(3, requires_grad=True)
        y = x * 1
        z = y.sin()  # saves y
        L.F.elu_(y)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


# -- modules: options, parameters, reprs -----------------------------------------------------------

MODULES = [
    lambda L: L.nn.ELU(), lambda L: L.nn.ELU(0.5, inplace=True), lambda L: L.nn.SELU(True),
    lambda L: L.nn.CELU(2.0), lambda L: L.nn.SiLU(), lambda L: L.nn.Mish(inplace=True),
    lambda L: L.nn.Softplus(2.0, 5.0), lambda L: L.nn.Softsign(),
    lambda L: L.nn.Hardtanh(-2, 2, True), lambda L: L.nn.ReLU6(), lambda L: L.nn.ReLU6(True),
    lambda L: L.nn.Hardswish(True), lambda L: L.nn.Hardsigmoid(), lambda L: L.nn.PReLU(3),
    lambda L: L.nn.LogSigmoid(), lambda L: L.nn.Softmin(1), lambda L: L.nn.GLU(),
    lambda L: L.nn.Threshold(0.1, 20), lambda L: L.nn.Threshold(0.1, 20.0, True),
    lambda L: L.nn.SmoothL1Loss(beta=0.5), lambda L: L.nn.HuberLoss(delta=2.0),
    lambda L: L.nn.KLDivLoss(reduction="batchmean"), lambda L: L.nn.PoissonNLLLoss(),
    lambda L: L.nn.GaussianNLLLoss(), lambda L: L.nn.CosineEmbeddingLoss(),
    lambda L: L.nn.MarginRankingLoss(), lambda L: L.nn.TripletMarginLoss(),
    lambda L: L.nn.HingeEmbeddingLoss(), lambda L: L.nn.MultiLabelSoftMarginLoss(),
    lambda L: L.nn.MultiMarginLoss(),
]


@pytest.mark.parametrize("build", MODULES, ids=range(len(MODULES)))
def test_module_repr_and_options_as_torch(build):
    m, mt = build(CR), build(T)
    assert repr(m) == repr(mt)
    for k, v in vars(mt).items():
        if not k.startswith("_") and k != "training":
            assert getattr(m, k) == v, k


def test_loss_modules_take_the_legacy_reduction_arguments():
    with pytest.warns(UserWarning):
        assert nn.SmoothL1Loss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.KLDivLoss(reduce=False).reduction == "none"


def test_prelu_module_weight():
    m = nn.PReLU(4, init=0.1)
    assert m.weight.shape == (4,) and m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.data, np.float32(0.1))
    assert isinstance(m.weight, nn.Parameter) and list(m.state_dict()) == ["weight"]
    assert nn.PReLU(dtype=cr.float64).weight.dtype == np.float64
    with pytest.raises(RuntimeError, match="CPU"):
        nn.PReLU(device="cuda")
    x = cr.tensor([[-1.0, 2.0, -3.0, 0.0]])
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad.data, [-1.0, 0.0, -3.0, 0.0])


def test_top_level_functions_and_tensor_prelu_as_torch():
    a = np.random.default_rng(0).standard_normal((3, 4))
    x, xt = cr.tensor(a), torch.tensor(a)
    w, wt = cr.tensor([0.1, 0.2, 0.3, 0.4], dtype=cr.float64), torch.tensor([0.1, 0.2, 0.3, 0.4],
                                                                            dtype=torch.float64)
    for ours, theirs in [(cr.selu(x), torch.selu(xt)), (cr.celu(x, 0.5), torch.celu(xt, 0.5)),
                         (cr.threshold(x, 0.1, 2.0), torch.threshold(xt, 0.1, 2.0)),
                         (cr.prelu(x, w), torch.prelu(xt, wt)), (x.prelu(w), xt.prelu(wt))]:
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-15)
    for ours, theirs in [(cr.selu_, torch.selu_), (cr.celu_, torch.celu_),
                         (lambda t: cr.threshold_(t, 0.1, 2.0),
                          lambda t: torch.threshold_(t, 0.1, 2.0))]:
        y, yt = cr.tensor(a), torch.tensor(a)
        ours(y), theirs(yt)
        np.testing.assert_allclose(y.data, yt.numpy(), rtol=1e-15)


def test_kl_div_warns_about_mean_as_torch():
    x, t = cr.randn(3, 4), cr.rand(3, 4)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, t)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, t, reduction="batchmean")
    assert F.kl_div(cr.tensor(-1.0), cr.tensor(0.5), reduction="batchmean").shape == ()


def test_new_activations_are_one_node_each():
    x = cr.randn(2, 4, requires_grad=True)
    for fn, name in [(F.elu, "ELU"), (F.selu, "ELU"), (F.silu, "SiLU"), (F.mish, "Mish"),
                     (F.softplus, "Softplus"), (F.hardtanh, "Hardtanh"), (F.relu6, "Hardtanh"),
                     (F.glu, "GLU"), (F.logsigmoid, "LogSigmoid"), (F.softsign, "Softsign")]:
        assert fn(x).grad_fn.name() == name + "Backward"
    assert F.smooth_l1_loss(x, x.detach()).grad_fn.name() == "SmoothL1LossBackward"
    assert F.huber_loss(x, x.detach()).grad_fn.name() == "HuberLossBackward"


# -- ParameterList and ParameterDict against PyTorch's ---------------------------------------------

def _holder(L, container):
    """A module holding ``container`` as ``params`` and a Linear, the way models use them."""
    m = L.nn.Module()
    m.params = container
    m.fc = L.nn.Linear(2, 2)
    return m


def _shapes(m):
    return [(name, tuple(p.shape)) for name, p in m.named_parameters()]


def test_parameter_list_registers_and_iterates_as_torch():
    def build(L):
        pl = L.nn.ParameterList([L.nn.Parameter(L.lib.ones(2, 3)), L.lib.zeros(3)])
        pl.append(L.lib.ones(1))
        pl.extend([L.nn.Parameter(L.lib.ones(4)), "not a tensor"])
        pl += [L.lib.ones(5)]
        return pl
    pl, plt = build(CR), build(T)
    assert len(pl) == len(plt) == 6
    assert list(pl.state_dict()) == list(plt.state_dict()) == ["0", "1", "2", "3", "5"]
    assert [type(p).__name__ for p in pl] == ["Parameter"] * 4 + ["str", "Parameter"]
    assert all(p.requires_grad for p in pl.parameters())
    assert _shapes(_holder(CR, pl)) == _shapes(_holder(T, plt))
    assert repr(pl) == repr(plt).replace("torch.", "chainrule.")
    assert "0" not in dir(pl) and "append" in dir(pl)
    # indexing, slicing, assignment
    assert pl[-1] is pl[5] and pl[0].shape == (2, 3)
    sub = pl[1:4]
    assert isinstance(sub, nn.ParameterList) and [p.shape for p in sub] == [(3,), (1,), (4,)]
    assert sub[0] is pl[1]
    pl[1] = cr.full((7,), 2.0)
    assert isinstance(pl[1], nn.Parameter) and pl.state_dict()["1"].shape == (7,)


def test_parameter_list_is_trained_and_converted_with_its_owner():
    m = _holder(CR, nn.ParameterList([cr.ones(3), cr.ones(2)]))
    opt = cr.optim.SGD(m.parameters(), lr=0.5)
    (m.params[0] * 2).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.params[0].data, 0.0)
    np.testing.assert_allclose(m.params[1].data, 1.0)
    m.double()
    assert m.params[1].dtype == np.float64
    m.load_state_dict({k: np.full(v.shape, 3.0) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(m.params[1].data, 3.0)


def test_parameter_list_shares_memory_with_a_tensor_it_wraps():
    t = cr.zeros(3)
    pl = nn.ParameterList([t])
    pl[0].data[0] = 5.0
    assert t.data[0] == 5.0


def test_parameter_dict_as_torch():
    def build(L):
        return L.nn.ParameterDict({"b": L.nn.Parameter(L.lib.ones(2, 3)), "a": L.lib.ones(3)})
    pd, pdt = build(CR), build(T)
    assert list(pd) == list(pdt) == ["a", "b"]  # a plain dict is taken in sorted order
    assert list(pd.state_dict()) == list(pdt.state_dict())
    assert _shapes(_holder(CR, pd)) == _shapes(_holder(T, pdt))
    assert repr(pd) == repr(pdt).replace("torch.", "chainrule.")
    ordered = nn.ParameterDict(OrderedDict([("z", cr.ones(1)), ("y", cr.ones(2))]))
    assert list(ordered.keys()) == ["z", "y"]
    pairs = nn.ParameterDict([("q", cr.ones(1)), ("p", cr.ones(2))])
    assert list(pairs) == ["q", "p"]
    # the dict API
    pd["c"] = cr.zeros(4)
    pd["note"] = "kept as is"
    assert isinstance(pd["c"], nn.Parameter) and pd["note"] == "kept as is"
    assert "c" in pd and "x" not in pd and len(pd) == 4
    assert list(reversed(pd)) == ["note", "c", "b", "a"]
    assert pd.get("x", 7) == 7 and pd.get("a") is pd["a"]
    assert pd.setdefault("a", None) is pd["a"]
    assert pd.setdefault("d", cr.ones(1)).shape == (1,)
    assert [k for k, _ in pd.items()] == list(pd.keys()) == ["a", "b", "c", "note", "d"]
    assert pd.pop("note") == "kept as is" and "note" not in pd
    key, value = pd.popitem()
    assert key == "d" and value.shape == (1,)
    del pd["c"]
    assert list(pd.state_dict()) == ["a", "b"]
    copy = pd.copy()
    assert list(copy) == ["a", "b"] and copy["a"] is pd["a"]
    merged = pd | nn.ParameterDict({"e": cr.ones(1)})
    assert list(merged) == ["a", "b", "e"] and list(pd) == ["a", "b"]
    pd |= {"f": cr.ones(1)}
    assert list(pd) == ["a", "b", "f"]
    assert list(pd.fromkeys(["u", "v"])) == ["u", "v"]
    assert list(pd.values())[0] is pd["a"]
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []


def test_parameter_dict_keys_must_be_valid_names():
    with pytest.raises(KeyError, match="contain"):
        nn.ParameterDict({"a.b": cr.ones(1)})
    with pytest.raises(KeyError, match="empty"):
        nn.ParameterDict({"": cr.ones(1)})
