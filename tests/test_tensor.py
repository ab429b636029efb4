"""Tensor basics: creation, dtypes, array access, repr, in-place rules, seeding."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_tensor_dtype_inference_like_pytorch():
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor(3.5).dtype == np.float32
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_
    assert cr.tensor(np.zeros(2, np.float64)).dtype == np.float64  # an array keeps its dtype
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == np.float64
    assert cr.Tensor([1, 2]).dtype == np.float32


def test_set_default_dtype():
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.tensor([1.0]).dtype == np.float64 and cr.zeros(2).dtype == np.float64
        assert cr.get_default_dtype() == np.float64
    finally:
        cr.set_default_dtype(cr.float32)
    with pytest.raises(TypeError, match="floating-point"):
        cr.set_default_dtype(cr.int64)


def test_creation_functions():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros((2, 3)).data.sum() == 0
    assert cr.ones(4).data.sum() == 4 and cr.ones(4).dtype == np.float32
    assert cr.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert cr.arange(5).tolist() == [0, 1, 2, 3, 4] and cr.arange(5).dtype == np.int64
    assert cr.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    np.testing.assert_array_equal(cr.eye(3).data, np.eye(3))
    x = cr.randn(3, 2)
    assert cr.zeros_like(x).shape == (3, 2) and cr.ones_like(x).data.sum() == 6
    a = np.arange(3.0)
    t = cr.from_numpy(a)
    a[0] = 9
    assert t.data[0] == 9  # shares memory


def test_manual_seed_reproduces_random_tensors():
    cr.manual_seed(123)
    a, b = cr.rand(3), cr.randn(2, 2)
    cr.manual_seed(123)
    assert np.array_equal(a.data, cr.rand(3).data) and np.array_equal(b.data, cr.randn(2, 2).data)
    assert a.dtype == np.float32 and 0 <= a.data.min() and a.data.max() < 1


def test_array_access():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.shape == (2, 2) and x.ndim == 2 and x.size() == (2, 2) and x.size(1) == 2
    assert x.numel() == 4 and len(x) == 2 and x.dtype == cr.float32
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.sum().item() == 10.0
    assert np.allclose(x, [[1, 2], [3, 4]])  # __array__
    with pytest.raises(RuntimeError, match="Use tensor.detach"):
        x.numpy()
    assert x.detach().numpy() is x.data
    with pytest.raises(RuntimeError, match="cannot be converted to a Python scalar"):
        x.item()


def test_repr_like_pytorch():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(cr.tensor([0.5, 2.0], requires_grad=True)) == "tensor([0.5000, 2.0000], requires_grad=True)"
    x = cr.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward>)"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor([1.0], dtype=cr.float64)) == "tensor([1.], dtype=chainrule.float64)"


def test_grad_fn_exposes_the_graph():
    x = cr.tensor([1.0], requires_grad=True)
    w = cr.tensor([2.0], requires_grad=True)
    y = (x * w).exp()
    assert y.grad_fn.name() == "ExpBackward"
    (mul,) = y.grad_fn.next_functions
    assert mul.name() == "MulBackward" and mul.inputs[0] is x and mul.inputs[1] is w
    assert x.is_leaf and not y.is_leaf and y.requires_grad


def test_detach_and_requires_grad_():
    x = cr.tensor([1.0], requires_grad=True)
    d = (x * 2).detach()
    assert d.grad_fn is None and not d.requires_grad
    y = cr.tensor([1.0]).requires_grad_()
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        (x * 2).requires_grad_(False)


def test_in_place_ops_on_plain_tensors():
    t = cr.zeros(3)
    t.add_(1.0).mul_(3.0)
    assert t.tolist() == [3.0, 3.0, 3.0]
    t.copy_(cr.tensor([1.0, 2.0, 3.0]))
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
    t[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0]
    with pytest.raises(RuntimeError, match=r"copy_: cannot copy a tensor of shape \(2,\)"):
        t.copy_(cr.tensor([1.0, 2.0]))


def test_operators_accept_numpy_scalars_without_upcasting():
    x = cr.ones(2)
    assert (x * np.float64(2.0)).dtype == np.float32
    assert (np.float64(2.0) * x).dtype == np.float32
    assert (2 - x).dtype == np.float32 and (x / 3).dtype == np.float32


def test_comparisons_give_bool_tensors():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and m.tolist() == [False, True, True] and not m.requires_grad
    assert (x == 2.0).tolist() == [False, True, False]


def test_max_min_return_forms_like_pytorch():
    x = cr.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    assert x.max().item() == 6.0
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 6.0] and indices.tolist() == [1, 2]
    r = x.min(dim=0, keepdim=True)
    assert r.values.tolist() == [[1.0, 2.0, 3.0]] and r.indices.tolist() == [[0, 1, 0]]
    assert x.argmax().item() == 5 and x.argmin(dim=1).tolist() == [0, 1]
    assert cr.max(x, cr.tensor(3.0)).tolist() == [[3.0, 5.0, 3.0], [4.0, 3.0, 6.0]]


def test_split_chunk_cat_stack():
    x = cr.arange(10.0).reshape(5, 2)
    parts = x.split(2)
    assert [p.shape for p in parts] == [(2, 2), (2, 2), (1, 2)]
    assert [c.shape for c in x.chunk(2)] == [(3, 2), (2, 2)]
    assert cr.cat(parts).tolist() == x.tolist()
    assert cr.stack([x, x], dim=0).shape == (2, 5, 2)
    with pytest.raises(RuntimeError, match="cat: sizes of tensors must match except in dimension 0"):
        cr.cat([cr.zeros(2, 3), cr.zeros(2, 4)])
