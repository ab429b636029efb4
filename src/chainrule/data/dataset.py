"""Datasets: indexable collections of samples, as in ``torch.utils.data``."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.random import Generator, _rng


class Dataset:
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` is sample ``i``.

    A subclass may also offer ``_arrays()`` -> tuple of whole NumPy arrays (first axis = sample),
    or None; ``DataLoader`` then batches with one ``array[idx]`` per batch instead of collating
    samples one by one. It must agree with ``default_collate([ds[i] for i in idx])``.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: ``iter(ds)`` yields them; there is no ``ds[i]``.

    With ``DataLoader(num_workers=k)`` each worker process iterates its own copy of the dataset;
    to give each worker a part of the stream, ``__iter__`` reads ``get_worker_info()`` (its
    ``id`` and ``num_workers``; None in the main process), as in PyTorch.
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self) -> int:
        raise TypeError(f"object of type '{type(self).__name__}' has no len(): a stream has no "
                        f"length unless its class defines __len__")

    def __add__(self, other: "IterableDataset") -> "ChainDataset":
        return ChainDataset([self, other])


class ConcatDataset(Dataset):
    """The samples of several map-style datasets, one after another.

    >>> ds = ConcatDataset([train_a, train_b]); len(ds) == len(train_a) + len(train_b)
    """

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset does not support IterableDataset "
                                f"({type(d).__name__}); use ChainDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            if -index > n:
                raise ValueError(f"ConcatDataset: absolute value of index should not exceed "
                                 f"dataset length: index {index}, length {n}")
            index += n
        if index >= n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """The samples of several iterable datasets, one stream after another."""

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = datasets

    def __iter__(self) -> Iterator:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got "
                                f"{type(d).__name__}; use ConcatDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _as_array(x: Any) -> np.ndarray:
    return x._data if isinstance(x, cr.Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are rows of tensors that share their first dimension: ``ds[i] = (x[i], y[i])``.

    >>> ds = TensorDataset(cr.tensor(np.zeros((10, 3))), cr.tensor(np.arange(10)))
    """

    def __init__(self, *tensors: Any):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        shapes = [tuple(_as_array(t).shape) for t in tensors]
        if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"TensorDataset: tensors must share their first dimension (the sample count), "
                f"got shapes {', '.join(map(str, shapes))}"
            )
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple:
        return tuple(cr.from_numpy(np.asarray(_as_array(t)[index])) for t in self.tensors)

    def __len__(self) -> int:
        return _as_array(self.tensors[0]).shape[0]

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(_as_array(t) for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list[int]) -> list:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def _split_lengths(n: int, lengths: Sequence[int | float]) -> list[int]:
    """Fractions summing to 1 become counts; the remainder goes one each to the first splits."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {list(lengths)}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    counts = [int(k) for k in lengths]
    if any(k != l or k < 0 for k, l in zip(counts, lengths)):
        raise ValueError(
            f"random_split: lengths must be non-negative ints or fractions summing to 1, "
            f"got {list(lengths)}"
        )
    if sum(counts) != n:
        raise ValueError(
            f"random_split: lengths {counts} sum to {sum(counts)}, "
            f"but the dataset has {n} samples"
        )
    return counts


def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Split into disjoint random ``Subset``s of the given lengths: ints, or fractions summing
    to 1 (the remainder goes one each to the first splits, as in PyTorch).

    >>> train, val = random_split(ds, [0.9, 0.1], generator=cr.Generator().manual_seed(0))
    """
    counts = _split_lengths(len(dataset), lengths)
    perm = _rng(generator).permutation(sum(counts)).tolist()
    ends = np.cumsum(counts).tolist()
    return [Subset(dataset, perm[end - k : end]) for k, end in zip(counts, ends)]
