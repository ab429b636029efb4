"""Selection and indexing: gather and scatter along a dim, index_select and index_add, masks,
nonzero, triangles.

The ops come in adjoint pairs, each one's backward calling the other (through ``call``), so that
gradients of gradients go back and forth between them: taking values at indices along a dim
(gather, ``take_along_dim``) and adding values into those slots (``scatter_add``): TakeAlongDim
and AddAlongDim, which ``max(dim)`` uses too; ``x[..., index]`` and adding into a zero tensor at
``index`` (index_select and index_add): GetItem and IndexAdd of ``shape.py``. Scatter's backward
is a scatter of zeros and a gather.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..dtypes import ZERO
from .shape import GetItem, IndexAdd, _dim


class TakeAlongDim(Function):
    """y = x[..., idx, ...] along ``dim`` (``np.take_along_axis``);  dL/dx = dL/dy added back at
    idx (repeated indices add up)"""

    op = "take_along_dim"

    @staticmethod
    def forward(ctx, x, idx, dim):
        ctx.shape = x.shape
        ctx.saved = (idx,)  # (for backward's version check: a changed index is caught)
        return np.take_along_axis(x, idx, axis=dim)

    @staticmethod
    def backward(ctx, grad_output):
        _, idx, dim = ctx.inputs
        return AddAlongDim.call(grad_output, idx, dim, ctx.shape), None, None


class AddAlongDim(Function):
    """y = zeros(shape) with x added at idx along ``dim`` (scatter_add into zeros, the adjoint of
    gather);  dL/dx = dL/dy taken at idx (idx may span less than ``shape`` apart from ``dim``)"""

    op = "scatter_add"

    @staticmethod
    def forward(ctx, x, idx, dim, shape):
        ctx.saved = (idx,)  # (for backward's version check)
        out = np.zeros(shape, x.dtype)
        np.add.at(out, _along(idx, dim), x)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        _, idx, dim, _ = ctx.inputs
        return _gather(grad_output, idx, dim), None, None, None


class Gather(TakeAlongDim):
    """y[i][j] = x[i][idx[i][j]] for dim = 1;  dL/dx = dL/dy added back at idx (scatter_add)"""

    op = "gather"


def _along(idx, dim):
    """The fancy index that picks ``idx`` along ``dim`` and every position along the others."""
    parts = []
    for axis, n in enumerate(idx.shape):
        if axis == dim:
            parts.append(idx)
        else:
            shape = [1] * idx.ndim
            shape[axis] = n
            parts.append(np.arange(n).reshape(shape))
    return tuple(parts)


class Scatter(Function):
    """y = x with y[idx along dim] = src (a tensor of idx's shape, or a number);
    dL/dx = dL/dy with 0 at idx,  dL/dsrc = dL/dy taken at idx (gather)"""

    @staticmethod
    def forward(ctx, x, src, idx, dim):
        ctx.saved = (idx,)  # (for backward's version check: a changed index is caught)
        y = x.copy()
        y[_along(idx, dim)] = src
        return y

    @staticmethod
    def backward(ctx, grad_output):
        _, _, idx, dim = ctx.inputs
        need = ctx.needs_input_grad
        return (Scatter.call(grad_output, ZERO[grad_output.dtype], idx, dim) if need[0] else None,
                _gather(grad_output, idx, dim) if need[1] else None, None, None)


class ScatterMultiply(Function):
    """y = x with y[idx along dim] *= src (``scatter(..., reduce="multiply")``); its derivative is
    not implemented, as in PyTorch"""

    op = "scatter"

    @staticmethod
    def forward(ctx, x, src, idx, dim):
        y = x.copy()
        np.multiply.at(y, _along(idx, dim), src)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError("scatter: the derivative of scatter with reduce='multiply' is not "
                           "implemented (as in PyTorch)")


class Tril(Function):
    """y = x with the elements above the ``diagonal``-th diagonal set to 0 (of the last two
    dims);  dL/dx = tril(dL/dy): the same mask"""

    pick = staticmethod(np.tril)

    @classmethod
    def forward(cls, ctx, x, diagonal):
        return cls.pick(x, diagonal)

    @classmethod
    def backward(cls, ctx, grad_output):
        return cls.call(grad_output, ctx.inputs[1]), None


class Triu(Tril):
    """y = x with the elements below the ``diagonal``-th diagonal set to 0;  dL/dx = triu(dL/dy)"""

    pick = staticmethod(np.triu)


# -- checks ------------------------------------------------------------------------------------

def _index_array(op, index, kinds=("int32", "int64"), what="int32/int64"):
    """The index tensor's array; PyTorch's error if its dtype is not an allowed integer type."""
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if str(idx.dtype) not in kinds:
        raise RuntimeError(f"{op}(): Expected dtype {what} for index, but got {idx.dtype}")
    return idx


def _in_range(op, idx, dim, n):
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise RuntimeError(f"{op}: index {bad} is out of bounds for dimension {dim} with size {n}")


def _along_dim(op, x, dim, idx, src=None):
    """PyTorch's checks of gather and scatter: idx has x's number of dims, is no larger than x
    apart from ``dim`` (and no larger than src), and each index is in [0, size)."""
    if idx.ndim != max(x.ndim, 1) and not (idx.ndim == 0 and x.ndim == 0):
        raise RuntimeError(f"{op}: Index tensor must have the same number of dimensions as input "
                           f"tensor (index shape {idx.shape}, input shape {tuple(x.shape)})")
    shape = x.shape or (1,)
    too_big = any(i != dim and k > n for i, (k, n) in enumerate(zip(idx.shape, shape)))
    if too_big or (src is not None and any(k > n for k, n in zip(idx.shape, src.shape))):
        also = f" and to be no larger size than src {list(src.shape)}" if src is not None else ""
        raise RuntimeError(f"{op}: Expected index {list(idx.shape)} to be no larger than self "
                           f"{list(x.shape)} apart from dimension {dim}{also}")
    _in_range(op, idx, dim, shape[dim])


def _leading(t, shape):
    """``t`` cut to ``shape`` (its leading part along each dim), where it is larger."""
    if tuple(t.shape) == tuple(shape):
        return t
    return t[tuple(slice(0, n) for n in shape)]


def _gather(x, idx, dim):
    """x[i][idx[i][j]] for dim = 1: take_along_dim of the part of x that idx spans apart from
    ``dim`` (arrays or Tensors)."""
    shape = tuple(n if i == dim else k for i, (k, n) in enumerate(zip(idx.shape, x.shape)))
    return Gather.call(_leading(x, shape), idx, dim)


def _vector_index(op, x, dim, index):
    """index_select's and index_add's index: a vector (or a number) of int32/int64 in range."""
    idx = _index_array(op, index)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector, but got dim: {idx.ndim} "
                         f"(shape {idx.shape})")
    idx = idx.reshape(-1)
    _in_range(op, idx, dim, x.shape[dim] if x.ndim else 1)
    return idx


# -- functions ---------------------------------------------------------------------------------

def _dim_arg(op, dim, axis):
    """``dim``, or ``axis=`` (PyTorch accepts both); one of them is required."""
    dim = dim if axis is None else axis
    if dim is None:
        raise TypeError(f"{op}(): missing required argument 'dim'")
    return dim


def gather(input, dim=None, index=None, *, sparse_grad=False, axis=None):
    """out[i][j] = input[i][index[i][j]] for dim = 1 (and alike for other dims): index has
    input's number of dims and is no larger than input apart from ``dim``."""
    dim = _dim_arg("gather", dim, axis)
    idx = _index_array("gather", index)
    if input.ndim == 0:
        _along_dim("gather", input, _dim(dim, 0, "gather"), idx)
        return Gather.apply(input.reshape(1), idx.reshape(1), 0).reshape(idx.shape)
    d = _dim(dim, input.ndim, "gather")
    _along_dim("gather", input, d, idx)
    return _gather(input, idx, d)


def take_along_dim(input, indices, dim=None, *, axis=None):
    """Values of ``input`` at ``indices`` along ``dim`` (``np.take_along_axis``): the other dims
    broadcast; ``dim=None``: indices into the flattened input."""
    dim = axis if axis is not None else dim
    idx = _index_array("take_along_dim", indices, ("int64",), "Long")
    if dim is None:
        idx = idx.reshape(-1)
        _in_range("take_along_dim", idx, 0, input.numel())
        return TakeAlongDim.apply(input.reshape(-1), idx, 0)
    if idx.ndim != input.ndim:
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number of "
                           f"dimensions, but got {input.ndim} dimensions for input, and "
                           f"{idx.ndim} dimensions for indices")
    d = _dim(dim, input.ndim, "take_along_dim")
    if input.ndim == 0:
        return gather(input, 0, idx)
    _in_range("take_along_dim", idx, d, input.shape[d])
    try:  # the other dims broadcast
        others = np.broadcast_shapes(input.shape[:d] + (1,) + input.shape[d + 1:],
                                     idx.shape[:d] + (1,) + idx.shape[d + 1:])
    except ValueError:
        raise RuntimeError(f"take_along_dim: the shapes of input {tuple(input.shape)} and indices "
                           f"{idx.shape} do not broadcast apart from dimension {d}") from None
    shape_x = others[:d] + (input.shape[d],) + others[d + 1:]
    shape_i = others[:d] + (idx.shape[d],) + others[d + 1:]
    x = input if input.shape == shape_x else input.expand(*shape_x)
    return TakeAlongDim.apply(x, np.broadcast_to(idx, shape_i), d)


