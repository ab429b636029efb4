"""Each ONNX operator as chainrule ops, for ``load_model``: ``IMPL[op_type](inputs, attrs)``
returns the output (or a list of outputs). Inputs are Tensors, or NumPy arrays for values that
describe shapes (Shape, Constant and what is computed from them), which stay arrays; every float
computation is a chainrule op, so gradients flow through a loaded model."""

from __future__ import annotations

import math

import numpy as np

from ..nn import functional as F
from ..ops import conv as C
from ..ops.shape import pad as _pad
from ..tensor import Tensor
from .errors import UnsupportedOperatorError

IMPL: dict = {}


def impl(*names):
    def register(fn):
        for n in names:
            IMPL[n] = fn
        return fn
    return register


def _t(v, like=None):
    """A Tensor for ``v`` (a NumPy array or number; a float one gets ``like``'s dtype)."""
    if isinstance(v, Tensor) or v is None:
        return v
    a = np.asarray(v)
    if like is not None and a.dtype.kind == "f" and isinstance(like, Tensor):
        a = a.astype(like._data.dtype)
    from ..creation import from_numpy
    return from_numpy(np.array(a))


def _arr(v) -> np.ndarray:
    return v._data if isinstance(v, Tensor) else np.asarray(v)


def _ints(v) -> list:
    return [int(i) for i in _arr(v).reshape(-1)]


def _binary(tensor_op, numpy_op):
    def run(ins, at):
        a, b = ins
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            return numpy_op(np.asarray(a), np.asarray(b))
        return tensor_op(_t(a, b), _t(b, a))
    return run


