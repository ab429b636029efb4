"""cr.onnx.export: the CLI's models and every row of the layer table pass onnx's checker and give
chainrule's outputs in onnxruntime (float32, within 1e-5), also at a batch size other than the
traced one; an op or module that cannot be exported names itself and writes nothing."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.training.models import cnn, mlp
from tests.nn import test_layers, test_layers_more
from tests.nn.helpers import CR, In, cr_inputs, make_arrays

from .helpers import dynamic, onnx, run_cr, run_ort, session

TOL = dict(rtol=1e-5, atol=1e-5)


def _x(*shape, seed=0):
    return cr.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
def test_cli_models_match_onnxruntime_at_another_batch_size(build, tmp_path):
    cr.manual_seed(0)
    model = build()
    path = tmp_path / "m.onnx"
    proto = cr.onnx.export(model, (_x(2, 1, 28, 28),), str(path), input_names=["input"],
                           output_names=["logits"], dynamic_axes=dynamic(["input", "logits"]))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # parameters are initializers named by their module path, holding the same numbers
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(inits[name], p.detach().numpy())
    x = _x(7, 1, 28, 28, seed=1)
    (got,) = run_ort(session(path), x)
    (want,) = run_cr(model, x)
    assert got.shape == (7, 10)
    np.testing.assert_allclose(got, want, **TOL)
    ops = [n.op_type for n in proto.graph.node]
    if build is cnn:  # Dropout in eval is the identity: no node
        assert ops == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm",
                       "Relu", "Gemm"]
    else:
        assert ops == ["Reshape", "Gemm", "Relu", "Gemm", "Relu", "Gemm"]


def test_export_leaves_the_model_in_its_mode_and_its_weights_untouched():
    model = cnn()
    model.train()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    cr.onnx.export(model, (_x(1, 1, 28, 28),), io.BytesIO())
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


# -- every row of the layer table ----------------------------------------------------------------

ROWS = [(r[0], r[1], r[2]) for r in test_layers.LAYERS + test_layers_more.LAYERS]


@pytest.mark.parametrize("opset", [13, 20])
@pytest.mark.parametrize("name,build,specs", ROWS, ids=[r[0] for r in ROWS])
def test_layer_table_row_matches_onnxruntime(name, build, specs, opset):
    cr.manual_seed(0)
    model = build(CR).float()
    xs = [x.detach() for x in cr_inputs(specs, make_arrays(specs, 0, np.float32))]
    names = [f"input_{i}" if len(xs) > 1 else "input" for i in range(len(xs))]
    unbatched = "unbatched" in name  # no batch axis to leave open
    proto = cr.onnx.export(model, tuple(xs), None, opset_version=opset,
                           dynamic_axes=None if unbatched else dynamic(names + ["output"]))
    onnx.checker.check_model(proto, full_check=True)
    sess = session(proto)
    np.testing.assert_allclose(run_ort(sess, *xs)[0], run_cr(model, *xs)[0], **TOL)
    if not unbatched:  # three more samples than traced
        more = [In(**{**s.__dict__, "shape": (s.shape[0] + 3,) + tuple(s.shape[1:])})
                for s in specs]
        xs = [x.detach() for x in cr_inputs(more, make_arrays(more, 1, np.float32))]
        np.testing.assert_allclose(run_ort(sess, *xs)[0], run_cr(model, *xs)[0], **TOL)


# -- the ops the issue names, one by one ---------------------------------------------------------

class Ops(nn.Module):
    """Elementwise arithmetic, reductions, shapes and concatenation, with a python number and a
    constant made in forward."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(cr.tensor([0.5, -1.0, 2.0, 1.5]))

    def forward(self, x):
        a = (x + self.w) * 2.0 - x / (self.w.abs() + 1.0)
        b = (x.abs() + 0.5) ** 1.5 + x.pow(2)
        s = a.sum(dim=1, keepdim=True) + b.mean(dim=-1, keepdim=True) + a.amax(dim=1,
                                                                                 keepdim=True)
        t = cr.cat([a, b, s], dim=1).transpose(0, 1).transpose(0, 1)  # (N, 9)
        u = t.unsqueeze(1).expand(-1, 3, -1)[:, 1:, ::2] + t.reshape(-1, 3, 3)[:, :2, 1:2]
        return u.flatten(1) * cr.tensor(3.0) + x.sum(dim=(0, 1)) - x.max(dim=1).values[:, None]


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_elementwise_reduce_and_shape_ops_match(opset):
    model = Ops()
    proto = cr.onnx.export(model, (_x(3, 4),), None, opset_version=opset,
                           dynamic_axes=dynamic(["input", "output"]))
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Add", "Sub", "Mul", "Div", "Pow", "ReduceSum", "ReduceMean", "ReduceMax", "Concat",
            "Transpose", "Reshape", "Expand", "Slice", "Abs"} <= ops
    for n in (3, 6):
        x = _x(n, 4, seed=n)
        np.testing.assert_allclose(run_ort(session(proto), x)[0], run_cr(model, x)[0], **TOL)


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_gelu_layernorm_and_embedding_at_every_opset(opset):
    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 6)
            self.norm = nn.LayerNorm(6)
            self.act = nn.GELU()
            self.tanh = nn.GELU("tanh")
            self.out = nn.Linear(6, 3)

        def forward(self, idx):
            h = self.norm(self.emb(idx))
            return self.out(self.act(h) + self.tanh(h)).log_softmax(-1)

    cr.manual_seed(0)
    model = Text()
    idx = cr.tensor([[1, 4, 7], [0, 10, 3]])
    proto = cr.onnx.export(model, (idx,), None, opset_version=opset,
                           dynamic_axes=dynamic(["input", "output"]))
    ops = [n.op_type for n in proto.graph.node]
    assert ops[0] == "Gather" and ("Gelu" in ops) == (opset >= 20)
    assert ("LayerNormalization" in ops) == (opset >= 17)
    assert "emb.weight" in {t.name for t in proto.graph.initializer}
    more = cr.tensor([[2, 2, 9], [5, 6, 8], [10, 0, 1], [3, 3, 3]])
    np.testing.assert_allclose(run_ort(session(proto), more)[0], run_cr(model, more)[0], **TOL)


