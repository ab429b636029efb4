"""Resampling to another size: adaptive pooling, ``interpolate`` (nearest, linear, area) and the
pixel shuffles, as ``torch.nn.functional``.

Each is built from primitive ops (indexing with integer arrays, products with constant weights,
sums, views), so that gradients of gradients come with them. Interpolation is separable: along
each spatial axis in turn, the last first (as PyTorch nests its loops), an output position reads
one (nearest) or two (linear) input positions at the indices, and with the weights, PyTorch
computes (``aten/src/ATen/native/UpSample.h``), in the same floating-point precision.
"""

from __future__ import annotations

import math

import numpy as np

from .conv import _LAYOUTS, AvgPool2d, MaxPool2d
from .nn import torch_name
from .reduce import MaxDim
from .shape import GetItem, Pad

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "interpolate", "upsample", "upsample_nearest",
           "upsample_bilinear", "pixel_shuffle", "pixel_unshuffle"]


# -- adaptive pooling ------------------------------------------------------------------------------

def adaptive_avg_pool2d(input, output_size):
    """Mean over windows that tile (N, C, H, W) or (C, H, W) into ``output_size`` (an int, or a
    pair whose None keeps that size): window i along an axis of n covers
    [⌊i·n/out⌋, ⌈(i+1)·n/out⌉), as ``torch.nn.functional.adaptive_avg_pool2d``."""
    op = "adaptive_avg_pool2d"
    out = _adaptive_size(op, input, output_size, 2)
    h, w = input.shape[-2:]
    if h % out[0] == 0 and w % out[1] == 0:  # equal windows: an ordinary average pool
        k = (h // out[0], w // out[1])
        return AvgPool2d.apply(input, k, k, (0, 0), out, True, None)
    sums, counts = input, []
    for axis, (n, o) in zip((-1, -2), ((w, out[1]), (h, out[0]))):
        starts, ends = _adaptive_windows(n, o)
        counts.append(ends - starts)
        # the windows as (o, longest) positions, those past a window's end on a zero pad
        longest = int(counts[-1].max())
        idx = starts[:, None] + np.arange(longest)
        idx = np.where(idx < ends[:, None], idx, n)
        widths = [(0, 0)] * input.ndim
        widths[axis] = (0, 1)
        padded = Pad.apply(sums, tuple(widths), "constant", 0.0)
        picked = GetItem.apply(padded, index=(Ellipsis, idx) + (slice(None),) * (-1 - axis))
        sums = picked.sum(dim=axis)
    return sums / (counts[1][:, None] * counts[0][None, :]).astype(input.dtype)


def adaptive_avg_pool1d(input, output_size):
    """Mean over windows that tile (N, C, L) or (C, L) into ``output_size`` positions, as
    ``torch.nn.functional.adaptive_avg_pool1d``."""
    op = "adaptive_avg_pool1d"
    (out,) = _adaptive_size(op, input, output_size, 1)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, out)).squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max over the windows of ``adaptive_avg_pool2d``, as
    ``torch.nn.functional.adaptive_max_pool2d``; the gradient goes to each window's first
    maximum; with ``return_indices``, also each maximum's flat index into the input's H·W."""
    op = "adaptive_max_pool2d"
    out = _adaptive_size(op, input, output_size, 2)
    h, w = input.shape[-2:]
    if h % out[0] == 0 and w % out[1] == 0:  # equal windows: an ordinary max pool
        k = (h // out[0], w // out[1])
        found = [] if return_indices else None
        y = MaxPool2d.apply(input, k, k, (0, 0), (1, 1), out, indices=found)
        return (y, _int_tensor(found[0])) if return_indices else y
    # Each window as kh·kw positions, the short ones completed with repeats of their last row
    # and column: repeats come after the original in row-major order, so the first maximum
    # (PyTorch's choice) is always an original position.
    (rs, re_), (cs, ce) = _adaptive_windows(h, out[0]), _adaptive_windows(w, out[1])
    rows = np.minimum(rs[:, None] + np.arange(int((re_ - rs).max())), re_[:, None] - 1)
    cols = np.minimum(cs[:, None] + np.arange(int((ce - cs).max())), ce[:, None] - 1)
    kh, kw = rows.shape[1], cols.shape[1]
    windows = GetItem.apply(input, index=(Ellipsis, rows[:, :, None, None], cols[None, None]))
    lead = windows.shape[:-4]
    n = len(lead)
    windows = windows.permute(*range(n), n, n + 2, n + 1, n + 3).reshape(
        *lead, out[0], out[1], kh * kw)
    values = windows._data
    idx = np.argmax(values, axis=-1)
    nan = np.isnan(values)
    if nan.any():  # PyTorch's scan takes a NaN over anything, and a later NaN over an earlier
        last = kh * kw - 1 - np.argmax(nan[..., ::-1], axis=-1)
        idx = np.where(nan.any(axis=-1), last, idx)
    y = MaxDim.apply(windows, idx, n + 2, False)
    if not return_indices:
        return y
    return y, _int_tensor(_pick(rows, idx // kw, 0) * w + _pick(cols, idx % kw, 1))


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """Max over the windows of ``adaptive_avg_pool1d``, as
    ``torch.nn.functional.adaptive_max_pool1d``."""
    op = "adaptive_max_pool1d"
    (out,) = _adaptive_size(op, input, output_size, 1)
    y = adaptive_max_pool2d(input.unsqueeze(-2), (1, out), return_indices)
    if return_indices:
        return y[0].squeeze(-2), y[1].squeeze(-2)
    return y.squeeze(-2)


def _pick(table, which, axis):
    """table (out, k) read at [position along ``axis`` of the output grid, which]."""
    positions = np.arange(table.shape[0]).reshape((-1, 1) if axis == 0 else (1, -1))
    return table[positions, which]


def _adaptive_windows(n: int, out: int):
    """PyTorch's adaptive windows along an axis of n: starts ⌊i·n/out⌋ and ends ⌈(i+1)·n/out⌉."""
    i = np.arange(out)
    return i * n // out, -(-(i + 1) * n // out)


