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

    number_operand = "any"  # (what grad_fn.next_functions shows for x + 2: see Function)

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output


class Sub(Function):
    """y = a - b;  dL/da = dL/dy,  dL/db = -dL/dy  (one node instead of add + neg: half the cost)"""

    number_operand = "second"

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, (-grad_output if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b;  dL/da = dL/dy * b,  dL/db = dL/dy * a"""

    needed_by = (1, 0)  # a serves b's gradient, b serves a's (see Function.needed_by)
    number_operand = "any"

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
    number_operand = "second"

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
    """y = min(max(x, lo), hi);  dL/dx = dL/dy where lo <= x <= hi, else 0; a tensor bound gets
    dL/dy where it is the result: lo where x < lo < hi, hi where x > hi or hi < lo (PyTorch's
    rule)"""

    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        if lo is None and hi is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        ctx.saved = (x, lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad_output):
        x, lo, hi = ctx.saved
        need = ctx.needs_input_grad
        if lo is None:
            keep = x <= hi
        elif hi is None:
            keep = x >= lo
        else:
            keep = (x >= lo) & (x <= hi)
        glo = ghi = None
        if need[1]:
            glo = grad_output * ((x < lo) if hi is None else (x < lo) & (lo < hi))
        if need[2]:
            ghi = grad_output * ((x > hi) if lo is None else (x > hi) | (hi < lo))
        return (grad_output * keep if need[0] else None), glo, ghi


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


# -- more math: PyTorch's torch.* functions, each with PyTorch's derivative --------------------

class Log1p(Function):
    """y = log(1 + x);  dL/dx = dL/dy / (1 + x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad_output / (x + 1)


class Expm1(Function):
    """y = exp(x) - 1;  dL/dx = dL/dy * (y + 1)"""

    @staticmethod
    def forward(ctx, x):
        y = np.expm1(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (y + 1)


class Exp2(Function):
    """y = 2**x;  dL/dx = dL/dy * y * ln 2"""

    @staticmethod
    def forward(ctx, x):
        y = np.exp2(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (y * _LN2)


class Log2(Function):
    """y = log2(x);  dL/dx = dL/dy / (x ln 2)"""

    fn, ln = staticmethod(np.log2), math.log(2)

    @classmethod
    def forward(cls, ctx, x):
        ctx.saved = (x,)
        with np.errstate(divide="ignore", invalid="ignore"):
            return cls.fn(x)

    @classmethod
    def backward(cls, ctx, grad_output):
        (x,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad_output / (x * cls.ln)


class Log10(Log2):
    """y = log10(x);  dL/dx = dL/dy / (x ln 10)"""

    fn, ln = staticmethod(np.log10), math.log(10)


class Tan(Function):
    """y = tan(x);  dL/dx = dL/dy * (1 + y²)"""

    @staticmethod
    def forward(ctx, x):
        y = np.tan(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (y * y + 1)


class Asin(Function):
    """y = asin(x);  dL/dx = dL/dy / √(1 - x²)"""

    sign = 1

    @classmethod
    def forward(cls, ctx, x):
        ctx.saved = (x,)
        with np.errstate(invalid="ignore"):
            return np.arcsin(x) if cls.sign > 0 else np.arccos(x)

    @classmethod
    def backward(cls, ctx, grad_output):
        (x,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            g = grad_output / np.sqrt(1 - x * x)
        return g if cls.sign > 0 else -g


class Acos(Asin):
    """y = acos(x);  dL/dx = -dL/dy / √(1 - x²)"""

    sign = -1


class Atan(Function):
    """y = atan(x);  dL/dx = dL/dy / (1 + x²)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.arctan(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output / (x * x + 1)


class Sinh(Function):
    """y = sinh(x);  dL/dx = dL/dy * cosh(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.sinh(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * Cosh.call(x)


class Cosh(Function):
    """y = cosh(x);  dL/dx = dL/dy * sinh(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.cosh(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * Sinh.call(x)


class Atan2(Function):
    """y = atan2(a, b) (the angle of the point (b, a));  dL/da = dL/dy * b / (a² + b²),
    dL/db = -dL/dy * a / (a² + b²)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = grad_output / (a * a + b * b)
        return (scale * b if need[0] else None), (-scale * a if need[1] else None)


class Reciprocal(Function):
    """y = 1 / x;  dL/dx = -dL/dy * y²"""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(divide="ignore"):
            y = 1 / x if x.dtype.kind == "f" else np.divide(1.0, x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return -grad_output * (y * y)


class Rsqrt(Function):
    """y = 1 / √x;  dL/dx = -dL/dy * y³ / 2"""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            y = 1 / np.sqrt(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (y * y * y) * -0.5


class Erfinv(Function):
    """y = erf⁻¹(x) on (-1, 1);  dL/dx = dL/dy * √π/2 * exp(y²)"""

    @staticmethod
    def forward(ctx, x):
        y = _erfinv_values(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (_SQRT_PI_OVER_2 * np.exp(y * y))


class Logit(Function):
    """y = log(x / (1 - x)), x first clamped to [eps, 1 - eps] if eps is given;
    dL/dx = dL/dy / (x (1 - x)), 0 outside [eps, 1 - eps] (NaN outside [0, 1] without eps)"""

    @staticmethod
    def forward(ctx, x, eps=None):
        ctx.saved = (x,)
        ctx.eps = eps
        z = x if eps is None else np.clip(x, eps, 1 - eps)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(z / (1 - z))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        eps = ctx.eps
        lo, hi, fill = (0, 1, math.nan) if eps is None else (eps, 1 - eps, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = grad_output / (x * (1 - x))
        return np.where((x < lo) | (x > hi), fill, g), None


class Lerp(Function):
    """y = start + weight (end - start);  dL/dstart = dL/dy (1 - weight),
    dL/dend = dL/dy weight,  dL/dweight = dL/dy (end - start)"""

    needed_by = (2, 2, None)  # start and end serve weight's gradient; weight the others

    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.saved = (start, end, weight)
        step = end - start
        # PyTorch's two-sided formula: exact at weight = 0 and at weight = 1
        return np.where(np.abs(weight) < 0.5, start + weight * step, end - step * (1 - weight))

    @staticmethod
    def backward(ctx, grad_output):
        start, end, weight = ctx.saved
        need = ctx.needs_input_grad
        return (grad_output * (1 - weight) if need[0] else None,
                grad_output * weight if need[1] else None,
                grad_output * (end - start) if need[2] else None)


class Frac(Function):
    """y = x - trunc(x) (the sign of x);  dL/dx = dL/dy"""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):  # frac(±inf) is NaN, quietly, as PyTorch
            return x - np.trunc(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class NanToNum(Function):
    """y = x with NaN, +inf and -inf replaced;  dL/dx = dL/dy where x is finite, else 0"""

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        ctx.saved = (x,)
        with np.errstate(over="ignore"):  # a replacement beyond the dtype's range: inf
            return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * np.isfinite(x), None, None, None


class Floor(Function):
    """y = floor(x);  dL/dx = 0 (piecewise constant: PyTorch's zero gradient)"""

    @classmethod
    def forward(cls, ctx, x, *options):
        if x.dtype.kind == "b" or (x.dtype.kind in "iu" and cls is not Sign):
            return x.copy()  # already whole numbers: the integer tensor, as PyTorch
        return cls.round(x, *options)

    @staticmethod
    def backward(ctx, grad_output):
        return (_zeros(grad_output),) + (None,) * (len(ctx.inputs) - 1)

    round = staticmethod(np.floor)


class Ceil(Floor):
    """y = ceil(x);  dL/dx = 0"""

    round = staticmethod(np.ceil)


class Trunc(Floor):
    """y = trunc(x) (towards 0);  dL/dx = 0"""

    round = staticmethod(np.trunc)


class Round(Floor):
    """y = x rounded to ``decimals`` places, half to even;  dL/dx = 0"""

    round = staticmethod(np.round)


class Sign(Floor):
    """y = sign(x) (-1, 0 or 1; 0 at NaN, as PyTorch);  dL/dx = 0"""

    @staticmethod
    def round(x):
        return np.nan_to_num(np.sign(x), nan=0.0)


class DivRounding(Function):
    """y = a / b rounded towards 0 ("trunc") or down ("floor");  dL/da = dL/db = 0, as PyTorch"""

    op = "div"

    @staticmethod
    def forward(ctx, a, b, rounding_mode):
        if _integral(a) and _integral(b):
            if not np.all(b):
                raise _ZeroDivision("div: ZeroDivisionError (integer division by zero)")
            q = np.floor_divide(a, b)
            if rounding_mode == "trunc":  # floor, then one up where the exact quotient was < 0
                q = q + ((np.remainder(a, b) != 0) & ((np.asarray(a) < 0) != (np.asarray(b) < 0)))
            return q
        with np.errstate(divide="ignore", invalid="ignore"):
            if rounding_mode == "trunc":
                return np.trunc(np.true_divide(a, b))
            return np.floor_divide(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        need = ctx.needs_input_grad
        return (_zeros(grad_output) if need[0] else None,
                _zeros(grad_output) if need[1] else None, None)


def _zeros(grad_output):
    """A zero gradient, outside any graph (PyTorch's zeros_like for a piecewise-constant op)."""
    return np.zeros(grad_output.shape, grad_output.dtype)


_LN2 = math.log(2)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2


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


def div(a, b, *, rounding_mode=None):
    """a / b; ``rounding_mode="trunc"`` rounds the quotient towards 0, ``"floor"`` down (integer
    inputs stay integer), with a zero gradient, as PyTorch."""
    if rounding_mode is None:
        return a / b
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                           f"found {rounding_mode!r}")
    return DivRounding.apply(*_tensors(a, b), rounding_mode)


divide = true_divide = div


def floor_divide(a, b):
    """a / b rounded down (PyTorch's floor_divide; no gradient through it, as PyTorch)."""
    return _operand(a) // b


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
    """min(max(x, min), max); ``min`` and ``max`` are numbers or tensors (broadcast against x),
    and tensor bounds get gradients where they are the result, as PyTorch."""
    return Clamp.apply(x, _bound(min), _bound(max))


clip = clamp


def clamp_min(x, min):
    return clamp(x, min=min)


def clamp_max(x, max):
    return clamp(x, max=max)


def _bound(v):
    """A clamp bound: a number or a tensor (kept, so that it can get a gradient), else an array."""
    if v is None or isinstance(v, (Tensor, int, float)):
        return v
    return np.asarray(v)


def logaddexp(a, b):
    _floating("logaddexp", a, b)
    return LogAddExp.apply(*_tensors(a, b))


def erf(x):
    return Erf.apply(x)


def maximum(a, b):
    return Maximum.apply(*_tensors(a, b))


def minimum(a, b):
    return Minimum.apply(*_tensors(a, b))


def log1p(x):
    return Log1p.apply(x)


def expm1(x):
    return Expm1.apply(x)


def exp2(x):
    return Exp2.apply(x)


def log2(x):
    return Log2.apply(x)


def log10(x):
    return Log10.apply(x)


def tan(x):
    return Tan.apply(x)


def asin(x):
    return Asin.apply(x)


def acos(x):
    return Acos.apply(x)


def atan(x):
    return Atan.apply(x)


def sinh(x):
    return Sinh.apply(x)


def cosh(x):
    return Cosh.apply(x)


def atan2(input, other):
    return Atan2.apply(*_tensors(input, other))


arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2


def reciprocal(x):
    return Reciprocal.apply(x)


def rsqrt(x):
    return Rsqrt.apply(x)


def square(x):
    """x ** 2 (one ``pow`` node, as PyTorch; a bool tensor gives int64, as PyTorch)."""
    return (x.long() if x.dtype.kind == "b" else x) ** 2


def erfinv(x):
    return Erfinv.apply(x)


def logit(x, eps=None):
    """log(x / (1 - x)); with ``eps``, x is first clamped to [eps, 1 - eps]."""
    return Logit.apply(x, eps)


def lerp(input, end, weight):
    """input + weight * (end - input); ``weight`` a number or a tensor (then it gets a gradient)."""
    _floating("lerp", input, end, weight)
    for name, t in (("end", end), ("weight", weight)):
        if isinstance(t, Tensor) and t.dtype != input.dtype and (name == "end" or t.ndim):
            raise RuntimeError(f"lerp: expected dtype {input.dtype} for `{name}` but got dtype "
                               f"{t.dtype}; convert it with .to(input.dtype)")
    return Lerp.apply(input, end, _operand(weight))


def frac(x):
    _floating("frac", x)
    return Frac.apply(x)


def sign(x):
    return Sign.apply(x)


sgn = sign


def floor(x):
    return Floor.apply(x)


def ceil(x):
    return Ceil.apply(x)


def trunc(x):
    return Trunc.apply(x)


fix = trunc


def round(x, *, decimals: int = 0):
    """x rounded half to even (``decimals``: places after the point; negative: before it)."""
    if not decimals:
        return Round.apply(x)
    _floating("round with decimals", x)
    return Round.apply(x, decimals)


def _floating(op, *values):
    """PyTorch's NotImplementedError for an op it has no integer kernel for."""
    for v in values:
        if isinstance(v, Tensor) and v.dtype.kind in "biu":
            raise NotImplementedError(f"{op}: not implemented for integer or bool tensors (got "
                                      f"{v.dtype}); convert with .float() first")


# -- tests and comparisons: no gradient ----------------------------------------------------------

def nan_to_num(x, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (by default the dtype's largest and
    smallest finite numbers); the gradient passes where x is finite, as PyTorch."""
    return NanToNum.apply(x, nan, posinf, neginf)


def isnan(x):
    return _make(np.isnan(x._data), None)


def isinf(x):
    return _make(np.isinf(x._data), None)


def isposinf(x):
    return _make(np.isposinf(x._data), None)


def isneginf(x):
    return _make(np.isneginf(x._data), None)


def isfinite(x):
    return _make(np.isfinite(x._data), None)


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """|input - other| <= atol + rtol * |other| elementwise (a bool tensor), as PyTorch: both
    tensors of one dtype; infinities are close only to themselves, NaNs with ``equal_nan``."""
    a, b = _same_dtype("isclose", input, other)
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: {'rtol' if rtol < 0 else 'atol'} must be greater than or "
                           f"equal to zero, but got {rtol if rtol < 0 else atol}")
    try:
        return _make(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan), None)
    except ValueError:
        raise RuntimeError(f"isclose: cannot broadcast {a.shape} with {b.shape}") from None


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True if every element of ``input`` is close to ``other``'s (see ``isclose``)."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def equal(input, other) -> bool:
    """True if both tensors have the same shape and the same values (NaN is never equal)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"equal(): argument 'other' must be Tensor, not {type(other).__name__}")
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def _same_dtype(op, input, other):
    for name, t in (("input", input), ("other", other)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    a, b = input._data, other._data
    if a.dtype != b.dtype:
        raise RuntimeError(f"{op}: {a.dtype} did not match {b.dtype} (the two tensors must have "
                           f"the same dtype: convert one with .to(other.dtype))")
    return a, b


def where(condition, x, y):
    """``x`` where ``condition`` else ``y``, differentiable in ``x`` and ``y``."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    return Where.apply(cond, _operand(x), _operand(y))


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


def _erfinv_values(x: np.ndarray) -> np.ndarray:
    """The inverse error function on arrays (SciPy's where installed, else Newton's method on
    ``_erf_values`` from Winitzki's approximation)."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else _Default.dtype
    try:
        from scipy.special import erfinv as _erfinv
        return np.asarray(_erfinv(x), dtype=dtype)
    except ImportError:  # pragma: no cover - scipy is optional
        pass
    v = x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = np.log((1 - v) * (1 + v))
        c = 2 / (np.pi * 0.147) + ln / 2
        y = np.sign(v) * np.sqrt(np.sqrt(c * c - ln / 0.147) - c)
        for _ in range(4):  # quadratic convergence from ~2e-3
            y = np.where(np.isfinite(y), y - (_erf_values(y) - v) / (_TWO_OVER_SQRT_PI * np.exp(-y * y)), y)
    return y.astype(dtype)


from ..tensor import Tensor, _make, _operand  # noqa: E402
