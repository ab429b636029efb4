"""The engine: chain rule over the graph, accumulation, retain_graph, memory, and its errors."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.function import FREED, Function


def test_chain_of_100000_ops_backpropagates_without_recursion():
    x = cr.tensor(1.0, dtype=cr.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert x.grad.item() == pytest.approx(1.00001 ** 100_000, rel=1e-9)


def test_reused_value_sums_its_branches():
    x = cr.tensor([1.5, -2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, -4.0])
    # a diamond: f = (2x) * (3x) = 6x², df/dx = 12x
    x.grad = None
    a, b = x * 2, x * 3
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad, [18.0, -24.0])


@pytest.mark.parametrize("older_first", [True, False])
def test_a_node_runs_only_after_every_consumer_created_later(older_first):
    # w's node lists u (made first) and v = 3u (made later). v's node must run before u's, or
    # u's gradient misses v's share: w = u v = 2x · 6x = 12x², dw/dx = 24x
    x = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
    u = x * 2
    v = u * 3
    w = u * v if older_first else v * u
    w.sum().backward()
    np.testing.assert_allclose(x.grad, [12.0, -24.0], rtol=1e-15)


def test_broadcast_bias_gradient_is_summed_over_the_batch():
    x = cr.tensor(np.arange(6.0).reshape(3, 2))
    b = cr.tensor([0.5, -0.5], requires_grad=True)
    ((x + b) * 2).sum().backward()
    np.testing.assert_allclose(b.grad, [6.0, 6.0])  # 2 per row, 3 rows


def test_gradients_accumulate_until_zeroed_like_pytorch():
    torch = pytest.importorskip("torch")
    data = np.array([0.3, -1.2, 2.0])
    x, xt = cr.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for _ in range(3):
        (x.tanh() * x).sum().backward()
        (xt.tanh() * xt).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    g = x.grad
    (x * 2).sum().backward()
    assert x.grad is g  # accumulated in place, as PyTorch
    x.grad.zero_()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])


def test_second_backward_through_freed_graph_raises_pytorch_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward_and_accumulates():
    torch = pytest.importorskip("torch")
    x, xt = cr.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    y, yt = (x * x.exp()).sum(), (xt * xt.exp()).sum()
    y.backward(retain_graph=True)
    yt.backward(retain_graph=True)
    y.backward()
    yt.backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-6)


def test_graph_without_saved_arrays_can_be_backpropagated_twice_as_in_pytorch():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_saved_arrays_are_released_after_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()
    z.backward()
    assert y.grad_fn.saved is FREED


def test_retain_grad_on_non_leaf():
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    k = x * 2
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad, [6.0, -6.0])
    assert k.grad is None and not k.is_leaf and x.is_leaf and h.retains_grad


def test_leaf_grads_do_not_alias_each_other():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.data[0] == 1.0


def test_leaf_grad_owns_a_writeable_array_when_its_gradient_is_shared_or_a_view():
    w = cr.tensor([[1.0, 2.0]], requires_grad=True)  # Sum's gradient: a view of the read-only seed
    w.sum().backward()
    w.grad.data[0, 0] = 5.0
    assert np.asarray(w.grad).base is None and w.grad.tolist() == [[5.0, 1.0]]
    a = cr.tensor([1.0, 2.0], requires_grad=True)  # a leaf and a node get the same array from Add
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b * 2).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.data.tolist() == [2.0, 2.0] and a.grad.data.tolist() == [100.0, 1.0]


def test_float32_graph_stays_float32():
    x = cr.randn(4, 3, requires_grad=True)
    w = cr.randn(3, 2, requires_grad=True)
    loss = ((x @ w).sigmoid() * 0.5 + 1).log().mean()
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_no_grad_records_nothing_and_nests():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
        with cr.enable_grad():
            z = x * 2
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None and cr.is_grad_enabled()

    @cr.no_grad()
    def f(t):
        return t * 2

    assert f(x).grad_fn is None and cr.is_grad_enabled()
    with cr.set_grad_enabled(False):
        assert (x * 2).grad_fn is None
    assert cr.is_grad_enabled()


def test_autograd_grad_returns_gradients_without_touching_dot_grad():
    torch = pytest.importorskip("torch")
    x, xt = cr.tensor([0.5, 1.5], requires_grad=True), torch.tensor([0.5, 1.5], requires_grad=True)
    w, wt = cr.tensor([2.0, -1.0], requires_grad=True), torch.tensor([2.0, -1.0], requires_grad=True)
    h, ht = x * w, xt * wt
    y, yt = (h.tanh() * x).sum(), (ht.tanh() * xt).sum()
    gx, gh = cr.autograd.grad(y, [x, h], retain_graph=True)
    gxt, ght = torch.autograd.grad(yt, [xt, ht], retain_graph=True)
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gh, ght.numpy(), rtol=1e-6)
    assert x.grad is None and w.grad is None
    unused = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        cr.autograd.grad(y, [unused], retain_graph=True)
    assert cr.autograd.grad(y, [unused], allow_unused=True) == (None,)


def test_memory_stays_flat_over_1000_training_steps():
    rng = np.random.default_rng(0)
    w = cr.tensor(rng.standard_normal((20, 10)).astype(np.float32) * 0.1, requires_grad=True)
    b = cr.zeros(10, requires_grad=True)
    x = cr.tensor(rng.standard_normal((32, 20)).astype(np.float32))

    def step():
        loss = ((x @ w + b).relu() ** 2).mean()
        loss.backward()
        with cr.no_grad():
            w.sub_(w.grad * 0.01)
            b.sub_(b.grad * 0.01)
        w.grad = b.grad = None

    gc.collect()
    tracemalloc.start()
    for _ in range(3000):  # warm-up: Python keeps up to 2,000 freed tuples per size for reuse
        step()
    early = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        step()
    late = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert late - early < 16_384, f"memory grew by {late - early} bytes over 1000 steps"


# -- errors -----------------------------------------------------------------------------------

def test_backward_on_non_scalar_without_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_with_wrong_gradient_shape():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward: grad has shape \(2,\) but tensor has shape \(3,\)"):
        (x * 2).backward(cr.tensor([1.0, 1.0]))


def test_backward_on_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_matmul_shape_error_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(32, 784\) and \(128, 10\) do not align"):
        cr.zeros(32, 784) @ cr.zeros(128, 10)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"add: cannot broadcast \(3, 4\) with \(5,\)"):
        cr.zeros(3, 4) + cr.zeros(5)
    with pytest.raises(RuntimeError, match=r"mul: cannot broadcast \(2, 3\) with \(4, 1, 2\)"):
        cr.zeros(2, 3) * cr.zeros(4, 1, 2)


def test_view_error():
    with pytest.raises(RuntimeError, match=r"view: shape \[5, 3\] is invalid for input of size 12"):
        cr.zeros(3, 4).view(5, 3)


def test_in_place_on_leaf_that_requires_grad():
    x = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.add_(1.0)
    with cr.no_grad():
        x.add_(1.0)
    assert x.item() == 2.0


def test_requires_grad_on_integer_tensor():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        cr.tensor([1, 2], requires_grad=True)


# -- user-defined Functions ---------------------------------------------------------------------

class Cube(Function):
    """y = x**3;  dL/dx = dL/dy * 3 x**2"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True,)
        return grad_output * 3 * x ** 2


