"""``SyncBatchNorm``: batch norm whose batch statistics are those of the whole batch, over
every rank of the default process group (``torch.nn.SyncBatchNorm``)."""

from __future__ import annotations

from .module import Module
from .normalization import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs with statistics over all ranks' batches: the mean and
    the (biased) variance per channel are sums over the ranks (two differentiable all-reduces,
    so the backward pass sums over the ranks too). Equal to BatchNorm on the concatenated batch.
    Without a process group of more than one rank, or in eval mode, it is plain BatchNorm.
    ``convert_sync_batchnorm(model)`` replaces a model's BatchNorm layers by this."""

    _expected_dims = (2, 3, 4, 5)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def forward(self, input):
        from .. import distributed as dist

        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        from ..distributed.functional import all_reduce
        from ..tensor import _make
        import numpy as np

        self._check_input_dim(input)
        axes = (0,) + tuple(range(2, input.ndim))
        shape = (1, -1) + (1,) * (input.ndim - 2)
        local = _make(np.array(input.numel() // input.shape[1], dtype=input._data.dtype), None)
        count = all_reduce(local)  # images (times positions) over every rank
        mean = all_reduce(input.sum(dim=axes)) / count
        centred = input - mean.reshape(shape)
        var = all_reduce((centred * centred).sum(dim=axes)) / count
        out = centred / (var.reshape(shape) + self.eps).sqrt()
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        if self.track_running_stats:
            self.num_batches_tracked._data += 1
            m = (1.0 / float(self.num_batches_tracked._data) if self.momentum is None
                 else self.momentum)
            n = float(count._data)
            unbiased = var._data * (n / max(n - 1, 1))
            self.running_mean._data[...] = (1 - m) * self.running_mean._data + m * mean._data
            self.running_var._data[...] = (1 - m) * self.running_var._data + m * unbiased
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
        parameters and running statistics (``module`` itself if it is one)."""
        from .normalization import BatchNorm1d, BatchNorm2d

        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if getattr(module, name, None) is not None:
                    setattr(sync, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                if getattr(module, name, None) is not None:
                    setattr(sync, name, getattr(module, name))
            sync.training = module.training
            return sync
        for name, child in list(module._modules.items()):
            if child is not None:
                setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module
