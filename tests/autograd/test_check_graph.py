"""check_graph and gradcheck(locate=True): each op's backward against finite differences, and the
wrong one named."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, GradcheckError, gradcheck
from chainrule.autograd.check import GraphCheckReport, check_graph
from chainrule.autograd.replay import walk

from ..viz.inplace_graphs import GRAPHS as INPLACE_GRAPHS, X as INPLACE_X
from .functions import functions


HalfSquare = functions(cr)["HalfSquare"]  # y = x², the backward forgets the 2


class ScaledMul(Function):
    """y = a * b * k  (k an option);  the planted bug: b's gradient ignores k."""

    op = "scaled_mul"

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b, k)
        return a * b * k

    @staticmethod
    def backward(ctx, grad_output):
        a, b, k = ctx.saved
        return grad_output * b * k, grad_output * a, None


class TooFew(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        return (grad_output,)


def composite(x, w, b):
    """Many ops of the library in one graph, with kinks (relu at 0, max ties) included."""
    h = (x @ w + b).relu()
    y = (h.sigmoid() * h).sum() + x[0].exp().mean() + cr.cat([x, x * 2], dim=0).tanh().sum()
    y = y + h.max() + (h.relu() * 3).sum() + (x.abs() + 1).log().sum() + (w ** 2).mean().sqrt()
    return y + cr.stack([b, b]).var() + x.reshape(-1).softmax(0)[1] + (1 / (w * w + 1)).sum()


def params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((2, 3)), dtype=dtype, requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 4)), dtype=dtype, requires_grad=True)
    b = cr.tensor(np.array([0.0, 0.3, -0.2, 0.0]), dtype=dtype, requires_grad=True)
    return x, w, b


def test_every_op_of_a_correct_graph_agrees():
    x, w, b = params()
    report = check_graph(composite(x, w, b))
    assert isinstance(report, GraphCheckReport)
    assert not report and len(report) == 0
    assert report.checked >= 25 and not report.skipped
    assert report.entries > 500  # every entry of every op's Jacobian, less the kinks
    assert str(report).startswith(f"check_graph: all {report.checked} ops agree with finite "
                                  f"differences ({report.entries} Jacobian entries checked)")


def test_float32_graphs_are_checked_in_float64():
    x, w, b = params(np.float32)
    assert not check_graph(composite(x, w, b))
    # a cast to float32 inside the graph is checked in float64 too
    x = cr.tensor([0.3, 0.7, 1.9], dtype=cr.float64, requires_grad=True)
    assert not check_graph((x.float().exp() * 3).double().sum())


def test_kinks_are_not_reported():
    x = cr.tensor([[-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]], dtype=cr.float64, requires_grad=True)
    y = x.relu().relu().sum() + x.relu().max() + cr.maximum(x, x.detach()).sum() + x.abs().sum()
    assert not check_graph(y)


def test_a_wrong_backward_is_named_with_its_inputs_shapes_and_its_worst_partial_derivative():
    x, w, b = params()
    h = (x @ w + b).tanh()
    y = (HalfSquare.apply(h) + 1).sum()
    report = check_graph(y)
    assert len(report) == 1
    (bad,) = report
    assert type(bad.node) is HalfSquare and bad.input_index == 0
    assert bad.position == 4 and bad.total == 6  # matmul, add, tanh, then this
    assert bad.input_shapes == [(2, 4)] and tuple(bad.output_shape) == (2, 4)
    # ∂y[j]/∂h[j] = 2 h[j], the backward gives h[j]: the worst entry is at the largest |h|
    h = h.data
    at = np.unravel_index(np.argmax(np.abs(h)), h.shape)
    assert bad.output_element == bad.input_element == tuple(int(a) for a in at)
    assert bad.analytic == pytest.approx(h[at], rel=1e-12)
    assert bad.numeric == pytest.approx(2 * h[at], rel=1e-6)
    assert bad.max_error == pytest.approx(abs(h[at]), rel=1e-6)
    # every entry of the 8 × 8 Jacobian checked; the 8 on its diagonal are wrong
    assert (bad.entries_checked, bad.entries_wrong, bad.jacobian_shape) == (64, 8, (8, 8))
    text = str(report)
    assert "HalfSquareBackward (op 'halfsquare', op 4 of 6 in forward order) is wrong" in text
    assert "inputs: (2, 4) -> output (2, 4)" in text
    r, c = at
    assert (f"∂y[{r}, {c}]/∂x[{r}, {c}] (output element ({r}, {c}) w.r.t. element ({r}, {c}) of "
            f"input 0): backward gives {h[at]:.6g}, finite differences {2 * h[at]:.6g}") in text
    assert "checked all 64 entries of ∂y/∂x (8 output × 8 input elements): 8 disagree" in text