def _adaptive_size(op, x, output_size, nd):
    """Check an adaptive pool's input ((N,) C, *spatial) and return its output size."""
    shape = tuple(x.shape)
    if len(shape) not in (nd + 1, nd + 2) or 0 in shape[-nd:]:
        unbatched, batched, _ = _LAYOUTS[nd]
        raise RuntimeError(f"{op}: expected a {unbatched} or {batched} input with non-zero sizes, "
                           f"got input of shape {shape}")
    if x.dtype.kind not in "fc":
        kernel = "adaptive_avg_pool2d" if "avg" in op else "adaptive_max_pool2d"
        raise NotImplementedError(f'{op}: "{kernel}" not implemented for '
                                  f"'{torch_name(x.dtype)}' (input of shape {shape}): convert "
                                  "the input with .float()")
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd:
        raise RuntimeError(f"{op}: output_size must be an int or {nd} ints (None keeps the input's "
                           f"size), got {output_size!r}")
    out = tuple(n if s is None else s for s, n in zip(sizes, shape[-nd:]))
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
               for s in out):
        raise RuntimeError(f"{op}: output_size must hold positive ints, got {output_size!r}")
    return tuple(int(s) for s in out)


def _int_tensor(a):
    from ..tensor import _make
    return _make(np.asarray(a, np.int64), None)


# -- interpolate -----------------------------------------------------------------------------------

