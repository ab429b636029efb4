"""What ``chainrule train --distributed`` changes in the training loop, in one place.

One process per rank (``mpirun -n N chainrule train --distributed``): every rank trains a
replica of the model on its share of each epoch (``DistributedSampler``), with gradients
averaged by ``DistributedDataParallel``; the batch size is per rank. Rank 0 alone logs, shows
the progress bar and writes the checkpoint, metrics and plots. Decisions that end the loop
(Ctrl-C, a loss of NaN) are taken by all ranks together, at the same step, so that no rank is
left waiting in a collective for the others.

Without ``--distributed``, ``Ranks`` is one rank and changes nothing.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np


class Ranks:
    """This process's place among the training processes: ``rank``, ``size``, ``main``."""

    def __init__(self, distributed: bool = False):
        self.distributed = distributed
        self.rank, self.size = 0, 1
        if distributed:
            from .. import distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("mpi")
            self.rank, self.size = dist.get_rank(), dist.get_world_size()
        self.main = self.rank == 0

    def describe(self) -> str:
        """Where each rank runs: "0 = pid 123 on node1, 1 = pid 124 on node1"."""
        from ..distributed.group import world

        return ", ".join(f"{r} = pid {pid} on {host}"
                         for r, (host, pid) in enumerate(world().where))

    def log(self, log):
        """``log`` on rank 0; nothing on the others."""
        return log if self.main else (lambda *a, **k: None)

    def wrap(self, model):
        """The module the training steps call: ``DistributedDataParallel(model)`` on several
        ranks (which copies rank 0's weights to all), else ``model``."""
        if not self.distributed:
            return model
        from ..nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)

    def steps(self, n: int, batch_size: int) -> int:
        """Steps in an epoch of ``n`` images: each rank sees ceil(n / size) of them."""
        return math.ceil(math.ceil(n / self.size) / batch_size)

    def loader(self, train_set, batch_size: int, seed: int, epoch: int):
        """The epoch's batches for this rank: its share of a permutation seeded seed + epoch."""
        from ..data import DataLoader
        from ..data.distributed import DistributedSampler

        sampler = DistributedSampler(train_set, self.size, self.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return DataLoader(train_set, batch_size=batch_size, sampler=sampler)

    def any(self, *flags: bool) -> tuple:
        """Each flag, true if it is true on any rank (every rank gets the same answer)."""
        if self.size == 1:
            return tuple(bool(f) for f in flags)
        from .. import distributed as dist
        from ..tensor import _make

        t = _make(np.array([float(bool(f)) for f in flags]), None)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in t._data)

    def sum(self, sums: dict) -> dict:
        """``sums`` (numbers) added over the ranks."""
        if self.size == 1:
            return dict(sums)
        from .. import distributed as dist
        from ..tensor import _make

        keys = sorted(sums)
        t = _make(np.array([float(sums[k]) for k in keys]), None)
        dist.all_reduce(t)
        out = dict(zip(keys, t._data.tolist()))
        return {k: (int(round(v)) if isinstance(sums[k], int) else v) for k, v in out.items()}

    def fail(self, message: str, code: int) -> None:
        """An error on one rank: say it (naming the rank), then end every rank, so that none
        waits for this one (rank 0 speaks first; the others wait a moment for it)."""
        if self.size == 1:
            return
        from .. import distributed as dist
        from ..distributed.group import world

        if not self.main:
            sys.stderr.write(f"chainrule train: rank {self.rank}: error: {message}\n")
            sys.stderr.flush()
            time.sleep(1.0)
        sys.stdout.flush()
        sys.stderr.flush()
        if dist.is_initialized():
            world().comm.Abort(code)
