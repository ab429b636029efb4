"""Shape ops: views, indexing, joining and padding. Most backwards just undo the forward.

Some ops here are each other's adjoints: taking ``x[index]`` and adding into a zero tensor at
``index``, padding and folding the padding back. Each one's backward calls the other (through
``call``), so that gradients of gradients go back and forth between them."""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..dtypes import ZERO


class View(Function):
    """y = x.reshape(shape);  dL/dx = (dL/dy).reshape(x.shape). Squeeze and unsqueeze too."""

    op = "view"
    view = True  # the output shares the input's memory (see autograd/inplace.py)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape  # metadata, not saved arrays: a second backward works, as in PyTorch
        try:
            y = x.reshape(shape)
            ctx.out_shape = y.shape
            if y.base is None or not np.may_share_memory(x, y):
                ctx.view = False  # x's layout made reshape copy: not a view of x
            return y
        except ValueError:
            raise RuntimeError(f"view: shape {list(shape)} is invalid for input of size {x.size} "
                               f"(shape {x.shape})") from None

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.reshape(ctx.shape), None


class Permute(Function):
    """y = x.transpose(dims);  dL/dx = (dL/dy).transpose(inverse of dims)"""

    view = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad_output):
        return np.transpose(grad_output, tuple(np.argsort(ctx.dims))), None


class Expand(Function):
    """y = broadcast_to(x, shape);  dL/dx = dL/dy summed over the broadcast axes (by the engine)"""

    view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.out_shape = shape
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise RuntimeError(f"expand: the expanded size of the tensor {shape} must match the "
                               f"existing size {x.shape} at non-singleton dimensions") from None

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None  # the engine's unbroadcast sums it back to x's shape