for _name, _top, _nop in (
        ("Add", lambda a, b: a + b, np.add), ("Sub", lambda a, b: a - b, np.subtract),
        ("Mul", lambda a, b: a * b, np.multiply),
        ("Div", lambda a, b: a / b, lambda a, b: a // b if a.dtype.kind in "iu" else a / b),
        ("Pow", lambda a, b: a ** b, np.power),
        ("Max", lambda a, b: a.maximum(b), np.maximum),
        ("Min", lambda a, b: a.minimum(b), np.minimum),
        ("Greater", lambda a, b: a > b, np.greater), ("Less", lambda a, b: a < b, np.less),
        ("Equal", lambda a, b: a == b, np.equal)):
    IMPL[_name] = _binary(_top, _nop)


@impl("Mod")
def mod(ins, at):
    """a mod b: the sign of b (Python's %), or of a with ``fmod=1`` (C's fmod); shape
    arithmetic stays NumPy (torch's MultiheadAttention export computes head sizes with it)."""
    a, b = ins
    fmod = bool(at.get("fmod", 0))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return (np.fmod if fmod else np.mod)(np.asarray(a), np.asarray(b))
    a, b = _t(a, b), _t(b, a)
    return a - (a / b).trunc() * b if fmod else a % b


def _unary(tensor_op, numpy_op=None):
    def run(ins, at):
        (x,) = ins[:1]
        if not isinstance(x, Tensor) and numpy_op is not None:
            return numpy_op(np.asarray(x))
        return tensor_op(_t(x))
    return run


for _name, _top, _nop in (
        ("Neg", lambda x: -x, np.negative), ("Exp", lambda x: x.exp(), None),
        ("Log", lambda x: x.log(), None), ("Sqrt", lambda x: x.sqrt(), None),
        ("Abs", lambda x: x.abs(), np.abs), ("Sin", lambda x: x.sin(), None),
        ("Cos", lambda x: x.cos(), None), ("Tan", lambda x: x.tan(), None),
        ("Erf", lambda x: x.erf(), None), ("Reciprocal", lambda x: x.reciprocal(), None),
        ("Floor", lambda x: x.floor(), np.floor), ("Ceil", lambda x: x.ceil(), np.ceil),
        ("Round", lambda x: x.round(), np.round), ("Sign", lambda x: x.sign(), np.sign),
        ("Sinh", lambda x: x.sinh(), None), ("Cosh", lambda x: x.cosh(), None),
        ("Asin", lambda x: x.asin(), None), ("Acos", lambda x: x.acos(), None),
        ("Atan", lambda x: x.atan(), None), ("Relu", F.relu, None),
        ("Sigmoid", lambda x: x.sigmoid(), None), ("Tanh", lambda x: x.tanh(), None),
        ("Softsign", F.softsign, None), ("HardSwish", F.hardswish, None),
        ("Softplus", F.softplus, None), ("Not", lambda x: x.logical_not(), np.logical_not),
        ("IsNaN", lambda x: x.isnan(), np.isnan)):
    IMPL[_name] = _unary(_top, _nop)


@impl("Identity", "Dropout")
def identity(ins, at):
    return ins[0]


@impl("Gemm")
def gemm(ins, at):
    a, b = _t(ins[0]), _t(ins[1])
    c = _t(ins[2], a) if len(ins) > 2 else None
    alpha, beta = at.get("alpha", 1.0), at.get("beta", 1.0)
    if at.get("transA", 0):
        a = a.transpose(0, 1)
    if at.get("transB", 0) and alpha == 1 and beta == 1 and (c is None or c.ndim <= 1):
        return F.linear(a, b, c)
    y = a @ (b.transpose(0, 1) if at.get("transB", 0) else b)
    if alpha != 1:
        y = y * alpha
    if c is not None:
        y = y + (c if beta == 1 else c * beta)
    return y


@impl("MatMul")
def matmul(ins, at):
    return _t(ins[0]) @ _t(ins[1], ins[0])


@impl("LeakyRelu")
def leaky_relu(ins, at):
    return F.leaky_relu(ins[0], at.get("alpha", 0.01))


@impl("Elu")
def elu(ins, at):
    return F.elu(ins[0], at.get("alpha", 1.0))


@impl("Celu")
def celu(ins, at):
    return F.celu(ins[0], at.get("alpha", 1.0))


@impl("Selu")
def selu(ins, at):
    alpha = at.get("alpha", 1.67326319217681884765625)  # ONNX's defaults: SELU's constants
    gamma = at.get("gamma", 1.05070102214813232421875)
    return gamma * F.elu(ins[0], alpha)


@impl("Gelu")
def gelu(ins, at):
    return F.gelu(ins[0], approximate=at.get("approximate", "none"))


@impl("HardSigmoid")
def hard_sigmoid(ins, at):
    alpha, beta = at.get("alpha", 0.2), at.get("beta", 0.5)
    return (ins[0] * alpha + beta).clamp(0.0, 1.0)


@impl("PRelu")
def prelu(ins, at):
    x, slope = ins[0], _t(ins[1], ins[0])
    return x.relu() - (-x).relu() * slope


@impl("Clip")
def clip(ins, at):
    x = ins[0]
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else at.get("min")
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else at.get("max")
    lo = None if lo is None else float(_arr(lo).reshape(-1)[0])
    hi = None if hi is None else float(_arr(hi).reshape(-1)[0])
    return x.clamp(lo, hi)


@impl("Softmax")
def softmax(ins, at):
    return F.softmax(ins[0], dim=at.get("axis", -1))


@impl("LogSoftmax")
def log_softmax(ins, at):
    return F.log_softmax(ins[0], dim=at.get("axis", -1))


@impl("Where")
def where(ins, at):
    c, a, b = ins
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return np.where(_arr(c), a, b)
    from ..ops.index import where as _where
    return _where(_t(c), _t(a, b), _t(b, a))


@impl("CumSum")
def cumsum(ins, at):
    if at.get("exclusive", 0) or at.get("reverse", 0):
        raise UnsupportedOperatorError("CumSum with exclusive or reverse")
    x = ins[0]
    return x.cumsum(int(_arr(ins[1]).reshape(-1)[0]))


@impl("GatherElements")
def gather_elements(ins, at):
    from ..ops.index import gather as _gather
    x = ins[0]
    return _gather(x, at.get("axis", 0) % x.ndim, _t(_arr(ins[1]).astype(np.int64)))


@impl("Trilu")
def trilu(ins, at):
    from ..ops.index import tril as _tril, triu as _triu
    k = int(_arr(ins[1]).reshape(-1)[0]) if len(ins) > 1 and ins[1] is not None else 0
    return (_triu if at.get("upper", 1) else _tril)(ins[0], k)


@impl("Einsum")
def einsum(ins, at):
    from ..ops.linalg import einsum as _einsum
    return _einsum(at["equation"], *[_t(v) for v in ins])


# -- convolution, pooling, normalisation ------------------------------------------------------

def _split_pads(pads, n):
    """ONNX pads (begins..., ends...) -> symmetric padding per axis, or None if asymmetric."""
    pads = list(pads or [0] * 2 * n)
    begin, end = pads[:n], pads[n:]
    return begin if begin == end else None, begin, end


def _pad_spatial(x, begin, end, value=0.0):
    """F.pad's order: the last axis first."""
    widths = []
    for b_, e_ in zip(reversed(begin), reversed(end)):
        widths += [b_, e_]
    return _pad(x, tuple(widths), "constant", value)


def _no_auto_pad(at, op):
    if at.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        raise UnsupportedOperatorError(f"{op} with auto_pad={at['auto_pad']!r} (only explicit "
                                       f"pads are supported)")


@impl("Conv")
def conv(ins, at):
    _no_auto_pad(at, "Conv")
    x, w = ins[0], _t(ins[1], ins[0])
    bias = _t(ins[2], x) if len(ins) > 2 and ins[2] is not None else None
    n = w.ndim - 2
    sym, begin, end = _split_pads(at.get("pads"), n)
    if sym is None:
        x, sym = _pad_spatial(x, begin, end), [0] * n
    kw = dict(stride=tuple(at.get("strides", [1] * n)), padding=tuple(sym),
              dilation=tuple(at.get("dilations", [1] * n)), groups=at.get("group", 1))
    if n == 1:
        return C.conv1d(x, w, bias, **kw)
    if n == 2:
        return C.conv2d(x, w, bias, **kw)
    raise UnsupportedOperatorError(f"Conv over {n} spatial axes (chainrule has 1 and 2)")


@impl("ConvTranspose")
def conv_transpose(ins, at):
    _no_auto_pad(at, "ConvTranspose")
    x, w = ins[0], _t(ins[1], ins[0])
    bias = _t(ins[2], x) if len(ins) > 2 and ins[2] is not None else None
    n = w.ndim - 2
    sym, _, _ = _split_pads(at.get("pads"), n)
    if sym is None or "output_shape" in at:
        raise UnsupportedOperatorError("ConvTranspose with asymmetric pads or output_shape")
    kw = dict(stride=tuple(at.get("strides", [1] * n)), padding=tuple(sym),
              output_padding=tuple(at.get("output_padding", [0] * n)),
              dilation=tuple(at.get("dilations", [1] * n)), groups=at.get("group", 1))
    if n == 1:
        return C.conv_transpose1d(x, w, bias, **kw)
    if n == 2:
        return C.conv_transpose2d(x, w, bias, **kw)
    raise UnsupportedOperatorError(f"ConvTranspose over {n} spatial axes")


def _pool(ins, at, op):
    _no_auto_pad(at, op)
    x, k = ins[0], list(at["kernel_shape"])
    n = len(k)
    sym, begin, end = _split_pads(at.get("pads"), n)
    if sym is None:
        x, sym = _pad_spatial(x, begin, end, -math.inf if op == "MaxPool" else 0.0), [0] * n
    kw = dict(kernel_size=tuple(k), stride=tuple(at.get("strides", [1] * n)),
              padding=tuple(sym), ceil_mode=bool(at.get("ceil_mode", 0)))
    if op == "MaxPool":
        kw["dilation"] = tuple(at.get("dilations", [1] * n))
        fn = {1: C.max_pool1d, 2: C.max_pool2d}.get(n)
    else:
        kw["count_include_pad"] = bool(at.get("count_include_pad", 0))
        fn = {1: C.avg_pool1d, 2: C.avg_pool2d}.get(n)
    if fn is None:
        raise UnsupportedOperatorError(f"{op} over {n} spatial axes (chainrule has 1 and 2)")
    return fn(x, **kw)


IMPL["MaxPool"] = lambda ins, at: _pool(ins, at, "MaxPool")
IMPL["AveragePool"] = lambda ins, at: _pool(ins, at, "AveragePool")


@impl("GlobalAveragePool")
def global_average_pool(ins, at):
    x = ins[0]
    return x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)


