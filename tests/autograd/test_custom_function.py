"""Custom Functions written exactly as in PyTorch's tutorials and docs run unchanged on
cr.autograd.Function, with PyTorch's gradients, gradients of gradients, and errors."""

from __future__ import annotations

import pytest

import chainrule as cr

from ._parity import T, assert_raises_like_torch, assert_same, torch
from .functions import functions, make_function

V = [[1.5, -0.5, 0.25], [-2.0, 0.3, 0.7]]


def _x(L):
    return T(L, V, True, dtype=L.float64)


TUTORIAL = ["MyReLU", "Legendre", "Exp"]
DIFFERENTIABLE = ["Legendre", "Exp"]  # backward written with differentiable tensor ops


# what each tutorial Function is run through, on x and y = F.apply(x)

def values_and_gradients(L, x, y):
    (y * y).sum().backward()
    return y, x.grad, y.grad_fn is not None


def gradient_of_gradient(L, x, y):
    (g,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
    (g2,) = L.autograd.grad((g * g).sum(), x)
    return g, g2


def third_derivative(L, x, y):
    (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
    (g2,) = L.autograd.grad(g.sum(), x, create_graph=True)
    (g3,) = L.autograd.grad(g2.sum(), x)
    return g, g2, g3


def hessian_via_backward_create_graph(L, x, y):
    y.sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    return g, x.grad


RUNS = ([(values_and_gradients, name) for name in TUTORIAL]
        + [(gradient_of_gradient, name) for name in TUTORIAL]
        + [(run, name) for run in (third_derivative, hessian_via_backward_create_graph)
           for name in DIFFERENTIABLE])


@pytest.mark.parametrize("run, name", RUNS, ids=[f"{r.__name__}-{n}" for r, n in RUNS])
def test_tutorial_function_matches_pytorch(run, name):
    def case(L):
        x = _x(L)
        return run(L, x, functions(L)[name].apply(x))
    assert_same(case, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", TUTORIAL)
def test_tutorial_functions_pass_gradcheck(name):
    F = functions(cr)[name]
    assert cr.autograd.gradcheck(F.apply, (_x(cr),))
    if name in DIFFERENTIABLE:
        assert cr.autograd.gradgradcheck(F.apply, (_x(cr),))


def test_legendre_tutorial_training_loop_matches_pytorch():
    """PyTorch's "Defining new autograd functions" tutorial, shortened: fit sin with P3."""
    def case(L):
        import math
        x = L.linspace(-math.pi, math.pi, 200, dtype=L.float64)
        y = L.sin(x)
        a = L.full((), 0.0, dtype=L.float64, requires_grad=True)
        b = L.full((), -1.0, dtype=L.float64, requires_grad=True)
        c = L.full((), 0.0, dtype=L.float64, requires_grad=True)
        d = L.full((), 0.3, dtype=L.float64, requires_grad=True)
        P3 = functions(L)["Legendre"].apply
        lr = 5e-6
        for _ in range(200):
            y_pred = a + b * P3(c + d * x)
            loss = (y_pred - y).pow(2).sum()
            loss.backward()
            with L.no_grad():
                for p in (a, b, c, d):
                    p -= lr * p.grad
                    p.grad = None
        return loss, a, b, c, d

    assert_same(case, rtol=1e-9)


def test_mul_constant_with_an_option_argument_matches_pytorch():
    def case(L):
        x = _x(L)
        y = functions(L)["MulConstant"].apply(x, 5.5)
        (y * y).sum().backward()
        return y, x.grad
    assert_same(case)


def _linear_inputs(L, wants=(True, True, True)):
    """input (2, 3), weight (2, 3), bias (2,) of LinearFunction; ``wants``: which require grad."""
    return (T(L, V, wants[0], dtype=L.float64),
            T(L, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], wants[1], dtype=L.float64),
            T(L, [0.5, -0.5], wants[2], dtype=L.float64))


@pytest.mark.parametrize("wants", [(True, True, True), (False, True, False), (True, False, True),
                                   (False, False, True)])
def test_linear_function_needs_input_grad_matches_pytorch(wants):
    def case(L):
        x, w, b = _linear_inputs(L, wants)
        y = functions(L)["LinearFunction"].apply(x, w, b)
        y.sum().backward()
        return y, x.grad, w.grad, b.grad, y.grad_fn.seen_needs
    assert_same(case, rtol=1e-12)


def test_linear_function_gradcheck_and_second_order_match_pytorch():
    def case(L):
        x, w, b = _linear_inputs(L)
        F = functions(L)["LinearFunction"]
        ok = L.autograd.gradcheck(F.apply, (x, w, b)) and L.autograd.gradgradcheck(F.apply,
                                                                                  (x, w, b))
        y = F.apply(x, w, b)
        (gx,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
        (gw,) = L.autograd.grad(gx.sum(), w)
        return ok, gx, gw
    assert_same(case, rtol=1e-12)


def test_linear_function_without_bias_as_in_the_docs():
    def case(L):
        x, w, _ = _linear_inputs(L)
        y = functions(L)["LinearFunction"].apply(x, w)
        (gx,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
        gx.sum().backward()
        return y, gx, w.grad, y.grad_fn.seen_needs
    assert_same(case, rtol=1e-12)


def test_option_passed_by_keyword_with_a_trailing_none_gradient():
    def case(L):
        class Scale(L.autograd.Function):
            @staticmethod
            def forward(ctx, x, factor=2.0):
                ctx.factor = factor
                return x * factor

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * ctx.factor, None

        x = T(L, [1.0, 2.0], True)
        Scale.apply(x, factor=3.0).sum().backward()
        return x.grad
    assert_same(case)


def test_forward_without_ctx_and_setup_context():
    def case(L):
        class MulC(L.autograd.Function):
            @staticmethod
            def forward(x, k):
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, k = inputs
                ctx.k = k

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * ctx.k, None

        x = T(L, [1.0, 2.0], True)
        MulC.apply(x, 3.0).sum().backward()
        return x.grad
    assert_same(case)


# -- once_differentiable --------------------------------------------------------------------------

def _cube(L):
    """x and y = Cube.apply(x), a Function whose backward is once_differentiable."""
    x = _x(L)
    return x, functions(L)["Cube"].apply(x)


def test_once_differentiable_first_order_matches_pytorch():
    def case(L):
        x, y = _cube(L)
        (y * y).sum().backward()
        return y, x.grad
    assert_same(case, rtol=1e-12)


def test_once_differentiable_create_graph_works_until_differentiated():
    def case(L):
        x, y = _cube(L)
        (g,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
        (y * y).sum().backward(create_graph=True)
        return g, g.requires_grad, x.grad
    assert_same(case, rtol=1e-12)


def test_once_differentiable_raises_when_differentiated_through():
    def case(L):
        x, y = _cube(L)
        (g,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
        g.sum().backward()

    assert_raises_like_torch(case, RuntimeError,
                             match="trying to differentiate twice a function that was marked "
                                   "with @once_differentiable")


def test_once_differentiable_leaves_other_branches_differentiable():
    def case(L):
        x, w = _x(L), _x(L)
        y = functions(L)["Cube"].apply(x) + w * w
        gx, gw = L.autograd.grad(y.sum(), [x, w], create_graph=True)
        (gww,) = L.autograd.grad(gw.sum(), w)
        return gx, gw, gww
    assert_same(case, rtol=1e-12)


def test_once_differentiable_grad_to_an_unrelated_input_raises():
    x, y = _cube(cr)
    (g,) = cr.autograd.grad((y * y).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):  # PyTorch: "appears to not have been used in the graph"
        cr.autograd.grad(g.sum(), x)


# -- the contract ---------------------------------------------------------------------------------

def test_grad_mode_inside_forward_and_backward_matches_pytorch():
    def case(L):
        seen = []

        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                seen.append(("forward", L.is_grad_enabled()))
                ctx.save_for_backward(a)
                return a * a

            @staticmethod
            def backward(ctx, grad_output):
                a, = ctx.saved_tensors
                seen.append(("backward", L.is_grad_enabled(), grad_output.requires_grad))
                return grad_output * 2 * a

        x = T(L, [1.0, 2.0], True)
        F.apply(x).sum().backward()
        L.autograd.grad(F.apply(x).sum(), x, create_graph=True)
        return seen
    assert_same(case)


def test_needs_input_grad_with_non_tensor_and_no_grad_inputs():
    def case(L):
        seen = []

        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a, b, k):
                seen.append(("forward", tuple(ctx.needs_input_grad)))
                return a * b * k

            @staticmethod
            def backward(ctx, grad_output):
                seen.append(("backward", tuple(ctx.needs_input_grad)))
                return grad_output * 2, None, None

        a, b = T(L, [1.0, 2.0], True), T(L, [3.0, 4.0])
        F.apply(a, b, 2.0).sum().backward()
        with L.no_grad():
            out = F.apply(a, b, 2.0)
        return seen, a.grad, out.requires_grad
    assert_same(case)


def test_mark_non_differentiable():
    def case(L):
        class Positive(L.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                r = (a > 0).to(a.dtype)
                ctx.mark_non_differentiable(r)
                return r

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * 0

        y = Positive.apply(T(L, [1.0, -2.0], True))
        return y, y.requires_grad
    assert_same(case)


@pytest.mark.parametrize("returns", ["input", "view"])
def test_forward_returning_its_input_or_a_view(returns):
    def case(L):
        F = make_function(L, lambda ctx, a: a if returns == "input" else a.view(3),
                          lambda ctx, grad_output: grad_output * 3)
        x = T(L, [1.0, 2.0, 3.0], True)
        y = F.apply(x * 1)
        (y * 1).sum().backward()
        return y, x.grad
    assert_same(case)


@pytest.mark.parametrize("forward, backward, inputs", [
    pytest.param(lambda ctx, a, b: a + b, lambda ctx, grad_output: grad_output, [[1.0], [2.0]],
                 id="too-few-gradients"),
    pytest.param(lambda ctx, a: a * 2, lambda ctx, grad_output: grad_output.sum(),
                 [[1.0, 2.0, 3.0]], id="wrong-shape"),
])
def test_backward_returning_wrong_gradients_raises_as_pytorch(forward, backward, inputs):
    def case(L):
        F = make_function(L, forward, backward)
        F.apply(*(T(L, v, True) for v in inputs)).sum().backward()

    assert_raises_like_torch(case, RuntimeError, match="FBackward")


@pytest.mark.parametrize("backward", [
    pytest.param(lambda L, grad_output: L.ones(2, 3), id="broadcastable-is-summed"),
    pytest.param(lambda L, grad_output: (grad_output * 2).double(), id="another-dtype-is-cast"),
])
def test_backward_returning_a_gradient_to_sum_or_cast_matches_pytorch(backward):
    def case(L):
        F = make_function(L, lambda ctx, a: a * 2,
                          lambda ctx, grad_output: backward(L, grad_output))
        x = T(L, [1.0, 2.0, 3.0], True)
        F.apply(x).sum().backward()
        return x.grad, str(x.grad.dtype).split(".")[-1]
    assert_same(case)


def test_saved_tensors_after_backward_raise_as_pytorch():
    def case(L):
        x = T(L, [1.0, 2.0], True)
        y = functions(L)["Exp"].apply(x)
        y.sum().backward()
        y.sum().backward()

    assert_raises_like_torch(case, RuntimeError, match="backward through the graph a second time")


def test_saved_input_changed_in_place_raises_pytorchs_version_error():
    def case(L):
        x = T(L, [1.0, -2.0, 3.0], True)
        h = x * 1
        y = functions(L)["MyReLU"].apply(h)
        h.add_(1)
        y.sum().backward()

    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        case(torch)
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        case(cr)


def test_grad_fn_is_named_after_the_function():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = functions(cr)["Exp"].apply(x)
    assert y.grad_fn.name() == "ExpBackward"
    assert type(functions(torch)["Exp"].apply(torch.tensor([1.0], requires_grad=True))
                .grad_fn).__name__ == "ExpBackward"
