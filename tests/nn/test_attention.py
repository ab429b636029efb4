"""Attention against PyTorch's: ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention`` and
the Transformer layers (encoder and decoder layers, their stacks, ``nn.Transformer``).

Each module gets PyTorch's weights by name (its ``state_dict``); then the outputs, the attention
weights, the gradients of every input and every parameter must agree, in float64 (1e-10) and
float32 (1e-5), for masks of each kind, in training and eval mode, with and without a gradient
(PyTorch's fused eval paths must give the same numbers). Then second derivatives
(gradgradcheck), dropout's masks, and the errors."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = [  # both libraries' warnings about mixed mask types, and PyTorch's nested tensors
    pytest.mark.filterwarnings("ignore:Support for mismatched"),
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
]

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
DTYPES = [np.float64, np.float32]
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def close(got, want, dtype, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, PyTorch {want.shape}"
    assert (np.isnan(got) == np.isnan(want)).all(), f"{what}: NaN in other places than PyTorch's"
    tol = TOL[np.dtype(dtype).type]
    scale = max(1.0, float(np.nanmax(np.abs(want)))) if want.size and not np.isnan(want).all() \
        else 1.0
    np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                               err_msg=what)


def masks(kw, lib):
    """Arrays among the keyword arguments as tensors of ``lib``."""
    return {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


def load(tmod, cmod):
    cmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})


def parity(tmod, cmod, arrays, kwargs, dtype, train=True, grad=True, self_attention=False,
           seed=0):
    """Call both modules on the same inputs (one tensor three times with ``self_attention``):
    equal outputs (and attention weights); with ``grad``, for random output gradients, equal
    gradients of every input and every parameter."""
    tmod.train(train)
    cmod.train(train)
    xs = [cr.tensor(a, requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    cargs, targs = (xs * 3, ts * 3) if self_attention else (xs, ts)
    if grad:
        y, yt = cmod(*cargs, **masks(kwargs, cr)), tmod(*targs, **masks(kwargs, torch))
    else:
        with cr.no_grad():
            y = cmod(*cargs, **masks(kwargs, cr))
        with torch.no_grad():
            yt = tmod(*targs, **masks(kwargs, torch))
    outs = y if isinstance(y, tuple) else (y,)
    touts = yt if isinstance(yt, tuple) else (yt,)
    assert len(outs) == len(touts)
    rng = np.random.default_rng(seed + 1)
    loss = losst = 0
    for i, (o, t) in enumerate(zip(outs, touts)):
        if t is None:
            assert o is None, f"output {i}: PyTorch returns None"
            continue
        assert o.dtype == np.dtype(dtype)
        close(np.asarray(o), t.detach().numpy(), dtype, f"output {i}")
        g = rng.standard_normal(tuple(t.shape)).astype(dtype)
        if grad:  # NaN weights (rows masked everywhere) get no output gradient
            g[np.isnan(t.detach().numpy())] = 0
            loss = loss + (o.nan_to_num() * cr.tensor(g)).sum()
            losst = losst + (t.nan_to_num() * torch.tensor(g)).sum()
    if not grad:
        return outs
    loss.backward()
    losst.backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        close(np.asarray(x.grad), t.grad.numpy(), dtype, f"gradient of input {i}")
    params = dict(cmod.named_parameters())
    tparams = dict(tmod.named_parameters())
    assert list(params) == list(tparams)
    for name, p in tparams.items():
        close(np.asarray(params[name].grad), p.grad.numpy(), dtype, f"gradient of {name}")
    return outs


# -- scaled_dot_product_attention --------------------------------------------------------------

def bool_mask(rng, shape, empty_row=False):
    m = rng.random(shape) < 0.7
    m[..., 0] = True  # every query sees a key ...
    if empty_row:
        m[..., 1, :] = False  # ... but one, which sees none: its output is 0
    return m


# (name, query, key, value shapes, mask maker (rng, dtype) -> array or None, keyword arguments)
SDPA_CASES = [
    ("plain", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), None, {}),
    ("unbatched", (4, 8), (6, 8), (6, 3), None, {}),
    ("broadcast_batch", (2, 3, 4, 8), (1, 3, 5, 8), (2, 1, 5, 8), None, {}),
    ("scale", (2, 4, 5), (2, 3, 5), (2, 3, 5), None, dict(scale=0.37)),
    ("causal", (2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4), None, dict(is_causal=True)),
    ("causal_rect", (2, 3, 4), (2, 6, 4), (2, 6, 3), None, dict(is_causal=True)),
    ("bool_mask", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6),
     lambda r, d: bool_mask(r, (4, 5)), {}),
    ("bool_mask_batched", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6),
     lambda r, d: bool_mask(r, (2, 1, 4, 5)), {}),
    ("bool_mask_empty_row", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6),
     lambda r, d: bool_mask(r, (3, 4, 5), empty_row=True), {}),
    ("float_mask", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6),
     lambda r, d: r.standard_normal((3, 4, 5)).astype(d), {}),
    ("float_mask_inf", (2, 4, 8), (2, 5, 8), (2, 5, 6),
     lambda r, d: np.where(bool_mask(r, (4, 5)), 0.5, -np.inf).astype(d), {}),
    ("gqa", (2, 4, 3, 8), (2, 2, 5, 8), (2, 1, 5, 6), None, dict(enable_gqa=True)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name,qs,ks,vs,make_mask,kw", SDPA_CASES, ids=[c[0] for c in SDPA_CASES])
def test_sdpa_matches_torch(name, qs, ks, vs, make_mask, kw, dtype):
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs)]
    mask = make_mask(rng, dtype) if make_mask else None
    float_mask = mask is not None and mask.dtype != np.bool_
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    m = mt = None
    if mask is not None:
        m = cr.tensor(mask, requires_grad=float_mask)
        mt = torch.tensor(mask, requires_grad=float_mask)
    y = F.scaled_dot_product_attention(*xs, attn_mask=m, **kw)
    yt = TF.scaled_dot_product_attention(*ts, attn_mask=mt, **kw)
    close(np.asarray(y), yt.detach().numpy(), dtype, "output")
    g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    y.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        close(np.asarray(x.grad), t.grad.numpy(), dtype, f"gradient of {'qkv'[i]}")
    if float_mask:
        close(np.asarray(m.grad), mt.grad.numpy(), dtype, "gradient of the float mask")


def test_sdpa_row_masked_everywhere_gives_zeros():
    rng = np.random.default_rng(0)
    q, k, v = (cr.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3))
    mask = np.ones((3, 3), bool)
    mask[1] = False
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(mask))
    assert np.all(np.asarray(y)[1] == 0) and np.all(np.isfinite(np.asarray(y)))
    y.sum().backward()
    assert np.all(np.asarray(q.grad)[1] == 0) and np.all(np.isfinite(np.asarray(k.grad)))
    # the other rows: plain attention over their keys
    s = np.asarray(q) @ np.asarray(k).T / 2.0
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(y)[[0, 2]], (p @ np.asarray(v))[[0, 2]], rtol=1e-12)


def test_sdpa_matches_the_formula_by_hand():
    q = cr.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=cr.float64)
    k = cr.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=cr.float64)
    v = cr.tensor([[1.0, 10.0], [3.0, 20.0]], dtype=cr.float64)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # row 0 sees key 0 only; row 1: scores (2, 0)/√2, weights e^√2/(e^√2 + 1)
    w = math.exp(math.sqrt(2)) / (math.exp(math.sqrt(2)) + 1)
    np.testing.assert_allclose(np.asarray(y), [[1.0, 10.0], [w + (1 - w) * 3,
                                                             w * 10 + (1 - w) * 20]], rtol=1e-15)


def test_sdpa_dropout_masks_and_scales_the_weights():
    """With value = identity the output is the attention weights: each is 0 (with probability
    p) or 1/(1-p) times the weight without dropout; the gradient uses the same mask."""
    rng = np.random.default_rng(0)
    p, L, S = 0.3, 64, 64
    q = cr.tensor(rng.standard_normal((8, L, 4)), requires_grad=True)
    k = cr.tensor(rng.standard_normal((8, S, 4)))
    v = cr.tensor(np.broadcast_to(np.eye(S), (8, S, S)).copy(), requires_grad=True)
    plain = F.scaled_dot_product_attention(q, k, v).data
    cr.manual_seed(5)
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    kept = np.asarray(y) != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 32,768 draws: 5 standard deviations is 0.013
    np.testing.assert_allclose(np.asarray(y)[kept], plain[kept] / (1 - p), rtol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(cr.tensor(g))
    np.testing.assert_allclose(np.asarray(v.grad), np.asarray(y).transpose(0, 2, 1) @ g,
                               rtol=1e-12)
    cr.manual_seed(5)
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(y))  # the seeded generator's mask
    assert np.all(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).data == 0)


def _tiny(shape, seed):
    return cr.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("kind", ["plain", "causal", "bool_mask", "float_mask", "dropout"])
def test_sdpa_gradgradcheck(kind):
    q, k, v = _tiny((2, 3, 2), 0), _tiny((2, 4, 2), 1), _tiny((2, 4, 3), 2)
    inputs = [q, k, v]
    if kind == "float_mask":
        inputs.append(_tiny((3, 4), 3))

    def fn(q, k, v, mask=None):
        kw = {}
        if kind == "causal":
            kw["is_causal"] = True
        elif kind == "bool_mask":
            m = np.ones((3, 4), bool)
            m[0, 1:] = m[2, 0] = False
            kw["attn_mask"] = cr.tensor(m)
        elif kind == "float_mask":
            kw["attn_mask"] = mask
        elif kind == "dropout":
            cr.manual_seed(3)  # the same mask at every call
            kw["dropout_p"] = 0.4
        return F.scaled_dot_product_attention(q, k, v, **kw)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


@pytest.mark.parametrize("kind", ["plain", "causal", "bool_mask_empty_row", "float_mask",
                                  "dropout", "gqa"])
def test_sdpa_composite_agrees_with_fused_backward(kind):
    """create_graph=True differentiates the composite (matmul, safe softmax, dropout, matmul):
    its first derivatives must be the fused backward's, to rounding."""
    rng = np.random.default_rng(1)
    q, k, v = (cr.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((2, 4, 3, 5), (2, 2 if kind == "gqa" else 4, 6, 5), (2, 1, 6, 3)))
    mask = cr.tensor(rng.standard_normal((3, 6)), requires_grad=True)
    kw = {"causal": dict(is_causal=True), "float_mask": dict(attn_mask=mask),
          "bool_mask_empty_row": dict(attn_mask=cr.tensor(bool_mask(rng, (3, 6), True))),
          "dropout": dict(dropout_p=0.3), "gqa": dict(enable_gqa=True)}.get(kind, {})
    inputs = [q, k, v] + ([mask] if kind == "float_mask" else [])
    g = cr.tensor(rng.standard_normal((2, 4, 3, 3)))
    cr.manual_seed(0)
    fused = cr.autograd.grad(F.scaled_dot_product_attention(q, k, v, **kw), inputs, g)
    cr.manual_seed(0)
    recorded = cr.autograd.grad(F.scaled_dot_product_attention(q, k, v, **kw), inputs, g,
                                create_graph=True)
    for a, b in zip(fused, recorded):
        assert b.requires_grad
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-14)


