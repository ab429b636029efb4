"""Activations and the softmax family."""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..dtypes import ONE, ZERO
from ._pool import _OUTPUTS_FROM, _empty_like
from .elementwise import Erf, _erf_values
from .nn import dtype_error, torch_name


class Tanh(Function):
    """y = tanh(x);  dL/dx = dL/dy * (1 - y**2)"""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (ONE[y.dtype] - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dL/dx = dL/dy * y * (1 - y)"""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(-np.logaddexp(ZERO[x.dtype], -x))  # no overflow for large |x|
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * y * (ONE[y.dtype] - y)


class ReLU(Function):
    """y = max(x, 0);  dL/dx = dL/dy where y != 0, else 0  (y is never negative: y != 0 is x > 0,
    and also NaN, where PyTorch passes the gradient on)"""

    op = "relu"

    @staticmethod
    def forward(ctx, x):
        if x.nbytes >= _OUTPUTS_FROM and x.dtype.kind == "f" and x.dtype.isnative:  # see _pool
            y = np.maximum(x, 0, out=_empty_like(x))
        else:
            y = np.maximum(x, 0)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (y != 0)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  dL/dx = dL/dy * (1 if x > 0 else slope)"""

    op = "leaky_relu"

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.saved = (x, negative_slope)
        return np.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        x, slope = ctx.saved
        return np.where(x > 0, grad_output, grad_output * slope), None


class GELU(Function):
    """y = x * Φ(x) (Φ the normal CDF; ``approximate='tanh'`` for the tanh form);
    dL/dx = dL/dy * (Φ(x) + x φ(x))"""

    op = "gelu"

    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.saved = (x, approximate)
        if approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(_K * (x + 0.044715 * x ** 3)))
        if approximate != "none":
            raise RuntimeError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return x * (0.5 * (1 + _erf_values(x * _INV_SQRT2)))

    @staticmethod
    def backward(ctx, grad_output):
        x, approximate = ctx.saved
        if approximate == "tanh":
            t = np.tanh(_K * (x + 0.044715 * x ** 3))
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_K * (1 + 3 * 0.044715 * x * x))
        else:
            d = 0.5 * (1 + Erf.call(x * _INV_SQRT2)) + x * (np.exp(-0.5 * x * x) * _INV_SQRT_2PI)
        return grad_output * d, None


_K = math.sqrt(2 / math.pi)
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max));  dL/dx = y * (dL/dy - sum(dL/dy * y))"""

    @staticmethod
    def forward(ctx, x, dim):
        e = np.exp(x - x.max(axis=dim, keepdims=True, initial=-np.inf))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.saved, ctx.dim = (y,), dim
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,), dim = ctx.saved, ctx.dim
        return y * (grad_output - (grad_output * y).sum(axis=dim, keepdims=True)), None


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max)));  dL/dx = dL/dy - softmax(x) * sum(dL/dy)"""

    op = "log_softmax"

    @staticmethod
    def forward(ctx, x, dim):
        shifted = x - x.max(axis=dim, keepdims=True, initial=-np.inf)
        y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.saved, ctx.dim = (y,), dim
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,), dim = ctx.saved, ctx.dim
        return grad_output - np.exp(y) * grad_output.sum(axis=dim, keepdims=True), None


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(x, negative_slope)


def gelu(x, approximate: str = "none"):
    return GELU.apply(x, approximate)


def softmax(x, dim: int | None = None, dtype=None):
    """softmax along ``dim``, shifted by the max so that large inputs do not overflow."""
    x = x.to(dtype) if dtype is not None else x
    return Softmax.apply(x, _softmax_dim(x, dim, "softmax"))


