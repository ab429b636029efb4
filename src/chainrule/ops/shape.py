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
    """y = pad(x) (a negative width crops first, as PyTorch);  dL/dx = dL/dy at the positions each
    element of x was copied to, summed (0 where cropped)"""

    @staticmethod
    def forward(ctx, x, widths, mode, value):
        cropped = _cropped(widths)
        if cropped:  # crop, then pad by the positive widths
            x = x[tuple(slice(-lo, n + hi) for (lo, hi), n in zip(cropped, x.shape))]
            widths = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
        ctx.shape, ctx.widths, ctx.mode, ctx.cropped = x.shape, widths, mode, cropped
        if mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=value)
        return np.pad(x, widths, mode=_PAD_MODES[mode])

    @staticmethod
    def backward(ctx, grad_output):
        shape, widths, mode, cropped = ctx.shape, ctx.widths, ctx.mode, ctx.cropped
        if mode == "constant":
            g = grad_output[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, shape))]
        else:
            g = PadAdjoint.call(grad_output, shape, widths, mode)
        if cropped:  # zeros where the forward cropped
            g = Pad.call(g, tuple((-lo, -hi) for lo, hi in cropped), "constant", 0.0)
        return g, None, None, None


def _cropped(widths):
    """The negative part of each (lo, hi) width (0 where none), or None if nothing is cropped."""
    if all(lo >= 0 and hi >= 0 for lo, hi in widths):
        return None
    return tuple((min(lo, 0), min(hi, 0)) for lo, hi in widths)


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


class Repeat(Function):
    """y = x tiled ``reps`` times along each dim (leading dims added);  dL/dx = dL/dy summed over
    the copies"""

    @staticmethod
    def forward(ctx, x, reps):
        ctx.shape = x.shape
        return np.tile(x, reps)

    @staticmethod
    def backward(ctx, grad_output):
        _, reps = ctx.inputs
        shape = ctx.shape
        sizes = (1,) * (len(reps) - len(shape)) + shape
        split = [n for pair in zip(reps, sizes) for n in pair]  # (r0, s0, r1, s1, ...)
        g = grad_output.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return g.reshape(shape), None


class Flip(Function):
    """y = x reversed along ``dims`` (a copy, as PyTorch);  dL/dx = dL/dy reversed back"""

    @staticmethod
    def forward(ctx, x, dims):
        return np.flip(x, dims).copy()

    @staticmethod
    def backward(ctx, grad_output):
        return Flip.call(grad_output, ctx.inputs[1]), None


class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``dims`` (None: the flattened tensor);
    dL/dx = dL/dy rolled back"""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        return np.roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, grad_output):
        _, shifts, dims = ctx.inputs
        return Roll.call(grad_output, tuple(-s for s in shifts), dims), None, None


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


def squeeze(x, dim=None, *, axis=None):
    dim = _dim_or_axis(dim, axis)
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = {_dim(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return View.apply(x, shape) if shape != x.shape else x


def unsqueeze(x, dim: int | None = None, *, axis=None):
    d = _dim(_dim_or_axis(dim, axis), x.ndim + 1, "unsqueeze")
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


def cat(tensors, dim: int = 0, *, axis=None):
    dim = _dim_or_axis(dim, axis)
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


def stack(tensors, dim: int = 0, *, axis=None):
    dim = _dim_or_axis(dim, axis)
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


def chunk(x, chunks: int, dim: int = 0, *, axis=None):
    dim = _dim_or_axis(dim, axis)
    n = x.shape[_dim(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def unbind(x, dim: int = 0, *, axis=None):
    d = _dim(_dim_or_axis(dim, axis), x.ndim, "unbind")
    return tuple(x[(slice(None),) * d + (i,)] for i in range(x.shape[d]))


def pad(x, pad, mode: str = "constant", value: float | None = None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``, as PyTorch;
    a negative width crops that side instead."""
    if len(pad) % 2:
        raise RuntimeError(f"pad: padding length must be divisible by 2, got {len(pad)}")
    if len(pad) // 2 > x.ndim:
        raise RuntimeError(f"pad: padding length {len(pad)} is too large for a tensor of "
                           f"{x.ndim} dimensions")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not one of {sorted(_PAD_MODES)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = widths[d] = (int(pad[2 * i]), int(pad[2 * i + 1]))
        if x.shape[d] + min(lo, 0) + min(hi, 0) < 0:
            raise RuntimeError(f"pad: the padding ({lo}, {hi}) of dim {d} crops more than its "
                               f"size {x.shape[d]} (input shape {x.shape})")
    return Pad.apply(x, tuple(widths), mode, 0.0 if value is None else value)


# -- repeating, reversing, rolling, narrowing, moving dims --------------------------------------

def _dim_or_axis(dim, axis):
    """``dim``, or NumPy's name for it (``axis=``), as PyTorch accepts both."""
    return dim if axis is None else axis


def repeat(x, *sizes):
    """x tiled ``sizes[i]`` times along dim i (more sizes than dims add leading dims)."""
    reps = _shape_arg(sizes)
    if len(reps) < x.ndim:
        raise RuntimeError(f"repeat: number of dimensions of repeat dims {reps} can not be "
                           f"smaller than number of dimensions of the tensor {x.shape}")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat: repeats must be non-negative, got {list(reps)}")
    return Repeat.apply(x, reps)


def tile(x, *args, dims=None):
    """x repeated ``dims[i]`` times along dim i; fewer dims than the tensor's repeat the last.
    ``tile(x, (2, 1))``, ``x.tile(2, 1)`` and ``tile(x, dims=(2, 1))`` are the same."""
    dims = _shape_arg(args if dims is None else (dims,))
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None, axis=None):
    """Each element repeated ``repeats`` times (an int, or a tensor of one count per element)
    along ``dim`` (None: of the flattened tensor). ``repeat_interleave(counts)`` alone gives
    the indices ``[0] * counts[0] + [1] * counts[1] + ...``."""
    dim = _dim_or_axis(dim, axis)
    if repeats is None:  # the one-tensor form: indices
        counts = np.asarray(input._data)
        return _index_tensor(np.repeat(np.arange(counts.size), _counts(counts, counts.size)))
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _dim(dim, x.ndim, "repeat_interleave")
    counts = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    n = x.shape[d] if x.ndim else 1
    if counts.size == 1 and counts.ndim <= 1:  # one count for every element: a view
        r = int(_counts(counts.reshape(()), 1))
        if x.ndim == 0:
            x = x.reshape(1)
        shape = x.shape[:d + 1] + (r,) + x.shape[d + 1:]
        out = x.unsqueeze(d + 1).expand(*shape).reshape(*x.shape[:d], x.shape[d] * r, *x.shape[d + 1:])
    else:  # a count per element: an index along dim
        index = np.repeat(np.arange(n), _counts(counts, n))
        out = x[(slice(None),) * d + (index,)]
    if output_size is not None and out.shape[d] != output_size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"output's size {out.shape[d]} along dim {d}")
    return out


