"""DataLoader: batches from a dataset, in a sampler's order, as in ``torch.utils.data``."""

from __future__ import annotations

import functools
import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.random import Generator, _rng

from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset, Subset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .worker import ExceptionWrapper, WorkerPool, _Reset, _WorkerDone


def _defined_in(cls: type, name: str) -> type | None:
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


def _fast_arrays(dataset: Dataset) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """(whole arrays, index map or None) when batches can be cut with ``array[idx]``, else None."""
    if isinstance(dataset, Subset):
        inner = _fast_arrays(dataset.dataset)
        if inner is None:
            return None
        arrays, index_map = inner
        sub = np.asarray(dataset.indices, dtype=np.int64)
        return arrays, sub if index_map is None else index_map[sub]
    cls = type(dataset)
    # a subclass that overrides __getitem__ must not be bypassed
    if _defined_in(cls, "_arrays") is None or _defined_in(cls, "__getitem__") is not _defined_in(
        cls, "_arrays"
    ):
        return None
    arrays = dataset._arrays()
    return None if arrays is None else (arrays, None)


# -- fetchers: what the sampler gives (an index, or a list of them) -> what the loader yields ---


class _MapFetcher:
    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool, fast: bool):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.fast = _fast_arrays(dataset) if fast and auto_collation else None

    def fetch(self, index):
        if self.fast is not None:
            arrays, index_map = self.fast
            idx = np.asarray(index, dtype=np.int64)
            if index_map is not None:
                idx = index_map[idx]
            return [cr.from_numpy(a[idx]) for a in arrays]
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        data = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _IterableFetcher:
    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool, fast: bool):
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.it, self.ended = iter(dataset), False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.it))
        data = list(itertools.islice(self.it, len(index)))
        if len(data) < len(index):
            self.ended = True
            if not data or self.drop_last:
                raise StopIteration
        return self.collate_fn(data)


def _make_fetcher(kind, auto_collation, collate_fn, drop_last, fast, dataset):
    return kind(dataset, auto_collation, collate_fn, drop_last, fast)


