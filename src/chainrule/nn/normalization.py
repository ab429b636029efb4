"""Normalisation layers: ``BatchNorm1d`` and ``BatchNorm2d`` (each channel over the batch),
``InstanceNorm1d`` and ``InstanceNorm2d`` (each channel of each sample), ``LayerNorm`` (the last
dimensions of each sample) and ``GroupNorm`` (groups of channels of each sample)."""

from __future__ import annotations

import warnings

import numpy as np

from ..ops.nn import batch_norm, group_norm, instance_norm, layer_norm
from ..tensor import _make
from . import init
from .linear import _factory
from .module import Module
from .parameter import Parameter


def _affine_parameters(module, shape, affine: bool, bias: bool, dtype) -> None:
    """Give a norm layer its ``weight`` and ``bias`` of ``shape`` (None where not asked for)."""
    module.register_parameter("weight", Parameter(np.empty(shape, dtype)) if affine else None)
    module.register_parameter("bias", Parameter(np.empty(shape, dtype)) if affine and bias
                              else None)


def _reset_affine(module) -> None:
    """weight 1 and bias 0, where the layer has them."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


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
        _affine_parameters(self, num_features, affine, bias, dtype)
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
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine(self)

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
            self.num_batches_tracked._data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked._data)
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


class _InstanceNorm(_BatchNorm):
    """y = (x - mean) / √(var + eps) · weight + bias, the statistics of each channel of each
    sample (over its positions). ``affine`` (weight 1, bias 0) and ``track_running_stats`` are
    off by default; with the latter, training updates ``running_mean`` and ``running_var`` and
    eval mode normalises with them."""

    _no_batch_dims = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._expected_dims:
            want = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{self._get_name()}: expected {want} input (got {input.ndim}D "
                             f"input)")

    def forward(self, input):
        self._check_input_dim(input)
        axis = input.ndim - self._no_batch_dims
        if input.shape[axis] != self.num_features:
            if self.affine:
                raise ValueError(f"{self._get_name()}: expected input's size at dim={axis} to "
                                 f"match num_features ({self.num_features}), but got: "
                                 f"{input.shape[axis]}.")
            warnings.warn(f"input's size at dim={axis} does not match num_features. You can "
                          "silence this warning by not passing in num_features, which is not "
                          "used because affine=False", stacklevel=2)
        unbatched = input.ndim == self._no_batch_dims
        y = instance_norm(input.unsqueeze(0) if unbatched else input, self.running_mean,
                          self.running_var, self.weight, self.bias,
                          self.training or not self.track_running_stats,
                          0.0 if self.momentum is None else self.momentum, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L) inputs."""

    _expected_dims = (2, 3)
    _no_batch_dims = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W) inputs."""

    _expected_dims = (3, 4)
    _no_batch_dims = 3


class LayerNorm(Module):
    """y = (x - mean) / √(var + eps) · weight + bias over the last dimensions of the input, those
    of ``normalized_shape`` (an int or a tuple); ``weight`` (1) and ``bias`` (0) of that shape
    with ``elementwise_affine`` (``bias=False``: none). One fused node."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input):
        params = self._parameters
        return layer_norm(input, self.normalized_shape, params["weight"], params["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Split the C channels of (N, C, *) inputs into ``num_groups`` groups and normalise each
    group of each sample over its channels and positions; then ``weight`` (1) and ``bias`` (0),
    one per channel, with ``affine`` (``bias=False``: no bias)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, num_channels, affine, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input):
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
