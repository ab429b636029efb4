"""backward(inputs=[...]) and autograd.grad: which .grad they write, which nodes they run and
free, as PyTorch's."""

from __future__ import annotations

import pytest

from ._parity import T, assert_raises_like_torch, assert_same

X = [1.0, -2.0, 3.0]
W = [4.0, 5.0, 6.0]
FREED = "backward through the graph a second time"


def case_inputs_leaf(L):
    x, w = T(L, X, True), T(L, W, True)
    (x * w).sum().backward(inputs=[x])
    return x.grad, w.grad


def case_inputs_single_tensor(L):
    x, w = T(L, X, True), T(L, W, True)
    (x * w).sum().backward(inputs=x)
    return x.grad, w.grad


def case_inputs_non_leaf(L):
    x, w = T(L, X, True), T(L, W, True)
    y = x * w
    (y * y).sum().backward(inputs=[y])
    return x.grad, w.grad, y.grad


def case_inputs_non_leaf_and_leaf(L):
    x, w = T(L, X, True), T(L, W, True)
    y = x * w
    (y * y).sum().backward(inputs=[y, x])
    return x.grad, w.grad, y.grad


def case_inputs_accumulate(L):
    x, w = T(L, X, True), T(L, W, True)
    x.grad = T(L, [1.0, 1.0, 1.0])
    (x * w).sum().backward(inputs=[x])
    (x * w).sum().backward(inputs=[x])
    return x.grad, w.grad


def case_inputs_unused(L):
    x, w, u = T(L, X, True), T(L, W, True), T(L, X, True)
    (x * w).sum().backward(inputs=[u])
    return x.grad, w.grad, u.grad


def case_two_partial_backwards(L):
    x, w = T(L, X, True), T(L, W, True)
    z = ((x * w) ** 2).sum()
    z.backward(inputs=[x], retain_graph=True)
    z.backward(inputs=[w])
    return x.grad, w.grad


def case_inputs_create_graph(L):
    x, w = T(L, X, True, dtype=L.float64), T(L, W, True, dtype=L.float64)
    ((x * w) ** 2).sum().backward(inputs=[x], create_graph=True)
    gx = x.grad
    (g2,) = L.autograd.grad(gx.sum(), w)
    return gx, g2, w.grad


def case_grad_leaves_grad_alone(L):
    x, w = T(L, X, True), T(L, W, True)
    (gx,) = L.autograd.grad((x * w).sum(), [x])
    return gx, x.grad, w.grad


def case_grad_then_backward_through_a_branch_it_did_not_run(L):
    x, w = T(L, X, True), T(L, W, True)
    l1 = (x * x).sum()
    l2 = (w.exp() * w).sum()
    (gx,) = L.autograd.grad(l1 + l2, [x])  # runs the add and l1's nodes only
    l2.backward()
    return gx, x.grad, w.grad


def case_grad_wrt_w_then_backward_through_x_branch(L):
    x, w = T(L, X, True), T(L, W, True)
    l1 = (x * x).sum()
    l2 = (x.exp() * w).sum()
    (gw,) = L.autograd.grad(l1 + l2, [w])
    l1.backward()
    return gw, x.grad, w.grad


def case_grad_wrt_w_does_not_run_exp(L):
    x, w = T(L, X, True), T(L, W, True)
    e = x.exp()
    (gw,) = L.autograd.grad((e * w).sum(), [w])
    e.sum().backward()
    return gw, x.grad, w.grad


def case_grad_wrt_a_non_leaf_runs_only_what_is_above_it(L):
    x = T(L, X, True)
    a = x.exp()
    b = a * x
    loss = b.sum()
    (gb,) = L.autograd.grad(loss, [b])
    loss.backward()  # the sum node ran (it saved nothing), the rest did not
    return gb, x.grad


def case_grad_wrt_a_leaves_a_s_own_node(L):
    x = T(L, X, True)
    a = x.exp()
    b = a * x
    (ga,) = L.autograd.grad(b.sum(), [a])
    (gx,) = L.autograd.grad(a.sum(), [x])
    return ga, gx


def case_grad_retain_graph_then_backward(L):
    x, w = T(L, X, True), T(L, W, True)
    y = (x.exp() * w.exp()).sum()
    (gx,) = L.autograd.grad(y, [x], retain_graph=True)
    y.backward()
    return gx, x.grad, w.grad


def case_grad_outputs(L):
    x = T(L, X, True)
    (gx,) = L.autograd.grad(x * 2, x, grad_outputs=T(L, [1.0, 2.0, 3.0]))
    return gx


