"""Does starting each bucket's allreduce during backward pay? Time per training step of the
MLP and CNN of ``chainrule train`` under DistributedDataParallel, with overlap (buckets start
from the gradient hooks) and without (all buckets start after backward), and plain one-process
steps on the same per-rank batch for the hooks' cost.

    mpirun -n 2 python benchmarks/ddp_overlap.py [mlp|cnn] [per-rank batch] [steps]
"""
import sys
import time

import chainrule as cr
from chainrule.threads import set_num_threads
import chainrule.distributed as dist
import chainrule.nn.functional as F
from chainrule.nn.parallel import DistributedDataParallel
from chainrule.training.models import build_model

name = sys.argv[1] if len(sys.argv) > 1 else "mlp"
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 100
set_num_threads(1)  # one BLAS thread per rank: 2 ranks × 2 threads on 2 cores wait on each other
dist.init_process_group("mpi")
r = dist.get_rank()
x, y = cr.randn(batch, 1, 28, 28), cr.randint(0, 10, (batch,))


def run(model, label):
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    for i in range(steps + 10):
        if i == 10:
            dist.barrier()
            start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    took = (time.perf_counter() - start) / steps * 1e3
    if r == 0:
        print(f"{name} batch {batch}/rank  {label:<28} {took:7.2f} ms/step", flush=True)


run(build_model(name), "no DDP (each rank alone)")
for overlap in (True, False, True, False):  # (the default on one machine: False)
    ddp = DistributedDataParallel(build_model(name))
    ddp._overlap = overlap
    run(ddp, f"DDP, overlap={overlap}, {len(ddp._buckets)} buckets")
    for h in ddp._handles:
        h.remove()