def test_custom_function_works_and_gradchecks():
    x = cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64, requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data ** 2)
    assert cr.autograd.gradcheck(Cube.apply, (x,))


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * 2 * x ** 2


class TwoGrads(Cube):
    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output


class BadShape(Cube):
    @staticmethod
    def backward(ctx, grad_output):
        return np.ones(7)


def test_gradcheck_names_input_element_and_values():
    x = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
    with pytest.raises(cr.autograd.GradcheckError) as err:
        cr.autograd.gradcheck(WrongCube.apply, (x,))
    msg = str(err.value)
    assert "input 0" in msg and "element (0,)" in msg
    assert "analytic 0.5" in msg and "numeric  0.75" in msg
    assert cr.autograd.gradcheck(WrongCube.apply, (x,), raise_exception=False) is False


def test_wrong_gradient_count_and_shape_name_the_op():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="TwoGradsBackward: backward returned 2 gradients but the op has 1 inputs"):
        TwoGrads.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"BadShapeBackward: gradient has shape \(7,\) but its input has shape \(2,\)"):
        BadShape.apply(x).sum().backward()


class _OneGradForTwo(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        return x * y

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * x  # one gradient for two inputs


def test_wrong_gradient_count_keeps_the_saved_arrays():
    """The count is checked before backward releases the node's saved arrays: a second call
    reports the same mistake, not 'backward through the graph a second time'."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, 4.0], requires_grad=True)
    out = _OneGradForTwo.apply(x, y).sum()
    for _ in range(2):
        with pytest.raises(RuntimeError, match="_OneGradForTwoBackward: backward returned 1 "
                                               "gradient but the op has 2 inputs"):
            out.backward()


class _Affine(Function):
    """y = a·x + b with the options a and b given by keyword (names that apply's own positional
    parameters also use)."""

    @staticmethod
    def forward(ctx, x, *, a=1.0, b=0.0):
        ctx.a = a
        return a * x + b

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.a


@pytest.mark.parametrize("n_inputs", [1, 2, 3])
def test_apply_passes_inputs_and_keyword_options_through_every_path(n_inputs):
    xs = [cr.tensor([1.0, 2.0], requires_grad=True) for _ in range(n_inputs)]

    class Combine(Function):  # y = Σ_i (i + 1) · x_i, one input or several
        @staticmethod
        def forward(ctx, *arrays):
            return sum((i + 1) * a for i, a in enumerate(arrays))

        @staticmethod
        def backward(ctx, grad_output):
            grads = tuple((i + 1) * grad_output for i in range(len(ctx.inputs)))
            return grads if len(grads) > 1 else grads[0]

    y = Combine.apply(*xs)
    assert y.grad_fn.needs_input_grad == (True,) * n_inputs
    y.sum().backward()
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(x.grad.data, [i + 1.0, i + 1.0])

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = _Affine.apply(x, a=3.0, b=0.5)  # keywords reach forward, not apply's own parameters
    np.testing.assert_allclose(y.data, [3.5, 6.5])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])
