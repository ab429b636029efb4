"""Selection and indexing beyond the op table (``op_table.SELECTION`` has their gradients): the
outputs without gradients (nonzero, one-argument where) against PyTorch, integer tensors, 0-d
tensors, in-place forms, and PyTorch's errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

X = np.arange(12, dtype=np.float32).reshape(3, 4)
IDX = np.array([[0, 1], [2, 0]])


def both(fn):
    """fn(L) on chainrule and on PyTorch (the APIs match)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation of scatter(reduce=)
        return fn(cr), fn(torch)


def assert_same(ours, theirs):
    """Same values (NaN where NaN), shape and dtype (tuples element by element)."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
        return
    want = theirs.detach().numpy()
    assert ours.shape == want.shape
    assert ours.dtype == want.dtype
    np.testing.assert_array_equal(ours.data, want)


@pytest.mark.parametrize("fn", [
    lambda L: L.nonzero(L.tensor(X)),
    lambda L: L.nonzero(L.tensor(X), as_tuple=True),
    lambda L: L.tensor([[1.0, 0.0], [0.0, 2.0]]).nonzero(as_tuple=True),
    lambda L: L.nonzero(L.tensor([1, 0, 2])),
    lambda L: L.nonzero(L.tensor(3.0)),
    lambda L: L.nonzero(L.tensor(0.0)),
    lambda L: L.nonzero(L.tensor(3.0), as_tuple=True),
    lambda L: L.nonzero(L.tensor(0.0), as_tuple=True),
    lambda L: L.nonzero(L.ones(0, 3)),
    lambda L: L.argwhere(L.tensor(X) > 9),
    lambda L: L.where(L.tensor(X) > 9),
    lambda L: L.where(L.tensor(1.0)),
    lambda L: L.where(L.tensor([[1.0, 0.0]])),
], ids=["nonzero", "as_tuple", "method", "int", "0d", "0d_zero", "0d_tuple", "0d_zero_tuple",
        "empty", "argwhere", "where_one_arg", "where_0d", "where_float"])
def test_indices_match_pytorch(fn):
    assert_same(*both(fn))


def test_one_argument_where_indexes_like_the_mask():
    x = cr.tensor(X, requires_grad=True)
    y = x[cr.where(x > 6)]
    y.sum().backward()
    np.testing.assert_array_equal(y.data, X[X > 6])
    np.testing.assert_array_equal(x.grad.data, (X > 6).astype(float))


def test_tensor_where_method():
    assert_same(*both(lambda L: L.tensor(X).where(L.tensor(X) > 5, 0.0)))


def test_where_condition_must_be_bool_as_pytorchs():
    flags = np.array([[1, 0, 1, 0]] * 3, np.uint8)  # uint8: accepted (PyTorch deprecates it)
    assert_same(*both(lambda L: L.where(L.tensor(flags), L.tensor(X), 0.0)))
    for cond in (flags.astype(np.int64), flags.astype(np.float32)):
        for lib in (torch, cr):
            with pytest.raises(RuntimeError, match="where expected condition to be a boolean "
                                                   "tensor"):
                lib.where(lib.tensor(cond), lib.tensor(X), 0.0)
            with pytest.raises(RuntimeError, match="where expected condition to be a boolean"):
                lib.tensor(X).where(lib.tensor(cond), 0.0)


@pytest.mark.parametrize("fn", [
    lambda L: L.tensor(X).long().gather(1, L.tensor(IDX)),
    lambda L: L.gather(L.tensor(X), 1, L.tensor(IDX).int()),
    lambda L: L.gather(L.tensor(X), 1, L.zeros(3, 5, dtype=L.long)),
    lambda L: L.gather(L.tensor(3.0), 0, L.tensor(0)),
    lambda L: L.gather(L.tensor(X), 1, L.zeros(0, 2, dtype=L.long)),
    lambda L: L.scatter(L.tensor(X).long(), 1, L.tensor(IDX), 2.5),
    lambda L: L.scatter(L.tensor(X), 1, L.tensor(IDX), 2),
    lambda L: L.scatter(L.tensor(X), 1, L.tensor(IDX), L.ones(5, 5) * -1),
    lambda L: L.scatter(L.tensor(X), 1, L.tensor(IDX), L.ones(2, 2), reduce="add"),
    lambda L: L.scatter(L.tensor(X), 1, L.tensor(IDX), L.ones(2, 2) * 2, reduce="multiply"),
    lambda L: L.scatter(L.tensor(X), 1, L.tensor(IDX), 2.0, reduce="add"),
    lambda L: L.scatter(L.tensor(X), 1, L.tensor(IDX), 3.0, reduce="multiply"),
    lambda L: L.scatter(L.tensor(X), 1, L.zeros(0, 2, dtype=L.long), 1.0),
    lambda L: L.scatter_add(L.tensor(X).long(), 1, L.tensor([[0, 0, 0]]), L.ones(2, 3).long()),
    lambda L: L.index_select(L.tensor(X), 1, L.tensor(2)),
    lambda L: L.index_select(L.tensor(X), 1, L.tensor([1], dtype=L.int32)),
    lambda L: L.index_select(L.tensor(5.0), 0, L.tensor(0)),
    lambda L: L.index_add(L.tensor(5.0), 0, L.tensor(0), L.tensor(1.0)),
    lambda L: L.index_add(L.tensor(X).long(), 0, L.tensor([0, 0]), L.ones(2, 4).long()),
    lambda L: L.masked_fill(L.tensor(X).long(), L.tensor(X) > 5, 2.5),
    lambda L: L.masked_fill(L.tensor(X), L.ones(2, 3, 4, dtype=L.bool), -1.0),
    lambda L: L.masked_fill(L.tensor(X), L.tensor(X) > 5, L.tensor(2.0, dtype=L.float64)),
    lambda L: L.masked_fill(L.tensor(X), L.tensor(X) > 5, float("nan")),
    lambda L: L.masked_select(L.ones(3, 1), L.ones(1, 2, dtype=L.bool)),
    lambda L: L.take_along_dim(L.tensor(X)[:, :1], L.tensor([[0, 0, 0]]), 0),
    lambda L: L.take_along_dim(L.tensor(X), L.tensor([[0], [1], [2]]), axis=1),
    lambda L: L.triu(L.tensor(X).long()),
    lambda L: L.tril(L.tensor(X), diagonal=-5),
    lambda L: L.tril(L.ones(0, 3)),
], ids=["gather_long", "gather_int32_index", "gather_wider", "gather_0d", "gather_empty",
        "scatter_truncates", "scatter_int_value", "scatter_larger_src", "scatter_add_reduce",
        "scatter_multiply", "scatter_value_add", "scatter_value_multiply", "scatter_empty",
        "scatter_add_long", "index_select_0d_index", "index_select_int32", "index_select_0d",
        "index_add_0d", "index_add_long", "masked_fill_long", "masked_fill_broadcast",
        "masked_fill_double_value", "masked_fill_nan", "masked_select_broadcast",
        "take_along_dim_broadcast", "take_along_dim_axis", "triu_long", "tril_below", "tril_empty"])
def test_values_match_pytorch(fn):
    assert_same(*both(fn))


def test_scatter_with_a_larger_src_has_its_gradient():
    """src's entries outside index's shape get 0 (PyTorch's backward raises on a shape mismatch)."""
    x = cr.tensor(X, requires_grad=True)
    src = cr.tensor(np.arange(9, dtype=np.float32).reshape(3, 3), requires_grad=True)
    cr.scatter(x, 1, cr.tensor(IDX), src).backward(cr.tensor(X + 1))
    np.testing.assert_array_equal(src.grad.data, [[1, 2, 0], [7, 5, 0], [0, 0, 0]])
    np.testing.assert_array_equal(x.grad.data, np.where([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]],
                                                        0, X + 1))
    base = x.detach().double()
    assert cr.autograd.gradcheck(lambda s: cr.scatter_add(base, 1, cr.tensor(IDX), s),
                                 [cr.tensor(np.ones((3, 3)), requires_grad=True)])


