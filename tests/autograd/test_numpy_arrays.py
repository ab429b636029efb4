"""NumPy's array protocol on Tensors: np.array copies, np.asarray shares, as with PyTorch's
tensors; a snapshot of a state_dict taken with np.array does not move when the model trains."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr

from ._parity import T, assert_same, torch

X = [1.0, 2.0, 3.0]

# PyTorch's own __array__ predates NumPy 2's copy= keyword; NumPy warns about it, not about us
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _after_change(make_array):
    """The array made from a tensor, read after the tensor is changed in place."""
    def case(L):
        t = T(L, X)
        a = make_array(t)
        t.add_(1)
        return a.tolist(), str(a.dtype)
    return case


@pytest.mark.parametrize("name, make, changes", [
    ("np.array copies", lambda t: np.array(t), False),
    ("np.array(copy=True) copies", lambda t: np.array(t, copy=True), False),
    ("np.array(dtype=float64) copies", lambda t: np.array(t, dtype=np.float64), False),
    ("np.asarray shares", lambda t: np.asarray(t), True),
    ("np.asarray(dtype=float32) shares", lambda t: np.asarray(t, dtype=np.float32), True),
    ("np.asarray(dtype=float64) converts", lambda t: np.asarray(t, dtype=np.float64), False),
    ("np.array of a view copies", lambda t: np.array(t[0:2]), False),
    ("np.asarray of a view shares", lambda t: np.asarray(t[0:2]), True),
])
def test_array_from_a_tensor_copies_or_shares_as_pytorch(name, make, changes):
    values, _ = assert_same(_after_change(make))
    assert (values[0] == 2.0) is changes


def test_writing_into_np_array_of_a_tensor_leaves_the_tensor_alone():
    def case(L):
        t = T(L, X)
        a = np.array(t)
        a[0] = 100
        return t

    assert assert_same(case).tolist() == X


def test_np_array_of_a_0d_tensor_and_of_a_list_of_tensors():
    def case(L):
        s, t = T(L, 5.0), T(L, X)
        a, b = np.array(s), np.array([t, t])
        s.add_(1)
        t.add_(1)
        return a, a.shape, b

    assert_same(case)


def test_np_array_copy_false_shares_memory_as_numpy_defines_it():
    """NumPy 2: copy=False means "never copy". A float32 tensor asked for float32 needs no copy,
    so the array is the tensor's memory. (PyTorch 2.13 raises ValueError here instead.)"""
    t = cr.tensor(X)
    a = np.array(t, copy=False)
    assert np.shares_memory(a, t.data)
    t.add_(1)
    assert a.tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError):
        np.array(t, dtype=np.float64, copy=False)  # a copy would be needed: refused, as NumPy
    with pytest.raises(ValueError):
        np.array(torch.tensor(X), dtype=np.float64, copy=False)


def test_np_array_of_a_tensor_that_requires_grad_copies_its_values():
    # PyTorch refuses: "Can't call numpy() on Tensor that requires grad". chainrule's Tensor.data
    # is the NumPy array itself, and np.array(t) copies it, also when t requires grad (README,
    # "differences from PyTorch"): the copy is detached from the graph, so nothing is tracked
    # wrongly. (t.numpy() still refuses, as PyTorch's.)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.array(torch.tensor(X, requires_grad=True))
    x = cr.tensor(X, requires_grad=True)
    for t in (x, x * 2):  # a leaf and a non-leaf
        a = np.array(t)
        assert type(a) is np.ndarray and a.dtype == np.float32
        np.testing.assert_array_equal(a, t.data)
        assert not np.shares_memory(a, t.data)
        a[0] = 100.0  # a copy: the tensor does not change
        assert t.tolist()[0] == X[0] * (1 if t is x else 2)
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()


def _train(L, model, steps=3):
    opt = L.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        model(L.ones(1, 3)).sum().backward()
        opt.step()


@pytest.mark.parametrize("L", [cr, torch], ids=["chainrule", "torch"])
def test_a_state_dict_snapshot_made_with_np_array_does_not_move_when_training(L):
    L.manual_seed(0)
    model = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(), L.nn.Linear(4, 1))
    snapshot = {k: np.array(v) for k, v in model.state_dict().items()}
    frozen = {k: v.copy() for k, v in snapshot.items()}
    shared = {k: np.asarray(v) for k, v in model.state_dict().items()}
    deep = copy.deepcopy(model.state_dict())
    live = model.state_dict()
    _train(L, model)
    now = {k: np.array(v.detach()) for k, v in model.state_dict().items()}
    for k in frozen:
        np.testing.assert_array_equal(snapshot[k], frozen[k])  # the np.array copy stayed
        np.testing.assert_array_equal(np.array(deep[k]), frozen[k])  # so did deepcopy
        np.testing.assert_array_equal(shared[k], now[k])  # np.asarray followed training
        np.testing.assert_array_equal(np.asarray(live[k].detach()), now[k])  # state_dict shares
        assert not np.array_equal(now[k], frozen[k]), k  # and training did change it


def test_a_state_dict_snapshot_restores_the_model():
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 2)
    snapshot = {k: np.array(v) for k, v in model.state_dict().items()}
    before = model(cr.ones(1, 3)).detach().tolist()
    _train(cr, model)
    assert model(cr.ones(1, 3)).detach().tolist() != before
    model.load_state_dict({k: cr.tensor(v) for k, v in snapshot.items()})
    assert model(cr.ones(1, 3)).detach().tolist() == before
