"""Run by test_faults.py under `mpirun -n 2`: one rank fails in the way argv[1] names.

    mismatch  rank 1 builds a wider layer: DistributedDataParallel refuses, on every rank
    killed    rank 1 is killed (SIGKILL) in the middle of training
    hung      rank 1 stops calling collectives; the others time out after 2 s
    raises    rank 1 raises an uncaught exception in the middle of training
"""
import datetime
import os
import signal
import sys
import time

import chainrule as cr
import chainrule.distributed as dist
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.nn.parallel import DistributedDataParallel

what = sys.argv[1]
dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=2 if what == "hung" else 1800))
r = dist.get_rank()
def say(line):  # one write per line: mpirun interleaves the ranks' outputs by writes
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


say(f"RANK {r} PID {os.getpid()}")
if len(sys.argv) > 2:  # this rank's error messages into <dir>/rank<r>.err
    sys.stderr = open(f"{sys.argv[2]}/rank{r}.err", "w", buffering=1)
width = 8 if (what == "mismatch" and r == 1) else 6
model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
try:
    ddp = DistributedDataParallel(model)
except RuntimeError as e:
    say(f"RANK {r} REFUSED: {e}")
    sys.exit(0)
opt = cr.optim.SGD(ddp.parameters(), lr=0.1)
x, y = cr.randn(8, 4), cr.randint(0, 2, (8,))
for step in range(1000):
    if r == 1 and step == 5:
        if what == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if what == "hung":
            time.sleep(600)
        if what == "raises":
            raise ValueError("rank 1 failed on purpose")
    opt.zero_grad()
    F.cross_entropy(ddp(x), y).backward()
    opt.step()
    time.sleep(0.01)
say(f"RANK {r} FINISHED")