def _node_names(t) -> set:
    names, stack, seen = set(), [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(node.name())
        stack.extend(n for n, _ in node.next_functions)
    return names


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_packed_self_attention_composite_agrees_with_fused_backward(dropout):
    """Self-attention's fused node takes q, k and v as one projected array; its composite
    (create_graph=True) gives the same first derivatives, parameters included."""
    rng = np.random.default_rng(2)
    m = nn.MultiheadAttention(8, 2, dropout=dropout, batch_first=True, dtype=np.float64)
    x = cr.tensor(rng.standard_normal((2, 5, 8)), requires_grad=True)
    kpm = cr.tensor(_kpm_bool(rng, 2, 5))
    inputs = [x] + list(m.parameters())
    grads = []
    for create_graph in (False, True):
        cr.manual_seed(0)
        y = m(x, x, x, key_padding_mask=kpm, need_weights=False)[0]
        assert "PackedSelfAttentionBackward" in _node_names(y)
        grads.append(cr.autograd.grad((y * y).sum(), inputs, create_graph=create_graph))
    for a, b in zip(*grads):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-14)


def test_sdpa_errors_are_pytorchs():
    q = cr.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=cr.ones(3, 3, dtype=cr.bool),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match="attn_mask dtype to be bool or float.*long int"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=cr.ones(3, 3, dtype=cr.int64))
    with pytest.raises(RuntimeError, match="same dtype, but got query.dtype: float key.dtype: "
                                           "double"):
        F.scaled_dot_product_attention(q, q.double(), q.double())
    with pytest.raises(RuntimeError, match="at least 2 dimensional.*query.dim: 1"):
        F.scaled_dot_product_attention(cr.zeros(4), q, q)
    with pytest.raises(RuntimeError, match="do not fit"):
        F.scaled_dot_product_attention(q, cr.zeros(2, 3, 5), q)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(4, 3\) does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=cr.zeros(4, 3))
    with pytest.raises(RuntimeError, match="Number of heads in key and value must divide"):
        F.scaled_dot_product_attention(cr.zeros(1, 3, 2, 4), cr.zeros(1, 2, 2, 4),
                                       cr.zeros(1, 2, 2, 4), enable_gqa=True)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


