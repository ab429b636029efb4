"""check_graph and gradcheck(locate=True): each op's backward against finite differences, and the
wrong one named."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, GradcheckError, gradcheck
from chainrule.autograd.check import GraphCheckReport, check_graph


class HalfSquare(Function):
    """y = x²  with a planted bug: the backward forgets the factor 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * x  # should be 2 x


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
    assert str(report).startswith(f"check_graph: all {report.checked} ops agree")


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


def test_a_wrong_backward_is_named_with_its_inputs_shapes_and_the_size_of_the_error():
    x, w, b = params()
    h = (x @ w + b).tanh()
    y = (HalfSquare.apply(h) + 1).sum()
    report = check_graph(y)
    assert len(report) == 1
    (bad,) = report
    assert type(bad.node) is HalfSquare and bad.input_index == 0
    assert bad.position == 4 and bad.total == 6  # matmul, add, tanh, then this
    assert bad.input_shapes == [(2, 4)] and tuple(bad.output_shape) == (2, 4)
    # backward gives v·x, finite differences v·2x: off by exactly the analytic value
    assert bad.numeric == pytest.approx(2 * bad.analytic, rel=1e-6)
    assert bad.max_error == pytest.approx(abs(bad.analytic), rel=1e-6)
    text = str(report)
    assert "HalfSquareBackward (op 'halfsquare', op 4 of 6 in forward order) is wrong" in text
    assert "inputs: (2, 4) -> output (2, 4)" in text
    assert "finite differences" in text and "largest difference" in text


def test_the_wrong_input_of_a_multi_input_op_is_named():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, -1.0]), requires_grad=True)
    y = ScaledMul.apply(a, b, 2.5).sum()
    (bad,) = check_graph(y)
    assert bad.input_index == 1
    assert bad.input_shapes == [(2,), (2,), None]
    assert "op 'scaled_mul'" in str(bad) and "(2,), (2,), number -> output (2,)" in str(bad)


def test_raise_exception_and_gradcheck_locate_name_the_op():
    x = cr.tensor(np.array([0.3, -0.7, 1.1]), requires_grad=True)
    with pytest.raises(GradcheckError, match="HalfSquareBackward"):
        check_graph(HalfSquare.apply(x.sin()).sum(), raise_exception=True)
    with pytest.raises(GradcheckError) as err:
        gradcheck(lambda t: HalfSquare.apply(t.sin()).sum(), (x,), locate=True)
    assert "Jacobian mismatch" in str(err.value)
    assert "the backward of HalfSquareBackward (op 'halfsquare', op 2 of 3" in str(err.value)
    assert gradcheck(lambda t: (t.sin() ** 2).sum(), (x,), locate=True)


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


def test_large_inputs_are_checked_along_random_directions():
    x = cr.tensor(np.linspace(-1, 1, 200).reshape(10, 20), requires_grad=True)
    (bad,) = check_graph(HalfSquare.apply(x).sum())
    assert bad.where.startswith("random direction")
    assert not check_graph((x * x).sum())


def test_an_op_with_a_random_forward_is_skipped_not_blamed():
    class Noisy(Function):
        @staticmethod
        def forward(ctx, a):
            return a + np.random.standard_normal(a.shape)

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

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
