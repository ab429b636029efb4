"""Samplers: the deterministic ones give PyTorch's index sequences; the random ones PyTorch's
semantics (what is drawn, how many, when) and the right distributions, at fixed seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

torch = pytest.importorskip("torch")
tdata = torch.utils.data


def chi2_ok(counts, probs, n):
    """Pearson's χ² of observed ``counts`` against ``n * probs``, well inside its tail: below
    its mean + 6 standard deviations (k - 1 degrees of freedom: mean k - 1, variance 2(k - 1))."""
    expected = n * np.asarray(probs, dtype=np.float64)
    keep = expected > 0
    chi2 = (((np.asarray(counts)[keep] - expected[keep]) ** 2) / expected[keep]).sum()
    k = keep.sum() - 1
    return chi2 < k + 6 * math.sqrt(2 * k)


# deterministic samplers: the same sequences as PyTorch's ------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7])
def test_sequential_sampler_like_torch(n):
    ours, theirs = SequentialSampler(range(n)), tdata.SequentialSampler(range(n))
    assert list(ours) == list(theirs) and len(ours) == len(theirs) == n


@pytest.mark.parametrize("n, batch_size, drop_last", list(itertools.product(
    [0, 1, 9, 10, 12], [1, 3, 4, 20], [False, True])))  # fmt: skip
def test_batch_sampler_like_torch(n, batch_size, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    theirs = tdata.BatchSampler(tdata.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_batch_sampler_takes_any_iterable_of_indices():
    ours = list(BatchSampler([5, 3, 8, 1, 0], 2, False))
    assert ours == list(tdata.BatchSampler([5, 3, 8, 1, 0], 2, False)) == [[5, 3], [8, 1], [0]]


@pytest.mark.parametrize("make", [
    lambda m: m.BatchSampler(range(4), 0, False),
    lambda m: m.BatchSampler(range(4), True, False),
    lambda m: m.BatchSampler(range(4), 2.0, False),
    lambda m: m.BatchSampler(range(4), 2, 1),
    lambda m: m.RandomSampler(range(4), num_samples=0),
    lambda m: m.RandomSampler(range(4), num_samples=2.5),
    lambda m: m.RandomSampler(range(0)),
    lambda m: m.RandomSampler(range(4), replacement=1),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], 0),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], 2, replacement="yes"),
    lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 2),
])  # fmt: skip
def test_argument_errors_like_torch(make):
    import chainrule.data as ours

    with pytest.raises(Exception) as theirs:
        make(tdata)
    with pytest.raises(type(theirs.value), match="^" + str(theirs.value).replace("(", r"\(")
                       .replace(")", r"\)").replace("[", r"\[").replace("]", r"\]") + "$"):
        make(ours)


def test_sampler_base_class():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

    assert list(Evens(7)) == [0, 2, 4, 6]
    with pytest.raises(NotImplementedError, match="Sampler must implement __iter__"):
        iter(Sampler(range(3)))


# RandomSampler ----------------------------------------------------------------------------------


def test_random_sampler_permutes_afresh_each_pass():
    s = RandomSampler(range(10), generator=cr.Generator(0))
    first, second = list(s), list(s)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    assert first == cr.Generator(0).numpy.permutation(10).tolist()
    assert list(RandomSampler(range(10), generator=cr.Generator(0))) == first
    assert len(s) == 10


def test_random_sampler_uses_global_generator():
    cr.manual_seed(5)
    a = list(RandomSampler(range(20)))
    cr.manual_seed(5)
    assert list(RandomSampler(range(20))) == a


def test_random_sampler_num_samples_without_replacement_chains_permutations():
    # PyTorch: num_samples // n whole permutations, then the start of one more
    s = RandomSampler(range(4), num_samples=10, generator=cr.Generator(1))
    out = list(s)
    assert len(out) == len(s) == len(list(tdata.RandomSampler(range(4), num_samples=10))) == 10
    assert sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]
    assert len(set(out[8:])) == 2
    assert len(list(RandomSampler(range(5), num_samples=3))) == 3


def test_random_sampler_with_replacement_is_uniform():
    n, k = 7, 70_000
    s = RandomSampler(range(n), replacement=True, num_samples=k, generator=cr.Generator(2))
    out = np.array(list(s))
    assert len(out) == len(s) == k and out.min() >= 0 and out.max() < n
    assert chi2_ok(np.bincount(out, minlength=n), np.full(n, 1 / n), k)
    assert len(set(out[:20].tolist())) < 20  # repeats happen: it is with replacement
    assert len(RandomSampler(range(n), replacement=True)) == n


def test_random_sampler_positions_are_uniform():
    # over many passes, each index lands in each position equally often
    n, passes = 5, 20_000
    s = RandomSampler(range(n), generator=cr.Generator(3))
    counts = np.zeros((n, n))
    for _ in range(passes):
        counts[np.arange(n), list(s)] += 1
    for row in counts:
        assert chi2_ok(row, np.full(n, 1 / n), passes)


def test_random_sampler_follows_the_dataset_size():
    data = list(range(3))
    s = RandomSampler(data, generator=cr.Generator(0))
    data.extend([3, 4])
    assert len(s) == 5 and sorted(s) == [0, 1, 2, 3, 4]


# SubsetRandomSampler ----------------------------------------------------------------------------


def test_subset_random_sampler():
    idx = [10, 20, 30, 40]
    s = SubsetRandomSampler(idx, generator=cr.Generator(0))
    first = list(s)
    assert sorted(first) == idx and len(s) == len(tdata.SubsetRandomSampler(idx)) == 4
    order = cr.Generator(0).numpy.permutation(4)
    assert first == [idx[i] for i in order]
    firsts = np.array([next(iter(s)) for _ in range(8000)])
    assert chi2_ok([np.sum(firsts == i) for i in idx], np.full(4, 0.25), 8000)


# WeightedRandomSampler --------------------------------------------------------------------------

WEIGHTS = [1.0, 0.0, 3.0, 6.0]


def test_weighted_sampler_with_replacement_follows_the_weights():
    k = 50_000
    s = WeightedRandomSampler(WEIGHTS, k, generator=cr.Generator(4))
    out = np.array(list(s))
    assert len(out) == len(s) == k
    counts = np.bincount(out, minlength=4)
    assert counts[1] == 0 and chi2_ok(counts, np.array(WEIGHTS) / 10, k)


def test_weighted_sampler_accepts_tensors_and_arrays():
    for w in (cr.tensor(WEIGHTS), np.array(WEIGHTS), tuple(WEIGHTS)):
        out = list(WeightedRandomSampler(w, 5, generator=cr.Generator(0)))
        assert out == list(WeightedRandomSampler(WEIGHTS, 5, generator=cr.Generator(0)))


def test_weighted_sampler_without_replacement_is_successive_sampling():
    # P(first = i) = w_i / Σw; P(second = j | first = i) = w_j / (Σw - w_i), as torch.multinomial
    w = np.array([1.0, 2.0, 3.0, 4.0])
    runs = 30_000
    s = WeightedRandomSampler(w, 2, replacement=False, generator=cr.Generator(5))
    pairs = np.array([list(s) for _ in range(runs)])
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert chi2_ok(np.bincount(pairs[:, 0], minlength=4), w / w.sum(), runs)
    p_second = [sum(w[i] / w.sum() * w[j] / (w.sum() - w[i]) for i in range(4) if i != j)
                for j in range(4)]
    assert chi2_ok(np.bincount(pairs[:, 1], minlength=4), p_second, runs)


def test_weighted_sampler_without_replacement_puts_zero_weights_last():
    for seed in range(20):
        out = list(WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False,
                                         generator=cr.Generator(seed)))
        assert sorted(out[:2]) == [0, 2] and out[2] == 1
    theirs = list(tdata.WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False))
    assert sorted(theirs[:2]) == [0, 2] and theirs[2] == 1


@pytest.mark.parametrize("weights, k, replacement, match", [
    ([1.0, -1.0], 2, True, "non-negative"),
    ([1.0, float("nan")], 2, True, "finite"),
    ([0.0, 0.0], 2, True, "sum of probabilities <= 0"),
    ([1.0, 1.0], 3, False, "cannot sample n_sample > prob_dist.size"),
])  # fmt: skip
def test_weighted_sampler_bad_distributions_raise_when_drawn_like_torch(weights, k,
                                                                        replacement, match):
    with pytest.raises(RuntimeError, match="invalid multinomial|cannot sample"):
        list(tdata.WeightedRandomSampler(weights, k, replacement))
    s = WeightedRandomSampler(weights, k, replacement)
    with pytest.raises(RuntimeError, match=match):
        list(s)
