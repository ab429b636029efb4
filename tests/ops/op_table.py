"""One table of ops: each row names an op, how to call it (the same lambda runs on chainrule and on
PyTorch, since the APIs match), its NumPy reference, the input shapes and the input domain."""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np

import chainrule as cr
from chainrule.ops import activation as _act
from chainrule.ops import conv as _conv
from chainrule.ops import shape as _shape


@dataclass
class Op:
    name: str
    fn: object                    # fn(L, *tensors) with L = CR or TORCH
    ref: object                   # NumPy reference: ref(*arrays)
    shapes: list                  # one tuple of input shapes per case
    domain: tuple = (-2.0, 2.0)   # values are drawn uniformly from here...
    avoid: tuple = ()             # ...and pushed at least 0.05 away from these kinks
    nondiff: tuple = ()           # indices of inputs that get no gradient
    torch_only: bool = False
    cases: list = field(default_factory=list)


CR = types.SimpleNamespace(lib=cr, F=types.SimpleNamespace(
    pad=_shape.pad, gelu=_act.gelu, leaky_relu=_act.leaky_relu, softmax=_act.softmax,
    log_softmax=_act.log_softmax, unfold=_conv.unfold, fold=_conv.fold))


def _torch_ns():
    import torch
    import torch.nn.functional as F
    return types.SimpleNamespace(lib=torch, F=F)


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_gelu(x):
    from math import erf, sqrt
    return x * 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))


def _np_pad(mode):
    return lambda x: np.pad(x, ((0, 0), (1, 2), (2, 1)), mode=mode)


S2 = [((3, 4),)]
S3 = [((2, 3, 4),)]
BCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 3))]

