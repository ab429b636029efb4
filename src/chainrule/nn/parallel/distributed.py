"""``DistributedDataParallel``: one model replica per rank, gradients averaged over the ranks.

Each rank runs forward and backward on its own share of the batch. As backward writes the
gradients (a post-accumulate-grad hook on every parameter), they are copied into buckets of about
``bucket_cap_mb``; a full bucket is averaged over the ranks at once (MPI Iallreduce, non-blocking)
while backward goes on with the earlier layers. When backward has finished (an engine callback),
the last buckets are started, all are waited for, and the averages written back into ``.grad``.
Every rank then holds the same gradient, and its optimiser takes the same step: the replicas
stay identical, and equal to one process training on the whole batch.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ...autograd import versions
from ...autograd.engine import queue_callback
from ...autograd.grad_mode import is_grad_enabled
from ...tensor import _make
from ..module import Module

_MB = 1024 * 1024
_FIRST_BUCKET_BYTES = 1 * _MB  # the last layers' gradients, ready first, start early (as PyTorch)


class _Bucket:
    """Parameters whose gradients are averaged together, through one flat array."""

    def __init__(self, params: list, dtype):
        self.params = params
        self.offsets, n = [], 0
        for p in params:
            self.offsets.append(n)
            n += p._data.size
        self.flat = np.empty(n, dtype)
        self.ready: set = set()
        self.request = None

    def start(self, w) -> None:
        flat = self.flat
        for p, off in zip(self.params, self.offsets):
            size = p._data.size
            if p.grad is None:  # no gradient on this rank (an unused parameter): it adds 0
                flat[off:off + size] = 0
            else:
                flat[off:off + size] = p.grad._data.reshape(-1)
        self.request = w.comm.Iallreduce(w.MPI.IN_PLACE, flat, w.MPI.SUM)

    def finish(self, w) -> None:
        from ...distributed.group import wait

        wait(w, self.request, "DistributedDataParallel: gradient all_reduce")
        self.request = None
        self.ready.clear()
        np.divide(self.flat, w.size, out=self.flat)
        for p, off in zip(self.params, self.offsets):
            avg = self.flat[off:off + p._data.size].reshape(p._data.shape)
            if p.grad is None:
                p.grad = _make(avg.copy(), None)
            else:
                p.grad._data[...] = avg
                versions.bump(p.grad._data)


class DistributedDataParallel(Module):
    """Data-parallel training over the ranks of the default process group
    (``torch.nn.parallel.DistributedDataParallel``)::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(build_model())
        for x, y in loader:               # a DistributedSampler gives each rank its share
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()   # gradients averaged over the ranks
            opt.step()

    At construction, checks that every rank built the same model (parameter and buffer names,
    shapes, dtypes) and copies rank 0's parameters and buffers to the others. With
    ``broadcast_buffers``, each forward first copies rank 0's buffers (BatchNorm's running
    statistics) to every rank; the batch statistics stay per rank. ``no_sync()``: backward
    passes of forwards run inside it only accumulate, for gradient accumulation.

    CPU only: ``device_ids`` and ``output_device`` must be None (or name the CPU). PyTorch's
    other arguments are accepted; unused parameters are handled with or without
    ``find_unused_parameters`` (they add a zero gradient)."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool | None = True, init_sync: bool = True,
                 process_group=None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 delay_all_reduce_named_params=None, param_to_hook_all_reduce=None,
                 mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params: bool = False) -> None:
        super().__init__()
        from ...distributed.group import _check_group

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got "
                            f"{type(module).__name__}")
        for name, value in (("device_ids", device_ids), ("output_device", output_device)):
            if value not in (None, [], ["cpu"], "cpu") and str(value) != "cpu":
                raise ValueError(f"DistributedDataParallel: {name}={value!r}: chainrule runs on "
                                 "the CPU; leave it None")
        w = _check_group(process_group)
        self.module = module
        self.broadcast_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.find_unused_parameters = find_unused_parameters
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * _MB)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.dim = dim
        object.__setattr__(self, "_world", w)
        _check_same_model(w, module)
        if init_sync:
            _broadcast_tensors(w, [t for _, t in module.named_parameters()]
                               + [t for _, t in module.named_buffers()])
        params = [p for _, p in module.named_parameters() if p.requires_grad]
        object.__setattr__(self, "_buckets", _make_buckets(params, self.bucket_bytes_cap))
        object.__setattr__(self, "_bucket_of",
                           {id(p): b for b in self._buckets for p in b.params})
        object.__setattr__(self, "_sync", True)  # did the forward feeding this backward sync?
        object.__setattr__(self, "_queued", False)
        if self._overlap is None:
            object.__setattr__(self, "_overlap", len({host for host, _ in w.where}) > 1)
        object.__setattr__(self, "_handles",
                           [p.register_post_accumulate_grad_hook(self._grad_ready)
                            for p in params])

    # Start a bucket's averaging as soon as it is full (during backward), or all of them after
    # backward? MPI moves a non-blocking collective's data only inside MPI calls, and on one
    # machine the ranks share its cores: there, starting early gained nothing
    # (benchmarks/ddp_overlap.py, MLP, 64 per rank, 2 ranks on 2 busy cores: 9.6-10.5 ms/step
    # either way, of which 5.3 ms computing). Across machines the network can move a started
    # bucket while backward computes.
    _overlap = None  # None: only when the ranks run on more than one machine

    # -- forward --------------------------------------------------------------------------------

    def forward(self, *inputs, **kwargs):
        if is_grad_enabled():
            object.__setattr__(self, "_sync", self.require_backward_grad_sync)
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = [t for _, t in self.module.named_buffers()]
            if buffers and self._world.size > 1:
                _broadcast_tensors(self._world, buffers)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of the forwards run inside only accumulate ``.grad`` on each rank;
        the first backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # -- backward: the gradient hooks --------------------------------------------------------------

    def _grad_ready(self, param) -> None:
        if not self._sync or self._world.size == 1:
            return
        if not self._queued:
            object.__setattr__(self, "_queued", True)
            queue_callback(self._finish_backward)
        bucket = self._bucket_of[id(param)]
        bucket.ready.add(id(param))
        if self._overlap:
            if len(bucket.ready) == len(bucket.params):
                bucket.start(self._world)
            for b in self._buckets:  # let MPI move the averaging already under way
                if b.request is not None:
                    b.request.Test()

    def _finish_backward(self) -> None:
        object.__setattr__(self, "_queued", False)
        w = self._world
        for b in self._buckets:
            if b.request is None:  # some of its parameters got no gradient on this rank
                b.start(w)
        for b in self._buckets:
            b.finish(w)

    def extra_repr(self) -> str:
        return f"world_size={self._world.size}, buckets={len(self._buckets)}"


