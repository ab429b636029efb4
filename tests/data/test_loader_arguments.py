"""DataLoader's arguments (sampler, batch_sampler, batch_size=None, generator, drop_last,
collate_fn, pin_memory, ...), its errors, and the datasets IterableDataset, ConcatDataset and
ChainDataset: the same batches and the same errors as PyTorch's."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.utils.data as ours

torch = pytest.importorskip("torch")
theirs = torch.utils.data
pytestmark = pytest.mark.filterwarnings("ignore:'pin_memory' argument is set:UserWarning")


def plain(x):
    """A loader's output as plain Python (tensors to (dtype, values)), comparable across
    libraries."""
    if isinstance(x, (cr.Tensor, torch.Tensor)):
        return (str(x.dtype).removeprefix("torch."), np.asarray(x).tolist())
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x).__name__, [plain(v) for v in x]
    return x


def both(make_dataset, **kwargs):
    """The batches of the same loader in chainrule and PyTorch (``make_dataset(module)``)."""
    return ([plain(b) for b in ours.DataLoader(make_dataset(ours), **kwargs)],
            [plain(b) for b in theirs.DataLoader(make_dataset(theirs), **kwargs)])


def samples(m, n=10):
    """A map-style dataset with a tuple of an array and an int per sample."""

    class Samples(m.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return np.full(2, i, dtype=np.float32), i

    return Samples()


def stream(m, n=7):
    class Stream(m.IterableDataset):
        def __iter__(self):
            return iter({"x": np.float64(i), "i": i} for i in range(n))

    return Stream()


# one path, two names ----------------------------------------------------------------------------


def test_utils_data_is_data():
    import chainrule.data
    from chainrule.utils.data import DataLoader, Dataset, TensorDataset, random_split
    from chainrule.utils.data.dataset import Subset
    from chainrule.utils.data.sampler import SubsetRandomSampler

    assert hasattr(cr, "utils") and cr.utils.data is ours
    assert (DataLoader, Dataset, TensorDataset, random_split, Subset, SubsetRandomSampler) == (
        chainrule.data.DataLoader, chainrule.data.Dataset, chainrule.data.TensorDataset,
        chainrule.data.random_split, chainrule.data.Subset, chainrule.data.SubsetRandomSampler)
    assert set(chainrule.data.__all__) <= set(dir(ours))
    for name in ("DataLoader", "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset",
                 "ChainDataset", "Subset", "random_split", "default_collate", "default_convert",
                 "get_worker_info", "Sampler", "SequentialSampler", "RandomSampler",
                 "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"):
        assert hasattr(theirs, name) and hasattr(ours, name), name


def test_import_chainrule_stays_light():
    code = ("import sys, chainrule as cr; cr.device('cpu'); "
            "print(sorted(m for m in ('chainrule.data', 'chainrule.utils', 'multiprocessing', "
            "'scipy', 'chainrule.cuda') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# the same batches as PyTorch ---------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=3),
    dict(batch_size=3, drop_last=True),
    dict(batch_size=None),
    dict(sampler=[9, 0, 4, 4, 2], batch_size=2),
    dict(sampler=ours.SequentialSampler(range(5)), batch_size=2),
    dict(batch_sampler=[[3, 1], [0], [9, 8, 7]]),
    dict(batch_sampler=ours.BatchSampler(range(10), 4, True)),
    dict(sampler=range(3), batch_size=None),
    dict(batch_size=4, collate_fn=lambda b: [i for _, i in b]),
    dict(batch_size=None, collate_fn=lambda s: s[1] * 2),
    dict(batch_size=4, pin_memory=True),
    dict(batch_size=4, shuffle=False, in_order=False),
])  # fmt: skip
def test_map_style_batches_like_torch(kwargs):
    kw = dict(kwargs)
    if isinstance(kw.get("sampler"), ours.SequentialSampler):
        kw["sampler"] = theirs.SequentialSampler(range(5))
    if isinstance(kw.get("batch_sampler"), ours.BatchSampler):
        kw["batch_sampler"] = theirs.BatchSampler(range(10), 4, True)
    a = [plain(b) for b in ours.DataLoader(samples(ours), **kwargs)]
    b = [plain(b) for b in theirs.DataLoader(samples(theirs), **kw)]
    assert a == b
    assert len(ours.DataLoader(samples(ours), **kwargs)) == len(b)


@pytest.mark.parametrize("kwargs", [dict(batch_size=3), dict(batch_size=3, drop_last=True),
                                    dict(batch_size=None), dict(batch_size=7), dict()])
def test_iterable_dataset_batches_like_torch(kwargs):
    a, b = both(stream, **kwargs)
    assert a == b


def test_iterable_dataset_len_like_torch():
    class Sized(ours.IterableDataset):
        def __iter__(self):
            return iter(range(10))

        def __len__(self):
            return 10

    assert [len(ours.DataLoader(Sized(), batch_size=b, drop_last=d)) for b, d in
            ((3, False), (3, True), (None, False))] == [4, 3, 10]
    with pytest.raises(TypeError, match="has no len"):
        len(ours.DataLoader(stream(ours)))


def test_default_convert_like_torch():
    data = [np.array([1, 2]), np.float32(1.5), 3, 2.5, "s", (np.zeros(2), 1),
            {"a": np.ones(1)}, [np.int64(4)], np.array(["x"])]
    for d in data:
        assert plain(ours.default_convert(d)) == plain(theirs.default_convert(d)), d


def test_generator_gives_the_order_and_is_reproducible():
    def order(gen):
        return [int(i) for b in ours.DataLoader(samples(ours, 30), batch_size=4, shuffle=True,
                                                generator=gen) for i in b[1]]

    a, b = order(cr.Generator(7)), order(cr.Generator(7))
    assert a == b and sorted(a) == list(range(30)) and a != order(cr.Generator(8))


def test_a_custom_sampler_and_batch_sampler():
    class Reverse(ours.Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n - 1, -1, -1))

        def __len__(self):
            return self.n

    loader = ours.DataLoader(samples(ours, 5), sampler=Reverse(5), batch_size=2)
    assert [b[1].tolist() for b in loader] == [[4, 3], [2, 1], [0]] and len(loader) == 3
    loader = ours.DataLoader(samples(ours, 5), batch_sampler=ours.BatchSampler(Reverse(5), 3,
                                                                               False))
    assert [b[1].tolist() for b in loader] == [[4, 3, 2], [1, 0]]


def test_fast_path_follows_samplers():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = ours.TensorDataset(cr.from_numpy(x), cr.arange(10))
    w = ours.WeightedRandomSampler([0.0] * 5 + [1.0] * 5, 8, generator=cr.Generator(0))
    idx = list(ours.WeightedRandomSampler([0.0] * 5 + [1.0] * 5, 8, generator=cr.Generator(0)))
    xb, yb = next(iter(ours.DataLoader(ds, sampler=w, batch_size=8)))
    assert yb.tolist() == idx and np.array_equal(xb.data, x[idx])
    single = list(ours.DataLoader(ds, batch_size=None, sampler=[3]))
    assert plain(single) == plain([[cr.from_numpy(x[3]), cr.tensor(3)]])  # a tuple: a list


def test_subset_getitems_is_used():
    class Batched(ours.Dataset):
        calls = []

        def __len__(self):
            return 10

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, idx):
            self.calls.append(idx)
            return [(i, -i) for i in idx]

    sub = ours.Subset(Batched(), [9, 7, 5, 3])
    out = [plain(b) for b in ours.DataLoader(sub, batch_size=3)]
    assert Batched.calls == [[9, 7, 5], [3]]
    assert out[0] == ("list", [("int64", [9, 7, 5]), ("int64", [-9, -7, -5])])


# datasets ---------------------------------------------------------------------------------------


def test_concat_dataset_like_torch():
    parts = [list(range(3)), list(range(10, 12)), [], list(range(20, 24))]
    a, b = ours.ConcatDataset(parts), theirs.ConcatDataset(parts)
    assert len(a) == len(b) == 9 and a.cumulative_sizes == b.cumulative_sizes
    assert [a[i] for i in range(-9, 9)] == [b[i] for i in range(-9, 9)]
    assert list(a) == [b[i] for i in range(9)]  # iteration stops at IndexError
    with pytest.raises(ValueError, match="absolute value of index should not exceed"):
        a[-10]
    with pytest.raises(IndexError, match="index 9 is out of range for 9 samples"):
        a[9]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ours.ConcatDataset([])
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ours.ConcatDataset([stream(ours)])
    ab = samples(ours, 2) + samples(ours, 3)
    assert isinstance(ab, ours.ConcatDataset) and len(ab) == 5 and ab[4][1] == 2


def test_concat_dataset_in_a_loader_like_torch():
    def make(m):
        return m.ConcatDataset([samples(m, 3), samples(m, 4)])

    a, b = both(make, batch_size=3)
    assert a == b


def test_chain_dataset_like_torch():
    a, b = both(lambda m: m.ChainDataset([stream(m, 3), stream(m, 4)]), batch_size=3)
    assert a == b
    both_streams = stream(ours, 2) + stream(ours, 1)
    assert isinstance(both_streams, ours.ChainDataset)
    assert [d["i"] for d in both_streams] == [0, 1, 0]
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset"):
        list(ours.ChainDataset([[1, 2]]))

    class Sized(ours.IterableDataset):
        def __iter__(self):
            return iter(range(4))

        def __len__(self):
            return 4

    assert len(ours.ChainDataset([Sized(), Sized()])) == 8


def test_iterable_dataset_is_abstract():
    with pytest.raises(NotImplementedError, match="must implement __iter__"):
        iter(ours.IterableDataset())


# argument errors, as PyTorch's ------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    dict(batch_sampler=[[0]], batch_size=2),
    dict(batch_sampler=[[0]], shuffle=True),
    dict(batch_sampler=[[0]], sampler=[0]),
    dict(batch_sampler=[[0]], drop_last=True),
    dict(sampler=[0], shuffle=True),
    dict(batch_size=None, drop_last=True),
    dict(batch_size=0),
    dict(batch_size=2.0),
    dict(num_workers=-1),
    dict(timeout=-1),
    dict(persistent_workers=True),
])  # fmt: skip
def test_argument_errors_like_torch(kwargs):
    with pytest.raises(ValueError) as err:
        theirs.DataLoader(range(5), **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(err.value))):
        ours.DataLoader(samples(ours, 5), **kwargs)


@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]),
                                    dict(batch_sampler=[[0]])])
def test_iterable_dataset_refuses_samplers_like_torch(kwargs):
    with pytest.raises(ValueError) as err:
        theirs.DataLoader(stream(theirs), **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(err.value))):
        ours.DataLoader(stream(ours), **kwargs)


def test_other_argument_errors():
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        ours.DataLoader(samples(ours), prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor option should be a positive int"):
        ours.DataLoader(samples(ours), num_workers=1, prefetch_factor=0)
    with pytest.raises(ValueError, match="timeout option needs num_workers > 0"):
        ours.DataLoader(samples(ours), timeout=5)


def test_attributes_like_torch_and_frozen_after_init():
    a, b = ours.DataLoader(samples(ours), batch_size=4), theirs.DataLoader(range(10), batch_size=4)
    for name in ("batch_size", "drop_last", "num_workers", "pin_memory", "timeout",
                 "worker_init_fn", "prefetch_factor", "persistent_workers", "generator"):
        assert getattr(a, name) == getattr(b, name), name
    assert type(a.sampler).__name__ == type(b.sampler).__name__ == "SequentialSampler"
    assert type(a.batch_sampler).__name__ == "BatchSampler"
    assert a.collate_fn is ours.default_collate
    assert ours.DataLoader(samples(ours), batch_size=None).collate_fn is ours.default_convert
    for name in ("batch_size", "sampler", "batch_sampler", "drop_last", "dataset"):
        with pytest.raises(ValueError, match=f"{name} attribute should not be set after"):
            setattr(a, name, None)
    a.num_workers = 0  # allowed, as in PyTorch