def scatter(input, dim=None, index=None, src=None, *, value=None, reduce=None, axis=None):
    """``input`` with ``src`` (a tensor, of which the part of index's shape is used, or a number)
    written at ``index`` along ``dim``: out[i][index[i][j]] = src[i][j] for dim = 1.
    ``reduce="add"`` or ``"multiply"`` combines instead of writing."""
    dim = _dim_arg("scatter", dim, axis)
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter(): missing the value to write: pass src (a tensor) or value "
                        "(a number)")
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"scatter: reduce argument must be either add or multiply, got "
                           f"{reduce!r}")
    idx = _index_array("scatter", index)
    d = _dim(dim, input.ndim, "scatter")
    tensor = isinstance(src, Tensor)
    if tensor:
        if src.dtype != input.dtype:
            raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype (self "
                               f"is {input.dtype}, src {src.dtype})")
        _along_dim("scatter", input, d, idx, src)
        src = _leading(src, idx.shape)
    else:
        _along_dim("scatter", input, d, idx)
        src = np.asarray(src).astype(input.dtype)  # (a float into an integer tensor truncates)
    if input.ndim == 0:
        return scatter(input.reshape(1), 0, idx.reshape(1), src.reshape(1) if tensor else src,
                       reduce=reduce).reshape(())
    if reduce == "add":
        return input + AddAlongDim.apply(
            src if tensor else np.broadcast_to(src, idx.shape), idx, d, input.shape)
    if reduce == "multiply":
        return ScatterMultiply.apply(input, src, idx, d)
    return Scatter.apply(input, src, idx, d)


