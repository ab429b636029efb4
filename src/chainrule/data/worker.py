"""Worker processes of ``DataLoader(num_workers=k)``, as in ``torch.utils.data``.

Each worker holds a copy of the dataset and answers tasks ``(epoch, task, index)`` from its own
queue with ``(epoch, task, batch)`` on a shared result queue. The main process hands out tasks
round robin and yields results in task order, so batches come in the sampler's order, the same
as with ``num_workers=0``.
"""

from __future__ import annotations

import os
import queue
import random
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

# how often a worker checks that the main process is still alive (seconds)
_POLL = 5.0
# how often the waiting main process checks that its workers are still alive (seconds)
_CHECK = 0.1
# how long workers get to finish their batch and exit when the pass ends, before terminate(),
# and then before kill()
_SHUTDOWN = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` tells code running in a worker: its ``id`` (0 to
    ``num_workers - 1``), the ``num_workers``, the ``seed`` it was seeded with and its copy of
    the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` inside a DataLoader worker process; None in the main process.

    An ``IterableDataset`` uses it to give each worker its own part of the stream::

        info = get_worker_info()
        if info is not None:
            start = info.id * per_worker
    """
    return _worker_info


class _WorkerDone:
    """A worker's answer when its IterableDataset is exhausted."""

    def __init__(self, worker_id: int):
        self.worker_id = worker_id


class _Reset:
    """Start the IterableDataset again (a new epoch of persistent workers)."""


class _KeyErrorMessage(str):
    """KeyError prints its argument's repr; this one's repr keeps the traceback readable."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, exc_info, where: str):
        self.exc_type = exc_info[0]
        self.msg = f"Caught {self.exc_type.__name__} {where}.\nOriginal " + "".join(
            traceback.format_exception(*exc_info))

    def reraise(self):
        msg = _KeyErrorMessage(self.msg) if self.exc_type is KeyError else self.msg
        try:
            err = self.exc_type(msg)
        except Exception:  # an exception type that takes other arguments
            err = RuntimeError(self.msg)
        raise err


def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed Python's, NumPy's and chainrule's generators differently in every worker."""
    from chainrule.random import manual_seed

    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _worker_loop(make_fetcher, dataset, index_queue, result_queue, base_seed: int,
                 init_fn, worker_id: int, num_workers: int, parent_pid: int) -> None:
    global _worker_info
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(dataset)
        except Exception:
            init_error = ExceptionWrapper(sys.exc_info(),
                                          f"in DataLoader worker process {worker_id}")
        ended = False
        while True:
            try:
                msg = index_queue.get(timeout=_POLL)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the main process is gone
                    break
                continue
            if msg is None:
                break
            if isinstance(msg, _Reset):
                if init_error is None:
                    fetcher, ended = make_fetcher(dataset), False
                continue
            if ended:  # tasks sent before the main process learnt that this stream ended
                continue
            epoch, task, index = msg
            if init_error is not None:
                data = init_error
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    data, ended = _WorkerDone(worker_id), True
                except Exception:
                    data = ExceptionWrapper(sys.exc_info(),
                                            f"in DataLoader worker process {worker_id}")
            result_queue.put((epoch, task, data))
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches every process; the main process reports it
    result_queue.cancel_join_thread()  # exit even if the main process stopped reading


class WorkerPool:
    """``num_workers`` processes, each with a queue of tasks, and one queue of results."""

    def __init__(self, context, make_fetcher, dataset, base_seed: int, init_fn,
                 num_workers: int):
        self.result_queue = context.Queue()
        self.index_queues, self.processes = [], []
        for i in range(num_workers):
            q = context.Queue()
            q.cancel_join_thread()  # unread tasks must not keep the main process from exiting
            p = context.Process(
                target=_worker_loop, daemon=True,
                args=(make_fetcher, dataset, q, self.result_queue, base_seed, init_fn, i,
                      num_workers, os.getpid()))
            p.start()
            self.index_queues.append(q)
            self.processes.append(p)

    def get(self, timeout: float) -> tuple:
        """The next result; raise if it takes over ``timeout`` seconds (0: wait for ever) or if
        a worker died."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            wait = _CHECK if deadline is None else min(_CHECK, deadline - time.monotonic())
            try:
                return self.result_queue.get(timeout=max(wait, 0))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
                dead = [p for p in self.processes if not p.is_alive()]
                if dead:
                    self.shutdown()
                    raise RuntimeError(
                        "DataLoader worker (pid(s) " + ", ".join(str(p.pid) for p in dead)
                        + ") exited unexpectedly (exit codes "
                        + ", ".join(str(p.exitcode) for p in dead) + ")") from None

    def shutdown(self) -> None:
        if not self.processes:
            return
        for q in self.index_queues:
            q.put(None)
        # bounded: a worker holds nothing worth waiting long for, and one stuck in __getitem__
        # (or ignoring SIGTERM) must not hang the main process
        for stop in (None, "terminate", "kill"):
            if stop is not None:
                for p in self.processes:
                    if p.is_alive():
                        getattr(p, stop)()
            deadline = time.monotonic() + _SHUTDOWN
            for p in self.processes:
                p.join(timeout=max(deadline - time.monotonic(), 0))
            if not any(p.is_alive() for p in self.processes):
                break
        for q in self.index_queues + [self.result_queue]:
            q.cancel_join_thread()
            q.close()
        self.processes, self.index_queues = [], []

    def __del__(self):
        try:
            self.shutdown()
        except Exception:  # at interpreter exit, multiprocessing may be half gone
            pass