def test_batchnorm_in_eval_uses_the_running_statistics():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=1, groups=1),
                          nn.BatchNorm2d(3), nn.Conv2d(3, 6, 3, padding=2, dilation=2, groups=3),
                          nn.AvgPool2d(2), nn.Sigmoid(), nn.Flatten(), nn.Dropout(0.5),
                          nn.Linear(6 * 2 * 2, 5), nn.Tanh(), nn.LeakyReLU(0.1), nn.Softmax(1))
    model.train()
    for seed in range(3):  # running statistics away from 0 and 1
        model(_x(8, 2, 9, 9, seed=seed) * 3 + 1)
    proto = cr.onnx.export(model, (_x(2, 2, 9, 9),), None,
                           dynamic_axes=dynamic(["input", "output"]))
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" in ops and "Dropout" not in ops
    names = {t.name for t in proto.graph.initializer}
    assert {"1.running_mean", "1.running_var", "1.weight", "1.bias"} <= names
    x = _x(5, 2, 9, 9, seed=9) * 3 + 1
    np.testing.assert_allclose(run_ort(session(proto), x)[0], run_cr(model, x)[0], **TOL)


def test_several_inputs_and_outputs_keep_their_names_and_order():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x, z):
            h = self.a(x) + self.b(z)
            return h.relu(), h.sigmoid()

    model = Two()
    x, z = _x(2, 3), _x(2, 4, seed=1)
    proto = cr.onnx.export(model, (x, z), None, input_names=["x", "z"],
                           output_names=["r", "s"], dynamic_axes=dynamic(["x", "z", "r", "s"]))
    assert [i.name for i in proto.graph.input] == ["x", "z"]
    assert [o.name for o in proto.graph.output] == ["r", "s"]
    x, z = _x(5, 3, seed=2), _x(5, 4, seed=3)
    for got, want in zip(run_ort(session(proto), x, z), run_cr(model, x, z)):
        np.testing.assert_allclose(got, want, **TOL)


# -- what cannot be exported: named, and nothing written ------------------------------------------

class Cube(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 3 * x * x * grad_output


class Inner(nn.Module):
    def forward(self, x):
        return Cube.apply(x)


class Leaves(nn.Module):
    def forward(self, x):
        return cr.from_numpy(np.tanh(x.detach().numpy()))


@pytest.mark.parametrize("bad,message", [
    (Inner(), r"the op Cube .* in module 'block\.1' \(Inner\)"),
    (Leaves(), r"module 'block\.1' \(Leaves\) returned a tensor made outside the recorded "
               r"graph"),
])
def test_an_op_or_module_that_cannot_be_exported_is_named_and_nothing_is_written(
        tmp_path, bad, message):
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), bad), nn.Linear(3, 1))
    model.add_module("block", model._modules.pop("1"))
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the previous file")
    with pytest.raises(cr.onnx.UnsupportedOperatorError if isinstance(bad, Inner)
                       else cr.onnx.OnnxExporterError, match=message):
        cr.onnx.export(model, (_x(2, 3),), str(path))
    assert path.read_bytes() == b"the previous file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left


