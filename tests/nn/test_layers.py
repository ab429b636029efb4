"""Every layer and loss module against PyTorch's: the same weights (loaded from the torch module's
state_dict), the same input; equal outputs, input gradients, parameter gradients and buffers, in
float64 and float32, in training and in eval mode."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from .helpers import CR, In, assert_close, copy_params, cr_inputs, make_arrays, torch_ns, \
    torch_inputs

HAVE_CONV = importlib.util.find_spec("chainrule.ops.conv") is not None

# (name, build(L) -> module, input specs, needs ops.conv)
LAYERS = [
    ("linear", lambda L: L.nn.Linear(5, 3), [In((4, 5))], False),
    ("linear_no_bias", lambda L: L.nn.Linear(5, 3, bias=False), [In((4, 5))], False),
    ("linear_3d", lambda L: L.nn.Linear(5, 3), [In((2, 4, 5))], False),
    ("identity", lambda L: L.nn.Identity(7, a=1), [In((3, 2))], False),
    ("relu", lambda L: L.nn.ReLU(), [In((4, 5))], False),
    ("leaky_relu", lambda L: L.nn.LeakyReLU(0.2), [In((4, 5))], False),
    ("sigmoid", lambda L: L.nn.Sigmoid(), [In((4, 5))], False),
    ("tanh", lambda L: L.nn.Tanh(), [In((4, 5))], False),
    ("gelu", lambda L: L.nn.GELU(), [In((4, 5))], False),
    ("gelu_tanh", lambda L: L.nn.GELU("tanh"), [In((4, 5))], False),
    ("softmax", lambda L: L.nn.Softmax(dim=1), [In((4, 5))], False),
    ("log_softmax", lambda L: L.nn.LogSoftmax(dim=-1), [In((2, 4, 5))], False),
    ("flatten", lambda L: L.nn.Flatten(), [In((2, 3, 4, 5))], False),
    ("flatten_mid", lambda L: L.nn.Flatten(1, 2), [In((2, 3, 4, 5))], False),
    ("unflatten", lambda L: L.nn.Unflatten(1, (2, 3)), [In((4, 6))], False),
    ("dropout_p0", lambda L: L.nn.Dropout(0.0), [In((4, 5))], False),
    ("batchnorm1d", lambda L: L.nn.BatchNorm1d(5), [In((6, 5))], False),
    ("batchnorm1d_3d", lambda L: L.nn.BatchNorm1d(3, momentum=0.3), [In((4, 3, 5))], False),
    ("batchnorm1d_no_affine", lambda L: L.nn.BatchNorm1d(5, affine=False), [In((6, 5))], False),
    ("batchnorm1d_no_bias", lambda L: L.nn.BatchNorm1d(5, bias=False), [In((6, 5))], False),
    ("batchnorm1d_untracked", lambda L: L.nn.BatchNorm1d(5, track_running_stats=False),
     [In((6, 5))], False),
    ("batchnorm2d", lambda L: L.nn.BatchNorm2d(3, eps=1e-3), [In((2, 3, 4, 4))], False),
    ("batchnorm2d_cma", lambda L: L.nn.BatchNorm2d(3, momentum=None), [In((2, 3, 4, 4))], False),
    # (no bias before BatchNorm: its gradient is exactly 0, so only rounding noise to compare)
    ("mlp", lambda L: L.nn.Sequential(L.nn.Linear(8, 6), L.nn.ReLU(), L.nn.Linear(6, 6, bias=False),
                                      L.nn.BatchNorm1d(6), L.nn.Tanh(), L.nn.Linear(6, 2)),
     [In((5, 8))], False),
    ("conv2d", lambda L: L.nn.Conv2d(2, 4, 3), [In((2, 2, 7, 6))], True),
    ("conv2d_args", lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2),
                                          dilation=(1, 2), groups=2, bias=False),
     [In((2, 4, 7, 6))], True),
    ("conv2d_same", lambda L: L.nn.Conv2d(2, 3, 4, padding="same"), [In((2, 2, 6, 5))], True),
    ("conv2d_reflect", lambda L: L.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
     [In((2, 2, 5, 5))], True),
    ("maxpool2d", lambda L: L.nn.MaxPool2d(2), [In((2, 3, 6, 6))], True),
    ("maxpool2d_args", lambda L: L.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
     [In((2, 3, 7, 6))], True),
    ("avgpool2d", lambda L: L.nn.AvgPool2d(2), [In((2, 3, 6, 6))], True),
    ("avgpool2d_args", lambda L: L.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
     [In((2, 3, 7, 6))], True),
    ("cnn", lambda L: L.nn.Sequential(
        L.nn.Conv2d(1, 4, 3, padding=1), L.nn.BatchNorm2d(4), L.nn.ReLU(), L.nn.MaxPool2d(2),
        L.nn.Conv2d(4, 4, 3), L.nn.ReLU(), L.nn.Flatten(), L.nn.Linear(16, 3)),
     [In((2, 1, 8, 8))], True),
    # -- activations (issue 15); in place after a Linear (a non-leaf), as in a network --
    ("elu", lambda L: L.nn.ELU(0.5), [In((4, 5))], False),
    ("elu_inplace", lambda L: L.nn.Sequential(L.nn.Linear(5, 5), L.nn.ELU(inplace=True)),
     [In((4, 5))], False),
    ("selu", lambda L: L.nn.SELU(), [In((4, 5))], False),
    ("celu", lambda L: L.nn.CELU(1.5), [In((4, 5))], False),
    ("silu_inplace", lambda L: L.nn.Sequential(L.nn.Linear(5, 5), L.nn.SiLU(inplace=True)),
     [In((4, 5))], False),
    ("mish", lambda L: L.nn.Mish(), [In((4, 5))], False),
    ("softplus", lambda L: L.nn.Softplus(2.0, 1.0), [In((4, 5))], False),
    ("softsign", lambda L: L.nn.Softsign(), [In((4, 5))], False),
    ("hardtanh", lambda L: L.nn.Hardtanh(-0.5, 0.5), [In((4, 5))], False),
    ("relu6_inplace", lambda L: L.nn.Sequential(L.nn.Linear(5, 5), L.nn.ReLU6(inplace=True)),
     [In((4, 5))], False),
    ("hardswish", lambda L: L.nn.Hardswish(), [In((4, 5))], False),
    ("hardsigmoid_inplace", lambda L: L.nn.Sequential(L.nn.Linear(5, 5),
                                                      L.nn.Hardsigmoid(inplace=True)),
     [In((4, 5))], False),
    ("threshold", lambda L: L.nn.Threshold(0.1, -1.0), [In((4, 5))], False),
    ("logsigmoid", lambda L: L.nn.LogSigmoid(), [In((4, 5))], False),
    ("softmin", lambda L: L.nn.Softmin(dim=1), [In((4, 5))], False),
    ("glu", lambda L: L.nn.GLU(dim=1), [In((4, 6))], False),
    ("prelu", lambda L: L.nn.PReLU(), [In((4, 5))], False),
    ("prelu_channels", lambda L: L.nn.PReLU(3, init=0.1), [In((4, 3, 5))], False),
]


def _params(layer):
    return [(n, p) for n, p in layer.named_parameters()]


def _run_layer(build, specs, dtype, training, seed=0):
    T = torch_ns()
    torch = T.lib
    torch.manual_seed(seed)
    mt = build(T).to(dtype=getattr(torch, np.dtype(dtype).name))
    m = build(CR).to(dtype)
    copy_params(mt, m)
    mt.train(training), m.train(training)
    arrays = make_arrays(specs, seed, dtype)
    for step in range(2):  # twice: the running statistics move in training mode
        xs, ts = cr_inputs(specs, arrays), torch_inputs(torch, specs, arrays)
        m.zero_grad(), mt.zero_grad()
        y, yt = m(*xs), mt(*ts)
        want = yt.detach().numpy()
        assert_close(y.data, want, dtype, f"forward (step {step})", max(1, np.abs(want).max()))
        g = np.random.default_rng(seed + step).standard_normal(y.shape).astype(dtype)
        y.backward(cr.tensor(g))
        yt.backward(torch.tensor(g))
        for i, (x, t) in enumerate(zip(xs, ts)):
            gt = t.grad.numpy()
            assert_close(x.grad.data, gt, dtype, f"input gradient {i}", max(1, np.abs(gt).max()))
        for (n, p), (nt, pt) in zip(_params(m), _params(mt)):
            assert n == nt
            gt = pt.grad.numpy()
            assert_close(p.grad.data, gt, dtype, f"gradient of {n}", max(1, np.abs(gt).max()))
        for (n, b), (_, bt) in zip(m.named_buffers(), mt.named_buffers()):
            assert_close(b.data, bt.numpy(), dtype, f"buffer {n}")
        arrays = make_arrays(specs, seed + 10, dtype)


@pytest.mark.parametrize("name,build,specs,conv", LAYERS, ids=[r[0] for r in LAYERS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_layer_matches_torch(name, build, specs, conv, dtype, training):
    if conv and not HAVE_CONV:
        pytest.skip("chainrule.ops.conv is not written yet")
    _run_layer(build, specs, dtype, training)


# -- losses as modules ------------------------------------------------------------------------------

W5 = np.array([1.0, 2.0, 0.5, 1.5, 0.3])

LOSSES = [
    ("mse", lambda L: L.nn.MSELoss(), [In((4, 3)), In((4, 3))]),
    ("mse_sum", lambda L: L.nn.MSELoss(reduction="sum"), [In((4, 3)), In((4, 3))]),
    ("l1_none", lambda L: L.nn.L1Loss(reduction="none"), [In((4, 3)), In((4, 3))]),
    ("ce", lambda L: L.nn.CrossEntropyLoss(), [In((6, 5)), In((6,), "index", classes=5)]),
    ("ce_all", lambda L: L.nn.CrossEntropyLoss(weight=L.lib.tensor(W5), ignore_index=1,
                                               label_smoothing=0.1),
     [In((6, 5)), In((6,), "index", classes=5, ignore=1)]),
    ("nll", lambda L: L.nn.NLLLoss(weight=L.lib.tensor(W5), reduction="sum"),
     [In((6, 5)), In((6,), "index", classes=5)]),
    ("bce", lambda L: L.nn.BCELoss(), [In((4, 3), "unit"), In((4, 3), "unit")]),
    ("bce_logits", lambda L: L.nn.BCEWithLogitsLoss(pos_weight=L.lib.tensor([1.0, 2.0, 3.0])),
     [In((4, 3)), In((4, 3), "unit")]),
    # -- losses (issue 15) --
    ("smooth_l1", lambda L: L.nn.SmoothL1Loss(beta=0.5), [In((4, 3)), In((4, 3))]),
    ("huber_none", lambda L: L.nn.HuberLoss(reduction="none", delta=0.5),
     [In((4, 3)), In((4, 3))]),
    ("kl_div", lambda L: L.nn.KLDivLoss(reduction="batchmean", log_target=True),
     [In((4, 3)), In((4, 3))]),
    ("poisson_nll", lambda L: L.nn.PoissonNLLLoss(log_input=False, full=True),
     [In((4, 3), "positive"), In((4, 3), "positive")]),
    ("gaussian_nll", lambda L: L.nn.GaussianNLLLoss(full=True),
     [In((4, 3)), In((4, 3)), In((4, 1), "positive")]),
    ("cosine_embedding", lambda L: L.nn.CosineEmbeddingLoss(margin=0.2),
     [In((4, 3)), In((4, 3)), In((4,), "sign", grad=False)]),
    ("margin_ranking", lambda L: L.nn.MarginRankingLoss(0.1),
     [In((4,)), In((4,)), In((4,), "sign", grad=False)]),
    ("hinge_embedding", lambda L: L.nn.HingeEmbeddingLoss(),
     [In((4, 3)), In((4, 3), "sign", grad=False)]),
    ("triplet_margin", lambda L: L.nn.TripletMarginLoss(margin=2.0, swap=True),
     [In((4, 3)), In((4, 3)), In((4, 3))]),
    ("multilabel_soft_margin",
     lambda L: L.nn.MultiLabelSoftMarginLoss(weight=L.lib.tensor([1.0, 2.0, 0.5])),
     [In((4, 3)), In((4, 3), "unit")]),
    ("multi_margin", lambda L: L.nn.MultiMarginLoss(p=2, margin=0.5, weight=L.lib.tensor(W5)),
     [In((6, 5)), In((6,), "index", classes=5)]),
]


@pytest.mark.parametrize("name,build,specs", LOSSES, ids=[r[0] for r in LOSSES])
def test_loss_module_matches_torch(name, build, specs):
    T = torch_ns()
    torch = T.lib
    arrays = make_arrays(specs, 0, np.float64)
    xs, ts = cr_inputs(specs, arrays), torch_inputs(torch, specs, arrays)
    m, mt = build(CR), build(T).double()
    m.double()
    assert list(m.state_dict()) == list(mt.state_dict())  # weight / pos_weight are buffers
    y, yt = m(*xs), mt(*ts)
    assert_close(y.data, yt.detach().numpy(), np.float64, "loss")
    y.sum().backward()
    yt.sum().backward()
    assert_close(xs[0].grad.data, ts[0].grad.numpy(), np.float64, "gradient")


# -- batch norm -------------------------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
def test_batchnorm_running_stats_equal_torch_after_several_steps(momentum):
    T = torch_ns()
    torch = T.lib
    m = nn.BatchNorm2d(3, momentum=momentum).double()
    mt = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((4, 3, 5, 5)) * rng.uniform(0.5, 3, (1, 3, 1, 1)) + 2
        m(cr.tensor(x)), mt(torch.tensor(x))
    np.testing.assert_allclose(m.running_mean.data, mt.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.running_var.data, mt.running_var.numpy(), rtol=1e-12)
    assert int(m.num_batches_tracked.item()) == int(mt.num_batches_tracked) == 5
    m.eval(), mt.eval()
    x = rng.standard_normal((2, 3, 5, 5))
    np.testing.assert_allclose(m(cr.tensor(x)).data, mt(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-14)
    assert int(m.num_batches_tracked.item()) == 5  # eval does not count


def test_batchnorm_eval_uses_running_stats():
    m = nn.BatchNorm1d(2).double()
    m.running_mean.data[...] = [1.0, -1.0]
    m.running_var.data[...] = [4.0, 0.25]
    m.eval()
    y = m(cr.tensor([[3.0, 0.0], [1.0, -1.0]], dtype=cr.float64))
    eps = m.eps
    np.testing.assert_allclose(y.data, [[2 / np.sqrt(4 + eps), 1 / np.sqrt(0.25 + eps)],
                                        [0.0, 0.0]], rtol=1e-12)


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input"):
        nn.BatchNorm2d(3)(cr.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input"):
        nn.BatchNorm1d(3)(cr.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(cr.randn(1, 3))
    nn.BatchNorm1d(3).eval()(cr.randn(1, 3))  # fine in eval mode


# -- dropout --------------------------------------------------------------------------------------------

def test_dropout_module_train_and_eval():
    d = nn.Dropout(0.25)
    x = cr.ones(100, 100)
    cr.manual_seed(0)
    y = d(x)
    zeros = (np.asarray(y) == 0).mean()
    assert 0.22 < zeros < 0.28
    np.testing.assert_allclose(y.data[y.data != 0], 1 / 0.75, rtol=1e-6)
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(-0.1)


# -- default initialisation -----------------------------------------------------------------------------

def _check_uniform(a, bound):
    a = np.asarray(a, np.float64).ravel()
    assert np.abs(a).max() <= bound
    assert np.abs(a).max() > 0.95 * bound  # the whole range is used
    np.testing.assert_allclose(a.std(), bound / np.sqrt(3), rtol=0.05)
    assert abs(a.mean()) < 0.05 * bound


def test_linear_default_init_is_torchs():
    cr.manual_seed(0)
    m = nn.Linear(400, 300)
    assert m.weight.dtype == np.float32 and m.bias.dtype == np.float32
    _check_uniform(m.weight.data, 1 / np.sqrt(400))  # kaiming_uniform_(a=√5)
    assert np.abs(m.bias.data).max() <= 1 / np.sqrt(400)
    assert m.weight.requires_grad and isinstance(m.weight, nn.Parameter)


def test_conv2d_default_init_is_torchs():
    cr.manual_seed(0)
    m = nn.Conv2d(32, 64, 5, groups=2)
    assert m.weight.shape == (64, 16, 5, 5)
    fan_in = 16 * 25
    _check_uniform(m.weight.data, 1 / np.sqrt(fan_in))
    assert np.abs(m.bias.data).max() <= 1 / np.sqrt(fan_in)


def test_batchnorm_default_init():
    m = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(m.weight.data, 1)
    np.testing.assert_array_equal(m.bias.data, 0)
    np.testing.assert_array_equal(m.running_mean.data, 0)
    np.testing.assert_array_equal(m.running_var.data, 1)
    assert m.num_batches_tracked.item() == 0


def test_construction_is_reproducible_from_the_seed():
    cr.manual_seed(42)
    a = nn.Sequential(nn.Linear(10, 5), nn.Conv2d(2, 3, 3))
    cr.manual_seed(42)
    b = nn.Sequential(nn.Linear(10, 5), nn.Conv2d(2, 3, 3))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    c = nn.Sequential(nn.Linear(10, 5), nn.Conv2d(2, 3, 3))
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


def test_parameters_follow_the_default_dtype():
    cr.set_default_dtype(cr.float64)
    try:
        m = nn.Linear(2, 2)
        bn = nn.BatchNorm1d(2)
    finally:
        cr.set_default_dtype(cr.float32)
    assert m.weight.dtype == np.float64 and bn.running_mean.dtype == np.float64
    assert nn.Linear(2, 2, dtype=cr.float64).weight.dtype == np.float64
    assert nn.Linear(2, 2).weight.dtype == np.float32


# -- conv errors and repr, which need no ops.conv -------------------------------------------------------

def test_conv2d_argument_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