UNARY = [
    Op("neg", lambda L, x: -x, np.negative, S2 + S3),
    Op("exp", lambda L, x: x.exp(), np.exp, S2),
    Op("log", lambda L, x: x.log(), np.log, S2, domain=(0.1, 3.0)),
    Op("sqrt", lambda L, x: x.sqrt(), np.sqrt, S2, domain=(0.1, 3.0)),
    Op("abs", lambda L, x: x.abs(), np.abs, S2, avoid=(0.0,)),
    Op("sin", lambda L, x: x.sin(), np.sin, S2),
    Op("cos", lambda L, x: x.cos(), np.cos, S2),
    Op("tanh", lambda L, x: x.tanh(), np.tanh, S2 + S3),
    Op("sigmoid", lambda L, x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), S2, domain=(-6, 6)),
    Op("relu", lambda L, x: x.relu(), lambda x: np.maximum(x, 0), S2, avoid=(0.0,)),
    Op("leaky_relu", lambda L, x: L.F.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
       S2, avoid=(0.0,)),
    Op("gelu", lambda L, x: L.F.gelu(x), _np_gelu, S2, domain=(-3, 3)),
    Op("gelu_tanh", lambda L, x: L.F.gelu(x, approximate="tanh"),
       lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), S2),
    Op("clamp", lambda L, x: x.clamp(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), S2,
       avoid=(-0.5, 0.7)),
    Op("clamp_min", lambda L, x: x.clamp(min=0.2), lambda x: np.maximum(x, 0.2), S2, avoid=(0.2,)),
    Op("pow2", lambda L, x: x ** 2, np.square, S2),
    Op("pow3", lambda L, x: x ** 3, lambda x: x ** 3, S2),
    Op("pow_half", lambda L, x: x ** 0.5, np.sqrt, S2, domain=(0.1, 3.0)),
    Op("rpow", lambda L, x: 2.0 ** x, lambda x: 2.0 ** x, S2),
    Op("rsub", lambda L, x: 1.0 - x, lambda x: 1.0 - x, S2),
    Op("rdiv", lambda L, x: 1.0 / x, lambda x: 1.0 / x, S2, domain=(0.2, 3.0)),
    Op("mul_scalar", lambda L, x: x * 3.0 + 1.0, lambda x: x * 3.0 + 1.0, S2),
    Op("softmax", lambda L, x: x.softmax(dim=-1), lambda x: _np_softmax(x, -1), S2 + S3),
    Op("softmax0", lambda L, x: x.softmax(dim=0), lambda x: _np_softmax(x, 0), S2),
    Op("log_softmax", lambda L, x: x.log_softmax(dim=1),
       lambda x: np.log(_np_softmax(x, 1)), S2 + S3),
    # reductions
    Op("sum", lambda L, x: x.sum(), np.sum, S2 + S3),
    Op("sum_dim", lambda L, x: x.sum(dim=1), lambda x: x.sum(axis=1), S2 + S3),
    Op("sum_dims_keep", lambda L, x: x.sum(dim=(0, 2), keepdim=True),
       lambda x: x.sum(axis=(0, 2), keepdims=True), S3),
    Op("mean", lambda L, x: x.mean(), np.mean, S2 + S3),
    Op("mean_dim", lambda L, x: x.mean(dim=-1, keepdim=True), lambda x: x.mean(-1, keepdims=True), S3),
    Op("max", lambda L, x: x.max(), np.max, S2),
    Op("max_dim", lambda L, x: x.max(dim=1)[0], lambda x: x.max(axis=1), S2 + S3),
    Op("max_dim_keep", lambda L, x: x.max(dim=0, keepdim=True).values,
       lambda x: x.max(axis=0, keepdims=True), S2),
    Op("min", lambda L, x: x.min(), np.min, S2),
    Op("min_dim", lambda L, x: x.min(dim=-1)[0], lambda x: x.min(axis=-1), S3),
    Op("amax", lambda L, x: x.amax(dim=(0, 1)), lambda x: x.max(axis=(0, 1)), S3),
    Op("amin", lambda L, x: x.amin(dim=1), lambda x: x.min(axis=1), S2),
    Op("var", lambda L, x: x.var(), lambda x: x.var(ddof=1), S2),
    Op("var_dim", lambda L, x: x.var(dim=1, keepdim=True), lambda x: x.var(axis=1, ddof=1, keepdims=True), S3),
    Op("var_biased", lambda L, x: x.var(dim=0, unbiased=False), lambda x: x.var(axis=0), S2),
    Op("std", lambda L, x: x.std(dim=1), lambda x: x.std(axis=1, ddof=1), S2),
    Op("prod", lambda L, x: x.prod(), np.prod, S2, domain=(0.5, 1.5)),
    Op("prod_dim", lambda L, x: x.prod(dim=1), lambda x: x.prod(axis=1), S3, domain=(-1.5, 1.5)),
    Op("logsumexp", lambda L, x: x.logsumexp(dim=1), lambda x: np.log(np.exp(x).sum(1)), S2 + S3),
    # shape
    Op("reshape", lambda L, x: x.reshape(4, 3) * 1.0, lambda x: x.reshape(4, 3), S2),
    Op("view", lambda L, x: x.view(-1), lambda x: x.reshape(-1), S3),
    Op("flatten", lambda L, x: x.flatten(1), lambda x: x.reshape(2, -1), S3),
    Op("transpose", lambda L, x: x.transpose(0, 2), lambda x: x.transpose(2, 1, 0), S3),
    Op("permute", lambda L, x: x.permute(1, 2, 0), lambda x: x.transpose(1, 2, 0), S3),
    Op("T", lambda L, x: x.T, lambda x: x.T, S2),
    Op("squeeze", lambda L, x: x.squeeze(1), lambda x: x.squeeze(1), [((3, 1, 4),)]),
    Op("unsqueeze", lambda L, x: x.unsqueeze(-1), lambda x: x[..., None], S2),
    Op("expand", lambda L, x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), [((3, 1),)]),
    Op("broadcast_to", lambda L, x: L.lib.broadcast_to(x, (3, 2, 4)),
       lambda x: np.broadcast_to(x, (3, 2, 4)), [((4,),)]),
    Op("getitem_slice", lambda L, x: x[1:, ::2], lambda x: x[1:, ::2], S2),
    Op("getitem_int", lambda L, x: x[1], lambda x: x[1], S3),
    Op("getitem_repeat", lambda L, x: x[L.lib.tensor([0, 2, 0, 0])],
       lambda x: x[np.array([0, 2, 0, 0])], S2),
    Op("getitem_pairs", lambda L, x: x[L.lib.tensor([0, 1, 0]), L.lib.tensor([3, 3, 3])],
       lambda x: x[[0, 1, 0], [3, 3, 3]], S2),
    Op("getitem_mask", lambda L, x: x[x > 0], lambda x: x[x > 0], S2, avoid=(0.0,)),
    Op("split", lambda L, x: x.split(2, dim=1)[1], lambda x: x[:, 2:4], S2),
    Op("chunk", lambda L, x: x.chunk(3, dim=0)[2], lambda x: x[2:3], S2),
    Op("pad_constant", lambda L, x: L.F.pad(x, (2, 1, 1, 2)), _np_pad("constant"), S3),
    Op("pad_reflect", lambda L, x: L.F.pad(x, (2, 1, 1, 2), mode="reflect"), _np_pad("reflect"), S3),
    Op("pad_replicate", lambda L, x: L.F.pad(x, (2, 1, 1, 2), mode="replicate"), _np_pad("edge"), S3),
    Op("pad_circular", lambda L, x: L.F.pad(x, (2, 1, 1, 2), mode="circular"), _np_pad("wrap"), S3),
    Op("unfold", lambda L, x: L.F.unfold(x, 2, padding=1, stride=(1, 2)),
       lambda x: _np_unfold(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), 2, (1, 2)), [((1, 2, 3, 4),)]),
    Op("fold", lambda L, x: L.F.fold(x, (3, 4), 2), lambda x: _np_fold(x, (3, 4), 2), [((2, 8, 6),)]),
    # in-place ops on a tensor of the graph (x * 1 is a non-leaf)
    Op("relu_", lambda L, x: (x * 1).relu_(), lambda x: np.maximum(x, 0), S2, avoid=(0.0,)),
    Op("sin_then_setitem", lambda L, x: _sin_then_setitem(x), lambda x: _np_sin_then_setitem(x), S2),
    Op("view_mul_", lambda L, x: _view_mul_(x), lambda x: _np_view_mul_(x), S2),
]

