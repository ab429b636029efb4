"""Tensor hooks (register_hook, register_post_accumulate_grad_hook, handles) as PyTorch's: when
they are called, how often, with what, and what their return value changes."""

from __future__ import annotations

import pytest

import chainrule as cr

from ._parity import T, assert_raises_like_torch, assert_same

X = [1.0, -2.0, 3.0]


def case_leaf_hook_once_with_summed_gradient(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(g.clone()))
    (x * x + x * 3).sum().backward()
    return x.grad, seen


def case_leaf_hook_replaces_gradient(L):
    x = T(L, X, True)
    x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    return x.grad


def case_leaf_hook_replaces_each_backwards_gradient(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()) or g + 1)
    (x * 2).sum().backward(retain_graph=True)
    (x * 2).sum().backward()
    return x.grad, seen


def case_non_leaf_hook_once_with_summed_gradient(L):
    x = T(L, X, True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.clone()))
    (y * y + y).sum().backward()
    return x.grad, seen


def case_non_leaf_hook_replaces_gradient_downstream(L):
    x = T(L, X, True)
    y = x * 2
    y.register_hook(lambda g: g * 0 + 1)
    (y * y + y).sum().backward()
    return x.grad


def case_remove_leaf_hook(L):
    x = T(L, X, True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(1) or g * 10)
    (x * x).sum().backward()
    first = x.grad.clone()
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    return first, x.grad, len(seen)


def case_remove_non_leaf_hook(L):
    x = T(L, X, True)
    y = x * 2
    seen = []
    handle = y.register_hook(lambda g: seen.append(1) or g * 10)
    handle.remove()
    (y * y).sum().backward()
    return x.grad, len(seen)


def case_remove_first_of_two(L):
    x = T(L, X, True)
    y = x * 2
    seen = []
    handle = y.register_hook(lambda g: seen.append(1))
    y.register_hook(lambda g: seen.append(2))
    handle.remove()
    (y * 1).sum().backward()
    return seen


def case_handle_as_context_manager(L):
    x = T(L, X, True)
    with x.register_hook(lambda g: g * 10):
        pass
    (x * 1).sum().backward()
    return x.grad


def case_hooks_run_in_order_each_on_the_last_result(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(("a", g.tolist())) or g + 1)
    x.register_hook(lambda g: seen.append(("b", g.tolist())) or g * 2)
    x.register_hook(lambda g: seen.append(("c", g.tolist())))
    (x * 1).sum().backward()
    return x.grad, seen


def case_same_hook_registered_twice(L):
    x = T(L, X, True)
    y = x * 2

    def double(g):
        return g * 2

    y.register_hook(double)
    y.register_hook(double)
    (y * 1).sum().backward()
    return x.grad


def _hook_and_retain_grad(hook_first):
    """y = x * 2 with a hook (g * 5) and retain_grad(), registered in either order."""
    def case(L):
        x = T(L, X, True)
        y = x * 2
        steps = [lambda: y.register_hook(lambda g: g * 5), y.retain_grad]
        for step in steps if hook_first else steps[::-1]:
            step()
        (y * 1).sum().backward()
        return x.grad, y.grad
    return case


def case_retain_grad_between_hooks(L):
    x = T(L, X, True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(("a", g.tolist())) or g + 1)
    y.retain_grad()
    y.register_hook(lambda g: seen.append(("b", g.tolist())) or g * 2)
    (y * 1).sum().backward()
    return x.grad, y.grad, seen


def _non_leaf_hook_with_autograd_grad(to_y):
    """A hook on y = x * 2; autograd.grad of Σ y² with respect to x, or to y itself."""
    def case(L):
        x = T(L, X, True)
        y = x * 2
        seen = []
        y.register_hook(lambda g: seen.append(g.tolist()) or g * 3)
        (g,) = L.autograd.grad((y * y).sum(), y if to_y else x)
        return g, seen, x.grad
    return case


def case_hook_count_over_two_backwards(L):
    x = T(L, X, True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(1))
    z = (y * y).sum()
    z.backward(retain_graph=True)
    z.backward()
    return len(seen), x.grad


def case_hook_on_a_leaf_outside_the_graph(L):
    x = T(L, X, True)
    w = T(L, X, True)
    seen = []
    w.register_hook(lambda g: seen.append(1))
    (x * 2).sum().backward()
    return seen, w.grad


def _hook_and_in_place_change(hook_first):
    """A hook on y = x * 2 registered before or after y.add_(1)."""
    def case(L):
        x = T(L, X, True)
        y = x * 2
        seen = []
        steps = [lambda: y.register_hook(lambda g: seen.append(g.tolist()) or g * 10),
                 lambda: y.add_(1)]
        for step in steps if hook_first else steps[::-1]:
            step()
        (y * y).sum().backward()
        return x.grad, seen
    return case


def case_hook_that_removes_itself(L):
    x = T(L, X, True)
    seen = []
    handles = []

    def once(g):
        seen.append(1)
        handles[0].remove()

    handles.append(x.register_hook(once))
    (x * 1).sum().backward()
    (x * 1).sum().backward()
    return seen, x.grad


