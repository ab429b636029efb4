"""Convolution and pooling over (N, C, H, W) arrays, as ``torch.nn.functional``.

Inside, arrays are batch-last: (C, H, W, N) in memory, as in a careful hand-written NumPy CNN.
A window row of the padded input xp (C, Hp, Wp, N) is then one run of Wo*N contiguous floats, so
im2col is one strided copy into cols (C*kh*kw, Ho*Wo*N), a convolution is one matmul
Y = W @ cols whose result (O, Ho*Wo*N) is again batch-last, and col2im is one strided add per
kernel offset. ``conv2d`` returns Y as an (N, O, Ho, Wo) view, uncopied; then ReLU keeps that
layout, the pools keep whichever layout they are given (their offsets' views are runs of N), the
flatten before a Linear layer is a view, and a gradient coming back in that layout needs no copy.
A transposed convolution is the same pieces the other way round: its forward is conv2d's input
gradient (Wᵀ @ x, then col2im), its backward a conv2d (im2col of the gradient, then matmuls).
The 1-D ops are the 2-D ones on a height of 1.

Pooling walks the kh*kw offsets of the window, each a strided view of the input: no scatter
(``np.add.at``) anywhere. Big arrays come from a pool of recycled buffers (``_pool``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.function import Function
from ._pool import _empty, _order, _scratch
from .nn import dtype_error, torch_name
from .reduce import MaxDim
from .shape import Pad

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "Unfold", "Fold", "conv2d",
           "conv1d", "conv_transpose2d", "conv_transpose1d", "max_pool2d", "max_pool1d",
           "avg_pool2d", "avg_pool1d", "unfold", "fold"]


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
        ho = (h + pt + pb - dh * (kh - 1) - 1) // stride[0] + 1
        wo = (w + pl + pr - dw * (kw - 1) - 1) // stride[1] + 1
        # The bias trick: one more row of cols, all ones, and the bias as one more column of W,
        # so that the matmul adds the bias (and in backward, dL/dY @ colsᵀ also gives dL/db):
        # no separate pass over Y to add it, nor over dL/dY to sum it.
        cols = _im2col(x, (kh, kw), stride, padding, dilation, groups, (ho, wo), bias is not None)
        k = c // groups * kh * kw
        wb = weight.reshape(groups, o // groups, k)
        if bias is not None:
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
        stride, _, dilation, groups = ctx.inputs[3:]
        need = ctx.needs_input_grad
        g = grad_output[None] if unbatched else grad_output
        _, o, ho, wo = g.shape
        ge = _batch_last(g).reshape(groups, o // groups, ho * wo * n)  # dL/dY, batch last
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
            gx = _col2im(gcols.reshape(c, kh, kw, ho, wo, n), (h, w), stride, ctx.inputs[4],
                         dilation)
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


class ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: y = col2im(Wᵀ @ x), each input pixel spreading its
    kernel-weighted values over a window of the output (W: (C_in, C_out/groups, kh, kw));
    dL/dx = conv2d(dL/dy, W),  dL/dW = x @ im2col(dL/dy)ᵀ,  dL/db = Σ dL/dy"""

    op = "conv_transpose2d"
    needed_by = (1, 0)  # x serves W's gradient, W serves x's

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation, groups):
        ctx.saved = (x, weight)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        n, c, h, w = x.shape
        _, og, kh, kw = weight.shape
        ho, wo = _transposed_size((h, w), (kh, kw), stride, padding, output_padding, dilation)
        cols = _matmul(weight.reshape(groups, c // groups, og * kh * kw).transpose(0, 2, 1),
                       _batch_last(x).reshape(groups, c // groups, h * w * n),
                       _scratch((groups, og * kh * kw, h * w * n), x.dtype))
        y = _col2im(cols.reshape(og * groups, kh, kw, h, w, n), (ho, wo), stride, padding,
                    dilation)
        if bias is not None:
            y += bias.reshape(-1, 1, 1, 1)
        ctx.out_size = (ho, wo)
        y = y.transpose(3, 0, 1, 2)  # (N, C_out, Ho, Wo), a view of the batch-last array
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved
        stride, padding, _, dilation, groups = ctx.inputs[3:]
        need = ctx.needs_input_grad
        unbatched = grad_output.ndim == 3
        g = grad_output[None] if unbatched else grad_output
        n, c, h, w = x.shape if x.ndim == 4 else (1,) + x.shape
        _, og, kh, kw = weight.shape
        k = og * kh * kw
        grad_x = grad_w = grad_b = None
        if need[0] or need[1]:  # dL/dy's windows: dL/dx = W @ them (a conv2d), dL/dW = x @ themᵀ
            cols = _im2col(g, (kh, kw), stride, padding, dilation, groups, (h, w))
        if need[0]:
            gx = _matmul(weight.reshape(groups, c // groups, k), cols)
            grad_x = gx.reshape(c, h, w, n).transpose(3, 0, 1, 2)
            if unbatched:
                grad_x = grad_x[0]
        if need[1]:
            xe = _batch_last(x if x.ndim == 4 else x[None]).reshape(groups, c // groups, h * w * n)
            grad_w = _matmul(xe, cols.transpose(0, 2, 1)).reshape(weight.shape)
        if need[2]:
            grad_b = g.sum(axis=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None, None

    @staticmethod
    def composite(ctx, x, weight, bias, stride, padding, output_padding, dilation, groups):
        """The same transposed convolution in primitive ops, fold(Wᵀ @ x) cropped by the padding:
        what ``create_graph=True`` differentiates."""
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        n, c, h, w = x.shape
        _, og, kh, kw = weight.shape
        cols = weight.reshape(1, groups, c // groups, og * kh * kw).transpose(2, 3) @ x.reshape(
            n, groups, c // groups, h * w)
        full = ((h - 1) * stride[0] + dilation[0] * (kh - 1) + 1,
                (w - 1) * stride[1] + dilation[1] * (kw - 1) + 1)
        y = Fold.apply(cols.reshape(n, groups * og * kh * kw, h * w), full, (kh, kw), dilation,
                       stride)
        (ho, wo), pt, pl = ctx.out_size, padding[0], padding[2]
        short = (max(0, pt + ho - full[0]), max(0, pl + wo - full[1]))  # output_padding's rows
        if any(short):
            y = Pad.apply(y, ((0, 0), (0, 0), (0, short[0]), (0, short[1])), "constant", 0.0)
        y = y[:, :, pt:pt + ho, pl:pl + wo]
        if bias is not None:
            y = y + bias.reshape(1, -1, 1, 1)
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
        last_nan = _last_nan(xviews, y)
        for k, (gv, xv) in enumerate(zip(views, xviews)):
            np.equal(xv, y, out=is_max)
            if last_nan is not None:
                is_max |= last_nan == k
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
        idx = np.argmax(windows._data, axis=2)
        columns = np.moveaxis(windows._data, 2, 0)
        last_nan = _last_nan(columns, columns.max(axis=0))
        if last_nan is not None:
            idx = np.where(last_nan >= 0, last_nan, idx)
        y = MaxDim.apply(windows, idx, 2, False)
        y = y.reshape(y.shape[:2] + tuple(out_size))
        return y[0] if unbatched else y


def _last_nan(views, y):
    """None if no window's max is NaN; else, per window, the offset of its last NaN (-1 where
    none): the one PyTorch's scan keeps, as it takes a value that is greater or NaN."""
    if y.dtype.kind != "f" or not np.isnan(y).any():
        return None
    last = np.full(y.shape, -1, np.int64)
    for k, v in enumerate(views):
        last[np.isnan(v)] = k
    return last


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
    _check_conv(op, input, weight, bias, groups, 2)
    stride = _pair(stride, "stride", op, minimum=1)
    dilation = _pair(dilation, "dilation", op, minimum=1)
    pads = _conv_padding(op, padding, stride, dilation, weight.shape[2:], input.shape[-2:])
    return Conv2d.apply(input, weight, bias, stride, pads, dilation, int(groups))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """1-D cross-correlation, as ``torch.nn.functional.conv1d``: input (N, C, L) or (C, L),
    weight (O, C/groups, k), bias (O,) -> (N, O, Lo), Lo = (L + 2·padding - dilation·(k - 1) - 1)
    // stride + 1; ``padding`` an int, ``'valid'`` or ``'same'``. A conv2d of height 1."""
    op = "conv1d"
    _check_conv(op, input, weight, bias, groups, 1)
    stride = (1, _single(stride, "stride", op, minimum=1))
    dilation = (1, _single(dilation, "dilation", op, minimum=1))
    if not isinstance(padding, str):
        padding = (0, _single(padding, "padding", op, minimum=0))
    pads = _conv_padding(op, padding, stride, dilation, (1,) + tuple(weight.shape[2:]),
                         (1,) + tuple(input.shape[-1:]))
    y = Conv2d.apply(input.unsqueeze(-2), weight.unsqueeze(-2), bias, stride, pads, dilation,
                     int(groups))
    return y.squeeze(-2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """2-D transposed convolution (the input-gradient of conv2d; "deconvolution"), as
    ``torch.nn.functional.conv_transpose2d``: input (N, C_in, H, W) or (C_in, H, W), weight
    (C_in, C_out/groups, kh, kw), bias (C_out,) -> (N, C_out, Ho, Wo) with
    Ho = (H - 1)·stride - 2·padding + dilation·(kh - 1) + output_padding + 1 (likewise Wo)."""
    op = "conv_transpose2d"
    _check_conv(op, input, weight, bias, groups, 2, transposed=True)
    stride = _pair(stride, "stride", op, minimum=1)
    dilation = _pair(dilation, "dilation", op, minimum=1)
    ph, pw = _pair(padding, "padding", op, minimum=0)
    extra = _pair(output_padding, "output_padding", op, minimum=0)
    return _conv_transpose(op, input, weight, bias, stride, (ph, ph, pw, pw), extra, dilation,
                           groups, input.shape[-2:])


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``: input (N, C_in, L)
    or (C_in, L), weight (C_in, C_out/groups, k) -> (N, C_out, Lo) with
    Lo = (L - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1."""
    op = "conv_transpose1d"
    _check_conv(op, input, weight, bias, groups, 1, transposed=True)
    stride = (1, _single(stride, "stride", op, minimum=1))
    dilation = (1, _single(dilation, "dilation", op, minimum=1))
    p = _single(padding, "padding", op, minimum=0)
    extra = (0, _single(output_padding, "output_padding", op, minimum=0))
    y = _conv_transpose(op, input.unsqueeze(-2), weight.unsqueeze(-2), bias, stride, (0, 0, p, p),
                        extra, dilation, groups, input.shape[-1:])
    return y.squeeze(-2)


def _conv_transpose(op, x, weight, bias, stride, pads, extra, dilation, groups, size):
    """The checks on output_padding and on the output size shared by the transposed convs."""
    if not all(e < s or e < d for e, s, d in zip(extra, stride, dilation)):
        raise RuntimeError(f"{op}: output_padding {extra[-len(size):]} must be smaller than either "
                           f"stride {stride[-len(size):]} or dilation {dilation[-len(size):]}")
    out = _transposed_size(x.shape[-2:], weight.shape[2:], stride, pads, extra, dilation)
    if min(out) < 1:
        raise RuntimeError(f"{op}: the output of input of size {tuple(size)} would have size "
                           f"{out[-len(size):]} (padding {pads[2 - len(size)::2]}): it must be "
                           f"positive; use less padding")
    return ConvTranspose2d.apply(x, weight, bias, stride, pads, extra, dilation, int(groups))


_LAYOUTS = {1: ("2-D (C, L)", "3-D (N, C, L)", "k"), 2: ("3-D (C, H, W)", "4-D (N, C, H, W)",
                                                        "kh, kw")}


def _check_conv(op, input, weight, bias, groups, nd, transposed=False):
    """Shapes and dtypes of a convolution's input, weight (O, C/groups, *k), or transposed
    (C, O/groups, *k), and bias (O,)."""
    shape, wshape = tuple(input.shape), tuple(weight.shape)
    unbatched, batched, kernel = _LAYOUTS[nd]
    if len(shape) not in (nd + 1, nd + 2) or 0 in shape[-nd - 1:]:
        raise RuntimeError(f"{op}: expected a {unbatched} or {batched} input, got input of shape "
                           f"{shape}")
    first, second = (("in_channels", "out_channels / groups") if transposed else
                     ("out_channels", "in_channels / groups"))
    if len(wshape) != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight ({first}, {second}, {kernel}), "
                           f"got weight of shape {wshape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise RuntimeError(f"{op}: groups must be a positive integer, got {groups!r}")
    if wshape[0] % groups:
        raise RuntimeError(f"{op}: {first} ({wshape[0]}) of weight of shape {wshape} must be "
                           f"divisible by groups={groups}")
    channels = wshape[0] if transposed else wshape[1] * groups
    if shape[-nd - 1] != channels:
        g = f" and groups={groups}" if groups != 1 and not transposed else ""
        raise RuntimeError(f"{op}: expected input with {channels} channels for weight of "
                           f"shape {wshape}{g}, got input of shape {shape}")
    out = wshape[1] * groups if transposed else wshape[0]
    if bias is not None and tuple(bias.shape) != (out,):
        raise RuntimeError(f"{op}: expected bias of shape ({out},) for weight of shape "
                           f"{wshape}, got bias of shape {tuple(bias.shape)}")
    if bias is not None and bias.dtype != input.dtype and not transposed:
        raise dtype_error(op, f"Input type ({torch_name(input.dtype, True)}) and bias type "
                              f"({torch_name(bias.dtype, True)}) should be the same", input,
                          "bias", bias)
    if weight.dtype != input.dtype:
        raise dtype_error(op, f"expected scalar type {torch_name(input.dtype)} but found "
                              f"{torch_name(weight.dtype)}", input, "weight", weight)
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")


def _conv_padding(op, padding, stride, dilation, kernel, size):
    """conv2d's padding as (top, bottom, left, right), from a pair, 'valid' or 'same'; the
    padded input (of ``size``) must hold the (dilated) kernel."""
    kh, kw = kernel
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):
                strides = stride if op == "conv2d" else stride[1:]
                raise RuntimeError(f"{op}: padding='same' is not supported for strided "
                                   f"convolutions (stride={strides})")
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            raise RuntimeError(f"{op}: invalid padding string {padding!r}, should be one of "
                               "'valid', 'same'")
    else:
        ph, pw = _pair(padding, "padding", op, minimum=0)
        pads = (ph, ph, pw, pw)
    hp, wp = size[0] + pads[0] + pads[1], size[1] + pads[2] + pads[3]
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if hp < eh or wp < ew:
        dilated = " (dilated)" if dilation != (1, 1) else ""
        sizes = f"{hp}x{wp}", f"{eh}x{ew}"
        if op == "conv1d":
            dilated = " (dilated)" if dilation[1] != 1 else ""
            sizes = wp, ew
        raise RuntimeError(f"{op}: input of size {sizes[0]} (after padding) is smaller than the"
                           f"{dilated} kernel {sizes[1]}")
    return pads


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
        return _int_avg(op, avg_pool2d, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override)
    return AvgPool2d.apply(input, kernel_size, stride, padding, out, bool(count_include_pad),
                           divisor_override)


def _int_avg(op, pool, input, *args):
    """An average pool of an int64 input, as PyTorch's: the window's sum over the divisor,
    truncated toward zero (other integer dtypes raise, as there)."""
    if input.dtype != np.int64:
        raise NotImplementedError(f'{op}: "avg_pool2d" not implemented for '
                                  f"'{torch_name(input.dtype)}' (input of shape "
                                  f"{tuple(input.shape)}): convert the input with .float()")
    from ..tensor import _make
    y = pool(_make(input._data.astype(np.float64), None), *args)
    return _make(np.trunc(y._data).astype(np.int64), None)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over windows of ``kernel_size`` along L, as ``torch.nn.functional.max_pool1d``:
    (N, C, L) or (C, L) -> (N, C, Lo); with ``return_indices``, also each max's index into L.
    A max_pool2d of height 1."""
    args = _pool_args("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, 1)
    if input.dtype.kind not in "fc":
        raise NotImplementedError(f'max_pool1d: "max_pool1d_impl" not implemented for '
                                  f"'{torch_name(input.dtype)}' (input of shape "
                                  f"{tuple(input.shape)}): convert the input with .float()")
    found = [] if return_indices else None
    y = MaxPool2d.apply(input.unsqueeze(-2), *args, indices=found).squeeze(-2)
    if not return_indices:
        return y
    from ..tensor import _make
    return y, _make(found[0].squeeze(-2), None)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True):
    """Mean over windows of ``kernel_size`` along L, as ``torch.nn.functional.avg_pool1d``:
    (N, C, L) or (C, L) -> (N, C, Lo)."""
    op = "avg_pool1d"
    kernel, stride2, padding2, _, out = _pool_args(op, input, kernel_size, stride, padding, 1,
                                                   ceil_mode, 1)
    if input.dtype.kind not in "fc":
        return _int_avg(op, avg_pool1d, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad)
    return AvgPool2d.apply(input.unsqueeze(-2), kernel, stride2, padding2, out,
                           bool(count_include_pad), None).squeeze(-2)


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


def _single(v, name, op, minimum):
    """A 1-D op's option: an int or a 1-tuple of an int, checked."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise RuntimeError(f"{op}: {name} must be an int or a tuple of one int, got {v!r}")
    if v < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise RuntimeError(f"{op}: {name} must be {what}, got {v}")
    return int(v)


def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode, nd=2):
    """Normalise a pool's arguments, check them against the input, and compute (Ho, Wo). A 1-D
    pool's (``nd=1``, ints or 1-tuples) come back as those of a 2-D pool of height 1."""
    shape = tuple(x.shape)
    unbatched, batched, _ = _LAYOUTS[nd]
    if len(shape) not in (nd + 1, nd + 2) or 0 in shape[-nd - 1:]:
        raise RuntimeError(f"{op}: expected a {unbatched} or {batched} input, got input of shape "
                           f"{shape}")
    if nd == 1:  # (1, n) from n, (0, n) for the padding; the messages name n alone
        def arg(v, name, op, minimum):
            return minimum, _single(v, name, op, minimum)

        one = sizes = (lambda v: v[1])
    else:
        arg, one = _pair, (lambda v: v)

        def sizes(v):
            return f"{v[0]}x{v[1]}"
    k = arg(kernel_size, "kernel_size", op, minimum=1)
    empty = isinstance(stride, (tuple, list)) and len(stride) == 0  # PyTorch's [] for "default"
    s = k if stride is None or empty else arg(stride, "stride", op, minimum=1)
    p = arg(padding, "padding", op, minimum=0)
    d = arg(dilation, "dilation", op, minimum=1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise RuntimeError(f"{op}: padding {one(p)} must be at most half the kernel size {one(k)}")
    size = ((1,) + shape[-1:]) if nd == 1 else shape[-2:]
    out = tuple(_pool_out(*a, ceil_mode) for a in zip(size, k, s, p, d))
    if min(out) < 1:
        dilated = f" with dilation {one(d)}" if d != (1, 1) else ""
        raise RuntimeError(f"{op}: input of size {sizes(size)} (padding {sizes(p)}) is too small "
                           f"for the kernel {sizes(k)}{dilated}: the output would be "
                           f"{sizes(out)}")
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


def _transposed_size(size, kernel, stride, padding, output_padding, dilation):
    """A transposed convolution's output size: (H - 1)·stride - 2·padding + dilation·(k - 1)
    + output_padding + 1 along each axis (padding given as (top, bottom, left, right))."""
    return tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in
                 zip(size, kernel, stride, padding[::2], output_padding, dilation))


def _im2col(x, kernel, stride, padding, dilation, groups, out, ones_row=False):
    """The windows of x (N, C, H, W) as columns, batch last: cols (G, C/G·kh·kw, Ho·Wo·N), read
    from a padded copy (C, Hp, Wp, N) of x, in which a window row is one run of Wo·N floats.
    ``padding`` is (top, bottom, left, right); ``ones_row`` adds a last row of ones (the bias
    trick)."""
    n, c, h, w = x.shape
    (kh, kw), (pt, pb, pl, pr), (ho, wo) = kernel, padding, out
    # The padded copy's border is zero from birth and stays so: only this line asks for arrays
    # tagged with this padding, and it writes the interior only.
    xp = _scratch((c, h + pt + pb, w + pl + pr, n), x.dtype,
                  zeroed=("conv2d padded input", padding))
    np.copyto(xp[:, pt:pt + h, pl:pl + w], x.transpose(1, 2, 3, 0))
    k = c // groups * kh * kw
    cols = _scratch((groups, k + ones_row, ho * wo * n), x.dtype)
    np.copyto(cols[:, :k].reshape(groups, c // groups, kh, kw, ho, wo, n),
              _windows(xp, kernel, out, stride, dilation).reshape(
                  groups, c // groups, kh, kw, ho, wo, n))
    if ones_row:
        cols[:, k] = 1
    return cols


def _col2im(gcols, size, stride, padding, dilation):
    """The adjoint of ``_im2col``: columns gcols (C, kh, kw, Ho, Wo, N) added back where they
    were read, into (C, H, W, N); taps on the padding are dropped. One strided add per kernel
    offset; an offset that reaches every position (the centre of a 3x3 kernel with padding 1)
    is copied first instead: no zero-fill pass."""
    c, kh, kw, ho, wo, n = gcols.shape
    (h, w), pt, pl = size, padding[0], padding[2]
    taps_h = [_taps(i, dilation[0], stride[0], pt, h, ho) for i in range(kh)]
    taps_w = [_taps(j, dilation[1], stride[1], pl, w, wo) for j in range(kw)]
    offsets = [(i, j) for i in range(kh) for j in range(kw) if taps_h[i] and taps_w[j]]
    full = [(i, j) for i, j in offsets if _covers(taps_h[i], h) and _covers(taps_w[j], w)]
    gx = _scratch((c, h, w, n), gcols.dtype)
    if full:
        i, j = full[0]
        offsets.remove((i, j))
        np.copyto(gx, gcols[:, i, j, taps_h[i][1], taps_w[j][1]])
    else:
        gx.fill(0)
    for i, j in offsets:
        (xh, yh), (xw, yw) = taps_h[i], taps_w[j]
        gx[:, xh, xw] += gcols[:, i, j, yh, yw]
    return gx


def _batch_last(x):
    """x (N, C, H, W) as a C-contiguous (C, H, W, N) array: a view when x came from a conv."""
    xe = x.transpose(1, 2, 3, 0)
    if not xe.flags.c_contiguous:
        xe = _scratch(xe.shape, x.dtype)
        np.copyto(xe, x.transpose(1, 2, 3, 0))
    return xe


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
    (_, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho, wo = y.shape[2:]
    row = (np.arange(ho) * sh - ph)[:, None] + (k // kw) * dh
    col = (np.arange(wo) * sw - pw)[None, :] + (k % kw) * dw
    idx = row * shape[3] + col
    return idx[0] if unbatched else idx