class Mask(nn.Module):
    def forward(self, x):
        return x * (x > 0)  # the comparison is not recorded: its mask would be baked in


class Branch(nn.Module):
    def forward(self, x):
        return x.relu() if x.sum() > 0 else x.tanh()


@pytest.mark.parametrize("bad,message", [
    (Mask(), r"the op Mul in module 'block' \(Mask\) reads a value computed from the input "
             r"outside the recorded graph"),
    (Branch(), r"the model's graph depends on the values of its input .* in module 'block' "
               r"\(Branch\)"),
])
def test_what_depends_on_input_values_outside_the_graph_is_refused(bad, message):
    model = nn.Sequential()
    model.add_module("lin", nn.Linear(3, 3))
    model.add_module("block", bad)
    x = cr.tensor([[1.0, 2.0, 3.0]] * 4)
    model.lin.weight.data.copy_(cr.eye(3))
    model.lin.bias.data.zero_()
    with pytest.raises(cr.onnx.OnnxExporterError, match=message):
        cr.onnx.export(model, (x,), None)


def test_the_file_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    import chainrule.onnx._export as E

    def fail(tmp, data):  # the disk fills up half-way
        with open(tmp, "wb") as f:
            f.write(data[:10])
        raise OSError(28, "No space left on device", str(tmp))
    monkeypatch.setattr(E, "_write", fail)
    with pytest.raises(OSError, match="No space left"):
        cr.onnx.export(mlp(), (_x(1, 784),), str(path))
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="opset_version 9 is not supported"):
        cr.onnx.export(mlp(), (_x(1, 784),), None, opset_version=9)
    with pytest.raises(ValueError, match=r"dynamic_axes names \['inptu'\]"):
        cr.onnx.export(mlp(), (_x(1, 784),), None, dynamic_axes={"inptu": {0: "batch"}})
    with pytest.raises(cr.onnx.OnnxExporterError, match=r"args\[0\] is a list"):
        cr.onnx.export(mlp(), ([1.0],), None)


