"""Pooling layers over ``functional``: max and average pooling in 1-D and 2-D, and adaptive
pooling (to a fixed output size)."""

from __future__ import annotations

from . import functional as F
from .module import Module


class _MaxPool(Module):
    _pool = None  # the functional pool: F.max_pool1d or F.max_pool2d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return type(self)._pool(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPool):
    """The maximum of each ``kernel_size`` window along L, moved by ``stride`` (default: the
    kernel size) over a (N, C, L) or (C, L) input padded with -inf by ``padding``; with
    ``return_indices``, also each maximum's index."""

    _pool = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPool):
    """The maximum of each ``kernel_size`` window, moved by ``stride`` (default: the kernel
    size) over a (N, C, H, W) input padded with -inf by ``padding``; with ``return_indices``,
    also each maximum's flat index into H·W."""

    _pool = staticmethod(F.max_pool2d)


class _AvgPool(Module):
    def __init__(self, kernel_size, stride, padding, ceil_mode: bool,
                 count_include_pad: bool) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPool):
    """The mean of each ``kernel_size`` window along L, moved by ``stride`` (default: the kernel
    size); ``count_include_pad`` counts the zero padding in the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        one = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,)  # noqa: E731
        super().__init__(one(kernel_size), one(stride if stride is not None else kernel_size),
                         one(padding), ceil_mode, count_include_pad)

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPool):
    """The mean of each ``kernel_size`` window, moved by ``stride`` (default: the kernel size);
    ``count_include_pad`` counts the zero padding in the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None) -> None:
        super().__init__(kernel_size, stride if stride is not None else kernel_size, padding,
                         ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _AdaptivePool(Module):
    """Pooling to a fixed ``output_size`` whatever the input's: windows ⌊i·n/out⌋ to
    ⌈(i+1)·n/out⌉ along each axis (None in ``output_size`` keeps that axis's size)."""

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """The mean over adaptive windows of (N, C, L) or (C, L) inputs."""

    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """The mean over adaptive windows of (N, C, H, W) or (C, H, W) inputs
    (``AdaptiveAvgPool2d(1)``: global average pooling)."""

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveMaxPool1d(_AdaptivePool):
    """The maximum over adaptive windows of (N, C, L) or (C, L) inputs; with
    ``return_indices``, also each maximum's index into L."""

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptivePool):
    """The maximum over adaptive windows of (N, C, H, W) or (C, H, W) inputs; with
    ``return_indices``, also each maximum's flat index into H·W."""

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)
