"""DataLoader: batches from a dataset, shuffled each epoch, as in ``torch.utils.data``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.random import Generator, _rng

from .dataset import Dataset, Subset


def default_collate(batch: list) -> Any:
    """Stack a list of samples into one batch, like PyTorch's ``default_collate``.

    Tensors and arrays are stacked along a new first axis (dtype kept); Python ints become an
    int64 Tensor, floats float64, bools bool; strings stay a list; tuples, lists and dicts are
    collated field by field (a tuple of fields comes back as a list, as in PyTorch).
    """
    elem = batch[0]
    if isinstance(elem, cr.Tensor):
        return cr.from_numpy(np.stack([b.data for b in batch]))
    if isinstance(elem, (np.ndarray, np.generic)):
        return cr.from_numpy(np.stack(batch))
    if isinstance(elem, bool):
        return cr.from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return cr.from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return cr.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([b[key] for b in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(f)) for f in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        if any(len(b) != len(elem) for b in batch):
            raise ValueError("default_collate: samples in a batch have different numbers of fields")
        return [default_collate(list(f)) for f in zip(*batch)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}")


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


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples.

    With ``shuffle=True`` each pass draws a fresh permutation from ``generator`` (or the global
    one seeded by ``cr.manual_seed``), so the same seed gives the same batches. The last, smaller
    batch is dropped when ``drop_last``. Datasets that offer whole arrays (``TensorDataset``,
    ``MNIST`` without transforms, and ``Subset``s of them) are batched by fancy-indexing those
    arrays once per batch; others are fetched sample by sample and passed to ``collate_fn``.

    >>> for x, y in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True): ...
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: Generator | None = None,
        collate_fn: Callable[[list], Any] | None = None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _batch_indices(self) -> Iterator[np.ndarray]:
        n = len(self.dataset)
        order = _rng(self.generator).permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size]

    def __iter__(self) -> Iterator[Any]:
        fast = None if self.collate_fn is not None else _fast_arrays(self.dataset)
        if fast is None:
            collate = self.collate_fn or default_collate
            for idx in self._batch_indices():
                yield collate([self.dataset[int(i)] for i in idx])
            return
        arrays, index_map = fast
        for idx in self._batch_indices():
            if index_map is not None:
                idx = index_map[idx]
            yield [cr.from_numpy(a[idx]) for a in arrays]
