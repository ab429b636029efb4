"""Samplers: the order in which a DataLoader visits a dataset, as in ``torch.utils.data``.

A sampler is an iterable of indices (``BatchSampler``: of lists of indices). The random ones draw
from ``generator`` or, without one, from the global generator that ``cr.manual_seed`` seeds, each
time they are iterated: a seeded run visits the same samples in the same order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from chainrule.random import Generator, _rng


class Sampler:
    """Base class: a subclass defines ``__iter__`` (the indices) and, if it can, ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass  # PyTorch's base takes (and ignores) data_source too

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices into ``data_source``: a fresh permutation each pass, or, with
    ``replacement=True``, ``num_samples`` independent uniform draws.

    Without replacement, ``num_samples`` larger than the dataset chains whole permutations and
    ends with the first ``num_samples % n`` of one more (as PyTorch does).
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        _positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        # the dataset's size may change after the sampler is made
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, k = len(self.data_source), self.num_samples
        if n == 0:
            raise ValueError(f"RandomSampler: cannot draw {k} samples from an empty dataset")
        rng = _rng(self.generator)
        if self.replacement:
            yield from rng.integers(0, n, k).tolist()
            return
        for _ in range(k // n):
            yield from rng.permutation(n).tolist()
        if k % n:
            yield from rng.permutation(n)[: k % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The elements of ``indices`` in a random order, a fresh one each pass."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in _rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in [0, len(weights)), index i drawn with probability
    weights[i] / Σ weights. Without replacement each draw removes the index drawn (successive
    sampling, as ``torch.multinomial``); indices of weight 0 come only after all the others.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        _positive_int("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        w, k = self.weights, self.num_samples
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise RuntimeError(f"WeightedRandomSampler: invalid multinomial distribution: weights "
                               f"must be finite and non-negative, got {w.tolist()}")
        if w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution: the "
                               "weights sum to 0 (sum of probabilities <= 0)")
        rng = _rng(self.generator)
        if self.replacement:
            yield from rng.choice(len(w), size=k, p=w / w.sum()).tolist()
            return
        if k > len(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot sample n_sample > "
                               f"prob_dist.size(-1) samples without replacement: num_samples={k}, "
                               f"{len(w)} weights")
        # the exponential race: sorting w_i / E_i (E_i ~ Exp(1)) in descending order is
        # successive sampling proportional to w
        keys = w / rng.exponential(size=len(w))
        yield from np.argsort(-keys, kind="stable")[:k].tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``, in its order; the last, shorter list is
    dropped when ``drop_last``.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        _positive_int("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
