"""The layers of issue 15 against PyTorch's: convolutions and pools in 1-D, transposed
convolutions, adaptive pools, resizing, channel dropout, layer / group / instance norm and
embeddings. The modules: the same weights (loaded from the torch module's state_dict), equal
outputs, gradients and buffers, in float64 and float32, in training and eval mode. Then what a
table cannot show: the random masks of dropout, embedding's options, initialisation, strict dtypes
(PyTorch's errors) and the errors of the modules."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from .helpers import CR as CR_NS
from .helpers import In, compare_with_torch, torch_ns
from .test_layers import _run_layer

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (name, build(L) -> module, input specs)
LAYERS = [
    ("conv1d", lambda L: L.nn.Conv1d(2, 4, 3), [In((2, 2, 7))]),
    ("conv1d_args", lambda L: L.nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2,
                                          bias=False), [In((2, 4, 9))]),
    ("conv1d_same", lambda L: L.nn.Conv1d(2, 3, 4, padding="same"), [In((2, 2, 6))]),
    ("conv1d_circular", lambda L: L.nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular"),
     [In((2, 2, 6))]),
    ("conv1d_unbatched", lambda L: L.nn.Conv1d(2, 3, 2), [In((2, 5))]),
    ("conv_transpose1d", lambda L: L.nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1,
                                                        output_padding=1), [In((2, 3, 5))]),
    ("conv_transpose2d", lambda L: L.nn.ConvTranspose2d(3, 2, 3), [In((2, 3, 4, 5))]),
    ("conv_transpose2d_args", lambda L: L.nn.ConvTranspose2d(
        4, 6, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2,
        bias=False, dilation=(1, 2)), [In((2, 4, 4, 3))]),
    ("conv_transpose2d_unbatched", lambda L: L.nn.ConvTranspose2d(2, 3, 2, stride=2),
     [In((2, 3, 3))]),
    ("maxpool1d", lambda L: L.nn.MaxPool1d(2), [In((2, 3, 8))]),
    ("maxpool1d_args", lambda L: L.nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True),
     [In((2, 3, 8))]),
    ("avgpool1d", lambda L: L.nn.AvgPool1d(3, 2, 1, count_include_pad=False), [In((2, 3, 8))]),
    ("adaptive_avgpool1d", lambda L: L.nn.AdaptiveAvgPool1d(3), [In((2, 3, 7))]),
    ("adaptive_avgpool2d", lambda L: L.nn.AdaptiveAvgPool2d((2, 3)), [In((2, 3, 5, 7))]),
    ("adaptive_avgpool2d_global", lambda L: L.nn.AdaptiveAvgPool2d(1), [In((2, 3, 5, 4))]),
    ("adaptive_maxpool1d", lambda L: L.nn.AdaptiveMaxPool1d(3), [In((2, 3, 7))]),
    ("adaptive_maxpool2d", lambda L: L.nn.AdaptiveMaxPool2d((3, None)), [In((2, 3, 5, 4))]),
    ("upsample_nearest", lambda L: L.nn.Upsample(scale_factor=2), [In((2, 3, 3, 4))]),
    ("upsample_bilinear", lambda L: L.nn.Upsample(size=(5, 7), mode="bilinear"),
     [In((2, 3, 3, 4))]),
    ("upsample_bilinear_corners", lambda L: L.nn.Upsample(scale_factor=1.5, mode="bilinear",
                                                          align_corners=True), [In((2, 3, 3, 4))]),
    ("upsample_nearest_exact", lambda L: L.nn.Upsample(scale_factor=(0.5, 1.5),
                                                       mode="nearest-exact"), [In((2, 3, 6, 4))]),
    ("upsample_linear", lambda L: L.nn.Upsample(size=9, mode="linear"), [In((2, 3, 4))]),
    ("upsample_trilinear", lambda L: L.nn.Upsample(scale_factor=(1.5, 2, 0.5), mode="trilinear"),
     [In((1, 2, 3, 2, 4))]),
    ("upsampling_nearest2d", lambda L: L.nn.UpsamplingNearest2d(size=(4, 6)), [In((2, 3, 3, 4))]),
    ("upsampling_bilinear2d", lambda L: L.nn.UpsamplingBilinear2d(scale_factor=2),
     [In((2, 3, 3, 4))]),
    ("pixel_shuffle", lambda L: L.nn.PixelShuffle(3), [In((2, 18, 2, 3))]),
    ("pixel_unshuffle", lambda L: L.nn.PixelUnshuffle(2), [In((2, 3, 4, 6))]),
    ("dropout1d_eval_or_p0", lambda L: L.nn.Dropout1d(0.0), [In((2, 3, 4))]),
    ("layernorm", lambda L: L.nn.LayerNorm(5), [In((4, 5))]),
    ("layernorm_2d", lambda L: L.nn.LayerNorm((3, 4), eps=1e-3), [In((2, 5, 3, 4))]),
    ("layernorm_no_bias", lambda L: L.nn.LayerNorm(4, bias=False), [In((3, 2, 4))]),
    ("layernorm_no_affine", lambda L: L.nn.LayerNorm([4], elementwise_affine=False),
     [In((3, 4))]),
    ("groupnorm", lambda L: L.nn.GroupNorm(2, 6), [In((3, 6, 4))]),
    ("groupnorm_4d", lambda L: L.nn.GroupNorm(3, 6, eps=1e-3), [In((2, 6, 3, 2))]),
    ("groupnorm_no_affine", lambda L: L.nn.GroupNorm(1, 4, affine=False), [In((2, 4, 3))]),
    ("groupnorm_no_bias", lambda L: L.nn.GroupNorm(2, 4, bias=False), [In((2, 4, 3))]),
    ("instancenorm1d", lambda L: L.nn.InstanceNorm1d(3), [In((2, 3, 5))]),
    ("instancenorm1d_affine_unbatched", lambda L: L.nn.InstanceNorm1d(3, affine=True),
     [In((3, 5))]),
    ("instancenorm1d_tracked", lambda L: L.nn.InstanceNorm1d(3, momentum=0.3,
                                                             track_running_stats=True),
     [In((2, 3, 5))]),
    ("instancenorm2d", lambda L: L.nn.InstanceNorm2d(3, affine=True), [In((2, 3, 4, 3))]),
    ("instancenorm2d_tracked", lambda L: L.nn.InstanceNorm2d(3, affine=True,
                                                             track_running_stats=True),
     [In((2, 3, 4, 3))]),
    ("instancenorm2d_cma", lambda L: L.nn.InstanceNorm2d(3, momentum=None,
                                                         track_running_stats=True),
     [In((2, 3, 4, 3))]),
    ("unet_block", lambda L: L.nn.Sequential(
        L.nn.Conv2d(2, 4, 3, padding=1), L.nn.GroupNorm(2, 4), L.nn.ReLU(inplace=True),
        L.nn.ConvTranspose2d(4, 3, 2, stride=2), L.nn.InstanceNorm2d(3, affine=True),
        L.nn.Upsample(scale_factor=0.5, mode="bilinear"), L.nn.AdaptiveAvgPool2d((2, 3))),
     [In((2, 2, 5, 4))]),
    ("sequence_block", lambda L: L.nn.Sequential(
        L.nn.Conv1d(3, 4, 3, padding=1), L.nn.LayerNorm(6), L.nn.MaxPool1d(2),
        L.nn.ConvTranspose1d(4, 2, 2, stride=2), L.nn.AdaptiveMaxPool1d(4)), [In((2, 3, 6))]),
]


@pytest.mark.parametrize("name,build,specs", LAYERS, ids=[r[0] for r in LAYERS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_layer_matches_torch(name, build, specs, dtype, training):
    _run_layer(build, specs, dtype, training)


@pytest.mark.parametrize("name", ["Conv1d", "ConvTranspose1d", "ConvTranspose2d", "LayerNorm",
                                  "GroupNorm", "InstanceNorm1d", "Embedding"])
def test_state_dict_keys_and_shapes_are_pytorchs(name):
    args = {"Conv1d": (4, 6, 3), "ConvTranspose1d": (4, 6, 3), "ConvTranspose2d": (4, 6, (3, 2)),
            "LayerNorm": ((3, 4),), "GroupNorm": (2, 4), "InstanceNorm1d": (4,),
            "Embedding": (10, 3)}[name]
    kwargs = [{}, dict(groups=2)] if name.startswith("Conv") else [{}]
    if name == "InstanceNorm1d":
        kwargs = [{}, dict(affine=True, track_running_stats=True)]
    for kw in kwargs:
        ours, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert repr(ours) == repr(theirs)


# -- embedding -------------------------------------------------------------------------------------

def _embedding_pair(weight, **kw):
    return (nn.Embedding.from_pretrained(cr.tensor(weight.copy()), freeze=False, **kw),
            torch.nn.Embedding.from_pretrained(torch.tensor(weight.copy()), freeze=False, **kw))


@pytest.mark.parametrize("kw", [dict(padding_idx=2), dict(padding_idx=-1),
                                dict(scale_grad_by_freq=True),
                                dict(padding_idx=0, scale_grad_by_freq=True)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_options_match_torch(kw, dtype):
    """padding_idx's row gets no gradient; scale_grad_by_freq divides by each index's count."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3)).astype(dtype)
    idx = np.array([[2, 0, 5, 2], [5, 5, 1, 0]])
    m, mt = _embedding_pair(w, **kw)
    g = rng.standard_normal((2, 4, 3)).astype(dtype)
    m(cr.tensor(idx)).backward(cr.tensor(g))
    mt(torch.tensor(idx)).backward(torch.tensor(g))
    np.testing.assert_allclose(m.weight.grad.data, mt.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    if "padding_idx" in kw:
        assert not m.weight.grad.data[kw["padding_idx"]].any()


def test_embedding_options_gradients_of_gradients():
    """The gradient with respect to dL/dy, recorded: PyTorch's for padding_idx; with
    scale_grad_by_freq PyTorch's double backward leaves out the scaling (its
    embedding_dense_double_backward ignores it), so there the check is gradgradcheck's."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 3))
    idx = np.array([[2, 0, 5, 2], [5, 5, 1, 0]])
    v, u = rng.standard_normal((2, 4, 3)), rng.standard_normal((6, 3))
    m, mt = _embedding_pair(w, padding_idx=5)
    vc, vt = cr.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    (g,) = cr.autograd.grad(m(cr.tensor(idx)), m.weight, vc, create_graph=True)
    (gt,) = torch.autograd.grad(mt(torch.tensor(idx)), mt.weight, vt, create_graph=True)
    (g * cr.tensor(u)).sum().backward()
    (gt * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(vc.grad.data, vt.grad.numpy(), rtol=1e-12)
    for kw in (dict(padding_idx=1), dict(scale_grad_by_freq=True)):
        weight = cr.tensor(w, requires_grad=True)
        assert cr.autograd.gradgradcheck(lambda t: F.embedding(cr.tensor(idx), t, **kw), [weight])


def test_embedding_max_norm_renormalises_the_rows_looked_up_in_place():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((8, 4)) * 2
    idx = np.array([[1, 3, 3], [7, 0, 1]])
    for norm_type in (2.0, 1.0, float("inf")):
        m, mt = _embedding_pair(w, max_norm=1.5, norm_type=norm_type)
        version = m.weight._version
        y, yt = m(cr.tensor(idx)), mt(torch.tensor(idx))
        np.testing.assert_allclose(m.weight.data, mt.weight.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
        np.testing.assert_array_equal(m.weight.data[[2, 4, 5, 6]], w[[2, 4, 5, 6]])  # not looked up
        assert m.weight._version > version  # an in-place change, as PyTorch counts it
        y.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(m.weight.grad.data, mt.weight.grad.numpy())


def test_embedding_construction_and_from_pretrained():
    cr.manual_seed(0)
    m = nn.Embedding(1000, 50, padding_idx=3)
    assert m.weight.shape == (1000, 50) and m.weight.dtype == np.float32
    assert not m.weight.data[3].any()  # the padding row starts at zero
    assert abs(m.weight.data.mean()) < 0.01 and abs(m.weight.data.std() - 1) < 0.01  # N(0, 1)
    pre = cr.randn(4, 3)
    frozen = nn.Embedding.from_pretrained(pre, padding_idx=1)
    assert not frozen.weight.requires_grad and np.asarray(frozen.weight) is np.asarray(pre)  # shared, frozen
    assert frozen.weight.data[1].any()  # the padding row is left as it is
    assert nn.Embedding.from_pretrained(pre, freeze=False).weight.requires_grad
    y = frozen(cr.tensor([[0, 1], [3, 3]]))
    assert y.shape == (2, 2, 3) and not y.requires_grad
    np.testing.assert_array_equal(y.data[1, 0], pre.data[3])
    assert nn.Embedding(5, 2, padding_idx=-2).padding_idx == 3
    assert nn.Embedding(5, 2, dtype=cr.float64)(cr.tensor(np.array([1], np.int32))).dtype == \
        np.float64


EMBEDDING_ERRORS = [
    (lambda L: L.nn.Embedding(5, 2)(L.lib.tensor([1.0, 2.0])), RuntimeError,
     "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, "
     "Int; but got torch.FloatTensor instead"),
    (lambda L: L.nn.Embedding(5, 2)(L.lib.tensor([0, 5])), IndexError,
     "index out of range in self"),
    (lambda L: L.nn.Embedding(5, 2)(L.lib.tensor([-1])), IndexError, "index out of range in self"),
    (lambda L: L.nn.Embedding(5, 2, padding_idx=5), AssertionError,
     "Padding_idx must be within num_embeddings"),
    (lambda L: L.nn.Embedding.from_pretrained(L.lib.zeros(3)), AssertionError,
     "Embeddings parameter is expected to be 2-dimensional"),
    (lambda L: L.F.embedding(L.lib.tensor([1]), L.lib.zeros(5, 2, dtype=L.lib.int64), max_norm=1.0),
     RuntimeError, "norm(): input dtype should be either floating point or complex. Got Long"),
]


# -- channel dropout -------------------------------------------------------------------------------

@pytest.mark.parametrize("layer,shape", [(nn.Dropout1d, (40, 50, 6)), (nn.Dropout1d, (500, 7)),
                                         (nn.Dropout2d, (40, 50, 3, 2)),
                                         (nn.Dropout3d, (40, 50, 2, 2, 2)),
                                         (nn.Dropout3d, (500, 2, 3, 2))])
def test_channel_dropout_zeroes_whole_channels(layer, shape):
    d = layer(0.3)
    x = cr.ones(*shape, dtype=cr.float64, requires_grad=True)
    cr.manual_seed(0)
    y = d(x)
    batched = len(shape) == {nn.Dropout1d: 3, nn.Dropout2d: 4, nn.Dropout3d: 5}[layer]
    lead = 2 if batched else 1
    channels = np.asarray(y).reshape(shape[:lead] + (-1,))
    assert (channels == channels[..., :1]).all()  # a channel is kept or dropped whole
    assert set(np.unique(channels)) == {0.0, 1 / 0.7}
    dropped = channels[..., 0] == 0
    assert abs(dropped.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / dropped.size)  # 4 sigmas
    g = np.random.default_rng(0).standard_normal(shape)
    y.backward(cr.tensor(g))
    np.testing.assert_allclose(x.grad.data, g * y.data, rtol=1e-12)  # the same mask
    d.eval()
    assert d(x) is x  # the identity in eval mode (no copy)
    assert layer(1.0)(x).data.sum() == 0


def test_dropout2d_of_a_3d_input_drops_channels_of_n_c_l_with_pytorchs_warnings():
    x = cr.ones(8, 30, 5)
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input"):
        y = F.dropout2d(x, 0.5)
    assert (y.data == y.data[..., :1]).all()
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        F.dropout2d(cr.ones(4, 5), 0.5)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D"):
        F.dropout1d(cr.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout2d(1.5)
    assert repr(nn.Dropout2d(0.2)) == repr(torch.nn.Dropout2d(0.2))


@pytest.mark.parametrize("layer,shape", [(nn.Dropout, (6, 5)), (nn.Dropout1d, (4, 6, 5)),
                                         (nn.Dropout1d, (6, 5)), (nn.Dropout2d, (4, 6, 2, 3)),
                                         (nn.Dropout3d, (6, 2, 2, 3))])
def test_dropout_inplace_overwrites_its_input_as_pytorchs(layer, shape):
    """``inplace=True`` writes into the input and returns it; the gradient reaches through the
    in-place node; a leaf that requires grad is refused, as in PyTorch."""
    for L in (CR_NS, torch_ns()):
        x = L.lib.ones(*shape, dtype=L.lib.float64, requires_grad=True)
        h = x * 2
        y = L.nn.__dict__[layer.__name__](0.5, inplace=True)(h)
        assert y is h
        (y * 3).sum().backward()
        kept = np.asarray(y.detach().numpy()) != 0
        assert 0 < kept.mean() < 1
        np.testing.assert_allclose(np.asarray(x.grad.detach().numpy()), 12.0 * kept)
        with pytest.raises(RuntimeError, match="leaf"):
            L.nn.__dict__[layer.__name__](0.5, inplace=True)(x)
        v = L.lib.ones(*shape)
        assert L.nn.__dict__[layer.__name__](0.5, inplace=True).eval()(v) is v


# -- norms: one node, and their output is theirs to change in place --------------------------------

def test_layer_norm_is_one_node_straight_to_its_leaves():
    x, w, b = (cr.randn(3, 4, requires_grad=True), cr.ones(4, requires_grad=True),
               cr.zeros(4, requires_grad=True))
    y = F.layer_norm(x, (4,), w, b)
    assert y.grad_fn.name() == "LayerNormBackward"
    assert [type(node).__name__ for node, _ in y.grad_fn.next_functions] == ["AccumulateGrad"] * 3


def test_an_in_place_op_on_a_norms_output_is_fine_as_in_pytorch():
    """A norm saves its input, not its output: ReLU(inplace=True) after GroupNorm works."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3, 3))
    for build in (lambda L: L.nn.Sequential(L.nn.GroupNorm(2, 4), L.nn.ReLU(inplace=True)),
                  lambda L: L.nn.Sequential(L.nn.LayerNorm(3), L.nn.ReLU(inplace=True)),
                  lambda L: L.nn.Sequential(L.nn.InstanceNorm2d(4), L.nn.ReLU(inplace=True))):
        xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        build(cr).double()(xc).sum().backward()
        build(torch).double()(xt).sum().backward()
        np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


# -- initialisation --------------------------------------------------------------------------------

@pytest.mark.parametrize("build,fan_in", [
    (lambda: nn.Conv1d(8, 16, 5, groups=2), 4 * 5),
    (lambda: nn.ConvTranspose1d(8, 16, 5), 16 * 5),
    (lambda: nn.ConvTranspose2d(16, 12, 3, groups=4), 3 * 9),
], ids=["conv1d", "conv_transpose1d", "conv_transpose2d"])
def test_conv_initialisation_is_pytorchs(build, fan_in):
    """PyTorch's kaiming_uniform_(a=√5): U(-1/√fan_in, 1/√fan_in), fan_in = weight.shape[1] · k
    (for a transposed conv, its out_channels / groups)."""
    cr.manual_seed(0)
    m = build()
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(m.bias.data).max() <= bound
    assert 0.95 * bound < np.abs(m.weight.data).max() <= bound


def test_norm_initialisation():
    for m in (nn.LayerNorm((2, 3)), nn.GroupNorm(2, 4), nn.InstanceNorm1d(3, affine=True)):
        assert (m.weight.data == 1).all() and (m.bias.data == 0).all()
    assert nn.LayerNorm(3, dtype=cr.float64).weight.dtype == np.float64


# -- dtypes are strict, as PyTorch's ---------------------------------------------------------------

F64, I64, F16 = (lambda L: L.lib.float64), (lambda L: L.lib.int64), (lambda L: L.lib.float16)


def _x(L, shape, dtype):
    return L.lib.ones(*shape, dtype=dtype(L))


DTYPE_CASES = [
    ("linear_f64", lambda L: L.nn.Linear(5, 3)(_x(L, (4, 5), F64))),
    ("linear_int", lambda L: L.nn.Linear(5, 3)(_x(L, (4, 5), I64))),
    ("linear_f16", lambda L: L.nn.Linear(5, 3)(_x(L, (4, 5), F16))),
    ("linear_1d_f64", lambda L: L.nn.Linear(5, 3)(_x(L, (5,), F64))),
    ("linear_no_bias_f64", lambda L: L.F.linear(_x(L, (2, 4, 5), F64), L.lib.ones(3, 5))),
    ("linear_f64_weight", lambda L: L.F.linear(L.lib.ones(4, 5), _x(L, (3, 5), F64))),
    ("linear_f64_bias", lambda L: L.F.linear(L.lib.ones(4, 5), L.lib.ones(3, 5),
                                             _x(L, (3,), F64))),
    ("linear_ints", lambda L: L.F.linear(_x(L, (4, 5), I64), _x(L, (3, 5), I64))),
    ("conv1d_f64", lambda L: L.nn.Conv1d(2, 3, 3)(_x(L, (1, 2, 5), F64))),
    ("conv2d_f64", lambda L: L.nn.Conv2d(2, 3, 3)(_x(L, (1, 2, 5, 5), F64))),
    ("conv2d_int", lambda L: L.nn.Conv2d(2, 3, 3)(_x(L, (1, 2, 5, 5), I64))),
    ("conv2d_no_bias_f64", lambda L: L.nn.Conv2d(2, 3, 3, bias=False)(_x(L, (1, 2, 5, 5), F64))),
    ("conv_transpose2d_f64", lambda L: L.nn.ConvTranspose2d(2, 3, 3)(_x(L, (1, 2, 5, 5), F64))),
    ("conv_transpose1d_int", lambda L: L.nn.ConvTranspose1d(2, 3, 3)(_x(L, (1, 2, 5), I64))),
    ("batchnorm_f64", lambda L: L.nn.BatchNorm1d(3)(_x(L, (4, 3), F64))),
    ("batchnorm_eval_f64", lambda L: L.nn.BatchNorm1d(3).eval()(_x(L, (4, 3), F64))),
    ("batchnorm_int", lambda L: L.nn.BatchNorm1d(3)(_x(L, (4, 3), I64))),
    ("batchnorm_f16", lambda L: L.nn.BatchNorm1d(3)(_x(L, (4, 3), F16))),
    ("layernorm_f64", lambda L: L.nn.LayerNorm(3)(_x(L, (4, 3), F64))),
    ("layernorm_int", lambda L: L.nn.LayerNorm(3)(_x(L, (4, 3), I64))),
    ("layernorm_no_affine_int", lambda L: L.F.layer_norm(_x(L, (4, 3), I64), (3,))),
    ("layernorm_f16", lambda L: L.nn.LayerNorm(3)(_x(L, (4, 3), F16))),
    ("layernorm_f64_bias", lambda L: L.F.layer_norm(L.lib.ones(4, 3), (3,), L.lib.ones(3),
                                                    _x(L, (3,), F64))),
    ("groupnorm_f64", lambda L: L.nn.GroupNorm(2, 4)(_x(L, (2, 4, 3), F64))),
    ("groupnorm_int", lambda L: L.nn.GroupNorm(2, 4)(_x(L, (2, 4, 3), I64))),
    ("groupnorm_no_affine_int", lambda L: L.F.group_norm(_x(L, (2, 4, 3), I64), 2)),
    ("groupnorm_f16", lambda L: L.nn.GroupNorm(2, 4)(_x(L, (2, 4, 3), F16))),
    ("instancenorm_f64", lambda L: L.nn.InstanceNorm1d(4, affine=True)(_x(L, (2, 4, 3), F64))),
    ("instancenorm_int", lambda L: L.nn.InstanceNorm1d(4)(_x(L, (2, 4, 3), I64))),
    ("embedding_f64_weight", lambda L: L.F.embedding(L.lib.tensor([1, 2]), _x(L, (5, 3), F64))),
    ("prelu_f64", lambda L: L.nn.PReLU()(_x(L, (2, 3), F64))),
    ("prelu_channels_f64", lambda L: L.nn.PReLU(3)(_x(L, (2, 3, 4), F64))),
    ("prelu_f64_weight", lambda L: L.F.prelu(L.lib.ones(2, 3), _x(L, (1,), F64))),
    ("prelu_int", lambda L: L.F.prelu(_x(L, (2, 3), I64), _x(L, (1,), I64))),
    ("maxpool1d_int", lambda L: L.nn.MaxPool1d(2)(_x(L, (1, 2, 6), I64))),
    ("maxpool2d_int", lambda L: L.nn.MaxPool2d(2)(_x(L, (1, 2, 6, 4), I64))),
    ("avgpool1d_int", lambda L: L.nn.AvgPool1d(3, 2, 1)(_x(L, (1, 2, 6), I64))),
    ("avgpool2d_int", lambda L: L.nn.AvgPool2d(2)(_x(L, (1, 2, 6, 4), I64))),
    ("avgpool1d_int32", lambda L: L.F.avg_pool1d(_x(L, (1, 2, 6), lambda L: L.lib.int32), 2)),
    ("adaptiveavgpool2d_int", lambda L: L.nn.AdaptiveAvgPool2d(2)(_x(L, (1, 2, 6, 4), I64))),
    ("adaptivemaxpool2d_int", lambda L: L.nn.AdaptiveMaxPool2d(2)(_x(L, (1, 2, 6, 4), I64))),
    ("adaptiveavgpool1d_int", lambda L: L.F.adaptive_avg_pool1d(_x(L, (1, 2, 6), I64), 2)),
    ("interpolate_nearest_int", lambda L: L.F.interpolate(_x(L, (1, 2, 3, 4), I64), size=5)),
    ("interpolate_nearest1d_int", lambda L: L.F.interpolate(_x(L, (1, 2, 3), I64), size=5)),
    ("interpolate_nearest_uint8", lambda L: L.F.interpolate(_x(L, (1, 2, 3, 4),
                                                               lambda L: L.lib.uint8), size=5)),
    ("interpolate_linear_int", lambda L: L.F.interpolate(_x(L, (1, 2, 3), I64), size=5,
                                                         mode="linear")),
    ("interpolate_bilinear_int", lambda L: L.F.interpolate(_x(L, (1, 2, 3, 4), I64), size=5,
                                                           mode="bilinear")),
    ("dropout_int", lambda L: L.F.dropout(_x(L, (4, 5), I64), 0.5)),
    ("dropout1d_int", lambda L: L.nn.Dropout1d()(_x(L, (2, 4, 5), I64))),
    ("dropout2d_int_p1", lambda L: L.F.dropout2d(_x(L, (2, 4, 5, 2), I64), 1.0)),
]


@pytest.mark.parametrize("name,call", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_dtypes_are_strict_as_pytorchs(name, call):
    """A float32 layer given float64 or integer input raises PyTorch's error (its type, and its
    words in ours) instead of running in float64; where PyTorch runs (float16 into a norm, an
    all-integer linear), chainrule gives PyTorch's dtype."""
    from .helpers import CR
    try:
        want = call(torch_ns())
    except Exception as err:  # noqa: BLE001 (any error PyTorch raises, we must raise)
        with pytest.raises(type(err)) as ours:
            call(CR)
        theirs = str(err).split("\n")[0]
        assert theirs in str(ours.value), f"{ours.value!r} does not say {theirs!r}"
        assert name.split("_")[0] in str(ours.value).split(":")[0].replace("_", "")
        return
    got = call(CR)
    assert got.dtype == np.dtype(str(want.dtype).replace("torch.", ""))
    np.testing.assert_allclose(np.asarray(got).astype(np.float64),
                               want.detach().double().numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("call", [
    lambda L, x: L.F.avg_pool1d(x, 3),
    lambda L, x: L.F.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
    lambda L, x: L.F.avg_pool1d(x, 3, 2, 1, ceil_mode=True),
    lambda L, x: L.F.avg_pool2d(x[None], (1, 3), divisor_override=2),
    lambda L, x: L.nn.AvgPool2d(2, padding=1)(x.reshape(1, 2, 7)),
])
def test_average_pools_of_int64_truncate_as_pytorchs(call):
    x = np.array([[[-7, 2, 5, 1, -3, 0, 8], [4, -9, 3, 3, 6, -1, -2]]])
    got, want = call(CR_NS, cr.tensor(x)), call(torch_ns(), torch.tensor(x))
    assert got.dtype == np.int64 and want.dtype == torch.int64
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


# -- resizing: what the table does not reach -------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 13])
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_indices_are_pytorchs_for_any_size_and_scale(n, dims, dtype):
    """PyTorch's kernels compute the source index in float32 (2-D) or in the input's precision
    with a fused multiply-add (1-D, 3-D), and its 2-D one copies or halves when the output is n
    or 2n: the same pixels come out for every size and scale."""
    x = np.arange(n, dtype=dtype).reshape((1, 1) + (1,) * (dims - 1) + (n,))
    for mode in ("nearest", "nearest-exact"):
        cases = [dict(size=(1,) * (dims - 1) + (o,)) for o in range(1, 4 * n + 3)]
        cases += [dict(scale_factor=(1.0,) * (dims - 1) + (s,))
                  for s in (0.3, 0.5, 2 / 3, 1.1, 1.5, 1.99, 2.0, 2.01, 2.1, 3.3) if n * s >= 1]
        for kw in cases:
            got = F.interpolate(cr.tensor(x), mode=mode, **kw).data
            want = TF.interpolate(torch.tensor(x), mode=mode, **kw).numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{mode} {kw}")


@pytest.mark.parametrize("kw", [dict(size=(7, 9)), dict(size=(2, 3)), dict(scale_factor=2.3),
                                dict(scale_factor=(0.4, 3), recompute_scale_factor=True)], ids=str)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bilinear_matches_torch(kw, align_corners, dtype):
    compare_with_torch(lambda L, x: L.F.interpolate(x, mode="bilinear",
                                                    align_corners=align_corners, **kw),
                       [In((2, 3, 5, 6))], dtype)


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 9), (3, 4)), ((3, 5, 6), (4, 5)),
                                       ((2, 3, 4, 4), (7, 9)), ((2, 3, 5, 5), 1)], ids=str)
