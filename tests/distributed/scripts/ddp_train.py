"""Run by test_ddp.py under `mpirun -n 2`: 20 steps of DistributedDataParallel training, each
rank on its half of every batch of 64; rank 0 saves the weights to <out>.

    ddp_train.py OUT DTYPE OPTIMIZER MODE      (MODE: plain, or no_sync: two micro-batches)
"""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
import chainrule.nn.functional as F
from chainrule.nn.parallel import DistributedDataParallel

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from problem import batches, build, make_optimizer  # noqa: E402

out, dtype, optimizer, mode = sys.argv[1:5]
bucket_mb = float(sys.argv[5]) if len(sys.argv) > 5 else None
if mode.endswith("+overlap"):  # start buckets during backward (the default across machines)
    DistributedDataParallel._overlap = True
    mode = mode[:-len("+overlap")]
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
model = build(dtype, seed=100 + r)  # different on each rank: DDP must copy rank 0's
ddp = DistributedDataParallel(model, bucket_cap_mb=bucket_mb)
opt = make_optimizer(optimizer, ddp.parameters())
for x, y in batches(dtype):
    share = slice(r * len(x) // n, (r + 1) * len(x) // n)
    x, y = cr.tensor(x[share]), cr.tensor(y[share])
    opt.zero_grad()
    if mode == "no_sync":  # accumulate over two micro-batches, average over ranks once
        half = len(x) // 2
        with ddp.no_sync():
            (F.cross_entropy(ddp(x[:half]), y[:half]) / 2).backward()
        g = next(ddp.parameters()).grad  # inside no_sync: this rank's own gradient
        both = [cr.zeros_like(g) for _ in range(n)]
        dist.all_gather(both, g)
        local_differs = not np.array_equal(both[0].numpy(), both[1].numpy())
        (F.cross_entropy(ddp(x[half:]), y[half:]) / 2).backward()
    else:
        F.cross_entropy(ddp(x), y).backward()
    opt.step()
if r == 0:
    extra = {"no_sync_grads_differ": local_differs} if mode == "no_sync" else {}
    np.savez(out, **{k: v.numpy() for k, v in ddp.state_dict().items()}, **extra)
dist.destroy_process_group()
