"""cr.onnx.load_model: a PyTorch model exported by torch.onnx.export gives torch's outputs in
chainrule; a chainrule model exported and loaded back gives its own outputs and gradients, and
can be fine-tuned; operators chainrule cannot run are named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.training.models import cnn, mlp
from tests.nn import test_layers, test_layers_more
from tests.nn.helpers import CR, cr_inputs, make_arrays

from .helpers import dynamic, onnx, run_cr

torch = pytest.importorskip("torch")
TOL = dict(rtol=1e-5, atol=1e-5)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _torch_export(model, x, path, **kw):
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes=dynamic(["input", "output"]), **kw)


TORCH_MODELS = [
    ("mlp", lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8),
                                        torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                                        torch.nn.Linear(8, 3), torch.nn.LogSoftmax(1)),
     (2, 3, 4)),
    ("cnn", lambda: torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
        torch.nn.LeakyReLU(0.2), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
        torch.nn.Dropout(0.3), torch.nn.Linear(6 * 2 * 2, 5), torch.nn.Sigmoid()), (2, 1, 16, 16)),
    ("norms", lambda: torch.nn.Sequential(
        torch.nn.Linear(6, 6), torch.nn.GELU(), torch.nn.LayerNorm(6), torch.nn.Linear(6, 4),
        torch.nn.Softmax(-1)), (2, 5, 6)),
]


@pytest.mark.parametrize("opset", [13, 17, 20])
@pytest.mark.parametrize("name,build,shape", TORCH_MODELS, ids=[m[0] for m in TORCH_MODELS])
def test_a_pytorch_model_exported_by_torch_gives_torchs_outputs(tmp_path, name, build, shape,
                                                               opset):
    torch.manual_seed(0)
    tm = build()
    if name == "cnn":  # running statistics away from 0 and 1
        tm.train()
        for _ in range(3):
            tm(torch.randn(8, *shape[1:]) * 2 + 1)
    _torch_export(tm, _x(*shape), tmp_path / "t.onnx", opset_version=opset)
    model = cr.onnx.load_model(tmp_path / "t.onnx")
    x = _x(shape[0] + 3, *shape[1:], seed=1)  # another batch size
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    (got,) = run_cr(model, cr.from_numpy(x))
    np.testing.assert_allclose(got, want, **TOL)


def test_a_loaded_pytorch_model_can_be_fine_tuned_with_torchs_gradients(tmp_path):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    _torch_export(tm, _x(2, 4), tmp_path / "t.onnx", do_constant_folding=False)
    model = cr.onnx.load_model(tmp_path / "t.onnx")
    assert sorted(model.state_dict()) == sorted(tm.state_dict())  # torch's parameter names
    x, y = _x(6, 4, seed=2), np.array([0, 2, 1, 1, 0, 2])
    tm.train()
    loss_t = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
    loss_t.backward()
    model.train()
    loss = F.cross_entropy(model(cr.from_numpy(x)), cr.from_numpy(y))
    loss.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-6)
    params = dict(model.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), **TOL)


@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
def test_a_chainrule_model_exported_and_loaded_back_gives_its_own_outputs(tmp_path, build):
    cr.manual_seed(0)
    model = build()
    cr.onnx.export(model, (cr.from_numpy(_x(2, 1, 28, 28)),), str(tmp_path / "m.onnx"),
                   dynamic_axes=dynamic(["input", "output"]))
    loaded = cr.onnx.load_model(str(tmp_path / "m.onnx"))
    assert loaded.state_dict().keys() == model.state_dict().keys()
    x = cr.from_numpy(_x(5, 1, 28, 28, seed=3))
    np.testing.assert_allclose(run_cr(loaded, x)[0], run_cr(model, x)[0], rtol=1e-6, atol=1e-6)


def test_a_loaded_chainrule_model_fine_tunes_as_the_original_does(tmp_path):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 4 * 4, 4), nn.GELU(),
                          nn.LayerNorm(4), nn.Linear(4, 3))
    model.eval()
    cr.onnx.export(model, (cr.from_numpy(_x(2, 1, 8, 8)),), str(tmp_path / "m.onnx"))
    loaded = cr.onnx.load_model(tmp_path / "m.onnx")
    assert {n for n, _ in loaded.named_buffers()} == {"1.running_mean", "1.running_var"}
    x, y = cr.from_numpy(_x(2, 1, 8, 8, seed=4)), cr.tensor([0, 2])
    losses = []
    for m in (model, loaded):  # both in eval mode: batch norm uses the running statistics
        opt = cr.optim.SGD(m.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
        losses.append(loss.item())
        if m is model:
            grads = {n: p.grad.numpy() for n, p in m.named_parameters()}
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for n, p in loaded.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[n], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dict(loaded.named_parameters())["5.weight"].detach().numpy(),
                               model[5].weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_an_unknown_operator_is_named(tmp_path):
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("Relu", ["x"], ["r"]), h.make_node("DFT", ["r"], ["y"]),
         h.make_node("Hardmax", ["y"], ["z"])], "g",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [h.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)])
    path = tmp_path / "u.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 20)]), str(path))
    with pytest.raises(cr.onnx.UnsupportedOperatorError,
                       match=r"u\.onnx: chainrule cannot run the ONNX operators DFT, Hardmax"):
        cr.onnx.load_model(path)


def test_a_file_that_is_not_onnx_is_named(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x00\xffnot a model")
    with pytest.raises(ValueError, match=r"bad\.onnx: not an ONNX model"):
        cr.onnx.load_model(path)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        cr.onnx.load_model(tmp_path / "missing.onnx")


ROWS = [(r[0], r[1], r[2]) for r in test_layers.LAYERS + test_layers_more.LAYERS]
F64 = dict(rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name,build,specs", ROWS, ids=[r[0] for r in ROWS])
def test_every_layer_table_row_round_trips_with_its_gradients(name, build, specs):
    """Exported, then loaded back: the same outputs, and the same gradients for the inputs and
    for every parameter (each named as in the original). In float64, to 1e-7: ONNX keeps float
    attributes (a slope, an eps) in float32."""
    cr.manual_seed(0)
    model = build(CR).double()
    arrays = make_arrays(specs, 0, np.float64)
    loaded = cr.onnx.load_model(cr.onnx.export(model, tuple(cr_inputs(specs, arrays)), None))
    model.eval(), loaded.eval()
    g = None
    for m in (model, loaded):
        xs = cr_inputs(specs, arrays)
        y = m(*xs)
        if g is None:
            g = cr.from_numpy(np.random.default_rng(1).standard_normal(y.shape))
            want_y, want_x = y.detach().numpy(), None
        (y * g).sum().backward()
        grads = [x.grad.numpy() for x in xs if x.grad is not None]
        params = {n: p.grad.numpy() for n, p in m.named_parameters()}
        if m is model:
            want_x, want_p = grads, params
    np.testing.assert_allclose(y.detach().numpy(), want_y, **F64)
    assert len(grads) == len(want_x)
    for a, b in zip(grads, want_x):
        np.testing.assert_allclose(a, b, **F64)
    assert params.keys() == want_p.keys()
    for n in params:
        np.testing.assert_allclose(params[n], want_p[n], **F64, err_msg=n)


def test_a_model_from_torchs_dynamo_exporter_loads(tmp_path):
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 8),
        torch.nn.GELU(), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tm, (torch.randn(2, 1, 8, 8),), str(tmp_path / "d.onnx"), dynamo=True,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    model = cr.onnx.load_model(tmp_path / "d.onnx")
    x = _x(5, 1, 8, 8, seed=6)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_cr(model, cr.from_numpy(x))[0], want, **TOL)


# -- attention from torch.onnx.export (review R1) ------------------------------------------------

class _TorchSelfAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("build", [
    _TorchSelfAttention,
    lambda: torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, batch_first=True), 2, enable_nested_tensor=False),
], ids=["multihead_attention", "transformer_encoder"])
def test_torchs_exported_attention_loads_and_gives_torchs_outputs(tmp_path, build):
    torch.manual_seed(0)
    model = build()
    path = tmp_path / "attention.onnx"
    _torch_export(model, _x(2, 5, 16), path)  # torch computes head sizes with Mod
    assert "Mod" in {n.op_type for n in onnx.load(str(path)).graph.node}
    loaded = cr.onnx.load_model(str(path))
    x = _x(3, 5, 16, seed=1)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_cr(loaded, cr.from_numpy(x))[0], want, **TOL)


def test_mod_follows_onnxs_sign_rules():
    from chainrule.onnx._import_ops import IMPL

    a, b = np.array([-7.0, 7.0, -7.0, 5.5]), np.array([3.0, -3.0, -3.0, 2.0])
    want_mod, want_fmod = np.mod(a, b), np.fmod(a, b)  # sign of b; sign of a
    for fmod, want in ((0, want_mod), (1, want_fmod)):
        np.testing.assert_array_equal(IMPL["Mod"]([a, b], {"fmod": fmod}), want)
        got = IMPL["Mod"]([cr.tensor(a), b], {"fmod": fmod})
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    np.testing.assert_array_equal(IMPL["Mod"]([np.array([16]), np.array([4])], {}), [0])


def test_isnan_marks_the_nans():
    from chainrule.onnx._import_ops import IMPL

    x = np.array([1.0, np.nan, -np.inf, np.nan])
    np.testing.assert_array_equal(IMPL["IsNaN"]([cr.tensor(x)], {}).numpy(), np.isnan(x))
    np.testing.assert_array_equal(IMPL["IsNaN"]([x], {}), [False, True, False, True])
