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

from ..ops.conv import avg_pool2d, conv2d, fold, max_pool2d, unfold  # noqa: F401


# -- activations: the core ops, with PyTorch's signatures ----------------------------------------

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0); ``inplace=True`` overwrites ``input`` (``input.relu_()``)."""
    return input.relu_() if inplace else ReLU.apply(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input where positive, else negative_slope * input; ``inplace=True`` overwrites input."""
    if inplace:
        return input.leaky_relu_(negative_slope)
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
    "linear", "dropout", "batch_norm", "conv2d", "max_pool2d", "avg_pool2d", "unfold", "fold",
    "pad", "flatten",
    "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot",
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss", "l1_loss",
]