def _make_buckets(params: list, cap: int) -> list:
    """Buckets in the order gradients become ready (the reverse of the parameters'), each of
    one dtype and about ``cap`` bytes (the first smaller, to start averaging early)."""
    buckets, current, size, limit = [], [], 0, min(cap, _FIRST_BUCKET_BYTES)
    for p in reversed(params):
        if current and (size + p._data.nbytes > limit or p.dtype != current[0].dtype):
            buckets.append(_Bucket(current, current[0]._data.dtype))
            current, size, limit = [], 0, cap
        current.append(p)
        size += p._data.nbytes
    if current:
        buckets.append(_Bucket(current, current[0]._data.dtype))
    return buckets


def _broadcast_tensors(w, tensors: list) -> None:
    """Copy rank 0's tensors to every rank, one message per dtype."""
    by_dtype: dict = {}
    for t in tensors:
        by_dtype.setdefault(t._data.dtype, []).append(t)
    from ...distributed.group import wait

    for dtype, group in by_dtype.items():
        flat = np.concatenate([t._data.reshape(-1) for t in group]) if group else None
        wait(w, w.comm.Ibcast(flat, root=0), "DistributedDataParallel: broadcast from rank 0")
        if w.rank != 0:
            off = 0
            for t in group:
                n = t._data.size
                t._data[...] = flat[off:off + n].reshape(t._data.shape)
                versions.bump(t._data)
                off += n


def _check_same_model(w, module: Module) -> None:
    """Every rank must have built the same model: a RuntimeError, on every rank, naming the
    first parameter or buffer that differs and the ranks."""
    mine = [(kind, name, tuple(t.shape), str(t.dtype))
            for kind, items in (("parameter", module.named_parameters()),
                                ("buffer", module.named_buffers()))
            for name, t in items]
    every = w.comm.allgather(mine)
    ref = every[0]

    def say(entry):
        kind, name, shape, dtype = entry
        return f"{kind} '{name}' of shape {shape} ({dtype})"

    for r, other in enumerate(every[1:], start=1):
        if other == ref:
            continue
        for i in range(max(len(ref), len(other))):
            a = ref[i] if i < len(ref) else None
            b = other[i] if i < len(other) else None
            if a != b:
                first = (f"rank 0 has {say(a) if a else 'nothing'} where rank {r} has "
                         f"{say(b) if b else 'nothing'} (entry {i})")
                break
        raise RuntimeError(
            f"DistributedDataParallel: every rank must build the same model, but rank 0's "
            f"({len(ref)} parameters and buffers) and rank {r}'s ({len(other)}) differ: {first}")
