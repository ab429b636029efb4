"""Dataset, TensorDataset, Subset, random_split, DataLoader and default_collate."""

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def xy(n=10):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(cr.tensor(x, dtype=cr.float32), cr.from_numpy(y)), x, y


class Samples(Dataset):
    """A plain map-style dataset: no whole-array fast path."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return np.full(3, i, dtype=np.float32), i

    def __len__(self):
        return self.n


def first_order(seed, n):
    """The order of a loader's first shuffled pass with ``generator=cr.Generator(seed)``: each
    pass first draws the workers' base seed (as PyTorch's does), then the permutation."""
    rng = cr.Generator(seed).numpy
    rng.integers(2**63)
    return rng.permutation(n)


def as_lists(loader):
    return [[np.asarray(t.data).tolist() for t in batch] for batch in loader]


# Dataset / TensorDataset ----------------------------------------------------------------------


def test_dataset_is_abstract():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())


def test_tensor_dataset_items():
    ds, x, y = xy()
    assert len(ds) == 10
    xi, yi = ds[3]
    assert isinstance(xi, cr.Tensor) and isinstance(yi, cr.Tensor)
    np.testing.assert_array_equal(xi.data, [6.0, 7.0])
    assert xi.dtype == np.float32 and yi.dtype == np.int64 and int(yi.data) == 3


def test_tensor_dataset_first_dims_must_match():
    with pytest.raises(ValueError, match=r"first dimension.*\(10, 2\), \(9,\)"):
        TensorDataset(cr.tensor(np.zeros((10, 2))), cr.tensor(np.zeros(9)))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_subset_reorders():
    ds, x, y = xy()
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    assert int(sub[0][1].data) == 7 and int(sub[2][1].data) == 5


# random_split -----------------------------------------------------------------------------------


def test_random_split_sizes_disjoint_and_covering():
    ds, _, _ = xy(10)
    a, b = random_split(ds, [3, 7], generator=cr.Generator(0))
    assert (len(a), len(b)) == (3, 7)
    assert sorted(a.indices + b.indices) == list(range(10))
    assert a.indices == cr.Generator(0).numpy.permutation(10).tolist()[:3]


def test_random_split_fractions_like_pytorch():
    # floor(11 * f) = 5, 3, 2; the one left over goes to the first split
    parts = random_split(Samples(11), [0.5, 0.3, 0.2], generator=cr.Generator(1))
    assert [len(p) for p in parts] == [6, 3, 2]
    assert sorted(i for p in parts for i in p.indices) == list(range(11))


def test_random_split_fraction_lengths_match_torch():
    torch = pytest.importorskip("torch")
    for n, fracs in [(11, [0.5, 0.3, 0.2]), (7, [0.1, 0.9]), (100, [1 / 3] * 3)]:
        ours = [len(p) for p in random_split(Samples(n), fracs)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fracs)]
        assert ours == theirs


def test_random_split_deterministic_with_seed():
    first = [p.indices for p in random_split(Samples(20), [0.5, 0.5], cr.Generator(3))]
    again = [p.indices for p in random_split(Samples(20), [0.5, 0.5], cr.Generator(3))]
    assert first == again


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="sum to 9, but the dataset has 10"):
        random_split(Samples(10), [4, 5])
    with pytest.raises(ValueError, match="non-negative ints or fractions"):
        random_split(Samples(10), [0.5, 0.2])


# DataLoader: order, lengths, shuffling ----------------------------------------------------------


def test_batches_in_order():
    ds, x, y = xy(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(batches[1][0].data, x[4:8])
    np.testing.assert_array_equal(batches[2][1].data, [8, 9])
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


@pytest.mark.parametrize(
    "n, batch_size, drop_last, count", [(10, 4, False, 3), (10, 4, True, 2), (8, 4, True, 2),
                                        (3, 4, True, 0), (3, 4, False, 1), (0, 2, False, 0)]
)  # fmt: skip
def test_len_and_drop_last(n, batch_size, drop_last, count):
    loader = DataLoader(Samples(n), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == count
    assert all(len(b[1].data) == batch_size for b in batches[: n // batch_size])


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got "
                                         "batch_size=0"):
        DataLoader(Samples(3), batch_size=0)


def test_shuffle_uses_generator_and_is_deterministic():
    ds, _, y = xy(10)
    loader = DataLoader(ds, batch_size=3, shuffle=True, generator=cr.Generator(0))
    epoch1, epoch2 = as_lists(loader), as_lists(loader)
    expected = first_order(0, 10).tolist()
    assert [v for b in epoch1 for v in b[1]] == expected
    assert epoch1 != epoch2  # a fresh permutation each epoch
    assert sorted(v for b in epoch2 for v in b[1]) == list(range(10))
    again = DataLoader(ds, batch_size=3, shuffle=True, generator=cr.Generator(0))
    assert as_lists(again) == epoch1 and as_lists(again) == epoch2


def test_shuffle_draws_from_global_generator():
    ds, _, _ = xy(10)
    cr.manual_seed(123)
    first = as_lists(DataLoader(ds, batch_size=4, shuffle=True))
    cr.manual_seed(123)
    assert as_lists(DataLoader(ds, batch_size=4, shuffle=True)) == first


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_each_sample_at_most_once(n, batch_size, shuffle, drop_last, seed):
    ds, x, y = xy(n)
    if n == 0 and shuffle:  # PyTorch's RandomSampler refuses an empty dataset
        with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
            DataLoader(ds, batch_size, shuffle, drop_last=drop_last)
        return
    loader = DataLoader(ds, batch_size, shuffle, drop_last=drop_last, generator=cr.Generator(seed))
    batches = list(loader)
    seen = [int(v) for _, yb in batches for v in yb.data]
    assert len(batches) == len(loader)
    assert len(seen) == len(set(seen)) == (n // batch_size * batch_size if drop_last else n)
    for xb, yb in batches:  # rows stay paired with their labels
        np.testing.assert_array_equal(xb.data, x[yb.data])


# DataLoader: whole-array fast path vs sample-by-sample collation --------------------------------


def test_fast_path_indexes_whole_arrays(monkeypatch):
    ds, x, y = xy(10)

    def no_samples(self, i):
        raise AssertionError("the fast path must not fetch samples one by one")

    monkeypatch.setattr(TensorDataset, "__getitem__", no_samples)
    batches = list(DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator(5)))
    order = first_order(5, 10)
    np.testing.assert_array_equal(batches[0][0].data, x[order[:4]])


def test_fast_path_equals_collation():
    ds, _, _ = xy(13)
    fast = DataLoader(ds, batch_size=5, shuffle=True, generator=cr.Generator(2))
    slow = DataLoader(ds, batch_size=5, shuffle=True, generator=cr.Generator(2),
                      collate_fn=default_collate)  # fmt: skip
    for a, b in zip(fast, slow, strict=True):
        for ta, tb in zip(a, b, strict=True):
            assert ta.dtype == tb.dtype and ta.shape == tb.shape
            np.testing.assert_array_equal(ta.data, tb.data)


def test_fast_path_through_subset():
    ds, x, _ = xy(10)
    sub = Subset(ds, [9, 0, 4, 2])
    (xb, yb), (xb2, yb2) = DataLoader(sub, batch_size=2)
    np.testing.assert_array_equal(yb.data, [9, 0])
    np.testing.assert_array_equal(xb2.data, x[[4, 2]])


def test_subclass_overriding_getitem_is_respected():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            return tuple(cr.from_numpy(np.asarray(t.data[i] * 2)) for t in self.tensors)

    ds = Doubled(cr.from_numpy(np.arange(4)))
    (batch,) = next(iter(DataLoader(ds, batch_size=4)))
    np.testing.assert_array_equal(batch.data, [0, 2, 4, 6])


def test_custom_collate_fn():
    loader = DataLoader(Samples(5), batch_size=2, collate_fn=lambda b: [i for _, i in b])
    assert list(loader) == [[0, 1], [2, 3], [4]]


# default_collate ---------------------------------------------------------------------------------


def test_default_collate_types_like_pytorch():
    Point = collections.namedtuple("Point", "x y")
    batch = [
        {"img": np.full((2, 2), i, np.float32), "label": i, "w": 0.5 * i, "ok": i % 2 == 0,
         "name": f"s{i}", "p": Point(i, -i), "t": cr.tensor([i, i], dtype=cr.float64)}
        for i in range(3)
    ]  # fmt: skip
    out = default_collate(batch)
    assert out["img"].shape == (3, 2, 2) and out["img"].dtype == np.float32
    assert out["label"].dtype == np.int64 and out["label"].data.tolist() == [0, 1, 2]
    assert out["w"].dtype == np.float64 and out["w"].data.tolist() == [0.0, 0.5, 1.0]
    assert out["ok"].dtype == np.bool_ and out["ok"].data.tolist() == [True, False, True]
    assert out["name"] == ["s0", "s1", "s2"]
    assert isinstance(out["p"], Point) and out["p"].y.data.tolist() == [0, -1, -2]
    assert out["t"].dtype == np.float64 and out["t"].data.tolist() == [[0, 0], [1, 1], [2, 2]]


def test_default_collate_tuple_becomes_list():
    out = default_collate([(np.float32(1.5), 1), (np.float32(2.5), 2)])
    assert isinstance(out, list) and out[0].dtype == np.float32
    assert out[0].data.tolist() == [1.5, 2.5] and out[1].data.tolist() == [1, 2]


def test_default_collate_rejects_unknown_types():
    with pytest.raises(TypeError, match="cannot batch samples of type object"):
        default_collate([object(), object()])


def test_default_collate_structure_like_torch():
    """Fields of tuples: strings come back as the tuple of the field, as in PyTorch."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    Pair = collections.namedtuple("Pair", "name value")
    batch = [(i, 0.5 * i, f"s{i}", b"b", Pair(f"p{i}", i), {"k": [f"d{i}", i]}) for i in range(3)]

    def plain(x):  # tensors to lists, containers kept with their types
        if isinstance(x, (cr.Tensor, torch.Tensor)):
            return ("tensor", str(x.dtype).split(".")[-1], np.asarray(x).tolist())
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return (type(x).__name__, [plain(v) for v in x])
        return x

    assert plain(default_collate(batch)) == plain(torch_collate(batch))
    assert plain(default_collate(["a", "b"])) == plain(torch_collate(["a", "b"]))


@pytest.mark.parametrize("batch, error, message", [
    ([np.zeros(2), np.zeros(3)], RuntimeError,
     r"stack expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1"),
    ([cr.zeros(2), cr.zeros(2, 1)], RuntimeError, r"stack expects each tensor to be equal size"),
    ([[1, 2], [1]], RuntimeError, "each element in list of batch should be of equal size"),
    ([np.array(["a"]), np.array(["b"])], TypeError,
     "batch must contain tensors, numpy arrays, numbers, dicts or lists; found <U1"),
])
def test_default_collate_errors_like_torch(batch, error, message):
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    torch_batch = [torch.zeros(b.shape) if isinstance(b, cr.Tensor) else b for b in batch]
    with pytest.raises(error, match=message):
        torch_collate(torch_batch)
    with pytest.raises(error, match=message):
        default_collate(batch)


def test_default_collate_keeps_numpy_strings_like_torch():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    batch = [np.str_("a"), np.str_("b")]
    assert default_collate(batch) == torch_collate(batch) == batch
    assert type(default_collate(batch)[0]) is np.str_