_LINEAR = {"linear": 3, "bilinear": 4, "trilinear": 5}  # mode -> the input's dimensions
_ALL_MODES = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resample (N, C, *spatial) to ``size`` or by ``scale_factor``, as
    ``torch.nn.functional.interpolate``. Modes: ``nearest`` (PyTorch's: source ⌊i·scale⌋),
    ``nearest-exact`` (⌊(i + ½)·scale⌋), ``linear`` / ``bilinear`` / ``trilinear`` for 1, 2, 3
    spatial axes (``align_corners``: the corner pixels' centres are aligned, scale
    (in - 1)/(out - 1); else the pixels' edges, scale in/out or 1/scale_factor), and ``area``
    (adaptive average pooling; 1 or 2 spatial axes)."""
    op = "interpolate"
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = [int(s) for s in _per_axis(size, dim, spatial, "output", "output size of", "o")]
        scales = [None] * dim
    elif scale_factor is not None:
        scales = [float(s) for s in _per_axis(scale_factor, dim, spatial, "scale_factor",
                                              "scale_factor of shape", "s")]
        out = [math.floor(n * s) for n, s in zip(spatial, scales)]
        if recompute_scale_factor or mode == "area":
            scales = [None] * dim
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported by chainrule (mode "
                                  f"{mode!r}); resize without it")
    if mode not in ("nearest", "nearest-exact", "area", "bicubic") + tuple(_LINEAR):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                                  f"{input.ndim}D) for the modes: {_ALL_MODES} (got {mode})")
    if mode in _LINEAR and input.ndim != _LINEAR[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_LINEAR[mode]}D input")
    if input.ndim not in (3, 4, 5) or (mode == "area" and input.ndim == 5):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                                  f"{input.ndim}D) for the modes: {_ALL_MODES} (got {mode})"
                                  + ("; chainrule's area mode takes 3D and 4D inputs"
                                     if mode == "area" and input.ndim == 5 else ""))
    if mode == "bicubic":
        raise NotImplementedError(f"{op}: mode 'bicubic' is not supported by chainrule; use "
                                  "'bilinear'")
    if min(spatial) < 1 or min(out) < 1:
        raise RuntimeError(f"{op}: input and output sizes should be greater than 0, but got "
                           f"input {tuple(spatial)} and output {tuple(out)}")
    if mode == "area":
        pool = adaptive_avg_pool1d if dim == 1 else adaptive_avg_pool2d
        return pool(input, out)
    if input.dtype.kind not in "fc" and (mode in _LINEAR or input.dtype != np.uint8):
        kernel = ("upsample_bilinear2d_channels_last" if mode == "bilinear" else
                  "compute_indices_weights_linear" if mode in _LINEAR else
                  "upsample_nearest2d_channels_last" if dim == 2 else
                  "compute_indices_weights_nearest")  # PyTorch's kernels, named in its errors
        raise NotImplementedError(f'{op}: "{kernel}" not implemented for '
                                  f"'{torch_name(input.dtype)}' (mode {mode!r}; PyTorch resizes "
                                  "only uint8 among integer dtypes, by nearest): convert the "
                                  "input with .float()")
    if mode.startswith("nearest"):
        exact = mode == "nearest-exact"
        idx = [_nearest_index(n, o, s, exact, input.dtype, dim == 2)
               for n, o, s in zip(spatial, out, scales)]
        if all(len(i) == n and (i == np.arange(n)).all() for i, n in zip(idx, spatial)):
            return input.clone()
        return GetItem.apply(input, index=(Ellipsis,) + np.ix_(*idx))
    y = input
    for axis in range(-1, -dim - 1, -1):  # the last axis first, as PyTorch nests its loops
        n, o, s = spatial[axis], out[axis], scales[axis]
        if n == o:
            continue
        i0, i1, l0, l1 = _linear_weights(n, o, s, align_corners, input.dtype)
        trail = (slice(None),) * (-1 - axis)
        shape = (-1,) + (1,) * (-1 - axis)
        y = (GetItem.apply(y, index=(Ellipsis, i0) + trail) * l0.reshape(shape)
             + GetItem.apply(y, index=(Ellipsis, i1) + trail) * l1.reshape(shape))
    return y if y is not input else input.clone()


def _per_axis(value, dim, spatial, what, given, letter):
    """``size`` or ``scale_factor``, one for each of the ``dim`` spatial axes."""
    if not isinstance(value, (list, tuple)):
        return [value] * dim
    if len(value) != dim:
        name = "output size" if what == "output" else what
        raise ValueError(f"Input and {what} must have the same number of spatial dimensions, but "
                         f"got input with spatial dimensions of {spatial} and {given} {value}. "
                         f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                         f"{name} in ({letter}1, {letter}2, ...,{letter}K) format.")
    return value


def _nearest_index(n: int, out: int, scale, exact: bool, dtype, two_d: bool) -> np.ndarray:
    """PyTorch's source index of each output position. Its 2-D kernel computes in float32 (and
    copies or halves where out is n or 2n); its 1-D and 3-D kernels in the input's precision,
    ``nearest-exact`` as ⌊max(scale·(i + ½) - ½, 0) + ½⌋ with a fused multiply-add."""
    i = np.arange(out)
    t = np.float64 if np.dtype(dtype) == np.float64 and not two_d else np.float32
    s = t(1.0 / scale) if scale is not None and scale > 0 else t(n) / t(out)
    if two_d:
        if not exact and out == n:
            return i
        if not exact and out == 2 * n:
            return i >> 1
        src = (i + 0.5) * np.float64(s) if exact else i.astype(t) * s
    elif exact:
        src = np.maximum(_fma(s, i), 0).astype(np.float64) + 0.5
    else:
        src = i.astype(t) * s
    return np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n - 1)


def _fma(s, i):
    """s·(i + ½) - ½ in s's precision with one rounding (the fused multiply-add of PyTorch's
    vectorised kernels): exact in float64 for a float32 s."""
    if isinstance(s, np.float32):
        return (np.float64(s) * (i + 0.5) - 0.5).astype(np.float32)
    return s * (i + 0.5) - 0.5


def _linear_weights(n: int, out: int, scale, align_corners: bool, dtype):
    """PyTorch's two source indices and weights of each output position, computed in the
    input's precision (float32 for float32: its opmath type)."""
    t = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    if align_corners:
        ratio = t(n - 1) / t(out - 1) if out > 1 else t(0)
        src = ratio * np.arange(out).astype(t)
    else:
        ratio = t(1.0 / scale) if scale is not None and scale > 0 else t(n) / t(out)
        src = np.maximum(_fma(ratio, np.arange(out)), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    l1 = np.clip(src - i0.astype(t), t(0), t(1))
    i1 = i0 + (i0 < n - 1)
    return i0, i1, (t(1) - l1).astype(dtype), l1.astype(dtype)


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
    """Deprecated in PyTorch for ``interpolate``, which it calls."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(..., mode="nearest")`` (deprecated in PyTorch)."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(..., mode="bilinear", align_corners=True)`` (deprecated in PyTorch)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# -- pixel shuffle ---------------------------------------------------------------------------------

def pixel_shuffle(input, upscale_factor: int):
    """(*, C·r², H, W) -> (*, C, H·r, W·r): each group of r² channels becomes an r x r block of
    pixels, as ``torch.nn.functional.pixel_shuffle`` (a reshape, a permute, a reshape)."""
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor, input)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible "
                           f"by the square of upscale_factor, but input.size(-3)={c} is not "
                           f"divisible by {r * r}")
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int):
    """(*, C, H·r, W·r) -> (*, C·r², H, W), the inverse of ``pixel_shuffle``, as
    ``torch.nn.functional.pixel_unshuffle``."""
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor, input)
    *lead, c, h, w = input.shape
    for name, size, axis in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by "
                               f"downscale_factor, but input.size({axis})={size} is not divisible "
                               f"by {r}")
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _factor(op, name, r, x):
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r <= 0:
        raise RuntimeError(f"{op} expects a positive {name}, but got {r!r}")
    if x.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input "
                           f"with {x.ndim} dimension(s)")
    return int(r)
