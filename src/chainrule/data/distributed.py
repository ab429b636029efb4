"""``DistributedSampler``: each rank's share of a dataset, as ``torch.utils.data.distributed``.

Its index lists are PyTorch's, index for index: the shuffle is ``torch.randperm`` with a
``torch.Generator`` seeded ``seed + epoch``, reproduced here (a Mersenne Twister seeded as
PyTorch seeds it, and PyTorch's swap loop), so that a run moved between PyTorch and chainrule
sees the same samples on the same ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy as np

from .sampler import Sampler


def torch_randperm(n: int, seed: int) -> list[int]:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()`` on the CPU:
    MT19937 seeded with the low 32 bits of ``seed``, then for i = 0..n-2 swap r[i] and
    r[i + (draw % (n - i))]."""
    legacy = np.random.RandomState(seed & 0xFFFFFFFF)  # MT19937's own seeding, as PyTorch's
    mt = np.random.MT19937()
    mt.state = legacy.get_state(legacy=False)
    m = max(n - 1, 0)
    steps = (mt.random_raw(m).astype(np.int64) % (n - np.arange(m))).tolist()
    r = list(range(n))
    for i, z in enumerate(steps):
        j = i + z
        r[i], r[j] = r[j], r[i]
    return r


class DistributedSampler(Sampler):
    """The indices rank ``rank`` of ``num_replicas`` visits: a permutation of the dataset (seeded
    ``seed + epoch``; call ``set_epoch`` before each epoch for a new one), padded with its first
    indices to a multiple of ``num_replicas`` (or, with ``drop_last``, cut to one), then every
    ``num_replicas``-th index from ``rank`` on. Without ``num_replicas``/``rank``, the default
    process group's."""

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "chainrule.distributed.init_process_group() first "
                                   "(Requires distributed package to be available)")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        indices = torch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:  # pad with the first indices (repeated, if it takes more)
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration shuffles for: every rank must call it with the same
        value, so that their shares do not overlap."""
        self.epoch = epoch