def test_adaptive_max_pool2d_indices_and_nan(shape, out):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    x.reshape(-1)[::7] = np.nan
    x.reshape(-1)[3::11] = 0.0
    (y, i), (yt, it) = (F.adaptive_max_pool2d(cr.tensor(x), out, return_indices=True),
                        TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True))
    np.testing.assert_array_equal(i.data, it.numpy())
    np.testing.assert_array_equal(y.data, yt.numpy())


@pytest.mark.parametrize("call", [
    lambda L, x: L.F.max_pool1d(x[:, 0], 3, 2, 1),
    lambda L, x: L.F.max_pool1d(x[:, 0], 2, 1, dilation=2),
    lambda L, x: L.F.max_pool2d(x, 2, 1),
    lambda L, x: L.F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    lambda L, x: L.F.adaptive_max_pool2d(x, (2, 3)),
    lambda L, x: L.F.adaptive_max_pool1d(x[:, 0], 4),
], ids=str)
def test_max_pools_send_the_gradient_to_the_last_nan_of_a_window_as_pytorch(call):
    """PyTorch's scan takes a value that is greater or NaN: of several NaNs in a window, the
    last gets the gradient, in the first and the recorded (create_graph) backward."""
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 8))
    x.reshape(-1)[::3] = np.nan
    grads = []
    for L, make in ((CR_NS, cr.tensor), (torch_ns(), torch.tensor)):
        a = make(x, requires_grad=True)
        y = call(L, a)
        w = make(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))
        (g,) = L.lib.autograd.grad((y * w).sum(), a, create_graph=True)
        a.grad = None
        (y * w).sum().backward()
        grads.append((np.asarray(g.detach().numpy()), np.asarray(a.grad.detach().numpy())))
    for got, want in zip(grads[0], grads[1]):
        np.testing.assert_array_equal(got, want)

