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

# -- tensor ops: selection and indexing, sorting and cumulative, products --
# Index arrays are constants of the lambdas (L.lib.tensor makes each library's tensor of them);
# random inputs have no ties, so the indices sorting picks agree with PyTorch's.
_GATHER = np.array([[0, 3], [1, 1], [3, 0]])  # along dim 1 of (3, 4), with repeats
_GATHER0 = np.array([[2, 0, 1], [0, 0, 2]])  # along dim 0, smaller than (3, 4) along dim 1
_SCATTER = np.array([[0, 1], [2, 0]])  # no index twice in a row (scatter's winner is unspecified)
_ADD = np.array([[0, 2, 2, 1], [0, 2, 0, 1]])  # along dim 0, repeated (they add up)
_ROW = np.array([True, False, True, True])


def _np_scatter(x, src, idx, dim, add=False):
    out = x.copy()
    index = tuple(idx if d == dim else np.indices(idx.shape)[d] for d in range(idx.ndim))
    if add:
        np.add.at(out, index, src[tuple(slice(0, n) for n in idx.shape)])
    else:
        out[index] = src[tuple(slice(0, n) for n in idx.shape)] if np.ndim(src) else src
    return out


def _np_index_add(x, idx, src, alpha):
    out = x.copy()
    np.add.at(out, idx, alpha * src)
    return out


def _t(L, a):
    return L.lib.tensor(a)


