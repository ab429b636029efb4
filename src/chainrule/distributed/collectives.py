"""Collectives on tensors, in place, with ``torch.distributed``'s names and semantics.

Each one starts a non-blocking MPI operation on the tensor's array and returns a ``Work`` (with
``async_op=True``) or waits for it. Results land in the tensors passed in, as PyTorch's do.
"""

from __future__ import annotations

import enum

import numpy as np

from ..autograd import versions
from .group import _check_group, wait


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce`` combine the ranks' tensors."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"

    def __repr__(self) -> str:
        return f"<ReduceOp.{self.name}>"


def _mpi_op(MPI, op: ReduceOp, name: str):
    if not isinstance(op, ReduceOp):
        raise ValueError(f"{name}: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` blocks until it is done and its
    result is in the tensors; ``is_completed()`` asks without blocking."""

    def __init__(self, world, request, what: str, finish=None):
        self._world, self._request, self._what = world, request, what
        self._finish, self._done = finish, False

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        if not self._done:
            wait(self._world, self._request, self._what)
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None


def _run(w, request, what, finish, async_op):
    work = Work(w, request, what, finish)
    if async_op:
        return work
    work.wait()
    return None


def _array(tensor, name: str, arg: str = "tensor") -> np.ndarray:
    data = getattr(tensor, "_data", None)
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{name}: {arg} must be a Tensor, got {type(tensor).__name__}")
    return data


def _buffer(a: np.ndarray) -> np.ndarray:
    """``a`` itself if MPI can read and write it directly, else a contiguous copy."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def _store(tensor, buf: np.ndarray) -> None:
    """Write ``buf`` into ``tensor`` (if it is not already its memory): a new version of it."""
    a = tensor._data
    if buf is not a:
        a[...] = buf
    versions.bump(a)


def _rank_arg(w, value, name: str, arg: str) -> int:
    if value is None:
        raise ValueError(f"{name}: {arg} must be given (a rank in 0..{w.size - 1})")
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not 0 <= value < w.size):
        raise ValueError(f"{name}: {arg}={value!r} is not a rank of the group (0..{w.size - 1})")
    return int(value)


def _same(ref: np.ndarray, t, name: str, arg: str) -> np.ndarray:
    a = _array(t, name, arg)
    if a.shape != ref.shape or a.dtype != ref.dtype:
        raise ValueError(f"{name}: {arg} has shape {a.shape} and dtype {a.dtype}, but tensor "
                         f"has shape {ref.shape} and dtype {ref.dtype}: they must match")
    return a


def _list_of(w, tensors, ref, name: str, arg: str) -> list:
    if not isinstance(tensors, (list, tuple)) or len(tensors) != w.size:
        got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{name}: {arg} must be a list of {w.size} tensors (the world size), "
                         f"got {got}")
    return [_same(ref, t, name, f"{arg}[{i}]") for i, t in enumerate(tensors)]


# -- the collectives ------------------------------------------------------------------------------

def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Every rank's ``tensor`` becomes the reduction (sum, mean, product, min, max) of all
    ranks' tensors, in place."""
    w = _check_group(group)
    a = _array(tensor, "all_reduce")
    mpi_op = _mpi_op(w.MPI, op, "all_reduce")
    buf = _buffer(a)
    request = w.comm.Iallreduce(w.MPI.IN_PLACE, buf, mpi_op)

    def finish():
        if op is ReduceOp.AVG:
            np.divide(buf, w.size, out=buf, casting="unsafe")
        _store(tensor, buf)
    return _run(w, request, "all_reduce", finish, async_op)


