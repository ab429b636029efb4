"""Big arrays recycled between calls: the ops' outputs and scratch buffers of 64 KiB and more.

With glibc's default malloc, a big array freed at the end of a training step goes back to the
operating system, and the same array made again in the next step takes page faults on every
page it touches: that made a conv's forward + backward 2-4x slower in a training loop, and a
ReLU's fresh output cost a small CNN ~30 page faults and ~75 µs of kernel time per step. So
conv2d, the pools and ReLU take their big arrays from here: an array is handed out again only
once nothing refers to it any more (``sys.getrefcount``), neither a caller's result nor a graph's
saved arrays nor any view of it.

The pool keeps at most ``_POOL_BYTES`` = 256 MiB, and no single array over a quarter of it: the
largest working set measured, the batch-1000 CNN inference of ``benchmarks/`` (W5-CNN), keeps
176 MiB here (arrays up to 55 MiB), a batch-64 CNN training step 20 MiB; a smaller cap would
make those arrays fresh, and page-fault, in every batch. What it keeps stays after the models
are gone, until ``chainrule.utils.empty_cache()`` (PyTorch's ``torch.cuda.empty_cache()``)
releases it.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

_POOLED_FROM = 1 << 16  # bytes: smaller arrays cost less to make than to look up
_OUTPUTS_FROM = 1 << 19  # bytes: an elementwise op's output is pooled from here (below, as for
                         # a (128, 256) ReLU, it saved no page fault and measured no faster)
_PER_KIND = 16  # arrays kept per (shape, dtype, tag): a training step holds a few at once;
                # a caller who keeps hundreds of results gets new arrays past these
_POOL = {}  # (shape, dtype, tag) -> arrays handed out before; oldest kind first
_POOL_BYTES = 256 << 20  # at most this much kept (see above)
_POOL_LOCK = threading.Lock()
_pool_bytes = 0


def _refs_when_free(arrays):
    """What ``sys.getrefcount`` says, in ``_scratch``'s own loop, of an array only the pool holds
    (3 on CPython 3.11: the pool's, ``a``'s and the call's argument; measured, not assumed, since
    interpreters differ). None where there is no refcount: then nothing is recycled."""
    if not hasattr(sys, "getrefcount"):
        return None
    for a in arrays:
        return sys.getrefcount(a)


_FREE = _refs_when_free([np.empty(0)])


def _scratch(shape, dtype, zeroed=None):
    """``np.empty(shape, dtype)``, recycling an array of an earlier call that nothing refers to any
    more (neither the caller's results nor a graph's saved arrays: each view of it counts).
    With a tag ``zeroed``, the array is created zero-filled and recycled only for calls with the
    same tag (so that a caller who writes only part of it finds the rest still zero)."""
    global _pool_bytes
    key = (shape, np.dtype(dtype), zeroed)
    with _POOL_LOCK:
        arrays = _POOL.get(key, ())
        for a in arrays:
            if sys.getrefcount(a) == _FREE:
                return a
        a = np.empty(shape, dtype) if zeroed is None else np.zeros(shape, dtype)
        if (_FREE is not None and _POOLED_FROM <= a.nbytes <= _POOL_BYTES // 4
                and len(arrays) < _PER_KIND):
            _POOL.setdefault(key, []).append(a)
            _pool_bytes += a.nbytes
            while _pool_bytes > _POOL_BYTES:  # forget the oldest kind's oldest array
                oldest = next(iter(_POOL))
                _pool_bytes -= _POOL[oldest].pop(0).nbytes
                if not _POOL[oldest]:
                    del _POOL[oldest]
        return a


def _order(x):
    """x's axes from outermost to innermost in memory: (1, 2, 3, 0) for what conv2d returns.
    (Plain Python: ``np.argsort`` of a 4-item list costs 5-10 µs, a few % of a small CNN step.)"""
    strides = x.strides
    return tuple(sorted(range(x.ndim), key=lambda k: -abs(strides[k])))


def _empty(shape, dtype, order):
    """An uninitialised array of ``shape`` (from the scratch pool), its memory in axis ``order``."""
    a = _scratch(tuple(shape[k] for k in order), dtype)
    return a.transpose(sorted(range(len(order)), key=order.__getitem__))  # order's inverse


def _empty_like(x):
    """An uninitialised array of x's shape, dtype and memory layout, from the pool (C order
    where x is broadcast: its stride-0 axes have no layout to keep)."""
    return _empty(x.shape, x.dtype, tuple(range(x.ndim)) if 0 in x.strides else _order(x))


def empty_cache() -> None:
    """Release the big arrays that conv2d, the pools and ReLU keep for reuse (at most 256 MiB,
    kept after the models are gone), as ``torch.cuda.empty_cache()`` releases PyTorch's cached
    GPU memory. Arrays still in use stay with their users; later calls fill the pool again."""
    global _pool_bytes
    with _POOL_LOCK:
        _POOL.clear()
        _pool_bytes = 0