def test_the_numbers_are_partial_derivatives_a_learner_can_check_by_hand():
    # y = x², the backward gives x instead of 2x: at x = 3, ∂y[1]/∂x[1] is 6 and backward says 3
    x = cr.tensor([1.0, 3.0], dtype=cr.float64, requires_grad=True)
    (bad,) = check_graph(HalfSquare.apply(x).sum())
    assert (bad.output_element, bad.input_element, bad.input_index) == ((1,), (1,), 0)
    assert bad.analytic == pytest.approx(3, abs=1e-6)
    assert bad.numeric == pytest.approx(6, abs=1e-6)
    assert bad.max_error == pytest.approx(3, abs=1e-6)
    assert bad.entries_checked == 4 and bad.entries_wrong == 2  # the diagonal, 1 vs 2 and 3 vs 6
    assert str(bad).splitlines()[2:] == [
        "  ∂y[1]/∂x[1] (output element (1,) w.r.t. element (1,) of input 0): backward gives 3, "
        "finite differences 6",
        "  checked all 4 entries of ∂y/∂x (2 output × 2 input elements): 2 disagree"]


def jacobians(f, inputs):
    """gradcheck's own Jacobians of ``f``: (through backward, by central differences)."""
    from chainrule.autograd.gradcheck import analytical_jacobian, numerical_jacobian
    return analytical_jacobian(f, inputs), numerical_jacobian(f, inputs)


@pytest.mark.parametrize("shape", [(2,), (3, 2), (10, 20)])  # (10, 20): a sample is checked
def test_the_reported_entry_is_gradchecks_jacobian_entry(shape):
    x = cr.tensor(np.linspace(0.5, 3, int(np.prod(shape))).reshape(shape), requires_grad=True)
    (bad,) = check_graph(HalfSquare.apply(x).sum())
    analytic, numeric = jacobians(HalfSquare.apply, (x,))
    j = np.ravel_multi_index(bad.output_element, shape)
    k = np.ravel_multi_index(bad.input_element, shape)
    assert bad.analytic == pytest.approx(analytic[0][j, k], abs=1e-6)
    assert bad.numeric == pytest.approx(numeric[0][j, k], abs=1e-6)
    assert bad.analytic == pytest.approx(x.data[bad.input_element], abs=1e-6)  # by hand: x, 2x
    assert bad.numeric == pytest.approx(2 * x.data[bad.input_element], abs=1e-6)
    with pytest.raises(GradcheckError) as err:  # and gradcheck, located, says the same numbers
        gradcheck(HalfSquare.apply, (x,), locate=True)
    said = f"backward gives {bad.analytic:.6g}, finite differences {bad.numeric:.6g}"
    assert said in str(err.value)


def test_the_wrong_input_of_a_multi_input_op_is_named():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, -1.0]), requires_grad=True)
    y = ScaledMul.apply(a, b, 2.5).sum()
    (bad,) = check_graph(y)
    assert bad.input_index == 1
    assert bad.input_shapes == [(2,), (2,), None]
    assert "op 'scaled_mul'" in str(bad) and "(2,), (2,), number -> output (2,)" in str(bad)
    # ∂y[1]/∂b[1] = a[1] k = 5; the backward forgets k and gives a[1] = 2; as gradcheck's entries
    assert (bad.output_element, bad.input_element) == ((1,), (1,))
    assert (bad.analytic, bad.numeric) == (pytest.approx(2, abs=1e-6), pytest.approx(5, abs=1e-6))
    analytic, numeric = jacobians(lambda a, b: ScaledMul.apply(a, b, 2.5), (a, b))
    assert bad.analytic == pytest.approx(analytic[1][1, 1], abs=1e-6)
    assert bad.numeric == pytest.approx(numeric[1][1, 1], abs=1e-6)
    assert "∂y[1]/∂b[1] (output element (1,) w.r.t. element (1,) of input 1): backward gives 2, " \
           "finite differences 5" in str(bad)


def test_raise_exception_and_gradcheck_locate_name_the_op():
    x = cr.tensor(np.array([0.3, -0.7, 1.1]), requires_grad=True)
    with pytest.raises(GradcheckError, match="HalfSquareBackward"):
        check_graph(HalfSquare.apply(x.sin()).sum(), raise_exception=True)
    with pytest.raises(GradcheckError) as err:
        gradcheck(lambda t: HalfSquare.apply(t.sin()).sum(), (x,), locate=True)
    assert "Jacobian mismatch" in str(err.value)
    assert "the backward of HalfSquareBackward (op 'halfsquare', op 2 of 3" in str(err.value)
    assert gradcheck(lambda t: (t.sin() ** 2).sum(), (x,), locate=True)