def broadcast(tensor, src: int | None = None, group=None, async_op: bool = False,
              group_src: int | None = None):
    """Every rank's ``tensor`` becomes rank ``src``'s, in place."""
    w = _check_group(group)
    src = _rank_arg(w, src if src is not None else group_src, "broadcast", "src")
    a = _array(tensor, "broadcast")
    buf = _buffer(a)
    request = w.comm.Ibcast(buf, root=src)
    return _run(w, request, "broadcast", lambda: _store(tensor, buf), async_op)


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """``tensor_list[r]`` becomes rank r's ``tensor``, on every rank."""
    w = _check_group(group)
    a = _array(tensor, "all_gather")
    _list_of(w, tensor_list, a, "all_gather", "tensor_list")
    recv = np.empty((w.size,) + a.shape, a.dtype)
    request = w.comm.Iallgather(np.ascontiguousarray(a), recv)

    def finish():
        for t, part in zip(tensor_list, recv):
            _store(t, part)
    return _run(w, request, "all_gather", finish, async_op)


def reduce(tensor, dst: int | None = None, op: ReduceOp = ReduceOp.SUM, group=None,
           async_op: bool = False, group_dst: int | None = None):
    """Rank ``dst``'s ``tensor`` becomes the reduction of all ranks' tensors; the others' are
    left as they were."""
    w = _check_group(group)
    dst = _rank_arg(w, dst if dst is not None else group_dst, "reduce", "dst")
    a = _array(tensor, "reduce")
    mpi_op = _mpi_op(w.MPI, op, "reduce")
    if w.rank == dst:
        buf = _buffer(a)
        request = w.comm.Ireduce(w.MPI.IN_PLACE, buf, mpi_op, root=dst)

        def finish():
            if op is ReduceOp.AVG:
                np.divide(buf, w.size, out=buf, casting="unsafe")
            _store(tensor, buf)
    else:
        send = np.ascontiguousarray(a)
        request = w.comm.Ireduce(send, None, mpi_op, root=dst)
        finish = None
    return _run(w, request, "reduce", finish, async_op)


def scatter(tensor, scatter_list=None, src: int | None = None, group=None,
            async_op: bool = False, group_src: int | None = None):
    """Rank r's ``tensor`` becomes ``scatter_list[r]`` of rank ``src`` (the only rank that
    passes a ``scatter_list``)."""
    w = _check_group(group)
    src = _rank_arg(w, src if src is not None else (group_src or 0), "scatter", "src")
    a = _array(tensor, "scatter")
    if w.rank == src:
        if not scatter_list:
            raise ValueError("scatter: Argument ``scatter_list`` must be specified on source rank.")
        send = np.stack(_list_of(w, scatter_list, a, "scatter", "scatter_list"))
    else:
        if scatter_list:
            raise ValueError("scatter: Argument ``scatter_list`` must NOT be specified on "
                             "non-source ranks.")
        send = None
    buf = _buffer(a)
    request = w.comm.Iscatter(send, buf, root=src)
    return _run(w, request, "scatter", lambda: _store(tensor, buf), async_op)


def gather(tensor, gather_list=None, dst: int | None = None, group=None, async_op: bool = False,
           group_dst: int | None = None):
    """``gather_list[r]`` of rank ``dst`` (the only rank that passes one) becomes rank r's
    ``tensor``."""
    w = _check_group(group)
    dst = _rank_arg(w, dst if dst is not None else (group_dst or 0), "gather", "dst")
    a = _array(tensor, "gather")
    recv = None
    if w.rank == dst:
        if not gather_list:
            raise ValueError("gather: Argument ``gather_list`` must be specified on destination "
                             "rank.")
        _list_of(w, gather_list, a, "gather", "gather_list")
        recv = np.empty((w.size,) + a.shape, a.dtype)

        def finish():
            for t, part in zip(gather_list, recv):
                _store(t, part)
    else:
        if gather_list:
            raise ValueError("gather: Argument ``gather_list`` must NOT be specified on "
                             "non-destination ranks.")
        finish = None
    request = w.comm.Igather(np.ascontiguousarray(a), recv, root=dst)
    return _run(w, request, "gather", finish, async_op)


def barrier(group=None, async_op: bool = False, device_ids=None, timeout=None):
    """Wait until every rank has reached this call."""
    w = _check_group(group)
    return _run(w, w.comm.Ibarrier(), "barrier", None, async_op)