@pytest.mark.parametrize("call", [
    lambda L, x: L.F.group_norm(x, 3),
    lambda L, x: L.F.instance_norm(x),
    lambda L, x: L.F.layer_norm(x, (8,)),
    lambda L, x: L.F.max_pool1d(x, 2),
    lambda L, x: L.F.adaptive_avg_pool1d(x, 3),
    lambda L, x: L.F.interpolate(x, scale_factor=2, mode="linear"),
    lambda L, x: L.F.multi_margin_loss(x[:, :, 0], L.lib.zeros(0, dtype=L.lib.int64),
                                       reduction="none"),
], ids=str)
def test_an_empty_batch_goes_through_as_in_pytorch(call):
    outs = []
    for L, make in ((CR_NS, cr.tensor), (torch_ns(), torch.tensor)):
        x = make(np.zeros((0, 3, 8)), requires_grad=True)
        y = call(L, x)
        y.sum().backward()
        outs.append((tuple(y.shape), tuple(x.grad.shape)))
    assert outs[0] == outs[1]


def test_interpolate_of_the_same_size_is_a_copy():
    x = cr.randn(1, 2, 3, 4, requires_grad=True)
    for mode in ("nearest", "bilinear"):
        y = F.interpolate(x, size=(3, 4), mode=mode)
        np.testing.assert_array_equal(y.data, x.data)
        assert not np.shares_memory(y.data, x.data) and y.requires_grad