def _counts(counts, n):
    counts = np.asarray(counts)
    if counts.dtype.kind not in "iu":
        raise RuntimeError(f"repeat_interleave: repeats must be integers, got {counts.dtype}")
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size != n):
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along "
                           f"dim, but got repeats.size(0) = {counts.size} and input.size = {n}")
    if np.any(counts < 0):
        raise RuntimeError("repeat_interleave: repeats must be non-negative")
    return counts


def _index_tensor(a):
    from ..tensor import _make
    return _make(a.astype(np.int64), None)


def flip(x, *args, dims=None):
    """x reversed along ``dims`` (a copy, as PyTorch: not a view); ``flip(x, (0, 1))``,
    ``x.flip(0, 1)`` and ``x.flip(dims=(0, 1))`` are the same."""
    dims = _shape_arg(args if dims is None else (dims,))
    axes = tuple(_dim(d, x.ndim, "flip") for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"flip: dims {list(dims)} name a dim more than once")
    return Flip.apply(x, axes) if x.ndim else x.clone()  # (a 0-d tensor: flip(0) is a copy)


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def roll(x, shifts, dims=None):
    """x shifted cyclically by ``shifts`` along ``dims`` (ints or tuples of one length); without
    dims, the flattened tensor is rolled and the shape restored."""
    shifts = (shifts,) if isinstance(shifts, int) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align: shifts {list(shifts)} "
                               "given without dims")
        return Roll.apply(x, shifts, None)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims: {len(dims)}")
    return Roll.apply(x, shifts, tuple(_dim(d, x.ndim, "roll") for d in dims))


def narrow(x, dim=None, start=None, length=None, *, axis=None):
    """``length`` elements of x from ``start`` along ``dim`` (a view, as PyTorch)."""
    d = _dim(_dim_or_axis(dim, axis), x.ndim, "narrow")
    n = x.shape[d]
    start = int(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start ({start}) is out of range for dim {d} of size {n} "
                         f"(tensor shape {x.shape})")
    start %= n if n else 1
    if length < 0:
        raise RuntimeError(f"narrow: length must be non-negative, got {length}")
    if start + length > n:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                           f"({n}) of dim {d} (tensor shape {x.shape})")
    return x[(slice(None),) * d + (slice(start, start + length),)]


def movedim(x, source, destination):
    """x with dims ``source`` moved to positions ``destination`` (the others keep their order)."""
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    src = [_dim(s, x.ndim, "movedim") for s in src]
    dst = [_dim(s, x.ndim, "movedim") for s in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({dims})")
    if x.ndim == 0:  # (dim 0 or -1 of a 0-d tensor: nothing moves)
        return x
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(x, tuple(order)) if order != list(range(x.ndim)) else x


moveaxis = movedim


def swapaxes(x, axis0: int, axis1: int):
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def unflatten(x, dim: int, sizes):
    """Dim ``dim`` of x split into ``sizes`` (one of them may be -1)."""
    d = _dim(dim, x.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    n = x.shape[d]
    if sizes.count(-1) > 1 or (-1 not in sizes and known != n) or (
            -1 in sizes and (known == 0 or n % known)):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({n}) in the input tensor")
    if -1 in sizes:
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    return View.apply(x, x.shape[:d] + sizes + x.shape[d + 1:])


from ..tensor import Tensor  # noqa: E402
