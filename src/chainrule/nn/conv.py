"""``Conv2d``: a 2-D convolution layer over ``functional.conv2d``."""

from __future__ import annotations



from . import functional as F
from . import init
from .linear import _factory
from .module import Module


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Conv2d(Module):
    """Cross-correlate (N, C_in, H, W) inputs with ``weight`` (C_out, C_in / groups, kH, kW) and
    add ``bias`` (C_out,); PyTorch's arguments and its default initialisation (weight
    kaiming_uniform_ with a=√5, bias U(-1/√fan_in, 1/√fan_in), fan_in = C_in / groups · kH · kW).
    ``padding`` may be a number, a pair, "valid" or "same" (stride 1); ``padding_mode`` "zeros",
    "reflect", "replicate" or "circular"."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of ['zeros', 'reflect', 'replicate', "
                             f"'circular'], but got padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _pair(padding)
        # (left, right, top, bottom) for F.pad: what "same" or a non-zero padding_mode pads
        if padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            self._reversed_padding_repeated_twice = (total[1] // 2, total[1] - total[1] // 2,
                                                     total[0] // 2, total[0] - total[0] // 2)
        elif padding == "valid":
            self._reversed_padding_repeated_twice = (0, 0, 0, 0)
        else:
            ph, pw = self.padding
            self._reversed_padding_repeated_twice = (pw, pw, ph, ph)
        init._weight_and_bias(self, (out_channels, in_channels // groups) + self.kernel_size,
                              bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_reset_(self.weight, self.bias)

    def forward(self, input):
        params = self._parameters
        left, right, top, bottom = self._reversed_padding_repeated_twice
        if self.padding_mode == "zeros" and left == right and top == bottom:
            return F.conv2d(input, params["weight"], params["bias"], self.stride, (top, left),
                            self.dilation, self.groups)
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        padded = F.pad(input, self._reversed_padding_repeated_twice, mode=mode)
        return F.conv2d(padded, params["weight"], params["bias"], self.stride, (0, 0),
                        self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if isinstance(self.padding, str) or self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