def _np_unfold(x, k, stride):
    n, c, h, w = x.shape
    rows = []
    for i in range(k):
        for j in range(k):
            rows.append(x[:, :, i:h - k + 1 + i:stride[0], j:w - k + 1 + j:stride[1]].reshape(n, c, -1))
    return np.stack(rows, axis=2).reshape(n, c * k * k, -1)


def _np_fold(cols, size, k):
    n, ck, length = cols.shape
    c, (h, w) = ck // (k * k), size
    out = np.zeros((n, c, h, w))
    blocks = cols.reshape(n, c, k, k, h - k + 1, w - k + 1)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + h - k + 1, j:j + w - k + 1] += blocks[:, :, i, j]
    return out


def _sin_then_setitem(x):
    y = x.sin()
    y[1:, 0] = x[:2, 1] * 3  # a value that needs a gradient, written into part of y
    return y * x


def _np_sin_then_setitem(x):
    y = np.sin(x)
    y[1:, 0] = x[:2, 1] * 3
    return y * x


def _view_mul_(x):
    y = x * 2
    y[:, 1:3].mul_(x[:, :2])  # in place through a view: changes y too
    y.T[0].add_(1)
    return y * y


def _np_view_mul_(x):
    y = x * 2
    y[:, 1:3] *= x[:, :2]
    y.T[0] += 1
    return y * y


BINARY = [
    Op("add", lambda L, a, b: a + b, np.add, BCAST),
    Op("sub", lambda L, a, b: a - b, np.subtract, BCAST),
    Op("mul", lambda L, a, b: a * b, np.multiply, BCAST),
    Op("div", lambda L, a, b: a / b, np.divide, BCAST, domain=(0.3, 2.0)),
    Op("pow", lambda L, a, b: a ** b, np.power, BCAST, domain=(0.3, 2.0)),
    Op("maximum", lambda L, a, b: L.lib.maximum(a, b), np.maximum, BCAST),
    Op("minimum", lambda L, a, b: L.lib.minimum(a, b), np.minimum, BCAST),
    Op("where", lambda L, a, b: L.lib.where(a > b, a, b * 2), lambda a, b: np.where(a > b, a, b * 2), BCAST),
    Op("matmul", lambda L, a, b: a @ b, np.matmul,
       [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (4, 2)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)), ((5,), (2, 5, 3)), ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,))]),
    Op("cat", lambda L, a, b: L.lib.cat([a, b, a], dim=0), lambda a, b: np.concatenate([a, b, a], 0),
       [((2, 3), (4, 3))]),
    Op("stack", lambda L, a, b: L.lib.stack([a, b], dim=1), lambda a, b: np.stack([a, b], 1),
       [((2, 3), (2, 3))]),
    Op("mul_", lambda L, a, b: (a * 1).mul_(b), np.multiply, [((3, 4), (3, 4)), ((3, 4), (4,))]),
    Op("div_", lambda L, a, b: (a * 1).div_(b), np.divide, [((3, 4), (4,))], domain=(0.3, 2.0)),
    Op("add_alpha", lambda L, a, b: (a * 1).add_(b, alpha=2.5), lambda a, b: a + 2.5 * b,
       [((3, 4), (1, 4))]),
]

ALL = UNARY + BINARY

# the binary ops whose two inputs broadcast against each other (hypothesis draws the shapes)
BROADCASTING = [op for op in BINARY if op.name in ("add", "sub", "mul", "div", "pow", "maximum",
                                                     "minimum", "where")]


def draw(shape, op: Op, rng, dtype=np.float64):
    lo, hi = op.domain
    x = rng.uniform(lo, hi, size=shape)
    for k in op.avoid:
        near = np.abs(x - k) < 0.05
        x = np.where(near, k + np.where(x >= k, 0.05, -0.05) + np.sign(x - k + 1e-12) * 0.05, x)
    return x.astype(dtype)


def draw_inputs(op: Op, shapes, seed, dtype=np.float64):
    """One array of each shape from ``op``'s domain, drawn with a generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    return [draw(s, op, rng, dtype) for s in shapes]


def first_output(y):
    """The output that gradients are checked on: the first of an op that returns a tuple."""
    return y[0] if isinstance(y, tuple) else y
