"""``BatchNorm1d`` and ``BatchNorm2d``: normalise each channel over the batch."""

from __future__ import annotations

import numpy as np

from ..ops.nn import batch_norm
from ..tensor import _make
from . import init
from .linear import _factory
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    """y = (x - mean) / √(var + eps) · weight + bias, per channel (axis 1).

    Training uses the batch's statistics and updates the buffers ``running_mean`` and
    ``running_var`` (momentum 0.1, the unbiased batch variance; ``momentum=None``: a cumulative
    average) and counts ``num_batches_tracked``; eval mode uses the running statistics.
    ``weight`` starts at 1 and ``bias`` at 0."""

    _expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.empty(num_features, dtype))
            if bias:
                self.bias = Parameter(np.empty(num_features, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _make(np.zeros(num_features, dtype), None))
            self.register_buffer("running_var", _make(np.ones(num_features, dtype), None))
            self.register_buffer("num_batches_tracked", _make(np.array(0, np.int64), None))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._expected_dims:
            want = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{self._get_name()}: expected {want} input (got {input.ndim}D "
                             f"input of shape {input.shape})")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{self._get_name()}: expected {self.num_features} channels on axis "
                             f"1, got input of shape {input.shape}")

    def forward(self, input):
        self._check_input_dim(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias,
                          use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs."""

    _expected_dims = (4,)
