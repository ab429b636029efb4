"""Run by test_collectives.py under `mpirun -n 2`: every collective, each rank's results to
<out>/rank<r>.json."""
import json
import sys

import chainrule as cr
import chainrule.distributed as dist

out = sys.argv[1]
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
res = {"rank": r, "world_size": n, "initialized": dist.is_initialized()}


def base():  # rank r holds [r + 1, 2 (r + 1), 3 (r + 1)] in float64
    return cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64) * (r + 1)


for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
    t = base()
    v = t._version
    dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
    res[f"all_reduce_{op}"] = t.tolist()
    res["version_bumped"] = t._version > v
t = base()
work = dist.all_reduce(t, async_op=True)
work.wait()
res["all_reduce_async"] = t.tolist()
res["async_completed"] = work.is_completed()

t = cr.tensor([[float(r)] * 2] * 2)  # non-contiguous view: a column, written back in place
col = t[:, 1]
dist.all_reduce(col)
res["all_reduce_view"] = t.tolist()

t = base()
dist.broadcast(t, src=1)
res["broadcast"] = t.tolist()

outs = [cr.zeros(3, dtype=cr.float64) for _ in range(n)]
dist.all_gather(outs, base())
res["all_gather"] = [o.tolist() for o in outs]

t = base()
dist.reduce(t, dst=0)
res["reduce"] = t.tolist()

t = cr.zeros(2)
dist.scatter(t, [cr.tensor([10.0, 11.0]), cr.tensor([20.0, 21.0])] if r == 0 else None, src=0)
res["scatter"] = t.tolist()

gl = [cr.zeros(3, dtype=cr.float64) for _ in range(n)] if r == 1 else None
dist.gather(base(), gl, dst=1)
res["gather"] = [g.tolist() for g in gl] if gl else None

t = cr.tensor([1, 2], dtype=cr.int64) * (r + 1)
dist.all_reduce(t)
res["all_reduce_int"] = t.tolist()
res["int_dtype"] = str(t.dtype)

errors = {}
try:
    dist.all_gather([cr.zeros(3)], base())
except ValueError as e:
    errors["all_gather_len"] = str(e)
try:
    dist.broadcast(base(), src=5)
except ValueError as e:
    errors["broadcast_src"] = str(e)
try:  # (these fail before any message is sent: no rank waits for the other)
    dist.scatter(cr.zeros(2), [cr.zeros(2)] * 2 if r == 1 else None, src=0)
except ValueError as e:
    errors["scatter_list"] = str(e)
res["errors"] = errors

from chainrule.utils.data.distributed import DistributedSampler  # noqa: E402

s = DistributedSampler(range(7), shuffle=False)  # rank and world from the group
res["sampler"] = list(s)
dist.barrier()
dist.destroy_process_group()
res["initialized_after"] = dist.is_initialized()
with open(f"{out}/rank{r}.json", "w") as f:
    json.dump(res, f)