def test_import_chainrule_does_not_import_onnx():
    code = ("import sys, chainrule as cr; assert 'onnx' not in sys.modules; "
            "m = cr.onnx; assert 'onnx' not in sys.modules; print(m.export.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "export"


def test_a_missing_onnx_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[onnx\]'"):
        cr.onnx.export(mlp(), (_x(1, 784),), None)


class More(nn.Module):
    """Logs, rounding, variance, cumulative sums, triangles, rolls, norms, einsum, gathers."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(cr.from_numpy(np.arange(16.0, dtype=np.float32).reshape(4, 4)
                                            / 10))

    def forward(self, x):
        a = cr.log2(x.abs() + 1) + cr.log10(x.abs() + 2) + cr.exp2(x * 0.1) + cr.trunc(x * 3)
        b = (cr.logaddexp(x, x * 0.5) + x.var(dim=1, keepdim=True)
             + x.std(dim=1, keepdim=True, correction=0))
        c = (cr.cumsum(x, dim=1) + cr.tril(self.w)[:1] + cr.triu(self.w, 1)[1:2]
             + cr.roll(x, 1, 1))
        norm = cr.linalg.vector_norm
        d = (cr.einsum("ij,jk->ik", x, self.w) + norm(x, 2, dim=1, keepdim=True)
             + norm(x, 1, dim=1, keepdim=True) + norm(x, 3, dim=1, keepdim=True)
             + norm(x, float("inf"), dim=1, keepdim=True))
        e = cr.take_along_dim(x, cr.tensor([[3, 0, 1, 1]] * 3), dim=1)  # traced at batch 3
        return a + b + c + d + e


@pytest.mark.parametrize("opset", [14, 20])
def test_more_math_matches_onnxruntime_and_loads_back(opset):
    model = More()
    proto = cr.onnx.export(model, (_x(3, 4),), None, opset_version=opset)
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"CumSum", "Einsum", "GatherElements", "Trilu", "ReduceL1", "ReduceL2"} <= ops
    x = _x(3, 4, seed=5) * 2
    np.testing.assert_allclose(run_ort(session(proto), x)[0], run_cr(model, x)[0], **TOL)
    np.testing.assert_allclose(run_cr(cr.onnx.load_model(proto), x)[0], run_cr(model, x)[0],
                               **TOL)


def test_tril_before_opset_14_is_refused_by_name():
    with pytest.raises(cr.onnx.UnsupportedOperatorError,
                       match=r"the op Tril in the forward of the model itself \(More\): tril/triu "
                             r"need opset_version 14"):
        cr.onnx.export(More(), (_x(3, 4),), None, opset_version=13)


def test_frozen_parameters_and_integer_inputs_are_still_traced():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Embedding(7, 3), nn.Flatten(), nn.Linear(6, 2))
    for p in model.parameters():
        p.requires_grad_(False)
    idx = cr.tensor([[1, 2], [3, 6]])
    proto = cr.onnx.export(model, (idx,), None, dynamic_axes=dynamic(["input", "output"]))
    assert not any(p.requires_grad for p in model.parameters())
    more = cr.tensor([[0, 5], [6, 6], [2, 4]])
    np.testing.assert_allclose(run_ort(session(proto), more)[0], run_cr(model, more)[0], **TOL)


def test_an_output_made_outside_the_graph_is_refused():
    class Argmax(nn.Module):
        def forward(self, x):
            return x.argmax(dim=1).float()

    with pytest.raises(cr.onnx.OnnxExporterError, match="output 0 of the model .* was made "
                                                         "outside the recorded graph"):
        cr.onnx.export(Argmax(), (_x(2, 3),), None)


def test_a_file_object_and_initializers_as_inputs():
    model = mlp()
    buffer = io.BytesIO()
    cr.onnx.export(model, (_x(1, 784),), buffer, keep_initializers_as_inputs=True)
    proto = onnx.load_from_string(buffer.getvalue())
    names = [i.name for i in proto.graph.input]
    assert names[0] == "input" and {"1.weight", "5.bias"} <= set(names)
    x = _x(1, 784, seed=4)
    np.testing.assert_allclose(run_ort(session(proto), x)[0], run_cr(model, x)[0], **TOL)
    np.testing.assert_allclose(run_cr(cr.onnx.load_model(proto), x)[0], run_cr(model, x)[0],
                               **TOL)


def test_is_in_onnx_export_is_true_only_during_export():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(cr.onnx.is_in_onnx_export())
            return x * 2

    model = Spy()
    model(_x(1, 2))
    cr.onnx.export(model, (_x(1, 2),), None)
    assert seen[0] is False and seen[1] is True and not cr.onnx.is_in_onnx_export()


def test_modules_with_hooks_export_what_they_compute():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[1].register_full_backward_hook(lambda module, gi, go: None)  # identity ops in forward
    model.register_forward_hook(lambda module, args, out: out * 2)     # replaces the output
    proto = cr.onnx.export(model, (_x(2, 3),), None)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Mul"]
    x = _x(2, 3, seed=7)
    np.testing.assert_allclose(run_ort(session(proto), x)[0], run_cr(model, x)[0], **TOL)


def test_a_mask_computed_from_integer_inputs_is_refused():
    class Padded(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 2)

        def forward(self, idx):
            return self.emb(idx) * (idx != 0).float().unsqueeze(-1)  # the padding mask

    with pytest.raises(cr.onnx.OnnxExporterError, match=r"the op Mul in the forward of the "
                                                         r"model itself \(Padded\) reads a value"):
        cr.onnx.export(Padded(), (cr.tensor([[1, 0, 3], [4, 2, 0]]),), None)


# -- attention (review R1) -----------------------------------------------------------------------

class _CausalEncoder(nn.Module):
    """A minGPT-style block stack: causal self-attention through the fused attention op."""

    def __init__(self, norm_first):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=norm_first)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.enc(x, mask=mask, is_causal=True)


class _CrossAttention(nn.Module):
    """Cross-attention with a padding mask and a causal mask (bool) held as constants."""

    def __init__(self, need_weights):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.need_weights = need_weights
        self.register_buffer("kpm", cr.tensor([[False] * 6, [False] * 4 + [True] * 2]))

    def forward(self, x, memory):
        mask = cr.triu(cr.ones(6, 6, dtype=cr.bool), 1)  # True: may not attend
        return self.attn(x, memory, memory, key_padding_mask=self.kpm, attn_mask=mask,
                         need_weights=self.need_weights)[0]


@pytest.mark.parametrize("opset", [13, 20])
@pytest.mark.parametrize("norm_first", [False, True])
def test_a_causal_transformer_encoder_matches_onnxruntime_and_loads_back(opset, norm_first):
    cr.manual_seed(0)
    model = _CausalEncoder(norm_first).eval()
    proto = cr.onnx.export(model, (_x(2, 6, 16),), None, opset_version=opset,
                           dynamic_axes=dynamic(["input", "output"]))
    assert "Softmax" in {n.op_type for n in proto.graph.node}
    x = _x(3, 6, 16, seed=1)  # another batch size than traced
    want = run_cr(model, x)[0]
    np.testing.assert_allclose(run_ort(session(proto), x)[0], want, **TOL)
    back = cr.onnx.load_model(proto)
    np.testing.assert_allclose(run_cr(back, x)[0], want, **TOL)


@pytest.mark.parametrize("need_weights", [False, True])
def test_cross_attention_with_constant_masks_matches_onnxruntime(need_weights):
    cr.manual_seed(0)
    model = _CrossAttention(need_weights).eval()
    x, memory = _x(2, 6, 16), _x(2, 6, 16, seed=1)
    proto = cr.onnx.export(model, (x, memory), None)
    np.testing.assert_allclose(run_ort(session(proto), x, memory)[0],
                               run_cr(model, x, memory)[0], **TOL)


def test_an_attention_row_masked_everywhere_gives_zeros_in_onnxruntime():
    mask = cr.tensor(np.array([[True, True, False], [False, False, False], [True, True, True]]))

    class Masked(nn.Module):
        def forward(self, q):
            return cr.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)

    q = _x(2, 3, 4)
    got = run_ort(session(cr.onnx.export(Masked(), (q,), None)), q)[0]
    want = run_cr(Masked(), q)[0]
    assert np.all(got[:, 1] == 0) and np.all(want[:, 1] == 0)
    np.testing.assert_allclose(got, want, **TOL)


def test_an_attention_mask_computed_from_the_input_is_refused():
    class FromInput(nn.Module):
        def forward(self, q, mask):
            return cr.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)

    mask = cr.tensor(np.random.default_rng(0).random((3, 3)) > 0.5)
    with pytest.raises(cr.onnx.OnnxExporterError, match=r"the op ScaledDotProductAttention in "
                                                         r"the forward of the model itself"):
        cr.onnx.export(FromInput(), (_x(2, 3, 4), mask), None)


def test_a_scalar_output_times_a_constant_stays_a_scalar():
    class Scalar(nn.Module):
        def forward(self, x):
            return (x * x).sum() * 2.0

    x = _x(3)
    proto = cr.onnx.export(Scalar(), (x,), None)
    got = run_ort(session(proto), x)[0]
    assert got.shape == ()
    np.testing.assert_allclose(got, 2 * float((x.numpy() ** 2).sum()), rtol=1e-6)


def test_training_mode_is_torchs_enum():
    import torch

    assert {m.name: int(m) for m in cr.onnx.TrainingMode} == \
        {name: int(m) for name, m in torch.onnx.TrainingMode.__members__.items()}
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)).train()
    x = _x(4, 3)
    proto = cr.onnx.export(model, (x,), None, training=cr.onnx.TrainingMode.EVAL)
    np.testing.assert_allclose(run_ort(session(proto), x)[0], run_cr(model, x)[0], **TOL)
    with pytest.raises(cr.onnx.OnnxExporterError, match="only training=TrainingMode.EVAL"):
        cr.onnx.export(model, (x,), None, training=cr.onnx.TrainingMode.TRAINING)


def test_a_sequence_first_transformer_keeps_its_batch_axis_1_dynamic():
    """nn.Transformer's default layout is (S, N, E): with dynamic_axes on axis 1 the file runs
    at another batch size (its reshapes copy the axes they keep, instead of baking them in)."""
    cr.manual_seed(0)
    model = nn.Transformer(16, 4, 1, 1, 32).eval()
    src, tgt = _x(7, 2, 16), _x(5, 2, 16, seed=1)
    proto = cr.onnx.export(model, (src, tgt), None, input_names=["src", "tgt"],
                           dynamic_axes={"src": {1: "b"}, "tgt": {1: "b"}, "output": {1: "b"}})
    src, tgt = _x(7, 3, 16, seed=2), _x(5, 3, 16, seed=3)
    want = run_cr(model, src, tgt)[0]
    np.testing.assert_allclose(run_ort(session(proto), src, tgt)[0], want, **TOL)
    np.testing.assert_allclose(run_cr(cr.onnx.load_model(proto), src, tgt)[0], want, **TOL)
