"""Tensor methods that call the ops (``x.exp()``, ``x.sum(dim)``, ...), attached in one place."""

from __future__ import annotations

import numpy as np

from .ops import activation as A
from .ops import elementwise as E
from .ops import index as I
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .ops import sorting as O
from .ops import norms as N
from . import creation as C
from .tensor import Tensor


def _div_(self, other, *, rounding_mode=None, _plain=Tensor.div_):
    """``x.div_(y)``, and ``x.div_(y, rounding_mode="floor" | "trunc")`` as ``x.divide_``.
    (Set in _METHODS' loop: one more setattr on Tensor moves W4's instruction count.)"""
    if rounding_mode is None:
        return _plain(self, other)
    return self.divide_(other, rounding_mode=rounding_mode)


_METHODS = {
    # elementwise
    "exp": E.exp, "log": E.log, "sqrt": E.sqrt, "abs": E.abs, "sin": E.sin, "cos": E.cos,
    "neg": E.neg, "clamp": E.clamp, "clip": E.clamp, "maximum": E.maximum, "minimum": E.minimum,
    "add": E.add, "sub": E.sub, "mul": E.mul, "div": E.div, "pow": E.pow,
    # activations
    "tanh": A.tanh, "sigmoid": A.sigmoid, "relu": A.relu, "softmax": A.softmax,
    "log_softmax": A.log_softmax,
    # reductions
    "sum": R.sum, "mean": R.mean, "max": R.max, "min": R.min, "amax": R.amax, "amin": R.amin,
    "var": R.var, "std": R.std, "prod": R.prod, "logsumexp": R.logsumexp,
    "argmax": R.argmax, "argmin": R.argmin,
    # shape
    "reshape": S.reshape, "view": S.view, "flatten": S.flatten, "permute": S.permute,
    "transpose": S.transpose, "t": S.t, "squeeze": S.squeeze, "unsqueeze": S.unsqueeze,
    "expand": S.expand, "expand_as": S.expand_as, "broadcast_to": S.broadcast_to,
    "split": S.split, "chunk": S.chunk, "unbind": S.unbind,
    # linear algebra
    "matmul": L.matmul, "mm": L.mm, "dot": L.dot,
    "div_": _div_,  # (issue 15: rounding_mode=)
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

def _inplace_method(name, fn):
    """``x.relu_()`` and the like: ``fn`` applied in place (a node of the graph where x or an
    argument requires grad; else the array is overwritten, and its version counted)."""
    def method(self, *args, **kwargs):
        if self._in_graph(name, *args, *kwargs.values()):
            from .autograd.inplace import rebase
            return rebase(self, name, fn, *args, **kwargs)
        from .tensor import _make
        out = fn(_make(self._data, None), *args, **kwargs)
        if out._data.shape != self._data.shape:
            raise RuntimeError(f"{name}: output with shape {list(self._data.shape)} doesn't match "
                               f"the broadcast shape {list(out._data.shape)}")
        np.copyto(self._data, out._data, casting="unsafe")
        return self._changed()
    method.__name__ = name
    method.__doc__ = f"In-place version of ``{name[:-1]}``."
    return method


for _name, _fn in {"relu_": A.relu, "sigmoid_": A.sigmoid, "tanh_": A.tanh, "exp_": E.exp,
                   "log_": E.log, "sqrt_": E.sqrt, "abs_": E.abs, "neg_": E.neg, "sin_": E.sin,
                   "cos_": E.cos, "pow_": E.pow, "leaky_relu_": A.leaky_relu}.items():
    setattr(Tensor, _name, _inplace_method(_name, _fn))

Tensor.T = property(lambda self: S.permute(self, *reversed(range(self.ndim))) if self.ndim > 1 else self)
Tensor.mT = property(lambda self: S.transpose(self, -2, -1))
Tensor.view_as = lambda self, other: S.view(self, *other.shape)
Tensor.reshape_as = Tensor.view_as

# -- tensor ops: selection and indexing, sorting and logical, products --
for _name, _fn in {
        "gather": I.gather, "scatter": I.scatter, "scatter_add": I.scatter_add,
        "index_select": I.index_select, "index_add": I.index_add, "masked_fill": I.masked_fill,
        "masked_select": I.masked_select, "nonzero": I.nonzero, "argwhere": I.argwhere,
        "take_along_dim": I.take_along_dim, "tril": I.tril, "triu": I.triu,
        "where": I._tensor_where,
        "cumsum": O.cumsum, "cumprod": O.cumprod, "sort": O.sort, "argsort": O.argsort,
        "topk": O.topk, "kthvalue": O.kthvalue, "median": O.median, "mode": O.mode,
        "unique": O.unique, "all": O.all, "any": O.any, "count_nonzero": O.count_nonzero,
        "logical_and": O.logical_and, "logical_or": O.logical_or, "logical_xor": O.logical_xor,
        "logical_not": O.logical_not, "bincount": O.bincount,
        "bmm": L.bmm, "outer": L.outer, "ger": L.outer, "addmm": L.addmm,
        "baddbmm": L.baddbmm}.items():
    setattr(Tensor, _name, _fn)
for _name, _fn in {"masked_fill_": I.masked_fill, "index_add_": I.index_add,
                   "scatter_": I.scatter, "scatter_add_": I.scatter_add, "tril_": I.tril,
                   "triu_": I.triu, "cumsum_": O.cumsum, "cumprod_": O.cumprod,
                   "addmm_": L.addmm, "baddbmm_": L.baddbmm, "logical_and_": O.logical_and, "logical_or_": O.logical_or,
                   "logical_xor_": O.logical_xor, "logical_not_": O.logical_not}.items():
    setattr(Tensor, _name, _inplace_method(_name, _fn))

# -- activations (issue 15): the one of them PyTorch has as a Tensor method --
Tensor.prelu = A.prelu

# -- tensor ops: shape, math, tests, comparison, norms, creation --
_MATH = {
    "log1p": E.log1p, "expm1": E.expm1, "exp2": E.exp2, "log2": E.log2, "log10": E.log10,
    "tan": E.tan, "asin": E.asin, "acos": E.acos, "atan": E.atan, "arcsin": E.asin,
    "arccos": E.acos, "arctan": E.atan, "sinh": E.sinh, "cosh": E.cosh, "atan2": E.atan2,
    "arctan2": E.atan2, "reciprocal": E.reciprocal, "rsqrt": E.rsqrt, "square": E.square,
    "erf": E.erf, "erfinv": E.erfinv, "logit": E.logit, "lerp": E.lerp, "frac": E.frac,
    "sign": E.sign, "sgn": E.sign, "floor": E.floor, "ceil": E.ceil, "trunc": E.trunc,
    "fix": E.trunc, "round": E.round, "nan_to_num": E.nan_to_num, "clamp_min": E.clamp_min,
    "clamp_max": E.clamp_max, "logaddexp": E.logaddexp, "divide": E.div, "true_divide": E.div,
    "floor_divide": E.floor_divide,
}
for _name, _fn in {
        **_MATH, "isnan": E.isnan, "isinf": E.isinf, "isfinite": E.isfinite,
        "isposinf": E.isposinf, "isneginf": E.isneginf, "isclose": E.isclose,
        "allclose": E.allclose,
        "repeat": S.repeat, "tile": S.tile, "repeat_interleave": S.repeat_interleave,
        "flip": S.flip, "fliplr": S.fliplr, "flipud": S.flipud, "roll": S.roll,
        "narrow": S.narrow, "movedim": S.movedim, "moveaxis": S.movedim, "swapaxes": S.swapaxes,
        "swapdims": S.swapaxes, "unflatten": S.unflatten,
        "norm": N.norm,
        "new_tensor": C.new_tensor, "new_zeros": C.new_zeros, "new_ones": C.new_ones,
        "new_empty": C.new_empty, "new_full": C.new_full}.items():
    setattr(Tensor, _name, _fn)
for _name, _fn in _MATH.items():  # x.floor_(), x.lerp_(end, 0.5), ... (no logaddexp_ in PyTorch)
    if _name != "logaddexp":
        setattr(Tensor, _name + "_", _inplace_method(_name + "_", _fn))
Tensor.type_as = lambda self, other: self.to(other.dtype)


def softmax(input, dim=None, dtype=None, *, axis=None):
    """``torch.softmax`` and ``Tensor.softmax``: NumPy's ``axis=`` for ``dim=`` too."""
    return A.softmax(input, dim if axis is None else axis, dtype)


def log_softmax(input, dim=None, dtype=None, *, axis=None):
    return A.log_softmax(input, dim if axis is None else axis, dtype)


Tensor.softmax, Tensor.log_softmax = softmax, log_softmax


def _explain(self, *args, **kwargs):
    from .viz import explain
    return explain(self, *args, **kwargs)


Tensor.explain = _explain


def _multinomial(self, num_samples, replacement=False, *, generator=None):
    from .creation import multinomial
    return multinomial(self, num_samples, replacement, generator=generator)


Tensor.multinomial = _multinomial
