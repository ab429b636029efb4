"""``chainrule.nn.parallel``: ``DistributedDataParallel``, data-parallel training on several
processes (``chainrule.distributed``, on MPI)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
