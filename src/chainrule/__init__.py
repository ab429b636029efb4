"""chainrule: backpropagation you can do, see and check.

Reverse-mode automatic differentiation and neural networks on NumPy, with PyTorch's API::

    import chainrule as cr
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad  # tensor([2., 4.])
"""

__version__ = "0.1.0"

from .dtypes import (  # noqa: F401
    bool, double, float, float16, float32, float64, get_default_dtype, half, int, int8, int16,
    int32, int64, long, set_default_dtype, short, uint8,
)
from .tensor import Tensor  # noqa: F401  (imports the ops)
from .random import Generator, get_rng_state, manual_seed, seed, set_rng_state  # noqa: F401
from .random import initial_seed  # noqa: F401
from .creation import (  # noqa: F401
    arange, as_tensor, empty, eye, from_numpy, full, full_like, linspace, multinomial, ones,
    ones_like, rand, randint, randn, randperm, tensor, zeros, zeros_like,
)
from .autograd import (  # noqa: F401
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
    set_grad_enabled,
)
from . import autograd  # noqa: F401
from .ops.elementwise import (  # noqa: F401
    abs, add, clamp, clip, cos, div, exp, log, maximum, minimum, mul, neg, pow, sin, sqrt, sub,
)
from .ops.activation import relu, sigmoid, softmax, log_softmax, tanh  # noqa: F401
# -- activations PyTorch also has at the top level (torch.selu, torch.prelu, ...) --
from .ops.activation import (  # noqa: F401
    celu, celu_, prelu, selu, selu_, threshold, threshold_,
)
from .ops.reduce import (  # noqa: F401
    amax, amin, argmax, argmin, logsumexp, max, mean, min, prod, std, sum, var,
)
from .ops.shape import (  # noqa: F401
    broadcast_to, cat, chunk, concatenate, expand, flatten, permute, reshape, split, squeeze,
    stack, transpose, unbind, unsqueeze,
)
from .ops.linalg import dot, matmul, mm  # noqa: F401
# -- tensor ops: selection and indexing, sorting and logical, products --
from .ops.index import (  # noqa: F401  (its where also takes one argument: nonzero)
    argwhere, gather, index_add, index_select, masked_fill, masked_select, nonzero, scatter,
    scatter_add, take_along_dim, tril, triu, where,
)
from .ops.sorting import (  # noqa: F401
    all, any, argsort, bincount, count_nonzero, cumprod, cumsum, kthvalue, median, mode, sort,
    topk, unique, logical_and, logical_not, logical_or, logical_xor,
)
from .ops.linalg import addmm, baddbmm, bmm, einsum, ger, outer  # noqa: F401
from .threads import get_num_threads, set_num_threads  # noqa: F401
# -- tensor ops: shape, math, tests, comparison, norms, creation, printing --
from .ops.shape import (  # noqa: F401
    flip, fliplr, flipud, moveaxis, movedim, narrow, repeat_interleave, roll, swapaxes, swapdims,
    tile, unflatten,
)
from .ops.elementwise import (  # noqa: F401
    acos, allclose, arccos, arcsin, arctan, arctan2, asin, atan, atan2, ceil, clamp_max,
    clamp_min, cosh, divide, equal, erf, erfinv, exp2, expm1, fix, floor, floor_divide, frac,
    isclose, isfinite, isinf, isnan, isneginf, isposinf, lerp, log10, log1p, log2, logaddexp,
    logit, nan_to_num, reciprocal, round, rsqrt, sgn, sign, sinh, square, tan, true_divide,
    trunc,
)
from .ops.norms import cdist, cosine_similarity, norm, pairwise_distance  # noqa: F401
from . import linalg  # noqa: F401
from .creation import rand_like, randint_like, randn_like  # noqa: F401
from ._tensor_str import set_printoptions  # noqa: F401
from ._methods import log_softmax, softmax  # noqa: F401,F811  (these take axis= too, as PyTorch's)
# -- the device idiom --
from .device import device, get_default_device, set_default_device  # noqa: F401


def is_tensor(obj) -> "bool":
    return isinstance(obj, Tensor)


# torch.eq(pred, y), torch.gt(x, 0), ...: the Tensor methods, as PyTorch's functions
eq, ne, lt, le, gt, ge = Tensor.eq, Tensor.ne, Tensor.lt, Tensor.le, Tensor.gt, Tensor.ge


def numel(t) -> "int":
    return t.numel()


def _lazy(name):
    import importlib
    return importlib.import_module(f".{name}", __name__)


def __getattr__(name):
    # nn, optim, data, datasets, viz load on first use, so `import chainrule` stays light
    if name in ("nn", "optim", "data", "datasets", "viz", "utils", "cuda", "backends",
                "accelerator", "distributed"):
        return _lazy(name)
    if name == "onnx":  # chainrule.onnx: imports the onnx package only when export/load runs
        return _lazy(name)
    if name in ("save", "load"):
        return getattr(_lazy("serialization"), name)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
