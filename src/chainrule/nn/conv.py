"""Convolution layers over ``functional``: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d`` and
``ConvTranspose2d``, with PyTorch's arguments, parameter shapes and initialisation."""

from __future__ import annotations

import numpy as np

from . import functional as F
from . import init
from .linear import _factory
from .module import Module
from .parameter import Parameter


def _tuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _ConvNd(Module):
    """What the convolution layers share: their arguments as n-tuples, checked as PyTorch checks
    them, and ``weight`` (C_out, C_in / groups, *kernel_size) — (C_in, C_out / groups,
    *kernel_size) when transposed — and ``bias`` (C_out,), initialised as PyTorch's (weight
    kaiming_uniform_ with a=√5, bias U(-1/√fan_in, 1/√fan_in), fan_in = weight.shape[1] ·
    kernel elements)."""

    _dims = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        n = self._dims
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of ['zeros', 'reflect', 'replicate', "
                             f"'circular'], but got padding_mode='{padding_mode}'")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.dilation = _tuple(dilation, n)
        self.output_padding = (0,) * n  # a transposed conv's: set by its __init__
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}" + (" (and transposed convolutions take "
                                                       "numbers only)" if self._transposed else ""))
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n)
        # what F.pad pads for "same" or a padding_mode other than zeros: (left, right, top, bottom)
        if padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pads = [(t // 2, t - t // 2) for t in total]
        elif padding == "valid":
            pads = [(0, 0)] * n
        else:
            pads = [(p, p) for p in self.padding]
        self._reversed_padding_repeated_twice = tuple(p for pair in reversed(pads) for p in pair)
        shape = ((in_channels, out_channels // groups) if self._transposed else
                 (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_reset_(self.weight, self.bias)

    def _padded(self, input):
        """(input, padding for the conv): input padded by F.pad where the conv cannot pad it."""
        pads = self._reversed_padding_repeated_twice
        if self.padding_mode == "zeros" and pads[::2] == pads[1::2]:
            return input, tuple(reversed(pads[::2]))
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        return F.pad(input, pads, mode=mode), 0

    def extra_repr(self) -> str:
        n = self._dims
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if isinstance(self.padding, str) or self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """Cross-correlate (N, C_in, L) or (C_in, L) inputs with ``weight`` (C_out, C_in / groups, k)
    and add ``bias`` (C_out,). ``padding`` may be a number, "valid" or "same" (stride 1);
    ``padding_mode`` "zeros", "reflect", "replicate" or "circular"."""

    _dims = 1

    def forward(self, input):
        input, padding = self._padded(input)
        return F.conv1d(input, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv2d(_ConvNd):
    """Cross-correlate (N, C_in, H, W) inputs with ``weight`` (C_out, C_in / groups, kH, kW) and
    add ``bias`` (C_out,). ``padding`` may be a number, a pair, "valid" or "same" (stride 1);
    ``padding_mode`` "zeros", "reflect", "replicate" or "circular"."""

    def forward(self, input):
        params = self._parameters
        input, padding = self._padded(input)
        return F.conv2d(input, params["weight"], params["bias"], self.stride, padding,
                        self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)
        self.output_padding = _tuple(output_padding, self._dims)

    def _output_padding(self, input, output_size) -> tuple:
        """The output_padding that gives ``output_size`` (the spatial sizes, or with the batch and
        channel dimensions), or the layer's own without it, as PyTorch's."""
        n = self._dims
        if output_size is None:
            return self.output_padding
        lead = 2 if input.ndim == n + 2 else 1
        if len(output_size) == lead + n:
            output_size = output_size[lead:]
        if len(output_size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have "
                             f"{n} or {lead + n} elements (got {len(output_size)})")
        smallest = [(input.shape[lead + d] - 1) * self.stride[d] - 2 * self.padding[d]
                    + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        largest = [m + s - 1 for m, s in zip(smallest, self.stride)]
        for size, lo, hi in zip(output_size, smallest, largest):
            if not lo <= size <= hi:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes "
                                 f"range from {smallest} to {largest} (for an input of "
                                 f"{tuple(input.shape[lead:])})")
        return tuple(size - lo for size, lo in zip(output_size, smallest))


class ConvTranspose1d(_ConvTransposeNd):
    """The transposed convolution of (N, C_in, L) or (C_in, L) inputs ("deconvolution", the
    gradient of Conv1d with respect to its input): ``weight`` (C_in, C_out / groups, k),
    ``bias`` (C_out,); ``forward(input, output_size=None)`` picks output_padding for a size."""

    _dims = 1

    def forward(self, input, output_size=None):
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """The transposed convolution of (N, C_in, H, W) inputs ("deconvolution", the gradient of
    Conv2d with respect to its input): ``weight`` (C_in, C_out / groups, kH, kW), ``bias``
    (C_out,); ``forward(input, output_size=None)`` picks output_padding for a size."""

    def forward(self, input, output_size=None):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)
