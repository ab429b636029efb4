"""Elementwise ops: arithmetic and math functions. Broadcasting is undone by the engine.

Each backward is written in operations that NumPy arrays and Tensors share, so that the same line
computes a gradient (on arrays) or records it as a graph (on Tensors, for ``create_graph=True``).
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..dtypes import _ARRAY_OUT, HALF, ONE, _Default

_ndarray = np.ndarray
_multiply = np.multiply


class Add(Function):
    """y = a + b;  dL/da = dL/dy,  dL/db = dL/dy"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output


class Sub(Function):
    """y = a - b;  dL/da = dL/dy,  dL/db = -dL/dy  (one node instead of add + neg: half the cost)"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, (-grad_output if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b;  dL/da = dL/dy * b,  dL/db = dL/dy * a"""

    needed_by = (1, 0)  # a serves b's gradient, b serves a's (see Function.needed_by)

    @staticmethod
    def forward(ctx, a, b):
        ctx.saved = (a, b)
        if type(a) is _ndarray is type(b):
            return a * b
        # a Python number: out=... (NumPy >= 2.3) keeps a 0-d result an array (2.0 * loss)
        return _multiply(a, b, out=_ARRAY_OUT)

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            ga = grad_output * b if type(b) is _ndarray else _multiply(grad_output, b, out=_ARRAY_OUT)
        if need[1]:
            gb = grad_output * a if type(a) is _ndarray else _multiply(grad_output, a, out=_ARRAY_OUT)
        return ga, gb


class Div(Function):
    """y = a / b;  dL/da = dL/dy / b,  dL/db = -dL/dy * a / b²"""

    needed_by = (1, None)

    @staticmethod
    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        ga = grad_output / b if need[0] else None
        gb = -grad_output * (a / b) / b if need[1] else None
        return ga, gb


