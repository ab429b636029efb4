"""Cumulative, sorting and logical ops beyond the op table (``op_table.SELECTION`` has their
gradients): the indices they return against PyTorch's (ties, NaN), unique and the logical
reductions, cumprod's gradient where the input has zeros, and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from .test_index_ops import assert_same

torch = pytest.importorskip("torch")

NAN = float("nan")
V = np.array([3.0, 1.0, 2.0, 1.0, NAN, 3.0, 0.0], dtype=np.float32)
M = np.array([[2.0, 1.0, 2.0, 1.0], [5.0, 5.0, 4.0, 4.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)


CASES = {
    "sort": lambda L, v, m: L.sort(v),
    "sort_descending": lambda L, v, m: L.sort(v, descending=True),
    "sort_stable_descending": lambda L, v, m: v.sort(stable=True, descending=True),
    "sort_ties_rows": lambda L, v, m: L.sort(m, dim=1),
    "sort_ties_rows_descending": lambda L, v, m: L.sort(m, dim=1, descending=True),
    "sort_dim0": lambda L, v, m: L.sort(m, 0),
    "sort_0d": lambda L, v, m: L.sort(L.tensor(3.0)),
    "sort_bool": lambda L, v, m: L.sort(L.tensor([True, False])),
    "sort_long_positional": lambda L, v, m: L.sort(L.tensor([2, 1, 3]), 0, True),
    "sort_axis": lambda L, v, m: L.sort(m, axis=0),
    "argsort": lambda L, v, m: L.argsort(v),
    "argsort_descending": lambda L, v, m: v.argsort(descending=True),
    "argsort_stable_dim0": lambda L, v, m: L.argsort(m, dim=0, stable=True),
    "topk_nan_first": lambda L, v, m: L.topk(v, 3),
    "topk_rows": lambda L, v, m: L.topk(m[:, :3] * L.tensor([1.0, 2.0, 3.0]), 2),
    "topk_unsorted": lambda L, v, m: L.topk(L.tensor([1.0, 5, 2, 8, 3, 9, 0]), 3, sorted=False),
    "topk_none": lambda L, v, m: L.topk(v, 0),
    "topk_0d": lambda L, v, m: L.topk(L.tensor(3.0), 1),
    "topk_smallest": lambda L, v, m: L.tensor([1.0, 5, 2, 8, 3, 9, 0]).topk(3, largest=False),
    "kthvalue": lambda L, v, m: L.kthvalue(v, 2),
    "kthvalue_nan": lambda L, v, m: L.kthvalue(v, 7),
    "kthvalue_rows": lambda L, v, m: L.kthvalue(m[:2], 2),
    "kthvalue_0d_keepdim": lambda L, v, m: L.kthvalue(L.tensor(3.0), 1, 0, True),
    "kthvalue_keepdims_alias": lambda L, v, m: L.kthvalue(m[:2], 1, axis=1, keepdims=True),
    "median_nan": lambda L, v, m: L.median(v),
    "median_lower": lambda L, v, m: L.median(v[:4]),
    "median_all": lambda L, v, m: m.median(),
    "median_long": lambda L, v, m: L.median(L.tensor([1, 3, 2])),
    "median_dim_ties": lambda L, v, m: L.median(m, 1),
    "median_keepdim": lambda L, v, m: L.median(m, 0, keepdim=True),
    "median_dim_nan": lambda L, v, m: L.median(v, 0),
    "median_first_nan": lambda L, v, m: L.median(L.tensor([[1.0, NAN, 2.0, NAN, 0.0]]), 1),
    "median_even_ties": lambda L, v, m: L.median(L.tensor([2.0, 1, 1, 2]), 0),
    "median_0d": lambda L, v, m: L.median(L.tensor(3.0), 0),
    "median_empty_rows": lambda L, v, m: L.median(L.zeros(2, 0), 0),
    "median_axis": lambda L, v, m: L.median(m, axis=1, keepdims=True),
    "mode": lambda L, v, m: L.mode(m),
    "mode_dim0": lambda L, v, m: m.mode(0),
    "mode_last_index": lambda L, v, m: L.mode(L.tensor([1.0, 2, 2, 1, 3])),
    "mode_smallest": lambda L, v, m: L.mode(L.tensor([3.0, 1, 2, 2, 1, 3])),
    "mode_counts": lambda L, v, m: L.mode(L.tensor([5.0, 4, 4, 5, 6, 4])),
    "mode_0d": lambda L, v, m: L.mode(L.tensor(3.0)),
    "mode_keepdim": lambda L, v, m: L.mode(m, axis=0, keepdims=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_indices_match_pytorch(name):
    fn = CASES[name]
    ours = fn(cr, cr.tensor(V), cr.tensor(M))
    theirs = fn(torch, torch.tensor(V), torch.tensor(M))
    if isinstance(theirs, tuple):  # a named tuple of PyTorch's name
        assert type(ours).__name__ == type(theirs).__name__
    assert_same(ours, theirs)
    if isinstance(theirs, tuple):  # a named tuple: values, indices
        assert_same((ours.values, ours.indices), (theirs.values, theirs.indices))


@pytest.mark.parametrize("fn", [
    lambda L, x: L.median(x),
    lambda L, x: L.median(x * L.tensor([1.0, 1.0, NAN, 1.0, NAN, 1.0])),
    lambda L, x: L.sort(x, descending=True).values[:3],
    lambda L, x: L.kthvalue(x, 3).values,
    lambda L, x: L.mode(x).values,
], ids=["median_ties", "median_nan", "sort", "kthvalue", "mode"])
def test_gradients_with_ties_match_pytorch(fn):
    """Ties: median() shares its gradient evenly among the elements equal to it (among the NaNs,
    if it is NaN), as PyTorch; a selection sends it to the index it returned."""
    a = np.array([1.0, 3.0, 3.0, 0.0, 3.0, 2.0])
    x, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    fn(cr, x).sum().backward()
    fn(torch, xt).sum().backward()
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())


def test_median_of_nothing_is_nan():
    assert np.isnan(cr.median(cr.tensor([])).item())
    assert cr.median(cr.tensor([])).dtype == torch.median(torch.tensor([])).numpy().dtype


UNIQUE = {
    "floats_nan": lambda L: L.unique(L.tensor(V)),
    "long": lambda L: L.unique(L.tensor([3, 1, 2, 1, 3])),
    "unsorted": lambda L: L.unique(L.tensor([3, 1, 2, 1, 3]), sorted=False),
    "inverse": lambda L: L.unique(L.tensor([3, 1, 2, 1, 3]), return_inverse=True),
    "counts": lambda L: L.unique(L.tensor([3, 1, 2, 1, 3]), return_counts=True),
    "both": lambda L: L.unique(L.tensor([3, 1, 2, 1, 3]), return_inverse=True, return_counts=True),
    "inverse_shape": lambda L: L.tensor(M).unique(return_inverse=True),
    "dim1": lambda L: L.unique(L.tensor(M), dim=1),
    "dim0_all": lambda L: L.unique(L.tensor(M), dim=0, return_inverse=True, return_counts=True),
    "nans_distinct": lambda L: L.unique(L.tensor([NAN, NAN, 1.0])),
}


@pytest.mark.parametrize("name", list(UNIQUE))
def test_unique_matches_pytorch(name):
    assert_same(UNIQUE[name](cr), UNIQUE[name](torch))


def test_unique_has_no_derivative():
    y = cr.unique(cr.tensor([1.0, 2.0, 1.0], requires_grad=True))
    with pytest.raises(RuntimeError, match="unique: the derivative of unique is not implemented"):
        y.sum().backward()


BINCOUNT = {  # class counts for WeightedRandomSampler: 1.0 / torch.bincount(targets).float()
    "counts": lambda L: L.bincount(L.tensor([0, 1, 1, 3])),
    "method": lambda L: L.tensor([0, 1, 1, 3]).bincount(),
    "minlength": lambda L: L.bincount(L.tensor([0, 1, 1, 3]), minlength=6),
    "minlength_short": lambda L: L.bincount(L.tensor([0, 1, 1, 3]), minlength=2),
    "empty": lambda L: L.bincount(L.tensor([], dtype=L.int64)),
    "int32": lambda L: L.bincount(L.tensor([2, 2], dtype=L.int32)),
    "uint8": lambda L: L.bincount(L.tensor([1, 2], dtype=L.uint8)),
    "weights_float32": lambda L: L.bincount(L.tensor([0, 1, 1, 3]),
                                            weights=L.tensor([0.5, 1.0, 2.0, 4.0])),
    "weights_float64": lambda L: L.tensor([2, 0, 2]).bincount(
        L.tensor([0.5, 1.0, 2.0], dtype=L.float64), minlength=4),
    "weights_int": lambda L: L.bincount(L.tensor([1, 1]), weights=L.tensor([2, 3])),
}


@pytest.mark.parametrize("name", list(BINCOUNT))
def test_bincount_matches_pytorch(name):
    assert_same(BINCOUNT[name](cr), BINCOUNT[name](torch))


@pytest.mark.parametrize("call", [
    lambda L: L.bincount(L.tensor([-1, 2])),
    lambda L: L.bincount(L.tensor([[1]])),
    lambda L: L.bincount(L.tensor([1, 2]), weights=L.ones(3)),
    lambda L: L.bincount(L.tensor([1]), weights=L.ones(1, requires_grad=True)).sum().backward(),
])
def test_bincount_errors_as_pytorch(call):
    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(RuntimeError):
        call(cr)


LOGICAL = {
    "all": lambda L, m: L.all(m),
    "all_dim": lambda L, m: L.all(m, 1),
    "all_dims": lambda L, m: L.all(m, dim=(0, 1)),
    "all_no_dims": lambda L, m: L.all(m, dim=()),
    "any_keepdim": lambda L, m: L.any(m > 4, 0, keepdim=True),
    "all_uint8": lambda L, m: L.all(L.tensor([1, 2], dtype=L.uint8)),
    "all_uint8_dim": lambda L, m: L.all(L.tensor([1, 0], dtype=L.uint8), 0),
    "all_empty": lambda L, m: L.all(L.tensor([])),
    "any_empty": lambda L, m: L.any(L.tensor([])),
    "method_all": lambda L, m: (m - 1).all(),
    "method_any": lambda L, m: (m - 1).any(dim=1),
    "all_nan": lambda L, m: L.all(L.tensor([NAN])),
    "all_axis": lambda L, m: L.all(m - 1, axis=1, keepdims=True),
    "count_nonzero": lambda L, m: L.count_nonzero(m - 1),
    "count_nonzero_dim": lambda L, m: L.count_nonzero(m - 1, 1),
    "count_nonzero_dims": lambda L, m: L.count_nonzero(m - 1, dim=(0, 1)),
    "count_nonzero_no_dims": lambda L, m: L.count_nonzero(m - 1, dim=()),
    "count_nonzero_nan": lambda L, m: L.count_nonzero(L.tensor([NAN, 0.0])),
    "count_nonzero_method": lambda L, m: (m - 1).count_nonzero(axis=0),
    "logical_and": lambda L, m: L.logical_and(m - 1, m > 3),
    "logical_or_broadcast": lambda L, m: L.logical_or(m[:1] - 1, (m > 4).long()),
    "logical_xor": lambda L, m: (m - 1).logical_xor(m - 2),
    "logical_not": lambda L, m: L.logical_not(m - 1),
    "logical_not_nan": lambda L, m: L.tensor([NAN, 0.0]).logical_not(),
    "logical_not_": lambda L, m: (m - 1).logical_not_(),  # keeps the dtype: 0. and 1.
    "logical_and_": lambda L, m: (m - 1).long().logical_and_(m > 3),
}


@pytest.mark.parametrize("name", list(LOGICAL))
def test_logical_reductions_match_pytorch(name):
    assert_same(LOGICAL[name](cr, cr.tensor(M)), LOGICAL[name](torch, torch.tensor(M)))


CUMULATIVE = {
    "cumsum_int32": lambda L: L.cumsum(L.tensor([1, 2, 3], dtype=L.int32), 0),
    "cumsum_bool": lambda L: L.cumsum(L.tensor([True, True]), 0),
    "cumsum_uint8": lambda L: L.tensor([1, 2], dtype=L.uint8).cumsum(0),
    "cumsum_dtype": lambda L: L.cumsum(L.tensor(M), 1, dtype=L.float64),
    "cumsum_0d": lambda L: L.cumsum(L.tensor(3.0), 0),
    "cumsum_axis": lambda L: L.cumsum(L.tensor(M), axis=1),
    "cumprod_int32": lambda L: L.cumprod(L.tensor([1, 2, 3], dtype=L.int32), 0),
    "cumprod_dtype": lambda L: L.tensor(M).cumprod(dim=-1, dtype=L.float64),
}


@pytest.mark.parametrize("name", list(CUMULATIVE))
def test_cumulative_dtypes_match_pytorch(name):
    assert_same(CUMULATIVE[name](cr), CUMULATIVE[name](torch))


ZEROS = np.array([[0.0, 2.0, 0.0, 3.0], [1.5, -2.0, 0.5, 0.0], [0.7, 1.1, -0.3, 2.0],
                  [0.0, 0.0, 1.2, -0.8]])


@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_gradients_where_the_input_has_zeros(dim):
    """Exact where x has zeros: the first derivative (O(n) on arrays) and the second (the
    recorded backward, a polynomial in x), against PyTorch's and finite differences."""
    rng = np.random.default_rng(dim)
    v, u = rng.standard_normal(ZEROS.shape), rng.standard_normal(ZEROS.shape)
    x, xt = cr.tensor(ZEROS, requires_grad=True), torch.tensor(ZEROS, requires_grad=True)
    x.cumprod(dim).backward(cr.tensor(v))
    (gt,) = torch.autograd.grad(xt.cumprod(dim), xt, torch.tensor(v), create_graph=True)
    np.testing.assert_allclose(x.grad.data, gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    (g,) = cr.autograd.grad(x.cumprod(dim), x, cr.tensor(v), create_graph=True)
    np.testing.assert_allclose(g.data, gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    (h,) = cr.autograd.grad((g * cr.tensor(u)).sum(), x)
    (ht,) = torch.autograd.grad((gt * torch.tensor(u)).sum(), xt)
    np.testing.assert_allclose(h.data, ht.numpy(), rtol=1e-12, atol=1e-12)
    leaf = [cr.tensor(ZEROS, requires_grad=True)]
    assert cr.autograd.gradcheck(lambda t: t.cumprod(dim), leaf)
    assert cr.autograd.gradgradcheck(lambda t: t.cumprod(dim), leaf)


@pytest.mark.parametrize("fn,error,message", [
    (lambda: cr.topk(cr.tensor(V), 8), RuntimeError, "topk: selected index k out of range"),
    (lambda: cr.kthvalue(cr.tensor(V), 8), RuntimeError,
     "kthvalue\\(\\): selected number k out of range for dimension 0"),
    (lambda: cr.kthvalue(cr.tensor(V), 0), RuntimeError,
     "kthvalue\\(\\): selected number k out of range for dimension 0"),
    (lambda: cr.median(cr.zeros(0, 3), 0), IndexError,
     "median\\(\\): Expected reduction dim 0 to have non-zero size"),
    (lambda: cr.mode(cr.zeros(2, 0), 1), IndexError,
     "mode\\(\\): Expected reduction dim 1 to have non-zero size"),
    (lambda: cr.sort(cr.ones(2, 3), dim=2), IndexError, "sort: dim 2 is out of range"),
    (lambda: cr.count_nonzero(cr.tensor(M), dim=(1, 1)), RuntimeError,
     "count_nonzero: dim 1 appears multiple times in the list of dims"),
    (lambda: cr.count_nonzero(cr.tensor(M), 3), IndexError, "count_nonzero: dim 3 is out of range"),
    (lambda: cr.cumsum(cr.tensor(M)), TypeError, "cumsum\\(\\) missing 1 required positional "
                                                 "argument: \"dim\""),
    (lambda: cr.logical_and(cr.tensor(M), 1), TypeError,
     "logical_and\\(\\): argument 'other' \\(position 2\\) must be Tensor, not int"),
    (lambda: cr.logical_or(cr.tensor(M), cr.ones(3)), RuntimeError,
     "logical_or: the shapes \\(3, 4\\) and \\(3,\\) do not broadcast"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_errors_name_the_op_as_pytorchs_do(fn, error, message):
    with pytest.raises(error, match=message):
        fn()
