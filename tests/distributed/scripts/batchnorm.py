"""Run by test_ddp.py under `mpirun -n 2`: BatchNorm under DistributedDataParallel keeps
per-rank batch statistics; with broadcast_buffers, each forward starts from rank 0's running
statistics. Each rank saves its inputs, outputs and running means to <out>/rank<r>.npz."""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn
from chainrule.nn.parallel import DistributedDataParallel

out = sys.argv[1]
dist.init_process_group("mpi")
r = dist.get_rank()
ddp = DistributedDataParallel(nn.BatchNorm1d(3).double())
rng = np.random.RandomState(10 + r)
x1, x2 = rng.randn(8, 3) * (r + 1) + r, rng.randn(8, 3)
y1 = ddp(cr.tensor(x1)).detach().numpy()
mean1 = ddp.module.running_mean.numpy().copy()
ddp(cr.tensor(x2))
mean2 = ddp.module.running_mean.numpy().copy()
np.savez(f"{out}/rank{r}.npz", x1=x1, x2=x2, y1=y1, mean1=mean1, mean2=mean2)
dist.destroy_process_group()