SELECTION = [
    Op("gather", lambda L, x: x.gather(1, _t(L, _GATHER)),
       lambda x: np.take_along_axis(x, _GATHER, 1), S2),
    Op("gather_smaller", lambda L, x: L.lib.gather(x, 0, _t(L, _GATHER0)),
       lambda x: np.take_along_axis(x[:, :3], _GATHER0, 0), S2),
    Op("take_along_dim", lambda L, x: L.lib.take_along_dim(x, _t(L, [[3, 1]]), dim=1),
       lambda x: np.take_along_axis(x, np.array([[3, 1]] * 3), 1), S2),
    Op("take_along_dim_flat", lambda L, x: L.lib.take_along_dim(x, _t(L, [5, 0, 5, 11])),
       lambda x: x.reshape(-1)[[5, 0, 5, 11]], S2),
    Op("scatter", lambda L, a, b: L.lib.scatter(a, 1, _t(L, _SCATTER), b),
       lambda a, b: _np_scatter(a, b, _SCATTER, 1), [((3, 4), (2, 2))]),
    Op("scatter_value", lambda L, x: x.scatter(1, _t(L, _SCATTER), 0.5),
       lambda x: _np_scatter(x, 0.5, _SCATTER, 1), S2),
    Op("scatter_add", lambda L, a, b: L.lib.scatter_add(a, 0, _t(L, _ADD), b),
       lambda a, b: _np_scatter(a, b, _ADD, 0, add=True), [((3, 4), (2, 4))]),
    Op("scatter_", lambda L, a, b: (a * 1).scatter_(1, _t(L, _SCATTER), b),
       lambda a, b: _np_scatter(a, b, _SCATTER, 1), [((3, 4), (2, 2))]),
    Op("index_select", lambda L, x: x.index_select(-1, _t(L, [3, 0, 3])),
       lambda x: x[..., [3, 0, 3]], S2 + S3),
    Op("index_add", lambda L, a, b: a.index_add(0, _t(L, [0, 2, 0]), b, alpha=2.0),
       lambda a, b: _np_index_add(a, [0, 2, 0], b, 2.0), [((3, 4), (3, 4))]),
    Op("index_add_", lambda L, a, b: (a * 1).index_add_(1, _t(L, [1, 1]), b),
       lambda a, b: _np_index_add(a.T, [1, 1], b.T, 1).T, [((3, 4), (3, 2))]),
    Op("masked_fill", lambda L, x: x.masked_fill(x > 0, 0.5), lambda x: np.where(x > 0, 0.5, x),
       S2, avoid=(0.0,)),
    Op("masked_fill_tensor", lambda L, a, b: a.masked_fill(a > 0, b),
       lambda a, b: np.where(a > 0, b, a), [((3, 4), ())], avoid=(0.0,)),
    Op("masked_fill_", lambda L, x: (x * 1).masked_fill_(x > 0, 0.5),
       lambda x: np.where(x > 0, 0.5, x), S2, avoid=(0.0,)),
    Op("masked_select", lambda L, x: x.masked_select(x > 0), lambda x: x[x > 0], S2, avoid=(0.0,)),
    Op("masked_select_broadcast", lambda L, x: L.lib.masked_select(x, _t(L, _ROW)),
       lambda x: x[:, _ROW].reshape(-1), S2),
    Op("tril", lambda L, x: x.tril(), np.tril, S2 + S3),
    Op("triu", lambda L, x: L.lib.triu(x, diagonal=1), lambda x: np.triu(x, 1), S2 + S3),
    Op("cumsum", lambda L, x: x.cumsum(dim=1), lambda x: np.cumsum(x, 1), S2 + S3),
    Op("cumsum0", lambda L, x: L.lib.cumsum(x, 0), lambda x: np.cumsum(x, 0), S2),
    Op("cumprod", lambda L, x: x.cumprod(1), lambda x: np.cumprod(x, 1), S2 + S3,
       domain=(-1.5, 1.5), avoid=(0.0,)),
    Op("sort", lambda L, x: x.sort(dim=1), lambda x: np.sort(x, 1), S2 + S3),
    Op("sort_descending", lambda L, x: L.lib.sort(x, 0, descending=True).values,
       lambda x: -np.sort(-x, 0), S2),
    Op("topk", lambda L, x: x.topk(2, dim=1).values, lambda x: -np.sort(-x, 1)[:, :2], S2 + S3),
    Op("topk_smallest", lambda L, x: L.lib.topk(x, 2, dim=0, largest=False)[0],
       lambda x: np.sort(x, 0)[:2], S2),
    Op("kthvalue", lambda L, x: x.kthvalue(2, dim=0).values, lambda x: np.sort(x, 0)[1], S2),
    Op("kthvalue_keepdim", lambda L, x: x.kthvalue(3, -1, keepdim=True).values,
       lambda x: np.sort(x, -1)[..., 2:3], S3),
    Op("median", lambda L, x: x.median(), lambda x: np.sort(x, None)[(x.size - 1) // 2], S2 + S3),
    Op("median_dim", lambda L, x: x.median(dim=1).values, lambda x: np.sort(x, 1)[:, 1], S2),
    Op("median_keepdim", lambda L, x: L.lib.median(x, -1, keepdim=True)[0],
       lambda x: np.sort(x, -1)[..., 1:2], S3),
    Op("mode", lambda L, x: L.lib.cat([x, x[:, :2]], 1).mode(1).values,
       lambda x: np.minimum(x[:, 0], x[:, 1]), S2),
    # products
    Op("einsum_mm", lambda L, a, b: L.lib.einsum("ij,jk->ik", a, b), lambda a, b: a @ b,
       [((3, 4), (4, 5))]),
    Op("einsum_batched", lambda L, a, b: L.lib.einsum("bij,bjk->bik", a, b), np.matmul,
       [((2, 3, 4), (2, 4, 2))]),
    Op("einsum_ellipsis", lambda L, a, b: L.lib.einsum("...ij,...jk", a, b), np.matmul,
       [((2, 1, 3, 4), (3, 4, 2))]),
    Op("einsum_diagonal", lambda L, x: L.lib.einsum("ii->i", x), np.diagonal, [((3, 3),)]),
    Op("einsum_trace", lambda L, x: L.lib.einsum("ii", x), np.trace, [((3, 3),)]),
    Op("einsum_sum", lambda L, x: L.lib.einsum("ijk->j", x), lambda x: x.sum((0, 2)), S3),
    Op("einsum_outer", lambda L, a, b: L.lib.einsum("i,j->ij", a, b), np.outer, [((3,), (4,))]),
    Op("einsum_broadcast", lambda L, a, b: L.lib.einsum("ij,ij->ij", a, b), np.multiply,
       [((1, 4), (3, 4))]),
    Op("einsum_three", lambda L, a, b, c: L.lib.einsum("ij,jk,kl->il", a, b, c),
       lambda a, b, c: a @ b @ c, [((2, 3), (3, 4), (4, 2))]),
    Op("bmm", lambda L, a, b: L.lib.bmm(a, b), np.matmul, [((2, 3, 4), (2, 4, 5))]),
    Op("outer", lambda L, a, b: a.outer(b), np.outer, [((3,), (4,))]),
    Op("addmm", lambda L, c, a, b: L.lib.addmm(c, a, b, beta=0.5, alpha=2.0),
       lambda c, a, b: 0.5 * c + 2.0 * (a @ b), [((2, 4), (2, 3), (3, 4)), ((4,), (2, 3), (3, 4))]),
    Op("addmm_beta0", lambda L, c, a, b: c.addmm(a, b, beta=0), lambda c, a, b: a @ b,
       [((2, 4), (2, 3), (3, 4))]),
    Op("baddbmm", lambda L, c, a, b: L.lib.baddbmm(c, a, b, beta=-1.5, alpha=0.5),
       lambda c, a, b: -1.5 * c + 0.5 * (a @ b),
       [((2, 3, 5), (2, 3, 4), (2, 4, 5)), ((5,), (2, 3, 4), (2, 4, 5))]),
]
ALL += SELECTION

# -- tensor ops: shape, math, norms and distances --
CR.F.normalize, CR.F.cosine_similarity, CR.F.pairwise_distance = (
    cr.nn.functional.normalize, cr.nn.functional.cosine_similarity,
    cr.nn.functional.pairwise_distance)
_INF = float("inf")
_WHOLE = (-2.0, -1.0, 0.0, 1.0, 2.0)  # where rounding jumps (and round's halves below)
_HALVES = (-1.5, -0.5, 0.5, 1.5)


def _np_crop_pad(x, pad, mode, **kw):
    """F.pad with negative widths: crop those sides, then pad the others (last two dims)."""
    (l, r), (t, b) = pad[:2], pad[2:]
    x = x[..., max(-t, 0):x.shape[-2] - max(-b, 0), max(-l, 0):x.shape[-1] - max(-r, 0)]
    widths = ((0, 0),) * (x.ndim - 2) + ((max(t, 0), max(b, 0)), (max(l, 0), max(r, 0)))
    return np.pad(x, widths, mode=mode, **kw)


def _np_norm(x, p, axis=None, keepdims=False):
    a = np.abs(x)
    if p == _INF:
        return a.max(axis=axis, keepdims=keepdims)
    if p == -_INF:
        return a.min(axis=axis, keepdims=keepdims)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


def _np_cos(a, b, axis):
    return (a * b).sum(axis) / (np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis))


def _np_cdist(a, b, p):
    return _np_norm(a[..., :, None, :] - b[..., None, :, :], p, axis=-1)


def _np_log_nan_to_num(x):
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.log(x), nan=0.5)


