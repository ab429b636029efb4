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

# -- layers (issue 15): convolution, pooling, resizing, dropout, normalisation, embedding --
from ..ops.conv import (  # noqa: F401
    avg_pool1d, conv1d, conv_transpose1d, conv_transpose2d, max_pool1d,
)
from ..ops.nn import (  # noqa: F401
    dropout1d, dropout2d, dropout3d, embedding, group_norm, instance_norm, layer_norm,
)
from ..ops.resize import (  # noqa: F401
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d,
    interpolate, pixel_shuffle, pixel_unshuffle, upsample, upsample_bilinear, upsample_nearest,
)

# -- activations and losses (issue 15): defined with PyTorch's signatures in ops --
from ..ops.activation import (  # noqa: F401
    celu, celu_, elu, elu_, glu, hardsigmoid, hardswish, hardtanh, hardtanh_, logsigmoid, mish,
    prelu, relu6, selu, selu_, silu, softmin, softplus, softsign, threshold, threshold_,
)
from ..ops.loss import (  # noqa: F401
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, huber_loss, kl_div,
    margin_ranking_loss, multi_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss,
    smooth_l1_loss, triplet_margin_loss,
)

# -- norms and distances (issue 15) --
from ..ops.norms import cosine_similarity, normalize, pairwise_distance  # noqa: F401


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
    t = np.asarray(tensor._data)
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
__all__ += [  # -- activations and losses (issue 15) --
    "elu", "elu_", "selu", "selu_", "celu", "celu_", "silu", "mish", "softplus", "softsign",
    "hardtanh", "hardtanh_", "relu6", "hardswish", "hardsigmoid", "prelu", "logsigmoid",
    "softmin", "glu", "threshold", "threshold_",
    "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
    "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss", "hinge_embedding_loss",
    "multilabel_soft_margin_loss", "multi_margin_loss",
]
__all__ += [  # -- layers (issue 15) --
    "conv1d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "avg_pool1d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
    "pixel_unshuffle", "dropout1d", "dropout2d", "dropout3d", "layer_norm", "group_norm",
    "instance_norm", "embedding",
]
__all__ += ["normalize", "cosine_similarity", "pairwise_distance"]  # -- norms and distances --

# -- attention (issue 18) --
from ..ops.attention import (  # noqa: F401,E402
    multi_head_attention_forward, scaled_dot_product_attention,
)

__all__ += ["scaled_dot_product_attention", "multi_head_attention_forward"]