@pytest.mark.parametrize("query_dtype,mask_dtype", [("float32", "float64"),
                                                    ("float64", "float16"),
                                                    ("float64", "float32")])
def test_sdpa_float_mask_dtypes_follow_torchs_rule(query_dtype, mask_dtype):
    """torch takes a float mask of the query's dtype or of float32 ("float"), and refuses
    another one: a float64 mask for a float32 query raises, a float32 one for float64 runs."""
    rng = np.random.default_rng(0)
    q, m = rng.standard_normal((2, 3, 4)).astype(query_dtype), rng.standard_normal((3, 3))
    m = m.astype(mask_dtype)
    tq = torch.from_numpy(q)

    def theirs():
        return torch.nn.functional.scaled_dot_product_attention(tq, tq, tq,
                                                                attn_mask=torch.from_numpy(m))

    def ours():
        return F.scaled_dot_product_attention(cr.tensor(q), cr.tensor(q), cr.tensor(q),
                                              attn_mask=cr.tensor(m))

    if mask_dtype == "float32":
        want = theirs()
        got = ours()
        assert got.dtype == cr.float64
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
        return
    with pytest.raises(RuntimeError) as error:
        theirs()
    with pytest.raises(RuntimeError) as mine:
        ours()
    assert str(mine.value) == str(error.value)