@impl("GlobalMaxPool")
def global_max_pool(ins, at):
    x = ins[0]
    return x.amax(dim=tuple(range(2, x.ndim)), keepdim=True)


@impl("BatchNormalization")
def batch_norm(ins, at):
    if at.get("training_mode", 0):
        raise UnsupportedOperatorError("BatchNormalization with training_mode=1")
    x, scale, b, mean, var = ins[:5]
    return F.batch_norm(x, _t(mean, x), _t(var, x), _t(scale, x), _t(b, x), training=False,
                        eps=at.get("epsilon", 1e-5))


@impl("LayerNormalization")
def layer_norm(ins, at):
    x, scale = ins[0], _t(ins[1], ins[0])
    bias = _t(ins[2], x) if len(ins) > 2 and ins[2] is not None else None
    axis = at.get("axis", -1) % x.ndim
    return F.layer_norm(x, tuple(x.shape[axis:]), scale, bias, at.get("epsilon", 1e-5))


# -- shapes -----------------------------------------------------------------------------------

@impl("Flatten")
def flatten(ins, at):
    x = ins[0]
    axis = at.get("axis", 1) % max(x.ndim, 1) if x.ndim else 0
    lead = int(np.prod(x.shape[:axis], dtype=np.int64))
    return x.reshape(lead, -1)


