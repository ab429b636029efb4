"""Run by test_ddp.py under `mpirun -n 2`: SyncBatchNorm (convert_sync_batchnorm) under
DistributedDataParallel, each rank on half of every batch; rank 0 saves the state to <out>."""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.nn.parallel import DistributedDataParallel

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from problem import batches, build_bn, make_optimizer  # noqa: E402

out = sys.argv[1]
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
model = nn.SyncBatchNorm.convert_sync_batchnorm(build_bn(seed=100 + r))
assert isinstance(model[1], nn.SyncBatchNorm)
ddp = DistributedDataParallel(model)
opt = make_optimizer("sgd", ddp.parameters())
for x, y in batches("float64"):
    share = slice(r * len(x) // n, (r + 1) * len(x) // n)
    opt.zero_grad()
    F.cross_entropy(ddp(cr.tensor(x[share])), cr.tensor(y[share])).backward()
    opt.step()
if r == 0:
    np.savez(out, **{k: v.numpy() for k, v in ddp.state_dict().items()})
dist.destroy_process_group()