def case_allow_unused(L):
    x, u = T(L, X, True), T(L, X, True)
    return L.autograd.grad((x * 2).sum(), [x, u], allow_unused=True)


def case_materialize_grads(L):
    x, u = T(L, X, True), T(L, X, True)
    return L.autograd.grad((x * 2).sum(), [x, u], materialize_grads=True)


def case_grad_wrt_leaf_and_intermediate(L):
    x = T(L, X, True)
    y = x * x
    return L.autograd.grad((y * 3).sum(), [x, y])


def case_grad_results_are_fresh_arrays(L):
    x = T(L, X, True)
    (g1,) = L.autograd.grad((x * 3).sum(), x)
    g1.add_(1)
    (g2,) = L.autograd.grad((x * 3).sum(), x)
    return g1, g2


def case_grad_through_in_place(L):
    x = T(L, X, True)
    y = x * 2
    z = y * 3
    y.add_(1)
    return L.autograd.grad((z + y * y).sum(), [x])


def case_grad_wrt_non_leaf_changed_in_place(L):
    x = T(L, X, True)
    y = x * 2
    y.add_(1)
    return L.autograd.grad((y * y).sum(), y)


def case_grads_of_sum_and_mean_are_writable(L):
    x = T(L, X, True)
    x.sum().backward()
    x.grad.add_(1)
    first = x.grad.clone()
    x.grad = None
    x.mean().backward()
    x.grad += 1
    return first, x.grad


def case_two_leaves_do_not_share_a_gradient(L):
    a, b = T(L, X, True), T(L, X, True)
    (a + b).sum().backward()
    a.grad.mul_(0)
    return a.grad, b.grad


@pytest.mark.parametrize("case", [
    case_inputs_leaf, case_inputs_single_tensor, case_inputs_non_leaf,
    case_inputs_non_leaf_and_leaf, case_inputs_accumulate, case_inputs_unused,
    case_two_partial_backwards, case_inputs_create_graph, case_grad_leaves_grad_alone,
    case_grad_then_backward_through_a_branch_it_did_not_run,
    case_grad_wrt_w_then_backward_through_x_branch, case_grad_wrt_w_does_not_run_exp,
    case_grad_wrt_a_non_leaf_runs_only_what_is_above_it, case_grad_wrt_a_leaves_a_s_own_node,
    case_grad_retain_graph_then_backward, case_grad_outputs, case_allow_unused,
    case_materialize_grads, case_grad_wrt_leaf_and_intermediate,
    case_grad_results_are_fresh_arrays, case_grad_through_in_place,
    case_grad_wrt_non_leaf_changed_in_place, case_grads_of_sum_and_mean_are_writable,
    case_two_leaves_do_not_share_a_gradient,
])
def test_backward_inputs_and_grad_match_pytorch(case):
    assert_same(case, rtol=2e-6)


def case_freed_by_partial_backward(L):
    x, w = T(L, X, True), T(L, W, True)
    z = ((x * w) ** 2).sum()
    z.backward(inputs=[x])
    z.backward(inputs=[w])


def case_freed_by_grad_on_a_shared_branch(L):
    x, w = T(L, X, True), T(L, W, True)
    shared = x * w
    l1 = (shared * shared).sum()
    l2 = (shared * w).sum()
    L.autograd.grad(l1, [x])  # frees shared's node
    l2.backward()


def case_freed_by_grad_then_full_backward(L):
    x, w = T(L, X, True), T(L, W, True)
    a, b = x.exp(), w.exp()
    loss = (a * b).sum()
    L.autograd.grad(loss, [a])
    loss.backward()


@pytest.mark.parametrize("case", [case_freed_by_partial_backward,
                                  case_freed_by_grad_on_a_shared_branch,
                                  case_freed_by_grad_then_full_backward])
def test_nodes_that_ran_are_freed_as_pytorch(case):
    assert_raises_like_torch(case, RuntimeError, match=FREED)


def test_empty_inputs_raises_as_pytorch():
    def case(L):
        (T(L, X, True) * 2).sum().backward(inputs=[])

    assert_raises_like_torch(case, RuntimeError, match="cannot be empty")


def test_grad_of_an_unused_input_raises_as_pytorch():
    def case(L):
        x, u = T(L, X, True), T(L, X, True)
        L.autograd.grad((x * 2).sum(), [u])

    assert_raises_like_torch(case, RuntimeError, match="appears to not have been used in the graph")


def test_backward_inputs_non_leaf_retains_grad_as_pytorch():
    def case(L):
        x = T(L, X, True)
        y = x * 2
        (y * y).sum().backward(inputs=[y])
        return y.grad, y.retains_grad

    assert_same(case)