def _is_advanced(index) -> bool:
    """True when the index holds integer arrays, which may repeat positions."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) and np.asarray(p).dtype.kind in "iu" for p in parts)


def _is_view(index) -> bool:
    """Does ``x[index]`` give a view of x (basic indexing), not a copy?"""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))
               for p in parts)


def _index_arrays(index) -> tuple:
    parts = index if isinstance(index, tuple) else (index,)
    return tuple(p for p in parts if isinstance(p, np.ndarray))


class GetItem(Function):
    """y = x[index];  dL/dx = zeros with dL/dy added at index (repeated indices add up)"""

    op = "getitem"

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        ctx.view = _is_view(index)
        if not ctx.view:  # index arrays: kept where backward's version check sees them
            ctx.saved = _index_arrays(index)
        try:
            y = x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor shape {x.shape})") from None
        if type(y) is not np.ndarray:  # one element: a 0-d view of it, as PyTorch (not a copy)
            y = x[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        return y

    @staticmethod
    def backward(ctx, grad_output):
        return IndexAdd.call(grad_output, ctx.shape, ctx.index)


class IndexAdd(Function):
    """y = zeros(shape) with x added at index (repeated indices add up): the adjoint of x[index];
    dL/dx = (dL/dy)[index]"""

    op = "index_add"

    @staticmethod
    def forward(ctx, x, shape, index):
        g = np.zeros(shape, x.dtype)
        if _is_advanced(index):
            np.add.at(g, index, x)
        else:
            g[index] = x
        return g

    @staticmethod
    def backward(ctx, grad_output):
        return GetItem.call(grad_output, index=ctx.inputs[2]), None, None


class IndexPut(Function):
    """y = x with y[index] = value (``x[index] = value`` in a graph);
    dL/dx = dL/dy with 0 at index,  dL/dvalue = (dL/dy)[index]"""

    op = "index_put"

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.index = index
        ctx.saved = _index_arrays(index)
        y = x.copy()
        try:
            y[index] = value
        except (ValueError, IndexError) as err:
            raise type(err)(f"__setitem__: {err} (tensor shape {x.shape}, value shape "
                            f"{np.shape(value)})") from None
        return y

    @staticmethod
    def backward(ctx, grad_output):
        need = ctx.needs_input_grad
        index = ctx.index
        return (IndexPut.call(grad_output, ZERO[grad_output.dtype], index=index) if need[0] else None,
                GetItem.call(grad_output, index=index) if need[1] else None)


class Cat(Function):
    """y = concatenate(xs, dim);  dL/dx_i = the slice of dL/dy that x_i filled"""

    op = "cat"

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.sizes, ctx.dim = [x.shape[dim] for x in xs], dim
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad_output):
        lead, grads, start = (slice(None),) * ctx.dim, [], 0
        for n in ctx.sizes:
            grads.append(grad_output[lead + (slice(start, start + n),)])
            start += n
        return tuple(grads)


class Stack(Function):
    """y = stack(xs, dim);  dL/dx_i = dL/dy taken at position i along dim"""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.n, ctx.dim = len(xs), dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad_output):
        lead = (slice(None),) * ctx.dim
        return tuple(grad_output[lead + (i,)] for i in range(ctx.n))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Pad(Function):
    """y = pad(x);  dL/dx = dL/dy at the positions each element of x was copied to, summed"""

    @staticmethod
    def forward(ctx, x, widths, mode, value):
        ctx.shape, ctx.widths, ctx.mode = x.shape, widths, mode
        if mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=value)
        return np.pad(x, widths, mode=_PAD_MODES[mode])

    @staticmethod
    def backward(ctx, grad_output):
        shape, widths, mode = ctx.shape, ctx.widths, ctx.mode
        if mode == "constant":
            return grad_output[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, shape))], None, None, None
        return PadAdjoint.call(grad_output, shape, widths, mode), None, None, None


class PadAdjoint(Function):
    """The adjoint of a reflect / replicate / circular pad: each element of x (the padded shape)
    added back onto the position of the input it was copied from;  dL/dx = pad(dL/dy)"""

    op = "pad_backward"

    @staticmethod
    def forward(ctx, x, shape, widths, mode):
        g = x
        for axis, ((lo, hi), n) in enumerate(zip(widths, shape)):
            if lo == hi == 0:
                continue
            source = np.pad(np.arange(n), (lo, hi), mode=_PAD_MODES[mode])  # where each came from
            moved = np.moveaxis(g, axis, 0)
            acc = np.zeros((n,) + moved.shape[1:], g.dtype)
            np.add.at(acc, source, moved)
            g = np.moveaxis(acc, 0, axis)
        return g

    @staticmethod
    def backward(ctx, grad_output):
        _, _, widths, mode = ctx.inputs
        return Pad.call(grad_output, widths, mode, 0.0), None, None, None


class Cast(Function):
    """y = x.astype(dtype);  dL/dx = (dL/dy).astype(x.dtype)"""

    op = "to"
    torch_promotion = False

    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output  # the engine casts it to the input's dtype


class Clone(Function):
    """y = copy of x;  dL/dx = dL/dy"""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


# -- functions ---------------------------------------------------------------------------------

def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    return View.apply(x, _shape_arg(shape))


view = reshape


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} cannot come after end_dim {end_dim}")
    shape = x.shape[:s] + (-1 if x.numel() else int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return View.apply(x, shape) if shape != x.shape else x


def _dim(d, ndim, op):
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dimensions "
                         f"(expected a dim in [{-n}, {n - 1}])")
    return d % n


def permute(x, *dims):
    dims = _shape_arg(dims)
    if sorted(_dim(d, x.ndim, "permute") for d in dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {x.ndim} dimensions "
                           f"of a tensor of shape {x.shape}")
    return Permute.apply(x, tuple(d % x.ndim for d in dims))


def transpose(x, dim0: int, dim1: int):
    dims = list(range(x.ndim))
    a, b = _dim(dim0, x.ndim, "transpose"), _dim(dim1, x.ndim, "transpose")
    if x.ndim < 2:
        return x
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, tuple(dims))


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def squeeze(x, dim=None):
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = {_dim(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return View.apply(x, shape) if shape != x.shape else x


def unsqueeze(x, dim: int):
    d = _dim(dim, x.ndim + 1, "unsqueeze")
    return View.apply(x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({x.ndim})")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    return Expand.apply(x, shape)


def broadcast_to(x, shape):
    return expand(x, *shape)


def expand_as(x, other):
    return expand(x, *other.shape)


def cat(tensors, dim: int = 0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of Tensors")
    nd = tensors[0].ndim
    d = _dim(dim, nd, "cat")
    for i, t_ in enumerate(tensors):
        if t_.ndim != nd or t_.shape[:d] + t_.shape[d + 1:] != tensors[0].shape[:d] + tensors[0].shape[d + 1:]:
            raise RuntimeError(f"cat: sizes of tensors must match except in dimension {dim}: tensor 0 "
                               f"has shape {tensors[0].shape} but tensor {i} has shape {t_.shape}")
    return Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim: int = 0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of Tensors")
    for i, t_ in enumerate(tensors):
        if t_.shape != tensors[0].shape:
            raise RuntimeError(f"stack: expects each tensor to be equal size, but got "
                               f"{tensors[0].shape} at entry 0 and {t_.shape} at entry {i}")
    return Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def split(x, split_size_or_sections, dim: int = 0):
    """Pieces of ``split_size`` (the last may be smaller) or of the listed sizes, as views."""
    d = _dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {dim}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        index = (slice(None),) * d + (slice(start, start + s),)
        out.append(x[index])
        start += s
    return tuple(out)


def chunk(x, chunks: int, dim: int = 0):
    n = x.shape[_dim(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def unbind(x, dim: int = 0):
    d = _dim(dim, x.ndim, "unbind")
    return tuple(x[(slice(None),) * d + (i,)] for i in range(x.shape[d]))


def pad(x, pad, mode: str = "constant", value: float = 0.0):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``, as PyTorch."""
    if len(pad) % 2:
        raise RuntimeError(f"pad: padding length must be divisible by 2, got {len(pad)}")
    if len(pad) // 2 > x.ndim:
        raise RuntimeError(f"pad: padding length {len(pad)} is too large for a tensor of "
                           f"{x.ndim} dimensions")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not one of {sorted(_PAD_MODES)}")
    if any(p < 0 for p in pad):
        raise NotImplementedError("pad: negative padding (cropping) is not supported; slice instead")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(x, tuple(widths), mode, value)