INTERPOLATE_ERRORS = [
    (lambda L, x: L.F.interpolate(x, size=3, scale_factor=2), ValueError,
     "only one of size or scale_factor should be defined"),
    (lambda L, x: L.F.interpolate(x), ValueError, "either size or scale_factor should be defined"),
    (lambda L, x: L.F.interpolate(x, size=(3,)), ValueError,
     "Input and output must have the same number of spatial dimensions, but got input with "
     "spatial dimensions of [3, 4] and output size of (3,)."),
    (lambda L, x: L.F.interpolate(x, scale_factor=(2, 2, 2)), ValueError,
     "Input and scale_factor must have the same number of spatial dimensions"),
    (lambda L, x: L.F.interpolate(x, size=4, align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes"),
    (lambda L, x: L.F.interpolate(x, size=4, mode="linear"), NotImplementedError,
     "Got 4D input, but linear mode needs 3D input"),
    (lambda L, x: L.F.interpolate(x[0, 0], size=4), NotImplementedError,
     "Input Error: Only 3D, 4D and 5D input Tensors supported (got 2D)"),
    (lambda L, x: L.F.interpolate(x, size=4, recompute_scale_factor=True), ValueError,
     "recompute_scale_factor is not meaningful with an explicit size."),
    (lambda L, x: L.F.pixel_shuffle(x, 2), RuntimeError,
     "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
     "upscale_factor, but input.size(-3)=2 is not divisible by 4"),
    (lambda L, x: L.F.pixel_unshuffle(x, 2), RuntimeError,
     "pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=3 is "
     "not divisible by 2"),
    (lambda L, x: L.F.pixel_shuffle(x[0, 0], 1), RuntimeError,
     "pixel_shuffle expects input to have at least 3 dimensions, but got input with 2 "
     "dimension(s)"),
]


# -- the modules' errors ---------------------------------------------------------------------------

MODULE_ERRORS = [
    (lambda L: L.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"), ValueError,
     'Only "zeros" padding mode is supported for ConvTranspose2d'),
    (lambda L: L.nn.Conv1d(3, 2, 3, groups=2), ValueError,
     "in_channels must be divisible by groups"),
    (lambda L: L.nn.Conv1d(2, 2, 3, stride=2, padding="same"), ValueError,
     "padding='same' is not supported for strided convolutions"),
    (lambda L: L.nn.ConvTranspose2d(2, 3, 3, stride=2)(L.lib.ones(1, 2, 4, 4), output_size=(12, 9)),
     ValueError, "requested an output size of (12, 9), but valid sizes range from [9, 9] to "
     "[10, 10]"),
    (lambda L: L.nn.GroupNorm(3, 4), ValueError, "num_channels (4) must be divisible by "
                                                  "num_groups (3)"),
    (lambda L: L.nn.GroupNorm(2, 4)(L.lib.ones(2, 6, 3)), RuntimeError,
     "Expected weight to be a vector of size equal to the number of channels in input"),
    (lambda L: L.nn.InstanceNorm1d(3)(L.lib.ones(2, 3, 4, 5)), ValueError,
     "expected 2D or 3D input (got 4D input)"),
    (lambda L: L.nn.InstanceNorm2d(3, affine=True)(L.lib.ones(2, 4, 3, 3)), ValueError,
     "expected input's size at dim=1 to match num_features (3), but got: 4."),
    (lambda L: L.nn.InstanceNorm1d(3)(L.lib.ones(2, 3, 1)), ValueError,
     "Expected more than 1 spatial element when training, got input size"),
    (lambda L: L.nn.LayerNorm(4)(L.lib.ones(2, 3)), RuntimeError,
     "Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[2, 3]"),
    (lambda L: L.F.group_norm(L.lib.ones(2, 5, 3), 2), RuntimeError,
     "Expected number of channels in input to be divisible by num_groups, but got input of shape "
     "[2, 5, 3] and num_groups=2"),
    (lambda L: L.nn.AdaptiveAvgPool2d((2, 2, 2))(L.lib.ones(1, 2, 4, 4)), RuntimeError, ""),
]


ERRORS = EMBEDDING_ERRORS + [(lambda L, f=f: f(L, L.lib.ones(1, 2, 3, 4)), e, m)
                             for f, e, m in INTERPOLATE_ERRORS] + MODULE_ERRORS


@pytest.mark.parametrize("call,error,message", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_are_pytorchs(call, error, message):
    """PyTorch's exception and its words (in ours, which add the op, the shapes and the fix)."""
    from .helpers import CR
    for L in (CR, torch_ns()):
        with pytest.raises(error) as err:
            call(L)
        assert message in str(err.value)


def test_conv_transpose_output_size_picks_the_output_padding():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 4, 5))
    m, mt = nn.ConvTranspose2d(3, 2, 3, stride=(2, 3)).double(), \
        torch.nn.ConvTranspose2d(3, 2, 3, stride=(2, 3)).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in mt.state_dict().items()})
    for size in [(10, 15), (2, 2, 9, 17), [9, 16]]:
        y, yt = m(cr.tensor(x), output_size=size), mt(torch.tensor(x), output_size=size)
        assert y.shape == tuple(yt.shape) == (2, 2) + tuple(size[-2:])
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
