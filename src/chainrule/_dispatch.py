"""NumPy's functions on Tensors: ``np.exp(t)``, ``array * t``, ``np.where(c, t, 0)``.

A Tensor answers NumPy's two dispatch protocols (``__array_ufunc__`` and ``__array_function__``)
with chainrule's own differentiable ops. That is what lets one backward formula serve every order:
written once with NumPy, it computes arrays in an ordinary backward pass, and records a graph when
``create_graph=True`` hands it Tensors.

NumPy's functions (``np.where``, ``np.sum``, ...) take chainrule's ops only where a gradient must
flow through them: when an input requires grad and a graph is being recorded. Otherwise NumPy's
own function runs on the arrays, with every option NumPy has, and returns what NumPy returns. A
NumPy function or option chainrule has no op for refuses an input that requires grad: an
untracked result would make the gradient silently wrong.
"""

from __future__ import annotations

import inspect

import numpy as np

_NONDIFF = {  # ufuncs whose result is piecewise constant: no gradient, as in PyTorch
    np.sign, np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not, np.floor, np.ceil, np.trunc,
    np.rint, np.isnan, np.isinf, np.isfinite, np.floor_divide, np.bitwise_and, np.bitwise_or,
    np.bitwise_xor, np.invert, np.signbit,
}


def _ufuncs():
    from .ops import activation as A
    from .ops import elementwise as E
    from .ops import linalg as L
    return {
        np.add: E.Add.apply, np.subtract: E.Sub.apply, np.multiply: E.Mul.apply,
        np.true_divide: E.Div.apply, np.power: E.Pow.apply, np.negative: E.Neg.apply,
        np.positive: lambda x: x, np.exp: E.Exp.apply, np.log: E.Log.apply,
        np.sqrt: E.Sqrt.apply, np.absolute: E.Abs.apply, np.sin: E.Sin.apply,
        np.cos: E.Cos.apply, np.tanh: A.Tanh.apply, np.maximum: E.Maximum.apply,
        np.minimum: E.Minimum.apply, np.remainder: E.Remainder.apply,
        np.matmul: L.MatMul.apply, np.square: lambda x: E.Mul.apply(x, x),
        np.reciprocal: lambda x: E.Div.apply(1.0, x), np.logaddexp: E.LogAddExp.apply,
    }


def _functions():
    from .ops import elementwise as E
    from .ops import linalg as L
    from .ops import reduce as R
    from .ops import shape as S

    def where(condition, x=None, y=None):
        if x is None and y is None:
            raise TypeError("np.where(condition) on a Tensor: use Tensor.nonzero()")
        return E.Where.apply(np.asarray(_array(condition), dtype=bool), x, y)

    def expand_dims(a, axis):
        a = _tensor(a)
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        nd = a.ndim + len(axes)
        axes = sorted(x % nd for x in axes)
        shape = list(a.shape)
        for x in axes:
            shape.insert(x, 1)
        return S.View.apply(a, tuple(shape))

    def squeeze(a, axis=None):
        return S.squeeze(_tensor(a), axis)

    def reshape(a, newshape=None, *, shape=None):
        return S.reshape(_tensor(a), shape if shape is not None else newshape)

    def transpose(a, axes=None):
        a = _tensor(a)
        axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(x % a.ndim for x in axes)
        return S.Permute.apply(a, axes)

    def moveaxis(a, source, destination):
        a = _tensor(a)
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        src, dst = [s % a.ndim for s in src], [d % a.ndim for d in dst]
        order = [n for n in range(a.ndim) if n not in src]
        for d, s in sorted(zip(dst, src)):
            order.insert(d, s)
        return S.Permute.apply(a, tuple(order))

    def swapaxes(a, axis1, axis2):
        return S.transpose(_tensor(a), axis1, axis2)

    def broadcast_to(a, shape):
        return S.Expand.apply(_tensor(a), tuple(shape))

    def concatenate(arrays, axis=0):
        if axis is None:
            return S.cat([_tensor(a).reshape(-1) for a in arrays], 0)
        return S.cat([_tensor(a) for a in arrays], axis)

    def stack(arrays, axis=0):
        return S.stack([_tensor(a) for a in arrays], axis)

    def sum(a, axis=None, dtype=None, keepdims=False):
        return R.sum(_tensor(a), axis, keepdims, dtype)

    def mean(a, axis=None, dtype=None, keepdims=False):
        return R.mean(_tensor(a), axis, keepdims, dtype)

    def dot(a, b):
        return L.MatMul.apply(_tensor(a), _tensor(b))

    def take_along_axis(arr, indices, axis):
        return R.TakeAlongDim.apply(_tensor(arr), _array(indices), axis % np.ndim(arr))

    def clip(a, a_min=None, a_max=None):
        return E.clamp(_tensor(a), a_min, a_max)

    return {f: impl for f, impl in (
        (np.where, where), (np.expand_dims, expand_dims), (np.squeeze, squeeze),
        (np.reshape, reshape), (np.transpose, transpose), (np.moveaxis, moveaxis),
        (np.swapaxes, swapaxes), (np.broadcast_to, broadcast_to),
        (np.concatenate, concatenate), (np.stack, stack), (np.sum, sum), (np.mean, mean),
        (np.dot, dot), (np.take_along_axis, take_along_axis), (np.clip, clip))}


