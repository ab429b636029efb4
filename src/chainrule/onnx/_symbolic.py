"""Each recorded op as ONNX nodes: one small function per op class, as PyTorch's symbolic_opset
files. A function gets the builder ``b`` (``b.add(op, inputs, **attrs)`` adds a node and
returns its output's name, ``b.const(array)`` an initializer), the op's forward arguments by
name (each tensor as a ``Value``: its ONNX name, shape and dtype) and the traced output ``y``
(its shape and dtype); it returns the name of the value that holds the op's output.

Shapes taken from the traced pass are written so that a dynamic batch axis stays dynamic: a
Reshape copies the first axis (0) or infers it (-1), an Expand keeps the axes it does not grow
(1), a Slice to the end runs to INT64_MAX.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops import activation as A, conv as C, elementwise as E, linalg as L, nn as N
from ..ops import attention as AT, index as I, norms as NO, reduce as R, shape as S, sorting as SO
from .errors import UnsupportedOperatorError

INT64_MAX = np.iinfo(np.int64).max
SYMBOLIC: dict = {}


def symbolic(*classes):
    def register(fn):
        for cls in classes:
            SYMBOLIC[cls] = fn
        return fn
    return register


# -- products and elementwise arithmetic ------------------------------------------------------

@symbolic(N.Linear)
def linear(b, a, y):
    x, w, bias = a["x"], a["weight"], a["bias"]
    if len(x.shape) == 2:
        inputs = [x, w] + ([bias] if bias is not None else [])
        return b.add("Gemm", inputs, transB=1)
    out = b.add("MatMul", [x, b.add("Transpose", [w], perm=[1, 0])])
    return out if bias is None else b.add("Add", [out, bias])


@symbolic(L.MatMul)
def matmul(b, a, y):
    return b.add("MatMul", [a["a"], a["b"]])


def _binary(op):
    def convert(b, a, y):
        return b.add(op, [b.operand(a["a"], y, cast=True), b.operand(a["b"], y, cast=True)])
    return convert


for _cls, _op in ((E.Add, "Add"), (E.Sub, "Sub"), (E.Mul, "Mul"), (E.Div, "Div"),
                  (E.Pow, "Pow"), (E.Maximum, "Max"), (E.Minimum, "Min")):
    symbolic(_cls)(_binary(_op))


def _unary(op):
    def convert(b, a, y):
        return b.add(op, [a["x"]])
    return convert


for _cls, _op in ((E.Neg, "Neg"), (E.Exp, "Exp"), (E.Log, "Log"), (E.Sqrt, "Sqrt"),
                  (E.Abs, "Abs"), (E.Sin, "Sin"), (E.Cos, "Cos"), (E.Tan, "Tan"), (E.Erf, "Erf"),
                  (E.Asin, "Asin"), (E.Acos, "Acos"), (E.Atan, "Atan"), (E.Sinh, "Sinh"),
                  (E.Cosh, "Cosh"), (E.Reciprocal, "Reciprocal"), (E.Floor, "Floor"),
                  (E.Ceil, "Ceil"), (E.Round, "Round"), (E.Sign, "Sign"),
                  (A.ReLU, "Relu"), (A.Sigmoid, "Sigmoid"), (A.Tanh, "Tanh"),
                  (A.Softsign, "Softsign"), (S.Clone, "Identity")):
    symbolic(_cls)(_unary(_op))


@symbolic(E.Rsqrt)
def rsqrt(b, a, y):
    return b.add("Reciprocal", [b.add("Sqrt", [a["x"]])])


@symbolic(E.Log1p)
def log1p(b, a, y):
    return b.add("Log", [b.add("Add", [a["x"], b.scalar(1, y)])])


@symbolic(E.Expm1)
def expm1(b, a, y):
    return b.add("Sub", [b.add("Exp", [a["x"]]), b.scalar(1, y)])


@symbolic(E.Clamp)
def clamp(b, a, y):
    x, lo, hi = a["x"], a["lo"], a["hi"]
    if isinstance(lo, b.Value) or isinstance(hi, b.Value):
        if lo is not None:
            x = b.add("Max", [x, b.operand(lo, y)])
        return x if hi is None else b.add("Min", [x, b.operand(hi, y)])
    return b.add("Clip", [x, "" if lo is None else b.scalar(lo, y),
                          "" if hi is None else b.scalar(hi, y)])


@symbolic(E.Where)
def where(b, a, y):
    return b.add("Where", [b.operand(a["cond"], None), b.operand(a["a"], y),
                           b.operand(a["b"], y)])


# -- activations ------------------------------------------------------------------------------

@symbolic(A.LeakyReLU)
def leaky_relu(b, a, y):
    return b.add("LeakyRelu", [a["x"]], alpha=float(a["negative_slope"]))


@symbolic(A.GELU)
def gelu(b, a, y):
    x, approximate = a["x"], a["approximate"]
    if b.opset >= 20:
        return b.add("Gelu", [x], approximate=approximate)
    half = b.scalar(0.5, y)
    if approximate == "tanh":  # 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
        cube = b.add("Mul", [b.add("Mul", [x, x]), x])
        inner = b.add("Add", [x, b.add("Mul", [cube, b.scalar(0.044715, y)])])
        t = b.add("Tanh", [b.add("Mul", [inner, b.scalar(math.sqrt(2 / math.pi), y)])])
    else:  # 0.5 x (1 + erf(x / √2))
        t = b.add("Erf", [b.add("Mul", [x, b.scalar(1 / math.sqrt(2), y)])])
    return b.add("Mul", [b.add("Mul", [x, half]), b.add("Add", [t, b.scalar(1, y)])])


@symbolic(A.Softmax)
def softmax(b, a, y):
    return b.add("Softmax", [a["x"]], axis=int(a["dim"]))


@symbolic(A.LogSoftmax)
def log_softmax(b, a, y):
    return b.add("LogSoftmax", [a["x"]], axis=int(a["dim"]))


@symbolic(A.ELU)
def elu(b, a, y):
    x, alpha, scale, c = a["x"], float(a["alpha"]), float(a["scale"]), float(a["input_scale"])
    if scale == 1 and c == 1:
        return b.add("Elu", [x], alpha=alpha)
    if c == 1:
        return b.add("Selu", [x], alpha=alpha, gamma=scale)
    if scale == 1 and math.isclose(c * alpha, 1.0, rel_tol=1e-12) and y.dtype == np.float32:
        return b.add("Celu", [x], alpha=alpha)
    neg = b.add("Mul", [b.add("Elu", [b.add("Mul", [x, b.scalar(c, y)])]),
                        b.scalar(alpha * scale, y)])
    return b.add("Where", [b.add("Greater", [x, b.scalar(0, y)]),
                           b.add("Mul", [x, b.scalar(scale, y)]), neg])


@symbolic(A.Softplus)
def softplus(b, a, y):
    x, beta, threshold = a["x"], float(a["beta"]), float(a["threshold"])
    bx = x if beta == 1 else b.add("Mul", [x, b.scalar(beta, y)])
    soft = b.add("Softplus", [bx])
    if beta != 1:
        soft = b.add("Div", [soft, b.scalar(beta, y)])
    return b.add("Where", [b.add("Greater", [bx, b.scalar(threshold, y)]), x, soft])


@symbolic(A.LogSigmoid)
def log_sigmoid(b, a, y):
    return b.add("Neg", [b.add("Softplus", [b.add("Neg", [a["x"]])])])


@symbolic(A.SiLU)
def silu(b, a, y):
    return b.add("Mul", [a["x"], b.add("Sigmoid", [a["x"]])])


@symbolic(A.Mish)
def mish(b, a, y):
    return b.add("Mul", [a["x"], b.add("Tanh", [b.add("Softplus", [a["x"]])])])


@symbolic(A.Hardtanh)
def hardtanh(b, a, y):
    return b.add("Clip", [a["x"], b.scalar(a["min_val"], y), b.scalar(a["max_val"], y)])


@symbolic(A.Hardswish)
def hardswish(b, a, y):
    if b.opset >= 14:
        return b.add("HardSwish", [a["x"]])
    return b.add("Mul", [a["x"], b.add("HardSigmoid", [a["x"]], alpha=1 / 6, beta=0.5)])


@symbolic(A.Hardsigmoid)
def hardsigmoid(b, a, y):
    return b.add("HardSigmoid", [a["x"]], alpha=1 / 6, beta=0.5)


@symbolic(A.Threshold)
def threshold(b, a, y):
    x = a["x"]
    return b.add("Where", [b.add("Greater", [x, b.scalar(a["threshold"], y)]), x,
                           b.scalar(a["value"], y)])


@symbolic(A.PReLU)
def prelu(b, a, y):
    x, w = a["x"], a["weight"]
    slope = w
    if w.size > 1 and len(x.shape) > 2:  # one slope per channel (axis 1): (C, 1, ..., 1)
        slope = b.add("Reshape", [w, b.ints([-1] + [1] * (len(x.shape) - 2))])
    return b.add("PRelu", [x, slope])


@symbolic(A.GLU)
def glu(b, a, y):
    x, dim = a["x"], int(a["dim"]) % len(a["x"].shape)
    half = x.shape[dim] // 2
    first, second = b.add("Split", [x, b.ints([half, half])], outputs=2, axis=dim)
    return b.add("Mul", [first, b.add("Sigmoid", [second])])


# -- convolution, pooling, normalisation ------------------------------------------------------

def _batched(b, x, convert):
    """Run ``convert(x4)`` on x with a batch axis (an unbatched (C, H, W) input gets one)."""
    if len(x.shape) == 3:
        return b.add("Squeeze", [convert(b.add("Unsqueeze", [x, b.ints([0])])), b.ints([0])])
    return convert(x)


@symbolic(C.Conv2d)
def conv2d(b, a, y):
    pt, pb, pl, pr = a["padding"]
    inputs = [a["weight"]] + ([a["bias"]] if a["bias"] is not None else [])
    return _batched(b, a["x"], lambda x: b.add(
        "Conv", [x] + inputs, strides=list(a["stride"]), pads=[pt, pl, pb, pr],
        dilations=list(a["dilation"]), group=int(a["groups"]),
        kernel_shape=list(a["weight"].shape[2:])))


@symbolic(C.ConvTranspose2d)
def conv_transpose2d(b, a, y):
    pt, pb, pl, pr = a["padding"]
    inputs = [a["weight"]] + ([a["bias"]] if a["bias"] is not None else [])
    return _batched(b, a["x"], lambda x: b.add(
        "ConvTranspose", [x] + inputs, strides=list(a["stride"]), pads=[pt, pl, pb, pr],
        output_padding=list(a["output_padding"]), dilations=list(a["dilation"]),
        group=int(a["groups"]), kernel_shape=list(a["weight"].shape[2:])))


def _ceil_mode(x, kernel, stride, padding, dilation, out):
    floor = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in
             zip(x.shape[-2:], kernel, stride, padding, dilation)]
    return int(list(out) != floor)


@symbolic(C.MaxPool2d)
def max_pool2d(b, a, y):
    if a["indices"] is not None:
        raise UnsupportedOperatorError("max_pool2d with return_indices=True (the indices are "
                                       "not exported)")
    k, s, p, d = (list(a[n]) for n in ("kernel_size", "stride", "padding", "dilation"))
    ceil = _ceil_mode(a["x"], k, s, p, d, a["out_size"])
    return _batched(b, a["x"], lambda x: b.add(
        "MaxPool", [x], kernel_shape=k, strides=s, pads=p + p, dilations=d, ceil_mode=ceil))


@symbolic(C.AvgPool2d)
def avg_pool2d(b, a, y):
    k, s, p = (list(a[n]) for n in ("kernel_size", "stride", "padding"))
    ceil = _ceil_mode(a["x"], k, s, p, (1, 1), a["out_size"])
    if a["divisor"] is not None and (any(p) or ceil):
        raise UnsupportedOperatorError("avg_pool2d with divisor_override and padding or "
                                       "ceil_mode (ONNX's AveragePool has no divisor)")

    def convert(x):
        out = b.add("AveragePool", [x], kernel_shape=k, strides=s, pads=p + p, ceil_mode=ceil,
                    count_include_pad=int(a["count_include_pad"]))
        if a["divisor"] is not None:
            out = b.add("Mul", [out, b.scalar(k[0] * k[1] / a["divisor"], y)])
        return out
    return _batched(b, a["x"], convert)


def _normalize(b, x, axes, eps, y):
    """(x - mean) / √(var + eps) over ``axes`` (biased variance), from elementary ONNX ops."""
    mean = b.reduce("ReduceMean", x, axes, keepdims=1)
    xc = b.add("Sub", [x, mean])
    var = b.reduce("ReduceMean", b.add("Mul", [xc, xc]), axes, keepdims=1)
    return b.add("Div", [xc, b.add("Sqrt", [b.add("Add", [var, b.scalar(eps, y)])])])


@symbolic(N.BatchNorm)
def batch_norm(b, a, y):
    x, w, bias = a["x"], a["weight"], a["bias"]
    c = x.shape[1]
    if not a["training"]:
        scale = w if w is not None else b.const(np.ones(c, y.dtype))
        shift = bias if bias is not None else b.const(np.zeros(c, y.dtype))
        return b.add("BatchNormalization", [x, scale, shift, a["running_mean"],
                                            a["running_var"]], epsilon=float(a["eps"]))
    # batch statistics (track_running_stats=False): normalise over every axis but 1
    out = _normalize(b, x, [0] + list(range(2, len(x.shape))), a["eps"], y)
    shape = b.ints([c] + [1] * (len(x.shape) - 2))
    if w is not None:
        out = b.add("Mul", [out, b.add("Reshape", [w, shape])])
    if bias is not None:
        out = b.add("Add", [out, b.add("Reshape", [bias, shape])])
    return out


@symbolic(N.LayerNorm)
def layer_norm(b, a, y):
    x, w, bias, ndim, eps = a["x"], a["weight"], a["bias"], int(a["ndim"]), float(a["eps"])
    shape = x.shape[len(x.shape) - ndim:]
    if b.opset >= 17:
        scale = w if w is not None else b.const(np.ones(shape, y.dtype))
        inputs = [x, scale] + ([bias] if bias is not None else [])
        return b.add("LayerNormalization", inputs, axis=-ndim, epsilon=eps)
    out = _normalize(b, x, list(range(len(x.shape) - ndim, len(x.shape))), eps, y)
    if w is not None:
        out = b.add("Mul", [out, w])
    return out if bias is None else b.add("Add", [out, bias])


@symbolic(N.Embedding)
def embedding(b, a, y):
    return b.add("Gather", [a["weight"], b.operand(a["indices"], None)], axis=0)


@symbolic(N.Dropout)
def dropout(b, a, y):
    raise UnsupportedOperatorError("dropout in training mode (F.dropout(..., training=True)); "
                                   "in eval mode dropout is the identity and exports as such")


# -- shapes -----------------------------------------------------------------------------------

@symbolic(S.View)
def view(b, a, y):
    x, target = a["x"], list(y.shape)
    if target and x.shape:
        # Reshape's 0, "copy this axis from the input", wherever the size is kept: a dynamic
        # batch stays dynamic on axis 0 and on axis 1 too (a sequence-first (L, N, E) layout)
        for i in range(1, min(len(target), len(x.shape))):
            if target[i] == x.shape[i]:
                target[i] = 0
        target[0] = 0 if target[0] == x.shape[0] else -1
    return b.add("Reshape", [x, b.ints(target)])


@symbolic(S.Permute)
def permute(b, a, y):
    return b.add("Transpose", [a["x"]], perm=[int(d) % len(a["x"].shape) for d in a["dims"]])


@symbolic(S.Expand)
def expand(b, a, y):
    x, target = a["x"], list(y.shape)
    lead = len(target) - len(x.shape)
    for i, n in enumerate(x.shape):  # an axis that does not grow: 1, broadcast keeps it
        if target[lead + i] == n:
            target[lead + i] = 1
    return b.add("Expand", [x, b.ints(target)])


@symbolic(S.Cat)
def cat(b, a, y):
    xs = [b.operand(x, y) for x in a["xs"]]
    return b.add("Concat", xs, axis=int(a["dim"]) % len(y.shape))


@symbolic(S.Stack)
def stack(b, a, y):
    dim = int(a["dim"]) % len(y.shape)
    xs = [b.add("Unsqueeze", [b.operand(x, y), b.ints([dim])]) for x in a["xs"]]
    return b.add("Concat", xs, axis=dim)


_PADS = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@symbolic(S.Pad)
def pad(b, a, y):
    x, widths, mode = a["x"], a["widths"], a["mode"]
    if mode == "circular" and b.opset < 19:  # no 'wrap' yet: the end and the start, concatenated
        out = x
        for axis, (lo, hi) in enumerate(widths):
            if lo < 0 or hi < 0:
                raise UnsupportedOperatorError("circular padding that crops")
            parts = ([b.add("Slice", [out, b.ints([-lo]), b.ints([INT64_MAX]), b.ints([axis])])]
                     if lo else []) + [out] + (
                    [b.add("Slice", [out, b.ints([0]), b.ints([hi]), b.ints([axis])])]
                    if hi else [])
            if len(parts) > 1:
                out = b.add("Concat", parts, axis=axis)
        return out
    pads = b.ints([lo for lo, _ in widths] + [hi for _, hi in widths])
    inputs = [x, pads]
    if mode == "constant":
        inputs.append(b.scalar(a["value"] or 0, y))
    return b.add("Pad", inputs, mode=_PADS[mode])


@symbolic(S.Cast)
def cast(b, a, y):
    return b.add("Cast", [a["x"]], to=b.onnx_type(y.dtype))


@symbolic(S.Repeat)
def repeat(b, a, y):
    x, reps = a["x"], list(a["reps"])
    if len(reps) > len(x.shape):
        x = b.add("Reshape", [x, b.ints([1] * (len(reps) - len(x.shape)) + list(x.shape))])
    return b.add("Tile", [x, b.ints(reps)])


@symbolic(S.Flip)
def flip(b, a, y):
    x = a["x"]
    dims = [int(d) % len(x.shape) for d in a["dims"]]
    n = len(dims)
    return b.add("Slice", [x, b.ints([-1] * n), b.ints([-INT64_MAX] * n), b.ints(dims),
                           b.ints([-1] * n)])


@symbolic(S.GetItem)
def getitem(b, a, y):
    """Basic indexing as Slice, Gather (an int or one index array) and Unsqueeze (None), axis by
    axis; index arrays on adjacent axes as one Gather on those axes merged (a flat index)."""
    x, index = a["x"], a["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    items = [np.asarray(i) if isinstance(i, list) else i for i in items]
    items = [np.nonzero(i) if isinstance(i, np.ndarray) and i.dtype == bool else (i,)
             for i in items]  # a boolean mask: the positions it selected when traced
    items = [j for group in items for j in group]
    used = sum(0 if i is None or i is Ellipsis else 1 for i in items)
    if any(i is Ellipsis for i in items):
        k = next(j for j, i in enumerate(items) if i is Ellipsis)
        items[k:k + 1] = [slice(None)] * (len(x.shape) - used)
    arrays = [j for j, i in enumerate(items) if isinstance(i, (np.ndarray, np.integer, int))
              and np.ndim(i) > 0]
    if len(arrays) > 1 and arrays != list(range(arrays[0], arrays[-1] + 1)):
        raise UnsupportedOperatorError("index arrays on axes that are not next to one another")
    probe = np.broadcast_to(np.zeros((), np.int8), x.shape)  # follows the shape, step by step
    out, axis, j = x, 0, 0
    while j < len(items):
        item = items[j]
        if item is None:
            out, probe = b.add("Unsqueeze", [out, b.ints([axis])]), probe[(slice(None),) * axis
                                                                          + (None,)]
            axis += 1
        elif isinstance(item, slice):
            step = 1 if item.step is None else int(item.step)
            start = item.start if item.start is not None else (0 if step > 0 else -1)
            stop = item.stop if item.stop is not None else (INT64_MAX if step > 0 else -INT64_MAX)
            if (start, stop, step) != (0, INT64_MAX, 1):
                out = b.add("Slice", [out, b.ints([start]), b.ints([stop]), b.ints([axis]),
                                      b.ints([step])])
                probe = probe[(slice(None),) * axis + (item,)]
            axis += 1
        elif len(arrays) > 1 and j == arrays[0]:  # adjacent index arrays: one flat Gather
            k = len(arrays)
            dims = probe.shape[axis:axis + k]
            idx = [np.where(np.asarray(i) < 0, np.asarray(i) + n, np.asarray(i))
                   for i, n in zip(items[j:j + k], dims)]
            flat = np.ravel_multi_index(np.broadcast_arrays(*idx), dims).astype(np.int64)
            merged = [0] * axis + [int(np.prod(dims))] + list(probe.shape[axis + k:])
            out = b.add("Reshape", [out, b.ints(merged)])
            out = b.add("Gather", [out, b.const(flat)], axis=axis)
            probe = probe[(slice(None),) * axis + tuple(idx)]
            axis += flat.ndim
            j += k
            continue
        else:
            idx = np.asarray(item).astype(np.int64)
            out = b.add("Gather", [out, b.const(idx)], axis=axis)
            probe = probe[(slice(None),) * axis + (idx,)]
            axis += idx.ndim
        j += 1
    if probe.shape != tuple(y.shape):
        raise UnsupportedOperatorError(f"this mix of indices (result {probe.shape}, traced "
                                       f"{tuple(y.shape)})")
    return out


# -- reductions -------------------------------------------------------------------------------

def _axes(a, x):
    axes = a.get("axes", a.get("axis", a.get("dim")))
    if axes is None:
        return None
    axes = [axes] if np.isscalar(axes) else list(axes)
    return [int(d) % max(len(x.shape), 1) for d in axes]


def _reduce(op):
    def convert(b, a, y):
        x = a["x"]
        axes = _axes(a, x)
        keep = int(bool(a.get("keepdim", False)))
        return b.reduce(op, x, axes, keepdims=keep)
    return convert


for _cls, _op in ((R.Sum, "ReduceSum"), (R.Mean, "ReduceMean"), (R.Amax, "ReduceMax"),
                  (R.Amin, "ReduceMin"), (R.MaxDim, "ReduceMax"), (R.MinDim, "ReduceMin"),
                  (R.LogSumExp, "ReduceLogSumExp"), (R.Prod, "ReduceProd")):
    symbolic(_cls)(_reduce(_op))


# -- more math: logs, rounding, cumulative sums, norms, einsum, triangles, rolls --------------

@symbolic(E.Log2, E.Log10)
def log_base(b, a, y):
    return b.add("Div", [b.add("Log", [a["x"]]), b.scalar(b.node_class.ln, y)])


@symbolic(E.Exp2)
def exp2(b, a, y):
    return b.add("Pow", [b.scalar(2, y), a["x"]])


@symbolic(E.Trunc)
def trunc(b, a, y):
    x = a["x"]
    return b.add("Mul", [b.add("Sign", [x]), b.add("Floor", [b.add("Abs", [x])])])


@symbolic(E.LogAddExp)
def logaddexp(b, a, y):  # max(a, b) + log(1 + exp(-|a - b|))
    p, q = b.operand(a["a"], y, cast=True), b.operand(a["b"], y, cast=True)
    gap = b.add("Neg", [b.add("Abs", [b.add("Sub", [p, q])])])
    return b.add("Add", [b.add("Max", [p, q]), b.add("Softplus", [gap])])


@symbolic(R.Var, R.Std)
def var(b, a, y):
    x = a["x"]
    axes = _axes(a, x) or list(range(len(x.shape)))
    n = int(np.prod([x.shape[i] for i in axes]))
    xc = b.add("Sub", [x, b.reduce("ReduceMean", x, axes, keepdims=1)])
    total = b.reduce("ReduceSum", b.add("Mul", [xc, xc]), axes, keepdims=int(bool(a["keepdim"])))
    out = b.add("Div", [total, b.scalar(max(n - a["correction"], 0), y)])
    return b.add("Sqrt", [out]) if b.node_class is R.Std else out


@symbolic(SO.Cumsum)
def cumsum(b, a, y):
    dim = int(a["dim"]) % max(len(a["x"].shape), 1)
    return b.add("CumSum", [a["x"], b.const(np.asarray(dim, np.int64))])


@symbolic(I.TakeAlongDim, I.Gather)
def take_along_dim(b, a, y):
    x = a["x"]
    idx = b.operand(np.asarray(a["idx"]).astype(np.int64), None) \
        if not isinstance(a["idx"], b.Value) else a["idx"]
    return b.add("GatherElements", [x, idx], axis=int(a["dim"]) % len(x.shape))


@symbolic(I.Tril, I.Triu)
def tril(b, a, y):
    if b.opset < 14:
        raise UnsupportedOperatorError("tril/triu need opset_version 14 or more (Trilu)")
    k = b.const(np.asarray(int(a["diagonal"]), np.int64))
    return b.add("Trilu", [a["x"], k], upper=int(b.node_class is I.Triu))


@symbolic(S.Roll)
def roll(b, a, y):
    x, shifts, dims = a["x"], a["shifts"], a["dims"]
    shape = list(x.shape)
    if dims is None:
        out = b.add("Reshape", [x, b.ints([-1])])
        return b.add("Reshape", [_roll(b, out, int(np.ravel(shifts)[0]), 0, int(np.prod(shape))),
                                 b.ints(shape)])
    shifts = np.atleast_1d(shifts).tolist()
    dims = np.atleast_1d(dims).tolist()
    for s, d in zip(shifts, dims):
        d = int(d) % len(shape)
        x = _roll(b, x, int(s), d, shape[d])
    return x


def _roll(b, x, shift, axis, n):
    shift %= n
    if shift == 0:
        return x
    tail = b.add("Slice", [x, b.ints([n - shift]), b.ints([INT64_MAX]), b.ints([axis])])
    head = b.add("Slice", [x, b.ints([0]), b.ints([n - shift]), b.ints([axis])])
    return b.add("Concat", [tail, head], axis=axis)


@symbolic(NO.VectorNorm)
def vector_norm(b, a, y):
    x, p = a["x"], float(a["p"])
    axes = _axes(a, x)
    keep = int(bool(a["keepdim"]))
    if p == 2:
        return b.reduce("ReduceL2", x, axes, keepdims=keep)
    if p == 1:
        return b.reduce("ReduceL1", x, axes, keepdims=keep)
    if math.isinf(p):
        return b.reduce("ReduceMax" if p > 0 else "ReduceMin", b.add("Abs", [x]), axes,
                        keepdims=keep)
    if p == 0:
        raise UnsupportedOperatorError("the 0-norm (a count of nonzeros)")
    powered = b.add("Pow", [b.add("Abs", [x]), b.scalar(p, y)])
    return b.add("Pow", [b.reduce("ReduceSum", powered, axes, keepdims=keep),
                         b.scalar(1 / p, y)])


@symbolic(L.Einsum)
def einsum(b, a, y):
    return b.add("Einsum", [b.operand(x, y) for x in a["xs"]], equation=a["equation"])


# -- attention --------------------------------------------------------------------------------

def _attention(b, q, k, v, bias, keep, scale, y):
    """softmax(q kᵀ · scale + bias) v, a row whose keys are all masked giving zeros (as
    chainrule's and PyTorch's fused attention)."""
    if keep is not None:
        raise UnsupportedOperatorError("attention dropout in training mode (dropout_p > 0); in "
                                       "eval mode MultiheadAttention exports without it")
    n = len(k.shape)
    kt = b.add("Transpose", [k], perm=list(range(n - 2)) + [n - 1, n - 2])
    s = b.add("Mul", [b.add("MatMul", [q, kt]), b.scalar(scale, y)])
    if bias is None:
        return b.add("MatMul", [b.add("Softmax", [s], axis=-1), v])
    s = b.add("Add", [s, b.operand(bias, y, cast=True)])
    p = b.add("Softmax", [s], axis=-1)
    # a row of -inf only: Softmax gives NaN (exp(-inf - -inf)), chainrule and PyTorch zeros
    masked = b.add("Equal", [b.reduce("ReduceMax", s, [len(y.shape) - 1], keepdims=1),
                             b.scalar(-np.inf, y)])
    return b.add("MatMul", [b.add("Where", [masked, b.scalar(0, y), p]), v])


@symbolic(AT.ScaledDotProductAttention)
def scaled_dot_product_attention(b, a, y):
    return _attention(b, a["q"], a["k"], a["v"], a["bias"], a["keep"], a["scale"], y)


@symbolic(AT.PackedSelfAttention)
def packed_self_attention(b, a, y):
    qkv = a["qkv"]
    q, k, v = (b.Value(b.add("Gather", [qkv, b.const(np.asarray(i, np.int64))], axis=0),
                       qkv.shape[1:], qkv.dtype) for i in range(3))  # qkv[0], qkv[1], qkv[2]
    return _attention(b, q, k, v, a["bias"], a["keep"], a["scale"], y)


def _hook_nodes():
    """A module with backward hooks passes its tensors through identity ops: the same here (the
    anchor they share gets a zero, which no output uses and the exporter drops)."""
    from ..nn.hooks import BackwardHookFunction, BackwardHookGather

    SYMBOLIC[BackwardHookFunction] = lambda b, a, y: b.add("Identity", [a["x"]])
    SYMBOLIC[BackwardHookGather] = lambda b, a, y: b.const(np.zeros((), y.dtype))


_hook_nodes()