# -- MultiheadAttention ------------------------------------------------------------------------

def _mha_inputs(rng, L, S, N, E, kdim, vdim, batch_first, unbatched, dtype):
    def shape(n, d):
        return (n, d) if unbatched else ((N, n, d) if batch_first else (n, N, d))
    return [rng.standard_normal(shape(L, E)).astype(dtype),
            rng.standard_normal(shape(S, kdim)).astype(dtype),
            rng.standard_normal(shape(S, vdim)).astype(dtype)]


def _kpm_bool(rng, N, S):
    m = rng.random((N, S)) < 0.3
    m[:, 0] = False
    return m


def _row_masked(L, S):
    m = np.zeros((L, S), bool)
    m[1] = True
    return m


# (name, constructor keywords, forward keywords maker (rng, L, S, N, H, dtype), options)
MHA_CASES = [
    ("seq_first", dict(num_heads=2), None, {}),
    ("batch_first", dict(num_heads=2, batch_first=True), None, {}),
    ("self_attention", dict(num_heads=4, batch_first=True), None, dict(self_attention=True)),
    ("self_attention_seq_first", dict(num_heads=2), None, dict(self_attention=True)),
    ("no_weights", dict(num_heads=2, batch_first=True), lambda *a: dict(need_weights=False), {}),
    ("per_head_weights", dict(num_heads=4),
     lambda *a: dict(average_attn_weights=False), {}),
    ("kdim_vdim", dict(num_heads=2, kdim=6, vdim=3), None, {}),
    ("kdim_vdim_no_weights", dict(num_heads=2, kdim=6, vdim=3, batch_first=True),
     lambda *a: dict(need_weights=False), {}),
    ("no_bias", dict(num_heads=2, bias=False), None, {}),
    ("bias_kv_zero_attn", dict(num_heads=2, add_bias_kv=True, add_zero_attn=True),
     lambda r, L, S, N, H, d: dict(key_padding_mask=_kpm_bool(r, N, S)), {}),
    ("bias_kv_float_mask", dict(num_heads=2, add_bias_kv=True),
     lambda r, L, S, N, H, d: dict(attn_mask=r.standard_normal((L, S)).astype(d),
                                   need_weights=False), {}),
    ("bool_attn_mask_3d", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=r.random((N * H, L, S)) < 0.3), {}),
    ("bool_attn_mask_3d_no_weights", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=r.random((N * H, L, S)) < 0.3,
                                   need_weights=False), {}),
    ("key_padding_mask", dict(num_heads=2, batch_first=True),
     lambda r, L, S, N, H, d: dict(key_padding_mask=_kpm_bool(r, N, S)), {}),
    ("key_padding_mask_no_weights", dict(num_heads=2, batch_first=True),
     lambda r, L, S, N, H, d: dict(key_padding_mask=_kpm_bool(r, N, S), need_weights=False),
     {}),
    ("both_masks_float", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=r.standard_normal((L, S)).astype(d),
                                   key_padding_mask=r.standard_normal((N, S)).astype(d),
                                   need_weights=False), {}),
    ("causal", dict(num_heads=2, batch_first=True),
     lambda r, L, S, N, H, d: dict(attn_mask=np.triu(np.full((L, L), -np.inf, d), 1),
                                   is_causal=True, need_weights=False),
     dict(self_attention=True)),
    ("causal_with_weights", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=np.triu(np.ones((L, L), bool), 1), is_causal=True),
     dict(self_attention=True)),
    # query 1 may attend to no key: NaN weights and output with need_weights (PyTorch writes the
    # softmax out), zeros without (its fused attention)
    ("row_masked_everywhere", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=_row_masked(L, S)), {}),
    ("row_masked_everywhere_no_weights", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=_row_masked(L, S), need_weights=False), {}),
    ("unbatched", dict(num_heads=2),
     lambda r, L, S, N, H, d: dict(attn_mask=r.random((L, S)) < 0.3), dict(unbatched=True)),
    ("unbatched_kpm", dict(num_heads=2, batch_first=True),
     lambda r, L, S, N, H, d: dict(key_padding_mask=_kpm_bool(r, 1, S)[0], need_weights=False),
     dict(unbatched=True)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name,ctor,make_kw,opts", MHA_CASES, ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_matches_torch(name, ctor, make_kw, opts, dtype):
    rng = np.random.default_rng(len(name))
    E = 8
    L, S, N = rng.integers(2, 6), rng.integers(2, 6), rng.integers(1, 4)
    if opts.get("self_attention"):
        S = L
    H = ctor["num_heads"]
    tmod = torch.nn.MultiheadAttention(E, **ctor, dtype=TORCH_DTYPE[dtype])
    cmod = nn.MultiheadAttention(E, **ctor, dtype=dtype)
    assert list(cmod.state_dict()) == list(tmod.state_dict())
    load(tmod, cmod)
    arrays = _mha_inputs(rng, L, S, N, E, ctor.get("kdim", E), ctor.get("vdim", E),
                         ctor.get("batch_first", False), opts.get("unbatched", False), dtype)
    if opts.get("self_attention"):
        arrays = arrays[:1]
    kw = make_kw(rng, L, S, N, H, dtype) if make_kw else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's about mixed mask types
        parity(tmod, cmod, arrays, kw, dtype, self_attention=opts.get("self_attention", False))


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_eval_and_no_grad_match_torch(need_weights):
    """In eval mode without gradients PyTorch takes its fused fast path: the same numbers."""
    rng = np.random.default_rng(0)
    tmod = torch.nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True, dtype=torch.float64)
    cmod = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True, dtype=np.float64)
    load(tmod, cmod)
    x = rng.standard_normal((3, 5, 8))
    kw = dict(key_padding_mask=_kpm_bool(rng, 3, 5), need_weights=need_weights)
    for grad in (True, False):
        parity(tmod, cmod, [x], kw, np.float64, train=False, grad=grad, self_attention=True)