_UFUNCS = _FUNCTIONS = None


def array_ufunc(ufunc, method, inputs, kwargs):
    """``Tensor.__array_ufunc__``: a chainrule op where there is one."""
    global _UFUNCS
    if _UFUNCS is None:
        _UFUNCS = _ufuncs()
    out = kwargs.pop("out", None)
    if out is Ellipsis or (type(out) is tuple and len(out) == 1 and out[0] is Ellipsis):
        out = None  # "an array, not a scalar": ours always are
    if out is None:
        if method == "__call__" and not kwargs:
            op = _UFUNCS.get(ufunc)
            if op is not None:
                return op(*inputs)
        elif method == "reduce" and ufunc in _REDUCE and len(inputs) == 1:
            return _reduce(ufunc, *inputs, **kwargs)
    options = ", ".join(f"{k}=" for k in ("out",) * (out is not None) + tuple(kwargs))
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        if any(isinstance(o, Tensor) for o in outs):
            raise TypeError(f"numpy.{ufunc.__name__}: cannot write into a Tensor with out=; use "
                            "the Tensor's in-place methods (add_, mul_, copy_, ...)")
        kwargs["out"] = outs
    if ufunc not in _NONDIFF:
        what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        if ufunc in _UFUNCS or ufunc in _REDUCE:  # an op chainrule has, with an option it lacks
            _refuse(what, inputs, f"with {options or 'these arguments'} is not recorded")
        _refuse(what, inputs)
    result = getattr(ufunc, method)(*[_array(x) for x in inputs], **kwargs)
    if out is not None:
        return result
    if isinstance(result, tuple):
        return tuple(_make(np.asarray(r), None) for r in result)
    return _make(np.asarray(result), None)


_REDUCE = {np.add, np.maximum, np.minimum}


def _reduce(ufunc, a, axis=0, dtype=None, out=None, keepdims=False, initial=None, where=True):
    from .ops import reduce as R
    if out is not None or initial is not None or where is not True:
        _refuse(f"numpy.{ufunc.__name__}.reduce with out=, initial= or where=", (a,))
        return _make(np.asarray(ufunc.reduce(_array(a), axis, dtype, None, keepdims)), None)
    a = _tensor(a)
    if ufunc is np.add:
        return R.sum(a, axis, keepdims, dtype)
    return (R.amax if ufunc is np.maximum else R.amin)(a, () if axis is None else axis, keepdims)


def array_function(func, args, kwargs):
    """``Tensor.__array_function__``: where a gradient must flow through ``func``, its chainrule
    op; otherwise NumPy's own function on the arrays."""
    global _FUNCTIONS
    if _FUNCTIONS is None:
        _FUNCTIONS = _functions()
    if not _needs_grad(list(args) + list(kwargs.values())):
        return func(*_unwrap(args), **dict(zip(kwargs, _unwrap(kwargs.values()))))
    impl = _FUNCTIONS.get(func)
    if impl is None:  # fine if nothing a gradient could flow through comes out (np.allclose)
        result = func(*_unwrap(args), **dict(zip(kwargs, _unwrap(kwargs.values()))))
        if _floating(result):
            _refuse(f"numpy.{func.__name__}", list(args) + list(kwargs.values()))
        return result
    params = inspect.signature(impl).parameters
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        raise TypeError(f"numpy.{func.__name__}: chainrule's op does not take "
                        f"{', '.join(k + '=' for k in unknown)}, and an input requires grad (the "
                        "result would not be tracked); leave the option out, or detach() the input")
    return impl(*args, **kwargs)


def _needs_grad(values) -> bool:
    """Does a tensor among ``values`` (lists included) require grad, in a recorded context?"""
    if not recording():
        return False
    for v in values:
        for x in (v if isinstance(v, (list, tuple)) else (v,)):
            if isinstance(x, Tensor) and x.requires_grad:
                return True
    return False


def _floating(result) -> bool:
    if isinstance(result, (tuple, list)):
        return any(_floating(r) for r in result)
    return (isinstance(result, (np.ndarray, np.floating, float))
            and np.asarray(result).dtype.kind in "fc")


def _refuse(what, values, why="has no chainrule op"):
    """Raise if a NumPy function without a chainrule op would cut a gradient's path."""
    if _needs_grad(values):
        raise TypeError(f"{what} {why}, and one of its inputs requires grad: its result would not "
                        "be tracked, so the gradient would be wrong. Use the Tensor's own methods, "
                        "or detach() the input")


def _unwrap(values):
    out = []
    for v in values:
        if isinstance(v, Tensor):
            v = v._data
        elif isinstance(v, (list, tuple)) and any(isinstance(x, Tensor) for x in v):
            v = type(v)(x._data if isinstance(x, Tensor) else x for x in v)
        out.append(v)
    return out


def _array(x):
    return x._data if isinstance(x, Tensor) else x


def _tensor(x):
    if isinstance(x, Tensor):
        return x
    return _make(np.asarray(x), None)


from .tensor import Tensor, _make  # noqa: E402
from .autograd.grad_mode import recording  # noqa: E402