def scatter_add(input, dim=None, index=None, src=None, *, axis=None):
    """``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices add up):
    out[i][index[i][j]] += src[i][j] for dim = 1."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): argument 'src' must be Tensor, not {type(src).__name__}")
    return scatter(input, dim, index, src, reduce="add", axis=axis)


def index_select(input, dim=None, index=None, *, axis=None):
    """The entries of ``input`` at ``index`` (a vector) along ``dim``."""
    dim = _dim_arg("index_select", dim, axis)
    d = _dim(dim, input.ndim, "index_select")
    idx = _vector_index("index_select", input, d, index)
    if input.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got "
                               f"{idx.size} value(s)")
        return GetItem.apply(input, index=())
    return GetItem.apply(input, index=(slice(None),) * d + (idx,))


def index_add(input, dim=None, index=None, source=None, *, alpha=1, axis=None):
    """``input`` with ``alpha · source`` added at ``index`` (a vector) along ``dim``: for dim = 0,
    out[index[i]] += alpha · source[i] (repeated indices add up)."""
    dim = _dim_arg("index_add", dim, axis)
    d = _dim(dim, input.ndim, "index_add")
    idx = _vector_index("index_add_", input, d, index)
    if input.ndim == 0:
        return index_add(input.reshape(1), 0, idx, source.reshape(1), alpha=alpha).reshape(())
    n = idx.size
    if source.ndim != input.ndim or np.delete(source.shape, d).tolist() != np.delete(
            input.shape, d).tolist():
        raise RuntimeError(f"index_add: source tensor shape must match self tensor shape, "
                           f"excluding the specified dimension. Got self.shape = "
                           f"{list(input.shape)} source.shape = {list(source.shape)}")
    if source.shape[d] != n:
        raise RuntimeError(f"index_add_(): Number of indices ({n}) should be equal to "
                           f"source.size(dim): ({source.shape[d]}), for dim: {d}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_add_(): self ({input.dtype}) and source ({source.dtype}) must "
                           f"have the same scalar type")
    if alpha != 1:
        source = source * alpha
    # (a copy of the index: IndexAdd's backward reads it, and does not check it for changes)
    return input + IndexAdd.apply(source, input.shape, (slice(None),) * d + (idx.copy(),))


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number, or a 0-d tensor, which gets a gradient) where
    ``mask`` (bool, broadcast) is True."""
    m = _bool_mask("masked_fill_", mask)
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        if value.dtype != input.dtype:
            value = value.to(input.dtype)
    else:
        value = np.asarray(value).astype(input.dtype)
    return Where.apply(m, value, input)


