"""``chainrule.nn.functional`` (imported as ``F``): the layers and losses as plain functions.

The ops themselves live in ``chainrule.ops`` (one Function each); this module gathers them under
PyTorch's names and signatures.
"""

from __future__ import annotations

import numpy as np

from ..ops.activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from ..ops.activation import log_softmax as _log_softmax
from ..ops.activation import softmax as _softmax
from ..ops.loss import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss,
    nll_loss,
)
from ..ops.nn import batch_norm, dropout, linear  # noqa: F401
from ..ops.shape import flatten, pad  # noqa: F401
from ..tensor import Tensor, _make

try:
    from ..ops.conv import avg_pool2d, conv2d, max_pool2d  # noqa: F401
except ModuleNotFoundError as err:  # ops/conv.py is written alongside: resolve on first call
    if err.name != __package__.rpartition(".")[0] + ".ops.conv":
        raise

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        from ..ops.conv import conv2d
        return conv2d(input, weight, bias, stride, padding, dilation, groups)

    def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   return_indices=False):
        from ..ops.conv import max_pool2d
        if return_indices:
            return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode,
                              return_indices)
        return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)

    def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
        from ..ops.conv import avg_pool2d
        return avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override)


# -- activations: the core ops, with PyTorch's signatures ----------------------------------------

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0). ``inplace`` is accepted for PyTorch's signature; the result is new."""
    return ReLU.apply(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input where positive, else negative_slope * input."""
    return LeakyReLU.apply(input, negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """input · Φ(input), Φ the standard normal CDF (``approximate="tanh"``: the tanh form)."""
    return GELU.apply(input, approximate)


def sigmoid(input: Tensor) -> Tensor:
    return Sigmoid.apply(input)


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(input)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(input) / sum(exp(input)) along ``dim``, stable for large inputs."""
    return _softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    """log(softmax(input)) along ``dim``, by log-sum-exp with the max shifted out."""
    return _log_softmax(input, dim, dtype)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices (*) -> int64 one-hot rows (*, num_classes); -1: max index + 1."""
    t = np.asarray(tensor.data)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected class indices of an integer dtype, got {t.dtype}")
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got "
                           f"[{t.min()}, {t.max()}]")
    return _make((t[..., None] == np.arange(num_classes)).astype(np.int64), None)


__all__ = [
    "linear", "dropout", "batch_norm", "conv2d", "max_pool2d", "avg_pool2d", "pad", "flatten",
    "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot",
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss", "l1_loss",
]