def test_multi_head_attention_forward_functional_matches_torch():
    """F.multi_head_attention_forward with PyTorch's positional arguments (sequence first)."""
    rng = np.random.default_rng(3)
    E, H = 6, 3
    w_in, b_in = rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)
    w_out, b_out = rng.standard_normal((E, E)), rng.standard_normal(E)
    q, k = rng.standard_normal((4, 2, E)), rng.standard_normal((5, 2, E))
    kpm = _kpm_bool(rng, 2, 5)
    outs = []
    for lib, fn in ((cr, F.multi_head_attention_forward), (torch, TF.multi_head_attention_forward)):
        t = [lib.tensor(a) for a in (q, k, w_in, b_in, w_out, b_out)]
        outs.append(fn(t[0], t[1], t[1], E, H, t[2], t[3], None, None, False, 0.0, t[4], t[5],
                       key_padding_mask=lib.tensor(kpm), average_attn_weights=False))
    for a, b, what in zip(outs[0], outs[1], ("output", "weights")):
        close(np.asarray(a), b.numpy(), np.float64, what)
    # static keys and values (N·H, S', E/H) in place of the projected ones, and a zero key
    sk, sv = rng.standard_normal((6, 3, 2)), rng.standard_normal((6, 3, 2))
    outs = []
    for lib, fn in ((cr, F.multi_head_attention_forward), (torch, TF.multi_head_attention_forward)):
        t = [lib.tensor(a) for a in (q, k, w_in, b_in, w_out, b_out, sk, sv)]
        outs.append(fn(t[0], t[1], t[1], E, H, t[2], t[3], None, None, True, 0.0, t[4], t[5],
                       static_k=t[6], static_v=t[7]))
    for a, b, what in zip(outs[0], outs[1], ("output", "weights")):
        close(np.asarray(a), b.numpy(), np.float64, what + " with static_k and static_v")