@impl("Reshape")
def reshape(ins, at):
    x, shape = ins[0], _ints(ins[1])
    if not at.get("allowzero", 0):
        shape = [x.shape[i] if n == 0 else n for i, n in enumerate(shape)]
    return x.reshape(*shape) if isinstance(x, Tensor) else np.reshape(x, shape)


@impl("Transpose")
def transpose(ins, at):
    x = ins[0]
    perm = at.get("perm", list(range(x.ndim))[::-1])
    return x.permute(*perm) if isinstance(x, Tensor) else np.transpose(x, perm)


@impl("Concat")
def concat(ins, at):
    xs = [v for v in ins if v is not None]
    if not any(isinstance(v, Tensor) for v in xs):
        return np.concatenate([np.atleast_1d(v) for v in xs], axis=at["axis"])
    from ..ops.shape import cat
    return cat([_t(v, next(u for u in xs if isinstance(u, Tensor))) for v in xs], at["axis"])


def _axes_of(ins, at, k=1):
    if len(ins) > k and ins[k] is not None:
        return _ints(ins[k])
    return list(at["axes"]) if "axes" in at else None


@impl("Unsqueeze")
def unsqueeze(ins, at):
    x, axes = ins[0], _axes_of(ins, at)
    ndim = np.ndim(_arr(x)) + len(axes)
    for a in sorted(d % ndim for d in axes):
        x = x.unsqueeze(a) if isinstance(x, Tensor) else np.expand_dims(x, a)
    return x


@impl("Squeeze")
def squeeze(ins, at):
    x, axes = ins[0], _axes_of(ins, at)
    if axes is None:
        axes = [i for i, n in enumerate(np.shape(_arr(x))) if n == 1]
    axes = tuple(sorted(d % np.ndim(_arr(x)) for d in axes))
    if not isinstance(x, Tensor):
        return np.squeeze(x, axis=axes)
    for a in reversed(axes):
        x = x.squeeze(a)
    return x


@impl("Gather")
def gather(ins, at):
    x, idx = ins
    axis = at.get("axis", 0)
    idx = _arr(idx).astype(np.int64)
    if not isinstance(x, Tensor):
        return np.take(x, idx, axis=axis)
    axis %= x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    if idx.ndim == 0:
        return x[(slice(None),) * axis + (int(idx),)]
    return x[(slice(None),) * axis + (idx,)]


@impl("Slice")
def slice_(ins, at):
    x = ins[0]
    starts, ends = _ints(ins[1]), _ints(ins[2])
    ndim = np.ndim(_arr(x))
    axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
    steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    index = [slice(None)] * ndim
    big = 2 ** 62
    for s, e, a, st in zip(starts, ends, axes, steps):
        e = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else e
        index[a % ndim] = slice(s, e, st)
    return x[tuple(index)]