def test_scatter_reduce_add_has_scatter_adds_gradient():
    """PyTorch has no derivative for scatter(reduce=); "add" is scatter_add, which has."""
    x = cr.tensor(X, requires_grad=True)
    src = cr.ones(2, 2, requires_grad=True)
    x.scatter(1, cr.tensor([[0, 0], [1, 1]]), src, reduce="add").backward(cr.tensor(X))
    np.testing.assert_array_equal(x.grad.data, X)
    np.testing.assert_array_equal(src.grad.data, [[0, 0], [5, 5]])


def test_scatter_multiply_has_no_derivative():
    y = cr.scatter(cr.tensor(X, requires_grad=True), 1, cr.tensor(IDX), 2.0, reduce="multiply")
    with pytest.raises(RuntimeError, match="scatter: the derivative of scatter with "
                                           "reduce='multiply' is not implemented"):
        y.sum().backward()


@pytest.mark.parametrize("name,args,value", [
    ("masked_fill_", lambda L: (L.tensor(X) > 5, -1.0), None),
    ("index_add_", lambda L: (0, L.tensor([0, 0]), L.ones(2, 4)), None),
    ("scatter_", lambda L: (1, L.tensor(IDX), L.ones(2, 2) * 7), None),
    ("scatter_add_", lambda L: (1, L.tensor(IDX), L.ones(2, 2)), None),
    ("tril_", lambda L: (1,), None),
    ("triu_", lambda L: (), None),
])
def test_in_place_forms_change_the_tensor(name, args, value):
    ours, theirs = cr.tensor(X), torch.tensor(X)
    out = getattr(ours, name)(*args(cr))
    getattr(theirs, name)(*args(torch))
    assert out is ours and ours._version == 1
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_masked_fill_in_place_in_a_graph():
    x = cr.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    for t, L in ((x, cr), (xt, torch)):
        y = t * 2
        y.masked_fill_(t > 5, 0.0)
        (y * t).sum().backward()
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())