def test_multihead_attention_dropout_in_training_only():
    rng = np.random.default_rng(0)
    mod = nn.MultiheadAttention(8, 2, dropout=0.5, dtype=np.float64)
    x = cr.tensor(rng.standard_normal((6, 2, 8)))
    mod.eval()
    ref, w = mod(x, x, x)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1, rtol=1e-12)  # rows of softmax weights
    np.testing.assert_array_equal(np.asarray(mod(x, x, x)[0]), np.asarray(ref))
    mod.train()
    _, w = mod(x, x, x, average_attn_weights=False)
    zeros = (np.asarray(w) == 0).mean()
    assert 0.35 < zeros < 0.65  # 288 weights, about half dropped
    assert np.isclose(np.asarray(w).sum(-1).mean(), 1, atol=0.2)  # scaled by 1/(1-p)


def test_multihead_attention_init_and_names():
    cr.manual_seed(0)
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                     "out_proj.bias"]
    bound = math.sqrt(6 / (16 + 48))  # xavier_uniform_ of (3E, E)
    w = np.asarray(m.in_proj_weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(np.asarray(m.in_proj_bias) == 0) and np.all(np.asarray(m.out_proj.bias) == 0)
    m2 = nn.MultiheadAttention(16, 4, kdim=5, vdim=7, bias=False)
    assert [n for n, _ in m2.named_parameters()] == ["q_proj_weight", "k_proj_weight",
                                                     "v_proj_weight", "out_proj.weight"]
    assert m2.k_proj_weight.shape == (16, 5) and m2.v_proj_weight.shape == (16, 7)
    assert m2.in_proj_weight is None and m2.in_proj_bias is None


def test_multihead_attention_gradgradcheck():
    m = nn.MultiheadAttention(4, 2, dtype=np.float64)
    x, mem = _tiny((3, 2, 4), 0), _tiny((2, 2, 4), 1)
    kpm = cr.tensor(np.array([[False, True], [False, False]]))

    def fn(x, mem, w):
        return m(x, mem, mem, key_padding_mask=kpm, need_weights=False)[0] * w

    w = _tiny((4,), 2)
    assert gradgradcheck(fn, [x, mem, w])
    assert gradgradcheck(lambda x: m(x, x, x)[1], [x])  # the weights too


def test_multihead_attention_errors_are_pytorchs():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    x = cr.zeros(4, 2, 8)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is torch.Size\(\[4, "
                                           r"3\]\), but should be \(4, 4\)"):
        m(x, x, x, attn_mask=cr.zeros(4, 3))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=cr.zeros(4, 4, dtype=cr.int64))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        m(x, cr.zeros(4, 8), x)
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 6"):
        m(cr.zeros(4, 2, 6), x, x)


# -- Transformer layers ------------------------------------------------------------------------

def _layer_kw(dtype, **kw):
    base = dict(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0)
    base.update(kw)
    return base, dict(base, dtype=TORCH_DTYPE[dtype]), dict(base, dtype=dtype)


def _src(rng, N, S, E, batch_first, dtype):
    return rng.standard_normal((N, S, E) if batch_first else (S, N, E)).astype(dtype)


def _padding(N, S):
    """Left-aligned padding (what PyTorch's nested-tensor path needs): row i keeps S - i."""
    return np.arange(S)[None, :] >= (S - np.arange(N))[:, None]


ENCODER_CASES = [  # (name, layer keywords)
    ("post_norm_relu", dict()),
    ("pre_norm", dict(norm_first=True)),
    ("gelu_batch_first", dict(activation="gelu", batch_first=True)),
    ("callable_activation", dict(activation="tanh_callable", batch_first=True)),
    ("pre_norm_gelu_batch_first", dict(norm_first=True, activation="gelu", batch_first=True)),
    ("no_bias", dict(bias=False, batch_first=True)),
]


def _activation(kw, lib):
    if kw.get("activation") == "tanh_callable":
        return dict(kw, activation=lib.tanh)
    return kw


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("mode", ["train", "eval", "eval_no_grad"])
@pytest.mark.parametrize("name,kw", ENCODER_CASES, ids=[c[0] for c in ENCODER_CASES])
def test_encoder_layer_matches_torch(name, kw, mode, dtype):
    rng = np.random.default_rng(len(name))
    _, tkw, ckw = _layer_kw(dtype, **kw)
    tmod = torch.nn.TransformerEncoderLayer(**_activation(tkw, torch))
    cmod = nn.TransformerEncoderLayer(**_activation(ckw, cr))
    load(tmod, cmod)
    N, S = 3, 5
    x = _src(rng, N, S, 8, kw.get("batch_first", False), dtype)
    kpm = _padding(N, S)
    causal = np.triu(np.full((S, S), -np.inf, dtype), 1)
    for fkw in ({}, dict(src_key_padding_mask=kpm), dict(src_mask=causal, is_causal=True),
                dict(src_mask=rng.random((S, S)) < 0.3, src_key_padding_mask=kpm)):
        parity(tmod, cmod, [x], fkw, dtype, train=mode == "train", grad=mode != "eval_no_grad")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("mode", ["train", "eval", "eval_no_grad"])
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, False), (True, True)])
def test_encoder_matches_torch(batch_first, norm_first, mode, dtype):
    rng = np.random.default_rng(int(batch_first) + 2 * int(norm_first))
    _, tkw, ckw = _layer_kw(dtype, batch_first=batch_first, norm_first=norm_first,
                            activation="gelu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's about enable_nested_tensor
        tmod = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**tkw), 2,
                                           norm=torch.nn.LayerNorm(8, dtype=TORCH_DTYPE[dtype]))
    cmod = nn.TransformerEncoder(nn.TransformerEncoderLayer(**ckw), 2,
                                 norm=nn.LayerNorm(8, dtype=dtype))
    load(tmod, cmod)
    N, S = 3, 6
    x = _src(rng, N, S, 8, batch_first, dtype)
    mask = nn.Transformer.generate_square_subsequent_mask(S, dtype=dtype).numpy()
    for fkw in ({}, dict(src_key_padding_mask=_padding(N, S)), dict(mask=mask),
                dict(mask=mask, is_causal=True)):
        parity(tmod, cmod, [x], fkw, dtype, train=mode == "train", grad=mode != "eval_no_grad")


