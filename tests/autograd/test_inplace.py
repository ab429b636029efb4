"""In-place ops on tensors of a graph (y += 1, y.relu_(), y[mask] = 0, ReLU(inplace=True)): the
same values and gradients as PyTorch, and PyTorch's errors where it refuses."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from ._parity import (T, assert_raises_like_torch, assert_same, assert_version_error_like_torch,
                      time_limit, torch)
from .functions import make_function

X = [1.0, -2.0, 3.0]
P = [0.5, 1.5, 2.5]  # positive: every op below is defined on it

# -- values and gradients, as PyTorch ----------------------------------------------------------

def case_iadd(L):
    x = T(L, X, True)
    y = x * 2
    y += 1
    (y * y).sum().backward()
    return y, x.grad


def case_mul_x(L):
    x = T(L, X, True)
    y = x * 2
    y.mul_(x)
    (y * y).sum().backward()
    return y, x.grad


def case_relu_(L):
    x = T(L, X, True)
    y = x * 2
    y.relu_()
    (y * 3).sum().backward()
    return y, x.grad


def case_functional_relu_inplace_returns_the_tensor(L):
    x = T(L, X, True)
    y = x * 2
    z = L.nn.functional.relu(y, inplace=True)
    (z * z).sum().backward()
    return z is y, y, x.grad


def case_mask_assign(L):
    x = T(L, X, True)
    y = x * 2
    y[y < 0] = 0
    (y * y).sum().backward()
    return y, x.grad


def case_assign_tensor_that_requires_grad(L):
    x = T(L, X, True)
    z = T(L, 5.0, True)
    y = x * 2
    y[0] = z
    (y * y).sum().backward()
    return y, x.grad, z.grad


def case_assign_expression(L):
    x = T(L, X, True)
    z = T(L, [5.0, 6.0], True)
    y = x * 2
    y[1:] = z * z
    (y * y).sum().backward()
    return y, x.grad, z.grad


def case_fill_slots_of_zeros(L):
    w = T(L, X, True)
    out = L.zeros(3)
    out[1] = (w * 2).sum()
    out[2] = w[0] * w[1]
    out *= 3
    (out * out).sum().backward()
    return out, out.requires_grad, out.is_leaf, w.grad


def case_plain_tensor_add_requires_grad_operand(L):
    x = T(L, X, True)
    y = L.zeros(3)
    y.add_(x)
    (y * y).sum().backward()
    return y, y.is_leaf, y.requires_grad, x.grad


def case_plain_tensor_copy_(L):
    x = T(L, X, True)
    y = L.zeros(3)
    y.copy_(x * 2)
    (y * y).sum().backward()
    return y, x.grad


def case_chain(L):
    x = T(L, X, True)
    y = x * 2
    y.add_(1)
    y.mul_(x)
    y.sub_(0.5)
    y.div_(2)
    y.clamp_(-3, 10)
    y.exp_()
    y.sum().backward()
    return y, x.grad


def case_earlier_consumer_that_saved_nothing(L):
    x = T(L, X, True)
    y = x * 2
    z = y + 1  # made before the change; Add keeps no values
    s = y.sum()
    y.mul_(3)
    (z * 2 + y + s).sum().backward()
    return z, y, s, x.grad


def case_no_grad_change_of_a_non_leaf_nobody_saved(L):
    x = T(L, P, True)
    y = x * 2
    with L.no_grad():
        y.add_(1)
    (y * 3).sum().backward()
    return y, x.grad, y._version, y.requires_grad


def case_leaf_changed_under_no_grad(L):
    x = T(L, X, True)
    with L.no_grad():
        x.add_(1)
        x[0] = 7.0
        x.mul_(2)
    (x * x).sum().backward()
    return x, x.grad, x.is_leaf, x._version


def case_in_place_on_custom_function_output(L):
    Double = make_function(L, lambda ctx, a: a * 2, lambda ctx, grad_output: grad_output * 2)
    x = T(L, P, True)
    y = Double.apply(x)
    y.add_(1)
    y.mul_(x)
    y.sum().backward()
    return y, x.grad


def case_stays_a_leaf_without_grad(L):
    x = T(L, P)
    y = x * 2
    y.add_(1)
    y.relu_()
    return y, y.requires_grad, y.is_leaf


def case_in_place_then_requires_grad_(L):
    x = T(L, P)
    x.mul_(2)
    x.requires_grad_()
    (x * x).sum().backward()
    return x.grad


def case_retain_grad_then_in_place(L):
    x = T(L, X, True)
    y = x * 2
    y.retain_grad()
    y.add_(1)
    (y * y).sum().backward()
    return y.grad, x.grad


def case_in_place_then_retain_grad(L):
    x = T(L, X, True)
    y = x * 2
    y.add_(1)
    y.retain_grad()
    (y * y).sum().backward()
    return y.grad, x.grad


def case_create_graph_through_in_place(L):
    x = T(L, X, True, dtype=L.float64)
    y = x * x
    y.mul_(x)
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    g.sum().backward()
    return g, x.grad


def case_duplicate_index_assign(L):
    x = T(L, X, True)
    v = T(L, [7.0, 8.0], True)
    y = x * 2
    y[[0, 0]] = v
    (y * y).sum().backward()
    return y, x.grad, v.grad


def case_2d_column_assign(L):
    x = T(L, [[1.0, 2.0], [3.0, 4.0]], True)
    y = x * 1
    y[:, 0] = y[:, 1] * 2
    (y * y).sum().backward()
    return y, x.grad


@pytest.mark.parametrize("case", [
    case_iadd, case_mul_x, case_relu_, case_functional_relu_inplace_returns_the_tensor,
    case_mask_assign, case_assign_tensor_that_requires_grad, case_assign_expression,
    case_fill_slots_of_zeros, case_plain_tensor_add_requires_grad_operand,
    case_plain_tensor_copy_, case_chain, case_earlier_consumer_that_saved_nothing,
    case_no_grad_change_of_a_non_leaf_nobody_saved, case_leaf_changed_under_no_grad,
    case_in_place_on_custom_function_output, case_stays_a_leaf_without_grad,
    case_in_place_then_requires_grad_, case_retain_grad_then_in_place,
    case_in_place_then_retain_grad, case_create_graph_through_in_place,
    case_duplicate_index_assign, case_2d_column_assign,
])
def test_in_place_values_and_gradients_match_pytorch(case):
    assert_same(case)


def _one(op):
    def case(L):
        x = T(L, P, True)
        w = T(L, [2.0, 3.0, 4.0], True)
        y = x * 1.5
        op(L, y, w)
        (y * y).sum().backward()
        return y, x.grad, w.grad
    return case


ONE_OP = {
    "exp_": lambda L, y, w: y.exp_(), "sigmoid_": lambda L, y, w: y.sigmoid_(),
    "tanh_": lambda L, y, w: y.tanh_(), "sqrt_": lambda L, y, w: y.sqrt_(),
    "log_": lambda L, y, w: y.log_(), "pow_(2)": lambda L, y, w: y.pow_(2),
    "pow_(w)": lambda L, y, w: y.pow_(w), "abs_": lambda L, y, w: y.abs_(),
    "neg_": lambda L, y, w: y.neg_(), "sin_": lambda L, y, w: y.sin_(),
    "cos_": lambda L, y, w: y.cos_(), "clamp_(1, 2)": lambda L, y, w: y.clamp_(1, 2),
    "div_(w)": lambda L, y, w: y.div_(w), "sub_(w, alpha=2)": lambda L, y, w: y.sub_(w, alpha=2),
    "add_(w, alpha=0.5)": lambda L, y, w: y.add_(w, alpha=0.5),
    "-= w": lambda L, y, w: y.__isub__(w), "*= w": lambda L, y, w: y.__imul__(w),
    "/= w": lambda L, y, w: y.__itruediv__(w), "copy_(w)": lambda L, y, w: y.copy_(w),
    "copy_(w * w)": lambda L, y, w: y.copy_(w * w), "fill_(w[0])": lambda L, y, w: y.fill_(w[0]),
    "fill_(2.0)": lambda L, y, w: y.fill_(2.0), "zero_": lambda L, y, w: y.zero_(),
    "y[1:] = w[:2]": lambda L, y, w: y.__setitem__(slice(1, None), w[:2]),
    "y[y > 1] = w[y > 1]": lambda L, y, w: y.__setitem__(y > 1, w[y > 1]),
    "y[[2, 0]] = w[:2]": lambda L, y, w: y.__setitem__([2, 0], w[:2]),
    "y[1] = y[0]": lambda L, y, w: y.__setitem__(1, y[0]),
    "y[...] = 0": lambda L, y, w: y.__setitem__(Ellipsis, 0.0),
    "mul_(2)": lambda L, y, w: y.mul_(2), "add_(w.sum())": lambda L, y, w: y.add_(w.sum()),
    "add_(w[:1]) broadcast": lambda L, y, w: y.add_(w[:1]),
    "add_(int tensor)": lambda L, y, w: y.add_(T(L, [1, 2, 3])),
    "F.relu(inplace) after sub_": lambda L, y, w: (y.sub_(1.0),
                                                   L.nn.functional.relu(y, inplace=True)),
    "F.leaky_relu(inplace)": lambda L, y, w: (y.sub_(1.0),
                                              L.nn.functional.leaky_relu(y, 0.1, inplace=True)),
    "F.dropout(p=0, inplace)": lambda L, y, w: L.nn.functional.dropout(y, 0.0, True,
                                                                        inplace=True),
}


@pytest.mark.parametrize("name", list(ONE_OP))
def test_one_in_place_op_on_a_non_leaf_matches_pytorch(name):
    assert_same(_one(ONE_OP[name]), rtol=2e-5)


def test_relu_inplace_inside_sequential_matches_pytorch():
    def build(L):
        return L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(inplace=True), L.nn.Linear(4, 1))

    torch.manual_seed(0)
    tm, cm = build(torch), build(cr)
    for p, tp in zip(cm.parameters(), tm.parameters()):
        p.data[...] = tp.detach().numpy()
    models = {cr: cm, torch: tm}

    def case(L):
        m = models[L]
        x = T(L, [X, [0.5, 0.1, -1.0]], True)
        out = m(x)
        out.sum().backward()
        return out, x.grad, [p.grad for p in m.parameters()]

    assert_same(case)


# -- PyTorch's errors --------------------------------------------------------------------------

LEAF_OPS = {
    "add_": lambda x: x.add_(1), "+=": lambda x: x.__iadd__(1), "mul_": lambda x: x.mul_(2),
    "x[0] = v": lambda x: x.__setitem__(0, 1.0), "relu_": lambda x: x.relu_(),
    "zero_": lambda x: x.zero_(), "fill_": lambda x: x.fill_(1.0),
    "copy_": lambda x: x.copy_(x.detach() * 2), "clamp_": lambda x: x.clamp_(0, 1),
    "exp_": lambda x: x.exp_(),
}


@pytest.mark.parametrize("name", list(LEAF_OPS))
def test_in_place_on_a_leaf_that_requires_grad_raises_as_pytorch(name):
    def case(L):
        x = T(L, X, True)
        LEAF_OPS[name](x)

    assert_raises_like_torch(case, RuntimeError,
                             match="a leaf Variable that requires grad is being used in an "
                                   "in-place operation")


def test_in_place_on_a_leaf_leaves_its_value_unchanged_when_refused():
    x = cr.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError):
        x.add_(1)
    np.testing.assert_array_equal(x.data, X)
    assert x._version == 0 and x.is_leaf


def case_relu_then_relu_(L):
    x = T(L, X, True)
    r = (x * 2).relu()
    r.relu_()  # changes relu's saved output
    r.sum().backward()


def case_relu_output_used_by_sigmoid_then_changed(L):
    x = T(L, X, True)
    r = x.relu()
    s = r.sigmoid()
    r.add_(1)
    s.sum().backward()


def case_sigmoid_then_mul_(L):
    x = T(L, X, True)
    y = x.sigmoid()
    y.mul_(2)
    y.sum().backward()


def case_exp_then_iadd(L):
    x = T(L, X, True)
    y = x.exp()
    y += 1
    y.sum().backward()


def case_tanh_then_relu_(L):
    x = T(L, X, True)
    y = x.tanh()
    y.relu_()
    y.sum().backward()


def case_earlier_consumer_saved_the_value(L):
    x = T(L, X, True)
    y = x * 2
    z = y * y  # MulBackward saves y
    y.add_(1)
    (z + y * 3).sum().backward()


def case_relu_then_product_then_add_(L):
    x = T(L, X, True)
    y = x * 2
    y.relu_()
    z = y * y
    y.add_(1)
    z.sum().backward()


def case_chain_through_relu_(L):
    x = T(L, X, True)
    y = x * 2
    y.add_(1)
    y.relu_()
    y.pow_(2)  # changes relu_'s saved output
    y.sum().backward()


def test_sub_with_itself_as_operand_matches_pytorch():
    def case(L):
        x = T(L, P, True)
        y = x * 1.5
        y.sub_(y)
        y.add_(x)
        (y * y).sum().backward()
        return y, x.grad

    with time_limit(5):
        assert_same(case)


@pytest.mark.parametrize("case, op", [
    pytest.param(case_relu_then_relu_, "ReLU", id="relu-then-relu_"),
    pytest.param(case_relu_output_used_by_sigmoid_then_changed, "ReLU",
                 id="relu-output-used-then-changed"),
    pytest.param(case_sigmoid_then_mul_, "Sigmoid", id="sigmoid-then-mul_"),
    pytest.param(case_exp_then_iadd, "Exp", id="exp-then-+="),
    pytest.param(case_tanh_then_relu_, "Tanh", id="tanh-then-relu_"),
    pytest.param(case_earlier_consumer_saved_the_value, "Mul", id="earlier-consumer-saved-y"),
    pytest.param(case_relu_then_product_then_add_, "Mul", id="relu_-then-y*y-then-add_"),
    pytest.param(case_chain_through_relu_, "ReLU", id="relu_-then-pow_"),
])
def test_changing_a_saved_value_in_place_raises_as_pytorch(case, op):
    assert_version_error_like_torch(case, op=op)


# PyTorch raises its version error at backward for y.mul_(y) and y.div_(y) (MulBackward saved y,
# which the op itself then changed). chainrule computes the op from y's old value on both sides,
# as y * y and y / y would, so its gradient is the true derivative: a difference kept on purpose
# (README, "differences from PyTorch"), since the result is correct rather than refused.
@pytest.mark.parametrize("op, value, grad", [
    # y = 3x: y.mul_(y) is 9x², gradient 18x; y.div_(y) is 1, gradient 0
    ("mul_", [2.25, 20.25, 56.25], [9.0, 27.0, 45.0]),
    ("div_", [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]),
])
def test_op_with_itself_as_operand_uses_the_old_value_on_both_sides(op, value, grad):
    def case(L):
        x = T(L, P, True)
        y = x * 3
        getattr(y, op)(y)
        y.sum().backward()
        return y, x.grad

    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        case(torch)  # PyTorch refuses
    with time_limit(5):
        y, grad_x = case(cr)
    np.testing.assert_allclose(y.data, value, rtol=1e-6)
    np.testing.assert_allclose(grad_x.data, grad, rtol=1e-6, atol=1e-6)
    assert y.grad_fn is not None and y._version == 1

    def out_of_place(L):  # the same function without the in-place op: PyTorch agrees
        x = T(L, P, True)
        y = x * 3
        getattr(y, op.rstrip("_"))(y).sum().backward()
        return x.grad

    np.testing.assert_allclose(out_of_place(torch).numpy(), grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", [lambda y: y.add_(y), lambda y: y.__iadd__(y)],
                         ids=["y.add_(y)", "y += y"])
def test_op_with_itself_as_operand_matches_pytorch(op):
    def case(L):
        x = T(L, P, True)
        y = x * 1.5
        op(y)
        (y * y).sum().backward()
        return y, x.grad

    with time_limit(5):
        assert_same(case)


def test_in_place_on_a_quotient_gives_pytorchs_divisor_gradient():
    def case(L):
        x = T(L, X, True)
        w = T(L, [2.0, 3.0, 4.0], True)
        y = x / w
        y += 1
        y.sum().backward()
        return y, x.grad, w.grad

    assert_same(case)


# -- views of tensors of the graph -------------------------------------------------------------

def case_slice_mul_(L):
    x = T(L, X, True)
    y = x * 2
    y[0:2].mul_(3)
    y.sum().backward()
    return y, x.grad


def case_view_add_(L):
    x = T(L, X, True)
    y = x * 2
    y.view(3).add_(1)
    (y * y).sum().backward()
    return y, x.grad


def case_transpose_mul_(L):
    x = T(L, [[1.0, 2.0], [3.0, 4.0]], True)
    y = x * 2
    y.T.mul_(2)
    (y * y).sum().backward()
    return y, x.grad


def case_row_iadd(L):
    x = T(L, [[1.0, 2.0], [3.0, 4.0]], True)
    y = x * 1
    y[1] += 1  # y[1] is a view: __iadd__ on it, then y[1] = it
    (y * y).sum().backward()
    return y, x.grad


@pytest.mark.parametrize("case", [case_slice_mul_, case_view_add_, case_transpose_mul_,
                                  case_row_iadd],
                         ids=["y[0:2].mul_", "y.view(3).add_", "y.T.mul_", "y[1] += 1"])
def test_in_place_through_a_view_matches_pytorch(case):
    assert_same(case)


# PyTorch lets an in-place op on a view of a tensor that needs no gradient join that tensor to the
# graph: after out[0:2].add_(x), `out` itself requires grad and backpropagates into x. chainrule
# refuses, on purpose (README, "differences from PyTorch"): it does not track views outside
# graphs, so `out` would be left out; the error says so and asks for a clone() first (or a write
# through the base, out[0:2] = x, which works as in PyTorch: the test after this one).
@pytest.mark.parametrize("change", [lambda v, x: v.add_(x), lambda v, x: v.mul_(x),
                                    lambda v, x: v.copy_(x), lambda v, x: v.__iadd__(x)],
                         ids=["add_", "mul_", "copy_", "+="])
def test_in_place_joining_a_view_of_a_tensor_without_grad_to_the_graph_raises(change):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = cr.zeros(3)
    view = out[0:2]
    with pytest.raises(RuntimeError, match="shares its memory with another array") as e:
        change(view, x)
    assert "clone() it first" in str(e.value)
    # refused before anything changed: nothing is silently wrong
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 0.0])
    assert out._version == 0 and not out.requires_grad and not view.requires_grad

    def torch_case():
        tx = torch.tensor([1.0, 2.0], requires_grad=True)
        tout = torch.zeros(3)
        change(tout[0:2], tx)
        return tout

    assert torch_case().requires_grad  # PyTorch makes `out` part of the graph


def test_setitem_of_a_graph_value_into_a_tensor_without_grad_matches_pytorch():
    # assigning on the base itself (not through a view) works in both
    def case(L):
        x = T(L, [1.0, 2.0], True)
        out = L.zeros(3)
        out[0:2] = x * 2
        (out * out).sum().backward()
        return out, out.requires_grad, out.is_leaf, x.grad

    got = assert_same(case)
    np.testing.assert_allclose(got[3].data, [8.0, 16.0])  # d/dx (2x)² = 8x


@pytest.mark.parametrize("change", [lambda L, x, y: y.mul_(3), lambda L, x, y: y.add_(x),
                                    lambda L, x, y: y.exp_()],
                         ids=["mul_(3)", "add_(x)", "exp_"])
def test_a_view_taken_before_an_in_place_change_of_its_base_matches_pytorch(change):
    def case(L):
        x = T(L, X, True)
        y = x * 2
        v = y[0:2]
        change(L, x, y)
        (v * v).sum().backward()
        return v, x.grad

    assert_same(case)
