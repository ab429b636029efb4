"""Products beyond the op table (``op_table.SELECTION`` has their values and gradients): strict
dtypes as PyTorch's, einsum's equations (implicit output, ellipsis, broadcasting, repeated
subscripts, sublists) and its errors, and the shape errors of bmm, addmm and baddbmm."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

F32, F64, I64 = "float32", "float64", "int64"


def ones(L, shape, dtype):
    return L.ones(*shape, dtype=getattr(L, dtype))


# (call, shapes, dtypes): each mixes dtypes, and PyTorch raises
MIXED = {
    "matmul_f32_f64": (lambda L, a, b: a @ b, [(2, 3), (3, 4)], [F32, F64]),
    "matmul_f64_f32": (lambda L, a, b: L.matmul(a, b), [(2, 3), (3, 4)], [F64, F32]),
    "matmul_float_long": (lambda L, a, b: a @ b, [(2, 3), (3, 4)], [F32, I64]),
    "matmul_long_float": (lambda L, a, b: a @ b, [(2, 3), (3, 4)], [I64, F32]),
    "matmul_batched": (lambda L, a, b: a @ b, [(1, 2, 3), (3, 4)], [F32, F64]),
    "matmul_vector_matrix": (lambda L, a, b: a @ b, [(3,), (3, 4)], [F32, F64]),
    "matmul_vectors": (lambda L, a, b: a @ b, [(3,), (3,)], [F32, F64]),
    "mm": (lambda L, a, b: L.mm(a, b), [(2, 3), (3, 4)], [F32, F64]),
    "mm_long": (lambda L, a, b: a.mm(b), [(2, 3), (3, 3)], [F32, I64]),
    "dot": (lambda L, a, b: L.dot(a, b), [(3,), (3,)], [F32, F64]),
    "dot_long": (lambda L, a, b: a.dot(b), [(3,), (3,)], [F32, I64]),
    "bmm": (lambda L, a, b: L.bmm(a, b), [(1, 2, 3), (1, 3, 4)], [F32, F64]),
    "bmm_long": (lambda L, a, b: a.bmm(b), [(2, 1, 3), (2, 3, 3)], [I64, F32]),
    "einsum": (lambda L, a, b: L.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)], [F32, F64]),
    "einsum_long": (lambda L, a, b: L.einsum("ij,jk", a, b), [(2, 3), (3, 4)], [F32, I64]),
    "einsum_vectors": (lambda L, a, b: L.einsum("i,i->", a, b), [(3,), (3,)], [F32, F64]),
    "addmm_mats": (lambda L, c, a, b: L.addmm(c, a, b), [(2, 4), (2, 3), (3, 4)], [F32, F32, F64]),
    "addmm_input": (lambda L, c, a, b: L.addmm(c, a, b), [(2, 4), (2, 3), (3, 4)], [F64, F32, F32]),
    "addmm_long": (lambda L, c, a, b: c.addmm(a, b), [(1, 2), (1, 3), (3, 2)], [I64, F32, F32]),
    "baddbmm_batches": (lambda L, c, a, b: L.baddbmm(c, a, b), [(1, 2, 4), (1, 2, 3), (1, 3, 4)],
                        [F32, F32, F64]),
    "baddbmm_input": (lambda L, c, a, b: L.baddbmm(c, a, b), [(1, 2, 4), (1, 2, 3), (1, 3, 4)],
                      [F64, F32, F32]),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_mixed_dtypes_raise_as_in_pytorch(name):
    fn, shapes, dtypes = MIXED[name]
    with pytest.raises(RuntimeError) as theirs:
        fn(torch, *[ones(torch, s, d) for s, d in zip(shapes, dtypes)])
    with pytest.raises(RuntimeError) as ours:
        fn(cr, *[ones(cr, s, d) for s, d in zip(shapes, dtypes)])
    message = str(ours.value)
    # PyTorch's words, with the op's name in front and the shapes after
    op = message.split(":")[0]
    assert op in {"matmul", "mm", "dot", "bmm", "einsum", "addmm", "baddbmm"}
    words = str(theirs.value).split("\n")[0].replace("dot : ", "")
    if op in ("matmul", "mm") and "addmv" in words:  # PyTorch's matrix @ vector names addmv
        words = "expected m1 and m2 to have the same dtype"
    assert words.split(",")[0] in message, (message, words)


def test_equal_dtypes_still_multiply():
    for dtype in (cr.float32, cr.float64, cr.int64):
        a, b = cr.ones(2, 3, dtype=dtype), cr.ones(3, 4, dtype=dtype)
        assert (a @ b).dtype == dtype and cr.einsum("ij,jk", a, b).dtype == dtype
    # equal dtypes that are different objects (a byte order spelled out) are equal still
    a = cr.from_numpy(np.ones((2, 3), dtype=np.dtype("<f4").newbyteorder("=")))
    assert (a @ cr.ones(3, 2)).dtype == cr.float32


@pytest.mark.parametrize("dtypes", [(F32, F64), (F32, I64), (I64, F64)])
def test_outer_promotes_as_pytorchs(dtypes):
    a, b = (ones(cr, (3,), d) * 2 for d in dtypes)
    at, bt = (ones(torch, (3,), d) * 2 for d in dtypes)
    y, yt = cr.outer(a, b), torch.outer(at, bt)
    assert str(y.dtype) == str(yt.dtype).replace("torch.", "")
    np.testing.assert_array_equal(y.data, yt.numpy())


EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]), ("ij->", [(2, 3)]), ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 5)]),
    ("ij,ij->ij", [(1, 3), (5, 3)]), ("bA", [(2, 3)]), ("i,j->ij", [(3,), (4,)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]), ("ijk,k->i", [(2, 3, 4), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("...i->...", [(2, 3, 4)]),
    ("i...->...", [(2, 3, 4)]), ("iji->j", [(2, 3, 2)]), ("ab,cd->abcd", [(2, 1), (1, 3)]),
    ("i j , j k -> k i", [(2, 3), (3, 4)]), ("...,...->...", [(2, 3), (3,)]),
]


@pytest.mark.parametrize("equation,shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_and_its_double_backward_match_pytorch(equation, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = cr.einsum(equation, *xs), torch.einsum(equation, *ts)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(y.shape)
    vs, vt = cr.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    g = cr.autograd.grad(y, xs, vs, create_graph=True)
    gt = torch.autograd.grad(yt, ts, vt, create_graph=True)
    for a, b in zip(g, gt):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-12)
    total = sum((a * a).sum() for a in g)
    total_t = sum((a * a).sum() for a in gt)
    h = cr.autograd.grad(total, xs + [vs], allow_unused=True)
    ht = torch.autograd.grad(total_t, ts + [vt], allow_unused=True)
    for a, b in zip(h, ht):
        want = np.zeros(()) if b is None else b.numpy()
        got = np.zeros(()) if a is None else a.data
        np.testing.assert_allclose(np.broadcast_to(got, np.shape(want) or np.shape(got)),
                                   np.broadcast_to(want, np.shape(want) or np.shape(got)),
                                   rtol=1e-12, atol=1e-12)


def test_einsum_takes_a_list_and_sublists():
    a, b = cr.randn(2, 3), cr.randn(3, 4)
    want = (a @ b).data
    np.testing.assert_allclose(cr.einsum("ij,jk->ik", [a, b]).data, want, rtol=1e-6)
    np.testing.assert_allclose(cr.einsum(a, [0, 1], b, [1, 2], [0, 2]).data, want, rtol=1e-6)
    np.testing.assert_allclose(cr.einsum(a, [0, 1], b, [1, 2]).data, want, rtol=1e-6)
    np.testing.assert_allclose(cr.einsum(a, [..., 1], [...]).data, a.data.sum(1), rtol=1e-6)


def test_einsum_saves_only_what_a_gradient_needs():
    """An operand no other operand's gradient needs may change in place after the product."""
    a, b = cr.randn(2, 3), cr.randn(3, 4, requires_grad=True)
    h = a * 1
    y = cr.einsum("ij,jk->ik", h, b)
    b.grad = None
    y.sum().backward()  # b's gradient needs h: fine as long as h is unchanged
    y = cr.einsum("ij,jk->ik", h, b)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    w = cr.randn(2, 3, requires_grad=True)
    k = cr.randn(3, 4) * 1
    y = cr.einsum("ij,jk->ik", w, k)
    k2 = cr.einsum("ij,jk->ik", w, cr.ones(3, 4))  # ones not needed by any gradient but w's
    k.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()  # w's gradient needs k
    k2.sum().backward()