def test_in_place_cannot_broadcast_the_tensor():
    with pytest.raises(RuntimeError, match=r"masked_fill_: output with shape \[3, 4\] doesn't "
                                           r"match the broadcast shape \[2, 3, 4\]"):
        cr.tensor(X).masked_fill_(cr.ones(2, 3, 4, dtype=cr.bool), 1.0)


@pytest.mark.parametrize("fn,error,message", [
    (lambda: cr.gather(cr.tensor(X), 1, cr.tensor([[5]])), RuntimeError,
     "gather: index 5 is out of bounds for dimension 1 with size 4"),
    (lambda: cr.gather(cr.tensor(X), 1, cr.tensor([[-1]])), RuntimeError,
     "gather: index -1 is out of bounds for dimension 1 with size 4"),
    (lambda: cr.gather(cr.tensor(X), 1, cr.tensor([0, 1])), RuntimeError,
     "gather: Index tensor must have the same number of dimensions as input tensor"),
    (lambda: cr.gather(cr.tensor(X), 1, cr.zeros(4, 2, dtype=cr.long)), RuntimeError,
     r"gather: Expected index \[4, 2\] to be no larger than self \[3, 4\] apart from dimension 1"),
    (lambda: cr.gather(cr.tensor(X), 1, cr.zeros(2, 2)), RuntimeError,
     "gather\\(\\): Expected dtype int32/int64 for index"),
    (lambda: cr.gather(cr.tensor(X), 2, cr.tensor(IDX)), IndexError,
     "gather: dim 2 is out of range"),
    (lambda: cr.scatter(cr.tensor(X), 1, cr.tensor(IDX), cr.ones(1, 1)), RuntimeError,
     r"scatter: Expected index \[2, 2\] to be no larger than self \[3, 4\] apart from "
     r"dimension 1 and to be no larger size than src \[1, 1\]"),
    (lambda: cr.scatter(cr.tensor(X), 1, cr.tensor(IDX), cr.ones(2, 2).double()), RuntimeError,
     "scatter\\(\\): Expected self.dtype to be equal to src.dtype"),
    (lambda: cr.scatter(cr.tensor(X), 1, cr.tensor(IDX), cr.ones(2, 2), reduce="mean"),
     RuntimeError, "scatter: reduce argument must be either add or multiply"),
    (lambda: cr.scatter(cr.tensor(X), 1, cr.tensor([[9]]), 1.0), RuntimeError,
     "scatter: index 9 is out of bounds for dimension 1 with size 4"),
    (lambda: cr.scatter_add(cr.tensor(X), 1, cr.tensor(IDX), 1.0), TypeError,
     "scatter_add\\(\\): argument 'src' must be Tensor, not float"),
    (lambda: cr.index_select(cr.tensor(X), 1, cr.tensor([[2]])), IndexError,
     "index_select\\(\\): Index is supposed to be a vector"),
    (lambda: cr.index_select(cr.tensor(X), 1, cr.tensor([4])), RuntimeError,
     "index_select: index 4 is out of bounds for dimension 1 with size 4"),
    (lambda: cr.index_select(cr.tensor(X), 1, cr.tensor([1.0])), RuntimeError,
     "index_select\\(\\): Expected dtype int32/int64 for index"),
    (lambda: cr.index_select(cr.tensor(5.0), 0, cr.tensor([0, 0])), RuntimeError,
     "index_select\\(\\): Index to scalar can have only 1 value, got 2 value\\(s\\)"),
    (lambda: cr.index_add(cr.tensor(X), 0, cr.tensor([0, 0]), cr.ones(2, 3)), RuntimeError,
     r"index_add: source tensor shape must match self tensor shape, excluding the specified "
     r"dimension. Got self.shape = \[3, 4\] source.shape = \[2, 3\]"),
    (lambda: cr.index_add(cr.tensor(X), 0, cr.tensor([0, 1]), cr.ones(1, 4)), RuntimeError,
     r"index_add_\(\): Number of indices \(2\) should be equal to source.size\(dim\): \(1\)"),
    (lambda: cr.index_add(cr.tensor(X), 0, cr.tensor([0]), cr.ones(1, 4).double()),
     RuntimeError, "index_add_\\(\\): self \\(float32\\) and source \\(float64\\) must have the "
     "same scalar type"),
    (lambda: cr.index_add(cr.tensor(X), 0, cr.tensor([5]), cr.ones(1, 4)), RuntimeError,
     "index_add_: index 5 is out of bounds for dimension 0 with size 3"),
    (lambda: cr.masked_fill(cr.tensor(X), cr.tensor(X) > 5.0 * 1, cr.tensor([1.0])), RuntimeError,
     "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 "
     "dimension\\(s\\)"),
    (lambda: cr.masked_fill(cr.tensor(X), (cr.tensor(X) > 5).float(), -1.0), RuntimeError,
     "masked_fill_ only supports boolean masks, but got mask with dtype float"),
    (lambda: cr.masked_select(cr.tensor(X), (cr.tensor(X) > 5).long()), RuntimeError,
     "masked_select: expected BoolTensor for mask"),
    (lambda: cr.take_along_dim(cr.tensor(X), cr.tensor([[[0]]]), 1), RuntimeError,
     "take_along_dim\\(\\): input and indices should have the same number of dimensions, but "
     "got 2 dimensions for input, and 3 dimensions for indices"),
    (lambda: cr.take_along_dim(cr.tensor(X), cr.tensor([[0]]).int(), 1), RuntimeError,
     "take_along_dim\\(\\): Expected dtype Long for index"),
    (lambda: cr.take_along_dim(cr.tensor(X), cr.tensor([[0], [1]]), 1), RuntimeError,
     r"take_along_dim: the shapes of input \(3, 4\) and indices \(2, 1\) do not broadcast"),
    (lambda: cr.triu(cr.ones(3)), RuntimeError,
     "triu: input tensor must have at least 2 dimensions"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_errors_name_the_op_as_pytorchs_do(fn, error, message):
    with pytest.raises(error, match=message):
        fn()


@pytest.mark.parametrize("fn", [
    lambda L, x: L.gather(x, 1, L.tensor(IDX)),
    lambda L, x: L.index_select(x, 0, L.tensor([2, 2, 0])),
    lambda L, x: L.masked_select(x, x > 4),
    lambda L, x: L.take_along_dim(x, L.tensor([[1, 0]]), axis=1),
], ids=["gather", "index_select", "masked_select", "take_along_dim"])
def test_axis_is_an_alias_of_dim_and_values_keep_float32(fn):
    x, xt = cr.tensor(X, dtype=cr.float32), torch.tensor(X, dtype=torch.float32)
    assert_same(fn(cr, x), fn(torch, xt))


@pytest.mark.parametrize("fn", [
    lambda x, i: x.gather(1, i),
    lambda x, i: x.scatter_add(1, i, x[:2, :2] * 1),
    lambda x, i: x.scatter(1, i, x[:2, :2] * 1),
    lambda x, i: x.take_along_dim(i[:1], 1),
], ids=["gather", "scatter_add", "scatter", "take_along_dim"])
def test_an_index_changed_in_place_is_caught(fn):
    x = cr.tensor(X, requires_grad=True)
    i = cr.tensor(IDX)
    y = fn(x, i)
    i.data[0, 0] = 1
    i._changed()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_index_add_keeps_the_index_it_was_given():
    """A later change of the index does not change index_add's gradient."""
    x = cr.tensor(X, requires_grad=True)
    src = cr.ones(2, 4, requires_grad=True)
    i = cr.tensor([0, 2])
    y = x.index_add(0, i, src)
    i.fill_(1)
    y.backward(cr.tensor(X))
    np.testing.assert_array_equal(src.grad.data, X[[0, 2]])
