"""Convolution and pooling over (N, C, H, W) arrays, as ``torch.nn.functional``.

Inside, arrays are batch-last: (C, H, W, N) in memory, as in a careful hand-written NumPy CNN.
A window row of the padded input xp (C, Hp, Wp, N) is then one run of Wo*N contiguous floats, so
im2col is one strided copy into cols (C*kh*kw, Ho*Wo*N), a convolution is one matmul
Y = W @ cols whose result (O, Ho*Wo*N) is again batch-last, and col2im is one strided add per
kernel offset. ``conv2d`` returns Y as an (N, O, Ho, Wo) view, uncopied; then ReLU keeps that
layout, the pools keep whichever layout they are given (their offsets' views are runs of N), the
flatten before a Linear layer is a view, and a gradient coming back in that layout needs no copy.

Pooling walks the kh*kw offsets of the window, each a strided view of the input: no scatter
(``np.add.at``) anywhere. Big arrays come from a pool of recycled buffers (``_pool``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.function import Function
from ._pool import _empty, _order, _scratch
from .reduce import MaxDim
from .shape import Pad

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "Unfold", "Fold", "conv2d", "max_pool2d",
           "avg_pool2d", "unfold", "fold"]


class Conv2d(Function):
    """y[n,o,h,w] = b[o] + Σ_{c,i,j} W[o,c,i,j] · xpad[n,c, sh·h + dh·i, sw·w + dw·j]: Y = W @ cols;
    dL/dW = dL/dY @ colsᵀ,  dL/dcols = Wᵀ @ dL/dY (added back onto x: col2im),  dL/db = Σ dL/dY
    (with a bias, cols has a last row of ones and W a last column b: Y = [W b] @ [cols; 1])"""

    op = "conv2d"

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        (pt, pb, pl, pr), (dh, dw) = padding, dilation
        hp, wp = h + pt + pb, w + pl + pr
        ho = (hp - dh * (kh - 1) - 1) // stride[0] + 1
        wo = (wp - dw * (kw - 1) - 1) // stride[1] + 1
        # The padded input, batch last: a window row is a run of wo*n floats. Its border is zero
        # from birth and stays so: only this line asks for arrays tagged with this padding, and
        # it writes the interior only.
        xp = _scratch((c, hp, wp, n), x.dtype, zeroed=("conv2d padded input", padding))
        np.copyto(xp[:, pt:pt + h, pl:pl + w], x.transpose(1, 2, 3, 0))
        # The bias trick: one more row of cols, all ones, and the bias as one more column of W,
        # so that the matmul adds the bias (and in backward, dL/dY @ colsᵀ also gives dL/db):
        # no separate pass over Y to add it, nor over dL/dY to sum it.
        k = c // groups * kh * kw
        cols = _scratch((groups, k + (bias is not None), ho * wo * n), x.dtype)
        np.copyto(cols[:, :k].reshape(groups, c // groups, kh, kw, ho, wo, n),
                  _windows(xp, (kh, kw), (ho, wo), stride, dilation).reshape(
                      groups, c // groups, kh, kw, ho, wo, n))
        wb = weight.reshape(groups, o // groups, k)
        if bias is not None:
            cols[:, k] = 1
            wb = np.concatenate([wb, bias.reshape(groups, o // groups, 1)], axis=2)
        out = _matmul(wb, cols, _scratch((groups, o // groups, ho * wo * n), x.dtype))
        y = out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)  # (N, O, Ho, Wo), a view: no copy
        need = ctx.needs_input_grad
        ctx.saved = (cols if need[1] else None, weight if need[0] else None, (n, c, h, w),
                     unbatched)
        ctx.out_size = (ho, wo)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad_output):
        cols, weight, (n, c, h, w), unbatched = ctx.saved
        stride, (pt, pb, pl, pr), dilation, groups = ctx.inputs[3:]
        need = ctx.needs_input_grad
        g = grad_output[None] if unbatched else grad_output
        _, o, ho, wo = g.shape
        ge = g.transpose(1, 2, 3, 0)  # dL/dY as (O, Ho, Wo, N): a view when it comes from a conv
        if not ge.flags.c_contiguous:
            ge = _scratch((o, ho, wo, n), g.dtype)
            np.copyto(ge, g.transpose(1, 2, 3, 0))
        ge = ge.reshape(groups, o // groups, ho * wo * n)
        grad_x = grad_w = grad_b = None
        wshape = ctx.inputs[1].shape
        k = wshape[1] * wshape[2] * wshape[3]  # rows of cols per group, the bias's row aside
        if need[1]:
            grad_wb = _matmul(ge, cols.transpose(0, 2, 1))  # (G, O/G, k, plus 1 with a bias)
            grad_w = grad_wb[:, :, :k].reshape(wshape)
            if need[2]:  # the bias trick: the last column is Σ dL/dY · 1
                grad_b = grad_wb[:, :, k].reshape(o)
        if need[2] and grad_b is None:
            grad_b = ge.reshape(o, ho * wo * n).sum(axis=1)
        if need[0]:
            kh, kw = weight.shape[2:]
            gcols = _matmul(weight.reshape(groups, o // groups, k).transpose(0, 2, 1), ge,
                            _scratch((groups, c // groups * kh * kw, ho * wo * n), g.dtype))
            gcols = gcols.reshape(c, kh, kw, ho, wo, n)
            # col2im: one strided add per kernel offset, straight into the unpadded gradient (taps
            # on the padding are dropped). An offset that reaches every input pixel (the centre
            # of a 3x3 kernel with padding 1) is copied first instead: no zero-fill pass.
            taps_h = [_taps(i, dilation[0], stride[0], pt, h, ho) for i in range(kh)]
            taps_w = [_taps(j, dilation[1], stride[1], pl, w, wo) for j in range(kw)]
            offsets = [(i, j) for i in range(kh) for j in range(kw) if taps_h[i] and taps_w[j]]
            full = [(i, j) for i, j in offsets if _covers(taps_h[i], h) and _covers(taps_w[j], w)]
            gx = _scratch((c, h, w, n), g.dtype)
            if full:
                i, j = full[0]
                offsets.remove((i, j))
                np.copyto(gx, gcols[:, i, j, taps_h[i][1], taps_w[j][1]])
            else:
                gx.fill(0)
            for i, j in offsets:
                (xh, yh), (xw, yw) = taps_h[i], taps_w[j]
                gx[:, xh, xw] += gcols[:, i, j, yh, yw]
            grad_x = gx.transpose(3, 0, 1, 2)
            if unbatched:
                grad_x = grad_x[0]
        return grad_x, grad_w, grad_b, None, None, None, None

    @staticmethod
    def composite(ctx, x, weight, bias, stride, padding, dilation, groups):
        """The same convolution in primitive ops, Y = W @ unfold(x): what ``create_graph=True``
        differentiates (the fused backward above works on arrays only)."""
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        pt, pb, pl, pr = padding
        if any(padding):
            x = Pad.apply(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), "constant", 0.0)
        n, c = x.shape[:2]
        o, _, kh, kw = weight.shape
        cols = Unfold.apply(x, (kh, kw), dilation, stride)  # (N, C·kh·kw, L)
        out_h, out_w = ctx.out_size
        cols = cols.reshape(n, groups, c // groups * kh * kw, out_h * out_w)
        y = weight.reshape(1, groups, o // groups, c // groups * kh * kw) @ cols
        y = y.reshape(n, o, out_h, out_w)
        if bias is not None:
            y = y + bias.reshape(1, o, 1, 1)
        return y[0] if unbatched else y


class MaxPool2d(Function):
    """y = the max of each window;  dL/dx = dL/dy at the window's first maximum (row-major, as
    PyTorch), 0 elsewhere: routed offset by offset, ``rest`` holding what is not yet taken"""

    op = "max_pool2d"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, out_size, indices=None):
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        fill = -np.inf if x.dtype.kind in "fc" else np.iinfo(x.dtype).min
        xp = _pool_input(x, kernel_size, stride, padding, dilation, out_size, fill)
        views = _offsets(xp, kernel_size, stride, dilation, out_size)
        y = _empty(views[0].shape, x.dtype, _order(x))  # x's layout (batch last after a conv)
        if len(views) == 1:
            np.copyto(y, views[0])
        else:
            np.maximum(views[0], views[1], out=y)
        for v in views[2:]:
            np.maximum(y, v, out=y)
        if indices is not None:  # return_indices: where each max came from, in the unpadded input
            indices.append(_argmax_indices(views, y, x.shape, kernel_size, stride, padding,
                                           dilation, unbatched))
        ctx.saved = (xp, y, x.shape, unbatched) if ctx.needs_input_grad[0] else ()
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad_output):
        xp, y, shape, unbatched = ctx.saved
        kernel_size, stride, padding, dilation, out_size = ctx.inputs[1:6]
        order = _order(y)
        rest = _empty(y.shape, y.dtype, order)  # laid out as y and x, whatever grad_output is
        g = grad_output[None] if unbatched else grad_output
        if _order(g) != order:  # transpose once here, not in each offset's products below
            np.copyto(rest, g)
            g = rest
        is_max = _empty(y.shape, bool, order)
        grad, views, overlap = _grad_buffer(xp.shape, order, shape, kernel_size, stride, padding,
                                            dilation, out_size, rest.dtype)
        taken = _empty(y.shape, y.dtype, order) if overlap else None
        xviews = _offsets(xp, kernel_size, stride, dilation, out_size)
        last = len(views) - 1
        for k, (gv, xv) in enumerate(zip(views, xviews)):
            np.equal(xv, y, out=is_max)
            took = taken if overlap else gv
            np.multiply(g if k == 0 else rest, is_max, out=took)  # (k = 0 reads g: no copy)
            if overlap:
                gv += taken
            if k < last:  # the first max takes it all; later ties get 0
                np.subtract(g if k == 0 else rest, took, out=rest)
        return _crop(grad, shape, padding, unbatched), None, None, None, None, None

    @staticmethod
    def composite(ctx, x, kernel_size, stride, padding, dilation, out_size, indices=None):
        """The same pooling in primitive ops, the max of each column of unfold(x) (its first
        maximum, as here): what ``create_graph=True`` differentiates."""
        windows, unbatched = _pool_windows(x, kernel_size, stride, padding, dilation, out_size,
                                           -np.inf)
        idx = np.argmax(windows.data, axis=2)
        y = MaxDim.apply(windows, idx, 2, False)
        y = y.reshape(y.shape[:2] + tuple(out_size))
        return y[0] if unbatched else y


class AvgPool2d(Function):
    """y = Σ window / divisor;  dL/dx = Σ over the windows holding x of dL/dy / divisor"""

    op = "avg_pool2d"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, out_size, count_include_pad, divisor):
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        xp = _pool_input(x, kernel_size, stride, padding, (1, 1), out_size, 0)
        views = _offsets(xp, kernel_size, stride, (1, 1), out_size)
        y = _empty(views[0].shape, x.dtype, _order(x))
        np.copyto(y, views[0])
        for v in views[1:]:
            y += v
        div = _divisor(x.shape, kernel_size, stride, padding, out_size, count_include_pad,
                       divisor, x.dtype)
        y /= div
        ctx.saved = (div, x.shape, xp.shape, _order(y), unbatched)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad_output):
        div, shape, padded_shape, order, unbatched = ctx.saved
        kernel_size, stride, padding, out_size = ctx.inputs[1:5]
        g = _empty(padded_shape[:2] + tuple(out_size), grad_output.dtype, order)
        np.divide(grad_output[None] if unbatched else grad_output, div, out=g)
        grad, views, overlap = _grad_buffer(padded_shape, order, shape, kernel_size, stride,
                                            padding, (1, 1), out_size, g.dtype)
        for gv in views:
            if overlap:
                gv += g
            else:
                np.copyto(gv, g)
        return _crop(grad, shape, padding, unbatched), None, None, None, None, None, None

    @staticmethod
    def composite(ctx, x, kernel_size, stride, padding, out_size, count_include_pad, divisor):
        """The same pooling in primitive ops, the sum of each column of unfold(x) over its
        divisor: what ``create_graph=True`` differentiates."""
        div = ctx.saved[0]
        windows, unbatched = _pool_windows(x, kernel_size, stride, padding, (1, 1), out_size, 0.0)
        y = windows.sum(dim=2)
        y = y.reshape(y.shape[:2] + tuple(out_size)) / div
        return y[0] if unbatched else y


class Unfold(Function):
    """Sliding windows as columns (im2col): x (N, C, H, W) -> (N, C·kh·kw, L), L windows in
    row-major order, column [c, i, j] of window (p, q) holding x[n, c, sh·p + dh·i, sw·q + dw·j];
    dL/dx = fold(dL/dy): each window's gradient added back where it was read"""

    op = "unfold"

    @staticmethod
    def forward(ctx, x, kernel_size, dilation, stride):
        n, c, h, w = x.shape
        (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
        ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
        s0, s1, s2, s3 = x.strides
        view = as_strided(x, (n, c, kh, kw, ho, wo), (s0, s1, dh * s2, dw * s3, sh * s2, sw * s3),
                          writeable=False)
        ctx.size = (h, w)
        return view.reshape(n, c * kh * kw, ho * wo)

    @staticmethod
    def backward(ctx, grad_output):
        _, kernel_size, dilation, stride = ctx.inputs
        return Fold.call(grad_output, ctx.size, kernel_size, dilation, stride), None, None, None


class Fold(Function):
    """Columns back to an image (col2im), the adjoint of unfold: cols (N, C·kh·kw, L) ->
    (N, C, H, W), where windows overlap their values add up;  dL/dcols = unfold(dL/dy)"""

    op = "fold"

    @staticmethod
    def forward(ctx, cols, output_size, kernel_size, dilation, stride):
        (h, w), (kh, kw), (dh, dw), (sh, sw) = output_size, kernel_size, dilation, stride
        ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
        n, k, length = cols.shape
        if k % (kh * kw) or length != ho * wo:
            raise RuntimeError(f"fold: input of shape {cols.shape} does not hold {kh}x{kw} "
                               f"windows of a {h}x{w} image ({ho * wo} windows)")
        blocks = cols.reshape(n, k // (kh * kw), kh, kw, ho, wo)
        out = np.zeros((n, k // (kh * kw), h, w), cols.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                    j * dw:j * dw + sw * (wo - 1) + 1:sw] += blocks[:, :, i, j]
        return out

    @staticmethod
    def backward(ctx, grad_output):
        _, _, kernel_size, dilation, stride = ctx.inputs
        return Unfold.call(grad_output, kernel_size, dilation, stride), None, None, None, None


def _pool_windows(x, kernel, stride, padding, dilation, out, fill):
    """The pooling windows of x as (N, C, kh·kw, Ho·Wo), x padded with ``fill`` (recorded)."""
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    n, c, h, w = x.shape
    hb = max(h + 2 * padding[0], (out[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)
    wb = max(w + 2 * padding[1], (out[1] - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1)
    if (hb, wb) != (h, w):
        widths = ((0, 0), (0, 0), (padding[0], hb - h - padding[0]), (padding[1], wb - w - padding[1]))
        x = Pad.apply(x, widths, "constant", fill)
    cols = Unfold.apply(x, kernel, dilation, stride)
    hl = (hb - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wl = (wb - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    cols = cols.reshape(n, c, kernel[0] * kernel[1], hl, wl)
    if (hl, wl) != tuple(out):
        cols = cols[:, :, :, :out[0], :out[1]]
    return cols.reshape(n, c, kernel[0] * kernel[1], out[0] * out[1]), unbatched


# -- the functions, with PyTorch's signatures ------------------------------------------------------

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    input (N, C, H, W) or (C, H, W), weight (O, C/groups, kh, kw), bias (O,) -> (N, O, Ho, Wo)
    with Ho = (H + 2·padding - dilation·(kh - 1) - 1) // stride + 1 (likewise Wo). ``padding``
    is an int, a pair, ``'valid'`` (0) or ``'same'`` (stride 1 only; the odd pixel goes
    bottom/right, as PyTorch)."""
    op = "conv2d"
    shape, wshape = tuple(input.shape), tuple(weight.shape)
    if len(shape) not in (3, 4) or 0 in shape[-3:]:
        raise RuntimeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input "
                           f"of shape {shape}")
    if len(wshape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D weight (out_channels, in_channels / groups, kh, "
                           f"kw), got weight of shape {wshape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise RuntimeError(f"{op}: groups must be a positive integer, got {groups!r}")
    if wshape[0] % groups:
        raise RuntimeError(f"{op}: out_channels ({wshape[0]}) of weight of shape {wshape} must be "
                           f"divisible by groups={groups}")
    if shape[-3] != wshape[1] * groups:
        g = f" and groups={groups}" if groups != 1 else ""
        raise RuntimeError(f"{op}: expected input with {wshape[1] * groups} channels for weight of "
                           f"shape {wshape}{g}, got input of shape {shape}")
    if bias is not None and tuple(bias.shape) != (wshape[0],):
        raise RuntimeError(f"{op}: expected bias of shape ({wshape[0]},) for weight of shape "
                           f"{wshape}, got bias of shape {tuple(bias.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"{op}: input ({input.dtype}) and {name} ({t.dtype}) must have the "
                               "same dtype")
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    stride = _pair(stride, "stride", op, minimum=1)
    dilation = _pair(dilation, "dilation", op, minimum=1)
    kh, kw = wshape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise RuntimeError(f"{op}: padding='same' is not supported for strided "
                                   f"convolutions (stride={stride})")
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            raise RuntimeError(f"{op}: invalid padding string {padding!r}, should be one of "
                               "'valid', 'same'")
    else:
        ph, pw = _pair(padding, "padding", op, minimum=0)
        pads = (ph, ph, pw, pw)
    hp, wp = shape[-2] + pads[0] + pads[1], shape[-1] + pads[2] + pads[3]
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if hp < eh or wp < ew:
        dilated = " (dilated)" if dilation != (1, 1) else ""
        raise RuntimeError(f"{op}: input of size {hp}x{wp} (after padding) is smaller than the"
                           f"{dilated} kernel {eh}x{ew}")
    return Conv2d.apply(input, weight, bias, stride, pads, dilation, int(groups))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over kh x kw windows, as ``torch.nn.functional.max_pool2d``: (N, C, H, W) or
    (C, H, W) -> (N, C, Ho, Wo); stride defaults to kernel_size; padding is -inf (at most half
    the kernel). With ``return_indices``, also each max's flat index into the input's H*W."""
    op = "max_pool2d"
    kernel_size, stride, padding, dilation, out = _pool_args(
        op, input, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return MaxPool2d.apply(input, kernel_size, stride, padding, dilation, out)
    found = []
    y = MaxPool2d.apply(input, kernel_size, stride, padding, dilation, out, indices=found)
    from ..tensor import _make
    return y, _make(found[0], None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None):
    """Mean over kh x kw windows, as ``torch.nn.functional.avg_pool2d``: (N, C, H, W) or
    (C, H, W) -> (N, C, Ho, Wo). The divisor is ``divisor_override`` if given, else the window's
    size clipped to the padded input (``count_include_pad``) or to the input itself."""
    op = "avg_pool2d"
    kernel_size, stride, padding, _, out = _pool_args(op, input, kernel_size, stride, padding, 1,
                                                      ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override == 0):
        raise RuntimeError(f"{op}: divisor_override must be a non-zero integer, got "
                           f"{divisor_override!r}")
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    return AvgPool2d.apply(input, kernel_size, stride, padding, out, bool(count_include_pad),
                           divisor_override)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks as columns (im2col), as ``torch.nn.functional.unfold``:
    (N, C, H, W) -> (N, C·kh·kw, L), or (C, H, W) -> (C·kh·kw, L); L = the number of windows."""
    op = "unfold"
    k, d, p, s = _block_args(op, kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input "
                           f"of shape {tuple(input.shape)}")
    x = input[None] if input.ndim == 3 else input
    if p != (0, 0):
        x = Pad.apply(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), "constant", 0.0)
    h, w = x.shape[2:]
    if h < d[0] * (k[0] - 1) + 1 or w < d[1] * (k[1] - 1) + 1:
        raise RuntimeError(f"{op}: input of size {h}x{w} (after padding) is smaller than the "
                           f"kernel {k[0]}x{k[1]} (dilation {d})")
    cols = Unfold.apply(x, k, d, s)
    return cols[0] if input.ndim == 3 else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns back into an image, adding where blocks overlap (col2im), as
    ``torch.nn.functional.fold``: (N, C·kh·kw, L) -> (N, C, H, W), or unbatched (C·kh·kw, L)."""
    op = "fold"
    size = _pair(output_size, "output_size", op, minimum=1)
    k, d, p, s = _block_args(op, kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D (C·kh·kw, L) or 3-D (N, C·kh·kw, L) input, got "
                           f"input of shape {tuple(input.shape)}")
    cols = input[None] if input.ndim == 2 else input
    padded = (size[0] + 2 * p[0], size[1] + 2 * p[1])
    y = Fold.apply(cols, padded, k, d, s)
    if p != (0, 0):
        y = y[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
    return y[0] if input.ndim == 2 else y


# -- helpers --------------------------------------------------------------------------------------

def _block_args(op, kernel_size, dilation, padding, stride):
    """unfold's and fold's options as pairs, checked."""
    return (_pair(kernel_size, "kernel_size", op, minimum=1),
            _pair(dilation, "dilation", op, minimum=1), _pair(padding, "padding", op, minimum=0),
            _pair(stride, "stride", op, minimum=1))


def _pair(v, name, op, minimum):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    else:
        try:
            v = tuple(v)
        except TypeError:
            v = None
        ints = v is not None and all(isinstance(a, (int, np.integer)) for a in v)
        if not ints or len(v) != 2 or any(isinstance(a, bool) for a in v):
            raise RuntimeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
        v = (int(v[0]), int(v[1]))
    if min(v) < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise RuntimeError(f"{op}: {name} must be {what}, got {v}")
    return v


def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Normalise a pool's arguments, check them against the input, and compute (Ho, Wo)."""
    shape = tuple(x.shape)
    if len(shape) not in (3, 4) or 0 in shape[-3:]:
        raise RuntimeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input "
                           f"of shape {shape}")
    k = _pair(kernel_size, "kernel_size", op, minimum=1)
    empty = isinstance(stride, (tuple, list)) and len(stride) == 0  # PyTorch's [] for "default"
    s = k if stride is None or empty else _pair(stride, "stride", op, minimum=1)
    p = _pair(padding, "padding", op, minimum=0)
    d = _pair(dilation, "dilation", op, minimum=1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise RuntimeError(f"{op}: padding {p} must be at most half the kernel size {k}")
    h, w = shape[-2:]
    out = tuple(_pool_out(*a, ceil_mode) for a in zip((h, w), k, s, p, d))
    if min(out) < 1:
        dilated = f" with dilation {d}" if d != (1, 1) else ""
        raise RuntimeError(f"{op}: input of size {h}x{w} (padding {p[0]}x{p[1]}) is too small for "
                           f"the kernel {k[0]}x{k[1]}{dilated}: the output would be "
                           f"{out[0]}x{out[1]}")
    return k, s, p, d, out


def _pool_out(n, k, s, p, d, ceil_mode):
    """PyTorch's output size; with ceil_mode the last window must start in the input or left pad."""
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _matmul(a, b, out=None):
    """(G, m, k) @ (G, k, n): a plain 2-D matmul when G = 1."""
    if a.shape[0] == 1:
        if out is None:
            return (a[0] @ b[0])[None]
        np.matmul(a[0], b[0], out=out[0])
        return out
    return np.matmul(a, b, out=out)


def _taps(i, dilation, stride, pad, size, out):
    """Kernel offset i along one axis: (the input positions it reads, the outputs they feed) as
    two slices, leaving out the outputs whose tap falls on padding; None if all of them do.
    Output y reads input stride·y + dilation·i - pad, which must lie in [0, size)."""
    first = max(0, -((dilation * i - pad) // stride))  # ceil((pad - dilation·i) / stride)
    last = min(out - 1, (size - 1 + pad - dilation * i) // stride)
    if first > last:
        return None
    start = stride * first + dilation * i - pad
    return slice(start, start + stride * (last - first) + 1, stride), slice(first, last + 1)


def _covers(taps, size):
    """Do these taps read every input position along the axis, each once?"""
    xs, ys = taps
    return xs.step == 1 and xs.start == 0 and ys.stop - ys.start == size


def _windows(xp, kernel, out, stride, dilation):
    """The read-only view (C, kh, kw, Ho, Wo, N) of the padded input xp (C, Hp, Wp, N):
    [c, i, j, y, x, n] is xp[c, sh·y + dh·i, sw·x + dw·j, n]."""
    _, _, wp, n = xp.shape
    e = xp.itemsize
    row, col = wp * n * e, n * e
    return as_strided(xp, (xp.shape[0],) + kernel + out + (n,),
                      (xp.strides[0], dilation[0] * row, dilation[1] * col, stride[0] * row,
                       stride[1] * col, e), writeable=False)


def _pool_input(x, kernel, stride, padding, dilation, out, fill):
    """x padded with ``fill`` to cover every window (the padding, and ceil_mode's overhang)."""
    n, c, h, w = x.shape
    hb = max(h + 2 * padding[0], (out[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)
    wb = max(w + 2 * padding[1], (out[1] - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1)
    if (hb, wb) == (h, w):
        return x
    xp = _empty((n, c, hb, wb), x.dtype, _order(x))
    xp.fill(fill)
    xp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
    return xp


def _offsets(xp, kernel, stride, dilation, out):
    """For each kernel offset (i, j) in row-major order, the (N, C, Ho, Wo) view of what it sees."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out
    return [xp[:, :, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
            for i in range(kh) for j in range(kw)]


def _grad_buffer(padded_shape, order, shape, kernel, stride, padding, dilation, out, dtype):
    """A gradient buffer shaped (and laid out) like the padded input, its per-offset views, and
    whether windows overlap (then views are added into, else written). Zeroed unless the windows
    tile it."""
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    overlap = stride[0] < span[0] or stride[1] < span[1]
    tiles = (not overlap and tuple(stride) == tuple(kernel)
             and tuple(padded_shape[2:]) == tuple(shape[2:])
             and (out[0] * stride[0], out[1] * stride[1]) == tuple(shape[2:]))
    grad = _empty(padded_shape, dtype, order)
    if not tiles:
        grad.fill(0)
    return grad, _offsets(grad, kernel, stride, dilation, out), overlap


def _crop(grad, shape, padding, unbatched):
    """The gradient of the unpadded input, out of the padded buffer's."""
    h, w = shape[2:]
    if grad.shape[2:] != (h, w):
        grad = grad[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w]
    return grad[0] if unbatched else grad


def _divisor(shape, kernel, stride, padding, out, count_include_pad, divisor, dtype):
    """avg_pool2d's divisor: a number, or per output position (Ho, Wo) where windows are clipped."""
    if divisor is not None:
        return dtype.type(divisor)
    sizes = []
    for n, k, s, p, o in zip(shape[2:], kernel, stride, padding, out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        sizes.append(end - start)
    size = sizes[0][:, None] * sizes[1][None, :]
    if (size == kernel[0] * kernel[1]).all():
        return dtype.type(kernel[0] * kernel[1])
    return size.astype(dtype)


def _argmax_indices(views, y, shape, kernel, stride, padding, dilation, unbatched):
    """Flat index into H*W of each window's max (the first one; with NaNs, the last NaN: as
    PyTorch's scan, which takes a value that is greater or NaN)."""
    k = np.zeros(y.shape, np.int64)
    found = np.zeros(y.shape, bool)
    for i, v in enumerate(views):
        hit = (v == y) & ~found
        k[hit] = i
        found |= hit
        if v.dtype.kind in "fc":
            k[np.isnan(v)] = i
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho, wo = y.shape[2:]
    row = (np.arange(ho) * sh - ph)[:, None] + (k // kw) * dh
    col = (np.arange(wo) * sw - pw)[None, :] + (k % kw) * dw
    idx = row * shape[3] + col
    return idx[0] if unbatched else idx
