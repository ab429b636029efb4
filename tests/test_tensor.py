"""Tensor basics: creation, dtypes, array access, repr, in-place rules, seeding."""

from __future__ import annotations

import warnings

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
    assert x.detach().numpy() is np.asarray(x)
    with pytest.raises(RuntimeError, match="cannot be converted to a Python scalar"):
        x.item()


def test_repr_like_pytorch():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(cr.tensor([0.5, 2.0], requires_grad=True)) == "tensor([0.5000, 2.0000], requires_grad=True)"
    x = cr.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward>)"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor([1.0], dtype=cr.float64)) == "tensor([1.], dtype=chainrule.float64)"


def test_repr_of_float16_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1e8 cast to float16 overflowed: a RuntimeWarning
        assert repr(cr.tensor([1.0, 0.0], dtype=cr.float16)) == "tensor([1., 0.], dtype=chainrule.float16)"


def test_grad_fn_exposes_the_graph():
    x = cr.tensor([1.0], requires_grad=True)
    w = cr.tensor([2.0], requires_grad=True)
    y = (x * w).exp()
    assert y.grad_fn.name() == "ExpBackward"
    ((mul, index),) = y.grad_fn.next_functions  # PyTorch's (node, output index) pairs
    assert index == 0
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


@pytest.mark.parametrize("array_out", [True, False], ids=["out=...", "numpy<2.3"])
def test_scalar_results_are_0d_arrays_of_the_tensor_dtype(monkeypatch, array_out):
    """Mul by a Python number and a full Sum pass out=... (NumPy >= 2.3) so that a 0-d result is
    an array; on older NumPy (out=None) apply wraps the NumPy scalar: the same values either way."""
    import chainrule.ops.elementwise as E
    import chainrule.ops.reduce as R
    if not array_out:
        monkeypatch.setattr(E, "_ARRAY_OUT", None)
        monkeypatch.setattr(R, "_ARRAY_OUT", None)
    for dtype in (np.float16, np.float32, np.float64):
        x = cr.tensor(np.array([0.25, -3.0], dtype), requires_grad=True)
        s = x.sum()
        loss = 0.5 * s
        assert type(s._data) is np.ndarray and s._data.shape == () and s.dtype == dtype
        assert type(loss._data) is np.ndarray and loss.dtype == dtype and loss.item() == -1.375
        loss.backward()
        assert x.grad.dtype == dtype and x.grad.tolist() == [0.5, 0.5]
    i = cr.tensor([1, 2, 3])
    assert (i * 2).dtype == np.int64 and (i * 2.5).dtype == np.float32 and i.sum().item() == 6
    assert cr.tensor([True, True]).sum().item() == 2


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


# -- found in review: behaviour that must match PyTorch -------------------------------------------

def test_augmented_assignment_is_in_place_like_pytorch():
    a = cr.zeros(2)
    b = a
    b += 1
    b *= 3
    assert a.tolist() == [3.0, 3.0]
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w += 1
    lin = cr.nn.Linear(2, 1)
    before = np.array(lin.weight)
    lin(cr.ones(1, 2)).sum().backward()
    with cr.no_grad():
        for p in lin.parameters():
            p -= 0.1 * p.grad  # the hand-written SGD step of the tutorials
    np.testing.assert_allclose(lin.weight.data, before - 0.1 * lin.weight.grad.data)


def test_casts_to_integer_types_leave_the_graph():
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    assert not x.long().requires_grad and x.long().tolist() == [1, 2]
    (x.long().float() * x).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0])


def test_writing_a_value_that_needs_grad_in_place_joins_the_graph():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    out = cr.zeros(3)
    out[0] = (w * 2).sum()  # out is now a non-leaf: out[0] depends on w, the rest does not
    c = cr.zeros(2)
    c.copy_(w * 3)
    assert out.tolist() == [6.0, 0.0, 0.0] and out.grad_fn is not None
    ((out * cr.tensor([1.0, 5.0, 7.0])).sum() + (c * c).sum()).backward()
    np.testing.assert_allclose(w.grad, [2 + 18 * 1, 2 + 18 * 2])


def test_power_zero_and_remainder_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    x, xt = cr.tensor([0.0, 1.0], requires_grad=True), torch.tensor([0.0, 1.0], requires_grad=True)
    (x ** 0).sum().backward()
    (xt ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    a = np.array([1.3, -2.7, 5.1, 3.5])
    b = np.array([0.7, 1.1, -2.3, 2.0])
    ca, cb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((ca % cb) * cb).sum().backward()
    ((ta % tb) * tb).sum().backward()
    np.testing.assert_allclose(ca.grad, ta.grad.numpy())
    np.testing.assert_allclose(cb.grad, tb.grad.numpy())
    assert (7 % cr.tensor([3.0])).item() == 1.0 and (7 // cr.tensor([2.0])).item() == 3.0
    assert cr.autograd.gradcheck(lambda p, q: p % q, (ca, cb))


@pytest.mark.parametrize("make", [
    lambda L: L.tensor([1.0, 2.0]) * L.tensor([1, 2]),
    lambda L: L.tensor([1, 2]) / L.tensor([2, 4]),
    lambda L: L.tensor([1, 2]) * 2.5,
    lambda L: L.tensor([1.0, 2.0]) * L.tensor(2.0, dtype=L.float64),
    lambda L: L.tensor([1, 4]).sqrt(),
    lambda L: L.tensor([1.0, 2.0]) @ L.tensor([1.0, 2.0]),
    lambda L: L.tensor([1.0, 2.0], dtype=L.float64) * L.tensor([1.0, 2.0]),
    lambda L: L.tensor([1, 2]) + L.tensor([True, False]),
])
def test_type_promotion_follows_pytorch(make):
    torch = pytest.importorskip("torch")
    assert str(make(cr).dtype) == str(make(torch).dtype).replace("torch.", "")


def test_gradcheck_works_on_non_contiguous_inputs():
    x = cr.randn(2, 3, dtype=cr.float64).T.detach().requires_grad_()
    assert not np.asarray(x).flags.c_contiguous
    assert cr.autograd.gradcheck(lambda t: (t * t * t).sum(), x)


def test_bare_no_grad_decorator_and_empty_or_0d_reductions():
    @cr.no_grad
    def double(t):
        return t * 2

    x = cr.tensor([1.0], requires_grad=True)
    assert not double(x).requires_grad and cr.is_grad_enabled()
    assert cr.tensor(3.0).prod(0).item() == 3.0
    assert cr.zeros(0, 3).softmax(dim=0).shape == (0, 3)
    assert cr.zeros(0, 3).log_softmax(dim=0).shape == (0, 3)
