"""``chainrule.distributed``: training on several processes, with ``torch.distributed``'s API,
on MPI (mpi4py)::

    # mpirun -n 2 python train.py
    import chainrule.distributed as dist
    dist.init_process_group("mpi")
    t = cr.ones(3) * dist.get_rank()
    dist.all_reduce(t)                   # every rank: 0 + 1 = [1., 1., 1.]

Importing this package does not start MPI; ``init_process_group`` does (``pip install
'chainrule[distributed]'`` brings mpi4py and MPICH).
"""

from .collectives import (ReduceOp, Work, all_gather, all_reduce, barrier, broadcast, gather,
                          reduce, scatter)
from .group import (destroy_process_group, get_backend, get_rank, get_world_size,
                    init_process_group, is_available, is_initialized, rank_table)

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized",
           "get_rank", "get_world_size", "get_backend", "rank_table", "ReduceOp", "Work",
           "all_reduce", "broadcast", "all_gather", "reduce", "scatter", "gather", "barrier"]