def masked_select(input, mask):
    """The entries of ``input`` where ``mask`` (bool; the two broadcast) is True, as a vector."""
    m = _bool_mask("masked_select", mask, "masked_select: expected BoolTensor for mask")
    try:
        shape = np.broadcast_shapes(input.shape, m.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: the shapes of input {tuple(input.shape)} and mask "
                           f"{m.shape} do not broadcast") from None
    x = input if input.shape == shape else input.expand(*shape)
    return GetItem.apply(x, index=np.broadcast_to(m, shape))


def _bool_mask(op, mask, message=None):
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(message or f"{op} only supports boolean masks, but got mask with dtype "
                           f"{_cpp(m.dtype)}")
    return m


def nonzero(input, *, as_tuple=False):
    """The indices of the nonzero entries: an (n, ndim) int64 tensor, one row per entry in C
    order; ``as_tuple=True``: one vector per dim (``x[x.nonzero(as_tuple=True)]`` works)."""
    data = input._data if isinstance(input, Tensor) else np.asarray(input)
    if data.ndim == 0:  # as PyTorch: a 0-d tensor is one entry, of no dims
        hit = int(bool(data))
        if as_tuple:
            return (_make(np.zeros(hit, np.int64), None),)
        return _make(np.zeros((hit, 0), np.int64), None)
    found = np.nonzero(data)
    if as_tuple:
        return tuple(_make(i.astype(np.int64, copy=False), None) for i in found)
    return _make(np.stack(found, axis=1).astype(np.int64, copy=False), None)


def argwhere(input):
    return nonzero(input)


def where(condition, input=None, other=None):
    """``where(condition, input, other)``: ``input`` where ``condition``, else ``other``
    (differentiable in both); ``where(condition)``: ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return _where(_condition(condition), input, other)


def _tensor_where(self, condition, other):
    """``x.where(condition, other)``: ``where(condition, x, other)``."""
    return _where(_condition(condition), self, other)


def _condition(condition):
    """PyTorch's check: a condition tensor is bool (uint8 too, which PyTorch deprecates)."""
    if isinstance(condition, Tensor) and condition.dtype.kind != "b" and condition.dtype != np.uint8:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {condition.dtype}; compare it first (e.g. cond != 0)")
    return condition


def tril(input, diagonal: int = 0):
    """The lower triangle of the last two dims (below and on the ``diagonal``-th diagonal)."""
    return _triangle(Tril, "tril", input, diagonal)


def triu(input, diagonal: int = 0):
    """The upper triangle of the last two dims (above and on the ``diagonal``-th diagonal)."""
    return _triangle(Triu, "triu", input, diagonal)


def _triangle(cls, op, input, diagonal):
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions (got shape "
                           f"{tuple(input.shape)})")
    return cls.apply(input, int(diagonal))


from ..tensor import Tensor, _make  # noqa: E402
from .elementwise import Where, where as _where  # noqa: E402
from .linalg import _cpp  # noqa: E402