class Pow(Function):
    """y = a ** b;  dL/da = dL/dy * b * a**(b-1),  dL/db = dL/dy * y * log(a)"""

    op = "pow"
    needed_by = (None, 0, 1)

    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.saved = (a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        a, b, y = ctx.saved
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            if isinstance(b, (int, float)):  # a constant exponent, the common case
                if b == 2:
                    ga = grad_output * (a + a)  # a + a: no Python number for NumPy to convert
                else:  # b = 0: the gradient is 0 everywhere, also at a = 0 (PyTorch's rule)
                    ga = grad_output * (b * a ** (b - 1)) if b else grad_output * 0
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = grad_output * np.where(b == 0, 0, b * a ** (b - 1))
        if need[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                # 0 ** b has gradient 0 wrt b (PyTorch's convention), not nan
                gb = grad_output * np.where(a == 0, 0, y * np.log(np.where(a == 0, 1, a)))
        return ga, gb


class Remainder(Function):
    """y = a - b * floor(a / b) (the sign of b, as Python's %);  dL/da = dL/dy,
    dL/db = -dL/dy * floor(a / b)"""

    needed_by = (1, 1)

    @staticmethod
    def forward(ctx, a, b):
        if _integral(a) and _integral(b) and not np.all(b):
            raise _ZeroDivision("remainder: ZeroDivisionError (integer remainder by zero)")
        ctx.saved = (a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        need = ctx.needs_input_grad
        if not need[1]:
            return grad_output, None
        a, b = ctx.saved
        return (grad_output if need[0] else None), -grad_output * np.floor_divide(a, b)


class Neg(Function):
    """y = -x;  dL/dx = -dL/dy"""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad_output):
        return -grad_output


class Exp(Function):
    """y = exp(x);  dL/dx = dL/dy * y"""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * y


class Log(Function):
    """y = log(x);  dL/dx = dL/dy / x"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, log(-1) = nan
            return np.log(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad_output / x


class Sqrt(Function):
    """y = sqrt(x);  dL/dx = dL/dy / (2 y)"""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        with np.errstate(divide="ignore"):
            return grad_output / (2 * y)


class Abs(Function):
    """y = |x|;  dL/dx = dL/dy * sign(x)   (0 at x = 0 and at NaN, as PyTorch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * ((x > 0) * ONE[grad_output.dtype] - (x < 0))


class Sin(Function):
    """y = sin(x);  dL/dx = dL/dy * cos(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * np.cos(x)


class Cos(Function):
    """y = cos(x);  dL/dx = -dL/dy * sin(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return -grad_output * np.sin(x)


class Clamp(Function):
    """y = min(max(x, lo), hi);  dL/dx = dL/dy where lo <= x <= hi, else 0 (PyTorch's rule)"""

    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        if lo is None and hi is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        ctx.saved = (x, lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad_output):
        x, lo, hi = ctx.saved
        if lo is None:
            keep = x <= hi
        elif hi is None:
            keep = x >= lo
        else:
            keep = (x >= lo) & (x <= hi)
        return grad_output * keep, None, None


class Maximum(Function):
    """y = max(a, b);  the gradient goes to the larger input, split in half on ties (PyTorch)"""

    pick, beats = staticmethod(np.maximum), staticmethod(np.greater)

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.saved = (a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx, grad_output):
        a, b = ctx.saved
        half = HALF[grad_output.dtype]
        need = ctx.needs_input_grad
        tie = a == b
        # each input's share: 1/2 on a tie, 0 where the other beats it, else 1 (NaN: both, as
        # PyTorch)
        return (grad_output * np.where(tie, half, ~cls.beats(b, a)) if need[0] else None,
                grad_output * np.where(tie, half, ~cls.beats(a, b)) if need[1] else None)


class Minimum(Maximum):
    """y = min(a, b);  the gradient goes to the smaller input, split in half on ties (PyTorch)"""

    pick, beats = staticmethod(np.minimum), staticmethod(np.less)


class LogAddExp(Function):
    """y = log(exp(a) + exp(b));  dL/da = dL/dy * exp(a - y),  dL/db = dL/dy * exp(b - y)"""

    op = "logaddexp"

    @staticmethod
    def forward(ctx, a, b):
        y = np.logaddexp(a, b)
        ctx.saved = (a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        a, b, y = ctx.saved
        need = ctx.needs_input_grad
        return (grad_output * np.exp(a - y) if need[0] else None,
                grad_output * np.exp(b - y) if need[1] else None)


class Erf(Function):
    """y = erf(x);  dL/dx = dL/dy * 2/√π * exp(-x²)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return _erf_values(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * (_TWO_OVER_SQRT_PI * np.exp(-(x * x)))


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


class Where(Function):
    """y = cond ? a : b;  dL/da = dL/dy where cond, dL/db = dL/dy elsewhere"""

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.saved = (cond,)
        out = np.where(cond, a, b)
        dt = np.result_type(a, b)
        return out if out.dtype == dt else out.astype(dt)

    @staticmethod
    def backward(ctx, grad_output):
        (cond,) = ctx.saved
        zero = np.zeros((), grad_output.dtype)
        need = ctx.needs_input_grad
        return (None, np.where(cond, grad_output, zero) if need[1] else None,
                np.where(cond, zero, grad_output) if need[2] else None)


class _ZeroDivision(RuntimeError, ZeroDivisionError):
    """Integer division or remainder by zero: PyTorch raises a RuntimeError, Python a
    ZeroDivisionError; this is both, so either ``except`` catches it."""


def _integral(v) -> bool:
    return np.asarray(v).dtype.kind in "iub"


# -- snake_case functions ---------------------------------------------------------------------

def add(a, b, alpha=1):
    return a + (b if alpha == 1 else b * alpha)


def sub(a, b, alpha=1):
    return a - (b if alpha == 1 else b * alpha)


def mul(a, b):
    return a * b


def div(a, b):
    return a / b


def pow(a, b):
    return a ** b


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def sin(x):
    return Sin.apply(x)


def cos(x):
    return Cos.apply(x)


def clamp(x, min=None, max=None):
    return Clamp.apply(x, _scalar(min), _scalar(max))


clip = clamp


def logaddexp(a, b):
    return LogAddExp.apply(*_tensors(a, b))


def erf(x):
    return Erf.apply(x)


def maximum(a, b):
    return Maximum.apply(*_tensors(a, b))


def minimum(a, b):
    return Minimum.apply(*_tensors(a, b))


def where(condition, x, y):
    """``x`` where ``condition`` else ``y``, differentiable in ``x`` and ``y``."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    return Where.apply(cond, _operand(x), _operand(y))


def _scalar(v):
    return v.data if isinstance(v, Tensor) else v


def _tensors(a, b):
    return _operand(a), _operand(b)


def _erf_values(x: np.ndarray) -> np.ndarray:
    """The error function on arrays (SciPy's where installed, else math.erf element by element)."""
    try:
        from scipy.special import erf as _erf
    except ImportError:  # pragma: no cover - scipy is optional
        _erf = np.frompyfunc(math.erf, 1, 1)
    x = np.asarray(x)
    return np.asarray(_erf(x), dtype=x.dtype if x.dtype.kind == "f" else _Default.dtype)


from ..tensor import Tensor, _operand  # noqa: E402