def case_leaf_hook_with_two_roots(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    L.autograd.backward([(x * 2).sum(), (x * 3).sum()])
    return seen, x.grad


def case_leaf_as_the_root(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    x.backward(T(L, [1.0, 1.0, 1.0]))
    return seen, x.grad


def case_nonleaf_before_leaf(L):
    x = T(L, X, True)
    y = x.exp()
    seen = []
    y.register_hook(lambda g: seen.append("y"))
    x.register_hook(lambda g: seen.append("x"))
    (y.sum() + x.sum()).backward()
    return seen


def _hooks_on_x_and_y(differentiate):
    """Hooks on x and on y = x * 2 (which retains its grad); then differentiate(L, x, y, Σ y²)."""
    def case(L):
        x = T(L, X, True)
        y = x * 2
        seen = []
        x.register_hook(lambda g: seen.append(("x", g.tolist())) or g * 3)
        y.register_hook(lambda g: seen.append(("y", g.tolist())) or g * 5)
        y.retain_grad()
        result = differentiate(L, x, y, (y * y).sum())
        return result, x.grad, y.grad, seen
    return case


# post-accumulate hooks

def case_post_accumulate_once_per_backward_with_the_tensor(L):
    x = T(L, X, True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append((t is x, t.grad.tolist())))
    (x * x + x).sum().backward()
    (x * 2).sum().backward()
    return seen


def case_post_accumulate_after_gradient_hooks(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(("pre", g.tolist())) or g * 2)
    x.register_post_accumulate_grad_hook(lambda t: seen.append(("post", t.grad.tolist())))
    (x * x + x).sum().backward()
    return seen


def case_post_accumulate_may_change_grad(L):
    x = T(L, X, True)

    def zero(t):
        t.grad.mul_(0)

    x.register_post_accumulate_grad_hook(zero)
    (x * x).sum().backward()
    return x.grad


def case_optimizer_step_in_post_accumulate_hook(L):
    """PyTorch's "optimizer step in backward" recipe."""
    x = T(L, X, True)
    w = T(L, [0.5, 0.5, 0.5], True)
    opts = {p: L.optim.SGD([p], lr=0.1) for p in (x, w)}

    def step(p):
        opts[p].step()
        opts[p].zero_grad()

    for p in (x, w):
        p.register_post_accumulate_grad_hook(step)
    for _ in range(3):
        ((x * w) ** 2).sum().backward()
    return x, w, x.grad, w.grad


def case_post_accumulate_in_create_graph(L):
    x = T(L, X, True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append((t.grad.tolist(),
                                                                t.grad.requires_grad)))
    (x ** 3).sum().backward(create_graph=True)
    return seen


# create_graph

def case_leaf_hook_in_backward_create_graph(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append((g.tolist(), g.requires_grad)) or g * 2)
    (x ** 3).sum().backward(create_graph=True)
    gx = x.grad
    first = (gx.tolist(), gx.requires_grad)
    x.grad = None
    gx.sum().backward()
    return first, x.grad, seen


def case_non_leaf_hook_using_the_graph_in_create_graph(L):
    x = T(L, X, True, dtype=L.float64)
    y = x * x
    y.register_hook(lambda g: g * x)  # a hook that is itself differentiable
    (g,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
    (g2,) = L.autograd.grad(g.sum(), x)
    return g, g2


def case_retain_grad_and_hook_in_create_graph(L):
    x = T(L, X, True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 3)
    (y ** 2).sum().backward(create_graph=True)
    return y.grad, y.grad.requires_grad, x.grad


@pytest.mark.parametrize("case", [
    case_leaf_hook_once_with_summed_gradient, case_leaf_hook_replaces_gradient,
    case_leaf_hook_replaces_each_backwards_gradient, case_non_leaf_hook_once_with_summed_gradient,
    case_non_leaf_hook_replaces_gradient_downstream, case_remove_leaf_hook,
    case_remove_non_leaf_hook, case_remove_first_of_two, case_handle_as_context_manager,
    case_hooks_run_in_order_each_on_the_last_result, case_same_hook_registered_twice,
    pytest.param(_hook_and_retain_grad(True), id="case_hook_then_retain_grad"),
    pytest.param(_hook_and_retain_grad(False), id="case_retain_grad_then_hook"),
    case_retain_grad_between_hooks,
    pytest.param(_non_leaf_hook_with_autograd_grad(False),
                 id="case_non_leaf_hook_with_autograd_grad"),
    pytest.param(_non_leaf_hook_with_autograd_grad(True),
                 id="case_hook_on_the_tensor_grad_differentiates"),
    case_hook_count_over_two_backwards, case_hook_on_a_leaf_outside_the_graph,
    pytest.param(_hook_and_in_place_change(True),
                 id="case_hook_registered_before_an_in_place_change"),
    pytest.param(_hook_and_in_place_change(False),
                 id="case_hook_registered_after_an_in_place_change"),
    case_hook_that_removes_itself, case_leaf_hook_with_two_roots, case_leaf_as_the_root,
    case_nonleaf_before_leaf,
    pytest.param(_hooks_on_x_and_y(lambda L, x, y, z: z.backward(inputs=[y])),
                 id="case_hooks_with_backward_inputs_non_leaf"),
    case_post_accumulate_once_per_backward_with_the_tensor,
    case_post_accumulate_after_gradient_hooks, case_post_accumulate_may_change_grad,
    case_optimizer_step_in_post_accumulate_hook, case_post_accumulate_in_create_graph,
    case_leaf_hook_in_backward_create_graph, case_non_leaf_hook_using_the_graph_in_create_graph,
    case_retain_grad_and_hook_in_create_graph,
])
def test_hooks_match_pytorch(case):
    assert_same(case)


def test_the_hooked_gradient_is_what_retain_grad_keeps():
    """The brief's wording, stated on chainrule alone: .grad is the hooked value."""
    x = cr.tensor(X, requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 5)
    (y * 1).sum().backward()
    assert y.grad.tolist() == [5.0, 5.0, 5.0]
    assert x.grad.tolist() == [10.0, 10.0, 10.0]


# -- registration errors -------------------------------------------------------------------------

def test_hook_on_a_tensor_that_does_not_require_grad_raises_as_pytorch():
    assert_raises_like_torch(lambda L: T(L, X).register_hook(lambda g: g), RuntimeError,
                             match="cannot register a hook on a tensor that doesn't require "
                                   "gradient")


def test_post_accumulate_hook_on_a_non_leaf_raises_as_pytorch():
    assert_raises_like_torch(
        lambda L: (T(L, X, True) * 2).register_post_accumulate_grad_hook(lambda t: None),
        RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf tensors")


def test_post_accumulate_hook_returning_a_value_raises_as_pytorch():
    def case(L):
        x = T(L, X, True)
        x.register_post_accumulate_grad_hook(lambda t: t.grad * 2)
        (x * x).sum().backward()

    # the same error in other words: PyTorch's "Tensor post accumulate grad hooks should return
    # None.", chainrule's "...: post accumulate grad hooks cannot return anything."
    assert_raises_like_torch(
        case, RuntimeError,
        match="post accumulate grad hooks (should return None|cannot return anything)")


@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "non-leaf"])
@pytest.mark.parametrize("wrong, match", [(lambda g: g.sum(), "changed the size"),
                                          (lambda g: g.double(), "changed the type")],
                         ids=["shape", "dtype"])
def test_hook_returning_a_wrong_shape_or_dtype_raises_as_pytorch(leaf, wrong, match):
    def case(L):
        x = T(L, X, True)
        hooked = x if leaf else x * 2
        hooked.register_hook(wrong)
        (hooked * hooked).sum().backward()

    assert_raises_like_torch(case, RuntimeError, match=match)


# -- hooks with autograd.grad and backward(inputs=) -----------------------------------------------

def case_leaf_hook_with_autograd_grad_create_graph(L):
    x = T(L, X, True)
    seen = []
    x.register_hook(lambda g: seen.append(g.requires_grad) or g * 2)
    (g,) = L.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (g2,) = L.autograd.grad(g.sum(), x)
    return g, g2, seen


def case_post_accumulate_with_backward_inputs(L):
    x = T(L, X, True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * x).sum().backward(inputs=[x])
    return seen, x.grad


@pytest.mark.parametrize("case", [
    pytest.param(_hooks_on_x_and_y(lambda L, x, y, z: L.autograd.grad(z, x)),
                 id="case_leaf_hook_with_autograd_grad"),
    case_leaf_hook_with_autograd_grad_create_graph,
    pytest.param(_hooks_on_x_and_y(lambda L, x, y, z: z.backward(inputs=[x])),
                 id="case_leaf_hook_with_backward_inputs"),
    case_post_accumulate_with_backward_inputs,
])
def test_leaf_hooks_run_with_autograd_grad_and_backward_inputs(case):
    assert_same(case)


def test_autograd_grad_does_not_run_post_accumulate_hooks_as_pytorch():
    def case(L):
        x = T(L, X, True)
        seen = []
        x.register_post_accumulate_grad_hook(lambda t: seen.append(1))
        (gx,) = L.autograd.grad((x * x).sum(), [x])
        return gx, seen, x.grad

    assert_same(case)


def test_autograd_grad_does_not_call_hooks_on_branches_it_does_not_need():
    def case(L):
        x = T(L, X, True)
        e = x.exp()
        seen = []
        e.register_hook(lambda g: seen.append(1))
        w = T(L, [4.0, 5.0, 6.0], True)
        (gw,) = L.autograd.grad((e * w).sum(), [w])
        return gw, seen

    assert_same(case)


def test_autograd_grad_fills_retained_grad_as_pytorch():
    def case(L):
        x = T(L, X, True)
        y = x * 2
        y.retain_grad()
        (gx,) = L.autograd.grad((y * y).sum(), x)
        return gx, y.grad, x.grad

    assert_same(case)