class HalfRelu(Function):
    """y = relu(x);  the planted bug: the backward halves the gradient where x > 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.relu()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0) * 0.5


def test_entries_at_kinks_are_skipped_and_counted():
    x = cr.tensor([0.0, 2.0], requires_grad=True)
    (bad,) = check_graph(HalfRelu.apply(x).sum())
    assert (bad.output_element, bad.analytic, bad.numeric) == ((1,), 0.5, pytest.approx(1))
    assert (bad.entries_checked, bad.entries_kinks, bad.entries_wrong) == (3, 1, 1)
    assert str(bad).endswith("checked 3 of the 4 entries of ∂y/∂x (2 output × 2 input elements; "
                             "1 skipped at kinks): 1 disagrees")


def test_a_function_of_yours_is_run_again_on_tensors():
    x = cr.tensor([0.5, -1.0], requires_grad=True)
    report = check_graph((functions(cr)["Exp"].apply(x * 3) * 2).sum())  # PyTorch's example
    assert not report and report.checked == 4 and not report.skipped
    assert report.entries == 4 + 4 + 4 + 2  # mul, exp, mul (by a number), sum


def test_a_backward_returning_the_wrong_number_of_gradients_is_reported():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    (bad,) = check_graph(TooFew.apply(a, a * 2).sum())
    assert "returned 1 gradients for 2 inputs" in str(bad)


def test_check_after_backward_freed_the_saved_arrays():
    x, w, b = params()
    y = (HalfSquare.apply((x @ w + b).tanh())).sum() + x[1].sum() + cr.cat([x, x], 1).sum()
    y.backward()
    (bad,) = check_graph(y)
    assert type(bad.node) is HalfSquare


def test_large_inputs_are_checked_on_a_sample_of_true_partial_derivatives():
    x = cr.tensor(np.linspace(-1, 1, 200).reshape(10, 20), requires_grad=True)
    (bad,) = check_graph(HalfSquare.apply(x).sum())
    assert bad.output_element == bad.input_element  # an entry on the diagonal, where y[j] = x[j]²
    assert bad.analytic == pytest.approx(x.data[bad.input_element], abs=1e-9)
    assert bad.numeric == pytest.approx(2 * x.data[bad.input_element], abs=1e-6)
    assert bad.jacobian_shape == (200, 200) and 0 < bad.entries_wrong < bad.entries_checked < 1000
    assert (f"checked {bad.entries_checked} of the 40000 entries of ∂y/∂x (200 output × 200 input "
            f"elements; a sample, with the entries that look worst): {bad.entries_wrong} "
            "disagree") in str(bad)
    report = check_graph((x * x).sum())
    assert not report and report.entries > 200


class OneWrongEntry(Function):
    """y = 2x;  the planted bug: the gradient of the element at flat index 137 is 3, not 2."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad_output):
        scale = np.full(grad_output.shape, 2.0)
        scale.flat[137] = 3.0
        return grad_output * cr.tensor(scale)


