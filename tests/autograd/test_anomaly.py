"""detect_anomaly: the first NaN or Inf, forward or backward, names the op and the user's line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import AnomalyError, Function, detect_anomaly, is_anomaly_enabled

# NumPy warns as it makes the planted infinities; the point here is what chainrule says
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def here() -> int:
    """The line number of the caller's next line."""
    return inspect.currentframe().f_back.f_lineno + 1


def test_log_of_zero_in_the_forward_pass_names_the_op_and_the_line():
    x = cr.tensor([1.0, 0.0, 2.0], requires_grad=True)
    with pytest.raises(AnomalyError) as err:
        with detect_anomaly():
            line = here()
            y = cr.log(x)  # the planted log(0)
    msg = str(err.value)
    assert msg.startswith("log: the forward pass produced INF (output shape (3,))")
    assert f'File "{__file__}", line {line}, in ' in msg
    assert "y = cr.log(x)  # the planted log(0)" in msg
    assert "y" not in locals()


def test_the_method_form_and_an_operator_are_located_too():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        with pytest.raises(AnomalyError, match="log: the forward pass produced INF") as err:
            line = here()
            x.log()
        assert f"line {line}," in str(err.value)
        with pytest.raises(AnomalyError, match="div: the forward pass produced INF") as err:
            line = here()
            _ = 1 / x
        assert f"line {line}," in str(err.value) and "_ = 1 / x" in str(err.value)


def test_nan_in_the_backward_pass_names_the_node_and_the_line_that_created_it():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        line = here()
        r = cr.sqrt(x)  # forward is fine: sqrt(0) = 0
        y = (r * 0).sum()
        with pytest.raises(AnomalyError) as err:
            y.backward()  # backward: 0 / (2 sqrt(0)) = nan
    msg = str(err.value)
    assert msg.startswith("sqrt: SqrtBackward returned NAN in its gradient for input 0 "
                          "(shape (2,))")
    assert f'File "{__file__}", line {line}, in ' in msg
    assert "r = cr.sqrt(x)  # forward is fine" in msg


def test_inf_in_the_backward_pass():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        line = here()
        y = cr.sqrt(x).sum()
        with pytest.raises(AnomalyError, match="SqrtBackward returned INF") as err:
            y.backward()
    assert f"line {line}," in str(err.value)


def test_a_node_made_outside_detect_anomaly_says_so():
    x = cr.tensor([0.0], requires_grad=True)
    y = cr.sqrt(x).sum()
    with detect_anomaly(), pytest.raises(AnomalyError, match="created outside detect_anomaly"):
        y.backward()


def test_without_detect_anomaly_nothing_is_checked():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    y = cr.log(x)
    assert np.isneginf(y.data[0])
    cr.sqrt(x).sum().backward()
    assert np.isinf(x.grad.data[0])


def test_the_mode_is_restored_and_works_as_a_decorator():
    assert not is_anomaly_enabled()
    with pytest.raises(AnomalyError):
        with detect_anomaly():
            assert is_anomaly_enabled()
            cr.log(cr.tensor([0.0], requires_grad=True))
    assert not is_anomaly_enabled()

    @detect_anomaly()
    def step(x):
        return cr.log(x)

    with pytest.raises(AnomalyError, match="log"):
        step(cr.tensor([0.0], requires_grad=True))
    assert not is_anomaly_enabled()
    with detect_anomaly(check_nan=False):
        assert np.isneginf(cr.log(cr.tensor([0.0], requires_grad=True)).data[0])


def test_finite_values_pass_untouched():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with detect_anomaly():
        (x.log() * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.log([1.0, 2.0]) + 1)


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, x):
        return 1 / x

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def test_a_custom_function_applied_directly_is_located_at_the_users_line():
    x = cr.tensor([0.0], requires_grad=True)
    with pytest.raises(AnomalyError) as err, detect_anomaly():
        line = here()
        Reciprocal.apply(x)
    assert f"line {line}," in str(err.value)