def _np_lerp(a, b, w):
    return a + w * (b - a)


MATH = [
    # shape
    Op("repeat", lambda L, x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3)), S2),
    Op("repeat_tuple", lambda L, x: x.repeat((1, 2, 1)), lambda x: np.tile(x, (1, 2, 1)), S3),
    Op("tile", lambda L, x: x.tile((2,)), lambda x: np.tile(x, 2), S2),
    Op("tile_fn", lambda L, x: L.lib.tile(x, (2, 1, 1, 2)), lambda x: np.tile(x, (2, 1, 1, 2)), S3),
    Op("repeat_interleave", lambda L, x: x.repeat_interleave(2, dim=1),
       lambda x: np.repeat(x, 2, 1), S2 + S3),
    Op("repeat_interleave_flat", lambda L, x: L.lib.repeat_interleave(x, 3),
       lambda x: np.repeat(x, 3), S2),
    Op("repeat_interleave_counts", lambda L, x: x.repeat_interleave(L.lib.tensor([1, 0, 2]), dim=0),
       lambda x: np.repeat(x, [1, 0, 2], 0), S2),
    Op("flip", lambda L, x: x.flip(0, 2), lambda x: x[::-1, :, ::-1], S3),
    Op("flip_fn", lambda L, x: L.lib.flip(x, (1,)), lambda x: x[:, ::-1], S2),
    Op("roll_flat", lambda L, x: x.roll(5), lambda x: np.roll(x, 5), S2),
    Op("roll_dims", lambda L, x: L.lib.roll(x, (1, -3), (0, 2)),
       lambda x: np.roll(x, (1, -3), (0, 2)), S3),
    Op("narrow", lambda L, x: x.narrow(1, 1, 2), lambda x: x[:, 1:3], S2),
    Op("narrow_negative", lambda L, x: L.lib.narrow(x, -1, -3, 2), lambda x: x[..., 1:3], S3),
    Op("movedim", lambda L, x: L.lib.movedim(x, (0, 1), (2, 0)),
       lambda x: np.moveaxis(x, (0, 1), (2, 0)), S3),
    Op("moveaxis", lambda L, x: x.moveaxis(0, -1), lambda x: np.moveaxis(x, 0, -1), S3),
    Op("unflatten", lambda L, x: x.unflatten(1, (2, -1)), lambda x: x.reshape(3, 2, 2), S2),
    Op("pad_crop_constant", lambda L, x: L.F.pad(x, (-1, 2, 1, -1), value=0.5),
       lambda x: _np_crop_pad(x, (-1, 2, 1, -1), "constant", constant_values=0.5), S3),
    Op("pad_crop_only", lambda L, x: L.F.pad(x, (-1, -2)), lambda x: x[..., 1:2], S2),
    Op("pad_crop_reflect", lambda L, x: L.F.pad(x, (-1, 2, 1, -1), mode="reflect"),
       lambda x: _np_crop_pad(x, (-1, 2, 1, -1), "reflect"), S3),
    Op("pad_crop_replicate", lambda L, x: L.F.pad(x, (2, -1, -1, 1), mode="replicate"),
       lambda x: _np_crop_pad(x, (2, -1, -1, 1), "edge"), S3),
    Op("pad_crop_circular", lambda L, x: L.F.pad(x, (-1, 2, 1, -1), mode="circular"),
       lambda x: _np_crop_pad(x, (-1, 2, 1, -1), "wrap"), S3),
    # elementwise math
    Op("log1p", lambda L, x: x.log1p(), np.log1p, S2, domain=(-0.5, 2.0)),
    Op("expm1", lambda L, x: L.lib.expm1(x), np.expm1, S2),
    Op("exp2", lambda L, x: x.exp2(), np.exp2, S2),
    Op("log2", lambda L, x: L.lib.log2(x), np.log2, S2, domain=(0.2, 3.0)),
    Op("log10", lambda L, x: x.log10(), np.log10, S2, domain=(0.2, 3.0)),
    Op("tan", lambda L, x: L.lib.tan(x), np.tan, S2, domain=(-1.2, 1.2)),
    Op("asin", lambda L, x: x.asin(), np.arcsin, S2, domain=(-0.9, 0.9)),
    Op("acos", lambda L, x: L.lib.acos(x), np.arccos, S2, domain=(-0.9, 0.9)),
    Op("atan", lambda L, x: L.lib.arctan(x), np.arctan, S2),
    Op("sinh", lambda L, x: x.sinh(), np.sinh, S2),
    Op("cosh", lambda L, x: L.lib.cosh(x), np.cosh, S2),
    Op("reciprocal", lambda L, x: x.reciprocal(), np.reciprocal, S2, domain=(0.3, 2.0)),
    Op("rsqrt", lambda L, x: L.lib.rsqrt(x), lambda x: 1 / np.sqrt(x), S2, domain=(0.3, 3.0)),
    Op("square", lambda L, x: L.lib.square(x), np.square, S2),
    Op("erf", lambda L, x: L.lib.erf(x), lambda x: _np_erf(x), S2),
    Op("erfinv", lambda L, x: x.erfinv(), lambda x: _np_erfinv(x), S2, domain=(-0.9, 0.9)),
    Op("logit", lambda L, x: L.lib.logit(x), lambda x: np.log(x / (1 - x)), S2, domain=(0.1, 0.9)),
    Op("logit_eps", lambda L, x: x.logit(eps=0.2),
       lambda x: np.log(np.clip(x, 0.2, 0.8) / (1 - np.clip(x, 0.2, 0.8))), S2,
       domain=(0.05, 0.95), avoid=(0.2, 0.8)),
    Op("frac", lambda L, x: x.frac(), lambda x: x - np.trunc(x), S2, avoid=_WHOLE),
    Op("sign", lambda L, x: L.lib.sign(x) * x, lambda x: np.sign(x) * x, S2, avoid=(0.0,)),
    Op("floor", lambda L, x: x.floor() + x, lambda x: np.floor(x) + x, S2, avoid=_WHOLE),
    Op("ceil", lambda L, x: L.lib.ceil(x) * x, lambda x: np.ceil(x) * x, S2, avoid=_WHOLE),
    Op("trunc", lambda L, x: x.trunc(), np.trunc, S2, avoid=_WHOLE),
    Op("round", lambda L, x: L.lib.round(x) - x, lambda x: np.round(x) - x, S2,
       avoid=_HALVES),
    Op("round_decimals", lambda L, x: x.round(decimals=1), lambda x: np.round(x, 1), S2),
    Op("nan_to_num", lambda L, x: L.lib.nan_to_num(x.log(), nan=0.5), _np_log_nan_to_num, S2,
       avoid=(0.0,)),
    Op("atan2", lambda L, a, b: L.lib.atan2(a, b), np.arctan2, BCAST, avoid=(0.0,)),
    Op("logaddexp", lambda L, a, b: L.lib.logaddexp(a, b), np.logaddexp, BCAST),
    Op("lerp", lambda L, a, b, w: L.lib.lerp(a, b, w), _np_lerp,
       [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1))], domain=(-0.5, 1.5)),
    Op("lerp_scalar", lambda L, a, b: a.lerp(b, 0.3), lambda a, b: _np_lerp(a, b, 0.3),
       [((3, 4), (3, 4))]),
    Op("lerp_scalar_high", lambda L, a, b: L.lib.lerp(a, b, 0.8), lambda a, b: _np_lerp(a, b, 0.8),
       [((3, 4), (4,))]),
    Op("clamp_tensors", lambda L, x, lo, hi: L.lib.clamp(x, lo, hi), lambda x, lo, hi: np.minimum(
        np.maximum(x, lo), hi), [((3, 4), (3, 4), (4,)), ((3, 4), (3, 1), (3, 4))]),
    Op("clamp_min_tensor", lambda L, x, lo: x.clamp(min=lo), np.maximum, BCAST),
    Op("clamp_max_tensor", lambda L, x, hi: L.lib.clamp(x, max=hi), np.minimum, BCAST),
    Op("div_trunc", lambda L, a, b: L.lib.div(a, b, rounding_mode="trunc") + a,
       lambda a, b: np.trunc(a / b) + a, [((3, 4), (3, 4)), ((3, 4), (4,))], domain=(0.3, 2.0)),
    Op("div_floor", lambda L, a, b: (a - 1).div(b, rounding_mode="floor") * b,
       lambda a, b: np.floor((a - 1) / b) * b, [((3, 4), (3, 4))], domain=(0.3, 2.0)),
    # norms and distances
    Op("vector_norm", lambda L, x: L.lib.linalg.vector_norm(x, dim=1), lambda x: _np_norm(x, 2, 1),
       S2 + S3),
    Op("vector_norm_all", lambda L, x: L.lib.linalg.vector_norm(x), lambda x: _np_norm(x, 2), S3),
    Op("vector_norm_p3_keepdim", lambda L, x: L.lib.linalg.vector_norm(x, 3, (0, 2), True),
       lambda x: _np_norm(x, 3, (0, 2), True), S3),
    Op("vector_norm_p1", lambda L, x: L.lib.linalg.vector_norm(x, 1, -1),
       lambda x: _np_norm(x, 1, -1), S2, avoid=(0.0,)),
    Op("vector_norm_p_half", lambda L, x: L.lib.linalg.vector_norm(x, 0.5, 0),
       lambda x: _np_norm(x, 0.5, 0), S2, avoid=(0.0,)),
    Op("vector_norm_p1_5", lambda L, x: L.lib.linalg.vector_norm(x, 1.5, 1),
       lambda x: _np_norm(x, 1.5, 1), S2, avoid=(0.0,)),
    Op("vector_norm_inf", lambda L, x: L.lib.linalg.vector_norm(x, _INF, 1),
       lambda x: _np_norm(x, _INF, 1), S2, avoid=(0.0,)),
    Op("vector_norm_neg_inf", lambda L, x: L.lib.linalg.vector_norm(x, -_INF),
       lambda x: _np_norm(x, -_INF), S2, avoid=(0.0,)),
    Op("norm", lambda L, x: x.norm(), lambda x: _np_norm(x, 2), S2),
    Op("norm_fro_dim", lambda L, x: L.lib.norm(x, "fro", 1, keepdim=True),
       lambda x: _np_norm(x, 2, 1, True), S3),
    Op("norm_p3_dim", lambda L, x: x.norm(3, dim=(0, 1)), lambda x: _np_norm(x, 3, (0, 1)), S3),
    Op("linalg_norm", lambda L, x: L.lib.linalg.norm(x), lambda x: _np_norm(x, 2), S2 + S3),
    Op("linalg_norm_inf", lambda L, x: L.lib.linalg.norm(x, _INF),
       lambda x: np.linalg.norm(x, np.inf), S2, avoid=(0.0,)),
    Op("linalg_norm_one", lambda L, x: L.lib.linalg.norm(x, 1), lambda x: np.linalg.norm(x, 1),
       S2, avoid=(0.0,)),
    Op("linalg_norm_neg_one_dims", lambda L, x: L.lib.linalg.norm(x, -1, (2, 0), keepdim=True),
       lambda x: np.abs(x).sum(2, keepdims=True).min(0, keepdims=True), S3, avoid=(0.0,)),
    Op("linalg_norm_neg_inf", lambda L, x: L.lib.linalg.norm(x, -_INF),
       lambda x: np.linalg.norm(x, -np.inf), S2, avoid=(0.0,)),
    Op("normalize", lambda L, x: L.F.normalize(x), lambda x: x / _np_norm(x, 2, 1, True), S2 + S3),
    Op("normalize_p1_dim0", lambda L, x: L.F.normalize(x, 1.0, 0),
       lambda x: x / _np_norm(x, 1, 0, True), S2, avoid=(0.0,)),
    Op("cosine_similarity", lambda L, a, b: L.F.cosine_similarity(a, b),
       lambda a, b: _np_cos(*np.broadcast_arrays(a, b), 1), [((3, 4), (3, 4)), ((1, 4), (3, 4))]),
    Op("cosine_similarity_dim0", lambda L, a, b: L.lib.cosine_similarity(a, b, dim=0),
       lambda a, b: _np_cos(a, b, 0), [((3, 4), (3, 4))]),
    Op("pairwise_distance", lambda L, a, b: L.F.pairwise_distance(a, b),
       lambda a, b: _np_norm(a - b + 1e-6, 2, -1), [((3, 4), (3, 4)), ((4,), (3, 4))]),
    Op("pairwise_distance_p1", lambda L, a, b: L.lib.pairwise_distance(a, b, 1.0, keepdim=True),
       lambda a, b: _np_norm(a - b + 1e-6, 1, -1, True), [((3, 4), (3, 4))]),
    # (PyTorch's cdist has no double backward except by matrix products, for p = 2)
    Op("cdist", lambda L, a, b: L.lib.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
       lambda a, b: _np_cdist(a, b, 2), [((5, 3), (4, 3)), ((2, 5, 3), (1, 4, 3))]),
]
ALL += MATH
BROADCASTING += [op for op in MATH if op.name in ("atan2", "logaddexp", "clamp_min_tensor",
                                                   "clamp_max_tensor")]


def _np_erf(x):
    from math import erf
    return np.vectorize(erf)(x)


def _np_erfinv(x):
    """Newton's method on erf from 0: erf is concave on the side of the root, so it converges."""
    y = np.zeros_like(x)
    for _ in range(60):
        y = y - (_np_erf(y) - x) / (2 / np.sqrt(np.pi) * np.exp(-y * y))
    return y


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