def test_encoder_nested_tensor_path_zeroes_padded_positions_as_torch():
    """PyTorch's eval path with a padding mask and no gradient packs the sequences into a nested
    tensor and returns 0 at the padded positions; in training they hold computed values."""
    rng = np.random.default_rng(0)
    _, tkw, ckw = _layer_kw(np.float64, batch_first=True)
    tmod = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**tkw), 2)
    cmod = nn.TransformerEncoder(nn.TransformerEncoderLayer(**ckw), 2)
    load(tmod, cmod)
    x, kpm = rng.standard_normal((3, 5, 8)), _padding(3, 5)
    (y,) = parity(tmod, cmod, [x], dict(src_key_padding_mask=kpm), np.float64, train=False,
                  grad=False)
    assert np.all(np.asarray(y)[kpm] == 0) and np.all(np.asarray(y)[~kpm] != 0)
    (y,) = parity(tmod, cmod, [x], dict(src_key_padding_mask=kpm), np.float64, train=True)
    assert np.all(np.asarray(y)[kpm] != 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("batch_first,norm_first,activation",
                         [(False, False, "relu"), (True, True, "gelu"), (True, False, "relu")])
def test_decoder_matches_torch(batch_first, norm_first, activation, dtype):
    rng = np.random.default_rng(int(batch_first) + 2 * int(norm_first))
    _, tkw, ckw = _layer_kw(dtype, batch_first=batch_first, norm_first=norm_first,
                            activation=activation)
    tlayer = torch.nn.TransformerDecoderLayer(**tkw)
    clayer = nn.TransformerDecoderLayer(**ckw)
    load(tlayer, clayer)
    N, T, S = 3, 4, 5
    tgt, mem = _src(rng, N, T, 8, batch_first, dtype), _src(rng, N, S, 8, batch_first, dtype)
    tgt_mask = np.triu(np.full((T, T), -np.inf, dtype), 1)
    fkws = ({}, dict(tgt_mask=tgt_mask, tgt_is_causal=True,
                     memory_key_padding_mask=_padding(N, S)),
            dict(tgt_mask=tgt_mask, memory_mask=rng.standard_normal((T, S)).astype(dtype),
                 tgt_key_padding_mask=_padding(N, T)))
    for fkw in fkws:
        parity(tlayer, clayer, [tgt, mem], fkw, dtype)
    tmod = torch.nn.TransformerDecoder(tlayer, 2, norm=torch.nn.LayerNorm(8, dtype=tkw["dtype"]))
    cmod = nn.TransformerDecoder(clayer, 2, norm=nn.LayerNorm(8, dtype=dtype))
    load(tmod, cmod)
    for fkw in fkws:
        for mode in ("train", "eval"):
            parity(tmod, cmod, [tgt, mem], fkw, dtype, train=mode == "train")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_transformer_matches_torch(dtype):
    rng = np.random.default_rng(0)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=12, dropout=0.0, batch_first=True)
    tmod = torch.nn.Transformer(**kw, dtype=TORCH_DTYPE[dtype])
    cmod = nn.Transformer(**kw, dtype=dtype)
    load(tmod, cmod)
    src, tgt = rng.standard_normal((2, 5, 8)).astype(dtype), \
        rng.standard_normal((2, 4, 8)).astype(dtype)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=dtype).numpy()
    for fkw in ({}, dict(tgt_mask=tgt_mask, src_key_padding_mask=_padding(2, 5),
                         memory_key_padding_mask=_padding(2, 5))):
        parity(tmod, cmod, [src, tgt], fkw, dtype)


