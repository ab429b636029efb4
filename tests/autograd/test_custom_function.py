"""Custom Functions written exactly as in PyTorch's tutorials and docs run unchanged on
cr.autograd.Function, with PyTorch's gradients, gradients of gradients, and errors."""

from __future__ import annotations

import pytest

import chainrule as cr

from ._parity import T, assert_raises_like_torch, assert_same, torch

V = [[1.5, -0.5, 0.25], [-2.0, 0.3, 0.7]]


def functions(L):
    """The Functions of PyTorch's tutorials and docs, verbatim but for the base class."""

    class MyReLU(L.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    class LegendrePolynomial3(L.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    class Exp(L.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            result, = ctx.saved_tensors
            return grad_output * result

    class MulConstant(L.autograd.Function):
        @staticmethod
        def forward(ctx, tensor, constant):
            ctx.constant = constant
            return tensor * constant

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * ctx.constant, None

    class LinearFunction(L.autograd.Function):
        @staticmethod
        def forward(ctx, input, weight, bias=None):
            ctx.save_for_backward(input, weight, bias)
            output = input.mm(weight.t())
            if bias is not None:
                output += bias.unsqueeze(0).expand_as(output)
            return output

        @staticmethod
        def backward(ctx, grad_output):
            input, weight, bias = ctx.saved_tensors
            grad_input = grad_weight = grad_bias = None
            ctx.seen_needs = tuple(ctx.needs_input_grad)
            if ctx.needs_input_grad[0]:
                grad_input = grad_output.mm(weight)
            if ctx.needs_input_grad[1]:
                grad_weight = grad_output.t().mm(input)
            if bias is not None and ctx.needs_input_grad[2]:
                grad_bias = grad_output.sum(0)
            return grad_input, grad_weight, grad_bias

    class Cube(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @L.autograd.function.once_differentiable
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            return grad_output * 3 * x ** 2

    return dict(MyReLU=MyReLU, Legendre=LegendrePolynomial3, Exp=Exp, MulConstant=MulConstant,
                LinearFunction=LinearFunction, Cube=Cube)


def _x(L):
    return T(L, V, True, dtype=L.float64)


TUTORIAL = ["MyReLU", "Legendre", "Exp"]
DIFFERENTIABLE = ["Legendre", "Exp"]  # backward written with differentiable tensor ops


@pytest.mark.parametrize("name", TUTORIAL)
def test_tutorial_function_values_and_gradients_match_pytorch(name):
    def case(L):
        x = _x(L)
        y = functions(L)[name].apply(x)
        (y * y).sum().backward()
        return y, x.grad, y.grad_fn is not None
    assert_same(case, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", TUTORIAL)
def test_tutorial_function_gradient_of_gradient_matches_pytorch(name):
    def case(L):
        x = _x(L)
        y = functions(L)[name].apply(x)
        (g,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
        (g2,) = L.autograd.grad((g * g).sum(), x)
        return g, g2
    assert_same(case, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_tutorial_function_third_derivative_matches_pytorch(name):
    def case(L):
        x = _x(L)
        y = functions(L)[name].apply(x)
        (g,) = L.autograd.grad(y.sum(), x, create_graph=True)
        (g2,) = L.autograd.grad(g.sum(), x, create_graph=True)
        (g3,) = L.autograd.grad(g2.sum(), x)
        return g, g2, g3
    assert_same(case, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_tutorial_function_hessian_via_backward_create_graph(name):
    def case(L):
        x = _x(L)
        y = functions(L)[name].apply(x)
        y.sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.sum().backward()
        return g, x.grad
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


@pytest.mark.parametrize("wants", [(True, True, True), (False, True, False), (True, False, True),
                                   (False, False, True)])
def test_linear_function_needs_input_grad_matches_pytorch(wants):
    def case(L):
        x = T(L, V, wants[0], dtype=L.float64)
        w = T(L, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], wants[1], dtype=L.float64)
        b = T(L, [0.5, -0.5], wants[2], dtype=L.float64)
        y = functions(L)["LinearFunction"].apply(x, w, b)
        y.sum().backward()
        return y, x.grad, w.grad, b.grad, y.grad_fn.seen_needs
    assert_same(case, rtol=1e-12)


def test_linear_function_gradcheck_and_second_order_match_pytorch():
    def case(L):
        x = T(L, V, True, dtype=L.float64)
        w = T(L, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], True, dtype=L.float64)
        b = T(L, [0.5, -0.5], True, dtype=L.float64)
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
        x = T(L, V, True, dtype=L.float64)
        w = T(L, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], True, dtype=L.float64)
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

def test_once_differentiable_first_order_matches_pytorch():
    def case(L):
        x = _x(L)
        y = functions(L)["Cube"].apply(x)
        (y * y).sum().backward()
        return y, x.grad
    assert_same(case, rtol=1e-12)


def test_once_differentiable_create_graph_works_until_differentiated():
    def case(L):
        x = _x(L)
        y = functions(L)["Cube"].apply(x)
        (g,) = L.autograd.grad((y * y).sum(), x, create_graph=True)
        (y * y).sum().backward(create_graph=True)
        return g, g.requires_grad, x.grad
    assert_same(case, rtol=1e-12)


def test_once_differentiable_raises_when_differentiated_through():
    def case(L):
        x = _x(L)
        y = functions(L)["Cube"].apply(x)
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
    x = _x(cr)
    y = functions(cr)["Cube"].apply(x)
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
        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a if returns == "input" else a.view(3)

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output * 3

        x = T(L, [1.0, 2.0, 3.0], True)
        y = F.apply(x * 1)
        (y * 1).sum().backward()
        return y, x.grad
    assert_same(case)


def test_backward_returning_too_few_gradients_raises_as_pytorch():
    def case(L):
        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a + b

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output

        F.apply(T(L, [1.0], True), T(L, [2.0], True)).sum().backward()

    assert_raises_like_torch(case, RuntimeError, match="FBackward")


def test_backward_returning_a_wrong_shape_raises_as_pytorch():
    def case(L):
        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output.sum()

        F.apply(T(L, [1.0, 2.0, 3.0], True)).sum().backward()

    assert_raises_like_torch(case, RuntimeError, match="FBackward")


def test_backward_returning_a_broadcastable_gradient_is_summed_as_pytorch():
    def case(L):
        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, grad_output):
                return L.ones(2, 3)

        x = T(L, [1.0, 2.0, 3.0], True)
        F.apply(x).sum().backward()
        return x.grad
    assert_same(case)


def test_backward_returning_another_dtype_is_cast_as_pytorch():
    def case(L):
        class F(L.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, grad_output):
                return (grad_output * 2).double()

        x = T(L, [1.0, 2.0], True)
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
