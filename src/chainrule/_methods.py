"""Tensor methods that call the ops (``x.exp()``, ``x.sum(dim)``, ...), attached in one place."""

from __future__ import annotations

import numpy as np

from .ops import activation as A
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .tensor import Tensor

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
        out = fn(_make(self.data, None), *args, **kwargs)
        np.copyto(self.data, out.data, casting="unsafe")
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


def _explain(self, *args, **kwargs):
    from .viz import explain
    return explain(self, *args, **kwargs)


Tensor.explain = _explain