class ForgetsARow(Function):
    """y = x @ w;  the planted bug: w's gradient leaves out row 5 of the output."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w

    @staticmethod
    def backward(ctx, grad_output):
        x, w = ctx.saved_tensors
        keep = np.ones((grad_output.shape[0], 1))
        keep[5] = 0
        return grad_output @ w.T, x.T @ (grad_output * cr.tensor(keep))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_in_a_sample_the_worst_looking_entries_are_found_even_one_in_40000(seed):
    x = cr.tensor(np.linspace(-1, 1, 200).reshape(10, 20), requires_grad=True)
    (bad,) = check_graph(OneWrongEntry.apply(x).sum(), seed=seed)
    assert bad.output_element == bad.input_element == np.unravel_index(137, (10, 20))
    assert (bad.analytic, bad.numeric) == (pytest.approx(3), pytest.approx(2))
    assert bad.entries_wrong == 1
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((30, 20)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((20, 40)), requires_grad=True)
    (bad,) = check_graph(ForgetsARow.apply(x, w).sum(), seed=seed)
    (r, c), (k, c2) = bad.output_element, bad.input_element
    assert bad.input_index == 1 and r == 5 and c == c2  # ∂y[5, c]/∂w[k, c] = x[5, k]
    assert (bad.analytic, bad.numeric) == (0, pytest.approx(x.data[5, k], abs=1e-6))


class Noisy(Function):
    """y = a + noise: a forward that gives another value each time it runs."""

    @staticmethod
    def forward(ctx, a):
        return a + np.random.standard_normal(a.shape)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def test_an_op_with_a_random_forward_is_skipped_not_blamed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    report = check_graph(Noisy.apply(x * 2).sum())
    assert not report and report.checked == 2
    assert len(report.skipped) == 1 and "random" in report.skipped[0][1]


def half_square(x):
    return HalfSquare.apply(x)


def test_under_detect_anomaly_the_report_shows_where_the_op_was_created():
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    with cr.autograd.detect_anomaly():
        y = half_square(x).sum()  # the planted line
    text = str(check_graph(y))
    assert "test_check_graph.py" in text and "y = half_square(x).sum()  # the planted line" in text


class Shift(Function):
    """y = x + by  (``by`` a keyword option the forward does not keep on the node)"""

    @staticmethod
    def forward(ctx, x, by=0.0):
        return x + by

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def test_a_keyword_option_is_kept_so_the_op_is_checked_too():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    report = check_graph(Shift.apply(x * 3, by=5.0).sum())
    assert not report and report.checked == 3 and not report.skipped


def test_the_readme_example_prints_what_the_readme_says():
    """README.md's check_graph example, run as printed: y = x³ with a backward that forgets the 3;
    at x = 2 the true ∂y[1]/∂x[1] is 3·2² = 12, the backward gives 2² = 4."""
    import contextlib
    import io
    import pathlib

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("```python\nfrom chainrule.autograd import Function, check_graph")
    code = readme[start + len("```python\n"):readme.index("```\n", start + 3)]
    shown = readme.index("```\n", readme.index("```\n", start + 3) + 4) + 4
    printed = readme[shown:readme.index("```", shown)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {"cr": cr, "__name__": "readme"})
    assert out.getvalue() == printed
    assert printed == (
        "check_graph: the backward of CubeBackward (op 'cube', op 1 of 2 in forward order) is "
        "wrong\n"
        "  inputs: (2,) -> output (2,)\n"
        "  ∂y[1]/∂x[1] (output element (1,) w.r.t. element (1,) of input 0): backward gives 4, "
        "finite differences 12\n"
        "  checked all 4 entries of ∂y/∂x (2 output × 2 input elements): 2 disagree\n")


# -- graphs with in-place ops: every node checked at the values it saw --------------------------

@pytest.mark.parametrize("build", INPLACE_GRAPHS, ids=lambda b: b.__name__)
def test_in_place_ops_every_node_is_checked_at_the_values_it_saw(build):
    x = cr.tensor(INPLACE_X, requires_grad=True)
    loss = build(cr, x)
    report = check_graph(loss)
    assert not report and not report.skipped
    assert report.checked == len(walk(loss))  # the nodes as their consumers saw them, each once


@pytest.mark.parametrize("change", ["relu_", "iadd", "setitem"])
def test_a_wrong_backward_is_found_after_its_output_was_changed_in_place(change):
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    y = HalfSquare.apply(x)  # y = x², whose output the in-place op overwrites
    z = y * 3
    if change == "relu_":
        y.relu_()
    elif change == "iadd":
        y += 1
    else:
        y[0] = 0.0
    report = check_graph((z + y).sum())
    assert len(report) == 1 and not report.skipped
    (bad,) = report
    assert bad.node.name() == "HalfSquareBackward" and bad.position == 1
    # at the values HalfSquare saw (x, not anything after): the backward gives x, the truth 2x
    assert (bad.analytic, bad.numeric) == (pytest.approx(1.5), pytest.approx(3.0, abs=1e-6))


def test_an_input_changed_in_place_since_is_skipped_with_the_reason():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    f = (w * w).sum()
    with cr.no_grad():
        w.sub_(0.1)  # an optimizer step: the graph's w no longer holds what mul saw
    report = check_graph(f)
    assert not report and report.checked == 1
    ((node, why),) = report.skipped
    assert node.name() == "MulBackward"
    assert why.startswith("MulBackward: input 0 was changed in place after the op used it")


def test_an_overwritten_output_of_a_random_op_is_skipped_not_guessed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = Noisy.apply(x * 2)
    z = y * 3
    y.add_(1)  # add keeps no copy of y's old value, and Noisy cannot make it again
    report = check_graph((z * y).sum())
    assert not report and report.checked == 3  # x * 2, z * y, the sum
    reasons = dict((node.name(), why) for node, why in report.skipped)
    assert set(reasons) == {"NoisyBackward", "MulBackward", "AddBackward"}
    assert all("a random op" in why for why in reasons.values())