def test_transformer_init_and_causal_mask():
    cr.manual_seed(0)
    m = nn.Transformer(16, 2, 1, 1, 32, batch_first=True)
    w = np.asarray(m.encoder.layers[0].linear1.weight)
    bound = math.sqrt(6 / (16 + 32))  # xavier_uniform_ everywhere, not Linear's default
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert isinstance(m.encoder.norm, nn.LayerNorm) and isinstance(m.decoder.norm, nn.LayerNorm)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(mask.numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    assert mask.dtype == np.float32
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(cr.zeros(2, 3, 16), cr.zeros(3, 3, 16))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal"):
        m(cr.zeros(2, 3, 16), cr.zeros(2, 3, 8))


def test_encoder_copies_the_layer():
    layer = nn.TransformerEncoderLayer(8, 2, 12)
    layer(cr.randn(3, 2, 8)).sum().backward()
    enc = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    ws = [m.linear1.weight for m in enc.layers]
    assert len({id(w) for w in ws}) == 3 and all(w is not layer.linear1.weight for w in ws)
    for w in ws:
        np.testing.assert_array_equal(np.asarray(w), np.asarray(layer.linear1.weight))
        assert w.grad is None  # a deep-copied Parameter starts without a gradient (PyTorch's)
    assert copy.deepcopy(layer.linear1.weight).grad is None


def test_activation_choice():
    assert nn.TransformerEncoderLayer(8, 2, activation="gelu").activation is F.gelu
    assert nn.TransformerEncoderLayer(8, 2).activation_relu_or_gelu == 1
    assert nn.TransformerEncoderLayer(8, 2, activation=nn.GELU()).activation_relu_or_gelu == 2
    assert nn.TransformerEncoderLayer(8, 2, activation=cr.tanh).activation_relu_or_gelu == 0
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_encoder_layer_gradgradcheck():
    cr.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu",
                                       dtype=np.float64)
    x = _tiny((3, 2, 4), 0)
    kpm = cr.tensor(np.array([[False, False, True], [False, False, False]]))
    assert gradgradcheck(lambda x: layer(x, src_key_padding_mask=kpm), [x])
    pre = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=True, dtype=np.float64)
    assert gradgradcheck(lambda x: pre(x), [x])