def log_softmax(x, dim: int | None = None, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably (log-sum-exp with the max shifted out)."""
    x = x.to(dtype) if dtype is not None else x
    return LogSoftmax.apply(x, _softmax_dim(x, dim, "log_softmax"))


def _softmax_dim(x, dim, op):
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    nd = max(x.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {x.ndim} dimensions")
    return dim % nd if x.ndim else None


# -- PyTorch's other activations: the ELU family, the smooth and the hard ones, PReLU, GLU --------

class ELU(Function):
    """y = s·x where x > 0, else s·α·(exp(c·x) - 1)  (ELU: s = c = 1; SELU: PyTorch's s and α;
    CELU: s = 1, c = 1/α);  dL/dx = dL/dy · (s where x > 0, else s·α·c·exp(c·x))"""

    op = "elu"

    @staticmethod
    def forward(ctx, x, alpha=1.0, scale=1.0, input_scale=1.0):
        ctx.saved = (x,)
        ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
        neg = np.expm1(np.minimum(x, 0) * input_scale) * (alpha * scale)
        return np.where(x > 0, x * scale, neg)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        s, c = ctx.scale, ctx.input_scale
        # exp of the negative part only: exp(x) of a large x would overflow in the unused branch
        # (and 0 · inf is NaN in a recorded backward)
        neg = np.exp(np.where(x > 0, 0, x) * c) * (s * ctx.alpha * c)
        return np.where(x > 0, grad_output * s, grad_output * neg)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Softplus(Function):
    """y = log(1 + exp(β x)) / β, and x where β x > threshold;
    dL/dx = dL/dy · σ(β x)  (dL/dy where β x > threshold)"""

    op = "softplus"

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        ctx.saved = (x,)
        ctx.beta, ctx.threshold = beta, threshold
        bx = x * beta
        return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        bx = x * ctx.beta
        return np.where(bx > ctx.threshold, grad_output, grad_output * Sigmoid.call(bx))


class LogSigmoid(Function):
    """y = log σ(x) = -log(1 + exp(-x));  dL/dx = dL/dy · σ(-x)"""

    op = "logsigmoid"

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return -np.logaddexp(0, -x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * Sigmoid.call(-x)


class SiLU(Function):
    """y = x σ(x);  dL/dx = dL/dy · σ(x) (1 + x (1 - σ(x)))"""

    op = "silu"

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return x * Sigmoid.call(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        s = Sigmoid.call(x)
        return grad_output * (s * (1 + x * (1 - s)))


class Mish(Function):
    """y = x tanh(softplus(x));  dL/dx = dL/dy · (t + x σ(x) (1 - t²)),  t = tanh(softplus(x))"""

    op = "mish"

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return x * np.tanh(np.logaddexp(0, x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        t = np.tanh(np.logaddexp(0, x))
        return grad_output * (t + x * Sigmoid.call(x) * (1 - t * t))


class Softsign(Function):
    """y = x / (1 + |x|);  dL/dx = dL/dy / (1 + |x|)²"""

    op = "softsign"

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return x / (np.abs(x) + 1)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        d = np.abs(x) + 1
        return grad_output / (d * d)


class Hardtanh(Function):
    """y = min(max(x, min_val), max_val);  dL/dx = dL/dy where min_val < x < max_val, else 0
    (0 at both kinks, as PyTorch; ReLU6 is hardtanh(x, 0, 6))"""

    op = "hardtanh"

    @staticmethod
    def forward(ctx, x, min_val=-1.0, max_val=1.0):
        ctx.saved = (x,)
        ctx.min_val, ctx.max_val = min_val, max_val
        y = np.clip(x, min_val, max_val)
        return y if y.dtype == x.dtype else y.astype(x.dtype)  # integers stay integers

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * np.logical_and(x > ctx.min_val, x < ctx.max_val)


class Hardswish(Function):
    """y = x · min(max(x + 3, 0), 6) / 6;  dL/dx = dL/dy · (0 where x <= -3, 1 where x >= 3,
    else x/3 + 1/2)  (PyTorch's values at the kinks)"""

    op = "hardswish"

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return x * np.clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return np.where(x <= -3, 0, np.where(x < 3, grad_output * (x / 3 + 0.5), grad_output))


# PyTorch's hardsigmoid backward multiplies by the float32 constant 1/6, in float64 too
_ONE_SIXTH = float(np.float32(1) / np.float32(6))


class Hardsigmoid(Function):
    """y = min(max(x + 3, 0), 6) / 6;  dL/dx = dL/dy / 6 where -3 < x < 3, else 0"""

    op = "hardsigmoid"

    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * np.logical_and(x > -3, x < 3) * _ONE_SIXTH


class Threshold(Function):
    """y = x where x > threshold, else value;  dL/dx = dL/dy where x > threshold, else 0"""

    op = "threshold"

    @staticmethod
    def forward(ctx, x, threshold, value):
        ctx.saved = (x,)
        ctx.threshold = threshold
        y = np.where(x > threshold, x, value)
        return y if y.dtype == x.dtype else y.astype(x.dtype)  # integers stay integers

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * (x > ctx.threshold)


class PReLU(Function):
    """y = x where x > 0, else w x  (w: one weight, or one per channel, axis 1);
    dL/dx = dL/dy · (1 where x > 0, else w),  dL/dw = Σ dL/dy · x where x <= 0"""

    op = "prelu"
    needed_by = (None, 0)  # x serves both gradients, the weight only x's

    @staticmethod
    def forward(ctx, x, weight):
        if weight.size == 1:  # one weight for every element (a 0-d view broadcasts anywhere)
            ctx.shape, ctx.axes = (), None
        else:  # one per channel: (1, C, 1, ...), and its gradient sums every axis but 1
            ctx.shape = (1, weight.size) + (1,) * (x.ndim - 2)
            ctx.axes = (0,) + tuple(range(2, x.ndim))
        ctx.saved = (x, weight)
        return np.where(x > 0, x, x * weight.reshape(ctx.shape))

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved
        need = ctx.needs_input_grad
        grad_x = grad_w = None
        if need[0]:
            grad_x = np.where(x > 0, grad_output, grad_output * weight.reshape(ctx.shape))
        if need[1]:
            grad_w = np.where(x > 0, 0, grad_output * x).sum(axis=ctx.axes).reshape(weight.shape)
        return grad_x, grad_w


class GLU(Function):
    """y = a σ(b), a and b the halves of x along ``dim``;
    dL/da = dL/dy · σ(b),  dL/db = dL/dy · a σ(b) (1 - σ(b))"""

    op = "glu"

    @staticmethod
    def forward(ctx, x, dim=-1):
        dim %= x.ndim
        half = x.shape[dim] // 2
        ctx.saved = (x,)
        ctx.dim = dim
        ctx.halves = ((slice(None),) * dim + (slice(0, half),),
                      (slice(None),) * dim + (slice(half, None),))
        return x[ctx.halves[0]] * Sigmoid.call(x[ctx.halves[1]])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        a, s = x[ctx.halves[0]], Sigmoid.call(x[ctx.halves[1]])
        grad_a = grad_output * s
        return np.concatenate([grad_a, grad_a * a * (1 - s)], axis=ctx.dim)


# -- their functions, with PyTorch's signatures (``nn.functional`` takes them as they are) -------

_KERNELS = {"selu": "elu_cpu", "celu": "elu_cpu", "logsigmoid": "log_sigmoid_cpu",
            "softmin": "softmax_lastdim_kernel_impl", "huber_loss": "huber_cpu",
            "smooth_l1_loss": "smooth_l1_cpu", "multilabel_soft_margin_loss": "log_sigmoid_cpu",
            "multi_margin_loss": "multi_margin_loss_cpu_kernel"}  # PyTorch's, named in its errors


def _floating(op, input):
    """PyTorch's error for an integer input to an op defined on floats only."""
    if input.dtype.kind not in "fc":
        kernel = _KERNELS.get(op, f"{op}_cpu")
        raise NotImplementedError(f'{op}: "{kernel}" not implemented for '
                                  f"'{torch_name(input.dtype)}' ({input.dtype} input of shape "
                                  f"{tuple(input.shape)}); convert the input with .float()")


def _in_place(name, fn, input, *args):
    """``fn(input, *args)`` written into ``input`` (``inplace=True``), recorded as ``x.relu_()``."""
    from .._methods import _inplace_method  # (_methods imports this module)
    return _inplace_method(name, fn)(input, *args)


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0, else α (exp(x) - 1)."""
    _floating("elu", input)
    if inplace:
        return elu_(input, alpha)
    return ELU.apply(input, alpha=alpha)


def elu_(input, alpha: float = 1.0):
    return _in_place("elu_", elu, input, alpha)


def selu(input, inplace: bool = False):
    """scale · elu(x, α) with PyTorch's constants (scale ≈ 1.0507, α ≈ 1.6733)."""
    _floating("selu", input)
    if inplace:
        return selu_(input)
    return ELU.apply(input, alpha=SELU_ALPHA, scale=SELU_SCALE)


def selu_(input):
    return _in_place("selu_", selu, input)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """max(0, x) + min(0, α (exp(x/α) - 1))."""
    _floating("celu", input)
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError: alpha cannot be 0 for CELU")
    if inplace:
        return celu_(input, alpha)
    return ELU.apply(input, alpha=alpha, input_scale=1.0 / alpha)


def celu_(input, alpha: float = 1.0):
    return _in_place("celu_", celu, input, alpha)


def _with_inplace(name, op, doc):
    """``name(input, inplace=False)``: ``op`` applied, or written into ``input``."""
    def fn(input, inplace: bool = False):
        _floating(name, input)
        return _in_place(name + "_", fn, input) if inplace else op.apply(input)
    fn.__name__, fn.__qualname__, fn.__doc__ = name, name, doc
    return fn


silu = _with_inplace("silu", SiLU, "x σ(x) (also called swish).")
mish = _with_inplace("mish", Mish, "x tanh(softplus(x)).")
hardswish = _with_inplace("hardswish", Hardswish, "x · relu6(x + 3) / 6.")
hardsigmoid = _with_inplace("hardsigmoid", Hardsigmoid, "relu6(x + 3) / 6.")


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(β x)) / β, reverting to x where β x > threshold (for stability)."""
    _floating("softplus", input)
    return Softplus.apply(input, beta=beta, threshold=threshold)


def softsign(input):
    """x / (1 + |x|)."""
    return Softsign.apply(input)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """x clipped to [min_val, max_val]; the gradient is 0 outside (min_val, max_val)."""
    if inplace:
        return hardtanh_(input, min_val, max_val)
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    return _in_place("hardtanh_", hardtanh, input, min_val, max_val)


def relu6(input, inplace: bool = False):
    """min(max(x, 0), 6): hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """x where x > threshold, else value."""
    if inplace:
        return threshold_(input, threshold, value)
    return Threshold.apply(input, threshold=threshold, value=value)


def threshold_(input, threshold: float, value: float):
    return _in_place("threshold_", lambda x, t, v: Threshold.apply(x, threshold=t, value=v), input,
                     threshold, value)


def logsigmoid(input):
    """log σ(x), computed stably."""
    _floating("logsigmoid", input)
    return LogSigmoid.apply(input)


def prelu(input, weight):
    """x where x > 0, else weight · x; ``weight`` holds one slope, or one per channel (axis 1 of
    ``input``), and gets a gradient."""
    _floating("prelu", input)
    w = weight._data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {w.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if w.size not in (1, channels):
        raise RuntimeError(f"prelu: Mismatch of parameter numbers and input channel size. Found "
                           f"parameter numbers = {w.size} and channel size = {channels} (input "
                           f"shape {tuple(input.shape)}).")
    if w.dtype != input.dtype:
        raise dtype_error("prelu", f"Type promoting not supported. Got "
                                   f"{torch_name(input.dtype)} and {torch_name(w.dtype)}",
                          input, "weight", w)
    return PReLU.apply(input, weight)


def softmin(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along ``dim``."""
    _floating("softmin", input)
    return softmax(-input, dim, dtype)


def glu(input, dim: int = -1):
    """a σ(b), a and b the two halves of ``input`` along ``dim``: the size halves."""
    _floating("glu", input)
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    if not -input.ndim <= dim < input.ndim:
        raise IndexError(f"glu: Dimension out of range (expected to be in range of "
                         f"[{-input.ndim}, {input.ndim - 1}], but got {dim})")
    if input.shape[dim] % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {dim % input.ndim} "
                           f"is size {input.shape[dim]} (input shape {tuple(input.shape)})")
    return GLU.apply(input, dim=dim)


from ..tensor import Tensor  # noqa: E402