@pytest.mark.parametrize("fn,message", [
    (lambda L: L.einsum("ij,jk->ik", L.ones(2, 3)),
     "einsum\\(\\): fewer operands were provided than specified in the equation"),
    (lambda L: L.einsum("ij->ij", L.ones(2, 3), L.ones(2)),
     "einsum\\(\\): more operands were provided than specified in the equation"),
    (lambda L: L.einsum("ij->ij", L.ones(3)),
     "einsum\\(\\): the number of subscripts in the equation \\(2\\) does not match the number "
     "of dimensions \\(1\\) for operand 0 and no ellipsis was given"),
    (lambda L: L.einsum("ij,jk", L.ones(2, 3), L.ones(2, 4)),
     "einsum\\(\\): subscript j has size 2 for operand 1 which does not broadcast with "
     "previously seen size 3"),
    (lambda L: L.einsum("i->j", L.ones(3)),
     "einsum\\(\\): output subscript j does not appear in the equation for any input operand"),
    (lambda L: L.einsum("i->ii", L.ones(3)),
     "einsum\\(\\): output subscript i appears more than once in the output"),
    (lambda L: L.einsum("i1->i", L.ones(3, 3)),
     "einsum\\(\\): invalid subscript given at index 1 in the equation string, subscripts must "
     "be in \\[a-zA-Z\\]"),
    (lambda L: L.einsum("ii->i", L.ones(3, 4)),
     "einsum\\(\\): subscript i is repeated for operand 0 but the sizes don't match, 4 != 3"),
    (lambda L: L.bmm(L.ones(2, 1, 3), L.ones(2, 4, 2)),
     "Expected size for first two dimensions of batch2 tensor to be: \\[2, 3\\] but got: "
     "\\[2, 4\\]"),
    (lambda L: L.bmm(L.ones(2, 3), L.ones(2, 3, 2)), "batch1 must be a 3D tensor"),
    (lambda L: L.addmm(L.ones(3), L.ones(2, 3), L.ones(3, 4)), "The expanded size of the tensor"),
    (lambda L: L.addmm(L.ones(1, 2), L.ones(3), L.ones(3, 2)), "mat1 must be a matrix"),
    (lambda L: L.addmm(L.ones(2, 4), L.ones(2, 3), L.ones(2, 4)),
     "mat1 and mat2 shapes cannot be multiplied \\(2x3 and 2x4\\)"),
    (lambda L: L.baddbmm(L.ones(4, 1, 2), L.ones(3, 1, 2), L.ones(3, 2, 2)),
     "The expanded size of the tensor"),
    (lambda L: L.outer(L.ones(2, 2), L.ones(3)), "outer: Expected 1-D argument self, but got 2-D"),
    (lambda L: L.dot(L.ones(3), L.ones(4)), "inconsistent tensor size, expected tensor \\[3\\] "
                                            "and src \\[4\\]"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_errors_match_pytorchs(fn, message):
    for L in (torch, cr):
        with pytest.raises(RuntimeError, match=message):
            fn(L)


@pytest.mark.parametrize("call", [
    lambda L, a, x: x.addmm_(a, a.T, beta=0.5, alpha=2.0),
    lambda L, a, x: x[None].expand(2, 3, 3).clone().baddbmm_(a.expand(2, 3, 4),
                                                            a.T.expand(2, 4, 3), alpha=0.5),
    lambda L, a, x: x.cumsum_(1), lambda L, a, x: x.cumprod_(dim=0),
])
def test_in_place_products_and_cumulative_ops_match_pytorch(call):
    rng = np.random.default_rng(7)
    a, x = rng.standard_normal((3, 4)), rng.standard_normal((3, 3))
    out = []
    for lib in (cr, torch):
        ta, tx = lib.tensor(a, requires_grad=True), lib.tensor(x, requires_grad=True)
        y = call(lib, ta, tx * 1)  # in place on a non-leaf: recorded
        y.backward(lib.tensor(np.linspace(-1.0, 1.0, y.numel()).reshape(tuple(y.shape))))
        out.append([np.zeros(1) if v is None else v.detach().numpy()  # (None: a is unused)
                    for v in (y, ta.grad, tx.grad)])
        leaf = lib.tensor(x)  # on a leaf that needs no grad: the memory changes
        assert call(lib, lib.tensor(a), leaf) is not None
        out[-1].append(leaf.numpy().copy())
    for ours, theirs in zip(*out):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