class _Forever(Sampler):
    """The sampler of an IterableDataset: None for ever (the dataset decides when to stop)."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)


def _worker_options(num_workers, timeout, prefetch_factor, persistent_workers) -> int | None:
    """Check the options of worker processes as PyTorch does; the prefetch factor to use."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                         "disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if timeout and num_workers == 0:
        raise ValueError("timeout option needs num_workers > 0 (it bounds the wait for a "
                         "worker's batch)")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing: "
                         "let num_workers > 0 to enable multiprocessing, otherwise set "
                         "prefetch_factor to None.")
    if num_workers > 0 and prefetch_factor is None:
        prefetch_factor = 2
    if prefetch_factor is not None and (not isinstance(prefetch_factor, int)
                                        or prefetch_factor < 1):
        raise ValueError(f"prefetch_factor option should be a positive int, got "
                         f"{prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    return prefetch_factor


# -- the loader ------------------------------------------------------------------------------


class DataLoader:
    """Iterate over ``dataset`` in batches, with PyTorch's arguments and semantics.

    The order comes from ``sampler`` (default: ``SequentialSampler``, or ``RandomSampler`` with
    ``generator`` when ``shuffle=True``: a fresh permutation each pass, drawn from ``generator``
    or the global generator seeded by ``cr.manual_seed``), grouped by ``BatchSampler(sampler,
    batch_size, drop_last)``, or from ``batch_sampler``; ``batch_size=None`` yields samples one
    by one (NumPy arrays turned into tensors). ``collate_fn`` makes a batch from a list of
    samples (default: ``default_collate``).

    ``num_workers=k`` fetches batches in ``k`` worker processes (``multiprocessing``), each
    seeded from the loader's generator and given ``worker_init_fn(worker_id)``; batches still
    come in the sampler's order. Worth it when ``__getitem__`` costs time (decoding, augmenting);
    ``prefetch_factor`` batches per worker are under way at once, and ``persistent_workers``
    keeps the workers between passes. ``pin_memory`` is accepted and does nothing on a CPU.

    Datasets that offer whole arrays (``TensorDataset``, ``MNIST`` without transforms, and
    ``Subset``s of them) are batched by fancy-indexing those arrays once per batch, unless a
    ``collate_fn`` is given.

    >>> for x, y in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True): ...
    """

    _frozen = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
               "persistent_workers")

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler | Iterable | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context=None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ):
        prefetch_factor = _worker_options(num_workers, timeout, prefetch_factor,
                                          persistent_workers)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value is not None and value is not False:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value!r}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            sampler = (_Forever() if iterable else
                       RandomSampler(dataset, generator=generator) if shuffle else
                       SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory  # nothing to pin: there is no GPU to copy to
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self._fast = collate_fn is None  # the default collation may cut whole arrays
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None
                                         else default_convert)
        self.persistent_workers = persistent_workers
        self.in_order = in_order  # results always come in order: allowed when False too
        self._iterator = None
        self._initialized = True

    def __setattr__(self, name, value):
        if getattr(self, "_initialized", False) and name in self._frozen:
            raise ValueError(f"{name} attribute should not be set after DataLoader is "
                             f"initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        return _length(self.dataset, self._index_sampler, self.batch_size, self.drop_last)

    def _fetcher_factory(self) -> Callable[[Dataset], Any]:
        kind = _IterableFetcher if isinstance(self.dataset, IterableDataset) else _MapFetcher
        return functools.partial(_make_fetcher, kind, self._auto_collation, self.collate_fn,
                                 self.drop_last, self._fast)

    def __iter__(self) -> "_SingleProcessIter | _MultiProcessIter":
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None or not self._iterator._pool.processes:  # none yet, or dead
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset()
        return self._iterator


def _length(dataset, index_sampler, batch_size: int | None, drop_last: bool) -> int:
    if isinstance(dataset, IterableDataset):
        n = len(dataset)  # TypeError if the stream has no length, as in PyTorch
        if batch_size is None:
            return n
        return n // batch_size if drop_last else -(-n // batch_size)
    return len(index_sampler)


def _base_seed(generator: Generator | None) -> int:
    # drawn for every pass, workers or not (as PyTorch does), so that num_workers does not
    # change what the generator gives the sampler
    return int(_rng(generator).integers(2**63))


class _Pass:
    """One pass over a loader. It keeps what it needs, not the loader: a loader keeps its
    persistent workers' pass, and no reference cycle must delay their shutdown."""

    def __init__(self, loader: DataLoader):
        self._dataset, self._index_sampler = loader.dataset, loader._index_sampler
        self._generator, self._batch_size = loader.generator, loader.batch_size
        self._drop_last, self._persistent = loader.drop_last, loader.persistent_workers
        self._num_workers, self._prefetch = loader.num_workers, loader.prefetch_factor
        self._timeout = loader.timeout

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return _length(self._dataset, self._index_sampler, self._batch_size, self._drop_last)


class _SingleProcessIter(_Pass):
    """A pass in this process."""

    def __init__(self, loader: DataLoader):
        super().__init__(loader)
        _base_seed(self._generator)
        self._sampler_iter = iter(self._index_sampler)
        self._fetcher = loader._fetcher_factory()(self._dataset)

    def __next__(self):
        return self._fetcher.fetch(next(self._sampler_iter))


class _MultiProcessIter(_Pass):
    """A pass whose batches are fetched by worker processes.

    Tasks go to the workers round robin (skipping workers whose stream ended), at most
    ``prefetch_factor`` per worker ahead of the batch being returned; results are returned in
    task order, PyTorch's scheme, so the order of batches is the sampler's.
    """

    def __init__(self, loader: DataLoader):
        super().__init__(loader)
        context = loader.multiprocessing_context
        if context is None or isinstance(context, str):
            context = multiprocessing.get_context(context)
        self._pool = WorkerPool(context, loader._fetcher_factory(), self._dataset,
                                _base_seed(self._generator), loader.worker_init_fn,
                                self._num_workers)
        self._epoch = -1
        self._start()

    def _start(self) -> None:
        n = self._num_workers
        self._epoch += 1
        self._sampler_iter = iter(self._index_sampler)
        self._send = self._received = 0
        self._tasks: dict[int, list] = {}  # task -> [worker], then [worker, result]
        self._active = [True] * n
        self._cycle = itertools.cycle(range(n))
        for _ in range(self._prefetch * n):
            self._put_task()

    def _reset(self) -> None:
        """A new pass of persistent workers: restart the streams, forget the last pass."""
        _base_seed(self._generator)  # as every pass draws one (the workers keep their first)
        if isinstance(self._dataset, IterableDataset):
            for q in self._pool.index_queues:
                q.put(_Reset())
        self._start()

    def _put_task(self) -> None:
        index = next(self._sampler_iter, _WorkerDone)
        if index is _WorkerDone:
            return
        for _ in range(len(self._active)):
            worker = next(self._cycle)
            if self._active[worker]:
                break
        else:
            return
        self._pool.index_queues[worker].put((self._epoch, self._send, index))
        self._tasks[self._send] = [worker]
        self._send += 1

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            # skip the tasks of workers whose stream ended: they will not answer
            while self._received < self._send:
                info = self._tasks[self._received]
                if len(info) == 2 or self._active[info[0]]:
                    break
                del self._tasks[self._received]
                self._received += 1
            else:
                if not self._persistent:
                    self._pool.shutdown()
                raise StopIteration
            info = self._tasks[self._received]
            if len(info) == 2:
                del self._tasks[self._received]
                self._received += 1
                return self._process(info[1])
            epoch, task, data = self._pool.get(self._timeout)
            if epoch != self._epoch:  # a result of a pass left before its end
                continue
            if isinstance(data, _WorkerDone):
                self._active[data.worker_id] = False
                self._put_task()
            elif task != self._received:
                self._tasks[task].append(data)
            else:
                del self._tasks[task]
                self._received += 1
                return self._process(data)

    def _process(self, data):
        self._put_task()
        if isinstance(data, ExceptionWrapper):
            if not self._persistent:
                self._pool.shutdown()
            data.reraise()
        return data

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()