@impl("Split")
def split(ins, at):
    x = ins[0]
    axis = at.get("axis", 0) % x.ndim
    sizes = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else at.get("split")
    if sizes is None:
        k = at["num_outputs"]
        step = -(-x.shape[axis] // k)
        sizes = [min(step, x.shape[axis] - i * step) for i in range(k)]
    out, start = [], 0
    for n in sizes:
        out.append(x[(slice(None),) * axis + (slice(start, start + n),)])
        start += n
    return out


@impl("Shape")
def shape(ins, at):
    s = np.asarray(np.shape(_arr(ins[0])), np.int64)
    return s[at.get("start", 0):at.get("end", None)]


@impl("Size")
def size(ins, at):
    return np.asarray(_arr(ins[0]).size, np.int64)


@impl("Expand")
def expand(ins, at):
    x = ins[0]
    target = np.broadcast_shapes(np.shape(_arr(x)), tuple(_ints(ins[1])))
    return x.expand(*target) if isinstance(x, Tensor) else np.broadcast_to(x, target)


@impl("Tile")
def tile(ins, at):
    x = ins[0]
    return x.repeat(*_ints(ins[1])) if isinstance(x, Tensor) else np.tile(x, _ints(ins[1]))


@impl("Cast")
def cast(ins, at):
    from onnx import helper
    dtype = helper.tensor_dtype_to_np_dtype(at["to"])
    x = ins[0]
    if not isinstance(x, Tensor):
        return np.asarray(x).astype(dtype)
    from .. import dtypes
    target = getattr(dtypes, np.dtype(dtype).name, None)
    if target is None:
        raise UnsupportedOperatorError(f"Cast to {np.dtype(dtype).name}")
    return x.to(target)


@impl("ConstantOfShape")
def constant_of_shape(ins, at):
    value = at.get("value", np.zeros(1, np.float32))
    return np.full(_ints(ins[0]), np.asarray(value).reshape(-1)[0], np.asarray(value).dtype)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
              "wrap": "circular"}


@impl("Pad")
def pad(ins, at):
    x = ins[0]
    pads = _ints(ins[1]) if len(ins) > 1 else list(at.get("pads"))
    value = float(_arr(ins[2]).reshape(-1)[0]) if len(ins) > 2 and ins[2] is not None else 0.0
    ndim = x.ndim
    axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(ndim))
    n = len(axes)
    begin = dict(zip([a % ndim for a in axes], pads[:n]))
    end = dict(zip([a % ndim for a in axes], pads[n:]))
    first = min([a for a in range(ndim) if begin.get(a, 0) or end.get(a, 0)], default=ndim)
    widths = []
    for a in range(ndim - 1, first - 1, -1):
        widths += [begin.get(a, 0), end.get(a, 0)]
    mode = at.get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    return _pad(x, tuple(widths), _PAD_MODES[mode], value if mode == "constant" else None)


def _reduce(method):
    def run(ins, at):
        x = ins[0]
        axes = _axes_of(ins, at)
        keep = bool(at.get("keepdims", 1))
        if not axes:
            if at.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(np.ndim(_arr(x))))
        axes = tuple(a % max(np.ndim(_arr(x)), 1) for a in axes)
        if not isinstance(x, Tensor):
            if method in ("l1", "l2", "logsumexp"):
                x = _t(x)  # (a float computation: as tensors)
            else:
                return getattr(np, {"amax": "max", "amin": "min"}.get(method, method))(
                    x, axis=axes, keepdims=keep)
        if method in ("l1", "l2"):
            from ..ops.norms import vector_norm
            return vector_norm(x, 1 if method == "l1" else 2, dim=axes, keepdim=keep)
        if method == "logsumexp":
            return x.logsumexp(dim=axes, keepdim=keep)
        if method == "prod":
            for a in sorted(axes, reverse=True):
                x = x.prod(dim=a, keepdim=keep)
            return x
        return getattr(x, method)(dim=axes, keepdim=keep)
    return run


for _name, _method in (("ReduceSum", "sum"), ("ReduceMean", "mean"), ("ReduceMax", "amax"),
                       ("ReduceMin", "amin"), ("ReduceProd", "prod"),
                       ("ReduceLogSumExp", "logsumexp"), ("ReduceL1", "l1"), ("ReduceL2", "l2")):
    IMPL[_name] = _reduce(_method)


